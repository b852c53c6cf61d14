#!/usr/bin/python3
# dkim-interop.t - DKIM interoperability, both ways, on the same messages.
#
# Four implementations sign and four verify: postern's engine (through
# t/dkim_tool), Python's dkimpy (python3-dkim, with PyNaCl for Ed25519),
# Perl's Mail::DKIM (libmail-dkim-perl 1.20230212: RSA only, it predates
# Ed25519) and OpenDKIM 2.11 (Debian's opendkim).  Every signer signs
# every fixture message in t/dkim-interop/ with RSA-SHA256 and
# Ed25519-SHA256 (RFC 8463) and each of the four canonicalization pairs;
# every verifier that knows the algorithm must say pass.  Then, for each
# signer's output of the plain message, a changed Subject and a changed
# body byte must give fail in every verifier.  Last, the RFC 8463
# Appendix A.3 example (its key records from A.2, in
# t/dkim-interop/rfc8463-keys.zone) must verify in postern (the other
# verifiers check the fixture's transcription).
#
# One TAP line per combination, named SIGNER -> VERIFIER: ALG CANON MSG;
# a failure shows the signed message (each line between |bars|, so
# trailing whitespace shows) and the verifier's own output.
#
# Keys: an RSA-2048 and an Ed25519 pair made with openssl genpkey for this
# run, published as s=rsa2048 / s=ed25519 under example.com in a private
# unbound on 127.0.0.1 (harness Unbound); every verifier asks only it:
#   postern   t/dkim_tool verify -n 127.0.0.1:PORT
#   dkimpy    a dnsfunc querying that server over TCP (postern_test.dns_query)
#   Mail::DKIM  a Net::DNS resolver with that nameserver and port, given to
#             Mail::DKIM::DNS::resolver (t/dkim-interop/maildkim.pl)
#   OpenDKIM  test mode, `opendkim -x CONF -t FILE`, no MTA and no milter
#             socket: Debian's opendkim is built with libunbound, and its
#             `Nameservers 127.0.0.1@PORT` option becomes an unbound
#             forwarder with that port.  It signs in the same mode with
#             -b s -d -s -k -c -S.  (Details in t/lib/dkim_interop.py.)
#
# Known upstream problems, not ours; their rows are TODO tests, so they
# are shown, not counted:
#   - libopendkim 2.11 (what OpenDKIM signs with) makes Ed25519
#     signatures with "simple" header canonicalization that fail in every
#     verifier (DESIGN.md).  postern signs Ed25519 itself through OpenSSL:
#     its Ed25519 simple-header rows are ordinary tests that must pass,
#     with a summary line of their own.
#   - OpenDKIM rebuilds each header field as "Name: value" (it does not
#     ask for SMFIP_HDR_LEADSPC as a milter, and test mode feeds it the
#     same way), so with simple header canonicalization it cannot sign or
#     verify fields written otherwise: folded.eml's "Date:   ..." and
#     "Message-ID:<...>".  A signer must therefore write its own
#     DKIM-Signature as "DKIM-Signature: v=1; ..." for OpenDKIM to verify
#     it; that is postern's job and is tested, not excused.
#
# Environment: POSTERN_DKIM_TOOL=PATH tests another dkim_tool build;
# KEEP_TMP=1 keeps the signed messages and the tools' files.
import collections
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import postern_test as pt                                      # noqa: E402
from postern_test import ok, diag, section                     # noqa: E402
import dkim_interop as di                                      # noqa: E402

FIX = os.path.join(pt.top_srcdir(), "t", "dkim-interop")
TOOL = os.environ.get("POSTERN_DKIM_TOOL") or os.path.join(
    pt.top_builddir(), "t", "dkim_tool")
MAILDKIM_HELPER = os.path.join(FIX, "maildkim.pl")

MESSAGES = ("plain", "folded", "multi", "empty", "utf8")
TAMPER_MSG = "plain"
ALGS = ("rsa", "ed25519")
CANONS = ("relaxed/relaxed", "simple/simple", "relaxed/simple",
          "simple/relaxed")
DOMAIN = "example.com"
SELECTOR = {"rsa": "rsa2048", "ed25519": "ed25519"}
RFC_DOMAIN = "football.example.com"
RFC_SIGS = (("ed25519", "brisbane"), ("rsa", "test"))

KNOWN_ED25519 = ("known upstream bug: libopendkim 2.11 signs Ed25519 "
                 "with simple header canonicalization wrongly "
                 "(DESIGN.md); not a postern failure")
KNOWN_REBUILD = ("known OpenDKIM limitation: it rebuilds header fields as "
                 "'Name: value', so simple header canonicalization fails "
                 "on folded.eml's 'Date:   ...' and 'Message-ID:<...>'; "
                 "not a postern failure")
DUMPS_PER_PAIR = 3          # full message dumps per signer/verifier pair

missing = pt.have_programs("unbound", "openssl")
if missing:
    pt.skip_all("not installed: %s" % ", ".join(missing))


def known_bad(signer, verifier, alg, canon, msg):
    """None, or why the combination is expected to fail through no fault
    of postern's: OpenDKIM-signed Ed25519 with simple header
    canonicalization (libopendkim bug), or OpenDKIM signing or verifying
    simple-canonicalized header fields not written "Name: value"."""
    if not canon.startswith("simple/"):
        return None
    if signer == "opendkim" and alg == "ed25519":
        return KNOWN_ED25519
    if msg == "folded" and "opendkim" in (signer, verifier):
        return KNOWN_REBUILD
    return None


def show_message(msg, limit=80):
    """A message for diag: one line per line, between bars."""
    lines = msg.decode("utf-8", "replace").split("\r\n")
    out = ["  |%s|" % line.replace("\t", "\\t") for line in lines[:limit]]
    if len(lines) > limit:
        out.append("  ... (%d more lines)" % (len(lines) - limit))
    return "\n".join(out)


_dumped = {}


def explain(signer, verifier, msg, verdict, got, want, brief=False):
    """Diagnostics of one failed combination (brief: the verdict only)."""
    key = (signer, verifier)
    sig = verdict.find(*got[1]) if verdict and got[1] else None
    diag("  %s said %s, expected %s%s" % (
        verifier, got[0], want,
        (" (%s)" % sig.detail) if sig and sig.detail else ""))
    if verdict is not None and verdict.error:
        diag("  verifier error: %s" % verdict.error)
    if brief:
        return
    _dumped[key] = _dumped.get(key, 0) + 1
    if _dumped[key] > DUMPS_PER_PAIR:
        if _dumped[key] == DUMPS_PER_PAIR + 1:
            diag("  (no more message dumps for %s -> %s)" % key)
        return
    if msg is not None:
        diag("  message:\n" + show_message(msg))
    if verdict is not None:
        diag("  %s output:\n%s" % (verifier, "\n".join(
            "    " + x for x in verdict.raw.rstrip().split("\n")[-40:])))


# ------------------------------------------------------------------ setup

tmp = pt.TempDir()
keys = di.Keys(tmp.path)
records = keys.records()
rfc_zone = di.zone_file_records(os.path.join(FIX, "rfc8463-keys.zone"))
zones = {
    DOMAIN: [("%s._domainkey" % SELECTOR[a], "TXT", records[a])
             for a in ALGS],
    RFC_DOMAIN: [(name, "TXT", strings) for name, strings in rfc_zone],
}
ub = pt.Unbound(zones, tmp=tmp)
diag("test DNS on %s; OpenDKIM uses it as `Nameservers 127.0.0.1@%d`" %
     (ub.addr, ub.port))

with section("test DNS serves the keys"):
    for a in ALGS:
        name = "%s._domainkey.%s" % (SELECTOR[a], DOMAIN)
        r = ub.query(name, "TXT", tcp=True)
        pt.is_(r.txt() if r else None, [records[a]],
               "test DNS serves %s (%s key record)" % (name, a))
    pt.is_(len(rfc_zone), 2, "RFC 8463 A.2 records read from the fixture")
    for name, strings in rfc_zone:
        r = ub.query(name, "TXT", tcp=True)
        pt.is_(r.txt() if r else None, ["".join(strings)],
               "test DNS serves %s (RFC 8463 A.2)" % name)

msgs = {}
for m in MESSAGES:
    msgs[m] = di.read_message(os.path.join(FIX, m + ".eml"))
# the folded message is about whitespace: make sure nothing (an editor,
# a checkout filter) stripped it from the fixture
ok(b" \r\n" in msgs["folded"] and b"\t\r\n" in msgs["folded"] and
   msgs["folded"].endswith(b"\r\n\r\n  \r\n\r\n\r\n"),
   "fixture folded.eml keeps its trailing whitespace and blank lines")
ok(msgs["empty"].endswith(b"\r\n\r\n") and
   di.split_message(msgs["empty"])[1] == b"",
   "fixture empty.eml has an empty body")

signers = [
    di.PosternSigner(TOOL),
    di.DkimpySigner(keys),
    di.MailDkimSigner(MAILDKIM_HELPER, ub.port, tmp),
    di.OpenDkimSigner(ub.port, tmp),
]
verifiers = [
    di.PosternVerifier(TOOL, ub.addr),
    di.DkimpyVerifier(ub.port),
    di.MailDkimVerifier(MAILDKIM_HELPER, ub.port, tmp),
    di.OpenDkimVerifier(ub.port, tmp),
]
for x in signers:
    if x.missing:
        diag("signer %s cannot run: %s" % (x.name, x.missing))
for x in verifiers:
    if x.missing:
        diag("verifier %s cannot run: %s" % (x.name, x.missing))

# ------------------------------------------------------------------- sign

jobs = {}           # (signer, alg, canon, msg) -> SignJob
for s in signers:
    if s.missing:
        continue
    batch = []
    for a in s.algs:
        for c in CANONS:
            for m in MESSAGES:
                j = di.SignJob(m, msgs[m], a, c, DOMAIN, SELECTOR[a],
                               keys.pem(a))
                jobs[(s.name, a, c, m)] = j
                batch.append(j)
    with section("%s signs" % s.name):
        s.sign_all(batch)
    bad = [(j, di.check_signed(j)) for j in batch]
    bad = [(j, why) for j, why in bad if why]
    for j, why in bad:
        if j.signed is not None:      # signed, but not as asked: unusable
            j.error = why
            j.signed = None
    if not ok(not bad, "%s signs all %d combinations with the a=, c=, d=, "
              "s= asked for" % (s.name, len(batch))):
        for j, why in bad[:10]:
            diag("  %s: %s" % (j.label(), why))
    sample = jobs[(s.name, s.algs[-1], "simple/simple", "plain")]
    if sample.signed:
        diag("%s's signature, %s:\n%s" % (
            s.name, sample.label(), show_message(
                di.header_value(sample.signed, "DKIM-Signature"))))

# OpenDKIM, as a milter or in test mode, rebuilds each header field as
# "Name: value" before simple canonicalization (see dkim_interop.py), so
# a DKIM-Signature written any other way ("DKIM-Signature:" CRLF TAB
# "v=1...") fails there with c=simple/...: write it the common way
if not signers[0].missing:
    bad = []
    for (sn, a, c, m), j in sorted(jobs.items()):
        if sn == "postern" and j.signed is not None:
            v = di.header_value(j.signed, "DKIM-Signature")
            if not re.match(rb" v=1;", v):
                bad.append((j.label(), v[:40]))
    if not ok(not bad, "postern writes its signature as 'DKIM-Signature: "
              "v=1; ...' (one space after the colon, as OpenDKIM rebuilds "
              "header fields for simple canonicalization)"):
        diag("  %d of its signatures begin otherwise, e.g. %s: "
             "'DKIM-Signature:%s...'" % (
                 len(bad), bad[0][0],
                 bad[0][1].decode("utf-8", "replace")
                 .replace("\r", "\\r").replace("\n", "\\n")
                 .replace("\t", "\\t")))

# what each verifier is given: signed messages, then tampered ones
cases = []          # (kind, signer, alg, canon, msg name, bytes)
for (sn, a, c, m), j in jobs.items():
    if j.signed is None:
        continue
    cases.append(("signed", sn, a, c, m, j.signed))
    if m == TAMPER_MSG:
        cases.append(("subject", sn, a, c, m, di.tamper_subject(j.signed)))
        cases.append(("body", sn, a, c, m, di.tamper_body(j.signed)))
rfc_msg = di.read_message(os.path.join(FIX, "rfc8463-a3.eml"))
rfc_cases = [("rfc", rfc_msg), ("rfc-body", di.tamper_body(rfc_msg))]

# ----------------------------------------------------------------- verify

verdicts = {}       # (verifier, case index) -> Verdict
rfc_verdicts = {}   # (verifier, kind) -> Verdict
for v in verifiers:
    if v.missing:
        continue
    todo = [i for i, cs in enumerate(cases) if cs[2] in v.algs]
    with section("%s verifies" % v.name):
        got = v.verify_all([cases[i][5] for i in todo] +
                           [m for _, m in rfc_cases])
        for i, vd in zip(todo, got):
            verdicts[(v.name, i)] = vd
        for (kind, _), vd in zip(rfc_cases, got[len(todo):]):
            rfc_verdicts[(v.name, kind)] = vd

# ----------------------------------------------------------------- report

# the matrix: every signer x verifier x alg x canon x message
index = {(cs[0],) + cs[1:5]: i for i, cs in enumerate(cases)}
summary = {}        # (signer, alg, hcanon) -> [failed rows]
known = collections.defaultdict(dict)    # known-bad row -> {verifier: res}
for s in signers:
    for v in verifiers:
        for a in ALGS:
            for c in CANONS:
                for m in MESSAGES:
                    name = "%s -> %s: %s %s %s" % (s.name, v.name, a, c, m)
                    if a not in s.algs or a not in v.algs:
                        continue       # Mail::DKIM and Ed25519
                    if s.missing or v.missing:
                        pt.skip("%s: %s" % (name, s.missing or v.missing))
                        continue
                    j = jobs[(s.name, a, c, m)]
                    why = known_bad(s.name, v.name, a, c, m)
                    if j.signed is None:
                        with pt.todo(why, why is not None):
                            ok(False, name + ": signed")
                        diag("  not signed: %s" % j.error)
                        continue
                    vd = verdicts.get((v.name,
                                       index[("signed", s.name, a, c, m)]))
                    res = vd.result(DOMAIN, SELECTOR[a]) if vd \
                        else "no verdict"
                    if why is not None:
                        known[(s.name, a, c, m)][v.name] = res
                    # a known upstream problem makes a failure TODO; it
                    # depends on the message (where fields fold), so a
                    # pass stays an ordinary pass, not an XPASS
                    with pt.todo(why, why is not None and res != "pass"):
                        if not ok(res == "pass", "%s: pass" % name):
                            explain(s.name, v.name, j.signed, vd,
                                    (res, (DOMAIN, SELECTOR[a])), "pass",
                                    brief=why is not None)
                            if why is None:
                                summary.setdefault(
                                    (s.name, a, c.split("/")[0]),
                                    []).append(name)

# where the signature itself is bad (the libopendkim Ed25519 bug), postern
# must still agree with the other verifiers: its verdict is not excused
with section("postern on the known-bad OpenDKIM signatures"):
    if signers[0].missing:
        pt.skip("postern agrees with the other verifiers on OpenDKIM's "
                "Ed25519 simple-header signatures: %s" % signers[0].missing)
    elif known:
        odd = []
        for k, by in sorted(known.items()):
            if k[0] != "opendkim" or k[1] != "ed25519" or \
                    "postern" not in by:
                continue
            others = {n: r for n, r in by.items() if n != "postern"}
            if others and any(r != by["postern"] for r in others.values()):
                odd.append("%s/%s/%s: postern %s, %s" % (
                    k[1], k[2], k[3], by["postern"], ", ".join(
                        "%s %s" % nr for nr in sorted(others.items()))))
        if not ok(not odd, "postern's verdicts on OpenDKIM's Ed25519 "
                  "simple-header signatures equal every other verifier's"):
            diag("  " + "\n  ".join(odd))

# the known upstream problems, shown once
if any(not x.missing for x in signers + verifiers if x.name == "opendkim"):
    diag("TODO rows above:\n  %s\n  %s" % (KNOWN_ED25519, KNOWN_REBUILD))

# postern's own Ed25519 simple-header signatures: an explicit line
with section("postern Ed25519 simple header"):
    if signers[0].missing:
        pt.skip("postern Ed25519 simple-header signatures: %s" %
                signers[0].missing)
    else:
        rows = [r for k, r in summary.items()
                if k[0] == "postern" and k[1] == "ed25519" and
                k[2] == "simple"]
        rows = [x for r in rows for x in r]
        if not ok(not rows, "postern's Ed25519 signatures with simple "
                  "header canonicalization verify in every verifier "
                  "(the case libopendkim gets wrong)"):
            diag("  failing: " + "; ".join(rows))

# tampered messages: every verifier must say fail
for s in signers:
    for v in verifiers:
        for a in ALGS:
            for c in CANONS:
                for kind in ("subject", "body"):
                    name = "%s -> %s: %s %s %s, %s changed: fail" % (
                        s.name, v.name, a, c, TAMPER_MSG, kind)
                    if a not in s.algs or a not in v.algs:
                        continue
                    if s.missing or v.missing:
                        pt.skip("%s: %s" % (name, s.missing or v.missing))
                        continue
                    i = index.get((kind, s.name, a, c, TAMPER_MSG))
                    if i is None:
                        ok(False, name)
                        diag("  not signed: %s" %
                             jobs[(s.name, a, c, TAMPER_MSG)].error)
                        continue
                    vd = verdicts.get((v.name, i))
                    res = vd.result(DOMAIN, SELECTOR[a]) if vd \
                        else "no verdict"
                    if not ok(res == "fail", name):
                        explain(s.name, v.name, cases[i][5], vd,
                                (res, (DOMAIN, SELECTOR[a])), "fail")

# RFC 8463 Appendix A.3: postern must verify both signatures; the other
# verifiers show that the fixture is the RFC's text
for v in verifiers:
    for a, sel in RFC_SIGS:
        for kind, want in (("rfc", "pass"), ("rfc-body", "fail")):
            name = "RFC 8463 A.3%s, %s signature (s=%s) -> %s: %s" % (
                " with a changed body" if kind != "rfc" else "", a, sel,
                v.name, want)
            if a not in v.algs:
                continue
            if v.missing:
                pt.skip("%s: %s" % (name, v.missing))
                continue
            vd = rfc_verdicts.get((v.name, kind))
            res = vd.result(RFC_DOMAIN, sel) if vd else "no verdict"
            if not ok(res == want, name):
                explain("rfc8463", v.name, rfc_msg if kind == "rfc"
                        else None, vd, (res, (RFC_DOMAIN, sel)), want)

pt.done()
