/*
 * greyd_cfg.h - postern-greyd's own configuration keys, shared by the
 *               daemon (greyd.c) and its admin tool (postern-greyctl),
 *               which reads the same file to find the store.
 *
 * Public: GREYD_CFG_DEFS (the greylisting keys, the bypasses, and the
 *         shared DNS and SPF engine keys with spfd's names, so one file
 *         serves the daemon and the tool); greyd_cfg_grey and
 *         greyd_cfg_store (greyd_cfg.c), so both read the keys alike.
 * Trust: the config file is the admin's.
 * Errors: none here (cfg.c checks values against these definitions).
 */
#ifndef POSTERN_GREYD_CFG_H
#define POSTERN_GREYD_CFG_H

#include "cfg.h"
#include "dnscfg.h"
#include "grey.h"
#include "store.h"

struct event_base;
#include "spfengine.h"

#define GREYD_DNSWL_MAX 16	/* DNS whitelists asked per request */
#define GREYD_RDNS_MAX 1000	/* rdns_whitelist patterns */

#define GREYD_CFG_DEFS \
	{ "store", NULL, CFG_STR, "/var/lib/postern/greyd", 0, 0, NULL, \
	  "greylisting state: a directory (embedded store), or " \
	  "redis://[USER:PASS@]HOST:PORT[/DB], redis+unix:/PATH[?db=N], " \
	  "redis+sentinel://HOST:PORT,.../MASTER[/DB], " \
	  "redis+cluster://HOST:PORT,..." }, \
	{ "store_max_entries", NULL, CFG_INT, "2000000", 1000, 1000000000, \
	  NULL, "triplets and clients the embedded store can hold" }, \
	{ "store_timeout", NULL, CFG_TIME, "250ms", 10, 60000, NULL, \
	  "Redis: longest wait for one decision, redirections and " \
	  "retries included (then store_on_error applies)" }, \
	{ "store_connect_timeout", NULL, CFG_TIME, "1s", 10, 60000, NULL, \
	  "Redis: longest wait for a connection" }, \
	{ "store_wait_replicas", NULL, CFG_INT, "0", 0, 16, NULL, \
	  "Redis: answer only once this many replicas have the update " \
	  "(WAIT), so a failover loses nothing acknowledged" }, \
	{ "store_prefix", NULL, CFG_STR, "pg:", 0, 0, NULL, \
	  "Redis: prefix of every key (share a Redis between services)" }, \
	{ "privacy", NULL, CFG_BOOL, "no", 0, 0, NULL, \
	  "store SHA-256 hashes instead of addresses (postgrey --privacy)" }, \
	{ "store_on_error", NULL, CFG_ENUM, "accept", 0, 0, \
	  "accept|tempfail", "when the store fails: let mail through " \
	  "(with a warning) or defer it" }, \
	{ "delay", NULL, CFG_TIME, "300s", 0, 86400000LL, NULL, \
	  "how long a new triplet is deferred (postgrey --delay)" }, \
	{ "max_age", NULL, CFG_TIME, "35d", 60000, 3650LL * 86400000LL, NULL, \
	  "forget triplets and clients unused this long" }, \
	{ "retry_window", NULL, CFG_TIME, "2d", 60000, 3650LL * 86400000LL, \
	  NULL, "a first retry later than this starts over" }, \
	{ "auto_whitelist_clients", NULL, CFG_INT, "5", 0, 1000000, NULL, \
	  "deliveries after which a client is whitelisted (0: off)" }, \
	{ "lookup_by_subnet", NULL, CFG_BOOL, "yes", 0, 0, NULL, \
	  "triplets use the client network (ipv4cidr/ipv6cidr)" }, \
	{ "lookup_by_host", NULL, CFG_BOOL, "no", 0, 0, NULL, \
	  "triplets use the whole client address (postgrey's switch)" }, \
	{ "ipv4cidr", NULL, CFG_INT, "24", 1, 32, NULL, \
	  "IPv4 network of a triplet" }, \
	{ "ipv6cidr", NULL, CFG_INT, "64", 1, 128, NULL, \
	  "IPv6 network of a triplet" }, \
	{ "greylist_text", NULL, CFG_STR, \
	  "Greylisted, please try again in %s seconds", 0, 0, NULL, \
	  "reply text (%s: seconds left, %r: recipient domain)" }, \
	{ "greylist_action", NULL, CFG_ENUM, "DEFER_IF_PERMIT", 0, 0, \
	  "DEFER_IF_PERMIT|DEFER", "DEFER_IF_PERMIT lets a later " \
	  "restriction reject; DEFER defers at once (450 4.2.0)" }, \
	{ "x_greylist_header", NULL, CFG_STR, \
	  "X-Greylist: delayed %t seconds by postern-greyd at %h; %d", 0, 0, \
	  NULL, "header on mail that passed after a delay (%t %h %d %v); " \
	  "empty: none" }, \
	{ "hostname", NULL, CFG_STR, NULL, 0, 0, NULL, \
	  "%h of the header (default: the host name)" }, \
	{ "whitelist_clients", NULL, CFG_LIST, \
	  "/etc/postgrey/whitelist_clients," \
	  "/etc/postgrey/whitelist_clients.local", 0, 0, NULL, \
	  "postgrey client whitelist files (a missing .local is fine)" }, \
	{ "whitelist_recipients", NULL, CFG_LIST, \
	  "/etc/postgrey/whitelist_recipients," \
	  "/etc/postgrey/whitelist_recipients.local", 0, 0, NULL, \
	  "postgrey recipient whitelist files" }, \
	{ "greylist_by_spf_domain", NULL, CFG_BOOL, "yes", 0, 0, NULL, \
	  "when the sender's SPF gives pass, greylist by its domain " \
	  "instead of the client network" }, \
	{ "dnswl", NULL, CFG_LIST, NULL, 0, 0, NULL, \
	  "DNS whitelists ZONE[=FILTER] (postscreen filter syntax, e.g. " \
	  "list.dnswl.org=127.0.[0..255].[1..3]): a listed client passes" }, \
	{ "rdns_whitelist", NULL, CFG_LIST, NULL, 0, 0, NULL, \
	  "client names that pass: /regex/, .domain.suffix or an exact " \
	  "name (Postfix's verified client_name)" }, \
	DNS_CFG_DEFS, \
	SPF_ENGINE_CFG_DEFS,

void greyd_cfg_grey(const struct cfg *cfg, struct grey_config *g);
void greyd_cfg_store(const struct cfg *cfg, struct event_base *base,
    struct store_opts *so);

#endif
