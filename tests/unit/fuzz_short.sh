#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# fuzz_short.sh: every libFuzzer target (tests/fuzz/) runs for FUZZ_CI_SECONDS (default 10)
# on every `make test`, so each submission is fuzzed a little; `make fuzz FUZZ_SECONDS=N`
# runs longer. A finding fails the suite; the crash input lands in build/fuzz/ (keep it
# in tests/fuzz/regress/<target>/ once fixed).
set -u
. "$(dirname "$0")/../lib.sh"
cd "$RG_ROOT" || exit 1

secs=${FUZZ_CI_SECONDS:-10}
out=$(make -s NO_DEPS=1 fuzz FUZZ_SECONDS="$secs" 2>&1)
rc=$?
for t in tests/fuzz/fuzz_*.c; do
	name=$(basename "$t" .c)
	line=$(grep -E "^$name +[0-9]+ executions" <<<"$out")
	if [ -n "$line" ] && grep -q "no finding" <<<"$line"; then
		ok "$line"
	else
		fail "$name: ${line:-did not run}"
	fi
done
[ $rc -eq 0 ] || { fail "make fuzz exited $rc"; tail -20 <<<"$out" | sed 's/^/#   /'; }
done_testing
