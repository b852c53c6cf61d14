/*
 * rbl.h - DNS black- and allowlists: DNSBL for the client address, RHSBL
 *         for the HELO name, the MAIL FROM domain and the From: domain,
 *         DNSWL as negative weights; a score and a threshold as
 *         Postfix's postscreen_dnsbl_sites / postscreen_dnsbl_threshold.
 *
 * Public: rbl_new, rbl_free, rbl_add_site, rbl_sites,
 *         rbl_check_sync, rbl_check_start, rbl_check_cancel,
 *         rbl_result_free, rbl_result_log, rbl_reply_expand,
 *         rbl_filter_parse, rbl_filter_match (also greyd's DNSWL),
 *         rbl_domain_norm.
 *
 * Site syntax (postscreen_dnsbl_sites): "zone[=filter][*weight]".
 *   filter: four octets, each N or [N..M;N;...], e.g. 127.0.0.[2..11];
 *   without a filter any 127.0.0.0/8 answer counts except 127.0.0.255
 *   and 127.255.255.0/24 (list error codes such as Spamhaus's "query
 *   refused": counting those would block all mail; a documented
 *   difference from Postfix).  weight: integer, default 1, negative for
 *   allowlists (DNSWL).  A zone listed twice with different filters is
 *   queried once; every entry whose filter matches adds its weight once.
 * Names: DNSBL: reversed IPv4 octets or the 32 reversed IPv6 nibbles,
 *   then the zone; RHSBL: the domain (HELO name, MAIL FROM domain, From:
 *   domain; lower-cased, no trailing dot) then the zone; the caller
 *   passes the bare domain (no local part, no brackets).  An identity
 *   that is empty, an address literal, a bare IP address, a single
 *   label, not a host name (rbl_domain_norm), or too long for the zone
 *   (name over 253 bytes) is not queried.  A v4-mapped IPv6 client is
 *   asked as IPv4.
 * Lookups: all A queries at once through the shared resolver (so answers
 *   are cached with their TTL; NXDOMAIN for the SOA's negative TTL),
 *   bounded by one time limit for the whole check; a list that does not
 *   answer in time counts as not listed and is named in the result
 *   (timeouts).  With want_txt, the TXT record of each name with a
 *   positive-weight hit is fetched within the same limit, for the reply
 *   text: on the event loop as soon as its A answer is in; blocking, in
 *   a second round (the A round then gets 3/4 of the limit, so a list
 *   that never answers leaves time for the texts).  res->queries counts
 *   the A questions (cache hits included).
 * Trust: names are built from peer data (HELO, addresses); answers come
 *   from the network: only A records with the right owner count, TXT
 *   text is cut at RBL_TXT_MAX and made printable before use.
 * Errors: rbl_add_site -1 with *err_r on a bad spec ("\"SPEC\": why";
 *   the text lives in the rbl until its next rbl_add_site); lookups
 *   never fail, they end with a result.
 * Ownership: the rbl is read-only once its sites are added and may be
 *   shared by threads; it must outlive every check and result made
 *   with it (hits[].zone and timeouts[] point into it).  A result owns
 *   its hits' txt: rbl_result_free.  A SERVFAIL or malformed answer is
 *   counted like a timeout (listed in timeouts: "no usable answer").
 */
#ifndef POSTERN_RBL_H
#define POSTERN_RBL_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "inet.h"

#define RBL_SITES_MAX	64
#define RBL_TXT_MAX	256
#define RBL_HITS_MAX	RBL_SITES_MAX
#define RBL_SPEC_MAX	512	/* one site spec */
#define RBL_FILTER_MAX	256	/* its "=d.d.d.d" part */
#define RBL_WEIGHT_MAX	1000	/* |weight| */
#define RBL_REJECT_CODE	554	/* $rbl_code: Postfix's maps_rbl_reject_code */
/* Postfix's default_rbl_reply */
#define RBL_REPLY_DEFAULT "$rbl_code Service unavailable; $rbl_class " \
	"[$rbl_what] blocked using $rbl_domain${rbl_reason?; $rbl_reason}"
#define RBL_STR_(x)	#x
#define RBL_STR(x)	RBL_STR_(x)

struct dns_resolver;
struct dns_client;
struct event_base;

enum rbl_kind { RBL_CLIENT, RBL_HELO, RBL_SENDER, RBL_FROM };

/* one octet filter per position: bitmap of allowed values */
struct rbl_filter {
	int any;			/* no filter given */
	uint8_t octet[4][32];		/* bit v set: value v allowed */
};

struct rbl;

struct rbl_facts {
	const struct ipaddr *ip;	/* NULL: no DNSBL queries */
	const char *helo;		/* NULL or "" for none */
	const char *sender_domain;	/* MAIL FROM domain */
	const char *from_domain;	/* From: header domain */
};

struct rbl_hit {
	enum rbl_kind kind;
	const char *zone;		/* the site's (owned by the rbl) */
	char what[256];			/* the identity queried (IP text,
					   domain) */
	char answer[16];		/* "127.0.0.2" (first matching) */
	int weight;
	char *txt;			/* printable TXT or NULL */
};

struct rbl_result {
	int score;			/* sum of the hits' weights */
	struct rbl_hit hits[RBL_HITS_MAX];
	size_t nhits;
	const char *timeouts[RBL_SITES_MAX];	/* zones that did not answer */
	size_t ntimeouts;
	size_t queries;			/* A questions asked */
};

struct rbl *rbl_new(unsigned timeout_ms, int want_txt);
void rbl_free(struct rbl **rp);
int rbl_add_site(struct rbl *r, enum rbl_kind kind, const char *spec,
    const char **err_r);
size_t rbl_sites(const struct rbl *r);

/* blocking, any thread: the whole check within the time limit; out is
 * the caller's (rbl_result_free it) */
void rbl_check_sync(const struct rbl *r, struct dns_resolver *res,
    const struct rbl_facts *f, struct rbl_result *out);

/*
 * On an event loop: cb is called once with the result, always from the
 * loop (never inside rbl_check_start), not at all once cancelled; the
 * facts are copied.  The check and res are freed when cb returns: to
 * keep the result, "*mine = *res; memset(res, 0, sizeof(*res));" and
 * rbl_result_free(mine) later.  chk is invalid after the callback;
 * rbl_check_cancel is a no-op on NULL and from inside the callback.
 */
typedef void rbl_done_fn(void *arg, struct rbl_result *res);
struct rbl_check;
struct rbl_check *rbl_check_start(const struct rbl *r, struct dns_client *c,
    struct event_base *base, const struct rbl_facts *f, rbl_done_fn *cb,
    void *arg);
void rbl_check_cancel(struct rbl_check *chk);

/* frees the texts; a zeroed result may be freed too */
void rbl_result_free(struct rbl_result *res);
/* appends " rbl=zen.example:127.0.0.2:3,wl.example:127.0.0.5:-2 rbl_score=1"
 * plus " rbl_timeout=slow.example" when any */
void rbl_result_log(const struct rbl_result *res, struct buf *out);

/*
 * rbl_reply_expand - Postfix's rbl reply macros over the first hit with
 * a positive weight: $rbl_class ("Client host", "Helo command",
 * "Sender address", "Header address"), $rbl_what, $rbl_domain,
 * $rbl_reason (TXT, or empty), ${rbl_reason?TEXT} (TEXT when there is a
 * TXT, "$rbl_reason" inside expanded), $client_address, $helo_name,
 * $rbl_score, $rbl_code (RBL_REJECT_CODE); ${name} and $(name) as
 * $name; ${name?TEXT}, ${name:TEXT}, ${name?{T1}:{T2}} as Postfix
 * (TEXT expanded, two levels deep); "$$" is "$".  Unknown macros stay
 * as written.  Appends at most max bytes, printable ASCII only (other
 * bytes become '?').  A milter handing it to smfi_setreply must still
 * double any '%'.  TXT texts are fetched for positive-weight hits only.
 */
void rbl_reply_expand(const char *tmpl, const struct rbl_result *res,
    const char *client_address, const char *helo, struct buf *out,
    size_t max);

/* the filter part alone ("127.0.0.[2..11]"), and its test on an A
 * record (4 bytes, network order); greyd's DNSWL uses these */
int rbl_filter_parse(const char *s, struct rbl_filter *f);
int rbl_filter_match(const struct rbl_filter *f, const uint8_t a[4]);

/* a HELO name or domain as queried (lower case, no final dot), -1 when
 * it is not queried (see Names above); out has DNS_NAME_MAX + 1 bytes */
int rbl_domain_norm(const char *in, char *out);

#endif
