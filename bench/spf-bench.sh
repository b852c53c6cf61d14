#!/bin/bash
#
# spf-bench.sh - side-by-side benchmark of postern-spfd and Debian's
# policyd-spf (postfix-policyd-spf-python) over the Postfix policy protocol.
#
# What it does:
#   1. starts unbound on loopback, serving a small test zone (example.)
#      with SPF TXT records, includes, A and MX records; it refuses every
#      other name, so nothing leaves the machine;
#   2. postern-spfd (${top_builddir}/policyd/postern-spfd): warm cache
#      (one load pass first, then the measured pass) and cold cache
#      (-o dns_cache_size=0) at each concurrency, one reconnect-mode run,
#      and its RSS with BENCH_IDLE_CONNS idle connections;
#   3. /usr/bin/policyd-spf behind a tiny forking TCP wrapper that, like
#      Postfix's spawn(8), runs one policyd-spf per accepted connection
#      with the socket as stdin/stdout; same zone, same load;
#   4. prints a table: rps, latency percentiles, errors, peak RSS (sum of
#      VmRSS over the service's processes, sampled during the run).
#
# How policyd-spf finds the test DNS server: pydns reads /etc/resolv.conf
# and always uses port 53.  Rather than touching the system file, the
# script re-runs itself in private network, mount and PID namespaces
# (unshare): loopback is brought up, a private resolv.conf saying
# "nameserver 127.0.0.1" is bind-mounted over /etc/resolv.conf (only inside
# the mount namespace), and unbound listens on 127.0.0.1:53 there.
# Everything, postern-spfd included, runs inside and uses the same unbound.
# The PID namespace also guarantees that every process started here dies
# when the script exits; the outer copy of the script only waits and
# passes INT/TERM on.  If unshare is not available (or BENCH_NETNS=0),
# unbound listens on a free port and policyd-spf runs through a small
# Python shim that sets pydns' server and port before calling the same
# policyd-spf main(); the measured code is otherwise unchanged.
#
# Environment (defaults in brackets):
#   top_builddir      where policyd/postern-spfd and bench/policy-bench are [.]
#   BENCH_SECONDS     measured seconds per case [10]
#   BENCH_WARMUP      warm-up seconds excluded from each case [2]
#   BENCH_WARM_PASS   seconds of the cache-warming pass for postern-spfd [3]
#   BENCH_CONCURRENCY concurrency levels [8 64]
#   BENCH_THREADS     policy-bench threads [2]
#   BENCH_RECONNECT   also run one connection per request at this
#                     concurrency, empty to skip [8]
#   BENCH_IDLE_CONNS  idle connections for the postern-spfd memory case [1000]
#   BENCH_IDLE_SECONDS how long they are held [5]
#   BENCH_NETNS       1: use private namespaces when possible [1]
#   BENCH_KEEP        1: keep the temporary directory with all logs [0]
#   POSTERN_SPFD, POLICYD_SPF, POLICY_BENCH   override program paths
#
# Fairness notes: both services get the same requests (policy-bench -D/-a)
# and the same DNS server; postern-spfd's log lines go to a file in the
# temp directory, policyd-spf's syslog() calls go to /dev/log if there is
# one.  The policyd-spf RSS figure leaves out the wrapper (it stands for
# Postfix's spawn(8), which exists in any case).
#
# Input trust: none; this is a developer tool.  Exit status: 0 when the
# cases that could run ran, 1 when setup failed (unbound, policy-bench).
#
set -u

bench_dir=$(cd "$(dirname "$0")" && pwd)
top_builddir=${top_builddir:-.}
BENCH_SECONDS=${BENCH_SECONDS:-10}
BENCH_WARMUP=${BENCH_WARMUP:-2}
BENCH_WARM_PASS=${BENCH_WARM_PASS:-3}
BENCH_CONCURRENCY=${BENCH_CONCURRENCY:-8 64}
BENCH_THREADS=${BENCH_THREADS:-2}
BENCH_RECONNECT=${BENCH_RECONNECT-8}
BENCH_IDLE_CONNS=${BENCH_IDLE_CONNS:-1000}
BENCH_IDLE_SECONDS=${BENCH_IDLE_SECONDS:-5}
BENCH_NETNS=${BENCH_NETNS:-1}
BENCH_KEEP=${BENCH_KEEP:-0}
POSTERN_SPFD=${POSTERN_SPFD:-$top_builddir/policyd/postern-spfd}
POLICYD_SPF=${POLICYD_SPF:-/usr/bin/policyd-spf}
SYS_PYTHON=/usr/bin/python3	# policyd-spf's interpreter, not a pyenv one

DOMAINS=alpha.example,bravo.example,charlie.example,delta.example,echo.example,foxtrot.example
CLIENTS=192.0.2.0/24

# say - progress message on stderr
say() { printf 'spf-bench: %s\n' "$*" >&2; }

# ---------------------------------------------------------------- namespaces

# ns_forward - pass a signal to the copy of this script inside the
# namespaces: unshare --fork blocks INT and TERM while it waits, and a
# background child may have INT ignored, so both become TERM
ns_forward() {
	local kid
	for kid in $(cat "/proc/$ns_pid/task/$ns_pid/children" 2>/dev/null); do
		kill -TERM "$kid" 2>/dev/null
	done
}

# Re-run inside private namespaces unless already there.  --pid --fork
# makes the inner script PID 1 of the namespace: when it exits, the kernel
# kills whatever is left, even after a crash or SIGKILL.
if [ -z "${SPF_BENCH_IN_NS:-}" ] && [ "$BENCH_NETNS" = 1 ]; then
	ns_opts="--net --mount --pid --fork --mount-proc"
	[ "$(id -u)" = 0 ] || ns_opts="-r $ns_opts"
	# shellcheck disable=SC2086
	if unshare $ns_opts true 2>/dev/null; then
		export SPF_BENCH_IN_NS=1
		# shellcheck disable=SC2086
		unshare $ns_opts "$BASH" "$0" "$@" &
		ns_pid=$!
		trap ns_forward INT TERM
		while :; do
			wait "$ns_pid"
			ns_rc=$?
			kill -0 "$ns_pid" 2>/dev/null || exit "$ns_rc"
		done
	fi
	say "unshare not usable here; running without private namespaces"
fi

# ---------------------------------------------------------------- cleanup

tmp=$(mktemp -d "${TMPDIR:-/tmp}/spf-bench.XXXXXX") || exit 1
pids=()		# processes to stop, in this order: last started first
pgroups=()	# process groups to stop (the policyd-spf wrapper)

# cleanup - stop everything we started, remove the temp directory
# shellcheck disable=SC2317
cleanup() {
	local i
	trap - EXIT INT TERM
	for ((i = ${#pgroups[@]} - 1; i >= 0; i--)); do
		kill -TERM -- "-${pgroups[i]}" 2>/dev/null
	done
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		kill -TERM "${pids[i]}" 2>/dev/null
	done
	wait 2>/dev/null
	if [ "$BENCH_KEEP" = 1 ]; then
		say "logs kept in $tmp"
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# stop_pid - stop one process we started and forget it
stop_pid() {
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	for i in "${!pids[@]}"; do
		[ "${pids[i]}" = "$pid" ] && unset 'pids[i]'
	done
	pids=("${pids[@]}")
}

# stop_pgroup - stop a process group we started and forget it
stop_pgroup() {
	local pg=$1 i
	kill -TERM -- "-$pg" 2>/dev/null
	for ((i = 0; i < 50; i++)); do
		kill -0 -- "-$pg" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL -- "-$pg" 2>/dev/null
	wait "$pg" 2>/dev/null
	for i in "${!pgroups[@]}"; do
		[ "${pgroups[i]}" = "$pg" ] && unset 'pgroups[i]'
	done
	pgroups=("${pgroups[@]}")
}

# ---------------------------------------------------------------- helpers

# run_wait - run a command in the background and wait for it, so that a
# signal reaches our trap at once instead of after the command
run_wait() {
	local pid rc
	"$@" &
	pid=$!
	pids+=("$pid")
	wait "$pid"
	rc=$?
	stop_pid "$pid"
	return "$rc"
}

# free_port - an unused TCP/UDP port on 127.0.0.1
free_port() {
	"$SYS_PYTHON" -c '
import socket
t = socket.socket(); t.bind(("127.0.0.1", 0)); p = t.getsockname()[1]
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", p))
print(p)'
}

# wait_tcp - wait until HOST PORT accepts connections while PID lives
wait_tcp() {
	local host=$1 port=$2 pid=$3 i
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || return 1
		if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# write_helpers - the Python helpers (kept here so bench/ stays one script)
write_helpers() {
	# One policyd-spf per accepted connection, socket as stdin/stdout,
	# as spawn(8) does.  Own process group so cleanup reaches children.
	cat >"$tmp/spawn-wrapper.py" <<'EOF'
import os, signal, socket, sys
host, port, argv = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
os.setpgrp()
signal.signal(signal.SIGCHLD, signal.SIG_IGN)   # children reap themselves
signal.signal(signal.SIGTERM, lambda s, f: os._exit(0))
lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
lsock.bind((host, port))
lsock.listen(4096)
while True:
    try:
        conn, _ = lsock.accept()
    except InterruptedError:
        continue
    pid = os.fork()
    if pid == 0:
        try:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.dup2(conn.fileno(), 0)
            os.dup2(conn.fileno(), 1)
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    conn.close()
EOF
	# Fallback when /etc/resolv.conf cannot be replaced: point pydns at
	# the test server, then run the unchanged policyd-spf main().
	cat >"$tmp/policyd-spf-shim.py" <<'EOF'
import os, sys
import DNS
host, port = os.environ["SPF_BENCH_DNS"].rsplit(":", 1)
DNS.defaults["server"] = [host]
DNS.defaults["port"] = int(port)
from spf_engine.policyd_spf import main
sys.argv[0] = "policyd-spf"
sys.exit(main())
EOF
	# Peak RSS of a process tree: ROOT SKIP_ROOT INTERVAL OUTFILE.
	cat >"$tmp/rss-sampler.py" <<'EOF'
import os, signal, sys, time
root, skip_root, interval, out = int(sys.argv[1]), sys.argv[2] == "1", float(sys.argv[3]), sys.argv[4]
def tree():
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(d))
    todo, seen = [root], []
    while todo:
        p = todo.pop()
        seen.append(p)
        todo.extend(kids.get(p, []))
    return [p for p in seen if not (skip_root and p == root)]
def rss(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0
peak = peak_n = last = last_n = samples = 0
def write():
    with open(out + ".new", "w") as f:
        f.write("rss_kb_peak=%d procs_peak=%d rss_kb_last=%d procs_last=%d samples=%d\n"
                % (peak, peak_n, last, last_n, samples))
    os.replace(out + ".new", out)
signal.signal(signal.SIGTERM, lambda s, f: (write(), os._exit(0)))
once = interval <= 0
while True:
    ps = tree()
    last, last_n = sum(rss(p) for p in ps), len(ps)
    samples += 1
    peak, peak_n = max(peak, last), max(peak_n, last_n)
    write()
    if once:
        break
    time.sleep(interval)
EOF
}

# rss_start - sample the tree under PID (SKIP_ROOT 1: leave PID out)
rss_start() {
	rm -f "$tmp/rss.out"
	"$SYS_PYTHON" "$tmp/rss-sampler.py" "$1" "$2" 0.2 "$tmp/rss.out" &
	rss_pid=$!
	pids+=("$rss_pid")
}

# rss_stop - stop sampling; sets rss_mb and rss_procs
rss_stop() {
	local kb
	stop_pid "$rss_pid"
	rss_mb=- rss_procs=-
	[ -s "$tmp/rss.out" ] || return
	kb=$(sed -n 's/.*rss_kb_peak=\([0-9]*\).*/\1/p' "$tmp/rss.out")
	rss_procs=$(sed -n 's/.*procs_peak=\([0-9]*\).*/\1/p' "$tmp/rss.out")
	rss_mb=$(awk -v k="$kb" 'BEGIN { printf "%.1f", k / 1024 }')
}

# rss_now - one RSS sample of the tree under PID, in MB
rss_now() {
	"$SYS_PYTHON" "$tmp/rss-sampler.py" "$1" "$2" 0 "$tmp/rss1.out"
	awk '{ split($1, a, "="); printf "%.1f", a[2] / 1024 }' "$tmp/rss1.out"
}

# ---------------------------------------------------------------- DNS

# write_zone - unbound.conf with the test zone
write_zone() {
	local port=$1
	cat >"$tmp/unbound.conf" <<EOF
# spf-bench test zone: answers only for example., refuses the rest
server:
	interface: 127.0.0.1@$port
	port: $port
	outgoing-interface: 127.0.0.1
	do-ip4: yes
	do-ip6: no
	do-tcp: yes
	username: ""
	chroot: ""
	directory: "$tmp"
	pidfile: "$tmp/unbound.pid"
	logfile: "$tmp/unbound.log"
	use-syslog: no
	verbosity: 1
	num-threads: 1
	do-not-query-localhost: no
	module-config: "iterator"
	local-zone: "." refuse
	local-zone: "example." static
	# a zone apex SOA, as every real zone has: negative answers carry it,
	# so resolvers may cache NXDOMAIN/no-data for its minimum (RFC 2308)
	local-data: "example. 3600 IN SOA ns.example. hostmaster.example. 1 3600 600 86400 300"

	# alpha: pass for 192.0.2.1-127 and via include (a, mx), else -all
	local-data: 'alpha.example. 3600 IN TXT "v=spf1 ip4:192.0.2.0/25 include:_spf.alpha.example -all"'
	local-data: '_spf.alpha.example. 3600 IN TXT "v=spf1 ip4:198.51.100.0/24 a:mail.alpha.example mx:alpha.example -all"'
	local-data: "alpha.example. 3600 IN MX 10 mx.alpha.example."
	local-data: "alpha.example. 3600 IN A 192.0.2.250"
	local-data: "mx.alpha.example. 3600 IN A 192.0.2.200"
	local-data: "mail.alpha.example. 3600 IN A 192.0.2.201"

	# bravo: mx, a and an include, ~all
	local-data: 'bravo.example. 3600 IN TXT "v=spf1 mx a include:_spf.bravo.example ~all"'
	local-data: '_spf.bravo.example. 3600 IN TXT "v=spf1 ip4:203.0.113.0/24 ip4:192.0.2.128/26 -all"'
	local-data: "bravo.example. 3600 IN MX 10 mx1.bravo.example."
	local-data: "bravo.example. 3600 IN MX 20 mx2.bravo.example."
	local-data: "bravo.example. 3600 IN A 192.0.2.12"
	local-data: "mx1.bravo.example. 3600 IN A 192.0.2.10"
	local-data: "mx2.bravo.example. 3600 IN A 192.0.2.11"

	# charlie: two includes, ?all
	local-data: 'charlie.example. 3600 IN TXT "v=spf1 include:_spf.alpha.example include:_spf.bravo.example ?all"'
	local-data: "charlie.example. 3600 IN A 192.0.2.30"

	# delta: a and ip6 only, -all (fails for every 192.0.2.x)
	local-data: 'delta.example. 3600 IN TXT "v=spf1 a:delta.example ip6:2001:db8::/32 -all"'
	local-data: "delta.example. 3600 IN A 198.51.100.7"
	local-data: "delta.example. 3600 IN MX 10 delta.example."

	# echo: no SPF record at all
	local-data: "echo.example. 3600 IN A 192.0.2.40"
	local-data: "echo.example. 3600 IN MX 10 echo.example."
	local-data: 'echo.example. 3600 IN TXT "not an spf record"'

	# foxtrot: include of a domain without SPF (permerror)
	local-data: 'foxtrot.example. 3600 IN TXT "v=spf1 include:nospf.example -all"'
	local-data: "nospf.example. 3600 IN A 192.0.2.60"

remote-control:
	control-enable: no
EOF
}

# dns_query - NAME TYPE against the test server: "STATUS answer..."
dns_query() {
	"$SYS_PYTHON" - "$dns_port" "$1" "$2" <<'EOF'
import sys, DNS
port, name, qtype = int(sys.argv[1]), sys.argv[2], sys.argv[3]
try:
    r = DNS.DnsRequest(name, qtype=qtype, server=["127.0.0.1"], port=port, timeout=2).req()
    print(r.header["status"], *[a["data"] for a in r.answers])
except Exception as e:
    print("ERROR", e)
EOF
}

# start_unbound - start the test DNS server, wait until it answers
start_unbound() {
	write_zone "$dns_port"
	if ! unbound-checkconf "$tmp/unbound.conf" >"$tmp/unbound-check.log" 2>&1; then
		say "unbound-checkconf failed:"; cat "$tmp/unbound-check.log" >&2
		return 1
	fi
	unbound -d -c "$tmp/unbound.conf" >"$tmp/unbound.out" 2>&1 &
	unbound_pid=$!
	pids+=("$unbound_pid")
	local i answer
	for ((i = 0; i < 50; i++)); do
		kill -0 "$unbound_pid" 2>/dev/null || break
		answer=$(dns_query alpha.example TXT)
		case $answer in NOERROR*) say "unbound on 127.0.0.1:$dns_port: alpha.example TXT $answer"; return 0 ;; esac
		sleep 0.1
	done
	say "unbound did not start:"; cat "$tmp/unbound.out" "$tmp/unbound.log" >&2 2>/dev/null
	return 1
}

# ---------------------------------------------------------------- load

results=()	# one line per case: service mode conc rps p50 p90 p99 max errors rss procs
actions=()	# one line per case: label and action counts

# sanity - one known request (expected: SPF pass); prints the response
sanity() {
	local target=$1 label=$2 resp
	printf '%s\n' request=smtpd_access_policy protocol_state=RCPT protocol_name=ESMTP \
	    helo_name=mx.alpha.example client_address=192.0.2.5 client_name=unknown \
	    sender=postmaster@alpha.example recipient=user@destination.invalid \
	    queue_id= size=1234 >"$tmp/sanity.req"
	run_wait "$policy_bench" -s "$target" -c 1 -n 1 -w 0 -d 30 -T 20 -i "$tmp/sanity.req" -v \
	    >"$tmp/sanity.out" 2>"$tmp/sanity.err"
	resp=$(sed -n 's/^policy-bench: first response: //p' "$tmp/sanity.err")
	if [ -z "$resp" ]; then
		say "$label: no answer to a test request:"; cat "$tmp/sanity.out" "$tmp/sanity.err" >&2
		return 1
	fi
	say "$label: pass test -> action=$resp"
	case $(printf '%s' "$resp" | tr '[:upper:]' '[:lower:]') in
	*pass*) ;;
	*) say "$label: warning: expected an SPF pass for 192.0.2.5 / alpha.example" ;;
	esac
	return 0
}

# run_load - run policy-bench: TARGET CONC MODE SECONDS.  With persistent
# connections the warm-up also waits until every connection has answered
# once (-W), so process start-up (policyd-spf) stays out of the figures.
run_load() {
	local target=$1 conc=$2 mode=$3 secs=$4 prime=-W
	[ "$mode" = reconnect ] && prime=
	run_wait "$policy_bench" -s "$target" -c "$conc" -t "$BENCH_THREADS" -d "$secs" \
	    -w "$BENCH_WARMUP" $prime -C "$mode" -T 30 -A 3 -D "$DOMAINS" -a "$CLIENTS" \
	    >"$tmp/load.out" 2>"$tmp/load.err"
}

# record - add the last policy-bench output as a table row
record() {
	local service=$1 mode=$2 conc=$3 line f
	line=$(grep '^requests=' "$tmp/load.out")
	declare -A v=()
	for f in $line; do v[${f%%=*}]=${f#*=}; done
	results+=("$service $mode $conc ${v[rps]:--} ${v[p50_ms]:--} ${v[p90_ms]:--} ${v[p99_ms]:--} ${v[max_ms]:--} ${v[errors]:--} $rss_mb $rss_procs")
	actions+=("$service $mode c=$conc: $(awk '/^action / { sub(/^action /, ""); n = $NF;
	    sub(/: [0-9]+$/, ""); printf "%s[%s=%s]", sep, $0, n; sep = " " }' "$tmp/load.out")")
	say "$service $mode c=$conc: $line rss_mb=$rss_mb procs=$rss_procs"
	grep '^detail' "$tmp/load.out" | sed 's/^/spf-bench:   /' >&2
	sed 's/^/spf-bench:   /' "$tmp/load.err" >&2
}

# measure - one case with RSS sampling: SERVICE MODE CONC TARGET ROOT SKIP_ROOT
measure() {
	local service=$1 mode=$2 conc=$3 target=$4 root=$5 skip=$6 cmode=persistent
	[ "$mode" = reconnect ] && cmode=reconnect
	rss_start "$root" "$skip"
	run_load "$target" "$conc" "$cmode" "$BENCH_SECONDS"
	rss_stop
	record "$service" "$mode" "$conc"
}

# ---------------------------------------------------------------- postern-spfd

# start_spfd - start postern-spfd with extra -o options; sets spfd_pid
start_spfd() {
	"$POSTERN_SPFD" -f -o "listen=inet:127.0.0.1:$spfd_port" \
	    -o "dns_server=127.0.0.1:$dns_port" -o Header_Type=SPF "$@" \
	    >"$tmp/spfd.log" 2>&1 &
	spfd_pid=$!
	pids+=("$spfd_pid")
	if ! wait_tcp 127.0.0.1 "$spfd_port" "$spfd_pid"; then
		say "postern-spfd $* did not start:"
		tail -n 20 "$tmp/spfd.log" | sed 's/^/spf-bench:   /' >&2
		stop_pid "$spfd_pid"
		return 1
	fi
	return 0
}

# bench_spfd - all postern-spfd cases
bench_spfd() {
	local target=inet:127.0.0.1:$spfd_port c base
	if [ ! -x "$POSTERN_SPFD" ]; then
		say "skipping postern-spfd: $POSTERN_SPFD not built yet"
		return
	fi
	start_spfd || return
	if sanity "$target" postern-spfd; then
		for c in $BENCH_CONCURRENCY; do
			run_load "$target" "$c" persistent "$BENCH_WARM_PASS"	# fill the cache
			measure postern-spfd warm "$c" "$target" "$spfd_pid" 0
		done
		if [ -n "$BENCH_RECONNECT" ]; then
			measure postern-spfd reconnect "$BENCH_RECONNECT" "$target" "$spfd_pid" 0
		fi
		# memory with idle connections
		base=$(rss_now "$spfd_pid" 0)
		rss_start "$spfd_pid" 0
		run_wait "$policy_bench" -s "$target" -I -c "$BENCH_IDLE_CONNS" -t "$BENCH_THREADS" \
		    -d "$BENCH_IDLE_SECONDS" >"$tmp/idle.out" 2>"$tmp/idle.err"
		rss_stop
		say "postern-spfd idle: $(cat "$tmp/idle.out") rss_before_mb=$base rss_peak_mb=$rss_mb"
		results+=("postern-spfd idle $BENCH_IDLE_CONNS - - - - - - $rss_mb $rss_procs")
		idle_note="postern-spfd: RSS ${base} MB with no connection, ${rss_mb} MB with $BENCH_IDLE_CONNS idle connections ($(sed -n 's/.*held=\([0-9]*\).*/\1/p' "$tmp/idle.out") held)"
	fi
	stop_pid "$spfd_pid"

	if ! start_spfd -o dns_cache_size=0; then
		say "skipping the cold-cache cases: postern-spfd refused -o dns_cache_size=0"
		return
	fi
	for c in $BENCH_CONCURRENCY; do
		measure postern-spfd cold "$c" "$target" "$spfd_pid" 0
	done
	stop_pid "$spfd_pid"
}

# ---------------------------------------------------------------- policyd-spf

# bench_policyd_spf - policyd-spf behind the spawn-per-connection wrapper
bench_policyd_spf() {
	local target=inet:127.0.0.1:$pyspf_port c cmd
	if [ ! -x "$POLICYD_SPF" ]; then
		say "skipping policyd-spf: $POLICYD_SPF not installed (apt-get install postfix-policyd-spf-python)"
		return
	fi
	if ! "$SYS_PYTHON" -c 'import spf, DNS, spf_engine' 2>/dev/null; then
		say "skipping policyd-spf: $SYS_PYTHON cannot import spf, DNS and spf_engine"
		return
	fi
	# Debian's defaults, written out so the run does not depend on /etc.
	cat >"$tmp/policyd-spf.conf" <<'EOF'
debugLevel = 1
TestOnly = 1
HELO_reject = Fail
Mail_From_reject = Fail
PermError_reject = False
TempError_Defer = False
skip_addresses = 127.0.0.0/8,::ffff:127.0.0.0/104,::1
Header_Type = SPF
EOF
	if [ "$resolv_private" = 1 ]; then
		cmd=("$POLICYD_SPF" "$tmp/policyd-spf.conf")
	else
		cmd=("$SYS_PYTHON" "$tmp/policyd-spf-shim.py" "$tmp/policyd-spf.conf")
	fi
	SPF_BENCH_DNS=127.0.0.1:$dns_port "$SYS_PYTHON" "$tmp/spawn-wrapper.py" \
	    127.0.0.1 "$pyspf_port" "${cmd[@]}" >"$tmp/policyd-spf.log" 2>&1 &
	pyspf_pid=$!
	pgroups+=("$pyspf_pid")
	if ! wait_tcp 127.0.0.1 "$pyspf_port" "$pyspf_pid"; then
		say "policyd-spf wrapper did not start:"; cat "$tmp/policyd-spf.log" >&2
		return
	fi
	if sanity "$target" policyd-spf; then
		for c in $BENCH_CONCURRENCY; do
			measure policyd-spf spawn "$c" "$target" "$pyspf_pid" 1
		done
		if [ -n "$BENCH_RECONNECT" ]; then
			measure policyd-spf reconnect "$BENCH_RECONNECT" "$target" "$pyspf_pid" 1
		fi
	fi
	stop_pgroup "$pyspf_pid"
}

# ---------------------------------------------------------------- main

# find_policy_bench - the built program, or compile it into $tmp
find_policy_bench() {
	policy_bench=${POLICY_BENCH:-$top_builddir/bench/policy-bench}
	[ -x "$policy_bench" ] && return 0
	policy_bench=$tmp/policy-bench
	say "building policy-bench into $tmp"
	${CC:-cc} -O2 -Wall -Wextra -o "$policy_bench" "$bench_dir/policy-bench.c" \
	    "$bench_dir/hist.c" -lpthread
}

# print_table - the side-by-side summary
print_table() {
	local r
	echo
	echo "spf-bench: ${BENCH_SECONDS}s per case after ${BENCH_WARMUP}s warm-up, $(nproc) CPUs, policy-bench -t $BENCH_THREADS"
	echo "  postern: warm = cache filled by a ${BENCH_WARM_PASS}s pass; cold = -o dns_cache_size=0"
	echo "  policyd-spf: spawn = one process per connection, kept for the run (Postfix reuses policy connections);"
	echo "  reconnect = new connection (and process) per request; RSS excludes the wrapper"
	echo
	printf '%-13s %-9s %5s %9s %8s %8s %8s %9s %7s %8s %6s\n' \
	    service mode conc rps p50_ms p90_ms p99_ms max_ms errors rss_mb procs
	for r in "${results[@]}"; do
		# shellcheck disable=SC2086
		printf '%-13s %-9s %5s %9s %8s %8s %8s %9s %7s %8s %6s\n' $r
	done
	echo
	[ -n "${idle_note:-}" ] && echo "$idle_note"
	echo "actions per case:"
	for r in "${actions[@]}"; do echo "  $r"; done
}

for tool in unbound unbound-checkconf; do
	if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$tool" ]; then
		say "$tool not found (apt-get install unbound)"; exit 1
	fi
done
PATH=$PATH:/usr/sbin:/sbin
if ! "$SYS_PYTHON" -c 'import DNS' 2>/dev/null; then
	say "$SYS_PYTHON cannot import DNS (apt-get install python3-dns)"; exit 1
fi
write_helpers
find_policy_bench || exit 1

resolv_private=0
if [ -n "${SPF_BENCH_IN_NS:-}" ]; then
	ip link set lo up || { say "cannot bring up lo in the namespace"; exit 1; }
	dns_port=53 spfd_port=10025 pyspf_port=10026
	echo "nameserver 127.0.0.1" >"$tmp/resolv.conf"
	if mount --bind "$tmp/resolv.conf" /etc/resolv.conf 2>"$tmp/mount.err"; then
		resolv_private=1
	else
		say "cannot bind-mount resolv.conf ($(cat "$tmp/mount.err")); using the resolver shim"
	fi
	say "running in private namespaces (loopback only, DNS on 127.0.0.1:53)"
else
	dns_port=$(free_port) spfd_port=$(free_port) pyspf_port=$(free_port)
	while [ "$spfd_port" = "$dns_port" ] || [ "$pyspf_port" = "$dns_port" ] \
	    || [ "$pyspf_port" = "$spfd_port" ]; do
		spfd_port=$(free_port) pyspf_port=$(free_port)
	done
fi

start_unbound || exit 1
bench_spfd
bench_policyd_spf
print_table
exit 0
