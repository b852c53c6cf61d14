/*
 * dkim_tool.c - test driver: sign or verify one message on stdin with
 *               the DKIM engine (common/dkim.c), for the interop tests.
 *
 * Usage:
 *   dkim_tool sign [-c HCANON/BCANON] [-H h1,h2] [-O o1,o2] [-t NOW]
 *             DOMAIN:SELECTOR:KEYFILE...  < msg > signed
 *       writes the message (CRLF line ends) with one DKIM-Signature per
 *       key prepended, in argument order (the key decides a=).
 *   dkim_tool verify [-n ADDR:PORT] [-a AUTHSERV_ID] [-m MAXSIGS]
 *             [-t NOW] < msg
 *       line 1: the Authentication-Results value; then one line per
 *       signature: "RESULT d=DOMAIN s=SELECTOR reason=..."; then
 *       "outcome=..." (what the milter's On-* actions key on).
 * Trust: the message is test input, parsed with the same bounds as the
 *        milter (header fields go through dkim_msg_header).
 * Errors: exit 0 when the run completed (whatever the results), 1 on a
 *         signing or input error, 2 on usage errors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "authres.h"
#include "buf.h"
#include "dkim.h"
#include "dkim_dns.h"
#include "dns.h"
#include "xalloc.h"

#define MSG_MAX (64 * 1024 * 1024)
#define KEYS_MAX 8
#define NAMES_MAX 64

static const char *const default_headers[] = { "from", "to", "cc",
    "subject", "date", "message-id", "reply-to", "mime-version",
    "content-type", "content-transfer-encoding", "in-reply-to",
    "references" };

/* usage - print and exit 2 */
static void usage(void)
{
	fprintf(stderr, "usage: dkim_tool sign [-c H/B] [-H names] [-O names] "
	    "[-t now] DOMAIN:SELECTOR:KEYFILE...\n"
	    "       dkim_tool verify [-n ADDR:PORT] [-a ID] [-m N] "
	    "[-t now]\n");
	exit(2);
}

/* read_crlf - stdin with every bare LF made CRLF */
static void read_crlf(struct buf *msg)
{
	int c, prev = 0;

	buf_init(msg, MSG_MAX);
	while ((c = getchar()) != EOF) {
		if (c == '\n' && prev != '\r' && buf_appendc(msg, '\r') < 0)
			goto big;
		if (buf_appendc(msg, c) < 0)
			goto big;
		prev = c;
	}
	return;
big:
	fprintf(stderr, "dkim_tool: message too large\n");
	exit(1);
}

/* feed_headers - each field into the engine; returns the body offset */
static size_t feed_headers(struct dkim_msg *m, const struct buf *msg)
{
	const char *p = msg->data, *end = msg->data + msg->len;

	while (p < end) {
		const char *eol, *colon, *fend;
		char name[256];
		const char *err;

		if (end - p >= 2 && p[0] == '\r' && p[1] == '\n')
			return (size_t)(p + 2 - msg->data);
		/* a field runs to a CRLF not followed by WSP */
		fend = p;
		for (;;) {
			eol = memmem(fend, (size_t)(end - fend), "\r\n", 2);
			if (eol == NULL) {
				eol = end;
				break;
			}
			if (eol + 2 < end && (eol[2] == ' ' || eol[2] == '\t')) {
				fend = eol + 2;
				continue;
			}
			break;
		}
		colon = memchr(p, ':', (size_t)(eol - p));
		if (colon == NULL || (size_t)(colon - p) >= sizeof(name)) {
			fprintf(stderr, "dkim_tool: malformed header line\n");
			exit(1);
		}
		memcpy(name, p, (size_t)(colon - p));
		name[colon - p] = '\0';
		if (dkim_msg_header(m, name, colon + 1,
		    (size_t)(eol - colon - 1), &err) < 0) {
			fprintf(stderr, "dkim_tool: %s\n", err);
			exit(1);
		}
		p = eol + 2;
	}
	return msg->len;
}

/* split_names - comma list into names[] */
static size_t split_names(char *s, const char **names)
{
	size_t n = 0;

	for (char *t = strtok(s, ","); t && n < NAMES_MAX;
	    t = strtok(NULL, ","))
		names[n++] = t;
	return n;
}

/* do_sign - the sign command */
static int do_sign(int argc, char **argv)
{
	const char *hnames[NAMES_MAX], *onames[NAMES_MAX] = { "from" };
	size_t nh = 0, no = 1;
	enum dkim_canon hc = DKIM_CANON_RELAXED, bc = DKIM_CANON_RELAXED;
	struct dkim_msg_opts o = { 0 };
	struct dkim_key *keys[KEYS_MAX];
	struct buf msg, out[KEYS_MAX];
	struct dkim_msg *m;
	size_t nkeys = 0, body;
	const char *err;
	int ch;

	for (size_t i = 0; i < sizeof(default_headers) /
	    sizeof(default_headers[0]); i++)
		hnames[nh++] = default_headers[i];
	while ((ch = getopt(argc, argv, "c:H:O:t:")) != -1) {
		switch (ch) {
		case 'c':
			if (dkim_canon_parse(optarg, &hc, &bc) < 0)
				usage();
			break;
		case 'H':
			nh = split_names(optarg, hnames);
			break;
		case 'O':
			no = split_names(optarg, onames);
			break;
		case 't':
			o.now = (time_t)atoll(optarg);
			break;
		default:
			usage();
		}
	}
	if (optind == argc || argc - optind > KEYS_MAX)
		usage();
	read_crlf(&msg);
	m = dkim_msg_new(&o);
	for (int i = optind; i < argc; i++) {
		char *spec = xstrdup(argv[i]);
		char *dom = strtok(spec, ":"), *sel = strtok(NULL, ":");
		char *path = strtok(NULL, "");
		struct dkim_sign_spec sp = { 0 };

		if (dom == NULL || sel == NULL || path == NULL)
			usage();
		if ((keys[nkeys] = dkim_key_load(path, &err)) == NULL) {
			fprintf(stderr, "dkim_tool: %s\n", err);
			return 1;
		}
		sp.domain = dom;
		sp.selector = sel;
		sp.key = keys[nkeys];
		sp.hcanon = hc;
		sp.bcanon = bc;
		sp.sign_headers = hnames;
		sp.nsign = nh;
		sp.oversign = onames;
		sp.noversign = no;
		if (dkim_msg_add_signer(m, &sp, &err) < 0) {
			fprintf(stderr, "dkim_tool: %s\n", err);
			return 1;
		}
		free(spec);
		buf_init(&out[nkeys], 65536);
		nkeys++;
	}
	body = feed_headers(m, &msg);
	dkim_msg_eoh(m);
	dkim_msg_body(m, msg.data + body, msg.len - body);
	if (dkim_msg_sign(m, out, nkeys, &err) < 0) {
		fprintf(stderr, "dkim_tool: %s\n", err);
		return 1;
	}
	for (size_t i = 0; i < nkeys; i++) {
		printf("DKIM-Signature:%s\r\n", out[i].data);
		buf_free(&out[i]);
		dkim_key_free(&keys[i]);
	}
	fwrite(msg.data, 1, msg.len, stdout);
	dkim_msg_free(&m);
	buf_free(&msg);
	return 0;
}

/* do_verify - the verify command */
static int do_verify(int argc, char **argv)
{
	const char *server = NULL, *authserv = "test.example";
	struct dkim_msg_opts o = { 0 };
	struct dns_config dc = { 0 };
	struct dkim_dns dd;
	const struct dkim_sig_result *r;
	struct dkim_msg *m;
	struct buf msg, ar;
	size_t body, n;
	const char *err;
	int ch;

	o.verify = 1;
	while ((ch = getopt(argc, argv, "n:a:m:t:")) != -1) {
		switch (ch) {
		case 'n':
			server = optarg;
			break;
		case 'a':
			authserv = optarg;
			break;
		case 'm':
			o.max_signatures = (size_t)atoi(optarg);
			break;
		case 't':
			o.now = (time_t)atoll(optarg);
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	dc.servers = server ? &server : NULL;
	dc.nservers = server ? 1 : 0;
	dc.timeout_ms = 3000;
	dc.tries = 2;
	dc.cache_size = 100;
	dc.cache_bytes = 1 << 20;
	dc.cache_max_ttl = 60;
	dc.cache_neg_ttl = 60;
	if ((dd.resolver = dns_resolver_new(&dc, &err)) == NULL) {
		fprintf(stderr, "dkim_tool: %s\n", err);
		return 2;
	}
	dd.budget_ms = 3000;
	read_crlf(&msg);
	m = dkim_msg_new(&o);
	body = feed_headers(m, &msg);
	dkim_msg_eoh(m);
	dkim_msg_body(m, msg.data + body, msg.len - body);
	dkim_msg_verify(m, dkim_dns_lookup, &dd);
	buf_init(&ar, 65536);
	authres_begin(&ar, authserv);
	dkim_msg_authres(m, &ar);
	printf("%s\n", ar.data);
	r = dkim_msg_results(m, &n);
	for (size_t i = 0; i < n; i++)
		printf("%s d=%s s=%s reason=%s\n", dkim_result_name(r[i].res),
		    r[i].sig.domain, r[i].sig.selector,
		    r[i].reason ? r[i].reason : "");
	printf("outcome=%s\n", dkim_outcome_name(dkim_msg_outcome(m)));
	buf_free(&ar);
	buf_free(&msg);
	dkim_msg_free(&m);
	dns_resolver_free(&dd.resolver);
	return 0;
}

/* main - dispatch */
int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	if (strcmp(argv[1], "sign") == 0)
		return do_sign(argc - 1, argv + 1);
	if (strcmp(argv[1], "verify") == 0)
		return do_verify(argc - 1, argv + 1);
	usage();
	return 2;
}
