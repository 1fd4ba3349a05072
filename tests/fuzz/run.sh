#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# run.sh: runs every libFuzzer target in $FUZZ_BUILD (make fuzz builds them) for
# $FUZZ_SECONDS each (default 30), one after the other. New inputs go to
# $FUZZ_BUILD/corpus/<target> (the committed seeds in tests/fuzz/corpus/<target> are read,
# never written), crashes to $FUZZ_BUILD/artifacts/<target>/. Prints executions per target;
# exits non-zero when any target found a crash (copy the reproducer into
# tests/fuzz/regress/<target>/ once fixed, so tests/unit/fuzz_regress.sh replays it).
# FUZZ_TARGETS="fuzz_policy ..." runs only those; FUZZ_JOBS=N runs N targets at once.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
: "${FUZZ_BUILD:=build/fuzz}" "${FUZZ_SECONDS:=30}" "${FUZZ_JOBS:=1}"
targets=${FUZZ_TARGETS:-$(cd tests/fuzz && ls fuzz_*.c | sed 's/\.c$//')}

run_one() {
	local t=$1 dict=() log
	mkdir -p "$FUZZ_BUILD/corpus/$t" "$FUZZ_BUILD/artifacts/$t"
	[ -f "tests/fuzz/$t.dict" ] && dict=("-dict=tests/fuzz/$t.dict")
	log="$FUZZ_BUILD/$t.log"
	"$FUZZ_BUILD/$t" -max_total_time="$FUZZ_SECONDS" -max_len=8192 -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 "${dict[@]}" \
		-artifact_prefix="$FUZZ_BUILD/artifacts/$t/" \
		"$FUZZ_BUILD/corpus/$t" "tests/fuzz/corpus/$t" >"$log" 2>&1
	local rc=$? execs
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	if [ $rc -eq 0 ]; then
		printf '%-16s %10s executions in %ss, no finding\n' "$t" "${execs:-?}" "$FUZZ_SECONDS"
	else
		printf '%-16s %10s executions: FINDING (exit %d), see %s and %s\n' "$t" \
			"${execs:-?}" "$rc" "$log" "$FUZZ_BUILD/artifacts/$t/"
		grep -m3 -E 'ERROR:|runtime error|invariant failed' "$log" | sed 's/^/    /'
	fi
	return $rc
}

failed=0 running=0
for t in $targets; do
	if [ ! -x "$FUZZ_BUILD/$t" ]; then
		echo "$t: $FUZZ_BUILD/$t not built (make fuzz-build)"
		failed=1
		continue
	fi
	run_one "$t" &
	running=$((running + 1))
	if [ $running -ge "$FUZZ_JOBS" ]; then
		wait -n || failed=1
		running=$((running - 1))
	fi
done
while [ $running -gt 0 ]; do
	wait -n || failed=1
	running=$((running - 1))
done
exit $failed
