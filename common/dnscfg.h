/*
 * dnscfg.h - the DNS keys every daemon shares, and the resolver built
 *            from them.
 *
 * Public: DNS_CFG_DEFS (entries for a struct cfg_def table),
 *         dnscfg_resolver_new.
 * Trust: admin config only.
 * Errors: dnscfg_resolver_new returns NULL with *err_r set.
 */
#ifndef POSTERN_DNSCFG_H
#define POSTERN_DNSCFG_H

#include "cfg.h"
#include "dns.h"

#define DNS_CFG_DEFS \
	{ "dns_server", "nameserver", CFG_LIST, NULL, 0, 0, NULL, \
	  "DNS server(s) ADDR[:PORT], [V6ADDR]:PORT; empty: /etc/resolv.conf" }, \
	{ "dns_timeout", NULL, CFG_TIME, "5s", 100, 60000, NULL, \
	  "time limit for one DNS lookup, all retries included" }, \
	{ "dns_tries", NULL, CFG_INT, "2", 1, 5, NULL, \
	  "query rounds over the servers before giving up" }, \
	{ "dns_cache_size", NULL, CFG_INT, "100000", 0, 10000000, NULL, \
	  "DNS answers kept in the TTL cache (0 disables it)" }, \
	{ "dns_cache_memory", NULL, CFG_INT, "64", 1, 65536, NULL, \
	  "megabytes the DNS cache may hold (it drops the oldest answers)" }, \
	{ "dns_cache_max_ttl", NULL, CFG_TIME, "1d", 0, 7 * 86400000LL, \
	  NULL, "longest time an answer is cached" }, \
	{ "dns_cache_negative_ttl", NULL, CFG_TIME, "5m", 0, 86400000LL, \
	  NULL, "longest time NXDOMAIN/no-data is cached" }

struct dns_resolver *dnscfg_resolver_new(const struct cfg *cfg,
    const char **err_r);
int dnscfg_same(const struct cfg *a, const struct cfg *b);

#endif
