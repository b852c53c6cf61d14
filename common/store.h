/*
 * store.h - where greylisting state lives: one small interface, two back
 *           ends: embedded LMDB (the single-host default, store_lmdb.c)
 *           and Redis for fleets (store_redis.c: one server, Sentinel or
 *           Cluster).
 *
 * Public: store_open, store_close, store_grey, store_expire, store_sync,
 *         store_walk, store_delete, store_kind, store_describe.
 * Trust: keys are built by the engine (grey.c) from peer data: client
 *        network, normalized sender and recipient (or their SHA-256 with
 *        privacy on); they are bounded (STORE_KEY_MAX) before they get here.
 * Errors: every operation has three outcomes, as STYLE.md asks: done,
 *         and "retry" (-1 with *err_r: store unreachable, slow, full,
 *         broken): "the store is down" is never read as "not greylisted".
 *
 * The greylisting decision is one atomic operation on the store (an LMDB
 * write transaction; on Redis one server-side script), so several worker
 * threads, processes or MX hosts sharing a store never race: the
 * algorithm is postgrey's (see store_grey).
 *
 * Asynchrony: store_grey answers at once (0 or -1) when it can (the
 * embedded store always does), or returns 1 and calls the callback later
 * from the event loop, exactly once, within the configured timeout.
 */
#ifndef POSTERN_STORE_H
#define POSTERN_STORE_H

#include <stddef.h>
#include <time.h>

#define STORE_KEY_MAX 1024

struct event_base;
struct store;

struct store_opts {
	struct event_base *base;	/* Redis: the loop of its connections
					   (NULL: a private one, for tools) */
	size_t max_entries;		/* embedded: size bound */
	unsigned timeout_ms;		/* Redis: per operation, all told */
	unsigned connect_timeout_ms;	/* Redis: per connection attempt */
	unsigned wait_replicas;		/* Redis: an answer counts once this
					   many replicas have the write */
	const char *prefix;		/* Redis: key prefix ("pg:") */
};

struct store_grey_in {
	const char *shard;	/* the part both keys share (client network
				   or authenticated domain): Redis Cluster
				   hash tag */
	const char *triplet;	/* key of the triplet */
	const char *client;	/* key of the client (auto-whitelist) */
	time_t now;
	unsigned delay;		/* seconds before a retry is accepted */
	unsigned retry_window;	/* a first retry later than this restarts */
	unsigned max_age;	/* entries unused this long are forgotten */
	unsigned awl_clients;	/* successful deliveries to whitelist a
				   client; 0: no auto-whitelisting */
};

struct store_grey_out {
	int awl;		/* client auto-whitelisted: pass */
	long remaining;		/* seconds still to wait (<= 0: pass) */
	time_t first;		/* first seen (this round) */
	int last_was_successful;/* passed before: no X-Greylist again */
	unsigned awl_count;	/* client's successful deliveries */
};

/* a later answer: rc 0 with *out, or -1 with err (static text) */
typedef void store_grey_done(void *arg, int rc,
    const struct store_grey_out *out, const char *err);

enum store_entry_kind { STORE_TRIPLET, STORE_CLIENT };

/* one entry, as the admin tool sees it */
struct store_entry {
	enum store_entry_kind kind;
	const char *shard;	/* its shard (grey_keys), "" if unknown */
	const char *key;	/* triplet or client key (no shard/prefix) */
	long long a, b;		/* triplet: first, last; client: count, last */
};

/* return non-zero to stop the walk.  Deleting needs the shard too (Redis
 * keeps both keys of a triplet on one Cluster node by it): the embedded
 * store ignores it */
typedef int store_walk_fn(void *arg, const struct store_entry *e);

struct store *store_open(const char *spec, const struct store_opts *o,
    const char **err_r);
void store_close(struct store **sp);
const char *store_kind(const struct store *s);
void store_describe(const struct store *s, char *out, size_t outlen);
int store_grey(struct store *s, const struct store_grey_in *in,
    struct store_grey_out *out, store_grey_done *cb, void *arg,
    const char **err_r);
size_t store_expire(struct store *s, time_t now, unsigned max_age,
    size_t batch);
void store_sync(struct store *s);
int store_walk(struct store *s, store_walk_fn *fn, void *arg,
    const char **err_r);
int store_delete(struct store *s, enum store_entry_kind kind,
    const char *shard, const char *key, const char **err_r);

/* internal: the back ends behind store.c */
struct store_ops {
	const char *kind;
	void (*close)(struct store *s);
	void (*describe)(const struct store *s, char *out, size_t outlen);
	int (*grey)(struct store *s, const struct store_grey_in *in,
	    struct store_grey_out *out, store_grey_done *cb, void *arg,
	    const char **err_r);
	size_t (*expire)(struct store *s, time_t now, unsigned max_age,
	    size_t batch);
	void (*sync)(struct store *s);
	int (*walk)(struct store *s, store_walk_fn *fn, void *arg,
	    const char **err_r);
	int (*del)(struct store *s, enum store_entry_kind kind,
	    const char *shard, const char *key, const char **err_r);
};

struct store {
	const struct store_ops *ops;
};

struct store *store_lmdb_open(const char *path, const struct store_opts *o,
    const char **err_r);
struct store *store_redis_open(const char *spec, const struct store_opts *o,
    const char **err_r);

/* the record text both back ends share: "1 A B" */
#define STORE_RECORD_VERSION 1
int store_record_parse(const char *text, size_t len, long long *a,
    long long *b);

#endif
