/*
 * psl_t.c - the Public Suffix List (common/psl.c): the upstream
 * checkPublicSuffix vectors (t/psl/test_psl.txt, IDN rows included)
 * against the pinned list (t/psl/public_suffix_list.dat), RFC 3492
 * Punycode samples, hostile names, every load limit crossed, the
 * Debian package's list, and lookups from several threads at once.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "psl.h"
#include "tap.h"

#define VEC_MAX		200	/* vectors kept for the thread test */
#define VEC_NAME	300	/* bytes of one vector name */
#define THREADS		4
#define THREAD_ROUNDS	200

struct vec {
	int null_in;			/* checkPublicSuffix(null, ...) */
	char in[VEC_NAME];		/* A-labels */
	const char *want;		/* NULL or into want_buf */
	char want_buf[VEC_NAME];
};

static struct vec vecs[VEC_MAX];
static size_t nvecs;

/* data_path - srcdir/t/psl/name (srcdir from make check, else ".") */
static const char *data_path(const char *name, char *out, size_t outlen)
{
	const char *srcdir = getenv("srcdir");
	int n = snprintf(out, outlen, "%s/t/psl/%s", srcdir ? srcdir : ".",
	    name);

	if (n < 0 || (size_t)n >= outlen) {
		printf("Bail out! path too long\n");
		exit(1);
	}
	return out;
}

/* ms_since - milliseconds since t0 */
static double ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 +
	    (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* lower - a lower-case copy of s (or NULL) in out */
static const char *lower(const char *s, char *out, size_t outlen)
{
	size_t i;

	if (s == NULL)
		return NULL;
	for (i = 0; s[i] && i + 1 < outlen; i++)
		out[i] = (char)tolower((unsigned char)s[i]);
	out[i] = '\0';
	return out;
}

/* org_lc - psl_org_domain, lower-cased (the result keeps the name's
 * case; the vectors give it in lower case) */
static const char *org_lc(const struct psl *p, const char *name, char *out,
    size_t outlen)
{
	return lower(psl_org_domain(p, name), out, outlen);
}

/* vec_arg - one argument: null or '...'; the position after it, or NULL */
static const char *vec_arg(const char *s, int *null_r, char *out,
    size_t outlen)
{
	const char *q;

	while (*s == ' ')
		s++;
	if (strncmp(s, "null", 4) == 0) {
		*null_r = 1;
		return s + 4;
	}
	if (*s != '\'' || (q = strchr(s + 1, '\'')) == NULL ||
	    (size_t)(q - s - 1) >= outlen)
		return NULL;
	*null_r = 0;
	memcpy(out, s + 1, (size_t)(q - s - 1));
	out[q - s - 1] = '\0';
	return q + 1;
}

/* vector_tests - every checkPublicSuffix line of test_psl.txt */
static void vector_tests(const struct psl *p)
{
	char path[4096], line[1024];
	FILE *fp = fopen(data_path("test_psl.txt", path, sizeof(path)), "r");
	size_t idn = 0;

	if (!ok(fp != NULL, "open %s", path))
		return;
	while (fgets(line, sizeof(line), fp) != NULL) {
		char in[VEC_NAME], want[VEC_NAME], got[VEC_NAME];
		int in_null = 0, want_null = 0, is_idn = 0;
		const char *s = line;
		struct vec *v;

		if (strncmp(s, "checkPublicSuffix(", 18) != 0)
			continue;
		line[strcspn(line, "\r\n")] = '\0';
		s = vec_arg(s + 18, &in_null, in, sizeof(in));
		if (s != NULL && *s == ',')
			s = vec_arg(s + 1, &want_null, want, sizeof(want));
		else
			s = NULL;
		if (!ok(s != NULL && strncmp(s, ");", 2) == 0,
		    "vector line parses: %.60s", line))
			continue;
		if (nvecs == VEC_MAX) {
			printf("Bail out! more than VEC_MAX vectors\n");
			exit(1);
		}
		v = &vecs[nvecs++];
		v->null_in = in_null;
		v->want = NULL;
		for (const char *c = in; !in_null && *c; c++)
			is_idn |= (unsigned char)*c >= 0x80;
		idn += is_idn;
		/* Unicode rows: input and expected value to A-labels */
		if (!is_idn) {
			snprintf(v->in, sizeof(v->in), "%s", in);
		} else if (psl_to_ascii(in, v->in, sizeof(v->in)) < 0) {
			ok(0, "to A-labels: %s", in);
			nvecs--;
			continue;
		}
		if (!want_null) {
			if (psl_to_ascii(want, v->want_buf,
			    sizeof(v->want_buf)) < 0) {
				ok(0, "to A-labels: %s", want);
				nvecs--;
				continue;
			}
			v->want = v->want_buf;
		}
		snprintf(line, sizeof(line), "%s%s%s", in_null ? "(null)" : in,
		    is_idn ? " as " : "", is_idn ? v->in : "");
		is_str(org_lc(p, in_null ? NULL : v->in, got, sizeof(got)),
		    v->want, line);
	}
	fclose(fp);
	is_int(nvecs, 78, "every vector of the pinned file read (78)");
	ok(idn >= 9, "%zu of them Unicode rows, tested as A-labels", idn);
}

/* cjk - n distinct CJK characters (U+4E00 + 37i) as UTF-8 in out */
static char *cjk(char *out, size_t outlen, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 4 < outlen; i++) {
		uint32_t c = 0x4e00 + 37 * (uint32_t)i;

		out[o++] = (char)(0xe0 | (c >> 12));
		out[o++] = (char)(0x80 | ((c >> 6) & 0x3f));
		out[o++] = (char)(0x80 | (c & 0x3f));
	}
	out[o] = '\0';
	return out;
}

/* punycode_tests - RFC 3492 7.1 samples and psl_to_ascii */
static void punycode_tests(void)
{
	static const uint32_t arabic[] = { 0x644, 0x64a, 0x647, 0x645, 0x627,
	    0x628, 0x62a, 0x643, 0x644, 0x645, 0x648, 0x634, 0x639, 0x631,
	    0x628, 0x64a, 0x61f };
	static const uint32_t chinese[] = { 0x4ed6, 0x4eec, 0x4e3a, 0x4ec0,
	    0x4e48, 0x4e0d, 0x8bf4, 0x4e2d, 0x6587 };
	static const uint32_t kinpachi[] = { '3', 0x5e74, 'B', 0x7d44, 0x91d1,
	    0x516b, 0x5148, 0x751f };
	static const uint32_t dollar[] = { '-', '>', ' ', '$', '1', '.', '0',
	    '0', ' ', '<', '-' };
	static const uint32_t bad[] = { 'a', 0x110000 };
	char out[300], small[8];
	int r;

	r = psl_punycode(arabic, sizeof(arabic) / 4, out, sizeof(out));
	is_str(r > 0 ? out : NULL, "egbpdaj6bu4bxfgehfvwxn", "RFC 3492 (A)");
	r = psl_punycode(chinese, sizeof(chinese) / 4, out, sizeof(out));
	is_str(r > 0 ? out : NULL, "ihqwcrb4cv8a8dqg056pqjye", "RFC 3492 (B)");
	r = psl_punycode(kinpachi, sizeof(kinpachi) / 4, out, sizeof(out));
	is_str(r > 0 ? out : NULL, "3B-ww4c5e180e575a65lsy2b",
	    "RFC 3492 (L): basic code points first, case kept");
	r = psl_punycode(dollar, sizeof(dollar) / 4, out, sizeof(out));
	is_str(r > 0 ? out : NULL, "-> $1.00 <--", "RFC 3492 (S): all basic");
	is_int(r, 12, "...returns the length");
	is_int(psl_punycode(chinese, sizeof(chinese) / 4, small,
	    sizeof(small)), -1, "output too small refused");
	is_int(psl_punycode(bad, 2, out, sizeof(out)), -1,
	    "code point over 0x10FFFF refused");

	is_int(psl_to_ascii("Bücher.DE", out, sizeof(out)), 0, "to_ascii");
	is_str(out, "xn--bcher-kva.de", "...ASCII lower-cased, label encoded");
	psl_to_ascii("aéroport.ci", out, sizeof(out));
	is_str(out, "xn--aroport-bya.ci", "aéroport.ci");
	psl_to_ascii("食狮.公司.cn", out, sizeof(out));
	is_str(out, "xn--85x722f.xn--55qx5d.cn", "食狮.公司.cn");
	is_int(psl_to_ascii("a\xc3", out, sizeof(out)), -1,
	    "truncated UTF-8 refused");
	is_int(psl_to_ascii("\xc0\xaf.com", out, sizeof(out)), -1,
	    "overlong UTF-8 refused");
	is_int(psl_to_ascii("\xed\xa0\x80.com", out, sizeof(out)), -1,
	    "UTF-8 surrogate refused");
	is_int(psl_to_ascii("\xf4\x90\x80\x80.com", out, sizeof(out)), -1,
	    "UTF-8 over U+10FFFF refused");
	is_int(psl_to_ascii("a..b", out, sizeof(out)), -1,
	    "empty label refused");
	is_int(psl_to_ascii("", out, sizeof(out)), -1, "empty name refused");
	is_int(psl_to_ascii("食狮.cn", small, sizeof(small)), -1,
	    "output too small refused");
	{
		char name[400];

		/* n distinct CJK characters U+4E00 + 37i: 25 make an
		   A-label of 57 bytes, 28 one of 66 (values from Python's
		   punycode codec) */
		is_int(psl_to_ascii(cjk(name, sizeof(name), 25), out,
		    sizeof(out)), 0, "25 CJK: fits in a label");
		is_str(out, "xn--4gq6c1e7f9goiqjqkolwmrnyoqpwq2r8svt0u5vexjyoz0z4"
		    "0ap0a", "25 CJK: encoded");
		is_int(psl_to_ascii(cjk(name, sizeof(name), 28), out,
		    sizeof(out)), -1, "28 CJK: A-label over 63 bytes refused");
		is_int(psl_to_ascii(cjk(name, sizeof(name), 64), out,
		    sizeof(out)), -1, "64 CJK: refused");
		memset(name, 'a', PSL_LABEL_MAX);
		strcpy(name + PSL_LABEL_MAX, ".é");
		is_int(psl_to_ascii(name, out, sizeof(out)), 0,
		    "63-byte ASCII label kept");
		name[PSL_LABEL_MAX] = 'a';
		strcpy(name + PSL_LABEL_MAX + 1, ".é");
		is_int(psl_to_ascii(name, out, sizeof(out)), -1,
		    "64-byte ASCII label refused");
	}
}

/* rule_tests - public suffixes, private section, pointer into name */
static void rule_tests(const struct psl *p)
{
	static const char *const cases[][3] = {
		/* name, public suffix, org domain */
		{ "www.example.com", "com", "example.com" },
		{ "a.b.example.co.uk", "co.uk", "example.co.uk" },
		{ "example", "example", NULL },	/* implicit "*" */
		{ "foo.example", "example", "foo.example" },
		{ "a.b.c.kobe.jp", "c.kobe.jp", "b.c.kobe.jp" },	/* *. */
		{ "www.city.kobe.jp", "kobe.jp", "city.kobe.jp" },	/* ! */
		{ "city.kobe.jp", "kobe.jp", "city.kobe.jp" },
		{ "kobe.jp", "jp", "kobe.jp" },	/* *.kobe.jp: not kobe.jp */
		{ "www.ck", "ck", "www.ck" },
		{ "x.test.ck", "test.ck", "x.test.ck" },
		{ "ck", "ck", NULL },
		/* PRIVATE section counts */
		{ "me.blogspot.com", "blogspot.com", "me.blogspot.com" },
		{ "blogspot.com", "blogspot.com", NULL },
		{ "a.b.s3.ap-south-1.amazonaws.com",
		    "s3.ap-south-1.amazonaws.com",
		    "b.s3.ap-south-1.amazonaws.com" },
		/* parents of rules only: no rule of their own */
		{ "amazonaws.com", "com", "amazonaws.com" },
		{ "x.ap-south-1.amazonaws.com", "com", "amazonaws.com" },
		/* IDN rule loaded as A-labels: 公司.cn */
		{ "x.xn--55qx5d.cn", "xn--55qx5d.cn", "x.xn--55qx5d.cn" },
		{ "www.XN--55QX5D.CN", "XN--55QX5D.CN", "www.XN--55QX5D.CN" },
	};
	char name[300];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *ps, *org;

		snprintf(name, sizeof(name), "%s", cases[i][0]);
		ps = psl_public_suffix(p, name);
		org = psl_org_domain(p, name);
		is_str(ps, cases[i][1], name);
		is_str(org, cases[i][2], name);
		ok(ps >= name && ps < name + strlen(name) &&
		    (org == NULL || (org >= name && org <= ps)),
		    "%s: pointers into the name", name);
	}
	is_str(psl_public_suffix(p, "WWW.EXAMPLE.CO.UK"), "CO.UK",
	    "upper case: the name's own case comes back");
}

/* hostile_tests - names from mail that must not crash or be believed */
static void hostile_tests(const struct psl *p)
{
	char name[600];
	size_t i;

	is_str(psl_org_domain(p, "www.example.com."), "example.com.",
	    "trailing dot ignored (and kept in the answer)");
	is_str(psl_public_suffix(p, "co.uk."), "co.uk.", "trailing dot: ps");
	is_str(psl_org_domain(p, "co.uk."), NULL, "trailing dot: no org");
	is_str(psl_org_domain(p, "example.com.."), NULL, "two trailing dots");
	is_str(psl_org_domain(p, "."), NULL, "lone dot");
	is_str(psl_public_suffix(p, "."), NULL, "lone dot: no ps");
	is_str(psl_org_domain(p, ""), NULL, "empty name");
	is_str(psl_public_suffix(p, ""), NULL, "empty name: no ps");
	is_str(psl_public_suffix(p, NULL), NULL, "NULL name");
	is_str(psl_org_domain(p, "a..example.com"), NULL, "empty label");
	is_str(psl_org_domain(p, "www.example..com"), NULL,
	    "empty label next to the suffix");
	is_str(psl_org_domain(p, ".www.example.com"), NULL, "leading dot");
	is_str(psl_org_domain(p, "WWW.Example.CO.UK"), "Example.CO.UK",
	    "upper case matched");
	is_str(psl_org_domain(p, "www.\xc3\xa9xample.com"), NULL,
	    "UTF-8 bytes refused (mail carries A-labels)");
	is_str(psl_org_domain(p, "www.example.\xff"), NULL, "0xff refused");
	is_str(psl_org_domain(p, "www.exa\x01mple.com"), NULL,
	    "control byte refused");
	is_str(psl_org_domain(p, "www.exa\\mple.com"), NULL,
	    "backslash refused");
	is_str(psl_public_suffix(p, "*.ck"), "*.ck",
	    "a literal '*' label is just a label under *.ck");
	is_str(psl_org_domain(p, "*.ck"), NULL, "...so no org domain");
	is_str(psl_public_suffix(p, "!www.ck"), "!www.ck",
	    "a literal '!' is not the exception !www.ck");
	is_str(psl_org_domain(p, "www.ck"), "www.ck", "(www.ck is)");

	/* label length: 63 is fine, 64 is not */
	memset(name, 'a', 63);
	strcpy(name + 63, ".example.com");
	is_str(psl_org_domain(p, name), "example.com", "63-byte label");
	memset(name, 'a', 64);
	strcpy(name + 64, ".example.com");
	is_str(psl_org_domain(p, name), NULL, "64-byte label refused");

	/* name length: 253 fine (with or without a final dot), 254 not */
	memset(name, 0, sizeof(name));
	for (i = 0; i < 249; i += 2)
		memcpy(name + i, "a.", 2);	/* 250 bytes: 125 labels */
	strcpy(name + 250, "com");
	is_int(strlen(name), 253, "253-byte name built");
	is_str(psl_org_domain(p, name), "a.com", "253-byte name");
	strcat(name, ".");
	is_str(psl_org_domain(p, name), "a.com.", "253 bytes + final dot");
	name[253] = 'x';
	is_str(psl_org_domain(p, name), NULL, "254-byte name refused");
	memset(name, 'a', 300);
	for (i = 50; i < 300; i += 50)
		name[i] = '.';
	name[300] = '\0';
	is_str(psl_org_domain(p, name), NULL, "300-byte name refused");
	is_str(psl_public_suffix(p, name), NULL, "300-byte name: no ps");
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	is_str(psl_org_domain(p, name), NULL, "599-byte label refused");

	/* 127 labels (the most 253 bytes hold), then 128 */
	for (i = 0; i < 127; i++)
		memcpy(name + 2 * i, "a.", 2);
	name[253] = '\0';
	is_int(strlen(name), 253, "127 labels built");
	is_str(psl_org_domain(p, name), "a.a", "127 labels: unlisted TLD a");
	is_str(psl_public_suffix(p, name), "a", "127 labels: ps");
	memcpy(name + 253, ".a", 3);
	is_str(psl_org_domain(p, name), NULL, "128 labels (255 bytes) refused");
	/* 124 labels under a deep rule */
	memset(name, 0, sizeof(name));
	for (i = 0; i < 243; i += 2)
		memcpy(name + i, "x.", 2);
	strcpy(name + 244, "kobe.jp");
	is_str(psl_org_domain(p, name), "x.x.kobe.jp",
	    "many labels under a wildcard");
}

/* write_file - a new temporary file holding text; its name in path[] */
static void write_file(char *path, const char *text)
{
	int fd;
	FILE *fp;

	strcpy(path, "/tmp/psl_t.XXXXXX");
	fd = mkstemp(path);
	if (fd < 0 || (fp = fdopen(fd, "w")) == NULL) {
		printf("Bail out! mkstemp\n");
		exit(1);
	}
	fputs(text, fp);
	fclose(fp);
}

/* load_tests - malformed lines, limits, missing file */
static void load_tests(void)
{
	char path[64], line[PSL_LINE_MAX + 8];
	const char *err = NULL;
	struct psl *p;
	FILE *fp;
	size_t i;

	p = psl_load("/nonexistent/psl.dat", &err);
	ok(p == NULL && err && strstr(err, "/nonexistent/psl.dat"),
	    "missing file: error names it (%s)", err ? err : "-");
	psl_free(&p);
	psl_free(&p);	/* NULL is fine */

	write_file(path, "// only comments\n\n   \n// ===BEGIN ICANN "
	    "DOMAINS===\n");
	p = psl_load(path, &err);
	ok(p == NULL && err && strstr(err, "no rules"),
	    "a file with no rules is refused (%s)", err ? err : "-");
	unlink(path);

	write_file(path,
	    "// comment\r\n"
	    "com\r\n"
	    "  uk\n"			/* leading blanks */
	    "co.uk trailing words\n"	/* read up to the whitespace */
	    "CO.UK\n"			/* duplicate after lower-casing */
	    "*.ck\n"
	    "!www.ck\n"
	    "*\n"			/* the implicit rule: not counted */
	    "ex..ample\n"		/* malformed: empty label */
	    ".lead\n"			/* malformed */
	    "trail.\n"			/* malformed */
	    "a.*.b\n"			/* malformed: inner wildcard */
	    "*.*.c\n"			/* malformed */
	    "!tld\n"			/* malformed: no parent */
	    "!*.x.y\n"			/* malformed */
	    "bad\\.name\n"		/* malformed: backslash */
	    "caf\xc3\n"			/* malformed: bad UTF-8 */
	    "caf\xc3\xa9.fr\n"		/* café.fr: ok */
	    "no-newline-at-end.net");
	p = psl_load(path, &err);
	if (ok(p != NULL, "small list loads")) {
		is_int(psl_rules(p), 7, "7 distinct rules");
		is_int(psl_skipped(p), 9, "9 malformed lines skipped");
		is_str(psl_org_domain(p, "a.b.co.uk"), "b.co.uk",
		    "rule after leading blanks / before words");
		is_str(psl_org_domain(p, "www.xn--caf-dma.fr"),
		    "www.xn--caf-dma.fr", "café.fr as an A-label");
		is_str(psl_public_suffix(p, "x.no-newline-at-end.net"),
		    "no-newline-at-end.net", "last line without newline");
		is_str(psl_public_suffix(p, "a.b.c"), "c",
		    "malformed *.*.c not half-loaded");
	}
	psl_free(&p);
	unlink(path);

	/* line length: PSL_LINE_MAX bytes kept, one more skipped */
	write_file(path, "");
	fp = fopen(path, "w");
	for (int extra = 0; extra <= 1; extra++) {
		size_t n = PSL_LINE_MAX + (size_t)extra;

		memset(line, ' ', n);
		memcpy(line, extra ? "long.b" : "long.a", 6);
		line[n - 1] = 'x';	/* words after the rule */
		line[n] = '\n';
		fwrite(line, 1, n + 1, fp);
	}
	fclose(fp);
	p = psl_load(path, &err);
	if (ok(p != NULL, "long lines: loads")) {
		is_int(psl_rules(p), 1, "line of PSL_LINE_MAX bytes read");
		is_int(psl_skipped(p), 1, "line of PSL_LINE_MAX+1 skipped");
		is_str(psl_org_domain(p, "x.long.b"), "long.b",
		    "skipped rule not used");
	}
	psl_free(&p);

	/* rules: PSL_RULES_MAX load, one more is refused */
	for (int extra = 0; extra <= 1; extra++) {
		fp = fopen(path, "w");
		for (i = 0; i < (size_t)PSL_RULES_MAX + (size_t)extra; i++)
			fprintf(fp, "r%zu.test\n", i);
		fprintf(fp, "r0.test\nR1.TEST\n");	/* duplicates: free */
		fclose(fp);
		p = psl_load(path, &err);
		if (extra == 0) {
			ok(p != NULL && psl_rules(p) == PSL_RULES_MAX,
			    "PSL_RULES_MAX rules load");
			is_str(psl_org_domain(p, "a.b.r99999.test"),
			    "b.r99999.test", "...and the last is used");
		} else {
			ok(p == NULL && err && strstr(err, "RULES_MAX"),
			    "PSL_RULES_MAX+1 rules refused (%s)",
			    err ? err : "-");
		}
		psl_free(&p);
	}

	/* table entries: each rule a.b.c.N adds 4 (a.b.c.N, b.c.N, c.N,
	   N); then 4 more for PSL_NODES_MAX exactly, or 5 for one more */
	for (int extra = 0; extra <= 1; extra++) {
		fp = fopen(path, "w");
		for (i = 0; i < PSL_NODES_MAX / 4 - 1; i++)
			fprintf(fp, "a.b.c.n%zu\n", i);
		fprintf(fp, extra ? "v.w.x.y.z\n" : "w.x.y.z\n");
		fclose(fp);
		p = psl_load(path, &err);
		if (extra == 0)
			ok(p != NULL, "PSL_NODES_MAX entries load");
		else
			ok(p == NULL && err && strstr(err, "NODES_MAX"),
			    "PSL_NODES_MAX+1 entries refused (%s)",
			    err ? err : "-");
		psl_free(&p);
	}

	/* file size: PSL_FILE_MAX bytes load, one more is refused */
	for (int extra = 0; extra <= 1; extra++) {
		size_t left = PSL_FILE_MAX + (size_t)extra;

		fp = fopen(path, "w");
		fputs("big.example\n", fp);
		left -= 12;
		memset(line, '/', 100);
		line[99] = '\n';
		while (left >= 100) {
			fwrite(line, 1, 100, fp);
			left -= 100;
		}
		fwrite(line + 100 - left, 1, left, fp);
		fclose(fp);
		p = psl_load(path, &err);
		if (extra == 0)
			ok(p != NULL && psl_rules(p) == 1,
			    "PSL_FILE_MAX bytes load");
		else
			ok(p == NULL && err && strstr(err, "larger"),
			    "PSL_FILE_MAX+1 bytes refused (%s)",
			    err ? err : "-");
		psl_free(&p);
	}
	unlink(path);
}

struct thread_arg {
	const struct psl *p;
	size_t bad;
};

/* thread_main - every vector, many times, against the answers of the
 * single-threaded run */
static void *thread_main(void *arg)
{
	struct thread_arg *t = arg;

	for (int r = 0; r < THREAD_ROUNDS; r++) {
		for (size_t i = 0; i < nvecs; i++) {
			char got[VEC_NAME];
			const char *g = org_lc(t->p, vecs[i].null_in ? NULL :
			    vecs[i].in, got, sizeof(got));

			if ((g == NULL) != (vecs[i].want == NULL) ||
			    (g && strcmp(g, vecs[i].want) != 0))
				t->bad++;
		}
	}
	return NULL;
}

/* thread_tests - one loaded list shared by THREADS threads */
static void thread_tests(const struct psl *p)
{
	pthread_t th[THREADS];
	struct thread_arg ta[THREADS];
	size_t bad = 0;

	for (int i = 0; i < THREADS; i++) {
		ta[i].p = p;
		ta[i].bad = 0;
		if (pthread_create(&th[i], NULL, thread_main, &ta[i]) != 0) {
			printf("Bail out! pthread_create\n");
			exit(1);
		}
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		bad += ta[i].bad;
	}
	is_int(bad, 0, "shared by threads: every answer as single-threaded");
}

/* debian_tests - the list the package installs */
static void debian_tests(void)
{
	const char *err = NULL;
	struct timespec t0;
	struct psl *p;
	double ms;

	if (access(PSL_DEBIAN_PATH, R_OK) != 0) {
		ok(1, "# SKIP %s absent (apt-get install publicsuffix)",
		    PSL_DEBIAN_PATH);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	p = psl_load(PSL_DEBIAN_PATH, &err);
	ms = ms_since(&t0);
	if (!ok(p != NULL, "Debian list loads (%s)", p ? "ok" : err))
		return;
	ok(psl_rules(p) > 8000, "Debian list: %zu rules (> 8000), %zu "
	    "skipped, %.1f ms", psl_rules(p), psl_skipped(p), ms);
	is_str(psl_org_domain(p, "mail.example.co.uk"), "example.co.uk",
	    "Debian list answers");
	psl_free(&p);
}

int main(void)
{
	char path[4096];
	const char *err = NULL;
	struct psl *p;

	punycode_tests();
	p = psl_load(data_path("public_suffix_list.dat", path, sizeof(path)),
	    &err);
	if (!ok(p != NULL, "load %s (%s)", path, p ? "ok" : err))
		return done_testing();
	ok(psl_rules(p) > 8000, "pinned list: %zu rules", psl_rules(p));
	is_int(psl_skipped(p), 0, "pinned list: no line skipped");
	vector_tests(p);
	rule_tests(p);
	hostile_tests(p);
	thread_tests(p);
	psl_free(&p);
	ok(p == NULL, "psl_free sets the pointer to NULL");
	load_tests();
	debian_tests();
	return done_testing();
}
