/*
 * dkimd_cfg.c - postern-dkim's configuration: the key table and the
 *               context a snapshot builds; see dkimd_cfg.h.
 *
 * Public: dkimd_defs, dkimd_check, dkimd_ctx_new, dkimd_ctx_free and
 *         the dkimd_* accessors.
 * Trust: admin files (config, tables, network lists, keys); the From:
 *        address given to dkimd_signers is peer data, compared only.
 * Errors: -1 / NULL with *err_r naming the key, file and line.
 *
 * Keys are read once here (start, SIGUSR1 reload), checked for safe
 * permissions first; a context that fails to build leaves the running
 * one in place (milter.c).
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "buf.h"
#include "daemon.h"
#include "dkimd_cfg.h"
#include "dnscfg.h"
#include "log.h"
#include "milter.h"
#include "xalloc.h"

#define ERR_MAX 600
#define HOSTNAME_MAX 256

#define ON_CHOICES "accept|reject|tempfail|quarantine"
#define LEGACY(name, help) \
	{ name, NULL, CFG_LEGACY, NULL, 0, 0, NULL, help }

const struct cfg_def dkimd_defs[] = {
	MILTER_CFG_DEFS("unix:/var/spool/postfix/postern/dkim.sock"),
	DAEMON_CFG_DEFS_ALIASED("UserID", "PidFile"),
	DNS_CFG_DEFS,
	{ "mode", "Mode", CFG_ENUM, "sv", 0, 0, "sv|vs|s|v",
	  "s: sign, v: verify, sv: both" },
	{ "domain", "Domain", CFG_LIST, NULL, 0, 0, NULL,
	  "simple mode: domains signed (an absolute path: a file of them)" },
	{ "selector", "Selector", CFG_LIST, NULL, 0, 0, NULL,
	  "simple mode: selectors, one per key_file" },
	{ "key_file", "KeyFile", CFG_LIST, NULL, 0, 0, NULL,
	  "simple mode: private key files (PEM), one per selector" },
	{ "key_table", "KeyTable", CFG_STR, NULL, 0, 0, NULL,
	  "table mode: file of \"NAME DOMAIN:SELECTOR:KEYPATH\" lines" },
	{ "signing_table", "SigningTable", CFG_STR, NULL, 0, 0, NULL,
	  "table mode: [refile:|file:]PATH of \"PATTERN NAME[,NAME]\" lines" },
	{ "multiple_signatures", "MultipleSignatures", CFG_BOOL, "no", 0, 0,
	  NULL, "table mode: every matching signing_table line signs, not "
	  "only the first" },
	{ "sub_domains", "SubDomains", CFG_BOOL, "no", 0, 0, NULL,
	  "sign mail from subdomains of the signing domains too" },
	{ "internal_hosts", "InternalHosts", CFG_LIST, "127.0.0.0/8, ::1", 0,
	  0, NULL, "clients whose mail is signed: CIDRs, addresses, "
	  "\"localhost\", or absolute paths of files of them" },
	{ "external_ignore_list", "ExternalIgnoreList", CFG_LIST, NULL, 0, 0,
	  NULL, "clients never treated as internal (same syntax)" },
	{ "sign_authenticated", NULL, CFG_BOOL, "yes", 0, 0, NULL,
	  "sign mail from SASL-authenticated clients ({auth_authen})" },
	{ "sign_daemon_names", "MTA", CFG_LIST, NULL, 0, 0, NULL,
	  "sign mail received by these {daemon_name}s (e.g. ORIGINATING)" },
	{ "canonicalization", "Canonicalization", CFG_STR, "relaxed/relaxed",
	  0, 0, NULL, "header/body canonicalization of our signatures" },
	{ "sign_headers", "SignHeaders", CFG_LIST,
	  "from, reply-to, subject, date, to, cc, resent-date, resent-from, "
	  "resent-to, resent-cc, in-reply-to, references, list-id, list-help, "
	  "list-unsubscribe, list-subscribe, list-post, list-owner, "
	  "list-archive, message-id, mime-version, content-type, "
	  "content-transfer-encoding, content-id, content-description, sender",
	  0, 0, NULL, "header fields signed (RFC 6376 section 5.4.1)" },
	{ "oversign_headers", "OversignHeaders", CFG_LIST, "from", 0, 0, NULL,
	  "header fields signed once more than present (none can be added)" },
	{ "require_safe_keys", "RequireSafeKeys", CFG_BOOL, "yes", 0, 0, NULL,
	  "refuse key files others can read or write (no: warn only)" },
	{ "signature_ttl", "SignatureTTL", CFG_TIME, "0", 0,
	  3650LL * 86400000LL, NULL, "x= of our signatures after t= (0: none)" },
	{ "min_key_bits", "MinimumKeyBits", CFG_INT, "1024", 1024, 16384, NULL,
	  "RSA keys shorter than this fail verification (RFC 8301: 1024)" },
	{ "authserv_id", "AuthservID", CFG_STR, NULL, 0, 0, NULL,
	  "authserv-id of our Authentication-Results (default: host name)" },
	{ "on_bad_signature", "On-BadSignature", CFG_ENUM, "accept", 0, 0,
	  ON_CHOICES, "signatures present, none passed" },
	{ "on_no_signature", "On-NoSignature", CFG_ENUM, "accept", 0, 0,
	  ON_CHOICES, "no DKIM-Signature at all" },
	{ "on_dns_error", "On-DNSError", CFG_ENUM, "accept", 0, 0, ON_CHOICES,
	  "a key lookup failed temporarily, none passed" },
	{ "on_key_not_found", "On-KeyNotFound", CFG_ENUM, "accept", 0, 0,
	  ON_CHOICES, "no key record for the signatures, none passed" },
	{ "on_internal_error", "On-InternalError", CFG_ENUM, "tempfail", 0, 0,
	  ON_CHOICES, "we could not sign or verify (engine error)" },
	{ "max_signatures", "MaximumSignaturesToVerify", CFG_INT, "5", 1,
	  DKIM_SIGS_MAX, NULL, "signatures verified per message" },
	/* OpenDKIM keys with no meaning here: accepted, warned about */
	LEGACY("AutoRestart", "not needed: use systemd's Restart="),
	LEGACY("AutoRestartRate", "not needed: use systemd's Restart="),
	LEGACY("Background", "postern-dkim forks unless started with -f"),
	LEGACY("Syslog", "postern-dkim always logs to syslog (or stderr "
	    "with -f)"),
	LEGACY("SyslogFacility", "postern-dkim logs to facility mail"),
	LEGACY("SyslogSuccess", "every message is logged (one line)"),
	LEGACY("LogWhy", "every message is logged with its reason"),
	LEGACY("LogResults", "every message is logged with its results"),
	LEGACY("UMask", "use unix_socket_mode for the socket"),
	LEGACY("ChangeRootDirectory", "use chroot"),
	LEGACY("Nameservers", "use dns_server"),
	LEGACY("DNSTimeout", "use dns_timeout"),
	LEGACY("ResolverConfiguration", "use dns_server"),
	LEGACY("TrustAnchorFile", "DNSSEC is not checked here"),
	LEGACY("SignatureAlgorithm", "the algorithm follows the key: RSA "
	    "keys give rsa-sha256, Ed25519 keys ed25519-sha256"),
	LEGACY("SoftwareHeader", "no DKIM-Filter header is added"),
	LEGACY("X-Header", "no DKIM-Filter header is added"),
	LEGACY("RemoveOldSignatures", "existing signatures are kept"),
	LEGACY("AlwaysAddARHeader", "Authentication-Results is always added "
	    "when verifying"),
	LEGACY("AuthservIDWithJobID", "not supported"),
	LEGACY("BaseDirectory", "not needed: use absolute paths"),
	LEGACY("TemporaryDirectory", "not needed: nothing is written"),
	LEGACY("QueryCache", "the DNS cache is always on (dns_cache_size)"),
	LEGACY("MilterDebug", "use log_level = debug"),
	LEGACY("PeerList", "not supported: use internal_hosts/"
	    "external_ignore_list"),
	LEGACY("OmitHeaders", "use sign_headers"),
	LEGACY("MaximumSignedBytes", "never sign with l="),
	LEGACY("ClockDrift", "not configurable"),
	LEGACY("SendReports", "no reports are sent"),
	LEGACY("ReportAddress", "no reports are sent"),
	CFG_END
};

struct keyent {			/* one key_table line */
	char *name;
	char *domain;		/* "%" = the From: domain */
	char *selector;
	struct dkim_key *key;
};

struct rule {			/* one signing_table line */
	char *pattern;
	size_t *keys;		/* indexes into keys[] */
	size_t nkeys;
};

struct pair {			/* simple mode: selector + key */
	char *selector;
	struct dkim_key *key;
};

struct dkimd_ctx {
	int sign, verify;
	int table_mode, multiple, sub_domains, sign_auth;
	char **domains;		/* simple mode, lowercase */
	size_t ndomains;
	struct pair *pairs;
	size_t npairs;
	struct keyent *keys;	/* table mode */
	size_t nkeys;
	struct rule *rules;
	size_t nrules;
	struct cidrlist internal, ignore;
	char **daemon_names;
	size_t ndaemon_names;
	enum dkim_canon hcanon, bcanon;
	char **hsign, **hover;	/* lowercase */
	size_t nhsign, nhover;
	long long ttl_secs;
	char *authserv_id;
	enum dkimd_action on_bad, on_nosig, on_dns, on_nokey, on_internal;
	size_t max_signatures;
	int min_key_bits;
	struct dns_resolver *resolver;
	unsigned dns_budget_ms;
	const struct cfg *cfg;	/* kept for dnscfg_same on reload */
	struct cfg *cfg_ref;
};

static __thread char errbuf[ERR_MAX];

/* fail - format *err_r into the thread's buffer; returns -1 */
static int fail(const char **err_r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int fail(const char **err_r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(errbuf, sizeof(errbuf), fmt, ap);
	va_end(ap);
	*err_r = errbuf;
	return -1;
}

/* prefix_err - put "prefix: " before the message in errbuf */
static int prefix_err(const char **err_r, const char *prefix)
{
	char tmp[ERR_MAX];

	snprintf(tmp, sizeof(tmp), "%s", errbuf);
	return fail(err_r, "%s: %s", prefix, tmp);
}

/* lower_dup - lowercase copy */
static char *lower_dup(const char *s)
{
	char *d = xstrdup(s);

	for (char *p = d; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return d;
}

/* parse_action - an On-* value */
static enum dkimd_action parse_action(const char *s)
{
	if (strcasecmp(s, "reject") == 0)
		return DKIMD_REJECT;
	if (strcasecmp(s, "tempfail") == 0)
		return DKIMD_TEMPFAIL;
	if (strcasecmp(s, "quarantine") == 0)
		return DKIMD_QUARANTINE;
	return DKIMD_ACCEPT;
}

/* dkimd_action_name - for logs */
const char *dkimd_action_name(enum dkimd_action a)
{
	static const char *const n[] = { "accept", "reject", "tempfail",
	    "quarantine" };

	return n[a];
}

/* strip_scheme - "file:PATH" -> PATH; *refile_r for "refile:"; NULL for
 * a scheme we do not read (db:, ldap:, csl:...) */
static const char *strip_scheme(const char *v, int *refile_r)
{
	*refile_r = 0;
	if (strncasecmp(v, "refile:", 7) == 0) {
		*refile_r = 1;
		return v + 7;
	}
	if (strncasecmp(v, "file:", 5) == 0)
		return v + 5;
	if (*v == '/')
		return v;
	return NULL;
}

/* load_key - check permissions, then parse a private key file once */
static struct dkim_key *load_key(const struct cfg *cfg, const char *what,
    const char *path, const char **err_r)
{
	const char *err;
	struct dkim_key *k;

	if (dkim_keyfile_check(path, &err) < 0) {
		if (cfg_bool(cfg, "require_safe_keys")) {
			fail(err_r, "%s: unsafe key file %s (set "
			    "require_safe_keys = no to only warn)", what, err);
			return NULL;
		}
		log_warn("%s: UNSAFE KEY FILE: %s", what, err);
	}
	if ((k = dkim_key_load(path, &err)) == NULL) {
		fail(err_r, "%s: %s", what, err);
		return NULL;
	}
	return k;
}

/* domain_line - one domain of a domain file */
static int domain_line(void *arg, char *line, const char *path, int lineno,
    const char **err_r)
{
	struct dkimd_ctx *x = arg;

	if (strlen(line) > DKIM_DOMAIN_MAX || strchr(line, ' '))
		return fail(err_r, "%s:%d: not a domain", path, lineno);
	x->domains = xrealloc(x->domains, (x->ndomains + 1) *
	    sizeof(*x->domains));
	x->domains[x->ndomains++] = lower_dup(line);
	return 0;
}

/* simple_mode - domain, selector, key_file */
static int simple_mode(struct dkimd_ctx *x, const struct cfg *cfg,
    const char **err_r)
{
	size_t nd, ns, nk;
	const char *const *d = cfg_list(cfg, "domain", &nd);
	const char *const *s = cfg_list(cfg, "selector", &ns);
	const char *const *k = cfg_list(cfg, "key_file", &nk);
	char what[32];

	if (nd == 0 && ns == 0 && nk == 0)
		return 0;
	if (nd == 0 || ns == 0 || nk == 0)
		return fail(err_r, "domain, selector and key_file go together "
		    "(%zu domain(s), %zu selector(s), %zu key file(s))", nd,
		    ns, nk);
	if (ns != nk)
		return fail(err_r, "selector and key_file must have as many "
		    "elements (%zu selectors, %zu key files): selector[i] "
		    "signs with key_file[i]", ns, nk);
	if (ns > DKIMD_SIGNERS_MAX)
		return fail(err_r, "at most %d selector/key_file pairs",
		    DKIMD_SIGNERS_MAX);
	for (size_t i = 0; i < nd; i++) {
		if (d[i][0] == '/') {
			if (milter_cfg_lines(d[i], domain_line, x, err_r) < 0)
				return prefix_err(err_r, "domain");
			continue;
		}
		if (strlen(d[i]) > DKIM_DOMAIN_MAX)
			return fail(err_r, "domain: \"%.100s...\" is too long",
			    d[i]);
		x->domains = xrealloc(x->domains, (x->ndomains + 1) *
		    sizeof(*x->domains));
		x->domains[x->ndomains++] = lower_dup(d[i]);
	}
	x->pairs = xcalloc(ns, sizeof(*x->pairs));
	for (size_t i = 0; i < ns; i++) {
		if (strlen(s[i]) > DKIM_SELECTOR_MAX)
			return fail(err_r, "selector \"%.100s\" is too long",
			    s[i]);
		x->pairs[i].selector = xstrdup(s[i]);
		x->npairs++;
		snprintf(what, sizeof(what), "key_file");
		if ((x->pairs[i].key = load_key(cfg, what, k[i], err_r)) ==
		    NULL)
			return -1;
	}
	return 1;
}

struct table_arg {
	struct dkimd_ctx *x;
	const struct cfg *cfg;
};

/* keytable_line - "NAME DOMAIN:SELECTOR:KEYPATH" */
static int keytable_line(void *arg, char *line, const char *path,
    int lineno, const char **err_r)
{
	struct table_arg *ta = arg;
	struct dkimd_ctx *x = ta->x;
	char *name = line, *val, *c1, *c2;
	struct keyent *e;
	char what[400];
	int refile;
	const char *kp;

	val = line + strcspn(line, " \t");
	if (*val == '\0')
		return fail(err_r, "%s:%d: expected \"NAME "
		    "DOMAIN:SELECTOR:KEYPATH\"", path, lineno);
	*val++ = '\0';
	while (isspace((unsigned char)*val))
		val++;
	c1 = strchr(val, ':');
	c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	if (c1 == NULL || c2 == NULL || c1 == val || c2 == c1 + 1 ||
	    c2[1] == '\0')
		return fail(err_r, "%s:%d: expected DOMAIN:SELECTOR:KEYPATH",
		    path, lineno);
	*c1 = *c2 = '\0';
	if (strlen(val) > DKIM_DOMAIN_MAX || strlen(c1 + 1) >
	    DKIM_SELECTOR_MAX)
		return fail(err_r, "%s:%d: domain or selector too long", path,
		    lineno);
	if ((kp = strip_scheme(c2 + 1, &refile)) == NULL || refile)
		return fail(err_r, "%s:%d: key path must be absolute", path,
		    lineno);
	for (size_t i = 0; i < x->nkeys; i++)
		if (strcmp(x->keys[i].name, name) == 0)
			return fail(err_r, "%s:%d: key name \"%.100s\" used "
			    "twice", path, lineno, name);
	x->keys = xrealloc(x->keys, (x->nkeys + 1) * sizeof(*x->keys));
	e = &x->keys[x->nkeys++];
	memset(e, 0, sizeof(*e));
	e->name = xstrdup(name);
	e->domain = lower_dup(val);
	e->selector = xstrdup(c1 + 1);
	snprintf(what, sizeof(what), "%.200s:%d", path, lineno);
	if ((e->key = load_key(ta->cfg, what, kp, err_r)) == NULL)
		return -1;
	return 0;
}

/* signtable_line - "PATTERN NAME[,NAME...]" */
static int signtable_line(void *arg, char *line, const char *path,
    int lineno, const char **err_r)
{
	struct table_arg *ta = arg;
	struct dkimd_ctx *x = ta->x;
	char *val = line + strcspn(line, " \t"), *p;
	struct rule *r;

	if (*val == '\0')
		return fail(err_r, "%s:%d: expected \"PATTERN NAME[,NAME]\"",
		    path, lineno);
	*val++ = '\0';
	if (strlen(line) > DKIMD_ADDR_MAX)
		return fail(err_r, "%s:%d: pattern too long", path, lineno);
	x->rules = xrealloc(x->rules, (x->nrules + 1) * sizeof(*x->rules));
	r = &x->rules[x->nrules++];
	memset(r, 0, sizeof(*r));
	r->pattern = lower_dup(line);
	for (p = val; *p; ) {
		size_t n, i;

		while (*p == ',' || isspace((unsigned char)*p))
			p++;
		if (*p == '\0')
			break;
		n = strcspn(p, ", \t");
		for (i = 0; i < x->nkeys; i++)
			if (strlen(x->keys[i].name) == n &&
			    strncmp(x->keys[i].name, p, n) == 0)
				break;
		if (i == x->nkeys)
			return fail(err_r, "%s:%d: \"%.*s\" is not in "
			    "key_table", path, lineno, (int)(n > 100 ? 100 : n),
			    p);
		if (r->nkeys == DKIMD_SIGNERS_MAX)
			return fail(err_r, "%s:%d: more than %d keys", path,
			    lineno, DKIMD_SIGNERS_MAX);
		r->keys = xrealloc(r->keys, (r->nkeys + 1) * sizeof(size_t));
		r->keys[r->nkeys++] = i;
		p += n;
	}
	if (r->nkeys == 0)
		return fail(err_r, "%s:%d: no key name", path, lineno);
	return 0;
}

/* table_mode - key_table + signing_table */
static int table_mode(struct dkimd_ctx *x, const struct cfg *cfg,
    const char **err_r)
{
	const char *kt = cfg_str(cfg, "key_table");
	const char *st = cfg_str(cfg, "signing_table");
	struct table_arg ta = { x, cfg };
	const char *path;
	int refile;

	if (*kt == '\0' && *st == '\0')
		return 0;
	if (*kt == '\0' || *st == '\0')
		return fail(err_r, "key_table and signing_table go together");
	if ((path = strip_scheme(kt, &refile)) == NULL || refile)
		return fail(err_r, "key_table: expected an absolute path or "
		    "file:PATH, not \"%.100s\"", kt);
	if (milter_cfg_lines(path, keytable_line, &ta, err_r) < 0)
		return prefix_err(err_r, "key_table");
	if ((path = strip_scheme(st, &refile)) == NULL)
		return fail(err_r, "signing_table: expected an absolute path, "
		    "file:PATH or refile:PATH, not \"%.100s\"", st);
	if (milter_cfg_lines(path, signtable_line, &ta, err_r) < 0)
		return prefix_err(err_r, "signing_table");
	x->table_mode = 1;
	return 1;
}

/* header_list - lowercase copies of a list key */
static char **header_list(const struct cfg *cfg, const char *key,
    size_t *n_r)
{
	const char *const *v = cfg_list(cfg, key, n_r);
	char **out = xcalloc(*n_r + 1, sizeof(char *));

	for (size_t i = 0; i < *n_r; i++)
		out[i] = lower_dup(v[i]);
	return out;
}

/* dkimd_check - the cheap checks (the rest is dkimd_ctx_new) */
int dkimd_check(const struct cfg *cfg, const char **err_r)
{
	enum dkim_canon h, b;

	if (dkim_canon_parse(cfg_str(cfg, "canonicalization"), &h, &b) < 0)
		return fail(err_r, "canonicalization: \"%.100s\" is not "
		    "simple|relaxed[/simple|relaxed]",
		    cfg_str(cfg, "canonicalization"));
	return 0;
}

/* dkimd_ctx_new - everything one config builds */
struct dkimd_ctx *dkimd_ctx_new(const struct cfg *cfg,
    const struct dkimd_ctx *prev, const char **err_r)
{
	struct dkimd_ctx *x = xcalloc(1, sizeof(*x));
	const char *mode = cfg_str(cfg, "mode");
	const char *const *dn;
	int simple, table;
	char host[HOSTNAME_MAX];

	x->cfg_ref = cfg_ref((struct cfg *)cfg);
	x->cfg = cfg;
	if (dkimd_check(cfg, err_r) < 0)
		goto bad;
	dkim_canon_parse(cfg_str(cfg, "canonicalization"), &x->hcanon,
	    &x->bcanon);
	x->verify = strchr(mode, 'v') != NULL;
	x->sub_domains = cfg_bool(cfg, "sub_domains");
	x->multiple = cfg_bool(cfg, "multiple_signatures");
	x->sign_auth = cfg_bool(cfg, "sign_authenticated");
	if ((simple = simple_mode(x, cfg, err_r)) < 0 ||
	    (table = table_mode(x, cfg, err_r)) < 0)
		goto bad;
	if (simple && table) {
		fail(err_r, "both simple mode (domain/selector/key_file) and "
		    "tables (key_table/signing_table): choose one");
		goto bad;
	}
	x->sign = strchr(mode, 's') != NULL && (simple || table);
	if (strchr(mode, 's') && !x->sign)
		log_info("mode %s: no signing keys configured (domain + "
		    "selector + key_file, or key_table + signing_table): "
		    "%s", mode, x->verify ? "verifying only" :
		    "nothing will be signed");
	if (milter_cfg_netlist(cfg, "internal_hosts", &x->internal, err_r) < 0 ||
	    milter_cfg_netlist(cfg, "external_ignore_list", &x->ignore, err_r) < 0)
		goto bad;
	dn = cfg_list(cfg, "sign_daemon_names", &x->ndaemon_names);
	x->daemon_names = (char **)dn;
	x->hsign = header_list(cfg, "sign_headers", &x->nhsign);
	x->hover = header_list(cfg, "oversign_headers", &x->nhover);
	x->ttl_secs = cfg_int(cfg, "signature_ttl") / 1000;
	if (*cfg_str(cfg, "authserv_id")) {
		x->authserv_id = xstrdup(cfg_str(cfg, "authserv_id"));
	} else {
		if (gethostname(host, sizeof(host)) < 0)
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		x->authserv_id = xstrdup(host);
	}
	x->on_bad = parse_action(cfg_str(cfg, "on_bad_signature"));
	x->on_nosig = parse_action(cfg_str(cfg, "on_no_signature"));
	x->on_dns = parse_action(cfg_str(cfg, "on_dns_error"));
	x->on_nokey = parse_action(cfg_str(cfg, "on_key_not_found"));
	x->on_internal = parse_action(cfg_str(cfg, "on_internal_error"));
	x->max_signatures = (size_t)cfg_int(cfg, "max_signatures");
	x->min_key_bits = (int)cfg_int(cfg, "min_key_bits");
	x->dns_budget_ms = (unsigned)cfg_int(cfg, "dns_timeout");
	if (x->verify) {
		if (prev && prev->resolver && dnscfg_same(prev->cfg, cfg))
			x->resolver = dns_resolver_ref(prev->resolver);
		else if ((x->resolver = dnscfg_resolver_new(cfg, err_r)) ==
		    NULL)
			goto bad;
	}
	return x;
bad:
	{
		/* the message may live in x's buffers: copy it first */
		static __thread char msg[ERR_MAX];

		snprintf(msg, sizeof(msg), "%s", *err_r);
		*err_r = msg;
	}
	dkimd_ctx_free(&x);
	return NULL;
}

/* dkimd_ctx_free - release a context */
void dkimd_ctx_free(struct dkimd_ctx **xp)
{
	struct dkimd_ctx *x = *xp;

	if (x == NULL)
		return;
	*xp = NULL;
	for (size_t i = 0; i < x->ndomains; i++)
		free(x->domains[i]);
	free(x->domains);
	for (size_t i = 0; i < x->npairs; i++) {
		free(x->pairs[i].selector);
		dkim_key_free(&x->pairs[i].key);
	}
	free(x->pairs);
	for (size_t i = 0; i < x->nkeys; i++) {
		free(x->keys[i].name);
		free(x->keys[i].domain);
		free(x->keys[i].selector);
		dkim_key_free(&x->keys[i].key);
	}
	free(x->keys);
	for (size_t i = 0; i < x->nrules; i++) {
		free(x->rules[i].pattern);
		free(x->rules[i].keys);
	}
	free(x->rules);
	cidrlist_free(&x->internal);
	cidrlist_free(&x->ignore);
	for (size_t i = 0; x->hsign && i < x->nhsign; i++)
		free(x->hsign[i]);
	free(x->hsign);
	for (size_t i = 0; x->hover && i < x->nhover; i++)
		free(x->hover[i]);
	free(x->hover);
	free(x->authserv_id);
	if (x->resolver)
		dns_resolver_free(&x->resolver);
	cfg_unref(&x->cfg_ref);
	free(x);
}

/* dkimd_can_sign - mode s and keys configured */
int dkimd_can_sign(const struct dkimd_ctx *x)
{
	return x->sign;
}

/* dkimd_can_verify - mode v */
int dkimd_can_verify(const struct dkimd_ctx *x)
{
	return x->verify;
}

/* dkimd_is_internal - in internal_hosts and not in external_ignore_list */
int dkimd_is_internal(const struct dkimd_ctx *x, const struct ipaddr *ip)
{
	return cidrlist_match(&x->internal, ip) &&
	    !cidrlist_match(&x->ignore, ip);
}

/* dkimd_daemon_signs - is {daemon_name} one of sign_daemon_names? */
int dkimd_daemon_signs(const struct dkimd_ctx *x, const char *daemon_name)
{
	if (*daemon_name == '\0')
		return 0;
	for (size_t i = 0; i < x->ndaemon_names; i++)
		if (strcasecmp(x->daemon_names[i], daemon_name) == 0)
			return 1;
	return 0;
}

/* dkimd_sign_authenticated - sign for SASL-authenticated clients? */
int dkimd_sign_authenticated(const struct dkimd_ctx *x)
{
	return x->sign_auth;
}

/* glob_match - "*" matches any string (also empty); iterative, so a
 * hostile address cannot make it recurse; both sides lowercase */
static int glob_match(const char *pat, const char *s)
{
	const char *star = NULL, *resume = NULL;

	while (*s) {
		if (*pat == '*') {
			star = pat++;
			resume = s;
		} else if (*pat == *s) {
			pat++;
			s++;
		} else if (star) {
			pat = star + 1;
			s = ++resume;
		} else {
			return 0;
		}
	}
	while (*pat == '*')
		pat++;
	return *pat == '\0';
}

/* domain_matches - d equals dom, or is a subdomain with sub_domains */
static int domain_matches(const struct dkimd_ctx *x, const char *dom,
    const char *d)
{
	size_t ld = strlen(dom), l = strlen(d);

	if (strcmp(dom, d) == 0)
		return 1;
	return x->sub_domains && ld > l && dom[ld - l - 1] == '.' &&
	    strcmp(dom + ld - l, d) == 0;
}

/* rule_matches - a signing_table pattern against the From: address */
static int rule_matches(const struct dkimd_ctx *x, const char *pat,
    const char *addr, const char *dom)
{
	if (glob_match(pat, addr))
		return 1;
	if (strchr(pat, '@'))
		return 0;
	if (strchr(pat, '*'))
		return glob_match(pat, dom);
	return domain_matches(x, dom, pat);
}

/* add_signer - one signer into out, unless full or a duplicate */
static size_t add_signer(struct dkimd_signer *out, size_t n, size_t nout,
    const char *domain, const char *selector, const struct dkim_key *key)
{
	if (n == nout || strlen(domain) > DKIM_DOMAIN_MAX)
		return n;
	for (size_t i = 0; i < n; i++)
		if (out[i].key == key && strcmp(out[i].domain, domain) == 0)
			return n;
	snprintf(out[n].domain, sizeof(out[n].domain), "%s", domain);
	out[n].selector = selector;
	out[n].key = key;
	return n + 1;
}

/*
 * dkimd_signers - the signatures to make for mail from from_addr
 * (local@domain, any case): 0 when none applies.
 */
size_t dkimd_signers(const struct dkimd_ctx *x, const char *from_addr,
    struct dkimd_signer *out, size_t nout)
{
	char addr[DKIMD_ADDR_MAX + 1];
	const char *dom;
	size_t n = 0;

	if (strlen(from_addr) > DKIMD_ADDR_MAX)
		return 0;
	for (size_t i = 0; ; i++) {
		addr[i] = (char)tolower((unsigned char)from_addr[i]);
		if (addr[i] == '\0')
			break;
	}
	if ((dom = strrchr(addr, '@')) == NULL || dom[1] == '\0')
		return 0;
	dom++;
	if (!x->table_mode) {
		for (size_t i = 0; i < x->ndomains; i++) {
			if (!domain_matches(x, dom, x->domains[i]))
				continue;
			for (size_t k = 0; k < x->npairs; k++)
				n = add_signer(out, n, nout, x->domains[i],
				    x->pairs[k].selector, x->pairs[k].key);
			break;
		}
		return n;
	}
	for (size_t i = 0; i < x->nrules; i++) {
		const struct rule *r = &x->rules[i];

		if (!rule_matches(x, r->pattern, addr, dom))
			continue;
		for (size_t k = 0; k < r->nkeys; k++) {
			const struct keyent *e = &x->keys[r->keys[k]];

			n = add_signer(out, n, nout, strcmp(e->domain, "%") ?
			    e->domain : dom, e->selector, e->key);
		}
		if (!x->multiple)
			break;
	}
	return n;
}

/* dkimd_sign_spec - the engine's signing spec for one signer */
void dkimd_sign_spec(const struct dkimd_ctx *x, const struct dkimd_signer *s,
    struct dkim_sign_spec *spec)
{
	memset(spec, 0, sizeof(*spec));
	spec->domain = s->domain;
	spec->selector = s->selector;
	spec->key = s->key;
	spec->hcanon = x->hcanon;
	spec->bcanon = x->bcanon;
	spec->sign_headers = (const char *const *)x->hsign;
	spec->nsign = x->nhsign;
	spec->oversign = (const char *const *)x->hover;
	spec->noversign = x->nhover;
	spec->expire_secs = x->ttl_secs;
}

/* dkimd_authserv_id - of our Authentication-Results */
const char *dkimd_authserv_id(const struct dkimd_ctx *x)
{
	return x->authserv_id;
}

/* dkimd_max_signatures - verified per message */
size_t dkimd_max_signatures(const struct dkimd_ctx *x)
{
	return x->max_signatures;
}

/* dkimd_min_key_bits - RSA keys shorter fail */
int dkimd_min_key_bits(const struct dkimd_ctx *x)
{
	return x->min_key_bits;
}

/* dkimd_resolver - for key lookups (verify mode) */
struct dns_resolver *dkimd_resolver(const struct dkimd_ctx *x)
{
	return x->resolver;
}

/* dkimd_dns_budget - per key lookup, dns_timeout */
unsigned dkimd_dns_budget(const struct dkimd_ctx *x)
{
	return x->dns_budget_ms;
}

/* dkimd_on - the On-* action of a verification outcome */
enum dkimd_action dkimd_on(const struct dkimd_ctx *x, enum dkim_outcome o)
{
	switch (o) {
	case DKIM_OUT_GOOD:
		return DKIMD_ACCEPT;
	case DKIM_OUT_NOSIG:
		return x->on_nosig;
	case DKIM_OUT_DNSERROR:
		return x->on_dns;
	case DKIM_OUT_NOKEY:
		return x->on_nokey;
	case DKIM_OUT_BADSIG:
		break;
	}
	return x->on_bad;
}

/* dkimd_on_internal_error - on_internal_error */
enum dkimd_action dkimd_on_internal_error(const struct dkimd_ctx *x)
{
	return x->on_internal;
}
