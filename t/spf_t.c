/*
 * spf_t.c - unit tests of the native SPF engine (common/spf.c) with DNS
 * answers from a table: parallel questions, the RFC 7208 4.6.4 limits,
 * the time budget, record syntax and result names.  The conformance
 * suites (t/spf-suite.t) cover the rest of the RFC.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spf.h"
#include "tap.h"
#include "xalloc.h"

struct zrec {
	const char *name;
	uint16_t type;
	const char *data;	/* TXT text, address, or MX/PTR target */
};

static const struct zrec *zone;
static size_t zone_n;

/* answer - the zone's answer for one question */
static struct dns_answer *answer(const char *name, uint16_t type)
{
	struct dns_answer *a = dns_answer_new(DNS_NXDOMAIN);
	int exists = 0;

	for (size_t i = 0; i < zone_n; i++) {
		struct dns_rr *rr;

		if (!dns_name_equal(zone[i].name, name))
			continue;
		exists = 1;
		if (zone[i].type != type)
			continue;
		a->rr = xrealloc(a->rr, (a->n + 1) * sizeof(*a->rr));
		rr = &a->rr[a->n++];
		memset(rr, 0, sizeof(*rr));
		rr->type = type;
		if (type == DNS_T_TXT) {
			rr->txt = xstrdup(zone[i].data);
			rr->txt_len = strlen(rr->txt);
			rr->txt_count = 1;
		} else if (type == DNS_T_A || type == DNS_T_AAAA) {
			ip_parse(zone[i].data, &rr->addr);
		} else {
			rr->name = xstrdup(zone[i].data);
		}
	}
	a->status = a->n ? DNS_OK : exists ? DNS_NODATA : DNS_NXDOMAIN;
	return a;
}

/* run - evaluate; *max_q_r gets the most questions asked in one pass */
static enum spf_result run(const char *ip, const char *sender,
    size_t *max_q_r, const char **problem_r, int passes_before_abort)
{
	static char problem[256];
	struct spf_request req;
	struct spf_check *c;
	enum spf_result r;
	int passes = 0;

	memset(&req, 0, sizeof(req));
	ip_parse(ip, &req.ip);
	req.sender = sender;
	req.helo = "mx.example.net";
	req.domain = strrchr(sender, '@') + 1;
	c = spf_check_new(&req, NULL);
	if (max_q_r)
		*max_q_r = 0;
	while (spf_check_run(c) == SPF_RUN_NEED_DNS) {
		const struct dns_question *q;
		size_t n = spf_check_questions(c, &q);

		if (max_q_r && n > *max_q_r)
			*max_q_r = n;
		if (passes_before_abort && ++passes == passes_before_abort) {
			spf_check_abort(c, SPF_TEMPERROR, "budget");
			break;
		}
		for (size_t i = 0; i < n; i++) {
			struct dns_answer *a = answer(q[i].name, q[i].type);

			spf_check_answer(c, q[i].name, q[i].type, a);
			dns_answer_unref(&a);
		}
	}
	r = spf_check_result(c);
	snprintf(problem, sizeof(problem), "%s",
	    spf_check_problem(c) ? spf_check_problem(c) : "");
	if (problem_r)
		*problem_r = problem;
	spf_check_free(&c);
	return r;
}

#define ZONE(z) (zone = (z), zone_n = sizeof(z) / sizeof((z)[0]))

static const struct zrec mx_zone[] = {
	{ "example.com", DNS_T_TXT, "v=spf1 mx -all" },
	{ "example.com", DNS_T_MX, "mx1.example.com" },
	{ "example.com", DNS_T_MX, "mx2.example.com" },
	{ "example.com", DNS_T_MX, "mx3.example.com" },
	{ "mx1.example.com", DNS_T_A, "192.0.2.1" },
	{ "mx2.example.com", DNS_T_A, "192.0.2.2" },
	{ "mx3.example.com", DNS_T_A, "192.0.2.3" },
};

static const struct zrec loop_zone[] = {
	{ "a.example.com", DNS_T_TXT, "v=spf1 include:b.example.com -all" },
	{ "b.example.com", DNS_T_TXT, "v=spf1 include:a.example.com -all" },
};

static const struct zrec many_zone[] = {
	{ "example.com", DNS_T_TXT, "v=spf1 include:i1.example.com "
	  "include:i2.example.com include:i3.example.com "
	  "include:i4.example.com include:i5.example.com "
	  "include:i6.example.com include:i7.example.com "
	  "include:i8.example.com include:i9.example.com "
	  "include:i10.example.com include:i11.example.com -all" },
	{ "i1.example.com", DNS_T_TXT, "v=spf1 ?all" },
	{ "i2.example.com", DNS_T_TXT, "v=spf1 ?all" },
	{ "i3.example.com", DNS_T_TXT, "v=spf1 ?all" },
	{ "i4.example.com", DNS_T_TXT, "v=spf1 ?all" },
	{ "i5.example.com", DNS_T_TXT, "v=spf1 ?all" },
	{ "i6.example.com", DNS_T_TXT, "v=spf1 ?all" },
	{ "i7.example.com", DNS_T_TXT, "v=spf1 ?all" },
	{ "i8.example.com", DNS_T_TXT, "v=spf1 ?all" },
	{ "i9.example.com", DNS_T_TXT, "v=spf1 ?all" },
	{ "i10.example.com", DNS_T_TXT, "v=spf1 ip4:192.0.2.10 ?all" },
	{ "i11.example.com", DNS_T_TXT, "v=spf1 ip4:192.0.2.11 ?all" },
};

static const struct zrec void_zone[] = {
	{ "example.com", DNS_T_TXT, "v=spf1 a:n1.example.com "
	  "a:n2.example.com a:n3.example.com ip4:192.0.2.9 -all" },
};

static const struct zrec exp_zone[] = {
	{ "example.com", DNS_T_TXT, "v=spf1 -all exp=why.example.com" },
	{ "why.example.com", DNS_T_TXT, "%{i} is not allowed for %{d}" },
};

int main(void)
{
	size_t maxq;
	const char *problem, *err;

	ZONE(mx_zone);
	is_int(run("192.0.2.3", "a@example.com", &maxq, NULL, 0), SPF_PASS,
	    "mx: third exchange matches");
	is_int(maxq, 3, "mx: the three address lookups are asked together");
	is_int(run("192.0.2.99", "a@example.com", NULL, NULL, 0), SPF_FAIL,
	    "mx: no exchange matches");
	is_int(run("192.0.2.3", "a@example.com", NULL, NULL, 1),
	    SPF_TEMPERROR, "abort (time budget) gives temperror");

	ZONE(loop_zone);
	is_int(run("192.0.2.1", "a@a.example.com", NULL, &problem, 0),
	    SPF_PERMERROR, "include loop ends in permerror");
	ok(strstr(problem, "DNS lookups") != NULL, "loop stopped by the "
	    "lookup limit: %s", problem);

	ZONE(many_zone);
	is_int(run("192.0.2.10", "a@example.com", NULL, NULL, 0), SPF_PASS,
	    "10th include is within the limit");
	is_int(run("192.0.2.11", "a@example.com", NULL, &problem, 0),
	    SPF_PERMERROR, "11th include crosses the limit");
	ok(strstr(problem, "more than 10") != NULL, "problem: %s", problem);

	ZONE(void_zone);
	is_int(run("192.0.2.9", "a@example.com", NULL, &problem, 0),
	    SPF_PERMERROR, "third void lookup crosses the limit");
	ok(strstr(problem, "void") != NULL, "problem: %s", problem);

	ZONE(exp_zone);
	{
		struct spf_request req;
		struct spf_check *c;

		memset(&req, 0, sizeof(req));
		ip_parse("192.0.2.7", &req.ip);
		req.sender = "a@example.com";
		req.helo = "h";
		req.domain = "example.com";
		c = spf_check_new(&req, NULL);
		while (spf_check_run(c) == SPF_RUN_NEED_DNS) {
			const struct dns_question *q;
			size_t n = spf_check_questions(c, &q);

			for (size_t i = 0; i < n; i++) {
				struct dns_answer *a = answer(q[i].name,
				    q[i].type);

				spf_check_answer(c, q[i].name, q[i].type, a);
				dns_answer_unref(&a);
			}
		}
		is_int(spf_check_result(c), SPF_FAIL, "exp: fail");
		is_str(spf_check_explanation(c),
		    "192.0.2.7 is not allowed for example.com",
		    "exp: explanation expanded");
		is_str(spf_check_mechanism(c), "-all", "matching mechanism");
		spf_check_free(&c);
	}
	{
		struct spf_request req;
		struct spf_check *c;

		memset(&req, 0, sizeof(req));
		ip_parse("192.0.2.7", &req.ip);
		req.sender = "";
		req.helo = "mail.example.org";
		req.domain = "mail.example.org";
		req.record = "v=spf1 ip4:192.0.2.0/24 -all";
		c = spf_check_new(&req, NULL);
		is_int(spf_check_run(c), SPF_RUN_DONE,
		    "given record needs no DNS");
		is_int(spf_check_result(c), SPF_PASS, "given record used");
		spf_check_free(&c);
	}
	is_int(spf_record_syntax("v=spf1 -all", 11, &err), 0, "syntax ok");
	is_int(spf_record_syntax("v=spf1 ip4:1.2.3.4/33", 21, &err), -1,
	    "bad cidr refused");
	is_int(spf_record_syntax("v=spf1 a:%{x}.example.com", 25, &err), -1,
	    "bad macro letter refused");
	is_int(spf_record_syntax("v=spf1 a:foo.123", 16, &err), -1,
	    "numeric top label refused");
	is_int(spf_record_syntax("v=spf1 redirect=a.com redirect=b.com", 36,
	    &err), -1, "two redirects refused");
	is_int(spf_explain_syntax("%{i} not ok", 11), 0, "exp syntax ok");
	is_int(spf_explain_syntax("%{z}", 4), -1, "exp syntax bad");
	is_int(spf_domain_valid("example.com"), 1, "valid domain");
	is_int(spf_domain_valid("localhost"), 0, "single label invalid");
	is_int(spf_domain_valid("a..b"), 0, "empty label invalid");
	is_str(spf_result_name(SPF_SOFTFAIL), "softfail", "result name");
	is_str(spf_result_header_name(SPF_PERMERROR), "Permerror",
	    "header name");
	return done_testing();
}
