/*
 * dnsmsg.c - DNS response parsing; see dnsmsg.h.
 *
 * We only ever look at the answer section for the records of the name we
 * asked (following CNAMEs inside the answer, bounded), and at the
 * authority SOA for the negative-caching TTL.  Everything else is skipped
 * with its length checked.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dnsmsg.h"
#include "xalloc.h"

#define HDR_LEN 12
#define PTR_HOPS_MAX 64		/* compression pointers followed per name */

/* get16 - big-endian 16 bit value */
static uint16_t get16(const unsigned char *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* get32 - big-endian 32 bit value */
static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

/*
 * read_name - expand the (possibly compressed) name at *pos into out
 * (presentation form, lower case kept as is, no final dot).  Advances
 * *pos past the name in the record.  Returns 0 or -1 on malformed data.
 * Label bytes that are not safe in presentation form are escaped \DDD
 * so a hostile name cannot inject separators.
 */
static int read_name(const unsigned char *msg, size_t len, size_t *pos,
    char *out, size_t outlen)
{
	size_t p = *pos, o = 0, end = 0;
	int hops = 0, jumped = 0;

	for (;;) {
		unsigned c;

		if (p >= len)
			return -1;
		c = msg[p];
		if ((c & 0xc0) == 0xc0) {
			if (p + 1 >= len || ++hops > PTR_HOPS_MAX)
				return -1;
			if (!jumped)
				end = p + 2;
			jumped = 1;
			p = (size_t)((c & 0x3f) << 8 | msg[p + 1]);
			continue;
		}
		if (c & 0xc0)
			return -1;	/* extended label types: refused */
		if (c == 0) {
			if (!jumped)
				end = p + 1;
			break;
		}
		if (p + 1 + c > len)
			return -1;
		if (o > 0) {
			if (o + 1 >= outlen)
				return -1;
			out[o++] = '.';
		}
		for (unsigned i = 0; i < c; i++) {
			unsigned char ch = msg[p + 1 + i];

			if (ch >= 0x20 && ch < 0x7f && ch != '.' && ch != '\\') {
				if (o + 1 >= outlen)
					return -1;
				out[o++] = (char)ch;
			} else {
				if (o + 4 >= outlen)
					return -1;
				out[o++] = '\\';
				out[o++] = (char)('0' + ch / 100);
				out[o++] = (char)('0' + ch / 10 % 10);
				out[o++] = (char)('0' + ch % 10);
			}
		}
		p += 1 + c;
	}
	out[o] = '\0';
	*pos = end;
	return 0;
}

/* dns_name_equal - compare names ignoring case and a final dot */
int dns_name_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la && a[la - 1] == '.')
		la--;
	if (lb && b[lb - 1] == '.')
		lb--;
	return la == lb && strncasecmp(a, b, la) == 0;
}

/* dns_answer_new - empty answer with a status */
struct dns_answer *dns_answer_new(enum dns_status status)
{
	struct dns_answer *a = xcalloc(1, sizeof(*a));

	a->status = status;
	a->refs = 1;
	return a;
}

/* dns_answer_ref - share an answer */
struct dns_answer *dns_answer_ref(struct dns_answer *a)
{
	__atomic_add_fetch(&a->refs, 1, __ATOMIC_SEQ_CST);
	return a;
}

/* dns_answer_unref - drop a reference, free on the last; *ap = NULL */
void dns_answer_unref(struct dns_answer **ap)
{
	struct dns_answer *a = *ap;

	*ap = NULL;
	if (a == NULL || __atomic_sub_fetch(&a->refs, 1, __ATOMIC_SEQ_CST) > 0)
		return;
	for (size_t i = 0; i < a->n; i++) {
		free(a->rr[i].name);
		free(a->rr[i].txt);
	}
	free(a->rr);
	free(a->canon);
	free(a);
}

/* parse_rdata - fill rr from rdata at msg[p..p+rdlen); -1 if malformed */
static int parse_rdata(const unsigned char *msg, size_t len, size_t p,
    size_t rdlen, struct dns_rr *rr)
{
	char name[DNS_NAME_MAX * 4 + 1];
	size_t q;

	switch (rr->type) {
	case DNS_T_A:
		if (rdlen != 4)
			return -1;
		rr->addr.family = AF_INET;
		memcpy(rr->addr.a, msg + p, 4);
		return 0;
	case DNS_T_AAAA:
		if (rdlen != 16)
			return -1;
		rr->addr.family = AF_INET6;
		memcpy(rr->addr.a, msg + p, 16);
		return 0;
	case DNS_T_MX:
		if (rdlen < 3)
			return -1;
		rr->pref = get16(msg + p);
		q = p + 2;
		if (read_name(msg, len, &q, name, sizeof(name)) < 0 ||
		    q != p + rdlen)
			return -1;
		rr->name = xstrdup(name);
		return 0;
	case DNS_T_PTR:
	case DNS_T_CNAME:
		q = p;
		if (read_name(msg, len, &q, name, sizeof(name)) < 0 ||
		    q != p + rdlen)
			return -1;
		rr->name = xstrdup(name);
		return 0;
	case DNS_T_TXT:
	case DNS_T_SPF: {
		size_t o = 0;

		rr->txt = xmalloc(rdlen + 1);
		for (q = p; q < p + rdlen;) {
			size_t sl = msg[q];

			if (q + 1 + sl > p + rdlen)
				return -1;
			memcpy(rr->txt + o, msg + q + 1, sl);
			o += sl;
			q += 1 + sl;
			rr->txt_count++;
		}
		rr->txt[o] = '\0';
		rr->txt_len = o;
		return 0;
	}
	default:
		return 0;
	}
}

/* negative_ttl - RFC 2308: min(SOA TTL, SOA MINIMUM) from authority */
static uint32_t negative_ttl(const unsigned char *msg, size_t len, size_t p,
    unsigned nscount)
{
	char name[DNS_NAME_MAX * 4 + 1];

	for (unsigned i = 0; i < nscount; i++) {
		uint16_t type, rdlen;
		uint32_t ttl;

		if (read_name(msg, len, &p, name, sizeof(name)) < 0 ||
		    p + 10 > len)
			return 0;
		type = get16(msg + p);
		ttl = get32(msg + p + 4);
		rdlen = get16(msg + p + 8);
		p += 10;
		if (p + rdlen > len)
			return 0;
		if (type == DNS_T_SOA && rdlen >= 22) {
			uint32_t min = get32(msg + p + rdlen - 4);

			return ttl < min ? ttl : min;
		}
		p += rdlen;
	}
	return 0;
}

/*
 * dnsmsg_parse - turn a response to (qname, qtype) into an answer.
 */
struct dns_answer *dnsmsg_parse(const unsigned char *msg, size_t len,
    const char *qname, uint16_t qtype)
{
	char owner[DNS_NAME_MAX * 4 + 1];
	char cur[DNS_NAME_MAX * 4 + 1];
	struct dns_answer *a;
	struct {
		size_t off;	/* of the RR's type field */
		char *owner;
	} rrs[DNS_RR_MAX * 2];
	unsigned qd, an, ns, i, nrr = 0, links = 0;
	size_t p = HDR_LEN;
	int rcode, progress;

	if (len < HDR_LEN || strlen(qname) >= sizeof(cur))
		return dns_answer_new(DNS_ERROR);
	rcode = msg[3] & 0x0f;
	qd = get16(msg + 4);
	an = get16(msg + 6);
	ns = get16(msg + 8);
	a = dns_answer_new(DNS_ERROR);
	a->rcode = rcode;
	if (!(msg[2] & 0x80) || qd > 1 || an > DNS_RR_MAX * 2)
		return a;
	for (i = 0; i < qd; i++) {
		if (read_name(msg, len, &p, owner, sizeof(owner)) < 0 ||
		    p + 4 > len)
			return a;
		p += 4;
	}
	for (i = 0; i < an; i++) {
		uint16_t rdlen;

		if (read_name(msg, len, &p, owner, sizeof(owner)) < 0 ||
		    p + 10 > len)
			goto bad;
		rdlen = get16(msg + p + 8);
		if (p + 10 + rdlen > len)
			goto bad;
		rrs[nrr].off = p;
		rrs[nrr].owner = xstrdup(owner);
		nrr++;
		p += 10 + rdlen;
	}
	if (rcode == 3) {
		a->status = DNS_NXDOMAIN;
		a->ttl = negative_ttl(msg, len, p, ns);
		goto done;
	}
	if (rcode != 0) {
		a->status = rcode == 1 ? DNS_ERROR : DNS_SERVFAIL;
		goto done;
	}

	/* Records of the asked type at qname or at the end of its CNAMEs. */
	snprintf(cur, sizeof(cur), "%s", qname);
	a->status = DNS_NODATA;
	a->ttl = UINT32_MAX;
	do {
		progress = 0;
		for (i = 0; i < nrr; i++) {
			const unsigned char *r = msg + rrs[i].off;
			uint16_t type = get16(r), class = get16(r + 2);
			uint32_t ttl = get32(r + 4) & 0x7fffffff;
			uint16_t rdlen = get16(r + 8);
			struct dns_rr rr;

			if (class != 1 || !dns_name_equal(rrs[i].owner, cur))
				continue;
			memset(&rr, 0, sizeof(rr));
			rr.type = type;
			rr.ttl = ttl;
			if (type == DNS_T_CNAME && qtype != DNS_T_CNAME) {
				if (parse_rdata(msg, len, rrs[i].off + 10, rdlen,
				    &rr) < 0 || ++links > DNS_CNAME_MAX) {
					free(rr.name);
					goto bad;
				}
				snprintf(cur, sizeof(cur), "%s", rr.name);
				free(rr.name);
				if (ttl < a->ttl)
					a->ttl = ttl;
				progress = 1;
				break;
			}
			if (type != qtype)
				continue;
			if (a->n >= DNS_RR_MAX ||
			    parse_rdata(msg, len, rrs[i].off + 10, rdlen,
			    &rr) < 0) {
				free(rr.name);
				free(rr.txt);
				goto bad;
			}
			a->rr = xrealloc(a->rr, (a->n + 1) * sizeof(rr));
			a->rr[a->n++] = rr;
			if (ttl < a->ttl)
				a->ttl = ttl;
		}
	} while (progress && a->n == 0);
	if (a->n > 0) {
		a->status = DNS_OK;
	} else {
		/* CNAME chain that ends nowhere in this answer, or no data */
		a->ttl = negative_ttl(msg, len, p, ns);
	}
	if (!dns_name_equal(cur, qname))
		a->canon = xstrdup(cur);
	goto done;
bad:
	for (size_t k = 0; k < a->n; k++) {
		free(a->rr[k].name);
		free(a->rr[k].txt);
	}
	XFREE(&a->rr);
	a->n = 0;
	a->status = DNS_ERROR;
done:
	for (i = 0; i < nrr; i++)
		free(rrs[i].owner);
	return a;
}

/* dns_status_name - short lower-case name for logs and metrics */
const char *dns_status_name(enum dns_status s)
{
	switch (s) {
	case DNS_OK: return "ok";
	case DNS_NXDOMAIN: return "nxdomain";
	case DNS_NODATA: return "nodata";
	case DNS_SERVFAIL: return "servfail";
	case DNS_TIMEOUT: return "timeout";
	case DNS_ERROR: return "error";
	}
	return "?";
}

static const struct {
	uint16_t type;
	const char *name;
} dns_types[] = {
	{ DNS_T_A, "A" }, { DNS_T_NS, "NS" }, { DNS_T_CNAME, "CNAME" },
	{ DNS_T_SOA, "SOA" }, { DNS_T_PTR, "PTR" }, { DNS_T_MX, "MX" },
	{ DNS_T_TXT, "TXT" }, { DNS_T_AAAA, "AAAA" }, { DNS_T_SPF, "SPF" },
};

/* dns_type_name - "A", "MX"...; "?" for others */
const char *dns_type_name(uint16_t type)
{
	for (size_t i = 0; i < sizeof(dns_types) / sizeof(dns_types[0]); i++)
		if (dns_types[i].type == type)
			return dns_types[i].name;
	return "?";
}

/* dns_type_parse - "A", "mx"... to a type number */
int dns_type_parse(const char *s, uint16_t *type_r)
{
	for (size_t i = 0; i < sizeof(dns_types) / sizeof(dns_types[0]); i++)
		if (strcasecmp(dns_types[i].name, s) == 0) {
			*type_r = dns_types[i].type;
			return 0;
		}
	return -1;
}
