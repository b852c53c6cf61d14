/*
 * dkim_t.c - unit tests for the DKIM engine (common/dkim.c).
 *
 * Keys are made at run time with OpenSSL; key records are served by an
 * in-memory lookup function (the engine's DNS interface), so every
 * DNS outcome (found, not found, try again) is exercised without a
 * network.  The real resolver and DNS server are covered by the milter
 * and interop tests.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "dkim.h"
#include "tap.h"

#define RECS_MAX 16

struct rec {
	const char *name;
	const char *txt;		/* NULL: tempfail */
};

static struct rec recs[RECS_MAX];
static size_t nrecs;
static int lookups;

/* fake_lookup - records from recs[] */
static enum dkim_lookup_status fake_lookup(void *arg, const char *name,
    struct buf *txt_r)
{
	(void)arg;
	lookups++;
	buf_reset(txt_r);
	for (size_t i = 0; i < nrecs; i++)
		if (strcmp(recs[i].name, name) == 0) {
			if (recs[i].txt == NULL)
				return DKIM_LOOKUP_TEMPFAIL;
			buf_appends(txt_r, recs[i].txt);
			return DKIM_LOOKUP_FOUND;
		}
	return DKIM_LOOKUP_NOTFOUND;
}

/* set_rec - publish or replace a record */
static void set_rec(const char *name, const char *txt)
{
	for (size_t i = 0; i < nrecs; i++)
		if (strcmp(recs[i].name, name) == 0) {
			recs[i].txt = txt;
			return;
		}
	recs[nrecs].name = name;
	recs[nrecs].txt = txt;
	nrecs++;
}

/* test-only keys (generated with openssl genpkey for this file) */
static const char rsa2048_pem[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIIEuwIBADANBgkqhkiG9w0BAQEFAASCBKUwggShAgEAAoIBAQCo0zY8XTl6SEFp\n"
	"yDN/+nyFe93AV2IGQaKQTqne9CbYiFBql+r5Pjl/GaAn3ULd04CCuAuDMsSmptO2\n"
	"w6Cg9iGFwz0bLPKnasjtytAqMOra8v9F53x1VWRA5GLaXRIJKYri/v4bLG4yMeNg\n"
	"0C8IwH/mZ2n2R57x+dZdpIuDUjTiVBjnEEDtKpju4vAtyvsCMw4v4D6Dmi3r5m4T\n"
	"tBbQnIZ00x2aFp6auuXWzJQCTcWKPDBnSusc6Gai5NQDUNEGKuqKq6V2Pi382vKS\n"
	"R+DG/F4mexCbAPQ0l9KK/IXLBKLbtAnBlx07JD+XE1t+WzIumasnLrfDGmShWHVf\n"
	"Kuja3ZJZAgMBAAECgf8TnnfvC+ZiD4OKh3l0pedSm9JpR75ce8QogPu8rSLWhwDR\n"
	"YlYsIM8NtiymdVAP90Q37Ktp07yGoVx5IMLJ8dBzevze65pHWmF/QNJwFL82Mob3\n"
	"2K7d885yvBfAyJAQAIPjXT6qab9kleeWmJreqYAzhlEKDciq1h3TRAvydtsucecG\n"
	"Zgg3jzbypcNmkrW+ZmtBX+Z0ICItCLGW4VgXUg3wvr1kK6lFN3qypwoPQbgJDKSR\n"
	"XE2O9jzkCLeD92CPoIAekPSh8v5W6E/5uNkyq17o8eEh7KFK1q5nMJ9sdxWq29Mi\n"
	"EXd42O77eYKZPAEZwqqLHNAn5Ua8+cv20cIRVO0CgYEA3hQLBQaA7V9IpmPuO1eR\n"
	"B41pcboxwEZOr7/J8vubUweDe/tZkREd1ytrlsXhyid0Y8Yt8uSJcXiFiibvyTZc\n"
	"UX1E/5XvQWLx1T7zcX8pvKRPdo3Z4eitkdQnAm8RSm0SyyhuLQo7+gao92VyGII8\n"
	"qI6CT0k/k5P+Ccgr2EZQaX0CgYEAwpzMz1fkV5lk11tnoPlIbI66TTByb1sCRvJ4\n"
	"sg/SxZ5dI6xq2mplIJ1WV+pHKloEpwylnGm46YawHEIQNMC2Z5rPahTCAcfwaaB6\n"
	"hXtMqW4+n9bok6iwZVtwLnt2gCpG9Ya4NtYAv3/+5Ir5bNdDDOO4ZiqdA4f1ArH2\n"
	"suWGww0CgYALdBUtaSx1EZj5m+XJgbalIRHzH5s5Q2cDgWy0720PVy/c0RXJeYyE\n"
	"cGTYHdSLTIWgL7Rm9opwI7sfaOqtAfS47zEDzYPNZ4D5comzrM9GP2Mpxh8am5l4\n"
	"D+0DHx9RK1bwy2EDSafWOUm1mLHNucnPF6p41FpHDjbn4j8ApH+5MQKBgQCVzXr+\n"
	"E8rJ/2KXP13alGjCX29a4XME8oojMJvlfLaitc8+GYc6z3E+lL4U+FqFaDtylxKX\n"
	"/u1+nNXNOrEc2kbOI2WLY6UfF9eghw4o14tgVGNSSGxI1S3LJ4KH1TOXXnO2pVgB\n"
	"peN3hUAgjjWHKYAMWPHleuHYCPx5caHTfUiptQKBgCFvFErSZUFINpUOllknDYMD\n"
	"3QuKYsg5CVFph7HcWhrqeeuiY8kU+AKx2qdAZCLoOZhZBW3Kj7e2XgEKROrrNzOZ\n"
	"vQFn5uSk0Gi8yPAFwqfWOiKrAHhJorXREdo6x/0wFoJ2CySxADgbH986pAurMuNE\n"
	"0GtmEqP7da2MAMmJHyaE\n"
	"-----END PRIVATE KEY-----\n";

static const char rsa1024_pem[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIICdgIBADANBgkqhkiG9w0BAQEFAASCAmAwggJcAgEAAoGBANcmeh7ad/Dp9XR5\n"
	"aUV1Ayjq6OxfhQ0MYB7OaF6lDRF3oRb9fwBnTCxM0UrMbbXAsS5HeKLCeew6Noiy\n"
	"usUzlxdvJbZaFHooixCEjBYG5rg5Yey2X88RAa67URFe4L+bxesR6yK2I4cZosWS\n"
	"J2Pz/Rg+zoZpuE8uTmQQaIz2nVFhAgMBAAECgYBjtS07Rzv2pjZeuDWVPtksCVHQ\n"
	"2aOrnGSfYkD0O8GGqs44/VnyMe0XSrJj28GsTZTPQcgihcZDN+c2Cr6LzZDjLdMu\n"
	"0qWVeHcQPKyiDFC0aoG4DUTDh8J8zK1/VlEcWsqZvYEKeqv81fD/rMti1z+8LK0I\n"
	"UhQpfTkVzn6Lnlf9kQJBAOwz/QL+c5u0Z1L3nhYIUE2li90kD/C4mYXnS7cnQp/j\n"
	"LwkzmhmhAepmSvwURxIn81yUBLHV3KMo++tLZAvPtr8CQQDpLsbg19qI0mgovT20\n"
	"5ltIxaDh5C5qcSpjjM1YBJVTwafFMg4Xr0O6GA2Akn3+XiJRYKn7WECQ2yPoqNMJ\n"
	"dB/fAkEA4sG2L92fludGGjxlo7kvfpti/lXUh8BwgkBeS+KA74XmbesAEYKkmCbD\n"
	"7eR5plB8LXBcYW1yd6Cs2GJ0FXK/eQJACAxbROtuWYaZnb5aYOIKiIp5sRJFH9tk\n"
	"ESeM9trBpLBsb/v4TIz6E3Q9ExD7VEo/ePuTIl+7asSFisQ49HyTlQJACj8EzoyB\n"
	"Vdrcq/dhl4PO+hb9pYrYJjpg53NHSqwlfjn6O7ekd1ILU9m3r8TgdUfOpnFlqETH\n"
	"J4O7sJu7rY1J9Q==\n"
	"-----END PRIVATE KEY-----\n";

static const char ed25519_pem[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MC4CAQAwBQYDK2VwBCIEIID0ReDEawgeKLtQHGLmU5P0RnmVYXf46S5NWAJTc07+\n"
	"-----END PRIVATE KEY-----\n";

/* pem_key - a key from PEM text */
static struct dkim_key *pem_key(const char *pem)
{
	const char *err = NULL;
	struct dkim_key *k = dkim_key_from_pem(pem, strlen(pem), &err);

	if (k == NULL)
		printf("# key: %s\n", err);
	return k;
}

/* record_of - the key's DNS record as a static string */
static const char *record_of(const struct dkim_key *k)
{
	struct buf b;

	buf_init(&b, 8192);
	dkim_key_record(k, &b);
	return buf_steal(&b);
}

static const char *const sign_names[] = { "from", "to", "subject", "date" };
static const char *const over_names[] = { "from" };

struct msgspec {
	const char *hdrs;	/* "Name:value\r\n..." (folds allowed) */
	const char *body;
};

static const struct msgspec plain = {
	"From: Alice <alice@example.com>\r\n"
	"To: bob@example.net\r\n"
	"Subject: hello   world  \r\n\tfolded\r\n"
	"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n",
	"Hi Bob,  \r\n\r\n  spaced\tline \r\n\r\n\r\n"
};

/* feed - headers (split at CRLF not followed by WSP) and body */
static void feed(struct dkim_msg *m, const char *hdrs, const char *body)
{
	const char *p = hdrs;

	while (*p) {
		const char *colon = strchr(p, ':'), *e = p;
		char name[128];
		const char *err;

		for (;;) {
			e = strstr(e, "\r\n");
			if (e[2] == ' ' || e[2] == '\t') {
				e += 2;
				continue;
			}
			break;
		}
		snprintf(name, sizeof(name), "%.*s", (int)(colon - p), p);
		if (dkim_msg_header(m, name, colon + 1, (size_t)(e - colon - 1),
		    &err) < 0)
			printf("# header: %s\n", err);
		p = e + 2;
	}
	dkim_msg_eoh(m);
	/* in two chunks split inside a CRLF, to test the carried CR */
	{
		size_t n = strlen(body), half = n / 2;

		for (size_t i = 0; i + 1 < n; i++)
			if (body[i] == '\r') {
				half = i + 1;
				break;
			}
		dkim_msg_body(m, body, half);
		dkim_msg_body(m, body + half, n - half);
	}
}

/* sign_msg - "DKIM-Signature:VALUE\r\n" for each key, then the headers */
static char *sign_msg(const struct msgspec *ms, struct dkim_key **keys,
    const char **sels, size_t nkeys, enum dkim_canon hc, enum dkim_canon bc)
{
	struct dkim_msg_opts o = { 0 };
	struct dkim_msg *m = dkim_msg_new(&o);
	struct buf out[4], all;
	const char *err;

	for (size_t i = 0; i < nkeys; i++) {
		struct dkim_sign_spec s = { 0 };

		s.domain = "example.com";
		s.selector = sels[i];
		s.key = keys[i];
		s.hcanon = hc;
		s.bcanon = bc;
		s.sign_headers = sign_names;
		s.nsign = 4;
		s.oversign = over_names;
		s.noversign = 1;
		dkim_msg_add_signer(m, &s, &err);
		buf_init(&out[i], 8192);
	}
	feed(m, ms->hdrs, ms->body);
	buf_init(&all, 1 << 20);
	if (dkim_msg_sign(m, out, nkeys, &err) < 0)
		printf("# sign: %s\n", err);
	for (size_t i = 0; i < nkeys; i++) {
		buf_appendf(&all, "DKIM-Signature:%s\r\n", out[i].data);
		buf_free(&out[i]);
	}
	buf_appends(&all, ms->hdrs);
	dkim_msg_free(&m);
	return buf_steal(&all);
}

/* verify_msg - results of verifying hdrs+body; *outcome_r set */
static size_t verify_msg(const char *hdrs, const char *body,
    enum dkim_result *res, enum dkim_outcome *outcome_r, char *ar,
    size_t arlen, size_t maxsigs, int min_bits)
{
	struct dkim_msg_opts o = { 0 };
	struct dkim_msg *m;
	const struct dkim_sig_result *r;
	struct buf b;
	size_t n;

	o.verify = 1;
	o.max_signatures = maxsigs;
	o.min_rsa_bits = min_bits;
	m = dkim_msg_new(&o);
	feed(m, hdrs, body);
	dkim_msg_verify(m, fake_lookup, NULL);
	r = dkim_msg_results(m, &n);
	for (size_t i = 0; i < n; i++) {
		res[i] = r[i].res;
		if (r[i].reason)
			printf("# sig %zu: %s (%s)\n", i,
			    dkim_result_name(r[i].res), r[i].reason);
	}
	*outcome_r = dkim_msg_outcome(m);
	buf_init(&b, 8192);
	buf_appends(&b, "mx.test");
	dkim_msg_authres(m, &b);
	snprintf(ar, arlen, "%s", b.data);
	buf_free(&b);
	dkim_msg_free(&m);
	return n;
}

/* test_roundtrip - every algorithm x canonicalization signs and verifies,
 * and tampering fails */
static void test_roundtrip(struct dkim_key *rsa, struct dkim_key *ed)
{
	static const enum dkim_canon c[2] = { DKIM_CANON_SIMPLE,
	    DKIM_CANON_RELAXED };
	struct dkim_key *keys[2] = { rsa, ed };
	const char *sels[2] = { "rsa", "ed" };
	enum dkim_result res[DKIM_SIGS_MAX];
	enum dkim_outcome out;
	char ar[4096], name[128];

	for (int hc = 0; hc < 2; hc++)
		for (int bc = 0; bc < 2; bc++) {
			char *h = sign_msg(&plain, keys, sels, 2, c[hc], c[bc]);
			size_t n = verify_msg(h, plain.body, res, &out, ar,
			    sizeof(ar), 0, 0);
			char *t;

			snprintf(name, sizeof(name), "c=%s/%s",
			    hc ? "relaxed" : "simple",
			    bc ? "relaxed" : "simple");
			ok(n == 2 && res[0] == DKIM_RES_PASS &&
			    res[1] == DKIM_RES_PASS && out == DKIM_OUT_GOOD,
			    "%s: RSA and Ed25519 pass (%s)", name, ar);
			/* tampered header */
			t = strdup(h);
			*strstr(t, "hello") = 'j';
			n = verify_msg(t, plain.body, res, &out, ar, sizeof(ar),
			    0, 0);
			ok(n == 2 && res[0] == DKIM_RES_FAIL &&
			    res[1] == DKIM_RES_FAIL && out == DKIM_OUT_BADSIG,
			    "%s: changed Subject fails both", name);
			/* tampered body */
			n = verify_msg(h, "Hi Bob, changed\r\n", res, &out, ar,
			    sizeof(ar), 0, 0);
			ok(n == 2 && res[0] == DKIM_RES_FAIL &&
			    strstr(ar, "body hash") != NULL,
			    "%s: changed body fails with body hash", name);
			/* whitespace-only change: relaxed body survives */
			n = verify_msg(h, "Hi Bob,\r\n\r\n spaced line\r\n",
			    res, &out, ar, sizeof(ar), 0, 0);
			ok(n == 2 && (res[0] == DKIM_RES_PASS) == (bc == 1),
			    "%s: body whitespace change %s", name,
			    bc ? "passes (relaxed)" : "fails (simple)");
			free(t);
			free(h);
		}
}

/* test_body_hashes - RFC 6376 3.4.3/3.4.4 empty-body hashes */
static void test_body_hashes(struct dkim_key *rsa)
{
	static const struct msgspec empty = { "From: a@example.com\r\n", "" };
	static const struct msgspec blank = { "From: a@example.com\r\n",
	    "\r\n\r\n" };
	const char *sels[1] = { "rsa" };
	struct dkim_key *keys[1] = { rsa };
	char *h;

	h = sign_msg(&empty, keys, sels, 1, DKIM_CANON_SIMPLE,
	    DKIM_CANON_SIMPLE);
	ok(strstr(h, "bh=frcCV1k9oG9oKj3dpUqdJg1PxRT2RSN/XKdLCPjaYaY=") !=
	    NULL, "simple empty body hashes as CRLF");
	free(h);
	h = sign_msg(&blank, keys, sels, 1, DKIM_CANON_SIMPLE,
	    DKIM_CANON_SIMPLE);
	ok(strstr(h, "bh=frcCV1k9oG9oKj3dpUqdJg1PxRT2RSN/XKdLCPjaYaY=") !=
	    NULL, "simple body of empty lines hashes as CRLF");
	free(h);
	h = sign_msg(&empty, keys, sels, 1, DKIM_CANON_RELAXED,
	    DKIM_CANON_RELAXED);
	ok(strstr(h, "bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=") !=
	    NULL, "relaxed empty body hashes as nothing");
	free(h);
	h = sign_msg(&blank, keys, sels, 1, DKIM_CANON_RELAXED,
	    DKIM_CANON_RELAXED);
	ok(strstr(h, "bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=") !=
	    NULL, "relaxed body of empty lines hashes as nothing");
	free(h);
}

/* bh_of - the bh= of signing body fed in chunks of step bytes (0: one) */
static void bh_of(struct dkim_key *k, enum dkim_canon bc, const char *body,
    size_t step, char *out, size_t outlen)
{
	struct dkim_msg_opts o = { 0 };
	struct dkim_msg *m = dkim_msg_new(&o);
	struct dkim_sign_spec s = { 0 };
	struct buf sig;
	const char *err, *bh;
	size_t n = strlen(body);

	s.domain = "example.com";
	s.selector = "rsa";
	s.key = k;
	s.hcanon = DKIM_CANON_RELAXED;
	s.bcanon = bc;
	s.sign_headers = sign_names;
	s.nsign = 1;
	dkim_msg_add_signer(m, &s, &err);
	dkim_msg_header(m, "From", " a@example.com", 14, &err);
	dkim_msg_eoh(m);
	for (size_t off = 0; off < n; off += step ? step : n)
		dkim_msg_body(m, body + off, step && n - off > step ? step :
		    n - off);
	buf_init(&sig, 8192);
	dkim_msg_sign(m, &sig, 1, &err);
	bh = strstr(sig.data, "bh=");
	snprintf(out, outlen, "%.47s", bh ? bh : "none");
	buf_free(&sig);
	dkim_msg_free(&m);
}

/* test_chunking - the body hash does not depend on how the body is cut */
static void test_chunking(struct dkim_key *rsa)
{
	static const char *const bodies[] = {
		"a b  c\t d \r\n\r\n \t\r\nx\r\n\r\n\r\n",
		"no final line end   ",
		"lone\rCR and lone\nLF \r\r\n\r",
		" \t \r\n\r\n",
		"word word  word\tword \r\nend",
	};

	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
		for (int c = 0; c < 2; c++) {
			char whole[64], bytes[64], threes[64];

			bh_of(rsa, (enum dkim_canon)c, bodies[i], 0, whole,
			    sizeof(whole));
			bh_of(rsa, (enum dkim_canon)c, bodies[i], 1, bytes,
			    sizeof(bytes));
			bh_of(rsa, (enum dkim_canon)c, bodies[i], 3, threes,
			    sizeof(threes));
			ok(strcmp(whole, bytes) == 0 &&
			    strcmp(whole, threes) == 0,
			    "body %zu %s: same hash whole, by byte, by 3", i,
			    c ? "relaxed" : "simple");
		}
}

/* test_dns_outcomes - key missing, lookup failure, bad records */
static void test_dns_outcomes(struct dkim_key *rsa, struct dkim_key *ed,
    const char *rsa_rec, const char *ed_rec)
{
	struct dkim_key *keys[1] = { rsa };
	const char *sels[1] = { "rsa" };
	enum dkim_result res[DKIM_SIGS_MAX];
	enum dkim_outcome out;
	char ar[4096];
	char *h = sign_msg(&plain, keys, sels, 1, DKIM_CANON_RELAXED,
	    DKIM_CANON_RELAXED);
	static const struct {
		const char *txt;
		enum dkim_result want;
		enum dkim_outcome outcome;
		const char *name;
	} cases[] = {
		{ "v=DKIM1; k=rsa; p=", DKIM_RES_PERMERROR, DKIM_OUT_BADSIG,
		  "revoked key (p= empty)" },
		{ "v=DKIM1; p=!!!notbase64", DKIM_RES_PERMERROR,
		  DKIM_OUT_BADSIG, "key record that is not a key" },
		{ "hello world", DKIM_RES_PERMERROR, DKIM_OUT_BADSIG,
		  "TXT that is not a tag list" },
		{ "v=DKIM1; k=dsa; p=AAAA", DKIM_RES_PERMERROR,
		  DKIM_OUT_BADSIG, "unknown key type" },
		{ "k=rsa; v=DKIM1; p=AAAA", DKIM_RES_PERMERROR,
		  DKIM_OUT_BADSIG, "v= not first" },
		{ "v=DKIM1; p=AAAA; p=AAAA", DKIM_RES_PERMERROR,
		  DKIM_OUT_BADSIG, "duplicate p=" },
		{ "v=DKIM1; s=tlsrpt; p=AAAA", DKIM_RES_PERMERROR,
		  DKIM_OUT_BADSIG, "key for another service" },
		{ NULL, DKIM_RES_TEMPERROR, DKIM_OUT_DNSERROR,
		  "lookup failure (SERVFAIL/timeout)" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		set_rec("rsa._domainkey.example.com", cases[i].txt);
		dkim_keycache_flush();
		verify_msg(h, plain.body, res, &out, ar, sizeof(ar), 0, 0);
		ok(res[0] == cases[i].want && out == cases[i].outcome,
		    "%s: %s, outcome %s", cases[i].name,
		    dkim_result_name(res[0]), dkim_outcome_name(out));
	}
	/* type mismatch: an Ed25519 record at the RSA selector */
	set_rec("rsa._domainkey.example.com", ed_rec);
	verify_msg(h, plain.body, res, &out, ar, sizeof(ar), 0, 0);
	ok(res[0] == DKIM_RES_PERMERROR, "key type does not match a=");
	/* h=sha1 only */
	{
		static char rec[4096];

		snprintf(rec, sizeof(rec), "v=DKIM1; h=sha1; %s",
		    rsa_rec + strlen("v=DKIM1; "));
		set_rec("rsa._domainkey.example.com", rec);
		verify_msg(h, plain.body, res, &out, ar, sizeof(ar), 0, 0);
		ok(res[0] == DKIM_RES_PERMERROR,
		    "key record h=sha1 refuses sha256");
		snprintf(rec, sizeof(rec), "v=DKIM1; h=sha1:sha256; t=y; %s",
		    rsa_rec + strlen("v=DKIM1; "));
		set_rec("rsa._domainkey.example.com", rec);
		verify_msg(h, plain.body, res, &out, ar, sizeof(ar), 0, 0);
		ok(res[0] == DKIM_RES_PASS && strstr(ar, "testing") != NULL,
		    "h=sha1:sha256 t=y passes, marked testing");
	}
	/* key missing */
	recs[0].name = "nothing.example";
	verify_msg(h, plain.body, res, &out, ar, sizeof(ar), 0, 0);
	ok(res[0] == DKIM_RES_PERMERROR && out == DKIM_OUT_NOKEY,
	    "no key record: permerror, outcome keynotfound");
	recs[0].name = "rsa._domainkey.example.com";
	set_rec("rsa._domainkey.example.com", rsa_rec);
	/* RFC 8301 minimum as a knob: a 2048-bit floor fails a 1024 key */
	{
		struct dkim_key *small = pem_key(rsa1024_pem);
		struct dkim_key *k1[1] = { small };
		const char *s1[1] = { "small" };
		char *hs = sign_msg(&plain, k1, s1, 1, DKIM_CANON_RELAXED,
		    DKIM_CANON_RELAXED);

		set_rec("small._domainkey.example.com", record_of(small));
		verify_msg(hs, plain.body, res, &out, ar, sizeof(ar), 0, 0);
		ok(res[0] == DKIM_RES_PASS, "1024-bit RSA passes by default");
		verify_msg(hs, plain.body, res, &out, ar, sizeof(ar), 0, 2048);
		ok(res[0] == DKIM_RES_FAIL, "under min_rsa_bits: fail");
		free(hs);
		dkim_key_free(&small);
	}
	(void)ed;
	free(h);
}

/* test_sig_parse - hostile and malformed DKIM-Signature values */
static void test_sig_parse(void)
{
	static const char good_tail[] = "bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMp"
	    "JWZG3hSuFU=; b=AAAA";
	static const struct {
		const char *v;
		int ok;
		enum dkim_result res;
		const char *name;
	} cases[] = {
		{ "v=1; a=rsa-sha256; d=example.com; s=s; h=from; %s", 1,
		  DKIM_RES_NONE, "minimal valid" },
		{ "v=1; a=rsa-sha256; d=example.com; s=s; h=from; "
		  "h=from; %s", 0, DKIM_RES_NEUTRAL, "duplicate tag" },
		{ "v=1; a=rsa-sha256; d=example.com; s=s; h=to; %s", 0,
		  DKIM_RES_PERMERROR, "From not signed" },
		{ "v=1; a=rsa-sha1; d=example.com; s=s; h=from; %s", 0,
		  DKIM_RES_FAIL, "rsa-sha1 fails (RFC 8301)" },
		{ "v=1; a=foo-sha256; d=example.com; s=s; h=from; %s", 0,
		  DKIM_RES_PERMERROR, "unknown algorithm" },
		{ "v=2; a=rsa-sha256; d=example.com; s=s; h=from; %s", 0,
		  DKIM_RES_NEUTRAL, "unknown version" },
		{ "a=rsa-sha256; d=example.com; s=s; h=from; %s", 0,
		  DKIM_RES_NEUTRAL, "no v=" },
		{ "v=1; a=rsa-sha256; d=example.com; h=from; %s", 0,
		  DKIM_RES_NEUTRAL, "no s=" },
		{ "v=1; a=rsa-sha256; d=exa mple.com; s=s; h=from; %s", 0,
		  DKIM_RES_NEUTRAL, "bad d=" },
		{ "v=1; a=rsa-sha256; d=example.com; s=s; h=from; "
		  "i=@evil.example; %s", 0, DKIM_RES_PERMERROR,
		  "i= outside d=" },
		{ "v=1; a=rsa-sha256; d=example.com; s=s; h=from; "
		  "i=u@sub.example.com; %s", 1, DKIM_RES_NONE,
		  "i= in a subdomain of d=" },
		{ "v=1; a=rsa-sha256; d=example.com; s=s; h=from; "
		  "l=99999999999999999999999999999999999999999999; %s", 1,
		  DKIM_RES_NONE, "absurd l= parses (and is clamped)" },
		{ "v=1; a=rsa-sha256; d=example.com; s=s; h=from; "
		  "l=-5; %s", 0, DKIM_RES_NEUTRAL, "negative l=" },
		{ "v=1; a=rsa-sha256; d=example.com; s=s; h=from; "
		  "l=1111111111111111111111111111111111111111111111111111111"
		  "111111111111111111111111; %s", 0, DKIM_RES_NEUTRAL,
		  "l= over 76 digits" },
		{ "v=1; a=rsa-sha256; d=example.com; s=s; h=from; "
		  "t=200; x=100; %s", 0, DKIM_RES_PERMERROR, "x= before t=" },
		{ "v=1; a=rsa-sha256; d=example.com; s=s; h=from; "
		  "q=http/x; %s", 0, DKIM_RES_PERMERROR, "no dns/txt in q=" },
		{ "v=1; a=rsa-sha256; d=example.com; s=s; h=from; "
		  "c=weird; %s", 0, DKIM_RES_NEUTRAL, "unknown c=" },
		{ "v=1; a=rsa-sha256; d=example.com; s=s; h=from;; %s", 0,
		  DKIM_RES_NEUTRAL, "empty tag" },
		{ "v=1; a=rsa-sha256; d=example.com; s=s; h=from; 1x=3; %s",
		  0, DKIM_RES_NEUTRAL, "tag name starting with a digit" },
		{ "v=1; a=rsa-sha256; d=example.com; s=s; h=from; noequals; "
		  "%s", 0, DKIM_RES_NEUTRAL, "tag without '='" },
		{ "v=1; a=rsa-sha256; d=example.com; s=s; h=from::to; %s", 0,
		  DKIM_RES_NEUTRAL, "empty name in h=" },
		{ "v=1; a=rsa-sha256; d=example.com; s=s; h=from; "
		  "bh=!!; b=AAAA", 0, DKIM_RES_NEUTRAL, "broken base64 bh=" },
		{ "v=1; a=rsa-sha256; d=example.com; s=s; h=from; "
		  "bh=AAAA; b=AA=A", 0, DKIM_RES_NEUTRAL,
		  "data after padding in b=" },
		{ "v=1; a=rsa-sha256; d=example.com; s=s; h=from; "
		  "bh=AAAA; b=AAAAA", 0, DKIM_RES_NEUTRAL,
		  "b= of 5 characters" },
		{ "v=1; a=rsa-sha256; d=example.com; s=s; h=from; "
		  "bh=AAAA; b=", 0, DKIM_RES_NEUTRAL, "empty b=" },
		{ "v=1; a=rsa-sha256; d=example.com; s=s; h=from; bh=AAAA",
		  0, DKIM_RES_NEUTRAL, "no b=" },
	};
	char v[1024];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dkim_sig sig;
		enum dkim_result res = DKIM_RES_NONE;
		const char *err = "";
		int rc;

		const char *pct = strstr(cases[i].v, "%s");

		/* the case text with good_tail in place of its "%s" */
		if (pct)
			snprintf(v, sizeof(v), "%.*s%s%s",
			    (int)(pct - cases[i].v), cases[i].v, good_tail,
			    pct + 2);
		else
			snprintf(v, sizeof(v), "%s", cases[i].v);
		rc = dkim_sig_parse(v, strlen(v), &sig, &res, &err);
		ok((rc == 0) == cases[i].ok && (rc == 0 ||
		    res == cases[i].res), "%s: %s%s%s", cases[i].name,
		    rc == 0 ? "parsed" : dkim_result_name(res),
		    rc == 0 ? "" : ", ", rc == 0 ? "" : err);
		if (rc == 0)
			dkim_sig_free(&sig);
	}
	/* a huge h= list: refused by policy, bounded work */
	{
		struct buf b;
		struct dkim_sig sig;
		enum dkim_result res;
		const char *err;
		int rc;

		buf_init(&b, 1 << 20);
		buf_appends(&b, "v=1; a=rsa-sha256; d=example.com; s=s; h=from");
		for (int i = 0; i < 5000; i++)
			buf_appends(&b, ":x-h");
		buf_appendf(&b, "; %s", good_tail);
		rc = dkim_sig_parse(b.data, b.len, &sig, &res, &err);
		ok(rc < 0 && (res == DKIM_RES_POLICY ||
		    res == DKIM_RES_NEUTRAL), "5000-name h= refused (%s: %s)",
		    dkim_result_name(res), err);
		buf_free(&b);
	}
	/* NUL inside the value */
	{
		struct dkim_sig sig;
		enum dkim_result res;
		const char *err;
		char nul[] = "v=1; a=rsa-sha256; d=ex\0ample.com; s=s; h=from";

		ok(dkim_sig_parse(nul, sizeof(nul) - 1, &sig, &res, &err) < 0,
		    "NUL in the value refused");
	}
}

/* test_limits - signature cap, expiry, header bounds */
static void test_limits(struct dkim_key *rsa)
{
	struct dkim_key *keys[4] = { rsa, rsa, rsa, rsa };
	const char *sels[4] = { "rsa", "rsa", "rsa", "rsa" };
	enum dkim_result res[DKIM_SIGS_MAX];
	enum dkim_outcome out;
	char ar[8192];
	char *h = sign_msg(&plain, keys, sels, 4, DKIM_CANON_RELAXED,
	    DKIM_CANON_RELAXED);
	size_t n;
	int before = lookups;

	n = verify_msg(h, plain.body, res, &out, ar, sizeof(ar), 2, 0);
	ok(n == 4 && res[0] == DKIM_RES_PASS && res[1] == DKIM_RES_PASS &&
	    res[2] == DKIM_RES_POLICY && res[3] == DKIM_RES_POLICY,
	    "max_signatures 2: two checked, the rest policy");
	ok(lookups - before == 2, "only the checked ones are looked up");
	free(h);
	/* header count bound */
	{
		struct dkim_msg_opts o = { 0 };
		struct dkim_msg *m = dkim_msg_new(&o);
		const char *err = NULL;
		int rc = 0, i;

		for (i = 0; i < 10000 && rc == 0; i++)
			rc = dkim_msg_header(m, "X-A", " b", 2, &err);
		ok(rc < 0 && i <= 4097, "header count bounded (%d): %s", i,
		    err ? err : "");
		dkim_msg_free(&m);
	}
}

/* test_keys - key files and records */
static void test_keys(struct dkim_key *rsa, struct dkim_key *ed,
    const char *rsa_rec, const char *ed_rec)
{
	struct dkim_keyrec r;
	const char *err = "";
	FILE *fp;
	char path[] = "/tmp/dkim_t.XXXXXX";
	int fd;

	ok(dkim_keyrec_parse(rsa_rec, strlen(rsa_rec), &r, &err) == 0 &&
	    r.bits == 2048 && !r.ed25519 && dkim_keyrec_matches(&r, rsa) &&
	    !dkim_keyrec_matches(&r, ed), "RSA record parses, matches");
	dkim_keyrec_free(&r);
	ok(dkim_keyrec_parse(ed_rec, strlen(ed_rec), &r, &err) == 0 &&
	    r.ed25519 && dkim_keyrec_matches(&r, ed), "Ed25519 record");
	dkim_keyrec_free(&r);
	ok(dkim_key_alg(ed) == DKIM_ALG_ED25519_SHA256 &&
	    dkim_key_alg(rsa) == DKIM_ALG_RSA_SHA256 &&
	    dkim_key_bits(rsa) == 2048, "key algorithms and bits");
	ok(dkim_key_from_pem("garbage", 7, &err) == NULL,
	    "garbage PEM refused: %s", err);
	fd = mkstemp(path);
	fp = fdopen(fd, "w");
	fputs("x", fp);
	fclose(fp);
	chmod(path, 0600);
	ok(dkim_keyfile_check(path, &err) == 0, "0600 key file is safe");
	chmod(path, 0640);
	ok(dkim_keyfile_check(path, &err) < 0, "0640 refused: %s", err);
	chmod(path, 0604);
	ok(dkim_keyfile_check(path, &err) < 0, "0604 refused");
	unlink(path);
	ok(dkim_keyfile_check(path, &err) < 0, "missing file: %s", err);
}

/* result_words - dkim_result_parse is the inverse of dkim_result_name */
static void result_words(void)
{
	enum dkim_result r;
	int ok_all = 1;

	for (int i = DKIM_RES_NONE; i <= DKIM_RES_PERMERROR; i++)
		if (dkim_result_parse(dkim_result_name((enum dkim_result)i),
		    &r) < 0 || r != (enum dkim_result)i)
			ok_all = 0;
	ok(ok_all, "every result word parses back to its result");
	ok(dkim_result_parse("TempError", &r) == 0 &&
	    r == DKIM_RES_TEMPERROR, "any case");
	is_int(dkim_result_parse("passed", &r), -1, "unknown word refused");
	is_int(dkim_result_parse("", &r), -1, "empty word refused");
}

int main(void)
{
	struct dkim_key *rsa = pem_key(rsa2048_pem);
	struct dkim_key *ed = pem_key(ed25519_pem);
	const char *rsa_rec = record_of(rsa), *ed_rec = record_of(ed);

	result_words();
	set_rec("rsa._domainkey.example.com", rsa_rec);
	set_rec("ed._domainkey.example.com", ed_rec);
	test_roundtrip(rsa, ed);
	test_body_hashes(rsa);
	test_chunking(rsa);
	test_sig_parse();
	test_limits(rsa);
	test_keys(rsa, ed, rsa_rec, ed_rec);
	test_dns_outcomes(rsa, ed, rsa_rec, ed_rec);
	dkim_key_free(&rsa);
	dkim_key_free(&ed);
	dkim_keycache_flush();
	return done_testing();
}
