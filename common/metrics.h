/*
 * metrics.h - counters and histograms, served in the Prometheus text
 *             format on metrics_listen (HTTP GET /metrics).
 *
 * Public: metrics_new, metrics_free, metrics_counter, metrics_histogram,
 *         metric_inc, metric_add, metric_observe, metrics_collector,
 *         metrics_render, metrics_serve.
 * Trust: the HTTP endpoint may be reached by anyone who can connect to
 *        it; libevent's evhttp parses requests with bounded headers and
 *        body, and only GET /metrics is answered.  Bind it to loopback.
 * Errors: metrics_serve returns -1 with *err_r.
 * Threads: updates and rendering take a mutex; cheap and safe from
 *          milter threads.
 */
#ifndef POSTERN_METRICS_H
#define POSTERN_METRICS_H

#include <stddef.h>

#include "buf.h"

struct event_base;
struct metrics;
struct metric;

#define METRIC_LABELS_MAX 32	/* distinct label values per metric */

typedef void metrics_collect_fn(struct buf *out, void *arg);

struct metrics *metrics_new(const char *prefix);
void metrics_free(struct metrics **mp);
struct metric *metrics_counter(struct metrics *m, const char *name,
    const char *help, const char *label);
struct metric *metrics_gauge(struct metrics *m, const char *name,
    const char *help);
struct metric *metrics_histogram(struct metrics *m, const char *name,
    const char *help, const double *bounds, size_t nbounds);
void metric_inc(struct metric *c, const char *label_value);
void metric_add(struct metric *c, const char *label_value, double v);
void metric_set(struct metric *g, double v);
void metric_observe(struct metric *h, double v);
void metrics_collector(struct metrics *m, metrics_collect_fn *fn, void *arg);
void metrics_render(struct metrics *m, struct buf *out);
int metrics_serve(struct metrics *m, struct event_base *base,
    const char *listen, const char **err_r);

#endif
