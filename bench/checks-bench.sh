#!/bin/bash
#
# checks-bench.sh - header_checks speed: postern's table engine
# (common/pftable.c, through bench/checks-engine-bench) beside Postfix's
# own matching of the same table ("postmap -q - regexp:FILE" over the
# same headers), for regexp: and pcre: tables of 10, 1 000 and 10 000
# rules; then messages per second of milters/postern-checks with those
# tables, driven directly by milter-bench; optionally a private Postfix
# with header_checks itself against the same Postfix handing the headers
# to postern-checks.  Prints one table and the goal of the issue (at
# 1 000 rules, at least 10x Postfix's headers/s).
#
# Usage (from the top of the build tree; root only for --paths postfix):
#   bench/checks-bench.sh [--quick] [--seconds N] [--sizes "10 1000 10000"]
#                         [--types "regexp pcre"] [--paths "engine milter postfix"]
#                         [--threads N] [--keep]
#
# What it does:
#   - bench/checks-gen.py makes the tables (rule i is the same in every
#     size, so each table is the start of the next) and a corpus of
#     BENCH_HEADERS ordinary headers, ~2% of them built to match a rule.
#   - postmap: a private config directory (postmap needs a main.cf), the
#     table loaded and one header looked up, timed (/usr/bin/time: wall,
#     user + system) as the start-up cost; then a short calibration run
#     sizes the measured input so that it lasts about BENCH_SECONDS: the
#     first K headers of the corpus, or the corpus R times over (piped
#     in) when Postfix is faster than the corpus is long.  Postfix's
#     headers/s = headers / (wall - start-up wall); CPU likewise.
#   - engine: checks-engine-bench -d BENCH_SECONDS on the same headers
#     (the same K-header file, or the whole corpus, which it repeats
#     itself), one thread, prefilter on; its postmap-format output of one
#     pass is compared with postmap's (the "same" column: yes, or how
#     many lines differ); then again with -P (no prefilter: every rule in
#     order, Postfix's algorithm with PCRE2 JIT) for BENCH_SECONDS/2; with
#     --threads N also with -t N.
#   - milter: milters/postern-checks with header_checks = the regexp:
#     table of each size (and the pcre: one with --types pcre), on a
#     loopback inet socket; milter-bench -c BENCH_CONNS (20) sends a 5 KB
#     message with 20 headers none of which matches, three times, then
#     one whose Subject matches the first rule (REJECT), and so on; the
#     check column wants a quarter of the messages rejected.
#   - postfix (root, optional): smtp-source -> a private Postfix ->
#     smtp-sink with the clean message, once with header_checks =
#     regexp:TABLE in Postfix (cleanup), once with no header_checks and
#     smtpd_milters = postern-checks with the same table, for each size.
#
# Environment: top_builddir [.], BENCH_SECONDS [8, --quick 3],
# BENCH_HEADERS [200000], BENCH_CONNS [20], BENCH_SESSIONS [20],
# BENCH_TMPDIR [/tmp], BENCH_KEEP [0], MILTER_BENCH, CHECKS_ENGINE_BENCH,
# POSTERN_CHECKS (program paths).
#
# Trust: none needed; a developer tool.  Every process it starts is
# stopped on exit, also on INT/TERM.  Errors: setup failures exit 1 with
# the reason; a failed cell shows "error: ..." or "BAD ..." in the table.
#
set -u

bench_dir=$(cd "$(dirname "$0")" && pwd)
top_builddir=${top_builddir:-.}
top_builddir=$(cd "$top_builddir" && pwd)
BENCH_SECONDS=${BENCH_SECONDS:-}
BENCH_HEADERS=${BENCH_HEADERS:-200000}
BENCH_CONNS=${BENCH_CONNS:-20}
BENCH_SESSIONS=${BENCH_SESSIONS:-20}
BENCH_TMPDIR=${BENCH_TMPDIR:-/tmp}
BENCH_KEEP=${BENCH_KEEP:-0}
MILTER_BENCH=${MILTER_BENCH:-$top_builddir/bench/milter-bench}
CHECKS_ENGINE_BENCH=${CHECKS_ENGINE_BENCH:-$top_builddir/bench/checks-engine-bench}
POSTERN_CHECKS=${POSTERN_CHECKS:-$top_builddir/milters/postern-checks}
PATH=$PATH:/usr/sbin:/sbin

sizes="10 1000 10000"
types="regexp pcre"
paths="engine milter"
threads=1
quick=0

# say - progress on stderr
say() { printf 'checks-bench: %s\n' "$*" >&2; }

# shellcheck disable=SC2034 # used by milter-lib.sh
bench_name=checks-bench
postfix_up=0
pids=()
# shellcheck source=bench/milter-lib.sh
. "$bench_dir/milter-lib.sh"

while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1 ;;
	--seconds) BENCH_SECONDS=$2; shift ;;
	--sizes) sizes=$2; shift ;;
	--types) types=$2; shift ;;
	--paths) paths=$2; shift ;;
	--threads) threads=$2; shift ;;
	--keep) BENCH_KEEP=1 ;;
	-h|--help) usage ;;
	*) say "unknown option $1"; usage ;;
	esac
	shift
done
[ -n "$BENCH_SECONDS" ] || { [ $quick = 1 ] && BENCH_SECONDS=3 || BENCH_SECONDS=8; }
warm=1
[ $quick = 1 ] && warm=0.5

for tool in postmap /usr/bin/time python3; do
	command -v "$tool" >/dev/null || { say "$tool not found"; exit 1; }
done
if [ ! -x "$CHECKS_ENGINE_BENCH" ]; then
	say "$CHECKS_ENGINE_BENCH not built (make bench/checks-engine-bench)"; exit 1
fi
if has "$paths" milter || has "$paths" postfix; then
	if [ ! -x "$POSTERN_CHECKS" ]; then
		say "skipping the milter rows: $POSTERN_CHECKS not built"
		paths=${paths//milter/}
	elif [ ! -x "$MILTER_BENCH" ] && has "$paths" milter; then
		say "skipping the milter path: $MILTER_BENCH not built (make bench/milter-bench)"
		paths=${paths//milter/}
	fi
fi
if has "$paths" postfix && [ "$(id -u)" != 0 ]; then
	say "skipping the Postfix path: it needs root"; paths=${paths//postfix/}
fi

tmp=$(mktemp -d "$BENCH_TMPDIR/checks-bench.XXXXXX") || exit 1
chmod 755 "$tmp"	# Postfix (user postfix) reaches its queue and the tables
trap cleanup EXIT
trap 'exit 1' INT TERM
mkdir -p "$tmp/pm"
printf '# checks-bench: postmap only reads it\ncompatibility_level = 3.6\n' >"$tmp/pm/main.cf"
: >"$tmp/pm/master.cf"

# ---------------------------------------------------------------- inputs

# gen_inputs - the tables, the corpus, the two messages
gen_inputs() {
	local n t
	for t in $types; do
		for n in $sizes; do
			python3 "$bench_dir/checks-gen.py" rules "$n" "$t" >"$tmp/rules-$n.$t" || return 1
		done
	done
	python3 "$bench_dir/checks-gen.py" headers "$BENCH_HEADERS" >"$tmp/headers" || return 1
	echo "X-Checks-Bench: one header that matches nothing" >"$tmp/one"
	python3 - "$tmp/clean.eml" "$tmp/spam.eml" <<'EOF' || return 1
import sys
hdrs = [
    "Return-Path: <anna.smith@example.com>",
    "Received: from mail3.example.com (mail3.example.com [198.51.100.23]) by mx.bench.example (Postfix) with ESMTPS id 4TQ8Z71x2Fz9sWK for <user@example.net>; Tue, 5 Mar 2024 10:11:12 +0000",
    "Received: from [10.1.2.3] (unknown [192.0.2.44]) by mail3.example.com (Postfix) with ESMTPSA id 7F3A21C0041 for <user@example.net>; Tue, 5 Mar 2024 10:11:10 +0000",
    "Received: by mail3.example.com (Postfix, from userid 1000) id 3C2D11C0040; Tue, 5 Mar 2024 10:11:09 +0000",
    "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com; s=sel1; h=from:to:subject:date:message-id; bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=" + "Zm9vYmFy" * 40,
    "ARC-Seal: i=1; a=rsa-sha256; t=1709633472; cv=none; d=example.com; s=arc; b=" + "YmFyYmF6" * 30,
    "Authentication-Results: mx.bench.example; dkim=pass header.d=example.com; spf=pass smtp.mailfrom=example.com",
    "From: Anna Smith <anna.smith@example.com>",
    "To: Ben Jones <user@example.net>",
    "Cc: Carla Meyer <carla@example.org>, Dave Brown <dave@corp.example>",
    "SUBJECT_LINE",
    "Date: Tue, 5 Mar 2024 11:11:08 +0100",
    "Message-ID: <20240305101108.3C2D11C0040@mail3.example.com>",
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8; format=flowed",
    "Content-Transfer-Encoding: 8bit",
    "X-Mailer: Thunderbird 115.8.1",
    "List-Unsubscribe: <https://lists.example.org/unsubscribe?u=4711>",
    "X-Spam-Status: No, score=-0.1 required=5.0 tests=BAYES_00,DKIM_SIGNED",
    "X-Priority: 3",
]
line = "The quarterly report is attached below as plain text; figures are in thousands.\n"
body = "Hello Ben,\n\n" + line * 60 + "\nRegards,\nAnna\n"
for path, subj in ((sys.argv[1], "Subject: Quarterly report for Q1"),
                   (sys.argv[2], "Subject: cheap viagra online")):
    with open(path, "w") as f:
        f.write("\n".join(subj if h == "SUBJECT_LINE" else h for h in hdrs) + "\n\n" + body)
EOF
}

# ---------------------------------------------------------------- postmap

# ptime - run "$@" under /usr/bin/time, stdin from $ptime_in (a file, or a
# repeat count R for the corpus R times over), stdout to $ptime_out;
# sets pt_wall pt_cpu
ptime() {
	local r
	if [ "${ptime_reps:-0}" -gt 0 ]; then
		for ((r = 0; r < ptime_reps; r++)); do cat "$tmp/headers"; done |
		    /usr/bin/time -f '%e %U %S' -o "$tmp/time" "$@" >"$ptime_out" 2>>"$tmp/postmap.err"
	else
		/usr/bin/time -f '%e %U %S' -o "$tmp/time" "$@" <"$ptime_in" >"$ptime_out" 2>>"$tmp/postmap.err"
	fi
	read -r pt_wall u s < <(tail -n 1 "$tmp/time")
	pt_cpu=$(awk -v u="$u" -v s="$s" 'BEGIN { print u + s }')
}

# postmap_run - TYPE N: start-up, calibration, the measured run.  Sets
# pm_rate pm_cpu_us pm_matches pm_n pm_input (the engine's headers file)
# pm_reps
postmap_run() {
	local type=$1 n=$2 table="$1:$tmp/rules-$2.$1" c total want sw sc
	local pm=(postmap -c "$tmp/pm" -q - "$table")
	total=$(wc -l <"$tmp/headers")
	# start-up: load the table, look up one header
	ptime_reps=0 ptime_in=$tmp/one ptime_out=/dev/null
	ptime "${pm[@]}"
	sw=$pt_wall sc=$pt_cpu
	# calibration: 10x more headers until a run takes 0.5 s
	c=100
	while :; do
		head -n "$c" "$tmp/headers" >"$tmp/calib"
		ptime_in=$tmp/calib
		ptime "${pm[@]}"
		awk -v w="$pt_wall" -v s="$sw" 'BEGIN { exit !(w - s >= 0.5) }' && break
		[ "$c" -ge "$total" ] && break
		c=$((c * 10)); [ "$c" -gt "$total" ] && c=$total
	done
	want=$(awk -v c="$c" -v w="$pt_wall" -v s="$sw" -v d="$BENCH_SECONDS" 'BEGIN {
		t = w - s; if (t < 0.01) t = 0.01; printf "%d", c * d / t }')
	[ "$want" -lt 100 ] && want=100
	if [ "$want" -le "$total" ]; then
		pm_reps=0 pm_n=$want pm_input=$tmp/input-$n.$type
		head -n "$want" "$tmp/headers" >"$pm_input"
		ptime_in=$pm_input
	else
		pm_reps=$(((want + total - 1) / total)) pm_n=$((pm_reps * total)) pm_input=$tmp/headers
	fi
	ptime_reps=$pm_reps ptime_out=$tmp/postmap-$n.$type.out
	say "postmap $table: start-up ${sw}s, $pm_n headers$([ "$pm_reps" -gt 0 ] && echo " (the corpus ${pm_reps}x)")"
	ptime "${pm[@]}"
	ptime_reps=0
	pm_rate=$(awk -v n="$pm_n" -v w="$pt_wall" -v s="$sw" 'BEGIN { t = w - s; printf "%.0f", (t > 0) ? n / t : 0 }')
	pm_cpu_us=$(awk -v n="$pm_n" -v c="$pt_cpu" -v s="$sc" 'BEGIN { printf "%.2f", (c - s) * 1e6 / n }')
	pm_startup=$sw
	pm_matches=$(wc -l <"$ptime_out")
	[ "$pm_reps" -gt 0 ] && pm_matches=$((pm_matches / pm_reps))
	head -n "$pm_matches" "$ptime_out" >"$tmp/postmap-$n.$type.once"
}

# ---------------------------------------------------------------- engine

# engine_run - TYPE N INPUT SECONDS [OPTIONS]: sets e (key=value array)
engine_run() {
	local type=$1 n=$2 input=$3 secs=$4 f
	shift 4
	e=()
	"$CHECKS_ENGINE_BENCH" -q -d "$secs" "$@" "$type:$tmp/rules-$n.$type" "$input" \
	    >"$tmp/engine.out" 2>"$tmp/engine.err" || { e[err]=$(head -c 200 "$tmp/engine.err"); return 1; }
	for f in $(grep '^headers=' "$tmp/engine.out"); do e[${f%%=*}]=${f#*=}; done
	e[once]=$(sed -n 's/^matches written to .*: //p' "$tmp/engine.out")
}

# ---------------------------------------------------------------- milter

# start_checks - TABLE (type:path): postern-checks on a loopback port;
# sets mpid mtarget
start_checks() {
	local port
	port=$(free_port)
	mtarget=inet:127.0.0.1:$port
	"$POSTERN_CHECKS" -f -c /dev/null -o "listen=$mtarget" -o "header_checks=$1" \
	    -o "dns_server=127.0.0.1:$(free_port)" >"$tmp/checks.log" 2>&1 &
	mpid=$!
	pids+=("$mpid")
	WAIT_LISTEN_TRIES=300 wait_listen "$mtarget" "$mpid" && return 0
	say "postern-checks did not start: $(tail -n 3 "$tmp/checks.log" | tr '\n' ' ')"
	return 1
}

# milter_run - TYPE N: sets m (key=value array) and m_check
milter_run() {
	local type=$1 n=$2 f rej msgs
	m=() m_check=""
	if ! start_checks "$type:$tmp/rules-$n.$type"; then
		m_check="error: did not start"; return 1
	fi
	"$MILTER_BENCH" -s "$mtarget" -m "$tmp/clean.eml" -m "$tmp/clean.eml" -m "$tmp/clean.eml" \
	    -m "$tmp/spam.eml" -c "$BENCH_CONNS" -d "$BENCH_SECONDS" -w "$warm" -T 30 -p "$mpid" \
	    >"$tmp/milter.out" 2>"$tmp/milter.err"
	for f in $(grep -h '^messages=\|^cpu' "$tmp/milter.out"); do m[${f%%=*}]=${f#*=}; done
	msgs=${m[messages]:-0}
	rej=$(awk '/^reply (reject|replycode-5xx)@/ { n += $3 } END { print n + 0 }' "$tmp/milter.out")
	if grep -q '^error:' "$tmp/milter.out"; then
		m_check="error: $(sed -n 's/^error: //p' "$tmp/milter.out" | head -n 1)"
	elif [ "$msgs" = 0 ]; then
		m_check="error: no message ($(head -c 200 "$tmp/milter.err"))"
	elif awk -v m="$msgs" -v r="$rej" -v t="$((BENCH_CONNS + 2))" 'BEGIN {
		d = r - m / 4; exit !(d <= t && d >= -t) }'; then
		m_check="ok ($rej of $msgs rejected)"
	else
		m_check="BAD: $rej of $msgs rejected, want a quarter"
	fi
	stop_pid "$mpid"
	[ "$stop_rc" -gt 128 ] && m_check="$m_check; died of signal $((stop_rc - 128)) on TERM"
	return 0
}

# ---------------------------------------------------------------- Postfix

# pf_sources - send COUNT clean messages over BENCH_SESSIONS sessions; wait
pf_sources() {
	smtp-source -s "$BENCH_SESSIONS" -m "$1" -f bench@example.com -t user@example.net \
	    -F "$tmp/clean.eml" "127.0.0.1:$smtp_port" >"$tmp/source.log" 2>&1
}

# postfix_cell - LABEL: warm-up, then about BENCH_SECONDS of messages;
# sets pf_rate pf_err
postfix_cell() {
	local c0 t0 t1 n rate
	pf_err="" pf_rate=-
	c0=$(sink_count)
	t0=$(now)
	pf_sources 100 || { pf_err="smtp-source failed"; return 1; }
	sink_wait $((c0 + 100)) 120 || { pf_err="warm-up messages did not arrive"; postfix_flush; return 1; }
	t1=$(now)
	rate=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%d", 100 / (b - a) }')
	n=$(awk -v r="$rate" -v s="$BENCH_SECONDS" 'BEGIN { n = int(r * s); print n < 100 ? 100 : n }')
	c0=$(sink_count)
	t0=$(now)
	pf_sources "$n" || { pf_err="smtp-source failed"; return 1; }
	sink_wait $((c0 + n)) $((n / 20 + 60)) || { pf_err="not all $n messages arrived"; postfix_flush; return 1; }
	t1=$(now)
	pf_rate=$(awk -v n="$n" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')
}

# postfix_all - each size: Postfix header_checks, then postern-checks
postfix_all() {
	local n
	postfix_setup
	sinks_start || { say "smtp-sink did not start"; return 1; }
	postfix_start || return 1
	for n in $sizes; do
		postconf -c "$tmp/postfix/etc" -e "header_checks = regexp:$tmp/rules-$n.regexp" \
		    "smtpd_milters =" && postfix -c "$tmp/postfix/etc" reload >/dev/null 2>&1
		sleep 0.5
		postfix_cell && pfrows+=("$(printf '%-8s %6s %-28s %8s' postfix "$n" "header_checks=regexp" "$pf_rate")") ||
		    pfrows+=("$(printf '%-8s %6s %-28s %8s %s' postfix "$n" "header_checks=regexp" - "error: $pf_err")")
		say "postfix header_checks $n rules: $pf_rate msg/s $pf_err"
		postconf -c "$tmp/postfix/etc" -e "header_checks =" >/dev/null
		if [ -x "$POSTERN_CHECKS" ] && start_checks "regexp:$tmp/rules-$n.regexp"; then
			postfix_milters "$mtarget"
			postfix_cell && pfrows+=("$(printf '%-8s %6s %-28s %8s' postfix "$n" "milter postern-checks" "$pf_rate")") ||
			    pfrows+=("$(printf '%-8s %6s %-28s %8s %s' postfix "$n" "milter postern-checks" - "error: $pf_err")")
			say "postfix + postern-checks $n rules: $pf_rate msg/s $pf_err"
			postfix_milters ""
			stop_pid "$mpid"
		fi
	done
}

# ---------------------------------------------------------------- main

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
say "tables and headers into $tmp"
gen_inputs || { say "input generation failed"; exit 1; }
rows=()
pfrows=()
notes=()
loads=""
declare -A e=() m=()
for type in $types; do
	for n in $sizes; do
		loads="$loads $type/$n:$(cut -d' ' -f1 /proc/loadavg)"
		if has "$paths" engine; then
			postmap_run "$type" "$n"
			say "postmap $type $n: $pm_rate headers/s, $pm_cpu_us us CPU/header, $pm_matches matches/pass"
			if engine_run "$type" "$n" "$pm_input" "$BENCH_SECONDS" -o "$tmp/engine-$n.$type.once"; then
				if cmp -s "$tmp/engine-$n.$type.once" "$tmp/postmap-$n.$type.once"; then
					same=yes
				else
					same="NO: $(diff "$tmp/engine-$n.$type.once" "$tmp/postmap-$n.$type.once" | grep -c '^[<>]') lines differ"
					while IFS= read -r line; do
						notes+=("$type $n rules, only in ${line:0:1} (< engine, > postmap): ${line:2:150}")
					done < <(diff "$tmp/engine-$n.$type.once" "$tmp/postmap-$n.$type.once" | grep '^[<>]' | sort -u | head -n 4)
				fi
				ratio=$(awk -v a="${e[headers_per_s]}" -v b="$pm_rate" 'BEGIN { printf "%.1f", (b > 0) ? a / b : 0 }')
				rows+=("$(printf '%-6s %6s %-13s %11s %9s %10s %8s %7s %s' "$type" "$n" postmap \
				    "$pm_rate" "$pm_cpu_us" - - "$pm_matches" "startup ${pm_startup}s")")
				rows+=("$(printf '%-6s %6s %-13s %11s %9s %10s %8s %7s %s' "$type" "$n" engine \
				    "${e[headers_per_s]}" "${e[cpu_us_per_header]}" "${e[rules_per_lookup]}" "${ratio}x" \
				    "${e[once]:--}" "same=$same")")
				say "engine $type $n: ${e[headers_per_s]} headers/s (${ratio}x postmap), same=$same"
			else
				rows+=("$(printf '%-6s %6s %-13s %11s' "$type" "$n" engine "error: ${e[err]}")")
			fi
			if engine_run "$type" "$n" "$pm_input" "$(awk -v s="$BENCH_SECONDS" 'BEGIN { print s / 2 }')" -P; then
				ratio=$(awk -v a="${e[headers_per_s]}" -v b="$pm_rate" 'BEGIN { printf "%.1f", (b > 0) ? a / b : 0 }')
				rows+=("$(printf '%-6s %6s %-13s %11s %9s %10s %8s %7s' "$type" "$n" engine-nopre \
				    "${e[headers_per_s]}" "${e[cpu_us_per_header]}" "${e[rules_per_lookup]}" "${ratio}x" \
				    -)")
				say "engine -P $type $n: ${e[headers_per_s]} headers/s"
			fi
			if [ "$threads" -gt 1 ] && engine_run "$type" "$n" "$pm_input" "$BENCH_SECONDS" -t "$threads"; then
				ratio=$(awk -v a="${e[headers_per_s]}" -v b="$pm_rate" 'BEGIN { printf "%.1f", (b > 0) ? a / b : 0 }')
				rows+=("$(printf '%-6s %6s %-13s %11s %9s %10s %8s %7s' "$type" "$n" "engine-t$threads" \
				    "${e[headers_per_s]}" "${e[cpu_us_per_header]}" "${e[rules_per_lookup]}" "${ratio}x" \
				    -)")
			fi
		fi
		if has "$paths" milter; then
			milter_run "$type" "$n"
			rows+=("$(printf '%-6s %6s %-13s %11s %9s %10s %8s %7s %s' "$type" "$n" "milter" \
			    "${m[msgs_per_s]:--}msg/s" "${m[milter_ms_per_msg]:--}ms" - - - "$m_check")")
			say "milter $type $n: ${m[msgs_per_s]:--} msg/s, ${m[milter_ms_per_msg]:--} ms CPU/msg, $m_check"
		fi
	done
done
has "$paths" postfix && { loads="$loads postfix:$(cut -d' ' -f1 /proc/loadavg)"; postfix_all; }

echo
echo "checks-bench: $(nproc) CPUs, load before: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg);" \
    "${BENCH_SECONDS}s per cell, corpus $BENCH_HEADERS headers"
echo "  1-minute load when each group started (it includes this script's own processes):$loads"
echo "  headers/s: one thread (postmap: one process, its start-up subtracted); cpu_us = CPU per header;"
echo "  rules/lkp = patterns run per lookup; vs_pm = headers/s over postmap's;"
echo "  matches = in one pass over the input; same = the engine's matches and results are postmap's;"
echo "  milter rows: milter-bench -c $BENCH_CONNS, 5 KB message with 20 headers, msg/s and milter CPU ms/msg"
echo
printf '%-6s %6s %-13s %11s %9s %10s %8s %7s %s\n' type rules what headers/s cpu_us rules/lkp vs_pm matches check
for r in "${rows[@]}"; do echo "$r"; done
if [ ${#notes[@]} -gt 0 ]; then
	echo
	for r in "${notes[@]}"; do echo "note: $r"; done
fi
if [ ${#pfrows[@]} -gt 0 ]; then
	echo
	echo "  postfix rows: smtp-source -s $BENCH_SESSIONS -> private Postfix -> smtp-sink, clean 5 KB message, msg/s"
	for r in "${pfrows[@]}"; do echo "$r"; done
fi
echo
printf '%s\n' "${rows[@]}" | awk '
	$3 == "engine" && $2 == 1000 { v = $7; sub(/x$/, "", v)
		printf "goal: %s at 1000 rules: %s x postmap headers/s (goal >= 10x) %s\n", $1, v, (v + 0 >= 10) ? "met" : "MISSED" }'
exit 0
