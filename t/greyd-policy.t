#!/usr/bin/python3
# greyd-policy.t - postern-greyd over the policy protocol, with the
# embedded store: postgrey's decisions (new, early retry, pass after the
# delay with one X-Greylist per message), its whitelist files, its log
# lines, the store surviving a restart and a kill -9 under load.  The
# senders' domains publish no SPF (the DNS server is a local unbound), so
# greylisting is by client network as in postgrey; SPF-domain greylisting
# and the bypasses are in greyd-bypass.t.
#
# With POSTERN_TEST_STORE=redis the same tests run against a real
# redis-server on 127.0.0.1 started here (t/greyd-policy-redis.t does
# that), so both stores pass one suite.
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import postern_test as pt                                      # noqa: E402
from postern_test import ok, is_, like, section                # noqa: E402

GREYD = os.path.join(pt.top_builddir(), "policyd", "postern-greyd")
if not os.access(GREYD, os.X_OK):
    pt.skip_all("postern-greyd not built")

tmp = pt.tmpdir()
STORE = os.path.join(tmp.path, "store")
if os.environ.get("POSTERN_TEST_STORE") == "redis":
    import redis_servers as rs                                 # noqa: E402
    if not rs.have_redis():
        pt.skip_all("redis-server/redis-cli (7.0 or later) not installed")
    STORE = rs.RedisServer(tmp, password="policy-pw").url
WLC = tmp.file("wl_clients", "# test list\ntrusted.example.net\n"
               "198.51.100.0/24\n/^relay\\d+\\.example\\.org$/\n")
WLR = tmp.file("wl_rcpts", "postmaster@\n")
# every SPF lookup stays on 127.0.0.1: names outside these zones are
# refused (SPF temperror: greylisting by network)
ub = pt.Unbound({"example.com": [], "example.net": []}, tmp=tmp)


def start(name="greyd", extra=()):
    port = pt.free_port()
    argv = [GREYD, "-f", "-c", tmp.file("%s.conf" % name, ""),
            "-o", "listen=inet:127.0.0.1:%d" % port,
            "-o", "store=%s" % STORE, "-o", "delay=3s",
            "-o", "whitelist_clients=%s" % WLC,
            "-o", "whitelist_recipients=%s" % WLR,
            "-o", "hostname=mx.test", "-o", "dns_server=%s" % ub.addr,
            "-o", "dns_timeout=1s"] + list(extra)
    d = pt.Daemon(argv, ready=("tcp", port), name=name, tmp=tmp)
    d.addr = "inet:127.0.0.1:%d" % port
    return d


def ask(d, ip="192.0.2.10", sender="alice@example.com",
        rcpt="bob@example.net", name="mail.example.com", **kw):
    return pt.policy_query(d.addr, pt.policy_request(
        client_address=ip, client_name=name, sender=sender, recipient=rcpt,
        **kw)).get("action", "")


with section("postgrey's decisions"):
    d = start()
    a = ask(d, instance="m1")
    like(a, r"^DEFER_IF_PERMIT 4\.2\.0 Greylisted, please try again in "
         r"3 seconds$", "new triplet: deferred with the greylist text")
    time.sleep(1.1)
    a = ask(d, ip="192.0.2.99", instance="m2")
    like(a, r"^DEFER_IF_PERMIT 4\.2\.0 ", "same /24 before the delay: "
         "deferred again")
    time.sleep(3.0)
    a = ask(d, instance="m3")
    like(a, r"^PREPEND X-Greylist: delayed [3-5] seconds by postern-greyd "
         r"at mx\.test; ", "after the delay: passes with X-Greylist")
    is_(ask(d, instance="m3"), "DUNNO", "same message again: no second "
        "header")
    is_(ask(d, instance="m4"), "DUNNO", "later mail: triplet found")
    like(ask(d, sender="list-4711-bounces+x@lists.example",
             instance="m5"), r"^DEFER", "a list sender...")
    time.sleep(3.2)
    like(ask(d, sender="list-4712-bounces+y@lists.example",
             instance="m6"), r"^PREPEND X-Greylist",
         "...passes with another VERP number (normalized sender)")
    def logged(regex):
        return pt.wait_until(lambda: re.search(regex, d.log_text()), 3)
    ok(logged(r"action=greylist, reason=new, client_name=mail\.example\."
              r"com, client_address=192\.0\.2\.10, sender=alice@example\."
              r"com, recipient=bob@example\.net"),
       "postgrey-style log line (new)")
    ok(logged(r"action=greylist, reason=early-retry"), "early retry logged")
    ok(logged(r"action=pass, reason=triplet found, delay=\d+"),
       "pass logged")

with section("whitelists"):
    is_(ask(d, name="mx1.trusted.example.net", ip="203.0.113.1",
            instance="w1"), "DUNNO", "client name in whitelist_clients")
    is_(ask(d, ip="198.51.100.7", instance="w2"), "DUNNO",
        "client network in whitelist_clients")
    is_(ask(d, name="relay12.example.org", ip="203.0.113.2",
            instance="w3"), "DUNNO", "client regex")
    is_(ask(d, rcpt="postmaster@example.net", ip="203.0.113.3",
            instance="w4"), "DUNNO", "recipient whitelist")
    ok(logged(r"action=pass, reason=client whitelist"), "whitelist logged")
    d.stop()

with section("the store survives a restart and kill -9"):
    d = start("greyd2")
    is_(ask(d, instance="r1"), "DUNNO", "restart: triplet remembered")
    sent = []
    for i in range(300):
        s = "user%d@crash.example" % i
        a = ask(d, sender="x" + s, rcpt="r%d@example.net" % i,
                instance="k%d" % i)
        if a.startswith("DEFER"):
            sent.append(i)
    is_(len(sent), 300, "300 new triplets acknowledged (deferred)")
    os.kill(d.proc.pid, signal.SIGKILL)
    d.proc.wait(10)
    d.stop(check=False)
    time.sleep(3.2)
    d = start("greyd3")
    passed = sum(1 for i in sent if ask(
        d, sender="xuser%d@crash.example" % i, rcpt="r%d@example.net" % i,
        instance="q%d" % i).startswith("PREPEND X-Greylist"))
    is_(passed, 300, "after kill -9 and restart every acknowledged "
        "triplet is known (passes after its delay)")
    d.stop()

with section("two daemons on one store"):
    # two processes (or two MX hosts on Redis) share the triplets
    d1 = start("share1")
    d2 = start("share2")
    like(ask(d1, sender="both@example.com", instance="s1"), r"^DEFER",
         "daemon 1: new triplet")
    time.sleep(3.2)
    like(ask(d2, sender="both@example.com", instance="s2"),
         r"^PREPEND X-Greylist", "daemon 2 knows it: passes after the delay")
    n = 100
    early = sum(1 for i in range(n)
                if ask(d2, sender="alt%d@example.com" % i,
                       instance="a%d" % i).startswith("DEFER") and
                ask(d1, sender="alt%d@example.com" % i,
                    instance="b%d" % i).startswith("DEFER"))
    is_(early, n, "interleaved writers: each new triplet deferred by both")
    time.sleep(3.2)
    passed = sum(1 for i in range(n) if ask(
        d1 if i % 2 else d2, sender="alt%d@example.com" % i,
        instance="c%d" % i).startswith("PREPEND X-Greylist"))
    is_(passed, n, "after the delay every triplet passes, on either daemon")
    d1.stop()
    d2.stop()

with section("config"):
    p = subprocess.run([GREYD, "-t", "-c", "/dev/null", "-o",
                        "greylist_action=REJECT"], capture_output=True,
                       text=True, timeout=20)
    ok(p.returncode != 0 and "greylist_action" in p.stderr,
       "bad greylist_action refused: %s" % p.stderr.strip())

pt.done()
