/*
 * dmarc-engine-bench.c - CPU per message of the DMARC engine alone
 * (common/dmarc.c: dmarc_evaluate), without the milter protocol, with
 * warm DNS: the real shared resolver (common/dns.c, its TTL cache on)
 * pointed at a test DNS server; the first evaluation of each case fills
 * the cache, as the daemon's first messages do.
 *
 * Usage: dmarc-engine-bench -s ADDR[:PORT] [-n COUNT] [-P PSL_FILE]
 * Cases (the zone bench/dmarc-bench.sh serves; see bench/README.md):
 *   pass     From pass.example, aligned DKIM and SPF pass, p=reject
 *   fail     From fail.example (p=reject), DKIM and SPF pass for
 *            esp.example only: not aligned
 *   relaxed  From mail.relaxed.example (no record of its own), DKIM
 *            d=relaxed.example and SPF bounce.relaxed.example: relaxed
 *            alignment, the record at _dmarc.relaxed.example
 * each in mode bis (RFC 9989 tree walk) and rfc7489 (organizational
 * domain from the Public Suffix List).  Prints per case evaluations/s on
 * one thread, microseconds of CPU (user + system, getrusage) per
 * evaluation, and DNS lookups per evaluation; then the same with the
 * answers served from a table in memory ("no resolver"), which splits
 * the engine's own cost from the resolver's cache lookups.
 *
 * Trust: the DNS server is the operator's test server.  Errors: exits 1
 * when a case does not give its expected result (wrong zone, server
 * down), 2 on bad options.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "dmarc.h"
#include "dns.h"
#include "dnsmsg.h"
#include "psl.h"

#define CANNED_MAX 64		/* distinct (name, type) answers kept */
#define NAME_MAX_LEN 260

/* one case: the facts of a message and the result it must give */
struct bcase {
	const char *label;
	const char *from;
	const char *spf_domain;
	const char *dkim_domain;
	enum dmarc_result want;
	enum dmarc_policy want_dis;
};

static const struct bcase cases[] = {
	{ "pass", "pass.example", "pass.example", "pass.example",
	  DMARC_PASS, DMARC_P_NONE },
	{ "fail", "fail.example", "esp.example", "esp.example",
	  DMARC_FAIL, DMARC_P_REJECT },
	{ "relaxed", "mail.relaxed.example", "bounce.relaxed.example",
	  "relaxed.example", DMARC_PASS, DMARC_P_NONE },
};

/* the resolver, counting lookups; and answers copied for canned mode */
struct counting {
	struct dmarc_dns dd;
	unsigned long lookups;
	int record;			/* keep answers in the table */
	size_t ncanned;
	struct {
		char name[NAME_MAX_LEN];
		uint16_t type;
		struct dns_answer *a;
	} canned[CANNED_MAX];
};

/* counted_lookup - dmarc_dns_lookup, counted (and recorded while
 * warming up) */
static struct dns_answer *counted_lookup(void *arg, const char *name,
    uint16_t type)
{
	struct counting *c = arg;
	struct dns_answer *a = dmarc_dns_lookup(&c->dd, name, type);

	c->lookups++;
	if (c->record && c->ncanned < CANNED_MAX) {
		for (size_t i = 0; i < c->ncanned; i++)
			if (c->canned[i].type == type &&
			    strcmp(c->canned[i].name, name) == 0)
				return a;
		snprintf(c->canned[c->ncanned].name, NAME_MAX_LEN, "%s",
		    name);
		c->canned[c->ncanned].type = type;
		c->canned[c->ncanned++].a = dns_answer_ref(a);
	}
	return a;
}

/* canned_lookup - the answers recorded, no resolver at all */
static struct dns_answer *canned_lookup(void *arg, const char *name,
    uint16_t type)
{
	struct counting *c = arg;

	c->lookups++;
	for (size_t i = 0; i < c->ncanned; i++)
		if (c->canned[i].type == type &&
		    strcmp(c->canned[i].name, name) == 0)
			return dns_answer_ref(c->canned[i].a);
	return dns_answer_new(DNS_SERVFAIL);
}

/* cpu_us - user + system CPU so far */
static double cpu_us(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
	    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

/* wall_us - monotonic clock */
static double wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* sample_none - pct= sampling that never lowers the policy */
static unsigned sample_none(void *arg)
{
	(void)arg;
	return 0;
}

/* auth_of - the SPF and DKIM facts of a case */
static void auth_of(const struct bcase *k, struct dmarc_auth *a)
{
	memset(a, 0, sizeof(*a));
	a->spf_domain = k->spf_domain;
	a->spf = SPF_PASS;
	a->ndkim = 1;
	a->dkim[0].domain = k->dkim_domain;
	a->dkim[0].selector = "sel";
	a->dkim[0].result = DKIM_RES_PASS;
}

/* check - the result a case must give; exits 1 otherwise */
static void check(const char *mode, const struct bcase *k,
    const struct dmarc_eval *ev)
{
	if (ev->result == k->want && (ev->result != DMARC_FAIL ||
	    ev->disposition == k->want_dis))
		return;
	fprintf(stderr, "dmarc-engine-bench: %s %s: dmarc=%s dis=%s (%s), "
	    "expected dmarc=%s: is the test zone served?\n", mode, k->label,
	    dmarc_result_name(ev->result),
	    dmarc_policy_name(ev->disposition), ev->why ? ev->why : "",
	    dmarc_result_name(k->want));
	exit(1);
}

/* run - COUNT evaluations of one case; prints one line */
static void run(const char *mode, const char *how, struct dmarc *d,
    struct counting *c, const struct bcase *k, int count)
{
	struct dmarc_auth a;
	struct dmarc_eval *ev = malloc(sizeof(*ev));
	double c0, w0, c1, w1;
	unsigned long l0;

	if (ev == NULL) {
		perror("malloc");
		exit(1);
	}
	auth_of(k, &a);
	/* the first evaluation warms the cache (and fills the table) */
	c->record = 1;
	dmarc_evaluate(d, k->from, &a, ev);
	check(mode, k, ev);
	c->record = 0;
	l0 = c->lookups;
	c0 = cpu_us();
	w0 = wall_us();
	for (int i = 0; i < count; i++)
		dmarc_evaluate(d, k->from, &a, ev);
	c1 = cpu_us();
	w1 = wall_us();
	check(mode, k, ev);
	printf("%-8s %-12s %-8s %10.0f evals/s %8.2f us CPU/eval "
	    "%5.2f lookups/eval  dmarc=%s\n", mode, how, k->label,
	    count / ((w1 - w0) / 1e6), (c1 - c0) / count,
	    (double)(c->lookups - l0) / count, dmarc_result_name(ev->result));
	free(ev);
}

/* usage - options, exit 2 */
static void usage(void)
{
	fprintf(stderr, "usage: dmarc-engine-bench -s ADDR[:PORT] [-n COUNT] "
	    "[-P PSL_FILE]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *server = NULL;
	const char *psl_path = "/usr/share/publicsuffix/public_suffix_list.dat";
	struct dns_config dc;
	struct dns_resolver *r;
	struct psl *psl;
	const char *err;
	struct counting *cnt;
	int count = 200000, ch;

	while ((ch = getopt(argc, argv, "s:n:P:")) != -1) {
		switch (ch) {
		case 's':
			server = optarg;
			break;
		case 'n':
			count = atoi(optarg);
			if (count < 1)
				usage();
			break;
		case 'P':
			psl_path = optarg;
			break;
		default:
			usage();
		}
	}
	if (server == NULL || optind != argc)
		usage();
	/* the daemon's defaults (common/dnscfg.h) */
	memset(&dc, 0, sizeof(dc));
	dc.servers = &server;
	dc.nservers = 1;
	dc.timeout_ms = 5000;
	dc.tries = 2;
	dc.cache_size = 100000;
	dc.cache_bytes = (size_t)64 << 20;
	dc.cache_max_ttl = 86400;
	dc.cache_neg_ttl = 300;
	if ((r = dns_resolver_new(&dc, &err)) == NULL) {
		fprintf(stderr, "dmarc-engine-bench: resolver: %s\n", err);
		return 1;
	}
	if ((psl = psl_load(psl_path, &err)) == NULL) {
		fprintf(stderr, "dmarc-engine-bench: %s\n", err);
		return 1;
	}
	printf("dmarc-engine-bench: %d evaluations per case, DNS %s "
	    "(cache warm), PSL %s (%zu rules)\n", count, server, psl_path,
	    psl_rules(psl));
	for (int m = 0; m < 2; m++) {
		struct dmarc_opts o;
		struct dmarc *d, *dc2;
		const char *mode = m ? "rfc7489" : "bis";

		cnt = calloc(1, sizeof(*cnt));
		if (cnt == NULL) {
			perror("calloc");
			return 1;
		}
		cnt->dd.resolver = r;
		cnt->dd.budget_ms = 5000;
		memset(&o, 0, sizeof(o));
		o.mode = m ? DMARC_MODE_RFC7489 : DMARC_MODE_BIS;
		o.psl = psl;
		o.lookup = counted_lookup;
		o.lookup_arg = cnt;
		o.sample = sample_none;
		d = dmarc_new(&o);
		for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++)
			run(mode, "resolver", d, cnt, &cases[i], count);
		o.lookup = canned_lookup;
		dc2 = dmarc_new(&o);
		for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++)
			run(mode, "no-resolver", dc2, cnt, &cases[i], count);
		dmarc_free(&d);
		dmarc_free(&dc2);
		for (size_t i = 0; i < cnt->ncanned; i++)
			dns_answer_unref(&cnt->canned[i].a);
		free(cnt);
	}
	psl_free(&psl);
	dns_resolver_free(&r);
	return 0;
}
