/*
 * fuzz_policy.c - libFuzzer target: the policy-protocol request parser
 * (policyd/policy_proto.c) fed line by line, as the server feeds it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policy_limits lim;
	struct policy_req r;
	const char *p = (const char *)data, *end = p + size, *why;
	struct buf out;

	policy_limits_default(&lim);
	lim.attrs_max = 16;
	lim.request_max = 2048;
	lim.line_max = 512;
	policy_req_init(&r, &lim);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		enum policy_feed f = policy_req_line(&r, p, n, &why);

		if (f == POLICY_BAD)
			break;
		if (f == POLICY_DONE) {
			(void)policy_req_get(&r, "sender");
			(void)policy_req_get(&r, "client_address");
			policy_req_reset(&r);
		}
		p += n + 1;
	}
	buf_init(&out, 256);
	{
		char *text = malloc(size + 1);

		memcpy(text, data, size);
		text[size] = '\0';
		policy_action_text(&out, text);
		free(text);
	}
	buf_free(&out);
	policy_req_free(&r);
	return 0;
}
