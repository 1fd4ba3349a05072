#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# lib.sh: TAP helpers for shell test suites. A suite sources this, calls ok/fail/skip (or
# check CMD...), and ends with `done_testing`. tests/run-tests.sh counts the TAP lines.
# Exit code 77 from a suite means "this kernel lacks a feature": counted as skipped.

TAP_N=0
TAP_FAILED=0
SKIP_CODE=77

: "${BUILD:=build}"
RG_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export RG_ROOT BUILD

ok() {
	TAP_N=$((TAP_N + 1))
	echo "ok $TAP_N - $*"
}

fail() {
	TAP_N=$((TAP_N + 1))
	TAP_FAILED=$((TAP_FAILED + 1))
	echo "not ok $TAP_N - $*"
}

skip() {
	TAP_N=$((TAP_N + 1))
	echo "ok $TAP_N # SKIP $*"
}

diag() {
	echo "# $*"
}

# check "description" cmd args...: ok if the command succeeds, else fail with its output.
check() {
	local desc=$1 out
	shift
	if out=$("$@" 2>&1); then
		ok "$desc"
	else
		fail "$desc"
		printf '%s\n' "$out" | head -20 | sed 's/^/#   /'
	fi
}

# expect_eq "description" expected actual
expect_eq() {
	if [ "$2" = "$3" ]; then
		ok "$1"
	else
		fail "$1"
		diag "  expected: $2"
		diag "  got:      $3"
	fi
}

done_testing() {
	echo "1..$TAP_N"
	[ "$TAP_FAILED" -eq 0 ]
}

# ---- fixture ---------------------------------------------------------------------------
# What every suite that runs relayguardd or the lab repeats, written once: a cleanup
# registry run from one EXIT trap, namespaces (lo up, no default route, deleted at exit),
# veth pairs, bpffs, an agent configuration, starting relayguardd until it serves and
# stopping it. Every packet stays between the namespaces a suite makes here.

RG_CLEANUPS=()

# rg_on_exit CMD...: run CMD (one string, evaluated then) when the suite exits, however it
# exits; the last registered runs first, so a thing is torn down before what it lives in.
rg_on_exit() {
	RG_CLEANUPS+=("$*")
}

# rg_cleanup: run and forget every registered cleanup (the EXIT trap; a suite may call it
# earlier to check that teardown leaves nothing). Keeps the suite's exit status.
rg_cleanup() {
	local rc=$? i
	for ((i = ${#RG_CLEANUPS[@]} - 1; i >= 0; i--)); do
		eval "${RG_CLEANUPS[i]}" >/dev/null 2>&1
	done
	RG_CLEANUPS=()
	return $rc
}
trap rg_cleanup EXIT
trap 'trap - EXIT; rg_cleanup; exit 130' INT
trap 'trap - EXIT; rg_cleanup; exit 143' TERM

# rg_tmpdir VAR PREFIX: a fresh directory /tmp/PREFIX.XXXXXX in VAR, removed at exit
# (kept, for a look at its logs, when RG_KEEP is set).
rg_tmpdir() {
	local d
	d=$(mktemp -d "/tmp/$2.XXXXXX") || return 1
	printf -v "$1" '%s' "$d"
	if [ -n "${RG_KEEP:-}" ]; then
		rg_on_exit "echo 'kept $d (RG_KEEP)' >&2"
	else
		rg_on_exit "rm -rf '$d'"
	fi
}

# rg_ns_add NAME...: fresh network namespaces (an old one of the same name is replaced)
# with lo up, deleted at exit. They get no route but the on-link ones of their addresses.
rg_ns_add() {
	local n
	for n; do
		ip netns del "$n" 2>/dev/null
		ip netns add "$n" || return 1
		rg_on_exit "ip netns del '$n'"
		ip -n "$n" link set lo up || return 1
	done
}

# rg_ns_exec NAME CMD...: CMD in namespace NAME's network only. nsenter, not ip netns exec:
# the mount namespace stays the suite's, so bpffs pins are the real ones.
rg_ns_exec() {
	local n=$1
	shift
	nsenter --net="/run/netns/$n" "$@"
}

# rg_ns_bg NS CMD...: CMD in the background in NS's network (as rg_ns_exec), killed at exit;
# RG_BG_PID is its pid. Not `rg_ns_exec ... &`: that forks a subshell, and $! would be the
# subshell's pid, not the command's (nsenter execs the command, so this $! is CMD itself).
rg_ns_bg() {
	local n=$1
	shift
	nsenter --net="/run/netns/$n" "$@" &
	RG_BG_PID=$!
	rg_on_exit "kill $RG_BG_PID"
}

# rg_veth NS1 IF1 NS2 IF2: a veth pair IF1 in NS1 to IF2 in NS2 (NS2 may be NS1), both up.
rg_veth() {
	ip link add "$2" netns "$1" type veth peer name "$4" netns "$3" &&
		ip -n "$1" link set "$2" up && ip -n "$3" link set "$4" up
}

# rg_default_routes NS...: every default route (IPv4 and IPv6) in the namespaces; empty is
# what the network-safety rule demands.
rg_default_routes() {
	local n
	for n; do
		ip -n "$n" route show default
		ip -n "$n" -6 route show default
	done
}

# rg_bpffs: the BPF filesystem mounted at /sys/fs/bpf (not mounted at boot everywhere).
rg_bpffs() {
	mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
}

# rg_agent_fixture NS TAG: the paths one relayguardd of a suite uses, and their teardown.
# RG_DIR (a fresh directory: configuration rg.conf, sockets, state/, agent.log), RG_PIN
# (/sys/fs/bpf/TAG-PID), RG_NS (the namespace it runs in), RG_AGENT and RG_CTL (the
# binaries); the user relayguard exists. At exit: the agent killed, its program detached, its pins and RG_DIR removed.
rg_agent_fixture() {
	RG_NS=$1
	RG_PIN=/sys/fs/bpf/$2-$$
	RG_AGENT=$RG_ROOT/$BUILD/relayguardd
	RG_CTL=$RG_ROOT/$BUILD/relayguardctl
	RG_AGENT_PID=
	rg_tmpdir RG_DIR "rg-$2" || return 1
	# The agent drops to user relayguard: it must exist, and own RG_DIR to reread its
	# configuration, write its state and remove its sockets there (as a relay's
	# /run/relayguard and state_dir are its own).
	"$RG_ROOT/tools/add-user.sh" || return 1
	chown relayguard: "$RG_DIR"
	mkdir -p "$RG_DIR/state"
	rg_bpffs || return 1
	rg_on_exit "rm -rf '$RG_PIN'"
	rg_on_exit "'$RG_CTL' -c '$RG_DIR/rg.conf' detach --purge"
	rg_on_exit 'rg_agent_stop KILL'
}

# rg_agent_conf [KEY=VALUE...] < REST: writes $RG_DIR/rg.conf: an [agent] section with the
# fixture's defaults (interfaces from RG_IFACES, sockets and state in RG_DIR, pins in RG_PIN,
# metrics on the namespace's 127.0.0.1:9433), each KEY=VALUE replacing a default or added
# after them, then the rest of the configuration ([limits], [tenant ...]) from stdin.
rg_agent_conf() {
	local -A val=([interfaces]="${RG_IFACES:-r1}" [attach_mode]=generic
		[policy_listen]="unix:$RG_DIR/policy.sock" [control_socket]="$RG_DIR/control.sock"
		[metrics_listen]=inet:127.0.0.1:9433 [state_dir]="$RG_DIR/state" [pin_dir]="$RG_PIN")
	local keys=(interfaces attach_mode policy_listen control_socket metrics_listen state_dir
		pin_dir) kv k
	for kv; do
		k=${kv%%=*}
		[ -n "${val[$k]+set}" ] || keys+=("$k")
		val[$k]=${kv#*=}
	done
	{
		echo "[agent]"
		for k in "${keys[@]}"; do echo "$k = ${val[$k]}"; done
		echo
		cat
	} >"$RG_DIR/rg.conf"
}

# rg_agent_start [WRAPPER...]: relayguardd -f -c $RG_DIR/rg.conf in RG_NS (under WRAPPER,
# e.g. valgrind, if given), output appended to $RG_DIR/agent.log, stdin closed; returns 0
# once it serves (its policy and control sockets exist) with RG_AGENT_PID set, or 1 after
# RG_AGENT_WAIT seconds (default 10) with the log's tail on stderr. Stale sockets of an
# earlier agent of this suite are removed first, so the wait sees only the new ones.
rg_agent_start() {
	local i tries=$((${RG_AGENT_WAIT:-10} * 10))
	rm -f "$RG_DIR/policy.sock" "$RG_DIR/control.sock"
	# nsenter itself, not rg_ns_exec: a backgrounded function would be a subshell, and $!
	# its pid. nsenter execs, so $! is the agent (or its wrapper).
	nsenter --net="/run/netns/$RG_NS" "$@" "$RG_AGENT" -f -c "$RG_DIR/rg.conf" \
		>>"$RG_DIR/agent.log" 2>&1 </dev/null &
	RG_AGENT_PID=$!
	for ((i = 0; i < tries; i++)); do
		[ -S "$RG_DIR/policy.sock" ] && [ -S "$RG_DIR/control.sock" ] && return 0
		kill -0 "$RG_AGENT_PID" 2>/dev/null || break
		sleep 0.1
	done
	tail -5 "$RG_DIR/agent.log" >&2
	return 1
}

# rg_agent_metric NAME: the value of metric NAME (with its labels, as scraped) on the
# agent's /metrics (the fixture's 127.0.0.1:9433 in RG_NS), 0 when absent.
rg_agent_metric() {
	rg_ns_exec "$RG_NS" curl -s --max-time 5 http://127.0.0.1:9433/metrics |
		awk -v m="$1" '$1 == m { v = $2 } END { print v + 0 }'
}

# rg_agent_stop [SIGNAL]: signal the agent (TERM by default), wait for it and forget it;
# returns its exit status (0 if none was running).
rg_agent_stop() {
	local rc=0
	[ -n "${RG_AGENT_PID:-}" ] || return 0
	kill -"${1:-TERM}" "$RG_AGENT_PID" 2>/dev/null
	wait "$RG_AGENT_PID" 2>/dev/null
	rc=$?
	RG_AGENT_PID=
	return $rc
}

# rg_policy_req CLIENT SENDER INSTANCE: one RCPT-stage policy request over the fixture
# agent's unix socket ($RG_DIR/policy.sock); prints the action (empty: no answer in 2 s).
rg_policy_req() {
	printf 'request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=%s\nsender=%s\ninstance=%s\nrecipient=r@dest.example\n\n' \
		"$1" "$2" "$3" | socat -t 2 - "UNIX-CONNECT:$RG_DIR/policy.sock" | sed -n 's/^action=//p'
}

# rg_lab_up MODE: lab_up MODE (tools/lab.sh, which the suite sourced) with its teardown
# registered; exits 77 (skip) when the kernel lacks namespaces, veth, bridges or XDP, and
# ends the suite as failed when the lab does not come up for another reason.
rg_lab_up() {
	local rc
	rg_on_exit "lab_select '$LAB_PREFIX' && lab_down"
	lab_up "$1"
	rc=$?
	[ $rc -eq 0 ] && return 0
	if [ $rc -eq 77 ]; then
		echo "# SKIP kernel lacks network namespaces, veth or bridges"
		exit 77
	fi
	if [ "$1" = --guard ] && grep -qiE 'xdp.*(not supported|operation not supported)|EOPNOTSUPP' \
		"$LAB_GUARD_LOG" 2>/dev/null; then
		echo "# SKIP kernel cannot attach XDP here"
		exit 77
	fi
	fail "lab up $1 (rc $rc)"
	done_testing
	exit 1
}

# ---- Redis and Sentinel (the fleet's) ----------------------------------------------------
# Servers of a suite's own, never the system's instance nor ports 6379/26379: a unix socket
# in the suite's directory, or a random loopback port above 20000. Each is a child of the
# suite, killed at exit (after a SIGCONT, in case a test left it stopped). By fixture NAME:
# RG_REDIS_ADDR[NAME] ("unix:PATH" or "inet:127.0.0.1:PORT", as the link takes it),
# RG_REDIS_PORT[NAME] (inet only), RG_REDIS_PID[NAME], RG_REDIS_CONF[NAME].
# With RG_REDIS_NS set, a server starts (and rg_redis_cli runs) in that network namespace,
# on RG_REDIS_HOST (default 127.0.0.1) in port mode: for clients in other namespaces.
declare -gA RG_REDIS_ADDR=() RG_REDIS_PORT=() RG_REDIS_PID=() RG_REDIS_CONF=() RG_REDIS_CLIARGS=()
declare -gA RG_REDIS_IN=()

# _rg_redis_run DIR NAME MODE PROG: start PROG on DIR/NAME.conf (written by the caller but for
# the listening lines, which this adds) and wait up to 10 s for an answer to PING (PONG,
# or NOAUTH from a server with a password). Five tries at a random port when MODE is port.
_rg_redis_run() {
	local dir=$1 name=$2 mode=$3 prog=$4 try i port pid out host=${RG_REDIS_HOST:-127.0.0.1}
	local -a in=()
	[ -n "${RG_REDIS_NS:-}" ] && in=(nsenter --net="/run/netns/$RG_REDIS_NS")
	RG_REDIS_IN[$name]=${in[*]}
	for ((try = 0; try < 5; try++)); do
		if [ "$mode" = unix ]; then
			port=0
			RG_REDIS_CLIARGS[$name]="-s $dir/$name.sock"
			RG_REDIS_ADDR[$name]="unix:$dir/$name.sock"
			printf 'port 0\nunixsocket %s\nunixsocketperm 777\n' "$dir/$name.sock" \
				>"$dir/$name.listen"
		else
			port=$((20000 + RANDOM % 40000))
			RG_REDIS_CLIARGS[$name]="-h $host -p $port"
			RG_REDIS_ADDR[$name]="inet:$host:$port"
			printf 'port %s\nbind %s\n' "$port" "$host" >"$dir/$name.listen"
			# Off loopback, in a namespace only the suite's relays reach.
			[ "$host" = 127.0.0.1 ] || echo 'protected-mode no' >>"$dir/$name.listen"
		fi
		cat "$dir/$name.base" "$dir/$name.listen" >"$dir/$name.conf"
		"${in[@]}" "$prog" "$dir/$name.conf" >>"$dir/$name.out" 2>&1 </dev/null &
		pid=$!
		RG_REDIS_PID[$name]=$pid
		RG_REDIS_PORT[$name]=$port
		RG_REDIS_CONF[$name]=$dir/$name.conf
		rg_on_exit "kill -CONT $pid; kill -KILL $pid"
		for ((i = 0; i < 100; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			# shellcheck disable=SC2086
			out=$(timeout 2 "${in[@]}" redis-cli ${RG_REDIS_CLIARGS[$name]} ping 2>&1)
			case $out in PONG* | *NOAUTH*) return 0 ;; esac
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		[ "$mode" = unix ] && break
	done
	echo "redis $name did not start: $(tail -3 "$dir/$name.log" 2>/dev/null)" >&2
	return 1
}

# rg_redis_start DIR NAME [unix|port] [CONFIG-LINE...]: a redis-server on DIR/NAME.sock
# (unix, the default) or on 127.0.0.1:RANDOM (port), no persistence, logging to
# DIR/NAME.log; each CONFIG-LINE is added to its configuration (requirepass x, ...).
rg_redis_start() {
	local dir=$1 name=$2 mode=${3:-unix}
	shift $(($# < 3 ? $# : 3))
	{
		printf 'daemonize no\nsave ""\nappendonly no\ndir %s\nlogfile %s\n' "$dir" \
			"$dir/$name.log"
		# a replica syncs at once, not after the default 5 s wait for more replicas
		printf 'dbfilename %s.rdb\nrepl-diskless-sync-delay 0\n' "$name"
		printf '%s\n' "$@"
	} >"$dir/$name.base"
	_rg_redis_run "$dir" "$name" "$mode" redis-server
}

# rg_redis_replica_start DIR NAME MASTER [CONFIG-LINE...]: a redis-server on a random port
# replicating fixture MASTER (an inet one), waiting until the link to it is up (10 s).
rg_redis_replica_start() {
	local dir=$1 name=$2 master=$3 i
	shift 3
	rg_redis_start "$dir" "$name" port \
		"replicaof ${RG_REDIS_HOST:-127.0.0.1} ${RG_REDIS_PORT[$master]}" \
		"$@" || return 1
	for ((i = 0; i < 100; i++)); do
		rg_redis_cli "$name" info replication | grep -q 'master_link_status:up' && return 0
		sleep 0.1
	done
	echo "replica $name does not sync with $master" >&2
	return 1
}

# rg_sentinel_start DIR NAME MASTER [QUORUM]: a redis-sentinel on a random port watching
# fixture MASTER (inet) under the name RG_SENTINEL_NAME (default relayguard), with short
# down-after (1 s) and failover (3 s) timeouts, so a suite sees a failover in seconds.
rg_sentinel_start() {
	local dir=$1 name=$2 master=$3 q=${4:-1} mname=${RG_SENTINEL_NAME:-relayguard}
	{
		printf 'daemonize no\ndir %s\nlogfile %s\n' "$dir" "$dir/$name.log"
		printf 'sentinel resolve-hostnames no\n'
		printf 'sentinel monitor %s %s %s %s\n' "$mname" "${RG_REDIS_HOST:-127.0.0.1}" \
			"${RG_REDIS_PORT[$master]}" "$q"
		printf 'sentinel down-after-milliseconds %s 1000\n' "$mname"
		printf 'sentinel failover-timeout %s 3000\n' "$mname"
		printf 'sentinel parallel-syncs %s 1\n' "$mname"
	} >"$dir/$name.base"
	_rg_redis_run "$dir" "$name" port redis-sentinel
}

# rg_redis_cli NAME ARGS...: redis-cli against fixture NAME (a server or a sentinel).
rg_redis_cli() {
	local name=$1
	shift
	# shellcheck disable=SC2086
	timeout 10 ${RG_REDIS_IN[$name]:-} redis-cli ${RG_REDIS_CLIARGS[$name]} "$@"
}

# rg_redis_signal NAME SIGNAL: STOP (hang it), CONT (let it go on), TERM or KILL (then wait
# for it, so its socket or port is free for a new server of the same name).
rg_redis_signal() {
	local pid=${RG_REDIS_PID[$1]}
	kill -"$2" "$pid" 2>/dev/null || return 1
	case $2 in TERM | KILL | 9 | 15) wait "$pid" 2>/dev/null; return 0 ;; esac
}
rg_redis_stop() { rg_redis_signal "$1" TERM; }
rg_redis_kill() { rg_redis_signal "$1" KILL; }
rg_redis_pause() { rg_redis_signal "$1" STOP; }
rg_redis_resume() { rg_redis_signal "$1" CONT; }

# rg_smtp_hold NS: a listener on port 25 of every address in NS (in the background, killed
# at exit) that accepts connections and holds them, 10 minutes at most: the port a relay's
# SYN test connects to (fleet.sh, make demo-fleet).
rg_smtp_hold() {
	rg_ns_bg "$1" python3 -c '
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 25)); s.listen(512); s.settimeout(1)
conns = []; end = time.time() + 600
while time.time() < end:
    try:
        c, _ = s.accept(); conns.append(c)
    except socket.timeout:
        pass
'
}

# rg_tcp_connects NS ADDR [PORT]: does a TCP connect from NS to ADDR:PORT (default 25)
# succeed within 2 s?
rg_tcp_connects() {
	rg_ns_exec "$1" python3 -c '
import socket, sys
s = socket.socket(); s.settimeout(2)
try:
    s.connect((sys.argv[1], int(sys.argv[2]))); sys.exit(0)
except Exception:
    sys.exit(1)' "$2" "${3:-25}"
}

# rg_wait_for SECONDS CMD...: run CMD every 0.1 s until it succeeds (0), at most SECONDS.
rg_wait_for() {
	local t=$(($1 * 10)) i
	shift
	for ((i = 0; i < t; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

# ---- a fleet of relays (fleet.sh, bench-fleet.sh) ------------------------------------------
# rg_fleet_relays PREFIX N: N relays, each an agent fixture in namespace PREFIX-rI with a veth
# r1 (192.0.2.1/24) to a client namespace of its own, PREFIX-cI (e0, 192.0.2.10/24: the same
# host behind every relay, as one host is one host fleet-wide). By relay I: RG_FLEET_DIR,
# RG_FLEET_PIN, RG_FLEET_NSR, RG_FLEET_NSC, RG_FLEET_PID. Agents are killed at exit.
declare -ga RG_FLEET_DIR=() RG_FLEET_PIN=() RG_FLEET_NSR=() RG_FLEET_NSC=() RG_FLEET_PID=()
rg_fleet_relays() {
	local p=$1 n=$2 i
	for ((i = 1; i <= n; i++)); do
		RG_FLEET_NSR[$i]=$p-r$i RG_FLEET_NSC[$i]=$p-c$i
		rg_ns_add "${RG_FLEET_NSR[$i]}" "${RG_FLEET_NSC[$i]}" || return 1
		rg_veth "${RG_FLEET_NSR[$i]}" r1 "${RG_FLEET_NSC[$i]}" e0 || return 1
		ip -n "${RG_FLEET_NSR[$i]}" addr add 192.0.2.1/24 dev r1
		ip -n "${RG_FLEET_NSC[$i]}" addr add 192.0.2.10/24 dev e0
		rg_agent_fixture "${RG_FLEET_NSR[$i]}" "$p$i" || return 1
		RG_FLEET_DIR[$i]=$RG_DIR RG_FLEET_PIN[$i]=$RG_PIN
		# Only a pid that is set: kill(0) would be the suite's whole process group.
		rg_on_exit "[ -z \"\${RG_FLEET_PID[$i]:-}\" ] || kill -KILL \${RG_FLEET_PID[$i]} 2>/dev/null"
	done
}

# rg_fleet_use I: relay I becomes the fixture's current agent (RG_DIR, RG_PIN, RG_NS,
# RG_AGENT_PID), for rg_agent_conf and the rest.
rg_fleet_use() {
	RG_DIR=${RG_FLEET_DIR[$1]} RG_PIN=${RG_FLEET_PIN[$1]} RG_NS=${RG_FLEET_NSR[$1]}
	RG_AGENT_PID=${RG_FLEET_PID[$1]:-}
}

# rg_fleet_start I: rg_agent_start for relay I (its log's tail as TAP comments on failure).
rg_fleet_start() {
	rg_fleet_use "$1"
	if rg_agent_start; then
		RG_FLEET_PID[$1]=$RG_AGENT_PID
		return 0
	fi
	sed 's/^/#   /' "$RG_DIR/agent.log" | tail -20
	return 1
}

# rg_fleet_stop I [SIGNAL]: rg_agent_stop for relay I.
rg_fleet_stop() {
	rg_fleet_use "$1"
	rg_agent_stop "${2:-TERM}"
	RG_FLEET_PID[$1]=
}

# rg_fleet_req I CLIENT SENDER INSTANCE: one policy request (RCPT) to relay I; prints the
# action.
rg_fleet_req() {
	printf 'request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=%s\nsender=%s\ninstance=%s\nrecipient=r@dest.example\n\n' \
		"$2" "$3" "$4" | socat -t 3 - "UNIX-CONNECT:${RG_FLEET_DIR[$1]}/policy.sock" |
		sed -n 's/^action=//p'
}

# rg_fleet_metric I NAME: metric NAME of relay I (its metrics_listen 127.0.0.1:9433).
rg_fleet_metric() {
	rg_ns_exec "${RG_FLEET_NSR[$1]}" curl -s http://127.0.0.1:9433/metrics |
		awk -v m="$2" '$1 == m {print $2}'
}

# rg_fleet_ctl I ARGS...: relayguardctl against relay I.
rg_fleet_ctl() {
	local i=$1
	shift
	"$RG_CTL" -c "${RG_FLEET_DIR[$i]}/rg.conf" "$@"
}

# rg_fleet_tenant_state I TENANT: the tenant's state on relay I (ok, restricted...).
rg_fleet_tenant_state() {
	rg_fleet_ctl "$1" tenants --json | jq -r ".tenants[] | select(.name==\"$2\") | .state"
}

# rg_fleet_linked I: is relay I's Redis link up (relayguard_fleet_link_up 1)?
rg_fleet_linked() { [ "$(rg_fleet_metric "$1" relayguard_fleet_link_up)" = 1 ]; }
