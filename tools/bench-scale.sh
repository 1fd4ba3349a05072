#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# bench-scale.sh: scale figures (a benchmark, not a test). Starts relayguardd in a namespace
# made here (rgbn-sc-srv, one veth to rgbn-sc-cli, no default route, removed at exit)
#  1. with host_table_size 10k, 100k, 1M: the kernel memory of each map (bpftool map show,
#     memlock; the LRU hashes are preallocated, so this is the full-table cost);
#  2. with the hosts map filled to 1k and to 1M entries (tests/helpers/rg_loader fill-hosts:
#     one bpf_map_update_batch of synthetic hosts, as a random-source flood leaves them):
#     sequential policy requests (bench-policy, one connection) for BENCH_POLICY_S seconds,
#     their p99 and the agent's CPU over the run (utime + stime from /proc);
#  3. with a generated config of 100k tenants and 1M accepted domains (10 per tenant, in
#     domain files): the agent's VmRSS once it serves its policy socket, and its load time.
# Accepted-domain load time and lookups/s are bench-domains' (make bench-domains).
# The namespaces, veth and agent start are tests/lib.sh's fixture (through bench-lib.sh).
# Reports `bench-scale hosts=N map_kib=K hosts_map_kib=H`,
# `bench-scale agent hosts=N policy_p99_us=X agent_cpu_pct=Y` and
# `bench-scale tenants=100000 domains=1000000 rss_mib=R start_s=S`.
set -u
. "$(dirname "$0")/bench-lib.sh"
SRV=rgbn-sc-srv
CLI=rgbn-sc-cli
TENANTS=${BENCH_TENANTS:-100000}
PER_TENANT=${BENCH_DOMAINS_PER_TENANT:-10}
POLICY_S=${BENCH_POLICY_S:-10}
PARTS=${BENCH_SCALE_PARTS:-maps agent tenants} # which of 1. 2. 3. to run
part() { case " $PARTS " in *" $1 "*) return 0 ;; esac; return 1; }

bench_need_root
bench_need_built relayguardd bench-policy tests/helpers/rg_loader
rg_ns_add "$SRV" "$CLI" || exit 1
rg_veth "$SRV" sc0 "$CLI" sc0 || exit 1
ip -n "$SRV" addr add 198.51.100.1/24 dev sc0 || exit 1
rg_agent_fixture "$SRV" rgbn-sc || exit 1
TMP=$RG_DIR PIN=$RG_PIN

write_conf() { # HOSTS [TENANT-FILE]
	if [ -n "${2:-}" ]; then
		echo "include = $2"
	else
		printf '[tenant t]\nconnectors = 198.51.100.0/24\naccepted_domains = t.example\n'
	fi | rg_agent_conf interfaces=sc0 attach_mode=auto host_table_size="$1" \
		flow_table_size=262144
}

start_agent() {
	rm -rf "$TMP/state" "$PIN"
	mkdir -p "$TMP/state"
	local t0
	t0=$(date +%s.%N)
	RG_AGENT_WAIT=60 rg_agent_start || { echo "$BENCH: agent did not start" >&2; return 1; }
	START_S=$(echo "$(date +%s.%N) - $t0" | bc)
	PID=$RG_AGENT_PID
}

stop_agent() {
	rg_agent_stop
	rm -rf "$PIN"
}

part maps && printf '%-9s %12s %14s\n' hosts all_maps_KiB hosts_map_KiB
part maps && for n in 10000 100000 1000000; do
	write_conf "$n"
	start_agent || exit 1
	total=0 hosts=0
	# Every map this agent pinned (links and programs are skipped: no bytes_memlock).
	for f in "$PIN"/*; do
		mem=$(bpftool map show pinned "$f" -j 2>/dev/null | jq -r '.bytes_memlock // empty')
		[ -n "$mem" ] || continue
		total=$((total + mem))
		[ "${f##*/}" = hosts ] && hosts=$mem
		[ -n "${BENCH_VERBOSE:-}" ] && echo "  ${f##*/} $((mem / 1024)) KiB"
	done
	printf '%-9s %12s %14s\n' "$n" $((total / 1024)) $((hosts / 1024))
	echo "bench-scale hosts=$n map_kib=$((total / 1024)) hosts_map_kib=$((hosts / 1024))" \
		>>"$TMP/lines"
	stop_agent
done

# The agent's policy latency and CPU with the hosts map nearly empty and full.
CLK_TCK=$(getconf CLK_TCK)
agent_ticks() { awk '{ print $14 + $15 }' "/proc/$PID/stat"; }
part agent && printf '%-9s %15s %14s\n' hosts policy_p99_us agent_cpu_pct
part agent && for n in 1000 1048576; do
	write_conf 1048576
	start_agent || exit 1
	"$BUILD/tests/helpers/rg_loader" fill-hosts --pin-dir "$PIN" "$n" >/dev/null || {
		echo "bench-scale.sh: filling the hosts map failed" >&2; exit 1; }
	t0=$(date +%s.%N) c0=$(agent_ticks)
	line=$(timeout $((POLICY_S + 60)) "$BUILD/bench-policy" -l relayguard -c 1 -w 1 \
		-d "$POLICY_S" "unix:$TMP/policy.sock" 2>/dev/null) || {
		echo "bench-scale.sh: bench-policy failed" >&2; exit 1; }
	c1=$(agent_ticks) t1=$(date +%s.%N)
	p99=$(sed -n 's/.*p99_us=\([0-9.]*\).*/\1/p' <<<"$line")
	cpu=$(echo "scale=1; ($c1 - $c0) * 100 / $CLK_TCK / ($t1 - $t0)" | bc)
	printf '%-9s %15s %14s\n' "$n" "$p99" "$cpu"
	echo "bench-scale agent hosts=$n policy_p99_us=$p99 agent_cpu_pct=$cpu" >>"$TMP/lines"
	stop_agent
done

if part tenants; then
# 100k tenants, 1M domains: one connector /32 per tenant (in 10.0.0.0/8 would be a private
# range; documentation prefixes cannot hold 100k /32s, so tenants get IPv6 /64s in
# 2001:db8::/32) and a domain file each of PER_TENANT domains.
mkdir -p "$TMP/tenants"
awk -v n="$TENANTS" -v per="$PER_TENANT" -v dir="$TMP/tenants" 'BEGIN {
	for (t = 0; t < n; t++) {
		printf "[tenant t%d]\nconnectors = 2001:db8:%x:%x::/64\naccepted_domains_file = d%d\n\n",
			t, int(t / 65536) + 1, t % 65536, t > dir "/all.conf"
		f = dir "/d" t
		for (d = 0; d < per; d++) printf "dom%d-%d.example\n", d, t > f
		close(f)
	}
}'
write_conf 1048576 "$TMP/tenants/all.conf"
start_agent || exit 1
rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$PID/status")
printf 'agent with %d tenants, %d domains: VmRSS %d MiB, policy socket after %.1f s\n' \
	"$TENANTS" $((TENANTS * PER_TENANT)) $((rss / 1024)) "$START_S"
echo "bench-scale tenants=$TENANTS domains=$((TENANTS * PER_TENANT)) rss_mib=$((rss / 1024))" \
	"start_s=$START_S" >>"$TMP/lines"
stop_agent
fi
cat "$TMP/lines"
