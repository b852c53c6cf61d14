/*
 * rbl_t.c - tests for the DNS list engine (common/rbl.c): site specs and
 * filters, identities and the names asked, scoring, TXT texts, replies
 * and log fields, the synchronous and the event-loop paths.
 *
 * Answers are canned: a small DNS server in a thread on 127.0.0.1 answers
 * from the table below (wire messages built here, so an answer can carry
 * records of another owner, control bytes, or no answer at all), and
 * records every name it was asked, so the test sees which names were and
 * were not queried.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "dns.h"
#include "rbl.h"
#include "tap.h"

/* ------------------------------------------------------- the fake DNS */

struct rec {
	const char *qname;	/* the name asked */
	int type;		/* DNS_T_A, DNS_T_TXT; 0: SERVFAIL; -1: drop */
	const char *owner;	/* owner written, NULL = qname */
	const char *data;	/* A: dotted quad; TXT: bytes */
	size_t len;		/* TXT bytes (0: strlen) */
};

static char long_txt[400];

static const struct rec recs[] = {
	/* 192.0.2.1: listed on bl (127.0.0.2 and .4), on bl2, allowed on wl */
	{ "1.2.0.192.bl.test", DNS_T_A, NULL, "127.0.0.2", 0 },
	{ "1.2.0.192.bl.test", DNS_T_A, NULL, "127.0.0.4", 0 },
	{ "1.2.0.192.bl.test", DNS_T_TXT, NULL, "listed\r\n\x01 see http://bl.test/?192.0.2.1 100%", 0 },
	{ "1.2.0.192.bl2.test", DNS_T_A, NULL, "127.0.1.3", 0 },
	{ "1.2.0.192.wl.test", DNS_T_A, NULL, "127.0.5.1", 0 },
	/* 192.0.2.2: the answer holds only a record of another owner */
	{ "2.2.0.192.bl.test", DNS_T_A, "3.2.0.192.bl.test", "127.0.0.2", 0 },
	/* 192.0.2.3: error codes without a filter */
	{ "3.2.0.192.bl.test", DNS_T_A, NULL, "127.0.0.255", 0 },
	{ "3.2.0.192.bl2.test", DNS_T_A, NULL, "127.255.255.254", 0 },
	{ "3.2.0.192.wl.test", DNS_T_A, NULL, "10.0.0.1", 0 },
	/* 192.0.2.4: listed, long TXT */
	{ "4.2.0.192.bl.test", DNS_T_A, NULL, "127.0.0.3", 0 },
	{ "4.2.0.192.bl.test", DNS_T_TXT, NULL, long_txt, sizeof(long_txt) },
	/* 2001:db8::1 */
	{ "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2."
	  "bl.test", DNS_T_A, NULL, "127.0.0.2", 0 },
	/* RHSBL */
	{ "spam.example.dbl.test", DNS_T_A, NULL, "127.0.1.2", 0 },
	{ "spam.example.dbl.test", DNS_T_TXT, NULL, "spam domain", 0 },
	{ "good.example.dwl.test", DNS_T_A, NULL, "127.0.2.1", 0 },
	/* lists that fail */
	{ "*.slow.test", -1, NULL, NULL, 0 },
	{ "*.fail.test", 0, NULL, NULL, 0 },
};

#define LOG_NAMES 512

static int fake_fd;
static volatile int fake_stop;
static pthread_mutex_t fake_lock = PTHREAD_MUTEX_INITIALIZER;
static char fake_log[LOG_NAMES][310];
static size_t fake_n;

/* rec_match - does the record's name cover qname ("*.zone" a suffix) */
static int rec_match(const struct rec *r, const char *q)
{
	if (r->qname[0] == '*') {
		size_t lz = strlen(r->qname + 1), lq = strlen(q);

		return lq > lz && strcmp(q + lq - lz, r->qname + 1) == 0;
	}
	return strcmp(r->qname, q) == 0;
}

static size_t put_name(unsigned char *m, size_t o, const char *s)
{
	while (*s) {
		const char *d = strchr(s, '.');
		size_t n = d ? (size_t)(d - s) : strlen(s);

		m[o++] = (unsigned char)n;
		memcpy(m + o, s, n);
		o += n;
		s += n + (d ? 1 : 0);
	}
	m[o++] = 0;
	return o;
}

/* fake_answer - the reply to one query, 0 for none */
static size_t fake_answer(const unsigned char *q, size_t qlen,
    unsigned char *m)
{
	char name[300];
	size_t o = 12, k = 0, an = 0, qend;
	int type, rcode = 3, known = 0;

	while (o < qlen && q[o] && k + q[o] + 1 < sizeof(name)) {
		for (size_t i = 1; i <= q[o]; i++)
			name[k++] = (char)tolower(q[o + i]);
		name[k++] = '.';
		o += q[o] + 1U;
	}
	if (o + 5 > qlen || k == 0)
		return 0;
	name[k - 1] = '\0';
	type = q[o + 1] << 8 | q[o + 2];
	qend = o + 5;
	pthread_mutex_lock(&fake_lock);
	if (fake_n < LOG_NAMES)
		snprintf(fake_log[fake_n++], sizeof(fake_log[0]), "%s/%s",
		    type == DNS_T_TXT ? "TXT" : "A", name);
	pthread_mutex_unlock(&fake_lock);
	memcpy(m, q, qend);
	o = qend;
	for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++) {
		const struct rec *r = &recs[i];

		if (!rec_match(r, name))
			continue;
		if (r->type == -1)
			return 0;
		if (r->type == 0) {
			rcode = 2;
			break;
		}
		known = 1;
		if (r->type != type)
			continue;
		o = put_name(m, o, r->owner ? r->owner : name);
		m[o++] = 0; m[o++] = (unsigned char)type;
		m[o++] = 0; m[o++] = 1;
		m[o++] = 0; m[o++] = 0; m[o++] = 0; m[o++] = 60;
		if (type == DNS_T_A) {
			m[o++] = 0; m[o++] = 4;
			inet_pton(AF_INET, r->data, m + o);
			o += 4;
		} else {
			size_t len = r->len ? r->len : strlen(r->data);
			size_t rdl = len + (len + 254) / 255, at = o + 2;

			m[o++] = (unsigned char)(rdl >> 8);
			m[o++] = (unsigned char)rdl;
			for (size_t p = 0; p < len; p += 255) {
				size_t n = len - p > 255 ? 255 : len - p;

				m[at++] = (unsigned char)n;
				memcpy(m + at, r->data + p, n);
				at += n;
			}
			o = at;
		}
		an++;
	}
	if (known)
		rcode = 0;
	m[2] = 0x81;
	m[3] = (unsigned char)(0x80 | rcode);
	m[6] = (unsigned char)(an >> 8);
	m[7] = (unsigned char)an;
	m[8] = m[9] = m[10] = m[11] = 0;
	return o;
}

static void *fake_main(void *arg)
{
	(void)arg;
	while (!fake_stop) {
		struct pollfd p = { fake_fd, POLLIN, 0 };
		unsigned char q[512], m[2048];
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n;
		size_t len;

		if (poll(&p, 1, 50) <= 0)
			continue;
		n = recvfrom(fake_fd, q, sizeof(q), 0, (struct sockaddr *)&from,
		    &fl);
		if (n < 12)
			continue;
		if ((len = fake_answer(q, (size_t)n, m)) > 0)
			sendto(fake_fd, m, len, 0, (struct sockaddr *)&from, fl);
	}
	return NULL;
}

/* fake_start - the server; returns its port */
static int fake_start(pthread_t *th)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);

	fake_fd = socket(AF_INET, SOCK_DGRAM, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fake_fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fake_fd, (struct sockaddr *)&a, &al) < 0)
		return -1;
	pthread_create(th, NULL, fake_main, NULL);
	return ntohs(a.sin_port);
}

/* asked - how many times a name was asked ("A/name") */
static int asked(const char *what)
{
	int n = 0;

	pthread_mutex_lock(&fake_lock);
	for (size_t i = 0; i < fake_n; i++)
		n += strcmp(fake_log[i], what) == 0;
	pthread_mutex_unlock(&fake_lock);
	return n;
}

static size_t asked_total(void)
{
	size_t n;

	pthread_mutex_lock(&fake_lock);
	n = fake_n;
	pthread_mutex_unlock(&fake_lock);
	return n;
}

/* ------------------------------------------------------------ helpers */

static struct rbl *mk(unsigned ms, int txt, const char *const *specs,
    const enum rbl_kind *kinds)
{
	struct rbl *r = rbl_new(ms, txt);
	const char *err;

	for (size_t i = 0; specs[i]; i++)
		if (rbl_add_site(r, kinds ? kinds[i] : RBL_CLIENT, specs[i],
		    &err) < 0)
			ok(0, "add %s: %s", specs[i], err);
	return r;
}

static const struct rbl_hit *hit(const struct rbl_result *res,
    const char *zone, enum rbl_kind kind)
{
	for (size_t h = 0; h < res->nhits; h++)
		if (strcmp(res->hits[h].zone, zone) == 0 &&
		    res->hits[h].kind == kind)
			return &res->hits[h];
	return NULL;
}

static const char *logstr(const struct rbl_result *res, struct buf *b)
{
	buf_reset(b);
	rbl_result_log(res, b);
	return b->data;
}

static void check_ip(const struct rbl *r, struct dns_resolver *res,
    const char *ip, struct rbl_result *out)
{
	struct ipaddr a;
	struct rbl_facts f = { 0 };

	ip_parse(ip, &a);
	f.ip = &a;
	rbl_check_sync(r, res, &f, out);
}

/* -------------------------------------------------------------- tests */

static void test_filters(void)
{
	struct rbl_filter f;
	static const uint8_t a2[4] = { 127, 0, 0, 2 }, a5[4] = { 127, 0, 0, 5 },
	    a255[4] = { 127, 0, 0, 255 }, ae[4] = { 127, 255, 255, 254 },
	    a10[4] = { 10, 0, 0, 2 }, a1[4] = { 127, 1, 2, 3 },
	    a12[4] = { 127, 0, 0, 12 };
	static const char *const bad[] = { "", "127.0.0", "127.0.0.2.1",
	    "127.0.0.256", "127.0.0.[5..2]", "127.0.0.[]", "127.0.0.[1;;2]",
	    "127.0.0.[1", "127.0.0.1]", "127.0.0.2..3", "127.0.0.x",
	    "127.0.0.[[1]]", "127.0.0.-1", "1270.0.0.1", "127.0.0.[1..2;]",
	    NULL };

	ok(rbl_filter_parse(NULL, &f) == 0 && f.any, "NULL filter: any");
	ok(rbl_filter_match(&f, a2) && rbl_filter_match(&f, a1),
	    "any: 127/8 counts");
	ok(!rbl_filter_match(&f, a255), "any: 127.0.0.255 does not");
	ok(!rbl_filter_match(&f, ae), "any: 127.255.255.254 does not");
	ok(!rbl_filter_match(&f, a10), "any: 10.0.0.2 does not");
	ok(rbl_filter_parse("127.0.0.[2..4;12]", &f) == 0 && !f.any,
	    "bracket filter parses");
	ok(rbl_filter_match(&f, a2) && rbl_filter_match(&f, a12) &&
	    !rbl_filter_match(&f, a5) && !rbl_filter_match(&f, a1),
	    "bracket filter: 2 and 12 in, 5 and 127.1.2.3 out");
	ok(rbl_filter_parse("127.0.0.255", &f) == 0 &&
	    rbl_filter_match(&f, a255), "an explicit filter may take .255");
	ok(rbl_filter_parse("[0..255].[0..255].[0..255].[0..255]", &f) == 0 &&
	    rbl_filter_match(&f, a10), "full ranges");
	for (size_t i = 0; bad[i]; i++)
		ok(rbl_filter_parse(bad[i], &f) < 0, "filter \"%s\" refused",
		    bad[i]);
	{
		char big[RBL_FILTER_MAX + 20];

		memset(big, 0, sizeof(big));
		strcpy(big, "127.0.0.[");
		for (size_t k = strlen(big); k < RBL_FILTER_MAX; k += 2)
			memcpy(big + k, "1;", 2);
		strcat(big, "2]");
		ok(rbl_filter_parse(big, &f) < 0, "filter over RBL_FILTER_MAX "
		    "refused");
	}
}

static void test_sites(void)
{
	struct rbl *r = rbl_new(1000, 0);
	const char *err = NULL;
	char spec[600];
	static const char *const good[] = { "zen.test", "zen.test.",
	    "Zen.Test=127.0.0.[2..11]*3", "wl.test*-2", "wl.test=127.0.[0..255].1*-1000",
	    "bl", "x_y.test*+2", NULL };
	static const char *const bad[] = { "", "*2", "=127.0.0.2", "bad zone",
	    "zen.test*", "zen.test*x", "zen.test*1001", "zen.test*-1001",
	    "zen.test*2=127.0.0.2", "zen.test=127.0.0", "zen..test",
	    "zen.test=", "ze\x01n.test", ".zen.test", "zen.test* 2",
	    "zen.test*99999999999999999999", NULL };

	for (size_t i = 0; good[i]; i++)
		ok(rbl_add_site(r, RBL_CLIENT, good[i], &err) == 0,
		    "site \"%s\" accepted", good[i]);
	for (size_t i = 0; bad[i]; i++) {
		int rc;

		err = NULL;
		rc = rbl_add_site(r, RBL_CLIENT, bad[i], &err);
		ok(rc < 0 && err, "site \"%s\" refused (%s)", bad[i],
		    err ? err : "-");
	}
	is_int(rbl_sites(r), 7, "7 sites kept");
	/* a zone that leaves no room for a reversed IPv6 address */
	memset(spec, 0, sizeof(spec));
	for (size_t k = 0; k < 190; k += 10)
		memcpy(spec + k, "abcdefghi.", 10);
	memcpy(spec + 190, "test", 4);
	ok(rbl_add_site(r, RBL_CLIENT, spec, &err) < 0, "194-byte client "
	    "zone refused");
	ok(rbl_add_site(r, RBL_HELO, spec, &err) == 0, "...accepted for "
	    "HELO names");
	memset(spec, 'a', RBL_SPEC_MAX + 1);
	spec[RBL_SPEC_MAX + 1] = '\0';
	ok(rbl_add_site(r, RBL_HELO, spec, &err) < 0, "spec over "
	    "RBL_SPEC_MAX refused");
	rbl_free(&r);
	ok(r == NULL, "rbl_free clears the pointer");

	r = rbl_new(1000, 0);
	for (int i = 0; i < RBL_SITES_MAX; i++) {
		snprintf(spec, sizeof(spec), "l%d.test", i);
		if (rbl_add_site(r, RBL_CLIENT, spec, &err) < 0)
			break;
	}
	is_int(rbl_sites(r), RBL_SITES_MAX, "RBL_SITES_MAX sites accepted");
	{
		int rc = rbl_add_site(r, RBL_CLIENT, "one.more.test", &err);

		ok(rc < 0 && strstr(err, "more than 64"), "one more refused: "
		    "%s", err);
	}
	rbl_free(&r);
}

static void test_names(void)
{
	char out[DNS_NAME_MAX + 1], big[1100];
	static const char *const bad[] = { "", "[192.0.2.1]", "192.0.2.1",
	    "[IPv6:2001:db8::1]", "localhost", "a..b.test", ".a.test",
	    "ex ample.test", "ex\x01.test", "ex\xc3\xa9.test", "a.test..",
	    "2001:db8::1", "a.b.123", "mail.example.com/x", NULL };

	ok(rbl_domain_norm("Mail.Example.COM.", out) == 0 &&
	    strcmp(out, "mail.example.com") == 0, "lower case, dot dropped");
	ok(rbl_domain_norm("_dmarc.a-b.test", out) == 0, "'_' and '-' pass");
	ok(rbl_domain_norm(NULL, out) < 0, "NULL: not queried");
	for (size_t i = 0; bad[i]; i++)
		ok(rbl_domain_norm(bad[i], out) < 0 && out[0] == '\0',
		    "\"%s\": not queried", bad[i]);
	memset(big, 'a', sizeof(big));
	for (size_t k = 63; k < sizeof(big); k += 64)
		big[k] = '.';
	big[sizeof(big) - 1] = '\0';
	ok(rbl_domain_norm(big, out) < 0, "1 KB name: not queried");
	big[253] = '\0';
	ok(rbl_domain_norm(big, out) == 0, "253 bytes: queried");
	big[63] = 'a';
	ok(rbl_domain_norm(big, out) < 0, "a 64-byte label: not");
}

static void test_sync(struct dns_resolver *res)
{
	static const char *const specs[] = { "bl.test=127.0.0.2*3",
	    "bl.test=127.0.0.[3..4]*2", "bl.test=127.0.0.9*5", "bl2.test",
	    "wl.test*-2", "slow.test*7", "fail.test*7", "nx.test", NULL };
	struct rbl *r = mk(800, 0, specs, NULL);
	struct rbl_result out;
	struct buf b;
	const struct rbl_hit *h;
	size_t before;
	long long t0;

	buf_init(&b, 4096);
	t0 = clock_ms();
	check_ip(r, res, "192.0.2.1", &out);
	ok(clock_ms() - t0 < 1500, "a list that never answers: done within "
	    "the limit (%lld ms)", clock_ms() - t0);
	is_int(out.score, 3 + 2 + 1 - 2, "score: both bl.test filters, bl2, "
	    "wl (-2)");
	is_int(out.nhits, 4, "four hits");
	is_int(out.queries, 6, "six questions: bl.test asked once for three "
	    "entries");
	is_int(asked("A/1.2.0.192.bl.test"), 1, "bl.test asked once");
	h = hit(&out, "bl2.test", RBL_CLIENT);
	ok(h && strcmp(h->answer, "127.0.1.3") == 0 &&
	    strcmp(h->what, "192.0.2.1") == 0 && h->weight == 1,
	    "bl2 hit: answer, what, default weight");
	is_int(out.ntimeouts, 2, "two lists without an answer");
	is_str(logstr(&out, &b), " rbl=bl.test:127.0.0.2:3,bl.test:127.0.0.4:2,"
	    "bl2.test:127.0.1.3:1,wl.test:127.0.5.1:-2 rbl_score=4 "
	    "rbl_timeout=slow.test,fail.test", "log fields");
	rbl_result_free(&out);

	check_ip(r, res, "192.0.2.2", &out);
	is_int(out.nhits, 0, "a record of another owner does not count");
	rbl_result_free(&out);
	check_ip(r, res, "192.0.2.3", &out);
	is_int(out.nhits, 0, "127.0.0.255, 127.255.255.254, 10.0.0.1 without "
	    "a filter: no hit");
	is_str(logstr(&out, &b), " rbl_score=0 rbl_timeout=slow.test,"
	    "fail.test", "log without hits");
	rbl_result_free(&out);

	check_ip(r, res, "2001:db8::1", &out);
	ok(asked("A/1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1."
	    "0.0.2.bl.test") == 1 && out.score == 3, "IPv6: 32 reversed "
	    "nibbles, listed");
	rbl_result_free(&out);
	check_ip(r, res, "::ffff:192.0.2.1", &out);
	is_int(out.score, 4, "v4-mapped IPv6 asked as IPv4");
	rbl_result_free(&out);

	/* the cache */
	{
		struct dns_stats s1, s2;

		dns_stats_get(res, &s1);
		before = asked_total();
		check_ip(r, res, "192.0.2.3", &out);
		dns_stats_get(res, &s2);
		/* bl, bl2, wl answered; nx.test's NXDOMAIN carries no SOA
		 * (not cached), the failed lists are never cached */
		ok(s2.cache_hits == s1.cache_hits + 3, "second check: answers "
		    "from the cache (%llu hits)", s2.cache_hits - s1.cache_hits);
		is_int(asked_total() - before, 3, "only the failed lists and "
		    "the uncacheable NXDOMAIN are asked again");
		rbl_result_free(&out);
	}
	{
		struct rbl_facts f = { 0 };

		before = asked_total();
		rbl_check_sync(r, res, &f, &out);
		ok(out.queries == 0 && out.score == 0 && asked_total() == before,
		    "no client address: nothing asked");
		rbl_result_free(&out);
	}
	rbl_free(&r);
	buf_free(&b);
}

static void test_rhsbl(struct dns_resolver *res)
{
	static const char *const specs[] = { "dbl.test*2", "dbl.test*3",
	    "dwl.test*-5", "dbl.test", "bl.test", NULL };
	static const enum rbl_kind kinds[] = { RBL_HELO, RBL_SENDER,
	    RBL_SENDER, RBL_FROM, RBL_CLIENT };
	struct rbl *r = mk(800, 1, specs, kinds);
	struct rbl_facts f = { 0 };
	struct rbl_result out;
	struct buf b;
	char big[300];
	size_t before;

	buf_init(&b, 4096);
	f.helo = "SPAM.example.";
	f.sender_domain = "spam.example";
	f.from_domain = "good.example";
	rbl_check_sync(r, res, &f, &out);
	is_int(out.score, 5, "HELO 2 + sender 3; From good.example not "
	    "listed on dbl");
	is_int(asked("A/spam.example.dbl.test"), 1, "HELO and sender domain "
	    "the same name: asked once");
	ok(hit(&out, "dbl.test", RBL_HELO) &&
	    strcmp(hit(&out, "dbl.test", RBL_HELO)->what, "spam.example") == 0,
	    "HELO hit, what is the normalized name");
	is_str(hit(&out, "dbl.test", RBL_SENDER) ?
	    hit(&out, "dbl.test", RBL_SENDER)->txt : NULL, "spam domain",
	    "TXT fetched");
	is_int(asked("TXT/spam.example.dbl.test"), 1, "TXT asked once");
	buf_reset(&b);
	rbl_reply_expand(RBL_REPLY_DEFAULT, &out, "192.0.2.9", "SPAM.example.",
	    &b, 512);
	is_str(b.data, "554 Service unavailable; Helo command [spam.example] "
	    "blocked using dbl.test; spam domain", "default reply");
	rbl_result_free(&out);

	f.sender_domain = "good.example";
	f.helo = "[192.0.2.1]";
	f.from_domain = NULL;
	rbl_check_sync(r, res, &f, &out);
	is_int(out.score, -5, "DNSWL for the sender domain: -5");
	is_int(asked("TXT/good.example.dwl.test"), 0, "no TXT for an "
	    "allowlist hit");
	rbl_result_free(&out);

	/* hostile identities: never asked */
	before = asked_total();
	memset(big, 'a', sizeof(big));
	for (size_t k = 60; k < sizeof(big); k += 61)
		big[k] = '.';
	big[sizeof(big) - 1] = '\0';
	f.helo = big;
	f.sender_domain = "1.2.3.4";
	f.from_domain = "x\ny.test";
	rbl_check_sync(r, res, &f, &out);
	ok(out.queries == 0 && asked_total() == before, "300-byte HELO, "
	    "numeric domain, control byte: nothing asked");
	rbl_result_free(&out);
	big[245] = '\0';	/* valid alone, over 253 with ".dbl.test" */
	if (big[244] == '.')
		big[244] = 'a';
	f.helo = big;
	f.sender_domain = f.from_domain = NULL;
	rbl_check_sync(r, res, &f, &out);
	ok(out.queries == 0 && asked_total() == before, "a name over 253 "
	    "bytes with the zone: not asked");
	rbl_result_free(&out);
	rbl_free(&r);
	buf_free(&b);
}

static void test_txt(struct dns_resolver *res)
{
	static const char *const specs[] = { "bl.test", "wl.test*-1", NULL };
	struct rbl *r = mk(800, 1, specs, NULL);
	struct rbl_result out;
	struct buf b;

	buf_init(&b, 4096);
	check_ip(r, res, "192.0.2.1", &out);
	ok(out.hits[0].txt && strcmp(out.hits[0].txt, "listed??? see "
	    "http://bl.test/?192.0.2.1 100%") == 0, "TXT: control bytes "
	    "masked (%s)", out.hits[0].txt ? out.hits[0].txt : "-");
	rbl_reply_expand("$rbl_code ${rbl_reason?{[$rbl_reason]}:{none}} "
	    "$rbl_class $(rbl_domain) $rbl_score $$ $ $unknown ${client} "
	    "${rbl_txt:empty}${nope?x} $client_address <$helo_name> $rbl",
	    &out, "192.0.2.1", "h\r\nx", &b, 1000);
	is_str(b.data, "554 [listed??? see http://bl.test/?192.0.2.1 100%] "
	    "Client host bl.test 0 $ $ $unknown ${client} ${nope?x} "
	    "192.0.2.1 <h??x> $rbl", "macros, conditionals, unknown kept");
	buf_reset(&b);
	rbl_reply_expand(RBL_REPLY_DEFAULT, &out, NULL, NULL, &b, 30);
	is_int(b.len, 30, "reply cut at max");
	rbl_result_free(&out);

	check_ip(r, res, "192.0.2.4", &out);
	ok(out.hits[0].txt && strlen(out.hits[0].txt) == RBL_TXT_MAX,
	    "a 400-byte TXT cut at RBL_TXT_MAX");
	buf_reset(&b);
	rbl_reply_expand("${rbl_reason:{no}}", &out, NULL, NULL, &b, 1000);
	is_int(b.len, 0, "${rbl_reason:{no}} with a reason: empty");
	rbl_result_free(&out);
	check_ip(r, res, "192.0.2.3", &out);
	buf_reset(&b);
	rbl_reply_expand(RBL_REPLY_DEFAULT, &out, NULL, NULL, &b, 1000);
	is_str(b.data, "554 Service unavailable;  [] blocked using ",
	    "no hit: empty values");
	rbl_result_free(&out);
	rbl_free(&r);
	buf_free(&b);
}

struct done {
	int calls;
	struct rbl_result res;
	long long at;
	struct rbl_check *chk, **self;	/* cancel this from the callback */
};

static void on_done(void *arg, struct rbl_result *res)
{
	struct done *d = arg;

	d->calls++;
	d->at = clock_ms();
	d->res = *res;
	memset(res, 0, sizeof(*res));
	if (d->self)
		rbl_check_cancel(*d->self);
}

static void test_async(struct dns_resolver *res)
{
	static const char *const specs[] = { "bl.test=127.0.0.2*3",
	    "bl.test=127.0.0.[3..4]*2", "bl2.test", "wl.test*-2",
	    "slow.test*7", NULL };
	struct rbl *r = mk(700, 1, specs, NULL);
	struct event_base *base = event_base_new();
	const char *err;
	struct dns_client *c = dns_client_new(res, base, &err);
	struct rbl_facts f = { 0 };
	struct ipaddr a;
	struct done d = { 0 }, d2 = { 0 };
	struct rbl_check *chk;
	struct timeval tv = { 2, 0 };
	struct buf b;
	long long t0;

	buf_init(&b, 4096);
	ip_parse("192.0.2.1", &a);
	f.ip = &a;
	t0 = clock_ms();
	chk = rbl_check_start(r, c, base, &f, on_done, &d);
	ok(chk != NULL && d.calls == 0, "started, no callback yet");
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
	is_int(d.calls, 1, "callback once");
	ok(d.at - t0 >= 600 && d.at - t0 < 1200, "ended at the time limit "
	    "(%lld ms)", d.at - t0);
	is_str(logstr(&d.res, &b), " rbl=bl.test:127.0.0.2:3,bl.test:127.0.0.4:2,"
	    "bl2.test:127.0.1.3:1,wl.test:127.0.5.1:-2 rbl_score=4 "
	    "rbl_timeout=slow.test", "async: same result as sync");
	ok(d.res.hits[0].txt != NULL, "async: TXT of the hit");
	rbl_result_free(&d.res);

	/* all lists answer: no wait for the limit; from the cache */
	f.ip = &a;
	ip_parse("192.0.2.3", &a);
	t0 = clock_ms();
	chk = rbl_check_start(r, c, base, &f, on_done, &d2);
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
	is_int(d2.calls, 1, "second check: callback once");
	rbl_result_free(&d2.res);

	/* cancelled before completion */
	memset(&d, 0, sizeof(d));
	ip_parse("192.0.2.1", &a);
	chk = rbl_check_start(r, c, base, &f, on_done, &d);
	rbl_check_cancel(chk);
	tv.tv_sec = 1;
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
	is_int(d.calls, 0, "cancelled: no callback");
	rbl_check_cancel(NULL);

	/* cancelled half way: fast lists answered, the slow one pending */
	memset(&d, 0, sizeof(d));
	ip_parse("192.0.2.1", &a);
	chk = rbl_check_start(r, c, base, &f, on_done, &d);
	tv.tv_sec = 0;
	tv.tv_usec = 200000;
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
	rbl_check_cancel(chk);
	tv.tv_sec = 1;
	tv.tv_usec = 0;
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
	is_int(d.calls, 0, "cancelled after the fast answers: no callback");

	/* cancel from inside the callback: a no-op */
	memset(&d, 0, sizeof(d));
	d.self = &d.chk;
	d.chk = rbl_check_start(r, c, base, &f, on_done, &d);
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
	is_int(d.calls, 1, "cancel inside the callback: no harm");
	rbl_result_free(&d.res);

	/* nothing to ask: the callback still comes, from the loop */
	memset(&d, 0, sizeof(d));
	f.ip = NULL;
	chk = rbl_check_start(r, c, base, &f, on_done, &d);
	ok(d.calls == 0, "no callback inside rbl_check_start");
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
	ok(d.calls == 1 && d.res.queries == 0, "nothing to ask: result "
	    "from the loop");
	rbl_result_free(&d.res);

	dns_client_free(&c);
	event_base_free(base);
	rbl_free(&r);
	buf_free(&b);
}

int main(void)
{
	pthread_t th;
	int port;
	char server[32];
	const char *servers[1] = { server };
	struct dns_config dc;
	struct dns_resolver *res;
	const char *err;

	for (size_t i = 0; i < sizeof(long_txt); i++)
		long_txt[i] = (char)('a' + i % 26);
	test_filters();
	test_sites();
	test_names();

	port = fake_start(&th);
	ok(port > 0, "fake DNS server on 127.0.0.1:%d", port);
	snprintf(server, sizeof(server), "127.0.0.1:%d", port);
	memset(&dc, 0, sizeof(dc));
	dc.servers = servers;
	dc.nservers = 1;
	dc.timeout_ms = 3000;
	dc.tries = 1;
	dc.cache_size = 1000;
	dc.cache_bytes = 1 << 20;
	dc.cache_max_ttl = 600;
	dc.cache_neg_ttl = 600;
	res = dns_resolver_new(&dc, &err);
	if (!ok(res != NULL, "resolver"))
		return done_testing();
	test_sync(res);
	test_rhsbl(res);
	test_txt(res);
	test_async(res);
	dns_resolver_free(&res);
	fake_stop = 1;
	pthread_join(th, NULL);
	close(fake_fd);
	return done_testing();
}
