#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# bench-flood.sh: flood resistance in the lab, in the manner of the XDP paper's DoS
# experiment (a benchmark, not a test). Tenant A (tenant-a namespace) runs smtp-source
# against the lab's real Postfix relay for BENCH_DURATION seconds while the blocked host
# tenant-b2 (198.51.100.11, a fixed source inside the lab) sends TCP SYNs to port 25 with
# trafgen at increasing rates up to the generator's maximum (one core, no rate limit).
# Four configurations, same run: no filter; the host in an nftables set dropped at the
# netdev ingress hook of the relay's lan0; an iptables raw PREROUTING drop; relayguard's
# XDP block (relayguardctl block host). The first three run on a lab without relayguard,
# the last on a lab with relayguardd as Postfix's policy service (its real deployment), so
# each configuration's ratio is against its own no-flood throughput.
#
# Reports per point: a table row and
#   bench-flood CONFIG flood_pps=N a_tps_ratio=R cpu_ns_per_flood_pkt=C a_tps=T softirq_ms=S
# where C is the machine's softirq time (/proc/stat, tick-sampled) during the point, less
# A's own share (its no-flood softirq scaled by its throughput ratio), per flood packet
# sent. Then a summary per configuration at the highest rate and a PNG plot
# (tools/bench/flood.png, or BENCH_PLOT) of A's throughput ratio against flood rate.
# BENCH_DURATION (s, default 5), BENCH_RATES (pps list, "max" = unlimited; default
# "0 20000 40000 max"), BENCH_CONFIGS (default "none nft iptables xdp").
set -u
. "$(dirname "$0")/bench-lib.sh"
DUR=${BENCH_DURATION:-5}
RATES=${BENCH_RATES:-"0 20000 40000 max"}
CONFIGS=${BENCH_CONFIGS:-"none nft iptables xdp"}
PLOT=${BENCH_PLOT:-$ROOT/tools/bench/flood.png}
FLOOD_SRC=198.51.100.11		# tenant-b2's own address: replies stay in the lab
MAX_PKTS=50000000		# bound of the unlimited run (timeout ends it first)

export LAB_PREFIX=${LAB_PREFIX:-rgbn-fl-}
export LAB_SINK_CAPTURE=0
# Tenant A opens hundreds of connections a second: keep its conn-rate limit out of the way.
export LAB_CONNECTION_RATE_LIMIT=1000000/1m
export BUILD
# shellcheck source=tools/lab.sh
source "$ROOT/tools/lab.sh"

bench_need_root "namespaces, trafgen"
bench_need_cmd trafgen smtp-source nft iptables gnuplot
bench_need_built relayguardd relayguardctl

TMP=$(mktemp -d /tmp/rgbn-flood.XXXXXX)
cleanup() {
	lab_down
	[ -n "${BENCH_KEEP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT
trap 'trap - EXIT; cleanup; exit 130' INT
trap 'trap - EXIT; cleanup; exit 143' TERM

softirq_ticks() { awk '/^cpu /{ print $8 }' /proc/stat; }
HZ=$(getconf CLK_TCK)

# trafgen's packet: Ethernet to the relay's MAC (so the bridge forwards it to the relay
# only, never floods it to tenant A's port), IPv4 from the fixed source, SYN to port 25
# with random source port and sequence number (a new connection every packet).
write_trafgen_cfg() {
	local mac
	mac=$(ip -n "$(lab_ns relay)" -br link show "$LAB_IFACE" | awk '{ print $3 }')
	cat >"$TMP/syn.cfg" <<-EOF
		{
		  eth(da=$mac),
		  ipv4(saddr=$FLOOD_SRC, daddr=$LAB_RELAY_B4, ttl=64),
		  tcp(sp=drnd(), dp=25, syn, seq=drnd()),
		}
	EOF
}

set_filter() { # CONFIG: install the block of FLOOD_SRC in the relay namespace
	case "$1" in
	none) ;;
	nft)
		lab_exec relay nft -f - <<-EOF || return 1
			table netdev rgbn {
				set blocked { type ipv4_addr; flags interval; elements = { $FLOOD_SRC/32 } }
				chain ingress {
					type filter hook ingress device $LAB_IFACE priority -500; policy accept;
					ip saddr @blocked tcp dport 25 tcp flags & (syn | ack) == syn drop
				}
			}
		EOF
		;;
	iptables)
		lab_exec relay iptables -t raw -A PREROUTING -i "$LAB_IFACE" -s "$FLOOD_SRC" \
			-p tcp --dport 25 --syn -j DROP || return 1
		;;
	xdp)
		lab_ctl block host "$FLOOD_SRC/32" >/dev/null || return 1
		;;
	esac
}

clear_filter() {
	case "$1" in
	nft) lab_exec relay nft delete table netdev rgbn ;;
	iptables) lab_exec relay iptables -t raw -F PREROUTING ;;
	xdp) lab_ctl unblock host "$FLOOD_SRC/32" >/dev/null ;;
	esac
}

# run_point CONFIG RATE: one measurement; appends "CONFIG PPS TPS SOFTIRQ_TICKS" to
# $TMP/points.
run_point() {
	local cfg=$1 rate=$2 s0 s1 tps pkts pps tg_pid=
	local ns_a ns_b
	ns_a=$(lab_ns tenant-a)
	ns_b=$(lab_ns tenant-b2)
	: >"$TMP/a.out"
	: >"$TMP/tg.out"
	s0=$(softirq_ticks)
	if [ "$rate" != 0 ]; then
		local lim=(-n "$MAX_PKTS")
		[ "$rate" != max ] && lim=(-b "${rate}pps" -n $((rate * DUR)))
		# -P 1: one generator core; -Q: leave IRQ affinity alone. Bounded by count and time.
		timeout -s TERM "$DUR" ip netns exec "$ns_b" trafgen -o lab0 -c "$TMP/syn.cfg" \
			-P 1 -Q "${lim[@]}" >"$TMP/tg.out" 2>&1 &
		tg_pid=$!
	fi
	timeout -s INT "$DUR" ip netns exec "$ns_a" smtp-source -c -s 8 -m 100000000 \
		-f bench@contoso.example -t rcpt@dest.example "$LAB_RELAY_A4:25" \
		>"$TMP/a.out" 2>&1
	[ -n "$tg_pid" ] && wait "$tg_pid"
	s1=$(softirq_ticks)
	tps=$(tr '\r' '\n' <"$TMP/a.out" | grep -E '^[0-9]+$' | tail -1)
	: "${tps:=0}"
	pkts=$(tr '\r' '\n' <"$TMP/tg.out" | awk '/packets outgoing/ { print $1 }' | tail -1)
	: "${pkts:=0}"
	pps=$((pkts / DUR))
	echo "$cfg $pps $(echo "scale=1; $tps / $DUR" | bc) $((s1 - s0))" >>"$TMP/points"
	# Let the relay drain A's queue and the half-open connections expire a little.
	sleep 2
}

run_config() { # CONFIG
	local r
	set_filter "$1" || { echo "bench-flood.sh: could not set up $1" >&2; return 1; }
	for r in $RATES; do
		run_point "$1" "$r"
	done
	clear_filter "$1"
}

: >"$TMP/points"
uses_plain=0
for c in $CONFIGS; do [ "$c" != xdp ] && uses_plain=1; done
if [ $uses_plain = 1 ]; then
	lab_up --no-guard || exit 1
	write_trafgen_cfg
	for c in $CONFIGS; do
		[ "$c" = xdp ] || run_config "$c" || exit 1
	done
	lab_down
fi
case " $CONFIGS " in *" xdp "*)
	lab_up --guard || exit 1
	write_trafgen_cfg
	run_config xdp || exit 1
	lab_down
	;;
esac

echo "iptables: $(iptables -V); trafgen: one core; A: smtp-source -s 8 to Postfix; ${DUR}s per point"
printf '%-9s %10s %9s %8s %11s %14s\n' config flood_pps a_tps ratio softirq_ms ns/flood_pkt
for c in $CONFIGS; do
	# This configuration's no-flood point: A's throughput and softirq at rate 0.
	read -r base_tps base_si < <(awk -v c="$c" '$1 == c && $2 == 0 { print $3, $4; exit }' \
		"$TMP/points")
	: "${base_tps:=0}" "${base_si:=0}"
	: >"$TMP/plot.$c"
	while read -r cfg pps tps si; do
		[ "$cfg" = "$c" ] || continue
		ratio=$(awk -v t="$tps" -v b="$base_tps" 'BEGIN { printf "%.3f", (b > 0) ? t / b : 0 }')
		si_ms=$((si * 1000 / HZ))
		if [ "$pps" -gt 0 ]; then
			cpu=$(awk -v si="$si" -v bsi="$base_si" -v r="$ratio" -v hz="$HZ" -v p="$pps" \
				-v d="$DUR" 'BEGIN { x = (si - bsi * r) * 1e9 / hz / (p * d);
				printf "%.0f", (x < 0) ? 0 : x }')
		else
			cpu=-
		fi
		printf '%-9s %10s %9s %8s %11s %14s\n' "$c" "$pps" "$tps" "$ratio" "$si_ms" "$cpu"
		echo "bench-flood $c flood_pps=$pps a_tps_ratio=$ratio cpu_ns_per_flood_pkt=$cpu" \
			"a_tps=$tps softirq_ms=$si_ms" >>"$TMP/lines"
		echo "$pps $ratio" >>"$TMP/plot.$c"
	done <"$TMP/points"
done
cat "$TMP/lines"

mkdir -p "$(dirname "$PLOT")"
plots=()
for c in $CONFIGS; do
	plots+=("'$TMP/plot.$c' using (\$1/1000):2 with linespoints title '$c'")
done
gnuplot <<-EOF || echo "bench-flood.sh: gnuplot failed" >&2
	set terminal pngcairo size 800,500 noenhanced
	set output '$PLOT'
	set title "Tenant A's SMTP transactions/s under a SYN flood from a blocked host (lab, veth)"
	set xlabel 'flood rate offered by trafgen (kpps, one core)'
	set ylabel "A's throughput / A's no-flood throughput"
	set yrange [0:1.2]
	set key bottom left
	set grid
	plot $(IFS=,; echo "${plots[*]}")
EOF
echo "plot: $PLOT"
