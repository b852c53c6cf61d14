/*
 * dmarc_t.c - the DMARC engine (common/dmarc.c): record parsing, RFC 7489
 * and RFC 9989 discovery, alignment, dispositions, on canned DNS answers
 * (the milter and Postfix tests run it on a real DNS server).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "dmarc.h"
#include "psl.h"
#include "tap.h"
#include "xalloc.h"

/* ------------------------------------------------------- a small zone */

struct rrdef {
	const char *name;
	uint16_t type;
	enum dns_status status;		/* DNS_OK, or a failure for name */
	const char *txt;
};

static const struct rrdef zone[] = {
	{ "_dmarc.reject.example", DNS_T_TXT, DNS_OK, "v=DMARC1; p=reject" },
	{ "_dmarc.reject.example", DNS_T_TXT, DNS_OK, "v=spf1 -all" },
	{ "_dmarc.quar.example", DNS_T_TXT, DNS_OK,
	  "v=DMARC1; p=quarantine; sp=none; np=reject" },
	{ "sub.quar.example", DNS_T_A, DNS_OK, NULL },
	{ "_dmarc.strict.example", DNS_T_TXT, DNS_OK,
	  "v=DMARC1; p=reject; adkim=s; aspf=s" },
	{ "_dmarc.pct.example", DNS_T_TXT, DNS_OK,
	  "v=DMARC1; p=reject; pct=0" },
	{ "_dmarc.testing.example", DNS_T_TXT, DNS_OK,
	  "v=DMARC1; p=reject; t=y" },
	{ "_dmarc.multi.example", DNS_T_TXT, DNS_OK, "v=DMARC1; p=reject" },
	{ "_dmarc.multi.example", DNS_T_TXT, DNS_OK, "v=DMARC1; p=none" },
	{ "_dmarc.bad.example", DNS_T_TXT, DNS_OK, "v=DMARC1; p=bogus" },
	{ "_dmarc.tmp.example", DNS_T_TXT, DNS_SERVFAIL, NULL },
	{ "_dmarc.bank.test", DNS_T_TXT, DNS_OK,
	  "v=DMARC1; p=reject; psd=y" },
	{ "_dmarc.deep.example", DNS_T_TXT, DNS_OK, "v=DMARC1; p=reject" },
	{ "_dmarc.k.org.example", DNS_T_TXT, DNS_OK, "v=DMARC1; p=none" },
	{ "_dmarc.org.example", DNS_T_TXT, DNS_OK,
	  "v=DMARC1; p=reject; sp=quarantine" },
	{ "_dmarc.self.example", DNS_T_TXT, DNS_OK,
	  "v=DMARC1; p=reject; psd=n" },
	{ "reject.example._report._dmarc.thirdparty.example", DNS_T_TXT,
	  DNS_OK, "v=DMARC1" },
	{ "tmp.example._report._dmarc.thirdparty.example", DNS_T_TXT,
	  DNS_TIMEOUT, NULL },
};

static int queries;

/* suffix_of - is name a (label-wise) suffix of owner, owner below it? */
static int below(const char *owner, const char *name)
{
	size_t o = strlen(owner), n = strlen(name);

	return o > n && owner[o - n - 1] == '.' &&
	    strcasecmp(owner + o - n, name) == 0;
}

/* lookup - answers from the zone above */
static struct dns_answer *lookup(void *arg, const char *name,
    uint16_t type)
{
	struct dns_answer *a;
	int exists = 0;

	(void)arg;
	queries++;
	for (size_t i = 0; i < sizeof(zone) / sizeof(*zone); i++) {
		if (strcasecmp(zone[i].name, name) == 0) {
			if (zone[i].status != DNS_OK)
				return dns_answer_new(zone[i].status);
			exists = 1;
		} else if (below(zone[i].name, name)) {
			exists = 1;
		}
	}
	if (!exists)
		return dns_answer_new(DNS_NXDOMAIN);
	a = dns_answer_new(DNS_NODATA);
	a->rr = xcalloc(sizeof(zone) / sizeof(*zone), sizeof(*a->rr));
	for (size_t i = 0; i < sizeof(zone) / sizeof(*zone); i++) {
		struct dns_rr *rr;

		if (strcasecmp(zone[i].name, name) != 0 ||
		    zone[i].type != type)
			continue;
		rr = &a->rr[a->n++];
		rr->type = type;
		rr->ttl = 300;
		if (zone[i].txt) {
			rr->txt = xstrdup(zone[i].txt);
			rr->txt_len = strlen(zone[i].txt);
			rr->txt_count = 1;
		}
		a->status = DNS_OK;
	}
	return a;
}

/* --------------------------------------------------------- record tests */

/* parse - dmarc_record_parse on a C string */
static int parse(const char *txt, enum dmarc_mode m, struct dmarc_record *r,
    const char **err)
{
	return dmarc_record_parse(txt, strlen(txt), m, r, err);
}

static void record_tests(void)
{
	struct dmarc_record *r = xmalloc(sizeof(*r));
	const char *err;
	char big[4000];

	is_int(parse("v=DMARC1; p=reject", DMARC_MODE_BIS, r, &err), 0,
	    "minimal record");
	is_int(r->p, DMARC_P_REJECT, "p=reject");
	is_int(r->sp, DMARC_P_UNSET, "sp unset");
	ok(r->pct == 100 && !r->adkim_strict && !r->aspf_strict &&
	    r->fo == DMARC_FO_0 && r->ri == 86400 && r->psd == 'u' &&
	    !r->testing, "defaults");

	is_int(parse("v=DMARC1;p=quarantine;sp=none;np=reject;pct=20;"
	    "adkim=s;aspf=s;rua=mailto:a@x.example!10m,mailto:b@Y.example;"
	    "ruf=mailto:f@x.example;fo=1:d:s;ri=3600", DMARC_MODE_RFC7489, r,
	    &err), 0, "full record (RFC 7489)");
	ok(r->p == DMARC_P_QUARANTINE && r->sp == DMARC_P_NONE &&
	    r->np == DMARC_P_REJECT, "p sp np");
	ok(r->pct == 20 && r->adkim_strict && r->aspf_strict &&
	    r->ri == 3600, "pct adkim aspf ri");
	is_int(r->fo, DMARC_FO_1 | DMARC_FO_D | DMARC_FO_S, "fo=1:d:s");
	is_int(r->nrua, 2, "two rua");
	is_str(r->rua[0].addr, "a@x.example", "rua[0] address");
	is_int(r->rua[0].max_bytes, 10ULL << 20, "!10m is 10 MiB");
	is_str(r->rua[1].domain, "y.example", "rua domain lower case");
	is_int(r->nruf, 1, "one ruf");
	is_int(parse("v=DMARC1;p=quarantine;pct=20;ri=3600",
	    DMARC_MODE_BIS, r, &err), 0, "pct in DMARCbis mode");
	is_int(r->pct, 100, "pct= ignored in DMARCbis mode (historic)");

	is_int(parse("v=DMARC1", DMARC_MODE_BIS, r, &err), -1,
	    "no p, no rua: not usable");
	is_str(err, "no p= tag", "why");
	is_int(parse("v=DMARC1; rua=mailto:a@b.example", DMARC_MODE_BIS, r,
	    &err), 0, "no p but a usable rua");
	is_int(r->p, DMARC_P_NONE, "... reads as p=none");
	is_int(parse("v=DMARC1; p=bogus", DMARC_MODE_RFC7489, r, &err), -1,
	    "bad p, no rua");
	is_str(err, "invalid p= tag", "why");
	is_int(parse("v=DMARC1; p=bogus; rua=mailto:x@y.example",
	    DMARC_MODE_RFC7489, r, &err), 0, "bad p with rua");
	is_int(r->p, DMARC_P_NONE, "... p=none");
	is_int(parse("v=DMARC1; p=reject; sp=bogus", DMARC_MODE_BIS, r,
	    &err), -1, "bad sp, no rua");
	is_int(parse("v=DMARC1; rua=mailto:x@y.example; p=reject",
	    DMARC_MODE_RFC7489, r, &err), 0, "RFC 7489: p not second");
	is_int(r->p, DMARC_P_NONE, "... p=none (rua present)");
	is_int(parse("v=DMARC1; rua=mailto:x@y.example; p=reject",
	    DMARC_MODE_BIS, r, &err), 0, "DMARCbis: p anywhere");
	is_int(r->p, DMARC_P_REJECT, "... p=reject");
	is_int(parse("v=dmarc1; p=reject", DMARC_MODE_BIS, r, &err), 1,
	    "v=dmarc1 (case) is not DMARC");
	is_int(parse("v=spf1 -all", DMARC_MODE_BIS, r, &err), 1, "SPF record");
	is_int(parse("p=reject; v=DMARC1", DMARC_MODE_BIS, r, &err), 1,
	    "v not first");
	is_int(parse("v=DMARC10; p=reject", DMARC_MODE_BIS, r, &err), 1,
	    "v=DMARC10");
	is_int(parse("", DMARC_MODE_BIS, r, &err), 1, "empty");
	is_int(parse("  v = DMARC1 ;  p = Reject ; ", DMARC_MODE_BIS, r,
	    &err), 0, "spaces, case of values");
	is_int(r->p, DMARC_P_REJECT, "... p=reject");
	is_int(parse("v=DMARC1; p=reject; foo=bar; =x; junk", DMARC_MODE_BIS,
	    r, &err), 0, "unknown tags and junk ignored");
	is_int(r->warnings, 3, "... three warnings");
	is_int(parse("v=DMARC1; p=none; p=reject", DMARC_MODE_BIS, r, &err),
	    0, "repeated tag");
	is_int(r->p, DMARC_P_NONE, "... the first counts");
	is_int(parse("v=DMARC1; p=reject; t=y; psd=n", DMARC_MODE_BIS, r,
	    &err), 0, "t= and psd=");
	ok(r->testing && r->psd == 'n', "... t=y psd=n");
	is_int(parse("v=DMARC1; p=reject; t=y; psd=n", DMARC_MODE_RFC7489,
	    r, &err), 0, "t= and psd= in RFC 7489 mode");
	ok(!r->testing && r->psd == 'u', "... not used");
	is_int(parse("v=DMARC1; p=reject; pct=101; adkim=x; fo=9; ri=-1",
	    DMARC_MODE_RFC7489, r, &err), 0, "bad optional values");
	ok(r->pct == 100 && !r->adkim_strict && r->fo == DMARC_FO_0 &&
	    r->ri == 86400, "... defaults kept");
	is_int(r->warnings, 4, "... four warnings");

	memset(big, 'a', sizeof(big));
	memcpy(big, "v=DMARC1; p=reject; x=", 22);
	big[3000] = '\0';
	is_int(parse(big, DMARC_MODE_BIS, r, &err), -1,
	    "3000-byte record refused");
	is_str(err, "record too long", "why");
	big[0] = '\0';
	strcat(big, "v=DMARC1; p=none");
	for (int i = 0; i < 40; i++)
		strcat(big, "; x=1");
	is_int(parse(big, DMARC_MODE_BIS, r, &err), -1, "41 tags refused");
	is_int(dmarc_record_parse("v=DMARC1; p=reject\0; p=none", 27,
	    DMARC_MODE_BIS, r, &err), -1, "NUL in record");
	big[0] = '\0';
	strcat(big, "v=DMARC1; p=none; rua=");
	for (int i = 0; i < 10; i++)
		strcat(big, "mailto:r@x.example,");
	is_int(parse(big, DMARC_MODE_BIS, r, &err), 0, "ten rua URIs");
	is_int(r->nrua, DMARC_URIS_MAX, "... DMARC_URIS_MAX kept");
	free(r);
}

/* uri - dmarc_uri_parse on a C string */
static int uri(const char *s, struct dmarc_uri *u)
{
	return dmarc_uri_parse(s, strlen(s), u);
}

static void uri_tests(void)
{
	struct dmarc_uri u;

	is_int(uri("mailto:dmarc%2Breports@Example.COM!50k", &u), 0,
	    "escaped, sized");
	is_str(u.addr, "dmarc+reports@example.com", "... %-decoded");
	is_int(u.max_bytes, 50 * 1024, "... 50k");
	is_str(u.uri, "mailto:dmarc%2Breports@Example.COM", "... uri");
	is_int(uri(" MAILTO:a@b.example?subject=x ", &u), 0, "query dropped");
	is_str(u.addr, "a@b.example", "... address");
	is_int(uri("mailto:a@b.example!1000", &u), 0, "size in bytes");
	is_int(u.max_bytes, 1000, "... 1000");
	is_int(uri("https://example.com/r", &u), -1, "http refused");
	is_int(uri("mailto:noat", &u), -1, "no @");
	is_int(uri("mailto:a@b.example!10x", &u), -1, "bad unit");
	is_int(uri("mailto:a@b.example!", &u), -1, "empty size");
	is_int(uri("mailto:a@b.example!99999999999999999999t", &u), -1,
	    "size overflow");
	is_int(uri("mailto:a%0a@b.example", &u), -1, "escaped LF refused");
	is_int(uri("mailto:a@b%2", &u), -1, "broken escape");
	is_int(uri("mailto:@b.example", &u), -1, "empty local part");
}

/* ----------------------------------------------------- evaluation tests */

struct fixed { unsigned v; };

/* sample_fixed - a fixed "random" number */
static unsigned sample_fixed(void *arg)
{
	return ((struct fixed *)arg)->v;
}

/* eval - evaluate from with one SPF and one DKIM result */
static void eval(const struct dmarc *d, const char *from,
    const char *spf_dom, enum spf_result spf, const char *dkim_dom,
    enum dkim_result dk, struct dmarc_eval *ev)
{
	struct dmarc_auth a;

	memset(&a, 0, sizeof(a));
	a.spf_domain = spf_dom;
	a.spf = spf;
	if (dkim_dom) {
		a.ndkim = 1;
		a.dkim[0].domain = dkim_dom;
		a.dkim[0].result = dk;
	}
	queries = 0;
	dmarc_evaluate(d, from, &a, ev);
}

static void eval_tests(const struct psl *psl)
{
	struct fixed f = { 50 };
	struct dmarc_opts o = { DMARC_MODE_BIS, psl, lookup, NULL,
	    sample_fixed, &f };
	struct dmarc *bis = dmarc_new(&o), *old;
	struct dmarc_eval *ev = xmalloc(sizeof(*ev));
	struct buf b;
	char org[DMARC_DOMAIN_MAX];

	o.mode = DMARC_MODE_RFC7489;
	old = dmarc_new(&o);

	eval(bis, "reject.example", NULL, SPF_NONE, "reject.example",
	    DKIM_RES_PASS, ev);
	is_str(dmarc_result_name(ev->result), "pass", "DKIM same domain");
	ok(ev->dkim_aligned && !ev->spf_aligned &&
	    ev->dkim_aligned_index == 0, "... DKIM aligned");
	is_int(ev->disposition, DMARC_P_NONE, "... nothing to do");
	is_int(queries, 1, "... one query");

	eval(bis, "Reject.Example.", NULL, SPF_NONE, "mail.reject.example",
	    DKIM_RES_PASS, ev);
	is_str(dmarc_result_name(ev->result), "pass",
	    "relaxed DKIM (subdomain d=), From in odd case");
	is_str(ev->from_domain, "reject.example", "... From normalized");
	is_str(ev->org_domain, "reject.example", "... organizational domain");

	eval(bis, "reject.example", "bounce.reject.example", SPF_PASS,
	    "evil.example", DKIM_RES_PASS, ev);
	is_str(dmarc_result_name(ev->result), "pass", "relaxed SPF");
	ok(ev->spf_aligned && !ev->dkim_aligned, "... SPF aligned only");

	eval(bis, "reject.example", "evil.example", SPF_PASS,
	    "evil.example", DKIM_RES_PASS, ev);
	is_str(dmarc_result_name(ev->result), "fail", "unaligned passes");
	is_int(ev->policy, DMARC_P_REJECT, "... p=reject");
	is_int(ev->disposition, DMARC_P_REJECT, "... reject");
	buf_init(&b, 1024);
	dmarc_eval_authres(ev, &b);
	is_str(b.data, "; dmarc=fail (p=reject dis=reject) "
	    "header.from=reject.example", "... Authentication-Results");
	buf_free(&b);

	eval(bis, "reject.example", "reject.example", SPF_FAIL,
	    "reject.example", DKIM_RES_FAIL, ev);
	is_str(dmarc_result_name(ev->result), "fail", "aligned but failing");
	eval(bis, "reject.example", "reject.example", SPF_SOFTFAIL,
	    "reject.example", DKIM_RES_TEMPERROR, ev);
	is_str(dmarc_result_name(ev->result), "fail",
	    "softfail and DKIM temperror are not passes");

	eval(bis, "strict.example", "mail.strict.example", SPF_PASS,
	    "mail.strict.example", DKIM_RES_PASS, ev);
	is_str(dmarc_result_name(ev->result), "fail", "strict: subdomains");
	eval(bis, "strict.example", NULL, SPF_NONE, "STRICT.example",
	    DKIM_RES_PASS, ev);
	is_str(dmarc_result_name(ev->result), "pass", "strict: same name");
	eval(bis, "mail.strict.example", NULL, SPF_NONE, "strict.example",
	    DKIM_RES_PASS, ev);
	is_str(dmarc_result_name(ev->result), "fail",
	    "strict: parent d= for a subdomain From");
	is_str(ev->policy_domain, "strict.example", "... policy found above");

	eval(bis, "sub.quar.example", NULL, SPF_NONE, NULL, 0, ev);
	is_int(ev->policy, DMARC_P_NONE, "existing subdomain: sp=none");
	eval(bis, "ghost.quar.example", NULL, SPF_NONE, NULL, 0, ev);
	is_int(ev->policy, DMARC_P_REJECT, "non-existent subdomain: np=reject");
	ok(ev->from_nxdomain, "... marked");
	eval(old, "ghost.quar.example", NULL, SPF_NONE, NULL, 0, ev);
	is_int(ev->policy, DMARC_P_REJECT, "np in RFC 7489 mode (RFC 9091)");
	eval(bis, "quar.example", NULL, SPF_NONE, NULL, 0, ev);
	is_int(ev->policy, DMARC_P_QUARANTINE, "the domain itself: p=");

	eval(old, "pct.example", NULL, SPF_NONE, NULL, 0, ev);
	ok(ev->policy == DMARC_P_REJECT &&
	    ev->disposition == DMARC_P_QUARANTINE && ev->sampled_out,
	    "pct=0 (RFC 7489): reject becomes quarantine");
	eval(bis, "pct.example", NULL, SPF_NONE, NULL, 0, ev);
	ok(ev->disposition == DMARC_P_REJECT && !ev->sampled_out,
	    "pct=0 (DMARCbis): ignored");
	eval(bis, "testing.example", NULL, SPF_NONE, NULL, 0, ev);
	ok(ev->disposition == DMARC_P_QUARANTINE && ev->sampled_out,
	    "t=y: reject becomes quarantine");
	eval(old, "testing.example", NULL, SPF_NONE, NULL, 0, ev);
	ok(ev->disposition == DMARC_P_REJECT, "t=y not in RFC 7489 mode");

	eval(old, "multi.example", NULL, SPF_NONE, NULL, 0, ev);
	is_str(dmarc_result_name(ev->result), "none",
	    "two records (RFC 7489): no DMARC");
	is_str(ev->why, "several DMARC records", "... why");
	eval(bis, "multi.example", NULL, SPF_NONE, NULL, 0, ev);
	is_str(dmarc_result_name(ev->result), "none",
	    "two records (DMARCbis): none there, walk goes on");
	eval(bis, "bad.example", NULL, SPF_NONE, NULL, 0, ev);
	is_str(dmarc_result_name(ev->result), "permerror", "unusable record");
	is_int(ev->disposition, DMARC_P_NONE, "... no policy applied");
	eval(bis, "tmp.example", NULL, SPF_NONE, NULL, 0, ev);
	is_str(dmarc_result_name(ev->result), "temperror", "SERVFAIL");
	eval(bis, "sub.tmp.example", NULL, SPF_NONE, NULL, 0, ev);
	is_str(dmarc_result_name(ev->result), "temperror",
	    "SERVFAIL on the walk");
	eval(bis, "nothing.example", NULL, SPF_NONE, NULL, 0, ev);
	is_str(dmarc_result_name(ev->result), "none", "no record anywhere");
	is_int(queries, 2, "... nothing.example, example");

	eval(bis, "a.b.c.d.e.f.g.h.i.j.deep.example", NULL, SPF_NONE, NULL, 0,
	    ev);
	is_str(ev->policy_domain, "deep.example", "deep name: record found");
	is_int(queries, 8, "... 12 labels: itself, then 7 labels down to the TLD");
	eval(bis, "a.b.c.d.e.f.g.h.i.j.k.nothing.example", NULL, SPF_NONE,
	    NULL, 0, ev);
	is_int(queries, DMARC_WALK_MAX, "walk bounded by DMARC_WALK_MAX");

	/* PSD (RFC 9989 B.4.3): psd=y at bank.test */
	eval(bis, "giant.bank.test", NULL, SPF_NONE, "mail.giant.bank.test",
	    DKIM_RES_PASS, ev);
	is_str(dmarc_result_name(ev->result), "pass",
	    "PSD: subdomain of the organizational domain aligns");
	is_str(ev->org_domain, "giant.bank.test", "... org below the PSD");
	eval(bis, "giant.bank.test", NULL, SPF_NONE, "other.bank.test",
	    DKIM_RES_PASS, ev);
	is_str(dmarc_result_name(ev->result), "fail",
	    "PSD: a sibling does not align");
	is_str(ev->policy_domain, "bank.test", "... the PSD's record");
	/* B.4.2: the organizational domain's record, not the nearest */
	eval(bis, "x.k.org.example", NULL, SPF_NONE, NULL, 0, ev);
	is_str(ev->policy_domain, "org.example",
	    "record of the organizational domain, not the nearest one");
	is_int(ev->policy, DMARC_P_QUARANTINE, "... its sp=");
	eval(bis, "x.self.example", NULL, SPF_NONE, "self.example",
	    DKIM_RES_PASS, ev);
	is_str(dmarc_result_name(ev->result), "pass", "psd=n stops the walk");

	/* RFC 7489: organizational domain from the PSL */
	eval(old, "mail.reject.example", NULL, SPF_NONE, "reject.example",
	    DKIM_RES_PASS, ev);
	is_str(dmarc_result_name(ev->result), "pass", "RFC 7489: relaxed");
	is_str(ev->policy_domain, "reject.example", "... org domain's record");
	eval(old, "a.b.c.d.e.f.g.h.i.j.deep.example", NULL, SPF_NONE, NULL, 0,
	    ev);
	is_int(queries, 2, "RFC 7489: two queries at most");
	ok(dmarc_org_domain(old, "www.example.co.uk", org, sizeof(org)) == 0 &&
	    strcmp(org, "example.co.uk") == 0, "PSL: example.co.uk");
	ok(dmarc_org_domain(bis, "x.giant.bank.test", org, sizeof(org)) ==
	    0 && strcmp(org, "giant.bank.test") == 0, "tree walk org domain");

	/* hostile From domains */
	eval(bis, "", NULL, SPF_NONE, NULL, 0, ev);
	is_str(dmarc_result_name(ev->result), "permerror", "empty From domain");
	eval(bis, "a..example", NULL, SPF_NONE, NULL, 0, ev);
	is_str(dmarc_result_name(ev->result), "permerror", "empty label");
	eval(bis, "x\\.example", NULL, SPF_NONE, NULL, 0, ev);
	is_str(dmarc_result_name(ev->result), "permerror", "backslash");
	is_int(queries, 0, "... no query for bad names");

	/* external report destinations */
	is_int(dmarc_report_authorized(bis, "reject.example",
	    "mail.reject.example"), 1, "report: same organization");
	is_int(dmarc_report_authorized(bis, "reject.example",
	    "thirdparty.example"), 1, "report: authorized third party");
	is_int(dmarc_report_authorized(bis, "quar.example",
	    "thirdparty.example"), 0, "report: not authorized");
	is_int(dmarc_report_authorized(bis, "tmp.example",
	    "thirdparty.example"), -1, "report: DNS failure");

	free(ev);
	dmarc_free(&bis);
	dmarc_free(&old);
}

int main(void)
{
	const char *srcdir = getenv("top_srcdir"), *err;
	char path[1024];
	struct psl *psl;

	record_tests();
	uri_tests();
	snprintf(path, sizeof(path), "%s/t/psl/public_suffix_list.dat",
	    srcdir ? srcdir : ".");
	psl = psl_load(path, &err);
	if (psl == NULL)
		psl = psl_load("/usr/share/publicsuffix/public_suffix_list.dat",
		    &err);
	ok(psl != NULL, "public suffix list loaded");
	if (psl)
		eval_tests(psl);
	psl_free(&psl);
	return done_testing();
}
