#!/usr/bin/python3
# spfd-e2e-postfix.t - postern-spfd behind a real (private) Postfix:
# swaks -> Postfix smtpd (XCLIENT gives the client address) ->
# check_policy_service -> postern-spfd -> unbound (test zone); accepted
# mail is relayed to the test sink.
#
#   fail        rejected at RCPT: 550 5.7.23 (Mail_From_reject=Fail,
#               SPF_Enhanced_Status_Codes=yes)
#   temperror   deferred at RCPT with 4xx 4.7.24 (TempError_Defer=yes)
#   pass        3 recipients, delivered with exactly ONE Received-SPF
#               header, "Pass"
#   AR          same with Header_Type=AR: exactly one
#               Authentication-Results header with spf=pass
#   and: softfail is delivered with its header, a null sender is checked
#   as postmaster@HELO, a HELO fail is rejected, a skip_addresses client
#   gets no SPF header, and Postfix never had trouble talking to the
#   policy service.
#
# POSTERN_SPFD=pypolicyd-spf runs the same test against pypolicyd-spf.
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import postern_test as pt                                      # noqa: E402
from postern_test import ok, is_, like, unlike, diag, section  # noqa: E402

IMPL, SPFD = pt.spfd_impl()
if IMPL == "postern" and not os.access(SPFD, os.X_OK):
    pt.skip_all("postern-spfd not built")
missing = pt.have_programs("unbound", "postfix", "postconf", "swaks")
if missing:
    pt.skip_all("missing: %s" % ", ".join(missing))
if os.geteuid() != 0:
    pt.skip_all("a private Postfix instance needs root")

GOOD = "192.0.2.10"
BAD = "198.51.100.20"
HELO_NONE = "nospf.example.net"
TIMEOUT_ZONE = "timeout.example.org"

ZONES = {
    "example.com": [
        ("pass", "TXT", "v=spf1 ip4:192.0.2.10 -all"),
        ("fail", "TXT", "v=spf1 -all"),
        ("softfail", "TXT", "v=spf1 ~all"),
        ("mail", "A", GOOD),
        ("mail", "TXT", "v=spf1 a -all"),
    ],
    "example.net": [
        ("nospf", "A", BAD),
        ("helofail", "TXT", "v=spf1 -all"),
    ],
}

OPTS = {
    "Mail_From_reject": "Fail",
    "HELO_reject": "Fail",
    "SPF_Enhanced_Status_Codes": "yes",
    "TempError_Defer": "yes",
    "Lookup_Time": "4",
    "dns_timeout": "2s",
}

RCPTS = ["r1@example.net", "r2@example.org", "r3@example.com"]


def setup(opts, name):
    """spfd + Postfix consulting it; the Postfix shares the sink."""
    o = dict(OPTS)
    o.update(opts)
    d = pt.start_spfd(ub, o, name=name)
    pf = pt.Postfix(sink=sink, main_cf_extra={
        "smtpd_recipient_restrictions":
            "reject_unauth_destination, check_policy_service %s" %
            d.policy_addr,
        "smtpd_policy_service_timeout": "30s",
    })
    diag("%s (%s) on %s, Postfix on 127.0.0.1:%d, sink on %d" % (
        name, IMPL, d.policy_addr, pf.port, sink.port))
    return d, pf


def send(pf, frm, ip, helo=HELO_NONE, to=RCPTS):
    r = pf.swaks(frm=frm, to=to, helo=helo, xclient_addr=ip,
                 xclient_name=helo)
    if pt.verbose():
        diag(r.transcript)
    return r


def show_rcpt(r):
    for code, text in r.rcpt:
        diag("  RCPT -> %d %s" % (code, text))
    if r.data:
        diag("  DATA -> %d %s" % r.data)


def delivered(frm, n_rcpts, timeout=30):
    """The sink's copies from frm until n_rcpts recipients are covered."""
    got = pt.wait_until(lambda: sum(len(m.rcpts) for m in sink.messages
                                    if m.mail_from == frm) >= n_rcpts,
                        timeout, 0.1)
    msgs = [m for m in sink.messages if m.mail_from == frm]
    if not got:
        diag("  sink has %d message(s) from <%s>" % (len(msgs), frm))
    return msgs


ub = pt.Unbound(ZONES, timeout_zone=TIMEOUT_ZONE)
sink = pt.Sink()
d, pf = setup({}, "postern-spfd")

with section("fail"):
    r = send(pf, "alice@fail.example.com", BAD, to="bob@example.net")
    is_([c for c, _ in r.rcpt], [550], "fail: RCPT rejected with 550")
    like(r.rcpt and r.rcpt[0][1], r"^5\.7\.23 ", "fail: 5.7.23")
    show_rcpt(r)
    ok(r.data is None, "fail: no DATA")

with section("HELO fail"):
    r = send(pf, "alice@pass.example.com", GOOD, helo="helofail.example.net",
             to="bob@example.net")
    is_([c for c, _ in r.rcpt], [550], "HELO fail: RCPT rejected with 550")
    like(r.rcpt and r.rcpt[0][1], r"^5\.7\.23 ", "HELO fail: 5.7.23")
    show_rcpt(r)

with section("temperror"):
    r = send(pf, "alice@%s" % ub.timeout_name("e2e"), BAD,
             to="bob@example.net")
    codes = [c for c, _ in r.rcpt]
    ok(len(codes) == 1 and 400 <= codes[0] < 500,
       "temperror: RCPT deferred with 4xx (%s)" % codes)
    like(r.rcpt and r.rcpt[0][1], r"^4\.7\.24 ", "temperror: 4.7.24")
    show_rcpt(r)

with section("pass, 3 recipients"):
    frm = "alice@pass.example.com"
    r = send(pf, frm, GOOD)
    is_([c for c, _ in r.rcpt], [250, 250, 250], "pass: 3 RCPT accepted")
    ok(r.data and r.data[0] == 250, "pass: DATA accepted (%s)" %
       r.full(r.data))
    msgs = delivered(frm, 3)
    is_(sorted(x for m in msgs for x in m.rcpts), sorted(RCPTS),
        "pass: delivered to all 3 recipients")
    for m in msgs:
        hs = m.headers("Received-SPF")
        is_(len(hs), 1, "pass: exactly one Received-SPF in the copy for %s"
            % ",".join(m.rcpts))
        like(hs and hs[0], r"^(?i:pass)\b", "  ... and it says Pass")
        like(hs and hs[0], r"client-ip=192\.0\.2\.10\b", "  ... with "
             "client-ip")
        ok(not m.headers("Authentication-Results"),
           "  ... and no Authentication-Results")
        diag("  Received-SPF: %s" % (hs and hs[0]))

with section("softfail"):
    frm = "alice@softfail.example.com"
    r = send(pf, frm, BAD, to=RCPTS[:2])
    is_([c for c, _ in r.rcpt], [250, 250], "softfail: accepted")
    msgs = delivered(frm, 2)
    hs = [h for m in msgs for h in m.headers("Received-SPF")]
    is_(len(hs), len(msgs), "softfail: one Received-SPF per copy")
    ok(msgs and all(h.lower().startswith("softfail") for h in hs),
       "softfail: it says Softfail")

with section("null sender"):
    r = send(pf, "", GOOD, helo="mail.example.com", to="bob@example.net")
    is_([c for c, _ in r.rcpt], [250], "null sender, HELO pass: accepted")
    msgs = delivered("", 1)
    hs = [h for m in msgs for h in m.headers("Received-SPF")]
    is_(len(hs), 1, "null sender: one Received-SPF")
    like(hs and hs[0], r"^(?i:pass)\b", "null sender: Pass (postmaster@HELO)")
    r = send(pf, "", BAD, helo="mail.example.com", to="bob@example.net")
    is_([c for c, _ in r.rcpt], [550], "null sender, HELO fail: rejected")

with section("skip_addresses"):
    frm = "carol@fail.example.com"
    r = send(pf, frm, "127.0.0.1", to="bob@example.net")
    is_([c for c, _ in r.rcpt], [250], "client 127.0.0.1: not checked")
    msgs = delivered(frm, 1)
    ok(msgs and not any(m.headers("Received-SPF") for m in msgs),
       "client 127.0.0.1: no Received-SPF")

with section("Header_Type=AR"):
    d2, pf2 = setup({"Header_Type": "AR", "Authserv_Id": "mx.test.example"},
                    "spfd-ar")
    frm = "bob@pass.example.com"
    r = send(pf2, frm, GOOD)
    is_([c for c, _ in r.rcpt], [250, 250, 250], "AR: 3 RCPT accepted")
    ok(r.data and r.data[0] == 250, "AR: DATA accepted")
    msgs = delivered(frm, 3)
    is_(sorted(x for m in msgs for x in m.rcpts), sorted(RCPTS),
        "AR: delivered to all 3 recipients")
    for m in msgs:
        hs = m.headers("Authentication-Results")
        is_(len(hs), 1, "AR: exactly one Authentication-Results in the copy "
            "for %s" % ",".join(m.rcpts))
        like(hs and hs[0], r"^mx\.test\.example;", "  ... authserv-id")
        like(hs and hs[0], r";\s*spf=pass\b", "  ... spf=pass")
        ok(not m.headers("Received-SPF"), "  ... and no Received-SPF")
        diag("  Authentication-Results: %s" % (hs and hs[0]))
    r = send(pf2, "alice@fail.example.com", BAD, to="bob@example.net")
    is_([c for c, _ in r.rcpt], [550], "AR: fail still rejected with 550")
    pf2.stop()
    unlike(pf2.log_text(), r"problem talking to server|"
           r"policy service .* (timeout|unavailable)",
           "AR Postfix: no trouble with the policy service")
    d2.stop()

pf.stop()
log = pf.log_text()
unlike(log, r"problem talking to server|policy service .* "
       r"(timeout|unavailable)", "Postfix: no trouble with the policy service")
unlike(log, r"(?m)(fatal|panic):", "Postfix: no fatal errors")
d.stop()
pt.done()
