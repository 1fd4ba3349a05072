#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# fleet_failover.sh: two relays of a fleet found their Redis through Sentinel, and follow
# a failover. A namespace of the suite's (rgfo-db, bridge 10.98.0.1/24, no default route)
# runs a master, a replica and a sentinel on 10.98.0.1; each relay namespace of the fleet
# fixture has a second veth into that bridge. The master is killed: the sentinel promotes
# the replica, the relays move to it (+switch-master), load the function library there
# again, and keep sharing the budget.
set -u
. "$(dirname "$0")/../lib.sh"

command -v redis-sentinel >/dev/null || { echo "1..0 # SKIP no redis-sentinel"; exit 77; }

P=rgfo
DB=$P-db
rg_tmpdir T rgfo || exit 1
chmod 755 "$T"
rg_ns_add "$DB" || exit 1
ip -n "$DB" link add br0 type bridge && ip -n "$DB" link set br0 up &&
	ip -n "$DB" addr add 10.98.0.1/24 dev br0 || exit 1
rg_fleet_relays $P 2 || exit 1
for i in 1 2; do
	rg_veth "${RG_FLEET_NSR[$i]}" db "$DB" "d$i" || exit 1
	ip -n "$DB" link set "d$i" master br0
	ip -n "${RG_FLEET_NSR[$i]}" addr add "10.98.0.$((10 + i))/24" dev db
done
expect_eq "no namespace has a default route" "" \
	"$(rg_default_routes "$DB" "${RG_FLEET_NSR[@]}" "${RG_FLEET_NSC[@]}")"

export RG_REDIS_NS=$DB RG_REDIS_HOST=10.98.0.1
rg_redis_start "$T" m port || exit 1
rg_redis_replica_start "$T" r m || exit 1
rg_sentinel_start "$T" s m || exit 1
SENT=${RG_REDIS_ADDR[s]}

for i in 1 2; do
	rg_fleet_use $i
	rg_agent_conf interfaces=r1 attach_mode=native <<EOF
[limits]
unregistered_limit = 4
unregistered_window = 1h

[tenant contoso]
connectors = 192.0.2.0/24
accepted_domains = contoso.example

[fleet]
redis = ${RG_REDIS_ADDR[m]}
sentinels = $SENT
sentinel_master = relayguard
relay_id = relay$i
key_prefix = rgfo
EOF
	rg_fleet_start $i || { fail "relay $i starts"; done_testing; exit 1; }
done
ok "two relays start with sentinels"

wait_for() { rg_wait_for "$@"; }
both() { rg_fleet_linked 1 && rg_fleet_linked 2; }
wait_for 15 both && ok "both relays found the master through the sentinel" ||
	fail "both relays found the master through the sentinel"

REJECT="550 5.7.750 Service unavailable. Client blocked from sending from unregistered domains"
expect_eq "before the failover: two transactions on relay 1, two on relay 2 pass" \
	"DUNNO DUNNO DUNNO DUNNO" \
	"$(for k in 1 2 3 4; do rg_fleet_req $(( (k % 2) + 1 )) 192.0.2.10 "x@s$k.example" "b$k"; done | tr '\n' ' ' | sed 's/ $//')"
# Give the replica the window before the master goes (replication is asynchronous).
rg_redis_cli m WAIT 1 2000 >/dev/null

rg_redis_kill m
promoted() { rg_redis_cli r ROLE | head -1 | grep -qx master; }
wait_for 20 promoted && ok "the sentinel promoted the replica" || fail "the sentinel promoted the replica"
wait_for 20 both && ok "both relays are linked again (to the new master)" ||
	fail "both relays are linked again (to the new master)"
expect_eq "the new master has the library" "relayguard" \
	"$(rg_redis_cli r FUNCTION LIST | sed -n '2p')"
expect_eq "after the failover the shared budget goes on: the 5th is refused on relay 1" \
	"$REJECT" "$(rg_fleet_req 1 192.0.2.10 x@s5.example b5)"
restricted2() { [ "$(rg_fleet_tenant_state 2 contoso)" = restricted ]; }
wait_for 5 restricted2 && ok "...and relay 2 has the restriction" ||
	fail "...and relay 2 has the restriction"
expect_eq "relay 2 refuses contoso's unregistered mail" "$REJECT" \
	"$(rg_fleet_req 2 192.0.2.10 x@s6.example b6)"
done_testing
