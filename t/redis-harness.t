#!/usr/bin/python3
# redis-harness.t - self-test of t/lib/redis_servers.py: real redis-server
# instances on 127.0.0.1 (password, ACL user, unix socket, restart with and
# without persistence, kill -9, pauses), a cluster (redis-cli -c, slot
# migration with MOVED and ASK, resharding) and a sentinel failover.
import os
import stat
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import postern_test as pt                                      # noqa: E402
from postern_test import ok, is_, like, section                # noqa: E402
import redis_servers as rs                                     # noqa: E402

if not rs.have_redis():
    pt.skip_all("redis-server/redis-cli (7.0 or later) not installed")

tmp = pt.tmpdir()
T0 = time.monotonic()


def error_of(fn, *args):
    """The RedisError fn(*args) raises, or None."""
    try:
        fn(*args)
    except rs.RedisError as e:
        return e
    return None


with section("a server with a password"):
    s = rs.RedisServer(tmp, password="pw-1")
    like(s.url, r"^redis://:pw-1@127\.0\.0\.1:%d$" % s.port, "url")
    is_(s.cli("SET", "k1", "v1"), "OK", "redis-cli SET with the password")
    is_(s.cli("GET", "k1"), "v1", "redis-cli GET")
    is_(s.command("GET", "k1"), "v1", "RESP client GET")
    with s.connect(auth=False) as c:
        e = error_of(c.command, "GET", "k1")
        is_(e and e.kind, "NOAUTH", "no AUTH: NOAUTH")
        e = error_of(c.command, "AUTH", "wrong")
        like(e and e.message, r"WRONGPASS", "bad password: WRONGPASS")
    ok(s.alive(), "alive()")
    s.stop()
    ok(not s.alive() and not pt.port_open(s.port), "stop(): gone")

with section("an ACL user"):
    a = rs.RedisServer(tmp, acl_user=("alice", "wonder land"))
    like(a.url, r"^redis://alice:wonder land@127\.0\.0\.1:\d+$", "url")
    is_(a.cli("SET", "k", "acl"), "OK", "redis-cli --user SET")
    is_(a.command("ACL", "WHOAMI"), "alice", "ACL WHOAMI")
    is_(a.command("GET", "k"), "acl", "GET as alice")
    with a.connect(auth=False) as c:
        e = error_of(c.command, "GET", "k")
        is_(e and e.kind, "NOAUTH", "default user off: NOAUTH")
        e = error_of(c.command, "AUTH", "alice", "bad")
        like(e and e.message, r"WRONGPASS", "bad password: WRONGPASS")
    a.stop()

with section("unix socket"):
    u = rs.RedisServer(tmp, unixsocket=True)
    ok(stat.S_ISSOCK(os.stat(u.unix_path).st_mode), "socket at unix_path")
    is_(u.unix_url, "unix://" + u.unix_path, "unix_url")
    u.command("SET", "sock", "yes")
    is_(u.cli("GET", "sock", unix=True), "yes", "redis-cli -s")
    with u.connect(unix=True) as c:
        is_(c.command("GET", "sock"), "yes", "RESP client over the socket")

with section("restart, persistence, kill -9"):
    p = rs.RedisServer(tmp, appendonly=True, unixsocket=True)
    port = p.port
    for i in range(100):
        p.command("SET", "aof%d" % i, i)
    p.restart()
    is_(p.port, port, "restart(): same port")
    is_(p.command("DBSIZE"), 100, "appendonly: 100 keys after restart")
    p.command("SET", "late", "x")
    p.kill9()
    ok(not p.alive(), "kill9(): dead")
    p.start()
    is_(p.command("GET", "late"), "x", "appendonly: write survives kill -9")
    is_(p.cli("GET", "aof7", unix=True), "7", "unix socket back too")
    v = rs.RedisServer(tmp)
    v.command("SET", "vol", "1")
    v.restart()
    is_(v.command("EXISTS", "vol"), 0, "--save '': restart loses data")
    v.command("SET", "vol", "2")
    v.command("SAVE")
    v.restart(kill=True)
    is_(v.command("GET", "vol"), "2", "after SAVE: data back")

with section("pause"):
    t1 = time.monotonic()
    t = p.pause(1.0)
    ok(not p.ping(timeout=0.3), "DEBUG SLEEP: no PONG within 0.3 s")
    t.join(5)
    ok(p.ping(), "PONG after the sleep")
    ok(0.9 <= time.monotonic() - t1 <= 3, "slept about 1 s (%.2f s)" %
       (time.monotonic() - t1))
    p.pause(0.6, mode="client")
    t1 = time.monotonic()
    with p.connect(timeout=5) as c:
        is_(c.command("GET", "late"), "x", "CLIENT PAUSE: answered...")
    ok(time.monotonic() - t1 >= 0.4, "...late (%.2f s)" %
       (time.monotonic() - t1))
    p.stop()
    v.stop()
    u.stop()

with section("cluster"):
    t1 = time.monotonic()
    cl = rs.RedisCluster(tmp, masters=3, replicas=1)
    pt.diag("cluster of 6 up in %.1f s" % (time.monotonic() - t1))
    is_(len(cl.nodes), 6, "6 nodes")
    is_(len(cl.masters()), 3, "3 masters")
    like(cl.url, r"^redis\+cluster://127\.0\.0\.1:\d+(,127\.0\.0\.1:\d+)"
         r"{5}$", "url")
    is_(cl.nodes[0].cli("-c", "SET", "user:1", "one"), "OK",
        "redis-cli -c SET")
    is_(cl.nodes[2].cli("-c", "GET", "user:1"), "one",
        "redis-cli -c GET on another node")
    slot = cl.slot_of("user:1")
    src = cl.node_for_slot(slot)
    is_(src.command("GET", "user:1"), "one", "the slot's node has the key")
    dst = next(n for n in cl.masters() if n is not src)
    e = error_of(dst.command, "GET", "user:1")
    is_(e and e.redirect(), ("MOVED", slot, "127.0.0.1", src.port),
        "another master: MOVED to the owner")

    cl.migrate_slot(slot, dst)
    is_(cl.node_for_slot(slot), dst, "migrate_slot: new owner")
    is_(dst.command("GET", "user:1"), "one", "key moved with the slot")
    e = error_of(src.command, "GET", "user:1")
    is_(e and e.redirect(), ("MOVED", slot, "127.0.0.1", dst.port),
        "old owner answers MOVED")
    ok(all(cl.node_for_slot(slot, view=n) is dst for n in cl.nodes),
       "every node (replicas too) agrees")

    for k in ("{t}a", "{t}b"):
        cl.cli("SET", k, k.upper())
    slot = cl.slot_of("{t}a")
    src = cl.node_for_slot(slot)
    dst = next(n for n in cl.masters() if n is not src)
    cl.migrate_slot_begin(slot, dst, keys=["{t}a"])
    e = error_of(src.command, "GET", "{t}a")
    is_(e and e.redirect(), ("ASK", slot, "127.0.0.1", dst.port),
        "half migrated: moved key gives ASK")
    is_(src.command("GET", "{t}b"), "{T}B", "key not moved yet: served")
    e = error_of(dst.command, "GET", "{t}a")
    is_(e and e.redirect(), ("MOVED", slot, "127.0.0.1", src.port),
        "importing node without ASKING: MOVED")
    with dst.connect() as c:
        c.command("ASKING")
        is_(c.command("GET", "{t}a"), "{T}A", "with ASKING: served")
    is_(src.cli("-c", "GET", "{t}a"), "{T}A", "redis-cli -c follows ASK")
    cl.migrate_slot_finish(slot, dst)
    is_(dst.command("MGET", "{t}a", "{t}b"), ["{T}A", "{T}B"],
        "finish: both keys on the new owner")
    e = error_of(src.command, "GET", "{t}b")
    is_(e and e.kind, "MOVED", "old owner: MOVED")

    before = len(cl.slots_of(src))
    moved = cl.reshard(20, src, dst)
    is_(len(moved), 20, "reshard: 20 slots")
    is_(len(cl.slots_of(src)), before - 20, "source has 20 fewer")
    ok(set(moved) <= set(cl.slots_of(dst)), "destination has them")
    cl.wait_stable(10)
    ok(True, "cluster stable after resharding")
    pt.diag("cluster section: %.1f s" % (time.monotonic() - t1))
    cl.stop()

with section("sentinel"):
    t1 = time.monotonic()
    se = rs.RedisSentinelSetup(tmp)
    pt.diag("sentinel setup ready in %.1f s" % (time.monotonic() - t1))
    old = se.master
    like(se.url, r"^redis\+sentinel://127\.0\.0\.1:%d/mymaster$" %
         se.sentinel.port, "url")
    is_(se.current_master_port(), old.port, "sentinel reports the master")
    is_(se.sentinel.role(), "sentinel", "ROLE of the sentinel")
    for i in range(50):
        old.command("SET", "s%d" % i, i)
    is_(old.command("WAIT", 1, 1000), 1, "WAIT 1 1000: replica has it")
    new_port = se.failover()
    pt.diag("failover: sentinel switched after %.1f s, done in %.1f s" %
            (se.switch_seconds, se.failover_seconds))
    ok(new_port != old.port, "failover: another master")
    is_(se.current_master_port(), new_port, "sentinel reports it")
    is_(se.master.port, new_port, ".master follows")
    is_(se.master.role(), "master", "new master: ROLE master")
    is_(old.role(), "slave", "old master: now a replica")
    is_(se.master.command("MGET", "s0", "s49"), ["0", "49"],
        "data written before is on the new master")
    se.master.command("SET", "after", "1")
    is_(se.master.command("WAIT", 1, 2000), 1, "replicated to the old one")
    e = error_of(old.command, "SET", "x", "1")
    is_(e and e.kind, "READONLY", "old master refuses writes")
    se.stop()

pt.diag("total %.1f s" % (time.monotonic() - T0))
pt.done()
