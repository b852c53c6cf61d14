#!/bin/sh
# setup.sh - one command from a fresh Debian 12 clone to a running or
# tested postern.
#
#   sh tools/setup.sh run    install packages, build, run every postern
#                            daemon in the foreground on 127.0.0.1 with
#                            embedded defaults, print the main.cf lines
#   sh tools/setup.sh test   install packages, build, run the whole test
#                            suite (plain build, then ASan+UBSan build);
#                            ends with "N passed, N failed[, N skipped]"
#   sh tools/setup.sh build  install packages and build only
#
# Package installation needs root; as another user it is skipped and the
# build uses whatever is installed.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
jobs=$(nproc 2>/dev/null || echo 2)

deps() {
	if [ "$(id -u)" = 0 ]; then
		sh tools/install-deps.sh
	else
		echo "setup.sh: not root, not installing packages" >&2
	fi
}

# build DIR [configure args...] - configure (once) and make in DIR
build() {
	dir=$1
	shift
	if [ ! -x configure ] || [ configure.ac -nt configure ] ||
	    [ Makefile.am -nt configure ]; then
		autoreconf -fi
	fi
	mkdir -p "$dir"
	if [ ! -f "$dir/Makefile" ] || [ configure -nt "$dir/Makefile" ]; then
		(cd "$dir" && "$top/configure" "$@")
	fi
	make -C "$dir" -j"$jobs"
}

# count DIR - add the automake test summary of DIR to the totals
pass=0 fail=0 skip=0
count() {
	log="$1/test-suite.log"
	[ -f "$log" ] || { fail=$((fail + 1)); return; }
	p=$(sed -n 's/^# PASS: *//p' "$log" | head -n1)
	f=$(sed -n 's/^# FAIL: *//p' "$log" | head -n1)
	e=$(sed -n 's/^# ERROR: *//p' "$log" | head -n1)
	x=$(sed -n 's/^# XPASS: *//p' "$log" | head -n1)
	s=$(sed -n 's/^# SKIP: *//p' "$log" | head -n1)
	pass=$((pass + ${p:-0}))
	fail=$((fail + ${f:-0} + ${e:-0} + ${x:-0}))
	skip=$((skip + ${s:-0}))
}

case "${1:-}" in
run)
	deps
	build _build
	exec sh tools/postern-run.sh "$top/_build"
	;;
test)
	deps
	rc=0
	build _build || rc=1
	if [ $rc = 0 ]; then
		make -C _build -j"$jobs" check || rc=1
	fi
	count _build
	if [ $rc = 0 ] || [ "${POSTERN_ASAN_ALWAYS:-}" = 1 ]; then
		build _build-asan --enable-sanitizers || rc=1
		make -C _build-asan -j"$jobs" check || rc=1
		count _build-asan
	fi
	# the libFuzzer targets: built with clang and run briefly over their
	# corpora, so a target that no longer builds or crashes at once shows
	if [ $rc = 0 ]; then
		if make -C _build fuzz-run FUZZ_SECONDS=5 >_build/fuzz.log 2>&1
		then
			pass=$((pass + 1))
			echo "PASS: fuzz targets build and run (5 s each)"
		else
			fail=$((fail + 1))
			rc=1
			echo "FAIL: fuzz targets (see _build/fuzz.log):"
			tail -n 20 _build/fuzz.log
		fi
	fi
	for d in _build _build-asan; do
		[ -f "$d/test-suite.log" ] &&
		    grep -E '^(FAIL|ERROR|XPASS):' "$d/test-suite.log" |
		    sed "s|^|$d: |" || true
	done
	if [ "$skip" -gt 0 ]; then
		echo "$pass passed, $fail failed, $skip skipped"
	else
		echo "$pass passed, $fail failed"
	fi
	[ $rc = 0 ] && [ "$fail" = 0 ]
	;;
build)
	deps
	build _build
	;;
*)
	echo "usage: sh tools/setup.sh run|test|build" >&2
	exit 2
	;;
esac
