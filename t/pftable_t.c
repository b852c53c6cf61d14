/*
 * pftable_t.c - Postfix regexp:/pcre: tables (common/pftable.c).
 *
 * Covered: table syntax (comments, continuation, if/endif nesting,
 * negation, delimiters, flags, warnings in Postfix's words), $n
 * substitution and the result cut, multi-line inputs (POSIX '.' and
 * [^x] across '\n' without m, ^/$ at the ends only; pcre DOTALL by
 * default), the POSIX translation checked against glibc regcomp/regexec
 * on random ERE and BRE patterns, literal extraction (through the
 * rules_run count), the prefilter against sequential evaluation on
 * random tables and inputs, the match limit, every bound crossed, and
 * header_checks actions.  The comparison with postmap(1) itself is in
 * t/pftable-postmap.t.
 */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "log.h"
#include "pftable.h"
#include "tap.h"

static struct pft_scratch *S;

/* load - a table from text; NULL on load failure */
static struct pft_table *load(enum pft_type type, const char *text,
    struct buf *w, int no_pf)
{
	struct pft_options opt = { 0, 0, no_pf, 1 };
	const char *err = NULL;

	if (w)
		buf_reset(w);
	return pft_load_text(type, "T", text, strlen(text), &opt, w, &err);
}

/* q - look up in; the result or NULL */
static const char *q(struct pft_table *t, const char *in)
{
	static struct buf r;

	if (r.data == NULL)
		buf_init(&r, PFT_RESULT_MAX);
	if (!pft_lookup(t, S, in, strlen(in), &r, NULL))
		return NULL;
	return BUF_DATA(&r);
}

/* one - one table, one input, expected result (NULL: no match) */
static void one(enum pft_type type, const char *text, const char *in,
    const char *want, const char *name)
{
	struct pft_table *t = load(type, text, NULL, 0);

	if (!ok(t != NULL, "%s: loads", name))
		return;
	is_str(q(t, in), want, name);
	pft_free(&t);
}

/* test_syntax - table syntax and warnings */
static void test_syntax(void)
{
	struct buf w;
	struct pft_table *t;
	int line = 0, found;
	struct buf r;

	buf_init(&w, 65536);
	buf_init(&r, 100);
	t = load(PFT_REGEXP,
	    "# comment\n"
	    "\n"
	    "   \n"
	    "/^a/ X\n"
	    "  Y\n"
	    "  # inner comment\n"
	    "\tZ\n"
	    "/^b\n"
	    " c/ B\n"
	    "! ! /^q/ Q\n"
	    "if /^i/\n"
	    "if !/^ix/\n"
	    "/^i(.)/ I $1\n"
	    "endif\n"
	    "/^ix(.)/ IX ${1}$(1)$$\n"
	    "ENDIF\n"
	    "#/^j/ no\n"
	    "~^k~ K\n"
	    "/^l\\/m/ LM\n"
	    "/^n/i N-CASE\n"
	    "/^(o)(p)?/ O[$2]\n"
	    "/a(/ broken\n"
	    "/x/Q badflag\n"
	    "endif\n"
	    "IFX\n"
	    "!/^z/ NOT-Z\n",
	    &w, 0);
	ok(t != NULL, "syntax table loads");
	is_int(pft_rules(t), 12, "12 pattern rules (ifs included)");
	is_str(q(t, "a"), "X  Y\tZ", "continuation lines join, comment "
	    "lines inside are skipped");
	is_str(q(t, "b c"), "B", "a pattern continued on the next line");
	is_str(q(t, "ib"), "I b", "nested if with negation");
	is_str(q(t, "ixb"), "IX bb$", "${n}, $(n), $$");
	is_str(q(t, "k"), "K", "any delimiter");
	is_str(q(t, "l/m"), "LM", "escaped delimiter");
	is_str(q(t, "n"), "N-CASE", "flag i");
	is_str(q(t, "N"), "NOT-Z", "flag i: case-sensitive");
	is_str(q(t, "o"), "O[]", "unset capture is empty");
	is_str(q(t, "OP"), "O[P]", "set capture");
	is_str(q(t, "q"), "Q", "! ! is not negated");
	is_str(q(t, "z"), NULL, "negated rule");
	is_str(q(t, "j"), "NOT-Z", "commented-out rule");
	found = pft_lookup(t, S, "ixb", 3, &r, &line);
	ok(found && line == 15, "line number of the matching rule (%d)",
	    line);
	is_str(BUF_DATA(&w),
	    "regexp map T, line 22: Unmatched ( or \\(\n"
	    "regexp map T, line 23: unknown regexp option \"Q\": skipping "
	    "this rule\n"
	    "regexp map T, line 24: ignoring ENDIF without matching IF\n"
	    "regexp map T, line 25: ignoring unrecognized request\n",
	    "warnings as Postfix words them");
	pft_free(&t);

	t = load(PFT_PCRE, "/(a)/ $2\n!/(b)/ $1\n/c/ ${x}\n/d/ $0\n"
	    "if /e/ junk\n/f/\nif /g/\n", &w, 0);
	is_str(BUF_DATA(&w),
	    "pcre map T, line 1: out of range replacement index \"2\": "
	    "skipping this rule\n"
	    "pcre map T, line 2: $number found in negative match "
	    "replacement text: skipping this rule\n"
	    "pcre map T, line 3: non-numeric replacement index \"x\"\n"
	    "pcre map T, line 3: bad replacement syntax: skipping this rule\n"
	    "pcre map T, line 4: out of range replacement index \"0\"\n"
	    "pcre map T, line 4: bad replacement syntax: skipping this rule\n"
	    "pcre map T, line 5: ignoring extra text after IF statement: "
	    "\"junk\"\n"
	    "pcre map T, line 5: do not prepend whitespace to statements "
	    "between IF and ENDIF\n"
	    "pcre map T, line 6: no replacement text: using empty string\n"
	    "pcre map T, line 7: IF has no matching ENDIF\n"
	    "pcre map T, line 5: IF has no matching ENDIF\n",
	    "pcre warnings");
	is_str(q(t, "ef"), "", "rule without result: empty result");
	is_str(q(t, "f"), NULL, "unclosed if runs to the end");
	pft_free(&t);

	t = load(PFT_REGEXP, "!/x/ EMPTY\n", NULL, 0);
	is_str(q(t, ""), "EMPTY", "empty input is looked up");
	pft_free(&t);
	t = load(PFT_PCRE, "/a/X R\n", &w, 0);
	is_str(BUF_DATA(&w), "pcre map T, line 1: ignoring obsolete regexp "
	    "option \"X\"\n", "pcre X flag accepted with a warning");
	is_str(q(t, "A"), "R", "pcre X rule kept");
	pft_free(&t);
	buf_free(&w);
	buf_free(&r);
}

/* test_multiline - folded headers: '\n' inside the input */
static void test_multiline(void)
{
	const char *ml = "Subject: a\n\tb";

	one(PFT_REGEXP, "/a.b/ Y\n", "a\nb", "Y", "regexp: '.' matches \\n");
	one(PFT_REGEXP, "/a.b/m Y\n", "a\nb", NULL, "regexp m: '.' does not");
	one(PFT_REGEXP, "/a[^x]b/ Y\n", "a\nb", "Y", "regexp: [^x] matches "
	    "\\n");
	one(PFT_REGEXP, "/a[^x]b/m Y\n", "a\nb", NULL, "regexp m: [^x] does "
	    "not");
	one(PFT_REGEXP, "/^b/ Y\n", "a\nb", NULL, "regexp: ^ only at start");
	one(PFT_REGEXP, "/^b/m Y\n", "a\nb", "Y", "regexp m: ^ after \\n");
	one(PFT_REGEXP, "/a$/ Y\n", "a\nb", NULL, "regexp: $ only at end");
	one(PFT_REGEXP, "/a$/m Y\n", "a\nb", "Y", "regexp m: $ before \\n");
	one(PFT_REGEXP, "/c$/ Y\n", "abc\n", NULL, "regexp: $ not before a "
	    "final \\n");
	one(PFT_REGEXP, "/^$/m Y\n", "abc\n", "Y", "regexp m: ^ after a "
	    "final \\n (POSIX)");
	one(PFT_REGEXP, "/^Subject:.*b$/ Y\n", ml, "Y", "regexp: folded "
	    "header");
	one(PFT_PCRE, "/a.b/ Y\n", "a\nb", "Y", "pcre: DOTALL by default");
	one(PFT_PCRE, "/a.b/s Y\n", "a\nb", NULL, "pcre s: toggles DOTALL off");
	one(PFT_PCRE, "/c$/ Y\n", "abc\n", "Y", "pcre: $ before a final \\n");
	one(PFT_PCRE, "/c$/E Y\n", "abc\n", NULL, "pcre E: DOLLAR_ENDONLY");
	one(PFT_PCRE, "/^b/ Y\n", "a\nb", NULL, "pcre: ^ at start");
	one(PFT_PCRE, "/^b/m Y\n", "a\nb", "Y", "pcre m: MULTILINE");
	one(PFT_PCRE, "/b/A Y\n", "ab", NULL, "pcre A: ANCHORED");
	one(PFT_PCRE, "/(a+)/U Y$1\n", "aaa", "Ya", "pcre U: UNGREEDY");
	one(PFT_PCRE, "/a b/x Y\n", "ab", "Y", "pcre x: EXTENDED");
	one(PFT_PCRE, "/A/i Y\n", "a", NULL, "pcre i: case-sensitive");
	one(PFT_REGEXP, "/A/i Y\n", "a", NULL, "regexp i: case-sensitive");
	one(PFT_REGEXP, "/a+/x Y\n", "aa", NULL, "regexp x: basic syntax, "
	    "'+' literal");
	one(PFT_REGEXP, "/a\\{2\\}/x Y\n", "aa", "Y", "regexp x: \\{n\\}");
}

static unsigned long long rng_state = 0x9e3779b97f4a7c15ULL;

/* rnd - deterministic xorshift */
static unsigned rnd(unsigned n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (unsigned)(rng_state % n);
}

static const char *const ere_tok[] = {
	"a", "b", "A", "ab", ".", "*", "+", "?", "|", "(", ")", "(", ")",
	"^", "$", "[ab]", "[^a]", "[[:alpha:]]", "[a-c]", "[]a]", "{2}",
	"{1,}", "{,2}", "{0}", "\\.", "\\w", "\\W", "\\s", "\\b", "\\B",
	"\\<", "\\>", "\\1", "\\n", "\\d", "x", "{", "}", "-", "\\`", "\\'",
	"[.]", "[\\]", "\\(", "[[:upper:]]", "[^[:space:]]", "\\D", "d",
	"\\\\", "[^\\]",
};
static const char *const bre_tok[] = {
	"a", "b", "A", ".", "*", "\\(", "\\)", "\\(", "\\)", "\\{2\\}",
	"\\{1,\\}", "\\|", "\\+", "\\?", "^", "$", "+", "?", "|", "(", ")",
	"{", "[ab]", "[^a]", "\\1", "x", "\\.", "\\w",
};

/* test_glibc - the POSIX translation against glibc on random patterns */
static void test_glibc(void)
{
	char pat[200], tab[300], subj[16];
	const char *alpha = "aAbx\n.( -dnD\\";
	int i, j, k, mode, bad = 0, compiled = 0, matches = 0, n;
	int mid_anchor;
	struct pft_table *t;
	regex_t re;

	for (i = 0; i < 6000; i++) {
		const char *const *tok = i % 3 == 2 ? bre_tok : ere_tok;
		size_t ntok = i % 3 == 2 ? sizeof(bre_tok) / sizeof(*bre_tok) :
		    sizeof(ere_tok) / sizeof(*ere_tok);
		int cflags, rc;
		char flags[4], *f = flags;

		mode = (int)rnd(4);	/* bit 0: case-sensitive, 1: m */
		pat[0] = 0;
		n = 1 + (int)rnd(7);
		for (j = 0; j < n; j++)
			strcat(pat, tok[rnd((unsigned)ntok)]);
		cflags = (i % 3 == 2 ? 0 : REG_EXTENDED) |
		    (mode & 1 ? 0 : REG_ICASE) | (mode & 2 ? REG_NEWLINE : 0);
		if (mode & 1)
			*f++ = 'i';
		if (mode & 2)
			*f++ = 'm';
		if (i % 3 == 2)
			*f++ = 'x';
		*f = 0;
		snprintf(tab, sizeof(tab), "%%%s%%%s R\n", pat, flags);
		mid_anchor = !(mode & 2) && (strstr(pat, "\\`") ||
		    strstr(pat, "\\'"));
		rc = regcomp(&re, pat, cflags);
		t = load(PFT_REGEXP, tab, NULL, 0);
		if ((rc == 0) != (pft_rules(t) == 1)) {
			if (bad++ < 10)
				printf("# compile differs: %s (glibc %d)\n",
				    tab, rc);
			pft_free(&t);
			if (rc == 0)
				regfree(&re);
			continue;
		}
		if (rc != 0) {
			pft_free(&t);
			continue;
		}
		compiled++;
		for (k = 0; k < 30; k++) {
			int len = (int)rnd(8), g, m;

			for (j = 0; j < len; j++)
				subj[j] = alpha[rnd((unsigned)strlen(alpha))];
			subj[len] = 0;
			/* GNU \` and \' next to a '\n': not emulated */
			if (mid_anchor && strchr(subj, '\n'))
				continue;
			g = regexec(&re, subj, 0, NULL, 0) == 0;
			m = q(t, subj) != NULL;
			matches += g;
			if (g != m && bad++ < 10)
				printf("# match differs: %s on \"%s\": glibc "
				    "%d, pftable %d\n", tab, subj, g, m);
		}
		regfree(&re);
		pft_free(&t);
	}
	ok(bad == 0, "POSIX translation agrees with glibc on 6000 random "
	    "patterns (%d compiled, %d matches)", compiled, matches);
}

/* runs - rules run for one lookup of in */
static unsigned long long runs(struct pft_table *t, const char *in)
{
	struct pft_stats a, b;

	pft_stats(t, &a);
	(void)q(t, in);
	pft_stats(t, &b);
	return b.rules_run - a.rules_run;
}

/* test_literals - which patterns get a prefilter literal */
static void test_literals(void)
{
	static const struct {
		enum pft_type type;
		const char *rule;
		int lit;	/* 1: skipped on input without the literal */
	} v[] = {
		{ PFT_REGEXP, "/^Subject:.*viagra/ R", 1 },
		{ PFT_REGEXP, "/foo|barbaz/ R", 0 },
		{ PFT_REGEXP, "/(foo|bar)baz/ R", 1 },
		{ PFT_REGEXP, "/fo?o/ R", 0 },
		{ PFT_REGEXP, "/foo?/ R", 0 },
		{ PFT_REGEXP, "/fooo?/ R", 1 },
		{ PFT_REGEXP, "/ab{0,1}c/ R", 0 },
		{ PFT_REGEXP, "/a\\.bc/ R", 1 },
		{ PFT_REGEXP, "/a.bc/ R", 0 },
		{ PFT_REGEXP, "/[a]bc/ R", 0 },
		{ PFT_REGEXP, "/Xyz/i R", 1 },
		{ PFT_REGEXP, "!/xyz/ R", 0 },
		{ PFT_PCRE, "/\\dxyz/ R", 1 },
		{ PFT_PCRE, "/\\d{3}xy/ R", 0 },
		{ PFT_PCRE, "/xyz/x R", 0 },
		{ PFT_PCRE, "/(?x)xyz/ R", 0 },
		{ PFT_PCRE, "/x y z/ R", 1 },
		{ PFT_PCRE, "/xy(*ACCEPT)z/ R", 0 },
		{ PFT_PCRE, "/\\x41bcd/ R", 1 },
		{ PFT_PCRE, "/\\Qabc\\E/ R", 0 },
		{ PFT_PCRE, "/abc+/ R", 1 },
		{ PFT_PCRE, "/abc*/ R", 0 },
	};
	size_t i;
	struct pft_table *t;
	char text[100];

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		snprintf(text, sizeof(text), "%s\n", v[i].rule);
		t = load(v[i].type, text, NULL, 0);
		is_int(runs(t, "nothing here"), !v[i].lit, v[i].rule);
		pft_free(&t);
	}
}

static const char *const rand_pat[] = {
	"abc", "^abc", "b.c", "xyz", "x[yz]+", "(ab|cd)e", "hello", "he?llo",
	"lo w", "^subject:", "subject:.*abc", "[0-9]{2}", "\\.com",
	"ab{2}c", "(a)(b)?c", "world$", "^$", "c$", "o", "zz*", "xy|yx",
};

/* test_prefilter - prefilter vs sequential on a random table */
static void test_prefilter(void)
{
	struct buf text, ra, rb;
	struct pft_table *a, *b;
	char in[40];
	const char *alpha = "abcdehlorwxyz .:0123S\n";
	int type, i, j, len, bad = 0, la, lb, fa, fb, hits = 0;
	struct pft_stats st;

	buf_init(&text, 1 << 20);
	buf_init(&ra, PFT_RESULT_MAX);
	buf_init(&rb, PFT_RESULT_MAX);
	for (type = 0; type < 2; type++) {
		buf_reset(&text);
		for (i = 0; i < 300; i++) {
			int k = (int)rnd(10);

			if (k == 0)
				buf_appendf(&text, "if %s/%s/\n", rnd(3) ? "" :
				    "!", rand_pat[rnd(sizeof(rand_pat) /
				    sizeof(*rand_pat))]);
			else if (k == 1)
				buf_appends(&text, "endif\n");
			buf_appendf(&text, "%s/%s/%s R%d\n", rnd(8) ? "" : "!",
			    rand_pat[rnd(sizeof(rand_pat) / sizeof(*rand_pat))],
			    rnd(4) ? "" : (type ? "m" : "im"), i);
		}
		a = load(type ? PFT_PCRE : PFT_REGEXP, BUF_DATA(&text), NULL,
		    0);
		b = load(type ? PFT_PCRE : PFT_REGEXP, BUF_DATA(&text), NULL,
		    1);
		for (i = 0; i < 5000; i++) {
			len = (int)rnd(sizeof(in) - 1);
			for (j = 0; j < len; j++)
				in[j] = alpha[rnd((unsigned)strlen(alpha))];
			in[len] = 0;
			fa = pft_lookup(a, S, in, (size_t)len, &ra, &la);
			fb = pft_lookup(b, S, in, (size_t)len, &rb, &lb);
			hits += fa;
			if ((fa != fb || (fa && (la != lb || strcmp(
			    BUF_DATA(&ra), BUF_DATA(&rb))))) && bad++ < 5)
				printf("# differs on \"%s\": %d line %d vs %d "
				    "line %d\n", in, fa, la, fb, lb);
		}
		pft_stats(a, &st);
		ok(bad == 0, "%s: prefilter = sequential on 5000 random "
		    "inputs (%d found, %llu rules run vs 300 per lookup)",
		    type ? "pcre" : "regexp", hits, st.rules_run / 5000);
		pft_free(&a);
		pft_free(&b);
	}
	buf_free(&text);
	buf_free(&ra);
	buf_free(&rb);
}

/* test_limit - catastrophic backtracking is cut by the match limit */
static void test_limit(void)
{
	struct pft_table *t;
	struct pft_stats st;
	char in[40];
	clock_t c0 = clock();
	int type;

	memset(in, 'a', 30);
	strcpy(in + 30, "b");
	for (type = 0; type < 2; type++) {
		t = load(type ? PFT_PCRE : PFT_REGEXP,
		    "/(a+)+$/ R\n/b/ B\n", NULL, 0);
		is_str(q(t, in), "B", "(a+)+$ on 30 a + b: no match, the next "
		    "rule matches");
		pft_stats(t, &st);
		is_int(st.match_limit_hits, 1, "match limit hit counted");
		(void)q(t, in);
		pft_stats(t, &st);
		is_int(st.match_limit_hits, 2, "counted again (logged once)");
		pft_free(&t);
	}
	ok((double)(clock() - c0) / CLOCKS_PER_SEC < 2.0, "quickly (%.3f s)",
	    (double)(clock() - c0) / CLOCKS_PER_SEC);
}

/* test_bounds - every bound crossed */
static void test_bounds(void)
{
	struct buf b, r;
	struct pft_table *t;
	struct pft_options opt = { 0, 0, 0, 1 };
	const char *err = NULL;
	char *big, line[64];
	int i;

	buf_init(&b, (size_t)PFT_FILE_MAX * 2);
	/* logical line */
	buf_appends(&b, "/a/ ");
	while (BUF_LEN(&b) < PFT_LINE_MAX)
		buf_appendc(&b, 'x');
	t = pft_load_text(PFT_REGEXP, "T", BUF_DATA(&b), BUF_LEN(&b), &opt,
	    NULL, &err);
	ok(t != NULL, "a logical line of PFT_LINE_MAX bytes loads");
	pft_free(&t);
	buf_appends(&b, "\n y\n");
	t = pft_load_text(PFT_REGEXP, "T", BUF_DATA(&b), BUF_LEN(&b), &opt,
	    NULL, &err);
	ok(t == NULL && strstr(err, "longer than"), "one byte more (through "
	    "a continuation) fails: %s", t ? "" : err);
	/* if depth */
	buf_reset(&b);
	for (i = 0; i < PFT_IF_DEPTH; i++)
		buf_appends(&b, "if /a/\n");
	buf_appends(&b, "/a/ DEEP\n");
	t = pft_load_text(PFT_REGEXP, "T", BUF_DATA(&b), BUF_LEN(&b), &opt,
	    NULL, &err);
	ok(t != NULL && q(t, "a") && strcmp(q(t, "a"), "DEEP") == 0,
	    "PFT_IF_DEPTH nested ifs work");
	pft_free(&t);
	buf_reset(&b);
	for (i = 0; i <= PFT_IF_DEPTH; i++)
		buf_appends(&b, "if /a/\n");
	t = pft_load_text(PFT_REGEXP, "T", BUF_DATA(&b), BUF_LEN(&b), &opt,
	    NULL, &err);
	ok(t == NULL && strstr(err, "nested"), "one more fails");
	/* rules */
	buf_reset(&b);
	for (i = 0; i < PFT_RULES_MAX; i++)
		buf_appends(&b, "/a/ R\n");
	t = pft_load_text(PFT_PCRE, "T", BUF_DATA(&b), BUF_LEN(&b), &opt,
	    NULL, &err);
	ok(t != NULL && pft_rules(t) == PFT_RULES_MAX, "PFT_RULES_MAX rules "
	    "load");
	pft_free(&t);
	buf_appends(&b, "/b/ R\n");
	t = pft_load_text(PFT_PCRE, "T", BUF_DATA(&b), BUF_LEN(&b), &opt,
	    NULL, &err);
	ok(t == NULL && strstr(err, "rules"), "one more fails");
	/* file */
	buf_reset(&b);
	buf_appends(&b, "/a/ R\n");
	memset(line, '.', sizeof(line));
	line[0] = '#';
	line[sizeof(line) - 1] = '\n';
	while (BUF_LEN(&b) < PFT_FILE_MAX)
		buf_append(&b, line, sizeof(line));
	buf_truncate(&b, PFT_FILE_MAX);
	t = pft_load_text(PFT_REGEXP, "T", BUF_DATA(&b), BUF_LEN(&b), &opt,
	    NULL, &err);
	ok(t != NULL, "a PFT_FILE_MAX table loads");
	pft_free(&t);
	t = pft_load_text(PFT_REGEXP, "T", BUF_DATA(&b), BUF_LEN(&b) + 1,
	    &opt, NULL, &err);
	ok(t == NULL && strstr(err, "larger"), "one byte more fails");
	buf_free(&b);
	/* input and result */
	big = malloc(PFT_INPUT_MAX + 10);
	memset(big, 'a', PFT_INPUT_MAX + 10);
	memcpy(big + PFT_INPUT_MAX - 3, "xyz", 3);
	t = load(PFT_PCRE, "/xyz/ IN\n/(a+)$/ [$1]\n", NULL, 0);
	buf_init(&r, PFT_RESULT_MAX);
	ok(pft_lookup(t, S, big, PFT_INPUT_MAX + 10, &r, NULL) &&
	    strcmp(BUF_DATA(&r), "IN") == 0, "a literal in the input's last "
	    "bytes before PFT_INPUT_MAX is seen");
	memset(big, 'a', PFT_INPUT_MAX + 10);
	memcpy(big + PFT_INPUT_MAX - 2, "xyz", 3);
	ok(!pft_lookup(t, S, big, PFT_INPUT_MAX + 10, &r, NULL), "one "
	    "crossing PFT_INPUT_MAX is not");
	memset(big, 'a', PFT_INPUT_MAX);
	ok(pft_lookup(t, S, big, PFT_RESULT_MAX + 1, &r, NULL) &&
	    BUF_LEN(&r) == PFT_RESULT_MAX, "result cut at PFT_RESULT_MAX "
	    "(%zu)", BUF_LEN(&r));
	ok(pft_lookup(t, S, big, PFT_RESULT_MAX - 2, &r, NULL) &&
	    BUF_LEN(&r) == PFT_RESULT_MAX, "a result of PFT_RESULT_MAX "
	    "bytes is whole");
	buf_free(&r);
	buf_init(&r, 10);
	ok(pft_lookup(t, S, big, 100, &r, NULL) && BUF_LEN(&r) == 10,
	    "and at the result buffer's maximum");
	buf_free(&r);
	pft_free(&t);
	free(big);
}

/* test_actions - header_checks(5) results */
static void test_actions(void)
{
	struct pft_act a;

	pft_action_parse("reject", &a);
	ok(a.action == PFT_A_REJECT && !a.tempfail &&
	    strcmp(a.dsn, "5.7.1") == 0 &&
	    strcmp(a.reply, "message content rejected") == 0, "REJECT bare");
	pft_action_parse("REJECT 4.7.0 try later", &a);
	ok(a.action == PFT_A_REJECT && a.tempfail &&
	    strcmp(a.dsn, "4.7.0") == 0 && strcmp(a.reply, "try later") == 0,
	    "REJECT 4.x.x tempfails");
	pft_action_parse("REJECT 2.0.0 odd", &a);
	ok(a.tempfail && strcmp(a.dsn, "4.0.0") == 0 && a.warning,
	    "REJECT 2.x.x: 4.x.x with a warning");
	pft_action_parse("REJECT 3.1.1 text", &a);
	ok(strcmp(a.dsn, "5.7.1") == 0 && strcmp(a.reply, "3.1.1 text") == 0,
	    "REJECT 3.x.x is text");
	pft_action_parse("REJECT 5.7.1234 text", &a);
	ok(strcmp(a.dsn, "5.7.1") == 0, "REJECT bad code is text");
	pft_action_parse("Ok", &a);
	is_int(a.action, PFT_A_DUNNO, "OK is DUNNO");
	pft_action_parse("450 text", &a);
	ok(a.action == PFT_A_UNKNOWN && a.warning, "numeric: unknown");
	pft_action_parse("FROB", &a);
	ok(a.action == PFT_A_UNKNOWN && a.warning, "unknown word");
	pft_action_parse("PREPEND", &a);
	ok(a.action == PFT_A_UNKNOWN && a.warning, "PREPEND without text");
	pft_action_parse("prepend X-Tag: yes", &a);
	ok(a.action == PFT_A_PREPEND && strcmp(a.text, "X-Tag: yes") == 0 &&
	    pft_header_label_ok(a.text), "PREPEND with a header");
	ok(!pft_header_label_ok("no header") && !pft_header_label_ok(": x") &&
	    pft_header_label_ok("X-A :b"), "header label check");
	pft_action_parse("REDIRECT nobody", &a);
	ok(a.action == PFT_A_UNKNOWN, "REDIRECT needs user@domain");
	pft_action_parse("BCC a@b.example", &a);
	is_int(a.action, PFT_A_BCC, "BCC");
	pft_action_parse("FILTER smtp:[127.0.0.1]:10025", &a);
	is_int(a.action, PFT_A_FILTER, "FILTER");
	pft_action_parse("FILTER nocolon", &a);
	is_int(a.action, PFT_A_UNKNOWN, "FILTER without ':'");
	pft_action_parse("discard  gone", &a);
	ok(a.action == PFT_A_DISCARD && strcmp(a.text, "gone") == 0,
	    "DISCARD text");
	is_str(pft_action_name(PFT_A_HOLD), "HOLD", "action name");
}

/* perf - informational: 1000 typical rules, non-matching headers */
static void perf(void)
{
	struct buf text;
	struct pft_table *t;
	const char *h = "Subject: an ordinary subject line about nothing";
	struct timespec t0, t1;
	int i, n = 200000;
	double s;

	buf_init(&text, 1 << 20);
	for (i = 0; i < 1000; i++)
		buf_appendf(&text, "/^Subject:.*word%d/ REJECT\n", i);
	t = load(PFT_REGEXP, BUF_DATA(&text), NULL, 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < n; i++)
		(void)pft_lookup(t, S, h, strlen(h), NULL, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	s = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("# 1000 rules, non-matching Subject: %.0f lookups/s\n", n / s);
	pft_free(&t);
	buf_free(&text);
}

int main(void)
{
	log_open("pftable_t", 1);
	S = pft_scratch_new();
	test_syntax();
	test_multiline();
	test_glibc();
	test_literals();
	test_prefilter();
	test_limit();
	test_bounds();
	test_actions();
	if (getenv("PFT_PERF"))
		perf();
	pft_scratch_free(&S);
	return done_testing();
}
