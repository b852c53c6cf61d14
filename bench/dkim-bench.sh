#!/bin/bash
#
# dkim-bench.sh - DKIM milters side by side: postern-dkim and Debian's
# OpenDKIM, signing and verifying, RSA-2048 and Ed25519, 5 KB and 100 KB
# messages, on a unix and on an inet socket; each driven directly by
# bench/milter-bench (20 connections) and through a private Postfix
# (smtp-source, 20 sessions -> smtpd with smtpd_milters -> smtp-sink).
# Prints a table of messages per second and CPU per message (milter, and
# Postfix for the Postfix path), plus plain Postfix without a milter as
# the baseline, and the goals of issue 4 checked against OpenDKIM's rows.
#
# Usage (as root, from the top of the build tree):
#   bench/dkim-bench.sh [--quick] [--only opendkim|postern-dkim|postfix]
#                       [--modes "sign-rsa sign-ed verify-rsa verify-ed"]
#                       [--sizes "5k 100k"] [--sockets "unix inet"]
#                       [--paths "direct reconnect pfwrites postfix"] [--seconds N]
#                       [--keep]
#
# What it sets up, all on 127.0.0.1 and in one temporary directory under
# BENCH_TMPDIR (default /run: OpenDKIM refuses a config file below a
# world-writable directory such as /tmp):
#   - an RSA-2048 and an Ed25519 key (openssl genpkey, mode 0600);
#   - unbound on a free port serving rsa._domainkey.example.com and
#     ed._domainkey.example.com; OpenDKIM reaches it with
#     "Nameservers 127.0.0.1@PORT" (Debian's opendkim 2.11 is built with
#     libunbound, which takes ADDR@PORT forwarders), postern-dkim with
#     dns_server=127.0.0.1:PORT;
#   - two messages (5 KB, 100 KB) and, for verifying, the same messages
#     signed once beforehand by OpenDKIM (relaxed/relaxed) through
#     milter-bench -O: both verifiers get the same signed messages;
#   - a private Postfix (config, queue and log in the temp directory, the
#     settings of t/lib/postern_test.py, max_use raised so no process
#     exits during a measurement) relaying everything to smtp-sink.
# Signing runs present an internal client (127.0.0.1); verifying runs an
# external one (milter-bench -a 192.0.2.10; behind Postfix the client is
# 127.0.0.1, so both milters get InternalHosts/internal_hosts set to
# 192.0.2.250 in verify mode).
#
# Measures: direct: milter-bench -c 20 -d SECONDS -w 1 -p MILTER_PID
# (msgs/s, p50/p99 latency, milter CPU per message from /proc/PID/stat);
# reconnect: the same with a new milter connection per message (-M 1), as
# Postfix opens one per SMTP session; pfwrites (inet only): -M 1 -P, Postfix's
# write pattern without Postfix (no TCP_NODELAY, the unanswered envelope
# steps flushed on their own before the header), which shows the Nagle /
# delayed-ACK stalls a milter causes behind Postfix in a few seconds.
# Postfix: a warm-up batch, then N messages (N from the warm-up rate and
# SECONDS) with smtp-source -s 20 (one SMTP session per message, as most
# inbound mail arrives); the time runs from the first message sent to the
# last one counted by the smtp-sink that runs for the whole benchmark (a
# sink that exits by itself, -M N, does so before answering the last
# message, and Postfix retries it into a closed port); CPU of the milter process and of
# the whole Postfix process tree (master plus children, exited children
# through the master's cutime), and the machine's idle CPU share.  Every
# run checks the milter really worked: direct runs count the inserted
# DKIM-Signature headers or "dkim=pass" results per message; for the
# Postfix path one message per configuration is captured at the sink and
# checked the same way.
#
# Environment: top_builddir [.], BENCH_SECONDS [10, --quick 3],
# BENCH_CONNS [20], BENCH_SESSIONS [20], BENCH_TMPDIR [/run],
# BENCH_KEEP [0], MILTER_BENCH, POSTERN_DKIM, OPENDKIM (program paths).
#
# Trust: none needed; a developer tool.  Every process it starts (milters,
# unbound, Postfix, smtp-sink, smtp-source) is stopped on exit, also on
# INT/TERM.  Errors: setup failures exit 1 with the reason; a failed
# cell shows "error: ..." in the table's check column (Postfix failures
# also get a note with the maillog's tail under the table).
#
set -u

bench_dir=$(cd "$(dirname "$0")" && pwd)
top_builddir=${top_builddir:-.}
BENCH_SECONDS=${BENCH_SECONDS:-}
BENCH_CONNS=${BENCH_CONNS:-20}
BENCH_SESSIONS=${BENCH_SESSIONS:-20}
BENCH_TMPDIR=${BENCH_TMPDIR:-/run}
BENCH_KEEP=${BENCH_KEEP:-0}
MILTER_BENCH=${MILTER_BENCH:-$top_builddir/bench/milter-bench}
POSTERN_DKIM=${POSTERN_DKIM:-$top_builddir/milters/postern-dkim}
OPENDKIM=${OPENDKIM:-/usr/sbin/opendkim}
PATH=$PATH:/usr/sbin:/sbin

only="opendkim postern-dkim postfix"
modes="sign-rsa sign-ed verify-rsa verify-ed"
sizes="5k 100k"
sockets="unix inet"
paths="direct reconnect pfwrites postfix"
quick=0

# say - progress on stderr
say() { printf 'dkim-bench: %s\n' "$*" >&2; }

bench_name=dkim-bench
. "$(dirname "$0")/milter-lib.sh"

while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1 ;;
	--only) only=$2; shift ;;
	--modes) modes=$2; shift ;;
	--sizes) sizes=$2; shift ;;
	--sockets) sockets=$2; shift ;;
	--paths) paths=$2; shift ;;
	--seconds) BENCH_SECONDS=$2; shift ;;
	--keep) BENCH_KEEP=1 ;;
	-h|--help) usage ;;
	*) say "unknown option $1"; usage ;;
	esac
	shift
done
[ -n "$BENCH_SECONDS" ] || { [ $quick = 1 ] && BENCH_SECONDS=3 || BENCH_SECONDS=10; }
warm=1
[ $quick = 1 ] && warm=0.5

if [ "$(id -u)" != 0 ]; then
	say "run as root (Postfix, OpenDKIM's safe-key checks)"; exit 1
fi
for tool in openssl unbound unbound-checkconf postfix postconf smtp-source smtp-sink; do
	command -v "$tool" >/dev/null 2>&1 || { say "$tool not found"; exit 1; }
done

# ---------------------------------------------------------------- cleanup

tmp=$(mktemp -d "$BENCH_TMPDIR/dkim-bench.XXXXXX") || exit 1
chmod 755 "$tmp"	# Postfix (user postfix) reaches its queue and the milter socket
pids=()			# processes to stop, last started first
postfix_up=0

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- setup

# find_milter_bench - the built program, or compile it into $tmp
find_milter_bench() {
	[ -x "$MILTER_BENCH" ] && return 0
	MILTER_BENCH=$tmp/milter-bench
	say "building milter-bench into $tmp"
	${CC:-cc} -O2 -Wall -Wextra -o "$MILTER_BENCH" "$bench_dir/milter-bench.c" \
	    "$bench_dir/hist.c" -lpthread
}

# setup_keys - RSA-2048 and Ed25519 keys and their DNS TXT records
setup_keys() {
	mkdir -m 700 "$tmp/keys"
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
	    -out "$tmp/keys/rsa.pem" 2>/dev/null || return 1
	openssl genpkey -algorithm ed25519 -out "$tmp/keys/ed.pem" || return 1
	chmod 600 "$tmp/keys/"*.pem
	rsa_txt="v=DKIM1; k=rsa; p=$(openssl pkey -in "$tmp/keys/rsa.pem" -pubout -outform DER | base64 -w0)"
	# RFC 8463: the raw 32-byte public key, the end of the DER SPKI
	ed_txt="v=DKIM1; k=ed25519; p=$(openssl pkey -in "$tmp/keys/ed.pem" -pubout -outform DER | tail -c 32 | base64 -w0)"
}

# start_unbound - the test DNS on a free port
start_unbound() {
	dns_port=$(free_port)
	cat >"$tmp/unbound.conf" <<EOF
server:
	interface: 127.0.0.1@$dns_port
	port: $dns_port
	interface-automatic: no
	do-ip4: yes
	do-ip6: no
	do-udp: yes
	do-tcp: yes
	username: ""
	chroot: ""
	directory: "$tmp"
	pidfile: "$tmp/unbound.pid"
	logfile: "$tmp/unbound.log"
	use-syslog: no
	verbosity: 1
	num-threads: 1
	module-config: "iterator"
	access-control: 127.0.0.0/8 allow
	local-zone: "." refuse
	local-zone: "example.com." static
	local-data: 'example.com. 3600 IN SOA ns.example.com. hostmaster.example.com. 1 3600 600 86400 300'
	local-data: 'rsa._domainkey.example.com. 3600 IN TXT $(txt_strings "$rsa_txt")'
	local-data: 'ed._domainkey.example.com. 3600 IN TXT $(txt_strings "$ed_txt")'
remote-control:
	control-enable: no
EOF
	if ! unbound-checkconf "$tmp/unbound.conf" >"$tmp/unbound-check.log" 2>&1; then
		say "unbound-checkconf failed:"; cat "$tmp/unbound-check.log" >&2
		return 1
	fi
	unbound -d -c "$tmp/unbound.conf" >"$tmp/unbound.out" 2>&1 &
	unbound_pid=$!
	pids+=("$unbound_pid")
	sleep 0.5
	kill -0 "$unbound_pid" 2>/dev/null || { say "unbound did not start"; cat "$tmp/unbound.out" >&2; return 1; }
	say "unbound on 127.0.0.1:$dns_port"
}

# setup_messages - m5k.eml and m100k.eml: plain text, 72-byte lines, the
# usual header fields (a folded Received: included), deterministic
setup_messages() {
	python3 - "$tmp" <<'EOF'
import random, sys
d = sys.argv[1]
words = ("the quick brown fox jumps over lazy dog mail message header body "
         "signature domain key selector relay queue").split()
for name, size, seed in (("5k", 5000, 1), ("100k", 100000, 2)):
    r = random.Random(seed)
    hdr = ("Received: from client.bench.example (client.bench.example [192.0.2.10])\n"
           "\tby mx.bench.example (Postfix) with ESMTP id 4ABCDEF0123\n"
           "\tfor <user@example.net>; Mon, 13 May 2024 10:00:00 +0000 (UTC)\n"
           "From: Bench Sender <bench@example.com>\n"
           "To: User <user@example.net>\n"
           "Subject: milter benchmark message of %d bytes\n"
           "Date: Mon, 13 May 2024 10:00:00 +0000\n"
           "Message-ID: <bench-%d@example.com>\n"
           "MIME-Version: 1.0\n"
           "Content-Type: text/plain; charset=us-ascii\n"
           "Content-Transfer-Encoding: 7bit\n\n") % (size, size)
    body, n = [], len(hdr)
    while n < size:
        line = " ".join(r.choice(words) for _ in range(11))[:72]
        body.append(line)
        n += len(line) + 1
    with open("%s/m%s.eml" % (d, name), "w") as f:
        f.write(hdr + "\n".join(body) + "\n")
EOF
}

# ---------------------------------------------------------------- milters

# milter_target - the socket of a cell: unix:PATH or inet:127.0.0.1:PORT
milter_target() {
	if [ "$1" = unix ]; then
		echo "unix:$tmp/milter.sock"
	else
		echo "inet:127.0.0.1:$(free_port)"
	fi
}

# start_opendkim - MODE (sign-rsa ...) SOCKET: sets mpid and mtarget
start_opendkim() {
	local mode=$1 sock=$2 alg=${1#*-} conf=$tmp/opendkim.conf spec
	mtarget=$(milter_target "$sock")
	case $mtarget in
	unix:*) spec="local:${mtarget#unix:}" ;;
	inet:*) spec="inet:${mtarget##*:}@127.0.0.1" ;;
	esac
	rm -f "$tmp/milter.sock"
	{
		echo "# dkim-bench: Debian's defaults where they matter (Syslog, OversignHeaders From)"
		echo "Syslog yes"
		echo "Canonicalization relaxed/relaxed"
		echo "OversignHeaders From"
		echo "Socket $spec"
		echo "Nameservers 127.0.0.1@$dns_port"
		echo "AuthservID mx.bench.example"
		case $mode in
		sign-*)
			echo "Mode s"
			echo "Domain example.com"
			echo "Selector $alg"
			echo "KeyFile $tmp/keys/$alg.pem"
			[ "$alg" = ed ] && echo "SignatureAlgorithm ed25519-sha256"
			echo "InternalHosts 127.0.0.1" ;;
		verify-*)
			echo "Mode v"
			echo "InternalHosts 192.0.2.250" ;;
		esac
	} >"$conf"
	"$OPENDKIM" -f -x "$conf" >"$tmp/milter.log" 2>&1 &
	mpid=$!
	pids+=("$mpid")
	milter_ready
}

# start_postern - MODE SOCKET: sets mpid and mtarget
start_postern() {
	local mode=$1 sock=$2 alg=${1#*-}
	local args=()
	mtarget=$(milter_target "$sock")
	rm -f "$tmp/milter.sock"
	args=(-o "listen=$mtarget" -o "dns_server=127.0.0.1:$dns_port"
	    -o "authserv_id=mx.bench.example")
	case $mode in
	sign-*) args+=(-o mode=s -o domain=example.com -o "selector=$alg"
	    -o "key_file=$tmp/keys/$alg.pem" -o internal_hosts=127.0.0.1/32) ;;
	verify-*) args+=(-o mode=v -o internal_hosts=192.0.2.250/32) ;;
	esac
	"$POSTERN_DKIM" -f -c /dev/null "${args[@]}" >"$tmp/milter.log" 2>&1 &
	mpid=$!
	pids+=("$mpid")
	milter_ready
}

# milter_ready - wait for the socket; open a unix socket to Postfix's user
milter_ready() {
	if ! wait_listen "$mtarget" "$mpid"; then
		say "milter did not start on $mtarget:"
		tail -n 20 "$tmp/milter.log" | sed 's/^/dkim-bench:   /' >&2
		stop_pid "$mpid"
		return 1
	fi
	[ -S "$tmp/milter.sock" ] && chmod 666 "$tmp/milter.sock"
	return 0
}

# stop_milter - stop the running milter
stop_milter() {
	stop_pid "$mpid"
	rm -f "$tmp/milter.sock"
}

# sign_inputs - the messages to verify: each size signed by OpenDKIM with
# each key, once, so that both verifiers get the same bytes
sign_inputs() {
	local alg size
	for alg in rsa ed; do
		start_opendkim "sign-$alg" unix || return 1
		for size in $sizes; do
			"$MILTER_BENCH" -s "$mtarget" -m "$tmp/m$size.eml" -c 1 -n 1 -w 0 -T 10 \
			    -O "$tmp/v-$alg-$size.eml" >"$tmp/sign.out" 2>&1
			if ! grep -q '^DKIM-Signature:' "$tmp/v-$alg-$size.eml" 2>/dev/null; then
				say "could not sign the $size message with $alg:"; cat "$tmp/sign.out" >&2
				stop_milter
				return 1
			fi
		done
		stop_milter
	done
	say "verify inputs signed by OpenDKIM (relaxed/relaxed): $(cd "$tmp" && echo v-*.eml)"
}

# ---------------------------------------------------------------- Postfix

# source_run - smtp-source: MSGFILE COUNT [RECIPIENT]
source_run() {
	smtp-source -s "$BENCH_SESSIONS" -m "$2" -F "$1" -M client.bench.example \
	    -f bench@example.com -t "${3:-user@example.net}" "127.0.0.1:$smtp_port" \
	    >"$tmp/source.log" 2>&1 &
	source_pid=$!
	pids+=("$source_pid")
}

# source_wait - wait for smtp-source; 1 if it failed
source_wait() {
	local rc
	wait "$source_pid"
	rc=$?
	forget "$source_pid"
	return $rc
}

# postfix_check - one message through Postfix to the dump sink: does it
# carry what the milter should add?  MSGFILE EXPECT(regex)
postfix_check() {
	local f i
	rm -f "$tmp/dump/"*
	source_run "$1" 1 check@check.example
	source_wait || { say "smtp-source failed: $(tail -n 3 "$tmp/source.log")"; return 1; }
	for ((i = 0; i < 300; i++)); do
		f=$(ls "$tmp/dump/" 2>/dev/null | head -1)
		[ -n "$f" ] && break
		sleep 0.1
	done
	[ -n "$f" ] || { say "the check message did not arrive"; postfix_flush; return 1; }
	sleep 0.3	# the sink writes the file while it receives
	grep -Eq "$2" "$tmp/dump/$f" && return 0
	say "the message at the sink lacks /$2/"
	return 1
}

# postfix_run - MSGFILE: warm-up, then a timed batch.  Sets pf_rate,
# pf_milter_ms, pf_postfix_ms, pf_idle, pf_n (or pf_err)
postfix_run() {
	local msg=$1 wn t0 t1 rate n c0 m0 m1 p0 p1 i0 i1 j0 j1 master
	pf_err="" pf_rate=- pf_milter_ms=- pf_postfix_ms=- pf_idle=- pf_n=0
	master=$(postfix_master)
	# warm-up: also gives the rate to size the measured batch
	wn=$((BENCH_SESSIONS * 10))
	c0=$(sink_count)
	t0=$(now)
	source_run "$msg" "$wn"
	source_wait || { pf_err="smtp-source: $(tail -n 1 "$tmp/source.log")"; postfix_flush; return 1; }
	sink_wait $((c0 + wn)) 120 || { pf_err="warm-up messages did not all arrive"; postfix_flush; return 1; }
	t1=$(now)
	rate=$(awk -v n="$wn" -v a="$t0" -v b="$t1" 'BEGIN { printf "%d", n / (b - a) }')
	n=$(awk -v r="$rate" -v s="$BENCH_SECONDS" -v m="$wn" 'BEGIN { n = int(r * s); print n < m ? m : n }')
	c0=$(sink_count)
	m0=$( [ -n "${mpid:-}" ] && cpu_tree "$mpid" || echo 0)
	p0=$(cpu_tree "$master")
	read -r i0 i1 < <(cpu_idle_sample)
	t0=$(now)
	source_run "$msg" "$n"
	source_wait || { pf_err="smtp-source: $(tail -n 1 "$tmp/source.log")"; postfix_flush; return 1; }
	sink_wait $((c0 + n)) $((n / 20 + 60)) || { pf_err="not all $n messages arrived"; postfix_flush; return 1; }
	t1=$(now)
	m1=$( [ -n "${mpid:-}" ] && cpu_tree "$mpid" || echo 0)
	p1=$(cpu_tree "$master")
	read -r j0 j1 < <(cpu_idle_sample)
	pf_rate=$(awk -v n="$n" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')
	pf_postfix_ms=$(awk -v a="$p0" -v b="$p1" -v n="$n" 'BEGIN { printf "%.2f", (b - a) * 1000 / n }')
	[ -n "${mpid:-}" ] && pf_milter_ms=$(awk -v a="$m0" -v b="$m1" -v n="$n" 'BEGIN { printf "%.3f", (b - a) * 1000 / n }')
	pf_idle=$(awk -v a="$i0" -v b="$j0" -v c="$i1" -v d="$j1" 'BEGIN { if (d > c) printf "%.0f%%", 100 * (b - a) / (d - c); else print "-" }')
	pf_n=$n
	return 0
}

# ---------------------------------------------------------------- cells

rows=()		# milter mode size socket path msgs/s milter_ms postfix_ms util/idle p50 p99 check
notes=()

# row - add a table row
row() { rows+=("$(printf '%-12s %-10s %-5s %-6s %-9s %8s %10s %11s %6s %8s %8s %s' "$@")"); }

# direct_run - milter-bench against the running milter: NAME MODE SIZE
# SOCKET PATH (direct: connections kept; reconnect: one per message, as
# Postfix opens one per SMTP session)
direct_run() {
	local name=$1 mode=$2 size=$3 sock=$4 path=$5 msg client expect line f per=0
	declare -A v=()
	case $mode in
	sign-*) msg=$tmp/m$size.eml client=127.0.0.1 expect="DKIM-Signature" ;;
	verify-*) msg=$tmp/v-${mode#*-}-$size.eml client=192.0.2.10 expect="dkim=pass" ;;
	esac
	local extra=()
	[ "$path" = reconnect ] && per=1
	[ "$path" = pfwrites ] && per=1 extra=(-P)
	"$MILTER_BENCH" -s "$mtarget" -m "$msg" -c "$BENCH_CONNS" -d "$BENCH_SECONDS" -w "$warm" \
	    -M "$per" "${extra[@]}" -T 30 -a "$client" -p "$mpid" -g "dkim=pass" >"$tmp/direct.out" 2>"$tmp/direct.err"
	line=$(grep '^messages=' "$tmp/direct.out")
	for f in $line; do v[${f%%=*}]=${f#*=}; done
	for f in $(grep '^cpu' "$tmp/direct.out"); do v[${f%%=*}]=${f#*=}; done
	local got check
	if [ "$expect" = "dkim=pass" ]; then
		got=$(sed -n 's/^grep dkim=pass: //p' "$tmp/direct.out")
	else
		got=$(sed -n 's/^header DKIM-Signature: //p' "$tmp/direct.out")
	fi
	if grep -q '^error:' "$tmp/direct.out"; then
		check="error: $(sed -n 's/^error: //p' "$tmp/direct.out")"
	elif [ -n "${v[messages]:-}" ] && [ "${got:-0}" = "${v[messages]}" ] && [ "${v[messages]}" != 0 ]; then
		check=ok
	else
		check="MISSING $expect: ${got:-0} of ${v[messages]:-0}"
	fi
	row "$name" "$mode" "$size" "$sock" "$path" "${v[msgs_per_s]:--}" "${v[milter_ms_per_msg]:--}" - \
	    "${v[milter_util]:--}" "${v[p50_ms]:--}" "${v[p99_ms]:--}" "$check"
	say "$name $mode $size $sock $path: ${v[msgs_per_s]:--} msg/s, ${v[milter_ms_per_msg]:--} ms CPU/msg, $check"
}

# postfix_cell - the Postfix path for the running milter (or none): NAME MODE SIZE SOCKET
postfix_cell() {
	local name=$1 mode=$2 size=$3 sock=$4 msg
	case $mode in
	verify-*) msg=$tmp/v-${mode#*-}-$size.eml ;;
	*) msg=$tmp/m$size.eml ;;
	esac
	if postfix_run "$msg"; then
		row "$name" "$mode" "$size" "$sock" postfix "$pf_rate" "$pf_milter_ms" "$pf_postfix_ms" \
		    "$pf_idle" - - "ok ($pf_n msgs)"
		say "$name $mode $size $sock postfix: $pf_rate msg/s, milter $pf_milter_ms ms, postfix $pf_postfix_ms ms CPU/msg, idle $pf_idle"
	else
		row "$name" "$mode" "$size" "$sock" postfix - - - - - - "error: $pf_err"
		say "$name $mode $size $sock postfix: error: $pf_err"
		notes+=("$name $mode $size $sock postfix: $pf_err; maillog tail: $(tail -n 2 "$tmp/postfix/maillog" | tr '\n' ' ')")
	fi
}

# bench_all - every cell.  The milters take turns for each mode and
# socket, so that the two sides of a comparison run minutes apart at
# most: on a shared machine the load changes more than that.
bench_all() {
	local name mode sock
	for mode in $modes; do
		for sock in $sockets; do
			for name in $milters; do
				bench_cell "$name" "$mode" "$sock"
			done
		done
	done
}

# bench_cell - all paths and sizes of one milter, mode and socket
bench_cell() {
	local name=$1 mode=$2 sock=$3 start size expect msg path
	start=start_${name%%-*}	# start_opendkim, start_postern
	if ! $start "$mode" "$sock"; then
		row "$name" "$mode" - "$sock" - - - - - - - "error: did not start"
		return
	fi
	for path in direct reconnect pfwrites; do
		has "$paths" $path || continue
		# Postfix's write pattern only matters where Nagle does
		[ $path = pfwrites ] && [ "$sock" != inet ] && continue
		for size in $sizes; do
			direct_run "$name" "$mode" "$size" "$sock" $path
		done
	done
	if has "$paths" postfix; then
		postfix_milters "$mtarget"
		case $mode in
		sign-rsa) expect="^DKIM-Signature:.*a=rsa-sha256" ;;
		sign-ed) expect="^DKIM-Signature:.*a=ed25519-sha256" ;;
		verify-*) expect="dkim=pass" ;;
		esac
		size=${sizes%% *}
		case $mode in
		verify-*) msg=$tmp/v-${mode#*-}-$size.eml ;;
		*) msg=$tmp/m$size.eml ;;
		esac
		if ! postfix_check "$msg" "$expect"; then
			notes+=("$name $mode $sock: the message through Postfix lacks /$expect/")
			row "$name" "$mode" "$size" "$sock" postfix - - - - - - "CHECK FAILED (no /$expect/ at the sink)"
		fi
		for size in $sizes; do
			postfix_cell "$name" "$mode" "$size" "$sock"
		done
	fi
	stop_milter
}

# print_table - all rows, then the goals
print_table() {
	local r
	echo
	echo "dkim-bench: $(nproc) CPUs, load before the run: $load_before; ${BENCH_SECONDS}s per cell;"
	echo "  direct: milter-bench -c $BENCH_CONNS (TCP_NODELAY on its side), util = milter CPU s per s;"
	echo "  postfix: smtp-source -s $BENCH_SESSIONS (a session per message) -> Postfix -> smtp-sink,"
	echo "  ms/msg = CPU of the milter and of all Postfix processes, idle = machine idle CPU share"
	echo
	printf '%-12s %-10s %-5s %-6s %-9s %8s %10s %11s %6s %8s %8s %s\n' \
	    milter mode size socket path msgs/s milter_ms postfix_ms util p50_ms p99_ms check
	for r in "${rows[@]}"; do echo "$r"; done
	if [ ${#notes[@]} -gt 0 ]; then
		echo
		for r in "${notes[@]}"; do echo "note: $r"; done
	fi
	goals
}

# goals - postern-dkim against OpenDKIM, issue 4's targets
goals() {
	printf '%s\n' "${rows[@]}" | awk '
	{ key = $1 " " $2 " " $3 " " $4 " " $5; rate[key] = $6; ms[key] = $7; p50[key] = $10 }
	END {
		split("sign-rsa sign-ed verify-rsa verify-ed", modes, " ")
		split("5k 100k", sizes, " ")
		have = 0
		for (k in rate) if (k ~ /^postern-dkim /) have = 1
		if (!have) { print "\ngoals: postern-dkim not measured"; exit }
		print "\ngoals (issue 4): postern-dkim against OpenDKIM"
		for (i = 1; i <= 4; i++) for (j = 1; j <= 2; j++) {
			m = modes[i]; s = sizes[j]
			for (t = 1; t <= 2; t++) {
				sock = (t == 1) ? "unix" : "inet"; need = (t == 1) ? 1.5 : 1.3
				a = rate["postern-dkim " m " " s " " sock " postfix"]
				b = rate["opendkim " m " " s " " sock " postfix"]
				if (a == "" || b == "" || a == "-" || b == "-" || b == 0) continue
				printf "  postfix %-10s %-5s %-5s %7s vs %7s msg/s = %.2fx (goal >= %.1fx) %s\n",
				    m, s, sock, a, b, a / b, need, ((a / b >= need) ? "met" : "MISSED")
			}
			c = ms["postern-dkim " m " " s " unix direct"]
			if (c != "" && c != "-") {
				lim = (m == "sign-rsa") ? 0.5 : ((m == "verify-rsa") ? 0.15 : 0.25)
				printf "  cpu     %-10s %-5s       %7s ms/msg (goal <= %.2f at 5 KB) %s\n", m, s,
				    c, lim, (s != "5k") ? "(info)" : ((c + 0 <= lim) ? "met" : "MISSED")
			}
			p = p50["postern-dkim " m " " s " inet pfwrites"]
			if (p != "" && p != "-")
				printf "  stall   %-10s %-5s inet  p50 %s ms with Postfix'"'"'s writes (milter-bench -P) %s\n",
				    m, s, p, (p + 0 >= 20) ? "STALL (Nagle / delayed ACK)" : "none"
		}
	}'
}

# ---------------------------------------------------------------- main

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
find_milter_bench || exit 1
setup_keys || { say "key generation failed"; exit 1; }
setup_messages || exit 1
start_unbound || exit 1

want_od=0 want_pd=0
has "$only" opendkim && want_od=1
has "$only" postern-dkim && want_pd=1
if [ $want_od = 1 ] && [ ! -x "$OPENDKIM" ]; then
	say "skipping OpenDKIM: $OPENDKIM not installed (apt-get install opendkim)"; want_od=0
fi
if [ $want_pd = 1 ] && [ ! -x "$POSTERN_DKIM" ]; then
	say "skipping postern-dkim: $POSTERN_DKIM not built yet"; want_pd=0
fi
if ! [ -x "$OPENDKIM" ]; then
	say "OpenDKIM is needed to sign the messages to verify"; exit 1
fi
sign_inputs || exit 1

if has "$paths" postfix; then
	postfix_setup
	sinks_start || { say "smtp-sink did not start"; exit 1; }
	postfix_start || exit 1
	if has "$only" postfix; then
		for size in $sizes; do
			mpid=""
			postfix_milters ""
			postfix_cell postfix none "$size" -
		done
	fi
fi
milters=""
[ $want_od = 1 ] && milters="opendkim"
[ $want_pd = 1 ] && milters="$milters postern-dkim"
bench_all
print_table
exit 0
