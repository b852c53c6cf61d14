/*
 * dmarc_ruf_t.c - DMARC failure reports (common/dmarc_ruf.c).
 *
 * Covered: the fo= truth table (0, 1, d, s and their combinations over
 * SPF and DKIM pass/fail/aligned), and through the engine on canned DNS;
 * the report's structure (CRLF only, printable ASCII, lines <= 998, one
 * boundary, three parts, the ARF fields RFC 6591/9991 ask for,
 * Identity-Alignment in both modes, DKIM and SPF report kinds); hostile
 * header names and values (CR/LF injection, NUL, 8-bit, a 100 KB value,
 * a boundary look-alike), hostile HELO, envelope and SPF record; the
 * size bound (header fields left out, said in the text part) and a
 * bound too small for any report; the rate limiter (exact counts over
 * an hour of fake time, the total bucket, the domain LRU bound, threads);
 * delivery through a fake sendmail (destinations, duplicates, external
 * authorization, other schemes, bcc, limits, !size in rfc7489 mode, psd=y,
 * reports about reports), synchronous and through the outbox (and a full
 * outbox).  The MIME parse by Python's email package and SMTP delivery
 * are in t/dmarc-ruf.t.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "dmarc.h"
#include "dmarc_ruf.h"
#include "log.h"
#include "mailsend.h"
#include "tap.h"
#include "xalloc.h"

/* ------------------------------------------------------- canned DNS */

struct rrdef {
	const char *name;
	enum dns_status status;
	const char *txt;
};

static const struct rrdef zone[] = {
	{ "_dmarc.example.com", DNS_OK, "v=DMARC1; p=reject; fo=1; "
	  "ruf=mailto:ruf@example.com,mailto:RUF@example.com,"
	  "mailto:ext@thirdparty.example,mailto:no@other.example,"
	  "https://example.com/ruf,mailto:r@slow.example" },
	{ "example.com._report._dmarc.thirdparty.example", DNS_OK,
	  "v=DMARC1" },
	{ "example.com._report._dmarc.slow.example", DNS_TIMEOUT, NULL },
	{ "bad.example", DNS_OK, "v=spf1 ip4:192.0.2.0/24 -all" },
	{ "bad.example", DNS_OK, "google-site-verification=xyz" },
	{ "_dmarc.psd.example", DNS_OK,
	  "v=DMARC1; p=reject; psd=y; ruf=mailto:r@psd.example" },
	{ "_dmarc.size.example", DNS_OK,
	  "v=DMARC1; p=reject; ruf=mailto:ruf@size.example!5k" },
	{ "_dmarc.fo0.example", DNS_OK,
	  "v=DMARC1; p=reject; ruf=mailto:ruf@fo0.example" },
};

/* lookup - answers from the zone above */
static struct dns_answer *lookup(void *arg, const char *name,
    uint16_t type)
{
	struct dns_answer *a;
	size_t nz = sizeof(zone) / sizeof(*zone);

	(void)arg;
	for (size_t i = 0; i < nz; i++)
		if (strcasecmp(zone[i].name, name) == 0 &&
		    zone[i].status != DNS_OK)
			return dns_answer_new(zone[i].status);
	a = dns_answer_new(DNS_NXDOMAIN);
	a->rr = xcalloc(nz, sizeof(*a->rr));
	for (size_t i = 0; i < nz; i++) {
		struct dns_rr *rr;

		if (strcasecmp(zone[i].name, name) != 0)
			continue;
		a->status = DNS_NODATA;
		if (type != DNS_T_TXT)
			continue;
		rr = &a->rr[a->n++];
		rr->type = DNS_T_TXT;
		rr->ttl = 300;
		rr->txt = xstrdup(zone[i].txt);
		rr->txt_len = strlen(zone[i].txt);
		rr->txt_count = 1;
		a->status = DNS_OK;
	}
	return a;
}

/* ------------------------------------------------------- fixtures */

static const struct dmarc_ruf_reporter rep = {
	"dmarc-reports@reporter.example", "Reporter Org", "reporter.example",
	"mx.reporter.example", "mx.reporter.example", DMARC_MODE_BIS,
};

static const struct dmarc_ruf_hdr plain_hdrs[] = {
	{ "Received", " from bad.example (bad.example [192.0.2.1])\r\n\tby "
	  "mx.reporter.example; Tue, 14 Nov 2023 22:13:20 +0000", 0 },
	{ "From", " Boss <boss@example.com>", 0 },
	{ "To", " victim@reporter.example", 0 },
	{ "Subject", " Urgent wire transfer", 0 },
	{ "Message-ID", " <1@bad.example>", 0 },
};
#define NPLAIN (sizeof(plain_hdrs) / sizeof(*plain_hdrs))

static struct dmarc_ruf_hdr hdrs[NPLAIN];

/* set_auth - SPF fail for bad.example, DKIM fail for example.com (an
 * aligned identifier) and pass for other.example */
static void set_auth(struct dmarc_auth *a)
{
	memset(a, 0, sizeof(*a));
	a->spf_domain = "bad.example";
	a->spf = SPF_FAIL;
	a->ndkim = 2;
	a->dkim[0].domain = "other.example";
	a->dkim[0].selector = "s2";
	a->dkim[0].result = DKIM_RES_PASS;
	a->dkim[1].domain = "example.com";
	a->dkim[1].selector = "sel1";
	a->dkim[1].result = DKIM_RES_FAIL;
}

/* set_ev - a DMARC fail of example.com under p=reject, fo=1 */
static void set_ev(struct dmarc_eval *ev)
{
	const char *err;
	const char *rec = "v=DMARC1; p=reject; fo=1; "
	    "ruf=mailto:ruf@example.com";

	memset(ev, 0, sizeof(*ev));
	ev->result = DMARC_FAIL;
	snprintf(ev->from_domain, sizeof(ev->from_domain), "example.com");
	snprintf(ev->policy_domain, sizeof(ev->policy_domain), "example.com");
	ev->have_record = 1;
	if (dmarc_record_parse(rec, strlen(rec), DMARC_MODE_BIS, &ev->rec,
	    &err) != 0)
		ok(0, "fixture record parses: %s", err);
	ev->policy = ev->disposition = DMARC_P_REJECT;
	ev->dkim_aligned_index = -1;
}

/* set_msg - the facts of the message */
static void set_msg(struct dmarc_ruf_msg *m, const struct dmarc_auth *a)
{
	memset(m, 0, sizeof(*m));
	for (size_t i = 0; i < NPLAIN; i++) {
		hdrs[i] = plain_hdrs[i];
		hdrs[i].vlen = strlen(hdrs[i].value);
	}
	m->queue_id = "4AE9D403CC";
	m->source_ip = "192.0.2.1";
	m->helo = "bad.example";
	m->mail_from = "user@bad.example";
	m->arrival = 1700000000;
	m->auth = a;
	m->delivery_result = "reject";
	m->hdrs = hdrs;
	m->nhdrs = NPLAIN;
}

/* ------------------------------------------------ report structure */

/* unfold - b's text with every CRLF before white space removed */
static char *unfold(const struct buf *b)
{
	char *s = xmalloc(b->len + 1);
	size_t n = 0;

	for (size_t i = 0; i < b->len; i++) {
		if (b->data[i] == '\r' && i + 2 < b->len &&
		    b->data[i + 1] == '\n' &&
		    (b->data[i + 2] == ' ' || b->data[i + 2] == '\t')) {
			i++;
			continue;
		}
		s[n++] = b->data[i];
	}
	s[n] = '\0';
	return s;
}

/* contains - does the unfolded report hold s? */
static int contains(const struct buf *b, const char *s)
{
	char *u = unfold(b);
	int r = strstr(u, s) != NULL;

	free(u);
	return r;
}

/* count_lines_starting - lines of the raw report that start with s */
static size_t count_lines_starting(const struct buf *b, const char *s)
{
	size_t n = 0, sl = strlen(s);

	for (size_t i = 0; i < b->len; i++)
		if ((i == 0 || b->data[i - 1] == '\n') &&
		    b->len - i >= sl && memcmp(b->data + i, s, sl) == 0)
			n++;
	return n;
}

struct shape {
	char boundary[128];
	size_t part_fields[4];	/* field lines of parts 1..3 (0 unused) */
	size_t longest;		/* longest line */
	size_t longest_hdr;	/* longest line of the header part */
};

/*
 * structure - NULL when b is a sound report: CRLF line ends only,
 * printable ASCII, lines <= 998, a top-level header of our fields only,
 * a boundary whose delimiter lines are exactly three and a close at the
 * end, and parts 2 and 3 made of header fields only
 */
static const char *structure(const struct buf *b, struct shape *sh)
{
	const char *s = b->data, *p, *q;
	size_t n = b->len, line = 0, nopen = 0, nclose = 0, part = 0;
	int in_head = 1, in_part_head = 0;
	char open[140], close[140];
	static const char *const top[] = { "From:", "To:", "Subject:",
	    "Date:", "Message-ID:", "Auto-Submitted:", "MIME-Version:",
	    "Content-Type:" };

	memset(sh, 0, sizeof(*sh));
	if (n < 2 || memcmp(s + n - 2, "\r\n", 2) != 0)
		return "does not end with CRLF";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\r') {
			if (i + 1 >= n || s[i + 1] != '\n')
				return "bare CR";
		} else if (c == '\n') {
			if (i == 0 || s[i - 1] != '\r')
				return "bare LF";
			if (line - 1 > sh->longest)
				sh->longest = line - 1;
			if (part == 3 && line - 1 > sh->longest_hdr)
				sh->longest_hdr = line - 1;
			line = 0;
			continue;
		} else if ((c < 32 && c != '\t') || c >= 127) {
			return "control or 8-bit byte";
		}
		line++;
	}
	if (sh->longest > 998)
		return "line over 998";
	if ((p = strstr(s, "boundary=\"")) == NULL)
		return "no boundary";
	p += 10;
	if ((q = strchr(p, '"')) == NULL || (size_t)(q - p) >= 100)
		return "bad boundary";
	memcpy(sh->boundary, p, (size_t)(q - p));
	sh->boundary[q - p] = '\0';
	snprintf(open, sizeof(open), "--%s", sh->boundary);
	snprintf(close, sizeof(close), "--%s--", sh->boundary);
	for (const char *l = s; l < s + n; ) {
		const char *e = strstr(l, "\r\n");
		size_t ll = (size_t)(e - l);

		if (ll == strlen(close) && memcmp(l, close, ll) == 0) {
			nclose++;
			if (e + 2 != s + n)
				return "text after the closing delimiter";
		} else if (ll == strlen(open) && memcmp(l, open, ll) == 0) {
			nopen++;
			part++;
			in_part_head = 1;
		} else if (ll >= 2 && memcmp(l, open, ll < strlen(open) ?
		    ll : strlen(open)) == 0 && ll >= strlen(open)) {
			return "a line starting with the delimiter";
		} else if (in_head) {
			if (ll == 0) {
				in_head = 0;
			} else if (*l != ' ' && *l != '\t') {
				int known = 0;

				for (size_t i = 0; i < sizeof(top) /
				    sizeof(*top); i++)
					if (strncmp(l, top[i],
					    strlen(top[i])) == 0)
						known = 1;
				if (!known)
					return "unknown top-level header line";
			}
		} else if (in_part_head) {
			if (ll == 0)
				in_part_head = 0;
			else if (*l != ' ' && *l != '\t' &&
			    strncmp(l, "Content-", 8) != 0)
				return "unknown MIME part header";
		} else if (part >= 2 && ll > 0) {
			/* feedback fields, original header fields */
			if (*l != ' ' && *l != '\t') {
				const char *c = memchr(l, ':', ll);

				if (c == NULL || c == l)
					return "a line that is no field";
				for (const char *x = l; x < c; x++)
					if (*x <= 32 || *x >= 127)
						return "bad field name";
				sh->part_fields[part]++;
			}
		}
		l = e + 2;
	}
	if (nopen != 3 || nclose != 1)
		return "not three parts and one close";
	return NULL;
}

/* -------------------------------------------------------- fo= table */

struct fo_case {
	const char *name;
	int spf_aligned, dkim_aligned;
	enum spf_result spf;
	int has_spf;
	enum dkim_result dkim;		/* DKIM_RES_NONE: no signature */
	enum dmarc_result result;
	/* expected for fo = 0, 1, d, s, d:s, 0:d:s */
	unsigned want[6];
};

#define D DMARC_RUF_DMARC
#define K DMARC_RUF_DKIM
#define S DMARC_RUF_SPF

static const struct fo_case fo_cases[] = {
	{ "both aligned pass", 1, 1, SPF_PASS, 1, DKIM_RES_PASS, DMARC_PASS,
	  { 0, 0, 0, 0, 0, 0 } },
	{ "SPF aligned, DKIM sig fails", 1, 0, SPF_PASS, 1, DKIM_RES_FAIL,
	  DMARC_PASS, { 0, D, K, 0, K, K } },
	{ "SPF pass unaligned, DKIM aligned", 0, 1, SPF_PASS, 1,
	  DKIM_RES_PASS, DMARC_PASS, { 0, D, 0, 0, 0, 0 } },
	{ "SPF fail, DKIM aligned", 0, 1, SPF_FAIL, 1, DKIM_RES_PASS,
	  DMARC_PASS, { 0, D, 0, S, S, S } },
	{ "SPF fail, DKIM fail", 0, 0, SPF_FAIL, 1, DKIM_RES_FAIL,
	  DMARC_FAIL, { D, D, K, S, K | S, D } },
	{ "both pass, neither aligned", 0, 0, SPF_PASS, 1, DKIM_RES_PASS,
	  DMARC_FAIL, { D, D, 0, 0, 0, D } },
	{ "SPF softfail, no signature", 0, 0, SPF_SOFTFAIL, 1, DKIM_RES_NONE,
	  DMARC_FAIL, { D, D, 0, S, S, D } },
	{ "SPF aligned, no signature", 1, 0, SPF_PASS, 1, DKIM_RES_NONE,
	  DMARC_PASS, { 0, D, 0, 0, 0, 0 } },
	{ "no SPF, DKIM permerror", 0, 0, SPF_NONE, 0, DKIM_RES_PERMERROR,
	  DMARC_FAIL, { D, D, K, 0, K, D } },
	{ "SPF temperror, DKIM temperror", 0, 0, SPF_TEMPERROR, 1,
	  DKIM_RES_TEMPERROR, DMARC_FAIL, { D, D, 0, 0, 0, D } },
	{ "SPF neutral, DKIM neutral", 0, 0, SPF_NEUTRAL, 1,
	  DKIM_RES_NEUTRAL, DMARC_FAIL, { D, D, K, 0, K, D } },
};

static void test_wanted(void)
{
	static const unsigned fos[6] = { DMARC_FO_0, DMARC_FO_1, DMARC_FO_D,
	    DMARC_FO_S, DMARC_FO_D | DMARC_FO_S,
	    DMARC_FO_0 | DMARC_FO_D | DMARC_FO_S };
	static const char *const fonames[6] = { "0", "1", "d", "s", "d:s",
	    "0:d:s" };
	struct dmarc_eval *ev = xmalloc(sizeof(*ev));
	struct dmarc_auth a;
	int bad = 0;

	for (size_t c = 0; c < sizeof(fo_cases) / sizeof(*fo_cases); c++) {
		const struct fo_case *fc = &fo_cases[c];

		set_ev(ev);
		memset(&a, 0, sizeof(a));
		ev->result = fc->result;
		ev->spf_aligned = fc->spf_aligned;
		ev->dkim_aligned = fc->dkim_aligned;
		a.spf_domain = fc->has_spf ? "example.com" : NULL;
		a.spf = fc->spf;
		if (fc->dkim != DKIM_RES_NONE) {
			a.ndkim = 1;
			a.dkim[0].domain = "example.com";
			a.dkim[0].result = fc->dkim;
		}
		for (int f = 0; f < 6; f++) {
			unsigned got;

			ev->rec.fo = fos[f];
			got = dmarc_ruf_wanted(&ev->rec, ev, &a);
			if (got != fc->want[f]) {
				bad++;
				ok(0, "fo=%s, %s: got %#x want %#x", fonames[f],
				    fc->name, got, fc->want[f]);
			}
		}
	}
	ok(bad == 0, "fo= truth table: %zu cases x 6 fo values",
	    sizeof(fo_cases) / sizeof(*fo_cases));
	/* fo absent (0 in the struct) is fo=0 */
	set_ev(ev);
	memset(&a, 0, sizeof(a));
	ev->rec.fo = 0;
	is_int(dmarc_ruf_wanted(&ev->rec, ev, &a), D, "fo unset acts as fo=0");
	ev->rec.fo = DMARC_FO_1;
	ev->rec.psd = 'y';
	is_int(dmarc_ruf_wanted(&ev->rec, ev, &a), 0, "psd=y: ruf ignored");
	ev->rec.psd = 'n';
	ev->rec.nruf = 0;
	is_int(dmarc_ruf_wanted(&ev->rec, ev, &a), 0, "no ruf=: nothing");
	ev->rec.nruf = 1;
	ev->result = DMARC_TEMPERROR;
	is_int(dmarc_ruf_wanted(&ev->rec, ev, &a), 0, "temperror: nothing");
	ev->result = DMARC_PERMERROR;
	is_int(dmarc_ruf_wanted(&ev->rec, ev, &a), 0, "permerror: nothing");
	ev->result = DMARC_FAIL;
	ev->have_record = 0;
	is_int(dmarc_ruf_wanted(&ev->rec, ev, &a), 0, "no record: nothing");
	free(ev);
}

/* the same decisions through the engine, on the canned zone */
static void test_wanted_engine(void)
{
	struct dmarc_opts o = { DMARC_MODE_BIS, NULL, lookup, NULL, NULL,
	    NULL };
	struct dmarc *d = dmarc_new(&o);
	struct dmarc_eval *ev = xmalloc(sizeof(*ev));
	struct dmarc_auth a;

	memset(&a, 0, sizeof(a));
	a.spf_domain = "example.com";
	a.spf = SPF_PASS;
	dmarc_evaluate(d, "example.com", &a, ev);
	is_int(ev->result, DMARC_PASS, "engine: aligned SPF pass");
	is_int(dmarc_ruf_wanted(&ev->rec, ev, &a), D, "engine: fo=1 and no "
	    "DKIM: a DMARC report even on pass");
	dmarc_evaluate(d, "fo0.example", &a, ev);
	is_int(ev->result, DMARC_FAIL, "engine: fo0.example fails (SPF "
	    "domain not aligned)");
	is_int(dmarc_ruf_wanted(&ev->rec, ev, &a), D, "engine: fo=0 fail: "
	    "a DMARC report");
	dmarc_evaluate(d, "psd.example", &a, ev);
	is_int(dmarc_ruf_wanted(&ev->rec, ev, &a), 0, "engine: psd=y "
	    "record: no report");
	free(ev);
	dmarc_free(&d);
}

/* ------------------------------------------------------- build tests */

static void test_build(void)
{
	struct dmarc_auth a;
	struct dmarc_eval *ev = xmalloc(sizeof(*ev));
	struct dmarc_ruf_msg m;
	struct dmarc_ruf_reporter r7 = rep;
	struct buf b, b2;
	struct shape sh;
	const char *err, *why;
	char bd1[128];
	size_t omitted = 99;

	set_auth(&a);
	set_ev(ev);
	set_msg(&m, &a);
	m.spf_dns[0] = "v=spf1 ip4:192.0.2.0/24 -all";
	m.nspf_dns = 1;
	buf_init(&b, DMARC_RUF_MAX_BYTES);
	buf_init(&b2, DMARC_RUF_MAX_BYTES);
	is_int(dmarc_ruf_build(&rep, &m, ev, DMARC_RUF_DMARC,
	    "ruf@example.com", 0, &b, &omitted, &err), 0, "build: a DMARC "
	    "report");
	why = structure(&b, &sh);
	ok(why == NULL, "structure sound (%s)", why ? why : "ok");
	is_int(omitted, 0, "no header field left out");
	is_int(sh.part_fields[3], NPLAIN, "every original header field, "
	    "each once");
	ok(sh.longest <= 78, "lines folded at 78 (longest %zu)", sh.longest);
	{
		static const char *const want[] = {
			"From: dmarc-reports@reporter.example\r\n",
			"To: ruf@example.com\r\n",
			"Subject: DMARC failure report for example.com from "
			    "reporter.example\r\n",
			"Auto-Submitted: auto-generated\r\n",
			"MIME-Version: 1.0\r\n",
			"Content-Type: multipart/report; "
			    "report-type=feedback-report;",
			"Content-Type: text/plain; charset=us-ascii\r\n",
			"Content-Type: message/feedback-report\r\n",
			"Content-Type: text/rfc822-headers\r\n",
			"\r\n\r\nFeedback-Type: auth-failure\r\n",
			"User-Agent: postern-dmarc/",
			"Version: 1\r\n",
			"Auth-Failure: dmarc\r\n",
			"Authentication-Results: mx.reporter.example; "
			    "dmarc=fail (p=reject dis=reject) "
			    "header.from=example.com; spf=fail "
			    "smtp.mailfrom=bad.example; dkim=pass "
			    "header.d=other.example header.s=s2; dkim=fail "
			    "header.d=example.com header.s=sel1\r\n",
			"Identity-Alignment: dkim, spf\r\n",
			"Delivery-Result: reject\r\n",
			"DKIM-Domain: example.com\r\n",
			"DKIM-Identity: @example.com\r\n",
			"DKIM-Selector: sel1\r\n",
			"SPF-DNS: txt : bad.example : \"v=spf1 "
			    "ip4:192.0.2.0/24 -all\"\r\n",
			"Original-Envelope-Id: 4AE9D403CC\r\n",
			"Original-Mail-From: <user@bad.example>\r\n",
			"Arrival-Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n",
			"Reporting-MTA: dns; mx.reporter.example\r\n",
			"Source-IP: 192.0.2.1\r\n",
			"Reported-Domain: example.com\r\n",
			"Subject: Urgent wire transfer\r\n",
			"Received: from bad.example (bad.example "
			    "[192.0.2.1]) by mx.reporter.example; Tue, 14 "
			    "Nov 2023 22:13:20 +0000\r\n",
		};
		int missing = 0;

		for (size_t k = 0; k < sizeof(want) / sizeof(*want); k++)
			if (!contains(&b, want[k])) {
				missing++;
				ok(0, "report holds %s", want[k]);
			}
		ok(missing == 0, "every expected header and field is there");
	}
	is_int(count_lines_starting(&b, "Original-Rcpt-To:"), 0,
	    "no Original-Rcpt-To unless given (privacy)");
	is_int(count_lines_starting(&b, "Feedback-Type:"), 1,
	    "Feedback-Type once");
	ok(strstr(b.data, "The header of the message is attached; its body "
	    "is not") != NULL, "the text part says the body is left out");
	snprintf(bd1, sizeof(bd1), "%s", sh.boundary);
	dmarc_ruf_build(&rep, &m, ev, DMARC_RUF_DMARC, "ruf@example.com", 0,
	    &b2, NULL, &err);
	structure(&b2, &sh);
	ok(strcmp(bd1, sh.boundary) != 0 && strlen(bd1) == 46,
	    "a fresh random boundary per report");

	m.rcpt = "victim@reporter.example";
	dmarc_ruf_build(&rep, &m, ev, DMARC_RUF_DMARC, "ruf@example.com", 0,
	    &b, NULL, &err);
	ok(contains(&b, "Original-Rcpt-To: <victim@reporter.example>\r\n"),
	    "Original-Rcpt-To when the caller gives one");
	m.rcpt = NULL;

	/* Identity-Alignment: RFC 9991 lists failures, RFC 7489 successes */
	r7.mode = DMARC_MODE_RFC7489;
	ev->dkim_aligned = 1;
	ev->dkim_aligned_index = 0;
	dmarc_ruf_build(&rep, &m, ev, DMARC_RUF_DMARC, "ruf@example.com", 0,
	    &b, NULL, &err);
	ok(contains(&b, "Identity-Alignment: spf\r\n"), "bis, DKIM aligned: "
	    "spf failed");
	dmarc_ruf_build(&r7, &m, ev, DMARC_RUF_DMARC, "ruf@example.com", 0,
	    &b, NULL, &err);
	ok(contains(&b, "Identity-Alignment: dkim\r\n"), "rfc7489, DKIM "
	    "aligned: dkim produced one");
	ev->spf_aligned = 1;
	dmarc_ruf_build(&rep, &m, ev, DMARC_RUF_DMARC, "ruf@example.com", 0,
	    &b, NULL, &err);
	ok(contains(&b, "Identity-Alignment: none\r\n"), "bis, both: none");
	dmarc_ruf_build(&r7, &m, ev, DMARC_RUF_DMARC, "ruf@example.com", 0,
	    &b, NULL, &err);
	ok(contains(&b, "Identity-Alignment: dkim, spf\r\n"), "rfc7489, "
	    "both: dkim, spf");
	ev->spf_aligned = ev->dkim_aligned = 0;
	ev->dkim_aligned_index = -1;
	dmarc_ruf_build(&r7, &m, ev, DMARC_RUF_DMARC, "ruf@example.com", 0,
	    &b, NULL, &err);
	ok(contains(&b, "Identity-Alignment: none\r\n"), "rfc7489, neither: "
	    "none");

	/* the DKIM and SPF kinds */
	dmarc_ruf_build(&rep, &m, ev, DMARC_RUF_DKIM, "ruf@example.com", 0,
	    &b, NULL, &err);
	ok(structure(&b, &sh) == NULL &&
	    contains(&b, "Auth-Failure: signature\r\n") &&
	    contains(&b, "DKIM-Domain: example.com\r\n") &&
	    count_lines_starting(&b, "Identity-Alignment:") == 0 &&
	    count_lines_starting(&b, "SPF-DNS:") == 0 &&
	    contains(&b, "Subject: DKIM failure report"),
	    "DKIM report: Auth-Failure: signature, the failed signature");
	dmarc_ruf_build(&rep, &m, ev, DMARC_RUF_SPF, "ruf@example.com", 0,
	    &b, NULL, &err);
	ok(structure(&b, &sh) == NULL &&
	    contains(&b, "Auth-Failure: spf\r\n") &&
	    count_lines_starting(&b, "DKIM-Domain:") == 0 &&
	    count_lines_starting(&b, "SPF-DNS:") == 1,
	    "SPF report: Auth-Failure: spf, SPF-DNS, no DKIM fields");

	/* bad arguments */
	is_int(dmarc_ruf_build(&rep, &m, ev, DMARC_RUF_DMARC | DMARC_RUF_SPF,
	    "ruf@example.com", 0, &b, NULL, &err), -1, "two kinds at once: "
	    "refused");
	is_int(dmarc_ruf_build(&rep, &m, ev, DMARC_RUF_DMARC,
	    "ruf@example.com\r\nBcc: x@y.example", 0, &b, NULL, &err), -1,
	    "a recipient with CRLF: refused");
	ok(b.len == 0, "nothing left in out after a failure");
	is_int(dmarc_ruf_build(&rep, &m, ev, DMARC_RUF_DMARC,
	    "ruf@example.com", 1500, &b, NULL, &err), -1,
	    "a size bound no report fits: refused");
	ok(err && strstr(err, "size"), "why: %s", err ? err : "(null)");
	{
		struct buf small;

		buf_init(&small, 1000);
		is_int(dmarc_ruf_build(&rep, &m, ev, DMARC_RUF_DMARC,
		    "ruf@example.com", 0, &small, NULL, &err), -1,
		    "an output buffer smaller than the bound: refused");
		buf_free(&small);
	}
	buf_free(&b);
	buf_free(&b2);
	free(ev);
}

static void test_hostile(void)
{
	struct dmarc_auth a;
	struct dmarc_eval *ev = xmalloc(sizeof(*ev));
	struct dmarc_ruf_msg m;
	struct dmarc_ruf_hdr *h = xcalloc(300, sizeof(*h));
	struct buf b;
	struct shape sh;
	const char *err, *why;
	char *big = xmalloc(100 * 1024), *spaced = xmalloc(3001);
	char nul[] = "a\0b\0\r\nBcc: nul@evil.example";
	size_t omitted;

	set_auth(&a);
	set_ev(ev);
	set_msg(&m, &a);
	memset(big, 'A', 100 * 1024);
	for (int i = 0; i < 3000; i++)
		spaced[i] = i % 10 == 9 ? ' ' : 'x';
	spaced[3000] = '\0';
	h[0] = (struct dmarc_ruf_hdr){ "Subject",
	    " hi\r\nBcc: evil@evil.example\r\n\r\n--=_postern_ruf_0\r\n", 0 };
	h[1] = (struct dmarc_ruf_hdr){ "X-Big", big, 100 * 1024 };
	h[2] = (struct dmarc_ruf_hdr){ "X-Nul", nul, sizeof(nul) - 1 };
	h[3] = (struct dmarc_ruf_hdr){ "Bad Name:\r\nTo", " v", 0 };
	h[4] = (struct dmarc_ruf_hdr){ "", " empty name", 0 };
	h[5] = (struct dmarc_ruf_hdr){ "X-8bit", " caf\xc3\xa9 \x1b[31m", 0 };
	h[6] = (struct dmarc_ruf_hdr){ "X-Spaced", spaced, 3000 };
	h[7] = (struct dmarc_ruf_hdr){ "From", " <boss@example.com>", 0 };
	for (int i = 0; i < 8; i++)
		if (h[i].vlen == 0)
			h[i].vlen = strlen(h[i].value);
	m.hdrs = h;
	m.nhdrs = 8;
	m.helo = "evil\r\nX-Injected: 1";
	m.mail_from = "a>\r\nBcc: <x@evil.example";
	m.queue_id = "Q1\r\nX-Q: 2";
	m.source_ip = "192.0.2.1\r\nX-Ip: 3";
	a.dkim[1].selector = "sel\r\nX-Sel: 4";
	m.spf_dns[0] = "v=spf1 \"quoted\" \\ back\r\nX-Spf: 5";
	m.nspf_dns = 1;
	buf_init(&b, DMARC_RUF_MAX_BYTES);
	is_int(dmarc_ruf_build(&rep, &m, ev, DMARC_RUF_DMARC,
	    "ruf@example.com", 0, &b, &omitted, &err), 0, "hostile: built");
	why = structure(&b, &sh);
	ok(why == NULL, "hostile: structure sound (%s)", why ? why : "ok");
	is_int(sh.part_fields[3], 8, "hostile: 8 header fields, no more");
	is_int(count_lines_starting(&b, "Bcc:"), 0, "no Bcc line injected");
	is_int(count_lines_starting(&b, "X-Injected:") +
	    count_lines_starting(&b, "X-Q:") +
	    count_lines_starting(&b, "X-Ip:") +
	    count_lines_starting(&b, "X-Sel:") +
	    count_lines_starting(&b, "X-Spf:"), 0,
	    "no field injected by HELO, queue id, IP, selector, SPF record");
	ok(contains(&b, "Subject: hi Bcc: evil@evil.example "
	    "--=_postern_ruf_0\r\n"), "CR/LF in a value: one space, one line");
	ok(contains(&b, "X-Nul: a?b? Bcc: nul@evil.example\r\n"),
	    "NUL bytes masked");
	ok(contains(&b, "Bad?Name???To: v\r\n"), "a name with space, colon, "
	    "CRLF: masked");
	ok(contains(&b, "\r\n?: empty name\r\n"), "an empty name: '?'");
	ok(contains(&b, "X-8bit: caf?? ?[31m\r\n"), "8-bit and ESC masked");
	ok(contains(&b, "Original-Mail-From: <a??Bcc:??x@evil.example>\r\n"),
	    "envelope sender: one token, masked");
	ok(contains(&b, "Original-Envelope-Id: Q1?X-Q:?2\r\n"),
	    "queue id: one token, masked");
	is_int(count_lines_starting(&b, "Source-IP:"), 0, "a Source-IP that "
	    "is no address: left out");
	ok(contains(&b, "SPF-DNS: txt : bad.example : \"v=spf1 \\\"quoted\\\" "
	    "\\\\ back X-Spf: 5\"\r\n"), "SPF record quoted and escaped");
	ok(strstr(b.data, "1 header field longer than 4096 bytes was cut") !=
	    NULL, "the text part says a field was cut");
	{
		char *u = unfold(&b), *p = strstr(u, "\r\nX-Big: "), *e;

		ok(p && (e = strstr(p + 2, "\r\n")) &&
		    (size_t)(e - p - 2) <= DMARC_RUF_FIELD_MAX + 8,
		    "the 100 KB field is cut to about %d bytes",
		    DMARC_RUF_FIELD_MAX);
		free(u);
	}
	ok(sh.longest <= 998, "longest line %zu <= 998", sh.longest);
	spaced[2999] = '\0';	/* the trailing space is trimmed */
	ok(contains(&b, spaced), "a long spaced value: folded at its spaces, "
	    "nothing lost");
	is_int(omitted, 0, "nothing left out yet");

	/* many fields: the size bound */
	spaced[2999] = ' ';
	for (int i = 0; i < 300; i++) {
		h[i].name = "X-Filler";
		h[i].value = spaced;
		h[i].vlen = 1000;
	}
	h[299].name = "From";
	h[299].value = " <boss@example.com>";
	h[299].vlen = strlen(h[299].value);
	m.nhdrs = 300;
	is_int(dmarc_ruf_build(&rep, &m, ev, DMARC_RUF_DMARC,
	    "ruf@example.com", 0, &b, &omitted, &err), 0, "300 KB of header: "
	    "built");
	why = structure(&b, &sh);
	ok(why == NULL, "structure sound (%s)", why ? why : "ok");
	ok(b.len <= DMARC_RUF_MAX_BYTES, "report %zu <= %d bytes", b.len,
	    DMARC_RUF_MAX_BYTES);
	ok(omitted > 200 && omitted < 300, "%zu fields left out", omitted);
	is_int(sh.part_fields[3] + omitted, 300, "kept + left out = 300");
	ok(strstr(b.data, "header fields of the message were left out\r\nto "
	    "keep this report under 65536 bytes.") != NULL,
	    "the text part says so");
	ok(contains(&b, "\r\nFrom: <boss@example.com>\r\n"), "a short field "
	    "after the big ones still fits");
	is_int(dmarc_ruf_build(&rep, &m, ev, DMARC_RUF_DMARC,
	    "ruf@example.com", 10000, &b, &omitted, &err), 0, "a 10000-byte "
	    "bound");
	ok(b.len <= 10000 && structure(&b, &sh) == NULL && omitted > 290,
	    "report %zu <= 10000 bytes, %zu left out", b.len, omitted);
	buf_free(&b);
	free(h);
	free(big);
	free(spaced);
	free(ev);
}

/* ------------------------------------------------------- rate limiter */

struct race {
	struct dmarc_ruf_limit *l;
	int got;
};

static void *racer(void *arg)
{
	struct race *r = arg;

	for (int i = 0; i < 1000; i++)
		r->got += dmarc_ruf_limit_take(r->l, "race.example", 5000);
	return NULL;
}

static void test_limit(void)
{
	struct dmarc_ruf_limit *l = dmarc_ruf_limit_new(10, 100, 1000);
	int n = 0;
	char name[64];

	for (int i = 0; i < 11; i++)
		n += dmarc_ruf_limit_take(l, "a.example", 1000);
	is_int(n, 10, "a burst of 10 per domain, the 11th refused");
	is_int(dmarc_ruf_limit_take(l, "A.EXAMPLE", 1000), 0, "domains "
	    "compare without case");
	is_int(dmarc_ruf_limit_take(l, "b.example", 1000), 1, "another "
	    "domain has its own bucket");
	is_int(dmarc_ruf_limit_take(l, "a.example", 1359), 0, "359 s later: "
	    "not yet a token (10/h: one per 360 s)");
	is_int(dmarc_ruf_limit_take(l, "a.example", 1360), 1, "360 s later: "
	    "one token");
	is_int(dmarc_ruf_limit_take(l, "a.example", 1360), 0, "and only one");
	is_int(dmarc_ruf_limit_take(l, "a.example", 500), 0, "a clock going "
	    "back gives nothing");
	dmarc_ruf_limit_free(&l);
	ok(l == NULL, "limit_free sets NULL");

	/* attempts every second for one hour from a full bucket */
	l = dmarc_ruf_limit_new(10, 1000000, 1000);
	n = 0;
	for (time_t t = 10000; t < 10000 + 3600; t++)
		n += dmarc_ruf_limit_take(l, "steady.example", t);
	is_int(n, 19, "one hour of tries: the burst of 10 and 9 more");
	n = 0;
	for (time_t t = 13600; t < 13600 + 7200; t++)
		n += dmarc_ruf_limit_take(l, "steady.example", t);
	is_int(n, 20, "two more hours: 10 per hour exactly");
	dmarc_ruf_limit_free(&l);

	/* the total bucket */
	l = dmarc_ruf_limit_new(1000, 5, 1000);
	n = 0;
	for (int i = 0; i < 6; i++) {
		snprintf(name, sizeof(name), "d%d.example", i);
		n += dmarc_ruf_limit_take(l, name, 1000);
	}
	is_int(n, 5, "5 per hour in all: the 6th domain refused");
	is_int(dmarc_ruf_limit_take(l, "d5.example", 1719), 0, "719 s "
	    "later: no total token yet");
	is_int(dmarc_ruf_limit_take(l, "d5.example", 1720), 1, "720 s "
	    "later: one");
	dmarc_ruf_limit_free(&l);

	/* memory: the LRU of domains */
	l = dmarc_ruf_limit_new(2, 1000000, 50);
	for (int i = 0; i < 2; i++)
		dmarc_ruf_limit_take(l, "old.example", 1000);
	is_int(dmarc_ruf_limit_take(l, "old.example", 1000), 0, "old.example "
	    "spent");
	for (int i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "d%d.example", i);
		dmarc_ruf_limit_take(l, name, 1000);
		if (dmarc_ruf_limit_domains(l) > 50)
			break;
	}
	is_int(dmarc_ruf_limit_domains(l), 50, "1000 domains: 50 tracked");
	is_int(dmarc_ruf_limit_take(l, "old.example", 1000), 1, "a domain "
	    "pushed out comes back with a full bucket");
	{
		char longname[600];

		memset(longname, 'x', sizeof(longname) - 1);
		longname[sizeof(longname) - 1] = '\0';
		is_int(dmarc_ruf_limit_take(l, longname, 1000), 1, "a 600-byte "
		    "name is cut, not a crash");
	}
	dmarc_ruf_limit_free(&l);

	/* threads: exact under contention */
	{
		struct race r[8];
		pthread_t th[8];
		int total = 0;

		l = dmarc_ruf_limit_new(100, 1000000, 10);
		for (int i = 0; i < 8; i++) {
			r[i].l = l;
			r[i].got = 0;
			pthread_create(&th[i], NULL, racer, &r[i]);
		}
		for (int i = 0; i < 8; i++) {
			pthread_join(th[i], NULL);
			total += r[i].got;
		}
		is_int(total, 100, "8 threads x 1000 tries: exactly 100");
		dmarc_ruf_limit_free(&l);
	}
}

/* ---------------------------------------------------------- delivery */

static char dir[] = "/tmp/dmarc_ruf_t.XXXXXX";

/* slurp - a file's content (static buffer), "" if none */
static const char *slurp(const char *name)
{
	static char *s;
	char path[256];
	FILE *f;
	long n;

	free(s);
	s = NULL;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "r")) == NULL)
		return "";
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	s = xcalloc(1, (size_t)n + 1);
	if (fread(s, 1, (size_t)n, f) != (size_t)n)
		s[0] = '\0';
	fclose(f);
	return s;
}

/* reset_files - forget what the fake sendmail recorded */
static void reset_files(void)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/argv", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/stdin", dir);
	unlink(path);
}

/* script - an executable shell script */
static void script(const char *path, const char *body)
{
	FILE *f = fopen(path, "w");

	fprintf(f, "#!/bin/sh\n%s", body);
	fclose(f);
	chmod(path, 0755);
}

/* count_str - occurrences of w in s */
static size_t count_str(const char *s, const char *w)
{
	size_t n = 0;

	for (const char *p = s; (p = strstr(p, w)) != NULL; p += strlen(w))
		n++;
	return n;
}

static void test_send(void)
{
	struct dmarc_opts o = { DMARC_MODE_BIS, NULL, lookup, NULL, NULL,
	    NULL };
	struct dmarc *d = dmarc_new(&o);
	struct dmarc_eval *ev = xmalloc(sizeof(*ev));
	struct dmarc_ruf_reporter r7 = rep;
	struct dmarc_auth a;
	struct dmarc_ruf_msg m;
	struct dmarc_ruf_outcome oc;
	struct dmarc_ruf_send_opts so;
	struct mailsend ms, slow;
	struct dmarc_ruf_outbox *ob;
	struct dmarc_ruf_outbox_stats st;
	char path[256], spec[300], body[512], text[200];
	const char *err;
	const char *s;

	if (mkdtemp(dir) == NULL) {
		ok(0, "mkdtemp");
		return;
	}
	snprintf(path, sizeof(path), "%s/sendmail", dir);
	snprintf(body, sizeof(body), "for a in \"$@\"; do printf '[%%s]' "
	    "\"$a\"; done >> %s/argv\necho >> %s/argv\n"
	    "cat >> %s/stdin\necho '#END' >> %s/stdin\nexit 0\n", dir, dir,
	    dir, dir);
	script(path, body);
	snprintf(spec, sizeof(spec), "sendmail:%s", path);
	if (mailsend_init(&ms, spec, "h", 10000, &err) < 0)
		ok(0, "mailsend_init: %s", err);
	snprintf(path, sizeof(path), "%s/slow", dir);
	script(path, "cat >/dev/null\nsleep 1\nexit 0\n");
	snprintf(spec, sizeof(spec), "sendmail:%s", path);
	mailsend_init(&slow, spec, "h", 10000, &err);

	set_auth(&a);
	a.spf_domain = "bad.example";
	set_msg(&m, &a);
	dmarc_evaluate(d, "example.com", &a, ev);
	is_int(ev->result, DMARC_FAIL, "send: example.com fails");
	memset(&so, 0, sizeof(so));
	so.reporter = &rep;
	so.dmarc = d;
	so.lookup = lookup;
	so.transport = &ms;
	so.limit = dmarc_ruf_limit_new(2, 100, 100);
	so.now = 1000;

	reset_files();
	is_int(dmarc_ruf_send(&so, &m, ev, &oc), 2, "two messages: "
	    "ruf@example.com (once) and the authorized third party");
	is_int(oc.kinds, DMARC_RUF_DMARC, "one DMARC report asked for");
	is_int(oc.unauthorized, 1, "no@other.example: not authorized");
	is_int(oc.deferred, 1, "r@slow.example: authorization timed out");
	is_int(ev->rec.nruf, 5, "the https: URI never reaches us (parser)");
	is_int(oc.skipped, 0, "nothing else skipped");
	is_str(dmarc_ruf_outcome_text(&oc, text, sizeof(text)),
	    "sent=2 unauthorized=1 deferred=1", "outcome text");
	s = slurp("argv");
	is_str(s, "[-i][-f][dmarc-reports@reporter.example][--]"
	    "[ruf@example.com]\n[-i][-f][dmarc-reports@reporter.example][--]"
	    "[ext@thirdparty.example]\n", "sendmail: each destination "
	    "alone, report_email as sender");
	s = slurp("stdin");
	ok(strstr(s, "\nTo: ruf@example.com\n") &&
	    strstr(s, "\nTo: ext@thirdparty.example\n"), "each with its "
	    "own To:");
	ok(strstr(s, "SPF-DNS: txt : bad.example : \"v=spf1 "
	    "ip4:192.0.2.0/24 -all\"") != NULL, "SPF-DNS looked up: the "
	    "v=spf1 record");
	ok(strstr(s, "google-site-verification") == NULL, "and not other "
	    "TXT records");

	reset_files();
	so.bcc = "copies@reporter.example";
	is_int(dmarc_ruf_send(&so, &m, ev, &oc), 2, "with bcc: still two "
	    "counted");
	s = slurp("argv");
	is_int(count_str(s, "\n"), 3, "three messages: bcc gets a copy");
	ok(strstr(s, "[--][copies@reporter.example]") != NULL, "the copy's "
	    "envelope recipient");
	so.bcc = NULL;

	reset_files();
	is_int(dmarc_ruf_send(&so, &m, ev, &oc), 0, "third report of the "
	    "hour for example.com (2 per hour): nothing");
	is_int(oc.limited, 1, "counted as limited");
	is_str(oc.why, "rate limited", "why");
	is_str(slurp("argv"), "", "sendmail not run");
	so.now = 1000 + 1800;
	is_int(dmarc_ruf_send(&so, &m, ev, &oc), 2, "half an hour later: "
	    "one more report");

	/* reports about reports: never */
	{
		struct dmarc_ruf_hdr rh[2] = {
			{ "From", " x@example.com", 14 },
			{ "content-type", " multipart/report;\r\n\t"
			  "report-type=Feedback-Report; boundary=x", 0 },
		};
		struct dmarc_ruf_msg mr = m;

		rh[1].vlen = strlen(rh[1].value);
		mr.hdrs = rh;
		mr.nhdrs = 2;
		so.now = 100000;
		is_int(dmarc_ruf_send(&so, &mr, ev, &oc), 0, "a feedback report "
		    "that fails DMARC: no report about it");
		is_str(oc.why, "the message is itself a feedback report",
		    "why");
	}

	/* psd=y */
	dmarc_evaluate(d, "psd.example", &a, ev);
	is_int(dmarc_ruf_send(&so, &m, ev, &oc), 0, "psd=y record: no "
	    "report");

	/* !size: rfc7489 mode uses it, bis ignores it */
	{
		struct dmarc_ruf_hdr *big = xcalloc(10, sizeof(*big));
		static char v[1001];
		struct dmarc_ruf_msg mb = m;
		memset(v, 'v', 1000);
		for (int i = 0; i < 10; i++)
			big[i] = (struct dmarc_ruf_hdr){ "X-Big", v, 1000 };
		mb.hdrs = big;
		mb.nhdrs = 10;
		dmarc_evaluate(d, "size.example", &a, ev);
		reset_files();
		is_int(dmarc_ruf_send(&so, &mb, ev, &oc), 1, "bis: !5k ignored");
		s = slurp("stdin");
		ok(strlen(s) > 10000 && strstr(s, "left out") == NULL,
		    "bis: the whole header (%zu bytes)", strlen(s));
		r7.mode = DMARC_MODE_RFC7489;
		so.reporter = &r7;
		reset_files();
		is_int(dmarc_ruf_send(&so, &mb, ev, &oc), 1, "rfc7489: sent "
		    "within !5k");
		s = slurp("stdin");
		ok(strlen(s) <= 5120 && strstr(s, "left out\nto keep this "
		    "report under 5120 bytes."), "rfc7489: %zu bytes, header "
		    "fields left out and said", strlen(s));
		so.reporter = &rep;
		free(big);
	}

	/* the outbox */
	dmarc_evaluate(d, "example.com", &a, ev);
	dmarc_ruf_limit_free(&so.limit);
	so.limit = dmarc_ruf_limit_new(100, 100, 100);
	ob = dmarc_ruf_outbox_new(0, &err);
	ok(ob != NULL, "outbox started");
	so.outbox = ob;
	reset_files();
	is_int(dmarc_ruf_send(&so, &m, ev, &oc), 2, "outbox: two queued");
	is_int(dmarc_ruf_outbox_flush(ob, 10000), 0, "outbox: flushed");
	dmarc_ruf_outbox_stats(ob, &st);
	ok(st.sent == 2 && st.queued == 0 && st.dropped == 0, "outbox: 2 "
	    "sent (%zu), none queued (%zu), none dropped (%zu)", st.sent,
	    st.queued, st.dropped);
	is_int(count_str(slurp("argv"), "\n"), 2, "outbox: sendmail ran "
	    "twice");
	dmarc_ruf_outbox_free(&ob, 1000);
	ok(ob == NULL, "outbox freed");

	/* a full outbox drops, the caller never waits */
	ob = dmarc_ruf_outbox_new(1, &err);
	so.outbox = ob;
	so.transport = &slow;
	{
		time_t t0 = time(NULL);
		size_t sent = 0, skipped = 0;

		for (int i = 0; i < 3; i++) {
			dmarc_ruf_send(&so, &m, ev, &oc);
			sent += oc.sent;
			skipped += oc.skipped;
		}
		ok(time(NULL) - t0 <= 1, "three sends to a slow sendmail "
		    "did not wait for it");
		ok(sent <= 2 && skipped >= 4, "queue of 1: at most 2 taken "
		    "(%zu), the rest dropped (%zu)", sent, skipped);
		dmarc_ruf_outbox_stats(ob, &st);
		ok(st.dropped >= 4, "outbox counted %zu dropped", st.dropped);
	}
	dmarc_ruf_outbox_free(&ob, 5000);

	dmarc_ruf_limit_free(&so.limit);
	free(ev);
	dmarc_free(&d);
	reset_files();
	snprintf(path, sizeof(path), "%s/sendmail", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/slow", dir);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	log_open("dmarc_ruf_t", 1);
	test_wanted();
	test_wanted_engine();
	test_build();
	test_hostile();
	test_limit();
	test_send();
	return done_testing();
}
