#!/bin/sh
# fuzz-corpus.t - replay every fuzz target's seed corpus through the
# target (built without libFuzzer), so the corpora are regression tests
# and run under ASan/UBSan in the --enable-sanitizers build.
set -u
bd=${top_builddir:-.}
sd=${top_srcdir:-.}
n=0
fail=0
for t in policy cfg dnsmsg spf greywl dkim authres dmarc dmarcagg geoippolicy mimescan pftable rbl; do
	out=$("$bd/fuzz/fuzz_${t}_replay" "$sd/fuzz/corpus/$t" 2>&1)
	rc=$?
	files=$(printf '%s\n' "$out" | grep -c '^ok ')
	n=$((n + 1))
	if [ $rc = 0 ] && [ "$files" -gt 0 ]; then
		echo "ok $n - fuzz_$t replays $files corpus inputs cleanly"
	else
		echo "not ok $n - fuzz_$t corpus replay (exit $rc)"
		printf '%s\n' "$out" | grep -v '^ok ' | sed 's/^/# /' | head -40
		fail=1
	fi
done
echo "1..$n"
exit $fail
