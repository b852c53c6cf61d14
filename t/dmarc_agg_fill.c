/*
 * dmarc_agg_fill.c - test helper for t/dmarc-report.t: fills a store
 *                    with DMARC aggregate counters through the milter's
 *                    own API (dmarc_agg_add, dmarc_agg_policy,
 *                    dmarc_agg_flush), and lists what a store holds.
 *
 * Usage: dmarc_agg_fill STORE [PREFIX] fill < LINES
 *        dmarc_agg_fill STORE [PREFIX] list     report buckets, one a line
 *        dmarc_agg_fill STORE [PREFIX] all      every counter bucket
 *        dmarc_agg_fill STORE [PREFIX] read BUCKET   its counters
 * STORE is a directory (embedded) or a redis:// URL; PREFIX the Redis key
 * prefix (default "pd:").  LINES are tab-separated:
 *   R TIME DOMAIN COUNT SOURCE_IP HEADER_FROM ENVELOPE_FROM DISPOSITION
 *     DKIM_ALIGNED SPF_ALIGNED REASON REASON_COMMENT SPF_DOMAIN SPF_SCOPE
 *     SPF_RESULT DKIM
 *   P TIME DOMAIN COUNT RECORD
 * DISPOSITION is none, quarantine or reject; DKIM is empty or
 * "domain/selector/result" items separated by commas; \xHH in a row's
 * fields is that byte.  A row is added
 * COUNT times (one message each), as the milter would.
 * Trust: test input only.  Errors: a message and exit 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dmarc_agg.h"
#include "log.h"
#include "store.h"

#define FIELDS_MAX 20

/* fail - message, exit 1 */
static void fail(const char *what, const char *detail)
{
	fprintf(stderr, "dmarc_agg_fill: %s%s%s\n", what, detail ? ": " : "",
	    detail ? detail : "");
	exit(1);
}

/* copy - s into a fixed field, "\xHH" written as that byte (so a test
 * can give any byte but NUL), or fail */
static void copy(char *dst, size_t n, const char *s)
{
	size_t o = 0;

	for (; *s; s++) {
		unsigned v;

		if (o + 1 >= n)
			fail("field too long", s);
		if (s[0] == '\\' && s[1] == 'x' && sscanf(s + 2, "%2x", &v) == 1 &&
		    v != 0) {
			dst[o++] = (char)v;
			s += 3;
		} else {
			dst[o++] = *s;
		}
	}
	dst[o] = '\0';
}

/* split - tab-separated fields of line (modified in place) */
static size_t split(char *line, char **f)
{
	size_t n = 0;

	line[strcspn(line, "\r\n")] = '\0';
	f[n++] = line;
	for (char *p = line; *p && n < FIELDS_MAX; p++)
		if (*p == '\t') {
			*p = '\0';
			f[n++] = p + 1;
		}
	return n;
}

/* parse_row - fields 4.. of an R line into a row */
static void parse_row(char **f, struct dmarc_agg_row *r)
{
	char *dk, *save = NULL;

	memset(r, 0, sizeof(*r));
	copy(r->source_ip, sizeof(r->source_ip), f[4]);
	copy(r->header_from, sizeof(r->header_from), f[5]);
	copy(r->envelope_from, sizeof(r->envelope_from), f[6]);
	r->disposition = !strcmp(f[7], "reject") ? DMARC_AGG_REJECT :
	    !strcmp(f[7], "quarantine") ? DMARC_AGG_QUARANTINE : DMARC_AGG_NONE;
	r->dkim_aligned_pass = atoi(f[8]);
	r->spf_aligned_pass = atoi(f[9]);
	copy(r->reason, sizeof(r->reason), f[10]);
	copy(r->reason_comment, sizeof(r->reason_comment), f[11]);
	copy(r->spf_domain, sizeof(r->spf_domain), f[12]);
	copy(r->spf_scope, sizeof(r->spf_scope), f[13]);
	copy(r->spf_result, sizeof(r->spf_result), f[14]);
	for (dk = strtok_r(f[15], ",", &save); dk;
	    dk = strtok_r(NULL, ",", &save)) {
		char *s1 = strchr(dk, '/'), *s2 = s1 ? strchr(s1 + 1, '/') : NULL;

		if (s2 == NULL || r->ndkim >= DMARC_AGG_DKIM_MAX)
			fail("bad DKIM item", dk);
		*s1 = *s2 = '\0';
		copy(r->dkim[r->ndkim].domain, sizeof(r->dkim[0].domain), dk);
		copy(r->dkim[r->ndkim].selector, sizeof(r->dkim[0].selector),
		    s1 + 1);
		copy(r->dkim[r->ndkim].result, sizeof(r->dkim[0].result),
		    s2 + 1);
		r->ndkim++;
	}
}

/* fill - the lines of stdin into the store */
static void fill(struct store *s)
{
	struct dmarc_agg *a = dmarc_agg_new(s, 1000000);
	char line[8192], *f[FIELDS_MAX];
	const char *err;
	size_t dropped = 0;

	while (fgets(line, sizeof(line), stdin)) {
		size_t n = split(line, f);
		time_t t;
		long count;

		if (n < 5)
			continue;
		t = (time_t)atoll(f[1]);
		count = atol(f[3]);
		if (f[0][0] == 'P') {
			for (long i = 0; i < count; i++)
				dmarc_agg_policy(a, t, f[2], f[4]);
		} else if (f[0][0] == 'R' && n >= 16) {
			struct dmarc_agg_row r;

			parse_row(f, &r);
			for (long i = 0; i < count; i++)
				dmarc_agg_add(a, t, f[2], &r);
		} else {
			fail("bad line", f[0]);
		}
	}
	if (dmarc_agg_flush(a, &dropped, &err) < 0)
		fail("flush", err);
	if (dropped)
		fail("rows dropped", NULL);
	dmarc_agg_free(&a);
}

/* print_bucket - one name a line */
static int print_bucket(void *arg, const char *name)
{
	(void)arg;
	printf("%s\n", name);
	return 0;
}

/* print_counter - "count key" */
static int print_counter(void *arg, const char *key, size_t keylen,
    long long count)
{
	(void)arg;
	printf("%lld %.*s\n", count, (int)keylen, key);
	return 0;
}

int main(int argc, char **argv)
{
	struct store_opts so = { 0 };
	const char *err, *cmd;
	struct store *s;
	int i = 2;

	log_open("dmarc_agg_fill", 1);
	if (argc < 3)
		fail("usage: dmarc_agg_fill STORE [PREFIX] fill|list|all|read "
		    "[BUCKET]", NULL);
	so.prefix = "pd:";
	if (strcmp(argv[2], "fill") && strcmp(argv[2], "list") &&
	    strcmp(argv[2], "all") && strcmp(argv[2], "read"))
		so.prefix = argv[i++];
	if (i >= argc)
		fail("no command", NULL);
	cmd = argv[i];
	so.timeout_ms = 5000;
	so.connect_timeout_ms = 2000;
	so.max_entries = 100000;
	if ((s = store_open(argv[1], &so, &err)) == NULL)
		fail("store", err);
	if (!strcmp(cmd, "fill")) {
		fill(s);
	} else if (!strcmp(cmd, "list")) {
		if (dmarc_agg_buckets(s, print_bucket, NULL, &err) < 0)
			fail("list", err);
	} else if (!strcmp(cmd, "all")) {
		if (store_count_buckets(s, print_bucket, NULL, &err) < 0)
			fail("all", err);
	} else if (!strcmp(cmd, "read") && i + 1 < argc) {
		if (store_count_read(s, argv[i + 1], print_counter, NULL,
		    &err) < 0)
			fail("read", err);
	} else {
		fail("unknown command", cmd);
	}
	store_close(&s);
	return 0;
}
