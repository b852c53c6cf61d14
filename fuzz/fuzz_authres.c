/*
 * fuzz_authres.c - libFuzzer target: inbound Authentication-Results
 * values (authres_parse, authres_authserv_id, authres_find_prop in
 * common/authres.c).
 *
 * Trust: the input is any byte string, as a peer can put in a header.
 * Invariants checked (abort on violation, so libFuzzer reports it):
 *  - every kept string is NUL-terminated inside its field, holds no
 *    control byte, and names are lower-case Keywords;
 *  - nres <= AUTHRES_RESULTS_MAX, nprops <= AUTHRES_PROPS_MAX;
 *  - authres_authserv_id refuses exactly when the value has no id, and
 *    otherwise reads the same id as authres_parse;
 *  - authres_find_prop finds every kept property;
 *  - what was kept, written again with the builder (authres_begin,
 *    authres_prop, ...), parses back to the same fields with nothing
 *    dropped: the builder and the parser agree on quoting.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authres.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) abort(); } while (0)

/* check_str - NUL-terminated within size, no control byte */
static void check_str(const char *s, size_t size)
{
	const char *end = memchr(s, '\0', size);

	CHECK(end != NULL);
	for (; s < end; s++)
		CHECK((unsigned char)*s >= 0x20 && *s != 0x7f);
}

/* check_name - a non-empty lower-case Keyword (empty allowed if may_be_empty) */
static void check_name(const char *s, size_t size, int may_be_empty)
{
	check_str(s, size);
	CHECK(may_be_empty || *s);
	for (; *s; s++)
		CHECK((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		    *s == '-' || *s == '_');
}

/* check_parsed - the field invariants of one result */
static void check_parsed(const struct authres_parsed *p)
{
	check_str(p->authserv_id, sizeof(p->authserv_id));
	CHECK(p->authserv_id[0] != '\0');
	CHECK(p->nres <= AUTHRES_RESULTS_MAX);
	for (size_t k = 0; k < p->nres; k++) {
		const struct authres_res *r = &p->res[k];

		check_name(r->method, sizeof(r->method), 0);
		check_name(r->result, sizeof(r->result), 0);
		check_str(r->reason, sizeof(r->reason));
		CHECK(r->version >= 0);
		CHECK(r->nprops <= AUTHRES_PROPS_MAX);
		for (size_t j = 0; j < r->nprops; j++) {
			const struct authres_prop_kv *kv = &r->props[j];
			char name[sizeof(kv->ptype) + sizeof(kv->prop) + 1];
			const char *found;

			check_name(kv->ptype, sizeof(kv->ptype), 1);
			check_name(kv->prop, sizeof(kv->prop), 0);
			check_str(kv->value, sizeof(kv->value));
			CHECK(snprintf(name, sizeof(name), "%s%s%s", kv->ptype,
			    kv->ptype[0] ? "." : "", kv->prop) <
			    (int)sizeof(name));
			found = authres_find_prop(r, name);
			CHECK(found != NULL && found <= kv->value);
		}
	}
}

/* rebuild - p written again with the builder; -1 if it does not fit */
static int rebuild(const struct authres_parsed *p, struct buf *b)
{
	char method[64];

	if (authres_begin(b, p->authserv_id) < 0)
		return -1;
	for (size_t k = 0; k < p->nres; k++) {
		const struct authres_res *r = &p->res[k];

		snprintf(method, sizeof(method), "%s/%d", r->method,
		    r->version);
		if (authres_method(b, method, r->result, NULL) < 0 ||
		    buf_appends(b, " reason=") < 0 ||
		    hdr_value_append(b, r->reason) < 0)
			return -1;
		for (size_t j = 0; j < r->nprops; j++) {
			const struct authres_prop_kv *kv = &r->props[j];
			char name[sizeof(kv->ptype) + sizeof(kv->prop) + 1];

			snprintf(name, sizeof(name), "%s%s%s", kv->ptype,
			    kv->ptype[0] ? "." : "", kv->prop);
			if (authres_prop(b, name, kv->value) < 0)
				return -1;
		}
	}
	return 0;
}

/* same - the kept fields of a and b are equal */
static int same(const struct authres_parsed *a, const struct authres_parsed *b)
{
	if (strcmp(a->authserv_id, b->authserv_id) || a->nres != b->nres)
		return 0;
	for (size_t k = 0; k < a->nres; k++) {
		const struct authres_res *x = &a->res[k], *y = &b->res[k];

		if (strcmp(x->method, y->method) || x->version != y->version ||
		    strcmp(x->result, y->result) ||
		    strcmp(x->reason, y->reason) || x->nprops != y->nprops ||
		    y->props_dropped)
			return 0;
		for (size_t j = 0; j < x->nprops; j++)
			if (strcmp(x->props[j].ptype, y->props[j].ptype) ||
			    strcmp(x->props[j].prop, y->props[j].prop) ||
			    strcmp(x->props[j].value, y->props[j].value))
				return 0;
	}
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct authres_parsed p, again;
	const char *v = (const char *)data;
	char id[AUTHRES_ID_MAX];
	struct buf b;
	int rc, idrc;

	rc = authres_parse(v, size, &p);
	idrc = authres_authserv_id(v, size, id, sizeof(id));
	CHECK(rc == 0 || rc == -1);
	if (rc < 0) {
		CHECK(p.authserv_id[0] == '\0' || idrc == 0);
		return 0;
	}
	CHECK(idrc == 0 && strcmp(id, p.authserv_id) == 0);
	check_parsed(&p);
	buf_init(&b, 1024 * 1024);
	CHECK(rebuild(&p, &b) == 0);
	CHECK(authres_parse(b.data, b.len, &again) == 0);
	CHECK(again.dropped == 0 && same(&p, &again));
	buf_free(&b);
	return 0;
}
