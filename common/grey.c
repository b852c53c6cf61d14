/*
 * grey.c - greylisting decisions; see grey.h.
 *
 * Sender normalization follows postgrey 1.37 (do_sender_substitutions):
 * BATV "prvs=tag=user" keeps the user part, "+extension" is dropped and
 * every number standing alone between non-word characters becomes "#",
 * so VERP and per-message tags map to one triplet.  Beyond postgrey, SRS
 * addresses (SRS0=hash=tt=domain=user, SRS1=...) drop their per-message
 * hash and timestamp.
 */
#include <ctype.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "grey.h"
#include "inet.h"

#define GREY_ADDR_MAX 512	/* normalized sender */

/* is_word - Perl's \w for ASCII */
static int is_word(int c)
{
	return isalnum((unsigned char)c) || c == '_';
}

/* looks_tag - BATV tag: at least 10 of [0-9a-z] */
static int looks_tag(const char *s, size_t n)
{
	if (n < 10)
		return 0;
	for (size_t i = 0; i < 10; i++)
		if (!(isdigit((unsigned char)s[i]) ||
		    (s[i] >= 'a' && s[i] <= 'z')))
			return 0;
	return 1;
}

/* batv_user - the user part of "prvs=A=B" (A or B, as postgrey picks) */
static void batv_user(const char **user, size_t *ulen)
{
	const char *u = *user, *e1, *e2;
	size_t n = *ulen;

	if (n < 5 || strncasecmp(u, "prvs=", 5) != 0)
		return;
	e1 = memchr(u + 5, '=', n - 5);
	if (e1 == NULL || memchr(e1 + 1, '=', (size_t)(u + n - e1 - 1)))
		return;		/* postgrey: exactly three parts */
	{
		const char *a = u + 5, *b = e1 + 1;
		size_t la = (size_t)(e1 - a), lb = (size_t)(u + n - b);

		e2 = looks_tag(a, la) && !looks_tag(b, lb) ? b :
		    looks_tag(b, lb) && !looks_tag(a, la) ? a : b;
		*user = e2;
		*ulen = e2 == a ? la : lb;
	}
}

/* srs_user - "SRS0=hash=tt=domain=user" -> "SRS0=domain=user" */
static void srs_user(const char *u, size_t n, struct buf *out)
{
	const char *p = u + 5, *end = u + n, *f[3];

	for (int i = 0; i < 3; i++) {	/* hash, timestamp, domain */
		f[i] = memchr(p, '=', (size_t)(end - p));
		if (f[i] == NULL) {
			buf_append(out, u, n);
			return;
		}
		p = f[i] + 1;
	}
	buf_append(out, u, 5);
	buf_append(out, f[1] + 1, (size_t)(end - f[1] - 1));
}

/* grey_sender_normalize - postgrey's sender key into out; -1 if too long */
int grey_sender_normalize(const char *sender, char *out, size_t outlen)
{
	const char *at = strchr(sender, '@'), *user = sender;
	size_t ulen;
	struct buf u, r;
	int rc = 0;

	if (at == NULL) {
		if (strlen(sender) >= outlen)
			return -1;
		snprintf(out, outlen, "%s", sender);
		return 0;
	}
	ulen = (size_t)(at - sender);
	batv_user(&user, &ulen);
	buf_init(&u, GREY_ADDR_MAX);
	if (ulen >= 5 && (strncasecmp(user, "SRS0=", 5) == 0 ||
	    strncasecmp(user, "SRS1=", 5) == 0))
		srs_user(user, ulen, &u);
	else
		buf_append(&u, user, ulen);
	/* "+extension" goes, as postgrey strips it */
	{
		char *plus = memchr(u.data, '+', u.len);

		if (plus)
			buf_truncate(&u, (size_t)(plus - u.data));
	}
	/* numbers standing alone become '#' (postgrey: s/\b\d+\b/#/g) */
	buf_init(&r, GREY_ADDR_MAX);
	for (size_t i = 0; i < u.len;) {
		size_t j = i;

		while (j < u.len && isdigit((unsigned char)u.data[j]))
			j++;
		if (j > i && (i == 0 || !is_word(u.data[i - 1])) &&
		    (j == u.len || !is_word(u.data[j]))) {
			buf_appendc(&r, '#');
			i = j;
		} else if (j > i) {
			buf_append(&r, u.data + i, j - i);
			i = j;
		} else {
			buf_appendc(&r, u.data[i++]);
		}
	}
	if (r.len + strlen(at) >= outlen)
		rc = -1;
	else
		snprintf(out, outlen, "%s%s", r.data, at);
	buf_free(&u);
	buf_free(&r);
	return rc;
}

/* grey_client_net - the client's network (lookup by subnet) or address */
int grey_client_net(const struct grey_config *cfg, const char *address,
    char *out, size_t outlen)
{
	struct cidr c;
	char tmp[IP_STR_MAX + 8];
	unsigned bits;

	if (ip_parse(address, &c.ip) < 0)
		return -1;
	ip_unmap(&c.ip);
	ip_format(&c.ip, tmp, sizeof(tmp));
	if (cfg->lookup_by_host) {
		snprintf(out, outlen, "%s", tmp);
		return 0;
	}
	bits = c.ip.family == AF_INET ? cfg->ipv4_cidr : cfg->ipv6_cidr;
	snprintf(tmp + strlen(tmp), sizeof(tmp) - strlen(tmp), "/%u", bits);
	if (cidr_parse(tmp, &c) < 0)
		return -1;
	ip_format(&c.ip, out, outlen);
	return 0;
}

/* lower - ASCII lower case in place */
static void lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* hash_hex - the first hexlen hex digits of SHA-256(in) (privacy) */
static void hash_hex(const char *in, char *out, size_t hexlen)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	static const char hex[] = "0123456789abcdef";

	SHA256((const unsigned char *)in, strlen(in), md);
	for (size_t i = 0; i < hexlen / 2 && i < sizeof(md); i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[hexlen] = '\0';
}

/* grey_keys - the store keys of a request: the shard (client network, or
 * "spf:DOMAIN" with an SPF-authenticated domain), the triplet
 * "SHARD/sender/recipient" and the auto-whitelist client (its address,
 * or the domain); all lower case, or hashed with privacy on.  -1 when a
 * part is invalid or too long */
int grey_keys(const struct grey_config *cfg, const struct grey_facts *f,
    struct grey_keys *k)
{
	char sender[GREY_ADDR_MAX];
	struct ipaddr ip;
	int n;

	if (f->auth_domain && *f->auth_domain) {
		n = snprintf(k->shard, sizeof(k->shard), "spf:%s",
		    f->auth_domain);
		if (n < 0 || (size_t)n >= sizeof(k->shard))
			return -1;
		snprintf(k->client, sizeof(k->client), "%s", k->shard);
	} else {
		if (grey_client_net(cfg, f->client_address, k->shard,
		    sizeof(k->shard)) < 0 || ip_parse(f->client_address,
		    &ip) < 0)
			return -1;
		ip_unmap(&ip);
		ip_format(&ip, k->client, sizeof(k->client));
	}
	if (grey_sender_normalize(f->sender, sender, sizeof(sender)) < 0)
		return -1;
	n = snprintf(k->triplet, sizeof(k->triplet), "%s/%s/%s", k->shard,
	    sender, f->recipient);
	if (n < 0 || (size_t)n >= sizeof(k->triplet))
		return -1;
	lower(k->triplet);
	lower(k->shard);
	lower(k->client);
	if (cfg->privacy) {
		hash_hex(k->triplet, k->triplet, 40);
		hash_hex(k->client, k->client, 40);
		hash_hex(k->shard, k->shard, 16);
	}
	return 0;
}

/* grey_store_in - the store's question for keys k at now */
void grey_store_in(const struct grey_config *cfg, const struct grey_keys *k,
    time_t now, struct store_grey_in *in)
{
	in->shard = k->shard;
	in->triplet = k->triplet;
	in->client = k->client;
	in->now = now;
	in->delay = cfg->delay;
	in->retry_window = cfg->retry_window;
	in->max_age = cfg->max_age;
	in->awl_clients = cfg->awl_clients;
}

/* grey_result_of - the decision in the store's answer */
void grey_result_of(const struct store_grey_out *out, time_t now,
    struct grey_result *r)
{
	memset(r, 0, sizeof(*r));
	r->now = now;
	if (out->awl) {
		r->reason = "client AWL";
		return;
	}
	if (out->remaining > 0) {
		r->greylisted = 1;
		r->remaining = out->remaining;
		r->reason = out->first == now ? "new" : "early-retry";
		return;
	}
	r->reason = "triplet found";
	if (!out->last_was_successful) {
		r->delayed_pass = 1;
		r->waited = (long)(now - out->first);
	}
}

/* grey_decide - consult and update the store for one triplet, waiting
 * for the answer (tests and tools; the daemon goes asynchronous) */
int grey_decide(const struct grey_config *cfg, struct store *st,
    const struct grey_facts *f, time_t now, struct grey_result *r,
    const char **err_r)
{
	struct grey_keys k;
	struct store_grey_in in;
	struct store_grey_out out;

	memset(r, 0, sizeof(*r));
	if (grey_keys(cfg, f, &k) < 0) {
		*err_r = "cannot build the triplet (bad client address or an "
		    "address too long)";
		return -1;
	}
	grey_store_in(cfg, &k, now, &in);
	if (store_grey(st, &in, &out, NULL, NULL, err_r) != 0)
		return -1;
	grey_result_of(&out, now, r);
	return 0;
}

/* expand_header - x_greylist_header with %t (seconds), %h (host), %d
 * (date), %v (version) */
static void expand_header(const struct grey_config *cfg,
    const struct grey_result *r, struct buf *out)
{
	char date[64];
	struct tm tm;

	localtime_r(&r->now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %T %Z", &tm);
	for (const char *p = cfg->x_greylist_header; *p; p++) {
		if (p[0] != '%' || p[1] == '\0') {
			buf_appendc(out, *p);
			continue;
		}
		switch (*++p) {
		case 't': buf_appendf(out, "%ld", r->waited); break;
		case 'h': buf_appends(out, cfg->hostname); break;
		case 'd': buf_appends(out, date); break;
		case 'v': buf_appends(out, PACKAGE_VERSION); break;
		default: buf_appendc(out, '%'); buf_appendc(out, *p); break;
		}
	}
}

/* grey_verdict - the policy decision of a result: greylist_action with
 * the greylist text, or pass (with X-Greylist after a delay, once per
 * message: first_in_message) */
void grey_verdict(const struct grey_config *cfg, const struct grey_facts *f,
    const struct grey_result *r, int first_in_message, struct verdict *v)
{
	if (r->greylisted) {
		const char *at = strrchr(f->recipient, '@');
		const char *dom = at ? at + 1 : f->recipient;
		struct buf t;

		buf_init(&t, VERDICT_TEXT_MAX);
		for (const char *p = cfg->greylist_text; *p; p++) {
			if (p[0] == '%' && p[1] == 's') {
				buf_appendf(&t, "%ld", r->remaining);
				p++;
			} else if (p[0] == '%' && p[1] == 'r') {
				buf_appends(&t, dom);
				p++;
			} else {
				buf_appendc(&t, *p);
			}
		}
		verdict_set(v, VERDICT_TEMPFAIL, 450, "4.2.0", "%s", t.data);
		v->if_permit = cfg->defer_if_permit;
		buf_free(&t);
		return;
	}
	if (r->delayed_pass && first_in_message && *cfg->x_greylist_header) {
		struct buf h;
		char *colon;

		buf_init(&h, VERDICT_HEADER_MAX);
		expand_header(cfg, r, &h);
		colon = strchr(h.data, ':');
		if (colon && colon > h.data) {
			*colon = '\0';
			verdict_prepend(v, h.data, "%s", colon[1] == ' ' ?
			    colon + 2 : colon + 1);
		}
		buf_free(&h);
	}
}
