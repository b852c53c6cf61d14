/*
 * dns.c - resolver, TTL cache and clients; see dns.h.
 *
 * Threads: a dns_resolver (config, cache, counters) is shared; the cache is
 * guarded by a mutex and counters are atomic.  A dns_client belongs to one
 * event loop thread.  dns_resolve_sync takes a c-ares channel from the
 * resolver's pool for the call (one per thread resolving at once; all
 * destroyed with the resolver).
 *
 * Deadlines: c-ares retries with growing per-try timeouts; on top of that
 * every lookup has our own deadline (timeout_ms) after which its waiters
 * get DNS_TIMEOUT, because a lookup that silently hangs would hold a mail
 * transaction hostage.
 */
#include <ares.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <event2/event.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "clock.h"
#include "buf.h"
#include "dns.h"
#include "log.h"
#include "lru.h"
#include "xalloc.h"

#define SERVERS_CSV_MAX 4096
#define EDNS_PAYLOAD 1232

struct dns_resolver {
	struct dns_config cfg;
	char *servers_csv;	/* for ares_set_servers_ports_csv, or NULL */
	pthread_mutex_t lock;		/* guards cache and stats */
	struct lru *cache;		/* "type/name" -> dns_answer */
	struct dns_stats stats;
	ares_channel *idle;		/* channels for dns_resolve_sync */
	int refs;			/* atomic */
	size_t nidle, capidle;
};

/* ---------------------------------------------------------------- names */

/* dns_name_valid - a name we are willing to send: 1..253 bytes, labels of
 * 1..63 printable bytes (space included) without backslash, optional
 * final dot */
int dns_name_valid(const char *name)
{
	size_t len = strlen(name), label = 0;

	if (len && name[len - 1] == '.')
		len--;
	if (len == 0 || len > 253)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c == '.') {
			if (label == 0)
				return 0;
			label = 0;
			continue;
		}
		if (c < 0x20 || c >= 0x7f || c == '\\')
			return 0;
		if (++label > 63)
			return 0;
	}
	return 1;
}

/* cache_key - "type/name" in lower case without final dot; -1 if the
 * name does not fit (such names are never sent anyway) */
static int cache_key(char *out, size_t outlen, const char *name,
    uint16_t type)
{
	size_t len = strlen(name);
	int n;

	if (len && name[len - 1] == '.')
		len--;
	n = snprintf(out, outlen, "%u/%.*s", type, (int)len, name);
	if (n < 0 || (size_t)n >= outlen)
		return -1;
	for (char *p = out; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p + 32);
	return 0;
}

/* ---------------------------------------------------------------- stats */

#define STAT_INC(r, field) \
	__atomic_add_fetch(&(r)->stats.field, 1, __ATOMIC_RELAXED)

/* count_status - account one answer received or synthesized */
static void count_status(struct dns_resolver *r, enum dns_status s)
{
	switch (s) {
	case DNS_OK: break;
	case DNS_NXDOMAIN: STAT_INC(r, nxdomain); break;
	case DNS_NODATA: STAT_INC(r, nodata); break;
	case DNS_SERVFAIL: STAT_INC(r, servfail); break;
	case DNS_TIMEOUT: STAT_INC(r, timeout); break;
	case DNS_ERROR: STAT_INC(r, error); break;
	}
}

/* dns_stats_get - snapshot of the counters */
void dns_stats_get(struct dns_resolver *r, struct dns_stats *s)
{
	pthread_mutex_lock(&r->lock);
	*s = r->stats;
	s->cache_entries = lru_count(r->cache);
	pthread_mutex_unlock(&r->lock);
}

/* ---------------------------------------------------------------- cache */

#define CACHE_KEY_MAX (DNS_NAME_MAX + 8)

/* free_answer - cache value destructor */
static void free_answer(void *v)
{
	struct dns_answer *a = v;

	dns_answer_unref(&a);
}

/* dns_cache_get - a referenced answer from the cache, or NULL */
struct dns_answer *dns_cache_get(struct dns_resolver *r, const char *name,
    uint16_t type)
{
	struct dns_answer *a;
	char key[CACHE_KEY_MAX];

	if (r->cfg.cache_size == 0 ||
	    cache_key(key, sizeof(key), name, type) < 0)
		return NULL;
	pthread_mutex_lock(&r->lock);
	a = lru_get(r->cache, key, clock_sec());
	if (a) {
		dns_answer_ref(a);
		r->stats.cache_hits++;
	}
	pthread_mutex_unlock(&r->lock);
	return a;
}

/* answer_cost - bytes an answer holds, for the cache's memory bound */
static size_t answer_cost(const struct dns_answer *a)
{
	size_t n = sizeof(*a) + a->n * sizeof(a->rr[0]) + 64;

	for (size_t i = 0; i < a->n; i++) {
		n += a->rr[i].txt ? a->rr[i].txt_len + 1 : 0;
		n += a->rr[i].name ? strlen(a->rr[i].name) + 1 : 0;
	}
	return n;
}

/* cache_put - remember an answer for its TTL (failures are not kept) */
static void cache_put(struct dns_resolver *r, const char *name, uint16_t type,
    struct dns_answer *a)
{
	unsigned ttl;
	char key[CACHE_KEY_MAX];

	if (r->cfg.cache_size == 0 ||
	    cache_key(key, sizeof(key), name, type) < 0)
		return;
	switch (a->status) {
	case DNS_OK:
		ttl = a->ttl < r->cfg.cache_max_ttl ? a->ttl :
		    r->cfg.cache_max_ttl;
		break;
	case DNS_NXDOMAIN:
	case DNS_NODATA:
		ttl = a->ttl < r->cfg.cache_neg_ttl ? a->ttl :
		    r->cfg.cache_neg_ttl;
		break;
	default:
		return;
	}
	if (ttl == 0)
		return;
	pthread_mutex_lock(&r->lock);
	lru_put(r->cache, key, dns_answer_ref(a), clock_sec() + (time_t)ttl,
	    answer_cost(a) + strlen(key));
	pthread_mutex_unlock(&r->lock);
}

/* dns_cache_flush - forget everything (SIGHUP, tests) */
void dns_cache_flush(struct dns_resolver *r)
{
	pthread_mutex_lock(&r->lock);
	lru_free(&r->cache);
	r->cache = lru_new(r->cfg.cache_size, r->cfg.cache_bytes, free_answer);
	pthread_mutex_unlock(&r->lock);
}

/* ------------------------------------------------------------- resolver */

/* server_to_csv - "ADDR[:PORT]" / "[ADDR]:PORT" into c-ares csv form */
static int server_to_csv(struct buf *csv, const char *s)
{
	struct ipaddr ip;
	char host[IP_STR_MAX + 1];
	const char *port = NULL;
	size_t n;

	if (*s == '[') {
		const char *e = strchr(s, ']');

		if (e == NULL || (size_t)(e - s - 1) >= sizeof(host))
			return -1;
		n = (size_t)(e - s - 1);
		memcpy(host, s + 1, n);
		host[n] = '\0';
		if (e[1] == ':')
			port = e + 2;
		else if (e[1] != '\0')
			return -1;
	} else {
		const char *c = strchr(s, ':');

		if (c && strchr(c + 1, ':'))
			c = NULL;	/* bare IPv6 address, no port */
		n = c ? (size_t)(c - s) : strlen(s);
		if (n >= sizeof(host))
			return -1;
		memcpy(host, s, n);
		host[n] = '\0';
		port = c ? c + 1 : NULL;
	}
	if (ip_parse(host, &ip) < 0)
		return -1;
	if (port) {
		char *end;
		long p = strtol(port, &end, 10);

		if (*port == '\0' || *end || p < 1 || p > 65535)
			return -1;
	}
	if (csv->len && buf_appendc(csv, ',') < 0)
		return -1;
	if (ip.family == AF_INET6)
		return buf_appendf(csv, "[%s]:%s", host, port ? port : "53");
	return buf_appendf(csv, "%s:%s", host, port ? port : "53");
}

/* lib_init - c-ares global init, once per process */
static void lib_init(void)
{
	int rc = ares_library_init(ARES_LIB_INIT_ALL);

	if (rc != ARES_SUCCESS)
		log_panic("ares_library_init: %s", ares_strerror(rc));
}

/* dns_resolver_new - validate the config, set up the cache */
struct dns_resolver *dns_resolver_new(const struct dns_config *cfg,
    const char **err_r)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct dns_resolver *r;
	struct buf csv;

	pthread_once(&once, lib_init);
	r = xcalloc(1, sizeof(*r));
	r->cfg = *cfg;
	r->cfg.servers = NULL;
	r->cfg.nservers = 0;
	if (r->cfg.timeout_ms == 0)
		r->cfg.timeout_ms = 5000;
	if (r->cfg.tries == 0)
		r->cfg.tries = 2;
	if (cfg->nservers) {
		buf_init(&csv, SERVERS_CSV_MAX);
		for (size_t i = 0; i < cfg->nservers; i++) {
			if (server_to_csv(&csv, cfg->servers[i]) < 0) {
				static __thread char err[128];

				snprintf(err, sizeof(err),
				    "dns_server \"%.60s\": expected ADDR[:PORT]",
				    cfg->servers[i]);
				*err_r = err;
				buf_free(&csv);
				free(r);
				return NULL;
			}
		}
		r->servers_csv = buf_steal(&csv);
	}
	r->refs = 1;
	pthread_mutex_init(&r->lock, NULL);
	r->cache = lru_new(r->cfg.cache_size, r->cfg.cache_bytes, free_answer);
	return r;
}


/* dns_resolver_ref - share the resolver (and its cache) */
struct dns_resolver *dns_resolver_ref(struct dns_resolver *r)
{
	__atomic_add_fetch(&r->refs, 1, __ATOMIC_ACQ_REL);
	return r;
}

/* dns_resolver_free - drop a reference; the last one releases (all
 * clients must be gone by then) */
void dns_resolver_free(struct dns_resolver **rp)
{
	struct dns_resolver *r = *rp;

	*rp = NULL;
	if (r == NULL ||
	    __atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	lru_free(&r->cache);
	for (size_t i = 0; i < r->nidle; i++)
		ares_destroy(r->idle[i]);
	free(r->idle);
	pthread_mutex_destroy(&r->lock);
	free(r->servers_csv);
	free(r);
}

/* channel_new - a c-ares channel with our servers and timeouts */
static int channel_new(struct dns_resolver *r, ares_channel *ch_r,
    ares_sock_state_cb sock_cb, void *sock_arg, const char **err_r)
{
	struct ares_options o;
	int mask, rc;
	unsigned rounds = (1u << r->cfg.tries) - 1;	/* backoff doubles */

	memset(&o, 0, sizeof(o));
	o.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES | ARES_FLAG_EDNS;
	o.timeout = (int)(r->cfg.timeout_ms / rounds);
	if (o.timeout < 50)
		o.timeout = 50;
	o.tries = (int)r->cfg.tries;
	o.ndots = 0;
	o.ednspsz = EDNS_PAYLOAD;
	mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES |
	    ARES_OPT_NDOTS | ARES_OPT_EDNSPSZ;
	if (sock_cb) {
		o.sock_state_cb = sock_cb;
		o.sock_state_cb_data = sock_arg;
		mask |= ARES_OPT_SOCK_STATE_CB;
	}
	rc = ares_init_options(ch_r, &o, mask);
	if (rc != ARES_SUCCESS) {
		*err_r = ares_strerror(rc);
		return -1;
	}
	if (r->servers_csv) {
		rc = ares_set_servers_ports_csv(*ch_r, r->servers_csv);
		if (rc != ARES_SUCCESS) {
			*err_r = ares_strerror(rc);
			ares_destroy(*ch_r);
			return -1;
		}
	}
	return 0;
}

/* answer_from_ares - build our answer from a c-ares completion */
static struct dns_answer *answer_from_ares(struct dns_resolver *r,
    const char *name, uint16_t type, int status, unsigned char *abuf,
    int alen)
{
	struct dns_answer *a;

	if (abuf && alen > 0) {
		a = dnsmsg_parse(abuf, (size_t)alen, name, type);
	} else {
		switch (status) {
		case ARES_ETIMEOUT:
			a = dns_answer_new(DNS_TIMEOUT);
			break;
		case ARES_ESERVFAIL:
		case ARES_EREFUSED:
		case ARES_ECONNREFUSED:
		case ARES_ENOTIMP:
			a = dns_answer_new(DNS_SERVFAIL);
			break;
		case ARES_ENOTFOUND:
			a = dns_answer_new(DNS_NXDOMAIN);
			break;
		case ARES_ENODATA:
			a = dns_answer_new(DNS_NODATA);
			break;
		default:
			a = dns_answer_new(DNS_ERROR);
			break;
		}
	}
	count_status(r, a->status);
	cache_put(r, name, type, a);
	return a;
}

/* ------------------------------------------------------- async client */

struct sockev {
	ares_socket_t fd;
	struct event *ev;
	struct sockev *next;
};

/*
 * Lifetimes.  A dns_pending is one question on the wire; it belongs to
 * c-ares from ares_query() until ares_done(), and is freed there, except
 * when c-ares answers synchronously inside ares_query() (no usable server,
 * no socket, a name c-ares refuses such as .onion): then the answer is
 * kept and delivered from a zero timer, and the timer frees it.  Waiters
 * (dns_lookup) are called at most once, always from the event loop, never
 * while the client is being freed; a lookup cancelled from inside its own
 * callback is left alone (it is freed right after the callback).  Cache
 * hits are lookups too, kept on the client's list until delivered.
 */
struct dns_pending {
	struct dns_client *c;
	char *name;
	uint16_t type;
	struct dns_lookup *waiters;
	struct event *deadline;	/* our time limit, or early delivery */
	struct dns_answer *early;	/* answered inside ares_query() */
	int in_query;		/* inside ares_query() */
	int finished;		/* c-ares is done with it */
	int done;		/* waiters served (answer or deadline) */
	struct dns_pending *next;
};

struct dns_lookup {
	struct dns_client *c;
	struct dns_pending *p;	/* NULL when served from cache */
	dns_callback *cb;
	void *arg;
	struct dns_answer *ans;	/* cache hit waiting for delivery */
	struct event *ev;	/* deferred delivery of a cache hit */
	int in_callback;
	struct dns_lookup *next, *prev;	/* waiters, or the client's hits */
};

struct dns_client {
	struct dns_resolver *r;
	struct event_base *base;
	ares_channel ch;
	struct event *timer;
	struct sockev *socks;
	struct dns_pending *pending;
	struct dns_lookup *hits;	/* cache hits not yet delivered */
	int freeing;
};

static void client_rearm(struct dns_client *c);

/* sock_event - an fd c-ares watches became ready */
static void sock_event(evutil_socket_t fd, short what, void *arg)
{
	struct dns_client *c = arg;

	ares_process_fd(c->ch, (what & EV_READ) ? fd : ARES_SOCKET_BAD,
	    (what & EV_WRITE) ? fd : ARES_SOCKET_BAD);
	client_rearm(c);
}

/* timer_event - c-ares retry timer */
static void timer_event(evutil_socket_t fd, short what, void *arg)
{
	struct dns_client *c = arg;

	(void)fd;
	(void)what;
	ares_process_fd(c->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	client_rearm(c);
}

/* client_rearm - schedule the retry timer from ares_timeout */
static void client_rearm(struct dns_client *c)
{
	struct timeval tv, *tvp;

	if (c->freeing)
		return;
	tvp = ares_timeout(c->ch, NULL, &tv);
	if (tvp)
		evtimer_add(c->timer, tvp);
	else
		evtimer_del(c->timer);
}

/* sock_state - c-ares tells which sockets to watch */
static void sock_state(void *data, ares_socket_t fd, int readable,
    int writable)
{
	struct dns_client *c = data;
	struct sockev **pp, *s;

	for (pp = &c->socks; *pp && (*pp)->fd != fd; pp = &(*pp)->next)
		;
	s = *pp;
	if (!readable && !writable) {
		if (s) {
			*pp = s->next;
			event_free(s->ev);
			free(s);
		}
		return;
	}
	if (s == NULL) {
		s = xcalloc(1, sizeof(*s));
		s->fd = fd;
		s->next = c->socks;
		c->socks = s;
	} else {
		event_free(s->ev);
	}
	s->ev = event_new(c->base, fd, (short)((readable ? EV_READ : 0) |
	    (writable ? EV_WRITE : 0) | EV_PERSIST), sock_event, c);
	event_add(s->ev, NULL);
}

/* dns_client_new - asynchronous client on an event base */
struct dns_client *dns_client_new(struct dns_resolver *r,
    struct event_base *base, const char **err_r)
{
	struct dns_client *c = xcalloc(1, sizeof(*c));

	c->r = r;
	c->base = base;
	if (channel_new(r, &c->ch, sock_state, c, err_r) < 0) {
		free(c);
		return NULL;
	}
	c->timer = evtimer_new(base, timer_event, c);
	return c;
}

/* pending_deliver - give every waiter the answer (unless the client is
 * being freed: then waiters are dropped uncalled), then mark done */
static void pending_deliver(struct dns_pending *p, struct dns_answer *a)
{
	struct dns_lookup *l;

	p->done = 1;
	if (p->deadline) {
		event_free(p->deadline);
		p->deadline = NULL;
	}
	while ((l = p->waiters) != NULL) {
		p->waiters = l->next;
		l->p = NULL;
		if (l->cb && !p->c->freeing) {
			l->in_callback = 1;
			l->cb(l->arg, a);
		}
		free(l);
	}
}

/* pending_free - unlink from the client and free */
static void pending_free(struct dns_pending *p)
{
	struct dns_pending **pp;

	for (pp = &p->c->pending; *pp && *pp != p; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = p->next;
	if (p->deadline)
		event_free(p->deadline);
	dns_answer_unref(&p->early);
	free(p->name);
	free(p);
}

/* ares_done - a query finished (or was cancelled by ares_destroy) */
static void ares_done(void *arg, int status, int timeouts,
    unsigned char *abuf, int alen)
{
	struct dns_pending *p = arg;
	struct dns_client *c = p->c;
	struct dns_answer *a;

	(void)timeouts;
	if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED)
		a = dns_answer_new(DNS_TIMEOUT);
	else
		a = answer_from_ares(c->r, p->name, p->type, status, abuf,
		    alen);
	p->finished = 1;
	if (p->in_query) {
		/* called from inside ares_query(): deliver later */
		p->early = a;
		return;
	}
	if (!p->done)
		pending_deliver(p, a);
	dns_answer_unref(&a);
	pending_free(p);
}

/* deadline_event - our own limit on one lookup, or the delivery of an
 * answer c-ares gave inside ares_query() */
static void deadline_event(evutil_socket_t fd, short what, void *arg)
{
	struct dns_pending *p = arg;
	struct dns_answer *a;

	(void)fd;
	(void)what;
	if (p->finished) {
		pending_deliver(p, p->early);
		pending_free(p);
		return;
	}
	a = dns_answer_new(DNS_TIMEOUT);
	count_status(p->c->r, DNS_TIMEOUT);
	pending_deliver(p, a);	/* p stays until c-ares lets go of it */
	dns_answer_unref(&a);
}

/* hit_unlink - take a cache-hit lookup off the client's list */
static void hit_unlink(struct dns_lookup *l)
{
	if (l->prev)
		l->prev->next = l->next;
	else
		l->c->hits = l->next;
	if (l->next)
		l->next->prev = l->prev;
}

/* cached_event - deliver a cache hit from the event loop */
static void cached_event(evutil_socket_t fd, short what, void *arg)
{
	struct dns_lookup *l = arg;

	(void)fd;
	(void)what;
	hit_unlink(l);
	event_free(l->ev);
	l->in_callback = 1;
	l->cb(l->arg, l->ans);
	dns_answer_unref(&l->ans);
	free(l);
}

/*
 * dns_client_lookup - look up (name, type).  The callback runs later from
 * the event loop, exactly once, unless the lookup is cancelled first; it
 * must take its own reference to keep the answer.  Concurrent lookups of
 * the same question share one query.  NULL while the client is freed.
 */
struct dns_lookup *dns_client_lookup(struct dns_client *c, const char *name,
    uint16_t type, dns_callback *cb, void *arg)
{
	struct dns_lookup *l;
	struct dns_pending *p;
	struct timeval tv;
	int fresh;

	if (c->freeing)
		return NULL;
	l = xcalloc(1, sizeof(*l));
	l->c = c;
	l->cb = cb;
	l->arg = arg;
	if (!dns_name_valid(name))
		l->ans = dns_answer_new(DNS_ERROR);
	else
		l->ans = dns_cache_get(c->r, name, type);
	if (l->ans) {
		l->next = c->hits;
		if (c->hits)
			c->hits->prev = l;
		c->hits = l;
		l->ev = evtimer_new(c->base, cached_event, l);
		tv.tv_sec = tv.tv_usec = 0;
		evtimer_add(l->ev, &tv);
		return l;
	}
	for (p = c->pending; p; p = p->next)
		if (!p->done && p->type == type && dns_name_equal(p->name, name))
			break;
	fresh = p == NULL;
	if (fresh) {
		p = xcalloc(1, sizeof(*p));
		p->c = c;
		p->name = xstrdup(name);
		p->type = type;
		p->next = c->pending;
		c->pending = p;
		p->deadline = evtimer_new(c->base, deadline_event, p);
	}
	/* the waiter is linked before c-ares can possibly answer */
	l->p = p;
	l->next = p->waiters;
	p->waiters = l;
	if (!fresh)
		return l;	/* an existing query: just wait for it */
	p->in_query = 1;
	STAT_INC(c->r, queries);
	ares_query(c->ch, name, ns_c_in, type, ares_done, p);
	p->in_query = 0;
	if (p->finished) {
		tv.tv_sec = tv.tv_usec = 0;	/* deliver p->early soon */
	} else {
		tv.tv_sec = c->r->cfg.timeout_ms / 1000;
		tv.tv_usec = (c->r->cfg.timeout_ms % 1000) * 1000;
		client_rearm(c);
	}
	evtimer_add(p->deadline, &tv);
	return l;
}

/* dns_lookup_cancel - the callback will not be called; l is freed.  A
 * no-op from inside l's own callback (l is freed after it returns). */
void dns_lookup_cancel(struct dns_lookup *l)
{
	struct dns_lookup **pp;

	if (l == NULL || l->in_callback)
		return;
	if (l->p == NULL) {	/* cache hit not yet delivered */
		hit_unlink(l);
		event_free(l->ev);
		dns_answer_unref(&l->ans);
		free(l);
		return;
	}
	for (pp = &l->p->waiters; *pp && *pp != l; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = l->next;
	free(l);
}

/* dns_client_free - drop every lookup without calling it back, release
 * the channel */
void dns_client_free(struct dns_client **cp)
{
	struct dns_client *c = *cp;

	*cp = NULL;
	if (c == NULL)
		return;
	c->freeing = 1;
	ares_destroy(c->ch);	/* ares_done for each query on the wire */
	while (c->pending) {	/* answered early, not yet delivered */
		pending_deliver(c->pending, NULL);
		pending_free(c->pending);
	}
	while (c->hits) {
		struct dns_lookup *l = c->hits;

		hit_unlink(l);
		event_free(l->ev);
		dns_answer_unref(&l->ans);
		free(l);
	}
	while (c->socks) {
		struct sockev *s = c->socks;

		c->socks = s->next;
		event_free(s->ev);
		free(s);
	}
	event_free(c->timer);
	free(c);
}

/* --------------------------------------------------------- synchronous */

struct sync_slot {
	struct dns_resolver *r;
	const struct dns_question *q;
	struct dns_answer **ans;
	int *left;
};

/* channel_get - an idle channel of the resolver, or a new one; the pool
 * grows to the number of threads resolving at once and is freed with
 * the resolver */
static ares_channel channel_get(struct dns_resolver *r, const char **err_r)
{
	ares_channel ch = NULL;

	pthread_mutex_lock(&r->lock);
	if (r->nidle)
		ch = r->idle[--r->nidle];
	pthread_mutex_unlock(&r->lock);
	if (ch == NULL && channel_new(r, &ch, NULL, NULL, err_r) < 0)
		return NULL;
	return ch;
}

/* channel_put - back to the pool (nothing pending on it) */
static void channel_put(struct dns_resolver *r, ares_channel ch)
{
	pthread_mutex_lock(&r->lock);
	if (r->nidle == r->capidle) {
		r->capidle = r->capidle ? r->capidle * 2 : 4;
		r->idle = xrealloc(r->idle, r->capidle * sizeof(*r->idle));
	}
	r->idle[r->nidle++] = ch;
	pthread_mutex_unlock(&r->lock);
}

/* sync_done - completion of one synchronous query */
static void sync_done(void *arg, int status, int timeouts,
    unsigned char *abuf, int alen)
{
	struct sync_slot *s = arg;

	(void)timeouts;
	if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED) {
		*s->ans = dns_answer_new(DNS_TIMEOUT);
		count_status(s->r, DNS_TIMEOUT);
	} else {
		*s->ans = answer_from_ares(s->r, s->q->name, s->q->type,
		    status, abuf, alen);
	}
	(*s->left)--;
}

/*
 * dns_resolve_sync - answer n questions, in parallel, within budget_ms
 * (0 = the resolver timeout).  answers_r[i] gets a referenced answer for
 * every question, DNS_TIMEOUT for those not answered in time.
 */
void dns_resolve_sync(struct dns_resolver *r, const struct dns_question *q,
    size_t n, struct dns_answer **answers_r, unsigned budget_ms)
{
	ares_channel ch = NULL;
	struct sync_slot *slots = xcalloc(n ? n : 1, sizeof(*slots));
	long long deadline;
	const char *err;
	int left = 0;

	if (budget_ms == 0 || budget_ms > r->cfg.timeout_ms)
		budget_ms = r->cfg.timeout_ms;
	deadline = clock_ms() + budget_ms;
	for (size_t i = 0; i < n; i++) {
		answers_r[i] = NULL;
		if (!dns_name_valid(q[i].name)) {
			answers_r[i] = dns_answer_new(DNS_ERROR);
			continue;
		}
		answers_r[i] = dns_cache_get(r, q[i].name, q[i].type);
	}
	for (size_t i = 0; i < n; i++) {
		if (answers_r[i])
			continue;
		if (ch == NULL && (ch = channel_get(r, &err)) == NULL) {
			log_error("dns: cannot create channel: %s", err);
			answers_r[i] = dns_answer_new(DNS_ERROR);
			continue;
		}
		slots[i].r = r;
		slots[i].q = &q[i];
		slots[i].ans = &answers_r[i];
		slots[i].left = &left;
		left++;
		STAT_INC(r, queries);
		ares_query(ch, q[i].name, ns_c_in, q[i].type, sync_done,
		    &slots[i]);
	}
	while (left > 0) {
		ares_socket_t socks[ARES_GETSOCK_MAXNUM];
		struct pollfd pfd[ARES_GETSOCK_MAXNUM];
		struct timeval tv, maxtv, *tvp;
		long long now = clock_ms(), wait;
		int bits, np = 0, rc;

		if (now >= deadline) {
			ares_cancel(ch);	/* remaining get DNS_TIMEOUT */
			break;
		}
		maxtv.tv_sec = (deadline - now) / 1000;
		maxtv.tv_usec = ((deadline - now) % 1000) * 1000;
		tvp = ares_timeout(ch, &maxtv, &tv);
		wait = (long long)tvp->tv_sec * 1000 + tvp->tv_usec / 1000 + 1;
		bits = ares_getsock(ch, socks, ARES_GETSOCK_MAXNUM);
		for (unsigned i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
			/* c-ares's own macros shift a signed 1 by up to 31 */
			unsigned rd = (unsigned)bits & (1u << i);
			unsigned wr = (unsigned)bits &
			    (1u << (i + ARES_GETSOCK_MAXNUM));

			if (!rd && !wr)
				continue;
			pfd[np].fd = socks[i];
			pfd[np].events = (short)((rd ? POLLIN : 0) |
			    (wr ? POLLOUT : 0));
			pfd[np].revents = 0;
			np++;
		}
		rc = poll(pfd, (nfds_t)np, (int)wait);
		if (rc < 0 && errno != EINTR) {
			ares_cancel(ch);
			break;
		}
		if (rc <= 0) {
			ares_process_fd(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
			continue;
		}
		for (int i = 0; i < np; i++) {
			if (pfd[i].revents == 0)
				continue;
			ares_process_fd(ch,
			    (pfd[i].revents & (POLLIN | POLLERR | POLLHUP)) ?
			    pfd[i].fd : ARES_SOCKET_BAD,
			    (pfd[i].revents & POLLOUT) ? pfd[i].fd :
			    ARES_SOCKET_BAD);
		}
	}
	if (ch)
		channel_put(r, ch);
	free(slots);
}
