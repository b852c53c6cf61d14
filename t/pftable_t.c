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
	struct pft_options opt = { 0, 0, no_pf };
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
	int line = 0;
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
	ok(pft_lookup(t, S, "ixb", 3, &r, &line) && line == 15,
	    "line number of the matching rule (%d)", line);
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
	"[.]", "[\\]", "\\(", "[[:upper:]]", "[^[:space:]]",
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
	const char *alpha = "aAbx\n.( -";
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
		mid_anchor = !(mode & 2) && (strchr(pat + 1, '^') ||
		    (strchr(pat, '$') && strchr(pat, '$') <
		    pat + strlen(pat) - 1) || strstr(pat, "\\`") ||
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
			/* glibc: a ^ or $ inside the pattern next to an
			 * atom that consumed a '\n' acts as a line anchor
			 * even without REG_NEWLINE; not emulated */
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

int main(void)
{
	log_open("pftable_t", 1);
	S = pft_scratch_new();
	test_syntax();
	test_multiline();
	test_glibc();
	pft_scratch_free(&S);
	return done_testing();
}
