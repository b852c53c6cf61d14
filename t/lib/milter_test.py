"""
milter_test - helpers for postern's milter tests (TAP scripts in t/).

Public:
  protocol   MilterClient (the MTA side of the Sendmail milter protocol,
             version 6), MilterResult, send_message
  DKIM       KeyPair (keys made with the openssl command), Message,
             dkim_sign (our own small RFC 6376 signer: any tag list, so
             hostile-but-cryptographically-valid signatures can be built),
             dkimpy_sign, dkimpy_verify, parse_authres
  daemons    dkim_path, start_dkim, run_lua (miltertest scripts in
             t/milter/, whose output lines become TAP tests)

Trust: the milter under test is the code tested; every read from it is
bounded in size (MAX_PACKET) and time (the socket timeout), and a
malformed reply raises MilterError instead of being interpreted.

Protocol notes (libmilter 8.17, mfdef.h): a packet is a 4-byte length
(command byte included) then the command byte and its data.  The MTA
sends macros ('D' + the command they belong to + name/value pairs)
before the command itself; they get no reply.  Header values are sent
the way Postfix sends them: folds as LF + whitespace, and without the
space after the colon unless the milter negotiated SMFIP_HDR_LEADSPC.
Every step but the macros gets one reply unless the milter negotiated
the matching SMFIP_NR_* bit; at end of message the milter sends its
modification requests, then one final reply ('a', 'c', 'r', 't', 'd' or
'y' with an SMTP reply text).

Errors: harness problems raise MilterError or postern_test.HarnessError.
"""

import base64
import hashlib
import os
import re
import socket
import struct
import subprocess
import time

import postern_test as pt

MAX_PACKET = 16 * 1024 * 1024

# SMFIP_* protocol bits
P_NOCONNECT = 0x1
P_NOHELO = 0x2
P_NOMAIL = 0x4
P_NORCPT = 0x8
P_NOBODY = 0x10
P_NOHDRS = 0x20
P_NOEOH = 0x40
P_NR_HDR = 0x80
P_NOUNKNOWN = 0x100
P_NODATA = 0x200
P_SKIP = 0x400
P_RCPT_REJ = 0x800
P_NR_CONN = 0x1000
P_NR_HELO = 0x2000
P_NR_MAIL = 0x4000
P_NR_RCPT = 0x8000
P_NR_DATA = 0x10000
P_NR_UNKN = 0x20000
P_NR_EOH = 0x40000
P_NR_BODY = 0x80000
P_HDR_LEADSPC = 0x100000
P_MDS_256K = 0x10000000
P_MDS_1M = 0x20000000

ALL_ACTIONS = 0x1FF
ALL_PROTOCOL = 0x001FFFFF

FINAL = {"a": "accept", "c": "continue", "r": "reject", "t": "tempfail",
         "d": "discard", "y": "reply", "f": "connfail", "4": "shutdown"}


class MilterError(Exception):
    """The milter broke the protocol, closed the connection or timed
    out."""


class MilterResult:
    """MilterResult - what one message got.

    action     "accept", "continue", "reject", "tempfail", "discard",
               "reply" (an SMTP reply given with 'y') or "closed" (the
               milter dropped the connection: the MTA would apply its
               default action)
    stage      the step the decision came at ("eom", "header", ...)
    reply      the 'y' text ("550 5.7.1 ..."), or None
    code       the SMTP code: from reply, 550 for 'r', 451 for 't', None
    inserted   [(index, name, value)] from SMFIR_INSHEADER, in order
    added      [(name, value)] from SMFIR_ADDHEADER
    changed    [(index, name, value)] from SMFIR_CHGHEADER (value ""
               deletes the index-th header of that name, 1-based)
    quarantine the reason, or None
    mods       every modification request in order: (cmd, data)"""

    def __init__(self):
        self.action = None
        self.stage = None
        self.reply = None
        self.code = None
        self.inserted = []
        self.added = []
        self.changed = []
        self.quarantine = None
        self.mods = []
        self.error = None

    def headers_named(self, name):
        """headers_named - values of inserted + added headers of a name,
        inserted first, in the order sent."""
        n = name.lower()
        return [v for _, k, v in self.inserted if k.lower() == n] + \
            [v for k, v in self.added if k.lower() == n]

    def deleted(self, name):
        """deleted - the 1-based indexes of `name` headers deleted."""
        return [i for i, k, v in self.changed
                if k.lower() == name.lower() and v == ""]

    def authres(self):
        """authres - the Authentication-Results values added."""
        return self.headers_named("Authentication-Results")

    def dkim_sigs(self):
        return self.headers_named("DKIM-Signature")

    def rejected(self):
        return self.action in ("reject", "tempfail", "reply") and \
            self.code is not None

    def apply(self, headers):
        """apply - the header list [(name, value)] after this result's
        changes (inserts at their index, adds at the end, changes and
        deletions by per-name 1-based index)."""
        hs = list(headers)
        for cmd, data in self.mods:
            if cmd == "m":
                idx, name, value = data
                seen = 0
                for j, (k, v) in enumerate(hs):
                    if k.lower() == name.lower():
                        seen += 1
                        if seen == idx:
                            if value == "":
                                del hs[j]
                            else:
                                hs[j] = (k, _lead(value))
                            break
            elif cmd == "i":
                idx, name, value = data
                hs.insert(min(idx, len(hs)), (name, _lead(value)))
            elif cmd == "h":
                name, value = data
                hs.append((name, _lead(value)))
        return hs

    def __repr__(self):
        return "MilterResult(%s at %s%s, %d ins, %d add, %d chg%s)" % (
            self.action, self.stage,
            ", %r" % self.reply if self.reply else "",
            len(self.inserted), len(self.added), len(self.changed),
            ", quarantine %r" % self.quarantine
            if self.quarantine is not None else "")


def _lead(value):
    """A header value as an MTA writes it: one space after the colon
    unless the value starts with whitespace."""
    return value if value[:1] in (" ", "\t") else " " + value


def _cstr(s):
    if isinstance(s, str):
        s = s.encode("utf-8", "surrogateescape")
    return s + b"\0"


def _split0(data):
    parts = data.split(b"\0")
    return [p.decode("utf-8", "replace") for p in parts]


class MilterClient:
    """MilterClient - one milter connection, the MTA side.

    addr       "unix:/path", "inet:HOST:PORT", "inet:PORT@HOST" or a port
    actions    SMFIF_* offered; protocol: SMFIP_* offered
    After negotiate(): .version, .actions, .protocol (what the milter
    asked for).  Then the steps: connect_info, helo, mail, rcpt, data,
    header, eoh, body, eom (each returns the reply letter, or None when
    the milter asked for no reply), or message() for all of them."""

    def __init__(self, addr, timeout=30.0, actions=ALL_ACTIONS,
                 protocol=ALL_PROTOCOL, fold="\n", negotiate=True):
        self.timeout = timeout
        self.fold = fold
        self.sock = _connect(addr, timeout)
        self.offer_actions = actions
        self.offer_protocol = protocol
        self.version = self.actions = self.protocol = None
        self.macro_lists = {}
        if negotiate:
            self.negotiate()

    # -- packets
    def send(self, cmd, data=b""):
        pkt = struct.pack(">I", len(data) + 1) + cmd.encode() + data
        try:
            self.sock.sendall(pkt)
        except OSError as e:
            raise MilterError("send %r: %s" % (cmd, e))

    def _recv_exact(self, n):
        out = b""
        while len(out) < n:
            try:
                chunk = self.sock.recv(min(n - len(out), 1 << 20))
            except socket.timeout:
                raise MilterError("timeout reading from the milter")
            except OSError as e:
                raise MilterError("read: %s" % e)
            if not chunk:
                raise MilterError("connection closed by the milter")
            out += chunk
        return out

    def recv(self):
        """recv - (cmd, data) of the next packet."""
        n = struct.unpack(">I", self._recv_exact(4))[0]
        if n < 1 or n > MAX_PACKET:
            raise MilterError("bad packet length %d" % n)
        body = self._recv_exact(n)
        return chr(body[0]), body[1:]

    # -- negotiation
    def negotiate(self, version=6):
        self.send("O", struct.pack(">III", version, self.offer_actions,
                                   self.offer_protocol))
        cmd, data = self.recv()
        if cmd != "O" or len(data) < 12:
            raise MilterError("bad option negotiation reply %r %r" %
                              (cmd, data[:40]))
        self.version, self.actions, self.protocol = struct.unpack(
            ">III", data[:12])
        rest = data[12:]
        while len(rest) >= 4:
            stage = struct.unpack(">I", rest[:4])[0]
            names, _, rest = rest[4:].partition(b"\0")
            self.macro_lists[stage] = names.decode("ascii", "replace")
        return self

    def wants(self, bit):
        return bool(self.protocol & bit)

    def macros(self, cmd, macros):
        """macros - send macros for step cmd ('C', 'H', 'M', 'R', 'T',
        'L', 'N', 'E'); macros is a dict or list of (name, value)."""
        if not macros:
            return
        items = macros.items() if isinstance(macros, dict) else macros
        data = cmd.encode()
        for k, v in items:
            data += _cstr(k) + _cstr(v)
        self.send("D", data)

    def _step(self, cmd, data, nr_bit):
        self.send(cmd, data)
        if nr_bit and self.wants(nr_bit):
            return None
        while True:
            rcmd, rdata = self.recv()
            if rcmd == "p":
                continue
            self.last_data = rdata
            return rcmd

    def connect_info(self, host="client.example.net", ip="192.0.2.1",
                     port=40000):
        if self.wants(P_NOCONNECT):
            return "c"
        if ip is None:
            data = _cstr(host) + b"U"
        else:
            fam = b"6" if ":" in ip else b"4"
            data = _cstr(host) + fam + struct.pack(">H", port) + _cstr(ip)
        return self._step("C", data, P_NR_CONN)

    def helo(self, name="client.example.net"):
        if self.wants(P_NOHELO):
            return "c"
        return self._step("H", _cstr(name), P_NR_HELO)

    def mail(self, sender="<alice@example.com>", *args):
        if self.wants(P_NOMAIL):
            return "c"
        return self._step("M", b"".join(_cstr(a) for a in (sender,) + args),
                          P_NR_MAIL)

    def rcpt(self, rcpt="<bob@example.net>", *args):
        if self.wants(P_NORCPT):
            return "c"
        return self._step("R", b"".join(_cstr(a) for a in (rcpt,) + args),
                          P_NR_RCPT)

    def data(self):
        if self.wants(P_NODATA):
            return "c"
        return self._step("T", b"", P_NR_DATA)

    def header(self, name, value):
        """header - value as in the message after the colon (leading
        space, folds as CRLF or LF): sent Postfix's way."""
        if self.wants(P_NOHDRS):
            return "c"
        v = value.replace("\r\n", "\n").replace("\n", self.fold) \
            if isinstance(value, str) else value
        if not self.wants(P_HDR_LEADSPC) and v[:1] == " ":
            v = v[1:]
        return self._step("L", _cstr(name) + _cstr(v), P_NR_HDR)

    def eoh(self):
        if self.wants(P_NOEOH):
            return "c"
        return self._step("N", b"", P_NR_EOH)

    def body(self, chunk):
        if self.wants(P_NOBODY):
            return "c"
        return self._step("B", chunk, P_NR_BODY)

    def eom(self, result):
        """eom - end of message: collect modification requests into
        result until the final reply."""
        self.send("E")
        while True:
            cmd, data = self.recv()
            if cmd == "p":
                continue
            if cmd in FINAL:
                _final(result, cmd, data, "eom")
                return cmd
            if cmd == "i":
                idx = struct.unpack(">I", data[:4])[0]
                name, value = _split0(data[4:])[:2]
                result.inserted.append((idx, name, value))
                result.mods.append(("i", (idx, name, value)))
            elif cmd == "h":
                name, value = _split0(data)[:2]
                result.added.append((name, value))
                result.mods.append(("h", (name, value)))
            elif cmd == "m":
                idx = struct.unpack(">I", data[:4])[0]
                name, value = _split0(data[4:])[:2]
                result.changed.append((idx, name, value))
                result.mods.append(("m", (idx, name, value)))
            elif cmd == "q":
                result.quarantine = _split0(data)[0]
                result.mods.append(("q", result.quarantine))
            else:
                result.mods.append((cmd, data))

    def abort(self):
        self.send("A")

    def quit(self):
        try:
            self.send("Q")
        except MilterError:
            pass
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # -- a whole message
    def message(self, headers, body=b"", client_ip="192.0.2.1",
                client_host="client.example.net", helo=None,
                sender="<alice@example.com>", rcpts=("<bob@example.net>",),
                connect_macros=None, helo_macros=None, mail_macros=None,
                rcpt_macros=None, eoh_macros=None, eom_macros=None,
                chunk=65535, new_connection=True):
        """message - one transaction (the connect/helo steps only when
        new_connection); returns a MilterResult."""
        r = MilterResult()
        steps = []
        if new_connection:
            steps.append(("connect", lambda: (
                self.macros("C", connect_macros),
                self.connect_info(client_host, client_ip))[1]))
            steps.append(("helo", lambda: (
                self.macros("H", helo_macros),
                self.helo(helo or client_host))[1]))
        steps.append(("mail", lambda: (self.macros("M", mail_macros),
                                       self.mail(sender))[1]))
        for rc in rcpts:
            steps.append(("rcpt", lambda rc=rc: (
                self.macros("R", rcpt_macros), self.rcpt(rc))[1]))
        steps.append(("data", self.data))
        for name, value in headers:
            steps.append(("header", lambda n=name, v=value:
                          self.header(n, v)))
        steps.append(("eoh", lambda: (self.macros("N", eoh_macros),
                                      self.eoh())[1]))
        if isinstance(body, str):
            body = body.encode("utf-8")
        for i in range(0, len(body), chunk):
            steps.append(("body", lambda c=body[i:i + chunk]: self.body(c)))
        skipping = [False]
        try:
            for stage, fn in steps:
                if stage == "body" and skipping[0]:
                    continue
                rc = fn()
                if rc is None or rc == "c":
                    continue
                if rc == "s" and stage == "body":
                    skipping[0] = True
                    continue
                if rc in FINAL:
                    _final(r, rc, getattr(self, "last_data", b""), stage)
                    return r
                raise MilterError("unexpected reply %r at %s" % (rc, stage))
            self.macros("E", eom_macros)
            self.eom(r)
        except MilterError as e:
            r.action = "closed"
            r.error = str(e)
        return r


def _final(r, cmd, data, stage):
    r.action = FINAL[cmd]
    r.stage = stage
    if cmd == "y":
        r.reply = _split0(data)[0]
        m = re.match(r"(\d{3})", r.reply)
        r.code = int(m.group(1)) if m else None
    elif cmd == "r":
        r.code = 550
    elif cmd == "t":
        r.code = 451


def _connect(addr, timeout):
    if isinstance(addr, int):
        fam, sa = socket.AF_INET, ("127.0.0.1", addr)
    else:
        s = str(addr)
        if s.startswith("unix:") or s.startswith("local:"):
            fam, sa = socket.AF_UNIX, s.split(":", 1)[1]
        elif s.startswith("/"):
            fam, sa = socket.AF_UNIX, s
        else:
            if s.startswith("inet:"):
                s = s[5:]
            if "@" in s:
                port, host = s.split("@", 1)
            else:
                host, _, port = s.rpartition(":")
            fam, sa = socket.AF_INET, (host or "127.0.0.1", int(port))
    deadline = time.monotonic() + timeout
    while True:
        sock = socket.socket(fam, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(sa)
            return sock
        except OSError as e:
            sock.close()
            if time.monotonic() > deadline:
                raise MilterError("cannot connect to %s: %s" % (addr, e))
            time.sleep(0.1)


def send_message(addr, headers, body=b"", timeout=30.0, **kw):
    """send_message - one message on a new connection (then QUIT); a
    MilterResult ("closed" if the milter dropped the connection)."""
    try:
        c = MilterClient(addr, timeout=timeout,
                         protocol=kw.pop("protocol", ALL_PROTOCOL))
    except MilterError as e:
        r = MilterResult()
        r.action = "closed"
        r.error = str(e)
        return r
    try:
        return c.message(headers, body, **kw)
    finally:
        c.quit()


# ----------------------------------------------------------------- keys

def _run(argv, data=None):
    r = subprocess.run(argv, input=data, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    if r.returncode != 0:
        raise pt.HarnessError("%s failed: %s" % (" ".join(argv),
                                                  r.stderr.decode()))
    return r.stdout


class KeyPair:
    """KeyPair - a private key made by `openssl genpkey` (mode 0600).

    alg      "rsa" (bits) or "ed25519"
    .path, .alg, .bits, .pem (bytes), .record ("v=DKIM1; k=...; p=...")
    .pub_b64 (the p= value), .dkimpy_key (what dkimpy's sign wants)."""

    def __init__(self, path, alg="rsa", bits=2048):
        self.path = path
        self.alg = alg
        self.bits = bits if alg == "rsa" else 256
        if alg == "rsa":
            _run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                  "rsa_keygen_bits:%d" % bits, "-out", path])
        else:
            _run(["openssl", "genpkey", "-algorithm", "ed25519",
                  "-out", path])
        os.chmod(path, 0o600)
        with open(path, "rb") as f:
            self.pem = f.read()
        der = _run(["openssl", "pkey", "-in", path, "-pubout",
                    "-outform", "DER"])
        if alg == "rsa":
            self.pub_b64 = base64.b64encode(der).decode()
            self.record = "v=DKIM1; k=rsa; p=" + self.pub_b64
            self.dkimpy_key = self.pem
        else:
            self.pub_b64 = base64.b64encode(der[-32:]).decode()
            self.record = "v=DKIM1; k=ed25519; p=" + self.pub_b64
            priv = _run(["openssl", "pkey", "-in", path, "-outform", "DER"])
            self.seed = priv[-32:]
            self.dkimpy_key = base64.b64encode(self.seed)
        self._crypto = None

    def crypto_key(self):
        if self._crypto is None:
            from cryptography.hazmat.primitives import serialization
            self._crypto = serialization.load_pem_private_key(self.pem,
                                                              None)
        return self._crypto

    def sign_raw(self, data, hashalg="sha256"):
        """sign_raw - the signature of data: RSA PKCS#1 v1.5 over the
        hash; Ed25519 (RFC 8463) over the SHA-256 of data."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding
        k = self.crypto_key()
        if self.alg == "rsa":
            h = hashes.SHA1() if hashalg == "sha1" else hashes.SHA256()
            return k.sign(data, padding.PKCS1v15(), h)
        return k.sign(hashlib.sha256(data).digest())


# ------------------------------------------------------------- messages

class Message:
    """Message - headers [(name, raw value after the colon, with its
    leading space; folds as CRLF + WSP)] and a body (bytes, CRLF)."""

    def __init__(self, headers, body):
        self.headers = [(k, v) for k, v in headers]
        self.body = body if isinstance(body, bytes) else body.encode()

    @classmethod
    def simple(cls, frm="Alice <alice@example.com>",
               to="Bob <bob@example.net>", subject="test message",
               body="Hello.\r\nThis is a test.\r\n", extra=(),
               msgid=None):
        hs = [("From", " " + frm), ("To", " " + to),
              ("Subject", " " + subject),
              ("Date", " Mon, 02 Jun 2025 10:00:00 +0000"),
              ("Message-ID", " <%s>" % (msgid or "%d.%d@example.com" % (
                  os.getpid(), int(time.time() * 1e6))))]
        hs += list(extra)
        return cls(hs, body)

    def copy(self):
        return Message(list(self.headers), self.body)

    def bytes(self):
        out = b""
        for k, v in self.headers:
            out += k.encode() + b":" + v.replace("\r\n", "\n").replace(
                "\n", "\r\n").encode("utf-8", "surrogateescape") + b"\r\n"
        return out + b"\r\n" + self.body

    @classmethod
    def parse(cls, raw):
        """parse - from a raw message (CRLF or LF)."""
        raw = raw.replace(b"\r\n", b"\n")
        head, _, body = raw.partition(b"\n\n")
        hs = []
        for line in head.split(b"\n"):
            line = line.decode("utf-8", "surrogateescape")
            if line[:1] in (" ", "\t") and hs:
                hs[-1] = (hs[-1][0], hs[-1][1] + "\r\n" + line)
            elif ":" in line:
                k, v = line.split(":", 1)
                hs.append((k, v))
        return cls(hs, body.replace(b"\n", b"\r\n"))

    def with_header(self, name, value, top=True):
        m = self.copy()
        h = (name, value if value[:1] in (" ", "\t") else " " + value)
        if top:
            m.headers.insert(0, h)
        else:
            m.headers.append(h)
        return m

    def send(self, addr, **kw):
        """send - through a milter (send_message)."""
        return send_message(addr, self.headers, self.body, **kw)


def _relaxed_header(name, value):
    v = value.replace("\r\n", "").replace("\n", "")
    v = re.sub(r"[ \t]+", " ", v).strip(" ")
    return name.strip().lower() + ":" + v


def _relaxed_body(body):
    lines = body.split(b"\r\n")
    if lines and lines[-1] == b"":
        lines.pop()
    out = [re.sub(rb"[ \t]+", b" ", ln).rstrip(b" ") for ln in lines]
    while out and out[-1] == b"":
        out.pop()
    return b"".join(ln + b"\r\n" for ln in out)


def _simple_body(body):
    while body.endswith(b"\r\n\r\n"):
        body = body[:-2]
    if body == b"" or body == b"\r\n":
        return b"\r\n"
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    return body


def canon_body(body, canon="relaxed"):
    return _relaxed_body(body) if canon == "relaxed" else _simple_body(body)


def dkim_sign(msg, key, d="example.com", s="rsa",
              h=("from", "to", "subject", "date", "message-id"),
              c="relaxed/relaxed", a=None, l=None, i=None, t=None, x=None,
              extra=(), tags=None, bh=None, b=None, hashalg=None):
    """dkim_sign - a DKIM-Signature value (leading space, unfolded) for
    msg made with key.  tags, when given, is the whole tag list as
    [(name, value)] with "bh" and "b" placeholders filled in (value None)
    so anything can be built: duplicates, unknown tags, odd order.
    bh/b override the computed values (strings).  The signature covers
    the header exactly as produced, so when only the tag list is odd the
    crypto is still right."""
    hc, _, bc = c.partition("/")
    bc = bc or "simple"
    if a is None:
        a = "ed25519-sha256" if key.alg == "ed25519" else "rsa-sha256"
    hashalg = hashalg or ("sha1" if a.endswith("sha1") else "sha256")
    cb = canon_body(msg.body, bc)
    if l is not None and isinstance(l, int) and 0 <= l <= len(cb):
        cb = cb[:l]
    hfun = hashlib.sha1 if hashalg == "sha1" else hashlib.sha256
    bh_val = bh if bh is not None else base64.b64encode(
        hfun(cb).digest()).decode()
    if tags is None:
        tags = [("v", "1"), ("a", a), ("c", c), ("d", d), ("s", s)]
        if i is not None:
            tags.append(("i", i))
        if l is not None:
            tags.append(("l", str(l)))
        if t is not None:
            tags.append(("t", str(t)))
        if x is not None:
            tags.append(("x", str(x)))
        tags.append(("h", ":".join(h)))
        tags += list(extra)
        tags += [("bh", None), ("b", None)]
    def render(bvalue):
        parts = []
        for k, v in tags:
            if k == "bh" and v is None:
                v = bh_val
            if k == "b" and v is None:
                v = bvalue
            parts.append("%s=%s" % (k, v) if k is not None else v)
        return " " + "; ".join(parts)
    unsigned = render("")
    # header hash input: the h= headers bottom-up, then this header
    hdata = b""
    used = {}
    for name in h:
        n = name.lower()
        cands = [(k, v) for k, v in msg.headers if k.lower() == n]
        used[n] = used.get(n, 0) + 1
        if used[n] > len(cands):
            continue            # oversigned: a header that is not there
        k, v = cands[-used[n]]
        hdata += (_relaxed_header(k, v) if hc == "relaxed"
                  else k + ":" + v).encode("utf-8", "surrogateescape") + \
            b"\r\n"
    hdata += (_relaxed_header("DKIM-Signature", unsigned)
              if hc == "relaxed" else "DKIM-Signature:" + unsigned).encode()
    if b is not None:
        return render(b)
    return render(base64.b64encode(key.sign_raw(hdata, hashalg)).decode())


def dkim_signed(msg, key, **kw):
    """dkim_signed - msg with a DKIM-Signature made by dkim_sign at the
    top."""
    return msg.with_header("DKIM-Signature", dkim_sign(msg, key, **kw))


# ------------------------------------------------------ dkimpy (python3)

def _dkimpy():
    import dkim
    return dkim


def dns_txt_func(dns):
    """dns_txt_func - a dkimpy dnsfunc asking the test Unbound."""
    def dnsfunc(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode()
        if isinstance(dns, dict):
            v = dns.get(name.rstrip(".").lower())
            return v.encode() if v else None
        r = dns.query(name.rstrip("."), "TXT", timeout=min(timeout, 5))
        if r is None or r.rcode != 0:
            return None
        txt = r.txt()
        return txt[0].encode() if txt else None
    return dnsfunc


def dkimpy_sign(msg, key, d="example.com", s="rsa",
                headers=(b"from", b"to", b"subject", b"date",
                         b"message-id"), canon=(b"relaxed", b"relaxed"),
                **kw):
    """dkimpy_sign - msg signed by dkimpy (a new Message)."""
    dkim = _dkimpy()
    sig = dkim.sign(msg.bytes(), s.encode(), d.encode(), key.dkimpy_key,
                    include_headers=list(headers), canonicalize=canon,
                    signature_algorithm=(b"ed25519-sha256"
                                         if key.alg == "ed25519"
                                         else b"rsa-sha256"), **kw)
    return Message.parse(sig + msg.bytes())


def dkimpy_verify(raw, dns, index=None):
    """dkimpy_verify - (all signatures verified, [per-signature bool],
    log text) for a raw message (bytes) with keys from the test DNS."""
    dkim = _dkimpy()
    import io
    import logging
    buf = io.StringIO()
    log = logging.getLogger("dkimpy-test-%d" % id(buf))
    log.addHandler(logging.StreamHandler(buf))
    log.setLevel(logging.DEBUG)
    d = dkim.DKIM(raw, logger=log)
    n = len([1 for k, v in d.headers if k.lower() == b"dkim-signature"])
    res = []
    for i in range(n):
        try:
            res.append(bool(d.verify(idx=i, dnsfunc=dns_txt_func(dns))))
        except Exception as e:
            buf.write("signature %d: %s\n" % (i, e))
            res.append(False)
    return (n > 0 and all(res)), res, buf.getvalue()


# ----------------------------------------------- Authentication-Results

def parse_authres(value):
    """parse_authres - (authserv_id, [dict per dkim= result]) of one
    Authentication-Results value; each dict has "result" and the
    ptypes (header.d, header.s, header.b, header.i...)."""
    v = re.sub(r"\s+", " ", value.replace("\r", " ").replace("\n", " "))
    v = re.sub(r"\([^()]*\)", "", v)          # comments (one level)
    parts = [p.strip() for p in v.split(";")]
    serv = parts[0].split()[0] if parts and parts[0] else ""
    out = []
    for p in parts[1:]:
        m = re.match(r"dkim\s*=\s*(\w+)(.*)$", p, re.I)
        if not m:
            continue
        dct = {"result": m.group(1).lower()}
        for k, val in re.findall(r"([\w.-]+)\s*=\s*(\"[^\"]*\"|\S+)",
                                 m.group(2)):
            dct[k.lower()] = val.strip('"')
        out.append(dct)
    return serv, out


def dkim_results(result):
    """dkim_results - the dkim= results (lowercase words) of the
    Authentication-Results headers a MilterResult added."""
    out = []
    for v in result.authres():
        out += [d["result"] for d in parse_authres(v)[1]]
    return out


# ----------------------------------------------------------- the daemon

def dkim_path():
    return os.environ.get("POSTERN_DKIM") or os.path.join(
        pt.top_builddir(), "milters", "postern-dkim")


_seq = [0]


def start_dkim(dns=None, options=None, tmp=None, name="postern-dkim",
               listen=None, conf_text=None, conf_path=None,
               start_timeout=15.0, ready=True, extra_args=()):
    """start_dkim - postern-dkim in the foreground with -o options.

    options    dict or [(key, value)]: -o key=value each
    listen     default unix:TMP/dkim-N.sock
    conf_text  written to a config file given with -c (else an empty
               file); conf_path: use that file
    Returns the Daemon with .milter_addr, .sock_path (unix) or .port."""
    tmp = pt._as_tmp(tmp)
    _seq[0] += 1
    n = _seq[0]
    if listen is None:
        path = os.path.join(tmp.path, "dkim-%d.sock" % n)
        listen = "unix:" + path
    if conf_path is None:
        conf_path = tmp.file("dkim-%d.conf" % n, conf_text or
                             "# every setting comes from -o\n")
    argv = [dkim_path(), "-f", "-c", conf_path, "-o", "listen=" + listen]
    if dns is not None:
        argv += ["-o", "dns_server=%s" % (dns.addr if hasattr(dns, "addr")
                                          else dns)]
    items = options.items() if isinstance(options, dict) else (options or [])
    for k, v in items:
        argv += ["-o", "%s=%s" % (k, v)]
    argv += list(extra_args)
    if listen.startswith("unix:"):
        sock_path = listen[5:]
        rdy = ("unix", sock_path)
        port = None
    else:
        sock_path = None
        s = listen[5:]
        if "@" in s:
            port = int(s.split("@")[0])
        else:
            port = int(s.rpartition(":")[2])
        rdy = ("tcp", port)
    d = pt.Daemon(argv, ready=rdy if ready else None, name=name, tmp=tmp,
                  start_timeout=start_timeout)
    d.milter_addr = listen
    d.sock_path = sock_path
    d.port = port
    d.conf_path = conf_path
    return d


def daemon_alive(d, addr=None):
    """daemon_alive - the process runs and answers option negotiation."""
    if not d.alive():
        return False
    try:
        c = MilterClient(addr or d.milter_addr, timeout=10)
        c.quit()
        return True
    except MilterError:
        return False


# ----------------------------------------------------------- miltertest

def esc(text):
    """esc - percent-escape %, CR, LF, TAB and NUL (the line format the
    Lua scripts read and write)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "surrogateescape")
    return text.replace("%", "%25").replace("\r", "%0D").replace(
        "\n", "%0A").replace("\t", "%09").replace("\0", "%00")


def unesc(text):
    return re.sub(r"%([0-9A-Fa-f]{2})",
                  lambda m: chr(int(m.group(1), 16)), text)


def write_headers(path, headers):
    """write_headers - one "Name:value" line per header for the Lua
    scripts (value as in the message, leading space included, folds as
    LF; lib.lua drops one leading space and miltertest, like Postfix,
    sends one again when the milter negotiated SMFIP_HDR_LEADSPC)."""
    with open(path, "w", encoding="utf-8", errors="surrogateescape") as f:
        for k, v in headers:
            f.write("%s:%s\n" % (k, esc(v.replace("\r\n", "\n"))))
    return path


class LuaRun:
    """LuaRun - a miltertest run: rc, out, checks [(ok, name)],
    hdrs {name: [values]} (from "hdr" lines), reply (letter), error."""

    def __init__(self, rc, out):
        self.rc = rc
        self.out = out
        self.checks = []
        self.hdrs = {}
        self.reply = None
        self.error = None
        for line in out.split("\n"):
            m = re.match(r"^(ok|not ok) - (.*)$", line)
            if m:
                self.checks.append((m.group(1) == "ok", m.group(2)))
                continue
            if line.startswith("hdr\t"):
                parts = line.split("\t", 2)
                if len(parts) == 3:
                    self.hdrs.setdefault(parts[1], []).append(
                        unesc(parts[2]))
            elif line.startswith("reply\t"):
                self.reply = line.split("\t", 1)[1]
            elif line.startswith("error\t"):
                self.error = line.split("\t", 1)[1]


def lua_dir():
    return os.path.join(pt.top_srcdir(), "t", "milter")


def run_lua(script, variables, label=None, timeout=120, report=True):
    """run_lua - miltertest -s t/milter/SCRIPT with -D name=value each
    (MT_LIB = t/milter/lib.lua added); every "ok - X" / "not ok - X"
    line becomes a TAP test (prefixed with label) when report, plus one
    for a clean exit.  Returns the LuaRun."""
    path = os.path.join(lua_dir(), script)
    argv = ["miltertest", "-s", path, "-D",
            "MT_LIB=%s" % os.path.join(lua_dir(), "lib.lua")]
    for k, v in (variables.items() if isinstance(variables, dict)
                 else variables):
        argv += ["-D", "%s=%s" % (k, v)]
    try:
        r = subprocess.run(argv, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        run = LuaRun(r.returncode, r.stdout.decode("utf-8", "replace"))
    except subprocess.TimeoutExpired as e:
        run = LuaRun(-1, (e.stdout or b"").decode("utf-8", "replace"))
        run.error = "miltertest timed out after %d s" % timeout
    if report:
        pre = (label + ": ") if label else ""
        for good, name in run.checks:
            pt.ok(good, pre + name)
        if not pt.ok(run.rc == 0 and run.error is None,
                     "%smiltertest %s ran to its end" % (pre, script)):
            pt.diag("rc %s, error %s\n%s" % (run.rc, run.error,
                                             run.out[-3000:]))
    return run
