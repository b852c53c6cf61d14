/*
 * store.h - where greylisting state and report counters live: one small
 *           interface, two back ends: embedded LMDB (the single-host
 *           default, store_lmdb.c) and Redis for fleets (store_redis.c:
 *           one server, Sentinel or Cluster).
 *
 * Public: store_open, store_close, store_grey, store_expire, store_sync,
 *         store_walk, store_delete, store_kind, store_describe,
 *         store_count_add, store_count_add_once, store_count_buckets,
 *         store_count_read, store_count_drop, store_bucket_valid,
 *         store_count_id_parse, store_count_saturate.
 * Trust: keys are built by the engine (grey.c) from peer data: client
 *        network, normalized sender and recipient (or their SHA-256 with
 *        privacy on); they are bounded (STORE_KEY_MAX) before they get here.
 *        Counter buckets and keys (dmarc_agg.c's rows) are checked here:
 *        bucket names (STORE_BUCKET_MAX, no braces or control bytes),
 *        keys (STORE_COUNTER_KEY_MAX), counters per call
 *        (STORE_COUNT_ADD_MAX).  What is read back may have been written
 *        by another host: counts are parsed strictly, keys are handed
 *        over with their length for the caller to check.
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
 *
 * Counters (store_count_*): named buckets of 64-bit counters, for the
 * DMARC aggregate-report data (dmarc_agg.c).  They are synchronous: the
 * DMARC milter adds from its own flusher thread, the report tool is a
 * command-line program; on Redis open such a store with base NULL (a
 * private loop) and use it from one thread at a time.  One
 * store_count_add is atomic: all of its counters move or none (one LMDB
 * write transaction; one Redis script).  Counts saturate at LLONG_MAX /
 * LLONG_MIN instead of overflowing.
 *
 * Exactly once: an add that failed for sure (store down, map full)
 * changed nothing, so the caller keeps its deltas and retries.  A Redis
 * call that timed out may still have run; store_count_add_once takes a
 * batch id "SOURCE:SEQ" (SOURCE names the caller, e.g. a random id per
 * process; SEQ counts up from 1) and Redis keeps, per bucket, the last
 * SEQ applied for each SOURCE: an add whose SEQ is not above it was
 * applied already and is skipped (a success).  So a retry with the same
 * id counts once, provided one SOURCE sends a bucket's batches in SEQ
 * order (a later batch of that bucket only once the earlier one
 * succeeded).  The embedded store keeps the same record in the add's
 * transaction (same semantics; there a failed add is never in doubt).
 * Dropping a bucket makes the embedded store forget its ids; Redis keeps
 * them STORE_COUNT_IDS_TTL more, for a retry still in flight.
 */
#ifndef POSTERN_STORE_H
#define POSTERN_STORE_H

#include <stddef.h>
#include <time.h>

#define STORE_KEY_MAX 1024
#define STORE_BUCKET_MAX 300		/* bytes of a counter bucket name */
#define STORE_COUNTER_KEY_MAX 4096	/* bytes of one counter's key */
#define STORE_COUNT_ADD_MAX 1000	/* counters in one store_count_add */
#define STORE_COUNT_SOURCE_MAX 40	/* bytes of a batch id's SOURCE */
#define STORE_COUNT_SEQ_MAX 999999999999999LL	/* exact in Lua numbers */
#define STORE_COUNT_IDS_TTL (7 * 86400)	/* Redis: a dropped bucket's
					   applied ids are kept this long */

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

/* store_count_buckets: each bucket name once; non-zero stops.  It may
 * write to the store (drop the bucket it was given) */
typedef int store_bucket_fn(void *arg, const char *bucket);
/* store_count_read: one counter; key is NUL-terminated, keylen bytes
 * (1..STORE_COUNTER_KEY_MAX: longer keys and counts that do not parse
 * are not ours and are skipped, with a warning); the caller still checks
 * what the key says.  Non-zero stops.  It must not write to the store */
typedef int store_count_fn(void *arg, const char *key, size_t keylen,
    long long count);

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
int store_count_add(struct store *s, const char *bucket,
    const char *const *keys, const long long *deltas, size_t n,
    const char **err_r);
int store_count_add_once(struct store *s, const char *bucket,
    const char *id, const char *const *keys, const long long *deltas,
    size_t n, const char **err_r);
int store_count_buckets(struct store *s, store_bucket_fn *fn, void *arg,
    const char **err_r);
int store_count_read(struct store *s, const char *bucket,
    store_count_fn *fn, void *arg, const char **err_r);
int store_count_drop(struct store *s, const char *bucket,
    const char **err_r);
int store_bucket_valid(const char *bucket);
int store_count_id_parse(const char *id, size_t *srclen_r, long long *seq_r);
long long store_count_saturate(long long a, long long b);

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
	/* counters: arguments checked by store.c; id may be NULL */
	int (*count_add)(struct store *s, const char *bucket, const char *id,
	    const char *const *keys, const long long *deltas, size_t n,
	    const char **err_r);
	int (*count_buckets)(struct store *s, store_bucket_fn *fn, void *arg,
	    const char **err_r);
	int (*count_read)(struct store *s, const char *bucket,
	    store_count_fn *fn, void *arg, const char **err_r);
	int (*count_drop)(struct store *s, const char *bucket,
	    const char **err_r);
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
