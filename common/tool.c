/*
 * tool.c - helpers of the command-line tools; see tool.h.
 *
 * The tools run once and exit: a fatal error is one line on stderr and
 * an exit status the manual documents, chosen by the caller.  The name
 * is set once in main before anything can fail (the tools are single
 * threaded); the daemons keep using log.h.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "tool.h"
#include "xalloc.h"

static const char *tool_name = "postern";

/* tool_set_name - the prefix of tool_die's messages */
void tool_set_name(const char *name)
{
	tool_name = name;
}

/* tool_die - message on stderr, exit with code */
void tool_die(int code, const char *fmt, ...)
{
	va_list ap;

	fputs(tool_name, stderr);
	fputs(": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

/* tool_opts_init - the default config path, room for the -o values */
void tool_opts_init(struct tool_opts *o, const char *help, const char *conf,
    int argc)
{
	memset(o, 0, sizeof(*o));
	o->help = help;
	if (conf == NULL)
		return;
	if (snprintf(o->default_path, sizeof(o->default_path),
	    "%s/postern/%s", SYSCONFDIR, conf) >= (int)sizeof(o->default_path))
		log_panic("%s/postern/%s: path too long", SYSCONFDIR, conf);
	o->path = o->default_path;
	o->ov = xcalloc((size_t)argc + 1, sizeof(*o->ov));
}

/* tool_opts_take - one of the shared options, or 0 */
int tool_opts_take(struct tool_opts *o, int ch, const char *arg)
{
	switch (ch) {
	case 'c':
	case 'o':
		if (o->ov == NULL)
			return 0;
		if (ch == 'c') {
			o->path = arg;
			o->explicit = 1;
		} else {
			o->ov[o->nov++] = arg;
		}
		return 1;
	case 'h':
		tool_opts_free(o);
		fputs(o->help, stdout);
		exit(0);
	case 'V':
		tool_opts_free(o);
		printf("%s %s\n", tool_name, PACKAGE_VERSION);
		exit(0);
	default:
		return 0;
	}
}

/* tool_opts_free - free the -o list */
void tool_opts_free(struct tool_opts *o)
{
	XFREE(&o->ov);
	o->nov = 0;
}

/* tool_cfg_load - overrides, then the file if named or present */
int tool_cfg_load(int code, struct cfg *cfg, const struct tool_opts *o)
{
	const char *err;

	for (size_t i = 0; i < o->nov; i++)
		if (cfg_override(cfg, o->ov[i], &err) < 0)
			tool_die(code, "configuration error: %s", err);
	if (!o->explicit && access(o->path, F_OK) != 0)
		return 0;
	if (cfg_load_file_known(cfg, o->path, &err) < 0)
		tool_die(code, "configuration error: %s", err);
	return 1;
}

/* tool_store_ready - the embedded store exists, and is ours to use */
int tool_store_ready(int usage_code, int code, const char *spec)
{
	char data[TOOL_PATH_MAX];
	struct stat st;
	int n;

	if (*spec == '\0')
		tool_die(usage_code, "configuration error: store is empty");
	if (strstr(spec, "://") != NULL || strncmp(spec, "redis+", 6) == 0)
		return 1;
	n = snprintf(data, sizeof(data), "%s/data.mdb", spec);
	if (n < 0 || (size_t)n >= sizeof(data))
		tool_die(usage_code, "store: path too long");
	if (stat(spec, &st) < 0 || !S_ISDIR(st.st_mode) ||
	    stat(data, &st) < 0)
		return 0;
	tool_become_owner(code, spec, &st);
	return 1;
}

/* tool_become_owner - root on another user's embedded store: become that
 * user, then check that setuid(0) fails */
void tool_become_owner(int code, const char *dir, const struct stat *st)
{
	struct passwd *pw;
	gid_t gid = st->st_gid;

	if (geteuid() != 0 || st->st_uid == 0)
		return;
	pw = getpwuid(st->st_uid);
	if (pw)
		gid = pw->pw_gid;
	if ((pw ? initgroups(pw->pw_name, gid) : setgroups(1, &gid)) < 0 ||
	    setgid(gid) < 0 || setuid(st->st_uid) < 0)
		tool_die(code, "store %s: cannot switch to its owner (uid "
		    "%lu): %s", dir, (unsigned long)st->st_uid,
		    strerror(errno));
	if (setuid(0) == 0)
		tool_die(code, "store %s: could not drop root", dir);
}
