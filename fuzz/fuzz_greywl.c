/*
 * fuzz_greywl.c - libFuzzer target: postgrey whitelist files
 * (common/greywl.c), parsed as client and recipient lists and matched
 * against a few names.
 */
#include <stddef.h>
#include <stdint.h>

#include "greywl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct greywl *c = greywl_new(GREYWL_CLIENTS);
	struct greywl *r = greywl_new(GREYWL_RECIPIENTS);
	struct ipaddr ip;
	struct buf warn;

	buf_init(&warn, 4096);
	greywl_load_text(c, (const char *)data, size, "fuzz", &warn);
	greywl_load_text(r, (const char *)data, size, "fuzz", &warn);
	ip_parse("192.0.2.1", &ip);
	(void)greywl_match_client(c, "mail.example.com", &ip);
	(void)greywl_match_recipient(r, "postmaster+x@example.com");
	buf_free(&warn);
	greywl_free(&c);
	greywl_free(&r);
	return 0;
}
