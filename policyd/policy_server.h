/*
 * policy_server.h - a reusable Postfix policy-delegation server: many
 *                   persistent connections on one event loop, requests
 *                   parsed and bounded, replies written back in order.
 *
 * Public: policy_listeners_open, policy_server_new, policy_server_free,
 *         policy_server_stop,
 *         policy_server_conns, policy_reply, policy_conn_peer.
 * Trust: clients are untrusted (see policy_proto.h).  A malformed request
 *        is logged with the peer and the reason, and the connection is
 *        closed without a reply, so Postfix retries and then applies its
 *        default action.  Idle and slow clients are timed out; the number
 *        of connections is capped.
 * Errors: policy_listeners_open returns -1 with *err_r (bind failures).
 *
 * The handler is called once per complete request and must answer it
 * with policy_reply() exactly once, now or later (asynchronous engines).
 * The request and connection stay valid until then, even if the client
 * went away meanwhile.  One request per connection is handled at a time;
 * pipelined requests wait their turn.
 */
#ifndef POSTERN_POLICY_SERVER_H
#define POSTERN_POLICY_SERVER_H

#include <stddef.h>
#include <sys/types.h>

#include "policy_proto.h"

struct event_base;
struct policy_server;
struct policy_conn;

typedef void policy_handler(struct policy_conn *pc,
    const struct policy_req *req, void *arg);

struct policy_server_config {
	const char *const *listen;	/* listener specs */
	size_t nlisten;
	size_t max_conns;
	unsigned idle_timeout_ms;	/* between requests */
	unsigned request_timeout_ms;	/* to finish a started request */
	int unix_mode;			/* permissions of unix sockets */
	gid_t unix_gid;			/* their group, or (gid_t)-1 */
	struct policy_limits limits;
	struct metric *m_malformed;	/* by reason, or NULL */
	struct metric *m_refused;	/* over the connection limit, or NULL */
};

int policy_listeners_open(const struct policy_server_config *cfg,
    int **fds_r, const char **err_r);
struct policy_server *policy_server_new(struct event_base *base,
    const struct policy_server_config *cfg, const int *fds,
    policy_handler *fn, void *arg, const char **err_r);
void policy_server_set_handler(struct policy_server *ps, policy_handler *fn,
    void *arg);
void policy_server_stop(struct policy_server *ps);
void policy_server_free(struct policy_server **psp);
size_t policy_server_conns(const struct policy_server *ps);

void policy_reply(struct policy_conn *pc, const char *action);
const char *policy_conn_peer(const struct policy_conn *pc);
unsigned long long policy_conn_id(const struct policy_conn *pc);

#endif
