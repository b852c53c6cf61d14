/*
 * dnsmsg_t.c - tests for the DNS response parser (common/dnsmsg.c),
 * with hand-built wire messages including hostile ones.
 */
#include <stdlib.h>
#include <string.h>

#include "dnsmsg.h"
#include "tap.h"

static unsigned char msg[4096];
static size_t mlen;

static void put(const void *p, size_t n) { memcpy(msg + mlen, p, n); mlen += n; }
static void put8(unsigned v) { msg[mlen++] = (unsigned char)v; }
static void put16(unsigned v) { put8(v >> 8); put8(v & 255); }
static void put32(unsigned v) { put16(v >> 16); put16(v & 0xffff); }

static void name(const char *s)
{
	while (*s) {
		const char *d = strchr(s, '.');
		size_t n = d ? (size_t)(d - s) : strlen(s);

		put8((unsigned)n);
		put(s, n);
		s += n + (d ? 1 : 0);
	}
	put8(0);
}

static void header(unsigned rcode, unsigned an, unsigned ns)
{
	mlen = 0;
	put16(0x1234);
	put8(0x81);
	put8(0x80 | rcode);
	put16(1);
	put16(an);
	put16(ns);
	put16(0);
}

static void question(const char *q, unsigned type)
{
	name(q);
	put16(type);
	put16(1);
}

static void rr_head(const char *owner, unsigned type, unsigned ttl,
    unsigned rdlen)
{
	name(owner);
	put16(type);
	put16(1);
	put32(ttl);
	put16(rdlen);
}

int main(void)
{
	struct dns_answer *a;

	/* TXT with two strings, concatenated */
	header(0, 1, 0);
	question("example.com", DNS_T_TXT);
	rr_head("example.com", DNS_T_TXT, 300, 12);
	put8(5); put("v=spf", 5); put8(5); put("1 -al", 5);
	a = dnsmsg_parse(msg, mlen, "example.com", DNS_T_TXT);
	is_int(a->status, DNS_OK, "txt ok");
	is_int(a->n, 1, "one record");
	is_str(a->rr[0].txt, "v=spf1 -al", "strings concatenated");
	is_int(a->rr[0].txt_count, 2, "string count");
	is_int(a->ttl, 300, "ttl");
	dns_answer_unref(&a);

	/* TXT with zero strings */
	header(0, 1, 0);
	question("example.com", DNS_T_TXT);
	rr_head("example.com", DNS_T_TXT, 300, 0);
	a = dnsmsg_parse(msg, mlen, "example.com", DNS_T_TXT);
	is_int(a->status, DNS_OK, "empty txt ok");
	is_int(a->rr[0].txt_count, 0, "zero strings");
	dns_answer_unref(&a);

	/* CNAME then A, with compression pointer to the question name */
	header(0, 2, 0);
	question("www.example.com", DNS_T_A);
	put16(0xc00c); put16(DNS_T_CNAME); put16(1); put32(60);
	put16(7); put8(4); put("host", 4); put16(0xc010);
	rr_head("host.example.com", DNS_T_A, 100, 4);
	put8(192); put8(0); put8(2); put8(1);
	a = dnsmsg_parse(msg, mlen, "WWW.example.com.", DNS_T_A);
	is_int(a->status, DNS_OK, "cname followed");
	is_int(a->n, 1, "one address");
	is_int(a->ttl, 60, "ttl is the minimum over the chain");
	is_str(a->canon, "host.example.com", "canonical name");
	dns_answer_unref(&a);

	/* NXDOMAIN with SOA: negative TTL = min(ttl, minimum) */
	header(3, 0, 1);
	question("nx.example.com", DNS_T_A);
	rr_head("example.com", DNS_T_SOA, 900, 22 + 0);
	put8(0); put8(0); put32(1); put32(2); put32(3); put32(4); put32(120);
	a = dnsmsg_parse(msg, mlen, "nx.example.com", DNS_T_A);
	is_int(a->status, DNS_NXDOMAIN, "nxdomain");
	is_int(a->ttl, 120, "negative ttl from SOA minimum");
	dns_answer_unref(&a);

	/* NOERROR, no records of the type */
	header(0, 1, 0);
	question("example.com", DNS_T_MX);
	rr_head("example.com", DNS_T_A, 5, 4);
	put32(0x01020304);
	a = dnsmsg_parse(msg, mlen, "example.com", DNS_T_MX);
	is_int(a->status, DNS_NODATA, "nodata when only other types");
	dns_answer_unref(&a);

	header(2, 0, 0);
	question("example.com", DNS_T_MX);
	a = dnsmsg_parse(msg, mlen, "example.com", DNS_T_MX);
	is_int(a->status, DNS_SERVFAIL, "servfail rcode");
	dns_answer_unref(&a);

	/* hostile: compression pointer loop */
	header(0, 1, 0);
	question("example.com", DNS_T_A);
	put16(0xc000 | (unsigned)mlen);
	put16(DNS_T_A); put16(1); put32(1); put16(4); put32(0);
	a = dnsmsg_parse(msg, mlen, "example.com", DNS_T_A);
	is_int(a->status, DNS_ERROR, "pointer loop is an error");
	dns_answer_unref(&a);

	/* hostile: rdlength past the end */
	header(0, 1, 0);
	question("example.com", DNS_T_TXT);
	rr_head("example.com", DNS_T_TXT, 1, 200);
	put8(10); put("abc", 3);
	a = dnsmsg_parse(msg, mlen, "example.com", DNS_T_TXT);
	is_int(a->status, DNS_ERROR, "truncated rdata is an error");
	dns_answer_unref(&a);

	/* hostile: TXT string length past rdata */
	header(0, 1, 0);
	question("example.com", DNS_T_TXT);
	rr_head("example.com", DNS_T_TXT, 1, 4);
	put8(10); put("abc", 3);
	a = dnsmsg_parse(msg, mlen, "example.com", DNS_T_TXT);
	is_int(a->status, DNS_ERROR, "txt string overrun is an error");
	dns_answer_unref(&a);

	/* hostile: CNAME loop */
	header(0, 2, 0);
	question("a.example.com", DNS_T_A);
	rr_head("a.example.com", DNS_T_CNAME, 1, 15);
	name("b.example.com");
	rr_head("b.example.com", DNS_T_CNAME, 1, 15);
	name("a.example.com");
	a = dnsmsg_parse(msg, mlen, "a.example.com", DNS_T_A);
	is_int(a->status, DNS_ERROR, "cname loop is an error");
	dns_answer_unref(&a);

	/* hostile: short message, not a response */
	a = dnsmsg_parse(msg, 5, "a", DNS_T_A);
	is_int(a->status, DNS_ERROR, "short message");
	dns_answer_unref(&a);
	msg[2] = 0;
	a = dnsmsg_parse(msg, mlen, "a.example.com", DNS_T_A);
	is_int(a->status, DNS_ERROR, "query bit not set");
	dns_answer_unref(&a);

	/* label with a dot and a NUL byte is escaped, not split */
	header(0, 1, 0);
	question("example.com", DNS_T_PTR);
	rr_head("example.com", DNS_T_PTR, 1, 5);
	put8(3); put8('a'); put8('.'); put8(0); put8(0);
	a = dnsmsg_parse(msg, mlen, "example.com", DNS_T_PTR);
	is_int(a->status, DNS_OK, "odd ptr ok");
	is_str(a->n ? a->rr[0].name : "", "a\\046\\000", "escaped label");
	dns_answer_unref(&a);
	return done_testing();
}
