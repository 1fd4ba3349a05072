#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# agent_allow.sh: who may ask, and a /metrics that tricklers cannot lock out, against the
# real relayguardd in namespaces this suite creates (rgal-relay, rgal-c1; one veth; no
# default route; torn down on exit). relayguardd -t warns about inet listeners off
# loopback; an inet policy listener answers a client from an address in policy_allow and
# closes one from another address of the same namespace at accept (counted in the
# metrics); audit events a request caused name its peer (address:port over inet,
# uid/pid over the unix socket); 64 clients trickling a byte a second from one address
# hold /metrics while a scrape from another is still answered.
set -u
. "$(dirname "$0")/../lib.sh"

P=rgal
RELAY=$P-relay C1=$P-c1
rg_ns_add $RELAY $C1 || exit 1
rg_agent_fixture $RELAY $P || exit 1
D=$RG_DIR AGENT=$RG_AGENT
rg_veth $RELAY r1 $C1 e0 || exit 1
ip -n $RELAY addr add 192.0.2.1/24 dev r1
ip -n $C1 addr add 192.0.2.10/24 dev e0
ip -n $C1 addr add 192.0.2.20/24 dev e0
expect_eq "no namespace has a default route" "" "$(rg_default_routes $RELAY $C1)"

rg_agent_conf attach_mode=generic policy_listen="unix:$D/policy.sock inet:192.0.2.1:10040" \
	policy_allow="192.0.2.10 127.0.0.0/8 ::1" metrics_listen=inet:192.0.2.1:9433 <<'EOF'
[limits]
unregistered_limit = 3

[tenant contoso]
connectors = 198.51.100.0/24
accepted_domains = contoso.example

[tenant fabrikam]
connectors = 203.0.113.0/24
accepted_domains = fabrikam.example
EOF

out=$("$AGENT" -t -c "$D/rg.conf" 2>&1)
rc=$?
expect_eq "relayguardd -t accepts the configuration" 0 $rc
grep -q "rg.conf:4: warning: policy_listen inet:192.0.2.1:10040 is not a loopback address" \
	<<<"$out" && ok "-t warns: policy_listen off loopback" ||
	fail "-t warns: policy_listen off loopback: $out"
grep -q "rg.conf:[0-9]*: warning: metrics_listen inet:192.0.2.1:9433 is not a loopback" \
	<<<"$out" && ok "-t warns: metrics_listen off loopback" ||
	fail "-t warns: metrics_listen off loopback: $out"
grep -q "unix:$D/policy.sock is not" <<<"$out" && fail "-t warns about a unix socket" ||
	ok "-t: no warning for the unix socket"

rg_agent_start || { fail "agent starts"; done_testing; exit 1; }
ok "agent starts"

# inet_reqs SRC N CLIENT: N unregistered requests in one connection from SRC (in C1) to
# the inet listener; prints each action, or "closed" when the server closed without one.
inet_reqs() {
	rg_ns_exec $C1 python3 - "$@" <<'PY'
import os, socket, sys
src, n, client = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.create_connection(("192.0.2.1", 10040), timeout=3, source_address=(src, 0))
for i in range(n):
    req = ("request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=%s\n"
           "sender=x%d@spam.example\ninstance=%d.%d\n\n" % (client, i, os.getpid(), i))
    try:
        s.sendall(req.encode())
        buf = b""
        while not buf.endswith(b"\n\n"):
            b = s.recv(4096)
            if not b:
                break
            buf += b
    except OSError:
        buf = b""
    print(buf.decode().split("\n")[0][len("action="):] if buf.endswith(b"\n\n") else "closed")
    if not buf:
        break
PY
}

metric() {
	rg_ns_exec $C1 curl -s -m 5 --interface 192.0.2.10 http://192.0.2.1:9433/metrics |
		sed -n "s/^$1 //p"
}

expect_eq "allowed peer 192.0.2.10 gets an answer" "DUNNO" "$(inet_reqs 192.0.2.10 1 198.51.100.5)"
expect_eq "peer 192.0.2.20 (not in policy_allow) is closed at accept" "closed" \
	"$(inet_reqs 192.0.2.20 1 198.51.100.5)"
expect_eq "the refusal is counted" 1 "$(metric relayguard_policy_connections_not_allowed_total)"
grep -q "refusing connection on inet:192.0.2.1:10040 from 192.0.2.20: peer not allowed" \
	"$D/agent.log" && ok "the refusal is logged with the peer" ||
	fail "the refusal is logged with the peer"

# contoso restricted by a request over inet: the audit line names address:port.
acts=$(inet_reqs 192.0.2.10 4 198.51.100.5 | tr '\n' ' ')
case "$acts" in *550*) ok "contoso restricted over inet" ;; *) fail "contoso restricted over inet: $acts" ;; esac
line=$(grep '"event":"tenant_restricted"' "$D/state/audit.log" | grep '"tenant":"contoso"')
grep -Eq '"peer":"192\.0\.2\.10:[0-9]+"' <<<"$line" && ok "audit: inet peer address:port" ||
	fail "audit: inet peer address:port: $line"

# fabrikam restricted over the unix socket (as root): the peer is uid and pid.
for i in 1 2 3 4; do
	printf 'request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=203.0.113.5\nsender=u%d@spam.example\ninstance=u.%d\n\n' \
		$i $i | socat -t 2 - "UNIX-CONNECT:$D/policy.sock" >/dev/null
done
line=$(grep '"event":"tenant_restricted"' "$D/state/audit.log" | grep '"tenant":"fabrikam"')
grep -Eq '"peer":"uid=0 pid=[0-9]+"' <<<"$line" && ok "audit: unix peer uid/pid" ||
	fail "audit: unix peer uid/pid: $line"
# an operator action names "by", not a policy peer
"$RG_CTL" -c "$D/rg.conf" unblock tenant contoso >/dev/null 2>&1
line=$(grep '"event":"tenant_unblocked"' "$D/state/audit.log" | tail -1)
[ -n "$line" ] && ! grep -q '"peer"' <<<"$line" && ok "audit: operator action has no peer" ||
	fail "audit: operator action has no peer: $line"

# 64 tricklers on /metrics from 192.0.2.20: a byte a second each, for at most 40 s.
rg_ns_bg $C1 python3 -c '
import socket, time
socks = []
for i in range(64):
    try:
        s = socket.create_connection(("192.0.2.1", 9433), timeout=2,
                                     source_address=("192.0.2.20", 0))
        socks.append(s)
    except OSError:
        pass
req = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
end = time.time() + 40
i = 0
while time.time() < end:
    for s in list(socks):
        try:
            s.send(req[i % len(req):i % len(req) + 1])
        except OSError:
            socks.remove(s)
    i += 1
    time.sleep(1)
'
TRICKLE=$RG_BG_PID
sleep 3
kill -0 $TRICKLE 2>/dev/null && ok "tricklers running" || fail "tricklers running"
out=$(rg_ns_exec $C1 curl -s -m 5 -o /dev/null -w '%{http_code}' --interface 192.0.2.10 \
	http://192.0.2.1:9433/metrics)
expect_eq "a scrape answers while 64 tricklers hold connections" 200 "$out"
# One address holds at most 8 connections however many it opens (the deadline that
# cuts each is asserted in test_metrics).
held() { rg_ns_exec $RELAY ss -Htn state established '( sport = :9433 )' | wc -l; }
n=$(held)
[ "$n" -ge 1 ] && [ "$n" -le 8 ] && ok "tricklers hold 1..8 connections ($n)" ||
	fail "tricklers hold $n connections"
sleep 6
out=$(rg_ns_exec $C1 curl -s -m 5 -o /dev/null -w '%{http_code}' --interface 192.0.2.10 \
	http://192.0.2.1:9433/metrics)
expect_eq "a scrape still answers" 200 "$out"
kill $TRICKLE 2>/dev/null

rg_agent_stop
expect_eq "agent stops cleanly" 0 $?
done_testing
