/*
 * postern-dkim-testkey - check that the DKIM key record published in DNS
 *                        matches a private key file, as opendkim-testkey.
 *
 * Usage: the manual is help_text below (postern-dkim-testkey --help).
 * Public: main only.
 * Trust: the command line, the config file and key files are the admin's.
 *        DNS answers are network data: the record goes through the
 *        engine's bounded parser (dkim_keyrec_parse) and is printed
 *        escaped, never raw.
 * Errors: one line per finding on stdout, "NAME: error|warning|note:
 *         text"; usage and config errors on stderr.  Exit 0 the record
 *         matches (warnings allowed), 1 it does not or is not a usable
 *         key, 2 usage, config or key file error, 3 DNS temporary failure
 *         (SERVFAIL, timeout: try again).  With several keys or findings
 *         the status is the first of 2, 3, 1 that any of them gave.
 *
 * The lookup is the resolver the daemons use (common/dns.c, dns_* keys of
 * the daemon's config or -o dns_server=...), asked directly rather than
 * through dkim_dns_lookup so that NXDOMAIN, no data, SERVFAIL and timeout
 * each get their own message and the number of TXT records and strings
 * can be told.  dkim_dns_lookup takes the first TXT record; verifiers
 * may take any (RFC 6376 section 3.6.2.2), so every one is checked.  The
 * checks are the verifier's (RFC 6376 section 3.6.1, RFC 8301, RFC
 * 8463): revoked key, k= against the key file's type, the public key
 * itself, h= without sha256, RSA size, t=y.
 *
 * Without -k the keys to test come from postern-dkim's config (-c, or
 * the default file): simple mode (domain list x the selector[i] and
 * key_file[i] pairs) and the key_table file (lines "NAME
 * DOMAIN:SELECTOR:KEYPATH").  Keys of that file this program does not
 * know are skipped (postern-dkim -t checks the file).
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "cfg.h"
#include "dkim.h"
#include "dns.h"
#include "dnscfg.h"
#include "log.h"
#include "tool.h"
#include "xalloc.h"

#define PROG "postern-dkim-testkey"
#define KEY_TABLE_MAX (4 * 1024 * 1024)
#define NAME_TEXT_MAX (DKIM_SELECTOR_MAX + DKIM_DOMAIN_MAX + 16)
#define RSA_BITS_MIN 1024	/* RFC 8301: verifiers fail shorter keys */
#define RSA_BITS_WARN 2048	/* RFC 8301: signers SHOULD use 2048 */
#define TXT_STRING_MAX 255

enum { EXIT_OK, EXIT_MISMATCH, EXIT_USAGE, EXIT_DNS };

/* the keys read from postern-dkim's config; others are skipped */
static const struct cfg_def testkey_defs[] = {
	DNS_CFG_DEFS,
	{ "domain", "Domain", CFG_LIST, NULL, 0, 0, NULL,
	  "signing domains (simple mode)" },
	{ "selector", "Selector", CFG_LIST, NULL, 0, 0, NULL,
	  "selectors, one per key_file (simple mode)" },
	{ "key_file", "KeyFile", CFG_LIST, NULL, 0, 0, NULL,
	  "private key files, one per selector (simple mode)" },
	{ "key_table", "KeyTable", CFG_STR, NULL, 0, 0, NULL,
	  "file of NAME DOMAIN:SELECTOR:KEYPATH lines (table mode)" },
	{ "require_safe_keys", "RequireSafeKeys", CFG_BOOL, "yes", 0, 0, NULL,
	  "refuse key files group or world can read" },
	CFG_END
};

static const char help_text[] =
"NAME\n"
"    postern-dkim-testkey - check a DKIM key record in DNS against the\n"
"    private key file\n"
"\n"
"SYNOPSIS\n"
"    postern-dkim-testkey -d DOMAIN -s SELECTOR -k KEYFILE [-c FILE]\n"
"        [-o key=value]... [-v]\n"
"    postern-dkim-testkey [-c FILE] [-d DOMAIN] [-s SELECTOR]\n"
"        [-o key=value]... [-v]\n"
"\n"
"DESCRIPTION\n"
"    Looks up the TXT record SELECTOR._domainkey.DOMAIN through postern's\n"
"    resolver, as postern-dkim and verifiers would, and compares it with\n"
"    the private key in KEYFILE (PEM, RSA or Ed25519).  One line per\n"
"    finding, \"NAME: error: ...\", \"NAME: warning: ...\" or \"NAME: note:\n"
"    ...\", then \"NAME: key OK\" when the record matches:\n"
"      errors    key file not private to its owner (a warning only when\n"
"                the config has require_safe_keys = no), key file\n"
"                unreadable or not a key; no record (NXDOMAIN, or no TXT\n"
"                record at the name); DNS failure (SERVFAIL, timeout);\n"
"                record that is not a DKIM key (the parser's reason);\n"
"                key revoked (empty p=); key type differs (k=ed25519 for\n"
"                an RSA key or the reverse); public key differs from the\n"
"                private key; h= without sha256; RSA key under 1024 bits\n"
"      warnings  RSA key under 2048 bits; testing flag t=y; several TXT\n"
"                records at the name (the first is used)\n"
"      notes     record longer than one 255-byte string (published as\n"
"                several strings, which verifiers join)\n"
"\n"
"    Without -k every key of postern-dkim's configuration is tested: each\n"
"    domain with each selector and key_file pair (simple mode), and each\n"
"    line \"NAME DOMAIN:SELECTOR:KEYPATH\" of the key_table file; -d and -s\n"
"    then choose among them.  A key_table DOMAIN of \"%\" (the From:\n"
"    domain) is tested as -d DOMAIN, and only noted without -d.\n"
"\n"
"OPTIONS\n"
"    -d, --domain DOMAIN       the signing domain (d=)\n"
"    -s, --selector SELECTOR   the selector (s=)\n"
"    -k, --key KEYFILE         the private key file\n"
"    -c, --config FILE\n"
"        postern-dkim's config file, for its dns_* keys and (without -k)\n"
"        its keys; default " SYSCONFDIR "/postern/postern-dkim.conf when it\n"
"        exists.\n"
"    -o key=value\n"
"        Override a config key (repeatable), e.g. -o dns_server=127.0.0.1:53\n"
"        -o dns_timeout=2s.\n"
"    -v, --verbose   also print the key file's type and size and the record.\n"
"    -h, --help      this text.     -V, --version    the version.\n"
"\n"
"EXIT STATUS\n"
"    0 the record matches the key (warnings and notes allowed)\n"
"    1 it does not: no record, not a key, revoked, other type or key,\n"
"      h= without sha256, RSA under 1024 bits\n"
"    2 usage, configuration or key file error\n"
"    3 DNS temporary failure (SERVFAIL, timeout): try again later\n"
"    With several keys or findings, the first of 2, 3, 1 that applies.\n";

/* one run */
struct testkey {
	struct cfg *cfg;
	struct dns_resolver *res;
	int verbose;
	int require_safe;
	int keyerr, dnserr, mismatch;	/* what was found so far */
	size_t tested;
};

/* usage - the synopsis on stderr, exit 2 */
static void usage(const char *why)
{
	if (why)
		fprintf(stderr, PROG ": %s\n", why);
	fputs("usage: " PROG " -d DOMAIN -s SELECTOR -k KEYFILE [-c FILE] "
	    "[-o key=value]... [-v]\n"
	    "       " PROG " [-c FILE] [-d DOMAIN] [-s SELECTOR] "
	    "[-o key=value]... [-v]\n"
	    "       (--help for the manual)\n", stderr);
	exit(EXIT_USAGE);
}

/* say - one finding: "NAME: LEVEL: text" on stdout */
static void say(const char *name, const char *level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void say(const char *name, const char *level, const char *fmt, ...)
{
	va_list ap;

	printf("%s: %s%s", name, level, *level ? ": " : "");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* put_escaped - bytes outside printable ASCII, and backslash, as \xNN */
static void put_escaped(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c >= 0x7f || c == '\\')
			printf("\\x%02x", c);
		else
			putchar(c);
	}
}

/* alg_name - the key type as k= spells it */
static const char *alg_name(int ed25519)
{
	return ed25519 ? "ed25519" : "rsa";
}

/* load_key - the key file: safe mode, loads; NULL on error (reported) */
static struct dkim_key *load_key(struct testkey *t, const char *name,
    const char *path)
{
	struct dkim_key *k;
	struct stat st;
	const char *err;

	if (stat(path, &st) < 0) {	/* one message, not two */
		say(name, "error", "key file %s: %s", path, strerror(errno));
		t->keyerr = 1;
		return NULL;
	}
	if (dkim_keyfile_check(path, &err) < 0) {
		if (t->require_safe) {
			say(name, "error", "key file %s (postern-dkim "
			    "refuses to use it)", err);
			t->keyerr = 1;
		} else {
			say(name, "warning", "key file %s", err);
		}
	}
	if ((k = dkim_key_load(path, &err)) == NULL) {
		say(name, "error", "key file %s", err);
		t->keyerr = 1;
		return NULL;
	}
	if (t->verbose && dkim_key_alg(k) == DKIM_ALG_ED25519_SHA256)
		say(name, "", "key file %s: ed25519", path);
	else if (t->verbose)
		say(name, "", "key file %s: rsa %d bits", path,
		    dkim_key_bits(k));
	return k;
}

/* lookup - the TXT records at name: the answer, or NULL when there are
 * none or the lookup failed (reported) */
static struct dns_answer *lookup(struct testkey *t, const char *name,
    size_t *ntxt_r)
{
	struct dns_question q = { name, DNS_T_TXT };
	struct dns_answer *a = NULL;

	*ntxt_r = 0;
	dns_resolve_sync(t->res, &q, 1, &a, 0);
	switch (a->status) {
	case DNS_OK:
		for (size_t i = 0; i < a->n; i++)
			if (a->rr[i].type == DNS_T_TXT)
				++*ntxt_r;
		if (*ntxt_r > 0)
			return a;
		/* records of other types only (a CNAME): no data */
		/* FALLTHROUGH */
	case DNS_NODATA:
		say(name, "error", "no key record: the name has no TXT "
		    "record (verifiers: dkim=permerror, key not found)");
		t->mismatch = 1;
		break;
	case DNS_NXDOMAIN:
		say(name, "error", "no key record: the name does not exist "
		    "(NXDOMAIN; verifiers: dkim=permerror, key not found)");
		t->mismatch = 1;
		break;
	default:
		say(name, "error", "DNS lookup failed (%s): verifiers would "
		    "answer dkim=temperror; try again later",
		    dns_status_name(a->status));
		t->dnserr = 1;
		break;
	}
	dns_answer_unref(&a);
	return NULL;
}

/* check_record - one TXT record against the key k (NULL: it could not
 * be loaded); tag is the name plus " (record i of n)" when there are
 * several; 1 when it matches, else 0 */
static int check_record(struct testkey *t, const char *tag,
    const struct dns_rr *rr, const struct dkim_key *k, const char *keyfile)
{
	struct dkim_keyrec r;
	const char *err;
	int key_ed = k && dkim_key_alg(k) == DKIM_ALG_ED25519_SHA256;
	int bad = 0, matched = 0;

	if (t->verbose) {
		printf("%s: record: ", tag);
		put_escaped(rr->txt, rr->txt_len);
		putchar('\n');
	}
	if (rr->txt_len > TXT_STRING_MAX)
		say(tag, "note", "the record is %zu bytes, more than one DNS "
		    "string holds (%d): published as %u strings, which "
		    "verifiers join", rr->txt_len, TXT_STRING_MAX,
		    rr->txt_count);
	if (dkim_keyrec_parse(rr->txt, rr->txt_len, &r, &err) < 0) {
		say(tag, "error", "not a DKIM key record: %s", err);
		return 0;
	}
	if (r.revoked) {
		say(tag, "error", "key revoked: the record's p= is empty");
		bad = 1;
	} else if (k && r.ed25519 != key_ed) {
		say(tag, "error", "key type differs: the record has k=%s, "
		    "the key file %s is %s", alg_name(r.ed25519), keyfile,
		    alg_name(key_ed));
		bad = 1;
	} else if (k && !dkim_keyrec_matches(&r, k)) {
		say(tag, "error", "public key differs: the record is not "
		    "the public half of %s", keyfile);
		bad = 1;
	} else if (k) {
		matched = 1;
	}
	if (!r.revoked && !r.ed25519 && r.bits < RSA_BITS_MIN) {
		say(tag, "error", "the record's RSA key is %d bits: under "
		    "%d, verifiers fail its signatures (RFC 8301)", r.bits,
		    RSA_BITS_MIN);
		bad = 1;
	} else if (!r.revoked && !r.ed25519 && r.bits < RSA_BITS_WARN) {
		say(tag, "warning", "the record's RSA key is %d bits: RFC "
		    "8301 asks for %d or more", r.bits, RSA_BITS_WARN);
	}
	if (!r.sha256_ok) {
		say(tag, "error", "the record's h= excludes sha256: "
		    "verifiers refuse every signature postern-dkim makes");
		bad = 1;
	}
	if (r.testing)
		say(tag, "warning", "testing flag t=y: verifiers may treat "
		    "mail with failing signatures as unsigned");
	dkim_keyrec_free(&r);
	return matched && !bad;
}

/* name_ok - dot-separated labels of letters, digits, '-' and '_' (each
 * 1..63 bytes), at most max bytes in all */
static int name_ok(const char *s, size_t max)
{
	size_t n = strlen(s), label = 0;

	if (n == 0 || n > max)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (label == 0)
				return 0;
			label = 0;
		} else if (isalnum((unsigned char)s[i]) || s[i] == '-' ||
		    s[i] == '_') {
			if (++label > 63)
				return 0;
		} else {
			return 0;
		}
	}
	return label > 0;
}

/* test_one - all checks for one domain, selector and key file; the
 * records are checked even when the key file cannot be read.  Several
 * TXT records at the name: verifiers may take any (RFC 6376 section
 * 3.6.2.2), so each must match. */
static void test_one(struct testkey *t, const char *domain,
    const char *selector, const char *keyfile)
{
	char name[NAME_TEXT_MAX], tag[NAME_TEXT_MAX + 64];
	struct dkim_key *k;
	struct dns_answer *a;
	size_t ntxt, i, seen = 0;
	int good = 1, keyerr = t->keyerr;

	t->tested++;
	if (!name_ok(selector, DKIM_SELECTOR_MAX) ||
	    !name_ok(domain, DKIM_DOMAIN_MAX)) {
		put_escaped(selector, strlen(selector));
		fputs("._domainkey.", stdout);
		put_escaped(domain, strlen(domain));
		puts(": error: not a valid selector and domain (DNS labels "
		    "of letters, digits, '-', '_')");
		t->keyerr = 1;
		return;
	}
	snprintf(name, sizeof(name), "%s._domainkey.%s", selector, domain);
	k = load_key(t, name, keyfile);
	if ((a = lookup(t, name, &ntxt)) == NULL) {
		dkim_key_free(&k);
		return;
	}
	if (ntxt > 1)
		say(name, "warning", "%zu TXT records at the name: verifiers "
		    "may use any of them (postern-dkim takes the first DNS "
		    "gives), so each is checked", ntxt);
	for (i = 0; i < a->n; i++) {
		if (a->rr[i].type != DNS_T_TXT)
			continue;
		if (ntxt > 1)
			snprintf(tag, sizeof(tag), "%s (record %zu of %zu)",
			    name, ++seen, ntxt);
		else
			snprintf(tag, sizeof(tag), "%s", name);
		if (!check_record(t, tag, &a->rr[i], k, keyfile))
			good = 0;
	}
	if (!good)
		t->mismatch = 1;
	else if (t->keyerr != keyerr)
		say(name, "", "the record matches the key, but the key file "
		    "is refused");
	else
		say(name, "", "key OK");
	dns_answer_unref(&a);
	dkim_key_free(&k);
}

/* wanted - does (domain, selector) pass the -d and -s filters? */
static int wanted(const char *domain, const char *selector,
    const char *want_d, const char *want_s)
{
	return (want_d == NULL || !strcasecmp(domain, want_d)) &&
	    (want_s == NULL || !strcasecmp(selector, want_s));
}

/* test_key_table - every line "NAME DOMAIN:SELECTOR:KEYPATH" of the
 * key_table file (OpenDKIM's KeyTable; "file:" prefix accepted); DOMAIN
 * "%" (the From: domain) is tested as -d's domain, or only noted */
static void test_key_table(struct testkey *t, const char *spec,
    const char *want_d, const char *want_s)
{
	struct buf b;
	const char *err;
	char *line, *end;
	unsigned lineno = 0;

	if (!strncmp(spec, "file:", 5))
		spec += 5;
	else if (strchr(spec, ':') && spec[0] != '/')
		tool_die(EXIT_USAGE, "key_table %s: only plain files are read "
		    "here", spec);
	buf_init(&b, KEY_TABLE_MAX);
	if (buf_read_file(&b, spec, &err) < 0)
		tool_die(EXIT_USAGE, "key_table: %s", err);
	for (line = b.data; line < b.data + b.len; line = end + 1) {
		const char *f[3];
		char *p;
		size_t nf = 0;

		lineno++;
		end = memchr(line, '\n', (size_t)(b.data + b.len - line));
		if (end == NULL)
			end = b.data + b.len;
		*end = '\0';
		if ((p = strchr(line, '#')) != NULL)
			*p = '\0';
		p = line + strspn(line, " \t\r");
		if (*p == '\0')
			continue;
		p += strcspn(p, " \t");		/* the key name */
		p += strspn(p, " \t");
		p[strcspn(p, " \t\r")] = '\0';
		/* DOMAIN:SELECTOR:KEYPATH, the path may hold ':' */
		f[0] = p;
		if ((p = strchr(p, ':')) != NULL) {
			*p++ = '\0';
			f[1] = p;
			if ((p = strchr(p, ':')) != NULL) {
				*p++ = '\0';
				f[2] = p;
				nf = 3;
			}
		}
		if (nf != 3 || !*f[0] || !*f[1] || !*f[2])
			tool_die(EXIT_USAGE, "key_table %s line %u: expected "
			    "NAME DOMAIN:SELECTOR:KEYPATH", spec, lineno);
		if (want_s && strcasecmp(f[1], want_s) != 0)
			continue;
		if (!strcmp(f[0], "%") && want_d == NULL) {
			/* the From: domain at signing time: no one name */
			printf("%s._domainkey.%%: note: key_table %s line %u "
			    "signs for the From: domain (%%): name one with -d "
			    "DOMAIN to test it\n", f[1], spec, lineno);
			t->tested++;
			continue;
		}
		if (!strcmp(f[0], "%"))
			f[0] = want_d;
		if (wanted(f[0], f[1], want_d, want_s))
			test_one(t, f[0], f[1], f[2]);
	}
	buf_free(&b);
}

/* test_config - every key of the config, simple mode and key_table */
static void test_config(struct testkey *t, const char *want_d,
    const char *want_s)
{
	size_t nd, ns, nk;
	const char *const *dom = cfg_list(t->cfg, "domain", &nd);
	const char *const *sel = cfg_list(t->cfg, "selector", &ns);
	const char *const *key = cfg_list(t->cfg, "key_file", &nk);
	const char *table = cfg_str(t->cfg, "key_table");

	if (nk == 0 && table && *table)
		nd = 0;		/* table mode: domain alone signs nothing */
	if (ns != nk && nd > 0)
		tool_die(EXIT_USAGE, "configuration error: %zu selector(s) "
		    "for %zu key_file(s): one selector per key file", ns, nk);
	for (size_t i = 0; i < nd; i++)
		for (size_t j = 0; j < ns; j++)
			if (wanted(dom[i], sel[j], want_d, want_s))
				test_one(t, dom[i], sel[j], key[j]);
	if (table && *table)
		test_key_table(t, table, want_d, want_s);
	if (t->tested == 0)
		tool_die(EXIT_USAGE, "no key to test: the config has no "
		    "domain, selector and key_file, no key_table%s",
		    want_d || want_s ? " entry for that domain and selector" :
		    "");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "domain", required_argument, NULL, 'd' },
		{ "selector", required_argument, NULL, 's' },
		{ "key", required_argument, NULL, 'k' },
		{ "config", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 } };
	/* static: its -o list is still referenced when a config error exits */
	static struct tool_opts opts;
	struct testkey t = { 0 };
	const char *domain = NULL, *selector = NULL, *keyfile = NULL;
	const char *err;
	char *domain_copy = NULL;
	int ch;

	tool_set_name(PROG);
	log_open(PROG, 1);	/* the resolver's warnings go to stderr */
	tool_opts_init(&opts, help_text, "postern-dkim.conf", argc);
	while ((ch = getopt_long(argc, argv, "d:s:k:c:o:vhV", longopts,
	    NULL)) != -1) {
		if (tool_opts_take(&opts, ch, optarg))
			continue;
		switch (ch) {
		case 'd':
			domain = optarg;
			break;
		case 's':
			selector = optarg;
			break;
		case 'k':
			keyfile = optarg;
			break;
		case 'v':
			t.verbose = 1;
			break;
		default:
			usage(NULL);
		}
	}
	if (optind < argc)
		usage("unexpected argument");
	if (keyfile && (domain == NULL || selector == NULL))
		usage("-k needs -d DOMAIN and -s SELECTOR");
	if (domain) {
		size_t n = strlen(domain);

		if (n > 1 && domain[n - 1] == '.')
			domain = domain_copy = xstrndup(domain, n - 1);
	}

	t.cfg = cfg_new(testkey_defs);
	if (tool_cfg_load(EXIT_USAGE, t.cfg, &opts) == 0 && keyfile == NULL)
		usage("no -k KEYFILE, and no config file to take keys from");
	tool_opts_free(&opts);
	t.require_safe = cfg_bool(t.cfg, "require_safe_keys");
	if ((t.res = dnscfg_resolver_new(t.cfg, &err)) == NULL)
		tool_die(EXIT_USAGE, "DNS: %s", err);

	if (keyfile)
		test_one(&t, domain, selector, keyfile);
	else
		test_config(&t, domain, selector);
	if (fflush(stdout) != 0 || ferror(stdout))
		tool_die(EXIT_USAGE, "write error on standard output: %s",
		    strerror(errno));
	dns_resolver_free(&t.res);
	cfg_unref(&t.cfg);
	free(domain_copy);
	return t.keyerr ? EXIT_USAGE : t.dnserr ? EXIT_DNS :
	    t.mismatch ? EXIT_MISMATCH : EXIT_OK;
}
