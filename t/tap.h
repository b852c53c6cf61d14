/*
 * tap.h - a tiny TAP producer for the C unit tests.
 *
 * ok(cond, fmt...), is_int(got, want, name), is_str(got, want, name),
 * done_testing().  Output is TAP version 13, read by tap-driver.sh.
 */
#ifndef POSTERN_TAP_H
#define POSTERN_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

__attribute__((format(printf, 2, 3)))
static int ok(int cond, const char *fmt, ...)
{
	va_list ap;

	printf("%s %d - ", cond ? "ok" : "not ok", ++tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!cond)
		tap_failed++;
	fflush(stdout);
	return cond;
}

static inline int is_int_(long long got, long long want, const char *name)
{
	if (!ok(got == want, "%s", name))
		printf("#   got %lld, want %lld\n", got, want);
	return got == want;
}
#define is_int(g, w, n) is_int_((long long)(g), (long long)(w), (n))

static inline int is_str(const char *got, const char *want, const char *name)
{
	int eq = (got == NULL && want == NULL) ||
	    (got && want && strcmp(got, want) == 0);

	if (!ok(eq, "%s", name))
		printf("#   got  \"%s\"\n#   want \"%s\"\n",
		    got ? got : "(null)", want ? want : "(null)");
	return eq;
}

static inline int done_testing(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

#endif
