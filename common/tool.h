/*
 * tool.h - what the command-line tools (tools/postern-*) share: the
 *          program name and a fatal message, the options of a tool that
 *          reads a daemon's config (-c, -o, -h, -V) and that config,
 *          finding the daemon's embedded store and becoming its owner.
 *
 * Public: tool_set_name, tool_die, tool_opts_init, tool_opts_take,
 *         tool_opts_free, tool_cfg_load, tool_store_ready,
 *         tool_become_owner.
 * Trust: the callers are the tools' main paths; the arguments are the
 *        admin's (command line, config) or come from stat(2).
 * Errors: tool_die, and the others when they fail, print one line
 *         "NAME: message" on stderr and exit with the caller's code.
 *         Not for daemons or engines: nothing here returns an error.
 */
#ifndef POSTERN_TOOL_H
#define POSTERN_TOOL_H

#include <stddef.h>
#include <sys/stat.h>

#include "cfg.h"

#define TOOL_PATH_MAX 4096	/* a config path; a store's data file path */

/* the options a tool has beside its own: -c FILE and -o key=value (when
 * it reads a daemon's config), -h and -V */
struct tool_opts {
	const char *help;		/* what -h prints */
	const char *path;		/* -c FILE, or the default */
	int explicit;			/* -c was given */
	const char **ov;		/* the -o values, in order */
	size_t nov;
	char default_path[TOOL_PATH_MAX];
};

/* tool_set_name - the program name tool_die prefixes and -V prints;
 * name must outlive the process (default "postern") */
void tool_set_name(const char *name);

/* tool_die - "NAME: message" on stderr, exit with code */
void tool_die(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));

/* tool_opts_init - help is the manual -h prints; conf names the daemon's
 * config file in SYSCONFDIR/postern (the -c default), NULL for a tool
 * without -c and -o; argc bounds the -o values */
void tool_opts_init(struct tool_opts *o, const char *help, const char *conf,
    int argc);

/* tool_opts_take - getopt's ch and optarg: 1 when it was -c or -o (with
 * conf) or -h or -V, 0 when it is the tool's own.  -h prints the manual,
 * -V "NAME VERSION", on stdout, and exit 0 */
int tool_opts_take(struct tool_opts *o, int ch, const char *arg);

/* tool_opts_free - the -o list (cfg_override copied the values) */
void tool_opts_free(struct tool_opts *o);

/* tool_cfg_load - a daemon's config as a tool reads it: the -o overrides
 * first (they win over the file whatever their order), then the file
 * when -c named it or when the default exists, keys the table of cfg
 * lacks skipped (cfg_load_file_known: a newer daemon's file still
 * reads).  1 the file was read, 0 there is none (a missing default).
 * An error: tool_die(code, "configuration error: ...") */
int tool_cfg_load(int code, struct cfg *cfg, const struct tool_opts *o);

/* tool_store_ready - before store_open(spec): 1 for a Redis spec (a
 * URL); for an embedded store (a directory), 1 when its data file is
 * there, after becoming the store's owner when run as root
 * (tool_become_owner, with data.mdb's stat), 0 when there is none (a
 * tool never creates one: the caller says so).  An empty spec or a path
 * too long: tool_die(usage_code); the user switch: tool_die(code). */
int tool_store_ready(int usage_code, int code, const char *spec);

/* tool_become_owner - run as root on an embedded store dir that another
 * user owns (st from stat(2) of dir or a file in it): become that user
 * (uid, the user's primary group and supplementary groups; the file's
 * group without a passwd entry) and make sure root cannot be regained,
 * so LMDB never leaves a root-owned file in the owner's directory.  Not
 * root, or a root-owned store: nothing.  Failure: tool_die(code). */
void tool_become_owner(int code, const char *dir, const struct stat *st);

#endif
