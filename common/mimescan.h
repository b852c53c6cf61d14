/*
 * mimescan.h - a message, cut the way Postfix's cleanup(8) cuts it for
 *              header_checks, mime_header_checks, nested_header_checks
 *              and body_checks; plus the decoders for matching decoded
 *              text (RFC 2047 encoded words, base64, quoted-printable).
 *
 * Public: mimescan_new, mimescan_free, mimescan_header, mimescan_body,
 *         mimescan_end, mimescan_stopped, mime_hdr_is_mime,
 *         mime_decode_2047,
 *         MIMESCAN_* limits.
 *
 * Model (Postfix mime_state.c behaviour, postconf(5) defaults):
 *   - The primary headers are given one field at a time
 *     (mimescan_header: name and the raw value as the milter saw it,
 *     folds as CRLF); each becomes one item "Name:value" with every CRLF
 *     turned into "\n" (the logical header Postfix matches: the fold
 *     stays as "\n" + the continuation's white space).  Class PRIMARY.
 *     Their Content-Type / Content-Transfer-Encoding set up the body.
 *   - The body is given in arbitrary chunks (mimescan_body) with CRLF or
 *     LF line ends.  Each physical line becomes a BODY item without its
 *     line end; a line longer than line_length_limit is cut into
 *     chunks of that size (as Postfix).  Empty lines are not items.
 *   - multipart (any subtype): "--boundary" and "--boundary--" lines
 *     are BODY items (a line is a boundary when it starts with "--" and
 *     a boundary of the stack, innermost first, whatever follows: as
 *     Postfix, which ignores cruft after it; an outer boundary closes
 *     the inner multiparts);
 *     the headers after a boundary are header items of class MULTIPART
 *     (logical, unfolded as above) until the empty line; the part's own
 *     Content-Type may nest further.
 *   - message/rfc822 (and message/global): the attached message's
 *     headers are class NESTED, then its body as any body.
 *   - Which table an item goes to: a header for which mime_hdr_is_mime
 *     is true (Content-Type, Content-Transfer-Encoding,
 *     Content-Disposition, Content-Description, Content-ID,
 *     MIME-Version) -> mime_header_checks whatever its class, and so
 *     does every MULTIPART header (a part's X-Header too: Postfix does
 *     that, checked by t/checks-oracle.t); other PRIMARY headers ->
 *     header_checks; other NESTED headers -> nested_header_checks;
 *     BODY -> body_checks.  The item says which (enum mimescan_table).
 *   - Nesting deeper than mime_nesting_limit: the rest is body text
 *     (Postfix's "MIME nesting exceeds safety limit" is flagged in
 *     mimescan_end's errors, it does not reject by default).
 *   - body_size_limit: per body segment (each part's content), only the
 *     first body_size_limit bytes give BODY items; the rest is scanned
 *     for boundaries only.
 *
 * Decoding (each optional):
 *   - decode_headers: a header item whose value contains RFC 2047
 *     encoded words is given a second time, decoded to UTF-8 (charsets
 *     through iconv; an unknown charset or broken word stays as it is),
 *     with item.decoded = 1.
 *   - decode_body: content of a text part (or a single-part message)
 *     with Content-Transfer-Encoding base64 or quoted-printable is also
 *     given decoded, line by line (decoded = 1; CR, LF, CRLF end lines;
 *     QP soft breaks joined; broken base64 characters skipped, broken QP
 *     kept literally), after the raw lines of the same part (before
 *     the boundary line that ends it).  Parts without Content-Type are
 *     text/plain (RFC 2045), as are single-part messages without one.
 *
 * Offsets: every item that is not decoded carries [off, end) in the body
 *   byte stream (line ends included; for a folded header all its lines),
 *   so a caller can delete or replace it; primary header items carry the
 *   index of the field instead (hdr_index, from 0).  A decoded header
 *   copy carries the same hdr_index / off / end as its raw item; a
 *   decoded body line has off == end == 0 (it has no raw span).
 * Item text is NUL-terminated, but may hold NUL bytes of its own: use
 *   len.  It is valid only during the callback.
 *
 * Bounds: lines (line_length_limit), one logical header
 *   (header_size_limit: the rest of the header is dropped from the item,
 *   as Postfix), boundaries (MIMESCAN_BOUNDARY_MAX), nesting depth,
 *   decoded output per item.  Memory is bounded by these, not by the
 *   message size.
 * Trust: everything is peer data; malformed MIME never fails, it is
 *   scanned the way Postfix would.
 * Errors: none but allocation; mimescan_end reports MIME anomalies as
 *   flags.
 */
#ifndef POSTERN_MIMESCAN_H
#define POSTERN_MIMESCAN_H

#include <stddef.h>

#include "buf.h"

#define MIMESCAN_BOUNDARY_MAX	2048	/* mime_boundary_length_limit */

enum mimescan_class { MIMESCAN_PRIMARY, MIMESCAN_MULTIPART,
	MIMESCAN_NESTED, MIMESCAN_BODY };
enum mimescan_table { MIMESCAN_T_HEADER, MIMESCAN_T_MIME_HEADER,
	MIMESCAN_T_NESTED_HEADER, MIMESCAN_T_BODY };

struct mimescan_item {
	enum mimescan_class cls;
	enum mimescan_table table;
	const char *text;	/* header "Name:value" or body line */
	size_t len;
	int decoded;		/* a decoded copy of the previous raw item(s) */
	size_t hdr_index;	/* PRIMARY only: index of the field */
	size_t off, end;	/* body stream offsets (not PRIMARY/decoded) */
	unsigned depth;		/* multipart boundaries open (0 = top) */
};

/* return 0 to go on, non-zero to stop scanning (REJECT, PASS...) */
typedef int mimescan_fn(void *arg, const struct mimescan_item *it);

struct mimescan_options {
	size_t line_length_limit;	/* 0 = 2048 */
	size_t header_size_limit;	/* 0 = 102400 */
	size_t body_size_limit;		/* 0 = 51200 */
	unsigned nesting_limit;		/* 0 = 100 */
	int decode_headers;
	int decode_body;
};

#define MIMESCAN_E_NESTING	0x1	/* nesting limit exceeded */
#define MIMESCAN_E_BOUNDARY	0x2	/* over-long boundary cut to MAX */
#define MIMESCAN_E_ENCODING	0x4	/* broken base64/QP/encoded word
					 * (seen only when decoding) */
#define MIMESCAN_E_TRUNCATED	0x8	/* a header over header_size_limit */

struct mimescan;

struct mimescan *mimescan_new(const struct mimescan_options *opt,
    mimescan_fn *fn, void *arg);
void mimescan_free(struct mimescan **mp);
/* one primary header field (value raw, leading space as received);
 * all of them before the first mimescan_body, later ones are ignored */
void mimescan_header(struct mimescan *m, const char *name,
    const char *value, size_t vlen);
/* body bytes, any chunking; calls fn per complete item */
void mimescan_body(struct mimescan *m, const void *p, size_t n);
/* end of body: flushes the last line; returns MIMESCAN_E_* flags */
unsigned mimescan_end(struct mimescan *m);
/* non-zero once fn asked to stop; later input is ignored */
int mimescan_stopped(const struct mimescan *m);

int mime_hdr_is_mime(const char *name, size_t len);
/* RFC 2047: decode encoded words of s into out (reset first; UTF-8);
 * 1 if anything was decoded, 0 if out is a copy of s; output cut at
 * max bytes (and at out's own maximum) */
int mime_decode_2047(const char *s, size_t len, struct buf *out,
    size_t max);

#endif
