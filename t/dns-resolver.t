#!/usr/bin/python3
# dns-resolver.t - postern's resolver (common/dns.c) against a real
# unbound on loopback, through postern-dnsquery: the outcomes the engines
# depend on (ok, NXDOMAIN, no data, SERVFAIL, timeout) kept apart, TTLs,
# the cache, fail-over between servers, a TXT record too big for UDP, and
# names that must never be sent.
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import postern_test as pt                                      # noqa: E402
from postern_test import ok, is_, like, section                # noqa: E402

TOOL = os.path.join(pt.top_builddir(), "tools", "postern-dnsquery")
if not os.access(TOOL, os.X_OK):
    pt.skip_all("postern-dnsquery not built")
if pt.have_programs("unbound"):
    pt.skip_all("unbound not installed")

BIG = "v=spf1 " + " ".join("ip4:198.51.100.%d" % i for i in range(1, 120)) \
    + " -all"
ub = pt.Unbound({"example.com": [
    ("host", "A", "192.0.2.1"),
    ("host", "A", "192.0.2.2"),
    ("mx", "MX", "10 host.example.com."),
    ("txt", "TXT", "v=spf1 -all"),
    ("big", "TXT", BIG),
    # an apex SOA, as every real zone has: negative answers carry it
    ("@", "SOA", "ns.example.com. hostmaster.example.com. 1 3600 600 "
     "86400 120"),
]}, timeout_zone="slow.example.org", servfail_zone="broken.example.org")


def q(name, qtype="A", *opts, servers=None):
    argv = [TOOL]
    for s in servers or [ub.addr]:
        argv += ["-o", "dns_server=%s" % s]
    for o in opts:
        argv += ["-o", o]
    t0 = time.monotonic()
    p = subprocess.run(argv + list(name.split()) + [qtype],
                       capture_output=True, text=True, timeout=30)
    took = time.monotonic() - t0
    return p.returncode, p.stdout, p.stderr, took


with section("outcomes kept apart"):
    rc, out, err, _ = q("host.example.com")
    like(out, r"^status=ok rcode=0 ttl=\d+ count=2", "A: ok, two records")
    like(out, r"(?m)^A 192\.0\.2\.1$", "first address")
    is_(rc, 0, "exit 0 for ok")
    rc, out, _, _ = q("nope.example.com")
    like(out, r"^status=nxdomain rcode=3", "NXDOMAIN")
    is_(rc, 1, "exit 1 otherwise")
    rc, out, _, _ = q("txt.example.com", "AAAA")
    like(out, r"^status=nodata rcode=0", "existing name, no AAAA: no data")
    rc, out, _, _ = q("x.broken.example.org", "TXT")
    like(out, r"^status=servfail", "SERVFAIL")
    rc, out, _, took = q(ub.timeout_name(), "TXT", "dns_timeout=800ms")
    like(out, r"^status=timeout", "no answer: timeout")
    ok(took < 5, "timeout within the limit (%.1f s for 800 ms)" % took)
    rc, out, _, _ = q("mx.example.com", "MX")
    like(out, r"(?m)^MX 10 host\.example\.com$", "MX record")
    rc, out, _, _ = q("nope.example.com")
    like(out, r"^status=nxdomain rcode=3 ttl=120 ",
         "negative TTL from the SOA minimum (RFC 2308)")

with section("large TXT falls back to TCP"):
    rc, out, _, _ = q("big.example.com", "TXT")
    like(out, r"^status=ok", "answered")
    ok(out.count("ip4:") == 119 and "-all" in out,
       "the whole %d-byte record" % len(BIG))

with section("cache"):
    rc, out, _, _ = q("txt.example.com", "TXT", servers=[ub.addr])
    p = subprocess.run([TOOL, "-o", "dns_server=%s" % ub.addr, "-r", "5",
                        "txt.example.com", "TXT"], capture_output=True,
                       text=True, timeout=30)
    like(p.stdout, r"(?m)^queries=1 cache_hits=4$",
         "five lookups, one query")
    p = subprocess.run([TOOL, "-o", "dns_server=%s" % ub.addr, "-o",
                        "dns_cache_size=0", "-r", "3", "txt.example.com",
                        "TXT"], capture_output=True, text=True, timeout=30)
    like(p.stdout, r"(?m)^queries=3 cache_hits=0$",
         "dns_cache_size = 0 disables it")
    p = subprocess.run([TOOL, "-o", "dns_server=%s" % ub.addr, "-r", "3",
                        "nope.example.com"], capture_output=True, text=True,
                       timeout=30)
    like(p.stdout, r"(?m)^queries=1 cache_hits=2$", "NXDOMAIN cached too")
    p = subprocess.run([TOOL, "-o", "dns_server=%s" % ub.addr, "-r", "2",
                        "x.broken.example.org"], capture_output=True,
                       text=True, timeout=30)
    like(p.stdout, r"(?m)^queries=2 cache_hits=0$", "SERVFAIL not cached")

with section("servers"):
    dead = "127.0.0.1:%d" % pt.free_port()
    rc, out, _, _ = q("host.example.com", "A", "dns_timeout=3s",
                      servers=[dead, ub.addr])
    like(out, r"^status=ok", "first server dead: the second answers")
    rc, out, err, _ = q("host.example.com", "A", servers=["300.1.2.3"])
    ok(rc != 0 and "dns_server" in err, "bad server address refused: %s"
       % err.strip())

with section("names never sent"):
    for name in ("a..b.example.com", "x" * 64 + ".example.com",
                 ("a" * 60 + ".") * 5 + "com"):
        rc, out, _, _ = q(name, "A")
        like(out, r"^status=error", "invalid name not sent: %.30s..."
             % name)

ub.stop()
pt.done()
