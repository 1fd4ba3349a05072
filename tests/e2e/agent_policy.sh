#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# agent_policy.sh: the policy-service suite (policy_service.sh) against the real
# relayguardd instead of the stub: exact replies, pipelining, 200 concurrent clients, every
# hostile client, the connection cap, listener setup; through the agent's own engine.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
export POLICY_SERVER="$HERE/../helpers/relayguardd_as_stub.sh"
export POLICY_SERVER_NO_FAIL=1 POLICY_SERVER_NO_OWNER=1 POLICY_RACE_STARTS=15 POLICY_RACE_WAIT=3
exec bash "$HERE/policy_service.sh"
