#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# monitoring.sh: what operators point at a running relayguardd. In a namespace this suite
# creates (rgmo-relay, one veth pair inside it, no route, no packet sent), the real agent
# attaches and serves: every metric that tools/monitoring's alerting rules and Grafana
# dashboard name is in its /metrics scrape (curl); the decision histogram counts every
# answered request; relayguard_interface_attached drops to 0 when the XDP link is detached
# behind the agent's back. Then relayguardctl's bash completion (tools/completion/) with
# COMP_WORDS set: commands, options, objects, and tenant names asked from this agent.
set -u
. "$(dirname "$0")/../lib.sh"

NS=rgmo-relay
D=$(mktemp -d /tmp/rg-mon.XXXXXX)
PIN=/sys/fs/bpf/rgmo-$$
CTL=$RG_ROOT/$BUILD/relayguardctl
APID=
cleanup() {
	[ -n "$APID" ] && kill -9 "$APID" 2>/dev/null
	"$CTL" -c "$D/rg.conf" detach --purge >/dev/null 2>&1
	rm -rf "$PIN"
	ip netns del $NS 2>/dev/null
	rm -rf "$D"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
ip netns del $NS 2>/dev/null
ip netns add $NS || exit 1
ip -n $NS link add r1 type veth peer name r1p
ip -n $NS link set r1 up
ip -n $NS link set r1p up
ip -n $NS link set lo up
expect_eq "the namespace has no default route" "" \
	"$(ip -n $NS route show default; ip -n $NS -6 route show default)"
mkdir -p "$D/state"
cat >"$D/rg.conf" <<CONF
[agent]
interfaces = r1
attach_mode = generic
policy_listen = unix:$D/policy.sock
control_socket = $D/control.sock
metrics_listen = inet:127.0.0.1:9433
state_dir = $D/state
pin_dir = $PIN
[limits]
unregistered_limit = 2
[tenant contoso]
connectors = 192.0.2.0/24
accepted_domains = contoso.example
[tenant fabrikam]
connectors = 198.51.100.0/24
accepted_domains = fabrikam.example
CONF

nsenter --net=/run/netns/$NS "$RG_ROOT/$BUILD/relayguardd" -f -c "$D/rg.conf" \
	>"$D/agent.log" 2>&1 &
APID=$!
for _ in $(seq 50); do [ -S "$D/control.sock" ] && break; sleep 0.1; done
if [ ! -S "$D/control.sock" ]; then
	fail "relayguardd starts"
	sed 's/^/#   /' "$D/agent.log"
	done_testing
	exit 1
fi
ok "relayguardd starts"

scrape() { nsenter --net=/run/netns/$NS curl -sf http://127.0.0.1:9433/metrics; }
# value NAME_WITH_LABELS: the sample's value in the last scrape.
value() { awk -v n="$1" '$1 == n { print $2 }' "$D/metrics"; }

# Five requests, three answered 550 after the budget of 2.
for i in 1 2 3 4 5; do
	printf 'request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=192.0.2.7\nsender=x@spam%d.example\ninstance=m%d\n\n' $i $i
done | socat -t 5 - "UNIX-CONNECT:$D/policy.sock" >"$D/replies"
expect_eq "policy answers" 5 "$(grep -c '^action=' "$D/replies")"

scrape >"$D/metrics" && ok "GET /metrics" || fail "GET /metrics"
names=$(cd "$RG_ROOT/tools/monitoring" &&
	grep -oh 'relayguard_[a-z0-9_]*' relayguard.rules.yml relayguard.dashboard.json | sort -u)
missing=""
for n in $names; do
	grep -qE "^$n(\{| )" "$D/metrics" || missing="$missing $n"
done
diag "$(echo "$names" | wc -l) metric names in the rules and the dashboard"
expect_eq "every metric the rules and the dashboard name is in the scrape" "" "$missing"

expect_eq "the decision histogram counted every answered request" \
	"$(value relayguard_policy_requests_answered_total)" \
	"$(value relayguard_policy_decision_duration_seconds_count)"
expect_eq "its +Inf bucket equals its count" \
	"$(value relayguard_policy_decision_duration_seconds_count)" \
	"$(value 'relayguard_policy_decision_duration_seconds_bucket{le="+Inf"}')"
expect_eq "relayguard_interface_attached 1 while attached" 1 \
	"$(value 'relayguard_interface_attached{interface="r1",attach="xdp-generic"}')"

# The link is detached behind the agent's back; the pin stays, the attachment is gone.
link=$(bpftool -j link show pinned "$PIN/link_r1" | jq .id)
check "bpftool link detach id $link" bpftool link detach id "$link"
scrape >"$D/metrics"
expect_eq "relayguard_interface_attached 0 once the link is detached" 0 \
	"$(value 'relayguard_interface_attached{interface="r1",attach="none"}')"

# complete WORDS...: what the completion offers for the last word (may be empty).
complete_words() {
	PATH="$RG_ROOT/$BUILD:$PATH" bash -c '
		. "$1"; shift
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		_relayguardctl; echo "${COMPREPLY[*]}"' _ "$RG_ROOT/tools/completion/relayguardctl" "$@"
}
expect_eq "completion: commands" \
	"status tenants hosts block throttle unblock restrict reload detach help" \
	"$(complete_words relayguardctl "")"
expect_eq "completion: commands by prefix" "restrict reload" \
	"$(complete_words relayguardctl re)"
expect_eq "completion: global options" "-c --config --socket --pin-dir --json" \
	"$(complete_words relayguardctl -)"
expect_eq "completion: unblock objects" "host tenant" \
	"$(complete_words relayguardctl unblock "")"
expect_eq "completion: throttle options" "--rate --for --json" \
	"$(complete_words relayguardctl throttle host 192.0.2.7 --)"
expect_eq "completion: tenant names from the agent (--socket)" "contoso fabrikam" \
	"$(complete_words relayguardctl --socket "$D/control.sock" unblock tenant "")"
expect_eq "completion: tenant names by prefix (-c FILE)" "fabrikam" \
	"$(complete_words relayguardctl -c "$D/rg.conf" restrict tenant f)"
expect_eq "completion: no tenant names without an agent" "" \
	"$(complete_words relayguardctl --socket "$D/none.sock" unblock tenant "")"
expect_eq "completion: nothing after a tenant name" "" \
	"$(complete_words relayguardctl unblock tenant contoso "")"
done_testing
