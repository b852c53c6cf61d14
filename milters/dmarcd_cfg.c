/*
 * dmarcd_cfg.c - postern-dmarc's configuration; see dmarcd_cfg.h.
 *
 * OpenDMARC's option names are accepted where they mean the same
 * (AuthservID, TrustedAuthservIDs, SPFSelfValidate, SPFIgnoreResults,
 * RejectFailures, IgnoreHosts, IgnoreAuthenticatedClients,
 * IgnoreMailFrom, RequiredHeaders, RejectMultiValueFrom,
 * PublicSuffixList, FailureReports, ...); its options that mean nothing
 * here load with a warning.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "daemon.h"
#include "dmarc_report_cfg.h"
#include "dmarc_ruf.h"
#include "dmarcd_cfg.h"
#include "dnscfg.h"
#include "log.h"
#include "psl.h"
#include "spfengine.h"
#include "xalloc.h"

#define ERR_MAX 600
#define HOSTNAME_MAX 256
#define LEGACY(name, help) \
	{ name, NULL, CFG_LEGACY, NULL, 0, 0, NULL, help }

const struct cfg_def dmarcd_defs[] = {
	MILTER_CFG_DEFS("unix:/var/spool/postfix/postern/dmarc.sock"),
	DAEMON_CFG_DEFS_ALIASED("UserID", "PidFile"),
	DNS_CFG_DEFS,
	SPF_ENGINE_CFG_DEFS,
	DMARC_STORE_CFG_DEFS,
	DMARC_REPORT_CFG_DEFS,
	DMARC_RUF_CFG_DEFS,
	{ "authserv_id", "AuthservID", CFG_STR, NULL, 0, 0, NULL,
	  "authserv-id of our Authentication-Results (default: host name)" },
	{ "trusted_authserv_ids", "TrustedAuthservIDs", CFG_LIST, NULL, 0, 0,
	  NULL, "Authentication-Results from these authserv-ids give the "
	  "SPF and DKIM results (default: authserv_id, as postern-spfd and "
	  "postern-dkim on this host write it)" },
	{ "spf_self_validate", "SPFSelfValidate", CFG_BOOL, "no", 0, 0, NULL,
	  "check SPF here (MAIL FROM, or HELO for the null sender) instead "
	  "of reading it from Authentication-Results" },
	{ "spf_ignore_results", "SPFIgnoreResults", CFG_BOOL, "no", 0, 0,
	  NULL, "ignore spf= results in Authentication-Results" },
	{ "dkim_self_validate", NULL, CFG_BOOL, "no", 0, 0, NULL,
	  "verify DKIM signatures here instead of reading dkim= results "
	  "from Authentication-Results (the body is then read)" },
	{ "dkim_max_signatures", NULL, CFG_INT, "5", 1, DKIM_SIGS_MAX, NULL,
	  "dkim_self_validate: signatures verified per message" },
	{ "dkim_min_key_bits", NULL, CFG_INT, "1024", 1024, 16384, NULL,
	  "dkim_self_validate: shorter RSA keys fail (RFC 8301)" },
	{ "dmarc_mode", NULL, CFG_ENUM, "bis", 0, 0, "bis|rfc7489",
	  "policy discovery: bis (RFC 9989 DNS tree walk) or rfc7489 "
	  "(organizational domain from the Public Suffix List)" },
	{ "public_suffix_list", "PublicSuffixList", CFG_STR,
	  "/usr/share/publicsuffix/public_suffix_list.dat", 0, 0, NULL,
	  "Public Suffix List file (dmarc_mode = rfc7489)" },
	{ "reject_failures", "RejectFailures", CFG_BOOL, "yes", 0, 0, NULL,
	  "reject (550 5.7.1) failing mail of p=reject domains; no: only "
	  "the Authentication-Results header" },
	{ "quarantine_action", NULL, CFG_ENUM, "header", 0, 0,
	  "hold|header|none", "failing mail of p=quarantine domains: hold "
	  "(Postfix hold queue), header (add quarantine_header), none" },
	{ "quarantine_header", NULL, CFG_STR, "X-Postern-DMARC-Quarantine", 0,
	  0, NULL, "header added with quarantine_action = header" },
	{ "required_headers", "RequiredHeaders", CFG_BOOL, "yes", 0, 0, NULL,
	  "reject mail with no usable From: address (none, a group, no "
	  "domain)" },
	{ "reject_multi_from", "RejectMultiValueFrom", CFG_BOOL, "yes", 0, 0,
	  NULL, "reject mail with several From: headers or addresses" },
	{ "on_temperror", "TemporaryFailures", CFG_ENUM, "accept", 0, 0,
	  "accept|tempfail", "a DNS failure kept DMARC from deciding: "
	  "accept, or tempfail (451 4.7.5) so the sender retries" },
	{ "test_mode", NULL, CFG_BOOL, "no", 0, 0, NULL,
	  "decide and log, but never reject, hold or tempfail" },
	{ "ignore_hosts", "IgnoreHosts", CFG_LIST, "127.0.0.0/8, ::1", 0, 0,
	  NULL, "clients whose mail is not checked: addresses, CIDRs, "
	  "\"localhost\", or absolute paths of files of them" },
	{ "ignore_authenticated_clients", "IgnoreAuthenticatedClients",
	  CFG_BOOL, "yes", 0, 0, NULL,
	  "do not check mail from SASL-authenticated clients" },
	{ "ignore_domains", "IgnoreMailFrom", CFG_LIST, NULL, 0, 0, NULL,
	  "From: domains not checked at all (example.com, *.example.com, "
	  ".example.com, or files of them)" },
	{ "override_domains", NULL, CFG_LIST, NULL, 0, 0, NULL,
	  "From: domains whose failures are never rejected or held "
	  "(reported as local_policy)" },
	{ "override_hosts", NULL, CFG_LIST, NULL, 0, 0, NULL,
	  "forwarders (addresses, CIDRs, files) whose failing mail is never "
	  "rejected or held (reported as trusted_forwarder)" },
	{ "aggregate_reports", "HistoryFile", CFG_BOOL, "yes", 0, 0, NULL,
	  "count evaluated mail in the store for postern-dmarc-report" },
	{ "aggregate_max_rows", NULL, CFG_INT, "20000", 100, 10000000, NULL,
	  "distinct report rows kept in memory between flushes (up to "
	  "~4.4 KB each)" },
	{ "aggregate_flush_interval", NULL, CFG_TIME, "10s", 1000, 3600000,
	  NULL, "how often counts move from memory into the store" },
	{ "failure_reports", "FailureReports", CFG_BOOL, "no", 0, 0, NULL,
	  "send RFC 6591 failure reports to ruf= addresses" },
	LEGACY("AutoRestart", "not needed: use systemd's Restart="),
	LEGACY("AutoRestartRate", "not needed: use systemd's Restart="),
	LEGACY("Background", "postern-dmarc forks unless started with -f"),
	LEGACY("Syslog", "postern-dmarc always logs to syslog (or stderr "
	    "with -f)"),
	LEGACY("SyslogFacility", "postern-dmarc logs to facility mail"),
	LEGACY("UMask", "use unix_socket_mode for the socket"),
	LEGACY("ChangeRootDirectory", "use chroot"),
	LEGACY("DNSTimeout", "use dns_timeout"),
	LEGACY("HoldQuarantinedMessages", "use quarantine_action = hold"),
	LEGACY("AuthservIDWithJobID", "the authserv-id is authserv_id"),
	LEGACY("CopyFailuresTo", "not implemented"),
	LEGACY("FailureReportsOnNone", "not implemented"),
	LEGACY("FailureReportsSentBy", "failure reports come from "
	    "report_email"),
	LEGACY("IgnoreMailTo", "not implemented"),
	LEGACY("SoftwareHeader", "not implemented"),
	LEGACY("SPFSelfValidate_Nameservers", "use dns_server"),
	CFG_END
};

static __thread char errbuf[ERR_MAX];

/* fail - format *err_r and return -1 */
static int fail(const char **err_r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int fail(const char **err_r, const char *fmt, ...)
{
	va_list ap;
	char tmp[ERR_MAX];

	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	memcpy(errbuf, tmp, sizeof(errbuf));
	*err_r = errbuf;
	return -1;
}

/* dmarcd_check - the cheap checks (the rest is dmarcd_ctx_new) */
int dmarcd_check(const struct cfg *cfg, const char **err_r)
{
	size_t n;

	cfg_list(cfg, "trusted_authserv_ids", &n);
	if (n > DMARCD_TRUSTED_MAX)
		return fail(err_r, "trusted_authserv_ids: at most %d",
		    DMARCD_TRUSTED_MAX);
	if (cfg_bool(cfg, "aggregate_reports") && !*cfg_str(cfg, "store"))
		return fail(err_r, "aggregate_reports needs a store");
	if (strchr(cfg_str(cfg, "quarantine_header"), ':') ||
	    !*cfg_str(cfg, "quarantine_header"))
		return fail(err_r, "quarantine_header: not a header name");
	return 0;
}

/* ruf_setup - who failure reports come from and how they leave (the
 * report_* keys postern-dmarc-report reads too) */
static int ruf_setup(struct dmarcd_ctx *x, const struct cfg *cfg,
    const char **err_r)
{
	const char *v = cfg_str(cfg, "report_email"), *at, *err;

	if (*v) {
		x->ruf_from = xstrdup(v);
	} else {
		size_t n = strlen(x->host) + sizeof("postmaster@");

		x->ruf_from = xmalloc(n);
		snprintf(x->ruf_from, n, "postmaster@%s", x->host);
	}
	if (!mailsend_addr_valid(x->ruf_from))
		return fail(err_r, "report_email: not a usable address: "
		    "%.200s", x->ruf_from);
	at = strrchr(x->ruf_from, '@');
	v = cfg_str(cfg, "report_org_domain");
	x->ruf_org_domain = xstrdup(*v ? v : at + 1);
	x->ruf_org_name = cfg_str(cfg, "report_org_name");
	x->ruf_bcc = cfg_str(cfg, "failure_reports_bcc");
	if (*x->ruf_bcc && !mailsend_addr_valid(x->ruf_bcc))
		return fail(err_r, "failure_reports_bcc: not a usable "
		    "address: %.200s", x->ruf_bcc);
	v = cfg_str(cfg, "report_helo");
	if (mailsend_init(&x->ruf_transport, cfg_str(cfg,
	    "report_transport"), *v ? v : x->host,
	    (unsigned)cfg_int(cfg, "report_timeout"), &err) < 0)
		return fail(err_r, "report_transport: %s", err);
	return 0;
}

/* dmarcd_ctx_new - everything one config builds */
struct dmarcd_ctx *dmarcd_ctx_new(const struct cfg *cfg,
    const struct dmarcd_ctx *prev, const char **err_r)
{
	struct dmarcd_ctx *x = xcalloc(1, sizeof(*x));
	struct dmarc_opts o;
	const char *const *ids;
	char host[HOSTNAME_MAX];
	const char *q;

	x->cfg = cfg_ref((struct cfg *)cfg);
	if (dmarcd_check(cfg, err_r) < 0)
		goto bad;
	if (gethostname(host, sizeof(host)) < 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	/* OpenDMARC: AuthservID HOSTNAME (its default) is the host name */
	x->authserv_id = xstrdup(*cfg_str(cfg, "authserv_id") &&
	    strcmp(cfg_str(cfg, "authserv_id"), "HOSTNAME") != 0 ?
	    cfg_str(cfg, "authserv_id") : host);
	ids = cfg_list(cfg, "trusted_authserv_ids", &x->ntrusted);
	x->trusted = xcalloc(x->ntrusted + 1, sizeof(*x->trusted));
	for (size_t i = 0; i < x->ntrusted; i++)
		/* OpenDMARC: "HOSTNAME" means this host's name */
		x->trusted[i] = xstrdup(strcmp(ids[i], "HOSTNAME") == 0 ?
		    host : ids[i]);
	if (x->ntrusted == 0)
		x->trusted[x->ntrusted++] = xstrdup(x->authserv_id);
	x->spf_self = cfg_bool(cfg, "spf_self_validate");
	x->dkim_self = cfg_bool(cfg, "dkim_self_validate");
	x->reject_failures = cfg_bool(cfg, "reject_failures");
	q = cfg_str(cfg, "quarantine_action");
	x->quarantine = !strcmp(q, "hold") ? DMARCD_Q_HOLD :
	    !strcmp(q, "header") ? DMARCD_Q_HEADER : DMARCD_Q_NONE;
	x->quarantine_header = cfg_str(cfg, "quarantine_header");
	x->reject_no_from = cfg_bool(cfg, "required_headers");
	x->reject_multi_from = cfg_bool(cfg, "reject_multi_from");
	x->tempfail_on_temperror = !strcmp(cfg_str(cfg, "on_temperror"),
	    "tempfail");
	x->test_mode = cfg_bool(cfg, "test_mode");
	x->ignore_auth = cfg_bool(cfg, "ignore_authenticated_clients");
	x->aggregate = cfg_bool(cfg, "aggregate_reports");
	x->failure_reports = cfg_bool(cfg, "failure_reports");
	snprintf(x->host, sizeof(x->host), "%s", host);
	if (x->failure_reports && ruf_setup(x, cfg, err_r) < 0)
		goto bad;
	x->max_signatures = (int)cfg_int(cfg, "dkim_max_signatures");
	x->min_key_bits = (int)cfg_int(cfg, "dkim_min_key_bits");
	if (milter_cfg_netlist(cfg, "ignore_hosts", &x->ignore_hosts,
	    err_r) < 0 ||
	    milter_cfg_netlist(cfg, "override_hosts", &x->override_hosts,
	    err_r) < 0 ||
	    milter_cfg_domains(cfg, "override_domains", &x->override_domains,
	    err_r) < 0 ||
	    milter_cfg_domains(cfg, "ignore_domains", &x->ignore_domains,
	    err_r) < 0)
		goto bad;
	if (prev && prev->resolver && dnscfg_same(prev->cfg, cfg))
		x->resolver = dns_resolver_ref(prev->resolver);
	else if ((x->resolver = dnscfg_resolver_new(cfg, err_r)) == NULL)
		goto bad;
	x->dns_budget_ms = (unsigned)cfg_int(cfg, "dns_timeout");
	x->dd.resolver = x->resolver;
	x->dd.budget_ms = x->dns_budget_ms;
	memset(&o, 0, sizeof(o));
	o.mode = strcmp(cfg_str(cfg, "dmarc_mode"), "rfc7489") == 0 ?
	    DMARC_MODE_RFC7489 : DMARC_MODE_BIS;
	if (o.mode == DMARC_MODE_RFC7489) {
		const char *err;

		x->psl = psl_load(cfg_str(cfg, "public_suffix_list"), &err);
		if (x->psl == NULL) {
			fail(err_r, "public_suffix_list: %s", err);
			goto bad;
		}
		log_info("public suffix list: %zu rules from %s",
		    psl_rules(x->psl), cfg_str(cfg, "public_suffix_list"));
	}
	o.psl = x->psl;
	x->mode = o.mode;
	o.lookup = dmarc_dns_lookup;
	o.lookup_arg = &x->dd;
	x->dmarc = dmarc_new(&o);
	if (x->spf_self &&
	    (x->spf = spf_engine_new_with(cfg, x->resolver, err_r)) == NULL)
		goto bad;
	return x;
bad:
	{
		static __thread char msg[ERR_MAX];

		snprintf(msg, sizeof(msg), "%s", *err_r);
		*err_r = msg;
	}
	dmarcd_ctx_free(&x);
	return NULL;
}

/* dmarcd_ctx_free - free *xp */
void dmarcd_ctx_free(struct dmarcd_ctx **xp)
{
	struct dmarcd_ctx *x = *xp;

	if (x == NULL)
		return;
	*xp = NULL;
	if (x->spf)
		spf_engine_free(&x->spf);
	dmarc_free(&x->dmarc);
	psl_free(&x->psl);
	if (x->resolver)
		dns_resolver_free(&x->resolver);
	cidrlist_free(&x->ignore_hosts);
	cidrlist_free(&x->override_hosts);
	milter_domains_free(&x->override_domains);
	milter_domains_free(&x->ignore_domains);
	for (size_t i = 0; i < x->ntrusted; i++)
		free(x->trusted[i]);
	free(x->trusted);
	free(x->authserv_id);
	free(x->ruf_from);
	free(x->ruf_org_domain);
	cfg_unref(&x->cfg);
	free(x);
}

/* dmarcd_trusted - is id one of trusted_authserv_ids? */
int dmarcd_trusted(const struct dmarcd_ctx *x, const char *id)
{
	for (size_t i = 0; i < x->ntrusted; i++)
		if (strcasecmp(x->trusted[i], id) == 0)
			return 1;
	return 0;
}
