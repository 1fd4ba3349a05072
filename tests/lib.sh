#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# lib.sh: TAP helpers for shell test suites. A suite sources this, calls ok/fail/skip (or
# check CMD...), and ends with `done_testing`. tests/run-tests.sh counts the TAP lines.
# Exit code 77 from a suite means "this kernel lacks a feature": counted as skipped.

TAP_N=0
TAP_FAILED=0
SKIP_CODE=77

: "${BUILD:=build}"
RG_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export RG_ROOT BUILD

ok() {
	TAP_N=$((TAP_N + 1))
	echo "ok $TAP_N - $*"
}

fail() {
	TAP_N=$((TAP_N + 1))
	TAP_FAILED=$((TAP_FAILED + 1))
	echo "not ok $TAP_N - $*"
}

skip() {
	TAP_N=$((TAP_N + 1))
	echo "ok $TAP_N # SKIP $*"
}

diag() {
	echo "# $*"
}

# check "description" cmd args...: ok if the command succeeds, else fail with its output.
check() {
	local desc=$1 out
	shift
	if out=$("$@" 2>&1); then
		ok "$desc"
	else
		fail "$desc"
		printf '%s\n' "$out" | head -20 | sed 's/^/#   /'
	fi
}

# expect_eq "description" expected actual
expect_eq() {
	if [ "$2" = "$3" ]; then
		ok "$1"
	else
		fail "$1"
		diag "  expected: $2"
		diag "  got:      $3"
	fi
}

done_testing() {
	echo "1..$TAP_N"
	[ "$TAP_FAILED" -eq 0 ]
}
