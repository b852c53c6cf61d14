/*
 * spfengine.c - engine choice and configuration; see spfengine.h.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dnscfg.h"
#include "log.h"
#include "spfengine.h"
#include "xalloc.h"

#define HOSTNAME_MAX 256

struct spf_engine {
	struct dns_resolver *resolver;
	int native;
	struct spf_limits lim;
	unsigned budget_ms;
	char *receiver;
	char *default_exp;
};

/* spf_engine_new - resolver, limits and engine choice from the config */
struct spf_engine *spf_engine_new(const struct cfg *cfg, const char **err_r)
{
	return spf_engine_new_with(cfg, NULL, err_r);
}

/* spf_engine_new_with - the same, sharing an existing resolver (and its
 * cache) when r is not NULL */
struct spf_engine *spf_engine_new_with(const struct cfg *cfg,
    struct dns_resolver *r, const char **err_r)
{
	struct spf_engine *e = xcalloc(1, sizeof(*e));
	const char *recv = cfg_str(cfg, "spf_receiver");
	const char *dexp = cfg_str(cfg, "spf_default_explanation");

	if (*dexp && spf_explain_syntax(dexp, strlen(dexp)) < 0) {
		*err_r = "spf_default_explanation: invalid macro syntax";
		free(e);
		return NULL;
	}
	if (r)
		e->resolver = dns_resolver_ref(r);
	else if ((e->resolver = dnscfg_resolver_new(cfg, err_r)) == NULL) {
		free(e);
		return NULL;
	}
	e->native = strcmp(cfg_str(cfg, "spf_engine"), "native") == 0;
	spf_limits_default(&e->lim);
	e->lim.dns_terms = (unsigned)cfg_int(cfg, "spf_max_dns_lookups");
	e->lim.void_lookups = (unsigned)cfg_int(cfg, "spf_max_void_lookups");
	e->budget_ms = (unsigned)cfg_int(cfg, "spf_time_limit");
	if (*recv) {
		e->receiver = xstrdup(recv);
	} else {
		char host[HOSTNAME_MAX];

		if (gethostname(host, sizeof(host)) < 0)
			snprintf(host, sizeof(host), "unknown");
		host[sizeof(host) - 1] = '\0';
		e->receiver = xstrdup(host);
	}
	e->default_exp = *dexp ? xstrdup(dexp) : NULL;
	return e;
}

/* spf_engine_free - release; *ep = NULL */
void spf_engine_free(struct spf_engine **ep)
{
	struct spf_engine *e = *ep;

	*ep = NULL;
	if (e == NULL)
		return;
	dns_resolver_free(&e->resolver);
	free(e->receiver);
	free(e->default_exp);
	free(e);
}

struct dns_resolver *spf_engine_resolver(struct spf_engine *e)
{
	return e->resolver;
}

int spf_engine_is_native(const struct spf_engine *e)
{
	return e->native;
}

const struct spf_limits *spf_engine_limits(const struct spf_engine *e)
{
	return &e->lim;
}

unsigned spf_engine_budget_ms(const struct spf_engine *e)
{
	return e->budget_ms;
}

const char *spf_engine_receiver(const struct spf_engine *e)
{
	return e->receiver;
}

/* spf_identity_domain - the domain checked: the sender's, or the HELO
 * name for the null sender (RFC 7208 2.4); points into the arguments */
const char *spf_identity_domain(const char *sender, const char *helo)
{
	const char *at;

	if (sender && *sender) {
		at = strrchr(sender, '@');
		return at ? at + 1 : sender;
	}
	return helo ? helo : "";
}

/* spf_engine_request - fill req from peer strings (pointers into them) */
int spf_engine_request(const struct spf_engine *e, const char *ip,
    const char *sender, const char *helo, struct spf_request *req,
    const char **err_r)
{
	memset(req, 0, sizeof(*req));
	if (ip_parse(ip, &req->ip) < 0) {
		*err_r = "invalid client address";
		return -1;
	}
	ip_unmap(&req->ip);
	req->ip_upper = strpbrk(ip, "ABCDEF") != NULL;
	req->sender = sender ? sender : "";
	req->helo = helo ? helo : "";
	req->domain = spf_identity_domain(req->sender, req->helo);
	req->receiver = e->receiver;
	req->default_exp = e->default_exp;
	return 0;
}

/* spf_outcome_from_check - copy a finished check's findings */
void spf_outcome_from_check(const struct spf_check *c,
    struct spf_outcome *out)
{
	const char *s;

	memset(out, 0, sizeof(*out));
	out->result = spf_check_result(c);
	if ((s = spf_check_explanation(c)) != NULL)
		out->explanation = xstrdup(s);
	if ((s = spf_check_problem(c)) != NULL)
		out->problem = xstrdup(s);
	if ((s = spf_check_mechanism(c)) != NULL)
		out->mechanism = xstrdup(s);
}

/* spf_outcome_copy - deep copy of src into an empty dst */
void spf_outcome_copy(struct spf_outcome *dst, const struct spf_outcome *src)
{
	dst->result = src->result;
	dst->explanation = src->explanation ? xstrdup(src->explanation) :
	    NULL;
	dst->problem = src->problem ? xstrdup(src->problem) : NULL;
	dst->mechanism = src->mechanism ? xstrdup(src->mechanism) : NULL;
}

/* spf_outcome_clear - free the strings */
void spf_outcome_clear(struct spf_outcome *o)
{
	XFREE(&o->explanation);
	XFREE(&o->problem);
	XFREE(&o->mechanism);
}

/* spf_engine_check - one blocking check with the configured engine */
int spf_engine_check(struct spf_engine *e, const char *ip,
    const char *sender, const char *helo, struct spf_outcome *out,
    const char **err_r)
{
	struct spf_request req;
	struct spf_check *c;

	if (spf_engine_request(e, ip, sender, helo, &req, err_r) < 0)
		return -1;
	if (!e->native) {
		spf_engine_libspf2_check(e, &req, out);
		return 0;
	}
	c = spf_check_new(&req, &e->lim);
	spf_check_sync(c, e->resolver, e->budget_ms);
	spf_outcome_from_check(c, out);
	spf_check_free(&c);
	return 0;
}
