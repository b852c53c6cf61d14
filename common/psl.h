/*
 * psl.h - the Public Suffix List: public suffixes and registrable
 *         (organizational) domains, for DMARC (RFC 7489 section 3.2).
 *
 * Public: psl_load, psl_free, psl_public_suffix, psl_org_domain,
 *         psl_rules, psl_skipped, psl_to_ascii, psl_punycode.
 * Trust: the list file comes from the administrator (Debian package
 *        publicsuffix: PSL_DEBIAN_PATH) but is parsed defensively: at
 *        most PSL_FILE_MAX bytes, PSL_RULES_MAX rules, PSL_NODES_MAX
 *        table entries; a line longer than PSL_LINE_MAX or a rule that
 *        does not make a valid name is skipped and counted
 *        (psl_skipped).  Names looked up come from mail (From domains,
 *        DKIM d=, SPF identities): hostile.  A lookup never allocates,
 *        scans the name once and makes at most one hash probe sequence
 *        per label, stopping at the first suffix that no rule reaches.
 * Errors: psl_load returns NULL with *err_r (the path and why: missing
 *         file, too large, too many rules, no rules).  Lookups return
 *         NULL for a name they refuse: empty, over 253 bytes (a final
 *         dot not counted), an empty label (leading dot, "a..b"), a
 *         label over 63 bytes, a byte outside printable ASCII or a
 *         backslash (the rules of dns_name_valid; IDNs in mail are
 *         A-labels, "xn--...").
 *
 * Rules (https://publicsuffix.org/list/): "example.com", wildcards
 * "*.ck" (any one label below ck), exceptions "!www.ck" (www.ck is not a
 * public suffix although *.ck says so: its parent ck is), and the
 * implicit rule "*" (an unlisted TLD is a public suffix).  An exception
 * wins over every other match, otherwise the rule matching the most
 * labels.  Both the ICANN and the PRIVATE sections of the file are used,
 * as RFC 7489 implementations (OpenDMARC, libpsl's default) do: a
 * private suffix such as blogspot.com makes each blog its own
 * organizational domain.
 *
 * A wildcard does not match its own parent, as the list's algorithm
 * says (a name matches a rule only with at least as many labels): with
 * "*.kobe.jp" and no "kobe.jp" rule, kobe.jp is registrable under "jp".
 * libpsl differs here (it makes the parent of a wildcard a public
 * suffix too); on every other name made from the list's rules the two
 * agree.
 *
 * IDN: the file holds UTF-8 rules; each is lower-cased (ASCII) and
 * converted label by label to its A-label ("xn--" + RFC 3492 Punycode)
 * at load time, so lookups compare ASCII only.  No NFC normalization or
 * Unicode case folding is done (the PSL file is already in that form).
 *
 * Lookups are case-insensitive (ASCII) and accept one final dot, which
 * stays part of the returned suffix: psl_org_domain("www.example.com.")
 * is "example.com." (a pointer into name; callers that need the bare
 * name drop the dot).
 *
 * Threads: a struct psl is read-only once loaded and may be shared by
 * any number of threads without locking.
 */
#ifndef POSTERN_PSL_H
#define POSTERN_PSL_H

#include <stddef.h>
#include <stdint.h>

#define PSL_DEBIAN_PATH	"/usr/share/publicsuffix/public_suffix_list.dat"

#define PSL_FILE_MAX	(16u * 1024 * 1024)	/* bytes of the list file */
#define PSL_LINE_MAX	1024		/* bytes of one line */
#define PSL_RULES_MAX	100000		/* rules (the 2023 list: ~9 300) */
#define PSL_NODES_MAX	400000		/* rules plus their parent names */
#define PSL_NAME_MAX	253		/* bytes of a name, no final dot */
#define PSL_LABEL_MAX	63		/* bytes of one label */

struct psl;

/* psl_load - read a list file; NULL with *err_r on failure */
struct psl *psl_load(const char *path, const char **err_r);
/* psl_free - free *pp and set it to NULL (NULL is fine) */
void psl_free(struct psl **pp);

/*
 * psl_public_suffix - the public suffix of name, a pointer into name;
 * the whole name when it is a public suffix itself; NULL when name is
 * refused (see Errors above).
 */
const char *psl_public_suffix(const struct psl *p, const char *name);

/*
 * psl_org_domain - the registrable domain of name: its public suffix
 * plus one label, a pointer into name; NULL when name is a public suffix
 * itself or is refused.
 */
const char *psl_org_domain(const struct psl *p, const char *name);

/* psl_rules - how many distinct rules were loaded (for logs) */
size_t psl_rules(const struct psl *p);
/* psl_skipped - how many lines were skipped as malformed (for logs) */
size_t psl_skipped(const struct psl *p);

/*
 * psl_to_ascii - a UTF-8 name to A-labels into out[outlen]: ASCII
 * lower-cased, each label holding a non-ASCII character replaced by
 * "xn--" and its Punycode.  0, or -1 for invalid UTF-8, an empty label,
 * a label over PSL_LABEL_MAX or a name over PSL_NAME_MAX bytes once
 * converted, or an output too small.  Does no IDNA mapping beyond that
 * (no NFC, no Unicode case folding, no check of disallowed code points).
 */
int psl_to_ascii(const char *name, char *out, size_t outlen);

/*
 * psl_punycode - RFC 3492 encoding of n code points into out[outlen]
 * (NUL-terminated, no "xn--" prefix, case of basic code points kept).
 * Returns the length, or -1 on overflow, a code point over 0x10FFFF or
 * an output too small.
 */
int psl_punycode(const uint32_t *cp, size_t n, char *out, size_t outlen);

#endif
