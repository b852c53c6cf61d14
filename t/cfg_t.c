/*
 * cfg_t.c - tests for config tables (common/cfg.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "tap.h"

static const struct cfg_def defs[] = {
	{ "listen", NULL, CFG_STR, "inet:127.0.0.1:10040", 0, 0, NULL, "" },
	{ "HELO_reject", "helo-reject-policy", CFG_ENUM, "Fail", 0, 0,
	  "Fail|SPF_Not_Pass|Softfail|Null|False|No_Check", "" },
	{ "max_conn", NULL, CFG_INT, "100", 1, 1000, NULL, "" },
	{ "debug", NULL, CFG_BOOL, "no", 0, 0, NULL, "" },
	{ "dns_timeout", NULL, CFG_TIME, "5s", 10, 60000, NULL, "" },
	{ "dns_server", NULL, CFG_LIST, NULL, 0, 0, NULL, "" },
	CFG_END
};

static int parse(struct cfg *c, const char *text, const char **err)
{
	return cfg_parse_text(c, text, strlen(text), "test.conf", err);
}

int main(void)
{
	struct cfg *c = cfg_new(defs);
	const char *err = NULL;
	const char *const *l;
	size_t n;

	is_str(cfg_str(c, "listen"), "inet:127.0.0.1:10040", "default str");
	is_int(cfg_int(c, "max_conn"), 100, "default int");
	is_int(cfg_int(c, "dns_timeout"), 5000, "default time in ms");
	is_int(parse(c, "# comment\n\nmax_conn = 200\r\nhelo_reject = softfail\n"
	    "Debug=yes\ndns_timeout = 500ms\n", &err), 0, "parse ok");
	is_int(cfg_int(c, "max_conn"), 200, "int set");
	is_str(cfg_str(c, "HELO_reject"), "Softfail", "enum canonical case");
	is_int(cfg_bool(c, "debug"), 1, "bool set, key case ignored");
	is_int(cfg_int(c, "dns_timeout"), 500, "ms unit");
	is_int(parse(c, "helo-reject-policy = Null\n", &err), 0, "alias");
	is_str(cfg_str(c, "helo_reject"), "Null", "alias sets the key");

	is_int(parse(c, "max_conn = 5000\n", &err), -1, "out of range");
	ok(err && strstr(err, "max_conn") && strstr(err, "test.conf:1"),
	    "error names key and line: %s", err);
	is_int(parse(c, "nosuchkey = 1\n", &err), -1, "unknown key");
	ok(err && strstr(err, "nosuchkey"), "error names key: %s", err);
	is_int(parse(c, "helo_reject = Maybe\n", &err), -1, "bad enum");
	is_int(parse(c, "debug = perhaps\n", &err), -1, "bad bool");
	is_int(parse(c, "dns_timeout = 5x\n", &err), -1, "bad duration");
	is_int(parse(c, "max_conn 5\n", &err), 0,
	    "\"Key value\" (OpenDKIM/OpenDMARC files)");
	is_int(cfg_int(c, "max_conn"), 5, "... value read");
	is_int(parse(c, "helo-reject-policy\tSoftfail\n", &err), 0,
	    "\"Alias<TAB>value\"");
	is_int(parse(c, "max_conn\n", &err), -1, "key without a value");
	is_int(parse(c, "max_conn   \n", &err), -1, "key and blanks only");
	is_int(cfg_parse_text(c, "debug = y\0es\n", 13, "t", &err), -1,
	    "NUL byte refused");
	{
		char big[CFG_LINE_MAX + 20];

		memset(big, 'a', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		is_int(parse(c, big, &err), -1, "over-long line refused");
	}

	is_int(parse(c, "dns_server = 127.0.0.1:5353, ::1\n"
	    "dns_server = 192.0.2.1\n", &err), 0, "list lines");
	l = cfg_list(c, "dns_server", &n);
	is_int(n, 3, "list accumulates");
	is_str(n == 3 ? l[2] : NULL, "192.0.2.1", "list element");

	is_int(cfg_override(c, "max_conn=7", &err), 0, "-o override");
	is_int(parse(c, "max_conn = 9\n", &err), 0, "file after -o");
	is_int(cfg_int(c, "max_conn"), 7, "-o wins over the file");
	is_int(cfg_override(c, "dns_server = 10.0.0.1", &err), 0, "-o list");
	l = cfg_list(c, "dns_server", &n);
	is_int(n, 1, "-o replaces a list");
	is_int(cfg_override(c, "=x", &err), -1, "-o without key");
	is_int(cfg_override(c, "max_conn", &err), -1, "-o without =");
	{
		/* a tool reading a daemon's file: unknown keys skipped, the
		   known ones checked with their line numbers */
		char path[] = "/tmp/cfg_t.XXXXXX";
		int fd = mkstemp(path);
		FILE *fp = fdopen(fd, "w");
		struct cfg *t = cfg_new(defs);

		fputs("# daemon file\nother_key = 1\n  max_conn = 42\n"
		    "OtherKey=x\n", fp);
		fclose(fp);
		is_int(cfg_load_file_known(t, path, &err), 0,
		    "known keys only: unknown ones skipped");
		is_int(cfg_int(t, "max_conn"), 42, "known key read");
		is_int(cfg_load_file(t, path, &err), -1,
		    "cfg_load_file still refuses them");
		fp = fopen(path, "w");
		fputs("other = 1\nmax_conn = 5000\n", fp);
		fclose(fp);
		is_int(cfg_load_file_known(t, path, &err), -1,
		    "a known key out of range still fails");
		ok(err && strstr(err, ":2"), "...with its line: %s", err);
		unlink(path);
		is_int(cfg_load_file_known(t, path, &err), -1,
		    "missing file fails");
		cfg_unref(&t);
	}
	{
		struct cfg *c2 = cfg_ref(c);

		cfg_unref(&c);
		ok(c == NULL, "unref clears pointer");
		is_str(cfg_str(c2, "listen"), "inet:127.0.0.1:10040",
		    "second reference still valid");
		cfg_unref(&c2);
	}
	return done_testing();
}
