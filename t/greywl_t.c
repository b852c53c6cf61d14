/*
 * greywl_t.c - postgrey whitelist files (common/greywl.c): every entry
 * form, Debian's shipped file, bad lines, and a catastrophic regex
 * bounded by the match limit.
 */
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "greywl.h"
#include "tap.h"

static int client(const struct greywl *w, const char *name, const char *ip)
{
	struct ipaddr a;

	if (ip_parse(ip, &a) < 0)
		return -1;
	return greywl_match_client(w, name, &a);
}

int main(void)
{
	static const char clients[] =
	    "# comment\n"
	    "debian.org   # trailing comment\n"
	    "\n"
	    "  /^mail\\d+\\.telekom\\.de$/  \n"
	    "192.0.2.1\n"
	    "198.51.100.0/24\n"
	    "203.0.113\n"
	    "10.20\n"
	    "2001:db8::/32\n"
	    "not a hostname\n"
	    "/[unclosed/\n"
	    "/(a+)+$/\n";
	static const char rcpts[] =
	    "postmaster@\n"
	    "bob@example.com\n"
	    "lists.example.org\n"
	    "/^spam-trap-\\d+@/\n";
	struct greywl *w = greywl_new(GREYWL_CLIENTS);
	struct buf warn;
	const char *err;
	struct timespec t0, t1;

	buf_init(&warn, 65536);
	greywl_load_text(w, clients, sizeof(clients) - 1, "clients", &warn);
	ok(strstr(warn.data, "line 10: doesn't look like a hostname") != NULL,
	    "bad line warned with its number");
	ok(strstr(warn.data, "line 11:") != NULL, "bad regex warned");
	is_int(client(w, "mail.debian.org", "192.0.2.99"), 1, "subdomain");
	is_int(client(w, "DEBIAN.ORG", "192.0.2.99"), 1, "name, any case");
	is_int(client(w, "notdebian.org", "192.0.2.99"), 0, "not a suffix");
	is_int(client(w, "mail12.telekom.de", "192.0.2.99"), 1, "regex");
	is_int(client(w, "mailx.telekom.de", "192.0.2.99"), 0, "regex miss");
	is_int(client(w, "unknown", "192.0.2.1"), 1, "address");
	is_int(client(w, "unknown", "198.51.100.200"), 1, "CIDR");
	is_int(client(w, "unknown", "203.0.113.7"), 1, "partial a.b.c");
	is_int(client(w, "unknown", "10.20.30.40"), 1, "partial a.b");
	is_int(client(w, "unknown", "2001:db8::1"), 1, "IPv6 network");
	is_int(client(w, "unknown", "192.0.2.2"), 0, "other address");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	is_int(client(w, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab",
	    "192.0.2.2"), 0, "catastrophic regex: no match");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ok(t1.tv_sec - t0.tv_sec < 2, "and bounded by the match limit");
	greywl_free(&w);

	w = greywl_new(GREYWL_RECIPIENTS);
	buf_reset(&warn);
	greywl_load_text(w, rcpts, sizeof(rcpts) - 1, "rcpts", &warn);
	is_int(warn.len, 0, "recipients: no warnings");
	is_int(greywl_match_recipient(w, "postmaster@any.example"), 1,
	    "user@");
	is_int(greywl_match_recipient(w, "Postmaster+x@any.example"), 1,
	    "user@ with extension");
	is_int(greywl_match_recipient(w, "bob@example.com"), 1, "user@domain");
	is_int(greywl_match_recipient(w, "bob+tag@EXAMPLE.com"), 1,
	    "user+ext@domain");
	is_int(greywl_match_recipient(w, "bob@example.net"), 0,
	    "other domain");
	is_int(greywl_match_recipient(w, "x@lists.example.org"), 1, "domain");
	is_int(greywl_match_recipient(w, "x@a.lists.example.org"), 1,
	    "subdomain");
	is_int(greywl_match_recipient(w, "spam-trap-42@x.example"), 1,
	    "regex");
	is_int(greywl_match_recipient(w, "alice@example.com"), 0, "no match");
	greywl_free(&w);

	if (access("/etc/postgrey/whitelist_clients", R_OK) == 0) {
		w = greywl_new(GREYWL_CLIENTS);
		buf_reset(&warn);
		is_int(greywl_load_file(w, "/etc/postgrey/whitelist_clients",
		    &warn, &err), 0, "Debian's whitelist_clients loads");
		is_str(warn.data, "", "without warnings");
		ok(greywl_count(w) > 100, "%zu entries", greywl_count(w));
		is_int(client(w, "smtp12.orange.fr", "192.0.2.2"), 1,
		    "one of its regexes matches");
		greywl_free(&w);
	} else {
		ok(1, "# SKIP postgrey not installed");
	}
	w = greywl_new(GREYWL_CLIENTS);
	is_int(greywl_load_file(w, "/nonexistent", &warn, &err), -1,
	    "missing file is an error");
	greywl_free(&w);
	buf_free(&warn);
	return done_testing();
}
