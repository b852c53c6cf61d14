/*
 * authres_t.c - header value quoting and parsing (common/authres.c):
 * the builder, authres_authserv_id, and authres_parse on the forms our
 * daemons, OpenDKIM, OpenDMARC, Gmail and Microsoft write, and on
 * hostile values crossing every bound.
 */
#include <stdlib.h>
#include <string.h>

#include "authres.h"
#include "tap.h"

/* id_of - authres_authserv_id on a C string; "-" when it fails */
static const char *id_of(const char *v, char *out, size_t outlen)
{
	if (authres_authserv_id(v, strlen(v), out, outlen) < 0)
		return "-";
	return out;
}

/* authserv_id_tests - inbound Authentication-Results values, hostile
 * ones included */
static void authserv_id_tests(void)
{
	char id[AUTHRES_ID_MAX], small[8], big[600];
	static const char nul_in[] = " mx.example.net\0; dkim=pass";

	is_str(id_of(" mx.example.net; dkim=pass", id, sizeof(id)),
	    "mx.example.net", "plain authserv-id");
	is_str(id_of("mx.example.net;spf=pass", id, sizeof(id)),
	    "mx.example.net", "no space after the colon");
	is_str(id_of(" mx.example.net 1; none", id, sizeof(id)),
	    "mx.example.net", "version after the id");
	is_str(id_of(" (comment (nested) \\) x) mx.example.net; none", id,
	    sizeof(id)), "mx.example.net", "nested comment before the id");
	is_str(id_of("\r\n\t mx.example.net(c); none", id, sizeof(id)),
	    "mx.example.net", "folded, comment right after the id");
	is_str(id_of(" \"mx.ex\\\"ample\"; none", id, sizeof(id)),
	    "mx.ex\"ample", "quoted-string with an escape");
	is_str(id_of(" \"unterminated; none", id, sizeof(id)), "-",
	    "unterminated quoted-string refused");
	is_str(id_of(" (never closed mx.example.net; none", id, sizeof(id)),
	    "-", "unterminated comment refused");
	is_str(id_of("  ; dkim=pass", id, sizeof(id)), "-", "empty id refused");
	is_str(id_of("", id, sizeof(id)), "-", "empty value refused");
	is_str(id_of(" (((((((((((deep))))))))))) mx; none", id, sizeof(id)),
	    "-", "comments nested too deep refused");
	is_str(id_of(" mx.example.net\x01; none", id, sizeof(id)), "-",
	    "control byte refused");
	is_str(id_of(" mx.example.net; none", small, sizeof(small)), "-",
	    "id longer than the output refused, not cut");
	is_int(authres_authserv_id(nul_in, sizeof(nul_in) - 1, id, sizeof(id)),
	    -1, "embedded NUL refused (length-bounded input)");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	is_str(id_of(big, id, sizeof(id)), "-", "600-byte id refused");
	is_int(authres_claims(" MX.Example.NET; dkim=pass", 26,
	    "mx.example.net"), 1, "claims: case-insensitive match");
	is_int(authres_claims(" mx.example.net.evil; dkim=pass", 31,
	    "mx.example.net"), 0, "claims: a longer id is another id");
	is_int(authres_claims(" evil mx.example.net; dkim=pass", 31,
	    "mx.example.net"), 0, "claims: only the first token counts");
	is_int(authres_claims(" (mx.example.net) other; dkim=pass", 34,
	    "mx.example.net"), 0, "claims: a comment is not the id");
}


/* dump - authres_parse on v[len] as one line: "id; method[/v]=result
 * [reason=[..]] ptype.prop=[value]... [!props dropped]; ... {dropped N}",
 * or "-" when it returns -1 */
static const char *dump(const char *v, size_t len)
{
	static struct authres_parsed p;
	static struct buf b;

	if (b.data == NULL)
		buf_init(&b, 1024 * 1024);
	buf_reset(&b);
	if (authres_parse(v, len, &p) < 0)
		return "-";
	buf_appends(&b, p.authserv_id);
	for (size_t k = 0; k < p.nres; k++) {
		const struct authres_res *r = &p.res[k];

		buf_appendf(&b, "; %s", r->method);
		if (r->version != 1)
			buf_appendf(&b, "/%d", r->version);
		buf_appendf(&b, "=%s", r->result);
		if (r->reason[0])
			buf_appendf(&b, " reason=[%s]", r->reason);
		for (size_t j = 0; j < r->nprops; j++)
			buf_appendf(&b, " %s%s%s=[%s]", r->props[j].ptype,
			    r->props[j].ptype[0] ? "." : "", r->props[j].prop,
			    r->props[j].value);
		if (r->props_dropped)
			buf_appendf(&b, " !%zu", r->props_dropped);
	}
	if (p.dropped)
		buf_appendf(&b, " {dropped %zu}", p.dropped);
	return b.data;
}

/* d - dump of a C string */
static const char *d(const char *v)
{
	return dump(v, strlen(v));
}

/* parse_ours - what our own daemons write */
static void parse_ours(void)
{
	struct buf b;

	is_str(d(" mx.example.net; spf=pass smtp.mailfrom=user@example.com"),
	    "mx.example.net; spf=pass smtp.mailfrom=[user@example.com]",
	    "postern-spfd");
	is_str(d(" mx.example.net; spf=softfail (mx.example.net: domain of "
	    "transitioning user@example.com does not designate 192.0.2.1 as "
	    "permitted sender) smtp.mailfrom=user@example.com"),
	    "mx.example.net; spf=softfail smtp.mailfrom=[user@example.com]",
	    "postern-spfd with its comment");
	is_str(d(" mx.example.net; dkim=pass (2048-bit rsa key) "
	    "header.d=example.com header.i=@example.com header.s=sel "
	    "header.b=AbCd1234; dkim=fail reason=\"signature did not "
	    "verify\" header.d=example.org header.s=s2 header.b=Zz+/9a=="),
	    "mx.example.net; dkim=pass header.d=[example.com] "
	    "header.i=[@example.com] header.s=[sel] header.b=[AbCd1234]; "
	    "dkim=fail reason=[signature did not verify] "
	    "header.d=[example.org] header.s=[s2] header.b=[Zz+/9a==]",
	    "postern-dkim, two signatures");
	is_str(d(" mx.example.net; dkim=none"), "mx.example.net; dkim=none",
	    "postern-dkim, no signature");

	/* the builder's quoting of hostile values reads back the same */
	buf_init(&b, 4096);
	authres_begin(&b, "mx \"example\".net");
	authres_method(&b, "spf", "fail", "a \"b\"; c=d (e)");
	authres_prop_addr(&b, "smtp.mailfrom", "we ird;x=y@example.com");
	authres_prop(&b, "smtp.helo", "h\\e(l)o");
	authres_none(&b);
	is_str(dump(b.data, b.len), "mx \"example\".net; spf=fail "
	    "reason=[a \"b\"; c=d (e)] smtp.mailfrom=[we ird;x=y@example.com] "
	    "smtp.helo=[h\\e(l)o]", "builder output parses back");
	buf_free(&b);
}

/* parse_others - other MTAs and RFC 8601's own examples */
static void parse_others(void)
{
	struct authres_parsed p;

	is_str(d(" mx.google.com;\r\n       dkim=pass header.i=@example.com "
	    "header.s=20230601 header.b=AbCdEfGh;\r\n       arc=pass (i=1 "
	    "spf=pass spfdomain=example.com dkim=pass dkdomain=example.com "
	    "dmarc=pass fromdomain=example.com);\r\n       spf=pass "
	    "(google.com: domain of user@example.com designates 209.85.220.41 "
	    "as permitted sender) smtp.mailfrom=user@example.com;\r\n"
	    "       dmarc=pass (p=NONE sp=NONE dis=NONE) header.from=example.com"),
	    "mx.google.com; dkim=pass header.i=[@example.com] "
	    "header.s=[20230601] header.b=[AbCdEfGh]; arc=pass; spf=pass "
	    "smtp.mailfrom=[user@example.com]; dmarc=pass "
	    "header.from=[example.com]", "Gmail");
	/* Microsoft's inbound header carries no authserv-id at all */
	is_str(d("spf=pass (sender IP is 40.107.22.51) "
	    "smtp.mailfrom=example.com; dkim=pass (signature was verified) "
	    "header.d=example.com;dmarc=pass action=none "
	    "header.from=example.com;compauth=pass reason=100"), "-",
	    "Microsoft, no authserv-id: refused");
	is_str(d(" mx.microsoft.com 1; spf=pass (sender IP is 40.107.22.51) "
	    "smtp.mailfrom=example.com; dkim=pass (signature was verified) "
	    "header.d=example.com;dmarc=pass action=none "
	    "header.from=example.com;compauth=pass reason=100"),
	    "mx.microsoft.com; spf=pass smtp.mailfrom=[example.com]; dkim=pass "
	    "header.d=[example.com]; dmarc=pass action=[none] "
	    "header.from=[example.com]; compauth=pass reason=[100]",
	    "Microsoft with an id and version: bare action=, reason=");
	is_str(d(" mx.example.net;\r\n\tdkim=pass (2048-bit key; unprotected) "
	    "header.d=example.com header.i=@example.com header.a=rsa-sha256 "
	    "header.s=default header.b=AbCd1234;\r\n\tdkim-atps=neutral"),
	    "mx.example.net; dkim=pass header.d=[example.com] "
	    "header.i=[@example.com] header.a=[rsa-sha256] header.s=[default] "
	    "header.b=[AbCd1234]; dkim-atps=neutral", "OpenDKIM");
	is_str(d(" mx.example.net; dkim=pass\r\n\treason=\"1024-bit key; "
	    "insecure key\"\r\n\theader.d=example.com header.i=@example.com "
	    "header.b=\"AbCd/+12\""),
	    "mx.example.net; dkim=pass reason=[1024-bit key; insecure key] "
	    "header.d=[example.com] header.i=[@example.com] "
	    "header.b=[AbCd/+12]", "older OpenDKIM: quoted reason and b=");
	is_str(d(" mx.example.net; dmarc=fail (p=reject dis=none) "
	    "header.from=example.com"),
	    "mx.example.net; dmarc=fail header.from=[example.com]",
	    "OpenDMARC dmarc");
	is_str(d(" mx.example.net; spf=pass smtp.mailfrom=example.com; "
	    "arc=none smtp.remote-ip=192.0.2.1"),
	    "mx.example.net; spf=pass smtp.mailfrom=[example.com]; arc=none "
	    "smtp.remote-ip=[192.0.2.1]", "OpenDMARC spf and arc");
	is_str(d(" example.com;\r\n          auth=pass (cram-md5) "
	    "smtp.auth=sender@example.net;\r\n          spf=pass "
	    "smtp.mailfrom=example.net"),
	    "example.com; auth=pass smtp.auth=[sender@example.net]; spf=pass "
	    "smtp.mailfrom=[example.net]", "RFC 8601 B.4");
	is_str(d(" example.com; iprev=pass\r\n          "
	    "policy.iprev=192.0.2.200"),
	    "example.com; iprev=pass policy.iprev=[192.0.2.200]",
	    "RFC 8601 B.5: policy ptype");
	is_str(d(" example.com;\r\n          sender-id=fail "
	    "header.from=example.com;\r\n          dkim=pass (good signature) "
	    "header.d=example.com"),
	    "example.com; sender-id=fail header.from=[example.com]; dkim=pass "
	    "header.d=[example.com]", "RFC 8601 B.5: hyphenated method");
	is_str(d(" example.org; none"), "example.org", "no-result form");
	is_str(d(" example.org 1 ; none (nothing)"), "example.org",
	    "no-result form with a version and a comment");
	is_str(d(" example.org"), "example.org", "id alone");
	is_str(d(" example.org 2; spf=pass"), "-",
	    "unknown authres-version refused");
	is_str(d(" example.org junk; spf=pass"), "-",
	    "text between the id and ';' refused");
	is_str(d(" \"mx\"1; spf=pass"), "-", "version not separated refused");
	is_str(d(" mx; dkim/1=pass header.d=a.example"),
	    "mx; dkim=pass header.d=[a.example]", "result version 1");
	is_int(authres_parse(" mx; dkim/1=pass", 16, &p), 0, "dkim/1 parses");
	is_int(p.res[0].version, 1, "dkim/1: version 1");
	is_str(d(" mx; DKIM / 2 = PASS Header . D = A.Example"),
	    "mx; dkim/2=pass header.d=[A.Example]",
	    "names lower-cased, values kept; CFWS around / . =");
	is_str(d(" mx; dkim/123456789=pass"), "mx; dkim/123456789=pass",
	    "9-digit version");
	is_str(d(" mx; dkim/1234567890=pass; spf=pass"),
	    "mx; spf=pass {dropped 1}", "10-digit version dropped");
	is_str(d("(a)mx(b);(c)spf(d)=(e)pass(f)smtp(g).(h)mailfrom(i)=(j)"
	    "u@example.com(k);(l)"),
	    "mx; spf=pass smtp.mailfrom=[u@example.com]", "comments anywhere");
	is_str(d(" mx; dkim=fail reason=\"bad \\\"sig\\\"; (really)\" "
	    "header.d=\"exa mple.com\" header.i=\"a;b\\\\c\"@example.com"),
	    "mx; dkim=fail reason=[bad \"sig\"; (really)] "
	    "header.d=[exa mple.com] header.i=[a;b\\c@example.com]",
	    "quoted-strings: escapes, ';', quoted local-part");
	is_str(d(" mx.example.net;\r\n\tspf=pass\r\n "
	    "smtp.mailfrom=\"folded\r\n here\"@example.com"),
	    "mx.example.net; spf=pass smtp.mailfrom=[folded here@example.com]",
	    "folding CRLF+WSP, also inside a quoted-string");
	is_str(d(" mx; spf=pass smtp.mailfrom=\"\""),
	    "mx; spf=pass smtp.mailfrom=[]", "empty quoted value");
	is_str(d(" mx; spf=pass smtp.mailfrom=; dkim=pass"),
	    "mx; dkim=pass {dropped 1}", "missing value dropped");
	is_str(d(" mx; spf=pass;;; ; dkim=pass;"), "mx; spf=pass; dkim=pass",
	    "empty resinfos add nothing");
	is_str(d(" mx; x=y reason=late"), "mx; x=y reason=[late]",
	    "reason only right after the result");
	is_str(d(" mx; x=y a=b reason=late"), "mx; x=y a=[b] reason=[late]",
	    "a later reason= is a bare property");
}

/* find_prop_tests - authres_find_prop */
static void find_prop_tests(void)
{
	static struct authres_parsed p;
	static const char v[] = " mx; dmarc=pass action=none "
	    "header.from=a.example header.from=b.example";

	is_int(authres_parse(v, sizeof(v) - 1, &p), 0, "find_prop: parsed");
	is_str(authres_find_prop(&p.res[0], "header.from"), "a.example",
	    "find_prop: the first of two");
	is_str(authres_find_prop(&p.res[0], "HEADER.From"), "a.example",
	    "find_prop: case-insensitive name");
	is_str(authres_find_prop(&p.res[0], "action"), "none",
	    "find_prop: bare property");
	is_str(authres_find_prop(&p.res[0], ".action"), "none",
	    "find_prop: empty ptype is the bare property");
	is_str(authres_find_prop(&p.res[0], "smtp.action"), NULL,
	    "find_prop: ptype must match");
	is_str(authres_find_prop(&p.res[0], "header.d"), NULL,
	    "find_prop: absent");
	is_str(authres_find_prop(&p.res[0], "header"), NULL,
	    "find_prop: ptype alone is no property");
}

/* rep - s, n times, into b */
static void rep(struct buf *b, const char *s, size_t n)
{
	while (n--)
		buf_appends(b, s);
}

/* parse_hostile - every bound crossed, broken syntax, hostile bytes */
static void parse_hostile(void)
{
	static const char nul_val[] = " mx; spf=pass smtp.mailfrom=a\0b@x.example;"
	    " dkim=pass (c\0mment) header.d=example.com; sp\0f=pass";
	static const char ctl_val[] = " mx; spf=pass smtp.mailfrom=a\x01"
	    "b@x.example; dkim=pass header.d=\"a\x7f\"; dmarc=pass "
	    "header.from=\"\x1b\"; arc=pass";
	struct buf b, want;
	static struct authres_parsed p;
	char tmp[64];
	int okay;

	buf_init(&b, 1024 * 1024);
	buf_init(&want, 1024 * 1024);
	is_str(d(" mx; spf=pass smtp.mailfrom=\"abc; dkim=pass header.d=x"),
	    "mx {dropped 1}", "unterminated quote swallows the rest");
	is_str(d(" mx; spf=pass; dkim=pass header.d=\"x"),
	    "mx; spf=pass {dropped 1}", "unterminated quote in the last");
	is_str(d(" mx; spf=pass (never closed; dkim=pass"), "mx {dropped 1}",
	    "unterminated comment");
	is_str(d(" mx; spf=pass (a \\"), "mx {dropped 1}",
	    "comment ending in a backslash");
	is_str(d(" mx; spf=pass ((((((((8)))))))) smtp.mailfrom=a@x.example"),
	    "mx; spf=pass smtp.mailfrom=[a@x.example]",
	    "comments nested AUTHRES_COMMENT_DEPTH deep");
	is_str(d(" mx; dkim=pass; spf=pass (((((((((9))))))))) "
	    "smtp.mailfrom=a@x.example; dmarc=pass"),
	    "mx; dkim=pass {dropped 1}",
	    "comments nested deeper: that resinfo and the rest dropped");
	is_str(dump(nul_val, sizeof(nul_val) - 1),
	    "mx; dkim=pass header.d=[example.com] {dropped 2}",
	    "NUL in a value or keyword drops the resinfo, in a comment not");
	is_str(dump(ctl_val, sizeof(ctl_val) - 1), "mx; arc=pass {dropped 3}",
	    "control bytes in token and quoted values");
	is_str(d(" mx; spf pass; dkim=pass"), "mx; dkim=pass {dropped 1}",
	    "no '=': resynchronised at the next ';'");
	is_str(d(" mx; spf=pass garbage; dkim=pass"),
	    "mx; dkim=pass {dropped 1}", "a word with no '=' is an error");
	is_str(d(" mx; spf=pass smtp.mailfrom=\"a\"b; dkim=pass"),
	    "mx; dkim=pass {dropped 1}", "value glued to a quoted-string");
	is_str(d(" mx; spf=pass bad \"x;y\" junk; dkim=pass"),
	    "mx; dkim=pass {dropped 1}", "resync skips ';' in quotes");
	is_str(d(" mx; spf=pass bad (x;y) junk; dkim=pass"),
	    "mx; dkim=pass {dropped 1}", "resync skips ';' in comments");
	is_str(d(" mx; spf=pass smtp.=a; dkim=pass smtp..x=b; dmarc=pass"),
	    "mx; dmarc=pass {dropped 2}", "empty property names");
	is_str(d(" mx; =pass; spf=; dkim=pass!; dmarc=pass"),
	    "mx; dmarc=pass {dropped 3}", "empty method, empty or bad result");
	is_str(d(" ; spf=pass"), "-", "no authserv-id");
	is_str(d(""), "-", "empty value");

	/* a 100 KB property value: that property dropped, not cut */
	buf_appends(&b, " mx; dkim=pass header.d=");
	rep(&b, "a", 100000);
	buf_appends(&b, " header.s=sel; spf=pass");
	is_str(dump(b.data, b.len), "mx; dkim=pass header.s=[sel] !1; spf=pass",
	    "100 KB value dropped and counted");
	buf_reset(&b);
	buf_appends(&b, " mx; dkim=pass (");
	rep(&b, "c", 100000);
	buf_appends(&b, ") header.d=\"");
	rep(&b, "q", 100000);
	buf_appends(&b, "\"; spf=pass");
	is_str(dump(b.data, b.len), "mx; dkim=pass !1; spf=pass",
	    "100 KB comment skipped, 100 KB quoted value dropped");

	/* AUTHRES_VALUE_MAX: 255 bytes kept, 256 dropped */
	buf_reset(&b);
	buf_appends(&b, " mx; dkim=pass header.d=");
	rep(&b, "d", AUTHRES_VALUE_MAX - 1);
	buf_appends(&b, " header.i=\"");
	rep(&b, "i", AUTHRES_VALUE_MAX);
	buf_appends(&b, "\"");
	buf_reset(&want);
	buf_appends(&want, "mx; dkim=pass header.d=[");
	rep(&want, "d", AUTHRES_VALUE_MAX - 1);
	buf_appends(&want, "] !1");
	is_str(dump(b.data, b.len), want.data,
	    "value of AUTHRES_VALUE_MAX-1 bytes kept, one more dropped");
	buf_reset(&b);
	buf_appends(&b, " mx; dkim=fail reason=");
	rep(&b, "r", AUTHRES_VALUE_MAX);
	buf_appends(&b, " header.d=example.com");
	is_str(dump(b.data, b.len), "mx; dkim=fail header.d=[example.com] !1",
	    "reason too long dropped and counted");

	/* name bounds: ptype 15, prop 31, method 31, result 15 */
	is_str(d(" mx; a=b pppppppppppppp1.x=1 pppppppppppppp12.x=2 "
	    "p.rrrrrrrrrrrrrrrrrrrrrrrrrrrrrr1=3 "
	    "p.rrrrrrrrrrrrrrrrrrrrrrrrrrrrrr12=4 "
	    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb1=5 "
	    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb12=6"),
	    "mx; a=b pppppppppppppp1.x=[1] "
	    "p.rrrrrrrrrrrrrrrrrrrrrrrrrrrrrr1=[3] "
	    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb1=[5] !3",
	    "ptype, property and bare names: longest kept, one more dropped");
	is_str(d(" mx; mmmmmmmmmmmmmmmmmmmmmmmmmmmmmm1=pass; "
	    "mmmmmmmmmmmmmmmmmmmmmmmmmmmmmm12=pass; a=rrrrrrrrrrrrrr1; "
	    "a=rrrrrrrrrrrrrr12"),
	    "mx; mmmmmmmmmmmmmmmmmmmmmmmmmmmmmm1=pass; a=rrrrrrrrrrrrrr1 "
	    "{dropped 2}", "method and result: longest kept, one more dropped");

	/* AUTHRES_PROPS_MAX */
	buf_reset(&b);
	buf_appends(&b, " mx; dkim=pass");
	for (int k = 0; k < AUTHRES_PROPS_MAX + 2; k++)
		buf_appendf(&b, " p.k%d=%d", k, k);
	buf_reset(&want);
	buf_appends(&want, "mx; dkim=pass");
	for (int k = 0; k < AUTHRES_PROPS_MAX; k++)
		buf_appendf(&want, " p.k%d=[%d]", k, k);
	buf_appends(&want, " !2");
	is_str(dump(b.data, b.len), want.data,
	    "AUTHRES_PROPS_MAX properties kept, the rest counted");

	/* thousands of ';' and of resinfos */
	buf_reset(&b);
	buf_appends(&b, " mx");
	rep(&b, ";", 5000);
	buf_appends(&b, " spf=pass");
	rep(&b, " ;", 5000);
	is_str(dump(b.data, b.len), "mx; spf=pass", "10000 empty resinfos");
	buf_reset(&b);
	buf_appends(&b, " mx");
	for (int k = 0; k < 1000; k++)
		buf_appendf(&b, "; m%d=pass", k);
	okay = authres_parse(b.data, b.len, &p) == 0;
	ok(okay && p.nres == AUTHRES_RESULTS_MAX && p.dropped == 1000 -
	    AUTHRES_RESULTS_MAX, "1000 resinfos: AUTHRES_RESULTS_MAX kept, "
	    "the rest counted (%zu, %zu)", p.nres, p.dropped);
	snprintf(tmp, sizeof(tmp), "m%d", AUTHRES_RESULTS_MAX - 1);
	is_str(p.res[AUTHRES_RESULTS_MAX - 1].method, tmp,
	    "the last kept is the AUTHRES_RESULTS_MAX-th");
	buf_reset(&b);
	buf_appends(&b, " mx");
	for (int k = 0; k < AUTHRES_RESULTS_MAX; k++)
		buf_appendf(&b, "; m%d=pass", k);
	buf_appends(&b, "; none; bad; ;");
	okay = authres_parse(b.data, b.len, &p) == 0;
	ok(okay && p.nres == AUTHRES_RESULTS_MAX && p.dropped == 1,
	    "past the bound: none and empty add nothing, a bad one counts");
	buf_free(&b);
	buf_free(&want);
}

/* agree_tests - authres_parse and authres_authserv_id read the same id */
static void agree_tests(void)
{
	static const char *vals[] = {
		" mx.example.net; dkim=pass", " (c) \"q\\\"id\" ; none",
		" mx.example.net\x01; none", " (((((((((x))))))))) mx; none",
	};
	static struct authres_parsed p;
	char id[AUTHRES_ID_MAX];

	for (size_t k = 0; k < sizeof(vals) / sizeof(vals[0]); k++) {
		int a = authres_authserv_id(vals[k], strlen(vals[k]), id,
		    sizeof(id));
		int b = authres_parse(vals[k], strlen(vals[k]), &p);

		ok(a == b && (a < 0 || strcmp(id, p.authserv_id) == 0),
		    "authserv-id agrees: %s", a < 0 ? "refused" : id);
	}
}

int main(void)
{
	struct buf b;

	buf_init(&b, 1024);
	authres_begin(&b, "mx.example.net");
	authres_method(&b, "spf", "pass", NULL);
	authres_prop_addr(&b, "smtp.mailfrom", "user@example.com");
	is_str(b.data, "mx.example.net; spf=pass smtp.mailfrom=user@example.com",
	    "plain address stands bare");
	authres_begin(&b, "mx.example.net");
	authres_method(&b, "spf", "fail", "a \"b\"");
	authres_prop_addr(&b, "smtp.mailfrom", "we ird;x=y@example.com");
	is_str(b.data, "mx.example.net; spf=fail reason=\"a \\\"b\\\"\" "
	    "smtp.mailfrom=\"we ird;x=y@example.com\"",
	    "hostile values quoted and escaped");
	buf_reset(&b);
	hdr_value_append(&b, "a\r\nInjected: yes");
	is_str(b.data, "\"aInjected: yes\"", "CR LF dropped");
	buf_reset(&b);
	hdr_comment_append(&b, "x) y (z\\");
	is_str(b.data, "(x\\) y \\(z\\\\)", "comment escapes");
	is_int(hdr_is_dot_atom("mx.example.com"), 1, "dot-atom");
	is_int(hdr_is_dot_atom("a..b"), 0, "double dot");
	is_int(hdr_is_dot_atom("a@b"), 0, "@ is not atext");
	buf_free(&b);
	authserv_id_tests();
	parse_ours();
	parse_others();
	find_prop_tests();
	parse_hostile();
	agree_tests();
	return done_testing();
}
