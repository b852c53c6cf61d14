/*
 * spfd.c - postern-spfd, the SPF policy service for Postfix
 *          (check_policy_service), a drop-in for pypolicyd-spf.
 *
 * This is a thin adapter: policy requests (policy_server.c) become
 * spfpolicy facts, SPF checks run on the native engine asynchronously
 * (spf_async.c) or on libspf2 (blocking, see below), and the verdict goes
 * back as one action line.  Every decision is one log line.
 *
 * Trust: policy clients are untrusted (see policy_server.h); the config
 *        is the admin's.
 * Threads: "workers" event-loop threads (default 1; 0 = one per CPU)
 *        accept on
 *        the same listeners; each has its own policy state (per-message
 *        and HELO caches) and DNS client, and all share one SPF engine
 *        and its DNS cache.  Postfix keeps a policy connection per smtpd
 *        process, so a message's requests stay on one worker.
 * Reload (SIGHUP): a new engine is built from the new config, and each
 *        worker swaps in a new policy on its own thread; requests in
 *        flight finish on the old ones.
 * libspf2: when spf_engine = libspf2 its checks run on a small thread
 *        pool (libspf2 has no asynchronous interface), so a slow lookup
 *        never stalls the event loop; results come back to the worker.
 */
#include <event2/event.h>
#include <pthread.h>
#include <unistd.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "daemon.h"
#include "dns.h"
#include "dnscfg.h"
#include "listen.h"
#include "log.h"
#include "metrics.h"
#include "policy_cfg.h"
#include "policy_server.h"
#include "policy_verdict.h"
#include "spf_async.h"
#include "spfengine.h"
#include "spfd_cfg.h"
#include "spfpolicy.h"
#include "workq.h"
#include "xalloc.h"

#define ACTION_MAX (VERDICT_HEADER_MAX + 64)	/* PREPEND + a header */
#define LIBSPF2_THREADS 8	/* concurrent blocking libspf2 checks */


/* the engine of one config, shared by every worker */
struct shared {
	struct spf_engine *engine;
	struct cfg *cfg;		/* the config it was built from */
	int refs;			/* atomic */
};

/* what a config builds for one worker; requests in flight hold it */
struct spfd_ctx {
	struct shared *sh;
	struct spfpolicy *policy;
	struct dns_client *dc;
	int refs;			/* this worker's thread only */
};

struct worker {
	struct spfd *s;
	size_t index;
	pthread_t tid;
	struct event_base *base;	/* own, or the daemon's for worker 0 */
	struct policy_server *ps;
	struct spfd_ctx *ctx;
	struct event *ev_reload, *ev_stop;
	struct shared *next;		/* handed over by a reload */
	pthread_mutex_t lock;
	size_t inflight;		/* atomic */
};

struct spfd {
	struct daemon *d;
	struct shared *sh;		/* the current config's engine */
	struct worker *w;
	size_t nw;
	int *fds;
	size_t nfds;
	struct workq *pool;		/* libspf2 checks (they block) */
	pthread_mutex_t pool_lock;
	struct metric *m_requests, *m_results, *m_actions, *m_latency;
};

struct job {
	struct worker *w;
	struct spfd_ctx *ctx;
	struct policy_conn *pc;
	struct spfpolicy_txn *txn;
	struct timespec start;
	char queue_id[32];	/* sanitized, for the log line */
	struct spf_request l2req;	/* a libspf2 check on the pool */
	struct spf_outcome l2out;
};

static const double latency_bounds[] = { 0.0005, 0.001, 0.002, 0.005, 0.01,
	0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30 };

/* shared_new - the engine of a config; it keeps the DNS resolver (and
 * its cache) of prev when the DNS settings did not change */
static struct shared *shared_new(const struct cfg *cfg,
    const struct shared *prev, const char **err_r)
{
	struct shared *sh = xcalloc(1, sizeof(*sh));
	struct dns_resolver *keep = prev && dnscfg_same(prev->cfg, cfg) ?
	    spf_engine_resolver(prev->engine) : NULL;

	if ((sh->engine = spf_engine_new_with(cfg, keep, err_r)) == NULL) {
		free(sh);
		return NULL;
	}
	sh->cfg = cfg_ref((struct cfg *)cfg);
	sh->refs = 1;
	return sh;
}

/* shared_unref - free on the last reference (any thread) */
static void shared_unref(struct shared **shp)
{
	struct shared *sh = *shp;

	*shp = NULL;
	if (sh == NULL ||
	    __atomic_sub_fetch(&sh->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	spf_engine_free(&sh->engine);
	cfg_unref(&sh->cfg);
	free(sh);
}

/* ctx_new - a worker's policy and DNS client over a shared engine; runs
 * on the worker's thread */
static struct spfd_ctx *ctx_new(struct worker *w, struct shared *sh,
    const char **err_r)
{
	struct spfd_ctx *c = xcalloc(1, sizeof(*c));

	c->refs = 1;
	c->sh = sh;
	__atomic_add_fetch(&sh->refs, 1, __ATOMIC_ACQ_REL);
	(void)w;
	c->policy = spfpolicy_new(sh->cfg, sh->engine, err_r);
	if (c->policy == NULL)
		goto bad;
	c->dc = dns_client_new(spf_engine_resolver(sh->engine), w->base,
	    err_r);
	if (c->dc == NULL)
		goto bad;
	return c;
bad:
	spfpolicy_free(&c->policy);
	shared_unref(&c->sh);
	free(c);
	return NULL;
}

/* ctx_unref - free on the last reference */
static void ctx_unref(struct spfd_ctx **cp)
{
	struct spfd_ctx *c = *cp;

	*cp = NULL;
	if (c == NULL || --c->refs > 0)
		return;
	dns_client_free(&c->dc);
	spfpolicy_free(&c->policy);
	shared_unref(&c->sh);
	free(c);
}

/* elapsed_ms - since t0 */
static double elapsed_ms(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) * 1e3 +
	    (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

/* job_finish - verdict, reply, log line, metrics */
static void job_finish(struct job *j)
{
	struct spfd *s = j->w->s;
	struct verdict v;
	struct buf action;
	const char *aname;
	double ms = elapsed_ms(&j->start);

	verdict_init(&v);
	spfpolicy_txn_verdict(j->txn, &v);
	buf_init(&action, ACTION_MAX);
	policy_verdict_action(&v, &action);
	policy_reply(j->pc, action.data);
	aname = policy_verdict_action_name(&v);
	log_info("%s:%s action=%s ms=%.1f", j->queue_id, v.log.data, aname,
	    ms);
	metric_inc(s->m_results, spfpolicy_txn_result(j->txn));
	metric_inc(s->m_actions, aname);
	metric_observe(s->m_latency, ms / 1000.0);
	buf_free(&action);
	verdict_free(&v);
	spfpolicy_txn_free(&j->txn);
	ctx_unref(&j->ctx);
	__atomic_sub_fetch(&j->w->inflight, 1, __ATOMIC_RELAXED);
	free(j);
}

static void job_advance(struct job *j);

/* spfd_pool - the libspf2 thread pool, started on first use */
static struct workq *spfd_pool(struct spfd *s)
{
	pthread_mutex_lock(&s->pool_lock);
	if (s->pool == NULL)
		s->pool = workq_new(LIBSPF2_THREADS);
	pthread_mutex_unlock(&s->pool_lock);
	return s->pool;
}

/* l2_work - a libspf2 check, on a pool thread */
static void l2_work(void *arg)
{
	struct job *j = arg;

	spf_engine_libspf2_check(j->ctx->sh->engine, &j->l2req, &j->l2out);
}

/* l2_done - back on the worker's loop */
static void l2_done(void *arg)
{
	struct job *j = arg;

	spfpolicy_txn_supply(j->txn, &j->l2out);
	spf_outcome_clear(&j->l2out);
	job_advance(j);
}

/* on_spf_done - a native check finished */
static void on_spf_done(void *arg, const struct spf_outcome *o)
{
	struct job *j = arg;

	spfpolicy_txn_supply(j->txn, o);
	job_advance(j);
}

/* job_advance - run the checks the policy asks for, then answer */
static void job_advance(struct job *j)
{
	struct spf_request req;

	while (spfpolicy_txn_next(j->txn, &req)) {
		/* a given record (HELO_Whitelist) is a native-only feature */
		struct spf_engine *e = j->ctx->sh->engine;

		if (spf_engine_is_native(e) || req.record) {
			spf_async_start(e, j->ctx->dc, j->w->base, &req,
			    on_spf_done, j);
			return;
		}
		/* libspf2 blocks: run it on the pool, continue when done */
		j->l2req = req;
		workq_submit(spfd_pool(j->w->s), j->w->base, l2_work, l2_done,
		    j);
		return;
	}
	job_finish(j);
}

/* on_request - one policy request from Postfix */
static void on_request(struct policy_conn *pc, const struct policy_req *r,
    void *arg)
{
	struct worker *w = arg;
	struct spfd *s = w->s;
	struct spfpolicy_facts f;
	struct job *j;
	const char *kind = policy_req_attr(r, "request");
	char san[LOG_SAN_SIZE];

	metric_inc(s->m_requests, NULL);
	if (strcmp(kind, "smtpd_access_policy") != 0) {
		log_warn("request type \"%s\" from %s is not "
		    "smtpd_access_policy; answering DUNNO", log_sanitize(san,
		    kind, strlen(kind)), policy_conn_peer(pc));
		policy_reply(pc, "DUNNO");
		return;
	}
	memset(&f, 0, sizeof(f));
	f.client_address = policy_req_attr(r, "client_address");
	f.helo = policy_req_attr(r, "helo_name");
	f.sender = policy_req_attr(r, "sender");
	f.recipient = policy_req_attr(r, "recipient");
	f.sasl_username = policy_req_attr(r, "sasl_username");
	f.instance = policy_req_attr(r, "instance");
	f.queue_id = policy_req_attr(r, "queue_id");
	j = xcalloc(1, sizeof(*j));
	j->w = w;
	j->ctx = w->ctx;
	j->ctx->refs++;
	j->pc = pc;
	clock_gettime(CLOCK_MONOTONIC, &j->start);
	log_sanitize(san, f.queue_id, strlen(f.queue_id));
	snprintf(j->queue_id, sizeof(j->queue_id), "%.31s",
	    *san ? san : "NOQUEUE");
	j->txn = spfpolicy_txn_new(j->ctx->policy, &f);
	__atomic_add_fetch(&w->inflight, 1, __ATOMIC_RELAXED);
	job_advance(j);
}

/* spfd_check - everything the start would refuse, without side effects */
static int spfd_check(const struct cfg *cfg, const char **err_r)
{
	struct spf_engine *e;

	if (policy_cfg_check(cfg, err_r) < 0)
		return -1;
	if (spfpolicy_check_config(cfg, err_r) < 0)
		return -1;
	if ((e = spf_engine_new(cfg, err_r)) == NULL)
		return -1;
	spf_engine_free(&e);
	if (strcasecmp(cfg_str(cfg, "Header_Type"), "AR") == 0 &&
	    *cfg_str(cfg, "authserv_id") == '\0')
		log_info("Header_Type = AR without authserv_id: using the "
		    "host name");
	return 0;
}

/* dns_collect - DNS counters for the metrics endpoint */
static void dns_collect(struct buf *out, void *arg)
{
	struct spfd *s = arg;
	struct dns_stats st;
	size_t conns = 0;

	for (size_t i = 0; i < s->nw; i++)
		if (s->w[i].ps)
			conns += policy_server_conns(s->w[i].ps);
	dns_stats_get(spf_engine_resolver(s->sh->engine), &st);
	buf_appendf(out, "# HELP postern_dns_queries_total DNS queries sent\n"
	    "# TYPE postern_dns_queries_total counter\n"
	    "postern_dns_queries_total %llu\n"
	    "# HELP postern_dns_cache_hits_total answers from the cache\n"
	    "# TYPE postern_dns_cache_hits_total counter\n"
	    "postern_dns_cache_hits_total %llu\n"
	    "# HELP postern_dns_cache_entries answers cached\n"
	    "# TYPE postern_dns_cache_entries gauge\n"
	    "postern_dns_cache_entries %llu\n"
	    "# HELP postern_dns_errors_total lookups by failure kind\n"
	    "# TYPE postern_dns_errors_total counter\n"
	    "postern_dns_errors_total{kind=\"nxdomain\"} %llu\n"
	    "postern_dns_errors_total{kind=\"nodata\"} %llu\n"
	    "postern_dns_errors_total{kind=\"servfail\"} %llu\n"
	    "postern_dns_errors_total{kind=\"timeout\"} %llu\n"
	    "postern_dns_errors_total{kind=\"error\"} %llu\n"
	    "# HELP postern_policy_connections open policy connections\n"
	    "# TYPE postern_policy_connections gauge\n"
	    "postern_policy_connections %zu\n",
	    st.queries, st.cache_hits, st.cache_entries, st.nxdomain,
	    st.nodata, st.servfail, st.timeout, st.error, conns);
}

/* worker_reload - on the worker's thread: a new policy over the new
 * engine; requests in flight keep the old one */
static void worker_reload(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct shared *sh;
	struct spfd_ctx *c;
	const char *err;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&w->lock);
	sh = w->next;
	w->next = NULL;
	pthread_mutex_unlock(&w->lock);
	if (sh == NULL)
		return;
	if ((c = ctx_new(w, sh, &err)) == NULL)
		log_error("worker %zu: reload failed, keeping the old "
		    "policy: %s", w->index, err);
	else {
		ctx_unref(&w->ctx);
		w->ctx = c;
	}
	shared_unref(&sh);
}

/* worker_stop - on the worker's thread: stop accepting */
static void worker_stop(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	(void)fd;
	(void)what;
	policy_server_stop(w->ps);
}

/* worker_main - an extra worker's event loop */
static void *worker_main(void *arg)
{
	struct worker *w = arg;

	event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

/* spfd_start - bind, build, register metrics, start the workers */
static int spfd_start(struct daemon *d, const char **err_r)
{
	struct spfd *s = xcalloc(1, sizeof(*s));
	struct cfg *cfg = daemon_cfg(d);
	struct policy_server_config pcfg;
	struct metrics *m = daemon_metrics(d);

	s->d = d;
	daemon_set_data(d, s);
	pthread_mutex_init(&s->pool_lock, NULL);
	s->nw = policy_cfg_workers(cfg);
	policy_cfg_server(cfg, s->nw, &pcfg);
	if ((s->sh = shared_new(cfg, NULL, err_r)) == NULL)
		return -1;
	if (policy_listeners_open(&pcfg, &s->fds, err_r) < 0)
		return -1;
	s->nfds = pcfg.nlisten;
	policy_cfg_metrics(&pcfg, m);
	s->m_requests = metrics_counter(m, "spf_requests_total",
	    "policy requests received", NULL);
	s->m_results = metrics_counter(m, "spf_results_total",
	    "decisions by SPF result", "result");
	s->m_actions = metrics_counter(m, "spf_actions_total",
	    "decisions by policy action", "action");
	s->m_latency = metrics_histogram(m, "spf_request_seconds",
	    "time from request to reply", latency_bounds,
	    sizeof(latency_bounds) / sizeof(latency_bounds[0]));
	metrics_collector(m, dns_collect, s);
	s->w = xcalloc(s->nw, sizeof(*s->w));
	for (size_t i = 0; i < s->nw; i++) {
		struct worker *w = &s->w[i];

		w->s = s;
		w->index = i;
		pthread_mutex_init(&w->lock, NULL);
		w->base = i == 0 ? daemon_base(d) : event_base_new();
		if (w->base == NULL) {
			*err_r = "event_base_new failed";
			return -1;
		}
		if ((w->ctx = ctx_new(w, s->sh, err_r)) == NULL)
			return -1;
		w->ps = policy_server_new(w->base, &pcfg, s->fds, on_request,
		    w, err_r);
		if (w->ps == NULL)
			return -1;
		w->ev_reload = event_new(w->base, -1, 0, worker_reload, w);
		w->ev_stop = event_new(w->base, -1, 0, worker_stop, w);
		if (i > 0 && pthread_create(&w->tid, NULL, worker_main, w)) {
			*err_r = "cannot start a worker thread";
			return -1;
		}
	}
	log_info("SPF engine: %s; %zu worker%s",
	    spf_engine_is_native(s->sh->engine) ? "native (RFC 7208)" :
	    "libspf2", s->nw, s->nw == 1 ? "" : "s");
	return 0;
}

/* spfd_reload - a new engine for every worker; in-flight requests keep
 * theirs */
static int spfd_reload(struct daemon *d, struct cfg *old, const char **err_r)
{
	struct spfd *s = daemon_data(d);
	struct shared *sh;

	(void)old;
	if ((sh = shared_new(daemon_cfg(d), s->sh, err_r)) == NULL)
		return -1;
	for (size_t i = 0; i < s->nw; i++) {
		struct worker *w = &s->w[i];

		__atomic_add_fetch(&sh->refs, 1, __ATOMIC_ACQ_REL);
		pthread_mutex_lock(&w->lock);
		shared_unref(&w->next);		/* an unapplied earlier one */
		w->next = sh;
		pthread_mutex_unlock(&w->lock);
		if (i == 0)
			worker_reload(-1, 0, w);
		else
			event_active(w->ev_reload, 0, 0);
	}
	shared_unref(&s->sh);
	s->sh = sh;
	return 0;
}

/* spfd_stop - every worker stops accepting */
static void spfd_stop(struct daemon *d)
{
	struct spfd *s = daemon_data(d);

	for (size_t i = 0; i < s->nw; i++) {
		if (i == 0)
			worker_stop(-1, 0, &s->w[i]);
		else
			event_active(s->w[i].ev_stop, 0, 0);
	}
}

/* spfd_busy - requests in flight over all workers */
static size_t spfd_busy(struct daemon *d)
{
	struct spfd *s = daemon_data(d);
	size_t n = 0;

	for (size_t i = 0; i < s->nw; i++)
		n += __atomic_load_n(&s->w[i].inflight, __ATOMIC_RELAXED);
	return n;
}

/* spfd_finish - stop the worker threads, release everything */
static void spfd_finish(struct daemon *d)
{
	struct spfd *s = daemon_data(d);

	if (s == NULL)
		return;
	workq_free(&s->pool);	/* running libspf2 checks finish first */
	for (size_t i = 1; i < s->nw; i++) {
		if (s->w[i].tid == 0)
			continue;
		event_base_loopexit(s->w[i].base, NULL);
		pthread_join(s->w[i].tid, NULL);
	}
	for (size_t i = 0; i < s->nw && s->w; i++) {
		struct worker *w = &s->w[i];

		policy_server_free(&w->ps);
		ctx_unref(&w->ctx);
		shared_unref(&w->next);
		if (w->ev_reload)
			event_free(w->ev_reload);
		if (w->ev_stop)
			event_free(w->ev_stop);
		if (i > 0 && w->base)
			event_base_free(w->base);
		pthread_mutex_destroy(&w->lock);
	}
	for (size_t i = 0; i < s->nfds; i++)
		close(s->fds[i]);
	free(s->fds);
	free(s->w);
	shared_unref(&s->sh);
	pthread_mutex_destroy(&s->pool_lock);
	free(s);
}

/* keys read at start only (listeners and their threads) */
static const char *const spfd_restart_keys[] = { POLICY_RESTART_KEYS,
	NULL };

static const struct daemon_desc spfd_desc = {
	.name = "postern-spfd",
	.defs = spfd_defs,
	.restart_keys = spfd_restart_keys,
	.check = spfd_check,
	.start = spfd_start,
	.reload = spfd_reload,
	.stop = spfd_stop,
	.busy = spfd_busy,
	.finish = spfd_finish,
};

int main(int argc, char **argv)
{
	return daemon_main(argc, argv, &spfd_desc);
}
