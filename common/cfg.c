/*
 * cfg.c - configuration tables; see cfg.h.
 */
#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "cfg.h"
#include "log.h"
#include "xalloc.h"

#define CFG_ERR_SIZE 512
#define CFG_FILE_MAX (4 * 1024 * 1024)	/* refuse absurd config files */

struct cfg_val {
	char *str;		/* CFG_STR/ENUM text, or NULL */
	long long num;		/* INT, TIME (ms), BOOL */
	char **list;		/* CFG_LIST elements */
	size_t nlist;
	int set;		/* set explicitly (not the default) */
	int overridden;		/* set by -o: file values no longer apply */
};

struct cfg {
	const struct cfg_def *defs;
	size_t ndefs;
	struct cfg_val *vals;
	int refs;
	char err[CFG_ERR_SIZE];
};

/* key_eq - compare keys ignoring case, '-' equal to '_' */
static int key_eq(const char *a, const char *b, size_t blen)
{
	size_t i;

	for (i = 0; i < blen; i++) {
		int ca = (unsigned char)a[i], cb = (unsigned char)b[i];

		if (ca == '\0')
			return 0;
		if (ca == '-')
			ca = '_';
		if (cb == '-')
			cb = '_';
		if (tolower(ca) != tolower(cb))
			return 0;
	}
	return a[i] == '\0';
}

/* alias_match - does the comma list of aliases contain key? */
static int alias_match(const char *aliases, const char *key)
{
	const char *p = aliases;

	while (p && *p) {
		const char *e = strchr(p, ',');
		size_t n = e ? (size_t)(e - p) : strlen(p);

		if (n == strlen(key) && key_eq(key, p, n))
			return 1;
		p = e ? e + 1 : NULL;
	}
	return 0;
}

/* def_index - index of key (name or alias) in the table, or -1 */
static long def_index(const struct cfg *c, const char *key)
{
	for (size_t i = 0; i < c->ndefs; i++) {
		const struct cfg_def *d = &c->defs[i];

		if (key_eq(key, d->name, strlen(d->name)) ||
		    alias_match(d->aliases, key))
			return (long)i;
	}
	return -1;
}

/* cfg_def_find - table entry for key, or NULL */
const struct cfg_def *cfg_def_find(const struct cfg_def *defs,
    const char *key)
{
	for (; defs->name; defs++)
		if (key_eq(key, defs->name, strlen(defs->name)) ||
		    alias_match(defs->aliases, key))
			return defs;
	return NULL;
}

/* seterr - format an error into the cfg and point err_r at it */
static int seterr(struct cfg *c, const char **err_r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int seterr(struct cfg *c, const char **err_r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	if (err_r)
		*err_r = c->err;
	return -1;
}

/* cfg_parse_bool - yes/no true/false on/off 1/0 */
int cfg_parse_bool(const char *s, int *val_r)
{
	static const char *yes[] = { "yes", "true", "on", "1" };
	static const char *no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*val_r = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*val_r = 0;
			return 0;
		}
	}
	return -1;
}

/* cfg_parse_time_ms - "300" (seconds), "300s", "500ms", "5m", "2h", "35d",
 * "1w"; result in milliseconds */
int cfg_parse_time_ms(const char *s, long long *ms_r)
{
	char *end;
	long long v, mult = 1000;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || v < 0)
		return -1;
	if (strcmp(end, "") == 0 || strcasecmp(end, "s") == 0)
		mult = 1000;
	else if (strcasecmp(end, "ms") == 0)
		mult = 1;
	else if (strcasecmp(end, "m") == 0)
		mult = 60 * 1000;
	else if (strcasecmp(end, "h") == 0)
		mult = 3600 * 1000;
	else if (strcasecmp(end, "d") == 0)
		mult = 86400LL * 1000;
	else if (strcasecmp(end, "w") == 0)
		mult = 7 * 86400LL * 1000;
	else
		return -1;
	if (v > LLONG_MAX / mult)
		return -1;
	*ms_r = v * mult;
	return 0;
}

/* val_clear - release a value */
static void val_clear(struct cfg_val *v)
{
	XFREE(&v->str);
	for (size_t i = 0; i < v->nlist; i++)
		free(v->list[i]);
	XFREE(&v->list);
	v->nlist = 0;
	v->num = 0;
	v->set = 0;
}

/* list_add - append comma/space separated elements of s */
static int list_add(struct cfg *c, const struct cfg_def *d,
    struct cfg_val *v, const char *s, const char **err_r)
{
	const char *p = s;

	while (*p) {
		size_t n;

		while (*p == ',' || isspace((unsigned char)*p))
			p++;
		if (*p == '\0')
			break;
		n = strcspn(p, ", \t");
		if (v->nlist >= CFG_LIST_MAX)
			return seterr(c, err_r, "%s: more than %d values",
			    d->name, CFG_LIST_MAX);
		v->list = xrealloc(v->list, (v->nlist + 1) * sizeof(char *));
		v->list[v->nlist++] = xstrndup(p, n);
		p += n;
	}
	return 0;
}

/* enum_match - canonical choice matching s, or NULL */
static char *enum_match(const char *choices, const char *s)
{
	const char *p = choices;

	while (p && *p) {
		const char *e = strchr(p, '|');
		size_t n = e ? (size_t)(e - p) : strlen(p);

		if (strlen(s) == n && strncasecmp(s, p, n) == 0)
			return xstrndup(p, n);
		p = e ? e + 1 : NULL;
	}
	return NULL;
}

/* val_set - parse value text for def d into v */
static int val_set(struct cfg *c, const struct cfg_def *d, struct cfg_val *v,
    const char *value, const char **err_r)
{
	char *end;
	long long n;
	int b;

	switch (d->type) {
	case CFG_STR:
	case CFG_LEGACY:
		XFREE(&v->str);
		v->str = xstrdup(value);
		break;
	case CFG_ENUM: {
		char *m = enum_match(d->choices, value);

		if (m == NULL)
			return seterr(c, err_r, "%s: \"%s\" is not one of %s",
			    d->name, value, d->choices);
		XFREE(&v->str);
		v->str = m;
		break;
	}
	case CFG_INT:
		errno = 0;
		n = strtoll(value, &end, 10);
		if (errno || end == value || *end != '\0')
			return seterr(c, err_r, "%s: \"%s\" is not a number",
			    d->name, value);
		if (n < d->min || n > d->max)
			return seterr(c, err_r,
			    "%s: %lld is out of range [%lld, %lld]",
			    d->name, n, d->min, d->max);
		v->num = n;
		break;
	case CFG_TIME:
		if (cfg_parse_time_ms(value, &n) < 0)
			return seterr(c, err_r,
			    "%s: \"%s\" is not a duration (e.g. 30s, 500ms, 5m)",
			    d->name, value);
		if (n < d->min || n > d->max)
			return seterr(c, err_r,
			    "%s: %s is out of range [%lldms, %lldms]",
			    d->name, value, d->min, d->max);
		v->num = n;
		break;
	case CFG_BOOL:
		if (cfg_parse_bool(value, &b) < 0)
			return seterr(c, err_r, "%s: \"%s\" is not yes or no",
			    d->name, value);
		v->num = b;
		break;
	case CFG_LIST:
		if (list_add(c, d, v, value, err_r) < 0)
			return -1;
		break;
	}
	v->set = 1;
	return 0;
}

/* cfg_new - a snapshot holding the defaults of the table */
struct cfg *cfg_new(const struct cfg_def *defs)
{
	struct cfg *c = xcalloc(1, sizeof(*c));
	const char *err;

	c->defs = defs;
	while (defs[c->ndefs].name)
		c->ndefs++;
	c->vals = xcalloc(c->ndefs, sizeof(struct cfg_val));
	c->refs = 1;
	for (size_t i = 0; i < c->ndefs; i++) {
		if (c->defs[i].def == NULL)
			continue;
		if (val_set(c, &c->defs[i], &c->vals[i], c->defs[i].def,
		    &err) < 0)
			log_panic("config table default: %s", err);
		c->vals[i].set = 0;
	}
	return c;
}

/* cfg_ref - take a reference */
struct cfg *cfg_ref(struct cfg *c)
{
	__atomic_add_fetch(&c->refs, 1, __ATOMIC_SEQ_CST);
	return c;
}

/* cfg_unref - drop a reference; free on the last one; *cp = NULL */
void cfg_unref(struct cfg **cp)
{
	struct cfg *c = *cp;

	*cp = NULL;
	if (c == NULL || __atomic_sub_fetch(&c->refs, 1, __ATOMIC_SEQ_CST) > 0)
		return;
	for (size_t i = 0; i < c->ndefs; i++)
		val_clear(&c->vals[i]);
	free(c->vals);
	free(c);
}

/* cfg_set_common - set key; from_override: -o semantics */
static int cfg_set_common(struct cfg *c, const char *key, const char *value,
    int from_override, const char **err_r)
{
	long i = def_index(c, key);
	struct cfg_val *v;

	if (i < 0)
		return seterr(c, err_r, "unknown key \"%s\"", key);
	v = &c->vals[i];
	if (!from_override && v->overridden)
		return 0;		/* -o wins over the file */
	if (from_override && !v->overridden) {
		val_clear(v);
		v->overridden = 1;
	} else if (c->defs[i].type == CFG_LIST && !v->set) {
		val_clear(v);		/* first explicit value replaces default */
	}
	if (c->defs[i].type == CFG_LIST && *value == '\0') {
		val_clear(v);		/* "key =" empties a list */
		v->set = 1;
		return 0;
	}
	return val_set(c, &c->defs[i], v, value, err_r);
}

/* cfg_set - set one key as a config file line would */
int cfg_set(struct cfg *c, const char *key, const char *value,
    const char **err_r)
{
	return cfg_set_common(c, key, value, 0, err_r);
}

/* cfg_override - apply "key=value" from -o; beats the file, any order */
int cfg_override(struct cfg *c, const char *kv, const char **err_r)
{
	const char *eq = strchr(kv, '=');
	char *key, *k;
	const char *val;
	int rc;

	if (eq == NULL || eq == kv)
		return seterr(c, err_r, "-o \"%s\": expected key=value", kv);
	key = xstrndup(kv, (size_t)(eq - kv));
	for (k = key + strlen(key); k > key && isspace((unsigned char)k[-1]);)
		*--k = '\0';
	val = eq + 1;
	while (isspace((unsigned char)*val))
		val++;
	rc = cfg_set_common(c, key, val, 1, err_r);
	free(key);
	return rc;
}

/* parse_line - one "key = value" line; 0 ok, -1 error */
static int parse_line(struct cfg *c, char *line, const char *origin,
    int lineno, const char **err_r)
{
	char *p = line, *key, *val, *end;
	const char *err;

	while (isspace((unsigned char)*p))
		p++;
	if (*p == '\0' || *p == '#')
		return 0;
	key = p;
	while (*p && *p != '=' && !isspace((unsigned char)*p))
		p++;
	end = p;
	while (isspace((unsigned char)*p))
		p++;
	if (*p == '=') {
		val = p + 1;
	} else if (p > end && *p) {
		/* "Key value", the form of OpenDKIM's and OpenDMARC's
		 * files, so theirs load as they are */
		val = p;
	} else {
		return seterr(c, err_r, "%s:%d: expected \"key = value\"",
		    origin, lineno);
	}
	*end = '\0';
	while (isspace((unsigned char)*val))
		val++;
	end = val + strlen(val);
	while (end > val && isspace((unsigned char)end[-1]))
		*--end = '\0';
	if (end - val >= 2 && *val == '"' && end[-1] == '"') {
		end[-1] = '\0';
		val++;
	}
	if (cfg_set(c, key, val, &err) < 0) {
		char tmp[CFG_ERR_SIZE];

		snprintf(tmp, sizeof(tmp), "%s", err);
		return seterr(c, err_r, "%s:%d: %s", origin, lineno, tmp);
	}
	return 0;
}

/* cfg_parse_text - parse a whole config text (may hold NUL bytes: refused) */
int cfg_parse_text(struct cfg *c, const char *text, size_t len,
    const char *origin, const char **err_r)
{
	size_t pos = 0;
	int lineno = 0;
	char line[CFG_LINE_MAX + 1];

	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;

		lineno++;
		if (n > CFG_LINE_MAX)
			return seterr(c, err_r, "%s:%d: line longer than %d bytes",
			    origin, lineno, CFG_LINE_MAX);
		if (memchr(text + pos, '\0', n))
			return seterr(c, err_r, "%s:%d: NUL byte in line",
			    origin, lineno);
		memcpy(line, text + pos, n);
		line[n] = '\0';
		if (n && line[n - 1] == '\r')
			line[n - 1] = '\0';
		if (parse_line(c, line, origin, lineno, err_r) < 0)
			return -1;
		pos += n + 1;
	}
	return 0;
}

/* cfg_load_file - read and parse path */
int cfg_load_file(struct cfg *c, const char *path, const char **err_r)
{
	struct buf b;
	const char *err;
	int rc;

	buf_init(&b, CFG_FILE_MAX);
	if (buf_read_file(&b, path, &err) < 0) {
		buf_free(&b);
		return seterr(c, err_r, "%s", err);
	}
	rc = cfg_parse_text(c, b.data, b.len, path, err_r);
	buf_free(&b);
	return rc;
}

/*
 * cfg_load_file_known - as cfg_load_file, but a line whose key the table
 * does not have is skipped (commented out in a copy, so line numbers in
 * messages stay right): for tools that read a daemon's config file for
 * some of its keys.
 */
int cfg_load_file_known(struct cfg *c, const char *path, const char **err_r)
{
	struct buf b;
	const char *err;
	char *line, *end;
	int rc;

	buf_init(&b, CFG_FILE_MAX);
	if (buf_read_file(&b, path, &err) < 0) {
		buf_free(&b);
		return seterr(c, err_r, "%s", err);
	}
	for (line = b.data; line < b.data + b.len; line = end + 1) {
		char *p = line, *k, save;

		end = memchr(line, '\n', (size_t)(b.data + b.len - line));
		if (end == NULL)
			end = b.data + b.len;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (p == end || *p == '#')
			continue;
		for (k = p; p < end && *p != '=' && *p != ' ' && *p != '\t' &&
		    *p != '\r' && *p != '\0'; p++)
			;
		if (p == k)
			continue;	/* no key: the parser reports the line */
		save = *p;
		*p = '\0';
		if (def_index(c, k) < 0)
			*line = '#';
		*p = save;
	}
	rc = cfg_parse_text(c, b.data, b.len, path, err_r);
	buf_free(&b);
	return rc;
}

/* val_of - value for a key the program itself names; unknown is a bug */
static const struct cfg_val *val_of(const struct cfg *c, const char *key,
    enum cfg_type *type_r)
{
	long i = def_index(c, key);

	if (i < 0)
		log_panic("config key \"%s\" is not in the table", key);
	if (type_r)
		*type_r = c->defs[i].type;
	return &c->vals[i];
}

/* cfg_str - text of a STR or ENUM key, "" when unset */
const char *cfg_str(const struct cfg *c, const char *key)
{
	const struct cfg_val *v = val_of(c, key, NULL);

	return v->str ? v->str : "";
}

/* cfg_int - INT, BOOL or TIME (milliseconds) value */
long long cfg_int(const struct cfg *c, const char *key)
{
	return val_of(c, key, NULL)->num;
}

/* cfg_bool - BOOL value */
int cfg_bool(const struct cfg *c, const char *key)
{
	return val_of(c, key, NULL)->num != 0;
}

/* cfg_list - elements of a LIST key */
const char *const *cfg_list(const struct cfg *c, const char *key,
    size_t *n_r)
{
	const struct cfg_val *v = val_of(c, key, NULL);

	*n_r = v->nlist;
	return (const char *const *)v->list;
}

/* cfg_is_set - was the key given in the file or with -o? */
int cfg_is_set(const struct cfg *c, const char *key)
{
	return val_of(c, key, NULL)->set;
}

/* cfg_print - effective configuration, one "key = value" per line */
void cfg_print(const struct cfg *c, FILE *fp)
{
	for (size_t i = 0; i < c->ndefs; i++) {
		const struct cfg_def *d = &c->defs[i];
		const struct cfg_val *v = &c->vals[i];

		fprintf(fp, "%s =", d->name);
		switch (d->type) {
		case CFG_STR:
		case CFG_ENUM:
		case CFG_LEGACY:
			if (v->str && *v->str)
				fprintf(fp, " %s", v->str);
			break;
		case CFG_INT:
			fprintf(fp, " %lld", v->num);
			break;
		case CFG_BOOL:
			fprintf(fp, " %s", v->num ? "yes" : "no");
			break;
		case CFG_TIME:
			if (v->num % 1000)
				fprintf(fp, " %lldms", v->num);
			else if (v->num && v->num % 86400000LL == 0)
				fprintf(fp, " %lldd", v->num / 86400000LL);
			else if (v->num && v->num % 3600000LL == 0)
				fprintf(fp, " %lldh", v->num / 3600000LL);
			else
				fprintf(fp, " %llds", v->num / 1000);
			break;
		case CFG_LIST:
			for (size_t j = 0; j < v->nlist; j++)
				fprintf(fp, "%s%s", j ? ", " : " ", v->list[j]);
			break;
		}
		fputc('\n', fp);
	}
}

/* cfg_legacy_warnings - call fn for each legacy key set in the config */
void cfg_legacy_warnings(const struct cfg *c,
    void (*fn)(const struct cfg_def *d, const char *value))
{
	for (size_t i = 0; i < c->ndefs; i++)
		if (c->defs[i].type == CFG_LEGACY && c->vals[i].set)
			fn(&c->defs[i], c->vals[i].str ? c->vals[i].str : "");
}

/* value_text - a value in printable form into out */
static void value_text(const struct cfg *c, size_t i, char *out, size_t len)
{
	FILE *fp = fmemopen(out, len, "w");
	struct cfg one = *c;

	if (fp == NULL) {
		snprintf(out, len, "?");
		return;
	}
	one.defs = &c->defs[i];
	one.vals = &c->vals[i];
	one.ndefs = 1;
	cfg_print(&one, fp);
	fclose(fp);
}

/* cfg_same - does key have the same value in a and b (same table)? */
int cfg_same(const struct cfg *a, const struct cfg *b, const char *key)
{
	char va[CFG_LINE_MAX], vb[CFG_LINE_MAX];
	long i = def_index(a, key);

	if (i < 0)
		log_panic("config key \"%s\" is not in the table", key);
	value_text(a, (size_t)i, va, sizeof(va));
	value_text(b, (size_t)i, vb, sizeof(vb));
	return strcmp(va, vb) == 0;
}
