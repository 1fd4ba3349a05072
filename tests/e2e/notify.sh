#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# notify.sh: notify_command through the real relayguardd (in namespace rgnt-relay with a
# veth to rgnt-c1 for its XDP attach; no default route; torn down on exit; every request
# goes over the agent's unix policy socket, no packet is sent). The notifier process: its
# user, capabilities, no_new_privs, no seccomp, no inherited descriptor, and its exit with
# the agent. Each notified event (tenant_restricted with its top domains and hosts,
# host_blocked by flood and by operator, host_throttled, tenant_unblocked): the environment
# and the audit line on stdin. Commands that exit 1, that sleep past notify_timeout (one
# ignoring SIGTERM), that read nothing, and 100 or 400 events at once: policy answers stay
# right and prompt, the counts in /metrics (sent, failed, timeouts, dropped) add up, the
# failures are logged. Monitor mode notifies nothing; a reload turns the command on.
set -u
. "$(dirname "$0")/../lib.sh"

P=rgnt
RELAY=$P-relay C1=$P-c1
rg_ns_add $RELAY $C1 || exit 1
rg_agent_fixture $RELAY $P || exit 1
D=$RG_DIR CTL=$RG_CTL
rg_veth $RELAY r1 $C1 e0 || exit 1
expect_eq "no namespace has a default route" "" "$(rg_default_routes $RELAY $C1)"

OUT=$D/out
mkdir -p "$OUT" && chown relayguard: "$OUT"
# The commands: each writes what it got into OUT (as user relayguard).
cat >"$D/record.sh" <<EOF
#!/bin/sh
f=$OUT/\$RG_EVENT.\$\$
{ env | grep '^RG_' | sort; echo "STDIN:"; cat; } >"\$f.tmp" && mv "\$f.tmp" "\$f"
EOF
cat >"$D/fail.sh" <<'EOF'
#!/bin/sh
exit 1
EOF
cat >"$D/sleep.sh" <<'EOF'
#!/bin/sh
exec sleep 1000
EOF
cat >"$D/stubborn.sh" <<EOF
#!/bin/sh
trap '' TERM
echo \$\$ >>$OUT/stubborn.pids
sleep 1000
EOF
cat >"$D/deaf.sh" <<'EOF'
#!/bin/sh
exit 0
EOF
cat >"$D/slow.sh" <<EOF
#!/bin/sh
sleep 0.2
cat >/dev/null
echo x >>$OUT/slow.done
EOF
chmod 755 "$D"/*.sh

write_conf() { # COMMAND [KEY=VALUE...]
	local cmd=$1
	shift
	rg_agent_conf notify_command="$cmd" notify_timeout=2s "$@" <<EOF
[limits]
unregistered_limit = 2
unregistered_window = 1h
flood_limit = 2
flood_block_time = 15m
notify_mailto = noc@relay.example

[tenant contoso]
connectors = 192.0.2.0/24
accepted_domains = contoso.example
notify_mailto = admin@contoso.example ops@contoso.example
over_budget_action = hold

[tenant fabrikam]
connectors = 198.51.100.0/24
accepted_domains = fabrikam.example
EOF
}

req() { rg_policy_req "$@"; }
metric() { rg_agent_metric "$1"; }
wait_for() { rg_wait_for 15 "$@"; }
files_of() { ls "$OUT" 2>/dev/null | grep -c "^$1\.[0-9]*$"; }
has_files() { [ "$(files_of "$1")" -ge "$2" ]; }
metric_ge() { [ "$(metric "$1")" -ge "$2" ]; }
val() { sed -n "s/^$2=//p" "$1"; }
notifier_pid() { pgrep -P "$RG_AGENT_PID" -x rg-notifier; }
start() {
	if ! rg_agent_start; then
		fail "relayguardd starts"
		sed 's/^/#   /' "$D/agent.log"
		done_testing
		exit 1
	fi
}

HOLD="HOLD 5.7.750 Service unavailable. Client blocked from sending from unregistered domains"

# ---- the notifier process -----------------------------------------------------------------

write_conf "$D/record.sh"
check "relayguardd -t accepts the notify keys" "$RG_AGENT" -t -c "$D/rg.conf"
start
NP=$(notifier_pid)
check "the agent forked its notifier (rg-notifier)" test -n "$NP"
ru=$(id -u relayguard)
expect_eq "notifier: user relayguard, no capability (effective, permitted, bounding), no_new_privs, no seccomp" \
	"$ru $ru $ru $ru 0000000000000000 0000000000000000 0000000000000000 1 0" \
	"$(awk '/^Uid:/ {u = $2 " " $3 " " $4 " " $5} /^CapPrm/ {p = $2} /^CapEff/ {e = $2}
		/^CapBnd/ {b = $2} /^NoNewPrivs/ {n = $2} /^Seccomp:/ {s = $2}
		END {print u, p, e, b, n, s}' /proc/"$NP"/status)"
# Only stdin, stdout, stderr, its socket and its signalfd: no lock, map, link or listener.
expect_eq "notifier keeps no descriptor of the agent's but its socket" "5" \
	"$(ls /proc/"$NP"/fd | wc -l)"

# ---- each event, its environment and stdin ------------------------------------------------

for i in 1 2; do req 192.0.2.10 "x@spam$i.example" "n$i" >/dev/null; done
expect_eq "the third unregistered transaction restricts contoso and is held" "$HOLD" \
	"$(req 192.0.2.10 y@spam1.example n3)"
check "tenant_restricted notified" wait_for has_files tenant_restricted 1
f=$(ls "$OUT"/tenant_restricted.* | head -1)
expect_eq "RG_EVENT RG_TENANT RG_ACTION RG_COUNT RG_LIMIT RG_REASON" \
	"tenant_restricted contoso hold 2 2 limit" \
	"$(echo $(val "$f" RG_EVENT) $(val "$f" RG_TENANT) $(val "$f" RG_ACTION) \
		$(val "$f" RG_COUNT) $(val "$f" RG_LIMIT) $(val "$f" RG_REASON))"
expect_eq "RG_MAILTO is the tenant's notify_mailto" "admin@contoso.example ops@contoso.example" \
	"$(val "$f" RG_MAILTO)"
expect_eq "RG_TOP_DOMAINS: the unregistered sender domains, highest first" \
	"spam1.example=2,spam2.example=1" "$(val "$f" RG_TOP_DOMAINS)"
expect_eq "RG_TOP_HOSTS" "192.0.2.10/32=3" "$(val "$f" RG_TOP_HOSTS)"
expect_eq "RG_HOST, RG_RELAY, RG_MODE, RG_WINDOW" "192.0.2.10/32 $(uname -n) enforce 1h" \
	"$(echo $(val "$f" RG_HOST) $(val "$f" RG_RELAY) $(val "$f" RG_MODE) $(val "$f" RG_WINDOW))"
check "RG_TIME is RFC 3339 UTC" grep -qE '^RG_TIME=[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$' "$f"
expect_eq "stdin is the audit line" \
	"$(grep '"event":"tenant_restricted"' "$D/state/audit.log" | head -1)" \
	"$(sed -n '/^STDIN:$/{n;p}' "$f")"
check "the environment holds nothing else of the agent's" \
	sh -c "! grep -qvE '^(RG_[A-Z_]+=.*|STDIN:|\{.*)$' '$f'"

# flood_limit 2: the third refused transaction from one host blocks it.
for i in 4 5; do req 192.0.2.11 "x@spam.example" "n$i" >/dev/null; done
req 192.0.2.11 x@spam.example n6 >/dev/null
check "host_blocked (flood) notified" wait_for has_files host_blocked 1
f=$(ls "$OUT"/host_blocked.* | head -1)
expect_eq "host_blocked: RG_HOST RG_ACTION RG_ORIGIN RG_TENANT RG_REASON" \
	"192.0.2.11/32 block flood contoso flood_limit" \
	"$(echo $(val "$f" RG_HOST) $(val "$f" RG_ACTION) $(val "$f" RG_ORIGIN) \
		$(val "$f" RG_TENANT) $(val "$f" RG_REASON))"
check "host_blocked has an RG_EXPIRES" grep -q '^RG_EXPIRES=' "$f"
check "host events carry no top lists" sh -c "! grep -q '^RG_TOP_' '$f'"

"$CTL" -c "$D/rg.conf" throttle host 203.0.113.9 --rate 10/1m >/dev/null
check "host_throttled (operator) notified" wait_for has_files host_throttled 1
f=$(ls "$OUT"/host_throttled.* | head -1)
expect_eq "host_throttled: RG_HOST RG_ACTION RG_ORIGIN, RG_MAILTO from [limits]" \
	"203.0.113.9/32 throttle operator noc@relay.example" \
	"$(echo $(val "$f" RG_HOST) $(val "$f" RG_ACTION) $(val "$f" RG_ORIGIN) $(val "$f" RG_MAILTO))"
check "RG_BY names the operator" grep -q '^RG_BY=uid=0 pid=' "$f"

"$CTL" -c "$D/rg.conf" unblock tenant contoso >/dev/null
check "tenant_unblocked notified" wait_for has_files tenant_unblocked 1
f=$(ls "$OUT"/tenant_unblocked.* | head -1)
expect_eq "tenant_unblocked: RG_TENANT RG_ACTION, the top lists of what led to it" \
	"contoso hold spam.example=3,spam1.example=2,spam2.example=1" \
	"$(echo $(val "$f" RG_TENANT) $(val "$f" RG_ACTION) $(val "$f" RG_TOP_DOMAINS))"
check "metrics: relayguard_notify_sent_total counts the 4 (or 5) runs" \
	wait_for metric_ge relayguard_notify_sent_total 4
expect_eq "metrics: nothing failed, timed out or dropped" "0 0 0" \
	"$(metric relayguard_notify_failed_total) $(metric relayguard_notify_timeouts_total) \
$(metric relayguard_notify_dropped_total)"
expect_eq "metrics: the 4 held answers are counted by action" "4" \
	"$(metric 'relayguard_policy_requests_total{action="hold"}')"
expect_eq "tenants --json says contoso's over_budget_action" "hold reject" \
	"$("$CTL" -c "$D/rg.conf" --json tenants | jq -r '[.tenants[].over_budget_action] | join(" ")')"

rg_agent_stop
check "the notifier exits with the agent" wait_for sh -c "! kill -0 $NP 2>/dev/null"

# ---- failing commands ---------------------------------------------------------------------

# restricted: 3 unregistered of fabrikam (the default 5.7.750 reply), one event each step.
restrict_fabrikam() { # TAG
	for i in 1 2 3; do req 198.51.100.10 "x@$1.example" "$1$i" >/dev/null; done
	"$CTL" -c "$D/rg.conf" unblock tenant fabrikam >/dev/null
}

write_conf "$D/fail.sh"
start
restrict_fabrikam f
check "exit 1: counted as failed (restricted and unblocked)" \
	wait_for metric_ge relayguard_notify_failed_total 2
check "exit 1 is logged with its status" \
	grep -q 'notify: tenant_restricted: command exited with status 1' "$D/agent.log"
rg_agent_stop

write_conf "$D/missing.sh"
start
restrict_fabrikam m
check "a command that does not exist: failed, logged as not run" \
	wait_for grep -q 'exited with status 127 (could not be run)' "$D/agent.log"
rg_agent_stop

write_conf "$D/deaf.sh"
start
restrict_fabrikam d
check "a command that reads nothing from stdin: sent" \
	wait_for metric_ge relayguard_notify_sent_total 2
rg_agent_stop

write_conf "$D/sleep.sh"
start
t0=$(date +%s.%N)
restrict_fabrikam s
expect_eq "while the commands sleep, requests are answered at once" "DUNNO" \
	"$(req 198.51.100.10 ok@fabrikam.example s9)"
check "a command past notify_timeout (2s) is ended and counted" \
	wait_for metric_ge relayguard_notify_timeouts_total 2
check "the timeout is logged" grep -q 'command ended after notify_timeout (2s)' "$D/agent.log"
check "no sleep of it is left" sh -c "! pgrep -u relayguard -f 'sleep 1000' >/dev/null"
rg_agent_stop

write_conf "$D/stubborn.sh"
start
restrict_fabrikam t
check "a command that ignores SIGTERM is killed (SIGKILL after the grace)" \
	wait_for metric_ge relayguard_notify_timeouts_total 1
check "...with its whole process group" wait_for sh -c "! pgrep -u relayguard -f 'sleep 1000' >/dev/null"
rg_agent_stop

# ---- 100 events at once; 400 against a command that never ends ----------------------------

write_conf "$D/slow.sh" notify_max_running=4
start
rm -f "$OUT/slow.done"
NP=$(notifier_pid)
for i in $(seq 1 100); do echo "10.1.0.$i"; done |
	xargs -P 8 -I{} "$CTL" -c "$D/rg.conf" block host {} >/dev/null
most=0
for i in $(seq 1 20); do
	n=$(pgrep -P "$NP" | wc -l)
	[ "$n" -gt "$most" ] && most=$n
	sleep 0.1
done
expect_eq "notify_max_running = 4: four commands run at once, never more" "4" "$most"
expect_eq "with 100 events pending, a policy request is answered" "DUNNO" \
	"$(req 198.51.100.10 ok@fabrikam.example b1)"
check "all 100 ran" wait_for sh -c "[ \$(cat '$OUT/slow.done' 2>/dev/null | wc -l) -ge 100 ]"
expect_eq "sent 100, dropped 0" "100 0" \
	"$(metric relayguard_notify_sent_total) $(metric relayguard_notify_dropped_total)"
rg_agent_stop

write_conf "$D/sleep.sh" notify_max_running=1 notify_timeout=5s
start
NP=$(notifier_pid)
for i in $(seq 0 399); do echo "10.2.$((i / 200)).$((i % 200 + 1))"; done |
	xargs -P 8 -I{} "$CTL" -c "$D/rg.conf" block host {} >/dev/null
for i in 1 2 3; do
	expect_eq "past the queue's bound, request $i is still answered" "DUNNO" \
		"$(req 198.51.100.10 ok@fabrikam.example q$i)"
done
check "events past the bound are dropped and counted (at least 400 - 257)" \
	wait_for metric_ge relayguard_notify_dropped_total 143
check "the drop is logged" grep -q 'notify: host_blocked dropped: 256 events wait already\|not sent to the notifier' "$D/agent.log"
rg_agent_stop
check "with the agent gone the notifier drops what waits and exits within notify_timeout" \
	wait_for sh -c "! kill -0 $NP 2>/dev/null"

# ---- monitor mode, reload -----------------------------------------------------------------

rm -f "$OUT"/*.[0-9]*
write_conf "" mode=monitor
start
NP=$(notifier_pid)
check "notify_command empty: the notifier runs all the same (a reload may turn it on)" test -n "$NP"
restrict_fabrikam mo
sed -i "s|^notify_command = .*|notify_command = $D/record.sh|" "$D/rg.conf"
check "a reload takes notify_command" "$CTL" -c "$D/rg.conf" reload
restrict_fabrikam mo2
sleep 1
expect_eq "monitor mode notifies nothing" "0 0" \
	"$(files_of tenant_restricted) $(files_of tenant_unblocked)"
sed -i "s|^mode = .*|mode = enforce|" "$D/rg.conf"
"$CTL" -c "$D/rg.conf" reload >/dev/null
restrict_fabrikam en
check "after a reload to enforce, the command runs" wait_for has_files tenant_restricted 1
rg_agent_stop

done_testing
