/*
 * buf.c - bounded buffers; see buf.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "xalloc.h"

#define BUF_MIN_CAP 256	/* most texts fit without growing */

/* buf_init - empty buffer that will refuse to grow beyond max bytes */
void buf_init(struct buf *b, size_t max)
{
	b->cap = max < BUF_MIN_CAP ? max + 1 : BUF_MIN_CAP;
	b->data = xmalloc(b->cap);
	b->data[0] = '\0';
	b->len = 0;
	b->max = max;
}

/* buf_free - release storage; the buffer must be re-initialized to reuse */
void buf_free(struct buf *b)
{
	XFREE(&b->data);
	b->len = b->cap = 0;
}

/* buf_reset - empty the buffer, keep its storage */
void buf_reset(struct buf *b)
{
	b->len = 0;
	b->data[0] = '\0';
}

/* buf_reserve - make room for n more bytes plus the NUL, or fail */
static int buf_reserve(struct buf *b, size_t n)
{
	size_t need;

	if (n > b->max || b->len > b->max - n)
		return -1;
	need = b->len + n + 1;
	if (need > b->cap) {
		size_t cap = b->cap;

		while (cap < need)
			cap = cap > (b->max + 1) / 2 ? b->max + 1 : cap * 2;
		b->data = xrealloc(b->data, cap);
		b->cap = cap;
	}
	return 0;
}

/* buf_append - append n bytes; -1 (unchanged) if over the maximum */
int buf_append(struct buf *b, const void *p, size_t n)
{
	if (buf_reserve(b, n) < 0)
		return -1;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

/* buf_appendc - append one byte */
int buf_appendc(struct buf *b, int c)
{
	char ch = (char)c;

	return buf_append(b, &ch, 1);
}

/* buf_appends - append a C string */
int buf_appends(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

/* buf_vappendf - append formatted text, all or nothing */
int buf_vappendf(struct buf *b, const char *fmt, va_list ap)
{
	va_list aq;
	int n;

	/* usually it fits in the room we have: format once */
	va_copy(aq, ap);
	n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, aq);
	va_end(aq);
	if (n < 0)
		goto fail;
	if ((size_t)n < b->cap - b->len) {
		if ((size_t)n > b->max - b->len)
			goto fail;
		b->len += (size_t)n;
		return 0;
	}
	if (buf_reserve(b, (size_t)n) < 0)
		goto fail;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
fail:
	b->data[b->len] = '\0';	/* undo a partial write */
	return -1;
}

/* buf_appendf - printf-style append, all or nothing */
int buf_appendf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = buf_vappendf(b, fmt, ap);
	va_end(ap);
	return rc;
}

/* buf_truncate - shorten to len bytes (no-op if already shorter) */
void buf_truncate(struct buf *b, size_t len)
{
	if (len < b->len) {
		b->len = len;
		b->data[len] = '\0';
	}
}

/* buf_consume - drop the first n bytes */
void buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		buf_reset(b);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

/* buf_steal - hand the NUL-terminated data to the caller; buffer is freed */
char *buf_steal(struct buf *b)
{
	char *p = b->data;

	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}

/* buf_read_file - append a whole file, bounded by the buffer's maximum;
 * -1 with *err_r naming the file (open/read error, or too large) */
int buf_read_file(struct buf *b, const char *path, const char **err_r)
{
	static __thread char err[300];
	FILE *fp = fopen(path, "r");
	char chunk[8192];
	size_t n;

	if (fp == NULL) {
		snprintf(err, sizeof(err), "%.200s: %s", path, strerror(errno));
		*err_r = err;
		return -1;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
		if (buf_append(b, chunk, n) < 0) {
			fclose(fp);
			snprintf(err, sizeof(err), "%.200s: larger than %zu "
			    "bytes", path, b->max);
			*err_r = err;
			return -1;
		}
	}
	if (ferror(fp)) {
		fclose(fp);
		snprintf(err, sizeof(err), "%.200s: read error", path);
		*err_r = err;
		return -1;
	}
	fclose(fp);
	return 0;
}

/* b64_value - value of a base64 character, -1 if none */
int b64_value(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* hex_value - value of a hex digit (either case), -1 if none */
int hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}
