/*
 * store_lmdb.c - the embedded store: LMDB in a directory, the
 *                single-host default (nothing to run).
 *
 * Public: store_lmdb_open (the rest through store.h's operations).
 * Trust: keys and values come from the engine; values read back from the
 *        file are parsed strictly (a record that does not parse counts as
 *        absent, and is overwritten).
 * Errors: -1 with *err_r (static text) when LMDB fails (map full, I/O).
 *
 * Records are versioned text, as STYLE.md asks: "1 FIRST LAST" for a
 * triplet, "1 COUNT LAST" for a client.  Every decision is one write
 * transaction: LMDB serializes writers across threads and processes, so
 * the read-modify-write of postgrey's algorithm is atomic.
 *
 * Counters (store_count_*) live in a third table, "counters": the key
 * is BUCKET NUL SHA-256(COUNTER KEY) (LMDB keys stop at 511 bytes, a
 * counter key may have 4096), the value "1 COUNT COUNTER-KEY" (version,
 * decimal count, the key itself, so a read gets it back and an add can
 * tell a hash collision from its own key).  A bucket's counters are
 * adjacent; the next bucket starts at or after BUCKET "\x01" (bucket
 * names have no byte below 0x21), so listing buckets seeks once per
 * bucket instead of stepping over its rows.  A fourth table,
 * "count_ids", keeps store_count_add_once's last SEQ per bucket and
 * SOURCE (key BUCKET NUL SOURCE, value "1 SEQ"), checked in the add's
 * transaction, so a call repeated with its id counts once here too;
 * drop forgets them (a commit is never in doubt here, so no late retry
 * can come after a drop).
 *
 * Durability: the environment is opened MDB_NOSYNC and store_sync() (a
 * timer in the daemon, every second) flushes it.  MDB_WRITEMAP writes
 * pages straight into the shared mapping (no write(2) per commit: 1.6x
 * the decisions per second in bench/grey-bench.sh); the data file is
 * then as large as the map, sparse.  A crashed or killed
 * daemon loses nothing (committed pages are in the kernel); an operating
 * system crash can lose the last second of updates, never the database.
 */
#include <errno.h>
#include <inttypes.h>
#include <lmdb.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "store.h"
#include "xalloc.h"

#define BYTES_PER_ENTRY 512	/* map size per allowed entry, generous */
#define MAP_MIN (16u << 20)
#define MAX_DBS 8		/* named tables: 4 used, room to grow */
#define CKEY_MAX (STORE_BUCKET_MAX + 1 + SHA256_DIGEST_LENGTH)
#define IKEY_MAX (STORE_BUCKET_MAX + 1 + STORE_COUNT_SOURCE_MAX)
#define COUNT_TEXT_MAX 24	/* "1 -9223372036854775808 " */
#define BUCKETS_BATCH 64	/* names listed per read transaction */
#define DROP_BATCH 10000	/* counters deleted per write transaction */

struct lstore {
	struct store base;	/* first: a struct store * is a struct lstore * */
	MDB_env *env;
	MDB_dbi triplets, clients, counters, ids;
	char *path;
};

/* lmdb_err - LMDB's message, kept per thread */
static const char *lmdb_err(int rc)
{
	static __thread char buf[160];

	snprintf(buf, sizeof(buf), "embedded store: %s", mdb_strerror(rc));
	return buf;
}

/* txn_commit - commit a write transaction (which frees it, even
 * failing): 0, or -1 with LMDB's message */
static int txn_commit(MDB_txn *txn, const char **err_r)
{
	int rc = mdb_txn_commit(txn);

	if (rc != 0) {
		*err_r = lmdb_err(rc);
		return -1;
	}
	return 0;
}

/* txn_fail - abort a transaction after the LMDB error rc: -1 with its
 * message */
static int txn_fail(MDB_txn *txn, int rc, const char **err_r)
{
	mdb_txn_abort(txn);
	*err_r = lmdb_err(rc);
	return -1;
}

/* mkdirs - create path and missing parents, private (0700) */
static int mkdirs(const char *path)
{
	char tmp[4096];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(tmp, path, n + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

static const struct store_ops lmdb_ops;

/* store_lmdb_open - open (creating if needed) the store at directory spec */
struct store *store_lmdb_open(const char *spec, const struct store_opts *o,
    const char **err_r)
{
	struct lstore *s;
	MDB_txn *txn;
	size_t map;
	int rc;

	if (mkdirs(spec) < 0) {
		static __thread char e[300];

		snprintf(e, sizeof(e), "store %.200s: %s", spec,
		    strerror(errno));
		*err_r = e;
		return NULL;
	}
	s = xcalloc(1, sizeof(*s));
	s->base.ops = &lmdb_ops;
	s->path = xstrdup(spec);
	map = (o->max_entries ? o->max_entries : 1000000) * BYTES_PER_ENTRY;
	if (map < MAP_MIN)
		map = MAP_MIN;
	if ((rc = mdb_env_create(&s->env)) != 0 ||
	    (rc = mdb_env_set_maxdbs(s->env, MAX_DBS)) != 0 ||
	    (rc = mdb_env_set_mapsize(s->env, map)) != 0 ||
	    (rc = mdb_env_open(s->env, spec, MDB_NOSYNC | MDB_NOTLS |
	    MDB_WRITEMAP, 0600)) != 0)
		goto bad;
	if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0)
		goto bad;
	if ((rc = mdb_dbi_open(txn, "triplets", MDB_CREATE,
	    &s->triplets)) != 0 ||
	    (rc = mdb_dbi_open(txn, "clients", MDB_CREATE,
	    &s->clients)) != 0 ||
	    (rc = mdb_dbi_open(txn, "counters", MDB_CREATE,
	    &s->counters)) != 0 ||
	    (rc = mdb_dbi_open(txn, "count_ids", MDB_CREATE, &s->ids)) != 0) {
		mdb_txn_abort(txn);
		goto bad;
	}
	if ((rc = mdb_txn_commit(txn)) != 0)
		goto bad;
	return &s->base;
bad:
	*err_r = lmdb_err(rc);
	if (s->env)
		mdb_env_close(s->env);
	free(s->path);
	free(s);
	return NULL;
}

/* lmdb_close - flush and close */
static void lmdb_close(struct store *st)
{
	struct lstore *s = (struct lstore *)st;

	mdb_env_sync(s->env, 1);
	mdb_env_close(s->env);
	free(s->path);
	free(s);
}

/* lmdb_describe - the directory */
static void lmdb_describe(const struct store *st, char *out, size_t outlen)
{
	snprintf(out, outlen, "embedded %s", ((const struct lstore *)st)->path);
}

/* lmdb_sync - flush committed updates to disk */
static void lmdb_sync(struct store *st)
{
	mdb_env_sync(((struct lstore *)st)->env, 1);
}

/* get_pair - read "1 A B" at key; 1 found, 0 absent, -1 error */
static int get_pair(MDB_txn *txn, MDB_dbi dbi, const char *key,
    long long *a, long long *b, int *rc_r)
{
	MDB_val k = { strlen(key), (void *)key }, v;

	*rc_r = mdb_get(txn, dbi, &k, &v);
	if (*rc_r == MDB_NOTFOUND)
		return 0;
	if (*rc_r != 0)
		return -1;
	/* a record that does not parse is not ours: treat as absent */
	return store_record_parse(v.mv_data, v.mv_size, a, b);
}

/* put_pair - write "1 A B" at key */
static int put_pair(MDB_txn *txn, MDB_dbi dbi, const char *key,
    long long a, long long b)
{
	char text[64];
	int n = snprintf(text, sizeof(text), "%d %lld %lld", STORE_RECORD_VERSION,
	    a, b);
	MDB_val k = { strlen(key), (void *)key }, v = { (size_t)n, text };

	return mdb_put(txn, dbi, &k, &v, 0);
}

/*
 * lmdb_grey - postgrey's algorithm as one transaction (store_redis.c's
 * script does the same steps):
 *  1. a client with awl_clients successful deliveries passes (its
 *     last-seen is refreshed at most hourly);
 *  2. the triplet's first-seen is kept, or restarted when the first retry
 *     comes after retry_window (or the date is in the future);
 *  3. a triplet that waited long enough counts one delivery for its
 *     client, at most one per hour.
 */
static int lmdb_grey(struct store *st, const struct store_grey_in *in,
    struct store_grey_out *out, store_grey_done *cb, void *arg,
    const char **err_r)
{
	struct lstore *s = (struct lstore *)st;
	MDB_txn *txn;
	long long first, last, count = 0, clast = 0;
	int rc, have, chave = 0;

	(void)cb;
	(void)arg;
	if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0) {
		*err_r = lmdb_err(rc);
		return -1;
	}
	if (in->awl_clients) {
		chave = get_pair(txn, s->clients, in->client, &count, &clast,
		    &rc);
		if (chave < 0)
			goto fail;
		/* an entry unused for max_age is forgotten */
		if (chave && in->now - clast > (long long)in->max_age)
			chave = 0, count = 0, clast = 0;
		if (chave && count >= in->awl_clients) {
			out->awl = 1;
			out->awl_count = (unsigned)count;
			if (in->now >= clast + 3600 || clast > in->now) {
				rc = put_pair(txn, s->clients, in->client,
				    count + 1, in->now);
				if (rc != 0)
					goto fail;
				out->awl_count++;
			}
			goto commit;
		}
	}
	have = get_pair(txn, s->triplets, in->triplet, &first, &last, &rc);
	if (have < 0)
		goto fail;
	if (have && in->now - last > (long long)in->max_age)
		have = 0;
	if (have) {
		if (last - first >= (long long)in->delay)
			out->last_was_successful = 1;
		else if (in->now - first > (long long)in->retry_window)
			first = in->now;
		if (first > in->now)
			first = in->now;
	} else {
		first = in->now;
	}
	if ((rc = put_pair(txn, s->triplets, in->triplet, first,
	    in->now)) != 0)
		goto fail;
	out->first = (time_t)first;
	out->remaining = (long)(in->delay - (in->now - first));
	if (in->awl_clients && out->remaining <= 0 &&
	    !out->last_was_successful &&
	    (!chave || in->now >= clast + 3600)) {
		count++;
		if ((rc = put_pair(txn, s->clients, in->client, count,
		    in->now)) != 0)
			goto fail;
	}
	out->awl_count = (unsigned)count;
commit:
	return txn_commit(txn, err_r);
fail:
	return txn_fail(txn, rc, err_r);
}

/* expire_dbi - delete up to batch records unused for max_age */
static size_t expire_dbi(struct lstore *s, MDB_dbi dbi, time_t now,
    unsigned max_age, size_t batch)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	size_t n = 0;
	int rc;

	if (mdb_txn_begin(s->env, NULL, 0, &txn) != 0)
		return 0;
	if (mdb_cursor_open(txn, dbi, &cur) != 0) {
		mdb_txn_abort(txn);
		return 0;
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 &&
	    n < batch; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		long long a, last;

		if (store_record_parse(v.mv_data, v.mv_size, &a, &last) &&
		    now - last > (long long)max_age &&
		    mdb_cursor_del(cur, 0) == 0)
			n++;
	}
	mdb_cursor_close(cur);
	if (mdb_txn_commit(txn) != 0)
		return 0;
	return n;
}

/* lmdb_expire - forget entries unused for max_age (background work, in
 * bounded batches); returns how many went */
static size_t lmdb_expire(struct store *st, time_t now, unsigned max_age,
    size_t batch)
{
	struct lstore *s = (struct lstore *)st;

	return expire_dbi(s, s->triplets, now, max_age, batch) +
	    expire_dbi(s, s->clients, now, max_age, batch);
}

/* lmdb_walk - every entry of both tables, in a read transaction */
static int lmdb_walk(struct store *st, store_walk_fn *fn, void *arg,
    const char **err_r)
{
	struct lstore *s = (struct lstore *)st;
	MDB_dbi dbis[2] = { s->triplets, s->clients };
	char key[STORE_KEY_MAX + 1];
	MDB_txn *txn;
	int rc, stop = 0;

	if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn)) != 0) {
		*err_r = lmdb_err(rc);
		return -1;
	}
	for (int i = 0; i < 2 && !stop; i++) {
		MDB_cursor *cur;
		MDB_val k, v;

		if ((rc = mdb_cursor_open(txn, dbis[i], &cur)) != 0)
			break;
		for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
		    rc == 0 && !stop;
		    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			struct store_entry e;

			if (k.mv_size > STORE_KEY_MAX ||
			    !store_record_parse(v.mv_data, v.mv_size, &e.a,
			    &e.b))
				continue;
			memcpy(key, k.mv_data, k.mv_size);
			key[k.mv_size] = '\0';
			e.kind = i == 0 ? STORE_TRIPLET : STORE_CLIENT;
			e.shard = "";
			e.key = key;
			stop = fn(arg, &e);
		}
		mdb_cursor_close(cur);
		if (rc == MDB_NOTFOUND)
			rc = 0;
		if (rc != 0)
			break;
	}
	mdb_txn_abort(txn);
	if (rc != 0) {
		*err_r = lmdb_err(rc);
		return -1;
	}
	return 0;
}

/* lmdb_del - remove one entry; 1 removed, 0 absent */
static int lmdb_del(struct store *st, enum store_entry_kind kind,
    const char *shard, const char *key, const char **err_r)
{
	struct lstore *s = (struct lstore *)st;
	MDB_val k = { strlen(key), (void *)key };
	MDB_txn *txn;
	int rc;

	(void)shard;	/* one table per kind: the key is enough */
	if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0) {
		*err_r = lmdb_err(rc);
		return -1;
	}
	rc = mdb_del(txn, kind == STORE_TRIPLET ? s->triplets : s->clients,
	    &k, NULL);
	if (rc == MDB_NOTFOUND) {
		mdb_txn_abort(txn);
		return 0;
	}
	if (rc != 0)
		return txn_fail(txn, rc, err_r);
	if (txn_commit(txn, err_r) < 0)
		return -1;
	mdb_env_sync(s->env, 1);
	return 1;
}

/* --- counters ------------------------------------------------------ */

/* counter_key - BUCKET NUL SHA-256(key) into out[CKEY_MAX]; its length */
static size_t counter_key(const char *bucket, const char *key, size_t keylen,
    unsigned char *out)
{
	size_t bl = strlen(bucket);

	memcpy(out, bucket, bl);
	out[bl] = '\0';
	SHA256((const unsigned char *)key, keylen, out + bl + 1);
	return bl + 1 + SHA256_DIGEST_LENGTH;
}

/* counter_parse - value "1 COUNT KEY": 0 with the count and the key (not
 * NUL-terminated), -1 if it is not ours */
static int counter_parse(const MDB_val *v, long long *count_r,
    const char **key_r, size_t *keylen_r)
{
	const char *p = v->mv_data, *sp;
	char num[COUNT_TEXT_MAX];
	char *end;
	size_t nl;

	if (v->mv_size < 5 || p[0] != '1' || p[1] != ' ')
		return -1;
	sp = memchr(p + 2, ' ', v->mv_size - 2 < COUNT_TEXT_MAX ?
	    v->mv_size - 2 : COUNT_TEXT_MAX);
	if (sp == NULL || (nl = (size_t)(sp - (p + 2))) == 0)
		return -1;
	memcpy(num, p + 2, nl);
	num[nl] = '\0';
	if (num[0] != '-' && (num[0] < '0' || num[0] > '9'))
		return -1;
	errno = 0;
	*count_r = strtoll(num, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*key_r = sp + 1;
	*keylen_r = v->mv_size - (size_t)(sp + 1 - p);
	if (*keylen_r == 0 || *keylen_r > STORE_COUNTER_KEY_MAX)
		return -1;
	return 0;
}

/* id_check - with an id: 1 if its SEQ was applied already, else 0 and
 * the SEQ recorded in txn; -1 with *rc_r on error */
static int id_check(struct lstore *s, MDB_txn *txn, const char *bucket,
    const char *id, int *rc_r)
{
	char ik[IKEY_MAX], text[32];
	size_t bl = strlen(bucket), srclen;
	long long seq, last;
	MDB_val k, v;
	int n;

	*rc_r = 0;
	if (id == NULL || store_count_id_parse(id, &srclen, &seq) < 0)
		return 0;
	memcpy(ik, bucket, bl);
	ik[bl] = '\0';
	memcpy(ik + bl + 1, id, srclen);
	k.mv_size = bl + 1 + srclen;
	k.mv_data = ik;
	*rc_r = mdb_get(txn, s->ids, &k, &v);
	if (*rc_r == 0 && v.mv_size < sizeof(text) - 1) {
		memcpy(text, v.mv_data, v.mv_size);
		text[v.mv_size] = '\0';
		if (sscanf(text, "1 %lld%n", &last, &n) == 1 &&
		    text[n] == '\0' && seq <= last)
			return 1;
	} else if (*rc_r != 0 && *rc_r != MDB_NOTFOUND) {
		return -1;
	}
	n = snprintf(text, sizeof(text), "1 %lld", seq);
	v.mv_size = (size_t)n;
	v.mv_data = text;
	if ((*rc_r = mdb_put(txn, s->ids, &k, &v, 0)) != 0)
		return -1;
	return 0;
}

/* lmdb_count_add - every counter of the call in one write transaction,
 * after the id check */
static int lmdb_count_add(struct store *st, const char *bucket,
    const char *id, const char *const *keys, const long long *deltas,
    size_t n, const char **err_r)
{
	struct lstore *s = (struct lstore *)st;
	unsigned char ck[CKEY_MAX];
	MDB_txn *txn;
	int rc, done;

	if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0) {
		*err_r = lmdb_err(rc);
		return -1;
	}
	if ((done = id_check(s, txn, bucket, id, &rc)) < 0)
		goto fail;
	if (done) {
		mdb_txn_abort(txn);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		size_t kl = strlen(keys[i]), okl;
		MDB_val k = { counter_key(bucket, keys[i], kl, ck), ck }, v;
		long long count = 0;
		const char *okey;
		char head[COUNT_TEXT_MAX + 2];
		int hl;

		rc = mdb_get(txn, s->counters, &k, &v);
		if (rc == 0 && counter_parse(&v, &count, &okey, &okl) == 0) {
			if (okl != kl || memcmp(okey, keys[i], kl) != 0) {
				mdb_txn_abort(txn);
				*err_r = "embedded store: counter key hash "
				    "collision";
				return -1;
			}
		} else if (rc == 0) {
			count = 0;	/* not ours: overwritten */
		} else if (rc != MDB_NOTFOUND) {
			goto fail;
		}
		count = store_count_saturate(count, deltas[i]);
		hl = snprintf(head, sizeof(head), "1 %lld ", count);
		v.mv_size = (size_t)hl + kl;
		if ((rc = mdb_put(txn, s->counters, &k, &v, MDB_RESERVE)) != 0)
			goto fail;
		memcpy(v.mv_data, head, (size_t)hl);
		memcpy((char *)v.mv_data + hl, keys[i], kl);
	}
	return txn_commit(txn, err_r);
fail:
	return txn_fail(txn, rc, err_r);
}

/* list_batch - up to BUCKETS_BATCH bucket names after *seek ("" at the
 * start) into names; *seek becomes the last name passed; -1 on error */
static int list_batch(struct lstore *s, char *seek,
    char names[][STORE_BUCKET_MAX + 1], size_t *n_r, int *end_r)
{
	unsigned char k0[STORE_BUCKET_MAX + 1];
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	*n_r = 0;
	*end_r = 0;
	if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn)) != 0)
		return rc;
	if ((rc = mdb_cursor_open(txn, s->counters, &cur)) != 0) {
		mdb_txn_abort(txn);
		return rc;
	}
	k.mv_size = strlen(seek);
	if (k.mv_size == 0) {
		rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	} else {
		/* past every key of bucket seek: they all go on with NUL */
		memcpy(k0, seek, k.mv_size);
		k0[k.mv_size++] = '\001';
		k.mv_data = k0;
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	}
	while (rc == 0 && *n_r < BUCKETS_BATCH) {
		const char *nul = memchr(k.mv_data, '\0', k.mv_size);
		size_t bl = nul ? (size_t)(nul - (char *)k.mv_data) : 0;

		if (bl == 0 || bl > STORE_BUCKET_MAX) {
			/* not ours: step over it */
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
			continue;
		}
		memcpy(seek, k.mv_data, bl);
		seek[bl] = '\0';
		if (store_bucket_valid(seek))
			memcpy(names[(*n_r)++], seek, bl + 1);
		memcpy(k0, seek, bl);
		k0[bl] = '\001';
		k.mv_size = bl + 1;
		k.mv_data = k0;
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	if (rc == MDB_NOTFOUND) {
		*end_r = 1;
		rc = 0;
	}
	return rc;
}

/* lmdb_count_buckets - every bucket, in batches read in short read
 * transactions, so fn may write (drop the bucket it was given) */
static int lmdb_count_buckets(struct store *st, store_bucket_fn *fn,
    void *arg, const char **err_r)
{
	struct lstore *s = (struct lstore *)st;
	char (*names)[STORE_BUCKET_MAX + 1] = xcalloc(BUCKETS_BATCH,
	    sizeof(*names));
	char seek[STORE_BUCKET_MAX + 1] = "";
	int rc, end = 0;

	do {
		size_t n;

		if ((rc = list_batch(s, seek, names, &n, &end)) != 0) {
			free(names);
			*err_r = lmdb_err(rc);
			return -1;
		}
		for (size_t i = 0; i < n; i++)
			if (fn(arg, names[i])) {
				free(names);
				return 0;
			}
	} while (!end);
	free(names);
	return 0;
}

/* lmdb_count_read - a bucket's counters, in one read transaction */
static int lmdb_count_read(struct store *st, const char *bucket,
    store_count_fn *fn, void *arg, const char **err_r)
{
	struct lstore *s = (struct lstore *)st;
	size_t bl = strlen(bucket), skipped = 0;
	char *key = xmalloc(STORE_COUNTER_KEY_MAX + 1);
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k = { bl + 1, (void *)bucket }, v;	/* bucket and its NUL */
	int rc;

	if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn)) != 0) {
		free(key);
		*err_r = lmdb_err(rc);
		return -1;
	}
	if ((rc = mdb_cursor_open(txn, s->counters, &cur)) != 0) {
		mdb_txn_abort(txn);
		free(key);
		*err_r = lmdb_err(rc);
		return -1;
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		const char *okey;
		long long count;
		size_t kl;

		if (k.mv_size < bl + 1 || memcmp(k.mv_data, bucket, bl + 1))
			break;
		if (counter_parse(&v, &count, &okey, &kl) < 0) {
			skipped++;
			continue;
		}
		memcpy(key, okey, kl);
		key[kl] = '\0';
		if (fn(arg, key, kl, count))
			break;
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	free(key);
	if (rc != 0 && rc != MDB_NOTFOUND) {
		*err_r = lmdb_err(rc);
		return -1;
	}
	if (skipped)
		log_warn("embedded store: bucket %s: %zu counters not ours "
		    "skipped", bucket, skipped);
	return 0;
}

/* drop_prefix - delete every key of dbi starting with BUCKET NUL,
 * DROP_BATCH per write transaction; 0 or an LMDB error */
static int drop_prefix(struct lstore *s, MDB_dbi dbi, const char *bucket)
{
	size_t bl = strlen(bucket), n;
	int rc;

	do {
		MDB_txn *txn;
		MDB_cursor *cur;
		MDB_val k, v;

		if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0)
			break;
		if ((rc = mdb_cursor_open(txn, dbi, &cur)) != 0) {
			mdb_txn_abort(txn);
			break;
		}
		for (n = 0; n < DROP_BATCH; n++) {
			k.mv_size = bl + 1;
			k.mv_data = (void *)bucket;
			rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
			if (rc == MDB_NOTFOUND || (rc == 0 &&
			    (k.mv_size < bl + 1 ||
			    memcmp(k.mv_data, bucket, bl + 1) != 0))) {
				rc = 0;
				break;
			}
			if (rc != 0 || (rc = mdb_cursor_del(cur, 0)) != 0)
				break;
		}
		mdb_cursor_close(cur);
		if (rc != 0) {
			mdb_txn_abort(txn);
			break;
		}
		rc = mdb_txn_commit(txn);
	} while (rc == 0 && n == DROP_BATCH);
	return rc;
}

/* lmdb_count_drop - delete a bucket's counters, then its ids (a drop
 * need not be atomic: a bucket half gone is dropped again) */
static int lmdb_count_drop(struct store *st, const char *bucket,
    const char **err_r)
{
	struct lstore *s = (struct lstore *)st;
	int rc;

	if ((rc = drop_prefix(s, s->counters, bucket)) != 0 ||
	    (rc = drop_prefix(s, s->ids, bucket)) != 0) {
		*err_r = lmdb_err(rc);
		return -1;
	}
	mdb_env_sync(s->env, 1);
	return 0;
}

static const struct store_ops lmdb_ops = {
	.kind = "embedded",
	.close = lmdb_close,
	.describe = lmdb_describe,
	.grey = lmdb_grey,
	.expire = lmdb_expire,
	.sync = lmdb_sync,
	.walk = lmdb_walk,
	.del = lmdb_del,
	.count_add = lmdb_count_add,
	.count_buckets = lmdb_count_buckets,
	.count_read = lmdb_count_read,
	.count_drop = lmdb_count_drop,
};
