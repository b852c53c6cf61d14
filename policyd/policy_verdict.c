/*
 * policy_verdict.c - verdict to policy action; see policy_verdict.h.
 */
#include "log.h"
#include "policy_verdict.h"

static int verdict_action_text(const struct verdict *v, struct buf *out);

/* policy_verdict_action - the action text (without "action="); "DUNNO"
 * if it cannot be formatted (never an empty action) */
void policy_verdict_action(const struct verdict *v, struct buf *out)
{
	if (verdict_action_text(v, out) < 0) {
		log_error("policy action does not fit its buffer: DUNNO");
		buf_reset(out);
		buf_appends(out, "DUNNO");
	}
}

/* verdict_action_text - the mapping; -1 when out is too small */
static int verdict_action_text(const struct verdict *v, struct buf *out)
{
	buf_reset(out);
	switch (v->disp) {
	case VERDICT_REJECT:
	case VERDICT_TEMPFAIL:
		if (v->disp == VERDICT_TEMPFAIL && v->if_permit)
			/* Postfix takes an enhanced code leading the text */
			return buf_appendf(out, "DEFER_IF_PERMIT %s%s%s",
			    v->ecode, v->ecode[0] ? " " : "",
			    v->text ? v->text : "Service unavailable");
		return buf_appendf(out, "%d%s%s %s", v->code ? v->code :
		    v->disp == VERDICT_REJECT ? 550 : 451,
		    v->ecode[0] ? " " : "", v->ecode, v->text ? v->text :
		    v->disp == VERDICT_REJECT ? "Rejected" : "Try again later");
	case VERDICT_DISCARD:
		return buf_appendf(out, "DISCARD %s", v->text ? v->text : "");
	case VERDICT_QUARANTINE:
		return buf_appendf(out, "HOLD %s", v->text ? v->text : "");
	case VERDICT_ACCEPT:
	case VERDICT_CONTINUE:
		break;
	}
	if (v->nprepend) {
		if (v->nprepend > 1)
			log_warn("policy protocol carries one header; %zu "
			    "dropped", v->nprepend - 1);
		return buf_appendf(out, "PREPEND %s: %s", v->prepend[0].name,
		    v->prepend[0].value);
	}
	return buf_appends(out, "DUNNO");
}

/* policy_verdict_action_name - short name for logs and metrics */
const char *policy_verdict_action_name(const struct verdict *v)
{
	switch (v->disp) {
	case VERDICT_REJECT: return "reject";
	case VERDICT_TEMPFAIL: return v->if_permit ? "defer_if_permit" :
	    "defer";
	case VERDICT_DISCARD: return "discard";
	case VERDICT_QUARANTINE: return "hold";
	default: return v->nprepend ? "prepend" : "dunno";
	}
}
