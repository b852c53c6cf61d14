/*
 * dmarc_ruf.c - DMARC failure reports; see dmarc_ruf.h (what is sent,
 *               when, to whom, and how every copied byte is bounded).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "authres.h"
#include "dmarc_ruf.h"
#include "dns.h"
#include "log.h"
#include "lru.h"
#include "xalloc.h"

#define FOLD_AT		78	/* fold before a space at this column */
#define LINE_HARD	998	/* RFC 5322 2.1.1: longest line */
#define NOTICE_MAX	400	/* reserved for the text part's notices */
#define AR_MAX		8192	/* our Authentication-Results field */
#define BOUNDARY_TRIES	4	/* a boundary found in the content */
#define TAG_MAX		64	/* an outbox entry's name in the log */
#define CTYPE_SCAN	1024	/* bytes of Content-Type looked at */

/* ------------------------------------------------------------ text */

/*
 * san - append at most max bytes of s[0..n) masked: printable ASCII is
 * kept, runs of space, TAB, CR and LF become one space, anything else
 * '?'; leading and trailing space dropped.  *cut_r (if not NULL) is set
 * when s was longer than max.
 */
static int san(struct buf *b, const char *s, size_t n, size_t max,
    int *cut_r)
{
	size_t start = b->len;
	int space = 0, rc = 0;

	if (s == NULL)
		n = 0;
	if (n > max) {
		n = max;
		if (cut_r)
			*cut_r = 1;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			space = 1;
			continue;
		}
		if (space && b->len > start)
			rc |= buf_appendc(b, ' ');
		space = 0;
		rc |= buf_appendc(b, c > 32 && c < 127 ? c : '?');
	}
	return rc ? -1 : 0;
}

/* sanz - san of a C string (read no further than max + 1 bytes) */
static int sanz(struct buf *b, const char *s, size_t max)
{
	return san(b, s, s ? strnlen(s, max + 1) : 0, max, NULL);
}

/* san_token - append s masked as san does, with space, '<', '>', '(',
 * ')', ';' and '"' also masked: an address or a queue id stays one
 * token */
static int san_token(struct buf *b, const char *s, size_t max)
{
	size_t at = b->len;

	if (sanz(b, s, max) < 0)
		return -1;
	for (size_t i = at; i < b->len; i++)
		if (strchr(" <>();\"", b->data[i]))
			b->data[i] = '?';
	return 0;
}

/*
 * fold - one header line s[0..n) (printable ASCII, single spaces) with
 * CRLF: folded before a space so lines stay within FOLD_AT columns when
 * a space allows it (not before minbreak on the first line), never over
 * LINE_HARD: a longer run without a space gets CRLF SP inserted.
 */
static int fold(struct buf *b, const char *s, size_t n, size_t minbreak)
{
	size_t start = 0, col0 = 0;
	int rc = 0;

	if (minbreak < 1)
		minbreak = 1;
	while (col0 + (n - start) > FOLD_AT) {
		size_t lim = start + FOLD_AT - col0;
		size_t lo = start == 0 ? minbreak : start + 1;
		size_t p = 0;

		for (size_t i = lim; i >= lo && i > start; i--)
			if (s[i] == ' ') {
				p = i;
				break;
			}
		if (p == 0) {
			size_t hard = start + LINE_HARD - col0;

			for (size_t i = lim + 1; i < n && i <= hard; i++)
				if (s[i] == ' ' && i >= lo) {
					p = i;
					break;
				}
		}
		if (p == 0) {
			if (col0 + (n - start) <= LINE_HARD)
				break;
			p = start + LINE_HARD - col0;
			rc |= buf_append(b, s + start, p - start);
			rc |= buf_appends(b, "\r\n ");
			start = p;
			col0 = 1;
			continue;
		}
		rc |= buf_append(b, s + start, p - start);
		rc |= buf_appends(b, "\r\n");
		start = p;
		col0 = 0;
	}
	rc |= buf_append(b, s + start, n - start);
	rc |= buf_appends(b, "\r\n");
	return rc ? -1 : 0;
}

/* field - "Name: value" (value masked, at most max bytes of it read),
 * folded, into b; *cut_r as san */
static int field(struct buf *b, const char *name, const char *v, size_t vlen,
    size_t max, int *cut_r)
{
	struct buf t;
	size_t nlen = strlen(name);
	int rc;

	buf_init(&t, nlen + max + 16);
	rc = buf_append(&t, name, nlen);
	rc |= buf_appends(&t, ": ");
	rc |= san(&t, v, vlen, max, cut_r);
	if (rc == 0 && t.len == nlen + 2)
		buf_truncate(&t, nlen + 1);	/* empty: "Name:" */
	if (rc == 0)
		rc = fold(b, t.data, t.len, nlen + 2);
	buf_free(&t);
	return rc ? -1 : 0;
}

/* fieldz - field of a C string read up to max bytes */
static int fieldz(struct buf *b, const char *name, const char *v, size_t max)
{
	return field(b, name, v, v ? strnlen(v, max + 1) : 0, max, NULL);
}

/* fieldf - field of a formatted value (our own text; still masked) */
static int fieldf(struct buf *b, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fieldf(struct buf *b, const char *name, const char *fmt, ...)
{
	struct buf t;
	va_list ap;
	int rc;

	buf_init(&t, AR_MAX);
	va_start(ap, fmt);
	rc = buf_vappendf(&t, fmt, ap);
	va_end(ap);
	if (rc == 0)
		rc = field(b, name, t.data, t.len, AR_MAX, NULL);
	buf_free(&t);
	return rc;
}

/* host_ok - a plain host name: letters, digits, '-', '.'; not empty */
static int host_ok(const char *s)
{
	size_t n = 0;

	if (s == NULL || *s == '\0')
		return 0;
	for (; s[n]; n++)
		if (!((s[n] >= 'a' && s[n] <= 'z') ||
		    (s[n] >= 'A' && s[n] <= 'Z') ||
		    (s[n] >= '0' && s[n] <= '9') || s[n] == '-' ||
		    s[n] == '.') || n >= DMARC_DOMAIN_MAX - 1)
			return 0;
	return 1;
}

/* rand_hex - 2 * n hex digits of randomness (n <= 32) into out */
static void rand_hex(char *out, size_t n)
{
	unsigned char r[32];

	if (n > sizeof(r))
		n = sizeof(r);
	if (getrandom(r, n, 0) != (ssize_t)n) {
		/* no entropy: still unique, no longer secret; the
		 * boundary is checked against the content anyway */
		static unsigned long long ctr;
		struct timespec ts;
		unsigned long long x;

		clock_gettime(CLOCK_REALTIME, &ts);
		x = (unsigned long long)ts.tv_nsec * 6364136223846793005ULL ^
		    (unsigned long long)ts.tv_sec ^
		    __atomic_add_fetch(&ctr, 1, __ATOMIC_RELAXED);
		for (size_t i = 0; i < n; i++) {
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
			r[i] = (unsigned char)(x >> 56);
		}
	}
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", r[i]);
}

/* ------------------------------------------------------------ fo= */

/* dkim_failed - a signature that failed evaluation (fo=d) */
static int dkim_failed(enum dkim_result r)
{
	return r == DKIM_RES_FAIL || r == DKIM_RES_NEUTRAL ||
	    r == DKIM_RES_POLICY || r == DKIM_RES_PERMERROR;
}

/* spf_failed - an SPF failure (fo=s) */
static int spf_failed(enum spf_result r)
{
	return r == SPF_FAIL || r == SPF_SOFTFAIL || r == SPF_PERMERROR;
}

/* dmarc_ruf_wanted - which reports fo= asks for */
unsigned dmarc_ruf_wanted(const struct dmarc_record *r,
    const struct dmarc_eval *ev, const struct dmarc_auth *a)
{
	unsigned fo, k = 0;

	if (r == NULL || ev == NULL || a == NULL || !ev->have_record ||
	    r->nruf == 0 || r->psd == 'y' ||
	    (ev->result != DMARC_PASS && ev->result != DMARC_FAIL))
		return 0;
	fo = r->fo ? r->fo : DMARC_FO_0;
	if ((fo & DMARC_FO_0) && !ev->spf_aligned && !ev->dkim_aligned)
		k |= DMARC_RUF_DMARC;
	if ((fo & DMARC_FO_1) && (!ev->spf_aligned || !ev->dkim_aligned))
		k |= DMARC_RUF_DMARC;
	if (fo & DMARC_FO_D)
		for (size_t i = 0; i < a->ndkim && i < DMARC_DKIM_MAX; i++)
			if (dkim_failed(a->dkim[i].result))
				k |= DMARC_RUF_DKIM;
	if ((fo & DMARC_FO_S) && a->spf_domain && spf_failed(a->spf))
		k |= DMARC_RUF_SPF;
	/* a DMARC report carries the DKIM and SPF details */
	if (k & DMARC_RUF_DMARC)
		k = DMARC_RUF_DMARC;
	return k;
}

/* ------------------------------------------------------------ report */

/* below_or_same - is name org, or a name below it? */
static int below_or_same(const char *name, const char *org)
{
	size_t n = strlen(name), o = strlen(org);

	if (o == 0 || n < o || strcasecmp(name + n - o, org) != 0)
		return 0;
	return n == o || name[n - o - 1] == '.';
}

/* name_aligned - does a d= look aligned with the From domain?  Only to
 * choose which signature the DKIM-* fields describe: strict is
 * equality; relaxed is being under the From domain's organizational
 * domain when the engine found it, else being the From domain's parent
 * or child */
static int name_aligned(const char *d, const struct dmarc_eval *ev)
{
	if (d == NULL || *d == '\0')
		return 0;
	if (strcasecmp(d, ev->from_domain) == 0)
		return 1;
	if (ev->have_record && ev->rec.adkim_strict)
		return 0;
	if (ev->org_domain[0])
		return below_or_same(d, ev->org_domain);
	return below_or_same(d, ev->from_domain) ||
	    below_or_same(ev->from_domain, d);
}

/* pick_sig - the signature the DKIM-* fields describe, or -1 */
static int pick_sig(const struct dmarc_auth *a, const struct dmarc_eval *ev,
    unsigned kind)
{
	size_t n = a->ndkim < DMARC_DKIM_MAX ? a->ndkim : DMARC_DKIM_MAX;

	for (size_t i = 0; i < n; i++)
		if (dkim_failed(a->dkim[i].result) &&
		    name_aligned(a->dkim[i].domain, ev))
			return (int)i;
	for (size_t i = 0; i < n; i++)
		if (dkim_failed(a->dkim[i].result))
			return (int)i;
	if (kind == DMARC_RUF_DKIM)
		return -1;
	if (ev->dkim_aligned_index >= 0 && (size_t)ev->dkim_aligned_index < n)
		return ev->dkim_aligned_index;
	for (size_t i = 0; i < n; i++)
		if (a->dkim[i].domain && a->dkim[i].domain[0])
			return (int)i;
	return -1;
}

/* bounded - s cut to DMARC_RUF_PEER_MAX bytes in out (for authres) */
static const char *bounded(const char *s, char *out)
{
	size_t n = s ? strnlen(s, DMARC_RUF_PEER_MAX) : 0;

	memcpy(out, s ? s : "", n);
	out[n] = '\0';
	return out;
}

/* ar_value - the Authentication-Results field's value: our results as
 * the milter saw them; whole resinfos that do not fit are left out */
static void ar_value(struct buf *b, const struct dmarc_ruf_reporter *rp,
    const struct dmarc_eval *ev, const struct dmarc_auth *a)
{
	char t1[DMARC_RUF_PEER_MAX + 1], t2[DMARC_RUF_PEER_MAX + 1];
	const char *id = rp->authserv_id && *rp->authserv_id ?
	    rp->authserv_id : rp->org_domain;
	size_t mark;

	if (authres_begin(b, bounded(id, t1)) < 0 ||
	    dmarc_eval_authres(ev, b) < 0) {
		buf_reset(b);
		buf_appends(b, "unknown; dmarc=fail");
		return;
	}
	if (a->spf_domain) {
		mark = b->len;
		if (authres_method(b, "spf", spf_result_name(a->spf), NULL) <
		    0 || authres_prop(b, a->spf_helo ? "smtp.helo" :
		    "smtp.mailfrom", bounded(a->spf_domain, t1)) < 0) {
			buf_truncate(b, mark);
			return;
		}
	}
	for (size_t i = 0; i < a->ndkim && i < DMARC_DKIM_MAX; i++) {
		mark = b->len;
		if (authres_method(b, "dkim",
		    dkim_result_name(a->dkim[i].result), NULL) < 0 ||
		    authres_prop(b, "header.d",
		    bounded(a->dkim[i].domain, t1)) < 0 ||
		    (a->dkim[i].selector && a->dkim[i].selector[0] &&
		    authres_prop(b, "header.s",
		    bounded(a->dkim[i].selector, t2)) < 0)) {
			buf_truncate(b, mark);
			return;
		}
	}
}

/* identity_alignment - RFC 9991: mechanisms that failed to give an
 * aligned pass; RFC 7489: those that gave one */
static const char *identity_alignment(const struct dmarc_eval *ev,
    enum dmarc_mode mode)
{
	int d = ev->dkim_aligned, s = ev->spf_aligned;

	if (mode == DMARC_MODE_RFC7489)
		return d && s ? "dkim, spf" : d ? "dkim" : s ? "spf" : "none";
	return !d && !s ? "dkim, spf" : !d ? "dkim" : !s ? "spf" : "none";
}

/* spf_dns_value - "txt : DOMAIN : "RECORD"" (RFC 6591 3.1), the record
 * cut to DMARC_RUF_SPF_TXT_MAX and quoted */
static int spf_dns_field(struct buf *b, const char *domain, const char *rec)
{
	struct buf t;
	size_t n = strnlen(rec, DMARC_RUF_SPF_TXT_MAX);
	int rc;

	buf_init(&t, 3 * DMARC_RUF_SPF_TXT_MAX + DMARC_RUF_PEER_MAX + 32);
	rc = buf_appends(&t, "txt : ");
	rc |= san_token(&t, domain, DMARC_RUF_PEER_MAX);
	rc |= buf_appends(&t, " : \"");
	for (size_t i = 0; i < n && rc == 0; i++) {
		unsigned char c = (unsigned char)rec[i];

		if (c == '"' || c == '\\')
			rc |= buf_appendc(&t, '\\');
		rc |= buf_appendc(&t, c);
	}
	rc |= buf_appendc(&t, '"');
	if (rc == 0)
		rc = field(b, "SPF-DNS", t.data, t.len, t.len, NULL);
	buf_free(&t);
	return rc ? -1 : 0;
}

/* feedback - the message/feedback-report part's fields */
static int feedback(struct buf *b, const struct dmarc_ruf_reporter *rp,
    const struct dmarc_ruf_msg *m, const struct dmarc_eval *ev,
    unsigned kind, time_t arrival)
{
	const struct dmarc_auth *a = m->auth;
	struct buf ar;
	char date[MAILSEND_DATE_MAX], ipbuf[sizeof(struct in6_addr)];
	int rc = 0, sig = pick_sig(a, ev, kind);
	static const char *const results[] = { "delivered", "spam", "policy",
	    "reject", "other" };

	rc |= buf_appends(b, "Feedback-Type: auth-failure\r\n"
	    "User-Agent: postern-dmarc/" PACKAGE_VERSION "\r\n"
	    "Version: 1\r\n");
	rc |= buf_appendf(b, "Auth-Failure: %s\r\n",
	    kind == DMARC_RUF_DKIM ? "signature" :
	    kind == DMARC_RUF_SPF ? "spf" : "dmarc");
	buf_init(&ar, AR_MAX);
	ar_value(&ar, rp, ev, a);
	rc |= field(b, "Authentication-Results", ar.data, ar.len, AR_MAX,
	    NULL);
	buf_free(&ar);
	if (kind == DMARC_RUF_DMARC)
		rc |= buf_appendf(b, "Identity-Alignment: %s\r\n",
		    identity_alignment(ev, rp->mode));
	if (m->delivery_result)
		for (size_t i = 0; i < sizeof(results) / sizeof(*results);
		    i++)
			if (strcmp(m->delivery_result, results[i]) == 0)
				rc |= buf_appendf(b, "Delivery-Result: %s\r\n",
				    results[i]);
	if (sig >= 0 && kind != DMARC_RUF_SPF) {
		const char *d = a->dkim[sig].domain, *s = a->dkim[sig].selector;
		struct buf t;

		rc |= fieldz(b, "DKIM-Domain", d, DMARC_RUF_PEER_MAX);
		buf_init(&t, DMARC_RUF_PEER_MAX + 2);
		rc |= buf_appendc(&t, '@');
		rc |= san_token(&t, d, DMARC_RUF_PEER_MAX);
		rc |= field(b, "DKIM-Identity", t.data, t.len, t.len, NULL);
		buf_free(&t);
		if (s && *s)
			rc |= fieldz(b, "DKIM-Selector", s, DMARC_RUF_PEER_MAX);
	}
	if (a->spf_domain && kind != DMARC_RUF_DKIM)
		for (size_t i = 0; i < m->nspf_dns && i < DMARC_RUF_SPF_DNS_MAX;
		    i++)
			if (m->spf_dns[i])
				rc |= spf_dns_field(b, a->spf_domain,
				    m->spf_dns[i]);
	if (m->queue_id && *m->queue_id) {
		struct buf t;

		buf_init(&t, DMARC_RUF_PEER_MAX + 1);
		rc |= san_token(&t, m->queue_id, DMARC_RUF_PEER_MAX);
		rc |= field(b, "Original-Envelope-Id", t.data, t.len, t.len,
		    NULL);
		buf_free(&t);
	}
	{
		struct buf t;

		buf_init(&t, DMARC_RUF_PEER_MAX + 3);
		rc |= buf_appendc(&t, '<');
		if (m->mail_from)
			rc |= san_token(&t, m->mail_from, DMARC_RUF_PEER_MAX);
		rc |= buf_appendc(&t, '>');
		rc |= field(b, "Original-Mail-From", t.data, t.len, t.len,
		    NULL);
		if (m->rcpt && *m->rcpt) {
			buf_reset(&t);
			rc |= buf_appendc(&t, '<');
			rc |= san_token(&t, m->rcpt, DMARC_RUF_PEER_MAX);
			rc |= buf_appendc(&t, '>');
			rc |= field(b, "Original-Rcpt-To", t.data, t.len,
			    t.len, NULL);
		}
		buf_free(&t);
	}
	rc |= buf_appendf(b, "Arrival-Date: %s\r\n", mailsend_date(arrival, date));
	if (rp->reporting_mta && host_ok(rp->reporting_mta))
		rc |= buf_appendf(b, "Reporting-MTA: dns; %s\r\n",
		    rp->reporting_mta);
	if (m->source_ip && strlen(m->source_ip) < INET6_ADDRSTRLEN &&
	    (inet_pton(AF_INET, m->source_ip, ipbuf) == 1 ||
	    inet_pton(AF_INET6, m->source_ip, ipbuf) == 1))
		rc |= buf_appendf(b, "Source-IP: %s\r\n", m->source_ip);
	rc |= fieldz(b, "Reported-Domain", ev->from_domain,
	    DMARC_DOMAIN_MAX - 1);
	return rc ? -1 : 0;
}

/* textline - "label value" as one line of the text part */
static int textline(struct buf *b, const char *label, const char *v)
{
	int rc = buf_appends(b, label);

	rc |= sanz(b, v, DMARC_RUF_PEER_MAX);
	rc |= buf_appends(b, "\r\n");
	return rc ? -1 : 0;
}

/* text - the human part, but its notices */
static int text(struct buf *b, const struct dmarc_ruf_reporter *rp,
    const struct dmarc_ruf_msg *m, const struct dmarc_eval *ev,
    unsigned kind, time_t arrival, const char *org)
{
	const struct dmarc_auth *a = m->auth;
	char date[MAILSEND_DATE_MAX];
	int rc = 0;

	rc |= buf_appends(b, "This is an authentication failure report "
	    "(RFC 6591, RFC 9991)\r\nfrom ");
	rc |= sanz(b, rp->org_name && *rp->org_name ? rp->org_name : org,
	    DMARC_RUF_PEER_MAX);
	rc |= buf_appends(b, ".\r\n\r\n");
	rc |= textline(b, kind == DMARC_RUF_DKIM ?
	    "A DKIM signature failed to verify on a message from " :
	    kind == DMARC_RUF_SPF ?
	    "The SPF check failed for a message from " :
	    ev->result == DMARC_PASS ?
	    "Not every mechanism gave an aligned pass for a message from " :
	    "DMARC authentication failed for a message from ",
	    ev->from_domain);
	rc |= buf_appends(b, "\r\n");
	rc |= textline(b, "Arrival date:    ", mailsend_date(arrival, date));
	rc |= textline(b, "Source IP:       ", m->source_ip);
	rc |= textline(b, "HELO name:       ", m->helo);
	rc |= buf_appends(b, "Envelope sender: <");
	rc |= san_token(b, m->mail_from, DMARC_RUF_PEER_MAX);
	rc |= buf_appends(b, ">\r\n");
	rc |= buf_appendf(b, "DMARC:           %s, policy domain ",
	    dmarc_result_name(ev->result));
	rc |= sanz(b, ev->policy_domain, DMARC_DOMAIN_MAX - 1);
	rc |= buf_appendf(b, "\r\nPolicy:          p=%s, disposition %s\r\n",
	    dmarc_policy_name(ev->policy),
	    dmarc_policy_name(ev->disposition));
	if (a->spf_domain) {
		rc |= buf_appendf(b, "SPF:             %s for ",
		    spf_result_name(a->spf));
		rc |= sanz(b, a->spf_domain, DMARC_RUF_PEER_MAX);
		rc |= buf_appendf(b, " (%s), aligned pass: %s\r\n",
		    a->spf_helo ? "HELO" : "MAIL FROM",
		    ev->spf_aligned ? "yes" : "no");
	} else {
		rc |= buf_appends(b, "SPF:             none\r\n");
	}
	for (size_t i = 0; i < a->ndkim && i < DMARC_DKIM_MAX; i++) {
		rc |= buf_appendf(b, "DKIM:            %s d=",
		    dkim_result_name(a->dkim[i].result));
		rc |= sanz(b, a->dkim[i].domain, DMARC_RUF_PEER_MAX);
		if (a->dkim[i].selector && *a->dkim[i].selector) {
			rc |= buf_appends(b, " s=");
			rc |= sanz(b, a->dkim[i].selector, DMARC_RUF_PEER_MAX);
		}
		rc |= buf_appendf(b, "%s\r\n", ev->dkim_aligned &&
		    ev->dkim_aligned_index == (int)i ? " (aligned pass)" : "");
	}
	if (a->ndkim == 0)
		rc |= buf_appends(b, "DKIM:            none (no signature)\r\n");
	rc |= buf_appends(b, "\r\nThe header of the message is attached; its "
	    "body is not (privacy).\r\n");
	return rc ? -1 : 0;
}

/* hdr_field - one original header field, masked, cut, folded into t */
static int hdr_field(struct buf *t, const struct dmarc_ruf_hdr *h, int *cut_r)
{
	char name[DMARC_RUF_NAME_MAX + 1];
	size_t n = 0;

	if (h->name)
		for (; h->name[n] && n < DMARC_RUF_NAME_MAX; n++) {
			unsigned char c = (unsigned char)h->name[n];

			name[n] = c > 32 && c < 127 && c != ':' ? (char)c : '?';
		}
	if (h->name && h->name[n])
		*cut_r = 1;
	if (n == 0)
		name[n++] = '?';
	name[n] = '\0';
	buf_reset(t);
	return field(t, name, h->value, h->value ? h->vlen : 0,
	    DMARC_RUF_FIELD_MAX - n - 2,
	    cut_r);
}

/* assemble - the whole message into out */
static int assemble(struct buf *out, const struct buf *head, const char *bd,
    const struct buf *txt, const struct buf *notes, const struct buf *fb,
    const struct buf *hdrs)
{
	int rc = 0;

	buf_reset(out);
	rc |= buf_append(out, head->data, head->len);
	rc |= buf_appendf(out, "Content-Type: multipart/report; "
	    "report-type=feedback-report;\r\n\tboundary=\"%s\"\r\n\r\n", bd);
	rc |= buf_appends(out, "This is a MIME-formatted message: a DMARC "
	    "failure report.\r\n\r\n");
	rc |= buf_appendf(out, "--%s\r\nContent-Type: text/plain; "
	    "charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\n", bd);
	rc |= buf_append(out, txt->data, txt->len);
	rc |= buf_append(out, notes->data, notes->len);
	rc |= buf_appendf(out, "\r\n--%s\r\nContent-Type: "
	    "message/feedback-report\r\nContent-Transfer-Encoding: 7bit\r\n"
	    "\r\n", bd);
	rc |= buf_append(out, fb->data, fb->len);
	rc |= buf_appendf(out, "\r\n--%s\r\nContent-Type: "
	    "text/rfc822-headers\r\nContent-Transfer-Encoding: 7bit\r\n\r\n",
	    bd);
	rc |= buf_append(out, hdrs->data, hdrs->len);
	rc |= buf_appendf(out, "\r\n--%s--\r\n", bd);
	return rc ? -1 : 0;
}

/* has - does b hold s? */
static int has(const struct buf *b, const char *s)
{
	return memmem(b->data, b->len, s, strlen(s)) != NULL;
}

/* dmarc_ruf_build - one report message */
int dmarc_ruf_build(const struct dmarc_ruf_reporter *rp,
    const struct dmarc_ruf_msg *m, const struct dmarc_eval *ev,
    unsigned kind, const char *to, size_t max_bytes, struct buf *out,
    size_t *omitted_r, const char **err_r)
{
	struct buf head, txt, notes, fb, hdrs, t;
	char bd[64], mid[40], date[MAILSEND_DATE_MAX];
	const char *org;
	size_t omitted = 0, cut = 0, base;
	time_t now = time(NULL), arrival;
	int rc = -1;

	*err_r = NULL;
	if (omitted_r)
		*omitted_r = 0;
	buf_reset(out);
	if (rp == NULL || m == NULL || m->auth == NULL || ev == NULL ||
	    (kind != DMARC_RUF_DMARC && kind != DMARC_RUF_DKIM &&
	    kind != DMARC_RUF_SPF)) {
		*err_r = "bad arguments";
		return -1;
	}
	if (rp->from == NULL || !mailsend_addr_valid(rp->from) ||
	    to == NULL || !mailsend_addr_valid(to)) {
		*err_r = "report sender or recipient is not a usable address";
		return -1;
	}
	if (max_bytes == 0 || max_bytes > DMARC_RUF_MAX_BYTES)
		max_bytes = DMARC_RUF_MAX_BYTES;
	if (out->max < max_bytes) {
		*err_r = "output buffer smaller than the report bound";
		return -1;
	}
	org = host_ok(rp->org_domain) ? rp->org_domain :
	    strrchr(rp->from, '@') + 1;
	arrival = m->arrival ? m->arrival : now;
	buf_init(&head, DMARC_RUF_MAX_BYTES);
	buf_init(&txt, DMARC_RUF_MAX_BYTES);
	buf_init(&notes, NOTICE_MAX);
	buf_init(&fb, DMARC_RUF_MAX_BYTES);
	buf_init(&hdrs, DMARC_RUF_MAX_BYTES);
	buf_init(&t, 2 * DMARC_RUF_FIELD_MAX);
	for (int tries = 0; tries < BOUNDARY_TRIES; tries++) {
		int r = 0;

		memcpy(bd, "=_postern_ruf_", 14);
		rand_hex(bd + 14, 16);
		rand_hex(mid, 8);
		buf_reset(&head);
		buf_reset(&txt);
		buf_reset(&notes);
		buf_reset(&fb);
		buf_reset(&hdrs);
		omitted = cut = 0;
		r |= buf_appendf(&head, "From: %s\r\nTo: %s\r\n", rp->from, to);
		r |= fieldf(&head, "Subject", "%s failure report for %.*s from "
		    "%s", kind == DMARC_RUF_DKIM ? "DKIM" :
		    kind == DMARC_RUF_SPF ? "SPF" : "DMARC",
		    (int)strnlen(ev->from_domain, DMARC_DOMAIN_MAX),
		    ev->from_domain, org);
		r |= buf_appendf(&head, "Date: %s\r\n", mailsend_date(now, date));
		r |= buf_appendf(&head, "Message-ID: <ruf.%s.%lld@%s>\r\n", mid,
		    (long long)now, org);
		r |= buf_appends(&head, "Auto-Submitted: auto-generated\r\n"
		    "MIME-Version: 1.0\r\n");
		r |= text(&txt, rp, m, ev, kind, arrival, org);
		r |= feedback(&fb, rp, m, ev, kind, arrival);
		if (r < 0) {
			*err_r = "report too large";
			goto done;
		}
		/* what everything but the original header takes */
		if (assemble(out, &head, bd, &txt, &notes, &fb, &hdrs) < 0 ||
		    out->len + NOTICE_MAX > max_bytes) {
			*err_r = "report over its size limit even without the "
			    "original header";
			goto done;
		}
		base = out->len + NOTICE_MAX;
		for (size_t i = 0; i < m->nhdrs; i++) {
			int c = 0;

			if (hdr_field(&t, &m->hdrs[i], &c) < 0 ||
			    base + hdrs.len + t.len > max_bytes) {
				omitted++;
				continue;
			}
			buf_append(&hdrs, t.data, t.len);
			cut += c;
		}
		if (omitted)
			buf_appendf(&notes, "\r\n%zu header field%s of the "
			    "message %s left out\r\nto keep this report under "
			    "%zu bytes.\r\n", omitted, omitted == 1 ? "" : "s",
			    omitted == 1 ? "was" : "were", max_bytes);
		if (cut)
			buf_appendf(&notes, "%s%zu header field%s longer than "
			    "%d bytes %s cut.\r\n", omitted ? "" : "\r\n", cut,
			    cut == 1 ? "" : "s", DMARC_RUF_FIELD_MAX,
			    cut == 1 ? "was" : "were");
		{
			char delim[sizeof(bd) + 2];

			snprintf(delim, sizeof(delim), "--%s", bd);
			if (has(&txt, delim) || has(&fb, delim) ||
			    has(&hdrs, delim) || has(&head, delim))
				continue;	/* another boundary */
		}
		if (assemble(out, &head, bd, &txt, &notes, &fb, &hdrs) < 0 ||
		    out->len > max_bytes) {
			*err_r = "report over its size limit";
			goto done;
		}
		if (omitted_r)
			*omitted_r = omitted;
		rc = 0;
		goto done;
	}
	*err_r = "no MIME boundary outside the content";
done:
	if (rc < 0)
		buf_reset(out);
	buf_free(&head);
	buf_free(&txt);
	buf_free(&notes);
	buf_free(&fb);
	buf_free(&hdrs);
	buf_free(&t);
	return rc;
}

/* ------------------------------------------------------------ limiter */

/* a token bucket in 1/DMARC_RUF_HOUR token units */
struct bucket {
	unsigned long long units;
	time_t t;			/* when units was right */
};

struct dmarc_ruf_limit {
	pthread_mutex_t mu;
	unsigned per_domain, total;
	struct lru *domains;		/* key: lower-case domain */
	struct bucket all;
};

/* dmarc_ruf_limit_new - full buckets; rates of at least 1 per hour */
struct dmarc_ruf_limit *dmarc_ruf_limit_new(unsigned per_domain_per_hour,
    unsigned total_per_hour, size_t max_domains)
{
	struct dmarc_ruf_limit *l = xcalloc(1, sizeof(*l));

	pthread_mutex_init(&l->mu, NULL);
	l->per_domain = per_domain_per_hour ? per_domain_per_hour : 1;
	l->total = total_per_hour ? total_per_hour : 1;
	l->domains = lru_new(max_domains ? max_domains : 1, 0, free);
	l->all.units = (unsigned long long)l->total * DMARC_RUF_HOUR;
	l->all.t = 0;
	return l;
}

/* level - b's units at now, for a rate of n per hour */
static unsigned long long level(const struct bucket *b, unsigned n,
    time_t now)
{
	unsigned long long cap = (unsigned long long)n * DMARC_RUF_HOUR;
	unsigned long long u = b->units;

	if (now > b->t) {
		unsigned long long el = (unsigned long long)(now - b->t);

		u = el >= DMARC_RUF_HOUR ? cap : u + el * n;
	}
	return u > cap ? cap : u;
}

/* dmarc_ruf_limit_take - one token from the domain's and the total
 * bucket, or none */
int dmarc_ruf_limit_take(struct dmarc_ruf_limit *l, const char *domain,
    time_t now)
{
	char key[DMARC_DOMAIN_MAX];
	struct bucket *b, *nb;
	unsigned long long du, au, dcap;
	size_t n = 0;

	for (; domain && domain[n] && n < sizeof(key) - 1; n++)
		key[n] = (domain[n] >= 'A' && domain[n] <= 'Z') ?
		    (char)(domain[n] + 32) : domain[n];
	key[n] = '\0';
	dcap = (unsigned long long)l->per_domain * DMARC_RUF_HOUR;
	pthread_mutex_lock(&l->mu);
	b = lru_get(l->domains, key, now);
	du = b ? level(b, l->per_domain, now) : dcap;
	au = level(&l->all, l->total, now);
	if (du < DMARC_RUF_HOUR || au < DMARC_RUF_HOUR) {
		pthread_mutex_unlock(&l->mu);
		return 0;
	}
	l->all.units = au - DMARC_RUF_HOUR;
	if (now > l->all.t)
		l->all.t = now;
	nb = xmalloc(sizeof(*nb));
	nb->units = du - DMARC_RUF_HOUR;
	nb->t = b && b->t > now ? b->t : now;
	/* forgotten once full again: a new bucket is the same */
	lru_put(l->domains, key, nb, nb->t + (time_t)((dcap - nb->units +
	    l->per_domain - 1) / l->per_domain), 1);
	pthread_mutex_unlock(&l->mu);
	return 1;
}

/* dmarc_ruf_limit_domains - domains tracked */
size_t dmarc_ruf_limit_domains(struct dmarc_ruf_limit *l)
{
	size_t n;

	pthread_mutex_lock(&l->mu);
	n = lru_count(l->domains);
	pthread_mutex_unlock(&l->mu);
	return n;
}

/* dmarc_ruf_limit_free - free; *lp = NULL */
void dmarc_ruf_limit_free(struct dmarc_ruf_limit **lp)
{
	struct dmarc_ruf_limit *l = *lp;

	*lp = NULL;
	if (l == NULL)
		return;
	lru_free(&l->domains);
	pthread_mutex_destroy(&l->mu);
	free(l);
}

/* ------------------------------------------------------------- outbox */

struct item {
	struct item *next;
	struct mailsend ms;
	char from[MAILSEND_ADDR_MAX], rcpt[MAILSEND_ADDR_MAX], tag[TAG_MAX];
	size_t len;
	char msg[];
};

struct dmarc_ruf_outbox {
	pthread_mutex_t mu;
	pthread_cond_t work, idle;
	struct item *head, *tail;
	size_t n, max;
	int busy, stop;
	struct dmarc_ruf_outbox_stats st;
	pthread_t th;
};

/* deliver - one message through one transport; mailsend's outcome,
 * logged */
static int deliver(const struct mailsend *ms, const char *from,
    const char *rcpt, const char *msg, size_t len, const char *tag)
{
	char why[MAILSEND_WHY_MAX];
	const char *rcpts[1] = { rcpt };
	int r;

	why[0] = '\0';
	r = mailsend_send(ms, from, rcpts, 1, msg, len, NULL, why,
	    sizeof(why));
	if (r == 0)
		log_info("%s: DMARC failure report to <%s>: sent", tag, rcpt);
	else
		log_warn("%s: DMARC failure report to <%s>: %s (not "
		    "retried): %s", tag, rcpt, r > 0 ? "refused" : "not sent",
		    why);
	return r;
}

/* worker - the outbox's thread: one report at a time */
static void *worker(void *arg)
{
	struct dmarc_ruf_outbox *o = arg;

	pthread_mutex_lock(&o->mu);
	for (;;) {
		struct item *it;
		int r;

		while (o->head == NULL && !o->stop)
			pthread_cond_wait(&o->work, &o->mu);
		if (o->stop)
			break;
		it = o->head;
		o->head = it->next;
		if (o->head == NULL)
			o->tail = NULL;
		o->n--;
		o->busy = 1;
		pthread_mutex_unlock(&o->mu);
		r = deliver(&it->ms, it->from, it->rcpt, it->msg, it->len,
		    it->tag);
		free(it);
		pthread_mutex_lock(&o->mu);
		o->busy = 0;
		if (r == 0)
			o->st.sent++;
		else if (r > 0)
			o->st.refused++;
		else
			o->st.deferred++;
		pthread_cond_broadcast(&o->idle);
	}
	pthread_mutex_unlock(&o->mu);
	return NULL;
}

/* dmarc_ruf_outbox_new - the delivery thread and its queue */
struct dmarc_ruf_outbox *dmarc_ruf_outbox_new(size_t max_queued,
    const char **err_r)
{
	struct dmarc_ruf_outbox *o = xcalloc(1, sizeof(*o));
	int e;

	pthread_mutex_init(&o->mu, NULL);
	pthread_cond_init(&o->work, NULL);
	pthread_cond_init(&o->idle, NULL);
	o->max = max_queued ? max_queued : DMARC_RUF_QUEUE_MAX;
	if ((e = pthread_create(&o->th, NULL, worker, o)) != 0) {
		*err_r = "cannot start the failure-report thread";
		pthread_cond_destroy(&o->work);
		pthread_cond_destroy(&o->idle);
		pthread_mutex_destroy(&o->mu);
		free(o);
		errno = e;
		return NULL;
	}
	return o;
}

/* copy_bounded - s into out[outlen], cut */
static void copy_bounded(char *out, size_t outlen, const char *s)
{
	snprintf(out, outlen, "%s", s ? s : "");
}

/* dmarc_ruf_outbox_put - queue one message */
int dmarc_ruf_outbox_put(struct dmarc_ruf_outbox *o,
    const struct mailsend *ms, const char *from, const char *rcpt,
    const char *msg, size_t len, const char *tag)
{
	struct item *it;

	pthread_mutex_lock(&o->mu);
	if (o->n >= o->max || o->stop) {
		o->st.dropped++;
		pthread_mutex_unlock(&o->mu);
		return -1;
	}
	pthread_mutex_unlock(&o->mu);
	it = xmalloc(sizeof(*it) + len + 1);
	it->next = NULL;
	it->ms = *ms;
	copy_bounded(it->from, sizeof(it->from), from);
	copy_bounded(it->rcpt, sizeof(it->rcpt), rcpt);
	copy_bounded(it->tag, sizeof(it->tag), tag);
	memcpy(it->msg, msg, len);
	it->msg[len] = '\0';
	it->len = len;
	pthread_mutex_lock(&o->mu);
	if (o->n >= o->max || o->stop) {	/* filled meanwhile */
		o->st.dropped++;
		pthread_mutex_unlock(&o->mu);
		free(it);
		return -1;
	}
	if (o->tail)
		o->tail->next = it;
	else
		o->head = it;
	o->tail = it;
	o->n++;
	pthread_cond_signal(&o->work);
	pthread_mutex_unlock(&o->mu);
	return 0;
}

/* dmarc_ruf_outbox_flush - wait for an empty, idle outbox */
int dmarc_ruf_outbox_flush(struct dmarc_ruf_outbox *o, unsigned wait_ms)
{
	struct timespec dl;
	int rc;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += wait_ms / 1000;
	dl.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&o->mu);
	while ((o->head || o->busy) &&
	    pthread_cond_timedwait(&o->idle, &o->mu, &dl) != ETIMEDOUT)
		;
	rc = o->head || o->busy ? -1 : 0;
	pthread_mutex_unlock(&o->mu);
	return rc;
}

/* dmarc_ruf_outbox_stats - counts so far */
void dmarc_ruf_outbox_stats(struct dmarc_ruf_outbox *o,
    struct dmarc_ruf_outbox_stats *s)
{
	pthread_mutex_lock(&o->mu);
	*s = o->st;
	s->queued = o->n + (size_t)o->busy;
	pthread_mutex_unlock(&o->mu);
}

/* dmarc_ruf_outbox_free - drain for a while, drop the rest, stop */
void dmarc_ruf_outbox_free(struct dmarc_ruf_outbox **op, unsigned wait_ms)
{
	struct dmarc_ruf_outbox *o = *op;
	size_t dropped = 0;

	*op = NULL;
	if (o == NULL)
		return;
	dmarc_ruf_outbox_flush(o, wait_ms);
	pthread_mutex_lock(&o->mu);
	o->stop = 1;
	while (o->head) {
		struct item *it = o->head;

		o->head = it->next;
		free(it);
		dropped++;
	}
	o->tail = NULL;
	o->n = 0;
	pthread_cond_broadcast(&o->work);
	pthread_mutex_unlock(&o->mu);
	if (dropped)
		log_warn("DMARC failure reports: %zu not sent at exit",
		    dropped);
	pthread_join(o->th, NULL);
	pthread_cond_destroy(&o->work);
	pthread_cond_destroy(&o->idle);
	pthread_mutex_destroy(&o->mu);
	free(o);
}

/* --------------------------------------------------------------- send */

/* ci_find - does s[0..n) hold w (ASCII case-insensitive)? */
static int ci_find(const char *s, size_t n, const char *w)
{
	size_t wl = strlen(w);

	for (size_t i = 0; i + wl <= n; i++)
		if (strncasecmp(s + i, w, wl) == 0)
			return 1;
	return 0;
}

/* is_report - is the message itself a feedback report? (loops) */
static int is_report(const struct dmarc_ruf_msg *m)
{
	for (size_t i = 0; i < m->nhdrs; i++) {
		const struct dmarc_ruf_hdr *h = &m->hdrs[i];
		size_t n;

		if (h->name == NULL || h->value == NULL ||
		    strcasecmp(h->name, "Content-Type") != 0)
			continue;
		n = h->vlen < CTYPE_SCAN ? h->vlen : CTYPE_SCAN;
		/* NUL bytes would stop strncasecmp: they match nothing */
		if (memchr(h->value, '\0', n) == NULL &&
		    ci_find(h->value, n, "feedback-report"))
			return 1;
	}
	return 0;
}

/* spf_lookup - the v=spf1 TXT records of domain into recs (allocated) */
static size_t spf_lookup(const struct dmarc_ruf_send_opts *o,
    const char *domain, char **recs)
{
	struct dns_answer *a;
	size_t n = 0;

	if (o->lookup == NULL || domain == NULL || !dns_name_valid(domain))
		return 0;
	a = o->lookup(o->lookup_arg, domain, DNS_T_TXT);
	if (a->status == DNS_OK)
		for (size_t i = 0; i < a->n && n < DMARC_RUF_SPF_DNS_MAX;
		    i++) {
			const char *t = a->rr[i].txt;
			size_t len = a->rr[i].txt_len;

			if (a->rr[i].type != DNS_T_TXT || t == NULL ||
			    len < 6 || strncasecmp(t, "v=spf1", 6) != 0 ||
			    (len > 6 && t[6] != ' '))
				continue;
			recs[n++] = xstrndup(t, len < DMARC_RUF_SPF_TXT_MAX ?
			    len : DMARC_RUF_SPF_TXT_MAX);
		}
	dns_answer_unref(&a);
	return n;
}

/* hand - one message to its recipient: outbox or here */
static void hand(const struct dmarc_ruf_send_opts *o, const char *rcpt,
    const struct buf *msg, const char *tag, struct dmarc_ruf_outcome *oc,
    int counted)
{
	int r;

	if (o->outbox) {
		r = dmarc_ruf_outbox_put(o->outbox, o->transport,
		    o->reporter->from, rcpt, msg->data, msg->len, tag);
		if (!counted)
			return;
		if (r == 0)
			oc->sent++;
		else
			oc->skipped++;
		return;
	}
	r = deliver(o->transport, o->reporter->from, rcpt, msg->data,
	    msg->len, tag);
	if (!counted)
		return;
	if (r == 0)
		oc->sent++;
	else if (r > 0)
		oc->refused++;
	else
		oc->deferred++;
}

/* dmarc_ruf_send - every report fo= asks for, to every destination */
size_t dmarc_ruf_send(const struct dmarc_ruf_send_opts *o,
    const struct dmarc_ruf_msg *m, const struct dmarc_eval *ev,
    struct dmarc_ruf_outcome *oc)
{
	const struct dmarc_record *r = &ev->rec;
	const struct dmarc_uri *dest[DMARC_URIS_MAX];
	struct dmarc_ruf_msg mm;
	char *spf[DMARC_RUF_SPF_DNS_MAX], tag[TAG_MAX];
	size_t nd = 0, nspf = 0;
	time_t now = o->now ? o->now : time(NULL);
	int bcc_done = 0;
	struct buf msg, t;

	memset(oc, 0, sizeof(*oc));
	oc->kinds = dmarc_ruf_wanted(r, ev, m->auth);
	if (oc->kinds == 0) {
		oc->why = "no report asked for";
		return 0;
	}
	if (is_report(m)) {
		oc->kinds = 0;
		oc->why = "the message is itself a feedback report";
		return 0;
	}
	for (size_t i = 0; i < r->nruf && i < DMARC_URIS_MAX; i++) {
		const struct dmarc_uri *u = &r->ruf[i];
		int dup = 0, auth;

		if (strncasecmp(u->uri, "mailto:", 7) != 0 ||
		    !mailsend_addr_valid(u->addr) || u->domain == NULL) {
			oc->skipped++;
			continue;
		}
		for (size_t j = 0; j < nd; j++)
			if (strcasecmp(dest[j]->addr, u->addr) == 0)
				dup = 1;
		if (dup)
			continue;
		auth = o->dmarc ? dmarc_report_authorized(o->dmarc,
		    ev->policy_domain, u->domain) : 0;
		if (auth == 0)
			oc->unauthorized++;
		else if (auth < 0)
			oc->deferred++;
		else
			dest[nd++] = u;
	}
	if (nd == 0) {
		oc->why = "no usable, authorized ruf= destination";
		return 0;
	}
	mm = *m;
	if (mm.nspf_dns == 0 && m->auth->spf_domain) {
		nspf = spf_lookup(o, m->auth->spf_domain, spf);
		for (size_t i = 0; i < nspf; i++)
			mm.spf_dns[i] = spf[i];
		mm.nspf_dns = nspf;
	}
	buf_init(&t, TAG_MAX);
	if (san_token(&t, m->queue_id && *m->queue_id ? m->queue_id :
	    "NOQUEUE", TAG_MAX - 1) < 0 || t.len == 0)
		buf_appends(&t, "NOQUEUE");
	copy_bounded(tag, sizeof(tag), t.data);
	buf_free(&t);
	buf_init(&msg, DMARC_RUF_MAX_BYTES);
	for (unsigned k = DMARC_RUF_DMARC; k <= DMARC_RUF_SPF; k <<= 1) {
		if (!(oc->kinds & k))
			continue;
		if (!dmarc_ruf_limit_take(o->limit, ev->policy_domain, now)) {
			oc->limited++;
			continue;
		}
		for (size_t i = 0; i < nd; i++) {
			size_t max = 0;
			const char *err;

			if (o->reporter->mode == DMARC_MODE_RFC7489 &&
			    dest[i]->max_bytes &&
			    dest[i]->max_bytes < DMARC_RUF_MAX_BYTES)
				max = (size_t)dest[i]->max_bytes;
			if (dmarc_ruf_build(o->reporter, &mm, ev, k,
			    dest[i]->addr, max, &msg, NULL, &err) < 0) {
				oc->skipped++;
				continue;
			}
			hand(o, dest[i]->addr, &msg, tag, oc, 1);
			if (!bcc_done && o->bcc && *o->bcc &&
			    mailsend_addr_valid(o->bcc)) {
				hand(o, o->bcc, &msg, tag, oc, 0);
				bcc_done = 1;
			}
		}
	}
	buf_free(&msg);
	for (size_t i = 0; i < nspf; i++)
		free(spf[i]);
	if (oc->sent == 0)
		oc->why = oc->limited ? "rate limited" : "not delivered";
	return oc->sent;
}

/* dmarc_ruf_outcome_text - the outcome's non-zero counts */
const char *dmarc_ruf_outcome_text(const struct dmarc_ruf_outcome *oc,
    char *out, size_t outlen)
{
	struct { const char *name; size_t n; } c[] = {
		{ "sent", oc->sent }, { "limited", oc->limited },
		{ "unauthorized", oc->unauthorized },
		{ "deferred", oc->deferred }, { "refused", oc->refused },
		{ "skipped", oc->skipped },
	};
	size_t len = 0;

	if (outlen == 0)
		return out;
	out[0] = '\0';
	for (size_t i = 0; i < sizeof(c) / sizeof(*c); i++) {
		int w;

		if (c[i].n == 0)
			continue;
		w = snprintf(out + len, outlen - len, "%s%s=%zu",
		    len ? " " : "", c[i].name, c[i].n);
		if (w < 0 || (size_t)w >= outlen - len)
			break;
		len += (size_t)w;
	}
	if (len == 0)
		snprintf(out, outlen, "none");
	return out;
}
