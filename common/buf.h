/*
 * buf.h - the one bounded, binary-safe buffer type.
 *
 * Public: buf_init, buf_free, buf_reset, buf_append, buf_appendc,
 *         buf_appends, buf_appendf, buf_truncate, buf_read_file,
 *         BUF_DATA, BUF_LEN; b64_value (the base64 alphabet, for the
 *         decoders of DKIM and MIME), hex_value (a hex digit).
 * Trust: contents may be peer data; the buffer never interprets it.
 * Errors: appending past the hard maximum returns -1 and leaves the
 *         buffer unchanged; it never truncates silently and never aborts
 *         on peer data.  Out of memory is fatal (xalloc).
 *
 * The data is always NUL-terminated (the NUL is not counted in len), so
 * text can be handed to C string functions once the caller has checked
 * it holds no NUL of its own.
 */
#ifndef POSTERN_BUF_H
#define POSTERN_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data;	/* always NUL-terminated, never NULL after init */
	size_t len;	/* bytes in use, not counting the NUL */
	size_t cap;	/* bytes allocated, counting the NUL */
	size_t max;	/* hard maximum for len */
};

#define BUF_DATA(b)	((b)->data)
#define BUF_LEN(b)	((b)->len)

void buf_init(struct buf *b, size_t max);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
int buf_append(struct buf *b, const void *p, size_t n);
int buf_appendc(struct buf *b, int c);
int buf_appends(struct buf *b, const char *s);
int buf_appendf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int buf_vappendf(struct buf *b, const char *fmt, va_list ap);
void buf_truncate(struct buf *b, size_t len);
void buf_consume(struct buf *b, size_t n);
char *buf_steal(struct buf *b);
int buf_read_file(struct buf *b, const char *path, const char **err_r);
/* b64_value - value of a base64 character (RFC 4648 alphabet), -1 if
 * none */
int b64_value(int c);
/* hex_value - value of a hex digit, either case, -1 if none */
int hex_value(int c);

#endif
