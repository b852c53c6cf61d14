/*
 * dkimd_cfg.h - postern-dkim's configuration table and the context one
 *               config snapshot builds (keys, signing table, networks,
 *               resolver), shared read-only by all milter threads.
 *
 * Public: dkimd_defs, dkimd_check, dkimd_ctx_new, dkimd_ctx_free,
 *         dkimd_signers, dkimd_is_internal, enum dkimd_action.
 * Trust: the config file, key table, signing table and network files
 *        are the admin's; private key files must be private to their
 *        owner (require_safe_keys).  From: addresses matched against the
 *        signing table are peer data (bounded, lowercased copies).
 * Errors: dkimd_ctx_new returns NULL with *err_r naming the key, file
 *         and line; dkimd_check -1 with *err_r.
 *
 * Signing configuration, two modes (OpenDKIM's):
 *   simple  domain = a.example, b.example; selector = S1[, S2...];
 *           key_file = K1[, K2...]: selector[i] signs with key_file[i],
 *           so "selector = rsa, ed" + "key_file = rsa.pem, ed.pem" makes
 *           an RSA-SHA256 and an Ed25519-SHA256 signature in one pass,
 *           for mail whose From: domain is in domain (or a subdomain of
 *           one, with sub_domains = yes); d= is the configured domain.
 *   tables  key_table lines "NAME DOMAIN:SELECTOR:KEYPATH" ("%" as
 *           DOMAIN: the From: domain); signing_table lines
 *           "PATTERN NAME[,NAME...]", patterns matched against the From:
 *           address in file order, "*" matching any string ("refile:"
 *           prefix as OpenDKIM; a pattern with no "@" also matches the
 *           From: domain, and subdomains with sub_domains = yes); the
 *           first matching line wins, or every matching line with
 *           multiple_signatures = yes (OpenDKIM's MultipleSignatures).
 */
#ifndef POSTERN_DKIMD_CFG_H
#define POSTERN_DKIMD_CFG_H

#include "cfg.h"
#include "dkim.h"
#include "dns.h"
#include "inet.h"

#define DKIMD_SIGNERS_MAX 8	/* signatures made on one message */
#define DKIMD_ADDR_MAX 320	/* From: address we match */

enum dkimd_action {
	DKIMD_ACCEPT,
	DKIMD_REJECT,
	DKIMD_TEMPFAIL,
	DKIMD_QUARANTINE,
};

/* one signature to make: what dkim_msg_add_signer needs */
struct dkimd_signer {
	char domain[DKIM_DOMAIN_MAX + 1];
	const char *selector;
	const struct dkim_key *key;
};

struct dkimd_ctx;

extern const struct cfg_def dkimd_defs[];

int dkimd_check(const struct cfg *cfg, const char **err_r);
struct dkimd_ctx *dkimd_ctx_new(const struct cfg *cfg,
    const struct dkimd_ctx *prev, const char **err_r);
void dkimd_ctx_free(struct dkimd_ctx **cp);

/* what a context says; see dkimd_cfg.c */
int dkimd_can_sign(const struct dkimd_ctx *x);
int dkimd_can_verify(const struct dkimd_ctx *x);
int dkimd_is_internal(const struct dkimd_ctx *x, const struct ipaddr *ip);
int dkimd_daemon_signs(const struct dkimd_ctx *x, const char *daemon_name);
int dkimd_sign_authenticated(const struct dkimd_ctx *x);
size_t dkimd_signers(const struct dkimd_ctx *x, const char *from_addr,
    struct dkimd_signer *out, size_t nout);
void dkimd_sign_spec(const struct dkimd_ctx *x, const struct dkimd_signer *s,
    struct dkim_sign_spec *spec);
const char *dkimd_authserv_id(const struct dkimd_ctx *x);
size_t dkimd_max_signatures(const struct dkimd_ctx *x);
int dkimd_min_key_bits(const struct dkimd_ctx *x);
struct dns_resolver *dkimd_resolver(const struct dkimd_ctx *x);
unsigned dkimd_dns_budget(const struct dkimd_ctx *x);
enum dkimd_action dkimd_on(const struct dkimd_ctx *x,
    enum dkim_outcome o);
enum dkimd_action dkimd_on_internal_error(const struct dkimd_ctx *x);
const char *dkimd_action_name(enum dkimd_action a);

#endif
