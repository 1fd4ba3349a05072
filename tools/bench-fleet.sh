#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# bench-fleet.sh: the fleet's costs (a benchmark, not a test). Three relays of the fleet
# fixture (tests/lib.sh: namespaces made here, no default route, removed at exit), one
# redis-server on a unix socket in the benchmark's directory. No packet is sent.
# - propagation: `relayguardctl block host` on relay 1, timed from the verdict appearing
#   in relay 1's pinned kernel map to it being in relays 2 and 3's (a poller reading the
#   pinned maps with bpf(2)), BENCH_RUNS (default 100) hosts.
# - policy_overhead: BENCH_REQUESTS (default 2000) unregistered transactions on one
#   connection to relay 1, each timed by the client, with [fleet] and without it (relay 1
#   restarted standalone); the difference of the percentiles.
# - redis_ops_per_unregistered / _registered: FCALLs Redis counted per request.
# Prints `bench-fleet propagation p50_ms=X p99_ms=Y`, `bench-fleet policy_overhead
# p50_us=X p99_us=Y` (with the two runs' own figures), `bench-fleet
# redis_ops_per_unregistered=N`, `bench-fleet redis_ops_per_registered=N`.
set -u
. "$(dirname "$0")/bench-lib.sh"
RUNS=${BENCH_RUNS:-100}
REQS=${BENCH_REQUESTS:-2000}

bench_need_root
bench_need_cmd redis-server redis-cli socat python3
bench_need_built relayguardd relayguardctl
rg_tmpdir T rgbf || exit 1
chmod 755 "$T"
rg_redis_start "$T" redis || exit 1
rg_fleet_relays rgbf 3 || exit 1
[ -z "$(rg_default_routes "${RG_FLEET_NSR[@]}" "${RG_FLEET_NSC[@]}")" ] || exit 1

conf() {
	rg_fleet_use "$1"
	{
		cat <<EOF
[limits]
unregistered_limit = 100000000
unregistered_window = 1h

[tenant contoso]
connectors = 192.0.2.0/24
accepted_domains = contoso.example
EOF
		[ "$2" = on ] && printf '[fleet]\nredis = %s\nrelay_id = relay%s\nkey_prefix = bench\n' \
			"${RG_REDIS_ADDR[redis]}" "$1"
	} | rg_agent_conf interfaces=r1 attach_mode=native log_level=warn
}

for i in 1 2 3; do
	conf $i on
	rg_fleet_start $i || exit 1
done
up() { [ "$(rg_fleet_metric "$1" relayguard_fleet_link_up)" = 1 ]; }
for i in 1 2 3; do
	for ((k = 0; k < 100; k++)); do up $i && break; sleep 0.1; done
	up $i || { echo "$BENCH: relay $i has no Redis link" >&2; exit 1; }
done

# ---- propagation ----
python3 - "$RUNS" "$RG_CTL" "${RG_FLEET_DIR[1]}/rg.conf" "${RG_FLEET_PIN[@]}" <<'EOF'
import ctypes, os, struct, subprocess, sys, time
runs, ctl, conf, pins = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
libc = ctypes.CDLL(None, use_errno=True)
NR_BPF = 321
def bpf(cmd, attr):
    buf = ctypes.create_string_buffer(attr, 128)
    return libc.syscall(NR_BPF, cmd, buf, 128)
def obj_get(path):
    p = ctypes.create_string_buffer(path.encode())
    fd = bpf(7, struct.pack("QII", ctypes.addressof(p), 0, 0))
    if fd < 0:
        sys.exit("cannot open %s" % path)
    return fd
fds = [obj_get(p + "/verdict_hosts") for p in pins]
val = ctypes.create_string_buffer(512)
def has(fd, key):
    k = ctypes.create_string_buffer(key, 16)
    return bpf(1, struct.pack("IIQQQ", fd, 0, ctypes.addressof(k), ctypes.addressof(val), 0)) == 0
lat = []
for r in range(runs):
    a = bytes([10, 77, r // 200, r % 200 + 1])
    key = b"\0" * 10 + b"\xff\xff" + a
    p = subprocess.Popen([ctl, "-c", conf, "block", "host", ".".join(map(str, a))],
                         stdout=subprocess.DEVNULL)
    end = time.monotonic() + 5
    while not has(fds[0], key) and time.monotonic() < end:
        pass
    t0 = time.monotonic()
    rest = list(fds[1:])
    while rest and time.monotonic() < end:
        rest = [fd for fd in rest if not has(fd, key)]
    t1 = time.monotonic()
    p.wait()
    if rest:
        sys.exit("verdict did not reach every relay")
    lat.append((t1 - t0) * 1e3)
lat.sort()
pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat) + 0.999999) - 1)]
print("bench-fleet propagation p50_ms=%.2f p99_ms=%.2f" % (pct(0.5), pct(0.99)))
EOF

# ---- policy overhead, Redis operations ----
# timed SOCKET TAG N SENDER: N requests on one connection; prints "p50_us p99_us".
timed() {
	python3 - "$@" <<'EOF'
import socket, sys, time
path, tag, n, sender = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
s = socket.socket(socket.AF_UNIX); s.connect(path)
lat = []
for i in range(n):
    req = ("request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=192.0.2.10\n"
           "sender=%s\ninstance=%s.%d\nrecipient=r@dest.example\n\n" % (sender, tag, i))
    t = time.perf_counter()
    s.sendall(req.encode())
    buf = b""
    while not buf.endswith(b"\n\n"):
        buf += s.recv(4096)
    lat.append((time.perf_counter() - t) * 1e6)
lat.sort()
pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat) + 0.999999) - 1)]
print("%.0f %.0f" % (pct(0.5), pct(0.99)))
EOF
}
fcalls() { rg_redis_cli redis INFO commandstats | sed -n 's/^cmdstat_fcall:calls=\([0-9]*\),.*/\1/p'; }
SOCK=${RG_FLEET_DIR[1]}/policy.sock
timed "$SOCK" warm 200 x@warm.example >/dev/null
c0=$(fcalls)
read -r on50 on99 < <(timed "$SOCK" on "$REQS" x@spam.example)
c1=$(fcalls)
timed "$SOCK" reg "$REQS" a@contoso.example >/dev/null
c2=$(fcalls)
rg_fleet_stop 1
conf 1 off
rg_fleet_start 1 || exit 1
timed "$SOCK" warm2 200 x@warm.example >/dev/null
read -r off50 off99 < <(timed "$SOCK" off "$REQS" x@spam.example)
echo "bench-fleet policy_overhead p50_us=$((on50 - off50)) p99_us=$((on99 - off99))" \
	"(fleet on p50_us=$on50 p99_us=$on99, off p50_us=$off50 p99_us=$off99, $REQS requests)"
awk -v d=$((c1 - c0)) -v n="$REQS" 'BEGIN {printf "bench-fleet redis_ops_per_unregistered=%.2f\n", d / n}'
awk -v d=$((c2 - c1)) -v n="$REQS" 'BEGIN {printf "bench-fleet redis_ops_per_registered=%.2f\n", d / n}'
