/*
 * dkim-engine-bench.c - CPU per message of the DKIM engine alone
 * (common/dkim.c), without the milter protocol: sign and verify one
 * message file N times with an RSA and an Ed25519 key.
 *
 * Usage: dkim-engine-bench [-n COUNT] MESSAGE RSA_KEY.pem ED25519_KEY.pem
 * Prints, per case, messages/s on one thread and microseconds of CPU
 * (user + system, getrusage) per message.  Verification looks keys up in
 * memory (the parsed-key cache is warm after the first message, as it is
 * in the daemon), so the figure is the engine's own cost.
 * Trust: the message and keys are the operator's files.
 * Errors: exits 1 with a message on unreadable input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "dkim.h"

static const char *const names[] = { "from", "to", "subject", "date",
    "message-id", "mime-version", "content-type" };
static const char *const over[] = { "from" };

struct msg {
	struct buf raw;		/* CRLF */
	size_t body;		/* offset of the body */
};

static char rec_rsa[4096], rec_ed[256];

/* lookup - the two selectors' records */
static enum dkim_lookup_status lookup(void *arg, const char *name,
    struct buf *txt)
{
	(void)arg;
	buf_reset(txt);
	if (strncmp(name, "rsa.", 4) == 0)
		buf_appends(txt, rec_rsa);
	else if (strncmp(name, "ed.", 3) == 0)
		buf_appends(txt, rec_ed);
	else
		return DKIM_LOOKUP_NOTFOUND;
	return DKIM_LOOKUP_FOUND;
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

/* load - the message with CRLF line ends */
static void load(const char *path, struct msg *m)
{
	FILE *fp = fopen(path, "rb");
	int c, prev = 0;
	char *sep;

	if (fp == NULL) {
		perror(path);
		exit(1);
	}
	buf_init(&m->raw, 64 << 20);
	while ((c = getc(fp)) != EOF) {
		if (c == '\n' && prev != '\r')
			buf_appendc(&m->raw, '\r');
		buf_appendc(&m->raw, c);
		prev = c;
	}
	fclose(fp);
	sep = strstr(m->raw.data, "\r\n\r\n");
	m->body = sep ? (size_t)(sep - m->raw.data) + 4 : m->raw.len;
}

/* feed - header fields (with the extra ones first) and body */
static void feed(struct dkim_msg *d, const char *extra, const struct msg *m)
{
	const char *err;

	for (int pass = 0; pass < 2; pass++) {
		const char *p = pass ? m->raw.data : extra;
		const char *end;

		if (p == NULL)
			continue;
		end = pass ? m->raw.data + m->body - 2 : p + strlen(p);

		while (p && p < end) {
			const char *e = p, *colon;
			char name[128];

			for (;;) {
				e = strstr(e, "\r\n");
				if (e == NULL || e >= end) {
					e = end;
					break;
				}
				if (e[2] == ' ' || e[2] == '\t') {
					e += 2;
					continue;
				}
				break;
			}
			colon = memchr(p, ':', (size_t)(e - p));
			if (colon == NULL || colon - p >= 127)
				break;
			memcpy(name, p, (size_t)(colon - p));
			name[colon - p] = '\0';
			dkim_msg_header(d, name, colon + 1,
			    (size_t)(e - colon - 1), &err);
			p = e + 2;
		}
	}
	dkim_msg_eoh(d);
	for (size_t off = m->body; off < m->raw.len; off += 65536) {
		size_t n = m->raw.len - off < 65536 ? m->raw.len - off : 65536;

		dkim_msg_body(d, m->raw.data + off, n);
	}
}

/* sign_once - one signed message; its DKIM-Signature field into sig */
static void sign_once(const struct msg *m, struct dkim_key *k,
    const char *sel, struct buf *sig)
{
	struct dkim_msg_opts o = { 0 };
	struct dkim_msg *d = dkim_msg_new(&o);
	struct dkim_sign_spec s = { 0 };
	const char *err;

	s.domain = "example.com";
	s.selector = sel;
	s.key = k;
	s.hcanon = s.bcanon = DKIM_CANON_RELAXED;
	s.sign_headers = names;
	s.nsign = sizeof(names) / sizeof(names[0]);
	s.oversign = over;
	s.noversign = 1;
	dkim_msg_add_signer(d, &s, &err);
	feed(d, NULL, m);
	buf_reset(sig);
	if (dkim_msg_sign(d, sig, 1, &err) < 0) {
		fprintf(stderr, "sign: %s\n", err);
		exit(1);
	}
	dkim_msg_free(&d);
}

/* verify_once - verify with the signature field prepended */
static int verify_once(const struct msg *m, const char *field)
{
	struct dkim_msg_opts o = { 0 };
	struct dkim_msg *d;
	const struct dkim_sig_result *r;
	size_t n;
	int pass;

	o.verify = 1;
	d = dkim_msg_new(&o);
	feed(d, field, m);
	dkim_msg_verify(d, lookup, NULL);
	r = dkim_msg_results(d, &n);
	pass = n == 1 && r[0].res == DKIM_RES_PASS;
	dkim_msg_free(&d);
	return pass;
}

/* run - one case */
static void run(const char *label, const struct msg *m, struct dkim_key *k,
    const char *sel, int verify, int count)
{
	struct buf sig, field;
	double c0, w0, c1, w1;
	int passed = 0;

	buf_init(&sig, 65536);
	buf_init(&field, 65536);
	sign_once(m, k, sel, &sig);
	buf_appendf(&field, "DKIM-Signature:%s\r\n", sig.data);
	if (verify && !verify_once(m, field.data)) {
		fprintf(stderr, "%s: the signature does not verify\n", label);
		exit(1);
	}
	c0 = cpu_us();
	w0 = wall_us();
	for (int i = 0; i < count; i++) {
		if (verify)
			passed += verify_once(m, field.data);
		else
			sign_once(m, k, sel, &sig);
	}
	c1 = cpu_us();
	w1 = wall_us();
	printf("%-26s %9.0f msg/s  %7.1f us CPU/msg%s\n", label,
	    count / ((w1 - w0) / 1e6), (c1 - c0) / count,
	    verify && passed != count ? "  (FAILURES)" : "");
	buf_free(&sig);
	buf_free(&field);
}

int main(int argc, char **argv)
{
	struct dkim_key *rsa, *ed;
	struct msg m;
	struct buf b;
	const char *err;
	int count = 2000, ch;
	char label[64];

	while ((ch = getopt(argc, argv, "n:")) != -1) {
		if (ch != 'n') {
			fprintf(stderr, "usage: dkim-engine-bench [-n COUNT] "
			    "MESSAGE RSA.pem ED25519.pem\n");
			return 2;
		}
		count = atoi(optarg);
	}
	if (argc - optind != 3) {
		fprintf(stderr, "usage: dkim-engine-bench [-n COUNT] MESSAGE "
		    "RSA.pem ED25519.pem\n");
		return 2;
	}
	load(argv[optind], &m);
	if ((rsa = dkim_key_load(argv[optind + 1], &err)) == NULL ||
	    (ed = dkim_key_load(argv[optind + 2], &err)) == NULL) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	buf_init(&b, 8192);
	dkim_key_record(rsa, &b);
	snprintf(rec_rsa, sizeof(rec_rsa), "%s", b.data);
	buf_reset(&b);
	dkim_key_record(ed, &b);
	snprintf(rec_ed, sizeof(rec_ed), "%s", b.data);
	buf_free(&b);
	printf("message %s: %zu bytes, %d messages per case\n",
	    argv[optind], m.raw.len, count);
	snprintf(label, sizeof(label), "sign rsa-%d", dkim_key_bits(rsa));
	run(label, &m, rsa, "rsa", 0, count);
	snprintf(label, sizeof(label), "verify rsa-%d", dkim_key_bits(rsa));
	run(label, &m, rsa, "rsa", 1, count);
	run("sign ed25519", &m, ed, "ed", 0, count);
	run("verify ed25519", &m, ed, "ed", 1, count);
	dkim_key_free(&rsa);
	dkim_key_free(&ed);
	buf_free(&m.raw);
	return 0;
}
