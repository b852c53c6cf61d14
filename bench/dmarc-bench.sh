#!/bin/bash
#
# dmarc-bench.sh - DMARC milters side by side: postern-dmarc and Debian's
# OpenDMARC on the same messages and the same socket types, plus the
# DMARC engine alone (bench/dmarc-engine-bench) and the whole chain
# through a private Postfix: postern-dkim -> postern-dmarc against
# OpenDKIM -> OpenDMARC.  Prints a table of messages per second and CPU
# per message, and the goals of issue 5 checked against OpenDMARC's rows.
#
# Usage (as root, from the top of the build tree):
#   bench/dmarc-bench.sh [--quick] [--runs N] [--seconds N]
#                        [--only "opendmarc postern-dmarc postern-dmarc-7489 postern-dmarc-noagg"]
#                        [--inputs "ar self"] [--sockets "unix inet"]
#                        [--paths "engine direct reconnect postfix"] [--keep]
#
# What it sets up, all inside private network, mount and PID namespaces
# (unshare), so that nothing can reach beyond loopback and OpenDMARC can
# be pointed at the test DNS: OpenDMARC has no name-server option (its
# DMARC lookups go through libresolv, its SPF checks through libspf2,
# which reads the same resolv.conf), so a private resolv.conf saying
# "nameserver 127.0.0.1" is bind-mounted over /etc/resolv.conf, visible
# in the new mount namespace only, and unbound answers on 127.0.0.1:53 of
# the new network namespace.  Every program uses that one unbound:
# postern with dns_server=127.0.0.1:53, OpenDKIM with Nameservers.
#   - one RSA-2048 key published for selector "sel" of pass.example,
#     esp.example and relaxed.example; SPF and DMARC records (the zone is
#     in start_unbound, and listed in bench/README.md);
#   - three 5 KB messages, DKIM-signed once by dkimpy (relaxed/relaxed)
#     so that every verifier gets the same bytes:
#       pass     From pass.example, d=pass.example, MAIL FROM
#                bench@pass.example: aligned pass, p=reject
#       fail     From fail.example (p=reject), d=esp.example, MAIL FROM
#                bounces@esp.example: both pass, neither aligned: reject
#       relaxed  From mail.relaxed.example (no record), d=relaxed.example,
#                MAIL FROM bounce@bounce.relaxed.example: relaxed
#                alignment, p=quarantine at the organizational domain
#   - two inputs for the direct runs (milter-bench cycles the three):
#       ar    an Authentication-Results from auth.bench.example (trusted
#             by both milters) carries dkim= and spf= results;
#       self  the same header carries only dkim= (OpenDMARC does not
#             verify DKIM, it needs a result from somewhere); SPF is
#             checked in the milter (OpenDMARC SPFSelfValidate, postern
#             spf_self_validate) and postern also verifies the signature
#             itself (dkim_self_validate).
#
# Measures:
#   engine   dmarc-engine-bench: CPU per dmarc_evaluate() with warm DNS.
#   direct   milter-bench -c BENCH_CONNS -d SECONDS -p MILTER_PID, client
#            192.0.2.10, every run BENCH_RUNS times, the milters taking
#            turns: msgs/s, latency, milter CPU per message.  Each run
#            checks that a third of the messages was rejected and the rest
#            got dmarc=pass.
#   reconnect  the same with a new milter connection per message (-M 1),
#            as Postfix opens one per SMTP session.
#   postfix  smtp-source (three, one per message kind, one SMTP session
#            per message) -> Postfix with smtpd_milters = the DKIM
#            verifier then the DMARC milter, both on unix sockets ->
#            smtp-sink; also Postfix with no milter.  Failures are not
#            rejected here (reject_failures = no / RejectFailures false)
#            so that every message reaches the sink, which counts them.
#
# Environment: top_builddir [.], BENCH_SECONDS [10, --quick 3],
# BENCH_RUNS [3, --quick 1], BENCH_CONNS [20], BENCH_SESSIONS [21],
# BENCH_TMPDIR [/run], BENCH_KEEP [0], BENCH_ENGINE_COUNT [200000],
# MILTER_BENCH, DMARC_ENGINE_BENCH, POSTERN_DMARC, POSTERN_DKIM,
# OPENDMARC, OPENDKIM (program paths).
#
# Trust: none needed; a developer tool.  Every process it starts is
# stopped on exit, also on INT/TERM; the PID namespace takes whatever is
# left.  Errors: setup failures exit 1 with the reason; a failed cell
# shows "error: ..." or "BAD ..." in the table's check column.
#
set -u

bench_dir=$(cd "$(dirname "$0")" && pwd)
top_builddir=${top_builddir:-.}
top_builddir=$(cd "$top_builddir" && pwd)
BENCH_SECONDS=${BENCH_SECONDS:-}
BENCH_RUNS=${BENCH_RUNS:-}
BENCH_CONNS=${BENCH_CONNS:-20}
BENCH_SESSIONS=${BENCH_SESSIONS:-21}
BENCH_TMPDIR=${BENCH_TMPDIR:-/run}
BENCH_KEEP=${BENCH_KEEP:-0}
BENCH_ENGINE_COUNT=${BENCH_ENGINE_COUNT:-200000}
MILTER_BENCH=${MILTER_BENCH:-$top_builddir/bench/milter-bench}
DMARC_ENGINE_BENCH=${DMARC_ENGINE_BENCH:-$top_builddir/bench/dmarc-engine-bench}
POSTERN_DMARC=${POSTERN_DMARC:-$top_builddir/milters/postern-dmarc}
POSTERN_DKIM=${POSTERN_DKIM:-$top_builddir/milters/postern-dkim}
OPENDMARC=${OPENDMARC:-/usr/sbin/opendmarc}
OPENDKIM=${OPENDKIM:-/usr/sbin/opendkim}
PSL_BASE=${PSL:-/usr/share/publicsuffix/public_suffix_list.dat}
PATH=$PATH:/usr/sbin:/sbin

only="opendmarc postern-dmarc postern-dmarc-7489"
inputs="ar self"
sockets="unix inet"
paths="engine direct reconnect postfix"
quick=0
args=("$@")

# say - progress on stderr
say() { printf 'dmarc-bench: %s\n' "$*" >&2; }

bench_name=dmarc-bench
WAIT_LISTEN_TRIES=150
. "$(dirname "$0")/milter-lib.sh"

while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1 ;;
	--only) only=$2; shift ;;
	--inputs) inputs=$2; shift ;;
	--sockets) sockets=$2; shift ;;
	--paths) paths=$2; shift ;;
	--seconds) BENCH_SECONDS=$2; shift ;;
	--runs) BENCH_RUNS=$2; shift ;;
	--keep) BENCH_KEEP=1 ;;
	-h|--help) usage ;;
	*) say "unknown option $1"; usage ;;
	esac
	shift
done
[ -n "$BENCH_SECONDS" ] || { [ $quick = 1 ] && BENCH_SECONDS=3 || BENCH_SECONDS=10; }
[ -n "$BENCH_RUNS" ] || { [ $quick = 1 ] && BENCH_RUNS=1 || BENCH_RUNS=3; }
warm=1
[ $quick = 1 ] && warm=0.5

if [ "$(id -u)" != 0 ]; then
	say "run as root (namespaces, Postfix, the DNS port 53)"; exit 1
fi
for tool in openssl unbound unbound-checkconf unshare ip postfix postconf smtp-source smtp-sink; do
	command -v "$tool" >/dev/null 2>&1 || { say "$tool not found"; exit 1; }
done

# ---------------------------------------------------------------- namespaces

# ns_forward - pass INT/TERM to the copy of this script inside the
# namespaces (unshare --fork blocks them while it waits)
ns_forward() {
	local kid
	for kid in $(cat "/proc/$ns_pid/task/$ns_pid/children" 2>/dev/null); do
		kill -TERM "$kid" 2>/dev/null
	done
}

# Re-run inside private namespaces unless already there.  --pid --fork
# makes the inner script PID 1 of the namespace: when it exits, the kernel
# kills whatever is left.
if [ -z "${DMARC_BENCH_IN_NS:-}" ]; then
	ns_opts="--net --mount --pid --fork --mount-proc"
	# shellcheck disable=SC2086
	if ! unshare $ns_opts true 2>/dev/null; then
		say "cannot create namespaces (unshare $ns_opts): OpenDMARC cannot be pointed at the test DNS otherwise"
		exit 1
	fi
	export DMARC_BENCH_IN_NS=1
	# shellcheck disable=SC2086
	unshare $ns_opts "$BASH" "$0" "${args[@]}" &
	ns_pid=$!
	trap ns_forward INT TERM
	while :; do
		wait "$ns_pid"
		ns_rc=$?
		kill -0 "$ns_pid" 2>/dev/null || exit "$ns_rc"
	done
fi

# ---------------------------------------------------------------- cleanup

tmp=$(mktemp -d "$BENCH_TMPDIR/dmarc-bench.XXXXXX") || exit 1
chmod 755 "$tmp"	# Postfix (user postfix) reaches its queue and the milter sockets
pids=()			# processes to stop, last started first
postfix_up=0

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# stop_milter - stop a milter (pid $1, name $2); a crash on the way out
# becomes a note under the table
stop_milter() {
	stop_pid "$1"
	if [ "$stop_rc" -gt 128 ]; then
		notes+=("$2 died of signal $((stop_rc - 128)) when stopped with TERM ($3)")
		say "$2 died of signal $((stop_rc - 128)) when stopped"
	fi
}

# ---------------------------------------------------------------- setup

# find_programs - milter-bench and dmarc-engine-bench: built, or compiled
# here (milter-bench only: the engine bench needs libpostern)
find_programs() {
	if [ ! -x "$MILTER_BENCH" ]; then
		MILTER_BENCH=$tmp/milter-bench
		say "building milter-bench into $tmp"
		${CC:-cc} -O2 -Wall -Wextra -o "$MILTER_BENCH" "$bench_dir/milter-bench.c" \
		    "$bench_dir/hist.c" -lpthread || return 1
	fi
	if has "$paths" engine && [ ! -x "$DMARC_ENGINE_BENCH" ]; then
		say "skipping the engine bench: $DMARC_ENGINE_BENCH not built (make bench/dmarc-engine-bench)"
		paths=${paths//engine/}
	fi
	return 0
}

# setup_key - an RSA-2048 key and its DKIM record
setup_key() {
	mkdir -m 700 "$tmp/keys"
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
	    -out "$tmp/keys/rsa.pem" 2>/dev/null || return 1
	chmod 600 "$tmp/keys/rsa.pem"
	rsa_txt="v=DKIM1; k=rsa; p=$(openssl pkey -in "$tmp/keys/rsa.pem" -pubout -outform DER | base64 -w0)"
}

# setup_psl - the Public Suffix List every program gets: Debian's, plus
# the rule "example".  OpenDMARC finds no organizational domain under a
# top-level label the list lacks (it gave dmarc=none for
# mail.relaxed.example with Debian's list alone); the PSL's implicit "*"
# rule makes postern's org domain the same either way.
setup_psl() {
	PSL=$tmp/public_suffix_list.dat
	{ cat "$PSL_BASE" && printf '\n// dmarc-bench: the test zone\nexample\n'; } >"$PSL" || return 1
}

# start_unbound - the test DNS on 127.0.0.1:53 of the private network
start_unbound() {
	local key
	key=$(txt_strings "$rsa_txt")
	cat >"$tmp/unbound.conf" <<EOF
server:
	interface: 127.0.0.1
	port: 53
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
	local-zone: "example." static
	# the apex SOA: negative answers carry it, so NXDOMAIN is cached
	local-data: 'example. 3600 IN SOA ns.example. hostmaster.example. 1 3600 600 86400 300'
	# pass: aligned DKIM and SPF
	local-data: '_dmarc.pass.example. 3600 IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc@pass.example"'
	local-data: 'pass.example. 3600 IN TXT "v=spf1 ip4:192.0.2.0/24 ip4:127.0.0.1 -all"'
	local-data: 'sel._domainkey.pass.example. 3600 IN TXT $key'
	# fail: p=reject, the mail authenticated by esp.example only
	local-data: '_dmarc.fail.example. 3600 IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc@fail.example"'
	local-data: 'fail.example. 3600 IN TXT "v=spf1 -all"'
	local-data: 'esp.example. 3600 IN TXT "v=spf1 ip4:192.0.2.0/24 ip4:127.0.0.1 -all"'
	local-data: 'sel._domainkey.esp.example. 3600 IN TXT $key'
	# relaxed: From a subdomain without a record; d= and MAIL FROM of the
	# organizational domain (relaxed alignment)
	local-data: '_dmarc.relaxed.example. 3600 IN TXT "v=DMARC1; p=quarantine; rua=mailto:dmarc@relaxed.example"'
	local-data: 'bounce.relaxed.example. 3600 IN TXT "v=spf1 ip4:192.0.2.0/24 ip4:127.0.0.1 -all"'
	local-data: 'sel._domainkey.relaxed.example. 3600 IN TXT $key'
	local-data: 'mail.relaxed.example. 3600 IN A 192.0.2.80'
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
}

# setup_messages - the three messages, signed once by dkimpy, in three
# versions: sign/ (no Authentication-Results: the Postfix path), ar/
# (dkim= and spf= results from auth.bench.example) and self/ (dkim= only)
setup_messages() {
	mkdir -p "$tmp/sign" "$tmp/ar" "$tmp/self"
	/usr/bin/python3 - "$tmp" <<'EOF'
import random, sys
import dkim
d = sys.argv[1]
key = open(d + "/keys/rsa.pem", "rb").read()
words = ("the quick brown fox jumps over lazy dog mail message header body "
         "signature domain key selector relay queue").split()
kinds = (
    # name, From, d=, MAIL FROM
    ("pass", "Bench Sender <bench@pass.example>", "pass.example", "bench@pass.example"),
    ("fail", "Bench Sender <bench@fail.example>", "esp.example", "bounces@esp.example"),
    ("relaxed", "News <news@mail.relaxed.example>", "relaxed.example",
     "bounce@bounce.relaxed.example"),
)
for i, (name, frm, sdom, mfrom) in enumerate(kinds):
    r = random.Random(i + 1)
    hdr = ("Received: from client.bench.example (client.bench.example [192.0.2.10])\n"
           "\tby relay.bench.example (Postfix) with ESMTP id 4ABCDEF01%d\n"
           "\tfor <user@example.net>; Mon, 13 May 2024 10:00:00 +0000 (UTC)\n"
           "From: %s\n"
           "To: User <user@example.net>\n"
           "Subject: DMARC benchmark message (%s)\n"
           "Date: Mon, 13 May 2024 10:00:00 +0000\n"
           "Message-ID: <bench-%s@%s>\n"
           "MIME-Version: 1.0\n"
           "Content-Type: text/plain; charset=us-ascii\n"
           "Content-Transfer-Encoding: 7bit\n\n") % (i, frm, name, name, sdom)
    body, n = [], len(hdr)
    while n < 5000:
        line = " ".join(r.choice(words) for _ in range(11))[:72]
        body.append(line)
        n += len(line) + 1
    msg = (hdr + "\n".join(body) + "\n").encode()
    sig = dkim.sign(msg, b"sel", sdom.encode(), key,
                    canonicalize=(b"relaxed", b"relaxed"),
                    include_headers=[b"from", b"to", b"subject", b"date",
                                     b"message-id", b"mime-version",
                                     b"content-type"])
    sig = sig.replace(b"\r\n", b"\n")
    signed = sig + msg
    b = sig.split(b"b=")[-1][:12].decode().replace("\n", "").replace(" ", "")
    dres = ("dkim=pass (2048-bit key) header.d=%s header.i=@%s header.s=sel "
            "header.b=%s" % (sdom, sdom, b))
    ar = "Authentication-Results: auth.bench.example;\n\t%s;\n\tspf=pass smtp.mailfrom=%s\n" % (dres, mfrom)
    selfar = "Authentication-Results: auth.bench.example;\n\t%s\n" % dres
    open("%s/sign/%s.eml" % (d, name), "wb").write(signed)
    open("%s/ar/%s.eml" % (d, name), "wb").write(ar.encode() + signed)
    open("%s/self/%s.eml" % (d, name), "wb").write(selfar.encode() + signed)
    open("%s/%s.from" % (d, name), "w").write(mfrom + "\n")
EOF
}

# mfrom - the envelope sender of message kind $1
mfrom() { cat "$tmp/$1.from"; }

# msg_args - milter-bench's -m/-f options for the three messages of an input
msg_args() {
	local k
	for k in pass fail relaxed; do
		printf '%s\n' -m "$tmp/$1/$k.eml" -f "$(mfrom $k)"
	done
}

# ---------------------------------------------------------------- milters

# milter_target - unix:PATH or inet:127.0.0.1:PORT for socket type $1
# and name $2
milter_target() {
	if [ "$1" = unix ]; then
		echo "unix:$tmp/$2.sock"
	else
		echo "inet:127.0.0.1:$(free_port)"
	fi
}

# libmilter_spec - OpenDKIM/OpenDMARC's Socket value for a target
libmilter_spec() {
	case $1 in
	unix:*) echo "local:${1#unix:}" ;;
	inet:*) echo "inet:${1##*:}@127.0.0.1" ;;
	esac
}

# milter_up - wait for the socket of pid $2 at target $1, open it to
# Postfix's user; $3 is the log file
milter_up() {
	if ! wait_listen "$1" "$2"; then
		say "milter did not start on $1:"
		tail -n 20 "$3" | sed 's/^/dmarc-bench:   /' >&2
		stop_pid "$2"
		return 1
	fi
	case $1 in unix:*) chmod 666 "${1#unix:}" ;; esac
	return 0
}

# start_opendmarc - INPUT (ar|self|chain) SOCKET: sets mpid and mtarget
start_opendmarc() {
	local input=$1 conf=$tmp/opendmarc.conf
	mtarget=$(milter_target "$2" dmarc)
	rm -f "$tmp/dmarc.sock"
	echo 192.0.2.250 >"$tmp/ignore.hosts"
	{
		echo "# dmarc-bench: Debian's defaults where they matter (Syslog, PublicSuffixList)"
		echo "Syslog true"
		echo "PublicSuffixList $PSL"
		echo "Socket $(libmilter_spec "$mtarget")"
		echo "AuthservID mx.bench.example"
		echo "IgnoreHosts $tmp/ignore.hosts"
		case $input in
		ar) echo "TrustedAuthservIDs auth.bench.example"
		    echo "RejectFailures true" ;;
		self) echo "TrustedAuthservIDs auth.bench.example"
		    echo "SPFSelfValidate true"
		    echo "RejectFailures true" ;;
		chain) echo "SPFSelfValidate true"
		    echo "RejectFailures false" ;;
		esac
	} >"$conf"
	"$OPENDMARC" -c "$conf" -f >"$tmp/dmarc.log" 2>&1 &
	mpid=$!
	pids+=("$mpid")
	milter_up "$mtarget" "$mpid" "$tmp/dmarc.log"
}

# start_postern - VARIANT INPUT SOCKET: sets mpid and mtarget.  VARIANT:
# postern-dmarc (defaults: dmarc_mode bis, aggregate counting into an
# embedded store), postern-dmarc-7489 (dmarc_mode rfc7489 with the PSL),
# postern-dmarc-noagg (aggregate_reports = no)
start_postern() {
	local variant=$1 input=$2 a=()
	mtarget=$(milter_target "$3" dmarc)
	rm -f "$tmp/dmarc.sock"
	rm -rf "$tmp/store"
	mkdir -p "$tmp/store"
	a=(-o "listen=$mtarget" -o "dns_server=127.0.0.1:53"
	    -o "authserv_id=mx.bench.example" -o "ignore_hosts=192.0.2.250"
	    -o "store=$tmp/store/agg")
	case $variant in
	postern-dmarc-7489) a+=(-o dmarc_mode=rfc7489 -o "public_suffix_list=$PSL") ;;
	postern-dmarc-noagg) a+=(-o aggregate_reports=no) ;;
	esac
	case $input in
	ar) a+=(-o trusted_authserv_ids=auth.bench.example) ;;
	self) a+=(-o spf_self_validate=yes -o dkim_self_validate=yes) ;;
	chain) a+=(-o spf_self_validate=yes -o reject_failures=no) ;;
	esac
	"$POSTERN_DMARC" -f -c /dev/null "${a[@]}" >"$tmp/dmarc.log" 2>&1 &
	mpid=$!
	pids+=("$mpid")
	milter_up "$mtarget" "$mpid" "$tmp/dmarc.log"
}

# start_milter - VARIANT INPUT SOCKET
start_milter() {
	case $1 in
	opendmarc) start_opendmarc "$2" "$3" ;;
	*) start_postern "$1" "$2" "$3" ;;
	esac
}

# start_dkim_verifier - opendkim|postern-dkim on a unix socket, verifying,
# for the Postfix chain: sets kpid and ktarget
start_dkim_verifier() {
	ktarget=unix:$tmp/dkim.sock
	rm -f "$tmp/dkim.sock"
	if [ "$1" = opendkim ]; then
		{
			echo "# dmarc-bench: Debian's defaults where they matter"
			echo "Syslog yes"
			echo "Mode v"
			echo "Socket $(libmilter_spec "$ktarget")"
			echo "Nameservers 127.0.0.1"
			echo "AuthservID mx.bench.example"
			echo "InternalHosts 192.0.2.250"
		} >"$tmp/opendkim.conf"
		"$OPENDKIM" -f -x "$tmp/opendkim.conf" >"$tmp/dkim.log" 2>&1 &
	else
		"$POSTERN_DKIM" -f -c /dev/null -o "listen=$ktarget" -o mode=v \
		    -o dns_server=127.0.0.1:53 -o authserv_id=mx.bench.example \
		    -o internal_hosts=192.0.2.250/32 >"$tmp/dkim.log" 2>&1 &
	fi
	kpid=$!
	pids+=("$kpid")
	milter_up "$ktarget" "$kpid" "$tmp/dkim.log"
}

# ---------------------------------------------------------------- Postfix

# sources_run - COUNT messages in all, one smtp-source per message kind
# (BENCH_SESSIONS / 3 sessions each) [RECIPIENT]; sets source_pids
sources_run() {
	local k per=$(($1 / 3)) s=$(((BENCH_SESSIONS + 2) / 3))
	[ $per -ge 1 ] || per=1
	source_pids=()
	for k in pass fail relaxed; do
		smtp-source -s "$s" -m "$per" -F "$tmp/sign/$k.eml" -M client.bench.example \
		    -f "$(mfrom $k)" -t "${2:-user@example.net}" "127.0.0.1:$smtp_port" \
		    >"$tmp/source-$k.log" 2>&1 &
		source_pids+=($!)
		pids+=($!)
	done
	sources_sent=$((per * 3))
}

# sources_wait - wait for the smtp-sources; 1 if one failed
sources_wait() {
	local p rc=0
	for p in "${source_pids[@]}"; do
		wait "$p" || rc=1
		forget "$p"
	done
	return $rc
}

# postfix_check - one message of each kind through Postfix to the dump
# sink: does each carry its dmarc= result?
postfix_check() {
	local k f i want got=0
	rm -f "$tmp/dump/"*
	sources_run 3 check@check.example
	sources_wait || { say "smtp-source failed: $(cat "$tmp"/source-*.log | tail -n 3)"; return 1; }
	for ((i = 0; i < 300; i++)); do
		got=$(ls "$tmp/dump/" 2>/dev/null | wc -l)
		[ "$got" -ge 3 ] && break
		sleep 0.1
	done
	[ "$got" -ge 3 ] || { say "the check messages did not all arrive ($got of 3)"; postfix_flush; return 1; }
	sleep 0.3	# the sink writes the file while it receives
	for k in pass fail relaxed; do
		want=pass
		[ $k = fail ] && want=fail
		f=$(grep -l "^Subject: DMARC benchmark message ($k)" "$tmp/dump/"* | head -1)
		if [ -z "$f" ] || ! grep -Eq "dmarc=$want .*header.from=" "$f"; then
			say "the $k message at the sink lacks dmarc=$want"
			[ -n "$f" ] && grep -A3 '^Authentication-Results' "$f" | sed 's/^/dmarc-bench:   /' >&2
			return 1
		fi
	done
	return 0
}

# postfix_run - warm-up, then a timed batch.  Sets pf_rate, pf_milter_ms,
# pf_postfix_ms, pf_idle, pf_n (or pf_err).  Milter pids in $pf_pids.
postfix_run() {
	local wn t0 t1 rate n c0 m0=() m1=() p0 p1 i0 i1 j0 j1 master p i
	pf_err="" pf_rate=- pf_milter_ms=- pf_postfix_ms=- pf_idle=- pf_n=0
	master=$(postfix_master)
	wn=$((BENCH_SESSIONS * 10))
	c0=$(sink_count)
	t0=$(now)
	sources_run "$wn"
	sources_wait || { pf_err="smtp-source: $(cat "$tmp"/source-*.log | tail -n 1)"; postfix_flush; return 1; }
	sink_wait $((c0 + sources_sent)) 120 || { pf_err="warm-up messages did not all arrive"; postfix_flush; return 1; }
	t1=$(now)
	rate=$(awk -v n="$sources_sent" -v a="$t0" -v b="$t1" 'BEGIN { printf "%d", n / (b - a) }')
	n=$(awk -v r="$rate" -v s="$BENCH_SECONDS" -v m="$wn" 'BEGIN { n = int(r * s); print n < m ? m : n }')
	c0=$(sink_count)
	for p in $pf_pids; do m0+=("$(cpu_tree "$p")"); done
	p0=$(cpu_tree "$master")
	read -r i0 i1 < <(cpu_idle_sample)
	t0=$(now)
	sources_run "$n"
	sources_wait || { pf_err="smtp-source: $(cat "$tmp"/source-*.log | tail -n 1)"; postfix_flush; return 1; }
	n=$sources_sent
	sink_wait $((c0 + n)) $((n / 20 + 60)) || { pf_err="not all $n messages arrived"; postfix_flush; return 1; }
	t1=$(now)
	for p in $pf_pids; do m1+=("$(cpu_tree "$p")"); done
	p1=$(cpu_tree "$master")
	read -r j0 j1 < <(cpu_idle_sample)
	pf_rate=$(awk -v n="$n" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')
	pf_postfix_ms=$(awk -v a="$p0" -v b="$p1" -v n="$n" 'BEGIN { printf "%.2f", (b - a) * 1000 / n }')
	# milter CPU per message: the sum, and each milter (DKIM+DMARC)
	if [ ${#m0[@]} -gt 0 ]; then
		pf_milter_ms=$(for i in "${!m0[@]}"; do echo "${m0[i]} ${m1[i]}"; done | awk -v n="$n" '
		{ t = ($2 - $1) * 1000 / n; sum += t; each = each (NR > 1 ? "+" : "") sprintf("%.2f", t) }
		END { printf "%.2f=%s", sum, each }')
	fi
	pf_idle=$(awk -v a="$i0" -v b="$j0" -v c="$i1" -v d="$j1" 'BEGIN { if (d > c) printf "%.0f%%", 100 * (b - a) / (d - c); else print "-" }')
	pf_n=$n
	return 0
}

# ---------------------------------------------------------------- cells

rows=()		# path name input socket run msgs/s milter_ms util/postfix_ms p50/idle p99 bench_ms check
notes=()

# row - add a table row
row() { rows+=("$(printf '%-9s %-20s %-5s %-6s %3s %8s %9s %9s %8s %8s %8s %s' "$@")"); }

# direct_run - milter-bench against the running milter: PATH NAME INPUT
# SOCKET RUN.  PATH direct: connections kept; reconnect: a new milter
# connection per message (-M 1), as Postfix opens one per SMTP session.
direct_run() {
	local path=$1 name=$2 input=$3 sock=$4 run=$5 f line check rej pass msgs tol per=0
	declare -A v=()
	local margs=()
	[ "$path" = reconnect ] && per=1
	mapfile -t margs < <(msg_args "$input")
	"$MILTER_BENCH" -s "$mtarget" "${margs[@]}" -c "$BENCH_CONNS" -d "$BENCH_SECONDS" -w "$warm" \
	    -M "$per" -T 30 -a 192.0.2.10 -p "$mpid" -g "dmarc=pass" -g "dmarc=fail" \
	    >"$tmp/direct.out" 2>"$tmp/direct.err"
	line=$(grep '^messages=' "$tmp/direct.out")
	for f in $line $(grep '^cpu' "$tmp/direct.out"); do v[${f%%=*}]=${f#*=}; done
	msgs=${v[messages]:-0}
	rej=$(awk '/^reply (reject|replycode-5xx)@eom:/ { n += $3 } END { print n + 0 }' "$tmp/direct.out")
	pass=$(sed -n 's/^grep dmarc=pass: //p' "$tmp/direct.out")
	pass=${pass:-0}
	# a third of the messages (fail) rejected, the others dmarc=pass; the
	# window's edges cut the cycle anywhere: allow one message per connection
	tol=$((BENCH_CONNS + 2))
	if grep -q '^error:' "$tmp/direct.out"; then
		check="error: $(sed -n 's/^error: //p' "$tmp/direct.out")"
	elif [ "$msgs" = 0 ]; then
		check="error: no message ($(head -c 200 "$tmp/direct.err"))"
	elif awk -v m="$msgs" -v r="$rej" -v p="$pass" -v t="$tol" 'BEGIN {
		d1 = r - m / 3; d2 = p - 2 * m / 3
		exit !(d1 <= t && d1 >= -t && d2 <= t && d2 >= -t) }'; then
		check="ok ($rej rejected)"
	else
		check="BAD: $rej rejected, $pass dmarc=pass of $msgs"
	fi
	row "$path" "$name" "$input" "$sock" "$run" "${v[msgs_per_s]:--}" "${v[milter_ms_per_msg]:--}" \
	    "${v[milter_util]:--}" "${v[p50_ms]:--}" "${v[p99_ms]:--}" "${v[bench_ms_per_msg]:--}" "$check"
	say "$path $name $input $sock run $run: ${v[msgs_per_s]:--} msg/s, ${v[milter_ms_per_msg]:--} ms CPU/msg, $check"
}

# direct_all - every direct and reconnect cell; the milters take turns
# for each input, socket and run, so the two sides of a comparison run a
# minute apart at most (the load on a shared machine changes faster than
# a whole run)
direct_all() {
	local input sock run name path
	for input in $inputs; do
		for sock in $sockets; do
			for ((run = 1; run <= BENCH_RUNS; run++)); do
				for name in $milters; do
					if ! start_milter "$name" "$input" "$sock"; then
						row direct "$name" "$input" "$sock" "$run" - - - - - - "error: did not start"
						continue
					fi
					for path in direct reconnect; do
						has "$paths" $path && direct_run $path "$name" "$input" "$sock" "$run"
					done
					stop_milter "$mpid" "$name" "$input $sock run $run"
				done
			done
		done
	done
}

# chain_start - NAME (postfix|postern|opendmarc): the milters of a chain
chain_start() {
	pf_pids=""
	case $1 in
	postfix) postfix_milters ""; return 0 ;;
	postern) start_dkim_verifier postern-dkim || return 1
		start_postern postern-dmarc chain unix || return 1 ;;
	opendmarc) start_dkim_verifier opendkim || return 1
		start_opendmarc chain unix || return 1 ;;
	esac
	pf_pids="$kpid $mpid"
	postfix_milters "$ktarget, $mtarget"
}

# chain_stop - stop the chain's milters
chain_stop() {
	local p
	for p in $pf_pids; do stop_milter "$p" "$(cat "/proc/$p/comm" 2>/dev/null)" "Postfix path, chain $1"; done
	rm -f "$tmp/dkim.sock" "$tmp/dmarc.sock"
}

# postfix_all - the Postfix path: each chain in turn, BENCH_RUNS times
postfix_all() {
	local run c label
	for ((run = 1; run <= BENCH_RUNS; run++)); do
		for c in $chains; do
			case $c in
			postfix) label="postfix-no-milter" ;;
			postern) label="postern-dkim+dmarc" ;;
			opendmarc) label="opendkim+opendmarc" ;;
			esac
			if ! chain_start "$c"; then
				row postfix "$label" sign unix "$run" - - - - - - "error: did not start"
				chain_stop "$c"
				continue
			fi
			if [ "$run" = 1 ] && [ "$c" != postfix ] && ! postfix_check; then
				row postfix "$label" sign unix "$run" - - - - - - "CHECK FAILED (dmarc= results at the sink)"
				chain_stop "$c"
				continue
			fi
			if postfix_run; then
				row postfix "$label" sign unix "$run" "$pf_rate" "$pf_milter_ms" "$pf_postfix_ms" \
				    "$pf_idle" - - "ok ($pf_n msgs)"
				say "postfix $label run $run: $pf_rate msg/s, milters $pf_milter_ms ms, postfix $pf_postfix_ms ms CPU/msg, idle $pf_idle"
			else
				row postfix "$label" sign unix "$run" - - - - - - "error: $pf_err"
				notes+=("postfix $label run $run: $pf_err; maillog tail: $(tail -n 2 "$tmp/postfix/maillog" | tr '\n' ' ')")
				say "postfix $label run $run: error: $pf_err"
			fi
			chain_stop "$c"
		done
	done
}

# ---------------------------------------------------------------- report

# engine_run - dmarc-engine-bench against the test DNS
engine_run() {
	say "engine: dmarc-engine-bench -n $BENCH_ENGINE_COUNT"
	"$DMARC_ENGINE_BENCH" -s 127.0.0.1:53 -n "$BENCH_ENGINE_COUNT" -P "$PSL" >"$tmp/engine.out" 2>&1
	engine_rc=$?
}

# print_table - the engine's lines, all rows, the medians and the goals
print_table() {
	local r
	echo
	echo "dmarc-bench: $(nproc) CPUs, load before the run: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg);"
	echo "  ${BENCH_SECONDS}s per cell, $BENCH_RUNS runs; messages: pass, fail (p=reject), relaxed, 5 KB, cycled"
	if has "$paths" engine; then
		echo
		cat "$tmp/engine.out"
		[ "$engine_rc" = 0 ] || echo "engine: FAILED (exit $engine_rc)"
	fi
	echo
	echo "  direct: milter-bench -c $BENCH_CONNS, util = milter CPU s/s, bench_ms = milter-bench's CPU/msg"
	echo "  postfix: smtp-source x3 (-s $(((BENCH_SESSIONS + 2) / 3)) each, a session per message) -> Postfix -> smtp-sink;"
	echo "           milter_ms = both milters, column 8 = all Postfix processes (ms CPU/msg), column 9 = idle CPU"
	echo
	printf '%-9s %-20s %-5s %-6s %3s %8s %9s %9s %8s %8s %8s %s\n' \
	    path milter input socket run msgs/s milter_ms util p50_ms p99_ms bench_ms check
	for r in "${rows[@]}"; do echo "$r"; done
	if [ ${#notes[@]} -gt 0 ]; then
		echo
		for r in "${notes[@]}"; do echo "note: $r"; done
	fi
	goals
}

# goals - medians over the runs, and issue 5's targets
goals() {
	{
		printf '%s\n' "${rows[@]}"
		[ -f "$tmp/engine.out" ] && sed -n 's/^\(bis\|rfc7489\) *resolver .* \([0-9.]*\) us CPU\/eval.*/engine \2/p' "$tmp/engine.out"
	} | awk '
	function median(list,   a, n, i, j, t) {
		n = split(list, a, " ")
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
		if (n == 0) return ""
		return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	# sorted - the keys of arr in order into out; their count
	function sorted(arr, out,   n, k, i, j, t) {
		n = 0
		for (k in arr) out[++n] = k
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (out[j] < out[i]) { t = out[i]; out[i] = out[j]; out[j] = t }
		return n
	}
	$1 == "engine" { if ($2 + 0 > emax) emax = $2 + 0; ecount++; next }
	($1 == "direct" || $1 == "reconnect") && $6 != "-" {
		k = $1 " " $2 " " $3 " " $4; rate[k] = rate[k] " " $6; ms[k] = ms[k] " " $7; keys[k] = 1 }
	$1 == "postfix" && $6 != "-" {
		k = $2; sub(/ .*/, "", k); prate[k] = prate[k] " " $6; pms[k] = pms[k] " " $7; ppf[k] = ppf[k] " " $8 }
	END {
		print "\nmedians over the runs"
		nk = sorted(keys, ks)
		for (i = 1; i <= nk; i++) { k = ks[i]; printf "  %-42s %8.1f msg/s %7.3f ms CPU/msg\n", k, median(rate[k]), median(ms[k]) }
		np = sorted(prate, ps)
		for (i = 1; i <= np; i++) { k = ps[i]; printf "  postfix %-34s %8.0f msg/s  milters %s ms, Postfix %s ms CPU/msg\n", k, median(prate[k]), median(pms[k]), median(ppf[k]) }
		print "\ngoals (issue 5)"
		if (ecount) printf "  engine: worst case %.2f us CPU per dmarc_evaluate (goal <= 100 us) %s\n", emax, (emax <= 100) ? "met" : "MISSED"
		for (i = 1; i <= nk; i++) {
			k = ks[i]
			split(k, f, " ")
			if (f[2] == "opendmarc") continue
			o = f[1] " opendmarc " f[3] " " f[4]
			if (!(o in keys)) continue
			a = median(rate[k]); b = median(rate[o])
			if (b > 0) printf "  %-42s %8.1f vs %7.1f msg/s = %5.2fx (goal >= 5x) %s\n", k, a, b, a / b,
			    (f[1] != "direct") ? "(info)" : (a / b >= 5) ? "met" : "MISSED"
		}
		a = median(prate["postern-dkim+dmarc"]); b = median(prate["opendkim+opendmarc"])
		if (a != "" && b > 0) printf "  postfix chain %.0f vs %.0f msg/s = %.2fx (goal >= 2x) %s\n", a, b, a / b, (a / b >= 2) ? "met" : "MISSED"
		c = median(prate["postfix-no-milter"])
		if (c != "" && b > 0) printf "  (Postfix alone: %.0f msg/s = %.2fx the OpenDKIM chain: the ceiling of any milter chain here)\n", c, c / b
	}'
}

# ---------------------------------------------------------------- main

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
# the bind mount below must only ever happen in our own namespaces
[ $$ = 1 ] || { say "not PID 1 of a private PID namespace: refusing to touch /etc/resolv.conf"; exit 1; }
ip link set lo up || { say "cannot bring up lo in the namespace"; exit 1; }
echo "nameserver 127.0.0.1" >"$tmp/resolv.conf"
mount --bind "$tmp/resolv.conf" /etc/resolv.conf || { say "cannot bind-mount resolv.conf"; exit 1; }
say "private namespaces: loopback only, /etc/resolv.conf -> 127.0.0.1, unbound on 127.0.0.1:53"
find_programs || exit 1
/usr/bin/python3 -c 'import dkim' 2>/dev/null || { say "dkimpy is needed (apt-get install python3-dkim)"; exit 1; }
setup_key || { say "key generation failed"; exit 1; }
setup_psl || { say "cannot read $PSL_BASE"; exit 1; }
start_unbound || exit 1
setup_messages || { say "could not write the messages"; exit 1; }

milters=""
for name in $only; do
	case $name in
	opendmarc) [ -x "$OPENDMARC" ] || { say "skipping OpenDMARC: $OPENDMARC not installed"; continue; } ;;
	postern-dmarc*) [ -x "$POSTERN_DMARC" ] || { say "skipping $name: $POSTERN_DMARC not built"; continue; } ;;
	*) say "unknown milter $name"; exit 2 ;;
	esac
	milters="$milters $name"
done

has "$paths" engine && engine_run
{ has "$paths" direct || has "$paths" reconnect; } && direct_all
if has "$paths" postfix; then
	chains="postfix"
	[ -x "$POSTERN_DMARC" ] && [ -x "$POSTERN_DKIM" ] && chains="$chains postern"
	[ -x "$OPENDMARC" ] && [ -x "$OPENDKIM" ] && chains="$chains opendmarc"
	postfix_setup
	sinks_start || { say "smtp-sink did not start"; exit 1; }
	postfix_start || exit 1
	postfix_all
fi
print_table
exit 0
