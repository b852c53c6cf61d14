/*
 * dmarcd.c - postern-dmarc: the DMARC evaluator milter.
 *
 * Per message: the From: header (exactly one, with exactly one address:
 * otherwise refused, required_headers / reject_multi_from), the SPF and
 * DKIM results (from Authentication-Results of trusted_authserv_ids, or
 * checked here: spf_self_validate, dkim_self_validate), the DMARC
 * result (common/dmarc.c), then: an Authentication-Results header
 * "dmarc=RESULT (p=P dis=D) header.from=DOMAIN", the disposition
 * (reject_failures, quarantine_action, override lists, test_mode), one
 * log line, and a count for the aggregate reports (dmarc_agg).
 *
 * Trust: everything in the message is peer data.  Authentication-Results
 *   headers count only with a trusted authserv-id; those claiming our
 *   own authserv-id that arrived from outside are removed by the milter
 *   core only when this milter validates both SPF and DKIM itself (when
 *   it reads results from headers, an earlier milter of this host,
 *   postern-dkim, is the one that removes forged ones: see README).
 *   An SPF result from a header counts only when its smtp.mailfrom (or
 *   smtp.helo) domain is the one of this message's envelope.
 * Errors: an engine never fails a message; DNS trouble is temperror
 *   (on_temperror); the store being down never delays mail (counts wait
 *   in memory, dmarc_agg).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "authres.h"
#include "dkim.h"
#include "dkim_dns.h"
#include "dmarc.h"
#include "dmarc_agg.h"
#include "dmarc_ruf.h"
#include "dmarcd_cfg.h"
#include "log.h"
#include "mailaddr.h"
#include "milter.h"
#include "spfengine.h"
#include "store.h"
#include "xalloc.h"

#define AR_VALUE_MAX 2048	/* our Authentication-Results value */

/* one message */
struct dmsg {
	int skip;			/* ignored: no header, no count */
	const char *skip_why;
	enum mailaddr_status from_st;
	const char *from_why;
	struct mailaddr from;
	char env_from[MILTER_PEER_MAX + 1];	/* MAIL FROM without <> */
	struct dkim_msg *dkim;		/* dkim_self_validate */
	/* results read from trusted Authentication-Results */
	int ar_spf_set;
	enum spf_result ar_spf;
	char ar_spf_domain[DMARC_DOMAIN_MAX];
	int ar_spf_helo;
	size_t ar_ndkim;
	struct {
		char domain[DMARC_DOMAIN_MAX];
		char selector[DMARC_AGG_FIELD_MAX];
		enum dkim_result result;
	} ar_dkim[DMARC_DKIM_MAX];
};

static struct metric *m_results, *m_actions;

/* ------------------------------------------------- aggregate counting */

/*
 * One accumulator for the process, created at the first message (after
 * privileges are dropped, so the store's files belong to the daemon's
 * user), flushed by its own thread.  "store" and the aggregate keys are
 * restart keys, so every context agrees on it.
 */
static struct {
	pthread_mutex_t mu;
	int tried;
	time_t retry_at;
	struct store *store;
	struct dmarc_agg *agg;
	unsigned flush_ms;
	pthread_t flusher;
} aggs = { PTHREAD_MUTEX_INITIALIZER, 0, 0, NULL, NULL, 0, 0 };

/* flusher - move counts into the store every aggregate_flush_interval */
static void *flusher(void *arg)
{
	(void)arg;
	for (;;) {
		struct timespec ts = { aggs.flush_ms / 1000,
		    (long)(aggs.flush_ms % 1000) * 1000000L };
		size_t dropped = 0;
		const char *err;

		nanosleep(&ts, NULL);
		if (dmarc_agg_flush(aggs.agg, &dropped, &err) < 0)
			log_warn("aggregate reports: store: %s (counts kept "
			    "in memory, next try in %u ms)", err,
			    aggs.flush_ms);
		if (dropped)
			log_warn("aggregate reports: %zu report rows lost "
			    "(aggregate_max_rows reached, or a row that "
			    "cannot be stored)", dropped);
	}
	return NULL;
}

/* agg_flush_at_exit - the last counts into the store */
static void agg_flush_at_exit(void)
{
	size_t dropped = 0;
	const char *err;

	pthread_mutex_lock(&aggs.mu);
	if (aggs.agg && dmarc_agg_flush(aggs.agg, &dropped, &err) < 0)
		log_error("aggregate reports: final flush failed: %s", err);
	pthread_mutex_unlock(&aggs.mu);
}

/* agg_get - the accumulator, opened on first use; NULL while the store
 * cannot be opened (retried every minute) */
static struct dmarc_agg *agg_get(const struct dmarcd_ctx *x)
{
	struct dmarc_agg *a;

	pthread_mutex_lock(&aggs.mu);
	if (aggs.agg == NULL && time(NULL) >= aggs.retry_at) {
		const struct cfg *cfg = x->cfg;
		struct store_opts so;
		const char *err;

		memset(&so, 0, sizeof(so));
		so.max_entries = (size_t)cfg_int(cfg, "store_max_entries");
		so.timeout_ms = (unsigned)cfg_int(cfg, "store_timeout");
		so.connect_timeout_ms = (unsigned)cfg_int(cfg,
		    "store_connect_timeout");
		so.prefix = cfg_str(cfg, "store_prefix");
		aggs.store = store_open(cfg_str(cfg, "store"), &so, &err);
		if (aggs.store == NULL) {
			log_error("aggregate reports: cannot open store %s: "
			    "%s (retrying in 60 s; mail is not delayed)",
			    cfg_str(cfg, "store"), err);
			aggs.retry_at = time(NULL) + 60;
		} else {
			aggs.agg = dmarc_agg_new(aggs.store,
			    (size_t)cfg_int(cfg, "aggregate_max_rows"));
			aggs.flush_ms = (unsigned)cfg_int(cfg,
			    "aggregate_flush_interval");
			if (!aggs.tried) {
				/* the final flush hashes row keys (the
				 * embedded store: SHA-256) from an atexit
				 * handler; handlers run last-registered
				 * first, so libcrypto registers its cleanup
				 * now, before ours, and is still there then
				 * (it would not with opts 0: a no-op) */
				aggs.tried = 1;
				OPENSSL_init_crypto(OPENSSL_INIT_ADD_ALL_DIGESTS,
				    NULL);
				atexit(agg_flush_at_exit);
			}
			if (pthread_create(&aggs.flusher, NULL, flusher,
			    NULL) == 0)
				pthread_detach(aggs.flusher);
			else
				log_error("aggregate reports: no flusher "
				    "thread: counts reach the store at exit");
		}
	}
	a = aggs.agg;
	pthread_mutex_unlock(&aggs.mu);
	return a;
}

/* ------------------------------------------------------ failure reports */

/*
 * One rate limiter and one outbox (a delivery thread with a bounded
 * queue) for the process, made at the first report; their sizes are
 * restart keys.
 */
static struct {
	pthread_mutex_t mu;
	struct dmarc_ruf_limit *limit;
	struct dmarc_ruf_outbox *outbox;
} rufs = { PTHREAD_MUTEX_INITIALIZER, NULL, NULL };

/* ruf_drain_at_exit - reports still queued get a few seconds to leave */
static void ruf_drain_at_exit(void)
{
	pthread_mutex_lock(&rufs.mu);
	dmarc_ruf_outbox_free(&rufs.outbox, 5000);
	dmarc_ruf_limit_free(&rufs.limit);
	pthread_mutex_unlock(&rufs.mu);
}

/* ruf_get - the limiter (and outbox), made once */
static struct dmarc_ruf_limit *ruf_get(const struct dmarcd_ctx *x,
    struct dmarc_ruf_outbox **outbox_r)
{
	pthread_mutex_lock(&rufs.mu);
	if (rufs.limit == NULL) {
		const char *err;

		rufs.limit = dmarc_ruf_limit_new(
		    (unsigned)cfg_int(x->cfg, "failure_reports_per_domain"),
		    (unsigned)cfg_int(x->cfg, "failure_reports_per_hour"),
		    (size_t)cfg_int(x->cfg, "failure_reports_max_domains"));
		rufs.outbox = dmarc_ruf_outbox_new(DMARC_RUF_QUEUE_MAX, &err);
		atexit(ruf_drain_at_exit);
		if (rufs.outbox == NULL)
			log_warn("failure reports: no outbox (%s): sent "
			    "while the message waits", err);
	}
	*outbox_r = rufs.outbox;
	pthread_mutex_unlock(&rufs.mu);
	return rufs.limit;
}

/* send_ruf - failure reports about this message, as fo= asks */
static void send_ruf(struct milter_conn *c, const struct dmarcd_ctx *x,
    const struct dmarc_eval *ev, const struct dmarc_auth *a,
    enum dmarc_agg_disp disp, const char *env_from, struct verdict *v)
{
	struct dmarc_ruf_reporter rp;
	struct dmarc_ruf_send_opts o;
	struct dmarc_ruf_msg m;
	struct dmarc_ruf_outcome oc;
	struct dmarc_ruf_hdr *h;
	char text[160];

	if (!x->failure_reports || !ev->have_record ||
	    dmarc_ruf_wanted(&ev->rec, ev, a) == 0)
		return;
	memset(&rp, 0, sizeof(rp));
	rp.from = x->ruf_from;
	rp.org_name = x->ruf_org_name;
	rp.org_domain = x->ruf_org_domain;
	rp.authserv_id = x->authserv_id;
	rp.reporting_mta = x->host;
	rp.mode = x->mode;
	memset(&o, 0, sizeof(o));
	o.reporter = &rp;
	o.dmarc = x->dmarc;
	o.lookup = dmarc_dns_lookup;
	o.lookup_arg = (void *)&x->dd;
	o.transport = &x->ruf_transport;
	o.bcc = x->ruf_bcc;
	o.limit = ruf_get(x, &o.outbox);
	h = xcalloc(c->nhdrs + 1, sizeof(*h));
	for (size_t i = 0; i < c->nhdrs; i++) {
		h[i].name = c->hdrs[i].name;
		h[i].value = c->hdrs[i].value;
		h[i].vlen = c->hdrs[i].vlen;
	}
	memset(&m, 0, sizeof(m));
	m.queue_id = c->queue_id;
	m.source_ip = c->has_ip ? c->client_addr : NULL;
	m.helo = c->helo;
	m.mail_from = env_from;
	m.auth = a;
	m.delivery_result = disp == DMARC_AGG_REJECT ? "reject" :
	    disp == DMARC_AGG_QUARANTINE ? "spam" : "delivered";
	m.hdrs = h;
	m.nhdrs = c->nhdrs;
	dmarc_ruf_send(&o, &m, ev, &oc);
	free(h);
	verdict_log_quoted(v, "ruf", dmarc_ruf_outcome_text(&oc, text,
	    sizeof(text)));
}

/* ---------------------------------------------------------- per message */

/* copy_lower - bounded lower-case copy of [s, s+n) */
static void copy_lower(char *out, size_t outlen, const char *s, size_t n)
{
	if (n >= outlen)
		n = outlen - 1;
	for (size_t i = 0; i < n; i++)
		out[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] + 32) :
		    s[i];
	out[n] = '\0';
}

/* domain_of - the domain of "local@domain", or the string itself */
static const char *domain_of(const char *addr)
{
	const char *at = strrchr(addr, '@');

	return at ? at + 1 : addr;
}

/* take_authres - SPF and DKIM results of one trusted header */
static void take_authres(struct dmsg *d, const struct authres_parsed *p,
    int spf_ok)
{
	for (size_t i = 0; i < p->nres; i++) {
		const struct authres_res *r = &p->res[i];
		const char *v;

		if (strcmp(r->method, "spf") == 0 && spf_ok &&
		    !d->ar_spf_set) {
			enum spf_result res;
			int helo = 0;

			if (spf_result_parse(r->result, &res) < 0)
				continue;
			if ((v = authres_find_prop(r, "smtp.mailfrom")) ==
			    NULL || *v == '\0') {
				v = authres_find_prop(r, "smtp.helo");
				helo = 1;
			}
			if (v == NULL)
				continue;
			v = domain_of(v);
			copy_lower(d->ar_spf_domain,
			    sizeof(d->ar_spf_domain), v, strlen(v));
			d->ar_spf = res;
			d->ar_spf_helo = helo;
			d->ar_spf_set = 1;
		} else if (strcmp(r->method, "dkim") == 0 &&
		    d->ar_ndkim < DMARC_DKIM_MAX) {
			enum dkim_result res;
			const char *s;

			if (dkim_result_parse(r->result, &res) < 0)
				continue;
			if ((v = authres_find_prop(r, "header.d")) == NULL &&
			    (v = authres_find_prop(r, "header.i")) != NULL)
				v = domain_of(v);
			if (v == NULL || *v == '\0')
				continue;
			copy_lower(d->ar_dkim[d->ar_ndkim].domain,
			    DMARC_DOMAIN_MAX, v, strlen(v));
			s = authres_find_prop(r, "header.s");
			snprintf(d->ar_dkim[d->ar_ndkim].selector,
			    DMARC_AGG_FIELD_MAX, "%s", s ? s : "");
			d->ar_dkim[d->ar_ndkim++].result = res;
		}
	}
}

/* find_from - the From: header's one address into d */
static void find_from(struct milter_conn *c, struct dmsg *d)
{
	const struct milter_hdr *from = NULL;
	size_t nfrom = 0;

	for (size_t i = 0; i < c->nhdrs; i++)
		if (strcasecmp(c->hdrs[i].name, "From") == 0) {
			from = &c->hdrs[i];
			nfrom++;
		}
	if (nfrom == 0) {
		d->from_st = MAILADDR_NONE;
		d->from_why = "no From header";
	} else if (nfrom > 1) {
		d->from_st = MAILADDR_MULTI;
		d->from_why = "several From headers";
	} else {
		d->from_st = mailaddr_from(from->value, from->vlen, &d->from,
		    &d->from_why);
	}
}

/* dmarcd_eoh - From:, trusted results, and what to do with the body */
static void dmarcd_eoh(struct milter_conn *c, void *ctx, struct verdict *v)
{
	struct dmarcd_ctx *x = ctx;
	struct dmsg *d = xcalloc(1, sizeof(*d));
	struct authres_parsed *p;
	const char *envdom;

	c->msg_data = d;
	milter_bare_sender(c->mail_from, d->env_from, sizeof(d->env_from));
	if (c->has_ip && cidrlist_match(&x->ignore_hosts, &c->ip)) {
		d->skip = 1;
		d->skip_why = "ignore_hosts";
	} else if (x->ignore_auth && c->auth_authen[0]) {
		d->skip = 1;
		d->skip_why = "authenticated client";
	}
	if (d->skip) {
		verdict_logf(v, "dmarc", "skipped");
		verdict_log_quoted(v, "why", d->skip_why);
		v->disp = VERDICT_ACCEPT;
		return;
	}
	find_from(c, d);
	if (d->from_st == MAILADDR_OK &&
	    milter_cfg_domain_match(&x->ignore_domains, d->from.domain)) {
		verdict_logf(v, "dmarc", "skipped");
		verdict_log_peer(v, "header_from", d->from.domain);
		verdict_log_quoted(v, "why", "ignore_domains");
		v->disp = VERDICT_ACCEPT;
		return;
	}
	if (d->from_st != MAILADDR_OK) {
		int refuse = d->from_st == MAILADDR_MULTI ?
		    x->reject_multi_from : x->reject_no_from;

		verdict_logf(v, "dmarc", "permerror");
		verdict_logf(v, "from", "%s",
		    mailaddr_status_name(d->from_st));
		verdict_log_quoted(v, "why", d->from_why);
		if (refuse && !x->test_mode) {
			verdict_set(v, VERDICT_REJECT, 550, "5.7.1",
			    d->from_st == MAILADDR_MULTI ?
			    "message must have exactly one From: address "
			    "(RFC 5322 and DMARC)" :
			    "message must have a From: header with one "
			    "address (RFC 5322 and DMARC)");
			metric_inc(m_actions, "reject");
		}
		/* not refused: eom adds dmarc=permerror */
		return;
	}
	/* results from trusted Authentication-Results, newest first */
	envdom = d->env_from[0] ? domain_of(d->env_from) : c->helo;
	p = xmalloc(sizeof(*p));
	for (size_t i = 0; i < c->nhdrs; i++) {
		if (strcasecmp(c->hdrs[i].name, "Authentication-Results") ||
		    authres_parse(c->hdrs[i].value, c->hdrs[i].vlen, p) < 0 ||
		    !dmarcd_trusted(x, p->authserv_id))
			continue;
		take_authres(d, p, !x->spf_self &&
		    !cfg_bool(x->cfg, "spf_ignore_results"));
	}
	free(p);
	/* an SPF result about another identity than this envelope's is
	 * not this message's */
	if (d->ar_spf_set && strcasecmp(d->ar_spf_domain, envdom) != 0)
		d->ar_spf_set = 0;
	if (x->dkim_self) {
		struct dkim_msg_opts o;
		const char *err;

		memset(&o, 0, sizeof(o));
		o.verify = 1;
		o.max_signatures = (size_t)x->max_signatures;
		o.min_rsa_bits = x->min_key_bits;
		d->dkim = dkim_msg_new(&o);
		for (size_t i = 0; i < c->nhdrs; i++)
			if (dkim_msg_header(d->dkim, c->hdrs[i].name,
			    c->hdrs[i].value, c->hdrs[i].vlen, &err) < 0) {
				log_warn("%s: DKIM: %s: not verified",
				    c->queue_id, err);
				dkim_msg_free(&d->dkim);
				break;
			}
		if (d->dkim)
			dkim_msg_eoh(d->dkim);
	}
}

/* dmarcd_body - a body chunk to the DKIM verifier */
static void dmarcd_body(struct milter_conn *c, void *ctx, const void *p,
    size_t n)
{
	struct dmsg *d = c->msg_data;

	(void)ctx;
	if (d && d->dkim)
		dkim_msg_body(d->dkim, p, n);
}

/* gather - the SPF and DKIM facts for the engine */
static void gather(struct milter_conn *c, const struct dmarcd_ctx *x,
    struct dmsg *d, struct dmarc_auth *a, struct verdict *v)
{
	memset(a, 0, sizeof(*a));
	if (x->spf_self) {
		struct spf_outcome o;
		const char *err;

		memset(&o, 0, sizeof(o));
		a->spf_helo = d->env_from[0] == '\0';
		a->spf_domain = a->spf_helo ? c->helo : domain_of(d->env_from);
		if (!c->has_ip || spf_engine_check(x->spf, c->client_addr,
		    d->env_from, c->helo, &o, &err) < 0)
			a->spf = SPF_NONE;
		else
			a->spf = o.result;
		spf_outcome_clear(&o);
	} else if (d->ar_spf_set) {
		a->spf_domain = d->ar_spf_domain;
		a->spf_helo = d->ar_spf_helo;
		a->spf = d->ar_spf;
	}
	verdict_logf(v, "spf", "%s", a->spf_domain ?
	    spf_result_name(a->spf) : "none");
	if (d->dkim) {
		struct dkim_dns dd = { x->resolver, x->dns_budget_ms };
		const struct dkim_sig_result *r;
		size_t n;

		dkim_msg_verify(d->dkim, dkim_dns_lookup, &dd);
		r = dkim_msg_results(d->dkim, &n);
		for (size_t i = 0; i < n && a->ndkim < DMARC_DKIM_MAX; i++) {
			if (r[i].sig.domain[0] == '\0')
				continue;
			a->dkim[a->ndkim].domain = r[i].sig.domain;
			a->dkim[a->ndkim].selector = r[i].sig.selector;
			a->dkim[a->ndkim++].result = r[i].res;
		}
	} else {
		for (size_t i = 0; i < d->ar_ndkim; i++) {
			a->dkim[a->ndkim].domain = d->ar_dkim[i].domain;
			a->dkim[a->ndkim].selector = d->ar_dkim[i].selector;
			a->dkim[a->ndkim++].result = d->ar_dkim[i].result;
		}
	}
	for (size_t i = 0; i < a->ndkim; i++) {
		verdict_logf(v, "dkim", "%s",
		    dkim_result_name(a->dkim[i].result));
		verdict_log_peer(v, "d", a->dkim[i].domain);
	}
	if (a->ndkim == 0)
		verdict_logf(v, "dkim", "none");
}

/* count - one aggregate-report row for this message */
static void count(struct milter_conn *c, const struct dmarcd_ctx *x,
    const struct dmsg *d, const struct dmarc_eval *ev, const struct dmarc_auth *a,
    enum dmarc_agg_disp disp, const char *reason, const char *comment)
{
	struct dmarc_agg *agg;
	struct dmarc_agg_row *r;
	time_t now = time(NULL);

	/* a report row needs the source address: mail with none (local
	 * submission through non_smtpd_milters) is not reported */
	if (!x->aggregate || !ev->have_record || !c->has_ip ||
	    (agg = agg_get(x)) == NULL)
		return;
	r = xcalloc(1, sizeof(*r));
	snprintf(r->source_ip, sizeof(r->source_ip), "%s", c->client_addr);
	snprintf(r->header_from, sizeof(r->header_from), "%s",
	    ev->from_domain);
	if (d->env_from[0])
		copy_lower(r->envelope_from, sizeof(r->envelope_from),
		    domain_of(d->env_from), strlen(domain_of(d->env_from)));
	r->disposition = disp;
	r->dkim_aligned_pass = ev->dkim_aligned;
	r->spf_aligned_pass = ev->spf_aligned;
	snprintf(r->reason, sizeof(r->reason), "%s", reason ? reason : "");
	snprintf(r->reason_comment, sizeof(r->reason_comment), "%s",
	    comment ? comment : "");
	for (size_t i = 0; i < a->ndkim && r->ndkim < DMARC_AGG_DKIM_MAX;
	    i++) {
		snprintf(r->dkim[r->ndkim].domain, DMARC_AGG_FIELD_MAX, "%s",
		    a->dkim[i].domain);
		snprintf(r->dkim[r->ndkim].selector, DMARC_AGG_FIELD_MAX, "%s",
		    a->dkim[i].selector ? a->dkim[i].selector : "");
		snprintf(r->dkim[r->ndkim].result,
		    sizeof(r->dkim[r->ndkim].result), "%s",
		    dkim_result_name(a->dkim[i].result));
		r->ndkim++;
	}
	if (a->spf_domain) {
		copy_lower(r->spf_domain, sizeof(r->spf_domain),
		    a->spf_domain, strlen(a->spf_domain));
		snprintf(r->spf_scope, sizeof(r->spf_scope), "%s",
		    a->spf_helo ? "helo" : "mfrom");
		snprintf(r->spf_result, sizeof(r->spf_result), "%s",
		    spf_result_name(a->spf));
	} else {
		snprintf(r->spf_scope, sizeof(r->spf_scope), "mfrom");
		snprintf(r->spf_result, sizeof(r->spf_result), "none");
	}
	dmarc_agg_add(agg, now, ev->policy_domain, r);
	dmarc_agg_policy(agg, now, ev->policy_domain, ev->rec.text);
	free(r);
}

/* apply - the disposition, after the local overrides; the aggregate
 * row's disposition and reason */
static enum dmarc_agg_disp apply(struct milter_conn *c,
    const struct dmarcd_ctx *x, const struct dmarc_eval *ev,
    struct verdict *v, const char **reason, const char **comment)
{
	enum dmarc_policy dis = ev->disposition;
	const char *action;
	char text[VERDICT_TEXT_MAX];

	*reason = ev->sampled_out ? (ev->rec.testing ? "policy_test_mode" :
	    "sampled_out") : NULL;
	*comment = NULL;
	if (ev->result != DMARC_FAIL || dis == DMARC_P_NONE) {
		if (ev->result == DMARC_TEMPERROR && x->tempfail_on_temperror) {
			if (x->test_mode) {
				verdict_logf(v, "would", "tempfail");
				verdict_logf(v, "test_mode", "yes");
				metric_inc(m_actions, "test");
				return DMARC_AGG_NONE;
			}
			verdict_set(v, VERDICT_TEMPFAIL, 451, "4.7.5",
			    "DMARC policy lookup failed, try again later");
			metric_inc(m_actions, "tempfail");
		} else {
			metric_inc(m_actions, "accept");
		}
		return DMARC_AGG_NONE;
	}
	if (milter_cfg_domain_match(&x->override_domains, ev->from_domain)) {
		*reason = "local_policy";
		*comment = "override_domains";
		action = "accept";
	} else if (c->has_ip && cidrlist_match(&x->override_hosts, &c->ip)) {
		*reason = "trusted_forwarder";
		*comment = "override_hosts";
		action = "accept";
	} else if (dis == DMARC_P_REJECT && !x->reject_failures) {
		*reason = "local_policy";
		*comment = "reject_failures=no";
		action = "accept";
	} else if (dis == DMARC_P_QUARANTINE &&
	    x->quarantine == DMARCD_Q_NONE) {
		*reason = "local_policy";
		*comment = "quarantine_action=none";
		action = "accept";
	} else {
		action = dis == DMARC_P_REJECT ? "reject" :
		    x->quarantine == DMARCD_Q_HOLD ? "hold" : "header";
	}
	if (x->test_mode && strcmp(action, "accept") != 0) {
		verdict_logf(v, "would", "%s", action);
		verdict_logf(v, "test_mode", "yes");
		metric_inc(m_actions, "test");
		*reason = "local_policy";
		*comment = "test_mode";
		return DMARC_AGG_NONE;
	}
	metric_inc(m_actions, action);
	if (strcmp(action, "accept") == 0) {
		verdict_log_quoted(v, "override", *comment);
		return DMARC_AGG_NONE;
	}
	if (strcmp(action, "reject") == 0) {
		snprintf(text, sizeof(text), "Email from %s rejected: it "
		    "failed DMARC authentication and the domain's policy "
		    "asks for rejection", ev->from_domain);
		verdict_set(v, VERDICT_REJECT, 550, "5.7.1", "%s", text);
		return DMARC_AGG_REJECT;
	}
	if (strcmp(action, "hold") == 0) {
		snprintf(text, sizeof(text), "DMARC: %s failed, p=quarantine",
		    ev->from_domain);
		verdict_set(v, VERDICT_QUARANTINE, 0, NULL, "%s", text);
	} else {
		milter_add_header(c, x->quarantine_header, "yes");
	}
	return DMARC_AGG_QUARANTINE;
}

/* dmarcd_eom - evaluate, decide, report */
static void dmarcd_eom(struct milter_conn *c, void *ctx, struct verdict *v)
{
	struct dmarcd_ctx *x = ctx;
	struct dmsg *d = c->msg_data;
	struct dmarc_auth a;
	struct dmarc_eval *ev;
	enum dmarc_agg_disp disp;
	const char *reason, *comment;
	struct buf ar;

	if (d == NULL || d->skip) {
		v->disp = VERDICT_CONTINUE;
		return;
	}
	buf_init(&ar, AR_VALUE_MAX);
	if (d->from_st != MAILADDR_OK) {
		/* From: not usable and not refused: say so (eoh's log
		 * fields are not kept when the message goes on) */
		verdict_logf(v, "dmarc", "permerror");
		verdict_logf(v, "from", "%s",
		    mailaddr_status_name(d->from_st));
		verdict_log_quoted(v, "why", d->from_why);
		if (x->test_mode && (d->from_st == MAILADDR_MULTI ?
		    x->reject_multi_from : x->reject_no_from))
			verdict_logf(v, "would", "reject");
		if (authres_begin(&ar, x->authserv_id) < 0 ||
		    buf_appends(&ar, "; dmarc=permerror (no single From "
		    "address)") < 0 ||
		    milter_add_header(c, "Authentication-Results", ar.data) <
		    0)
			log_warn("%s: Authentication-Results not added",
			    c->queue_id);
		buf_free(&ar);
		metric_inc(m_results, "permerror");
		return;
	}
	ev = xmalloc(sizeof(*ev));
	gather(c, x, d, &a, v);
	dmarc_evaluate(x->dmarc, d->from.domain, &a, ev);
	verdict_logf(v, "dmarc", "%s", dmarc_result_name(ev->result));
	verdict_log_peer(v, "header_from", ev->from_domain);
	if (ev->have_record) {
		verdict_logf(v, "p", "%s", dmarc_policy_name(ev->policy));
		verdict_logf(v, "dis", "%s",
		    dmarc_policy_name(ev->disposition));
		verdict_log_peer(v, "policy_domain", ev->policy_domain);
	}
	verdict_logf(v, "aligned", "%s%s%s", ev->spf_aligned ? "spf" : "",
	    ev->spf_aligned && ev->dkim_aligned ? "," : "",
	    ev->dkim_aligned ? "dkim" : (ev->spf_aligned ? "" : "none"));
	if (ev->result != DMARC_PASS && ev->why)
		verdict_log_quoted(v, "why", ev->why);
	metric_inc(m_results, dmarc_result_name(ev->result));
	if (authres_begin(&ar, x->authserv_id) < 0 ||
	    dmarc_eval_authres(ev, &ar) < 0 ||
	    milter_add_header(c, "Authentication-Results", ar.data) < 0)
		log_warn("%s: Authentication-Results too large: not added",
		    c->queue_id);
	buf_free(&ar);
	disp = apply(c, x, ev, v, &reason, &comment);
	count(c, x, d, ev, &a, disp, reason, comment);
	send_ruf(c, x, ev, &a, disp, d->env_from, v);
	free(ev);
}

/* dmarcd_msg_free - the message's state */
static void dmarcd_msg_free(struct milter_conn *c, void *ctx)
{
	struct dmsg *d = c->msg_data;

	(void)ctx;
	if (d == NULL)
		return;
	dkim_msg_free(&d->dkim);
	free(d);
	c->msg_data = NULL;
}

/* dmarcd_init - counters, once */
static int dmarcd_init(struct metrics *m, const char **err_r)
{
	(void)err_r;
	m_results = metrics_counter(m, "dmarc_results_total",
	    "evaluated messages by DMARC result", "result");
	m_actions = metrics_counter(m, "dmarc_actions_total",
	    "what was done with evaluated messages", "action");
	return 0;
}

/* ctx_new - the milter core's hook */
static void *ctx_new(const struct cfg *cfg, void *prev, const char **err_r)
{
	return dmarcd_ctx_new(cfg, prev, err_r);
}

/* ctx_free - the milter core's hook */
static void ctx_free(void *ctx)
{
	struct dmarcd_ctx *x = ctx;

	dmarcd_ctx_free(&x);
}

/* authserv_id - forged headers with our id are removed only when no
 * earlier milter's results are read (both validated here) */
static const char *authserv_id(void *ctx)
{
	struct dmarcd_ctx *x = ctx;

	return x->spf_self && x->dkim_self ? x->authserv_id : "";
}

/* skip_body - the body matters only to in-process DKIM */
static int skip_body(void *ctx)
{
	return !((struct dmarcd_ctx *)ctx)->dkim_self;
}

static const char *const restart_keys[] = { DMARCD_RESTART_KEYS, NULL };

static const struct milter_desc dmarcd_desc = {
	.name = "postern-dmarc",
	.defs = dmarcd_defs,
	.check = dmarcd_check,
	.restart_keys = restart_keys,
	.init = dmarcd_init,
	.ctx_new = ctx_new,
	.ctx_free = ctx_free,
	.authserv_id = authserv_id,
	.eoh = dmarcd_eoh,
	.body = dmarcd_body,
	.eom = dmarcd_eom,
	.msg_free = dmarcd_msg_free,
	/* DMARC reads no recipient (HELO: SPF of the null sender) */
	.skip_steps = MILTER_SKIP_RCPT,
	.skip_body = skip_body,
};

int main(int argc, char **argv)
{
	return milter_main(argc, argv, &dmarcd_desc);
}
