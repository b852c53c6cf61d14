#!/usr/bin/python3
# greyctl.t - postern-greyctl against the embedded store of a running
# postern-greyd: requests over the policy protocol make triplets that are
# greylisted and passed, one keyed by its SPF-authenticated domain, and an
# auto-whitelisted client, then the tool
# (while the daemon runs) counts them, lists, shows and deletes them, and
# the daemon's next decisions show the deletions took.  Also: privacy
# (hashed keys), the daemon's config files read as they are, usage and
# store errors with their exit codes (0 done, 1 not found, 2 usage or
# config, 3 store), the same on a Redis server and a Redis Cluster (when
# redis-server 7 is installed).  TAP; 127.0.0.1 only (DNS: a local
# unbound).
import datetime
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import postern_test as pt                                      # noqa: E402
from postern_test import ok, is_, like, unlike, section, diag  # noqa: E402

GREYD = os.path.join(pt.top_builddir(), "policyd", "postern-greyd")
CTL = os.path.join(pt.top_builddir(), "tools", "postern-greyctl")
for prog in (GREYD, CTL):
    if not os.access(prog, os.X_OK):
        pt.skip_all("%s not built" % os.path.basename(prog))

tmp = pt.tmpdir()
# the daemon's SPF lookups stay on 127.0.0.1: spf.example passes for
# 203.0.113.0/24, the other domains publish no SPF (network triplets)
ub = pt.Unbound({"spf.example": [("@", "TXT",
                                  "v=spf1 ip4:203.0.113.0/24 -all")],
                 "example.com": [], "example.net": [], "example.org": []},
                tmp=tmp)
STORE = os.path.join(tmp.path, "store")
PSTORE = os.path.join(tmp.path, "pstore")
COMMON = ("delay = 1s\nauto_whitelist_clients = 1\nwhitelist_clients =\n"
          "whitelist_recipients =\nhostname = mx.test\n"
          "dns_server = %s\ndns_timeout = 2s\n" % ub.addr)
CONF = tmp.file("greyd.conf", "store = %s\n%s" % (STORE, COMMON))
PCONF = tmp.file("pgreyd.conf", "store = %s\nprivacy = yes\n%s" %
                 (PSTORE, COMMON))

T1 = ("192.0.2.10", "alice@example.com", "bob@example.net")
T2 = ("198.51.100.20", "carol@example.org", "dave@example.net")
T3 = ("2001:db8:1:2::5", "erin@example.org", "frank@example.net")
T4 = ("203.0.113.7", "ivan@spf.example", "judy@example.net")
K1 = "192.0.2.0/alice@example.com/bob@example.net"
K2 = "198.51.100.0/carol@example.org/dave@example.net"
K3 = "2001:db8:1:2::/erin@example.org/frank@example.net"
K4 = "spf:spf.example/ivan@spf.example/judy@example.net"
ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


def start(conf, name):
    port = pt.free_port()
    d = pt.Daemon([GREYD, "-f", "-c", conf,
                   "-o", "listen=inet:127.0.0.1:%d" % port],
                  ready=("tcp", port), name=name, tmp=tmp)
    d.addr = "inet:127.0.0.1:%d" % port
    return d


def ask(d, t, **kw):
    ip, sender, rcpt = t
    return pt.policy_query(d.addr, pt.policy_request(
        client_address=ip, client_name="mail.example.com", sender=sender,
        recipient=rcpt, **kw)).get("action", "")


def ctl(*args, conf=CONF):
    """ctl - run the tool; (exit status, stdout, stderr)."""
    argv = [CTL] + (["-c", conf] if conf else []) + list(args)
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=60)
    if pt.verbose():
        diag("%s -> %d\n%s%s" % (" ".join(argv), p.returncode, p.stdout,
                                 p.stderr))
    return p.returncode, p.stdout, p.stderr


def stats(*args, conf=CONF):
    rc, out, err = ctl("stats", *args, conf=conf)
    res = {}
    for line in out.splitlines():
        k, sep, v = line.partition(": ")
        if sep and v.isdigit():
            res[k] = int(v)
    return rc, res, err


def seen(d, regex):
    return len(re.findall(regex, d.log_text()))


def when(iso):
    return datetime.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


d = None
with section("a store with every state, made by the daemon"):
    d = start(CONF, "greyd")
    like(ask(d, T1, instance="a1"), r"^DEFER_IF_PERMIT ", "T1 new: deferred")
    like(ask(d, T2, instance="a2"), r"^DEFER_IF_PERMIT ", "T2 new: deferred")
    like(ask(d, T3, instance="a3"), r"^DEFER_IF_PERMIT ", "T3 (IPv6) new: "
         "deferred")
    like(ask(d, T4, instance="a6"), r"^DEFER_IF_PERMIT ", "T4 (SPF pass) "
         "new: deferred")
    time.sleep(1.3)
    like(ask(d, T1, instance="a4"), r"^PREPEND X-Greylist: ",
         "T1 after the delay: passes (client 192.0.2.10 counts 1)")
    is_(ask(d, (T1[0], T1[1], "other@example.net"), instance="a5"), "DUNNO",
        "client 192.0.2.10 auto-whitelisted (auto_whitelist_clients = 1)")

WANT = {"triplets": 4, "triplets_greylisted": 3, "triplets_passed": 1,
        "clients": 1, "clients_whitelisted": 1, "clients_counting": 0,
        "expired": 0, "total": 5}

with section("stats while the daemon runs"):
    ok(d.alive(), "daemon running")
    rc, st, err = stats()
    is_(rc, 0, "stats: exit 0")
    is_(st, WANT, "stats: three greylisted, one passed, one whitelisted")
    rc, out, err = ctl("stats", "--json")
    is_((rc, json.loads(out) if rc == 0 else err), (0, WANT),
        "stats --json: the same numbers")
    rc, st, err = stats("-o", "auto_whitelist_clients=2")
    is_((st.get("clients_whitelisted"), st.get("clients_counting")), (0, 1),
        "-o auto_whitelist_clients=2: the client is still counting")
    rc, st, err = stats("-o", "delay=10m")
    is_((st.get("triplets_passed"), st.get("triplets_greylisted")), (0, 4),
        "-o delay=10m: no triplet has waited long enough")

with section("list"):
    rc, out, err = ctl("list")
    lines = out.splitlines()
    is_((rc, len(lines)), (0, 5), "list: five lines")
    ok(all(re.match(r"^(triplet \S+ first=%s|client \S+ count=\d+) last=%s "
                    r"(greylisted|passed|whitelisted|counting)$" %
                    (ISO, ISO), x) for x in lines), "list: line format")
    m = re.search(r"^triplet %s first=(%s) last=(%s) passed$" %
                  (re.escape(K1), ISO, ISO), out, re.M)
    if ok(m, "T1: network/sender/recipient, passed"):
        first, last = when(m.group(1)), when(m.group(2))
        ok(abs(time.time() - first) < 120 and 1 <= last - first <= 30,
           "T1: first and last seen are UTC times, one delay apart")
    like(out, r"(?m)^triplet %s first=%s last=%s greylisted$" %
         (re.escape(K2), ISO, ISO), "T2: greylisted")
    like(out, r"(?m)^triplet %s first=%s last=%s greylisted$" %
         (re.escape(K3), ISO, ISO), "T3: IPv6 /64 network, greylisted")
    like(out, r"(?m)^triplet %s first=%s last=%s greylisted$" %
         (re.escape(K4), ISO, ISO), "T4: spf:DOMAIN/sender/recipient")
    like(out, r"(?m)^client 192\.0\.2\.10 count=1 last=%s whitelisted$" % ISO,
         "client: count 1, whitelisted")
    rc, out, err = ctl("list", "triplets")
    is_(sorted(x.split()[1] for x in out.splitlines()),
        sorted([K1, K2, K3, K4]), "list triplets: the four triplets only")
    rc, out, err = ctl("list", "clients")
    is_([x.split()[1] for x in out.splitlines()], ["192.0.2.10"],
        "list clients: the client only")
    rc, out, err = ctl("list", "--match", "*@example.org/*")
    is_(sorted(x.split()[1] for x in out.splitlines()), sorted([K2, K3]),
        "--match '*@example.org/*': T2 and T3")
    rc, out, err = ctl("list", "triplets", "--match", "*CAROL*")
    is_([x.split()[1] for x in out.splitlines()], [K2],
        "--match without regard to case")
    rc, out, err = ctl("list", "clients", "--match", "*alice*")
    is_((rc, out), (0, ""), "--match nothing: no output, exit 0")
    rc, out, err = ctl("list", "--json")
    try:
        arr = json.loads(out)
    except ValueError:
        arr = None
    ok(isinstance(arr, list) and len(arr) == 5, "list --json: an array of 5")
    if isinstance(arr, list):
        by = {(e.get("kind"), e.get("key")): e for e in arr}
        e1 = by.get(("triplet", K1), {})
        is_(e1.get("state"), "passed", "json: T1 passed")
        like(e1.get("first", ""), "^%s$" % ISO, "json: first is ISO 8601")
        is_(by.get(("client", "192.0.2.10"), {}).get("count"), 1,
            "json: client count 1")
    rc, out, err = ctl("list", "--json", "--match", "nothing")
    is_((rc, out.strip()), (0, "[]"), "list --json, no match: []")

with section("show"):
    rc, out, err = ctl("show", *T1)
    ok(rc == 0 and re.match(r"^triplet %s first=%s last=%s passed$" %
                            (re.escape(K1), ISO, ISO), out),
       "show T1: its line, passed (%d %s)" % (rc, err.strip()))
    rc, out2, err = ctl("show", "192.0.2.99", "Alice+news@Example.COM",
                        "<bob@example.net>")
    is_((rc, out2), (0, out), "show: same /24, sender normalized and lower "
        "case, brackets: the same triplet")
    rc, out, err = ctl("show", "2001:db8:1:2::77", T3[1], T3[2])
    like(out, r"^triplet %s .* greylisted$" % re.escape(K3),
         "show: IPv6 address in the same /64")
    rc, out, err = ctl("show", "-o", "lookup_by_host=yes", *T1)
    is_(rc, 1, "show with -o lookup_by_host=yes: another key, not found "
        "(exit 1)")
    like(err, r"not found: triplet 192\.0\.2\.10/alice@example\.com/",
         "not found: the key looked for is named")
    rc, out, err = ctl("show", T1[0], T1[1], "nobody@example.net")
    is_((rc, out), (1, ""), "show: unknown triplet, exit 1, no output")
    rc, out, err = ctl("show", "--json", *T1)
    try:
        obj = json.loads(out)
    except ValueError:
        obj = {}
    is_((obj.get("kind"), obj.get("key"), obj.get("state")),
        ("triplet", K1, "passed"), "show --json")
    rc, out, err = ctl("show-client", "192.0.2.10")
    like(out, r"^client 192\.0\.2\.10 count=1 last=%s whitelisted$" % ISO,
         "show-client: whitelisted")
    rc, out, err = ctl("show-client", "192.0.2.11")
    is_(rc, 1, "show-client: no entry for 192.0.2.11, exit 1")
    rc, out, err = ctl("show", "--spf-domain", "SPF.example", T4[1], T4[2])
    like(out, r"^triplet %s first=%s last=%s greylisted$" %
         (re.escape(K4), ISO, ISO), "show --spf-domain: the domain's "
         "triplet (%d %s)" % (rc, err.strip()))
    is_(ctl("show", *T4)[0], 1, "show with T4's address: not found (the "
        "daemon keyed it by domain)")
    rc, out, err = ctl("show", "--spf-domain", "Example.ORG", T2[1], T2[2])
    is_(rc, 1, "show --spf-domain: no such triplet, exit 1")
    like(err, r"not found: triplet spf:example\.org/carol@example\.org/"
         r"dave@example\.net", "--spf-domain: key spf:DOMAIN/sender/"
         "recipient")

with section("delete while the daemon runs"):
    rc, out, err = ctl("delete", *T1)
    is_((rc, out.strip()), (0, "deleted triplet " + K1), "delete T1")
    rc, out, err = ctl("delete", *T1)
    is_(rc, 1, "delete T1 again: not found, exit 1")
    is_(ctl("show", *T1)[0], 1, "show T1: gone")
    is_(ask(d, T1, instance="b1"), "DUNNO", "T1 again: passes, its client "
        "is still whitelisted")
    rc, out, err = ctl("delete-client", "192.0.2.10")
    is_((rc, out.strip()), (0, "deleted client 192.0.2.10"), "delete-client")
    is_(ctl("delete-client", "192.0.2.10")[0], 1, "delete-client again: "
        "exit 1")
    new_t1 = (r"action=greylist, reason=new, client_name=mail\.example\.com, "
              r"client_address=192\.0\.2\.10, sender=alice@example\.com, "
              r"recipient=bob@example\.net")
    like(ask(d, T1, instance="b2"), r"^DEFER_IF_PERMIT ", "T1 again: "
         "deferred...")
    ok(pt.wait_until(lambda: seen(d, new_t1) == 2, 5),
       "...as new (the second reason=new for T1 in the log)")
    like(ctl("show", *T1)[1], r" greylisted$", "show T1: greylisted again")
    rc, out, err = ctl("delete-key", "triplets", K2)
    is_((rc, out.strip()), (0, "deleted triplet " + K2), "delete-key "
        "triplets KEY (as list prints it)")
    is_(ctl("show", *T2)[0], 1, "show T2: gone")
    is_(ctl("delete-key", "triplets", K2)[0], 1, "delete-key again: exit 1")
    is_(ctl("delete-key", "triplets", "no\\x20such")[0], 1,
        "delete-key with a \\xNN escape: parsed, not found")
    like(ask(d, T4, instance="b3"), r"^PREPEND X-Greylist", "T4 after the "
         "delay: passes (the domain counts 1)")
    like(ctl("show-client", "--spf-domain", "spf.example")[1],
         r"^client spf:spf\.example count=1 last=%s whitelisted$" % ISO,
         "show-client --spf-domain: the domain is whitelisted")
    rc, out, err = ctl("delete-client", "--spf-domain", "spf.example")
    is_((rc, out.strip()), (0, "deleted client spf:spf.example"),
        "delete-client --spf-domain")
    rc, out, err = ctl("delete", "--spf-domain", "spf.example", T4[1], T4[2])
    is_((rc, out.strip()), (0, "deleted triplet " + K4),
        "delete --spf-domain")
    rc, st, err = stats()
    is_((st.get("triplets"), st.get("clients"), st.get("total")), (2, 0, 2),
        "stats after the deletions: T1 and T3 left, no client")

with section("privacy: hashed keys"):
    p = start(PCONF, "greyd-privacy")
    PT = ("203.0.113.5", "grace@example.com", "heidi@example.net")
    like(ask(p, PT, instance="p1"), r"^DEFER_IF_PERMIT ", "new: deferred")
    time.sleep(1.3)
    like(ask(p, PT, instance="p2"), r"^PREPEND X-Greylist", "after the "
         "delay: passes")
    rc, out, err = ctl("list", conf=PCONF)
    lines = out.splitlines()
    is_(len(lines), 2, "list: one triplet, one client")
    ok(all(re.match(r"^(triplet|client) [0-9a-f]{40} ", x) for x in lines),
       "keys are 40 hex digits")
    unlike(out, r"@|203\.0\.113", "no address in the listing")
    rc, out, err = ctl("show", *PT, conf=PCONF)
    like(out, r"^triplet [0-9a-f]{40} first=%s last=%s passed$" % (ISO, ISO),
         "show finds the hashed triplet (%d %s)" % (rc, err.strip()))
    rc, out, err = ctl("show", "-o", "privacy=no", *PT, conf=PCONF)
    is_(rc, 1, "show with -o privacy=no: the plain key is not there")
    rc, out, err = ctl("show-client", PT[0], conf=PCONF)
    like(out, r"^client [0-9a-f]{40} count=1 last=%s whitelisted$" % ISO,
         "show-client finds the hashed client")
    is_(ctl("delete", *PT, conf=PCONF)[0], 0, "delete (hashed)")
    is_(ctl("delete-client", PT[0], conf=PCONF)[0], 0,
        "delete-client (hashed)")
    is_(stats(conf=PCONF)[1].get("total"), 0, "store empty")
    p.stop()

with section("usage and store errors"):
    def code(*args, conf=CONF):
        return ctl(*args, conf=conf)[0]
    rc, out, err = ctl()
    is_(rc, 2, "no command: exit 2")
    like(err, r"^postern-greyctl: no command\nusage: ", "...with a message "
         "and the usage")
    rc, out, err = ctl("frobnicate")
    ok(rc == 2 and "unknown command" in err, "unknown command: exit 2")
    is_(code("show", T1[0], T1[1]), 2, "show with two arguments: exit 2")
    is_(code("show", "--spf-domain", "example.org", *T1), 2,
        "show --spf-domain with three arguments: exit 2")
    rc, out, err = ctl("show", "not-an-ip", T1[1], T1[2])
    ok(rc == 2 and "not an IP address" in err, "bad address: exit 2")
    is_(code("stats", "--match", "x"), 2, "stats --match: exit 2")
    is_(code("delete-key", "--spf-domain", "x", "triplets", "k"), 2,
        "delete-key --spf-domain: exit 2")
    is_(code("delete-key", "entries", "k"), 2, "delete-key, bad table: 2")
    is_(code("delete-key", "triplets", "bad\\q"), 2,
        "delete-key, bad escape: exit 2")
    is_(code("list", "bogus"), 2, "list bogus: exit 2")
    is_(code("show-client", "--spf-domain", "", ), 2, "empty --spf-domain: 2")
    is_(code("--bogus-option", "stats"), 2, "unknown option: exit 2")
    rc, out, err = ctl("-o", "nosuchkey=1", "stats")
    ok(rc == 2 and "nosuchkey" in err, "-o unknown key: exit 2, key named")
    rc, out, err = ctl("-o", "delay=banana", "stats")
    ok(rc == 2 and "delay" in err, "-o bad value: exit 2, key named")
    rc, out, err = ctl("stats", conf=os.path.join(tmp.path, "missing.conf"))
    ok(rc == 2 and "missing.conf" in err, "-c missing file: exit 2")
    empty = tmp.sub("empty-dir")
    rc, out, err = ctl("-o", "store=" + empty, "stats")
    ok(rc == 3 and "no embedded store" in err, "directory without a store: "
       "exit 3 (%s)" % err.strip())
    is_(os.listdir(empty), [], "...and none created there")
    nowhere = os.path.join(tmp.path, "nowhere")
    is_(code("-o", "store=" + nowhere, "stats"), 3, "missing store "
        "directory: exit 3")
    ok(not os.path.exists(nowhere), "...not created")
    port = pt.free_port()
    rc, out, err = ctl("-o", "store=redis://127.0.0.1:%d" % port,
                       "-o", "store_connect_timeout=500ms", "stats")
    ok(rc == 3 and err.strip(), "Redis store not reachable: exit 3 (%s)" %
       err.strip())
    rc, out, err = ctl("--help", conf=None)
    ok(rc == 0 and "EXIT STATUS" in out and
       "safe to run while postern-greyd runs" in out, "--help: the manual")
    like(ctl("-V", conf=None)[1], r"^postern-greyctl \S+", "-V: version")

with section("the daemon's config files"):
    shipped = os.path.join(pt.top_srcdir(), "conf", "postern-greyd.conf")
    rc, st, err = stats("-o", "store=" + STORE, "-o", "delay=1s",
                        "-o", "auto_whitelist_clients=1", conf=shipped)
    is_((rc, st.get("total")), (0, 2), "conf/postern-greyd.conf read as is "
        "(%s)" % err.strip())
    with open(shipped, encoding="utf-8") as f:
        text = re.sub(r"(?m)^#([A-Za-z_][A-Za-z0-9_-]*[ \t]*=)", r"\1",
                      f.read())
    full = tmp.file("uncommented.conf", text)
    rc, out, err = ctl("-o", "store=" + STORE, "stats", conf=full)
    is_(rc, 0, "every documented key set: accepted (%s)" % err.strip())
    future = tmp.file("future.conf", "store = %s\ndns_timeout = 2s\n"
                      "some_future_key = 1\n" % STORE)
    rc, out, err = ctl("stats", conf=future)
    is_(rc, 0, "keys this build does not know are skipped (%s)" %
        err.strip())
    bad = tmp.file("bad.conf", "store = %s\n\ndelay = banana\n" % STORE)
    rc, out, err = ctl("stats", conf=bad)
    ok(rc == 2 and "bad.conf:3" in err, "bad value: exit 2, file and line "
       "named (%s)" % err.strip())
    wrong = tmp.file("wrong.conf", "store = %s\n" % nowhere)
    is_(ctl("-o", "store=" + STORE, "stats", conf=wrong)[0], 0,
        "-o store wins over the file")

with section("root on the daemon's store: works as its owner"):
    if os.geteuid() != 0:
        pt.skip("not root", 2)
    else:
        import pwd
        nobody = pwd.getpwnam("nobody")
        for root, dirs, files in os.walk(PSTORE):
            for n in [root] + [os.path.join(root, f) for f in files]:
                os.chown(n, nobody.pw_uid, nobody.pw_gid)
        os.unlink(os.path.join(PSTORE, "lock.mdb"))
        rc, out, err = ctl("stats", conf=PCONF)
        is_(rc, 0, "stats as root on nobody's store (%s)" % err.strip())
        is_(sorted((f, os.stat(os.path.join(PSTORE, f)).st_uid)
                   for f in os.listdir(PSTORE)),
            [("data.mdb", nobody.pw_uid), ("lock.mdb", nobody.pw_uid)],
            "every file there is still nobody's (lock.mdb made by nobody)")


def redis_stores():
    """redis_stores - (name, url) of a Redis server and a Redis Cluster,
    or none without redis-server 7."""
    import redis_servers as rs
    if not rs.have_redis():
        pt.skip("redis-server 7 not installed", 1)
        return []
    return [("redis", rs.RedisServer(tmp=tmp).url),
            ("cluster", rs.RedisCluster(tmp=tmp).url)]


with section("the same on Redis: one server, and a Cluster"):
    for name, url in redis_stores():
        rconf = tmp.file("%s.conf" % name, "store = %s\n%s" % (url, COMMON))
        r = start(rconf, "greyd-" + name)
        like(ask(r, T1, instance=name + "1"), r"^DEFER_IF_PERMIT ",
             "%s: T1 new" % name)
        like(ask(r, T2, instance=name + "2"), r"^DEFER_IF_PERMIT ",
             "%s: T2 new" % name)
        time.sleep(1.3)
        like(ask(r, T1, instance=name + "3"), r"^PREPEND X-Greylist",
             "%s: T1 passes" % name)
        rc, st, err = stats(conf=rconf)
        is_((rc, st.get("triplets_greylisted"), st.get("triplets_passed"),
             st.get("clients_whitelisted"), st.get("total")),
            (0, 1, 1, 1, 3), "%s: stats (%s)" % (name, err.strip()))
        rc, out, err = ctl("list", "triplets", conf=rconf)
        is_(sorted(x.split()[1] for x in out.splitlines()), sorted([K1, K2]),
            "%s: list triplets, keys without prefix or hash tag" % name)
        like(ctl("show", *T1, conf=rconf)[1], r"^triplet %s .* passed$" %
             re.escape(K1), "%s: show" % name)
        is_(ctl("delete-key", "triplets", K2, conf=rconf)[0], 0,
            "%s: delete-key (its shard found by the walk)" % name)
        is_(ctl("show", *T2, conf=rconf)[0], 1, "%s: T2 gone" % name)
        is_(ctl("delete", *T1, conf=rconf)[0], 0, "%s: delete" % name)
        is_(ctl("delete-client", T1[0], conf=rconf)[0], 0,
            "%s: delete-client" % name)
        is_(ctl("delete", *T1, conf=rconf)[0], 1, "%s: delete again: 1" %
            name)
        like(ask(r, T1, instance=name + "4"), r"^DEFER_IF_PERMIT ",
             "%s: T1 greylisted again" % name)
        ok(pt.wait_until(lambda: re.search(r"reason=new.*client_address="
                                           r"192\.0\.2\.10.*\n(?s:.*)"
                                           r"reason=new.*client_address="
                                           r"192\.0\.2\.10",
                                           r.log_text()), 5),
           "%s: ...as new" % name)
        is_(stats(conf=rconf)[1].get("total"), 1, "%s: one entry left" % name)
        r.stop()

with section("the daemon kept running"):
    ok(d is not None and d.alive(), "postern-greyd alive after all that")
    like(ask(d, T3, instance="z1"), r"^(PREPEND|DUNNO)", "and answering")
    d.stop()

pt.done()
