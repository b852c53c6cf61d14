"""
checks_test - what the postern-checks test scripts share.

Public:
  CHECKS     the postern-checks binary ($POSTERN_CHECKS or the build's);
             importing this module skips the whole script when it is not
             built
  start      a postern-checks Daemon on a unix socket, every option
             given with -o (d.milter_addr is its address)
  logline    the decision log line of one queue id
  stop_all   stop daemons in parallel
  run_lua    t/milter/checks.lua on one message

Trust: the daemon under test is the code tested; its log is read, never
executed.
"""

import os
import threading

import milter_test as mt
import postern_test as pt

CHECKS = os.environ.get("POSTERN_CHECKS") or os.path.join(
    pt.top_builddir(), "milters", "postern-checks")
if not os.access(CHECKS, os.X_OK):
    pt.skip_all("postern-checks not built")

_n = [0]


def start(tmp, options, name, extra=()):
    """start - postern-checks on a fresh unix socket in tmp with options
    (a dict of config keys) and extra argv items; waits until it
    listens."""
    _n[0] += 1
    sock = os.path.join(tmp.path, "checks-%d.sock" % _n[0])
    conf = tmp.file("checks-%d.conf" % _n[0], "# all from -o\n")
    argv = [CHECKS, "-f", "-c", conf, "-o", "listen=unix:" + sock]
    argv += list(extra)
    for k, v in options.items():
        argv += ["-o", "%s=%s" % (k, v)]
    d = pt.Daemon(argv, ready=("unix", sock), name=name, tmp=tmp)
    d.milter_addr = "unix:" + sock
    return d


def logline(d, q, timeout=3.0):
    """logline - the decision line of queue id q ("" if none came)."""
    def find():
        for ln in d.log_text().split("\n"):
            if (q + ":") in ln and " action=" in ln:
                return ln
        return None
    return pt.wait_until(find, timeout, 0.02) or ""


def stop_all(daemons):
    """stop_all - stop every daemon at once (each may take seconds:
    libmilter's poll) and wait for them."""
    ts = [threading.Thread(target=d.stop) for d in daemons]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)


def run_lua(tmp, d, m, q, label, checks=(), **var):
    """run_lua - t/milter/checks.lua on message m (headers and body
    written to files in tmp) with queue id q, the CHECKn list and the
    script's other variables (None: left out); returns the LuaRun."""
    h = mt.write_headers(os.path.join(tmp.path, q + ".hdr"), m.headers)
    b = os.path.join(tmp.path, q + ".body")
    with open(b, "wb") as f:
        f.write(m.body)
    v = {"SOCKET": d.milter_addr, "HDRS": h, "BODY": b, "LABEL": label,
         "TIMEOUT": "20", "QID": q}
    for i, c in enumerate(checks, 1):
        v["CHECK%d" % i] = c
    v.update({k: str(x) for k, x in var.items() if x is not None})
    return mt.run_lua("checks.lua", v)
