#!/usr/bin/python3
# spfd-lifecycle.t - postern-spfd as a process: SIGHUP reload, graceful
# SIGTERM with a request in flight, privilege drop, the metrics endpoint,
# unix-socket listeners, worker threads and -t on a broken config.
# Real unbound on loopback; nothing leaves 127.0.0.1.
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import postern_test as pt                                      # noqa: E402
from postern_test import ok, is_, like, diag, section          # noqa: E402

IMPL, SPFD = pt.spfd_impl()
if IMPL != "postern" or not os.access(SPFD, os.X_OK):
    pt.skip_all("postern-spfd not built")
if pt.have_programs("unbound"):
    pt.skip_all("unbound not installed")

TIMEOUT_ZONE = "slow.example.org"
ub = pt.Unbound({"example.com": [
    ("fail", "TXT", "v=spf1 -all"),
    ("pass", "TXT", "v=spf1 ip4:192.0.2.10 -all"),
]}, timeout_zone=TIMEOUT_ZONE)
tmp = pt.tmpdir()


def req(sender, ip="192.0.2.10", **kw):
    return pt.policy_request(sender=sender, client_address=ip,
                             helo_name="helo.example.net", **kw)


def start_conf(text, extra=(), name="spfd"):
    """a daemon reading a real config file (so SIGHUP can change it)"""
    port = pt.free_port()
    conf = tmp.file("%s-%d.conf" % (name, port), text)
    argv = [SPFD, "-f", "-c", conf, "-o",
            "listen=inet:127.0.0.1:%d" % port, "-o",
            "dns_server=%s" % ub.addr] + list(extra)
    d = pt.Daemon(argv, ready=("tcp", port), name=name, tmp=tmp)
    d.port, d.conf = port, conf
    d.policy_addr = "inet:127.0.0.1:%d" % port
    return d


with section("SIGHUP reload"):
    d = start_conf("Mail_From_reject = False\ndns_timeout = 2s\n")
    r = pt.policy_query(d.policy_addr, req("a@fail.example.com"))
    like(r.get("action", ""), r"^PREPEND Received-SPF: Fail",
         "before reload: fail only noted (Mail_From_reject = False)")
    with open(d.conf, "w") as fp:
        fp.write("Mail_From_reject = Fail\ndns_timeout = 2s\n")
    conn = pt.PolicyClient(d.policy_addr)
    is_(pt.action_word(conn.query(req("a@pass.example.com"))), "PREPEND",
        "persistent connection open across the reload")
    os.kill(d.proc.pid, signal.SIGHUP)
    ok(pt.wait_until(lambda: "configuration reloaded" in d.log_text(), 5),
       "reload logged")
    r = pt.policy_query(d.policy_addr, req("a@fail.example.com"))
    is_(pt.action_word(r), "550", "after reload: fail rejected")
    is_(pt.action_word(conn.query(req("b@fail.example.com"))), "550",
        "the old connection gets the new config too")
    conn.close()
    with open(d.conf, "w") as fp:
        fp.write("Mail_From_reject = Sometimes\n")
    os.kill(d.proc.pid, signal.SIGHUP)
    ok(pt.wait_until(lambda: "reload failed, keeping the running config"
                     in d.log_text(), 5), "broken file: reload refused")
    is_(pt.action_word(pt.policy_query(d.policy_addr,
                                       req("a@fail.example.com"))), "550",
        "running config kept after a failed reload")
    d.stop()

with section("reload keeps the DNS cache unless DNS settings change"):
    mport = pt.free_port()
    base = "metrics_listen = inet:127.0.0.1:%d\n" % mport

    def entries():
        body = urllib.request.urlopen(
            "http://127.0.0.1:%d/metrics" % mport, timeout=5).read()
        for line in body.decode().splitlines():
            if line.startswith("postern_dns_cache_entries "):
                return int(line.split()[1])
        return None

    def reload(d, text):
        n = d.log_text().count("configuration reloaded")
        with open(d.conf, "w") as fp:
            fp.write(text)
        os.kill(d.proc.pid, signal.SIGHUP)
        return pt.wait_until(lambda: d.log_text().count(
            "configuration reloaded") > n, 5)

    d = start_conf(base + "dns_timeout = 2s\n")
    pt.policy_query(d.policy_addr, req("a@pass.example.com"))
    n0 = entries()
    ok(n0 and n0 > 0, "answers cached (%s)" % n0)
    ok(reload(d, base + "dns_timeout = 2s\nHELO_reject = False\n"),
       "reload (policy change)")
    is_(entries(), n0, "cache kept")
    ok(reload(d, base + "dns_timeout = 3s\n"), "reload (DNS change)")
    is_(entries(), 0, "new resolver, empty cache")
    d.stop()

with section("graceful SIGTERM"):
    d = start_conf("dns_timeout = 1500ms\nspf_time_limit = 3s\n")
    result = {}

    def slow():
        result["r"] = pt.policy_query(
            d.policy_addr, req("a@x.%s" % TIMEOUT_ZONE), timeout=20)
    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.3)
    os.kill(d.proc.pid, signal.SIGTERM)
    t.join(20)
    like((result.get("r") or {}).get("action", ""), r"Temperror",
         "request in flight at SIGTERM is still answered (temperror)")
    ok(pt.wait_until(lambda: d.proc.poll() is not None, 10),
       "daemon exits after finishing it")
    is_(d.proc.returncode, 0, "clean exit status")
    like(d.log_text(), r"shutting down", "shutdown logged")
    d.stop(check=False)         # it exited by itself, as it should
    is_(d.sanitizer, [], "no sanitizer reports")

with section("privilege drop"):
    if os.geteuid() != 0:
        pt.skip("not root", 3)
    else:
        d = start_conf("user = nobody\n")
        ok(pt.wait_until(lambda: "running as nobody" in d.log_text(), 5),
           "drop logged")
        uid = None
        with open("/proc/%d/status" % d.proc.pid) as fp:
            for line in fp:
                if line.startswith("Uid:"):
                    uid = line.split()[1:]
        nobody = int(subprocess.check_output(["id", "-u", "nobody"]))
        is_(uid, [str(nobody)] * 4, "real, effective, saved and fs uid "
            "are nobody's")
        is_(pt.action_word(pt.policy_query(d.policy_addr,
                                           req("a@pass.example.com"))),
            "PREPEND", "still answers after the drop")
        d.stop()

with section("metrics endpoint"):
    mport = pt.free_port()
    d = start_conf("metrics_listen = inet:127.0.0.1:%d\n" % mport)
    for s in ("a@pass.example.com", "a@fail.example.com"):
        pt.policy_query(d.policy_addr, req(s))
    body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % mport,
                                  timeout=5).read().decode()
    like(body, r"(?m)^postern_spf_requests_total 2$", "requests counted")
    like(body, r'(?m)^postern_spf_results_total\{result="fail"\} 1$',
         "results by SPF result")
    like(body, r'(?m)^postern_spf_actions_total\{action="reject"\} 1$',
         "actions by action")
    like(body, r'(?m)^postern_spf_request_seconds_count 2$',
         "latency histogram")
    like(body, r'(?m)^postern_dns_errors_total\{kind="timeout"\} \d+$',
         "DNS errors by kind")
    c = pt.PolicyClient(d.policy_addr)
    c.send_raw(b"no equals sign\n")
    ok(c.wait_closed(5), "malformed request: connection closed")
    body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % mport,
                                  timeout=5).read().decode()
    like(body, r'(?m)^postern_policy_malformed_total'
         r'\{reason="line without \\"=\\""\} 1$',
         "malformed requests counted by reason, label escaped")
    try:
        urllib.request.urlopen("http://127.0.0.1:%d/other" % mport,
                               timeout=5)
        ok(False, "other paths refused")
    except urllib.error.HTTPError as e:
        is_(e.code, 404, "other paths: 404")
    d.stop()

with section("unix socket and worker threads"):
    sock = os.path.join(tmp.path, "spfd.sock")
    port = pt.free_port()
    conf = tmp.file("unix.conf", "")
    d = pt.Daemon([SPFD, "-f", "-c", conf, "-o", "listen=unix:%s" % sock,
                   "-o", "listen=inet:127.0.0.1:%d" % port, "-o",
                   "dns_server=%s" % ub.addr, "-o", "workers=3", "-o",
                   "unix_socket_mode=0660"],
                  ready=("unix", sock), name="spfd-unix", tmp=tmp)
    is_(oct(os.stat(sock).st_mode & 0o777), "0o660", "socket mode")
    r = pt.policy_query("unix:%s" % sock, req("a@fail.example.com"))
    is_(pt.action_word(r), "550", "answers on the unix socket")
    conns = [pt.PolicyClient("inet:127.0.0.1:%d" % port) for _ in range(12)]
    words = [pt.action_word(c.query(req("a@pass.example.com")))
             for c in conns]
    is_(words, ["PREPEND"] * 12, "12 connections over 3 workers answered")
    for c in conns:
        c.close()
    like(d.log_text(), r"3 workers", "three workers started")
    d.stop()

with section("-t on broken configs"):
    for text, key in (("listen = tcp:1\n", "listen"),
                      ("dns_server = 300.1.1.1\n", "dns_server"),
                      ("Whitelist = 10.0.0.0/33\n", "Whitelist"),
                      ("nosuchkey = 1\n", "nosuchkey"),
                      ("workers = 500\n", "workers")):
        conf = tmp.file("bad-%s.conf" % key, text)
        p = subprocess.run([SPFD, "-t", "-c", conf], capture_output=True,
                           text=True, timeout=20)
        ok(p.returncode != 0 and key in p.stderr,
           "-t refuses a bad %s: %s" % (key, p.stderr.strip()))
    conf = tmp.file("good.conf", "")
    p = subprocess.run([SPFD, "-t", "-c", conf], capture_output=True,
                       text=True, timeout=20)
    is_(p.returncode, 0, "-t accepts an empty config")

ub.stop()
pt.done()
