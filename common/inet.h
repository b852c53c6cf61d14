/*
 * inet.h - IP addresses, CIDR networks and CIDR lists.
 *
 * Public: ip_parse, ip_format, ip_is_v4mapped, ip_unmap, ip_reverse_name,
 *         cidr_parse,
 *         cidr_match, ip_prefix_match, cidrlist_add, cidrlist_match,
 *         cidrlist_free.
 * Trust: addresses come from peers (policy requests, DNS answers) and
 *        from config; parsing is strict (inet_pton) and never allocates
 *        in proportion to peer input.
 * Errors: 0 or -1.
 */
#ifndef POSTERN_INET_H
#define POSTERN_INET_H

#include <stddef.h>
#include <sys/socket.h>

#define IP_STR_MAX 46		/* INET6_ADDRSTRLEN */
#define IP_REV_MAX 64		/* reversed IPv6: 32 nibbles, each dotted */

struct ipaddr {
	int family;		/* AF_INET or AF_INET6 */
	unsigned char a[16];	/* 4 or 16 bytes, network order */
};

struct cidr {
	struct ipaddr ip;	/* network address, host bits cleared */
	unsigned bits;
};

struct cidrlist {
	struct cidr *v;
	size_t n;
};

int ip_parse(const char *s, struct ipaddr *ip_r);
const char *ip_format(const struct ipaddr *ip, char *out, size_t outlen);
int ip_is_v4mapped(const struct ipaddr *ip);
void ip_unmap(struct ipaddr *ip);
int ip_reverse_name(const struct ipaddr *ip, const char *zone, char *out,
    size_t outlen);
int ip_prefix_match(const struct ipaddr *a, const struct ipaddr *b,
    unsigned bits);

int cidr_parse(const char *s, struct cidr *c_r);
int cidr_match(const struct cidr *c, const struct ipaddr *ip);

int cidrlist_add(struct cidrlist *l, const char *s);
int cidrlist_match(const struct cidrlist *l, const struct ipaddr *ip);
void cidrlist_free(struct cidrlist *l);

#endif
