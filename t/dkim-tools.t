#!/usr/bin/python3
# dkim-tools.t - postern-dkim-keygen and postern-dkim-testkey.
#
# keygen: RSA (default 2048, 1024 warned, 512 refused) and Ed25519 keys in
# a temporary directory; the private key is PKCS#8 PEM, mode 0600 even
# under umask 0, given to -u USER; existing files are refused without -f
# and replaced atomically with it; no temporary file is left behind; the
# .txt record is quoted strings of at most 255 bytes whose p= is the key's
# public half as openssl computes it.
# testkey: the records keygen wrote, served by a local unbound, match
# (exit 0); then each way a record can differ gets its message and exit
# status: no record (NXDOMAIN, no TXT), another key, revoked, k=ed25519
# for an RSA key, garbage, RSA-512, h=sha1, t=y (warning, 0), RSA-1024
# (warning, 0), several TXT records (warning), SERVFAIL and timeout (3), a
# key file of mode 0644 (2, a warning with require_safe_keys = no), a
# missing or unloadable key file (2), usage (2); and the -c mode that
# tests every key of a postern-dkim config (simple mode and key_table).
# TAP; 127.0.0.1 only.
import base64
import os
import pwd
import re
import stat
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import postern_test as pt                                      # noqa: E402
from postern_test import ok, is_, like, unlike, section        # noqa: E402

KEYGEN = os.path.join(pt.top_builddir(), "tools", "postern-dkim-keygen")
TESTKEY = os.path.join(pt.top_builddir(), "tools", "postern-dkim-testkey")
for prog in (KEYGEN, TESTKEY):
    if not os.access(prog, os.X_OK):
        pt.skip_all("%s not built" % os.path.basename(prog))
missing = pt.have_programs("unbound", "openssl")
if missing:
    pt.skip_all("not installed: %s" % ", ".join(missing))

tmp = pt.tmpdir()
KEYS = tmp.sub("keys", 0o755)
DOM = "example.com"


def run(argv, umask=None):
    """run - (exit status, stdout, stderr)."""
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=60,
                       preexec_fn=(lambda: os.umask(umask))
                       if umask is not None else None)
    if pt.verbose():
        pt.diag("$ %s\nrc=%d\n%s%s" % (" ".join(argv), p.returncode,
                                        p.stdout, p.stderr))
    return p.returncode, p.stdout, p.stderr


def keygen(*args, umask=None):
    return run([KEYGEN] + list(args), umask=umask)


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def zone_value(text):
    """zone_value - what is between the parentheses of a .txt entry."""
    m = re.search(r"\(([^()]*)\)", text)
    return m.group(1) if m else ""


def zone_strings(text):
    """zone_strings - the quoted strings of a .txt zone entry."""
    return re.findall(r'"([^"]*)"', zone_value(text))


def openssl_pub_der(keyfile):
    p = subprocess.run(["openssl", "pkey", "-in", keyfile, "-pubout",
                        "-outform", "DER"], capture_output=True, timeout=30)
    return p.stdout if p.returncode == 0 else None


def leftovers(d):
    return [f for f in os.listdir(d) if f.startswith(".")]


# ------------------------------------------------------------------ keygen

recs = {}       # selector -> list of TXT strings as keygen wrote them

with section("keygen RSA default"):
    rc, out, err = keygen("-d", DOM, "-s", "rsa", "-D", KEYS, umask=0)
    is_(rc, 0, "keygen rsa: exit 0")
    priv = os.path.join(KEYS, "rsa.private")
    txt = os.path.join(KEYS, "rsa.txt")
    is_(mode(priv), 0o600, "rsa.private is 0600 under umask 0")
    with open(priv) as f:
        pem = f.read()
    like(pem, r"^-----BEGIN PRIVATE KEY-----\n", "PEM PKCS#8")
    with open(txt) as f:
        ztext = f.read()
    is_(out, ztext, "stdout is the .txt file")
    like(ztext, r"^rsa\._domainkey\.example\.com\.\s+IN\s+TXT\s+\(",
         ".txt owner name, class, type, parenthesis")
    strings = zone_strings(ztext)
    ok(len(strings) >= 2 and all(len(s) <= 255 for s in strings),
       "record split in strings of at most 255 bytes (%s)" %
       [len(s) for s in strings])
    is_(re.sub(r'"[^"]*"', "", zone_value(ztext)).strip(), "",
        "nothing but quoted strings in the parentheses")
    joined = "".join(strings)
    like(joined, r"^v=DKIM1; k=rsa; p=[A-Za-z0-9+/]+=*$", "record tags")
    is_(strings[0], "v=DKIM1; k=rsa; ", "first string: the tags before p=")
    der = openssl_pub_der(priv)
    is_(base64.b64decode(joined.split("p=", 1)[1]), der,
        "p= is the key's SubjectPublicKeyInfo (as openssl computes it)")
    like(ztext, r"\)\s*;.*rsa 2048 bits", "comment: RSA 2048 bits")
    is_(leftovers(KEYS), [], "no temporary file left")
    unlike(err, r"warning", "no warning for 2048 bits")
    recs["rsa"] = strings

with section("keygen Ed25519"):
    rc, out, err = keygen("-t", "ed25519", "-d", DOM + ".", "-s", "ed",
                          "-D", KEYS)
    is_(rc, 0, "keygen ed25519: exit 0")
    priv = os.path.join(KEYS, "ed.private")
    is_(mode(priv), 0o600, "ed.private is 0600")
    with open(os.path.join(KEYS, "ed.txt")) as f:
        ztext = f.read()
    like(ztext, r"^ed\._domainkey\.example\.com\.\s+IN\s+TXT",
         "trailing dot of -d not doubled")
    strings = zone_strings(ztext)
    joined = "".join(strings)
    like(joined, r"^v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}=$",
         "ed25519 record")
    der = openssl_pub_der(priv)
    is_(base64.b64decode(joined.split("p=", 1)[1]), der[-32:],
        "p= is the raw 32-byte public key (RFC 8463)")
    recs["ed"] = strings

with section("keygen options and refusals"):
    rc, out, err = keygen("-d", DOM, "-s", "rsa", "-D", KEYS)
    is_(rc, 1, "existing key: exit 1")
    like(err, r"rsa\.private exists \(-f replaces it\)", "refusal says -f")
    with open(os.path.join(KEYS, "rsa.private")) as f:
        is_(f.read(), pem, "existing key untouched")

    # -f replaces atomically, a 0644 file included, and gives 0600 again
    k2 = tmp.sub("keys2", 0o755)
    rc, _, _ = keygen("-s", "x", "-D", k2)
    os.chmod(os.path.join(k2, "x.private"), 0o644)
    ino = os.stat(os.path.join(k2, "x.private")).st_ino
    rc, out, err = keygen("-s", "x", "-D", k2, "-f")
    is_(rc, 0, "-f: exit 0")
    is_(mode(os.path.join(k2, "x.private")), 0o600, "-f: new key 0600")
    ok(os.stat(os.path.join(k2, "x.private")).st_ino != ino,
       "-f: a new file renamed over the old one")
    like(out, r"^x\._domainkey\s+IN\s+TXT", "no -d: relative owner name")
    is_(leftovers(k2), [], "-f: no temporary file left")

    # only the .txt exists: still refused
    os.unlink(os.path.join(k2, "x.private"))
    rc, _, err = keygen("-s", "x", "-D", k2)
    is_(rc, 1, "existing .txt: exit 1")
    ok(not os.path.exists(os.path.join(k2, "x.private")),
       "existing .txt: no key written")

    rc, _, err = keygen("-b", "512", "-s", "weak", "-D", k2)
    is_(rc, 2, "-b 512: exit 2")
    like(err, r"under 1024 bits are refused.*RFC 8301", "-b 512: refused")
    ok(not os.path.exists(os.path.join(k2, "weak.private")),
       "-b 512: nothing written")
    rc, out, err = keygen("-b", "1024", "-d", DOM, "-s", "r1024", "-D",
                          KEYS)
    is_(rc, 0, "-b 1024: exit 0")
    like(err, r"warning: 1024-bit RSA key", "-b 1024: warned")
    recs["r1024"] = zone_strings(out)
    rc, _, err = keygen("-b", "9000", "-D", k2)
    is_(rc, 2, "-b 9000: exit 2")
    rc, _, err = keygen("-t", "ed25519", "-b", "2048", "-D", k2)
    is_(rc, 2, "-b with ed25519: exit 2")
    rc, _, err = keygen("-t", "dsa", "-D", k2)
    is_(rc, 2, "-t dsa: exit 2")
    rc, _, err = keygen("-s", "../evil", "-D", k2)
    is_(rc, 2, "selector with a slash: exit 2")
    rc, _, err = keygen("-d", "exa mple.com", "-D", k2)
    is_(rc, 2, "bad domain: exit 2")
    rc, _, err = keygen("-D", os.path.join(k2, "nonexistent"))
    is_(rc, 2, "missing directory: exit 2")
    rc, out, _ = keygen("--help")
    ok(rc == 0 and "-u, --user USER" in out, "--help documents -u")

    rc, out, _ = keygen("-t", "ed25519", "-s", "flags", "-D", k2, "-r",
                        "-T", "-S")
    is_(rc, 0, "-r -T -S: exit 0")
    like("".join(zone_strings(out)),
         r"^v=DKIM1; k=ed25519; t=y:s; s=email; p=", "-r -T -S tags")

with section("keygen -u"):
    if os.geteuid() == 0:
        rc, _, err = keygen("-s", "owned", "-D", k2, "-u", "nobody")
        is_(rc, 0, "-u nobody: exit 0")
        st = os.stat(os.path.join(k2, "owned.private"))
        pw = pwd.getpwnam("nobody")
        ok(st.st_uid == pw.pw_uid and st.st_gid == pw.pw_gid,
           "-u nobody: key owned by nobody and its group")
        is_(stat.S_IMODE(st.st_mode), 0o600, "-u nobody: mode 0600")
    else:
        rc, _, err = keygen("-s", "owned", "-D", k2, "-u", "root")
        is_(rc, 2, "-u root as non-root: exit 2")
        like(err, r"only root", "-u: message")
        pt.skip("needs root", 2)
    rc, _, err = keygen("-s", "nouser", "-D", k2, "-u",
                        "no-such-user-postern")
    is_(rc, 2, "-u unknown user: exit 2")

# another RSA key, an RSA-512 key (made with openssl: keygen refuses it)
with section("other keys"):
    k3 = tmp.sub("keys3", 0o755)
    rc, out, _ = keygen("-s", "other", "-D", k3)
    recs["other"] = zone_strings(out)
    weak = os.path.join(k3, "weak.private")
    p = subprocess.run(["openssl", "genpkey", "-algorithm", "RSA",
                        "-pkeyopt", "rsa_keygen_bits:512", "-out", weak],
                       capture_output=True, timeout=60)
    is_(p.returncode, 0, "openssl made an RSA-512 key")
    os.chmod(weak, 0o600)
    weak_p = base64.b64encode(openssl_pub_der(weak)).decode()

# ------------------------------------------------------------------ DNS

RSA_P = "".join(recs["rsa"]).split("p=", 1)[1]
ED = "".join(recs["ed"])
dk = "._domainkey"
zones = {DOM: [
    ("rsa" + dk, "TXT", recs["rsa"]),               # strings as written
    ("ed" + dk, "TXT", recs["ed"]),
    ("r1024" + dk, "TXT", recs["r1024"]),
    ("other" + dk, "TXT", "".join(recs["other"])),
    ("revoked" + dk, "TXT", "v=DKIM1; k=rsa; p="),
    ("edrec" + dk, "TXT", ED),
    ("garbage" + dk, "TXT", "v=DKIM1; p=!!!notbase64"),
    ("weak" + dk, "TXT", "v=DKIM1; k=rsa; p=" + weak_p),
    ("sha1" + dk, "TXT", "v=DKIM1; k=rsa; h=sha1; p=" + RSA_P),
    ("testing" + dk, "TXT", "v=DKIM1; k=rsa; t=y; p=" + RSA_P),
    ("notxt" + dk, "A", "192.0.2.1"),
    ("two" + dk, "TXT", "v=DKIM1; k=rsa; p=" + RSA_P),
    ("two" + dk, "TXT", "v=DKIM1; p=" + RSA_P),
    ("twobad" + dk, "TXT", "v=DKIM1; k=rsa; p=" + RSA_P),
    ("twobad" + dk, "TXT", "".join(recs["other"])),
    ("nul" + dk, "TXT", b"v=DKIM1; k=rsa;\x00 p=" + RSA_P.encode()),
    ("web" + dk, "TXT", "v=DKIM1; k=rsa; s=web; p=" + RSA_P),
]}
ub = pt.Unbound(zones, servfail_zone="servfail.example",
                timeout_zone="timeout.example", tmp=tmp)
RSA = os.path.join(KEYS, "rsa.private")
EDK = os.path.join(KEYS, "ed.private")


def testkey(sel, key=RSA, dom=DOM, extra=(), conf=None):
    argv = [TESTKEY, "-o", "dns_server=%s" % ub.addr,
            "-o", "dns_timeout=2s"]
    if conf:
        argv += ["-c", conf]
    if sel is not None:
        argv += ["-d", dom, "-s", sel]
    if key:
        argv += ["-k", key]
    return run(argv + list(extra))


def check(sel, want_rc, regexes, name, key=RSA, dom=DOM, extra=(),
          nomatch=(), conf=None):
    rc, out, err = testkey(sel, key=key, dom=dom, extra=extra, conf=conf)
    is_(rc, want_rc, "%s: exit %d" % (name, want_rc))
    for r in regexes:
        like(out, r, "%s: %s" % (name, r))
    for r in nomatch:
        unlike(out, r, "%s: not %s" % (name, r))
    return out


N = r"\._domainkey\.example\.com: "
with section("testkey"):
    out = check("rsa", 0, [r"(?m)^rsa" + N + r"key OK$",
                           r"note: the record is \d+ bytes.* %d strings" %
                           len(recs["rsa"])],
                "RSA key matches", nomatch=[r"error|warning"])
    check("ed", 0, [r"(?m)^ed" + N + r"key OK$"], "Ed25519 key matches",
          key=EDK, nomatch=[r"error|warning|note"])
    check("r1024", 0, [r"warning: the record's RSA key is 1024 bits",
                       r"key OK"], "RSA-1024: warning, exit 0",
          key=os.path.join(KEYS, "r1024.private"))
    check("nokey", 1, [r"(?m)^nokey" + N + r"error: no key record: .*"
                       r"NXDOMAIN"], "selector without record",
          nomatch=[r"key OK"])
    check("notxt", 1, [r"error: no key record: the name has no TXT"],
          "name without TXT")
    check("other", 1, [r"error: public key differs"], "another key",
          nomatch=[r"key OK"])
    check("revoked", 1, [r"error: key revoked"], "revoked key",
          nomatch=[r"differs"])
    check("edrec", 1, [r"error: key type differs: the record has "
                       r"k=ed25519, the key file .* is rsa"],
          "k=ed25519 record for an RSA key", nomatch=[r"public key"])
    check("rsa", 1, [r"error: key type differs: the record has k=rsa, "
                     r"the key file .* is ed25519"],
          "k=rsa record for an Ed25519 key", key=EDK)
    check("garbage", 1, [r"error: not a DKIM key record: p= is not "
                         r"base64"], "garbage record")
    check("weak", 1, [r"error: the record's RSA key is 512 bits: under "
                      r"1024", r"error: public key differs"],
          "RSA-512 record")
    check("sha1", 1, [r"error: the record's h= excludes sha256"],
          "h=sha1 only", nomatch=[r"differs"])
    check("testing", 0, [r"warning: testing flag t=y", r"key OK"],
          "t=y: warning, exit 0")
    check("two", 0, [r"warning: 2 TXT records at the name", r"key OK"],
          "two matching TXT records: warning, exit 0")
    check("twobad", 1, [r"warning: 2 TXT records at the name",
                        r"\(record [12] of 2\): error: public key differs"],
          "two TXT records, one for another key", nomatch=[r"key OK"])
    check("nul", 1, [r"error: not a DKIM key record: NUL"],
          "NUL in the record")
    check("web", 1, [r"error: not a DKIM key record: key not for email"],
          "s=web")
    check("rsa", 3, [r"error: DNS lookup failed \(servfail"], "SERVFAIL",
          dom="servfail.example")
    tname = ub.timeout_name()
    sel_t, dom_t = tname.split(".", 1)
    check(sel_t, 3, [r"error: DNS lookup failed \(timeout"], "timeout",
          dom=dom_t, extra=("-o", "dns_timeout=1s"))

with section("testkey key files"):
    loose = os.path.join(KEYS, "loose.private")
    with open(RSA) as f, open(loose, "w") as g:
        g.write(f.read())
    os.chmod(loose, 0o644)
    out = check("rsa", 2, [r"error: key file .*loose\.private: mode 0644"],
                "key file mode 0644 refused", key=loose,
                nomatch=[r"key OK"])
    conf_unsafe = tmp.file("unsafe.conf", "require_safe_keys = no\n")
    check("rsa", 0, [r"warning: key file .*mode 0644", r"key OK"],
          "0644 with require_safe_keys = no: warning", key=loose,
          conf=conf_unsafe)
    check("rsa", 2, [r"error: key file .*nonexistent"], "missing key file",
          key=os.path.join(KEYS, "nonexistent.private"))
    check("weak", 2, [r"error: key file .*shorter than 1024"],
          "RSA-512 key file", key=weak)
    notkey = tmp.file("notkey.private", "hello\n", mode=0o600)
    check("rsa", 2, [r"error: key file .*not a PEM private key"],
          "key file that is no key", key=notkey)
    check("nokey", 2, [r"error: key file .*nonexistent", r"NXDOMAIN"],
          "missing key file and no record: 2 wins",
          key=os.path.join(KEYS, "nonexistent.private"))

with section("testkey usage"):
    rc, _, err = run([TESTKEY, "-d", DOM, "-k", RSA])
    is_(rc, 2, "-k without -s: exit 2")
    rc, _, err = run([TESTKEY, "-o", "no_such_key=1", "-d", DOM, "-s",
                      "rsa", "-k", RSA])
    is_(rc, 2, "unknown -o key: exit 2")
    like(err, r"no_such_key", "unknown -o key named")
    rc, _, err = run([TESTKEY, "-c", os.path.join(tmp.path, "none.conf")])
    is_(rc, 2, "missing config: exit 2")
    rc, out, _ = run([TESTKEY, "--help"])
    ok(rc == 0 and "EXIT STATUS" in out, "--help")
    check("bad_sel!", 2, [r"not a valid selector"], "invalid selector")
    check("rsa", 2, [r"not a valid selector"], "invalid domain",
          dom="exa\x01mple.com")

with section("testkey -c: every key of the daemon's config"):
    table = tmp.file("keytable", "# comment\n"
                     "k1  %s:ed:%s\n"
                     "k2  %s:other:%s   # another key\n\n"
                     "k3  %%:ed:%s\n" %
                     (DOM, EDK, DOM, RSA, EDK))
    conf = tmp.file("postern-dkim.conf",
                    "# a postern-dkim config: keys this tool does not "
                    "know are skipped\n"
                    "listen = unix:/tmp/nowhere.sock\n"
                    "canonicalization = relaxed/relaxed\n"
                    "domain = %s\n"
                    "selector = rsa, ed\n"
                    "key_file = %s, %s\n"
                    "key_table = %s\n"
                    "dns_server = %s\n" % (DOM, RSA, EDK, table, ub.addr))
    rc, out, err = run([TESTKEY, "-c", conf])
    is_(rc, 1, "-c: one key of four differs: exit 1")
    like(out, r"(?m)^rsa" + N + "key OK$", "-c: rsa (simple mode)")
    like(out, r"(?m)^ed" + N + "key OK$", "-c: ed (simple mode)")
    is_(len(re.findall(r"(?m)^ed" + N + "key OK$", out)), 2,
        "-c: ed also from the key table")
    like(out, r"(?m)^other" + N + "error: public key differs",
         "-c: key table entry with another key")
    like(out, r"(?m)^ed\._domainkey\.%: note: key_table .* line 5 signs "
         r"for the From: domain", "-c: key table domain %: noted")
    rc, out, err = run([TESTKEY, "-c", conf, "-s", "ed", "-d", DOM])
    is_((rc, len(re.findall(r"(?m)^ed" + N + "key OK$", out))), (0, 3),
        "-c -d -s ed: simple mode, k1 and k3 (% as -d)")
    rc, out, err = run([TESTKEY, "-c", conf, "-s", "rsa"])
    is_(rc, 0, "-c -s rsa: only that one, exit 0")
    is_(out.count("key OK"), 1, "-c -s rsa: one key tested")
    rc, out, err = run([TESTKEY, "-c", conf, "-s", "nosuch"])
    is_(rc, 2, "-c -s nosuch: exit 2")
    tconf = tmp.file("table.conf", "domain = %s\nselector = rsa\n"
                     "key_table = file:%s\ndns_server = %s\n" %
                     (DOM, table, ub.addr))
    rc, out, err = run([TESTKEY, "-c", tconf, "-s", "ed"])
    ok(rc == 0 and out.count("key OK") == 1,
       "-c: key_table (file: prefix) with domain but no key_file: the "
       "table's keys")
    bad = tmp.file("bad.conf", "domain = %s\nselector = a, b\n"
                   "key_file = %s\n" % (DOM, RSA))
    rc, _, err = run([TESTKEY, "-c", bad])
    is_(rc, 2, "-c: selectors and key files differ in number: exit 2")
    like(err, r"one selector per key file", "-c: message")

pt.done()
