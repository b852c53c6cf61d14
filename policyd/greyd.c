/*
 * greyd.c - postern-greyd, the greylisting policy service for Postfix
 *           (check_policy_service), in place of postgrey.
 *
 * A thin adapter over the greylisting engine (common/grey.c), postgrey's
 * whitelist files (common/greywl.c), the store (common/store.h: the
 * embedded LMDB store or Redis), the native SPF engine (spf_async.h) and
 * the DNS resolver (dns.h).  Options keep postgrey's names (delay,
 * max-age, retry-window, auto-whitelist-clients, lookup-by-host,
 * ipv4cidr, ipv6cidr, greylist-text, greylist-action, x-greylist-header,
 * whitelist-clients, whitelist-recipients).  Every decision is one log
 * line in postgrey's form: "action=greylist, reason=new, client_name=...,
 * client_address=..., sender=..., recipient=..." (", spf_domain=D" at the
 * end when the triplet used an SPF-authenticated domain).
 *
 * One request, in order (each step may end it with a pass):
 *   1. the client address must parse ("no valid client address");
 *   2. postgrey's whitelist files ("client whitelist", "recipient
 *      whitelist"), then rdns_whitelist on Postfix's verified client
 *      name ("rdns whitelist"): no DNS is asked for these;
 *   3. in parallel: the DNS whitelists (dnswl; a hit is "dnswl ZONE" and
 *      stops the rest) and, with greylist_by_spf_domain and a non-empty
 *      sender, an SPF check of the MAIL FROM domain.  Postfix's policy
 *      requests carry no SPF result, so the check is ours, on the event
 *      loop: it never stalls other requests, and ends within
 *      spf_time_limit (temperror after);
 *   4. the store decides on the triplet: client network, or the sender's
 *      domain when SPF said pass (grey_keys: "spf:DOMAIN" as the client
 *      part, so a domain's outbound pool counts as one client).
 * A DNS whitelist that times out or fails is no bypass: the request goes
 * on to greylisting, within dns_timeout.
 *
 * Asynchrony: store_grey may answer at once (the embedded store always
 * does) or later from the event loop (Redis).  Each request has a context
 * (struct greq) holding copies of the attributes it needs; one completion
 * function (req_answer) builds the verdict, writes the log line and
 * answers, whichever way the answer came.
 *
 * Trust: policy clients are untrusted (policy_server.h); DNS answers are
 *        hostile (only A records in the DNSWL's filter count); whitelist
 *        files and the config are the admin's; rdns_whitelist regexes run
 *        under PCRE2 match limits (greywl.c).
 * Store failures: store_on_error = accept (default: the mail goes on, a
 *        warning is logged) or tempfail.
 * Threads: one event loop; the store is safe for several processes.
 * Reload (SIGHUP): config, whitelist files, DNS whitelists and the SPF
 *        engine are built again and swapped in; requests in flight keep
 *        the context they started with (refcounted).  The DNS resolver
 *        and its cache are kept unless a dns_* key changed.  The store
 *        stays open unless "store" changed (restart).
 */
#include <event2/event.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "dns.h"
#include "dnscfg.h"
#include "grey.h"
#include "greyd_cfg.h"
#include "greywl.h"
#include "log.h"
#include "lru.h"
#include "metrics.h"
#include "policy_cfg.h"
#include "policy_server.h"
#include "policy_verdict.h"
#include "rbl.h"
#include "spf_async.h"
#include "spfengine.h"
#include "store.h"
#include "xalloc.h"

#define ACTION_MAX (VERDICT_HEADER_MAX + 64)
#define HOSTNAME_MAX 256
#define INSTANCES_MAX 20000
#define INSTANCE_TTL 3600
#define EXPIRE_BATCH 5000
#define EXPIRE_EVERY 60		/* seconds between expiry rounds */
#define ERRBUF_SIZE 512		/* config error messages */
#define REASON_MAX (DNS_NAME_MAX + 16)	/* "dnswl ZONE" */
#define STORE_DESCRIBE_MAX 512	/* the store, as logged */

static const struct cfg_def greyd_defs[] = {
	POLICY_CFG_DEFS("inet:127.0.0.1:10023"),
	DAEMON_CFG_DEFS,
	GREYD_CFG_DEFS
	CFG_END
};

/* config errors name the value: one message at a time (one thread) */
static char errbuf[ERRBUF_SIZE];

/* one DNS whitelist: zone, and the answers that count (postscreen
 * syntax, parsed and matched by rbl.c) */
struct dnswl {
	char *zone;
	struct rbl_filter filter;
};

/* rdns_whitelist: exact names, ".suffixes", and regexes (greywl) */
struct rdnswl {
	char **names;
	size_t n;
	struct greywl *re;
};

struct greyd;

/* what one config builds (the store lives outside: it survives reload);
 * requests in flight hold a reference */
struct greyd_ctx {
	int refs;
	struct greyd *g;
	struct cfg *cfg;	/* to compare DNS settings at reload */
	struct grey_config gc;
	char hostname[HOSTNAME_MAX];
	struct greywl *wl_clients, *wl_rcpts;
	struct rdnswl rdns;
	struct dnswl *dnswl;
	size_t ndnswl;
	int fail_open;
	int by_spf;
	struct spf_engine *spf;	/* owns the resolver (DNS cache), or NULL
				   when no DNS is needed */
	struct dns_client *dc;	/* on the daemon's loop */
	struct greyd_ctx *next_dead;
};

struct greq;

/* one DNS whitelist lookup of a request */
struct wlslot {
	struct greq *q;
	size_t index;
	struct dns_lookup *l;
};

/* one request, from on_request to req_answer */
struct greq {
	struct greyd *g;
	struct greyd_ctx *c;
	struct policy_conn *pc;
	struct greq *prev, *next;
	char *queue_id, *client_name, *client_address, *sender, *recipient,
	    *instance, *helo;
	struct ipaddr ip;
	struct spf_async *spf;		/* SPF check running, or NULL */
	struct wlslot wl[GREYD_DNSWL_MAX];
	size_t wl_pending;
	int in_store;			/* waiting for the store's answer */
	char spf_domain[DNS_NAME_MAX + 1];	/* "" unless SPF passed */
	struct grey_keys keys;		/* the store may read these later */
	struct store_grey_in in;
	struct store_grey_out out;
};

struct greyd {
	struct daemon *d;
	struct event_base *base;
	struct policy_server *ps;
	struct greyd_ctx *ctx;
	struct greyd_ctx *dead;	/* contexts to free from the loop */
	struct event *reaper;
	struct store *store;
	struct lru *instances;	/* messages that got their X-Greylist */
	struct event *tick;
	time_t next_expire;
	int *fds;
	size_t nfds;
	struct greq *reqs;	/* requests in flight */
	size_t inflight;
	struct metric *m_requests, *m_actions;
};

/* load_lists - the whitelist files of a config into w */
static int load_lists(struct greywl *w, const struct cfg *cfg,
    const char *key, const char **err_r)
{
	size_t n;
	const char *const *files = cfg_list(cfg, key, &n);
	struct buf warn;

	buf_init(&warn, 65536);
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(files[i]);

		if (access(files[i], F_OK) < 0) {
			if (len < 6 || strcmp(files[i] + len - 6, ".local"))
				log_warn("%s: %s not found", key, files[i]);
			continue;
		}
		if (greywl_load_file(w, files[i], &warn, err_r) < 0) {
			buf_free(&warn);
			return -1;
		}
	}
	if (warn.len)
		log_warn("%s: %s", key, warn.data);
	buf_free(&warn);
	return 0;
}

/* cfg_error - a config error naming the key and the value */
static const char *cfg_error(const char *key, const char *value,
    const char *why)
{
	snprintf(errbuf, sizeof(errbuf), "%s: \"%.200s\": %s", key, value,
	    why);
	return errbuf;
}

/* dnswl_parse - "ZONE[=FILTER]" (postscreen_dnsbl_sites syntax without
 * weights: FILTER is four octets, each N or [N..M;N;...]) */
static int dnswl_parse(const char *spec, struct dnswl *w,
    const char **err_r)
{
	const char *eq = strchr(spec, '=');
	size_t zlen = eq ? (size_t)(eq - spec) : strlen(spec);

	memset(w, 0, sizeof(*w));
	if (zlen && spec[zlen - 1] == '.')
		zlen--;
	w->zone = xstrndup(spec, zlen);
	for (char *p = w->zone; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	if (zlen == 0 || zlen > DNS_NAME_MAX - IP_REV_MAX ||
	    !dns_name_valid(w->zone)) {
		*err_r = cfg_error("dnswl", spec, "not a DNS zone name");
		return -1;
	}
	if (eq && strchr(eq, '*')) {
		*err_r = cfg_error("dnswl", spec, "weights (*N) are not used "
		    "here: any listed client passes");
		return -1;
	}
	if (rbl_filter_parse(eq ? eq + 1 : NULL, &w->filter) < 0) {
		*err_r = cfg_error("dnswl", spec, "filter is not like "
		    "127.0.[0..255].[1;2..3]");
		return -1;
	}
	return 0;
}

/* dnswl_match - does an A record of the zone count as listed?  Without
 * a filter: any 127.0.0.0/8 address but 127.0.0.255 (dnswl.org's "you
 * query too much" code, which must not whitelist everybody) and
 * 127.255.255.0/24 (list error codes); rbl_filter_match decides */
static int dnswl_match(const struct dnswl *w, const struct ipaddr *a)
{
	return a->family == AF_INET && rbl_filter_match(&w->filter, a->a);
}

/* rdns_free - release the patterns */
static void rdns_free(struct rdnswl *w)
{
	for (size_t i = 0; i < w->n; i++)
		free(w->names[i]);
	XFREE(&w->names);
	w->n = 0;
	greywl_free(&w->re);
}

/* rdns_load - rdns_whitelist patterns: /regex/ (compiled by greywl:
 * caseless, under a match limit), .suffix or an exact name */
static int rdns_load(struct rdnswl *w, const struct cfg *cfg,
    const char **err_r)
{
	size_t n;
	const char *const *v = cfg_list(cfg, "rdns_whitelist", &n);

	if (n > GREYD_RDNS_MAX) {
		snprintf(errbuf, sizeof(errbuf), "rdns_whitelist: more than "
		    "%d patterns", GREYD_RDNS_MAX);
		*err_r = errbuf;
		return -1;
	}
	w->re = greywl_new(GREYWL_CLIENTS);
	for (size_t i = 0; i < n; i++) {
		const char *p = v[i];
		size_t len = strlen(p);

		if (p[0] == '/') {
			struct buf warn;
			size_t before = greywl_count(w->re);
			int bad;

			if (len < 3 || p[len - 1] != '/' || strchr(p, '#')) {
				*err_r = cfg_error("rdns_whitelist", p,
				    "a regex is /.../ with no space, comma or "
				    "'#' in it (write \\s, \\x2c, \\x23)");
				return -1;
			}
			buf_init(&warn, 1024);
			greywl_load_text(w->re, p, len, "rdns_whitelist",
			    &warn);
			bad = warn.len > 0 || greywl_count(w->re) != before + 1;
			while (warn.len && warn.data[warn.len - 1] == '\n')
				buf_truncate(&warn, warn.len - 1);
			if (bad)
				*err_r = cfg_error("rdns_whitelist", p,
				    warn.len ? warn.data : "not a regex");
			buf_free(&warn);
			if (bad)
				return -1;
			continue;
		}
		if (strchr(p, '/') || strchr(p, '@') || len > DNS_NAME_MAX ||
		    (p[0] == '.' && len < 2)) {
			*err_r = cfg_error("rdns_whitelist", p, "neither "
			    "/regex/, .domain.suffix nor a host name");
			return -1;
		}
		w->names = xrealloc(w->names, (w->n + 1) * sizeof(char *));
		w->names[w->n++] = xstrdup(p);
	}
	return 0;
}

/* rdns_match - the verified client name against the patterns; "unknown"
 * (no verified name) and "" never match */
static int rdns_match(const struct rdnswl *w, const char *name)
{
	size_t ln = strlen(name);

	if (ln == 0 || strcasecmp(name, "unknown") == 0)
		return 0;
	for (size_t i = 0; i < w->n; i++) {
		const char *e = w->names[i];
		size_t le = strlen(e);

		if (e[0] == '.' ? ln > le && strcasecmp(name + ln - le, e) == 0
		    : strcasecmp(name, e) == 0)
			return 1;
	}
	return w->re && greywl_match_client(w->re, name, NULL);
}

/* ctx_free - release now (no request holds it) */
static void ctx_free(struct greyd_ctx **cp)
{
	struct greyd_ctx *c = *cp;

	*cp = NULL;
	if (c == NULL)
		return;
	greywl_free(&c->wl_clients);
	greywl_free(&c->wl_rcpts);
	rdns_free(&c->rdns);
	for (size_t i = 0; i < c->ndnswl; i++)
		free(c->dnswl[i].zone);
	free(c->dnswl);
	dns_client_free(&c->dc);
	spf_engine_free(&c->spf);
	cfg_unref(&c->cfg);
	free((char *)c->gc.greylist_text);
	free((char *)c->gc.x_greylist_header);
	free(c);
}

/* ctx_unref - drop a reference; the last one frees from the loop (it may
 * be dropped inside a DNS callback of the context's own client) */
static void ctx_unref(struct greyd_ctx **cp)
{
	struct greyd_ctx *c = *cp;

	*cp = NULL;
	if (c == NULL || --c->refs > 0)
		return;
	if (c->g == NULL) {
		ctx_free(&c);
		return;
	}
	c->next_dead = c->g->dead;
	c->g->dead = c;
	event_active(c->g->reaper, 0, 0);
}

/* reap - free the contexts whose last request ended */
static void reap(evutil_socket_t fd, short what, void *arg)
{
	struct greyd *g = arg;

	(void)fd;
	(void)what;
	while (g->dead) {
		struct greyd_ctx *c = g->dead;

		g->dead = c->next_dead;
		ctx_free(&c);
	}
}

/* ctx_new - engine settings, whitelists, DNS whitelists and the SPF
 * engine of a config.  With g NULL (config check) no DNS client is made;
 * prev (or NULL) lends its resolver when the DNS keys are the same */
static struct greyd_ctx *ctx_new(struct greyd *g, const struct cfg *cfg,
    const struct greyd_ctx *prev, const char **err_r)
{
	struct greyd_ctx *c = xcalloc(1, sizeof(*c));
	const char *h = cfg_str(cfg, "hostname");
	const char *const *wl;
	size_t nwl;

	c->refs = 1;
	c->g = g;
	c->cfg = cfg_ref((struct cfg *)cfg);
	greyd_cfg_grey(cfg, &c->gc);
	c->gc.greylist_text = xstrdup(cfg_str(cfg, "greylist_text"));
	c->gc.x_greylist_header = xstrdup(cfg_str(cfg, "x_greylist_header"));
	c->gc.defer_if_permit = strcmp(cfg_str(cfg, "greylist_action"),
	    "DEFER_IF_PERMIT") == 0;
	if (*h)
		snprintf(c->hostname, sizeof(c->hostname), "%s", h);
	else if (gethostname(c->hostname, sizeof(c->hostname)) < 0)
		snprintf(c->hostname, sizeof(c->hostname), "localhost");
	c->hostname[sizeof(c->hostname) - 1] = '\0';
	c->gc.hostname = c->hostname;
	c->fail_open = strcmp(cfg_str(cfg, "store_on_error"), "accept") == 0;
	c->by_spf = cfg_bool(cfg, "greylist_by_spf_domain");
	c->wl_clients = greywl_new(GREYWL_CLIENTS);
	c->wl_rcpts = greywl_new(GREYWL_RECIPIENTS);
	if (load_lists(c->wl_clients, cfg, "whitelist_clients", err_r) < 0 ||
	    load_lists(c->wl_rcpts, cfg, "whitelist_recipients", err_r) < 0 ||
	    rdns_load(&c->rdns, cfg, err_r) < 0)
		goto bad;
	wl = cfg_list(cfg, "dnswl", &nwl);
	if (nwl > GREYD_DNSWL_MAX) {
		snprintf(errbuf, sizeof(errbuf), "dnswl: more than %d lists",
		    GREYD_DNSWL_MAX);
		*err_r = errbuf;
		goto bad;
	}
	c->dnswl = xcalloc(nwl ? nwl : 1, sizeof(*c->dnswl));
	for (; c->ndnswl < nwl; c->ndnswl++)
		if (dnswl_parse(wl[c->ndnswl], &c->dnswl[c->ndnswl],
		    err_r) < 0) {
			c->ndnswl++;	/* its zone is freed with the rest */
			goto bad;
		}
	if (strcmp(cfg_str(cfg, "spf_engine"), "native") != 0) {
		*err_r = "spf_engine: postern-greyd runs the native engine "
		    "(asynchronous); libspf2 is for postern-spfd";
		goto bad;
	}
	if (c->by_spf || c->ndnswl) {
		struct dns_resolver *keep = prev && prev->spf &&
		    dnscfg_same(prev->cfg, cfg) ?
		    spf_engine_resolver(prev->spf) : NULL;

		c->spf = spf_engine_new_with(cfg, keep, err_r);
		if (c->spf == NULL)
			goto bad;
		if (g && (c->dc = dns_client_new(spf_engine_resolver(c->spf),
		    g->base, err_r)) == NULL)
			goto bad;
	}
	return c;
bad:
	c->g = NULL;
	ctx_free(&c);
	return NULL;
}

/* first_in_message - has this message (instance) had its header? */
static int first_in_message(struct greyd *g, const char *instance,
    time_t now)
{
	if (*instance == '\0')
		return 1;
	if (lru_get(g->instances, instance, now))
		return 0;
	lru_put(g->instances, instance, xstrdup("1"), now + INSTANCE_TTL, 0);
	return 1;
}

/* req_free - cancel what still runs, unlink, release */
static void req_free(struct greq *q)
{
	struct greyd *g = q->g;

	spf_async_cancel(q->spf);
	for (size_t i = 0; i < q->c->ndnswl && i < GREYD_DNSWL_MAX; i++)
		dns_lookup_cancel(q->wl[i].l);
	if (q->prev)
		q->prev->next = q->next;
	else
		g->reqs = q->next;
	if (q->next)
		q->next->prev = q->prev;
	g->inflight--;
	free(q->queue_id);
	free(q->client_name);
	free(q->client_address);
	free(q->sender);
	free(q->recipient);
	free(q->instance);
	free(q->helo);
	ctx_unref(&q->c);
	free(q);
}

/* req_answer - the one completion of every request: reply, log line in
 * postgrey's form, metrics, then free.  reason "store error" with a
 * tempfail is a "defer", any other tempfail a "greylist" */
static void req_answer(struct greq *q, const char *reason,
    const struct verdict *v, long delay)
{
	struct greyd *g = q->g;
	struct buf action;
	const char *aname;
	char qid[LOG_SAN_SIZE], name[LOG_SAN_SIZE], addr[LOG_SAN_SIZE];
	char from[LOG_SAN_SIZE], to[LOG_SAN_SIZE], dom[LOG_SAN_SIZE];
	char delay_s[32] = "";

	buf_init(&action, ACTION_MAX);
	policy_verdict_action(v, &action);
	aname = v->disp == VERDICT_TEMPFAIL && !strcmp(reason, "store error") ?
	    "defer" : v->disp == VERDICT_TEMPFAIL ? "greylist" : "pass";
	metric_inc(g->m_actions, aname);
#define SAN(out, s) log_sanitize(out, s, strlen(s))
	SAN(qid, q->queue_id);
	SAN(name, q->client_name);
	SAN(addr, q->client_address);
	SAN(from, q->sender);
	SAN(to, q->recipient);
	SAN(dom, q->spf_domain);
#undef SAN
	if (delay >= 0)
		snprintf(delay_s, sizeof(delay_s), ", delay=%ld", delay);
	log_info("%s: action=%s, reason=%s%s, client_name=%s, "
	    "client_address=%s, sender=%s, recipient=%s%s%s",
	    *qid ? qid : "NOQUEUE", aname, reason, delay_s, name, addr, from,
	    to, *dom ? ", spf_domain=" : "", dom);
	policy_reply(q->pc, action.data);
	buf_free(&action);
	req_free(q);
}

/* req_pass - answer "no objection" for a reason */
static void req_pass(struct greq *q, const char *reason)
{
	struct verdict v;

	verdict_init(&v);
	req_answer(q, reason, &v, -1);
	verdict_free(&v);
}

/* req_stored - the store's answer (at once or later): the verdict */
static void req_stored(struct greq *q, int rc,
    const struct store_grey_out *out, const char *err)
{
	struct greyd_ctx *c = q->c;
	struct grey_result res;
	struct grey_facts f = { 0 };
	struct verdict v;
	const char *reason;
	long delay = -1;

	q->in_store = 0;
	verdict_init(&v);
	if (rc != 0) {
		log_warn("store error: %s; %s", err ? err : "unknown",
		    c->fail_open ? "accepting (store_on_error = accept)" :
		    "deferring (store_on_error = tempfail)");
		if (!c->fail_open) {
			verdict_set(&v, VERDICT_TEMPFAIL, 451, "4.3.0",
			    "Greylisting temporarily unavailable");
			reason = "store error";
		} else {
			reason = "store error, accepted";
		}
	} else {
		grey_result_of(out, q->in.now, &res);
		f.client_address = q->client_address;
		f.sender = q->sender;
		f.recipient = q->recipient;
		f.auth_domain = *q->spf_domain ? q->spf_domain : NULL;
		delay = res.delayed_pass ? res.waited : -1;
		grey_verdict(&c->gc, &f, &res, res.delayed_pass &&
		    first_in_message(q->g, q->instance, res.now), &v);
		reason = res.reason;
	}
	req_answer(q, reason, &v, delay);
	verdict_free(&v);
}

/* on_store_done - a later answer from the store */
static void on_store_done(void *arg, int rc,
    const struct store_grey_out *out, const char *err)
{
	req_stored(arg, rc, out, err);
}

/* req_store - ask the store about the triplet */
static void req_store(struct greq *q)
{
	struct grey_facts f = { 0 };
	const char *err = NULL;
	int rc;

	f.client_address = q->client_address;
	f.sender = q->sender;
	f.recipient = q->recipient;
	f.auth_domain = *q->spf_domain ? q->spf_domain : NULL;
	if (grey_keys(&q->c->gc, &f, &q->keys) < 0) {
		req_stored(q, -1, NULL, "cannot build the triplet (bad client "
		    "address or an address too long)");
		return;
	}
	grey_store_in(&q->c->gc, &q->keys, time(NULL), &q->in);
	q->in_store = 1;
	rc = store_grey(q->g->store, &q->in, &q->out, on_store_done, q,
	    &err);
	if (rc == 1)
		return;		/* on_store_done follows, exactly once */
	req_stored(q, rc, rc == 0 ? &q->out : NULL, err);
}

/* req_checks_done - greylist once the DNS work has all answered */
static void req_checks_done(struct greq *q)
{
	if (q->spf == NULL && q->wl_pending == 0)
		req_store(q);
}

/* on_spf_done - the SPF check of the sender ended */
static void on_spf_done(void *arg, const struct spf_outcome *o)
{
	struct greq *q = arg;

	q->spf = NULL;		/* spf_async frees itself after this */
	if (o->result == SPF_PASS) {
		const char *at = strrchr(q->sender, '@');
		size_t n = strlen(at + 1);

		/* the domain the check passed (its trailing dot dropped) */
		if (n && at[n] == '.')
			n--;
		if (n && n < sizeof(q->spf_domain) - 1) {
			memcpy(q->spf_domain, at + 1, n);
			q->spf_domain[n] = '\0';
			for (char *p = q->spf_domain; *p; p++)
				*p = (char)tolower((unsigned char)*p);
		}
	}
	{
		char from[LOG_SAN_SIZE];

		log_debug("SPF for %s from %s: %s", log_sanitize(from,
		    q->sender, strlen(q->sender)), q->client_address,
		    spf_result_name(o->result));
	}
	req_checks_done(q);
}

/* on_dnswl_answer - one DNS whitelist answered: a listed client passes,
 * anything else (not listed, timeout, failure) is no bypass */
static void on_dnswl_answer(void *arg, struct dns_answer *a)
{
	struct wlslot *s = arg;
	struct greq *q = s->q;
	const struct dnswl *w = &q->c->dnswl[s->index];

	s->l = NULL;
	q->wl_pending--;
	if (a && a->status == DNS_OK)
		for (size_t i = 0; i < a->n; i++) {
			char reason[REASON_MAX];

			if (a->rr[i].type != DNS_T_A ||
			    !dnswl_match(w, &a->rr[i].addr))
				continue;
			snprintf(reason, sizeof(reason), "dnswl %s", w->zone);
			req_pass(q, reason);	/* cancels the rest */
			return;
		}
	if (a && a->status != DNS_OK && a->status != DNS_NXDOMAIN &&
	    a->status != DNS_NODATA)
		log_info("dnswl %s: %s for %s: no bypass", w->zone,
		    dns_status_name(a->status), q->client_address);
	req_checks_done(q);
}

/* req_start_checks - DNS whitelists and the SPF check, in parallel */
static void req_start_checks(struct greq *q)
{
	struct greyd_ctx *c = q->c;
	const char *at = strrchr(q->sender, '@');

	for (size_t i = 0; i < c->ndnswl; i++) {
		char name[DNS_NAME_MAX + 1];

		if (ip_reverse_name(&q->ip, c->dnswl[i].zone, name,
		    sizeof(name)) < 0)
			continue;
		q->wl[i].q = q;
		q->wl[i].index = i;
		q->wl_pending++;
		q->wl[i].l = dns_client_lookup(c->dc, name, DNS_T_A,
		    on_dnswl_answer, &q->wl[i]);
		if (q->wl[i].l == NULL)
			q->wl_pending--;
	}
	if (c->by_spf && at && at[1]) {
		struct spf_request req;
		const char *err;

		if (spf_engine_request(c->spf, q->client_address, q->sender,
		    q->helo, &req, &err) == 0)
			q->spf = spf_async_start(c->spf, c->dc, q->g->base,
			    &req, on_spf_done, q);
	}
	/* answers come from the loop, never from inside these calls */
	req_checks_done(q);
}

/* on_request - one policy request */
static void on_request(struct policy_conn *pc, const struct policy_req *r,
    void *arg)
{
	struct greyd *g = arg;
	struct greq *q;

	metric_inc(g->m_requests, NULL);
	if (strcmp(policy_req_attr(r, "request"), "smtpd_access_policy") != 0) {
		policy_reply(pc, "DUNNO");
		return;
	}
	q = xcalloc(1, sizeof(*q));
	q->g = g;
	q->c = g->ctx;
	q->c->refs++;
	q->pc = pc;
	q->queue_id = xstrdup(policy_req_attr(r, "queue_id"));
	q->client_name = xstrdup(policy_req_attr(r, "client_name"));
	q->client_address = xstrdup(policy_req_attr(r, "client_address"));
	q->sender = xstrdup(policy_req_attr(r, "sender"));
	q->recipient = xstrdup(policy_req_attr(r, "recipient"));
	q->instance = xstrdup(policy_req_attr(r, "instance"));
	q->helo = xstrdup(policy_req_attr(r, "helo_name"));
	q->next = g->reqs;
	if (g->reqs)
		g->reqs->prev = q;
	g->reqs = q;
	g->inflight++;
	if (ip_parse(q->client_address, &q->ip) < 0) {
		req_pass(q, "no valid client address");
		return;
	}
	ip_unmap(&q->ip);
	if (greywl_match_client(q->c->wl_clients, q->client_name, &q->ip)) {
		req_pass(q, "client whitelist");
		return;
	}
	if (greywl_match_recipient(q->c->wl_rcpts, q->recipient)) {
		req_pass(q, "recipient whitelist");
		return;
	}
	if (rdns_match(&q->c->rdns, q->client_name)) {
		req_pass(q, "rdns whitelist");
		return;
	}
	req_start_checks(q);
}

/* tick - flush the store every second, expire old entries now and then */
static void tick(evutil_socket_t fd, short what, void *arg)
{
	struct greyd *g = arg;
	time_t now = time(NULL);

	(void)fd;
	(void)what;
	store_sync(g->store);
	if (now >= g->next_expire) {
		size_t n = store_expire(g->store, now, g->ctx->gc.max_age,
		    EXPIRE_BATCH);

		if (n)
			log_info("expired %zu old store entries", n);
		g->next_expire = now + (n == EXPIRE_BATCH * 2 ? 1 :
		    EXPIRE_EVERY);
	}
}

/* greyd_check - config problems, before anything starts */
static int greyd_check(const struct cfg *cfg, const char **err_r)
{
	struct greyd_ctx *c;

	if (policy_cfg_check(cfg, err_r) < 0)
		return -1;
	if (cfg_int(cfg, "workers") != 1) {
		*err_r = "workers: postern-greyd runs one event loop (1)";
		return -1;
	}
	if ((c = ctx_new(NULL, cfg, NULL, err_r)) == NULL)
		return -1;
	ctx_free(&c);
	return 0;
}

/* greyd_start - open the store, bind, build */
static int greyd_start(struct daemon *d, const char **err_r)
{
	struct greyd *g = xcalloc(1, sizeof(*g));
	struct cfg *cfg = daemon_cfg(d);
	struct policy_server_config pcfg;
	struct metrics *m = daemon_metrics(d);
	struct timeval sec = { 1, 0 };
	char where[STORE_DESCRIBE_MAX];

	g->d = d;
	g->base = daemon_base(d);
	daemon_set_data(d, g);
	g->reaper = event_new(g->base, -1, 0, reap, g);
	{
		struct store_opts so;

		greyd_cfg_store(cfg, g->base, &so);
		if ((g->store = store_open(cfg_str(cfg, "store"), &so,
		    err_r)) == NULL)
			return -1;
	}
	if ((g->ctx = ctx_new(g, cfg, NULL, err_r)) == NULL)
		return -1;
	g->instances = lru_new(INSTANCES_MAX, 0, free);
	policy_cfg_server(cfg, 1, &pcfg);
	if (policy_listeners_open(&pcfg, &g->fds, err_r) < 0)
		return -1;
	g->nfds = pcfg.nlisten;
	policy_cfg_metrics(&pcfg, m);
	g->ps = policy_server_new(g->base, &pcfg, g->fds, on_request, g,
	    err_r);
	if (g->ps == NULL)
		return -1;
	g->m_requests = metrics_counter(m, "grey_requests_total",
	    "policy requests received", NULL);
	g->m_actions = metrics_counter(m, "grey_actions_total",
	    "decisions by action", "action");
	g->tick = event_new(g->base, -1, EV_PERSIST, tick, g);
	event_add(g->tick, &sec);
	store_describe(g->store, where, sizeof(where));	/* no password */
	log_info("store: %s; delay %us; by SPF domain: %s; %zu DNS "
	    "whitelist%s", where, g->ctx->gc.delay,
	    g->ctx->by_spf ? "yes" : "no", g->ctx->ndnswl,
	    g->ctx->ndnswl == 1 ? "" : "s");
	return 0;
}

/* greyd_reload - new settings, whitelists and DNS work; requests in
 * flight finish on the old context */
static int greyd_reload(struct daemon *d, struct cfg *old, const char **err_r)
{
	struct greyd *g = daemon_data(d);
	struct greyd_ctx *c = ctx_new(g, daemon_cfg(d), g->ctx, err_r);

	(void)old;
	if (c == NULL)
		return -1;
	ctx_unref(&g->ctx);
	g->ctx = c;
	return 0;
}

/* greyd_stop - stop accepting */
static void greyd_stop(struct daemon *d)
{
	struct greyd *g = daemon_data(d);

	policy_server_stop(g->ps);
}

/* greyd_busy - requests in flight (DNS checks or the store pending) */
static size_t greyd_busy(struct daemon *d)
{
	struct greyd *g = daemon_data(d);

	return g->inflight;
}

/* greyd_finish - drop what is still pending, close the store last but
 * one (a late store answer still finds its request), then the rest */
static void greyd_finish(struct daemon *d)
{
	struct greyd *g = daemon_data(d);
	struct greq *q, *next;

	if (g == NULL)
		return;
	if (g->tick)
		event_free(g->tick);
	for (q = g->reqs; q; q = next) {	/* still on DNS: drop */
		next = q->next;
		if (!q->in_store)
			req_free(q);
	}
	store_close(&g->store);
	while (g->reqs)		/* the store never answered them */
		req_free(g->reqs);
	policy_server_free(&g->ps);
	for (size_t i = 0; i < g->nfds; i++)
		close(g->fds[i]);
	free(g->fds);
	if (g->ctx)
		g->ctx->g = NULL;	/* free at once */
	ctx_unref(&g->ctx);
	reap(-1, 0, g);
	if (g->reaper)
		event_free(g->reaper);
	lru_free(&g->instances);
	free(g);
}

static const char *const greyd_restart_keys[] = { POLICY_RESTART_KEYS,
	"store", "store_max_entries", "store_timeout",
	"store_connect_timeout", "store_wait_replicas", "store_prefix", NULL };

static const struct daemon_desc greyd_desc = {
	.name = "postern-greyd",
	.defs = greyd_defs,
	.check = greyd_check,
	.start = greyd_start,
	.reload = greyd_reload,
	.stop = greyd_stop,
	.busy = greyd_busy,
	.finish = greyd_finish,
	.restart_keys = greyd_restart_keys,
};

int main(int argc, char **argv)
{
	return daemon_main(argc, argv, &greyd_desc);
}
