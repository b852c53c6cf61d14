/*
 * xalloc.h - allocation wrappers that never return NULL.
 *
 * Public: xmalloc, xcalloc, xrealloc, xstrdup, xstrndup, xmemdup, XFREE.
 * Trust: callers are our own code; sizes may derive from peer input but
 *        are bounded by the caller (see limits.h) before they get here.
 * Errors: out of memory and size overflow are fatal (log_panic, abort).
 */
#ifndef POSTERN_XALLOC_H
#define POSTERN_XALLOC_H

#include <stddef.h>
#include <stdlib.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
void *xmemdup(const void *p, size_t n);

/* XFREE - free *pp and set it to NULL (evaluates pp twice) */
#define XFREE(pp) do { free(*(pp)); *(pp) = NULL; } while (0)

#endif
