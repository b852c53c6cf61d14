#!/bin/bash
# milter-lib.sh - what bench/dkim-bench.sh and bench/dmarc-bench.sh share:
# process and port helpers, CPU accounting, the private Postfix instance
# (relaying to smtp-sink) and its sinks.  Sourced, not run.
#
# The sourcing script defines say(), and the variables these use: tmp,
# pids, postfix_up, BENCH_KEEP, bench_name (in the generated main.cf);
# WAIT_LISTEN_TRIES (tenths of a second, default 100) bounds wait_listen.

# usage - options and exit 2
usage() {
	sed -n '/^# Usage/,/^# What/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
	exit 2
}

# now - seconds since the epoch, with nanoseconds
now() { date +%s.%N; }

# has - is word $2 in list $1
has() { case " $1 " in *" $2 "*) return 0 ;; esac; return 1; }

# free_port - an unused TCP and UDP port on 127.0.0.1
free_port() {
	python3 -c '
import socket
t = socket.socket(); t.bind(("127.0.0.1", 0)); p = t.getsockname()[1]
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", p))
print(p)'
}

# wait_gone - wait up to $2 tenths of a second for pid $1 to end
wait_gone() {
	local i
	for ((i = 0; i < $2; i++)); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	return 1
}

# wait_listen - wait until target (unix:PATH or inet:HOST:PORT) accepts,
# while pid $2 lives
wait_listen() {
	local t=$1 pid=$2 i host port
	for ((i = 0; i < ${WAIT_LISTEN_TRIES:-100}; i++)); do
		kill -0 "$pid" 2>/dev/null || return 1
		case $t in
		unix:*) [ -S "${t#unix:}" ] && return 0 ;;
		inet:*)
			host=${t#inet:}; port=${host##*:}; host=${host%:*}
			(exec 3<>"/dev/tcp/$host/$port") 2>/dev/null && return 0 ;;
		esac
		sleep 0.1
	done
	return 1
}

# stop_pid - stop one process we started (TERM, then KILL after 5 s);
# its exit status in stop_rc (128 + N: killed by signal N)
stop_pid() {
	kill -TERM "$1" 2>/dev/null
	wait_gone "$1" 50 || kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	stop_rc=$?
	forget "$1"
}

# forget - drop a pid from the list
forget() {
	local i
	for i in "${!pids[@]}"; do
		[ "${pids[i]}" = "$1" ] && unset 'pids[i]'
	done
	pids=("${pids[@]}")
}

# cpu_tree - CPU seconds (utime+stime+cutime+cstime) of pid $1 and all its
# descendants, from /proc/*/stat
cpu_tree() {
	cat /proc/[0-9]*/stat 2>/dev/null | awk -v root="$1" -v hz="$(getconf CLK_TCK)" '
	{
		pid = $1
		sub(/^.*\) /, "")	# the command may hold spaces: cut at the last ")"
		ppid[pid] = $2
		t[pid] = $12 + $13 + $14 + $15
	}
	END {
		n = 1; q[1] = root; sum = 0
		for (i = 1; i <= n; i++) {
			p = q[i]; sum += t[p]
			for (c in ppid) if (ppid[c] == p && c != p) q[++n] = c
		}
		printf "%.3f\n", sum / hz
	}'
}

# cpu_idle_sample - "idle total" jiffies of the whole machine
cpu_idle_sample() {
	awk '/^cpu / { print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9; exit }' /proc/stat
}

# txt_strings - a TXT value as quoted strings of at most 255 bytes
txt_strings() {
	local s=$1 out=""
	while [ ${#s} -gt 250 ]; do
		out="$out\"${s:0:250}\" "
		s=${s:250}
	done
	printf '%s"%s"' "$out" "$s"
}

# cleanup - stop everything we started, remove the temp directory
# shellcheck disable=SC2317
cleanup() {
	local i
	trap - EXIT INT TERM
	if [ $postfix_up = 1 ]; then
		postfix -c "$tmp/postfix/etc" stop >/dev/null 2>&1
		postfix_kill
	fi
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		kill -TERM "${pids[i]}" 2>/dev/null
	done
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		wait_gone "${pids[i]}" 50 || kill -KILL "${pids[i]}" 2>/dev/null
	done
	wait 2>/dev/null
	if [ "$BENCH_KEEP" = 1 ]; then
		say "logs kept in $tmp"
	else
		rm -rf "$tmp"
	fi
}

# postfix_setup - a private instance relaying to smtp-sink (not started)
postfix_setup() {
	local d=$tmp/postfix
	mkdir -p "$d/etc" "$d/spool" "$d/data" "$tmp/dump"
	chown postfix:postfix "$d/data"
	chmod 777 "$tmp/dump"
	smtp_port=$(free_port)
	sink_port=$(free_port)
	dump_port=$(free_port)
	cat >"$d/etc/main.cf" <<EOF
# $bench_name: private instance; the settings of t/lib/postern_test.py
compatibility_level = 3.6
queue_directory = $d/spool
data_directory = $d/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.bench.example
mydomain = bench.example
myorigin = \$myhostname
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = check_client_access static:OK, reject_unauth_destination
relay_domains = static:ALL
smtpd_recipient_restrictions =
default_transport = smtp:[127.0.0.1]:$sink_port
relay_transport = smtp:[127.0.0.1]:$sink_port
smtp_dns_support_level = disabled
disable_dns_lookups = yes
smtpd_peername_lookup = no
smtp_host_lookup = native
lmtp_host_lookup = native
smtp_bind_address = 127.0.0.1
maillog_file = $d/maillog
maillog_file_prefixes = $d
smtpd_error_sleep_time = 0
smtpd_tls_security_level = none
smtp_tls_security_level = none
biff = no
append_dot_mydomain = no
readme_directory = no
queue_run_delay = 2s
minimal_backoff_time = 2s
maximal_backoff_time = 4s
in_flow_delay = 0
# no process exits during a measurement (its CPU would move to the master)
max_use = 100000
max_idle = 3600s
smtpd_milters =
milter_default_action = tempfail
# check messages go to a second sink that keeps them
transport_maps = inline:{check.example=smtp:[127.0.0.1]:$dump_port}
EOF
	cat >"$d/etc/master.cf" <<EOF
# $bench_name: nothing chrooted
127.0.0.1:$smtp_port inet n - n - - smtpd
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
EOF
}

# postfix_master - pid of the private master, or nothing
postfix_master() {
	cat "$tmp/postfix/spool/pid/master.pid" 2>/dev/null | tr -d ' \n'
}

# postfix_kill - make sure the private master and its children are gone
postfix_kill() {
	local m
	m=$(postfix_master)
	[ -n "$m" ] || return 0
	wait_gone "$m" 100 && return 0
	kill -KILL -- "-$m" 2>/dev/null || kill -KILL "$m" 2>/dev/null
}

# postfix_start - start the instance, wait for smtpd
postfix_start() {
	if ! postfix -c "$tmp/postfix/etc" start >"$tmp/postfix-start.log" 2>&1; then
		say "postfix start failed:"; cat "$tmp/postfix-start.log" >&2
		return 1
	fi
	postfix_up=1
	wait_listen "inet:127.0.0.1:$smtp_port" "$(postfix_master)" || {
		say "postfix smtpd not listening"; tail "$tmp/postfix/maillog" >&2; return 1; }
}

# postfix_milters - set smtpd_milters (may be empty) and reload
postfix_milters() {
	postconf -c "$tmp/postfix/etc" -e "smtpd_milters = $1" || return 1
	postfix -c "$tmp/postfix/etc" reload >/dev/null 2>&1
	sleep 0.5
}

# sinks_start - the counting sink and the one that keeps check messages;
# both run until the end (a sink that exits by itself, -M, does so before
# answering the last message, which Postfix then retries into a closed port)
sinks_start() {
	smtp-sink -u nobody -c "127.0.0.1:$sink_port" 256 >"$tmp/sink.count" 2>"$tmp/sink.err" &
	sink_pid=$!
	pids+=("$sink_pid")
	smtp-sink -u nobody -d "$tmp/dump/%H%M%S." "127.0.0.1:$dump_port" 64 \
	    >"$tmp/dump-sink.log" 2>&1 &
	dump_pid=$!
	pids+=("$dump_pid")
	wait_listen "inet:127.0.0.1:$sink_port" "$sink_pid" &&
	    wait_listen "inet:127.0.0.1:$dump_port" "$dump_pid"
}

# sink_count - messages received so far by the counting sink
sink_count() {
	local n
	n=$(tail -c 200 "$tmp/sink.count" 2>/dev/null | tr '\r' '\n' | sed -n 's/.*mesg=\([0-9]*\).*/\1/p' | tail -1)
	echo "${n:-0}"
}

# sink_wait - wait up to $2 seconds until the sink has counted $1 messages
sink_wait() {
	local want=$1 limit=$2 start
	start=$(date +%s)
	while [ "$(sink_count)" -lt "$want" ]; do
		[ $(($(date +%s) - start)) -ge "$limit" ] && return 1
		sleep 0.02
	done
	return 0
}

# postfix_flush - drop whatever a failed run left in the queue
postfix_flush() {
	postsuper -c "$tmp/postfix/etc" -d ALL >/dev/null 2>&1
}
