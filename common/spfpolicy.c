/*
 * spfpolicy.c - SPF policy decisions; see spfpolicy.h.
 *
 * Option semantics follow pypolicyd-spf's policyd-spf.conf(5), so an
 * existing configuration means the same here; header formats follow
 * RFC 7208 9.1 (Received-SPF) and RFC 8601 (Authentication-Results);
 * reply codes follow RFC 7372 (5.7.23 SPF validation failed, 5.7.24 SPF
 * validation error) when SPF_Enhanced_Status_Codes is on.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "authres.h"
#include "inet.h"
#include "log.h"
#include "lru.h"
#include "spfpolicy.h"
#include "xalloc.h"

#define HELO_CACHE_MAX 20000
#define INSTANCE_TTL 3600	/* seconds a message's decision is kept */
#define HEADER_MAX 1536
#define HDR_PEER_MAX 255	/* bytes of a peer string in a header */

enum reject_mode { R_FAIL, R_NOT_PASS, R_SOFTFAIL, R_NULL, R_FALSE,
	R_NO_CHECK };
enum header_type { H_SPF, H_AR, H_NONE };

struct spfpolicy {
	struct spf_engine *engine;
	enum reject_mode helo_reject, mailfrom_reject;
	int permerror_reject, temperror_defer, hide_receiver, test_mode;
	int enhanced, skip_sasl;
	enum header_type header;
	struct cidrlist skip, whitelist;
	char **helo_wl, **domain_wl, **not_pass_domains;
	size_t nhelo_wl, ndomain_wl, nnot_pass;
	char *authserv_id;
	unsigned helo_ttl;
	struct lru *helo_cache;		/* "ip helo" -> struct spf_outcome */
	struct lru *instances;		/* instance -> struct remembered */
};

/* a decision remembered for the other recipients of the same message */
struct remembered {
	enum verdict_disp disp;
	int code;
	char ecode[12];
	char *text;
};

enum phase { P_START, P_HELO_WL, P_DOMAIN_WL, P_HELO, P_MAILFROM,
	P_DONE };

/* a HELO_Whitelist name counts only if it points to the client */
#define HELO_WL_RECORD "v=spf1 a -all"

struct spfpolicy_txn {
	struct spfpolicy *p;
	struct spfpolicy_facts f;	/* copies */
	struct ipaddr ip;
	int ip_ok;
	enum phase phase;
	size_t wl_index;
	int asked;			/* a check is out */
	int have_helo, have_mail;
	struct spf_outcome helo, mail;
	const char *skip_reason;	/* set: no SPF verdict */
	const char *wl_comment;		/* set: X-Comment whitelisted */
	const char *wl_domain;
	struct remembered *cached;
	/* peer strings as they go into headers: cut to the SMTP limits
	 * (RFC 5321 4.5.3.1) so a header always fits its buffer */
	char hhelo[HDR_PEER_MAX + 1], hsender[HDR_PEER_MAX + 1];
};

/* ------------------------------------------------------------- config */

/* reject_mode_of - config text to mode */
static enum reject_mode reject_mode_of(const char *s)
{
	static const char *names[] = { "Fail", "SPF_Not_Pass", "Softfail",
	    "Null", "False", "No_Check" };

	for (size_t i = 0; i < 6; i++)
		if (strcasecmp(s, names[i]) == 0)
			return (enum reject_mode)i;
	return R_FAIL;
}

/* copy_list - duplicate a config list */
static char **copy_list(const struct cfg *cfg, const char *key, size_t *n_r)
{
	const char *const *l = cfg_list(cfg, key, n_r);
	char **v = xcalloc(*n_r ? *n_r : 1, sizeof(char *));

	for (size_t i = 0; i < *n_r; i++)
		v[i] = xstrdup(l[i]);
	return v;
}

/* free_list - free a copied list */
static void free_list(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* load_cidrs - a CIDR list key; -1 with *err_r naming the bad entry */
static int load_cidrs(const struct cfg *cfg, const char *key,
    struct cidrlist *out, const char **err_r)
{
	static __thread char err[160];
	size_t n;
	const char *const *l = cfg_list(cfg, key, &n);

	for (size_t i = 0; i < n; i++) {
		if (cidrlist_add(out, l[i]) < 0) {
			snprintf(err, sizeof(err), "%s: \"%.80s\" is not an "
			    "address or CIDR network", key, l[i]);
			*err_r = err;
			return -1;
		}
	}
	return 0;
}

/* spfpolicy_check_config - the checks spfpolicy_new would fail on */
int spfpolicy_check_config(const struct cfg *cfg, const char **err_r)
{
	struct cidrlist a = { 0 }, b = { 0 };
	int rc = 0;

	if (load_cidrs(cfg, "skip_addresses", &a, err_r) < 0 ||
	    load_cidrs(cfg, "Whitelist", &b, err_r) < 0)
		rc = -1;
	cidrlist_free(&a);
	cidrlist_free(&b);
	return rc;
}

/* free_outcome - lru value destructor */
static void free_outcome(void *v)
{
	spf_outcome_clear(v);
	free(v);
}

/* free_remembered - lru value destructor */
static void free_remembered(void *v)
{
	struct remembered *r = v;

	free(r->text);
	free(r);
}

/* spfpolicy_new - the policy from the config; engine is borrowed */
struct spfpolicy *spfpolicy_new(const struct cfg *cfg,
    struct spf_engine *engine, const char **err_r)
{
	struct spfpolicy *p = xcalloc(1, sizeof(*p));
	const char *h = cfg_str(cfg, "Header_Type");
	const char *id = cfg_str(cfg, "authserv_id");

	p->engine = engine;
	if (load_cidrs(cfg, "skip_addresses", &p->skip, err_r) < 0 ||
	    load_cidrs(cfg, "Whitelist", &p->whitelist, err_r) < 0) {
		cidrlist_free(&p->skip);
		cidrlist_free(&p->whitelist);
		free(p);
		return NULL;
	}
	p->helo_reject = reject_mode_of(cfg_str(cfg, "HELO_reject"));
	p->mailfrom_reject = reject_mode_of(cfg_str(cfg, "Mail_From_reject"));
	p->permerror_reject = cfg_bool(cfg, "PermError_reject");
	p->temperror_defer = cfg_bool(cfg, "TempError_Defer");
	p->hide_receiver = cfg_bool(cfg, "Hide_Receiver");
	p->test_mode = cfg_int(cfg, "TestOnly") == 0;
	p->enhanced = cfg_bool(cfg, "SPF_Enhanced_Status_Codes");
	p->skip_sasl = cfg_bool(cfg, "skip_sasl_authenticated");
	p->header = strcasecmp(h, "AR") == 0 ? H_AR :
	    strcasecmp(h, "None") == 0 ? H_NONE : H_SPF;
	p->helo_wl = copy_list(cfg, "HELO_Whitelist", &p->nhelo_wl);
	p->domain_wl = copy_list(cfg, "Domain_Whitelist", &p->ndomain_wl);
	p->not_pass_domains = copy_list(cfg, "Reject_Not_Pass_Domains",
	    &p->nnot_pass);
	/* pypolicyd-spf: "HOSTNAME" means the host name */
	p->authserv_id = xstrdup(*id && strcmp(id, "HOSTNAME") != 0 ? id :
	    spf_engine_receiver(engine));
	p->helo_ttl = (unsigned)(cfg_int(cfg, "helo_cache_time") / 1000);
	p->helo_cache = lru_new(HELO_CACHE_MAX, 0, free_outcome);
	p->instances = lru_new((size_t)cfg_int(cfg, "instance_cache_size"),
	    0, free_remembered);
	return p;
}

/* spfpolicy_free - release; *pp = NULL */
void spfpolicy_free(struct spfpolicy **pp)
{
	struct spfpolicy *p = *pp;

	*pp = NULL;
	if (p == NULL)
		return;
	cidrlist_free(&p->skip);
	cidrlist_free(&p->whitelist);
	free_list(p->helo_wl, p->nhelo_wl);
	free_list(p->domain_wl, p->ndomain_wl);
	free_list(p->not_pass_domains, p->nnot_pass);
	free(p->authserv_id);
	lru_free(&p->helo_cache);
	lru_free(&p->instances);
	free(p);
}

/* --------------------------------------------------------- transaction */

/* in_list - case-insensitive membership */
static int in_list(char **v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(v[i], s) == 0)
			return 1;
	return 0;
}

/* helo_key - cache key "ip helo" */
static void helo_key(const struct spfpolicy_txn *t, char *out, size_t len)
{
	snprintf(out, len, "%s %s", t->f.client_address, t->f.helo);
}

/* spfpolicy_txn_new - one request; strings are copied */
struct spfpolicy_txn *spfpolicy_txn_new(struct spfpolicy *p,
    const struct spfpolicy_facts *f)
{
	struct spfpolicy_txn *t = xcalloc(1, sizeof(*t));
	const char *const *src[] = { &f->client_address, &f->helo, &f->sender,
	    &f->recipient, &f->sasl_username, &f->instance, &f->queue_id };
	const char **dst[] = { &t->f.client_address, &t->f.helo,
	    &t->f.sender, &t->f.recipient, &t->f.sasl_username,
	    &t->f.instance, &t->f.queue_id };

	t->p = p;
	for (size_t i = 0; i < sizeof(src) / sizeof(src[0]); i++)
		*dst[i] = xstrdup(*src[i] ? *src[i] : "");
	snprintf(t->hhelo, sizeof(t->hhelo), "%s", t->f.helo);
	snprintf(t->hsender, sizeof(t->hsender), "%s", t->f.sender);
	t->ip_ok = ip_parse(t->f.client_address, &t->ip) == 0;
	if (t->ip_ok)
		ip_unmap(&t->ip);
	t->phase = P_START;
	return t;
}

/* start - the checks that need no DNS */
static void start(struct spfpolicy_txn *t)
{
	struct spfpolicy *p = t->p;

	t->phase = P_HELO_WL;
	if (*t->f.instance &&
	    (t->cached = lru_get(p->instances, t->f.instance,
	    time(NULL))) != NULL) {
		t->phase = P_DONE;
		return;
	}
	if (!t->ip_ok) {
		t->skip_reason = "no valid client address";
	} else if (*t->f.sasl_username && p->skip_sasl) {
		t->skip_reason = "SASL authenticated";
	} else if (cidrlist_match(&p->skip, &t->ip)) {
		t->skip_reason = "skip_addresses";
	} else if (cidrlist_match(&p->whitelist, &t->ip)) {
		t->wl_comment = "Whitelist";
	}
	if (t->skip_reason || t->wl_comment)
		t->phase = P_DONE;
}

/* mode_rejects - does result r reject under mode m? */
static int mode_rejects(enum reject_mode m, enum spf_result r,
    int null_sender)
{
	switch (m) {
	case R_FAIL:
		return r == SPF_FAIL;
	case R_SOFTFAIL:
		return r == SPF_FAIL || r == SPF_SOFTFAIL;
	case R_NOT_PASS:
		return r == SPF_FAIL || r == SPF_SOFTFAIL ||
		    r == SPF_NEUTRAL || r == SPF_PERMERROR;
	case R_NULL:
		return r == SPF_FAIL && null_sender;
	default:
		return 0;
	}
}

/* helo_rejects - the HELO result alone rejects the mail */
static int helo_rejects(const struct spfpolicy_txn *t)
{
	return t->have_helo && mode_rejects(t->p->helo_reject,
	    t->helo.result, *t->f.sender == '\0');
}

/* spfpolicy_txn_next - 1 and a request to check, or 0: go to verdict */
int spfpolicy_txn_next(struct spfpolicy_txn *t, struct spf_request *req_r)
{
	struct spfpolicy *p = t->p;
	const char *err;

	if (t->asked)
		log_panic("spfpolicy: next check asked before supply");
	if (t->phase == P_START)
		start(t);
	if (t->phase == P_HELO_WL) {
		t->phase = P_DOMAIN_WL;
		if (*t->f.helo && in_list(p->helo_wl, p->nhelo_wl,
		    t->f.helo) && spf_domain_valid(t->f.helo)) {
			if (spf_engine_request(p->engine, t->f.client_address,
			    "", t->f.helo, req_r, &err) < 0)
				return 0;
			req_r->record = HELO_WL_RECORD;
			t->phase = P_HELO_WL;
			t->asked = 1;
			return 1;
		}
	}
	if (t->phase == P_DOMAIN_WL) {
		if (t->wl_index < p->ndomain_wl) {
			if (spf_engine_request(p->engine, t->f.client_address,
			    t->f.sender, t->f.helo, req_r, &err) < 0)
				return 0;
			req_r->domain = p->domain_wl[t->wl_index];
			t->asked = 1;
			return 1;
		}
		t->phase = P_HELO;
	}
	if (t->phase == P_HELO) {
		t->phase = P_MAILFROM;
		if (p->helo_reject != R_NO_CHECK &&
		    spf_domain_valid(t->f.helo)) {
			char key[600];
			struct spf_outcome *o;

			helo_key(t, key, sizeof(key));
			o = lru_get(p->helo_cache, key, time(NULL));
			if (o) {
				spf_outcome_copy(&t->helo, o);
				t->have_helo = 1;
			} else {
				if (spf_engine_request(p->engine,
				    t->f.client_address, "", t->f.helo, req_r,
				    &err) < 0)
					return 0;
				t->phase = P_HELO;	/* supply() moves on */
				t->asked = 1;
				return 1;
			}
		}
	}
	if (t->phase == P_MAILFROM) {
		t->phase = P_DONE;
		if (p->mailfrom_reject != R_NO_CHECK && *t->f.sender &&
		    !helo_rejects(t)) {
			if (spf_engine_request(p->engine, t->f.client_address,
			    t->f.sender, t->f.helo, req_r, &err) < 0)
				return 0;
			t->phase = P_MAILFROM;
			t->asked = 1;
			return 1;
		}
	}
	return 0;
}

/* spfpolicy_txn_supply - outcome of the check spfpolicy_txn_next asked */
void spfpolicy_txn_supply(struct spfpolicy_txn *t,
    const struct spf_outcome *o)
{
	struct spfpolicy *p = t->p;
	struct spf_outcome *dst;

	if (!t->asked)
		log_panic("spfpolicy: supply without a check");
	t->asked = 0;
	switch (t->phase) {
	case P_HELO_WL:
		t->phase = P_DOMAIN_WL;
		if (o->result == SPF_PASS) {
			t->wl_comment = "HELO_Whitelist";
			t->phase = P_DONE;
		}
		return;
	case P_DOMAIN_WL:
		if (o->result == SPF_PASS) {
			t->wl_comment = "Domain_Whitelist";
			t->wl_domain = p->domain_wl[t->wl_index];
			t->phase = P_DONE;
		}
		t->wl_index++;
		return;
	case P_HELO:
		dst = &t->helo;
		t->have_helo = 1;
		t->phase = P_MAILFROM;
		break;
	case P_MAILFROM:
		dst = &t->mail;
		t->have_mail = 1;
		t->phase = P_DONE;
		break;
	default:
		return;
	}
	spf_outcome_copy(dst, o);
	if (dst == &t->helo && p->helo_ttl) {
		struct spf_outcome *c = xcalloc(1, sizeof(*c));
		char key[600];

		spf_outcome_copy(c, o);
		helo_key(t, key, sizeof(key));
		lru_put(p->helo_cache, key, c, time(NULL) + p->helo_ttl, 0);
	}
}

/* ------------------------------------------------------------ verdict */

/* header_comment - RFC 7208 9.1 style comment text */
static void header_comment(const struct spfpolicy_txn *t, struct buf *c,
    const struct spf_outcome *o, const char *who, const char *ip)
{
	const char *recv = spf_engine_receiver(t->p->engine);

	if (!t->p->hide_receiver)
		buf_appendf(c, "%s: ", recv);
	switch (o->result) {
	case SPF_PASS:
		buf_appendf(c, "domain of %s designates %s as permitted "
		    "sender", who, ip);
		break;
	case SPF_FAIL:
		buf_appendf(c, "domain of %s does not designate %s as "
		    "permitted sender", who, ip);
		break;
	case SPF_SOFTFAIL:
		buf_appendf(c, "transitioning domain of %s does not "
		    "designate %s as permitted sender", who, ip);
		break;
	case SPF_NEUTRAL:
		buf_appendf(c, "%s is neither permitted nor denied by domain "
		    "of %s", ip, who);
		break;
	case SPF_NONE:
		buf_appendf(c, "domain of %s does not publish an SPF record",
		    who);
		break;
	case SPF_TEMPERROR:
		buf_appendf(c, "temporary error checking domain of %s", who);
		break;
	case SPF_PERMERROR:
		buf_appendf(c, "permanent error in the SPF record of %s", who);
		break;
	}
}

/* add_header - Received-SPF or Authentication-Results for outcome o */
static void add_header(const struct spfpolicy_txn *t, struct verdict *v,
    const struct spf_outcome *o, int helo_identity)
{
	struct spfpolicy *p = t->p;
	struct buf h, c;
	char who[600];
	const char *identity = helo_identity ? "helo" : "mailfrom";

	if (p->header == H_NONE)
		return;
	if (helo_identity || *t->f.sender == '\0')
		snprintf(who, sizeof(who), "postmaster@%s", t->hhelo);
	else
		snprintf(who, sizeof(who), "%s", t->hsender);
	buf_init(&h, HEADER_MAX);
	buf_init(&c, HEADER_MAX);
	if (p->header == H_AR) {
		authres_begin(&h, p->authserv_id);
		authres_method(&h, "spf", spf_result_name(o->result), NULL);
		header_comment(t, &c, o, who, t->f.client_address);
		buf_appendc(&h, ' ');
		hdr_comment_append(&h, c.data);
		if (helo_identity)
			authres_prop(&h, "smtp.helo", t->hhelo);
		else
			authres_prop_addr(&h, "smtp.mailfrom", who);
		verdict_prepend(v, "Authentication-Results", "%s", h.data);
	} else {
		buf_appends(&h, spf_result_header_name(o->result));
		buf_appendc(&h, ' ');
		header_comment(t, &c, o, who, t->f.client_address);
		hdr_comment_append(&h, c.data);
		buf_appends(&h, " client-ip=");
		buf_appends(&h, t->f.client_address);
		buf_appends(&h, "; envelope-from=");
		hdr_value_append(&h, who);
		buf_appends(&h, "; helo=");
		hdr_value_append(&h, *t->hhelo ? t->hhelo : "unknown");
		if (!p->hide_receiver) {
			buf_appends(&h, "; receiver=");
			hdr_value_append(&h, spf_engine_receiver(p->engine));
		}
		buf_appendf(&h, "; identity=%s", identity);
		if (o->mechanism && o->result != SPF_NONE) {
			buf_appends(&h, "; mechanism=");
			hdr_value_append(&h, o->mechanism);
		}
		if (o->problem && (o->result == SPF_TEMPERROR ||
		    o->result == SPF_PERMERROR)) {
			buf_appends(&h, "; problem=");
			hdr_value_append(&h, o->problem);
		}
		verdict_prepend(v, "Received-SPF", "%s", h.data);
	}
	buf_free(&h);
	buf_free(&c);
}

/* decide - reject/defer from one scope's outcome; 1 if it decided */
static int decide(const struct spfpolicy_txn *t, struct verdict *v,
    const struct spf_outcome *o, enum reject_mode mode, const char *domain,
    int not_pass_listed)
{
	struct spfpolicy *p = t->p;
	int null_sender = *t->f.sender == '\0';
	const char *ec_fail = p->enhanced ? "5.7.23" : "5.7.1";
	const char *ec_err = p->enhanced ? "5.7.24" : "5.7.1";
	const char *ec_temp = p->enhanced ? "4.7.24" : "4.4.3";

	if (mode == R_FALSE || mode == R_NO_CHECK)
		return 0;
	if (mode_rejects(mode, o->result, null_sender) ||
	    (not_pass_listed && (o->result == SPF_FAIL ||
	    o->result == SPF_SOFTFAIL || o->result == SPF_NEUTRAL))) {
		if (o->result == SPF_PERMERROR)
			verdict_set(v, VERDICT_REJECT, 550, ec_err,
			    "Message rejected due to: SPF permanent error for "
			    "%s: %s", domain, o->problem ? o->problem :
			    "invalid record");
		else
			verdict_set(v, VERDICT_REJECT, 550, ec_fail,
			    "Message rejected due to: SPF %s - not "
			    "authorized.%s%s", spf_result_name(o->result),
			    o->explanation ? " " : "",
			    o->explanation ? o->explanation : "");
		return 1;
	}
	if (o->result == SPF_PERMERROR && p->permerror_reject) {
		verdict_set(v, VERDICT_REJECT, 550, ec_err,
		    "Message rejected due to: SPF permanent error for %s: %s",
		    domain, o->problem ? o->problem : "invalid record");
		return 1;
	}
	if (o->result == SPF_TEMPERROR && p->temperror_defer) {
		/* as pypolicyd-spf: a later restriction may still reject */
		verdict_set(v, VERDICT_TEMPFAIL, 450, ec_temp,
		    "SPF temporary error checking %s, try again later", domain);
		v->if_permit = 1;
		return 1;
	}
	return 0;
}

/* remember - keep the decision for the other recipients */
static void remember(struct spfpolicy_txn *t, const struct verdict *v)
{
	struct remembered *r;

	if (*t->f.instance == '\0')
		return;
	r = xcalloc(1, sizeof(*r));
	r->disp = v->disp;
	r->code = v->code;
	memcpy(r->ecode, v->ecode, sizeof(r->ecode));
	r->text = v->text ? xstrdup(v->text) : NULL;
	lru_put(t->p->instances, t->f.instance, r, time(NULL) + INSTANCE_TTL,
	    0);
}

/* log_facts - " ip=... helo=... from=<...>" after the result */
static void log_facts(const struct spfpolicy_txn *t, struct verdict *v)
{
	char san[LOG_SAN_SIZE];

	verdict_log_peer(v, "ip", t->f.client_address);
	verdict_log_peer(v, "helo", t->f.helo);
	verdict_logf(v, "from", "<%s>", log_sanitize(san, t->f.sender,
	    strlen(t->f.sender)));
}

/* spfpolicy_txn_verdict - the decision, once no check is left */
void spfpolicy_txn_verdict(struct spfpolicy_txn *t, struct verdict *v)
{
	struct spfpolicy *p = t->p;
	const struct spf_outcome *hdr = NULL;
	int hdr_helo = 0, decided = 0;

	if (t->cached) {
		verdict_set(v, t->cached->disp, t->cached->code,
		    t->cached->ecode, t->cached->text ? "%s" : NULL,
		    t->cached->text);
		verdict_logf(v, "spf", "%s", "cached");
		log_facts(t, v);
		verdict_logf(v, "reason", "%s", "instance_seen");
		return;
	}
	if (t->skip_reason) {
		verdict_logf(v, "spf", "%s", "skipped");
		log_facts(t, v);
		verdict_log_quoted(v, "reason", t->skip_reason);
		/* pypolicyd-spf notes a skipped local client in a header */
		if (strcmp(t->skip_reason, "skip_addresses") == 0)
			verdict_prepend(v, "X-Comment", "SPF not applicable "
			    "to localhost connection - skipped check");
		remember(t, v);
		return;
	}
	if (t->wl_comment) {
		struct buf x;

		buf_init(&x, HEADER_MAX);
		buf_appendf(&x, "SPF skipped for whitelisted relay%s%s - "
		    "client-ip=%s; helo=", t->wl_domain ? " of " : "",
		    t->wl_domain ? t->wl_domain : "", t->f.client_address);
		hdr_value_append(&x, t->hhelo);
		buf_appends(&x, "; envelope-from=");
		hdr_value_append(&x, t->hsender);
		verdict_prepend(v, "X-Comment", "%s", x.data);
		buf_free(&x);
		verdict_logf(v, "spf", "%s", "skipped");
		log_facts(t, v);
		verdict_logf(v, "reason", "%s", t->wl_comment);
		remember(t, v);
		return;
	}
	if (t->have_helo) {
		decided = decide(t, v, &t->helo, p->helo_reject, t->f.helo, 0);
		hdr = &t->helo;
		hdr_helo = *t->f.sender != '\0';
	}
	if (t->have_mail) {
		const char *dom = spf_identity_domain(t->f.sender, t->f.helo);

		verdict_logf(v, "spf", "%s", spf_result_name(t->mail.result));
		verdict_logf(v, "identity", "%s", "mailfrom");
		if (!decided)
			decided = decide(t, v, &t->mail, p->mailfrom_reject,
			    dom, in_list(p->not_pass_domains, p->nnot_pass,
			    dom));
		hdr = &t->mail;
		hdr_helo = 0;
	} else if (t->have_helo) {
		verdict_logf(v, "spf", "%s", spf_result_name(t->helo.result));
		verdict_logf(v, "identity", "%s", "helo");
	} else {
		verdict_logf(v, "spf", "%s", "none");
		verdict_logf(v, "identity", "%s", "none");
	}
	log_facts(t, v);
	if (t->have_helo && t->have_mail)
		verdict_logf(v, "helo_result", "%s",
		    spf_result_name(t->helo.result));
	if (hdr && hdr->problem)
		verdict_log_quoted(v, "problem", hdr->problem);
	if (decided && p->test_mode) {
		verdict_logf(v, "test_mode", "would_%s",
		    verdict_disp_name(v->disp));
		verdict_set(v, VERDICT_CONTINUE, 0, NULL, NULL);
		decided = 0;
	}
	if (!decided && hdr)
		add_header(t, v, hdr, hdr_helo);
	remember(t, v);
}

/* spfpolicy_txn_result - the SPF result that decided, for metrics:
 * a result name, "skipped" or "cached" */
const char *spfpolicy_txn_result(const struct spfpolicy_txn *t)
{
	if (t->cached)
		return "cached";
	if (t->skip_reason || t->wl_comment)
		return "skipped";
	if (t->have_mail)
		return spf_result_name(t->mail.result);
	if (t->have_helo)
		return spf_result_name(t->helo.result);
	return "none";
}

/* spfpolicy_txn_free - release; *tp = NULL */
void spfpolicy_txn_free(struct spfpolicy_txn **tp)
{
	struct spfpolicy_txn *t = *tp;

	*tp = NULL;
	if (t == NULL)
		return;
	free((char *)t->f.client_address);
	free((char *)t->f.helo);
	free((char *)t->f.sender);
	free((char *)t->f.recipient);
	free((char *)t->f.sasl_username);
	free((char *)t->f.instance);
	free((char *)t->f.queue_id);
	spf_outcome_clear(&t->helo);
	spf_outcome_clear(&t->mail);
	free(t);
}
