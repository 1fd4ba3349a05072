#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# demo-fleet.sh: `make demo-fleet`, the fleet's story (`make demo` stays the one-relay lab).
# Two relayguardd agents with [fleet] sharing one redis-server (on a unix socket in the
# demo's directory), each relay in a namespace of its own with a veth to a client namespace
# holding tenant B's host 192.0.2.10 (the fleet fixture of tests/lib.sh: namespaces made
# here, no default route). Policy requests go through the agents' sockets as Postfix's
# would. Tells, checking each claim: tenant B's unregistered budget is fleet-wide and
# relay 1 restricts it at limit+1; relay 2 then refuses B with 5.7.750; relayguardctl fleet
# on both; B's flooding host blocked in both relays' pinned maps and its SYNs dropped at
# relay 2's XDP; `relayguardctl unblock tenant` on relay 2 clears it all on relay 1 too.
# Takes BUILD (the binaries, built by make), DEMO_LIMIT (unregistered_limit, default 5),
# DEMO_FLOOD_LIMIT (default 3). Tears everything down at exit, Ctrl-C included; exits 0
# only when every claim held.
set -u
: "${BUILD:=build}"
export BUILD
. "$(dirname "$0")/../tests/lib.sh"
. "$(dirname "$0")/demo-lib.sh"

P=rgdf
LIM=${DEMO_LIMIT:-5}
FL=${DEMO_FLOOD_LIMIT:-3}
HOST=192.0.2.10
REJECT="550 5.7.750 Service unavailable. Client blocked from sending from unregistered domains"
RG_CTL=$RG_ROOT/$BUILD/relayguardctl
T=

ctl() {
	local n=$1
	shift
	"$RG_CTL" -c "${RG_FLEET_DIR[$n]}/rg.conf" "$@"
}
run() { # run: relayguardctl on relay N, shown as an operator would type it, output indented
	local n=$1
	shift
	say "  relay$n\$ relayguardctl $*"
	ctl "$n" "$@" 2>&1 | sed 's/^/    /'
}
req() { rg_fleet_req "$1" "$HOST" "$2" "$3"; }
tenant() { ctl "$1" tenants --json | jq -r ".tenants[] | select(.name==\"$2\") | .$3"; }
restricted_on() { [ "$(tenant "$1" tenant-b state)" = restricted ]; }
ok_on() { [ "$(tenant "$1" tenant-b state)" = ok ]; }
linked() { [ "$(rg_fleet_metric "$1" relayguard_fleet_link_up)" = 1 ]; }
both_linked() { linked 1 && linked 2; }
# in_map N: "action origin" of B's host in relay N's pinned verdict map, or none.
in_map() {
	bpftool -j map dump pinned "${RG_FLEET_PIN[$1]}/verdict_hosts" 2>/dev/null |
		jq -r '[.[] | .formatted | select(.key.addr[12:16]==[192,0,2,10]) | .value |
			"\(.action) \(.origin)"][0] // "none"'
}
flood_blocked() { [ "$(in_map "$1")" = "1 1" ]; }
unblocked() { [ "$(in_map "$1")" = none ]; }
show_map() {
	say "  relay$1\$ bpftool map dump pinned ${RG_FLEET_PIN[$1]}/verdict_hosts"
	bpftool -j map dump pinned "${RG_FLEET_PIN[$1]}/verdict_hosts" |
		jq -r '.[] | .formatted | "    key " + (.key.addr[12:16] | map(tostring) | join(".")) +
			"  action \(.value.action) (1 = block)  origin \(.value.origin) (1 = flood)"'
}
drops() {
	bpftool -j map dump pinned "${RG_FLEET_PIN[$1]}/stats" |
		jq '[.[0].formatted.values[].value.drop_block] | add'
}
connects() { rg_tcp_connects "${RG_FLEET_NSC[$1]}" 192.0.2.1; }
refuses() { ! connects "$1"; }

finish() {
	local rc=$?
	trap - EXIT INT TERM
	step "Teardown"
	rg_cleanup
	demo_end demo-fleet $rc "$P-" \
		"namespaces, agents, pins, redis-server and the demo's directory removed" RG_KEEP=1
}

if [ "$(id -u)" -ne 0 ]; then
	say "demo-fleet: it builds network namespaces and attaches XDP: run as root." >&2
	exit 1
fi
for b in relayguardd relayguardctl; do
	if [ ! -x "$RG_ROOT/$BUILD/$b" ]; then
		say "demo-fleet: $BUILD/$b is missing: run 'make demo-fleet' (it builds first)." >&2
		exit 1
	fi
done
for c in redis-server redis-cli socat bpftool jq curl python3; do
	command -v "$c" >/dev/null || { say "demo-fleet: $c is not installed (tools/deps.sh)." >&2; exit 1; }
done

# finish replaces the fixture's traps: it runs the fixture's cleanup, then checks it.
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step "The fleet"
say "  Two relays (namespaces $P-r1, $P-r2) share one Redis ([fleet]). Tenant B's host $HOST"
say "  reaches each relay over its own veth (r1, XDP attached); the agents answer policy"
say "  requests on their sockets as they answer Postfix."
say "    tenant-a  198.51.100.0/24  accepted domain contoso.example"
say "    tenant-b  192.0.2.0/24     accepted domain northwind.example"
say "  Limits (small for the demo): unregistered_limit $LIM per hour fleet-wide, flood_limit $FL per minute."
up() {
	local i
	rg_redis_start "$T" redis || return 1
	rg_fleet_relays $P 2 || return 1
	[ -z "$(rg_default_routes "${RG_FLEET_NSR[@]}" "${RG_FLEET_NSC[@]}")" ] || return 1
	for i in 1 2; do
		# B's SYNs need a listening SMTP port in each relay (no Postfix here).
		rg_smtp_hold "${RG_FLEET_NSR[$i]}"
		rg_fleet_use $i
		rg_agent_conf interfaces=r1 attach_mode=native <<EOF || return 1
[limits]
unregistered_limit = $LIM
unregistered_window = 1h
flood_limit = $FL
flood_block_time = 10m

[tenant tenant-a]
connectors = 198.51.100.0/24
accepted_domains = contoso.example

[tenant tenant-b]
connectors = 192.0.2.0/24
accepted_domains = northwind.example

[fleet]
redis = ${RG_REDIS_ADDR[redis]}
relay_id = relay$i
key_prefix = rgdemo
EOF
		rg_fleet_start $i || return 1
	done
	rg_wait_for 10 both_linked
}
rg_tmpdir T rgdf || exit 1
chmod 755 "$T"
if ! up >"$T/up.log" 2>&1; then
	sed 's/^/    /' "$T/up.log"
	say "  [FAIL] the fleet did not come up"
	exit 1
fi
say "  redis-server on ${RG_REDIS_ADDR[redis]}; both agents' links are up."
claim "no namespace has a default route" eq "" \
	"$(rg_default_routes "${RG_FLEET_NSR[@]}" "${RG_FLEET_NSC[@]}")"

step "1. Tenant B is compromised: one budget for the whole fleet"
pass=0
for k in $(seq 1 "$LIM"); do
	r=$(((k % 2) + 1))
	[ "$(req $r "offers@cheap-pills$k.example" "b$k")" = DUNNO ] && pass=$((pass + 1))
done
say "  tenant-b sends $LIM messages from domains it never registered, alternating relays 2 and 1:"
say "  $pass passed (DUNNO)."
claim "the first $LIM (unregistered_limit, over both relays) pass" eq "$LIM" "$pass"
a=$(req 1 offers@cheap-pills.example b0)
say "  message $((LIM + 1)), on relay 1: $a"
claim "relay 1 refuses message $((LIM + 1)) with 5.7.750" eq "$REJECT" "$a"
claim "relay 1 restricts tenant-b (reason: limit)" eq "restricted limit" \
	"$(tenant 1 tenant-b state) $(tenant 1 tenant-b reason)"
claim "tenant-b's registered mail still passes on relay 1" eq DUNNO \
	"$(req 1 bob@northwind.example g1)"

step "2. Relay 2 refuses tenant B too"
rg_wait_for 5 restricted_on 2
run 2 tenants
a=$(req 2 offers@cheap-pills.example b2)
say "  tenant-b's next unregistered message, on relay 2: $a"
claim "relay 2 has the restriction made on relay 1" eq restricted "$(tenant 2 tenant-b state)"
claim "relay 2 refuses it with 5.7.750" eq "$REJECT" "$a"
claim "tenant-b's registered mail still passes on relay 2" eq DUNNO \
	"$(req 2 bob@northwind.example g2)"
claim "tenant-a is not affected (relay 2)" eq DUNNO \
	"$(rg_fleet_req 2 198.51.100.10 alice@contoso.example a1)"
sleep 2 # a heartbeat of each relay, read back at a tick
run 1 fleet
run 2 fleet
claim "relayguardctl fleet on relay 1 lists both relays, links up" eq "relay1 up relay2 up" \
	"$(ctl 1 fleet --json | jq -r '[.relays[] | "\(.id) \(.link)"] | sort | join(" ")')"
claim "relayguardctl fleet on relay 2 lists both relays, links up" eq "relay1 up relay2 up" \
	"$(ctl 2 fleet --json | jq -r '[.relays[] | "\(.id) \(.link)"] | sort | join(" ")')"

step "3. B's host keeps trying: blocked in both relays' kernels"
claim "B's host connects to relay 2's SMTP port before any verdict" connects 2
n=0 refused=0
while [ $n -lt $((FL + 1)) ] && ! flood_blocked 1; do
	n=$((n + 1))
	[ "$(req 1 "offers@flood$n.example" "f$n")" = "$REJECT" ] && refused=$((refused + 1))
done
say "  tenant-b sent $n more to relay 1, each refused: more than flood_limit $FL refusals in a"
say "  minute. Relay 1 writes a block verdict into its pinned map and publishes it to the fleet."
claim "each refused with 5.7.750" eq "$n" "$refused"
rg_wait_for 5 flood_blocked 2
show_map 1
show_map 2
claim "relay 1 blocked B's host (block, flood)" eq "1 1" "$(in_map 1)"
claim "relay 2 has the same block in its kernel map" eq "1 1" "$(in_map 2)"
d0=$(drops 2)
refuses 2
res=$?
d1=$(drops 2)
say "  B's host opens a connection to relay 2: $([ $res -eq 0 ] && echo 'timed out' || echo connected)"
say "  relay 2's XDP drop_block counter (bpftool map dump pinned ${RG_FLEET_PIN[2]}/stats): $d0 -> $d1"
claim "its SYNs are dropped at relay 2's XDP" eq 0 "$res"
claim "relay 2's drop_block counter rose" ge $((d0 + 1)) "$d1"
run 2 hosts

step "4. The operator cleans up B's server and lifts the restriction, on relay 2"
run 2 unblock tenant tenant-b
rg_wait_for 5 ok_on 1
rg_wait_for 5 unblocked 1
rg_wait_for 5 unblocked 2
run 1 tenants
claim "tenant-b is ok again on relay 1" eq ok "$(tenant 1 tenant-b state)"
claim "B's host verdict is gone from both kernel maps" eq "none none" "$(in_map 1) $(in_map 2)"
claim "B's host connects to relay 2 again" connects 2
claim "a fresh budget: relay 1 passes tenant-b's unregistered mail" eq DUNNO \
	"$(req 1 offers@cheap-pills.example c1)"
