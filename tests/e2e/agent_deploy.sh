#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# agent_deploy.sh: what a deployment relies on, with the real relayguardd and its kernel
# side in namespaces this suite creates (rgdp-relay, rgdp-c1; one veth; no default route;
# torn down on exit). One agent per pin_dir and state_dir: a second start on the same
# pin_dir with other smtp_ports, one on the same state_dir, and an identical one are all
# refused naming the running pid, and the first agent's program, sockets and operator
# block stay. systemd readiness: READY=1 reaches NOTIFY_SOCKET (a datagram socket this
# suite listens on) only once the policy socket answers; STOPPING=1 on SIGTERM, and the
# socket files are gone after a clean stop; RELOADING=1 and READY=1 around a reload. The
# start log names each attach once, and counts one tenant in the singular. The policy
# socket in a postfix-owned 0700 directory (Debian's private/): the socket keeper (uid 0,
# CAP_DAC_OVERRIDE alone, no_new_privs, seccomp, nothing of the agent's open) removes it on
# SIGTERM, leaves a socket or file that replaced it behind the agent, and after kill -9
# leaves the socket and ends; the next start replaces it. An include the agent's user cannot
# read is warned about at start (reloads refused until it is readable).
set -u
. "$(dirname "$0")/../lib.sh"

P=rgdp
RELAY=$P-relay C1=$P-c1
D=$(mktemp -d /tmp/rg-deploy.XXXXXX)
# The agent drops to user relayguard: it reads its configuration, writes its state and
# removes its sockets under $D, as under /run/relayguard and state_dir on a relay.
"$RG_ROOT/tools/add-user.sh" || exit 1
chown relayguard: "$D"
PIN=/sys/fs/bpf/$P-$$
AGENT=$RG_ROOT/$BUILD/relayguardd
CTL=$RG_ROOT/$BUILD/relayguardctl
PIDS=()
AGENT_PID=

cleanup() {
	[ -n "$AGENT_PID" ] && kill -9 "$AGENT_PID" 2>/dev/null
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	"$CTL" -c "$D/a.conf" detach --purge >/dev/null 2>&1
	rm -rf "$PIN" "$PIN-other"
	for n in $RELAY $C1; do ip netns del "$n" 2>/dev/null; done
	rm -rf "$D"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
for n in $RELAY $C1; do ip netns del "$n" 2>/dev/null; ip netns add "$n" || exit 1; done
ip link add r1 netns $RELAY type veth peer name e0 netns $C1
ip -n $RELAY addr add 192.0.2.1/24 dev r1
ip -n $C1 addr add 192.0.2.10/24 dev e0
for n in $RELAY $C1; do
	ip -n $n link set lo up
	ip -n $n link set "$([ $n = $RELAY ] && echo r1 || echo e0)" up
done
routes=$(for n in $RELAY $C1; do ip -n $n route show default; ip -n $n -6 route show default; done)
expect_eq "no namespace has a default route" "" "$routes"

# An SMTP-port listener in the relay namespace, bounded in time.
nsenter --net=/run/netns/$RELAY timeout 300 python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("192.0.2.1", 25)); s.listen(64)
while True:
    c, _ = s.accept(); c.close()
' &
PIDS+=($!)

# The systemd side of NOTIFY_SOCKET: each datagram is written down with whether the
# agent's policy socket answered a request at the moment it arrived.
timeout 300 python3 -c '
import os, socket, sys
d = sys.argv[1]
n = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); n.bind(d + "/notify.sock")
os.chmod(d + "/notify.sock", 0o666)  # as the notify socket of systemd: any service may send
out = open(d + "/notify.log", "w", buffering=1)
req = b"request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=192.0.2.10\nsender=a@contoso.example\ninstance=n1\n\n"
while True:
    msg = n.recv(4096).decode()
    try:
        p = socket.socket(socket.AF_UNIX); p.settimeout(2); p.connect(d + "/a/policy.sock")
        p.sendall(req); answer = p.recv(512).decode().split("\n")[0]; p.close()
    except Exception as e:
        answer = "no answer (%s)" % type(e).__name__
    for line in msg.split("\n"):
        out.write("%s | %s\n" % (line, answer))
' "$D" &
PIDS+=($!)
for _ in $(seq 50); do [ -S "$D/notify.sock" ] && break; sleep 0.1; done

# conf NAME PIN STATE PORTS: an agent configuration; sockets under $D/NAME.
conf() {
	mkdir -p "$D/$1"
	chown relayguard: "$D/$1"
	cat >"$D/$1.conf" <<EOC
[agent]
interfaces = r1
attach_mode = native
smtp_ports = $4
policy_listen = unix:$D/$1/policy.sock
control_socket = $D/$1/control.sock
metrics_listen = inet:127.0.0.1:9434
state_dir = $3
pin_dir = $2
mode = enforce

[tenant contoso]
connectors = 192.0.2.0/24
accepted_domains = contoso.example
EOC
}

# connects: does a TCP connect from c1 to the relay's port 25 succeed within 2 s?
connects() {
	nsenter --net=/run/netns/$C1 python3 -c '
import socket, sys
s = socket.socket(); s.settimeout(2)
try:
    s.connect(("192.0.2.1", 25)); sys.exit(0)
except Exception:
    sys.exit(1)'
}

prog_id() { ip -n $RELAY -j link show r1 | jq -r '.[0].xdp.prog.id // empty'; }

conf a "$PIN" "$D/state" "25"
conf other_ports "$PIN" "$D/state-other" "2525"
conf same_state "$PIN-other" "$D/state" "25"
sed -i 's/9434/9435/' "$D/other_ports.conf" "$D/same_state.conf"

NOTIFY_SOCKET=$D/notify.sock nsenter --net=/run/netns/$RELAY "$AGENT" -f -c "$D/a.conf" \
	>"$D/a.log" 2>&1 &
AGENT_PID=$!
for _ in $(seq 100); do grep -q '^READY=1' "$D/notify.log" 2>/dev/null && break; sleep 0.1; done
expect_eq "READY=1 arrives once the policy socket answers" "READY=1 | action=DUNNO" \
	"$(grep -m1 '^READY=1' "$D/notify.log")"
if ! kill -0 "$AGENT_PID" 2>/dev/null || [ -z "$(prog_id)" ]; then
	fail "first relayguardd runs with its program on r1"
	sed 's/^/#   /' "$D/a.log"
	done_testing
	exit 1
fi
ok "first relayguardd runs with its program on r1"
expect_eq "each attach is logged once" "1" "$(grep -c 'XDP to r1' "$D/a.log")"
grep -q "1 tenant," "$D/a.log" && ok "the start line says 1 tenant" ||
	fail "the start line says 1 tenant: $(grep running "$D/a.log")"
grep -q "MHD_OPTION_EXTERNAL_LOGGER" "$D/a.log" &&
	fail "libmicrohttpd complains about its options" || ok "libmicrohttpd takes its options quietly"
first=$(prog_id)
expect_eq "relayguardd -t counts in the singular" "$D/a.conf: OK: 1 tenant, 1 connector" \
	"$("$AGENT" -t -c "$D/a.conf")"

# A reload is bracketed for systemd: RELOADING=1, then READY=1 again.
kill -HUP "$AGENT_PID"
for _ in $(seq 50); do [ "$(grep -c '^READY=1' "$D/notify.log")" -ge 2 ] && break; sleep 0.1; done
expect_eq "SIGHUP: RELOADING=1, then READY=1 with the policy socket answering" \
	"RELOADING=1 READY=1 | action=DUNNO" \
	"$(sed -n '/^RELOADING=1/,/^READY=1/p' "$D/notify.log" | sed 's/^RELOADING=1 .*/RELOADING=1/' | tr '\n' ' ' | sed 's/ $//')"

check "operator blocks c1" "$CTL" -c "$D/a.conf" block host 192.0.2.10
! connects && ok "blocked c1 cannot connect" || fail "blocked c1 cannot connect"

# second NAME DESC: a second agent with configuration NAME is refused, naming the pid.
second() {
	local rc=0 out
	out=$(timeout 20 nsenter --net=/run/netns/$RELAY "$AGENT" -f -c "$D/$1.conf" 2>&1) || rc=$?
	[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && ok "$2: refused (exit $rc)" ||
		fail "$2: refused (exit $rc)"
	echo "$out" | grep -q "another relayguardd (pid $AGENT_PID) runs on" &&
		ok "$2: the refusal names pid $AGENT_PID" ||
		{ fail "$2: the refusal names pid $AGENT_PID"; echo "$out" | sed 's/^/#   /'; }
	echo "$out" | grep -qi "attached\|replaced" &&
		fail "$2: touched the interface" || ok "$2: did not touch the interface"
	expect_eq "$2: the first agent's program is still on r1" "$first" "$(prog_id)"
	! connects && ok "$2: blocked c1 still cannot connect" ||
		fail "$2: blocked c1 still cannot connect"
	kill -0 "$AGENT_PID" 2>/dev/null && ok "$2: the first agent still runs" ||
		fail "$2: the first agent still runs"
}
second other_ports "same pin_dir, other smtp_ports"
second same_state "same state_dir, other pin_dir"
[ ! -e "$PIN-other/link_r1" ] && ok "the refused agent pinned nothing" ||
	fail "the refused agent pinned nothing"
second a "identical second start"
check "the first agent's control socket still answers" "$CTL" -c "$D/a.conf" status
[ -S "$D/a/policy.sock" ] && ok "the first agent's policy socket is still there" ||
	fail "the first agent's policy socket is still there"

# A clean stop: STOPPING=1, exit 0, the socket files removed, the kernel keeps enforcing.
kill -TERM "$AGENT_PID"
timeout 20 tail --pid="$AGENT_PID" -f /dev/null
wait "$AGENT_PID" 2>/dev/null
rc=$?
AGENT_PID=
expect_eq "SIGTERM: relayguardd exits 0" "0" "$rc"
for _ in $(seq 20); do grep -q '^STOPPING=1' "$D/notify.log" && break; sleep 0.1; done
grep -q '^STOPPING=1' "$D/notify.log" && ok "STOPPING=1 on SIGTERM" || fail "STOPPING=1 on SIGTERM"
[ ! -e "$D/a/policy.sock" ] && ok "the policy socket is removed on a clean stop" ||
	fail "the policy socket is removed on a clean stop"
[ ! -e "$D/a/control.sock" ] && ok "the control socket is removed on a clean stop" ||
	fail "the control socket is removed on a clean stop"
! connects && ok "after the stop, the kernel still blocks c1" ||
	fail "after the stop, the kernel still blocks c1"

# The lock goes with the process: a new agent starts on the same directories.
nsenter --net=/run/netns/$RELAY "$AGENT" -f -c "$D/a.conf" >"$D/a2.log" 2>&1 &
AGENT_PID=$!
for _ in $(seq 50); do [ -S "$D/a/control.sock" ] && break; sleep 0.1; done
check "a new agent starts once the first has stopped" "$CTL" -c "$D/a.conf" status
kill -TERM "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null
AGENT_PID=

# The policy socket in a directory like Debian's private/ (postfix:root 0700), which the
# agent's user cannot write: the socket keeper (a root helper with CAP_DAC_OVERRIDE alone)
# removes it on a clean stop, never a file that replaced it, and leaves it after kill -9.
mkdir "$D/private"
chown postfix:root "$D/private"
chmod 0700 "$D/private"
conf pf "$PIN" "$D/state" "25"
sed -i "s|^policy_listen = .*|policy_listen = unix:$D/private/policy.sock|" "$D/pf.conf"
PSOCK=$D/private/policy.sock
# start_pf: the agent on pf.conf, until it has dropped its privileges (a stale socket of
# an agent killed before is no sign of this one); KEEPER its helper's pid.
start_pf() {
	local runs
	runs=$(grep -c "running as uid" "$D/pf.log" 2>/dev/null)
	nsenter --net=/run/netns/$RELAY "$AGENT" -f -c "$D/pf.conf" >>"$D/pf.log" 2>&1 &
	AGENT_PID=$!
	for _ in $(seq 100); do
		[ "$(grep -c "running as uid" "$D/pf.log")" -gt "${runs:-0}" ] && break
		sleep 0.1
	done
	HELPERS=$(ps --ppid "$AGENT_PID" -o comm= | LC_ALL=C sort | tr '\n' ' ')
	KEEPER=$(ps --ppid "$AGENT_PID" -o pid=,comm= | awk '$2 == "rg-sock-keeper" {print $1}')
}
stop_pf() {
	kill -"$1" "$AGENT_PID"
	timeout 20 tail --pid="$AGENT_PID" -f /dev/null
	wait "$AGENT_PID" 2>/dev/null
	AGENT_PID=
	for _ in $(seq 50); do kill -0 "$KEEPER" 2>/dev/null || break; sleep 0.1; done
}
start_pf
expect_eq "private/: the agent serves from a postfix-owned 0700 directory" "action=DUNNO" \
	"$(printf 'request=smtpd_access_policy\nclient_address=192.0.2.10\ninstance=pf1\n\n' |
		timeout 5 socat -t 2 - "UNIX-CONNECT:$PSOCK" | head -1)"
expect_eq "the agent has two helpers, the notifier and the socket keeper" \
	"rg-notifier rg-sock-keeper " "$HELPERS"
expect_eq "the keeper: uid 0, CAP_DAC_OVERRIDE alone, no_new_privs, seccomp filter" \
	"0 0000000000000002 0000000000000002 0000000000000002 1 2" \
	"$(awk '/^Uid:/{u=$2} /^CapEff:/{e=$2} /^CapPrm:/{p=$2} /^CapBnd:/{b=$2}
		/^NoNewPrivs:/{n=$2} /^Seccomp:/{s=$2} END{print u, e, p, b, n, s}' \
		"/proc/$KEEPER/status" 2>/dev/null)"
# Its stderr (the agent's log), its two pipes and the sockets' directories: no listener,
# map or directory lock of the agent's.
expect_eq "the keeper holds only its pipes, stderr and the sockets' directories" \
	"$(printf '%s\n' "$D/pf" "$D/pf.log" "$D/private" pipe pipe | LC_ALL=C sort | tr '\n' ' ')" \
	"$(for f in /proc/"$KEEPER"/fd/*; do readlink "$f"; done | sed 's/^pipe:.*/pipe/' |
		LC_ALL=C sort | tr '\n' ' ')"
stop_pf TERM
[ ! -e "$PSOCK" ] && ok "SIGTERM: the policy socket in private/ is removed" ||
	fail "SIGTERM: the policy socket in private/ is removed"
grep -q "socket $PSOCK removed" "$D/pf.log" && ok "the removal is logged" ||
	fail "the removal is logged: $(tail -3 "$D/pf.log")"
kill -0 "$KEEPER" 2>/dev/null && fail "the keeper ends with the agent" ||
	ok "the keeper ends with the agent"

# Replaced behind the agent: another socket at the policy name, a plain file at the
# control name. Neither is removed at the stop.
start_pf
python3 -c '
import os, socket, sys
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1] + ".new"); os.rename(sys.argv[1] + ".new", sys.argv[1])
' "$PSOCK"
other_ino=$(stat -c %i "$PSOCK")
rm -f "$D/pf/control.sock"
echo "not the agent's" >"$D/pf/control.sock"
stop_pf TERM
expect_eq "a socket that replaced the policy socket is not removed" "$other_ino" \
	"$(stat -c %i "$PSOCK" 2>/dev/null)"
grep -q "socket $PSOCK: another file is there now; left alone" "$D/pf.log" &&
	ok "the keeper says it left another file alone" ||
	fail "the keeper says it left another file alone: $(tail -3 "$D/pf.log")"
expect_eq "a file that replaced the control socket is not removed" "not the agent's" \
	"$(cat "$D/pf/control.sock" 2>/dev/null)"
rm -f "$PSOCK" "$D/pf/control.sock"

# kill -9: no word from the agent, so the keeper leaves the socket (a restart replaces it)
# and ends too.
start_pf
stop_pf KILL
[ -S "$PSOCK" ] && ok "kill -9: the policy socket stays (documented)" ||
	fail "kill -9: the policy socket stays (documented)"
kill -0 "$KEEPER" 2>/dev/null && fail "kill -9: the keeper ends too" ||
	ok "kill -9: the keeper ends too"
start_pf
check "after kill -9, a new agent replaces the stale socket and serves" "$CTL" -c "$D/pf.conf" status
[ -n "$KEEPER" ] && ok "the new agent has its keeper" || fail "the new agent has its keeper"
stop_pf TERM
[ ! -e "$PSOCK" ] && ok "and its clean stop removes the socket" ||
	fail "and its clean stop removes the socket"

# A configuration file the agent's user cannot read (root's, 0600): the start warns, naming
# it and the fix, and reloads are refused until it is readable.
printf '[limits]\nunregistered_limit = 7\n' >"$D/pf-inc.conf"
chmod 0600 "$D/pf-inc.conf"
echo "include = $D/pf-inc.conf" >>"$D/pf.conf"
start_pf
grep -q "$D/pf-inc.conf cannot be read by user relayguard (Permission denied): every reload will be refused; make it and its directories readable by relayguard" "$D/pf.log" &&
	ok "after the drop: an unreadable include is named with the fix" ||
	fail "after the drop: an unreadable include is named with the fix: $(grep -i warn "$D/pf.log" | tail -3)"
[ "$(grep -c "pf.conf cannot be read" "$D/pf.log")" = 0 ] &&
	ok "the readable main file is not warned about" || fail "the readable main file is not warned about"
"$CTL" -c "$D/pf.conf" reload >/dev/null 2>&1
expect_eq "a reload is refused while the include is unreadable" "1" "$?"
chmod 0644 "$D/pf-inc.conf"
check "once readable, the reload works" "$CTL" -c "$D/pf.conf" reload
stop_pf TERM
done_testing
