/*
 * fuzz_dkim.c - libFuzzer target: the DKIM signature-header and key-record
 * parsing path (common/dkim.c).  The input is parsed as a DKIM-Signature
 * value and as a DNS key record, then a message carrying it as its
 * DKIM-Signature field is verified with the input served as the key
 * record, so canonicalization, header selection and the key checks see
 * it too.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "dkim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct input {
	const char *p;
	size_t n;
};

/* lookup - the fuzz input is every key record */
static enum dkim_lookup_status lookup(void *arg, const char *name,
    struct buf *txt_r)
{
	const struct input *in = arg;

	(void)name;
	buf_reset(txt_r);
	if (buf_append(txt_r, in->p, in->n) < 0)
		return DKIM_LOOKUP_TEMPFAIL;
	return DKIM_LOOKUP_FOUND;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { (const char *)data, size };
	struct dkim_msg_opts o = { 0 };
	struct dkim_sig sig;
	struct dkim_keyrec kr;
	struct dkim_msg *m;
	struct buf ar;
	enum dkim_result res;
	const char *err;

	if (dkim_sig_parse(in.p, in.n, &sig, &res, &err) == 0)
		dkim_sig_free(&sig);
	if (dkim_keyrec_parse(in.p, in.n, &kr, &err) == 0)
		dkim_keyrec_free(&kr);
	o.verify = 1;
	o.now = 1700000000;
	m = dkim_msg_new(&o);
	(void)dkim_msg_header(m, "From", " a@example.com", 14, &err);
	(void)dkim_msg_header(m, "Subject", " x\r\n\ty", 7, &err);
	(void)dkim_msg_header(m, "DKIM-Signature", in.p, in.n, &err);
	dkim_msg_eoh(m);
	dkim_msg_body(m, "body  \r\n\r\n", 10);
	dkim_msg_verify(m, lookup, &in);
	buf_init(&ar, 65536);
	(void)dkim_msg_authres(m, &ar);
	(void)dkim_msg_outcome(m);
	buf_free(&ar);
	dkim_msg_free(&m);
	return 0;
}
