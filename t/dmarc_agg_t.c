/*
 * dmarc_agg_t.c - DMARC aggregate-report data (common/dmarc_agg.c) and
 * the store counters under it (store_count_*).
 *
 * Store: bounds, atomic adds, saturation, batch ids, bucket listing,
 * reading, dropping, a full map.  dmarc_agg: row encoding round trips
 * (hostile values, 255-byte fields, over-long rows), a table of broken
 * rows and random mutations (what decodes re-encodes to the same bytes),
 * bucket names, counting and flushing, a store that fails before or
 * after applying a batch (counts arrive exactly once), max_rows, four
 * threads adding while a fifth flushes.
 *
 * Runs on the embedded store in a temporary directory; with
 * POSTERN_TEST_STORE=redis://... the same program runs against Redis
 * (t/dmarc-agg-redis.t), so both back ends pass one suite.  With
 * POSTERN_TEST_SYNC=1 as well it runs only the Redis stop/restart and
 * pause test, printing "# SYNC stop|start|pause" and waiting for a line
 * on stdin once the harness has done it.
 */
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dmarc_agg.h"
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

/* ---------------------------------------------------------- dmarc_agg */

#define T0 1700000000	/* 2023-11-14 22:13:20 UTC; hour 1699999200 */

/* sample - a full row: IPv4, two DKIM results, SPF */
static void sample(struct dmarc_agg_row *r, const char *ip)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->source_ip, sizeof(r->source_ip), "%s", ip);
	snprintf(r->header_from, sizeof(r->header_from), "example.com");
	snprintf(r->envelope_from, sizeof(r->envelope_from), "bounce.example.com");
	r->disposition = DMARC_AGG_QUARANTINE;
	r->dkim_aligned_pass = 1;
	r->spf_aligned_pass = 0;
	snprintf(r->reason, sizeof(r->reason), "mailing_list");
	snprintf(r->reason_comment, sizeof(r->reason_comment), "list x");
	r->ndkim = 2;
	snprintf(r->dkim[0].domain, DMARC_AGG_FIELD_MAX, "example.com");
	snprintf(r->dkim[0].selector, DMARC_AGG_FIELD_MAX, "s1");
	snprintf(r->dkim[0].result, sizeof(r->dkim[0].result), "pass");
	snprintf(r->dkim[1].domain, DMARC_AGG_FIELD_MAX, "list.example");
	snprintf(r->dkim[1].result, sizeof(r->dkim[1].result), "fail");
	snprintf(r->spf_domain, sizeof(r->spf_domain), "bounce.example.com");
	snprintf(r->spf_scope, sizeof(r->spf_scope), "mfrom");
	snprintf(r->spf_result, sizeof(r->spf_result), "softfail");
}

/* row_eq - the same row, field by field (bytes after a NUL aside) */
static int row_eq(const struct dmarc_agg_row *a, const struct dmarc_agg_row *b)
{
	if (strcmp(a->source_ip, b->source_ip) ||
	    strcmp(a->header_from, b->header_from) ||
	    strcmp(a->envelope_from, b->envelope_from) ||
	    a->disposition != b->disposition ||
	    !a->dkim_aligned_pass != !b->dkim_aligned_pass ||
	    !a->spf_aligned_pass != !b->spf_aligned_pass ||
	    strcmp(a->reason, b->reason) ||
	    strcmp(a->reason_comment, b->reason_comment) ||
	    a->ndkim != b->ndkim || strcmp(a->spf_domain, b->spf_domain) ||
	    strcmp(a->spf_scope, b->spf_scope) ||
	    strcmp(a->spf_result, b->spf_result))
		return 0;
	for (size_t i = 0; i < a->ndkim; i++)
		if (strcmp(a->dkim[i].domain, b->dkim[i].domain) ||
		    strcmp(a->dkim[i].selector, b->dkim[i].selector) ||
		    strcmp(a->dkim[i].result, b->dkim[i].result))
			return 0;
	return 1;
}

/* round_trip - encode, decode, compare; the encoding into enc */
static int round_trip(const struct dmarc_agg_row *r, char *enc)
{
	struct dmarc_agg_row back;

	if (dmarc_agg_row_encode(r, enc, DMARC_AGG_ROW_MAX) < 0 ||
	    dmarc_agg_row_decode(enc, strlen(enc), &back) < 0)
		return 0;
	return row_eq(r, &back);
}

/* no_raw - an encoding holds no byte that must be escaped, except the
 * TABs between fields */
static int no_raw(const char *enc)
{
	for (const unsigned char *p = (const unsigned char *)enc; *p; p++)
		if ((*p < 0x21 && *p != '\t') || *p == 0x7f)
			return 0;
	return 1;
}

/* test_codec - rows: the exact text, round trips, bounds */
static void test_codec(void)
{
	struct dmarc_agg_row r;
	char *enc = malloc(DMARC_AGG_ROW_MAX), small[64];
	static const char *const dres[] = { "none", "pass", "fail", "policy",
	    "neutral", "temperror", "permerror" };
	static const char *const sres[] = { "none", "neutral", "pass",
	    "fail", "softfail", "temperror", "permerror" };
	static const char *const reasons[] = { "", "forwarded",
	    "sampled_out", "trusted_forwarder", "mailing_list",
	    "local_policy", "other" };
	int all = 1;

	sample(&r, "192.0.2.1");
	is_int(dmarc_agg_row_encode(&r, enc, DMARC_AGG_ROW_MAX), 0,
	    "encode a row");
	is_str(enc, "1\t192.0.2.1\texample.com\tbounce.example.com\t"
	    "quarantine\tpass\tfail\tmailing_list\tlist%20x\t2\t"
	    "example.com\ts1\tpass\tlist.example\t\tfail\t"
	    "bounce.example.com\tmfrom\tsoftfail", "  the text");
	ok(round_trip(&r, enc), "  decodes to the same row");
	is_int(dmarc_agg_row_encode(&r, small, sizeof(small)), -1,
	    "  into too small a buffer: -1");

	sample(&r, "2001:DB8:0:0::1");
	dmarc_agg_row_encode(&r, enc, DMARC_AGG_ROW_MAX);
	ok(strncmp(enc, "1\t2001:db8::1\t", 14) == 0,
	    "IPv6 written as inet_ntop does");
	sample(&r, "::ffff:192.0.2.9");
	snprintf(r.source_ip, sizeof(r.source_ip), "::ffff:192.0.2.9");
	ok(round_trip(&r, enc), "v4-mapped IPv6 round trip");

	sample(&r, "192.0.2.1");
	r.ndkim = 0;
	r.reason[0] = r.reason_comment[0] = '\0';
	r.envelope_from[0] = '\0';
	r.spf_domain[0] = r.spf_scope[0] = r.spf_result[0] = '\0';
	ok(round_trip(&r, enc), "no DKIM, no SPF, no reason, null sender");
	is_str(enc, "1\t192.0.2.1\texample.com\t\tquarantine\tpass\tfail\t"
	    "\t\t0\t\t\t", "  the text");

	for (size_t i = 0; i < 7; i++) {
		sample(&r, "192.0.2.1");
		snprintf(r.dkim[0].result, sizeof(r.dkim[0].result), "%s",
		    dres[i]);
		snprintf(r.spf_result, sizeof(r.spf_result), "%s", sres[i]);
		snprintf(r.reason, sizeof(r.reason), "%s", reasons[i]);
		r.disposition = (enum dmarc_agg_disp)(i % 3);
		r.dkim_aligned_pass = (int)(i & 1);
		r.spf_aligned_pass = (int)(i & 2) != 0;
		snprintf(r.spf_scope, sizeof(r.spf_scope), i & 1 ? "helo" :
		    "mfrom");
		if (!round_trip(&r, enc)) {
			all = 0;
			printf("# vocabulary case %zu: %s\n", i, enc);
		}
	}
	ok(all, "every word of every vocabulary round trips");

	/* hostile values */
	sample(&r, "192.0.2.1");
	snprintf(r.header_from, sizeof(r.header_from),
	    "a\tb\nc\rd e%%f\x7fg\x01h\xff\xc3\xa9%%41");
	snprintf(r.dkim[1].selector, DMARC_AGG_FIELD_MAX, "\t\t\n");
	snprintf(r.reason_comment, sizeof(r.reason_comment), "%%%%%%00");
	ok(round_trip(&r, enc) && no_raw(enc),
	    "TAB, LF, CR, space, %%, DEL, 0x01, high bytes: escaped, back");
	ok(strstr(enc, "a%09b%0Ac%0Dd%20e%25f%7Fg%01h\xff\xc3\xa9%2541") !=
	    NULL, "  as %%XX, upper case, and only those");

	sample(&r, "192.0.2.1");
	memset(r.header_from, 'h', DMARC_AGG_FIELD_MAX - 1);
	memset(r.reason_comment, ' ', DMARC_AGG_FIELD_MAX - 1);
	memset(r.dkim[0].selector, 's', DMARC_AGG_FIELD_MAX - 1);
	ok(round_trip(&r, enc), "255-byte fields round trip (one escaped: "
	    "%zu bytes)", strlen(enc));
	memset(r.header_from, 'h', DMARC_AGG_FIELD_MAX);	/* no NUL */
	is_int(dmarc_agg_row_encode(&r, enc, DMARC_AGG_ROW_MAX), -1,
	    "a 256-byte field (no NUL) refused");

	sample(&r, "192.0.2.1");
	r.ndkim = DMARC_AGG_DKIM_MAX;
	for (size_t i = 0; i < DMARC_AGG_DKIM_MAX; i++) {
		memset(r.dkim[i].domain, 'd', 200);
		memset(r.dkim[i].selector, 's', 200);
		snprintf(r.dkim[i].result, sizeof(r.dkim[i].result), "pass");
	}
	ok(round_trip(&r, enc), "8 DKIM results of 400 bytes: %zu bytes",
	    strlen(enc));
	for (size_t i = 0; i < DMARC_AGG_DKIM_MAX; i++)
		memset(r.dkim[i].selector, ' ', 200);	/* 600 escaped */
	is_int(dmarc_agg_row_encode(&r, enc, DMARC_AGG_ROW_MAX), -1,
	    "over DMARC_AGG_ROW_MAX: -1");

	sample(&r, "");
	is_int(dmarc_agg_row_encode(&r, enc, DMARC_AGG_ROW_MAX), -1,
	    "encode: no source IP refused");
	sample(&r, "192.0.2.300");
	is_int(dmarc_agg_row_encode(&r, enc, DMARC_AGG_ROW_MAX), -1,
	    "encode: a bad IP refused");
	sample(&r, "192.0.2.1");
	r.disposition = (enum dmarc_agg_disp)3;
	is_int(dmarc_agg_row_encode(&r, enc, DMARC_AGG_ROW_MAX), -1,
	    "encode: disposition out of range refused");
	sample(&r, "192.0.2.1");
	r.ndkim = DMARC_AGG_DKIM_MAX + 1;
	is_int(dmarc_agg_row_encode(&r, enc, DMARC_AGG_ROW_MAX), -1,
	    "encode: 9 DKIM results refused");
	sample(&r, "192.0.2.1");
	snprintf(r.dkim[1].result, sizeof(r.dkim[1].result), "good");
	is_int(dmarc_agg_row_encode(&r, enc, DMARC_AGG_ROW_MAX), -1,
	    "encode: DKIM result outside the vocabulary refused");
	sample(&r, "192.0.2.1");
	snprintf(r.reason, sizeof(r.reason), "because");
	is_int(dmarc_agg_row_encode(&r, enc, DMARC_AGG_ROW_MAX), -1,
	    "encode: reason outside the vocabulary refused");
	sample(&r, "192.0.2.1");
	r.spf_scope[0] = '\0';
	is_int(dmarc_agg_row_encode(&r, enc, DMARC_AGG_ROW_MAX), -1,
	    "encode: an SPF result without scope refused");
	sample(&r, "192.0.2.1");
	r.spf_result[0] = '\0';
	is_int(dmarc_agg_row_encode(&r, enc, DMARC_AGG_ROW_MAX), -1,
	    "encode: an SPF domain without result refused");
	free(enc);
}

/* broken rows: each must be refused */
static const struct {
	const char *row;
	size_t len;	/* 0: strlen */
	const char *why;
} broken[] = {
#define GOOD_HEAD "1\t192.0.2.1\texample.com\tb.example\tnone\tpass\tfail\t\t\t"
#define GOOD_TAIL "\tb.example\tmfrom\tpass"
	{ GOOD_HEAD "0" GOOD_TAIL, 0, NULL },	/* the control: decodes */
	{ "", 0, "empty" },
	{ "1", 0, "version only" },
	{ "2\t192.0.2.1\texample.com\tb.example\tnone\tpass\tfail\t\t\t0"
	    GOOD_TAIL, 0, "version 2" },
	{ "01\t192.0.2.1\texample.com\tb.example\tnone\tpass\tfail\t\t\t0"
	    GOOD_TAIL, 0, "version 01" },
	{ GOOD_HEAD "0" GOOD_TAIL "\t", 0, "a TAB at the end" },
	{ GOOD_HEAD "0" GOOD_TAIL "\tx", 0, "one field too many" },
	{ GOOD_HEAD "0\tb.example\tmfrom", 0, "one field too few" },
	{ GOOD_HEAD "1" GOOD_TAIL, 0, "1 DKIM result announced, none there" },
	{ GOOD_HEAD "1\td\ts\tpass\td\ts\tpass" GOOD_TAIL, 0,
	    "1 DKIM result announced, 2 there" },
	{ GOOD_HEAD "9" GOOD_TAIL, 0, "9 DKIM results" },
	{ GOOD_HEAD "10" GOOD_TAIL, 0, "DKIM count of two digits" },
	{ GOOD_HEAD "x" GOOD_TAIL, 0, "DKIM count not a digit" },
	{ GOOD_HEAD "" GOOD_TAIL, 0, "DKIM count empty" },
	{ GOOD_HEAD "1\td\ts\tgood" GOOD_TAIL, 0, "DKIM result 'good'" },
	{ GOOD_HEAD "1\td\ts\tPass" GOOD_TAIL, 0, "DKIM result 'Pass'" },
	{ GOOD_HEAD "1\td\ts\t" GOOD_TAIL, 0, "DKIM result empty" },
	{ GOOD_HEAD "0\tb.example\t\tpass", 0, "SPF result without scope" },
	{ GOOD_HEAD "0\tb.example\tmfrom\t", 0, "SPF scope without result" },
	{ GOOD_HEAD "0\tb.example\t\t", 0, "SPF domain without result" },
	{ GOOD_HEAD "0\tb.example\tmfrom\tgood", 0, "SPF result 'good'" },
	{ GOOD_HEAD "0\tb.example\tpra\tpass", 0, "SPF scope 'pra'" },
	{ "1\t192.0.2.1\texample.com\tb.example\tNone\tpass\tfail\t\t\t0"
	    GOOD_TAIL, 0, "disposition 'None'" },
	{ "1\t192.0.2.1\texample.com\tb.example\t\tpass\tfail\t\t\t0"
	    GOOD_TAIL, 0, "disposition empty" },
	{ "1\t192.0.2.1\texample.com\tb.example\tnone\tPASS\tfail\t\t\t0"
	    GOOD_TAIL, 0, "aligned 'PASS'" },
	{ "1\t192.0.2.1\texample.com\tb.example\tnone\tpass\t\t\t\t0"
	    GOOD_TAIL, 0, "aligned empty" },
	{ "1\t192.0.2.1\texample.com\tb.example\tnone\tpass\tfail\tbecause"
	    "\t\t0" GOOD_TAIL, 0, "reason outside the vocabulary" },
	{ "1\t\texample.com\tb.example\tnone\tpass\tfail\t\t\t0" GOOD_TAIL, 0,
	    "no source IP" },
	{ "1\t192.0.2.256\texample.com\tb.example\tnone\tpass\tfail\t\t\t0"
	    GOOD_TAIL, 0, "IP 192.0.2.256" },
	{ "1\t192.0.2.01\texample.com\tb.example\tnone\tpass\tfail\t\t\t0"
	    GOOD_TAIL, 0, "IP 192.0.2.01" },
	{ "1\t2001:DB8::1\texample.com\tb.example\tnone\tpass\tfail\t\t\t0"
	    GOOD_TAIL, 0, "IPv6 not as inet_ntop writes it" },
	{ "1\t192.0.2.1%20\texample.com\tb.example\tnone\tpass\tfail\t\t\t0"
	    GOOD_TAIL, 0, "IP with an escaped space" },
	{ "1\t192.0.2.1\texa mple.com\tb.example\tnone\tpass\tfail\t\t\t0"
	    GOOD_TAIL, 0, "a raw space" },
	{ "1\t192.0.2.1\texa\177mple.com\tb.example\tnone\tpass\tfail\t\t\t0"
	    GOOD_TAIL, 0, "a raw DEL" },
	{ "1\t192.0.2.1\texa\nmple.com\tb.example\tnone\tpass\tfail\t\t\t0"
	    GOOD_TAIL, 0, "a raw LF" },
	{ "1\t192.0.2.1\texa\0mple.com\tb.example\tnone\tpass\tfail\t\t\t0"
	    GOOD_TAIL, sizeof("1\t192.0.2.1\texa\0mple.com\tb.example\tnone"
	    "\tpass\tfail\t\t\t0" GOOD_TAIL) - 1, "a raw NUL" },
	{ "1\t192.0.2.1\texa%00mple.com\tb.example\tnone\tpass\tfail\t\t\t0"
	    GOOD_TAIL, 0, "an escaped NUL" },
	{ "1\t192.0.2.1\texa%0ample.com\tb.example\tnone\tpass\tfail\t\t\t0"
	    GOOD_TAIL, 0, "lower-case hex" },
	{ "1\t192.0.2.1\texa%41mple.com\tb.example\tnone\tpass\tfail\t\t\t0"
	    GOOD_TAIL, 0, "a needless escape (%41)" },
	{ "1\t192.0.2.1\texa%4\tb.example\tnone\tpass\tfail\t\t\t0"
	    GOOD_TAIL, 0, "a cut escape" },
	{ "1\t192.0.2.1\texa%\tb.example\tnone\tpass\tfail\t\t\t0"
	    GOOD_TAIL, 0, "a bare %" },
	{ GOOD_HEAD "0\tb.example\tmfrom\tpass%", 0, "a % at the very end" },
	{ "1\t192.0.2.1\texa%G0mple.com\tb.example\tnone\tpass\tfail\t\t\t0"
	    GOOD_TAIL, 0, "a non-hex escape" },
};

/* xorshift - a fixed pseudo-random sequence for the mutations */
static uint64_t rnd_state = 0x9e3779b97f4a7c15ULL;
static uint64_t xorshift(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

/* test_decode - broken rows refused; long fields at and over the bound;
 * random mutations: a mutant that decodes encodes to its own bytes */
static void test_decode(void)
{
	struct dmarc_agg_row r;
	char *buf = malloc(2 * DMARC_AGG_ROW_MAX), *enc = malloc(
	    DMARC_AGG_ROW_MAX);
	size_t n, decoded = 0, canonical = 0, prefixes_bad = 1;

	for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
		size_t len = broken[i].len ? broken[i].len :
		    strlen(broken[i].row);
		int rc = dmarc_agg_row_decode(broken[i].row, len, &r);

		if (broken[i].why == NULL)
			is_int(rc, 0, "decode: the well-formed control row");
		else
			is_int(rc, -1, broken[i].why);
	}
	/* a 255-byte field decodes, 256 bytes do not */
	n = (size_t)snprintf(buf, DMARC_AGG_ROW_MAX, "1\t192.0.2.1\t");
	memset(buf + n, 'h', 255);
	n += 255;
	n += (size_t)snprintf(buf + n, DMARC_AGG_ROW_MAX - n,
	    "\tb\tnone\tpass\tfail\t\t\t0" GOOD_TAIL);
	is_int(dmarc_agg_row_decode(buf, n, &r), 0, "255-byte header_from");
	is_int(strlen(r.header_from), 255, "  all of it");
	memmove(buf + 13, buf + 12, n - 12);
	buf[12] = 'h';
	is_int(dmarc_agg_row_decode(buf, n + 1, &r), -1,
	    "256-byte header_from refused");
	/* 255 bytes written %XX (765 in the row): fine; 256: not */
	n = (size_t)snprintf(buf, DMARC_AGG_ROW_MAX, "1\t192.0.2.1\t");
	for (int i = 0; i < 255; i++)
		n += (size_t)snprintf(buf + n, 4, "%%20");
	n += (size_t)snprintf(buf + n, DMARC_AGG_ROW_MAX - n,
	    "\tb\tnone\tpass\tfail\t\t\t0" GOOD_TAIL);
	is_int(dmarc_agg_row_decode(buf, n, &r), 0,
	    "255 bytes written escaped decode");
	n = (size_t)snprintf(buf, DMARC_AGG_ROW_MAX, "1\t192.0.2.1\t");
	for (int i = 0; i < 256; i++)
		n += (size_t)snprintf(buf + n, 4, "%%20");
	n += (size_t)snprintf(buf + n, DMARC_AGG_ROW_MAX - n,
	    "\tb\tnone\tpass\tfail\t\t\t0" GOOD_TAIL);
	is_int(dmarc_agg_row_decode(buf, n, &r), -1,
	    "256 bytes written escaped refused");
	/* a row of DMARC_AGG_ROW_MAX bytes is too long, whatever it says */
	n = (size_t)snprintf(buf, DMARC_AGG_ROW_MAX, GOOD_HEAD "0" GOOD_TAIL);
	is_int(dmarc_agg_row_decode(buf, DMARC_AGG_ROW_MAX, &r), -1,
	    "a row of DMARC_AGG_ROW_MAX bytes refused");

	/* every strict prefix of a good row is refused */
	sample(&r, "198.51.100.7");
	dmarc_agg_row_encode(&r, enc, DMARC_AGG_ROW_MAX);
	for (size_t i = 0; i < strlen(enc); i++)
		if (dmarc_agg_row_decode(enc, i, &r) == 0)
			prefixes_bad = 0;
	ok(prefixes_bad, "every strict prefix of a row refused");

	/* mutations: replace, insert or delete bytes; what still decodes
	 * must be the one encoding of what it decodes to */
	for (int i = 0; i < 30000; i++) {
		struct dmarc_agg_row m;
		static const char alphabet[] = "\t%0aAF9 \n\x7f\xff.:1";

		sample(&r, i & 1 ? "198.51.100.7" : "2001:db8::7");
		r.ndkim = (size_t)(i % 3);
		dmarc_agg_row_encode(&r, buf, DMARC_AGG_ROW_MAX);
		n = strlen(buf);
		for (int k = 0, edits = 1 + (int)(xorshift() % 3); k < edits;
		    k++) {
			size_t at = (size_t)(xorshift() % (n + 1));
			char c = alphabet[xorshift() % (sizeof(alphabet) - 1)];

			switch (xorshift() % 3) {
			case 0:
				if (at < n)
					buf[at] = c;
				break;
			case 1:
				memmove(buf + at + 1, buf + at, n - at);
				buf[at] = c;
				n++;
				break;
			default:
				if (at < n) {
					memmove(buf + at, buf + at + 1,
					    n - at - 1);
					n--;
				}
			}
		}
		if (dmarc_agg_row_decode(buf, n, &m) < 0)
			continue;
		decoded++;
		if (dmarc_agg_row_encode(&m, enc, DMARC_AGG_ROW_MAX) == 0 &&
		    strlen(enc) == n && memcmp(enc, buf, n) == 0)
			canonical++;
	}
	ok(decoded > 100 && canonical == decoded,
	    "30000 mutated rows: %zu decode, each its own one encoding",
	    decoded);
	free(buf);
	free(enc);
}

/* test_bucket_names - "<hour>/<domain>" */
static void test_bucket_names(void)
{
	char name[DMARC_AGG_BUCKET_MAX], dom[DMARC_AGG_BUCKET_MAX], small[12];
	char longdom[300];
	time_t hour;

	is_int(dmarc_agg_bucket_name(T0, "Example.COM", name, sizeof(name)),
	    0, "bucket name");
	is_str(name, "1699999200/example.com", "  hour start, lower case");
	is_int(dmarc_agg_bucket_parse(name, &hour, dom, sizeof(dom)), 0,
	    "  parses");
	ok(hour == 1699999200 && !strcmp(dom, "example.com"), "  back");
	dmarc_agg_bucket_name(1699999200 + 3599, "x.example", name,
	    sizeof(name));
	is_str(name, "1699999200/x.example", "last second of the hour");
	dmarc_agg_bucket_name(1699999200 + 3600, "x.example", name,
	    sizeof(name));
	is_str(name, "1700002800/x.example", "first second of the next");
	dmarc_agg_bucket_name(0, "x", name, sizeof(name));
	is_str(name, "0/x", "time 0");
	is_int(dmarc_agg_bucket_name(-1, "x", name, sizeof(name)), -1,
	    "negative time refused");
	is_int(dmarc_agg_bucket_name(T0, "b\xc3\xbc" "cher.example", name,
	    sizeof(name)), 0, "UTF-8 domain kept as it is");
	is_int(dmarc_agg_bucket_parse(name, &hour, dom, sizeof(dom)), 0,
	    "  and parses");
	is_int(dmarc_agg_bucket_name(T0, "", name, sizeof(name)), -1,
	    "empty domain refused");
	is_int(dmarc_agg_bucket_name(T0, "a/b", name, sizeof(name)), -1,
	    "'/' in domain refused");
	is_int(dmarc_agg_bucket_name(T0, "a{b}", name, sizeof(name)), -1,
	    "braces in domain refused");
	is_int(dmarc_agg_bucket_name(T0, "a b", name, sizeof(name)), -1,
	    "space in domain refused");
	is_int(dmarc_agg_bucket_name(T0, "a\nb", name, sizeof(name)), -1,
	    "LF in domain refused");
	is_int(dmarc_agg_bucket_name(T0, "example.com", small, sizeof(small)),
	    -1, "too small a buffer: -1");
	/* 10 digits + '/' + 288 = 299 bytes: the most that fits */
	memset(longdom, 'd', 288);
	longdom[288] = '\0';
	is_int(dmarc_agg_bucket_name(T0, longdom, name, sizeof(name)), 0,
	    "a 299-byte bucket name");
	is_int(dmarc_agg_bucket_parse(name, &hour, dom, sizeof(dom)), 0,
	    "  parses");
	is_int(dmarc_agg_bucket_parse(name, &hour, dom, 288), -1,
	    "  not into too small a domain buffer");
	longdom[288] = 'd';
	longdom[289] = '\0';
	is_int(dmarc_agg_bucket_name(T0, longdom, name, sizeof(name)), -1,
	    "a 300-byte bucket name refused");
	{
		static const char *bad[] = { "x/a", "01/a", "3601/a", "3600/",
		    "3600/A", "/a", "3600", "3600/a b", "3600//a",
		    "-3600/a", "+3600/a", "3600/a{", "1234567890123/a", "" };

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			char what[64];

			snprintf(what, sizeof(what), "parse refuses \"%s\"",
			    bad[i]);
			is_int(dmarc_agg_bucket_parse(bad[i], &hour, dom,
			    sizeof(dom)), -1, what);
		}
	}
}

/* what dmarc_agg_read gave */
struct got {
	struct dmarc_agg_row rows[64];
	unsigned long long counts[64];
	size_t n;
	char policy[4][256];
	unsigned long long pcounts[4];
	size_t np;
	unsigned long long total;
};

static int got_row(void *arg, const struct dmarc_agg_row *r,
    unsigned long long count)
{
	struct got *g = arg;

	if (g->n < 64) {
		g->rows[g->n] = *r;
		g->counts[g->n++] = count;
	}
	g->total += count;
	return 0;
}

static int got_policy(void *arg, const char *record, unsigned long long count)
{
	struct got *g = arg;

	if (g->np < 4) {
		snprintf(g->policy[g->np], 256, "%s", record);
		g->pcounts[g->np++] = count;
	}
	return 0;
}

/* read_bucket - dmarc_agg_read into a fresh got; bad rows in *bad */
static struct got *read_bucket(struct store *st, const char *bucket,
    size_t *bad)
{
	struct got *g = calloc(1, sizeof(*g));
	const char *err = NULL;
	size_t b = 0;

	if (dmarc_agg_read(st, bucket, got_row, got_policy, g, &b, &err) < 0)
		ok(0, "dmarc_agg_read %s: %s", bucket, err);
	if (bad)
		*bad = b;
	return g;
}

/* count_of - the count of the row from ip in g (0 if absent) */
static unsigned long long count_of(const struct got *g, const char *ip)
{
	for (size_t i = 0; i < g->n; i++)
		if (!strcmp(g->rows[i].source_ip, ip))
			return g->counts[i];
	return 0;
}

/* total_of - every row's count in a bucket */
static unsigned long long total_of(struct store *st, const char *bucket)
{
	struct got *g = read_bucket(st, bucket, NULL);
	unsigned long long t = g->total;

	free(g);
	return t;
}

/* the aggregate buckets listed */
struct names {
	char v[16][DMARC_AGG_BUCKET_MAX];
	size_t n;
};

static int name_fn(void *arg, const char *bucket)
{
	struct names *l = arg;

	if (l->n < 16)
		snprintf(l->v[l->n], DMARC_AGG_BUCKET_MAX, "%s", bucket);
	l->n++;
	return 0;
}

/* a store that fails on demand, over a real one */
enum flaky_mode { FLAKY_OK, FLAKY_BEFORE, FLAKY_AFTER };
struct flaky {
	struct store base;
	struct store *real;
	enum flaky_mode mode;
	const char *only;	/* fail only this bucket (NULL: all) */
	int calls;
};

static int flaky_add(struct store *st, const char *bucket, const char *id,
    const char *const *keys, const long long *deltas, size_t n,
    const char **err_r)
{
	struct flaky *f = (struct flaky *)st;
	int fail = f->mode != FLAKY_OK &&
	    (f->only == NULL || !strcmp(f->only, bucket));

	f->calls++;
	if (fail && f->mode == FLAKY_BEFORE) {
		*err_r = "flaky: down";
		return -1;
	}
	if (store_count_add_once(f->real, bucket, id, keys, deltas, n,
	    err_r) < 0)
		return -1;
	if (fail) {	/* FLAKY_AFTER: applied, but the answer was lost */
		*err_r = "flaky: timed out";
		return -1;
	}
	return 0;
}

static int flaky_buckets(struct store *st, store_bucket_fn *fn, void *arg,
    const char **err_r)
{
	return store_count_buckets(((struct flaky *)st)->real, fn, arg,
	    err_r);
}

static int flaky_read(struct store *st, const char *bucket,
    store_count_fn *fn, void *arg, const char **err_r)
{
	return store_count_read(((struct flaky *)st)->real, bucket, fn, arg,
	    err_r);
}

static int flaky_drop(struct store *st, const char *bucket,
    const char **err_r)
{
	return store_count_drop(((struct flaky *)st)->real, bucket, err_r);
}

static const struct store_ops flaky_ops = {
	.kind = "flaky",
	.count_add = flaky_add,
	.count_buckets = flaky_buckets,
	.count_read = flaky_read,
	.count_drop = flaky_drop,
};

/* add_n - n messages from ip for dom at time t */
static void add_n(struct dmarc_agg *a, time_t t, const char *dom,
    const char *ip, int n)
{
	struct dmarc_agg_row r;

	sample(&r, ip);
	snprintf(r.header_from, sizeof(r.header_from), "%s", dom);
	for (int i = 0; i < n; i++)
		dmarc_agg_add(a, t, dom, &r);
}

/* test_agg - counting, flushing, reading, dropping */
static void test_agg(struct store *st)
{
	struct dmarc_agg *a = dmarc_agg_new(st, 0);
	const char *err = NULL;
	size_t dropped = 99, bad = 99;
	struct names *l = calloc(1, sizeof(*l));
	struct got *g;
	char b1[DMARC_AGG_BUCKET_MAX], b2[DMARC_AGG_BUCKET_MAX],
	    b3[DMARC_AGG_BUCKET_MAX];

	dmarc_agg_bucket_name(T0, "a.example", b1, sizeof(b1));
	dmarc_agg_bucket_name(T0 + 3600, "a.example", b2, sizeof(b2));
	dmarc_agg_bucket_name(T0, "b.example", b3, sizeof(b3));
	add_n(a, T0, "a.example", "192.0.2.1", 3);
	add_n(a, T0 + 10, "A.Example", "192.0.2.2", 2);
	add_n(a, T0 + 3600, "a.example", "192.0.2.1", 5);
	add_n(a, T0, "b.example", "2001:db8::1", 7);
	dmarc_agg_policy(a, T0, "a.example", "v=DMARC1; p=reject");
	dmarc_agg_policy(a, T0, "a.example", "v=DMARC1; p=reject");
	dmarc_agg_policy(a, T0, "a.example", "v=DMARC1;\tp=none");
	is_int(total_of(st, b1), 0, "nothing in the store before a flush");
	is_int(dmarc_agg_flush(a, &dropped, &err), 0, "flush");
	is_int(dropped, 0, "  nothing dropped");
	g = read_bucket(st, b1, &bad);
	ok(g->n == 2 && count_of(g, "192.0.2.1") == 3 &&
	    count_of(g, "192.0.2.2") == 2 && bad == 0,
	    "bucket a.example, first hour: 2 rows, 3 + 2 messages");
	ok(g->np == 2 && ((!strcmp(g->policy[0], "v=DMARC1; p=reject") &&
	    g->pcounts[0] == 2 && !strcmp(g->policy[1], "v=DMARC1;\tp=none"))
	    || (!strcmp(g->policy[1], "v=DMARC1; p=reject") &&
	    g->pcounts[1] == 2)), "  two policy records, one seen twice");
	{
		int as_added = g->n == 2;

		for (size_t i = 0; i < g->n; i++)
			if (strcmp(g->rows[i].header_from,
			    !strcmp(g->rows[i].source_ip, "192.0.2.1") ?
			    "a.example" : "A.Example") ||
			    g->rows[i].disposition != DMARC_AGG_QUARANTINE ||
			    g->rows[i].ndkim != 2 ||
			    strcmp(g->rows[i].dkim[1].domain, "list.example"))
				as_added = 0;
		ok(as_added, "  rows as they were added (the bucket's domain "
		    "in lower case, header_from as it was)");
	}
	free(g);
	is_int(total_of(st, b2), 5, "second hour: 5");
	g = read_bucket(st, b3, NULL);
	ok(g->n == 1 && count_of(g, "2001:db8::1") == 7 && g->np == 0,
	    "b.example: 7, no policy record");
	free(g);

	is_int(dmarc_agg_flush(a, &dropped, &err), 0, "flush with nothing");
	is_int(total_of(st, b1), 5, "  changes nothing");
	add_n(a, T0 + 20, "a.example", "192.0.2.1", 4);
	is_int(dmarc_agg_flush(a, &dropped, &err), 0, "flush more");
	g = read_bucket(st, b1, NULL);
	is_int(count_of(g, "192.0.2.1"), 7, "  counts add up: 3 + 4");
	free(g);

	is_int(dmarc_agg_buckets(st, name_fn, l, &err), 0, "list buckets");
	ok(l->n == 3, "  the 3 report buckets, not the store test's (%zu)",
	    l->n);

	/* rows another host wrote badly */
	{
		const char *keys[3] = { "1\tgarbage", "1\t192.0.2.9\tx\ty"
		    "\tnone\tpass\tfail\t\t\t0\t\t\t", "P\t" };
		long long d[3] = { 4, -2, 1 };

		store_count_add(st, b1, keys, d, 3, &err);
		g = read_bucket(st, b1, &bad);
		ok(bad == 3 && g->n == 2 && g->total == 7 + 2 &&
		    count_of(g, "192.0.2.9") == 0,
		    "malformed rows, a negative count, an empty policy: "
		    "skipped, counted as bad (%zu)", bad);
		free(g);
	}
	is_int(dmarc_agg_read(st, "kept", got_row, NULL, NULL, &bad, &err),
	    -1, "read: not a report bucket name refused");
	is_int(dmarc_agg_drop(st, "3600/a b", &err), -1,
	    "drop: not a report bucket name refused");
	is_int(dmarc_agg_drop(st, b1, &err), 0, "drop a bucket");
	is_int(total_of(st, b1), 0, "  it is empty");
	memset(l, 0, sizeof(*l));
	dmarc_agg_buckets(st, name_fn, l, &err);
	is_int(l->n, 2, "  and no longer listed");

	add_n(a, T0, "b.example", "2001:db8::1", 1);
	dmarc_agg_free(&a);
	ok(a == NULL, "free sets the pointer to NULL");
	is_int(total_of(st, b3), 8, "free flushed the last counts");
	dmarc_agg_drop(st, b2, &err);
	dmarc_agg_drop(st, b3, &err);
	free(l);
}

/* test_max_rows - the bound on distinct rows in memory */
static void test_max_rows(struct store *st)
{
	struct dmarc_agg *a = dmarc_agg_new(st, 5);
	struct dmarc_agg_row r;
	const char *err = NULL;
	size_t dropped = 0;
	char ip[32], b[DMARC_AGG_BUCKET_MAX], longdom[300];

	dmarc_agg_bucket_name(T0, "max.example", b, sizeof(b));
	for (int i = 1; i <= 8; i++) {
		snprintf(ip, sizeof(ip), "192.0.2.%d", i);
		add_n(a, T0, "max.example", ip, 1);
	}
	add_n(a, T0, "max.example", "192.0.2.1", 10);	/* known row */
	add_n(a, T0, "max.example", "192.0.2.8", 10);	/* not kept */
	is_int(dmarc_agg_flush(a, &dropped, &err), 0, "flush");
	is_int(dropped, 3 + 10, "  8 rows, 5 kept: 13 messages dropped");
	is_int(total_of(st, b), 5 + 10, "  the 5 rows in the store: 15");
	for (int i = 11; i <= 15; i++) {
		snprintf(ip, sizeof(ip), "192.0.2.%d", i);
		add_n(a, T0, "max.example", ip, 1);
	}
	is_int(dmarc_agg_flush(a, &dropped, &err), 0,
	    "after a flush 5 new rows fit");
	is_int(dropped, 0, "  none dropped");
	is_int(total_of(st, b), 20, "  20");

	/* not countable: counted as dropped */
	sample(&r, "not-an-ip");
	dmarc_agg_add(a, T0, "max.example", &r);
	sample(&r, "192.0.2.1");
	dmarc_agg_add(a, T0, "bad domain", &r);
	memset(longdom, 'd', 295);
	longdom[295] = '\0';
	dmarc_agg_add(a, T0, longdom, &r);
	dmarc_agg_policy(a, T0, "bad/domain", "v=DMARC1; p=none");
	dmarc_agg_flush(a, &dropped, &err);
	is_int(dropped, 4, "bad IP, bad or long domain: dropped, counted");
	dmarc_agg_drop(st, b, &err);
	dmarc_agg_free(&a);
}

/* test_failures - a store failing before or after applying a batch */
static void test_failures(struct store *real)
{
	struct flaky f = { { &flaky_ops }, real, FLAKY_BEFORE, NULL, 0 };
	struct dmarc_agg *a = dmarc_agg_new(&f.base, 3);
	const char *err = NULL;
	size_t dropped = 0;
	char b1[DMARC_AGG_BUCKET_MAX], b2[DMARC_AGG_BUCKET_MAX];
	int rc;

	dmarc_agg_bucket_name(T0, "f1.example", b1, sizeof(b1));
	dmarc_agg_bucket_name(T0, "f2.example", b2, sizeof(b2));
	add_n(a, T0, "f1.example", "192.0.2.1", 10);
	add_n(a, T0, "f1.example", "192.0.2.2", 1);
	is_int(dmarc_agg_flush(a, &dropped, &err), -1,
	    "store down: flush fails");
	is_str(err, "flaky: down", "  with the store's reason");
	is_int(total_of(real, b1), 0, "  nothing stored");
	/* 2 rows wait in a batch; the table holds 1 more row at most */
	add_n(a, T0, "f1.example", "192.0.2.1", 5);	/* 3rd row: kept */
	add_n(a, T0, "f1.example", "192.0.2.3", 1);	/* over max_rows */
	add_n(a, T0, "f1.example", "192.0.2.4", 1);	/* over max_rows */
	is_int(dmarc_agg_flush(a, &dropped, &err), -1, "still down");
	is_int(dropped, 2, "  rows waiting count against max_rows");
	f.mode = FLAKY_OK;
	is_int(dmarc_agg_flush(a, &dropped, &err), 0, "store back: flush");
	is_int(total_of(real, b1), 16, "  every kept message, once: 16");
	is_int(dmarc_agg_flush(a, &dropped, &err), 0, "flush again");
	is_int(total_of(real, b1), 16, "  nothing twice");

	/* applied, but the answer lost: the retry must not count again */
	f.mode = FLAKY_AFTER;
	add_n(a, T0, "f1.example", "192.0.2.1", 100);
	is_int(dmarc_agg_flush(a, &dropped, &err), -1,
	    "store applied the batch but the answer was lost: -1");
	is_int(total_of(real, b1), 116, "  (it is in the store)");
	f.mode = FLAKY_OK;
	f.calls = 0;
	is_int(dmarc_agg_flush(a, &dropped, &err), 0, "retry");
	is_int(f.calls, 1, "  the same batch sent again");
	is_int(total_of(real, b1), 116, "  counted once: 116");

	/* one bucket failing does not hold the others back */
	f.mode = FLAKY_BEFORE;
	f.only = b1;
	add_n(a, T0, "f1.example", "192.0.2.1", 1);
	add_n(a, T0, "f2.example", "192.0.2.1", 2);
	rc = dmarc_agg_flush(a, &dropped, &err);
	ok(rc == -1 && total_of(real, b2) == 2 && total_of(real, b1) == 116,
	    "one bucket fails, the other is stored");
	f.mode = FLAKY_OK;
	is_int(dmarc_agg_flush(a, &dropped, &err), 0, "  then both");
	is_int(total_of(real, b1), 117, "  117");
	dmarc_agg_free(&a);

	/* two batches of one bucket: the second waits for the first */
	a = dmarc_agg_new(&f.base, 2 * STORE_COUNT_ADD_MAX);
	{
		char ip[32];

		for (int i = 0; i < STORE_COUNT_ADD_MAX + 10; i++) {
			snprintf(ip, sizeof(ip), "10.0.%d.%d", i / 250, i % 250);
			add_n(a, T0, "f2.example", ip, 1);
		}
	}
	f.mode = FLAKY_AFTER;
	f.only = b2;
	f.calls = 0;
	is_int(dmarc_agg_flush(a, &dropped, &err), -1,
	    "1010 rows, 2 batches; the first in doubt");
	is_int(f.calls, 1, "  the second was not sent after it");
	f.mode = FLAKY_OK;
	f.calls = 0;
	is_int(dmarc_agg_flush(a, &dropped, &err), 0, "  retry");
	is_int(f.calls, 2, "  both sent");
	is_int(total_of(real, b2), 2 + 1010, "  each row once");
	dmarc_agg_free(&a);
	dmarc_agg_drop(real, b1, &err);
	dmarc_agg_drop(real, b2, &err);
}

/* the threads test */
struct worker {
	struct dmarc_agg *a;
	int id;
	int *stop;
	int flushes, fails;
};

#define THREADS 4
#define ADDS 10000
#define ROWS 25

static void *adder(void *arg)
{
	struct worker *w = arg;
	struct dmarc_agg_row r;
	char ip[32];

	for (int i = 0; i < ADDS; i++) {
		snprintf(ip, sizeof(ip), "192.0.2.%d", i % ROWS);
		sample(&r, ip);
		/* two buckets: two domains */
		dmarc_agg_add(w->a, T0, i % 2 ? "t1.example" : "t2.example",
		    &r);
	}
	return NULL;
}

static void *flusher(void *arg)
{
	struct worker *w = arg;
	const char *err;

	while (!__atomic_load_n(w->stop, __ATOMIC_ACQUIRE)) {
		if (dmarc_agg_flush(w->a, NULL, &err) < 0)
			w->fails++;
		w->flushes++;
		usleep(200);
	}
	return NULL;
}

/* test_threads - 4 threads x 10000 adds while a 5th flushes: exact */
static void test_threads(struct store *st)
{
	struct dmarc_agg *a = dmarc_agg_new(st, 0);
	pthread_t t[THREADS + 1];
	struct worker w[THREADS + 1];
	int stop = 0;
	const char *err = NULL;
	size_t dropped = 0;
	char b1[DMARC_AGG_BUCKET_MAX], b2[DMARC_AGG_BUCKET_MAX];
	struct got *g1, *g2;
	int exact = 1;

	for (int i = 0; i <= THREADS; i++) {
		w[i].a = a;
		w[i].id = i;
		w[i].stop = &stop;
		w[i].flushes = w[i].fails = 0;
		pthread_create(&t[i], NULL, i < THREADS ? adder : flusher,
		    &w[i]);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	pthread_join(t[THREADS], NULL);
	is_int(dmarc_agg_flush(a, &dropped, &err), 0, "last flush");
	dmarc_agg_bucket_name(T0, "t1.example", b1, sizeof(b1));
	dmarc_agg_bucket_name(T0, "t2.example", b2, sizeof(b2));
	g1 = read_bucket(st, b1, NULL);
	g2 = read_bucket(st, b2, NULL);
	for (int i = 0; i < ROWS; i++) {
		char ip[32];

		snprintf(ip, sizeof(ip), "192.0.2.%d", i);
		/* each thread adds each row 400 times, spread over the two
		 * buckets */
		if (count_of(g1, ip) + count_of(g2, ip) != THREADS * ADDS /
		    ROWS)
			exact = 0;
	}
	ok(g1->total + g2->total == THREADS * ADDS && exact &&
	    w[THREADS].fails == 0,
	    "4 threads x 10000 adds, %d flushes meanwhile: exactly %llu",
	    w[THREADS].flushes, g1->total + g2->total);
	free(g1);
	free(g2);
	dmarc_agg_free(&a);
	dmarc_agg_drop(st, b1, &err);
	dmarc_agg_drop(st, b2, &err);
}

/* sync_point - tell the harness, wait until it has acted */
static void sync_point(const char *what)
{
	char line[64];

	printf("# SYNC %s\n", what);
	fflush(stdout);
	if (fgets(line, sizeof(line), stdin) == NULL)
		ok(0, "harness went away at %s", what);
}

/* flush_until - flush until it works, at most secs seconds */
static int flush_until(struct dmarc_agg *a, int secs, const char **err_r)
{
	for (int i = 0; i < secs * 10; i++) {
		if (dmarc_agg_flush(a, NULL, err_r) == 0)
			return 0;
		usleep(100000);
	}
	return -1;
}

/* test_sync - Redis stopped between flushes, restarted; then paused */
static void test_sync(struct store *st)
{
	struct dmarc_agg *a = dmarc_agg_new(st, 0);
	const char *err = NULL;
	char b[DMARC_AGG_BUCKET_MAX];
	int rc;

	dmarc_agg_bucket_name(T0, "sync.example", b, sizeof(b));
	add_n(a, T0, "sync.example", "192.0.2.1", 100);
	is_int(dmarc_agg_flush(a, NULL, &err), 0, "flush 100");
	add_n(a, T0, "sync.example", "192.0.2.1", 50);
	add_n(a, T0, "sync.example", "192.0.2.2", 5);
	sync_point("stop");
	rc = dmarc_agg_flush(a, NULL, &err);
	ok(rc < 0, "Redis stopped: flush fails: %s", rc < 0 ? err : "-");
	add_n(a, T0, "sync.example", "192.0.2.1", 25);
	sync_point("start");
	ok(flush_until(a, 20, &err) == 0, "Redis back: a flush works");
	is_int(total_of(st, b), 180, "  every count exactly once: 180");

	add_n(a, T0, "sync.example", "192.0.2.3", 20);
	sync_point("pause");
	rc = dmarc_agg_flush(a, NULL, &err);
	ok(rc < 0, "Redis asleep: flush fails: %s", rc < 0 ? err : "-");
	ok(flush_until(a, 20, &err) == 0, "Redis awake: a flush works");
	is_int(total_of(st, b), 200, "  every count exactly once: 200");
	dmarc_agg_free(&a);
	dmarc_agg_drop(st, b, &err);
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
	if (redis && getenv("POSTERN_TEST_SYNC") != NULL) {
		so.timeout_ms = 250;	/* each call gives up after 2 s */
		if ((st = store_open(spec, &so, &err)) == NULL)
			return 2;
		test_sync(st);
		store_close(&st);
		return done_testing();
	}
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

	test_codec();
	test_decode();
	test_bucket_names();
	test_agg(st);
	test_max_rows(st);
	test_failures(st);
	test_threads(st);

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
