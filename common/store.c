/*
 * store.c - the store interface over its back ends (see store.h): picks
 *           the back end from the spec and dispatches.
 *
 * Public: see store.h.
 * Trust: the spec is the admin's; records read back are parsed strictly.
 * Errors: as store.h.
 */
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
