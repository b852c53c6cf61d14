/*
 * policy_cfg.c - shared policy daemon keys; see policy_cfg.h.
 */
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "listen.h"
#include "metrics.h"
#include "policy_cfg.h"

/* parse_mode - octal permission text */
static int parse_mode(const char *s, int *mode_r)
{
	char *end;
	long m = strtol(s, &end, 8);

	if (*s == '\0' || *end || m < 0 || m > 07777)
		return -1;
	*mode_r = (int)m;
	return 0;
}

/* policy_cfg_check - listeners, socket mode and group */
int policy_cfg_check(const struct cfg *cfg, const char **err_r)
{
	static __thread char err[256];
	const char *const *l;
	size_t n;
	int mode;

	l = cfg_list(cfg, "listen", &n);
	if (n == 0) {
		*err_r = "listen: at least one listener is needed";
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		struct listen_addr la;

		if (listen_parse(l[i], &la, err_r) < 0) {
			snprintf(err, sizeof(err), "listen: %s", *err_r);
			*err_r = err;
			return -1;
		}
	}
	if (parse_mode(cfg_str(cfg, "unix_socket_mode"), &mode) < 0) {
		*err_r = "unix_socket_mode: expected an octal mode like 0660";
		return -1;
	}
	if (*cfg_str(cfg, "unix_socket_group") &&
	    getgrnam(cfg_str(cfg, "unix_socket_group")) == NULL) {
		snprintf(err, sizeof(err), "unix_socket_group: no such group "
		    "\"%.100s\"", cfg_str(cfg, "unix_socket_group"));
		*err_r = err;
		return -1;
	}
	return 0;
}

/* policy_cfg_server - policy server settings (checked config) */
void policy_cfg_server(const struct cfg *cfg, size_t nworkers,
    struct policy_server_config *pcfg)
{
	memset(pcfg, 0, sizeof(*pcfg));
	pcfg->listen = cfg_list(cfg, "listen", &pcfg->nlisten);
	/* the connection limit is shared out over the workers */
	pcfg->max_conns = ((size_t)cfg_int(cfg, "max_connections") +
	    nworkers - 1) / nworkers;
	pcfg->idle_timeout_ms = (unsigned)cfg_int(cfg, "idle_timeout");
	pcfg->request_timeout_ms = (unsigned)cfg_int(cfg, "request_timeout");
	parse_mode(cfg_str(cfg, "unix_socket_mode"), &pcfg->unix_mode);
	pcfg->unix_gid = (gid_t)-1;
	if (*cfg_str(cfg, "unix_socket_group"))
		pcfg->unix_gid = getgrnam(cfg_str(cfg,
		    "unix_socket_group"))->gr_gid;
	pcfg->limits.line_max = (size_t)cfg_int(cfg, "policy_line_max");
	pcfg->limits.attrs_max = (size_t)cfg_int(cfg,
	    "policy_attributes_max");
	pcfg->limits.request_max = (size_t)cfg_int(cfg, "policy_request_max");
}

/* policy_cfg_workers - configured, or one per CPU */
size_t policy_cfg_workers(const struct cfg *cfg)
{
	long n = (long)cfg_int(cfg, "workers");

	if (n == 0)
		n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	return n > WORKERS_MAX ? WORKERS_MAX : (size_t)n;
}

/* policy_cfg_metrics - the server's own counters: malformed requests by
 * reason, connections refused over the limit */
void policy_cfg_metrics(struct policy_server_config *pcfg, struct metrics *m)
{
	pcfg->m_malformed = metrics_counter(m, "policy_malformed_total",
	    "requests refused as malformed, by reason", "reason");
	pcfg->m_refused = metrics_counter(m, "policy_refused_total",
	    "connections refused over max_connections", NULL);
}
