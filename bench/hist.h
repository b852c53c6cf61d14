/*
 * hist.h - log-linear latency histogram shared by the load generators
 *          (policy-bench, milter-bench).
 *
 * Public: struct hist, hist_add, hist_merge, hist_percentile.
 * Trust: values are the benchmark's own measurements.
 * Errors: none; values past the top bucket count in it (max_us keeps
 *         the true maximum).
 *
 * Values below HIST_LINEAR microseconds are exact; above, 64 buckets per
 * power of two up to 2^(HIST_MSB_MAX+1) microseconds (about 50 days), so
 * a percentile is within 1/64 of the true value.
 */
#ifndef POSTERN_BENCH_HIST_H
#define POSTERN_BENCH_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 6
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_LINEAR (2u * HIST_SUB)
#define HIST_MSB_MAX 40
#define HIST_BUCKETS (HIST_LINEAR + (HIST_MSB_MAX - HIST_SUB_BITS) * HIST_SUB)

struct hist {
	uint64_t b[HIST_BUCKETS];
	uint64_t count;
	uint64_t max_us;
};

void hist_add(struct hist *h, uint64_t us);
void hist_merge(struct hist *dst, const struct hist *src);
uint64_t hist_percentile(const struct hist *h, double p);

#endif
