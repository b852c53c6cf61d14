/*
 * authres.h - RFC 8601 Authentication-Results and RFC 7208 Received-SPF
 *             header values, built with correct quoting.
 *
 * Public: authres_begin, authres_method, authres_prop, hdr_value_append,
 *         hdr_comment_append, hdr_is_dot_atom.
 * Trust: property values are peer data (addresses, HELO names); they are
 *        written as dot-atoms when they are one, otherwise as quoted
 *        strings with '"' and '\' escaped and control bytes dropped, so a
 *        hostile value cannot end the header or add a property.
 * Errors: -1 when the header would exceed its buffer's maximum.
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

int hdr_is_dot_atom(const char *s);
int hdr_value_append(struct buf *b, const char *s);
int hdr_comment_append(struct buf *b, const char *s);

#endif
