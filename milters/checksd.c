/*
 * checksd.c - postern-checks: Postfix header_checks / mime_header_checks /
 *             nested_header_checks / body_checks tables, DNSBL / RHSBL /
 *             DNSWL scores and GeoIP / ASN policy, as a milter; the RBL
 *             and GeoIP part also over the policy protocol
 *             (policy_listen), for decisions at RCPT time.
 *
 * Content checks follow cleanup(8): each logical header (folded lines
 * joined with "\n") and each body line is looked up in its class's
 * tables (common/mimescan.c cuts the message, common/pftable.c matches),
 * the first matching rule of the first table with a match decides for
 * that line, then the next line is inspected.  REJECT, DISCARD, PASS
 * and (as Postfix 3.7 does it, whatever header_checks(5) says) REDIRECT
 * end the inspection; HOLD, BCC, PREPEND, REPLACE, IGNORE, STRIP, WARN,
 * INFO go on.  Primary-header edits become milter header
 * changes (Postfix's own Received: counted in insert positions); edits
 * of MIME part headers and body lines rewrite the body (kept up to
 * max_body_edit bytes).  FILTER cannot be done by a milter: logged.
 * Unknown actions (e.g. "450 text") are logged as Postfix does and
 * ignored.  With decode_headers / decode_body, a line whose raw form hit
 * no rule is looked up again decoded.
 *
 * RBL / GeoIP at end of headers: all lists queried in parallel within
 * dnsbl_timeout (common/rbl.c), the GeoIP policy's SCORE added; a
 * GeoIP REJECT/DEFER/HOLD or a score >= dnsbl_threshold decides
 * (dnsbl_action = reject | header | log); OK or a score <=
 * dnsbl_allowlist_threshold allowlists.
 *
 * Trust: the message and the envelope are peer data; tables and
 *   databases are the admin's (but matched under PCRE2 match limits).
 * Errors: nothing in a message fails the daemon; over-limit input is
 *   handled as Postfix does (cut, logged); config errors are fatal at
 *   start and keep the old config on reload.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include "daemon.h"
#include "dns.h"
#include "dnscfg.h"
#include "geoip.h"
#include "log.h"
#include "mailaddr.h"
#include "milter.h"
#include "mimescan.h"
#include "pftable.h"
#include "policy_server.h"
#include "policy_verdict.h"
#include "rbl.h"
#include "verdict.h"
#include "xalloc.h"

#define TABLES_MAX	32		/* tables per check class */
#define TEXT_MAX	VERDICT_TEXT_MAX
#define BCC_MAX		100		/* BCC recipients per message */
#define HITS_LOG_MAX	1024		/* bytes of rule hits in the log */

static const struct cfg_def checksd_defs[] = {
	MILTER_CFG_DEFS("unix:/var/spool/postfix/postern/checks.sock"),
	DAEMON_CFG_DEFS,
	DNS_CFG_DEFS,
	{ "header_checks", NULL, CFG_LIST, NULL, 0, 0, NULL,
	  "tables for the primary headers: regexp:FILE or pcre:FILE, "
	  "first match over the list" },
	{ "mime_header_checks", NULL, CFG_LIST, NULL, 0, 0, NULL,
	  "tables for MIME headers (default: header_checks; set to none "
	  "for no checks)" },
	{ "nested_header_checks", NULL, CFG_LIST, NULL, 0, 0, NULL,
	  "tables for headers of attached messages and parts (default: "
	  "header_checks; none for no checks)" },
	{ "body_checks", NULL, CFG_LIST, NULL, 0, 0, NULL,
	  "tables for body lines" },
	{ "body_checks_size_limit", NULL, CFG_INT, "51200", 0, 1073741824LL,
	  NULL, "bytes of each body part inspected by body_checks" },
	{ "header_size_limit", NULL, CFG_INT, "102400", 1024, 67108864,
	  NULL, "bytes of one logical header inspected (the rest is cut)" },
	{ "line_length_limit", NULL, CFG_INT, "2048", 80, 1048576, NULL,
	  "body lines are inspected in chunks of this size" },
	{ "mime_nesting_limit", NULL, CFG_INT, "100", 1, 10000, NULL,
	  "MIME nesting followed; deeper is body text" },
	{ "decode_headers", NULL, CFG_BOOL, "no", 0, 0, NULL,
	  "also match headers after RFC 2047 decoding (UTF-8)" },
	{ "decode_body", NULL, CFG_BOOL, "no", 0, 0, NULL,
	  "also match base64/quoted-printable text parts decoded" },
	{ "checks_match_limit", NULL, CFG_INT, "100000", 1000, 100000000,
	  NULL, "PCRE2 match limit per rule and line (no match beyond)" },
	{ "max_body_edit", NULL, CFG_INT, "10485760", 0, 1073741824LL, NULL,
	  "bytes of body kept to apply edits of body lines and MIME "
	  "headers (bigger: edits logged, not applied)" },
	{ "dnsbl_sites", "postscreen_dnsbl_sites", CFG_LIST, NULL, 0, 0, NULL,
	  "client IP lists: zone[=filter][*weight]" },
	{ "rhsbl_helo_sites", NULL, CFG_LIST, NULL, 0, 0, NULL,
	  "HELO name lists: zone[=filter][*weight]" },
	{ "rhsbl_sender_sites", NULL, CFG_LIST, NULL, 0, 0, NULL,
	  "MAIL FROM domain lists: zone[=filter][*weight]" },
	{ "rhsbl_from_sites", NULL, CFG_LIST, NULL, 0, 0, NULL,
	  "From: header domain lists: zone[=filter][*weight]" },
	{ "dnsbl_threshold", "postscreen_dnsbl_threshold", CFG_INT, "1",
	  -1000, 1000, NULL, "score at which dnsbl_action applies" },
	{ "dnsbl_allowlist_threshold", "postscreen_dnsbl_allowlist_threshold",
	  CFG_INT, "-1000000", -1000000, 1000, NULL,
	  "score at or below which the client is allowlisted (no rejection "
	  "by score or GeoIP)" },
	{ "dnsbl_action", NULL, CFG_ENUM, "reject", 0, 0,
	  "reject|header|log", "over the threshold: reject, add "
	  "dnsbl_header, or only log" },
	{ "dnsbl_reply", "default_rbl_reply", CFG_STR,
	  "554 5.7.1 Service unavailable; $rbl_class [$rbl_what] blocked "
	  "using $rbl_domain${rbl_reason?; $rbl_reason}", 0, 0, NULL,
	  "reject text: CODE D.D.D text with Postfix's $rbl_* macros" },
	{ "dnsbl_header", NULL, CFG_STR, "X-Postern-DNSBL", 0, 0, NULL,
	  "header added with dnsbl_action = header" },
	{ "dnsbl_timeout", NULL, CFG_TIME, "3s", 100, 60000, NULL,
	  "time limit for all list queries of one message together" },
	{ "dnsbl_txt", NULL, CFG_BOOL, "yes", 0, 0, NULL,
	  "fetch the TXT record of hits for $rbl_reason" },
	{ "geoip_country_db", NULL, CFG_STR, NULL, 0, 0, NULL,
	  "MaxMind/DB-IP country or city .mmdb file" },
	{ "geoip_asn_db", NULL, CFG_STR, NULL, 0, 0, NULL,
	  "MaxMind ASN (or ISP) .mmdb file" },
	{ "geoip_policy", NULL, CFG_STR, NULL, 0, 0, NULL,
	  "table: country:CC / continent:CC / asn:N -> REJECT DEFER HOLD "
	  "WARN SCORE N OK DUNNO" },
	{ "geoip_header", NULL, CFG_STR, NULL, 0, 0, NULL,
	  "header with country, continent and ASN (e.g. X-Postern-GeoIP); "
	  "empty: none" },
	{ "geoip_check_interval", NULL, CFG_TIME, "60s", 0, 86400000LL, NULL,
	  "how often the database and policy files are checked for "
	  "changes (0: never; SIGUSR1 reloads too)" },
	{ "policy_listen", NULL, CFG_STR, NULL, 0, 0, NULL,
	  "also serve RBL and GeoIP over the policy protocol here: "
	  "inet:HOST:PORT or unix:PATH (empty: off)" },
	{ "policy_max_connections", NULL, CFG_INT, "1024", 1, 100000, NULL,
	  "policy client connections" },
	CFG_END
};

enum rbl_act { RA_REJECT, RA_HEADER, RA_LOG };
enum { T_HEADER, T_MIME, T_NESTED, T_BODY, T_NCLASS };
static const char *const class_key[T_NCLASS] = { "header_checks",
	"mime_header_checks", "nested_header_checks", "body_checks" };
static const char *const class_short[T_NCLASS] = { "hc", "mhc", "nhc",
	"bc" };

struct tables {
	struct pft_table *v[TABLES_MAX];
	size_t n;
};

struct checksd_ctx {
	const struct cfg *cfg;		/* kept for dnscfg_same on reload */
	struct pft_table **owned;	/* every table once */
	size_t nowned;
	struct tables t[T_NCLASS];
	struct mimescan_options mopt;
	size_t max_body_edit;
	struct dns_resolver *dns;
	struct rbl *rbl;
	int threshold, allow_threshold;
	enum rbl_act rbl_action;
	char *rbl_reply, *rbl_header;
	struct geoip *geo;
	char *geo_header;
	int has_from_rbl;
};

/* one edit of a header or a body line */
struct edit {
	enum pft_action a;
	size_t hdr;			/* primary: field index */
	size_t off, end;		/* body: byte range */
	char *text;			/* PREPEND / REPLACE text */
};

/* one message */
struct msg {
	struct checksd_ctx *x;
	struct milter_conn *c;
	struct mimescan *ms;
	struct buf res;			/* lookup result */
	int reject, tempfail, discard, hold, pass;
	char dsn[12];
	char *reply, *hold_text, *redirect;
	char *bcc[BCC_MAX];
	size_t nbcc;
	struct edit *hedits, *bedits;
	size_t nhedits, nbedits;
	struct buf body;
	int keep_body, body_over;
	int last_raw_hit;
	struct buf hits;		/* " hc:12:WARN..." for the log */
	struct buf log;			/* other log fields */
	struct verdict rv;		/* RBL/GeoIP decision at eoh */
};

static pthread_key_t scratch_key;
static struct metric *m_hits, *m_rbl;

/* ------------------------------------------------------------ config */

/* scratch - this thread's table scratch space */
static struct pft_scratch *scratch(void)
{
	struct pft_scratch *s = pthread_getspecific(scratch_key);

	if (s == NULL) {
		s = pft_scratch_new();
		pthread_setspecific(scratch_key, s);
	}
	return s;
}

/* scratch_free - thread exit: the thread's scratch */
static void scratch_free(void *p)
{
	struct pft_scratch *s = p;

	pft_scratch_free(&s);
}

/* ctx_free - everything of a context */
static void ctx_free(void *arg)
{
	struct checksd_ctx *x = arg;

	if (x == NULL)
		return;
	for (size_t i = 0; i < x->nowned; i++)
		pft_free(&x->owned[i]);
	free(x->owned);
	rbl_free(&x->rbl);
	geoip_free(&x->geo);
	dns_resolver_free(&x->dns);
	free(x->rbl_reply);
	free(x->rbl_header);
	free(x->geo_header);
	free(x);
}

/* table_get - the loaded table of spec, loading it once */
static struct pft_table *table_get(struct checksd_ctx *x, const char *spec,
    const struct pft_options *opt, const char **err_r)
{
	static __thread char err[600];
	struct pft_table *t;
	struct buf warn;
	char want[600];

	snprintf(want, sizeof(want), "%s%s", strchr(spec, ':') ? "" :
	    "pcre:", spec);
	for (size_t i = 0; i < x->nowned; i++)
		if (strcmp(pft_name(x->owned[i]), want) == 0)
			return x->owned[i];
	buf_init(&warn, 1 << 20);
	t = pft_load_file(spec, opt, &warn, err_r);
	if (warn.len) {
		/* Postfix warns and goes on: so do we, line by line */
		char *save = NULL;

		for (char *l = strtok_r(warn.data, "\n", &save); l;
		    l = strtok_r(NULL, "\n", &save))
			log_warn("%s", l);
	}
	buf_free(&warn);
	if (t == NULL) {
		snprintf(err, sizeof(err), "%s: %s", spec, *err_r);
		*err_r = err;
		return NULL;
	}
	x->owned = xrealloc(x->owned, (x->nowned + 1) * sizeof(*x->owned));
	x->owned[x->nowned++] = t;
	return t;
}

/* load_class - one class's table list; mime/nested default to
 * header_checks when unset, "none" (or an empty value) means no tables */
static int load_class(struct checksd_ctx *x, const struct cfg *cfg, int k,
    const struct pft_options *opt, const char **err_r)
{
	static __thread char err[200];
	const char *key = class_key[k];
	const char *const *v;
	size_t n;

	if ((k == T_MIME || k == T_NESTED) && !cfg_is_set(cfg, key)) {
		x->t[k] = x->t[T_HEADER];
		return 0;
	}
	v = cfg_list(cfg, key, &n);
	if (n > TABLES_MAX) {
		snprintf(err, sizeof(err), "%s: more than %d tables", key,
		    TABLES_MAX);
		*err_r = err;
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (strcasecmp(v[i], "none") == 0 || *v[i] == '\0')
			continue;
		if ((x->t[k].v[x->t[k].n] = table_get(x, v[i], opt,
		    err_r)) == NULL)
			return -1;
		x->t[k].n++;
	}
	return 0;
}

/* load_rbl - the four list kinds */
static int load_rbl(struct checksd_ctx *x, const struct cfg *cfg,
    const char **err_r)
{
	static const struct { const char *key; enum rbl_kind kind; } k[] = {
		{ "dnsbl_sites", RBL_CLIENT }, { "rhsbl_helo_sites", RBL_HELO },
		{ "rhsbl_sender_sites", RBL_SENDER },
		{ "rhsbl_from_sites", RBL_FROM },
	};

	x->rbl = rbl_new((unsigned)cfg_int(cfg, "dnsbl_timeout"),
	    cfg_bool(cfg, "dnsbl_txt"));
	for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++) {
		const char *const *v;
		size_t n;

		v = cfg_list(cfg, k[i].key, &n);
		for (size_t j = 0; j < n; j++)
			if (rbl_add_site(x->rbl, k[i].kind, v[j], err_r) < 0)
				return -1;
		if (k[i].kind == RBL_FROM && n)
			x->has_from_rbl = 1;
	}
	return 0;
}

/* str_or_null - a copy of a set, non-empty string value */
static char *str_or_null(const struct cfg *cfg, const char *key)
{
	const char *s = cfg_str(cfg, key);

	return s && *s ? xstrdup(s) : NULL;
}

/* ctx_new - tables, lists and databases of one config snapshot */
static void *ctx_new(const struct cfg *cfg, void *prev, const char **err_r)
{
	struct checksd_ctx *x = xcalloc(1, sizeof(*x));
	struct pft_options opt = { 0 };
	struct geoip_config gc = { 0 };
	const char *act = cfg_str(cfg, "dnsbl_action");
	const struct checksd_ctx *old = prev;

	x->cfg = cfg;
	opt.match_limit = (uint32_t)cfg_int(cfg, "checks_match_limit");
	for (int k = 0; k < T_NCLASS; k++)
		if (load_class(x, cfg, k, &opt, err_r) < 0)
			goto fail;
	x->mopt.line_length_limit = (size_t)cfg_int(cfg, "line_length_limit");
	x->mopt.header_size_limit = (size_t)cfg_int(cfg, "header_size_limit");
	x->mopt.body_size_limit =
	    (size_t)cfg_int(cfg, "body_checks_size_limit");
	x->mopt.nesting_limit = (unsigned)cfg_int(cfg, "mime_nesting_limit");
	x->mopt.decode_headers = cfg_bool(cfg, "decode_headers");
	x->mopt.decode_body = cfg_bool(cfg, "decode_body");
	x->max_body_edit = (size_t)cfg_int(cfg, "max_body_edit");
	/* a reload keeps the DNS cache when the DNS keys did not change */
	if (old && old->dns && dnscfg_same(old->cfg, cfg))
		x->dns = dns_resolver_ref(old->dns);
	else if ((x->dns = dnscfg_resolver_new(cfg, err_r)) == NULL)
		goto fail;
	if (load_rbl(x, cfg, err_r) < 0)
		goto fail;
	x->threshold = (int)cfg_int(cfg, "dnsbl_threshold");
	x->allow_threshold = (int)cfg_int(cfg, "dnsbl_allowlist_threshold");
	x->rbl_action = strcasecmp(act, "header") == 0 ? RA_HEADER :
	    strcasecmp(act, "log") == 0 ? RA_LOG : RA_REJECT;
	x->rbl_reply = xstrdup(cfg_str(cfg, "dnsbl_reply"));
	x->rbl_header = xstrdup(cfg_str(cfg, "dnsbl_header"));
	x->geo_header = str_or_null(cfg, "geoip_header");
	gc.country_db = str_or_null(cfg, "geoip_country_db");
	gc.asn_db = str_or_null(cfg, "geoip_asn_db");
	gc.policy = str_or_null(cfg, "geoip_policy");
	gc.check_interval_ms = (unsigned)cfg_int(cfg, "geoip_check_interval");
	if (gc.country_db || gc.asn_db || gc.policy)
		x->geo = geoip_open(&gc, err_r);
	free((char *)gc.country_db);
	free((char *)gc.asn_db);
	free((char *)gc.policy);
	if ((gc.country_db || gc.asn_db || gc.policy) && x->geo == NULL)
		goto fail;
	return x;
fail:
	ctx_free(x);
	return NULL;
}

/* checksd_check - what can be checked without loading anything */
static int checksd_check(const struct cfg *cfg, const char **err_r)
{
	const char *r = cfg_str(cfg, "dnsbl_reply");

	if (!(r[0] == '4' || r[0] == '5') || r[1] < '0' || r[1] > '9' ||
	    r[2] < '0' || r[2] > '9' || r[3] != ' ') {
		*err_r = "dnsbl_reply: must start with a 4xx or 5xx code";
		return -1;
	}
	return 0;
}

/* checksd_init - metrics */
static int checksd_init(struct metrics *m, const char **err_r)
{
	(void)err_r;
	if (pthread_key_create(&scratch_key, scratch_free) != 0) {
		*err_r = "pthread_key_create failed";
		return -1;
	}
	m_hits = metrics_counter(m, "checks_rule_hits_total",
	    "header/body rules that matched, by action", "action");
	m_rbl = metrics_counter(m, "checks_rbl_decisions_total",
	    "RBL/GeoIP outcomes", "outcome");
	return 0;
}

/* ------------------------------------------------------ RBL and GeoIP */

/* reply_split - "CODE D.D.D text" into its parts (code 0 if none) */
static const char *reply_split(const char *s, int *code_r, char dsn[12])
{
	size_t n = 0;

	*code_r = 0;
	dsn[0] = '\0';
	if ((s[0] == '4' || s[0] == '5') && s[1] >= '0' && s[1] <= '9' &&
	    s[2] >= '0' && s[2] <= '9' && (s[3] == ' ' || s[3] == '\0')) {
		*code_r = (s[0] - '0') * 100 + (s[1] - '0') * 10 + s[2] - '0';
		s += 3;
		while (*s == ' ')
			s++;
	}
	while (n < 11 && (s[n] == '.' || (s[n] >= '0' && s[n] <= '9')))
		n++;
	if (n >= 5 && (s[n] == ' ' || s[n] == '\0') && s[1] == '.') {
		memcpy(dsn, s, n);
		dsn[n] = '\0';
		s += n;
		while (*s == ' ')
			s++;
	}
	return s;
}

/* domain_of - the lower-cased domain of an envelope address ("<a@b>" or
 * "a@b" -> "b"), "" when it has none or it does not fit */
static void domain_of(const char *addr, char *out, size_t size)
{
	char bare[MILTER_PEER_MAX + 1];
	const char *at;

	milter_bare_sender(addr, bare, sizeof(bare));
	at = strrchr(bare, '@');
	out[0] = '\0';
	if (at == NULL || strlen(at + 1) >= size)
		return;
	for (size_t i = 0; at[1 + i]; i++)
		out[i] = (char)tolower((unsigned char)at[1 + i]);
	out[strlen(at + 1)] = '\0';
}

/*
 * rbl_geo_decide - the RBL result and GeoIP findings into v: disposition,
 * reply, header (as a prepend), log fields.  Shared by both adapters.
 */
static void rbl_geo_decide(const struct checksd_ctx *x,
    const struct rbl_result *rr, const struct geoip_info *gi,
    const struct geoip_decision *gd, const char *client_addr,
    const char *helo, struct verdict *v)
{
	int score = (rr ? rr->score : 0) + (gd ? gd->score : 0);
	int allow = (gd && gd->action == GEOIP_OK) ||
	    score <= x->allow_threshold;
	struct buf t;

	buf_init(&t, VERDICT_LOG_MAX);
	if (rr)
		rbl_result_log(rr, &v->log);
	if (gi)
		geoip_info_log(gi, &v->log);
	verdict_logf(v, "score", "%d", score);
	if (gi && x->geo_header) {
		geoip_header_value(gi, &t);
		verdict_prepend(v, x->geo_header, "%s", t.data);
	}
	if (allow) {
		verdict_logf(v, "allowlisted", "%s", gd && gd->action ==
		    GEOIP_OK ? gd->key : "score");
		metric_inc(m_rbl, "allowlisted");
		buf_free(&t);
		return;
	}
	if (gd && (gd->action == GEOIP_REJECT || gd->action == GEOIP_DEFER)) {
		int rej = gd->action == GEOIP_REJECT;

		verdict_set(v, rej ? VERDICT_REJECT : VERDICT_TEMPFAIL,
		    rej ? 550 : 450, rej ? "5.7.1" : "4.7.1", "%s",
		    *gd->text ? gd->text : "Service unavailable; client "
		    "not accepted from this network location");
		verdict_logf(v, "geoip_action", "%s", gd->key);
		metric_inc(m_rbl, rej ? "geoip_reject" : "geoip_defer");
	} else if (rr && rbl_sites(x->rbl) && score >= x->threshold &&
	    rr->nhits) {
		if (x->rbl_action == RA_REJECT) {
			char dsn[12];
			int code;
			const char *text;

			buf_reset(&t);
			rbl_reply_expand(x->rbl_reply, rr, client_addr, helo,
			    &t, TEXT_MAX);
			buf_appendc(&t, '\0');
			text = reply_split(t.data, &code, dsn);
			verdict_set(v, code / 100 == 4 ? VERDICT_TEMPFAIL :
			    VERDICT_REJECT, code ? code : 554,
			    *dsn ? dsn : "5.7.1", "%s", text);
			metric_inc(m_rbl, "reject");
		} else if (x->rbl_action == RA_HEADER) {
			verdict_prepend(v, x->rbl_header, "score=%d", score);
			metric_inc(m_rbl, "header");
		} else {
			metric_inc(m_rbl, "log");
		}
		verdict_logf(v, "rbl_action", "%s", x->rbl_action ==
		    RA_REJECT ? "reject" : x->rbl_action == RA_HEADER ?
		    "header" : "log");
	}
	if (v->disp == VERDICT_CONTINUE && gd && gd->action == GEOIP_HOLD) {
		verdict_set(v, VERDICT_QUARANTINE, 0, "", "%s", *gd->text ?
		    gd->text : "GeoIP policy");
		verdict_logf(v, "geoip_action", "%s", gd->key);
	} else if (gd && gd->action == GEOIP_WARN) {
		verdict_logf(v, "geoip_warn", "%s", gd->key);
	}
	buf_free(&t);
}

/* rbl_geo_message - RBL and GeoIP for a milter message */
static void rbl_geo_message(struct milter_conn *c, struct checksd_ctx *x,
    struct verdict *v)
{
	struct rbl_result rr;
	struct geoip_info gi;
	struct geoip_decision gd;
	struct rbl_facts f = { 0 };
	char sender[256], from[MAILADDR_MAX];
	int use_rbl = rbl_sites(x->rbl) > 0, use_geo = x->geo != NULL;

	if (!use_rbl && !use_geo)
		return;
	if (use_rbl) {
		memset(&rr, 0, sizeof(rr));
		f.ip = c->has_ip ? &c->ip : NULL;
		f.helo = c->helo;
		domain_of(c->mail_from, sender, sizeof(sender));
		f.sender_domain = sender;
		from[0] = '\0';
		for (size_t i = 0; x->has_from_rbl && i < c->nhdrs; i++) {
			struct mailaddr ma;
			const char *why;

			if (strcasecmp(c->hdrs[i].name, "From") != 0)
				continue;
			if (mailaddr_from(c->hdrs[i].value, c->hdrs[i].vlen,
			    &ma, &why) == MAILADDR_OK)
				snprintf(from, sizeof(from), "%s", ma.domain);
			break;
		}
		f.from_domain = from;
		rbl_check_sync(x->rbl, x->dns, &f, &rr);
	}
	if (use_geo && c->has_ip) {
		geoip_lookup(x->geo, &c->ip, &gi);
		geoip_decide(x->geo, &gi, &gd);
	}
	rbl_geo_decide(x, use_rbl ? &rr : NULL, use_geo && c->has_ip ? &gi :
	    NULL, use_geo && c->has_ip ? &gd : NULL, c->client_addr, c->helo,
	    v);
	if (use_rbl)
		rbl_result_free(&rr);
}

/* ---------------------------------------------------- content checks */

/* header_label_ok - "Name:" at the start, as Postfix's is_header() */
static int header_label_ok(const char *s, size_t *nlen_r)
{
	size_t n = 0;

	while (s[n] > ' ' && s[n] < 0x7f && s[n] != ':')
		n++;
	*nlen_r = n;
	return n > 0 && s[n] == ':';
}

/* edit_push - one more edit */
static void edit_push(struct edit **v, size_t *n, const struct edit *e)
{
	if ((*n & (*n - 1)) == 0)
		*v = xrealloc(*v, (*n ? *n * 2 : 1) * sizeof(**v));
	(*v)[(*n)++] = *e;
}

/* hit_log - " hc:LINE:ACTION[:text]" into the message's hit list */
static void hit_log(struct msg *m, int cls, int line,
    const struct pft_act *a)
{
	char san[LOG_SAN_SIZE];
	size_t before = m->hits.len;

	metric_inc(m_hits, pft_action_name(a->action));
	if (m->hits.len >= HITS_LOG_MAX)
		return;
	buf_appendf(&m->hits, " %s=%d:%s", class_short[cls], line,
	    pft_action_name(a->action));
	if (*a->text && a->action != PFT_A_PREPEND &&
	    a->action != PFT_A_REPLACE && a->action != PFT_A_REJECT) {
		log_sanitize(san, a->text, strnlen(a->text, 200));
		for (char *p = san; *p; p++)
			if (*p == ' ')
				*p = '_';
		buf_appendf(&m->hits, ":%s", san);
	}
	if (m->hits.len > HITS_LOG_MAX)
		buf_truncate(&m->hits, before);
}

/* item_class - which table list an item goes to */
static int item_class(const struct mimescan_item *it)
{
	switch (it->table) {
	case MIMESCAN_T_HEADER:
		return T_HEADER;
	case MIMESCAN_T_MIME_HEADER:
		return T_MIME;
	case MIMESCAN_T_NESTED_HEADER:
		return T_NESTED;
	default:
		return T_BODY;
	}
}

/* do_edit - IGNORE/STRIP/REPLACE/PREPEND of the item */
static void do_edit(struct msg *m, const struct mimescan_item *it,
    const struct pft_act *a)
{
	struct edit e = { .a = a->action };
	size_t nlen;

	if (it->cls != MIMESCAN_BODY && (a->action == PFT_A_PREPEND ||
	    a->action == PFT_A_REPLACE) && !header_label_ok(a->text, &nlen)) {
		log_warn("%s: bad %s header text \"%.100s\" -- need "
		    "\"headername: headervalue\"", m->c->queue_id,
		    pft_action_name(a->action), a->text);
		return;
	}
	if (it->decoded && it->cls != MIMESCAN_PRIMARY) {
		verdict_logf(&m->rv, "not_applied", "%s_on_decoded_text",
		    pft_action_name(a->action));
		return;
	}
	e.text = *a->text ? xstrdup(a->text) : NULL;
	if (it->cls == MIMESCAN_PRIMARY) {
		e.hdr = it->hdr_index;
		edit_push(&m->hedits, &m->nhedits, &e);
	} else {
		e.off = it->off;
		e.end = it->end;
		edit_push(&m->bedits, &m->nbedits, &e);
	}
}

/* on_item - one header or body line through its tables (cleanup(8)'s
 * action semantics); non-zero stops the scan */
static int on_item(void *arg, const struct mimescan_item *it)
{
	struct msg *m = arg;
	int k = item_class(it), line = 0, hit = 0;
	const struct tables *t = &m->x->t[k];
	struct pft_act a;

	if (it->decoded && m->last_raw_hit)
		return 0;
	for (size_t i = 0; i < t->n && !hit; i++)
		hit = pft_lookup(t->v[i], scratch(), it->text, it->len,
		    &m->res, &line);
	if (!it->decoded)
		m->last_raw_hit = hit;
	if (!hit)
		return 0;
	pft_action_parse(m->res.data, &a);
	if (a.action == PFT_A_UNKNOWN) {
		log_warn("%s: %s map, line %d: %s", m->c->queue_id,
		    class_key[k], line, a.warning ? a.warning :
		    "unknown command");
		return 0;
	}
	hit_log(m, k, line, &a);
	switch (a.action) {
	case PFT_A_REJECT:
		m->reject = 1;
		m->tempfail = a.tempfail;
		snprintf(m->dsn, sizeof(m->dsn), "%s", a.dsn);
		free(m->reply);
		m->reply = xstrdup(*a.reply ? a.reply :
		    "message content rejected");
		return 1;
	case PFT_A_DISCARD:
		m->discard = 1;
		return 1;
	case PFT_A_PASS:
		m->pass = 1;
		return 1;
	case PFT_A_HOLD:
		m->hold = 1;
		free(m->hold_text);
		m->hold_text = xstrdup(*a.text ? a.text : "header/body check");
		return 0;
	case PFT_A_REDIRECT:
		/* Postfix 3.7 inspects nothing after a REDIRECT, header or
		 * body line (header_checks(5) says it goes on; the oracle
		 * test shows it does not) */
		free(m->redirect);
		m->redirect = xstrdup(a.text);
		return 1;
	case PFT_A_BCC:
		for (size_t i = 0; i < m->nbcc; i++)
			if (strcasecmp(m->bcc[i], a.text) == 0)
				return 0;
		if (m->nbcc < BCC_MAX)
			m->bcc[m->nbcc++] = xstrdup(a.text);
		return 0;
	case PFT_A_IGNORE:
	case PFT_A_STRIP:
	case PFT_A_REPLACE:
	case PFT_A_PREPEND:
		do_edit(m, it, &a);
		return 0;
	case PFT_A_FILTER:
		verdict_logf(&m->rv, "filter_not_applied", "%.100s", a.text);
		return 0;
	default:		/* WARN, INFO, DUNNO: logged above */
		return 0;
	}
}

/* ---------------------------------------------------- milter steps */

/* msg_new - per-message state */
static struct msg *msg_new(struct milter_conn *c, struct checksd_ctx *x)
{
	struct msg *m = xcalloc(1, sizeof(*m));

	m->x = x;
	m->c = c;
	buf_init(&m->res, PFT_RESULT_MAX + 1);
	buf_init(&m->hits, HITS_LOG_MAX + 256);
	buf_init(&m->body, x->max_body_edit ? x->max_body_edit : 1);
	verdict_init(&m->rv);
	m->keep_body = x->max_body_edit > 0 && (x->t[T_MIME].n ||
	    x->t[T_NESTED].n || x->t[T_BODY].n);
	m->ms = mimescan_new(&x->mopt, on_item, m);
	return m;
}

/* checksd_msg_free - everything of a message */
static void checksd_msg_free(struct milter_conn *c, void *ctx)
{
	struct msg *m = c->msg_data;

	(void)ctx;
	if (m == NULL)
		return;
	mimescan_free(&m->ms);
	buf_free(&m->res);
	buf_free(&m->hits);
	buf_free(&m->body);
	verdict_free(&m->rv);
	free(m->reply);
	free(m->hold_text);
	free(m->redirect);
	for (size_t i = 0; i < m->nbcc; i++)
		free(m->bcc[i]);
	for (size_t i = 0; i < m->nhedits; i++)
		free(m->hedits[i].text);
	for (size_t i = 0; i < m->nbedits; i++)
		free(m->bedits[i].text);
	free(m->hedits);
	free(m->bedits);
	free(m);
	c->msg_data = NULL;
}

/* content_verdict - REJECT/DISCARD of the content checks into v */
static int content_verdict(struct msg *m, struct verdict *v)
{
	if (m->reject) {
		verdict_set(v, m->tempfail ? VERDICT_TEMPFAIL : VERDICT_REJECT,
		    m->tempfail ? 451 : 550, m->dsn, "%s", m->reply);
		return 1;
	}
	if (m->discard) {
		verdict_set(v, VERDICT_DISCARD, 0, "", "header/body check");
		return 1;
	}
	return 0;
}

/* log_hits - the message's rule hits and other fields into v's log */
static void log_hits(struct msg *m, struct verdict *v)
{
	buf_append(&v->log, m->hits.data, m->hits.len);
	buf_reset(&m->hits);
	buf_append(&v->log, m->rv.log.data, m->rv.log.len);
	buf_reset(&m->rv.log);
}

/* checksd_eoh - primary headers, then RBL and GeoIP */
static void checksd_eoh(struct milter_conn *c, void *ctx, struct verdict *v)
{
	struct checksd_ctx *x = ctx;
	struct msg *m = msg_new(c, x);

	c->msg_data = m;
	for (size_t i = 0; i < c->nhdrs && !mimescan_stopped(m->ms); i++)
		mimescan_header(m->ms, c->hdrs[i].name, c->hdrs[i].value,
		    c->hdrs[i].vlen);
	if (content_verdict(m, v)) {
		log_hits(m, v);
		return;
	}
	rbl_geo_message(c, x, &m->rv);
	if (m->rv.disp == VERDICT_REJECT || m->rv.disp == VERDICT_TEMPFAIL) {
		verdict_set(v, m->rv.disp, m->rv.code, m->rv.ecode, "%s",
		    m->rv.text);
		log_hits(m, v);
		return;
	}
	for (size_t i = 0; i < m->rv.nprepend; i++)
		if (milter_add_header(c, m->rv.prepend[i].name,
		    m->rv.prepend[i].value) < 0)
			log_warn("%s: too many headers to add", c->queue_id);
}

/* checksd_body - body bytes: scanned, and kept for edits */
static void checksd_body(struct milter_conn *c, void *ctx, const void *p,
    size_t n)
{
	struct msg *m = c->msg_data;

	(void)ctx;
	if (m->keep_body && !m->body_over &&
	    buf_append(&m->body, p, n) < 0)
		m->body_over = 1;
	if (!m->pass && !mimescan_stopped(m->ms))
		mimescan_body(m->ms, p, n);
}

/* header_occurrence - which field of its name c->hdrs[i] is (from 1) */
static int header_occurrence(const struct milter_conn *c, size_t i)
{
	int k = 0;

	for (size_t j = 0; j <= i; j++)
		if (strcasecmp(c->hdrs[j].name, c->hdrs[i].name) == 0)
			k++;
	return k;
}

/* split_header - "Name: value" into name and the raw value */
static void split_header(const char *text, char *name, size_t size,
    const char **value_r)
{
	size_t n;

	header_label_ok(text, &n);
	if (n >= size)
		n = size - 1;
	memcpy(name, text, n);
	name[n] = '\0';
	*value_r = text + n + 1;
}

/* cmp_hedit_desc - primary edits by field index, last first (stable
 * within one field through the text order kept by the caller) */
static int cmp_hedit_desc(const void *a, const void *b)
{
	const struct edit *x = a, *y = b;

	return x->hdr < y->hdr ? 1 : x->hdr > y->hdr ? -1 : 0;
}

/* apply_header_edits - primary header edits as milter changes: from the
 * last field up, so earlier indexes stay valid; a field is changed or
 * removed first, then lines are inserted before it (index + 1: Postfix
 * counts its own Received: header) */
static void apply_header_edits(struct msg *m)
{
	struct milter_conn *c = m->c;

	if (m->nhedits > 1)
		qsort(m->hedits, m->nhedits, sizeof(*m->hedits),
		    cmp_hedit_desc);
	for (size_t i = 0; i < m->nhedits; i++) {
		struct edit *e = &m->hedits[i];
		const char *hname = c->hdrs[e->hdr].name, *val;
		int occ = header_occurrence(c, e->hdr), pos = (int)e->hdr + 1;
		char name[256];
		int rc = 0;

		switch (e->a) {
		case PFT_A_IGNORE:
		case PFT_A_STRIP:
			rc = milter_chg_header(c, hname, occ, NULL);
			break;
		case PFT_A_REPLACE:
			split_header(e->text, name, sizeof(name), &val);
			if (strcasecmp(name, hname) == 0) {
				rc = milter_chg_header(c, name, occ, val);
			} else {
				rc = milter_chg_header(c, hname, occ, NULL);
				if (rc == 0)
					rc = milter_ins_header(c, pos, name,
					    val);
			}
			break;
		case PFT_A_PREPEND:
			split_header(e->text, name, sizeof(name), &val);
			rc = milter_ins_header(c, pos, name, val);
			break;
		default:
			break;
		}
		if (rc < 0)
			log_warn("%s: too many header edits", c->queue_id);
	}
}

/* apply_body_edits - rebuild the body with the line edits */
static void apply_body_edits(struct msg *m, struct verdict *v)
{
	struct buf nb;
	size_t pos = 0;

	if (m->nbedits == 0)
		return;
	if (!m->keep_body || m->body_over) {
		log_warn("%s: %zu body edit(s) not applied: body over "
		    "max_body_edit (%zu bytes)", m->c->queue_id, m->nbedits,
		    m->x->max_body_edit);
		verdict_logf(v, "body_edits_skipped", "%zu", m->nbedits);
		return;
	}
	buf_init(&nb, m->body.len * 2 + MILTER_EDITS_BYTES);
	for (size_t i = 0; i < m->nbedits; i++) {
		struct edit *e = &m->bedits[i];

		if (e->off < pos || e->end > m->body.len)
			continue;
		buf_append(&nb, m->body.data + pos, e->off - pos);
		pos = e->off;
		if (e->a == PFT_A_PREPEND || e->a == PFT_A_REPLACE) {
			buf_appends(&nb, e->text ? e->text : "");
			buf_appends(&nb, "\r\n");
		}
		if (e->a != PFT_A_PREPEND)
			pos = e->end;
	}
	buf_append(&nb, m->body.data + pos, m->body.len - pos);
	if (milter_replace_body(m->c, &nb) < 0)
		log_warn("%s: cannot replace the body", m->c->queue_id);
	buf_free(&nb);
	verdict_logf(v, "body_edits", "%zu", m->nbedits);
}

/* apply_recipients - REDIRECT (all recipients replaced) and BCC */
static void apply_recipients(struct msg *m, struct verdict *v)
{
	struct milter_conn *c = m->c;
	char addr[MILTER_PEER_MAX + 3];

	if (m->redirect) {
		if (c->nrcpts_seen > c->nrcpts) {
			log_warn("%s: REDIRECT not applied: more than %d "
			    "recipients", c->queue_id, MILTER_RCPTS_MAX);
		} else {
			for (size_t i = 0; i < c->nrcpts; i++)
				milter_del_rcpt(c, c->rcpts[i]);
			snprintf(addr, sizeof(addr), "<%s>", m->redirect);
			milter_add_rcpt(c, addr, 0);
			verdict_logf(v, "redirect", "%s", addr);
		}
	}
	for (size_t i = 0; i < m->nbcc; i++) {
		snprintf(addr, sizeof(addr), "<%s>", m->bcc[i]);
		if (milter_add_rcpt(c, addr, 1) == 0)
			verdict_logf(v, "bcc", "%s", addr);
	}
}

/* checksd_eom - the content decision and its edits */
static void checksd_eom(struct milter_conn *c, void *ctx, struct verdict *v)
{
	struct msg *m = c->msg_data;
	unsigned flags;

	(void)ctx;
	if (m == NULL)
		return;
	flags = mimescan_end(m->ms);
	if (flags & MIMESCAN_E_NESTING)
		verdict_logf(v, "mime", "nesting_limit");
	if (content_verdict(m, v)) {
		log_hits(m, v);
		return;
	}
	apply_header_edits(m);
	apply_body_edits(m, v);
	apply_recipients(m, v);
	if (m->hold)
		verdict_set(v, VERDICT_QUARANTINE, 0, "", "%s", m->hold_text);
	else if (m->rv.disp == VERDICT_QUARANTINE)
		verdict_set(v, VERDICT_QUARANTINE, 0, "", "%s", m->rv.text);
	if (m->pass)
		verdict_logf(v, "pass", "yes");
	log_hits(m, v);
}

/* skip_body - the body is needed for MIME/nested headers and body lines */
static int skip_body(void *ctx)
{
	struct checksd_ctx *x = ctx;

	return x->t[T_MIME].n == 0 && x->t[T_NESTED].n == 0 &&
	    x->t[T_BODY].n == 0;
}

/* ------------------------------------------- policy protocol adapter */

static struct {
	int *fds;
	size_t nfds;
	struct event_base *base;
	struct policy_server *ps;
	struct dns_client *dc;
	struct dns_resolver *dns;
	pthread_t tid;
	int on;
	struct event *ev_stop;
} pol;

/* one policy request in flight */
struct preq {
	struct policy_conn *pc;
	void *ref;			/* milter_ctx_get's */
	struct checksd_ctx *x;
	struct ipaddr ip;
	int has_ip;
	char addr[IP_STR_MAX], helo[256], sender[256];
};

/* preq_answer - the decision as a policy action */
static void preq_answer(struct preq *q, struct rbl_result *rr)
{
	struct geoip_info gi;
	struct geoip_decision gd;
	struct verdict v;
	struct buf out;
	int geo = q->x->geo && q->has_ip;

	verdict_init(&v);
	buf_init(&out, 1024);
	if (geo) {
		geoip_lookup(q->x->geo, &q->ip, &gi);
		geoip_decide(q->x->geo, &gi, &gd);
	}
	rbl_geo_decide(q->x, rr, geo ? &gi : NULL, geo ? &gd : NULL,
	    q->addr, q->helo, &v);
	policy_verdict_action(&v, &out);
	buf_appendc(&out, '\0');
	log_info("policy: client=%s%s action=%s", q->addr,
	    v.log.len ? v.log.data : "", policy_verdict_action_name(&v));
	policy_reply(q->pc, out.data);
	buf_free(&out);
	verdict_free(&v);
	milter_ctx_put(&q->ref);
	free(q);
}

/* on_rbl_done - the lists answered */
static void on_rbl_done(void *arg, struct rbl_result *res)
{
	preq_answer(arg, res);
}

/* on_policy - one request: its client, HELO and sender */
static void on_policy(struct policy_conn *pc, const struct policy_req *req,
    void *arg)
{
	struct preq *q = xcalloc(1, sizeof(*q));
	const char *a = policy_req_get(req, "client_address");
	struct rbl_facts f = { 0 };

	(void)arg;
	q->pc = pc;
	q->x = milter_ctx_get(&q->ref);
	snprintf(q->addr, sizeof(q->addr), "%s", a ? a : "unknown");
	snprintf(q->helo, sizeof(q->helo), "%s",
	    policy_req_get(req, "helo_name") ?
	    policy_req_get(req, "helo_name") : "");
	domain_of(policy_req_get(req, "sender") ?
	    policy_req_get(req, "sender") : "", q->sender, sizeof(q->sender));
	if (a && ip_parse(a, &q->ip) == 0) {
		ip_unmap(&q->ip);
		q->has_ip = 1;
	}
	if (rbl_sites(q->x->rbl) == 0) {
		preq_answer(q, NULL);
		return;
	}
	f.ip = q->has_ip ? &q->ip : NULL;
	f.helo = q->helo;
	f.sender_domain = q->sender;
	rbl_check_start(q->x->rbl, pol.dc, pol.base, &f, on_rbl_done, q);
}

/* pol_start - bind the policy listener (as root) */
static int pol_start(void *ctx, const struct cfg *cfg, const char **err_r)
{
	struct checksd_ctx *x = ctx;
	const char *spec = cfg_str(cfg, "policy_listen");
	struct policy_server_config pc = { 0 };

	if (spec == NULL || *spec == '\0')
		return 0;
	pc.listen = &spec;
	pc.nlisten = 1;
	pc.max_conns = (size_t)cfg_int(cfg, "policy_max_connections");
	pc.idle_timeout_ms = 600000;
	pc.request_timeout_ms = 30000;
	pc.unix_mode = 0666;
	pc.unix_gid = (gid_t)-1;
	policy_limits_default(&pc.limits);
	if (policy_listeners_open(&pc, &pol.fds, err_r) < 0)
		return -1;
	pol.nfds = 1;
	if ((pol.base = event_base_new()) == NULL) {
		*err_r = "event_base_new failed";
		return -1;
	}
	pol.dns = dns_resolver_ref(x->dns);
	if ((pol.dc = dns_client_new(pol.dns, pol.base, err_r)) == NULL)
		return -1;
	pol.ps = policy_server_new(pol.base, &pc, pol.fds, on_policy, NULL,
	    err_r);
	if (pol.ps == NULL)
		return -1;
	pol.on = 1;
	log_info("policy listener on %s (RBL and GeoIP)", spec);
	return 0;
}

/* pol_main - the policy listener's event loop */
static void *pol_main(void *arg)
{
	(void)arg;
	event_base_loop(pol.base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

/* pol_do_stop - on the loop's thread: stop serving, leave the loop */
static void pol_do_stop(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	policy_server_stop(pol.ps);
	event_base_loopexit(pol.base, NULL);
}

/* pol_run - start the loop's thread */
static void pol_run(void)
{
	if (!pol.on)
		return;
	pol.ev_stop = event_new(pol.base, -1, 0, pol_do_stop, NULL);
	if (pthread_create(&pol.tid, NULL, pol_main, NULL) != 0)
		log_fatal("cannot start the policy listener thread");
}

/* pol_stop - stop the loop and wait for it */
static void pol_stop(void)
{
	if (!pol.on)
		return;
	event_active(pol.ev_stop, 0, 0);
	pthread_join(pol.tid, NULL);
	pol.on = 0;
}

static const char *const restart_keys[] = { "policy_listen",
	"policy_max_connections", NULL };

static const struct milter_desc checksd_desc = {
	.name = "postern-checks",
	.defs = checksd_defs,
	.check = checksd_check,
	.restart_keys = restart_keys,
	.init = checksd_init,
	.ctx_new = ctx_new,
	.ctx_free = ctx_free,
	.eoh = checksd_eoh,
	.body = checksd_body,
	.eom = checksd_eom,
	.msg_free = checksd_msg_free,
	.skip_body = skip_body,
	.actions = MILTER_ACT_RCPT | MILTER_ACT_BODY,
	.start = pol_start,
	.run = pol_run,
	.stop = pol_stop,
};

int main(int argc, char **argv)
{
	return milter_main(argc, argv, &checksd_desc);
}
