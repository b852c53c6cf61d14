/*
 * mailaddr.h - the author address of a message: the one mailbox of a
 *              From: header value (RFC 5322 3.4, 3.6.2), as DKIM signing
 *              and DMARC need it.
 *
 * Public: mailaddr_from, mailaddr_status_name.
 * Trust: header values are peer data: any bytes, folded, hostile.  The
 *        value is bounded by the caller (the milter's max_header_bytes);
 *        here every copy is bounded (MAILADDR_MAX), comment nesting too
 *        (MAILADDR_COMMENT_DEPTH); nothing recurses.
 * Errors: a status, never a guess: a value with several mailboxes, a
 *         group, or no address is reported as such, so the caller can
 *         refuse the message rather than pick one (RFC 7489 6.6.1).
 *
 * Accepted: "Name <local@domain>", "local@domain (comment)", quoted
 * local parts and display names, comments anywhere (nested), encoded
 * words (they are atoms of the display name), folding.  Refused: an
 * address without a domain name (a domain literal, a bare local part),
 * a domain that is not a valid ASCII host name (UTF-8 domains would need
 * IDNA first: refused as syntax), obsolete routes.
 */
#ifndef POSTERN_MAILADDR_H
#define POSTERN_MAILADDR_H

#include <stddef.h>

#define MAILADDR_MAX		512	/* bytes of "local@domain" */
#define MAILADDR_COMMENT_DEPTH	8	/* nested comments followed */

enum mailaddr_status {
	MAILADDR_OK,		/* exactly one mailbox */
	MAILADDR_NONE,		/* no address at all (empty, empty group) */
	MAILADDR_MULTI,		/* several mailboxes (or a group of them) */
	MAILADDR_SYNTAX,	/* unparsable, or no usable domain */
};

struct mailaddr {
	char addr[MAILADDR_MAX];	/* "local@domain", domain lower case */
	const char *domain;		/* into addr, after the last '@' */
};

/* mailaddr_from - the one mailbox of a From: value; *why_r (static text)
 * says what was wrong when the status is not MAILADDR_OK */
enum mailaddr_status mailaddr_from(const char *v, size_t len,
    struct mailaddr *out, const char **why_r);
const char *mailaddr_status_name(enum mailaddr_status s);

#endif
