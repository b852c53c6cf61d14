#!/usr/bin/python3
# dkim-e2e-postfix.t - postern-dkim behind a private Postfix
# (smtpd_milters and non_smtpd_milters on a unix socket,
# milter_default_action = tempfail), mail sent with swaks:
#   - submitted from 127.0.0.1 (an internal address) with a From: in the
#     signing domain: relayed to the sink with an RSA and an Ed25519
#     DKIM-Signature that dkimpy verifies against the test DNS;
#   - inbound (XCLIENT ADDR= an external address): one
#     Authentication-Results header from us, dkim=pass for a good dkimpy
#     signature, dkim=fail for a tampered body or header, dkim=none
#     without a signature; a forged Authentication-Results claiming our
#     authserv-id is removed, another host's is kept;
#   - a message submitted with Postfix's sendmail command goes through
#     non_smtpd_milters and is signed too.
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import postern_test as pt                                      # noqa: E402
from postern_test import ok, is_, like, diag, section          # noqa: E402
import milter_test as mt                                       # noqa: E402

DKIM = mt.dkim_path()
if not os.access(DKIM, os.X_OK):
    pt.skip_all("postern-dkim not built")
missing = pt.have_programs("postfix", "postconf", "swaks", "unbound",
                           "openssl")
if missing:
    pt.skip_all("missing: %s" % ", ".join(missing))
if os.geteuid() != 0:
    pt.skip_all("a private Postfix instance needs root")
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
    "ext": mt.KeyPair(os.path.join(kdir, "ext.pem"), "rsa", 2048),
}
ub = pt.Unbound({
    "example.com": [("rsa._domainkey", "TXT", K["rsa"].record),
                    ("ed._domainkey", "TXT", K["ed"].record)],
    "example.net": [("ext._domainkey", "TXT", K["ext"].record)],
})
sock = os.path.join(tmp.sub("milter"), "dkim.sock")
d = mt.start_dkim(ub, {
    "domain": "example.com", "selector": "rsa, ed",
    "key_file": "%s, %s" % (K["rsa"].path, K["ed"].path),
    "authserv_id": AUTHSERV, "dns_timeout": "2s",
    "unix_socket_mode": "0666"}, listen="unix:" + sock)
sink = pt.Sink()
pf = pt.Postfix(sink=sink, main_cf_extra={
    "smtpd_milters": "unix:" + sock,
    "non_smtpd_milters": "unix:" + sock,
    "milter_default_action": "tempfail",
    "milter_protocol": "6",
})


def delivered(subject, timeout=30):
    def find():
        return [m for m in sink.messages
                if any(subject in v for v in m.headers("Subject"))]
    pt.wait_until(find, timeout, 0.1)
    return find()


def send_raw(msg, ip=None, frm="alice@example.net", to="bob@example.org"):
    """swaks --data with msg's bytes (from XCLIENT ip when given)."""
    path = tmp.file("data-%d.eml" % id(msg), msg.bytes())
    r = pf.swaks(frm=frm, to=to, xclient_addr=ip,
                 xclient_name="mail.example.net" if ip else None,
                 args=["--data", path])
    if pt.verbose():
        diag(r.transcript)
    return r


def authres(m):
    return m.headers("Authentication-Results")


def ours(m):
    out = []
    for v in authres(m):
        serv, res = mt.parse_authres(v)
        if serv == AUTHSERV:
            out.append(res)
    return out


with section("outbound: submitted from 127.0.0.1, signed RSA + Ed25519"):
    r = pf.swaks(frm="alice@example.com", to="bob@example.org",
                 headers=["Subject: e2e outbound signing"],
                 body="Signed by postern-dkim.\nSecond line.\n")
    is_(r.data and r.data[0], 250, "accepted by Postfix")
    msgs = delivered("e2e outbound signing")
    is_(len(msgs), 1, "relayed to the sink")
    if msgs:
        sigs = msgs[0].headers("DKIM-Signature")
        algs = sorted(re.search(r"a=([\w-]+)", s).group(1) for s in sigs
                      if re.search(r"a=([\w-]+)", s))
        is_(algs, ["ed25519-sha256", "rsa-sha256"],
            "two DKIM-Signature headers: rsa-sha256 and ed25519-sha256")
        allok, each, log = mt.dkimpy_verify(msgs[0].data, ub)
        is_(each, [True] * len(sigs), "dkimpy verifies every signature")
        if not allok:
            diag(log)
            diag(msgs[0].text()[:3000])

with section("outbound: submitted with the sendmail command"):
    msg = mt.Message.simple(frm="Alice <alice@example.com>",
                            subject="e2e sendmail signing")
    try:
        r = subprocess.run(["sendmail", "-C", pf.config_dir, "-f",
                            "alice@example.com", "-t"], input=msg.bytes()
                           .replace(b"\r\n", b"\n"), timeout=60,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        sent = r.returncode == 0
        if not sent:
            diag("sendmail: %s" % r.stdout.decode("utf-8", "replace"))
    except (OSError, subprocess.TimeoutExpired) as e:
        sent = False
        diag("sendmail: %s" % e)
    if sent:
        msgs = delivered("e2e sendmail signing", timeout=40)
        is_(len(msgs), 1, "sendmail: relayed to the sink")
        if msgs:
            allok, each, log = mt.dkimpy_verify(msgs[0].data, ub)
            ok(allok and len(each) == 2, "sendmail (non_smtpd_milters): "
               "two signatures, both verify (%r)" % each)
            if not allok:
                diag(log)
    else:
        pt.skip("the sendmail command does not work with a private "
                "instance here", 2)

with section("inbound: Authentication-Results"):
    good = mt.dkimpy_sign(mt.Message.simple(
        frm="Carol <carol@example.net>", to="bob@example.org",
        subject="e2e inbound good"), K["ext"], d="example.net", s="ext")
    body = mt.dkimpy_sign(mt.Message.simple(
        frm="Carol <carol@example.net>", to="bob@example.org",
        subject="e2e inbound tampered body"), K["ext"], d="example.net",
        s="ext")
    body.body += b"added by someone on the way\r\n"
    hdr = mt.dkimpy_sign(mt.Message.simple(
        frm="Carol <carol@example.net>", to="bob@example.org",
        subject="e2e inbound tampered header X"), K["ext"], d="example.net",
        s="ext")
    hdr.headers = [(k, v.replace("header X", "header Y"))
                   if k == "Subject" else (k, v) for k, v in hdr.headers]
    none = mt.Message.simple(frm="Carol <carol@example.net>",
                             to="bob@example.org",
                             subject="e2e inbound unsigned")
    for m, subj, want in ((good, "e2e inbound good", "pass"),
                          (body, "e2e inbound tampered body", "fail"),
                          (hdr, "e2e inbound tampered header Y", "fail"),
                          (none, "e2e inbound unsigned", "none")):
        r = send_raw(m, ip="192.0.2.99")
        is_(r.data and r.data[0], 250, "%s: accepted" % subj)
        msgs = delivered(subj)
        if not ok(len(msgs) == 1, "%s: delivered" % subj):
            continue
        res = ours(msgs[0])
        is_(len(res), 1, "%s: one Authentication-Results from %s" % (
            subj, AUTHSERV))
        got = [x["result"] for x in res[0]] if res else []
        is_(got, [want], "%s: dkim=%s" % (subj, want))
        if want != "none" and res and res[0]:
            is_(res[0][0].get("header.d"), "example.net",
                "%s: header.d=example.net" % subj)
        ok(not any(re.search(r"d=example\.com\b", v) for v in
                   msgs[0].headers("DKIM-Signature")),
           "%s: not signed by us (no d=example.com signature)" % subj)

with section("inbound: forged Authentication-Results"):
    m = mt.dkimpy_sign(mt.Message.simple(
        frm="Carol <carol@example.net>", to="bob@example.org",
        subject="e2e forged results"), K["ext"], d="example.net", s="ext")
    m.headers.append(("Authentication-Results",
                      " other.example; dkim=pass header.d=other.example"))
    m.headers.append(("Authentication-Results",
                      " %s; dkim=pass header.d=bank.example" % AUTHSERV))
    r = send_raw(m, ip="192.0.2.98")
    is_(r.data and r.data[0], 250, "forged: accepted")
    msgs = delivered("e2e forged results")
    if ok(len(msgs) == 1, "forged: delivered"):
        ars = authres(msgs[0])
        ok(not any("bank.example" in v for v in ars),
           "forged: the Authentication-Results claiming %s is gone" %
           AUTHSERV)
        ok(any(v.startswith("other.example") for v in ars),
           "forged: another host's Authentication-Results is kept")
        res = ours(msgs[0])
        is_([[x["result"] for x in r_] for r_ in res], [["pass"]],
            "forged: exactly one of ours, dkim=pass")

pf.stop()
d.stop()
sink.stop()
pt.done()
