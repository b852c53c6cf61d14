/*
 * checks-engine-bench.c - header lookups per second of the Postfix table
 * engine alone (common/pftable.c), without the milter protocol: load one
 * regexp: or pcre: table, then look up every line of a headers file (one
 * logical header per line, the input of "postmap -q - TABLE") again and
 * again for a while.
 *
 * Usage: checks-engine-bench [-d SECONDS | -n ROUNDS] [-t THREADS] [-P]
 *            [-o FILE] [-q] TABLE HEADERS
 *   TABLE     regexp:/path or pcre:/path
 *   -d        measure for SECONDS (default 5); whole rounds over the file
 *             are not needed: each thread stops at the deadline
 *   -n        exactly ROUNDS passes over the file in each thread instead
 *   -t        threads, each with its own pft_scratch (default 1)
 *   -P        no prefilter (pft_options.no_prefilter): every rule is run
 *             in order, as Postfix does, to show what the prefilter buys
 *   -o FILE   before measuring, write "header<TAB>result" for every
 *             matching header, the output format of postmap -q -, so
 *             the two can be compared with diff ("-" for stdout)
 *   -q        do not print the table's load warnings
 * Prints the table, the load time, then one line of key=value pairs:
 *   headers_per_s (all threads, wall clock), us_per_header (wall, one
 *   thread's view), cpu_us_per_header (user + system of the process, all
 *   threads, getrusage), matches_per_round (headers matched in one pass),
 *   rules_per_lookup (rules whose pattern ran, from pft_stats: what the
 *   prefilter left to do).
 *
 * Trust: the table and headers are the operator's files.
 * Errors: exits 1 with a message on an unreadable input or a table that
 * does not load; 2 on bad usage.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "pftable.h"
#include "xalloc.h"

#define HEADERS_FILE_MAX	(512 * 1024 * 1024)	/* headers file bytes */
#define THREADS_MAX		64
#define WARNINGS_MAX		(1024 * 1024)	/* load warnings kept */
#define CLOCK_EVERY		64	/* lookups between deadline checks */

struct input {
	struct buf raw;		/* the file; lines NUL-terminated in place */
	const char **line;
	size_t *len;
	size_t n;
};

struct worker {
	pthread_t tid;
	const struct pft_table *table;
	const struct input *in;
	double deadline;	/* wall clock, or 0 with rounds */
	long rounds;
	unsigned long long lookups;
	unsigned long long matches;
	int rc;
};

/* wall_s - monotonic clock, seconds */
static double wall_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* cpu_s - user + system CPU of the process so far, seconds */
static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* usage - and exit 2 */
static void usage(void)
{
	fprintf(stderr, "usage: checks-engine-bench [-d SECONDS | -n ROUNDS] "
	    "[-t THREADS] [-P] [-o FILE] [-q] regexp:|pcre:TABLE HEADERS\n");
	exit(2);
}

/* input_load - the headers file, split into lines (CR LF or LF) */
static void input_load(const char *path, struct input *in)
{
	const char *err;
	size_t cap = 1024, start = 0;

	buf_init(&in->raw, HEADERS_FILE_MAX);
	if (buf_read_file(&in->raw, path, &err) < 0) {
		fprintf(stderr, "%s: %s\n", path, err);
		exit(1);
	}
	in->line = xmalloc(cap * sizeof(*in->line));
	in->len = xmalloc(cap * sizeof(*in->len));
	in->n = 0;
	while (start < in->raw.len) {
		char *p = in->raw.data + start;
		char *nl = memchr(p, '\n', in->raw.len - start);
		size_t n = nl ? (size_t)(nl - p) : in->raw.len - start;

		start += n + (nl != NULL);
		if (n > 0 && p[n - 1] == '\r')
			n--;
		p[n] = '\0';
		if (in->n == cap) {
			cap *= 2;
			in->line = xrealloc(in->line, cap * sizeof(*in->line));
			in->len = xrealloc(in->len, cap * sizeof(*in->len));
		}
		in->line[in->n] = p;
		in->len[in->n++] = n;
	}
	if (in->n == 0) {
		fprintf(stderr, "%s: no headers\n", path);
		exit(1);
	}
}

/* run - one thread's lookups until the deadline or for its rounds */
static void *run(void *arg)
{
	struct worker *w = arg;
	struct pft_scratch *s = pft_scratch_new();
	struct buf res;
	const struct input *in = w->in;
	size_t i = 0;
	long round = 0;

	buf_init(&res, PFT_RESULT_MAX + 1);
	for (;;) {
		if (w->deadline == 0 && round == w->rounds)
			break;
		if (w->deadline != 0 && w->lookups % CLOCK_EVERY == 0 &&
		    wall_s() >= w->deadline)
			break;
		w->matches += pft_lookup(w->table, s, in->line[i], in->len[i],
		    &res, NULL) == 1;
		w->lookups++;
		if (++i == in->n) {
			i = 0;
			round++;
		}
	}
	buf_free(&res);
	pft_scratch_free(&s);
	return NULL;
}

/* dump - "header<TAB>result" for each match, as postmap -q - prints */
static unsigned long long dump(const struct pft_table *t,
    const struct input *in, const char *path)
{
	struct pft_scratch *s = pft_scratch_new();
	struct buf res;
	FILE *fp = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
	unsigned long long matches = 0;

	if (fp == NULL) {
		perror(path);
		exit(1);
	}
	buf_init(&res, PFT_RESULT_MAX + 1);
	for (size_t i = 0; i < in->n; i++) {
		if (pft_lookup(t, s, in->line[i], in->len[i], &res, NULL) != 1)
			continue;
		fprintf(fp, "%s\t%s\n", in->line[i], res.data);
		matches++;
	}
	if (fp != stdout && fclose(fp) != 0) {
		perror(path);
		exit(1);
	}
	buf_free(&res);
	pft_scratch_free(&s);
	return matches;
}

int main(int argc, char **argv)
{
	struct pft_options opt = { 0 };
	struct pft_table *t;
	struct pft_stats st0, st1;
	struct worker *w;
	struct input in;
	struct buf warnings;
	const char *err, *out = NULL;
	double seconds = 5, w0, w1, c0, c1, l0;
	long rounds = 0;
	int threads = 1, quiet = 0, ch;
	unsigned long long lookups = 0, matches = 0;

	while ((ch = getopt(argc, argv, "d:n:t:Po:q")) != -1) {
		switch (ch) {
		case 'd': seconds = atof(optarg); break;
		case 'n': rounds = atol(optarg); break;
		case 't': threads = atoi(optarg); break;
		case 'P': opt.no_prefilter = 1; break;
		case 'o': out = optarg; break;
		case 'q': quiet = 1; break;
		default: usage();
		}
	}
	if (argc - optind != 2 || seconds <= 0 || rounds < 0 ||
	    threads < 1 || threads > THREADS_MAX)
		usage();
	input_load(argv[optind + 1], &in);

	buf_init(&warnings, WARNINGS_MAX);
	l0 = wall_s();
	t = pft_load_file(argv[optind], &opt, &warnings, &err);
	if (t == NULL) {
		fprintf(stderr, "%s: %s\n", argv[optind], err);
		return 1;
	}
	if (warnings.len > 0 && !quiet)
		fprintf(stderr, "%s", warnings.data);
	printf("table %s: %zu rules, loaded in %.0f ms, prefilter %s\n",
	    pft_name(t), pft_rules(t), (wall_s() - l0) * 1e3,
	    opt.no_prefilter ? "off" : "on");
	printf("headers %s: %zu lines, %zu bytes; %d thread%s, %s\n",
	    argv[optind + 1], in.n, in.raw.len, threads,
	    threads == 1 ? "" : "s", rounds ? "rounds" : "timed");
	if (out != NULL)
		printf("matches written to %s: %llu\n", out, dump(t, &in, out));
	fflush(stdout);

	w = xcalloc((size_t)threads, sizeof(*w));
	pft_stats(t, &st0);
	c0 = cpu_s();
	w0 = wall_s();
	for (int i = 0; i < threads; i++) {
		w[i].table = t;
		w[i].in = &in;
		w[i].rounds = rounds;
		w[i].deadline = rounds ? 0 : w0 + seconds;
		if (pthread_create(&w[i].tid, NULL, run, &w[i]) != 0) {
			fprintf(stderr, "pthread_create failed\n");
			return 1;
		}
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(w[i].tid, NULL);
		lookups += w[i].lookups;
		matches += w[i].matches;
	}
	w1 = wall_s();
	c1 = cpu_s();
	pft_stats(t, &st1);
	if (lookups == 0) {
		fprintf(stderr, "no lookup ran\n");
		return 1;
	}
	printf("headers=%llu seconds=%.3f headers_per_s=%.0f "
	    "us_per_header=%.3f cpu_us_per_header=%.3f matches_per_round=%.1f "
	    "rules_per_lookup=%.2f match_limit_hits=%llu\n",
	    lookups, w1 - w0, lookups / (w1 - w0),
	    (w1 - w0) * 1e6 * threads / lookups, (c1 - c0) * 1e6 / lookups,
	    (double)matches * in.n / lookups,
	    st1.lookups > st0.lookups ? (double)(st1.rules_run -
	    st0.rules_run) / (st1.lookups - st0.lookups) : 0.0,
	    st1.match_limit_hits - st0.match_limit_hits);
	free(w);
	pft_free(&t);
	buf_free(&warnings);
	buf_free(&in.raw);
	free(in.line);
	free(in.len);
	return 0;
}
