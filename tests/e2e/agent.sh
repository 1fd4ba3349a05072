#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# agent.sh: relayguardd with its kernel side, in namespaces this suite creates (rgag-relay,
# rgag-c1, rgag-c2; veth pairs; no default route; torn down on exit). Policy requests over
# the agent's real socket walk a tenant through its budget into restriction; the host that
# keeps trying is blocked in the pinned map and its SYNs to port 25 are dropped while
# another host still connects. Then: relayguardctl (status/tenants/hosts --json, a CIDR
# verdict listed with drops and expiry, unblock), kill -9 (the kernel keeps enforcing; the
# pinned-map fallback lists the same rows as the agent did; restart restores restrictions
# and verdicts), reload (good and bad, SIGHUP and relayguardctl), relayguardd -t, a
# non-root control client, the control socket out of descriptors (prlimit), the metrics
# tools/monitoring names, relayguardctl's completion, the attach-lost metric.
set -u
. "$(dirname "$0")/../lib.sh"

P=rgag
RELAY=$P-relay C1=$P-c1 C2=$P-c2
rg_ns_add $RELAY $C1 $C2 || exit 1
rg_agent_fixture $RELAY $P || exit 1
D=$RG_DIR PIN=$RG_PIN AGENT=$RG_AGENT CTL=$RG_CTL
# One veth per client; the agent attaches to both relay-side ends.
rg_veth $RELAY r1 $C1 e0 && rg_veth $RELAY r2 $C2 e0 || exit 1
ip -n $RELAY addr add 192.0.2.1/24 dev r1
ip -n $RELAY addr add 198.51.100.1/24 dev r2
ip -n $C1 addr add 192.0.2.10/24 dev e0
ip -n $C2 addr add 198.51.100.10/24 dev e0

expect_eq "no namespace has a default route" "" "$(rg_default_routes $RELAY $C1 $C2)"

# An SMTP-port listener in the relay: accepts and holds connections.
rg_ns_bg $RELAY python3 -c '
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 25)); s.listen(512)
conns = []
end = time.time() + 600
s.settimeout(1)
while time.time() < end:
    try:
        c, _ = s.accept(); c.sendall(b"220 test\r\n"); conns.append(c)
    except socket.timeout:
        pass
'

write_conf() {
	rg_agent_conf interfaces="r1 r2" attach_mode="${ATTACH:-native}" mode="${MODE:-enforce}" \
		connector_table_size="${CONN_TABLE:-70000}" <<EOF
[limits]
unregistered_limit = 3
unregistered_window = 1h
flood_limit = 4
flood_block_time = 15m

[tenant contoso]
connectors = 192.0.2.0/24
accepted_domains = contoso.example *.contoso.example

[tenant fabrikam]
connectors = 198.51.100.0/24
accepted_domains = fabrikam.example ${EXTRA_DOMAINS:-}
${EXTRA_TENANT:-}
EOF
}

# req CLIENT SENDER INSTANCE: one policy request; prints the action.
req() { rg_policy_req "$@"; }

# connects NS ADDR: does a TCP connect to ADDR:25 from NS succeed within 2 s?
connects() { rg_tcp_connects "$@"; }

# stat_of FIELD: a per-CPU counter of the pinned stats map, summed (BTF-formatted dump).
stat_of() {
	bpftool -j map dump pinned "$PIN/stats" | jq "[.[0].formatted.values[].value.$1] | add"
}

REJECT="550 5.7.750 Service unavailable. Client blocked from sending from unregistered domains"

write_conf
check "relayguardd -t accepts the configuration" "$AGENT" -t -c "$D/rg.conf"
if ! rg_agent_start; then
	fail "relayguardd starts"
	sed 's/^/#   /' "$D/agent.log"
	done_testing
	exit 1
fi
ok "relayguardd starts, policy and control sockets up"
expect_eq "the connector map is sized from connector_table_size" "70000" \
	"$(bpftool -j map show pinned "$PIN/connectors" | jq .max_entries)"
# After start the agent keeps CAP_BPF (bit 39) and nothing else.
expect_eq "agent holds only CAP_BPF" "0000008000000000 0000008000000000" \
	"$(awk '/^CapEff|^CapBnd/ {print $2}' /proc/$RG_AGENT_PID/status | tr '\n' ' ' | sed 's/ $//')"
# ...as user relayguard (uid, effective, saved and filesystem uid), with no_new_privs.
privs_of() {
	awk '/^Uid:/ {u = $2 " " $3 " " $4 " " $5} /^CapPrm/ {p = $2} /^CapEff/ {e = $2}
		/^NoNewPrivs/ {n = $2} END {print u, p, e, n}' /proc/"$1"/status
}
ru=$(id -u relayguard)
expect_eq "agent runs as relayguard, CAP_BPF permitted and effective, no_new_privs" \
	"$ru $ru $ru $ru 0000008000000000 0000008000000000 1" "$(privs_of $RG_AGENT_PID)"
expect_eq "state_dir belongs to the agent's user" "relayguard" "$(stat -c %U "$D/state")"
# The syscall filter is in force (mode 2: filter). The agent has no command that makes a
# forbidden call, and adding one would be a way in: the probe loads the same filter through
# the same function (user/sandbox.c) and then calls execve or ptrace, which must kill it.
expect_eq "agent runs under a seccomp filter" "2" \
	"$(awk '/^Seccomp:/ {print $2}' /proc/$RG_AGENT_PID/status)"
# The probe loads the agent's filter in a plain build: under ASan its runtime makes calls
# of its own that the agent's list has no reason to allow (sanitizers.sh points here).
PROBE=${RG_SECCOMP_PROBE:-$RG_ROOT/$BUILD/tests/helpers/seccomp_probe}
check "filter: the calls the agent makes are allowed" "$PROBE" allowed
check "filter: a thread, as the configuration loader starts" "$PROBE" thread
for call in execve ptrace fork; do
	"$PROBE" $call >/dev/null 2>&1
	expect_eq "filter: $call kills the process (SIGSYS, 128+31)" "159" "$?"
done

check "c1 connects to port 25 before any verdict" connects $C1 192.0.2.1
check "c2 connects to port 25" connects $C2 198.51.100.1

# The budget ladder, over the agent's real socket.
expect_eq "registered sender passes" "DUNNO" "$(req 192.0.2.10 a@contoso.example t1)"
for i in 1 2 3; do
	expect_eq "unregistered #$i within the budget passes" "DUNNO" \
		"$(req 192.0.2.10 "x@spam$i.example" u$i)"
done
expect_eq "unregistered #4 (limit+1) gets the exact 5.7.750 reply" "$REJECT" \
	"$(req 192.0.2.10 x@spam4.example u4)"
expect_eq "the same transaction asked again (DATA) answers the same" "$REJECT" \
	"$(req 192.0.2.10 x@spam4.example u4)"
expect_eq "registered sender of the restricted tenant still passes" "DUNNO" \
	"$(req 192.0.2.10 b@mx.contoso.example t2)"
expect_eq "other tenant unaffected" "DUNNO" "$(req 198.51.100.10 x@spam.example o1)"
expect_eq "unassigned client always DUNNO" "DUNNO" "$(req 203.0.113.5 x@spam.example n1)"

tj=$("$CTL" -c "$D/rg.conf" tenants --json)
expect_eq "relayguardctl tenants: contoso restricted" "restricted" \
	"$(echo "$tj" | jq -r '.tenants[] | select(.name=="contoso") | .state')"
expect_eq "relayguardctl tenants: fabrikam ok" "ok" \
	"$(echo "$tj" | jq -r '.tenants[] | select(.name=="fabrikam") | .state')"

# Escalation: more than flood_limit (4) rejected transactions in a minute blocks the host.
for i in 5 6 7 8; do req 192.0.2.10 "x@spam$i.example" u$i >/dev/null; done
vh=$(bpftool -j map dump pinned "$PIN/verdict_hosts" | jq '[.[] | .formatted]')
expect_eq "flooding host blocked in the pinned verdict map (action 1, origin flood)" "1 1" \
	"$(echo "$vh" | jq -r '[.[] | select(.key.addr[12:16]==[192,0,2,10]) | .value | "\(.action) \(.origin)"][0]')"
drops_before=$(stat_of drop_block)
if connects $C1 192.0.2.1; then fail "blocked host's SYNs dropped at XDP"; else ok "blocked host's SYNs dropped at XDP"; fi
[ "$(stat_of drop_block)" -gt "$drops_before" ] && ok "drop_block counter rose" || fail "drop_block counter rose"
check "another host still connects" connects $C2 198.51.100.1

hj=$("$CTL" -c "$D/rg.conf" hosts --json)
expect_eq "relayguardctl hosts shows the block with origin flood" "block flood" \
	"$(echo "$hj" | jq -r '.hosts[] | select(.address=="192.0.2.10/32") | "\(.verdict) \(.origin)"')"
sj=$("$CTL" -c "$D/rg.conf" status --json)
expect_eq "status: 1 tenant restricted, 1 host blocked" "1 1" \
	"$(echo "$sj" | jq -r '"\(.tenants_restricted) \(.hosts_blocked)"')"
# A CIDR verdict is listed like a host's: drops and expiry; every row has origin and drops.
check "relayguardctl block host CIDR" "$CTL" -c "$D/rg.conf" block host 203.0.113.0/24 --for 1h
hj_agent=$("$CTL" -c "$D/rg.conf" hosts --json --top 0)
expect_eq "hosts lists the CIDR verdict with origin, drops and expiry" "block operator 0 true" \
	"$(echo "$hj_agent" | jq -r '.hosts[] | select(.address=="203.0.113.0/24") | "\(.verdict) \(.origin) \(.drops) \(.expires > 0)"')"
expect_eq "every hosts row has origin and drops" "true" \
	"$(echo "$hj_agent" | jq '[.hosts[] | has("origin") and has("drops")] | all')"
expect_eq "status counts the CIDR block" "2" "$("$CTL" -c "$D/rg.conf" status --json | jq .hosts_blocked)"
# ADDR without /LEN is the host that contains it: an IPv6 address means its /64.
expect_eq "block host IPv6 ADDR blocks its /64 host" "2001:db8:77::/64" \
	"$("$CTL" -c "$D/rg.conf" --json block host 2001:db8:77::5 --for 1h | jq -r .host)"
expect_eq "unblock host with another address of that /64 lifts it" "false" \
	"$("$CTL" -c "$D/rg.conf" --json unblock host 2001:db8:77::9 | jq -r .already)"
expect_eq "the /64 host is no longer listed" "" \
	"$("$CTL" -c "$D/rg.conf" hosts --json --top 0 | jq -r '.hosts[] | select(.address=="2001:db8:77::/64") | .verdict')"
grep -q '"event":"tenant_restricted"' "$D/state/audit.log" && ok "audit log has the restriction" ||
	fail "audit log has the restriction"
if python3 -c '
import json, sys
for line in open(sys.argv[1]):
    json.loads(line)' "$D/state/audit.log"; then ok "every audit line is JSON"; else fail "every audit line is JSON"; fi

# kill -9: the kernel keeps enforcing; restart restores restriction and verdict.
rg_agent_stop KILL
# The agent's listing and relayguardctl's own, on the same maps, agree row for row
# (rates decay between the two reads; times may cross a second).
hj_maps=$("$CTL" -c "$D/rg.conf" --json hosts --top 0 2>/dev/null)
if out=$(python3 "$RG_ROOT/tests/e2e/hosts_agree.py" "$hj_agent" "$hj_maps" 2>&1); then
	ok "hosts: the agent's listing and the pinned-map fallback agree"
else
	fail "hosts: the agent's listing and the pinned-map fallback agree"
	printf '%s\n' "$out" | sed 's/^/#   /'
fi
expect_eq "the fallback says where it read" "pinned_maps" "$(echo "$hj_maps" | jq -r .source)"
if connects $C1 192.0.2.1; then fail "agent killed: block still enforced"; else ok "agent killed: block still enforced"; fi
hj=$("$CTL" -c "$D/rg.conf" --json hosts 2>/dev/null)
expect_eq "relayguardctl hosts works with the agent down (pinned maps)" "block" \
	"$(echo "$hj" | jq -r '.hosts[] | select(.address=="192.0.2.10/32") | .verdict')"
# An operator block written straight into the pinned maps while the agent is down...
check "relayguardctl block host with the agent down" "$CTL" -c "$D/rg.conf" block host 203.0.113.77 --for 1h
# A throttle too: 600/1m is one connection per 100 ms with 60 intervals of burst, written
# by relayguardctl exactly as the agent would, and adopted with the same interval and burst.
check "relayguardctl throttle host with the agent down" "$CTL" -c "$D/rg.conf" throttle host 203.0.113.78 --rate 600/1m --for 1h
# Restarted with fewer descriptors than max_policy_connections (1024) plus the margin.
rg_agent_start prlimit --nofile=1024:1024 && ok "agent restarted" ||
	fail "agent restarted"
grep -q "RLIMIT_NOFILE is 1024, below max_policy_connections (1024)" "$D/agent.log" &&
	ok "start warns: RLIMIT_NOFILE below max_policy_connections plus a margin" ||
	fail "start warns: RLIMIT_NOFILE below max_policy_connections plus a margin"
# ...is adopted by the agent at start: listed, persisted, lifted through it.
expect_eq "block written while the agent was down is adopted (in its saved state)" "1" \
	"$(jq '[.verdicts[] | select(.target=="203.0.113.77/32")] | length' "$D/state/state.json")"
check "adopted block lifted through the agent" "$CTL" -c "$D/rg.conf" unblock host 203.0.113.77
expect_eq "throttle written while the agent was down keeps its interval and burst" \
	"100000000 6000000000" \
	"$(jq -r '.verdicts[] | select(.target=="203.0.113.78/32") | "\(.interval_ns) \(.burst_ns)"' "$D/state/state.json")"
check "adopted throttle lifted through the agent" "$CTL" -c "$D/rg.conf" unblock host 203.0.113.78
check "CIDR verdict lifted through the agent" "$CTL" -c "$D/rg.conf" unblock host 203.0.113.0/24
expect_eq "after restart the tenant is still restricted" "$REJECT" \
	"$(req 192.0.2.10 x@after.example r1)"
expect_eq "after restart the verdict is still in the engine" "block" \
	"$("$CTL" -c "$D/rg.conf" hosts --json | jq -r '.hosts[] | select(.address=="192.0.2.10/32") | .verdict')"

# Operator: block, throttle, restrict through the running agent.
check "relayguardctl block host --for" "$CTL" -c "$D/rg.conf" block host 198.51.100.99 --for 10m
check "relayguardctl throttle host --rate" "$CTL" -c "$D/rg.conf" throttle host 198.51.100.98 --rate 6/1m --for 10m
vj=$(bpftool -j map dump pinned "$PIN/verdict_hosts" | jq '[.[] | .formatted]')
expect_eq "throttle in the kernel: action 2, 10 s between connections" "2 10000000000" \
	"$(echo "$vj" | jq -r '[.[] | select(.key.addr[12:16]==[198,51,100,98]) | .value | "\(.action) \(.interval_ns)"][0]')"
expect_eq "block in the kernel expires (expires_ns set)" "true" \
	"$(echo "$vj" | jq -r '[.[] | select(.key.addr[12:16]==[198,51,100,99]) | .value.expires_ns > 0][0]')"
check "relayguardctl unblock host (throttled)" "$CTL" -c "$D/rg.conf" unblock host 198.51.100.98
check "relayguardctl unblock host (blocked)" "$CTL" -c "$D/rg.conf" unblock host 198.51.100.99
# Durations whose expiry would not fit: refused, never wrapped into the past.
out=$("$CTL" -c "$D/rg.conf" block host 192.0.2.99 --for 213503d 2>&1)
expect_eq "block host --for 213503d: refused with exit 2" "2" "$?"
expect_eq "the refusal names the limit" "1" "$(echo "$out" | grep -c 'limit, 106751d')"
out=$("$CTL" -c "$D/rg.conf" block host 192.0.2.99 --for 106751d 2>&1)
expect_eq "block host --for 106751d: the expiry is in 2262, not the past" "0 1" \
	"$? $(echo "$out" | grep -c 'until 2262-')"
sleep 1.2	# one engine tick: an expiry in the past would have lifted it
expect_eq "the long block is still listed after a tick" "block" \
	"$("$CTL" -c "$D/rg.conf" hosts --json --top 0 | jq -r '.hosts[] | select(.address=="192.0.2.99/32") | .verdict')"
check "the long block is lifted" "$CTL" -c "$D/rg.conf" unblock host 192.0.2.99
expect_eq "control socket: for_s past the limit is a bad request" "false" \
	"$(python3 -c '
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1])
s.sendall(json.dumps({"cmd": "block_host", "host": "192.0.2.98", "for_s": 10**12}).encode() + b"\n")
print(json.dumps(json.loads(s.makefile().readline())["ok"]))' "$D/control.sock")"
check "relayguardctl restrict tenant fabrikam" "$CTL" -c "$D/rg.conf" restrict tenant fabrikam
expect_eq "restricted by operator: unregistered rejected" "$REJECT" "$(req 198.51.100.10 y@spam.example op1)"
expect_eq "restricted by operator: registered passes" "DUNNO" "$(req 198.51.100.10 y@fabrikam.example op2)"
out=$("$CTL" -c "$D/rg.conf" restrict tenant fabrikam 2>&1)
expect_eq "restricting a restricted tenant: exit 0 (idempotent)" "0" "$?"
expect_eq "restricting a restricted tenant says so" "already restricted:" "$(cut -d' ' -f1,2 <<<"$out")"
check "relayguardctl unblock tenant fabrikam" "$CTL" -c "$D/rg.conf" unblock tenant fabrikam

# Operator: unblock host and tenant.
check "relayguardctl unblock host" "$CTL" -c "$D/rg.conf" unblock host 192.0.2.10
check "unblocked host connects again" connects $C1 192.0.2.1
check "relayguardctl unblock tenant contoso" "$CTL" -c "$D/rg.conf" unblock tenant contoso
expect_eq "after unblock, a fresh budget: unregistered passes" "DUNNO" \
	"$(req 192.0.2.10 x@fresh.example f1)"
"$CTL" -c "$D/rg.conf" unblock tenant nosuch >/dev/null 2>&1
expect_eq "unknown tenant: exit code 1" "1" "$?"
"$CTL" -c "$D/rg.conf" block host 192.0.2.300 >/dev/null 2>&1
expect_eq "bad address: exit code 2" "2" "$?"

# Reload: a bad configuration is refused and the old one keeps running.
cp "$D/rg.conf" "$D/rg.conf.good"
echo "bogus_key = 1" >>"$D/rg.conf"
out=$("$CTL" -c "$D/rg.conf.good" reload 2>&1)
rc=$?
[ $rc -ne 0 ] && ok "bad reload refused (exit $rc)" || fail "bad reload refused"
echo "$out" | grep -q 'rg.conf:[0-9]*:' && ok "refusal names FILE:LINE" || fail "refusal names FILE:LINE"
expect_eq "old configuration still decides" "DUNNO" "$(req 198.51.100.10 y@fabrikam.example g1)"
# More connectors than the running map holds: refused (connector_table_size is restart-only),
# never written half into the kernel.
many=$(python3 -c 'print("[tenant many]\nconnectors = " + " ".join(
    "10.%d.%d.%d" % (i >> 16, (i >> 8) & 255, i & 255) for i in range(70001)))')
CONN_TABLE=140000 write_conf
echo "$many" >>"$D/rg.conf"	# appended: too long for the environment
out=$("$CTL" -c "$D/rg.conf" reload 2>&1)
expect_eq "reload over the running connector map refused, naming the limit" "1 1" \
	"$? $(echo "$out" | grep -c '70003 connectors, the running connector map holds 70000')"
expect_eq "the running configuration has no tenant many" "" \
	"$("$CTL" -c "$D/rg.conf" tenants --json | jq -r '.tenants[] | select(.name=="many") | .name')"
CONN_TABLE=65536 write_conf
echo "$many" >>"$D/rg.conf"
out=$("$AGENT" -t -c "$D/rg.conf" 2>&1)
expect_eq "relayguardd -t refuses more connectors than connector_table_size (exit 78)" "78 1" \
	"$? $(echo "$out" | grep -c '70003 connectors, more than connector_table_size (65536)')"
# A good reload registers a new domain.
EXTRA_DOMAINS=newly.example write_conf
check "relayguardctl reload" "$CTL" -c "$D/rg.conf" reload
expect_eq "domain added by reload is registered" "DUNNO" "$(req 198.51.100.10 z@newly.example g2)"
# A reload that moves a known host to another tenant retags it in the kernel's hosts map.
expect_eq "c2's host entry is tagged fabrikam" "fabrikam" \
	"$("$CTL" -c "$D/rg.conf" hosts --json | jq -r '.hosts[] | select(.address=="198.51.100.10/32") | .tenant')"
EXTRA_DOMAINS=newly.example EXTRA_TENANT=$'[tenant northwind]\nconnectors = 198.51.100.0/25' write_conf
check "reload with a nested connector for a new tenant" "$CTL" -c "$D/rg.conf" reload
expect_eq "c2's host entry retagged to northwind" "northwind" \
	"$("$CTL" -c "$D/rg.conf" hosts --json | jq -r '.hosts[] | select(.address=="198.51.100.10/32") | .tenant')"
expect_eq "c2 now decided as northwind (fabrikam.example unregistered there: within budget)" \
	"DUNNO" "$(req 198.51.100.10 q@fabrikam.example nw1)"
expect_eq "northwind's budget counted it" "1" \
	"$("$CTL" -c "$D/rg.conf" tenants --json | jq -r '.tenants[] | select(.name=="northwind") | .unregistered')"

# SIGHUP too.
EXTRA_DOMAINS="newly.example viahup.example" write_conf
kill -HUP "$RG_AGENT_PID"
sleep 0.5
grep -q 'reloaded' "$D/agent.log" && ok "SIGHUP reloads" || fail "SIGHUP reloads"

# SIGUSR1 (logrotate's postrotate): the moved audit log stays whole, a new one is made,
# the agent lives and reloads nothing.
mv "$D/state/audit.log" "$D/state/audit.log.1"
reloads=$(grep -c 'reloaded' "$D/agent.log")
kill -USR1 "$RG_AGENT_PID"
sleep 0.5
check "relayguardctl block host after SIGUSR1" "$CTL" -c "$D/rg.conf" block host 203.0.113.90 --for 1m
check "relayguardctl unblock host after SIGUSR1" "$CTL" -c "$D/rg.conf" unblock host 203.0.113.90
kill -0 "$RG_AGENT_PID" 2>/dev/null && ok "SIGUSR1: the agent lives" || fail "SIGUSR1: the agent lives"
expect_eq "SIGUSR1: the new audit log has the block and unblock" "2" \
	"$(grep -c '"host":"203.0.113.90/32"' "$D/state/audit.log" 2>/dev/null)"
expect_eq "SIGUSR1: the moved audit log got none of them" "0" \
	"$(grep -c '"host":"203.0.113.90/32"' "$D/state/audit.log.1")"
expect_eq "SIGUSR1 reloads nothing" "$reloads" "$(grep -c 'reloaded' "$D/agent.log")"

# relayguardd -t on a broken file: FILE:LINE and non-zero.
printf '[agent]\ninterfaces = r1\n[tenant x]\nconnectors = 10.0.0.0/33\n' >"$D/bad.conf"
out=$("$AGENT" -t -c "$D/bad.conf" 2>&1)
rc=$?
[ $rc -ne 0 ] && ok "relayguardd -t fails on a bad CIDR" || fail "relayguardd -t fails on a bad CIDR"
echo "$out" | grep -q "bad.conf:4:" && ok "-t names FILE:LINE" || fail "-t names FILE:LINE: $out"

# The control socket refuses non-root peers.
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$CTL" --socket "$D/control.sock" status 2>&1)
rc=$?
expect_eq "non-root relayguardctl: exit 4 (permission)" "4" "$rc"

# Out of descriptors on the control socket: the agent allowed only 8 more than it has
# open, 60 clients at once. Refusals are logged a few times a second, not once per try (the
# listener used to spin: a million lines in seconds), and relayguardctl works again after.
# prlimit as the agent's own user, soft limit only: root here may lack CAP_SYS_RESOURCE,
# which changing another user's limits (and raising a hard one) would need.
as_agent() { setpriv --reuid=relayguard --regid=relayguard --clear-groups "$@"; }
lim=$(as_agent prlimit --pid "$RG_AGENT_PID" --nofile --output SOFT --noheadings | tr -d ' ')
nfd=$(ls /proc/"$RG_AGENT_PID"/fd | wc -l)
lines0=$(wc -l <"$D/agent.log")
as_agent prlimit --pid "$RG_AGENT_PID" --nofile=$((nfd + 8)):
python3 - "$D/control.sock" <<'PY'
import socket, sys, time
held = []
for i in range(60):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(2)
    try:
        s.connect(sys.argv[1])
        held.append(s)
    except OSError:
        s.close()
time.sleep(3)
for s in held:
    s.close()
PY
as_agent prlimit --pid "$RG_AGENT_PID" --nofile="$lim":
n=$(tail -n +$((lines0 + 1)) "$D/agent.log" | grep -c "Too many open files")
[ "$n" -ge 1 ] && [ "$n" -le 20 ] && ok "control out of descriptors: $n log lines (1..20)" ||
	fail "control out of descriptors: $n log lines (1..20)"
check "control socket recovers after descriptors ran out" "$CTL" --socket "$D/control.sock" status

# Metrics: scraped inside the relay namespace.
m=$(rg_ns_exec $RELAY curl -s http://127.0.0.1:9433/metrics)
echo "$m" | grep -q '^relayguard_policy_requests_total{action="reject"} [1-9]' &&
	ok "metrics: reject count" || fail "metrics: reject count"
echo "$m" | grep -q '^relayguard_kernel_dropped_total{verdict="block"} [1-9]' &&
	ok "metrics: kernel block drops" || fail "metrics: kernel block drops"
# tools/monitoring's metrics, and relayguardctl's completion, against this agent.
. "$RG_ROOT/tests/helpers/monitoring_checks.sh"
echo "$m" >"$D/metrics"
metrics_named_exist "$D/metrics"
completion_checks "$(dirname "$CTL")" "$D/control.sock" "$D/rg.conf"

# Connection rate: a tenant with connection_rate_limit = 10/1m; its host opens 30
# connections in a burst; the kernel reports the crossing (rate_events) and the agent throttles it.
EXTRA_TENANT=$'[tenant burst]\nconnectors = 198.51.100.0/25\nconnection_rate_limit = 10/1m' write_conf
check "reload: tenant with a low connection_rate_limit" "$CTL" -c "$D/rg.conf" reload
rg_ns_exec $C2 python3 -c '
import socket
for i in range(30):
    s = socket.socket(); s.settimeout(1)
    try:
        s.connect(("198.51.100.1", 25))
    except OSError:
        pass
    s.close()'
sleep 2.5
expect_eq "host over connection_rate_limit throttled in the kernel (origin conn_rate)" \
	"throttle conn_rate" \
	"$("$CTL" -c "$D/rg.conf" hosts --json | jq -r '.hosts[] | select(.address=="198.51.100.10/32") | "\(.verdict) \(.origin)"')"
grep -q '"event":"host_throttled"' "$D/state/audit.log" && ok "audit log has the throttle" ||
	fail "audit log has the throttle"

attach_lost_check $RELAY "$PIN" r1

rg_agent_stop
grep -qi 'kernel keeps enforcing' "$D/agent.log" && ok "SIGTERM stops cleanly" || fail "SIGTERM stops cleanly"

# Started without CAP_SETPCAP the bounding set stays, but the rest of the target is reached.
rg_agent_start setpriv --bounding-set -setpcap --inh-caps -setpcap && ok "started without CAP_SETPCAP" ||
	fail "started without CAP_SETPCAP"
expect_eq "without CAP_SETPCAP: relayguard, CAP_BPF only, no_new_privs" \
	"$ru $ru $ru $ru 0000008000000000 0000008000000000 1" "$(privs_of $RG_AGENT_PID)"
rg_agent_stop
# Short of the target (no such user) the start fails, naming the cause, unless
# allow_privileged = yes, which runs on with a loud warning.
cp "$D/rg.conf" "$D/rg.conf.privs"
sed -i '/^\[agent\]/a user = rg-no-such-user' "$D/rg.conf"
# In the foreground: its sockets exist for a moment before the drop refuses the start.
out=$(timeout 20 nsenter --net="/run/netns/$RG_NS" "$AGENT" -f -c "$D/rg.conf" 2>&1 </dev/null)
rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] && echo "$out" | grep -q 'user rg-no-such-user does not exist' &&
	echo "$out" | grep -q 'cannot drop privileges to user rg-no-such-user.*not started' &&
	ok "a missing user: start refused (rc $rc)" || fail "a missing user: start refused (rc $rc)"
sed -i '/^\[agent\]/a allow_privileged = yes' "$D/rg.conf"
rg_agent_start && grep -q 'allow_privileged = yes: running with more privileges' "$D/agent.log" &&
	ok "allow_privileged = yes: starts short of the target, warned" ||
	fail "allow_privileged = yes: starts short of the target, warned"
expect_eq "allow_privileged: still CAP_BPF only and no_new_privs, as uid 0" \
	"0 0 0 0 0000008000000000 0000008000000000 1" "$(privs_of $RG_AGENT_PID)"
rg_agent_stop
cp "$D/rg.conf.privs" "$D/rg.conf"
done_testing
