"""
postern_test - harness for postern's integration tests (TAP, Python 3 stdlib).

Public:
  TAP        ok, is_, like, unlike, diag, note, skip, skip_all, bail_out, todo,
             section, done, failed
  processes  tmpdir, TempDir, free_port, wait_until, Daemon, Unbound,
             dns_query, Postfix, Sink, swaks, start_spfd, spfd_impl,
             have_programs, top_builddir, top_srcdir
  policy     PolicyClient, policy_query, policy_request, parse_headers

Trust: the test scripts and this module are ours; the processes we talk to
(postern daemons, Postfix, unbound) are the code under test, so every read
from them is bounded in size and time, and nothing they send is evaluated.

Network: everything listens on and talks to 127.0.0.1 only.  unbound is
configured with `local-zone: "." refuse`, `outgoing-interface: 127.0.0.1`
and `do-ip6: no`, so no query can leave the machine; Postfix relays to a
bracketed loopback address with DNS lookups disabled.

Errors: harness problems (a program that does not start, a port that never
opens) raise HarnessError; inside `with section(...)` that becomes one
failed TAP test with the traceback as diagnostics, outside it the script
stops and the exit hook prints a failed test and the plan.  Every wait is
bounded.  Everything started is stopped at exit (atexit, SIGTERM, SIGINT,
SIGHUP), and temporary directories are removed unless KEEP_TMP=1.

Environment:
  top_builddir, top_srcdir   set by `make check`; default: this tree
  KEEP_TMP=1                 keep the temporary directory (path is printed)
  POSTERN_SPFD=PATH          postern-spfd to test (default
                             $top_builddir/policyd/postern-spfd);
  POSTERN_SPFD=pypolicyd-spf run the same tests against Debian's
                             pypolicyd-spf (the tool postern-spfd replaces),
                             to check what the tests expect
  POSTERN_TEST_VERBOSE=1     more diagnostics (daemon logs on every stop)

Run this file directly to see the pypolicyd-spf wrapper's usage; that mode
is only used by start_spfd().

Notes on the servers (measured on Debian 12: unbound 1.17.1, Postfix 3.7.11)
  unbound  A stub zone at a port where nothing listens does NOT give a
           quick SERVFAIL (unbound's UDP sockets are unconnected, so it
           never sees the ICMP error): it times out.  A stub server that
           answers REFUSED does give SERVFAIL at once; the servfail zone
           uses that.  After ~20 s of timeouts unbound marks a server down
           and answers SERVFAIL at once; infra-host-ttl: 1 prevents it.
           Test zones are "static" local zones declared explicitly, which
           overrides unbound's built-in ones (2.0.192.in-addr.arpa, test.,
           ...); built-in zones below a test zone get "nodefault".
  Postfix  `postfix -c DIR start` works with a config directory that no
           default main.cf lists: alternate_config_directories is only
           checked by the set-gid commands (postdrop, postqueue), which the
           tests never use (mail enters over SMTP).  /etc/postfix is read
           only for meta_directory files (postfix-files, postfix-script)
           and never written.  Needed: data_directory owned by postfix,
           the temp dir mode 0755, maillog_file_prefixes covering the temp
           dir (maillog_file + the postlog service replace syslog).
           smtpd refuses a relay restriction list that is just "permit"
           (it wants reject_unauth_destination or the like), and
           permit_mynetworks does not work once XCLIENT changes the client
           address, hence "check_client_access static:OK,
           reject_unauth_destination" and relay_domains = static:ALL.
           No DNS: smtpd_peername_lookup = no, XCLIENT gives NAME, the
           relay is [127.0.0.1]:port, smtp_dns_support_level = disabled.
           The master daemonizes, so it is not our child: in a container
           whose init does not reap, it stays a zombie after stop (we treat
           zombies as stopped).
"""

import atexit
import contextlib
import ctypes
import errno
import os
import random
import re
import select
import shutil
import signal
import socket
import socketserver
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

# --------------------------------------------------------------------- TAP

_this_file = os.path.abspath(__file__)
_tap = {"n": 0, "failed": 0, "done": False, "skip_all": False,
        "todo": None}
_tap_lock = threading.RLock()


def _out(text):
    with _tap_lock:
        sys.stdout.write(text)
        sys.stdout.flush()


def _clean_name(name):
    name = str(name).replace("\n", " ")
    return name.replace("#", "\\#")


def ok(cond, name=""):
    """ok - one TAP test; returns the truth of cond."""
    with _tap_lock:
        _tap["n"] += 1
        todo = _tap["todo"]
        if not cond and not todo:
            _tap["failed"] += 1
        _out("%s %d - %s%s\n" % ("ok" if cond else "not ok", _tap["n"],
                                 _clean_name(name),
                                 " # TODO %s" % _clean_name(todo)
                                 if todo else ""))
        if not cond:
            where = [f for f in traceback.extract_stack()
                     if os.path.abspath(f.filename) != _this_file]
            if where:
                diag("  Failed test '%s'\n  at %s line %d." %
                     (name, os.path.basename(where[-1].filename),
                      where[-1].lineno))
    return bool(cond)


def is_(got, want, name=""):
    """is_ - passes when got == want; shows both otherwise."""
    res = ok(got == want, name)
    if not res:
        diag("         got: %r\n    expected: %r" % (got, want))
    return res


def like(got, regex, name=""):
    """like - passes when regex (re.search, str or compiled) matches got."""
    res = got is not None and re.search(regex, str(got)) is not None
    ok(res, name)
    if not res:
        diag("                  %r\n    doesn't match '%s'" %
             (got, getattr(regex, "pattern", regex)))
    return res


def unlike(got, regex, name=""):
    """unlike - passes when regex does not match got."""
    res = got is None or re.search(regex, str(got)) is None
    ok(res, name)
    if not res:
        diag("                  %r\n    matches '%s'" %
             (got, getattr(regex, "pattern", regex)))
    return res


def diag(*msg):
    """diag - print a TAP diagnostic (each line prefixed with '# ')."""
    text = " ".join(str(m) for m in msg)
    _out("".join("# %s\n" % line for line in text.split("\n")))


note = diag


def verbose():
    return os.environ.get("POSTERN_TEST_VERBOSE", "") not in ("", "0")


def skip(reason, count=1):
    """skip - count skipped tests."""
    for _ in range(count):
        with _tap_lock:
            _tap["n"] += 1
            _out("ok %d # SKIP %s\n" % (_tap["n"], _clean_name(reason)))


def skip_all(reason):
    """skip_all - the whole script is skipped; exits 0."""
    _tap["skip_all"] = True
    _tap["done"] = True
    _out("1..0 # SKIP %s\n" % _clean_name(reason))
    _cleanup()
    sys.exit(0)


def bail_out(reason):
    """bail_out - stop the whole test run."""
    _out("Bail out! %s\n" % _clean_name(reason))
    _tap["done"] = True
    _cleanup()
    sys.exit(255)


def failed():
    """failed - number of failed tests so far."""
    return _tap["failed"]


@contextlib.contextmanager
def todo(reason, active=True):
    """todo - tests in the block are TODO (expected to fail: reported,
    not counted) when active."""
    saved = _tap["todo"]
    if active:
        _tap["todo"] = reason
    try:
        yield
    finally:
        _tap["todo"] = saved


@contextlib.contextmanager
def section(name):
    """section - run a block; an exception in it is one failed test, and
    the script goes on with the next section."""
    try:
        yield
    except Exception:
        ok(False, "%s: no exception" % name)
        diag(traceback.format_exc().rstrip())


def done():
    """done - stop everything still running (checking daemon logs for
    sanitizer reports), print the plan and exit (1 if anything failed)."""
    _cleanup()
    _tap["done"] = True
    _out("1..%d\n" % _tap["n"])
    if _tap["failed"]:
        diag("Looks like you failed %d test(s) of %d." %
             (_tap["failed"], _tap["n"]))
    sys.exit(1 if _tap["failed"] else 0)


# ------------------------------------------------------- cleanup machinery

_resources = []          # objects with stop(), stopped in reverse order
_res_lock = threading.RLock()
_cleaning = {"busy": False}


def _register(obj):
    with _res_lock:
        _resources.append(obj)


def _unregister(obj):
    with _res_lock:
        if obj in _resources:
            _resources.remove(obj)


def _cleanup():
    if _cleaning["busy"]:
        return
    _cleaning["busy"] = True
    try:
        while True:
            with _res_lock:
                if not _resources:
                    break
                obj = _resources.pop()
            try:
                obj.stop()
            except Exception:
                diag("cleanup of %r failed:\n%s" %
                     (obj, traceback.format_exc().rstrip()))
    finally:
        _cleaning["busy"] = False


def _atexit():
    if not _tap["done"]:
        # The script ended without done(): an exception or a sys.exit.
        _cleanup()
        ok(False, "test script reached done()")
        _tap["done"] = True
        _out("1..%d\n" % _tap["n"])
    else:
        _cleanup()


atexit.register(_atexit)


def _on_signal(signum, frame):
    if _cleaning["busy"] or _tap.get("signalled"):
        return      # already on the way out: let the cleanup finish
    _tap["signalled"] = True
    diag("caught signal %d, cleaning up" % signum)
    # raising SystemExit runs atexit handlers (and so the cleanup)
    raise SystemExit(128 + signum)


for _sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    try:
        signal.signal(_sig, _on_signal)
    except (ValueError, OSError):
        pass


def _excepthook(etype, value, tb):
    diag("uncaught exception:\n" +
         "".join(traceback.format_exception(etype, value, tb)).rstrip())


sys.excepthook = _excepthook


class HarnessError(Exception):
    """A helper could not do its job (not a failure of the code tested)."""


# ------------------------------------------------------------------ paths

_here = os.path.dirname(os.path.abspath(__file__))


def top_srcdir():
    return os.environ.get("top_srcdir") or os.path.dirname(
        os.path.dirname(_here))


def top_builddir():
    return os.environ.get("top_builddir") or top_srcdir()


def have_programs(*names):
    """have_programs - the names not found in PATH (plus sbin dirs)."""
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin:/usr/lib/postfix/sbin"
    return [n for n in names if shutil.which(n, path=path) is None]


def _which(name):
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    p = shutil.which(name, path=path)
    if p is None:
        raise HarnessError("%s not found" % name)
    return p


# ---------------------------------------------------------------- helpers

def wait_until(pred, timeout=10.0, interval=0.05):
    """wait_until - poll pred() until true or timeout; returns its value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            return v
        time.sleep(interval)


_ports_given = set()


def free_port():
    """free_port - a loopback port free for both TCP and UDP right now."""
    for _ in range(200):
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            t.bind(("127.0.0.1", 0))
            port = t.getsockname()[1]
            if port in _ports_given:
                continue
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                u.bind(("127.0.0.1", port))
            except OSError:
                continue
            finally:
                u.close()
            _ports_given.add(port)
            return port
        finally:
            t.close()
    raise HarnessError("no free port found")


def port_open(port, host="127.0.0.1", timeout=0.5):
    """port_open - whether a TCP connect to host:port succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _pid_running(pid):
    """_pid_running - pid exists and is not a zombie (a daemonized process
    is reaped by init, which may be slow, or never in a container)."""
    if not pid:
        return False
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _set_pdeathsig():
    """Child side of Popen: get SIGTERM when the test process dies, so a
    killed test run leaves no daemon behind."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)     # PR_SET_PDEATHSIG
    except Exception:
        pass
    os.setpgrp()


# ----------------------------------------------------------- temp directory

class TempDir:
    """TempDir - a directory removed at exit unless KEEP_TMP=1.

    Mode 0755 so that Postfix's unprivileged processes can reach the queue
    directory inside it.  Usable as a context manager."""

    def __init__(self, prefix=None, parent=None):
        if prefix is None:
            prefix = "postern-%s-" % re.sub(
                r"[^A-Za-z0-9_.-]", "_", os.path.basename(sys.argv[0]))
        self.path = tempfile.mkdtemp(prefix=prefix, dir=parent)
        os.chmod(self.path, 0o755)
        self._stopped = False
        _register(self)

    def sub(self, name, mode=0o755):
        """sub - create (if needed) and return a subdirectory."""
        p = os.path.join(self.path, name)
        os.makedirs(p, exist_ok=True)
        os.chmod(p, mode)
        return p

    def file(self, name, content=None, mode=None):
        """file - path of a file in the directory, written if content."""
        p = os.path.join(self.path, name)
        if content is not None:
            with open(p, "wb" if isinstance(content, bytes) else "w") as f:
                f.write(content)
        if mode is not None:
            os.chmod(p, mode)
        return p

    def stop(self):
        if self._stopped:
            return
        self._stopped = True
        if os.environ.get("KEEP_TMP", "") not in ("", "0"):
            diag("KEEP_TMP: kept %s" % self.path)
            return
        if _tap["failed"]:
            diag("set KEEP_TMP=1 to keep the logs in %s" % self.path)
        shutil.rmtree(self.path, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _unregister(self)
        self.stop()

    def __repr__(self):
        return "TempDir(%s)" % self.path


_default_tmp = {"dir": None}


def tmpdir():
    """tmpdir - the script's shared TempDir (created on first use)."""
    if _default_tmp["dir"] is None:
        _default_tmp["dir"] = TempDir()
        # stop it last: it holds every other resource's files
        _unregister(_default_tmp["dir"])
        _resources.insert(0, _default_tmp["dir"])
    return _default_tmp["dir"]


class _ExistingDir(TempDir):
    """A directory given by path: used like a TempDir, never removed."""

    def __init__(self, path):
        self.path = os.path.abspath(path)
        os.makedirs(self.path, exist_ok=True)
        self._stopped = True


def _as_tmp(tmp):
    """_as_tmp - a TempDir from None (the script's), a TempDir or a path."""
    if tmp is None:
        return tmpdir()
    if isinstance(tmp, str):
        return _ExistingDir(tmp)
    return tmp


def _uniq_sub(tmp, base):
    tmp = _as_tmp(tmp)
    for i in range(1000):
        name = base if i == 0 else "%s.%d" % (base, i)
        p = os.path.join(tmp.path, name)
        if not os.path.exists(p):
            return tmp.sub(name)
    raise HarnessError("cannot create a directory for %s" % base)


# ----------------------------------------------------------------- daemons

SANITIZER_PATTERNS = (
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "LeakSanitizer",
    "runtime error:",
    "SUMMARY: UndefinedBehaviorSanitizer",
    "WARNING: ThreadSanitizer",
    "ERROR: MemorySanitizer",
)
SANITIZER_EXIT_CODES = (86, 87)     # ASAN_OPTIONS/UBSAN_OPTIONS exitcode=


class Daemon:
    """Daemon - one process under test, output to a log file.

    argv      the command (foreground mode)
    ready     ("tcp", port) / ("tcp", host, port) / ("unix", path) /
              callable returning true when ready / None (no wait)
    name      label for TAP output (default: basename of argv[0])
    check     on stop, scan the log for sanitizer reports and check the
              exit status, as TAP tests (default True)

    stop() sends SIGTERM (SIGKILL after stop_timeout: 30 s by default,
    as a milter needs up to libmilter's 5 s poll to notice the stop, and
    sanitizer builds under load are slow to exit), then sets
    .sanitizer (log excerpts), .exit_problem (None, or why the exit was
    bad: died early, ignored SIGTERM, sanitizer exit code) and .problems,
    and reports them as two TAP tests when checking.
    Also: alive(), log_text(), log_tail(), pid, log_path."""

    def __init__(self, argv, ready=None, name=None, tmp=None, env=None,
                 start_timeout=15.0, stop_timeout=30.0, check=True,
                 stdin=subprocess.DEVNULL):
        self.argv = [str(a) for a in argv]
        self.name = name or os.path.basename(self.argv[0])
        self.tmp = _as_tmp(tmp)
        self.problems = []
        self.check = check
        self.stop_timeout = stop_timeout
        self.log_path = self._log_name()
        self.exit_status = None
        self._stopped = False
        self._log = open(self.log_path, "ab")
        full_env = dict(os.environ)
        if env:
            full_env.update({k: str(v) for k, v in env.items()})
        try:
            self.proc = subprocess.Popen(
                self.argv, stdin=stdin, stdout=self._log,
                stderr=subprocess.STDOUT, env=full_env,
                preexec_fn=_set_pdeathsig, close_fds=True)
        except OSError as e:
            self._log.close()
            raise HarnessError("cannot start %s: %s" % (self.argv[0], e))
        self.pid = self.proc.pid
        _register(self)
        if verbose():
            diag("started %s (pid %d): %s" % (self.name, self.pid,
                                              " ".join(self.argv)))
        if ready is not None:
            self._wait_ready(ready, start_timeout)

    def _log_name(self):
        base = re.sub(r"[^A-Za-z0-9_.-]", "_", self.name)
        for i in range(1000):
            p = os.path.join(self.tmp.path, "%s%s.log" %
                             (base, "" if i == 0 else ".%d" % i))
            if not os.path.exists(p):
                return p
        raise HarnessError("no log file name for %s" % self.name)

    def _wait_ready(self, ready, timeout):
        if callable(ready):
            pred = ready
        elif ready[0] == "tcp":
            host, port = ("127.0.0.1", ready[1]) if len(ready) == 2 \
                else (ready[1], ready[2])
            pred = lambda: port_open(port, host)
        elif ready[0] == "unix":
            pred = lambda: os.path.exists(ready[1])
        else:
            raise HarnessError("bad ready spec %r" % (ready,))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise HarnessError("%s exited with status %s before it was "
                                   "ready; log:\n%s" % (
                                       self.name, self.proc.returncode,
                                       self.log_tail()))
            if pred():
                return
            time.sleep(0.05)
        raise HarnessError("%s not ready after %.0f s; log:\n%s" %
                           (self.name, timeout, self.log_tail()))

    def alive(self):
        """alive - the process has not exited."""
        return self.proc.poll() is None

    def log_text(self):
        """log_text - everything the process wrote so far."""
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, lines=40):
        return "\n".join(self.log_text().rstrip("\n").split("\n")[-lines:])

    def sanitizer_reports(self):
        """sanitizer_reports - log excerpts around sanitizer reports."""
        text = self.log_text().split("\n")
        out = []
        i = 0
        while i < len(text):
            if any(p in text[i] for p in SANITIZER_PATTERNS):
                out.append("\n".join(text[max(0, i - 2):i + 30]))
                i += 30
            else:
                i += 1
        return out

    def stop(self, check=None):
        """stop - SIGTERM, wait, SIGKILL; report sanitizer findings and a
        bad exit status as TAP failures (if check)."""
        if self._stopped:
            return self.exit_status
        self._stopped = True
        _unregister(self)
        check = self.check if check is None else check
        died_before = self.proc.poll() is not None
        killed = False
        if not died_before:
            try:
                self.proc.send_signal(signal.SIGTERM)
            except OSError:
                pass
            try:
                self.proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                killed = True
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except OSError:
                    self.proc.kill()
                self.proc.wait(5)
        self.exit_status = self.proc.returncode
        self._log.close()
        self._assess(died_before, killed)
        if check:
            self._report()
        elif verbose():
            diag("%s log:\n%s" % (self.name, self.log_tail()))
        return self.exit_status

    def _assess(self, died_before, killed):
        """Fill self.sanitizer and self.exit_problem (None if fine)."""
        self.sanitizer = self.sanitizer_reports()
        st = self.exit_status
        if died_before:
            why = "%s exited on its own with status %s before the end of " \
                  "the test" % (self.name, st)
        elif killed:
            why = "%s ignored SIGTERM for %.0f s (killed)" % (
                self.name, self.stop_timeout)
        elif st in SANITIZER_EXIT_CODES:
            why = "%s exited with sanitizer status %d" % (self.name, st)
        elif st not in (0, -signal.SIGTERM):
            why = "%s exited with status %s after SIGTERM" % (self.name, st)
        else:
            why = None
        self.exit_problem = why
        self.problems = ["sanitizer report"] * len(self.sanitizer) + \
            ([why] if why else [])

    def _report(self):
        good = True
        if not ok(not self.sanitizer, "%s: no sanitizer reports in its log"
                  % self.name):
            good = False
            for r in self.sanitizer[:3]:
                diag(r)
        if not ok(self.exit_problem is None, "%s: ran until stopped and "
                  "exited cleanly" % self.name):
            good = False
            diag(self.exit_problem)
        if not good or verbose():
            diag("%s log (%s), last lines:\n%s" %
                 (self.name, self.log_path, self.log_tail()))

    def __repr__(self):
        return "Daemon(%s, pid %s)" % (self.name, self.pid)


# --------------------------------------------------------------------- DNS

QTYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15,
          "TXT": 16, "AAAA": 28, "SRV": 33, "SPF": 99, "ANY": 255}
QTYPE_NAMES = {v: k for k, v in QTYPES.items()}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN",
          4: "NOTIMP", 5: "REFUSED"}


def _dns_name_wire(name):
    name = name.rstrip(".")
    if not name:
        return b"\0"
    out = b""
    for label in name.split("."):
        lb = label.encode("ascii")
        if not 0 < len(lb) < 64:
            raise HarnessError("bad DNS label in %r" % name)
        out += bytes([len(lb)]) + lb
    return out + b"\0"


def _dns_read_name(msg, off, depth=0):
    labels = []
    jumped = False
    end = None
    for _ in range(128):
        if off >= len(msg):
            raise ValueError("name past end")
        ln = msg[off]
        if ln & 0xC0 == 0xC0:
            ptr = ((ln & 0x3F) << 8) | msg[off + 1]
            if not jumped:
                end = off + 2
            jumped = True
            off = ptr
            continue
        if ln == 0:
            if not jumped:
                end = off + 1
            return ".".join(labels), end
        labels.append(msg[off + 1:off + 1 + ln].decode("ascii", "replace"))
        off += 1 + ln
    raise ValueError("name loop")


class DnsReply:
    """DnsReply - rcode (int), rcode_name, answers: list of
    (name, type name, ttl, value); TXT values are lists of str."""

    def __init__(self, rcode, answers, flags):
        self.rcode = rcode
        self.rcode_name = RCODES.get(rcode, str(rcode))
        self.answers = answers
        self.flags = flags

    def values(self, qtype=None):
        return [a[3] for a in self.answers if qtype is None or a[1] == qtype]

    def txt(self):
        """txt - each TXT record's strings joined."""
        return ["".join(v) for v in self.values("TXT")]

    def __repr__(self):
        return "DnsReply(%s, %r)" % (self.rcode_name, self.answers)


def _dns_parse(msg):
    tid, flags, qd, an, ns, ar = struct.unpack(">HHHHHH", msg[:12])
    off = 12
    for _ in range(qd):
        _, off = _dns_read_name(msg, off)
        off += 4
    answers = []
    for _ in range(an):
        name, off = _dns_read_name(msg, off)
        rtype, rclass, ttl, rdlen = struct.unpack(">HHIH", msg[off:off + 10])
        off += 10
        rd = msg[off:off + rdlen]
        tname = QTYPE_NAMES.get(rtype, str(rtype))
        if rtype == 1 and rdlen == 4:
            val = socket.inet_ntop(socket.AF_INET, rd)
        elif rtype == 28 and rdlen == 16:
            val = socket.inet_ntop(socket.AF_INET6, rd)
        elif rtype in (16, 99):
            val, i = [], 0
            while i < len(rd):
                val.append(rd[i + 1:i + 1 + rd[i]].decode("utf-8",
                                                         "surrogateescape"))
                i += 1 + rd[i]
        elif rtype in (2, 5, 12):
            val = _dns_read_name(msg, off)[0]
        elif rtype == 15:
            val = "%d %s" % (struct.unpack(">H", rd[:2])[0],
                             _dns_read_name(msg, off + 2)[0])
        else:
            val = rd
        answers.append((name, tname, ttl, val))
        off += rdlen
    return tid, DnsReply(flags & 0xF, answers, flags)


def dns_query(port, name, qtype="A", timeout=2.0, host="127.0.0.1",
              tcp=False):
    """dns_query - one raw query (RD set); DnsReply, or None on timeout."""
    qt = QTYPES[qtype] if isinstance(qtype, str) else qtype
    tid = random.randrange(65536)
    pkt = struct.pack(">HHHHHH", tid, 0x0100, 1, 0, 0, 0) + \
        _dns_name_wire(name) + struct.pack(">HH", qt, 1)
    deadline = time.monotonic() + timeout
    if tcp:
        try:
            with socket.create_connection((host, port), timeout=timeout) as s:
                s.sendall(struct.pack(">H", len(pkt)) + pkt)
                data = b""
                while len(data) < 2 or len(data) < 2 + struct.unpack(
                        ">H", data[:2])[0]:
                    s.settimeout(max(0.01, deadline - time.monotonic()))
                    chunk = s.recv(65536)
                    if not chunk:
                        return None
                    data += chunk
                return _dns_parse(data[2:])[1]
        except socket.timeout:
            return None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(pkt, (host, port))
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            s.settimeout(left)
            try:
                data, _ = s.recvfrom(65536)
            except socket.timeout:
                return None
            if len(data) >= 12 and struct.unpack(">H", data[:2])[0] == tid:
                return _dns_parse(data)[1]


class _UdpSilent:
    """A loopback UDP+TCP port where queries get no answer: UDP datagrams
    are read and dropped, TCP connections sit in the listen queue."""

    def __init__(self):
        self.port = free_port()
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", self.port))
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind(("127.0.0.1", self.port))
        self.tcp.listen(1)
        self.count = 0
        self._stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self._stop:
            r, _, _ = select.select([self.udp], [], [], 0.2)
            if r:
                try:
                    self.udp.recvfrom(65536)
                    self.count += 1
                except OSError:
                    return

    def stop(self):
        self._stop = True
        self.thread.join(2)
        self.udp.close()
        self.tcp.close()


class _UdpRefuser(_UdpSilent):
    """A loopback UDP port answering REFUSED to every query."""

    def _run(self):
        while not self._stop:
            r, _, _ = select.select([self.udp], [], [], 0.2)
            if not r:
                continue
            try:
                data, addr = self.udp.recvfrom(65536)
            except OSError:
                return
            if len(data) < 12:
                continue
            self.count += 1
            flags = struct.unpack(">H", data[2:4])[0]
            flags = 0x8000 | (flags & 0x7900) | 5          # QR, REFUSED
            # answer with the header and question only
            try:
                _, qend = _dns_read_name(data, 12)
                question = data[12:qend + 4]
            except (ValueError, IndexError):
                continue
            reply = data[:2] + struct.pack(">HHHHH", flags, 1, 0, 0, 0) + \
                question
            try:
                self.udp.sendto(reply, addr)
            except OSError:
                pass


# unbound's built-in local zones (unbound.conf(5), 1.17) that could hide
# names of a test zone declared above them; each gets "nodefault" when a
# test zone contains it.
UNBOUND_DEFAULT_ZONES = (
    "localhost.", "127.in-addr.arpa.",
    "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.",
    "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.",
    "home.arpa.", "resolver.arpa.", "service.arpa.", "onion.", "test.",
    "invalid.", "0.in-addr.arpa.", "254.169.in-addr.arpa.",
    "2.0.192.in-addr.arpa.", "100.51.198.in-addr.arpa.",
    "113.0.203.in-addr.arpa.", "255.255.255.255.in-addr.arpa.",
    "d.f.ip6.arpa.", "8.e.f.ip6.arpa.", "9.e.f.ip6.arpa.", "a.e.f.ip6.arpa.",
    "b.e.f.ip6.arpa.", "8.b.d.0.1.0.0.2.ip6.arpa.", "10.in-addr.arpa.",
    "168.192.in-addr.arpa.",
) + tuple("%d.172.in-addr.arpa." % i for i in range(16, 32)) + \
    tuple("%d.100.in-addr.arpa." % i for i in range(64, 128))


def _fqdn(name):
    return name.rstrip(".").lower() + "."


def _txt_quote(text):
    """One TXT record as unbound local-data: strings of at most 255 bytes,
    each double-quoted; unprintables, quotes and backslash as \\DDD."""
    if isinstance(text, (list, tuple)):
        chunks = [c.encode("utf-8") if isinstance(c, str) else c
                  for c in text]
    else:
        raw = text.encode("utf-8") if isinstance(text, str) else text
        chunks = [raw[i:i + 255] for i in range(0, len(raw), 255)] or [b""]
    out = []
    for c in chunks:
        if len(c) > 255:
            raise HarnessError("TXT string longer than 255 bytes")
        s = "".join(chr(b) if 0x20 <= b < 0x7F and b not in b"\"\\'"
                    else "\\%03d" % b for b in c)
        out.append('"%s"' % s)
    return " ".join(out)


class Unbound:
    """Unbound - unbound on 127.0.0.1:free port serving test zones.

    zones          {"example.com": [(name, type, data[, ttl]), ...]}; a name
                   not ending in the zone is relative to it ("@" = apex);
                   TXT data is a str (split in 255-byte strings) or a list
                   of strings.  Every zone is "static": names without data
                   get NXDOMAIN, other types NODATA.
    timeout_zone   a suffix whose queries never get an answer (a stub zone
                   at a loopback port that drops them).  unbound gives up
                   on a name after a few minutes and then answers SERVFAIL
                   for it from its cache, so use a fresh name wherever a
                   real timeout matters (timeout_name()).
    servfail_zone  a suffix answered SERVFAIL at once (its stub server
                   answers REFUSED, which unbound turns into SERVFAIL).
    log_queries    log every query in unbound's log (for diagnostics).

    Attributes: port, addr ("127.0.0.1:PORT"), log_path, conf_path."""

    def __init__(self, zones, timeout_zone=None, servfail_zone=None,
                 tmp=None, log_queries=False, extra_conf="",
                 start_timeout=15.0):
        self.dir = _uniq_sub(tmp, "unbound")
        self.port = free_port()
        self.addr = "127.0.0.1:%d" % self.port
        self.timeout_zone = timeout_zone and _fqdn(timeout_zone)
        self.servfail_zone = servfail_zone and _fqdn(servfail_zone)
        self._n = 0
        self._helpers = []
        self._stopped = False
        self.log_path = os.path.join(self.dir, "unbound.log")
        self.conf_path = os.path.join(self.dir, "unbound.conf")
        self.silent = self.refuser = None
        if self.timeout_zone:
            self.silent = _UdpSilent()
            self._helpers.append(self.silent)
        if self.servfail_zone:
            self.refuser = _UdpRefuser()
            self._helpers.append(self.refuser)
        _register(self)
        with open(self.conf_path, "w") as f:
            f.write(self._config(zones, log_queries, extra_conf))
        self.daemon = Daemon(
            [_which("unbound"), "-d", "-c", self.conf_path], name="unbound",
            tmp=tmp, check=False,
            ready=lambda: dns_query(self.port, "localhost", "A",
                                    timeout=0.3) is not None,
            start_timeout=start_timeout)
        _unregister(self.daemon)      # stopped by our own stop()

    def _config(self, zones, log_queries, extra_conf):
        L = []
        add = L.append
        add("server:")
        for line in (
                "verbosity: 1",
                "interface: 127.0.0.1@%d" % self.port,
                "port: %d" % self.port,
                "interface-automatic: no",
                "do-ip4: yes", "do-ip6: no", "do-udp: yes", "do-tcp: yes",
                "outgoing-interface: 127.0.0.1",
                "do-not-query-localhost: no",
                'username: ""', 'chroot: ""',
                'directory: "%s"' % self.dir,
                'pidfile: "%s"' % os.path.join(self.dir, "unbound.pid"),
                "use-syslog: no",
                'logfile: "%s"' % self.log_path,
                "log-queries: %s" % ("yes" if log_queries else "no"),
                "log-servfail: yes",
                'module-config: "iterator"',
                "num-threads: 1",
                "msg-cache-size: 1m", "rrset-cache-size: 1m",
                "key-cache-size: 1m", "neg-cache-size: 1m",
                "infra-cache-numhosts: 100",
                # Forget quickly that the timeout zone's server never
                # answers: otherwise, after ~20 s of timeouts, unbound
                # marks it down and answers SERVFAIL at once.
                "infra-host-ttl: 1",
                "infra-keep-probing: yes",
                "qname-minimisation: no",
                "prefetch: no",
                "minimal-responses: yes",
                "access-control: 127.0.0.0/8 allow",
                'local-zone: "." refuse'):
            add("  " + line)
        zone_names = [_fqdn(z) for z in zones]
        for d in UNBOUND_DEFAULT_ZONES:
            if any(d != z and d.endswith("." + z) or z == "."
                   for z in zone_names):
                add('  local-zone: "%s" nodefault' % d)
        for zone, records in zones.items():
            z = _fqdn(zone)
            add('  local-zone: "%s" static' % z)
            for rec in records:
                name, rtype, data = rec[0], rec[1].upper(), rec[2]
                ttl = rec[3] if len(rec) > 3 else 300
                if name == "@":
                    fq = z
                elif _fqdn(name) == z or _fqdn(name).endswith("." + z):
                    fq = _fqdn(name)
                else:
                    fq = _fqdn(name + "." + z)
                if rtype in ("TXT", "SPF"):
                    rdata = _txt_quote(data)
                else:
                    rdata = str(data)
                    if "'" in rdata:
                        raise HarnessError("quote in %r" % (rec,))
                add("  local-data: '%s %d IN %s %s'" % (fq, ttl, rtype,
                                                        rdata))
        if self.timeout_zone:
            add('  local-zone: "%s" transparent' % self.timeout_zone)
        if self.servfail_zone:
            add('  local-zone: "%s" transparent' % self.servfail_zone)
        if extra_conf:
            add(extra_conf)
        if self.timeout_zone:
            add("stub-zone:")
            add('  name: "%s"' % self.timeout_zone)
            add("  stub-addr: 127.0.0.1@%d" % self.silent.port)
            add("  stub-prime: no")
        if self.servfail_zone:
            add("stub-zone:")
            add('  name: "%s"' % self.servfail_zone)
            add("  stub-addr: 127.0.0.1@%d" % self.refuser.port)
            add("  stub-prime: no")
        add("remote-control:")
        add("  control-enable: no")
        return "\n".join(L) + "\n"

    def query(self, name, qtype="A", timeout=2.0, tcp=False):
        """query - dns_query against this server."""
        return dns_query(self.port, name, qtype, timeout=timeout, tcp=tcp)

    def timeout_name(self, label="t"):
        """timeout_name - a name under the timeout zone never asked before
        in this run."""
        if not self.timeout_zone:
            raise HarnessError("no timeout zone")
        self._n += 1
        return "%s%d-%d-%d.%s" % (label, self._n, os.getpid(),
                                  int(time.time()) % 100000,
                                  self.timeout_zone.rstrip("."))

    def log_text(self):
        try:
            with open(self.log_path, encoding="utf-8",
                      errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self._stopped:
            return
        self._stopped = True
        _unregister(self)
        if getattr(self, "daemon", None):
            self.daemon.stop()
        for h in self._helpers:
            h.stop()

    def __repr__(self):
        return "Unbound(%s)" % self.addr


# ---------------------------------------------------------- policy client

def _addr_tuple(addr):
    """(family, sockaddr) from a port, (host, port), "inet:H:P",
    "H:P" or "unix:/path"."""
    if isinstance(addr, int):
        return socket.AF_INET, ("127.0.0.1", addr)
    if isinstance(addr, tuple):
        fam = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
        return fam, addr
    if hasattr(addr, "policy_addr"):
        return _addr_tuple(addr.policy_addr)
    s = str(addr)
    if s.startswith("unix:"):
        return socket.AF_UNIX, s[5:]
    if s.startswith("inet:"):
        s = s[5:]
    host, _, port = s.rpartition(":")
    host = host.strip("[]")
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    return fam, (host, int(port))


POLICY_REPLY_MAX = 1 << 20


class PolicyClient:
    """PolicyClient - one connection to a Postfix policy service.

    query(attrs)       send a request, return the reply as a dict
                       (raises HarnessError on EOF/timeout)
    send_raw(bytes)    send anything (hostile-input tests)
    read_reply()       the next reply dict, or None on EOF/timeout
    wait_closed(t)     True if the peer closes within t seconds
    Attributes are sent in order; values are not escaped."""

    def __init__(self, addr, timeout=30.0):
        fam, sa = _addr_tuple(addr)
        self.timeout = timeout
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(sa)
        self.buf = b""
        self.eof = False
        self.last_raw = b""

    @staticmethod
    def encode(attrs):
        items = attrs.items() if isinstance(attrs, dict) else attrs
        out = []
        for k, v in items:
            k = k if isinstance(k, bytes) else str(k).encode()
            v = v if isinstance(v, bytes) else str(v).encode()
            out.append(k + b"=" + v + b"\n")
        return b"".join(out) + b"\n"

    def send_raw(self, data):
        """send_raw - send bytes; False if the peer reset/closed."""
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            return False

    def read_reply(self, timeout=None):
        """read_reply - dict of the next reply, None on EOF/timeout."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while b"\n\n" not in self.buf:
            if self.eof:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return None
            except (ConnectionResetError, OSError):
                self.eof = True
                return None
            if not chunk:
                self.eof = True
                continue
            self.buf += chunk
            if len(self.buf) > POLICY_REPLY_MAX:
                raise HarnessError("policy reply too long")
        raw, self.buf = self.buf.split(b"\n\n", 1)
        self.last_raw = raw + b"\n\n"
        reply = {}
        for line in raw.decode("utf-8", "replace").split("\n"):
            k, sep, v = line.partition("=")
            if sep:
                reply[k] = v
            else:
                reply.setdefault("_junk", []).append(line)
        return reply

    def query(self, attrs, timeout=None):
        """query - send one request and return its reply dict."""
        if not self.send_raw(self.encode(attrs)):
            raise HarnessError("policy service closed the connection "
                               "while we sent a request")
        reply = self.read_reply(timeout)
        if reply is None:
            raise HarnessError("no reply from the policy service (%s)" %
                               ("connection closed" if self.eof
                                else "timeout"))
        return reply

    def wait_closed(self, timeout=10.0):
        """wait_closed - read and discard until EOF; True if EOF came
        within timeout.  Whatever arrived is kept in self.buf."""
        deadline = time.monotonic() + timeout
        while not self.eof:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return False
            except OSError:
                self.eof = True
                break
            if not chunk:
                self.eof = True
            elif len(self.buf) < POLICY_REPLY_MAX:
                self.buf += chunk
        return True

    def shutdown_write(self):
        self.sock.shutdown(socket.SHUT_WR)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def policy_query(addr, attrs, conn=None, timeout=30.0):
    """policy_query - one request -> reply dict (e.g. {"action": "DUNNO"}).
    With conn (a PolicyClient) the request goes over that connection, so
    several requests can share one; otherwise a new connection is used and
    closed."""
    if conn is not None:
        return conn.query(attrs, timeout)
    with PolicyClient(addr, timeout) as c:
        return c.query(attrs, timeout)


_instance_seq = [0]


def policy_request(**kw):
    """policy_request - the attribute list Postfix 3.7 sends at RCPT time,
    with test defaults; keyword arguments override or add attributes (a
    value of None drops one).  Returns a list of (name, value)."""
    _instance_seq[0] += 1
    attrs = [
        ("request", "smtpd_access_policy"),
        ("protocol_state", "RCPT"),
        ("protocol_name", "ESMTP"),
        ("client_address", "192.0.2.10"),
        ("client_name", "mail.example.com"),
        ("client_port", "40000"),
        ("reverse_client_name", "mail.example.com"),
        ("server_address", "127.0.0.1"),
        ("server_port", "25"),
        ("helo_name", "mail.example.com"),
        ("sender", "alice@example.com"),
        ("recipient", "bob@example.net"),
        ("recipient_count", "0"),
        ("queue_id", ""),
        ("instance", "%x.%x.%x.%d" % (os.getpid(), int(time.time()),
                                      random.randrange(1 << 20),
                                      _instance_seq[0])),
        ("size", "0"),
        ("etrn_domain", ""),
        ("stress", ""),
        ("sasl_method", ""),
        ("sasl_username", ""),
        ("sasl_sender", ""),
        ("ccert_subject", ""),
        ("ccert_issuer", ""),
        ("ccert_fingerprint", ""),
        ("ccert_pubkey_fingerprint", ""),
        ("encryption_protocol", ""),
        ("encryption_cipher", ""),
        ("encryption_keysize", "0"),
        ("policy_context", ""),
        ("compatibility_level", "3.6"),
        ("mail_version", "3.7.11"),
    ]
    names = [a[0] for a in attrs]
    for k, v in kw.items():
        if k in names:
            i = names.index(k)
            if v is None:
                del attrs[i]
                del names[i]
            else:
                attrs[i] = (k, str(v))
        elif v is not None:
            attrs.append((k, str(v)))
            names.append(k)
    return attrs


def action_word(reply):
    """action_word - first word of the action, upper case ("" if none);
    "550 5.7.23 ..." gives "550"."""
    if not reply or "action" not in reply:
        return ""
    parts = reply["action"].split(None, 1)
    return parts[0].upper() if parts else ""


def action_text(reply):
    """action_text - the action without its first word."""
    if not reply or "action" not in reply:
        return ""
    parts = reply["action"].split(None, 1)
    return parts[1] if len(parts) > 1 else ""


# ------------------------------------------------------------- SPF daemon

def spfd_impl():
    """spfd_impl - ("postern", path) or ("pypolicyd-spf", None), from
    POSTERN_SPFD; path may not exist (the caller skips)."""
    v = os.environ.get("POSTERN_SPFD", "")
    if v in ("pypolicyd-spf", "policyd-spf", "reference"):
        return "pypolicyd-spf", None
    return "postern", v or os.path.join(top_builddir(), "policyd",
                                        "postern-spfd")


# postern keys with no pypolicyd-spf counterpart (dropped in reference mode)
_POSTERN_ONLY_KEYS = ("listen", "dns_server", "dns_timeout",
                      "skip_sasl_authenticated", "user", "metrics_listen",
                      "authserv_id_ar")
_PYP_BOOL = {"PermError_reject": ("True", "False"),
             "TempError_Defer": ("True", "False"),
             "SPF_Enhanced_Status_Codes": ("Yes", "No"),
             "Hide_Receiver": ("Yes", "No"),
             "No_Mail": ("True", "False"),
             "TestOnly": ("1", "0")}


def _is_true(v):
    return str(v).strip().lower() in ("yes", "true", "on", "1")


def start_spfd(dns, options=None, tmp=None, name="postern-spfd",
               extra_args=(), start_timeout=15.0):
    """start_spfd - start the SPF policy daemon on a free port.

    dns      an Unbound (or "127.0.0.1:PORT")
    options  dict or list of (key, value): config keys, as -o key=value
    Returns the Daemon, with .policy_addr ("inet:127.0.0.1:PORT"), .port
    and .impl ("postern" or "pypolicyd-spf")."""
    impl, path = spfd_impl()
    tmp = _as_tmp(tmp)
    port = free_port()
    dns_addr = dns.addr if hasattr(dns, "addr") else str(dns)
    opts = list(options.items() if isinstance(options, dict)
                else (options or []))
    if impl == "postern":
        conf = tmp.file("%s-%d.conf" % (name, port),
                        "# empty: every setting comes from -o\n")
        argv = [path, "-f", "-c", conf,
                "-o", "listen=inet:127.0.0.1:%d" % port,
                "-o", "dns_server=%s" % dns_addr]
        for k, v in opts:
            argv += ["-o", "%s=%s" % (k, v)]
        argv += list(extra_args)
    else:
        lines = ["debugLevel = 1"]
        for k, v in opts:
            if k in _POSTERN_ONLY_KEYS:
                continue
            if k in _PYP_BOOL:
                v = _PYP_BOOL[k][0] if _is_true(v) else _PYP_BOOL[k][1]
            lines.append("%s = %s" % (k, v))
        conf = tmp.file("%s-%d.conf" % (name, port), "\n".join(lines) + "\n")
        host, _, dport = dns_addr.rpartition(":")
        argv = [sys.executable or "/usr/bin/python3",
                os.path.abspath(__file__), "pypolicyd-spf-server",
                str(port), host, dport, conf]
    d = Daemon(argv, ready=("tcp", port), name=name, tmp=tmp,
               start_timeout=start_timeout,
               check=(impl == "postern"))
    d.port = port
    d.policy_addr = "inet:127.0.0.1:%d" % port
    d.impl = impl
    d.options = opts
    return d


# -------------------------------------------------------------- the sink

class SinkMessage:
    """SinkMessage - one delivered message: mail_from, rcpts, data (bytes,
    CRLF line ends, dot-unstuffed), helo, client."""

    def __init__(self, mail_from, rcpts, data, helo, client):
        self.mail_from = mail_from
        self.rcpts = rcpts
        self.data = data
        self.helo = helo
        self.client = client

    def headers(self, name=None):
        """headers - list of (name, unfolded value) in order, or the values
        of one header (case-insensitive) if name is given."""
        return parse_headers(self.data, name)

    def text(self):
        return self.data.decode("utf-8", "replace")

    def __repr__(self):
        return "SinkMessage(from=%r, rcpts=%r, %d bytes)" % (
            self.mail_from, self.rcpts, len(self.data))


def parse_headers(raw, name=None):
    """parse_headers - (name, unfolded value) pairs of a raw message's
    header, or the values of header `name`."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogateescape")
    head = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0]
    out = []
    for line in re.split(rb"\r?\n", head):
        if line[:1] in (b" ", b"\t") and out:
            out[-1][1] += " " + line.decode("utf-8", "replace").strip()
        elif b":" in line:
            k, v = line.split(b":", 1)
            out.append([k.decode("utf-8", "replace"),
                        v.decode("utf-8", "replace").strip()])
    pairs = [(k, v) for k, v in out]
    if name is None:
        return pairs
    return [v for k, v in pairs if k.lower() == name.lower()]


class _SinkHandler(socketserver.StreamRequestHandler):
    timeout = 60
    MAX_LINE = 10000
    MAX_DATA = 50 * 1024 * 1024

    def reply(self, text):
        self.wfile.write(text.encode() + b"\r\n")
        self.wfile.flush()

    def readline(self):
        line = self.rfile.readline(self.MAX_LINE)
        if not line:
            raise EOFError
        return line

    def handle(self):
        sink = self.server.sink
        helo, mail_from, rcpts = None, None, []
        try:
            self.reply("220 sink.test.example ESMTP postern test sink")
            while True:
                line = self.readline().rstrip(b"\r\n").decode("utf-8",
                                                             "replace")
                verb = line.split(" ", 1)[0].upper()
                arg = line[len(verb):].strip()
                if verb in ("EHLO", "HELO"):
                    helo = arg
                    if verb == "EHLO":
                        self.reply("250-sink.test.example\r\n250-8BITMIME\r\n"
                                   "250-SMTPUTF8\r\n250 SIZE 52428800")
                    else:
                        self.reply("250 sink.test.example")
                elif verb == "MAIL":
                    m = re.match(r"(?i)FROM:\s*<([^>]*)>", arg)
                    mail_from, rcpts = (m.group(1) if m else arg), []
                    self.reply("250 2.1.0 Ok")
                elif verb == "RCPT":
                    m = re.match(r"(?i)TO:\s*<([^>]*)>", arg)
                    rcpts.append(m.group(1) if m else arg)
                    self.reply("250 2.1.5 Ok")
                elif verb == "DATA":
                    if mail_from is None or not rcpts:
                        self.reply("503 5.5.1 need MAIL and RCPT")
                        continue
                    self.reply("354 go ahead")
                    data = []
                    size = 0
                    while True:
                        l = self.readline()
                        if l in (b".\r\n", b".\n"):
                            break
                        if l.startswith(b"."):
                            l = l[1:]
                        size += len(l)
                        if size <= self.MAX_DATA:
                            data.append(l)
                    sink._deliver(SinkMessage(mail_from, rcpts,
                                              b"".join(data), helo,
                                              self.client_address))
                    self.reply("250 2.0.0 Ok: delivered to sink")
                    mail_from, rcpts = None, []
                elif verb == "RSET":
                    mail_from, rcpts = None, []
                    self.reply("250 2.0.0 Ok")
                elif verb == "NOOP":
                    self.reply("250 2.0.0 Ok")
                elif verb == "QUIT":
                    self.reply("221 2.0.0 Bye")
                    return
                else:
                    self.reply("502 5.5.2 not implemented")
        except (EOFError, OSError, socket.timeout):
            return


class _ThreadingServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class Sink:
    """Sink - a minimal SMTP server on 127.0.0.1:free port that keeps every
    message (in memory, and as DIR/NNN.eml).  Runs in a thread of the test.

    wait_for_messages(n, timeout) -> list of SinkMessage (all received so
    far once there are at least n; what there is after timeout)."""

    def __init__(self, tmp=None):
        self.dir = _uniq_sub(tmp, "sink")
        self.port = free_port()
        self.messages = []
        self._cond = threading.Condition()
        self.server = _ThreadingServer(("127.0.0.1", self.port),
                                       _SinkHandler)
        self.server.sink = self
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.1},
                                       daemon=True)
        self.thread.start()
        self._stopped = False
        _register(self)

    def _deliver(self, msg):
        with self._cond:
            self.messages.append(msg)
            n = len(self.messages)
            with open(os.path.join(self.dir, "%03d.eml" % n), "wb") as f:
                f.write(("X-Sink-Mail-From: <%s>\r\nX-Sink-Rcpts: %s\r\n" % (
                    msg.mail_from, ", ".join(msg.rcpts))).encode())
                f.write(msg.data)
            self._cond.notify_all()

    def wait_for_messages(self, n=1, timeout=20.0):
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.messages) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            return list(self.messages)

    def clear(self):
        with self._cond:
            self.messages = []

    def stop(self):
        if self._stopped:
            return
        self._stopped = True
        _unregister(self)
        self.server.shutdown()
        self.server.server_close()

    def __repr__(self):
        return "Sink(127.0.0.1:%d)" % self.port


# ---------------------------------------------------------------- Postfix

POSTFIX_MASTER_CF = """\
# generated by postern_test.py: a private instance, nothing chrooted
{smtpd_service} inet n - n - - smtpd{smtpd_opts}
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class Postfix:
    """Postfix - a private Postfix instance (postfix -c DIR start).

    Everything lives in a temp dir: config_directory (main.cf and master.cf
    written from scratch; /etc/postfix is not read), queue_directory,
    data_directory and maillog_file.  smtpd listens on 127.0.0.1:port and
    trusts XCLIENT from 127.0.0.0/8; every message is relayed to
    [127.0.0.1]:sink_port with DNS disabled.  Any client may relay
    (loopback only), whatever address XCLIENT gives.

    main_cf_extra  dict, list of (k, v) or "k = v" lines; overrides the
                   defaults (e.g. smtpd_recipient_restrictions =
                   check_policy_service inet:127.0.0.1:PORT)
    sink           a Sink (default: a new one); or sink_port
    Attributes: port, sink, config_dir, queue_dir, maillog, params."""

    def __init__(self, tmp=None, sink=None, sink_port=None,
                 main_cf_extra=None, smtpd_opts=None, port=None,
                 start_timeout=30.0):
        self.dir = _uniq_sub(tmp, "postfix")
        self.config_dir = os.path.join(self.dir, "etc")
        self.queue_dir = os.path.join(self.dir, "spool")
        self.data_dir = os.path.join(self.dir, "data")
        self.maillog = os.path.join(self.dir, "maillog")
        for d in (self.config_dir, self.queue_dir, self.data_dir):
            os.makedirs(d, exist_ok=True)
        os.chmod(self.dir, 0o755)
        import pwd
        pw = pwd.getpwnam("postfix")
        os.chown(self.data_dir, pw.pw_uid, pw.pw_gid)
        self.port = port or free_port()
        if sink is None and sink_port is None:
            sink = Sink(tmp)
        self.sink = sink
        self.sink_port = sink.port if sink is not None else sink_port
        self._stopped = False
        self._started = False
        self.params = self._main_cf(main_cf_extra)
        with open(os.path.join(self.config_dir, "main.cf"), "w") as f:
            f.write("# generated by postern_test.py\n")
            for k, v in self.params.items():
                f.write("%s = %s\n" % (k, v))
        opts = ""
        for k, v in (smtpd_opts or {}).items():
            opts += "\n  -o %s=%s" % (k, v)
        with open(os.path.join(self.config_dir, "master.cf"), "w") as f:
            f.write(POSTFIX_MASTER_CF.format(
                smtpd_service="127.0.0.1:%d" % self.port, smtpd_opts=opts))
        _register(self)
        self.start(start_timeout)

    def _main_cf(self, extra):
        p = {
            "compatibility_level": "3.6",
            "queue_directory": self.queue_dir,
            "data_directory": self.data_dir,
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "myhostname": "mx.test.example",
            "mydomain": "test.example",
            "myorigin": "$myhostname",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mydestination": "",
            "local_recipient_maps": "",
            "alias_maps": "",
            "alias_database": "",
            "mynetworks": "127.0.0.0/8",
            # Postfix insists on a reject_unauth_destination (or the like)
            # in the relay restrictions, and XCLIENT replaces the client
            # address, so permit_mynetworks cannot be used: every client
            # may relay (this instance listens on loopback only) and the
            # trailing reject_unauth_destination only satisfies the check.
            # relay_domains = static:ALL makes every domain a relay domain,
            # so reject_unauth_destination passes in any restriction list.
            "smtpd_relay_restrictions":
                "check_client_access static:OK, reject_unauth_destination",
            "relay_domains": "static:ALL",
            "smtpd_recipient_restrictions": "",
            "smtpd_authorized_xclient_hosts": "127.0.0.0/8",
            "default_transport": "smtp:[127.0.0.1]:%d" % self.sink_port,
            "relay_transport": "smtp:[127.0.0.1]:%d" % self.sink_port,
            "smtp_dns_support_level": "disabled",
            "disable_dns_lookups": "yes",
            "smtpd_peername_lookup": "no",
            "smtp_host_lookup": "native",
            "lmtp_host_lookup": "native",
            "smtp_bind_address": "127.0.0.1",
            "maillog_file": self.maillog,
            "maillog_file_prefixes": self.dir,
            "smtpd_error_sleep_time": "0",
            "smtpd_soft_error_limit": "100",
            "smtpd_hard_error_limit": "200",
            "smtpd_junk_command_limit": "1000",
            "smtpd_tls_security_level": "none",
            "smtp_tls_security_level": "none",
            "smtpd_banner": "$myhostname ESMTP Postfix (postern test)",
            "biff": "no",
            "append_dot_mydomain": "no",
            "readme_directory": "no",
            "queue_run_delay": "2s",
            "minimal_backoff_time": "2s",
            "maximal_backoff_time": "4s",
            "smtp_connect_timeout": "5s",
            "smtpd_policy_service_timeout": "60s",
            "in_flow_delay": "0",
        }
        if extra:
            if isinstance(extra, str):
                items = []
                for line in extra.splitlines():
                    line = line.strip()
                    if line and not line.startswith("#"):
                        k, _, v = line.partition("=")
                        items.append((k.strip(), v.strip()))
            elif isinstance(extra, dict):
                items = list(extra.items())
            else:
                items = list(extra)
            for k, v in items:
                p[k] = v
        return p

    def _cmd(self, *args, timeout=60):
        r = subprocess.run([_which("postfix"), "-c", self.config_dir] +
                           list(args), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        return r.returncode, r.stdout.decode("utf-8", "replace")

    def postconf_n(self):
        """postconf_n - `postconf -c DIR -n` output."""
        r = subprocess.run([_which("postconf"), "-c", self.config_dir, "-n"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=30)
        return r.stdout.decode("utf-8", "replace")

    def start(self, timeout=30.0):
        rc, out = self._cmd("start", timeout=timeout)
        if rc != 0:
            raise HarnessError("postfix start failed (%d): %s\nmaillog:\n%s"
                               % (rc, out, self.log_text()[-3000:]))
        self._started = True
        if not wait_until(lambda: port_open(self.port), timeout):
            raise HarnessError("postfix smtpd not listening on %d\n%s" %
                               (self.port, self.log_text()[-3000:]))

    def master_pid(self):
        try:
            with open(os.path.join(self.queue_dir, "pid", "master.pid")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def running(self):
        """running - the master process is alive."""
        return _pid_running(self.master_pid())

    def log_text(self):
        """log_text - the instance's maillog so far."""
        try:
            with open(self.maillog, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def wait_log(self, regex, timeout=20.0):
        """wait_log - the first re.search match in the maillog, or None."""
        return wait_until(lambda: re.search(regex, self.log_text(), re.M),
                          timeout, 0.1)

    def reload(self):
        return self._cmd("reload")

    def swaks(self, *args, **kw):
        """swaks - swaks() against this instance."""
        return swaks(self.port, *args, **kw)

    def stop(self):
        if self._stopped:
            return
        self._stopped = True
        _unregister(self)
        if not self._started:
            return
        pid = self.master_pid()
        self._cmd("stop", timeout=30)
        if not wait_until(lambda: not _pid_running(pid), 15):
            diag("postfix master %d still running after stop; killing" % pid)
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        if verbose():
            diag("postfix maillog:\n" + self.log_text()[-4000:])

    def __repr__(self):
        return "Postfix(127.0.0.1:%d)" % self.port


# ------------------------------------------------------------------ swaks

class SwaksResult:
    """SwaksResult - one swaks run.

    rc          swaks exit status
    transcript  its full output
    replies     list of (command, code, last reply line text) in order,
                command being the verb sent (MAIL, RCPT, DATA, "." for end
                of data, XCLIENT, EHLO...) or "BANNER"
    rcpt        [(code, text)] per RCPT TO
    mail, data  (code, text) of MAIL FROM and of the end of DATA (the
                reply to DATA itself if that failed); None if not sent
    queue_id    from "250 ... queued as ID", or None"""

    def __init__(self, rc, transcript):
        self.rc = rc
        self.transcript = transcript
        self.replies = []
        cmd = "BANNER"
        pending = []
        for line in transcript.split("\n"):
            m = re.match(r"^ *(?:->|~>) (.*)$", line)
            if m:
                if cmd == "DATA_BODY":
                    if m.group(1).strip() == ".":
                        cmd = "."
                    continue
                cmd = m.group(1).split(" ", 1)[0].upper() or cmd
                continue
            m = re.match(r"^ *(?:<-|<~|<\*\*|<~\*) +(\d{3})([ -])(.*)$", line)
            if m:
                pending.append(m.group(3))
                if m.group(2) == " ":
                    self.replies.append((cmd, int(m.group(1)),
                                         m.group(3)))
                    if cmd == "DATA" and m.group(1) == "354":
                        cmd = "DATA_BODY"
                    pending = []
        self.rcpt = [(c, t) for v, c, t in self.replies if v == "RCPT"]
        self.mail = next(((c, t) for v, c, t in self.replies if v == "MAIL"),
                         None)
        end = [(c, t) for v, c, t in self.replies if v == "."]
        data = [(c, t) for v, c, t in self.replies if v == "DATA"]
        self.data = end[-1] if end else (data[-1] if data else None)
        m = re.search(r"queued as ([0-9A-Za-z]+)", transcript)
        self.queue_id = m.group(1) if m else None

    def full(self, code_text):
        return "%s %s" % code_text if code_text else "(none)"

    def __repr__(self):
        return "SwaksResult(rc=%d, rcpt=%r, data=%r)" % (self.rc, self.rcpt,
                                                         self.data)


def swaks(port, frm="alice@example.com", to=("bob@example.net",),
          helo="mail.example.com", xclient_addr=None, xclient_name=None,
          xclient_helo=None, headers=(), body=None, args=(), timeout=60):
    """swaks - run swaks against 127.0.0.1:port (XCLIENT if xclient_addr
    or xclient_name are given; xclient_name defaults to helo) and return a
    SwaksResult.  frm "" sends MAIL FROM:<>."""
    argv = [_which("swaks"), "--server", "127.0.0.1:%d" % port,
            "--ehlo", helo, "--from", frm if frm else "<>",
            "--to", ",".join([to] if isinstance(to, str) else to),
            "--timeout", "%d" % timeout]
    if xclient_addr or xclient_name:
        if xclient_addr:
            argv += ["--xclient-addr", xclient_addr]
        argv += ["--xclient-name", xclient_name or helo]
    if xclient_helo:
        argv += ["--xclient-helo", xclient_helo]
    for h in headers:
        argv += ["--header", h]
    if body is not None:
        argv += ["--body", body]
    argv += list(args)
    try:
        r = subprocess.run(argv, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                           timeout=timeout * 4 + 30)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode("utf-8", "replace")
        return SwaksResult(-1, out + "\n*** harness: swaks timed out\n")
    return SwaksResult(r.returncode, r.stdout.decode("utf-8", "replace"))


# ---------------------------------------- pypolicyd-spf reference wrapper

def _loopback_only():
    """Make every connect/sendto to a non-loopback address fail, in the
    reference wrapper: pyspf reads /etc/resolv.conf at import time."""
    orig_connect = socket.socket.connect
    orig_sendto = socket.socket.sendto

    def check(addr):
        if isinstance(addr, tuple) and addr[0] not in ("127.0.0.1", "::1",
                                                       "localhost"):
            raise OSError(errno.ENETUNREACH, "test harness: non-loopback "
                          "address %r refused" % (addr,))

    def connect(self, addr):
        check(addr)
        return orig_connect(self, addr)

    def sendto(self, data, *a):
        check(a[-1])
        return orig_sendto(self, data, *a)
    socket.socket.connect = connect
    socket.socket.sendto = sendto


def _pypolicyd_server(port, dns_host, dns_port, conf):
    """Serve pypolicyd-spf on 127.0.0.1:port, one forked process per
    connection (as Postfix's spawn(8) would run it), its DNS pointed at
    dns_host:dns_port."""
    _loopback_only()
    import spf
    import DNS
    if spf.DNSLookup is not spf.DNSLookup_pydns:
        sys.stderr.write("pyspf does not use pydns; refusing to run\n")
        sys.exit(2)
    DNS.defaults["server"] = [dns_host]
    DNS.defaults["port"] = int(dns_port)
    import spf_engine.policyd_spf as pps
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", int(port)))
    lsock.listen(128)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    sys.stderr.write("pypolicyd-spf wrapper on 127.0.0.1:%s, DNS %s:%s\n" %
                     (port, dns_host, dns_port))
    sys.stderr.flush()
    while True:
        try:
            c, _ = lsock.accept()
        except InterruptedError:
            continue
        if os.fork() == 0:
            try:
                _set_pdeathsig()
                lsock.close()
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                os.dup2(c.fileno(), 0)
                os.dup2(c.fileno(), 1)
                c.close()
                import io
                sys.stdin = io.TextIOWrapper(io.BufferedReader(
                    io.FileIO(0, "r", closefd=False)))
                sys.stdout = io.TextIOWrapper(
                    io.FileIO(1, "w", closefd=False), write_through=True)
                sys.argv = ["policyd-spf", conf]
                pps.main()
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(0)
        c.close()


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "pypolicyd-spf-server":
        _tap["done"] = True
        atexit.unregister(_atexit)
        _pypolicyd_server(*sys.argv[2:])
    sys.stderr.write("usage: %s pypolicyd-spf-server PORT DNSHOST DNSPORT "
                     "CONF\n(used by start_spfd with "
                     "POSTERN_SPFD=pypolicyd-spf)\n" % sys.argv[0])
    sys.exit(2)
