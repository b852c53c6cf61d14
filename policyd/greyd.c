/*
 * greyd.c - postern-greyd, the greylisting policy service for Postfix
 *           (check_policy_service), in place of postgrey.
 *
 * A thin adapter over the greylisting engine (common/grey.c), postgrey's
 * whitelist files (common/greywl.c) and the store (common/store.h; the
 * embedded LMDB store here).  Options keep postgrey's names (delay,
 * max-age, retry-window, auto-whitelist-clients, lookup-by-host,
 * ipv4cidr, ipv6cidr, greylist-text, greylist-action, x-greylist-header,
 * whitelist-clients, whitelist-recipients).  Every decision is one log
 * line in postgrey's form: "action=greylist, reason=new, client_name=...,
 * client_address=..., sender=..., recipient=...".
 *
 * Trust: policy clients are untrusted (policy_server.h); whitelist files
 *        and the config are the admin's.
 * Store failures: store_on_error = accept (default: the mail goes on, a
 *        warning is logged) or tempfail.
 * Threads: one event loop; the store is safe for several processes.
 * Reload (SIGHUP): config and whitelist files are read again and swapped
 *        in; the store stays open unless "store" changed (restart).
 */
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "grey.h"
#include "greyd_cfg.h"
#include "greywl.h"
#include "log.h"
#include "lru.h"
#include "metrics.h"
#include "policy_cfg.h"
#include "policy_server.h"
#include "policy_verdict.h"
#include "store.h"
#include "xalloc.h"

#define ACTION_MAX (VERDICT_HEADER_MAX + 64)
#define HOSTNAME_MAX 256
#define INSTANCES_MAX 20000
#define INSTANCE_TTL 3600
#define EXPIRE_BATCH 5000
#define EXPIRE_EVERY 60		/* seconds between expiry rounds */

static const struct cfg_def greyd_defs[] = {
	POLICY_CFG_DEFS("inet:127.0.0.1:10023"),
	DAEMON_CFG_DEFS,
	GREYD_CFG_DEFS
	CFG_END
};

/* what one config builds (the store lives outside: it survives reload) */
struct greyd_ctx {
	struct grey_config g;
	char hostname[HOSTNAME_MAX];
	struct greywl *wl_clients, *wl_rcpts;
	int fail_open;
};

struct greyd {
	struct daemon *d;
	struct policy_server *ps;
	struct greyd_ctx *ctx;
	struct store *store;
	struct lru *instances;	/* messages that got their X-Greylist */
	struct event *tick;
	time_t next_expire;
	int *fds;
	size_t nfds;
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

/* ctx_free - release */
static void ctx_free(struct greyd_ctx **cp)
{
	struct greyd_ctx *c = *cp;

	*cp = NULL;
	if (c == NULL)
		return;
	greywl_free(&c->wl_clients);
	greywl_free(&c->wl_rcpts);
	free((char *)c->g.greylist_text);
	free((char *)c->g.x_greylist_header);
	free(c);
}


/* ctx_new - engine settings and whitelists of a config */
static struct greyd_ctx *ctx_new(const struct cfg *cfg, const char **err_r)
{
	struct greyd_ctx *c = xcalloc(1, sizeof(*c));
	const char *h = cfg_str(cfg, "hostname");

	c->g.delay = (unsigned)(cfg_int(cfg, "delay") / 1000);
	c->g.max_age = (unsigned)(cfg_int(cfg, "max_age") / 1000);
	c->g.retry_window = (unsigned)(cfg_int(cfg, "retry_window") / 1000);
	c->g.awl_clients = (unsigned)cfg_int(cfg, "auto_whitelist_clients");
	c->g.ipv4_cidr = (unsigned)cfg_int(cfg, "ipv4cidr");
	c->g.ipv6_cidr = (unsigned)cfg_int(cfg, "ipv6cidr");
	c->g.privacy = cfg_bool(cfg, "privacy");
	c->g.lookup_by_host = cfg_bool(cfg, "lookup_by_host") ||
	    !cfg_bool(cfg, "lookup_by_subnet");
	c->g.greylist_text = xstrdup(cfg_str(cfg, "greylist_text"));
	c->g.x_greylist_header = xstrdup(cfg_str(cfg, "x_greylist_header"));
	c->g.defer_if_permit = strcmp(cfg_str(cfg, "greylist_action"),
	    "DEFER_IF_PERMIT") == 0;
	if (*h)
		snprintf(c->hostname, sizeof(c->hostname), "%s", h);
	else if (gethostname(c->hostname, sizeof(c->hostname)) < 0)
		snprintf(c->hostname, sizeof(c->hostname), "localhost");
	c->hostname[sizeof(c->hostname) - 1] = '\0';
	c->g.hostname = c->hostname;
	c->fail_open = strcmp(cfg_str(cfg, "store_on_error"), "accept") == 0;
	c->wl_clients = greywl_new(GREYWL_CLIENTS);
	c->wl_rcpts = greywl_new(GREYWL_RECIPIENTS);
	if (load_lists(c->wl_clients, cfg, "whitelist_clients", err_r) < 0 ||
	    load_lists(c->wl_rcpts, cfg, "whitelist_recipients", err_r) < 0) {
		ctx_free(&c);
		return NULL;
	}
	return c;
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

/* decide - whitelists, then the store; fills v, returns the reason */
static const char *decide(struct greyd *g, struct greyd_ctx *c,
    const struct policy_req *r, struct verdict *v, long *delay_r)
{
	struct grey_facts f = { 0 };
	struct grey_result res;
	struct ipaddr ip;
	const char *err;
	time_t now = time(NULL);

	f.client_address = policy_req_attr(r, "client_address");
	f.sender = policy_req_attr(r, "sender");
	f.recipient = policy_req_attr(r, "recipient");
	if (ip_parse(f.client_address, &ip) < 0)
		return "no valid client address";
	ip_unmap(&ip);
	if (greywl_match_client(c->wl_clients, policy_req_attr(r, "client_name"), &ip))
		return "client whitelist";
	if (greywl_match_recipient(c->wl_rcpts, f.recipient))
		return "recipient whitelist";
	if (grey_decide(&c->g, g->store, &f, now, &res, &err) < 0) {
		log_warn("store error: %s; %s", err, c->fail_open ?
		    "accepting (store_on_error = accept)" :
		    "deferring (store_on_error = tempfail)");
		if (!c->fail_open) {
			verdict_set(v, VERDICT_TEMPFAIL, 451, "4.3.0",
			    "Greylisting temporarily unavailable");
			return "store error";
		}
		return "store error, accepted";
	}
	*delay_r = res.greylisted ? -1 : res.delayed_pass ? res.waited : -1;
	grey_verdict(&c->g, &f, &res, res.delayed_pass &&
	    first_in_message(g, policy_req_attr(r, "instance"), now), v);
	return res.reason;
}

/* on_request - one policy request */
static void on_request(struct policy_conn *pc, const struct policy_req *r,
    void *arg)
{
	struct greyd *g = arg;
	struct verdict v;
	struct buf action;
	const char *reason, *aname;
	char qid[LOG_SAN_SIZE], name[LOG_SAN_SIZE], addr[LOG_SAN_SIZE];
	char from[LOG_SAN_SIZE], to[LOG_SAN_SIZE];
	long delay = -1;

	metric_inc(g->m_requests, NULL);
	if (strcmp(policy_req_attr(r, "request"), "smtpd_access_policy") != 0) {
		policy_reply(pc, "DUNNO");
		return;
	}
	g->inflight++;
	verdict_init(&v);
	reason = decide(g, g->ctx, r, &v, &delay);
	buf_init(&action, ACTION_MAX);
	policy_verdict_action(&v, &action);
	aname = v.disp == VERDICT_TEMPFAIL && !strcmp(reason, "store error") ?
	    "defer" : v.disp == VERDICT_TEMPFAIL ? "greylist" : "pass";
	metric_inc(g->m_actions, aname);
	/* the request is gone once answered: log first */
#define SAN(out, key) log_sanitize(out, policy_req_attr(r, key), \
	    strlen(policy_req_attr(r, key)))
	SAN(qid, "queue_id");
	SAN(name, "client_name");
	SAN(addr, "client_address");
	SAN(from, "sender");
	SAN(to, "recipient");
#undef SAN
	if (delay >= 0)
		log_info("%s: action=%s, reason=%s, delay=%ld, client_name=%s, "
		    "client_address=%s, sender=%s, recipient=%s",
		    *qid ? qid : "NOQUEUE", aname, reason, delay, name, addr,
		    from, to);
	else
		log_info("%s: action=%s, reason=%s, client_name=%s, "
		    "client_address=%s, sender=%s, recipient=%s",
		    *qid ? qid : "NOQUEUE", aname, reason, name, addr, from,
		    to);
	policy_reply(pc, action.data);
	buf_free(&action);
	verdict_free(&v);
	g->inflight--;
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
		size_t n = store_expire(g->store, now, g->ctx->g.max_age,
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
	if ((c = ctx_new(cfg, err_r)) == NULL)
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

	g->d = d;
	daemon_set_data(d, g);
	{
		struct store_opts so = { .base = daemon_base(d),
			.max_entries = (size_t)cfg_int(cfg,
			    "store_max_entries"),
			.timeout_ms = (unsigned)cfg_int(cfg, "store_timeout"),
			.connect_timeout_ms = (unsigned)cfg_int(cfg,
			    "store_connect_timeout"),
			.wait_replicas = (unsigned)cfg_int(cfg,
			    "store_wait_replicas"),
			.prefix = cfg_str(cfg, "store_prefix") };

		if ((g->store = store_open(cfg_str(cfg, "store"), &so,
		    err_r)) == NULL)
			return -1;
	}
	if ((g->ctx = ctx_new(cfg, err_r)) == NULL)
		return -1;
	g->instances = lru_new(INSTANCES_MAX, 0, free);
	policy_cfg_server(cfg, 1, &pcfg);
	if (policy_listeners_open(&pcfg, &g->fds, err_r) < 0)
		return -1;
	g->nfds = pcfg.nlisten;
	policy_cfg_metrics(&pcfg, m);
	g->ps = policy_server_new(daemon_base(d), &pcfg, g->fds, on_request,
	    g, err_r);
	if (g->ps == NULL)
		return -1;
	g->m_requests = metrics_counter(m, "grey_requests_total",
	    "policy requests received", NULL);
	g->m_actions = metrics_counter(m, "grey_actions_total",
	    "decisions by action", "action");
	g->tick = event_new(daemon_base(d), -1, EV_PERSIST, tick, g);
	event_add(g->tick, &sec);
	log_info("store: %s; delay %us", cfg_str(cfg, "store"),
	    g->ctx->g.delay);
	return 0;
}

/* greyd_reload - new settings and whitelists */
static int greyd_reload(struct daemon *d, struct cfg *old, const char **err_r)
{
	struct greyd *g = daemon_data(d);
	struct greyd_ctx *c = ctx_new(daemon_cfg(d), err_r);

	(void)old;
	if (c == NULL)
		return -1;
	/* requests are answered synchronously: nothing holds the old one */
	ctx_free(&g->ctx);
	g->ctx = c;
	return 0;
}

/* greyd_stop - stop accepting */
static void greyd_stop(struct daemon *d)
{
	struct greyd *g = daemon_data(d);

	policy_server_stop(g->ps);
}

/* greyd_busy - requests in flight (answered synchronously: none) */
static size_t greyd_busy(struct daemon *d)
{
	struct greyd *g = daemon_data(d);

	return g->inflight;
}

/* greyd_finish - close the store last */
static void greyd_finish(struct daemon *d)
{
	struct greyd *g = daemon_data(d);

	if (g == NULL)
		return;
	if (g->tick)
		event_free(g->tick);
	policy_server_free(&g->ps);
	for (size_t i = 0; i < g->nfds; i++)
		close(g->fds[i]);
	free(g->fds);
	ctx_free(&g->ctx);
	lru_free(&g->instances);
	store_close(&g->store);
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
