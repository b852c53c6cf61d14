/*
 * daemon.h - what every postern daemon shares: command line, config
 *            loading and reload, logging, privileges, signals, metrics.
 *
 * Public: DAEMON_CFG_DEFS, DAEMON_CFG_DEFS_ALIASED, daemon_main,
 *         daemon_base, daemon_cfg, daemon_metrics; and the pieces other
 *         daemon shapes reuse (the milters, milters/milter.c):
 *         daemon_parse_args, daemon_load_config, daemon_apply_log_level,
 *         daemon_warn_legacy_keys, daemon_warn_restart,
 *         daemon_raise_nofile, daemon_write_pid_file,
 *         daemon_drop_privileges, daemon_user_split.
 * Command line (DESIGN.md "Names operators and scripts rely on"):
 *   -c FILE       config file (default /etc/postern/NAME.conf if present)
 *   -o key=value  override any key (repeatable, wins over the file)
 *   -f            foreground, log to stderr
 *   -t            check the configuration and exit (0 ok, 1 with message)
 *   -p            print the effective configuration and exit
 *   -V            print the version and exit
 * Signals: SIGTERM/SIGINT stop accepting and finish work in flight
 *          (bounded by shutdown_timeout); SIGHUP re-reads the config
 *          (file + the same -o) and swaps it in, keeping the old one on
 *          any error.
 * Privileges: listeners are bound first, then (when started as root and
 *          "user" is set) the daemon chroots if asked and drops to that
 *          user and its groups, and checks it cannot regain root.
 *          "user" may be USER:GROUP (OpenDKIM's UserID form): the
 *          daemon then runs with that group instead of USER's own.
 */
#ifndef POSTERN_DAEMON_H
#define POSTERN_DAEMON_H

#include "cfg.h"
#include "metrics.h"

struct event_base;
struct daemon;

#define DAEMON_OVERRIDES_MAX 256	/* -o options */
#define DAEMON_USER_MAX 256		/* a user or group name */

/* the shared keys, with the replaced tool's names for user and pid_file */
#define DAEMON_CFG_DEFS_ALIASED(user_aliases, pid_aliases) \
	{ "user", user_aliases, CFG_STR, NULL, 0, 0, NULL, \
	  "drop to this user (USER or USER:GROUP) after binding (when " \
	  "started as root)" }, \
	{ "chroot", NULL, CFG_STR, NULL, 0, 0, NULL, \
	  "chroot to this directory after binding (needs user)" }, \
	{ "log_level", "debugLevel", CFG_ENUM, "info", 0, 0, \
	  "debug|info|warn|error|-1|0|1|2|3|4|5", \
	  "least severe messages logged (policyd-spf debugLevel accepted)" }, \
	{ "pid_file", pid_aliases, CFG_STR, NULL, 0, 0, NULL, \
	  "write the daemon's pid here (when not in the foreground)" }, \
	{ "metrics_listen", NULL, CFG_STR, NULL, 0, 0, NULL, \
	  "inet:HOST:PORT for Prometheus metrics at /metrics (off if empty)" }, \
	{ "shutdown_timeout", NULL, CFG_TIME, "10s", 0, 600000, NULL, \
	  "time to finish requests in flight on SIGTERM" }
#define DAEMON_CFG_DEFS DAEMON_CFG_DEFS_ALIASED(NULL, NULL)

struct daemon_desc {
	const char *name;
	const struct cfg_def *defs;
	/* validate a loaded config without side effects (-t, reload) */
	int (*check)(const struct cfg *cfg, const char **err_r);
	/* bind and build; runs as root before the privilege drop */
	int (*start)(struct daemon *d, const char **err_r);
	/* keys only read at start: a reload that changes one warns */
	const char *const *restart_keys;
	/* a new, checked config is in daemon_cfg(); 0 or -1 (kept old) */
	int (*reload)(struct daemon *d, struct cfg *old, const char **err_r);
	/* stop accepting work */
	void (*stop)(struct daemon *d);
	/* work still in flight (requests being answered) */
	size_t (*busy)(struct daemon *d);
	/* release everything before exit */
	void (*finish)(struct daemon *d);
};

/* the command line every daemon shares */
struct daemon_args {
	const char *config_path;	/* -c, or default_path */
	int config_explicit;		/* -c given: the file must exist */
	const char *overrides[DAEMON_OVERRIDES_MAX];	/* -o key=value */
	size_t noverrides;
	int foreground, check_only, print;	/* -f, -t, -p */
	char default_path[512];		/* SYSCONFDIR/postern/NAME.conf */
};

int daemon_main(int argc, char **argv, const struct daemon_desc *desc);

int daemon_parse_args(int argc, char **argv, const char *name,
    struct daemon_args *a);
struct cfg *daemon_load_config(const struct daemon_args *a,
    const struct cfg_def *defs, int (*check)(const struct cfg *cfg,
    const char **err_r), const char **err_r);
void daemon_apply_log_level(const struct cfg *cfg);
void daemon_warn_legacy_keys(const struct cfg *cfg);
void daemon_warn_restart(const char *const *keys, const struct cfg *old,
    const struct cfg *fresh);
void daemon_raise_nofile(void);
void daemon_write_pid_file(const struct cfg *cfg);
void daemon_drop_privileges(const struct cfg *cfg);
int daemon_user_split(const char *s, char user[DAEMON_USER_MAX],
    char group[DAEMON_USER_MAX]);
struct event_base *daemon_base(struct daemon *d);
struct cfg *daemon_cfg(struct daemon *d);
struct metrics *daemon_metrics(struct daemon *d);
void daemon_set_data(struct daemon *d, void *data);
void *daemon_data(struct daemon *d);

#endif
