#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# spoof_flood.sh: 1,000,000 SYNs to port 25 from random spoofed IPv4 sources (trafgen) into
# relayguardd's XDP program, with the hosts map sized at 65,536. First 20 real TCP clients
# (IPv4 and IPv6, two tenants) connect and get their host entries and tenant tags; the flood
# proves no source (no handshake completes), nor do 100,000 spoofed ACKs, so afterwards every real host's entry and tag
# are still there, the hosts map holds hardly more than the real hosts, every verdict is
# still in verdict_hosts, the blocked host is still dropped and a legitimate host still
# connects. Last, a SYN flood from one source without an entry is throttled within seconds
# through the kernel's sketch of unproven SYNs at the [limits] default, and a smaller one
# from a source of a tenant with a lower limit at that tenant's limit.
# Safety: sender and receiver are namespaces this suite creates (rgsf-*), joined by one veth,
# with no default route anywhere: the relay has no route to the spoofed sources, so no reply
# leaves. The flood is bounded by count (-n) and time (timeout).
set -u
. "$(dirname "$0")/../lib.sh"

RELAY=rgsf-relay FL=rgsf-flood C2=rgsf-c2
D=$(mktemp -d /tmp/rg-sf.XXXXXX)
PIN=/sys/fs/bpf/rgsf-$$
CTL=$RG_ROOT/$BUILD/relayguardctl
AGENT_PID= LISTENER_PID=
cleanup() {
	[ -n "$AGENT_PID" ] && kill -9 "$AGENT_PID" 2>/dev/null
	[ -n "$LISTENER_PID" ] && kill "$LISTENER_PID" 2>/dev/null
	"$CTL" -c "$D/rg.conf" detach --purge >/dev/null 2>&1
	rm -rf "$PIN"
	for n in $RELAY $FL $C2; do ip netns del $n 2>/dev/null; done
	rm -rf "$D"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
for n in $RELAY $FL $C2; do ip netns del $n 2>/dev/null; ip netns add $n || exit 1; done
ip link add r1 netns $RELAY type veth peer name e0 netns $FL
ip link add r2 netns $RELAY type veth peer name e0 netns $C2
ip -n $RELAY addr add 192.0.2.1/24 dev r1
ip -n $RELAY addr add 198.51.100.1/24 dev r2
ip -n $RELAY addr add 2001:db8:5::1/64 dev r2 nodad
ip -n $FL addr add 192.0.2.10/24 dev e0
ip -n $C2 addr add 198.51.100.10/24 dev e0
# The real clients: 198.51.100.10-28 (tenant t, then tenant u from .16) and 2001:db8:5::10.
for i in $(seq 11 28); do ip -n $C2 addr add 198.51.100.$i/24 dev e0; done
ip -n $C2 addr add 2001:db8:5::10/64 dev e0 nodad
REAL4=$(seq -f '198.51.100.%g' 10 28)
for n in $RELAY $FL $C2; do
	ip -n $n link set lo up
	ip -n $n link set e0 up 2>/dev/null
done
ip -n $RELAY link set r1 up
ip -n $RELAY link set r2 up
routes=$(for n in $RELAY $FL $C2; do ip -n $n route show default; done)
expect_eq "no namespace has a default route" "" "$routes"

nsenter --net=/run/netns/$RELAY python3 -c '
import socket, time
s = socket.socket(socket.AF_INET6); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", 25)); s.listen(64); s.settimeout(1)
end = time.time() + 300
while time.time() < end:
    try:
        c, _ = s.accept(); c.close()
    except socket.timeout:
        pass' &
LISTENER_PID=$!

mkdir -p "$D/state"
cat >"$D/rg.conf" <<EOF
[agent]
interfaces = r1 r2
attach_mode = native
policy_listen = unix:$D/policy.sock
control_socket = $D/control.sock
metrics_listen =
state_dir = $D/state
pin_dir = $PIN
host_table_size = 65536
[limits]
connection_rate_limit = 0
[tenant t]
connectors = 192.0.2.0/24 198.51.100.0/24
[tenant u]
connectors = 198.51.100.16/28 2001:db8:5::/48
EOF
nsenter --net=/run/netns/$RELAY "$RG_ROOT/$BUILD/relayguardd" -f -c "$D/rg.conf" >"$D/agent.log" 2>&1 &
AGENT_PID=$!
for _ in $(seq 50); do [ -S "$D/control.sock" ] && break; sleep 0.1; done
[ -S "$D/control.sock" ] && ok "relayguardd up" || { fail "relayguardd up"; done_testing; exit 1; }

# Verdicts that must survive: 200 blocked hosts, among them the flooder's own address.
"$CTL" -c "$D/rg.conf" block host 192.0.2.10 >/dev/null || fail "block the flooder's address"
for i in $(seq 1 199); do
	"$CTL" -c "$D/rg.conf" block host "203.0.113.$i" >/dev/null
done
before=$(bpftool -j map dump pinned "$PIN/verdict_hosts" | jq length)
expect_eq "200 verdicts in place" 200 "$before"

# Real clients: a full handshake, a line of data, close. Each source's entry is made by a
# packet of its established connection (the program finds the relay's socket for it).
real_connect() {
	ip netns exec $C2 python3 -c '
import socket, sys
ok = 0
for src in sys.argv[1:]:
    fam = socket.AF_INET6 if ":" in src else socket.AF_INET
    dst = "2001:db8:5::1" if ":" in src else "198.51.100.1"
    s = socket.socket(fam); s.settimeout(2)
    try:
        s.bind((src, 0)); s.connect((dst, 25)); s.sendall(b"EHLO real\r\n"); ok += 1
    except OSError:
        pass
    s.close()
print(ok)' $REAL4 2001:db8:5::10
}
host_rows() {
	"$CTL" -c "$D/rg.conf" hosts --json --top 0 |
		jq -r '.hosts[] | select(.packets > 0) | "\(.address) \(.tenant)"' | sort
}
want_rows() {
	for a in $REAL4; do
		[ "${a##*.}" -ge 16 ] && t=u || t=t
		echo "$a/32 $t"
	done
	echo "2001:db8:5::/64 u"
}
expect_eq "20 real clients connected" 20 "$(real_connect)"
sleep 0.5
want=$(want_rows | sort)
expect_eq "every real host has its entry and tenant tag" "$want" "$(host_rows)"

mac=$(ip -n $RELAY -j link show r1 | jq -r '.[0].address')
cat >"$D/syn.cfg" <<EOF
{ eth(da=$mac, type=0x0800), ipv4(saddr=drnd(), daddr=192.0.2.1, ttl=64, proto=6),
  tcp(sp=drnd(), dp=25, syn, seq=drnd()) }
EOF
new_conns() { bpftool -j map dump pinned "$PIN/stats" | jq '[.[0].formatted.values[].value.smtp_new_conns] | add'; }
rx_drops() { ip -n $RELAY -j -s link show r1 | jq '.[0].stats64.rx.dropped'; }
# The real clients' SYNs were counted before: the flood's are what comes on top.
c0=$(new_conns) d0=$(rx_drops)
t0=$(date +%s)
# Paced: unpaced, trafgen's TX ring overruns on a busy 2-core machine and it gives up.
ip netns exec $FL timeout 120 trafgen -o e0 -i "$D/syn.cfg" -n 1000000 -P 1 -q -b 200000pps \
	>"$D/trafgen.log" 2>&1
rc=$?
diag "trafgen sent 1,000,000 SYNs in $(( $(date +%s) - t0 )) s (exit $rc)"
[ $rc -eq 0 ] && ok "trafgen sent its 1,000,000 random-source SYNs" ||
	{ fail "trafgen sent its 1,000,000 random-source SYNs"; sed 's/^/#   /' "$D/trafgen.log" | tail -5; }

sj=$("$CTL" -c "$D/rg.conf" status --json)
hosts=$(echo "$sj" | jq '.maps[] | select(.name=="hosts") | .entries')
diag "hosts map after 1,000,000 spoofed SYNs: ${hosts:-?} of 65536 entries"
# The 20 real hosts and the host of the relay's own test connections: no spoofed source.
[ "${hosts:-999}" -le 25 ] &&
	ok "no spoofed source got a host entry (${hosts} of 65536)" ||
	fail "no spoofed source got a host entry (${hosts:-?} of 65536)"
expect_eq "every real host kept its entry and tenant tag after the flood" "$want" "$(host_rows)"
# A spoofed ACK is no proof either: the relay holds no socket for its connection.
cat >"$D/ack.cfg" <<EOF
{ eth(da=$mac, type=0x0800), ipv4(saddr=drnd(), daddr=192.0.2.1, ttl=64, proto=6),
  tcp(sp=drnd(), dp=25, ack, seq=drnd(), ackseq=drnd()) }
EOF
ip netns exec $FL timeout 60 trafgen -o e0 -i "$D/ack.cfg" -n 100000 -P 1 -q -b 100000pps \
	>"$D/trafgen-ack.log" 2>&1 || fail "spoofed ACK flood sent"
hosts=$("$CTL" -c "$D/rg.conf" status --json | jq '.maps[] | select(.name=="hosts") | .entries')
[ "${hosts:-999}" -le 25 ] &&
	ok "no spoofed ACK got a host entry (${hosts} of 65536)" ||
	fail "no spoofed ACK got a host entry (${hosts:-?} of 65536)"
after=$(bpftool -j map dump pinned "$PIN/verdict_hosts" | jq length)
expect_eq "every verdict still there after the flood" 200 "$after"
seen=$(( $(new_conns) - c0 + $(rx_drops) - d0 ))
expect_eq "the program counted every SYN of the flood (or the veth ring dropped it)" 1000000 "$seen"
ip netns exec $FL python3 -c '
import socket, sys
s = socket.socket(); s.settimeout(2)
try:
    s.connect(("192.0.2.1", 25)); sys.exit(1)
except OSError:
    sys.exit(0)' && ok "blocked host still dropped after the flood" ||
	fail "blocked host still dropped after the flood"
ip netns exec $C2 python3 -c '
import socket
s = socket.socket(); s.settimeout(2); s.connect(("198.51.100.1", 25))' &&
	ok "legitimate host still connects" || fail "legitimate host still connects"

# Replace the program under load: restart relayguardd (the new one swaps its program into
# the pinned link) while 300,000 more SYNs arrive; every one is counted, no verdict is lost.
prog_before=$("$CTL" -c "$D/rg.conf" status --json | jq '.interfaces[0].prog_id')
c0=$(new_conns) d0=$(rx_drops)
ip netns exec $FL timeout 120 trafgen -o e0 -i "$D/syn.cfg" -n 300000 -P 1 -q -b 100000pps \
	>"$D/trafgen2.log" 2>&1 &
tg=$!
sleep 1
kill "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null
nsenter --net=/run/netns/$RELAY "$RG_ROOT/$BUILD/relayguardd" -f -c "$D/rg.conf" >>"$D/agent.log" 2>&1 &
AGENT_PID=$!
wait $tg
rc=$?
for _ in $(seq 50); do "$CTL" -c "$D/rg.conf" status >/dev/null 2>&1 && break; sleep 0.1; done
[ $rc -eq 0 ] && ok "second flood sent while the agent restarted" || fail "second flood sent (exit $rc)"
prog_after=$("$CTL" -c "$D/rg.conf" status --json | jq '.interfaces[0].prog_id')
[ "$prog_after" != "$prog_before" ] && ok "program replaced (id $prog_before -> $prog_after)" ||
	fail "program replaced (id $prog_before -> $prog_after)"
counted=$(( $(new_conns) - c0 + $(rx_drops) - d0 ))
expect_eq "every SYN of the flood counted across the replacement (or dropped by the NIC ring)" \
	300000 "$counted"
after=$(bpftool -j map dump pinned "$PIN/verdict_hosts" | jq length)
expect_eq "every verdict still there after the replacement" 200 "$after"
expect_eq "every real host kept its entry and tenant tag after the replacement" "$want" \
	"$(host_rows)"

# unproven_flood SRC N RATE: N SYNs from SRC (no entry) at RATE pps through trafgen; prints
# the verdict and origin the agent then holds for SRC (polled, bounded), or nothing (it runs
# in a command substitution: a failure is its output, for the caller's expect_eq).
unproven_flood() {
	local v=
	cat >"$D/one.cfg" <<EOF
{ eth(da=$mac, type=0x0800), ipv4(saddr=$1, daddr=192.0.2.1, ttl=64, proto=6),
  tcp(sp=drnd(), dp=25, syn, seq=drnd()) }
EOF
	ip netns exec $FL timeout 30 trafgen -o e0 -i "$D/one.cfg" -n "$2" -P 1 -q -b "$3pps" \
		>"$D/trafgen-$1.log" 2>&1 || { echo "trafgen failed"; return; }
	for _ in $(seq 30); do
		v=$("$CTL" -c "$D/rg.conf" hosts --json --top 0 |
			jq -r --arg a "$1/32" '.hosts[] | select(.address==$a) | "\(.verdict) \(.origin)"')
		[ -n "$v" ] && break
		sleep 0.1
	done
	echo "$v"
}

# One source without an entry floods SYNs: the sketch judges it at the [limits] default
# (600/1m, 100 per 10 s window) and the agent throttles it, as it would a known host.
sed -i 's/^connection_rate_limit = 0$/connection_rate_limit = 600\/1m/' "$D/rg.conf"
"$CTL" -c "$D/rg.conf" reload >/dev/null || fail "reload with a default connection_rate_limit"
expect_eq "one unproven source's SYN flood throttled (origin conn_rate)" "throttle conn_rate" \
	"$(unproven_flood 192.0.2.50 2000 2000)"

# The same at a tenant's limit: tenant t (192.0.2.0/24) gets 60/1m (11 per window), the
# default stays 600/1m; 50 SYNs from 192.0.2.51, below the default, are over t's limit.
sed -i 's/^connectors = 192.0.2.0\/24 198.51.100.0\/24$/&\nconnection_rate_limit = 60\/1m/' "$D/rg.conf"
"$CTL" -c "$D/rg.conf" reload >/dev/null || fail "reload with tenant t's connection_rate_limit"
expect_eq "an unproven source of tenant t throttled at t's limit, below the default" \
	"throttle conn_rate" "$(unproven_flood 192.0.2.51 50 500)"
done_testing
