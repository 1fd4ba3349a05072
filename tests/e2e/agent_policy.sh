#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# agent_policy.sh: the policy-service suite (policy_service.sh) against the real
# relayguardd instead of the stub: exact replies, pipelining, 200 concurrent clients, every
# hostile client, the connection cap, listener setup; through the agent's own engine.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
export POLICY_SERVER="$HERE/../helpers/relayguardd_as_stub.sh"
# In the root network namespace the wrapper must refuse before it makes its veth (checked
# here, reported by policy_service.sh: its TAP count starts inside the namespace).
rc=0
timeout 10 "$POLICY_SERVER" --listen "unix:/tmp/rg-asstub-root-$$.sock" 2>/dev/null || rc=$?
links=$(ip -o link show | grep -c ": rgas" || true)
export POLICY_SERVER_ROOT_NS="$rc $links"
export POLICY_SERVER_NO_FAIL=1 POLICY_SERVER_NO_OWNER=1 POLICY_RACE_STARTS=15 POLICY_RACE_WAIT=3
exec bash "$HERE/policy_service.sh"
