/*
 * policy_verdict.h - map an engine verdict to a policy "action=".
 *
 * Public: policy_verdict_action.
 * Trust: verdict texts may hold peer data; the result is made safe for
 *        one action line by policy_reply (control bytes replaced).
 * Mapping: reject -> "CODE X.Y.Z text"; tempfail -> "DEFER_IF_PERMIT
 *        text" (if_permit) or "CODE X.Y.Z text"; a header to prepend ->
 *        "PREPEND Name: value"; everything else "DUNNO".  Postfix takes one
 *        action per reply, so only the first header is sent.
 */
#ifndef POSTERN_POLICY_VERDICT_H
#define POSTERN_POLICY_VERDICT_H

#include "buf.h"
#include "verdict.h"

void policy_verdict_action(const struct verdict *v, struct buf *out);
const char *policy_verdict_action_name(const struct verdict *v);

#endif
