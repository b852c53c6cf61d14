/*
 * verdict.c - decisions; see verdict.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "verdict.h"
#include "xalloc.h"

/* verdict_init - "continue", no reply, no headers */
void verdict_init(struct verdict *v)
{
	memset(v, 0, sizeof(*v));
	v->disp = VERDICT_CONTINUE;
	buf_init(&v->log, VERDICT_LOG_MAX);
}

/* verdict_free - release texts and headers */
void verdict_free(struct verdict *v)
{
	XFREE(&v->text);
	for (size_t i = 0; i < v->nprepend; i++) {
		free(v->prepend[i].name);
		free(v->prepend[i].value);
	}
	v->nprepend = 0;
	buf_free(&v->log);
}

/* vtext - format into a bounded string, cut visibly */
static char *vtext(size_t max, const char *fmt, va_list ap)
{
	struct buf b;

	buf_init(&b, max);
	if (buf_vappendf(&b, fmt, ap) < 0) {
		/* over the limit: format unbounded, then cut with "..." */
		va_list aq;
		char *big;
		int n;

		va_copy(aq, ap);
		n = vsnprintf(NULL, 0, fmt, aq);
		va_end(aq);
		big = xmalloc((size_t)(n > 0 ? n : 0) + 1);
		vsnprintf(big, (size_t)(n > 0 ? n : 0) + 1, fmt, ap);
		buf_append(&b, big, max - 3);
		buf_appends(&b, "...");
		free(big);
	}
	return buf_steal(&b);
}

/* verdict_set - disposition and reply */
void verdict_set(struct verdict *v, enum verdict_disp disp, int code,
    const char *ecode, const char *fmt, ...)
{
	va_list ap;

	v->disp = disp;
	v->code = code;
	snprintf(v->ecode, sizeof(v->ecode), "%s", ecode ? ecode : "");
	XFREE(&v->text);
	if (fmt) {
		va_start(ap, fmt);
		v->text = vtext(VERDICT_TEXT_MAX, fmt, ap);
		va_end(ap);
	}
}

/* verdict_prepend - add a header to prepend; -1 if too many */
int verdict_prepend(struct verdict *v, const char *name, const char *fmt,
    ...)
{
	va_list ap;

	if (v->nprepend == VERDICT_HEADERS_MAX)
		return -1;
	v->prepend[v->nprepend].name = xstrdup(name);
	va_start(ap, fmt);
	v->prepend[v->nprepend].value = vtext(VERDICT_HEADER_MAX -
	    strlen(name) - 2, fmt, ap);
	va_end(ap);
	v->nprepend++;
	return 0;
}

/* verdict_logf - append " key=value" to the decision's log line */
void verdict_logf(struct verdict *v, const char *key, const char *fmt, ...)
{
	va_list ap;
	size_t mark = v->log.len;

	if (buf_appendf(&v->log, " %s=", key) < 0)
		return;
	va_start(ap, fmt);
	if (buf_vappendf(&v->log, fmt, ap) < 0)
		buf_truncate(&v->log, mark);
	va_end(ap);
}

/* verdict_log_peer - " key=value" with a peer string sanitized */
void verdict_log_peer(struct verdict *v, const char *key, const char *s)
{
	char san[LOG_SAN_SIZE];

	verdict_logf(v, key, "%s", log_sanitize(san, s, s ? strlen(s) : 0));
}

/* verdict_disp_name - for logs and metrics */
const char *verdict_disp_name(enum verdict_disp d)
{
	switch (d) {
	case VERDICT_CONTINUE: return "continue";
	case VERDICT_ACCEPT: return "accept";
	case VERDICT_REJECT: return "reject";
	case VERDICT_TEMPFAIL: return "tempfail";
	case VERDICT_DISCARD: return "discard";
	case VERDICT_QUARANTINE: return "quarantine";
	}
	return "?";
}

/* verdict_log_quoted - " key=\"value\"" with quotes and backslashes
 * escaped and the value cut like any peer string */
void verdict_log_quoted(struct verdict *v, const char *key, const char *s)
{
	char san[LOG_SAN_SIZE];
	struct buf q;

	log_sanitize(san, s, s ? strlen(s) : 0);
	buf_init(&q, sizeof(san) * 2 + 2);
	buf_appendc(&q, '"');
	for (const char *p = san; *p; p++) {
		if (*p == '"' || *p == '\\')
			buf_appendc(&q, '\\');
		buf_appendc(&q, *p);
	}
	buf_appendc(&q, '"');
	verdict_logf(v, key, "%s", q.data);
	buf_free(&q);
}
