/*
 * milter_cfg.c - config helpers every postern milter shares: files of
 *                one entry per line, lists of networks and of domains
 *                given inline or as files.
 *
 * Public: milter_cfg_lines, milter_cfg_netlist, milter_cfg_domains,
 *         milter_cfg_domain_match.
 * Trust: config files are the admin's; still bounded (MILTER_TABLE_MAX,
 *        no NUL bytes), each line checked.
 * Errors: -1 with *err_r naming the key, the file and the line.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "milter.h"
#include "xalloc.h"

static __thread char errbuf[600];

/* fail - format *err_r (thread-local text) and return -1 */
static int fail(const char **err_r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int fail(const char **err_r, const char *fmt, ...)
{
	va_list ap;
	char tmp[sizeof(errbuf)];

	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	memcpy(errbuf, tmp, sizeof(errbuf));
	*err_r = errbuf;
	return -1;
}

/* milter_cfg_lines - fn on each non-comment line of a file (trimmed,
 * '#' to the end of the line dropped) */
int milter_cfg_lines(const char *path, milter_line_fn *fn, void *arg,
    const char **err_r)
{
	struct buf b;
	const char *err;
	char *p, *line;
	int lineno = 0, rc = 0;

	buf_init(&b, MILTER_TABLE_MAX);
	if (buf_read_file(&b, path, &err) < 0) {
		buf_free(&b);
		return fail(err_r, "%s", err);
	}
	if (memchr(b.data, '\0', b.len)) {
		buf_free(&b);
		return fail(err_r, "%s: NUL byte in file", path);
	}
	for (p = b.data; rc == 0 && p && *p; ) {
		char *nl = strchr(p, '\n'), *hash, *end;

		line = p;
		p = nl ? nl + 1 : NULL;
		if (nl)
			*nl = '\0';
		lineno++;
		if ((hash = strchr(line, '#')) != NULL)
			*hash = '\0';
		while (isspace((unsigned char)*line))
			line++;
		end = line + strlen(line);
		while (end > line && isspace((unsigned char)end[-1]))
			*--end = '\0';
		if (*line)
			rc = fn(arg, line, path, lineno, err_r);
	}
	buf_free(&b);
	return rc;
}

/* net_add - an address, a CIDR network, or "localhost" (both loopback
 * networks); -1 if it is none of them */
static int net_add(struct cidrlist *l, const char *s)
{
	if (strcasecmp(s, "localhost") == 0)
		return cidrlist_add(l, "127.0.0.0/8") < 0 ||
		    cidrlist_add(l, "::1") < 0 ? -1 : 0;
	return cidrlist_add(l, s);
}

/* net_line - one network of a file */
static int net_line(void *arg, char *line, const char *path, int lineno,
    const char **err_r)
{
	if (net_add(arg, line) < 0)
		return fail(err_r, "%s:%d: \"%.100s\" is not an address or "
		    "CIDR network", path, lineno, line);
	return 0;
}

/* milter_cfg_netlist - the networks of list key: addresses, CIDRs,
 * "localhost", absolute paths of files of them */
int milter_cfg_netlist(const struct cfg *cfg, const char *key,
    struct cidrlist *l, const char **err_r)
{
	size_t n;
	const char *const *v = cfg_list(cfg, key, &n);

	for (size_t i = 0; i < n; i++) {
		if (v[i][0] == '/') {
			if (milter_cfg_lines(v[i], net_line, l, err_r) < 0)
				return fail(err_r, "%s: %s", key, *err_r);
		} else if (net_add(l, v[i]) < 0) {
			return fail(err_r, "%s: \"%.100s\" is not an address, "
			    "CIDR network or absolute file name", key, v[i]);
		}
	}
	return 0;
}

/* domain_add - one domain (lower case, no final dot) into the list */
static int domain_add(struct milter_domains *d, const char *s,
    const char **err_r)
{
	size_t n = strlen(s);
	char *c;

	if (n && s[n - 1] == '.')
		n--;
	if (n == 0 || n > 253 || memchr(s, ' ', n))
		return fail(err_r, "\"%.100s\" is not a domain name", s);
	c = xstrndup(s, n);
	for (char *p = c; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	d->v = xrealloc(d->v, (d->n + 1) * sizeof(*d->v));
	d->v[d->n++] = c;
	return 0;
}

/* domain_line - one domain of a file */
static int domain_line(void *arg, char *line, const char *path, int lineno,
    const char **err_r)
{
	if (domain_add(arg, line, err_r) < 0)
		return fail(err_r, "%s:%d: %s", path, lineno, *err_r);
	return 0;
}

/* milter_cfg_domains - the domains of list key, inline or in files
 * (absolute paths); "*.example.com" also matches subdomains only,
 * "example.com" that name only, ".example.com" both */
int milter_cfg_domains(const struct cfg *cfg, const char *key,
    struct milter_domains *d, const char **err_r)
{
	size_t n;
	const char *const *v = cfg_list(cfg, key, &n);

	for (size_t i = 0; i < n; i++) {
		int rc = v[i][0] == '/' ?
		    milter_cfg_lines(v[i], domain_line, d, err_r) :
		    domain_add(d, v[i], err_r);

		if (rc < 0)
			return fail(err_r, "%s: %s", key, *err_r);
	}
	return 0;
}

/* milter_cfg_domain_match - is name (lower case) in the list? */
int milter_cfg_domain_match(const struct milter_domains *d,
    const char *name)
{
	size_t nl = strlen(name);

	for (size_t i = 0; i < d->n; i++) {
		const char *e = d->v[i];
		int sub = 0, self = 1;
		size_t el;

		if (e[0] == '*' && e[1] == '.') {
			e += 1;		/* ".example.com", subdomains only */
			self = 0;
			sub = 1;
		} else if (e[0] == '.') {
			sub = 1;
		}
		el = strlen(e);
		if (self && strcasecmp(name, e[0] == '.' ? e + 1 : e) == 0)
			return 1;
		if (sub && nl > el && strcasecmp(name + nl - el, e) == 0)
			return 1;
	}
	return 0;
}

/* milter_domains_free - free the list */
void milter_domains_free(struct milter_domains *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->v[i]);
	free(d->v);
	d->v = NULL;
	d->n = 0;
}
