/*
 * dkim_dns.h - DKIM key lookups through the shared resolver.
 *
 * Public: dkim_dns_lookup (a dkim_lookup_fn), struct dkim_dns.
 * Trust: the name is built from a signature's s= and d= (peer data,
 *        checked by dns_name_valid before any query); the answer is
 *        network data handed to dkim_keyrec_parse.
 * Errors: none; the status says found / not found / try again.
 *
 * Blocking (dns_resolve_sync): milters run one thread per connection.
 * Several TXT records at one name: RFC 6376 section 3.6.2.2 lets us use
 * the first one that parses; we hand over the first and log nothing.
 */
#ifndef POSTERN_DKIM_DNS_H
#define POSTERN_DKIM_DNS_H

#include "dkim.h"
#include "dns.h"

struct dkim_dns {
	struct dns_resolver *resolver;
	unsigned budget_ms;		/* per lookup */
};

enum dkim_lookup_status dkim_dns_lookup(void *arg, const char *name,
    struct buf *txt_r);

#endif
