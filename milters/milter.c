/*
 * milter.c - the milter core; see milter.h.
 *
 * Public: milter_main, milter_add_header, milter_cfg, milter_metrics.
 * Trust: see milter.h.  Every string from the MTA is cut to
 *        MILTER_PEER_MAX; headers are bounded by the configured limits;
 *        reply texts are reduced to printable ASCII with '%' doubled
 *        (libmilter's rule; Postfix undoes it).
 * Errors: startup problems are fatal (log_fatal) with the cause named;
 *         per-message problems become the daemon's configured action.
 *
 * libmilter is process-global (one filter per process, callbacks with no
 * user argument), so the core keeps its state in one static struct:
 * the current generation (context + config) under a mutex, and counters.
 */
#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <grp.h>
#include <libmilter/mfapi.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "authres.h"
#include "buf.h"
#include "daemon.h"
#include "listen.h"
#include "log.h"
#include "milter.h"
#include "xalloc.h"

#define SPEC_MAX 400		/* libmilter connection spec */
#define QUEUE_ID_MAX 64
#define TICK_MS 100		/* log flush / signal poll period */
#define SHUTDOWN_POLL_MS 50
#define FD_SCAN_MAX 65536	/* descriptors scanned without /proc */
#define REPLY_MAX 400
#define FOLD_AT 78		/* fold one-line values longer than this */
#define AUTHRES_REMOVE_MAX 256	/* inbound A-R headers we remove */

/* what one config snapshot builds; connections hold references */
struct gen {
	void *ctx;
	struct cfg *cfg;
	int refs;			/* atomic */
	long long max_headers;
	long long max_header_bytes;
	char *authserv_id;		/* "" = remove nothing */
};

struct added {
	char *name;
	char *value;
};

enum edit_kind { EDIT_CHG, EDIT_INS, EDIT_ADDRCPT, EDIT_DELRCPT };

struct edit {
	enum edit_kind kind;
	int index;			/* occurrence, position, NOTIFY=NEVER */
	char *name;			/* header name or recipient */
	char *value;			/* NULL: delete */
};

struct milter_conn_priv {
	struct gen *gen;
	struct edit *edits;
	size_t nedits, edit_bytes;
	struct buf newbody;
	int has_newbody;
	unsigned long pflags;		/* protocol flags we negotiated */
	int leadspc;			/* header values keep their space */
	unsigned long negotiated;	/* SMFIF_* actions agreed */
	int hdr_over;			/* a header limit was crossed */
	int in_msg;
	struct added added[MILTER_ADDED_MAX];
	size_t nadded, added_bytes;
};

static struct {
	const struct milter_desc *desc;
	struct daemon_args args;
	pthread_mutex_t lock;
	struct gen *cur;
	struct metrics *metrics;
	struct metric *m_messages, *m_conns;
	struct event_base *mbase;
	pthread_t mthread, sthread;
	int mthread_on, sthread_on;
	int stopping;			/* atomic */
	size_t conns;			/* atomic: open MTA connections */
	char spec[SPEC_MAX];
} core = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* ------------------------------------------------------- generations */

/* gen_new - a generation over a built context; takes cfg's reference */
static struct gen *gen_new(void *ctx, struct cfg *cfg)
{
	struct gen *g = xcalloc(1, sizeof(*g));
	const char *id = core.desc->authserv_id ?
	    core.desc->authserv_id(ctx) : NULL;

	g->ctx = ctx;
	g->cfg = cfg;
	g->refs = 1;
	g->max_headers = cfg_int(cfg, "max_headers");
	g->max_header_bytes = cfg_int(cfg, "max_header_bytes");
	g->authserv_id = xstrdup(id ? id : "");
	return g;
}

/* gen_unref - drop a reference; free on the last one */
static void gen_unref(struct gen **gp)
{
	struct gen *g = *gp;

	*gp = NULL;
	if (g == NULL || __atomic_sub_fetch(&g->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	core.desc->ctx_free(g->ctx);
	cfg_unref(&g->cfg);
	free(g->authserv_id);
	free(g);
}

/* gen_current - a reference to the current generation */
static struct gen *gen_current(void)
{
	struct gen *g;

	pthread_mutex_lock(&core.lock);
	g = core.cur;
	__atomic_add_fetch(&g->refs, 1, __ATOMIC_ACQ_REL);
	pthread_mutex_unlock(&core.lock);
	return g;
}

/* ------------------------------------------------------ peer strings */

/* peer_dup - a peer string cut to MILTER_PEER_MAX; "" for NULL */
static char *peer_dup(const char *s)
{
	if (s == NULL)
		return xstrdup("");
	return xstrndup(s, strnlen(s, MILTER_PEER_MAX));
}

/* set_peer - replace *dst with a copy of s */
static void set_peer(char **dst, const char *s)
{
	free(*dst);
	*dst = peer_dup(s);
}

/* set_macro - *dst = macro value, when the MTA sent it this time */
static void set_macro(SMFICTX *ctx, char **dst, const char *name)
{
	const char *v = smfi_getsymval(ctx, (char *)name);

	if (v != NULL)
		set_peer(dst, v);
}

/* set_queue_id - from macro i: sanitized, bounded */
static void set_queue_id(SMFICTX *ctx, struct milter_conn *c)
{
	const char *v = smfi_getsymval(ctx, (char *)"i");
	char san[LOG_SAN_SIZE];

	if (v == NULL || *v == '\0')
		return;
	log_sanitize(san, v, strnlen(v, QUEUE_ID_MAX));
	san[QUEUE_ID_MAX] = '\0';
	free(c->queue_id);
	c->queue_id = xstrdup(san);
}

/* reply_text - printable ASCII only, '%' doubled (sendmail's format rule,
 * which Postfix undoes), bounded */
static void reply_text(const char *in, struct buf *out)
{
	buf_reset(out);
	for (; in && *in; in++) {
		unsigned char ch = (unsigned char)*in;

		if (ch < 0x20 || ch >= 0x7f)
			ch = '?';
		if (ch == '%' && buf_appendc(out, '%') < 0)
			break;
		if (buf_appendc(out, ch) < 0)
			break;
	}
}

/* ------------------------------------------------------- connections */

/* noreply - what a step answers when it has nothing to say: no reply at
 * all when we negotiated that for the step (one round trip less) */
static sfsistat noreply(const struct milter_conn *c, unsigned long nr_bit)
{
	return (c->priv->pflags & nr_bit) ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

/* added_clear - forget headers queued for this message */
static void added_clear(struct milter_conn_priv *p)
{
	for (size_t i = 0; i < p->nadded; i++) {
		free(p->added[i].name);
		free(p->added[i].value);
	}
	p->nadded = 0;
	p->added_bytes = 0;
}

/* edits_clear - forget the edits queued for this message */
static void edits_clear(struct milter_conn_priv *p)
{
	for (size_t i = 0; i < p->nedits; i++) {
		free(p->edits[i].name);
		free(p->edits[i].value);
	}
	XFREE(&p->edits);
	p->nedits = p->edit_bytes = 0;
	if (p->has_newbody)
		buf_free(&p->newbody);
	p->has_newbody = 0;
}

/* msg_reset - free the message's state: after eom, on abort, at close,
 * before a new MAIL FROM */
static void msg_reset(struct milter_conn *c)
{
	struct milter_conn_priv *p = c->priv;

	if (c->msg_data && core.desc->msg_free)
		core.desc->msg_free(c, p->gen->ctx);
	c->msg_data = NULL;
	for (size_t i = 0; i < c->nhdrs; i++) {
		free(c->hdrs[i].name);
		free(c->hdrs[i].value);
	}
	XFREE(&c->hdrs);
	c->nhdrs = 0;
	c->hdr_bytes = 0;
	for (size_t i = 0; i < c->nrcpts; i++)
		free(c->rcpts[i]);
	XFREE(&c->rcpts);
	c->nrcpts = c->nrcpts_seen = 0;
	set_peer(&c->mail_from, "");
	set_peer(&c->auth_authen, "");
	set_peer(&c->auth_type, "");
	set_peer(&c->queue_id, "NOQUEUE");
	added_clear(p);
	edits_clear(p);
	p->hdr_over = 0;
	p->in_msg = 0;
}

/* conn_get - the connection's state, created on first use */
static struct milter_conn *conn_get(SMFICTX *ctx)
{
	struct milter_conn *c = smfi_getpriv(ctx);

	if (c != NULL)
		return c;
	c = xcalloc(1, sizeof(*c));
	c->priv = xcalloc(1, sizeof(*c->priv));
	c->priv->gen = gen_current();
	snprintf(c->client_addr, sizeof(c->client_addr), "unknown");
	c->client_name = xstrdup("");
	c->helo = xstrdup("");
	c->macro_j = xstrdup("");
	c->daemon_name = xstrdup("");
	c->queue_id = xstrdup("NOQUEUE");
	c->mail_from = xstrdup("");
	c->auth_authen = xstrdup("");
	c->auth_type = xstrdup("");
	smfi_setpriv(ctx, c);
	__atomic_add_fetch(&core.conns, 1, __ATOMIC_ACQ_REL);
	metric_inc(core.m_conns, NULL);
	return c;
}

/* conn_free - everything of a connection */
static void conn_free(SMFICTX *ctx, struct milter_conn *c)
{
	msg_reset(c);
	free(c->client_name);
	free(c->helo);
	free(c->macro_j);
	free(c->daemon_name);
	free(c->queue_id);
	free(c->mail_from);
	free(c->auth_authen);
	free(c->auth_type);
	gen_unref(&c->priv->gen);
	free(c->priv);
	free(c);
	smfi_setpriv(ctx, NULL);
	__atomic_sub_fetch(&core.conns, 1, __ATOMIC_ACQ_REL);
}

/* milter_add_header - queue a header for the top of the message */
int milter_add_header(struct milter_conn *c, const char *name,
    const char *value)
{
	struct milter_conn_priv *p = c->priv;
	size_t n = strlen(name) + strlen(value) + 4;

	if (p->nadded == MILTER_ADDED_MAX ||
	    p->added_bytes + n > MILTER_ADDED_BYTES)
		return -1;
	p->added[p->nadded].name = xstrdup(name);
	p->added[p->nadded].value = xstrdup(value);
	p->nadded++;
	p->added_bytes += n;
	return 0;
}

/* edit_add - queue one edit; -1 over the limits */
static int edit_add(struct milter_conn *c, enum edit_kind kind, int index,
    const char *name, const char *value)
{
	struct milter_conn_priv *p = c->priv;
	size_t n = strlen(name) + (value ? strlen(value) : 0) + 8;

	if (p->nedits == MILTER_EDITS_MAX ||
	    p->edit_bytes + n > MILTER_EDITS_BYTES)
		return -1;
	if ((p->nedits & (p->nedits - 1)) == 0)
		p->edits = xrealloc(p->edits, (p->nedits ? p->nedits * 2 : 1) *
		    sizeof(*p->edits));
	p->edits[p->nedits].kind = kind;
	p->edits[p->nedits].index = index;
	p->edits[p->nedits].name = xstrdup(name);
	p->edits[p->nedits].value = value ? xstrdup(value) : NULL;
	p->nedits++;
	p->edit_bytes += n;
	return 0;
}

/* milter_chg_header - change or remove a field at end of message */
int milter_chg_header(struct milter_conn *c, const char *name,
    int occurrence, const char *value)
{
	return occurrence < 1 ? -1 :
	    edit_add(c, EDIT_CHG, occurrence, name, value);
}

/* milter_ins_header - insert a field at end of message */
int milter_ins_header(struct milter_conn *c, int index, const char *name,
    const char *value)
{
	return index < 0 || value == NULL ? -1 :
	    edit_add(c, EDIT_INS, index, name, value);
}

/* milter_add_rcpt - add a recipient at end of message */
int milter_add_rcpt(struct milter_conn *c, const char *rcpt,
    int notify_never)
{
	if (!(core.desc->actions & MILTER_ACT_RCPT))
		return -1;
	return edit_add(c, EDIT_ADDRCPT, notify_never, rcpt, NULL);
}

/* milter_del_rcpt - remove a recipient at end of message */
int milter_del_rcpt(struct milter_conn *c, const char *rcpt)
{
	if (!(core.desc->actions & MILTER_ACT_RCPT))
		return -1;
	return edit_add(c, EDIT_DELRCPT, 0, rcpt, NULL);
}

/* milter_replace_body - the new body, sent at end of message */
int milter_replace_body(struct milter_conn *c, struct buf *body)
{
	struct milter_conn_priv *p = c->priv;

	if (!(core.desc->actions & MILTER_ACT_BODY))
		return -1;
	if (p->has_newbody)
		buf_free(&p->newbody);
	p->newbody = *body;
	p->has_newbody = 1;
	buf_init(body, body->max);
	return 0;
}

/* milter_ctx_get - a reference to the current generation's context */
void *milter_ctx_get(void **ref_r)
{
	struct gen *g = gen_current();

	*ref_r = g;
	return g->ctx;
}

/* milter_ctx_put - release milter_ctx_get's reference */
void milter_ctx_put(void **ref_r)
{
	struct gen *g = *ref_r;

	*ref_r = NULL;
	gen_unref(&g);
}

/* milter_bare_sender - the MAIL FROM address without the <> the MTA
 * sends ("<a@b>", "<>" for the null sender) into out, cut to fit */
void milter_bare_sender(const char *s, char *out, size_t outlen)
{
	size_t n = strlen(s);

	if (n >= 2 && s[0] == '<' && s[n - 1] == '>') {
		s++;
		n -= 2;
	}
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, s, n);
	out[n] = '\0';
}

/* milter_cfg - the connection's config snapshot */
const struct cfg *milter_cfg(const struct milter_conn *c)
{
	return c->priv->gen->cfg;
}

/* milter_metrics - the process's metrics */
struct metrics *milter_metrics(void)
{
	return core.metrics;
}

/* ---------------------------------------------------- verdict mapping */

/* fold_value - a header value for smfi_insheader: CRLF and CR become LF
 * (libmilter/Postfix store LF), a one-line value longer than FOLD_AT is
 * folded after each "; " outside quotes and comments.  The space after
 * the colon: a value that starts with white space is raw (the engine's
 * DKIM-Signature, signed with that space; or folded right after the
 * colon), so with SMFIP_HDR_LEADSPC it
 * goes as is and without it loses one space (the MTA adds one); any
 * other value gets one space with SMFIP_HDR_LEADSPC and none without */
static void fold_value(const char *v, int leadspc, struct buf *out)
{
	int multi = strchr(v, '\n') != NULL || strchr(v, '\r') != NULL;
	int fold = !multi && strlen(v) > FOLD_AT;
	int quoted = 0, depth = 0;

	buf_reset(out);
	if (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n') {
		if (!leadspc && *v == ' ')
			v++;
	} else if (leadspc) {
		buf_appendc(out, ' ');
	}
	for (const char *s = v; *s; s++) {
		if (*s == '\r') {
			if (s[1] != '\n')
				buf_appendc(out, '\n');
			continue;
		}
		if (fold) {
			if (*s == '\\' && (quoted || depth) && s[1]) {
				buf_appendc(out, *s++);
			} else if (*s == '"' && !depth) {
				quoted = !quoted;
			} else if (!quoted && *s == '(') {
				depth++;
			} else if (!quoted && *s == ')' && depth) {
				depth--;
			} else if (!quoted && !depth && *s == ';' &&
			    s[1] == ' ') {
				buf_appends(out, ";\n\t");
				s++;
				continue;
			}
		}
		buf_appendc(out, *s);
	}
}

/* set_reply - smfi_setreply from a verdict, with consistent codes */
static void set_reply(SMFICTX *ctx, const struct verdict *v, int temp)
{
	char code[8], ecode[sizeof(v->ecode)];
	struct buf text;
	int c = v->code;

	if (c < 400 || c > 599 || (temp ? c >= 500 : c < 500))
		c = temp ? 451 : 550;
	snprintf(code, sizeof(code), "%d", c);
	if (v->ecode[0] == code[0] && strspn(v->ecode, "0123456789.") ==
	    strlen(v->ecode))
		snprintf(ecode, sizeof(ecode), "%s", v->ecode);
	else
		snprintf(ecode, sizeof(ecode), "%s", temp ? "4.7.1" : "5.7.1");
	buf_init(&text, REPLY_MAX);
	reply_text(v->text && *v->text ? v->text : temp ?
	    "Try again later" : "Message rejected", &text);
	if (smfi_setreply(ctx, code, ecode, text.data) != MI_SUCCESS)
		log_warn("smfi_setreply(%s %s) failed", code, ecode);
	buf_free(&text);
}

/* action_name - the log line's action */
static const char *action_name(enum verdict_disp d)
{
	return d == VERDICT_CONTINUE ? "accept" : verdict_disp_name(d);
}

/* log_decision - the one line per message */
static void log_decision(const struct milter_conn *c, const struct verdict *v)
{
	const char *action = action_name(v->disp);

	log_info("%s:%s action=%s", c->queue_id, v->log.data, action);
	metric_inc(core.m_messages, action);
}

/* finish_early - a verdict that ends the message before eom */
static sfsistat finish_early(SMFICTX *ctx, struct milter_conn *c,
    struct verdict *v)
{
	sfsistat r;

	switch (v->disp) {
	case VERDICT_REJECT:
		set_reply(ctx, v, 0);
		r = SMFIS_REJECT;
		break;
	case VERDICT_TEMPFAIL:
		set_reply(ctx, v, 1);
		r = SMFIS_TEMPFAIL;
		break;
	case VERDICT_DISCARD:
		r = SMFIS_DISCARD;
		break;
	default:
		r = SMFIS_ACCEPT;
		break;
	}
	if (v->log.len || r != SMFIS_ACCEPT)
		log_decision(c, v);
	msg_reset(c);
	return r;
}

/* remove_our_authres - delete inbound Authentication-Results claiming
 * our authserv-id; smfi_chgheader's index counts only headers of that
 * name, from 1; deleting from the last keeps the earlier indexes valid
 * whatever the MTA does with the gap.  Returns how many. */
static size_t remove_our_authres(SMFICTX *ctx, struct milter_conn *c)
{
	const char *id = c->priv->gen->authserv_id;
	int idx[AUTHRES_REMOVE_MAX];
	size_t n = 0, k = 0;

	if (*id == '\0')
		return 0;
	for (size_t i = 0; i < c->nhdrs; i++) {
		if (strcasecmp(c->hdrs[i].name, "Authentication-Results") != 0)
			continue;
		k++;
		if (authres_claims(c->hdrs[i].value, c->hdrs[i].vlen, id) &&
		    n < sizeof(idx) / sizeof(idx[0]))
			idx[n++] = (int)k;
	}
	for (size_t i = n; i-- > 0;)
		if (smfi_chgheader(ctx, (char *)"Authentication-Results",
		    idx[i], NULL) != MI_SUCCESS)
			log_warn("%s: cannot remove Authentication-Results "
			    "#%d", c->queue_id, idx[i]);
	return n;
}

/* insert_header - one header on top of the message */
static int insert_header(SMFICTX *ctx, struct milter_conn *c,
    const char *name, const char *value, struct buf *tmp)
{
	fold_value(value, c->priv->leadspc, tmp);
	if (smfi_insheader(ctx, 0, (char *)name, tmp->data) != MI_SUCCESS) {
		log_warn("%s: smfi_insheader(%s) failed", c->queue_id, name);
		return -1;
	}
	return 0;
}

/* raw_value - an edit's value for the MTA: CRLF and CR become LF; with
 * SMFIP_HDR_LEADSPC it goes as is, without it one leading space is
 * dropped (the MTA puts one back) */
static void raw_value(const char *v, int leadspc, struct buf *out)
{
	buf_reset(out);
	if (!leadspc && *v == ' ')
		v++;
	for (; *v; v++) {
		if (*v == '\r') {
			if (v[1] != '\n')
				buf_appendc(out, '\n');
			continue;
		}
		buf_appendc(out, *v);
	}
}

/* apply_edits - the daemon's queued edits, in order */
static void apply_edits(SMFICTX *ctx, struct milter_conn *c)
{
	struct milter_conn_priv *p = c->priv;
	struct buf tmp;
	int rc = MI_SUCCESS;

	buf_init(&tmp, MILTER_EDITS_BYTES + 16);
	for (size_t i = 0; i < p->nedits; i++) {
		struct edit *e = &p->edits[i];

		switch (e->kind) {
		case EDIT_CHG:
			if (e->value)
				raw_value(e->value, p->leadspc, &tmp);
			rc = smfi_chgheader(ctx, e->name, e->index,
			    e->value ? tmp.data : NULL);
			break;
		case EDIT_INS:
			raw_value(e->value, p->leadspc, &tmp);
			rc = smfi_insheader(ctx, e->index, e->name, tmp.data);
			break;
		case EDIT_ADDRCPT:
			if (e->index && (p->negotiated & SMFIF_ADDRCPT_PAR))
				rc = smfi_addrcpt_par(ctx, e->name,
				    (char *)"NOTIFY=NEVER");
			else
				rc = smfi_addrcpt(ctx, e->name);
			break;
		case EDIT_DELRCPT:
			rc = smfi_delrcpt(ctx, e->name);
			break;
		}
		if (rc != MI_SUCCESS)
			log_warn("%s: edit %d of %s failed", c->queue_id,
			    (int)e->kind, e->name);
	}
	buf_free(&tmp);
	if (p->has_newbody) {
		const unsigned char *d = (const unsigned char *)p->newbody.data;

		if (smfi_replacebody(ctx, (unsigned char *)d,
		    (int)p->newbody.len) != MI_SUCCESS)
			log_warn("%s: replacing the body failed", c->queue_id);
	}
}

/* apply_eom - the verdict of the message into smfi_* calls */
static sfsistat apply_eom(SMFICTX *ctx, struct milter_conn *c,
    struct verdict *v)
{
	struct milter_conn_priv *p = c->priv;
	struct buf tmp;
	size_t removed;

	switch (v->disp) {
	case VERDICT_REJECT:
	case VERDICT_TEMPFAIL:
	case VERDICT_DISCARD:
		return finish_early(ctx, c, v);
	default:
		break;
	}
	removed = remove_our_authres(ctx, c);
	if (removed)
		verdict_logf(v, "authres_removed", "%zu", removed);
	apply_edits(ctx, c);
	/* inserted at index 0 each: last first, so they keep their order:
	 * the daemon's own headers, then the verdict's */
	buf_init(&tmp, MILTER_ADDED_BYTES + VERDICT_HEADER_MAX * 2);
	for (size_t i = v->nprepend; i-- > 0;)
		insert_header(ctx, c, v->prepend[i].name, v->prepend[i].value,
		    &tmp);
	for (size_t i = p->nadded; i-- > 0;)
		insert_header(ctx, c, p->added[i].name, p->added[i].value,
		    &tmp);
	buf_free(&tmp);
	if (v->disp == VERDICT_QUARANTINE) {
		struct buf reason;

		buf_init(&reason, REPLY_MAX);
		reply_text(v->text && *v->text ? v->text : core.desc->name,
		    &reason);
		if (smfi_quarantine(ctx, reason.data) != MI_SUCCESS)
			log_warn("%s: smfi_quarantine failed", c->queue_id);
		buf_free(&reason);
	}
	log_decision(c, v);
	msg_reset(c);
	return SMFIS_CONTINUE;
}

/* --------------------------------------------------------- callbacks */

/* desc_actions - the SMFIF_* flags the daemon's actions need */
static unsigned long desc_actions(void)
{
	unsigned long f = 0;

	if (core.desc->actions & MILTER_ACT_RCPT)
		f |= SMFIF_ADDRCPT | SMFIF_DELRCPT | SMFIF_ADDRCPT_PAR;
	if (core.desc->actions & MILTER_ACT_BODY)
		f |= SMFIF_CHGBODY;
	return f;
}

/* mlfi_negotiate - actions and steps; no replies where we have none to
 * give; header values with their leading space; our macro lists */
static sfsistat mlfi_negotiate(SMFICTX *ctx, unsigned long f0,
    unsigned long f1, unsigned long f2, unsigned long f3,
    unsigned long *pf0, unsigned long *pf1, unsigned long *pf2,
    unsigned long *pf3)
{
	struct milter_conn *c = conn_get(ctx);
	const unsigned long want_nr = SMFIP_NR_CONN | SMFIP_NR_HELO |
	    SMFIP_NR_MAIL | SMFIP_NR_RCPT | SMFIP_NR_HDR | SMFIP_NR_BODY;
	unsigned long skip = 0;

	(void)f2;
	(void)f3;
	*pf0 = f0 & (SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_QUARANTINE |
	    SMFIF_SETSYMLIST | desc_actions());
	c->priv->negotiated = *pf0;
	/*
	 * DATA is neither skipped nor left unanswered, though we do nothing
	 * at DATA: Postfix's smtpd sends the unanswered envelope steps (and
	 * with SMFIP_NODATA the DATA macros) and then hands the connection
	 * to cleanup, whose first header write then waits behind Nagle for
	 * our delayed ACK, ~40 ms per message on an inet socket.  The reply
	 * to DATA acknowledges everything smtpd wrote (bench/README.md).
	 */
	if (core.desc->skip_steps & MILTER_SKIP_HELO)
		skip |= SMFIP_NOHELO;
	if (core.desc->skip_steps & MILTER_SKIP_RCPT)
		skip |= SMFIP_NORCPT;
	if (core.desc->skip_body && core.desc->skip_body(c->priv->gen->ctx))
		skip |= SMFIP_NOBODY;
	*pf1 = f1 & (want_nr | SMFIP_HDR_LEADSPC | SMFIP_NOUNKNOWN | skip);
	*pf2 = 0;
	*pf3 = 0;
	c->priv->pflags = *pf1;
	c->priv->leadspc = (*pf1 & SMFIP_HDR_LEADSPC) != 0;
	if (*pf0 & SMFIF_SETSYMLIST) {
		smfi_setsymlist(ctx, SMFIM_CONNECT,
		    (char *)"j {daemon_name} {client_addr}");
		smfi_setsymlist(ctx, SMFIM_ENVFROM,
		    (char *)"i {auth_authen} {auth_type}");
		smfi_setsymlist(ctx, SMFIM_EOH, (char *)"i");
		smfi_setsymlist(ctx, SMFIM_EOM, (char *)"i");
	}
	return SMFIS_CONTINUE;
}

/* mlfi_connect - client address and name; connection macros */
static sfsistat mlfi_connect(SMFICTX *ctx, char *hostname,
    _SOCK_ADDR *hostaddr)
{
	struct milter_conn *c = conn_get(ctx);
	struct sockaddr *sa = (struct sockaddr *)hostaddr;
	char text[IP_STR_MAX];
	const char *addr = NULL;

	set_peer(&c->client_name, hostname);
	set_macro(ctx, &c->macro_j, "j");
	set_macro(ctx, &c->daemon_name, "{daemon_name}");
	if (sa && sa->sa_family == AF_INET)
		addr = inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr,
		    text, sizeof(text));
	else if (sa && sa->sa_family == AF_INET6)
		addr = inet_ntop(AF_INET6,
		    &((struct sockaddr_in6 *)sa)->sin6_addr, text,
		    sizeof(text));
	if (addr == NULL)
		addr = smfi_getsymval(ctx, (char *)"{client_addr}");
	c->has_ip = 0;
	snprintf(c->client_addr, sizeof(c->client_addr), "unknown");
	if (addr && ip_parse(addr, &c->ip) == 0) {
		ip_unmap(&c->ip);
		c->has_ip = 1;
		ip_format(&c->ip, c->client_addr, sizeof(c->client_addr));
	}
	return noreply(c, SMFIP_NR_CONN);
}

/* mlfi_helo - the HELO/EHLO name */
static sfsistat mlfi_helo(SMFICTX *ctx, char *helo)
{
	struct milter_conn *c = conn_get(ctx);

	set_peer(&c->helo, helo);
	return noreply(c, SMFIP_NR_HELO);
}

/* mlfi_envfrom - a new message: fresh state, newest config */
static sfsistat mlfi_envfrom(SMFICTX *ctx, char **argv)
{
	struct milter_conn *c = conn_get(ctx);
	struct milter_conn_priv *p = c->priv;

	msg_reset(c);
	if (p->gen != __atomic_load_n(&core.cur, __ATOMIC_ACQUIRE)) {
		/* a reload happened: this message gets the new config */
		struct gen *g = gen_current();

		gen_unref(&p->gen);
		p->gen = g;
	}
	p->in_msg = 1;
	set_peer(&c->mail_from, argv ? argv[0] : NULL);
	set_queue_id(ctx, c);
	set_macro(ctx, &c->auth_authen, "{auth_authen}");
	set_macro(ctx, &c->auth_type, "{auth_type}");
	return noreply(c, SMFIP_NR_MAIL);
}

/* mlfi_envrcpt - recipients, the first MILTER_RCPTS_MAX kept */
static sfsistat mlfi_envrcpt(SMFICTX *ctx, char **argv)
{
	struct milter_conn *c = conn_get(ctx);

	c->nrcpts_seen++;
	if (c->nrcpts < MILTER_RCPTS_MAX && argv && argv[0]) {
		c->rcpts = xrealloc(c->rcpts, (c->nrcpts + 1) *
		    sizeof(*c->rcpts));
		c->rcpts[c->nrcpts++] = peer_dup(argv[0]);
	}
	return noreply(c, SMFIP_NR_RCPT);
}

/* mlfi_header - keep one header field, exactly, within the limits */
static sfsistat mlfi_header(SMFICTX *ctx, char *name, char *value)
{
	struct milter_conn *c = conn_get(ctx);
	struct milter_conn_priv *p = c->priv;
	struct buf v;
	size_t nlen = strlen(name);

	if (p->hdr_over)
		return noreply(c, SMFIP_NR_HDR);
	if ((long long)c->nhdrs >= p->gen->max_headers) {
		p->hdr_over = 1;
		return noreply(c, SMFIP_NR_HDR);
	}
	buf_init(&v, (size_t)p->gen->max_header_bytes);
	if (!p->leadspc && buf_appendc(&v, ' ') < 0)
		p->hdr_over = 1;
	for (const char *s = value; !p->hdr_over && *s; s++) {
		if (*s == '\n' && (s == value || s[-1] != '\r') &&
		    buf_appendc(&v, '\r') < 0)
			p->hdr_over = 1;
		else if (buf_appendc(&v, *s) < 0)
			p->hdr_over = 1;
	}
	if (!p->hdr_over && (long long)(c->hdr_bytes + nlen + v.len + 3) >
	    p->gen->max_header_bytes)
		p->hdr_over = 1;
	if (p->hdr_over) {
		buf_free(&v);
		return noreply(c, SMFIP_NR_HDR);
	}
	if ((c->nhdrs & (c->nhdrs - 1)) == 0)	/* 0, 1, 2, 4, 8...: grow */
		c->hdrs = xrealloc(c->hdrs, (c->nhdrs ? c->nhdrs * 2 : 1) *
		    sizeof(*c->hdrs));
	c->hdrs[c->nhdrs].name = xstrndup(name, nlen);
	c->hdrs[c->nhdrs].vlen = v.len;
	c->hdrs[c->nhdrs].value = buf_steal(&v);
	c->nhdrs++;
	c->hdr_bytes += nlen + c->hdrs[c->nhdrs - 1].vlen + 3;
	return noreply(c, SMFIP_NR_HDR);
}

/* mlfi_eoh - the header limits, then the daemon's first look */
static sfsistat mlfi_eoh(SMFICTX *ctx)
{
	struct milter_conn *c = conn_get(ctx);
	struct verdict v;
	sfsistat r;

	set_queue_id(ctx, c);
	verdict_init(&v);
	if (c->priv->hdr_over) {
		verdict_set(&v, VERDICT_REJECT, 552, "5.3.4",
		    "message header too large");
		verdict_logf(&v, "limit", "headers");
		verdict_logf(&v, "max_headers", "%lld",
		    c->priv->gen->max_headers);
		verdict_logf(&v, "max_header_bytes", "%lld",
		    c->priv->gen->max_header_bytes);
		r = finish_early(ctx, c, &v);
	} else {
		core.desc->eoh(c, c->priv->gen->ctx, &v);
		if (v.disp == VERDICT_CONTINUE || v.disp == VERDICT_QUARANTINE)
			r = SMFIS_CONTINUE;
		else
			r = finish_early(ctx, c, &v);
	}
	verdict_free(&v);
	return r;
}

/* mlfi_body - a body chunk, streamed to the daemon */
static sfsistat mlfi_body(SMFICTX *ctx, unsigned char *p, size_t n)
{
	struct milter_conn *c = conn_get(ctx);

	if (c->msg_data && core.desc->body)
		core.desc->body(c, c->priv->gen->ctx, p, n);
	return noreply(c, SMFIP_NR_BODY);
}

/* mlfi_eom - the daemon's verdict, applied */
static sfsistat mlfi_eom(SMFICTX *ctx)
{
	struct milter_conn *c = conn_get(ctx);
	struct verdict v;
	sfsistat r;

	set_queue_id(ctx, c);
	verdict_init(&v);
	core.desc->eom(c, c->priv->gen->ctx, &v);
	r = apply_eom(ctx, c, &v);
	verdict_free(&v);
	return r;
}

/* mlfi_abort - the MTA gave up on the message */
static sfsistat mlfi_abort(SMFICTX *ctx)
{
	struct milter_conn *c = smfi_getpriv(ctx);

	if (c)
		msg_reset(c);
	return SMFIS_CONTINUE;
}

/* mlfi_close - the connection ends: free everything */
static sfsistat mlfi_close(SMFICTX *ctx)
{
	struct milter_conn *c = smfi_getpriv(ctx);

	if (c)
		conn_free(ctx, c);
	return SMFIS_CONTINUE;
}

/* ------------------------------------------------------- the listener */

/* parse_mode - octal permission text */
static int parse_mode(const char *s, mode_t *mode_r)
{
	char *end;
	long m = strtol(s, &end, 8);

	if (*s == '\0' || *end || m < 0 || m > 07777)
		return -1;
	*mode_r = (mode_t)m;
	return 0;
}

/* milter_cfg_check - the core's keys */
static int milter_cfg_check(const struct cfg *cfg, const char **err_r)
{
	static __thread char err[400];
	struct listen_addr la;
	mode_t mode;

	if (listen_parse(cfg_str(cfg, "listen"), &la, err_r) < 0) {
		snprintf(err, sizeof(err), "listen: %s", *err_r);
		*err_r = err;
		return -1;
	}
	if (parse_mode(cfg_str(cfg, "unix_socket_mode"), &mode) < 0) {
		*err_r = "unix_socket_mode: expected an octal mode like 0660";
		return -1;
	}
	if (*cfg_str(cfg, "unix_socket_group") &&
	    getgrnam(cfg_str(cfg, "unix_socket_group")) == NULL) {
		snprintf(err, sizeof(err), "unix_socket_group: no such group "
		    "\"%.100s\"", cfg_str(cfg, "unix_socket_group"));
		*err_r = err;
		return -1;
	}
	return core.desc->check ? core.desc->check(cfg, err_r) : 0;
}

/* same_inet - is sa the address la names? */
static int same_inet(const struct sockaddr_storage *sa,
    const struct listen_addr *la)
{
	if (sa->ss_family != la->ss.ss_family)
		return 0;
	if (sa->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)sa;
		const struct sockaddr_in *b = (const void *)&la->ss;

		return a->sin_port == b->sin_port &&
		    a->sin_addr.s_addr == b->sin_addr.s_addr;
	}
	if (sa->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)sa;
		const struct sockaddr_in6 *b = (const void *)&la->ss;

		return a->sin6_port == b->sin6_port &&
		    memcmp(&a->sin6_addr, &b->sin6_addr, 16) == 0;
	}
	return 0;
}

/* try_nodelay_fd - TCP_NODELAY on fd if it is our listening socket */
static int try_nodelay_fd(int fd, const struct listen_addr *la)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int acc = 0, on = 1, got = 0;
	socklen_t olen = sizeof(acc);

	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &olen) < 0 ||
	    !acc)
		return 0;
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0 ||
	    !same_inet(&ss, la))
		return 0;
	olen = sizeof(got);
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) < 0 ||
	    getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &got, &olen) < 0 ||
	    !got)
		log_fatal("%s: cannot set TCP_NODELAY on the listening socket "
		    "(fd %d): %s", la->desc, fd, strerror(errno));
	log_debug("%s: TCP_NODELAY set on libmilter's listening socket "
	    "(fd %d); accepted connections inherit it", la->desc, fd);
	return 1;
}

/* set_nodelay - find libmilter's listening socket; see milter.h */
static void set_nodelay(const struct listen_addr *la)
{
	DIR *d = opendir("/proc/self/fd");
	int found = 0;

	if (d != NULL) {
		struct dirent *e;
		int self = dirfd(d);

		while ((e = readdir(d)) != NULL) {
			char *end;
			long fd = strtol(e->d_name, &end, 10);

			if (*end || end == e->d_name || fd == self)
				continue;
			found += try_nodelay_fd((int)fd, la);
		}
		closedir(d);
	} else {
		for (int fd = 0; fd < FD_SCAN_MAX; fd++)
			found += try_nodelay_fd(fd, la);
	}
	if (found == 0)
		log_fatal("%s: libmilter's listening socket not found: cannot "
		    "set TCP_NODELAY (each message would stall ~40 ms)",
		    la->desc);
}

/* open_listener - smfi_setconn + smfi_opensocket, then the socket's mode
 * and group (unix) or TCP_NODELAY (inet) */
static void open_listener(const struct cfg *cfg)
{
	const char *err;
	struct listen_addr la;
	mode_t mode = 0660;
	int n;

	if (listen_parse(cfg_str(cfg, "listen"), &la, &err) < 0)
		log_fatal("listen: %s", err);
	if (la.is_unix) {
		struct stat st;
		char dir[sizeof(la.path)];
		char *slash;

		n = snprintf(core.spec, sizeof(core.spec), "unix:%s", la.path);
		snprintf(dir, sizeof(dir), "%s", la.path);
		slash = strrchr(dir, '/');
		if (slash == dir)
			slash[1] = '\0';
		else if (slash)
			*slash = '\0';
		if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
			log_fatal("%s: directory %s does not exist (create it, "
			    "see the systemd unit)", la.desc, dir);
		if (lstat(la.path, &st) == 0 && !S_ISSOCK(st.st_mode))
			log_fatal("%s: exists and is not a socket", la.desc);
	} else {
		char host[IP_STR_MAX];
		unsigned port;

		if (la.ss.ss_family == AF_INET) {
			struct sockaddr_in *sin = (struct sockaddr_in *)&la.ss;

			inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
			port = ntohs(sin->sin_port);
			n = snprintf(core.spec, sizeof(core.spec),
			    "inet:%u@%s", port, host);
		} else {
			struct sockaddr_in6 *s6 =
			    (struct sockaddr_in6 *)&la.ss;

			inet_ntop(AF_INET6, &s6->sin6_addr, host,
			    sizeof(host));
			port = ntohs(s6->sin6_port);
			n = snprintf(core.spec, sizeof(core.spec),
			    "inet6:%u@[%s]", port, host);
		}
	}
	if (n < 0 || (size_t)n >= sizeof(core.spec))
		log_fatal("listen: too long");
	if (smfi_setconn(core.spec) != MI_SUCCESS)
		log_fatal("smfi_setconn(%s) failed", core.spec);
	smfi_setbacklog((int)cfg_int(cfg, "milter_backlog"));
	smfi_settimeout((int)(cfg_int(cfg, "milter_timeout") / 1000));
	errno = 0;
	if (smfi_opensocket(true) != MI_SUCCESS)
		log_fatal("%s: cannot open the milter socket%s%s", la.desc,
		    errno ? ": " : "", errno ? strerror(errno) : "");
	if (la.is_unix) {
		parse_mode(cfg_str(cfg, "unix_socket_mode"), &mode);
		if (*cfg_str(cfg, "unix_socket_group")) {
			struct group *gr = getgrnam(cfg_str(cfg,
			    "unix_socket_group"));

			if (gr == NULL || chown(la.path, (uid_t)-1,
			    gr->gr_gid) < 0)
				log_fatal("%s: chown to group %s: %s", la.desc,
				    cfg_str(cfg, "unix_socket_group"),
				    strerror(errno));
		}
		if (chmod(la.path, mode) < 0)
			log_fatal("%s: chmod: %s", la.desc, strerror(errno));
	} else {
		set_nodelay(&la);
	}
	log_info("listening on %s", la.desc);
}

/* ------------------------------------------------ reload and threads */

/* reload - SIGUSR1: a new snapshot and context, swapped in */
static void reload(void)
{
	const char *err;
	const char *const core_keys[] = { MILTER_RESTART_KEYS, NULL };
	struct cfg *fresh;
	struct gen *g, *old;
	void *ctx;

	fresh = daemon_load_config(&core.args, core.desc->defs,
	    milter_cfg_check, &err);
	if (fresh == NULL) {
		log_error("reload failed, keeping the running config: %s", err);
		return;
	}
	if ((ctx = core.desc->ctx_new(fresh, core.cur->ctx, &err)) == NULL) {
		log_error("reload failed, keeping the running config: %s", err);
		cfg_unref(&fresh);
		return;
	}
	daemon_warn_restart(core_keys, core.cur->cfg, fresh);
	for (const char *const *k = core.desc->restart_keys; k && *k; k++)
		if (!cfg_same(core.cur->cfg, fresh, *k))
			log_warn("%s changed: restart to apply it", *k);
	daemon_apply_log_level(fresh);
	g = gen_new(ctx, fresh);
	pthread_mutex_lock(&core.lock);
	old = core.cur;
	core.cur = g;
	pthread_mutex_unlock(&core.lock);
	gen_unref(&old);
	log_info("configuration reloaded");
}

/* signal_main - SIGUSR1 (reload) and the foreground log flush */
static void *signal_main(void *arg)
{
	sigset_t set;
	struct timespec tick = { 0, TICK_MS * 1000000L };

	(void)arg;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	while (!__atomic_load_n(&core.stopping, __ATOMIC_ACQUIRE)) {
		int sig = sigtimedwait(&set, NULL, &tick);

		if (sig == SIGUSR1)
			reload();
		log_flush();
	}
	return NULL;
}

/* metrics_main - the metrics listener's event loop */
static void *metrics_main(void *arg)
{
	(void)arg;
	event_base_loop(core.mbase, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

/* wait_idle - after smfi_main: let sessions in flight finish */
static void wait_idle(long long timeout_ms)
{
	struct timespec ts = { 0, SHUTDOWN_POLL_MS * 1000000L };
	long long waited = 0;

	while (__atomic_load_n(&core.conns, __ATOMIC_ACQUIRE) > 0 &&
	    waited < timeout_ms) {
		nanosleep(&ts, NULL);
		waited += SHUTDOWN_POLL_MS;
	}
}

/* milter_main - run the milter daemon described by desc */
int milter_main(int argc, char **argv, const struct milter_desc *desc)
{
	struct smfiDesc smfi = {
		.xxfi_name = (char *)desc->name,
		.xxfi_version = SMFI_VERSION,
		.xxfi_flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_QUARANTINE,
		.xxfi_connect = mlfi_connect,
		.xxfi_helo = mlfi_helo,
		.xxfi_envfrom = mlfi_envfrom,
		.xxfi_envrcpt = mlfi_envrcpt,
		.xxfi_header = mlfi_header,
		.xxfi_eoh = mlfi_eoh,
		.xxfi_body = mlfi_body,
		.xxfi_eom = mlfi_eom,
		.xxfi_abort = mlfi_abort,
		.xxfi_close = mlfi_close,
		.xxfi_negotiate = mlfi_negotiate,
	};
	const char *err;
	struct cfg *cfg;
	void *ctx;
	sigset_t set;
	int rc, busy;

	core.desc = desc;
	smfi.xxfi_flags |= desc_actions();
	log_open(desc->name, 1);
	if (daemon_parse_args(argc, argv, desc->name, &core.args) > 0)
		return 0;
	cfg = daemon_load_config(&core.args, desc->defs, milter_cfg_check,
	    &err);
	if (cfg == NULL) {
		fprintf(stderr, "%s: configuration error: %s\n", desc->name,
		    err);
		return 1;
	}
	if (core.args.print) {
		cfg_print(cfg, stdout);
		cfg_unref(&cfg);
		return 0;
	}
	if (core.args.check_only) {
		/* the context too: keys, tables and files are checked */
		if ((ctx = desc->ctx_new(cfg, NULL, &err)) == NULL) {
			fprintf(stderr, "%s: configuration error: %s\n",
			    desc->name, err);
			cfg_unref(&cfg);
			return 1;
		}
		desc->ctx_free(ctx);
		printf("%s: configuration OK\n", desc->name);
		cfg_unref(&cfg);
		return 0;
	}
	log_open(desc->name, core.args.foreground);
	daemon_apply_log_level(cfg);
	daemon_warn_legacy_keys(cfg);
	signal(SIGPIPE, SIG_IGN);
	daemon_raise_nofile();
	evthread_use_pthreads();
	core.metrics = metrics_new("postern");
	core.m_messages = metrics_counter(core.metrics,
	    "milter_messages_total", "messages decided, by action", "action");
	core.m_conns = metrics_counter(core.metrics,
	    "milter_connections_total", "MTA connections", NULL);
	if (desc->init && desc->init(core.metrics, &err) < 0)
		log_fatal("%s", err);
	if ((ctx = desc->ctx_new(cfg, NULL, &err)) == NULL)
		log_fatal("%s", err);
	core.cur = gen_new(ctx, cfg);
	if (smfi_register(smfi) != MI_SUCCESS)
		log_fatal("smfi_register failed");
	open_listener(cfg);
	if (desc->start && desc->start(ctx, cfg, &err) < 0)
		log_fatal("%s", err);
	if (*cfg_str(cfg, "metrics_listen")) {
		if ((core.mbase = event_base_new()) == NULL)
			log_fatal("event_base_new failed");
		if (metrics_serve(core.metrics, core.mbase, cfg_str(cfg,
		    "metrics_listen"), &err) < 0)
			log_fatal("%s", err);
	}
	if (!core.args.foreground) {
		if (daemon(0, 0) < 0)
			log_fatal("daemon: %s", strerror(errno));
		if (core.mbase)
			event_reinit(core.mbase);
		daemon_write_pid_file(cfg);
	}
	daemon_drop_privileges(cfg);
	/* every thread from here on inherits this mask: libmilter's signal
	 * thread sigwaits TERM/INT/HUP, ours USR1 */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (core.args.foreground)
		log_buffer_stderr();
	if (pthread_create(&core.sthread, NULL, signal_main, NULL) != 0)
		log_fatal("cannot start the signal thread");
	core.sthread_on = 1;
	if (core.mbase) {
		if (pthread_create(&core.mthread, NULL, metrics_main, NULL))
			log_fatal("cannot start the metrics thread");
		core.mthread_on = 1;
	}
	if (desc->run)
		desc->run();
	log_info("%s %s started", desc->name, PACKAGE_VERSION);
	rc = smfi_main();
	log_info("stopping: %zu connection(s) open",
	    __atomic_load_n(&core.conns, __ATOMIC_ACQUIRE));
	wait_idle(cfg_int(core.cur->cfg, "shutdown_timeout"));
	busy = __atomic_load_n(&core.conns, __ATOMIC_ACQUIRE) > 0;
	__atomic_store_n(&core.stopping, 1, __ATOMIC_RELEASE);
	if (desc->stop)
		desc->stop();
	pthread_join(core.sthread, NULL);
	if (core.mthread_on) {
		event_base_loopbreak(core.mbase);
		pthread_join(core.mthread, NULL);
	}
	if (busy) {
		/* sessions still running hold the context: leave it */
		log_warn("shutdown: giving up on connections in flight");
	} else {
		gen_unref(&core.cur);
		if (core.mbase)
			event_base_free(core.mbase);
		metrics_free(&core.metrics);
	}
	log_info("%s stopped", desc->name);
	log_flush();
	return rc == MI_SUCCESS ? 0 : 1;
}
