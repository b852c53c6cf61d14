"""
dmarc_test - helpers shared by postern-dmarc's integration tests
(t/dmarc-milter.t, t/dmarc-hostile.t, t/dmarc-e2e-postfix.t).

Public:
  dmarc_path, start_dmarc   the milter in the foreground, -o options
  parse_dmarc               the dmarc= result of an Authentication-Results
                            value: {"serv", "result", "p", "dis",
                            "header.from"}, or None
  dmarc_results             the dmarc= results in a MilterResult's
                            added headers
  zone                      the DMARC test zones (TLDs "example" and "uk"
                            served whole, so the RFC 9989 tree walk gets
                            NXDOMAIN, not REFUSED, at every level), with
                            SPF records and DKIM keys for the domains the
                            alignment tests use
  DOMAIN_FACTS              what each policy domain is for (comments)
  spf_ok_ip, spf_bad_ip     client addresses that pass / fail SPF for
                            every domain of the zone with an SPF record
  lua                       one miltertest script run (t/milter/dmarc*.lua)
                            on a message

Trust: the milter is the code under test; everything read from it goes
through milter_test.py's bounded client or miltertest.
"""

import os
import re

import postern_test as pt
import milter_test as mt

AUTHSERV = "mx.test.example"
SPF_OK_IP = "192.0.2.10"
SPF_BAD_IP = "198.51.100.20"
SLOW = "slow.example"          # Unbound timeout_zone
BROKEN = "broken.example"      # Unbound servfail_zone

spf_ok_ip = SPF_OK_IP
spf_bad_ip = SPF_BAD_IP

# policy domain -> (record(s), what it tests); a list is several TXT
# records at one name, a list inside a tuple several strings of one record
LONG_PAD = "x" * 1900           # 2000-byte record: under DMARC_RECORD_MAX
HUGE_PAD = "y" * 3000           # 3000+ bytes: over DMARC_RECORD_MAX

DOMAIN_FACTS = {
    "none.example": ("v=DMARC1; p=none", "p=none"),
    "quar.example": ("v=DMARC1; p=quarantine", "p=quarantine"),
    "reject.example": ("v=DMARC1; p=reject; rua=mailto:agg@reject.example",
                       "p=reject, relaxed; its subdomains fall back to it"),
    "strict.example": ("v=DMARC1; p=reject; adkim=s; aspf=s",
                       "strict alignment"),
    "spnp.example": ("v=DMARC1; p=none; sp=quarantine; np=reject",
                     "p, sp (existing subdomain), np (NXDOMAIN subdomain)"),
    "pct0.example": ("v=DMARC1; p=reject; pct=0",
                     "rfc7489: sampled out (quarantine); bis: ignored"),
    "testing.example": ("v=DMARC1; p=reject; t=y",
                        "bis: one step gentler; rfc7489: no t= tag"),
    "badp.example": ("v=DMARC1; p=bogus", "bad p=, no rua: permerror"),
    "badprua.example": ("v=DMARC1; p=bogus; rua=mailto:a@badprua.example",
                        "bad p= with rua: as p=none"),
    "notfirst.example": ("p=reject; v=DMARC1", "v= not first: no record"),
    "two.example": (["v=DMARC1; p=reject", "v=DMARC1; p=none"],
                    "two records: none"),
    "multi.example": ("v=DMARC1; p=reject",
                      "dup.multi.example has two records: bis walks "
                      "up to this one, rfc7489 stops (none)"),
    "long.example": ("v=DMARC1; p=reject; x=" + LONG_PAD,
                     "2000-byte record in 8 strings: used"),
    "huge.example": ("v=DMARC1; p=reject; x=" + HUGE_PAD,
                     "3000-byte record: over the bound, permerror"),
    "case.example": ("v=DMARC1;p=Reject;ADKIM=s", "case-insensitive "
                     "values and tag names"),
    "psd.example": ("v=DMARC1; p=reject; psd=y",
                    "a public suffix domain: giant.psd.example has no "
                    "record, mail.org.psd.example has its org's"),
    "org.psd.example": ("v=DMARC1; p=none", "an org domain under the PSD"),
    "shop.co.uk": ("v=DMARC1; p=reject", "org domain under a public "
                   "suffix (PSL in rfc7489 mode)"),
    "co.uk": ("v=DMARC1; p=none", "a record at the public suffix "
              "itself, without psd=: the bis walk takes it (fewest "
              "labels), the PSL does not"),
}

# names that must exist (A records) and carry SPF
SPF_DOMAINS = [
    "none.example", "quar.example", "reject.example", "strict.example",
    "mail.strict.example", "mail.reject.example", "sub.reject.example",
    "other.example", "spnp.example", "www.spnp.example", "pct0.example",
    "testing.example", "badp.example", "badprua.example",
    "notfirst.example", "two.example", "multi.example",
    "dup.multi.example", "long.example", "huge.example", "case.example",
    "giant.psd.example", "mail.org.psd.example", "org.psd.example",
    "shop.co.uk", "news.shop.co.uk", "mx.test.example",
    "mail.example", "nodmarc.example",
]

# DKIM keys are published for these d= under selector "sel"
DKIM_DOMAINS = [
    "reject.example", "mail.reject.example", "strict.example",
    "mail.strict.example", "other.example", "quar.example",
    "none.example", "shop.co.uk", "news.shop.co.uk", "case.example",
    "nodmarc.example", "giant.psd.example",
]


def zone(key):
    """zone - {zone: records} for pt.Unbound, with key (a KeyPair)
    published as sel._domainkey.D for each of DKIM_DOMAINS."""
    ex, uk = [], []

    def put(name, rtype, data):
        (uk if name.endswith(".uk") or name == "uk" else ex).append(
            (name + ".", rtype, data))
    for dom, (rec, _) in DOMAIN_FACTS.items():
        recs = rec if isinstance(rec, list) else [rec]
        for r in recs:
            put("_dmarc." + dom, "TXT", r)
    put("_dmarc.dup.multi.example", "TXT", "v=DMARC1; p=none")
    put("_dmarc.dup.multi.example", "TXT", "v=DMARC1; p=quarantine")
    for dom in SPF_DOMAINS:
        put(dom, "A", SPF_OK_IP)
        put(dom, "TXT", "v=spf1 ip4:%s -all" % SPF_OK_IP)
    for dom in DKIM_DOMAINS:
        put("sel._domainkey." + dom, "TXT", key.record)
    return {"example": ex, "uk": uk}


def unbound(key, **kw):
    """unbound - a pt.Unbound serving zone(key), with a timeout zone
    (SLOW) and a SERVFAIL zone (BROKEN)."""
    return pt.Unbound(zone(key), timeout_zone=SLOW, servfail_zone=BROKEN,
                      **kw)


def dmarc_path():
    return os.environ.get("POSTERN_DMARC") or os.path.join(
        pt.top_builddir(), "milters", "postern-dmarc")


_seq = [0]


def start_dmarc(dns, options=None, tmp=None, name="postern-dmarc",
                listen=None, store=None, ready=True, start_timeout=15.0):
    """start_dmarc - postern-dmarc -f with -o options (dict or pairs).

    Defaults: authserv_id mx.test.example, dns_timeout 1s, a fresh
    embedded store in the temp dir (store=... to share one), unix socket
    listener (listen= to change).  Returns the Daemon with .milter_addr,
    .store."""
    tmp = pt._as_tmp(tmp)
    _seq[0] += 1
    n = _seq[0]
    if listen is None:
        listen = "unix:" + os.path.join(tmp.path, "dmarc-%d.sock" % n)
    if store is None:
        store = tmp.sub("store-%d" % n, 0o700)
    conf = tmp.file("dmarc-%d.conf" % n, "# every setting comes from -o\n")
    o = {"authserv_id": AUTHSERV, "dns_timeout": "1s", "store": store,
         "ignore_hosts": "192.0.2.250"}
    if options:
        o.update(dict(options.items() if isinstance(options, dict)
                      else options))
    argv = [dmarc_path(), "-f", "-c", conf, "-o", "listen=" + listen]
    if dns is not None:
        argv += ["-o", "dns_server=%s" % (dns.addr if hasattr(dns, "addr")
                                          else dns)]
    for k, v in o.items():
        argv += ["-o", "%s=%s" % (k, v)]
    if listen.startswith("unix:"):
        rdy = ("unix", listen[5:])
    else:
        s = listen[5:]
        rdy = ("tcp", int(s.split("@")[0]) if "@" in s else
               int(s.rpartition(":")[2]))
    d = pt.Daemon(argv, ready=rdy if ready else None, name=name, tmp=tmp,
                  start_timeout=start_timeout)
    d.milter_addr = listen
    d.store = store
    d.options = o
    d.conf_path = conf
    return d


def parse_dmarc(value):
    """parse_dmarc - the dmarc= result of one Authentication-Results
    value as a dict (serv, result, p, dis, header.from), or None."""
    v = re.sub(r"\s+", " ", value.replace("\r", " ").replace("\n", " "))
    serv = v.strip().split(";")[0].strip().split(" ")[0]
    m = re.search(r";\s*dmarc\s*=\s*(\w+)(?:\s*\(([^)]*)\))?([^;]*)", v,
                  re.I)
    if not m:
        return None
    out = {"serv": serv, "result": m.group(1).lower(), "p": None,
           "dis": None, "header.from": None, "comment": m.group(2)}
    for k, val in re.findall(r"\b(p|dis)=(\w+)", m.group(2) or ""):
        out[k] = val
    hf = re.search(r"header\.from\s*=\s*(\S+)", m.group(3) or "")
    if hf:
        out["header.from"] = hf.group(1)
    return out


def dmarc_results(res):
    """dmarc_results - [parse_dmarc(v)] of the Authentication-Results
    headers a MilterResult added (those with a dmarc= result)."""
    out = []
    for v in res.authres():
        d = parse_dmarc(v)
        if d is not None:
            out.append(d)
    return out


_files = [0]


def files(tmp, msg):
    """files - the header and body files of a message for Lua."""
    _files[0] += 1
    h = mt.write_headers(os.path.join(tmp.path, "m%d.hdr" % _files[0]),
                         msg.headers)
    b = os.path.join(tmp.path, "m%d.body" % _files[0])
    with open(b, "wb") as f:
        f.write(msg.body)
    return {"HDRS": h, "BODY": b}


def lua(tmp, d, msg, label, script="dmarc.lua", **var):
    """lua - run t/milter/SCRIPT against daemon d with msg; its checks
    become TAP tests; returns the LuaRun."""
    v = {"SOCKET": d.milter_addr, "LABEL": label, "TIMEOUT": "20"}
    v.update(files(tmp, msg))
    v.update({k: str(x) for k, x in var.items() if x is not None})
    return mt.run_lua(script, v, label=None)


def ar(spf=None, mailfrom=None, dkim=(), serv=AUTHSERV):
    """ar - an Authentication-Results value (leading space) from serv
    with an spf= result for mailfrom and dkim= results [(result, d)]."""
    parts = [" " + serv]
    if spf is not None:
        parts.append("spf=%s smtp.mailfrom=%s" % (spf, mailfrom))
    for res, dom in dkim:
        parts.append("dkim=%s header.d=%s header.s=sel" % (res, dom))
    if len(parts) == 1:
        parts.append("none")
    return "; ".join(parts)


def decisions(text):
    """decisions - the decision lines (one per message) of a log
    excerpt."""
    return [ln for ln in text.split("\n") if " action=" in ln]


def wait_decisions(d, mark, n=1, timeout=3.0):
    """wait_decisions - the decision lines d logged after byte offset
    mark, once there are n (the daemon flushes its log every 100 ms);
    what there is after timeout."""
    def got():
        lines = decisions(d.log_text()[mark:])
        return lines if len(lines) >= n else None
    return pt.wait_until(got, timeout, 0.02) or decisions(
        d.log_text()[mark:])


def stop_all(daemons):
    """stop_all - stop() every daemon at once, each in a thread: a
    milter takes ~5 s to leave libmilter's accept loop, so stopping them
    one after the other would cost 5 s each."""
    import threading
    ts = [threading.Thread(target=d.stop) for d in daemons]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
