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

/*
 * The reader.  One set of pieces serves authres_authserv_id and
 * authres_parse, and the resynchronisation after a syntax error walks
 * quoted-strings and comments with the same two helpers the parser uses,
 * so both agree on where a resinfo ends.
 */

#define SCAN_OK 0
#define SCAN_BAD (-1)	/* syntax error */
#define RES_EMPTY 1	/* an empty resinfo, or "none" */

/* Scanner output: a fixed array that stays NUL-terminated; a byte that
 * does not fit sets over and is not written (the caller then drops the
 * whole value rather than keep a cut one). */
struct sink {
	char *p;
	size_t size, n;
	int over;
};

/* sink_init - empty output into p[size] (p may be NULL when size is 0) */
static void sink_init(struct sink *s, char *p, size_t size)
{
	s->p = p;
	s->size = size;
	s->n = 0;
	s->over = 0;
	if (size)
		p[0] = '\0';
}

/* sink_put - one byte */
static void sink_put(struct sink *s, unsigned char c)
{
	if (s->n + 1 >= s->size) {
		s->over = 1;
		return;
	}
	s->p[s->n++] = (char)c;
	s->p[s->n] = '\0';
}

/* skip_cfws - move *i_r past RFC 5322 CFWS (folding white space and
 * nested comments); -1, with *i_r = len, if a comment never ends or nests
 * deeper than AUTHRES_COMMENT_DEPTH */
static int skip_cfws(const char *v, size_t len, size_t *i_r)
{
	size_t i = *i_r;
	int depth = 0;

	while (i < len) {
		char c = v[i];

		if (depth == 0 && (c == ' ' || c == '\t' || c == '\r' ||
		    c == '\n')) {
			i++;
		} else if (c == '(') {
			if (++depth > AUTHRES_COMMENT_DEPTH)
				break;
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
	if (depth) {
		*i_r = len;
		return -1;
	}
	*i_r = i;
	return 0;
}

/* scan_quoted - the quoted-string at v[*i_r] == '"', unquoted into s
 * (folding CR and LF dropped); *i_r ends past the closing quote, or at
 * len when there is none.  SCAN_BAD for no closing quote or a control
 * byte, but a control byte does not stop the walk, so the string's end
 * does not depend on its contents */
static int scan_quoted(const char *v, size_t len, size_t *i_r,
    struct sink *s)
{
	size_t i = *i_r + 1;
	int st = SCAN_OK;

	for (; i < len && v[i] != '"'; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c == '\\' && i + 1 < len)
			c = (unsigned char)v[++i];
		if (c == '\r' || c == '\n')
			continue;	/* folded quoted-string */
		if (c < 0x20 || c == 0x7f)
			st = SCAN_BAD;
		else
			sink_put(s, c);
	}
	if (i >= len) {
		*i_r = len;
		return SCAN_BAD;	/* no closing quote */
	}
	*i_r = i + 1;
	return st;
}

/* scan_token - a token up to CFWS, ';', '(' or the end, into s.  Looser
 * than RFC 2045's token: '@', '/', '=' and the like stand in addresses
 * and base64.  SCAN_BAD when empty or on a control byte or '"' */
static int scan_token(const char *v, size_t len, size_t *i_r,
    struct sink *s)
{
	size_t i = *i_r, start = *i_r;

	for (; i < len; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n' ||
		    c == ';' || c == '(')
			break;
		if (c < 0x20 || c == 0x7f || c == '"')
			return SCAN_BAD;
		sink_put(s, c);
	}
	*i_r = i;
	return i > start ? SCAN_OK : SCAN_BAD;
}

/* scan_value - RFC 2045 value: a quoted-string or a token */
static int scan_value(const char *v, size_t len, size_t *i_r,
    struct sink *s)
{
	if (*i_r < len && v[*i_r] == '"')
		return scan_quoted(v, len, i_r, s);
	return scan_token(v, len, i_r, s);
}

/* scan_keyword - RFC 8601 Keyword (letters, digits, '-'; '_' too, seen
 * in the wild), lower-cased into s; SCAN_BAD when empty */
static int scan_keyword(const char *v, size_t len, size_t *i_r,
    struct sink *s)
{
	size_t i = *i_r;

	for (; i < len; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_'))
			break;
		sink_put(s, c);
	}
	if (i == *i_r)
		return SCAN_BAD;
	*i_r = i;
	return SCAN_OK;
}

/* scan_number - 1 to AUTHRES_VERSION_DIGITS digits */
static int scan_number(const char *v, size_t len, size_t *i_r, int *n_r)
{
	size_t i = *i_r;
	int n = 0;

	for (; i < len && v[i] >= '0' && v[i] <= '9'; i++) {
		if (i - *i_r >= AUTHRES_VERSION_DIGITS)
			return SCAN_BAD;
		n = n * 10 + (v[i] - '0');
	}
	if (i == *i_r)
		return SCAN_BAD;
	*i_r = i;
	*n_r = n;
	return SCAN_OK;
}

/* next_item - past the CFWS before the next item of a header; SCAN_BAD
 * on a broken comment, or when the item (not ';' or the end) follows the
 * previous one with no CFWS between them */
static int next_item(const char *v, size_t len, size_t *i_r)
{
	size_t from = *i_r;

	if (skip_cfws(v, len, i_r) < 0)
		return SCAN_BAD;
	if (*i_r < len && v[*i_r] != ';' && *i_r == from)
		return SCAN_BAD;
	return SCAN_OK;
}

/* skip_resinfo - the next ';' at or after i outside quoted-strings and
 * comments, or len */
static size_t skip_resinfo(const char *v, size_t len, size_t i)
{
	struct sink none;

	sink_init(&none, NULL, 0);
	while (i < len && v[i] != ';') {
		if (v[i] == '"')
			(void)scan_quoted(v, len, &i, &none);
		else if (v[i] == '(')
			(void)skip_cfws(v, len, &i);
		else
			i++;
	}
	return i;
}

/* parse_authserv_id - [CFWS] value at *i_r into out[outlen]; -1 when
 * there is none, it holds a control byte, or it does not fit */
static int parse_authserv_id(const char *v, size_t len, size_t *i_r,
    char *out, size_t outlen)
{
	struct sink s;

	if (outlen == 0)
		return -1;
	sink_init(&s, out, outlen);
	if (skip_cfws(v, len, i_r) < 0 || *i_r >= len ||
	    scan_value(v, len, i_r, &s) < 0 || s.over || s.n == 0) {
		out[0] = '\0';
		return -1;
	}
	return 0;
}

/* authres_authserv_id - the authserv-id of an Authentication-Results
 * value (the text after the colon): CFWS skipped, a token up to CFWS or
 * ';', or a quoted-string unquoted; into out (NUL-terminated).  -1 when
 * there is none, it holds a control byte, or it does not fit outlen */
int authres_authserv_id(const char *value, size_t len, char *out,
    size_t outlen)
{
	size_t i = 0;

	return parse_authserv_id(value, len, &i, out, outlen);
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

/* copy_name - a scanned name into a smaller field; -1 if it does not fit */
static int copy_name(char *dst, size_t size, const struct sink *s)
{
	if (s->over || s->n >= size)
		return -1;
	memcpy(dst, s->p, s->n + 1);
	return 0;
}

/* parse_prop - one "[ptype.]prop=value" (or the reason when first) at
 * *i_r into r; a name or value too long for its field, or a property
 * over AUTHRES_PROPS_MAX, is parsed, then dropped and counted */
static int parse_prop(const char *v, size_t len, size_t *i_r,
    struct authres_res *r, int first)
{
	struct authres_prop_kv spare, *kv;
	char key[sizeof(kv->prop)];
	struct sink s;
	size_t i = *i_r;
	int drop = 0, is_reason = 0, quoted;

	kv = r->nprops < AUTHRES_PROPS_MAX ? &r->props[r->nprops] : &spare;
	drop = kv == &spare;
	sink_init(&s, key, sizeof(key));
	if (scan_keyword(v, len, &i, &s) < 0 || skip_cfws(v, len, &i) < 0)
		return SCAN_BAD;
	if (i < len && v[i] == '.') {
		i++;
		if (copy_name(kv->ptype, sizeof(kv->ptype), &s) < 0)
			drop = 1;
		sink_init(&s, kv->prop, sizeof(kv->prop));
		if (skip_cfws(v, len, &i) < 0 ||
		    scan_keyword(v, len, &i, &s) < 0 ||
		    skip_cfws(v, len, &i) < 0)
			return SCAN_BAD;
		drop |= s.over;
	} else {
		kv->ptype[0] = '\0';
		if (copy_name(kv->prop, sizeof(kv->prop), &s) < 0)
			drop = 1;
		is_reason = first && !s.over && strcmp(key, "reason") == 0;
	}
	if (i >= len || v[i] != '=')
		return SCAN_BAD;
	i++;
	if (skip_cfws(v, len, &i) < 0)
		return SCAN_BAD;
	if (is_reason)
		sink_init(&s, r->reason, sizeof(r->reason));
	else
		sink_init(&s, kv->value, sizeof(kv->value));
	quoted = i < len && v[i] == '"';
	if (scan_value(v, len, &i, &s) < 0)
		return SCAN_BAD;
	/* "quoted local-part"@domain */
	if (quoted && i < len && v[i] == '@' && scan_token(v, len, &i, &s) < 0)
		return SCAN_BAD;
	*i_r = i;
	if (is_reason) {
		if (s.over) {
			r->reason[0] = '\0';
			r->props_dropped++;
		}
	} else if (drop || s.over) {
		r->props_dropped++;
	} else {
		r->nprops++;
	}
	return SCAN_OK;
}

/* parse_resinfo - "method[/version]=result [reason] props" at *i_r (just
 * past its ';') into r; *i_r ends at the next ';' or len.  RES_EMPTY for
 * nothing or "none" */
static int parse_resinfo(const char *v, size_t len, size_t *i_r,
    struct authres_res *r)
{
	struct sink s;
	size_t i = *i_r;

	r->method[0] = r->result[0] = r->reason[0] = '\0';
	r->version = 1;
	r->nprops = r->props_dropped = 0;
	if (skip_cfws(v, len, &i) < 0)
		return SCAN_BAD;
	if (i >= len || v[i] == ';') {
		*i_r = i;
		return RES_EMPTY;
	}
	sink_init(&s, r->method, sizeof(r->method));
	if (scan_keyword(v, len, &i, &s) < 0 || s.over ||
	    skip_cfws(v, len, &i) < 0)
		return SCAN_BAD;
	if (i < len && v[i] == '/') {
		i++;
		if (skip_cfws(v, len, &i) < 0 ||
		    scan_number(v, len, &i, &r->version) < 0 ||
		    skip_cfws(v, len, &i) < 0)
			return SCAN_BAD;
	} else if ((i >= len || v[i] == ';') && strcmp(r->method, "none") == 0) {
		*i_r = i;
		return RES_EMPTY;
	}
	if (i >= len || v[i] != '=')
		return SCAN_BAD;
	i++;
	sink_init(&s, r->result, sizeof(r->result));
	if (skip_cfws(v, len, &i) < 0 || scan_keyword(v, len, &i, &s) < 0 ||
	    s.over)
		return SCAN_BAD;
	for (int first = 1;; first = 0) {
		if (next_item(v, len, &i) < 0)
			return SCAN_BAD;
		if (i >= len || v[i] == ';')
			break;
		if (parse_prop(v, len, &i, r, first) < 0)
			return SCAN_BAD;
	}
	*i_r = i;
	return SCAN_OK;
}

/* authres_parse - one Authentication-Results value; see authres.h */
int authres_parse(const char *value, size_t len, struct authres_parsed *out)
{
	size_t i = 0;
	int version;

	out->nres = out->dropped = 0;
	if (parse_authserv_id(value, len, &i, out->authserv_id,
	    sizeof(out->authserv_id)) < 0)
		return -1;
	if (next_item(value, len, &i) < 0)
		return -1;
	if (i < len && value[i] != ';') {
		/* authres-version: only 1 is defined */
		if (scan_number(value, len, &i, &version) < 0 ||
		    version != 1 || skip_cfws(value, len, &i) < 0 ||
		    (i < len && value[i] != ';'))
			return -1;
	}
	while (i < len) {
		size_t start = ++i;	/* past the ';' */
		struct authres_res spare, *r;
		int st;

		r = out->nres < AUTHRES_RESULTS_MAX ? &out->res[out->nres] :
		    &spare;
		st = parse_resinfo(value, len, &i, r);
		if (st == RES_EMPTY)
			continue;
		if (st == SCAN_OK && r != &spare) {
			out->nres++;
			continue;
		}
		out->dropped++;
		if (st != SCAN_OK)
			i = skip_resinfo(value, len, start);
	}
	return 0;
}

/* authres_find_prop - value of "ptype.prop" (or a bare "prop") in r */
const char *authres_find_prop(const struct authres_res *r,
    const char *ptype_prop)
{
	const char *dot = strchr(ptype_prop, '.');
	const char *prop = dot ? dot + 1 : ptype_prop;
	size_t plen = dot ? (size_t)(dot - ptype_prop) : 0;

	for (size_t k = 0; k < r->nprops; k++) {
		const struct authres_prop_kv *kv = &r->props[k];

		if (strlen(kv->ptype) == plen &&
		    strncasecmp(kv->ptype, ptype_prop, plen) == 0 &&
		    strcasecmp(kv->prop, prop) == 0)
			return kv->value;
	}
	return NULL;
}
