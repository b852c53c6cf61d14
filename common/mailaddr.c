/*
 * mailaddr.c - the one mailbox of a From: header value; see mailaddr.h.
 *
 * One pass drops comments and folding and notes, outside quoted strings
 * and angle brackets, the separators that make a value a list (',') or a
 * group (':' ... ';').  What is left of a single mailbox is then split:
 * the "<...>" part when there is one, else the whole as an addr-spec;
 * the domain is what follows the last '@' outside quotes.
 */
#include <string.h>

#include "buf.h"
#include "mailaddr.h"

/* lower - ASCII lower case */
static char lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

/* host_ok - an ASCII host name: labels of letters, digits, '-', '_' of
 * 1..63 bytes, 1..253 bytes in all, at least two labels */
static int host_ok(const char *d, size_t n)
{
	size_t label = 0, labels = 1;

	if (n == 0 || n > 253)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = d[i];

		if (c == '.') {
			if (label == 0)
				return 0;
			label = 0;
			labels++;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return 0;
		if (++label > 63)
			return 0;
	}
	return label > 0 && labels >= 2;
}

/* trim - [*a, *e) without surrounding blanks */
static void trim(const char **a, const char **e)
{
	while (*a < *e && (**a == ' ' || **a == '\t'))
		(*a)++;
	while (*e > *a && ((*e)[-1] == ' ' || (*e)[-1] == '\t'))
		(*e)--;
}

/* split_addr - addr-spec [a, e) into out; the status */
static enum mailaddr_status split_addr(const char *a, const char *e,
    struct mailaddr *out, const char **why_r)
{
	const char *at = NULL;
	int quoted = 0;
	size_t n, dlen;

	trim(&a, &e);
	if (a == e) {
		*why_r = "no address";
		return MAILADDR_NONE;
	}
	for (const char *p = a; p < e; p++) {
		if (quoted) {
			if (*p == '\\' && p + 1 < e)
				p++;
			else if (*p == '"')
				quoted = 0;
		} else if (*p == '"') {
			quoted = 1;
		} else if (*p == '@') {
			at = p;
		} else if (*p == ' ' || *p == '\t' || *p == '<' ||
		    *p == '>' || *p == '[' || *p == ']') {
			*why_r = "not an address";
			return MAILADDR_SYNTAX;
		}
	}
	if (at == NULL || at == a) {
		*why_r = at ? "empty local part" : "address without a domain";
		return MAILADDR_SYNTAX;
	}
	dlen = (size_t)(e - at - 1);
	if (dlen && at[dlen] == '.')	/* one final dot */
		dlen--;
	if (!host_ok(at + 1, dlen)) {
		*why_r = "not a usable domain name";
		return MAILADDR_SYNTAX;
	}
	n = (size_t)(at - a) + 1 + dlen;
	if (n >= sizeof(out->addr)) {
		*why_r = "address too long";
		return MAILADDR_SYNTAX;
	}
	memcpy(out->addr, a, (size_t)(at - a) + 1);
	for (size_t i = 0; i < dlen; i++)
		out->addr[(size_t)(at - a) + 1 + i] = lower(at[1 + i]);
	out->addr[n] = '\0';
	out->domain = out->addr + (at - a) + 1;
	return MAILADDR_OK;
}

/* mailaddr_from - the one mailbox of a From: value */
enum mailaddr_status mailaddr_from(const char *v, size_t len,
    struct mailaddr *out, const char **why_r)
{
	struct buf clean;
	int depth = 0, quoted = 0, angle = 0, angles = 0;
	int commas = 0, colon = 0, semi = 0;
	size_t lt_at = 0, gt_at = 0, colon_at = 0, semi_at = 0;
	enum mailaddr_status st = MAILADDR_SYNTAX;
	const char *a, *e;

	out->addr[0] = '\0';
	out->domain = out->addr;
	*why_r = "unparsable";
	/* comments go, so the copy is never longer than the value */
	buf_init(&clean, len + 1);
	for (size_t i = 0; i < len; i++) {
		char c = v[i];

		if (c == '\0') {
			*why_r = "NUL byte";
			goto done;
		}
		if (c == '\r' || c == '\n')
			continue;
		if (depth) {
			if (c == '\\')
				i++;
			else if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
			if (depth > MAILADDR_COMMENT_DEPTH) {
				*why_r = "comments nested too deep";
				goto done;
			}
			if (depth == 0)	/* a comment separates tokens */
				(void)buf_appendc(&clean, ' ');
			continue;
		}
		if (quoted) {
			if (c == '\\' && i + 1 < len) {
				(void)buf_appendc(&clean, c);
				c = v[++i];
			} else if (c == '"') {
				quoted = 0;
			}
		} else if (c == '(') {
			depth = 1;
			continue;
		} else if (c == '"') {
			quoted = 1;
		} else if (c == '<') {
			if (angle++) {
				*why_r = "nested angle brackets";
				goto done;
			}
			if (angles++ == 0)
				lt_at = clean.len;
		} else if (c == '>') {
			if (angle-- != 1) {
				*why_r = "unbalanced angle brackets";
				goto done;
			}
			if (angles == 1)
				gt_at = clean.len;
		} else if (!angle && c == ',') {
			commas++;
		} else if (!angle && c == ':') {
			if (colon++ == 0)
				colon_at = clean.len;
		} else if (!angle && c == ';') {
			if (semi++ == 0)
				semi_at = clean.len;
		} else if (angle && (c == ':' || c == ',' || c == ';')) {
			*why_r = "route or list inside an angle address";
			goto done;
		}
		(void)buf_appendc(&clean, c);
	}
	if (quoted || depth || angle) {
		*why_r = quoted ? "unterminated quoted string" :
		    depth ? "unterminated comment" : "unterminated angle address";
		goto done;
	}
	a = clean.data;
	e = a + clean.len;
	if (colon || semi) {
		/* a group: "name: mailbox, ...;" (RFC 6854) */
		if (colon != 1 || semi > 1 || (semi && semi_at < colon_at)) {
			*why_r = "not a group or a mailbox";
			goto done;
		}
		a = clean.data + colon_at + 1;
		if (semi) {
			const char *s1 = clean.data + semi_at;
			const char *rest = s1 + 1;

			trim(&rest, &e);
			if (rest != e) {
				*why_r = "text after a group";
				goto done;
			}
			e = s1;
		}
		trim(&a, &e);
		if (a == e) {
			*why_r = "empty group";
			st = MAILADDR_NONE;
			goto done;
		}
		*why_r = "a group";
		st = MAILADDR_MULTI;
		goto done;
	}
	if (commas) {
		*why_r = "several mailboxes";
		st = MAILADDR_MULTI;
		goto done;
	}
	if (angles > 1) {
		*why_r = "several angle addresses";
		goto done;
	}
	if (angles) {
		const char *lt = clean.data + lt_at;
		const char *gt = clean.data + gt_at;
		const char *rest = gt + 1;

		trim(&rest, &e);
		if (rest != e) {
			*why_r = "text after the address";
			goto done;
		}
		a = lt + 1;
		e = gt;
	}
	st = split_addr(a, e, out, why_r);
done:
	buf_free(&clean);
	if (st == MAILADDR_OK)
		*why_r = NULL;
	return st;
}

/* mailaddr_status_name - for logs */
const char *mailaddr_status_name(enum mailaddr_status s)
{
	switch (s) {
	case MAILADDR_OK:
		return "ok";
	case MAILADDR_NONE:
		return "none";
	case MAILADDR_MULTI:
		return "multiple";
	case MAILADDR_SYNTAX:
		break;
	}
	return "syntax";
}
