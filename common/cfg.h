/*
 * cfg.h - table-driven "key = value" configuration.
 *
 * Public: cfg_new, cfg_ref, cfg_unref, cfg_load_file, cfg_load_file_known,
 *         cfg_parse_text,
 *         cfg_set, cfg_override, cfg_str, cfg_int, cfg_bool, cfg_list,
 *         cfg_print, cfg_def_find.
 * Trust: the config file is admin input, -o values come from the command
 *        line; both are parsed with bounded lines and reported with the
 *        file, line and key named.  Nothing here is reachable by mail peers.
 * Errors: 0 or -1; on -1 *err_r points at a message held by the cfg and
 *         valid until the next call on it.
 *
 * Each daemon describes its keys in one table of struct cfg_def: name,
 * aliases (the names the replaced tool used: policyd-spf, postgrey,
 * OpenDKIM...), type, default, range and a help line.  Keys match without
 * regard to case, and '-' matches '_', so "HELO_reject", "helo_reject"
 * and "helo-reject" are one key.  An unknown key or an out-of-range value
 * is an error naming the key.
 *
 * A loaded cfg is an immutable snapshot with a reference count: reload
 * builds a new one and swaps it in, and work in flight keeps the old one
 * until it drops its reference.
 */
#ifndef POSTERN_CFG_H
#define POSTERN_CFG_H

#include <stddef.h>
#include <stdio.h>

enum cfg_type {
	CFG_STR,	/* free text */
	CFG_INT,	/* integer in [min, max] */
	CFG_BOOL,	/* yes/no, true/false, on/off, 1/0 */
	CFG_TIME,	/* duration: 300, 300s, 500ms, 5m, 2h, 35d; kept in ms */
	CFG_ENUM,	/* one of choices ("a|b|c"), matched without case */
	CFG_LIST,	/* repeatable key and/or comma separated list */
	CFG_LEGACY,	/* a replaced tool's key we accept but do not
			   implement: any value, warned about at start */
};

struct cfg_def {
	const char *name;
	const char *aliases;	/* comma separated, or NULL */
	enum cfg_type type;
	const char *def;	/* default as text, NULL = unset/empty */
	long long min, max;	/* CFG_INT: value; CFG_TIME: milliseconds */
	const char *choices;	/* CFG_ENUM: "a|b|c" */
	const char *help;	/* one line */
};

#define CFG_END { NULL, NULL, CFG_STR, NULL, 0, 0, NULL, NULL }

#define CFG_LINE_MAX 4096	/* longest config line */
#define CFG_LIST_MAX 1024	/* most elements in one list */

struct cfg;

struct cfg *cfg_new(const struct cfg_def *defs);
struct cfg *cfg_ref(struct cfg *c);
void cfg_unref(struct cfg **cp);

int cfg_load_file(struct cfg *c, const char *path, const char **err_r);
int cfg_load_file_known(struct cfg *c, const char *path,
    const char **err_r);
int cfg_parse_text(struct cfg *c, const char *text, size_t len,
    const char *origin, const char **err_r);
int cfg_set(struct cfg *c, const char *key, const char *value,
    const char **err_r);
int cfg_override(struct cfg *c, const char *key_eq_value,
    const char **err_r);

const struct cfg_def *cfg_def_find(const struct cfg_def *defs,
    const char *key);

const char *cfg_str(const struct cfg *c, const char *key);
long long cfg_int(const struct cfg *c, const char *key);
int cfg_bool(const struct cfg *c, const char *key);
const char *const *cfg_list(const struct cfg *c, const char *key,
    size_t *n_r);
int cfg_is_set(const struct cfg *c, const char *key);

void cfg_print(const struct cfg *c, FILE *fp);
int cfg_same(const struct cfg *a, const struct cfg *b, const char *key);
void cfg_legacy_warnings(const struct cfg *c,
    void (*fn)(const struct cfg_def *d, const char *value));

/* parsing helpers shared with other modules */
int cfg_parse_bool(const char *s, int *val_r);
int cfg_parse_time_ms(const char *s, long long *ms_r);

#endif
