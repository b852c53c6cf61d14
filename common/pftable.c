/*
 * pftable.c - Postfix regexp: and pcre: tables compiled to PCRE2 + JIT,
 *             with an Aho-Corasick literal prefilter; header_checks(5)
 *             action parsing.  See pftable.h for the contract.
 *
 * Public: pft_load_file, pft_load_text, pft_free, pft_rules, pft_name,
 *         pft_scratch_new, pft_scratch_free, pft_lookup, pft_stats,
 *         pft_action_parse, pft_action_name, pft_header_label_ok.
 * Trust: the table text is the admin's (bounded anyway: PFT_FILE_MAX,
 *        PFT_LINE_MAX, PFT_RULES_MAX, PFT_IF_DEPTH); lookup input is peer
 *        data, cut at PFT_INPUT_MAX and matched under PCRE2 match and
 *        depth limits.
 * Errors: load: Postfix's warn-and-skip cases become lines in *warnings
 *         (same wording as Postfix 3.7, "regexp map NAME, line N: ...");
 *         our own bounds and unreadable files are -1 with *err_r.
 *         Lookup never fails: a match-limit hit counts as no match.
 *
 * Parsing follows Postfix's dict_regexp/dict_pcre as observed with
 * postmap(1) 3.7: logical lines (readllines), "!" any number of times
 * with blanks between, the first character after them is the delimiter,
 * a backslash escapes the next character (and stays in the pattern),
 * the flags run up to white space, the result follows white space.
 * Result text is checked the way Postfix's mac_parse + prescan checks
 * it ($n, ${n}, $(n), $$; anything else after '$' is an error).
 *
 * regexp: patterns are POSIX (glibc) syntax.  They are translated to
 * PCRE2 syntax with the same meaning rather than compiled with regcomp:
 * every literal byte is quoted, bracket expressions are rebuilt (a
 * backslash is literal there), GNU escapes map to PCRE2 equivalents, an
 * escaped ordinary character is that character (glibc: "\d" is "d",
 * except that with REG_ICASE glibc never matches an escaped lower-case
 * letter: "\d" matches nothing, "\D" matches d and D; kept),
 * '.' is DOTALL unless REG_NEWLINE (flag m), and in m mode ^ and $ are
 * "after/before a newline or at the ends" lookarounds, so a '\n' at the
 * end of the input behaves as in POSIX.  A stacked quantifier ("a+*")
 * wraps the quantified atom in (?:...) so PCRE2 does not read it as lazy
 * or possessive.  What glibc refuses is refused with glibc's message.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "log.h"
#include "pftable.h"
#include "xalloc.h"

#define PFT_LIT_MIN	3		/* shortest literal worth a prefilter */
#define PFT_LIT_MAX	16		/* literal cut to this many bytes */
#define PFT_LIT_RUNS	8		/* literal candidates kept per rule */
#define PFT_AC_CELLS_MAX (1u << 24)	/* automaton transition cells */
#define PFT_DUP_MAX	32767		/* glibc RE_DUP_MAX */
#define PFT_JIT_STACK_MAX (1024 * 1024)
#define PFT_ERR_SIZE	300

enum { R_MATCH, R_IF };

struct pft_rule {
	int kind;		/* R_MATCH or R_IF */
	int neg;		/* negated: matches when the pattern does not */
	int line;		/* first line of the logical line */
	int lit;		/* literal id for the prefilter, -1 if none */
	size_t skip_to;		/* R_IF: index after the matching endif */
	pcre2_code *re;
	char *result;		/* R_MATCH: unexpanded result text */
	int warned;		/* match limit logged (atomic) */
};

struct pft_table {
	enum pft_type type;
	char *name;		/* "regexp:NAME" */
	struct pft_rule *rules;
	size_t nrules, nalloc, npatterns;
	uint32_t match_limit, depth_limit, max_pairs;
	/* prefilter: Aho-Corasick over lower-cased literals */
	int prefilter;
	size_t nlits;
	unsigned char cls[256];	/* byte -> class */
	unsigned ncls;
	uint32_t *delta;	/* state * ncls + class -> state */
	int32_t *out;		/* state -> literal id ending here, -1 */
	uint32_t *out_next;	/* state -> next state with output, 0 none */
	/* stats (atomic) */
	unsigned long long lookups, rules_run, limit_hits;
};

struct pft_scratch {
	pcre2_match_data *md;
	uint32_t md_pairs;
	pcre2_match_context *mctx;
	pcre2_jit_stack *jstack;
	unsigned char *low;
	size_t lowcap;
	uint32_t *mark;
	size_t markcap;
	uint32_t gen;
};

/* ------------------------------------------------------------ helpers */

/* lower - ASCII lower case (the C locale, as PCRE2's default tables) */
static inline unsigned char lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

/* isblank_ - Postfix ISSPACE for the table syntax */
static int isspace_(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
	    c == '\v' || c == '\f';
}

/* warnf - one warning line into *warnings (may be NULL) */
__attribute__((format(printf, 2, 3)))
static void warnf(struct buf *w, const char *fmt, ...)
{
	va_list ap;

	if (w == NULL)
		return;
	va_start(ap, fmt);
	if (buf_vappendf(w, fmt, ap) == 0)
		(void)buf_appendc(w, '\n');
	va_end(ap);
}

/* buf_insert - insert n bytes at offset off (the buffers here are ours) */
static int buf_insert(struct buf *b, size_t off, const char *p, size_t n)
{
	size_t old = b->len;

	if (buf_append(b, p, n) < 0)
		return -1;
	memmove(b->data + off + n, b->data + off, old - off);
	memcpy(b->data + off, p, n);
	return 0;
}

/* ------------------------------------------- POSIX -> PCRE2 translation */

struct xl {
	const char *p;		/* pattern being read */
	struct buf *o;		/* PCRE2 pattern */
	int ere, newline, icase;
	int nsub;		/* groups opened */
	unsigned completed;	/* groups 1..31 closed (bit n) */
	int depth;
	size_t gstart[256];	/* output offset of each open group */
	int gnum[256];
	long atom;		/* output offset of the last atom, -1 none */
	int quantified;		/* the last atom already has a quantifier */
	const char *err;
};

#define XL_GROUPS_MAX 255

/* lit_out - one literal byte, quoted for PCRE2 outside a class */
static void lit_out(struct buf *o, unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z') || c >= 0x80 || c == '_')
		(void)buf_appendc(o, c);
	else if (c == ' ')
		(void)buf_appendc(o, c);	/* never PCRE2_EXTENDED */
	else if (c > ' ' && c < 0x7f)
		(void)buf_appendf(o, "\\%c", c);
	else
		(void)buf_appendf(o, "\\x%02x", c);
}

/* xl_atom - an atom starts at the current output offset */
static void xl_atom(struct xl *x)
{
	x->atom = (long)x->o->len;
	x->quantified = 0;
}

/* xl_quant - apply quantifier text q to the last atom */
static int xl_quant(struct xl *x, const char *q)
{
	if (x->atom < 0) {
		x->err = "Invalid preceding regular expression";
		return -1;
	}
	if (x->quantified && !x->ere && (q[0] == '*' || q[0] == '{')) {
		x->err = "Invalid preceding regular expression";
		return -1;
	}
	if (x->quantified) {
		if (buf_insert(x->o, (size_t)x->atom, "(?:", 3) < 0 ||
		    buf_appendc(x->o, ')') < 0)
			return -1;
	}
	(void)buf_appends(x->o, q);
	x->quantified = 1;
	return 0;
}

static const char *const posix_classes[] = {
	"alpha", "upper", "lower", "digit", "xdigit", "space", "print",
	"punct", "graph", "cntrl", "blank", "alnum", NULL,
};

/* xl_bracket_elem - one bracket element's character (literal, [.c.] or
 * [=c=]); 1 with *c, 0 for a [:class:] (emitted), -1 error */
static int xl_bracket_elem(struct xl *x, const char **pp, int *c)
{
	const char *p = *pp, *e;
	int i;

	if (p[0] == '[' && (p[1] == '.' || p[1] == '=' || p[1] == ':')) {
		char d = p[1];

		for (e = p + 2; *e && !(e[0] == d && e[1] == ']'); e++)
			;
		if (*e == 0) {
			x->err = "Unmatched [, [^, [:, [., or [=";
			return -1;
		}
		if (d == ':') {
			for (i = 0; posix_classes[i]; i++)
				if (strlen(posix_classes[i]) ==
				    (size_t)(e - p - 2) && strncmp(p + 2,
				    posix_classes[i], (size_t)(e - p - 2)) == 0)
					break;
			if (posix_classes[i] == NULL) {
				x->err = "Invalid character class name";
				return -1;
			}
			(void)buf_appendf(x->o, "[:%s:]", posix_classes[i]);
			*pp = e + 2;
			return 0;
		}
		if (e - p - 2 != 1) {
			x->err = "Invalid collation character";
			return -1;
		}
		*c = (unsigned char)p[2];
		*pp = e + 2;
		return 1;
	}
	if (*p == 0) {
		x->err = "Unmatched [, [^, [:, [., or [=";
		return -1;
	}
	*c = (unsigned char)*p;
	*pp = p + 1;
	return 1;
}

/* xl_bracket - a bracket expression at x->p (after '['), backslash
 * literal, as a PCRE2 class of \xHH bytes, ranges and [:classes:] */
static int xl_bracket(struct xl *x)
{
	const char *p = x->p;
	int neg = 0, first = 1, c, c2, r;

	xl_atom(x);
	if (*p == '^') {
		neg = 1;
		p++;
	}
	(void)buf_appends(x->o, neg ? "[^" : "[");
	if (neg && x->newline)
		(void)buf_appends(x->o, "\\n");
	for (;;) {
		if (*p == 0) {
			x->err = "Unmatched [, [^, [:, [., or [=";
			return -1;
		}
		if (*p == ']' && !first)
			break;
		first = 0;
		if ((r = xl_bracket_elem(x, &p, &c)) < 0)
			return -1;
		if (r == 0)
			continue;
		if (p[0] == '-' && p[1] != ']' && p[1] != 0) {
			p++;
			if (p[0] == '[' && p[1] == ':') {
				x->err = "Invalid range end";
				return -1;
			}
			if ((r = xl_bracket_elem(x, &p, &c2)) < 0)
				return -1;
			if (c2 < c) {
				x->err = "Invalid range end";
				return -1;
			}
			(void)buf_appendf(x->o, "\\x%02x-\\x%02x", c, c2);
		} else
			(void)buf_appendf(x->o, "\\x%02x", c);
	}
	(void)buf_appendc(x->o, ']');
	x->p = p + 1;
	return 0;
}

/* xl_interval - {m}, {m,}, {m,n}, {,n} at x->p (after '{' or '\{');
 * BRE intervals end with "\}" */
static int xl_interval(struct xl *x)
{
	const char *p = x->p;
	long m = -1, n = -1;
	char q[40];
	int comma = 0;

	if (*p >= '0' && *p <= '9')
		for (m = 0; *p >= '0' && *p <= '9'; p++)
			if ((m = m * 10 + (*p - '0')) > PFT_DUP_MAX + 1)
				m = PFT_DUP_MAX + 1;
	if (*p == ',') {
		comma = 1;
		p++;
		if (*p >= '0' && *p <= '9')
			for (n = 0; *p >= '0' && *p <= '9'; p++)
				if ((n = n * 10 + (*p - '0')) > PFT_DUP_MAX + 1)
					n = PFT_DUP_MAX + 1;
	}
	if (x->ere ? *p != '}' : (p[0] != '\\' || p[1] != '}')) {
		x->err = *p == 0 || (!x->ere && p[0] == '\\' && p[1] == 0) ?
		    "Unmatched \\{" : "Invalid content of \\{\\}";
		return -1;
	}
	x->p = p + (x->ere ? 1 : 2);
	if (m < 0 && !comma) {
		x->err = "Invalid content of \\{\\}";
		return -1;
	}
	if (m < 0)
		m = 0;
	if (!comma)
		n = m;
	if (n >= 0 && n < m) {
		x->err = "Invalid content of \\{\\}";
		return -1;
	}
	if (m > PFT_DUP_MAX || n > PFT_DUP_MAX) {
		x->err = "Regular expression too big";
		return -1;
	}
	if (n < 0)
		snprintf(q, sizeof(q), "{%ld,}", m);
	else
		snprintf(q, sizeof(q), "{%ld,%ld}", m, n);
	return xl_quant(x, q);
}

/* xl_escape - a backslash sequence at x->p (after the backslash) that is
 * not BRE syntax */
static int xl_escape(struct xl *x)
{
	unsigned char c = (unsigned char)*x->p++;
	int n;

	switch (c) {
	case 0:
		x->err = "Trailing backslash";
		return -1;
	case '1': case '2': case '3': case '4': case '5':
	case '6': case '7': case '8': case '9':
		n = c - '0';
		if (!(x->completed & (1u << n))) {
			x->err = "Invalid back reference";
			return -1;
		}
		xl_atom(x);
		(void)buf_appendf(x->o, "\\g{%d}", n);
		return 0;
	case '<':
		(void)buf_appends(x->o, "\\b(?=\\w)");
		break;
	case '>':
		(void)buf_appends(x->o, "\\b(?<=\\w)");
		break;
	case 'b':
		(void)buf_appends(x->o, "\\b");
		break;
	case 'B':
		(void)buf_appends(x->o, "\\B");
		break;
	case '`':
		(void)buf_appends(x->o, "\\A");
		break;
	case '\'':
		(void)buf_appends(x->o, "\\z");
		break;
	case 'w':
		xl_atom(x);
		(void)buf_appends(x->o, "[_[:alnum:]]");
		return 0;
	case 'W':
		xl_atom(x);
		(void)buf_appends(x->o, "[^_[:alnum:]]");
		return 0;
	case 's':
		xl_atom(x);
		(void)buf_appends(x->o, "[[:space:]]");
		return 0;
	case 'S':
		xl_atom(x);
		(void)buf_appends(x->o, "[^[:space:]]");
		return 0;
	default:
		xl_atom(x);
		/* glibc with REG_ICASE: an escaped lower-case letter
		 * matches nothing (an upper-case one is the letter) */
		if (x->icase && c >= 'a' && c <= 'z')
			(void)buf_appends(x->o, "[^\\x00-\\xff]");
		else
			lit_out(x->o, c);
		return 0;
	}
	/* an anchor: nothing to quantify */
	x->atom = -1;
	return 0;
}

/* xl_open - '(' or '\(' */
static int xl_open(struct xl *x)
{
	if (x->depth >= XL_GROUPS_MAX || x->nsub >= 65535) {
		x->err = "Regular expression too big";
		return -1;
	}
	x->gstart[x->depth] = x->o->len;
	x->gnum[x->depth] = ++x->nsub;
	x->depth++;
	(void)buf_appendc(x->o, '(');
	x->atom = -1;
	return 0;
}

/* xl_close - ')' or '\)' with an open group */
static void xl_close(struct xl *x)
{
	int n;

	x->depth--;
	n = x->gnum[x->depth];
	if (n < 32)
		x->completed |= 1u << n;
	(void)buf_appendc(x->o, ')');
	x->atom = (long)x->gstart[x->depth];
	x->quantified = 0;
}

/*
 * xl_anchor - ^ or $ as glibc means them.  With REG_NEWLINE they match
 * at line ends.  Without it, glibc still matches a ^ that is not where
 * the match begins right after a newline, and a $ that is not where it
 * ends right before one ("a.^b" and "a$.b" match "a\nb"); a ^ that can
 * begin the match (leading) or a $ that can end it (trailing) matches
 * only at the ends of the string.
 */
static void xl_anchor(struct xl *x, int c, int edge)
{
	if (c == '^')
		(void)buf_appends(x->o, x->newline ? "(?<![^\\n])" :
		    edge ? "^" : "(?:^|(?<=\\n))");
	else
		(void)buf_appends(x->o, x->newline ? "(?![^\\n])" :
		    edge ? "$" : "(?:$|(?=\\n))");
	x->atom = -1;
}

/* ere_trailing - is an ERE '$' whose next byte is p the pattern's last
 * item in its branch (only ')' until the end or a '|')? */
static int ere_trailing(const char *p)
{
	while (*p == ')')
		p++;
	return *p == '\0' || *p == '|';
}

/* bre_end_anchor - a BRE '$' at p is an anchor (at the end, or before
 * \) or \|) */
static int bre_end_anchor(const char *p)
{
	return p[1] == 0 || (p[1] == '\\' && (p[2] == ')' || p[2] == '|'));
}

/* posix_to_pcre - translate a POSIX pattern; 0 with *nsub_r, or -1 with
 * glibc's message in *err_r */
static int posix_to_pcre(const char *pat, int ere, int newline,
    int icase, struct buf *o, int *nsub_r, const char **err_r)
{
	struct xl x;
	int at_start = 1;	/* BRE: 1 start of RE, after \( or \|;
				   2 after a leading ^ */
	int lead = 1;		/* ERE: nothing consumed yet in this branch */
	uint64_t lead_at_open = 0;	/* lead when each '(' opened */
	unsigned ldepth = 0;
	unsigned char c;

	memset(&x, 0, sizeof(x));
	x.p = pat;
	x.o = o;
	x.ere = ere;
	x.newline = newline;
	x.icase = icase;
	x.atom = -1;
	while (*x.p) {
		int was_start = at_start, was_lead = lead;

		at_start = 0;
		c = (unsigned char)*x.p;
		if (ere && c == '(') {
			if (ldepth < 64 && lead)
				lead_at_open |= (uint64_t)1 << ldepth;
			else if (ldepth < 64)
				lead_at_open &= ~((uint64_t)1 << ldepth);
			ldepth++;
		} else if (ere && c == ')' && ldepth > 0) {
			ldepth--;
			lead = 0;
		} else if (ere && c == '|') {
			lead = ldepth == 0 ? 1 : ldepth <= 64 &&
			    (lead_at_open >> (ldepth - 1) & 1);
		} else if (c != '^') {
			lead = 0;
		}
		x.p++;
		if (c == '\\' && !ere) {
			c = (unsigned char)*x.p;
			if (c == '(') {
				x.p++;
				if (xl_open(&x) < 0)
					goto fail;
				at_start = 1;
				continue;
			} else if (c == ')') {
				x.p++;
				if (x.depth == 0) {
					x.err = "Unmatched ) or \\)";
					goto fail;
				}
				xl_close(&x);
				continue;
			} else if (c == '|') {
				x.p++;
				(void)buf_appendc(o, '|');
				x.atom = -1;
				at_start = 1;
				continue;
			} else if (c == '{') {
				x.p++;
				if (was_start && x.atom < 0) {
					x.err = "Invalid preceding regular "
					    "expression";
					goto fail;
				}
				if (xl_interval(&x) < 0)
					goto fail;
				continue;
			} else if (c == '+' || c == '?') {
				x.p++;
				if (was_start && x.atom < 0) {
					xl_atom(&x);
					lit_out(o, c);
					continue;
				}
				if (xl_quant(&x, c == '+' ? "+" : "?") < 0)
					goto fail;
				continue;
			}
			if (xl_escape(&x) < 0)
				goto fail;
			continue;
		}
		if (c == '\\') {
			if (xl_escape(&x) < 0)
				goto fail;
			continue;
		}
		if (c == '[') {
			if (xl_bracket(&x) < 0)
				goto fail;
			continue;
		}
		if (c == '.') {
			xl_atom(&x);
			(void)buf_appendc(o, '.');
			continue;
		}
		if (c == '^') {
			if (ere || was_start == 1) {
				xl_anchor(&x, c, !ere || was_lead);
				if (!ere)
					at_start = 2;	/* '*' literal next */
				continue;
			}
		} else if (c == '$') {
			if (ere || bre_end_anchor(x.p - 1)) {
				xl_anchor(&x, c, !ere || ere_trailing(x.p));
				continue;
			}
		} else if (c == '*') {
			if (!ere && was_start) {
				xl_atom(&x);
				lit_out(o, c);
				continue;
			}
			if (xl_quant(&x, "*") < 0)
				goto fail;
			continue;
		} else if (ere && (c == '+' || c == '?')) {
			if (xl_quant(&x, c == '+' ? "+" : "?") < 0)
				goto fail;
			continue;
		} else if (ere && c == '{') {
			if (xl_interval(&x) < 0)
				goto fail;
			continue;
		} else if (ere && c == '(') {
			if (xl_open(&x) < 0)
				goto fail;
			continue;
		} else if (ere && c == ')' && x.depth > 0) {
			xl_close(&x);
			continue;
		} else if (ere && c == '|') {
			(void)buf_appendc(o, '|');
			x.atom = -1;
			continue;
		}
		xl_atom(&x);
		lit_out(o, c);
	}
	if (x.depth > 0) {
		x.err = "Unmatched ( or \\(";
		goto fail;
	}
	*nsub_r = x.nsub;
	return 0;
fail:
	*err_r = x.err ? x.err : "Regular expression too big";
	return -1;
}

/* ------------------------------------------------- literal extraction */

/* skip_class - p at '['; return the byte after the class's ']' */
static const char *skip_class(const char *p)
{
	p++;
	if (*p == '^')
		p++;
	if (*p == ']')
		p++;
	while (*p && *p != ']') {
		if (*p == '\\' && p[1])
			p += 2;
		else if (p[0] == '[' && p[1] == ':') {
			const char *e = strstr(p + 2, ":]");

			p = e ? e + 2 : p + 1;
		} else
			p++;
	}
	return *p ? p + 1 : p;
}

/* skip_group - p at '('; return the byte after the matching ')', or
 * NULL when the pattern is not understood */
static const char *skip_group(const char *p)
{
	int depth = 0;

	while (*p) {
		if (*p == '\\') {
			if (p[1] == 0 || p[1] == 'Q')
				return NULL;
			p += 2;
		} else if (*p == '[')
			p = skip_class(p);
		else if (*p == '(') {
			depth++;
			p++;
		} else if (*p == ')') {
			p++;
			if (--depth == 0)
				return p;
		} else
			p++;
	}
	return NULL;
}

/* quant_len - length of a PCRE quantifier at p (0 none); *may_zero_r */
static size_t quant_len(const char *p, int *may_zero_r)
{
	const char *q = p;

	if (*p == '*' || *p == '?') {
		*may_zero_r = 1;
		return 1;
	}
	if (*p == '+') {
		*may_zero_r = 0;
		return 1;
	}
	if (*p != '{')
		return 0;
	q++;
	if (!(*q >= '0' && *q <= '9'))
		return (size_t)-1;	/* not understood: give up the run */
	*may_zero_r = 1;
	while (*q >= '0' && *q <= '9') {
		if (*q != '0')
			*may_zero_r = 0;
		q++;
	}
	if (*q == ',') {
		q++;
		while (*q >= '0' && *q <= '9')
			q++;
	}
	if (*q != '}')
		return (size_t)-1;
	return (size_t)(q + 1 - p);
}

struct runs {
	int n;
	char s[PFT_LIT_RUNS][PFT_LIT_MAX + 1];
};

/* run_end - keep the current run if long enough */
static void run_end(struct runs *rs, char *cur, size_t *len)
{
	if (*len >= PFT_LIT_MIN && rs->n < PFT_LIT_RUNS) {
		size_t n = *len > PFT_LIT_MAX ? PFT_LIT_MAX : *len;

		memcpy(rs->s[rs->n], cur, n);
		rs->s[rs->n][n] = 0;
		rs->n++;
	}
	*len = 0;
}

/* pcre_literals - the runs of literal bytes every match must contain,
 * read from a PCRE2 pattern conservatively: top-level sequence only, no
 * top-level '|', nothing with extended syntax or (*VERB)s, \Q */
static void pcre_literals(const char *p, int extended, struct runs *rs)
{
	char cur[PFT_LINE_MAX < 4096 ? PFT_LINE_MAX : 4096];
	size_t len = 0, ql;
	const char *q;
	int zero, lit;

	rs->n = 0;
	if (extended || strstr(p, "(*") || strstr(p, "\\Q"))
		return;
	for (q = p; (q = strstr(q, "(?")) != NULL; q += 2) {
		const char *e = q + 2;

		while (*e && *e != ')' && *e != ':')
			if (*e++ == 'x')
				return;
	}
	/* top-level '|' anywhere means no literal */
	for (q = p; *q;) {
		if (*q == '\\') {
			if (!q[1])
				return;
			q += 2;
		} else if (*q == '[')
			q = skip_class(q);
		else if (*q == '(') {
			if ((q = skip_group(q)) == NULL)
				return;
		} else if (*q++ == '|')
			return;
	}
	while (*p) {
		unsigned char c = (unsigned char)*p;

		lit = 0;
		if (c == '\\') {
			unsigned char d = (unsigned char)p[1];

			if ((d >= '0' && d <= '9') || (d >= 'a' && d <= 'z') ||
			    (d >= 'A' && d <= 'Z')) {
				run_end(rs, cur, &len);
				p += 2;
				if (d == 'c' && *p)
					p++;
				else if (d >= '0' && d <= '9')
					p += strspn(p, "0123456789");
				else if (d == 'x' && *p != '{')
					for (ql = 0; ql < 2 && isxdigit(
					    (unsigned char)*p); ql++)
						p++;
				else if (*p == '{' || *p == '<' || *p == '\'') {
					char close = *p == '{' ? '}' :
					    *p == '<' ? '>' : '\'';

					while (*p && *p != close)
						p++;
					if (*p)
						p++;
				}
				/* a quantifier now applies to a non-literal */
				if ((ql = quant_len(p, &zero)) == (size_t)-1)
					return;
				p += ql;
				continue;
			}
			if (d == 0)
				return;
			c = d;
			p += 2;
			lit = 1;
		} else if (c == '[') {
			run_end(rs, cur, &len);
			p = skip_class(p);
		} else if (c == '(') {
			run_end(rs, cur, &len);
			if ((p = skip_group(p)) == NULL)
				return;
		} else if (c == '.' || c == '^' || c == '$' || c == ')') {
			run_end(rs, cur, &len);
			p++;
		} else if (c == '*' || c == '+' || c == '?' || c == '{') {
			/* a quantifier after a non-literal: skipped below */
			if ((ql = quant_len(p, &zero)) == (size_t)-1 ||
			    ql == 0)
				return;
			run_end(rs, cur, &len);
			p += ql;
			if (*p == '?' || *p == '+')
				p++;
			continue;
		} else {
			lit = 1;
			p++;
		}
		if (!lit) {
			if ((ql = quant_len(p, &zero)) == (size_t)-1)
				return;
			p += ql;
			if (ql && (*p == '?' || *p == '+'))
				p++;
			continue;
		}
		/* a literal byte: is it quantified? */
		if ((ql = quant_len(p, &zero)) == (size_t)-1)
			return;
		if (ql == 0) {
			if (len < sizeof(cur))
				cur[len++] = (char)lower(c);
			continue;
		}
		p += ql;
		if (*p == '?' || *p == '+')
			p++;
		if (!zero && len < sizeof(cur))
			cur[len++] = (char)lower(c);
		run_end(rs, cur, &len);
	}
	run_end(rs, cur, &len);
}

/* ------------------------------------------------------------ parsing */

struct load {
	struct pft_table *t;
	const char *kind;	/* "regexp" or "pcre" */
	const char *map;	/* name in warnings */
	struct buf *w;
	pcre2_compile_context *cctx;
	struct runs *runs;	/* per rule, parallel to t->rules */
	size_t ifstack[PFT_IF_DEPTH];
	int iflines[PFT_IF_DEPTH];
	int depth;
};

/* get_pat - "!"s, delimiter, pattern, flags at *pp; 1 with the pattern
 * (NUL-terminated in place) and its flags, 0 when skipped with a
 * warning */
static int get_pat(struct load *L, int line, char **pp, char **pat_r,
    const char **flags_r, size_t *nflags_r, int *neg_r)
{
	char *p = *pp, delim;
	const char *f;

	*neg_r = 0;
	for (;; p++) {
		if (*p == '!')
			*neg_r = !*neg_r;
		else if (!isspace_((unsigned char)*p))
			break;
	}
	if (*p == 0) {
		warnf(L->w, "%s map %s, line %d: no regexp: skipping this "
		    "rule", L->kind, L->map, line);
		return 0;
	}
	delim = *p++;
	*pat_r = p;
	while (*p) {
		if (*p == '\\') {
			if (p[1])
				p++;
			else
				break;
		} else if (*p == delim)
			break;
		p++;
	}
	if (*p == 0) {
		warnf(L->w, "%s map %s, line %d: no closing regexp delimiter "
		    "\"%c\": %s this rule", L->kind, L->map, line, delim,
		    L->t->type == PFT_PCRE ? "ignoring" : "skipping");
		return 0;
	}
	*p++ = 0;
	f = p;
	while (*p && !isspace_((unsigned char)*p))
		p++;
	*flags_r = f;
	*nflags_r = (size_t)(p - f);
	*pp = p;
	return 1;
}

/* compile - flags + pattern to PCRE2 code; NULL when skipped (warned) */
static pcre2_code *compile(struct load *L, int line, const char *pat,
    const char *flags, size_t nflags, struct runs *rs, int *nsub_r)
{
	uint32_t opts;
	int icase = 1, ext = 1, nl = 0, errcode, extended = 0;
	size_t i, erroff;
	struct buf tr;
	const char *src = pat, *err;
	pcre2_code *re;
	PCRE2_UCHAR msg[256];
	uint32_t caps;

	if (L->t->type == PFT_REGEXP) {
		for (i = 0; i < nflags; i++) {
			switch (flags[i]) {
			case 'i': icase = !icase; break;
			case 'x': ext = !ext; break;
			case 'm': nl = !nl; break;
			default:
				warnf(L->w, "regexp map %s, line %d: unknown "
				    "regexp option \"%c\": skipping this rule",
				    L->map, line, flags[i]);
				return NULL;
			}
		}
		buf_init(&tr, (size_t)PFT_LINE_MAX * 16);
		if (posix_to_pcre(pat, ext, nl, icase, &tr, nsub_r, &err) < 0) {
			warnf(L->w, "regexp map %s, line %d: %s", L->map, line,
			    err);
			buf_free(&tr);
			return NULL;
		}
		opts = PCRE2_DOLLAR_ENDONLY | (icase ? PCRE2_CASELESS : 0) |
		    (nl ? 0 : PCRE2_DOTALL);
		src = BUF_DATA(&tr);
	} else {
		opts = PCRE2_CASELESS | PCRE2_DOTALL;
		for (i = 0; i < nflags; i++) {
			switch (flags[i]) {
			case 'i': opts ^= PCRE2_CASELESS; break;
			case 'm': opts ^= PCRE2_MULTILINE; break;
			case 's': opts ^= PCRE2_DOTALL; break;
			case 'x': opts ^= PCRE2_EXTENDED; break;
			case 'A': opts ^= PCRE2_ANCHORED; break;
			case 'E': opts ^= PCRE2_DOLLAR_ENDONLY; break;
			case 'U': opts ^= PCRE2_UNGREEDY; break;
			case 'X':
				warnf(L->w, "pcre map %s, line %d: ignoring "
				    "obsolete regexp option \"X\"", L->map,
				    line);
				break;
			default:
				warnf(L->w, "pcre map %s, line %d: unknown "
				    "regexp option \"%c\": skipping this rule",
				    L->map, line, flags[i]);
				return NULL;
			}
		}
		extended = (opts & PCRE2_EXTENDED) != 0;
	}
	re = pcre2_compile((PCRE2_SPTR)src, PCRE2_ZERO_TERMINATED, opts,
	    &errcode, &erroff, L->cctx);
	if (re == NULL) {
		pcre2_get_error_message(errcode, msg, sizeof(msg));
		if (L->t->type == PFT_PCRE)
			warnf(L->w, "pcre map %s, line %d: error in regex at "
			    "offset %zu: %s", L->map, line, erroff,
			    (char *)msg);
		else
			warnf(L->w, "regexp map %s, line %d: %s", L->map,
			    line, (char *)msg);
	} else {
		(void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
		if (L->t->type == PFT_PCRE) {
			(void)pcre2_pattern_info(re, PCRE2_INFO_CAPTURECOUNT,
			    &caps);
			*nsub_r = (int)caps;
		}
		pcre_literals(src, extended, rs);
	}
	if (src != pat)
		buf_free(&tr);
	return re;
}

/* prescan - check result text as Postfix's mac_parse + prescan do;
 * -1 after warnings, else the highest $n (0 none) */
static int prescan(struct load *L, int line, const char *text)
{
	const char *p = text, *name, *e;
	size_t n;
	int max = 0;
	long v;

	while (*p) {
		if (*p != '$') {
			p++;
			continue;
		}
		p++;
		if (*p == '$') {
			p++;
			continue;
		}
		if (*p == '{' || *p == '(') {
			char open = *p, close = *p == '{' ? '}' : ')';
			int level = 1;

			name = ++p;
			for (e = p; *e; e++) {
				if (*e == open)
					level++;
				else if (*e == close && --level == 0)
					break;
			}
			if (*e == 0) {
				warnf(L->w, "truncated macro reference: "
				    "\"%s\"", text);
				goto bad;
			}
			n = (size_t)(e - name);
			p = e + 1;
		} else {
			name = p;
			while ((*p >= '0' && *p <= '9') || *p == '_' ||
			    (*p >= 'a' && *p <= 'z') ||
			    (*p >= 'A' && *p <= 'Z'))
				p++;
			n = (size_t)(p - name);
		}
		if (n == 0) {
			warnf(L->w, "empty macro name: \"%s\"", text);
			goto bad;
		}
		if (strspn(name, "0123456789") < n) {
			warnf(L->w, "%s map %s, line %d: non-numeric "
			    "replacement index \"%.*s\"", L->kind, L->map,
			    line, (int)n, name);
			goto bad;
		}
		for (v = 0, e = name; e < name + n; e++)
			if ((v = v * 10 + (*e - '0')) > 100000)
				v = 100000;
		if (v < 1) {
			warnf(L->w, "%s map %s, line %d: %s replacement "
			    "index \"%.*s\"", L->kind, L->map, line,
			    L->t->type == PFT_PCRE ? "out of range" :
			    "out-of-range", (int)n, name);
			goto bad;
		}
		if (v > max)
			max = (int)v;
	}
	return max;
bad:
	warnf(L->w, "%s map %s, line %d: bad replacement syntax: skipping "
	    "this rule", L->kind, L->map, line);
	return -1;
}

/* add_rule - append a rule slot */
static struct pft_rule *add_rule(struct load *L)
{
	struct pft_table *t = L->t;

	if (t->nrules == t->nalloc) {
		t->nalloc = t->nalloc ? t->nalloc * 2 : 64;
		t->rules = xrealloc(t->rules, t->nalloc * sizeof(*t->rules));
		L->runs = xrealloc(L->runs, t->nalloc * sizeof(*L->runs));
	}
	memset(&t->rules[t->nrules], 0, sizeof(t->rules[0]));
	L->runs[t->nrules].n = 0;
	t->rules[t->nrules].lit = -1;
	return &t->rules[t->nrules++];
}

/* parse_line - one logical line; -1 with *err_r on our own bounds */
static int parse_line(struct load *L, int line, char *p, const char **err_r)
{
	static __thread char err[PFT_ERR_SIZE];
	struct pft_table *t = L->t;
	struct pft_rule *r;
	char *pat;
	const char *flags;
	size_t nflags;
	int neg, nsub = 0, max;
	struct runs rs;
	pcre2_code *re;

	if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
	    (*p >= 'A' && *p <= 'Z'))) {
		if (!get_pat(L, line, &p, &pat, &flags, &nflags, &neg))
			return 0;
		while (*p && isspace_((unsigned char)*p))
			p++;
		if (*p == 0)
			warnf(L->w, "%s map %s, line %d: no replacement text: "
			    "using empty string", L->kind, L->map, line);
		if ((max = prescan(L, line, p)) < 0)
			return 0;
		if ((re = compile(L, line, pat, flags, nflags, &rs, &nsub))
		    == NULL)
			return 0;
		if (max > 0 && neg) {
			warnf(L->w, "%s map %s, line %d: $number found in "
			    "negative match replacement text: skipping this "
			    "rule", L->kind, L->map, line);
			pcre2_code_free(re);
			return 0;
		}
		if (max > nsub) {
			warnf(L->w, "%s map %s, line %d: out of range "
			    "replacement index \"%d\": skipping this rule",
			    L->kind, L->map, line, max);
			pcre2_code_free(re);
			return 0;
		}
		if (t->npatterns >= PFT_RULES_MAX) {
			pcre2_code_free(re);
			goto too_many;
		}
		r = add_rule(L);
		r->kind = R_MATCH;
		r->neg = neg;
		r->line = line;
		r->re = re;
		r->result = xstrdup(p);
		L->runs[t->nrules - 1] = rs;
		if ((uint32_t)max + 1 > t->max_pairs)
			t->max_pairs = (uint32_t)max + 1;
		t->npatterns++;
		return 0;
	}
	if (strncasecmp(p, "IF", 2) == 0 && !((p[2] >= '0' && p[2] <= '9') ||
	    (p[2] >= 'a' && p[2] <= 'z') || (p[2] >= 'A' && p[2] <= 'Z'))) {
		p += 2;
		if (!get_pat(L, line, &p, &pat, &flags, &nflags, &neg))
			return 0;
		while (*p && isspace_((unsigned char)*p))
			p++;
		if (*p) {
			warnf(L->w, "%s map %s, line %d: ignoring extra text "
			    "after IF statement: \"%s\"", L->kind, L->map,
			    line, p);
			warnf(L->w, "%s map %s, line %d: do not prepend "
			    "whitespace to statements between IF and ENDIF",
			    L->kind, L->map, line);
		}
		if ((re = compile(L, line, pat, flags, nflags, &rs, &nsub))
		    == NULL)
			return 0;
		if (L->depth >= PFT_IF_DEPTH) {
			pcre2_code_free(re);
			snprintf(err, sizeof(err), "%s, line %d: IF nested "
			    "deeper than %d", L->map, line, PFT_IF_DEPTH);
			*err_r = err;
			return -1;
		}
		if (t->npatterns >= PFT_RULES_MAX) {
			pcre2_code_free(re);
			goto too_many;
		}
		r = add_rule(L);
		r->kind = R_IF;
		r->neg = neg;
		r->line = line;
		r->re = re;
		L->runs[t->nrules - 1] = rs;
		L->ifstack[L->depth] = t->nrules - 1;
		L->iflines[L->depth] = line;
		L->depth++;
		t->npatterns++;
		return 0;
	}
	if (strncasecmp(p, "ENDIF", 5) == 0 && !((p[5] >= '0' && p[5] <= '9')
	    || (p[5] >= 'a' && p[5] <= 'z') || (p[5] >= 'A' && p[5] <= 'Z'))) {
		p += 5;
		while (*p && isspace_((unsigned char)*p))
			p++;
		if (*p)
			warnf(L->w, "%s map %s, line %d: ignoring extra text "
			    "after ENDIF: \"%s\"", L->kind, L->map, line, p);
		if (L->depth == 0) {
			warnf(L->w, "%s map %s, line %d: ignoring ENDIF without "
			    "matching IF", L->kind, L->map, line);
			return 0;
		}
		L->depth--;
		t->rules[L->ifstack[L->depth]].skip_to = t->nrules;
		return 0;
	}
	warnf(L->w, "%s map %s, line %d: ignoring unrecognized request",
	    L->kind, L->map, line);
	return 0;
too_many:
	snprintf(err, sizeof(err), "%s, line %d: more than %d rules", L->map,
	    line, PFT_RULES_MAX);
	*err_r = err;
	return -1;
}

/* ------------------------------------------------------ Aho-Corasick */

struct lit_ent {
	char *s;
	int id;
	unsigned count;
};

/* lit_cmp - sort literal entries by string */
static int lit_cmp(const void *a, const void *b)
{
	return strcmp(((const struct lit_ent *)a)->s,
	    ((const struct lit_ent *)b)->s);
}

/* lit_find - binary search in sorted entries */
static struct lit_ent *lit_find(struct lit_ent *v, size_t n, const char *s)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(v[mid].s, s);

		if (c == 0)
			return &v[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* build_prefilter - pick each rule's rarest literal and build the
 * automaton; leaves the prefilter off when it would be too large */
static void build_prefilter(struct load *L)
{
	struct pft_table *t = L->t;
	struct lit_ent *all = NULL, *uniq;
	size_t nall = 0, nuniq = 0, i, j, cells, nstates, len, sum = 0;
	uint32_t *fail, *queue, qh = 0, qt = 0, s;
	int c;

	for (i = 0; i < t->nrules; i++)
		nall += (size_t)L->runs[i].n;
	if (nall == 0)
		return;
	all = xcalloc(nall, sizeof(*all));
	for (i = 0, j = 0; i < t->nrules; i++)
		for (c = 0; c < L->runs[i].n; c++)
			all[j++].s = L->runs[i].s[c];
	qsort(all, nall, sizeof(*all), lit_cmp);
	/* count rules per distinct string (a rule's runs may repeat one) */
	uniq = xcalloc(nall, sizeof(*uniq));
	for (i = 0; i < nall; i++) {
		if (nuniq == 0 || strcmp(uniq[nuniq - 1].s, all[i].s) != 0) {
			uniq[nuniq].s = all[i].s;
			uniq[nuniq].id = -1;
			nuniq++;
		}
		uniq[nuniq - 1].count++;
	}
	free(all);
	/* each rule: the run shared by the fewest rules, then longest */
	for (i = 0; i < t->nrules; i++) {
		struct lit_ent *best = NULL, *e;

		if (t->rules[i].neg)
			continue;
		for (c = 0; c < L->runs[i].n; c++) {
			e = lit_find(uniq, nuniq, L->runs[i].s[c]);
			if (best == NULL || e->count < best->count ||
			    (e->count == best->count &&
			    strlen(e->s) > strlen(best->s)))
				best = e;
		}
		if (best == NULL)
			continue;
		if (best->id < 0) {
			best->id = (int)t->nlits++;
			sum += strlen(best->s);
		}
		t->rules[i].lit = best->id;
	}
	if (t->nlits == 0)
		goto out;
	/* byte classes: each byte in a used literal, others class 0 */
	memset(t->cls, 0, sizeof(t->cls));
	t->ncls = 1;
	for (i = 0; i < nuniq; i++)
		if (uniq[i].id >= 0)
			for (j = 0; uniq[i].s[j]; j++)
				if (t->cls[(unsigned char)uniq[i].s[j]] == 0)
					t->cls[(unsigned char)uniq[i].s[j]] =
					    (unsigned char)t->ncls++;
	/* 0x00 might be class 0 and "used": impossible, literals are
	 * C strings; class count is at most 256 */
	nstates = sum + 1;
	cells = nstates * t->ncls;
	if (t->ncls > 255 || cells > PFT_AC_CELLS_MAX) {
		for (i = 0; i < t->nrules; i++)
			t->rules[i].lit = -1;
		t->nlits = 0;
		log_warn("%s: literal prefilter off (automaton would need "
		    "%zu cells)", t->name, cells);
		goto out;
	}
	t->delta = xcalloc(cells, sizeof(*t->delta));
	t->out = xmalloc(nstates * sizeof(*t->out));
	t->out_next = xcalloc(nstates, sizeof(*t->out_next));
	fail = xcalloc(nstates, sizeof(*fail));
	queue = xmalloc(nstates * sizeof(*queue));
	for (i = 0; i < nstates; i++)
		t->out[i] = -1;
	/* the trie; 0 is the root and "no edge" during construction */
	nstates = 1;
	for (i = 0; i < nuniq; i++) {
		if (uniq[i].id < 0)
			continue;
		s = 0;
		len = strlen(uniq[i].s);
		for (j = 0; j < len; j++) {
			uint32_t *d = &t->delta[s * t->ncls +
			    t->cls[(unsigned char)uniq[i].s[j]]];

			if (*d == 0)
				*d = (uint32_t)nstates++;
			s = *d;
		}
		t->out[s] = uniq[i].id;
	}
	/* breadth first: failure links, full transitions, output chains */
	for (c = 0; c < (int)t->ncls; c++)
		if ((s = t->delta[c]) != 0) {
			fail[s] = 0;
			queue[qt++] = s;
		}
	while (qh < qt) {
		uint32_t u = queue[qh++], f = fail[u];

		t->out_next[u] = t->out[f] >= 0 ? f : t->out_next[f];
		for (c = 0; c < (int)t->ncls; c++) {
			uint32_t *d = &t->delta[u * t->ncls + (unsigned)c];

			if (*d != 0) {
				fail[*d] = t->delta[f * t->ncls + (unsigned)c];
				queue[qt++] = *d;
			} else
				*d = t->delta[f * t->ncls + (unsigned)c];
		}
	}
	free(fail);
	free(queue);
	t->prefilter = 1;
out:
	free(uniq);
}

/* ------------------------------------------------------------- loading */

/* table_free_rules - release compiled rules */
static void table_free_rules(struct pft_table *t)
{
	size_t i;

	for (i = 0; i < t->nrules; i++) {
		pcre2_code_free(t->rules[i].re);
		free(t->rules[i].result);
	}
	XFREE(&t->rules);
}

struct pft_table *pft_load_text(enum pft_type type, const char *name,
    const char *text, size_t len, const struct pft_options *opt,
    struct buf *warnings, const char **err_r)
{
	struct pft_table *t;
	struct load L;
	struct buf lb;
	const char *p = text, *end = text + len, *nl = NULL;
	int lineno = 0, first = 0, pending = 0, rc = 0;
	static __thread char err[PFT_ERR_SIZE];

	if (len > PFT_FILE_MAX) {
		snprintf(err, sizeof(err), "%.200s: larger than %d bytes",
		    name, PFT_FILE_MAX);
		*err_r = err;
		return NULL;
	}
	t = xcalloc(1, sizeof(*t));
	t->type = type;
	t->name = xmalloc(strlen(name) + 8);
	snprintf(t->name, strlen(name) + 8, "%s:%s",
	    type == PFT_PCRE ? "pcre" : "regexp", name);
	t->match_limit = opt && opt->match_limit ? opt->match_limit : 100000;
	t->depth_limit = opt && opt->depth_limit ? opt->depth_limit : 10000;
	t->max_pairs = 1;
	memset(&L, 0, sizeof(L));
	L.t = t;
	L.kind = type == PFT_PCRE ? "pcre" : "regexp";
	L.map = name;
	L.w = warnings;
	L.cctx = pcre2_compile_context_create(NULL);
	(void)pcre2_set_newline(L.cctx, PCRE2_NEWLINE_LF);
	buf_init(&lb, PFT_LINE_MAX);
	/* logical lines: a line starting with white space continues the
	 * previous one; blank lines and '#' lines (after blanks) are
	 * skipped and do not end a logical line */
	while (rc == 0) {
		const char *q;
		size_t n = 0;
		int eof = p >= end;

		if (!eof) {
			nl = memchr(p, '\n', (size_t)(end - p));
			n = nl ? (size_t)(nl - p) : (size_t)(end - p);
			lineno++;
			for (q = p; q < p + n && isspace_((unsigned char)*q);
			    q++)
				;
			if (q == p + n || *q == '#') {
				p += n + (nl ? 1 : 0);
				continue;
			}
			if (q != p && pending) {
				if (buf_append(&lb, p, n) < 0)
					goto long_line;
				p += n + (nl ? 1 : 0);
				continue;
			}
		}
		if (pending) {
			/* a NUL in the text ends the line, as in Postfix */
			rc = parse_line(&L, first, BUF_DATA(&lb), err_r);
			pending = 0;
			buf_reset(&lb);
		}
		if (eof || rc < 0)
			break;
		/* a new logical line (one starting with white space and no
		 * line before it is taken as it is, as readllines does) */
		first = lineno;
		pending = 1;
		if (buf_append(&lb, p, n) < 0)
			goto long_line;
		p += n + (nl ? 1 : 0);
	}
	while (rc == 0 && L.depth > 0) {
		L.depth--;
		warnf(warnings, "%s map %s, line %d: IF has no matching ENDIF",
		    L.kind, name, L.iflines[L.depth]);
		t->rules[L.ifstack[L.depth]].skip_to = t->nrules;
	}
	if (rc == 0 && !(opt && opt->no_prefilter) && t->nrules >=
	    (opt && opt->prefilter_min ? opt->prefilter_min :
	    PFT_PREFILTER_MIN))
		build_prefilter(&L);
	goto done;
long_line:
	snprintf(err, sizeof(err), "%.200s, line %d: logical line longer "
	    "than %d bytes", name, lineno, PFT_LINE_MAX);
	*err_r = err;
	rc = -1;
done:
	buf_free(&lb);
	free(L.runs);
	pcre2_compile_context_free(L.cctx);
	if (rc < 0)
		pft_free(&t);
	return t;
}

struct pft_table *pft_load_file(const char *spec,
    const struct pft_options *opt, struct buf *warnings,
    const char **err_r)
{
	enum pft_type type = PFT_PCRE;
	const char *path = spec;
	struct pft_table *t;
	struct buf b;

	if (strncmp(spec, "regexp:", 7) == 0) {
		type = PFT_REGEXP;
		path = spec + 7;
	} else if (strncmp(spec, "pcre:", 5) == 0)
		path = spec + 5;
	buf_init(&b, PFT_FILE_MAX);
	if (buf_read_file(&b, path, err_r) < 0) {
		buf_free(&b);
		return NULL;
	}
	t = pft_load_text(type, path, BUF_DATA(&b), BUF_LEN(&b), opt,
	    warnings, err_r);
	buf_free(&b);
	return t;
}

void pft_free(struct pft_table **tp)
{
	struct pft_table *t = *tp;

	if (t == NULL)
		return;
	table_free_rules(t);
	free(t->name);
	free(t->delta);
	free(t->out);
	free(t->out_next);
	free(t);
	*tp = NULL;
}

size_t pft_rules(const struct pft_table *t)
{
	return t->npatterns;
}

const char *pft_name(const struct pft_table *t)
{
	return t->name;
}

/* ------------------------------------------------------------- lookup */

struct pft_scratch *pft_scratch_new(void)
{
	struct pft_scratch *s = xcalloc(1, sizeof(*s));

	s->mctx = pcre2_match_context_create(NULL);
	s->jstack = pcre2_jit_stack_create(32 * 1024, PFT_JIT_STACK_MAX,
	    NULL);
	if (s->mctx == NULL)
		log_panic("pcre2_match_context_create: out of memory");
	if (s->jstack)
		pcre2_jit_stack_assign(s->mctx, NULL, s->jstack);
	return s;
}

void pft_scratch_free(struct pft_scratch **sp)
{
	struct pft_scratch *s = *sp;

	if (s == NULL)
		return;
	pcre2_match_data_free(s->md);
	pcre2_match_context_free(s->mctx);
	pcre2_jit_stack_free(s->jstack);
	free(s->low);
	free(s->mark);
	free(s);
	*sp = NULL;
}

/* scratch_fit - grow the scratch for this table and input */
static void scratch_fit(const struct pft_table *t, struct pft_scratch *s,
    size_t len)
{
	if (s->md == NULL || s->md_pairs < t->max_pairs) {
		pcre2_match_data_free(s->md);
		s->md_pairs = t->max_pairs < 10 ? 10 : t->max_pairs;
		s->md = pcre2_match_data_create(s->md_pairs, NULL);
		if (s->md == NULL)
			log_panic("pcre2_match_data_create: out of memory");
	}
	if (t->prefilter) {
		if (s->lowcap < len + 1) {
			s->lowcap = len + 1 < 256 ? 256 : len + 1;
			s->low = xrealloc(s->low, s->lowcap);
		}
		if (s->markcap < t->nlits) {
			s->mark = xrealloc(s->mark, t->nlits *
			    sizeof(*s->mark));
			memset(s->mark, 0, t->nlits * sizeof(*s->mark));
			s->markcap = t->nlits;
		}
		if (++s->gen == 0) {
			memset(s->mark, 0, s->markcap * sizeof(*s->mark));
			s->gen = 1;
		}
	}
	(void)pcre2_set_match_limit(s->mctx, t->match_limit);
	(void)pcre2_set_depth_limit(s->mctx, t->depth_limit);
}

/* scan - mark every literal occurring in the lower-cased input */
static void scan(const struct pft_table *t, struct pft_scratch *s,
    const unsigned char *in, size_t len)
{
	uint32_t st = 0, o, gen = s->gen, ncls = t->ncls;
	const uint32_t *delta = t->delta;
	size_t i;

	for (i = 0; i < len; i++) {
		st = delta[st * ncls + t->cls[lower(in[i])]];
		if (t->out[st] >= 0 || t->out_next[st]) {
			for (o = st; o; o = t->out_next[o])
				if (t->out[o] >= 0)
					s->mark[t->out[o]] = gen;
		}
	}
}

/* run - one pattern: 1 match, 0 not (a limit hit counts as not) */
static int run(const struct pft_table *t, struct pft_scratch *s,
    struct pft_rule *r, const char *in, size_t len)
{
	int rc = pcre2_match(r->re, (PCRE2_SPTR)in, len, 0, 0, s->md,
	    s->mctx);

	if (rc >= 0)
		return 1;
	if (rc == PCRE2_ERROR_NOMATCH)
		return 0;
	__atomic_fetch_add(&((struct pft_table *)t)->limit_hits, 1,
	    __ATOMIC_RELAXED);
	if (__atomic_exchange_n(&r->warned, 1, __ATOMIC_RELAXED) == 0) {
		PCRE2_UCHAR msg[120];

		pcre2_get_error_message(rc, msg, sizeof(msg));
		log_warn("%s, line %d: pattern not matched: %s (logged once "
		    "per rule)", t->name, r->line, (char *)msg);
	}
	return 0;
}

/* expand - the result with $n substituted, cut at PFT_RESULT_MAX */
static void expand(struct pft_scratch *s, const struct pft_rule *r,
    const char *in, struct buf *out)
{
	PCRE2_SIZE *ov = pcre2_get_ovector_pointer(s->md);
	uint32_t pairs = pcre2_get_ovector_count(s->md);
	size_t cap = out->max < PFT_RESULT_MAX ? out->max : PFT_RESULT_MAX;
	const char *p = r->result, *seg, *e;
	size_t n;
	long v;

	buf_reset(out);
	while (*p) {
		if (*p != '$') {
			seg = p;
			n = strcspn(p, "$");
			p += n;
		} else if (p[1] == '$') {
			seg = p;
			n = 1;
			p += 2;
		} else {
			/* validated at load: ${n}, $(n) or $n, n >= 1 */
			p++;
			if (*p == '{' || *p == '(')
				p++;
			for (v = 0; *p >= '0' && *p <= '9'; p++)
				v = v * 10 + (*p - '0');
			if (*p == '}' || *p == ')')
				p++;
			n = 0;
			seg = "";
			if (v > 0 && (uint32_t)v < pairs &&
			    ov[2 * v] != PCRE2_UNSET) {
				seg = in + ov[2 * v];
				n = ov[2 * v + 1] - ov[2 * v];
			}
		}
		e = seg;
		if (out->len + n > cap)
			n = cap - out->len;
		(void)buf_append(out, e, n);
		if (out->len >= cap)
			break;
	}
}

int pft_lookup(const struct pft_table *t, struct pft_scratch *s,
    const char *in, size_t len, struct buf *result, int *line_r)
{
	size_t i = 0, j;
	unsigned long long ran = 0;
	int m, found = 0;
	struct pft_rule *r;

	if (len > PFT_INPUT_MAX)
		len = PFT_INPUT_MAX;
	scratch_fit(t, s, len);
	if (t->prefilter) {
		for (j = 0; j < len; j++)
			s->low[j] = lower((unsigned char)in[j]);
		scan(t, s, s->low, len);
	}
	while (i < t->nrules) {
		r = &t->rules[i];
		if (!r->neg && r->lit >= 0 && s->mark[r->lit] != s->gen)
			m = 0;
		else {
			m = run(t, s, r, in, len);
			ran++;
		}
		if (r->neg)
			m = !m;
		if (r->kind == R_IF) {
			i = m ? i + 1 : r->skip_to;
			continue;
		}
		if (m) {
			if (result)
				expand(s, r, in, result);
			if (line_r)
				*line_r = r->line;
			found = 1;
			break;
		}
		i++;
	}
	__atomic_fetch_add(&((struct pft_table *)t)->lookups, 1,
	    __ATOMIC_RELAXED);
	__atomic_fetch_add(&((struct pft_table *)t)->rules_run, ran,
	    __ATOMIC_RELAXED);
	return found;
}

void pft_stats(const struct pft_table *t, struct pft_stats *st)
{
	st->lookups = __atomic_load_n(&t->lookups, __ATOMIC_RELAXED);
	st->rules_run = __atomic_load_n(&t->rules_run, __ATOMIC_RELAXED);
	st->match_limit_hits = __atomic_load_n(&t->limit_hits,
	    __ATOMIC_RELAXED);
}

/* ---------------------------------------------------------- actions */

static const struct {
	const char *word;
	enum pft_action a;
} actions[] = {
	{ "REJECT", PFT_A_REJECT }, { "DISCARD", PFT_A_DISCARD },
	{ "IGNORE", PFT_A_IGNORE }, { "WARN", PFT_A_WARN },
	{ "INFO", PFT_A_INFO }, { "HOLD", PFT_A_HOLD },
	{ "PREPEND", PFT_A_PREPEND }, { "REPLACE", PFT_A_REPLACE },
	{ "REDIRECT", PFT_A_REDIRECT }, { "BCC", PFT_A_BCC },
	{ "STRIP", PFT_A_STRIP }, { "PASS", PFT_A_PASS },
	{ "DUNNO", PFT_A_DUNNO }, { "OK", PFT_A_DUNNO },
	{ "FILTER", PFT_A_FILTER },
};

const char *pft_action_name(enum pft_action a)
{
	size_t i;

	for (i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
		if (actions[i].a == a)
			return actions[i].word;
	return "UNKNOWN";
}

/* dsn_len - length of a leading "D.D{1,3}.D{1,3}" code that cleanup's
 * dsn_split accepts ([245] first, then white space or end), else 0 */
static size_t dsn_len(const char *p)
{
	const char *q = p;
	int part, n;

	if (*q != '2' && *q != '4' && *q != '5')
		return 0;
	q++;
	for (part = 0; part < 2; part++) {
		if (*q++ != '.')
			return 0;
		for (n = 0; *q >= '0' && *q <= '9'; q++)
			n++;
		if (n < 1 || n > 3)
			return 0;
	}
	if (*q && !isspace_((unsigned char)*q))
		return 0;
	return (size_t)(q - p);
}

int pft_header_label_ok(const char *text)
{
	const char *p = text;

	while (*p > ' ' && *p < 0x7f && *p != ':')
		p++;
	if (p == text)
		return 0;
	while (*p == ' ' || *p == '\t')
		p++;
	return *p == ':';
}

void pft_action_parse(const char *result, struct pft_act *a)
{
	const char *p = result, *w;
	size_t n, i, dl;

	memset(a, 0, sizeof(*a));
	a->action = PFT_A_UNKNOWN;
	while (isspace_((unsigned char)*p))
		p++;
	w = p;
	while (*p && !isspace_((unsigned char)*p))
		p++;
	n = (size_t)(p - w);
	while (isspace_((unsigned char)*p))
		p++;
	a->text = p;
	a->reply = "";
	for (i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
		if (strlen(actions[i].word) == n &&
		    strncasecmp(actions[i].word, w, n) == 0)
			break;
	if (i == sizeof(actions) / sizeof(actions[0])) {
		a->warning = "unknown command";
		return;
	}
	a->action = actions[i].a;
	switch (a->action) {
	case PFT_A_REJECT:
		snprintf(a->dsn, sizeof(a->dsn), "5.7.1");
		a->reply = p;
		if ((dl = dsn_len(p)) > 0 && dl < sizeof(a->dsn)) {
			memcpy(a->dsn, p, dl);
			a->dsn[dl] = 0;
			for (a->reply = p + dl; isspace_((unsigned char)
			    *a->reply); a->reply++)
				;
			if (a->dsn[0] != '4' && a->dsn[0] != '5') {
				a->dsn[0] = '4';
				a->warning = "bad DSN action -- need 4.x.x or "
				    "5.x.x";
			}
		}
		a->tempfail = a->dsn[0] == '4';
		if (*a->reply == 0)
			a->reply = "message content rejected";
		break;
	case PFT_A_PREPEND:
	case PFT_A_REPLACE:
		if (*p == 0) {
			a->warning = a->action == PFT_A_PREPEND ?
			    "PREPEND action without text" :
			    "REPLACE action without text";
			a->action = PFT_A_UNKNOWN;
		}
		break;
	case PFT_A_REDIRECT:
	case PFT_A_BCC:
		if (strchr(p, '@') == NULL) {
			a->warning = a->action == PFT_A_REDIRECT ?
			    "bad REDIRECT target, need user@domain" :
			    "bad BCC address, need user@domain";
			a->action = PFT_A_UNKNOWN;
		}
		break;
	case PFT_A_FILTER:
		if (*p == 0 || strchr(p, ':') == NULL) {
			a->warning = "bad FILTER command, need "
			    "transport:destination";
			a->action = PFT_A_UNKNOWN;
		}
		break;
	default:
		break;
	}
}
