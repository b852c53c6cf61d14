/*
 * authres.c - header value building; see authres.h.
 *
 * Authentication-Results: authserv-id; method=result reason="..."
 *     ptype.property=value  (RFC 8601 section 2.2)
 * The builder writes the value only (no field name), on one line; the
 * adapter or MTA folds it.
 */
#include <string.h>
#include <strings.h>

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

/* skip_cfws - past RFC 5322 CFWS (folding white space and nested
 * comments); returns the new position, or len if a comment never ends
 * or nests deeper than AUTHRES_COMMENT_DEPTH */
static size_t skip_cfws(const char *v, size_t len, size_t i)
{
	int depth = 0;

	while (i < len) {
		char c = v[i];

		if (depth == 0 && (c == ' ' || c == '\t' || c == '\r' ||
		    c == '\n')) {
			i++;
		} else if (c == '(') {
			if (++depth > AUTHRES_COMMENT_DEPTH)
				return len;
			i++;
		} else if (depth > 0 && c == ')') {
			depth--;
			i++;
		} else if (depth > 0 && c == '\\') {
			i += 2;
		} else if (depth > 0) {
			i++;
		} else {
			break;
		}
	}
	return depth ? len : (i > len ? len : i);
}

/* authres_authserv_id - the authserv-id of an Authentication-Results
 * value (the text after the colon): CFWS skipped, a token up to CFWS or
 * ';', or a quoted-string unquoted; into out (NUL-terminated).  -1 when
 * there is none, it holds a control byte, or it does not fit outlen */
int authres_authserv_id(const char *value, size_t len, char *out,
    size_t outlen)
{
	size_t i = skip_cfws(value, len, 0), n = 0;

	if (outlen == 0)
		return -1;
	out[0] = '\0';
	if (i >= len)
		return -1;
	if (value[i] == '"') {
		for (i++; i < len && value[i] != '"'; i++) {
			unsigned char c = (unsigned char)value[i];

			if (c == '\\' && i + 1 < len)
				c = (unsigned char)value[++i];
			if (c == '\r' || c == '\n')
				continue;	/* folded quoted-string */
			if (c < 0x20 || c == 0x7f || n + 1 >= outlen)
				return -1;
			out[n++] = (char)c;
		}
		if (i >= len)
			return -1;	/* no closing quote */
	} else {
		for (; i < len; i++) {
			unsigned char c = (unsigned char)value[i];

			if (c == ' ' || c == '\t' || c == '\r' || c == '\n' ||
			    c == ';' || c == '(')
				break;
			if (c < 0x20 || c == 0x7f || c == '"' ||
			    n + 1 >= outlen)
				return -1;
			out[n++] = (char)c;
		}
	}
	out[n] = '\0';
	return n ? 0 : -1;
}

/* authres_claims - does this Authentication-Results value claim to come
 * from authserv_id (compared without case)?  A value we cannot parse
 * claims nothing */
int authres_claims(const char *value, size_t len, const char *authserv_id)
{
	char id[AUTHRES_ID_MAX];

	if (authres_authserv_id(value, len, id, sizeof(id)) < 0)
		return 0;
	return strcasecmp(id, authserv_id) == 0;
}
