#!/usr/bin/python3
# harness_selftest.t - the integration-test harness works, without postern:
# unbound serves a test zone (TXT/A/AAAA/MX/PTR, long TXT, NXDOMAIN), its
# timeout zone stays silent and its servfail zone fails fast; a private
# Postfix relays an XCLIENT message to the sink; Postfix consults a policy
# service (a trivial one written here) once per recipient with one
# `instance` per message, so a PREPEND given only to the first recipient
# shows up exactly once.
import os
import socketserver
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import postern_test as pt                                      # noqa: E402

missing = pt.have_programs("unbound", "postfix", "postconf", "swaks")
if missing:
    pt.skip_all("missing: %s" % ", ".join(missing))
if os.geteuid() != 0:
    pt.skip_all("a private Postfix instance needs root")

LONG_TXT = "v=spf1 " + " ".join("ip4:198.51.100.%d" % i
                                for i in range(1, 40)) + " -all"

ZONES = {
    "example.com": [
        ("example.com", "TXT", "v=spf1 ip4:192.0.2.10 -all"),
        ("example.com", "MX", "10 mail.example.com."),
        ("mail.example.com", "A", "192.0.2.10"),
        ("mail.example.com", "AAAA", "2001:db8::10"),
        ("long.example.com", "TXT", LONG_TXT),
        ("quote.example.com", "TXT", 'a "quoted" \\ back\'slash; #x'),
    ],
    # unbound serves this reverse zone itself by default (RFC 5737)
    "2.0.192.in-addr.arpa": [
        ("10.2.0.192.in-addr.arpa", "PTR", "mail.example.com."),
    ],
}

# ------------------------------------------------------------------ DNS
with pt.section("unbound"):
    ub = pt.Unbound(ZONES, timeout_zone="timeout.example.org",
                    servfail_zone="servfail.example.org")
    pt.diag("unbound on %s" % ub.addr)

    r = ub.query("example.com", "TXT")
    pt.is_(r and r.txt(), ["v=spf1 ip4:192.0.2.10 -all"], "TXT record")
    r = ub.query("mail.example.com", "A")
    pt.is_(r and r.values("A"), ["192.0.2.10"], "A record")
    r = ub.query("mail.example.com", "AAAA")
    pt.is_(r and r.values("AAAA"), ["2001:db8::10"], "AAAA record")
    r = ub.query("example.com", "MX")
    pt.is_(r and r.values("MX"), ["10 mail.example.com"], "MX record")
    r = ub.query("10.2.0.192.in-addr.arpa", "PTR")
    pt.is_(r and r.values("PTR"), ["mail.example.com"],
           "PTR in a reverse zone unbound has by default")
    r = ub.query("long.example.com", "TXT", tcp=True)
    pt.is_(r and r.txt(), [LONG_TXT], "TXT longer than 255 bytes (%d)"
           % len(LONG_TXT))
    pt.ok(r and len(r.values("TXT")[0]) == (len(LONG_TXT) + 254) // 255,
          "  ... split in 255-byte strings")
    r = ub.query("quote.example.com", "TXT")
    pt.is_(r and r.txt(), ['a "quoted" \\ back\'slash; #x'],
           "TXT with quotes, backslash, ; and #")
    r = ub.query("nx.example.com", "TXT")
    pt.is_(r and r.rcode_name, "NXDOMAIN", "unknown name: NXDOMAIN")
    r = ub.query("mail.example.com", "TXT")
    pt.ok(r is not None and r.rcode_name == "NOERROR" and not r.answers,
          "other type: NODATA")
    r = ub.query("www.debian.org", "A")
    pt.is_(r and r.rcode_name, "REFUSED",
           "names outside the test zones are refused (nothing leaves)")
    r = ub.query("localhost", "A")
    pt.ok(r is not None, "unbound's own localhost zone still answers")

    t0 = time.monotonic()
    r = ub.query(ub.timeout_name(), "TXT", timeout=1.0)
    pt.ok(r is None, "timeout zone: no answer within 1 s")
    t0 = time.monotonic()
    r = ub.query(ub.timeout_name(), "A", timeout=3.0)
    pt.ok(r is None and time.monotonic() - t0 >= 2.9,
          "timeout zone: no answer within 3 s either")
    pt.ok(ub.silent.count > 0, "unbound did ask the silent server (%d)" %
          ub.silent.count)
    t0 = time.monotonic()
    r = ub.query("x.servfail.example.org", "TXT", timeout=5.0)
    pt.is_(r and r.rcode_name, "SERVFAIL", "servfail zone: SERVFAIL")
    pt.ok(time.monotonic() - t0 < 2.0, "  ... at once (%.3f s)" %
          (time.monotonic() - t0))

    ub.stop()
    pt.ok(not ub.daemon.alive(), "unbound stopped")

# ------------------------------------------------------- policy service
# A trivial policy server: PREPEND for the first recipient of a message
# (first request of an `instance`), DUNNO for the others.  Requests are
# recorded to check what Postfix sent.
requests = []
seen_instances = set()


class PolicyHandler(socketserver.StreamRequestHandler):
    timeout = 30

    def handle(self):
        attrs = {}
        while True:
            line = self.rfile.readline(100000)
            if not line:
                return
            line = line.decode("utf-8", "replace").rstrip("\n")
            if line:
                k, _, v = line.partition("=")
                attrs[k] = v
                continue
            requests.append(attrs)
            inst = attrs.get("instance", "")
            if inst in seen_instances:
                self.wfile.write(b"action=DUNNO\n\n")
            else:
                seen_instances.add(inst)
                self.wfile.write(b"action=PREPEND X-Test: yes\n\n")
            self.wfile.flush()
            attrs = {}


class PolicyServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


policy_port = pt.free_port()
policy = PolicyServer(("127.0.0.1", policy_port), PolicyHandler)
threading.Thread(target=policy.serve_forever, kwargs={"poll_interval": 0.1},
                 daemon=True).start()

# ---------------------------------------------------------- policy client
with pt.section("policy client"):
    with pt.PolicyClient(policy_port) as c:
        rq = pt.policy_request(instance="selftest.1")
        r1 = pt.policy_query(None, rq, conn=c)
        r2 = pt.policy_query(None, rq, conn=c)
    pt.is_(r1, {"action": "PREPEND X-Test: yes"},
           "policy_query: reply parsed")
    pt.is_(r2, {"action": "DUNNO"}, "policy_query: second request on the "
           "same connection")
    pt.is_(pt.action_word(r1), "PREPEND", "action_word")
    pt.is_(pt.action_text(r1), "X-Test: yes", "action_text")
    pt.is_(requests[-1].get("sender"), "alice@example.com",
           "policy_request defaults")
    del requests[:]

# ---------------------------------------------------------------- Postfix
with pt.section("postfix"):
    sink = pt.Sink()
    pf = pt.Postfix(sink=sink, main_cf_extra={
        "smtpd_recipient_restrictions":
            "reject_unauth_destination, "
            "check_policy_service inet:127.0.0.1:%d" % policy_port,
    })
    pt.diag("postfix smtpd on 127.0.0.1:%d, sink on %d" % (pf.port,
                                                          sink.port))
    conf = pf.postconf_n()
    pt.like(conf, r"(?m)^smtpd_authorized_xclient_hosts = 127\.0\.0\.0/8$",
            "postconf -n shows the private config")
    pt.like(conf, r"(?m)^config_directory = %s$" % pf.config_dir,
            "  ... and its config_directory")
    pt.unlike(pf.log_text(), r"(?i)\b(fatal|panic):", "no fatal errors "
              "in the maillog at start")

    # one recipient, XCLIENT from a test address
    r = pf.swaks(frm="alice@example.com", to="bob@example.net",
                 xclient_addr="192.0.2.10", xclient_name="mail.example.com")
    pt.ok(r.rc == 0 and r.data and r.data[0] == 250,
          "swaks: message accepted (%s)" % r.full(r.data))
    if r.rc != 0:
        pt.diag(r.transcript)
    msgs = sink.wait_for_messages(1, 30)
    pt.is_(len(msgs), 1, "one message in the sink")
    if msgs:
        m = msgs[0]
        pt.is_(m.mail_from, "alice@example.com", "envelope sender")
        pt.is_(m.rcpts, ["bob@example.net"], "envelope recipient")
        rcvd = m.headers("Received")
        pt.like(rcvd and rcvd[0], r"from mail\.example\.com "
                r"\(mail\.example\.com \[192\.0\.2\.10\]\)",
                "Received: shows the XCLIENT address and name")
        pt.is_(m.headers("X-Test"), ["yes"], "policy PREPEND header once")
    pt.is_(len(requests), 1, "policy service asked once")
    if requests:
        q = requests[0]
        pt.is_(q.get("client_address"), "192.0.2.10",
               "policy: client_address from XCLIENT")
        pt.is_(q.get("client_name"), "mail.example.com",
               "policy: client_name from XCLIENT")
        pt.is_(q.get("helo_name"), "mail.example.com", "policy: helo_name")
        pt.is_(q.get("sender"), "alice@example.com", "policy: sender")
        pt.is_(q.get("protocol_state"), "RCPT", "policy: at RCPT")

    # three recipients: three policy requests, one instance, one header
    sink.clear()
    del requests[:]
    rcpts = ["r1@example.net", "r2@example.org", "r3@example.com"]
    r = pf.swaks(frm="carol@example.com", to=rcpts,
                 xclient_addr="192.0.2.10", xclient_name="mail.example.com")
    pt.is_([c for c, _ in r.rcpt], [250, 250, 250],
           "3 recipients accepted")
    pt.ok(r.data and r.data[0] == 250, "DATA accepted (%s)" %
          r.full(r.data))
    msgs = sink.wait_for_messages(1, 30)
    time.sleep(1)       # Postfix may deliver in more than one transaction
    msgs = sink.messages
    got = sorted(x for m in msgs for x in m.rcpts)
    pt.is_(got, sorted(rcpts), "all 3 recipients reached the sink")
    pt.is_(len(requests), 3, "policy service asked once per recipient")
    pt.is_(len(set(q.get("instance") for q in requests)), 1,
           "  ... with one instance for the message")
    pt.is_([q.get("recipient") for q in requests], rcpts,
           "  ... in recipient order")
    for m in msgs:
        pt.is_(m.headers("X-Test"), ["yes"],
               "X-Test header exactly once in the copy for %s" %
               ",".join(m.rcpts))

    # a rejected recipient is seen by swaks
    del requests[:]
    pf2 = pt.Postfix(sink=sink, main_cf_extra={
        "smtpd_recipient_restrictions":
            "check_recipient_access inline:{ {no@example.net = 550 5.7.23 "
            "test reject} }",
    })
    r = pf2.swaks(frm="alice@example.com",
                  to=["no@example.net", "yes@example.net"],
                  xclient_addr="198.51.100.20")
    pt.is_([c for c, _ in r.rcpt], [550, 250],
           "swaks result: RCPT reply codes")
    pt.like(r.rcpt and r.rcpt[0][1], r"^5\.7\.23 ", "  ... and their text")
    pt.ok(r.data and r.data[0] == 250, "  ... DATA for the other")
    pt.ok(pf2.wait_log(r"to=<yes@example\.net>.*status=sent"),
          "wait_log finds the delivery in the maillog")
    pf2.stop()
    pf.stop()
    pt.ok(not pf.running() and not pf2.running(), "postfix masters stopped")

# -------------------------------------------------------------- Daemon
with pt.section("daemon"):
    port = pt.free_port()
    d = pt.Daemon([sys.executable, "-c",
                   "import socket,time,sys\n"
                   "s=socket.socket(); s.bind(('127.0.0.1',%d)); s.listen()\n"
                   "print('runtime error: fake UBSan line for the test')\n"
                   "sys.stdout.flush(); time.sleep(60)\n" % port],
                  ready=("tcp", port), name="fake-daemon", check=False)
    pt.ok(d.alive(), "Daemon started and became ready")
    pt.ok(pt.wait_until(lambda: d.sanitizer_reports(), 5),
          "Daemon finds a sanitizer line in its log")
    d.stop()
    pt.ok(not d.alive(), "Daemon stopped")
    pt.is_(d.problems, ["sanitizer report"], "  ... and reports the "
           "sanitizer line as a problem")
    d = pt.Daemon([sys.executable, "-c", "import sys; sys.exit(3)"],
                  name="short-lived", check=False)
    pt.wait_until(lambda: not d.alive(), 5)
    d.stop()
    pt.like(d.exit_problem, r"exited on its own with status 3",
            "Daemon reports a process that died before stop()")
    try:
        pt.Daemon([sys.executable, "-c", "import sys; sys.exit(4)"],
                  ready=("tcp", pt.free_port()), name="never-ready",
                  check=False, start_timeout=5)
        pt.ok(False, "Daemon raises when a process dies before ready")
    except pt.HarnessError as e:
        pt.like(str(e), r"exited with status 4 before it was ready",
                "Daemon raises when a process dies before ready")

policy.shutdown()
pt.done()
