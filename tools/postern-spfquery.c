/*
 * postern-spfquery - run one SPF check (or a batch) from the command line.
 *
 * Usage:
 *   postern-spfquery [-c FILE] [-o key=value]... -i IP -s SENDER [-h HELO]
 *   postern-spfquery [-c FILE] [-o key=value]... -b
 * With -b, stdin holds one check per line: IP<TAB>SENDER<TAB>HELO, and
 * stdout gets RESULT<TAB>EXPLANATION<TAB>DETAIL per line, non-printable
 * bytes written as \xNN.  An empty SENDER is the null sender: the check
 * is then of postmaster@HELO.  Exit status: 0.
 *
 * Config: the keys of postern-spfd (-c /etc/postern/postern-spfd.conf
 * works); the DNS and spf_* keys are the ones that matter here.
 * Trust: the admin's command line; the DNS data it fetches is hostile and
 * handled by the engines.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "cfg.h"
#include "dnscfg.h"
#include "log.h"
#include "spf.h"
#include "spfd_cfg.h"
#include "spfengine.h"
#include "xalloc.h"

/* the daemon's table: -c reads a postern-spfd.conf as it is */
#define query_defs spfd_defs

/* put_field - a field with tabs, newlines and non-printables escaped */
static void put_field(const char *s)
{
	for (; s && *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch < 0x20 || ch >= 0x7f || ch == '\\')
			printf("\\x%02x", ch);
		else
			putchar(ch);
	}
}

/* run_one - check and print one line */
static void run_one(struct spf_engine *e, const char *ip, const char *sender,
    const char *helo)
{
	struct spf_outcome o;
	const char *err;

	if (spf_engine_check(e, ip, sender, helo, &o, &err) < 0) {
		printf("permerror\t\tbad request: %s\n", err);
		return;
	}
	fputs(spf_result_name(o.result), stdout);
	putchar('\t');
	put_field(o.explanation);
	putchar('\t');
	put_field(o.problem ? o.problem : o.mechanism);
	putchar('\n');
	fflush(stdout);
	spf_outcome_clear(&o);
}

/* usage - print usage and exit 2 */
static void usage(void)
{
	fprintf(stderr, "usage: postern-spfquery [-c FILE] [-o key=value]... "
	    "-i IP -s SENDER [-h HELO]\n"
	    "       postern-spfquery [-c FILE] [-o key=value]... -b\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct cfg *cfg = cfg_new(query_defs);
	const char *ip = NULL, *sender = NULL, *helo = "", *err;
	struct spf_engine *e;
	int ch, batch = 0;

	log_open("postern-spfquery", 1);
	while ((ch = getopt(argc, argv, "bc:h:i:o:s:V")) != -1) {
		switch (ch) {
		case 'b':
			batch = 1;
			break;
		case 'c':
			if (cfg_load_file(cfg, optarg, &err) < 0)
				log_fatal("%s", err);
			break;
		case 'h':
			helo = optarg;
			break;
		case 'i':
			ip = optarg;
			break;
		case 'o':
			if (cfg_override(cfg, optarg, &err) < 0)
				log_fatal("%s", err);
			break;
		case 's':
			sender = optarg;
			break;
		case 'V':
			printf("postern-spfquery %s\n", PACKAGE_VERSION);
			return 0;
		default:
			usage();
		}
	}
	if (!batch && (ip == NULL || sender == NULL))
		usage();
	if ((e = spf_engine_new(cfg, &err)) == NULL)
		log_fatal("%s", err);
	if (!batch) {
		run_one(e, ip, sender, helo);
	} else {
		char line[4096];

		while (fgets(line, sizeof(line), stdin)) {
			char *f[3] = { line, NULL, NULL };
			char *nl = strchr(line, '\n');

			if (nl)
				*nl = '\0';
			if ((f[1] = strchr(f[0], '\t')) != NULL)
				*f[1]++ = '\0';
			if (f[1] && (f[2] = strchr(f[1], '\t')) != NULL)
				*f[2]++ = '\0';
			run_one(e, f[0], f[1] ? f[1] : "", f[2] ? f[2] : "");
		}
	}
	spf_engine_free(&e);
	cfg_unref(&cfg);
	return 0;
}
