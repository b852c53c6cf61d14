/*
 * buf_t.c - tests for the bounded buffer (common/buf.c).
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "tap.h"

int main(void)
{
	struct buf b;

	buf_init(&b, 10);
	is_int(buf_appends(&b, "hello"), 0, "append within max");
	is_int(buf_appends(&b, "world"), 0, "append up to max exactly");
	is_int(b.len, 10, "length 10");
	is_int(buf_appendc(&b, 'x'), -1, "one byte past max refused");
	is_str(b.data, "helloworld", "unchanged after refusal");
	is_int(buf_appendf(&b, "%d", 1), -1, "appendf past max refused");
	buf_consume(&b, 5);
	is_str(b.data, "world", "consume");
	is_int(buf_appendf(&b, "%s!", "abcde"), -1, "appendf all or nothing");
	is_str(b.data, "world", "unchanged after appendf refusal");
	is_int(buf_appendf(&b, "%s", "abcd"), 0, "appendf fits");
	buf_truncate(&b, 2);
	is_str(b.data, "wo", "truncate");
	buf_reset(&b);
	is_int(buf_append(&b, "a\0b", 3), 0, "binary append");
	is_int(b.len, 3, "binary length");
	ok(b.data[3] == '\0', "always NUL-terminated");
	buf_free(&b);

	buf_init(&b, 1 << 20);
	for (int i = 0; i < 1000; i++)
		buf_appends(&b, "0123456789");
	is_int(b.len, 10000, "growth");
	buf_free(&b);
	return done_testing();
}
