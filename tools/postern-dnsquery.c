/*
 * postern-dnsquery - look a name up through postern's own resolver, as
 * the daemons see it: status (ok, nxdomain, nodata, servfail, timeout,
 * error), TTL and records, and the cache at work.
 *
 * Usage: postern-dnsquery [-c FILE] [-o key=value]... [-r N] NAME [TYPE]
 *   TYPE  A (default), AAAA, MX, TXT, PTR, CNAME, SPF
 *   -r N  look up N times (the later ones from the cache) and print the
 *         resolver counters
 * Output: "status=... rcode=N ttl=N count=N", then one line per record
 * ("TXT <bytes, \xNN escaped>", "A 192.0.2.1", "MX 10 host").
 * Exit status: 0 ok, 1 for any other status, 2 usage.
 *
 * Trust: the admin's command line; answers are hostile and printed
 * escaped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "dns.h"
#include "dnscfg.h"
#include "log.h"
#include "spfd_cfg.h"

/* put_bytes - printable bytes as they are, others as \xNN */
static void put_bytes(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c >= 0x7f || c == '\\')
			printf("\\x%02x", c);
		else
			putchar(c);
	}
}

/* print_answer - status line and records */
static void print_answer(const struct dns_answer *a)
{
	char ip[IP_STR_MAX];

	printf("status=%s rcode=%d ttl=%u count=%zu\n",
	    dns_status_name(a->status), a->rcode, a->ttl, a->n);
	for (size_t i = 0; i < a->n; i++) {
		const struct dns_rr *rr = &a->rr[i];

		printf("%s ", dns_type_name(rr->type));
		switch (rr->type) {
		case DNS_T_A:
		case DNS_T_AAAA:
			printf("%s", ip_format(&rr->addr, ip, sizeof(ip)));
			break;
		case DNS_T_MX:
			printf("%u %s", rr->pref, rr->name);
			break;
		case DNS_T_TXT:
		case DNS_T_SPF:
			put_bytes(rr->txt, rr->txt_len);
			break;
		default:
			printf("%s", rr->name ? rr->name : "");
			break;
		}
		putchar('\n');
	}
}

/* usage - and exit 2 */
static void usage(void)
{
	fprintf(stderr, "usage: postern-dnsquery [-c FILE] [-o key=value]... "
	    "[-r N] NAME [TYPE]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct cfg *cfg = cfg_new(spfd_defs);
	struct dns_resolver *r;
	struct dns_question q;
	struct dns_answer *a = NULL;
	struct dns_stats st;
	const char *err;
	int ch, repeat = 1, rc;

	log_open("postern-dnsquery", 1);
	while ((ch = getopt(argc, argv, "c:o:r:")) != -1) {
		switch (ch) {
		case 'c':
			if (cfg_load_file(cfg, optarg, &err) < 0)
				log_fatal("%s", err);
			break;
		case 'o':
			if (cfg_override(cfg, optarg, &err) < 0)
				log_fatal("%s", err);
			break;
		case 'r':
			repeat = atoi(optarg);
			if (repeat < 1 || repeat > 1000000)
				usage();
			break;
		default:
			usage();
		}
	}
	if (argc - optind < 1 || argc - optind > 2)
		usage();
	q.name = argv[optind];
	q.type = DNS_T_A;
	if (argc - optind == 2 && dns_type_parse(argv[optind + 1], &q.type) < 0)
		usage();
	if ((r = dnscfg_resolver_new(cfg, &err)) == NULL)
		log_fatal("%s", err);
	for (int i = 0; i < repeat; i++) {
		dns_answer_unref(&a);
		dns_resolve_sync(r, &q, 1, &a, 0);
	}
	print_answer(a);
	if (repeat > 1) {
		dns_stats_get(r, &st);
		printf("queries=%llu cache_hits=%llu\n", st.queries,
		    st.cache_hits);
	}
	rc = a->status == DNS_OK ? 0 : 1;
	dns_answer_unref(&a);
	dns_resolver_free(&r);
	cfg_unref(&cfg);
	return rc;
}
