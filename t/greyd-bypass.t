#!/usr/bin/python3
# greyd-bypass.t - postern-greyd's DNS work over the policy protocol, with
# a local unbound serving the test zones: greylisting by SPF-authenticated
# domain (a pass from two networks of one domain is one triplet; fail,
# none and temperror stay per network; the option off), DNS whitelists
# (postscreen filters, IPv6 nibbles, a filtered-out code, a list that
# times out), rdns_whitelist (regex, suffix, exact name, "unknown"), no
# DNS for whitelisted requests, slow SPF not stalling other requests,
# SIGHUP reload with requests in flight, SIGTERM waiting for them.
import ipaddress
import os
import re
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import postern_test as pt                                      # noqa: E402
from postern_test import ok, is_, like, unlike, section        # noqa: E402

GREYD = os.path.join(pt.top_builddir(), "policyd", "postern-greyd")
if not os.access(GREYD, os.X_OK):
    pt.skip_all("postern-greyd not built")
if pt.have_programs("unbound"):
    pt.skip_all("unbound not installed")

TIMEOUT_ZONE = "to.example"
NET1, NET2 = "192.0.2.10", "198.18.7.20"     # two networks of spf.example
V6 = "2001:db8::5"


def v6_name(addr, zone):
    rev = ipaddress.ip_address(addr).reverse_pointer
    return rev[:-len(".ip6.arpa")] + "." + zone


ZONES = {
    "spf.example": [("@", "TXT", "v=spf1 ip4:192.0.2.0/24 "
                     "ip4:198.18.7.0/24 -all")],
    "fail.example": [("@", "TXT", "v=spf1 -all")],
    "none.example": [("@", "A", "192.0.2.99")],
    # every client asks a fresh name under the zone that never answers
    "slowspf.example": [("@", "TXT", "v=spf1 exists:%{i}.s." + TIMEOUT_ZONE
                         + " -all")],
    "canary.example": [("@", "TXT", "v=spf1 -all")],
    "wlcanary.example": [("@", "TXT", "v=spf1 -all")],
    "dnswl.example": [
        ("5.113.0.203", "A", "127.0.5.2"),       # listed (fits the filter)
        ("6.113.0.203", "A", "127.0.5.0"),       # filtered out
        ("7.113.0.203", "A", "127.0.5.2"),
        ("7.113.0.203", "A", "10.0.0.1"),
        (v6_name(V6, "dnswl.example"), "A", "127.0.9.1"),
    ],
    "plain.example": [                           # a list with no filter
        ("8.113.0.203", "A", "127.0.0.2"),
        ("9.113.0.203", "A", "127.0.0.255"),     # "too many queries"
    ],
}

tmp = pt.tmpdir()
ub = pt.Unbound(ZONES, timeout_zone=TIMEOUT_ZONE, tmp=tmp, log_queries=True)
WLC = tmp.file("wl_clients", "trusted.example.net\n")
WLR = tmp.file("wl_rcpts", "postmaster@\n")
RDNS = ("rdns_whitelist = /^mta\\d+\\.bulk\\.example$/, "
        ".outbound.protection.outlook.example\n"
        "rdns_whitelist = exact.relay.example, /^unknown$/\n")


def start(name, conf="", extra=()):
    port = pt.free_port()
    argv = [GREYD, "-f", "-c", tmp.file("%s.conf" % name, conf),
            "-o", "listen=inet:127.0.0.1:%d" % port,
            "-o", "store=%s" % os.path.join(tmp.path, name + ".store"),
            "-o", "delay=2s", "-o", "hostname=mx.test",
            "-o", "whitelist_clients=%s" % WLC,
            "-o", "whitelist_recipients=%s" % WLR,
            "-o", "dns_server=%s" % ub.addr,
            "-o", "log_level=debug"] + list(extra)
    d = pt.Daemon(argv, ready=("tcp", port), name=name, tmp=tmp)
    d.addr = "inet:127.0.0.1:%d" % port
    return d


def ask(d, ip, sender="alice@spf.example", rcpt="bob@dest.example",
        name="mail.example.com", **kw):
    return pt.policy_query(d.addr, pt.policy_request(
        client_address=ip, client_name=name, sender=sender, recipient=rcpt,
        **kw)).get("action", "")


def timed(fn, *a, **kw):
    t0 = time.monotonic()
    r = fn(*a, **kw)
    return r, time.monotonic() - t0


def in_background(fn, *a, **kw):
    """Run fn in a thread; the result is in box["r"] when box["t"] ends."""
    box = {}

    def run():
        try:
            box["r"] = fn(*a, **kw)
        except Exception as e:                 # noqa: BLE001
            box["r"] = "exception: %s" % e
        box["at"] = time.monotonic()
    box["t"] = threading.Thread(target=run, daemon=True)
    box["t"].start()
    return box


def logged(d, regex, timeout=3):
    return pt.wait_until(lambda: re.search(regex, d.log_text(), re.M),
                         timeout)


SPF_OPTS = ("-o", "dns_timeout=1s")
a = start("greyd-a", conf=RDNS, extra=SPF_OPTS + (
    "-o", "dnswl=dnswl.example=127.0.[0..255].[1..3]",))
b = start("greyd-off", extra=SPF_OPTS + (
    "-o", "greylist_by_spf_domain=no",))

with section("first attempts (SPF pass, fail, none, temperror; option off)"):
    like(ask(a, NET1), r"^DEFER_IF_PERMIT 4\.2\.0 Greylisted",
         "SPF pass, first network: new triplet deferred")
    ok(logged(a, r"action=greylist, reason=new, client_name=mail\.example\."
              r"com, client_address=192\.0\.2\.10, sender=alice@spf\."
              r"example, recipient=bob@dest\.example, spf_domain=spf\."
              r"example$"), "log line ends with spf_domain=spf.example")
    like(ask(a, NET1, sender="carol@fail.example"), r"^DEFER",
         "SPF fail: deferred")
    like(ask(a, NET1, sender="dave@none.example"), r"^DEFER",
         "SPF none: deferred")
    r, took = timed(ask, a, NET1, sender="erin@slowspf.example")
    like(r, r"^DEFER", "SPF temperror (lookup times out): deferred")
    ok(0.5 < took < 4, "SPF time-out answered within dns_timeout + slack "
       "(%.1f s)" % took)
    ok(logged(a, r"SPF for erin@slowspf\.example from 192\.0\.2\.10: "
              r"temperror"), "the SPF check really timed out (temperror)")
    unlike(a.log_text(), r"sender=(carol|dave|erin)@.*spf_domain",
           "no spf_domain unless SPF passed")
    like(ask(b, NET1), r"^DEFER", "option off: deferred")
    t_first = time.monotonic()

with section("slow SPF does not stall other requests"):
    slow = in_background(ask, a, "192.0.2.77", sender="frank@slowspf.example")
    time.sleep(0.1)
    r, took = timed(ask, a, "203.0.113.5")
    is_(r, "DUNNO", "a DNSWL-listed client answered meanwhile")
    ok(took < 0.5, "...at once (%.2f s) while an SPF check waits" % took)
    ok(slow["t"].is_alive(), "the slow request was still pending then")
    slow["t"].join(5)
    like(slow.get("r", ""), r"^DEFER", "the slow request: deferred after "
         "its SPF time-out")

with section("second attempts from another network after the delay"):
    time.sleep(max(0, 2.2 - (time.monotonic() - t_first)))
    like(ask(a, NET2), r"^PREPEND X-Greylist: delayed [2-9] seconds by "
         r"postern-greyd at mx\.test",
         "SPF pass, other network: same triplet by domain, passes")
    ok(logged(a, r"action=pass, reason=triplet found, delay=\d+, "
              r"client_name=mail\.example\.com, client_address=198\.18\.7\."
              r"20, sender=alice@spf\.example, recipient=bob@dest\.example, "
              r"spf_domain=spf\.example$"), "pass logged with spf_domain")
    like(ask(a, NET2, sender="carol@fail.example"), r"^DEFER",
         "SPF fail, other network: greylisted again (per network)")
    ok(logged(a, r"action=greylist, reason=new, .*client_address=198\.18\."
              r"7\.20, sender=carol@fail\.example, recipient=bob@dest\."
              r"example$"), "...as a new triplet, without spf_domain")
    like(ask(a, NET2, sender="dave@none.example"), r"^DEFER",
         "SPF none, other network: greylisted again")
    like(ask(a, NET2, sender="erin@slowspf.example"), r"^DEFER",
         "SPF temperror, other network: greylisted again")
    like(ask(a, NET1, sender="carol@fail.example"), r"^PREPEND X-Greylist",
         "SPF fail, first network: its own triplet passes")
    like(ask(b, NET2), r"^DEFER", "option off: the other network is "
         "greylisted (per network)")
    like(ask(b, NET1), r"^PREPEND X-Greylist", "option off: the first "
         "network passes")
    unlike(b.log_text(), r"spf_domain=", "option off: no spf_domain logged")
    unlike(b.log_text(), r"SPF for ", "option off: no SPF check run")

with section("DNS whitelists"):
    r, took = timed(ask, a, "203.0.113.5")
    is_(r, "DUNNO", "listed (127.0.5.2 fits 127.0.[0..255].[1..3]): passes")
    ok(logged(a, r"action=pass, reason=dnswl dnswl\.example, "
              r"client_name=mail\.example\.com, client_address=203\.0\."
              r"113\.5,"), "logged with reason=dnswl dnswl.example")
    like(ask(a, "203.0.113.6", rcpt="wl6@dest.example"), r"^DEFER",
         "127.0.5.0 is filtered out: greylisted")
    is_(ask(a, "203.0.113.7", rcpt="wl7@dest.example"), "DUNNO",
        "one fitting address among others is enough")
    like(ask(a, "203.0.113.99", rcpt="wl99@dest.example"), r"^DEFER",
         "not listed (NXDOMAIN): greylisted")
    is_(ask(a, V6), "DUNNO", "IPv6 client listed under its nibble name")
    like(ask(a, "2001:db8::6", rcpt="wl6@dest.example"), r"^DEFER",
         "IPv6 client not listed")

with section("rdns_whitelist"):
    for name, want, what in (
            ("mta12.bulk.example", "DUNNO", "regex"),
            ("MTA7.Bulk.EXAMPLE", "DUNNO", "regex, without case"),
            ("mta.bulk.example", "DEFER", "regex not matching"),
            ("a.mail.outbound.protection.outlook.example", "DUNNO",
             "suffix"),
            ("outbound.protection.outlook.example", "DEFER",
             "the suffix's own name is not below it"),
            ("xoutbound.protection.outlook.example", "DEFER",
             "suffix only at a label boundary"),
            ("exact.relay.example", "DUNNO", "exact name"),
            ("sub.exact.relay.example", "DEFER", "exact name: not its "
             "subdomains"),
            ("unknown", "DEFER", "\"unknown\" never matches (even "
             "/^unknown$/)")):
        r = ask(a, "203.0.113.20", name=name, sender="x@none.example",
                rcpt="r-%s@dest.example" % name)
        like(r, "^" + want, "rdns_whitelist %s: %s" % (what, want))
    ok(logged(a, r"action=pass, reason=rdns whitelist, client_name=mta12\."
              r"bulk\.example,"), "logged with reason=rdns whitelist")

with section("whitelisted requests ask no DNS"):
    is_(ask(a, "203.0.113.30", name="mx.trusted.example.net",
            sender="a@wlcanary.example"), "DUNNO", "client whitelist")
    is_(ask(a, "203.0.113.31", rcpt="postmaster@dest.example",
            sender="b@wlcanary.example"), "DUNNO", "recipient whitelist")
    is_(ask(a, "203.0.113.32", name="mta1.bulk.example",
            sender="c@wlcanary.example"), "DUNNO", "rdns whitelist")
    like(ask(a, "203.0.113.33", sender="d@canary.example"), r"^DEFER",
         "a request that is not whitelisted...")
    ok(pt.wait_until(lambda: re.search(r"canary\.example\. TXT",
                                       ub.log_text()), 3),
       "...asks SPF (seen in unbound's query log)")
    unlike(ub.log_text(), r"wlcanary", "whitelisted ones asked nothing")
    unlike(ub.log_text(), r"3[0-2]\.113\.0\.203\.dnswl",
           "not even the DNS whitelist")

with section("SIGHUP reload with requests in flight"):
    like(ask(a, "203.0.113.40", name="mx.reloaded.example",
             sender="x@none.example"), r"^DEFER", "before the reload: "
         "greylisted")
    slow = in_background(ask, a, "192.0.2.78", sender="gina@slowspf.example")
    time.sleep(0.2)
    # new rdns entry and a changed DNS setting (a new resolver): the
    # request in flight keeps the old context until it ends
    with open(os.path.join(tmp.path, "greyd-a.conf"), "w") as f:
        f.write(RDNS + "rdns_whitelist = .reloaded.example\n"
                "dns_tries = 1\n")
    os.kill(a.pid, signal.SIGHUP)
    ok(logged(a, r"configuration reloaded"), "reloaded")
    slow["t"].join(5)
    like(slow.get("r", ""), r"^DEFER", "the request in flight at the "
         "reload was answered")
    is_(ask(a, "203.0.113.41", name="mx.reloaded.example",
            sender="x@none.example"), "DUNNO", "after the reload: the new "
        "rdns_whitelist entry applies")
    is_(ask(a, "203.0.113.5"), "DUNNO", "DNS whitelist still works")
    like(ask(a, NET1, sender="hank@spf.example"), r"^DEFER", "SPF works")
    ok(logged(a, r"sender=hank@spf\.example, recipient=bob@dest\.example, "
              r"spf_domain=spf\.example$"), "...with spf_domain")
    ok(a.alive(), "daemon alive after the reload")
    a.stop()
    b.stop()

with section("a DNS whitelist that times out; SIGTERM waits"):
    c = start("greyd-c", extra=(
        "-o", "dns_timeout=1s", "-o", "greylist_by_spf_domain=no",
        "-o", "dnswl=wl.%s, plain.example" % TIMEOUT_ZONE))
    r, took = timed(ask, c, "203.0.113.50", rcpt="wl50@dest.example")
    like(r, r"^DEFER", "a list that does not answer is no bypass: "
         "greylisted")
    ok(0.8 < took < 3.5, "...within dns_timeout (%.1f s)" % took)
    ok(logged(c, r"dnswl wl\.to\.example: timeout for 203\.0\.113\.50: "
              r"no bypass"), "the time-out is logged")
    r, took = timed(ask, c, "203.0.113.8")
    is_(r, "DUNNO", "listed on the other list (no filter, 127.0.0.2): "
        "passes")
    ok(took < 0.6, "...without waiting for the slow list (%.2f s)" % took)
    ok(logged(c, r"reason=dnswl plain\.example, .*client_address=203\.0\."
              r"113\.8,"), "logged with the list that answered")
    like(ask(c, "203.0.113.9", rcpt="wl9@dest.example"), r"^DEFER",
         "127.0.0.255 without a filter: no bypass")
    slow = in_background(ask, c, "203.0.113.51",
                         rcpt="sigterm@dest.example")
    time.sleep(0.3)
    t_term = time.monotonic()
    c.stop()
    slow["t"].join(5)
    like(slow.get("r", ""), r"^DEFER", "SIGTERM: the request in flight "
         "was still answered")
    ok(slow.get("at", 0) >= t_term, "...after the signal")

pt.done()
