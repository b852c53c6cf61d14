/*
 * spf_async.c - event-loop driver of the native SPF engine; see
 *               spf_async.h.
 */
#include <event2/event.h>
#include <stdlib.h>

#include "log.h"
#include "spf_async.h"
#include "xalloc.h"

struct slot {
	struct spf_async *a;
	char *name;
	uint16_t type;
	struct dns_lookup *l;
};

struct spf_async {
	struct spf_engine *e;
	struct dns_client *dc;
	struct spf_check *check;
	struct event *deadline, *deliver;
	struct slot *slots;
	size_t nslots, outstanding;
	spf_async_done *cb;
	void *arg;
};

static void step(struct spf_async *a);

/* free_slots - cancel outstanding lookups, free the slot array */
static void free_slots(struct spf_async *a)
{
	for (size_t i = 0; i < a->nslots; i++) {
		if (a->slots[i].l)
			dns_lookup_cancel(a->slots[i].l);
		free(a->slots[i].name);
	}
	XFREE(&a->slots);
	a->nslots = a->outstanding = 0;
}

/* async_free - release everything */
static void async_free(struct spf_async *a)
{
	free_slots(a);
	spf_check_free(&a->check);
	event_free(a->deadline);
	event_free(a->deliver);
	free(a);
}

/* deliver_cb - hand the outcome to the caller, then free */
static void deliver_cb(evutil_socket_t fd, short what, void *arg)
{
	struct spf_async *a = arg;
	struct spf_outcome o;

	(void)fd;
	(void)what;
	spf_outcome_from_check(a->check, &o);
	a->cb(a->arg, &o);
	spf_outcome_clear(&o);
	async_free(a);
}

/* finish - schedule delivery (never from inside the caller's call) */
static void finish(struct spf_async *a)
{
	struct timeval tv = { 0, 0 };

	free_slots(a);
	event_del(a->deadline);
	evtimer_add(a->deliver, &tv);
}

/* on_answer - one lookup done */
static void on_answer(void *arg, struct dns_answer *ans)
{
	struct slot *s = arg;
	struct spf_async *a = s->a;

	s->l = NULL;
	spf_check_answer(a->check, s->name, s->type, ans);
	if (--a->outstanding == 0) {
		free_slots(a);
		step(a);
	}
}

/* on_deadline - the time budget is spent */
static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct spf_async *a = arg;

	(void)fd;
	(void)what;
	spf_check_abort(a->check, SPF_TEMPERROR, "SPF time budget exceeded");
	finish(a);
}

/* step - one pass; if it needs DNS, look up its questions in parallel */
static void step(struct spf_async *a)
{
	const struct dns_question *q;
	size_t n;

	/* the check reads the DNS cache itself (spf_check_set_cache), so
	 * what it still asks for are misses: look them all up at once */
	if (spf_check_run(a->check) == SPF_RUN_DONE) {
		finish(a);
		return;
	}
	n = spf_check_questions(a->check, &q);
	a->slots = xcalloc(n, sizeof(*a->slots));
	for (size_t i = 0; i < n; i++) {
		a->slots[i].a = a;
		a->slots[i].name = xstrdup(q[i].name);
		a->slots[i].type = q[i].type;
	}
	a->nslots = a->outstanding = n;
	for (size_t i = 0; i < n; i++)
		a->slots[i].l = dns_client_lookup(a->dc, a->slots[i].name,
		    a->slots[i].type, on_answer, &a->slots[i]);
}

/* cache_get - the shared DNS cache as the check's synchronous source */
static struct dns_answer *cache_get(void *arg, const char *name,
    uint16_t type)
{
	return dns_cache_get(arg, name, type);
}

/* spf_async_start - begin a check; cb runs later with the outcome */
struct spf_async *spf_async_start(struct spf_engine *e,
    struct dns_client *dc, struct event_base *base,
    const struct spf_request *req, spf_async_done *cb, void *arg)
{
	struct spf_async *a = xcalloc(1, sizeof(*a));
	unsigned ms = spf_engine_budget_ms(e);
	struct timeval tv = { (time_t)(ms / 1000),
	    (suseconds_t)((ms % 1000) * 1000) };

	a->e = e;
	a->dc = dc;
	a->cb = cb;
	a->arg = arg;
	a->check = spf_check_new(req, spf_engine_limits(e));
	spf_check_set_cache(a->check, cache_get, spf_engine_resolver(e));
	a->deadline = evtimer_new(base, on_deadline, a);
	a->deliver = evtimer_new(base, deliver_cb, a);
	evtimer_add(a->deadline, &tv);
	step(a);
	return a;
}

/* spf_async_cancel - forget the check; the callback will not run */
void spf_async_cancel(struct spf_async *a)
{
	if (a)
		async_free(a);
}
