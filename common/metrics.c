/*
 * metrics.c - Prometheus text exposition; see metrics.h.
 */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "listen.h"
#include "log.h"
#include "metrics.h"
#include "xalloc.h"

#define METRICS_MAX 64
#define COLLECTORS_MAX 8
#define HIST_BOUNDS_MAX 24

enum metric_kind { M_COUNTER, M_GAUGE, M_HISTOGRAM };

struct metric {
	struct metrics *m;
	enum metric_kind kind;
	char *name, *help, *label;
	char *values[METRIC_LABELS_MAX];	/* label values */
	double counts[METRIC_LABELS_MAX];
	size_t nvalues;
	double bounds[HIST_BOUNDS_MAX];
	unsigned long long buckets[HIST_BOUNDS_MAX + 1];
	size_t nbounds;
	double sum;
	unsigned long long count;
};

struct metrics {
	char *prefix;
	pthread_mutex_t lock;
	struct metric *v[METRICS_MAX];
	size_t n;
	struct {
		metrics_collect_fn *fn;
		void *arg;
	} coll[COLLECTORS_MAX];
	size_t ncoll;
	struct evhttp *http;
};

/* metrics_new - registry; names get "prefix_" in front */
struct metrics *metrics_new(const char *prefix)
{
	struct metrics *m = xcalloc(1, sizeof(*m));

	m->prefix = xstrdup(prefix);
	pthread_mutex_init(&m->lock, NULL);
	return m;
}

/* metrics_free - release; *mp = NULL */
void metrics_free(struct metrics **mp)
{
	struct metrics *m = *mp;

	*mp = NULL;
	if (m == NULL)
		return;
	if (m->http)
		evhttp_free(m->http);
	for (size_t i = 0; i < m->n; i++) {
		struct metric *c = m->v[i];

		for (size_t j = 0; j < c->nvalues; j++)
			free(c->values[j]);
		free(c->name);
		free(c->help);
		free(c->label);
		free(c);
	}
	pthread_mutex_destroy(&m->lock);
	free(m->prefix);
	free(m);
}

/* add - register a metric */
static struct metric *add(struct metrics *m, enum metric_kind kind,
    const char *name, const char *help, const char *label)
{
	struct metric *c = xcalloc(1, sizeof(*c));
	size_t n = strlen(m->prefix) + strlen(name) + 2;

	if (m->n == METRICS_MAX)
		log_panic("too many metrics");
	c->m = m;
	c->kind = kind;
	c->name = xmalloc(n);
	snprintf(c->name, n, "%s_%s", m->prefix, name);
	c->help = xstrdup(help);
	c->label = label ? xstrdup(label) : NULL;
	m->v[m->n++] = c;
	return c;
}

/* metrics_counter - counter, with one label (or NULL) */
struct metric *metrics_counter(struct metrics *m, const char *name,
    const char *help, const char *label)
{
	return add(m, M_COUNTER, name, help, label);
}

/* metrics_gauge - a value that goes up and down */
struct metric *metrics_gauge(struct metrics *m, const char *name,
    const char *help)
{
	return add(m, M_GAUGE, name, help, NULL);
}

/* metrics_histogram - cumulative buckets with upper bounds */
struct metric *metrics_histogram(struct metrics *m, const char *name,
    const char *help, const double *bounds, size_t nbounds)
{
	struct metric *h = add(m, M_HISTOGRAM, name, help, NULL);

	if (nbounds > HIST_BOUNDS_MAX)
		nbounds = HIST_BOUNDS_MAX;
	memcpy(h->bounds, bounds, nbounds * sizeof(*bounds));
	h->nbounds = nbounds;
	return h;
}

/* slot - index of the label value; new values up to the cap, then the
 * last slot is "other" */
static size_t slot(struct metric *c, const char *v)
{
	if (v == NULL)
		v = "";
	for (size_t i = 0; i < c->nvalues; i++)
		if (strcmp(c->values[i], v) == 0)
			return i;
	if (c->nvalues < METRIC_LABELS_MAX - 1) {
		c->values[c->nvalues] = xstrdup(v);
		return c->nvalues++;
	}
	if (c->nvalues == METRIC_LABELS_MAX - 1)
		c->values[c->nvalues++] = xstrdup("other");
	return METRIC_LABELS_MAX - 1;
}

/* metric_add - add v to the counter for label value */
void metric_add(struct metric *c, const char *label_value, double v)
{
	pthread_mutex_lock(&c->m->lock);
	c->counts[slot(c, label_value)] += v;
	pthread_mutex_unlock(&c->m->lock);
}

/* metric_inc - add one */
void metric_inc(struct metric *c, const char *label_value)
{
	metric_add(c, label_value, 1);
}

/* metric_set - gauge value */
void metric_set(struct metric *g, double v)
{
	pthread_mutex_lock(&g->m->lock);
	g->counts[slot(g, NULL)] = v;
	pthread_mutex_unlock(&g->m->lock);
}

/* metric_observe - one histogram sample */
void metric_observe(struct metric *h, double v)
{
	size_t i;

	pthread_mutex_lock(&h->m->lock);
	for (i = 0; i < h->nbounds && v > h->bounds[i]; i++)
		;
	h->buckets[i]++;
	h->sum += v;
	h->count++;
	pthread_mutex_unlock(&h->m->lock);
}

/* metrics_collector - a function adding lines at render time */
void metrics_collector(struct metrics *m, metrics_collect_fn *fn, void *arg)
{
	if (m->ncoll == COLLECTORS_MAX)
		log_panic("too many metrics collectors");
	m->coll[m->ncoll].fn = fn;
	m->coll[m->ncoll].arg = arg;
	m->ncoll++;
}

/* label_value - a label value escaped as the text format requires */
static void label_value(struct buf *out, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			buf_appendc(out, '\\');
		if (*v == '\n')
			buf_appends(out, "\\n");
		else
			buf_appendc(out, *v);
	}
}

/* metrics_render - the text exposition format */
void metrics_render(struct metrics *m, struct buf *out)
{
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->n; i++) {
		struct metric *c = m->v[i];
		const char *type = c->kind == M_COUNTER ? "counter" :
		    c->kind == M_GAUGE ? "gauge" : "histogram";

		buf_appendf(out, "# HELP %s %s\n# TYPE %s %s\n", c->name,
		    c->help, c->name, type);
		if (c->kind == M_HISTOGRAM) {
			unsigned long long cum = 0;

			for (size_t j = 0; j < c->nbounds; j++) {
				cum += c->buckets[j];
				buf_appendf(out, "%s_bucket{le=\"%g\"} %llu\n",
				    c->name, c->bounds[j], cum);
			}
			cum += c->buckets[c->nbounds];
			buf_appendf(out, "%s_bucket{le=\"+Inf\"} %llu\n"
			    "%s_sum %.6f\n%s_count %llu\n", c->name, cum,
			    c->name, c->sum, c->name, c->count);
			continue;
		}
		if (c->label == NULL) {
			buf_appendf(out, "%s %.17g\n", c->name,
			    c->nvalues ? c->counts[0] : 0.0);
			continue;
		}
		for (size_t j = 0; j < c->nvalues; j++) {
			buf_appendf(out, "%s{%s=\"", c->name, c->label);
			label_value(out, c->values[j]);
			buf_appendf(out, "\"} %.17g\n", c->counts[j]);
		}
	}
	pthread_mutex_unlock(&m->lock);
	for (size_t i = 0; i < m->ncoll; i++)
		m->coll[i].fn(out, m->coll[i].arg);
}

/* http_metrics - GET /metrics */
static void http_metrics(struct evhttp_request *req, void *arg)
{
	struct metrics *m = arg;
	struct evbuffer *eb;
	struct buf b;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		evhttp_send_error(req, 405, "only GET");
		return;
	}
	buf_init(&b, 1024 * 1024);
	metrics_render(m, &b);
	eb = evbuffer_new();
	evbuffer_add(eb, b.data, b.len);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain; version=0.0.4");
	evhttp_send_reply(req, 200, "OK", eb);
	evbuffer_free(eb);
	buf_free(&b);
}

/* http_other - everything else */
static void http_other(struct evhttp_request *req, void *arg)
{
	(void)arg;
	evhttp_send_error(req, 404, "see /metrics");
}

/* metrics_serve - HTTP endpoint on listen (inet: only) */
int metrics_serve(struct metrics *m, struct event_base *base,
    const char *listen, const char **err_r)
{
	struct listen_addr la;
	int fd;

	if (listen_parse(listen, &la, err_r) < 0)
		return -1;
	if (la.is_unix) {
		*err_r = "metrics_listen: only inet: addresses";
		return -1;
	}
	if ((fd = listen_open(&la, 64, 0, (gid_t)-1, err_r)) < 0)
		return -1;
	m->http = evhttp_new(base);
	evhttp_set_max_headers_size(m->http, 8192);
	evhttp_set_max_body_size(m->http, 1024);
	evhttp_set_timeout(m->http, 10);
	evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET);
	evhttp_set_cb(m->http, "/metrics", http_metrics, m);
	evhttp_set_gencb(m->http, http_other, m);
	if (evhttp_accept_socket(m->http, fd) < 0) {
		close(fd);
		*err_r = "metrics_listen: evhttp_accept_socket failed";
		return -1;
	}
	log_info("metrics on http://%s/metrics", la.desc + 5);
	return 0;
}
