#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# run-tests.sh: runs every suite (cmocka binaries under $BUILD/tests, shell suites under
# tests/*/), counts their TAP lines, and ends with one line "N passed, N failed, N skipped".
# A suite that exits non-zero without reporting a failure counts as one failure; exit 77
# means the kernel lacks a feature and counts as one skip. Exits non-zero on any failure.
# SUITES="pattern ..." runs only suites whose path contains one of the patterns.
set -u
: "${BUILD:=build}"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
LOGDIR="$BUILD/test-logs"
mkdir -p "$LOGDIR"
export BUILD CMOCKA_MESSAGE_OUTPUT=TAP

suites=()
for f in "$BUILD"/tests/unit/* "$BUILD"/tests/bpf/*; do
	[ -f "$f" ] && [ -x "$f" ] && suites+=("$f")
done
for f in tests/unit/*.sh tests/bpf/*.sh tests/e2e/*.sh; do
	[ -f "$f" ] && suites+=("$f")
done

passed=0 failed=0 skipped=0
for s in "${suites[@]}"; do
	if [ -n "${SUITES:-}" ]; then
		want=0
		for p in $SUITES; do case "$s" in *"$p"*) want=1 ;; esac; done
		[ $want -eq 1 ] || continue
	fi
	name=${s#"$BUILD"/}
	log="$LOGDIR/$(echo "$name" | tr '/' '_').log"
	start=$(date +%s)
	if [[ "$s" == *.sh ]]; then
		timeout --kill-after=10 900 bash "$s" >"$log" 2>&1
	else
		timeout --kill-after=10 600 "$s" >"$log" 2>&1
	fi
	rc=$?
	p=$(grep -cE '^ok [0-9]+' "$log" | tr -d ' ')
	sk=$(grep -cE '^(not )?ok [0-9]+.*# SKIP' "$log" | tr -d ' ')
	f=$(grep -E '^not ok [0-9]+' "$log" | grep -vc '# SKIP' | tr -d ' ')
	p=$((p - $(grep -cE '^ok [0-9]+.*# SKIP' "$log")))
	if [ $rc -eq 77 ]; then
		sk=$((sk + 1))
		reason=$(grep -m1 -i 'skip' "$log" || true)
		echo "SKIP  $name (kernel lacks a feature) ${reason}"
	elif [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		echo "FAIL  $name exited $rc without reporting a failure (see $log)"
		tail -5 "$log" | sed 's/^/      /'
	fi
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + sk))
	status=PASS
	[ "$f" -gt 0 ] && status=FAIL
	printf '%-5s %-40s %4d passed %3d failed %3d skipped  %ss\n' "$status" "$name" "$p" "$f" "$sk" \
		"$(($(date +%s) - start))"
	if [ "$f" -gt 0 ]; then
		grep -E -A6 '^not ok' "$log" | grep -v '# SKIP' | head -40 | sed 's/^/      /'
	fi
done

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
