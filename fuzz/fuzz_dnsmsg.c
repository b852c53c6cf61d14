/*
 * fuzz_dnsmsg.c - libFuzzer target: the DNS response parser
 * (common/dnsmsg.c); the first byte picks the asked type.
 */
#include <stddef.h>
#include <stdint.h>

#include "dnsmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint16_t types[] = { DNS_T_A, DNS_T_AAAA, DNS_T_MX,
	    DNS_T_TXT, DNS_T_PTR, DNS_T_CNAME, DNS_T_SPF, DNS_T_SOA };
	struct dns_answer *a;

	if (size < 1)
		return 0;
	a = dnsmsg_parse(data + 1, size - 1, "example.com",
	    types[data[0] % (sizeof(types) / sizeof(types[0]))]);
	dns_answer_unref(&a);
	return 0;
}
