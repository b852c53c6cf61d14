/*
 * rbl_tool.c - run the DNS list engine (common/rbl.c) once or more from
 * the command line and print the result; used by t/rbl.t.
 *
 *   rbl_tool -s ADDR:PORT [-t MS] [-x] [-a] [-n N] [-r TEMPLATE]
 *            [-c SITE]... [-H SITE]... [-S SITE]... [-F SITE]...
 *            [-i IP] [-h HELO] [-m MAILFROM_DOMAIN] [-f FROM_DOMAIN]
 *
 * -c/-H/-S/-F add a site (postscreen_dnsbl_sites syntax) for the client
 * address, the HELO name, the MAIL FROM and the From: domain; -x fetches
 * TXT texts, -a runs on an event loop (rbl_check_start) instead of
 * rbl_check_sync, -n repeats the check (the resolver and its cache are
 * kept), -r expands a reply template over the last result.
 *
 * Output, per check: "check K: score=S queries=Q ms=T", "log:" and the
 * log fields, "txt ZONE: TEXT" per hit with a text; then "reply: ..."
 * and "dns: queries=N cache_hits=M".  Exit 0; 2 on a usage or site error.
 * Trust: the command line is the test's.
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "dns.h"
#include "rbl.h"

#define TOOL_SERVERS_MAX 4

static void usage(void)
{
	fprintf(stderr, "usage: rbl_tool -s ADDR:PORT [-t MS] [-x] [-a] "
	    "[-n N] [-r TEMPLATE] [-c|-H|-S|-F SITE]... [-i IP] [-h HELO] "
	    "[-m DOMAIN] [-f DOMAIN]\n");
	exit(2);
}

struct done {
	int called;
	struct rbl_result res;
	struct event_base *base;
};

/* on_done - keep the result of the asynchronous check */
static void on_done(void *arg, struct rbl_result *res)
{
	struct done *d = arg;

	d->called++;
	d->res = *res;
	memset(res, 0, sizeof(*res));
	/* lookups the check gave up on may still wait in the client */
	event_base_loopbreak(d->base);
}

int main(int argc, char **argv)
{
	const char *servers[TOOL_SERVERS_MAX], *err, *reply = NULL;
	size_t nservers = 0;
	unsigned timeout = 2000;
	int want_txt = 0, async = 0, repeat = 1, opt;
	struct {
		enum rbl_kind kind;
		const char *spec;
	} sites[RBL_SITES_MAX + 8];
	size_t nsites = 0;
	struct rbl_facts f;
	struct ipaddr ip;
	struct dns_config dc;
	struct dns_resolver *res;
	struct dns_stats st;
	struct rbl *r;
	struct rbl_result out;
	struct buf b;

	memset(&f, 0, sizeof(f));
	memset(&out, 0, sizeof(out));
	while ((opt = getopt(argc, argv, "s:t:xan:r:c:H:S:F:i:h:m:f:")) != -1) {
		enum rbl_kind k = RBL_CLIENT;

		switch (opt) {
		case 's':
			if (nservers == TOOL_SERVERS_MAX)
				usage();
			servers[nservers++] = optarg;
			break;
		case 't':
			timeout = (unsigned)atoi(optarg);
			break;
		case 'x':
			want_txt = 1;
			break;
		case 'a':
			async = 1;
			break;
		case 'n':
			repeat = atoi(optarg);
			break;
		case 'r':
			reply = optarg;
			break;
		case 'c': case 'H': case 'S': case 'F':
			k = opt == 'c' ? RBL_CLIENT : opt == 'H' ? RBL_HELO :
			    opt == 'S' ? RBL_SENDER : RBL_FROM;
			if (nsites == sizeof(sites) / sizeof(sites[0]))
				usage();
			sites[nsites].kind = k;
			sites[nsites++].spec = optarg;
			break;
		case 'i':
			if (ip_parse(optarg, &ip) < 0) {
				fprintf(stderr, "rbl_tool: bad address %s\n",
				    optarg);
				return 2;
			}
			f.ip = &ip;
			break;
		case 'h':
			f.helo = optarg;
			break;
		case 'm':
			f.sender_domain = optarg;
			break;
		case 'f':
			f.from_domain = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc || nservers == 0 || repeat < 1)
		usage();
	r = rbl_new(timeout, want_txt);
	for (size_t i = 0; i < nsites; i++)
		if (rbl_add_site(r, sites[i].kind, sites[i].spec, &err) < 0) {
			fprintf(stderr, "rbl_tool: %s\n", err);
			rbl_free(&r);
			return 2;
		}
	memset(&dc, 0, sizeof(dc));
	dc.servers = servers;
	dc.nservers = nservers;
	dc.timeout_ms = 5000;
	dc.tries = 2;
	dc.cache_size = 1000;
	dc.cache_bytes = 1 << 20;
	dc.cache_max_ttl = 3600;
	dc.cache_neg_ttl = 300;
	if ((res = dns_resolver_new(&dc, &err)) == NULL) {
		fprintf(stderr, "rbl_tool: %s\n", err);
		return 2;
	}
	buf_init(&b, 65536);
	for (int k = 1; k <= repeat; k++) {
		long long t0 = clock_ms();

		rbl_result_free(&out);
		if (async) {
			struct event_base *base = event_base_new();
			struct dns_client *c = dns_client_new(res, base, &err);
			struct done d;

			memset(&d, 0, sizeof(d));
			d.base = base;
			rbl_check_start(r, c, base, &f, on_done, &d);
			event_base_dispatch(base);
			if (d.called != 1)
				printf("callback called %d times\n", d.called);
			out = d.res;
			dns_client_free(&c);
			event_base_free(base);
		} else {
			rbl_check_sync(r, res, &f, &out);
		}
		printf("check %d: score=%d queries=%zu ms=%lld\n", k, out.score,
		    out.queries, clock_ms() - t0);
		buf_reset(&b);
		rbl_result_log(&out, &b);
		printf("log:%s\n", b.data);
		for (size_t h = 0; h < out.nhits; h++)
			if (out.hits[h].txt)
				printf("txt %s: %s\n", out.hits[h].zone,
				    out.hits[h].txt);
	}
	if (reply) {
		char ipstr[IP_STR_MAX] = "";

		if (f.ip)
			ip_format(f.ip, ipstr, sizeof(ipstr));
		buf_reset(&b);
		rbl_reply_expand(reply, &out, ipstr, f.helo, &b, 512);
		printf("reply: %s\n", b.data);
	}
	dns_stats_get(res, &st);
	printf("dns: queries=%llu cache_hits=%llu\n", st.queries,
	    st.cache_hits);
	rbl_result_free(&out);
	buf_free(&b);
	dns_resolver_free(&res);
	rbl_free(&r);
	return 0;
}
