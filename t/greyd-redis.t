#!/usr/bin/python3
# greyd-redis.t - postern-greyd on Redis, with real redis-server instances
# on 127.0.0.1: two daemons sharing one Redis see each other's triplets;
# Redis killed, then paused: fail-open (or tempfail) within store_timeout,
# and decisions resume when Redis is back, without a restart; a Sentinel
# failover and a Cluster resharding (with a half-migrated slot: ASK) under
# load: every answer stays right and no acknowledged triplet is lost.
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import postern_test as pt                                      # noqa: E402
from postern_test import ok, is_, like, section                # noqa: E402
import redis_servers as rs                                     # noqa: E402

GREYD = os.path.join(pt.top_builddir(), "policyd", "postern-greyd")
if not os.access(GREYD, os.X_OK):
    pt.skip_all("postern-greyd not built")
if not rs.have_redis():
    pt.skip_all("redis-server/redis-cli (7.0 or later) not installed")

tmp = pt.tmpdir()
DELAY = 3


def start(name, store, extra=()):
    port = pt.free_port()
    argv = [GREYD, "-f", "-c", tmp.file("%s.conf" % name, ""),
            "-o", "listen=inet:127.0.0.1:%d" % port,
            "-o", "store=%s" % store, "-o", "delay=%ds" % DELAY,
            "-o", "whitelist_clients=", "-o", "whitelist_recipients=",
            "-o", "greylist_by_spf_domain=no",
            "-o", "hostname=mx.test"] + list(extra)
    d = pt.Daemon(argv, ready=("tcp", port), name=name, tmp=tmp)
    d.addr = "inet:127.0.0.1:%d" % port
    return d


def ask(d, i, ip=None, conn=None, timeout=30.0):
    """The action for triplet number i (its own sender and recipient)."""
    return pt.policy_query(d.addr, pt.policy_request(
        client_address=ip or "10.%d.%d.1" % (i // 250 % 250, i % 250),
        client_name="mail%d.example.com" % i,
        sender="s%d@sender.example" % i, recipient="r%d@example.net" % i),
        conn=conn, timeout=timeout).get("action", "")


def greylisted(a):
    return a.startswith("DEFER_IF_PERMIT 4.2.0 Greylisted")


def passed(a):
    return a == "DUNNO" or a.startswith("PREPEND X-Greylist")


def logged(d, regex, t=5):
    return pt.wait_until(lambda: re.search(regex, d.log_text()), t)


with section("two daemons share one Redis"):
    r = rs.RedisServer(tmp, password="pw-Secret")
    a = start("mx-a", r.url)
    b = start("mx-b", r.url)
    ok(greylisted(ask(a, 1)), "MX A: new triplet greylisted")
    time.sleep(1.1)
    ok(greylisted(ask(b, 1)), "MX B: same triplet, early retry: still "
       "greylisted (it knows A's triplet)")
    ok(logged(b, r"action=greylist, reason=early-retry"),
       "MX B logs an early retry, not a new triplet")
    time.sleep(DELAY - 1 + 0.2)
    like(ask(b, 1), r"^PREPEND X-Greylist: delayed [3-5] seconds",
         "MX B: retry after the delay passes with X-Greylist")
    is_(ask(a, 1), "DUNNO", "MX A: the triplet is known as passed")
    keys = r.command("KEYS", "pg:*")
    ok(keys and all(re.match(r"^pg:[tc]:\{[^}]+\}", k) for k in keys),
       "keys: pg:t:{net}... / pg:c:{net}... (%d)" % len(keys))
    ok("pw-Secret" not in a.log_text() + b.log_text(),
       "the password is never logged")

with section("Redis killed: fail-open, then recovery"):
    c = start("mx-c", r.url, ["-o", "store_on_error=tempfail",
                              "-o", "store_timeout=300ms"])
    r.kill9()
    t0 = time.monotonic()
    act = ask(a, 2)
    dt = time.monotonic() - t0
    is_(act, "DUNNO", "store down, store_on_error=accept: mail goes on")
    ok(dt < 0.5, "answered in %.3f s (bounded)" % dt)
    ok(logged(a, r"store error.*accepting"), "warning logged")
    like(ask(c, 2), r"^451 4\.3\.0 ", "store_on_error=tempfail: deferred")
    times = []
    for i in range(20):
        t0 = time.monotonic()
        ask(a, 100 + i)
        times.append(time.monotonic() - t0)
    ok(max(times) < 0.5, "20 more requests while down: slowest %.3f s" %
       max(times))
    r.restart()
    ok(pt.wait_until(lambda: greylisted(ask(a, 3)), 10, 0.2),
       "Redis back (same address): decisions resume, no restart")
    ok(logged(a, r"redis 127\.0\.0\.1:%d: connected" % r.port),
       "reconnection logged")

with section("Redis paused: bounded delay"):
    r.pause(2.0)
    t0 = time.monotonic()
    act = ask(a, 4)
    dt = time.monotonic() - t0
    is_(act, "DUNNO", "slow store: fail-open")
    ok(dt < 0.6, "answered after %.3f s (store_timeout 250ms)" % dt)
    time.sleep(2.2)
    ok(pt.wait_until(lambda: greylisted(ask(a, 5)), 5, 0.2),
       "after the pause: greylisting again")
    a.stop()
    b.stop()
    c.stop()
    r.stop()


def load(d, start_i, n, results, stop):
    """Ask triplets start_i.. in a loop until stop; record answers."""
    conn = pt.PolicyClient(d.addr, 30)
    i = start_i
    try:
        while not stop.is_set() and i < start_i + n:
            try:
                results.append((i, ask(d, i, conn=conn)))
            except pt.HarnessError:
                conn = pt.PolicyClient(d.addr, 30)
                continue
            i += 1
    finally:
        conn.close()


def check_round(d, first, n, what):
    """Retry triplets first..first+n after the delay: all must pass."""
    bad = [i for i in range(first, first + n) if not passed(ask(d, i))]
    is_(bad[:10], [], "%s: every acknowledged triplet passes after its "
        "delay (%d checked)" % (what, n))


with section("Sentinel failover"):
    st = rs.RedisSentinelSetup(tmp)
    d = start("mx-s", st.url, ["-o", "store_wait_replicas=1",
                               "-o", "store_timeout=5s",
                               "-o", "store_on_error=tempfail"])
    acked = [i for i in range(1000, 1200) if greylisted(ask(d, i))]
    is_(len(acked), 200, "200 triplets greylisted via the master")
    results, stop = [], threading.Event()
    th = threading.Thread(target=load, args=(d, 2000, 100000, results,
                                             stop))
    th.start()
    time.sleep(0.3)
    old = st.master.port
    new = st.failover()
    time.sleep(1.0)
    stop.set()
    th.join(30)
    ok(new != old, "failover: master %d -> %d" % (old, new))
    wrong = [x for x in results if not greylisted(x[1]) and
             not x[1].startswith("451 4.3.0")]
    is_(wrong[:5], [], "%d requests during the failover: each greylisted "
        "(or deferred while no master answered), none let through" %
        len(results))
    load_acked = [i for i, act in results if greylisted(act)]
    ok(len(load_acked) > 20, "%d acknowledged during the failover" %
       len(load_acked))
    ok(logged(d, r"sentinel: master mymaster is 127\.0\.0\.1:%d" % new),
       "the new master was followed")
    time.sleep(DELAY + 0.2)
    check_round(d, 1000, 200, "before the failover")
    bad = [i for i in load_acked if not passed(ask(d, i))]
    is_(bad[:10], [], "during the failover: every acknowledged triplet "
        "passes after its delay (%d checked)" % len(load_acked))
    ok(len(st.master.command("KEYS", "pg:t:*")) >= 200 + len(load_acked),
       "the new master holds them")
    d.stop()
    st.stop()

with section("Cluster resharding"):
    cl = rs.RedisCluster(tmp, masters=3)
    d = start("mx-k", cl.url, ["-o", "store_timeout=3s",
                               "-o", "store_on_error=tempfail"])
    acked = [i for i in range(3000, 3300) if greylisted(ask(d, i))]
    is_(len(acked), 300, "300 triplets over 3 masters")
    # move the slot of one client network while a request waits on it
    key = [k for k in cl.nodes[0].command("KEYS", "pg:t:*") +
           cl.nodes[1].command("KEYS", "pg:t:*")][0]
    slot = cl.slot_of(key)
    src = cl.node_for_slot(slot)
    dst = [n for n in cl.nodes if n is not src][0]
    net = re.match(r"pg:t:\{([^}]*)\}", key).group(1)
    cl.migrate_slot_begin(slot, dst, keys=None)
    # the slot is half migrated: the old owner answers ASK, the new one
    # TRYAGAIN for a script whose keys are not all there yet; the request
    # waits (within store_timeout) until the migration is finished
    ip = net[:-1] + "77"
    got = []
    th = threading.Thread(target=lambda: got.append(ask(d, 5000, ip=ip)))
    th.start()
    time.sleep(0.5)
    ok(not got, "a new triplet in a migrating slot waits")
    cl.migrate_slot_finish(slot, dst)
    th.join(10)
    ok(got and greylisted(got[0]), "...and is greylisted once the slot "
       "settled: %s" % (got[0][:30] if got else None))
    ok(logged(d, r"action=greylist, reason=new.*client_address=%s" %
              re.escape(ip)), "logged as new")
    results, stop = [], threading.Event()
    th = threading.Thread(target=load, args=(d, 6000, 100000, results,
                                             stop))
    th.start()
    moved = cl.reshard(50, cl.nodes[1], cl.nodes[2])
    stop.set()
    th.join(30)
    ok(len(moved) == 50, "resharded 50 slots under load")
    wrong = [x for x in results if not greylisted(x[1])]
    is_(wrong[:5], [], "%d requests during the resharding: all greylisted "
        "(MOVED followed)" % len(results))
    time.sleep(DELAY + 0.2)
    check_round(d, 3000, 300, "before the resharding")
    bad = [i for i, act in results if not passed(ask(d, i))]
    is_(bad[:10], [], "during the resharding: every acknowledged triplet "
        "passes (%d)" % len(results))
    ok(passed(ask(d, 5000, ip=ip)), "the triplet made during the ASK "
       "window was stored on the new owner")
    d.stop()
    cl.stop()

pt.done()
