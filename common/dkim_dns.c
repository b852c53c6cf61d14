/*
 * dkim_dns.c - DKIM key lookups through the shared resolver; see
 *              dkim_dns.h.
 */
#include "dkim_dns.h"

/* dkim_dns_lookup - TXT at NAME: found, not found, or try again */
enum dkim_lookup_status dkim_dns_lookup(void *arg, const char *name,
    struct buf *txt_r)
{
	const struct dkim_dns *dd = arg;
	struct dns_question q = { name, DNS_T_TXT };
	struct dns_answer *a = NULL;
	enum dkim_lookup_status st;

	buf_reset(txt_r);
	if (!dns_name_valid(name))
		return DKIM_LOOKUP_NOTFOUND;
	dns_resolve_sync(dd->resolver, &q, 1, &a, dd->budget_ms);
	switch (a->status) {
	case DNS_OK:
		st = DKIM_LOOKUP_NOTFOUND;
		for (size_t i = 0; i < a->n; i++) {
			if (a->rr[i].type != DNS_T_TXT)
				continue;
			/* over txt_r's maximum: left empty, so the
			   record parses as "not a key" (permerror) */
			(void)buf_append(txt_r, a->rr[i].txt,
			    a->rr[i].txt_len);
			st = DKIM_LOOKUP_FOUND;
			break;
		}
		break;
	case DNS_NXDOMAIN:
	case DNS_NODATA:
		st = DKIM_LOOKUP_NOTFOUND;
		break;
	default:
		st = DKIM_LOOKUP_TEMPFAIL;
		break;
	}
	dns_answer_unref(&a);
	return st;
}
