#!/usr/bin/python3
# checks-rbl.t - postern-checks' DNSBL / RHSBL / DNSWL scores and GeoIP
# policy, as a milter (end of headers) and over its policy listener
# (policy_listen).  Lists are served by a test Unbound on loopback; GeoIP
# uses MaxMind's fake test databases in t/geoip/ and a policy file from
# t/checks/milter/geoip.policy.
#
# Zones: bl.example (DNSBL: 127.0.0.2 / .4 / .10 with TXT, .12 outside
#   the filter, an IPv6 client by nibbles), rhs.example (RHSBL for HELO,
#   MAIL FROM and From:), wl.example (DNSWL, negative weight), slow.example
#   (never answers: a stub zone at a silent loopback port).
# Covered: reply text with the list and its TXT ($rbl_* macros), custom
#   dnsbl_reply, thresholds, weights, filters, a zone listed twice,
#   allowlist threshold, dnsbl_action = header / log, one log line with
#   hits and timeouts, a timed-out list costs at most dnsbl_timeout;
#   GeoIP country REJECT, continent SCORE added to the DNSBL score, asn OK
#   allowlisting, HOLD, geoip_header, reload after the database file is
#   replaced; the policy listener's 5xx / DUNNO / PREPEND answers.
import os
import re
import shutil
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import postern_test as pt                                      # noqa: E402
from postern_test import ok, is_, like, unlike, diag, section  # noqa: E402
import milter_test as mt                                       # noqa: E402
import checks_test as ct                                       # noqa: E402
from checks_test import logline                                # noqa: E402

missing = pt.have_programs("miltertest", "unbound")
if missing:
    pt.skip_all("missing: %s" % ", ".join(missing))

DATA = os.path.join(pt.top_srcdir(), "t", "checks", "milter")
GEO = os.path.join(pt.top_srcdir(), "t", "geoip")
if not os.path.exists(os.path.join(GEO, "GeoIP2-Country-Test.mmdb")):
    GEO = "/work/shared/testdata/mmdb"
tmp = pt.tmpdir()


def rev4(ip):
    return ".".join(reversed(ip.split(".")))


def nibbles(ip6):
    import ipaddress
    h = ipaddress.IPv6Address(ip6).exploded.replace(":", "")
    return ".".join(reversed(h))


TXT2 = "listed: see http://bl.example/q?192.0.2.2"
TXT4 = "spam source 4"
TXT6 = "v6 listed"
TXT_RHS = "rhs listed domain"
V6 = "2001:db8::25"
bl, rhs, wl = [], [], []
for ip, a, txt in (("192.0.2.2", "127.0.0.2", TXT2),
                   ("192.0.2.4", "127.0.0.4", TXT4),
                   ("192.0.2.5", "127.0.0.2", None),
                   ("192.0.2.10", "127.0.0.10", None),
                   ("192.0.2.12", "127.0.0.12", None),
                   ("192.0.2.20", "127.0.0.2", None),
                   ("216.160.83.57", "127.0.0.2", None),      # US / NA
                   ("81.2.69.160", "127.0.0.2", None)):       # GB / EU
    bl.append((rev4(ip), "A", a))
    if txt:
        bl.append((rev4(ip), "TXT", txt))
bl += [(nibbles(V6), "A", "127.0.0.2"), (nibbles(V6), "TXT", TXT6)]
for ip in ("192.0.2.20", "192.0.2.21"):
    wl.append((rev4(ip), "A", "127.0.0.5"))
for dom in ("spammer.example", "badhelo.example"):
    rhs += [(dom, "A", "127.0.0.2"), (dom, "TXT", TXT_RHS)]
ub = pt.Unbound({"bl.example": bl, "rhs.example": rhs, "wl.example": wl},
                timeout_zone="slow.example", tmp=tmp)

_n = [0]


def start(options, name, policy_port=None):
    extra = ["-o", "dns_server=%s" % ub.addr]
    if policy_port:
        extra += ["-o", "policy_listen=inet:127.0.0.1:%d" % policy_port]
    d = ct.start(tmp, options, name, extra)
    if policy_port:
        pt.wait_until(lambda: pt.port_open(policy_port), 10)
    d.policy_port = policy_port
    return d


def qid():
    _n[0] += 1
    return "4RBL%06X" % _n[0]


def msg(frm="Alice <alice@example.com>", subject="rbl test"):
    return mt.Message.simple(frm=frm, subject=subject)


def send(d, ip="192.0.2.99", helo="mail.example.com",
         sender="<alice@example.com>", frm="Alice <alice@example.com>"):
    """One message through the milter client: (MilterResult, qid, secs)."""
    q = qid()
    m = msg(frm)
    t0 = time.monotonic()
    r = mt.send_message(d.milter_addr, m.headers, m.body, client_ip=ip,
                        helo=helo, sender=sender, mail_macros={"i": q})
    return r, q, time.monotonic() - t0


def lua(d, label, ip="192.0.2.99", helo="mail.example.com",
        checks=(), **var):
    q = qid()
    return ct.run_lua(tmp, d, msg(), q, label, checks, IP=ip, HELO=helo,
                      **var), q


def reply_of(r):
    return r.reply if r.reply else r.action


def blocked(cls, what, zone, txt=None, code="554 5.7.1"):
    return "%s Service unavailable; %s [%s] blocked using %s%s" % (
        code, cls, what, zone, "; " + txt if txt else "")


daemons = []
T = "2s"
SITES = "bl.example=127.0.0.[2..11]*3, wl.example*-5, slow.example"
RHS = "rhs.example*3"
port1 = pt.free_port()
r1 = start({"dnsbl_sites": SITES, "rhsbl_helo_sites": RHS,
            "rhsbl_sender_sites": RHS, "rhsbl_from_sites": RHS,
            "dnsbl_threshold": "3", "dnsbl_timeout": T}, "checks-rbl",
           policy_port=port1)
daemons.append(r1)

with section("DNSBL / RHSBL rejections and their reply text"):
    for kw, reply, label in (
            ({"ip": "192.0.2.2"}, blocked("Client host", "192.0.2.2",
                                          "bl.example", TXT2),
             "DNSBL 127.0.0.2 with TXT"),
            ({"ip": "192.0.2.4"}, blocked("Client host", "192.0.2.4",
                                          "bl.example", TXT4),
             "DNSBL 127.0.0.4 with TXT"),
            ({"ip": "192.0.2.10"}, blocked("Client host", "192.0.2.10",
                                           "bl.example"),
             "DNSBL 127.0.0.10 without TXT"),
            ({"ip": V6}, blocked("Client host", V6, "bl.example", TXT6),
             "DNSBL, IPv6 client (nibbles)"),
            ({"helo": "badhelo.example"}, blocked(
                "Helo command", "badhelo.example", "rhs.example", TXT_RHS),
             "RHSBL HELO"),
            ({"sender": "<x@spammer.example>"}, blocked(
                "Sender address", "spammer.example", "rhs.example",
                TXT_RHS), "RHSBL MAIL FROM domain"),
            ({"frm": "Spam <x@Spammer.Example>"}, blocked(
                "Header address", "spammer.example", "rhs.example",
                TXT_RHS), "RHSBL From: domain")):
        r, q, secs = send(r1, **kw)
        is_(reply_of(r), reply, "%s: reply" % label)
        is_(r.stage, "eoh", "%s: refused at end of headers" % label)
        like(logline(r1, q), r" rbl=\S*:127\.0\.0\.\d+:3\b.* "
             r"action=reject$", "%s: logged" % label)
    run, q = lua(r1, "DNSBL reject, miltertest", ip="192.0.2.2",
                 EXPECT="reject")
    is_(run.reply, "y", "DNSBL reject, miltertest: SMFIR_REPLYCODE")
    for ip, label in (("192.0.2.12", "answer 127.0.0.12 outside the filter"),
                      ("192.0.2.99", "not listed"),
                      ("192.0.2.20", "listed, but DNSWL weight -5")):
        run, q = lua(r1, label, ip=ip, checks=["NOEDITS"])
        line = logline(r1, q)
        like(line, r" action=accept$", "%s: accepted, logged" % label)
    like(logline(r1, q), r"wl\.example:127\.0\.0\.5:-5", "DNSWL hit logged "
         "with its weight")

with section("timeouts"):
    r, q, secs = send(r1, ip="192.0.2.5")
    is_(reply_of(r), blocked("Client host", "192.0.2.5", "bl.example"),
        "listed while another list times out: still rejected")
    line = logline(r1, q)
    like(line, r"rbl=bl\.example:127\.0\.0\.2:3", "one log line: the hit")
    like(line, r"rbl_timeout=\S*slow\.example", "one log line: the timeout")
    ok(secs < 2.0 + 1.5, "timed-out list costs at most dnsbl_timeout "
       "(%.2f s, limit 2 s)" % secs)
    ok(secs > 1.5, "the timeout was really waited for (%.2f s)" % secs)
    r, q, secs = send(r1, ip="192.0.2.31")
    ok(r.action in ("continue", "accept"), "not listed, one list timed "
       "out: accepted (%s)" % r.action)
    ok(secs < 3.5, "answered within dnsbl_timeout (%.2f s)" % secs)

# threshold 5, a zone listed twice, custom reply, allowlist threshold
r2 = start({"dnsbl_sites": "bl.example=127.0.0.[2..11]*3, "
            "bl.example=127.0.0.4*2, wl.example*-5",
            "rhsbl_helo_sites": RHS, "dnsbl_threshold": "5",
            "dnsbl_allowlist_threshold": "-5",
            "dnsbl_reply": "550 5.7.23 [$rbl_what] on $rbl_domain "
                           "(score $rbl_score)${rbl_reason?: $rbl_reason}",
            "dnsbl_timeout": T}, "checks-rbl-threshold")
daemons.append(r2)
with section("thresholds, weights, filters, dnsbl_reply"):
    r, q, _ = send(r2, ip="192.0.2.2")
    ok(r.action in ("continue", "accept"), "score 3 < threshold 5: accepted")
    like(logline(r2, q), r"score=3\b", "score 3 logged")
    r, q, _ = send(r2, ip="192.0.2.4")
    is_(reply_of(r), "550 5.7.23 [192.0.2.4] on bl.example (score 5): " +
        TXT4, "127.0.0.4 matches both entries of the zone: 3 + 2 = 5")
    r, q, _ = send(r2, ip="192.0.2.2", helo="badhelo.example")
    like(reply_of(r), r"^550 5\.7\.23 \[192\.0\.2\.2\] on bl\.example "
         r"\(score 6\)", "DNSBL 3 + RHSBL 3 = 6: rejected, first hit named")
    r, q, _ = send(r2, ip="192.0.2.21")
    like(logline(r2, q), r"allowlisted=score", "score -5 <= allowlist "
         "threshold: allowlisted")

r3 = start({"dnsbl_sites": SITES, "dnsbl_threshold": "3",
            "dnsbl_action": "header", "dnsbl_timeout": T},
           "checks-rbl-header")
r4 = start({"dnsbl_sites": SITES, "dnsbl_threshold": "3",
            "dnsbl_action": "log", "dnsbl_timeout": T}, "checks-rbl-log")
daemons += [r3, r4]
with section("dnsbl_action = header | log"):
    run, q = lua(r3, "dnsbl_action=header", ip="192.0.2.2",
                 checks=["HDRINSERT|X-Postern-DNSBL"])
    r, q, _ = send(r3, ip="192.0.2.2")
    is_([v.strip() for v in r.headers_named("X-Postern-DNSBL")],
        ["score=3"], "dnsbl_action=header: X-Postern-DNSBL: score=3")
    like(logline(r3, q), r"rbl_action=header.* action=accept$",
         "dnsbl_action=header: logged")
    r, q, _ = send(r3, ip="192.0.2.99")
    is_(r.headers_named("X-Postern-DNSBL"), [], "not listed: no header")
    run, q = lua(r4, "dnsbl_action=log", ip="192.0.2.2", checks=["NOEDITS"])
    like(logline(r4, q), r"rbl=bl\.example:127\.0\.0\.2:3.*rbl_action=log"
         r".* action=accept$", "dnsbl_action=log: logged only")

# ------------------------------------------------------------------ GeoIP
geodir = tmp.sub("geo")
country = os.path.join(geodir, "country.mmdb")
shutil.copy(os.path.join(GEO, "GeoIP2-Country-Test.mmdb"), country)
policy = os.path.join(geodir, "geoip.policy")
shutil.copy(os.path.join(DATA, "geoip.policy"), policy)
port2 = pt.free_port()
g = start({"dnsbl_sites": "bl.example*1, wl.example*-5",
           "dnsbl_threshold": "3", "dnsbl_timeout": T,
           "geoip_country_db": country,
           "geoip_asn_db": os.path.join(GEO, "GeoLite2-ASN-Test.mmdb"),
           "geoip_policy": policy, "geoip_header": "X-Postern-GeoIP",
           "geoip_check_interval": "1s"}, "checks-geoip", policy_port=port2)
daemons.append(g)
with section("GeoIP"):
    r, q, _ = send(g, ip="111.235.160.1")
    is_(reply_of(r), "550 5.7.1 No mail from CN here", "country:CN REJECT")
    like(logline(g, q), r"geoip=CN/AS.*geoip_action=country:CN",
         "country:CN REJECT logged")
    r, q, _ = send(g, ip="216.160.83.57")
    is_(reply_of(r), blocked("Client host", "216.160.83.57", "bl.example"),
        "continent:NA SCORE 2 + DNSBL 1 = 3: rejected")
    like(logline(g, q), r"score=3\b", "score 3 logged")
    r, q, _ = send(g, ip="81.2.69.160")
    ok(r.action in ("continue", "accept"), "GB: DNSBL 1 alone < 3: accepted")
    is_([v.strip() for v in r.headers_named("X-Postern-GeoIP")],
        ["country=GB; continent=EU; asn=unknown"], "geoip_header (GB)")
    r, q, _ = send(g, ip="89.160.20.113")
    ok(r.action in ("continue", "accept"), "asn:29518 OK wins over "
       "country:SE REJECT")
    like(logline(g, q), r"allowlisted=asn:29518", "asn OK: allowlisted")
    is_([v.strip() for v in r.headers_named("X-Postern-GeoIP")],
        ["country=SE; continent=EU; asn=29518 (Bredband2 AB)"],
        "geoip_header (SE, with the ASN)")
    run, q = lua(g, "country:PH HOLD", ip="202.196.224.1",
                 EXPECT="quarantine", checks=["QUARANTINE|geo%20hold"])
    run, q = lua(g, "geoip_header (miltertest)", ip="81.2.69.160",
                 checks=["HDRINSERT|X-Postern-GeoIP"])
    # reload: 175.16.199.1 is CN in GeoIP2-Country-Test, absent from
    # GeoLite2-Country-Test; replace the file by rename, as geoipupdate
    r, q, _ = send(g, ip="175.16.199.1")
    is_(reply_of(r), "550 5.7.1 No mail from CN here", "before reload: CN")
    new = country + ".new"
    shutil.copy(os.path.join(GEO, "GeoLite2-Country-Test.mmdb"), new)
    os.rename(new, country)
    time.sleep(1.5)
    send(g, ip="192.0.2.99")           # a lookup runs the reload check
    time.sleep(0.3)
    r, q, _ = send(g, ip="175.16.199.1")
    ok(r.action in ("continue", "accept"), "after the database file was "
       "replaced: 175.16.199.1 unknown, accepted (%s)" % reply_of(r))
    r, q, _ = send(g, ip="111.235.160.1")
    is_(reply_of(r), "550 5.7.1 No mail from CN here",
        "after reload: 111.235.160.1 still CN")

# ------------------------------------------------------- policy listener
with section("policy listener"):
    def pol(port, **kw):
        return pt.policy_query(("127.0.0.1", port), pt.policy_request(**kw))
    rep = pol(port1, client_address="192.0.2.2")
    is_(rep.get("action"), blocked("Client host", "192.0.2.2", "bl.example",
                                   TXT2), "policy: DNSBL hit: 554 5.7.1")
    rep = pol(port1, client_address="192.0.2.99")
    is_(rep.get("action"), "DUNNO", "policy: not listed: DUNNO")
    rep = pol(port1, client_address="192.0.2.99", helo_name="badhelo.example")
    is_(rep.get("action"), blocked("Helo command", "badhelo.example",
                                   "rhs.example", TXT_RHS),
        "policy: RHSBL HELO")
    rep = pol(port1, client_address="192.0.2.99",
              sender="x@spammer.example")
    is_(rep.get("action"), blocked("Sender address", "spammer.example",
                                   "rhs.example", TXT_RHS),
        "policy: RHSBL sender")
    rep = pol(port1, client_address=V6)
    is_(rep.get("action"), blocked("Client host", V6, "bl.example", TXT6),
        "policy: IPv6 client")
    rep = pol(port2, client_address="111.235.160.1")
    is_(rep.get("action"), "550 5.7.1 No mail from CN here",
        "policy: GeoIP REJECT")
    rep = pol(port2, client_address="81.2.69.160")
    is_(rep.get("action"), "PREPEND X-Postern-GeoIP: country=GB; "
        "continent=EU; asn=unknown", "policy: geoip_header as PREPEND")
    with pt.PolicyClient(("127.0.0.1", port1)) as c:
        a = [c.query(pt.policy_request(client_address=ip)).get("action")
             for ip in ("192.0.2.99", "192.0.2.4", "192.0.2.99")]
        is_([x.split(" ")[0] for x in a], ["DUNNO", "554", "DUNNO"],
            "policy: three requests on one connection")
    like(r1.log_text(), r"policy: client=192\.0\.2\.2 .*action=reject",
         "policy decisions logged")

with section("daemons alive"):
    for d in daemons:
        ok(mt.daemon_alive(d), "%s still answers" % d.name)

ct.stop_all(daemons)
ub.stop()
pt.done()
