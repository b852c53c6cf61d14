"""
dkim_interop - DKIM signers and verifiers for t/dkim-interop.t: postern's
t/dkim_tool, Python's dkimpy (python3-dkim), Perl's Mail::DKIM
(t/dkim-interop/maildkim.pl) and OpenDKIM 2.11 (`opendkim -t`, its test
mode), all looking keys up in one test DNS server on 127.0.0.1.

Public:
  keys        Keys (RSA-2048 and Ed25519 pairs made with openssl genpkey,
              their DNS records), zone_file_records (RFC-style TXT records)
  messages    crlf, read_message, header_value, sig_tags, tamper_subject,
              tamper_body
  signers     PosternSigner, DkimpySigner, MailDkimSigner, OpenDkimSigner:
              .name, .algs, .missing (why it cannot run, or None),
              .sign_all(jobs) fills each SignJob's .signed or .error
  verifiers   PosternVerifier, DkimpyVerifier, MailDkimVerifier,
              OpenDkimVerifier: .name, .algs, .missing,
              .verify_all([bytes]) -> [Verdict]
  results     Verdict (per-signature SigResult list, raw output, error),
              parse_authres

Trust: the messages are our fixtures; the programs run are the code under
test, so their output is parsed defensively and shown in diagnostics,
never evaluated.  Every child process has a timeout.

Errors: a signer or verifier that cannot do one message says so in that
job's .error / that Verdict's .error (with the program's output); the
test turns it into a failed TAP line with the details.  Only a missing
program is reported before any work (.missing).

Result words are RFC 8601's (pass, fail, neutral, policy, permerror,
temperror, none) whatever the tool prints: dkimpy's True/False and
exceptions and Mail::DKIM's "invalid" are mapped to them (see each
verifier).

Notes on OpenDKIM (Debian 12: opendkim 2.11.0~beta2, built with libunbound,
USE_UNBOUND in `opendkim -V`):
  - `opendkim -x CONF -t FILE` runs one message through the filter's own
    callbacks without an MTA: it verifies (-b v, the default) and prints
    the Authentication-Results field it would insert (with -vv, as
    "### INSHEADER: ... hname='Authentication-Results' hvalue='...'"), or
    signs (-b s, with -d/-s/-k/-c/-S) and prints the DKIM-Signature field.
  - DNS: with libunbound, `Nameservers 127.0.0.1@PORT` becomes an unbound
    forwarder (ub_ctx_set_fwd takes ADDR@PORT), so keys come from the
    test's unbound and nothing else; queries for names the test zones do
    not hold are refused there (`local-zone: "." refuse`).
  - RequireSafeKeys no: the key files live under /tmp.
  - One process per message (about 13 ms each, run 4 at a time): with
    several files in one run the verdict lines cannot be matched to the
    files reliably (stdout is block-buffered, a message that gets no
    Authentication-Results would shift all the others).
  - Why not the milter driven by miltertest: test mode runs the same
    mlfi_* callbacks, and miltertest cannot send an empty body (it fills
    a skipped body step with random text, and an empty body chunk makes
    libmilter drop the connection).  Driving `opendkim -f` with
    miltertest (all actions and protocol options offered) also showed
    that OpenDKIM 2.11 does not ask for SMFIP_HDR_LEADSPC: it gets header
    values without their leading whitespace and rebuilds every field as
    "Name: value", exactly as test mode does.  So for OpenDKIM, signing
    or verifying, simple header canonicalization only works for fields
    written "Name:" SP value; a signed field written "Name:value",
    "Name:  value", "Name:<TAB>value" or "Name:" CRLF TAB value fails
    (checked with dkimpy signatures over such a field).
"""

import base64
import concurrent.futures
import json
import logging
import os
import re
import shutil
import subprocess

import postern_test as pt

SIGN_TIMEOUT = 60
VERIFY_TIMEOUT = 60
PARALLEL = 4

RESULT_WORDS = ("pass", "fail", "neutral", "policy", "permerror",
                "temperror", "none")


# ------------------------------------------------------------- messages

def crlf(data):
    """crlf - bytes with every line end made CRLF."""
    return re.sub(rb"\r?\n", b"\r\n", data)


def read_message(path):
    """read_message - a fixture file as CRLF bytes."""
    with open(path, "rb") as f:
        return crlf(f.read())


def split_message(msg):
    """split_message - (header bytes incl. final CRLF, body bytes)."""
    i = msg.find(b"\r\n\r\n")
    if i < 0:
        return msg, b""
    return msg[:i + 2], msg[i + 4:]


def header_fields(msg):
    """header_fields - [(name, raw value incl. folds)] in order."""
    head, _ = split_message(msg)
    out = []
    for line in re.split(rb"(?<=\r\n)", head):
        if not line:
            continue
        if line[:1] in (b" ", b"\t") and out:
            out[-1][1] += line
        elif b":" in line:
            k, v = line.split(b":", 1)
            out.append([k, v])
    return [(k.decode("utf-8", "replace"), v) for k, v in out]


def header_value(msg, name, idx=0):
    """header_value - raw value of the idx-th field called name, or None."""
    vals = [v for k, v in header_fields(msg) if k.lower() == name.lower()]
    return vals[idx] if len(vals) > idx else None


def sig_tags(value):
    """sig_tags - a DKIM-Signature value as {tag: value}, whitespace
    removed (enough to read a=, c=, d=, s=)."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    tags = {}
    for part in value.split(";"):
        if "=" in part:
            k, v = part.split("=", 1)
            tags[k.strip()] = re.sub(r"\s+", "", v)
    return tags


def sig_canon(tags):
    """sig_canon - the c= of a tag dict spelled out as "HEADER/BODY"."""
    c = tags.get("c", "simple/simple") or "simple/simple"
    if "/" not in c:
        c += "/simple"
    return c


def tamper_subject(msg):
    """tamper_subject - msg with one letter of the Subject changed."""
    m = re.search(rb"(?im)^subject:[ \t]*\S", msg)
    if not m:
        raise pt.HarnessError("no Subject to tamper with")
    i = m.end() - 1
    return msg[:i] + (b"X" if msg[i:i + 1] != b"X" else b"Y") + msg[i + 1:]


def tamper_body(msg):
    """tamper_body - msg with one visible byte of the body changed (one
    that neither canonicalization can normalize away)."""
    head, body = split_message(msg)
    m = re.search(rb"[A-Za-z0-9]", body)
    if not m:
        return head + b"\r\n" + b"tampered\r\n"
    i = m.start()
    c = body[i:i + 1]
    new = b"Q" if c != b"Q" else b"R"
    return head + b"\r\n" + body[:i] + new + body[i + 1:]


# ------------------------------------------------------------------ keys

def _openssl(*args, stdin=None):
    r = subprocess.run(["openssl"] + list(args), input=stdin,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    if r.returncode != 0:
        raise pt.HarnessError("openssl %s: %s" % (
            " ".join(args), r.stderr.decode("utf-8", "replace")))
    return r.stdout


class Keys:
    """Keys - one RSA-2048 and one Ed25519 key pair in dir.

    rsa_pem, ed_pem    PKCS#8 PEM private key files (mode 0600)
    ed_seed_b64        the raw 32-byte Ed25519 seed, base64 (dkimpy)
    records()          {"rsa": "v=DKIM1; k=rsa; p=...", "ed25519": ...}:
                       SubjectPublicKeyInfo for RSA, the raw 32-byte
                       public key for Ed25519 (RFC 8463 section 4.2)"""

    def __init__(self, dir):
        self.rsa_pem = os.path.join(dir, "rsa.pem")
        self.ed_pem = os.path.join(dir, "ed25519.pem")
        _openssl("genpkey", "-algorithm", "RSA", "-pkeyopt",
                 "rsa_keygen_bits:2048", "-out", self.rsa_pem)
        _openssl("genpkey", "-algorithm", "ED25519", "-out", self.ed_pem)
        for p in (self.rsa_pem, self.ed_pem):
            os.chmod(p, 0o600)
        self.rsa_spki = _openssl("pkey", "-in", self.rsa_pem, "-pubout",
                                 "-outform", "DER")
        ed_spki = _openssl("pkey", "-in", self.ed_pem, "-pubout",
                           "-outform", "DER")
        ed_priv = _openssl("pkey", "-in", self.ed_pem, "-outform", "DER")
        # Ed25519 DER (RFC 8410): the raw key is the last 32 bytes of
        # both the SubjectPublicKeyInfo and the PKCS#8 PrivateKeyInfo
        if len(ed_spki) != 44 or len(ed_priv) != 48:
            raise pt.HarnessError("unexpected Ed25519 DER sizes %d/%d" %
                                  (len(ed_spki), len(ed_priv)))
        self.ed_pub = ed_spki[-32:]
        self.ed_seed_b64 = base64.b64encode(ed_priv[-32:])

    def pem(self, alg):
        return self.rsa_pem if alg == "rsa" else self.ed_pem

    def records(self):
        return {
            "rsa": "v=DKIM1; k=rsa; p=" +
                   base64.b64encode(self.rsa_spki).decode(),
            "ed25519": "v=DKIM1; k=ed25519; p=" +
                       base64.b64encode(self.ed_pub).decode(),
        }


def zone_file_records(path):
    """zone_file_records - [(owner name, [strings])] of the TXT records in
    an RFC-style zone excerpt (owner IN TXT ( "..." "..." ))."""
    with open(path, encoding="ascii") as f:
        text = "\n".join(line.split(";", 1)[0] if not line.lstrip()
                         .startswith('"') else line
                         for line in f.read().split("\n"))
    out = []
    for m in re.finditer(r"(?s)(\S+)\s+IN\s+TXT\s+\((.*?)\)", text):
        out.append((m.group(1).rstrip("."),
                    re.findall(r'"([^"]*)"', m.group(2))))
    return out


# ------------------------------------------------------------------ jobs

ALG_NAMES = {"rsa": "rsa-sha256", "ed25519": "ed25519-sha256"}


class SignJob:
    """SignJob - one message to sign with one key and canonicalization.

    msg_name, msg (CRLF bytes), alg ("rsa" | "ed25519"), canon
    ("relaxed/simple"...), domain, selector, key (PEM path);
    filled by the signer: signed (bytes) or error (text)."""

    def __init__(self, msg_name, msg, alg, canon, domain, selector, key):
        self.msg_name, self.msg = msg_name, msg
        self.alg, self.canon = alg, canon
        self.domain, self.selector, self.key = domain, selector, key
        self.signed = None
        self.error = None

    def label(self):
        return "%s/%s/%s" % (self.alg, self.canon, self.msg_name)


def check_signed(job):
    """check_signed - None if job.signed carries exactly one new
    DKIM-Signature with the a=, c=, d=, s= asked for, else what is
    wrong."""
    if job.signed is None:
        return job.error or "no output"
    before = len([1 for k, _ in header_fields(job.msg)
                  if k.lower() == "dkim-signature"])
    fields = [v for k, v in header_fields(job.signed)
              if k.lower() == "dkim-signature"]
    if len(fields) != before + 1:
        return "%d DKIM-Signature fields, expected %d" % (len(fields),
                                                          before + 1)
    t = sig_tags(fields[0])
    want = {"a": ALG_NAMES[job.alg], "c": job.canon, "d": job.domain,
            "s": job.selector}
    got = {"a": t.get("a"), "c": sig_canon(t), "d": t.get("d"),
           "s": t.get("s")}
    if got != want:
        return "signature tags %r, expected %r" % (got, want)
    if "l" in t:
        return "signature has l=%s" % t["l"]
    return None


def _run(argv, stdin=b"", timeout=SIGN_TIMEOUT):
    """(returncode, stdout bytes, stderr text); rc None on timeout."""
    try:
        r = subprocess.run(argv, input=stdin, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        return None, e.stdout or b"", "timed out after %d s\n%s" % (
            timeout, (e.stderr or b"").decode("utf-8", "replace"))
    except OSError as e:
        return None, b"", "cannot run %s: %s" % (argv[0], e)
    return r.returncode, r.stdout, r.stderr.decode("utf-8", "replace")


def _pmap(fn, items):
    with concurrent.futures.ThreadPoolExecutor(PARALLEL) as ex:
        return list(ex.map(fn, items))


class _Impl:
    name = "?"
    algs = ("rsa", "ed25519")
    missing = None

    def __repr__(self):
        return self.name


# -------------------------------------------------------------- postern

class PosternSigner(_Impl):
    """t/dkim_tool sign -c CANON DOMAIN:SELECTOR:KEYFILE < msg."""
    name = "postern"

    def __init__(self, tool, extra_args=()):
        self.tool = tool
        self.extra_args = list(extra_args)
        if not os.access(tool, os.X_OK):
            self.missing = "%s not built (make t/dkim_tool)" % tool

    def sign_one(self, job):
        argv = [self.tool, "sign", "-c", job.canon] + self.extra_args + \
            ["%s:%s:%s" % (job.domain, job.selector, job.key)]
        rc, out, err = _run(argv, job.msg)
        if rc != 0:
            job.error = "%s exited %s\n%s" % (" ".join(argv), rc, err)
        elif not out:
            job.error = "%s wrote nothing\n%s" % (" ".join(argv), err)
        else:
            job.signed = out

    def sign_all(self, jobs):
        _pmap(self.sign_one, jobs)


class Verdict:
    """Verdict - what one verifier said about one message.

    sigs    [SigResult] in the order the verifier reports them
    raw     the verifier's output (for diagnostics)
    error   None, or why the verifier could not give a verdict"""

    def __init__(self, sigs=None, raw="", error=None):
        self.sigs = sigs or []
        self.raw = raw
        self.error = error

    def find(self, domain, selector):
        """find - the SigResult for d=domain s=selector, or None."""
        for s in self.sigs:
            if s.d.lower() == domain.lower() and s.s == selector:
                return s
        return None

    def result(self, domain, selector):
        """result - the result word for that signature, or "missing"."""
        if self.error:
            return "error"
        s = self.find(domain, selector)
        return s.result if s else "missing"

    def __repr__(self):
        return "Verdict(%r, error=%r)" % (self.sigs, self.error)


class SigResult:
    def __init__(self, result, d="", s="", detail=""):
        self.result, self.d, self.s, self.detail = result, d, s, detail

    def __repr__(self):
        return "%s d=%s s=%s (%s)" % (self.result, self.d, self.s,
                                      self.detail)


class PosternVerifier(_Impl):
    """t/dkim_tool verify -n ADDR:PORT -a AUTHSERV_ID < msg: line 1 is the
    Authentication-Results value, then one line per signature:
    RESULT d=DOMAIN s=SELECTOR reason=..., then outcome=WORD."""
    name = "postern"

    def __init__(self, tool, dns_addr, authserv_id="test.example"):
        self.tool = tool
        self.dns_addr = dns_addr
        self.authserv_id = authserv_id
        if not os.access(tool, os.X_OK):
            self.missing = "%s not built (make t/dkim_tool)" % tool

    def verify_one(self, msg):
        argv = [self.tool, "verify", "-n", self.dns_addr, "-a",
                self.authserv_id]
        rc, out, err = _run(argv, msg, VERIFY_TIMEOUT)
        text = out.decode("utf-8", "replace")
        raw = "$ %s\n%s%s" % (" ".join(argv), text,
                              ("stderr: " + err) if err else "")
        if rc != 0:
            return Verdict(raw=raw, error="exit status %s" % rc)
        lines = text.split("\n")
        sigs = []
        for line in lines[1:]:
            m = re.match(r"^(\w+) d=(\S*) s=(\S*)(?: reason=(.*))?$",
                         line.strip())
            if line.startswith("outcome="):
                continue
            if m:
                sigs.append(SigResult(m.group(1).lower(), m.group(2),
                                      m.group(3), m.group(4) or ""))
            elif line.strip():
                return Verdict(sigs, raw, "unexpected output line %r" %
                               line)
        # the Authentication-Results line must agree with the list
        ar = parse_authres(lines[0]) if lines else []
        if sorted((r.result, r.d, r.s) for r in ar) != \
                sorted((r.result, r.d.lower(), r.s) for r in sigs) and \
                sigs:
            return Verdict(sigs, raw, "Authentication-Results line does "
                           "not match the per-signature lines")
        return Verdict(sigs, raw)

    def verify_all(self, msgs):
        return _pmap(self.verify_one, msgs)


# --------------------------------------------------------------- dkimpy

def _dkimpy():
    try:
        import dkim
        return dkim
    except ImportError:
        return None


class _ListHandler(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record.getMessage())


class DkimpySigner(_Impl):
    """dkim.sign() in this process; the Ed25519 key is the raw seed."""
    name = "dkimpy"

    def __init__(self, keys):
        self.keys = keys
        self.dkim = _dkimpy()
        if self.dkim is None:
            self.missing = "python3-dkim not installed"

    def sign_one(self, job):
        dkim = self.dkim
        if job.alg == "rsa":
            key = open(job.key, "rb").read()
        else:
            key = self.keys.ed_seed_b64
        try:
            field = dkim.sign(
                job.msg, job.selector.encode(), job.domain.encode(), key,
                canonicalize=tuple(c.encode() for c in job.canon.split("/")),
                signature_algorithm=ALG_NAMES[job.alg].encode(),
                linesep=b"\r\n")
        except Exception as e:
            job.error = "dkim.sign: %s: %s" % (type(e).__name__, e)
            return
        if not field.endswith(b"\r\n"):
            field += b"\r\n"
        job.signed = field + job.msg

    def sign_all(self, jobs):
        for j in jobs:
            self.sign_one(j)


class DkimpyVerifier(_Impl):
    """dkim.DKIM(msg).verify(idx) for each DKIM-Signature, keys through
    a dnsfunc asking the test DNS over TCP (no system resolver).
    Mapping: True -> pass; False or "body hash mismatch" -> fail;
    a key that cannot be used (KeyFormatError...) -> permerror; a DNS
    failure -> temperror; other DKIMException (bad tags, expired) ->
    permerror."""
    name = "dkimpy"

    def __init__(self, dns_port):
        self.dns_port = dns_port
        self.dkim = _dkimpy()
        if self.dkim is None:
            self.missing = "python3-dkim not installed"
        else:
            try:
                import nacl.signing          # noqa: F401
            except ImportError:
                self.algs = ("rsa",)

    def dnsfunc(self, name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode("ascii", "replace")
        r = pt.dns_query(self.dns_port, name.rstrip("."), "TXT",
                         timeout=timeout, tcp=True)
        if r is None:
            raise self.dkim.DnsTimeoutError("no answer for %s" % name) \
                if hasattr(self.dkim, "DnsTimeoutError") else \
                OSError("DNS timeout for %s" % name)
        txt = r.txt()
        if not txt:
            return None
        return txt[0].encode("utf-8", "surrogateescape")

    def verify_one(self, msg):
        dkim = self.dkim
        log = logging.getLogger("dkimpy-verify")
        log.propagate = False
        log.setLevel(logging.DEBUG)
        h = _ListHandler()
        log.handlers = [h]
        n = len([1 for k, _ in header_fields(msg)
                 if k.lower() == "dkim-signature"])
        sigs = []
        for idx in range(n):
            v = header_value(msg, "DKIM-Signature", idx)
            t = sig_tags(v)
            d = dkim.DKIM(msg, logger=log, minkey=1024)
            try:
                ok = d.verify(idx=idx, dnsfunc=self.dnsfunc)
                res = "pass" if ok else "fail"
                detail = "" if ok else "signature did not verify"
            except dkim.ValidationError as e:
                res = "fail" if "body hash mismatch" in str(e) \
                    else "permerror"
                detail = "%s: %s" % (type(e).__name__, e)
            except dkim.KeyFormatError as e:
                res, detail = "permerror", "%s: %s" % (type(e).__name__, e)
            except dkim.DKIMException as e:
                res = "temperror" if "DnsTimeout" in type(e).__name__ \
                    else "permerror"
                detail = "%s: %s" % (type(e).__name__, e)
            except OSError as e:
                res, detail = "temperror", str(e)
            sigs.append(SigResult(res, t.get("d", ""), t.get("s", ""),
                                  detail))
        raw = "dkimpy: %s\nlog:\n%s" % (sigs, "\n".join(
            r for r in h.records if "body hashed" not in r)[-3000:])
        return Verdict(sigs, raw)

    def verify_all(self, msgs):
        return [self.verify_one(m) for m in msgs]


# ------------------------------------------------------------ Mail::DKIM

def _perl_has(*modules):
    argv = ["perl"] + ["-M%s" % m for m in modules] + ["-e", "1"]
    try:
        return subprocess.run(argv, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL,
                              timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


class _MailDkim(_Impl):
    name = "maildkim"
    algs = ("rsa",)          # 1.20230212 predates Ed25519

    def __init__(self, helper, dns_port, tmp):
        self.helper = helper
        self.dns_port = dns_port
        self.dir = tmp.sub("maildkim")
        if shutil.which("perl") is None:
            self.missing = "perl not installed"
        elif not _perl_has("Mail::DKIM::Verifier", "Net::DNS", "JSON::PP"):
            self.missing = "libmail-dkim-perl (Mail::DKIM) not installed"

    def _call(self, mode, jobs):
        req = json.dumps({"mode": mode, "dns_port": self.dns_port,
                          "jobs": jobs}).encode()
        rc, out, err = _run(["perl", self.helper], req,
                            timeout=30 + 5 * len(jobs))
        try:
            reply = json.loads(out.decode("utf-8", "replace"))
            res = {r["in"]: r for r in reply["results"]}
        except (ValueError, KeyError, TypeError) as e:
            raise pt.HarnessError("maildkim.pl %s: exit %s, bad reply (%s)"
                                  "\nstdout: %s\nstderr: %s" % (
                                      mode, rc, e, out[:2000], err[-2000:]))
        return res, err


class MailDkimSigner(_MailDkim):
    """Mail::DKIM::Signer through maildkim.pl, one perl run for all."""

    def sign_all(self, jobs):
        reqs = []
        for i, j in enumerate(jobs):
            inp = os.path.join(self.dir, "sign-%d.in" % i)
            with open(inp, "wb") as f:
                f.write(j.msg)
            reqs.append({"in": inp, "out": inp[:-3] + ".out",
                         "key": j.key, "domain": j.domain,
                         "selector": j.selector, "canon": j.canon,
                         "alg": ALG_NAMES[j.alg]})
        res, err = self._call("sign", reqs)
        for j, r in zip(jobs, reqs):
            got = res.get(r["in"])
            if not got or not got.get("ok"):
                j.error = "Mail::DKIM::Signer: %s\n%s" % (
                    (got or {}).get("error", "no result"), err[-1000:])
                continue
            with open(r["out"], "rb") as f:
                j.signed = f.read()


class MailDkimVerifier(_MailDkim):
    """Mail::DKIM::Verifier through maildkim.pl, one perl run for all.
    Mapping: pass, fail, temperror as they are; "invalid" (a signature
    it cannot check: bad tags, no key, bad key) -> permerror, or neutral
    when the detail speaks of syntax."""

    def verify_all(self, msgs):
        reqs = []
        for i, m in enumerate(msgs):
            inp = os.path.join(self.dir, "verify-%d.eml" % i)
            with open(inp, "wb") as f:
                f.write(m)
            reqs.append({"in": inp})
        res, err = self._call("verify", reqs)
        out = []
        for r in reqs:
            got = res.get(r["in"])
            raw = "Mail::DKIM: %s" % json.dumps(got, sort_keys=True)
            if not got or not got.get("ok"):
                out.append(Verdict(raw=raw + "\n" + err[-1000:],
                                   error=(got or {}).get("error",
                                                         "no result")))
                continue
            sigs = []
            for s in got.get("sigs", []):
                res_word = s.get("result", "")
                if res_word == "invalid":
                    res_word = "neutral" if "syntax" in \
                        s.get("detail", "") else "permerror"
                sigs.append(SigResult(res_word, s.get("d", ""),
                                      s.get("s", ""), s.get("detail", "")))
            out.append(Verdict(sigs, raw))
        return out


# -------------------------------------------------------------- OpenDKIM

def parse_authres(value):
    """parse_authres - the dkim= method results of an
    Authentication-Results value: [SigResult(result, d, s, reason)]."""
    if value is None:
        return []
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    value = re.sub(r"\s+", " ", value)
    # drop comments (no nesting in what OpenDKIM or postern write)
    value = re.sub(r"\([^()]*\)", "", value)
    out = []
    for part in value.split(";")[1:]:
        m = re.match(r"\s*dkim\s*=\s*(\w+)", part)
        if not m:
            continue
        d = re.search(r"header\.d=([^\s;]+)", part)
        s = re.search(r"header\.s=([^\s;]+)", part)
        why = re.search(r'reason="([^"]*)"', part)
        out.append(SigResult(m.group(1).lower(),
                             d.group(1).lower() if d else "",
                             s.group(1) if s else "",
                             why.group(1) if why else ""))
    return out


class _OpenDkim(_Impl):
    name = "opendkim"

    def __init__(self, dns_port, tmp):
        self.dns_port = dns_port
        self.dir = tmp.sub("opendkim")
        self.exe = shutil.which("opendkim", path=os.environ.get(
            "PATH", "") + ":/usr/sbin:/sbin")
        self.conf = os.path.join(self.dir, "opendkim.conf")
        if self.exe is None:
            self.missing = "opendkim not installed"
            return
        with open(self.conf, "w") as f:
            f.write("# written by t/lib/dkim_interop.py\n"
                    "Nameservers 127.0.0.1@%d\n"
                    "Syslog no\n"
                    "RequireSafeKeys no\n"
                    "AuthservID test.example\n"
                    "MinimumKeyBits 1024\n" % dns_port)


class OpenDkimSigner(_OpenDkim):
    """opendkim -b s -d D -s S -k KEY -c CANON [-S ed25519-sha256] -t FILE,
    one process per message; the DKIM-Signature field it prints (LF
    folds) is prepended with CRLF line ends."""

    def sign_one(self, args):
        i, job = args
        path = os.path.join(self.dir, "sign-%d.eml" % i)
        with open(path, "wb") as f:
            f.write(job.msg)
        argv = [self.exe, "-x", self.conf, "-b", "s", "-d", job.domain,
                "-s", job.selector, "-k", job.key, "-c", job.canon,
                "-S", ALG_NAMES[job.alg], "-t", path]
        rc, out, err = _run(argv)
        text = out.decode("utf-8", "replace") + err
        m = re.search(r"(?ms)^(DKIM-Signature:.*?)\n(?![ \t])", text)
        if rc != 0 or not m:
            job.error = "%s: exit %s\n%s" % (" ".join(argv), rc, text)
            return
        job.signed = crlf(m.group(1).encode("utf-8", "surrogateescape")) \
            + b"\r\n" + job.msg

    def sign_all(self, jobs):
        base = getattr(self, "n", 0)
        self.n = base + len(jobs)
        _pmap(self.sign_one, [(base + i, j) for i, j in enumerate(jobs)])


class OpenDkimVerifier(_OpenDkim):
    """opendkim -vv -t FILE, one process per message; reads the
    Authentication-Results field it would insert.  No field at all is
    an error (OpenDKIM adds none when a key lookup fails temporarily)."""

    def __init__(self, dns_port, tmp):
        super().__init__(dns_port, tmp)
        self.n = 0

    def verify_one(self, args):
        i, msg = args
        path = os.path.join(self.dir, "verify-%d.eml" % i)
        with open(path, "wb") as f:
            f.write(msg)
        argv = [self.exe, "-x", self.conf, "-vv", "-t", path]
        rc, out, err = _run(argv, b"", VERIFY_TIMEOUT)
        text = out.decode("utf-8", "replace")
        # -vv also logs every callback's return on stderr: leave those out
        err = "\n".join(x for x in err.split("\n")
                        if x.strip() and "() returned SMFIS_" not in x)
        raw = "$ %s\n%s%s" % (" ".join(argv), text,
                              ("stderr: " + err[-1500:]) if err else "")
        if rc != 0:
            return Verdict(raw=raw, error="exit status %s" % rc)
        ars = re.findall(r"(?s)### INSHEADER: idx=\d+ "
                         r"hname='Authentication-Results' hvalue='(.*?)'\n",
                         text)
        if not ars:
            return Verdict(raw=raw, error="no Authentication-Results")
        sigs = []
        for a in ars:
            sigs.extend(parse_authres(a))
        return Verdict(sigs, raw)

    def verify_all(self, msgs):
        base = self.n
        self.n += len(msgs)
        return _pmap(self.verify_one, [(base + i, m)
                                       for i, m in enumerate(msgs)])
