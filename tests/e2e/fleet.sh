#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# fleet.sh: three relayguardd agents sharing one Redis ([fleet]), each relay in its own
# namespace with a veth to its own client namespace (the same client address 192.0.2.10
# behind each, so one host is one host fleet-wide). One redis-server on a unix socket in
# the suite's directory. Shows: the exact fleet-wide budget (limit 10 spread over three
# relays: 10 pass, the 11th is refused, in any order); a flood block on relay 1 in relays
# 2 and 3's kernel maps with their SYNs dropped, an unblock on relay 3 clearing all; Redis
# killed: relays keep enforcing and counting, and when it is back the queued counts arrive
# exactly once and the decisions reach every relay; a hung Redis (SIGSTOP, CLIENT PAUSE):
# requests answered by the fallback; a relay restarted during the outage catches up.
set -u
. "$(dirname "$0")/../lib.sh"

command -v redis-server >/dev/null || { echo "1..0 # SKIP no redis-server"; exit 77; }

P=rgfl
N=3
rg_tmpdir T rgfl || exit 1
chmod 755 "$T"
rg_redis_start "$T" redis || exit 1
REDIS=${RG_REDIS_ADDR[redis]}
rcli() { rg_redis_cli redis "$@"; }

rg_fleet_relays $P $N || exit 1
for i in 1 2 3; do
	rg_smtp_hold "${RG_FLEET_NSR[$i]}"
done
declare -a DIR PIN NSR NSC
for i in 1 2 3; do
	DIR[$i]=${RG_FLEET_DIR[$i]} PIN[$i]=${RG_FLEET_PIN[$i]}
	NSR[$i]=${RG_FLEET_NSR[$i]} NSC[$i]=${RG_FLEET_NSC[$i]}
done
expect_eq "no namespace has a default route" "" \
	"$(rg_default_routes "${NSR[@]}" "${NSC[@]}")"

relay() { rg_fleet_use "$@"; }

write_conf() {
	relay "$1"
	rg_agent_conf interfaces=r1 attach_mode=native <<EOF
[limits]
unregistered_limit = 10
unregistered_window = 1h
flood_limit = 3
flood_block_time = 15m

[tenant contoso]
connectors = 192.0.2.0/24
accepted_domains = contoso.example

[tenant fabrikam]
connectors = 198.51.100.0/24
accepted_domains = fabrikam.example

[fleet]
redis = $REDIS
relay_id = relay$1
key_prefix = rgtest
redis_timeout = 50ms
EOF
}

start() { rg_fleet_start "$@"; }
stop() { rg_fleet_stop "$@"; }
req() { rg_fleet_req "$@"; }

ctl() { rg_fleet_ctl "$@"; }

tenant_state() { rg_fleet_tenant_state "$@"; }

metric() { rg_fleet_metric "$@"; }

wait_for() { rg_wait_for "$@"; }

restricted_on() { [ "$(tenant_state "$1" "$2")" = restricted ]; }
unrestricted_on() { [ "$(tenant_state "$1" "$2")" = ok ]; }
linked() { rg_fleet_linked "$@"; }

# connects NS ADDR: does a TCP connect to ADDR:25 from NS succeed within 2 s?
connects() { rg_tcp_connects "$@"; }

# in_map N [OCTET]: the verdict of 192.0.2.OCTET (default 10) in relay N's pinned kernel
# map ("ACTION ORIGIN", or none).
in_map() {
	bpftool -j map dump pinned "${PIN[$1]}/verdict_hosts" 2>/dev/null |
		jq -r --argjson o "${2:-10}" '[.[] | .formatted |
			select(.key.addr[12:16]==[192,0,2,$o]) | .value |
			"\(.action) \(.origin)"][0] // "none"'
}

REJECT="550 5.7.750 Service unavailable. Client blocked from sending from unregistered domains"

for i in 1 2 3; do write_conf $i; done
check "relayguardd -t accepts the [fleet] configuration" "$RG_AGENT" -t -c "${DIR[1]}/rg.conf"
"$RG_AGENT" -t -c "${DIR[1]}/rg.conf" | grep -q "fleet: relay relay1, redis $REDIS" &&
	ok "relayguardd -t shows the fleet" || fail "relayguardd -t shows the fleet"
for i in 1 2 3; do
	start $i || { fail "relay $i starts"; done_testing; exit 1; }
done
ok "three relays start"
all_linked() { linked 1 && linked 2 && linked 3; }
wait_for 10 all_linked && ok "every relay's Redis link is up" || fail "every relay's Redis link is up"

# ---- the exact fleet-wide budget ----
# Limit 10, spread over the three relays in a shuffled order: 10 pass, the 11th is refused
# wherever it lands, and then the tenant is restricted on all three.
order=(2 1 3 3 2 1 1 3 2 2 1)
pass=0
for k in $(seq 0 9); do
	a=$(req "${order[$k]}" 192.0.2.10 "x@spam$k.example" "i$k")
	[ "$a" = DUNNO ] && pass=$((pass + 1))
done
expect_eq "10 unregistered transactions over three relays pass" "10" "$pass"
expect_eq "the 11th (on relay ${order[10]}) gets the 5.7.750 reply" "$REJECT" \
	"$(req "${order[10]}" 192.0.2.10 x@spam10.example i10)"
for i in 1 2 3; do
	wait_for 5 restricted_on $i contoso && ok "contoso restricted on relay $i" ||
		fail "contoso restricted on relay $i"
	expect_eq "relay $i refuses contoso's unregistered mail" "$REJECT" \
		"$(req $i 192.0.2.10 x@more.example m$i)"
	expect_eq "relay $i passes contoso's registered mail" "DUNNO" \
		"$(req $i 192.0.2.10 a@contoso.example g$i)"
done
expect_eq "Redis counted exactly 10 in the window" "10" "$(rcli ZCARD rgtest:win:contoso)"
expect_eq "a transaction asked again at DATA is not counted twice" "$REJECT" \
	"$(req 1 192.0.2.10 x@more.example m1)"
expect_eq "registered requests never touch Redis (budget steps: 11 + 0)" "11" \
	"$(( $(metric 1 relayguard_fleet_budget_steps_total) + $(metric 2 relayguard_fleet_budget_steps_total) + $(metric 3 relayguard_fleet_budget_steps_total) ))"

# ---- kernel verdicts: a flood block on relay 1 reaches relays 2 and 3 ----
check "relay 2: the host connects before any verdict" connects "${NSC[2]}" 192.0.2.1
for k in 1 2 3 4 5; do req 1 192.0.2.10 "x@flood$k.example" "f$k" >/dev/null; done
expect_eq "relay 1 blocked the flooding host in its kernel map (block, flood)" "1 1" "$(in_map 1)"
for i in 2 3; do
	b1() { [ "$(in_map "$1")" = "1 1" ]; }
	wait_for 5 b1 $i && ok "relay $i has the flood block in its kernel map" ||
		fail "relay $i has the flood block in its kernel map (got $(in_map $i))"
	if connects "${NSC[$i]}" 192.0.2.1; then
		fail "relay $i drops the blocked host's SYNs"
	else
		ok "relay $i drops the blocked host's SYNs"
	fi
done

# ---- an unblock on relay 3 clears all ----
check "relayguardctl unblock tenant on relay 3" ctl 3 unblock tenant contoso
for i in 1 2 3; do
	wait_for 5 unrestricted_on $i contoso && ok "contoso unblocked on relay $i" ||
		fail "contoso unblocked on relay $i"
	nob() { [ "$(in_map "$1")" = none ]; }
	wait_for 5 nob $i && ok "relay $i: the flood block is gone from the kernel map" ||
		fail "relay $i: the flood block is gone from the kernel map (got $(in_map $i))"
done
check "relay 2: the host connects again" connects "${NSC[2]}" 192.0.2.1
expect_eq "the unblock cleared the fleet's window (a fresh budget)" "0" \
	"$(rcli ZCARD rgtest:win:contoso)"

# ---- an operator block on relay 2, fleet-wide ----
check "relayguardctl block host on relay 2" ctl 2 block host 192.0.2.10
for i in 1 3; do
	b0() { [ "$(in_map "$1")" = "1 0" ]; }
	wait_for 5 b0 $i && ok "relay $i has the operator block" ||
		fail "relay $i has the operator block (got $(in_map $i))"
done
check "relayguardctl unblock host on relay 1" ctl 1 unblock host 192.0.2.10
for i in 2 3; do
	nob() { [ "$(in_map "$1")" = none ]; }
	wait_for 5 nob $i && ok "relay $i: the operator block is lifted" ||
		fail "relay $i: the operator block is lifted (got $(in_map $i))"
done

# ---- Redis killed: keep enforcing and counting; back: exactly once ----
# Before: relay 1 blocks 192.0.2.99 fleet-wide; during the outage relay 1 throttles it and
# later relay 2 unblocks it: the later change (the higher generation) wins everywhere.
check "relay 1 blocks 192.0.2.99" ctl 1 block host 192.0.2.99
b99() { [ "$(in_map "$1" 99)" = "1 0" ]; }
wait_for 5 b99 2 && ok "relay 2 has the block of .99" || fail "relay 2 has the block of .99"
rg_redis_kill redis
wait_for 10 eval '! linked 1' && ok "relay 1 sees the link down" || fail "relay 1 sees the link down"
pass=0
for k in 1 2 3 4 5 6; do
	a=$(req $(( (k % 3) + 1 )) 192.0.2.10 "x@down$k.example" "d$k")
	[ "$a" = DUNNO ] && pass=$((pass + 1))
done
expect_eq "Redis down: six unregistered transactions decided locally (each relay under 10)" \
	"6" "$pass"
fb=$(( $(metric 1 relayguard_fleet_fallbacks_total) + $(metric 2 relayguard_fleet_fallbacks_total) + $(metric 3 relayguard_fleet_fallbacks_total) ))
[ "$fb" -ge 6 ] && ok "they are counted as fallbacks ($fb)" || fail "they are counted as fallbacks ($fb)"
[ "$(metric 1 relayguard_fleet_queue_depth)" -ge 1 ] && ok "relay 1 queues them" ||
	fail "relay 1 queues them"
check "offline: relay 1 throttles .99" ctl 1 throttle host 192.0.2.99 --rate 10/1m
sleep 0.2
check "offline, later: relay 2 unblocks .99" ctl 2 unblock host 192.0.2.99
# An operator restriction while Redis is away reaches the others when it is back.
check "relay 1: restrict fabrikam while Redis is down" ctl 1 restrict tenant fabrikam
# relay 3 restarts during the outage: it starts and serves without Redis.
stop 3
start 3 && ok "relay 3 restarts while Redis is down" || fail "relay 3 restarts while Redis is down"
rg_redis_start "$T" redis || exit 1
wait_for 15 all_linked && ok "Redis back: every link up again" || fail "Redis back: every link up again"
empty_queue() { [ "$(metric "$1" relayguard_fleet_queue_depth)" = 0 ]; }
wait_for 10 empty_queue 1 && wait_for 10 empty_queue 2 && ok "the queues drained" ||
	fail "the queues drained"
expect_eq "the six counted offline arrived exactly once" "6" "$(rcli ZCARD rgtest:win:contoso)"
for i in 2 3; do
	wait_for 10 restricted_on $i fabrikam && ok "relay $i got fabrikam's restriction made offline" ||
		fail "relay $i got fabrikam's restriction made offline"
done
n99() { [ "$(in_map "$1" 99)" = none ]; }
for i in 1 2 3; do
	wait_for 10 n99 $i && ok "relay $i: the later offline unblock of .99 won (generation)" ||
		fail "relay $i: the later offline unblock of .99 won (got $(in_map $i 99))"
done
expect_eq "relay 3 (restarted during the outage) caught up by a snapshot" "1" \
	"$([ "$(metric 3 relayguard_fleet_snapshots_total)" -ge 1 ] && echo 1)"

# ---- a hung Redis: SIGSTOP, then CLIENT PAUSE ----
# No request waits on a hung server past redis_timeout: each is answered by the local
# decision and counted as a fallback (no timing asserted: the counters say it).
check "relayguardctl unblock tenant contoso (a fresh budget)" ctl 1 unblock tenant contoso
wait_for 5 unrestricted_on 2 contoso
fb0=$(metric 2 relayguard_fleet_fallbacks_total)
rg_redis_pause redis
answered=0
for k in 1 2 3; do
	[ "$(req 2 192.0.2.10 "x@hung$k.example" "h$k")" = DUNNO ] && answered=$((answered + 1))
done
expect_eq "Redis stopped: every request answered" "3" "$answered"
fb1=$(metric 2 relayguard_fleet_fallbacks_total)
expect_eq "...each by the fallback" "3" "$((fb1 - fb0))"
[ "$(metric 2 relayguard_fleet_redis_timeouts_total)" -ge 1 ] &&
	ok "the first hit redis_timeout (counted)" || fail "the first hit redis_timeout (counted)"
rg_redis_resume redis
wait_for 15 all_linked && ok "Redis resumed: links up" || fail "Redis resumed: links up"
wait_for 10 empty_queue 2 && ok "relay 2's queue drained" || fail "relay 2's queue drained"
expect_eq "the three counted while hung arrived once" "3" "$(rcli ZCARD rgtest:win:contoso)"

fb0=$(metric 1 relayguard_fleet_fallbacks_total)
rcli CLIENT PAUSE 3000 ALL >/dev/null
expect_eq "CLIENT PAUSE: a request is answered" "DUNNO" "$(req 1 192.0.2.10 x@pause.example p1)"
expect_eq "...by the fallback" "1" "$(( $(metric 1 relayguard_fleet_fallbacks_total) - fb0 ))"
sleep 3
wait_for 15 all_linked && ok "after the pause: links up" || fail "after the pause: links up"
wait_for 10 empty_queue 1 && ok "relay 1's queue drained" || fail "relay 1's queue drained"
expect_eq "the paused one arrived once" "4" "$(rcli ZCARD rgtest:win:contoso)"
expect_eq "fleet-wide budget still exact: 6 more pass, the 11th is refused" \
	"DUNNO DUNNO DUNNO DUNNO DUNNO DUNNO $REJECT" \
	"$(for k in 1 2 3 4 5 6 7; do req $(( (k % 3) + 1 )) 192.0.2.10 "x@after$k.example" "a$k"; done | tr '\n' ' ' | sed 's/ $//')"

# ---- a relay whose last id was trimmed away takes a snapshot ----
# Relay 2 is stopped (SIGSTOP) and its connections cut first (a blocked XREAD of its would
# still get the event into its socket); relay 1 restricts contoso and the stream is trimmed
# past relay 2's last id. When it runs again its reader finds the gap and it reads the
# state whole instead.
check "relay 1: unblock contoso (restricted by the budget above)" ctl 1 unblock tenant contoso
wait_for 5 unrestricted_on 2 contoso || fail "relay 2: contoso unblocked"
snap0=$(metric 2 relayguard_fleet_snapshots_total)
kill -STOP "${RG_FLEET_PID[2]}"
for id in $(rcli CLIENT LIST | sed -n 's/^id=\([0-9]*\) .* name=relay2-[a-z]* .*/\1/p'); do
	rcli CLIENT KILL ID "$id" >/dev/null
done
check "relay 1: restrict contoso" ctl 1 restrict tenant contoso
in_redis() { [ "$(rcli HEXISTS rgtest:state tenant:contoso)" = 1 ]; }
wait_for 5 in_redis || fail "relay 1 published the restriction"
rcli XTRIM rgtest:events MAXLEN 0 >/dev/null
kill -CONT "${RG_FLEET_PID[2]}"
wait_for 10 restricted_on 2 contoso && ok "relay 2 has the restriction made while it was away" ||
	fail "relay 2 has the restriction made while it was away"
[ "$(metric 2 relayguard_fleet_snapshots_total)" -gt "$snap0" ] &&
	ok "...from a snapshot (its last id was trimmed)" ||
	fail "...from a snapshot (its last id was trimmed)"

# ---- relayguardctl fleet ----
sleep 2	# a heartbeat of each, read back at a tick
fj=$(ctl 1 fleet --json)
expect_eq "relayguardctl fleet lists the three relays" "relay1 relay2 relay3" \
	"$(echo "$fj" | jq -r '[.relays[].id] | sort | join(" ")')"
expect_eq "...each with its link up" "true" \
	"$(echo "$fj" | jq '[.relays[] | .link == "up"] | all')"
ctl 2 fleet | grep -q '^relay3 ' && ok "relayguardctl fleet (text) has a row per relay" ||
	fail "relayguardctl fleet (text) has a row per relay"
ctl 1 status --json | jq -e '.fleet.relay == "relay1" and .fleet.link == "up"' >/dev/null &&
	ok "status shows the fleet link" || fail "status shows the fleet link"

# ---- no [fleet]: as today ----
stop 3
relay 3
rg_agent_conf interfaces=r1 attach_mode=native <<EOF
[tenant alone]
connectors = 192.0.2.0/24
accepted_domains = alone.example
EOF
clients_before=$(rcli CLIENT LIST | grep -c .)
start 3 && ok "relay 3 starts without [fleet]" || fail "relay 3 starts without [fleet]"
expect_eq "standalone: an unregistered request is answered" "DUNNO" \
	"$(req 3 192.0.2.10 x@spam.example s1)"
expect_eq "standalone: no fleet metrics" "0" \
	"$(rg_ns_exec "${NSR[3]}" curl -s http://127.0.0.1:9433/metrics | grep -c '^relayguard_fleet_')"
expect_eq "standalone: no connection to Redis" "$clients_before" "$(rcli CLIENT LIST | grep -c .)"

done_testing
