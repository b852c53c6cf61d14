/*
 * postern-dmarc-report - send the DMARC aggregate reports (RFC 7489
 *                        Appendix C, or RFC 9990) of the counters that
 *                        postern-dmarc keeps in its store; run once per
 *                        hour or day from a systemd timer.
 *
 * Usage: the manual is help_text below (postern-dmarc-report --help).
 * Public: main only.
 * Trust: the command line and the config file are the admin's.  What
 *        the store holds came from mail: domains, selectors and the
 *        policy records published by any DNS owner (rua= addresses).
 *        Rows are decoded and checked by dmarc_agg_row_decode; policy
 *        records go through dmarc_record_parse; every string goes into
 *        the XML escaped (xml_text: markup characters, control bytes and
 *        invalid UTF-8 replaced); a policy domain must be a plain host
 *        name before it names a file or goes into a header; rua
 *        mailboxes must pass mailsend_addr_valid.  Rows per period are
 *        bounded (report_max_period_rows), reports by rows and bytes
 *        (report_max_rows, report_max_xml_bytes: more are split), and
 *        policy records per period (POLICIES_MAX).
 * Errors: one log line per report on stderr (the journal under
 *         systemd); exit 0 every report due was sent or refused for
 *         good, 1 some could not be sent now (their data is kept and
 *         the next run retries) or the store failed, 2 usage or
 *         configuration error.
 *
 * Periods.  The milter counts per policy domain and UTC hour (buckets
 * "<hour>/<domain>", dmarc_agg.h).  A domain's reporting period is its
 * ri= (RFC 7489 7.2; RFC 9989 drops ri= and the parser then gives 24 h)
 * clamped to report_interval_min..report_interval_max and rounded down
 * to 1, 2, 3, 4, 6, 8, 12 or 24 hours, so periods are aligned on UTC
 * multiples of their length and never overlap: the hours of a period
 * are merged (the same row in several hours: counts added) into one
 * report once the period has ended (and report_delay has passed, for
 * counters still being flushed).  The ri= used is the one of the
 * domain's most-seen record over all its buckets; <policy_published> is
 * the most-seen usable record of the period (the store keeps each record
 * text with a count).  Rows counted late for a period already reported
 * (a milter whose store was down for longer than report_delay) give a
 * second report for that period, with its own Report-ID.
 *
 * Destinations.  Every mailto: URI of the record's rua= (other schemes
 * are skipped and logged), plus report_bcc.  A destination whose
 * organizational domain is not the policy domain's needs the
 * <domain>._report._dmarc.<destination> record (dmarc_report_authorized:
 * 1 send, 0 never: skipped and logged, -1 DNS failure: kept for the next
 * run).  A URI with a !size limit (as dmarc_record_parse gives it: RFC
 * 7489; RFC 9989 obsoletes it) that the whole message exceeds is
 * skipped and logged.  Each destination gets its own message.
 *
 * Exactly once, mostly.  After each destination accepted a report, a
 * counter "<part>:<address>" is added to the store bucket
 * "sent/<begin>/<domain>"; a later run (after another destination
 * failed for now) skips destinations marked there.  The period's buckets
 * and that marker bucket are dropped once no destination is left to
 * retry.  A run that dies between the server's acceptance and the marker
 * (or a store down at that moment) sends that destination the report
 * again next time (at least once).  Report-IDs are a digest of the
 * report's content, so such a resend has the same Report-ID and file
 * name (RFC 9990 3.5.2) and receivers can tell.  Data that still could
 * not be sent report_max_age after its period ended is dropped (logged).
 * Run the tool on one host per store.
 *
 * XML.  RFC 7489 mode: <feedback> with no namespace, as receivers send
 * and report parsers expect (the RFC's schema, once corrected so that it
 * compiles, puts only the root in http://dmarc.org/dmarc-xml/0.1;
 * t/dmarc/README), IPv6 sources in the full eight-group form its
 * pattern wants.  DMARCbis mode (dmarc_mode = bis): RFC 9990, namespace
 * urn:ietf:params:xml:ns:dmarc-2.0, with np, testing, discovery_method
 * and generator, disposition "pass" for a passing message of a domain
 * whose policy enforces, sampled_out reported as policy_test_mode.
 * Report-IDs are alphanumeric (report_id_prefix + 16 hex digits), so the
 * file name's unique-id and the Report-ID match (RFC 9990 3.1.4).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "buf.h"
#include "cfg.h"
#include "dmarc.h"
#include "dmarc_agg.h"
#include "dmarc_report_cfg.h"
#include "dmarcd_cfg.h"
#include "dns.h"
#include "dnscfg.h"
#include "inet.h"
#include "log.h"
#include "mailsend.h"
#include "psl.h"
#include "store.h"
#include "tool.h"
#include "xalloc.h"

#define PROG "postern-dmarc-report"
#define PATH_TEXT_MAX 4096
#define TIME_TEXT_MAX 32
#define POLICIES_MAX 32		/* distinct policy records per period */
#define BUCKETS_MAX 1000000	/* buckets looked at in one run */
#define TEXT_MAX 1024		/* org name, extra contact */
#define ID_PREFIX_MAX 64
#define ID_MAX (ID_PREFIX_MAX + 17)	/* prefix + 16 hex + NUL */
#define MSG_MAX (1400u * 1024 * 1024)	/* one report message */
#define MARK_PREFIX "sent/"	/* marker buckets: sent/<begin>/<domain> */

enum { EXIT_OK, EXIT_FAILED, EXIT_USAGE };

/*
 * The keys of postern-dmarc.conf this tool reads besides the report_*
 * ones: the milter's store (DMARC_STORE_CFG_DEFS, milters/dmarcd_cfg.h)
 * and DNS settings, the mode and the PSL, as the milter's table has them.
 */
#define REPORT_MILTER_DEFS \
	DMARC_STORE_CFG_DEFS, \
	{ "dmarc_mode", NULL, CFG_ENUM, "bis", 0, 0, "bis|rfc7489", \
	  "DMARCbis (RFC 9989/9990) or RFC 7489" }, \
	{ "public_suffix_list", "PublicSuffixList", CFG_STR, PSL_DEBIAN_PATH, \
	  0, 0, NULL, "the Public Suffix List (rfc7489 mode)" }

static const struct cfg_def report_defs[] = {
	REPORT_MILTER_DEFS,
	DNS_CFG_DEFS,
	DMARC_REPORT_CFG_DEFS,
	CFG_END
};

static const char help_text[] =
"NAME\n"
"    postern-dmarc-report - send DMARC aggregate reports from\n"
"    postern-dmarc's counters\n"
"\n"
"SYNOPSIS\n"
"    postern-dmarc-report [-c FILE] [-o key=value]... [-n DIR [--drop]]\n"
"                         [--domain DOMAIN] [--now TIME] [-v]\n"
"\n"
"DESCRIPTION\n"
"    Reads postern-dmarc's configuration (the same file and -o\n"
"    overrides) to find its store, lists the counters the milter keeps\n"
"    per policy domain and hour, and for each domain and reporting\n"
"    period that has ended builds one aggregate report (RFC 7489\n"
"    Appendix C; RFC 9990 with dmarc_mode = bis), gzips it and mails it\n"
"    to each mailto: address of the domain's rua= (an address outside\n"
"    the domain needs its _report._dmarc authorization record; a !size\n"
"    limit the message exceeds skips the address), then deletes the\n"
"    counters.  A report that cannot be sent now keeps its counters for\n"
"    the next run, which does not send it again to addresses that got it.\n"
"    Run it from a timer, every hour or so, on one host per store.\n"
"\n"
"    A period is the domain's ri= clamped to report_interval_min and\n"
"    report_interval_max and rounded down to 1, 2, 3, 4, 6, 8, 12 or 24\n"
"    hours, aligned on UTC; it is reported report_delay after its end.\n"
"\n"
"OPTIONS\n"
"    -c FILE\n"
"        The milter's config; default " SYSCONFDIR
"/postern/postern-dmarc.conf\n"
"        when it exists.  Keys this program does not use are skipped.\n"
"    -o key=value\n"
"        Override a config key (repeatable).\n"
"    -n DIR, --dry-run DIR\n"
"        Send nothing: write each report (NAME.xml.gz, NAME as in RFC\n"
"        9990 3.5.2: receiver!domain!begin!end!id) and the message each\n"
"        destination would get (NAME.K.eml, K = 1, 2...) into DIR.  The\n"
"        counters are kept, unless --drop.\n"
"    --drop\n"
"        With -n: delete the counters of what was written.\n"
"    --domain DOMAIN\n"
"        Only this policy domain.\n"
"    --now TIME\n"
"        Pretend it is TIME (Unix seconds, or YYYY-MM-DDTHH:MM:SSZ).\n"
"    -v  Debug logging.    -V  The version.    -h, --help  This text.\n"
"\n"
"LOG\n"
"    One line per report (domain and period):\n"
"      domain=D period=BEGIN..END rows=N messages=M reports=P\n"
"      destinations=K sent=S refused=R retry=T outcome=O id=ID\n"
"    and one per destination (to=ADDR result=...).  outcome: done,\n"
"    retry (kept for the next run), expired (dropped after\n"
"    report_max_age), no-rua, no-policy, skipped (report_skip_domains),\n"
"    written (dry run).\n"
"\n"
"EXIT STATUS\n"
"    0 done, 1 some reports could not be sent (kept) or the store\n"
"    failed, 2 usage or configuration error.\n";

/* one hourly bucket of the store */
struct bucket {
	char *name;
	char *domain;
	time_t hour;
};

/* one merged row: its encoded form (dmarc_agg_row_encode) and count */
struct mrow {
	struct mrow *next;
	unsigned long long count;
	uint32_t hash;
	size_t keylen;
	char key[];
};

/* a policy record text and how many messages saw it */
struct pol {
	char *text;
	unsigned long long count;
};

/* the rows and policy records of one domain and period */
struct merge {
	struct mrow **tab;
	size_t size, n, max;
	unsigned long long messages;
	unsigned long long dropped_rows, dropped_msgs;	/* over max */
	size_t bad;			/* malformed, skipped */
	struct pol pol[POLICIES_MAX];
	size_t npol;
	unsigned long long pol_dropped;
};

/* one report (a period is split into parts when too large) */
struct part {
	char id[ID_MAX];
	char base[PATH_TEXT_MAX];	/* file name without .xml.gz */
	struct buf gz;
	size_t rows;
	unsigned long long messages;
};

/* what one run works with */
struct run {
	struct cfg *cfg;
	struct store *store;
	struct dns_resolver *res;
	struct dmarc_dns dns;
	struct psl *psl;
	struct dmarc *dmarc;
	struct mailsend ms;
	enum dmarc_mode mode;
	const char *dry_dir;
	int drop;
	const char *only_domain;
	time_t now;
	char hostname[256];
	char email[MAILSEND_ADDR_MAX];
	char org_domain[DMARC_DOMAIN_MAX];
	const char *org_name, *extra, *id_prefix, *bcc;
	size_t max_rows, max_xml, max_period_rows;
	long long interval_min, interval_max, delay, max_age;	/* s */
	const char *const *skip;
	size_t nskip;
	int failed;
	struct bucket *b;
	size_t nb, capb;
	char **marks;			/* marker buckets seen */
	size_t nmarks, capmarks;
};

/* ------------------------------------------------------------- helpers */

/* usage - the synopsis on stderr, exit 2 */
static void usage(const char *why)
{
	if (why)
		fprintf(stderr, PROG ": %s\n", why);
	fputs("usage: " PROG " [-c FILE] [-o key=value]... [-n DIR [--drop]] "
	    "[--domain D] [--now TIME] [-v]\n", stderr);
	exit(EXIT_USAGE);
}

/* time_text - t as ISO 8601 UTC into out[TIME_TEXT_MAX] */
static const char *time_text(time_t t, char *out)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(out, TIME_TEXT_MAX, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, TIME_TEXT_MAX, "@%lld", (long long)t);
	return out;
}

/* time_parse - Unix seconds or YYYY-MM-DDTHH:MM:SSZ; -1 if neither */
static int time_parse(const char *s, time_t *t_r)
{
	struct tm tm = { 0 };
	const char *end;
	char *e;
	long long v;

	if (*s >= '0' && *s <= '9') {
		errno = 0;
		v = strtoll(s, &e, 10);
		if (*e == '\0' && errno == 0 && v >= 0 && v < (1LL << 40)) {
			*t_r = (time_t)v;
			return 0;
		}
	}
	end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (end == NULL || *end != '\0')
		return -1;
	*t_r = timegm(&tm);
	return 0;
}

/* host_safe - a host name we put in a file name, a header or XML as is:
 * a valid DNS name of letters, digits, '-', '_' and '.' */
static int host_safe(const char *s)
{
	if (!dns_name_valid(s) || s[strlen(s) - 1] == '.')
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' ||
		    *s == '.'))
			return 0;
	return 1;
}

/* utf8_len - length of the valid UTF-8 sequence at s (n bytes left), 0
 * if it is not one (overlong, surrogate, over U+10FFFF, truncated) */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	uint32_t cp;
	size_t len;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

/* text_valid - admin text for XML: valid UTF-8, no control bytes */
static int text_valid(const char *s)
{
	size_t n = strlen(s);

	if (n > TEXT_MAX)
		return 0;
	for (size_t i = 0; i < n;) {
		size_t l = utf8_len((const unsigned char *)s + i, n - i);

		if (l == 0 || (unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
		i += l;
	}
	return 1;
}

/* xml_text - append s as XML character data: & < > " ' as entities,
 * control bytes and invalid UTF-8 as '?' (XML 1.0 cannot carry them) */
static int xml_text(struct buf *b, const char *s)
{
	size_t n = strlen(s);
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0;) {
		unsigned char c = (unsigned char)s[i];
		size_t l = utf8_len((const unsigned char *)s + i, n - i);

		if (l > 1) {
			rc = buf_append(b, s + i, l);
			i += l;
			continue;
		}
		i++;
		switch (c) {
		case '&': rc = buf_appends(b, "&amp;"); break;
		case '<': rc = buf_appends(b, "&lt;"); break;
		case '>': rc = buf_appends(b, "&gt;"); break;
		case '"': rc = buf_appends(b, "&quot;"); break;
		case '\'': rc = buf_appends(b, "&apos;"); break;
		default:
			rc = buf_appendc(b, l == 1 && (c >= 0x20 || c == '\t') &&
			    c != 0x7f ? c : '?');
		}
	}
	return rc;
}

/* xml_elem - append <name>escaped text</name> at indent */
static int xml_elem(struct buf *b, int indent, const char *name,
    const char *text)
{
	if (buf_appendf(b, "%*s<%s>", indent, "", name) < 0 ||
	    xml_text(b, text) < 0)
		return -1;
	return buf_appendf(b, "</%s>\n", name);
}

/* in_list - s in list (without regard to case, final dot ignored) */
static int in_list(const char *const *list, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (dns_name_equal(list[i], s))
			return 1;
	return 0;
}

/* ------------------------------------------------------------- config */

/* conf_text - an admin text key: valid UTF-8, no control bytes */
static const char *conf_text(const struct cfg *cfg, const char *key)
{
	const char *v = cfg_str(cfg, key);

	if (!text_valid(v))
		tool_die(EXIT_USAGE, "configuration error: %s: control "
		    "characters, invalid UTF-8 or over %d bytes", key,
		    TEXT_MAX);
	return v;
}

/* run_config - the checked report settings from the config */
static void run_config(struct run *r)
{
	const struct cfg *cfg = r->cfg;
	const char *v, *at, *err;
	long long imin, imax;

	if (gethostname(r->hostname, sizeof(r->hostname) - 1) < 0 ||
	    !host_safe(r->hostname))
		snprintf(r->hostname, sizeof(r->hostname), "localhost");
	r->mode = strcmp(cfg_str(cfg, "dmarc_mode"), "rfc7489") == 0 ?
	    DMARC_MODE_RFC7489 : DMARC_MODE_BIS;
	v = cfg_str(cfg, "report_email");
	if (*v == '\0') {
		if (snprintf(r->email, sizeof(r->email), "postmaster@%s",
		    r->hostname) >= (int)sizeof(r->email))
			tool_die(EXIT_USAGE, "host name too long: set "
			    "report_email");
	} else if (strlen(v) >= sizeof(r->email)) {
		tool_die(EXIT_USAGE, "configuration error: report_email: "
		    "too long");
	} else {
		memcpy(r->email, v, strlen(v) + 1);
	}
	if (!mailsend_addr_valid(r->email))
		tool_die(EXIT_USAGE, "configuration error: report_email: not a "
		    "usable address: %s", r->email);
	at = strrchr(r->email, '@');
	v = cfg_str(cfg, "report_org_domain");
	if (*v == '\0')
		v = at + 1;
	if (!host_safe(v) || strlen(v) >= sizeof(r->org_domain))
		tool_die(EXIT_USAGE, "configuration error: "
		    "report_org_domain: not a domain name: %s", v);
	memcpy(r->org_domain, v, strlen(v) + 1);
	r->org_name = conf_text(cfg, "report_org_name");
	if (*r->org_name == '\0')
		r->org_name = r->org_domain;
	r->extra = conf_text(cfg, "report_extra_contact");
	r->id_prefix = cfg_str(cfg, "report_id_prefix");
	if (strlen(r->id_prefix) > ID_PREFIX_MAX)
		tool_die(EXIT_USAGE, "configuration error: "
		    "report_id_prefix: over %d characters", ID_PREFIX_MAX);
	for (const char *p = r->id_prefix; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9')))
			tool_die(EXIT_USAGE, "configuration error: "
			    "report_id_prefix: letters and digits only (RFC "
			    "9990 3.1.4: the Report-ID is the file name's "
			    "unique-id)");
	r->bcc = cfg_str(cfg, "report_bcc");
	if (*r->bcc && !mailsend_addr_valid(r->bcc))
		tool_die(EXIT_USAGE, "configuration error: report_bcc: not a "
		    "usable address: %s", r->bcc);
	v = cfg_str(cfg, "report_helo");
	if (mailsend_init(&r->ms, cfg_str(cfg, "report_transport"),
	    *v ? v : r->hostname, (unsigned)cfg_int(cfg, "report_timeout"),
	    &err) < 0)
		tool_die(EXIT_USAGE, "configuration error: report_transport or "
		    "report_helo: %s", err);
	r->max_rows = (size_t)cfg_int(cfg, "report_max_rows");
	r->max_xml = (size_t)cfg_int(cfg, "report_max_xml_bytes");
	r->max_period_rows = (size_t)cfg_int(cfg, "report_max_period_rows");
	imin = cfg_int(cfg, "report_interval_min") / 1000;
	imax = cfg_int(cfg, "report_interval_max") / 1000;
	if (imin > imax)
		tool_die(EXIT_USAGE, "configuration error: "
		    "report_interval_min is longer than report_interval_max");
	r->interval_min = imin;
	r->interval_max = imax;
	r->delay = cfg_int(cfg, "report_delay") / 1000;
	r->max_age = cfg_int(cfg, "report_max_age") / 1000;
	r->skip = cfg_list(cfg, "report_skip_domains", &r->nskip);
}

/* open_store - the milter's store; NULL (logged) when there is no
 * embedded store yet: nothing was counted, nothing to report */
static struct store *open_store(struct run *r)
{
	const char *spec = cfg_str(r->cfg, "store"), *err;
	struct store_opts so = { 0 };
	struct store *s;

	if (tool_store_ready(EXIT_USAGE, EXIT_FAILED, spec) == 0) {
		log_info("store %s: no embedded store there yet: nothing to "
		    "report", spec);
		return NULL;
	}
	so.max_entries = (size_t)cfg_int(r->cfg, "store_max_entries");
	so.timeout_ms = (unsigned)cfg_int(r->cfg, "store_timeout");
	so.connect_timeout_ms =
	    (unsigned)cfg_int(r->cfg, "store_connect_timeout");
	so.prefix = cfg_str(r->cfg, "store_prefix");
	if ((s = store_open(spec, &so, &err)) == NULL) {
		log_error("store %s: %s", spec, err);
		exit(EXIT_FAILED);
	}
	return s;
}

/* open_dmarc - the DMARC engine, for dmarc_report_authorized */
static void open_dmarc(struct run *r)
{
	struct dmarc_opts o = { 0 };
	const char *err;

	if ((r->res = dnscfg_resolver_new(r->cfg, &err)) == NULL)
		tool_die(EXIT_USAGE, "configuration error: %s", err);
	r->dns.resolver = r->res;
	r->dns.budget_ms = 0;
	o.mode = r->mode;
	o.lookup = dmarc_dns_lookup;
	o.lookup_arg = &r->dns;
	if (r->mode == DMARC_MODE_RFC7489) {
		const char *path = cfg_str(r->cfg, "public_suffix_list");

		if ((r->psl = psl_load(path, &err)) == NULL)
			tool_die(EXIT_USAGE, "configuration error: "
			    "public_suffix_list: %s", err);
		o.psl = r->psl;
	}
	r->dmarc = dmarc_new(&o);
}

/* ------------------------------------------------------------ buckets */

/* bucket_one - keep one bucket name of the store (dmarc_agg_buckets) */
static int bucket_one(void *arg, const char *name)
{
	struct run *r = arg;
	char dom[DMARC_AGG_BUCKET_MAX];
	struct bucket *b;
	time_t hour;

	if (dmarc_agg_bucket_parse(name, &hour, dom, sizeof(dom)) < 0)
		return 0;
	if (r->only_domain && !dns_name_equal(r->only_domain, dom))
		return 0;
	if (r->nb >= BUCKETS_MAX) {
		log_warn("more than %d buckets: the rest waits for the next "
		    "run", BUCKETS_MAX);
		return 1;
	}
	if (r->nb == r->capb) {
		r->capb = r->capb ? r->capb * 2 : 64;
		r->b = xrealloc(r->b, r->capb * sizeof(*r->b));
	}
	b = &r->b[r->nb++];
	b->name = xstrdup(name);
	b->domain = xstrdup(dom);
	b->hour = hour;
	return 0;
}

/* mark_one - keep the names of marker buckets (store_count_buckets) */
static int mark_one(void *arg, const char *name)
{
	struct run *r = arg;

	if (strncmp(name, MARK_PREFIX, strlen(MARK_PREFIX)) != 0 ||
	    r->nmarks >= BUCKETS_MAX)
		return 0;
	if (r->nmarks == r->capmarks) {
		r->capmarks = r->capmarks ? r->capmarks * 2 : 16;
		r->marks = xrealloc(r->marks, r->capmarks * sizeof(*r->marks));
	}
	r->marks[r->nmarks++] = xstrdup(name);
	return 0;
}

/* bucket_cmp - by domain (case-insensitive), then hour */
static int bucket_cmp(const void *a, const void *b)
{
	const struct bucket *x = a, *y = b;
	int c = strcasecmp(x->domain, y->domain);

	if (c)
		return c;
	return x->hour < y->hour ? -1 : x->hour > y->hour;
}

/* ---------------------------------------------------------------- merge */

/* hash_of - FNV-1a of a row key */
static uint32_t hash_of(const char *s, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

/* merge_init - an empty merge table for at most max rows */
static void merge_init(struct merge *m, size_t max)
{
	memset(m, 0, sizeof(*m));
	m->size = 1024;
	m->tab = xcalloc(m->size, sizeof(*m->tab));
	m->max = max;
}

/* merge_free - release the rows and records */
static void merge_free(struct merge *m)
{
	for (size_t i = 0; i < m->size; i++)
		for (struct mrow *e = m->tab[i], *next; e; e = next) {
			next = e->next;
			free(e);
		}
	free(m->tab);
	for (size_t i = 0; i < m->npol; i++)
		free(m->pol[i].text);
	memset(m, 0, sizeof(*m));
}

/* merge_grow - double the table when it is full */
static void merge_grow(struct merge *m)
{
	size_t nsize = m->size * 2;
	struct mrow **ntab = xcalloc(nsize, sizeof(*ntab));

	for (size_t i = 0; i < m->size; i++)
		for (struct mrow *e = m->tab[i], *next; e; e = next) {
			next = e->next;
			e->next = ntab[e->hash & (nsize - 1)];
			ntab[e->hash & (nsize - 1)] = e;
		}
	free(m->tab);
	m->tab = ntab;
	m->size = nsize;
}

/* add_sat - a + b, saturated */
static unsigned long long add_sat(unsigned long long a, unsigned long long b)
{
	return a > ULLONG_MAX - b ? ULLONG_MAX : a + b;
}

/* merge_row - count one row read from a bucket (dmarc_agg_read) */
static int merge_row(void *arg, const struct dmarc_agg_row *row,
    unsigned long long count)
{
	struct merge *m = arg;
	char key[DMARC_AGG_ROW_MAX];
	struct mrow *e;
	uint32_t h;
	size_t n;

	if (dmarc_agg_row_encode(row, key, sizeof(key)) < 0) {
		m->bad++;
		return 0;
	}
	n = strlen(key);
	h = hash_of(key, n);
	m->messages = add_sat(m->messages, count);
	for (e = m->tab[h & (m->size - 1)]; e; e = e->next)
		if (e->hash == h && e->keylen == n && !memcmp(e->key, key, n)) {
			e->count = add_sat(e->count, count);
			return 0;
		}
	if (m->n >= m->max) {
		m->dropped_rows++;
		m->dropped_msgs = add_sat(m->dropped_msgs, count);
		return 0;
	}
	if (m->n >= m->size)
		merge_grow(m);
	e = xmalloc(sizeof(*e) + n + 1);
	e->count = count;
	e->hash = h;
	e->keylen = n;
	memcpy(e->key, key, n + 1);
	e->next = m->tab[h & (m->size - 1)];
	m->tab[h & (m->size - 1)] = e;
	m->n++;
	return 0;
}

/* merge_policy - count one policy record text read from a bucket */
static int merge_policy(void *arg, const char *record,
    unsigned long long count)
{
	struct merge *m = arg;

	for (size_t i = 0; i < m->npol; i++)
		if (strcmp(m->pol[i].text, record) == 0) {
			m->pol[i].count = add_sat(m->pol[i].count, count);
			return 0;
		}
	if (m->npol >= POLICIES_MAX) {
		m->pol_dropped++;
		return 0;
	}
	m->pol[m->npol].text = xstrndup(record, DMARC_RECORD_MAX);
	m->pol[m->npol++].count = count;
	return 0;
}

/* skip_row - dmarc_agg_read's row callback when only records matter */
static int skip_row(void *arg, const struct dmarc_agg_row *row,
    unsigned long long count)
{
	(void)arg;
	(void)row;
	(void)count;
	return 0;
}

/* pol_cmp - policy records, most seen first, then by text */
static int pol_cmp(const void *a, const void *b)
{
	const struct pol *x = a, *y = b;

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return strcmp(x->text, y->text);
}

/* best_policy - the most-seen usable record into rec; -1 if none */
static int best_policy(const struct run *r, struct merge *m,
    struct dmarc_record *rec)
{
	const char *err;

	qsort(m->pol, m->npol, sizeof(m->pol[0]), pol_cmp);
	for (size_t i = 0; i < m->npol; i++)
		if (dmarc_record_parse(m->pol[i].text, strlen(m->pol[i].text),
		    r->mode, rec, &err) == 0)
			return 0;
	return -1;
}

/* mrow_cmp - rows, most messages first, then by key (reports are the
 * same whenever they are built from the same data) */
static int mrow_cmp(const void *a, const void *b)
{
	const struct mrow *x = *(const struct mrow *const *)a;
	const struct mrow *y = *(const struct mrow *const *)b;

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return strcmp(x->key, y->key);
}

/* ------------------------------------------------------------------ XML */

/* policy_text - a policy as the schemas spell it (UNSET: none) */
static const char *policy_text(enum dmarc_policy p)
{
	return p == DMARC_P_REJECT ? "reject" : p == DMARC_P_QUARANTINE ?
	    "quarantine" : "none";
}

/* fo_text - fo= bits as "0:1:d:s" into out[16] */
static const char *fo_text(unsigned fo, char *out)
{
	static const struct { unsigned bit; const char *s; } t[] = {
		{ DMARC_FO_0, "0" }, { DMARC_FO_1, "1" }, { DMARC_FO_D, "d" },
		{ DMARC_FO_S, "s" } };
	size_t o = 0;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (fo & t[i].bit) {
			if (o)
				out[o++] = ':';
			out[o++] = t[i].s[0];
		}
	if (o == 0)
		out[o++] = '0';
	out[o] = '\0';
	return out;
}

/* ip_text - a row's source address: RFC 7489's schema pattern wants
 * IPv6 in all eight groups; RFC 9990 takes the usual text form.  -1 if
 * the row's address does not parse. */
static int ip_text(const struct run *r, const char *s, char *out,
    size_t outlen)
{
	struct ipaddr ip;

	if (ip_parse(s, &ip) < 0)
		return -1;
	if (ip.family == AF_INET6 && ip_is_v4mapped(&ip))
		ip_unmap(&ip);
	if (ip.family == AF_INET6 && r->mode == DMARC_MODE_RFC7489) {
		snprintf(out, outlen, "%x:%x:%x:%x:%x:%x:%x:%x",
		    ip.a[0] << 8 | ip.a[1], ip.a[2] << 8 | ip.a[3],
		    ip.a[4] << 8 | ip.a[5], ip.a[6] << 8 | ip.a[7],
		    ip.a[8] << 8 | ip.a[9], ip.a[10] << 8 | ip.a[11],
		    ip.a[12] << 8 | ip.a[13], ip.a[14] << 8 | ip.a[15]);
		return 0;
	}
	return ip_format(&ip, out, outlen) ? 0 : -1;
}

/* xml_head - <feedback> up to the first <record>, for one part */
static int xml_head(const struct run *r, struct buf *x, const char *domain,
    const struct dmarc_record *rec, time_t begin, time_t end,
    const char *id, const char *error)
{
	int bis = r->mode == DMARC_MODE_BIS, rc = 0;
	char num[32], fo[16];

	rc |= buf_appends(x, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	rc |= buf_appends(x, bis ? "<feedback xmlns=\"urn:ietf:params:xml:"
	    "ns:dmarc-2.0\">\n" : "<feedback>\n");
	rc |= buf_appends(x, "  <version>1.0</version>\n");
	rc |= buf_appends(x, "  <report_metadata>\n");
	rc |= xml_elem(x, 4, "org_name", r->org_name);
	rc |= xml_elem(x, 4, "email", r->email);
	if (*r->extra)
		rc |= xml_elem(x, 4, "extra_contact_info", r->extra);
	rc |= xml_elem(x, 4, "report_id", id);
	rc |= buf_appendf(x, "    <date_range>\n      <begin>%lld</begin>\n"
	    "      <end>%lld</end>\n    </date_range>\n", (long long)begin,
	    (long long)end);
	if (error)
		rc |= xml_elem(x, 4, "error", error);
	if (bis)
		rc |= xml_elem(x, 4, "generator", PROG " " PACKAGE_VERSION);
	rc |= buf_appends(x, "  </report_metadata>\n  <policy_published>\n");
	rc |= xml_elem(x, 4, "domain", domain);
	if (bis) {
		rc |= xml_elem(x, 4, "p", policy_text(rec->p));
		if (rec->sp != DMARC_P_UNSET)
			rc |= xml_elem(x, 4, "sp", policy_text(rec->sp));
		if (rec->np != DMARC_P_UNSET)
			rc |= xml_elem(x, 4, "np", policy_text(rec->np));
		rc |= xml_elem(x, 4, "adkim", rec->adkim_strict ? "s" : "r");
		rc |= xml_elem(x, 4, "aspf", rec->aspf_strict ? "s" : "r");
		rc |= xml_elem(x, 4, "discovery_method", "treewalk");
		rc |= xml_elem(x, 4, "fo", fo_text(rec->fo, fo));
		rc |= xml_elem(x, 4, "testing", rec->testing ? "y" : "n");
	} else {
		rc |= xml_elem(x, 4, "adkim", rec->adkim_strict ? "s" : "r");
		rc |= xml_elem(x, 4, "aspf", rec->aspf_strict ? "s" : "r");
		rc |= xml_elem(x, 4, "p", policy_text(rec->p));
		rc |= xml_elem(x, 4, "sp", policy_text(rec->sp ==
		    DMARC_P_UNSET ? rec->p : rec->sp));
		snprintf(num, sizeof(num), "%d", rec->pct);
		rc |= xml_elem(x, 4, "pct", num);
		rc |= xml_elem(x, 4, "fo", fo_text(rec->fo, fo));
	}
	rc |= buf_appends(x, "  </policy_published>\n");
	return rc ? -1 : 0;
}

/* reason_text - a row's override reason in the report's vocabulary:
 * RFC 9990 has no forwarded or sampled_out (t=y is policy_test_mode) */
static const char *reason_text(const struct run *r, const char *reason)
{
	if (r->mode != DMARC_MODE_BIS)
		return reason;
	if (strcmp(reason, "sampled_out") == 0)
		return "policy_test_mode";
	if (strcmp(reason, "forwarded") == 0)
		return "other";
	return reason;
}

/* disposition_text - what we did; RFC 9990 says "pass" for a message
 * that passed DMARC under an enforcing policy (the policy of the From
 * domain: p for the domain itself, sp, else p, for a subdomain) */
static const char *disposition_text(const struct run *r,
    const struct dmarc_agg_row *row, const struct dmarc_record *rec,
    const char *domain)
{
	enum dmarc_policy applied;

	if (row->disposition == DMARC_AGG_REJECT)
		return "reject";
	if (row->disposition == DMARC_AGG_QUARANTINE)
		return "quarantine";
	if (r->mode != DMARC_MODE_BIS ||
	    (!row->dkim_aligned_pass && !row->spf_aligned_pass))
		return "none";
	applied = dns_name_equal(row->header_from, domain) ||
	    rec->sp == DMARC_P_UNSET ? rec->p : rec->sp;
	return applied == DMARC_P_QUARANTINE || applied == DMARC_P_REJECT ?
	    "pass" : "none";
}

/* xml_record - one <record>; 1 if the row is unusable (skipped) */
static int xml_record(const struct run *r, struct buf *x,
    const struct mrow *e, const struct dmarc_record *rec, const char *domain)
{
	struct dmarc_agg_row row;
	char ip[64], num[32];
	int bis = r->mode == DMARC_MODE_BIS, rc = 0;

	if (dmarc_agg_row_decode(e->key, e->keylen, &row) < 0 ||
	    ip_text(r, row.source_ip, ip, sizeof(ip)) < 0)
		return 1;
	rc |= buf_appends(x, "  <record>\n    <row>\n");
	rc |= xml_elem(x, 6, "source_ip", ip);
	snprintf(num, sizeof(num), "%llu", e->count);
	rc |= xml_elem(x, 6, "count", num);
	rc |= buf_appends(x, "      <policy_evaluated>\n");
	rc |= xml_elem(x, 8, "disposition", disposition_text(r, &row, rec,
	    domain));
	rc |= xml_elem(x, 8, "dkim", row.dkim_aligned_pass ? "pass" : "fail");
	rc |= xml_elem(x, 8, "spf", row.spf_aligned_pass ? "pass" : "fail");
	if (row.reason[0]) {
		const char *type = reason_text(r, row.reason);

		rc |= buf_appends(x, "        <reason>\n");
		rc |= xml_elem(x, 10, "type", type);
		if (row.reason_comment[0])
			rc |= xml_elem(x, 10, "comment", row.reason_comment);
		else if (strcmp(type, row.reason) != 0)
			rc |= xml_elem(x, 10, "comment", row.reason);
		rc |= buf_appends(x, "        </reason>\n");
	}
	rc |= buf_appends(x, "      </policy_evaluated>\n    </row>\n"
	    "    <identifiers>\n");
	if (bis) {
		rc |= xml_elem(x, 6, "header_from", row.header_from);
		rc |= xml_elem(x, 6, "envelope_from", row.envelope_from);
	} else {
		rc |= xml_elem(x, 6, "envelope_from", row.envelope_from);
		rc |= xml_elem(x, 6, "header_from", row.header_from);
	}
	rc |= buf_appends(x, "    </identifiers>\n    <auth_results>\n");
	for (size_t i = 0; i < row.ndkim && i < DMARC_AGG_DKIM_MAX; i++) {
		rc |= buf_appends(x, "      <dkim>\n");
		rc |= xml_elem(x, 8, "domain", row.dkim[i].domain);
		if (bis || row.dkim[i].selector[0])
			rc |= xml_elem(x, 8, "selector", row.dkim[i].selector);
		rc |= xml_elem(x, 8, "result", row.dkim[i].result);
		rc |= buf_appends(x, "      </dkim>\n");
	}
	if (row.spf_result[0] || !bis) {
		/* RFC 7489 wants one <spf> at least: a message with no SPF
		 * result is reported as none for its MAIL FROM domain */
		const char *d = row.spf_domain[0] ? row.spf_domain :
		    row.envelope_from[0] ? row.envelope_from : row.header_from;
		const char *scope = row.spf_scope[0] ? row.spf_scope : "mfrom";

		rc |= buf_appends(x, "      <spf>\n");
		rc |= xml_elem(x, 8, "domain", d);
		if (!bis || strcmp(scope, "mfrom") == 0)
			rc |= xml_elem(x, 8, "scope", scope);
		rc |= xml_elem(x, 8, "result", row.spf_result[0] ?
		    row.spf_result : "none");
		rc |= buf_appends(x, "      </spf>\n");
	}
	rc |= buf_appends(x, "    </auth_results>\n  </record>\n");
	return rc ? -1 : 0;
}

/* ----------------------------------------------------- gzip and base64 */

/* gzip_buf - in as a gzip file (RFC 1952) into out; -1 on failure */
static int gzip_buf(const char *in, size_t len, struct buf *out)
{
	z_stream z = { 0 };
	uLong bound;
	char *tmp;
	int rc;

	if (len > UINT_MAX / 2)
		return -1;
	if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8,
	    Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	/* deflateBound: the whole output in one call */
	bound = deflateBound(&z, (uLong)len) + 32;
	tmp = xmalloc(bound);
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)len;
	z.next_out = (Bytef *)tmp;
	z.avail_out = (uInt)bound;
	rc = deflate(&z, Z_FINISH);
	deflateEnd(&z);
	buf_init(out, bound);
	if (rc != Z_STREAM_END ||
	    buf_append(out, tmp, bound - z.avail_out) < 0) {
		free(tmp);
		buf_free(out);
		return -1;
	}
	free(tmp);
	return 0;
}

/* base64_lines - data as base64 in lines of 76 characters + CRLF */
static int base64_lines(struct buf *b, const unsigned char *p, size_t n)
{
	static const char t[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char line[80];
	size_t o = 0;

	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16;

		if (i + 1 < n)
			v |= (unsigned)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		line[o++] = t[v >> 18 & 63];
		line[o++] = t[v >> 12 & 63];
		line[o++] = i + 1 < n ? t[v >> 6 & 63] : '=';
		line[o++] = i + 2 < n ? t[v & 63] : '=';
		if (o == 76 || i + 3 >= n) {
			line[o++] = '\r';
			line[o++] = '\n';
			if (buf_append(b, line, o) < 0)
				return -1;
			o = 0;
		}
	}
	return 0;
}

/* ------------------------------------------------------------ parts */

/* report_id - prefix + 16 hex digits of SHA-256 over what the report
 * says (domain, period, part, records): the same data, the same ID */
static void report_id(const struct run *r, const char *domain,
    time_t begin, time_t end, size_t partno, const struct buf *recs,
    char *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	char head[DMARC_DOMAIN_MAX + 80];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int n;

	n = snprintf(head, sizeof(head), "%s|%lld|%lld|%zu|%d|", domain,
	    (long long)begin, (long long)end, partno, (int)r->mode);
	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, head, (size_t)n) != 1 ||
	    EVP_DigestUpdate(ctx, recs->data, recs->len) != 1 ||
	    EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen < 8)
		log_panic("SHA-256 failed");
	EVP_MD_CTX_free(ctx);
	n = snprintf(out, ID_MAX, "%s", r->id_prefix);
	for (int i = 0; i < 8; i++)
		n += snprintf(out + n, ID_MAX - (size_t)n, "%02x", md[i]);
}

/* part_finish - wrap the records of one part into a report, gzip it */
static int part_finish(const struct run *r, struct part *p,
    const char *domain, const struct dmarc_record *rec, time_t begin,
    time_t end, size_t partno, const struct buf *recs, const char *error)
{
	struct buf x;
	int rc;

	report_id(r, domain, begin, end, partno, recs, p->id);
	snprintf(p->base, sizeof(p->base), "%s!%s!%lld!%lld!%s",
	    r->org_domain, domain, (long long)begin, (long long)end, p->id);
	buf_init(&x, recs->len + 64 * 1024);
	rc = xml_head(r, &x, domain, rec, begin, end, p->id, error);
	if (rc == 0)
		rc = buf_append(&x, recs->data, recs->len);
	if (rc == 0)
		rc = buf_appends(&x, "</feedback>\n");
	if (rc == 0)
		rc = gzip_buf(x.data, x.len, &p->gz);
	buf_free(&x);
	return rc;
}

/* build_parts - the merged rows as one or more gzipped reports; the
 * number of parts, 0 when no row could be used */
static size_t build_parts(const struct run *r, struct merge *m,
    const char *domain, const struct dmarc_record *rec, time_t begin,
    time_t end, struct part **parts_r)
{
	struct mrow **v = xcalloc(m->n ? m->n : 1, sizeof(*v));
	struct part *parts = NULL;
	size_t nv = 0, np = 0, cap = 0;
	struct buf recs;
	char error[160];
	const char *err = NULL;

	for (size_t i = 0; i < m->size; i++)
		for (struct mrow *e = m->tab[i]; e; e = e->next)
			v[nv++] = e;
	qsort(v, nv, sizeof(*v), mrow_cmp);
	if (m->dropped_rows) {
		snprintf(error, sizeof(error), "%llu rows (%llu messages) "
		    "over this reporter's limit of %zu rows per period were "
		    "left out", m->dropped_rows, m->dropped_msgs, m->max);
		err = error;
	}
	/* a record is at most ~26 KB (DMARC_AGG_ROW_MAX bytes of fields,
	 * escaped): one always fits above max_xml */
	buf_init(&recs, r->max_xml + 64 * 1024);
	for (size_t i = 0; i < nv;) {
		unsigned long long msgs = 0;
		size_t rows = 0;
		struct part *p;

		buf_reset(&recs);
		while (i < nv && rows < r->max_rows && recs.len < r->max_xml) {
			size_t before = recs.len;
			int rc = xml_record(r, &recs, v[i], rec, domain);

			if (rc < 0) {
				buf_truncate(&recs, before);
				if (rows == 0) {	/* cannot happen: the
							   margin above */
					m->bad++;
					i++;
				}
				break;
			}
			if (rc == 1) {
				m->bad++;	/* undecodable row */
			} else {
				rows++;
				msgs = add_sat(msgs, v[i]->count);
			}
			i++;
		}
		if (rows == 0)
			continue;
		if (np == cap) {
			cap = cap ? cap * 2 : 4;
			parts = xrealloc(parts, cap * sizeof(*parts));
		}
		p = &parts[np];
		memset(p, 0, sizeof(*p));
		p->rows = rows;
		p->messages = msgs;
		if (part_finish(r, p, domain, rec, begin, end, np + 1, &recs,
		    err) < 0) {
			log_error("domain=%s: report %zu could not be built",
			    domain, np + 1);
			continue;
		}
		np++;
	}
	buf_free(&recs);
	free(v);
	*parts_r = parts;
	return np;
}

/* ----------------------------------------------------------- messages */

/* build_message - the MIME message carrying one report to one
 * destination (RFC 9990 3.5, RFC 7489 7.2.1.1) */
static int build_message(const struct run *r, const struct part *p,
    size_t partno, size_t nparts, const char *domain, time_t begin,
    time_t end, const char *to, size_t destno, struct buf *msg)
{
	char t1[TIME_TEXT_MAX], t2[TIME_TEXT_MAX], date[MAILSEND_DATE_MAX];
	const char *fold;
	size_t subject_len;
	int rc = 0;

	subject_len = strlen("Subject: Report Domain:  Submitter:  "
	    "Report-ID: <>") + strlen(domain) + strlen(r->org_domain) +
	    strlen(p->id);
	fold = subject_len > 78 ? "\r\n " : " ";
	rc |= buf_appendf(msg, "From: %s\r\nTo: %s\r\n", r->email, to);
	rc |= buf_appendf(msg, "Subject: Report Domain: %s%sSubmitter: %s%s"
	    "Report-ID: <%s>\r\n", domain, fold, r->org_domain, fold, p->id);
	rc |= buf_appendf(msg, "Date: %s\r\n", mailsend_date(time(NULL), date));
	rc |= buf_appendf(msg, "Message-ID: <%s.%zu.%zu.%lld.%ld@%s>\r\n",
	    p->id, partno, destno, (long long)time(NULL), (long)getpid(),
	    r->org_domain);
	rc |= buf_appends(msg, "Auto-Submitted: auto-generated\r\n"
	    "MIME-Version: 1.0\r\n");
	rc |= buf_appendf(msg, "Content-Type: multipart/mixed; "
	    "boundary=\"=_postern_%s\"\r\n\r\n", p->id);
	rc |= buf_appends(msg, "This is a MIME message: a DMARC aggregate "
	    "report.\r\n\r\n");
	rc |= buf_appendf(msg, "--=_postern_%s\r\nContent-Type: text/plain; "
	    "charset=us-ascii\r\n\r\n", p->id);
	rc |= buf_appendf(msg, "DMARC aggregate report for %s from %s\r\n"
	    "Period: %s to %s (UTC)\r\nMessages: %llu in %zu records\r\n",
	    domain, r->org_domain, time_text(begin, t1), time_text(end, t2),
	    p->messages, p->rows);
	if (nparts > 1)
		rc |= buf_appendf(msg, "Report %zu of %zu for this period\r\n",
		    partno, nparts);
	rc |= buf_appendf(msg, "Report-ID: %s\r\n\r\n", p->id);
	rc |= buf_appendf(msg, "--=_postern_%s\r\nContent-Type: "
	    "application/gzip; name=\"%s.xml.gz\"\r\nContent-Disposition: "
	    "attachment; filename=\"%s.xml.gz\"\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n", p->id, p->base,
	    p->base);
	rc |= base64_lines(msg, (const unsigned char *)p->gz.data, p->gz.len);
	rc |= buf_appendf(msg, "\r\n--=_postern_%s--\r\n", p->id);
	return rc ? -1 : 0;
}

/* write_file - data into DIR/name (replacing it); -1 logged */
static int write_file(const char *dir, const char *name, const char *data,
    size_t len)
{
	char path[PATH_TEXT_MAX * 2];
	FILE *fp;
	int ok;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fp = fopen(path, "wb")) == NULL) {
		log_error("%s: %s", path, strerror(errno));
		return -1;
	}
	ok = fwrite(data, 1, len, fp) == len;
	if (fclose(fp) != 0 || !ok) {
		log_error("%s: write error", path);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------- destinations */

enum dest_state { D_PENDING, D_SENT, D_ALREADY, D_REFUSED, D_UNAUTH,
	D_TOO_BIG, D_BAD, D_RETRY, D_WRITTEN };

static const char *const dest_state_names[] = { "pending", "sent",
	"already-sent", "refused", "unauthorized", "too-big", "unusable",
	"retry", "written" };

struct dest {
	char addr[MAILSEND_ADDR_MAX];
	const char *domain;		/* into addr */
	unsigned long long max_bytes;	/* 0: none */
	int bcc;
	int auth;			/* dmarc_report_authorized */
};

/* marks - what a marker bucket says was sent */
struct marks {
	char **keys;
	size_t n, cap;
};

/* mark_key - keep one marker key (store_count_read) */
static int mark_key(void *arg, const char *key, size_t keylen,
    long long count)
{
	struct marks *mk = arg;

	if (count <= 0 || keylen > MAILSEND_ADDR_MAX + 32 || mk->n >= 100000)
		return 0;
	if (mk->n == mk->cap) {
		mk->cap = mk->cap ? mk->cap * 2 : 16;
		mk->keys = xrealloc(mk->keys, mk->cap * sizeof(*mk->keys));
	}
	mk->keys[mk->n++] = xstrndup(key, keylen);
	return 0;
}

/* marks_has - was key marked */
static int marks_has(const struct marks *mk, const char *key)
{
	for (size_t i = 0; i < mk->n; i++)
		if (strcmp(mk->keys[i], key) == 0)
			return 1;
	return 0;
}

/* marks_free - release the keys */
static void marks_free(struct marks *mk)
{
	for (size_t i = 0; i < mk->n; i++)
		free(mk->keys[i]);
	free(mk->keys);
	memset(mk, 0, sizeof(*mk));
}

/* dest_list - the destinations of a record: its mailto: rua URIs (each
 * once) and report_bcc; others are logged and skipped */
static size_t dest_list(const struct run *r, const char *domain,
    const struct dmarc_record *rec, struct dest *d)
{
	char san[LOG_SAN_SIZE];
	size_t n = 0;

	for (size_t i = 0; i < rec->nrua && i < DMARC_URIS_MAX; i++) {
		const struct dmarc_uri *u = &rec->rua[i];
		int dup = 0;

		if (strncasecmp(u->uri, "mailto:", 7) != 0 ||
		    !mailsend_addr_valid(u->addr)) {
			log_warn("domain=%s rua=%s: not a usable mailto: "
			    "address, skipped", domain, log_sanitize(san,
			    u->uri, strlen(u->uri)));
			continue;
		}
		for (size_t k = 0; k < n; k++)
			dup |= strcasecmp(d[k].addr, u->addr) == 0;
		if (dup)
			continue;
		memset(&d[n], 0, sizeof(d[n]));
		memcpy(d[n].addr, u->addr, strlen(u->addr) + 1);
		d[n].domain = strrchr(d[n].addr, '@') + 1;
		d[n].max_bytes = u->max_bytes;
		n++;
	}
	if (*r->bcc) {
		memset(&d[n], 0, sizeof(d[n]));
		memcpy(d[n].addr, r->bcc, strlen(r->bcc) + 1);
		d[n].domain = strrchr(d[n].addr, '@') + 1;
		d[n].bcc = 1;
		d[n].auth = 1;
		n++;
	}
	return n;
}

/* ------------------------------------------------------------ periods */

/* period_len - a domain's reporting period for ri (seconds): clamped,
 * then rounded down to a divisor of 24 h */
static long long period_len(const struct run *r, unsigned long ri)
{
	static const int hours[] = { 24, 12, 8, 6, 4, 3, 2, 1 };
	long long want = (long long)ri;

	if (want < r->interval_min)
		want = r->interval_min;
	if (want > r->interval_max)
		want = r->interval_max;
	for (size_t i = 0; i < sizeof(hours) / sizeof(hours[0]); i++)
		if (hours[i] * 3600LL <= want)
			return hours[i] * 3600LL;
	return 3600;
}

/* drop_period - delete the buckets of a period and its marker; 0, or -1
 * (logged: the next run tries again) */
static int drop_period(struct run *r, struct bucket *bs, size_t n,
    const char *mark)
{
	const char *err;

	for (size_t i = 0; i < n; i++)
		if (dmarc_agg_drop(r->store, bs[i].name, &err) < 0) {
			log_error("store: dropping %s: %s", bs[i].name, err);
			r->failed = 1;
			return -1;
		}
	if (mark && store_count_drop(r->store, mark, &err) < 0) {
		log_warn("store: dropping %s: %s", mark, err);
		r->failed = 1;
		return -1;
	}
	return 0;
}

/* read_period - merge the rows and records of n buckets; -1 logged */
static int read_period(struct run *r, struct bucket *bs, size_t n,
    struct merge *m, int rows)
{
	const char *err;
	size_t bad = 0;

	for (size_t i = 0; i < n; i++) {
		if (dmarc_agg_read(r->store, bs[i].name, rows ? merge_row :
		    skip_row, merge_policy, m, &bad, &err) < 0) {
			log_error("store: reading %s: %s", bs[i].name, err);
			r->failed = 1;
			return -1;
		}
		m->bad += bad;
	}
	return 0;
}

struct tally {
	size_t sent, already, refused, unauth, too_big, bad, retry, written;
};

/* send_one - one report part to one destination: marker check, size
 * check, send or write; the state */
static enum dest_state send_one(struct run *r, const struct dest *d,
    size_t destno, const struct part *p, size_t partno, size_t nparts,
    const char *domain, time_t begin, time_t end, const char *mark,
    const struct marks *mk)
{
	char key[MAILSEND_ADDR_MAX + 32], why[MAILSEND_WHY_MAX];
	char san[LOG_SAN_SIZE], name[PATH_TEXT_MAX + 32];
	const char *rcpt = d->addr, *err;
	enum dest_state st;
	struct buf msg;
	long long one = 1;
	const char *keyp = key;
	int rc;

	if ((size_t)snprintf(key, sizeof(key), "%zu:%s%s", partno, d->bcc ?
	    "bcc:" : "", d->addr) >= sizeof(key))
		return D_BAD;
	if (marks_has(mk, key))
		return D_ALREADY;
	buf_init(&msg, MSG_MAX);
	if (build_message(r, p, partno, nparts, domain, begin, end, d->addr,
	    destno, &msg) < 0) {
		buf_free(&msg);
		log_error("domain=%s to=%s id=%s: message too large", domain,
		    d->addr, p->id);
		return D_TOO_BIG;
	}
	if (d->max_bytes && msg.len > d->max_bytes) {
		log_info("domain=%s to=%s id=%s result=too-big bytes=%zu "
		    "limit=%llu", domain, d->addr, p->id, msg.len,
		    d->max_bytes);
		buf_free(&msg);
		return D_TOO_BIG;
	}
	if (r->dry_dir) {
		snprintf(name, sizeof(name), "%s.%zu.eml", p->base, destno);
		st = write_file(r->dry_dir, name, msg.data, msg.len) < 0 ?
		    D_RETRY : D_WRITTEN;
		log_info("domain=%s to=%s id=%s result=%s file=%s", domain,
		    d->addr, p->id, dest_state_names[st], name);
		buf_free(&msg);
		return st;
	}
	rc = mailsend_send(&r->ms, r->email, &rcpt, 1, msg.data, msg.len,
	    NULL, why, sizeof(why));
	buf_free(&msg);
	st = rc == 0 ? D_SENT : rc > 0 ? D_REFUSED : D_RETRY;
	log_info("domain=%s to=%s id=%s result=%s%s%s", domain, d->addr,
	    p->id, dest_state_names[st], rc ? " why=" : "", rc ?
	    log_sanitize(san, why, strlen(why)) : "");
	if (st == D_SENT && store_count_add(r->store, mark, &keyp, &one, 1,
	    &err) < 0)
		log_warn("store: %s: cannot note that %s got %s (%s): the next "
		    "run may send it again", mark, d->addr, p->id, err);
	return st;
}

/* report_period - build, send and drop one domain's period */
static void report_period(struct run *r, const char *domain,
    struct bucket *bs, size_t n, time_t begin, long long len,
    const struct dmarc_record *fallback, const char *skip_why)
{
	char t1[TIME_TEXT_MAX], t2[TIME_TEXT_MAX], mark[STORE_BUCKET_MAX];
	struct dest dests[DMARC_URIS_MAX + 1];
	struct dmarc_record *rec = xcalloc(1, sizeof(*rec));
	struct part *parts = NULL;
	struct marks mk = { 0 };
	struct tally t = { 0 };
	struct merge m;
	const char *outcome, *err;
	time_t end = begin + (time_t)len - 1;
	size_t nd = 0, np = 0;
	int expired = r->now > begin + len + r->max_age;

	snprintf(mark, sizeof(mark), MARK_PREFIX "%lld/%s", (long long)begin,
	    domain);
	time_text(begin, t1);
	time_text(end, t2);
	merge_init(&m, r->max_period_rows);
	if (skip_why) {
		outcome = skip_why;
		goto drop;
	}
	if (read_period(r, bs, n, &m, 1) < 0) {
		merge_free(&m);
		free(rec);
		return;
	}
	if (m.bad)
		log_warn("domain=%s period=%s..%s: %zu malformed rows skipped",
		    domain, t1, t2, m.bad);
	if (m.dropped_rows)
		log_warn("domain=%s period=%s..%s: %llu rows (%llu messages) "
		    "over report_max_period_rows left out", domain, t1, t2,
		    m.dropped_rows, m.dropped_msgs);
	if (best_policy(r, &m, rec) < 0) {
		/* no record noted in this period's hours: the domain's */
		if (fallback == NULL) {
			outcome = "no-policy";
			goto drop;
		}
		*rec = *fallback;
	}
	nd = dest_list(r, domain, rec, dests);
	if (nd == 0) {
		outcome = "no-rua";
		goto drop;
	}
	np = build_parts(r, &m, domain, rec, begin, end, &parts);
	if (np == 0) {
		outcome = "empty";
		goto drop;
	}
	if (store_count_read(r->store, mark, mark_key, &mk, &err) < 0) {
		log_error("store: reading %s: %s", mark, err);
		r->failed = 1;
		t.retry++;
		outcome = "retry";
		goto log;
	}
	for (size_t k = 0; k < nd; k++) {
		struct dest *d = &dests[k];
		enum dest_state st = D_PENDING;

		if (!d->bcc)
			d->auth = dmarc_report_authorized(r->dmarc, domain,
			    d->domain);
		if (d->auth != 1) {
			st = d->auth == 0 ? D_UNAUTH : D_RETRY;
			log_info("domain=%s to=%s result=%s%s", domain, d->addr,
			    dest_state_names[st], d->auth == 0 ? " (no "
			    "_report._dmarc authorization record)" :
			    " (DNS failure checking the authorization)");
			if (st == D_UNAUTH)
				t.unauth++;
			else
				t.retry++;
			continue;
		}
		for (size_t i = 0; i < np; i++) {
			st = send_one(r, d, k + 1, &parts[i], i + 1, np,
			    domain, begin, end, mark, &mk);
			switch (st) {
			case D_SENT: t.sent++; break;
			case D_ALREADY: t.already++; break;
			case D_BAD:
			case D_REFUSED: t.refused++; break;
			case D_TOO_BIG: t.too_big++; break;
			case D_WRITTEN: t.written++; break;
			default: t.retry++; break;
			}
		}
	}
	if (r->dry_dir)
		for (size_t i = 0; i < np; i++) {
			char name[PATH_TEXT_MAX + 8];

			snprintf(name, sizeof(name), "%s.xml.gz", parts[i].base);
			if (write_file(r->dry_dir, name, parts[i].gz.data,
			    parts[i].gz.len) < 0)
				t.retry++;
		}
	outcome = t.retry ? "retry" : r->dry_dir ? "written" : "done";
	if (t.retry) {
		if (!expired || r->dry_dir) {
			r->failed = 1;
			goto log;
		}
		outcome = "expired";
	}
drop:
	if (!r->dry_dir || r->drop)
		drop_period(r, bs, n, mark);
log:
	log_info("domain=%s period=%s..%s rows=%zu messages=%llu reports=%zu "
	    "destinations=%zu sent=%zu already=%zu refused=%zu "
	    "unauthorized=%zu too_big=%zu retry=%zu outcome=%s%s%s",
	    domain, t1, t2, m.n, m.messages, np, nd, t.sent + t.written,
	    t.already, t.refused, t.unauth, t.too_big, t.retry, outcome,
	    np ? " id=" : "", np ? parts[0].id : "");
	for (size_t i = 0; i < np; i++)
		buf_free(&parts[i].gz);
	free(parts);
	marks_free(&mk);
	merge_free(&m);
	free(rec);
}

/* report_domain - every ended period of one domain's buckets (sorted by
 * hour) */
static void report_domain(struct run *r, struct bucket *bs, size_t n)
{
	const char *domain = bs[0].domain, *skip_why = NULL;
	struct dmarc_record *rec = xcalloc(1, sizeof(*rec));
	char san[LOG_SAN_SIZE];
	unsigned long ri = 86400;
	int have_rec = 0;
	struct merge m;
	long long len;

	if (!host_safe(domain)) {
		log_warn("bucket domain \"%s\" is not a plain host name: its "
		    "data is dropped unreported", log_sanitize(san, domain,
		    strlen(domain)));
		skip_why = "unusable-domain";
	} else if (in_list(r->skip, r->nskip, domain)) {
		skip_why = "skipped";
	} else {
		merge_init(&m, 0);
		if (read_period(r, bs, n, &m, 0) < 0) {
			merge_free(&m);
			free(rec);
			return;
		}
		have_rec = best_policy(r, &m, rec) == 0;
		/* RFC 9989 makes ri= historic: DMARCbis reports are daily
		 * (or as report_interval_min/max say) */
		if (have_rec && r->mode == DMARC_MODE_RFC7489)
			ri = rec->ri;
		merge_free(&m);
	}
	len = period_len(r, ri);
	for (size_t i = 0; i < n;) {
		time_t begin = bs[i].hour - bs[i].hour % (time_t)len;
		size_t j = i;

		while (j < n && bs[j].hour >= begin &&
		    bs[j].hour < begin + (time_t)len)
			j++;
		if (begin + len + r->delay <= r->now)
			report_period(r, domain, bs + i, j - i, begin, len,
			    have_rec ? rec : NULL, skip_why);
		else
			log_debug("domain=%s period from %lld still open",
			    domain, (long long)begin);
		i = j;
	}
	free(rec);
}

/* expire_marks - drop marker buckets of periods long gone (their data
 * was reported or expired; a marker left behind by a failed drop) */
static void expire_marks(struct run *r)
{
	const char *err;

	if (store_count_buckets(r->store, mark_one, r, &err) < 0) {
		log_warn("store: listing markers: %s", err);
		return;
	}
	for (size_t i = 0; i < r->nmarks; i++) {
		long long begin = strtoll(r->marks[i] + strlen(MARK_PREFIX),
		    NULL, 10);

		if (begin + 86400 + r->max_age + 2 * 86400 < (long long)r->now &&
		    !r->dry_dir && store_count_drop(r->store, r->marks[i],
		    &err) < 0)
			log_warn("store: dropping %s: %s", r->marks[i], err);
		free(r->marks[i]);
	}
	free(r->marks);
	r->marks = NULL;
	r->nmarks = 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dry-run", required_argument, NULL, 'n' },
		{ "drop", no_argument, NULL, 'D' },
		{ "domain", required_argument, NULL, 'd' },
		{ "now", required_argument, NULL, 'N' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 } };
	/* static: its -o list is still referenced when a config error exits */
	static struct tool_opts opts;
	struct run r = { 0 };
	const char *err;
	struct stat st;
	int ch;

	tool_set_name(PROG);
	log_open(PROG, 1);
	signal(SIGPIPE, SIG_IGN);
	tool_opts_init(&opts, help_text, "postern-dmarc.conf", argc);
	r.now = time(NULL);
	while ((ch = getopt_long(argc, argv, "c:o:n:vhV", longopts,
	    NULL)) != -1) {
		if (tool_opts_take(&opts, ch, optarg))
			continue;
		switch (ch) {
		case 'n':
			r.dry_dir = optarg;
			break;
		case 'D':
			r.drop = 1;
			break;
		case 'd':
			if (!dns_name_valid(optarg))
				usage("--domain: not a domain name");
			r.only_domain = optarg;
			break;
		case 'N':
			if (time_parse(optarg, &r.now) < 0)
				usage("--now: Unix seconds or "
				    "YYYY-MM-DDTHH:MM:SSZ");
			break;
		case 'v':
			log_set_level(LOG_L_DEBUG);
			break;
		default:
			usage(NULL);
		}
	}
	if (optind < argc)
		usage("unexpected arguments");
	if (r.drop && !r.dry_dir)
		usage("--drop goes with --dry-run");
	if (r.dry_dir && (stat(r.dry_dir, &st) < 0 || !S_ISDIR(st.st_mode)))
		tool_die(EXIT_USAGE, "--dry-run %s: not a directory",
		    r.dry_dir);
	r.cfg = cfg_new(report_defs);
	(void)tool_cfg_load(EXIT_USAGE, r.cfg, &opts);
	tool_opts_free(&opts);
	run_config(&r);
	open_dmarc(&r);
	if ((r.store = open_store(&r)) != NULL) {
		if (dmarc_agg_buckets(r.store, bucket_one, &r, &err) < 0) {
			log_error("store: listing buckets: %s", err);
			r.failed = 1;
		}
		qsort(r.b, r.nb, sizeof(*r.b), bucket_cmp);
		for (size_t i = 0; i < r.nb;) {
			size_t j = i + 1;

			while (j < r.nb && strcasecmp(r.b[j].domain,
			    r.b[i].domain) == 0)
				j++;
			report_domain(&r, r.b + i, j - i);
			i = j;
		}
		if (!r.only_domain)
			expire_marks(&r);
	}
	for (size_t i = 0; i < r.nb; i++) {
		free(r.b[i].name);
		free(r.b[i].domain);
	}
	free(r.b);
	store_close(&r.store);
	dmarc_free(&r.dmarc);
	psl_free(&r.psl);
	dns_resolver_free(&r.res);
	cfg_unref(&r.cfg);
	return r.failed ? EXIT_FAILED : EXIT_OK;
}
