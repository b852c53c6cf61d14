/*
 * postern-greyctl - look at and edit postern-greyd's greylisting store:
 *                   counts, listings, one triplet or client, deletions.
 *
 * Usage: the manual is help_text below (postern-greyctl --help prints it).
 * Public: main only.
 * Trust: the command line and the config file are the admin's.  Store
 *        keys were built from peer data (the sender and recipient Postfix
 *        relays), so they are printed escaped (see key_text), never raw.
 * Errors: one message on stderr; exit 0 done, 1 not found (show and
 *         delete), 2 usage or config error, 3 store error.
 *
 * The tool reads the daemon's own config (same table, same file, same -o)
 * so that it opens the daemon's store and builds keys exactly as the
 * daemon does (grey_keys: networks, sender normalization, privacy
 * hashing).  Keys of a config file that this build does not know (a newer
 * daemon's) are skipped rather than refused: postern-greyd -t is what
 * checks a file, and an admin tool that stops working after an upgrade of
 * the daemon helps nobody.  -o keys are still checked (a typo there is
 * this command line's own).
 *
 * The store interface has no single-key read: show walks the store and
 * stops at the key (linear, a read snapshot; fine for an admin tool).
 */
#include <errno.h>
#include <fnmatch.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cfg.h"
#include "daemon.h"
#include "grey.h"
#include "greyd_cfg.h"
#include "inet.h"
#include "log.h"
#include "policy_cfg.h"
#include "store.h"
#include "tool.h"

#define PROG "postern-greyctl"
#define KEY_TEXT_MAX (4 * STORE_KEY_MAX + 1)	/* every byte as \xNN */
#define TIME_TEXT_MAX 32

enum { EXIT_OK, EXIT_NOTFOUND, EXIT_USAGE, EXIT_STORE };

/* the daemon's table (greyd.c greyd_defs): a greyd config reads as is */
static const struct cfg_def greyctl_defs[] = {
	POLICY_CFG_DEFS("inet:127.0.0.1:10023"),
	DAEMON_CFG_DEFS,
	GREYD_CFG_DEFS
	CFG_END
};

static const char help_text[] =
"NAME\n"
"    postern-greyctl - inspect and edit postern-greyd's greylisting store\n"
"\n"
"SYNOPSIS\n"
"    postern-greyctl [-c FILE] [-o key=value]... COMMAND [ARGUMENTS]\n"
"\n"
"    stats [--json]\n"
"    list [triplets|clients] [--match GLOB] [--json]\n"
"    show CLIENT_ADDRESS SENDER RECIPIENT [--json]\n"
"    show --spf-domain DOMAIN SENDER RECIPIENT [--json]\n"
"    show-client ADDRESS [--json]\n"
"    show-client --spf-domain DOMAIN [--json]\n"
"    delete CLIENT_ADDRESS SENDER RECIPIENT\n"
"    delete --spf-domain DOMAIN SENDER RECIPIENT\n"
"    delete-client ADDRESS\n"
"    delete-client --spf-domain DOMAIN\n"
"    delete-key triplets|clients KEY\n"
"\n"
"DESCRIPTION\n"
"    postern-greyctl reads postern-greyd's configuration (the same file\n"
"    and the same -o overrides) to find its store and the settings that\n"
"    shape the store's keys and states: store, store_*, delay, max_age,\n"
"    auto_whitelist_clients, lookup_by_host, lookup_by_subnet, ipv4cidr,\n"
"    ipv6cidr and privacy.\n"
"\n"
"    It is safe to run while postern-greyd runs.  The embedded store is\n"
"    LMDB, made for several processes: readers see one consistent\n"
"    snapshot and never block the daemon, and a deletion is one write\n"
"    transaction, serialized with the daemon's own.  A Redis store is\n"
"    shared the same way.  The tool never creates an embedded store: a\n"
"    directory without one is an error (exit 3).  Run as root on an\n"
"    embedded store owned by another user (the daemon's), it switches to\n"
"    that user first, so no file there becomes root's.\n"
"\n"
"COMMANDS\n"
"    stats\n"
"        Counts, one \"name: N\" line each: triplets, triplets_greylisted,\n"
"        triplets_passed, clients, clients_whitelisted, clients_counting,\n"
"        expired, total.  Expired entries are counted under \"expired\"\n"
"        only, so the states add up to total.\n"
"\n"
"    list [triplets|clients]\n"
"        One line per entry (both tables without an argument):\n"
"          triplet KEY first=TIME last=TIME STATE\n"
"          client KEY count=N last=TIME STATE\n"
"        TIME is ISO 8601 UTC (2024-05-01T12:00:00Z); count is the\n"
"        client's deliveries after a delay.\n"
"\n"
"    show CLIENT_ADDRESS SENDER RECIPIENT\n"
"        The triplet the daemon would use for this mail, found with the\n"
"        daemon's key rules (client network, sender normalization,\n"
"        privacy hashing), printed as by list.  SENDER \"\" or \"<>\" is\n"
"        the null sender.  Exit 1 when there is no such triplet.\n"
"\n"
"    show-client ADDRESS\n"
"        The client's auto-whitelist entry.  Exit 1 when there is none.\n"
"\n"
"    delete CLIENT_ADDRESS SENDER RECIPIENT\n"
"        Remove the triplet: the next such mail is greylisted as new\n"
"        (unless its client is auto-whitelisted: see delete-client).\n"
"        Exit 1 when there was no such triplet.\n"
"\n"
"    delete-client ADDRESS\n"
"        Remove the client's auto-whitelist entry (its count starts\n"
"        again).  Exit 1 when there was none.\n"
"\n"
"    delete-key triplets|clients KEY\n"
"        Remove an entry by its key as list prints it.\n"
"\n"
"OPTIONS\n"
"    -c FILE\n"
"        The daemon's config file; default " SYSCONFDIR
"/postern/postern-greyd.conf\n"
"        when it exists (built-in defaults otherwise).\n"
"    -o key=value\n"
"        Override a config key, as the daemon's -o (repeatable).\n"
"    --json\n"
"        stats: one JSON object; list: a JSON array of entries; show,\n"
"        show-client: one entry object.  Entries have kind, key, first\n"
"        or count, last and state.\n"
"    --match GLOB\n"
"        list: only keys matching the shell pattern GLOB (fnmatch(3),\n"
"        without regard to case; '*' also matches '/').\n"
"    --spf-domain DOMAIN\n"
"        The entry of mail whose sender domain passed SPF: the client\n"
"        part of the key is \"spf:DOMAIN\" instead of the address.\n"
"    -h, --help    this text.     -V    the version.\n"
"\n"
"STATES\n"
"    greylisted   triplet seen, no retry accepted yet (last - first <\n"
"                 delay)\n"
"    passed       a retry came after the delay: its mail passes\n"
"    whitelisted  client with auto_whitelist_clients deliveries or more:\n"
"                 all its mail passes\n"
"    counting     client still counting towards auto_whitelist_clients\n"
"    expired      unused for max_age: the daemon treats it as absent and\n"
"                 removes it in its next expiry round\n"
"\n"
"KEYS\n"
"    A triplet is NETWORK/SENDER/RECIPIENT (SPF: spf:DOMAIN/SENDER/\n"
"    RECIPIENT), lower case, the sender normalized as postgrey does\n"
"    (+extension dropped, standalone numbers as #); NETWORK is the\n"
"    client's ipv4cidr/ipv6cidr network address (the whole address with\n"
"    lookup_by_host).  A client is its address, or spf:DOMAIN.  With\n"
"    privacy = yes keys are SHA-256 hex prefixes: show and delete, which\n"
"    hash what they are given, still find them.  Printed keys show\n"
"    space, backslash and bytes outside printable ASCII as \\xNN;\n"
"    delete-key and --match take keys in that form.\n"
"\n"
"    Keys of the config file that this program does not know (a newer\n"
"    daemon's) are skipped; postern-greyd -t checks the file.\n"
"\n"
"EXIT STATUS\n"
"    0 done, 1 not found (show, delete), 2 usage or configuration error,\n"
"    3 store error (unreachable, missing, broken) or output error.\n";

/* what one run works with */
struct greyctl {
	struct cfg *cfg;
	struct grey_config g;
	struct store *store;
	time_t now;
	int json;
	const char *match;
	const char *spf_domain;
	enum store_entry_kind kind;	/* list, delete-key: one table */
	int all_kinds;			/* list: both tables */
	size_t printed;			/* list --json: entries so far */
};

/* usage - the synopsis on stderr, exit 2 */
static void usage(const char *why)
{
	if (why)
		fprintf(stderr, PROG ": %s\n", why);
	fputs("usage: " PROG " [-c FILE] [-o key=value]... COMMAND [ARGS]\n"
	    "commands: stats, list [triplets|clients] [--match GLOB], "
	    "show, show-client,\n"
	    "          delete, delete-client, delete-key "
	    "(--help for the manual)\n", stderr);
	exit(EXIT_USAGE);
}

/* open_store - the daemon's store; an embedded one must exist already */
static struct store *open_store(const struct cfg *cfg)
{
	const char *spec = cfg_str(cfg, "store"), *err;
	struct store_opts so;
	struct store *s;

	if (tool_store_ready(EXIT_USAGE, EXIT_STORE, spec) == 0)
		tool_die(EXIT_STORE, "store %s: no embedded store there (the "
		    "daemon's config? -c FILE or -o store=PATH)", spec);
	greyd_cfg_store(cfg, NULL, &so);
	if ((s = store_open(spec, &so, &err)) == NULL)
		tool_die(EXIT_STORE, "%s", err);
	return s;
}

/* key_text - key with space, backslash and bytes outside printable ASCII
 * written \xNN, into out[KEY_TEXT_MAX] */
static const char *key_text(const char *key, char *out)
{
	static const char hex[] = "0123456789abcdef";
	char *o = out;

	for (size_t i = 0; key[i] && i < STORE_KEY_MAX; i++) {
		unsigned char ch = (unsigned char)key[i];

		if (ch <= ' ' || ch >= 0x7f || ch == '\\') {
			*o++ = '\\';
			*o++ = 'x';
			*o++ = hex[ch >> 4];
			*o++ = hex[ch & 15];
		} else {
			*o++ = (char)ch;
		}
	}
	*o = '\0';
	return out;
}

/* key_parse - a key as key_text prints it back to bytes; -1 if malformed
 * or too long */
static int key_parse(const char *text, char *out, size_t outlen)
{
	size_t n = 0;

	for (const char *p = text; *p; n++) {
		int c = (unsigned char)*p++;

		if (c == '\\') {
			int hi, lo;

			if (*p != 'x' || (hi = hex_value(p[1])) < 0 ||
			    (lo = hex_value(p[2])) < 0 || (hi == 0 && lo == 0))
				return -1;
			c = hi * 16 + lo;
			p += 3;
		}
		if (n + 1 >= outlen)
			return -1;
		out[n] = (char)c;
	}
	out[n] = '\0';
	return n ? 0 : -1;
}

/* time_text - t as ISO 8601 UTC into out[TIME_TEXT_MAX] */
static const char *time_text(long long t, char *out)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if ((long long)tt != t || gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, TIME_TEXT_MAX, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, TIME_TEXT_MAX, "@%lld", t);
	return out;
}

enum entry_state { ES_GREYLISTED, ES_PASSED, ES_WHITELISTED, ES_COUNTING,
	ES_EXPIRED };

static const char *const state_names[] = { "greylisted", "passed",
	"whitelisted", "counting", "expired" };

/* sub_sat - a - b, saturated (records hold any number a file can) */
static long long sub_sat(long long a, long long b)
{
	long long d;

	if (__builtin_sub_overflow(a, b, &d))
		return b < 0 ? LLONG_MAX : LLONG_MIN;
	return d;
}

/* entry_state - what the daemon would make of e now (store_lmdb.c's
 * rules: max_age first, then delay or auto_whitelist_clients) */
static enum entry_state entry_state(const struct greyctl *c,
    const struct store_entry *e)
{
	if (sub_sat((long long)c->now, e->b) > (long long)c->g.max_age)
		return ES_EXPIRED;
	if (e->kind == STORE_TRIPLET)
		return sub_sat(e->b, e->a) >= (long long)c->g.delay ?
		    ES_PASSED : ES_GREYLISTED;
	return c->g.awl_clients && e->a >= (long long)c->g.awl_clients ?
	    ES_WHITELISTED : ES_COUNTING;
}

/* json_str - s as a JSON string (s is key_text output: printable ASCII) */
static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			putchar('\\');
		putchar(*s);
	}
	putchar('"');
}

/* print_entry - one entry, as a text line or a JSON object (no newline) */
static void print_entry(const struct greyctl *c, const struct store_entry *e)
{
	char key[KEY_TEXT_MAX], t1[TIME_TEXT_MAX], t2[TIME_TEXT_MAX];
	const char *state = state_names[entry_state(c, e)];
	int trip = e->kind == STORE_TRIPLET;

	key_text(e->key, key);
	time_text(e->b, t2);
	time_text(e->a, t1);
	if (!c->json) {
		if (trip)
			printf("triplet %s first=%s last=%s %s\n", key, t1, t2,
			    state);
		else
			printf("client %s count=%lld last=%s %s\n", key, e->a,
			    t2, state);
		return;
	}
	printf("{\"kind\": \"%s\", \"key\": ", trip ? "triplet" : "client");
	json_str(key);
	if (trip)
		printf(", \"first\": \"%s\"", t1);
	else
		printf(", \"count\": %lld", e->a);
	printf(", \"last\": \"%s\", \"state\": \"%s\"}", t2, state);
}

/* need_store - open the store on first use (after the arguments checked) */
static struct store *need_store(struct greyctl *c)
{
	if (c->store == NULL)
		c->store = open_store(c->cfg);
	return c->store;
}

/* walk - store_walk over every entry; exit 3 on a store error */
static void walk(struct greyctl *c, store_walk_fn *fn, void *arg)
{
	const char *err;

	if (store_walk(need_store(c), fn, arg, &err) < 0)
		tool_die(EXIT_STORE, "%s", err);
}

enum { ST_TRIPLETS, ST_GREYLISTED, ST_PASSED, ST_CLIENTS, ST_WHITELISTED,
	ST_COUNTING, ST_EXPIRED, ST_TOTAL, ST_COUNT };

static const char *const stat_names[ST_COUNT] = { "triplets",
	"triplets_greylisted", "triplets_passed", "clients",
	"clients_whitelisted", "clients_counting", "expired", "total" };

struct stats_walk {
	const struct greyctl *c;
	unsigned long long n[ST_COUNT];
};

/* stats_one - count one entry */
static int stats_one(void *arg, const struct store_entry *e)
{
	static const int of_state[] = { ST_GREYLISTED, ST_PASSED,
		ST_WHITELISTED, ST_COUNTING, ST_EXPIRED };
	struct stats_walk *w = arg;

	w->n[e->kind == STORE_TRIPLET ? ST_TRIPLETS : ST_CLIENTS]++;
	w->n[of_state[entry_state(w->c, e)]]++;
	w->n[ST_TOTAL]++;
	return 0;
}

/* cmd_stats - counts by state */
static int cmd_stats(struct greyctl *c, char **args, int nargs)
{
	struct stats_walk w = { .c = c };

	(void)args;
	(void)nargs;
	walk(c, stats_one, &w);
	for (int i = 0; i < ST_COUNT; i++) {
		if (c->json)
			printf("%s\"%s\": %llu", i ? ", " : "{", stat_names[i],
			    w.n[i]);
		else
			printf("%s: %llu\n", stat_names[i], w.n[i]);
	}
	if (c->json)
		puts("}");
	return EXIT_OK;
}

/* list_one - print one entry if it is of the kind and matches */
static int list_one(void *arg, const struct store_entry *e)
{
	struct greyctl *c = arg;

	if (!c->all_kinds && e->kind != c->kind)
		return 0;
	if (c->match) {
		char key[KEY_TEXT_MAX];

		if (fnmatch(c->match, key_text(e->key, key), FNM_CASEFOLD))
			return 0;
	}
	if (c->json)
		fputs(c->printed ? ",\n " : "[", stdout);
	print_entry(c, e);
	c->printed++;
	return 0;
}

/* parse_kind - "triplets" or "clients" (singular too); -1 otherwise */
static int parse_kind(const char *s, enum store_entry_kind *kind_r)
{
	if (!strcmp(s, "triplets") || !strcmp(s, "triplet"))
		*kind_r = STORE_TRIPLET;
	else if (!strcmp(s, "clients") || !strcmp(s, "client"))
		*kind_r = STORE_CLIENT;
	else
		return -1;
	return 0;
}

/* cmd_list - every entry (of one table), filtered by --match */
static int cmd_list(struct greyctl *c, char **args, int nargs)
{
	c->all_kinds = nargs == 0;
	if (nargs && parse_kind(args[0], &c->kind) < 0)
		usage("list: expected triplets or clients");
	walk(c, list_one, c);
	if (c->json)
		puts(c->printed ? "]" : "[]");
	return EXIT_OK;
}

/* unbracket - "<addr>" as "addr" into out[STORE_KEY_MAX + 1] */
static const char *unbracket(const char *s, char *out)
{
	size_t n = strlen(s);

	if (n >= 2 && s[0] == '<' && s[n - 1] == '>')
		s++, n -= 2;
	if (n > STORE_KEY_MAX)
		usage("address too long");
	memcpy(out, s, n);
	out[n] = '\0';
	return out;
}

/* keys_of - the daemon's keys for client (or --spf-domain), sender and
 * recipient; exit 2 when they cannot be built */
static void keys_of(const struct greyctl *c, const char *client,
    const char *sender, const char *rcpt, struct grey_keys *k)
{
	char sbuf[STORE_KEY_MAX + 1], rbuf[STORE_KEY_MAX + 1];
	struct grey_facts f = { 0 };
	struct ipaddr ip;

	if (c->spf_domain) {
		f.auth_domain = c->spf_domain;
		f.client_address = "";
	} else {
		if (ip_parse(client, &ip) < 0)
			tool_die(EXIT_USAGE, "not an IP address: %s", client);
		f.client_address = client;
	}
	f.sender = unbracket(sender, sbuf);
	f.recipient = unbracket(rcpt, rbuf);
	if (grey_keys(&c->g, &f, k) < 0)
		tool_die(EXIT_USAGE, "cannot build the store key (too long?)");
}

struct find_walk {
	enum store_entry_kind kind;
	const char *key;
	int found;
	struct store_entry e;
	char keybuf[STORE_KEY_MAX + 1];
	char shardbuf[STORE_KEY_MAX + 1];
};

/* find_one - stop at the entry looked for, keeping a copy */
static int find_one(void *arg, const struct store_entry *e)
{
	struct find_walk *w = arg;

	if (e->kind != w->kind || strcmp(e->key, w->key) != 0)
		return 0;
	w->found = 1;
	w->e = *e;
	snprintf(w->keybuf, sizeof(w->keybuf), "%s", e->key);
	snprintf(w->shardbuf, sizeof(w->shardbuf), "%s",
	    e->shard ? e->shard : "");
	w->e.key = w->keybuf;
	w->e.shard = w->shardbuf;
	return 1;
}

/* show_key - print the entry at key; 0 or exit status 1 */
static int show_key(struct greyctl *c, enum store_entry_kind kind,
    const char *key)
{
	struct find_walk w = { .kind = kind, .key = key };
	char text[KEY_TEXT_MAX];

	walk(c, find_one, &w);
	if (!w.found) {
		fprintf(stderr, PROG ": not found: %s %s\n", kind ==
		    STORE_TRIPLET ? "triplet" : "client", key_text(key, text));
		return EXIT_NOTFOUND;
	}
	print_entry(c, &w.e);
	if (c->json)
		putchar('\n');
	return EXIT_OK;
}

/* delete_key - remove the entry at shard and key; 0 or exit status 1 */
static int delete_key(struct greyctl *c, enum store_entry_kind kind,
    const char *shard, const char *key)
{
	const char *err, *what = kind == STORE_TRIPLET ? "triplet" : "client";
	char text[KEY_TEXT_MAX];
	int rc = store_delete(need_store(c), kind, shard, key, &err);

	if (rc < 0)
		tool_die(EXIT_STORE, "%s", err);
	if (rc == 0) {
		fprintf(stderr, PROG ": not found: %s %s\n", what,
		    key_text(key, text));
		return EXIT_NOTFOUND;
	}
	printf("deleted %s %s\n", what, key_text(key, text));
	return EXIT_OK;
}

/* triplet_args - the triplet key of show/delete's arguments */
static void triplet_args(struct greyctl *c, char **args, struct grey_keys *k)
{
	if (c->spf_domain)
		keys_of(c, NULL, args[0], args[1], k);
	else
		keys_of(c, args[0], args[1], args[2], k);
}

/* cmd_show - the triplet of one mail */
static int cmd_show(struct greyctl *c, char **args, int nargs)
{
	struct grey_keys k;

	(void)nargs;
	triplet_args(c, args, &k);
	return show_key(c, STORE_TRIPLET, k.triplet);
}

/* cmd_show_client - a client's auto-whitelist entry */
static int cmd_show_client(struct greyctl *c, char **args, int nargs)
{
	struct grey_keys k;

	keys_of(c, nargs ? args[0] : NULL, "", "", &k);
	return show_key(c, STORE_CLIENT, k.client);
}

/* cmd_delete - remove the triplet of one mail */
static int cmd_delete(struct greyctl *c, char **args, int nargs)
{
	struct grey_keys k;

	(void)nargs;
	triplet_args(c, args, &k);
	return delete_key(c, STORE_TRIPLET, k.shard, k.triplet);
}

/* cmd_delete_client - remove a client's auto-whitelist entry */
static int cmd_delete_client(struct greyctl *c, char **args, int nargs)
{
	struct grey_keys k;

	keys_of(c, nargs ? args[0] : NULL, "", "", &k);
	return delete_key(c, STORE_CLIENT, k.shard, k.client);
}

/* cmd_delete_key - remove an entry by its printed key: a walk finds it
 * first, for its shard (store_delete needs it, a printed key lacks it) */
static int cmd_delete_key(struct greyctl *c, char **args, int nargs)
{
	struct find_walk w = { 0 };
	char key[STORE_KEY_MAX + 1], text[KEY_TEXT_MAX];

	(void)nargs;
	if (parse_kind(args[0], &w.kind) < 0)
		usage("delete-key: expected triplets or clients");
	if (key_parse(args[1], key, sizeof(key)) < 0)
		usage("delete-key: malformed or too long key");
	w.key = key;
	walk(c, find_one, &w);
	if (!w.found) {
		fprintf(stderr, PROG ": not found: %s %s\n", w.kind ==
		    STORE_TRIPLET ? "triplet" : "client", key_text(key, text));
		return EXIT_NOTFOUND;
	}
	return delete_key(c, w.kind, w.e.shard, key);
}

#define OPT_JSON	1u
#define OPT_MATCH	2u
#define OPT_SPF		4u	/* --spf-domain replaces the first argument */

static const struct command {
	const char *name;
	int (*run)(struct greyctl *c, char **args, int nargs);
	unsigned opts;
	int min_args, max_args;	/* without --spf-domain */
} commands[] = {
	{ "stats", cmd_stats, OPT_JSON, 0, 0 },
	{ "list", cmd_list, OPT_JSON | OPT_MATCH, 0, 1 },
	{ "show", cmd_show, OPT_JSON | OPT_SPF, 3, 3 },
	{ "show-client", cmd_show_client, OPT_JSON | OPT_SPF, 1, 1 },
	{ "delete", cmd_delete, OPT_SPF, 3, 3 },
	{ "delete-client", cmd_delete_client, OPT_SPF, 1, 1 },
	{ "delete-key", cmd_delete_key, 0, 2, 2 },
	{ NULL, NULL, 0, 0, 0 },
};

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "match", required_argument, NULL, 'm' },
		{ "spf-domain", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 } };
	/* static: its -o list is still referenced when a config error exits */
	static struct tool_opts topts;
	struct greyctl c = { 0 };
	const struct command *cmd;
	unsigned opts = 0;
	int ch, nargs, rc;

	tool_set_name(PROG);
	log_open(PROG, 1);	/* the store's warnings go to stderr */
	tool_opts_init(&topts, help_text, "postern-greyd.conf", argc);
	while ((ch = getopt_long(argc, argv, "c:o:hV", longopts,
	    NULL)) != -1) {
		if (tool_opts_take(&topts, ch, optarg))
			continue;
		switch (ch) {
		case 'j':
			c.json = 1;
			opts |= OPT_JSON;
			break;
		case 'm':
			c.match = optarg;
			opts |= OPT_MATCH;
			break;
		case 'd':
			if (*optarg == '\0')
				usage("--spf-domain: empty domain");
			c.spf_domain = optarg;
			opts |= OPT_SPF;
			break;
		default:
			usage(NULL);
		}
	}
	if (optind >= argc)
		usage("no command");
	for (cmd = commands; cmd->name; cmd++)
		if (!strcmp(cmd->name, argv[optind]))
			break;
	if (cmd->name == NULL) {
		fprintf(stderr, PROG ": unknown command \"%s\"\n",
		    argv[optind]);
		usage(NULL);
	}
	if (opts & ~cmd->opts) {
		fprintf(stderr, PROG ": %s takes no %s option\n", cmd->name,
		    (opts & ~cmd->opts & OPT_JSON) ? "--json" :
		    (opts & ~cmd->opts & OPT_MATCH) ? "--match" :
		    "--spf-domain");
		usage(NULL);
	}
	nargs = argc - optind - 1;
	if (nargs < cmd->min_args - (c.spf_domain != NULL) ||
	    nargs > cmd->max_args - (c.spf_domain != NULL)) {
		fprintf(stderr, PROG ": %s: wrong number of arguments\n",
		    cmd->name);
		usage(NULL);
	}
	c.cfg = cfg_new(greyctl_defs);
	(void)tool_cfg_load(EXIT_USAGE, c.cfg, &topts);
	tool_opts_free(&topts);
	greyd_cfg_grey(c.cfg, &c.g);
	c.now = time(NULL);
	rc = cmd->run(&c, argv + optind + 1, nargs);
	if (fflush(stdout) != 0 || ferror(stdout))
		tool_die(EXIT_STORE, "write error on standard output: %s",
		    strerror(errno));
	store_close(&c.store);
	cfg_unref(&c.cfg);
	return rc;
}
