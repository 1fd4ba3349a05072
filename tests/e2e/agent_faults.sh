#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# agent_faults.sh: relayguardd under faults, in a namespace this suite creates (rgft-relay,
# one veth, no default route, no packets sent). (1) kill -9 at random moments while the
# agent writes state, many times: every restart loads the state whole (no "corrupt") and
# every restriction made before the kill is still there. (2) state_dir on a tiny tmpfs that
# is full: the failure is logged and counted, and the agent keeps deciding from memory
# (the 5.7.750 reply still comes); once space is back the state is saved again.
set -u
. "$(dirname "$0")/../lib.sh"

NS=rgft-relay
rg_ns_add $NS || exit 1
rg_veth $NS r1 $NS r1p || exit 1
rg_agent_fixture $NS rgft || exit 1
D=$RG_DIR CTL=$RG_CTL
# The agent may have a file open on the small tmpfs: it goes first.
rg_on_exit 'rg_agent_stop KILL; mountpoint -q "$D/small" && umount "$D/small"'

write_conf() { # STATE_DIR
	rg_agent_conf state_dir="$1" audit_log="$D/audit.log" <<EOF
[limits]
unregistered_limit = 2
flood_limit = 1000

[tenant t0]
connectors = 192.0.2.0/28
[tenant t1]
connectors = 192.0.2.16/28
[tenant t2]
connectors = 192.0.2.32/28
[tenant t3]
connectors = 192.0.2.48/28
[tenant t4]
connectors = 192.0.2.64/28
[tenant t5]
connectors = 192.0.2.80/28
[tenant t6]
connectors = 192.0.2.96/28
[tenant t7]
connectors = 192.0.2.112/28
EOF
}

# reqs CLIENT N PREFIX [null|reg]: N unregistered (null: null-sender, reg: t0.example)
# transactions from CLIENT on one connection.
reqs() {
	python3 - "$D/policy.sock" "$1" "$2" "$3" "${4:-}" <<'EOF'
import socket, sys
path, client, n, pfx, kind = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(path)
for i in range(n):
    snd = {"null": "", "reg": "r%d@t0.example" % i}.get(kind, "x@spam%d.example" % i)
    s.sendall(("request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=%s\n"
               "sender=%s\ninstance=%s.%d\n\n" % (client, snd, pfx, i)).encode())
    buf = b""
    while not buf.endswith(b"\n\n"):
        d = s.recv(4096)
        if not d:
            sys.exit(1)
        buf += d
    print(buf.decode().strip())
EOF
}

REJECT="action=550 5.7.750 Service unavailable. Client blocked from sending from unregistered domains"

# (1) kill -9 while writing state.
mkdir -p "$D/state"
write_conf "$D/state"
restricted=()
bad_loads=0 lost=0 rounds=12
for r in $(seq 0 $((rounds - 1))); do
	rg_agent_start || { fail "agent starts (round $r)"; break; }
	t=$((r % 8))
	client=192.0.2.$((t * 16 + 1))
	# Restrict tenant t (3 unregistered: the 3rd is over the limit of 2), then keep the
	# agent busy saving budgets and kill it at a random moment.
	out=$(reqs "$client" 3 "r$r")
	if [ "$(echo "$out" | tail -1)" = "$REJECT" ]; then
		restricted+=("t$t")
	fi
	reqs 192.0.2.$((((t + 1) % 8) * 16 + 2)) 2 "b$r" >/dev/null &
	sleep "0.0$((RANDOM % 9))"
	rg_agent_stop KILL
	wait
	python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$D/state/state.json" 2>/dev/null ||
		bad_loads=$((bad_loads + 1))
done
expect_eq "state.json parses after every kill -9 ($rounds rounds)" 0 "$bad_loads"
rg_agent_start && ok "agent starts after the last kill" || fail "agent starts after the last kill"
grep -qi corrupt "$D/agent.log" && fail "no state file was ever found corrupt" ||
	ok "no state file was ever found corrupt"
tj=$("$CTL" -c "$D/rg.conf" tenants --json)
for t in $(printf '%s\n' "${restricted[@]}" | sort -u); do
	[ "$(echo "$tj" | jq -r ".tenants[] | select(.name==\"$t\") | .state")" = restricted ] ||
		lost=$((lost + 1))
done
expect_eq "every restriction made before a kill -9 survived (${#restricted[@]} made)" 0 "$lost"
[ ${#restricted[@]} -ge $rounds ] && ok "each round restricted its tenant" ||
	fail "each round restricted its tenant (${#restricted[@]} of $rounds)"
rg_agent_stop

# (1b) kill -9 right after N counted requests (each answered, so each journalled before
# its reply): after a restart UNREG, REG and NULL are exactly what was sent. Then a torn
# last journal record (the file cut mid-record) is ignored with a warning, not a refused
# start.
mkdir -p "$D/state1b"
rg_agent_conf state_dir="$D/state1b" audit_log="$D/audit.log" <<EOF
[limits]
unregistered_limit = 100

[tenant t0]
connectors = 192.0.2.0/28
accepted_domains = t0.example
EOF
# mixed N_UNREG N_REG N_NULL PREFIX: that many transactions from 192.0.2.1, each answered.
mixed() {
	reqs 192.0.2.1 "$1" "$4u" >/dev/null && reqs 192.0.2.1 "$2" "$4r" reg >/dev/null &&
		reqs 192.0.2.1 "$3" "$4n" null >/dev/null
}
counts() { # "UNREG REG NULL" of t0
	"$CTL" -c "$D/rg.conf" tenants --json |
		jq -r '.tenants[] | select(.name=="t0") | "\(.unregistered) \(.registered) \(.null)"'
}
rg_agent_start || fail "agent starts (kill -9 after N)"
mixed 5 4 3 k1 && rg_agent_stop KILL
rg_agent_start || fail "agent starts after kill -9 after N"
expect_eq "kill -9 right after 12 answered transactions: UNREG REG NULL kept" "5 4 3" "$(counts)"
mixed 2 2 2 k2 && rg_agent_stop KILL
rg_agent_start || fail "agent starts after a second kill -9"
expect_eq "a second kill -9: counted once, nothing lost" "7 6 5" "$(counts)"
mixed 0 0 1 k3 && rg_agent_stop KILL
j="$D/state1b/journal"
truncate -s $(($(stat -c %s "$j") - 5)) "$j"
logged=$(wc -l <"$D/agent.log")
rg_agent_start && ok "a torn last journal record does not stop the start" ||
	fail "a torn last journal record does not stop the start"
tail -n +$((logged + 1)) "$D/agent.log" | grep -q "torn, ignored" &&
	ok "the torn record is logged as a warning" || fail "the torn record is logged as a warning"
expect_eq "the torn record (the last null sender) is not counted, the rest is" "7 6 5" "$(counts)"
rg_agent_stop

# (2) a full state_dir.
mkdir -p "$D/small"
mount -t tmpfs -o size=64k tmpfs "$D/small" || { fail "mount a small tmpfs"; done_testing; exit 1; }
write_conf "$D/small"
rg_agent_start || fail "agent starts on the small tmpfs"
dd if=/dev/zero of="$D/small/filler" bs=4k 2>/dev/null # fill it up
# The journal's last page still has room: 300 null-sender records (30 bytes each) use it
# up, so that the writes after them fail as on any full disk.
reqs 192.0.2.17 300 pad null >/dev/null
out=$(reqs 192.0.2.1 3 full)
expect_eq "disk full: the agent still decides (limit+1 gets 5.7.750)" "$REJECT" "$(echo "$out" | tail -1)"
out=$(reqs 192.0.2.1 1 full2)
expect_eq "disk full: restriction held in memory" "$REJECT" "$out"
grep -q "cannot save state" "$D/agent.log" && ok "disk full: the save failure is logged" ||
	fail "disk full: the save failure is logged"
m=$(rg_ns_exec $NS curl -s http://127.0.0.1:9433/metrics)
echo "$m" | grep -q '^relayguard_state_save_failures_total [1-9]' &&
	ok "disk full: relayguard_state_save_failures_total counts it" ||
	fail "disk full: relayguard_state_save_failures_total counts it"
rm -f "$D/small/filler"
sleep 1.5 # the next tick saves the dirty state
expect_eq "space back: state saved again, with the restriction made while full" "true" \
	"$(jq -r '.tenants.t0.restricted' "$D/small/state.json" 2>/dev/null)"
grep -q "state saved again" "$D/agent.log" && ok "space back: recovery logged" ||
	fail "space back: recovery logged"
rg_agent_stop # it holds the journal open: before the umount
umount "$D/small"

# (3) 10,000 concurrent connections against max_policy_connections = 1024: the extra ones
# are refused, a client connected before keeps getting answers, memory stays bounded.
mkdir -p "$D/state3"
write_conf "$D/state3"
rg_agent_start || fail "agent starts for the connection storm"
rss0=$(awk '/^VmRSS/ {print $2}' /proc/$RG_AGENT_PID/status)
out=$(python3 - "$D/policy.sock" 10000 "$RG_AGENT_PID" <<'EOF'
import resource, socket, sys, time
path, n, agent = sys.argv[1], int(sys.argv[2]), sys.argv[3]
resource.setrlimit(resource.RLIMIT_NOFILE, (n + 100, n + 100))
req = (b"request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=203.0.113.9\n"
       b"sender=a@b.example\n\n")
def ask(s):
    t = time.monotonic(); s.sendall(req); buf = b""
    while not buf.endswith(b"\n\n"):
        d = s.recv(4096)
        if not d:
            return None
        buf += d
    return time.monotonic() - t
by = socket.socket(socket.AF_UNIX); by.settimeout(5); by.connect(path)
base = ask(by)
conns = []
for i in range(n):
    s = socket.socket(socket.AF_UNIX); s.setblocking(False)
    try:
        s.connect(path)
    except (BlockingIOError, ConnectionRefusedError, OSError):
        pass
    conns.append(s)
worst = 0
for i in range(20):
    r = ask(by)
    if r is None:
        print("bystander-dropped"); sys.exit(1)
    worst = max(worst, r)
time.sleep(1)
closed = 0
for s in conns:
    try:
        if s.recv(1, socket.MSG_DONTWAIT) == b"":
            closed += 1
    except BlockingIOError:
        pass
    except OSError:
        closed += 1
rss = [l.split()[1] for l in open("/proc/%s/status" % agent) if l.startswith("VmRSS")][0]
print("ok closed=%d worst_ms=%.1f rss_kb=%s" % (closed, worst * 1000, rss))
EOF
)
rss1=$(echo "$out" | sed -n 's/.*rss_kb=\([0-9]*\).*/\1/p')
diag "10,000 connections: $out; agent RSS before ${rss0} kB"
case $out in
ok*) ok "bystander served throughout 10,000 concurrent connections" ;;
*) fail "bystander served throughout 10,000 concurrent connections" ;;
esac
closed=$(echo "$out" | sed -n 's/.*closed=\([0-9]*\).*/\1/p')
[ "${closed:-0}" -ge 8000 ] && ok "connections over the cap refused ($closed closed)" ||
	fail "connections over the cap refused (${closed:-?} closed)"
[ $((${rss1:-999999} - rss0)) -lt 65536 ] && ok "agent memory bounded during the storm (+$((${rss1:-999999} - rss0)) kB)" ||
	fail "agent memory bounded during the storm (+$((${rss1:-999999} - rss0)) kB)"
kill -0 "$RG_AGENT_PID" && ok "agent alive after the storm" || fail "agent alive after the storm"
done_testing
