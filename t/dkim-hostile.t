#!/usr/bin/python3
# dkim-hostile.t - hostile DKIM-Signature fields and key records through
# postern-dkim (verify mode, driven by milter_test.py's milter client, as
# miltertest cannot send fields over 1 KB): malformed tag lists, duplicate
# tags, huge h= lists, missing required tags, absurd l=, broken base64,
# more signatures than max_signatures, key records that are not keys,
# k=unknown, a 512-bit RSA key, rsa-sha1, i= outside d=, expired x=,
# signatures of 60 KB and 100 KB.  Most signatures are made by our own
# small signer (milter_test.dkim_sign) so the crypto is right and only the
# oddity can make them fail.  Each message must get its expected dkim=
# result (never "pass" for a broken one), in bounded time, and the daemon
# must stay up with no sanitizer report in its log.
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import postern_test as pt                                      # noqa: E402
from postern_test import ok, is_, diag, section                # noqa: E402
import milter_test as mt                                       # noqa: E402

DKIM = mt.dkim_path()
if not os.access(DKIM, os.X_OK):
    pt.skip_all("postern-dkim not built")
missing = pt.have_programs("unbound", "openssl")
if missing:
    pt.skip_all("missing: %s" % ", ".join(missing))

AUTHSERV = "mx.test.example"
tmp = pt.tmpdir()
kdir = tmp.sub("keys", 0o700)
K = {
    "ext": mt.KeyPair(os.path.join(kdir, "ext.pem"), "rsa", 2048),
    "ed": mt.KeyPair(os.path.join(kdir, "ed.pem"), "ed25519"),
    "r512": mt.KeyPair(os.path.join(kdir, "r512.pem"), "rsa", 512),
    "r1024": mt.KeyPair(os.path.join(kdir, "r1024.pem"), "rsa", 1024),
}
P = K["ext"].pub_b64
ub = pt.Unbound({"example.net": [
    ("ext._domainkey", "TXT", K["ext"].record),
    ("ed._domainkey", "TXT", K["ed"].record),
    ("r512._domainkey", "TXT", K["r512"].record),
    ("r1024._domainkey", "TXT", K["r1024"].record),
    ("notakey._domainkey", "TXT", "v=DKIM1; p=@@@"),
    ("garbage._domainkey", "TXT", "this is not a key record at all"),
    ("unknownk._domainkey", "TXT", "v=DKIM1; k=unknown; p=" + P),
    ("revoked._domainkey", "TXT", "v=DKIM1; k=rsa; p="),
    ("badb64._domainkey", "TXT", "v=DKIM1; k=rsa; p=" + P[:-10] + "!!!!"),
    ("wrongv._domainkey", "TXT", "v=DKIM2; k=rsa; p=" + P),
    ("sha1only._domainkey", "TXT", "v=DKIM1; h=sha1; k=rsa; p=" + P),
    ("strict._domainkey", "TXT", "v=DKIM1; k=rsa; t=s; p=" + P),
]})

d = mt.start_dkim(ub, {"mode": "v", "authserv_id": AUTHSERV,
                       "dns_timeout": "2s", "max_signatures": 5},
                  name="postern-dkim-hostile")

BASE = mt.Message.simple(frm="Alice <alice@example.net>",
                         subject="hostile input",
                         body="Hello.\r\nA body of a few lines.\r\n\r\n")
NOW = int(time.time())
SYNTAX = {"neutral", "permerror"}
NOT_PASS = {"neutral", "permerror", "fail", "policy"}


def sig(key="ext", s=None, **kw):
    return mt.dkim_sign(BASE, K[key], d=kw.pop("d", "example.net"),
                        s=s or key, **kw)


def std_tags(key="ext", sel=None, **over):
    """The tag list dkim_sign would make, as [(name, value)], with
    overrides (None value: tag dropped)."""
    a = "ed25519-sha256" if K[key].alg == "ed25519" else "rsa-sha256"
    t = [("v", "1"), ("a", a), ("c", "relaxed/relaxed"),
         ("d", "example.net"), ("s", sel or key),
         ("h", "from:to:subject:date:message-id"), ("bh", None),
         ("b", None)]
    out = []
    for k, v in t:
        if k in over:
            if over[k] is not None:
                out.append((k, over[k]))
        else:
            out.append((k, v))
    return out


def check(label, sigs, want, msg=None, timeout=15.0):
    """Send msg (default BASE) with the DKIM-Signature values sigs on top;
    want: a list of results (exact, order-insensitive) or a set (every
    result in it).  Returns the results."""
    m = (msg or BASE).copy()
    for s in sigs:
        m = m.with_header("DKIM-Signature", s)
    t0 = time.monotonic()
    res = m.send(d.milter_addr, client_ip="192.0.2.77", timeout=timeout)
    took = time.monotonic() - t0
    got = mt.dkim_results(res)
    if isinstance(want, set):
        good = bool(got) and all(g in want for g in got)
        desc = "|".join(sorted(want))
    else:
        good = sorted(got) == sorted(want)
        desc = ",".join(want)
    if not ok(res.action in ("accept", "continue") and good,
              "%s: dkim=%s" % (label, desc)):
        diag("got %r (%s), Authentication-Results %r" % (got, res,
                                                         res.authres()))
    ok(took < timeout, "%s: answered in %.1f s" % (label, took))
    return got


with section("controls"):
    check("valid RSA signature", [sig()], ["pass"])
    check("valid Ed25519 signature", [sig("ed")], ["pass"])
    check("valid RSA-1024 signature", [sig("r1024")], ["pass"])
    check("white space around '=' and ';' (RFC 6376 tag-spec FWS)",
          [sig(tags=[(" v ", " 1 "), ("a", " rsa-sha256"),
                     ("c ", "relaxed/relaxed"), ("d", "example.net"),
                     ("s", "ext"), ("h", "from : to : subject : date"),
                     ("bh", None), ("b", None)],
               h=("from", "to", "subject", "date"))], ["pass"])

with section("malformed tag lists"):
    check("a tag without '='", [sig(tags=std_tags()[:3] + [
        (None, "garbage")] + std_tags()[3:])], SYNTAX)
    check("an empty tag name", [sig(tags=std_tags()[:3] + [
        ("", "value")] + std_tags()[3:])], SYNTAX)
    check("bad characters in a tag name", [sig(tags=std_tags()[:3] + [
        ("t@g", "1")] + std_tags()[3:])], SYNTAX)
    check("a control character in a value", [sig(tags=std_tags(
        d="example.net\x01"))], SYNTAX)
    check("only semicolons", [" ;;;;;;"], SYNTAX)
    check("an empty field", [" "], SYNTAX)
    check("v=2", [sig(tags=std_tags(v="2"))], SYNTAX)

with section("duplicate tags"):
    for tag, val in (("d", "example.net"), ("s", "ext"),
                     ("h", "from:to:subject:date:message-id"),
                     ("a", "rsa-sha256"), ("v", "1")):
        t = std_tags()
        t.insert(5, (tag, val))
        check("duplicate %s=" % tag, [sig(tags=t)], SYNTAX)
    t = std_tags()
    t.insert(6, ("bh", None))
    check("duplicate bh=", [sig(tags=t)], SYNTAX)

with section("huge h= lists"):
    many = tuple("x-h%d" % i for i in range(3000))
    check("h= with 3000 names (never present)", [sig(h=("from",) + many)],
          {"pass", "neutral", "permerror", "policy"})
    many = ("from",) * 1200
    check("h= with 1200 x from", [sig(h=many)],
          {"pass", "neutral", "permerror", "policy"})
    check("h= without from", [sig(h=("to", "subject"))], SYNTAX)
    check("h= empty", [sig(tags=std_tags(h=""))], SYNTAX)
    ok(mt.daemon_alive(d), "still serving after huge h= lists")

with section("missing required tags"):
    for tag in ("v", "a", "b", "bh", "d", "h", "s"):
        check("no %s= tag" % tag, [sig(tags=std_tags(**{tag: None}))],
              SYNTAX)

with section("absurd l="):
    blen = len(mt.canon_body(BASE.body))
    check("l= larger than the body", [sig(l=blen + 100)],
          {"fail", "permerror", "neutral"})
    check("l= of 100 digits", [sig(tags=std_tags()[:5] + [
        ("l", "9" * 100)] + std_tags()[5:])], SYNTAX)
    check("l= negative", [sig(tags=std_tags()[:5] + [
        ("l", "-5")] + std_tags()[5:])], SYNTAX)
    check("l= not a number", [sig(tags=std_tags()[:5] + [
        ("l", "12abc")] + std_tags()[5:])], SYNTAX)
    check("l=18446744073709551617 (2^64 + 1)", [sig(tags=std_tags()[:5] + [
        ("l", "18446744073709551617")] + std_tags()[5:])],
        {"neutral", "permerror", "fail"})

with section("broken base64"):
    check("b= not base64", [sig(b="!!!!not*base64@@@@")],
          {"neutral", "permerror", "fail"})
    check("bh= not base64", [sig(bh="%%%%%%")],
          {"neutral", "permerror", "fail"})
    check("b= truncated base64", [sig(b="QUJD")], {"neutral", "permerror",
                                                   "fail"})
    check("b= empty", [sig(b="")], {"neutral", "permerror", "fail"})
    check("bh= of the wrong length", [sig(bh="QUJDRA==")],
          {"neutral", "permerror", "fail"})
    good = sig()
    broken = re.sub(r"b=([A-Za-z0-9+/]{20})", r"b=\1====", good, count=1)
    check("b= with padding in the middle", [broken],
          {"neutral", "permerror", "fail"})

with section("more signatures than max_signatures"):
    got = check("8 valid signatures, max_signatures=5",
                [sig() for _ in range(8)], ["pass"] * 5 + ["policy"] * 3)
    got = check("40 valid signatures", [sig() for _ in range(40)],
                {"pass", "policy"})
    is_(got.count("pass"), 5, "40 signatures: exactly 5 checked (pass)")
    bad = [sig(b="QUJD") for _ in range(30)]
    got = check("30 broken signatures and a good one", bad + [sig()],
                {"fail", "neutral", "permerror", "policy", "pass"})
    ok(got.count("pass") + got.count("fail") + got.count("neutral") +
       got.count("permerror") <= 5, "30 broken + 1 good: at most 5 "
       "signatures checked (%r)" % got)

with section("key records that are not keys"):
    check("p=@@@", [sig(s="notakey")], ["permerror"])
    check("a TXT record that is not a key record", [sig(s="garbage")],
          ["permerror"])
    check("k=unknown", [sig(s="unknownk")], ["permerror"])
    check("p= revoked", [sig(s="revoked")], ["permerror"])
    check("p= broken base64", [sig(s="badb64")], ["permerror"])
    check("v=DKIM2 in the key record", [sig(s="wrongv")], ["permerror"])
    check("no key record (NXDOMAIN)", [sig(s="nosuchkey")], ["permerror"])
    check("key h=sha1 only, signature rsa-sha256", [sig(s="sha1only")],
          {"permerror", "fail"})
    check("ed25519 signature, RSA key record",
          [sig("ed", s="ext")], {"permerror", "fail"})

with section("crypto rules (RFC 8301)"):
    check("a 512-bit RSA key", [sig("r512")], ["fail"])
    check("rsa-sha1", [sig(a="rsa-sha1")], ["fail"])

with section("identity and time"):
    check("i= not within d=", [sig(i="@evil.example")], ["permerror"])
    check("i= a parent of d=", [sig(i="@net")], ["permerror"])
    check("i= a subdomain of d= (allowed)", [sig(i="bob@sub.example.net")],
          ["pass"])
    check("i= a subdomain of d= with a t=s key", [sig(
        s="strict", i="bob@sub.example.net")], {"permerror", "fail"})
    check("expired x=", [sig(t=NOW - 1000, x=NOW - 10)], ["policy"])
    check("x= before t=", [sig(t=NOW, x=NOW - 100)],
          {"neutral", "permerror", "policy"})
    check("x= of 100 digits", [sig(t=NOW, x="9" * 100)],
          {"neutral", "permerror", "pass"})

with section("huge signature fields"):
    pad = "A" * (60 * 1024)
    check("a 60 KB DKIM-Signature", [sig(extra=[("z", pad)])],
          {"neutral", "permerror", "pass"})
    tags_ = "; ".join("x%d=%d" % (i, i) for i in range(1500))
    check("1500 unknown tags", [sig(extra=[("y", "1; " + tags_)])],
          {"neutral", "permerror", "pass"})
    pad = "A" * (100 * 1024)
    big = sig(extra=[("z", pad)], b="QUJD")
    m = BASE.with_header("DKIM-Signature", big)
    for label, proto in (("100 KB DKIM-Signature", mt.ALL_PROTOCOL),
                         ("100 KB DKIM-Signature, MTA offers 1 MB packets",
                          mt.ALL_PROTOCOL | mt.P_MDS_1M)):
        res = m.send(d.milter_addr, client_ip="192.0.2.78", protocol=proto)
        got = mt.dkim_results(res)
        diag("%s: %s, results %r" % (label, res, got))
        ok("pass" not in got, "%s: not pass" % label)
        ok(res.action == "closed" or
           (got and all(g in NOT_PASS for g in got)),
           "%s: a result (or libmilter closes the connection on a packet "
           "over its size limit)" % label)
        ok(mt.daemon_alive(d), "%s: daemon still serving" % label)

with section("the daemon survived"):
    ok(d.alive(), "postern-dkim still running")
    check("a valid signature at the end", [sig()], ["pass"])
    reports = d.sanitizer_reports()
    ok(not reports, "no sanitizer report in the log so far")
    for r in reports[:2]:
        diag(r)

d.stop()
pt.done()
