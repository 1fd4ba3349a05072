#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# bench-react.sh: reaction time, relayguard against fail2ban (a benchmark, not a test).
# Two namespaces made here (rgbn-rx-cli with 30 host addresses in 198.51.100.0/24, and
# rgbn-rx-srv, 198.51.100.1, nothing listening on port 25, so an answered SYN gets a RST),
# one veth, no default route; removed at exit with every process started here.
# relayguard: relayguardd on the server's veth (XDP), unregistered_limit 1, flood_limit 3;
#   $BUILD/bench-react sends flood_limit+1 rejected policy requests for a fresh host and
#   times from the last request to the first of that host's SYNs left unanswered.
# fail2ban: fail2ban-server -f in the server namespace with a private config (the Debian
#   postfix filter, maxretry 4, banaction nftables with blocktype drop, backend auto);
#   the helper appends 4 Postfix reject lines for a fresh host to its log and times from
#   writing the last line to the first unanswered SYN.
# BENCH_RUNS (default 30) runs each, one host address per run. Reports the samples' median
# and p99 (nearest rank) per tool, `bench-react TOOL median_ms=M p99_ms=P`, and the ratio.
set -u
. "$(dirname "$0")/bench-lib.sh"
RUNS=${BENCH_RUNS:-30}
CLI=rgbn-rx-cli
SRV=rgbn-rx-srv
SRV_ADDR=198.51.100.1


bench_need_root
bench_need_cmd fail2ban-server
bench_need_built relayguardd bench-react
HELPER=$ROOT/$BUILD/bench-react

rg_ns_add "$CLI" "$SRV" || exit 1
rg_veth "$SRV" rx0 "$CLI" rx0 || exit 1
rg_agent_fixture "$SRV" rgbn-rx || exit 1
TMP=$RG_DIR PIN=$RG_PIN
chmod 755 "$TMP"
PIDS=()
# Then whatever still runs in the namespaces was started here (fail2ban, helpers).
rg_on_exit 'for p in "${PIDS[@]}"; do kill "$p"; done; sleep 0.5
	for p in $(ip netns pids "$SRV") $(ip netns pids "$CLI"); do kill -9 "$p"; done'
ip -n "$SRV" addr add "$SRV_ADDR/24" dev rx0 || exit 1
for ((i = 0; i < 2 * RUNS && i < 200; i++)); do
	ip -n "$CLI" addr add "198.51.100.$((20 + i))/24" dev rx0 || exit 1
done
sleep 1
if [ -n "$(rg_default_routes "$SRV" "$CLI")" ]; then
	echo "bench-react.sh: a default route appeared; refusing to run" >&2
	exit 1
fi

stats() { # FILE: "median p99" (nearest rank) of the numbers in FILE, in ms
	sort -n "$1" | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "- -"; exit }
		m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		r = int(0.99 * NR + 0.999999); if (r < 1) r = 1; if (r > NR) r = NR
		printf "%.2f %.2f\n", m, v[r] }'
}

# ---- relayguard ------------------------------------------------------------------------
rg_agent_conf interfaces=rx0 attach_mode=auto smtp_ports=25 mode=enforce host_prefix_v4=32 <<EOF
[limits]
unregistered_limit = 1
unregistered_window = 1h
flood_limit = 3
flood_block_time = 15m
connection_rate_limit = 100000/1m

[tenant tenant-b]
connectors = 198.51.100.0/24
accepted_domains = northwind.example
EOF
rg_agent_start || { echo "$BENCH: relayguardd did not start" >&2; exit 1; }

: >"$TMP/rg.ms"
# The tenant becomes restricted on the first host's second unregistered transaction; each
# host then needs flood_limit+1 rejected ones. The first host's extra request is sent before
# the runs (its own address, not one of the measured ones).
"$HELPER" --netns "/run/netns/$CLI" --src 198.51.100.20 --dst "$SRV_ADDR" \
	--policy "$TMP/policy.sock" --count 1 --max-s 1 >/dev/null || exit 1
for ((i = 1; i <= RUNS; i++)); do
	out=$("$HELPER" --netns "/run/netns/$CLI" --src "198.51.100.$((20 + i))" \
		--dst "$SRV_ADDR" --policy "$TMP/policy.sock" --count 4 --max-s 5) || continue
	ms=${out#react_ms=}
	ms=${ms%% *}
	[ "$ms" = -1 ] && { echo "bench-react.sh: relayguard run $i: no drop" >&2; continue; }
	echo "$ms" >>"$TMP/rg.ms"
done
rg_agent_stop
# Detach: the agent's XDP link outlives it; the pins go with the directory.
"$RG_CTL" -c "$TMP/rg.conf" detach --purge >/dev/null 2>&1
rm -rf "$PIN"
sleep 0.5

# ---- fail2ban --------------------------------------------------------------------------
F2B=$TMP/f2b
mkdir -p "$F2B"
cp -r /etc/fail2ban/filter.d /etc/fail2ban/action.d "$F2B/"
cp /etc/fail2ban/paths-common.conf /etc/fail2ban/paths-debian.conf "$F2B/"
: >"$TMP/mail.log"
cat >"$F2B/fail2ban.conf" <<EOF
[Definition]
loglevel = INFO
logtarget = $TMP/fail2ban.log
socket = $TMP/f2b.sock
pidfile = $TMP/f2b.pid
dbfile = :memory:
EOF
cat >"$F2B/jail.conf" <<EOF
[INCLUDES]
before = paths-debian.conf

[DEFAULT]
backend = auto
usedns = no
bantime = 1h
findtime = 10m
maxretry = 4
banaction = nftables[blocktype=drop]
action = %(banaction)s[port="smtp", protocol="tcp"]

[postfix]
enabled = true
filter = postfix
port = smtp
logpath = $TMP/mail.log
EOF
(exec ip netns exec "$SRV" fail2ban-server -f -x -c "$F2B" -s "$TMP/f2b.sock" \
	-p "$TMP/f2b.pid" >"$TMP/f2b.out" 2>&1 </dev/null) &
PIDS+=($!)
for ((i = 0; i < 100; i++)); do
	ip netns exec "$SRV" fail2ban-client -s "$TMP/f2b.sock" status postfix >/dev/null 2>&1 &&
		break
	sleep 0.2
done
: >"$TMP/f2b.ms"
for ((i = 1; i <= RUNS; i++)); do
	out=$("$HELPER" --netns "/run/netns/$CLI" --src "198.51.100.$((20 + RUNS + i))" \
		--dst "$SRV_ADDR" --log "$TMP/mail.log" --count 4 --max-s 20) || continue
	ms=${out#react_ms=}
	ms=${ms%% *}
	[ "$ms" = -1 ] && { echo "bench-react.sh: fail2ban run $i: no drop" >&2; continue; }
	echo "$ms" >>"$TMP/f2b.ms"
done

read -r rg_med rg_p99 < <(stats "$TMP/rg.ms")
read -r f2_med f2_p99 < <(stats "$TMP/f2b.ms")
printf '%-11s %5s %10s %10s\n' tool runs median_ms p99_ms
printf '%-11s %5s %10s %10s\n' relayguard "$(wc -l <"$TMP/rg.ms")" "$rg_med" "$rg_p99"
printf '%-11s %5s %10s %10s\n' fail2ban "$(wc -l <"$TMP/f2b.ms")" "$f2_med" "$f2_p99"
echo "fail2ban $(fail2ban-server -V 2>/dev/null | head -1), backend auto, banaction nftables (drop)"
echo "bench-react relayguard median_ms=$rg_med p99_ms=$rg_p99"
echo "bench-react fail2ban median_ms=$f2_med p99_ms=$f2_p99"
awk -v a="$rg_med" -v b="$f2_med" 'BEGIN { if (a > 0) printf "bench-react ratio fail2ban_over_relayguard=%.0f\n", b / a }'
