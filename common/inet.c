/*
 * inet.c - addresses and CIDR lists; see inet.h.
 *
 * An IPv4-mapped IPv6 address (::ffff:a.b.c.d) matches both the IPv6
 * network written for it (::ffff:127.0.0.0/104) and the IPv4 network
 * (127.0.0.0/8): admins write either, and Postfix may hand us either.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inet.h"
#include "xalloc.h"

/* ip_parse - dotted quad or IPv6 text; an IPv6 zone (%eth0) is refused */
int ip_parse(const char *s, struct ipaddr *ip_r)
{
	memset(ip_r, 0, sizeof(*ip_r));
	if (inet_pton(AF_INET, s, ip_r->a) == 1) {
		ip_r->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, ip_r->a) == 1) {
		ip_r->family = AF_INET6;
		return 0;
	}
	return -1;
}

/* ip_format - text form into out */
const char *ip_format(const struct ipaddr *ip, char *out, size_t outlen)
{
	if (inet_ntop(ip->family, ip->a, out, (socklen_t)outlen) == NULL)
		snprintf(out, outlen, "?");
	return out;
}

/* ip_is_v4mapped - ::ffff:a.b.c.d? */
int ip_is_v4mapped(const struct ipaddr *ip)
{
	static const unsigned char prefix[12] =
	    { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	return ip->family == AF_INET6 && memcmp(ip->a, prefix, 12) == 0;
}

/* ip_unmap - turn ::ffff:a.b.c.d into a.b.c.d in place */
void ip_unmap(struct ipaddr *ip)
{
	if (!ip_is_v4mapped(ip))
		return;
	memmove(ip->a, ip->a + 12, 4);
	memset(ip->a + 4, 0, 12);
	ip->family = AF_INET;
}

/* ip_reverse_name - the address reversed under zone, as PTR lookups and
 * DNS lists want it: "4.3.2.1.ZONE" or 32 dotted nibbles of IPv6, lowest
 * first; -1 if it does not fit in outlen */
int ip_reverse_name(const struct ipaddr *ip, const char *zone, char *out,
    size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	char rev[IP_REV_MAX + 1];
	int n;

	if (ip->family == AF_INET) {
		snprintf(rev, sizeof(rev), "%u.%u.%u.%u.", ip->a[3], ip->a[2],
		    ip->a[1], ip->a[0]);
	} else {
		size_t k = 0;

		for (int i = 15; i >= 0; i--) {
			rev[k++] = hex[ip->a[i] & 15];
			rev[k++] = '.';
			rev[k++] = hex[ip->a[i] >> 4];
			rev[k++] = '.';
		}
		rev[k] = '\0';
	}
	n = snprintf(out, outlen, "%s%s", rev, zone);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/* ip_prefix_match - same family and the first bits bits equal */
int ip_prefix_match(const struct ipaddr *a, const struct ipaddr *b,
    unsigned bits)
{
	unsigned whole = bits / 8, rest = bits % 8;

	if (a->family != b->family)
		return 0;
	if (bits > (a->family == AF_INET ? 32u : 128u))
		return 0;
	if (memcmp(a->a, b->a, whole) != 0)
		return 0;
	if (rest) {
		unsigned char mask = (unsigned char)(0xff << (8 - rest));

		if ((a->a[whole] & mask) != (b->a[whole] & mask))
			return 0;
	}
	return 1;
}

/* cidr_parse - "addr" or "addr/bits"; host bits are cleared */
int cidr_parse(const char *s, struct cidr *c_r)
{
	char tmp[IP_STR_MAX + 8];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	unsigned max, bits;

	if (n == 0 || n >= IP_STR_MAX)
		return -1;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	if (ip_parse(tmp, &c_r->ip) < 0)
		return -1;
	max = c_r->ip.family == AF_INET ? 32 : 128;
	bits = max;
	if (slash) {
		const char *p = slash + 1;

		if (*p == '\0' || strlen(p) > 3)
			return -1;
		bits = 0;
		for (; *p; p++) {
			if (*p < '0' || *p > '9')
				return -1;
			bits = bits * 10 + (unsigned)(*p - '0');
		}
		if (bits > max)
			return -1;
	}
	c_r->bits = bits;
	for (unsigned i = bits; i < max; i++)
		c_r->ip.a[i / 8] &= (unsigned char)~(0x80 >> (i % 8));
	return 0;
}

/* cidr_match - is ip inside c (mapped addresses match both ways)? */
int cidr_match(const struct cidr *c, const struct ipaddr *ip)
{
	struct ipaddr alt;

	if (ip_prefix_match(&c->ip, ip, c->bits))
		return 1;
	if (ip_is_v4mapped(ip) && c->ip.family == AF_INET) {
		alt = *ip;
		ip_unmap(&alt);
		return ip_prefix_match(&c->ip, &alt, c->bits);
	}
	if (ip->family == AF_INET && ip_is_v4mapped(&c->ip) && c->bits >= 96) {
		memset(&alt, 0, sizeof(alt));
		alt.family = AF_INET6;
		alt.a[10] = alt.a[11] = 0xff;
		memcpy(alt.a + 12, ip->a, 4);
		return ip_prefix_match(&c->ip, &alt, c->bits);
	}
	return 0;
}

/* cidrlist_add - append one network; -1 if s is not a network */
int cidrlist_add(struct cidrlist *l, const char *s)
{
	struct cidr c;

	if (cidr_parse(s, &c) < 0)
		return -1;
	l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	l->v[l->n++] = c;
	return 0;
}

/* cidrlist_match - is ip in any network of the list? */
int cidrlist_match(const struct cidrlist *l, const struct ipaddr *ip)
{
	for (size_t i = 0; i < l->n; i++)
		if (cidr_match(&l->v[i], ip))
			return 1;
	return 0;
}

/* cidrlist_free - release the list */
void cidrlist_free(struct cidrlist *l)
{
	XFREE(&l->v);
	l->n = 0;
}
