/*
 * workq.h - a small thread pool for blocking work (libspf2 checks), with
 *           completions delivered back on the submitter's event loop.
 *
 * Public: workq_new, workq_submit, workq_free.
 * Trust: only our own code submits.  Errors: out of threads is fatal at
 *        start (workq_new); submit never fails.
 * Threads: work() runs on a pool thread; done() runs later on the event
 *          loop of the base given to workq_submit (libevent must be set up
 *          with evthread_use_pthreads, as daemon.c does).
 */
#ifndef POSTERN_WORKQ_H
#define POSTERN_WORKQ_H

#include <stddef.h>

struct event_base;
struct workq;

typedef void workq_fn(void *arg);

struct workq *workq_new(size_t nthreads);
void workq_submit(struct workq *q, struct event_base *base, workq_fn *work,
    workq_fn *done, void *arg);
void workq_free(struct workq **qp);

#endif
