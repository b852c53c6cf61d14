/*
 * redis.h - an asynchronous Redis client over hiredis 0.14 and libevent
 *           that also knows Sentinel and Cluster, which hiredis 0.14
 *           does not: the small routing layer the greylisting store
 *           (and later the DMARC report store) stands on.
 *
 * Public: redis_new, redis_free, redis_command, redis_wait,
 *         redis_masters, redis_describe, redis_crc16_slot.
 * Trust: the URL is the admin's; replies come from the configured
 *        servers and are still checked for type and size by the caller.
 *        A password is sent with AUTH, never logged.
 * Errors: redis_command always ends in the callback, exactly once, from
 *         the event loop (never inside redis_command), with a reply or
 *         with an error text (static or per-thread) within the
 *         command's time limit.
 *
 * URLs: redis://[[USER]:PASS@]HOST[:PORT][/DB], redis+unix:/PATH[?db=N]
 *       (user/password as ?user=U&password=P), redis+sentinel://HOST:PORT,
 *       HOST:PORT/MASTER[/DB], redis+cluster://HOST:PORT,HOST:PORT.
 *
 * Topologies:
 *  - one server: one connection, reconnected with back-off;
 *  - Sentinel: the master's address is asked from the Sentinels
 *    (SENTINEL get-master-addr-by-name), checked with ROLE, and asked
 *    again when the connection drops, a write meets READONLY, and every
 *    few seconds; commands wait (within their time limit) meanwhile;
 *  - Cluster: a slot map from CLUSTER SLOTS; a command goes to the
 *    master of its key's slot (hash tags honoured), MOVED updates the
 *    map (and refreshes it), ASK is followed once with ASKING;
 *    TRYAGAIN, CLUSTERDOWN and LOADING are retried shortly.
 * While a server is unreachable its commands fail at once, so callers
 * get a bounded delay and can fail open; reconnecting goes on in the
 * background.
 */
#ifndef POSTERN_REDIS_H
#define POSTERN_REDIS_H

#include <stddef.h>

struct event_base;
struct redis;
struct redisReply;

struct redis_opts {
	struct event_base *base;	/* NULL: a private loop (tools) */
	unsigned connect_timeout_ms;
	const char *log_name;		/* prefix of log lines ("store") */
};

/* flags of redis_command */
#define REDIS_IDEMPOTENT 1	/* safe to send again after a connection
				   was lost with the command unanswered */

/* reply is hiredis's (freed after return: copy what you keep) or NULL
 * with err */
typedef void redis_reply_fn(void *arg, struct redisReply *reply,
    const char *err);

struct redis *redis_new(const char *url, const struct redis_opts *o,
    const char **err_r);
void redis_free(struct redis **rp);
void redis_describe(const struct redis *r, char *out, size_t outlen);
int redis_command(struct redis *r, const char *key, int node, int flags,
    unsigned timeout_ms, redis_reply_fn *cb, void *arg, int argc,
    const char **argv, const size_t *argvlen);
void redis_wait(struct redis *r, const int *done);
int redis_masters(struct redis *r, unsigned timeout_ms, const char **err_r);
unsigned redis_crc16_slot(const char *key, size_t len);

#endif
