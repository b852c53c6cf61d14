#!/usr/bin/python3
# greyd-e2e-postfix.t - postern-greyd behind a private Postfix
# (check_policy_service), mail sent with swaks through XCLIENT: the first
# attempt gets 450 4.2.0 with the greylist text, an early retry is
# deferred again, after the delay the mail is delivered with one
# X-Greylist header, whitelisted clients and recipients pass at once, and
# auto-whitelisting lets the client's next new triplet through.
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import postern_test as pt                                      # noqa: E402
from postern_test import ok, is_, like, diag, section          # noqa: E402

GREYD = os.path.join(pt.top_builddir(), "policyd", "postern-greyd")
if not os.access(GREYD, os.X_OK):
    pt.skip_all("postern-greyd not built")
missing = pt.have_programs("postfix", "postconf", "swaks")
if missing:
    pt.skip_all("missing: %s" % ", ".join(missing))
if os.geteuid() != 0:
    pt.skip_all("a private Postfix instance needs root")

tmp = pt.tmpdir()
port = pt.free_port()
greyd = pt.Daemon([
    GREYD, "-f", "-c", tmp.file("greyd.conf", ""),
    "-o", "listen=inet:127.0.0.1:%d" % port,
    "-o", "store=%s" % os.path.join(tmp.path, "store"),
    "-o", "delay=2s", "-o", "auto_whitelist_clients=1",
    "-o", "hostname=mx.test", "-o", "greylist_by_spf_domain=no",
    "-o", "dns_server=127.0.0.1:9",
    "-o", "whitelist_clients=%s" % tmp.file("wlc", "trusted.example.net\n"),
    "-o", "whitelist_recipients=%s" % tmp.file("wlr", "postmaster@\n")],
    ready=("tcp", port), name="postern-greyd", tmp=tmp)
sink = pt.Sink()
pf = pt.Postfix(sink=sink, main_cf_extra={
    "smtpd_recipient_restrictions":
        "reject_unauth_destination, check_policy_service "
        "inet:127.0.0.1:%d" % port,
    "smtpd_policy_service_timeout": "30s",
})


def send(frm, to, ip, name="mail.example.com"):
    r = pf.swaks(frm=frm, to=to, helo=name, xclient_addr=ip,
                 xclient_name=name)
    if pt.verbose():
        diag(r.transcript)
    return r


def delivered(frm, timeout=30):
    pt.wait_until(lambda: any(m.mail_from == frm for m in sink.messages),
                  timeout, 0.1)
    return [m for m in sink.messages if m.mail_from == frm]


with section("greylisted, then accepted after the delay"):
    r = send("alice@example.com", "bob@example.net", "192.0.2.10")
    is_([c for c, _ in r.rcpt], [450], "first attempt: 450")
    like(r.rcpt and r.rcpt[0][1], r"^4\.2\.0 .*Greylisted, please try again",
         "with 4.2.0 and the greylist text")
    r = send("alice@example.com", "bob@example.net", "192.0.2.10")
    is_([c for c, _ in r.rcpt], [450], "retry before the delay: 450 again")
    time.sleep(2.2)
    r = send("alice@example.com", "bob@example.net", "192.0.2.10")
    is_([c for c, _ in r.rcpt], [250], "after the delay: accepted")
    msgs = delivered("alice@example.com")
    is_(len(msgs), 1, "delivered once")
    hdrs = msgs[0].headers("X-Greylist") if msgs else []
    is_(len(hdrs), 1, "with exactly one X-Greylist header")
    like(hdrs[0] if hdrs else "", r"delayed [23] seconds by postern-greyd "
         r"at mx\.test", "header text")

with section("auto-whitelisted client"):
    r = send("carol@example.com", "dave@example.net", "192.0.2.10")
    is_([c for c, _ in r.rcpt], [250], "the client's next new triplet "
        "passes at once (auto_whitelist_clients = 1)")

with section("whitelists"):
    r = send("erin@example.com", "frank@example.net", "203.0.113.5",
             name="mx1.trusted.example.net")
    is_([c for c, _ in r.rcpt], [250], "whitelisted client: accepted")
    r = send("erin@example.com", "postmaster@example.net", "203.0.113.6")
    is_([c for c, _ in r.rcpt], [250], "whitelisted recipient: accepted")
    msgs = delivered("erin@example.com")
    ok(msgs and not any(m.headers("X-Greylist") for m in msgs),
       "no X-Greylist on whitelisted mail")

pf.stop()
greyd.stop()
sink.stop()
pt.done()
