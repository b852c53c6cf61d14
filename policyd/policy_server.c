/*
 * policy_server.c - policy-delegation server core; see policy_server.h.
 *
 * Memory per idle connection is a small struct plus a 64-byte input
 * buffer, so thousands of idle Postfix connections cost little; buffers
 * grow only while a request is being read, up to the request limit.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "inet.h"
#include "listen.h"
#include "log.h"
#include "metrics.h"
#include "policy_server.h"
#include "xalloc.h"

#define READ_CHUNK 16384
#define PEER_MAX 64
#define ACCEPT_PAUSE_MS 100

struct policy_conn {
	struct policy_server *ps;
	int fd;
	struct event *rev, *wev;
	struct buf in, out;
	struct policy_req req;
	struct event *pev;	/* process buffered input from the loop */
	int pending;		/* handler owns the request */
	int eof;		/* client closed its side */
	int dead;		/* close once the pending reply is done */
	int closing;		/* server stopping: close when flushed */
	int started;		/* part of a request received */
	long long req_start;	/* when its first byte came (ms) */
	unsigned long long id;
	char peer[PEER_MAX];
	struct policy_conn *prev, *next;
};

struct policy_server {
	struct event_base *base;
	struct policy_server_config cfg;
	struct evconnlistener **lev;
	size_t nlev;
	policy_handler *fn;
	void *arg;
	struct policy_conn *conns;
	size_t nconns;
	unsigned long long next_id;
	int stopping;
	struct event *resume;
};

static void conn_close(struct policy_conn *pc);
static void conn_process(struct policy_conn *pc);

/* now_ms - monotonic milliseconds */
static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* request_started - the first byte of a request: its deadline starts */
static void request_started(struct policy_conn *pc)
{
	if (!pc->started) {
		pc->started = 1;
		pc->req_start = now_ms();
	}
}

/* ms_tv - milliseconds to timeval */
static struct timeval ms_tv(unsigned ms)
{
	struct timeval tv = { (time_t)(ms / 1000),
	    (suseconds_t)((ms % 1000) * 1000) };

	return tv;
}

/* conn_arm_read - wait for input with the applicable timeout (re-adding
 * an armed persistent event only moves its timer: no system call) */
static void conn_arm_read(struct policy_conn *pc)
{
	struct timeval tv;

	if (pc->eof)
		return;
	if (pc->started) {
		/* a deadline for the whole request, not per byte */
		long long left = pc->req_start +
		    pc->ps->cfg.request_timeout_ms - now_ms();

		tv = ms_tv(left > 0 ? (unsigned)left : 1);
	} else {
		tv = ms_tv(pc->ps->cfg.idle_timeout_ms);
	}
	event_add(pc->rev, &tv);
}

/* conn_flush - write what we can; 0 ok (maybe pending), -1 dead */
static int conn_flush(struct policy_conn *pc)
{
	while (pc->out.len) {
		ssize_t n = send(pc->fd, pc->out.data, pc->out.len,
		    MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				struct timeval tv = ms_tv(
				    pc->ps->cfg.request_timeout_ms);

				event_add(pc->wev, &tv);
				return 0;
			}
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf_consume(&pc->out, (size_t)n);
	}
	event_del(pc->wev);
	return 0;
}

/* bad_request - log, close without reply */
static void bad_request(struct policy_conn *pc, const char *why)
{
	log_warn("malformed request from %s: %s; closing connection",
	    pc->peer, why);
	if (pc->ps->cfg.m_malformed)
		metric_inc(pc->ps->cfg.m_malformed, why);
	conn_close(pc);
}

/* conn_process - parse buffered lines until a request is complete */
static void conn_process(struct policy_conn *pc)
{
	size_t pos = 0;		/* consumed once, not per line */

	while (!pc->pending && !pc->dead) {
		char *nl = memchr(pc->in.data + pos, '\n', pc->in.len - pos);
		const char *line = pc->in.data + pos, *why;
		enum policy_feed f;

		if (pc->closing) {
			if (pc->out.len == 0)
				conn_close(pc);	/* else conn_write does */
			return;
		}
		if (nl == NULL) {
			buf_consume(&pc->in, pos);
			if (pc->in.len > pc->req.lim.line_max) {
				bad_request(pc, "line too long");
				return;
			}
			if (pc->eof) {
				if (pc->started || pc->in.len)
					log_info("connection from %s closed "
					    "in the middle of a request",
					    pc->peer);
				conn_close(pc);
				return;
			}
			conn_arm_read(pc);
			return;
		}
		request_started(pc);
		pos = (size_t)(nl - pc->in.data) + 1;
		f = policy_req_line(&pc->req, line, (size_t)(nl - line), &why);
		if (f == POLICY_BAD) {
			bad_request(pc, why);
			return;
		}
		if (f == POLICY_DONE) {
			/* the read event stays armed (no epoll change per
			 * request); conn_read only buffers while pending.
			 * The handler may answer at once: policy_reply()
			 * then schedules the rest, never recursing here. */
			buf_consume(&pc->in, pos);
			pc->pending = 1;
			pc->ps->fn(pc, &pc->req, pc->ps->arg);
			return;
		}
	}
	buf_consume(&pc->in, pos);
}

/* process_cb - continue with buffered input after a reply */
static void process_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_process(arg);
}

/* conn_read - readable or timed out */
static void conn_read(evutil_socket_t fd, short what, void *arg)
{
	struct policy_conn *pc = arg;
	char chunk[READ_CHUNK];
	size_t room;
	ssize_t n;

	if (what & EV_TIMEOUT) {
		if (pc->pending)
			return;		/* our handler is slow, not the client */
		if (pc->started && now_ms() - pc->req_start <
		    pc->ps->cfg.request_timeout_ms) {
			conn_arm_read(pc);
			return;
		}
		if (pc->started)
			log_info("timeout reading a request from %s",
			    pc->peer);
		conn_close(pc);
		return;
	}
	room = pc->in.max - pc->in.len;	/* never read past the bound */
	if (room == 0) {
		bad_request(pc, "request too large");
		return;
	}
	n = recv(fd, chunk, room < sizeof(chunk) ? room : sizeof(chunk), 0);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		conn_close(pc);
		return;
	}
	if (n == 0) {
		pc->eof = 1;
		event_del(pc->rev);	/* nothing more will come */
	} else {
		request_started(pc);
		if (buf_append(&pc->in, chunk, (size_t)n) < 0) {
			bad_request(pc, "request too large");
			return;
		}
	}
	if (!pc->pending)
		conn_process(pc);
	else if (pc->in.len >= pc->req.lim.line_max)
		event_del(pc->rev);	/* enough queued: let TCP push back */
}

/* conn_write - writable again, or write timed out */
static void conn_write(evutil_socket_t fd, short what, void *arg)
{
	struct policy_conn *pc = arg;

	(void)fd;
	if ((what & EV_TIMEOUT) || conn_flush(pc) < 0) {
		conn_close(pc);
		return;
	}
	if (pc->out.len == 0 && !pc->pending &&
	    (pc->closing || (pc->eof && pc->in.len == 0)))
		conn_close(pc);
}

/* policy_reply - answer the pending request: "action=ACTION\n\n" */
void policy_reply(struct policy_conn *pc, const char *action)
{
	if (!pc->pending)
		log_panic("policy_reply without a pending request");
	pc->pending = 0;
	pc->started = 0;
	policy_req_reset(&pc->req);
	if (pc->dead) {
		conn_close(pc);
		return;
	}
	if (buf_appends(&pc->out, "action=") < 0)
		goto overflow;
	policy_action_text(&pc->out, action);
	if (buf_appends(&pc->out, "\n\n") < 0)
		goto overflow;
	if (conn_flush(pc) < 0) {
		conn_close(pc);
		return;
	}
	if (pc->ps->stopping)
		pc->closing = 1;
	if (pc->closing || (pc->eof && pc->in.len == 0)) {
		if (pc->out.len == 0)
			conn_close(pc);
		return;
	}
	/* more requests may be buffered: continue from the event loop */
	pc->started = pc->in.len > 0;
	if (pc->started)
		pc->req_start = now_ms();
	if (!pc->eof)
		event_add(pc->rev, NULL);	/* if backpressure paused it */
	event_active(pc->pev, EV_TIMEOUT, 1);
	return;
overflow:
	log_error("reply to %s does not fit; closing", pc->peer);
	conn_close(pc);
}

/* conn_close - release now, or when the pending request is answered */
static void conn_close(struct policy_conn *pc)
{
	struct policy_server *ps = pc->ps;

	if (pc->pending) {
		pc->dead = 1;
		event_del(pc->rev);
		event_del(pc->wev);
		return;
	}
	if (pc->prev)
		pc->prev->next = pc->next;
	else
		ps->conns = pc->next;
	if (pc->next)
		pc->next->prev = pc->prev;
	__atomic_sub_fetch(&ps->nconns, 1, __ATOMIC_RELAXED);
	event_free(pc->rev);
	event_free(pc->wev);
	event_free(pc->pev);
	close(pc->fd);
	buf_free(&pc->in);
	buf_free(&pc->out);
	policy_req_free(&pc->req);
	free(pc);
	if (ps->resume && ps->nconns < ps->cfg.max_conns && !ps->stopping) {
		for (size_t i = 0; i < ps->nlev; i++)
			evconnlistener_enable(ps->lev[i]);
	}
}

/* describe_peer - "ip[port]" or "unix" */
static void describe_peer(const struct sockaddr *sa, char *out, size_t len)
{
	char ip[IP_STR_MAX];

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)sa;

		inet_ntop(AF_INET, &s->sin_addr, ip, sizeof(ip));
		snprintf(out, len, "%s[%u]", ip, ntohs(s->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const void *)sa;

		inet_ntop(AF_INET6, &s->sin6_addr, ip, sizeof(ip));
		snprintf(out, len, "%s[%u]", ip, ntohs(s->sin6_port));
	} else {
		snprintf(out, len, "unix");
	}
}

/* accept_cb - a new client */
static void accept_cb(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct policy_server *ps = arg;
	struct policy_conn *pc;
	int on = 1;

	(void)l;
	(void)salen;
	if (ps->nconns >= ps->cfg.max_conns) {
		char peer[PEER_MAX];

		describe_peer(sa, peer, sizeof(peer));
		log_warn("connection limit %zu reached; refusing %s",
		    ps->cfg.max_conns, peer);
		if (ps->cfg.m_refused)
			metric_inc(ps->cfg.m_refused, NULL);
		close(fd);
		return;
	}
	evutil_make_socket_nonblocking(fd);
	evutil_make_socket_closeonexec(fd);
	if (sa->sa_family != AF_UNIX)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	pc = xcalloc(1, sizeof(*pc));
	pc->ps = ps;
	pc->fd = fd;
	pc->id = ++ps->next_id;
	describe_peer(sa, pc->peer, sizeof(pc->peer));
	buf_init(&pc->in, ps->cfg.limits.request_max +
	    ps->cfg.limits.line_max);
	buf_init(&pc->out, 64 * 1024);
	policy_req_init(&pc->req, &ps->cfg.limits);
	pc->rev = event_new(ps->base, fd, EV_READ | EV_PERSIST, conn_read,
	    pc);
	pc->wev = event_new(ps->base, fd, EV_WRITE, conn_write, pc);
	pc->pev = event_new(ps->base, -1, 0, process_cb, pc);
	pc->next = ps->conns;
	if (ps->conns)
		ps->conns->prev = pc;
	ps->conns = pc;
	__atomic_add_fetch(&ps->nconns, 1, __ATOMIC_RELAXED);
	conn_arm_read(pc);
}

/* resume_cb - accept again after running out of descriptors */
static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct policy_server *ps = arg;

	(void)fd;
	(void)what;
	if (ps->stopping)
		return;
	for (size_t i = 0; i < ps->nlev; i++)
		evconnlistener_enable(ps->lev[i]);
}

/* accept_error - e.g. EMFILE: pause accepting briefly */
static void accept_error(struct evconnlistener *l, void *arg)
{
	struct policy_server *ps = arg;
	struct timeval tv = ms_tv(ACCEPT_PAUSE_MS);
	int e = EVUTIL_SOCKET_ERROR();

	(void)l;
	log_warn("accept: %s; pausing", evutil_socket_error_to_string(e));
	for (size_t i = 0; i < ps->nlev; i++)
		evconnlistener_disable(ps->lev[i]);
	evtimer_add(ps->resume, &tv);
}

/* policy_listeners_open - bind every listener (before dropping
 * privileges); *fds_r gets one descriptor per cfg->listen entry */
int policy_listeners_open(const struct policy_server_config *cfg,
    int **fds_r, const char **err_r)
{
	int *fds = xcalloc(cfg->nlisten ? cfg->nlisten : 1, sizeof(int));

	for (size_t i = 0; i < cfg->nlisten; i++) {
		struct listen_addr la;

		if (listen_parse(cfg->listen[i], &la, err_r) < 0 ||
		    (fds[i] = listen_open(&la, 1024, cfg->unix_mode,
		    cfg->unix_gid, err_r)) < 0) {
			while (i-- > 0)
				close(fds[i]);
			free(fds);
			return -1;
		}
		log_info("listening on %s", la.desc);
	}
	*fds_r = fds;
	return 0;
}

/*
 * policy_server_new - serve the bound listeners fds on base.  Several
 * servers (one per worker thread) may share the same listeners: each
 * accepts on its own duplicate of the descriptors, and the kernel hands
 * each new connection to one of them.
 */
struct policy_server *policy_server_new(struct event_base *base,
    const struct policy_server_config *cfg, const int *fds,
    policy_handler *fn, void *arg, const char **err_r)
{
	struct policy_server *ps = xcalloc(1, sizeof(*ps));

	ps->base = base;
	ps->cfg = *cfg;
	ps->fn = fn;
	ps->arg = arg;
	ps->lev = xcalloc(cfg->nlisten ? cfg->nlisten : 1, sizeof(*ps->lev));
	ps->resume = evtimer_new(base, resume_cb, ps);
	for (size_t i = 0; i < cfg->nlisten; i++) {
		int fd = fcntl(fds[i], F_DUPFD_CLOEXEC, 0);

		if (fd >= 0)
			ps->lev[i] = evconnlistener_new(base, accept_cb, ps,
			    LEV_OPT_CLOSE_ON_FREE, -1, fd);
		if (fd < 0 || ps->lev[i] == NULL) {
			if (fd >= 0)
				close(fd);
			*err_r = "cannot set up a listener";
			policy_server_free(&ps);
			return NULL;
		}
		evconnlistener_set_error_cb(ps->lev[i], accept_error);
		ps->nlev++;
	}
	return ps;
}

/* policy_server_set_handler - swap the handler (reload) */
void policy_server_set_handler(struct policy_server *ps, policy_handler *fn,
    void *arg)
{
	ps->fn = fn;
	ps->arg = arg;
}

/* policy_server_stop - stop accepting, close idle connections; requests
 * in flight are answered and their connections closed after */
void policy_server_stop(struct policy_server *ps)
{
	struct policy_conn *pc, *next;

	ps->stopping = 1;
	for (size_t i = 0; i < ps->nlev; i++)
		evconnlistener_disable(ps->lev[i]);
	for (pc = ps->conns; pc; pc = next) {
		next = pc->next;
		if (!pc->pending && pc->out.len == 0)
			conn_close(pc);
		else
			pc->closing = 1;	/* after the reply is out */
	}
}

/* policy_server_conns - open connections */
size_t policy_server_conns(const struct policy_server *ps)
{
	return __atomic_load_n(&ps->nconns, __ATOMIC_RELAXED);
}

/* policy_server_free - close everything; pending handlers must be done */
void policy_server_free(struct policy_server **psp)
{
	struct policy_server *ps = *psp;

	*psp = NULL;
	if (ps == NULL)
		return;
	while (ps->conns) {
		ps->conns->pending = 0;
		conn_close(ps->conns);
	}
	for (size_t i = 0; i < ps->nlev; i++)
		evconnlistener_free(ps->lev[i]);
	free(ps->lev);
	event_free(ps->resume);
	free(ps);
}

/* policy_conn_peer - "ip[port]" of the client, for logs */
const char *policy_conn_peer(const struct policy_conn *pc)
{
	return pc->peer;
}

/* policy_conn_id - connection number, for logs */
unsigned long long policy_conn_id(const struct policy_conn *pc)
{
	return pc->id;
}
