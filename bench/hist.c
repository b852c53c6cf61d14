/*
 * hist.c - the benchmarks' latency histogram; see hist.h.
 */
#include "hist.h"

/* hist_index - bucket of a value in microseconds */
static unsigned hist_index(uint64_t v)
{
	unsigned msb, shift;

	if (v < HIST_LINEAR)
		return (unsigned)v;
	msb = 63u - (unsigned)__builtin_clzll(v);
	if (msb > HIST_MSB_MAX) {
		msb = HIST_MSB_MAX;
		v = (2ULL << HIST_MSB_MAX) - 1;
	}
	shift = msb - HIST_SUB_BITS;
	return HIST_LINEAR + (msb - HIST_SUB_BITS - 1) * HIST_SUB
	    + (unsigned)((v >> shift) - HIST_SUB);
}

/* hist_value - representative value (middle) of a bucket */
static uint64_t hist_value(unsigned idx)
{
	unsigned grp, shift;
	uint64_t mant;

	if (idx < HIST_LINEAR)
		return idx;
	grp = (idx - HIST_LINEAR) / HIST_SUB;
	mant = (idx - HIST_LINEAR) % HIST_SUB + HIST_SUB;
	shift = grp + 1;
	return (mant << shift) + ((1ULL << shift) - 1) / 2;
}

/* hist_add - count one value */
void hist_add(struct hist *h, uint64_t us)
{
	h->b[hist_index(us)]++;
	h->count++;
	if (us > h->max_us)
		h->max_us = us;
}

/* hist_merge - add src into dst */
void hist_merge(struct hist *dst, const struct hist *src)
{
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		dst->b[i] += src->b[i];
	dst->count += src->count;
	if (src->max_us > dst->max_us)
		dst->max_us = src->max_us;
}

/* hist_percentile - value at fraction p (0..1), in microseconds */
uint64_t hist_percentile(const struct hist *h, double p)
{
	uint64_t rank, seen = 0;

	if (h->count == 0)
		return 0;
	rank = (uint64_t)(p * (double)h->count + 0.999999);
	if (rank < 1)
		rank = 1;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank) {
			uint64_t v = hist_value(i);

			return v < h->max_us ? v : h->max_us;
		}
	}
	return h->max_us;
}
