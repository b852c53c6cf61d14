#!/bin/sh
# postern-run.sh - run every postern daemon in the foreground on
# 127.0.0.1 with its embedded defaults, and print the Postfix main.cf
# lines that hook them in.  Ctrl-C stops them all; if one daemon stops,
# the others are stopped too and its exit status is returned.
#
# Usage: sh tools/postern-run.sh [BUILDDIR]
set -u

bdir=${1:-.}
spfd="$bdir/policyd/postern-spfd"
greyd="$bdir/policyd/postern-greyd"
dkim="$bdir/milters/postern-dkim"
dmarc="$bdir/milters/postern-dmarc"
checks="$bdir/milters/postern-checks"
spf_listen=inet:127.0.0.1:10040
grey_listen=inet:127.0.0.1:10023
# the milters' defaults are unix sockets inside Postfix's chroot, which
# need the systemd units' directory; here they listen on loopback
dkim_listen=inet:127.0.0.1:8891
dmarc_listen=inet:127.0.0.1:8893
checks_listen=inet:127.0.0.1:8895
checks_policy=inet:127.0.0.1:10045

for d in "$spfd" "$greyd" "$dkim" "$dmarc" "$checks"; do
	[ -x "$d" ] || { echo "postern-run: $d not built" >&2; exit 1; }
done

pids=""
stop() {
	trap - INT TERM
	[ -n "$pids" ] && kill $pids 2>/dev/null
	wait 2>/dev/null
}
trap 'stop; exit 0' INT TERM

"$spfd" -f -o listen=$spf_listen &
pids="$pids $!"
"$greyd" -f -o listen=$grey_listen &
pids="$pids $!"
"$dkim" -f -o listen=$dkim_listen &
pids="$pids $!"
# SPF checked in the milter: the chain the README documents
"$dmarc" -f -o listen=$dmarc_listen -o spf_self_validate=yes &
pids="$pids $!"
# postern-checks has no tables by default: it runs the tables the host's
# main.cf names (regexp:/pcre: only; remove them from main.cf when
# hooking the milter in, or the rules run twice)
checks_opts=""
for t in header_checks mime_header_checks nested_header_checks body_checks; do
	v=$(postconf -h "$t" 2>/dev/null | tr -d ' ') || v=""
	case "$v" in
	regexp:*|pcre:*) checks_opts="$checks_opts -o $t=$v" ;;
	esac
done
# shellcheck disable=SC2086
"$checks" -f -o listen=$checks_listen -o policy_listen=$checks_policy \
    $checks_opts &
pids="$pids $!"

# give each daemon a moment to bind (or fail)
sleep 1
for p in $pids; do
	if ! kill -0 "$p" 2>/dev/null; then
		wait "$p"
		rc=$?
		echo "postern-run: a daemon failed to start (exit $rc)" >&2
		stop
		exit "$rc"
	fi
done

cat <<CONF
# ---------------------------------------------------------------------
# postern is running.  Hook it into Postfix with these main.cf lines
# (check_policy_service must come after reject_unauth_destination):
#
smtpd_recipient_restrictions =
    permit_mynetworks,
    permit_sasl_authenticated,
    reject_unauth_destination,
    check_policy_service ${spf_listen},
    check_policy_service ${grey_listen}
# (optional: DNSBL/GeoIP at RCPT time, once dnsbl_sites or a GeoIP
#  policy is set in postern-checks.conf)
#   check_policy_service ${checks_policy}
smtpd_policy_service_timeout = 100s
smtpd_milters = ${dkim_listen}, ${dmarc_listen}, ${checks_listen}
non_smtpd_milters = ${dkim_listen}
milter_default_action = accept
#
# then: postfix reload.  Press Ctrl-C here to stop postern.
# ---------------------------------------------------------------------
CONF

# return when any daemon ends
while :; do
	for p in $pids; do
		if ! kill -0 "$p" 2>/dev/null; then
			wait "$p"
			rc=$?
			stop
			exit "$rc"
		fi
	done
	sleep 1
done
