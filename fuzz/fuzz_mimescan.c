/*
 * fuzz_mimescan.c - libFuzzer target: a message through the MIME scanner
 * (common/mimescan.c), as a milter feeds it: primary header fields, then
 * the body in chunks.  The first 4 input bytes choose the options (small
 * limits too, so every bound is crossed) and the chunk sizes; the rest is
 * the message, its primary headers up to the first empty line.
 *
 * Checked, else abort() so the fuzzer reports it:
 *   - random chunking gives the items of one-chunk feeding;
 *   - every raw body item's [off, end) lies in the body and starts with
 *     its text; text is NUL-terminated; lengths and depth within limits;
 *   - a stop request is obeyed (no item after it);
 *   - mime_decode_2047 on the whole input stays within max, and returns 0
 *     only with a copy of its input.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "mimescan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct run {
	const struct mimescan_options *o;
	const char *body;
	size_t blen;
	uint64_t hash;		/* FNV-1a over every item */
	size_t n, stop_at;
};

/* mix - FNV-1a */
static void mix(uint64_t *h, const void *p, size_t n)
{
	const unsigned char *s = p;

	while (n--) {
		*h ^= *s++;
		*h *= 0x100000001b3ULL;
	}
}

/* item_fn - check and hash one item */
static int item_fn(void *arg, const struct mimescan_item *it)
{
	struct run *r = arg;
	size_t v[6];

	if (r->stop_at != 0 && r->n >= r->stop_at)
		abort();	/* an item after the stop */
	r->n++;
	if (it->text[it->len] != '\0' || it->depth > r->o->nesting_limit)
		abort();
	if (it->cls == MIMESCAN_BODY) {
		if (it->len == 0 || it->len > r->o->line_length_limit ||
		    it->table != MIMESCAN_T_BODY)
			abort();
		if (!it->decoded && (it->off > it->end ||
		    it->end > r->blen || it->end - it->off < it->len ||
		    memcmp(r->body + it->off, it->text, it->len) != 0))
			abort();
	} else {
		if (it->len > r->o->header_size_limit ||
		    it->table == MIMESCAN_T_BODY)
			abort();
		if (it->cls != MIMESCAN_PRIMARY &&
		    (it->off >= it->end || it->end > r->blen))
			abort();
	}
	v[0] = it->cls;
	v[1] = it->table;
	v[2] = (size_t)it->decoded;
	v[3] = it->off ^ it->hdr_index << 1;
	v[4] = it->end;
	v[5] = it->depth;
	mix(&r->hash, v, sizeof(v));
	mix(&r->hash, it->text, it->len);
	return r->stop_at != 0 && r->n >= r->stop_at;
}

/* feed - primary fields from hdr, then the body in chunks */
static unsigned feed(struct run *r, const char *hdr, size_t hlen,
    uint32_t seed)
{
	struct mimescan *m = mimescan_new(r->o, item_fn, r);
	size_t i, j, k, colon;
	unsigned f;

	/* fields: a line with a colon starts one, folds join with CRLF */
	for (i = 0; i < hlen; i = j) {
		for (j = i; j < hlen; j++)
			if (hdr[j] == '\n' && (j + 1 >= hlen ||
			    (hdr[j + 1] != ' ' && hdr[j + 1] != '\t')))
				break;
		for (colon = i; colon < j && hdr[colon] != ':' &&
		    hdr[colon] != '\0'; colon++)
			;
		if (colon < j && hdr[colon] == ':' && colon > i) {
			char name[64];
			size_t nl = colon - i < sizeof(name) - 1 ?
			    colon - i : sizeof(name) - 1;

			memcpy(name, hdr + i, nl);
			name[nl] = '\0';
			mimescan_header(m, name, hdr + colon + 1, j - colon - 1);
		}
		if (j < hlen)
			j++;
	}
	for (i = 0; i < r->blen; i += k) {
		seed = seed * 1103515245u + 12345u;
		k = seed == 0 ? r->blen : 1 + (seed >> 8) % 97;
		if (k > r->blen - i)
			k = r->blen - i;
		mimescan_body(m, r->body + i, k);
	}
	f = mimescan_end(m);
	mimescan_free(&m);
	return f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t lines[] = { 2048, 7, 64, 998 };
	static const size_t hdrs[] = { 102400, 5, 100, 2000 };
	static const size_t bodies[] = { 51200, 10, 300, 5000 };
	struct mimescan_options o = { 0 };
	struct run a, b;
	const char *msg, *sep, *body;
	size_t mlen, hlen;
	struct buf out;
	int any;

	if (size < 4)
		return 0;
	o.line_length_limit = lines[data[0] & 3];
	o.header_size_limit = hdrs[data[0] >> 2 & 3];
	o.body_size_limit = bodies[data[0] >> 4 & 3];
	o.nesting_limit = data[0] & 0x40 ? 3 : 100;
	o.decode_headers = data[1] & 1;
	o.decode_body = data[1] >> 1 & 1;
	msg = (const char *)data + 4;
	mlen = size - 4;
	sep = memmem(msg, mlen, "\n\n", 2);
	hlen = sep != NULL ? (size_t)(sep - msg) : 0;
	body = sep != NULL ? sep + 2 : msg;

	memset(&a, 0, sizeof(a));
	a.o = &o;
	a.body = body;
	a.blen = mlen - (size_t)(body - msg);
	a.hash = 0xcbf29ce484222325ULL;
	b = a;
	if (feed(&a, msg, hlen, 0) != feed(&b, msg, hlen,
	    (uint32_t)data[2] << 8 | data[3] | 1) || a.hash != b.hash ||
	    a.n != b.n)
		abort();
	/* stop after some item: nothing after it (checked in item_fn) */
	if (a.n > 0) {
		b = a;
		b.n = 0;
		b.stop_at = 1 + data[3] % a.n;
		feed(&b, msg, hlen, data[2] | 1u);
		if (b.n != b.stop_at)
			abort();
	}

	buf_init(&out, 1 << 20);
	any = mime_decode_2047(msg, mlen, &out, 100 + data[2] * 16u);
	if (out.len > 100 + data[2] * 16u)
		abort();
	if (!any && (out.len != (mlen < 100 + data[2] * 16u ? mlen :
	    100 + data[2] * 16u) || memcmp(out.data, msg, out.len) != 0))
		abort();
	buf_free(&out);
	return 0;
}
