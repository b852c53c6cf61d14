#!/usr/bin/python3
# grey-redis.t - the greylisting engine's own test (t/grey_t: postgrey's
# decisions, auto-whitelisting, max-age, walk and delete, reopen) run
# against the Redis store, through every way of reaching Redis: TCP,
# a password, an ACL user, a unix socket, Sentinel and a 3-master Cluster.
# The same program runs against the embedded store in t/grey_t itself, so
# both stores pass one suite.  Real redis-server instances on 127.0.0.1.
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import postern_test as pt                                      # noqa: E402
from postern_test import ok, is_, section                      # noqa: E402
import redis_servers as rs                                     # noqa: E402

GREY_T = os.path.join(pt.top_builddir(), "t", "grey_t")
if not os.access(GREY_T, os.X_OK):
    pt.skip_all("t/grey_t not built")
if not rs.have_redis():
    pt.skip_all("redis-server/redis-cli (7.0 or later) not installed")

tmp = pt.tmpdir()


def run_suite(url, what, servers=()):
    """Run grey_t against url (after emptying servers); one test result,
    failures as diagnostics."""
    for srv in servers:
        srv.command("FLUSHALL")
    env = dict(os.environ, POSTERN_TEST_STORE=url)
    p = subprocess.run([GREY_T], env=env, capture_output=True, text=True,
                       timeout=120)
    out = p.stdout + p.stderr
    bad = [l for l in out.splitlines() if l.startswith("not ok")]
    plan = re.search(r"^1\.\.(\d+)", out, re.M)
    ran = len(re.findall(r"^ok ", out, re.M))
    ok(p.returncode == 0 and not bad and plan and ran == int(plan.group(1))
       and ran > 30, "%s: grey_t %d/%s" % (what, ran,
                                            plan.group(1) if plan else "?"))
    for l in bad:
        pt.diag(l)
    if p.returncode != 0 and not bad:
        pt.diag(out[-2000:])
    return out


def keys(server, pattern="t:*"):
    return server.command("KEYS", pattern)


with section("one server over TCP"):
    s = rs.RedisServer(tmp)
    run_suite(s.url, "redis://")
    k = keys(s)
    ok(any(re.match(r"^t:t:\{192\.0\.2\.0\}", x) for x in k),
       "triplet keys carry the client network as hash tag")
    ttl = s.command("TTL", [x for x in k if x.startswith("t:t:")][0])
    ok(0 < ttl <= 35 * 86400, "keys expire by themselves (TTL %s)" % ttl)
    s.command("SCRIPT", "FLUSH")
    run_suite(s.url, "after SCRIPT FLUSH (NOSCRIPT, then EVAL)", [s])
    s.stop()

with section("password and ACL user"):
    s = rs.RedisServer(tmp, password="s3cret:/@x")
    run_suite("redis://:s3cret%%3A%%2F%%40x@127.0.0.1:%d" % s.port,
              "password (percent-encoded)")
    bad = subprocess.run([GREY_T], env=dict(
        os.environ, POSTERN_TEST_STORE="redis://:wrong@127.0.0.1:%d/0" %
        s.port), capture_output=True, text=True, timeout=60)
    ok(bad.returncode != 0 and "s3cret" not in bad.stdout + bad.stderr,
       "a wrong password fails (and no password is printed)")
    s.stop()
    a = rs.RedisServer(tmp, acl_user=("greyd", "pw"))
    run_suite("redis://greyd:pw@127.0.0.1:%d/3" % a.port, "ACL user, db 3")
    is_(a.command("SELECT", "3") and len(a.command("KEYS", "t:*")) > 0,
        True, "keys went to database 3")
    a.stop()

with section("unix socket"):
    u = rs.RedisServer(tmp, unixsocket=True, password="pw")
    run_suite("redis+unix:%s?password=pw&db=2" % u.unix_path,
              "redis+unix:")
    u.stop()

with section("Sentinel"):
    st = rs.RedisSentinelSetup(tmp)
    run_suite(st.url, "redis+sentinel://")
    ok(len(st.master.command("KEYS", "t:*")) > 0, "data on the master")
    st.stop()

with section("Cluster"):
    c = rs.RedisCluster(tmp, masters=3)
    run_suite(c.url, "redis+cluster://")
    per_node = [len(n.command("KEYS", "t:*")) for n in c.nodes]
    ok(sum(1 for n in per_node if n) >= 2,
       "keys spread over the masters by hash tag: %s" % per_node)
    # only one seed given: the rest is learnt from CLUSTER SLOTS
    run_suite("redis+cluster://127.0.0.1:%d" % c.nodes[1].port,
              "one seed node", c.nodes)
    c.stop()

pt.done()
