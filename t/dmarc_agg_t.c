/*
 * dmarc_agg_t.c - the store's counters (store_count_*): bounds, atomic
 * adds, saturation, batch ids, bucket listing, reading, dropping.
 *
 * Runs on the embedded store in a temporary directory; with
 * POSTERN_TEST_STORE=redis://... the same program runs against Redis
 * (t/dmarc-agg-redis.t), so both back ends pass one suite.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "tap.h"

static int redis;

/* one counter read back */
struct kv {
	char *key;
	size_t keylen;
	long long count;
};

struct rows {
	struct kv *v;
	size_t n, cap;
};

/* collect - store_count_read callback: keep every counter */
static int collect(void *arg, const char *key, size_t keylen,
    long long count)
{
	struct rows *r = arg;

	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 64;
		r->v = realloc(r->v, r->cap * sizeof(*r->v));
	}
	r->v[r->n].key = malloc(keylen + 1);
	memcpy(r->v[r->n].key, key, keylen + 1);
	r->v[r->n].keylen = keylen;
	r->v[r->n].count = count;
	r->n++;
	return 0;
}

static void rows_free(struct rows *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->v[i].key);
	free(r->v);
	memset(r, 0, sizeof(*r));
}

/* read_all - a bucket's counters; -1 on a store error */
static int read_all(struct store *st, const char *bucket, struct rows *r)
{
	const char *err = NULL;

	memset(r, 0, sizeof(*r));
	if (store_count_read(st, bucket, collect, r, &err) < 0) {
		ok(0, "read %s: %s", bucket, err);
		return -1;
	}
	return 0;
}

/* get - one counter's value, LLONG_MIN + 7 if absent (or a read error) */
#define ABSENT (LLONG_MIN + 7)
static long long get(struct store *st, const char *bucket, const char *key,
    size_t keylen)
{
	struct rows r;
	long long v = ABSENT;
	int seen = 0;

	if (read_all(st, bucket, &r) < 0)
		return ABSENT;
	for (size_t i = 0; i < r.n; i++)
		if (r.v[i].keylen == keylen &&
		    memcmp(r.v[i].key, key, keylen) == 0) {
			v = r.v[i].count;
			if (seen++)
				ok(0, "%s: a key read twice", bucket);
		}
	rows_free(&r);
	return v;
}

/* count_rows - how many counters a bucket has (-1 on error) */
static long long count_rows(struct store *st, const char *bucket)
{
	struct rows r;
	long long n;

	if (read_all(st, bucket, &r) < 0)
		return -1;
	n = (long long)r.n;
	rows_free(&r);
	return n;
}

/* add1 - one counter; the call's result */
static int add1(struct store *st, const char *bucket, const char *id,
    const char *key, long long delta)
{
	const char *err = NULL;
	const char *keys[1] = { key };

	return store_count_add_once(st, bucket, id, keys, &delta, 1, &err);
}

/* the bucket listing, as a test sees it */
struct listing {
	char names[512][STORE_BUCKET_MAX + 1];
	size_t n;
	size_t stop_after;	/* 0: never stop */
	struct store *drop;	/* drop each bucket listed */
	int drop_failed;
};

static int list_fn(void *arg, const char *bucket)
{
	struct listing *l = arg;
	const char *err;

	if (l->n < 512)
		snprintf(l->names[l->n], sizeof(l->names[0]), "%s", bucket);
	l->n++;
	if (l->drop && store_count_drop(l->drop, bucket, &err) < 0)
		l->drop_failed = 1;
	return l->stop_after && l->n >= l->stop_after;
}

/* listed - how many times name was listed */
static int listed(const struct listing *l, const char *name)
{
	int n = 0;

	for (size_t i = 0; i < l->n && i < 512; i++)
		n += strcmp(l->names[i], name) == 0;
	return n;
}

/* test_bounds - every limit, just under and just over */
static void test_bounds(struct store *st)
{
	char bucket[STORE_BUCKET_MAX + 2], *key, id[80];
	const char *keys[STORE_COUNT_ADD_MAX + 1];
	long long deltas[STORE_COUNT_ADD_MAX + 1];
	char (*names)[16] = calloc(STORE_COUNT_ADD_MAX + 1, 16);
	const char *err = NULL;

	memset(bucket, 'b', STORE_BUCKET_MAX);
	bucket[STORE_BUCKET_MAX] = '\0';
	is_int(add1(st, bucket, NULL, "k", 1), 0, "bucket of 300 bytes");
	is_int(get(st, bucket, "k", 1), 1, "  read back");
	bucket[STORE_BUCKET_MAX] = 'b';
	bucket[STORE_BUCKET_MAX + 1] = '\0';
	is_int(add1(st, bucket, NULL, "k", 1), -1, "bucket of 301 refused");
	is_int(add1(st, "", NULL, "k", 1), -1, "empty bucket refused");
	is_int(add1(st, "a{b}", NULL, "k", 1), -1, "brace in bucket refused");
	is_int(add1(st, "a b", NULL, "k", 1), -1, "space in bucket refused");
	is_int(add1(st, "a\001b", NULL, "k", 1), -1,
	    "control byte in bucket refused");
	is_int(add1(st, "a\177b", NULL, "k", 1), -1, "DEL in bucket refused");
	is_int(store_count_read(st, "a{b", collect, NULL, &err), -1,
	    "read of a bad bucket name refused");
	is_int(store_count_drop(st, "", &err), -1,
	    "drop of a bad bucket name refused");
	is_int(add1(st, "bounds", NULL, "", 1), -1, "empty key refused");

	key = malloc(STORE_COUNTER_KEY_MAX + 2);
	memset(key, 'k', STORE_COUNTER_KEY_MAX);
	key[STORE_COUNTER_KEY_MAX] = '\0';
	is_int(add1(st, "bounds", NULL, key, 3), 0, "key of 4096 bytes");
	is_int(get(st, "bounds", key, STORE_COUNTER_KEY_MAX), 3,
	    "  read back whole");
	key[STORE_COUNTER_KEY_MAX] = 'k';
	key[STORE_COUNTER_KEY_MAX + 1] = '\0';
	is_int(add1(st, "bounds", NULL, key, 3), -1,
	    "key of 4097 bytes refused");
	free(key);

	for (size_t i = 0; i <= STORE_COUNT_ADD_MAX; i++) {
		snprintf(names[i], 16, "n%zu", i);
		keys[i] = names[i];
		deltas[i] = (long long)i + 1;
	}
	is_int(store_count_add(st, "many", keys, deltas,
	    STORE_COUNT_ADD_MAX + 1, &err), -1, "1001 counters refused");
	is_int(count_rows(st, "many"), 0, "  and nothing was added");
	is_int(store_count_add(st, "many", keys, deltas, STORE_COUNT_ADD_MAX,
	    &err), 0, "1000 counters in one add");
	is_int(count_rows(st, "many"), STORE_COUNT_ADD_MAX, "  all there");
	is_int(get(st, "many", "n999", 4), 1000, "  with their counts");
	/* one bad key: the whole add is refused, nothing moves */
	keys[500] = "";
	is_int(store_count_add(st, "many", keys, deltas, 600, &err), -1,
	    "an add with one bad key is refused");
	is_int(get(st, "many", "n0", 2), 1, "  and none of it was added");
	is_int(store_count_add(st, "many", keys, deltas, 0, &err), 0,
	    "an add of nothing is fine");

	memset(id, 'S', 40);
	snprintf(id + 40, sizeof(id) - 40, ":999999999999999");
	is_int(add1(st, "ids", id, "k", 1), 0,
	    "id: 40-byte source, 15-digit seq");
	memset(id, 'S', 41);
	snprintf(id + 41, sizeof(id) - 41, ":1");
	is_int(add1(st, "ids", id, "k", 1), -1, "id: 41-byte source refused");
	{
		static const char *bad[] = { "a:0", "a:01", ":1", "a:", "a",
		    "a:1x", "a b:1", "a:-1", "a:1000000000000000", "a:1:2",
		    "a{:1", "" };

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			is_int(add1(st, "ids", bad[i], "k", 1), -1, bad[i]);
	}
	is_int(get(st, "ids", "k", 1), 1, "ids: only the good id counted");
	free(names);
}

/* test_counts - adds, duplicates in one call, saturation, raw bytes */
static void test_counts(struct store *st)
{
	const char *keys[3] = { "k1", "k2", "k1" };
	long long d[3] = { 1, 2, 3 };
	const char *err = NULL;
	static const char hostile[] = "1\tx%41\ny \r\xff\xc3\xa9%";

	is_int(store_count_add(st, "c", keys, d, 3, &err), 0, "add 3");
	is_int(get(st, "c", "k1", 2), 4, "a key twice in one add: 1 + 3");
	is_int(get(st, "c", "k2", 2), 2, "k2 = 2");
	d[0] = -10;
	is_int(store_count_add(st, "c", keys, d, 1, &err), 0,
	    "a negative delta");
	is_int(get(st, "c", "k1", 2), -6, "k1 = -6");

	is_int(add1(st, "c", NULL, "max", LLONG_MAX - 1), 0, "near the top");
	is_int(add1(st, "c", NULL, "max", 5), 0, "over the top");
	is_int(get(st, "c", "max", 3), LLONG_MAX, "saturates at LLONG_MAX");
	is_int(add1(st, "c", NULL, "max", LLONG_MAX), 0, "again");
	is_int(get(st, "c", "max", 3), LLONG_MAX, "  still LLONG_MAX");
	is_int(add1(st, "c", NULL, "max", -1), 0, "one down");
	is_int(get(st, "c", "max", 3), LLONG_MAX - 1, "  LLONG_MAX - 1");
	is_int(add1(st, "c", NULL, "min", LLONG_MIN + 1), 0, "near the bottom");
	is_int(add1(st, "c", NULL, "min", -5), 0, "under the bottom");
	is_int(get(st, "c", "min", 3), LLONG_MIN, "saturates at LLONG_MIN");

	is_int(add1(st, "c", NULL, hostile, 7), 0,
	    "a key with TAB, LF, CR, %, high bytes");
	is_int(get(st, "c", hostile, sizeof(hostile) - 1), 7,
	    "  read back byte for byte");
	is_int(count_rows(st, "c"), 5, "5 counters in the bucket");
	is_int(count_rows(st, "nothing.here"), 0, "an absent bucket is empty");
}

/* test_ids - store_count_add_once: a repeated id counts once */
static void test_ids(struct store *st)
{
	is_int(add1(st, "once", "src-a:1", "k", 10), 0, "id a:1");
	is_int(add1(st, "once", "src-a:1", "k", 10), 0, "id a:1 again: ok");
	is_int(get(st, "once", "k", 1), 10, "  counted once");
	is_int(add1(st, "once", "src-a:2", "k", 5), 0, "id a:2");
	is_int(add1(st, "once", "src-a:1", "k", 1000), 0, "id a:1 late");
	is_int(get(st, "once", "k", 1), 15, "  a:2 counted, late a:1 not");
	is_int(add1(st, "once", "src-b:1", "k", 1), 0, "id b:1");
	is_int(add1(st, "once", NULL, "k", 100), 0, "no id");
	is_int(add1(st, "once", NULL, "k", 100), 0, "no id again");
	is_int(get(st, "once", "k", 1), 216, "  other sources, no id: counted");
	is_int(add1(st, "once2", "src-a:1", "k", 1), 0,
	    "ids are per bucket: a:1 elsewhere");
	is_int(get(st, "once2", "k", 1), 1, "  counted");
}

/* test_buckets - listing: neighbours, many buckets, stop, drop while
 * listing; dropping */
static void test_buckets(struct store *st)
{
	static const char *near[] = { "n", "n.b", "n/b", "nb", "n-", "n0" };
	struct listing *l = calloc(1, sizeof(*l));
	const char *err = NULL;
	char name[32];
	int once = 1;

	for (size_t i = 0; i < 6; i++)
		for (int j = 0; j < 50; j++) {
			snprintf(name, sizeof(name), "row%d", j);
			add1(st, near[i], NULL, name, 1);
		}
	for (int i = 0; i < 150; i++) {
		snprintf(name, sizeof(name), "l/%03d", i);
		add1(st, name, NULL, "x", i + 1);
		add1(st, name, NULL, "y", 1);
	}
	is_int(store_count_buckets(st, list_fn, l, &err), 0, "list buckets");
	for (size_t i = 0; i < 6; i++)
		if (listed(l, near[i]) != 1)
			once = 0;
	for (int i = 0; i < 150; i++) {
		snprintf(name, sizeof(name), "l/%03d", i);
		if (listed(l, name) != 1)
			once = 0;
	}
	ok(once, "every bucket listed exactly once (%zu names)", l->n);
	ok(listed(l, "c") == 1 && listed(l, "many") == 1 &&
	    listed(l, "nothing.here") == 0, "only buckets with counters");
	is_int(count_rows(st, "n"), 50, "bucket n: its 50 rows, not n.b's");

	memset(l, 0, sizeof(*l));
	l->stop_after = 5;
	is_int(store_count_buckets(st, list_fn, l, &err), 0, "list, stop at 5");
	is_int(l->n, 5, "  the callback stopped it");

	is_int(store_count_drop(st, "n", &err), 0, "drop bucket n");
	is_int(count_rows(st, "n"), 0, "  it is empty");
	is_int(count_rows(st, "n.b"), 50, "  n.b is not");
	is_int(store_count_drop(st, "n", &err), 0, "drop it again: fine");
	memset(l, 0, sizeof(*l));
	store_count_buckets(st, list_fn, l, &err);
	ok(listed(l, "n") == 0 && listed(l, "n/b") == 1,
	    "  no longer listed");

	memset(l, 0, sizeof(*l));
	l->drop = st;
	is_int(store_count_buckets(st, list_fn, l, &err), 0,
	    "list and drop each bucket from the callback");
	ok(l->n >= 155 && !l->drop_failed, "  %zu dropped", l->n);
	memset(l, 0, sizeof(*l));
	store_count_buckets(st, list_fn, l, &err);
	is_int(l->n, 0, "  nothing left");
	free(l);
}

/* test_big_bucket - more counters than one drop transaction or one SCAN
 * page takes */
static void test_big_bucket(struct store *st)
{
	enum { N = 10500 };
	const char **keys = calloc(STORE_COUNT_ADD_MAX, sizeof(*keys));
	long long *d = calloc(STORE_COUNT_ADD_MAX, sizeof(*d));
	char (*names)[16] = calloc(N, 16);
	const char *err = NULL;
	struct rows r;
	long long sum = 0;
	int good = 1;

	for (size_t i = 0; i < N; i++)
		snprintf(names[i], 16, "r%zu", i);
	for (size_t at = 0; at < N && good; at += STORE_COUNT_ADD_MAX) {
		size_t n = N - at < STORE_COUNT_ADD_MAX ? N - at :
		    STORE_COUNT_ADD_MAX;

		for (size_t i = 0; i < n; i++) {
			keys[i] = names[at + i];
			d[i] = 2;
		}
		good = store_count_add(st, "big", keys, d, n, &err) == 0;
	}
	ok(good, "10500 counters in 11 adds: %s", good ? "ok" : err);
	if (read_all(st, "big", &r) == 0) {
		for (size_t i = 0; i < r.n; i++)
			sum += r.v[i].count;
		ok(r.n == N && sum == 2 * N,
		    "  read back once each: %zu rows, sum %lld", r.n, sum);
		rows_free(&r);
	}
	is_int(store_count_drop(st, "big", &err), 0, "drop it");
	is_int(count_rows(st, "big"), 0, "  all gone");
	free(keys);
	free(d);
	free(names);
}

/* test_map_full - the embedded store's map fills: an add fails whole,
 * and works again once space is freed */
static void test_map_full(void)
{
	char dir[] = "/tmp/dmarc_agg_t.full.XXXXXX", cmd[80];
	struct store_opts so = { .max_entries = 1 };	/* the 16 MB minimum */
	const char **keys = calloc(STORE_COUNT_ADD_MAX, sizeof(*keys));
	long long *d = calloc(STORE_COUNT_ADD_MAX, sizeof(*d));
	char *big = malloc((size_t)STORE_COUNT_ADD_MAX * 4100);
	const char *err = NULL;
	struct store *st;
	int rounds = 0, rc = 0;
	long long before;

	if (mkdtemp(dir) == NULL || (st = store_open(dir, &so, &err)) == NULL) {
		ok(0, "small store opens");
		return;
	}
	/* 1000 counters of ~4 KB a round: the 16 MB map fills in a few */
	while (rounds < 20) {
		char bucket[16];

		snprintf(bucket, sizeof(bucket), "full%d", rounds);
		for (size_t i = 0; i < STORE_COUNT_ADD_MAX; i++) {
			char *k = big + i * 4100;

			memset(k, 'a' + (int)(i % 26), 4000);
			snprintf(k + 4000, 100, "-%d-%zu", rounds, i);
			keys[i] = k;
			d[i] = 1;
		}
		before = count_rows(st, bucket);
		if ((rc = store_count_add(st, bucket, keys, d,
		    STORE_COUNT_ADD_MAX, &err)) < 0)
			break;
		rounds++;
	}
	ok(rc < 0 && rounds > 1, "the map fills after %d adds: %s", rounds,
	    rc < 0 ? err : "(never)");
	{
		char bucket[16];

		snprintf(bucket, sizeof(bucket), "full%d", rounds);
		is_int(count_rows(st, bucket), before,
		    "  the failed add left nothing behind");
		ok(store_count_drop(st, "full0", &err) == 0 &&
		    store_count_drop(st, "full1", &err) == 0,
		    "  drop two buckets");
		rc = store_count_add(st, bucket, keys, d,
		    STORE_COUNT_ADD_MAX, &err);
		ok(rc == 0, "  the add works now: %s", rc ? err : "ok");
		is_int(count_rows(st, bucket), STORE_COUNT_ADD_MAX,
		    "  with all its counters");
	}
	store_close(&st);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		ok(0, "cleanup");
	free(keys);
	free(d);
	free(big);
}

/* print_fn - "COUNT<TAB>KEY" per counter (dump mode) */
static int print_fn(void *arg, const char *key, size_t keylen,
    long long count)
{
	(void)arg;
	printf("%lld\t%.*s\n", count, (int)keylen, key);
	return 0;
}

/* command_mode - for t/dmarc-agg-redis.t, which looks at what a store
 * operation does to data it planted: "dump BUCKET" prints the bucket's
 * counters, "add BUCKET KEY DELTA" adds one; exit 0 on success */
static int command_mode(int argc, char **argv, struct store *st)
{
	const char *err = "usage: dump BUCKET | add BUCKET KEY DELTA";
	int rc = -1;

	if (argc == 3 && !strcmp(argv[1], "dump"))
		rc = store_count_read(st, argv[2], print_fn, NULL, &err);
	else if (argc == 5 && !strcmp(argv[1], "add") &&
	    (rc = add1(st, argv[2], NULL, argv[3], atoll(argv[4]))) < 0)
		err = "add failed";
	if (rc < 0)
		fprintf(stderr, "%s\n", err);
	return rc < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	char dir[] = "/tmp/dmarc_agg_t.XXXXXX";
	const char *spec = getenv("POSTERN_TEST_STORE"), *err = NULL;
	struct store_opts so = { .max_entries = 100000, .timeout_ms = 2000,
	    .connect_timeout_ms = 2000, .prefix = "t:" };
	struct store *st;

	redis = spec != NULL && *spec != '\0';
	if (argc > 1) {
		int rc;

		if (!redis || (st = store_open(spec, &so, &err)) == NULL)
			return 2;
		rc = command_mode(argc, argv, st);
		store_close(&st);
		return rc;
	}
	if (mkdtemp(dir) == NULL)
		return 1;
	if (!redis)
		spec = dir;
	st = store_open(spec, &so, &err);
	ok(st != NULL, "store opens: %s", st ? spec : err);
	if (st == NULL)
		return done_testing();

	test_bounds(st);
	test_counts(st);
	test_ids(st);
	test_buckets(st);
	test_big_bucket(st);

	add1(st, "kept", NULL, "k", 42);
	store_close(&st);
	st = store_open(spec, &so, &err);
	ok(st != NULL, "store opens again");
	if (st)
		is_int(get(st, "kept", "k", 1), 42, "counts kept across a reopen");
	store_close(&st);
	if (!redis)
		test_map_full();
	{
		char cmd[64];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			ok(0, "cleanup");
	}
	return done_testing();
}
