/*
 * policy_cfg.h - the config keys every policy daemon shares (listeners,
 *                limits, timeouts, threads) and the policy server
 *                settings built from them.
 *
 * Public: POLICY_CFG_DEFS, POLICY_RESTART_KEYS, policy_cfg_check,
 *         policy_cfg_server, policy_cfg_workers, policy_cfg_metrics.
 * Trust: admin config.  Errors: policy_cfg_check: -1 with *err_r.
 */
#ifndef POSTERN_POLICY_CFG_H
#define POSTERN_POLICY_CFG_H

#include "cfg.h"
#include "metrics.h"
#include "policy_server.h"

#define WORKERS_MAX 64

#define POLICY_CFG_DEFS(default_listen) \
	{ "listen", NULL, CFG_LIST, default_listen, 0, 0, NULL, \
	  "policy listeners: inet:HOST:PORT or unix:PATH" }, \
	{ "max_connections", NULL, CFG_INT, "4096", 1, 1000000, NULL, \
	  "concurrent policy client connections" }, \
	{ "workers", NULL, CFG_INT, "1", 0, WORKERS_MAX, NULL, \
	  "event-loop threads serving requests (0: one per CPU)" }, \
	{ "idle_timeout", NULL, CFG_TIME, "600s", 1000, 86400000LL, NULL, \
	  "close a client connection idle this long between requests" }, \
	{ "request_timeout", NULL, CFG_TIME, "30s", 100, 3600000, NULL, \
	  "time a client has to finish sending a request" }, \
	{ "unix_socket_mode", NULL, CFG_STR, "0666", 0, 0, NULL, \
	  "permissions of unix: listeners (octal)" }, \
	{ "unix_socket_group", NULL, CFG_STR, NULL, 0, 0, NULL, \
	  "group of unix: listeners, e.g. postfix (default: unchanged)" }, \
	{ "policy_line_max", NULL, CFG_INT, "4096", 128, 65536, NULL, \
	  "longest attribute line accepted" }, \
	{ "policy_attributes_max", NULL, CFG_INT, "100", 10, 10000, NULL, \
	  "most attributes in one request" }, \
	{ "policy_request_max", NULL, CFG_INT, "16384", 1024, 1048576, NULL, \
	  "largest request in bytes" }

/* keys read at start only (listeners and their threads) */
#define POLICY_RESTART_KEYS "listen", "workers", "max_connections", \
	"idle_timeout", "request_timeout", "unix_socket_mode", \
	"unix_socket_group", "policy_line_max", "policy_attributes_max", \
	"policy_request_max"

int policy_cfg_check(const struct cfg *cfg, const char **err_r);
void policy_cfg_server(const struct cfg *cfg, size_t nworkers,
    struct policy_server_config *pcfg);
size_t policy_cfg_workers(const struct cfg *cfg);
void policy_cfg_metrics(struct policy_server_config *pcfg,
    struct metrics *m);

#endif
