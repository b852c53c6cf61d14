#!/usr/bin/python3
# checks-oracle.t - Postfix is the oracle for postern-checks: the same rule
# tables and the same messages go through a private Postfix that runs them
# itself (side A: header_checks/body_checks = TABLE) and through a private
# Postfix that runs none but hands every message to postern-checks
# configured with the same tables (side B: smtpd_milters), and the
# decisions must be the same.
#
# Runs (t/checks/):
#   regexp  header_checks = regexp:oracle-header.regexp, body_checks =
#           regexp:oracle-body.regexp; mime_header_checks and
#           nested_header_checks left at their default ($header_checks)
#   pcre    header_checks, mime_header_checks, nested_header_checks and
#           body_checks each with a table of its own (oracle-*.pcre), so
#           the routing of each header to its table is compared too
#           (needs postfix-pcre; the run is skipped without it)
# Messages: t/checks/oracle-msgs/*.eml, each sent to every instance with a
# unique envelope sender (it identifies the delivered copies) and the
# To/Cc addresses plus rcpt2@dest.example as envelope recipients.
#
# Compared for each message and run, one TAP test per aspect:
#   reply      code and text of the end-of-DATA reply ("550 5.7.1 text",
#              "451 4.7.1 text"; the queue id of a 250 reply is masked)
#   outcome    rejected / delivered / discarded / held (hold queue)
#   rcpts      the envelope recipients the sink got (REDIRECT, BCC), or
#              for a held message those of its queue file
#   content    the delivered (or held) message, without Postfix's own
#              Received: header: header order, removed, replaced and
#              prepended headers, body and MIME part header edits
#   logged     the tags of the WARN, INFO and STRIP rules Postfix logged
#              for the message are those postern logged for it (postern
#              writes one line per message in the foreground; the test
#              looks for the tags in what it logged during the message)
#
# Expected differences, named and checked as such (never silently):
#   FILTER     Postfix routes the message to the FILTER's transport (here
#              the filter sink); a milter cannot change routing, postern
#              logs the FILTER as not applicable and the message goes to
#              the normal sink.  Compared: reply, recipients, content;
#              checked: A delivered to the filter sink, B's log names the
#              FILTER.
#   PASS       Postfix also turns off the other milters for the rest of
#              the message; B has no other milter, so only the content
#              decisions are compared (which they are, as for any
#              message).
#   invisible headers  cleanup(8) removes Return-Path: and Content-Length:
#              (and adds its own Received:) before a milter gets the
#              message; header_checks see them.  When Postfix acted on
#              such a header, its PREPENDed line is taken out of A's copy
#              and its WARN/INFO tags out of A's log before comparing
#              (named in the test names).  Both instances set
#              local_header_rewrite_clients empty: otherwise Postfix
#              rewrites address-less From:/To: headers of this loopback
#              client before a milter sees them.
#   held recipients  Postfix keeps a REDIRECT of a held message as a
#              queue file record applied at delivery; a milter changes
#              the recipients at once.  The effective recipients (the
#              redirect target when there is one) are compared.
#
# Postfix behaviour worth knowing, measured with 3.7.11 (the oracle, not
# something this test asserts on its own): a REDIRECT turns off every
# further header and body check of the message (cleanup clears its
# filter flags), although header_checks(5) says "inspect the next input
# line"; FILTER, BCC, HOLD, PREPEND do go on.
#
# Without milters/postern-checks (POSTERN_CHECKS=path overrides) the B
# side is skipped with a reason, and side A and the capture machinery are
# still checked: every action is exercised in Postfix's log.
# POSTERN_CHECKS=postfix checks the harness itself: side B is a second
# Postfix running the tables (and its log stands in for postern's), so
# every comparison must pass with no expected difference.
import difflib
import email.utils
import glob
import os
import re
import shutil
import smtplib
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import postern_test as pt                                      # noqa: E402
from postern_test import ok, is_, diag, note, skip, section    # noqa: E402

missing = pt.have_programs("postfix", "postconf", "postcat")
if missing:
    pt.skip_all("missing: %s" % ", ".join(missing))
if os.geteuid() != 0:
    pt.skip_all("a private Postfix instance needs root")

SRC = os.path.join(pt.top_srcdir(), "t", "checks")
CHECKS = os.environ.get("POSTERN_CHECKS") or os.path.join(
    pt.top_builddir(), "milters", "postern-checks")
SELF = CHECKS == "postfix"          # the harness against itself
HAVE_B = SELF or os.access(CHECKS, os.X_OK)
MYHOST = "mx.test.example"
# a rule's tag; postern writes a rule's text with "_" for blanks
TAG_RE = re.compile(r"(?<![A-Za-z0-9])(?:HR|BR|HP|MP|NP|BP)\d{3}(?![0-9])")
WAIT = 30.0                     # seconds for one message to settle
CLIENT_ADDR = "192.0.2.25"       # the SMTP client, given with XCLIENT
CLIENT_NAME = "mail.outside.example"
# Postfix's own actions as cleanup logs them: "QID: warning: header ..."
ACTION_LOG_RE = re.compile(
    r": (reject|discard|hold|warning|info|strip|redirect|bcc|filter|pass|"
    r"replace|prepend): (header|body) ")
# Expected difference: headers a milter never sees.  cleanup(8) removes
# Return-Path: and Content-Length: (and puts its own Received: first)
# before Postfix hands the message to a milter; header_checks see them.
# The tables have no rule that matches Postfix's own Received: header.
INVISIBLE_RE = re.compile(r": (\w+): header (Return-Path|Content-Length):.*"
                          r"helo=<[^>]*>: (.*)$", re.M)


def have_pcre():
    """have_pcre - Postfix can load pcre: tables (postfix-pcre)."""
    r = subprocess.run(["postconf", "-c", tmp.path, "-m"],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                       timeout=30)
    return re.search(rb"^pcre$", r.stdout, re.M) is not None


tmp = pt.tmpdir()
tmp.file("main.cf", "compatibility_level = 3.6\n")     # for postconf -m
RUNS = [("regexp", {
    "header_checks": "oracle-header.regexp",
    "body_checks": "oracle-body.regexp"})]
if have_pcre():
    RUNS.append(("pcre", {
        "header_checks": "oracle-header.pcre",
        "mime_header_checks": "oracle-mime.pcre",
        "nested_header_checks": "oracle-nested.pcre",
        "body_checks": "oracle-body.pcre"}))
else:
    note("postfix-pcre is not installed: the pcre: run is skipped")

MSGS = sorted(glob.glob(os.path.join(SRC, "oracle-msgs", "*.eml")))
if len(MSGS) < 30:
    pt.bail_out("only %d messages in t/checks/oracle-msgs" % len(MSGS))
ASPECTS = ("reply", "outcome", "rcpts", "content", "logged")

sink = pt.Sink()
fsink = pt.Sink()             # where Postfix's FILTER actions deliver


# ---------------------------------------------------------------- tables

def rule_actions(path):
    """rule_actions - {tag: ACTION WORD} for the tagged rules of a table
    (the tag is in the result text; continuation lines joined)."""
    out = {}
    logical = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line[:1] in (" ", "\t") and logical:
                logical[-1] += " " + line.strip()
            elif line.strip() and not line.lstrip().startswith("#"):
                logical.append(line)
    for line in logical:
        if not line.startswith(("/", "!")):
            continue
        m = re.match(r"!?/((?:\\.|[^\\/])*)/[a-zA-Z]*\s+(\S+)(.*)$", line)
        if not m:
            continue
        for tag in TAG_RE.findall(m.group(3)):
            out[tag] = m.group(2).upper()
    return out


def install_tables(run, files):
    """install_tables - copy a run's tables to the temp dir with
    @FILTERPORT@ replaced; {param: "type:path"} and {tag: action}."""
    kind = run
    params, actions = {}, {}
    d = tmp.sub("tables-%s" % run)
    for param, name in files.items():
        with open(os.path.join(SRC, name), encoding="utf-8") as f:
            text = f.read()
        dst = os.path.join(d, name)
        with open(dst, "w", encoding="utf-8") as f:
            f.write(text.replace("@FILTERPORT@", str(fsink.port)))
        params[param] = "%s:%s" % (kind, dst)
        actions.update(rule_actions(dst))
    return params, actions


# ------------------------------------------------------------- instances

def start_postern(run, params):
    """start_postern - postern-checks on a free loopback port with the
    run's tables; the Daemon, with .milter_addr."""
    port = pt.free_port()
    lines = ["# written by checks-oracle.t",
             "listen = inet:127.0.0.1:%d" % port,
             # no DNS is needed: no RBL is configured
             "dns_server = 127.0.0.1:%d" % pt.free_port()]
    lines += ["%s = %s" % (k, v) for k, v in params.items()]
    conf = tmp.file("postern-checks-%s.conf" % run, "\n".join(lines) + "\n")
    d = pt.Daemon([CHECKS, "-f", "-c", conf], ready=("tcp", port),
                  name="postern-checks-%s" % run, tmp=tmp)
    d.milter_addr = "inet:127.0.0.1:%d" % port
    return d


# Both instances: no header address rewriting.  With the default
# (permit_inet_interfaces) Postfix rewrites "From: just a name" to
# "From: just@mx.test.example, a@..., name@..." for this loopback client
# (XCLIENT does not change that) before a milter sees it, while
# header_checks see the original; a remote client's headers are not
# rewritten in production either.
COMMON_CF = {"local_header_rewrite_clients": ""}


class Side:
    """Side - one Postfix instance (A: tables in Postfix, B: postern)."""

    def __init__(self, run, label, extra, daemon=None):
        self.run = run
        self.label = label
        self.daemon = daemon
        self.pf = pt.Postfix(sink=sink, main_cf_extra=dict(COMMON_CF,
                                                           **extra))
        self.log_pos = len(self.pf.log_text())
        self.dlog_pos = len(daemon.log_text()) if daemon else 0


def log_delta(text, pos):
    return text[pos:]


# --------------------------------------------------------------- sending

def envelope_rcpts(raw):
    """envelope_rcpts - the To/Cc addresses of a message plus
    rcpt2@dest.example, in order, without duplicates."""
    head = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0].decode(
        "utf-8", "replace")
    fields = []
    for name, value in pt.parse_headers(head):
        if name.lower() in ("to", "cc"):
            fields.append(value)
    out = []
    for _, addr in email.utils.getaddresses(fields):
        if "@" in addr and addr.lower() not in out:
            out.append(addr.lower())
    if "rcpt2@dest.example" not in out:
        out.append("rcpt2@dest.example")
    return out


class Result:
    """Result - what one instance decided for one message."""

    def __init__(self):
        self.reply = None           # "250 2.0.0 Ok: queued as QID"
        self.qid = None
        self.outcome = None         # rejected delivered discarded held
        self.rcpts = None           # sorted list
        self.content = None         # normalized text
        self.filtered = False       # delivered to the filter sink
        self.postfix_log = ""       # maillog lines of this message
        self.postern_log = ""       # postern's log during this message
        self.problem = None         # harness trouble, shown as diag


def settle(side, qid):
    """settle - wait until Postfix is done with an accepted message:
    delivered and removed, discarded, or in the hold queue."""
    hold = os.path.join(side.pf.queue_dir, "hold", qid)
    pat = re.compile(r"\b%s: (removed|discard:|milter-discard:)" % qid)

    def done():
        if os.path.exists(hold):
            return "held"
        m = pat.search(side.pf.log_text(), side.log_pos)
        return m and m.group(1)
    return pt.wait_until(done, WAIT, 0.05)


def postcat(side, qid):
    """postcat - (envelope records, content) of a queued message."""
    r = subprocess.run(["postcat", "-c", side.pf.config_dir, "-e", "-h",
                        "-b", "-q", qid], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=30)
    text = r.stdout.decode("utf-8", "surrogateescape")
    env = re.search(r"\*\*\* ENVELOPE RECORDS.*?\n(.*?)\*\*\* MESSAGE "
                    r"CONTENTS", text, re.S)
    body = re.search(r"\*\*\* MESSAGE CONTENTS.*?\n(.*?)\*\*\* HEADER "
                     r"EXTRACTED", text, re.S)
    # records written after the content: REDIRECT (redirect_to), BCC and
    # milter recipients
    extracted = re.search(r"\*\*\* HEADER EXTRACTED.*?\n(.*?)\*\*\* "
                          r"MESSAGE FILE END", text, re.S)
    return ((env.group(1) if env else text) +
            (extracted.group(1) if extracted else ""),
            body.group(1).encode("utf-8", "surrogateescape") if body
            else b"")


def held_rcpts(env):
    """held_rcpts - the effective recipients of a held queue file: its
    live recipient records, or the REDIRECT target when it has one."""
    rcpts, redirect = [], None
    for line in env.splitlines():
        k, _, v = line.partition(": ")
        if k == "recipient":
            rcpts.append(v.strip().lower())
        elif k == "redirect_to":
            redirect = v.strip().lower()
    return [redirect] if redirect else sorted(set(rcpts))


def normalize(data):
    """normalize - a message as text with LF line ends and without
    Postfix's own Received: header (it has the queue id and time)."""
    data = data.replace(b"\r\n", b"\n")
    parts = data.split(b"\n\n", 1)
    head, body = parts[0], (parts[1] if len(parts) > 1 else None)
    fields = []
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += b"\n" + line
        else:
            fields.append(line)
    mine = ("by %s (Postfix)" % MYHOST).encode()
    kept = [f for f in fields
            if not (f.lower().startswith(b"received:") and mine in f)]
    out = b"\n".join(kept) + b"\n"
    if body is not None:
        out += b"\n" + body
    return out.decode("utf-8", "surrogateescape")


_seq = [0]


def send(side, name, raw):
    """send - one message to one instance; its Result."""
    res = Result()
    _seq[0] += 1
    sender = "oracle-%d-%s-%s@sender.example" % (_seq[0], side.run,
                                                 side.label.lower())
    rcpts = envelope_rcpts(raw)
    pf_pos = len(side.pf.log_text())
    d_pos = len(side.daemon.log_text()) if side.daemon else 0
    try:
        s = smtplib.SMTP("127.0.0.1", side.pf.port, "oracle.example",
                         timeout=60)
        try:
            s.ehlo("oracle.example")
            # a remote client, as in production: Postfix rewrites the
            # headers of local clients only (local_header_rewrite_clients)
            # and a milter would see the rewritten ones
            code, msg = s.docmd("XCLIENT", "ADDR=%s NAME=%s HELO=%s" % (
                CLIENT_ADDR, CLIENT_NAME, CLIENT_NAME))
            if code != 220:
                raise pt.HarnessError("XCLIENT: %d %s" % (code, msg))
            s.ehlo_resp = None
            s.ehlo(CLIENT_NAME)
            code, msg = s.mail(sender)
            if code != 250:
                raise pt.HarnessError("MAIL FROM: %d %s" % (code, msg))
            for r in rcpts:
                code, msg = s.rcpt(r)
                if code != 250:
                    raise pt.HarnessError("RCPT TO:<%s>: %d %s" %
                                          (r, code, msg))
            code, msg = s.data(raw)
        finally:
            try:
                s.quit()
            except (smtplib.SMTPException, OSError):
                pass
    except (smtplib.SMTPException, OSError) as e:
        res.problem = "SMTP session failed: %s" % e
        res.reply = "(session failed)"
        return res
    text = msg.decode("utf-8", "replace").replace("\n", " / ")
    m = re.search(r"queued as ([0-9A-Za-z]+)", text)
    res.qid = m.group(1) if m else None
    res.reply = "%d %s" % (code, re.sub(r"queued as [0-9A-Za-z]+",
                                        "queued as QID", text))
    if code != 250:
        res.outcome = "rejected"
    elif not res.qid:
        res.problem = "no queue id in %r" % text
    else:
        how = settle(side, res.qid)
        if not how:
            res.problem = "message %s not delivered, discarded or held " \
                          "after %.0f s" % (res.qid, WAIT)
        elif how == "held":
            res.outcome = "held"
            env, content = postcat(side, res.qid)
            res.rcpts = held_rcpts(env)
            res.content = normalize(content)
        else:
            got = [m for s_ in (sink, fsink) for m in s_.messages
                   if m.mail_from == sender]
            if not got:
                res.outcome = "discarded"
            else:
                res.outcome = "delivered"
                res.filtered = any(m in fsink.messages for m in got)
                res.rcpts = sorted(set(r.lower() for m in got
                                       for r in m.rcpts))
                contents = sorted(set(normalize(m.data) for m in got))
                res.content = contents[0]
                if len(contents) > 1:
                    res.problem = "the deliveries differ in content"
    # the session is over: wait for smtpd's "disconnect" so the log of
    # the whole session (cleanup's lines come before it) is complete
    pt.wait_until(lambda: "disconnect from" in side.pf.log_text()[pf_pos:],
                  10, 0.05)
    time.sleep(0.05)
    res.postfix_log = side.pf.log_text()[pf_pos:]
    if SELF and side.label == "B":
        res.postern_log = res.postfix_log
    elif side.daemon:
        # postern logs its line at the end of the message, before it
        # answers; give stderr a moment anyway
        pt.wait_until(lambda: side.daemon.log_text()[d_pos:], 2, 0.05)
        res.postern_log = side.daemon.log_text()[d_pos:]
    return res


def logged_tags(text, actions, kinds):
    """logged_tags - tags in text whose rule's action is one of kinds."""
    return sorted(set(t for t in TAG_RE.findall(text)
                      if actions.get(t) in kinds))


def postfix_actions(text):
    """postfix_actions - [(action, tags)] cleanup logged for a message."""
    out = []
    for line in text.splitlines():
        m = ACTION_LOG_RE.search(line)
        if m:
            out.append((m.group(1), TAG_RE.findall(line)))
    return out


# ----------------------------------------------------------- comparison

def show_diff(a, b, what):
    diag("%s differs (--- Postfix header/body checks, +++ postern-checks):"
         % what)
    for line in difflib.unified_diff(
            (a or "(none)\n").splitlines(True),
            (b or "(none)\n").splitlines(True), "postfix", "postern", n=2):
        diag(line.rstrip("\n"))


def compare(run, name, a, b, actions):
    """compare - the TAP tests of one message in one run; on a failure
    the actions Postfix logged and postern's log line follow."""
    failed_before = pt.failed()
    _compare(run, name, a, b, actions)
    if pt.failed() > failed_before:
        diag("%s %s: Postfix logged: %s\n   postern logged: %s" % (
            run, name, "; ".join("%s %s" % (act, " ".join(t)) for act, t in
                                 postfix_actions(a.postfix_log)) or "-",
            b.postern_log.strip()[:3000] or "-"))


def _compare(run, name, a, b, actions):
    label = "%s %s" % (run, name)
    for r, side in ((a, "A"), (b, "B")):
        if r.problem:
            diag("%s: side %s: %s" % (label, side, r.problem))
    ok(a.reply == b.reply and not a.problem and not b.problem,
       "%s: reply" % label) or diag("   postfix: %s\n   postern: %s" %
                                     (a.reply, b.reply))
    filter_a = any(act == "filter" for act, _ in
                   postfix_actions(a.postfix_log))
    if filter_a and a.outcome == "delivered" and not SELF:
        # expected difference: FILTER
        ok(a.filtered and b.outcome == "delivered" and not b.filtered and
           re.search(r"(?i)filter", b.postern_log),
           "%s: outcome: FILTER (expected difference): Postfix delivered "
           "to the filter, postern delivered normally and logged the "
           "FILTER" % label) or diag(
               "   postfix: %s filtered=%s\n   postern: %s filtered=%s\n"
               "   postern log: %s" % (a.outcome, a.filtered, b.outcome,
                                       b.filtered, b.postern_log.strip()))
    else:
        ok(a.outcome == b.outcome and a.filtered == b.filtered,
           "%s: outcome" % label) or diag(
               "   postfix: %s%s\n   postern: %s%s" % (
                   a.outcome, " (filter sink)" if a.filtered else "",
                   b.outcome, " (filter sink)" if b.filtered else ""))
    is_(b.rcpts, a.rcpts, "%s: recipients" % label)
    invisible = [] if SELF else [
        m.groups() for m in INVISIBLE_RE.finditer(a.postfix_log)]
    content_a = a.content
    what = "content"
    if invisible:
        # expected difference: Postfix acted on a header a milter never
        # gets; its PREPENDed lines are taken out of A's copy, and B's
        # copy must lack them
        what = "content (expected difference: Postfix's header_checks " \
               "saw %s, a milter never does)" % ", ".join(
                   sorted(set(h for _, h, _ in invisible)))
        for act, _, text in invisible:
            if act == "prepend" and content_a is not None:
                content_a = content_a.replace(text + "\n", "", 1)
    if not ok(content_a == b.content, "%s: %s" % (label, what)):
        show_diff(content_a, b.content, "%s content" % label)
    kinds = ("WARN", "INFO", "STRIP")
    inv_tags = set(TAG_RE.findall(" ".join(t for _, _, t in invisible)))
    ta = [t for t in logged_tags(a.postfix_log, actions, kinds)
          if t not in inv_tags]
    tb = logged_tags(b.postern_log, actions, kinds)
    ok(ta == tb, "%s: logged WARN/INFO/STRIP rules %s%s" % (
        label, " ".join(ta) or "(none)", " (expected difference: not %s, "
        "on a header a milter never sees)" % " ".join(sorted(inv_tags))
        if inv_tags else "")) or diag(
            "   postfix logged: %s\n   postern logged: %s\n   postern "
            "log: %s" % (ta, tb, b.postern_log.strip()[:2000]))


# ------------------------------------------------------------------ main

note("postern-checks: %s" % (
    "none: POSTERN_CHECKS=postfix, side B is a second Postfix (harness "
    "self-check)" if SELF else CHECKS if HAVE_B else
    "not built (%s): side B is skipped" % CHECKS))
kinds_seen = {}
for run, files in RUNS:
    with section("%s run" % run):
        params, actions = install_tables(run, files)
        ok(len(actions) >= 20, "%s: %d tagged rules read from the tables"
           % (run, len(actions)))
        side_a = Side(run, "A", params)
        daemon = start_postern(run, params) if HAVE_B and not SELF \
            else None
        side_b = Side(run, "B", params) if SELF else None
        if daemon:
            side_b = Side(run, "B", {
                "smtpd_milters": daemon.milter_addr,
                "milter_default_action": "tempfail",
                "milter_protocol": "6",
                "milter_content_timeout": "60s"}, daemon)
        seen = set()
        fired = set()
        for path in MSGS:
            name = os.path.basename(path)[:-4]
            with open(path, "rb") as f:
                raw = f.read()
            with section("%s %s" % (run, name)):
                a = send(side_a, name, raw)
                acts = postfix_actions(a.postfix_log)
                for act, tags in acts:
                    seen.add(act)
                    fired.update(tags)
                note("%s %s: Postfix: %s, %s%s" % (
                    run, name, a.reply, a.outcome,
                    "; " + ", ".join("%s %s" % (act, " ".join(t))
                                     for act, t in acts) if acts else ""))
                if pt.verbose():
                    diag("recipients: %s\n%s" % (a.rcpts, a.content))
                ok(a.problem is None and a.outcome is not None,
                   "%s %s: Postfix (side A) decided: %s" % (
                       run, name, a.outcome)) or diag(a.problem)
                if side_b is None:
                    skip("postern-checks not built", len(ASPECTS))
                    continue
                b = send(side_b, name, raw)
                compare(run, name, a, b, actions)
        kinds_seen[run] = seen
        want = {"reject", "discard", "hold", "warning", "info", "strip",
                "redirect", "bcc", "filter", "pass", "replace", "prepend"}
        ok(want <= seen, "%s: the messages make Postfix take every action "
           "(%s)" % (run, " ".join(sorted(seen)))) or diag(
               "never taken: %s" % " ".join(sorted(want - seen)))
        log_a = side_a.pf.log_text()
        ok(re.search(r"unknown command in \S+ map: 450", log_a) and
           re.search(r"bad PREPEND header text", log_a),
           "%s: Postfix warned about the unknown and malformed actions"
           % run) or diag(log_a[-3000:])
        note("%s: %d tagged rules fired in Postfix: %s" % (
            run, len(fired), " ".join(sorted(fired))))
        ok(len(fired) >= 40, "%s: at least 40 different tagged rules "
           "fired in Postfix (%d)" % (run, len(fired)))
        # stop this run's instances before the next run starts
        if side_b:
            side_b.pf.stop()
        side_a.pf.stop()
        if daemon:
            daemon.stop()

pt.done()
