/*
 * spf_async.h - run a native SPF check on an event loop: answers from
 *               the DNS cache are used at once, the rest are looked up
 *               in parallel through a dns_client, and the check ends
 *               within the engine's time budget (temperror after).
 *
 * Public: spf_async_start, spf_async_cancel.
 * Trust: see spf.h; this file only moves answers around.
 * Errors: the callback always gets an outcome (temperror on timeout).
 *         It runs from the event loop, never inside spf_async_start.
 */
#ifndef POSTERN_SPF_ASYNC_H
#define POSTERN_SPF_ASYNC_H

#include "dns.h"
#include "spfengine.h"

struct event_base;
struct spf_async;

/* the callback owns nothing: copy what it needs from *o */
typedef void spf_async_done(void *arg, const struct spf_outcome *o);

struct spf_async *spf_async_start(struct spf_engine *e,
    struct dns_client *dc, struct event_base *base,
    const struct spf_request *req, spf_async_done *cb, void *arg);
void spf_async_cancel(struct spf_async *a);

#endif
