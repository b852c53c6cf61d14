/*
 * authres_t.c - header value quoting (common/authres.c).
 */
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
	return done_testing();
}
