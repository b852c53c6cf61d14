/*
 * greywl.c - postgrey whitelist files; see greywl.h.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <ctype.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "greywl.h"
#include "xalloc.h"

#define WL_LINE_MAX	4096
#define WL_FILE_MAX	(16 * 1024 * 1024)
#define WL_MATCH_LIMIT	100000	/* regex steps per match attempt */
#define WL_WARN_MAX	200	/* bytes of a line quoted in a warning */

enum entry_kind {
	E_NAME,		/* clients: name or domain; recipients: domain */
	E_USER_DOMAIN,	/* user@domain */
	E_USER,		/* user@ */
	E_REGEX,
};

struct entry {
	enum entry_kind kind;
	char *a, *b;		/* name / user, domain */
	pcre2_code *re;
};

struct greywl {
	enum greywl_kind kind;
	struct entry *v;
	size_t n;
	struct cidrlist ips;
	pcre2_match_context *mctx;
};

/* greywl_new - an empty list */
struct greywl *greywl_new(enum greywl_kind kind)
{
	struct greywl *w = xcalloc(1, sizeof(*w));

	w->kind = kind;
	w->mctx = pcre2_match_context_create(NULL);
	pcre2_set_match_limit(w->mctx, WL_MATCH_LIMIT);
	pcre2_set_depth_limit(w->mctx, WL_MATCH_LIMIT / 10);
	return w;
}

/* greywl_free - release; *wp = NULL */
void greywl_free(struct greywl **wp)
{
	struct greywl *w = *wp;

	*wp = NULL;
	if (w == NULL)
		return;
	for (size_t i = 0; i < w->n; i++) {
		free(w->v[i].a);
		free(w->v[i].b);
		if (w->v[i].re)
			pcre2_code_free(w->v[i].re);
	}
	free(w->v);
	cidrlist_free(&w->ips);
	pcre2_match_context_free(w->mctx);
	free(w);
}

/* add - append an entry */
static struct entry *add(struct greywl *w, enum entry_kind kind)
{
	struct entry *e;

	w->v = xrealloc(w->v, (w->n + 1) * sizeof(*w->v));
	e = &w->v[w->n++];
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	return e;
}

/* warn - one warning line */
static void warn(struct buf *warnings, const char *origin, int lineno,
    const char *what, const char *line)
{
	if (warnings)
		buf_appendf(warnings, "%s line %d: %s: %.*s\n", origin, lineno,
		    what, WL_WARN_MAX, line);
}

/* all_digits_dots - the line matches ^\d{1,3}(\.\d{1,3}){dots}$ */
static int ipv4_parts(const char *s)
{
	int parts = 0, digits = 0;

	for (; *s; s++) {
		if (isdigit((unsigned char)*s)) {
			if (++digits > 3)
				return -1;
		} else if (*s == '.') {
			if (digits == 0)
				return -1;
			parts++;
			digits = 0;
		} else {
			return -1;
		}
	}
	return digits ? parts + 1 : -1;
}

/* add_ip - address, CIDR or partial IPv4 (a.b.c: /24, a.b: /16) */
static int add_ip(struct greywl *w, const char *s)
{
	char tmp[80];
	int parts = ipv4_parts(s);

	if (parts == 3)
		snprintf(tmp, sizeof(tmp), "%s.0/24", s);
	else if (parts == 2)
		snprintf(tmp, sizeof(tmp), "%s.0.0/16", s);
	else
		snprintf(tmp, sizeof(tmp), "%s", s);
	return cidrlist_add(&w->ips, tmp);
}

/* add_regex - "/re/" compiled caseless; -1 with the message in err */
static int add_regex(struct greywl *w, const char *re, size_t n,
    char *err, size_t errlen)
{
	int code;
	PCRE2_SIZE off;
	pcre2_code *c = pcre2_compile((PCRE2_SPTR)re, n, PCRE2_CASELESS,
	    &code, &off, NULL);

	if (c == NULL) {
		pcre2_get_error_message(code, (PCRE2_UCHAR *)err, errlen);
		return -1;
	}
	add(w, E_REGEX)->re = c;
	return 0;
}

/* parse_line - one cleaned line (no comment, trimmed, not empty) */
static void parse_line(struct greywl *w, char *line, const char *origin,
    int lineno, struct buf *warnings)
{
	size_t n = strlen(line);
	char err[160];

	if (n >= 3 && line[0] == '/' && line[n - 1] == '/' &&
	    !strpbrk(line, " \t")) {
		if (add_regex(w, line + 1, n - 2, err, sizeof(err)) < 0)
			warn(warnings, origin, lineno, err, line);
		return;
	}
	if (strpbrk(line, " \t")) {
		warn(warnings, origin, lineno, w->kind == GREYWL_CLIENTS ?
		    "doesn't look like a hostname" :
		    "doesn't look like an address", line);
		return;
	}
	if (w->kind == GREYWL_CLIENTS) {
		int parts = ipv4_parts(strchr(line, '/') ? "x" : line);

		if (parts >= 2 || strchr(line, ':') ||
		    (isdigit((unsigned char)line[0]) && strchr(line, '/'))) {
			if (add_ip(w, line) < 0)
				warn(warnings, origin, lineno,
				    "not an address or network", line);
			return;
		}
		add(w, E_NAME)->a = xstrdup(line);
		return;
	}
	{
		char *at = strchr(line, '@');
		struct entry *e;

		if (at == NULL) {
			add(w, E_NAME)->a = xstrdup(line);
			return;
		}
		*at = '\0';
		e = add(w, at[1] ? E_USER_DOMAIN : E_USER);
		e->a = xstrdup(line);
		e->b = at[1] ? xstrdup(at + 1) : NULL;
	}
}

/* greywl_load_text - parse a whole file's text (adds to w) */
int greywl_load_text(struct greywl *w, const char *text, size_t len,
    const char *origin, struct buf *warnings)
{
	size_t pos = 0;
	int lineno = 0;
	char line[WL_LINE_MAX + 1];

	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
		char *s, *e, *hash;

		lineno++;
		if (n > WL_LINE_MAX || memchr(text + pos, '\0', n)) {
			warn(warnings, origin, lineno, "line too long or with "
			    "a NUL byte", "");
			pos += n + 1;
			continue;
		}
		memcpy(line, text + pos, n);
		line[n] = '\0';
		pos += n + 1;
		if ((hash = strchr(line, '#')) != NULL)
			*hash = '\0';
		for (s = line; isspace((unsigned char)*s); s++)
			;
		for (e = s + strlen(s); e > s && isspace((unsigned char)e[-1]);)
			*--e = '\0';
		if (*s)
			parse_line(w, s, origin, lineno, warnings);
	}
	return 0;
}

/* greywl_load_file - read and parse path */
int greywl_load_file(struct greywl *w, const char *path,
    struct buf *warnings, const char **err_r)
{
	struct buf b;

	buf_init(&b, WL_FILE_MAX);
	if (buf_read_file(&b, path, err_r) < 0) {
		buf_free(&b);
		return -1;
	}
	greywl_load_text(w, b.data, b.len, path, warnings);
	buf_free(&b);
	return 0;
}

/* greywl_count - entries loaded (networks included) */
size_t greywl_count(const struct greywl *w)
{
	return w->n + w->ips.n;
}

/* regex_match - caseless match under the match limit (a limit hit is
 * no match) */
static int regex_match(const struct greywl *w, pcre2_code *re,
    const char *s)
{
	pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
	int rc = pcre2_match(re, (PCRE2_SPTR)s, strlen(s), 0, 0, md,
	    w->mctx);

	pcre2_match_data_free(md);
	return rc >= 0;
}

/* name_in - s equals name or ends with ".name" (case-insensitive) */
static int name_in(const char *s, const char *name)
{
	size_t ls = strlen(s), ln = strlen(name);

	if (ls == ln)
		return strcasecmp(s, name) == 0;
	return ls > ln && s[ls - ln - 1] == '.' &&
	    strcasecmp(s + ls - ln, name) == 0;
}

/* greywl_match_client - by name (entries, regexes) or address */
int greywl_match_client(const struct greywl *w, const char *client_name,
    const struct ipaddr *ip)
{
	if (ip && cidrlist_match(&w->ips, ip))
		return 1;
	if (client_name == NULL || *client_name == '\0')
		return 0;
	for (size_t i = 0; i < w->n; i++) {
		const struct entry *e = &w->v[i];

		if (e->kind == E_NAME && name_in(client_name, e->a))
			return 1;
		if (e->kind == E_REGEX && regex_match(w, e->re, client_name))
			return 1;
	}
	return 0;
}

/* local_equal - the local part of rcpt (before '@', without "+ext")
 * equals user, case-insensitively */
static int local_equal(const char *rcpt, const char *at, const char *user)
{
	size_t n = (size_t)(at - rcpt);
	const char *plus = memchr(rcpt, '+', n);
	size_t lu = strlen(user);

	if (n == lu && strncasecmp(rcpt, user, lu) == 0)
		return 1;
	return plus && (size_t)(plus - rcpt) == lu &&
	    strncasecmp(rcpt, user, lu) == 0;
}

/* greywl_match_recipient - access(5)-style entries or regexes */
int greywl_match_recipient(const struct greywl *w, const char *rcpt)
{
	const char *at = strrchr(rcpt, '@');

	for (size_t i = 0; i < w->n; i++) {
		const struct entry *e = &w->v[i];

		switch (e->kind) {
		case E_REGEX:
			if (regex_match(w, e->re, rcpt))
				return 1;
			break;
		case E_NAME:	/* domain: "@domain" or ".domain" suffix */
			if (at && name_in(at + 1, e->a))
				return 1;
			break;
		case E_USER_DOMAIN:
			if (at && strcasecmp(at + 1, e->b) == 0 &&
			    local_equal(rcpt, at, e->a))
				return 1;
			break;
		case E_USER:
			if (at && local_equal(rcpt, at, e->a))
				return 1;
			break;
		}
	}
	return 0;
}
