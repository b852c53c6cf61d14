/*
 * grey_t.c - the greylisting engine (common/grey.c) on the embedded
 * store (common/store_lmdb.c), with a fake clock: postgrey's sender
 * normalization, client networks, the delay / retry-window / max-age
 * algorithm, client auto-whitelisting, persistence and expiry.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "grey.h"
#include "tap.h"

static struct grey_config cfg = {
	.delay = 300, .max_age = 35 * 86400, .retry_window = 2 * 86400,
	.awl_clients = 2, .ipv4_cidr = 24, .ipv6_cidr = 64,
	.greylist_text = "Greylisted, try again in %s seconds (%r)",
	.defer_if_permit = 1,
	.x_greylist_header = "X-Greylist: delayed %t seconds by "
	    "postern-greyd at %h; %d",
	.hostname = "mx.test",
};

static void norm(const char *in, const char *want)
{
	char out[600];

	if (grey_sender_normalize(in, out, sizeof(out)) < 0)
		snprintf(out, sizeof(out), "(error)");
	is_str(out, want, in);
}

static struct grey_result decide(struct store *st, const char *ip,
    const char *from, const char *to, time_t now)
{
	struct grey_facts f = { ip, from, to, NULL };
	struct grey_result r;
	const char *err = NULL;

	if (grey_decide(&cfg, st, &f, now, &r, &err) < 0) {
		ok(0, "decide: %s", err);
		memset(&r, 0, sizeof(r));
	}
	return r;
}

struct walk_count {
	size_t triplets, clients;
	int found;
};

/* count_entry - store_walk callback */
static int count_entry(void *arg, const struct store_entry *e)
{
	struct walk_count *w = arg;

	if (e->kind == STORE_TRIPLET)
		w->triplets++;
	else
		w->clients++;
	if (e->kind == STORE_CLIENT && !strcmp(e->key, "203.0.113.5") &&
	    e->a >= 2)
		w->found = 1;
	return 0;
}

int main(void)
{
	char dir[] = "/tmp/grey_t.XXXXXX", net[64];
	struct store *st;
	struct grey_result r;
	struct grey_facts f = { "192.0.2.77", "a@b.example", "C@D.example",
	    NULL };
	struct grey_keys k;
	struct store_opts so = { .max_entries = 1000, .timeout_ms = 2000,
	    .connect_timeout_ms = 2000, .prefix = "t:" };
	const char *spec = getenv("POSTERN_TEST_STORE");
	int redis = spec != NULL && *spec != '\0';
	struct walk_count wc;
	struct verdict v;
	const char *err;
	time_t t0 = 1700000000;

	norm("user+ext@example.com", "user@example.com");
	norm("list-1234-bounces@example.com", "list-#-bounces@example.com");
	norm("abc123@example.com", "abc123@example.com");
	norm("b.12.x@example.com", "b.#.x@example.com");
	norm("prvs=1234567890=user@example.com", "user@example.com");
	norm("prvs=user=1234567890@example.com", "user@example.com");
	norm("SRS0=HHH=TT=orig.example=bob@fwd.example",
	    "SRS0=orig.example=bob@fwd.example");
	norm("noatsign", "noatsign");
	norm("", "");

	grey_client_net(&cfg, "192.0.2.77", net, sizeof(net));
	is_str(net, "192.0.2.0", "IPv4 /24");
	grey_client_net(&cfg, "2001:db8:1:2:3::4", net, sizeof(net));
	is_str(net, "2001:db8:1:2::", "IPv6 /64");
	grey_client_net(&cfg, "::ffff:192.0.2.9", net, sizeof(net));
	is_str(net, "192.0.2.0", "mapped IPv4");
	cfg.lookup_by_host = 1;
	grey_client_net(&cfg, "192.0.2.77", net, sizeof(net));
	is_str(net, "192.0.2.77", "lookup by host");
	cfg.lookup_by_host = 0;
	is_int(grey_keys(&cfg, &f, &k), 0, "key built");
	is_str(k.triplet, "192.0.2.0/a@b.example/c@d.example",
	    "key lower-cased");
	is_str(k.shard, "192.0.2.0", "shard: the client network");
	is_str(k.client, "192.0.2.77", "client key: the address");
	f.auth_domain = "Mail.Example";
	grey_keys(&cfg, &f, &k);
	is_str(k.triplet, "spf:mail.example/a@b.example/c@d.example",
	    "SPF-authenticated domain replaces the network");
	is_str(k.client, "spf:mail.example", "and the auto-whitelist client");
	cfg.privacy = 1;
	grey_keys(&cfg, &f, &k);
	ok(strlen(k.triplet) == 40 && strspn(k.triplet,
	    "0123456789abcdef") == 40 && strlen(k.shard) == 16 &&
	    strstr(k.triplet, "example") == NULL, "privacy: hashes only (%s)",
	    k.triplet);
	is_str(k.client, "bc9bce33e7ad6a1c99af161eec5e9082a113c6f0",
	    "privacy: SHA-256 of the client key, first 160 bits");
	cfg.privacy = 0;
	f.auth_domain = NULL;
	is_int(grey_client_net(&cfg, "not-an-ip", net, sizeof(net)), -1,
	    "bad address refused");

	if (mkdtemp(dir) == NULL)
		return 1;
	if (!redis)
		spec = dir;
	st = store_open(spec, &so, &err);
	ok(st != NULL, "store opens: %s", st ? spec : err);
	if (st == NULL)
		return done_testing();

	r = decide(st, "192.0.2.10", "a@x.example", "u@y.example", t0);
	ok(r.greylisted && r.remaining == 300 && !strcmp(r.reason, "new"),
	    "new triplet greylisted for 300 s");
	verdict_init(&v);
	grey_verdict(&cfg, &f, &r, 1, &v);
	ok(v.disp == VERDICT_TEMPFAIL && v.if_permit && v.code == 450 &&
	    !strcmp(v.ecode, "4.2.0"), "DEFER_IF_PERMIT 450 4.2.0");
	is_str(v.text, "Greylisted, try again in 300 seconds (D.example)",
	    "greylist text substituted");
	verdict_free(&v);
	r = decide(st, "192.0.2.11", "a@x.example", "u@y.example", t0 + 100);
	ok(r.greylisted && r.remaining == 200 &&
	    !strcmp(r.reason, "early-retry"),
	    "retry from the same /24 before the delay: 200 s left");
	r = decide(st, "192.0.2.10", "a@x.example", "u@y.example", t0 + 301);
	ok(!r.greylisted && r.delayed_pass && r.waited == 301,
	    "retry after the delay passes, delayed 301 s");
	verdict_init(&v);
	grey_verdict(&cfg, &f, &r, 1, &v);
	ok(v.nprepend == 1 && !strcmp(v.prepend[0].name, "X-Greylist") &&
	    strstr(v.prepend[0].value, "delayed 301 seconds by "
	    "postern-greyd at mx.test; ") != NULL, "X-Greylist header: %s",
	    v.nprepend ? v.prepend[0].value : "");
	verdict_free(&v);
	r = decide(st, "192.0.2.10", "a@x.example", "u@y.example", t0 + 400);
	ok(!r.greylisted && !r.delayed_pass, "later mail: no header again");

	r = decide(st, "198.51.100.1", "a@x.example", "u@y.example", t0);
	r = decide(st, "198.51.100.1", "a@x.example", "u@y.example",
	    t0 + 3 * 86400);
	ok(r.greylisted && !strcmp(r.reason, "new"),
	    "first retry after the retry window starts over");

	/* auto-whitelist after two successful deliveries (hours apart) */
	decide(st, "203.0.113.5", "s1@x.example", "u@y.example", t0);
	decide(st, "203.0.113.5", "s1@x.example", "u@y.example", t0 + 400);
	decide(st, "203.0.113.5", "s2@x.example", "u@y.example", t0 + 4000);
	decide(st, "203.0.113.5", "s2@x.example", "u@y.example", t0 + 8000);
	r = decide(st, "203.0.113.5", "new@x.example", "u@y.example",
	    t0 + 9000);
	ok(!r.greylisted && !strcmp(r.reason, "client AWL"),
	    "client auto-whitelisted after 2 deliveries");
	r = decide(st, "203.0.113.6", "new@x.example", "u@y.example",
	    t0 + 9000);
	ok(r.greylisted, "auto-whitelist is per client address");

	r = decide(st, "192.0.2.10", "a@x.example", "u@y.example",
	    t0 + 400 + 36 * 86400);
	ok(r.greylisted && !strcmp(r.reason, "new"),
	    "unused past max-age: forgotten");

	memset(&wc, 0, sizeof(wc));
	is_int(store_walk(st, count_entry, &wc, &err), 0, "walk the store");
	ok(wc.triplets == 5 &&
	    wc.clients == 2 && wc.found, "walk: %zu triplets, %zu clients",
	    wc.triplets, wc.clients);
	is_int(store_delete(st, STORE_TRIPLET, "198.51.100.0",
	    "198.51.100.0/a@x.example/u@y.example", &err), 1,
	    "delete a triplet");
	is_int(store_delete(st, STORE_TRIPLET, "198.51.100.0",
	    "198.51.100.0/a@x.example/u@y.example", &err), 0,
	    "delete it again: absent");
	r = decide(st, "198.51.100.1", "a@x.example", "u@y.example",
	    t0 + 3 * 86400 + 1);
	ok(r.greylisted && !strcmp(r.reason, "new"), "deleted triplet: new");
	is_int(store_delete(st, STORE_CLIENT, "203.0.113.0", "203.0.113.5",
	    &err), 1,
	    "delete a client whitelist entry");

	store_close(&st);
	st = store_open(spec, &so, &err);
	r = decide(st, "192.0.2.10", "a@x.example", "u@y.example",
	    t0 + 400 + 36 * 86400 + 301);
	ok(!r.greylisted && r.delayed_pass,
	    "the store keeps triplets across a reopen");
	if (!redis)
		is_int(store_expire(st, t0 + 100 * 86400, cfg.max_age, 1000) > 0,
		    1, "expiry removes old entries");
	r = decide(st, "203.0.113.5", "new2@x.example", "u@y.example",
	    t0 + 100 * 86400);
	ok(r.greylisted, "deleted client whitelist gone");
	store_close(&st);
	{
		char cmd[64];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			ok(0, "cleanup");
	}
	return done_testing();
}
