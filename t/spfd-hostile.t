#!/usr/bin/python3
# spfd-hostile.t - regression tests for hostile-input findings of the
# code review: a name c-ares answers inside ares_query() (.onion), a flood
# of tiny pipelined requests behind a slow one (no recursion, no quadratic
# copying), a request dripped byte by byte (a deadline for the whole
# request), and HELO/sender strings too long for a header (never an empty
# action).  Run under ASan/UBSan in the sanitizer build.
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import postern_test as pt                                      # noqa: E402
from postern_test import ok, is_, like, section                # noqa: E402

IMPL, SPFD = pt.spfd_impl()
if IMPL != "postern" or not os.access(SPFD, os.X_OK):
    pt.skip_all("postern-spfd not built")
if pt.have_programs("unbound"):
    pt.skip_all("unbound not installed")

SLOW = "slow.example.org"
ub = pt.Unbound({"example.com": [
    ("pass", "TXT", "v=spf1 ip4:192.0.2.10 -all"),
    ("onion", "TXT", "v=spf1 include:x.onion -all"),
]}, timeout_zone=SLOW)


def req(sender, helo="helo.example.net", ip="192.0.2.10", **kw):
    return pt.policy_request(sender=sender, client_address=ip,
                             helo_name=helo, **kw)


def alive(d):
    r = pt.policy_query(d.policy_addr, req("a@pass.example.com"))
    return pt.action_word(r) == "PREPEND"


d = pt.start_spfd(ub, {"dns_timeout": "1500ms", "spf_time_limit": "3s",
                       "request_timeout": "2s"})

with section("names c-ares answers synchronously"):
    for sender, helo in (("a@x.onion", "helo.example.net"),
                         ("a@pass.example.com", "x.onion"),
                         ("a@onion.example.com", "helo.example.net")):
        r = pt.policy_query(d.policy_addr, req(sender, helo=helo))
        ok("action" in r, "%s / HELO %s answered: %s" % (
            sender, helo, r.get("action", "")[:60]))
    ok(alive(d), "daemon still serving")

with section("pipelined flood behind a slow request"):
    c = pt.PolicyClient(d.policy_addr)
    slow = "".join("%s=%s\n" % kv for kv in req("a@x.%s" % SLOW)) + "\n"
    flood = b"request=x\n\n" * 20000
    t0 = time.monotonic()
    c.send_raw(slow.encode() + flood)
    first = c.read_reply(timeout=10)
    ok(first is not None and "action" in first,
       "slow request answered: %s" % (first or {}).get("action", "")[:50])
    n = 0
    while n < 20000:
        r = c.read_reply(timeout=10)
        if r is None:
            break
        n += 1
    took = time.monotonic() - t0
    ok(n > 0, "pipelined requests answered after it (%d, %.1f s)" % (n, took))
    c.close()
    ok(alive(d), "daemon still serving")

with section("a request dripped byte by byte"):
    s = socket.create_connection(("127.0.0.1", d.port))
    s.settimeout(10)
    t0 = time.monotonic()
    closed = False
    try:
        for ch in b"request=smtpd_access_policy\nsender=a@b.example\n" * 4:
            s.send(bytes([ch]))
            time.sleep(0.05)
            if time.monotonic() - t0 > 6:
                break
    except OSError:
        closed = True
    if not closed:
        try:
            closed = s.recv(100) == b""
        except OSError:
            closed = True
    took = time.monotonic() - t0
    ok(closed and took < 4.5, "closed at the request deadline (2 s), "
       "not kept alive by each byte (%.1f s)" % took)
    s.close()

with section("peer strings too long for a header"):
    long_helo = "h" * 60 + "." + "x" * 2100 + ".example"
    for opts, who in (({"Whitelist": "192.0.2.0/24"}, "Whitelist"),
                      ({}, "Received-SPF")):
        d2 = pt.start_spfd(ub, opts, name="spfd-long")
        r = pt.policy_query(d2.policy_addr,
                            req("u" * 300 + "@pass.example.com",
                                helo=long_helo))
        a = r.get("action", "")
        ok(a.startswith("PREPEND ") and len(a) < 2200,
           "%s: a header, not an empty action (%d bytes)" % (who, len(a)))
        d2.stop()

d.stop()

with section("libspf2 engine: a slow check does not stall the others"):
    import threading
    d3 = pt.start_spfd(ub, {"spf_engine": "libspf2", "dns_timeout": "2s",
                            "spf_time_limit": "4s"}, name="spfd-libspf2")
    slow_reply = {}

    def slow():
        slow_reply["r"] = pt.policy_query(
            d3.policy_addr, req("a@x.%s" % SLOW), timeout=20)
    th = threading.Thread(target=slow)
    th.start()
    time.sleep(0.3)
    t0 = time.monotonic()
    r = pt.policy_query(d3.policy_addr, req("a@pass.example.com"))
    fast = time.monotonic() - t0
    like(r.get("action", ""), r"^PREPEND Received-SPF: Pass",
         "libspf2: pass")
    ok(fast < 1.0, "answered in %.2f s while a slow check runs" % fast)
    th.join(20)
    like((slow_reply.get("r") or {}).get("action", ""), r"Temperror",
         "the slow check ends in temperror")
    d3.stop()

ub.stop()
pt.done()
