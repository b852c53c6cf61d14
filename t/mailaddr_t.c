/*
 * mailaddr_t.c - the From: mailbox parser (common/mailaddr.c), hostile
 * values included.
 */
#include <string.h>

#include "mailaddr.h"
#include "tap.h"

/* from - "status addr" for value v, e.g. "ok a@b.example" */
static const char *from(const char *v, size_t len, char *out, size_t outlen)
{
	struct mailaddr m;
	const char *why;
	enum mailaddr_status st = mailaddr_from(v, len, &m, &why);

	if (st == MAILADDR_OK)
		snprintf(out, outlen, "ok %s %s", m.addr, m.domain);
	else
		snprintf(out, outlen, "%s", mailaddr_status_name(st));
	return out;
}

#define FROM(v) from((v), strlen(v), got, sizeof(got))

int main(void)
{
	char got[1200], big[3000];
	static const char nul_in[] = "a@b.example\0, c@d.example";

	is_str(FROM(" user@example.com"), "ok user@example.com example.com",
	    "bare addr-spec");
	is_str(FROM(" John Doe <john@Example.COM>"),
	    "ok john@example.com example.com", "name-addr, domain lower case");
	is_str(FROM(" \"Doe, John\" <john@example.com>"),
	    "ok john@example.com example.com", "comma inside a quoted name");
	is_str(FROM(" \"a <x@evil.example>\" <john@example.com>"),
	    "ok john@example.com example.com", "angle inside a quoted name");
	is_str(FROM(" john@example.com (John (the) Doe)"),
	    "ok john@example.com example.com", "nested comment after");
	is_str(FROM(" (c@evil.example) john@example.com"),
	    "ok john@example.com example.com", "address inside a comment");
	is_str(FROM(" =?utf-8?B?Sm9obg==?= <john@example.com>"),
	    "ok john@example.com example.com", "encoded-word display name");
	is_str(FROM(" John\r\n\t<john@example.com>"),
	    "ok john@example.com example.com", "folded");
	is_str(FROM(" \"john@x\"@example.com"),
	    "ok \"john@x\"@example.com example.com", "quoted local part with @");
	is_str(FROM(" john@example.com."), "ok john@example.com example.com",
	    "final dot dropped");
	is_str(FROM(" <john@sub.example.co.uk>"),
	    "ok john@sub.example.co.uk sub.example.co.uk", "angle only");
	is_str(FROM(" a@b.example, c@d.example"), "multiple",
	    "two mailboxes");
	is_str(FROM(" A <a@b.example>, C <c@d.example>"), "multiple",
	    "two name-addrs");
	is_str(FROM(" Friends: a@b.example, c@d.example;"), "multiple",
	    "group of two");
	is_str(FROM(" Friends: a@b.example;"), "multiple", "group of one");
	is_str(FROM(" undisclosed-recipients:;"), "none", "empty group");
	is_str(FROM(""), "none", "empty value");
	is_str(FROM("   "), "none", "blank value");
	is_str(FROM(" (only a comment)"), "none", "only a comment");
	is_str(FROM(" <>"), "none", "null address");
	is_str(FROM(" John Doe"), "syntax", "name, no address");
	is_str(FROM(" john"), "syntax", "local part only");
	is_str(FROM(" @example.com"), "syntax", "no local part");
	is_str(FROM(" john@[192.0.2.1]"), "syntax", "domain literal");
	is_str(FROM(" john@exa mple.com"), "syntax", "space in domain");
	is_str(FROM(" john@example"), "syntax", "single-label domain");
	is_str(FROM(" john@ex..ample.com"), "syntax", "empty label");
	is_str(FROM(" john@b\xc3\xbc" "cher.example"), "syntax",
	    "UTF-8 domain refused (needs IDNA)");
	is_str(FROM(" <john@example.com"), "syntax", "unterminated angle");
	is_str(FROM(" john@example.com>"), "syntax", "stray '>'");
	is_str(FROM(" <a@b.example> <c@d.example>"), "syntax",
	    "two angle addresses");
	is_str(FROM(" <a@b.example> trailing"), "syntax",
	    "text after the angle address");
	is_str(FROM(" <@route.example:john@example.com>"), "syntax",
	    "obsolete route refused");
	is_str(FROM(" \"unterminated <a@b.example>"), "syntax",
	    "unterminated quote");
	is_str(FROM(" (unterminated a@b.example"), "syntax",
	    "unterminated comment");
	is_str(FROM(" ((((((((((deep)))))))))) a@b.example"), "syntax",
	    "comments nested too deep");
	is_str(FROM(" (((((((ok))))))) a@b.example"),
	    "ok a@b.example b.example", "comments nested to the limit");
	is_str(from(nul_in, sizeof(nul_in) - 1, got, sizeof(got)), "syntax",
	    "embedded NUL");
	is_str(FROM(" a@b.example; c@d.example"), "syntax",
	    "semicolon without a group");
	is_str(FROM(" G: a@b.example; x"), "syntax", "text after a group");
	is_str(FROM(" \\\"x <a@b.example>"), "syntax",
	    "backslash does not escape outside quotes");

	/* bounds */
	memset(big, 'a', sizeof(big));
	memcpy(big + 2000, "@example.com", 13);
	is_str(from(big, 2012, got, sizeof(got)), "syntax",
	    "address over MAILADDR_MAX");
	memset(big, 'a', 400);
	memcpy(big + 400, "@", 1);
	for (int i = 0; i < 5; i++)
		memcpy(big + 401 + i * 20, "bbbbbbbbbbbbbbbbbbb.", 20);
	memcpy(big + 501, "example", 8);
	is_int(strlen(big), 508, "508-byte address built");
	ok(strncmp(from(big, strlen(big), got, sizeof(got)), "ok ", 3) == 0,
	    "508-byte address accepted");
	memset(big, 'x', 64);
	memcpy(big, "a@", 2);
	memcpy(big + 64, "xx.example", 11);
	is_str(from(big, strlen(big), got, sizeof(got)), "syntax",
	    "64-byte label refused");
	memset(big, '(', 2000);
	is_str(from(big, 2000, got, sizeof(got)), "syntax",
	    "2000 open parentheses");
	memset(big, ',', 2000);
	is_str(from(big, 2000, got, sizeof(got)), "multiple", "2000 commas");
	return done_testing();
}
