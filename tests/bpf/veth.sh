#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# veth.sh: the kernel side over real TCP between network namespaces. A relay namespace
# (rgl-relay) with one veth per client namespace (rgl-c1, rgl-c2), IPv4 and IPv6, no default
# routes, a TCP echo listener on ports 25 and 80; the program attached through
# tests/helpers/rg_loader (user/bpfload.c) to both relay-side veths. Checks verdict enforcement
# with native XDP, generic XDP and TC, established connections and non-SMTP untouched,
# counters and tenant tags read back with bpftool from the pins, a host proven at TC by its
# completed handshake (and not by a refused SYN), enforcement after the
# loader is killed, atomic replacement (new prog, same link, maps kept), detach and purge,
# and refusal of pinned maps of another layout. Root; TAP; exit 77 without XDP on veth.
set -u
. "$(dirname "$0")/../lib.sh"

case $BUILD in /*) B=$BUILD ;; *) B=$RG_ROOT/$BUILD ;; esac
LOADER=$B/tests/helpers/rg_loader
PIN=/sys/fs/bpf/rgl-test-$$
NSR=rgl-relay NS1=rgl-c1 NS2=rgl-c2
IFS_R=(rgl-r1 rgl-r2)
C1=192.0.2.1 R1=192.0.2.254 C1_6=2001:db8:1::1 R1_6=2001:db8:1::fe
C2=198.51.100.1 R2=198.51.100.254 C2_6=2001:db8:2::1 R2_6=2001:db8:2::fe
TMP=
SERVER_PID=
HOLD_PIDS=()

if [ "$(id -u)" -ne 0 ]; then
	echo "# SKIP needs root (network namespaces, BPF)"
	exit 77
fi
for t in ip tc bpftool jq python3 nsenter timeout; do
	if ! command -v "$t" >/dev/null; then
		echo "# SKIP $t not installed"
		exit 77
	fi
done
if [ ! -x "$LOADER" ]; then
	echo "Bail out! $LOADER not built (make BUILD=$BUILD $BUILD/tests/helpers/rg_loader)"
	exit 1
fi

cleanup() {
	local p
	for p in "${HOLD_PIDS[@]}" $SERVER_PID; do
		kill -9 "$p" 2>/dev/null
	done
	wait 2>/dev/null
	# Deleting the namespaces removes the veths and so every XDP link and tc filter on them.
	for n in $NSR $NS1 $NS2; do
		ip netns del "$n" 2>/dev/null
	done
	rm -rf "$PIN" 2>/dev/null
	[ -n "$TMP" ] && rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

TMP=$(mktemp -d /tmp/rgl-veth.XXXXXX)
mkdir -p /sys/fs/bpf 2>/dev/null
if [ "$(stat -f -c %T /sys/fs/bpf 2>/dev/null)" != bpf_fs ]; then
	diag "mounting bpffs at /sys/fs/bpf"
	mount -t bpf bpf /sys/fs/bpf || { echo "# SKIP cannot mount bpffs"; exit 77; }
fi

inr() { nsenter --net=/run/netns/$NSR "$@"; }
loader() { nsenter --net=/run/netns/$NSR "$LOADER" "$@"; }
# Small tables: the defaults preallocate a million hosts per attach.
SIZES=(--host-table 4096 --flow-table 4096 --verdict-table 1024)

# ---- topology ----
for n in $NSR $NS1 $NS2; do
	ip netns del "$n" 2>/dev/null
	ip netns add "$n" || { echo "Bail out! cannot create namespace $n"; exit 1; }
	ip -n "$n" link set lo up
done
setup_client() { # ns relay-if client-addr relay-addr client6 relay6 prefix
	ip -n $NSR link add "$2" type veth peer name rgl-eth0 netns "$1" || return 1
	ip -n $NSR link set "$2" up
	ip -n "$1" link set rgl-eth0 up
	ip -n $NSR addr add "$4/$7" dev "$2"
	ip -n "$1" addr add "$3/$7" dev rgl-eth0
	ip -n $NSR addr add "$6/64" dev "$2" nodad
	ip -n "$1" addr add "$5/64" dev rgl-eth0 nodad
}
setup_client $NS1 rgl-r1 $C1 $R1 $C1_6 $R1_6 24 &&
	setup_client $NS2 rgl-r2 $C2 $R2 $C2_6 $R2_6 24 ||
	{ echo "Bail out! veth setup failed"; exit 1; }

# A line echo server on 25 and 80, both families; one thread per connection.
cat >"$TMP/server.py" <<'EOF'
import socket, threading, sys
def serve(c):
    with c:
        c.settimeout(30)
        try:
            while True:
                d = c.recv(4096)
                if not d:
                    return
                c.sendall(d)
        except OSError:
            return
def listen(port):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", port))
    s.listen(64)
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()
for p in (25, 80):
    threading.Thread(target=listen, args=(p,), daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
EOF
# client.py HOST PORT [GOFILE]: 0 echoed, 2 connect timed out, 1 other error. With GOFILE:
# echo once, wait (bounded) for GOFILE to appear, echo again on the same connection.
cat >"$TMP/client.py" <<'EOF'
import socket, sys, os, time
host, port = sys.argv[1], int(sys.argv[2])
try:
    c = socket.create_connection((host, port), timeout=2)
except socket.timeout:
    sys.exit(2)
except OSError as e:
    print(e, file=sys.stderr); sys.exit(1)
def echo(msg):
    c.sendall(msg)
    got = b""
    while len(got) < len(msg):
        d = c.recv(4096)
        if not d:
            break
        got += d
    if got != msg:
        print("bad echo", got, file=sys.stderr); sys.exit(1)
c.settimeout(5)
echo(b"EHLO rgl\r\n")
if len(sys.argv) > 3:
    print("connected", flush=True)
    for _ in range(200):
        if os.path.exists(sys.argv[3]):
            break
        time.sleep(0.1)
    else:
        sys.exit(1)
    echo(b"MAIL FROM:<a@b>\r\n")
print("ok")
EOF

ip netns exec $NSR python3 "$TMP/server.py" >"$TMP/server.out" 2>&1 &
SERVER_PID=$!
for _ in $(seq 50); do grep -q ready "$TMP/server.out" 2>/dev/null && break; sleep 0.1; done

# conn NS HOST PORT: the client's exit status (0 ok, 2 timeout).
conn() {
	ip netns exec "$1" timeout 10 python3 "$TMP/client.py" "$2" "$3" >/dev/null 2>&1
}
expect_conn() { # desc ns host port want-rc
	local rc
	conn "$2" "$3" "$4"
	rc=$?
	expect_eq "$1" "$5" "$rc"
}
stat_of() { "$LOADER" stats --pin-dir "$PIN" | sed -n "s/^$1=//p"; }
# The BTF-formatted entries of a pinned map: [{key, value}].
json_dump() { bpftool -j map dump pinned "$PIN/$1" | jq '[.[] | .formatted]'; }
# contains "desc" TEXT ERE: ok if TEXT matches (text may hold any quotes).
contains() {
	if grep -qE -- "$3" <<<"$2"; then
		ok "$1"
	else
		fail "$1"
		printf '%s\n' "$2" | head -10 | sed 's/^/#   /'
	fi
}
xdp_of() { ip -n $NSR -j link show "$1" | jq -c '.[0].xdp // empty'; }
tc_of() { inr tc filter show dev "$1" ingress 2>/dev/null; }
status_field() { loader status --pin-dir "$PIN" --iface "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

# ---- does this kernel do XDP on veth? ----
if ! out=$(loader attach "${SIZES[@]}" --pin-dir "$PIN" --iface rgl-r1 --mode native 2>&1); then
	case $out in
	*"not supported"* | *"Operation not supported"* | *"Invalid argument"*)
		echo "# SKIP kernel lacks native XDP on veth: $out"
		exit 77
		;;
	esac
	echo "Bail out! attach failed: $out"
	exit 1
fi
loader detach --pin-dir "$PIN" --purge >/dev/null 2>&1

expect_conn "baseline: c1 reaches port 25 without the program" $NS1 $R1 25 0

# ---- the verdict behaviour in each attach mode ----
for mode in native generic tc; do
	want_kind=$([ $mode = tc ] && echo tc || echo xdp-$mode)
	out=$(loader attach "${SIZES[@]}" --pin-dir "$PIN" --iface rgl-r1 --iface rgl-r2 --mode $mode \
		--ports 25,587 2>&1)
	check "$mode: attach to both relay veths" test -n "$(echo "$out" | grep prog_id=)"
	expect_eq "$mode: rgl-r1 runs $want_kind" "$want_kind" "$(status_field rgl-r1 kind)"
	expect_eq "$mode: rgl-r2 runs $want_kind" "$want_kind" "$(status_field rgl-r2 kind)"
	if [ $mode = tc ]; then
		expect_eq "tc: no XDP on the device" "" "$(xdp_of rgl-r1)"
		check "tc: our filter on clsact ingress" sh -c "nsenter --net=/run/netns/$NSR \
			tc filter show dev rgl-r1 ingress | grep -q 'handle 0x5247.*rg_tc'"
	else
		expect_eq "$mode: XDP mode on the device" \
			"$([ $mode = native ] && echo 1 || echo 2)" "$(xdp_of rgl-r1 | jq .mode)"
	fi
	expect_conn "$mode: c1 connects to 25 (no verdict)" $NS1 $R1 25 0
	expect_conn "$mode: c2 connects to 25 (no verdict)" $NS2 $R2 25 0
	expect_conn "$mode: c1 connects to 25 over IPv6" $NS1 $R1_6 25 0

	check "$mode: block c1 (v4 host)" "$LOADER" block --pin-dir "$PIN" $C1
	check "$mode: block c1's /64 (v6 host)" "$LOADER" block --pin-dir "$PIN" $C1_6/64
	expect_conn "$mode: blocked c1 cannot connect to 25 (times out)" $NS1 $R1 25 2
	expect_conn "$mode: blocked c1 cannot connect to 25 over IPv6" $NS1 $R1_6 25 2
	expect_conn "$mode: c2 still connects to 25" $NS2 $R2 25 0
	expect_conn "$mode: blocked c1 still reaches port 80 (not SMTP)" $NS1 $R1 80 0
	d=$(stat_of drop_block)
	check "$mode: stats drop_block counts the drops ($d)" test "${d:-0}" -ge 2
	n=$(stat_of smtp_new_conns)
	check "$mode: stats smtp_new_conns counts SYNs ($n)" test "${n:-0}" -ge 5
	check "$mode: unblock c1" "$LOADER" unblock --pin-dir "$PIN" $C1
	expect_conn "$mode: unblocked c1 connects again" $NS1 $R1 25 0

	check "$mode: detach --purge" loader detach --pin-dir "$PIN" --purge
	expect_eq "$mode: no XDP left on rgl-r1" "" "$(xdp_of rgl-r1)"
	expect_eq "$mode: no XDP left on rgl-r2" "" "$(xdp_of rgl-r2)"
	expect_eq "$mode: no tc filter left on rgl-r1" "" "$(tc_of rgl-r1)"
	check "$mode: pins removed" test ! -e "$PIN"
done

# ---- a CIDR verdict, and meta.cidr_verdicts ----
loader attach "${SIZES[@]}" --pin-dir "$PIN" --iface rgl-r1 --iface rgl-r2 --mode auto >/dev/null 2>&1
check "block 198.51.100.0/24 (a CIDR)" "$LOADER" block --pin-dir "$PIN" 198.51.100.0/24
expect_eq "meta.cidr_verdicts is 1" 1 "$(json_dump meta | jq '.[0].value.cidr_verdicts')"
expect_eq "the CIDR verdict is in verdict_cidrs" 120 \
	"$(json_dump verdict_cidrs | jq '.[0].key.prefixlen')"
expect_conn "c2 inside the blocked CIDR cannot connect" $NS2 $R2 25 2
check "unblock the CIDR" "$LOADER" unblock --pin-dir "$PIN" 198.51.100.0/24
expect_eq "meta.cidr_verdicts back to 0" 0 "$(json_dump meta | jq '.[0].value.cidr_verdicts')"
expect_conn "c2 connects after the CIDR unblock" $NS2 $R2 25 0
loader detach --pin-dir "$PIN" --purge >/dev/null 2>&1

# ---- throttle: one new connection a minute ----
loader attach "${SIZES[@]}" --pin-dir "$PIN" --iface rgl-r1 --iface rgl-r2 --mode auto >/dev/null 2>&1
check "throttle c1 to 1/60s" "$LOADER" throttle --pin-dir "$PIN" $C1 --rate 1/60 --burst 1
expect_conn "throttled c1: the first connection passes" $NS1 $R1 25 0
rcs=""
for _ in 1 2 3; do conn $NS1 $R1 25; rcs="$rcs$?"; done
contains "throttled c1: later connections within the minute are dropped ($rcs)" "$rcs" "2"
t=$(stat_of drop_throttle)
check "stats drop_throttle counts them ($t)" test "${t:-0}" -ge 1
expect_conn "c2 is not throttled" $NS2 $R2 25 0
loader detach --pin-dir "$PIN" --purge >/dev/null 2>&1

# ---- proof at TC: a completed handshake makes the entry, a bare SYN does not ----
# TC sees the client's first packet after the handshake (EHLO) as XDP does; its socket
# lookup (bpf_skc_lookup_tcp from the skb) finds the full socket and the host is proven.
loader attach "${SIZES[@]}" --pin-dir "$PIN" --iface rgl-r1 --iface rgl-r2 --mode tc \
	--ports 25,587 >/dev/null 2>&1
expect_eq "tc proof: rgl-r2 runs tc" tc "$(status_field rgl-r2 kind)"
check "tc proof: connector 198.51.100.0/24 -> tenant 42" \
	"$LOADER" connector --pin-dir "$PIN" 198.51.100.0/24 42
conn $NS1 $R1 587
expect_eq "tc proof: SYN to 587 (no listener, RST): c1 gets no host entry" "null" \
	"$(json_dump hosts | jq -c '[.[] | select(.key.addr[12:] == [192,0,2,1])] | first')"
expect_conn "tc proof: c2 connects to 25" $NS2 $R2 25 0
h=$(json_dump hosts | jq -c '[.[] | select(.key.addr == [0,0,0,0,0,0,0,0,0,0,255,255,198,51,100,1])
	| .value] | first')
expect_eq "tc proof: c2 proven at TC, tagged tenant 42" 42 "$(jq '.tenant_id' <<<"$h")"
check "tc proof: c2's entry counts its connection and packets ($h)" \
	test "$(jq '.conns' <<<"$h")" -ge 1 -a "$(jq '.packets' <<<"$h")" -ge 2
expect_eq "tc proof: the proving packet's flow carries tenant 42" 42 \
	"$(json_dump flows | jq '[.[] | select(.key.saddr[12:] == [198,51,100,1]) | .value.tenant_id]
	| first')"
expect_eq "tc proof: still no entry for c1" 1 "$(json_dump hosts | jq 'length')"
loader detach --pin-dir "$PIN" --purge >/dev/null 2>&1

# ---- tenant tags: connectors first, then c2's first packets ----
loader attach "${SIZES[@]}" --pin-dir "$PIN" --iface rgl-r1 --iface rgl-r2 --mode auto >/dev/null 2>&1
check "connector 198.51.100.0/24 -> tenant 42" \
	"$LOADER" connector --pin-dir "$PIN" 198.51.100.0/24 42 2001:db8:2::/48 43
expect_conn "c2 connects" $NS2 $R2 25 0
tag=$(json_dump hosts | jq '[.[] | select(.key.addr == [0,0,0,0,0,0,0,0,0,0,255,255,198,51,100,1])
	| .value.tenant_id] | first')
expect_eq "hosts entry of c2 carries tenant 42 (bpftool dump)" 42 "$tag"
expect_conn "c1 connects" $NS1 $R1 25 0
tag=$(json_dump hosts | jq '[.[] | select(.key.addr == [0,0,0,0,0,0,0,0,0,0,255,255,192,0,2,1])
	| .value.tenant_id] | first')
expect_eq "hosts entry of c1 is unassigned (tenant 0)" 0 "$tag"
check "connector set replaced by a new one" "$LOADER" connector --pin-dir "$PIN" 192.0.2.0/24 7
expect_eq "old connectors gone, new one there" "120:7" \
	"$(json_dump connectors | jq -r 'map("\(.key.prefixlen):\(.value.tenant_id)") | join(",")')"

# ---- established connections survive a block ----
rm -f "$TMP/go"
ip netns exec $NS1 timeout 30 python3 "$TMP/client.py" $R1 25 "$TMP/go" >"$TMP/est.out" 2>&1 &
est=$!
for _ in $(seq 50); do grep -q connected "$TMP/est.out" && break; sleep 0.1; done
check "block c1 while its connection is open" "$LOADER" block --pin-dir "$PIN" $C1
expect_conn "new connections from c1 dropped" $NS1 $R1 25 2
touch "$TMP/go"
wait $est
expect_eq "the established connection still carries data after the block" 0 $?

# ---- enforcement outlives the loader (kill -9) ----
# nsenter execs the loader, so $! is the loader itself (the loader() function would put a
# subshell there: killing it left the loader holding, with the suite's lock fd inherited).
nsenter --net=/run/netns/$NSR "$LOADER" attach "${SIZES[@]}" --pin-dir "$PIN" --iface rgl-r1 \
	--iface rgl-r2 --mode auto --hold >"$TMP/hold.out" 2>&1 &
HOLD_PIDS+=($!)
for _ in $(seq 100); do grep -q holding "$TMP/hold.out" && break; sleep 0.1; done
check "loader holding the program" grep -q holding "$TMP/hold.out"
kill -9 "${HOLD_PIDS[-1]}"
wait "${HOLD_PIDS[-1]}" 2>/dev/null
check "the loader is gone" sh -c "! kill -0 ${HOLD_PIDS[-1]} 2>/dev/null"
expect_conn "after kill -9 of the loader: c1 still blocked" $NS1 $R1 25 2
expect_conn "after kill -9 of the loader: c2 still connects" $NS2 $R2 25 0

# ---- atomic replacement: new prog, same link, maps kept ----
link1=$(status_field rgl-r1 link_id) prog1=$(status_field rgl-r1 prog_id)
drops1=$(stat_of drop_block) conns1=$(stat_of smtp_new_conns)
check "attach again (upgrade in place)" loader attach "${SIZES[@]}" --pin-dir "$PIN" --iface rgl-r1 \
	--iface rgl-r2 --mode auto
link2=$(status_field rgl-r1 link_id) prog2=$(status_field rgl-r1 prog_id)
expect_eq "same XDP link after replacement" "$link1" "$link2"
check "new program id ($prog1 -> $prog2)" test "$prog1" != "$prog2"
expect_eq "the link runs the new program" "$prog2" "$(xdp_of rgl-r1 | jq .prog.id)"
check "counters kept (drop_block $drops1 -> $(stat_of drop_block))" \
	test "$(stat_of drop_block)" -ge "$drops1"
check "counters kept (smtp_new_conns $conns1 -> $(stat_of smtp_new_conns))" \
	test "$(stat_of smtp_new_conns)" -ge "$conns1"
check "verdict kept" sh -c "'$LOADER' verdicts --pin-dir '$PIN' | grep -q 'target=$C1/32'"
expect_conn "c1 still blocked by the new program" $NS1 $R1 25 2

out=$(loader attach --pin-dir "$PIN" --iface rgl-r1 --iface rgl-r2 --mode auto \
	--host-table 8192 --flow-table 4096 --verdict-table 1024 2>&1)
contains "a new table size on pinned maps: kept until purge, with a warning" "$out" \
	"hosts has 4096 entries, configured 8192: keeping 4096"
contains "... and the pinned hosts map keeps its size" "$("$LOADER" fill --pin-dir "$PIN")" \
	"^hosts=[0-9]+/4096$"

# ---- TC replacement keeps one filter ----
loader attach "${SIZES[@]}" --pin-dir "$PIN" --iface rgl-r1 --mode tc >/dev/null 2>&1
tprog1=$(status_field rgl-r1 prog_id)
expect_eq "switch to tc removed XDP from rgl-r1" "" "$(xdp_of rgl-r1)"
check "attach tc again" loader attach "${SIZES[@]}" --pin-dir "$PIN" --iface rgl-r1 --mode tc
tprog2=$(status_field rgl-r1 prog_id)
check "tc: new program id ($tprog1 -> $tprog2)" test "$tprog1" != "$tprog2"
expect_eq "tc: still exactly one filter of ours" 1 "$(tc_of rgl-r1 | grep -c 'handle 0x5247')"
expect_conn "tc: c1 still blocked after replacement" $NS1 $R1 25 2

# ---- detach, then purge ----
check "detach (keep maps)" loader detach --pin-dir "$PIN" --iface rgl-r1 --iface rgl-r2
expect_eq "no XDP on rgl-r2 after detach" "" "$(xdp_of rgl-r2)"
expect_eq "no tc filter on rgl-r1 after detach" "" "$(tc_of rgl-r1)"
check "no link or tc pins left" test -z "$(ls "$PIN" | grep -E '^(link|tc)_')"
check "maps still pinned" test -e "$PIN/verdict_hosts"
expect_conn "detached: c1 connects" $NS1 $R1 25 0
check "detach --purge" loader detach --pin-dir "$PIN" --purge
check "pin dir removed" test ! -e "$PIN"

# ---- layouts that do not fit are refused ----
mkdir -p "$PIN"
bpftool map create "$PIN/hosts" type lru_hash key 16 value 8 entries 16 name hosts
out=$(loader attach "${SIZES[@]}" --pin-dir "$PIN" --iface rgl-r1 --mode auto 2>&1)
rc=$?
check "attach refuses a pinned hosts map of another value size" test $rc -ne 0
contains "the message names the map and sizes" "$out" "hosts.*value 8 bytes.*value [0-9]+ bytes"
contains "the message gives the upgrade path" "$out" "relayguardctl detach --purge"
expect_eq "nothing attached after the refusal" "" "$(xdp_of rgl-r1)"
rm -rf "$PIN"

loader attach "${SIZES[@]}" --pin-dir "$PIN" --iface rgl-r1 --mode auto >/dev/null 2>&1
bpftool map update pinned "$PIN/meta" key 0 0 0 0 value 99 0 0 0 $(printf '0 %.0s' $(seq 28))
out=$("$LOADER" stats --pin-dir "$PIN" 2>&1)
contains "readers refuse maps of layout version 99" "$out" "layout version 99"
out=$(loader attach "${SIZES[@]}" --pin-dir "$PIN" --iface rgl-r1 --mode auto 2>&1)
contains "attach refuses layout version 99" "$out" "layout version 99"
contains "... and says how to upgrade" "$out" "detach --purge"
loader detach --pin-dir "$PIN" --purge >/dev/null 2>&1

# ---- someone else's XDP program is not replaced ----
cat >"$TMP/pass.c" <<'EOF'
#include <linux/bpf.h>
#define SEC(n) __attribute__((section(n), used))
SEC("xdp") int other_pass(struct xdp_md *ctx) { return XDP_PASS; }
char _license[] SEC("license") = "GPL";
EOF
if clang -O2 -target bpf -idirafter "/usr/include/$(gcc -print-multiarch)" -c "$TMP/pass.c" \
	-o "$TMP/pass.o" 2>/dev/null && mkdir -p "$PIN" &&
	bpftool prog load "$TMP/pass.o" "$PIN/other" type xdp &&
	inr bpftool net attach xdpgeneric pinned "$PIN/other" dev rgl-r1; then
	out=$(loader attach "${SIZES[@]}" --pin-dir "$PIN" --iface rgl-r1 --mode auto 2>&1)
	rc=$?
	check "attach refuses an interface running a foreign XDP program" test $rc -ne 0
	contains "the message names its id and name and the way out" "$out" \
		"prog id [0-9]+, name 'other_pass'.*ip link set dev rgl-r1 xdp off"
	expect_eq "the foreign program is untouched" other_pass "$(xdp_of rgl-r1 | jq -r .prog.name)"
	inr bpftool net detach xdpgeneric dev rgl-r1
	rm -rf "$PIN"
else
	skip "foreign XDP program: could not build/attach a test program"
fi

# ---- hostile arguments ----
check "refuses an interface name with a slash" sh -c "! nsenter --net=/run/netns/$NSR \
	'$LOADER' attach --pin-dir '$PIN' --iface ../x 2>/dev/null"
check "refuses port 0" sh -c "! '$LOADER' attach --pin-dir '$PIN' --iface rgl-r1 --ports 0 2>/dev/null"
check "refuses a malformed address" sh -c "! '$LOADER' block --pin-dir '$PIN' 192.0.2.300 2>/dev/null"
check "refuses a pin dir outside bpffs" sh -c "nsenter --net=/run/netns/$NSR '$LOADER' attach \
	--pin-dir '$TMP/notbpf' --iface rgl-r1 2>&1 | grep -q 'mount -t bpf'"
if command -v setpriv >/dev/null; then
	out=$(setpriv --bounding-set=-all "$LOADER" attach --pin-dir "$PIN" --iface lo 2>&1)
	contains "without CAP_BPF/CAP_NET_ADMIN: a clear message" "$out" "needs root"
fi
check "nothing left attached" test -z "$(xdp_of rgl-r1)$(xdp_of rgl-r2)"

done_testing
