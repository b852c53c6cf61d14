/*
 * dkimd.c - postern-dkim, the DKIM signing and verifying milter, a
 *           drop-in for OpenDKIM's common deployments.
 *
 * A thin adapter: the milter core (milter.c) collects the facts, the
 * DKIM engine (common/dkim.c) signs and verifies, this file decides which
 * of the two a message gets and turns the result into headers, an action
 * and one log line.
 *
 * Which mail is signed: mode has "s", the From: address has a signing
 * domain or a signing_table entry, and the client is internal
 * (internal_hosts and not external_ignore_list) or SASL-authenticated
 * (with sign_authenticated) or came in through a {daemon_name} listed in
 * sign_daemon_names.  A message without exactly one From: header is not
 * signed (logged).  Everything else is verified when mode has "v"
 * (signed mail is not also verified): one Authentication-Results header
 * with a dkim= result per signature, then the On-* action of the outcome.
 *
 * Log lines:
 *   QUEUEID: dkim-sign d=example.com s=rsa,ed a=rsa-sha256,ed25519-sha256
 *       action=accept
 *   QUEUEID: dkim=pass d=example.com s=sel dkim=fail d=... s=...
 *       outcome=good action=accept
 *
 * Signals: SIGUSR1 reloads (keys re-read; a reload that fails keeps the
 *          old ones), SIGTERM stops; SIGHUP also stops (libmilter's).
 * Trust: headers and bodies are hostile peer data handed to the engine;
 *        the From: address is parsed here with bounded buffers.
 * Errors: an engine error gives on_internal_error (default tempfail).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "authres.h"
#include "dkim.h"
#include "dkim_dns.h"
#include "dkimd_cfg.h"
#include "log.h"
#include "mailaddr.h"
#include "milter.h"
#include "xalloc.h"

#define SIG_VALUE_MAX 16384	/* one DKIM-Signature value we make */
#define AR_VALUE_MAX 16384	/* our Authentication-Results value */
#define LIST_MAX 512		/* d=/s=/a= lists in the log line */

struct dmsg {
	struct dkim_msg *m;
	int signing;
	int failed;
	char err[200];
	struct dkimd_signer signers[DKIMD_SIGNERS_MAX];
	size_t nsigners;
	const char *sign_skipped;	/* why a signing client's mail was not */
};

static struct metric *m_results, *m_outcomes, *m_signatures;

/* alg_name - a= of a key */
static const char *alg_name(const struct dkim_key *k)
{
	return dkim_key_alg(k) == DKIM_ALG_ED25519_SHA256 ? "ed25519-sha256" :
	    "rsa-sha256";
}

/* fail_msg - the engine refused something: on_internal_error at eom */
static void fail_msg(struct dmsg *d, const char *what, const char *err)
{
	if (d->failed)
		return;
	d->failed = 1;
	snprintf(d->err, sizeof(d->err), "%s: %s", what, err);
}

/* feed_headers - every header field to the engine, in order */
static void feed_headers(struct milter_conn *c, struct dmsg *d)
{
	const char *err;

	for (size_t i = 0; i < c->nhdrs && !d->failed; i++)
		if (dkim_msg_header(d->m, c->hdrs[i].name, c->hdrs[i].value,
		    c->hdrs[i].vlen, &err) < 0)
			fail_msg(d, "header", err);
}

/* signing_client - does this client's mail get signed? */
static int signing_client(const struct milter_conn *c,
    const struct dkimd_ctx *x)
{
	if (c->has_ip && dkimd_is_internal(x, &c->ip))
		return 1;
	if (*c->auth_authen && dkimd_sign_authenticated(x))
		return 1;
	return dkimd_daemon_signs(x, c->daemon_name);
}

/* find_signers - the signatures for this message, or why none */
static void find_signers(const struct milter_conn *c,
    const struct dkimd_ctx *x, struct dmsg *d)
{
	const struct milter_hdr *from = NULL;
	size_t nfrom = 0;
	struct mailaddr addr;
	const char *why;

	for (size_t i = 0; i < c->nhdrs; i++)
		if (strcasecmp(c->hdrs[i].name, "From") == 0) {
			from = &c->hdrs[i];
			nfrom++;
		}
	if (nfrom != 1) {
		d->sign_skipped = nfrom ? "several From headers" :
		    "no From header";
		return;
	}
	if (mailaddr_from(from->value, from->vlen, &addr, &why) !=
	    MAILADDR_OK) {
		d->sign_skipped = "no single From address";
		return;
	}
	d->nsigners = dkimd_signers(x, addr.addr, d->signers,
	    DKIMD_SIGNERS_MAX);
	if (d->nsigners == 0)
		d->sign_skipped = "no signing domain for From";
}

/* dkimd_eoh - sign, verify, or leave the message alone */
static void dkimd_eoh(struct milter_conn *c, void *ctx, struct verdict *v)
{
	struct dkimd_ctx *x = ctx;
	struct dmsg *d = xcalloc(1, sizeof(*d));
	struct dkim_msg_opts o;
	const char *err;

	c->msg_data = d;
	if (dkimd_can_sign(x) && signing_client(c, x))
		find_signers(c, x, d);
	memset(&o, 0, sizeof(o));
	if (d->nsigners > 0) {
		d->signing = 1;
		d->m = dkim_msg_new(&o);
		feed_headers(c, d);
		for (size_t i = 0; i < d->nsigners && !d->failed; i++) {
			struct dkim_sign_spec spec;

			dkimd_sign_spec(x, &d->signers[i], &spec);
			if (dkim_msg_add_signer(d->m, &spec, &err) < 0)
				fail_msg(d, "signer", err);
		}
		if (!d->failed)
			dkim_msg_eoh(d->m);
		return;
	}
	if (!dkimd_can_verify(x)) {
		/* nothing to do; a signing client's unsigned mail is noted */
		if (d->sign_skipped) {
			buf_appends(&v->log, " dkim-sign");
			verdict_log_quoted(v, "skipped", d->sign_skipped);
		}
		v->disp = VERDICT_ACCEPT;
		return;
	}
	o.verify = 1;
	o.max_signatures = dkimd_max_signatures(x);
	o.min_rsa_bits = dkimd_min_key_bits(x);
	d->m = dkim_msg_new(&o);
	feed_headers(c, d);
	if (!d->failed)
		dkim_msg_eoh(d->m);
}

/* dkimd_body - a body chunk to the engine */
static void dkimd_body(struct milter_conn *c, void *ctx, const void *p,
    size_t n)
{
	struct dmsg *d = c->msg_data;

	(void)ctx;
	if (d && d->m && !d->failed)
		dkim_msg_body(d->m, p, n);
}

/* set_action - an On-* action into the verdict */
static void set_action(struct verdict *v, enum dkimd_action a, int dns,
    const char *what)
{
	switch (a) {
	case DKIMD_ACCEPT:
		v->disp = VERDICT_CONTINUE;
		break;
	case DKIMD_REJECT:
		verdict_set(v, VERDICT_REJECT, 550, "5.7.20", "DKIM: %s", what);
		break;
	case DKIMD_TEMPFAIL:
		verdict_set(v, VERDICT_TEMPFAIL, 451, dns ? "4.4.3" : "4.7.20",
		    "DKIM: %s, try again later", what);
		break;
	case DKIMD_QUARANTINE:
		verdict_set(v, VERDICT_QUARANTINE, 0, NULL, "DKIM: %s", what);
		break;
	}
}

/* internal_error - on_internal_error, logged with the cause */
static void internal_error(const struct dkimd_ctx *x, struct dmsg *d,
    struct verdict *v)
{
	enum dkimd_action a = dkimd_on_internal_error(x);

	buf_appends(&v->log, d->signing ? " dkim-sign" : " dkim");
	verdict_logf(v, "error", "internal");
	verdict_log_quoted(v, "reason", d->err);
	if (a == DKIMD_TEMPFAIL)
		verdict_set(v, VERDICT_TEMPFAIL, 451, "4.3.0",
		    "DKIM: internal error, try again later");
	else if (a == DKIMD_REJECT)
		verdict_set(v, VERDICT_REJECT, 550, "5.3.0",
		    "DKIM: internal error");
	else
		set_action(v, a, 0, "internal error");
}

/* list_add - "a,b" lists for the log line, without repeats */
static void list_add(struct buf *b, const char *s)
{
	const char *p = b->data;
	size_t n = strlen(s);

	while (p && *p) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);

		if (len == n && strncmp(p, s, n) == 0)
			return;
		p = e ? e + 1 : NULL;
	}
	if (b->len)
		buf_appendc(b, ',');
	buf_appends(b, s);
}

/* eom_sign - make the signatures and queue them on top */
static void eom_sign(struct milter_conn *c, const struct dkimd_ctx *x,
    struct dmsg *d, struct verdict *v)
{
	struct buf out[DKIMD_SIGNERS_MAX], ds, ss, as;
	const char *err;

	for (size_t i = 0; i < d->nsigners; i++)
		buf_init(&out[i], SIG_VALUE_MAX);
	if (dkim_msg_sign(d->m, out, d->nsigners, &err) < 0)
		fail_msg(d, "signing", err);
	for (size_t i = 0; i < d->nsigners && !d->failed; i++)
		if (milter_add_header(c, "DKIM-Signature", out[i].data) < 0)
			fail_msg(d, "signing", "signatures too large");
	for (size_t i = 0; i < d->nsigners; i++)
		buf_free(&out[i]);
	if (d->failed) {
		internal_error(x, d, v);
		return;
	}
	buf_init(&ds, LIST_MAX);
	buf_init(&ss, LIST_MAX);
	buf_init(&as, LIST_MAX);
	for (size_t i = 0; i < d->nsigners; i++) {
		list_add(&ds, d->signers[i].domain);
		list_add(&ss, d->signers[i].selector);
		list_add(&as, alg_name(d->signers[i].key));
		metric_inc(m_signatures, alg_name(d->signers[i].key));
	}
	buf_appends(&v->log, " dkim-sign");
	verdict_log_peer(v, "d", ds.data);
	verdict_log_peer(v, "s", ss.data);
	verdict_logf(v, "a", "%s", as.data);
	buf_free(&ds);
	buf_free(&ss);
	buf_free(&as);
	v->disp = VERDICT_CONTINUE;
}

/* eom_verify - check, report, act */
static void eom_verify(struct milter_conn *c, const struct dkimd_ctx *x,
    struct dmsg *d, struct verdict *v)
{
	struct dkim_dns dd = { dkimd_resolver(x), dkimd_dns_budget(x) };
	const struct dkim_sig_result *r;
	enum dkim_outcome out;
	enum dkimd_action a;
	struct buf ar;
	size_t n;

	if (d->failed) {
		internal_error(x, d, v);
		return;
	}
	dkim_msg_verify(d->m, dkim_dns_lookup, &dd);
	r = dkim_msg_results(d->m, &n);
	out = dkim_msg_outcome(d->m);
	for (size_t i = 0; i < n; i++) {
		verdict_logf(v, "dkim", "%s", dkim_result_name(r[i].res));
		if (r[i].sig.domain[0])
			verdict_log_peer(v, "d", r[i].sig.domain);
		if (r[i].sig.selector[0])
			verdict_log_peer(v, "s", r[i].sig.selector);
		if (r[i].res != DKIM_RES_PASS && r[i].reason)
			verdict_log_quoted(v, "reason", r[i].reason);
		metric_inc(m_results, dkim_result_name(r[i].res));
	}
	if (n == 0)
		verdict_logf(v, "dkim", "none");
	verdict_logf(v, "outcome", "%s", dkim_outcome_name(out));
	if (d->sign_skipped)
		verdict_log_quoted(v, "sign_skipped", d->sign_skipped);
	metric_inc(m_outcomes, dkim_outcome_name(out));
	buf_init(&ar, AR_VALUE_MAX);
	if (authres_begin(&ar, dkimd_authserv_id(x)) < 0 ||
	    dkim_msg_authres(d->m, &ar) < 0 ||
	    milter_add_header(c, "Authentication-Results", ar.data) < 0)
		log_warn("%s: Authentication-Results too large: not added",
		    c->queue_id);
	buf_free(&ar);
	a = dkimd_on(x, out);
	set_action(v, a, out == DKIM_OUT_DNSERROR,
	    out == DKIM_OUT_NOSIG ? "no signature" :
	    out == DKIM_OUT_DNSERROR ? "key lookup failed" :
	    out == DKIM_OUT_NOKEY ? "signing key not found" :
	    "no valid signature");
}

/* dkimd_eom - sign or verify at the end of the message */
static void dkimd_eom(struct milter_conn *c, void *ctx, struct verdict *v)
{
	struct dkimd_ctx *x = ctx;
	struct dmsg *d = c->msg_data;

	if (d == NULL || d->m == NULL) {
		v->disp = VERDICT_CONTINUE;
		return;
	}
	if (d->signing)
		eom_sign(c, x, d, v);
	else
		eom_verify(c, x, d, v);
}

/* dkimd_msg_free - the message's engine state */
static void dkimd_msg_free(struct milter_conn *c, void *ctx)
{
	struct dmsg *d = c->msg_data;

	(void)ctx;
	if (d == NULL)
		return;
	dkim_msg_free(&d->m);
	free(d);
	c->msg_data = NULL;
}

/* dkimd_init - counters, once */
static int dkimd_init(struct metrics *m, const char **err_r)
{
	(void)err_r;
	m_results = metrics_counter(m, "dkim_results_total",
	    "verified signatures by result", "result");
	m_outcomes = metrics_counter(m, "dkim_outcomes_total",
	    "verified messages by outcome", "outcome");
	m_signatures = metrics_counter(m, "dkim_signatures_total",
	    "signatures made by algorithm", "alg");
	return 0;
}

/* ctx_new - the milter core's hook */
static void *ctx_new(const struct cfg *cfg, void *prev, const char **err_r)
{
	return dkimd_ctx_new(cfg, prev, err_r);
}

/* ctx_free - the milter core's hook */
static void ctx_free(void *ctx)
{
	struct dkimd_ctx *x = ctx;

	dkimd_ctx_free(&x);
}

/* authserv_id - the milter core's hook */
static const char *authserv_id(void *ctx)
{
	return dkimd_can_verify(ctx) ? dkimd_authserv_id(ctx) : "";
}

static const struct milter_desc dkimd_desc = {
	.name = "postern-dkim",
	.defs = dkimd_defs,
	.check = dkimd_check,
	.init = dkimd_init,
	.ctx_new = ctx_new,
	.ctx_free = ctx_free,
	.authserv_id = authserv_id,
	.eoh = dkimd_eoh,
	.body = dkimd_body,
	.eom = dkimd_eom,
	.msg_free = dkimd_msg_free,
	/* DKIM reads neither the HELO name nor the recipients */
	.skip_steps = MILTER_SKIP_HELO | MILTER_SKIP_RCPT,
};

int main(int argc, char **argv)
{
	return milter_main(argc, argv, &dkimd_desc);
}
