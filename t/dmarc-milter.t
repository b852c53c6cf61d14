#!/usr/bin/python3
# dmarc-milter.t - postern-dmarc driven directly over the milter protocol:
# miltertest scripts (t/milter/dmarc.lua) for each message, and
# milter_test.py's own client where miltertest cannot see enough (replies
# given before end of message, deleted headers).  Policy records, SPF
# records and DKIM keys come from a test Unbound on loopback
# (t/lib/dmarc_test.py's zone: TLDs "example" and "uk" served whole, a
# zone that times out and one that answers SERVFAIL).
#
# Covered:
#   zone       p=none/quarantine/reject, sp= (existing subdomain), np=
#              (NXDOMAIN subdomain), organizational-domain fallback, pct=0
#              (rfc7489: sampled out to quarantine; bis: ignored), t=y
#              (bis: one step gentler; rfc7489: no such tag), strict
#              alignment, a PSD record (psd=y), a record at a public suffix
#              without psd= (bis tree walk takes it, the PSL does not),
#              co.uk-style names (PSL in rfc7489 mode), bad p= with and
#              without rua=, v= not first, two records (bis walks on,
#              rfc7489 stops), a 2000-byte record in 8 strings, a
#              3000-byte record, upper-case tags and values, SERVFAIL and
#              timeout (temperror; on_temperror=tempfail: 451 4.7.5);
#              all in both dmarc_mode = bis and rfc7489
#   alignment  SPF pass/fail x DKIM pass/fail x identifier exact/sub/other
#              for each x relaxed/strict: from trusted
#              Authentication-Results, and again with spf_self_validate
#              and dkim_self_validate (client IP vs SPF record, messages
#              really signed, tampered for a DKIM fail); forged results in
#              self-validation mode are removed and ignored
#   dispositions reject_failures yes/no (550 5.7.1 text), quarantine_action
#              hold/header/none, ignore_hosts, ignore_authenticated_clients,
#              override_domains, override_hosts, test_mode, required_headers
#              and reject_multi_from (no From, two From, two addresses, a
#              group, no domain), untrusted authserv-ids, trusted_authserv_ids,
#              an spf= result for another MAIL FROM domain, the null sender
#              (HELO identity)
#   aggregate  counts reach the store at exit (SIGTERM), read back with
#              postern-dmarc-report in dry-run mode when it is built
import gzip
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import postern_test as pt                                      # noqa: E402
from postern_test import ok, is_, like, diag, section          # noqa: E402
import milter_test as mt                                       # noqa: E402
import dmarc_test as dt                                        # noqa: E402

if not os.access(dt.dmarc_path(), os.X_OK):
    pt.skip_all("postern-dmarc not built")
missing = pt.have_programs("miltertest", "unbound", "openssl")
if missing:
    pt.skip_all("missing: %s" % ", ".join(missing))
try:
    import cryptography  # noqa: F401
except ImportError:
    pt.skip_all("python3-cryptography not installed")

tmp = pt.tmpdir()
KEY = mt.KeyPair(os.path.join(tmp.sub("keys", 0o700), "sel.pem"), "rsa",
                 2048)
ub = dt.unbound(KEY)
PSL = os.path.join(pt.top_srcdir(), "t", "psl", "public_suffix_list.dat")
QH = "X-Postern-DMARC-Quarantine"
REJECT_TEXT = ("Email from %s rejected: it failed DMARC authentication and "
               "the domain's policy asks for rejection")


def run(d, msg, label, **var):
    return dt.lua(tmp, d, msg, label, **var)


daemons = []


def start(options, name):
    """A postern-dmarc kept running until the end (stopped all at once:
    each takes ~5 s to stop)."""
    d = dt.start_dmarc(ub, options, name=name)
    daemons.append(d)
    return d


def logged(d, mark, regex, label):
    """The decision line of the message sent after mark matches."""
    lines = dt.wait_decisions(d, mark)
    return like(lines[-1] if lines else "", regex, label)


def plain(frm, subject="dmarc test", extra=()):
    return mt.Message.simple(frm="Alice <alice@%s>" % frm, subject=subject,
                             extra=extra)


def expect_vars(want, frm):
    """dmarc.lua variables for (result, "p=.. dis=..", action)."""
    result, pol, action = want
    v = {"HFROM": frm}
    if action == "reject":
        v.update(EXPECT="reject", REPLY_CODE="550", REPLY_ESC="5.7.1",
                 REPLY_TEXT=REJECT_TEXT % frm)
    elif action == "tempfail":
        v.update(EXPECT="tempfail", REPLY_CODE="451", REPLY_ESC="4.7.5",
                 REPLY_TEXT="DMARC policy lookup failed, try again later")
    else:
        v.update(EXPECT="hold" if action == "hold" else "accept",
                 RESULT=result)
        if pol:
            v["POLICY"] = pol
        if action == "quarantine":
            v["QHDR"] = QH
        else:
            v["NOQHDR"] = QH
    return v


# ------------------------------------------------------------ the zone

F, R, Q, A = "fail", "reject", "quarantine", "accept"
REJ = (F, "p=reject dis=reject", R)
NONE = ("none", None, A)
ZONE_CASES = [
    # From domain, dmarc_mode=bis, dmarc_mode=rfc7489
    ("none.example", (F, "p=none dis=none", A), None),
    ("quar.example", (F, "p=quarantine dis=quarantine", Q), None),
    ("reject.example", REJ, None),
    ("sub.reject.example", REJ, None),                  # org fallback
    ("spnp.example", (F, "p=none dis=none", A), None),
    ("www.spnp.example", (F, "p=quarantine dis=quarantine", Q), None),
    ("nx.spnp.example", REJ, None),                     # np=
    ("pct0.example", REJ, (F, "p=reject dis=quarantine", Q)),
    ("testing.example", (F, "p=reject dis=quarantine", Q), REJ),
    ("strict.example", REJ, None),
    ("badp.example", ("permerror", None, A), None),
    ("badprua.example", (F, "p=none dis=none", A), None),
    ("notfirst.example", NONE, None),
    ("two.example", NONE, None),
    ("dup.multi.example", REJ, NONE),
    ("long.example", REJ, None),
    ("huge.example", ("permerror", None, A), None),
    ("case.example", REJ, None),
    ("giant.psd.example", REJ, None),                  # PSD record
    ("mail.org.psd.example", (F, "p=none dis=none", A), REJ),
    ("shop.co.uk", REJ, None),
    ("news.shop.co.uk", (F, "p=none dis=none", A), REJ),
    ("nodmarc.example", NONE, None),
    ("x.broken.example", ("temperror", None, A), None),
    ("TIMEOUT", ("temperror", None, A), None),
]

bis = start({}, "dmarc-bis")
r7489 = start({"dmarc_mode": "rfc7489", "public_suffix_list": PSL},
              "dmarc-rfc7489")

for mode, d in (("bis", bis), ("rfc7489", r7489)):
    with section("policy records, dmarc_mode=%s" % mode):
        mark = len(d.log_text())
        wants = []
        for frm, want_bis, want_7489 in ZONE_CASES:
            want = want_bis if mode == "bis" or want_7489 is None \
                else want_7489
            if frm == "TIMEOUT":
                frm = ub.timeout_name("dm")
            label = "%s: From %s" % (mode, frm)
            wants.append((label, frm, want))
            t0 = time.monotonic()
            run(d, plain(frm), label, FROM="<bounce@unrelated.example>",
                IP="192.0.2.1", **expect_vars(want, frm))
            if want[0] == "temperror":
                ok(time.monotonic() - t0 < 5, "%s: answered within "
                   "dns_timeout + margin (%.1f s)" % (label,
                                                      time.monotonic() - t0))
        lines = dt.wait_decisions(d, mark, len(wants))
        is_(len(lines), len(wants), "%s: one log line per message" % mode)
        for (label, frm, want), line in zip(wants, lines):
            like(line, r"dmarc=%s header_from=%s%s.* action=%s$" % (
                want[0], re.escape(frm), " " + re.escape(want[1])
                if want[1] else "", {"quarantine": "accept"}.get(
                    want[2], want[2])), "%s: logged dmarc=%s" % (label,
                                                                  want[0]))

with section("organizational domains: PSD and PSL alignment"):
    # giant.psd.example and other.psd.example: two organizations under a
    # PSD (bis: not aligned); under the PSL's implicit "*" rule psd.example
    # is their organizational domain (rfc7489: aligned)
    m = plain("giant.psd.example", extra=[(
        "Authentication-Results", dt.ar("pass", "b@other.psd.example"))])
    run(bis, m, "bis: SPF pass for other.psd.example, From "
        "giant.psd.example (psd=y: different organizations)",
        FROM="<b@other.psd.example>", EXPECT="reject")
    run(r7489, m, "rfc7489: SPF pass for other.psd.example, From "
        "giant.psd.example (one organization by the PSL)",
        FROM="<b@other.psd.example>", EXPECT="accept", RESULT="pass")
    # news.shop.co.uk and shop.co.uk: one organization in both modes
    m = plain("news.shop.co.uk", extra=[(
        "Authentication-Results", dt.ar("pass", "b@shop.co.uk"))])
    for mode, d in (("bis", bis), ("rfc7489", r7489)):
        run(d, m, "%s: SPF pass for shop.co.uk, From news.shop.co.uk" %
            mode, FROM="<b@shop.co.uk>", EXPECT="accept", RESULT="pass")
    # another organization under co.uk: the PSL keeps them apart; the
    # bis tree walk, seeing a record at co.uk without psd=y, takes co.uk
    # as the organizational domain of both (RFC 9989 4.10.2: the record
    # with the fewest labels), so they align
    m = plain("shop.co.uk", extra=[(
        "Authentication-Results", dt.ar("pass", "b@other.co.uk"))])
    run(r7489, m, "rfc7489: SPF pass for other.co.uk, From shop.co.uk: "
        "not aligned", FROM="<b@other.co.uk>", EXPECT="reject")
    run(bis, m, "bis: SPF pass for other.co.uk, From shop.co.uk: aligned "
        "through the record at co.uk (no psd=y)", FROM="<b@other.co.uk>",
        EXPECT="accept", RESULT="pass")

with section("on_temperror = tempfail"):
    tf = start({"on_temperror": "tempfail"}, "dmarc-tempfail")
    for frm in ("x.broken.example", ub.timeout_name("tf")):
        run(tf, plain(frm), "tempfail: From %s" % frm,
            FROM="<bounce@unrelated.example>",
            **expect_vars(("temperror", None, "tempfail"), frm))
    run(tf, plain("reject.example"), "tempfail: a DNS answer still gives "
        "the policy", FROM="<bounce@unrelated.example>",
        **expect_vars(REJ, "reject.example"))

# ------------------------------------------------------- alignment matrix

KINDS = ("exact", "sub", "other")


def ident(base, kind):
    return {"exact": base, "sub": "mail." + base,
            "other": "other.example"}[kind]


def matrix():
    for base, strict in (("reject.example", False),
                         ("strict.example", True)):
        for spf in ("pass", "fail"):
            for dkim in ("pass", "fail"):
                for sk in KINDS:
                    for dk in KINDS:
                        yield base, strict, spf, dkim, sk, dk


def aligned(kind, strict):
    return kind == "exact" or (kind == "sub" and not strict)


def matrix_case(d, self_validate, base, strict, spf, dkim, sk, dk):
    """One message; returns (label, regex its log line must match)."""
    sdom, ddom = ident(base, sk), ident(base, dk)
    spf_al = spf == "pass" and aligned(sk, strict)
    dkim_al = dkim == "pass" and aligned(dk, strict)
    label = "%s %s: spf=%s(%s) dkim=%s(%s)" % (
        "self" if self_validate else "AR", "strict" if strict else
        "relaxed", spf, sk, dkim, dk)
    msg = plain(base, subject="matrix %s" % label)
    if self_validate:
        msg = mt.dkim_signed(msg, KEY, d=ddom, s="sel")
        if dkim == "fail":
            msg.body += b"tampered after signing\r\n"
        ip = dt.SPF_OK_IP if spf == "pass" else dt.SPF_BAD_IP
    else:
        msg = msg.with_header("Authentication-Results", dt.ar(
            spf, "bounce@" + sdom, [(dkim, ddom)]))
        ip = "192.0.2.1"
    if spf_al or dkim_al:
        run(d, msg, label, FROM="<bounce@%s>" % sdom, IP=ip,
            EXPECT="accept", RESULT="pass", POLICY="p=reject dis=none",
            HFROM=base)
    else:
        run(d, msg, label, FROM="<bounce@%s>" % sdom, IP=ip,
            EXPECT="reject", REPLY_CODE="550", REPLY_ESC="5.7.1",
            REPLY_TEXT=REJECT_TEXT % base)
    want = ",".join(k for k, v in (("spf", spf_al), ("dkim", dkim_al))
                    if v) or "none"
    return label, (r"\bspf=%s dkim=%s d=%s dmarc=%s .*\baligned=%s\b" % (
        spf, dkim, re.escape(ddom), "pass" if want != "none" else "fail",
        want))


selfd = start({"spf_self_validate": "yes", "dkim_self_validate": "yes"},
              "dmarc-self")
for self_validate, d in ((False, bis), (True, selfd)):
    name = "self-validation" if self_validate else "Authentication-Results"
    with section("alignment matrix, %s" % name):
        mark = len(d.log_text())
        cases = [matrix_case(d, self_validate, *c) for c in matrix()]
        lines = dt.wait_decisions(d, mark, len(cases))
        is_(len(lines), len(cases), "%s: one log line per message" % name)
        bad = [(label, rx, line) for (label, rx), line in zip(cases, lines)
               if not re.search(rx, line)]
        if not ok(not bad, "%s: the log line of each of the %d messages "
                  "names the spf= and dkim= results and what aligned" %
                  (name, len(cases))):
            for label, rx, line in bad[:10]:
                diag("%s\n    want %s\n    got  %s" % (label, rx, line))

with section("self-validation: forged results with our authserv-id"):
    m = plain("reject.example", subject="forged").with_header(
        "Authentication-Results", dt.ar("pass", "bounce@reject.example",
                                        [("pass", "reject.example")]))
    res = m.send(selfd.milter_addr, client_ip=dt.SPF_BAD_IP,
                 sender="<bounce@reject.example>")
    is_(res.code, 550, "forged spf=pass dkim=pass in the message, SPF "
        "really fails, no signature: rejected (%s)" % res)
    m2 = m.with_header("Authentication-Results", " other.example; "
                       "dkim=pass header.d=reject.example", top=False)
    res = m2.send(selfd.milter_addr, client_ip=dt.SPF_OK_IP,
                  sender="<bounce@reject.example>")
    is_(res.deleted("Authentication-Results"), [1],
        "the forged Authentication-Results (ours, #1) is deleted, the "
        "other host's (#2) is kept")
    is_([x["result"] for x in dt.dmarc_results(res)], ["pass"],
        "a real SPF pass still passes (%s)" % res)
    m = plain("reject.example", subject="null sender self")
    res = m.send(selfd.milter_addr, client_ip=dt.SPF_OK_IP, sender="<>",
                 helo="mail.reject.example")
    is_([x["result"] for x in dt.dmarc_results(res)], ["pass"],
        "null sender: SPF of the HELO name mail.reject.example passes and "
        "aligns (relaxed) (%s)" % res)
    res = m.send(selfd.milter_addr, client_ip=dt.SPF_BAD_IP, sender="<>",
                 helo="mail.reject.example")
    is_(res.code, 550, "null sender: HELO SPF fail: rejected (%s)" % res)

# ----------------------------------------------------------- dispositions

FAILING = {"FROM": "<bounce@unrelated.example>", "IP": "192.0.2.1"}

with section("reject_failures"):
    run(bis, plain("reject.example"), "reject_failures=yes",
        **FAILING, **expect_vars(REJ, "reject.example"))
    d = start({"reject_failures": "no"}, "dmarc-norej")
    mark = len(d.log_text())
    run(d, plain("reject.example"), "reject_failures=no", **FAILING,
        EXPECT="accept", RESULT="fail", POLICY="p=reject dis=reject",
        NOQHDR=QH)
    logged(d, mark, r'override="reject_failures=no" action=accept$',
           "reject_failures=no: logged as an override")
    run(d, plain("quar.example"), "reject_failures=no: quarantine still "
        "applies", **FAILING, **expect_vars(
            (F, "p=quarantine dis=quarantine", Q), "quar.example"))

with section("quarantine_action"):
    d = start({"quarantine_action": "hold"}, "dmarc-hold")
    mark = len(d.log_text())
    run(d, plain("quar.example"), "quarantine_action=hold", **FAILING,
        EXPECT="hold", RESULT="fail", POLICY="p=quarantine dis=quarantine",
        NOQHDR=QH)
    logged(d, mark, r"dmarc=fail .* action=quarantine$",
           "quarantine_action=hold: logged action=quarantine")
    res = plain("quar.example").send(d.milter_addr, client_ip="192.0.2.1",
                                     sender="<b@unrelated.example>")
    like(res.quarantine, r"quar\.example", "hold: the quarantine reason "
         "names the domain (%r)" % res.quarantine)
    run(d, plain("none.example"), "quarantine_action=hold: p=none not held",
        **FAILING, EXPECT="accept", RESULT="fail")
    run(bis, plain("quar.example"), "quarantine_action=header (default)",
        **FAILING, **expect_vars((F, "p=quarantine dis=quarantine", Q),
                                 "quar.example"))
    d = start({"quarantine_action": "header",
               "quarantine_header": "X-Spam-DMARC"}, "dmarc-qheader")
    run(d, plain("quar.example"), "quarantine_header=X-Spam-DMARC",
        **FAILING, EXPECT="accept", RESULT="fail", QHDR="X-Spam-DMARC",
        NOQHDR=QH)
    d = start({"quarantine_action": "none"}, "dmarc-qnone")
    mark = len(d.log_text())
    run(d, plain("quar.example"), "quarantine_action=none", **FAILING,
        EXPECT="accept", RESULT="fail", POLICY="p=quarantine dis=quarantine",
        NOQHDR=QH)
    logged(d, mark, r'override="quarantine_action=none" action=accept$',
           "quarantine_action=none: logged as an override")

with section("ignore_hosts and ignore_authenticated_clients"):
    m = plain("reject.example")
    # start_dmarc sets ignore_hosts = 192.0.2.250
    mark = len(bis.log_text())
    run(bis, m, "ignore_hosts: client 192.0.2.250", IP="192.0.2.250",
        FROM="<b@unrelated.example>", EXPECT="skip", RESULT="-")
    logged(bis, mark, r'dmarc=skipped why="ignore_hosts" action=accept$',
           "ignore_hosts: logged dmarc=skipped")
    mark = len(bis.log_text())
    run(bis, m, "SASL client ({auth_authen}=alice, default "
        "ignore_authenticated_clients=yes)", IP="192.0.2.1",
        FROM="<b@unrelated.example>", AUTH="alice", EXPECT="skip",
        RESULT="-")
    logged(bis, mark, r'dmarc=skipped why="authenticated client"',
           "SASL client: logged dmarc=skipped")
    d = start({"ignore_authenticated_clients": "no",
               "ignore_hosts": "192.0.2.0/28, 10.0.0.1"}, "dmarc-noauthign")
    run(d, m, "ignore_authenticated_clients=no: SASL client checked",
        IP="192.0.2.100", FROM="<b@unrelated.example>", AUTH="alice",
        EXPECT="reject")
    run(d, m, "ignore_hosts=192.0.2.0/28: 192.0.2.15 ignored",
        IP="192.0.2.15", FROM="<b@unrelated.example>", EXPECT="skip",
        RESULT="-")
    run(d, m, "ignore_hosts=192.0.2.0/28: 192.0.2.16 checked",
        IP="192.0.2.16", FROM="<b@unrelated.example>", EXPECT="reject")
    d = start({"ignore_hosts": "127.0.0.0/8, ::1"}, "dmarc-localhost")
    run(d, m, "ignore_hosts default 127.0.0.0/8: 127.0.0.1 ignored",
        IP="127.0.0.1", FROM="<b@unrelated.example>", EXPECT="skip",
        RESULT="-")

with section("override_domains and override_hosts"):
    d = start({"override_domains": "reject.example, *.quar.example",
               "override_hosts": "192.0.2.77"}, "dmarc-override")
    mark = len(d.log_text())
    run(d, plain("reject.example"), "override_domains: reject.example",
        **FAILING, EXPECT="accept", RESULT="fail",
        POLICY="p=reject dis=reject")
    logged(d, mark, r'override="override_domains" action=accept$',
           "override_domains: logged")
    run(d, plain("sub.reject.example"), "override_domains: "
        "sub.reject.example is not listed", **FAILING, EXPECT="reject")
    run(d, plain("quar.example"), "override_domains *.quar.example: not "
        "quar.example itself", **FAILING, EXPECT="accept", RESULT="fail",
        QHDR=QH)
    mark = len(d.log_text())
    run(d, plain("strict.example"), "override_hosts: 192.0.2.77",
        FROM="<b@unrelated.example>", IP="192.0.2.77", EXPECT="accept",
        RESULT="fail", POLICY="p=reject dis=reject")
    logged(d, mark, r'override="override_hosts" action=accept$',
           "override_hosts: logged")
    run(d, plain("strict.example"), "override_hosts: 192.0.2.78 is not",
        FROM="<b@unrelated.example>", IP="192.0.2.78", EXPECT="reject")

with section("test_mode"):
    d = start({"test_mode": "yes", "quarantine_action": "hold",
               "on_temperror": "tempfail"}, "dmarc-test-mode")
    for frm, would in (("reject.example", "reject"),
                       ("quar.example", "hold"),
                       ("x.broken.example", "tempfail")):
        mark = len(d.log_text())
        run(d, plain(frm), "test_mode: From %s" % frm, **FAILING,
            EXPECT="accept", RESULT="temperror" if would == "tempfail"
            else "fail", NOQHDR=QH)
        logged(d, mark, r"\b(?:would|action)=%s test_mode=yes "
               r"action=accept$" % would, "test_mode: From %s: logs "
               "would=%s test_mode=yes, accepted" % (frm, would))
    run(d, mt.Message([h for h in plain("reject.example").headers
                       if h[0] != "From"], b"x\r\n"),
        "test_mode: no From: accepted", **FAILING, EXPECT="accept",
        RESULT="permerror")

with section("From: header checks"):
    cases = [
        ("no From", [], "none"),
        ("two From headers", [("From", " a@reject.example"),
                              ("From", " b@reject.example")], "multi"),
        ("two addresses", [("From", " a@reject.example, "
                            "b@quar.example")], "multi"),
        ("a group", [("From", " friends: a@reject.example, "
                      "b@reject.example;")], "multi"),
        ("an empty group", [("From", " undisclosed:;")], "none"),
        ("no domain", [("From", " alice")], "none"),
        ("a domain literal", [("From", " a@[192.0.2.1]")], "none"),
    ]
    base = [h for h in plain("reject.example").headers if h[0] != "From"]
    nofrom = start({"required_headers": "no", "reject_multi_from": "no"},
                   "dmarc-from-lax")
    for label, hs, kind in cases:
        m = mt.Message(hs + base, b"Hello.\r\n")
        res = m.send(bis.milter_addr, client_ip="192.0.2.1",
                     sender="<b@unrelated.example>")
        want = ("exactly one From: address" if kind == "multi" else
                "a From: header with one address")
        ok(res.code == 550 and res.reply is not None and
           res.reply.startswith("550 5.7.1 ") and want in res.reply,
           "%s: 550 5.7.1 ... %s (%s)" % (label, want, res))
        run(bis, m, "%s (miltertest)" % label, FROM="<b@unrelated.example>",
            EXPECT="reject")
        run(nofrom, m, "%s, required_headers=no reject_multi_from=no" %
            label, FROM="<b@unrelated.example>", EXPECT="accept",
            RESULT="permerror")
    # one kind off, the other on
    d = start({"reject_multi_from": "no"}, "dmarc-multi-ok")
    run(d, mt.Message(cases[2][1] + base, b"x\r\n"), "reject_multi_from=no, "
        "required_headers=yes: two addresses get permerror",
        FROM="<b@unrelated.example>", EXPECT="accept", RESULT="permerror")
    run(d, mt.Message(base, b"x\r\n"), "reject_multi_from=no, "
        "required_headers=yes: no From still refused",
        FROM="<b@unrelated.example>", EXPECT="reject")
    # comments, a quoted local part, an encoded display name: one address
    for label, v in (
            ("comments", " (the boss) alice@reject.example (really)"),
            ("quoted local part", ' "alice smith"@reject.example'),
            ("encoded word", " =?UTF-8?B?w4FsaWNl?= <alice@reject.example>"),
            ("upper case domain", " Alice <alice@REJECT.Example>")):
        m = mt.Message([("From", v)] + base, b"x\r\n").with_header(
            "Authentication-Results", dt.ar("pass", "b@reject.example"))
        run(bis, m, "From with %s" % label, FROM="<b@reject.example>",
            EXPECT="accept", RESULT="pass", HFROM="reject.example")

with section("which Authentication-Results count"):
    good = dt.ar("pass", "b@reject.example", [("pass", "reject.example")])
    untrusted = good.replace(dt.AUTHSERV, "evil.example", 1)
    m = plain("reject.example", extra=[("Authentication-Results",
                                        untrusted)])
    run(bis, m, "results from an untrusted authserv-id are ignored",
        FROM="<b@reject.example>", EXPECT="reject")
    d = start({"trusted_authserv_ids": "other.mx.example, evil.example"},
              "dmarc-trusted")
    run(d, m, "trusted_authserv_ids lists it: results count",
        FROM="<b@reject.example>", EXPECT="accept", RESULT="pass")
    m = plain("reject.example", extra=[("Authentication-Results", good)])
    run(d, m, "trusted_authserv_ids replaces the default (our own id "
        "not trusted)", FROM="<b@reject.example>", EXPECT="reject")
    m = plain("reject.example", extra=[("Authentication-Results", dt.ar(
        "pass", "b@reject.example"))])
    run(bis, m, "spf=pass for reject.example, MAIL FROM in "
        "unrelated.example: ignored", FROM="<b@unrelated.example>",
        EXPECT="reject")
    run(bis, m, "the same with the envelope in reject.example: counts",
        FROM="<b@reject.example>", EXPECT="accept", RESULT="pass")
    m = plain("reject.example", extra=[("Authentication-Results", dt.ar(
        None, None, [("fail", "reject.example"), ("pass", "reject.example")
                     ]))])
    run(bis, m, "dkim=fail then dkim=pass for reject.example: the pass "
        "counts", FROM="<b@unrelated.example>", EXPECT="accept",
        RESULT="pass")
    m = plain("reject.example", extra=[("Authentication-Results",
                                        " %s; spf=pass smtp.helo="
                                        "mail.reject.example" % dt.AUTHSERV)])
    run(bis, m, "null sender: spf=pass smtp.helo=mail.reject.example "
        "(relaxed) passes", FROM="<>", HELO="mail.reject.example",
        EXPECT="accept", RESULT="pass")
    run(bis, m, "null sender: the same result under another HELO name is "
        "ignored", FROM="<>", HELO="mail.unrelated.example",
        EXPECT="reject")

# --------------------------------------------------- aggregate counting

REPORT = os.path.join(pt.top_builddir(), "tools", "postern-dmarc-report")
sent = {"reject.example": 0, "quar.example": 0}
with section("aggregate counting"):
    # dkim_self_validate, and the first counted message unsigned:
    # libcrypto is first used after the counting started (this once made
    # the final flush at exit crash)
    agg = start({"aggregate_flush_interval": "1h",
                 "dkim_self_validate": "yes"}, "dmarc-agg")
    for i in range(3):
        run(agg, plain("reject.example"), "agg: failing #%d" % i,
            **FAILING, EXPECT="reject")
        sent["reject.example"] += 1
    for i in range(2):
        m = plain("reject.example", extra=[(
            "Authentication-Results", dt.ar("pass", "b@reject.example"))])
        run(agg, m, "agg: passing #%d" % i, FROM="<b@reject.example>",
            IP="192.0.2.2", EXPECT="accept", RESULT="pass")
        sent["reject.example"] += 1
    run(agg, mt.dkim_signed(plain("reject.example"), KEY,
                            d="reject.example", s="sel"),
        "agg: DKIM-signed", **FAILING, EXPECT="accept", RESULT="pass")
    sent["reject.example"] += 1
    run(agg, plain("quar.example"), "agg: quarantined", **FAILING,
        EXPECT="accept", RESULT="fail")
    sent["quar.example"] += 1
    run(agg, plain("nodmarc.example"), "agg: no policy (not counted)",
        **FAILING, EXPECT="accept", RESULT="none")

for d in (bis, r7489):
    ok(mt.daemon_alive(d), "%s still serving" % d.name)
# every daemon at once (the aggregate counts are flushed at exit)
dt.stop_all(daemons)

with section("aggregate counts reach the store at exit"):
    like(agg.log_text(), r"postern-dmarc stopped", "the milter stopped "
         "after SIGTERM")
    if os.access(REPORT, os.X_OK):
        out = tmp.sub("reports")
        conf = tmp.file("report.conf", "# from -o\n")
        argv = [REPORT, "-c", conf]
        for k, v in (("store", agg.store), ("dns_server", ub.addr),
                     ("report_org_name", "Postern Test"),
                     ("report_email", "dmarc-reports@mx.test.example")):
            argv += ["-o", "%s=%s" % (k, v)]
        argv += ["-n", out, "--now", str(int(time.time()) + 3 * 86400)]
        r = subprocess.run(argv, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
        text = r.stdout.decode("utf-8", "replace")
        files = sorted(f for f in os.listdir(out) if ".xml" in f)
        if not ok(r.returncode == 0 and files, "postern-dmarc-report "
                  "--dry-run wrote reports (%s)" % files):
            diag(" ".join(argv) + "\n" + text[-2000:])
        xml = ""
        for f in files:
            with open(os.path.join(out, f), "rb") as fh:
                raw = fh.read()
            xml += (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b"
                    else raw).decode("utf-8", "replace")
        counts = [int(c) for c in re.findall(r"<count>(\d+)</count>", xml)]
        is_(sum(counts), sent["reject.example"], "report for reject.example "
            "(the domain with rua=): %d messages counted" %
            sent["reject.example"])
        like(xml, re.compile(r"<count>3</count>\s*<policy_evaluated>\s*"
                             r"<disposition>reject</disposition>"
                             r"(?:(?!</record>).)*<envelope_from>"
                             r"unrelated\.example</envelope_from>", re.S),
             "report: the 3 rejected "
             "messages in one row, envelope_from without <>")
        like(xml, r"<count>2</count>\s*<policy_evaluated>\s*<disposition>"
             r"pass</disposition>", "report: the 2 SPF-passing messages in "
             "one row")
        like(xml, re.compile(r"<count>1</count>\s*<policy_evaluated>\s*"
                             r"<disposition>pass</disposition>\s*<dkim>pass"
                             r"</dkim>(?:(?!</record>).)*<selector>sel<",
                             re.S), "report: the DKIM-signed one in its "
             "own row, with its selector")
        like(text, r"domain=quar\.example .*messages=1\b",
             "quar.example (no rua=): its 1 message is in the store too")
        ok("nodmarc.example" not in xml + text, "nothing for a domain "
           "without a policy")
        if not pt.failed() and pt.verbose():
            diag(text)
    else:
        pt.skip("tools/postern-dmarc-report not built", 7)

pt.done()
