/*
 * fuzz_pftable.c - libFuzzer target: Postfix regexp:/pcre: tables
 * (common/pftable.c).  The input is table text, a line "%%", then
 * lookup strings separated by "\n%\n" (so they may hold newlines).
 * The text is loaded as both regexp: and pcre:, with and without the
 * prefilter, and every lookup must give the same answer with the
 * prefilter as without it (else abort, so the fuzzer reports it).
 * The table is the admin's, but its parser and the POSIX translator
 * must not crash on anything; the lookups are peer data.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "pftable.h"

#define FUZZ_LOOKUPS_MAX 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* one_type - load the table both ways and compare every lookup */
static void one_type(enum pft_type type, const char *text, size_t tlen,
    const char *keys, size_t klen, struct pft_scratch *s)
{
	struct pft_options fast = { 2000, 200, 0, 1 }, slow = { 2000, 200, 1, 1 };
	struct pft_table *a, *b;
	struct buf w, ra, rb;
	const char *err, *k = keys, *end = keys + klen, *sep;
	int n = 0, la, lb, fa, fb;

	buf_init(&w, 1024 * 1024);
	buf_init(&ra, PFT_RESULT_MAX);
	buf_init(&rb, PFT_RESULT_MAX);
	a = pft_load_text(type, "fuzz", text, tlen, &fast, &w, &err);
	b = pft_load_text(type, "fuzz", text, tlen, &slow, NULL, &err);
	if ((a == NULL) != (b == NULL))
		abort();
	while (a && n++ < FUZZ_LOOKUPS_MAX) {
		sep = memmem(k, (size_t)(end - k), "\n%\n", 3);
		if (sep == NULL)
			sep = end;
		la = lb = -1;
		fa = pft_lookup(a, s, k, (size_t)(sep - k), &ra, &la);
		fb = pft_lookup(b, s, k, (size_t)(sep - k), &rb, &lb);
		if (fa != fb || (fa && (la != lb ||
		    strcmp(BUF_DATA(&ra), BUF_DATA(&rb)) != 0)))
			abort();
		if (sep == end)
			break;
		k = sep + 3;
	}
	pft_free(&a);
	pft_free(&b);
	buf_free(&w);
	buf_free(&ra);
	buf_free(&rb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct pft_scratch *s;
	const char *text = (const char *)data, *keys;
	size_t tlen;

	if (s == NULL) {
		log_set_level(LOG_L_ERROR);
		s = pft_scratch_new();
	}
	keys = memmem(text, size, "\n%%\n", 4);
	if (keys) {
		tlen = (size_t)(keys - text) + 1;
		keys += 4;
	} else {
		tlen = size;
		keys = text + size;
	}
	one_type(PFT_REGEXP, text, tlen, keys, size - (size_t)(keys - text),
	    s);
	one_type(PFT_PCRE, text, tlen, keys, size - (size_t)(keys - text), s);
	return 0;
}
