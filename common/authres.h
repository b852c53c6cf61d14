/*
 * authres.h - RFC 8601 Authentication-Results and RFC 7208 Received-SPF
 *             header values, built with correct quoting.
 *
 * Public: authres_begin, authres_method, authres_prop, hdr_value_append,
 *         hdr_comment_append, hdr_is_dot_atom; parsing:
 *         authres_authserv_id, authres_claims (whose is an inbound
 *         Authentication-Results header?).
 * Trust: property values are peer data (addresses, HELO names); they are
 *        written as dot-atoms when they are one, otherwise as quoted
 *        strings with '"' and '\' escaped and control bytes dropped, so a
 *        hostile value cannot end the header or add a property.
 *        authres_authserv_id reads hostile inbound header values:
 *        bounded output, bounded comment nesting, no allocation.
 * Errors: -1 when the header would exceed its buffer's maximum;
 *         authres_authserv_id: -1 on a value with no usable authserv-id.
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

int hdr_is_dot_atom(const char *s);
int hdr_value_append(struct buf *b, const char *s);
int hdr_comment_append(struct buf *b, const char *s);

#endif
