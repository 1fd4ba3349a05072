#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# relayguardd_as_stub.sh: runs the real relayguardd so that it decides like policy_stub
# (sender domain ending in bad.example -> 5.7.750, anything else DUNNO) and takes the stub's
# flags, so tests/e2e/policy_service.sh exercises the agent's own policy service. One
# tenant owns every client (0.0.0.0/0 and ::/0) with a budget of zero unregistered mails:
# the first unregistered sender restricts it and every unregistered one after is rejected,
# while contoso.com, fabrikam.com and b.example stay registered. XDP goes on an interface of
# its own (a veth pair with no address, generic mode: several agents run at once in the
# suite), made in the network namespace the caller runs it in: policy_service.sh (through
# tests/e2e/agent_policy.sh, its only user) runs it inside rgpol-e2e-PID, which it creates;
# in the root namespace it refuses to start (exit 2), so nothing of it lands there. Pins live
# in a private bpffs (policy_service.sh runs under ip netns exec, which gives it its own
# /sys) and are detached when this wrapper is stopped.
set -u
: "${BUILD:=build}"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
listen=() rto=10000 ito=300000 maxc=1024
while [ $# -gt 0 ]; do
	case $1 in
	--listen) listen+=("$2"); shift 2 ;;
	--request-timeout) rto=$2; shift 2 ;;
	--idle-timeout) ito=$2; shift 2 ;;
	--max-conns) maxc=$2; shift 2 ;;
	--fail|--fail-mode) echo "relayguardd_as_stub: $1 not supported" >&2; exit 2 ;;
	*) echo "relayguardd_as_stub: unknown flag $1" >&2; exit 2 ;;
	esac
done
# The veth below must go into the test's namespace, never the root one: run only in a
# namespace made with ip netns add (one of /run/netns; init's /proc/1/ns is not always
# ours to stat, so the check is positive).
self_ns=$(stat -L -c %d:%i /proc/self/ns/net)
in_test_ns=
for n in /run/netns/*; do
	[ "$(stat -L -c %d:%i "$n" 2>/dev/null)" = "$self_ns" ] && in_test_ns=$n
done
if [ -z "$in_test_ns" ]; then
	echo "relayguardd_as_stub: run it inside a network namespace the test made (ip netns add)," \
		"not the root one" >&2
	exit 2
fi
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
D=$(mktemp -d /tmp/rg-asstub.XXXXXX)
pin=/sys/fs/bpf/asstub-$$
ifc=rgas$$
ip link add "$ifc" type veth peer name "${ifc}p" && ip link set "$ifc" up
cat >"$D/rg.conf" <<CONF
[agent]
interfaces = $ifc
attach_mode = generic
policy_listen = ${listen[*]}
control_socket = $D/control.sock
metrics_listen =
state_dir = $D/state
pin_dir = $pin
max_policy_connections = $maxc
policy_request_timeout = $((rto / 1000))s
policy_idle_timeout = $(( (ito + 999) / 1000 ))s
[limits]
unregistered_limit = 0
flood_limit = 1000000
connection_rate_limit = 0
[tenant everyone]
connectors = 0.0.0.0/0 ::/0
accepted_domains = contoso.com fabrikam.com b.example
CONF
"$BUILD/relayguardd" -f -c "$D/rg.conf" &
pid=$!
stop() {
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	"$BUILD/relayguardctl" -c "$D/rg.conf" detach --purge >/dev/null 2>&1
	ip link del "$ifc" 2>/dev/null
	rm -rf "$D"
	exit 0
}
trap stop TERM INT
wait "$pid"
rc=$?
"$BUILD/relayguardctl" -c "$D/rg.conf" detach --purge >/dev/null 2>&1
ip link del "$ifc" 2>/dev/null
rm -rf "$D"
exit $rc
