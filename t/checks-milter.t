#!/usr/bin/python3
# checks-milter.t - postern-checks' header_checks / mime_header_checks /
# nested_header_checks / body_checks actions as milter effects: a
# miltertest script (t/milter/checks.lua) per action, and milter_test.py's
# own client where miltertest cannot see enough (the reply text of a
# rejection before end of message, the index of a deleted header, the
# header list after all edits).  Expected behaviour: Postfix's
# header_checks(5) / cleanup(8).
#
# Daemons (rule files in t/checks/milter/):
#   main    header_checks = header.regexp, header2.regexp; mime, nested
#           and body tables of their own
#   decode  the same header and body tables, mime/nested default to
#           header_checks, decode_headers = decode_body = yes
#   limit   body_checks_size_limit = 1000
# Covered: REJECT (text, "4.7.1 text" -> 451, no text -> generic, $1),
#   DISCARD, IGNORE, STRIP, REPLACE (same name / other name), PREPEND
#   (insert index), REDIRECT, BCC, HOLD, WARN, INFO, PASS, DUNNO, OK,
#   FILTER, unknown and numeric actions, the table list (first table with
#   a match decides), body IGNORE/REPLACE/PREPEND/REJECT, MIME part
#   headers, attached message headers, decode_headers, decode_body,
#   body_checks_size_limit.
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
import checks_test as ct                                       # noqa: E402
from checks_test import logline                                # noqa: E402

if pt.have_programs("miltertest"):
    pt.skip_all("miltertest not installed")

DATA = os.path.join(pt.top_srcdir(), "t", "checks", "milter")
tmp = pt.tmpdir()


def rule_line(fname, needle):
    """The line number of the rule containing needle in a rule file."""
    with open(os.path.join(DATA, fname), encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if needle in line:
                return n
    raise pt.HarnessError("no rule %r in %s" % (needle, fname))


def table(fname):
    return "regexp:" + os.path.join(DATA, fname)


_n = [0]


def start(options, name):
    return ct.start(tmp, options, name)


def qid():
    _n[0] += 1
    return "4CHK%06X" % _n[0]


def msg(subject="plain message", extra=(), body="Hello.\r\nBye.\r\n",
        first=()):
    m = mt.Message.simple(subject=subject, body=body, extra=extra)
    m.headers = list(first) + m.headers
    return m


def lua(d, m, label, rcpts=None, checks=(), **var):
    """checks.lua on m; returns (LuaRun, queue id)."""
    q = qid()
    if rcpts:
        var["RCPTS"] = ",".join(rcpts)
    return ct.run_lua(tmp, d, m, q, label, checks, **var), q


def py(d, m, **kw):
    """milter_test's client on m; returns (MilterResult, queue id)."""
    q = qid()
    r = mt.send_message(d.milter_addr, m.headers, m.body,
                        mail_macros={"i": q}, **kw)
    return r, q




def log_after(d, q, regex, timeout=3.0):
    """True once a log line mentioning q matches regex."""
    def find():
        return any(q in ln and re.search(regex, ln)
                   for ln in d.log_text().split("\n"))
    return bool(pt.wait_until(find, timeout, 0.02))


def esc(s):
    """A CHECK argument: % escaped, spaces as %20 (miltertest -D)."""
    return s.replace("%", "%25").replace(" ", "%20").replace(
        "\r", "%0D").replace("\n", "%0A").replace("|", "%7C")


def bodyfile(content):
    _n[0] += 1
    p = os.path.join(tmp.path, "expect-%d.body" % _n[0])
    with open(p, "wb") as f:
        f.write(content)
    return p


def rejected(r, reply, label):
    """The Python client's result r is a rejection with exactly reply."""
    ok(r.action in ("reply", "reject", "tempfail"), "%s: refused (%s)" %
       (label, r.action))
    is_(r.reply, reply, "%s: reply text" % label)


HC = "header.regexp"
daemons = []
main = start({"header_checks": "%s, %s" % (table(HC), table("header2.regexp")),
              "mime_header_checks": table("mime.regexp"),
              "nested_header_checks": table("nested.regexp"),
              "body_checks": table("body.regexp")}, "checks-main")
decode = start({"header_checks": "%s, %s" % (table(HC),
                                             table("header2.regexp")),
                "body_checks": table("body.regexp"),
                "decode_headers": "yes", "decode_body": "yes"},
               "checks-decode")
limit = start({"header_checks": table(HC),
               "body_checks": table("body.regexp"),
               "body_checks_size_limit": "1000"}, "checks-limit")
daemons += [main, decode, limit]

# ------------------------------------------------------------- REJECT
with section("REJECT"):
    for subj, reply, exp, label in (
            ("reject-plain now", "550 5.7.1 no thanks", "reject",
             "REJECT text"),
            ("reject-dsn now", "451 4.7.1 try later", "tempfail",
             "REJECT 4.7.1 text"),
            ("reject-bare now", "550 5.7.1 message content rejected",
             "reject", "REJECT without text"),
            ("reject-subst viagra", "550 5.7.1 bad word viagra", "reject",
             "REJECT with $1"),
            ("second-table", "550 5.7.1 from second table", "reject",
             "REJECT from the second table of the list")):
        m = msg(subj)
        run, q = lua(main, m, label, EXPECT=exp)
        is_(run.reply, "y", "%s: an SMTP reply (SMFIR_REPLYCODE)" % label)
        r, q2 = py(main, m)
        rejected(r, reply, label)
        like(logline(main, q2), r" action=(reject|tempfail)$",
             "%s: logged as refused" % label)
    r, q = py(main, msg("reject-plain again"))
    like(logline(main, q), r" hc=%d:REJECT" % rule_line(HC, "reject-plain"),
         "REJECT: rule line logged")

with section("DISCARD"):
    run, q = lua(main, msg("discard-me"), "DISCARD", EXPECT="discard")
    like(logline(main, q), r"hc=%d:DISCARD.* action=discard$" %
         rule_line(HC, "discard-me"), "DISCARD: logged")

# -------------------------------------------------------- header edits
# Message.simple: From, To, Subject, Date, Message-ID (indexes 0-4); an
# extra header is index 5: inserted "before" it is milter index 6
# (Postfix counts its own Received: header).
with section("IGNORE, STRIP, REPLACE, PREPEND"):
    run, q = lua(main, msg(extra=[("X-Ignore-Me", " junk")]), "IGNORE",
                 checks=["HDRDELETE|X-Ignore-Me", "!HDRINSERT",
                         "!HDRCHANGE|X-Ignore-Me|x"])
    r, q = py(main, msg(extra=[("X-Ignore-Me", " junk")]))
    is_(r.deleted("X-Ignore-Me"), [1], "IGNORE: 1st X-Ignore-Me deleted")
    m = msg(extra=[("X-Ignore-Me", " one"), ("X-Keep", " k"),
                   ("X-Ignore-Me", " two")])
    r, q = py(main, m)
    is_(sorted(r.deleted("X-Ignore-Me")), [1, 2],
        "IGNORE: both X-Ignore-Me headers deleted")
    is_([k for k, v in r.apply(m.headers)],
        ["From", "To", "Subject", "Date", "Message-ID", "X-Keep"],
        "IGNORE: resulting header list")

    run, q = lua(main, msg(extra=[("X-Strip-Me", " junk")]), "STRIP",
                 checks=["HDRDELETE|X-Strip-Me"])
    like(logline(main, q), r"hc=%d:STRIP:stripped_for_test" %
         rule_line(HC, "X-Strip-Me"), "STRIP: logged with its text")

    run, q = lua(main, msg(extra=[("X-Replace-Same", " old value")]),
                 "REPLACE same name",
                 checks=["HDRCHANGE|X-Replace-Same|" +
                         esc(" replaced old value"),
                         "!HDRDELETE|X-Replace-Same", "!HDRINSERT"])
    m = msg(extra=[("X-Replace-Other", " x")])
    run, q = lua(main, m, "REPLACE other name",
                 checks=["HDRDELETE|X-Replace-Other",
                         "HDRINSERT|X-Replaced|" + esc(" was other") + "|6"])
    r, q = py(main, m)
    is_(r.apply([("Received", " by mx")] + m.headers)[6:],
        [("X-Replaced", " was other")],
        "REPLACE other name: in the old header's place")

    m = msg(extra=[("X-Prepend-Here", " here"), ("X-Last", " l")])
    run, q = lua(main, m, "PREPEND",
                 checks=["HDRINSERT|X-Prepended|" + esc(" before it") + "|6",
                         "!HDRDELETE|X-Prepend-Here"])
    r, q = py(main, m)
    is_(r.apply([("Received", " by mx")] + m.headers)[5:],
        [("Message-ID", m.headers[4][1]), ("X-Prepended", " before it"),
         ("X-Prepend-Here", " here"), ("X-Last", " l")],
        "PREPEND: inserted right before the matching header")

    m = msg(extra=[("X-Prepend-Here", " p"), ("X-Replace-Other", " r")],
            first=[("X-Ignore-Me", " i")])
    r, q = py(main, m)
    is_(r.apply([("Received", " by mx")] + m.headers),
        [("Received", " by mx")] + m.headers[1:6] +
        [("X-Prepended", " before it"), ("X-Prepend-Here", " p"),
         ("X-Replaced", " was other")],
        "IGNORE + PREPEND + REPLACE in one message: header list")

# ------------------------------------------------------------ recipients
with section("REDIRECT, BCC, HOLD"):
    rc = ["<bob@example.net>", "<carol@example.net>"]
    run, q = lua(main, msg("redirect-me"), "REDIRECT", rcpts=rc,
                 checks=["RCPTDELETE|<bob@example.net>",
                         "RCPTDELETE|<carol@example.net>",
                         "RCPTADD|<redir@example.org>"])
    # BCC: added with smfi_addrcpt_par (NOTIFY=NEVER when the MTA allows
    # it), which miltertest does not record: checked with the client
    run, q = lua(main, msg("bcc-me"), "BCC", rcpts=rc,
                 checks=["!RCPTDELETE|<bob@example.net>",
                         "!RCPTDELETE|<carol@example.net>", "NOEDITS"])
    r, q = py(main, msg("bcc-me"), rcpts=rc)
    is_([(c, d.split(b"\0")[0]) for c, d in r.mods],
        [("2", b"<archive@example.org>")],
        "BCC: one recipient added, nothing else (client: %r)" % (r.mods,))
    run, q = lua(main, msg("hold-me"), "HOLD", EXPECT="quarantine",
                 checks=["QUARANTINE|" + esc("held for review")])

# ------------------------------------------------------- logging actions
with section("WARN, INFO, FILTER, unknown actions"):
    for subj, regex, label in (
            ("warn-me", r"hc=%d:WARN:suspicious_subject" %
             rule_line(HC, "warn-me"), "WARN"),
            ("info-me", r"hc=%d:INFO:informational" %
             rule_line(HC, "info-me"), "INFO"),
            ("filter-me", r"hc=%d:FILTER.*filter_not_applied=" %
             rule_line(HC, "filter-me"), "FILTER")):
        run, q = lua(main, msg(subj), label, checks=["NOEDITS"])
        like(logline(main, q), regex + r".* action=accept$",
             "%s: logged, message accepted unchanged" % label)
    for subj, label in (("unknown-me", "unknown action"),
                        ("numeric-me", "numeric action")):
        run, q = lua(main, msg(subj), label, checks=["NOEDITS"])
        ok(log_after(main, q, r"header_checks map, line %d" %
                     rule_line(HC, subj)), "%s: warning logged" % label)

# --------------------------------------------------- PASS, DUNNO, OK
with section("PASS, DUNNO, OK"):
    m = msg("pass-me", extra=[("X-After-Pass", " yes")],
            body="body-reject-line here\r\n")
    run, q = lua(main, m, "PASS: later header and body rules not applied",
                 checks=["NOEDITS"])
    like(logline(main, q), r"hc=%d:PASS" % rule_line(HC, "pass-me"),
         "PASS: logged")
    for word in ("dunno", "ok"):
        label = word.upper()
        m = msg("%s-me" % word, extra=[("X-After-Stop", " yes")])
        run, q = lua(main, m, "%s: no effect, nor a later rule or table" %
                     label, checks=["NOEDITS"])
        line = logline(main, q)
        like(line, r"hc=%d:WARN" % rule_line(HC, "X-After-Stop"),
             "%s: the next header still inspected" % label)
        unlike(line, r"REJECT", "%s: no REJECT rule applied" % label)

# ----------------------------------------------------------- body edits
with section("body_checks"):
    body = b"line one\r\nbody-ignore-line x\r\nline three\r\n"
    run, q = lua(main, msg(body=body), "body IGNORE",
                 checks=["BODYFILE|" + bodyfile(
                     b"line one\r\nline three\r\n")])
    body = b"line one\r\nbody-replace-line abc\r\nline three\r\n"
    run, q = lua(main, msg(body=body), "body REPLACE",
                 checks=["BODYFILE|" + bodyfile(
                     b"line one\r\nreplaced body line abc\r\nline three\r\n")])
    body = b"line one\r\nbody-prepend-line x\r\n"
    run, q = lua(main, msg(body=body), "body PREPEND",
                 checks=["BODYFILE|" + bodyfile(
                     b"line one\r\nprepended body line\r\n"
                     b"body-prepend-line x\r\n")])
    run, q = lua(main, msg(body=b"a\r\nbody-reject-line\r\n"),
                 "body REJECT", EXPECT="reject", REPLY_CODE="550",
                 REPLY_ESC="5.7.1", REPLY_TEXT="body rejected")
    like(logline(main, q), r"bc=%d:REJECT.* action=reject$" %
         rule_line("body.regexp", "body-reject-line"), "body REJECT: logged")
    run, q = lua(main, msg(body=b"nothing to see\r\n"), "body, no match",
                 checks=["NOEDITS"])

# ------------------------------------------------------------ MIME parts
B = "b0undary-xyz"


def multipart(part_headers, part_body, extra_parts=b""):
    body = ("This is MIME.\r\n\r\n--%s\r\nContent-Type: text/plain\r\n" % B
            ).encode() + part_headers + b"\r\n" + part_body + \
        ("\r\n--%s\r\nContent-Type: text/plain\r\n\r\nsecond part\r\n" % B
         ).encode() + extra_parts + ("--%s--\r\n" % B).encode()
    return msg(extra=[("MIME-Version", " 1.0"), (
        "Content-Type", ' multipart/mixed; boundary="%s"' % B)], body=body)


def attached(subject, inner_body=b"inner body\r\n"):
    inner = ("From: x@example.org\r\nSubject: %s\r\n\r\n" % subject
             ).encode() + inner_body
    body = ("--%s\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
            "--%s\r\nContent-Type: message/rfc822\r\n\r\n" % (B, B)
            ).encode() + inner + ("--%s--\r\n" % B).encode()
    return msg(extra=[("MIME-Version", " 1.0"), (
        "Content-Type", ' multipart/mixed; boundary="%s"' % B)], body=body)


with section("MIME part headers and attached messages"):
    for m, text, label in (
            (multipart(b"Content-Description: mime-reject-me\r\n",
                       b"text\r\n"), "mime header matched",
             "MIME header of a part (mime_header_checks)"),
            (multipart(b"X-Part-Header: part-reject-me\r\n", b"text\r\n"),
             "part header matched",
             "other header of a part (mime_header_checks, as Postfix)"),
            (attached("attached-reject-me"),
             "attached message header matched",
             "header of an attached message/rfc822 (nested_header_checks)")):
        run, q = lua(main, m, label, EXPECT="reject", REPLY_CODE="550",
                     REPLY_ESC="5.7.1", REPLY_TEXT=text)
    m = msg(extra=[("Content-Description", " mime-reject-me")])
    r, q = py(main, m)
    rejected(r, "550 5.7.1 mime header matched",
             "primary Content-Description goes to mime_header_checks")
    run, q = lua(main, attached("attached-plain"),
                 "nested_header_checks set: header_checks not applied to "
                 "an attached message", checks=["NOEDITS"])
    run, q = lua(decode, attached("attached-plain"),
                 "nested_header_checks unset: header_checks applied to "
                 "an attached message", EXPECT="reject", REPLY_CODE="550",
                 REPLY_ESC="5.7.1",
                 REPLY_TEXT="header_checks on an attached message")
    m = multipart(b"X-Part-Drop: yes\r\nX-Part-Keep: yes\r\n", b"text\r\n")
    want = m.body.replace(b"X-Part-Drop: yes\r\n", b"")
    run, q = lua(main, m, "IGNORE of a part header: body rewritten",
                 checks=["BODYFILE|" + bodyfile(want), "!HDRDELETE"])

# -------------------------------------------------------------- decoding
with section("decode_headers, decode_body"):
    subj = "=?UTF-8?B?R3LDvMOfZSBkZWNvZGVkLWhpdA==?="    # Grüße decoded-hit
    run, q = lua(main, msg(subj), "encoded Subject, decode_headers=no",
                 checks=["NOEDITS"])
    r, q = py(decode, msg(subj))
    rejected(r, "550 5.7.1 decoded subject matched",
             "encoded Subject, decode_headers=yes")
    run, q = lua(decode, msg(subj), "encoded Subject, decode_headers=yes",
                 EXPECT="reject")
    b64 = b"YjY0LXNlY3JldC1waHJhc2UgaW5zaWRlCnNlY29uZCBsaW5lCg==\r\n"
    m = multipart(b"Content-Transfer-Encoding: base64\r\n", b64)
    run, q = lua(main, m, "base64 part, decode_body=no", checks=["NOEDITS"])
    run, q = lua(decode, m, "base64 part, decode_body=yes", EXPECT="reject",
                 REPLY_CODE="550", REPLY_ESC="5.7.1",
                 REPLY_TEXT="decoded body matched")
    m = msg(extra=[("MIME-Version", " 1.0"),
                   ("Content-Type", " text/plain; charset=utf-8"),
                   ("Content-Transfer-Encoding", " base64")], body=b64)
    run, q = lua(decode, m, "base64 single-part message, decode_body=yes",
                 EXPECT="reject", REPLY_CODE="550", REPLY_ESC="5.7.1",
                 REPLY_TEXT="decoded body matched")

# ------------------------------------------------ body_checks_size_limit
with section("body_checks_size_limit"):
    filler = b"".join(b"%02d %s\r\n" % (i, b"f" * 56) for i in range(30))
    late = msg(body=filler + b"body-limit-marker\r\n")       # at 1800 bytes
    early = msg(body=b"body-limit-marker\r\n" + filler)
    run, q = lua(limit, late, "limit 1000: a line past it is not inspected",
                 checks=["NOEDITS"])
    run, q = lua(limit, early, "limit 1000: a line before it is inspected",
                 EXPECT="reject", REPLY_CODE="550", REPLY_ESC="5.7.1",
                 REPLY_TEXT="limit marker seen")
    run, q = lua(main, late, "default limit (51200): the same line is "
                 "inspected", EXPECT="reject")

with section("reload on SIGUSR1"):
    rl_table = tmp.file("reload.regexp", "/^Subject: reload-marker/ WARN seen\n")
    rl = start({"header_checks": "regexp:" + rl_table}, "checks-reload")
    daemons.append(rl)
    r, q = py(rl, msg("reload-marker"))
    ok(r.action in ("accept", "continue"), "before reload: WARN only (%s)" %
       r.action)
    with open(rl_table, "w") as f:
        f.write("/^Subject: reload-marker/ REJECT reloaded rule\n")
    os.kill(rl.pid, signal.SIGUSR1)

    def reloaded():
        r, q = py(rl, msg("reload-marker"))
        return r.reply == "550 5.7.1 reloaded rule"
    ok(pt.wait_until(reloaded, 10, 0.2), "after SIGUSR1: the new table "
       "rejects")
    with open(rl_table, "w") as f:
        f.write("/^Subject: reload-marker/ REJECT reloaded rule\n"
                "if /x/\n")
    os.kill(rl.pid, signal.SIGUSR1)
    time.sleep(1)
    r, q = py(rl, msg("reload-marker"))
    is_(r.reply, "550 5.7.1 reloaded rule", "a table with a Postfix "
        "warning (missing endif) still loads, as in Postfix")
    cfg_bad = os.path.join(tmp.path, "reload-missing.regexp")
    os.rename(rl_table, cfg_bad)
    os.kill(rl.pid, signal.SIGUSR1)
    ok(pt.wait_until(lambda: "keeping" in rl.log_text() or
                     "No such file" in rl.log_text(), 10, 0.2),
       "a table that cannot be read: reload refused, logged")
    r, q = py(rl, msg("reload-marker"))
    is_(r.reply, "550 5.7.1 reloaded rule", "the running tables stay")

with section("daemons alive"):
    for d in daemons:
        ok(mt.daemon_alive(d), "%s still answers" % d.name)

ct.stop_all(daemons)
pt.done()
