#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# policy_service.sh: the Postfix policy service over real sockets (unix, inet IPv4/IPv6 on
# loopback): exact replies, persistence, pipelining, 200 concurrent clients, fail_mode, the
# connection cap, listener setup (socket mode, stale and live sockets, missing directory),
# and hostile clients (overlong line/request, NUL, 10,000 attributes, no '=', empty name,
# missing terminator then EOF, byte-at-a-time trickle past the deadline, idle, abrupt close,
# never reading replies) that must be closed without a reply while a bystander connection
# keeps being served. Runs itself inside a network namespace it creates (rgpol-e2e-PID) and
# removes. Reports TAP.
#
# The server under test is $POLICY_SERVER (default: the stub over user/policy.c). Any server
# taking the stub's flags works: --listen SPEC (repeated), --request-timeout MS,
# --idle-timeout MS, --max-conns N, --fail, --fail-mode open|closed; it must decide like the
# stub (sender domain ending in bad.example -> 5.7.750 reply, else DUNNO). For relayguardd
# point it at a wrapper that writes a config doing that. Only loopback is used.
set -u
. "$(dirname "$0")/../lib.sh"

# Loopback of a private network namespace, never the root one's.
if [ -z "${RGPOL_NETNS:-}" ]; then
	RGPOL_NETNS=rgpol-e2e-$$
	export RGPOL_NETNS
	if ! rg_ns_add "$RGPOL_NETNS" 2>/dev/null; then
		echo "# SKIP cannot create a network namespace (needs root)"
		exit "$SKIP_CODE"
	fi
	ip netns exec "$RGPOL_NETNS" bash "$0" "$@"
	exit $?
fi

POLICY_SERVER=${POLICY_SERVER:-$BUILD/tests/helpers/policy_stub}
# agent_policy.sh ran its wrapper in the root namespace first: refused (exit 2), no veth.
[ -n "${POLICY_SERVER_ROOT_NS:-}" ] &&
	expect_eq "the server wrapper refuses the root namespace and makes no veth there" "2 0" \
		"$POLICY_SERVER_ROOT_NS"
CLIENT="python3 $RG_ROOT/tests/e2e/policy_client.py"
BLOCK="550 5.7.750 Service unavailable. Client blocked from sending from unregistered domains"

if [ ! -x "${POLICY_SERVER%% *}" ]; then
	echo "# $POLICY_SERVER not built (make BUILD=$BUILD $BUILD/tests/helpers/policy_stub)"
	fail "policy server binary present"
	done_testing
	exit 1
fi

rg_tmpdir D rg-policy || exit 1
# relayguardd as the server drops to user relayguard: removing its sockets at exit needs a
# directory it may write (the stub, as root, may anyway).
"$RG_ROOT/tools/add-user.sh" && chown relayguard: "$D" || exit 1
PIDS=()
# Every server this suite started, stopped and waited for before $D goes.
rg_on_exit 'for p in "${PIDS[@]}"; do kill "$p"; done; for p in "${PIDS[@]}"; do wait "$p"; done'

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_connect ADDR: up to 5 s for the endpoint to accept.
wait_connect() {
	python3 - "$1" <<'EOF'
import socket, sys, time
a = sys.argv[1]
end = time.monotonic() + 5
while time.monotonic() < end:
    try:
        if a.startswith("unix:"):
            s = socket.socket(socket.AF_UNIX); s.connect(a[5:])
        elif a.startswith("inet:["):
            h, p = a[6:].split("]:"); s = socket.socket(socket.AF_INET6); s.connect((h, int(p)))
        else:
            h, p = a[5:].rsplit(":", 1); s = socket.socket(); s.connect((h, int(p)))
        s.close(); sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
EOF
}

# start NAME ARGS...: run the server in the background, log in $D/NAME.log, pid in PID_NAME.
start() {
	local name=$1
	shift
	$POLICY_SERVER "$@" >"$D/$name.log" 2>&1 &
	local pid=$!
	PIDS+=("$pid")
	eval "PID_$name=$pid"
}

# stop NAME: SIGTERM, wait, leave the log.
stop() {
	local pid
	eval "pid=\${PID_$1}"
	kill -TERM "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}

# stat_of NAME KEY: a counter from the stats line the server printed at exit.
stat_of() {
	grep -o "policy_stub stats: .*" "$D/$1.log" | tail -1 | tr ' ' '\n' | sed -n "s/^$2=//p"
}

PORT=$(free_port)
U="unix:$D/policy.sock"
I4="inet:127.0.0.1:$PORT"
LISTEN=(--listen "$U" --listen "$I4")
I6=
if python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1",0))' 2>/dev/null; then
	PORT6=$(free_port)
	I6="inet:[::1]:$PORT6"
	LISTEN+=(--listen "$I6")
fi

start main "${LISTEN[@]}" --request-timeout 1000 --idle-timeout 2000 --max-conns 512
if wait_connect "$U" && wait_connect "$I4"; then
	ok "server listens on $U and $I4"
else
	fail "server listens on $U and $I4"
	sed 's/^/#   /' "$D/main.log"
	done_testing
	exit 1
fi

# Listener setup.
mode=$(stat -c %a "$D/policy.sock")
owner=$(stat -c %U:%G "$D/policy.sock")
if id postfix >/dev/null 2>&1; then
	expect_eq "unix socket mode 0660 owned by postfix" "660 postfix:postfix" "$mode $owner"
else
	# A policy socket is never world-writable: without the user there is no socket.
	fail "unix socket owned by postfix: no postfix user on this machine"
fi

# Replies, byte for byte; each also proves the connection persists.
check "DUNNO over unix, exact bytes, persistent" $CLIENT reply "$U" alice@contoso.com DUNNO
check "5.7.750 over inet, exact bytes" $CLIENT reply "$I4" spam@x.bad.example "$BLOCK"
check "domain match ignores case" $CLIENT reply "$I4" spam@X.BAD.Example "$BLOCK"
if [ -n "$I6" ]; then
	check "DUNNO over inet IPv6" $CLIENT reply "$I6" alice@contoso.com DUNNO
else
	skip "no IPv6 loopback"
fi
check "CRLF line ends accepted" $CLIENT raw "$U" \
	'request=smtpd_access_policy\r\nclient_address=192.0.2.10\r\nsender=a@bad.example\r\n\r\n' "action=$BLOCK\n\n"
check "null sender answered" $CLIENT raw "$U" \
	'request=smtpd_access_policy\nsender=\nunknown_attr=1\n\n' 'action=DUNNO\n\n'
check "100 pipelined requests over unix answered in order" $CLIENT pipeline "$U" 100
check "100 pipelined requests over inet answered in order" $CLIENT pipeline "$I4" 100
check "200 concurrent connections x 5 requests" $CLIENT concurrent "$I4" 200 5

# Hostile clients: closed without a reply; a bystander keeps being served meanwhile.
for kind in overlong-line overlong-request nul many-attrs no-equals empty-name \
	wrong-request repeated missing-terminator-eof abrupt; do
	check "hostile $kind: closed without reply, others served" \
		$CLIENT hostile "$U" "$kind"
done
check "hostile 10,000 attributes over inet" $CLIENT hostile "$I4" many-attrs
check "byte-at-a-time trickle cut at the request deadline" \
	$CLIENT hostile "$I4" trickle --limit 15 --interval 0.05
check "silent connection closed at the idle timeout" $CLIENT hostile "$U" idle --limit 10
check "client never reading replies is closed" $CLIENT hostile "$U" output-flood --limit 15
check "server still answers after all that" $CLIENT reply "$U" alice@contoso.com DUNNO

# Listener edge cases.
python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.close()' \
	"$D/stale.sock"
start stale --listen "unix:$D/stale.sock"
if wait_connect "unix:$D/stale.sock"; then
	check "stale socket file replaced" $CLIENT reply "unix:$D/stale.sock" a@b.example DUNNO
else
	fail "stale socket file replaced"
fi
stop stale
if [ ! -e "$D/stale.sock" ]; then ok "socket file removed at exit"; else fail "socket file removed at exit"; fi

if timeout 10 $POLICY_SERVER --listen "$U" >"$D/live.log" 2>&1; then
	fail "second server on a live socket refused"
else
	ok "second server on a live socket refused"
fi
check "first server keeps its socket" $CLIENT reply "$U" alice@contoso.com DUNNO

if timeout 10 $POLICY_SERVER --listen "unix:$D/nodir/policy.sock" >"$D/nodir.log" 2>&1; then
	fail "missing socket directory refused"
else
	if grep -q "nodir" "$D/nodir.log"; then
		ok "missing socket directory refused, named in the message"
	else
		fail "missing socket directory refused, named in the message"
		sed 's/^/#   /' "$D/nodir.log"
	fi
fi

# Never world-writable: an owner that cannot be given the socket stops the start and
# leaves no socket behind (a nonexistent owner; no CAP_CHOWN).
if [ -z "${POLICY_SERVER_NO_OWNER:-}" ]; then
	if timeout 10 $POLICY_SERVER --listen "unix:$D/noowner.sock" --owner rg-no-such-user \
		>"$D/noowner.log" 2>&1; then
		fail "nonexistent socket owner refused"
	elif grep -q "rg-no-such-user does not exist" "$D/noowner.log" && [ ! -e "$D/noowner.sock" ]; then
		ok "nonexistent socket owner refused, named in the message, no socket left"
	else
		fail "nonexistent socket owner refused, named in the message, no socket left"
		sed 's/^/#   /' "$D/noowner.log"
	fi
else
	skip "socket owner: $POLICY_SERVER takes no --owner"
fi
if timeout 20 setpriv --bounding-set -chown --inh-caps -chown $POLICY_SERVER \
	--listen "unix:$D/nochown.sock" >"$D/nochown.log" 2>&1; then
	fail "no CAP_CHOWN: start refused"
elif grep -q "cannot give the socket to user postfix" "$D/nochown.log" &&
	[ ! -e "$D/nochown.sock" ]; then
	ok "no CAP_CHOWN: start refused with a clear error, no socket left"
else
	fail "no CAP_CHOWN: start refused with a clear error, no socket left"
	sed 's/^/#   /' "$D/nochown.log" | tail -5
fi

# The symlink race: postfix owns private/ and swaps the fresh socket for a symlink to a
# root-owned 0600 file in a loop while the server starts again and again; the file's
# owner, mode and content stay.
if id postfix >/dev/null 2>&1; then
	chmod 0711 "$D"
	mkdir "$D/priv" && chown postfix:postfix "$D/priv"
	echo "root only" >"$D/victim" && chmod 0600 "$D/victim"
	check "symlink swapped in a loop during starts: the victim file is untouched" \
		python3 "$RG_ROOT/tests/e2e/socket_race.py" --server "$POLICY_SERVER" \
		--sock "$D/priv/race.sock" --victim "$D/victim" --user postfix \
		--starts "${POLICY_RACE_STARTS:-150}" --wait "${POLICY_RACE_WAIT:-0.3}" --seconds 20
	expect_eq "victim still root:root 600" "root:root 600" "$(stat -c '%U:%G %a' "$D/victim")"
else
	skip "symlink race: no postfix user"
fi

# Out of descriptors: 40 connections at a server allowed 24 descriptors; the refusals are
# logged a few times a second (not once per try) and the listener recovers.
if [ -z "${POLICY_SERVER_NO_FAIL:-}" ]; then
	start nofd --listen "unix:$D/nofd.sock"
	wait_connect "unix:$D/nofd.sock"
	prlimit --pid "$PID_nofd" --nofile=24:24
	check "out of descriptors: the listener recovers" $CLIENT fdflood "unix:$D/nofd.sock" 40
	n=$(grep -c "out of file descriptors\|Too many open files" "$D/nofd.log")
	[ "$n" -ge 1 ] && [ "$n" -le 20 ] && ok "out of descriptors: $n log lines (1..20)" ||
		fail "out of descriptors: $n log lines (1..20)"
	stop nofd
else
	skip "out of descriptors: tested with the stub and on the agent's control socket"
fi

# Connection cap.
start small --listen "unix:$D/small.sock" --max-conns 8
wait_connect "unix:$D/small.sock"
check "connection over max_connections closed, the others served" \
	$CLIENT maxconns "unix:$D/small.sock" 8

# fail_mode when the decision fails (only a server that can be told to fail: the real
# agent shares user/policy.c's fail_mode code with the stub, tested here through the stub).
if [ -z "${POLICY_SERVER_NO_FAIL:-}" ]; then
	start fopen --listen "unix:$D/fopen.sock" --fail --fail-mode open
	start fclosed --listen "unix:$D/fclosed.sock" --fail --fail-mode closed
	wait_connect "unix:$D/fopen.sock" && wait_connect "unix:$D/fclosed.sock"
	check "fail_mode open answers DUNNO" $CLIENT reply "unix:$D/fopen.sock" a@bad.example DUNNO
	check "fail_mode closed answers 451 4.3.5" $CLIENT reply "unix:$D/fclosed.sock" \
		a@b.example "451 4.3.5 Server configuration problem"
else
	skip "fail_mode: $POLICY_SERVER cannot be made to fail on request"
fi

# Counters the agent will export (stub prints them at exit).
stop main
stop small
[ -z "${POLICY_SERVER_NO_FAIL:-}" ] && stop fopen
if grep -q "policy_stub stats:" "$D/main.log"; then
	# 8 kinds over unix plus 10,000 attributes over inet.
	expect_eq "malformed requests counted" 9 "$(stat_of main malformed)"
	expect_eq "request timeout counted" 1 "$(stat_of main request_timeouts)"
	[ "$(stat_of main idle_timeouts)" -ge 1 ] && ok "idle timeout counted" ||
		fail "idle timeout counted"
	expect_eq "output overflow counted" 1 "$(stat_of main output_overflows)"
	[ "$(stat_of main eof_mid_request)" -ge 2 ] && ok "EOF inside a request counted" ||
		fail "EOF inside a request counted"
	expect_eq "no connections left open" 0 "$(stat_of main open)"
	[ "$(stat_of small refused)" -ge 1 ] && ok "refused connection counted" ||
		fail "refused connection counted"
	expect_eq "decision failures counted (2 requests)" 2 "$(stat_of fopen decide_failures)"
	if grep -qP '[^\x09\x20-\x7e]' "$D/main.log"; then
		fail "log lines carry only printable ASCII"
	else
		ok "log lines carry only printable ASCII"
	fi
else
	skip "server prints no stub stats line"
fi

done_testing
