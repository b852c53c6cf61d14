/*
 * pftable.h - Postfix regexp: and pcre: lookup tables, read as they are
 *             and compiled once for fast first-match lookups; plus the
 *             header_checks(5) action parser.
 *
 * Public: pft_load_file, pft_load_text, pft_free, pft_rules,
 *         pft_scratch_new, pft_scratch_free, pft_lookup,
 *         pft_action_parse, pft_action_name, pft_header_label_ok,
 *         pft_stats.
 *
 * Table format (regexp_table(5), pcre_table(5), Postfix 3.7):
 *   /pattern/flags result      first match wins, result returned
 *   !/pattern/flags result     matches when the pattern does not
 *   if /pattern/flags ... endif, if !/pattern/flags ... endif (nest)
 *   blank lines, lines whose first non-blank is '#': ignored
 *   a line starting with white space continues the logical line
 *   the delimiter is the first character of the pattern (usually '/'),
 *   the pattern ends at the next unescaped delimiter.
 * regexp: is POSIX extended syntax (default REG_ICASE; flags i toggles
 *   case, x toggles extended syntax, m toggles REG_NEWLINE: without m a
 *   '.' and [^x] match a newline; a ^ that can begin the match and a $
 *   that can end it match only at the ends, one inside the pattern also
 *   next to a newline, as glibc does: "a.^b" matches "a\nb"); it is
 *   translated to PCRE2 with the same meaning (bracket expressions,
 *   GNU \< \> \b \w, back-references).  Leftmost-longest vs PCRE's
 *   leftmost-first can differ only in which text a $n capture gets.
 * pcre: is PCRE syntax (default caseless and DOTALL; flags i m s x A E
 *   U X as Postfix, toggling).
 * Results: "$1".."$9", "${n}", "$(n)" substitute captures (a missing
 *   capture is empty); "$$" is '$'; not in results of negated rules or
 *   if-rules.  Bytes, not UTF-8: caseless matching folds ASCII.
 *
 * Speed: every pattern is compiled once with PCRE2 and JIT.  A required
 *   literal (lower-cased, >= 3 bytes) is extracted from each pattern
 *   where one exists; one Aho-Corasick automaton over all literals scans
 *   the (lower-cased) input once, and only rules whose literal occurs
 *   (or that have none, or are negated) are run.  The answer is always
 *   the one sequential first-match evaluation would give.
 *
 * Limits: PFT_FILE_MAX bytes per file, PFT_LINE_MAX bytes per logical
 *   line, PFT_RULES_MAX rules, PFT_IF_DEPTH nested ifs; the input of a
 *   lookup is cut at PFT_INPUT_MAX.  Each match runs under a PCRE2 match
 *   limit and depth limit (pft_load's match_limit): a pattern that
 *   exceeds it counts as not matching, is counted in pft_stats and
 *   warned about (once per rule) through log_warn, as Postfix does.
 *
 * Trust: the table file is the admin's; lookup input is peer data.
 * Threads: a loaded table is read-only and shared; each thread needs its
 *   own struct pft_scratch (match data, JIT stack, automaton state).
 * Errors: what Postfix refuses with a warning and skips (bad flags,
 *   missing delimiter, unmatched endif, a pattern that does not compile)
 *   is skipped with a line in *warnings (Postfix's wording: "regexp map
 *   FILE, line N: ...", one per line, *warnings may be NULL) and the
 *   load succeeds; what Postfix treats as fatal (unreadable file) is -1
 *   with *err_r, and so is crossing one of our own bounds (file size,
 *   logical line, rule count, if depth): a table silently cut short
 *   would change policy.  A missing endif is a warning (Postfix: "IF has
 *   no matching ENDIF"); the if-block then runs to the end of the table.
 * REJECT without text: pft_act.reply is "message content rejected"
 *   (cleanup's default); a DSN "2.x.x" becomes "4.x.x" with a warning.
 * Not done: Postfix compiles pcre: with PCRE2_UTF when smtputf8 is on;
 *   here matching is bytewise (a '.' is one byte, folding is ASCII).
 */
#ifndef POSTERN_PFTABLE_H
#define POSTERN_PFTABLE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define PFT_FILE_MAX	(64 * 1024 * 1024)
#define PFT_LINE_MAX	(64 * 1024)
#define PFT_RULES_MAX	200000
#define PFT_IF_DEPTH	64
#define PFT_INPUT_MAX	(1024 * 1024)
#define PFT_RESULT_MAX	4096		/* a result after substitution */

enum pft_type { PFT_REGEXP, PFT_PCRE };

struct pft_table;
struct pft_scratch;

struct pft_options {
	uint32_t match_limit;		/* PCRE2 match limit; 0 = 100000 */
	uint32_t depth_limit;		/* PCRE2 depth limit; 0 = 10000 */
	int no_prefilter;		/* evaluate every rule (tests, bench) */
	/* tables with fewer rules than this run every rule: the scan
	 * costs more than it saves (bench/checks-gen.py tables: 10 rules
	 * 4.2 M headers/s without, 2.9 M with; even at 16; 20 rules 2.2 M
	 * without, 2.7 M with); 0 = PFT_PREFILTER_MIN */
	size_t prefilter_min;
};
#define PFT_PREFILTER_MIN	16

/* "regexp:/path", "pcre:/path" (a bare path is pcre:) */
struct pft_table *pft_load_file(const char *spec,
    const struct pft_options *opt, struct buf *warnings,
    const char **err_r);
/* the same from memory; name is used in warnings and logs */
struct pft_table *pft_load_text(enum pft_type type, const char *name,
    const char *text, size_t len, const struct pft_options *opt,
    struct buf *warnings, const char **err_r);
void pft_free(struct pft_table **tp);
size_t pft_rules(const struct pft_table *t);	/* pattern rules loaded */
const char *pft_name(const struct pft_table *t);	/* "regexp:/path" */

struct pft_scratch *pft_scratch_new(void);
void pft_scratch_free(struct pft_scratch **sp);

/*
 * pft_lookup - first matching rule for s[0..len): 1 with the result
 * (substituted, NUL-terminated, cut at PFT_RESULT_MAX and at
 * result->max) in *result (may be NULL) and the rule's line number in
 * *line_r (may be NULL); 0 when nothing matches.  An empty input is
 * looked up like any other (postmap -q does; "!/x/" matches it).  A
 * rule without result text matches with an empty result (Postfix warns
 * at load).  Never allocates once the scratch has grown to the table
 * and the input size.
 */
int pft_lookup(const struct pft_table *t, struct pft_scratch *s,
    const char *in, size_t len, struct buf *result, int *line_r);

struct pft_stats {
	unsigned long long lookups, rules_run, match_limit_hits;
};
void pft_stats(const struct pft_table *t, struct pft_stats *st);

/* ------------------------------------------- header_checks(5) actions */

enum pft_action {
	PFT_A_UNKNOWN,		/* not an action Postfix knows: warn, no-op */
	PFT_A_REJECT, PFT_A_DISCARD, PFT_A_IGNORE, PFT_A_WARN, PFT_A_INFO,
	PFT_A_HOLD, PFT_A_PREPEND, PFT_A_REPLACE, PFT_A_REDIRECT,
	PFT_A_BCC, PFT_A_STRIP, PFT_A_PASS, PFT_A_DUNNO, PFT_A_FILTER,
};

struct pft_act {
	enum pft_action action;
	const char *text;	/* the rest after the word and blanks ("" if
				   none); points into the parsed string */
	/* REJECT only: reply class and DSN as cleanup(8) makes them:
	 * "5.7.1" prepended when the text has no D.D.D code; a code not
	 * 4.x.x/5.x.x becomes 4.x.x with a warning */
	int tempfail;		/* 4.x.x */
	char dsn[12];		/* "5.7.1" */
	const char *reply;	/* text after the DSN */
	const char *warning;	/* why UNKNOWN / what was corrected, or NULL */
};

/*
 * pft_action_parse - a table result as cleanup(8) reads it: the action
 * word (case-insensitive; OK means DUNNO), then the text.  PREPEND and
 * REPLACE without text, REDIRECT/BCC without user@domain, FILTER without
 * transport:destination are UNKNOWN with a warning, as Postfix ignores
 * them.  Never fails.
 */
void pft_action_parse(const char *result, struct pft_act *a);
const char *pft_action_name(enum pft_action a);	/* "REJECT" */
/* pft_header_label_ok - text starts "Name:" (printable non-blank name,
 * optional blanks, colon), as cleanup(8) wants for PREPEND/REPLACE in
 * header_checks; body_checks PREPEND needs only text */
int pft_header_label_ok(const char *text);

#endif
