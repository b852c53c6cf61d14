/*
 * dmarc.c - the DMARC engine; see dmarc.h.
 *
 * Discovery, RFC 7489 6.6.3: _dmarc.<From domain>; when it has no
 * record, _dmarc.<organizational domain> from the Public Suffix List.
 * Discovery, RFC 9989 (DMARCbis): the DNS tree walk: the From domain,
 * then (after cutting a name of 8 or more labels to 7) one label less at
 * a time, down to the top-level label: at most DMARC_WALK_MAX queries.
 * The organizational domain walks the same names but reads every record
 * on the way for psd= (RFC 9989 4.10.1).
 *
 * At one name, TXT records not starting with v=DMARC1 are ignored; more
 * than one DMARC record there ends discovery (RFC 7489 6.6.3 step 2):
 * no policy is applied and the result says permerror.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "authres.h"
#include "buf.h"
#include "dmarc.h"
#include "dns.h"
#include "psl.h"
#include "xalloc.h"

struct dmarc {
	struct dmarc_opts o;
};

/* ------------------------------------------------------------- records */

/* lc - ASCII lower case */
static char lc(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

/* is_wsp - RFC 5234 WSP (and the CR LF of a folded TXT paste) */
static int is_wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* eq - [s, s+n) equals word, ignoring ASCII case */
static int eq(const char *s, size_t n, const char *word)
{
	return strlen(word) == n && strncasecmp(s, word, n) == 0;
}

/* policy_of - p=/sp=/np= value; -1 if not one of the three */
static int policy_of(const char *s, size_t n, enum dmarc_policy *p_r)
{
	if (eq(s, n, "none"))
		*p_r = DMARC_P_NONE;
	else if (eq(s, n, "quarantine"))
		*p_r = DMARC_P_QUARANTINE;
	else if (eq(s, n, "reject"))
		*p_r = DMARC_P_REJECT;
	else
		return -1;
	return 0;
}

/* number - decimal [s, s+n) up to max; -1 if not */
static int number(const char *s, size_t n, unsigned long long max,
    unsigned long long *v_r)
{
	unsigned long long v = 0;

	if (n == 0 || n > 20)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (v > (max - (unsigned)(s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*v_r = v;
	return 0;
}

/* dmarc_uri_parse - "mailto:addr[?query][!size[kmgt]]" (RFC 7489 6.2,
 * RFC 6068 %-escapes); other schemes are not usable */
int dmarc_uri_parse(const char *s, size_t len, struct dmarc_uri *u)
{
	const char *bang, *end = s + len, *at;
	size_t ulen, a = 0;

	memset(u, 0, sizeof(*u));
	while (len && is_wsp(*s))
		s++, len--;
	while (len && is_wsp(s[len - 1]))
		len--;
	end = s + len;
	/* "!" cannot appear in a mailto address unescaped: the size */
	bang = memchr(s, '!', len);
	if (bang) {
		const char *q = bang + 1;
		size_t dn = 0;
		unsigned long long v, mult = 1;

		while (q + dn < end && q[dn] >= '0' && q[dn] <= '9')
			dn++;
		if (q + dn < end) {
			switch (lc(q[dn])) {
			case 'k': mult = 1ULL << 10; break;
			case 'm': mult = 1ULL << 20; break;
			case 'g': mult = 1ULL << 30; break;
			case 't': mult = 1ULL << 40; break;
			default: return -1;
			}
			if (q + dn + 1 != end)
				return -1;
		}
		if (number(q, dn, (1ULL << 62) / mult, &v) < 0 || v == 0)
			return -1;
		u->max_bytes = v * mult;
		end = bang;
	}
	ulen = (size_t)(end - s);
	if (ulen < 8 || ulen >= sizeof(u->uri) || strncasecmp(s, "mailto:", 7))
		return -1;
	memcpy(u->uri, s, ulen);
	u->uri[ulen] = '\0';
	for (const char *p = s + 7; p < end && *p != '?'; p++) {
		char c = *p;

		if (c == '%') {
			int h, l;

			if (p + 2 >= end || (h = hex_value(p[1])) < 0 ||
			    (l = hex_value(p[2])) < 0)
				return -1;
			c = (char)(h * 16 + l);
			p += 2;
		}
		if ((unsigned char)c <= ' ' || c == 0x7f || c == '<' ||
		    c == '>' || c == ',' || a + 1 >= sizeof(u->addr))
			return -1;
		u->addr[a++] = c;
	}
	u->addr[a] = '\0';
	at = strrchr(u->addr, '@');
	if (at == NULL || at == u->addr || !dns_name_valid(at + 1) ||
	    strchr(at + 1, ' '))
		return -1;
	for (char *d = u->addr + (at - u->addr) + 1; *d; d++)
		*d = lc(*d);
	u->domain = at + 1;
	return 0;
}

/* uri_list - a rua=/ruf= value into up to DMARC_URIS_MAX URIs; the
 * unusable ones are skipped (a warning) */
static void uri_list(const char *s, size_t n, struct dmarc_uri *out,
    size_t *n_r, unsigned *warn)
{
	const char *e = s + n;

	*n_r = 0;
	while (s < e) {
		const char *c = memchr(s, ',', (size_t)(e - s));
		const char *ue = c ? c : e;

		if (*n_r < DMARC_URIS_MAX &&
		    dmarc_uri_parse(s, (size_t)(ue - s), &out[*n_r]) == 0)
			(*n_r)++;
		else
			(*warn)++;
		s = c ? c + 1 : e;
	}
}

/* fo_list - "0:1:d:s" */
static unsigned fo_list(const char *s, size_t n, unsigned *warn)
{
	unsigned fo = 0;
	const char *e = s + n;

	while (s < e) {
		const char *c = memchr(s, ':', (size_t)(e - s));
		const char *te = c ? c : e;

		while (s < te && is_wsp(*s))
			s++;
		while (te > s && is_wsp(te[-1]))
			te--;
		if (eq(s, (size_t)(te - s), "0"))
			fo |= DMARC_FO_0;
		else if (eq(s, (size_t)(te - s), "1"))
			fo |= DMARC_FO_1;
		else if (eq(s, (size_t)(te - s), "d"))
			fo |= DMARC_FO_D;
		else if (eq(s, (size_t)(te - s), "s"))
			fo |= DMARC_FO_S;
		else
			(*warn)++;
		s = c ? c + 1 : e;
	}
	return fo ? fo : DMARC_FO_0;
}

/* dmarc_record_parse - one TXT record */
int dmarc_record_parse(const char *txt, size_t len, enum dmarc_mode mode,
    struct dmarc_record *r, const char **err_r)
{
	const char *s = txt, *e = txt + len;
	int ntags = 0, p_bad = 0, sp_bad = 0, p_second = 0;
	unsigned seen = 0;

	memset(r, 0, sizeof(*r));
	r->pct = 100;
	r->psd = 'u';
	r->fo = DMARC_FO_0;
	r->ri = 86400;
	*err_r = NULL;
	while (s < e && is_wsp(*s))
		s++;
	/* v=DMARC1 first: otherwise not a DMARC record at all */
	{
		const char *p = s;

		if (p >= e || lc(*p) != 'v')
			return 1;
		p++;
		while (p < e && is_wsp(*p))
			p++;
		if (p >= e || *p != '=')
			return 1;
		p++;
		while (p < e && is_wsp(*p))
			p++;
		if ((size_t)(e - p) < 6 || strncmp(p, "DMARC1", 6) != 0)
			return 1;
		p += 6;
		while (p < e && is_wsp(*p))
			p++;
		if (p < e && *p != ';')
			return 1;
		s = p;
	}
	if (len >= sizeof(r->text) || memchr(txt, '\0', len)) {
		*err_r = len >= sizeof(r->text) ? "record too long" :
		    "NUL byte in record";
		return -1;
	}
	memcpy(r->text, txt, len);
	r->text[len] = '\0';
	while (s < e) {
		const char *te, *name, *ne, *val, *ve;
		unsigned bit = 0;

		if (*s == ';') {
			s++;
			continue;
		}
		te = memchr(s, ';', (size_t)(e - s));
		if (te == NULL)
			te = e;
		name = s;
		s = te;
		while (name < te && is_wsp(*name))
			name++;
		if (name == te)
			continue;
		if (++ntags > DMARC_TAGS_MAX) {
			*err_r = "too many tags";
			return -1;
		}
		ne = name;
		while (ne < te && ((*ne >= 'a' && *ne <= 'z') ||
		    (*ne >= 'A' && *ne <= 'Z') || (*ne >= '0' && *ne <= '9') ||
		    *ne == '_'))
			ne++;
		val = ne;
		while (val < te && is_wsp(*val))
			val++;
		if (ne == name || val == te || *val != '=') {
			r->warnings++;	/* not a tag: ignored */
			continue;
		}
		val++;
		while (val < te && is_wsp(*val))
			val++;
		ve = te;
		while (ve > val && is_wsp(ve[-1]))
			ve--;
		{
			static const char *const known[] = { "v", "p", "sp",
			    "np", "pct", "adkim", "aspf", "rua", "ruf", "fo",
			    "ri", "rf", "t", "psd" };

			for (size_t k = 0; k < sizeof(known) / sizeof(*known);
			    k++)
				if (eq(name, (size_t)(ne - name), known[k]))
					bit = 1u << k;
		}
		if (bit == 0) {
			r->warnings++;	/* unknown tag: ignored */
			continue;
		}
		if (seen & bit) {
			r->warnings++;	/* a repeated tag: the first counts */
			continue;
		}
		seen |= bit;
		size_t vn = (size_t)(ve - val);
		size_t nn = (size_t)(ne - name);
		unsigned long long num;

		if (eq(name, nn, "p")) {
			p_second = ntags == 1;
			if (policy_of(val, vn, &r->p) < 0)
				p_bad = 1;
		} else if (eq(name, nn, "sp")) {
			if (policy_of(val, vn, &r->sp) < 0)
				sp_bad = 1;
		} else if (eq(name, nn, "np")) {
			if (policy_of(val, vn, &r->np) < 0)
				sp_bad = 1;
		} else if (eq(name, nn, "pct")) {
			if (number(val, vn, 100, &num) < 0)
				r->warnings++;
			else
				r->pct = (int)num;
		} else if (eq(name, nn, "adkim") || eq(name, nn, "aspf")) {
			int *strict = lc(*name) == 'a' && nn == 5 ?
			    &r->adkim_strict : &r->aspf_strict;

			if (eq(val, vn, "s"))
				*strict = 1;
			else if (!eq(val, vn, "r"))
				r->warnings++;
		} else if (eq(name, nn, "rua")) {
			uri_list(val, vn, r->rua, &r->nrua, &r->warnings);
		} else if (eq(name, nn, "ruf")) {
			uri_list(val, vn, r->ruf, &r->nruf, &r->warnings);
		} else if (eq(name, nn, "fo")) {
			r->fo = fo_list(val, vn, &r->warnings);
		} else if (eq(name, nn, "ri")) {
			if (number(val, vn, 0xffffffffULL, &num) < 0)
				r->warnings++;
			else
				r->ri = (unsigned long)num;
		} else if (eq(name, nn, "t")) {
			if (eq(val, vn, "y"))
				r->testing = 1;
			else if (!eq(val, vn, "n"))
				r->warnings++;
		} else if (eq(name, nn, "psd")) {
			if (vn == 1 && (lc(*val) == 'y' || lc(*val) == 'n' ||
			    lc(*val) == 'u'))
				r->psd = lc(*val);
			else
				r->warnings++;
		}
	}
	if (mode == DMARC_MODE_RFC7489) {
		/* RFC 7489 6.3: p= comes right after v=; pct= and ri=
		 * are used; t= and psd= do not exist */
		if (r->p != DMARC_P_UNSET && !p_second)
			p_bad = 1;
		r->testing = 0;
		r->psd = 'u';
	} else {
		/* RFC 9989 4.7: pct=, rf=, ri= are historic: ignored */
		r->pct = 100;
	}
	/* RFC 7489 6.6.3, RFC 9989 4.10.1: a missing or bad p= (or a bad
	 * sp= or np=) reads as p=none when the record has a usable rua=;
	 * otherwise the record is not used */
	if (p_bad || sp_bad || r->p == DMARC_P_UNSET) {
		if (r->nrua == 0) {
			*err_r = p_bad ? (r->p != DMARC_P_UNSET && !p_second ?
			    "p= is not the second tag" : "invalid p= tag") :
			    r->p == DMARC_P_UNSET ? "no p= tag" :
			    "invalid sp= or np= tag";
			return -1;
		}
		r->p = DMARC_P_NONE;
		r->sp = r->np = DMARC_P_UNSET;
		r->warnings++;
	}
	return 0;
}

/* ----------------------------------------------------------------- DNS */

/* dmarc_dns_lookup - a dmarc_lookup_fn on the shared resolver */
struct dns_answer *dmarc_dns_lookup(void *arg, const char *name,
    uint16_t type)
{
	const struct dmarc_dns *dd = arg;
	struct dns_question q = { name, type };
	struct dns_answer *a = NULL;

	if (!dns_name_valid(name))
		return dns_answer_new(DNS_ERROR);
	dns_resolve_sync(dd->resolver, &q, 1, &a, dd->budget_ms);
	return a ? a : dns_answer_new(DNS_ERROR);
}

enum found { FOUND_NONE, FOUND_ONE, FOUND_MANY, FOUND_BAD, FOUND_TEMP };

/* fetch - the DMARC record at _dmarc.<domain> into r; *err_r for BAD */
static enum found fetch(const struct dmarc *d, const char *domain,
    struct dmarc_record *r, const char **err_r)
{
	char name[DMARC_DOMAIN_MAX + 8];
	struct dns_answer *a;
	enum found f = FOUND_NONE;
	const char *err = NULL;
	struct dmarc_record *tmp = NULL;

	*err_r = NULL;
	if ((size_t)snprintf(name, sizeof(name), "_dmarc.%s", domain) >=
	    sizeof(name) || !dns_name_valid(name))
		return FOUND_NONE;
	a = d->o.lookup(d->o.lookup_arg, name, DNS_T_TXT);
	switch (a->status) {
	case DNS_OK:
		break;
	case DNS_NXDOMAIN:
	case DNS_NODATA:
		goto done;
	default:
		f = FOUND_TEMP;
		goto done;
	}
	for (size_t i = 0; i < a->n; i++) {
		struct dmarc_record *into;
		int rc;

		if (a->rr[i].type != DNS_T_TXT)
			continue;
		into = f == FOUND_NONE ? r : (tmp ? tmp :
		    (tmp = xmalloc(sizeof(*tmp))));
		rc = dmarc_record_parse(a->rr[i].txt, a->rr[i].txt_len,
		    d->o.mode, into, &err);
		if (rc == 1)
			continue;
		if (f != FOUND_NONE) {
			f = FOUND_MANY;
			break;
		}
		f = rc == 0 ? FOUND_ONE : FOUND_BAD;
		*err_r = err;
	}
done:
	free(tmp);
	dns_answer_unref(&a);
	return f;
}

/* labels - how many labels name has */
static size_t labels(const char *name)
{
	size_t n = 1;

	for (const char *p = name; *p; p++)
		if (*p == '.')
			n++;
	return n;
}

/* parent_at - the suffix of name with k labels (k <= labels(name)) */
static const char *parent_at(const char *name, size_t k)
{
	size_t skip = labels(name) - k;
	const char *p = name;

	while (skip--)
		p = strchr(p, '.') + 1;
	return p;
}

/*
 * walk_names - the names the RFC 9989 tree walk visits from name: name,
 * then (cut to 7 labels when it has 8 or more) one label less each
 * time, down to one label.  Pointers into name.
 */
static size_t walk_names(const char *name, const char **out)
{
	size_t n = 0, l = labels(name);

	out[n++] = name;
	if (l > 1) {
		size_t k = l >= 8 ? 7 : l - 1;

		for (; k >= 1 && n < DMARC_WALK_MAX; k--)
			out[n++] = parent_at(name, k);
	}
	return n;
}

/* norm - lower case, no final dot, valid: into out; -1 if not a name */
static int norm(const char *in, char *out, size_t outlen)
{
	size_t n = strlen(in);

	if (n && in[n - 1] == '.')
		n--;
	if (n == 0 || n >= outlen)
		return -1;
	for (size_t i = 0; i < n; i++)
		out[i] = lc(in[i]);
	out[n] = '\0';
	return dns_name_valid(out) && out[0] != '.' ? 0 : -1;
}

/*
 * walk - the RFC 9989 4.10 tree walk from names[first] up, for the
 * organizational domain of name (4.10.2) and the record that applies to
 * it (4.10.1: the organizational domain's, else the PSD's).  Several
 * records at one name count as none there.  *org_r and *rec (when
 * *have_r) are set; -1 on a DNS failure.
 */
static int walk(const struct dmarc *d, const char *name, size_t first,
    const char **org_r, struct dmarc_record *rec, int *have_r,
    const char **at_r)
{
	const char *names[DMARC_WALK_MAX];
	size_t n = walk_names(name, names);
	struct dmarc_record *r = xmalloc(sizeof(*r));
	const char *org = NULL, *last = NULL, *err;
	int rc = 0;

	*have_r = 0;
	for (size_t i = first; i < n && org == NULL; i++) {
		switch (fetch(d, names[i], r, &err)) {
		case FOUND_TEMP:
			rc = -1;
			goto done;
		case FOUND_ONE:
			break;
		default:
			continue;
		}
		if (r->psd == 'y' && i > 0) {
			/* a public suffix domain: the organizational
			 * domain is the name one label below; its record
			 * if it had one (the last found, there), else
			 * this one applies */
			org = parent_at(name, labels(names[i]) + 1);
			if (!(last && strcmp(last, org) == 0)) {
				*rec = *r;
				*have_r = 1;
				*at_r = names[i];
			}
			break;
		}
		*rec = *r;
		*have_r = 1;
		*at_r = last = names[i];
		if (r->psd == 'n' || r->psd == 'y')
			org = names[i];
	}
	*org_r = org ? org : last ? last : name;
done:
	free(r);
	return rc;
}

/* org_walk - RFC 9989 4.10.2 organizational domain of name (normalized)
 * into out; -1 on a DNS failure */
static int org_walk(const struct dmarc *d, const char *name, char *out,
    size_t outlen)
{
	struct dmarc_record *r = xmalloc(sizeof(*r));
	const char *org, *at;
	int have, rc = walk(d, name, 0, &org, r, &have, &at);

	if (rc == 0)
		snprintf(out, outlen, "%s", org);
	free(r);
	return rc;
}

/* org_domain - of a normalized name, by the mode's method */
static int org_domain(const struct dmarc *d, const char *name, char *out,
    size_t outlen)
{
	if (d->o.mode == DMARC_MODE_BIS)
		return org_walk(d, name, out, outlen);
	{
		const char *o = d->o.psl ? psl_org_domain(d->o.psl, name) :
		    NULL;

		snprintf(out, outlen, "%s", o ? o : name);
	}
	return 0;
}

/* dmarc_org_domain - of any name */
int dmarc_org_domain(const struct dmarc *d, const char *name, char *out,
    size_t outlen)
{
	char n[DMARC_DOMAIN_MAX];

	if (norm(name, n, sizeof(n)) < 0)
		return -1;
	return org_domain(d, n, out, outlen);
}

/*
 * domain_exists - RFC 9989 3.2.13 (after RFC 8020): a name exists unless
 * it is NXDOMAIN, whatever the type asked; we ask A and then MX and need
 * both NXDOMAIN, so one broken answer does not make a domain vanish.
 * 1, 0, or -1 on a DNS failure
 */
static int domain_exists(const struct dmarc *d, const char *name)
{
	static const uint16_t types[] = { DNS_T_A, DNS_T_MX };
	int temp = 0;

	for (size_t i = 0; i < sizeof(types) / sizeof(*types); i++) {
		struct dns_answer *a = d->o.lookup(d->o.lookup_arg, name,
		    types[i]);
		enum dns_status st = a->status;

		dns_answer_unref(&a);
		if (st == DNS_OK || st == DNS_NODATA)
			return 1;
		if (st != DNS_NXDOMAIN)
			temp = 1;
	}
	return temp ? -1 : 0;
}

/* ----------------------------------------------------------- alignment */

/* from_org - the From domain's organizational domain, found once per
 * message, only when relaxed alignment needs it; NULL on DNS failure */
static const char *from_org(const struct dmarc *d, struct dmarc_eval *ev)
{
	if (ev->org_domain[0] == '\0' && org_domain(d, ev->from_domain,
	    ev->org_domain, sizeof(ev->org_domain)) < 0) {
		ev->org_domain[0] = '\0';
		return NULL;
	}
	return ev->org_domain;
}

/* aligned - is id aligned with the From domain?  1, 0, or -1 when an
 * organizational domain could not be had */
static int aligned(const struct dmarc *d, const char *id_in,
    struct dmarc_eval *ev, int strict)
{
	char id[DMARC_DOMAIN_MAX], id_org[DMARC_DOMAIN_MAX];
	const char *from = ev->from_domain, *forg;
	size_t il, ol;

	if (id_in == NULL || norm(id_in, id, sizeof(id)) < 0)
		return 0;
	if (strcmp(id, from) == 0)
		return 1;
	if (strict)
		return 0;
	if ((forg = from_org(d, ev)) == NULL)
		return -1;
	/* relaxed: same organizational domain; that needs id to be
	 * from_org or below it, so nothing else costs a lookup */
	il = strlen(id);
	ol = strlen(forg);
	if (!(strcmp(id, forg) == 0 || (il > ol && id[il - ol - 1] ==
	    '.' && strcmp(id + il - ol, forg) == 0)))
		return 0;
	if (org_domain(d, id, id_org, sizeof(id_org)) < 0)
		return -1;
	return strcmp(id_org, forg) == 0;
}

/* ---------------------------------------------------------- evaluation */

/* sample_default - 0..99 from a per-thread xorshift generator */
static unsigned sample_default(void *arg)
{
	static __thread uint64_t x;

	(void)arg;
	while (x == 0) {
		if (getrandom(&x, sizeof(x), GRND_NONBLOCK) != sizeof(x))
			x = (uint64_t)time(NULL) ^ (uint64_t)pthread_self();
	}
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return (unsigned)(x % 100);
}

/* dmarc_new - an engine */
struct dmarc *dmarc_new(const struct dmarc_opts *o)
{
	struct dmarc *d = xcalloc(1, sizeof(*d));

	d->o = *o;
	if (d->o.sample == NULL)
		d->o.sample = sample_default;
	return d;
}

/* dmarc_free - free *dp */
void dmarc_free(struct dmarc **dp)
{
	free(*dp);
	*dp = NULL;
}

/* lower_policy - one step down: reject -> quarantine -> none */
static enum dmarc_policy lower_policy(enum dmarc_policy p)
{
	return p == DMARC_P_REJECT ? DMARC_P_QUARANTINE : DMARC_P_NONE;
}

/* use - the outcome of fetch at name into ev; 1 when discovery ends */
static int use(enum found f, const char *name, const char *err,
    enum dmarc_mode mode, struct dmarc_eval *ev)
{
	switch (f) {
	case FOUND_NONE:
		return 0;
	case FOUND_MANY:
		if (mode == DMARC_MODE_BIS)
			return 0;	/* RFC 9989: as if none there */
		/* RFC 7489 6.6.3: discovery ends, DMARC not applied */
		ev->result = DMARC_NONE;
		ev->why = "several DMARC records";
		break;
	case FOUND_TEMP:
		ev->result = DMARC_TEMPERROR;
		ev->why = "DNS failure looking up the policy";
		break;
	case FOUND_BAD:
		/* no usable p= and no rua=: no DMARC processing; we say
		 * permerror (RFC 8601: an improperly formatted record) */
		ev->result = DMARC_PERMERROR;
		ev->why = err;
		break;
	case FOUND_ONE:
		ev->have_record = 1;
		break;
	}
	snprintf(ev->policy_domain, sizeof(ev->policy_domain), "%s", name);
	return 1;
}

/* discover - the policy record for from (normalized) into ev */
static void discover(const struct dmarc *d, const char *from,
    struct dmarc_eval *ev)
{
	const char *err, *org, *at;
	enum found f;
	int have;

	f = fetch(d, from, &ev->rec, &err);
	if (use(f, from, err, d->o.mode, ev))
		return;
	if (d->o.mode == DMARC_MODE_RFC7489) {
		if (strcmp(ev->org_domain, from) != 0) {
			f = fetch(d, ev->org_domain, &ev->rec, &err);
			if (use(f, ev->org_domain, err, d->o.mode, ev))
				return;
		}
	} else {
		if (walk(d, from, 1, &org, &ev->rec, &have, &at) < 0) {
			ev->result = DMARC_TEMPERROR;
			ev->why = "DNS failure looking up the policy";
			return;
		}
		snprintf(ev->org_domain, sizeof(ev->org_domain), "%s", org);
		if (have) {
			ev->have_record = 1;
			snprintf(ev->policy_domain,
			    sizeof(ev->policy_domain), "%s", at);
			return;
		}
	}
	ev->result = DMARC_NONE;
	ev->why = "no DMARC record";
}

/* dmarc_evaluate - the DMARC result for a message from from_domain */
void dmarc_evaluate(const struct dmarc *d, const char *from_domain,
    const struct dmarc_auth *a, struct dmarc_eval *ev)
{
	struct dmarc_record *r = &ev->rec;
	int spf_al = 0, dkim_al = 0, unsure = 0;

	memset(ev, 0, sizeof(*ev));
	ev->dkim_aligned_index = -1;
	ev->policy = ev->disposition = DMARC_P_NONE;
	if (norm(from_domain, ev->from_domain, sizeof(ev->from_domain)) <
	    0) {
		snprintf(ev->from_domain, sizeof(ev->from_domain), "%s", "");
		ev->result = DMARC_PERMERROR;
		ev->why = "From domain is not a domain name";
		return;
	}
	if (d->o.mode == DMARC_MODE_RFC7489 &&
	    org_domain(d, ev->from_domain, ev->org_domain,
	    sizeof(ev->org_domain)) < 0) {
		ev->result = DMARC_TEMPERROR;
		ev->why = "organizational domain";
		return;
	}
	discover(d, ev->from_domain, ev);
	if (!ev->have_record)
		return;
	/* which policy: p= at the From domain itself, else sp= (np= when
	 * the From domain does not exist), each defaulting to the next */
	if (strcmp(ev->policy_domain, ev->from_domain) == 0) {
		ev->policy = r->p;
	} else {
		enum dmarc_policy sp = r->sp != DMARC_P_UNSET ? r->sp : r->p;

		ev->policy = sp;
		if (r->np != DMARC_P_UNSET && r->np != sp) {
			int ex = domain_exists(d, ev->from_domain);

			if (ex < 0) {
				ev->result = DMARC_TEMPERROR;
				ev->why = "DNS failure checking the From "
				    "domain exists";
				return;
			}
			if (ex == 0) {
				ev->policy = r->np;
				ev->from_nxdomain = 1;
			}
		}
	}
	/* alignment */
	if (a->spf_domain && a->spf == SPF_PASS) {
		spf_al = aligned(d, a->spf_domain, ev, r->aspf_strict);
		if (spf_al < 0)
			unsure = 1;
	}
	for (size_t i = 0; i < a->ndkim && i < DMARC_DKIM_MAX; i++) {
		int al;

		if (a->dkim[i].result != DKIM_RES_PASS)
			continue;
		al = aligned(d, a->dkim[i].domain, ev, r->adkim_strict);
		if (al > 0) {
			dkim_al = 1;
			ev->dkim_aligned_index = (int)i;
			break;
		}
		if (al < 0)
			unsure = 1;
	}
	ev->spf_aligned = spf_al > 0;
	ev->dkim_aligned = dkim_al;
	if (spf_al > 0 || dkim_al) {
		ev->result = DMARC_PASS;
		ev->why = dkim_al ? "aligned DKIM pass" : "aligned SPF pass";
		return;
	}
	if (unsure) {
		ev->result = DMARC_TEMPERROR;
		ev->why = "DNS failure checking alignment";
		return;
	}
	ev->result = DMARC_FAIL;
	ev->why = "no aligned SPF or DKIM pass";
	ev->disposition = ev->policy;
	if (ev->disposition == DMARC_P_NONE)
		return;
	if (r->testing) {
		/* RFC 9989 t=y: one step gentler */
		ev->disposition = lower_policy(ev->disposition);
		ev->sampled_out = 1;
	} else if (r->pct < 100 &&
	    d->o.sample(d->o.sample_arg) >= (unsigned)r->pct) {
		/* RFC 7489 6.6.4: outside the sample, one step gentler */
		ev->disposition = lower_policy(ev->disposition);
		ev->sampled_out = 1;
	}
}

/* dmarc_eval_authres - "; dmarc=RESULT (p=... dis=...) header.from=D" */
int dmarc_eval_authres(const struct dmarc_eval *ev, struct buf *b)
{
	if (buf_appendf(b, "; dmarc=%s", dmarc_result_name(ev->result)) < 0)
		return -1;
	if (ev->have_record && buf_appendf(b, " (p=%s dis=%s)",
	    dmarc_policy_name(ev->policy),
	    dmarc_policy_name(ev->disposition)) < 0)
		return -1;
	if (ev->from_domain[0])
		return authres_prop(b, "header.from", ev->from_domain);
	return 0;
}

/* dmarc_report_authorized - may reports about policy_domain go to
 * dest_domain? (RFC 7489 7.1) */
int dmarc_report_authorized(const struct dmarc *d, const char *policy_domain,
    const char *dest_domain)
{
	char pol[DMARC_DOMAIN_MAX], dst[DMARC_DOMAIN_MAX];
	char po[DMARC_DOMAIN_MAX], dor[DMARC_DOMAIN_MAX];
	char name[3 * DMARC_DOMAIN_MAX];
	struct dns_answer *a;
	int rc = 0;

	if (norm(policy_domain, pol, sizeof(pol)) < 0 ||
	    norm(dest_domain, dst, sizeof(dst)) < 0)
		return 0;
	if (org_domain(d, pol, po, sizeof(po)) < 0 ||
	    org_domain(d, dst, dor, sizeof(dor)) < 0)
		return -1;
	if (strcmp(po, dor) == 0)
		return 1;
	if ((size_t)snprintf(name, sizeof(name), "%s._report._dmarc.%s", pol,
	    dst) >= sizeof(name) || !dns_name_valid(name))
		return 0;
	a = d->o.lookup(d->o.lookup_arg, name, DNS_T_TXT);
	if (a->status == DNS_OK) {
		for (size_t i = 0; i < a->n && rc == 0; i++) {
			const char *t = a->rr[i].txt;
			size_t n = a->rr[i].txt_len;

			while (n && is_wsp(*t))
				t++, n--;
			if (a->rr[i].type == DNS_T_TXT && n >= 8 &&
			    strncasecmp(t, "v=DMARC1", 8) == 0 &&
			    (n == 8 || t[8] == ';' || is_wsp(t[8])))
				rc = 1;
		}
	} else if (a->status != DNS_NXDOMAIN && a->status != DNS_NODATA) {
		rc = -1;
	}
	dns_answer_unref(&a);
	return rc;
}

/* dmarc_result_name - RFC 8601 result words */
const char *dmarc_result_name(enum dmarc_result r)
{
	switch (r) {
	case DMARC_NONE:
		return "none";
	case DMARC_PASS:
		return "pass";
	case DMARC_FAIL:
		return "fail";
	case DMARC_TEMPERROR:
		return "temperror";
	case DMARC_PERMERROR:
		break;
	}
	return "permerror";
}

/* dmarc_policy_name - p= words ("none" for unset) */
const char *dmarc_policy_name(enum dmarc_policy p)
{
	switch (p) {
	case DMARC_P_QUARANTINE:
		return "quarantine";
	case DMARC_P_REJECT:
		return "reject";
	default:
		break;
	}
	return "none";
}
