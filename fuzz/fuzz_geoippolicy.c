/*
 * fuzz_geoippolicy.c - libFuzzer target: the GeoIP policy table parser
 * (common/geoip.c, geoip_policy_parse), and the log/header formatters fed
 * a struct geoip_info made of the same bytes.  The table is the admin's,
 * but a typo must give an error naming a line, never a crash; the
 * formatters must emit only printable ASCII within their bound: otherwise
 * abort, so the fuzzer reports it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "geoip.h"

#define OUT_MAX 1024

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* check_printable - abort unless out is printable ASCII */
static void check_printable(const struct buf *b)
{
	size_t i;

	for (i = 0; i < BUF_LEN(b); i++)
		if (BUF_DATA(b)[i] < 0x20 || BUF_DATA(b)[i] > 0x7e)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct geoip_info info;
	const char *err = NULL;
	struct buf out;
	size_t n = 0;

	if (geoip_policy_parse((const char *)data, size, &n, &err) == 0) {
		if (n > GEOIP_POLICY_MAX)
			abort();
	} else if (err == NULL || strncmp(err, "line ", 5) != 0)
		abort();
	if (size >= sizeof(info)) {
		memcpy(&info, data, sizeof(info));
		buf_init(&out, OUT_MAX);
		geoip_info_log(&info, &out);
		check_printable(&out);
		geoip_header_value(&info, &out);
		check_printable(&out);
		buf_free(&out);
	}
	return 0;
}
