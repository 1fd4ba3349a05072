#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# fleet_auth.sh: a fleet whose Redis wants a password, and notifications in a fleet. The
# suite's redis-server (unix socket in its directory) has requirepass and an ACL user
# relay; three relays read [fleet] redis_password_file, relay 1 in the form `password`,
# relays 2 and 3 as `user password`. Shows: the links come up and the budget is shared; a
# tenant restricted by the budget on relay 1 and a host blocked by an operator on relay 2
# are each notified once, by the relay that made the change (RG_RELAY its relay_id), and
# applied by the others, which notify nothing; a wrong password: the link stays down, the
# relay answers locally (fallbacks counted), its log names the AUTH failure and no secret
# appears in any log; a password file others may read, or one the agent's user cannot
# read, refuses the start naming the file; 0640 with group relayguard is accepted.
set -u
. "$(dirname "$0")/../lib.sh"

command -v redis-server >/dev/null || { echo "1..0 # SKIP no redis-server"; exit 77; }

P=rgfa
N=3
PW_DEFAULT=Def4ult-S3cret-rgfa
PW_RELAY=R3lay-S3cret-rgfa
PW_WRONG=Wr0ng-S3cret-rgfa
rg_tmpdir T rgfa || exit 1
chmod 755 "$T"
rg_redis_start "$T" redis unix "requirepass $PW_DEFAULT" \
	"user relay on >$PW_RELAY ~* &* +@all" || exit 1
REDIS=${RG_REDIS_ADDR[redis]}
rcli() { rg_redis_cli redis --no-auth-warning -a "$PW_DEFAULT" "$@"; }
expect_eq "the server refuses a client without a password" "NOAUTH" \
	"$(rg_redis_cli redis ping 2>&1 | grep -o NOAUTH)"

rg_fleet_relays $P $N || exit 1
declare -a DIR
for i in 1 2 3; do DIR[$i]=${RG_FLEET_DIR[$i]}; done
expect_eq "no namespace has a default route" "" \
	"$(rg_default_routes "${RG_FLEET_NSR[@]}" "${RG_FLEET_NSC[@]}")"

ctl() { rg_fleet_ctl "$@"; }
req() { rg_fleet_req "$@"; }
metric() { rg_fleet_metric "$@"; }
wait_for() { rg_wait_for "$@"; }
linked() { rg_fleet_linked "$@"; }
restricted_on() { [ "$(rg_fleet_tenant_state "$1" "$2")" = restricted ]; }
host_verdict() {
	ctl "$1" hosts --json | jq -r '[.hosts[] | select(.address=="192.0.2.10/32") |
		"\(.verdict) \(.origin)"][0] // "none"'
}
blocked_on() { [ "$(host_verdict "$1")" = "block operator" ]; }

# passfile I CONTENT [MODE] [OWNER]: relay I's password file (default 0600, relayguard).
passfile() {
	local f=${DIR[$1]}/redis.pass
	printf '%s\n' "$2" >"$f"
	chown "${4:-relayguard:}" "$f"
	chmod "${3:-600}" "$f"
}

write_conf() {
	local i=$1
	rg_fleet_use "$i"
	# A notify_command of each relay's own: the events it ran for, one a line.
	printf '#!/bin/sh\nprintf "%%s %%s %%s\\n" "$RG_EVENT" "$RG_RELAY" "${RG_TENANT:--}" >>%s\n' \
		"${DIR[$i]}/events" >"${DIR[$i]}/notify.sh"
	chmod 755 "${DIR[$i]}/notify.sh"
	rg_agent_conf interfaces=r1 attach_mode=native notify_command="${DIR[$i]}/notify.sh" <<EOC
[limits]
unregistered_limit = 4
unregistered_window = 1h

[tenant contoso]
connectors = 192.0.2.0/24
accepted_domains = contoso.example

[tenant fabrikam]
connectors = 198.51.100.0/24
accepted_domains = fabrikam.example

[fleet]
redis = $REDIS
relay_id = relay$i
key_prefix = rgfa
redis_timeout = 50ms
redis_password_file = ${DIR[$i]}/redis.pass
EOC
}

passfile 1 "$PW_DEFAULT"
passfile 2 "relay $PW_RELAY"
passfile 3 "relay $PW_RELAY"
for i in 1 2 3; do
	write_conf $i
	rg_fleet_start $i || { fail "relay $i starts"; done_testing; exit 1; }
done
ok "three relays start with a password file"
all_linked() { linked 1 && linked 2 && linked 3; }
wait_for 10 all_linked && ok "every relay's link is up (AUTH password, AUTH user password)" ||
	fail "every relay's link is up (AUTH password, AUTH user password)"
expect_eq "the server sees relay 1 as the default user, relays 2 and 3 as relay" \
	"relay1-cmd=default relay2-cmd=relay relay3-cmd=relay" \
	"$(rcli CLIENT LIST | sed -n 's/.* name=\(relay[0-9]-cmd\) .* user=\([a-z]*\) .*/\1=\2/p' |
		sort | tr '\n' ' ' | sed 's/ $//')"
sleep 2	# a heartbeat of each
expect_eq "relayguardctl fleet: three relays, each linked" "relay1 relay2 relay3 true" \
	"$(ctl 1 fleet --json | jq -r '([.relays[].id] | sort | join(" ")) + " " +
		([.relays[] | .link == "up"] | all | tostring)')"
ctl 2 status --json | jq -e '.fleet.link == "up"' >/dev/null &&
	ok "status shows the link up" || fail "status shows the link up"

# ---- the shared budget, and who notifies ----
REJECT="550 5.7.750 Service unavailable. Client blocked from sending from unregistered domains"
order=(2 3 2 3)
pass=0
for k in 0 1 2 3; do
	[ "$(req "${order[$k]}" 192.0.2.10 "x@spam$k.example" "i$k")" = DUNNO ] && pass=$((pass + 1))
done
expect_eq "4 unregistered transactions on relays 2 and 3 pass" "4" "$pass"
expect_eq "the 5th, on relay 1, is refused (the budget is shared)" "$REJECT" \
	"$(req 1 192.0.2.10 x@spam4.example i4)"
expect_eq "Redis counted 4 in the window" "4" "$(rcli ZCARD rgfa:win:contoso)"
for i in 2 3; do
	wait_for 5 restricted_on $i contoso && ok "relay $i applies contoso's restriction" ||
		fail "relay $i applies contoso's restriction"
done
check "relay 2: an operator blocks the host" ctl 2 block host 192.0.2.10
for i in 1 3; do
	wait_for 5 blocked_on $i && ok "relay $i applies the operator block" ||
		fail "relay $i applies the operator block (got $(host_verdict $i))"
done
events() { cat "${DIR[$1]}/events" 2>/dev/null; }
notified() { [ -n "$(events 1)" ] && [ -n "$(events 2)" ]; }
wait_for 10 notified || fail "relays 1 and 2 ran notify_command"
sleep 2	# what a relay applying the changes would run has had the time to run
expect_eq "relay 1 notified the restriction it made, once, RG_RELAY relay1" \
	"tenant_restricted relay1 contoso" "$(events 1)"
expect_eq "relay 2 notified the block it made, once, RG_RELAY relay2" \
	"host_blocked relay2" "$(events 2 | awk '{print $1, $2}')"
expect_eq "relay 3 applied both and notified nothing" "" "$(events 3)"
expect_eq "relay 1 notified nothing for relay 2's block" "0" \
	"$(events 1 | grep -c '^host_blocked')"

# ---- a wrong password ----
rg_fleet_stop 3
passfile 3 "relay $PW_WRONG"
: >"${DIR[3]}/agent.log"
rg_fleet_start 3 && ok "relay 3 starts with a wrong password" ||
	fail "relay 3 starts with a wrong password"
auth_logged() { grep -q 'AUTH: WRONGPASS' "${DIR[3]}/agent.log"; }
wait_for 5 auth_logged && ok "its log names the AUTH failure" ||
	fail "its log names the AUTH failure ($(grep -i redis "${DIR[3]}/agent.log" | tail -2))"
sleep 1	# retries under backoff: still refused
expect_eq "its link stays down" "0" "$(metric 3 relayguard_fleet_link_up)"
ctl 3 status --json | jq -e '.fleet.link != "up"' >/dev/null &&
	ok "status shows the link down" || fail "status shows the link down"
fb0=$(metric 3 relayguard_fleet_fallbacks_total)
expect_eq "relay 3 answers a policy request locally" "DUNNO" \
	"$(req 3 198.51.100.7 x@spam.example w1)"
expect_eq "...counted as a fallback" "1" \
	"$(( $(metric 3 relayguard_fleet_fallbacks_total) - ${fb0:-0} ))"
for pw in "$PW_DEFAULT" "$PW_RELAY" "$PW_WRONG"; do
	expect_eq "no agent log holds a secret (${pw:0:3}...)" "0" \
		"$(cat "${DIR[@]/%//agent.log}" | grep -c -- "$pw")"
done

# ---- password files refused at the start ----
# refused MODE OWNER WHAT LOGGED: relay 3 with such a file does not start; its log says LOGGED.
refused() {
	passfile 3 "relay $PW_RELAY" "$1" "$2"
	if rg_fleet_start 3 >/dev/null; then
		fail "a password file $3 refuses the start"
	else
		ok "a password file $3 refuses the start"
	fi
	grep -q "redis password file ${DIR[3]}/redis.pass: $4" "${DIR[3]}/agent.log" &&
		ok "...naming the file ($4)" || fail "...naming the file ($4)"
}
rg_fleet_stop 3
refused 644 relayguard: "others may read" "mode 0644"
refused 600 root: "only root may read (read as relayguard)" "Permission denied"
passfile 3 "relay $PW_RELAY" 640 root:relayguard
rg_fleet_start 3 && ok "mode 0640 with group relayguard is accepted" ||
	fail "mode 0640 with group relayguard is accepted"
wait_for 10 linked 3 && ok "...and the link comes up" || fail "...and the link comes up"

done_testing
