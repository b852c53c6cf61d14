/*
 * policy_proto.c - policy request parsing; see policy_proto.h.
 */
#include <string.h>

#include "policy_proto.h"
#include "xalloc.h"

/* policy_limits_default - the compiled-in bounds */
void policy_limits_default(struct policy_limits *lim)
{
	lim->line_max = POLICY_LINE_MAX;
	lim->attrs_max = POLICY_ATTRS_MAX;
	lim->request_max = POLICY_REQUEST_MAX;
}

/* policy_req_init - empty request bounded by lim */
void policy_req_init(struct policy_req *r, const struct policy_limits *lim)
{
	r->lim = *lim;
	buf_init(&r->store, lim->request_max);
	r->off = xcalloc(lim->attrs_max ? lim->attrs_max : 1,
	    sizeof(*r->off));
	r->nlen = xcalloc(lim->attrs_max ? lim->attrs_max : 1,
	    sizeof(*r->nlen));
	r->n = 0;
}

/* policy_req_reset - forget the attributes, keep the storage */
void policy_req_reset(struct policy_req *r)
{
	buf_reset(&r->store);
	r->n = 0;
}

/* policy_req_free - release */
void policy_req_free(struct policy_req *r)
{
	buf_free(&r->store);
	XFREE(&r->off);
	XFREE(&r->nlen);
	r->n = 0;
}

/* name_ok - attribute names are [A-Za-z0-9_-]+ */
static int name_ok(const char *s, size_t n)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/* policy_req_line - feed one line (without its LF) */
enum policy_feed policy_req_line(struct policy_req *r, const char *line,
    size_t len, const char **why_r)
{
	const char *eq;
	size_t nlen;

	if (len && line[len - 1] == '\r')
		len--;
	if (len == 0) {
		if (r->n == 0) {
			*why_r = "empty request";
			return POLICY_BAD;
		}
		return POLICY_DONE;
	}
	if (len > r->lim.line_max) {
		*why_r = "line too long";
		return POLICY_BAD;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if (c < 0x20 || c == 0x7f) {
			*why_r = "control character in line";
			return POLICY_BAD;
		}
	}
	eq = memchr(line, '=', len);
	if (eq == NULL) {
		*why_r = "line without \"=\"";
		return POLICY_BAD;
	}
	nlen = (size_t)(eq - line);
	if (!name_ok(line, nlen)) {
		*why_r = "invalid attribute name";
		return POLICY_BAD;
	}
	if (r->n >= r->lim.attrs_max) {
		*why_r = "too many attributes";
		return POLICY_BAD;
	}
	for (size_t i = 0; i < r->n; i++) {
		if (r->nlen[i] == nlen &&
		    memcmp(r->store.data + r->off[i], line, nlen) == 0) {
			*why_r = "duplicate attribute";
			return POLICY_BAD;
		}
	}
	r->off[r->n] = r->store.len;
	r->nlen[r->n] = nlen;
	if (buf_append(&r->store, line, nlen) < 0 ||
	    buf_appendc(&r->store, '\0') < 0 ||
	    buf_append(&r->store, eq + 1, len - nlen - 1) < 0 ||
	    buf_appendc(&r->store, '\0') < 0) {
		*why_r = "request too large";
		return POLICY_BAD;
	}
	r->n++;
	return POLICY_MORE;
}

/* policy_req_get - value of an attribute, or NULL if absent */
const char *policy_req_get(const struct policy_req *r, const char *name)
{
	size_t len = strlen(name);

	for (size_t i = 0; i < r->n; i++) {
		const char *have = r->store.data + r->off[i];

		if (r->nlen[i] == len && memcmp(have, name, len) == 0)
			return have + len + 1;
	}
	return NULL;
}

/* policy_req_attr - value of an attribute, "" if absent */
const char *policy_req_attr(const struct policy_req *r, const char *name)
{
	const char *v = policy_req_get(r, name);

	return v ? v : "";
}

/* policy_req_count - number of attributes */
size_t policy_req_count(const struct policy_req *r)
{
	return r->n;
}

/* policy_action_text - append text safe for one action line: control
 * bytes become '?', so nothing can end the line or the response */
void policy_action_text(struct buf *out, const char *text)
{
	while (*text) {
		size_t n = 0;

		while ((unsigned char)text[n] >= 0x20 && text[n] != 0x7f)
			n++;
		if (n && buf_append(out, text, n) < 0)
			return;
		text += n;
		if (*text == '\0' || buf_appendc(out, '?') < 0)
			return;
		text++;
	}
}
