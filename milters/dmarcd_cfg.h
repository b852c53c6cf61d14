/*
 * dmarcd_cfg.h - postern-dmarc's configuration table and the context one
 *                config snapshot builds (DMARC engine, PSL, resolver,
 *                SPF engine, lists), shared read-only by all threads.
 *
 * Public: dmarcd_defs, dmarcd_check, dmarcd_ctx_new, dmarcd_ctx_free,
 *         struct dmarcd_ctx, DMARCD_RESTART_KEYS.
 * Trust: the config file and the list files are the admin's.
 * Errors: dmarcd_ctx_new returns NULL with *err_r naming the key.
 */
#ifndef POSTERN_DMARCD_CFG_H
#define POSTERN_DMARCD_CFG_H

#include "cfg.h"
#include "dmarc.h"
#include "dns.h"
#include "inet.h"
#include "mailsend.h"
#include "milter.h"

#define DMARCD_TRUSTED_MAX 32	/* trusted_authserv_ids */

/* the aggregate-report store (postern-dmarc-report reads the same keys) */
#define DMARC_STORE_CFG_DEFS \
	{ "store", NULL, CFG_STR, "/var/lib/postern/dmarc", 0, 0, NULL, \
	  "aggregate-report counters: a directory (embedded store) or " \
	  "redis://HOST:PORT[/DB], redis+unix:, redis+sentinel:, " \
	  "redis+cluster: (shared by a fleet)" }, \
	{ "store_max_entries", NULL, CFG_INT, "2000000", 1000, 1000000000, \
	  NULL, "embedded store size bound" }, \
	{ "store_timeout", NULL, CFG_TIME, "5s", 10, 600000, NULL, \
	  "Redis: longest wait for one operation" }, \
	{ "store_connect_timeout", NULL, CFG_TIME, "1s", 10, 60000, NULL, \
	  "Redis: longest wait for a connection" }, \
	{ "store_prefix", NULL, CFG_STR, "pd:", 0, 0, NULL, \
	  "Redis: prefix of every key" }

enum dmarcd_quarantine { DMARCD_Q_HOLD, DMARCD_Q_HEADER, DMARCD_Q_NONE };

struct psl;
struct spf_engine;

struct dmarcd_ctx {
	struct cfg *cfg;		/* referenced */
	char *authserv_id;
	char **trusted;			/* authserv-ids whose results count */
	size_t ntrusted;
	int spf_self, dkim_self;	/* validate in-process */
	int reject_failures;
	enum dmarcd_quarantine quarantine;
	const char *quarantine_header;
	int reject_no_from, reject_multi_from;
	int tempfail_on_temperror;
	int test_mode;
	int ignore_auth;
	struct cidrlist ignore_hosts;
	struct cidrlist override_hosts;
	struct milter_domains override_domains;
	struct milter_domains ignore_domains;
	int aggregate;			/* count for aggregate reports */
	int failure_reports;		/* ruf */
	struct mailsend ruf_transport;	/* report_transport */
	char *ruf_from;			/* report_email */
	char *ruf_org_domain;		/* report_org_domain */
	const char *ruf_org_name;	/* report_org_name */
	const char *ruf_bcc;		/* failure_reports_bcc */
	char host[256];			/* our host name */
	struct dns_resolver *resolver;
	unsigned dns_budget_ms;
	struct dmarc_dns dd;
	enum dmarc_mode mode;
	struct psl *psl;		/* rfc7489 mode */
	struct dmarc *dmarc;
	struct spf_engine *spf;		/* spf_self */
	int max_signatures, min_key_bits;
};

extern const struct cfg_def dmarcd_defs[];

#define DMARCD_RESTART_KEYS "store", "store_prefix", "store_timeout", \
	"store_connect_timeout", "store_max_entries", "aggregate_reports", \
	"aggregate_max_rows", "aggregate_flush_interval", \
	"failure_reports_per_domain", "failure_reports_per_hour", \
	"failure_reports_max_domains"

int dmarcd_check(const struct cfg *cfg, const char **err_r);
struct dmarcd_ctx *dmarcd_ctx_new(const struct cfg *cfg,
    const struct dmarcd_ctx *prev, const char **err_r);
void dmarcd_ctx_free(struct dmarcd_ctx **xp);
/* dmarcd_trusted - is id one of trusted_authserv_ids? */
int dmarcd_trusted(const struct dmarcd_ctx *x, const char *id);

#endif
