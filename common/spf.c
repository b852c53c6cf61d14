/*
 * spf.c - RFC 7208 evaluator; see spf.h for the contract.
 *
 * Structure follows the RFC: check_host() (section 4) fetches and selects
 * the record (4.4, 4.5), record_parse() checks the whole record against
 * the ABNF (section 12) before any term is evaluated (4.6), eval_mech()
 * implements the mechanisms (section 5), modifiers (section 6) and
 * macro_expand() the macros (section 7).  Section 4.6.4 limits are counted
 * per pass in struct pass.
 *
 * Bounds: record text is at most DNS_TXT_MAX bytes (one TXT record); at
 * most SPF_TERMS_MAX terms per record; macro expansions are built in a
 * struct buf with a hard maximum; recursion depth is bounded by the DNS
 * term limit and, independently, SPF_DEPTH_MAX.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "clock.h"
#include "buf.h"
#include "log.h"
#include "spf.h"
#include "xalloc.h"

#define SPF_TERMS_MAX	256	/* terms in one record */
#define SPF_DEPTH_MAX	20	/* include/redirect nesting */
#define SPF_EXPAND_MAX	4096	/* bytes of one macro expansion */
#define SPF_NAME_MAX	253	/* RFC 7208 7.3 */

/* internal result of an evaluation step */
enum step {
	ST_NOMATCH = 100,	/* mechanism did not match: go on */
	ST_MATCH,		/* mechanism matched */
	ST_AGAIN,		/* needs DNS answers not yet supplied */
	/* values below 100 are a final enum spf_result */
};

enum term_kind {
	T_ALL, T_INCLUDE, T_A, T_MX, T_PTR, T_IP4, T_IP6, T_EXISTS,
	T_REDIRECT, T_EXP, T_UNKNOWN_MOD,
};

struct term {
	enum term_kind kind;
	char qualifier;		/* '+', '-', '~', '?' */
	const char *spec;	/* domain-spec or macro-string, or NULL */
	size_t spec_len;
	unsigned cidr4, cidr6;	/* a, mx; ip4/ip6 use net */
	struct cidr net;
	const char *text;	/* the whole term, for logs */
	size_t text_len;
};

struct record {
	struct term *t;		/* room for every term of the record */
	size_t n;
	const struct term *redirect, *exp;
	int has_all;
};

struct memo {
	char *name;
	uint16_t type;
	struct dns_answer *ans;
	struct memo *next;
};

/* counters of one evaluation pass */
struct pass {
	unsigned dns_terms;
	unsigned voids;
	int again;		/* a needed answer was missing */
};

struct spf_check {
	spf_cache_fn *cache_fn;	/* synchronous answers, e.g. DNS cache */
	void *cache_arg;
	struct ipaddr ip;
	int ip_upper;		/* client address was written in upper case */
	char *sender, *local, *sender_domain, *helo, *domain, *receiver;
	char *default_exp;
	char *record;		/* evaluate this instead of the TXT record */
	time_t now;
	struct spf_limits lim;
	struct memo *memo;
	struct dns_question *wants;
	size_t nwants, wants_cap;
	struct pass pass;
	unsigned passes;
	int done;
	enum spf_result result;
	char *exp, *problem, *mech;
	unsigned lookups_used;
};

/* ------------------------------------------------------------ helpers */

static const char *const result_names[SPF_RESULT_COUNT] = {
	"none", "neutral", "pass", "fail", "softfail", "temperror",
	"permerror",
};
static const char *const header_names[SPF_RESULT_COUNT] = {
	"None", "Neutral", "Pass", "Fail", "Softfail", "Temperror",
	"Permerror",
};

/* spf_result_name - lower-case result, as in Authentication-Results */
const char *spf_result_name(enum spf_result r)
{
	return (unsigned)r < SPF_RESULT_COUNT ? result_names[r] : "?";
}

/* spf_result_header_name - capitalized, as in Received-SPF */
const char *spf_result_header_name(enum spf_result r)
{
	return (unsigned)r < SPF_RESULT_COUNT ? header_names[r] : "?";
}

/* spf_result_parse - name (any case) to result */
int spf_result_parse(const char *s, enum spf_result *r_r)
{
	for (int i = 0; i < SPF_RESULT_COUNT; i++)
		if (strcasecmp(s, result_names[i]) == 0) {
			*r_r = (enum spf_result)i;
			return 0;
		}
	return -1;
}

/* spf_limits_default - RFC 7208 4.6.4 values */
void spf_limits_default(struct spf_limits *lim)
{
	lim->dns_terms = 10;
	lim->void_lookups = 2;
	lim->mx_names = 10;
	lim->ptr_names = 10;
	lim->passes = 64;
}

/* set_problem - remember why the result is an error (first one wins) */
static void set_problem(struct spf_check *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void set_problem(struct spf_check *c, const char *fmt, ...)
{
	va_list ap;
	struct buf b;

	if (c->problem)
		return;
	buf_init(&b, 512);
	va_start(ap, fmt);
	if (buf_vappendf(&b, fmt, ap) < 0)
		buf_appends(&b, "(problem text too long)");
	va_end(ap);
	c->problem = buf_steal(&b);
}

/* permerror - record the problem and return SPF_PERMERROR */
#define PERMERROR(c, ...) (set_problem((c), __VA_ARGS__), SPF_PERMERROR)
#define TEMPERROR(c, ...) (set_problem((c), __VA_ARGS__), SPF_TEMPERROR)

/* is_alnum_ascii - ASCII letter or digit (no locale) */
static int is_alnum_ascii(int ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9');
}

/* is_alpha_ascii - ASCII letter */
static int is_alpha_ascii(int ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

/* toplabel_valid - RFC 7208 toplabel: alphanumerics and inner hyphens,
 * not all digits */
static int toplabel_valid(const char *p, size_t n)
{
	int alpha = 0;

	if (n == 0 || n > 63 || p[0] == '-' || p[n - 1] == '-')
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '-')
			alpha = 1;	/* 1*alphanum "-" ... form */
		else if (is_alpha_ascii((unsigned char)p[i]))
			alpha = 1;
		else if (!is_alnum_ascii((unsigned char)p[i]))
			return 0;
	}
	return alpha;
}

/*
 * spf_domain_valid - RFC 7208 4.3: a fully qualified domain name we can
 * look up: at least two labels, labels of 1..63 bytes, at most 253 bytes
 * without the final dot.  Anything else (domain literal, single label,
 * empty label) gives "none" at the top level.
 */
int spf_domain_valid(const char *d)
{
	size_t len = strlen(d), label = 0, labels = 0;

	if (len && d[len - 1] == '.')
		len--;
	if (len == 0 || len > SPF_NAME_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)d[i];

		if (ch == '.') {
			if (label == 0)
				return 0;
			labels++;
			label = 0;
			continue;
		}
		if (ch <= 0x20 || ch >= 0x7f)
			return 0;
		if (++label > 63)
			return 0;
	}
	return labels >= 1 && label > 0;
}

/* ------------------------------------------------------- DNS plumbing */

/* memo_find - answer supplied for (name, type), or NULL */
static struct dns_answer *memo_find(struct spf_check *c, const char *name,
    uint16_t type)
{
	for (struct memo *m = c->memo; m; m = m->next)
		if (m->type == type && dns_name_equal(m->name, name))
			return m->ans;
	return NULL;
}

/* want - add (name, type) to the questions of this pass (deduplicated) */
static void want(struct spf_check *c, const char *name, uint16_t type)
{
	for (size_t i = 0; i < c->nwants; i++)
		if (c->wants[i].type == type &&
		    dns_name_equal(c->wants[i].name, name))
			return;
	if (c->nwants == c->wants_cap) {
		c->wants_cap = c->wants_cap ? c->wants_cap * 2 : 8;
		c->wants = xrealloc(c->wants,
		    c->wants_cap * sizeof(*c->wants));
	}
	c->wants[c->nwants].name = xstrdup(name);
	c->wants[c->nwants].type = type;
	c->nwants++;
}

/*
 * lookup - the answer for (name, type) if supplied, else NULL after
 * queueing the question (the pass then ends with SPF_RUN_NEED_DNS).
 * Names that cannot be sent (too long, empty labels) are answered
 * NXDOMAIN without a query: nothing can exist under them.
 */
static struct dns_answer *lookup(struct spf_check *c, const char *name,
    uint16_t type)
{
	struct dns_answer *a = memo_find(c, name, type);

	if (a)
		return a;
	if (c->cache_fn && (a = c->cache_fn(c->cache_arg, name, type))) {
		/* pinned in the memo for the rest of the check */
		spf_check_answer(c, name, type, a);
		dns_answer_unref(&a);
		return memo_find(c, name, type);
	}
	if (!dns_name_valid(name)) {
		/* a name no DNS query can carry does not exist */
		a = dns_answer_new(DNS_NXDOMAIN);
		spf_check_answer(c, name, type, a);
		dns_answer_unref(&a);
		return memo_find(c, name, type);
	}
	want(c, name, type);
	c->pass.again = 1;
	return NULL;
}

/* dns_failed - SERVFAIL, timeout or error: the RFC's temperror cases */
static int dns_failed(const struct dns_answer *a)
{
	return a->status == DNS_SERVFAIL || a->status == DNS_TIMEOUT ||
	    a->status == DNS_ERROR;
}

/* count_term - one more DNS-querying term (4.6.4); 0 or permerror */
static int count_term(struct spf_check *c)
{
	if (++c->pass.dns_terms > c->lim.dns_terms)
		return PERMERROR(c, "more than %u DNS lookups",
		    c->lim.dns_terms);
	return 0;
}

/* count_void - one more void lookup (4.6.4); 0 or permerror */
static int count_void(struct spf_check *c, const struct dns_answer *a)
{
	if (a->status != DNS_NXDOMAIN && a->status != DNS_NODATA)
		return 0;
	if (++c->pass.voids > c->lim.void_lookups)
		return PERMERROR(c, "more than %u void lookups",
		    c->lim.void_lookups);
	return 0;
}

/* reverse_name - in-addr.arpa / ip6.arpa name of ip */
static void reverse_name(const struct ipaddr *ip, char *out, size_t outlen)
{
	/* callers size out for the longest name: it always fits */
	ip_reverse_name(ip, ip->family == AF_INET ? "in-addr.arpa" :
	    "ip6.arpa", out, outlen);
}

/* addr_type - A for an IPv4 client, AAAA for IPv6 */
static uint16_t addr_type(const struct spf_check *c)
{
	return c->ip.family == AF_INET ? DNS_T_A : DNS_T_AAAA;
}

/* answer_has_ip - does an A/AAAA answer hold an address within bits of
 * the client's? */
static int answer_has_ip(const struct spf_check *c,
    const struct dns_answer *a, unsigned bits)
{
	for (size_t i = 0; i < a->n; i++)
		if (ip_prefix_match(&a->rr[i].addr, &c->ip, bits))
			return 1;
	return 0;
}

/* name_in_domain - is name equal to domain or a subdomain of it? */
static int name_in_domain(const char *name, const char *domain)
{
	size_t ln = strlen(name), ld = strlen(domain);

	if (ln && name[ln - 1] == '.')
		ln--;
	if (ld && domain[ld - 1] == '.')
		ld--;
	if (ln == ld)
		return strncasecmp(name, domain, ln) == 0;
	return ln > ld && name[ln - ld - 1] == '.' &&
	    strncasecmp(name + ln - ld, domain, ld) == 0;
}

/*
 * validated_names - RFC 7208 5.5: PTR names of the client whose forward
 * lookup holds the client address.  Calls fn for each, stops when fn
 * returns non-zero.  Returns ST_AGAIN when answers are missing, 0 else.
 * DNS errors on the way mean "no validated name", never an error.
 */
static int validated_names(struct spf_check *c,
    int (*fn)(void *arg, const char *name), void *arg)
{
	char rev[80];
	struct dns_answer *ptr, *fw;
	size_t n;
	int missing = 0;

	reverse_name(&c->ip, rev, sizeof(rev));
	ptr = lookup(c, rev, DNS_T_PTR);
	if (ptr == NULL)
		return ST_AGAIN;
	if (ptr->status != DNS_OK)
		return 0;
	n = ptr->n < c->lim.ptr_names ? ptr->n : c->lim.ptr_names;
	/* ask for every forward lookup at once: they are independent */
	for (size_t i = 0; i < n; i++)
		if (lookup(c, ptr->rr[i].name, addr_type(c)) == NULL)
			missing = 1;
	if (missing)
		return ST_AGAIN;
	for (size_t i = 0; i < n; i++) {
		fw = lookup(c, ptr->rr[i].name, addr_type(c));
		if (fw->status == DNS_OK &&
		    answer_has_ip(c, fw, c->ip.family == AF_INET ? 32 : 128) &&
		    fn(arg, ptr->rr[i].name))
			return 0;
	}
	return 0;
}

/* ------------------------------------------------------------- macros */

struct pick_p {
	const char *domain;
	char *exact, *sub, *any;
};

/* pick_p_name - collect candidates for %{p} by preference */
static int pick_p_name(void *arg, const char *name)
{
	struct pick_p *p = arg;

	if (p->exact == NULL && dns_name_equal(name, p->domain))
		p->exact = xstrdup(name);
	else if (p->sub == NULL && name_in_domain(name, p->domain))
		p->sub = xstrdup(name);
	else if (p->any == NULL)
		p->any = xstrdup(name);
	return p->exact != NULL;
}

/* macro_value - the raw value of a macro letter; ST_AGAIN for %{p} */
static int macro_value(struct spf_check *c, int letter, const char *domain,
    struct buf *out)
{
	char tmp[80];

	switch (tolower(letter)) {
	case 's':
		return buf_appends(out, c->sender);
	case 'l':
		return buf_appends(out, c->local);
	case 'o':
		return buf_appends(out, c->sender_domain);
	case 'd':
		return buf_appends(out, domain);
	case 'h':
		return buf_appends(out, c->helo);
	case 'i':
		if (c->ip.family == AF_INET)
			return buf_appendf(out, "%u.%u.%u.%u", c->ip.a[0],
			    c->ip.a[1], c->ip.a[2], c->ip.a[3]);
		reverse_name(&c->ip, tmp, sizeof(tmp));
		/* the nibbles in forward order: reverse the reversed name */
		for (int i = 0; i < 16; i++) {
			const char *hex = c->ip_upper ? "0123456789ABCDEF" :
			    "0123456789abcdef";

			if (buf_appendf(out, "%s%c.%c", i ? "." : "",
			    hex[c->ip.a[i] >> 4], hex[c->ip.a[i] & 15]) < 0)
				return -1;
		}
		return 0;
	case 'c':
		return buf_appends(out, ip_format(&c->ip, tmp, sizeof(tmp)));
	case 'v':
		return buf_appends(out, c->ip.family == AF_INET ? "in-addr" :
		    "ip6");
	case 'r':
		return buf_appends(out, c->receiver);
	case 't':
		return buf_appendf(out, "%lld", (long long)c->now);
	case 'p': {
		struct pick_p p = { domain, NULL, NULL, NULL };
		int rc = validated_names(c, pick_p_name, &p);
		const char *v = p.exact ? p.exact : p.sub ? p.sub :
		    p.any ? p.any : "unknown";

		if (rc == ST_AGAIN)
			rc = ST_AGAIN;
		else
			rc = buf_appends(out, v);
		free(p.exact);
		free(p.sub);
		free(p.any);
		return rc;
	}
	}
	return -1;
}

/* url_escape - RFC 7208 7.3: uppercase macros are URL-escaped */
static int url_escape(struct buf *out, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (is_alnum_ascii(ch) || ch == '-' || ch == '.' ||
		    ch == '_' || ch == '~') {
			if (buf_appendc(out, ch) < 0)
				return -1;
		} else if (buf_appendf(out, "%%%02X", ch) < 0) {
			return -1;
		}
	}
	return 0;
}

/* transform - split value on delims, optionally reverse, keep the right
 * `keep` parts (0 = all), join with '.' into out */
static int transform(struct buf *out, const char *val, const char *delims,
    unsigned keep, int reverse, int escape)
{
	const char *parts[SPF_EXPAND_MAX];
	size_t lens[SPF_EXPAND_MAX];
	size_t n = 0, first;
	const char *p = val;
	struct buf joined;
	int rc = 0;

	for (;;) {
		size_t len = strcspn(p, delims);

		if (n == SPF_EXPAND_MAX)
			return -1;
		parts[n] = p;
		lens[n++] = len;
		if (p[len] == '\0')
			break;
		p += len + 1;
	}
	if (reverse) {
		for (size_t i = 0; i < n / 2; i++) {
			const char *tp = parts[i];
			size_t tl = lens[i];

			parts[i] = parts[n - 1 - i];
			lens[i] = lens[n - 1 - i];
			parts[n - 1 - i] = tp;
			lens[n - 1 - i] = tl;
		}
	}
	first = (keep && keep < n) ? n - keep : 0;
	buf_init(&joined, SPF_EXPAND_MAX);
	for (size_t i = first; i < n && rc == 0; i++) {
		if (i > first)
			rc = buf_appendc(&joined, '.');
		if (rc == 0)
			rc = buf_append(&joined, parts[i], lens[i]);
	}
	if (rc == 0)
		rc = escape ? url_escape(out, joined.data, joined.len) :
		    buf_append(out, joined.data, joined.len);
	buf_free(&joined);
	return rc;
}

/*
 * macro_expand - expand macro-string s[0..n) into out.  in_exp allows
 * the c, r, t letters and spaces (explain-string).  Returns 0, -1 on a
 * syntax error (or expansion over SPF_EXPAND_MAX), ST_AGAIN for %{p}
 * needing DNS.  With out == NULL it only checks syntax.
 */
static int macro_expand(struct spf_check *c, const char *s, size_t n,
    const char *domain, int in_exp, struct buf *out)
{
	size_t i = 0;

	while (i < n) {
		unsigned char ch = (unsigned char)s[i];

		if (ch != '%') {
			if (ch == ' ' ? !in_exp : (ch < 0x21 || ch > 0x7e))
				return -1;
			if (out && buf_appendc(out, ch) < 0)
				return -1;
			i++;
			continue;
		}
		if (i + 1 >= n)
			return -1;
		ch = (unsigned char)s[i + 1];
		if (ch == '%' || ch == '_' || ch == '-') {
			const char *lit = ch == '%' ? "%" : ch == '_' ? " " :
			    "%20";

			if (out && buf_appends(out, lit) < 0)
				return -1;
			i += 2;
			continue;
		}
		if (ch != '{')
			return -1;
		i += 2;
		{
			int letter, reverse = 0, rc;
			unsigned keep = 0, ndig = 0;
			char delims[8];
			size_t nd = 0;
			struct buf val;

			if (i >= n)
				return -1;
			letter = (unsigned char)s[i++];
			if (!strchr("slodiphcrtvSLODIPHCRTV", letter) ||
			    letter == '\0')
				return -1;
			if (!in_exp && strchr("crtCRT", letter))
				return -1;
			while (i < n && s[i] >= '0' && s[i] <= '9') {
				if (++ndig > 3)
					return -1;
				keep = keep * 10 + (unsigned)(s[i++] - '0');
			}
			if (ndig && keep == 0)
				return -1;
			if (i < n && (s[i] == 'r' || s[i] == 'R')) {
				reverse = 1;
				i++;
			}
			while (i < n && s[i] && strchr(".-+,/_=", s[i])) {
				if (nd < sizeof(delims) - 1 &&
				    !memchr(delims, s[i], nd))
					delims[nd++] = s[i];
				i++;
			}
			if (i >= n || s[i] != '}')
				return -1;
			i++;
			if (out == NULL)
				continue;
			if (nd == 0)
				delims[nd++] = '.';
			delims[nd] = '\0';
			buf_init(&val, SPF_EXPAND_MAX);
			rc = macro_value(c, letter, domain, &val);
			if (rc == 0)
				rc = transform(out, val.data, delims, keep,
				    reverse, isupper(letter));
			buf_free(&val);
			if (rc != 0)
				return rc;
		}
	}
	return 0;
}

/* domain_end_valid - RFC 7208 domain-spec: ends in "." toplabel ["."] or
 * in a macro-expand */
static int domain_end_valid(const char *s, size_t n)
{
	size_t end = n, start;

	if (n == 0)
		return 0;
	if (s[n - 1] == '}')
		return 1;	/* ends with %{...}: checked by macro syntax */
	if (n >= 2 && s[n - 2] == '%' && s[n - 1] &&
	    strchr("%_-", s[n - 1])) {
		/* "%%" etc. at the end is a macro-expand unless escaped */
		size_t pct = 0;

		for (size_t i = n - 1; i > 0 && s[i - 1] == '%'; i--)
			pct++;
		if (pct % 2 == 1)
			return 1;
	}
	if (s[end - 1] == '.')
		end--;
	start = end;
	while (start > 0 && s[start - 1] != '.')
		start--;
	if (start == 0)
		return 0;	/* needs "." toplabel */
	return toplabel_valid(s + start, end - start);
}

/* truncate_name - RFC 7208 7.3: drop a final dot, then whole labels from
 * the left until the name fits in 253 bytes; returns a copy */
static char *truncate_name(struct buf *b)
{
	const char *p;

	if (b->len && b->data[b->len - 1] == '.')
		buf_truncate(b, b->len - 1);
	p = b->data;
	while (strlen(p) > SPF_NAME_MAX) {
		const char *dot = strchr(p, '.');

		if (dot == NULL)
			break;
		p = dot + 1;
	}
	return xstrdup(p);
}

/*
 * expand_domain - expand a domain-spec for a lookup, truncated from the
 * left to 253 bytes (7.3).  Returns 0 with *name_r set, SPF_PERMERROR,
 * or ST_AGAIN.
 */
static int expand_domain(struct spf_check *c, const struct term *t,
    const char *domain, char **name_r)
{
	struct buf b;
	int rc;

	*name_r = NULL;
	if (t->spec == NULL) {
		*name_r = xstrdup(domain);
		return 0;
	}
	buf_init(&b, SPF_EXPAND_MAX);
	rc = macro_expand(c, t->spec, t->spec_len, domain, 0, &b);
	if (rc == ST_AGAIN) {
		buf_free(&b);
		return ST_AGAIN;
	}
	if (rc != 0) {
		buf_free(&b);
		return PERMERROR(c, "macro expansion failed in \"%.*s\"",
		    (int)(t->text_len > 80 ? 80 : t->text_len), t->text);
	}
	*name_r = truncate_name(&b);
	buf_free(&b);
	return 0;
}

/* ------------------------------------------------------ record parser */

/* parse_cidr_len - "/N" with no leading zero, N <= max; -1 if bad */
static int parse_cidr_len(const char **pp, const char *end, unsigned max,
    unsigned *bits_r)
{
	const char *p = *pp + 1;	/* after '/' */
	unsigned v = 0;
	int nd = 0;

	while (p < end && *p >= '0' && *p <= '9') {
		if (nd == 1 && v == 0)
			return -1;	/* leading zero */
		v = v * 10 + (unsigned)(*p - '0');
		if (++nd > 3 || v > max)
			return -1;
		p++;
	}
	if (nd == 0)
		return -1;
	*bits_r = v;
	*pp = p;
	return 0;
}

/* split_dual_cidr - find the trailing dual-cidr-length of a term argument
 * and parse it; *len_r gets the length without it */
static int split_dual_cidr(const char *s, size_t n, size_t *len_r,
    unsigned *c4, unsigned *c6)
{
	size_t i;
	const char *p, *end = s + n;

	*c4 = 32;
	*c6 = 128;
	/* the cidr part is "/digits" or "//digits" or "/d//d" at the end */
	for (i = n; i > 0 && (isdigit((unsigned char)s[i - 1]) ||
	    s[i - 1] == '/'); i--)
		;
	while (i < n && s[i] != '/')
		i++;		/* digits before the first slash are domain */
	*len_r = i;
	if (i == n)
		return 0;
	p = s + i;
	if (p + 1 < end && p[1] != '/') {
		if (parse_cidr_len(&p, end, 32, c4) < 0)
			return -1;
	}
	if (p < end) {
		if (p + 1 >= end || p[1] != '/')
			return -1;
		p++;
		if (parse_cidr_len(&p, end, 128, c6) < 0)
			return -1;
	}
	return p == end ? 0 : -1;
}

/* parse_ip_net - ip4:/ip6: argument into a CIDR network */
static int parse_ip_net(const char *s, size_t n, int family,
    struct cidr *net)
{
	char tmp[IP_STR_MAX + 8];
	const char *slash = memchr(s, '/', n);
	size_t alen = slash ? (size_t)(slash - s) : n;
	unsigned max = family == AF_INET ? 32 : 128, bits = max;

	if (alen == 0 || alen >= IP_STR_MAX)
		return -1;
	memcpy(tmp, s, alen);
	tmp[alen] = '\0';
	memset(net, 0, sizeof(*net));
	if (inet_pton(family, tmp, net->ip.a) != 1)
		return -1;
	net->ip.family = family;
	if (slash) {
		const char *p = slash;

		if (parse_cidr_len(&p, s + n, max, &bits) < 0 || p != s + n)
			return -1;
	}
	net->bits = bits;
	return 0;
}

/* mod_name_valid - name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ) */
static int mod_name_valid(const char *s, size_t n)
{
	if (n == 0 || !is_alpha_ascii((unsigned char)s[0]))
		return 0;
	for (size_t i = 1; i < n; i++)
		if (!is_alnum_ascii((unsigned char)s[i]) && s[i] != '-' &&
		    s[i] != '_' && s[i] != '.')
			return 0;
	return 1;
}

static const struct {
	const char *name;
	enum term_kind kind;
	int arg;		/* 0 none, 1 optional domain, 2 required */
	int cidr;		/* dual-cidr allowed */
} mechs[] = {
	{ "all", T_ALL, 0, 0 },
	{ "include", T_INCLUDE, 2, 0 },
	{ "a", T_A, 1, 1 },
	{ "mx", T_MX, 1, 1 },
	{ "ptr", T_PTR, 1, 0 },
	{ "ip4", T_IP4, 2, 0 },
	{ "ip6", T_IP6, 2, 0 },
	{ "exists", T_EXISTS, 2, 0 },
};

/* parse_term - one term s[0..n) into t; 0 or -1 with c->problem set */
static int parse_term(struct spf_check *c, const char *s, size_t n,
    struct term *t)
{
	const char *eq = memchr(s, '=', n), *colon;
	size_t name_len;

	memset(t, 0, sizeof(*t));
	t->text = s;
	t->text_len = n;
	t->qualifier = '+';
	/* modifier: name "=" ...  (a qualifier makes it a syntax error) */
	for (name_len = 0; name_len < n; name_len++) {
		unsigned char ch = (unsigned char)s[name_len];

		if (!is_alnum_ascii(ch) && ch != '-' && ch != '_' &&
		    ch != '.')
			break;
	}
	if (eq && (size_t)(eq - s) == name_len) {
		if (!mod_name_valid(s, name_len))
			goto bad;
		t->spec = eq + 1;
		t->spec_len = n - name_len - 1;
		if (name_len == 8 && strncasecmp(s, "redirect", 8) == 0) {
			t->kind = T_REDIRECT;
		} else if (name_len == 3 && strncasecmp(s, "exp", 3) == 0) {
			t->kind = T_EXP;
		} else {
			t->kind = T_UNKNOWN_MOD;
			if (macro_expand(c, t->spec, t->spec_len, "", 0,
			    NULL) != 0)
				goto bad;
			return 0;
		}
		if (!domain_end_valid(t->spec, t->spec_len) ||
		    macro_expand(c, t->spec, t->spec_len, "", 0, NULL) != 0)
			goto bad;
		return 0;
	}
	if (s[0] && strchr("+-~?", s[0])) {
		t->qualifier = s[0];
		s++;
		n--;
	}
	colon = memchr(s, ':', n);
	name_len = colon ? (size_t)(colon - s) : n;
	if (!colon) {
		const char *slash = memchr(s, '/', n);

		if (slash)
			name_len = (size_t)(slash - s);
	}
	for (size_t i = 0; i < sizeof(mechs) / sizeof(mechs[0]); i++) {
		const char *arg;
		size_t arg_len;

		if (strlen(mechs[i].name) != name_len ||
		    strncasecmp(s, mechs[i].name, name_len) != 0)
			continue;
		t->kind = mechs[i].kind;
		arg = s + name_len;
		arg_len = n - name_len;
		if (mechs[i].arg == 0 && arg_len)
			goto bad;
		if (mechs[i].arg == 2 && (!colon || arg_len < 2))
			goto bad;
		if (t->kind == T_IP4 || t->kind == T_IP6) {
			if (parse_ip_net(arg + 1, arg_len - 1,
			    t->kind == T_IP4 ? AF_INET : AF_INET6,
			    &t->net) < 0)
				goto bad;
			return 0;
		}
		if (mechs[i].cidr) {
			size_t dlen;

			if (split_dual_cidr(arg, arg_len, &dlen, &t->cidr4,
			    &t->cidr6) < 0)
				goto bad;
			arg_len = dlen;
		}
		if (arg_len) {		/* ":" domain-spec */
			if (arg[0] != ':' || arg_len < 2)
				goto bad;
			t->spec = arg + 1;
			t->spec_len = arg_len - 1;
			if (!domain_end_valid(t->spec, t->spec_len) ||
			    macro_expand(c, t->spec, t->spec_len, "", 0,
			    NULL) != 0)
				goto bad;
		}
		return 0;
	}
bad:
	set_problem(c, "invalid term \"%.*s\"", (int)(t->text_len > 80 ? 80 :
	    t->text_len), t->text);
	return -1;
}

/* record_parse - whole record (after "v=spf1") into r; -1 permerror */
static int record_parse(struct spf_check *c, const char *text, size_t len,
    struct record *r)
{
	size_t i = 6, room = 1;	/* past "v=spf1" */

	memset(r, 0, sizeof(*r));
	for (size_t k = i; k < len; k++)
		if (text[k] == ' ')
			room++;		/* terms <= spaces */
	if (room > SPF_TERMS_MAX)
		room = SPF_TERMS_MAX;
	r->t = xcalloc(room, sizeof(*r->t));
	while (i < len) {
		size_t start, n;
		struct term *t;

		if (text[i] != ' ') {
			set_problem(c, "invalid character in record");
			return -1;
		}
		while (i < len && text[i] == ' ')
			i++;
		if (i == len)
			break;
		start = i;
		while (i < len && text[i] != ' ')
			i++;
		n = i - start;
		if (r->n == room) {
			set_problem(c, "more than %d terms", SPF_TERMS_MAX);
			return -1;
		}
		t = &r->t[r->n];
		if (parse_term(c, text + start, n, t) < 0)
			return -1;
		if (t->kind == T_REDIRECT) {
			if (r->redirect) {
				set_problem(c, "more than one redirect=");
				return -1;
			}
			r->redirect = t;
		} else if (t->kind == T_EXP) {
			if (r->exp) {
				set_problem(c, "more than one exp=");
				return -1;
			}
			r->exp = t;
		} else if (t->kind == T_ALL) {
			r->has_all = 1;
		}
		r->n++;
	}
	return 0;
}

/* record_free - release a parsed record */
static void record_free(struct record **rp)
{
	if (*rp)
		free((*rp)->t);
	XFREE(rp);
}

/* is_spf1 - does the TXT record select as an SPF record (4.5)? */
static int is_spf1(const struct dns_rr *rr)
{
	return rr->txt_len >= 6 && strncasecmp(rr->txt, "v=spf1", 6) == 0 &&
	    (rr->txt_len == 6 || rr->txt[6] == ' ');
}

/* spf_record_syntax - check a record against the ABNF, for callers that
 * must vet records before another parser (libspf2) sees them */
int spf_record_syntax(const char *record, size_t len, const char **err_r)
{
	struct spf_check *c;
	struct record *r;
	struct dns_rr rr;
	static __thread char err[256];
	int rc = 0;

	memset(&rr, 0, sizeof(rr));
	rr.txt = (char *)record;
	rr.txt_len = len;
	if (memchr(record, '\0', len) || !is_spf1(&rr)) {
		*err_r = "not an SPF record";
		return -1;
	}
	c = xcalloc(1, sizeof(*c));
	c->sender = c->local = c->sender_domain = c->helo = c->domain =
	    c->receiver = (char *)"";
	r = xmalloc(sizeof(*r));
	if (record_parse(c, record, len, r) < 0) {
		snprintf(err, sizeof(err), "%s", c->problem);
		*err_r = err;
		rc = -1;
	}
	free(c->problem);
	free(c);
	record_free(&r);
	return rc;
}

/* spf_explain_syntax - is txt a valid explain-string (6.2)? */
int spf_explain_syntax(const char *txt, size_t len)
{
	struct spf_check c;

	memset(&c, 0, sizeof(c));
	if (memchr(txt, '\0', len))
		return -1;
	return macro_expand(&c, txt, len, "", 1, NULL) == 0 ? 0 : -1;
}

/* ---------------------------------------------------------- evaluator */

static int check_host(struct spf_check *c, const char *domain, int depth,
    int want_exp);

/* eval_addr_list - "a" logic over one A/AAAA answer; ST_* or result */
static int match_addrs(struct spf_check *c, const struct dns_answer *a,
    const struct term *t)
{
	return answer_has_ip(c, a, c->ip.family == AF_INET ? t->cidr4 :
	    t->cidr6) ? ST_MATCH : ST_NOMATCH;
}

struct ptr_match {
	const char *target;
	int matched;
};

/* ptr_match_name - does a validated name fall within the target? */
static int ptr_match_name(void *arg, const char *name)
{
	struct ptr_match *m = arg;

	if (name_in_domain(name, m->target))
		m->matched = 1;
	return m->matched;
}

/* eval_mech - one mechanism; ST_MATCH / ST_NOMATCH / ST_AGAIN / result */
static int eval_mech(struct spf_check *c, const struct term *t,
    const char *domain, int depth)
{
	struct dns_answer *a;
	char *target = NULL;
	int rc;

	switch (t->kind) {
	case T_ALL:
		return ST_MATCH;
	case T_IP4:
	case T_IP6:
		return cidr_match(&t->net, &c->ip) &&
		    c->ip.family == t->net.ip.family ? ST_MATCH : ST_NOMATCH;
	default:
		break;
	}
	if ((rc = count_term(c)) != 0)
		return rc;
	if ((rc = expand_domain(c, t, domain, &target)) != 0)
		return rc;
	switch (t->kind) {
	case T_INCLUDE:
		rc = check_host(c, target, depth + 1, 0);
		switch (rc) {
		case ST_AGAIN:
			break;
		case SPF_PASS:
			rc = ST_MATCH;
			break;
		case SPF_FAIL:
		case SPF_SOFTFAIL:
		case SPF_NEUTRAL:
			rc = ST_NOMATCH;
			break;
		case SPF_TEMPERROR:
			break;
		case SPF_NONE:
			rc = PERMERROR(c, "include:%s has no SPF record",
			    target);
			break;
		default:
			rc = SPF_PERMERROR;
			break;
		}
		break;
	case T_A:
		if ((a = lookup(c, target, addr_type(c))) == NULL)
			rc = ST_AGAIN;
		else if (dns_failed(a))
			rc = TEMPERROR(c, "DNS %s for %s", dns_status_name(
			    a->status), target);
		else if ((rc = count_void(c, a)) == 0)
			rc = match_addrs(c, a, t);
		break;
	case T_EXISTS:
		if ((a = lookup(c, target, DNS_T_A)) == NULL)
			rc = ST_AGAIN;
		else if (dns_failed(a))
			rc = TEMPERROR(c, "DNS %s for %s", dns_status_name(
			    a->status), target);
		else if ((rc = count_void(c, a)) == 0)
			rc = a->n ? ST_MATCH : ST_NOMATCH;
		break;
	case T_MX: {
		int missing = 0;

		if ((a = lookup(c, target, DNS_T_MX)) == NULL) {
			rc = ST_AGAIN;
			break;
		}
		if (dns_failed(a)) {
			rc = TEMPERROR(c, "DNS %s for MX %s",
			    dns_status_name(a->status), target);
			break;
		}
		if ((rc = count_void(c, a)) != 0)
			break;
		if (a->n > c->lim.mx_names) {
			rc = PERMERROR(c, "more than %u MX names for %s",
			    c->lim.mx_names, target);
			break;
		}
		/* all address lookups of the exchanges go out together */
		for (size_t i = 0; i < a->n; i++)
			if (a->rr[i].name[0] &&
			    lookup(c, a->rr[i].name, addr_type(c)) == NULL)
				missing = 1;
		if (missing) {
			rc = ST_AGAIN;
			break;
		}
		rc = ST_NOMATCH;
		for (size_t i = 0; i < a->n && rc == ST_NOMATCH; i++) {
			struct dns_answer *h;

			if (a->rr[i].name[0] == '\0')
				continue;	/* null MX (RFC 7505) */
			h = lookup(c, a->rr[i].name, addr_type(c));
			if (dns_failed(h))
				rc = TEMPERROR(c, "DNS %s for %s",
				    dns_status_name(h->status),
				    a->rr[i].name);
			else
				rc = match_addrs(c, h, t);
		}
		break;
	}
	case T_PTR: {
		struct ptr_match m = { target, 0 };
		char rev[80];

		reverse_name(&c->ip, rev, sizeof(rev));
		if ((a = lookup(c, rev, DNS_T_PTR)) == NULL) {
			rc = ST_AGAIN;
			break;
		}
		if ((rc = count_void(c, a)) != 0)
			break;
		rc = validated_names(c, ptr_match_name, &m);
		if (rc != ST_AGAIN)
			rc = m.matched ? ST_MATCH : ST_NOMATCH;
		break;
	}
	default:
		rc = ST_NOMATCH;
		break;
	}
	free(target);
	return rc;
}

/*
 * explain - RFC 7208 6.2: the explanation for a fail from record r at
 * domain.  Any problem means "no exp": fall back to the default.
 * Returns 0 or ST_AGAIN.
 */
static int explain(struct spf_check *c, const struct record *r,
    const char *domain)
{
	struct buf b;
	char *name = NULL;
	struct dns_answer *a;
	int rc;

	XFREE(&c->exp);
	if (r->exp) {
		/* expansion problems here are not permerrors: no exp */
		rc = macro_expand(c, r->exp->spec, r->exp->spec_len, domain, 0,
		    NULL);
		if (rc == 0) {
			buf_init(&b, SPF_EXPAND_MAX);
			rc = macro_expand(c, r->exp->spec, r->exp->spec_len,
			    domain, 0, &b);
			if (rc == ST_AGAIN) {
				buf_free(&b);
				return ST_AGAIN;
			}
			if (rc == 0)
				name = truncate_name(&b);
			buf_free(&b);
		}
	}
	if (name && spf_domain_valid(name)) {
		a = lookup(c, name, DNS_T_TXT);
		if (a == NULL) {
			free(name);
			return ST_AGAIN;
		}
		if (a->status == DNS_OK && a->n == 1 &&
		    !memchr(a->rr[0].txt, '\0', a->rr[0].txt_len)) {
			buf_init(&b, SPF_EXPAND_MAX);
			rc = macro_expand(c, a->rr[0].txt, a->rr[0].txt_len,
			    domain, 1, &b);
			if (rc == ST_AGAIN) {
				buf_free(&b);
				free(name);
				return ST_AGAIN;
			}
			if (rc == 0) {
				c->exp = buf_steal(&b);
				free(name);
				return 0;
			}
			buf_free(&b);
		}
	}
	free(name);
	if (c->default_exp) {
		buf_init(&b, SPF_EXPAND_MAX);
		rc = macro_expand(c, c->default_exp, strlen(c->default_exp),
		    domain, 1, &b);
		if (rc == ST_AGAIN) {
			buf_free(&b);
			return ST_AGAIN;
		}
		if (rc == 0)
			c->exp = buf_steal(&b);
		else
			buf_free(&b);
	}
	return 0;
}

/* qualifier_result - result for a matching directive */
static enum spf_result qualifier_result(char q)
{
	switch (q) {
	case '-': return SPF_FAIL;
	case '~': return SPF_SOFTFAIL;
	case '?': return SPF_NEUTRAL;
	default: return SPF_PASS;
	}
}

/*
 * check_host - RFC 7208 section 4 for one domain.  Returns an spf_result
 * or ST_AGAIN.  want_exp: this level's fail is the final result (not
 * inside include), so compute the explanation.
 */
static int check_host(struct spf_check *c, const char *domain, int depth,
    int want_exp)
{
	struct dns_answer *a;
	const struct dns_rr *rec = NULL;
	struct dns_rr override;
	struct record *r;
	int rc;

	memset(&override, 0, sizeof(override));
	if (depth > SPF_DEPTH_MAX)
		return PERMERROR(c, "include/redirect nested too deeply");
	if (!spf_domain_valid(domain))
		return depth ? PERMERROR(c, "invalid domain \"%.60s\"",
		    domain) : SPF_NONE;
	if (depth == 0 && c->record) {
		/* the caller's own record instead of the published one */
		override.txt = c->record;
		override.txt_len = strlen(c->record);
		rec = &override;
		goto parse;
	}
	if ((a = lookup(c, domain, DNS_T_TXT)) == NULL)
		return ST_AGAIN;
	if (dns_failed(a))
		return TEMPERROR(c, "DNS %s looking up TXT %s",
		    dns_status_name(a->status), domain);
	for (size_t i = 0; i < a->n; i++) {
		if (!is_spf1(&a->rr[i]))
			continue;
		if (rec)
			return PERMERROR(c, "more than one SPF record at %s",
			    domain);
		rec = &a->rr[i];
	}
	if (rec == NULL)
		return SPF_NONE;
	if (memchr(rec->txt, '\0', rec->txt_len))
		return PERMERROR(c, "NUL byte in the SPF record of %s",
		    domain);
parse:
	r = xmalloc(sizeof(*r));
	if (record_parse(c, rec->txt, rec->txt_len, r) < 0) {
		record_free(&r);
		return SPF_PERMERROR;
	}
	for (size_t i = 0; i < r->n; i++) {
		const struct term *t = &r->t[i];

		if (t->kind >= T_REDIRECT)
			continue;
		rc = eval_mech(c, t, domain, depth);
		if (rc == ST_NOMATCH)
			continue;
		if (rc == ST_MATCH) {
			rc = qualifier_result(t->qualifier);
			if (depth == 0 || want_exp) {
				XFREE(&c->mech);
				c->mech = xstrndup(t->text, t->text_len);
			}
			if (rc == SPF_FAIL && want_exp &&
			    explain(c, r, domain) == ST_AGAIN)
				rc = ST_AGAIN;
		}
		record_free(&r);
		return rc;
	}
	if (r->redirect && !r->has_all) {
		char *target;

		rc = count_term(c);
		if (rc == 0)
			rc = expand_domain(c, r->redirect, domain, &target);
		if (rc == 0) {
			rc = check_host(c, target, depth + 1, want_exp);
			if (rc == SPF_NONE)
				rc = PERMERROR(c, "redirect=%s has no SPF "
				    "record", target);
			free(target);
		}
		record_free(&r);
		return rc;
	}
	record_free(&r);
	if (depth == 0 || want_exp) {
		XFREE(&c->mech);
		c->mech = xstrdup("default");
	}
	return SPF_NEUTRAL;
}

/* ------------------------------------------------------------ the API */

/* spf_check_new - a check of req.domain for req.ip; copies the request */
struct spf_check *spf_check_new(const struct spf_request *req,
    const struct spf_limits *lim)
{
	struct spf_check *c = xcalloc(1, sizeof(*c));
	const char *at;

	c->ip = req->ip;
	c->ip_upper = req->ip_upper;
	ip_unmap(&c->ip);
	c->helo = xstrdup(req->helo ? req->helo : "");
	c->domain = xstrdup(req->domain ? req->domain : "");
	if (req->sender && *req->sender) {
		c->sender = xstrdup(req->sender);
	} else {
		/* null sender: postmaster@HELO (RFC 7208 2.4) */
		size_t n = strlen(c->helo) + 12;

		c->sender = xmalloc(n);
		snprintf(c->sender, n, "postmaster@%s", c->helo);
	}
	at = strrchr(c->sender, '@');
	if (at) {
		c->local = at == c->sender ? xstrdup("postmaster") :
		    xstrndup(c->sender, (size_t)(at - c->sender));
		c->sender_domain = xstrdup(at + 1);
	} else {
		c->local = xstrdup("postmaster");
		c->sender_domain = xstrdup(c->sender);
	}
	c->receiver = xstrdup(req->receiver && *req->receiver ?
	    req->receiver : "unknown");
	c->default_exp = req->default_exp ? xstrdup(req->default_exp) : NULL;
	c->record = req->record ? xstrdup(req->record) : NULL;
	c->now = req->now ? req->now : time(NULL);
	if (lim)
		c->lim = *lim;
	else
		spf_limits_default(&c->lim);
	return c;
}

/* clear_wants - forget the questions of the last pass */
static void clear_wants(struct spf_check *c)
{
	for (size_t i = 0; i < c->nwants; i++)
		free((char *)c->wants[i].name);
	c->nwants = 0;
}

/* finish - store the final result */
static void finish(struct spf_check *c, enum spf_result r)
{
	c->done = 1;
	c->result = r;
	c->lookups_used = c->pass.dns_terms;
	if (r != SPF_FAIL)
		XFREE(&c->exp);
	if (r != SPF_TEMPERROR && r != SPF_PERMERROR)
		XFREE(&c->problem);
}

/* spf_check_set_cache - answers available without waiting (the shared
 * DNS cache): consulted during a pass, so a warm check ends in one pass */
void spf_check_set_cache(struct spf_check *c, spf_cache_fn *fn, void *arg)
{
	c->cache_fn = fn;
	c->cache_arg = arg;
}

/* spf_check_run - one evaluation pass with the answers supplied so far */
enum spf_run spf_check_run(struct spf_check *c)
{
	int rc;

	if (c->done)
		return SPF_RUN_DONE;
	clear_wants(c);
	XFREE(&c->problem);
	memset(&c->pass, 0, sizeof(c->pass));
	if (++c->passes > c->lim.passes) {
		set_problem(c, "too many evaluation passes");
		finish(c, SPF_PERMERROR);
		return SPF_RUN_DONE;
	}
	rc = check_host(c, c->domain, 0, 1);
	/*
	 * A pass that hit a missing answer may have produced a result that
	 * does not depend on it (a later error); only a pass with nothing
	 * missing is final.
	 */
	if (c->pass.again || rc == ST_AGAIN) {
		if (c->nwants == 0) {	/* cannot happen; never loop */
			set_problem(c, "internal: no progress");
			finish(c, SPF_TEMPERROR);
			return SPF_RUN_DONE;
		}
		return SPF_RUN_NEED_DNS;
	}
	finish(c, (enum spf_result)rc);
	return SPF_RUN_DONE;
}

/* spf_check_questions - the questions the last pass could not answer */
size_t spf_check_questions(struct spf_check *c,
    const struct dns_question **q_r)
{
	*q_r = c->wants;
	return c->done ? 0 : c->nwants;
}

/* spf_check_answer - supply an answer (the check takes a reference) */
void spf_check_answer(struct spf_check *c, const char *name, uint16_t type,
    struct dns_answer *answer)
{
	struct memo *m;

	if (memo_find(c, name, type))
		return;
	m = xcalloc(1, sizeof(*m));
	m->name = xstrdup(name);
	m->type = type;
	m->ans = dns_answer_ref(answer);
	m->next = c->memo;
	c->memo = m;
}

/* spf_check_abort - end the check now (time budget, shutdown) */
void spf_check_abort(struct spf_check *c, enum spf_result result,
    const char *problem)
{
	if (c->done)
		return;
	XFREE(&c->problem);
	set_problem(c, "%s", problem);
	finish(c, result);
}

/* spf_check_free - release; *cp = NULL */
void spf_check_free(struct spf_check **cp)
{
	struct spf_check *c = *cp;

	*cp = NULL;
	if (c == NULL)
		return;
	clear_wants(c);
	free(c->wants);
	while (c->memo) {
		struct memo *m = c->memo;

		c->memo = m->next;
		dns_answer_unref(&m->ans);
		free(m->name);
		free(m);
	}
	free(c->sender);
	free(c->local);
	free(c->sender_domain);
	free(c->helo);
	free(c->domain);
	free(c->receiver);
	free(c->default_exp);
	free(c->record);
	free(c->exp);
	free(c->problem);
	free(c->mech);
	free(c);
}

/* accessors */
enum spf_result spf_check_result(const struct spf_check *c)
{
	return c->result;
}

const char *spf_check_explanation(const struct spf_check *c)
{
	return c->exp;
}

const char *spf_check_problem(const struct spf_check *c)
{
	return c->problem;
}

const char *spf_check_mechanism(const struct spf_check *c)
{
	return c->mech;
}

unsigned spf_check_lookups(const struct spf_check *c)
{
	return c->lookups_used;
}

/* sync_cache_get - the resolver's cache as synchronous source */
static struct dns_answer *sync_cache_get(void *arg, const char *name,
    uint16_t type)
{
	return dns_cache_get(arg, name, type);
}

/*
 * spf_check_sync - run the check to the end with blocking lookups, all
 * questions of a pass in parallel, within budget_ms (temperror after).
 */
enum spf_result spf_check_sync(struct spf_check *c, struct dns_resolver *r,
    unsigned budget_ms)
{
	long long deadline = clock_ms() + budget_ms;

	if (c->cache_fn == NULL)
		spf_check_set_cache(c, sync_cache_get, r);
	while (spf_check_run(c) == SPF_RUN_NEED_DNS) {
		const struct dns_question *q;
		size_t n = spf_check_questions(c, &q);
		struct dns_answer **ans = xcalloc(n, sizeof(*ans));
		long long left = deadline - clock_ms();

		if (left <= 0) {
			free(ans);
			spf_check_abort(c, SPF_TEMPERROR,
			    "SPF time budget exceeded");
			break;
		}
		dns_resolve_sync(r, q, n, ans, (unsigned)left);
		for (size_t i = 0; i < n; i++) {
			spf_check_answer(c, q[i].name, q[i].type, ans[i]);
			dns_answer_unref(&ans[i]);
		}
		free(ans);
	}
	return c->result;
}
