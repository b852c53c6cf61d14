/*
 * geoip_t.c - GeoIP lookups and policy (common/geoip.c): every row of
 * MaxMind's expected-*.tsv (t/geoip/, IPv4 and IPv6) against
 * geoip_lookup, continents and fallbacks, corrupt and truncated
 * databases, the policy parser's errors and every limit crossed,
 * decisions, the log and header formatters with hostile input, reload
 * by rename (databases and policy; a broken replacement is kept out and
 * logged once), and lookups from 4 threads while files are swapped.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "geoip.h"
#include "inet.h"
#include "log.h"
#include "tap.h"

#define PATH_SIZE	512
#define TSV_LINE	1024
#define THREADS		4
#define THREAD_MS	1500

static char tmpdir[PATH_SIZE];

/* data_path - srcdir/t/geoip/name (srcdir from make check, else ".") */
static const char *data_path(const char *name, char *out, size_t outlen)
{
	const char *srcdir = getenv("srcdir");
	int n = snprintf(out, outlen, "%s/t/geoip/%s", srcdir ? srcdir : ".",
	    name);

	if (n < 0 || (size_t)n >= outlen) {
		printf("Bail out! path too long\n");
		exit(1);
	}
	return out;
}

/* tmp_path - tmpdir/name */
static const char *tmp_path(const char *name, char *out, size_t outlen)
{
	int n = snprintf(out, outlen, "%s/%s", tmpdir, name);

	if (n < 0 || (size_t)n >= outlen) {
		printf("Bail out! path too long\n");
		exit(1);
	}
	return out;
}

/* read_all - a whole file into a malloc'ed buffer; NULL on error */
static char *read_all(const char *path, size_t *len_r)
{
	FILE *fp = fopen(path, "rb");
	char *p = NULL;
	long n;

	if (fp == NULL)
		return NULL;
	if (fseek(fp, 0, SEEK_END) == 0 && (n = ftell(fp)) >= 0 &&
	    fseek(fp, 0, SEEK_SET) == 0) {
		p = malloc((size_t)n + 1);
		if (p != NULL && fread(p, 1, (size_t)n, fp) != (size_t)n) {
			free(p);
			p = NULL;
		} else if (p != NULL)
			*len_r = (size_t)n;
	}
	fclose(fp);
	return p;
}

/* write_file - path := data (through a temp file and rename) */
static void write_file(const char *path, const void *data, size_t len)
{
	char tmp[PATH_SIZE + 8];
	FILE *fp;

	snprintf(tmp, sizeof(tmp), "%s.new", path);
	fp = fopen(tmp, "wb");
	if (fp == NULL || fwrite(data, 1, len, fp) != len || fclose(fp) != 0 ||
	    rename(tmp, path) != 0) {
		printf("Bail out! cannot write %s: %s\n", path,
		    strerror(errno));
		exit(1);
	}
}

/* copy_file - dst := src (by rename, so an open mmap keeps the old) */
static void copy_file(const char *src, const char *dst)
{
	size_t len;
	char *p = read_all(src, &len);

	if (p == NULL) {
		printf("Bail out! cannot read %s\n", src);
		exit(1);
	}
	write_file(dst, p, len);
	free(p);
}

/* lookup - geoip_lookup of a textual address */
static int lookup(struct geoip *g, const char *addr, struct geoip_info *info)
{
	struct ipaddr ip;

	if (ip_parse(addr, &ip) < 0) {
		printf("Bail out! bad address %s\n", addr);
		exit(1);
	}
	return geoip_lookup(g, &ip, info);
}

/* open_cfg - geoip_open with the given files */
static struct geoip *open_cfg(const char *country, const char *asn,
    const char *policy, unsigned interval, const char **err_r)
{
	struct geoip_config cfg = { country, asn, policy, interval };

	return geoip_open(&cfg, err_r);
}

/* check_tsv - every row of an expected-*.tsv file; col is the column of
 * the value to compare (2: country, or asn with org in 3), fallback the
 * column used when col is empty (-1: none) */
static void check_tsv(struct geoip *g, const char *name, int is_asn,
    int fallback)
{
	char path[PATH_SIZE], line[TSV_LINE];
	unsigned rows = 0, bad = 0, v4 = 0, v6 = 0;
	FILE *fp = fopen(data_path(name, path, sizeof(path)), "r");

	if (fp == NULL) {
		ok(0, "%s: cannot open", name);
		return;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		char *col[6] = { NULL }, *s = line, *t;
		struct geoip_info info;
		char want[256];
		int n = 0, rc;

		if (line[0] == '#')
			continue;
		line[strcspn(line, "\r\n")] = '\0';
		while (n < 6 && (t = strsep(&s, "\t")) != NULL)
			col[n++] = t;
		if (n < 3) {
			bad++;
			continue;
		}
		rows++;
		if (strchr(col[1], ':') != NULL)
			v6++;
		else
			v4++;
		rc = lookup(g, col[1], &info);
		if (is_asn) {
			unsigned long want_asn = strtoul(col[2], NULL, 10);

			snprintf(want, sizeof(want), "%.*s", GEOIP_ORG_MAX - 1,
			    n > 3 ? col[3] : "");
			if (rc != 0 || info.asn != want_asn ||
			    strcmp(info.asn_org, want) != 0) {
				if (bad++ < 5)
					printf("# %s %s: got %lu \"%s\", want "
					    "%lu \"%s\"\n", name, col[1],
					    (unsigned long)info.asn,
					    info.asn_org, want_asn, want);
			}
		} else {
			snprintf(want, sizeof(want), "%s", col[2]);
			if (want[0] == '\0' && fallback >= 0 && n > fallback)
				snprintf(want, sizeof(want), "%s",
				    col[fallback]);
			if (rc != 0 || strcmp(info.country, want) != 0) {
				if (bad++ < 5)
					printf("# %s %s: got \"%s\", want "
					    "\"%s\"\n", name, col[1],
					    info.country, want);
			}
		}
	}
	fclose(fp);
	ok(rows > 200 && v4 >= 10 && v6 >= 10 && bad == 0,
	    "%s: %u rows (%u IPv4, %u IPv6) match geoip_lookup, %u differ",
	    name, rows, v4, v6, bad);
}

/* test_tsv - the expected answers of three test databases */
static void test_tsv(void)
{
	char c1[PATH_SIZE], c2[PATH_SIZE], a[PATH_SIZE];
	const char *err = NULL;
	struct geoip *g;

	data_path("GeoIP2-Country-Test.mmdb", c1, sizeof(c1));
	data_path("GeoLite2-Country-Test.mmdb", c2, sizeof(c2));
	data_path("GeoLite2-ASN-Test.mmdb", a, sizeof(a));
	g = open_cfg(c1, a, NULL, 0, &err);
	if (!ok(g != NULL, "open GeoIP2-Country + GeoLite2-ASN")) {
		printf("#   %s\n", err);
		exit(1);
	}
	check_tsv(g, "expected-GeoIP2-Country-Test.tsv", 0, 3);
	check_tsv(g, "expected-GeoLite2-ASN-Test.tsv", 1, -1);
	geoip_free(&g);
	ok(g == NULL, "geoip_free clears the pointer");
	g = open_cfg(c2, NULL, NULL, 0, &err);
	ok(g != NULL, "open GeoLite2-Country alone");
	check_tsv(g, "expected-GeoLite2-Country-Test.tsv", 0, -1);
	geoip_free(&g);
}

/* test_fields - continents, fallbacks, mapped and unknown addresses */
static void test_fields(void)
{
	static const struct {
		const char *ip, *cc, *cont;
		unsigned asn;
		const char *org;
	} v[] = {
		{ "81.2.69.160", "GB", "EU", 0, "" },
		{ "::ffff:81.2.69.160", "GB", "EU", 0, "" },
		{ "216.160.83.57", "US", "NA", 209, "" },
		{ "175.16.199.1", "CN", "AS", 0, "" },
		{ "2001:218::1", "JP", "AS", 0, "" },
		{ "89.160.20.113", "SE", "EU", 29518, "Bredband2 AB" },
		{ "2a02:d500::1", "", "EU", 0, "" },
		{ "1.128.0.1", "", "", 1221, "Telstra Pty Ltd" },
		{ "10.0.0.1", "", "", 0, "" },
		{ "::1", "", "", 0, "" },
	};
	char c1[PATH_SIZE], a[PATH_SIZE];
	struct geoip_info info;
	const char *err = NULL;
	struct geoip *g;
	size_t i;

	g = open_cfg(data_path("GeoIP2-Country-Test.mmdb", c1, sizeof(c1)),
	    data_path("GeoLite2-ASN-Test.mmdb", a, sizeof(a)), NULL, 0, &err);
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		int rc = lookup(g, v[i].ip, &info);

		ok(rc == 0 && strcmp(info.country, v[i].cc) == 0 &&
		    strcmp(info.continent, v[i].cont) == 0 &&
		    info.asn == v[i].asn && strcmp(info.asn_org, v[i].org) == 0,
		    "%s: \"%s\" \"%s\" %u \"%s\"", v[i].ip, info.country,
		    info.continent, (unsigned)info.asn, info.asn_org);
	}
	geoip_free(&g);

	/* the same file as both databases: the ASN database answers no
	 * country, the country database no ASN */
	g = open_cfg(a, a, NULL, 0, &err);
	lookup(g, "89.160.20.113", &info);
	ok(info.asn == 29518 && info.country[0] == '\0',
	    "one ASN file as both databases");
	geoip_free(&g);
	g = open_cfg(NULL, NULL, NULL, 0, &err);
	ok(g != NULL && lookup(g, "81.2.69.160", &info) == 0 &&
	    info.country[0] == '\0' && info.asn == 0,
	    "nothing configured: all unknown");
	geoip_free(&g);
}

/* test_corrupt - files that must fail to open, cleanly */
static void test_corrupt(void)
{
	char src[PATH_SIZE], p[PATH_SIZE];
	const char *err = NULL;
	struct geoip *g;
	size_t len, cut;
	char *data;

	data_path("GeoIP2-Country-Test.mmdb", src, sizeof(src));
	data = read_all(src, &len);
	if (data == NULL) {
		ok(0, "read the test database");
		return;
	}
	g = open_cfg(tmp_path("missing.mmdb", p, sizeof(p)), NULL, NULL, 0,
	    &err);
	ok(g == NULL && err != NULL && strstr(err, "missing.mmdb") != NULL,
	    "missing file: %s", err ? err : "(null)");
	for (cut = 0; cut < len; cut += len / 7 + 1) {
		write_file(tmp_path("trunc.mmdb", p, sizeof(p)), data, cut);
		err = NULL;
		g = open_cfg(p, NULL, NULL, 0, &err);
		ok(g == NULL && err != NULL, "truncated to %zu of %zu bytes: %s",
		    cut, len, err ? err : "(opened)");
		geoip_free(&g);
	}
	write_file(p, data, len - 1);
	g = open_cfg(p, NULL, NULL, 0, &err);
	ok(g == NULL, "one byte short: %s", err ? err : "(opened)");
	geoip_free(&g);

	/* the search tree overwritten: records point outside the file */
	memset(data + 64, 0xff, 512);
	write_file(tmp_path("tree.mmdb", p, sizeof(p)), data, len);
	err = NULL;
	g = open_cfg(p, NULL, NULL, 0, &err);
	ok(g == NULL && err != NULL && strstr(err, "corrupt") != NULL,
	    "search tree garbage: %s", err ? err : "(opened)");
	geoip_free(&g);
	free(data);

	/* the policy text as a database; a database as the policy */
	write_file(tmp_path("text.mmdb", p, sizeof(p)), "country:CN OK\n", 14);
	g = open_cfg(p, NULL, NULL, 0, &err);
	ok(g == NULL, "a text file as database: %s", err ? err : "(opened)");
	g = open_cfg(NULL, NULL, src, 0, &err);
	ok(g == NULL && err != NULL, "a database as policy: %s",
	    err ? err : "(opened)");
}

/* parse - geoip_policy_parse of a C string */
static int parse(const char *s, size_t *n_r, const char **err_r)
{
	return geoip_policy_parse(s, strlen(s), n_r, err_r);
}

/* test_parse - the policy parser: good forms, errors, limits */
static void test_parse(void)
{
	static const struct {
		const char *text, *err;	/* err NULL: must parse */
	} v[] = {
		{ "country:CN REJECT no\n", NULL },
		{ "COUNTRY:cn reject No mail\n", NULL },
		{ "  country:de\tSCORE\t-5 \r\n", NULL },
		{ "continent:EU OK\ncontinent:unknown DUNNO\n", NULL },
		{ "asn:3320 HOLD\nAS64512 DEFER later\nasn:AS13335 WARN x\n"
		    "asn:unknown SCORE +2\nas7018 OK\n", NULL },
		{ "# comment\n\n   \n  # indented\ncountry:unknown OK", NULL },
		{ "country:FR REJECT text # not a comment\n", NULL },
		{ "country:CN REJECT\ncountry:cn DEFER\n", "line 2: duplicate" },
		{ "AS64512 OK\nasn:64512 OK\n", "line 2: duplicate" },
		{ "\n\ncountry:CHN OK\n", "line 3: bad country" },
		{ "country: OK\n", "line 1: unknown key" },
		{ "country:C1 OK\n", "line 1: bad country" },
		{ "continent:XX OK\n", "line 1: bad continent" },
		{ "asn:0 OK\n", "line 1: bad AS number" },
		{ "asn:4294967296 OK\n", "line 1: bad AS number" },
		{ "asn:12a OK\n", "line 1: bad AS number" },
		{ "AS OK\n", "line 1: unknown key" },
		{ "ip:1.2.3.4 OK\n", "line 1: unknown key" },
		{ "country:FR\n", "line 1: missing action" },
		{ "country:FR BLOCK\n", "line 1: unknown action" },
		{ "country:FR OK now\n", "line 1: OK and DUNNO take no text" },
		{ "country:FR DUNNO x\n", "line 1: OK and DUNNO take no text" },
		{ "country:FR SCORE\n", "line 1: SCORE needs" },
		{ "country:FR SCORE 1 2\n", "line 1: SCORE needs" },
		{ "country:FR SCORE x\n", "line 1: SCORE needs" },
		{ "country:FR SCORE 1000001\n", "line 1: SCORE needs" },
		{ "country:FR REJECT a\001b\n", "line 1: text is not printable" },
		{ "country:FR REJECT caf\xc3\xa9\n", "line 1: text is not" },
	};
	char buf[GEOIP_LINE_MAX + 64], text[GEOIP_TEXT_MAX + 2];
	const char *err;
	size_t i, n, len;
	struct buf big;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		int rc;

		err = NULL;
		n = 0;
		rc = parse(v[i].text, &n, &err);
		if (v[i].err == NULL)
			ok(rc == 0 && n > 0, "parses: %.*s (%zu entries)",
			    (int)strcspn(v[i].text, "\n"), v[i].text, n);
		else
			ok(rc < 0 && err != NULL &&
			    strncmp(err, v[i].err, strlen(v[i].err)) == 0,
			    "rejected: %s", err ? err : "(parsed)");
	}
	ok(parse("", &n, &err) == 0 && n == 0, "empty policy");
	ok(geoip_policy_parse("country:CN OK\0", 14, &n, &err) < 0 &&
	    strstr(err, "NUL") != NULL, "NUL byte: %s", err);
	ok(parse("country:FR SCORE -1000000\nasn:1 SCORE 1000000\n", &n,
	    &err) == 0, "SCORE at +-GEOIP_SCORE_MAX");

	/* GEOIP_LINE_MAX */
	memset(buf, ' ', sizeof(buf));
	memcpy(buf, "country:FR OK", 13);
	buf[GEOIP_LINE_MAX] = '\n';
	ok(geoip_policy_parse(buf, GEOIP_LINE_MAX + 1, &n, &err) == 0,
	    "a line of GEOIP_LINE_MAX bytes");
	buf[GEOIP_LINE_MAX] = ' ';
	buf[GEOIP_LINE_MAX + 1] = '\n';
	ok(geoip_policy_parse(buf, GEOIP_LINE_MAX + 2, &n, &err) < 0 &&
	    strstr(err, "line 1: longer") != NULL, "GEOIP_LINE_MAX + 1: %s",
	    err);

	/* GEOIP_TEXT_MAX */
	memset(text, 'x', sizeof(text));
	text[GEOIP_TEXT_MAX] = '\0';
	len = (size_t)snprintf(buf, sizeof(buf), "country:FR REJECT %s\n",
	    text);
	ok(geoip_policy_parse(buf, len, &n, &err) == 0,
	    "text of GEOIP_TEXT_MAX bytes");
	text[GEOIP_TEXT_MAX] = 'x';
	text[GEOIP_TEXT_MAX + 1] = '\0';
	len = (size_t)snprintf(buf, sizeof(buf), "country:FR REJECT %s\n",
	    text);
	ok(geoip_policy_parse(buf, len, &n, &err) < 0 &&
	    strstr(err, "longer than 255") != NULL, "GEOIP_TEXT_MAX + 1: %s",
	    err);

	/* GEOIP_POLICY_MAX */
	buf_init(&big, GEOIP_POLICY_FILE_MAX + 16);
	for (i = 1; i <= GEOIP_POLICY_MAX; i++)
		buf_appendf(&big, "asn:%zu SCORE 1\n", i);
	ok(geoip_policy_parse(BUF_DATA(&big), BUF_LEN(&big), &n, &err) == 0 &&
	    n == GEOIP_POLICY_MAX, "GEOIP_POLICY_MAX entries (%zu)", n);
	buf_appendf(&big, "country:FR OK\n");
	ok(geoip_policy_parse(BUF_DATA(&big), BUF_LEN(&big), &n, &err) < 0 &&
	    strstr(err, "line 100001: more than") != NULL,
	    "GEOIP_POLICY_MAX + 1: %s", err);

	/* GEOIP_POLICY_FILE_MAX */
	buf_reset(&big);
	while (BUF_LEN(&big) < GEOIP_POLICY_FILE_MAX)
		buf_appends(&big, "#\n");
	ok(geoip_policy_parse(BUF_DATA(&big), GEOIP_POLICY_FILE_MAX, &n,
	    &err) == 0, "a policy of GEOIP_POLICY_FILE_MAX bytes");
	buf_appends(&big, "#\n");
	ok(geoip_policy_parse(BUF_DATA(&big), GEOIP_POLICY_FILE_MAX + 1, &n,
	    &err) < 0 && strstr(err, "larger than") != NULL,
	    "GEOIP_POLICY_FILE_MAX + 1: %s", err);
	buf_free(&big);
}

/* decide - geoip_decide on a hand-made info */
static void decide(struct geoip *g, const char *cc, const char *cont,
    unsigned asn, struct geoip_decision *d)
{
	struct geoip_info info;

	memset(&info, 0, sizeof(info));
	snprintf(info.country, sizeof(info.country), "%s", cc);
	snprintf(info.continent, sizeof(info.continent), "%s", cont);
	info.asn = asn;
	geoip_decide(g, &info, d);
}

/* test_decide - lookup order, scores, unknowns, unconfigured databases */
static void test_decide(void)
{
	static const char pol[] =
	    "asn:29518 SCORE 2\n"
	    "country:SE REJECT 5.7.1 not from SE\n"
	    "continent:EU SCORE 1\n"
	    "asn:209 DUNNO\n"
	    "country:US HOLD\n"
	    "continent:NA SCORE 10\n"
	    "AS3320 OK\n"
	    "country:unknown DEFER unknown country\n"
	    "continent:unknown SCORE -3\n"
	    "asn:unknown SCORE 5\n"
	    "continent:AS WARN asia\n";
	char c1[PATH_SIZE], a[PATH_SIZE], p[PATH_SIZE];
	struct geoip_decision d;
	struct geoip_info info;
	const char *err = NULL;
	struct geoip *g;

	write_file(tmp_path("policy", p, sizeof(p)), pol, sizeof(pol) - 1);
	g = open_cfg(data_path("GeoIP2-Country-Test.mmdb", c1, sizeof(c1)),
	    data_path("GeoLite2-ASN-Test.mmdb", a, sizeof(a)), p, 0, &err);
	if (!ok(g != NULL, "open with a policy")) {
		printf("#   %s\n", err);
		return;
	}
	lookup(g, "89.160.20.113", &info);
	geoip_decide(g, &info, &d);
	ok(d.action == GEOIP_REJECT && d.score == 3 &&
	    strcmp(d.key, "country:SE") == 0 &&
	    strcmp(d.text, "5.7.1 not from SE") == 0,
	    "89.160.20.113: %s %d %s \"%s\"", geoip_action_name(d.action),
	    d.score, d.key, d.text);
	lookup(g, "216.160.83.57", &info);
	geoip_decide(g, &info, &d);
	ok(d.action == GEOIP_DUNNO && d.score == 10 &&
	    strcmp(d.key, "asn:209") == 0,
	    "asn DUNNO stops country HOLD, scores still add: %s %d %s",
	    geoip_action_name(d.action), d.score, d.key);
	decide(g, "de", "EU", 3320, &d);
	ok(d.action == GEOIP_OK && d.score == 1 &&
	    strcmp(d.key, "asn:3320") == 0, "AS3320 OK: %s %d %s",
	    geoip_action_name(d.action), d.score, d.key);
	decide(g, "", "", 0, &d);
	ok(d.action == GEOIP_DEFER && d.score == 2 &&
	    strcmp(d.key, "country:unknown") == 0 &&
	    strcmp(d.text, "unknown country") == 0,
	    "all unknown: %s %d %s", geoip_action_name(d.action), d.score,
	    d.key);
	decide(g, "JP", "AS", 7, &d);
	ok(d.action == GEOIP_WARN && d.score == 0 &&
	    strcmp(d.key, "continent:AS") == 0 &&
	    strcmp(d.text, "asia") == 0,
	    "continent decides last: %s %s \"%s\"",
	    geoip_action_name(d.action), d.key, d.text);
	decide(g, "FR", "EU", 7, &d);
	ok(d.action == GEOIP_DUNNO && d.score == 1 && d.key[0] == '\0',
	    "no deciding entry: DUNNO, key \"\"");
	decide(g, "\x01\xff", "E\n", 7, &d);
	ok(d.action == GEOIP_DEFER && d.score == -3,
	    "garbage codes count as unknown (%d)", d.score);
	geoip_free(&g);

	/* no country database: country and continent keys not looked at */
	g = open_cfg(NULL, a, p, 0, &err);
	decide(g, "", "", 0, &d);
	ok(d.action == GEOIP_DUNNO && d.score == 5,
	    "ASN only: country:unknown not matched (%s %d)",
	    geoip_action_name(d.action), d.score);
	geoip_free(&g);
	g = open_cfg(c1, NULL, NULL, 0, &err);
	decide(g, "SE", "EU", 29518, &d);
	ok(d.action == GEOIP_DUNNO && d.score == 0, "no policy: DUNNO 0");
	geoip_free(&g);
}

/* printable - s is printable ASCII */
static int printable(const char *s)
{
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e)
			return 0;
	return 1;
}

/* test_format - the log and header strings, hostile info included */
static void test_format(void)
{
	struct geoip_info info;
	struct buf b;

	buf_init(&b, 1024);
	memset(&info, 0, sizeof(info));
	memcpy(info.country, "DE", 3);
	memcpy(info.continent, "EU", 3);
	info.asn = 3320;
	snprintf(info.asn_org, sizeof(info.asn_org), "Deutsche Telekom AG");
	geoip_info_log(&info, &b);
	is_str(BUF_DATA(&b), " geoip=DE/EU/AS3320", "log field");
	buf_reset(&b);
	geoip_header_value(&info, &b);
	is_str(BUF_DATA(&b),
	    "country=DE; continent=EU; asn=3320 (Deutsche Telekom AG)",
	    "header value");
	memset(&info, 0, sizeof(info));
	buf_reset(&b);
	geoip_info_log(&info, &b);
	is_str(BUF_DATA(&b), " geoip=-/-/-", "log field, all unknown");
	buf_reset(&b);
	geoip_header_value(&info, &b);
	is_str(BUF_DATA(&b), "country=unknown; continent=unknown; asn=unknown",
	    "header value, all unknown");

	/* no NUL anywhere, control bytes, parentheses */
	memset(&info, 0xff, sizeof(info));
	info.country[0] = '\r';
	memcpy(info.asn_org, "a(b)\\c\r\nX-Evil: 1\x80", 18);
	buf_reset(&b);
	geoip_info_log(&info, &b);
	ok(printable(BUF_DATA(&b)) && BUF_LEN(&b) < 64,
	    "hostile info, log: %s", BUF_DATA(&b));
	buf_reset(&b);
	geoip_header_value(&info, &b);
	ok(printable(BUF_DATA(&b)) && BUF_LEN(&b) < GEOIP_ORG_MAX + 96 &&
	    strstr(BUF_DATA(&b), "asn=4294967295 (a?b??c??X-Evil: 1?") !=
	    NULL, "hostile info, header: %.60s", BUF_DATA(&b));
	buf_free(&b);

	/* an output buffer that is nearly full gets nothing */
	buf_init(&b, 10);
	buf_appends(&b, "12345");
	memset(&info, 0, sizeof(info));
	geoip_info_log(&info, &b);
	geoip_header_value(&info, &b);
	is_str(BUF_DATA(&b), "12345", "a full buffer is left unchanged");
	buf_free(&b);
}

/* sleep_ms - nanosleep */
static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* count_lines - lines of path holding needle */
static int count_lines(const char *path, const char *needle)
{
	char line[TSV_LINE];
	FILE *fp = fopen(path, "r");
	int n = 0;

	if (fp == NULL)
		return -1;
	while (fgets(line, sizeof(line), fp) != NULL)
		if (strstr(line, needle) != NULL)
			n++;
	fclose(fp);
	return n;
}

/* test_reload - swap databases and policy by rename */
static void test_reload(void)
{
	char c1[PATH_SIZE], c2[PATH_SIZE], db[PATH_SIZE], p[PATH_SIZE];
	char logp[PATH_SIZE];
	struct geoip_decision d;
	struct geoip_info info;
	const char *err = NULL;
	struct geoip *g;
	size_t len;
	char *data;
	int saved, fd, i;

	data_path("GeoIP2-Country-Test.mmdb", c1, sizeof(c1));
	data_path("GeoLite2-Country-Test.mmdb", c2, sizeof(c2));
	copy_file(c1, tmp_path("country.mmdb", db, sizeof(db)));
	write_file(tmp_path("reload.pol", p, sizeof(p)),
	    "country:CN REJECT\n", 18);
	g = open_cfg(db, NULL, p, 100, &err);
	if (!ok(g != NULL, "open for reload")) {
		printf("#   %s\n", err);
		return;
	}
	lookup(g, "175.16.199.1", &info);
	ok(strcmp(info.country, "CN") == 0, "before: 175.16.199.1 CN");
	geoip_decide(g, &info, &d);
	ok(d.action == GEOIP_REJECT, "before: policy rejects CN");

	copy_file(c2, db);
	write_file(p, "country:KR HOLD\n", 16);
	lookup(g, "175.16.199.1", &info);
	ok(strcmp(info.country, "CN") == 0,
	    "replaced, interval not over: still CN");
	sleep_ms(150);
	lookup(g, "175.16.199.1", &info);
	ok(info.country[0] == '\0', "after the interval: 175.16.199.1 unknown "
	    "(GeoLite2-Country has no entry) \"%s\"", info.country);
	lookup(g, "2001:220::", &info);
	ok(strcmp(info.country, "KR") == 0, "2001:220:: now KR (was SE)");
	geoip_decide(g, &info, &d);
	ok(d.action == GEOIP_HOLD && strcmp(d.key, "country:KR") == 0,
	    "the new policy decides: %s %s", geoip_action_name(d.action),
	    d.key);

	/* broken replacements: kept out, logged once each */
	fflush(stderr);
	saved = dup(2);
	fd = open(tmp_path("log", logp, sizeof(logp)),
	    O_WRONLY | O_CREAT | O_TRUNC, 0600);
	dup2(fd, 2);
	close(fd);
	data = read_all(c1, &len);
	write_file(db, data, len / 2);
	free(data);
	write_file(p, "country:KR HOLD\ncountry:XX1 OK\n", 31);
	for (i = 0; i < 4; i++) {
		sleep_ms(120);
		lookup(g, "2001:220::", &info);
	}
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	ok(strcmp(info.country, "KR") == 0,
	    "a truncated replacement keeps the loaded database");
	geoip_decide(g, &info, &d);
	ok(d.action == GEOIP_HOLD, "a broken policy keeps the loaded one");
	is_int(count_lines(logp, "country.mmdb"), 1,
	    "the truncated database is logged once");
	is_int(count_lines(logp, "reload.pol: line 2"), 1,
	    "the broken policy is logged once, naming the line");

	/* the file removed, then the good one back */
	unlink(db);
	sleep_ms(120);
	lookup(g, "2001:220::", &info);
	ok(strcmp(info.country, "KR") == 0, "a removed file keeps the loaded");
	copy_file(c1, db);
	sleep_ms(120);
	lookup(g, "2001:220::", &info);
	ok(strcmp(info.country, "SE") == 0, "the good file back: SE again");
	geoip_free(&g);
}

struct worker {
	struct geoip *g;
	volatile int *stop;
	unsigned long lookups, wrong;
};

/* worker_run - look up addresses whose answers are known in both
 * databases until told to stop */
static void *worker_run(void *arg)
{
	static const struct {
		const char *ip, *a, *b;	/* GeoIP2-Country, GeoLite2-Country */
	} v[] = {
		{ "175.16.199.1", "CN", "" },
		{ "2001:220::", "SE", "KR" },
		{ "81.2.69.160", "GB", "GB" },
		{ "149.101.100.1", "US", "" },
		{ "2001:218::1", "JP", "JP" },
	};
	struct worker *w = arg;
	struct geoip_info info;
	size_t i = 0;

	while (!*w->stop) {
		size_t k = i++ % (sizeof(v) / sizeof(v[0]));

		if (lookup(w->g, v[k].ip, &info) != 0 ||
		    (strcmp(info.country, v[k].a) != 0 &&
		    strcmp(info.country, v[k].b) != 0))
			w->wrong++;
		w->lookups++;
	}
	return NULL;
}

/* test_threads - 4 lookup threads while the file is swapped */
static void test_threads(void)
{
	char c1[PATH_SIZE], c2[PATH_SIZE], db[PATH_SIZE];
	struct worker w[THREADS];
	pthread_t th[THREADS];
	volatile int stop = 0;
	const char *err = NULL;
	unsigned long total = 0, wrong = 0;
	struct timespec t0, t1;
	struct geoip *g;
	int i, swaps = 0;

	data_path("GeoIP2-Country-Test.mmdb", c1, sizeof(c1));
	data_path("GeoLite2-Country-Test.mmdb", c2, sizeof(c2));
	copy_file(c1, tmp_path("threads.mmdb", db, sizeof(db)));
	g = open_cfg(db, NULL, NULL, 1, &err);
	log_set_level(LOG_L_WARN);	/* a "reloaded" line per swap */
	if (!ok(g != NULL, "open for threads")) {
		printf("#   %s\n", err);
		return;
	}
	for (i = 0; i < THREADS; i++) {
		w[i].g = g;
		w[i].stop = &stop;
		w[i].lookups = w[i].wrong = 0;
		pthread_create(&th[i], NULL, worker_run, &w[i]);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		copy_file(swaps % 2 ? c1 : c2, db);
		swaps++;
		sleep_ms(5);
		clock_gettime(CLOCK_MONOTONIC, &t1);
	} while ((t1.tv_sec - t0.tv_sec) * 1000 +
	    (t1.tv_nsec - t0.tv_nsec) / 1000000 < THREAD_MS);
	stop = 1;
	for (i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		total += w[i].lookups;
		wrong += w[i].wrong;
	}
	ok(total > 1000 && wrong == 0,
	    "%d threads: %lu lookups over %d swaps, %lu wrong", THREADS,
	    total, swaps, wrong);
	geoip_free(&g);
}

int main(void)
{
	char p[PATH_SIZE];
	const char *names[] = { "missing.mmdb", "trunc.mmdb", "tree.mmdb",
	    "text.mmdb", "policy", "country.mmdb", "reload.pol", "log",
	    "threads.mmdb" };
	size_t i;

	log_open("geoip_t", 1);
	snprintf(tmpdir, sizeof(tmpdir), "%s/geoip_t.XXXXXX",
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	test_tsv();
	test_fields();
	test_corrupt();
	test_parse();
	test_decide();
	test_format();
	test_reload();
	test_threads();
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		unlink(tmp_path(names[i], p, sizeof(p)));
	rmdir(tmpdir);
	return done_testing();
}
