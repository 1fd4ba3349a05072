#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# redis_link.sh: the fleet's Redis link (user/redis_link.c) against real redis-server and
# redis-sentinel processes this suite starts (unix sockets in its directory, random
# loopback ports above 20000) and a hostile fake (tests/helpers/redis_fake.py), through
# tests/helpers/redis_link_drive. Asserts callbacks and states, never a timing tighter than
# a few seconds; every wait is bounded. BUILD=build/san runs it under ASan+UBSan.
set -u
. "$(dirname "$0")/../lib.sh"

DRIVE=$RG_ROOT/$BUILD/tests/helpers/redis_link_drive
FAKE=$RG_ROOT/tests/helpers/redis_fake.py
if [ ! -x "$DRIVE" ] || ! command -v redis-server >/dev/null || ! command -v redis-sentinel >/dev/null; then
	echo "# SKIP needs $DRIVE, redis-server and redis-sentinel (make; make deps)"
	exit 77
fi
rg_tmpdir D rg-redis-link || exit 1
# a request to a driver that already quit is an EPIPE, not the end of the suite
trap '' PIPE
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
# The agent's syscall filter around the link; not under ASan, whose runtime makes calls of
# its own (the leak check at exit) that are no test of the agent's list.
SECCOMP=(--seccomp)
[[ $BUILD == *san* ]] && SECCOMP=()

# ---- the driver as a coprocess -------------------------------------------------------
DRV_PID=
LINK_LOG=
LINK_PART=
# link_start TAG ARGS...: a driver with ARGS, its stdout copied to $D/TAG.out.
link_start() {
	LINK_LOG=$D/$1.out
	LINK_PART=
	shift
	: >"$LINK_LOG"
	coproc LINK { exec "$DRIVE" "$@" 2>>"$LINK_LOG.err"; }
	DRV_PID=$LINK_PID
	# copies of the pipes: bash closes the coproc's own when it exits, and what it wrote
	# last (the -ECANCELED replies of quit) would be lost
	exec {LINK_IN}>&"${LINK[1]}" {LINK_OUT}<&"${LINK[0]}"
	rg_on_exit "kill -KILL $DRV_PID"
}
link_send() {
	printf '%s\n' "$*" >&"$LINK_IN"
}
# link_expect REGEX [SECONDS]: read the driver's lines until one matches (LINK_LINE), or
# SECONDS (default 10) pass, or it exits.
link_expect() {
	local re=$1 end=$((SECONDS + ${2:-10})) line rc
	while [ $SECONDS -lt $end ]; do
		if IFS= read -r -t 1 line <&"$LINK_OUT"; then
			line=$LINK_PART$line
			LINK_PART=
			echo "$line" >>"$LINK_LOG"
			if [[ $line =~ $re ]]; then
				LINK_LINE=$line
				return 0
			fi
		else
			rc=$?
			# a timeout in mid-line leaves the start of it in line: keep it
			LINK_PART+=$line
			# EOF: the driver is gone and everything it wrote was read
			[ $rc -gt 128 ] || return 1
		fi
	done
	return 1
}
# link_stats: the driver's stats line in LINK_STATS; link_stat KEY: one value of it.
link_stats() {
	link_send stats
	link_expect '^stats ' 5 && LINK_STATS=$LINK_LINE
}
link_stat() {
	sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$LINK_STATS"
}
# link_stop: quit, and the driver's exit status (0 unless it crashed: ASan, an assert).
link_stop() {
	local rc
	link_send quit 2>/dev/null
	for ((i = 0; i < 50; i++)); do
		kill -0 "$DRV_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$DRV_PID" 2>/dev/null
	wait "$DRV_PID" 2>/dev/null
	rc=$?
	exec {LINK_IN}>&- {LINK_OUT}<&-
	cat "$LINK_LOG.err" >>"$D/all.err" 2>/dev/null
	return $rc
}
# expect_cmd DESC ID DEADLINE REGEX ARGS...: send a command, expect its reply to match.
expect_cmd() {
	local desc=$1 id=$2 dl=$3 re=$4
	shift 4
	link_send cmd "$id" "$dl" "$@"
	if link_expect "^reply $id $re" 10; then
		ok "$desc"
	else
		fail "$desc"
		tail -5 "$LINK_LOG" | sed 's/^/#   /'
	fi
}
# expect_line DESC REGEX SECONDS: ok when the driver prints a matching line in time.
expect_line() {
	if link_expect "$2" "$3"; then
		ok "$1"
	else
		fail "$1"
		tail -3 "$LINK_LOG" | sed 's/^/#   /'
	fi
}
# expect_not_up DESC SECONDS: ok when the link does not come UP in that time.
expect_not_up() {
	if link_expect '^state UP' "$2"; then fail "$1"; else ok "$1"; fi
}
# expect_stop DESC: ok when the driver quits and exits 0 (no crash, no sanitizer report).
expect_stop() {
	local rc
	link_stop
	rc=$?
	if [ $rc -eq 0 ]; then ok "$1"; else fail "$1 (rc $rc)"; fi
}
# expect_failures DESC MIN: ok when at least MIN connects failed (FAILS: how many); the
# stats stay in LINK_STATS.
expect_failures() {
	link_stats
	FAILS=$(link_stat connect_failures)
	if [ "${FAILS:-0}" -ge "$2" ]; then ok "$1 ($FAILS)"; else fail "$1 (${FAILS:-none})"; fi
}
check_up() {
	if link_expect '^state UP' "${2:-10}"; then
		ok "$1"
	else
		fail "$1"
		tail -5 "$LINK_LOG.err" | sed 's/^/#   /'
	fi
}

# ---- unix and inet, SELECT, CLIENT SETNAME -----------------------------------------
rg_redis_start "$D" u unix || exit 1
link_start unix --name rg-test-u --redis "${RG_REDIS_ADDR[u]}" --db 3
check_up "unix socket: the link comes UP"
expect_cmd "unix: SET through the link" 1 2000 '0 status OK' SET k1 v1
expect_cmd "unix: GET through the link" 2 2000 '0 string v1$' GET k1
expect_eq "SELECT: the key is in db 3" v1 "$(rg_redis_cli u -n 3 GET k1)"
expect_eq "SELECT: not in db 0" "" "$(rg_redis_cli u -n 0 GET k1)"
check "CLIENT SETNAME: the server lists the link by name" \
	bash -c "timeout 5 redis-cli ${RG_REDIS_CLIARGS[u]} CLIENT LIST | grep -q name=rg-test-u"
expect_cmd "an error reply is a reply (status 0)" 3 2000 '0 error ERR' NOSUCHCOMMAND
link_send cmd 9 0 PING
link_expect '^sent 9 ' 5
expect_eq "a command with deadline 0 is refused" "sent 9 -22" "$LINK_LINE"
link_stats
expect_eq "stats: replies counted" 3 "$(link_stat replies)"
expect_eq "stats: error replies counted" 1 "$(link_stat error_replies)"
expect_eq "stats: master named" "${RG_REDIS_ADDR[u]}" "$(link_stat master)"
expect_eq "stats: one connect" 1 "$(link_stat connects)"
expect_eq "stats: up" 1 "$(link_stat up)"
expect_stop "the driver exits cleanly"

rg_redis_start "$D" i port || exit 1
link_start inet --name rg-test-i --redis "${RG_REDIS_ADDR[i]}"
check_up "inet: the link comes UP"
expect_cmd "inet: PING" 1 2000 '0 status PONG' PING
expect_cmd "binary-safe arguments reach the server" 2 2000 '0 integer 3' APPEND k3 abc
expect_stop "the driver exits cleanly"

# ---- AUTH ------------------------------------------------------------------------------
rg_redis_start "$D" a unix "requirepass s3cret" || exit 1
link_start auth --name rg-test-a --redis "${RG_REDIS_ADDR[a]}" --password s3cret
check_up "AUTH password: UP"
expect_cmd "AUTH password: commands work" 1 2000 '0 status PONG' PING
expect_stop "the driver exits cleanly"

rg_redis_cli a --no-auth-warning -a s3cret ACL SETUSER relay on '>pw2' '~*' '+@all' >/dev/null
link_start acl --name rg-test-acl --redis "${RG_REDIS_ADDR[a]}" --user relay --password pw2
check_up "AUTH user password: UP"
expect_cmd "AUTH user password: the server knows the user" 1 2000 '0 string relay$' ACL WHOAMI
expect_stop "the driver exits cleanly"

link_start badpw --name rg-test-bad --redis "${RG_REDIS_ADDR[a]}" --password wrong \
	--backoff-min 100 --backoff-max 400
expect_not_up "wrong password: never UP" 3
expect_failures "wrong password: failures counted, retried" 2
expect_eq "wrong password: no connect counted" 0 "$(link_stat connects)"
# backoff, not a hot loop: over the 3+ s above, 100 ms doubling to 400 ms (+-25%) allows
# about ten attempts; without a backoff there would be thousands
[ "${FAILS:-0}" -le 40 ] && ok "wrong password: retries are spaced by the backoff ($FAILS)" ||
	fail "wrong password: retries are spaced by the backoff ($FAILS attempts)"
link_send cmd 1 1000 PING
link_expect '^sent 1 ' 5
expect_eq "a command while not UP is refused with -ENOTCONN" "sent 1 -107" "$LINK_LINE"
grep -q 'AUTH' "$LINK_LOG.err" && ok "the log names the AUTH failure" || fail "the log names the AUTH failure"
expect_stop "the driver exits cleanly"

# ---- a hung server: deadlines, heartbeat -------------------------------------------------
rg_redis_start "$D" h unix || exit 1
link_start stop --name rg-test-h --redis "${RG_REDIS_ADDR[h]}" --heartbeat 60000 \
	--connect-timeout 1000 --backoff-min 100 --backoff-max 500
check_up "hung server: UP first"
rg_redis_pause h
link_send cmd 1 1000 GET k
expect_line "SIGSTOPped server: the pending command gets -ETIMEDOUT" '^reply 1 -110 none' 10
expect_line "after a timeout the link is DOWN" '^state DOWN' 5
link_stats
expect_eq "stats: the timeout counted" 1 "$(link_stat timeouts)"
expect_eq "stats: nothing pending" 0 "$(link_stat pending)"
rg_redis_resume h
check_up "SIGCONT: UP again" 15
expect_cmd "after SIGCONT commands work" 2 2000 '0 status PONG' PING

rg_redis_cli h CLIENT PAUSE 3000 ALL >/dev/null
link_send cmd 3 500 GET k
expect_line "CLIENT PAUSE: the pending command gets -ETIMEDOUT" '^reply 3 -110 none' 10
check_up "CLIENT PAUSE over: UP again" 15
expect_cmd "after CLIENT PAUSE commands work" 4 2000 '0 status PONG' PING
expect_stop "the driver exits cleanly"

link_start hb --name rg-test-hb --redis "${RG_REDIS_ADDR[h]}" --heartbeat 300 \
	--connect-timeout 1000 --backoff-min 100 --backoff-max 500
check_up "heartbeat: UP first"
rg_redis_pause h
expect_line "heartbeat: a hung server with nothing in flight is noticed" '^state DOWN' 10
rg_redis_resume h
check_up "heartbeat: UP again after SIGCONT" 15
expect_stop "the driver exits cleanly"

# ---- freeing the link with commands in flight: -ECANCELED ---------------------------------
link_start cancel --name rg-test-c --redis "${RG_REDIS_ADDR[h]}" --heartbeat 60000
check_up "free with commands in flight: UP first"
rg_redis_pause h
link_send cmd 1 30000 GET k
link_expect '^sent 1 0' 5
link_send quit
expect_line "free with commands in flight: they get -ECANCELED" '^reply 1 -125 none' 5
expect_stop "the driver exits cleanly"
rg_redis_resume h

# ---- a killed server, a new one at the same socket ---------------------------------------
link_start kill --name rg-test-k --redis "${RG_REDIS_ADDR[h]}" --heartbeat 60000 \
	--backoff-min 100 --backoff-max 500
check_up "killed server: UP first"
rg_redis_pause h
link_send cmd 1 30000 GET k
link_send cmd 2 30000 GET k
link_expect '^sent 2 0' 5
rg_redis_kill h
expect_line "server killed: the first pending command gets -ENOTCONN" '^reply 1 -107 none' 10
expect_line "server killed: the second too" '^reply 2 -107 none' 5
expect_line "server killed: DOWN" '^state DOWN' 5
rg_redis_start "$D" h unix || exit 1
check_up "a new server at the same socket: UP again" 15
expect_cmd "the new server answers" 3 2000 '0 status PONG' PING
link_stats
expect_eq "stats: two connects" 2 "$(link_stat connects)"
expect_stop "the driver exits cleanly"

# ---- under the agent's syscall filter ----------------------------------------------------
link_start seccomp "${SECCOMP[@]}" --name rg-test-sc --redis "${RG_REDIS_ADDR[h]}" --backoff-min 100 \
	--backoff-max 500
check_up "under the agent's seccomp filter: unix UP"
expect_cmd "under seccomp: a command" 1 2000 '0 status PONG' PING
rg_redis_kill h
link_expect '^state DOWN' 10
rg_redis_start "$D" h unix || exit 1
check_up "under seccomp: reconnects" 15
expect_cmd "under seccomp: a command after the reconnect" 2 2000 '0 status PONG' PING
expect_stop "under seccomp: the driver lived and exits cleanly"
link_start seccomp-inet "${SECCOMP[@]}" --name rg-test-sci --redis "${RG_REDIS_ADDR[i]}"
check_up "under seccomp: inet UP"
expect_cmd "under seccomp: inet command" 1 2000 '0 status PONG' PING
expect_stop "under seccomp: inet driver exits cleanly"

# ---- ROLE ----------------------------------------------------------------------------------
rg_redis_start "$D" m port || exit 1
rg_redis_replica_start "$D" r m || exit 1
link_start role --name rg-test-r --redis "${RG_REDIS_ADDR[r]}" --backoff-min 100 --backoff-max 400
expect_not_up "ROLE: a replica is refused" 3
expect_failures "ROLE: counted as a failed connect" 1
grep -q 'ROLE is not master' "$LINK_LOG.err" && ok "ROLE: logged" || fail "ROLE: logged"
expect_stop "the driver exits cleanly"

# ---- hostile servers --------------------------------------------------------------------
# Each answers the handshake with junk: the link drops the connection and retries; the
# driver lives (no hiredis assert, no sanitizer report) and never comes UP.
hex() { printf '%b' "$1" | od -An -v -tx1 | tr -d ' \n'; }
declare -A JUNK=(
	[not-resp]='hello world\r\n'
	[unasked-replies]="$(printf '+OK\\r\\n%.0s' {1..50})"
	[deep-nesting]="$(printf '*1\\r\\n%.0s' {1..20})"
	[huge-array]='*2147483647\r\n'
	[resp3-map]='%1\r\n+a\r\n+b\r\n'
	[bad-length]='$abc\r\n'
	[huge-bulk]='$99999999999\r\nabc'
	[role-not-array]='+OK\r\n+OK\r\n+master\r\n'
)
for k in "${!JUNK[@]}"; do
	sock=$D/fake-$k.sock
	python3 "$FAKE" "$sock" junk "$(hex "${JUNK[$k]}")" &
	rg_on_exit "kill $!"
	for ((i = 0; i < 50; i++)); do [ -S "$sock" ] && break; sleep 0.1; done
	link_start "junk-$k" --name rg-test-j --redis "unix:$sock" --connect-timeout 500 \
		--backoff-min 50 --backoff-max 200
	expect_not_up "hostile $k: never UP" 2
	n=$(wc -l <"$sock.count" 2>/dev/null)
	[ "${n:-0}" -ge 2 ] && ok "hostile $k: dropped and retried ($n connections)" ||
		fail "hostile $k: dropped and retried (${n:-0} connections)"
	expect_stop "hostile $k: the driver lived and exits cleanly"
done

# a server that handshakes, then answers one command with three replies
sock=$D/fake-after.sock
python3 "$FAKE" "$sock" handshake "$(hex '+OK\r\n:1\r\n:2\r\n')" &
rg_on_exit "kill $!"
for ((i = 0; i < 50; i++)); do [ -S "$sock" ] && break; sleep 0.1; done
link_start junk-after --name rg-test-ja --redis "unix:$sock" --heartbeat 60000 \
	--backoff-min 50 --backoff-max 200
check_up "hostile after the handshake: UP first"
expect_cmd "hostile after the handshake: the command gets the first reply" 1 2000 '0 status OK' GET x
expect_line "hostile after the handshake: unasked replies drop the connection" '^state DOWN' 5
grep -q 'a reply nobody asked for' "$LINK_LOG.err" && ok "hostile after the handshake: refused, not asserted on" ||
	fail "hostile after the handshake: refused, not asserted on"
expect_stop "hostile after the handshake: the driver exits cleanly"

# ---- Sentinel -----------------------------------------------------------------------------
# m (master) and r (its replica) from above; one sentinel, quorum 1, with the failover fast.
rg_sentinel_start "$D" s m 1 || exit 1
for ((i = 0; i < 150; i++)); do
	rg_redis_cli s SENTINEL replicas relayguard 2>/dev/null | grep -q "^${RG_REDIS_PORT[r]}$" && break
	sleep 0.1
done
[ $i -lt 150 ] && ok "sentinel knows the replica" || fail "sentinel knows the replica"
# a dead sentinel first: discovery asks the next one
link_start sentinel "${SECCOMP[@]}" --name rg-test-s --sentinel inet:127.0.0.1:1 \
	--sentinel "${RG_REDIS_ADDR[s]}" --master relayguard --heartbeat 500 \
	--backoff-min 100 --backoff-max 500
check_up "sentinel: the link finds the master (past a dead sentinel)" 15
link_stats
expect_eq "sentinel: connected to the master" "${RG_REDIS_ADDR[m]}" "$(link_stat master)"
expect_cmd "sentinel: a command on the master" 1 2000 '0 status OK' SET fk before
# the subscription is on before the failover is asked for
for ((i = 0; i < 50; i++)); do
	[ "$(rg_redis_cli s INFO | tr -d '\r' | sed -n 's/^pubsub_channels://p')" = 1 ] &&
		rg_redis_cli s CLIENT LIST | grep -q 'sub=1' && break
	sleep 0.1
done
[ $i -lt 50 ] && ok "sentinel: the link subscribed to +switch-master" ||
	fail "sentinel: the link subscribed to +switch-master"
rg_redis_cli s SENTINEL FAILOVER relayguard >/dev/null
expect_line "failover: the link leaves the old master" '^state DOWN' 20
check_up "failover: UP on the new master" 20
link_stats
expect_eq "failover: connected to the promoted replica" "${RG_REDIS_ADDR[r]}" "$(link_stat master)"
expect_eq "failover: counted" 1 "$(link_stat failovers)"
expect_cmd "failover: commands work after" 2 2000 '0 status OK' SET fk after
expect_eq "failover: the write is on the new master" after "$(rg_redis_cli r GET fk)"
# now the master itself dies: the sentinel promotes m (made r's replica by the failover)
for ((i = 0; i < 150; i++)); do
	rg_redis_cli s SENTINEL replicas relayguard 2>/dev/null | tr '\n' ' ' |
		grep -q "port ${RG_REDIS_PORT[m]} .*flags slave " && break
	sleep 0.1
done
for ((; i < 150; i++)); do
	rg_redis_cli m INFO replication | grep -q 'master_link_status:up' && break
	sleep 0.1
done
[ $i -lt 150 ] && ok "the sentinel knows the old master as a replica, in sync" ||
	fail "the sentinel knows the old master as a replica, in sync"
rg_redis_kill r
expect_line "master killed: DOWN" '^state DOWN' 10
check_up "master killed: UP on the master the sentinel promotes" 30
link_stats
expect_eq "master killed: connected to the promoted replica" "${RG_REDIS_ADDR[m]}" "$(link_stat master)"
expect_eq "master killed: a second failover counted" 2 "$(link_stat failovers)"
expect_cmd "master killed: commands work after" 3 2000 '0 string after$' GET fk
expect_stop "sentinel: the driver (under seccomp) exits cleanly"

# a hostile sentinel: names the real master, then answers SUBSCRIBE with messages hiredis
# would assert on. The subscription is dropped and reopened; the master link stays UP.
declare -A SUBJUNK=([one-element]='*1\r\n$7\r\nmessage\r\n' [integers]='*3\r\n:1\r\n:2\r\n:3\r\n'
	[nil-name]='*3\r\n$7\r\nmessage\r\n$-1\r\n$1\r\nx\r\n')
for k in "${!SUBJUNK[@]}"; do
	sock=$D/fake-sentinel-$k.sock
	python3 "$FAKE" "$sock" sentinel 127.0.0.1 "${RG_REDIS_PORT[m]}" "$(hex "${SUBJUNK[$k]}")" &
	rg_on_exit "kill $!"
	for ((i = 0; i < 50; i++)); do [ -S "$sock" ] && break; sleep 0.1; done
	link_start "sentinel-junk-$k" --name rg-test-sj --sentinel "unix:$sock" --master relayguard \
		--heartbeat 60000 --backoff-min 50 --backoff-max 200
	check_up "hostile sentinel $k: UP on the master it named"
	for ((i = 0; i < 50; i++)); do
		[ "$(wc -l <"$sock.count" 2>/dev/null)" -ge 4 ] && break
		sleep 0.1
	done
	[ $i -lt 50 ] && ok "hostile sentinel $k: the subscription is dropped and reopened" ||
		fail "hostile sentinel $k: the subscription is dropped and reopened"
	grep -q 'subscription: a malformed message' "$LINK_LOG.err" &&
		ok "hostile sentinel $k: refused, not asserted on" ||
		fail "hostile sentinel $k: refused, not asserted on"
	expect_cmd "hostile sentinel $k: the master link still serves" 1 2000 '0 status PONG' PING
	expect_stop "hostile sentinel $k: the driver exits cleanly"
done

# a sentinel that names something other than a numeric address: never used, never echoed
sock=$D/fake-sentinel-name.sock
python3 "$FAKE" "$sock" sentinel $'evil\nhost' 6379 "" &
rg_on_exit "kill $!"
for ((i = 0; i < 50; i++)); do [ -S "$sock" ] && break; sleep 0.1; done
link_start sentinel-name --name rg-test-sa --sentinel "unix:$sock" --master relayguard \
	--backoff-min 50 --backoff-max 200
expect_not_up "hostile sentinel address: never UP" 2
grep -q 'names no usable address' "$LINK_LOG.err" && ok "hostile sentinel address: refused" ||
	fail "hostile sentinel address: refused"
grep -q evil "$LINK_LOG.err" && fail "hostile sentinel address: not echoed into the log" ||
	ok "hostile sentinel address: not echoed into the log"
expect_stop "the driver exits cleanly"

# a sentinel that knows no such master: every round fails, counted, retried with backoff
link_start sentinel-none --name rg-test-sn --sentinel "${RG_REDIS_ADDR[s]}" --master nosuch \
	--backoff-min 100 --backoff-max 300
expect_not_up "sentinel: an unknown master name: never UP" 2
expect_failures "sentinel: unknown name: failed rounds counted" 2
expect_stop "the driver exits cleanly"

# ---- a master demoted under the link ------------------------------------------------------
# the sentinel gone, m (the master now) is turned into a replica (of the dead r) by hand
rg_redis_stop s
link_start demote --name rg-test-d --redis "${RG_REDIS_ADDR[m]}" --heartbeat 60000 \
	--backoff-min 100 --backoff-max 300
check_up "demotion: UP on the master"
rg_redis_cli m REPLICAOF 127.0.0.1 "${RG_REDIS_PORT[r]}" >/dev/null
expect_cmd "demotion: a write gets READONLY" 1 2000 '0 error READONLY' SET dk v
expect_line "demotion: READONLY drops the link" '^state DOWN' 5
expect_not_up "demotion: not UP on a replica" 2
rg_redis_cli m REPLICAOF NO ONE >/dev/null
check_up "demotion: UP again once it is master"
expect_stop "the driver exits cleanly"
link_start demote-hb --name rg-test-dh --redis "${RG_REDIS_ADDR[m]}" --heartbeat 300 \
	--backoff-min 100 --backoff-max 300
check_up "demotion while idle: UP"
rg_redis_cli m REPLICAOF 127.0.0.1 "${RG_REDIS_PORT[r]}" >/dev/null
expect_line "demotion while idle: the heartbeat (ROLE) notices" '^state DOWN' 10
expect_stop "the driver exits cleanly"

# ---- options refused -----------------------------------------------------------------------
long=unix:/tmp/$(printf 'x%.0s' {1..120})
for a in inet:localhost:6379 inet:127.0.0.1:0 inet:127.0.0.1:99999 inet:127.0.0.1 tcp:1.2.3.4:5 \
	unix: "$long" "inet:[::1:80"; do
	out=$(timeout 5 "$DRIVE" --name x --redis "$a" </dev/null 2>&1)
	expect_eq "refused address $a" "new -22" "$out"
done
out=$(timeout 5 "$DRIVE" --name 'has space' --redis unix:/x </dev/null 2>&1)
expect_eq "refused name with a space" "new -22" "$out"
out=$(timeout 5 "$DRIVE" --name x --sentinel inet:127.0.0.1:1 </dev/null 2>&1)
expect_eq "sentinels without a master name" "new -22" "$out"
out=$(timeout 5 "$DRIVE" --name x --redis unix:/x --user u </dev/null 2>&1)
expect_eq "a user without a password" "new -22" "$out"

done_testing
