/*
 * policy_proto_t.c - the policy request parser (policyd/policy_proto.c):
 * every limit crossed once, every malformed-line rule.
 */
#include <string.h>

#include "policy_proto.h"
#include "tap.h"

static enum policy_feed feed(struct policy_req *r, const char *line,
    const char **why)
{
	return policy_req_line(r, line, strlen(line), why);
}

int main(void)
{
	struct policy_limits lim;
	struct policy_req r;
	const char *why = NULL;
	char big[600];
	struct buf out;

	policy_limits_default(&lim);
	lim.attrs_max = 3;
	lim.line_max = 512;
	lim.request_max = 1024;
	policy_req_init(&r, &lim);
	is_int(feed(&r, "request=smtpd_access_policy", &why), POLICY_MORE,
	    "attribute line");
	is_int(feed(&r, "sender=a@example.com\r", &why), POLICY_MORE,
	    "trailing CR tolerated");
	is_int(feed(&r, "", &why), POLICY_DONE, "empty line ends request");
	is_str(policy_req_get(&r, "sender"), "a@example.com", "value");
	ok(policy_req_get(&r, "recipient") == NULL, "absent attribute");
	policy_req_reset(&r);

	is_int(feed(&r, "", &why), POLICY_BAD, "empty request is malformed");
	policy_req_reset(&r);
	is_int(feed(&r, "no equals", &why), POLICY_BAD, "line without =");
	is_str(why, "line without \"=\"", "reason");
	policy_req_reset(&r);
	is_int(feed(&r, "=x", &why), POLICY_BAD, "empty name");
	policy_req_reset(&r);
	is_int(feed(&r, "bad name=x", &why), POLICY_BAD, "space in name");
	policy_req_reset(&r);
	is_int(policy_req_line(&r, "a=b\0c", 5, &why), POLICY_BAD,
	    "NUL byte");
	policy_req_reset(&r);
	is_int(feed(&r, "a=b\rc", &why), POLICY_BAD, "bare CR inside");
	policy_req_reset(&r);
	feed(&r, "a=1", &why);
	is_int(feed(&r, "a=2", &why), POLICY_BAD, "duplicate attribute");
	policy_req_reset(&r);
	feed(&r, "a=1", &why);
	feed(&r, "b=1", &why);
	feed(&r, "c=1", &why);
	is_int(feed(&r, "d=1", &why), POLICY_BAD, "attribute limit crossed");
	is_str(why, "too many attributes", "reason");
	policy_req_reset(&r);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[0] = 'v';
	big[1] = '=';
	is_int(feed(&r, big, &why), POLICY_BAD, "line limit crossed");
	policy_req_reset(&r);
	big[500] = '\0';
	is_int(feed(&r, big, &why), POLICY_MORE, "500-byte line fits");
	big[0] = 'w';
	is_int(feed(&r, big, &why), POLICY_MORE, "second fits");
	big[0] = 'y';
	is_int(feed(&r, big, &why), POLICY_BAD, "request size crossed");
	is_str(why, "request too large", "reason");
	policy_req_free(&r);

	buf_init(&out, 100);
	policy_action_text(&out, "550 5.7.1 a\nb\rc");
	is_str(out.data, "550 5.7.1 a?b?c", "action text cannot end a line");
	buf_free(&out);
	return done_testing();
}
