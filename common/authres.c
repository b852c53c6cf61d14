/*
 * authres.c - header value building; see authres.h.
 *
 * Authentication-Results: authserv-id; method=result reason="..."
 *     ptype.property=value  (RFC 8601 section 2.2)
 * The builder writes the value only (no field name), on one line; the
 * adapter or MTA folds it.
 */
#include <string.h>

#include "authres.h"

/* is_atext - RFC 5322 atext */
static int is_atext(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/* hdr_is_dot_atom - RFC 5322 dot-atom-text */
int hdr_is_dot_atom(const char *s)
{
	int prev_dot = 1;

	if (*s == '\0')
		return 0;
	for (; *s; s++) {
		if (*s == '.') {
			if (prev_dot)
				return 0;
			prev_dot = 1;
		} else if (is_atext((unsigned char)*s)) {
			prev_dot = 0;
		} else {
			return 0;
		}
	}
	return !prev_dot;
}

/* hdr_value_append - s as a dot-atom, or as a quoted-string */
int hdr_value_append(struct buf *b, const char *s)
{
	if (hdr_is_dot_atom(s))
		return buf_appends(b, s);
	if (buf_appendc(b, '"') < 0)
		return -1;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c == 0x7f)
			continue;	/* no CR, LF or other controls */
		if ((c == '"' || c == '\\') && buf_appendc(b, '\\') < 0)
			return -1;
		if (buf_appendc(b, c) < 0)
			return -1;
	}
	return buf_appendc(b, '"');
}

/* hdr_comment_append - "(s)" with parentheses and backslashes escaped */
int hdr_comment_append(struct buf *b, const char *s)
{
	if (buf_appendc(b, '(') < 0)
		return -1;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c == 0x7f)
			continue;
		if ((c == '(' || c == ')' || c == '\\') &&
		    buf_appendc(b, '\\') < 0)
			return -1;
		if (buf_appendc(b, c) < 0)
			return -1;
	}
	return buf_appendc(b, ')');
}

/* authres_begin - "authserv-id" */
int authres_begin(struct buf *b, const char *authserv_id)
{
	buf_reset(b);
	return hdr_value_append(b, authserv_id);
}

/* authres_method - "; method=result [reason="..."]" */
int authres_method(struct buf *b, const char *method, const char *result,
    const char *reason)
{
	if (buf_appendf(b, "; %s=%s", method, result) < 0)
		return -1;
	if (reason && *reason) {
		if (buf_appends(b, " reason=") < 0)
			return -1;
		return hdr_value_append(b, reason);
	}
	return 0;
}

/* authres_prop - " ptype.property=value" */
int authres_prop(struct buf *b, const char *ptype_prop, const char *value)
{
	if (buf_appendf(b, " %s=", ptype_prop) < 0)
		return -1;
	return hdr_value_append(b, value);
}

/* authres_none - "; none" (no method was applied) */
int authres_none(struct buf *b)
{
	return buf_appends(b, "; none");
}

/* authres_prop_addr - " ptype.property=local@domain": RFC 8601 lets an
 * address stand bare when its local-part is a dot-atom; else quoted */
int authres_prop_addr(struct buf *b, const char *ptype_prop,
    const char *addr)
{
	const char *at = strrchr(addr, '@');
	size_t n;
	char local[256];

	if (at == NULL || !hdr_is_dot_atom(at + 1))
		return authres_prop(b, ptype_prop, addr);
	n = (size_t)(at - addr);
	if (n >= sizeof(local))
		return authres_prop(b, ptype_prop, addr);
	memcpy(local, addr, n);
	local[n] = '\0';
	if (n && !hdr_is_dot_atom(local))
		return authres_prop(b, ptype_prop, addr);
	return buf_appendf(b, " %s=%s", ptype_prop, addr);
}
