/*
 * rbl.c - DNS black- and allowlists (DNSBL, RHSBL, DNSWL); see rbl.h.
 *
 * Public: rbl_new, rbl_free, rbl_add_site, rbl_sites, rbl_check_sync,
 *         rbl_check_start, rbl_check_cancel, rbl_result_free,
 *         rbl_result_log, rbl_reply_expand, rbl_filter_parse,
 *         rbl_filter_match, rbl_domain_norm.
 * Trust: site specs are the admin's; identities (HELO, domains, the
 *        client address) are peer data and only reach the resolver as
 *        names that passed rbl_domain_norm and fit in DNS_NAME_MAX with
 *        the zone; answers are the network's: only A records of the
 *        queried name (dnsmsg.c keeps no others) inside the site's filter
 *        count, TXT text is cut at RBL_TXT_MAX bytes and masked to
 *        printable ASCII.
 * Errors: rbl_add_site returns -1 with *err_r (a message in the rbl,
 *         valid until its next call); checks always end with a result.
 *
 * One check is a plan (the distinct A questions, one per name: a zone
 * listed twice with different filters, or the HELO name equal to the
 * MAIL FROM domain under one zone, is asked once), the answers, and a
 * score: every site entry whose filter matches one A record of its name
 * adds its weight once.  The same code scores the synchronous path
 * (dns_resolve_sync, one budget) and the event-loop path
 * (dns_client_lookup plus one evtimer for the whole check).
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/event.h>

#include "clock.h"
#include "dns.h"
#include "log.h"
#include "rbl.h"
#include "xalloc.h"

#define RBL_ERR_MAX 512		/* rbl_add_site's message */
#define RBL_REPLY_DEPTH 2	/* ${name?{...$x...}} nesting expanded */

struct rbl_site {
	enum rbl_kind kind;
	char *zone;
	struct rbl_filter filter;
	int weight;
};

struct rbl {
	unsigned timeout_ms;
	int want_txt;
	struct rbl_site sites[RBL_SITES_MAX];
	size_t n;
	char err[RBL_ERR_MAX];
};

/* one check in progress: the plan, answers, and where it stands */
struct rbl_run {
	const struct rbl *r;
	struct ipaddr ip;
	int has_ip;
	char ipstr[IP_STR_MAX];
	char ident[4][DNS_NAME_MAX + 1];	/* by kind; "" = not queried */
	int site_q[RBL_SITES_MAX];		/* question per site, -1 none */
	char qname[RBL_SITES_MAX][DNS_NAME_MAX + 1];
	struct dns_answer *a[RBL_SITES_MAX];	/* A answers */
	size_t nq;
	int hit_a[RBL_HITS_MAX];		/* A question per hit */
	struct dns_answer *t[RBL_SITES_MAX];	/* TXT answer per A question */
};

struct rbl_check;

/* one lookup of the event-loop path */
struct rbl_slot {
	struct rbl_check *chk;
	size_t index;		/* the A question */
	int txt;		/* the TXT lookup of that name */
	struct dns_lookup *l;
};

struct rbl_check {
	struct rbl_run run;
	struct rbl_result res;
	struct dns_client *c;
	struct event *timer;
	rbl_done_fn *cb;
	void *arg;
	int delivering;		/* inside cb */
	size_t pending;
	struct rbl_slot slot[RBL_SITES_MAX];	/* A lookups */
	struct rbl_slot tslot[RBL_SITES_MAX];	/* TXT lookups */
};

/* ------------------------------------------------------------ filters */

/* octet_number - a decimal 0..255 of exactly n characters; -1 if not */
static int octet_number(const char *s, size_t n)
{
	int v = 0;

	if (n == 0 || n > 3)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v <= 255 ? v : -1;
}

/* octet_range - "N" or "N..M" into the bit set; -1 if malformed */
static int octet_range(const char *s, size_t n, uint8_t bits[32])
{
	const char *dots = NULL;
	int lo, hi;

	for (size_t i = 0; i + 1 < n; i++)
		if (s[i] == '.' && s[i + 1] == '.') {
			dots = s + i;
			break;
		}
	if (dots == NULL)
		lo = hi = octet_number(s, n);
	else {
		lo = octet_number(s, (size_t)(dots - s));
		hi = octet_number(dots + 2, (size_t)(s + n - dots - 2));
	}
	if (lo < 0 || hi < 0 || lo > hi)
		return -1;
	for (int v = lo; v <= hi; v++)
		bits[v / 8] |= (uint8_t)(1u << (v % 8));
	return 0;
}

/* octet_parse - one octet of a filter: N, or [N..M;N;...] (ranges only
 * inside brackets, as Postfix) */
static int octet_parse(const char *s, size_t n, uint8_t bits[32])
{
	if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
		const char *p = s + 1, *end = s + n - 1;

		if (p == end)
			return -1;
		while (p <= end) {
			const char *semi = memchr(p, ';', (size_t)(end - p));
			const char *stop = semi ? semi : end;

			if (octet_range(p, (size_t)(stop - p), bits) < 0)
				return -1;
			p = stop + 1;
		}
		return 0;
	}
	return octet_number(s, n) < 0 ? -1 : octet_range(s, n, bits);
}

/*
 * rbl_filter_parse - "d.d.d.d", each d a number or [N..M;N;...]; NULL
 * gives the "any" filter.  -1 on anything else (f is then unspecified).
 */
int rbl_filter_parse(const char *s, struct rbl_filter *f)
{
	const char *p = s;

	memset(f, 0, sizeof(*f));
	if (s == NULL) {
		f->any = 1;
		return 0;
	}
	if (strlen(s) > RBL_FILTER_MAX)
		return -1;
	for (int i = 0; i < 4; i++) {
		const char *dot = p;
		int depth = 0;

		/* the octet ends at a '.' outside brackets */
		for (; *dot && (depth || *dot != '.'); dot++) {
			depth += *dot == '[' ? 1 : *dot == ']' ? -1 : 0;
			if (depth < 0 || depth > 1)
				return -1;
		}
		if ((i < 3) != (*dot == '.') ||
		    octet_parse(p, (size_t)(dot - p), f->octet[i]) < 0)
			return -1;
		p = *dot ? dot + 1 : dot;
	}
	return 0;
}

/*
 * rbl_filter_match - does an A record (4 bytes, network order) count?
 * Without a filter: any 127.0.0.0/8 answer except 127.0.0.255 (dnswl.org's
 * "too many queries") and 127.255.255.0/24 (Spamhaus's error codes):
 * counting those would list, or allow, every client.
 */
int rbl_filter_match(const struct rbl_filter *f, const uint8_t a[4])
{
	if (f->any)
		return a[0] == 127 &&
		    !(a[1] == 0 && a[2] == 0 && a[3] == 255) &&
		    !(a[1] == 255 && a[2] == 255);
	for (int i = 0; i < 4; i++)
		if (!(f->octet[i][a[i] / 8] & (1u << (a[i] % 8))))
			return 0;
	return 1;
}

/* -------------------------------------------------------------- names */

/* name_norm - lower case, no final dot, labels of letters, digits, '-'
 * and '_' (1..63 bytes), at least min_labels of them, total at most max;
 * -1 (out "") otherwise */
static int name_norm(const char *in, char out[DNS_NAME_MAX + 1],
    size_t min_labels, size_t max, int *numeric_top_r)
{
	size_t len, label = 0, labels = 1;
	int digits = 1;

	out[0] = '\0';
	if (in == NULL || (len = strnlen(in, DNS_NAME_MAX + 2)) == 0 ||
	    len > DNS_NAME_MAX + 1)
		return -1;
	if (in[len - 1] == '.')
		len--;
	if (len == 0 || len > max)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c == '.') {
			if (label == 0)
				return -1;
			label = 0;
			labels++;
			digits = 1;
			continue;
		}
		if (c >= 0x80 || !(isalnum(c) || c == '-' || c == '_') ||
		    ++label > 63)
			return -1;
		if (!isdigit(c))
			digits = 0;
	}
	if (label == 0 || labels < min_labels)
		return -1;
	for (size_t i = 0; i < len; i++)
		out[i] = (char)tolower((unsigned char)in[i]);
	out[len] = '\0';
	*numeric_top_r = digits;
	return 0;
}

/*
 * rbl_domain_norm - a HELO name or domain as it is queried: lower case,
 * no final dot, two or more labels of letters, digits, '-' and '_' (1..63
 * bytes each), a top label not all digits (so "1.2.3.4" is no domain);
 * -1 (out "") for anything else: empty, an address literal "[...]",
 * longer than DNS_NAME_MAX.
 */
int rbl_domain_norm(const char *in, char *out)
{
	int numeric;

	if (name_norm(in, out, 2, DNS_NAME_MAX, &numeric) < 0)
		return -1;
	if (numeric) {
		out[0] = '\0';
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------- the sites */

/* rbl_new - an empty set of sites; every check ends within timeout_ms */
struct rbl *rbl_new(unsigned timeout_ms, int want_txt)
{
	struct rbl *r = xcalloc(1, sizeof(*r));

	r->timeout_ms = timeout_ms ? timeout_ms : 1;
	r->want_txt = want_txt;
	return r;
}

/* rbl_free - release the sites (results and checks must be gone) */
void rbl_free(struct rbl **rp)
{
	struct rbl *r = *rp;

	*rp = NULL;
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n; i++)
		free(r->sites[i].zone);
	free(r);
}

/* site_error - the message for a bad spec, kept in r */
static int site_error(struct rbl *r, const char *spec, const char *why,
    const char **err_r)
{
	snprintf(r->err, sizeof(r->err), "\"%.*s\": %s", 200, spec, why);
	*err_r = r->err;
	return -1;
}

/*
 * rbl_add_site - one "zone[=filter][*weight]" for identities of kind.
 * The zone must leave room for the longest name asked under it (the 64
 * bytes of a reversed IPv6 address, or a two-label domain).
 */
int rbl_add_site(struct rbl *r, enum rbl_kind kind, const char *spec,
    const char **err_r)
{
	struct rbl_site s;
	const char *star, *eq, *zend;
	char raw[DNS_NAME_MAX + 1], zone[DNS_NAME_MAX + 1];
	char filter[RBL_FILTER_MAX + 1];
	size_t zlen, room;
	int numeric;

	memset(&s, 0, sizeof(s));
	s.kind = kind;
	s.weight = 1;
	if ((unsigned)kind > RBL_FROM)
		return site_error(r, "", "unknown kind", err_r);
	if (strnlen(spec, RBL_SPEC_MAX + 1) > RBL_SPEC_MAX)
		return site_error(r, spec, "too long", err_r);
	if (r->n >= RBL_SITES_MAX) {
		snprintf(r->err, sizeof(r->err), "more than %d DNS lists",
		    RBL_SITES_MAX);
		*err_r = r->err;
		return -1;
	}
	star = strchr(spec, '*');
	eq = strchr(spec, '=');
	if (star && eq && star < eq)
		return site_error(r, spec, "the weight (*N) comes after "
		    "the filter (=d.d.d.d)", err_r);
	if (star) {
		char *end;
		long w;

		errno = 0;
		w = strtol(star + 1, &end, 10);
		if (star[1] == '\0' || isspace((unsigned char)star[1]) ||
		    *end != '\0' || errno || w < -RBL_WEIGHT_MAX ||
		    w > RBL_WEIGHT_MAX)
			return site_error(r, spec, "the weight is not an "
			    "integer from -" RBL_STR(RBL_WEIGHT_MAX) " to "
			    RBL_STR(RBL_WEIGHT_MAX), err_r);
		s.weight = (int)w;
	}
	zend = eq ? eq : star ? star : spec + strlen(spec);
	zlen = (size_t)(zend - spec);
	if (zlen && spec[zlen - 1] == '.')
		zlen--;
	room = kind == RBL_CLIENT ? IP_REV_MAX : 4;	/* "a.b." */
	if (zlen == 0 || zlen + room > DNS_NAME_MAX - 2)
		return site_error(r, spec, "not a DNS zone name (or too "
		    "long)", err_r);
	memcpy(raw, spec, zlen);
	raw[zlen] = '\0';
	if (name_norm(raw, zone, 1, DNS_NAME_MAX, &numeric) < 0)
		return site_error(r, spec, "not a DNS zone name", err_r);
	if (eq) {
		size_t flen = (size_t)((star ? star : eq + strlen(eq)) - eq - 1);

		if (flen > RBL_FILTER_MAX)
			return site_error(r, spec, "filter too long", err_r);
		memcpy(filter, eq + 1, flen);
		filter[flen] = '\0';
		if (rbl_filter_parse(filter, &s.filter) < 0)
			return site_error(r, spec, "the filter is not like "
			    "127.0.[0..255].[1;2..3]", err_r);
	} else
		s.filter.any = 1;
	s.zone = xstrdup(zone);
	r->sites[r->n++] = s;
	return 0;
}

/* rbl_sites - how many entries */
size_t rbl_sites(const struct rbl *r)
{
	return r->n;
}

/* ------------------------------------------------------------ a check */

/* run_plan - the identities and the distinct A questions */
static void run_plan(struct rbl_run *run, const struct rbl *r,
    const struct rbl_facts *f)
{
	run->r = r;
	if (f->ip && (f->ip->family == AF_INET || f->ip->family == AF_INET6)) {
		run->ip = *f->ip;
		if (ip_is_v4mapped(&run->ip))
			ip_unmap(&run->ip);
		run->has_ip = 1;
		ip_format(&run->ip, run->ipstr, sizeof(run->ipstr));
	}
	rbl_domain_norm(f->helo, run->ident[RBL_HELO]);
	rbl_domain_norm(f->sender_domain, run->ident[RBL_SENDER]);
	rbl_domain_norm(f->from_domain, run->ident[RBL_FROM]);
	for (size_t i = 0; i < r->n; i++) {
		const struct rbl_site *s = &r->sites[i];
		char name[DNS_NAME_MAX + 1];
		size_t j;
		int n;

		run->site_q[i] = -1;
		if (s->kind == RBL_CLIENT) {
			if (!run->has_ip || ip_reverse_name(&run->ip, s->zone,
			    name, sizeof(name)) < 0)
				continue;
		} else {
			if (run->ident[s->kind][0] == '\0')
				continue;
			n = snprintf(name, sizeof(name), "%s.%s",
			    run->ident[s->kind], s->zone);
			if (n < 0 || (size_t)n >= sizeof(name))
				continue;
		}
		if (!dns_name_valid(name))	/* over 253 bytes */
			continue;
		for (j = 0; j < run->nq; j++)
			if (strcmp(run->qname[j], name) == 0)
				break;
		if (j == run->nq)
			memcpy(run->qname[run->nq++], name, sizeof(name));
		run->site_q[i] = (int)j;
	}
}

/* failed - a status that says nothing about the listing */
static int failed(const struct dns_answer *a)
{
	return a == NULL || (a->status != DNS_OK &&
	    a->status != DNS_NXDOMAIN && a->status != DNS_NODATA);
}

/* run_score - hits, score and the lists that did not answer */
static void run_score(struct rbl_run *run, struct rbl_result *res)
{
	const struct rbl *r = run->r;

	memset(res, 0, sizeof(*res));
	res->queries = run->nq;
	for (size_t i = 0; i < r->n; i++) {
		const struct rbl_site *s = &r->sites[i];
		const struct dns_answer *a;
		struct rbl_hit *h;
		size_t k;

		if (run->site_q[i] < 0)
			continue;
		a = run->a[run->site_q[i]];
		if (failed(a)) {
			for (k = 0; k < res->ntimeouts; k++)
				if (strcmp(res->timeouts[k], s->zone) == 0)
					break;
			if (k == res->ntimeouts)
				res->timeouts[res->ntimeouts++] = s->zone;
			continue;
		}
		if (a->status != DNS_OK)
			continue;
		for (k = 0; k < a->n; k++)
			if (a->rr[k].type == DNS_T_A &&
			    a->rr[k].addr.family == AF_INET &&
			    rbl_filter_match(&s->filter, a->rr[k].addr.a))
				break;
		if (k == a->n)
			continue;
		h = &res->hits[res->nhits];
		run->hit_a[res->nhits++] = run->site_q[i];
		h->kind = s->kind;
		h->zone = s->zone;
		snprintf(h->what, sizeof(h->what), "%s", s->kind == RBL_CLIENT ?
		    run->ipstr : run->ident[s->kind]);
		ip_format(&a->rr[k].addr, h->answer, sizeof(h->answer));
		h->weight = s->weight;
		res->score += s->weight;
	}
}

/* txt_wanted - does A question q have a hit with a positive weight
 * (its TXT text is then fetched for the reply) */
static int txt_wanted(const struct rbl_run *run, size_t q)
{
	const struct rbl *r = run->r;
	const struct dns_answer *a = run->a[q];

	if (!r->want_txt || a == NULL || a->status != DNS_OK)
		return 0;
	for (size_t i = 0; i < r->n; i++) {
		if (run->site_q[i] != (int)q || r->sites[i].weight <= 0)
			continue;
		for (size_t k = 0; k < a->n; k++)
			if (a->rr[k].type == DNS_T_A &&
			    a->rr[k].addr.family == AF_INET &&
			    rbl_filter_match(&r->sites[i].filter,
			    a->rr[k].addr.a))
				return 1;
	}
	return 0;
}

/* txt_printable - the first TXT record, cut at RBL_TXT_MAX bytes,
 * every byte outside printable ASCII as '?'; NULL without one */
static char *txt_printable(const struct dns_answer *a)
{
	const struct dns_rr *rr = NULL;
	size_t n;
	char *t;

	if (a == NULL || a->status != DNS_OK)
		return NULL;
	for (size_t k = 0; k < a->n && rr == NULL; k++)
		if (a->rr[k].type == DNS_T_TXT && a->rr[k].txt)
			rr = &a->rr[k];
	if (rr == NULL)
		return NULL;
	n = rr->txt_len < RBL_TXT_MAX ? rr->txt_len : RBL_TXT_MAX;
	t = xmalloc(n + 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)rr->txt[i];

		t[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	t[n] = '\0';
	return t;
}

/* run_txt_apply - the texts into the positive hits */
static void run_txt_apply(struct rbl_run *run, struct rbl_result *res)
{
	for (size_t h = 0; h < res->nhits; h++)
		if (res->hits[h].weight > 0 && res->hits[h].txt == NULL)
			res->hits[h].txt = txt_printable(run->t[run->hit_a[h]]);
}

/* run_release - drop the answers */
static void run_release(struct rbl_run *run)
{
	for (size_t i = 0; i < run->nq; i++) {
		dns_answer_unref(&run->a[i]);
		dns_answer_unref(&run->t[i]);
	}
}

/*
 * rbl_check_sync - the whole check, blocking, within the rbl's time
 * limit.  With want_txt the A round gets 3/4 of it (a list that never
 * answers would leave no time for the texts), the TXT round the rest.
 */
void rbl_check_sync(const struct rbl *r, struct dns_resolver *res,
    const struct rbl_facts *f, struct rbl_result *out)
{
	struct rbl_run *run = xcalloc(1, sizeof(*run));
	struct dns_question q[RBL_SITES_MAX];
	struct dns_answer *t[RBL_SITES_MAX];
	size_t map[RBL_SITES_MAX], nt = 0;
	long long deadline = clock_ms() + r->timeout_ms, left;
	unsigned a_ms = r->want_txt ? r->timeout_ms - r->timeout_ms / 4 :
	    r->timeout_ms;

	run_plan(run, r, f);
	for (size_t i = 0; i < run->nq; i++) {
		q[i].name = run->qname[i];
		q[i].type = DNS_T_A;
	}
	if (run->nq)
		dns_resolve_sync(res, q, run->nq, run->a, a_ms ? a_ms : 1);
	run_score(run, out);
	for (size_t i = 0; i < run->nq; i++)
		if (txt_wanted(run, i)) {
			q[nt].name = run->qname[i];
			q[nt].type = DNS_T_TXT;
			map[nt++] = i;
		}
	left = deadline - clock_ms();
	if (nt && left > 0) {
		dns_resolve_sync(res, q, nt, t, (unsigned)left);
		for (size_t k = 0; k < nt; k++)
			run->t[map[k]] = t[k];
		run_txt_apply(run, out);
	}
	run_release(run);
	free(run);
}

/* check_stop - cancel every lookup still pending */
static void check_stop(struct rbl_check *chk)
{
	for (size_t i = 0; i < RBL_SITES_MAX; i++) {
		dns_lookup_cancel(chk->slot[i].l);
		chk->slot[i].l = NULL;
		dns_lookup_cancel(chk->tslot[i].l);
		chk->tslot[i].l = NULL;
	}
	chk->pending = 0;
}

/* check_free - release everything but the caller's pointer */
static void check_free(struct rbl_check *chk)
{
	check_stop(chk);
	if (chk->timer)
		event_free(chk->timer);
	rbl_result_free(&chk->res);
	run_release(&chk->run);
	free(chk);
}

/* check_finish - score what has answered, the callback once, then the
 * check is freed */
static void check_finish(struct rbl_check *chk)
{
	check_stop(chk);
	run_score(&chk->run, &chk->res);
	run_txt_apply(&chk->run, &chk->res);
	chk->delivering = 1;
	chk->cb(chk->arg, &chk->res);
	check_free(chk);
}

/* on_answer - one lookup answered.  An A answer with a positive hit
 * starts the TXT lookup of that name at once (not after the slowest
 * list), within the same time limit. */
static void on_answer(void *arg, struct dns_answer *a)
{
	struct rbl_slot *s = arg;
	struct rbl_check *chk = s->chk;
	struct rbl_run *run = &chk->run;
	struct dns_answer **to = s->txt ? &run->t[s->index] :
	    &run->a[s->index];

	s->l = NULL;
	chk->pending--;
	if (a)
		*to = dns_answer_ref(a);
	if (!s->txt && txt_wanted(run, s->index)) {
		struct rbl_slot *t = &chk->tslot[s->index];

		t->chk = chk;
		t->index = s->index;
		t->txt = 1;
		t->l = dns_client_lookup(chk->c, run->qname[s->index],
		    DNS_T_TXT, on_answer, t);
		if (t->l)
			chk->pending++;
	}
	if (chk->pending == 0)
		check_finish(chk);
}

/* on_timer - the time limit of the whole check (or the start of a check
 * with nothing to ask): what has not answered counts as not listed */
static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	check_finish(arg);
}

/*
 * rbl_check_start - the check on an event loop: every A question at
 * once, one timer for the whole check; cb runs once, from the loop
 * (never from inside this call), unless cancelled first.
 */
struct rbl_check *rbl_check_start(const struct rbl *r, struct dns_client *c,
    struct event_base *base, const struct rbl_facts *f, rbl_done_fn *cb,
    void *arg)
{
	struct rbl_check *chk = xcalloc(1, sizeof(*chk));
	struct timeval tv;

	chk->c = c;
	chk->cb = cb;
	chk->arg = arg;
	run_plan(&chk->run, r, f);
	chk->timer = evtimer_new(base, on_timer, chk);
	if (chk->timer == NULL)
		log_panic("rbl: evtimer_new failed");
	for (size_t i = 0; i < chk->run.nq; i++) {
		struct rbl_slot *s = &chk->slot[i];

		s->chk = chk;
		s->index = i;
		s->l = dns_client_lookup(c, chk->run.qname[i], DNS_T_A,
		    on_answer, s);
		if (s->l)
			chk->pending++;
	}
	if (chk->pending == 0) {
		tv.tv_sec = tv.tv_usec = 0;
	} else {
		tv.tv_sec = r->timeout_ms / 1000;
		tv.tv_usec = (r->timeout_ms % 1000) * 1000;
	}
	evtimer_add(chk->timer, &tv);
	return chk;
}

/* rbl_check_cancel - stop a check before its callback: no callback, all
 * freed.  A no-op on NULL and from inside the check's own callback. */
void rbl_check_cancel(struct rbl_check *chk)
{
	if (chk == NULL || chk->delivering)
		return;
	check_free(chk);
}

/* ------------------------------------------------------------ results */

/* rbl_result_free - the TXT texts; the result can be used again */
void rbl_result_free(struct rbl_result *res)
{
	for (size_t h = 0; h < res->nhits && h < RBL_HITS_MAX; h++)
		XFREE(&res->hits[h].txt);
	res->nhits = 0;
}

/* rbl_result_log - the log fields (zones are the admin's, answers are
 * formatted addresses: nothing to mask) */
void rbl_result_log(const struct rbl_result *res, struct buf *out)
{
	for (size_t h = 0; h < res->nhits; h++)
		buf_appendf(out, "%s%s:%s:%d", h ? "," : " rbl=",
		    res->hits[h].zone, res->hits[h].answer,
		    res->hits[h].weight);
	buf_appendf(out, " rbl_score=%d", res->score);
	for (size_t k = 0; k < res->ntimeouts; k++)
		buf_appendf(out, "%s%s", k ? "," : " rbl_timeout=",
		    res->timeouts[k]);
}

/* ------------------------------------------------------- reply texts */

struct reply_ctx {
	const struct rbl_result *res;
	const struct rbl_hit *hit;	/* first positive hit, or NULL */
	const char *client_address;
	const char *helo;
	char score[16];
	struct buf *out;
	size_t start, max;
	int full;
};

/* emit - one byte of output, masked to printable ASCII, within max */
static void emit(struct reply_ctx *x, int c)
{
	if (x->full)
		return;
	if (x->out->len - x->start >= x->max ||
	    buf_appendc(x->out, c >= 0x20 && c < 0x7f ? c : '?') < 0)
		x->full = 1;
}

/* emit_n - n bytes */
static void emit_n(struct reply_ctx *x, const char *s, size_t n)
{
	for (size_t i = 0; i < n && !x->full; i++)
		emit(x, (unsigned char)s[i]);
}

/* macro_value - the value of a macro, or NULL when it is not ours */
static const char *macro_value(const struct reply_ctx *x, const char *name,
    size_t n)
{
	static const char *const classes[] = { "Client host",
	    "Helo command", "Sender address", "Header address" };
	const struct rbl_hit *h = x->hit;

#define IS(s) (n == sizeof(s) - 1 && memcmp(name, s, n) == 0)
	if (IS("rbl_code"))
		return RBL_STR(RBL_REJECT_CODE);
	if (IS("rbl_class"))
		return h && (unsigned)h->kind <= RBL_FROM ? classes[h->kind] :
		    "";
	if (IS("rbl_what"))
		return h ? h->what : "";
	if (IS("rbl_domain"))
		return h && h->zone ? h->zone : "";
	if (IS("rbl_reason") || IS("rbl_txt"))
		return h && h->txt ? h->txt : "";
	if (IS("rbl_score"))
		return x->score;
	if (IS("client_address"))
		return x->client_address ? x->client_address : "";
	if (IS("helo_name"))
		return x->helo ? x->helo : "";
#undef IS
	return NULL;
}

/* closing - the index of the bracket closing s[0] ('{' or '('), or -1 */
static long closing(const char *s, size_t n)
{
	char open = s[0], close = open == '{' ? '}' : ')';
	int depth = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == open)
			depth++;
		else if (s[i] == close && --depth == 0)
			return (long)i;
	}
	return -1;
}

static void expand(struct reply_ctx *x, const char *t, size_t n, int depth);

/* expand_cond - the TEXT of ${name?TEXT} / ${name:TEXT}: "{v}",
 * "{v1}:{v2}" (with '?'), or plain text */
static void expand_cond(struct reply_ctx *x, int set, char op,
    const char *t, size_t n, int depth)
{
	const char *v = t, *alt = NULL;
	size_t vn = n, altn = 0;
	long k;

	if (n && t[0] == '{' && (k = closing(t, n)) > 0) {
		size_t rest = n - (size_t)k - 1;

		if (rest == 0) {
			v = t + 1;
			vn = (size_t)k - 1;
		} else if (op == '?' && rest >= 3 && t[k + 1] == ':' &&
		    t[k + 2] == '{' && t[n - 1] == '}' &&
		    closing(t + k + 2, rest - 1) == (long)rest - 2) {
			v = t + 1;
			vn = (size_t)k - 1;
			alt = t + k + 3;
			altn = rest - 3;
		}
	}
	if (op == ':')
		set = !set;
	if (set)
		expand(x, v, vn, depth + 1);
	else if (alt)
		expand(x, alt, altn, depth + 1);
}

/* expand - the template text t[0..n) into the output */
static void expand(struct reply_ctx *x, const char *t, size_t n, int depth)
{
	size_t i = 0;

	if (depth > RBL_REPLY_DEPTH) {
		emit_n(x, t, n);
		return;
	}
	while (i < n && !x->full) {
		size_t j = i + 1, nl;
		const char *name, *val;
		long k;

		if (t[i] != '$' || i + 1 == n) {
			emit(x, (unsigned char)t[i++]);
			continue;
		}
		if (t[j] == '$') {			/* "$$" */
			emit(x, '$');
			i += 2;
			continue;
		}
		if (t[j] != '{' && t[j] != '(') {	/* $name */
			if (!(isalnum((unsigned char)t[j]) || t[j] == '_')) {
				emit(x, '$');		/* a lone '$' */
				i = j;
				continue;
			}
			while (j < n && (isalnum((unsigned char)t[j]) ||
			    t[j] == '_'))
				j++;
			val = macro_value(x, t + i + 1, j - i - 1);
			if (val)
				emit_n(x, val, strlen(val));
			else
				emit_n(x, t + i, j - i);
			i = j;
			continue;
		}
		if ((k = closing(t + j, n - j)) < 0) {	/* unclosed */
			emit_n(x, t + i, n - i);
			return;
		}
		name = t + j + 1;
		for (nl = 0; j + 1 + nl < j + (size_t)k &&
		    (isalnum((unsigned char)name[nl]) || name[nl] == '_'); nl++)
			;
		val = macro_value(x, name, nl);
		if (val && j + 1 + nl == j + (size_t)k)	/* ${name} */
			emit_n(x, val, strlen(val));
		else if (val && (name[nl] == '?' || name[nl] == ':'))
			expand_cond(x, val[0] != '\0', name[nl], name + nl + 1,
			    (size_t)k - nl - 2, depth);
		else
			emit_n(x, t + i, (size_t)k + 2);
		i = j + (size_t)k + 1;
	}
}

/*
 * rbl_reply_expand - the reply template over the result (see rbl.h);
 * appends at most max bytes of printable ASCII to out.
 */
void rbl_reply_expand(const char *tmpl, const struct rbl_result *res,
    const char *client_address, const char *helo, struct buf *out,
    size_t max)
{
	struct reply_ctx x;

	memset(&x, 0, sizeof(x));
	x.res = res;
	for (size_t h = 0; res && h < res->nhits; h++)
		if (res->hits[h].weight > 0) {
			x.hit = &res->hits[h];
			break;
		}
	x.client_address = client_address;
	x.helo = helo;
	snprintf(x.score, sizeof(x.score), "%d", res ? res->score : 0);
	x.out = out;
	x.start = out->len;
	x.max = max;
	expand(&x, tmpl, strlen(tmpl), 0);
}
