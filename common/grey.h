/*
 * grey.h - the greylisting engine (postgrey's behaviour), store-agnostic.
 *
 * Public: grey_sender_normalize, grey_client_net, grey_keys,
 *         grey_store_in, grey_result_of, grey_decide, grey_verdict.
 * Trust: facts are peer data relayed by Postfix; keys are bounded
 *        (STORE_KEY_MAX) and lower-cased, text substitutions are bounded.
 * Errors: grey_decide returns -1 with *err_r when the store cannot answer
 *         (the adapter applies the configured fail-open/fail-closed).
 *
 * postgrey's algorithm (a triplet of client network, normalized sender
 * and recipient; delay, retry window, max age, client auto-whitelist) is
 * kept exactly, so a postgrey admin gets the decisions they know; the
 * store does the atomic part (store.h).
 */
#ifndef POSTERN_GREY_H
#define POSTERN_GREY_H

#include <stddef.h>
#include <time.h>

#include "store.h"
#include "verdict.h"

struct grey_config {
	unsigned delay;		/* postgrey --delay, 300 */
	unsigned max_age;	/* --max-age, 35 days */
	unsigned retry_window;	/* --retry-window, 2 days */
	unsigned awl_clients;	/* --auto-whitelist-clients, 5; 0 off */
	unsigned ipv4_cidr;	/* --ipv4cidr, 24 */
	unsigned ipv6_cidr;	/* --ipv6cidr, 64 */
	int lookup_by_host;	/* --lookup-by-host: whole address */
	const char *greylist_text;	/* %s seconds left, %r rcpt domain */
	int defer_if_permit;	/* DEFER_IF_PERMIT (else a plain 450) */
	const char *x_greylist_header;	/* "Name: text", %t %h %d %v;
					   "" for none */
	const char *hostname;	/* %h of the X-Greylist header */
	int privacy;		/* store SHA-256 hashes, not addresses */
};

struct grey_facts {
	const char *client_address;
	const char *sender;
	const char *recipient;
	const char *auth_domain;	/* SPF-authenticated sender domain
					   (client part of the triplet), or
					   NULL */
};

#define GREY_SHARD_MAX 300

/* the store keys of one request */
struct grey_keys {
	char shard[GREY_SHARD_MAX];
	char triplet[STORE_KEY_MAX + 1];
	char client[GREY_SHARD_MAX];
};

struct grey_result {
	int greylisted;		/* defer */
	int delayed_pass;	/* first pass after a delay: X-Greylist */
	long waited;		/* seconds the triplet waited (delayed_pass) */
	long remaining;		/* seconds to wait (greylisted) */
	time_t now;		/* when decided */
	const char *reason;	/* "new", "early-retry", "triplet found",
				   "client AWL" */
};

int grey_sender_normalize(const char *sender, char *out, size_t outlen);
int grey_client_net(const struct grey_config *cfg, const char *address,
    char *out, size_t outlen);
int grey_keys(const struct grey_config *cfg, const struct grey_facts *f,
    struct grey_keys *k);
void grey_store_in(const struct grey_config *cfg, const struct grey_keys *k,
    time_t now, struct store_grey_in *in);
void grey_result_of(const struct store_grey_out *out, time_t now,
    struct grey_result *r);
int grey_decide(const struct grey_config *cfg, struct store *st,
    const struct grey_facts *f, time_t now, struct grey_result *r,
    const char **err_r);
void grey_verdict(const struct grey_config *cfg, const struct grey_facts *f,
    const struct grey_result *r, int first_in_message, struct verdict *v);

#endif
