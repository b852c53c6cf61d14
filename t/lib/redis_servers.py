"""
redis_servers - real Redis servers for postern's tests (Python 3 stdlib,
on top of postern_test).

Public:
  have_redis()            False when redis-server/redis-cli are missing or
                          older than 7.0 (then: pt.skip_all(...))
  RedisServer             one redis-server
  RedisCluster            a Redis Cluster (masters + replicas)
  RedisSentinelSetup      master + replica + one Sentinel
  RedisConn, RedisError   a tiny RESP2 client (no redis-py needed)

Everything listens on 127.0.0.1 only (--bind 127.0.0.1, the cluster bus
too); each server has its own directory (dir, logfile, nodes.conf, AOF,
RDB, unix socket) under the test's TempDir, runs in the foreground as a
postern_test.Daemon and so is stopped at exit like every other daemon.
A server counts as started when it answers PING (after AUTH if it has a
password or an ACL user).

Start servers from the main thread: Daemon children get SIGTERM when the
*thread* that started them ends (PR_SET_PDEATHSIG).

Notes (measured on Debian 12, redis 7.0.15):
  redis-cli exits 0 on an error reply unless given -e; cli() passes -e.
  DEBUG is refused in 7.0 unless enable-debug-command is set; we set it
  to "local".  The cluster bus port is chosen with free_port() and given
  with cluster-port (7.0+) instead of the usual port+10000.
"""

import os
import re
import shutil
import socket
import subprocess
import threading
import time

import postern_test as pt
from postern_test import HarnessError

HOST = "127.0.0.1"


def _redis_server():
    return shutil.which("redis-server") or (
        "/usr/bin/redis-server" if os.access("/usr/bin/redis-server",
                                             os.X_OK) else None)


def _redis_cli():
    return shutil.which("redis-cli") or (
        "/usr/bin/redis-cli" if os.access("/usr/bin/redis-cli",
                                          os.X_OK) else None)


def redis_version():
    """redis_version - redis-server's version as a tuple of ints, or
    None."""
    srv = _redis_server()
    if not srv:
        return None
    try:
        out = subprocess.run([srv, "--version"], capture_output=True,
                             text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"v=(\d+)\.(\d+)\.(\d+)", out)
    return tuple(int(x) for x in m.groups()) if m else None


def have_redis(min_version=(7, 0)):
    """have_redis - redis-server and redis-cli are installed (and the
    server is at least min_version)."""
    if not _redis_server() or not _redis_cli():
        return False
    v = redis_version()
    return v is not None and v >= tuple(min_version)


# ------------------------------------------------------------ RESP client

class RedisError(Exception):
    """RedisError - an error reply (.message is its text, e.g.
    "MOVED 866 127.0.0.1:7001"); .kind is its first word."""

    def __init__(self, message):
        Exception.__init__(self, message)
        self.message = message
        self.kind = message.split(" ", 1)[0] if message else ""

    def redirect(self):
        """redirect - (kind, slot, host, port) for MOVED/ASK, else None."""
        m = re.match(r"^(MOVED|ASK) (\d+) (\S+):(\d+)$", self.message)
        if not m:
            return None
        return m.group(1), int(m.group(2)), m.group(3), int(m.group(4))


class RedisConn:
    """RedisConn - one RESP2 connection (TCP or unix socket).

    command(*args) sends one command and returns the reply: str (bulk and
    simple strings, decoded as UTF-8 with surrogateescape), int, None, or a
    list; error replies raise RedisError (raise_errors=False returns it
    instead).  Authenticates with AUTH [user] password when given."""

    MAX_REPLY = 64 * 1024 * 1024

    def __init__(self, port=None, host=HOST, unix_path=None, user=None,
                 password=None, timeout=5.0):
        if unix_path:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            target = unix_path
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            target = (host, port)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(target)
        except OSError:
            self.sock.close()
            raise
        self.rfile = self.sock.makefile("rb")
        if password is not None:
            if user is not None:
                self.command("AUTH", user, password)
            else:
                self.command("AUTH", password)

    @staticmethod
    def encode(args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if isinstance(a, str):
                a = a.encode("utf-8", "surrogateescape")
            elif not isinstance(a, bytes):
                a = str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def send(self, *args):
        self.sock.sendall(self.encode(args))

    def _line(self):
        line = self.rfile.readline(self.MAX_REPLY)
        if not line:
            raise ConnectionError("redis closed the connection")
        if not line.endswith(b"\r\n"):
            raise ConnectionError("bad RESP line %r" % line[:80])
        return line[:-2]

    def read_reply(self, raise_errors=True):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode("utf-8", "surrogateescape")
        if t == b"-":
            err = RedisError(rest.decode("utf-8", "surrogateescape"))
            if raise_errors:
                raise err
            return err
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            if n > self.MAX_REPLY:
                raise ConnectionError("bulk reply too large")
            data = self.rfile.read(n + 2)
            if len(data) != n + 2:
                raise ConnectionError("short bulk reply")
            return data[:-2].decode("utf-8", "surrogateescape")
        if t == b"*":
            n = int(rest)
            if n < 0:
                return None
            # errors inside arrays (EXEC) are returned, not raised
            return [self.read_reply(False) for _ in range(n)]
        raise ConnectionError("bad RESP type %r" % line[:80])

    def command(self, *args, raise_errors=True):
        self.send(*args)
        return self.read_reply(raise_errors)

    def close(self):
        try:
            self.rfile.close()
        finally:
            self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def parse_info(text):
    """parse_info - INFO output as a dict of str."""
    out = {}
    for line in (text or "").splitlines():
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            out[k] = v.strip()
    return out


def _pairs(flat):
    """_pairs - [k1, v1, k2, v2...] as a dict."""
    return dict(zip(flat[0::2], flat[1::2]))


# ------------------------------------------------------------ one server

def _server_dir(tmp, base):
    if tmp is None:
        root = pt.tmpdir().path
    elif isinstance(tmp, str):
        root = tmp
    else:
        root = tmp.path
    for i in range(1000):
        p = os.path.join(root, base if i == 0 else "%s.%d" % (base, i))
        try:
            os.makedirs(p)
        except FileExistsError:
            continue
        os.chmod(p, 0o755)
        return p
    raise HarnessError("cannot create a directory for %s" % base)


class RedisServer:
    """RedisServer - one redis-server on 127.0.0.1.

    RedisServer(tmp, port=None, password=None, acl_user=None,
                unixsocket=False, extra=(), replicaof=None,
                appendonly=False, name=None, start=True)

      tmp         a TempDir, a path, or None (the script's tmpdir())
      port        default: free_port()
      password    requirepass (the default user's password); a replica
                  made with replicaof= also gets it as masterauth
      acl_user    (user, password): an ACL user with every permission;
                  without password= the default user is switched off, so
                  unauthenticated clients get NOAUTH
      unixsocket  also listen on DIR/redis.sock (.unix_path)
      extra       more arguments: ("--maxmemory", "10mb", ...)
      replicaof   a RedisServer, a port, or (host, port)
      appendonly  --appendonly yes (data survives restart() and kill9())

    Defaults: --save '' (no RDB snapshots, but SAVE still writes one and it
    is loaded on restart), --protected-mode no, --bind 127.0.0.1,
    --daemonize no, --enable-debug-command local, dir and logfile in the
    server's own directory (.dir, .logfile).

    Attributes: host, port, unix_path (None without unixsocket), url
    ("redis://[user:pass@|:pass@]127.0.0.1:PORT"), unix_url
    ("unix://PATH"), dir, logfile, daemon (the current pt.Daemon).
    Methods: cli(*args), command(*args), connect(), ping(), info(),
    role(), stop(), kill9(), restart(), pause(seconds), alive(),
    log_text()."""

    kind = "redis"

    def __init__(self, tmp=None, port=None, password=None, acl_user=None,
                 unixsocket=False, extra=(), replicaof=None,
                 appendonly=False, name=None, start=True, start_timeout=20):
        self.host = HOST
        self.port = port or pt.free_port()
        self.password = password
        self.acl_user = tuple(acl_user) if acl_user else None
        self.name = name or "%s-%d" % (self.kind, self.port)
        self.dir = _server_dir(tmp, self.name)
        self.logfile = os.path.join(self.dir, "redis.log")
        self.unix_path = os.path.join(self.dir, "redis.sock") \
            if unixsocket else None
        self.extra = [str(a) for a in extra]
        self.appendonly = appendonly
        if replicaof is None:
            self.replicaof = None
        elif isinstance(replicaof, RedisServer):
            self.replicaof = (replicaof.host, replicaof.port)
        elif isinstance(replicaof, int):
            self.replicaof = (HOST, replicaof)
        else:
            self.replicaof = (replicaof[0], int(replicaof[1]))
        self.start_timeout = start_timeout
        self.daemon = None
        self._conn = None
        self._lock = threading.RLock()
        self._pauses = []
        if start:
            self.start()

    # -- configuration

    @property
    def auth(self):
        """auth - (user or None, password) used by our clients, or None."""
        if self.acl_user:
            return self.acl_user
        if self.password is not None:
            return (None, self.password)
        return None

    @property
    def url(self):
        a = self.auth
        cred = ""
        if a:
            cred = "%s:%s@" % (a[0] or "", a[1])
        return "redis://%s%s:%d" % (cred, self.host, self.port)

    @property
    def unix_url(self):
        return "unix://%s" % self.unix_path if self.unix_path else None

    @property
    def addr(self):
        return "%s:%d" % (self.host, self.port)

    def argv(self):
        a = [_redis_server() or "redis-server",
             "--port", str(self.port), "--bind", HOST,
             "--protected-mode", "no", "--daemonize", "no",
             "--supervised", "no", "--save", "",
             "--dir", self.dir, "--logfile", self.logfile,
             "--pidfile", os.path.join(self.dir, "redis.pid"),
             "--enable-debug-command", "local",
             "--enable-protected-configs", "local",
             "--tcp-backlog", "128", "--repl-diskless-sync-delay", "0"]
        if self.unix_path:
            a += ["--unixsocket", self.unix_path, "--unixsocketperm", "700"]
        if self.password is not None:
            a += ["--requirepass", self.password]
        if self.acl_user:
            u, p = self.acl_user
            if self.password is None:
                a += ["--user", "default", "off"]
            a += ["--user", u, "on", ">" + p, "~*", "&*", "+@all"]
        if self.replicaof:
            a += ["--replicaof", self.replicaof[0], str(self.replicaof[1])]
            if self.acl_user:
                a += ["--masteruser", self.acl_user[0],
                      "--masterauth", self.acl_user[1]]
            elif self.password is not None:
                a += ["--masterauth", self.password]
        if self.appendonly:
            a += ["--appendonly", "yes"]
        return a + self._more_args() + self.extra

    def _more_args(self):
        return []

    # -- life cycle

    def _ready(self):
        try:
            with self.connect(timeout=1.0) as c:
                return c.command("PING") == "PONG"
        except (OSError, RedisError):
            return False

    def start(self):
        """start - start the server (again) and wait until it answers
        PING."""
        if self.daemon is not None and self.daemon.alive():
            raise HarnessError("%s already running" % self.name)
        self._drop_conn()
        self.daemon = pt.Daemon(self.argv(), ready=self._ready,
                                name=self.name, tmp=self.dir, check=False,
                                start_timeout=self.start_timeout)
        return self

    def alive(self):
        """alive - the process is running (it may still be paused)."""
        return self.daemon is not None and self.daemon.alive()

    def ping(self, timeout=1.0):
        """ping - the server answers PING within timeout."""
        try:
            with self.connect(timeout=timeout) as c:
                return c.command("PING") == "PONG"
        except (OSError, RedisError):
            return False

    def stop(self):
        """stop - SIGTERM (a clean shutdown: the AOF is flushed), wait."""
        self._drop_conn()
        if self.daemon is not None:
            self.daemon.stop(check=False)

    def kill9(self):
        """kill9 - SIGKILL, no shutdown at all."""
        self._drop_conn()
        d = self.daemon
        if d is None or not d.alive():
            return
        try:
            d.proc.kill()
        except OSError:
            pass
        try:
            d.proc.wait(10)
        except subprocess.TimeoutExpired:
            raise HarnessError("%s survived SIGKILL" % self.name)
        d.stop(check=False)

    def restart(self, kill=False):
        """restart - stop (kill -9 if kill) and start again: same port,
        same directory, so an AOF (appendonly) or an RDB written by SAVE is
        loaded, and a cluster node keeps its nodes.conf."""
        if kill:
            self.kill9()
        else:
            self.stop()
        return self.start()

    def log_text(self):
        """log_text - redis' logfile plus anything printed before it was
        opened (config errors)."""
        text = ""
        if self.daemon is not None:
            text = self.daemon.log_text()
        try:
            with open(self.logfile, "rb") as f:
                text += f.read().decode("utf-8", "replace")
        except OSError:
            pass
        return text

    # -- talking to it

    def connect(self, timeout=5.0, unix=False, auth=True):
        """connect - a new RedisConn (authenticated unless auth=False)."""
        a = self.auth if auth else None
        return RedisConn(self.port, self.host,
                         unix_path=self.unix_path if unix else None,
                         user=a[0] if a else None,
                         password=a[1] if a else None, timeout=timeout)

    def _drop_conn(self):
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.close()
                except OSError:
                    pass
                self._conn = None

    def command(self, *args, raise_errors=True, timeout=10.0):
        """command - one command over a kept connection (reconnecting once
        if it broke); returns the reply (see RedisConn)."""
        with self._lock:
            for attempt in (0, 1):
                if self._conn is None:
                    self._conn = self.connect(timeout=timeout)
                try:
                    self._conn.sock.settimeout(timeout)
                    return self._conn.command(*args,
                                              raise_errors=raise_errors)
                except RedisError:
                    raise
                except (OSError, ConnectionError):
                    self._drop_conn()
                    if attempt:
                        raise

    def cli(self, *args, unix=False, timeout=30, check=True, auth=True):
        """cli - run redis-cli against the server (-e, raw output, with
        the server's credentials; unix=True uses the unix socket) and
        return its stdout, stripped.  Arguments are passed as they are, so
        options work too: cli("-c", "SET", "k", "v").  Raises HarnessError
        when redis-cli fails (including error replies) unless
        check=False."""
        argv = [_redis_cli() or "redis-cli", "-e", "--no-auth-warning"]
        if unix:
            argv += ["-s", self.unix_path]
        else:
            argv += ["-h", self.host, "-p", str(self.port)]
        a = self.auth if auth else None
        if a:
            if a[0] is not None:
                argv += ["--user", a[0]]
            argv += ["--pass", a[1]]
        argv += [str(x) for x in args]
        try:
            r = subprocess.run(argv, stdin=subprocess.DEVNULL,
                               capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise HarnessError("redis-cli %s timed out" % " ".join(
                str(x) for x in args))
        out = r.stdout.decode("utf-8", "replace").strip()
        if check and r.returncode != 0:
            raise HarnessError("redis-cli %s failed (%d): %s %s" % (
                " ".join(str(x) for x in args), r.returncode, out,
                r.stderr.decode("utf-8", "replace").strip()))
        return out

    def info(self, section=None):
        """info - INFO [section] as a dict."""
        return parse_info(self.command("INFO", section) if section
                          else self.command("INFO"))

    def role(self):
        """role - "master", "slave" or "sentinel" (first word of ROLE)."""
        return self.command("ROLE")[0]

    def wait_sync(self, timeout=20):
        """wait_sync - for a replica: wait until master_link_status:up."""
        ok = pt.wait_until(lambda: self._link_up(), timeout, 0.1)
        if not ok:
            raise HarnessError("%s: replication link not up after %ss\n%s"
                               % (self.name, timeout, self.log_text()[-2000:]))

    def _link_up(self):
        try:
            i = self.info("replication")
        except (OSError, RedisError, ConnectionError):
            return False
        return i.get("role") == "slave" and \
            i.get("master_link_status") == "up"

    # -- slowness

    def pause(self, seconds, mode="sleep"):
        """pause - make the server slow for `seconds`, and return once it
        is (a thread object; join() it to wait for the end).

        mode "sleep": DEBUG SLEEP in a background thread; the whole event
            loop stops (no replies, no accepts, no replication, no cluster
            bus): a hung server.
        mode "client": CLIENT PAUSE ms ALL; commands from clients are held
            and answered afterwards, replication and the cluster bus go on.
        """
        if mode == "client":
            self.command("CLIENT", "PAUSE", int(seconds * 1000), "ALL")
            t = threading.Timer(seconds, lambda: None)
            t.daemon = True
            t.start()
            return t
        if mode != "sleep":
            raise HarnessError("pause mode %r" % mode)
        conn = self.connect(timeout=seconds + 30)
        conn.send("DEBUG", "SLEEP", "%.3f" % seconds)

        def wait_reply():
            try:
                conn.read_reply(False)
            except OSError:
                pass
            finally:
                conn.close()
        t = threading.Thread(target=wait_reply, daemon=True,
                             name="%s-pause" % self.name)
        t.start()
        # return only once the sleep has begun: a probe that gets no
        # PONG within 50 ms (the server is idle otherwise)
        deadline = time.monotonic() + min(seconds, 5.0)
        while time.monotonic() < deadline and t.is_alive():
            try:
                with self.connect(timeout=0.05) as probe:
                    probe.command("PING")
            except (OSError, RedisError, ConnectionError):
                break
        return t

    def __repr__(self):
        return "RedisServer(%s:%d)" % (self.host, self.port)


# ---------------------------------------------------------------- cluster

class RedisCluster:
    """RedisCluster - a Redis Cluster on 127.0.0.1.

    RedisCluster(tmp, masters=3, replicas=0, node_timeout=2000, extra=())

    Each node: --cluster-enabled yes --cluster-config-file nodes.conf
    --cluster-node-timeout node_timeout, its bus port from free_port() as
    cluster-port.  Created with redis-cli --cluster create ...
    --cluster-replicas R --cluster-yes; ready when every node says
    cluster_state:ok and all agree on the slot map.

    Attributes: nodes (list of RedisServer, the first `masters` being the
    initial masters), url ("redis+cluster://127.0.0.1:P1,127.0.0.1:P2,...",
    every node).  Methods: node_id(node), masters(), replicas_of(node),
    slot_of(key), node_for_slot(slot), node_for_key(key), slots_of(node),
    migrate_slot(slot, to_node), migrate_slot_begin(slot, to_node,
    keys=()), migrate_keys(slot, keys=None), migrate_slot_finish(slot,
    to_node=None), reshard(n_slots, from_node, to_node), failover(replica),
    wait_stable(timeout), cli(*args)."""

    def __init__(self, tmp=None, masters=3, replicas=0, node_timeout=2000,
                 extra=(), timeout=60):
        if masters < 3:
            raise HarnessError("redis-cli --cluster create needs 3 masters")
        self.tmp = tmp
        self.node_timeout = node_timeout
        self.nodes = []
        self._migrating = {}
        for i in range(masters * (1 + replicas)):
            bus = pt.free_port()
            self.nodes.append(RedisServer(
                tmp, name=None, extra=[
                    "--cluster-enabled", "yes",
                    "--cluster-config-file", "nodes.conf",
                    "--cluster-node-timeout", str(node_timeout),
                    "--cluster-port", str(bus)] + list(extra)))
        argv = [_redis_cli() or "redis-cli", "--cluster", "create"] + \
            [n.addr for n in self.nodes] + \
            ["--cluster-replicas", str(replicas), "--cluster-yes"]
        try:
            r = subprocess.run(argv, stdin=subprocess.DEVNULL,
                               capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise HarnessError("redis-cli --cluster create timed out")
        out = r.stdout.decode("utf-8", "replace")
        if r.returncode != 0 or "[OK] All 16384 slots covered" not in out:
            raise HarnessError("redis-cli --cluster create failed (%d):\n%s"
                               "\n%s" % (r.returncode, out[-3000:],
                                         r.stderr.decode("utf-8",
                                                         "replace")))
        self.create_output = out
        self.wait_stable(timeout)
        for n in self.nodes:
            if n.role() == "slave":
                n.wait_sync(timeout)

    @property
    def url(self):
        return "redis+cluster://" + ",".join(n.addr for n in self.nodes)

    def cli(self, *args, **kw):
        """cli - redis-cli -c against the first live node."""
        node = next(n for n in self.nodes if n.alive())
        return node.cli("-c", *args, **kw)

    # -- topology

    def node_id(self, node):
        return node.command("CLUSTER", "MYID")

    def by_port(self, port):
        for n in self.nodes:
            if n.port == int(port):
                return n
        raise HarnessError("no cluster node on port %s" % port)

    def _slot_map(self, node):
        """{slot: master port} as node sees it."""
        owner = {}
        for rng in node.command("CLUSTER", "SLOTS"):
            for s in range(int(rng[0]), int(rng[1]) + 1):
                owner[s] = int(rng[2][1])
        return owner

    def masters(self):
        """masters - the nodes that are masters now (live ones)."""
        return [n for n in self.nodes if n.alive() and n.role() == "master"]

    def replicas_of(self, node):
        out = []
        for n in self.nodes:
            if n is node or not n.alive():
                continue
            i = n.info("replication")
            if i.get("role") == "slave" and int(i.get("master_port", 0)) \
                    == node.port:
                out.append(n)
        return out

    def slot_of(self, key):
        return int(self._any().command("CLUSTER", "KEYSLOT", key))

    def _any(self):
        for n in self.nodes:
            if n.alive():
                return n
        raise HarnessError("no live cluster node")

    def node_for_slot(self, slot, view=None):
        """node_for_slot - the master serving slot (as `view`, default
        the first live node, sees it)."""
        port = self._slot_map(view or self._any()).get(int(slot))
        if port is None:
            raise HarnessError("slot %d not served" % slot)
        return self.by_port(port)

    def node_for_key(self, key):
        return self.node_for_slot(self.slot_of(key))

    def slots_of(self, node):
        """slots_of - the sorted slots node serves (as it says itself)."""
        return sorted(s for s, p in self._slot_map(node).items()
                      if p == node.port)

    def wait_stable(self, timeout=30):
        """wait_stable - every live node says cluster_state:ok and every
        live node has the same slot map."""
        def stable():
            try:
                live = [n for n in self.nodes if n.alive()]
                for n in live:
                    if parse_info(n.command("CLUSTER", "INFO")).get(
                            "cluster_state") != "ok":
                        return False
                maps = [self._slot_map(n) for n in live]
                return all(m == maps[0] for m in maps) and \
                    len(maps[0]) == 16384
            except (OSError, RedisError, ConnectionError):
                return False
        if not pt.wait_until(stable, timeout, 0.1):
            raise HarnessError("cluster not stable after %ss:\n%s" % (
                timeout, "\n".join("%s: %s" % (n.addr, self._state(n))
                                   for n in self.nodes)))

    def _state(self, n):
        try:
            return parse_info(n.command("CLUSTER", "INFO")).get(
                "cluster_state")
        except Exception as e:
            return repr(e)

    # -- slot migration

    def migrate_slot_begin(self, slot, to_node, keys=()):
        """migrate_slot_begin - CLUSTER SETSLOT slot IMPORTING on to_node,
        MIGRATING on the owner, and move `keys` (a list of keys in the
        slot; None: all) with MIGRATE.  Until migrate_slot_finish, the old
        owner answers ASK for keys it no longer has, to_node answers MOVED
        unless the client sent ASKING first."""
        slot = int(slot)
        src = self.node_for_slot(slot)
        if src is to_node:
            raise HarnessError("slot %d already on %s" % (slot, src.addr))
        to_node.command("CLUSTER", "SETSLOT", slot, "IMPORTING",
                        self.node_id(src))
        src.command("CLUSTER", "SETSLOT", slot, "MIGRATING",
                    self.node_id(to_node))
        self._migrating[slot] = (src, to_node)
        if keys is None or keys:
            self.migrate_keys(slot, keys)

    def migrate_keys(self, slot, keys=None, batch=100, timeout_ms=5000):
        """migrate_keys - during a migration, MIGRATE keys (None: every key
        still in the slot on the old owner) to the new owner."""
        src, dst = self._migrating[int(slot)]
        moved = 0
        if keys is not None:
            keys = list(keys)
            for i in range(0, len(keys), batch):
                r = src.command("MIGRATE", dst.host, dst.port, "", 0,
                                timeout_ms, "KEYS", *keys[i:i + batch])
                if r not in ("OK", "NOKEY"):
                    raise HarnessError("MIGRATE: %r" % r)
                moved += len(keys[i:i + batch])
            return moved
        while True:
            ks = src.command("CLUSTER", "GETKEYSINSLOT", int(slot), batch)
            if not ks:
                return moved
            src.command("MIGRATE", dst.host, dst.port, "", 0, timeout_ms,
                        "KEYS", *ks)
            moved += len(ks)

    def migrate_slot_finish(self, slot, to_node=None, wait=True):
        """migrate_slot_finish - move the remaining keys, then CLUSTER
        SETSLOT slot NODE new-owner on the new owner, the old owner and
        every other master; wait until all nodes agree (if wait)."""
        slot = int(slot)
        src, dst = self._migrating[slot]
        if to_node is not None and to_node is not dst:
            raise HarnessError("slot %d is migrating to %s, not %s" % (
                slot, dst.addr, to_node.addr))
        self.migrate_keys(slot)
        dst_id = self.node_id(dst)
        dst.command("CLUSTER", "SETSLOT", slot, "NODE", dst_id)
        src.command("CLUSTER", "SETSLOT", slot, "NODE", dst_id)
        for n in self.nodes:
            if n in (src, dst) or not n.alive():
                continue
            if n.role() == "master":
                n.command("CLUSTER", "SETSLOT", slot, "NODE", dst_id)
        del self._migrating[slot]
        if wait:
            self.wait_slot_owner(slot, dst)

    def wait_slot_owner(self, slot, node, timeout=15):
        """wait_slot_owner - every live node says slot is node's."""
        def agreed():
            try:
                return all(self._slot_map(n).get(slot) == node.port
                           for n in self.nodes if n.alive())
            except (OSError, RedisError, ConnectionError):
                return False
        if not pt.wait_until(agreed, timeout, 0.05):
            raise HarnessError("nodes do not agree that slot %d is on %s"
                               % (slot, node.addr))

    def migrate_slot(self, slot, to_node):
        """migrate_slot - move one slot with all its keys to to_node."""
        self.migrate_slot_begin(slot, to_node, keys=None)
        self.migrate_slot_finish(slot, to_node)

    def reshard(self, n_slots, from_node, to_node):
        """reshard - move from_node's n_slots lowest slots to to_node (one
        migrate_slot each); returns the slots moved."""
        slots = self.slots_of(from_node)[:n_slots]
        if len(slots) < n_slots:
            raise HarnessError("%s has only %d slots" % (from_node.addr,
                                                         len(slots)))
        for s in slots:
            self.migrate_slot_begin(s, to_node, keys=None)
            self.migrate_slot_finish(s, to_node, wait=False)
        for s in slots:
            self.wait_slot_owner(s, to_node)
        return slots

    def failover(self, replica, timeout=30):
        """failover - CLUSTER FAILOVER on replica (a coordinated manual
        failover); wait until it is a master and the cluster is stable."""
        replica.command("CLUSTER", "FAILOVER")
        if not pt.wait_until(lambda: replica.role() == "master", timeout,
                             0.1):
            raise HarnessError("%s not promoted" % replica.addr)
        self.wait_stable(timeout)

    def stop(self):
        for n in self.nodes:
            n.stop()


# --------------------------------------------------------------- sentinel

class RedisSentinel(RedisServer):
    """RedisSentinel - a redis-server --sentinel (same methods as
    RedisServer; no password)."""

    kind = "sentinel"

    def __init__(self, tmp=None, monitors=(), port=None, name=None,
                 start=True, **kw):
        self.monitors = list(monitors)
        RedisServer.__init__(self, tmp, port=port, name=name, start=False,
                             **kw)
        if start:
            self.start()

    def argv(self):
        conf = os.path.join(self.dir, "sentinel.conf")
        if not os.path.exists(conf):     # sentinel rewrites it; keep that
            lines = ["port %d" % self.port, "bind %s" % HOST,
                     "protected-mode no", "daemonize no",
                     "dir %s" % self.dir, 'logfile "%s"' % self.logfile,
                     "sentinel resolve-hostnames no",
                     "sentinel announce-hostnames no"]
            for m in self.monitors:
                name, host, port = m["name"], m["host"], m["port"]
                lines += [
                    "sentinel monitor %s %s %d %d" % (name, host, port,
                                                       m.get("quorum", 1)),
                    "sentinel down-after-milliseconds %s %d" % (
                        name, m.get("down_after", 1000)),
                    "sentinel failover-timeout %s %d" % (
                        name, m.get("failover_timeout", 5000)),
                    "sentinel parallel-syncs %s 1" % name]
                if m.get("password") is not None:
                    lines.append("sentinel auth-pass %s %s" % (
                        name, m["password"]))
            with open(conf, "w") as f:
                f.write("\n".join(lines) + "\n")
        return [_redis_server() or "redis-server", conf, "--sentinel"] + \
            self.extra

    def __repr__(self):
        return "RedisSentinel(%s:%d)" % (self.host, self.port)


class RedisSentinelSetup:
    """RedisSentinelSetup - a master, one replica and one Sentinel.

    RedisSentinelSetup(tmp, master_name="mymaster", password=None,
                       down_after=1000, failover_timeout=5000)

    The sentinel monitors the master with quorum 1,
    down-after-milliseconds 1000, failover-timeout 5000 and
    resolve-hostnames no; ready when it reports the master and sees the
    replica with its link up.  With password, both servers get it as
    requirepass and masterauth and the sentinel as auth-pass.

    Attributes: master, replica (current roles: swapped by failover()),
    nodes ([first master, first replica]), sentinel (a RedisSentinel),
    master_name, url ("redis+sentinel://127.0.0.1:SPORT/mymaster").
    Methods: current_master_port(), current_master(), failover(timeout,
    demote_old=True), wait_switch(timeout), wait_ready(timeout), stop()."""

    def __init__(self, tmp=None, master_name="mymaster", password=None,
                 down_after=1000, failover_timeout=5000, timeout=30):
        self.master_name = master_name
        self.password = password
        extra = ["--masterauth", password] if password is not None else []
        self.master = RedisServer(tmp, password=password, extra=extra)
        self.replica = RedisServer(tmp, password=password,
                                   replicaof=self.master)
        self.nodes = [self.master, self.replica]
        self.replica.wait_sync(timeout)
        self.sentinel = RedisSentinel(tmp, monitors=[{
            "name": master_name, "host": HOST, "port": self.master.port,
            "quorum": 1, "down_after": down_after,
            "failover_timeout": failover_timeout, "password": password}])
        self.wait_ready(timeout)

    @property
    def url(self):
        return "redis+sentinel://%s:%d/%s" % (HOST, self.sentinel.port,
                                              self.master_name)

    def _replica_ok(self, master_port):
        try:
            reps = self.sentinel.command("SENTINEL", "REPLICAS",
                                         self.master_name)
        except (OSError, RedisError, ConnectionError):
            return False
        for r in reps:
            d = _pairs(r)
            if d.get("flags") == "slave" and \
                    d.get("master-link-status") == "ok" and \
                    int(d.get("master-port", 0)) == master_port:
                return True
        return False

    def wait_ready(self, timeout=30):
        """wait_ready - the sentinel reports the current master (not
        down) and sees a replica of it with its link up."""
        def ready():
            try:
                port = self.current_master_port()
                m = _pairs(self.sentinel.command("SENTINEL", "MASTER",
                                                 self.master_name))
            except (OSError, RedisError, ConnectionError):
                return False
            return port == self.master.port and m.get("flags") == \
                "master" and self._replica_ok(port)
        if not pt.wait_until(ready, timeout, 0.1):
            raise HarnessError("sentinel not ready after %ss:\n%s" % (
                timeout, self.sentinel.log_text()[-3000:]))

    def current_master_port(self):
        """current_master_port - SENTINEL get-master-addr-by-name's
        port."""
        r = self.sentinel.command("SENTINEL", "GET-MASTER-ADDR-BY-NAME",
                                  self.master_name)
        if not r:
            raise HarnessError("sentinel does not know %s" %
                               self.master_name)
        return int(r[1])

    def current_master(self):
        port = self.current_master_port()
        return next(n for n in self.nodes if n.port == port)

    def failover(self, timeout=20, demote_old=True):
        """failover - SENTINEL FAILOVER, then wait until the sentinel
        reports the other node as master, that node says ROLE master, and
        the old master is its replica with master_link_status:up (and the
        sentinel sees that).  Swaps .master and .replica; returns the new
        master's port.  .switch_seconds: until the sentinel reported the
        new master; .failover_seconds: the whole wait.

        The sentinel itself turns the old master (still up: a forced
        failover) into a replica only ~10 s after +switch-master (it
        waits until the node has reported role master for 8 s, and polls
        a replica's INFO every 10 s).  With demote_old (default) the
        harness sends it the same REPLICAOF as soon as the switch is seen,
        which brings the whole failover to 0.5-2 s; demote_old=False waits
        for the sentinel: ~21 s measured (use timeout >= 30)."""
        t0 = time.monotonic()
        old = self.master
        new = self.replica
        self.sentinel.command("SENTINEL", "FAILOVER", self.master_name)

        def switched():
            try:
                return self.current_master_port() == new.port and \
                    new.role() == "master"
            except (OSError, RedisError, ConnectionError):
                return False
        if not pt.wait_until(switched, timeout, 0.1):
            raise HarnessError("failover: sentinel still reports port %s; "
                               "sentinel log:\n%s" % (
                                   self._safe_port(),
                                   self.sentinel.log_text()[-3000:]))
        self.switch_seconds = time.monotonic() - t0
        if demote_old:
            old.command("REPLICAOF", new.host, new.port)

        def demoted():
            try:
                i = old.info("replication")
            except (OSError, RedisError, ConnectionError):
                return False
            return i.get("role") == "slave" and \
                int(i.get("master_port", 0)) == new.port and \
                i.get("master_link_status") == "up"
        left = max(1.0, timeout - (time.monotonic() - t0))
        if not pt.wait_until(demoted, left, 0.1):
            raise HarnessError("failover: old master %s not a synced "
                               "replica of %s; its log:\n%s" % (
                                   old.addr, new.addr,
                                   old.log_text()[-3000:]))
        self.master, self.replica = new, old
        left = max(1.0, timeout - (time.monotonic() - t0))
        self.wait_ready(left)
        self.failover_seconds = time.monotonic() - t0
        return new.port

    def wait_switch(self, timeout=15):
        """wait_switch - after the master died (kill9() or stop(): the
        sentinel fails over by itself after down-after-milliseconds, ~2 s
        measured), wait until the sentinel reports the replica as master
        and it says ROLE master; swap .master and .replica (the old master
        stays down: restart() it and it comes back as a master the
        sentinel converts ~10 s later).  Returns the new master's port."""
        new = self.replica

        def switched():
            try:
                return self.current_master_port() == new.port and \
                    new.role() == "master"
            except (OSError, RedisError, ConnectionError):
                return False
        if not pt.wait_until(switched, timeout, 0.1):
            raise HarnessError("no automatic failover to %s; sentinel "
                               "log:\n%s" % (new.addr,
                                             self.sentinel.log_text()[-3000:]))
        self.master, self.replica = new, self.master
        return new.port

    def _safe_port(self):
        try:
            return self.current_master_port()
        except Exception as e:
            return repr(e)

    def stop(self):
        self.sentinel.stop()
        for n in self.nodes:
            n.stop()
