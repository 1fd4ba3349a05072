# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
# shellcheck shell=bash
#
# demo-lib.sh: the narration of the demos (tools/demo.sh, tools/demo-fleet.sh), sourced by
# both: a step's title, a claim that is checked as it is told ([ok] or [FAIL], counted in
# FAILED), and the comparisons claims use. A demo exits 0 only when FAILED stays 0.

FAILED=0

say() { printf '%s\n' "$*"; }
step() {
	printf '\n==== %s ====\n\n' "$*"
}
# claim TEXT CMD...: the step's claim, checked.
claim() {
	local text=$1
	shift
	if "$@"; then
		say "  [ok]   $text"
	else
		say "  [FAIL] $text"
		FAILED=$((FAILED + 1))
	fi
}
eq() { [ "$1" = "$2" ] || { say "         (expected '$1', got '$2')"; return 1; }; }
ge() { [ "$2" -ge "$1" ] || { say "         (expected at least $1, got $2)"; return 1; }; }
