/*
 * spf_libspf2.c - libspf2 as the second SPF engine, fenced in.
 *
 * Public: spf_engine_libspf2_check (declared in spfengine.h).
 * Trust: libspf2 1.2.10 parses hostile records and has known bugs
 *        (CVE-2023-42118 unfixed in Debian 12's build, abort() in
 *        SPF_error).  So it never talks to the network itself: every
 *        lookup goes through a custom SPF_dns_server_t layer onto our
 *        resolver (cache, servers, deadline), and every TXT answer is
 *        vetted first: a "v=spf1" record must pass the native engine's
 *        ABNF check and any other TXT string must be a valid
 *        explain-string, or libspf2 never sees it.  A record that fails
 *        the check makes the whole result permerror, as RFC 7208 says.
 * Errors: mapped onto the seven SPF results; libspf2's "(invalid)" with
 *         SPF_E_DNS_ERROR becomes temperror.
 *
 * libspf2's SPF_server_t is not shared between threads: one is made per
 * check (cheap next to the DNS work).
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <netinet/in.h>
#include <arpa/nameser.h>
#include <spf2/spf.h>
#include <spf2/spf_dns.h>

#include "clock.h"
#include "log.h"
#include "spfengine.h"
#include "xalloc.h"

struct layer_ctx {
	struct dns_resolver *resolver;
	long long deadline_ms;
	int vetted_bad;		/* a v=spf1 record failed our ABNF check */
	int dns_failed;		/* some lookup got SERVFAIL/timeout */
	char problem[256];
};

/* rr_add - append one datum to an SPF_dns_rr_t; -1 on failure */
static int rr_add(SPF_dns_rr_t *rr, const void *p, size_t len, int is_str)
{
	int idx = rr->num_rr;

	if (SPF_dns_rr_buf_realloc(rr, idx, len + (is_str ? 1 : 0)) !=
	    SPF_E_SUCCESS)
		return -1;
	memcpy(rr->rr[idx], p, len);
	if (is_str)
		((char *)rr->rr[idx])[len] = '\0';
	rr->num_rr++;
	return 0;
}

/* layer_lookup - libspf2 asks for (domain, type): answer from our DNS */
static SPF_dns_rr_t *layer_lookup(SPF_dns_server_t *srv, const char *domain,
    ns_type type, int should_cache)
{
	struct layer_ctx *ctx = srv->hook;
	struct dns_question q = { domain, (uint16_t)type };
	struct dns_answer *a = NULL;
	SPF_dns_rr_t *rr;
	SPF_dns_stat_t herrno;
	long long left = ctx->deadline_ms - clock_ms();

	(void)should_cache;
	/* the obsolete SPF (type 99) RR: answered locally, no data */
	if (type == ns_t_spf)
		return SPF_dns_rr_new_init(srv, domain, type, 0, NO_DATA);
	if (left <= 0) {
		ctx->dns_failed = 1;
		return SPF_dns_rr_new_init(srv, domain, type, 0, TRY_AGAIN);
	}
	dns_resolve_sync(ctx->resolver, &q, 1, &a, (unsigned)left);
	switch (a->status) {
	case DNS_OK: herrno = NETDB_SUCCESS; break;
	case DNS_NXDOMAIN: herrno = HOST_NOT_FOUND; break;
	case DNS_NODATA: herrno = NO_DATA; break;
	default:
		herrno = TRY_AGAIN;
		ctx->dns_failed = 1;
		break;
	}
	rr = SPF_dns_rr_new_init(srv, domain, type, (int)a->ttl, herrno);
	if (rr == NULL) {
		dns_answer_unref(&a);
		return NULL;
	}
	for (size_t i = 0; i < a->n && herrno == NETDB_SUCCESS; i++) {
		const struct dns_rr *r = &a->rr[i];
		const char *err;
		int rc = 0;

		switch (type) {
		case ns_t_a:
			rc = rr_add(rr, r->addr.a, sizeof(struct in_addr), 0);
			break;
		case ns_t_aaaa:
			rc = rr_add(rr, r->addr.a, sizeof(struct in6_addr), 0);
			break;
		case ns_t_mx:
		case ns_t_ptr:
			rc = rr_add(rr, r->name, strlen(r->name), 1);
			break;
		case ns_t_txt:
			if (r->txt_len >= 6 &&
			    strncasecmp(r->txt, "v=spf1", 6) == 0 &&
			    (r->txt_len == 6 || r->txt[6] == ' ')) {
				if (spf_record_syntax(r->txt, r->txt_len,
				    &err) < 0) {
					if (!ctx->vetted_bad)
						snprintf(ctx->problem,
						    sizeof(ctx->problem),
						    "%s: %s", domain, err);
					ctx->vetted_bad = 1;
					continue;
				}
			} else if (spf_explain_syntax(r->txt,
			    r->txt_len) < 0) {
				continue;
			}
			rc = rr_add(rr, r->txt, r->txt_len, 1);
			break;
		default:
			break;
		}
		if (rc < 0)
			break;
	}
	if (herrno == NETDB_SUCCESS && rr->num_rr == 0)
		rr->herrno = NO_DATA;
	dns_answer_unref(&a);
	return rr;
}


/* map_result - libspf2 result to ours */
static enum spf_result map_result(SPF_result_t r, SPF_errcode_t err)
{
	switch (r) {
	case SPF_RESULT_NEUTRAL: return SPF_NEUTRAL;
	case SPF_RESULT_PASS: return SPF_PASS;
	case SPF_RESULT_FAIL: return SPF_FAIL;
	case SPF_RESULT_SOFTFAIL: return SPF_SOFTFAIL;
	case SPF_RESULT_NONE: return SPF_NONE;
	case SPF_RESULT_TEMPERROR: return SPF_TEMPERROR;
	case SPF_RESULT_PERMERROR: return SPF_PERMERROR;
	default:
		return err == SPF_E_DNS_ERROR ? SPF_TEMPERROR : SPF_PERMERROR;
	}
}

/* log_sink - libspf2's diagnostics, at debug level */
static void log_sink(const char *file, int line, const char *msg)
{
	(void)file;
	(void)line;
	log_debug("libspf2: %s", msg);
}

/* error_sink - libspf2 internal error: it aborts after this returns */
__attribute__((noreturn))
static void error_sink(const char *file, int line, const char *msg)
{
	log_panic("libspf2 internal error at %s:%d: %s", file ? file : "?",
	    line, msg ? msg : "");
}

/* spf_engine_libspf2_check - one blocking check through libspf2 */
void spf_engine_libspf2_check(struct spf_engine *e,
    const struct spf_request *req, struct spf_outcome *out)
{
	struct layer_ctx ctx;
	SPF_dns_server_t *layer;
	SPF_server_t *srv;
	SPF_request_t *sr;
	SPF_response_t *resp = NULL;
	char ip[IP_STR_MAX], *sender = NULL;
	SPF_errcode_t rc;
	const char *s;

	memset(out, 0, sizeof(*out));
	SPF_error_handler = error_sink;
	SPF_warning_handler = log_sink;
	SPF_info_handler = log_sink;
	SPF_debug_handler = log_sink;
	memset(&ctx, 0, sizeof(ctx));
	ctx.resolver = spf_engine_resolver(e);
	ctx.deadline_ms = clock_ms() + spf_engine_budget_ms(e);
	if (!spf_domain_valid(req->domain)) {
		out->result = SPF_NONE;	/* RFC 7208 4.3, as the native one */
		return;
	}
	layer = xcalloc(1, sizeof(*layer));
	/* destroy = NULL: a resolver SPF_server_new_dns() does not own;
	 * we free it after SPF_server_free() */
	layer->destroy = NULL;
	layer->lookup = layer_lookup;
	layer->name = "postern";
	layer->hook = &ctx;
	srv = SPF_server_new_dns(layer, 0);
	SPF_server_set_rec_dom(srv, req->receiver);
	if (req->default_exp)
		SPF_server_set_explanation(srv, req->default_exp, &resp);
	if (resp) {
		SPF_response_free(resp);
		resp = NULL;
	}
	sr = SPF_request_new(srv);
	ip_format(&req->ip, ip, sizeof(ip));
	if (req->ip.family == AF_INET)
		SPF_request_set_ipv4_str(sr, ip);
	else
		SPF_request_set_ipv6_str(sr, ip);
	SPF_request_set_helo_dom(sr, req->helo);
	if (*req->sender) {
		sender = xstrdup(req->sender);
	} else {
		size_t n = strlen(req->helo) + 12;

		sender = xmalloc(n);
		snprintf(sender, n, "postmaster@%s", req->helo);
	}
	if (SPF_request_set_env_from(sr, sender) != 0) {
		out->result = SPF_NONE;
	} else {
		rc = SPF_request_query_mailfrom(sr, &resp);
		out->result = map_result(SPF_response_result(resp), rc);
		if (out->result == SPF_FAIL &&
		    (s = SPF_response_get_explanation(resp)) != NULL)
			out->explanation = xstrdup(s);
		if (rc != SPF_E_SUCCESS)
			out->problem = xstrdup(SPF_strerror(rc));
	}
	if (ctx.vetted_bad) {
		out->result = SPF_PERMERROR;
		XFREE(&out->explanation);
		XFREE(&out->problem);
		out->problem = xstrdup(ctx.problem);
	}
	if (resp)
		SPF_response_free(resp);
	SPF_request_free(sr);
	SPF_server_free(srv);
	free(layer);
	free(sender);
}
