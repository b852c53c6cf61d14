/*
 * dnscfg.c - resolver from the shared DNS keys; see dnscfg.h.
 */
#include "dnscfg.h"

/* dnscfg_resolver_new - resolver configured from the dns_* keys */
struct dns_resolver *dnscfg_resolver_new(const struct cfg *cfg,
    const char **err_r)
{
	struct dns_config dc;

	dc.servers = cfg_list(cfg, "dns_server", &dc.nservers);
	dc.timeout_ms = (unsigned)cfg_int(cfg, "dns_timeout");
	dc.tries = (unsigned)cfg_int(cfg, "dns_tries");
	dc.cache_size = (size_t)cfg_int(cfg, "dns_cache_size");
	dc.cache_bytes = (size_t)cfg_int(cfg, "dns_cache_memory") << 20;
	dc.cache_max_ttl = (unsigned)(cfg_int(cfg, "dns_cache_max_ttl") / 1000);
	dc.cache_neg_ttl =
	    (unsigned)(cfg_int(cfg, "dns_cache_negative_ttl") / 1000);
	return dns_resolver_new(&dc, err_r);
}

/* dnscfg_same - do two configs give the same resolver settings? */
int dnscfg_same(const struct cfg *a, const struct cfg *b)
{
	static const char *const keys[] = { "dns_server", "dns_timeout",
	    "dns_tries", "dns_cache_size", "dns_cache_memory",
	    "dns_cache_max_ttl", "dns_cache_negative_ttl" };

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!cfg_same(a, b, keys[i]))
			return 0;
	return 1;
}
