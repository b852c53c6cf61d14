/*
 * authres.h - RFC 8601 Authentication-Results and RFC 7208 Received-SPF
 *             header values, built with correct quoting.
 *
 * Public: authres_begin, authres_method, authres_prop, hdr_value_append,
 *         hdr_comment_append, hdr_is_dot_atom; parsing:
 *         authres_authserv_id, authres_claims (whose is an inbound
 *         Authentication-Results header?), authres_parse (every
 *         resinfo of one header value), authres_find_prop.
 * Trust: property values are peer data (addresses, HELO names); they are
 *        written as dot-atoms when they are one, otherwise as quoted
 *        strings with '"' and '\' escaped and control bytes dropped, so a
 *        hostile value cannot end the header or add a property.
 *        authres_authserv_id and authres_parse read hostile inbound
 *        header values: bounded output, bounded comment nesting, no
 *        allocation; a value that does not fit its field is dropped
 *        and counted, never cut into another value.
 * RFCs: 8601 (Authentication-Results), 5322 (CFWS), 2045 (value).
 * Errors: -1 when the header would exceed its buffer's maximum;
 *         authres_authserv_id, authres_parse: -1 on a value with no
 *         usable authserv-id.
 */
#ifndef POSTERN_AUTHRES_H
#define POSTERN_AUTHRES_H

#include "buf.h"

int authres_begin(struct buf *b, const char *authserv_id);
int authres_method(struct buf *b, const char *method, const char *result,
    const char *reason);
int authres_prop(struct buf *b, const char *ptype_prop, const char *value);
int authres_prop_addr(struct buf *b, const char *ptype_prop,
    const char *addr);
int authres_none(struct buf *b);

#define AUTHRES_COMMENT_DEPTH 8	/* nested comments we follow */
#define AUTHRES_ID_MAX 256	/* longest authserv-id we compare */

int authres_authserv_id(const char *value, size_t len, char *out,
    size_t outlen);
int authres_claims(const char *value, size_t len, const char *authserv_id);

#define AUTHRES_RESULTS_MAX 16	/* resinfo kept per header */
#define AUTHRES_PROPS_MAX 8	/* properties kept per resinfo */
#define AUTHRES_VALUE_MAX 256	/* bytes of a kept property value, NUL included */
#define AUTHRES_VERSION_DIGITS 9	/* longest version number we read */

/* One property, "ptype.prop=value"; ptype is "" for a bare "name=value"
 * some MTAs write (Microsoft's "action=none"). */
struct authres_prop_kv {
	char ptype[16];
	char prop[32];
	char value[AUTHRES_VALUE_MAX];
};

/* One resinfo, "; method[/version]=result [reason=...] props...". */
struct authres_res {
	char method[32];
	int version;		/* method-version, 1 when absent */
	char result[16];
	char reason[AUTHRES_VALUE_MAX];	/* "" when absent or dropped */
	size_t nprops;
	struct authres_prop_kv props[AUTHRES_PROPS_MAX];
	size_t props_dropped;	/* over AUTHRES_PROPS_MAX, or a name, value
				 * or reason too long for its field */
};

/* One header value (about 45 KB: callers on small stacks allocate it). */
struct authres_parsed {
	char authserv_id[AUTHRES_ID_MAX];
	size_t nres;
	struct authres_res res[AUTHRES_RESULTS_MAX];
	size_t dropped;	/* resinfos over the bound or unparsable, skipped */
};

/*
 * authres_parse - one header value (the text after the colon); 0, or -1
 * when there is no usable authserv-id (none, malformed, or followed by
 * anything but an authres-version of 1 and ';').  Method, result, ptype
 * and property names are lower-cased; values unquoted (quoted-string
 * escapes resolved, folding removed).  A resinfo with a syntax error is
 * skipped (counted in dropped) and parsing resumes at the next ';'
 * outside quoted-strings and comments; empty resinfos and "none" add
 * nothing.
 */
int authres_parse(const char *value, size_t len, struct authres_parsed *out);
/* authres_find_prop - value of "ptype.prop" (or a bare "prop") in r, the
 * first one if repeated, or NULL */
const char *authres_find_prop(const struct authres_res *r,
    const char *ptype_prop);

int hdr_is_dot_atom(const char *s);
int hdr_value_append(struct buf *b, const char *s);
int hdr_comment_append(struct buf *b, const char *s);

#endif
