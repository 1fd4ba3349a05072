#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# bench-policy.sh: policy service throughput and latency, ours against postfwd (not a test).
# Runs $BUILD/bench-policy with 1 and 64 connections against relayguardd when
# $BUILD/relayguardd exists (else the stub server over user/policy.c, labelled "stub") and
# against postfwd1 with the closest rule postfwd has (rate limit of unregistered sender
# domains per client address in the tenant's networks), same client and traffic. Everything
# runs on the loopback of a private network namespace made here and removed at exit, with
# every process this script started. relayguardd is also measured over a unix socket, the
# way Postfix reaches it (postfwd listens on TCP only). Prints each "bench-policy ..." line and a ratio
# line per connection count. Each run also gives the server's CPU time per request answered
# (utime + stime of its process over the measured span, from /proc/PID/stat, so it holds on
# any machine, whatever the wake-up cost between client and server):
#   bench-policy SERVER conns=C cpu_us_per_req=X
# and, for the last connection count (64), bench-policy ratio cpu_postfwd_over_SERVER=R.
# BENCH_DURATION (s, default 5) and BENCH_WARMUP (default 1).
set -u
. "$(dirname "$0")/bench-lib.sh"
DUR=${BENCH_DURATION:-5}
WARM=${BENCH_WARMUP:-1}
CONNS_LIST=${BENCH_CONNS:-"1 64"}
BLOCK="550 5.7.750 Service unavailable. Client blocked from sending from unregistered domains"

bench_need_built bench-policy tests/helpers/policy_stub
bench_need_cmd postfwd1

NS=rgpol-bench-$$
TMP=$(mktemp -d /tmp/rgpol-bench.XXXXXX)
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	[ -s "$TMP/postfwd.pid" ] && kill "$(cat "$TMP/postfwd.pid")" 2>/dev/null
	sleep 0.3
	# Anything still in our namespace was started by this script.
	for p in $(ip netns pids "$NS" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
	ip netns del "$NS" 2>/dev/null
	[ -n "${PIN_DIR:-}" ] && rm -rf "$PIN_DIR"
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

ip netns add "$NS" || exit 1
ip -n "$NS" link set lo up
in_ns() { ip netns exec "$NS" "$@"; }

# wait_port PORT: up to 10 s for 127.0.0.1:PORT in the namespace to accept.
wait_port() {
	in_ns python3 -c '
import socket, sys, time
end = time.monotonic() + 10
while time.monotonic() < end:
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close(); sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)' "$1"
}

declare -A RPS CPU
# run_bench LABEL PORT|ADDR PID: 1 and 64 connections against inet:127.0.0.1:PORT or ADDR,
# server process PID.
run_bench() {
	local label=$1 addr=$2 pid=$3 c line
	case $addr in *:*) ;; *) addr=inet:127.0.0.1:$addr ;; esac
	for c in $CONNS_LIST; do
		line=$(in_ns timeout $((DUR + WARM + 30)) "$BUILD/bench-policy" -l "$label" -c "$c" \
			-d "$DUR" -w "$WARM" -p "$pid" "$addr") || {
			echo "bench-policy.sh: $label conns=$c failed" >&2
			continue
		}
		echo "$line"
		RPS[$label.$c]=$(sed -n 's/.*req_per_s=\([0-9]*\).*/\1/p' <<<"$line")
		CPU[$label.$c]=$(sed -n 's/.*cpu_us_per_req=\([0-9.]*\).*/\1/p' <<<"$line")
	done
}

# Ours: relayguardd when built, else the stub.
OURS=stub
PORT=10041
if [ -x "$BUILD/relayguardd" ]; then
	ip -n "$NS" link add rgb0 type veth peer name rgb1 && ip -n "$NS" link set rgb0 up
	PIN_DIR=/sys/fs/bpf/$NS
	cat >"$TMP/relayguard.conf" <<EOF
[agent]
interfaces = rgb0
policy_listen = inet:127.0.0.1:$PORT unix:$TMP/policy.sock
control_socket = $TMP/control.sock
metrics_listen =
state_dir = $TMP/state
pin_dir = $PIN_DIR
mode = enforce
fail_mode = open
[limits]
unregistered_limit = 100
unregistered_window = 1h
[tenant contoso]
connectors = 192.0.2.0/24 2001:db8:10::/48
accepted_domains = contoso.com
EOF
	mkdir -p "$TMP/state"
	# nsenter, not ip netns exec: pins under /sys/fs/bpf must be the real ones.
	nsenter --net=/run/netns/"$NS" "$BUILD/relayguardd" -f -c "$TMP/relayguard.conf" \
		>"$TMP/relayguardd.log" 2>&1 &
	PIDS+=($!)
	if wait_port $PORT; then
		OURS=relayguardd
	else
		echo "bench-policy.sh: relayguardd did not come up, using the stub:" >&2
		tail -5 "$TMP/relayguardd.log" >&2
		kill "${PIDS[-1]}" 2>/dev/null
	fi
fi
if [ "$OURS" = stub ]; then
	ip netns exec "$NS" "$BUILD/tests/helpers/policy_stub" --listen "inet:127.0.0.1:$PORT" \
		>"$TMP/stub.log" 2>&1 &
	PIDS+=($!)
	wait_port $PORT || { echo "bench-policy.sh: stub did not start" >&2; exit 1; }
fi
OURS_PID=${PIDS[-1]} # nsenter and ip netns exec exec the server: this is its pid
run_bench "$OURS" $PORT "$OURS_PID"
# Postfix reaches relayguardd over a unix socket (private/relayguard): that path too.
[ "$OURS" = relayguardd ] && run_bench relayguardd_unix "unix:$TMP/policy.sock" "$OURS_PID"

# postfwd1: single process (postfwd2's prefork children do not share rate counters).
cat >"$TMP/postfwd.cf" <<EOF
id=R1; client_address=192.0.2.0/24, 2001:db8:10::/48; sender_domain=!!(^contoso\.com\$); action=rate(client_address/100/3600/$BLOCK)
EOF
in_ns postfwd1 -d -f "$TMP/postfwd.cf" -i 127.0.0.1 -p 10040 --pidfile "$TMP/postfwd.pid" \
	-n --norulelog --noidlestats -u nobody -g nogroup
wait_port 10040 || { echo "bench-policy.sh: postfwd1 did not start" >&2; exit 1; }
# postfwd1 -d daemonizes: its pidfile names the one process that answers.
run_bench postfwd 10040 "$(cat "$TMP/postfwd.pid")"

for c in $CONNS_LIST; do
	a=${RPS[$OURS.$c]:-} b=${RPS[postfwd.$c]:-}
	if [ -n "$a" ] && [ -n "$b" ] && [ "$b" -gt 0 ]; then
		echo "bench-policy ratio conns=$c $OURS/postfwd=$(awk -v a="$a" -v b="$b" \
			'BEGIN { printf "%.1f", a / b }')"
	fi
done
# CPU per request at the highest connection count: what a busy relay pays per request.
last=${CONNS_LIST##* }
a=${CPU[$OURS.$last]:-} b=${CPU[postfwd.$last]:-}
if [ -n "$a" ] && [ -n "$b" ] && awk -v a="$a" 'BEGIN { exit !(a > 0) }'; then
	echo "bench-policy ratio cpu_postfwd_over_$OURS=$(awk -v a="$a" -v b="$b" \
		'BEGIN { printf "%.1f", b / a }')"
fi
