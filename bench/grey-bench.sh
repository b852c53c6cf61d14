#!/bin/bash
# grey-bench.sh - postern-greyd with the embedded store and with Redis,
# against Debian's postgrey, same load generator, same requests, side by
# side: new triplets (every request unique) and repeated triplets (200
# triplets cycled), at concurrency 1, 8 and 64.  Then the floor for the
# Redis store: redis-benchmark sending one EVALSHA of postern's own
# greylisting script per request at the same concurrency (what no Redis
# client can beat on this machine).  Figures, not a test.  Run as root
# from the build directory (postgrey drops to its own user).
#
# Environment: top_builddir [.], top_srcdir [.], BENCH_SECONDS [5],
# BENCH_THREADS [2], BENCH_CONCURRENCY ["1 8 64"], BENCH_SERVICES
# ["postern-greyd postern-greyd-redis postgrey"].  Everything listens on
# 127.0.0.1 only and is stopped on exit.
set -u
bd=${top_builddir:-.}
sd=${top_srcdir:-.}
want=${BENCH_SERVICES:-postern-greyd postern-greyd-redis postgrey}
secs=${BENCH_SECONDS:-5}
threads=${BENCH_THREADS:-2}
conc=${BENCH_CONCURRENCY:-1 8 64}
GREYD=$bd/policyd/postern-greyd
BENCH=$bd/bench/policy-bench
POSTGREY=/usr/sbin/postgrey

for f in "$GREYD" "$BENCH"; do
	[ -x "$f" ] || { echo "grey-bench: $f not built" >&2; exit 1; }
done
tmp=$(mktemp -d /tmp/grey-bench.XXXXXX)
chmod 755 "$tmp"	# postgrey runs as its own user
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	[ -f "$tmp/pg.pid" ] && kill "$(cat "$tmp/pg.pid")" 2>/dev/null
	sleep 0.5
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# 200 fixed triplets: after the first round every request is a repeat
python3 - "$tmp/repeat.txt" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(200):
        f.write("request=smtpd_access_policy\nprotocol_state=RCPT\n"
                "protocol_name=ESMTP\nclient_address=192.0.2.%d\n"
                "client_name=mail%d.example.com\nhelo_name=mail%d.example.com\n"
                "sender=user%d@example.com\nrecipient=rcpt%d@example.net\n"
                "instance=x\nqueue_id=\nsize=1000\n\n" % (i % 250 + 1, i, i, i, i))
PY

# like postgrey: no SPF check (the requests' sender domains have no DNS
# here; greylist_by_spf_domain is measured by spf-bench's engine)
nospf="-o greylist_by_spf_domain=no -o dns_server=127.0.0.1:9"
wants() { case " $want " in *" $1 "*) return 0;; esac; return 1; }
services=""
if wants postern-greyd; then
	gport=$(free_port)
	"$GREYD" -f -c /dev/null -o listen=inet:127.0.0.1:$gport \
	    -o store="$tmp/store" -o whitelist_clients= $nospf \
	    -o whitelist_recipients= 2>"$tmp/greyd.log" &
	pids+=($!)
	services="postern-greyd:$gport"
fi
rport=""
if wants postern-greyd-redis && command -v redis-server >/dev/null; then
	rport=$(free_port)
	redis-server --port "$rport" --bind 127.0.0.1 --save '' \
	    --appendonly no --protected-mode no --dir "$tmp" \
	    --logfile "$tmp/redis.log" &
	pids+=($!)
	qport=$(free_port)
	"$GREYD" -f -c /dev/null -o listen=inet:127.0.0.1:$qport \
	    -o store=redis://127.0.0.1:$rport -o whitelist_clients= $nospf \
	    -o whitelist_recipients= 2>"$tmp/greyd-redis.log" &
	pids+=($!)
	services="$services postern-greyd-redis:$qport"
fi
if wants postgrey && [ -x "$POSTGREY" ] && id postgrey >/dev/null 2>&1; then
	pport=$(free_port)
	mkdir -p "$tmp/pg" && chown postgrey "$tmp/pg"
	"$POSTGREY" --inet=127.0.0.1:$pport --dbdir="$tmp/pg" --user=postgrey \
	    --pidfile="$tmp/pg.pid" >"$tmp/pg.log" 2>&1 &
	pids+=($!)
	services="$services postgrey:$pport"
else
	wants postgrey && echo "grey-bench: postgrey not installed" >&2
fi
sleep 3

printf '%-14s %-7s %5s %9s %8s %8s\n' service load conc rps p50_ms p99_ms
for s in $services; do
	name=${s%%:*} port=${s##*:}
	for c in $conc; do
		for load in new repeat; do
			extra=""
			[ $load = repeat ] && extra="-i $tmp/repeat.txt"
			line=$("$BENCH" -s inet:127.0.0.1:$port -c "$c" -d "$secs" \
			    -w 1 -W -t "$threads" $extra 2>/dev/null |
			    grep '^requests=')
			rps=$(sed -n 's/.* rps=\([0-9.]*\).*/\1/p' <<<"$line")
			p50=$(sed -n 's/.* p50_ms=\([0-9.]*\).*/\1/p' <<<"$line")
			p99=$(sed -n 's/.* p99_ms=\([0-9.]*\).*/\1/p' <<<"$line")
			printf '%-14s %-7s %5s %9s %8s %8s\n' "$name" $load "$c" \
			    "$rps" "$p50" "$p99"
		done
	done
done

# The floor: one EVALSHA of the same script per request, new keys each
# time, from redis-benchmark (its own C client, no policy protocol).
if [ -n "$rport" ] && command -v redis-benchmark >/dev/null; then
	python3 - "$sd/common/store_redis.c" >"$tmp/script.lua" <<'PY'
import ast, re, sys
src = open(sys.argv[1]).read()
body = re.search(r"grey_script\[\] =\n(.*?);\n", src, re.S).group(1)
print("".join(ast.literal_eval(l.strip()) for l in body.splitlines()
              if l.strip().startswith('"')), end="")
PY
	sha=$(redis-cli -p "$rport" SCRIPT LOAD "$(cat "$tmp/script.lua")")
	for c in $conc; do
		n=$((c == 1 ? 40000 : 200000))
		rps=$(redis-benchmark -p "$rport" -c "$c" -n "$n" -r 100000000 \
		    -q EVALSHA "$sha" 2 "pg:t:{__rand_int__}a/b/c" \
		    "pg:c:{__rand_int__}" "$(date +%s)" 300 172800 3024000 5 \
		    2>/dev/null | tr '\r' '\n' | grep -o '[0-9.]* requests per second' |
		    tail -1 | cut -d' ' -f1)
		printf '%-14s %-7s %5s %9s %8s %8s\n' redis-bench evalsha "$c" \
		    "$rps" - -
	done
fi
