/*
 * fuzz_dmarcagg.c - libFuzzer target: DMARC aggregate-report rows and
 * bucket names as read back from the shared store (common/dmarc_agg.c),
 * which any host sharing the store may have written.  Whatever decodes
 * must encode back to the same bytes (one encoding per row), and a
 * bucket name that parses must be the one dmarc_agg_bucket_name makes:
 * otherwise abort, so the fuzzer reports it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dmarc_agg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dmarc_agg_row *r = malloc(sizeof(*r));
	char *enc = malloc(DMARC_AGG_ROW_MAX), *s = malloc(size + 1);
	char name[DMARC_AGG_BUCKET_MAX], dom[DMARC_AGG_BUCKET_MAX];
	time_t hour;

	if (dmarc_agg_row_decode((const char *)data, size, r) == 0 &&
	    (dmarc_agg_row_encode(r, enc, DMARC_AGG_ROW_MAX) < 0 ||
	    strlen(enc) != size || memcmp(enc, data, size) != 0))
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	if (dmarc_agg_bucket_parse(s, &hour, dom, sizeof(dom)) == 0 &&
	    (dmarc_agg_bucket_name(hour, dom, name, sizeof(name)) < 0 ||
	    strcmp(name, s) != 0))
		abort();
	free(r);
	free(enc);
	free(s);
	return 0;
}
