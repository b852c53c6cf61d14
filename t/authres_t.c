/*
 * authres_t.c - header value quoting (common/authres.c).
 */
#include "authres.h"
#include "tap.h"

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
	return done_testing();
}
