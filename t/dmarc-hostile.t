#!/usr/bin/python3
# dmarc-hostile.t - hostile input through postern-dmarc (driven by
# milter_test.py's own milter client: miltertest cannot send fields over
# 1 KB): broken DMARC records (no p=, 40 tags, NUL bytes, 8-bit bytes, a
# record in 60 one-byte strings, 30 records at one name, v=DMARC10, a
# missing ";" after v=, a !size that overflows, a CNAME to a record and a
# CNAME loop, 100 rua= URIs, odd separators), From: headers with nested
# and unbalanced comments, groups, encoded words, no address, an 8-bit
# domain, a 1000-byte local part, 100 KB of display name, 7000 addresses,
# From domains of 30 labels and of 300 bytes; 1000 Authentication-Results
# headers (over max_headers: 552 5.3.4; under a raised limit: evaluated),
# Authentication-Results with hostile values (over-long values, 100
# results in one field, unterminated quotes and comments, empty header.d,
# junk result words).  Every message must get an answer (never a dropped
# connection) in bounded time, with its expected result where the input
# decides one (never "pass" for a broken record); the daemon must stay up,
# answer a good message at the end, and leave no sanitizer report.
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import postern_test as pt                                      # noqa: E402
from postern_test import ok, is_, diag, section                # noqa: E402
import milter_test as mt                                       # noqa: E402
import dmarc_test as dt                                        # noqa: E402

if not os.access(dt.dmarc_path(), os.X_OK):
    pt.skip_all("postern-dmarc not built")
missing = pt.have_programs("unbound", "openssl")
if missing:
    pt.skip_all("missing: %s" % ", ".join(missing))

tmp = pt.tmpdir()
KEY = mt.KeyPair(os.path.join(tmp.sub("keys", 0o700), "sel.pem"), "rsa",
                 2048)
zones = dt.zone(KEY)
HOSTILE_RECORDS = {
    # name: (TXT record(s) or ("CNAME", target), expected dmarc= result
    #        for unauthenticated mail, expected SMTP code)
    "vonly": ("v=DMARC1", "permerror", None),
    "vsemi": ("v=DMARC1;", "permerror", None),
    "tags40": ("v=DMARC1; p=reject; " + "; ".join(
        "x%d=y" % i for i in range(40)), "permerror", None),
    "nul": ("v=DMARC1; p=reject; x=a\0b", "permerror", None),
    "eightbit": (b"v=DMARC1; p=reject; x=\xff\xfe\x80", "fail", 550),
    "onebyte": ([c for c in "v=DMARC1; p=reject"], "fail", 550),
    "many": (["v=DMARC1; p=reject; x=%d" % i for i in range(30)], "none",
             None),
    "manyjunk": (["not dmarc %d" % i for i in range(30)] +
                 ["v=DMARC1; p=reject"], "fail", 550),
    "dmarc10": ("v=DMARC10; p=reject", "none", None),
    "nosemi": ("v=DMARC1 p=reject", "none", None),
    "lowerv": ("v=dmarc1; p=reject", "none", None),
    "bigsize": ("v=DMARC1; p=reject; rua=mailto:a@bigsize.example!"
                "99999999999999999999999t", "fail", 550),
    "bigri": ("v=DMARC1; p=reject; ri=999999999999999999999; pct=1000; "
              "fo=zz:yy; adkim=q; aspf=", "fail", 550),
    "separators": ("v=DMARC1;;;;; ;\t;p\t=\treject ;;;;", "fail", 550),
    "rua60": ("v=DMARC1; p=reject; rua=" + ",".join(
        "mailto:r%d@rua60.example" % i for i in range(60)), "fail", 550),
    "badrua": ("v=DMARC1; p=bogus; rua=http://x, mailto:, mailto:@, "
               "mailto:a@", "permerror", None),
    # unbound does not chase a CNAME in its local data: the stub
    # resolver sees a chain ending nowhere (NODATA: none); a recursive
    # server that chases it would give reject.example's policy
    "alias": (("CNAME", "_dmarc.reject.example."), None, None),
    "loop": (("CNAME", "_dmarc.loop.example."), None, None),
}
for name, (rec, _, _) in HOSTILE_RECORDS.items():
    dom = "%s.example" % name
    zones["example"].append((dom + ".", "A", dt.SPF_OK_IP))
    if isinstance(rec, tuple):
        zones["example"].append(("_dmarc.%s." % dom, rec[0], rec[1]))
        continue
    recs = rec if isinstance(rec, list) and name != "onebyte" else [rec]
    for r in recs:
        zones["example"].append(("_dmarc.%s." % dom, "TXT", r))
ub = pt.Unbound(zones, timeout_zone=dt.SLOW, servfail_zone=dt.BROKEN)
d = dt.start_dmarc(ub, {"dns_timeout": "1s"}, name="dmarc-hostile")
big = dt.start_dmarc(ub, {"max_headers": 5000, "max_header_bytes":
                          8 * 1024 * 1024}, name="dmarc-hostile-big")

LIMIT_S = 5.0


def send(dm, msg, label, sender="<b@unrelated.example>", ip="192.0.2.1",
         **kw):
    """One message; checks it got an answer in bounded time."""
    t0 = time.monotonic()
    res = msg.send(dm.milter_addr, client_ip=ip, sender=sender, timeout=30,
                   **kw)
    dt_s = time.monotonic() - t0
    ok(res.action not in ("closed", None) and dt_s < LIMIT_S,
       "%s: answered (%s) in %.1f s" % (label, res, dt_s))
    if res.error:
        diag(res.error)
    return res


def result_of(res):
    r = dt.dmarc_results(res)
    return r[0]["result"] if len(r) == 1 else None


BASE = [h for h in mt.Message.simple().headers if h[0] != "From"]


def with_from(value, extra=()):
    return mt.Message([("From", value)] + BASE + list(extra),
                      b"Hello.\r\n")


with section("broken and odd policy records"):
    for name, (rec, want, code) in HOSTILE_RECORDS.items():
        frm = "%s.example" % name
        res = send(d, with_from(" a@" + frm), "record %s" % name)
        if want is None:
            ok(result_of(res) in ("none", "temperror", "permerror") or
               res.code == 550, "record %s: some answer, never pass (%s)" %
               (name, dt.dmarc_results(res)))
        elif code is not None:
            is_(res.code, code, "record %s: dmarc=%s, rejected" % (name,
                                                                  want))
        else:
            is_(result_of(res), want, "record %s: dmarc=%s" % (name, want))
        ok(result_of(res) != "pass", "record %s: not a pass" % name)

with section("hostile From: headers"):
    FROM_CASES = [
        # label, value, expected: "reject" (550 at any stage) or a
        # dmarc= result with the message accepted
        ("nested comments", " (a (b (c (d) c) b) a) x@reject.example",
         "reject"),
        ("comments 100 deep", " " + "(" * 100 + "x" + ")" * 100 +
         " x@reject.example", "reject"),
        ("unbalanced comment", " (never closed x@reject.example", "reject"),
        ("unbalanced quote", ' "never closed <x@reject.example>',
         "reject"),
        ("unbalanced <", " Alice <x@reject.example", "reject"),
        ("group", " team: a@reject.example;", "reject"),
        ("group in a group", " a: b: c@reject.example;;", "reject"),
        ("encoded word with a fake address",
         " =?UTF-8?Q?x@evil.example?= <x@reject.example>", "reject"),
        ("encoded word only", " =?UTF-8?B?QWxpY2U=?=", "reject"),
        ("empty", "", "reject"),
        ("only spaces", "    ", "reject"),
        ("<>", " <>", "reject"),
        ("two @", " a@b@reject.example", "reject"),
        ("8-bit domain", " a@r\u00e9ject.example", "reject"),
        ("domain with a trailing dot", " a@reject.example.", "reject"),
        ("domain literal", " a@[127.0.0.1]", "reject"),
        ("route", " <@relay.example:a@reject.example>", "reject"),
        ("1000-byte local part", " " + "l" * 1000 + "@reject.example",
         "reject"),
        ("60 KB display name", ' "' + "D" * 60000 +
         '" <a@reject.example>', "reject"),
        ("2500 addresses (60 KB)", " " + ", ".join(
            "a%d@reject.example" % i for i in range(2500)), "reject"),
        ("30-label domain", " a@" + "x." * 28 + "reject.example",
         "reject"),
        ("300-byte domain", " a@" + "y" * 60 + "." + "z" * 60 + "." +
         "w" * 60 + "." + "v" * 60 + "." + "u" * 40 + ".example",
         "reject"),
        ("64-byte label", " a@" + "q" * 64 + ".example", "reject"),
        ("CR LF inside", " a@reject.example\r\n\tX-Injected: yes",
         "reject"),
        ("NUL inside", " a@reject.example\0b@quar.example", "reject"),
        ("p=none domain with a comment", " (c) a@none.example (d)", "fail"),
    ]
    for label, value, want in FROM_CASES:
        res = send(d, with_from(value), "From: %s" % label)
        if want == "reject":
            ok(res.code == 550 and res.reply and
               res.reply.startswith("550 5.7.1"),
               "From: %s: 550 5.7.1 (%s)" % (label, res.reply))
        else:
            is_(result_of(res), want, "From: %s: dmarc=%s" % (label, want))
    # the same with the From: checks off: every one is answered and none
    # passes (there is no authentication at all)
    lax = dt.start_dmarc(ub, {"required_headers": "no",
                              "reject_multi_from": "no"},
                         name="dmarc-hostile-lax")
    for label, value, want in FROM_CASES:
        res = send(lax, with_from(value), "From checks off: %s" % label)
        ok(result_of(res) != "pass" and res.code in (None, 550),
           "From checks off: %s: no pass (%s %s)" % (
               label, res.reply, dt.dmarc_results(res)))
    lax.stop()
    # over libmilter's 64 KB packet: it closes the connection (the MTA
    # applies its milter_default_action); the daemon must not mind
    m = with_from(' "' + "D" * 100000 + '" <a@reject.example>')
    for label, proto in (("100 KB From:", mt.ALL_PROTOCOL),
                         ("100 KB From:, MTA offers 1 MB packets",
                          mt.ALL_PROTOCOL | mt.P_MDS_1M)):
        res = m.send(d.milter_addr, client_ip="192.0.2.1",
                     sender="<b@unrelated.example>", protocol=proto)
        ok(res.action == "closed" or res.code == 550, "%s: closed by "
           "libmilter or refused (%s)" % (label, res))
        ok(mt.daemon_alive(d), "%s: daemon still serving" % label)

with section("1000 Authentication-Results headers"):
    spf_pass = ("Authentication-Results",
                dt.ar("pass", "b@reject.example"))
    junk = [("Authentication-Results", " %s; dkim=fail header.d=x%d."
             "example header.s=s" % (dt.AUTHSERV, i)) for i in range(999)]
    m = with_from(" a@reject.example", [spf_pass] + junk)
    res = send(d, m, "1000 Authentication-Results (max_headers=1000)",
               sender="<b@reject.example>")
    ok(res.reply and res.reply.startswith("552 5.3.4"),
       "over max_headers: 552 5.3.4 (%s)" % res.reply)
    res = send(big, m, "1000 Authentication-Results (max_headers=5000)",
               sender="<b@reject.example>")
    is_(result_of(res), "pass", "the first (trusted, aligned) spf=pass "
        "counts; 999 dkim=fail after it change nothing")
    m = with_from(" a@reject.example", junk + [(
        "Authentication-Results", " %s; dkim=pass header.d=reject.example"
        % dt.AUTHSERV)])
    res = send(big, m, "999 dkim=fail then one dkim=pass",
               sender="<b@unrelated.example>")
    ok(res.code == 550 or result_of(res) in ("pass", "fail"),
       "999 dkim=fail then a pass: an answer (%s %s; DMARC_DKIM_MAX "
       "bounds the results looked at)" % (res.reply,
                                         dt.dmarc_results(res)))

with section("hostile Authentication-Results values"):
    S = dt.AUTHSERV
    AR_CASES = [
        ("header.d of 1000 bytes", " %s; dkim=pass header.d=%s" % (
            S, "d" * 1000 + ".reject.example")),
        ("100 results in one field", " %s; " % S + "; ".join(
            "dkim=pass header.d=x%d.example" % i for i in range(100))),
        ("unterminated quote", ' %s; dkim=pass header.d="reject.example' %
         S),
        ("unterminated comment", " %s; dkim=pass (header.d=reject.example"
         % S),
        ("empty header.d", " %s; dkim=pass header.d=" % S),
        ("junk result word", " %s; dkim=passed header.d=reject.example; "
         "spf=yes smtp.mailfrom=b@reject.example" % S),
        ("no result", " %s; dkim header.d=reject.example" % S),
        ("authserv-id of 300 bytes", " %s; dkim=pass header.d="
         "reject.example" % ("i" * 300)),
        ("header.i only", " %s; dkim=pass header.i=@evil.example" % S),
        ("smtp.mailfrom without a domain", " %s; spf=pass smtp.mailfrom="
         "nobody" % S),
        ("8-bit bytes", " %s; dkim=pass header.d=r\u00e9ject.example" % S),
        ("only semicolons", " %s;;;;;;;" % S),
        ("50 KB of nested comments", " %s; " % S + "(" * 25000 +
         ")" * 25000),
    ]
    for label, v in AR_CASES:
        m = with_from(" a@reject.example", [("Authentication-Results", v)])
        res = send(d, m, "AR %s" % label)
        # nothing here is an aligned pass for reject.example with this
        # envelope (b@unrelated.example)
        is_(res.code, 550, "AR %s: no pass: rejected" % label)

with section("DNS trouble under load of names"):
    for i in range(3):
        res = send(d, with_from(" a@%s" % ub.timeout_name("h")),
                   "timeout #%d" % i)
        is_(result_of(res), "temperror", "timeout #%d: temperror" % i)
    res = send(d, with_from(" a@" + "x." * 20 + dt.SLOW),
               "a 22-label name in the timeout zone")
    is_(result_of(res), "temperror", "deep name under the timeout zone: "
        "temperror within the budget")

with section("still serving"):
    for dm in (d, big):
        ok(mt.daemon_alive(dm), "%s: alive and answering" % dm.name)
        m = with_from(" a@reject.example", [(
            "Authentication-Results", dt.ar("pass", "b@reject.example"))])
        res = send(dm, m, "%s: a good message at the end" % dm.name,
                   sender="<b@reject.example>")
        is_(result_of(res), "pass", "%s: dmarc=pass" % dm.name)

dt.stop_all([d, big])
pt.done()
