/*
 * fuzz_rbl.c - libFuzzer target: the DNS list site parser (common/rbl.c,
 * rbl_add_site: "zone[=filter][*weight]", the filter alone) and the reply
 * macro expansion fed a result whose TXT record, answer and identity come
 * from the input (a list's TXT record is peer data).  The expansion must
 * stay printable ASCII within its bound, a rejected spec must say why:
 * otherwise abort, so the fuzzer reports it.
 *
 * Input: spec NUL template NUL txt NUL what (missing parts are empty).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "rbl.h"

#define OUT_MAX 512

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* part - the next NUL-separated piece of the input, copied */
static char *part(const uint8_t **p, const uint8_t *end)
{
	const uint8_t *s = *p, *e = s;
	char *out;

	while (e < end && *e)
		e++;
	out = malloc((size_t)(e - s) + 1);
	if (out == NULL)
		abort();
	memcpy(out, s, (size_t)(e - s));
	out[e - s] = '\0';
	*p = e < end ? e + 1 : e;
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size;
	char *spec = part(&p, end), *tmpl = part(&p, end);
	char *txt = part(&p, end), *what = part(&p, end);
	struct rbl *r = rbl_new(1000, 1);
	struct rbl_filter f;
	struct rbl_result res;
	const char *err = NULL;
	struct buf out;

	if (rbl_add_site(r, (enum rbl_kind)(size % 4), spec, &err) < 0 &&
	    (err == NULL || *err == '\0'))
		abort();
	(void)rbl_filter_parse(spec, &f);
	memset(&res, 0, sizeof(res));
	res.nhits = 1;
	res.score = 3;
	res.hits[0].kind = (enum rbl_kind)(size % 4);
	res.hits[0].zone = "list.example";
	res.hits[0].weight = 3;
	res.hits[0].txt = txt;
	snprintf(res.hits[0].what, sizeof(res.hits[0].what), "%s", what);
	snprintf(res.hits[0].answer, sizeof(res.hits[0].answer), "127.0.0.2");
	buf_init(&out, OUT_MAX * 2);
	rbl_reply_expand(tmpl, &res, what, what, &out, OUT_MAX);
	if (out.len > OUT_MAX)
		abort();
	for (size_t i = 0; i < out.len; i++)
		if (out.data[i] < 0x20 || out.data[i] > 0x7e)
			abort();
	buf_reset(&out);
	rbl_result_log(&res, &out);
	buf_free(&out);
	rbl_free(&r);
	free(spec);
	free(tmpl);
	free(txt);
	free(what);
	return 0;
}
