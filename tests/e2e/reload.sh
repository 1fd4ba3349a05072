#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# reload.sh: reloads run off the agent's loop and coalesce. A configuration whose include
# and accepted-domain files hold 1,000,000 domains, relayguardd started on it in namespaces
# made here (rgrl-relay, rgrl-c1; one veth; no default route; torn down on exit); then 200
# SIGHUPs in a bounded loop while a client sends sequential policy requests over the
# agent's socket: every request is answered, right; far fewer than 200 loads ran
# (relayguard_reloads_total); a domain written before the last SIGHUP is in force after
# it; relayguardctl reload during the storm answers with the outcome of a load that read
# the files after it asked; SIGTERM during a load stops the agent within the bound. The
# worst and p99 latency of the storm are reported (a "bench-reload storm" diagnostic line),
# never asserted.
set -u
. "$(dirname "$0")/../lib.sh"

P=rgrl
RELAY=$P-relay C1=$P-c1
rg_ns_add $RELAY $C1 || exit 1
rg_agent_fixture $RELAY $P || exit 1
D=$RG_DIR CTL=$RG_CTL
AGENT=${RELOAD_AGENT:-$RG_AGENT}	# bench-reload compares another build's agent
RG_AGENT=$AGENT
rg_veth $RELAY r1 $C1 e0 || exit 1
ip -n $RELAY addr add 192.0.2.1/24 dev r1
ip -n $C1 addr add 192.0.2.10/24 dev e0
expect_eq "no namespace has a default route" "" "$(rg_default_routes $RELAY $C1)"

N=${RELOAD_DOMAINS:-1000000} HUPS=${RELOAD_SIGHUPS:-200}
CLIENT="python3 $RG_ROOT/tests/e2e/policy_client.py"
POLICY=unix:$D/policy.sock
REJECT="550 5.7.750 Service unavailable. Client blocked from sending from unregistered domains"

# Half the domains in the main file's tenant, half in a file of an included tenant.
awk -v n=$((N / 2)) 'BEGIN { for (i = 0; i < n; i++) print "d" i ".one.example" }' >"$D/one.txt"
awk -v n=$((N - N / 2)) 'BEGIN { for (i = 0; i < n; i++) print "d" i ".two.example" }' >"$D/two.txt"
printf '[tenant two]\nconnectors = 198.51.100.0/24\naccepted_domains_file = two.txt\n' >"$D/inc.conf"
# Under ASan (sanitizers.sh) the leak check at exit clones a tracer, which the agent's
# syscall filter kills: there the filter is off (agent.sh tests it), so leaks are checked.
SAN=()
[ -n "${ASAN_OPTIONS:-}" ] && SAN=(seccomp=no)
rg_agent_conf mode=enforce "${SAN[@]}" <<EOT
[limits]
unregistered_limit = 1
unregistered_window = 1h

[tenant one]
connectors = 192.0.2.0/24
accepted_domains_file = one.txt

include = inc.conf
EOT
chown -R relayguard: "$D"
expect_eq "the files hold $N domains" "$N" "$(cat "$D/one.txt" "$D/two.txt" | wc -l)"
check "relayguardd -t accepts the configuration" "$AGENT" -t -c "$D/rg.conf"
if ! RG_AGENT_WAIT=60 rg_agent_start; then
	fail "relayguardd starts"
	done_testing
	exit 1
fi
ok "relayguardd starts on $N domains"

# req SENDER: one request of tenant one's host; prints the action.
req() {
	printf 'request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=192.0.2.10\nsender=%s\ninstance=q%s\n\n' \
		"$1" "$RANDOM" | socat -t 5 - "UNIX-CONNECT:$D/policy.sock" | sed -n 's/^action=//p'
}
# loads: loads that ended (taken or refused).
loads() {
	echo $(($(rg_agent_metric relayguard_reloads_total) +
		$(rg_agent_metric relayguard_reload_failures_total)))
}
# settled: wait (up to 180 s) until no load is running: the count stays still for 3 s.
settled() {
	local last=-1 now i
	for ((i = 0; i < 60; i++)); do
		now=$(loads)
		[ "$now" = "$last" ] && return 0
		last=$now
		sleep 3
	done
	return 1
}

# Restrict tenant one (budget 1): from now on an unregistered sender domain is refused,
# so a request tells whether a domain is in the configuration in force.
req u1@nowhere.example >/dev/null
req u2@nowhere.example >/dev/null
expect_eq "tenant one restricted: unregistered domain refused" "$REJECT" "$(req u3@fresh.example)"
expect_eq "registered domain (main file's tenant) passes" "DUNNO" "$(req a@d499.one.example)"

# A load runs beside the loop: once the agent has seen a SIGHUP (its metric, served by the
# loop), a request is answered before that load's "reloaded" line is logged (a load of
# N domains takes far longer than a request; a loop that loaded would answer after it).
done0=$(grep -c '^<6>reloaded' "$D/agent.log")
kill -HUP "$RG_AGENT_PID"
for ((i = 0; i < 50; i++)); do
	[ "$(rg_agent_metric relayguard_reload_requests_total)" = 1 ] && break
	sleep 0.02
done
expect_eq "the SIGHUP is seen at once (relayguard_reload_requests_total)" "1" \
	"$(rg_agent_metric relayguard_reload_requests_total)"
expect_eq "a request during the load is answered" "DUNNO" "$(req a@d1.one.example)"
expect_eq "...before the load is done (no reloaded line yet)" "$done0" \
	"$(grep -c '^<6>reloaded' "$D/agent.log")"
settled || fail "the load settles"
expect_eq "then the load is done" "$((done0 + 1))" "$(grep -c '^<6>reloaded' "$D/agent.log")"

# The storm: sequential requests on one connection while SIGHUPs arrive.
asked0=$(rg_agent_metric relayguard_reload_requests_total)
before=$(loads)
rm -f "$D/stop"
$CLIENT stream "$POLICY" a@d7.one.example DUNNO --until "$D/stop" --max-s 300 \
	>"$D/stream.out" 2>&1 &
STREAM=$!
rg_on_exit "kill $STREAM"
sleep 0.5
t0=$(date +%s%N)
for ((i = 1; i <= HUPS; i++)); do
	if [ $i -eq $((HUPS / 2)) ]; then
		# Mid-storm, a control reload: its reply is the outcome of a load that read the
		# files after it asked, so a domain written just before is in force at its reply.
		echo "ctl.one.example" >>"$D/one.txt"
		out=$("$CTL" -c "$D/rg.conf" reload 2>&1)
		expect_eq "relayguardctl reload during the storm: exit 0" "0" "$?"
		echo "$out" | grep -q '^reloaded' && ok "relayguardctl reload reply: reloaded" ||
			fail "relayguardctl reload reply: $out"
		expect_eq "its reload read the domain written before it" "DUNNO" "$(req u@ctl.one.example)"
	fi
	# The last SIGHUP comes after a change: the load it makes must read it.
	[ $i -eq "$HUPS" ] && echo "fresh.example" >>"$D/one.txt"
	kill -HUP "$RG_AGENT_PID" || break
	sleep 0.005
done
t1=$(date +%s%N)
check "agent alive after $HUPS SIGHUPs" kill -0 "$RG_AGENT_PID"
settled || fail "the loads settle within 180 s"
touch "$D/stop"
wait "$STREAM"
rc=$?
out=$(cat "$D/stream.out")
expect_eq "storm client: every request answered, DUNNO (exit 0)" "0" "$rc"
diag "storm client: $out"
sent=$(echo "$out" | sed -n 's/.*sent=\([0-9]*\).*/\1/p')
answered=$(echo "$out" | sed -n 's/.*answered=\([0-9]*\).*/\1/p')
[ "${sent:-0}" -gt 0 ] && [ "$sent" = "$answered" ] && ok "requests answered: $answered of $sent" ||
	fail "requests answered: ${answered:-?} of ${sent:-?}"
n=$(($(loads) - before))
diag "loads for $HUPS SIGHUPs and 1 control reload: $n (storm of $(((t1 - t0) / 1000000)) ms)"
[ "$n" -ge 2 ] && [ "$n" -le $((HUPS / 4)) ] && ok "SIGHUPs coalesced: $n loads for $HUPS" ||
	fail "SIGHUPs coalesced: $n loads for $HUPS"
# The kernel merges a SIGHUP sent while one is still pending: at most HUPS + 1 are seen.
asked=$(($(rg_agent_metric relayguard_reload_requests_total) - asked0))
[ "$asked" -gt "$n" ] && [ "$asked" -le $((HUPS + 1)) ] &&
	ok "reload requests counted: $asked (more than the loads)" ||
	fail "reload requests counted: $asked (loads $n, sent $((HUPS + 1)))"
expect_eq "no load refused" "0" "$(rg_agent_metric relayguard_reload_failures_total)"
expect_eq "the last SIGHUP's configuration is in force" "DUNNO" "$(req u@fresh.example)"
expect_eq "the included tenant's domains are still there" "2" \
	"$("$CTL" -c "$D/rg.conf" tenants --json | jq '.tenants | length')"
max=$(echo "$out" | sed -n 's/.*max_ms=\([0-9.]*\).*/\1/p')
p99=$(echo "$out" | sed -n 's/.*p99_ms=\([0-9.]*\).*/\1/p')
echo "# bench-reload storm sighups=$HUPS domains=$N policy_max_ms=$max policy_p99_ms=$p99 reloads=$n"

# SIGTERM while a load runs: the agent stops within the bound (the load is cancelled; the
# bound leaves room for ASan's leak check at exit).
kill -HUP "$RG_AGENT_PID"
sleep 0.2
t0=$(date +%s%N)
kill -TERM "$RG_AGENT_PID"
# running: the agent has not exited (an exited child stays a zombie until waited for).
running() { [ "$(awk '{print $3}' "/proc/$RG_AGENT_PID/stat" 2>/dev/null)" != "" ] &&
	[ "$(awk '{print $3}' "/proc/$RG_AGENT_PID/stat" 2>/dev/null)" != Z ]; }
for ((i = 0; i < 300; i++)); do
	running || break
	sleep 0.05
done
t1=$(date +%s%N)
if running; then
	fail "SIGTERM during a load: the agent stops within 15 s"
else
	ok "SIGTERM during a load: the agent stops within 15 s"
fi
diag "stopped $(((t1 - t0) / 1000000)) ms after SIGTERM"
rg_agent_stop
expect_eq "clean exit status" "0" "$?"
grep -q 'stopping' "$D/agent.log" && ok "the agent logged its stop" || fail "the agent logged its stop"
! grep -qi 'sanitizer\|runtime error' "$D/agent.log" && ok "no sanitizer report in the log" ||
	fail "no sanitizer report in the log"
done_testing
