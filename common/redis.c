/*
 * redis.c - asynchronous Redis client with Sentinel and Cluster routing;
 *           see redis.h.
 *
 * Life of a command (struct rcmd): it is parked on the wait queue, and
 * a zero-delay "kick" event dispatches the queue: each command goes to
 * the connection of the node its topology names (the master, or the
 * master of its key's slot), or waits while the topology is being
 * learnt, or fails at once when its node is unreachable.  A reply ends
 * it, or sends it round again (MOVED, ASK, READONLY, TRYAGAIN, a lost
 * connection for idempotent commands).  Its deadline timer ends it
 * with an error whatever happens.  So the caller's callback never runs
 * inside redis_command, and runs exactly once.
 *
 * Lifetimes: a command has at most one attempt on a connection at a
 * time; hiredis calls back every attempt (with a NULL reply when the
 * connection goes), so a finished command is freed once its attempt has
 * come back.  Connections are hiredis async contexts whose ->data is
 * their node; handlers check node->ac == ac, so a context we dropped
 * ourselves is ignored when hiredis calls back while freeing it.
 */
#include <errno.h>
#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include "clock.h"
#include "log.h"
#include "redis.h"
#include "xalloc.h"

#define SLOTS 16384
#define NODES_MAX 64
#define SENTINELS_MAX 16
#define HOST_MAX 256
#define REDIRECTS_MAX 5
#define TRIES_MAX 3
#define NODE_PENDING_MAX 100000
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000
#define RETRY_LATER_MS 20
#define SENTINEL_RECHECK_MS 2000
#define TOPO_RETRY_MS 200
#define STALL_MS 3000		/* replies owed this long: drop the link */
#define SECRET_MAX 256

enum topo { TOPO_SINGLE, TOPO_SENTINEL, TOPO_CLUSTER };
enum nstate { N_DOWN, N_CONNECTING, N_READY };

struct rnode {
	struct redis *r;
	char host[HOST_MAX];
	int port;
	char *unix_path;
	int sentinel;		/* a Sentinel, not a data node */
	int wanted;		/* part of the topology: keep it connected */
	redisAsyncContext *ac;
	enum nstate state;
	unsigned backoff_ms;
	struct event *retry;	/* reconnect later */
	struct event *conn_to;	/* connect deadline */
	size_t pending;		/* attempts owed a reply */
	long long progress_ms;	/* last reply, or first owed one */
	int down_logged;
	char err[160];		/* why it is down */
};

struct rcmd {
	struct redis *r;
	TAILQ_ENTRY(rcmd) all;		/* r->cmds */
	TAILQ_ENTRY(rcmd) wait;		/* r->waitq while parked */
	int parked, sent, done;
	int flags;
	int slot;			/* -1: no key */
	int node;			/* explicit master index, or -1 */
	struct rnode *ask;		/* ASK target of the next attempt */
	unsigned redirects, tries;
	struct event *deadline;
	struct event *later;		/* retry after a short pause */
	redis_reply_fn *cb;
	void *arg;
	int argc;
	char **argv;
	size_t *argvlen;
};

struct redis {
	struct event_base *base;
	int own_base;
	enum topo topo;
	char name[HOST_MAX];		/* Sentinel master name */
	char user[SECRET_MAX], pass[SECRET_MAX];
	int db;
	unsigned connect_timeout_ms;
	char log_name[32];
	char url_shown[512];		/* without the password */
	struct rnode *nodes[NODES_MAX];
	size_t nnodes;
	struct rnode *sentinels[SENTINELS_MAX];
	size_t nsentinels;
	struct rnode *seeds[NODES_MAX];	/* cluster: as configured */
	size_t nseeds;
	struct rnode *master;		/* single, Sentinel */
	struct rnode **map;		/* cluster: slot -> master */
	struct rnode *masters[NODES_MAX];
	size_t nmasters;
	int have_topo;			/* master known / map read */
	int learning;			/* discovery or refresh under way */
	size_t learn_idx;		/* which Sentinel / node is asked */
	long long learnt_ms;		/* last successful discovery */
	const char *topo_err;		/* why the topology is unknown */
	struct event *learn_to;		/* the asked one did not answer */
	struct event *relearn;		/* learn again (timer) */
	struct event *kick;		/* dispatch the wait queue */
	struct event *health;		/* stalled links, Sentinel recheck */
	TAILQ_HEAD(, rcmd) cmds;
	TAILQ_HEAD(, rcmd) waitq;
};

static void node_connect(struct rnode *n);
static void learn_start(struct redis *r);
static void kick_soon(struct redis *r);

/* redis_crc16_slot - the Cluster slot of a key: CRC16 (XMODEM) of its
 * hash tag ({...}, when non-empty) or of the whole key, mod 16384 */
unsigned redis_crc16_slot(const char *key, size_t len)
{
	const char *open = memchr(key, '{', len);
	uint16_t crc = 0;

	if (open) {
		const char *close = memchr(open + 1, '}',
		    (size_t)(key + len - open - 1));

		if (close && close > open + 1) {
			key = open + 1;
			len = (size_t)(close - key);
		}
	}
	for (size_t i = 0; i < len; i++) {
		crc ^= (uint16_t)((unsigned char)key[i] << 8);
		for (int b = 0; b < 8; b++)
			crc = crc & 0x8000 ? (uint16_t)((crc << 1) ^ 0x1021) :
			    (uint16_t)(crc << 1);
	}
	return crc & (SLOTS - 1);
}

/* node_name - "host:port" or the socket path */
static const char *node_name(const struct rnode *n)
{
	static __thread char buf[HOST_MAX + 16];

	if (n->unix_path)
		return n->unix_path;
	snprintf(buf, sizeof(buf), strchr(n->host, ':') ? "[%s]:%d" :
	    "%s:%d", n->host, n->port);
	return buf;
}

/* node_get - the node at host:port (or path), created if new */
static struct rnode *node_get(struct redis *r, const char *host, int port,
    const char *path, int sentinel)
{
	struct rnode *n;

	for (size_t i = 0; i < r->nnodes; i++) {
		n = r->nodes[i];
		if (n->sentinel == sentinel && n->port == port &&
		    !strcmp(n->host, host) && ((path == NULL &&
		    n->unix_path == NULL) || (path && n->unix_path &&
		    !strcmp(path, n->unix_path))))
			return n;
	}
	if (r->nnodes == NODES_MAX || strlen(host) >= HOST_MAX)
		return NULL;
	n = xcalloc(1, sizeof(*n));
	n->r = r;
	snprintf(n->host, sizeof(n->host), "%s", host);
	n->port = port;
	n->unix_path = path ? xstrdup(path) : NULL;
	n->sentinel = sentinel;
	n->backoff_ms = BACKOFF_MIN_MS;
	r->nodes[r->nnodes++] = n;
	return n;
}

/* node_down - the link is gone (ac already released or being freed) */
static void node_down(struct rnode *n, const char *why)
{
	struct redis *r = n->r;
	struct timeval tv;

	n->ac = NULL;
	n->state = N_DOWN;
	n->pending = 0;
	if (n->conn_to)
		event_del(n->conn_to);
	snprintf(n->err, sizeof(n->err), "%s", why ? why : "connection lost");
	if (!n->down_logged && n->wanted) {
		log_warn("%s: redis %s: %s", r->log_name, node_name(n), n->err);
		n->down_logged = 1;
	}
	if (n->wanted) {
		tv.tv_sec = n->backoff_ms / 1000;
		tv.tv_usec = (n->backoff_ms % 1000) * 1000;
		event_add(n->retry, &tv);
		n->backoff_ms = n->backoff_ms * 2 > BACKOFF_MAX_MS ?
		    BACKOFF_MAX_MS : n->backoff_ms * 2;
	}
	/* a data node lost: the topology may have moved */
	if (!n->sentinel && r->topo != TOPO_SINGLE && n->wanted)
		learn_start(r);
}

/* node_drop - close our link to a node ourselves */
static void node_drop(struct rnode *n, const char *why)
{
	redisAsyncContext *ac = n->ac;

	if (ac == NULL)
		return;
	node_down(n, why);
	redisAsyncFree(ac);	/* owed attempts come back with NULL */
}

/* on_connect - hiredis: the connection is up, or failed */
static void on_connect(const redisAsyncContext *ac, int status)
{
	struct rnode *n = ac->data;

	if (n == NULL || n->ac != ac)
		return;
	if (status != REDIS_OK) {
		node_down(n, ac->errstr);	/* hiredis frees ac */
		kick_soon(n->r);
		return;
	}
	event_del(n->conn_to);
	n->state = N_READY;
	n->backoff_ms = BACKOFF_MIN_MS;
	if (n->down_logged)
		log_info("%s: redis %s: connected", n->r->log_name,
		    node_name(n));
	n->down_logged = 0;
	kick_soon(n->r);
}

/* on_disconnect - hiredis: the connection went (ac is freed after) */
static void on_disconnect(const redisAsyncContext *ac, int status)
{
	struct rnode *n = ac->data;

	(void)status;
	if (n == NULL || n->ac != ac)
		return;
	node_down(n, ac->err ? ac->errstr : "connection closed");
	kick_soon(n->r);
}

/* on_hello - AUTH, SELECT, ROLE answers: a refusal drops the link */
static void on_hello(redisAsyncContext *ac, void *reply, void *priv)
{
	redisReply *rep = reply;
	struct rnode *n = ac->data;
	const char *what = priv;

	if (rep == NULL || n == NULL || n->ac != ac)
		return;
	if (rep->type == REDIS_REPLY_ERROR) {
		char why[200];

		snprintf(why, sizeof(why), "%s refused: %.120s", what,
		    rep->str);
		node_drop(n, why);
		return;
	}
	if (!strcmp(what, "ROLE") && (rep->type != REDIS_REPLY_ARRAY ||
	    rep->elements < 1 || rep->element[0]->type !=
	    REDIS_REPLY_STRING || strcmp(rep->element[0]->str, "master"))) {
		/* the Sentinels named a node that is not (yet) master */
		struct redis *r = n->r;

		if (r->master == n)
			r->master = NULL, r->have_topo = 0;
		n->wanted = 0;
		node_drop(n, "not a master (Sentinel failover under way?)");
		learn_start(r);
	}
}

/* node_retry - reconnect timer */
static void node_retry(evutil_socket_t fd, short what, void *arg)
{
	struct rnode *n = arg;

	(void)fd;
	(void)what;
	if (n->wanted && n->ac == NULL)
		node_connect(n);
}

/* node_conn_timeout - the connection did not come up in time */
static void node_conn_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct rnode *n = arg;

	(void)fd;
	(void)what;
	if (n->state == N_CONNECTING)
		node_drop(n, "connect timed out");
	kick_soon(n->r);
}

/* node_connect - open the link (non-blocking) and say hello */
static void node_connect(struct rnode *n)
{
	struct redis *r = n->r;
	redisAsyncContext *ac;
	struct timeval tv = { r->connect_timeout_ms / 1000,
		(r->connect_timeout_ms % 1000) * 1000 };

	if (n->ac)
		return;
	if (n->retry == NULL) {
		n->retry = evtimer_new(r->base, node_retry, n);
		n->conn_to = evtimer_new(r->base, node_conn_timeout, n);
	}
	event_del(n->retry);
	ac = n->unix_path ? redisAsyncConnectUnix(n->unix_path) :
	    redisAsyncConnect(n->host, n->port);
	if (ac == NULL || ac->err) {
		char why[160];

		snprintf(why, sizeof(why), "%s", ac ? ac->errstr :
		    "out of memory");
		if (ac)
			redisAsyncFree(ac);
		n->ac = NULL;
		node_down(n, why);
		return;
	}
	ac->data = n;
	n->ac = ac;
	n->state = N_CONNECTING;
	n->pending = 0;
	redisLibeventAttach(ac, r->base);
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	event_add(n->conn_to, &tv);
	if (n->sentinel)
		return;
	/* queued first, so they go before any command */
	if (*r->pass && *r->user)
		redisAsyncCommand(ac, on_hello, (void *)"AUTH", "AUTH %s %s",
		    r->user, r->pass);
	else if (*r->pass)
		redisAsyncCommand(ac, on_hello, (void *)"AUTH", "AUTH %s",
		    r->pass);
	if (r->db && r->topo != TOPO_CLUSTER)
		redisAsyncCommand(ac, on_hello, (void *)"SELECT", "SELECT %d",
		    r->db);
	if (r->topo == TOPO_SENTINEL)
		redisAsyncCommand(ac, on_hello, (void *)"ROLE", "ROLE");
}

/* --- topology: Sentinel discovery, Cluster slot map --------------- */

static void learn_next(struct redis *r);
static struct rnode *learn_candidate(struct redis *r, size_t i);

/* set_master - the Sentinels named host:port */
static void set_master(struct redis *r, const char *host, int port)
{
	struct rnode *n = node_get(r, host, port, NULL, 0);

	if (n == NULL) {
		r->topo_err = "too many Redis nodes";
		return;
	}
	if (r->master != n) {
		struct rnode *old = r->master;

		log_info("%s: redis sentinel: master %s is %s", r->log_name,
		    r->name, node_name(n));
		r->master = n;
		if (old) {
			old->wanted = 0;
			node_drop(old, "no longer the master");
		}
	}
	n->wanted = 1;
	if (n->ac == NULL)
		node_connect(n);
	r->have_topo = 1;
	r->topo_err = NULL;
}

/* int_of - an integer reply element (Cluster uses integers) */
static long long int_of(const redisReply *e)
{
	if (e->type == REDIS_REPLY_INTEGER)
		return e->integer;
	if (e->type == REDIS_REPLY_STRING)
		return strtoll(e->str, NULL, 10);
	return -1;
}

/* set_slots - a CLUSTER SLOTS reply becomes the slot map; 0 ok */
static int set_slots(struct redis *r, const redisReply *rep,
    const struct rnode *asked)
{
	struct rnode **map;

	if (rep->type != REDIS_REPLY_ARRAY || rep->elements == 0)
		return -1;
	map = xcalloc(SLOTS, sizeof(*map));
	for (size_t i = 0; i < rep->elements; i++) {
		const redisReply *e = rep->element[i], *m;
		long long lo, hi;
		struct rnode *n;
		const char *host;

		if (e->type != REDIS_REPLY_ARRAY || e->elements < 3)
			goto bad;
		lo = int_of(e->element[0]);
		hi = int_of(e->element[1]);
		m = e->element[2];
		if (lo < 0 || hi >= SLOTS || lo > hi ||
		    m->type != REDIS_REPLY_ARRAY || m->elements < 2 ||
		    m->element[0]->type != REDIS_REPLY_STRING)
			goto bad;
		/* an empty or "?" host means the node we asked */
		host = m->element[0]->str;
		if (*host == '\0' || !strcmp(host, "?"))
			host = asked->host;
		n = node_get(r, host, (int)int_of(m->element[1]), NULL, 0);
		if (n == NULL)
			goto bad;
		for (long long s = lo; s <= hi; s++)
			map[s] = n;
	}
	for (size_t i = 0; i < r->nnodes; i++)
		if (!r->nodes[i]->sentinel)
			r->nodes[i]->wanted = 0;
	r->nmasters = 0;
	for (size_t s = 0; s < SLOTS; s++) {
		struct rnode *n = map[s];
		size_t j;

		if (n == NULL || n->wanted)
			continue;
		n->wanted = 1;
		for (j = 0; j < r->nmasters && r->masters[j] != n; j++)
			;
		if (j == r->nmasters)
			r->masters[r->nmasters++] = n;
		if (n->ac == NULL)
			node_connect(n);
	}
	free(r->map);
	r->map = map;
	return 0;
bad:
	free(map);
	return -1;
}

/* on_learn - a Sentinel's or a Cluster node's answer */
static void on_learn(redisAsyncContext *ac, void *reply, void *priv)
{
	redisReply *rep = reply;
	struct redis *r = priv;
	struct rnode *n = ac->data;
	int ok = 0;

	/* a late answer from one we stopped waiting for: ignore */
	if (!r->learning || n == NULL || n != learn_candidate(r,
	    r->learn_idx))
		return;
	if (rep && r->topo == TOPO_SENTINEL && rep->type ==
	    REDIS_REPLY_ARRAY && rep->elements == 2 &&
	    rep->element[0]->type == REDIS_REPLY_STRING &&
	    rep->element[1]->type == REDIS_REPLY_STRING) {
		set_master(r, rep->element[0]->str,
		    atoi(rep->element[1]->str));
		ok = r->have_topo;
	} else if (rep && r->topo == TOPO_CLUSTER &&
	    set_slots(r, rep, n) == 0) {
		ok = 1;
		r->have_topo = 1;
		r->topo_err = NULL;
	}
	if (!ok) {
		r->learn_idx++;
		learn_next(r);
		return;
	}
	event_del(r->learn_to);
	r->learning = 0;
	r->learnt_ms = clock_ms();
	kick_soon(r);
}

/* learn_ask - send the topology question to n; 0 sent */
static int learn_ask(struct redis *r, struct rnode *n)
{
	if (n->ac == NULL)
		node_connect(n);
	if (n->ac == NULL)
		return -1;
	if (r->topo == TOPO_SENTINEL)
		return redisAsyncCommand(n->ac, on_learn, r,
		    "SENTINEL get-master-addr-by-name %s", r->name) ==
		    REDIS_OK ? 0 : -1;
	return redisAsyncCommand(n->ac, on_learn, r, "CLUSTER SLOTS") ==
	    REDIS_OK ? 0 : -1;
}

/* learn_candidate - the i-th node to ask, or NULL past the end */
static struct rnode *learn_candidate(struct redis *r, size_t i)
{
	if (r->topo == TOPO_SENTINEL)
		return i < r->nsentinels ? r->sentinels[i] : NULL;
	/* known masters first, then the configured seeds */
	if (i < r->nmasters)
		return r->masters[i];
	i -= r->nmasters;
	return i < r->nseeds ? r->seeds[i] : NULL;
}

/* learn_next - ask the next Sentinel / node, or give up for now */
static void learn_next(struct redis *r)
{
	struct timeval tv = { r->connect_timeout_ms / 1000,
		(r->connect_timeout_ms % 1000) * 1000 };
	struct timeval again = { 0, TOPO_RETRY_MS * 1000 };
	struct rnode *n;

	while ((n = learn_candidate(r, r->learn_idx)) != NULL) {
		if (learn_ask(r, n) == 0) {
			event_add(r->learn_to, &tv);
			return;
		}
		r->learn_idx++;
	}
	/* nobody answered: commands waiting for it fail, try again soon */
	r->learning = 0;
	r->learn_idx = (size_t)-1;
	event_del(r->learn_to);
	r->topo_err = r->topo == TOPO_SENTINEL ?
	    "no Sentinel named the master" :
	    "no Cluster node gave the slot map";
	if (!r->have_topo)
		log_warn("%s: redis: %s", r->log_name, r->topo_err);
	event_add(r->relearn, &again);
	kick_soon(r);
}

/* learn_timeout - the asked one is silent: next */
static void learn_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct redis *r = arg;

	(void)fd;
	(void)what;
	if (!r->learning)
		return;
	r->learn_idx++;
	learn_next(r);
}

/* learn_start - (re)discover the master or the slot map, at most one
 * round at a time and one every TOPO_RETRY_MS */
static void learn_start(struct redis *r)
{
	long long now = clock_ms();

	if (r->topo == TOPO_SINGLE || r->learning)
		return;
	if (now - r->learnt_ms < TOPO_RETRY_MS) {
		struct timeval tv = { 0, (TOPO_RETRY_MS -
			(now - r->learnt_ms)) * 1000 };

		if (!event_pending(r->relearn, EV_TIMEOUT, NULL))
			event_add(r->relearn, &tv);
		return;
	}
	event_del(r->relearn);
	r->learning = 1;
	r->learn_idx = 0;
	learn_next(r);
}

/* relearn - timer */
static void relearn(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	learn_start(arg);
}

/* --- commands ---------------------------------------------------- */

/* cmd_free - release a finished command with no attempt out */
static void cmd_free(struct rcmd *c)
{
	TAILQ_REMOVE(&c->r->cmds, c, all);
	event_free(c->deadline);
	if (c->later)
		event_free(c->later);
	free(c->argv);
	free(c);
}

/* unpark - off the wait queue */
static void unpark(struct rcmd *c)
{
	if (c->parked) {
		TAILQ_REMOVE(&c->r->waitq, c, wait);
		c->parked = 0;
	}
}

/* park - onto the wait queue, dispatched at the next kick */
static void park(struct rcmd *c)
{
	if (!c->parked) {
		TAILQ_INSERT_TAIL(&c->r->waitq, c, wait);
		c->parked = 1;
	}
	kick_soon(c->r);
}

/* complete - the one answer to the caller */
static void complete(struct rcmd *c, redisReply *rep, const char *err)
{
	if (c->done)
		return;
	c->done = 1;
	unpark(c);
	event_del(c->deadline);
	if (c->later)
		event_del(c->later);
	c->cb(c->arg, rep, rep ? NULL : err);
	if (!c->sent)
		cmd_free(c);
}

/* on_deadline - out of time */
static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct rcmd *c = arg;

	(void)fd;
	(void)what;
	complete(c, NULL, "Redis did not answer in time");
}

/* on_later - a short pause is over: dispatch again */
static void on_later(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	park(arg);
}

/* retry_later - TRYAGAIN and friends: again after a short pause */
static void retry_later(struct rcmd *c)
{
	struct timeval tv = { 0, RETRY_LATER_MS * 1000 };

	if (c->later == NULL)
		c->later = evtimer_new(c->r->base, on_later, c);
	event_add(c->later, &tv);
}

/* redirect_to - the node of a MOVED/ASK "SLOT HOST:PORT" */
static struct rnode *redirect_to(struct redis *r, const char *s, int *slot)
{
	char host[HOST_MAX];
	const char *colon;
	char *end;
	long sl = strtol(s, &end, 10);
	size_t hl;

	if (end == s || *end != ' ' || sl < 0 || sl >= SLOTS)
		return NULL;
	s = end + 1;
	colon = strrchr(s, ':');
	if (colon == NULL || (hl = (size_t)(colon - s)) == 0 ||
	    hl >= sizeof(host))
		return NULL;
	if (s[0] == '[' && colon[-1] == ']') {
		s++;
		hl -= 2;
	}
	memcpy(host, s, hl);
	host[hl] = '\0';
	*slot = (int)sl;
	return node_get(r, host, atoi(colon + 1), NULL, 0);
}

/* on_reply - an attempt came back */
static void on_reply(redisAsyncContext *ac, void *reply, void *priv)
{
	redisReply *rep = reply;
	struct rcmd *c = priv;
	struct redis *r = c->r;
	struct rnode *n = ac->data;

	c->sent = 0;
	if (n && n->ac == ac) {
		if (n->pending)
			n->pending--;
		n->progress_ms = clock_ms();
	}
	if (c->done) {
		cmd_free(c);
		return;
	}
	if (rep == NULL) {
		const char *why = ac->err ? ac->errstr : "connection lost";

		if ((c->flags & REDIS_IDEMPOTENT) && ++c->tries < TRIES_MAX) {
			park(c);
			return;
		}
		complete(c, NULL, why);
		return;
	}
	if (rep->type == REDIS_REPLY_ERROR && r->topo == TOPO_CLUSTER &&
	    (!strncmp(rep->str, "MOVED ", 6) ||
	    !strncmp(rep->str, "ASK ", 4))) {
		int ask = rep->str[1] == 'S', slot;
		struct rnode *to = redirect_to(r, rep->str + (ask ? 4 : 6),
		    &slot);

		if (to == NULL || ++c->redirects > REDIRECTS_MAX) {
			complete(c, rep, NULL);
			return;
		}
		if (ask) {
			c->ask = to;
		} else {
			r->map[slot] = to;
			to->wanted = 1;
			learn_start(r);
		}
		park(c);
		return;
	}
	if (rep->type == REDIS_REPLY_ERROR &&
	    !strncmp(rep->str, "READONLY", 8) && r->topo == TOPO_SENTINEL) {
		/* we reached a replica: the master moved */
		if (r->master == n && n != NULL) {
			r->master = NULL;
			r->have_topo = 0;
			n->wanted = 0;
			node_drop(n, "became a replica");
		}
		learn_start(r);
		if (++c->redirects > REDIRECTS_MAX) {
			complete(c, rep, NULL);
			return;
		}
		park(c);
		return;
	}
	if (rep->type == REDIS_REPLY_ERROR &&
	    (!strncmp(rep->str, "TRYAGAIN", 8) ||
	    !strncmp(rep->str, "CLUSTERDOWN", 11) ||
	    !strncmp(rep->str, "LOADING", 7) ||
	    !strncmp(rep->str, "MASTERDOWN", 10))) {
		/* e.g. a script on keys of a slot being migrated: it can
		 * only run once the slot is settled; the deadline bounds
		 * the wait, not the redirection count */
		c->redirects = 0;
		retry_later(c);
		return;
	}
	complete(c, rep, NULL);
}

/* target - the node a command goes to now; NULL with *wait set when it
 * should wait, or with *err_r when it fails */
static struct rnode *target(struct redis *r, struct rcmd *c, int *wait,
    const char **err_r)
{
	struct rnode *n;

	*wait = 0;
	if (c->ask)
		return c->ask;
	if (r->topo == TOPO_SINGLE) {
		n = r->master;
	} else {
		if (!r->have_topo) {
			learn_start(r);
			if (r->learning || r->topo_err == NULL) {
				*wait = 1;
				return NULL;
			}
			*err_r = r->topo_err;
			return NULL;
		}
		if (r->topo == TOPO_SENTINEL)
			n = r->master;
		else if (c->node >= 0)
			n = (size_t)c->node < r->nmasters ?
			    r->masters[c->node] : NULL;
		else
			n = r->map[c->slot >= 0 ? c->slot : 0];
		if (n == NULL) {
			learn_start(r);
			*err_r = "no Redis node serves this key's slot";
			return NULL;
		}
	}
	if (n->ac == NULL) {
		if (r->topo == TOPO_SINGLE) {
			*err_r = n->err[0] ? n->err : "Redis unreachable";
			return NULL;
		}
		/* a failover may be under way: wait for the new topology */
		learn_start(r);
		*wait = 1;
		return NULL;
	}
	if (n->pending >= NODE_PENDING_MAX) {
		*err_r = "too many Redis commands waiting";
		return NULL;
	}
	return n;
}

/* send_cmd - one attempt of c on n; 0 sent */
static int send_cmd(struct rcmd *c, struct rnode *n)
{
	if (c->ask)
		redisAsyncCommand(n->ac, NULL, NULL, "ASKING");
	if (redisAsyncCommandArgv(n->ac, on_reply, c, c->argc,
	    (const char **)c->argv, c->argvlen) != REDIS_OK)
		return -1;
	c->ask = NULL;
	c->sent = 1;
	if (n->pending++ == 0)
		n->progress_ms = clock_ms();
	return 0;
}

/* dispatch - the kick: every parked command that can go, goes */
static void dispatch(evutil_socket_t fd, short what, void *arg)
{
	struct redis *r = arg;
	struct rcmd *c, *next;

	(void)fd;
	(void)what;
	for (c = TAILQ_FIRST(&r->waitq); c; c = next) {
		const char *err = NULL;
		struct rnode *n;
		int wait;

		next = TAILQ_NEXT(c, wait);
		n = target(r, c, &wait, &err);
		if (n == NULL && wait)
			continue;
		unpark(c);
		if (n == NULL)
			complete(c, NULL, err);
		else if (send_cmd(c, n) < 0)
			complete(c, NULL, "cannot queue a Redis command");
	}
}

static void kick_soon(struct redis *r)
{
	if (!TAILQ_EMPTY(&r->waitq))
		event_active(r->kick, EV_TIMEOUT, 0);
}

/* health - every second: stalled links go, Sentinel is asked again */
static void health(evutil_socket_t fd, short what, void *arg)
{
	struct redis *r = arg;
	long long now = clock_ms();

	(void)fd;
	(void)what;
	for (size_t i = 0; i < r->nnodes; i++) {
		struct rnode *n = r->nodes[i];

		if (n->ac && n->pending && now - n->progress_ms > STALL_MS)
			node_drop(n, "no answer for 3 s");
		else if (n->ac == NULL && n->wanted && n->retry &&
		    !event_pending(n->retry, EV_TIMEOUT, NULL))
			node_connect(n);
	}
	if (r->topo == TOPO_SENTINEL &&
	    now - r->learnt_ms >= SENTINEL_RECHECK_MS)
		learn_start(r);
}

/* redis_command - see redis.h: key routes it (Cluster), node >= 0 picks
 * a master by index (redis_masters), else any */
int redis_command(struct redis *r, const char *key, int node, int flags,
    unsigned timeout_ms, redis_reply_fn *cb, void *arg, int argc,
    const char **argv, const size_t *argvlen)
{
	struct rcmd *c = xcalloc(1, sizeof(*c));
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	size_t total = 0;
	char *p;

	for (int i = 0; i < argc; i++)
		total += argvlen[i] + 1;
	c->r = r;
	c->flags = flags;
	c->node = node;
	c->slot = key ? (int)redis_crc16_slot(key, strlen(key)) : -1;
	c->cb = cb;
	c->arg = arg;
	c->argc = argc;
	/* one block: pointers, lengths, then the bytes */
	c->argv = xmalloc((size_t)argc * (sizeof(char *) + sizeof(size_t)) +
	    total);
	c->argvlen = (size_t *)(c->argv + argc);
	p = (char *)(c->argvlen + argc);
	for (int i = 0; i < argc; i++) {
		memcpy(p, argv[i], argvlen[i]);
		p[argvlen[i]] = '\0';
		c->argv[i] = p;
		c->argvlen[i] = argvlen[i];
		p += argvlen[i] + 1;
	}
	c->deadline = evtimer_new(r->base, on_deadline, c);
	event_add(c->deadline, &tv);
	TAILQ_INSERT_TAIL(&r->cmds, c, all);
	park(c);
	return 0;
}

/* redis_wait - run the private loop until *done (tools) */
void redis_wait(struct redis *r, const int *done)
{
	while (!*done)
		event_base_loop(r->base, EVLOOP_ONCE);
}

/* masters_probe - redis_masters' wait: the topology is learnt */
static void masters_probe(void *arg, redisReply *rep, const char *err)
{
	int *done = arg;

	(void)rep;
	(void)err;
	*done = 1;
}

/* redis_masters - how many masters (Cluster) to address by index;
 * learns the topology first (blocking: tools) */
int redis_masters(struct redis *r, unsigned timeout_ms, const char **err_r)
{
	const char *argv[] = { "PING" };
	size_t lens[] = { 4 };
	int done = 0;

	redis_command(r, NULL, -1, REDIS_IDEMPOTENT, timeout_ms,
	    masters_probe, &done, 1, argv, lens);
	redis_wait(r, &done);
	if (r->topo != TOPO_CLUSTER)
		return r->master && r->master->ac ? 1 :
		    (*err_r = r->topo_err ? r->topo_err : "Redis unreachable",
		    -1);
	if (!r->have_topo) {
		*err_r = r->topo_err ? r->topo_err : "no slot map";
		return -1;
	}
	return (int)r->nmasters;
}

/* --- set-up ------------------------------------------------------ */

/* pct_decode - %XX in a URL part; -1 on a bad escape or too long */
static int pct_decode(const char *s, size_t n, char *out, size_t outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];

		if (c == '%') {
			unsigned v;

			if (i + 2 >= n)
				return -1;
			if (sscanf(s + i + 1, "%2x", &v) != 1)
				return -1;
			c = (int)v;
			i += 2;
		}
		if (o + 1 >= outlen)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

/* parse_hostport - "HOST[:PORT]" or "[V6]:PORT" of n bytes */
static int parse_hostport(const char *s, size_t n, char *host, int *port,
    int defport)
{
	const char *colon;
	size_t hl;

	*port = defport;
	if (n > 0 && s[0] == '[') {
		const char *e = memchr(s, ']', n);

		if (e == NULL)
			return -1;
		hl = (size_t)(e - s - 1);
		if (hl == 0 || hl >= HOST_MAX)
			return -1;
		memcpy(host, s + 1, hl);
		host[hl] = '\0';
		if ((size_t)(e + 1 - s) < n) {
			if (e[1] != ':')
				return -1;
			*port = atoi(e + 2);
		}
	} else {
		colon = memchr(s, ':', n);
		hl = colon ? (size_t)(colon - s) : n;
		if (hl == 0 || hl >= HOST_MAX)
			return -1;
		memcpy(host, s, hl);
		host[hl] = '\0';
		if (colon)
			*port = atoi(colon + 1);
	}
	return *port > 0 && *port < 65536 ? 0 : -1;
}

/* parse_userinfo - "[USER]:PASS@" at the start of *s; advances *s */
static int parse_userinfo(struct redis *r, const char **s)
{
	const char *at = strchr(*s, '@'), *slash = strchr(*s, '/'), *colon;

	if (at == NULL || (slash && slash < at))
		return 0;
	colon = memchr(*s, ':', (size_t)(at - *s));
	if (colon == NULL)	/* "PASS@": a password alone */
		colon = *s - 1;
	else if (pct_decode(*s, (size_t)(colon - *s), r->user,
	    sizeof(r->user)) < 0)
		return -1;
	if (pct_decode(colon + 1, (size_t)(at - colon - 1), r->pass,
	    sizeof(r->pass)) < 0)
		return -1;
	*s = at + 1;
	return 0;
}

/* parse_query - "?db=N&user=U&password=P" of redis+unix: */
static int parse_query(struct redis *r, const char *q)
{
	while (q && *q) {
		const char *amp = strchr(q, '&');
		size_t n = amp ? (size_t)(amp - q) : strlen(q);

		if (n > 3 && !strncmp(q, "db=", 3))
			r->db = atoi(q + 3);
		else if (n > 5 && !strncmp(q, "user=", 5)) {
			if (pct_decode(q + 5, n - 5, r->user,
			    sizeof(r->user)) < 0)
				return -1;
		} else if (n > 9 && !strncmp(q, "password=", 9)) {
			if (pct_decode(q + 9, n - 9, r->pass,
			    sizeof(r->pass)) < 0)
				return -1;
		} else
			return -1;
		q = amp ? amp + 1 : NULL;
	}
	return 0;
}

/* parse_hosts - "H:P,H:P" up to end into nodes; -1 on a bad one */
static int parse_hosts(struct redis *r, const char *s, const char *end,
    int sentinel, int defport)
{
	while (s < end) {
		const char *comma = memchr(s, ',', (size_t)(end - s));
		size_t n = comma ? (size_t)(comma - s) : (size_t)(end - s);
		char host[HOST_MAX];
		struct rnode *node;
		int port;

		if (parse_hostport(s, n, host, &port, defport) < 0 ||
		    (node = node_get(r, host, port, NULL, sentinel)) == NULL)
			return -1;
		node->wanted = 1;
		if (sentinel) {
			if (r->nsentinels == SENTINELS_MAX)
				return -1;
			r->sentinels[r->nsentinels++] = node;
		} else {
			r->seeds[r->nseeds++] = node;
		}
		s = comma ? comma + 1 : end;
	}
	return 0;
}

/* parse_url - see redis.h; -1 with *err_r */
static int parse_url(struct redis *r, const char *url, const char **err_r)
{
	const char *s, *slash;
	char host[HOST_MAX];
	int port;

	if (!strncmp(url, "redis+unix:", 11)) {
		const char *q;
		char path[HOST_MAX];
		size_t n;

		s = url + 11;
		if (!strncmp(s, "//", 2))
			s += 2;
		q = strchr(s, '?');
		n = q ? (size_t)(q - s) : strlen(s);
		if (n == 0 || n >= sizeof(path) || *s != '/') {
			*err_r = "store: redis+unix: needs an absolute path";
			return -1;
		}
		memcpy(path, s, n);
		path[n] = '\0';
		if (parse_query(r, q ? q + 1 : NULL) < 0) {
			*err_r = "store: redis+unix: bad query (db=, user=, "
			    "password=)";
			return -1;
		}
		r->topo = TOPO_SINGLE;
		r->master = node_get(r, "", 0, path, 0);
		snprintf(r->url_shown, sizeof(r->url_shown), "redis+unix:%s",
		    path);
	} else if (!strncmp(url, "redis://", 8)) {
		s = url + 8;
		if (parse_userinfo(r, &s) < 0)
			goto bad;
		slash = strchr(s, '/');
		if (parse_hostport(s, slash ? (size_t)(slash - s) : strlen(s),
		    host, &port, 6379) < 0)
			goto bad;
		if (slash && slash[1])
			r->db = atoi(slash + 1);
		r->topo = TOPO_SINGLE;
		r->master = node_get(r, host, port, NULL, 0);
		snprintf(r->url_shown, sizeof(r->url_shown),
		    "redis://%s%s:%d/%d", *r->pass ? "***@" : "", host, port,
		    r->db);
	} else if (!strncmp(url, "redis+sentinel://", 17)) {
		const char *name, *db;

		s = url + 17;
		if (parse_userinfo(r, &s) < 0)
			goto bad;
		slash = strchr(s, '/');
		if (slash == NULL || slash[1] == '\0')
			goto bad;
		if (parse_hosts(r, s, slash, 1, 26379) < 0 ||
		    r->nsentinels == 0)
			goto bad;
		name = slash + 1;
		db = strchr(name, '/');
		if ((size_t)(db ? db - name : (long)strlen(name)) >=
		    sizeof(r->name))
			goto bad;
		snprintf(r->name, sizeof(r->name), "%.*s",
		    (int)(db ? db - name : (long)strlen(name)), name);
		if (db)
			r->db = atoi(db + 1);
		r->topo = TOPO_SENTINEL;
		snprintf(r->url_shown, sizeof(r->url_shown),
		    "redis+sentinel://%s%.*s/%s/%d", *r->pass ? "***@" : "",
		    (int)(slash - s), s, r->name, r->db);
	} else if (!strncmp(url, "redis+cluster://", 16)) {
		s = url + 16;
		if (parse_userinfo(r, &s) < 0)
			goto bad;
		slash = strchr(s, '/');
		if (parse_hosts(r, s, slash ? slash : s + strlen(s), 0,
		    6379) < 0 || r->nseeds == 0)
			goto bad;
		r->topo = TOPO_CLUSTER;
		snprintf(r->url_shown, sizeof(r->url_shown),
		    "redis+cluster://%s%s", *r->pass ? "***@" : "", s);
	} else {
		*err_r = "store: unknown Redis URL scheme";
		return -1;
	}
	if (r->master == NULL && r->topo == TOPO_SINGLE)
		goto bad;
	if (r->master)
		r->master->wanted = 1;
	return 0;
bad:
	*err_r = "store: bad Redis URL (redis://[USER:PASS@]HOST:PORT[/DB], "
	    "redis+unix:/PATH[?db=N], redis+sentinel://HOST:PORT,.../MASTER, "
	    "redis+cluster://HOST:PORT,...)";
	return -1;
}

/* redis_new - a client for url; connects in the background */
struct redis *redis_new(const char *url, const struct redis_opts *o,
    const char **err_r)
{
	struct redis *r = xcalloc(1, sizeof(*r));
	struct timeval sec = { 1, 0 };

	TAILQ_INIT(&r->cmds);
	TAILQ_INIT(&r->waitq);
	r->base = o->base;
	if (r->base == NULL) {
		r->base = event_base_new();
		r->own_base = 1;
	}
	r->connect_timeout_ms = o->connect_timeout_ms ?
	    o->connect_timeout_ms : 1000;
	snprintf(r->log_name, sizeof(r->log_name), "%s",
	    o->log_name ? o->log_name : "redis");
	r->learnt_ms = -TOPO_RETRY_MS;
	if (parse_url(r, url, err_r) < 0) {
		redis_free(&r);
		return NULL;
	}
	r->kick = event_new(r->base, -1, 0, dispatch, r);
	r->learn_to = evtimer_new(r->base, learn_timeout, r);
	r->relearn = evtimer_new(r->base, relearn, r);
	r->health = event_new(r->base, -1, EV_PERSIST, health, r);
	event_add(r->health, &sec);
	if (r->topo == TOPO_SINGLE)
		node_connect(r->master);
	else
		learn_start(r);
	return r;
}

/* redis_describe - the URL without its password */
void redis_describe(const struct redis *r, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s", r->url_shown);
}

/* redis_free - every command ends (error), every link closes */
void redis_free(struct redis **rp)
{
	struct redis *r = *rp;
	struct rcmd *c, *next;

	*rp = NULL;
	if (r == NULL)
		return;
	for (c = TAILQ_FIRST(&r->cmds); c; c = next) {
		next = TAILQ_NEXT(c, all);
		if (!c->done)
			complete(c, NULL, "store closing");
	}
	for (size_t i = 0; i < r->nnodes; i++) {
		struct rnode *n = r->nodes[i];
		redisAsyncContext *ac = n->ac;

		n->wanted = 0;
		if (ac) {
			n->ac = NULL;
			ac->data = NULL;
			redisAsyncFree(ac);
		}
	}
	/* attempts came back: every command is free now */
	while ((c = TAILQ_FIRST(&r->cmds)) != NULL)
		cmd_free(c);
	for (size_t i = 0; i < r->nnodes; i++) {
		struct rnode *n = r->nodes[i];

		if (n->retry) {
			event_free(n->retry);
			event_free(n->conn_to);
		}
		free(n->unix_path);
		free(n);
	}
	if (r->kick) {
		event_free(r->kick);
		event_free(r->learn_to);
		event_free(r->relearn);
		event_free(r->health);
	}
	free(r->map);
	explicit_bzero(r->pass, sizeof(r->pass));
	if (r->own_base)
		event_base_free(r->base);
	free(r);
}
