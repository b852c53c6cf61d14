#!/usr/bin/python3
# dmarc-agg-redis.t - the store's counters and the DMARC aggregate
# counting over them (t/dmarc_agg_t, which runs on the embedded store in
# make check) against real redis-server instances on 127.0.0.1: one
# server, after SCRIPT FLUSH (NOSCRIPT, then EVAL), and a 3-master
# Cluster (buckets spread by hash tag).  Then what only Redis can show:
# the key layout; data in a bucket that is not ours (skipped, replaced,
# or refused without writing anything); Redis stopped between two
# flushes and started again, then asleep (DEBUG SLEEP) during one: the
# counts wait in memory and arrive exactly once.
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import postern_test as pt                                      # noqa: E402
from postern_test import ok, is_, section                      # noqa: E402
import redis_servers as rs                                     # noqa: E402

AGG_T = os.path.join(pt.top_builddir(), "t", "dmarc_agg_t")
if not os.access(AGG_T, os.X_OK):
    pt.skip_all("t/dmarc_agg_t not built")
if not rs.have_redis():
    pt.skip_all("redis-server/redis-cli (7.0 or later) not installed")

tmp = pt.tmpdir()


def run_suite(url, what, servers=()):
    """Run dmarc_agg_t against url (after emptying servers); one test
    result, failures as diagnostics."""
    for srv in servers:
        srv.command("FLUSHALL")
    env = dict(os.environ, POSTERN_TEST_STORE=url)
    p = subprocess.run([AGG_T], env=env, capture_output=True, text=True,
                       timeout=300)
    out = p.stdout + p.stderr
    bad = [l for l in out.splitlines() if l.startswith("not ok")]
    plan = re.search(r"^1\.\.(\d+)", out, re.M)
    ran = len(re.findall(r"^ok ", out, re.M))
    ok(p.returncode == 0 and not bad and plan and ran == int(plan.group(1))
       and ran > 50, "%s: dmarc_agg_t %d/%s" % (what, ran,
                                                plan.group(1) if plan else "?"))
    for l in bad:
        pt.diag(l)
    if p.returncode != 0 and not bad:
        pt.diag(out[-2000:])
    return out


def tool(url, *args):
    """dmarc_agg_t's command mode: (exit code, stdout, stderr)."""
    p = subprocess.run([AGG_T] + list(args),
                       env=dict(os.environ, POSTERN_TEST_STORE=url),
                       capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


with section("one server"):
    s = rs.RedisServer(tmp)
    run_suite(s.url, "redis://")
    is_(s.command("TYPE", "t:agg:{kept}"), "hash",
        "a bucket is the hash t:agg:{BUCKET}")
    is_(s.command("HGET", "t:agg:{kept}", "k"), "42", "  counter = field")
    is_(s.command("SMEMBERS", "t:agg:buckets"), ["kept"],
        "names listed in t:agg:buckets (all others dropped)")
    is_(s.command("HGET", "t:agg:{once}:ids", "src-a"), "2",
        "applied ids: t:agg:{BUCKET}:ids, last SEQ per SOURCE")
    ttl = s.command("TTL", "t:agg:{once}:ids")
    ok(0 < ttl <= 7 * 86400, "  kept for a while after a drop (TTL %s)" %
       ttl)
    is_(s.command("TTL", "t:agg:{kept}"), -1, "counters do not expire")

    s.command("SCRIPT", "FLUSH")
    run_suite(s.url, "after SCRIPT FLUSH (NOSCRIPT, then EVAL)", [s])

    # data in a bucket that is not ours
    s.command("FLUSHALL")
    s.command("HSET", "t:agg:{x}", "good", "5", "bad", "five",
              "big", "1" * 30)
    rc, out, err = tool(s.url, "dump", "x")
    is_((rc, out), (0, "5\tgood\n"),
        "read: values that are not counts are skipped")
    rc, out, err = tool(s.url, "add", "x", "bad", "3")
    rc2, out, err = tool(s.url, "dump", "x")
    ok(rc == 0 and "3\tbad\n" in out,
       "add over a value that is not a count replaces it")
    s.command("SET", "t:agg:{y}", "a string")
    rc, out, err = tool(s.url, "add", "y", "k", "3")
    ok(rc != 0, "add to a bucket key of another type fails")
    is_(s.command("SISMEMBER", "t:agg:buckets", "y"), 1,
        "  (its name was listed first)")
    is_(s.command("GET", "t:agg:{y}"), "a string", "  and it is untouched")
    s.command("SET", "t:agg:{z}:ids", "a string")
    rc, out, err = tool(s.url, "add", "z", "k", "3")
    ok(rc != 0 and s.command("EXISTS", "t:agg:{z}") == 0,
       "an ids key of another type: the add fails, nothing written")
    s.stop()

with section("Redis stopped, restarted, paused between flushes"):
    # dmarc_agg_t's sync mode prints "# SYNC stop|start|pause" and waits
    # for a line once we have done it; the AOF keeps the data over a
    # restart
    s = rs.RedisServer(tmp, appendonly=True)
    p = subprocess.Popen([AGG_T], env=dict(os.environ,
                                           POSTERN_TEST_STORE=s.url,
                                           POSTERN_TEST_SYNC="1"),
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    out = []
    sleeper = None
    for line in p.stdout:
        out.append(line)
        m = re.match(r"^# SYNC (\w+)", line)
        if not m:
            continue
        if m.group(1) == "stop":
            s.stop()
        elif m.group(1) == "start":
            s.start()
        elif m.group(1) == "pause":
            sleeper = s.pause(3.5)
        p.stdin.write("go\n")
        p.stdin.flush()
    rc = p.wait(timeout=120)
    if sleeper is not None:
        sleeper.join(10)
    text = "".join(out)
    bad = [l for l in out if l.startswith("not ok")]
    ran = len(re.findall(r"^ok ", text, re.M))
    plan = re.search(r"^1\.\.(\d+)", text, re.M)
    ok(rc == 0 and not bad and plan and ran == int(plan.group(1)) and
       ran == 7, "counts kept while Redis is down or asleep, stored "
       "exactly once after (%d/%s)" % (ran, plan.group(1) if plan else "?"))
    for l in out:
        if l.startswith(("ok ", "not ok ")):
            pt.diag(l.rstrip())
    s.stop()

with section("Cluster"):
    c = rs.RedisCluster(tmp, masters=3)
    run_suite(c.url, "redis+cluster://")
    for i in range(12):
        tool(c.url, "add", "spread%d" % i, "k", "1")
    per_node = [len(n.command("KEYS", "t:agg:{spread*")) for n in c.nodes]
    ok(sum(per_node) == 12 and sum(1 for n in per_node if n) >= 2,
       "bucket hashes spread over the masters by hash tag: %s" % per_node)
    node = c.node_for_key("t:agg:{spread3}")
    is_(node.command("HGET", "t:agg:{spread3}", "k"), "1",
        "  on the master of the bucket's slot")
    c.stop()

pt.done()
