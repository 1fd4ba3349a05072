#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# sanitizers.sh: the unit suites, the agent, policy-service, reload and audit suites and the
# Redis link suite again, built with ASan+UBSan (make SANITIZE=1 -> build/san, clang,
# -fno-sanitize-recover: any report aborts the program and fails its suite). One TAP line
# per suite run under sanitizers.
set -u
. "$(dirname "$0")/../lib.sh"
cd "$RG_ROOT" || exit 1

units=$(ls tests/unit/*.c | sed 's|tests/unit/\(.*\)\.c|build/san/tests/unit/\1|')
if ! out=$(make -s SANITIZE=1 NO_DEPS=1 build/san/relayguardd build/san/relayguardctl \
	build/san/tests/helpers/policy_stub build/san/tests/helpers/redis_link_drive $units 2>&1); then
	fail "make SANITIZE=1 builds"
	printf '%s\n' "$out" | tail -20 | sed 's/^/#   /'
	done_testing
	exit 1
fi
ok "make SANITIZE=1 builds"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1
# agent.sh's filter probe stays the plain build's (the ASan runtime's own calls are no
# test of the agent's syscall list); make test built it.
export RG_SECCOMP_PROBE=$PWD/build/tests/helpers/seccomp_probe
res=$(BUILD=build/san SUITES="tests/unit/test_ e2e/agent.sh agent_policy redis_link e2e/reload.sh
	e2e/audit_repeat.sh" tests/run-tests.sh 2>&1)
while read -r status name rest; do
	case $status in
	PASS) ok "under ASan+UBSan: $name" ;;
	FAIL) fail "under ASan+UBSan: $name $rest" ;;
	esac
done <<<"$(grep -E '^(PASS|FAIL) ' <<<"$res")"
grep -q '^[0-9]* passed, 0 failed' <<<"$res" && ok "every suite clean under ASan+UBSan" ||
	{ fail "every suite clean under ASan+UBSan"; tail -30 <<<"$res" | sed 's/^/#   /'; }
done_testing
