/*
 * spfengine.h - the SPF engine as daemons and tools use it: choice of
 *               evaluator (postern's own, or libspf2), configuration,
 *               and the request built from SMTP facts.
 *
 * Public: SPF_ENGINE_CFG_DEFS, spf_engine_new, spf_engine_free,
 *         spf_engine_request, spf_engine_check, spf_engine_resolver,
 *         spf_engine_is_native, spf_engine_limits, spf_engine_budget_ms,
 *         spf_engine_libspf2_check, spf_outcome_clear, spf_identity_domain.
 * Trust: IP/HELO/sender are peer data (validated here); DNS data is
 *        hostile (see spf.h, and spf_libspf2.c for how libspf2 is fenced).
 * Errors: spf_engine_new: NULL + *err_r.  spf_engine_check: -1 + *err_r
 *         only for a request that cannot be checked at all (bad IP).
 */
#ifndef POSTERN_SPFENGINE_H
#define POSTERN_SPFENGINE_H

#include "cfg.h"
#include "dns.h"
#include "spf.h"

#define SPF_ENGINE_CFG_DEFS \
	{ "spf_engine", NULL, CFG_ENUM, "native", 0, 0, "native|libspf2", \
	  "SPF evaluator: postern's own (RFC 7208) or libspf2" }, \
	{ "spf_receiver", NULL, CFG_STR, NULL, 0, 0, NULL, \
	  "our host name for %{r} and receiver= (default: the host name)" }, \
	{ "spf_default_explanation", NULL, CFG_STR, \
	  "%{o} does not designate %{i} as permitted sender", 0, 0, NULL, \
	  "explanation for a fail when the domain gives none (macros ok)" }, \
	{ "spf_time_limit", "Lookup_Time", CFG_TIME, "20s", 100, 300000, \
	  NULL, "time budget of one SPF check, all lookups included" }, \
	{ "spf_max_dns_lookups", NULL, CFG_INT, "10", 1, 100, NULL, \
	  "DNS-querying terms per check (RFC 7208: 10)" }, \
	{ "spf_max_void_lookups", "Void_Limit", CFG_INT, "2", 0, 100, NULL, \
	  "void lookups per check (RFC 7208: 2)" }

struct spf_outcome {
	enum spf_result result;
	char *explanation;	/* fail only, or NULL */
	char *problem;		/* temperror/permerror detail, or NULL */
	char *mechanism;	/* matching term, or NULL */
};

struct spf_engine;

struct spf_engine *spf_engine_new(const struct cfg *cfg, const char **err_r);
struct spf_engine *spf_engine_new_with(const struct cfg *cfg,
    struct dns_resolver *r, const char **err_r);
void spf_engine_free(struct spf_engine **ep);

struct dns_resolver *spf_engine_resolver(struct spf_engine *e);
int spf_engine_is_native(const struct spf_engine *e);
const struct spf_limits *spf_engine_limits(const struct spf_engine *e);
unsigned spf_engine_budget_ms(const struct spf_engine *e);
const char *spf_engine_receiver(const struct spf_engine *e);

int spf_engine_request(const struct spf_engine *e, const char *ip,
    const char *sender, const char *helo, struct spf_request *req,
    const char **err_r);
int spf_engine_check(struct spf_engine *e, const char *ip,
    const char *sender, const char *helo, struct spf_outcome *out,
    const char **err_r);
void spf_engine_libspf2_check(struct spf_engine *e,
    const struct spf_request *req, struct spf_outcome *out);
void spf_outcome_from_check(const struct spf_check *c,
    struct spf_outcome *out);
void spf_outcome_copy(struct spf_outcome *dst,
    const struct spf_outcome *src);
void spf_outcome_clear(struct spf_outcome *o);

const char *spf_identity_domain(const char *sender, const char *helo);

#endif
