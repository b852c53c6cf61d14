#!/usr/bin/python3
# dkim-milter.t - postern-dkim driven directly over the milter protocol:
# miltertest scripts (t/milter/*.lua) for each behaviour, and the same
# cases through milter_test.py's own client where miltertest cannot see
# enough (SMTP reply codes, header values over 1 KB).  Keys come from
# `openssl genpkey`, the key records from a test Unbound on loopback
# (with a zone that times out and one that answers SERVFAIL), third-party
# signatures from dkimpy, and our signatures are checked with dkimpy.
#
# Covered: signing from an internal address (one DKIM-Signature inserted at
# index 0, verifiable, From oversigned, no l=), RSA + Ed25519 in one pass
# (relaxed and simple), SASL-authenticated and {daemon_name} signing,
# external mail verified not signed; table mode (key_table and a refile:
# signing_table) with signature_ttl (x= = t= + TTL); verification of dkimpy
# signatures (pass, tampered body/header -> fail, both keys in one message);
# On-BadSignature / On-NoSignature / On-DNSError (timeout and SERVFAIL) /
# On-KeyNotFound with reject, tempfail, quarantine and accept; removal of
# inbound Authentication-Results with our authserv-id only; header count and
# size limits (552 5.3.4); reload on SIGUSR1 switching the key (and a bad
# reload keeping the old one); refusal to start with a group/world-readable
# key, and only a warning with require_safe_keys = no.
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import postern_test as pt                                      # noqa: E402
from postern_test import ok, is_, like, unlike, diag, section  # noqa: E402
import milter_test as mt                                       # noqa: E402

DKIM = mt.dkim_path()
if not os.access(DKIM, os.X_OK):
    pt.skip_all("postern-dkim not built")
missing = pt.have_programs("miltertest", "unbound", "openssl")
if missing:
    pt.skip_all("missing: %s" % ", ".join(missing))
try:
    import dkim  # noqa: F401
except ImportError:
    pt.skip_all("python3-dkim (dkimpy) not installed")

AUTHSERV = "mx.test.example"
tmp = pt.tmpdir()
kdir = tmp.sub("keys", 0o700)
K = {
    "rsa": mt.KeyPair(os.path.join(kdir, "rsa.pem"), "rsa", 2048),
    "ed": mt.KeyPair(os.path.join(kdir, "ed.pem"), "ed25519"),
    "rsa2": mt.KeyPair(os.path.join(kdir, "rsa2.pem"), "rsa", 2048),
    "ext": mt.KeyPair(os.path.join(kdir, "ext.pem"), "rsa", 2048),
    "exted": mt.KeyPair(os.path.join(kdir, "exted.pem"), "ed25519"),
}
SLOW, BROKEN = "slow.example.org", "broken.example.org"
ub = pt.Unbound({
    "example.com": [("rsa._domainkey", "TXT", K["rsa"].record),
                    ("ed._domainkey", "TXT", K["ed"].record),
                    ("rsa2._domainkey", "TXT", K["rsa2"].record)],
    "example.net": [("ext._domainkey", "TXT", K["ext"].record),
                    ("exted._domainkey", "TXT", K["exted"].record)],
}, timeout_zone=SLOW, servfail_zone=BROKEN)

BASE = {
    "mode": "sv",
    "domain": "example.com",
    "selector": "rsa",
    "key_file": K["rsa"].path,
    "authserv_id": AUTHSERV,
    "dns_timeout": "2s",
    "sign_daemon_names": "ORIGINATING",
}


def opts(**kw):
    o = dict(BASE)
    o.update(kw)
    return o


_n = [0]


def files(msg):
    """The header and body files of a message, for the Lua scripts."""
    _n[0] += 1
    h = mt.write_headers(os.path.join(tmp.path, "msg%d.hdr" % _n[0]),
                         msg.headers)
    b = os.path.join(tmp.path, "msg%d.body" % _n[0])
    with open(b, "wb") as f:
        f.write(msg.body)
    return {"HDRS": h, "BODY": b}


def lua(script, d, msg, label, **var):
    v = {"SOCKET": d.milter_addr, "LABEL": label, "TIMEOUT": "20"}
    v.update(files(msg))
    v.update({k: str(x) for k, x in var.items()})
    return mt.run_lua(script, v, label=None)


def verify_with(msg, sigs):
    """dkimpy's verdicts on msg carrying the DKIM-Signature values sigs."""
    m = msg
    for s in sigs:
        m = m.with_header("DKIM-Signature", s)
    return mt.dkimpy_verify(m.bytes(), ub)


def tags(sig):
    v = re.sub(r"\s+", "", sig)
    return dict(t.split("=", 1) for t in v.split(";") if "=" in t)


def results(values):
    out = []
    for v in values:
        out += mt.parse_authres(v)[1]
    return out


def ext_signed(msg, keys=("ext",)):
    """msg signed by dkimpy as example.net with each key of keys."""
    for k in keys:
        msg = mt.dkimpy_sign(msg, K[k], d="example.net", s=k)
    return msg


# ------------------------------------------------------------- signing

main = mt.start_dkim(ub, opts())

with section("signing mail from an internal address"):
    msg = mt.Message.simple(subject="internal signing")
    r = lua("sign.lua", main, msg, "internal 127.0.0.1", IP="127.0.0.1",
            SELECTORS="rsa")
    sigs = r.hdrs.get("DKIM-Signature", [])
    if sigs:
        t = tags(sigs[0])
        is_(t.get("a"), "rsa-sha256", "internal: a=rsa-sha256")
        is_(t.get("d"), "example.com", "internal: d=example.com")
        is_(t.get("c"), "relaxed/relaxed", "internal: default "
            "canonicalization relaxed/relaxed")
        ok("l" not in t, "internal: no l= tag")
        hl = [h.lower() for h in t.get("h", "").split(":")]
        ok(hl.count("from") >= 2, "internal: From oversigned (h=%s)" %
           t.get("h"))
        allok, each, log = verify_with(msg, sigs)
        if not ok(allok, "internal: the signature verifies with dkimpy"):
            diag(log)
    else:
        ok(False, "internal: a signature to look at")
    res = msg.send(main.milter_addr, client_ip="127.0.0.1")
    is_([(i, n) for i, n, _ in res.inserted], [(0, "DKIM-Signature")],
        "internal (own client): one DKIM-Signature inserted at index 0")
    ok(res.action in ("accept", "continue"), "internal (own client): "
       "accepted (%s)" % res)
    if res.inserted:
        allok, _, log = mt.dkimpy_verify(
            mt.Message(res.apply(msg.headers), msg.body).bytes(), ub)
        if not ok(allok, "internal (own client): signature verifies"):
            diag(log)

with section("signing for SASL-authenticated and {daemon_name} clients"):
    msg = mt.Message.simple(subject="authenticated")
    r = lua("sign.lua", main, msg, "auth", IP="192.0.2.50", AUTH="alice",
            SELECTORS="rsa")
    ok(r.hdrs.get("DKIM-Signature") and
       verify_with(msg, r.hdrs["DKIM-Signature"])[0],
       "auth: the signature verifies with dkimpy")
    msg = mt.Message.simple(subject="submission")
    r = lua("sign.lua", main, msg, "daemon_name ORIGINATING",
            IP="192.0.2.51", DAEMON_NAME="ORIGINATING", SELECTORS="rsa")
    ok(r.hdrs.get("DKIM-Signature") and
       verify_with(msg, r.hdrs["DKIM-Signature"])[0],
       "daemon_name: the signature verifies with dkimpy")
    msg = mt.Message.simple(subject="port 25")
    r = lua("sign.lua", main, msg, "daemon_name smtpd (not listed)",
            IP="192.0.2.52", DAEMON_NAME="smtpd", EXPECT_SIGS=0)
    is_(len(r.hdrs.get("Authentication-Results", [])), 1,
        "daemon_name smtpd: verified instead (one Authentication-Results)")
    msg = mt.Message.simple(frm="Mallory <m@elsewhere.example>",
                            subject="foreign From")
    r = lua("sign.lua", main, msg, "internal, From not ours",
            IP="127.0.0.1", EXPECT_SIGS=0)

with section("external client: verified, not signed"):
    msg = mt.Message.simple(subject="from outside")
    r = lua("verify.lua", main, msg, "external unsigned", IP="192.0.2.1")
    ar = r.hdrs.get("Authentication-Results", [])
    if ar:
        serv, res = mt.parse_authres(ar[0])
        is_(serv, AUTHSERV, "external unsigned: authserv-id %s" % AUTHSERV)
        is_([x["result"] for x in res], ["none"],
            "external unsigned: dkim=none")

dual = mt.start_dkim(ub, opts(selector="rsa,ed",
                              key_file="%s,%s" % (K["rsa"].path,
                                                  K["ed"].path)),
                     name="postern-dkim-dual")
dual_simple = mt.start_dkim(ub, opts(selector="rsa,ed",
                                     key_file="%s,%s" % (K["rsa"].path,
                                                         K["ed"].path),
                                     canonicalization="simple/simple"),
                            name="postern-dkim-dual-simple")

with section("dual signing RSA + Ed25519 in one pass"):
    for d, canon in ((dual, "relaxed/relaxed"), (dual_simple,
                                                 "simple/simple")):
        msg = mt.Message.simple(subject="dual %s" % canon,
                                body="Two signatures.\r\n  spaced  line \r\n")
        r = lua("sign.lua", d, msg, "dual %s" % canon, IP="127.0.0.1",
                EXPECT_SIGS=2, SELECTORS="rsa,ed")
        sigs = r.hdrs.get("DKIM-Signature", [])
        algs = sorted(tags(s).get("a", "") for s in sigs)
        is_(algs, ["ed25519-sha256", "rsa-sha256"],
            "dual %s: a=rsa-sha256 and a=ed25519-sha256" % canon)
        ok(all(tags(s).get("c") == canon for s in sigs),
           "dual %s: c=%s on both" % (canon, canon))
        for s in sigs:
            allok, _, log = verify_with(msg, [s])
            if not ok(allok, "dual %s: the %s signature verifies with "
                      "dkimpy" % (canon, tags(s).get("a"))):
                diag(log)

with section("table mode (key_table + refile: signing_table) and "
             "signature_ttl"):
    kt = tmp.file("key.table", "k-rsa example.com:rsa:%s\n"
                  "k-ed example.com:ed:%s\n" % (K["rsa"].path, K["ed"].path))
    st = tmp.file("signing.table", "# From: address patterns\n"
                  "*@example.com k-rsa,k-ed\n")
    o = opts(key_table=kt, signing_table="refile:" + st,
             signature_ttl="1h")
    for k in ("domain", "selector", "key_file"):
        del o[k]
    tbl = mt.start_dkim(ub, o, name="postern-dkim-tables")
    msg = mt.Message.simple(subject="table mode")
    r = lua("sign.lua", tbl, msg, "tables *@example.com", IP="127.0.0.1",
            EXPECT_SIGS=2, SELECTORS="rsa,ed")
    sigs = r.hdrs.get("DKIM-Signature", [])
    for s in sigs:
        t = tags(s)
        ok(verify_with(msg, [s])[0], "tables: the s=%s signature "
           "verifies with dkimpy" % t.get("s"))
        ok(t.get("t", "").isdigit() and t.get("x", "").isdigit() and
           int(t["x"]) - int(t["t"]) == 3600,
           "signature_ttl=1h: x= is t= + 3600 (t=%s x=%s)" % (
               t.get("t"), t.get("x")))
    msg = mt.Message.simple(frm="Eve <eve@other.example>",
                            subject="table mode, no match")
    lua("sign.lua", tbl, msg, "tables: From matching no pattern",
        IP="127.0.0.1", EXPECT_SIGS=0)
    tbl.stop()

# ------------------------------------------------------------ verifying

with section("verifying signatures made by dkimpy"):
    cases = [
        ("dkimpy RSA", ext_signed(mt.Message.simple(subject="rsa")),
         ["pass"]),
        ("dkimpy Ed25519", ext_signed(mt.Message.simple(subject="ed"),
                                      ("exted",)), ["pass"]),
        ("dkimpy RSA + Ed25519", ext_signed(
            mt.Message.simple(subject="both"), ("ext", "exted")),
         ["pass", "pass"]),
    ]
    m = ext_signed(mt.Message.simple(subject="tampered body"))
    m.body += b"one more line\r\n"
    cases.append(("tampered body", m, ["fail"]))
    m = ext_signed(mt.Message.simple(subject="tampered header"))
    m.headers = [(k, " changed subject" if k == "Subject" else v)
                 for k, v in m.headers]
    cases.append(("tampered Subject", m, ["fail"]))
    for label, m, want in cases:
        r = lua("verify.lua", main, m, label, IP="192.0.2.9")
        got = results(r.hdrs.get("Authentication-Results", []))
        is_(sorted(x["result"] for x in got), sorted(want),
            "%s: dkim=%s" % (label, ",".join(want)))
        sigs = [v for k, v in m.headers if k == "DKIM-Signature"]
        for x in got:
            ok(x.get("header.d") == "example.net" and
               x.get("header.s") in ("ext", "exted"),
               "%s: header.d=example.net header.s=%s" % (
                   label, x.get("header.s")))
            bs = [re.sub(r"\s+", "", tags(s)["b"])[:8] for s in sigs
                  if tags(s)["s"] == x.get("header.s")]
            ok(bs and x.get("header.b") == bs[0][:len(x.get("header.b",
                                                                ""))]
               and len(x.get("header.b", "")) >= 8,
               "%s: header.b= is the signature's first 8+ characters "
               "(%s)" % (label, x.get("header.b")))

# --------------------------------------------------------- On-* actions


def hostile_key_msgs():
    """(label, message) for each On-* condition, plus a good one."""
    out = []
    m = ext_signed(mt.Message.simple(subject="bad signature"))
    m.body += b"tampered\r\n"
    out.append(("bad signature", "bad", m))
    out.append(("no signature", "nosig",
                mt.Message.simple(subject="unsigned")))
    d = ub.timeout_name("dk")
    out.append(("DNS timeout", "dns", mt.dkim_signed(
        mt.Message.simple(frm="a <a@%s>" % d, subject="dns timeout"),
        K["ext"], d=d, s="sel")))
    d = "sf%d.%s" % (os.getpid(), BROKEN)
    out.append(("DNS SERVFAIL", "dns", mt.dkim_signed(
        mt.Message.simple(frm="a <a@%s>" % d, subject="servfail"),
        K["ext"], d=d, s="sel")))
    out.append(("key not found", "nokey", mt.dkim_signed(
        mt.Message.simple(frm="a <a@example.net>", subject="no key"),
        K["ext"], d="example.net", s="missing")))
    out.append(("good signature", "good",
                ext_signed(mt.Message.simple(subject="good"))))
    return out


WANT_RESULT = {"bad": "fail", "nosig": "none", "dns": "temperror",
               "nokey": "permerror", "good": "pass"}

for act in ("reject", "tempfail", "quarantine", "accept"):
    with section("On-* = %s" % act):
        d = mt.start_dkim(ub, opts(mode="v", on_bad_signature=act,
                                   on_no_signature=act, on_dns_error=act,
                                   on_key_not_found=act),
                          name="postern-dkim-%s" % act)
        for label, kind, m in hostile_key_msgs():
            want = "accept" if kind == "good" else act
            r = lua("actions.lua", d, m, "%s -> %s" % (label, act),
                    IP="192.0.2.20", EXPECT=want)
            if r.hdrs.get("Authentication-Results"):
                got = [x["result"] for x in results(
                    r.hdrs["Authentication-Results"])]
                is_(got, [WANT_RESULT[kind]], "%s -> %s: dkim=%s" % (
                    label, act, WANT_RESULT[kind]))
            if act in ("reject", "tempfail") and kind != "good":
                res = m.send(d.milter_addr, client_ip="192.0.2.21")
                first = "5" if act == "reject" else "4"
                ok(res.code is not None and str(res.code)[0] == first,
                   "%s -> %s (own client): %sxx reply (%s)" % (
                       label, act, first, res))
        d.stop()

with section("On-* settings are independent"):
    d = mt.start_dkim(ub, opts(mode="v", on_bad_signature="reject"),
                      name="postern-dkim-badonly")
    for label, kind, m in hostile_key_msgs():
        lua("actions.lua", d, m, "only on_bad_signature=reject: %s" % label,
            IP="192.0.2.22", EXPECT="reject" if kind == "bad" else "accept")
    d.stop()

# ------------------------------------------- Authentication-Results removal

with section("inbound Authentication-Results with our authserv-id"):
    base = mt.Message.simple(subject="forged results")
    other = " other.example; dkim=pass header.d=example.net"
    ours = " %s; dkim=pass header.d=bank.example" % AUTHSERV
    cases = [
        ("ours second", [other, ours], "2", "1"),
        ("ours first", [ours, other], "1", "2"),
        ("two of ours", [ours, other, ours], "1,3", "2"),
        ("another's only", [other], "", "1"),
    ]
    for label, ars, delete, keep in cases:
        m = base.copy()
        m.headers += [("Authentication-Results", v) for v in ars]
        lua("authres.lua", main, m, "AR %s" % label, IP="192.0.2.30",
            DELETE=delete, KEEP=keep)
        res = m.send(main.milter_addr, client_ip="192.0.2.31")
        is_(sorted(res.deleted("Authentication-Results")),
            [int(i) for i in delete.split(",") if i],
            "AR %s (own client): exactly #%s deleted" % (label,
                                                         delete or "none"))
        after = [v for k, v in res.apply(m.headers)
                 if k.lower() == "authentication-results"]
        ok(not any(AUTHSERV in v and "bank.example" in v for v in after),
           "AR %s: no forged result left in the message" % label)

# ------------------------------------------------------------- limits

with section("header count and size limits"):
    d = mt.start_dkim(ub, opts(max_headers=20, max_header_bytes=4096),
                      name="postern-dkim-limits")
    msg = mt.Message.simple(subject="limits")
    lua("limits.lua", d, msg, "30 headers over max_headers=20",
        IP="192.0.2.40", COUNT=30, SIZE=40, EXPECT="reject")
    lua("limits.lua", d, msg, "8 x 900 bytes over max_header_bytes=4096",
        IP="192.0.2.40", COUNT=8, SIZE=900, EXPECT="reject")
    lua("limits.lua", d, msg, "5 small headers, under both limits",
        IP="192.0.2.40", COUNT=5, SIZE=40, EXPECT="accept")
    for label, extra in (
            ("count", [("X-F%d" % i, " x") for i in range(30)]),
            ("bytes", [("X-F%d" % i, " " + "y" * 900) for i in range(8)]),
            ("one 5000-byte field", [("X-Big", " " + "z" * 5000)])):
        m = msg.copy()
        m.headers += extra
        res = m.send(d.milter_addr, client_ip="192.0.2.41")
        ok(res.reply is not None and res.reply.startswith("552 5.3.4"),
           "limit %s (own client): 552 5.3.4 (%s)" % (label, res))
    ok(mt.daemon_alive(d), "limits: daemon still serving")
    d.stop()

# ------------------------------------------------------------- reload

with section("reload on SIGUSR1 switches the key"):
    conf = tmp.file("reload.conf", "".join("%s = %s\n" % kv for kv in
                                            opts().items()))
    d = mt.start_dkim(ub, {}, conf_path=conf, name="postern-dkim-reload")
    msg = mt.Message.simple(subject="before reload")
    r = lua("sign.lua", d, msg, "before reload", IP="127.0.0.1",
            SELECTORS="rsa")
    with open(conf, "w") as f:
        f.write("".join("%s = %s\n" % kv for kv in opts(
            selector="rsa2", key_file=K["rsa2"].path).items()))
    os.kill(d.pid, signal.SIGUSR1)

    def selector_now():
        res = mt.Message.simple().send(d.milter_addr, client_ip="127.0.0.1")
        s = res.dkim_sigs()
        return s and tags(s[0]).get("s") == "rsa2"
    ok(pt.wait_until(selector_now, 10, 0.2), "reload: s=rsa2 within 10 s")
    msg = mt.Message.simple(subject="after reload")
    r = lua("sign.lua", d, msg, "after reload", IP="127.0.0.1",
            SELECTORS="rsa2")
    sigs = r.hdrs.get("DKIM-Signature", [])
    ok(sigs and verify_with(msg, sigs)[0],
       "after reload: the rsa2 signature verifies with dkimpy")
    # a reload that fails keeps the running config
    with open(conf, "w") as f:
        f.write("".join("%s = %s\n" % kv for kv in opts(
            selector="rsa", key_file=os.path.join(kdir, "nope.pem")).items()))
    os.kill(d.pid, signal.SIGUSR1)
    time.sleep(1.5)
    ok(d.alive(), "bad reload: daemon still running")
    msg = mt.Message.simple(subject="after bad reload")
    r = lua("sign.lua", d, msg, "after a failed reload", IP="127.0.0.1",
            SELECTORS="rsa2")
    d.stop()

# ------------------------------------------------------- key permissions

with section("key files readable by others"):
    loose = os.path.join(tmp.path, "loose.pem")
    with open(loose, "wb") as f:
        f.write(K["rsa"].pem)
    os.chmod(loose, 0o644)
    d = mt.start_dkim(ub, opts(key_file=loose), ready=False,
                      name="postern-dkim-loose")
    d.check = False
    exited = pt.wait_until(lambda: not d.alive(), 10)
    ok(exited, "0644 key: the daemon refuses to start")
    ok(exited and d.proc.returncode not in (0, None),
       "0644 key: non-zero exit (%s)" % d.proc.returncode)
    like(d.log_text(), re.escape(loose) + "|" + re.escape("loose.pem"),
         "0644 key: the message names the key file")
    ok(not d.sanitizer_reports(), "0644 key: no sanitizer report")
    d.stop(check=False)
    d = mt.start_dkim(ub, opts(key_file=loose, require_safe_keys="no"),
                      name="postern-dkim-loose-ok")
    ok(mt.daemon_alive(d), "0644 key with require_safe_keys=no: starts")
    like(d.log_text(), r"(?i)warn.*loose\.pem|loose\.pem.*(?:readable|"
         r"permission|mode|unsafe)", "require_safe_keys=no: a warning "
         "names the key file")
    msg = mt.Message.simple(subject="loose key")
    lua("sign.lua", d, msg, "require_safe_keys=no", IP="127.0.0.1",
        SELECTORS="rsa")
    d.stop()

for d in (main, dual, dual_simple):
    d.stop()
pt.done()
