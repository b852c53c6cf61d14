/*
 * pftable_tool.c - postmap -q for common/pftable.c, for t/pftable-postmap.t.
 *
 * Usage: pftable_tool [-n] [-q KEY] regexp:FILE|pcre:FILE
 *   Without -q, reads one key per line from stdin (as "postmap -q -")
 *   and prints "key<TAB>result" for each key found; with -q, looks up
 *   KEY (which may hold newlines) and prints the result (as "postmap -q
 *   KEY").  -n turns the prefilter off.  Load warnings go to stderr as
 *   "warning: TEXT", the way postmap prints them.
 * Trust: test input only.  Errors: exit 1 (not found with -q), 2 (load
 *   failed or usage).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "pftable.h"

#define TOOL_KEY_MAX (1024 * 1024)

/* main - load, then look up keys */
int main(int argc, char **argv)
{
	struct pft_options opt = { 0, 0, 0 };
	struct buf w, res;
	struct pft_table *t;
	struct pft_scratch *s;
	const char *err, *key = NULL, *p, *nl;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int c, found = 0;

	while ((c = getopt(argc, argv, "nq:")) != -1) {
		if (c == 'n')
			opt.no_prefilter = 1;
		else if (c == 'q')
			key = optarg;
		else
			return 2;
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: pftable_tool [-n] [-q key] "
		    "regexp:FILE|pcre:FILE\n");
		return 2;
	}
	buf_init(&w, 16 * 1024 * 1024);
	buf_init(&res, PFT_RESULT_MAX);
	t = pft_load_file(argv[optind], &opt, &w, &err);
	for (p = BUF_DATA(&w); *p; p = nl + 1) {
		nl = strchr(p, '\n');
		fprintf(stderr, "warning: %.*s\n", (int)(nl - p), p);
	}
	if (t == NULL) {
		fprintf(stderr, "fatal: %s\n", err);
		return 2;
	}
	s = pft_scratch_new();
	if (key) {
		found = pft_lookup(t, s, key, strlen(key), &res, NULL);
		if (found)
			printf("%s\n", BUF_DATA(&res));
	} else {
		while ((n = getline(&line, &cap, stdin)) > 0 &&
		    n <= TOOL_KEY_MAX) {
			if (line[n - 1] == '\n')
				line[--n] = 0;
			if (pft_lookup(t, s, line, (size_t)n, &res, NULL)) {
				printf("%s\t%s\n", line, BUF_DATA(&res));
				found = 1;
			}
		}
		free(line);
	}
	pft_scratch_free(&s);
	pft_free(&t);
	buf_free(&w);
	buf_free(&res);
	return found ? 0 : 1;
}
