/*
 * workq.c - thread pool; see workq.h.
 *
 * Jobs wait in a FIFO; each pool thread takes one, runs work(), and hands
 * done() to the job's event base with event_base_once (thread-safe once
 * libevent locking is on).  workq_free lets running jobs finish, drops
 * queued ones (their done() never runs: the daemon is exiting) and joins.
 */
#include <event2/event.h>
#include <pthread.h>
#include <stdlib.h>

#include "log.h"
#include "workq.h"
#include "xalloc.h"

struct job {
	struct event_base *base;
	workq_fn *work, *done;
	void *arg;
	struct job *next;
};

struct workq {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct job *head, *tail;
	int stopping;
	pthread_t *threads;
	size_t nthreads;
};

/* deliver - done() on the submitter's loop */
static void deliver(evutil_socket_t fd, short what, void *arg)
{
	struct job *j = arg;

	(void)fd;
	(void)what;
	j->done(j->arg);
	free(j);
}

/* worker - take jobs until stopped */
static void *worker(void *arg)
{
	struct workq *q = arg;

	for (;;) {
		struct job *j;
		struct timeval now = { 0, 0 };

		pthread_mutex_lock(&q->lock);
		while (q->head == NULL && !q->stopping)
			pthread_cond_wait(&q->cond, &q->lock);
		if (q->stopping) {
			pthread_mutex_unlock(&q->lock);
			return NULL;
		}
		j = q->head;
		q->head = j->next;
		if (q->head == NULL)
			q->tail = NULL;
		pthread_mutex_unlock(&q->lock);
		j->work(j->arg);
		if (event_base_once(j->base, -1, EV_TIMEOUT, deliver, j,
		    &now) < 0)
			log_panic("workq: cannot schedule a completion");
	}
}

/* workq_new - a pool of nthreads threads */
struct workq *workq_new(size_t nthreads)
{
	struct workq *q = xcalloc(1, sizeof(*q));

	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->cond, NULL);
	q->threads = xcalloc(nthreads ? nthreads : 1, sizeof(pthread_t));
	for (size_t i = 0; i < nthreads; i++) {
		if (pthread_create(&q->threads[i], NULL, worker, q) != 0)
			log_fatal("workq: cannot start a thread");
		q->nthreads++;
	}
	return q;
}

/* workq_submit - run work(arg) on the pool, then done(arg) on base */
void workq_submit(struct workq *q, struct event_base *base, workq_fn *work,
    workq_fn *done, void *arg)
{
	struct job *j = xcalloc(1, sizeof(*j));

	j->base = base;
	j->work = work;
	j->done = done;
	j->arg = arg;
	pthread_mutex_lock(&q->lock);
	if (q->tail)
		q->tail->next = j;
	else
		q->head = j;
	q->tail = j;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

/* workq_free - finish running jobs, drop queued ones, join; *qp = NULL */
void workq_free(struct workq **qp)
{
	struct workq *q = *qp;

	*qp = NULL;
	if (q == NULL)
		return;
	pthread_mutex_lock(&q->lock);
	q->stopping = 1;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
	for (size_t i = 0; i < q->nthreads; i++)
		pthread_join(q->threads[i], NULL);
	while (q->head) {
		struct job *j = q->head;

		q->head = j->next;
		free(j);
	}
	free(q->threads);
	pthread_cond_destroy(&q->cond);
	pthread_mutex_destroy(&q->lock);
	free(q);
}
