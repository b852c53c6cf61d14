/*
 * policy_proto.h - the Postfix SMTPD policy delegation protocol, request
 *                  side: attribute lines in, one request out.
 *
 * Public: policy_req_init, policy_req_reset, policy_req_free,
 *         policy_req_line, policy_req_get, policy_req_attr,
 *         policy_action_text.
 * Trust: every byte comes from the policy client.  Postfix is normally
 *        the client, but the socket may be reachable by anything local or
 *        on the network, so lines, attribute count and request size are
 *        bounded, and a line with a control byte, no "=", an invalid name
 *        or a duplicate attribute makes the request malformed.
 * Protocol: name=value lines ended by LF, an empty line ends the request
 *        (Postfix SMTPD_POLICY_README).  A trailing CR is tolerated.
 * Errors: policy_req_line returns POLICY_BAD with *why_r set.
 */
#ifndef POSTERN_POLICY_PROTO_H
#define POSTERN_POLICY_PROTO_H

#include <stddef.h>

#include "buf.h"

#define POLICY_LINE_MAX		4096	/* one attribute line */
#define POLICY_ATTRS_MAX	100	/* Postfix 3.7 sends about 40 */
#define POLICY_REQUEST_MAX	(16 * 1024)

enum policy_feed { POLICY_MORE, POLICY_DONE, POLICY_BAD };

struct policy_limits {
	size_t line_max;
	size_t attrs_max;
	size_t request_max;
};

struct policy_req {
	struct buf store;	/* "name\0value\0" ... */
	size_t *off;		/* name offsets into store */
	size_t *nlen;		/* name lengths */
	size_t n;
	struct policy_limits lim;
};

void policy_limits_default(struct policy_limits *lim);
void policy_req_init(struct policy_req *r, const struct policy_limits *lim);
void policy_req_reset(struct policy_req *r);
void policy_req_free(struct policy_req *r);
enum policy_feed policy_req_line(struct policy_req *r, const char *line,
    size_t len, const char **why_r);
const char *policy_req_get(const struct policy_req *r, const char *name);
const char *policy_req_attr(const struct policy_req *r, const char *name);
size_t policy_req_count(const struct policy_req *r);

void policy_action_text(struct buf *out, const char *text);

#endif
