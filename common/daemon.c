/*
 * daemon.c - shared daemon life cycle; see daemon.h.
 */
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "daemon.h"
#include "listen.h"
#include "log.h"
#include "xalloc.h"

#define SHUTDOWN_POLL_MS 50

struct daemon {
	const struct daemon_desc *desc;
	struct event_base *base;
	struct cfg *cfg;
	struct metrics *metrics;
	struct daemon_args args;
	struct event *sigterm, *sigint, *sighup, *shutdown_timer;
	struct event *log_timer;
	long long shutdown_deadline;
	void *data;
};

struct event_base *daemon_base(struct daemon *d) { return d->base; }
struct cfg *daemon_cfg(struct daemon *d) { return d->cfg; }
struct metrics *daemon_metrics(struct daemon *d) { return d->metrics; }
void daemon_set_data(struct daemon *d, void *data) { d->data = data; }
void *daemon_data(struct daemon *d) { return d->data; }

/* common_check - the shared keys: metrics listener, user, chroot */
static int common_check(const struct cfg *cfg, const char **err_r)
{
	static char err[400];
	const char *m = cfg_str(cfg, "metrics_listen");
	char user[DAEMON_USER_MAX], group[DAEMON_USER_MAX];
	struct listen_addr la;

	if (*m && (listen_parse(m, &la, err_r) < 0 || la.is_unix)) {
		snprintf(err, sizeof(err), "metrics_listen: %s", la.is_unix ?
		    "only inet:HOST:PORT" : *err_r);
		*err_r = err;
		return -1;
	}
	if (daemon_user_split(cfg_str(cfg, "user"), user, group) < 0) {
		*err_r = "user: expected USER or USER:GROUP";
		return -1;
	}
	if (*user && getpwnam(user) == NULL) {
		snprintf(err, sizeof(err), "user: no such user \"%.100s\"",
		    user);
		*err_r = err;
		return -1;
	}
	if (*group && getgrnam(group) == NULL) {
		snprintf(err, sizeof(err), "user: no such group \"%.100s\"",
		    group);
		*err_r = err;
		return -1;
	}
	if (*cfg_str(cfg, "chroot")) {
		struct stat st;

		if (*user == '\0') {
			*err_r = "chroot: needs user (a chroot as root is no "
			    "protection)";
			return -1;
		}
		if (stat(cfg_str(cfg, "chroot"), &st) < 0 ||
		    !S_ISDIR(st.st_mode)) {
			snprintf(err, sizeof(err), "chroot: \"%.100s\" is not "
			    "a directory", cfg_str(cfg, "chroot"));
			*err_r = err;
			return -1;
		}
	}
	return 0;
}

/* warn_legacy - a replaced tool's key that has no effect here */
static void warn_legacy(const struct cfg_def *def, const char *value)
{
	log_warn("%s = %s: %s", def->name, value, def->help);
}

/* daemon_warn_legacy_keys - one warning per replaced tool's key set */
void daemon_warn_legacy_keys(const struct cfg *cfg)
{
	cfg_legacy_warnings(cfg, warn_legacy);
}

/* daemon_load_config - file (if any) + overrides + shared and daemon
 * checks; NULL with *err_r (a static copy) on any error */
struct cfg *daemon_load_config(const struct daemon_args *a,
    const struct cfg_def *defs, int (*check)(const struct cfg *cfg,
    const char **err_r), const char **err_r)
{
	struct cfg *cfg = cfg_new(defs);

	for (size_t i = 0; i < a->noverrides; i++)
		if (cfg_override(cfg, a->overrides[i], err_r) < 0)
			goto bad;
	if (a->config_explicit || access(a->config_path, F_OK) == 0)
		if (cfg_load_file(cfg, a->config_path, err_r) < 0)
			goto bad;
	if (common_check(cfg, err_r) < 0)
		goto bad;
	if (check && check(cfg, err_r) < 0)
		goto bad;
	return cfg;
bad:
	/* the message may live in cfg: copy it out before freeing */
	{
		static char msg[512];

		snprintf(msg, sizeof(msg), "%s", *err_r);
		*err_r = msg;
	}
	cfg_unref(&cfg);
	return NULL;
}

/* load_config - this daemon's config */
static struct cfg *load_config(struct daemon *d, const char **err_r)
{
	return daemon_load_config(&d->args, d->desc->defs, d->desc->check,
	    err_r);
}

/* daemon_apply_log_level - log_level key, policyd-spf's numbers accepted */
void daemon_apply_log_level(const struct cfg *cfg)
{
	const char *s = cfg_str(cfg, "log_level");
	enum log_level lvl = LOG_L_INFO;

	if (s[0] == '-')
		lvl = LOG_L_ERROR;	/* policyd-spf -1: errors only here */
	else if (s[0] >= '0' && s[0] <= '9')
		lvl = s[0] == '0' ? LOG_L_ERROR : s[0] == '1' ? LOG_L_INFO :
		    LOG_L_DEBUG;
	else
		log_level_parse(s, &lvl);
	log_set_level(lvl);
}

/* daemon_user_split - "USER" or "USER:GROUP" (OpenDKIM's UserID) into
 * its parts; "" for a missing part; -1 if too long or malformed */
int daemon_user_split(const char *s, char user[DAEMON_USER_MAX],
    char group[DAEMON_USER_MAX])
{
	const char *colon = strchr(s, ':');
	size_t n = colon ? (size_t)(colon - s) : strlen(s);

	user[0] = group[0] = '\0';
	if (n >= DAEMON_USER_MAX || (colon && (strlen(colon + 1) >=
	    DAEMON_USER_MAX || n == 0 || colon[1] == '\0')))
		return -1;
	memcpy(user, s, n);
	user[n] = '\0';
	if (colon)
		memcpy(group, colon + 1, strlen(colon + 1) + 1);
	return 0;
}

/* daemon_drop_privileges - chroot and setuid as configured */
void daemon_drop_privileges(const struct cfg *cfg)
{
	char user[DAEMON_USER_MAX], group[DAEMON_USER_MAX];
	const char *root = cfg_str(cfg, "chroot");
	struct passwd *pw;
	gid_t gid;

	if (daemon_user_split(cfg_str(cfg, "user"), user, group) < 0)
		log_fatal("user: expected USER or USER:GROUP");
	if (geteuid() != 0) {
		if (*user)
			log_info("not root: ignoring user = %s", user);
		return;
	}
	if (*user == '\0') {
		log_warn("running as root: set \"user\" to an unprivileged "
		    "account");
		return;
	}
	if ((pw = getpwnam(user)) == NULL)
		log_fatal("user \"%s\" does not exist", user);
	if (pw->pw_uid == 0)
		log_fatal("user \"%s\" is root: choose an unprivileged one",
		    user);
	gid = pw->pw_gid;
	if (*group) {
		struct group *gr = getgrnam(group);

		if (gr == NULL)
			log_fatal("group \"%s\" does not exist", group);
		gid = gr->gr_gid;
	}
	if (initgroups(pw->pw_name, gid) < 0)
		log_fatal("initgroups(%s): %s", user, strerror(errno));
	if (*root) {
		if (chroot(root) < 0 || chdir("/") < 0)
			log_fatal("chroot(%s): %s", root, strerror(errno));
	}
	if (setgid(gid) < 0 || setuid(pw->pw_uid) < 0)
		log_fatal("cannot drop to %s: %s", user, strerror(errno));
	if (setuid(0) == 0)
		log_fatal("still able to regain root after dropping to %s",
		    user);
	log_info("running as %s (uid %ld)", user, (long)pw->pw_uid);
}

/* log_tick - flush buffered foreground log lines */
static void log_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	log_flush();
}

/* daemon_warn_restart - name each start-only key a reload would change */
void daemon_warn_restart(const char *const *keys, const struct cfg *old,
    const struct cfg *fresh)
{
	static const char *const common[] = { "user", "chroot", "pid_file",
	    "metrics_listen", NULL };
	const char *const *lists[] = { common, keys };

	for (size_t l = 0; l < 2; l++)
		for (const char *const *k = lists[l]; k && *k; k++)
			if (!cfg_same(old, fresh, *k))
				log_warn("%s changed: restart to apply it", *k);
}

/* on_reload - SIGHUP */
static void on_reload(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;
	const char *err;
	struct cfg *fresh, *old;

	(void)sig;
	(void)what;
	if ((fresh = load_config(d, &err)) == NULL) {
		log_error("reload failed, keeping the running config: %s", err);
		return;
	}
	old = d->cfg;
	daemon_warn_restart(d->desc->restart_keys, old, fresh);
	d->cfg = fresh;
	if (d->desc->reload && d->desc->reload(d, old, &err) < 0) {
		log_error("reload failed, keeping the running config: %s", err);
		d->cfg = old;
		cfg_unref(&fresh);
		return;
	}
	daemon_apply_log_level(fresh);
	cfg_unref(&old);
	log_info("configuration reloaded");
}

/* shutdown_poll - exit when idle or when the grace time is over */
static void shutdown_poll(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	struct timeval tv = { 0, SHUTDOWN_POLL_MS * 1000 };
	size_t busy = d->desc->busy ? d->desc->busy(d) : 0;

	(void)fd;
	(void)what;
	if (busy == 0 || clock_ms() >= d->shutdown_deadline) {
		if (busy)
			log_warn("shutdown: giving up on %zu requests in "
			    "flight", busy);
		event_base_loopexit(d->base, NULL);
		return;
	}
	evtimer_add(d->shutdown_timer, &tv);
}

/* on_stop - SIGTERM/SIGINT: stop accepting, finish what is in flight */
static void on_stop(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;

	(void)what;
	if (d->shutdown_timer) {
		log_info("second signal: exiting now");
		event_base_loopexit(d->base, NULL);
		return;
	}
	log_info("signal %d: shutting down", (int)sig);
	if (d->desc->stop)
		d->desc->stop(d);
	d->shutdown_deadline = clock_ms() + cfg_int(d->cfg, "shutdown_timeout");
	d->shutdown_timer = evtimer_new(d->base, shutdown_poll, d);
	shutdown_poll(-1, 0, d);
}

/* daemon_raise_nofile - as many descriptors as the hard limit allows */
void daemon_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* usage - command line help */
static void usage(const char *name)
{
	fprintf(stderr, "usage: %s [-c FILE] [-o key=value]... [-f] [-t] "
	    "[-p] [-V]\n", name);
	exit(2);
}

/* daemon_parse_args - the shared command line into *a; 1 when done
 * (-V printed), 0 to go on; a usage error exits 2 */
int daemon_parse_args(int argc, char **argv, const char *name,
    struct daemon_args *a)
{
	int ch;

	memset(a, 0, sizeof(*a));
	snprintf(a->default_path, sizeof(a->default_path),
	    "%s/postern/%s.conf", SYSCONFDIR, name);
	a->config_path = a->default_path;
	while ((ch = getopt(argc, argv, "c:fo:ptV")) != -1) {
		switch (ch) {
		case 'c':
			a->config_path = optarg;
			a->config_explicit = 1;
			break;
		case 'f':
			a->foreground = 1;
			break;
		case 'o':
			if (a->noverrides == DAEMON_OVERRIDES_MAX)
				log_fatal("too many -o options");
			a->overrides[a->noverrides++] = optarg;
			break;
		case 'p':
			a->print = 1;
			break;
		case 't':
			a->check_only = 1;
			break;
		case 'V':
			printf("%s %s\n", name, PACKAGE_VERSION);
			return 1;
		default:
			usage(name);
		}
	}
	if (optind != argc)
		usage(name);
	return 0;
}

/* daemon_write_pid_file - pid_file, when set (fatal on error) */
void daemon_write_pid_file(const struct cfg *cfg)
{
	const char *path = cfg_str(cfg, "pid_file");
	FILE *fp;

	if (*path == '\0')
		return;
	if ((fp = fopen(path, "w")) == NULL)
		log_fatal("pid_file %s: %s", path, strerror(errno));
	fprintf(fp, "%ld\n", (long)getpid());
	fclose(fp);
}

/* daemon_main - run a daemon described by desc */
int daemon_main(int argc, char **argv, const struct daemon_desc *desc)
{
	struct daemon *d = xcalloc(1, sizeof(*d));
	const char *err;
	int foreground;

	d->desc = desc;
	log_open(desc->name, 1);
	if (daemon_parse_args(argc, argv, desc->name, &d->args) > 0) {
		free(d);
		return 0;
	}
	foreground = d->args.foreground;
	if ((d->cfg = load_config(d, &err)) == NULL) {
		fprintf(stderr, "%s: configuration error: %s\n", desc->name,
		    err);
		free(d);
		return 1;
	}
	if (d->args.print) {
		cfg_print(d->cfg, stdout);
		cfg_unref(&d->cfg);
		free(d);
		return 0;
	}
	if (d->args.check_only) {
		printf("%s: configuration OK\n", desc->name);
		cfg_unref(&d->cfg);
		free(d);
		return 0;
	}
	log_open(desc->name, foreground);
	daemon_apply_log_level(d->cfg);
	daemon_warn_legacy_keys(d->cfg);
	signal(SIGPIPE, SIG_IGN);
	daemon_raise_nofile();
	evthread_use_pthreads();
	d->base = event_base_new();
	if (d->base == NULL)
		log_fatal("event_base_new failed");
	d->metrics = metrics_new("postern");
	if (desc->start(d, &err) < 0)
		log_fatal("%s", err);
	if (*cfg_str(d->cfg, "metrics_listen") &&
	    metrics_serve(d->metrics, d->base, cfg_str(d->cfg,
	    "metrics_listen"), &err) < 0)
		log_fatal("%s", err);
	if (!foreground) {
		if (daemon(0, 0) < 0)
			log_fatal("daemon: %s", strerror(errno));
		event_reinit(d->base);
		daemon_write_pid_file(d->cfg);
	}
	daemon_drop_privileges(d->cfg);
	d->sigterm = evsignal_new(d->base, SIGTERM, on_stop, d);
	d->sigint = evsignal_new(d->base, SIGINT, on_stop, d);
	d->sighup = evsignal_new(d->base, SIGHUP, on_reload, d);
	event_add(d->sigterm, NULL);
	event_add(d->sigint, NULL);
	event_add(d->sighup, NULL);
	log_info("%s %s started", desc->name, PACKAGE_VERSION);
	if (foreground) {
		struct timeval tick = { 0, 100 * 1000 };

		log_buffer_stderr();
		d->log_timer = event_new(d->base, -1, EV_PERSIST, log_tick,
		    NULL);
		event_add(d->log_timer, &tick);
	}
	event_base_dispatch(d->base);
	if (desc->finish)
		desc->finish(d);
	event_free(d->sigterm);
	event_free(d->sigint);
	event_free(d->sighup);
	if (d->shutdown_timer)
		event_free(d->shutdown_timer);
	if (d->log_timer)
		event_free(d->log_timer);
	metrics_free(&d->metrics);
	cfg_unref(&d->cfg);
	event_base_free(d->base);
	log_info("%s stopped", desc->name);
	log_flush();
	free(d);
	return 0;
}
