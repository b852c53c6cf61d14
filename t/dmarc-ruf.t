#!/usr/bin/python3
# dmarc-ruf.t - DMARC failure reports (common/dmarc_ruf.c) read by an
# independent MIME parser, and delivered over SMTP.
#
# Reports built by t/dmarc_ruf_tool are parsed with Python's email
# package: multipart/report; report-type=feedback-report with text/plain,
# message/feedback-report and text/rfc822-headers parts, no parser
# defects, the ARF fields (RFC 5965/6591/9991) with the values the facts
# give, Identity-Alignment in both modes, the DKIM and SPF report kinds;
# hostile header fields (CR/LF injection, NUL, 8-bit, a 100 KB value, a
# boundary look-alike, a fake MIME part) change neither the top-level
# header nor the parts; 300 KB of header stays under 64 KB with the
# omission said.  Then dmarc_ruf_send to a Sink on 127.0.0.1: the
# right messages arrive with the right envelopes (synchronous and
# through the outbox), an unauthorized destination gets nothing, and a
# server that is down is reported as deferred.
# TAP; 127.0.0.1 only.
import email
import email.parser
import email.utils
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import postern_test as pt                                      # noqa: E402
from postern_test import ok, is_, like, section                # noqa: E402

TOOL = os.path.join(pt.top_builddir(), "t", "dmarc_ruf_tool")
if not os.access(TOOL, os.X_OK):
    pt.skip_all("t/dmarc_ruf_tool not built")

TOP = {"From", "To", "Subject", "Date", "Message-ID", "Auto-Submitted",
       "MIME-Version", "Content-Type"}
PARTS = ["text/plain", "message/feedback-report", "text/rfc822-headers"]


def build(*args):
    """build - (raw report bytes, stderr text) from the tool."""
    p = subprocess.run([TOOL, "build"] + list(args), capture_output=True,
                       timeout=60)
    if p.returncode != 0:
        pt.diag("dmarc_ruf_tool build %s: %s" % (" ".join(args),
                                                 p.stderr.decode()))
    return p.stdout, p.stderr.decode()


def report_parts(raw, what):
    """report_parts - check the MIME shape of raw; (message, feedback
    fields Message, original header Message) or None."""
    msg = email.message_from_bytes(raw)
    ok(msg.get_content_type() == "multipart/report" and
       msg.get_param("report-type") == "feedback-report",
       "%s: multipart/report; report-type=feedback-report" % what)
    parts = msg.get_payload() if msg.is_multipart() else []
    is_([p.get_content_type() for p in parts], PARTS,
        "%s: text/plain, message/feedback-report, text/rfc822-headers"
        % what)
    defects = list(msg.defects) + [d for p in parts for d in p.defects]
    is_(defects, [], "%s: no MIME defects" % what)
    is_(sorted(set(k for k, _ in msg.items())), sorted(TOP),
        "%s: top-level header is ours only" % what)
    if len(parts) != 3:
        return None
    fb = parts[1].get_payload()
    fb = fb[0] if isinstance(fb, list) and fb else email.message.Message()
    orig = email.parser.HeaderParser().parsestr(parts[2].get_payload())
    return msg, fb, orig, parts[0].get_payload()


def unfold(v):
    return " ".join((v or "").split())


with section("a DMARC report"):
    raw, _ = build()
    ok(raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b""),
       "CRLF line ends only")
    ok(max(len(l) for l in raw.split(b"\r\n")) <= 78,
       "every line within 78 characters")
    r = report_parts(raw, "report")
    if r:
        msg, fb, orig, text = r
        is_(msg["From"], "dmarc-reports@reporter.example", "From")
        is_(msg["To"], "ruf@example.com", "To")
        ok(email.utils.parsedate_to_datetime(msg["Date"]) is not None,
           "Date parses")
        like(msg["Message-ID"], r"^<[^<>@\s]+@reporter\.example>$",
             "Message-ID")
        is_(msg["Auto-Submitted"], "auto-generated", "Auto-Submitted")
        want = {
            "Feedback-Type": "auth-failure",
            "Version": "1",
            "Auth-Failure": "dmarc",
            "Identity-Alignment": "dkim, spf",
            "Delivery-Result": "reject",
            "DKIM-Domain": "example.com",
            "DKIM-Identity": "@example.com",
            "DKIM-Selector": "sel1",
            "SPF-DNS": 'txt : bad.example : "v=spf1 ip4:198.51.100.0/24 '
                       '-all"',
            "Original-Envelope-Id": "4AE9D403CC",
            "Original-Mail-From": "<user@bad.example>",
            "Reporting-MTA": "dns; mx.reporter.example",
            "Source-IP": "192.0.2.1",
            "Reported-Domain": "example.com",
        }
        for k, v in want.items():
            is_(fb.get_all(k), [v], "feedback field %s" % k)
        like(fb["User-Agent"], r"^postern-dmarc/\S+$", "User-Agent")
        is_(email.utils.parsedate_to_datetime(
            fb["Arrival-Date"]).timestamp(), 1700000000.0, "Arrival-Date")
        like(unfold(fb["Authentication-Results"]),
             r"^mx\.reporter\.example; dmarc=fail \(p=reject dis=reject\) "
             r"header\.from=example\.com; spf=fail "
             r"smtp\.mailfrom=bad\.example; dkim=fail header\.d=example\.com"
             r" header\.s=sel1; dkim=pass header\.d=other\.example "
             r"header\.s=s2$", "Authentication-Results")
        is_(fb.get_all("Original-Rcpt-To"), None,
            "no Original-Rcpt-To (privacy)")
        is_([k for k, _ in orig.items()],
            ["Received", "From", "To", "Subject", "Message-ID"],
            "the original header fields, in order")
        is_(orig["Subject"], "Urgent wire transfer", "original Subject")
        like(unfold(orig["Received"]), r"^from bad\.example .* 22:13:20 "
             r"\+0000$", "original Received, refolded")
        like(text, r"DMARC authentication failed for a message from "
             r"example\.com", "text part: what happened")
        like(text, r"its body is not \(privacy\)", "text part: no body")

with section("modes and kinds"):
    raw, _ = build("rfc7489")
    r = report_parts(raw, "rfc7489")
    if r:
        is_(r[1]["Identity-Alignment"], "none",
            "rfc7489: mechanisms that gave an aligned pass: none")
    raw, _ = build("dkim")
    r = report_parts(raw, "dkim")
    if r:
        is_(r[1]["Auth-Failure"], "signature", "DKIM report")
        is_(r[1]["Identity-Alignment"], None, "no Identity-Alignment")
        is_(r[1]["DKIM-Domain"], "example.com", "the failed signature")
        like(r[0]["Subject"], r"^DKIM failure report", "its Subject")
    raw, _ = build("spf")
    r = report_parts(raw, "spf")
    if r:
        is_(r[1]["Auth-Failure"], "spf", "SPF report")
        is_(r[1]["DKIM-Domain"], None, "no DKIM fields")
        ok(r[1]["SPF-DNS"] is not None, "SPF-DNS")

with section("hostile header fields"):
    raw, _ = build("hostile")
    ok(len(raw) <= 65536, "%d bytes" % len(raw))
    r = report_parts(raw, "hostile")
    if r:
        msg, fb, orig, text = r
        names = [k for k, _ in orig.items()]
        is_(len(names), 11, "11 original fields, no more")
        ok("Bcc" not in names and "Bcc" not in msg and "Bcc" not in fb,
           "no Bcc injected anywhere")
        is_(orig.get_all("Subject")[1], "hi Bcc: evil@evil.example "
            "--=_postern_ruf_0", "CR/LF and a boundary look-alike: "
            "one value")
        is_(orig["X-Nul"], "a?b Bcc: nul@evil.example", "NUL masked")
        is_(orig["X-8bit"], "caf?? ?[31m", "8-bit and ESC masked")
        ok("Bad?Name???To" in names, "a hostile name masked")
        is_(orig.get_all("Content-Type"),
            ["text/plain; --x Content-Type: text/html"],
            "a fake MIME part stays one field value")
        big = unfold(orig["X-Big"]).replace(" ", "")
        ok(set(big) == {"A"} and 4000 < len(big) <= 4096,
           "the 100 KB value cut to %d bytes" % len(big))
        like(text, r"1 header field longer than 4096 bytes was cut",
             "text part: the cut is said")
        like(text, r"HELO name: +evil X-Injected: 1\r?\n",
             "hostile HELO stays on its line")
        is_(fb["Original-Mail-From"], "<a??Bcc:??x@evil.example>",
            "hostile envelope sender: one token")

with section("size bound"):
    raw, err = build("big")
    ok(len(raw) <= 65536, "300 KB of header: report of %d bytes" % len(raw))
    r = report_parts(raw, "big")
    if r:
        left = int(err.split("omitted=")[1]) if "omitted=" in err else -1
        ok(left > 200, "%d fields left out" % left)
        is_(len(r[2].items()) + left, 305, "kept + left out = all")
        like(r[3], r"%d header fields of the message were left out\r?\n"
             r"to keep this report under 65536 bytes" % left,
             "text part says how many")


def check_delivery(sink, out, what):
    """The two authorized destinations got their report."""
    msgs = sink.wait_for_messages(2, timeout=30)
    is_(len(msgs), 2, "%s: two messages" % what)
    is_(sorted(tuple(m.rcpts) for m in msgs),
        [("ext@thirdparty.example",), ("ruf@example.com",)],
        "%s: one per authorized destination, not the unauthorized one"
        % what)
    ok(all(m.mail_from == "dmarc-reports@reporter.example" for m in msgs),
       "%s: envelope sender is report_email" % what)
    for m in msgs:
        r = report_parts(m.data, "%s to %s" % (what, m.rcpts[0]))
        if r:
            is_(r[0]["To"], m.rcpts[0], "%s: To: is the envelope "
                "recipient" % what)
            is_(r[1]["SPF-DNS"], 'txt : bad.example : "v=spf1 '
                'ip4:198.51.100.0/24 -all"', "%s: SPF-DNS looked up" % what)
    is_(out.strip(), "sent=2 unauthorized=1", "%s: outcome" % what)


with section("delivery over SMTP"):
    tmp = pt.tmpdir()
    sink = pt.Sink(tmp)
    p = subprocess.run([TOOL, "send", str(sink.port)], capture_output=True,
                       text=True, timeout=60)
    is_(p.returncode, 0, "synchronous send")
    check_delivery(sink, p.stdout, "synchronous")
    sink.clear()
    p = subprocess.run([TOOL, "send", str(sink.port), "outbox"],
                       capture_output=True, text=True, timeout=60)
    is_(p.returncode, 0, "send through the outbox")
    check_delivery(sink, p.stdout, "outbox")
    ok("DMARC failure report to <ruf@example.com>: sent" in p.stderr,
       "the outbox logs each delivery")
    sink.stop()
    port = pt.free_port()
    p = subprocess.run([TOOL, "send", str(port)], capture_output=True,
                       text=True, timeout=60)
    is_(p.returncode, 1, "no SMTP server: nothing sent")
    is_(p.stdout.strip(), "unauthorized=1 deferred=2",
        "both destinations deferred")

pt.done()
