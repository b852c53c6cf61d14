/*
 * dmarc_ruf_tool.c - a helper for t/dmarc-ruf.t: builds DMARC failure
 *                    reports (common/dmarc_ruf.c) for Python's email
 *                    package to parse, and sends them through SMTP to
 *                    the test's sink.
 *
 * Usage: dmarc_ruf_tool build [hostile] [rfc7489] [dkim|spf] [big]
 *          writes one report (to ruf@example.com) on stdout: a DMARC
 *          fail of example.com (SPF fail, one failed aligned signature,
 *          one passing unaligned one); "hostile" adds header fields with
 *          CR/LF, NUL, 8-bit bytes, a 100 KB value and a boundary
 *          look-alike, and a hostile HELO and envelope sender; "big"
 *          adds 300 fields of 1000 bytes (some are left out).
 *        dmarc_ruf_tool send PORT [outbox]
 *          sends the reports of that message through smtp:127.0.0.1:PORT
 *          (canned DNS: ruf@example.com, an authorized third party, an
 *          unauthorized one), synchronously or through an outbox; prints
 *          the outcome ("sent=2 unauthorized=1") and exits 0 if any was
 *          sent.
 * Trust: test input only.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "buf.h"
#include "dmarc.h"
#include "dmarc_ruf.h"
#include "log.h"
#include "mailsend.h"
#include "xalloc.h"

/* the canned zone of "send" */
static const struct {
	const char *name, *txt;
} zone[] = {
	{ "_dmarc.example.com", "v=DMARC1; p=reject; "
	  "ruf=mailto:ruf@example.com,mailto:ext@thirdparty.example,"
	  "mailto:no@other.example" },
	{ "example.com._report._dmarc.thirdparty.example", "v=DMARC1" },
	{ "bad.example", "v=spf1 ip4:198.51.100.0/24 -all" },
};

/* lookup - TXT answers from the zone, NXDOMAIN for other names */
static struct dns_answer *lookup(void *arg, const char *name,
    uint16_t type)
{
	size_t nz = sizeof(zone) / sizeof(*zone);
	struct dns_answer *a = dns_answer_new(DNS_NXDOMAIN);

	(void)arg;
	a->rr = xcalloc(nz, sizeof(*a->rr));
	for (size_t i = 0; i < nz; i++) {
		if (strcasecmp(zone[i].name, name) != 0)
			continue;
		a->status = DNS_NODATA;
		if (type != DNS_T_TXT)
			continue;
		a->rr[a->n].type = DNS_T_TXT;
		a->rr[a->n].txt = xstrdup(zone[i].txt);
		a->rr[a->n].txt_len = strlen(zone[i].txt);
		a->rr[a->n++].txt_count = 1;
		a->status = DNS_OK;
	}
	return a;
}

static int has_arg(int argc, char **argv, const char *w)
{
	for (int i = 2; i < argc; i++)
		if (strcmp(argv[i], w) == 0)
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	struct dmarc_ruf_reporter rep = {
		"dmarc-reports@reporter.example", "Reporter Org",
		"reporter.example", "mx.reporter.example",
		"mx.reporter.example", DMARC_MODE_BIS,
	};
	static struct dmarc_ruf_hdr h[400];
	static char big[100 * 1024], filler[1001];
	static char nul[] = "a\0b\r\nBcc: nul@evil.example";
	struct dmarc_opts o = { DMARC_MODE_BIS, NULL, lookup, NULL, NULL,
	    NULL };
	struct dmarc *d;
	struct dmarc_eval *ev = xmalloc(sizeof(*ev));
	struct dmarc_auth a;
	struct dmarc_ruf_msg m;
	size_t n = 0;

	signal(SIGPIPE, SIG_IGN);
	log_open("dmarc_ruf_tool", 1);
	if (argc < 2) {
		fprintf(stderr, "usage: dmarc_ruf_tool build|send ...\n");
		return 2;
	}
	memset(&a, 0, sizeof(a));
	a.spf_domain = "bad.example";
	a.spf = SPF_FAIL;
	a.ndkim = 2;
	a.dkim[0].domain = "example.com";
	a.dkim[0].selector = "sel1";
	a.dkim[0].result = DKIM_RES_FAIL;
	a.dkim[1].domain = "other.example";
	a.dkim[1].selector = "s2";
	a.dkim[1].result = DKIM_RES_PASS;
	h[n++] = (struct dmarc_ruf_hdr){ "Received", " from bad.example "
	    "(bad.example [192.0.2.1])\r\n\tby mx.reporter.example with ESMTP "
	    "id 4AE9D403CC;\r\n\tTue, 14 Nov 2023 22:13:20 +0000", 0 };
	h[n++] = (struct dmarc_ruf_hdr){ "From", " Boss <boss@example.com>",
	    0 };
	h[n++] = (struct dmarc_ruf_hdr){ "To", " victim@reporter.example", 0 };
	h[n++] = (struct dmarc_ruf_hdr){ "Subject", " Urgent wire transfer",
	    0 };
	h[n++] = (struct dmarc_ruf_hdr){ "Message-ID", " <1@bad.example>", 0 };
	memset(&m, 0, sizeof(m));
	m.queue_id = "4AE9D403CC";
	m.source_ip = "192.0.2.1";
	m.helo = "bad.example";
	m.mail_from = "user@bad.example";
	m.arrival = 1700000000;
	m.auth = &a;
	m.delivery_result = "reject";
	if (has_arg(argc, argv, "hostile")) {
		memset(big, 'A', sizeof(big));
		h[n++] = (struct dmarc_ruf_hdr){ "Subject", " hi\r\nBcc: "
		    "evil@evil.example\r\n\r\n--=_postern_ruf_0\r\n", 0 };
		h[n++] = (struct dmarc_ruf_hdr){ "X-Big", big, sizeof(big) };
		h[n++] = (struct dmarc_ruf_hdr){ "X-Nul", nul,
		    sizeof(nul) - 1 };
		h[n++] = (struct dmarc_ruf_hdr){ "Bad Name:\r\nTo", " v", 0 };
		h[n++] = (struct dmarc_ruf_hdr){ "X-8bit",
		    " caf\xc3\xa9 \x1b[31m", 0 };
		h[n++] = (struct dmarc_ruf_hdr){ "Content-Type", " text/plain;"
		    "\r\n\r\n--x\r\nContent-Type: text/html", 0 };
		m.helo = "evil\r\nX-Injected: 1";
		m.mail_from = "a>\r\nBcc: <x@evil.example";
	}
	if (has_arg(argc, argv, "big")) {
		memset(filler, 'f', 1000);
		for (int i = 0; i < 300; i++) {
			filler[i * 3 % 990 + 5] = ' ';
			h[n++] = (struct dmarc_ruf_hdr){ "X-Filler", filler,
			    1000 };
		}
	}
	for (size_t i = 0; i < n; i++)
		if (h[i].vlen == 0)
			h[i].vlen = strlen(h[i].value);
	m.hdrs = h;
	m.nhdrs = n;
	if (has_arg(argc, argv, "rfc7489"))
		rep.mode = DMARC_MODE_RFC7489;
	d = dmarc_new(&o);
	dmarc_evaluate(d, "example.com", &a, ev);

	if (strcmp(argv[1], "build") == 0) {
		struct buf b;
		const char *err;
		size_t omitted;
		unsigned kind = has_arg(argc, argv, "dkim") ? DMARC_RUF_DKIM :
		    has_arg(argc, argv, "spf") ? DMARC_RUF_SPF :
		    DMARC_RUF_DMARC;

		m.spf_dns[0] = "v=spf1 ip4:198.51.100.0/24 -all";
		m.nspf_dns = 1;
		buf_init(&b, DMARC_RUF_MAX_BYTES);
		if (dmarc_ruf_build(&rep, &m, ev, kind, "ruf@example.com", 0,
		    &b, &omitted, &err) < 0) {
			fprintf(stderr, "build: %s\n", err);
			return 1;
		}
		fwrite(b.data, 1, b.len, stdout);
		fprintf(stderr, "omitted=%zu\n", omitted);
		buf_free(&b);
	} else if (strcmp(argv[1], "send") == 0 && argc >= 3) {
		struct dmarc_ruf_send_opts so;
		struct dmarc_ruf_outcome oc;
		struct mailsend ms;
		char spec[64], text[200];
		const char *err;
		size_t sent;

		snprintf(spec, sizeof(spec), "smtp:127.0.0.1:%s", argv[2]);
		if (mailsend_init(&ms, spec, "mx.reporter.example", 10000,
		    &err) < 0) {
			fprintf(stderr, "transport: %s\n", err);
			return 2;
		}
		memset(&so, 0, sizeof(so));
		so.reporter = &rep;
		so.dmarc = d;
		so.lookup = lookup;
		so.transport = &ms;
		so.limit = dmarc_ruf_limit_new(10, 100, 100);
		if (has_arg(argc, argv, "outbox") &&
		    (so.outbox = dmarc_ruf_outbox_new(0, &err)) == NULL) {
			fprintf(stderr, "outbox: %s\n", err);
			return 2;
		}
		sent = dmarc_ruf_send(&so, &m, ev, &oc);
		if (so.outbox)
			dmarc_ruf_outbox_free(&so.outbox, 20000);
		printf("%s\n", dmarc_ruf_outcome_text(&oc, text, sizeof(text)));
		dmarc_ruf_limit_free(&so.limit);
		dmarc_free(&d);
		free(ev);
		return sent ? 0 : 1;
	} else {
		fprintf(stderr, "usage: dmarc_ruf_tool build|send ...\n");
		return 2;
	}
	dmarc_free(&d);
	free(ev);
	return 0;
}
