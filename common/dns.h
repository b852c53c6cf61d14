/*
 * dns.h - the one DNS resolver every engine uses.
 *
 * Public:
 *   dns_resolver_new/ref/free  configuration + shared TTL cache
 *   dns_cache_get              answer from the cache, or NULL
 *   dns_client_new/free        an asynchronous client on a libevent base
 *   dns_client_lookup          start a lookup; callback with the answer
 *   dns_lookup_cancel          forget a pending lookup's callback
 *   dns_resolve_sync           blocking lookups (any thread): for tools,
 *                              libspf2's and libopendkim's DNS hooks and
 *                              milter threads
 *   dns_stats_get              counters for the metrics endpoint
 * Trust: names come from engines (SPF macro expansion of peer data, DKIM
 *        selectors...), answers from the network; see dnsmsg.h for the
 *        parser.  A name that is not a valid DNS name is answered
 *        DNS_ERROR without a query.
 * Errors: every lookup ends with an answer; its status tells NXDOMAIN,
 *         no data, SERVFAIL, timeout and local error apart.
 *
 * Servers are "ADDR[:PORT]" (IPv6 as "[ADDR]:PORT"), several allowed; with
 * none, the system resolver's servers from /etc/resolv.conf are used.
 * Transport (UDP, TCP on truncation, retries over the servers) is c-ares;
 * answers are parsed by dnsmsg.c and cached here by (name, type) for
 * their TTL, capped by cache_max_ttl; NXDOMAIN and no-data are cached for
 * the SOA negative TTL capped by cache_neg_ttl; failures are not cached.
 * The cache is shared by all clients and threads of a resolver.
 */
#ifndef POSTERN_DNS_H
#define POSTERN_DNS_H

#include <stddef.h>
#include <stdint.h>

#include "dnsmsg.h"

struct event_base;
struct dns_resolver;
struct dns_client;
struct dns_lookup;

struct dns_config {
	const char *const *servers;	/* "ADDR[:PORT]"; NULL/0 = system */
	size_t nservers;
	unsigned timeout_ms;		/* whole lookup, all tries */
	unsigned tries;			/* per server rotation */
	size_t cache_size;		/* max entries; 0 disables the cache */
	size_t cache_bytes;		/* memory bound of the cache */
	unsigned cache_max_ttl;		/* seconds */
	unsigned cache_neg_ttl;		/* seconds, cap for NXDOMAIN/NODATA */
};

struct dns_stats {
	unsigned long long queries;	/* sent to a server */
	unsigned long long cache_hits;
	unsigned long long nxdomain, nodata, servfail, timeout, error;
	unsigned long long cache_entries;
};

struct dns_question {
	const char *name;
	uint16_t type;
};

typedef void dns_callback(void *arg, struct dns_answer *answer);

struct dns_resolver *dns_resolver_new(const struct dns_config *cfg,
    const char **err_r);
struct dns_resolver *dns_resolver_ref(struct dns_resolver *r);
void dns_resolver_free(struct dns_resolver **rp);
void dns_cache_flush(struct dns_resolver *r);

struct dns_answer *dns_cache_get(struct dns_resolver *r, const char *name,
    uint16_t type);

struct dns_client *dns_client_new(struct dns_resolver *r,
    struct event_base *base, const char **err_r);
void dns_client_free(struct dns_client **cp);
struct dns_lookup *dns_client_lookup(struct dns_client *c, const char *name,
    uint16_t type, dns_callback *cb, void *arg);
void dns_lookup_cancel(struct dns_lookup *l);

void dns_resolve_sync(struct dns_resolver *r, const struct dns_question *q,
    size_t n, struct dns_answer **answers_r, unsigned budget_ms);

void dns_stats_get(struct dns_resolver *r, struct dns_stats *s);

int dns_name_valid(const char *name);

#endif
