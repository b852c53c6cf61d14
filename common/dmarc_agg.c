/*
 * dmarc_agg.c - DMARC aggregate-report data over the store's counters:
 *               the row codec, bucket names, the milter's in-memory
 *               table and its flusher, and the report tool's readers
 *               (see dmarc_agg.h for the formats and the contract).
 *
 * Public: see dmarc_agg.h.
 * Trust: rows carry peer data (domains, selectors, comments): encoding
 *        escapes every byte that could end a field; decoding reads what
 *        any host sharing the store wrote and checks every field.
 * Errors: 0 / -1 with *err_r; dmarc_agg_add cannot fail (a row it
 *         cannot keep is counted as dropped).
 *
 * The table: a tree (tsearch) keyed by bucket and row, so lookups stay
 * O(log n) whatever keys a peer chooses, and the rows of one bucket sort
 * together for the flush.  Rows also sit in an array, so the flusher
 * takes the whole table under the mutex in O(1) and works on it without
 * holding the mutex.  Rows the store did not take wait as batches in a
 * pending list, owned by the flusher (flush_mu); max_rows counts rows in
 * the table and in the pending list together.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <search.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "dmarc_agg.h"
#include "log.h"
#include "store.h"
#include "xalloc.h"

#if DMARC_AGG_BUCKET_MAX - 1 > STORE_BUCKET_MAX || \
    DMARC_AGG_ROW_MAX - 1 > STORE_COUNTER_KEY_MAX
#error "DMARC aggregate rows or buckets would not fit the store's bounds"
#endif

#define ROW_VERSION "1"
#define POLICY_PREFIX "P\t"
#define FLUSH_FAILS_MAX 2	/* failed batches before a flush gives up */
#define SOURCE_BYTES 16		/* random bytes of a batch id's source */

static const char *const disp_names[] = { "none", "quarantine", "reject" };
static const char *const reasons[] = { "forwarded", "sampled_out",
	"trusted_forwarder", "mailing_list", "local_policy", "other", NULL };
static const char *const dkim_results[] = { "none", "pass", "fail",
	"policy", "neutral", "temperror", "permerror", NULL };
static const char *const spf_results[] = { "none", "neutral", "pass",
	"fail", "softfail", "temperror", "permerror", NULL };
static const char *const spf_scopes[] = { "mfrom", "helo", NULL };

/* in_vocab - s is one of the words of v (NULL-terminated) */
static int in_vocab(const char *s, const char *const *v)
{
	for (; *v; v++)
		if (strcmp(s, *v) == 0)
			return 1;
	return 0;
}

/* needs_escape - a byte written %XX inside a value */
static int needs_escape(unsigned char c)
{
	return c < 0x21 || c == '%' || c == 0x7f;
}

/* put_value - escaped s, a NUL-terminated string that must be shorter
 * than size (its field's size); -1 if it is not, or the row is full */
static int put_value(struct buf *b, const char *s, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strnlen(s, size);

	if (n == size)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char e[3] = { '%', hex[c >> 4], hex[c & 15] };

		if (needs_escape(c) ? buf_append(b, e, 3) < 0 :
		    buf_appendc(b, c) < 0)
			return -1;
	}
	return 0;
}

/* put_field - TAB, then the escaped value */
static int put_field(struct buf *b, const char *s, size_t size)
{
	return buf_appendc(b, '\t') < 0 ? -1 : put_value(b, s, size);
}

/* spf_ok - the SPF triple is absent (all "") or a result with a scope */
static int spf_ok(const char *dom, const char *scope, const char *res)
{
	if (res[0] == '\0')
		return dom[0] == '\0' && scope[0] == '\0';
	return in_vocab(res, spf_results) && in_vocab(scope, spf_scopes);
}

/* dmarc_agg_row_encode - see dmarc_agg.h */
int dmarc_agg_row_encode(const struct dmarc_agg_row *r, char *out,
    size_t outlen)
{
	char ip[IP_STR_MAX];
	struct ipaddr a;
	struct buf b;
	int rc = -1;

	if (strnlen(r->source_ip, sizeof(r->source_ip)) ==
	    sizeof(r->source_ip) || ip_parse(r->source_ip, &a) < 0 ||
	    (unsigned)r->disposition > DMARC_AGG_REJECT ||
	    r->ndkim > DMARC_AGG_DKIM_MAX ||
	    strnlen(r->reason, sizeof(r->reason)) == sizeof(r->reason) ||
	    (r->reason[0] && !in_vocab(r->reason, reasons)) ||
	    strnlen(r->spf_domain, sizeof(r->spf_domain)) ==
	    sizeof(r->spf_domain) ||
	    strnlen(r->spf_scope, sizeof(r->spf_scope)) ==
	    sizeof(r->spf_scope) ||
	    strnlen(r->spf_result, sizeof(r->spf_result)) ==
	    sizeof(r->spf_result) ||
	    !spf_ok(r->spf_domain, r->spf_scope, r->spf_result))
		return -1;
	for (size_t i = 0; i < r->ndkim; i++)
		if (strnlen(r->dkim[i].result, sizeof(r->dkim[i].result)) ==
		    sizeof(r->dkim[i].result) ||
		    !in_vocab(r->dkim[i].result, dkim_results))
			return -1;
	ip_format(&a, ip, sizeof(ip));
	buf_init(&b, DMARC_AGG_ROW_MAX - 1);
	if (buf_appends(&b, ROW_VERSION) < 0 ||
	    put_field(&b, ip, sizeof(ip)) < 0 ||
	    put_field(&b, r->header_from, sizeof(r->header_from)) < 0 ||
	    put_field(&b, r->envelope_from, sizeof(r->envelope_from)) < 0 ||
	    put_field(&b, disp_names[r->disposition], 16) < 0 ||
	    put_field(&b, r->dkim_aligned_pass ? "pass" : "fail", 8) < 0 ||
	    put_field(&b, r->spf_aligned_pass ? "pass" : "fail", 8) < 0 ||
	    put_field(&b, r->reason, sizeof(r->reason)) < 0 ||
	    put_field(&b, r->reason_comment, sizeof(r->reason_comment)) < 0 ||
	    buf_appendf(&b, "\t%zu", r->ndkim) < 0)
		goto out;
	for (size_t i = 0; i < r->ndkim; i++)
		if (put_field(&b, r->dkim[i].domain,
		    sizeof(r->dkim[i].domain)) < 0 ||
		    put_field(&b, r->dkim[i].selector,
		    sizeof(r->dkim[i].selector)) < 0 ||
		    put_field(&b, r->dkim[i].result,
		    sizeof(r->dkim[i].result)) < 0)
			goto out;
	if (put_field(&b, r->spf_domain, sizeof(r->spf_domain)) < 0 ||
	    put_field(&b, r->spf_scope, sizeof(r->spf_scope)) < 0 ||
	    put_field(&b, r->spf_result, sizeof(r->spf_result)) < 0 ||
	    BUF_LEN(&b) >= outlen)
		goto out;
	memcpy(out, BUF_DATA(&b), BUF_LEN(&b) + 1);
	rc = 0;
out:
	buf_free(&b);
	return rc;
}

/* the fields of an encoded row, one at a time */
struct fields {
	const char *p, *end;
	int done;
};

/* next_field - the next TAB-separated field; -1 past the last */
static int next_field(struct fields *f, const char **s_r, size_t *len_r)
{
	const char *tab;

	if (f->done)
		return -1;
	tab = memchr(f->p, '\t', (size_t)(f->end - f->p));
	*s_r = f->p;
	if (tab == NULL) {
		*len_r = (size_t)(f->end - f->p);
		f->p = f->end;
		f->done = 1;
	} else {
		*len_r = (size_t)(tab - f->p);
		f->p = tab + 1;
	}
	return 0;
}

/* hexval - an upper-case hex digit's value, -1 for anything else */
static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* unescape - a value in its one canonical form into out (NUL-terminated,
 * shorter than size); -1 on anything else */
static int unescape(const char *s, size_t len, char *out, size_t size)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= len ||
			    (hi = hexval(s[i + 1])) < 0 ||
			    (lo = hexval(s[i + 2])) < 0)
				return -1;
			c = (unsigned char)(hi << 4 | lo);
			/* only what must be escaped is, and never a NUL */
			if (c == '\0' || !needs_escape(c))
				return -1;
			i += 2;
		} else if (needs_escape(c)) {
			return -1;
		}
		if (o + 1 >= size)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

/* get_field - the next field, unescaped into out[size]; -1 if malformed */
static int get_field(struct fields *f, char *out, size_t size)
{
	const char *s;
	size_t len;

	return next_field(f, &s, &len) < 0 ? -1 : unescape(s, len, out, size);
}

/* get_word - the next field, one of the words of v (or "" if empty_ok) */
static int get_word(struct fields *f, char *out, size_t size,
    const char *const *v, int empty_ok)
{
	if (get_field(f, out, size) < 0)
		return -1;
	if (out[0] == '\0')
		return empty_ok ? 0 : -1;
	return in_vocab(out, v) ? 0 : -1;
}

/* get_pass - "pass" 1, "fail" 0, else -1 */
static int get_pass(struct fields *f)
{
	char w[8];

	if (get_field(f, w, sizeof(w)) < 0)
		return -1;
	if (strcmp(w, "pass") == 0)
		return 1;
	return strcmp(w, "fail") == 0 ? 0 : -1;
}

/* dmarc_agg_row_decode - see dmarc_agg.h */
int dmarc_agg_row_decode(const char *s, size_t len, struct dmarc_agg_row *r)
{
	struct fields f = { s, s + len, 0 };
	static const char *const disps[] = { "none", "quarantine", "reject",
		NULL };
	char w[16], ip[IP_STR_MAX];
	struct ipaddr a;
	const char *v;
	size_t vl;
	int d, sp;

	memset(r, 0, sizeof(*r));
	if (len >= DMARC_AGG_ROW_MAX || next_field(&f, &v, &vl) < 0 ||
	    vl != strlen(ROW_VERSION) || memcmp(v, ROW_VERSION, vl) != 0)
		return -1;
	/* the address exactly as inet_ntop writes it: one row per source */
	if (get_field(&f, r->source_ip, sizeof(r->source_ip)) < 0 ||
	    ip_parse(r->source_ip, &a) < 0 ||
	    strcmp(ip_format(&a, ip, sizeof(ip)), r->source_ip) != 0)
		goto bad;
	if (get_field(&f, r->header_from, sizeof(r->header_from)) < 0 ||
	    get_field(&f, r->envelope_from, sizeof(r->envelope_from)) < 0 ||
	    get_word(&f, w, sizeof(w), disps, 0) < 0)
		goto bad;
	for (int i = 0; disps[i]; i++)
		if (strcmp(w, disps[i]) == 0)
			r->disposition = (enum dmarc_agg_disp)i;
	if ((d = get_pass(&f)) < 0 || (sp = get_pass(&f)) < 0)
		goto bad;
	r->dkim_aligned_pass = d;
	r->spf_aligned_pass = sp;
	if (get_word(&f, r->reason, sizeof(r->reason), reasons, 1) < 0 ||
	    get_field(&f, r->reason_comment, sizeof(r->reason_comment)) < 0 ||
	    next_field(&f, &v, &vl) < 0 || vl != 1 || v[0] < '0' ||
	    v[0] > '0' + DMARC_AGG_DKIM_MAX)
		goto bad;
	r->ndkim = (size_t)(v[0] - '0');
	for (size_t i = 0; i < r->ndkim; i++)
		if (get_field(&f, r->dkim[i].domain,
		    sizeof(r->dkim[i].domain)) < 0 ||
		    get_field(&f, r->dkim[i].selector,
		    sizeof(r->dkim[i].selector)) < 0 ||
		    get_word(&f, r->dkim[i].result, sizeof(r->dkim[i].result),
		    dkim_results, 0) < 0)
			goto bad;
	if (get_field(&f, r->spf_domain, sizeof(r->spf_domain)) < 0 ||
	    get_field(&f, r->spf_scope, sizeof(r->spf_scope)) < 0 ||
	    get_field(&f, r->spf_result, sizeof(r->spf_result)) < 0 ||
	    !spf_ok(r->spf_domain, r->spf_scope, r->spf_result) || !f.done)
		goto bad;
	return 0;
bad:
	memset(r, 0, sizeof(*r));
	return -1;
}

/* policy_encode - "P" TAB escaped record into out[DMARC_AGG_ROW_MAX] */
static int policy_encode(const char *record, char *out)
{
	struct buf b;
	int rc = -1;

	buf_init(&b, DMARC_AGG_ROW_MAX - 1);
	if (buf_appends(&b, POLICY_PREFIX) == 0 &&
	    put_value(&b, record, DMARC_AGG_ROW_MAX) == 0) {
		memcpy(out, BUF_DATA(&b), BUF_LEN(&b) + 1);
		rc = 0;
	}
	buf_free(&b);
	return rc;
}

/* --------------------------------------------------------- buckets */

/* domain_ok - a bucket's domain: 1 if every byte may be in one */
static int domain_ok(const char *d, size_t n)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)d[i];

		if (c < 0x21 || c == 0x7f || c == '/' || c == '{' || c == '}')
			return 0;
	}
	return 1;
}

/* dmarc_agg_bucket_name - see dmarc_agg.h */
int dmarc_agg_bucket_name(time_t t, const char *domain, char *out,
    size_t outlen)
{
	size_t dl = strnlen(domain, DMARC_AGG_BUCKET_MAX);
	int n;

	if (t < 0 || !domain_ok(domain, dl) || outlen > INT_MAX)
		return -1;
	n = snprintf(out, outlen, "%lld/%s", (long long)(t - t % 3600),
	    domain);
	if (n < 0 || (size_t)n >= outlen || n >= DMARC_AGG_BUCKET_MAX)
		return -1;
	for (char *p = strchr(out, '/'); *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return 0;
}

/* dmarc_agg_bucket_parse - see dmarc_agg.h */
int dmarc_agg_bucket_parse(const char *name, time_t *hour_r, char *dom,
    size_t domlen)
{
	size_t nd = strspn(name, "0123456789"), dl;
	long long hour = 0;
	const char *d;

	if (nd == 0 || nd > 12 || name[nd] != '/' ||
	    (name[0] == '0' && nd > 1))
		return -1;
	d = name + nd + 1;
	dl = strnlen(d, DMARC_AGG_BUCKET_MAX);
	if (nd + 1 + dl >= DMARC_AGG_BUCKET_MAX || !domain_ok(d, dl) ||
	    dl >= domlen)
		return -1;
	for (size_t i = 0; i < dl; i++)
		if (d[i] >= 'A' && d[i] <= 'Z')
			return -1;
	for (size_t i = 0; i < nd; i++)
		hour = hour * 10 + (name[i] - '0');
	if (hour % 3600 != 0 || (long long)(time_t)hour != hour)
		return -1;
	*hour_r = (time_t)hour;
	memcpy(dom, d, dl + 1);
	return 0;
}

/* ---------------------------------------------------- the milter side */

/* one row counted in memory: bucket and key live in the same block */
struct agg_entry {
	char *bucket;
	char *key;
	long long count;
};

/* rows the store has not taken yet, sent again as they are */
struct agg_batch {
	struct agg_batch *next;
	char id[STORE_COUNT_SOURCE_MAX + 24];	/* SOURCE:SEQ */
	struct agg_entry **e;		/* all of one bucket */
	size_t n;
};

struct dmarc_agg {
	struct store *s;
	size_t max_rows;
	pthread_mutex_t mu;		/* guards the table and the counts */
	void *root;			/* tsearch tree of the entries */
	struct agg_entry **v;		/* the same entries */
	size_t n, cap;
	size_t pending_rows;		/* rows in the pending batches */
	size_t dropped;			/* messages not counted */
	pthread_mutex_t flush_mu;	/* one flusher; guards the rest */
	struct agg_batch *pending;	/* oldest first */
	char source[2 * SOURCE_BYTES + 1];
	long long seq;
};

/* entry_cmp - tree order: bucket, then key */
static int entry_cmp(const void *a, const void *b)
{
	const struct agg_entry *x = a, *y = b;
	int c = strcmp(x->bucket, y->bucket);

	return c ? c : strcmp(x->key, y->key);
}

/* entry_pcmp - qsort order of entry pointers */
static int entry_pcmp(const void *a, const void *b)
{
	return entry_cmp(*(struct agg_entry *const *)a,
	    *(struct agg_entry *const *)b);
}

/* no_free - tdestroy: the entries are freed from the array */
static void no_free(void *p)
{
	(void)p;
}

/* dmarc_agg_new - see dmarc_agg.h */
struct dmarc_agg *dmarc_agg_new(struct store *s, size_t max_rows)
{
	struct dmarc_agg *a = xcalloc(1, sizeof(*a));
	unsigned char rnd[SOURCE_BYTES];

	a->s = s;
	a->max_rows = max_rows ? max_rows : DMARC_AGG_ROWS_DEFAULT;
	pthread_mutex_init(&a->mu, NULL);
	pthread_mutex_init(&a->flush_mu, NULL);
	/* the batch ids' source: unique per table, across hosts too */
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		struct timespec ts;
		uint64_t x;

		clock_gettime(CLOCK_REALTIME, &ts);
		x = (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec ^
		    (uint64_t)getpid() << 40 ^ (uint64_t)(uintptr_t)a;
		memset(rnd, 0, sizeof(rnd));
		memcpy(rnd, &x, sizeof(x));
	}
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(a->source + 2 * i, 3, "%02x", rnd[i]);
	return a;
}

/* count_key - one more for (bucket, key) */
static void count_key(struct dmarc_agg *a, const char *bucket,
    const char *key)
{
	struct agg_entry probe = { (char *)bucket, (char *)key, 0 }, *e;
	void *found;

	pthread_mutex_lock(&a->mu);
	found = tfind(&probe, &a->root, entry_cmp);
	if (found != NULL) {
		e = *(struct agg_entry **)found;
		e->count = store_count_saturate(e->count, 1);
	} else if (a->n + a->pending_rows >= a->max_rows) {
		a->dropped++;
	} else {
		size_t bl = strlen(bucket) + 1, kl = strlen(key) + 1;

		e = xmalloc(sizeof(*e) + bl + kl);
		e->bucket = (char *)(e + 1);
		e->key = e->bucket + bl;
		memcpy(e->bucket, bucket, bl);
		memcpy(e->key, key, kl);
		e->count = 1;
		if (tsearch(e, &a->root, entry_cmp) == NULL)
			log_panic("dmarc_agg: out of memory");
		if (a->n == a->cap) {
			a->cap = a->cap ? 2 * a->cap : 64;
			a->v = xrealloc(a->v, a->cap * sizeof(*a->v));
		}
		a->v[a->n++] = e;
	}
	pthread_mutex_unlock(&a->mu);
}

/* not_counted - a message that cannot be kept */
static void not_counted(struct dmarc_agg *a)
{
	pthread_mutex_lock(&a->mu);
	a->dropped++;
	pthread_mutex_unlock(&a->mu);
}

/* dmarc_agg_add - see dmarc_agg.h */
void dmarc_agg_add(struct dmarc_agg *a, time_t t, const char *dom,
    const struct dmarc_agg_row *r)
{
	char bucket[DMARC_AGG_BUCKET_MAX], *key = xmalloc(DMARC_AGG_ROW_MAX);

	if (dmarc_agg_bucket_name(t, dom, bucket, sizeof(bucket)) < 0 ||
	    dmarc_agg_row_encode(r, key, DMARC_AGG_ROW_MAX) < 0)
		not_counted(a);
	else
		count_key(a, bucket, key);
	free(key);
}

/* dmarc_agg_policy - see dmarc_agg.h */
void dmarc_agg_policy(struct dmarc_agg *a, time_t t, const char *dom,
    const char *record)
{
	char bucket[DMARC_AGG_BUCKET_MAX], *key = xmalloc(DMARC_AGG_ROW_MAX);

	if (dmarc_agg_bucket_name(t, dom, bucket, sizeof(bucket)) < 0 ||
	    policy_encode(record, key) < 0)
		not_counted(a);
	else
		count_key(a, bucket, key);
	free(key);
}

/* batch_free - a batch and its entries */
static void batch_free(struct agg_batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		free(b->e[i]);
	free(b->e);
	free(b);
}

/* make_batches - the taken table, sorted, as batches of one bucket and
 * at most STORE_COUNT_ADD_MAX rows at the end of the pending list */
static void make_batches(struct dmarc_agg *a, struct agg_entry **v,
    size_t n)
{
	struct agg_batch **tail = &a->pending;

	while (*tail)
		tail = &(*tail)->next;
	if (n == 0)
		return;
	qsort(v, n, sizeof(*v), entry_pcmp);
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;
		struct agg_batch *b;

		while (j < n && j - i < STORE_COUNT_ADD_MAX &&
		    strcmp(v[j]->bucket, v[i]->bucket) == 0)
			j++;
		b = xcalloc(1, sizeof(*b));
		snprintf(b->id, sizeof(b->id), "%s:%lld", a->source, ++a->seq);
		b->n = j - i;
		b->e = xmemdup(v + i, b->n * sizeof(*v));
		*tail = b;
		tail = &b->next;
		i = j;
	}
}

/* send_batch - one batch to the store; 0 taken */
static int send_batch(struct dmarc_agg *a, const struct agg_batch *b,
    const char **err_r)
{
	const char **keys = xcalloc(b->n, sizeof(*keys));
	long long *deltas = xcalloc(b->n, sizeof(*deltas));
	int rc;

	for (size_t i = 0; i < b->n; i++) {
		keys[i] = b->e[i]->key;
		deltas[i] = b->e[i]->count;
	}
	rc = store_count_add_once(a->s, b->e[0]->bucket, b->id, keys, deltas,
	    b->n, err_r);
	free(keys);
	free(deltas);
	return rc;
}

/* dmarc_agg_flush - see dmarc_agg.h.  Pending batches go first, in
 * order; a bucket whose batch failed sends no later batch this time
 * (its ids must arrive in order); after FLUSH_FAILS_MAX failures the
 * store is taken to be down and the rest waits for the next flush */
int dmarc_agg_flush(struct dmarc_agg *a, size_t *dropped_r,
    const char **err_r)
{
	static __thread char err[200];
	const char *blocked[FLUSH_FAILS_MAX];
	struct agg_entry **v;
	struct agg_batch **bp;
	size_t n, dropped, fails = 0, sent = 0;
	void *root;

	pthread_mutex_lock(&a->flush_mu);
	pthread_mutex_lock(&a->mu);
	v = a->v;
	n = a->n;
	root = a->root;
	a->v = NULL;
	a->n = a->cap = 0;
	a->root = NULL;
	a->pending_rows += n;
	dropped = a->dropped;
	a->dropped = 0;
	pthread_mutex_unlock(&a->mu);
	tdestroy(root, no_free);
	make_batches(a, v, n);
	free(v);

	for (bp = &a->pending; *bp != NULL && fails < FLUSH_FAILS_MAX;) {
		struct agg_batch *b = *bp;
		const char *e = NULL;
		int skip = 0;

		for (size_t i = 0; i < fails; i++)
			if (strcmp(blocked[i], b->e[0]->bucket) == 0)
				skip = 1;
		if (skip) {
			bp = &b->next;
			continue;
		}
		if (send_batch(a, b, &e) < 0) {
			if (fails == 0)
				snprintf(err, sizeof(err), "%s", e);
			blocked[fails++] = b->e[0]->bucket;
			bp = &b->next;
			continue;
		}
		*bp = b->next;
		pthread_mutex_lock(&a->mu);
		a->pending_rows -= b->n;
		pthread_mutex_unlock(&a->mu);
		batch_free(b);
		sent++;
	}
	if (sent)
		store_sync(a->s);
	pthread_mutex_unlock(&a->flush_mu);
	if (dropped_r)
		*dropped_r = dropped;
	if (fails) {
		*err_r = err;
		return -1;
	}
	return 0;
}

/* dmarc_agg_free - see dmarc_agg.h */
void dmarc_agg_free(struct dmarc_agg **ap)
{
	struct dmarc_agg *a = *ap;
	const char *err = NULL;
	size_t dropped = 0, rows = 0;
	unsigned long long msgs = 0;

	if (a == NULL)
		return;
	*ap = NULL;
	if (dmarc_agg_flush(a, &dropped, &err) < 0)
		log_error("dmarc_agg: last flush: %s", err);
	if (dropped)
		log_warn("dmarc_agg: %zu messages not counted (table full or "
		    "rows too long)", dropped);
	while (a->pending) {
		struct agg_batch *b = a->pending;

		a->pending = b->next;
		rows += b->n;
		for (size_t i = 0; i < b->n; i++)
			msgs += (unsigned long long)b->e[i]->count;
		batch_free(b);
	}
	if (rows)
		log_error("dmarc_agg: %zu report rows (%llu messages) never "
		    "reached the store", rows, msgs);
	pthread_mutex_destroy(&a->mu);
	pthread_mutex_destroy(&a->flush_mu);
	free(a);
}

/* ---------------------------------------------------- the report side */

struct bucket_ctx {
	dmarc_agg_bucket_fn *fn;
	void *arg;
};

/* our_bucket - pass on the names dmarc_agg_bucket_name makes */
static int our_bucket(void *arg, const char *bucket)
{
	struct bucket_ctx *c = arg;
	char dom[DMARC_AGG_BUCKET_MAX];
	time_t hour;

	if (dmarc_agg_bucket_parse(bucket, &hour, dom, sizeof(dom)) < 0)
		return 0;
	return c->fn(c->arg, bucket);
}

/* dmarc_agg_buckets - see dmarc_agg.h */
int dmarc_agg_buckets(struct store *s, dmarc_agg_bucket_fn *fn, void *arg,
    const char **err_r)
{
	struct bucket_ctx c = { fn, arg };

	return store_count_buckets(s, our_bucket, &c, err_r);
}

struct read_ctx {
	dmarc_agg_row_fn *row_fn;
	dmarc_agg_policy_fn *pol_fn;
	void *arg;
	size_t bad;
	struct dmarc_agg_row row;
	char text[DMARC_AGG_ROW_MAX];
};

/* read_one - one counter: a row, a policy record, or bad */
static int read_one(void *arg, const char *key, size_t keylen,
    long long count)
{
	struct read_ctx *c = arg;
	size_t pl = strlen(POLICY_PREFIX);

	if (count <= 0 || keylen >= DMARC_AGG_ROW_MAX ||
	    memchr(key, '\0', keylen) != NULL) {
		c->bad += count != 0;
		return 0;
	}
	if (keylen >= pl && memcmp(key, POLICY_PREFIX, pl) == 0) {
		if (unescape(key + pl, keylen - pl, c->text,
		    sizeof(c->text)) < 0 || c->text[0] == '\0') {
			c->bad++;
			return 0;
		}
		return c->pol_fn ? c->pol_fn(c->arg, c->text,
		    (unsigned long long)count) : 0;
	}
	if (dmarc_agg_row_decode(key, keylen, &c->row) < 0) {
		c->bad++;
		return 0;
	}
	return c->row_fn ? c->row_fn(c->arg, &c->row,
	    (unsigned long long)count) : 0;
}

/* dmarc_agg_read - see dmarc_agg.h */
int dmarc_agg_read(struct store *s, const char *bucket,
    dmarc_agg_row_fn *row_fn, dmarc_agg_policy_fn *pol_fn, void *arg,
    size_t *bad_r, const char **err_r)
{
	struct read_ctx *c;
	char dom[DMARC_AGG_BUCKET_MAX];
	time_t hour;
	int rc;

	if (bad_r)
		*bad_r = 0;
	if (dmarc_agg_bucket_parse(bucket, &hour, dom, sizeof(dom)) < 0) {
		*err_r = "dmarc_agg: not a report bucket name";
		return -1;
	}
	c = xcalloc(1, sizeof(*c));
	c->row_fn = row_fn;
	c->pol_fn = pol_fn;
	c->arg = arg;
	rc = store_count_read(s, bucket, read_one, c, err_r);
	if (bad_r)
		*bad_r = c->bad;
	free(c);
	return rc;
}

/* dmarc_agg_drop - see dmarc_agg.h */
int dmarc_agg_drop(struct store *s, const char *bucket, const char **err_r)
{
	char dom[DMARC_AGG_BUCKET_MAX];
	time_t hour;

	if (dmarc_agg_bucket_parse(bucket, &hour, dom, sizeof(dom)) < 0) {
		*err_r = "dmarc_agg: not a report bucket name";
		return -1;
	}
	return store_count_drop(s, bucket, err_r);
}
