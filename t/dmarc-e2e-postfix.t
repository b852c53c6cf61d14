#!/usr/bin/python3
# dmarc-e2e-postfix.t - postern-dmarc behind a private Postfix, in the chain
#   swaks -> Postfix smtpd (XCLIENT gives the client address)
#            check_policy_service -> postern-spfd (Header_Type=AR: it
#                PREPENDs "Authentication-Results: mx.test.example;
#                spf=..." at RCPT time)
#            smtpd_milters = postern-dkim, then postern-dmarc
#        -> the test sink.
# Four Postfix instances share the DNS, postern-dkim and the sink; they
# differ in their postern-dmarc (and SPF source):
#   "AR"      reads SPF and DKIM results from Authentication-Results with
#             our own authserv-id (the default)
#   "spfid"   the same, but its postern-spfd writes authserv-id
#             spf.mx.test.example, listed in trusted_authserv_ids
#   "hybrid"  spf_self_validate = yes, DKIM from postern-dkim's header
#   "self"    spf_self_validate = yes, dkim_self_validate = yes
# Checked on each: a spoofed From: of a p=reject domain is refused at the
# end of DATA with 550 5.7.1 (seen by swaks); a spoof carrying a forged
# "Authentication-Results: mx.test.example; dkim=pass; spf=pass" is
# refused too; a message signed with the domain's key (published in the
# test zone) from an outside address passes, with dmarc=pass in the
# delivered copy; an unsigned message whose MAIL FROM passes SPF passes
# (except in "AR": see below).
#
# What the second milter sees (measured with Postfix 3.7.11, asserted in
# the "chain" section, printed as diagnostics):
#   - postern-dkim's Authentication-Results, inserted at its end of
#     message, IS visible to postern-dmarc (Postfix hands later milters
#     the header as changed by earlier ones);
#   - postern-spfd's header PREPENDed at RCPT time is part of the message
#     milters see, but postern-dkim deletes it when it carries our own
#     authserv-id (to postern-dkim it is an inbound header claiming our
#     id), and postern-dmarc sees the deletion: "AR" gets no SPF result,
#     "spfid" gets it;
#   - with both self_validate settings postern-dmarc deletes the headers
#     with our authserv-id itself, postern-dkim's result included.
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import postern_test as pt                                      # noqa: E402
from postern_test import ok, is_, like, diag, section          # noqa: E402
import milter_test as mt                                       # noqa: E402
import dmarc_test as dt                                        # noqa: E402

DKIM = mt.dkim_path()
IMPL, SPFD = pt.spfd_impl()
for prog, what in ((dt.dmarc_path(), "postern-dmarc"), (DKIM, "postern-dkim"),
                   (SPFD, "postern-spfd")):
    if not prog or not os.access(prog, os.X_OK):
        pt.skip_all("%s not built" % what)
missing = pt.have_programs("postfix", "postconf", "swaks", "unbound",
                           "openssl")
if missing:
    pt.skip_all("missing: %s" % ", ".join(missing))
if os.geteuid() != 0:
    pt.skip_all("a private Postfix instance needs root")
try:
    import cryptography  # noqa: F401
except ImportError:
    pt.skip_all("python3-cryptography not installed")

AUTHSERV = dt.AUTHSERV
SPF_ID = "spf.mx.test.example"
OUTSIDE = "198.51.100.20"        # no SPF record allows it
tmp = pt.tmpdir()
KEY = mt.KeyPair(os.path.join(tmp.sub("keys", 0o700), "sel.pem"), "rsa",
                 2048)
ub = dt.unbound(KEY)
msock = tmp.sub("milter")
SPFD_OPTS = {"Header_Type": "AR", "dns_timeout": "2s",
             "Mail_From_reject": "False"}
spfd = {
    "ours": pt.start_spfd(ub, dict(SPFD_OPTS, Authserv_Id=AUTHSERV),
                          name="postern-spfd"),
    "own": pt.start_spfd(ub, dict(SPFD_OPTS, Authserv_Id=SPF_ID),
                         name="postern-spfd-own-id"),
}
dkim = mt.start_dkim(ub, {
    "domain": "reject.example", "selector": "sel", "key_file": KEY.path,
    "authserv_id": AUTHSERV, "dns_timeout": "2s",
    "unix_socket_mode": "0666"}, listen="unix:" + os.path.join(msock,
                                                              "dkim.sock"))
SETUPS = {
    # name: (postern-dmarc options, postern-spfd)
    "AR": ({}, "ours"),
    "spfid": ({"trusted_authserv_ids": "%s, %s" % (AUTHSERV, SPF_ID)},
              "own"),
    "hybrid": ({"spf_self_validate": "yes"}, "ours"),
    "self": ({"spf_self_validate": "yes", "dkim_self_validate": "yes"},
             "ours"),
}
dmarc, pf = {}, {}
sink = pt.Sink()
for mode, (o, sp) in SETUPS.items():
    dmarc[mode] = dt.start_dmarc(
        ub, dict(o, unix_socket_mode="0666"),
        listen="unix:" + os.path.join(msock, "%s.sock" % mode),
        name="dmarc-%s" % mode)
    pf[mode] = pt.Postfix(sink=sink, main_cf_extra={
        "smtpd_milters": "%s, %s" % (dkim.milter_addr,
                                     dmarc[mode].milter_addr),
        "milter_default_action": "tempfail",
        "milter_protocol": "6",
        "smtpd_recipient_restrictions":
            "reject_unauth_destination, check_policy_service %s" %
            spfd[sp].policy_addr,
        "smtpd_policy_service_timeout": "30s",
    })

_n = [0]


def send(mode, msg, frm, ip, helo="mail.outside.example"):
    """swaks --data with msg's bytes, from XCLIENT address ip."""
    _n[0] += 1
    path = tmp.file("data-%d.eml" % _n[0], msg.bytes())
    r = pf[mode].swaks(frm=frm, to="bob@mx.test.example", xclient_addr=ip,
                       xclient_name=helo, helo=helo, args=["--data", path])
    if pt.verbose():
        diag(r.transcript)
    return r


def delivered(subject, timeout=20):
    def find():
        return [m for m in sink.messages
                if any(subject in v for v in m.headers("Subject"))]
    pt.wait_until(find, timeout, 0.1)
    return find()


def dmarc_of(m):
    """The dmarc= results in a delivered copy's Authentication-Results
    headers from our authserv-id."""
    out = []
    for v in m.headers("Authentication-Results"):
        r = dt.parse_dmarc(v)
        if r and r["serv"] == AUTHSERV:
            out.append(r["result"])
    return out


def msg(subject, frm="Alice <alice@reject.example>"):
    return mt.Message.simple(frm=frm, to="Bob <bob@mx.test.example>",
                             subject=subject,
                             body="Hello.\r\nEnd to end.\r\n")


def signed(subject):
    return mt.dkim_signed(msg(subject), KEY, d="reject.example", s="sel")


def ours_in(m, method):
    """The method=result words of our Authentication-Results in a
    delivered copy (any of our ids)."""
    out = []
    for v in m.headers("Authentication-Results"):
        serv = v.split(";")[0].strip()
        if serv in (AUTHSERV, SPF_ID):
            out += re.findall(r"\b%s=(\w+)" % method, v)
    return out


seen = {}
for mode in SETUPS:
    with section("%s: a spoofed From: of a p=reject domain" % mode):
        r = send(mode, msg("%s spoof" % mode), "bounce@unrelated.example",
                 OUTSIDE)
        ok(r.rcpt and r.rcpt[0][0] == 250, "%s spoof: RCPT accepted "
           "(SPF none for unrelated.example)" % mode)
        is_(r.data and r.data[0], 550, "%s spoof: refused at end of DATA "
            "with 550" % mode)
        like(r.data and r.data[1], r"^5\.7\.1 Email from reject\.example "
             r"rejected", "%s spoof: 5.7.1 and a clear text (%s)" % (
                 mode, r.full(r.data)))
        ok(not delivered("%s spoof" % mode, timeout=1), "%s spoof: not "
           "delivered" % mode)

    with section("%s: spoofs with forged Authentication-Results" % mode):
        for label, frm, ip, ar in (
                ("forged dkim=pass spf=pass", "bounce@unrelated.example",
                 OUTSIDE, " %s; dkim=pass header.d=reject.example "
                 "header.s=sel; spf=pass smtp.mailfrom="
                 "bounce@unrelated.example" % AUTHSERV),
                ("forged spf=pass under the real spf=fail",
                 "alice@reject.example", OUTSIDE, " %s; spf=pass "
                 "smtp.mailfrom=alice@reject.example" % (
                     SPF_ID if SETUPS[mode][1] == "own" else AUTHSERV))):
            r = send(mode, msg("%s %s" % (mode, label)).with_header(
                "Authentication-Results", ar), frm, ip)
            is_(r.data and r.data[0], 550, "%s, %s: refused at end of DATA "
                "with 550 (%s)" % (mode, label, r.full(r.data)))

    with section("%s: aligned DKIM signature" % mode):
        subj = "%s signed" % mode
        r = send(mode, signed(subj), "bounce@unrelated.example", OUTSIDE)
        got = r.data and r.data[0]
        seen[(mode, "dkim")] = got == 250
        is_(got, 250, "%s: a message signed with reject.example's key "
            "passes (%s)" % (mode, r.full(r.data)))
        msgs = delivered(subj, timeout=20 if got == 250 else 1)
        if got == 250:
            is_(len(msgs), 1, "%s signed: delivered" % mode)
            is_(dmarc_of(msgs[0]) if msgs else None, ["pass"],
                "%s signed: dmarc=pass in the delivered copy" % mode)
            if msgs:
                seen[(mode, "dkim-header-kept")] = "pass" in ours_in(
                    msgs[0], "dkim")

    with section("%s: SPF pass of an aligned MAIL FROM" % mode):
        subj = "%s spf" % mode
        r = send(mode, msg(subj), "alice@reject.example", dt.SPF_OK_IP)
        got = r.data and r.data[0]
        seen[(mode, "spf")] = got == 250
        if mode != "AR":
            is_(got, 250, "%s: MAIL FROM alice@reject.example from %s "
                "(SPF pass) passes (%s)" % (mode, dt.SPF_OK_IP,
                                            r.full(r.data)))
        if got == 250:
            msgs = delivered(subj)
            is_(dmarc_of(msgs[0]) if msgs else None, ["pass"],
                "%s spf: dmarc=pass in the delivered copy" % mode)
        else:
            diag("%s spf: %s" % (mode, r.full(r.data)))

with section("chain: what the second milter sees"):
    diag("Postfix smtpd_milters = postern-dkim, postern-dmarc;\n"
         "  postern-dkim's Authentication-Results (inserted at end of "
         "message), read by postern-dmarc: %s\n"
         "  postern-spfd's Authentication-Results (PREPENDed at RCPT), "
         "with our authserv-id: %s\n"
         "  the same with its own authserv-id %s: %s\n"
         "  postern-dkim's dkim=pass left in the delivered copy: AR %s, "
         "hybrid %s, self %s" % (
             "SEEN" if seen.get(("AR", "dkim")) else "NOT seen",
             "SEEN" if seen.get(("AR", "spf")) else
             "NOT seen (postern-dkim deletes it: it claims our id)",
             SPF_ID, "SEEN" if seen.get(("spfid", "spf")) else "NOT seen",
             seen.get(("AR", "dkim-header-kept")),
             seen.get(("hybrid", "dkim-header-kept")),
             seen.get(("self", "dkim-header-kept"))))
    ok(seen.get(("AR", "dkim")), "postern-dkim's inserted "
       "Authentication-Results is visible to postern-dmarc")
    ok(seen.get(("spfid", "spf")), "postern-spfd's PREPENDed "
       "Authentication-Results is visible to postern-dmarc when its "
       "authserv-id is not postern-dkim's")
    ok(seen.get(("AR", "spf")) is False, "... and is not when it carries "
       "postern-dkim's authserv-id (postern-dkim deletes it first)")
    like(dkim.log_text(), r"authres_removed=\d", "postern-dkim logged the "
         "deletions")
    ok(seen.get(("hybrid", "dkim-header-kept")), "hybrid: postern-dkim's "
       "dkim=pass stays in the delivered message")
    ok(seen.get(("self", "dkim-header-kept")) is False, "self: postern-dmarc "
       "deletes postern-dkim's header (it claims our authserv-id)")

for mode in SETUPS:
    log = pf[mode].log_text()
    ok(not re.search(r"(?m)(fatal|panic):", log), "Postfix %s: no fatal "
       "errors" % mode)
    ok(not re.search(r"milter .*(unavailable|timeout|can't read)", log),
       "Postfix %s: no trouble with the milters" % mode)

for p in pf.values():
    p.stop()
dt.stop_all([dkim] + list(spfd.values()) + list(dmarc.values()))
sink.stop()
pt.done()
