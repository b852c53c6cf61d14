/*
 * psl.c - the Public Suffix List; see psl.h.
 *
 * Storage: one open-addressing hash table (linear probing, at most half
 * full) of names in lower-case A-label form, each with flags: a rule
 * "name", a wildcard "*.name", an exception "!name", or none of these
 * when the entry is only the parent of some rule (for "a.b.c" the
 * entries "b.c" and "c" exist too).  A lookup walks the name's suffixes
 * from the TLD up and stops at the first one with no entry: no longer
 * rule can match past it, so a name of 127 labels costs a few probes.
 *
 * The hash of a name is 64-bit FNV-1a over its bytes taken from the last
 * to the first, so the hash of "b.c" extends the hash of "c" and a
 * lookup hashes each byte of the name once.  The table is built from the
 * list alone and never changes afterwards, so a peer cannot degrade it:
 * a probe sequence ends at an empty slot (there is always one).
 *
 * Key text lives in one arena; a parent entry points into its rule's
 * text (the suffix of a NUL-terminated string is one too).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "psl.h"
#include "xalloc.h"

#define F_RULE		0x1	/* "name" */
#define F_WILD		0x2	/* "*.name" */
#define F_EXC		0x4	/* "!name" */

#define FNV_OFFSET	0xcbf29ce484222325ULL
#define FNV_PRIME	0x100000001b3ULL

#define PSL_ERR_SIZE	320	/* a load error: path and reason */

struct psl_ent {
	uint64_t h;
	uint32_t off;		/* into arena; UINT32_MAX: empty slot */
	uint8_t len;		/* <= PSL_NAME_MAX */
	uint8_t flags;
};

struct psl {
	struct psl_ent *tab;
	size_t cap;		/* a power of two */
	size_t n;		/* entries used */
	struct buf arena;	/* NUL-terminated keys */
	size_t rules, skipped;
};

/* lc - ASCII lower case */
static inline unsigned char lc(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* hash_step - extend a suffix hash by one byte to its left */
static inline uint64_t hash_step(uint64_t h, unsigned char c)
{
	return (h ^ lc(c)) * FNV_PRIME;
}

/* hash_name - the hash of s[0..len) (see above: last byte first) */
static uint64_t hash_name(const char *s, size_t len)
{
	uint64_t h = FNV_OFFSET;

	while (len > 0)
		h = hash_step(h, (unsigned char)s[--len]);
	return h;
}

/* ent_find - the entry for s[0..len) with hash h, or NULL; s may be in
 * any case, keys are lower case */
static struct psl_ent *ent_find(const struct psl *p, const char *s,
    size_t len, uint64_t h)
{
	size_t mask = p->cap - 1;

	for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
		struct psl_ent *e = &p->tab[i];
		const char *k;
		size_t j;

		if (e->off == UINT32_MAX)
			return NULL;
		if (e->h != h || e->len != len)
			continue;
		k = p->arena.data + e->off;
		for (j = 0; j < len && k[j] == (char)lc((unsigned char)s[j]);
		    j++)
			;
		if (j == len)
			return e;
	}
}

/* tab_place - put e in the first free slot of its probe sequence */
static void tab_place(struct psl_ent *tab, size_t cap,
    const struct psl_ent *e)
{
	size_t i = (size_t)e->h & (cap - 1);

	while (tab[i].off != UINT32_MAX)
		i = (i + 1) & (cap - 1);
	tab[i] = *e;
}

/* tab_alloc - an empty table of cap slots */
static struct psl_ent *tab_alloc(size_t cap)
{
	struct psl_ent *tab = xcalloc(cap, sizeof(*tab));

	for (size_t i = 0; i < cap; i++)
		tab[i].off = UINT32_MAX;
	return tab;
}

/* tab_grow - double the table */
static void tab_grow(struct psl *p)
{
	size_t cap = p->cap * 2;
	struct psl_ent *tab = tab_alloc(cap);

	for (size_t i = 0; i < p->cap; i++)
		if (p->tab[i].off != UINT32_MAX)
			tab_place(tab, cap, &p->tab[i]);
	free(p->tab);
	p->tab = tab;
	p->cap = cap;
}

/* ent_new - add an entry for the lower-case key at arena offset off
 * (length len, not in the table yet); -1 when the table is full
 * (PSL_NODES_MAX) */
static int ent_new(struct psl *p, uint32_t off, size_t len, uint8_t flags)
{
	struct psl_ent e;

	if (p->n >= PSL_NODES_MAX)
		return -1;
	if ((p->n + 1) * 2 > p->cap)
		tab_grow(p);
	e.h = hash_name(p->arena.data + off, len);
	e.off = off;
	e.len = (uint8_t)len;
	e.flags = flags;
	tab_place(p->tab, p->cap, &e);
	p->n++;
	return 0;
}

/* ---------------------------------------------------------------- IDN */

#define PC_BASE		36
#define PC_TMIN		1
#define PC_TMAX		26
#define PC_SKEW		38
#define PC_DAMP		700
#define PC_BIAS		72
#define PC_N		128

/* pc_digit - the basic code point for a digit 0..35 */
static char pc_digit(uint32_t d)
{
	return (char)(d < 26 ? 'a' + d : '0' + (d - 26));
}

/* pc_adapt - RFC 3492 6.1 bias adaptation */
static uint32_t pc_adapt(uint32_t delta, uint32_t numpoints, int first)
{
	uint32_t k = 0;

	delta = first ? delta / PC_DAMP : delta / 2;
	delta += delta / numpoints;
	while (delta > ((PC_BASE - PC_TMIN) * PC_TMAX) / 2) {
		delta /= PC_BASE - PC_TMIN;
		k += PC_BASE;
	}
	return k + (PC_BASE - PC_TMIN + 1) * delta / (delta + PC_SKEW);
}

/* psl_punycode - RFC 3492 6.3 encoding procedure */
int psl_punycode(const uint32_t *cp, size_t n, char *out, size_t outlen)
{
	uint32_t cur = PC_N, bias = PC_BIAS;
	uint64_t delta = 0;
	size_t h, b, o = 0;

	if (outlen == 0 || n > UINT32_MAX / 2)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (cp[i] > 0x10FFFF)
			return -1;
		if (cp[i] < 0x80) {
			if (o + 1 >= outlen)
				return -1;
			out[o++] = (char)cp[i];
		}
	}
	h = b = o;
	if (b > 0) {
		if (o + 1 >= outlen)
			return -1;
		out[o++] = '-';
	}
	while (h < n) {
		uint32_t m = UINT32_MAX;

		for (size_t i = 0; i < n; i++)
			if (cp[i] >= cur && cp[i] < m)
				m = cp[i];
		delta += (uint64_t)(m - cur) * (h + 1);
		if (delta > UINT32_MAX)
			return -1;
		cur = m;
		for (size_t i = 0; i < n; i++) {
			if (cp[i] < cur && ++delta > UINT32_MAX)
				return -1;
			if (cp[i] != cur)
				continue;
			uint32_t q = (uint32_t)delta;

			for (uint32_t k = PC_BASE;; k += PC_BASE) {
				uint32_t t = k <= bias ? PC_TMIN :
				    k >= bias + PC_TMAX ? PC_TMAX : k - bias;

				if (q < t)
					break;
				if (o + 1 >= outlen)
					return -1;
				out[o++] = pc_digit(t + (q - t) % (PC_BASE - t));
				q = (q - t) / (PC_BASE - t);
			}
			if (o + 1 >= outlen)
				return -1;
			out[o++] = pc_digit(q);
			bias = pc_adapt((uint32_t)delta, (uint32_t)h + 1, h == b);
			delta = 0;
			h++;
		}
		delta++;
		cur++;
	}
	out[o] = '\0';
	return (int)o;
}

/* utf8_next - decode one code point at s[*i..len); -1 if invalid
 * (truncated, overlong, surrogate, over 0x10FFFF) */
static int utf8_next(const unsigned char *s, size_t len, size_t *i,
    uint32_t *cp_r)
{
	unsigned char c = s[*i];
	uint32_t cp, min;
	size_t more;

	if (c < 0x80) {
		*cp_r = c;
		(*i)++;
		return 0;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		cp = c & 0x1f, more = 1, min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		cp = c & 0x0f, more = 2, min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		cp = c & 0x07, more = 3, min = 0x10000;
	} else {
		return -1;
	}
	if (len - *i <= more)
		return -1;
	for (size_t k = 1; k <= more; k++) {
		if ((s[*i + k] & 0xc0) != 0x80)
			return -1;
		cp = (cp << 6) | (s[*i + k] & 0x3f);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*i += more + 1;
	*cp_r = cp;
	return 0;
}

/* name_to_ascii - s[0..len) to A-labels into out (see psl_to_ascii);
 * the length, or -1 */
static int name_to_ascii(const char *s, size_t len, char *out,
    size_t outlen)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, o = 0;

	if (len == 0 || outlen == 0)
		return -1;
	while (i <= len) {
		uint32_t cp[PSL_LABEL_MAX + 1];
		size_t ncp = 0, start = o;
		int ascii = 1;

		while (i < len && u[i] != '.') {
			if (ncp > PSL_LABEL_MAX)
				return -1;	/* too long whatever the form */
			if (utf8_next(u, len, &i, &cp[ncp]) < 0)
				return -1;
			if (cp[ncp] >= 0x80)
				ascii = 0;
			else
				cp[ncp] = lc((unsigned char)cp[ncp]);
			ncp++;
		}
		if (ncp == 0 || ncp > PSL_LABEL_MAX)
			return -1;
		if (ascii) {
			if (o + ncp >= outlen)
				return -1;
			for (size_t k = 0; k < ncp; k++)
				out[o++] = (char)cp[k];
		} else {
			int r;

			if (o + 4 >= outlen)
				return -1;
			memcpy(out + o, "xn--", 4);
			o += 4;
			r = psl_punycode(cp, ncp, out + o, outlen - o);
			if (r < 0)
				return -1;
			o += (size_t)r;
		}
		if (o - start > PSL_LABEL_MAX || o > PSL_NAME_MAX)
			return -1;
		if (i == len)
			break;
		if (o + 1 >= outlen)
			return -1;
		out[o++] = '.';
		i++;		/* the dot */
	}
	out[o] = '\0';
	return (int)o;
}

/* psl_to_ascii - see psl.h */
int psl_to_ascii(const char *name, char *out, size_t outlen)
{
	return name_to_ascii(name, strlen(name), out, outlen) < 0 ? -1 : 0;
}

/* ---------------------------------------------------------------- names */

/*
 * name_scan - check a looked-up name (see psl.h Errors); its length
 * without a final dot into *len_r and its label count into *labels_r.
 * 0 or -1.
 */
static int name_scan(const char *name, size_t *len_r, size_t *labels_r)
{
	size_t len, label = 0, labels = 1;

	if (name == NULL)
		return -1;
	len = strnlen(name, PSL_NAME_MAX + 2);
	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len > PSL_NAME_MAX)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c == '.') {
			if (label == 0)
				return -1;
			label = 0;
			labels++;
			continue;
		}
		if (c < 0x20 || c >= 0x7f || c == '\\')
			return -1;
		if (++label > PSL_LABEL_MAX)
			return -1;
	}
	if (label == 0)
		return -1;	/* "a.." : the final dot was not alone */
	*len_r = len;
	*labels_r = labels;
	return 0;
}

/*
 * suffix_labels - how many labels of name (checked, len bytes, nlabels
 * labels) form its public suffix: 1 (the implicit "*") up to nlabels.
 */
static size_t suffix_labels(const struct psl *p, const char *name,
    size_t len, size_t nlabels)
{
	uint64_t h = FNV_OFFSET;
	size_t best = 1, end = len;

	for (size_t k = 1; k <= nlabels; k++) {
		const struct psl_ent *e;
		size_t start = end;

		while (start > 0 && name[start - 1] != '.')
			start--;
		for (size_t i = end; i > start; i--)
			h = hash_step(h, (unsigned char)name[i - 1]);
		e = ent_find(p, name + start, len - start, h);
		if (e == NULL)
			break;
		if (e->flags & F_EXC)
			return k - 1;	/* an exception wins; k >= 2 */
		if ((e->flags & F_RULE) && k > best)
			best = k;
		if ((e->flags & F_WILD) && k < nlabels && k + 1 > best)
			best = k + 1;
		if (start == 0)
			break;
		h = hash_step(h, '.');
		end = start - 1;
	}
	return best;
}

/* label_start - where the last n labels of name[0..len) begin */
static const char *label_start(const char *name, size_t len, size_t n)
{
	size_t i = len;

	while (i > 0) {
		if (name[i - 1] == '.' && --n == 0)
			break;
		i--;
	}
	return name + i;
}

/* psl_public_suffix - see psl.h */
const char *psl_public_suffix(const struct psl *p, const char *name)
{
	size_t len, nlabels;

	if (name_scan(name, &len, &nlabels) < 0)
		return NULL;
	return label_start(name, len, suffix_labels(p, name, len, nlabels));
}

/* psl_org_domain - see psl.h */
const char *psl_org_domain(const struct psl *p, const char *name)
{
	size_t len, nlabels, ps;

	if (name_scan(name, &len, &nlabels) < 0)
		return NULL;
	ps = suffix_labels(p, name, len, nlabels);
	if (ps >= nlabels)
		return NULL;
	return label_start(name, len, ps + 1);
}

/* ---------------------------------------------------------------- load */

/*
 * rule_add - one rule line (no comment, no whitespace); 0 added or
 * duplicate, 1 malformed (skip), -1 with *err_r for a full table
 */
static int rule_add(struct psl *p, const char *s, size_t len,
    const char **err_r)
{
	char key[PSL_NAME_MAX + 1];
	struct psl_ent *e;
	uint8_t flags = F_RULE;
	size_t off, klen;
	int r;

	if (len > 0 && s[0] == '!') {
		flags = F_EXC;
		s++, len--;
	} else if (len == 1 && s[0] == '*') {
		return 0;	/* the implicit default rule */
	} else if (len > 2 && s[0] == '*' && s[1] == '.') {
		flags = F_WILD;
		s += 2, len -= 2;
	}
	if ((r = name_to_ascii(s, len, key, sizeof(key))) < 0)
		return 1;
	klen = (size_t)r;
	if (strpbrk(key, "*!\\") != NULL)
		return 1;	/* wildcards only as the leftmost label */
	for (size_t i = 0; i < klen; i++)
		if ((unsigned char)key[i] <= 0x20 || key[i] == 0x7f)
			return 1;
	if (flags == F_EXC && memchr(key, '.', klen) == NULL)
		return 1;	/* "!tld" would leave no suffix */
	e = ent_find(p, key, klen, hash_name(key, klen));
	if (e != NULL && (e->flags & flags) != 0)
		return 0;	/* a duplicate */
	if (p->rules >= PSL_RULES_MAX) {
		*err_r = "more than PSL_RULES_MAX rules";
		return -1;
	}
	if (e != NULL) {
		/* known, as a rule or as a parent: its parents exist */
		e->flags |= flags;
		p->rules++;
		return 0;
	}
	off = p->arena.len;
	if (buf_append(&p->arena, key, klen + 1) < 0) {
		*err_r = "rule text too large";
		return -1;
	}
	if (ent_new(p, (uint32_t)off, klen, flags) < 0)
		goto full;
	p->rules++;
	/* parents: each suffix after a dot, pointing into this key's text;
	 * a parent already there has its own parents */
	for (size_t i = 0; i < klen; i++) {
		size_t plen = klen - i - 1;

		if (key[i] != '.')
			continue;
		if (ent_find(p, key + i + 1, plen, hash_name(key + i + 1,
		    plen)) != NULL)
			break;
		if (ent_new(p, (uint32_t)(off + i + 1), plen, 0) < 0)
			goto full;
	}
	return 0;
full:
	*err_r = "more than PSL_NODES_MAX names";
	return -1;
}

/* psl_load - see psl.h */
struct psl *psl_load(const char *path, const char **err_r)
{
	static __thread char err[PSL_ERR_SIZE];
	struct psl *p = xcalloc(1, sizeof(*p));
	struct buf file;
	const char *why = NULL, *s, *end;

	buf_init(&file, PSL_FILE_MAX);
	if (buf_read_file(&file, path, &why) < 0) {
		buf_free(&file);
		free(p);
		snprintf(err, sizeof(err), "public suffix list %s", why);
		*err_r = err;
		return NULL;
	}
	buf_init(&p->arena, (size_t)PSL_RULES_MAX * (PSL_NAME_MAX + 1));
	p->cap = 1024;
	p->tab = tab_alloc(p->cap);
	s = file.data;
	end = file.data + file.len;
	while (s < end && why == NULL) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		const char *le = nl ? nl : end, *r, *re;

		if ((size_t)(le - s) > PSL_LINE_MAX) {
			p->skipped++;
			s = le + 1;
			continue;
		}
		/* the rule: up to the first whitespace (list format) */
		for (r = s; r < le && (*r == ' ' || *r == '\t'); r++)
			;
		for (re = r; re < le && *re != ' ' && *re != '\t' &&
		    *re != '\r'; re++)
			;
		if (re > r && !(re - r >= 2 && r[0] == '/' && r[1] == '/') &&
		    rule_add(p, r, (size_t)(re - r), &why) == 1)
			p->skipped++;
		s = le + 1;
	}
	buf_free(&file);
	if (why == NULL && p->rules == 0)
		why = "no rules";
	if (why != NULL) {
		snprintf(err, sizeof(err), "public suffix list %.200s: %s",
		    path, why);
		*err_r = err;
		psl_free(&p);
		return NULL;
	}
	return p;
}

/* psl_free - see psl.h */
void psl_free(struct psl **pp)
{
	struct psl *p = *pp;

	if (p == NULL)
		return;
	free(p->tab);
	buf_free(&p->arena);
	free(p);
	*pp = NULL;
}

/* psl_rules - see psl.h */
size_t psl_rules(const struct psl *p)
{
	return p->rules;
}

/* psl_skipped - see psl.h */
size_t psl_skipped(const struct psl *p)
{
	return p->skipped;
}
