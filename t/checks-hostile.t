#!/usr/bin/python3
# checks-hostile.t - hostile messages through postern-checks: every
# message is answered, in bounded time, and the daemon keeps running
# without sanitizer reports.  Tables: t/checks/milter/hostile.pcre.
#
# Covered: a catastrophic-backtracking rule (/^Subject:(a+)+$/ against 40
#   'a' + 'b': match limit, warning, fast answer), a header over
#   header_size_limit (cut: the start still matched, the tail not), a
#   10 MB header line, 1000 headers (the last one still inspected; one
#   more: the core's 552 5.3.4), 50-deep MIME (a body rule still applies)
#   and 5000-deep MIME (mime_nesting_limit logged), a 1 MB body line,
#   broken base64 / quoted-printable / encoded words with decode_headers
#   and decode_body on, NUL bytes in the body.
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import postern_test as pt                                      # noqa: E402
from postern_test import ok, is_, like, diag, section          # noqa: E402
import milter_test as mt                                       # noqa: E402
import checks_test as ct                                       # noqa: E402
from checks_test import logline                                # noqa: E402


DATA = os.path.join(pt.top_srcdir(), "t", "checks", "milter")
TABLE = "pcre:" + os.path.join(DATA, "hostile.pcre")
tmp = pt.tmpdir()
_n = [0]


def start(options, name):
    return ct.start(tmp, options, name)


def send(d, m, timeout=60.0):
    """(MilterResult, qid, seconds)."""
    _n[0] += 1
    q = "4HST%06X" % _n[0]
    t0 = time.monotonic()
    r = mt.send_message(d.milter_addr, m.headers, m.body, timeout=timeout,
                        mail_macros={"i": q})
    return r, q, time.monotonic() - t0




def answered(r, label, secs, limit=10.0):
    ok(r.action not in ("closed", None), "%s: answered (%s%s)" % (
        label, r.action, ", " + r.reply if r.reply else ""))
    ok(secs < limit, "%s: in %.2f s (< %.0f s)" % (label, secs, limit))


def refused_with(r, text, label):
    is_(r.reply, "550 5.7.1 " + text, "%s: rejected by its rule" % label)


def accepted(r, label):
    ok(r.action in ("continue", "accept"), "%s: accepted (%s%s)" % (
        label, r.action, ", " + r.reply if r.reply else ""))


def msg(subject="hostile", extra=(), body=b"Hello.\r\n"):
    return mt.Message.simple(subject=subject, extra=extra, body=body)


_seen = {}


def alive(d, label):
    """The daemon answers; no new sanitizer report since the last call."""
    ok(mt.daemon_alive(d), "%s: daemon still answers" % label)
    reps = d.sanitizer_reports()
    new = reps[_seen.get(d.name, 0):]
    _seen[d.name] = len(reps)
    if not ok(not new, "%s: no new sanitizer report" % label):
        diag(new[0][:3000])


h = start({"header_checks": TABLE, "body_checks": TABLE,
           "decode_headers": "yes", "decode_body": "yes",
           "max_header_bytes": "67108864"}, "checks-hostile")
cut = start({"header_checks": TABLE, "header_size_limit": "1024"},
            "checks-hostile-cut")
daemons = [h, cut]

with section("catastrophic backtracking"):
    m = msg(extra=[("X-Pad", " x")])
    m.headers[2] = ("Subject", "a" * 40 + "b")      # "Subject:aaa...ab"
    r, q, secs = send(h, m)
    answered(r, "(a+)+$ against 40 a + b", secs, 5.0)
    accepted(r, "(a+)+$ against 40 a + b (over the match limit: no match)")
    ok(pt.wait_until(lambda: re.search(r"(?i)match.?limit",
                                       h.log_text()), 3),
       "match limit warning logged")
    m.headers[2] = ("Subject", "a" * 40)
    r, q, secs = send(h, m)
    refused_with(r, "catastrophic pattern matched", "(a+)+$ against 40 a "
                 "(matches quickly)")
    alive(h, "backtracking")

with section("header size"):
    m = msg("hostile-cut-marker " + "x" * 5000)
    r, q, secs = send(cut, m)
    refused_with(r, "cut header matched", "5000-byte Subject, "
                 "header_size_limit 1024: its start is inspected")
    m = msg("y" * 5000 + " tail-beyond-limit")
    r, q, secs = send(cut, m)
    accepted(r, "text past header_size_limit is not inspected")
    m = msg("y" * 500 + " tail-beyond-limit")
    r, q, secs = send(cut, m)
    refused_with(r, "text past header_size_limit seen", "the same text "
                 "within the limit is inspected")
    m = msg("hostile-cut-marker " + "z" * (10 * 1024 * 1024))
    r, q, secs = send(h, m, timeout=120)
    ok(secs < 30, "10 MB Subject line: handled in %.1f s (%s)" % (
        secs, r.action))
    alive(h, "10 MB header")

with section("many headers"):
    extra = [("X-Filler-%d" % i, " filler %d" % i) for i in range(994)]
    m = msg(extra=extra + [("X-Last-Header", " hostile-last")])
    is_(len(m.headers), 1000, "message with 1000 headers")
    r, q, secs = send(h, m)
    answered(r, "1000 headers", secs)
    refused_with(r, "last header matched", "1000 headers: the last one "
                 "is inspected")
    m = msg(extra=extra + [("X-Filler-x", " x"),
                           ("X-Last-Header", " hostile-last")])
    r, q, secs = send(h, m)
    answered(r, "1001 headers", secs)
    like(r.reply or "", r"^552 5\.3\.4", "1001 headers: over max_headers")
    alive(h, "many headers")


def nested(depth, inner):
    body = b"preamble\r\n"
    for i in range(depth):
        body += b"--b%d\r\nContent-Type: multipart/mixed; " \
                b"boundary=\"b%d\"\r\n\r\n" % (i, i + 1)
    body += b"--b%d\r\nContent-Type: text/plain\r\n\r\n%s\r\n--b%d--\r\n" % (
        depth, inner, depth)
    for i in reversed(range(depth)):
        body += b"--b%d--\r\n" % i
    return msg(extra=[("MIME-Version", " 1.0"), (
        "Content-Type", ' multipart/mixed; boundary="b0"')], body=body)


with section("deep MIME"):
    r, q, secs = send(h, nested(50, b"deep-marker here"))
    answered(r, "50-deep multipart", secs)
    refused_with(r, "deep part matched", "50-deep multipart: body rule "
                 "applies in the innermost part")
    r, q, secs = send(h, nested(5000, b"innermost text"))
    answered(r, "5000-deep multipart", secs)
    accepted(r, "5000-deep multipart")
    like(logline(h, q), r"nesting_limit", "5000-deep: nesting limit logged")
    alive(h, "deep MIME")

with section("long body lines, NUL bytes"):
    r, q, secs = send(h, msg(body=b"bigline-start " + b"q" * (1 << 20) +
                             b"\r\nend\r\n"))
    answered(r, "1 MB body line", secs)
    refused_with(r, "big line matched", "1 MB body line: its first chunk "
                 "is inspected")
    r, q, secs = send(h, msg(body=b"x" * (1 << 20) + b"\r\n"))
    answered(r, "1 MB body line, no match", secs)
    accepted(r, "1 MB body line, no match")
    r, q, secs = send(h, msg(body=b"a\0b\0\0c\r\n\0\0\0\r\n"
                             b"nul-marker-line\r\n"))
    answered(r, "NUL bytes in the body", secs)
    refused_with(r, "line after NUL matched", "NUL bytes: the next line is "
                 "still inspected")
    m = msg(extra=[("X-Nul", " before\0after")])
    r, q, secs = send(h, m)
    answered(r, "NUL byte in a header value", secs)
    alive(h, "long lines and NUL")

B = "brk"
with section("broken encodings, decode_headers = decode_body = yes"):
    for subj in ("=?UTF-8?B?!!!!?=", "=?UTF-8?Q?=ZZ=?=", "=?bogus-x?Q?abc?=",
                 "=?UTF-8?B?" + "A" * 5000 + "?=", "=?UTF-8?B?w?=",
                 "=?UTF-8?", "=?=?=?=?" * 500, "=?UTF-8?B?/w==?= x"):
        r, q, secs = send(h, msg(subj))
        answered(r, "Subject %r" % subj[:40], secs)
        accepted(r, "Subject %r" % subj[:40])
    for cte, payload in (
            ("base64", b"!!!!@@@@====\r\nYWJj\r\n====\r\n" + b"%" * 3000 +
             b"\r\nQUJD=RA\r\n"),
            ("base64", b"A\r\n" * 1000),
            ("quoted-printable", b"=ZZ=\r\n=\r\n=4\r\nabc=\r\n" +
             b"=" * 5000 + b"\r\n=3D=3"),
            ("quoted-printable", b"soft=\r\n" * 2000 + b"end\r\n")):
        body = ("--%s\r\nContent-Type: text/plain\r\nContent-Transfer-"
                "Encoding: %s\r\n\r\n" % (B, cte)).encode() + payload + \
            ("\r\n--%s--\r\n" % B).encode()
        m = msg(extra=[("MIME-Version", " 1.0"), ("Content-Type",
                ' multipart/mixed; boundary="%s"' % B)], body=body)
        r, q, secs = send(h, m)
        answered(r, "broken %s part" % cte, secs)
        accepted(r, "broken %s part" % cte)
        m = msg(extra=[("MIME-Version", " 1.0"),
                       ("Content-Transfer-Encoding", " " + cte)],
                body=payload)
        r, q, secs = send(h, m)
        answered(r, "broken %s single part" % cte, secs)
    alive(h, "broken encodings")

with section("many connections at once"):
    results = []

    def worker(i):
        r, q, secs = send(h, msg(body=b"line %d\r\n" % i * 200))
        results.append(r.action)
    ts = [threading.Thread(target=worker, args=(i,)) for i in range(20)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    ok(len(results) == 20 and all(a in ("continue", "accept")
                                  for a in results),
       "20 parallel messages: all accepted (%r)" % sorted(set(results)))
    alive(h, "parallel")

ct.stop_all(daemons)
pt.done()
