/*
 * dmarc.h - the DMARC engine: policy records, policy discovery (RFC 7489
 *           with the Public Suffix List, or the RFC 9989 DNS tree walk),
 *           identifier alignment and the result of one message.
 *
 * Public: dmarc_record_parse, dmarc_record_free, dmarc_uri_parse,
 *         dmarc_new, dmarc_free, dmarc_evaluate, dmarc_org_domain,
 *         dmarc_report_authorized, dmarc_eval_authres, dmarc_dns_lookup,
 *         dmarc_*_name.
 * Trust: records are network data (any DNS owner publishes them), the
 *        From domain and the SPF/DKIM identifiers come from the message:
 *        all hostile.  Records are bounded (DMARC_RECORD_MAX), tags
 *        (DMARC_TAGS_MAX), URIs (DMARC_URIS_MAX, DMARC_URI_MAX); names
 *        are checked (dns_name_valid) before any query; the tree walk
 *        makes at most DMARC_WALK_MAX queries per name.
 * Errors: parsing: 0 ok, 1 not a DMARC record, -1 a DMARC record that
 *         cannot be used (*err_r says why); evaluation never fails: DNS
 *         trouble is DMARC_TEMPERROR, an unusable record
 *         DMARC_PERMERROR, each with ev->why.
 *
 * RFCs: 7489 (DMARC), 9989 (DMARCbis policy: tree walk, np, psd, t),
 *       9990/9991 (reporting; only the rua/ruf syntax lives here),
 *       9091 (np for RFC 7489 mode).
 *
 * DNS: through a lookup function returning a referenced dns_answer
 *      (common/dnsmsg.h), so the engine runs on the shared resolver in
 *      daemons and on canned answers in unit tests.
 * Threads: a struct dmarc is read-only once built and shared.
 */
#ifndef POSTERN_DMARC_H
#define POSTERN_DMARC_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "dkim.h"
#include "dnsmsg.h"
#include "spf.h"

#define DMARC_RECORD_MAX	2048	/* bytes of one policy record */
#define DMARC_TAGS_MAX		32	/* tags in one record */
#define DMARC_URIS_MAX		8	/* rua= or ruf= URIs used */
#define DMARC_URI_MAX		512	/* bytes of one URI */
#define DMARC_DOMAIN_MAX	254	/* a domain name, with NUL */
#define DMARC_WALK_MAX		8	/* RFC 9989 tree walk: queries */
#define DMARC_DKIM_MAX		16	/* DKIM results looked at */

enum dmarc_mode { DMARC_MODE_BIS, DMARC_MODE_RFC7489 };

enum dmarc_policy {
	DMARC_P_UNSET,		/* tag absent (sp, np: inherit) */
	DMARC_P_NONE,
	DMARC_P_QUARANTINE,
	DMARC_P_REJECT,
};

enum dmarc_result {
	DMARC_NONE,		/* no policy record for the From domain */
	DMARC_PASS,		/* an aligned SPF or DKIM pass */
	DMARC_FAIL,		/* a policy, no aligned pass */
	DMARC_TEMPERROR,	/* DNS failure: try again */
	DMARC_PERMERROR,	/* unusable record, unusable From */
};

/* fo= bits */
#define DMARC_FO_0	0x1	/* report if all mechanisms fail (default) */
#define DMARC_FO_1	0x2	/* report if any mechanism fails */
#define DMARC_FO_D	0x4	/* DKIM failure */
#define DMARC_FO_S	0x8	/* SPF failure */

/* one rua/ruf destination: "mailto:addr" with its !size limit */
struct dmarc_uri {
	char uri[DMARC_URI_MAX];	/* without the !size suffix */
	char addr[DMARC_URI_MAX];	/* the mailbox, %-decoded */
	const char *domain;		/* into addr, after the '@' */
	unsigned long long max_bytes;	/* 0: no limit given */
};

struct dmarc_record {
	enum dmarc_policy p, sp, np;	/* p UNSET only with a usable rua:
					   treated as none */
	int pct;			/* 0..100 (RFC 7489); 100 default */
	int adkim_strict, aspf_strict;
	int testing;			/* t=y (RFC 9989) */
	char psd;			/* 'y', 'n', or 'u' (absent) */
	unsigned fo;			/* DMARC_FO_* (default DMARC_FO_0) */
	unsigned long ri;		/* seconds, default 86400 */
	struct dmarc_uri rua[DMARC_URIS_MAX], ruf[DMARC_URIS_MAX];
	size_t nrua, nruf;
	unsigned warnings;		/* tags ignored or defaulted */
	char text[DMARC_RECORD_MAX];	/* as published, for reports */
};

/*
 * dmarc_record_parse - one TXT record (its strings joined).  1: not a
 * DMARC record (no leading v=DMARC1); 0: usable (defaults filled);
 * -1: a DMARC record that cannot be used (bad p= and no usable rua=,
 * over a bound), *err_r says why.  Unknown tags are ignored; a bad value
 * of an optional tag gives its default and a warning (RFC 7489 6.3,
 * RFC 9989 4.7).
 */
int dmarc_record_parse(const char *txt, size_t len, enum dmarc_mode mode,
    struct dmarc_record *r, const char **err_r);
/* dmarc_uri_parse - one URI of a rua=/ruf= list; -1 if not usable */
int dmarc_uri_parse(const char *s, size_t len, struct dmarc_uri *u);

/* answers: a referenced dns_answer (the caller unrefs), never NULL */
typedef struct dns_answer *dmarc_lookup_fn(void *arg, const char *name,
    uint16_t type);

/* the lookup function on the shared resolver (blocking, with a budget) */
struct dns_resolver;
struct dmarc_dns {
	struct dns_resolver *resolver;
	unsigned budget_ms;		/* per query */
};
struct dns_answer *dmarc_dns_lookup(void *arg, const char *name,
    uint16_t type);

struct psl;

struct dmarc_opts {
	enum dmarc_mode mode;
	const struct psl *psl;		/* RFC 7489 mode: required */
	dmarc_lookup_fn *lookup;
	void *lookup_arg;
	/* 0..99 uniform, for pct= sampling; NULL: a thread-local PRNG */
	unsigned (*sample)(void *arg);
	void *sample_arg;
};

struct dmarc;

struct dmarc *dmarc_new(const struct dmarc_opts *o);
void dmarc_free(struct dmarc **dp);

/* what authenticated the message: SPF and each DKIM signature */
struct dmarc_auth {
	const char *spf_domain;		/* MAIL FROM domain, or HELO for
					   the null sender; NULL: no SPF */
	int spf_helo;			/* spf_domain is the HELO name */
	enum spf_result spf;
	size_t ndkim;
	struct {
		const char *domain;	/* d= */
		const char *selector;	/* s=, or NULL */
		enum dkim_result result;
	} dkim[DMARC_DKIM_MAX];
};

struct dmarc_eval {
	enum dmarc_result result;
	char from_domain[DMARC_DOMAIN_MAX];	/* lower case */
	char policy_domain[DMARC_DOMAIN_MAX];	/* where the record was */
	char org_domain[DMARC_DOMAIN_MAX];	/* of the From domain ("" when
						   it was not needed) */
	int have_record;
	struct dmarc_record rec;		/* when have_record */
	enum dmarc_policy policy;	/* requested for this message:
					   p, sp or np */
	enum dmarc_policy disposition;	/* to apply on fail: policy after
					   pct= sampling and t=y; NONE on
					   pass */
	int sampled_out;		/* pct= or t=y lowered the policy */
	int spf_aligned;		/* an aligned SPF pass */
	int dkim_aligned;		/* an aligned DKIM pass */
	int dkim_aligned_index;		/* into auth->dkim, or -1 */
	int from_nxdomain;		/* np= applied */
	const char *why;		/* static text: why this result */
};

/* dmarc_evaluate - the DMARC result for a message from from_domain */
void dmarc_evaluate(const struct dmarc *d, const char *from_domain,
    const struct dmarc_auth *a, struct dmarc_eval *ev);

/*
 * dmarc_org_domain - the organizational domain of name (PSL or tree
 * walk, as the mode says) into out.  0, or -1 on a DNS failure (tree
 * walk) or a bad name.
 */
int dmarc_org_domain(const struct dmarc *d, const char *name, char *out,
    size_t outlen);

/*
 * dmarc_report_authorized - may reports about policy_domain go to
 * dest_domain (RFC 7489 7.1, RFC 9990)?  1 yes (same organizational
 * domain, or a v=DMARC1 record at
 * <policy_domain>._report._dmarc.<dest_domain>), 0 no, -1 DNS failure
 * (try later).
 */
int dmarc_report_authorized(const struct dmarc *d, const char *policy_domain,
    const char *dest_domain);

/* dmarc_eval_authres - append "; dmarc=RESULT (p=P dis=D)
 * header.from=DOMAIN" to an Authentication-Results value */
int dmarc_eval_authres(const struct dmarc_eval *ev, struct buf *b);

const char *dmarc_result_name(enum dmarc_result r);
const char *dmarc_policy_name(enum dmarc_policy p);

#endif
