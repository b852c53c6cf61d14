/*
 * spfd_cfg.c - the configuration table of postern-spfd, shared with
 *              postern-spfquery so both read the same file.
 *
 * Public: spfd_defs.  Trust: admin config.  Errors: see cfg.h.
 */
#include "daemon.h"
#include "dnscfg.h"
#include "spfd_cfg.h"
#include "spfengine.h"
#include "spfpolicy.h"

const struct cfg_def spfd_defs[] = {
	{ "listen", NULL, CFG_LIST, "inet:127.0.0.1:10040", 0, 0, NULL,
	  "policy listeners: inet:HOST:PORT or unix:PATH" },
	{ "max_connections", NULL, CFG_INT, "4096", 1, 1000000, NULL,
	  "concurrent policy client connections" },
	{ "workers", NULL, CFG_INT, "1", 0, WORKERS_MAX, NULL,
	  "event-loop threads serving requests (0: one per CPU)" },
	{ "idle_timeout", NULL, CFG_TIME, "600s", 1000, 86400000LL, NULL,
	  "close a client connection idle this long between requests" },
	{ "request_timeout", NULL, CFG_TIME, "30s", 100, 3600000, NULL,
	  "time a client has to finish sending a request" },
	{ "unix_socket_mode", NULL, CFG_STR, "0666", 0, 0, NULL,
	  "permissions of unix: listeners (octal)" },
	{ "unix_socket_group", NULL, CFG_STR, NULL, 0, 0, NULL,
	  "group of unix: listeners, e.g. postfix (default: unchanged)" },
	{ "policy_line_max", NULL, CFG_INT, "4096", 128, 65536, NULL,
	  "longest attribute line accepted" },
	{ "policy_attributes_max", NULL, CFG_INT, "100", 10, 10000, NULL,
	  "most attributes in one request" },
	{ "policy_request_max", NULL, CFG_INT, "16384", 1024, 1048576, NULL,
	  "largest request in bytes" },
	DAEMON_CFG_DEFS,
	DNS_CFG_DEFS,
	SPF_ENGINE_CFG_DEFS,
	SPFPOLICY_CFG_DEFS,
	CFG_END
};
