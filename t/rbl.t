#!/usr/bin/python3
# rbl.t - the DNS list engine (common/rbl.c) against a real unbound on
# loopback, through t/rbl_tool: DNSBL (IPv4, IPv6), RHSBL (HELO, MAIL
# FROM, From: domains), DNSWL weights, filters, one query per name, a
# list whose server never answers (the check ends at its time limit and
# the other lists still count) and one that answers SERVFAIL, TXT texts
# with control bytes in the reply, the resolver's cache on a second
# check, hostile identities that are never asked, and the 64-site limit;
# each both blocking (rbl_check_sync) and on an event loop
# (rbl_check_start, -a).
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import postern_test as pt                                      # noqa: E402
from postern_test import ok, is_, like, unlike, section        # noqa: E402

TOOL = os.path.join(pt.top_builddir(), "t", "rbl_tool")
if not os.access(TOOL, os.X_OK):
    pt.skip_all("t/rbl_tool not built")
if pt.have_programs("unbound"):
    pt.skip_all("unbound not installed")

SOA = ("@", "SOA", "ns.test. hostmaster.test. 1 3600 600 86400 300")
V6 = "2001:db8::10"


def v6_name(ip, zone):
    import ipaddress
    h = ipaddress.ip_address(ip).exploded.replace(":", "")
    return ".".join(reversed(h)) + "." + zone


ub = pt.Unbound({
    "bl.example": [
        SOA,
        ("10.2.0.192", "A", "127.0.0.2"),
        ("10.2.0.192", "A", "127.0.0.4"),
        ("10.2.0.192", "TXT", b"Listed\r\n\x07 see https://bl.example/"
         b"q?ip=192.0.2.10 (100%)"),
        ("20.2.0.192", "A", "127.0.0.2"),
        ("20.2.0.192", "TXT", "Listed: 192.0.2.20"),
        ("11.2.0.192", "A", "127.0.0.255"),         # "query refused"
        ("12.2.0.192", "A", "127.0.0.12"),          # outside [2..11]
        (v6_name(V6, "bl.example"), "A", "127.0.0.3"),
    ],
    "wl.example": [
        SOA,
        ("10.2.0.192", "A", "127.0.10.1"),
        ("20.2.0.192", "A", "127.0.10.1"),
    ],
    "dbl.example": [
        SOA,
        ("spam.example.test", "A", "127.0.1.2"),
        ("spam.example.test", "TXT", "spam domain"),
        ("good.example.test", "A", "127.0.1.255"),  # outside the filter
    ],
    "dwl.example": [
        SOA,
        ("good.example.test", "A", "127.0.2.1"),
    ],
}, timeout_zone="slow.example", servfail_zone="broken.example")

LIMIT_MS = 1500


def run(*args, check=True):
    t0 = time.monotonic()
    p = subprocess.run([TOOL, "-s", ub.addr] + list(args),
                       capture_output=True, text=True, timeout=60)
    took = time.monotonic() - t0
    if check and p.returncode != 0:
        pt.diag("rbl_tool %s: exit %d: %s" % (" ".join(args), p.returncode,
                                              p.stderr.strip()))
    return p.returncode, p.stdout, p.stderr, took


def field(out, name, check=1):
    m = re.search(r"(?m)^check %d: .*\b%s=(-?\d+)" % (check, name), out)
    return int(m.group(1)) if m else None


def logline(out, check=1):
    lines = re.findall(r"(?m)^log:(.*)$", out)
    return lines[check - 1] if len(lines) >= check else ""


def dns_stat(out, name):
    m = re.search(r"(?m)^dns: .*\b%s=(\d+)" % name, out)
    return int(m.group(1)) if m else None


SITES = ["-c", "bl.example=127.0.0.[2..11]*3", "-c", "wl.example*-1",
         "-c", "slow.example*5", "-c", "broken.example*5"]

for mode in ("sync", "async"):
    extra = ["-a"] if mode == "async" else []
    ip = "192.0.2.10" if mode == "sync" else "192.0.2.20"
    with section("%s: a list that never answers, one that fails" % mode):
        rc, out, err, took = run(*(extra + SITES + [
            "-t", str(LIMIT_MS), "-x", "-i", ip,
            "-r", "$rbl_code Service unavailable; $rbl_class [$rbl_what] "
            "blocked using $rbl_domain${rbl_reason?; $rbl_reason}"]))
        is_(rc, 0, "exit 0")
        is_(field(out, "score"), 2, "score 3 - 1: the lists that answered "
            "count")
        is_(field(out, "queries"), 4, "four questions")
        # the first matching record: unbound rotates the two
        like(logline(out), r"^ rbl=bl\.example:127\.0\.0\.[24]:3,"
             r"wl\.example:127\.0\.10\.1:-1 rbl_score=2 "
             r"rbl_timeout=slow\.example,broken\.example$", "log fields: "
             "hits, score, lists without an answer")
        # blocking, the A round gets 3/4 of the limit (the TXT round the
        # rest); on the event loop the whole limit
        ms = field(out, "ms")
        low = LIMIT_MS * 3 // 4 if mode == "sync" else LIMIT_MS
        ok(ms is not None and low - 100 <= ms < LIMIT_MS + 700,
           "ended at the time limit (%s ms for %d)" % (ms, LIMIT_MS))
        ok(took < 5, "whole run %.1f s" % took)
        if mode == "sync":
            like(out, r"(?m)^txt bl\.example: Listed\?\?\? see https://"
                 r"bl\.example/q\?ip=192\.0\.2\.10 \(100%\)$",
                 "TXT fetched, control bytes masked")
            like(out, r"(?m)^reply: 554 Service unavailable; Client host "
                 r"\[192\.0\.2\.10\] blocked using bl\.example; Listed\?\?\? "
                 r"see https://bl\.example/q\?ip=192\.0\.2\.10 \(100%\)$",
                 "Postfix default_rbl_reply expanded")
        else:
            # with -a the TXT lookup starts as soon as the A answer is in,
            # so the slow list does not take the text's time away
            like(out, r"(?m)^txt bl\.example: Listed: 192\.0\.2\.20$",
                 "async: TXT fetched while the slow list is still pending")
            like(out, r"(?m)^reply: 554 Service unavailable; Client host "
                 r"\[192\.0\.2\.20\] blocked using bl\.example; Listed: "
                 r"192\.0\.2\.20$", "async: reply expanded")
        unlike(out, r"callback called", "async callback exactly once")

    with section("%s: filters, weights, one query per zone" % mode):
        rc, out, _, _ = run(*(extra + [
            "-c", "bl.example=127.0.0.2*3", "-c", "bl.example=127.0.0.4*2",
            "-c", "bl.example=127.0.0.9*50", "-c", "bl.example",
            "-i", "192.0.2.10"]))
        is_(field(out, "queries"), 1, "a zone listed four times: one "
            "question")
        is_(field(out, "score"), 3 + 2 + 1, "each matching entry adds "
            "once (two A records, the unfiltered entry counts once)")
        rc, out, _, _ = run(*(extra + [
            "-c", "bl.example", "-c", "bl.example=127.0.0.[2..11]*7",
            "-i", "192.0.2.11"]))
        is_(field(out, "score"), 0, "127.0.0.255 counts neither without "
            "a filter nor in [2..11]")
        rc, out, _, _ = run(*(extra + ["-c", "bl.example=127.0.0.255",
                                       "-i", "192.0.2.11"]))
        is_(field(out, "score"), 1, "an explicit filter may take it")
        rc, out, _, _ = run(*(extra + ["-c", "bl.example=127.0.0.[2..11]",
                                       "-i", "192.0.2.12"]))
        is_(field(out, "score"), 0, "127.0.0.12 outside the filter")
        rc, out, _, _ = run(*(extra + ["-c", "bl.example*4", "-i", V6]))
        is_(field(out, "score"), 4, "IPv6 client: 32 reversed nibbles")
        rc, out, _, _ = run(*(extra + ["-c", "bl.example*4",
                                       "-i", "::ffff:192.0.2.10"]))
        is_(field(out, "score"), 4, "v4-mapped address asked as IPv4")

    with section("%s: RHSBL and DNSWL by domain" % mode):
        rc, out, _, _ = run(*(extra + [
            "-H", "dbl.example=127.0.1.[1..254]", "-S",
            "dbl.example=127.0.1.[1..254]*2", "-F",
            "dbl.example=127.0.1.[1..254]*4", "-F", "dwl.example*-3",
            "-h", "Spam.Example.Test.", "-m", "spam.example.test",
            "-f", "good.example.test", "-x", "-r",
            "$rbl_class $rbl_what $rbl_domain ${rbl_reason?[$rbl_reason]}"]))
        is_(field(out, "score"), 1 + 2 - 3, "HELO 1 + MAIL FROM 2, From: "
            "domain allowlisted -3 (its 127.0.1.255 outside the filter)")
        is_(field(out, "queries"), 3, "HELO and MAIL FROM domain the same "
            "name: three questions")
        like(out, r"(?m)^reply: Helo command spam\.example\.test "
             r"dbl\.example \[spam domain\]$", "reply names the HELO hit")

    with section("%s: hostile identities are not asked" % mode):
        long_helo = ".".join(["a" * 60] * 5)             # 304 bytes
        near = ".".join(["b" * 60] * 4)[:246] + "x"      # 247 + zone > 253
        rc, out, _, _ = run(*(extra + [
            "-H", "dbl.example", "-S", "dbl.example", "-F", "dbl.example",
            "-h", long_helo, "-m", "[192.0.2.1]", "-f", near]))
        is_(field(out, "queries"), 0, "300-byte HELO, address literal, "
            "name over 253 bytes with the zone: nothing asked")
        is_(dns_stat(out, "queries"), 0, "...the resolver sent nothing")
        rc, out, _, _ = run(*(extra + [
            "-H", "dbl.example", "-S", "dbl.example",
            "-h", "192.0.2.1", "-m", "bad\x01name.example.test"]))
        is_(field(out, "queries"), 0, "bare IPv4 HELO, control byte in a "
            "domain: nothing asked")

    with section("%s: the cache" % mode):
        rc, out, _, _ = run(*(extra + [
            "-c", "bl.example*3", "-c", "wl.example*-1", "-c",
            "bl.example=127.0.0.4", "-i", "192.0.2.10", "-n", "3"]))
        is_(field(out, "score", 3), 3, "third check: same score")
        is_(logline(out, 3), logline(out, 1), "...same log fields")
        is_(dns_stat(out, "queries"), 2, "two names sent to the server, "
            "once")
        is_(dns_stat(out, "cache_hits"), 4, "the second and third checks "
            "answered from the cache (2 x 2 hits)")
        rc, out, _, _ = run(*(extra + [
            "-c", "nothere.bl.example", "-i", "192.0.2.10", "-n", "2"]))
        ok(dns_stat(out, "queries") == 1 and dns_stat(out, "cache_hits") == 1,
           "NXDOMAIN cached too (SOA negative TTL)")

with section("the 64-site limit"):
    args = []
    for i in range(64):
        args += ["-c", "l%d.bl.example" % i]
    rc, out, err, _ = run(*(args + ["-i", "192.0.2.10"]))
    is_(rc, 0, "64 sites accepted")
    is_(field(out, "queries"), 64, "64 questions")
    rc, out, err, _ = run(*(args + ["-c", "one.more.example",
                                    "-i", "192.0.2.10"]), check=False)
    is_(rc, 2, "a 65th site refused")
    like(err, r"more than 64 DNS lists", "...with a message")
    rc, out, err, _ = run("-c", "bl.example*x", "-i", "192.0.2.10",
                          check=False)
    like(err, r'"bl\.example\*x": the weight is not an integer', "a bad "
         "weight is named")

pt.done()
