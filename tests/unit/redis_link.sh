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
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}

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
	rg_on_exit "kill -KILL $DRV_PID"
}
link_send() {
	printf '%s\n' "$*" >&"${LINK[1]}"
}
# link_expect REGEX [SECONDS]: read the driver's lines until one matches (LINK_LINE), or
# SECONDS (default 10) pass, or it exits.
link_expect() {
	local re=$1 end=$((SECONDS + ${2:-10})) line
	while [ $SECONDS -lt $end ]; do
		[ -n "${LINK[0]:-}" ] || return 1
		if IFS= read -r -t 1 line <&"${LINK[0]}"; then
			line=$LINK_PART$line
			LINK_PART=
			echo "$line" >>"$LINK_LOG"
			if [[ $line =~ $re ]]; then
				LINK_LINE=$line
				return 0
			fi
		else
			# a timeout in mid-line leaves the start of it in line: keep it
			LINK_PART+=$line
			kill -0 "$DRV_PID" 2>/dev/null || return 1
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
check_up() {
	if link_expect '^state UP' "${2:-10}"; then ok "$1"; else fail "$1"; tail -5 "$LINK_LOG.err" | sed 's/^/#   /'; fi
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
link_stats
expect_eq "stats: replies counted" 3 "$(link_stat replies)"
expect_eq "stats: error replies counted" 1 "$(link_stat error_replies)"
expect_eq "stats: master named" "${RG_REDIS_ADDR[u]}" "$(link_stat master)"
expect_eq "stats: one connect" 1 "$(link_stat connects)"
expect_eq "stats: up" 1 "$(link_stat up)"
link_stop && ok "the driver exits cleanly" || fail "the driver exits cleanly (rc $?)"

rg_redis_start "$D" i port || exit 1
link_start inet --name rg-test-i --redis "${RG_REDIS_ADDR[i]}"
check_up "inet: the link comes UP"
expect_cmd "inet: PING" 1 2000 '0 status PONG' PING
expect_cmd "binary-safe arguments reach the server" 2 2000 '0 integer 3' APPEND k3 abc
link_stop && ok "the driver exits cleanly" || fail "the driver exits cleanly (rc $?)"

# ---- AUTH ------------------------------------------------------------------------------
rg_redis_start "$D" a unix "requirepass s3cret" || exit 1
link_start auth --name rg-test-a --redis "${RG_REDIS_ADDR[a]}" --password s3cret
check_up "AUTH password: UP"
expect_cmd "AUTH password: commands work" 1 2000 '0 status PONG' PING
link_stop && ok "the driver exits cleanly" || fail "the driver exits cleanly (rc $?)"

rg_redis_cli a --no-auth-warning -a s3cret ACL SETUSER relay on '>pw2' '~*' '+@all' >/dev/null
link_start acl --name rg-test-acl --redis "${RG_REDIS_ADDR[a]}" --user relay --password pw2
check_up "AUTH user password: UP"
expect_cmd "AUTH user password: the server knows the user" 1 2000 '0 string relay$' ACL WHOAMI
link_stop && ok "the driver exits cleanly" || fail "the driver exits cleanly (rc $?)"

link_start badpw --name rg-test-bad --redis "${RG_REDIS_ADDR[a]}" --password wrong \
	--backoff-min 100 --backoff-max 400
if link_expect '^state UP' 3; then fail "wrong password: never UP"; else ok "wrong password: never UP"; fi
link_stats
n=$(link_stat connect_failures)
[ "${n:-0}" -ge 2 ] && ok "wrong password: failures counted, retried ($n)" ||
	fail "wrong password: failures counted, retried (${n:-none})"
expect_eq "wrong password: no connect counted" 0 "$(link_stat connects)"
link_send cmd 1 1000 PING
link_expect '^sent 1 ' 5
expect_eq "a command while not UP is refused with -ENOTCONN" "sent 1 -107" "$LINK_LINE"
grep -q 'AUTH' "$LINK_LOG.err" && ok "the log names the AUTH failure" || fail "the log names the AUTH failure"
link_stop && ok "the driver exits cleanly" || fail "the driver exits cleanly (rc $?)"

# ---- a hung server: deadlines, heartbeat -------------------------------------------------
rg_redis_start "$D" h unix || exit 1
link_start stop --name rg-test-h --redis "${RG_REDIS_ADDR[h]}" --heartbeat 60000 \
	--connect-timeout 1000 --backoff-min 100 --backoff-max 500
check_up "hung server: UP first"
rg_redis_pause h
link_send cmd 1 1000 GET k
if link_expect '^reply 1 -110 none' 10; then ok "SIGSTOPped server: the pending command gets -ETIMEDOUT"
else fail "SIGSTOPped server: the pending command gets -ETIMEDOUT"; fi
link_expect '^state DOWN' 5 && ok "after a timeout the link is DOWN" || fail "after a timeout the link is DOWN"
link_stats
expect_eq "stats: the timeout counted" 1 "$(link_stat timeouts)"
expect_eq "stats: nothing pending" 0 "$(link_stat pending)"
rg_redis_resume h
check_up "SIGCONT: UP again" 15
expect_cmd "after SIGCONT commands work" 2 2000 '0 status PONG' PING

rg_redis_cli h CLIENT PAUSE 3000 ALL >/dev/null
link_send cmd 3 500 GET k
link_expect '^reply 3 -110 none' 10 && ok "CLIENT PAUSE: the pending command gets -ETIMEDOUT" ||
	fail "CLIENT PAUSE: the pending command gets -ETIMEDOUT"
check_up "CLIENT PAUSE over: UP again" 15
expect_cmd "after CLIENT PAUSE commands work" 4 2000 '0 status PONG' PING
link_stop && ok "the driver exits cleanly" || fail "the driver exits cleanly (rc $?)"

link_start hb --name rg-test-hb --redis "${RG_REDIS_ADDR[h]}" --heartbeat 300 \
	--connect-timeout 1000 --backoff-min 100 --backoff-max 500
check_up "heartbeat: UP first"
rg_redis_pause h
link_expect '^state DOWN' 10 && ok "heartbeat: a hung server with nothing in flight is noticed" ||
	fail "heartbeat: a hung server with nothing in flight is noticed"
rg_redis_resume h
check_up "heartbeat: UP again after SIGCONT" 15
link_stop && ok "the driver exits cleanly" || fail "the driver exits cleanly (rc $?)"

# ---- a killed server, a new one at the same socket ---------------------------------------
link_start kill --name rg-test-k --redis "${RG_REDIS_ADDR[h]}" --heartbeat 60000 \
	--backoff-min 100 --backoff-max 500
check_up "killed server: UP first"
rg_redis_pause h
link_send cmd 1 30000 GET k
link_send cmd 2 30000 GET k
link_expect '^sent 2 0' 5
rg_redis_kill h
link_expect '^reply 1 -107 none' 10 && ok "server killed: the first pending command gets -ENOTCONN" ||
	fail "server killed: the first pending command gets -ENOTCONN"
link_expect '^reply 2 -107 none' 5 && ok "server killed: the second too" ||
	fail "server killed: the second too"
link_expect '^state DOWN' 5 && ok "server killed: DOWN" || fail "server killed: DOWN"
rg_redis_start "$D" h unix || exit 1
check_up "a new server at the same socket: UP again" 15
expect_cmd "the new server answers" 3 2000 '0 status PONG' PING
link_stats
expect_eq "stats: two connects" 2 "$(link_stat connects)"
link_stop && ok "the driver exits cleanly" || fail "the driver exits cleanly (rc $?)"

# ---- under the agent's syscall filter ----------------------------------------------------
link_start seccomp --seccomp --name rg-test-sc --redis "${RG_REDIS_ADDR[h]}" --backoff-min 100 \
	--backoff-max 500
check_up "under the agent's seccomp filter: unix UP"
expect_cmd "under seccomp: a command" 1 2000 '0 status PONG' PING
rg_redis_kill h
link_expect '^state DOWN' 10
rg_redis_start "$D" h unix || exit 1
check_up "under seccomp: reconnects" 15
expect_cmd "under seccomp: a command after the reconnect" 2 2000 '0 status PONG' PING
link_stop && ok "under seccomp: the driver lived and exits cleanly" ||
	fail "under seccomp: the driver lived and exits cleanly (rc $?)"
link_start seccomp-inet --seccomp --name rg-test-sci --redis "${RG_REDIS_ADDR[i]}"
check_up "under seccomp: inet UP"
expect_cmd "under seccomp: inet command" 1 2000 '0 status PONG' PING
link_stop && ok "under seccomp: inet driver exits cleanly" ||
	fail "under seccomp: inet driver exits cleanly (rc $?)"

# ---- ROLE ----------------------------------------------------------------------------------
rg_redis_start "$D" m port || exit 1
rg_redis_replica_start "$D" r m || exit 1
link_start role --name rg-test-r --redis "${RG_REDIS_ADDR[r]}" --backoff-min 100 --backoff-max 400
if link_expect '^state UP' 3; then fail "ROLE: a replica is refused"; else ok "ROLE: a replica is refused"; fi
link_stats
n=$(link_stat connect_failures)
[ "${n:-0}" -ge 1 ] && ok "ROLE: counted as a failed connect ($n)" || fail "ROLE: counted as a failed connect"
grep -q 'ROLE is not master' "$LINK_LOG.err" && ok "ROLE: logged" || fail "ROLE: logged"
link_stop && ok "the driver exits cleanly" || fail "the driver exits cleanly (rc $?)"

done_testing
