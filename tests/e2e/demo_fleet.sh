#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# demo_fleet.sh: `make demo-fleet` (tools/demo-fleet.sh) run whole, as a user runs it: it
# exits 0, every claim it tells is [ok] and none [FAIL], each step of the story is told,
# and its teardown leaves no namespace, agent, pin or redis-server behind; nor does it when
# interrupted (SIGINT, a Ctrl-C) in the middle of the story.
set -u
. "$(dirname "$0")/../lib.sh"

command -v redis-server >/dev/null || { echo "1..0 # SKIP no redis-server"; exit 77; }

rg_tmpdir T rgdft || exit 1
BUILD=$BUILD bash "$RG_ROOT/tools/demo-fleet.sh" >"$T/out" 2>&1
rc=$?
expect_eq "demo-fleet exits 0" 0 "$rc"
[ "$rc" = 0 ] || sed 's/^/#   /' "$T/out"
expect_eq "no claim failed" 0 "$(grep -c '\[FAIL\]' "$T/out")"
expect_eq "every claim of the story is told and holds" 21 "$(grep -c '\[ok\]' "$T/out")"
for s in "1. Tenant B is compromised" "2. Relay 2 refuses tenant B too" \
	"3. B's host keeps trying" "4. The operator cleans up" Teardown; do
	grep -qF "==== $s" "$T/out" && ok "step told: $s" || fail "step told: $s"
done
check "it ends with its verdict" grep -qx "demo-fleet: every step happened as told." "$T/out"
# nothing_left WHEN: the demo's teardown removed all it made.
nothing_left() {
	expect_eq "$1: no namespace of it is left" "" "$(ip netns list | awk '$1 ~ /^rgdf-/')"
	expect_eq "$1: no pin of it is left" "" "$(ls -d /sys/fs/bpf/rgdf[12]-* 2>/dev/null)"
	expect_eq "$1: no directory of it is left" "" "$(ls -d /tmp/rgdf.* /tmp/rg-rgdf* 2>/dev/null)"
	expect_eq "$1: no agent or redis-server of it is left" "" \
		"$(pgrep -af '/tmp/(rg-)?rgdf' | grep -v pgrep)"
}
nothing_left "after the demo"

# A Ctrl-C during step 2: the demo still tears everything down. Job control on, so the
# background demo does not start with SIGINT ignored (as a non-interactive shell's jobs do).
set -m
BUILD=$BUILD bash "$RG_ROOT/tools/demo-fleet.sh" >"$T/int" 2>&1 &
pid=$!
set +m
rg_on_exit "kill -KILL $pid"
told2() { grep -qF "==== 2." "$T/int"; }
rg_wait_for 60 told2 || fail "the demo reached step 2"
kill -INT "$pid"
wait "$pid"
rc=$?
expect_eq "interrupted: the demo exits non-zero (1, its verdict)" 1 "$rc"
expect_eq "interrupted: the story stopped there" 0 "$(grep -c '^==== 4\.' "$T/int")"
check "interrupted: it still tore down" grep -qF "==== Teardown" "$T/int"
nothing_left "after a Ctrl-C"

done_testing
