#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# bench-reload.sh: policy latency during a reload storm (not a test). Runs the storm of
# tests/e2e/reload.sh (its namespaces, none with a default route, torn down at its exit;
# 200 SIGHUPs over a configuration of 1,000,000 accepted domains while one client sends
# sequential policy requests) against $BUILD/relayguardd, and against BENCH_BASE_AGENT too
# when set (another build's relayguardd, e.g. the main branch's, for a before/after), under
# the suites' shared lock. Prints, per agent:
#   bench-reload LABEL sighups=200 domains=1000000 policy_max_ms=X policy_p99_ms=Y reloads=N
# LABEL is "storm" for this build and "storm-base" for BENCH_BASE_AGENT. Latency is that of
# each request from its send to its reply; reloads the loads that ran. The suite's own
# checks are not what this reports: a base agent may fail them (its output is kept out).
set -u
. "$(dirname "$0")/bench-lib.sh"
bench_need_root "network namespaces, bpffs"
bench_need_built relayguardd relayguardctl
bench_need_cmd socat jq curl

run() {
	RELOAD_AGENT=$2 flock -o /tmp/relayguard-tests.lock bash "$ROOT/tests/e2e/reload.sh" 2>&1 |
		sed -n "s/^# bench-reload storm /bench-reload $1 /p"
}
run storm "$ROOT/$BUILD/relayguardd"
[ -n "${BENCH_BASE_AGENT:-}" ] && run storm-base "$BENCH_BASE_AGENT"
exit 0
