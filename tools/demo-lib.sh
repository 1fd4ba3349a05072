# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
# shellcheck shell=bash
#
# demo-lib.sh: the narration of the demos (tools/demo.sh, tools/demo-fleet.sh), sourced by
# both: a step's title, a claim that is checked as it is told ([ok] or [FAIL], counted in
# FAILED), the comparisons claims use, and the ending (teardown checked, the verdict). A
# demo exits 0 only when FAILED stays 0.

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

# demo_end NAME RC NS-PREFIX DONE-TEXT KEEP-HINT: the end of demo NAME after its teardown
# ran (RC: the status it was ending with): no namespace named NS-PREFIX* may be left, then
# the verdict; exits 0 only when every claim held and nothing ended it early.
demo_end() {
	if ip netns list | awk '{ print $1 }' | grep -q "^$3"; then
		say "  [FAIL] namespaces left behind"
		FAILED=$((FAILED + 1))
	else
		say "  $4"
	fi
	[ "$2" -ne 0 ] && [ "$FAILED" -eq 0 ] && FAILED=1
	say
	if [ "$FAILED" -eq 0 ]; then
		say "$1: every step happened as told."
		exit 0
	fi
	say "$1: $FAILED claim(s) did not hold (run with $5 to keep the logs)."
	exit 1
}
