#!/usr/bin/python3
# milter-nodelay.t - every milter connection postern-dkim accepts on an
# inet socket has TCP_NODELAY set (without it, its end-of-message header
# change and its reply wait on Nagle + the MTA's delayed ACK: ~40 ms per
# message, see DESIGN.md).  The test opens a connection, does the milter
# option negotiation (so the daemon has accepted it), then takes a
# duplicate of the daemon's own descriptor for that connection with
# pidfd_open(2) + pidfd_getfd(2) (Linux >= 5.6, needs ptrace rights: root
# here), found among the sockets in /proc/PID/fd by its local and peer
# addresses, and reads TCP_NODELAY on it.  The same check on a plain
# libmilter milter (Debian's opendkim) must find 0: a control that the
# check can fail.  Both socket spellings are tried (inet:HOST:PORT and
# libmilter's inet:PORT@HOST), and several connections at once.
import ctypes
import errno
import os
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import postern_test as pt                                      # noqa: E402
from postern_test import ok, is_, diag, section                # noqa: E402
import milter_test as mt                                       # noqa: E402

SYS_pidfd_open = 434
SYS_pidfd_getfd = 438

DKIM = mt.dkim_path()
if not os.access(DKIM, os.X_OK):
    pt.skip_all("postern-dkim not built")
if not sys.platform.startswith("linux"):
    pt.skip_all("needs Linux pidfd_getfd")

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


def pidfd_getfd(pid, fd):
    """A duplicate of process pid's descriptor fd, in this process."""
    pidfd = libc.syscall(SYS_pidfd_open, ctypes.c_int(pid), ctypes.c_int(0))
    if pidfd < 0:
        e = ctypes.get_errno()
        raise OSError(e, "pidfd_open(%d): %s" % (pid, os.strerror(e)))
    try:
        nfd = libc.syscall(SYS_pidfd_getfd, ctypes.c_int(pidfd),
                           ctypes.c_int(fd), ctypes.c_int(0))
        if nfd < 0:
            e = ctypes.get_errno()
            raise OSError(e, "pidfd_getfd(%d, %d): %s" % (pid, fd,
                                                          os.strerror(e)))
        return nfd
    finally:
        os.close(pidfd)


def probe():
    """Whether pidfd_getfd works here (on ourselves)."""
    try:
        r, w = os.pipe()
        nfd = pidfd_getfd(os.getpid(), r)
        os.close(nfd)
        os.close(r)
        os.close(w)
        return None
    except OSError as e:
        return str(e)


why = probe()
if why:
    pt.skip_all("pidfd_getfd unavailable: %s" % why)


def find_conn(pid, local, peer):
    """TCP_NODELAY (int) of pid's socket whose local address is local and
    peer address is peer, or None if there is no such socket."""
    fddir = "/proc/%d/fd" % pid
    for name in os.listdir(fddir):
        try:
            target = os.readlink(os.path.join(fddir, name))
        except OSError:
            continue
        if not target.startswith("socket:"):
            continue
        try:
            nfd = pidfd_getfd(pid, int(name))
        except OSError as e:
            if e.errno in (errno.EBADF,):
                continue
            raise
        s = socket.socket(fileno=nfd)
        try:
            if s.family != socket.AF_INET or s.type != socket.SOCK_STREAM:
                continue
            try:
                if s.getsockname() != local or s.getpeername() != peer:
                    continue
            except OSError:
                continue
            return s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        finally:
            s.close()
    return None


def nodelay_of(pid, addr, n=1, label=""):
    """Open n negotiated connections to addr; the TCP_NODELAY the daemon
    pid has on each of its ends (None: not found)."""
    clients = [mt.MilterClient(addr, timeout=10) for _ in range(n)]
    try:
        out = []
        for c in clients:
            cl = c.sock.getsockname()
            srv = c.sock.getpeername()
            box = [None]

            def look(srv=srv, cl=cl):
                box[0] = find_conn(pid, srv, cl)
                return box[0] is not None
            pt.wait_until(look, 5)
            out.append(box[0])
        return out
    finally:
        for c in clients:
            c.quit()


with section("postern-dkim: accepted connections have TCP_NODELAY"):
    for spelling in ("inet:127.0.0.1:%d", "inet:%d@127.0.0.1"):
        port = pt.free_port()
        listen = spelling % port
        d = mt.start_dkim(None, {"mode": "v", "dns_server": "127.0.0.1:9",
                                 "authserv_id": "mx.test.example"},
                          listen=listen, name="postern-dkim-nodelay")
        got = nodelay_of(d.pid, "inet:127.0.0.1:%d" % port, n=3)
        ok(all(g is not None for g in got),
           "%s: found the daemon's end of each of 3 connections" % listen)
        ok(all(g for g in got), "%s: TCP_NODELAY set on each (%r)" %
           (listen, got))
        # a message over one of them, then the same connection again
        c = mt.MilterClient("inet:127.0.0.1:%d" % port, timeout=10)
        res = c.message(mt.Message.simple().headers,
                        mt.Message.simple().body, client_ip="192.0.2.1")
        ok(res.action in ("accept", "continue"), "%s: a message is "
           "answered (%s)" % (listen, res))
        nd = find_conn(d.pid, c.sock.getpeername(), c.sock.getsockname())
        ok(nd, "%s: still TCP_NODELAY after a message (%r)" % (listen, nd))
        c.quit()
        d.stop()

with section("control: OpenDKIM (plain libmilter) has no TCP_NODELAY"):
    od = pt.have_programs("opendkim")
    parent = "/run" if os.access("/run", os.W_OK) else None
    if od or parent is None:
        pt.skip("opendkim not installed or no private directory", 2)
    else:
        # opendkim refuses a config file in a directory others can write
        # (every /tmp path): a private directory under /run instead
        odir = pt.TempDir(prefix="postern-nodelay-", parent=parent)
        os.chmod(odir.path, 0o700)
        port = pt.free_port()
        conf = odir.file("opendkim.conf", "\n".join([
            "Syslog no", "Mode v", "Background no",
            "Socket inet:%d@127.0.0.1" % port,
            "PidFile %s" % os.path.join(odir.path, "opendkim.pid"),
            "UserID root", ""]))
        os.chmod(conf, 0o600)
        try:
            ctl = pt.Daemon(["opendkim", "-f", "-x", conf], ready=(
                "tcp", port), name="opendkim", tmp=odir, check=False)
        except pt.HarnessError as e:
            ctl = None
            diag(str(e))
        if ctl is None:
            pt.skip("opendkim does not start here", 2)
        else:
            got = nodelay_of(ctl.pid, "inet:127.0.0.1:%d" % port, n=2)
            ok(all(g is not None for g in got),
               "opendkim: found its end of each connection (%r)" % got)
            ok(all(g == 0 for g in got),
               "opendkim: TCP_NODELAY is 0 (the check can fail) (%r)" % got)
            ctl.stop()

pt.done()
