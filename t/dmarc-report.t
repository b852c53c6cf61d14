#!/usr/bin/python3
# dmarc-report.t - postern-dmarc-report on real components, 127.0.0.1 only.
# Stores are filled through the milter's own counting API (t/dmarc_agg_fill,
# dmarc_agg_add/_policy/_flush); DNS is a local unbound; mail goes to the
# harness's SMTP sink, or to a stand-in sendmail script written here that
# records its argv and input (Postfix's sendmail would need postdrop and a
# config directory listed in /etc/postfix/main.cf: not a private instance).
#
# Dry runs (DMARCbis and RFC 7489 modes): one report per domain and period,
# counts merged across hours, open periods (and report_delay) left alone,
# the most-seen policy record, file names, gzip, XML against the RFC 9990
# schema and the RFC 7489 one, escaping, the MIME message, external
# destinations with and without their _report._dmarc record, a DNS failure
# on that check, the !size limit, ri= periods.  Sending: SMTP (headers,
# attachment, buckets dropped, no second send), the SMTP server down (exit
# 1, kept, sent next run), sendmail (argv, one destination failing: the
# next run sends to it only), report_bcc, expiry after report_max_age,
# report_skip_domains, the splitting and row bounds, a Redis store, usage
# and configuration errors.
import base64
import email
import email.policy
import glob
import gzip
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import postern_test as pt                                      # noqa: E402
from postern_test import ok, is_, like, unlike, section, diag  # noqa: E402

TOOL = os.path.join(pt.top_builddir(), "tools", "postern-dmarc-report")
FILL = os.path.join(pt.top_builddir(), "t", "dmarc_agg_fill")
SRC = pt.top_srcdir()
XSD9990 = os.path.join(SRC, "t", "dmarc", "rfc9990-aggregate.xsd")
XSD7489 = os.path.join(SRC, "t", "dmarc", "rfc7489-aggregate-fixed.xsd")
PSL = os.path.join(SRC, "t", "psl", "public_suffix_list.dat")
for prog in (TOOL, FILL):
    if not os.access(prog, os.X_OK):
        pt.skip_all("%s not built" % os.path.basename(prog))
if pt.have_programs("xmllint", "unbound"):
    pt.skip_all("xmllint (libxml2-utils) or unbound missing")

tmp = pt.tmpdir()
D0 = 1714521600                 # 2024-05-01T00:00:00Z
D1 = D0 + 86400
NOW = D1 + 12 * 3600            # 2024-05-02T12:00:00Z
NS = "{urn:ietf:params:xml:ns:dmarc-2.0}"

# The RFC 7489 schema (corrected so that it compiles) puts the root in
# http://dmarc.org/dmarc-xml/0.1; our reports, like those seen in the wild,
# carry no namespace: validate against the same schema without its
# targetNamespace (every type and element otherwise unchanged).
with open(XSD7489) as f:
    xsd = f.read()
xsd = xsd.replace('targetNamespace="http://dmarc.org/dmarc-xml/0.1"', "")
xsd = xsd.replace('xmlns="http://dmarc.org/dmarc-xml/0.1"', "")
XSD7489_NONS = tmp.file("rfc7489-nonamespace.xsd", xsd)

ub = pt.Unbound({
    "example": [("example.org._report._dmarc.auth.example", "TXT",
                 "v=DMARC1"),
                ("wild.example", "A", "192.0.2.99")],
    "com": [("example.com", "A", "192.0.2.1")],
    "org": [("example.org", "A", "192.0.2.2")],
    "net": [],
}, servfail_zone="servfail.test", tmp=tmp)

REC_COM = "v=DMARC1; p=reject; sp=quarantine; fo=1; rua=mailto:dmarc@example.com"
REC_COM_OLD = "v=DMARC1; p=none; rua=mailto:dmarc@example.com"
REC_ORG = ("v=DMARC1; p=quarantine; ri=3600; rua=mailto:reports@auth.example,"
           "mailto:x@noauth.example,mailto:small@example.org!500")
COMMENT = "a <b> & 'c' \"d\" ]]>"


def row(t, dom, count, ip, hfrom, efrom="", disp="none", dkim_ok=0, spf_ok=0,
        reason="", comment="", spfd="", scope="", spfres="", dkims=""):
    return "\t".join(str(x) for x in (
        "R", t, dom, count, ip, hfrom, efrom, disp, dkim_ok, spf_ok, reason,
        comment, spfd, scope, spfres, dkims)) + "\n"


def pol(t, dom, count, record):
    return "P\t%d\t%s\t%d\t%s\n" % (t, dom, count, record)


def fill(store, lines, prefix=None):
    argv = [FILL, store] + ([prefix] if prefix else []) + ["fill"]
    p = subprocess.run(argv, input="".join(lines), capture_output=True,
                       text=True, timeout=60)
    ok(p.returncode == 0, "filled %s (%s)" % (os.path.basename(store),
                                              p.stderr.strip()))


def hour(bucket):
    return int(bucket.split("/")[0])


def buckets(store, what="list", prefix=None):
    argv = [FILL, store] + ([prefix] if prefix else []) + [what]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    return sorted(p.stdout.split())


MAIN = [
    pol(D0 + 3600, "example.com", 5, REC_COM),
    pol(D0 + 5 * 3600, "example.com", 2, REC_COM_OLD),
    row(D0 + 3600 + 10, "example.com", 3, "192.0.2.1", "example.com",
        "example.com", "none", 1, 1, spfd="example.com", scope="mfrom",
        spfres="pass", dkims="example.com/s1/pass"),
    row(D0 + 5 * 3600 + 20, "example.com", 4, "192.0.2.1", "example.com",
        "example.com", "none", 1, 1, spfd="example.com", scope="mfrom",
        spfres="pass", dkims="example.com/s1/pass"),
    row(D0 + 7 * 3600, "example.com", 2, "2001:db8::25", "example.com",
        "bounce.example.net", "reject", 0, 0, "local_policy", COMMENT,
        "bounce.example.net", "mfrom", "softfail",
        "example.com/s1/fail,other.example/k/pass"),
    row(D1 + 3 * 3600, "example.com", 1, "192.0.2.1", "example.com",
        "example.com", "none", 1, 1, spfd="example.com", scope="mfrom",
        spfres="pass", dkims="example.com/s1/pass"),
    pol(D0 + 2 * 3600, "example.org", 3, REC_ORG),
    row(D0 + 2 * 3600 + 600, "example.org", 1, "198.51.100.7",
        "example.org", "", "quarantine", 0, 0, "sampled_out", "",
        "mx.example.org", "helo", "none", ""),
    row(D0 + 3 * 3600 + 1200, "example.org", 2, "198.51.100.8",
        "sub.example.org", "example.org", "none", 1, 0, spfd="example.org",
        scope="mfrom", spfres="fail", dkims="example.org/sel/pass"),
    row(D1 + 11 * 3600 + 1800, "example.org", 5, "198.51.100.9",
        "example.org", "example.org", "none", 1, 1),
]


def conf(name, store, transport="smtp:127.0.0.1:9", extra=""):
    return tmp.file(name, (
        "# postern-dmarc.conf for the test (milter keys the tool skips too)\n"
        "listen = unix:/nonexistent\n"
        "store = %s\n"
        "dns_server = %s\n"
        "dns_timeout = 2s\n"
        "report_email = dmarc-reports@receiver.example\n"
        "report_org_name = Receiver & Co <Test>\n"
        "report_extra_contact = https://receiver.example/dmarc?a=1&b=2\n"
        "report_transport = %s\n"
        "report_timeout = 3s\n"
        "public_suffix_list = %s\n%s" % (store, ub.addr, transport, PSL,
                                         extra)))


def run(cf, *args, now=NOW):
    argv = [TOOL, "-c", cf, "--now", str(now)] + list(args)
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=120)
    if pt.verbose():
        diag("%s -> %d\n%s%s" % (" ".join(argv), p.returncode, p.stdout,
                                 p.stderr))
    return p.returncode, p.stdout, p.stderr


def strip_ns(root):
    for el in root.iter():
        if el.tag.startswith("{"):
            el.tag = el.tag.split("}", 1)[1]
    return root


def report_files(d):
    """report_files - {domain: [(begin, end, id, path), ...]} of a dry-run
    directory."""
    out = {}
    for path in sorted(glob.glob(os.path.join(d, "*.xml.gz"))):
        name = os.path.basename(path)
        m = re.match(r"^receiver\.example!([^!]+)!(\d+)!(\d+)!([0-9a-f]+)"
                     r"\.xml\.gz$", name)
        ok(m, "file name receiver!domain!begin!end!id.xml.gz: %s" % name)
        if m:
            out.setdefault(m.group(1), []).append(
                (int(m.group(2)), int(m.group(3)), m.group(4), path))
    for v in out.values():
        v.sort()
    return out


def xml_of(path):
    with open(path, "rb") as f:
        raw = f.read()
    ok(raw[:2] == b"\x1f\x8b", "gzip magic: %s" % os.path.basename(path))
    return gzip.decompress(raw)


def validate(xml_bytes, xsd, name):
    f = tmp.file("v.xml", xml_bytes.decode("utf-8"))
    p = subprocess.run(["xmllint", "--noout", "--schema", xsd, f],
                       capture_output=True, text=True, timeout=60)
    ok(p.returncode == 0, "%s validates against %s" %
       (name, os.path.basename(xsd)))
    if p.returncode:
        diag(p.stderr[-2000:])


def records(root):
    """records - [(source_ip, count, disposition, header_from), ...]"""
    return sorted((r.findtext("row/source_ip"), int(r.findtext("row/count")),
                   r.findtext("row/policy_evaluated/disposition"),
                   r.findtext("identifiers/header_from"))
                  for r in root.findall("record"))


def outcomes(err):
    """outcomes - {(domain, begin ISO): outcome} from the report lines"""
    return {(m.group(1), m.group(2)): m.group(3) for m in re.finditer(
        r"domain=(\S+) period=(\S+)\.\.\S+ rows=.* outcome=(\S+)", err)}


STORE = os.path.join(tmp.path, "store")
fill(STORE, MAIN)
ALL = buckets(STORE)
is_(len(ALL), 7, "seven hourly buckets (4 example.com, 3 example.org)")
CONF = conf("main.conf", STORE)

with section("dry run, DMARCbis (RFC 9990)"):
    out = tmp.sub("dry-bis")
    rc, so, se = run(CONF, "-n", out)
    is_(rc, 0, "exit 0")
    files = report_files(out)
    is_(sorted(files), ["example.com", "example.org"], "a report for each "
        "domain")
    is_([(b, e) for b, e, _, _ in files.get("example.com", [])],
        [(D0, D0 + 86399)], "example.com: one report, 2024-05-01, end = "
        "last second (the open 2024-05-02 period not reported)")
    is_([(b, e) for b, e, _, _ in files.get("example.org", [])],
        [(D0, D0 + 86399)], "example.org: ri= is historic in DMARCbis: one "
        "daily report")
    is_(buckets(STORE), ALL, "dry run: every bucket kept")
    like(se, r"domain=example\.com period=2024-05-01T00:00:00Z\.\."
         r"2024-05-01T23:59:59Z rows=2 messages=9 reports=1 destinations=1 "
         r"sent=1 .* outcome=written id=[0-9a-f]{16}", "log line: domain, "
         "period, rows, messages, reports, destinations, outcome")
    b, e, rid, path = files["example.com"][0]
    x = xml_of(path)
    validate(x, XSD9990, "example.com report")
    root = ET.fromstring(x)
    is_(root.tag, NS + "feedback", "root in urn:ietf:params:xml:ns:dmarc-2.0")
    strip_ns(root)
    md = root.find("report_metadata")
    is_(md.findtext("org_name"), "Receiver & Co <Test>", "org_name escaped "
        "and read back")
    is_(md.findtext("email"), "dmarc-reports@receiver.example", "email")
    is_(md.findtext("extra_contact_info"),
        "https://receiver.example/dmarc?a=1&b=2", "extra_contact_info")
    is_(md.findtext("report_id"), rid, "report_id = the file's unique-id")
    like(md.findtext("generator"), r"^postern-dmarc-report ", "generator")
    is_((md.findtext("date_range/begin"), md.findtext("date_range/end")),
        (str(D0), str(D0 + 86399)), "date_range")
    pp = root.find("policy_published")
    is_((pp.findtext("domain"), pp.findtext("p"), pp.findtext("sp"),
         pp.findtext("fo"), pp.findtext("testing"),
         pp.findtext("discovery_method"), pp.find("pct")),
        ("example.com", "reject", "quarantine", "1", "n", "treewalk", None),
        "policy_published: the most-seen record (p=reject seen 5 times, "
        "p=none twice), no pct")
    is_(records(root), [("192.0.2.1", 7, "pass", "example.com"),
                        ("2001:db8::25", 2, "reject", "example.com")],
        "rows merged across hours (3 + 4), the reject row; disposition "
        "'pass' for a passing message under p=reject")
    r2 = [r for r in root.findall("record")
          if r.findtext("row/source_ip") == "2001:db8::25"][0]
    is_((r2.findtext("row/policy_evaluated/reason/type"),
         r2.findtext("row/policy_evaluated/reason/comment")),
        ("local_policy", COMMENT), "reason and its comment, escaped")
    is_([(d.findtext("domain"), d.findtext("selector"), d.findtext("result"))
         for d in r2.findall("auth_results/dkim")],
        [("example.com", "s1", "fail"), ("other.example", "k", "pass")],
        "two DKIM results")
    is_((r2.findtext("auth_results/spf/domain"),
         r2.findtext("auth_results/spf/scope"),
         r2.findtext("auth_results/spf/result")),
        ("bounce.example.net", "mfrom", "softfail"), "SPF result")
    is_(r2.findtext("identifiers/envelope_from"), "bounce.example.net",
        "envelope_from")

    x = xml_of(files["example.org"][0][3])
    validate(x, XSD9990, "example.org report")
    root = strip_ns(ET.fromstring(x))
    recs = {r.findtext("row/source_ip"): r for r in root.findall("record")}
    r1 = recs.get("198.51.100.7")
    ok(r1 is not None, "example.org: the sampled_out row")
    if r1 is not None:
        is_(r1.findtext("row/policy_evaluated/reason/type"),
            "policy_test_mode", "sampled_out is policy_test_mode in RFC 9990")
        is_(r1.find("auth_results/spf/scope"), None, "HELO scope: no "
            "<scope> (RFC 9990 has mfrom only)")
        is_(r1.findtext("identifiers/envelope_from"), "", "null sender: "
            "empty envelope_from")

    emls = sorted(os.path.basename(p) for p in glob.glob(out + "/*.eml"))
    is_(len(emls), 2, "two messages: dmarc@example.com and "
        "reports@auth.example")
    like(se, r"domain=example\.org to=reports@auth\.example id=\S+ "
         r"result=written", "external destination with its _report._dmarc "
         "record: written")
    like(se, r"domain=example\.org to=x@noauth\.example result=unauthorized",
         "external destination without one: skipped")
    like(se, r"domain=example\.org to=small@example\.org id=\S+ "
         r"result=too-big bytes=\d+ limit=500", "!500: the message is "
         "larger, skipped")
    like(se, r"domain=example\.org .* unauthorized=1 too_big=1 retry=0 "
         r"outcome=written", "example.org: its log line")

    msg = email.message_from_bytes(open(os.path.join(
        out, files["example.com"][0][3].split("/")[-1][:-7] + ".1.eml"),
        "rb").read(), policy=email.policy.default)
    is_(str(msg["Subject"]), "Report Domain: example.com Submitter: "
        "receiver.example Report-ID: <%s>" % rid, "Subject")
    is_((str(msg["From"]), str(msg["To"])),
        ("dmarc-reports@receiver.example", "dmarc@example.com"), "From, To")
    is_(msg.get_content_type(), "multipart/mixed", "multipart/mixed")
    parts = list(msg.iter_parts())
    is_([p.get_content_type() for p in parts],
        ["text/plain", "application/gzip"], "text part and gzip attachment")
    if len(parts) == 2:
        is_(parts[1].get_filename(), os.path.basename(path),
            "attachment file name")
        is_(parts[1]["Content-Transfer-Encoding"], "base64", "base64")
        is_(parts[1].get_content(), open(path, "rb").read(),
            "attachment = the .xml.gz")
        like(parts[0].get_content(), r"Messages: 9 in 2 records",
             "text part: counts")

with section("dry run, RFC 7489 mode: ri= periods, the RFC 7489 schema"):
    out = tmp.sub("dry-7489")
    rc, so, se = run(CONF, "-n", out, "-o", "dmarc_mode=rfc7489")
    is_(rc, 0, "exit 0")
    files = report_files(out)
    is_([(b, e) for b, e, _, _ in files.get("example.org", [])],
        [(D0 + 2 * 3600, D0 + 3 * 3600 - 1), (D0 + 3 * 3600, D0 + 4 * 3600 - 1)],
        "example.org ri=3600: hourly reports; 2024-05-02 11:00 not yet "
        "(report_delay after 12:00)")
    rc, so, se = run(CONF, "-n", out, "-o", "dmarc_mode=rfc7489",
                     now=NOW + 301)
    is_(len(report_files(out).get("example.org", [])), 3, "5 minutes later: "
        "the 11:00 hour too")
    for dom, v in sorted(files.items()):
        for b, e, rid, path in v:
            x = xml_of(path)
            validate(x, XSD7489_NONS, "%s %d" % (dom, b))
    root = ET.fromstring(xml_of(files["example.com"][0][3]))
    is_(root.tag, "feedback", "RFC 7489: <feedback> without a namespace")
    pp = root.find("policy_published")
    is_((pp.findtext("pct"), pp.findtext("sp"), pp.find("np")),
        ("100", "quarantine", None), "pct, sp; no np")
    ips = [r.findtext("row/source_ip") for r in root.findall("record")]
    ok("2001:db8:0:0:0:0:0:25" in ips, "IPv6 in the eight-group form the "
       "RFC 7489 pattern wants: %s" % ips)
    root = ET.fromstring(xml_of(files["example.org"][0][3]))
    is_(root.findtext("record/row/policy_evaluated/reason/type"),
        "sampled_out", "RFC 7489: sampled_out")
    is_(root.findtext("record/auth_results/spf/scope"), "helo",
        "RFC 7489: scope helo")

with section("DNS failure on the authorization check: kept, exit 1"):
    st = os.path.join(tmp.path, "store-sf")
    fill(st, [pol(D0, "example.net", 1, "v=DMARC1; p=none; "
                  "rua=mailto:agg@dest.servfail.test"),
              row(D0 + 60, "example.net", 1, "192.0.2.5", "example.net")])
    before = buckets(st)
    rc, so, se = run(conf("sf.conf", st))
    is_(rc, 1, "exit 1")
    like(se, r"to=agg@dest\.servfail\.test result=retry", "destination: "
         "retry")
    like(se, r"outcome=retry", "report: retry")
    is_(buckets(st), before, "buckets kept")

sink = pt.Sink(tmp=tmp)
SEND = conf("send.conf", STORE, "smtp:127.0.0.1:%d" % sink.port)

with section("sending over SMTP"):
    rc, so, se = run(SEND)
    is_(rc, 0, "exit 0")
    msgs = sink.wait_for_messages(2, timeout=10)
    is_(sorted(m.rcpts[0] for m in msgs),
        ["dmarc@example.com", "reports@auth.example"], "two messages, to "
        "the two usable destinations")
    is_(sorted(set(m.mail_from for m in msgs)),
        ["dmarc-reports@receiver.example"], "envelope sender: report_email")
    for m in msgs:
        e = email.message_from_bytes(m.data, policy=email.policy.default)
        dom = "example.com" if "example.com" in m.rcpts[0] else "example.org"
        like(str(e["Subject"]), r"^Report Domain: %s Submitter: "
             r"receiver\.example Report-ID: <[0-9a-f]{16}>$" % re.escape(dom),
             "Subject of %s" % dom)
        att = [p for p in e.iter_parts()
               if p.get_content_type() == "application/gzip"]
        if ok(len(att) == 1, "one gzip attachment"):
            validate(gzip.decompress(att[0].get_content()), XSD9990,
                     "received %s report" % dom)
    is_(buckets(STORE), [b for b in ALL if hour(b) >= D1],
        "reported buckets dropped; the open ones (2024-05-02) kept")
    sink.clear()
    rc, so, se = run(SEND)
    is_((rc, len(sink.wait_for_messages(1, timeout=1))), (0, 0),
        "second run: nothing more to send")

with section("SMTP server down: exit 1, kept; the next run sends"):
    st = os.path.join(tmp.path, "store-down")
    fill(st, MAIN[:6])
    before = buckets(st)
    dead = pt.free_port()
    rc, so, se = run(conf("down.conf", st, "smtp:127.0.0.1:%d" % dead))
    is_(rc, 1, "exit 1")
    like(se, r"to=dmarc@example\.com id=\S+ result=retry why=connect to "
         r"127\.0\.0\.1", "logged: retry, connection refused")
    is_(buckets(st), before, "buckets kept")
    sink.clear()
    rc, so, se = run(conf("up.conf", st, "smtp:127.0.0.1:%d" % sink.port))
    is_(rc, 0, "next run, server up: exit 0")
    is_([m.rcpts for m in sink.wait_for_messages(1, timeout=10)],
        [["dmarc@example.com"]], "sent")
    is_(buckets(st), [b for b in before if hour(b) >= D1],
        "ended period dropped")

SM_DIR = tmp.sub("sendmail")
SENDMAIL = tmp.file("sendmail.sh", """#!/bin/sh
# stand-in for sendmail(1): records argv and input; fails (EX_TEMPFAIL)
# for the recipient named in FAIL_RCPT
n=$(ls %(d)s | wc -l)
for a in "$@"; do printf '%%s\\n' "$a"; done > %(d)s/$n.argv
cat > %(d)s/$n.msg
for a in "$@"; do [ "$a" = "$FAIL_RCPT" ] && exit 75; done
exit 0
""" % {"d": SM_DIR}, mode=0o755)


def sendmail_calls():
    calls = []
    for f in sorted(glob.glob(SM_DIR + "/*.argv"),
                    key=lambda p: int(os.path.basename(p).split(".")[0])):
        with open(f) as fp:
            argv = fp.read().split("\n")[:-1]
        with open(f[:-5] + ".msg", "rb") as fp:
            calls.append((argv, fp.read()))
    return calls


with section("sendmail transport; one destination failing is retried "
             "alone"):
    st = os.path.join(tmp.path, "store-sm")
    rec = ("v=DMARC1; p=none; rua=mailto:a@multi.example,"
           "mailto:b@multi.example")
    fill(st, [pol(D0, "multi.example", 1, rec),
              row(D0 + 60, "multi.example", 3, "192.0.2.7", "multi.example")])
    cf = conf("sm.conf", st, "sendmail:%s" % SENDMAIL)
    os.environ["FAIL_RCPT"] = "b@multi.example"
    rc, so, se = run(cf)
    is_(rc, 1, "b fails for now: exit 1")
    calls = sendmail_calls()
    is_([c[0] for c in calls],
        [["-i", "-f", "dmarc-reports@receiver.example", "--",
          "a@multi.example"],
         ["-i", "-f", "dmarc-reports@receiver.example", "--",
          "b@multi.example"]], "sendmail -i -f FROM -- RCPT, once per "
        "destination")
    ok(calls and b"\r\n" not in calls[0][1] and
       b"\nSubject: Report Domain: multi.example" in calls[0][1],
       "sendmail input: LF line ends, the report message")
    like(se, r"to=b@multi\.example id=\S+ result=retry why=.*exit status 75",
         "b: retry (exit status 75)")
    ok(any(b.startswith("sent/") for b in buckets(st, "all")),
       "a marker notes that a got it")
    ok(any(hour(b) == D0 for b in buckets(st)), "data kept")
    del os.environ["FAIL_RCPT"]
    rc, so, se = run(cf)
    is_(rc, 0, "next run: exit 0")
    calls2 = sendmail_calls()[len(calls):]
    is_([c[0][-1] for c in calls2], ["b@multi.example"],
        "only b gets it now (no duplicate for a)")
    rid = re.findall(rb"Report-ID: <(\w+)>", calls[0][1])
    rid2 = re.findall(rb"Report-ID: <(\w+)>", calls2[0][1]) if calls2 else []
    ok(rid and rid == rid2, "same Report-ID for the same report")
    like(se, r"already=1 .* outcome=done", "log: one already sent, done")
    is_((buckets(st), buckets(st, "all")), ([], []), "data and marker "
        "dropped")

with section("report_bcc"):
    st = os.path.join(tmp.path, "store-bcc")
    fill(st, MAIN[:6])
    sink.clear()
    rc, so, se = run(conf("bcc.conf", st, "smtp:127.0.0.1:%d" % sink.port,
                          "report_bcc = copies@receiver.example\n"))
    is_(rc, 0, "exit 0")
    is_(sorted(m.rcpts[0] for m in sink.wait_for_messages(2, timeout=10)),
        ["copies@receiver.example", "dmarc@example.com"], "a copy to "
        "report_bcc")

with section("report_max_age: data that cannot be sent expires"):
    st = os.path.join(tmp.path, "store-old")
    fill(st, MAIN[:6])
    dead = pt.free_port()
    cf = conf("old.conf", st, "smtp:127.0.0.1:%d" % dead)
    rc, so, se = run(cf, now=D0 + 9 * 86400)
    is_(rc, 1, "9 days later, still no server: exit 1 (one period to "
        "retry)")
    like(se, r"domain=example\.com period=2024-05-01T00:00:00Z.*"
         r"outcome=expired", "2024-05-01: expired")
    like(se, r"domain=example\.com period=2024-05-02T00:00:00Z.*"
         r"outcome=retry", "2024-05-02 (within 7 days)... ")
    rc, so, se = run(cf, now=D0 + 10 * 86400)
    is_((rc, buckets(st)), (0, []), "... expires a day later: all dropped")

with section("report_skip_domains (opendmarc-reports --nodomain)"):
    st = os.path.join(tmp.path, "store-skip")
    fill(st, MAIN[:6])
    before = buckets(st)
    sink.clear()
    rc, so, se = run(conf("skip.conf", st, "smtp:127.0.0.1:%d" % sink.port,
                          "nodomain = example.com\n"))
    is_(rc, 0, "exit 0")
    like(se, r"domain=example\.com .*outcome=skipped", "skipped")
    is_(len(sink.wait_for_messages(1, timeout=1)), 0, "nothing sent")
    is_(buckets(st), [b for b in before if hour(b) >= D1],
        "the ended period's data dropped, the open one kept")

with section("hostile values in rows: escaped or replaced, never raw"):
    st = os.path.join(tmp.path, "store-hostile")
    fill(st, [pol(D0, "hostile.example", 1, "v=DMARC1; p=none; "
                  "rua=mailto:r@hostile.example"),
              row(D0 + 60, "hostile.example", 1, "192.0.2.50",
                  r"evil<&>\x01\x7f\xffend", r"a\x0ab", "none", 0, 0,
                  "other", r"c]]>\x09tab \xc3\xa9 \xe0\x80\x80</comment>",
                  dkims=r"d\x22q.example/s'1/pass")])
    out = tmp.sub("hostile")
    rc, so, se = run(conf("hostile.conf", st), "-n", out)
    v = report_files(out).get("hostile.example", [])
    if ok(rc == 0 and len(v) == 1, "one report"):
        x = xml_of(v[0][3])
        validate(x, XSD9990, "hostile report")
        r = strip_ns(ET.fromstring(x)).find("record")
        is_(r.findtext("identifiers/header_from"), "evil<&>???end",
            "markup escaped; control bytes, DEL, invalid UTF-8 as '?'")
        is_(r.findtext("identifiers/envelope_from"), "a?b", "LF as '?'")
        is_(r.findtext("row/policy_evaluated/reason/comment"),
            "c]]>\ttab \u00e9 ???</comment>", "tab and UTF-8 kept, an "
            "overlong sequence replaced, ]]> and a closing tag harmless")
        is_((r.findtext("auth_results/dkim/domain"),
             r.findtext("auth_results/dkim/selector")),
            ('d"q.example', "s'1"), "quotes")

with section("bounds: report_max_rows, report_max_xml_bytes, "
             "report_max_period_rows"):
    st = os.path.join(tmp.path, "store-big")
    lines = [pol(D0, "many.example", 1, "v=DMARC1; p=none; "
                 "rua=mailto:r@many.example")]
    for i in range(20):
        lines.append(row(D0 + 60 + i, "many.example", i + 1,
                         "192.0.2.%d" % (i + 1), "many.example", "",
                         "none", 0, 0, "other", "x" * 200))
    fill(st, lines)
    out = tmp.sub("big1")
    rc, so, se = run(conf("big.conf", st), "-n", out, "-o",
                     "report_max_rows=6")
    v = report_files(out).get("many.example", [])
    is_(len(v), 4, "20 rows, report_max_rows=6: 4 reports")
    n = [len(ET.fromstring(xml_of(p)).findall("{%s}record" % NS[1:-1]))
         for _, _, _, p in v]
    is_(sorted(n), [2, 6, 6, 6], "6 + 6 + 6 + 2 records")
    ok(len(set(i for _, _, i, _ in v)) == 4, "four Report-IDs")
    like(se, r"rows=20 messages=210 reports=4 ", "one log line: 20 rows, "
         "210 messages, 4 reports")
    for _, _, _, p in v:
        validate(xml_of(p), XSD9990, "part")
    out = tmp.sub("big2")
    rc, so, se = run(conf("big.conf", st), "-n", out, "-o",
                     "report_max_xml_bytes=10000")
    v = report_files(out).get("many.example", [])
    sizes = [len(xml_of(p)) for _, _, _, p in v]
    ok(len(v) >= 2 and all(s < 10000 + 4000 for s in sizes),
       "report_max_xml_bytes=10000: split, each part near the bound: %s" %
       sizes)
    out = tmp.sub("big3")
    rc, so, se = run(conf("big.conf", st), "-n", out, "-o",
                     "report_max_period_rows=5")
    v = report_files(out).get("many.example", [])
    root = strip_ns(ET.fromstring(xml_of(v[0][3]))) if v else None
    ok(root is not None and len(root.findall("record")) == 5,
       "report_max_period_rows=5: 5 records")
    if root is not None:
        like(root.findtext("report_metadata/error") or "",
             r"^15 rows \(\d+ messages\) over this reporter's limit",
             "<error> says what was left out")
    like(se, r"15 rows \(\d+ messages\) over report_max_period_rows",
         "logged")

with section("Redis store"):
    import redis_servers as rs
    if not rs.have_redis():
        pt.skip("redis-server 7 not installed", 4)
    else:
        srv = rs.RedisServer(tmp=tmp)
        url = "redis://127.0.0.1:%d" % srv.port
        fill(url, MAIN[:6], prefix="pdtest:")
        is_(len(buckets(url, prefix="pdtest:")), 4, "four buckets in Redis")
        sink.clear()
        rc, so, se = run(conf("redis.conf", url, "smtp:127.0.0.1:%d" %
                              sink.port, "store_prefix = pdtest:\n"))
        is_(rc, 0, "exit 0")
        is_([m.rcpts for m in sink.wait_for_messages(1, timeout=10)],
            [["dmarc@example.com"]], "report sent")
        is_(len(buckets(url, prefix="pdtest:")), 1, "ended period dropped, "
            "the open one kept")

with section("usage and configuration errors: exit 2"):
    for args, what in (
            (["-o", "report_transport=lmtp:x"], "bad transport"),
            (["-o", "report_email=not an address"], "bad report_email"),
            (["-o", "report_id_prefix=a-b"], "report_id_prefix not "
             "alphanumeric"),
            (["-o", "report_bcc=x@y\r\nRCPT TO:<z@w>"], "bad report_bcc"),
            (["-o", "report_interval_min=2h", "-o",
              "report_interval_max=1h"], "interval min > max"),
            (["-o", "no_such_key=1"], "unknown -o key"),
            (["--now", "yesterday"], "bad --now"),
            (["--drop"], "--drop without -n"),
            (["-n", "/nonexistent/dir"], "-n: no such directory")):
        p = subprocess.run([TOOL, "-c", CONF] + args, capture_output=True,
                           text=True, timeout=60)
        is_(p.returncode, 2, "%s: exit 2 (%s)" % (what, p.stderr.strip()))
    p = subprocess.run([TOOL, "-V"], capture_output=True, text=True)
    like(p.stdout, r"^postern-dmarc-report \d", "-V")

pt.done()
