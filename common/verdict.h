/*
 * verdict.h - the one decision type every engine returns.
 *
 * Public: verdict_init, verdict_free, verdict_set, verdict_prepend,
 *         verdict_logf, verdict_disp_name.
 * Trust: engines fill it; texts may embed peer data, so adapters pass
 *        them through their protocol's sanitizer (policy_action_text,
 *        smfi_setreply...).  Every text is bounded (VERDICT_TEXT_MAX).
 * Errors: none; an over-long text is cut with a visible "...".
 *
 * Adapters map it: policy protocol "action=550 5.7.23 text",
 * "DEFER_IF_PERMIT text", "PREPEND header", "DUNNO"; milters
 * SMFIS_REJECT + smfi_setreply, smfi_insheader...; the MTA an SMTP reply.
 */
#ifndef POSTERN_VERDICT_H
#define POSTERN_VERDICT_H

#include <stddef.h>

#include "buf.h"

enum verdict_disp {
	VERDICT_CONTINUE,	/* no objection: next check decides */
	VERDICT_ACCEPT,		/* accept, skip the remaining checks */
	VERDICT_REJECT,		/* 5xx */
	VERDICT_TEMPFAIL,	/* 4xx */
	VERDICT_DISCARD,	/* accept and drop */
	VERDICT_QUARANTINE,	/* accept and hold */
};

#define VERDICT_TEXT_MAX	400	/* reply text, well under 512 */
#define VERDICT_HEADER_MAX	2048	/* one header field, name + value */
#define VERDICT_HEADERS_MAX	8
#define VERDICT_LOG_MAX		2048

struct verdict_header {
	char *name;
	char *value;		/* unfolded; adapters fold if needed */
};

struct verdict {
	enum verdict_disp disp;
	int if_permit;		/* TEMPFAIL only if a later check permits
				   (Postfix DEFER_IF_PERMIT) */
	int code;		/* 550, 451...; 0 = adapter default */
	char ecode[12];		/* enhanced status "5.7.23", or "" */
	char *text;		/* reply text, or NULL */
	struct verdict_header prepend[VERDICT_HEADERS_MAX];
	size_t nprepend;
	struct buf log;		/* " key=value key=value" */
};

void verdict_init(struct verdict *v);
void verdict_free(struct verdict *v);
void verdict_set(struct verdict *v, enum verdict_disp disp, int code,
    const char *ecode, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
int verdict_prepend(struct verdict *v, const char *name, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));
void verdict_logf(struct verdict *v, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void verdict_log_peer(struct verdict *v, const char *key, const char *s);
void verdict_log_quoted(struct verdict *v, const char *key, const char *s);
const char *verdict_disp_name(enum verdict_disp d);

#endif
