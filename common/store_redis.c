/*
 * store_redis.c - the Redis store, for fleets of MX hosts sharing their
 *                 greylisting state: one server, Sentinel or Cluster
 *                 (routing in redis.c).
 *
 * Public: store_redis_open (the rest through store.h's operations).
 * Trust: Redis is the admin's, but what it returns is checked (types,
 *        record format); keys are bounded by the engine.
 * Errors: store.h's: -1 with a text (timeout, unreachable, refused).
 *
 * One decision is one round trip: EVALSHA of the script below, which does
 * postgrey's steps exactly as store_lmdb.c's transaction does (Redis runs
 * a script atomically, so MX hosts never race).  On NOSCRIPT (a restarted
 * or new server) the same call goes again as EVAL, which also loads it.
 * Records are the embedded store's text ("1 FIRST LAST", "1 COUNT LAST")
 * and carry a TTL of max_age, so Redis forgets old entries by itself.
 *
 * Keys: PREFIX "t:{" SHARD "}" TRIPLET and PREFIX "c:{" SHARD "}" CLIENT.
 * The shard (the client network, or the SPF-authenticated domain) is the
 * Cluster hash tag: both keys of one decision live in one slot, as a
 * script needs, and different networks spread over the masters.
 *
 * Counters (store_count_*): a bucket is one hash, PREFIX "agg:{" BUCKET
 * "}" (field: the counter key, value: the count, as HINCRBY keeps it),
 * and its applied batch ids one more, PREFIX "agg:{" BUCKET "}:ids"
 * (field SOURCE, value the last SEQ applied; see store.h): the bucket is
 * the hash tag, so both are in one Cluster slot and one script does an
 * add atomically, ids check included.  Bucket names are listed in the
 * set PREFIX "agg:buckets", added to (SADD, before the script, so a
 * bucket with counts is always listed) and removed from by drop.  On a
 * Cluster that one set lives on one node: every add and listing touches
 * it; acceptable for a few buckets per hour and policy domain.  Reads
 * use SSCAN / HSCAN in batches and drop the duplicates those may return
 * while a hash grows.
 *
 * With store_wait_replicas = N, each decision is followed by WAIT N on the
 * same connection and counts only when N replicas confirmed it, so a
 * Sentinel failover cannot lose an answer that was acted on.
 */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "redis.h"
#include "store.h"
#include "xalloc.h"

#define PREFIX_MAX 64
#define RKEY_MAX (PREFIX_MAX + 2 * STORE_KEY_MAX + 8)
#define SCAN_COUNT "1000"
#define BKEY_MAX (PREFIX_MAX + STORE_BUCKET_MAX + 16)
#define DIGEST_LEN SHA256_DIGEST_LENGTH

/* KEYS[1] triplet, KEYS[2] client; ARGV now, delay, retry_window,
 * max_age, awl_clients; returns {awl, remaining, first, last was
 * successful, client count} */
static const char grey_script[] =
"local now = tonumber(ARGV[1])\n"
"local delay = tonumber(ARGV[2])\n"
"local window = tonumber(ARGV[3])\n"
"local maxage = tonumber(ARGV[4])\n"
"local awl = tonumber(ARGV[5])\n"
"local function get(k)\n"
"  local v = redis.call('GET', k)\n"
"  if not v then return nil end\n"
"  local ver, a, b = string.match(v, '^(%d+) (%-?%d+) (%-?%d+)$')\n"
"  if ver ~= '1' then return nil end\n"
"  return tonumber(a), tonumber(b)\n"
"end\n"
"local function put(k, a, b)\n"
"  redis.call('SET', k, string.format('1 %d %d', a, b), 'EX', maxage)\n"
"end\n"
"local count, clast, chave = 0, 0, false\n"
"if awl > 0 then\n"
"  local c, l = get(KEYS[2])\n"
"  if c and now - l <= maxage then chave, count, clast = true, c, l end\n"
"  if chave and count >= awl then\n"
"    if now >= clast + 3600 or clast > now then\n"
"      count = count + 1\n"
"      put(KEYS[2], count, now)\n"
"    end\n"
"    return {1, 0, 0, 0, count}\n"
"  end\n"
"end\n"
"local first, last = get(KEYS[1])\n"
"local lws = 0\n"
"if first and now - last <= maxage then\n"
"  if last - first >= delay then lws = 1\n"
"  elseif now - first > window then first = now end\n"
"  if first > now then first = now end\n"
"else first = now end\n"
"put(KEYS[1], first, now)\n"
"local remaining = delay - (now - first)\n"
"if awl > 0 and remaining <= 0 and lws == 0 and\n"
"   ((not chave) or now >= clast + 3600) then\n"
"  count = count + 1\n"
"  put(KEYS[2], count, now)\n"
"end\n"
"return {0, remaining, first, lws, count}\n";

/* KEYS[1] the bucket's hash, KEYS[2] its applied ids; ARGV[1] SOURCE
 * ("": no id), ARGV[2] SEQ, then counter key and delta pairs.  Returns
 * 1 applied, 0 applied before (SEQ not above the last one of SOURCE).
 * Nothing is written before every check passed (a script is not rolled
 * back); an overflow saturates, a value that is not a number is not
 * ours and is replaced */
static const char count_script[] =
"for _, k in ipairs(KEYS) do\n"
"  local t = redis.call('TYPE', k)['ok']\n"
"  if t ~= 'none' and t ~= 'hash' then\n"
"    return redis.error_reply('WRONGTYPE ' .. k .. ' is not a hash')\n"
"  end\n"
"end\n"
"if ARGV[1] ~= '' then\n"
"  local last = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')\n"
"  if last and tonumber(ARGV[2]) <= last then return 0 end\n"
"end\n"
"for i = 3, #ARGV, 2 do\n"
"  local r = redis.pcall('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])\n"
"  if type(r) == 'table' and r.err then\n"
"    local v = ARGV[i + 1]\n"
"    if string.find(r.err, 'overflow', 1, true) then\n"
"      if string.sub(v, 1, 1) == '-' then v = '-9223372036854775808'\n"
"      else v = '9223372036854775807' end\n"
"    end\n"
"    redis.call('HSET', KEYS[1], ARGV[i], v)\n"
"  end\n"
"end\n"
"if ARGV[1] ~= '' then\n"
"  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])\n"
"  redis.call('PERSIST', KEYS[2])\n"
"end\n"
"return 1\n";

struct rstore {
	struct store base;	/* first: a struct store * is an rstore * */
	struct redis *r;
	char sha[41];		/* of grey_script */
	char count_sha[41];	/* of count_script */
	char prefix[PREFIX_MAX];
	unsigned timeout_ms;
	unsigned wait_replicas;
};

/* one decision under way */
struct greq {
	struct rstore *s;
	store_grey_done *cb;
	void *arg;
	long long deadline_ms;
	int phase;		/* 0 EVALSHA, 1 EVAL, 2 WAIT */
	int done, rc;		/* blocking callers wait on done */
	struct store_grey_out out;
	char err[200];
	char tkey[RKEY_MAX], ckey[RKEY_MAX];
	char nums[5][24];
};

static const struct store_ops redis_ops;

/* rkey - PREFIX KIND ":{" SHARD "}" KEY, braces in the shard made '_'
 * so the hash tag is exactly the shard; -1 if too long */
static int rkey(const struct rstore *s, char kind, const char *shard,
    const char *key, char *out, size_t outlen)
{
	int n = snprintf(out, outlen, "%s%c:{%s}%s", s->prefix, kind, shard,
	    key);
	size_t at;

	if (n < 0 || (size_t)n >= outlen)
		return -1;
	at = strlen(s->prefix) + 3;
	for (size_t i = 0; i < strlen(shard); i++)
		if (out[at + i] == '{' || out[at + i] == '}')
			out[at + i] = '_';
	return 0;
}

/* remaining_ms - time left for q, at least 1 */
static unsigned remaining_ms(const struct greq *q)
{
	long long left = q->deadline_ms - clock_ms();

	return left < 1 ? 1 : (unsigned)left;
}

/* finish - the answer to the caller; q is freed unless a caller waits */
static void finish(struct greq *q, int rc, const char *err)
{
	q->rc = rc;
	if (rc < 0 && err != q->err)
		snprintf(q->err, sizeof(q->err), "%s", err);
	if (q->cb == NULL) {
		q->done = 1;
		return;
	}
	q->cb(q->arg, rc, &q->out, rc < 0 ? q->err : NULL);
	free(q);
}

static void on_grey(void *arg, redisReply *rep, const char *err);

/* send_grey - EVALSHA (phase 0) or EVAL (phase 1) */
static void send_grey(struct greq *q)
{
	const char *argv[10];
	size_t lens[10];

	argv[0] = q->phase == 0 ? "EVALSHA" : "EVAL";
	argv[1] = q->phase == 0 ? q->s->sha : grey_script;
	argv[2] = "2";
	argv[3] = q->tkey;
	argv[4] = q->ckey;
	for (int i = 0; i < 5; i++)
		argv[5 + i] = q->nums[i];
	for (int i = 0; i < 10; i++)
		lens[i] = strlen(argv[i]);
	/* a decision run twice changes nothing more: safe to resend */
	redis_command(q->s->r, q->tkey, -1, REDIS_IDEMPOTENT,
	    remaining_ms(q), on_grey, q, 10, argv, lens);
}

/* on_wait - WAIT's count of replicas that have the update */
static void on_wait(void *arg, redisReply *rep, const char *err)
{
	struct greq *q = arg;

	if (rep == NULL) {
		finish(q, -1, err);
		return;
	}
	if (rep->type != REDIS_REPLY_INTEGER ||
	    rep->integer < (long long)q->s->wait_replicas) {
		snprintf(q->err, sizeof(q->err), "Redis: %lld of %u replicas "
		    "confirmed the update", rep->type == REDIS_REPLY_INTEGER ?
		    rep->integer : 0LL, q->s->wait_replicas);
		finish(q, -1, q->err);
		return;
	}
	finish(q, 0, NULL);
}

/* on_grey - the script's answer */
static void on_grey(void *arg, redisReply *rep, const char *err)
{
	struct greq *q = arg;
	long long v[5];

	if (rep == NULL) {
		finish(q, -1, err);
		return;
	}
	if (rep->type == REDIS_REPLY_ERROR) {
		if (q->phase == 0 && !strncmp(rep->str, "NOSCRIPT", 8)) {
			q->phase = 1;
			send_grey(q);
			return;
		}
		snprintf(q->err, sizeof(q->err), "Redis: %.150s", rep->str);
		finish(q, -1, q->err);
		return;
	}
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 5) {
		finish(q, -1, "Redis: unexpected answer to the script");
		return;
	}
	for (int i = 0; i < 5; i++) {
		if (rep->element[i]->type != REDIS_REPLY_INTEGER) {
			finish(q, -1, "Redis: unexpected answer to the script");
			return;
		}
		v[i] = rep->element[i]->integer;
	}
	q->out.awl = v[0] != 0;
	q->out.remaining = (long)v[1];
	q->out.first = (time_t)v[2];
	q->out.last_was_successful = v[3] != 0;
	q->out.awl_count = v[4] < 0 ? 0 : (unsigned)v[4];
	if (q->s->wait_replicas) {
		char n[16], ms[16];
		const char *argv[3] = { "WAIT", n, ms };
		size_t lens[3];

		snprintf(n, sizeof(n), "%u", q->s->wait_replicas);
		snprintf(ms, sizeof(ms), "%u", remaining_ms(q));
		lens[0] = 4;
		lens[1] = strlen(n);
		lens[2] = strlen(ms);
		q->phase = 2;
		/* routed by the same key: the same connection, so WAIT
		 * covers this update */
		redis_command(q->s->r, q->tkey, -1, 0, remaining_ms(q) + 50,
		    on_wait, q, 3, argv, lens);
		return;
	}
	finish(q, 0, NULL);
}

/* redis_grey - one decision; 1 pending (cb later), or blocking when cb is
 * NULL (tools) */
static int redis_grey(struct store *st, const struct store_grey_in *in,
    struct store_grey_out *out, store_grey_done *cb, void *arg,
    const char **err_r)
{
	struct rstore *s = (struct rstore *)st;
	struct greq *q = xcalloc(1, sizeof(*q));
	static __thread char err[200];

	q->s = s;
	q->cb = cb;
	q->arg = arg;
	q->deadline_ms = clock_ms() + s->timeout_ms;
	if (rkey(s, 't', in->shard, in->triplet, q->tkey,
	    sizeof(q->tkey)) < 0 ||
	    rkey(s, 'c', in->shard, in->client, q->ckey,
	    sizeof(q->ckey)) < 0) {
		free(q);
		*err_r = "store: key too long";
		return -1;
	}
	snprintf(q->nums[0], sizeof(q->nums[0]), "%lld", (long long)in->now);
	snprintf(q->nums[1], sizeof(q->nums[1]), "%u", in->delay);
	snprintf(q->nums[2], sizeof(q->nums[2]), "%u", in->retry_window);
	snprintf(q->nums[3], sizeof(q->nums[3]), "%u", in->max_age);
	snprintf(q->nums[4], sizeof(q->nums[4]), "%u", in->awl_clients);
	send_grey(q);
	if (cb)
		return 1;
	redis_wait(s->r, &q->done);
	*out = q->out;
	snprintf(err, sizeof(err), "%s", q->err);
	*err_r = err;
	{
		int rc = q->rc;

		free(q);
		return rc;
	}
}

/* --- blocking operations for the admin tool ------------------------ */

struct bwait {
	int done;
	redisReply *rep;	/* a copy we own, or NULL */
	char err[200];
};

/* copy_reply - a deep copy of a string/integer/array reply */
static redisReply *copy_reply(const redisReply *r)
{
	redisReply *c = xcalloc(1, sizeof(*c));

	c->type = r->type;
	c->integer = r->integer;
	if (r->str) {
		c->str = xmemdup(r->str, r->len + 1);
		c->len = r->len;
	}
	if (r->type == REDIS_REPLY_ARRAY && r->elements) {
		c->element = xcalloc(r->elements, sizeof(*c->element));
		c->elements = r->elements;
		for (size_t i = 0; i < r->elements; i++)
			c->element[i] = copy_reply(r->element[i]);
	}
	return c;
}

/* on_blocking - keep the reply for the waiting caller */
static void on_blocking(void *arg, redisReply *rep, const char *err)
{
	struct bwait *w = arg;

	w->done = 1;
	if (rep == NULL)
		snprintf(w->err, sizeof(w->err), "%s", err);
	else if (rep->type == REDIS_REPLY_ERROR)
		snprintf(w->err, sizeof(w->err), "Redis: %.150s", rep->str);
	else
		w->rep = copy_reply(rep);
}

/* blocking_argv - run one command (argument lengths given) and wait;
 * the reply (caller frees with freeReplyObject) or NULL with w->err */
static redisReply *blocking_argv(struct rstore *s, const char *key,
    int node, int flags, struct bwait *w, int argc, const char **argv,
    const size_t *lens)
{
	memset(w, 0, sizeof(*w));
	redis_command(s->r, key, node, flags, s->timeout_ms * 4 + 1000,
	    on_blocking, w, argc, argv, lens);
	redis_wait(s->r, &w->done);
	return w->rep;
}

/* blocking - blocking_argv of an idempotent command of C strings */
static redisReply *blocking(struct rstore *s, const char *key, int node,
    struct bwait *w, int argc, const char **argv)
{
	size_t lens[8];

	for (int i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	return blocking_argv(s, key, node, REDIS_IDEMPOTENT, w, argc, argv,
	    lens);
}

/* split_key - "PREFIX K:{SHARD}KEY" into its parts; 0 ok */
static int split_key(const struct rstore *s, const char *k,
    struct store_entry *e, char *shard, size_t shardlen)
{
	size_t pl = strlen(s->prefix);
	const char *close;

	if (strncmp(k, s->prefix, pl) != 0 || (k[pl] != 't' && k[pl] != 'c')
	    || k[pl + 1] != ':' || k[pl + 2] != '{')
		return -1;
	close = strchr(k + pl + 3, '}');
	if (close == NULL || (size_t)(close - (k + pl + 3)) >= shardlen)
		return -1;
	memcpy(shard, k + pl + 3, (size_t)(close - (k + pl + 3)));
	shard[close - (k + pl + 3)] = '\0';
	e->kind = k[pl] == 't' ? STORE_TRIPLET : STORE_CLIENT;
	e->shard = shard;
	e->key = close + 1;
	return 0;
}

/* walk_batch - GET each key of a SCAN batch; calls fn; 1 stopped */
static int walk_batch(struct rstore *s, const redisReply *keys,
    store_walk_fn *fn, void *arg)
{
	for (size_t i = 0; i < keys->elements; i++) {
		const redisReply *k = keys->element[i];
		char shard[STORE_KEY_MAX + 1];
		const char *argv[2] = { "GET", NULL };
		struct store_entry e;
		struct bwait w;
		redisReply *v;
		int stop = 0;

		if (k->type != REDIS_REPLY_STRING ||
		    split_key(s, k->str, &e, shard, sizeof(shard)) < 0)
			continue;
		argv[1] = k->str;
		v = blocking(s, k->str, -1, &w, 2, argv);
		if (v && v->type == REDIS_REPLY_STRING &&
		    store_record_parse(v->str, v->len, &e.a, &e.b))
			stop = fn(arg, &e);
		if (v)
			freeReplyObject(v);
		if (stop)
			return 1;
	}
	return 0;
}

/* redis_walk - SCAN every master for our keys */
static int redis_walk(struct store *st, store_walk_fn *fn, void *arg,
    const char **err_r)
{
	struct rstore *s = (struct rstore *)st;
	static __thread char err[200];
	char match[PREFIX_MAX + 4];
	int masters = redis_masters(s->r, s->timeout_ms * 4 + 1000, err_r);

	if (masters < 0)
		return -1;
	snprintf(match, sizeof(match), "%s*", s->prefix);
	for (int m = 0; m < masters; m++) {
		char cursor[32] = "0";

		do {
			const char *argv[6] = { "SCAN", cursor, "MATCH", match,
				"COUNT", SCAN_COUNT };
			struct bwait w;
			redisReply *rep = blocking(s, NULL, m, &w, 6, argv);
			int stop;

			if (rep == NULL || rep->type != REDIS_REPLY_ARRAY ||
			    rep->elements != 2 ||
			    rep->element[0]->type != REDIS_REPLY_STRING ||
			    rep->element[1]->type != REDIS_REPLY_ARRAY) {
				snprintf(err, sizeof(err), "%s", rep ?
				    "Redis: unexpected SCAN answer" : w.err);
				if (rep)
					freeReplyObject(rep);
				*err_r = err;
				return -1;
			}
			snprintf(cursor, sizeof(cursor), "%s",
			    rep->element[0]->str);
			stop = walk_batch(s, rep->element[1], fn, arg);
			freeReplyObject(rep);
			if (stop)
				return 0;
		} while (strcmp(cursor, "0") != 0);
	}
	return 0;
}

/* redis_del - DEL one key; 1 removed, 0 absent */
static int redis_del(struct store *st, enum store_entry_kind kind,
    const char *shard, const char *key, const char **err_r)
{
	struct rstore *s = (struct rstore *)st;
	static __thread char err[200];
	char k[RKEY_MAX];
	const char *argv[2] = { "DEL", k };
	struct bwait w;
	redisReply *rep;
	int rc;

	if (rkey(s, kind == STORE_TRIPLET ? 't' : 'c', shard, key, k,
	    sizeof(k)) < 0) {
		*err_r = "store: key too long";
		return -1;
	}
	rep = blocking(s, k, -1, &w, 2, argv);
	if (rep == NULL) {
		snprintf(err, sizeof(err), "%s", w.err);
		*err_r = err;
		return -1;
	}
	rc = rep->type == REDIS_REPLY_INTEGER && rep->integer > 0;
	freeReplyObject(rep);
	return rc;
}

/* --- counters ------------------------------------------------------ */

/* bkey - PREFIX "agg:{" BUCKET "}" SUFFIX (bucket checked by store.c:
 * no braces) */
static void bkey(const struct rstore *s, const char *bucket,
    const char *suffix, char *out, size_t outlen)
{
	snprintf(out, outlen, "%sagg:{%s}%s", s->prefix, bucket, suffix);
}

/* set_err - a per-thread copy of a failed call's text */
static int set_err(const struct bwait *w, const char **err_r)
{
	static __thread char err[200];

	snprintf(err, sizeof(err), "%s", w->err[0] ? w->err :
	    "Redis: unexpected answer");
	*err_r = err;
	return -1;
}

/* integer_cmd - a command answered by an integer, into *v_r; 0 ok */
static int integer_cmd(struct rstore *s, const char *key, int argc,
    const char **argv, long long *v_r, const char **err_r)
{
	struct bwait w;
	redisReply *rep = blocking(s, key, -1, &w, argc, argv);

	if (rep == NULL || rep->type != REDIS_REPLY_INTEGER) {
		if (rep)
			freeReplyObject(rep);
		return set_err(&w, err_r);
	}
	*v_r = rep->integer;
	freeReplyObject(rep);
	return 0;
}

/* wait_replicas - WAIT on the connection of key's node (see the file
 * comment); 0 when enough replicas have the writes */
static int wait_replicas(struct rstore *s, const char *key,
    const char **err_r)
{
	static __thread char err[120];
	char n[16], ms[16];
	const char *argv[3] = { "WAIT", n, ms };
	long long got;

	snprintf(n, sizeof(n), "%u", s->wait_replicas);
	snprintf(ms, sizeof(ms), "%u", s->timeout_ms);
	if (integer_cmd(s, key, 3, argv, &got, err_r) < 0)
		return -1;
	if (got < (long long)s->wait_replicas) {
		snprintf(err, sizeof(err), "Redis: %lld of %u replicas "
		    "confirmed the update", got, s->wait_replicas);
		*err_r = err;
		return -1;
	}
	return 0;
}

/* redis_count_add - SADD the bucket's name, then the script (EVALSHA,
 * EVAL on NOSCRIPT); with an id it is safe to send again */
static int redis_count_add(struct store *st, const char *bucket,
    const char *id, const char *const *keys, const long long *deltas,
    size_t n, const char **err_r)
{
	struct rstore *s = (struct rstore *)st;
	char hk[BKEY_MAX], ik[BKEY_MAX], setk[BKEY_MAX];
	const char *sadd[3] = { "SADD", setk, bucket };
	int argc = 7 + 2 * (int)n, rc = -1;
	const char **argv = xcalloc((size_t)argc, sizeof(*argv));
	size_t *lens = xcalloc((size_t)argc, sizeof(*lens));
	char (*nums)[24] = xcalloc(n, sizeof(*nums));
	char source[STORE_COUNT_SOURCE_MAX + 1] = "", seq[24] = "0";
	long long added;
	struct bwait w;
	redisReply *rep = NULL;

	if (id != NULL) {
		const char *colon = strchr(id, ':');

		snprintf(source, sizeof(source), "%.*s", (int)(colon - id),
		    id);
		snprintf(seq, sizeof(seq), "%s", colon + 1);
	}
	bkey(s, bucket, "", hk, sizeof(hk));
	bkey(s, bucket, ":ids", ik, sizeof(ik));
	snprintf(setk, sizeof(setk), "%sagg:buckets", s->prefix);
	if (integer_cmd(s, setk, 3, sadd, &added, err_r) < 0)
		goto out;
	argv[0] = "EVALSHA";
	argv[1] = s->count_sha;
	argv[2] = "2";
	argv[3] = hk;
	argv[4] = ik;
	argv[5] = source;
	argv[6] = seq;
	for (size_t i = 0; i < n; i++) {
		snprintf(nums[i], sizeof(nums[i]), "%lld", deltas[i]);
		argv[7 + 2 * i] = keys[i];
		argv[8 + 2 * i] = nums[i];
	}
	for (int i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	/* without an id a resent add could count twice: not idempotent */
	rep = blocking_argv(s, hk, -1, id ? REDIS_IDEMPOTENT : 0, &w, argc,
	    argv, lens);
	if (rep == NULL && strncmp(w.err, "Redis: NOSCRIPT", 15) == 0) {
		argv[0] = "EVAL";
		argv[1] = count_script;
		lens[0] = 4;
		lens[1] = strlen(count_script);
		rep = blocking_argv(s, hk, -1, id ? REDIS_IDEMPOTENT : 0, &w,
		    argc, argv, lens);
	}
	if (rep == NULL || rep->type != REDIS_REPLY_INTEGER) {
		set_err(&w, err_r);
		goto out;
	}
	if (s->wait_replicas && wait_replicas(s, hk, err_r) < 0)
		goto out;
	rc = 0;
out:
	if (rep)
		freeReplyObject(rep);
	free(argv);
	free(lens);
	free(nums);
	return rc;
}

/* the digests of what a SCAN returned so far: it may return an element
 * twice */
struct seen {
	unsigned char (*d)[DIGEST_LEN];
	unsigned char *used;
	size_t cap, n;
};

/* seen_add - 1 if s was not seen before (and is now), 0 if it was */
static int seen_add(struct seen *t, const char *str, size_t len)
{
	unsigned char d[DIGEST_LEN];
	size_t i;

	if ((t->n + 1) * 2 > t->cap) {
		struct seen old = *t;

		t->cap = old.cap ? old.cap * 2 : 256;
		t->d = xcalloc(t->cap, DIGEST_LEN);
		t->used = xcalloc(t->cap, 1);
		t->n = 0;
		for (size_t j = 0; j < old.cap; j++) {
			if (!old.used[j])
				continue;
			memcpy(&i, old.d[j], sizeof(i));
			for (i &= t->cap - 1; t->used[i]; i = (i + 1) &
			    (t->cap - 1))
				;
			t->used[i] = 1;
			memcpy(t->d[i], old.d[j], DIGEST_LEN);
			t->n++;
		}
		free(old.d);
		free(old.used);
	}
	SHA256((const unsigned char *)str, len, d);
	memcpy(&i, d, sizeof(i));
	for (i &= t->cap - 1; t->used[i]; i = (i + 1) & (t->cap - 1))
		if (memcmp(t->d[i], d, DIGEST_LEN) == 0)
			return 0;
	t->used[i] = 1;
	memcpy(t->d[i], d, DIGEST_LEN);
	t->n++;
	return 1;
}

/* seen_free - release the digests */
static void seen_free(struct seen *t)
{
	free(t->d);
	free(t->used);
	memset(t, 0, sizeof(*t));
}

/* scan_page - one SSCAN/HSCAN call: the reply with its batch checked, the
 * next cursor in cursor; NULL with *err_r */
static redisReply *scan_page(struct rstore *s, const char *cmd,
    const char *key, char *cursor, size_t cursorlen, const char **err_r)
{
	const char *argv[5] = { cmd, key, cursor, "COUNT", SCAN_COUNT };
	struct bwait w;
	redisReply *rep = blocking(s, key, -1, &w, 5, argv);

	if (rep == NULL || rep->type != REDIS_REPLY_ARRAY ||
	    rep->elements != 2 ||
	    rep->element[0]->type != REDIS_REPLY_STRING ||
	    rep->element[1]->type != REDIS_REPLY_ARRAY) {
		if (rep) {
			freeReplyObject(rep);
			snprintf(w.err, sizeof(w.err), "Redis: unexpected %s "
			    "answer", cmd);
		}
		set_err(&w, err_r);
		return NULL;
	}
	snprintf(cursor, cursorlen, "%s", rep->element[0]->str);
	return rep;
}

/* redis_count_buckets - SSCAN the set of bucket names */
static int redis_count_buckets(struct store *st, store_bucket_fn *fn,
    void *arg, const char **err_r)
{
	struct rstore *s = (struct rstore *)st;
	char setk[BKEY_MAX], cursor[32] = "0";
	struct seen seen = { 0 };

	snprintf(setk, sizeof(setk), "%sagg:buckets", s->prefix);
	do {
		redisReply *rep = scan_page(s, "SSCAN", setk, cursor,
		    sizeof(cursor), err_r);
		const redisReply *a;
		int stop = 0;

		if (rep == NULL) {
			seen_free(&seen);
			return -1;
		}
		a = rep->element[1];
		for (size_t i = 0; i < a->elements && !stop; i++) {
			const redisReply *e = a->element[i];

			/* a name that is not one of ours is not ours */
			if (e->type != REDIS_REPLY_STRING ||
			    strlen(e->str) != e->len ||
			    !store_bucket_valid(e->str) ||
			    !seen_add(&seen, e->str, e->len))
				continue;
			stop = fn(arg, e->str);
		}
		freeReplyObject(rep);
		if (stop)
			break;
	} while (strcmp(cursor, "0") != 0);
	seen_free(&seen);
	return 0;
}

/* count_value - a hash value as a count; 0 ok */
static int count_value(const redisReply *v, long long *count_r)
{
	char *end;

	if (v->type != REDIS_REPLY_STRING || v->len == 0 || v->len > 20 ||
	    (v->str[0] != '-' && (v->str[0] < '0' || v->str[0] > '9')))
		return -1;
	errno = 0;
	*count_r = strtoll(v->str, &end, 10);
	return errno != 0 || *end != '\0' ? -1 : 0;
}

/* redis_count_read - HSCAN the bucket's hash */
static int redis_count_read(struct store *st, const char *bucket,
    store_count_fn *fn, void *arg, const char **err_r)
{
	struct rstore *s = (struct rstore *)st;
	char hk[BKEY_MAX], cursor[32] = "0";
	struct seen seen = { 0 };
	size_t skipped = 0;
	int stop = 0;

	bkey(s, bucket, "", hk, sizeof(hk));
	do {
		redisReply *rep = scan_page(s, "HSCAN", hk, cursor,
		    sizeof(cursor), err_r);
		const redisReply *a;

		if (rep == NULL) {
			seen_free(&seen);
			return -1;
		}
		a = rep->element[1];
		for (size_t i = 0; i + 1 < a->elements && !stop; i += 2) {
			const redisReply *k = a->element[i];
			long long count;

			if (k->type != REDIS_REPLY_STRING || k->len == 0 ||
			    k->len > STORE_COUNTER_KEY_MAX ||
			    count_value(a->element[i + 1], &count) < 0) {
				skipped++;
				continue;
			}
			if (seen_add(&seen, k->str, k->len))
				stop = fn(arg, k->str, k->len, count);
		}
		freeReplyObject(rep);
	} while (!stop && strcmp(cursor, "0") != 0);
	seen_free(&seen);
	if (skipped)
		log_warn("store: bucket %s: %zu counters not ours skipped",
		    bucket, skipped);
	return 0;
}

/* redis_count_drop - DEL the hash (its applied ids expire later, so a
 * late retry is still recognized), SREM the name; a flush that raced
 * and wrote the hash again gets its name back */
static int redis_count_drop(struct store *st, const char *bucket,
    const char **err_r)
{
	struct rstore *s = (struct rstore *)st;
	char hk[BKEY_MAX], ik[BKEY_MAX], setk[BKEY_MAX], ttl[16];
	const char *del[2] = { "DEL", hk };
	const char *expire[3] = { "EXPIRE", ik, ttl };
	const char *srem[3] = { "SREM", setk, bucket };
	const char *exists[2] = { "EXISTS", hk };
	const char *sadd[3] = { "SADD", setk, bucket };
	long long v;

	bkey(s, bucket, "", hk, sizeof(hk));
	bkey(s, bucket, ":ids", ik, sizeof(ik));
	snprintf(setk, sizeof(setk), "%sagg:buckets", s->prefix);
	snprintf(ttl, sizeof(ttl), "%d", STORE_COUNT_IDS_TTL);
	if (integer_cmd(s, hk, 2, del, &v, err_r) < 0 ||
	    integer_cmd(s, ik, 3, expire, &v, err_r) < 0 ||
	    integer_cmd(s, setk, 3, srem, &v, err_r) < 0 ||
	    integer_cmd(s, hk, 2, exists, &v, err_r) < 0)
		return -1;
	if (v > 0 && integer_cmd(s, setk, 3, sadd, &v, err_r) < 0)
		return -1;
	return 0;
}

/* redis_describe_store - the URL without its password */
static void redis_describe_store(const struct store *st, char *out,
    size_t outlen)
{
	redis_describe(((const struct rstore *)st)->r, out, outlen);
}

/* redis_close - pending decisions end with an error, links close */
static void redis_close(struct store *st)
{
	struct rstore *s = (struct rstore *)st;

	redis_free(&s->r);
	free(s);
}

/* store_redis_open - a client for spec; connects in the background, so
 * a Redis down at start-up is not fatal (store_on_error applies) */
struct store *store_redis_open(const char *spec, const struct store_opts *o,
    const char **err_r)
{
	struct rstore *s = xcalloc(1, sizeof(*s));
	struct redis_opts ro = { o->base, o->connect_timeout_ms, "store" };
	unsigned char md[SHA_DIGEST_LENGTH];
	const char *prefix = o->prefix ? o->prefix : "pg:";

	if (strlen(prefix) >= sizeof(s->prefix) || strpbrk(prefix, "{}*?[]")) {
		free(s);
		*err_r = "store_prefix: at most 63 bytes, no braces or glob "
		    "characters";
		return NULL;
	}
	s->base.ops = &redis_ops;
	snprintf(s->prefix, sizeof(s->prefix), "%s", prefix);
	s->timeout_ms = o->timeout_ms ? o->timeout_ms : 250;
	s->wait_replicas = o->wait_replicas;
	SHA1((const unsigned char *)grey_script, strlen(grey_script), md);
	for (int i = 0; i < SHA_DIGEST_LENGTH; i++)
		snprintf(s->sha + 2 * i, 3, "%02x", md[i]);
	SHA1((const unsigned char *)count_script, strlen(count_script), md);
	for (int i = 0; i < SHA_DIGEST_LENGTH; i++)
		snprintf(s->count_sha + 2 * i, 3, "%02x", md[i]);
	if ((s->r = redis_new(spec, &ro, err_r)) == NULL) {
		free(s);
		return NULL;
	}
	return &s->base;
}

static const struct store_ops redis_ops = {
	.kind = "redis",
	.close = redis_close,
	.describe = redis_describe_store,
	.grey = redis_grey,
	.walk = redis_walk,
	.del = redis_del,
	.count_add = redis_count_add,
	.count_buckets = redis_count_buckets,
	.count_read = redis_count_read,
	.count_drop = redis_count_drop,
};
