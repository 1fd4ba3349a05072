#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# audit_repeat.sh: the audit log stays bounded under a flood of would_reject events.
# relayguardd in mode = monitor in namespaces made here (rgar-relay, rgar-c1; one veth;
# no default route; torn down on exit). 100,000 would_reject requests from one host over
# the agent's policy socket write one full line and count the rest; a second host gets its
# own; /metrics and relayguardctl tenants count every transaction; SIGUSR1 (rotation)
# writes what was counted into the old file; a stop writes the pending aggregate; the full
# lines plus the repeats are every would_reject. Then audit_repeat_interval = 1s: the
# aggregate is written when its interval ends, with no stop; and 0 writes every event.
set -u
. "$(dirname "$0")/../lib.sh"

P=rgar
RELAY=$P-relay C1=$P-c1
rg_ns_add $RELAY $C1 || exit 1
rg_agent_fixture $RELAY $P || exit 1
D=$RG_DIR CTL=$RG_CTL
rg_veth $RELAY r1 $C1 e0 || exit 1
ip -n $RELAY addr add 192.0.2.1/24 dev r1
expect_eq "no namespace has a default route" "" "$(rg_default_routes $RELAY $C1)"

CLIENT="python3 $RG_ROOT/tests/e2e/policy_client.py"
POLICY=unix:$D/policy.sock
LOG=$D/state/audit.log
N=${AUDIT_FLOOD:-100000}
LIM=1

# Under ASan (sanitizers.sh) the leak check at exit clones a tracer, which the agent's
# syscall filter kills: there the filter is off (agent.sh tests it), so leaks are checked.
SAN=()
[ -n "${ASAN_OPTIONS:-}" ] && SAN=(seccomp=no)
write_conf() {
	rg_agent_conf mode=monitor "${SAN[@]}" "$@" <<EOT
[limits]
unregistered_limit = $LIM
unregistered_window = 1h

[tenant one]
connectors = 192.0.2.0/24
accepted_domains = one.example
EOT
}
# lines FILTER [FILE]: audit lines that match the jq filter.
lines() { jq -c "select($1)" "${2:-$LOG}" 2>/dev/null | wc -l; }
# repeats FILTER [FILE]: the repeats of the would_reject_repeated lines that match.
repeats() {
	jq -s "[.[] | select(.event==\"would_reject_repeated\" and ($1)) | .repeats] | add // 0" \
		"${2:-$LOG}" 2>/dev/null
}
# flood HOST COUNT: COUNT requests of unregistered senders from HOST, 100 in flight.
flood() {
	$CLIENT stream "$POLICY" "x@spam.example" DUNNO --client "$1" --n "$2" --batch 100 \
		--max-s 300
}
start() {
	rm -f "$LOG"
	if ! rg_agent_start; then
		fail "relayguardd starts"
		done_testing
		exit 1
	fi
}

write_conf
start
A='.host=="192.0.2.10/32"' B='.host=="192.0.2.11/32"'
out=$(flood 192.0.2.10 $((N + LIM)))
expect_eq "$((N + LIM)) requests, all answered DUNNO (monitor)" "0" "$?"
diag "$out"
# The budget is the tenant's: spent by host A, so each of B's is a would_reject too.
out=$(flood 192.0.2.11 5)
expect_eq "a second host: answered" "0" "$?"
expect_eq "metrics: every would_reject counted" "$((N + 5))" \
	"$(rg_agent_metric relayguard_would_reject_total)"
expect_eq "tenants: every transaction counted" "$((N + LIM + 5))" \
	"$("$CTL" -c "$D/rg.conf" tenants --json | jq '.tenants[] | select(.name=="one") | .unregistered')"
expect_eq "one full would_reject line per host so far" "1 1" \
	"$(lines ".event==\"would_reject\" and $A") $(lines ".event==\"would_reject\" and $B")"
expect_eq "nothing written for the counted ones yet (the interval is 60 s)" "0" \
	"$(lines '.event=="would_reject_repeated"')"
expect_eq "metrics: the counted events" "$((N + 5 - 2))" \
	"$(rg_agent_metric relayguard_audit_repeated_total)"
total=$(wc -l <"$LOG")
[ "$total" -le 20 ] && ok "audit log bounded: $total lines for $((N + 5)) would_reject" ||
	fail "audit log bounded: $total lines for $((N + 5)) would_reject"

# Rotation: logrotate moves the file, SIGUSR1 reopens; what was counted goes to the old
# file, next to the full lines it counts.
mv "$LOG" "$LOG.1"
kill -USR1 "$RG_AGENT_PID"
for ((i = 0; i < 50; i++)); do [ -e "$LOG" ] && break; sleep 0.1; done
expect_eq "SIGUSR1: the old file got host A's aggregate ($((N - 1)) repeats)" "$((N - 1))" \
	"$(repeats "$A" "$LOG.1")"
expect_eq "SIGUSR1: ...and host B's (4)" "4" "$(repeats "$B" "$LOG.1")"
first=$(jq -r "select(.event==\"would_reject_repeated\" and $A) | .first" "$LOG.1")
last=$(jq -r "select(.event==\"would_reject_repeated\" and $A) | .last" "$LOG.1")
[ -n "$first" ] && [[ ! "$last" < "$first" ]] && ok "aggregate has first ($first) <= last ($last)" ||
	fail "aggregate has first and last: '$first' '$last'"
expect_eq "aggregate names tenant, host, mode and the last sender" \
	'"one" "192.0.2.10/32" "monitor" "x@spam.example"' \
	"$(jq -r "select(.event==\"would_reject_repeated\" and $A) | [.tenant, .host, .mode, .sender] | map(@json) | join(\" \")" "$LOG.1")"

# After the rotation a new interval: one full line, then counted; the stop writes it.
flood 192.0.2.10 10 >/dev/null
expect_eq "after rotation: one full line in the new file" "1" "$(lines ".event==\"would_reject\" and $A")"
rg_agent_stop
expect_eq "stop: clean exit" "0" "$?"
expect_eq "stop: the pending aggregate is written (9 repeats)" "9" "$(repeats "$A")"
cat "$LOG.1" "$LOG" >"$D/all.log"
expect_eq "full lines + repeats = every would_reject" "$((N + 5 + 10))" \
	"$(($(lines '.event=="would_reject"' "$D/all.log") + $(repeats true "$D/all.log")))"

# An interval of 1 s: the aggregate is written when it ends, the agent still running. (The
# tenant's spent budget is in the saved state: every request is a would_reject.)
write_conf audit_repeat_interval=1s
start
flood 192.0.2.10 20 >/dev/null
for ((i = 0; i < 50; i++)); do [ "$(repeats "$A")" = 19 ] && break; sleep 0.1; done
expect_eq "interval 1s: the aggregate is written by the timer (19 repeats)" "19" "$(repeats "$A")"
rg_agent_stop
# 0: every event a line of its own.
write_conf audit_repeat_interval=0
start
flood 192.0.2.10 20 >/dev/null
expect_eq "interval 0: a line per would_reject" "20 0" \
	"$(lines ".event==\"would_reject\" and $A") $(lines '.event=="would_reject_repeated"')"
rg_agent_stop
! grep -qi 'sanitizer\|runtime error' "$D/agent.log" && ok "no sanitizer report in the log" ||
	fail "no sanitizer report in the log"
done_testing
