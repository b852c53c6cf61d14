/*
 * clock.h - the monotonic clock, for deadlines and expiry.
 *
 * Public: clock_ms, clock_sec.
 * Trust: none needed.  Errors: none (CLOCK_MONOTONIC always works).
 */
#ifndef POSTERN_CLOCK_H
#define POSTERN_CLOCK_H

#include <time.h>

/* clock_ms - monotonic milliseconds */
static inline long long clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* clock_sec - monotonic seconds */
static inline time_t clock_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

#endif
