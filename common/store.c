/*
 * store.c - the store interface over its back ends (see store.h): picks
 *           the back end from the spec and dispatches.
 *
 * Public: see store.h.
 * Trust: the spec is the admin's; records read back are parsed strictly.
 * Errors: as store.h.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "store.h"

/* store_open - "redis..." URLs are Redis, anything else a directory */
struct store *store_open(const char *spec, const struct store_opts *o,
    const char **err_r)
{
	if (strncmp(spec, "redis://", 8) == 0 ||
	    strncmp(spec, "redis+", 6) == 0)
		return store_redis_open(spec, o, err_r);
	if (strstr(spec, "://") != NULL) {
		*err_r = "store: unknown URL scheme (redis://, redis+unix:, "
		    "redis+sentinel://, redis+cluster:// or a directory)";
		return NULL;
	}
	return store_lmdb_open(spec, o, err_r);
}

/* store_close - release; *sp = NULL */
void store_close(struct store **sp)
{
	struct store *s = *sp;

	*sp = NULL;
	if (s)
		s->ops->close(s);
}

/* store_kind - "embedded" or "redis" */
const char *store_kind(const struct store *s)
{
	return s->ops->kind;
}

/* store_describe - where the store is, for logs (no secrets) */
void store_describe(const struct store *s, char *out, size_t outlen)
{
	s->ops->describe(s, out, outlen);
}

/* store_grey - see store.h */
int store_grey(struct store *s, const struct store_grey_in *in,
    struct store_grey_out *out, store_grey_done *cb, void *arg,
    const char **err_r)
{
	memset(out, 0, sizeof(*out));
	if (strlen(in->triplet) > STORE_KEY_MAX ||
	    strlen(in->client) > STORE_KEY_MAX ||
	    strlen(in->shard) > STORE_KEY_MAX) {
		*err_r = "store: key too long";
		return -1;
	}
	return s->ops->grey(s, in, out, cb, arg, err_r);
}

/* store_expire - forget old entries (Redis expires its own: 0) */
size_t store_expire(struct store *s, time_t now, unsigned max_age,
    size_t batch)
{
	return s->ops->expire ? s->ops->expire(s, now, max_age, batch) : 0;
}

/* store_sync - flush to disk, where that means something */
void store_sync(struct store *s)
{
	if (s->ops->sync)
		s->ops->sync(s);
}

/* store_walk - every entry, for the admin tool (blocking) */
int store_walk(struct store *s, store_walk_fn *fn, void *arg,
    const char **err_r)
{
	return s->ops->walk(s, fn, arg, err_r);
}

/* store_delete - remove one entry (blocking); 1 removed, 0 absent */
int store_delete(struct store *s, enum store_entry_kind kind,
    const char *shard, const char *key, const char **err_r)
{
	if (strlen(key) > STORE_KEY_MAX || strlen(shard) > STORE_KEY_MAX) {
		*err_r = "store: key too long";
		return -1;
	}
	return s->ops->del(s, kind, shard, key, err_r);
}

/* store_bucket_valid - 1..STORE_BUCKET_MAX bytes, none a control byte,
 * space, DEL or brace (a brace would change Redis Cluster's hash tag;
 * bytes below 0x02 would break the embedded store's range seek) */
int store_bucket_valid(const char *bucket)
{
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)bucket; *p;
	    p++, n++)
		if (n >= STORE_BUCKET_MAX || *p <= 0x20 || *p == 0x7f ||
		    *p == '{' || *p == '}')
			return 0;
	return n > 0;
}

/* store_count_id_parse - "SOURCE:SEQ": SOURCE 1..STORE_COUNT_SOURCE_MAX
 * bytes of [A-Za-z0-9._-], SEQ 1..STORE_COUNT_SEQ_MAX in decimal without
 * leading zeros; 0 ok */
int store_count_id_parse(const char *id, size_t *srclen_r, long long *seq_r)
{
	size_t n = strspn(id, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"), dl;
	long long seq = 0;
	const char *d;

	if (n == 0 || n > STORE_COUNT_SOURCE_MAX || id[n] != ':')
		return -1;
	d = id + n + 1;
	dl = strspn(d, "0123456789");
	if (dl == 0 || dl > 15 || d[dl] != '\0' || d[0] == '0')
		return -1;
	for (size_t i = 0; i < dl; i++)
		seq = seq * 10 + (d[i] - '0');
	if (seq > STORE_COUNT_SEQ_MAX)
		return -1;
	*srclen_r = n;
	*seq_r = seq;
	return 0;
}

/* store_count_saturate - a + b, clamped to LLONG_MIN..LLONG_MAX */
long long store_count_saturate(long long a, long long b)
{
	long long r;

	if (__builtin_add_overflow(a, b, &r))
		return b > 0 ? LLONG_MAX : LLONG_MIN;
	return r;
}

/* store_count_add_once - add deltas[i] to counter keys[i] of bucket, all
 * or none; a retry with the same id after an unclear failure counts
 * once (see store.h); id NULL: no such guarantee */
int store_count_add_once(struct store *s, const char *bucket,
    const char *id, const char *const *keys, const long long *deltas,
    size_t n, const char **err_r)
{
	if (!store_bucket_valid(bucket)) {
		*err_r = "store: bad counter bucket name";
		return -1;
	}
	size_t srclen;
	long long seq;

	if (id != NULL && store_count_id_parse(id, &srclen, &seq) < 0) {
		*err_r = "store: bad counter batch id";
		return -1;
	}
	if (n > STORE_COUNT_ADD_MAX) {
		*err_r = "store: too many counters in one add";
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		size_t kl = strlen(keys[i]);

		if (kl == 0 || kl > STORE_COUNTER_KEY_MAX) {
			*err_r = "store: counter key empty or too long";
			return -1;
		}
	}
	if (n == 0)
		return 0;
	return s->ops->count_add(s, bucket, id, keys, deltas, n, err_r);
}

/* store_count_add - store_count_add_once without a batch id */
int store_count_add(struct store *s, const char *bucket,
    const char *const *keys, const long long *deltas, size_t n,
    const char **err_r)
{
	return store_count_add_once(s, bucket, NULL, keys, deltas, n, err_r);
}

/* store_count_buckets - every bucket holding counters (blocking) */
int store_count_buckets(struct store *s, store_bucket_fn *fn, void *arg,
    const char **err_r)
{
	return s->ops->count_buckets(s, fn, arg, err_r);
}

/* store_count_read - every counter of one bucket (blocking) */
int store_count_read(struct store *s, const char *bucket,
    store_count_fn *fn, void *arg, const char **err_r)
{
	if (!store_bucket_valid(bucket)) {
		*err_r = "store: bad counter bucket name";
		return -1;
	}
	return s->ops->count_read(s, bucket, fn, arg, err_r);
}

/* store_count_drop - delete a bucket and its counters (absent: 0) */
int store_count_drop(struct store *s, const char *bucket,
    const char **err_r)
{
	if (!store_bucket_valid(bucket)) {
		*err_r = "store: bad counter bucket name";
		return -1;
	}
	return s->ops->count_drop(s, bucket, err_r);
}

/* store_record_parse - "1 A B" exactly; 1 parsed, 0 not ours */
int store_record_parse(const char *text, size_t len, long long *a,
    long long *b)
{
	char t[64];
	int ver, n = 0;

	if (len >= sizeof(t))
		return 0;
	memcpy(t, text, len);
	t[len] = '\0';
	if (sscanf(t, "%d %lld %lld%n", &ver, a, b, &n) != 3 ||
	    ver != STORE_RECORD_VERSION || t[n] != '\0')
		return 0;
	return 1;
}
