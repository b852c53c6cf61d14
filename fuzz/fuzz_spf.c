/*
 * fuzz_spf.c - libFuzzer target: SPF records and explanations
 * (common/spf.c).  The input is the TXT data of every name the check
 * asks about, so parsing, macro expansion and evaluation (includes,
 * redirects, limits) all run on hostile text; A/AAAA/MX/PTR lookups get
 * fixed answers.  The first byte picks the client address family.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spf.h"
#include "xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* answer - a synthetic answer for q */
static struct dns_answer *answer(const struct dns_question *q,
    const uint8_t *data, size_t size)
{
	struct dns_answer *a = dns_answer_new(DNS_OK);

	a->ttl = 60;
	a->rr = xcalloc(1, sizeof(*a->rr));
	a->n = 1;
	a->rr[0].type = q->type;
	switch (q->type) {
	case DNS_T_TXT:
		a->rr[0].txt = xmalloc(size + 1);
		memcpy(a->rr[0].txt, data, size);
		a->rr[0].txt[size] = '\0';
		a->rr[0].txt_len = size;
		a->rr[0].txt_count = 1;
		break;
	case DNS_T_A:
		ip_parse("192.0.2.1", &a->rr[0].addr);
		break;
	case DNS_T_AAAA:
		ip_parse("2001:db8::1", &a->rr[0].addr);
		break;
	case DNS_T_MX:
		a->rr[0].name = xstrdup("mx.example.com");
		break;
	case DNS_T_PTR:
		a->rr[0].name = xstrdup("mail.example.com");
		break;
	default:
		a->n = 0;
		a->status = DNS_NODATA;
		break;
	}
	return a;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spf_request req;
	struct spf_check *c;
	const char *err;

	if (size < 1)
		return 0;
	(void)spf_record_syntax((const char *)data + 1, size - 1, &err);
	(void)spf_explain_syntax((const char *)data + 1, size - 1);
	memset(&req, 0, sizeof(req));
	ip_parse(data[0] & 1 ? "2001:db8::1" : "192.0.2.1", &req.ip);
	req.sender = "user+tag@example.com";
	req.helo = "mail.example.com";
	req.domain = "example.com";
	req.receiver = "mx.example.net";
	req.default_exp = "%{o} does not designate %{i}";
	req.now = 1700000000;
	c = spf_check_new(&req, NULL);
	while (spf_check_run(c) == SPF_RUN_NEED_DNS) {
		const struct dns_question *q;
		size_t n = spf_check_questions(c, &q);

		for (size_t i = 0; i < n; i++) {
			struct dns_answer *a = answer(&q[i], data + 1,
			    size - 1);

			spf_check_answer(c, q[i].name, q[i].type, a);
			dns_answer_unref(&a);
		}
	}
	(void)spf_check_explanation(c);
	spf_check_free(&c);
	return 0;
}
