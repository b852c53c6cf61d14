/*
 * greyd_cfg.c - postern-greyd's config keys read into the engine's and
 *               the store's settings, one way for the daemon (greyd.c)
 *               and its admin tool (postern-greyctl), so the tool builds
 *               the very keys the daemon stores.
 *
 * Public: greyd_cfg_grey, greyd_cfg_store.
 * Trust: the config is the admin's, already checked by cfg.c.
 * Errors: none (values are in range by their definitions).
 */
#include <string.h>

#include "greyd_cfg.h"

/* greyd_cfg_grey - the algorithm and key-shaping settings (no texts:
 * the daemon adds greylist_text, the header and the host name) */
void greyd_cfg_grey(const struct cfg *cfg, struct grey_config *g)
{
	memset(g, 0, sizeof(*g));
	g->delay = (unsigned)(cfg_int(cfg, "delay") / 1000);
	g->max_age = (unsigned)(cfg_int(cfg, "max_age") / 1000);
	g->retry_window = (unsigned)(cfg_int(cfg, "retry_window") / 1000);
	g->awl_clients = (unsigned)cfg_int(cfg, "auto_whitelist_clients");
	g->ipv4_cidr = (unsigned)cfg_int(cfg, "ipv4cidr");
	g->ipv6_cidr = (unsigned)cfg_int(cfg, "ipv6cidr");
	g->privacy = cfg_bool(cfg, "privacy");
	g->lookup_by_host = cfg_bool(cfg, "lookup_by_host") ||
	    !cfg_bool(cfg, "lookup_by_subnet");
}

/* greyd_cfg_store - store_open's options from the store_* keys; base is
 * the event loop (NULL: the store makes a private one, for tools) */
void greyd_cfg_store(const struct cfg *cfg, struct event_base *base,
    struct store_opts *so)
{
	memset(so, 0, sizeof(*so));
	so->base = base;
	so->max_entries = (size_t)cfg_int(cfg, "store_max_entries");
	so->timeout_ms = (unsigned)cfg_int(cfg, "store_timeout");
	so->connect_timeout_ms = (unsigned)cfg_int(cfg,
	    "store_connect_timeout");
	so->wait_replicas = (unsigned)cfg_int(cfg, "store_wait_replicas");
	so->prefix = cfg_str(cfg, "store_prefix");
}
