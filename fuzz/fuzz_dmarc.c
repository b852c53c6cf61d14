/*
 * fuzz_dmarc.c - libFuzzer target: DMARC policy records, rua/ruf URIs,
 * From: header values, and a whole evaluation whose DNS answers are the
 * input (common/dmarc.c, common/mailaddr.c).
 *
 * Trust: the input is any byte string, as a DNS owner can publish in a
 * TXT record or a peer can put in a From: header.
 * Input: the first byte chooses the mode; the rest is split at the first
 * 0x00 byte into a From: value and a TXT record (the same record answers
 * every _dmarc query of the evaluation).
 * Invariants checked (abort on violation, so libFuzzer reports it):
 *  - a parsed record has values in range (pct 0..100, policies valid,
 *    at most DMARC_URIS_MAX URIs, each with an address and a domain
 *    inside it, text NUL-terminated);
 *  - a From: address, when found, is "local@domain" with the domain
 *    lower case and inside the buffer;
 *  - evaluation ends with a result and, on pass, no disposition; no
 *    more than 3 * DMARC_WALK_MAX lookups for one message;
 *  - Public Suffix List lookups of the From value (as a name) answer a
 *    suffix of it (Debian's list, when installed; RFC 7489 mode then
 *    evaluates with it).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dmarc.h"
#include "mailaddr.h"
#include "psl.h"
#include "xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) abort(); } while (0)

struct fz {
	const char *txt;
	size_t len;
	unsigned lookups;
};

/* lookup - every TXT question gets the input record; A/MX: NXDOMAIN */
static struct dns_answer *lookup(void *arg, const char *name,
    uint16_t type)
{
	struct fz *f = arg;
	struct dns_answer *a;

	(void)name;
	f->lookups++;
	if (type != DNS_T_TXT)
		return dns_answer_new(DNS_NXDOMAIN);
	a = dns_answer_new(DNS_OK);
	a->rr = xcalloc(1, sizeof(*a->rr));
	a->n = 1;
	a->rr[0].type = DNS_T_TXT;
	a->rr[0].txt = xmalloc(f->len + 1);
	memcpy(a->rr[0].txt, f->txt, f->len);
	a->rr[0].txt[f->len] = '\0';
	a->rr[0].txt_len = f->len;
	return a;
}

/* check_record - invariants of a parsed record */
static void check_record(const struct dmarc_record *r)
{
	CHECK(r->pct >= 0 && r->pct <= 100);
	CHECK(r->p >= DMARC_P_NONE && r->p <= DMARC_P_REJECT);
	CHECK(r->sp <= DMARC_P_REJECT && r->np <= DMARC_P_REJECT);
	CHECK(r->nrua <= DMARC_URIS_MAX && r->nruf <= DMARC_URIS_MAX);
	CHECK(memchr(r->text, '\0', sizeof(r->text)) != NULL);
	for (size_t i = 0; i < r->nrua + r->nruf; i++) {
		const struct dmarc_uri *u = i < r->nrua ? &r->rua[i] :
		    &r->ruf[i - r->nrua];

		CHECK(memchr(u->addr, '\0', sizeof(u->addr)) != NULL);
		CHECK(u->domain > u->addr &&
		    u->domain < u->addr + sizeof(u->addr));
		CHECK(u->domain[-1] == '@' && u->domain[0] != '\0');
	}
}

/* the_psl - Debian's list, loaded once (NULL when not installed) */
static const struct psl *the_psl(void)
{
	static struct psl *p;
	static int tried;
	const char *err;

	if (!tried) {
		tried = 1;
		p = psl_load(PSL_DEBIAN_PATH, &err);
	}
	return p;
}

/* check_suffix - s is NULL or a suffix of name */
static void check_suffix(const char *name, const char *s)
{
	if (s)
		CHECK(s >= name && s <= name + strlen(name));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum dmarc_mode mode;
	const char *in, *nul;
	size_t rest, flen;
	struct dmarc_record *r;
	struct mailaddr m;
	const char *why, *err;
	struct dmarc_uri u;

	if (size < 1)
		return 0;
	mode = (data[0] & 1) ? DMARC_MODE_RFC7489 : DMARC_MODE_BIS;
	in = (const char *)data + 1;
	rest = size - 1;
	nul = memchr(in, '\0', rest);
	flen = nul ? (size_t)(nul - in) : rest;

	/* From: */
	if (mailaddr_from(in, flen, &m, &why) == MAILADDR_OK) {
		const char *at = strrchr(m.addr, '@');

		CHECK(at != NULL && at > m.addr && m.domain == at + 1);
		for (const char *p = m.domain; *p; p++)
			CHECK(!(*p >= 'A' && *p <= 'Z'));
	} else {
		CHECK(why != NULL);
	}

	/* the From value as a name, through the PSL */
	if (the_psl() && flen < 1024) {
		char *name = xmalloc(flen + 1);

		memcpy(name, in, flen);
		name[flen] = '\0';
		check_suffix(name, psl_public_suffix(the_psl(), name));
		check_suffix(name, psl_org_domain(the_psl(), name));
		free(name);
	}

	/* the record: the part after the NUL, or all of it */
	if (nul) {
		in = nul + 1;
		rest -= flen + 1;
	}
	r = xmalloc(sizeof(*r));
	if (dmarc_record_parse(in, rest, mode, r, &err) == 0)
		check_record(r);
	free(r);
	if (dmarc_uri_parse(in, rest, &u) == 0)
		CHECK(u.domain > u.addr && u.domain[-1] == '@');

	/* an evaluation where every record is this one (RFC 7489 mode
	 * without the PSL uses the From domain itself) */
	if (m.addr[0] && rest < 4096) {
		struct fz f = { in, rest, 0 };
		struct dmarc_opts o = { mode, the_psl(), lookup, &f, NULL,
		    NULL };
		struct dmarc *d = dmarc_new(&o);
		struct dmarc_eval *ev = xmalloc(sizeof(*ev));
		struct dmarc_auth a;

		memset(&a, 0, sizeof(a));
		a.spf_domain = m.domain;
		a.spf = (data[0] & 2) ? SPF_PASS : SPF_FAIL;
		a.ndkim = 1;
		a.dkim[0].domain = "x.example";
		a.dkim[0].result = DKIM_RES_PASS;
		dmarc_evaluate(d, m.domain, &a, ev);
		CHECK(ev->result <= DMARC_PERMERROR);
		CHECK(ev->result != DMARC_PASS ||
		    ev->disposition == DMARC_P_NONE);
		CHECK(f.lookups <= 3 * DMARC_WALK_MAX);
		free(ev);
		dmarc_free(&d);
	}
	return 0;
}
