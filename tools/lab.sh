#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# lab.sh: the relay lab. Network namespaces with a real Postfix relay, an smtp-sink standing
# in for the internet, and tenant hosts sending with smtp-source; optionally relayguardd (or
# a trivial policy stub) wired into Postfix. Run as a command (lab.sh help) or source it and
# call the lab_* functions (tests, demo, benchmarks). Takes LAB_PREFIX (namespace, directory
# and pin-dir prefix, default rglab-), LAB_DIR, BUILD, LAB_RELAYGUARDD, LAB_RELAYGUARDCTL and
# the LAB_* limit overrides below; reports on stdout, diagnostics on stderr, and returns 77
# from lab_up when the kernel lacks namespaces, veth or bridges.
#
#   tenant-a  192.0.2.10  2001:db8:a::10 --+
#   tenant-b  198.51.100.10  2001:db8:b::10 +-- sw: br0 --- lan0 relay wan0 --- upstream
#   tenant-b2 198.51.100.11  2001:db8:b::11 +          192.0.2.1      203.0.113.1  203.0.113.25
#                                                      198.51.100.1                smtp-sink
#                                                      2001:db8:a::1, 2001:db8:b::1
#
# Only on-link routes exist: no namespace has a default route, so nothing can leave the lab.

# ---- settings --------------------------------------------------------------------------

LAB_PREFIX=${LAB_PREFIX:-rglab-}
LAB_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB_ROOT=$(cd "$LAB_SRC/.." && pwd)
LAB_TEMPLATES=$LAB_SRC/lab
: "${BUILD:=build}"
case "$BUILD" in /*) LAB_BUILD=$BUILD ;; *) LAB_BUILD=$LAB_ROOT/$BUILD ;; esac
LAB_DIR=${LAB_DIR:-/tmp/${LAB_PREFIX}lab}
LAB_PIN_DIR=${LAB_PIN_DIR:-/sys/fs/bpf/${LAB_PREFIX%-}}
LAB_RELAYGUARDD=${LAB_RELAYGUARDD:-$LAB_BUILD/relayguardd}
LAB_RELAYGUARDCTL=${LAB_RELAYGUARDCTL:-$LAB_BUILD/relayguardctl}
# Limits written into the lab's relayguard.conf (small, so the demo reaches them quickly).
LAB_UNREGISTERED_LIMIT=${LAB_UNREGISTERED_LIMIT:-5}
LAB_FLOOD_LIMIT=${LAB_FLOOD_LIMIT:-10}
LAB_FLOOD_BLOCK_TIME=${LAB_FLOOD_BLOCK_TIME:-2m}
LAB_CONNECTION_RATE_LIMIT=${LAB_CONNECTION_RATE_LIMIT:-120/1m}
LAB_MODE=${LAB_MODE:-enforce}
LAB_ATTACH_MODE=${LAB_ATTACH_MODE:-auto}
LAB_CHROOT=${LAB_CHROOT:-y}
LAB_PROCESS_LIMIT=${LAB_PROCESS_LIMIT:-100}
LAB_SEND_TIMEOUT=${LAB_SEND_TIMEOUT:-120}	# seconds one lab_send may take (drops hang it)
# LAB_AUTH=1: the relay offers STARTTLS and asks for client certificates (a lab CA signs the
# relay's and one per tenant: lab_tls_dir), and SASL through Dovecot's auth service with the
# logins of LAB_SASL_USERS, all of password LAB_SASL_PASSWORD.
LAB_AUTH=${LAB_AUTH:-0}
LAB_SASL_USERS=${LAB_SASL_USERS:-"scanner01 alice@contoso.example bob@northwind.example carol@northwind.example"}
LAB_SASL_PASSWORD=${LAB_SASL_PASSWORD:-lab-secret}
LAB_CERT_NODES="tenant-a tenant-b"	# a client certificate each: CN gw.<its sender domain>
# The system's python: helpers need nothing else, and a version manager's shim in PATH
# would sit between lab.sh and the pid it records.
if [ -z "${LAB_PYTHON:-}" ]; then
	if [ -x /usr/bin/python3 ]; then LAB_PYTHON=/usr/bin/python3; else LAB_PYTHON=python3; fi
fi

LAB_NODES="sw relay upstream tenant-a tenant-b tenant-b2"
LAB_IFACE=lan0			# the relay's tenant-facing interface: relayguardd's XDP goes here
LAB_WAN_IFACE=wan0
LAB_RELAY_A4=192.0.2.1
LAB_RELAY_A6=2001:db8:a::1
LAB_RELAY_B4=198.51.100.1
LAB_RELAY_B6=2001:db8:b::1
LAB_RELAY_UP4=203.0.113.1
LAB_UPSTREAM4=203.0.113.25
LAB_TENANT_A4=192.0.2.10
LAB_TENANT_A6=2001:db8:a::10
LAB_TENANT_B4=198.51.100.10
LAB_TENANT_B6=2001:db8:b::10
LAB_TENANT_B2_4=198.51.100.11
LAB_TENANT_B2_6=2001:db8:b::11

# Derived paths (recomputed by _lab_paths when LAB_DIR changes).
_lab_paths() {
	LAB_PF_CONFIG=$LAB_DIR/postfix
	LAB_PF_QUEUE=$LAB_DIR/spool
	LAB_PF_DATA=$LAB_DIR/data
	LAB_MAILLOG=$LAB_DIR/maillog
	LAB_SINK_DIR=$LAB_DIR/upstream
	LAB_CONF=$LAB_DIR/relayguard.conf
	LAB_STATE_DIR=$LAB_DIR/state
	LAB_RUN_DIR=$LAB_DIR/run
	LAB_POLICY_SOCKET=$LAB_PF_QUEUE/private/relayguard
	LAB_CONTROL_SOCKET=$LAB_RUN_DIR/control.sock
	LAB_GUARD_LOG=$LAB_DIR/relayguardd.log
	LAB_STUB_LOG=$LAB_DIR/stub-requests.log
}
_lab_paths

_lab_log() { echo "lab: $*" >&2; }

# lab_select PREFIX: switch this shell to the lab of another prefix (its namespaces, LAB_DIR
# and pin dir), e.g. to run two labs side by side from one script.
lab_select() {
	LAB_PREFIX=$1
	LAB_DIR=/tmp/${LAB_PREFIX}lab
	LAB_PIN_DIR=/sys/fs/bpf/${LAB_PREFIX%-}
	_lab_paths
	_lab_load_env
	_lab_check_prefix
}

# The guard mode of a running lab, for commands run after `lab.sh up` returned.
_lab_load_env() {
	LAB_GUARD=none
	[ -f "$LAB_DIR/lab.env" ] || return 0
	LAB_GUARD=$(sed -n 's/^LAB_GUARD=\([a-z]*\)$/\1/p' "$LAB_DIR/lab.env")
	: "${LAB_GUARD:=none}"
}

_lab_check_prefix() {
	# Names go into namespace names, paths and the pin dir: keep them plain and short.
	if ! [[ "$LAB_PREFIX" =~ ^[a-z][a-z0-9-]{0,15}$ ]]; then
		_lab_log "LAB_PREFIX must match [a-z][a-z0-9-]{0,15}: '$LAB_PREFIX'"
		return 1
	fi
}

# ---- names and addresses ---------------------------------------------------------------

lab_ns() { echo "${LAB_PREFIX}$1"; }

# lab_addr NODE [4|6]: a node's own address.
lab_addr() {
	local fam=${2:-4}
	case "$1/$fam" in
	relay/4) echo "$LAB_RELAY_A4" ;;
	relay/6) echo "$LAB_RELAY_A6" ;;
	upstream/4) echo "$LAB_UPSTREAM4" ;;
	tenant-a/4) echo "$LAB_TENANT_A4" ;;
	tenant-a/6) echo "$LAB_TENANT_A6" ;;
	tenant-b/4) echo "$LAB_TENANT_B4" ;;
	tenant-b/6) echo "$LAB_TENANT_B6" ;;
	tenant-b2/4) echo "$LAB_TENANT_B2_4" ;;
	tenant-b2/6) echo "$LAB_TENANT_B2_6" ;;
	*) _lab_log "no IPv$fam address for node '$1'"; return 1 ;;
	esac
}

# lab_relay_addr NODE [4|6]: the relay's address on NODE's subnet (where NODE sends mail).
lab_relay_addr() {
	local fam=${2:-4}
	case "$1/$fam" in
	tenant-a/4) echo "$LAB_RELAY_A4" ;;
	tenant-a/6) echo "$LAB_RELAY_A6" ;;
	tenant-b/4 | tenant-b2/4) echo "$LAB_RELAY_B4" ;;
	tenant-b/6 | tenant-b2/6) echo "$LAB_RELAY_B6" ;;
	*) _lab_log "node '$1' does not send to the relay over IPv$fam"; return 1 ;;
	esac
}

# Default envelope sender of each tenant node: a domain its tenant has registered.
_lab_default_sender() {
	case "$1" in
	tenant-a) echo "alice@contoso.example" ;;
	tenant-b | tenant-b2) echo "bob@northwind.example" ;;
	*) echo "lab@lab.example" ;;
	esac
}

_lab_is_node() {
	local n
	for n in $LAB_NODES; do [ "$n" = "$1" ] && return 0; done
	_lab_log "unknown node '$1' (nodes: $LAB_NODES)"
	return 1
}

# ---- running things in the lab ---------------------------------------------------------

# lab_exec NODE CMD...: run a command in a node's namespace.
lab_exec() {
	_lab_is_node "$1" || return 2
	local ns
	ns=$(lab_ns "$1")
	shift
	ip netns exec "$ns" "$@"
}

# lab_nsenter NODE CMD...: same, but only the network namespace is entered, so the command
# sees the real /sys/fs/bpf (ip netns exec remounts /sys and pins made there vanish).
lab_nsenter() {
	_lab_is_node "$1" || return 2
	local ns
	ns=$(lab_ns "$1")
	shift
	nsenter --net="/run/netns/$ns" "$@"
}

# lab_send NODE [-6] [smtp-source options]: send mail from NODE to the relay with
# smtp-source. Defaults: one message, sender from NODE's registered domain, recipient
# rcpt@dest.example; later options override them (-m N, -s N, -f FROM, -t TO, -l LEN).
# -A is on: a rejected message does not abort the run (count what arrived upstream).
lab_send() {
	local node=$1 fam=4 target
	shift
	_lab_is_node "$node" || return 2
	if [ "${1:-}" = "-6" ]; then
		fam=6
		shift
	elif [ "${1:-}" = "-4" ]; then
		shift
	fi
	target=$(lab_relay_addr "$node" "$fam") || return 2
	[ "$fam" = 6 ] && target="[$target]"
	lab_exec "$node" timeout --kill-after=5 "$LAB_SEND_TIMEOUT" smtp-source -A \
		-M "$node.lab.example" -f "$(_lab_default_sender "$node")" -t rcpt@dest.example \
		"$@" "$target:25"
}

# lab_send_domains NODE [-6] COUNT DOMAIN...: COUNT messages from each DOMAIN (sender
# user@DOMAIN), one smtp-source run per domain, 4 sessions in parallel.
lab_send_domains() {
	local node=$1 famopt=() count d rc=0
	shift
	if [ "${1:-}" = "-6" ]; then
		famopt=(-6)
		shift
	fi
	count=$1
	shift
	for d in "$@"; do
		lab_send "$node" "${famopt[@]}" -m "$count" -s 4 -f "user@$d" || rc=$?
	done
	return $rc
}

# lab_flood NODE [-6] [connflood.py options: -n COUNT -T SECONDS -q]: a bounded loop of new
# SMTP connections from NODE to the relay. Prints connflood.py's one-line summary.
lab_flood() {
	local node=$1 fam=4 target
	shift
	_lab_is_node "$node" || return 2
	if [ "${1:-}" = "-6" ]; then
		fam=6
		shift
	fi
	target=$(lab_relay_addr "$node" "$fam") || return 2
	lab_exec "$node" "$LAB_PYTHON" "$LAB_TEMPLATES/connflood.py" "$target" 25 "$@"
}

# ---- what the upstream received ---------------------------------------------------------

# lab_delivered: "DOMAIN COUNT" per envelope sender domain (lower case; "<>" for the null
# sender), sorted by domain, over every envelope smtp-sink captured.
lab_delivered() {
	[ -d "$LAB_SINK_DIR/msgs" ] || return 0
	find "$LAB_SINK_DIR/msgs" -type f -name 'm.*' -print0 |
		xargs -0 -r awk '
			/^X-Mail-Args: / {
				a = $2
				sub(/^[Ff][Rr][Oo][Mm]:/, "", a)
				sub(/^</, "", a); sub(/>$/, "", a)
				if (a == "") d = "<>"
				else if (a ~ /@/) { d = a; sub(/.*@/, "", d) }
				else d = "(no-domain)"
				n[tolower(d)]++
				nextfile
			}
			END { for (d in n) print d, n[d] }' | sort
}

# lab_delivered_count DOMAIN: envelopes upstream received from senders in DOMAIN.
lab_delivered_count() {
	local want
	want=$(echo "$1" | tr 'A-Z' 'a-z')
	lab_delivered | awk -v d="$want" '$1 == d { c = $2 } END { print c + 0 }'
}

lab_delivered_total() {
	lab_delivered | awk '{ t += $2 } END { print t + 0 }'
}

# lab_delivered_reset: forget what upstream received so far (between test phases).
lab_delivered_reset() {
	[ -d "$LAB_SINK_DIR/msgs" ] && find "$LAB_SINK_DIR/msgs" -type f -name 'm.*' -delete
	return 0
}

# lab_relay_sent: deliveries the relay's log reports as sent upstream (status=sent).
lab_relay_sent() {
	if [ -f "$LAB_MAILLOG" ]; then grep -c ' status=sent ' "$LAB_MAILLOG"; else echo 0; fi
}

# lab_relay_rejects [PATTERN]: smtpd's reject lines in the relay's log (matching PATTERN).
lab_relay_rejects() {
	[ -f "$LAB_MAILLOG" ] || { echo 0; return; }
	grep ' NOQUEUE: reject: ' "$LAB_MAILLOG" | grep -cF -- "${1:- reject: }"
}

# lab_queue_count: messages still in the relay's queue (not yet delivered upstream).
lab_queue_count() {
	local d n=0
	for d in maildrop incoming active deferred hold; do
		[ -d "$LAB_PF_QUEUE/$d" ] || continue
		n=$((n + $(find "$LAB_PF_QUEUE/$d" -type f | wc -l)))
	done
	echo "$n"
}

# lab_settle [TIMEOUT_S]: wait until the relay's queue is empty and its count of sent
# deliveries stopped changing. Returns 1 on timeout (default 30 s).
lab_settle() {
	local limit=$(($(date +%s) + ${1:-30})) last=-1 now stable=0
	while [ "$(date +%s)" -lt "$limit" ]; do
		now=$(lab_relay_sent)
		if [ "$(lab_queue_count)" -eq 0 ] && [ "$now" -eq "$last" ]; then
			stable=$((stable + 1))
			[ $stable -ge 2 ] && return 0
		else
			stable=0
		fi
		last=$now
		sleep 0.2
	done
	_lab_log "relay queue did not settle: $(lab_queue_count) queued, $last sent"
	return 1
}

# lab_wait_delivered N [TIMEOUT_S]: wait until upstream received at least N envelopes.
lab_wait_delivered() {
	local limit=$(($(date +%s) + ${2:-30}))
	while [ "$(date +%s)" -lt "$limit" ]; do
		[ "$(lab_delivered_total)" -ge "$1" ] && return 0
		sleep 0.2
	done
	return 1
}

# ---- checks --------------------------------------------------------------------------

# lab_default_routes: prints "NODE: ROUTE" for every default route in any lab namespace.
lab_default_routes() {
	local n ns
	for n in $LAB_NODES; do
		ns=$(lab_ns "$n")
		[ -e "/run/netns/$ns" ] || continue
		ip -n "$ns" -4 route show default | sed "s|^|$n: |"
		ip -n "$ns" -6 route show default | sed "s|^|$n: |"
	done
}

# lab_namespaces: the lab's namespaces that exist now.
lab_namespaces() {
	ip netns list | awk '{ print $1 }' | grep -E "^${LAB_PREFIX}($(echo "$LAB_NODES" | tr ' ' '|'))\$"
}

# lab_pids: "PID NETNS-INODE" of every process in the lab's namespaces.
lab_pids() {
	local ns p
	for ns in $(lab_namespaces); do
		for p in $(ip netns pids "$ns" 2>/dev/null); do
			echo "$p $(stat -L -c %i "/proc/$p/ns/net" 2>/dev/null)"
		done
	done
}

_lab_wait_listen() { # NODE ADDR PORT TIMEOUT_S
	local limit=$(($(date +%s) + $4)) pat
	case "$2" in *:*) pat="[$2]:$3" ;; *) pat="$2:$3" ;; esac
	while [ "$(date +%s)" -lt "$limit" ]; do
		lab_exec "$1" ss -Hltn | awk '{ print $4 }' | grep -qxF "$pat" && return 0
		sleep 0.1
	done
	_lab_log "$1: nothing listens on $pat after $4 s"
	return 1
}

_lab_wait_socket() { # PATH TIMEOUT_S PID
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		[ -S "$1" ] && return 0
		[ -n "${3:-}" ] && ! kill -0 "$3" 2>/dev/null && return 1
		sleep 0.1
	done
	return 1
}

# ---- bringing it up --------------------------------------------------------------------

_lab_fill() { # TEMPLATE OUT: replace every @KEY@ with the value of _LAB_SUBST[KEY]
	local k content
	content=$(<"$1") || return 1
	for k in "${!_LAB_SUBST[@]}"; do
		content=${content//@$k@/${_LAB_SUBST[$k]}}
	done
	if [[ "$content" =~ @[A-Z_]+@ ]]; then
		_lab_log "$1: unfilled placeholder ${BASH_REMATCH[0]}"
		return 1
	fi
	printf '%s\n' "$content" >"$2"
}

_lab_netns() {
	local n ns
	for n in $LAB_NODES; do
		ns=$(lab_ns "$n")
		ip netns add "$ns" || return 77
		ip -n "$ns" link set lo up || return 1
		# No router advertisements can add a default route, and nothing forwards.
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_ra=0 \
			net.ipv6.conf.default.accept_ra=0 net.ipv4.ip_forward=0 || return 1
	done
	ip netns exec "$(lab_ns sw)" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1 || return 1
}

# _lab_veth NODE IFACE SWPORT: a veth from NODE to the switch's bridge, created inside the
# namespaces (never in the root namespace, where parallel labs would clash on names).
_lab_veth_sw() {
	local sw
	sw=$(lab_ns sw)
	ip -n "$(lab_ns "$1")" link add "$2" type veth peer name "$3" netns "$sw" || return 77
	ip -n "$sw" link set "$3" master br0 up || return 1
	ip -n "$(lab_ns "$1")" link set "$2" up
}

_lab_addr() { # NODE IFACE ADDR/LEN
	case "$3" in
	*:*) ip -n "$(lab_ns "$1")" addr add "$3" dev "$2" nodad ;;
	*) ip -n "$(lab_ns "$1")" addr add "$3" dev "$2" ;;
	esac
}

_lab_topology() {
	local sw
	sw=$(lab_ns sw)
	ip -n "$sw" link add br0 type bridge stp_state 0 forward_delay 0 || return 77
	ip -n "$sw" link set br0 up || return 1
	_lab_veth_sw relay "$LAB_IFACE" p-relay || return $?
	_lab_veth_sw tenant-a lab0 p-ta || return $?
	_lab_veth_sw tenant-b lab0 p-tb || return $?
	_lab_veth_sw tenant-b2 lab0 p-tb2 || return $?
	ip -n "$(lab_ns relay)" link add "$LAB_WAN_IFACE" type veth peer name lab0 \
		netns "$(lab_ns upstream)" || return 77
	ip -n "$(lab_ns relay)" link set "$LAB_WAN_IFACE" up || return 1
	ip -n "$(lab_ns upstream)" link set lab0 up || return 1

	_lab_addr relay "$LAB_IFACE" "$LAB_RELAY_A4/24" &&
		_lab_addr relay "$LAB_IFACE" "$LAB_RELAY_B4/24" &&
		_lab_addr relay "$LAB_IFACE" "$LAB_RELAY_A6/64" &&
		_lab_addr relay "$LAB_IFACE" "$LAB_RELAY_B6/64" &&
		_lab_addr relay "$LAB_WAN_IFACE" "$LAB_RELAY_UP4/24" &&
		_lab_addr upstream lab0 "$LAB_UPSTREAM4/24" &&
		_lab_addr tenant-a lab0 "$LAB_TENANT_A4/24" &&
		_lab_addr tenant-a lab0 "$LAB_TENANT_A6/64" &&
		_lab_addr tenant-b lab0 "$LAB_TENANT_B4/24" &&
		_lab_addr tenant-b lab0 "$LAB_TENANT_B6/64" &&
		_lab_addr tenant-b2 lab0 "$LAB_TENANT_B2_4/24" &&
		_lab_addr tenant-b2 lab0 "$LAB_TENANT_B2_6/64"
}

_lab_upstream_start() {
	mkdir -p "$LAB_SINK_DIR/msgs" || return 1
	chown postfix "$LAB_SINK_DIR/msgs" || return 1
	# One capture file per envelope (-d): concurrent deliveries never interleave.
	# LAB_SINK_CAPTURE=0 (benchmarks) captures nothing: count with lab_relay_sent instead.
	local capture=(-d "$LAB_SINK_DIR/msgs/m.")
	[ "${LAB_SINK_CAPTURE:-1}" = 0 ] && capture=()
	(exec ip netns exec "$(lab_ns upstream)" smtp-sink -u postfix -h upstream.lab.example \
		-m 256 "${capture[@]}" "$LAB_UPSTREAM4:25" 256 \
		>"$LAB_SINK_DIR/smtp-sink.log" 2>&1 </dev/null) &
	echo $! >"$LAB_DIR/smtp-sink.pid"
	_lab_wait_listen upstream "$LAB_UPSTREAM4" 25 10
}

# ---- TLS and SASL (LAB_AUTH=1) ----------------------------------------------------------

# lab_tls_dir: the lab CA (ca.crt), the relay's certificate and one per LAB_CERT_NODES node
# (NODE.crt, NODE.key).
lab_tls_dir() { echo "$LAB_DIR/tls"; }

# lab_cert_subject NODE: the CommonName of NODE's certificate (what Postfix sends as
# ccert_subject).
lab_cert_subject() {
	local s
	case "$1" in
	relay) echo relay.lab.example ;;
	*)
		s=$(_lab_default_sender "$1")
		echo "gw.${s#*@}"
		;;
	esac
}

# lab_cert_fingerprint NODE [pubkey]: the SHA-256 fingerprint of NODE's certificate (or of
# its public key), as Postfix's ccert_fingerprint (ccert_pubkey_fingerprint) gives it with
# smtpd_tls_fingerprint_digest = sha256: upper-case hex bytes joined by colons.
lab_cert_fingerprint() {
	local crt
	crt=$(lab_tls_dir)/$1.crt
	if [ "${2:-}" = pubkey ]; then
		openssl x509 -in "$crt" -noout -pubkey | openssl pkey -pubin -outform DER |
			openssl dgst -sha256 -c | awk '{ print toupper($NF) }'
	else
		openssl x509 -in "$crt" -noout -fingerprint -sha256 | sed 's/.*=//'
	fi
}

# A throwaway CA signing the relay's certificate and each tenant node's client certificate
# (EC P-256: quick to make). Valid two days: a lab lasts minutes.
_lab_tls_setup() {
	local d n log=$LAB_DIR/tls-setup.log
	d=$(lab_tls_dir)
	mkdir -p "$d" || return 1
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-subj "/CN=relayguard lab CA" -keyout "$d/ca.key" -out "$d/ca.crt" >>"$log" 2>&1 ||
		return 1
	for n in relay $LAB_CERT_NODES; do
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
			-subj "/CN=$(lab_cert_subject "$n")" -keyout "$d/$n.key" -out "$d/$n.csr" \
			>>"$log" 2>&1 &&
			openssl x509 -req -in "$d/$n.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" \
				-CAcreateserial -days 2 -out "$d/$n.crt" >>"$log" 2>&1 || return 1
	done
	chmod 644 "$d"/*.crt
}

# The main.cf lines of LAB_AUTH=1. The CA file is read before smtpd enters its chroot; the
# SASL socket is named relative to the queue directory, as the policy socket is.
_lab_auth_settings() {
	local d
	d=$(lab_tls_dir)
	cat <<-EOF
		smtpd_tls_cert_file = $d/relay.crt
		smtpd_tls_key_file = $d/relay.key
		smtpd_tls_CAfile = $d/ca.crt
		smtpd_tls_security_level = may
		smtpd_tls_ask_ccert = yes
		smtpd_tls_fingerprint_digest = sha256
		smtpd_tls_loglevel = 1
		smtpd_sasl_auth_enable = yes
		smtpd_sasl_type = dovecot
		smtpd_sasl_path = private/auth
		smtpd_sasl_security_options = noanonymous
	EOF
}

# Dovecot's auth service alone (tools/lab/dovecot.conf.in), in the relay namespace, its
# client socket in Postfix's private/ directory. Its processes end with the lab's.
_lab_sasl_start() {
	local d=$LAB_DIR/dovecot u
	mkdir -p "$d/run" "$d/state" || return 1
	for u in $LAB_SASL_USERS; do
		echo "$u:{PLAIN}$LAB_SASL_PASSWORD"
	done >"$d/passwd" || return 1
	chown dovecot "$d/passwd" && chmod 600 "$d/passwd" || return 1
	declare -gA _LAB_SUBST=(
		[INSTANCE]="${LAB_PREFIX}dovecot" [LAB_DIR]=$LAB_DIR [QUEUE_DIR]=$LAB_PF_QUEUE
	)
	_lab_fill "$LAB_TEMPLATES/dovecot.conf.in" "$d/dovecot.conf" || return 1
	lab_exec relay dovecot -c "$d/dovecot.conf" >>"$LAB_DIR/postfix-setup.log" 2>&1 ||
		return 1
	if ! _lab_wait_socket "$LAB_PF_QUEUE/private/auth" 10; then
		_lab_log "dovecot did not create $LAB_PF_QUEUE/private/auth"
		tail -20 "$d/dovecot.log" >&2 2>/dev/null
		return 1
	fi
}

# lab_swaks NODE [swaks options]: one message from NODE to the relay with swaks (Debian
# package swaks), for what smtp-source cannot do: STARTTLS with a client certificate
# (--tls --tls-cert F --tls-key F) and SASL (--auth PLAIN --auth-user U --auth-password P).
# Defaults: sender from NODE's registered domain, recipient rcpt@dest.example; later
# options override them. Prints the session; exits with swaks' status.
lab_swaks() {
	local node=$1 target
	shift
	_lab_is_node "$node" || return 2
	target=$(lab_relay_addr "$node" 4) || return 2
	lab_exec "$node" timeout --kill-after=5 "$LAB_SEND_TIMEOUT" swaks --server "$target" \
		--port 25 --helo "$node.lab.example" --from "$(_lab_default_sender "$node")" \
		--to rcpt@dest.example --timeout 20 "$@"
}

_lab_postfix_config() {
	local policy="" auth=""
	[ "$LAB_GUARD" != none ] &&
		policy="check_policy_service { unix:private/relayguard, timeout=10s, default_action=DUNNO }, "
	if [ "$LAB_AUTH" = 1 ]; then
		_lab_tls_setup || return 1
		auth=$(_lab_auth_settings)
	fi
	declare -gA _LAB_SUBST=(
		[CONFIG_DIR]=$LAB_PF_CONFIG [QUEUE_DIR]=$LAB_PF_QUEUE [DATA_DIR]=$LAB_PF_DATA
		[MAILLOG]=$LAB_MAILLOG [SYSLOG_NAME]="postfix-${LAB_PREFIX%-}"
		[INET_INTERFACES]="$LAB_RELAY_A4, $LAB_RELAY_B4, [$LAB_RELAY_A6], [$LAB_RELAY_B6]"
		[MYNETWORKS]="192.0.2.0/24, 198.51.100.0/24, [2001:db8:a::]/64, [2001:db8:b::]/64"
		[RELAYHOST]="[$LAB_UPSTREAM4]:25" [POLICY_CHECK]=$policy
		[PROCESS_LIMIT]=$LAB_PROCESS_LIMIT [CHROOT]=$LAB_CHROOT [LAB_DIR]=$LAB_DIR
		[AUTH_SETTINGS]=$auth
	)
	mkdir -p "$LAB_PF_CONFIG" "$LAB_PF_QUEUE" "$LAB_PF_DATA" || return 1
	_lab_fill "$LAB_TEMPLATES/main.cf.in" "$LAB_PF_CONFIG/main.cf" || return 1
	_lab_fill "$LAB_TEMPLATES/master.cf.in" "$LAB_PF_CONFIG/master.cf" || return 1
	chown postfix "$LAB_PF_DATA" && chmod 700 "$LAB_PF_DATA" || return 1
	# `check` creates the missing queue subdirectories (private/ for the policy socket) with
	# Postfix's owners and modes, and touches nothing outside the lab. Not set-permissions:
	# that also resets the package's shared files (/usr/sbin/post*, /etc/postfix). In the
	# relay namespace, because Postfix checks that inet_interfaces exist (and, without
	# syslog, fails silently otherwise).
	lab_exec relay postfix -c "$LAB_PF_CONFIG" check >>"$LAB_DIR/postfix-setup.log" 2>&1
}

_lab_postfix_start() {
	lab_exec relay postfix -c "$LAB_PF_CONFIG" start >>"$LAB_DIR/postfix-setup.log" 2>&1 ||
		return 1
	_lab_wait_listen relay "$LAB_RELAY_A4" 25 15 && _lab_wait_listen relay "$LAB_RELAY_B6" 25 5
}

_lab_guard_conf() {
	declare -gA _LAB_SUBST=(
		[IFACE]=$LAB_IFACE [ATTACH_MODE]=$LAB_ATTACH_MODE [QUEUE_DIR]=$LAB_PF_QUEUE
		[CONTROL_SOCKET]=$LAB_CONTROL_SOCKET [STATE_DIR]=$LAB_STATE_DIR [PIN_DIR]=$LAB_PIN_DIR
		[MODE]=$LAB_MODE [UNREGISTERED_LIMIT]=$LAB_UNREGISTERED_LIMIT
		[FLOOD_LIMIT]=$LAB_FLOOD_LIMIT [FLOOD_BLOCK_TIME]=$LAB_FLOOD_BLOCK_TIME
		[CONNECTION_RATE_LIMIT]=$LAB_CONNECTION_RATE_LIMIT [LAB_DIR]=$LAB_DIR
	)
	mkdir -p "$LAB_STATE_DIR" "$LAB_RUN_DIR" || return 1
	cp "$LAB_TEMPLATES/tenant-a.domains" "$LAB_DIR/" || return 1
	_lab_fill "$LAB_TEMPLATES/relayguard.conf.in" "$LAB_CONF"
}

# lab_guard_start: start the policy service of the lab's guard mode (relayguardd or the
# stub) in the relay namespace and wait for its policy socket. Also used to restart it.
lab_guard_start() {
	local pid
	[ "$LAB_GUARD" = none ] && return 0
	pid=$(lab_guard_pid)
	# (A service killed a moment ago may linger as a zombie until its parent waits: not running.)
	if [ -n "$pid" ] && ps -o stat= -p "$pid" 2>/dev/null | grep -q '^[^Z]'; then
		_lab_log "$LAB_GUARD already runs (pid $pid): lab_guard_stop first"
		return 1
	fi
	# A service killed with -9 leaves its socket behind: waiting for it below would return
	# at once, before the new service listens.
	rm -f "$LAB_POLICY_SOCKET" "$LAB_CONTROL_SOCKET"
	case "$LAB_GUARD" in
	stub)
		# exec, so that $! is the service's own pid (a backgrounded function is a subshell).
		(exec nsenter --net="/run/netns/$(lab_ns relay)" "$LAB_PYTHON" \
			"$LAB_TEMPLATES/policy_stub.py" "$LAB_POLICY_SOCKET" "$LAB_STUB_LOG" \
			>>"$LAB_DIR/stub.log" 2>&1 </dev/null) &
		pid=$!
		;;
	relayguardd)
		if [ ! -x "$LAB_RELAYGUARDD" ]; then
			_lab_log "no relayguardd at $LAB_RELAYGUARDD (make it, or up --no-guard)"
			return 1
		fi
		mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf || return 1
		# Refuse early, with the agent's own FILE:LINE reasons, a config it rejects.
		if ! "$LAB_RELAYGUARDD" -t -c "$LAB_CONF" >>"$LAB_GUARD_LOG" 2>&1; then
			_lab_log "relayguardd -t rejects $LAB_CONF:"
			tail -20 "$LAB_GUARD_LOG" >&2
			return 1
		fi
		(exec nsenter --net="/run/netns/$(lab_ns relay)" "$LAB_RELAYGUARDD" -f -c "$LAB_CONF" \
			>>"$LAB_GUARD_LOG" 2>&1 </dev/null) &
		pid=$!
		;;
	esac
	echo "$pid" >"$LAB_DIR/guard.pid"
	if ! _lab_wait_socket "$LAB_POLICY_SOCKET" 15 "$pid" ||
		{ [ "$LAB_GUARD" = relayguardd ] && ! _lab_wait_socket "$LAB_CONTROL_SOCKET" 5 "$pid"; }; then
		_lab_log "$LAB_GUARD did not create $LAB_POLICY_SOCKET; its log:"
		tail -20 "$LAB_GUARD_LOG" "$LAB_DIR/stub.log" 2>/dev/null >&2
		return 1
	fi
	# smtpd runs as postfix and needs write permission on the socket.
	if ! su -s /bin/sh postfix -c "test -w '$LAB_POLICY_SOCKET'" 2>/dev/null; then
		_lab_log "warning: user postfix cannot write $LAB_POLICY_SOCKET:" \
			"$(stat -c '%U:%G %a' "$LAB_POLICY_SOCKET")"
	fi
}

# lab_guard_stop: stop the policy service (SIGTERM, then SIGKILL after 5 s). Postfix keeps
# running and, with default_action=DUNNO, lets mail through meanwhile.
lab_guard_stop() {
	local pid i
	[ -f "$LAB_DIR/guard.pid" ] || return 0
	pid=$(<"$LAB_DIR/guard.pid")
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null
		for ((i = 0; i < 50; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	rm -f "$LAB_DIR/guard.pid"
}

lab_guard_pid() { [ -f "$LAB_DIR/guard.pid" ] && cat "$LAB_DIR/guard.pid"; }

# lab_ctl ARGS...: relayguardctl against the lab's agent.
lab_ctl() { "$LAB_RELAYGUARDCTL" -c "$LAB_CONF" "$@"; }

# What the lab's relayguardd reports, for the tests and the demo (they assert on these).
# lab_stat FIELD: a counter of the pinned per-CPU stats map, summed over the CPUs.
lab_stat() {
	bpftool -j map dump pinned "$LAB_PIN_DIR/stats" | jq "[.[0].formatted.values[].value.$1] | add"
}
# lab_metrics: the agent's /metrics page (scraped inside the relay's namespace).
lab_metrics() { lab_nsenter relay curl -s http://127.0.0.1:9433/metrics; }
# lab_metric NAME: the value of the unlabelled metric NAME (0 when absent).
lab_metric() { lab_metrics | awk -v m="$1" '$1 == m { v = $2 } END { print v + 0 }'; }
# lab_tenant NAME FIELD: FIELD of tenant NAME in relayguardctl tenants --json.
lab_tenant() { lab_ctl tenants --json | jq -r ".tenants[] | select(.name==\"$1\") | .$2"; }
# lab_verdict A B C D: "action origin" of the pinned verdict of IPv4 host A.B.C.D, or "".
lab_verdict() {
	bpftool -j map dump pinned "$LAB_PIN_DIR/verdict_hosts" |
		jq -r "[.[] | .formatted | select(.key.addr[12:16]==[$1,$2,$3,$4]) | .value |
			\"\(.action) \(.origin)\"][0] // \"\""
}

# lab_stub_requests: number of policy requests the stub answered.
lab_stub_requests() {
	if [ -f "$LAB_STUB_LOG" ]; then wc -l <"$LAB_STUB_LOG"; else echo 0; fi
}

_lab_save_env() {
	cat >"$LAB_DIR/lab.env" <<-EOF
		LAB_PREFIX=$LAB_PREFIX
		LAB_GUARD=$LAB_GUARD
		LAB_PIN_DIR=$LAB_PIN_DIR
	EOF
}

# lab_up [--no-guard|--stub|--guard]: build the lab. --guard runs $BUILD/relayguardd;
# without an option it does when that binary exists, else runs without a policy check.
# On any failure it tears down what it built and returns non-zero (77: kernel lacks a
# feature). The caller owns teardown afterwards (lab_trap installs it).
lab_up() {
	local rc
	LAB_GUARD=auto
	while [ $# -gt 0 ]; do
		case "$1" in
		--no-guard) LAB_GUARD=none ;;
		--stub) LAB_GUARD=stub ;;
		--guard) LAB_GUARD=relayguardd ;;
		*) _lab_log "lab_up: unknown option '$1'"; return 2 ;;
		esac
		shift
	done
	if [ "$LAB_GUARD" = auto ]; then
		if [ -x "$LAB_RELAYGUARDD" ]; then LAB_GUARD=relayguardd; else LAB_GUARD=none; fi
		_lab_log "guard: $LAB_GUARD"
	fi
	_lab_check_prefix || return 2
	if [ "$LAB_GUARD" = relayguardd ] && [ ! -x "$LAB_RELAYGUARDD" ]; then
		_lab_log "no relayguardd at $LAB_RELAYGUARDD (make it, or up --no-guard)"
		return 1
	fi
	if [ "$(id -u)" -ne 0 ]; then
		_lab_log "the lab needs root"
		return 1
	fi
	if [ -n "$(lab_namespaces)" ] || [ -e "$LAB_DIR" ]; then
		_lab_log "leftovers of an earlier lab '$LAB_PREFIX': cleaning them up first"
		lab_down
	fi
	mkdir -p "$LAB_DIR" && chmod 755 "$LAB_DIR" || return 1
	_lab_save_env
	rc=0
	_lab_netns || rc=$?
	[ $rc -eq 0 ] && { _lab_topology || rc=$?; }
	[ $rc -eq 0 ] && { _lab_upstream_start || rc=$?; }
	[ $rc -eq 0 ] && { _lab_postfix_config || rc=$?; }
	[ $rc -eq 0 ] && [ "$LAB_AUTH" = 1 ] && { _lab_sasl_start || rc=$?; }
	[ $rc -eq 0 ] && [ "$LAB_GUARD" != none ] && { _lab_guard_conf || rc=$?; }
	[ $rc -eq 0 ] && { lab_guard_start || rc=$?; }
	[ $rc -eq 0 ] && { _lab_postfix_start || rc=$?; }
	if [ $rc -ne 0 ]; then
		_lab_log "lab_up failed ($rc)"
		[ -f "$LAB_DIR/postfix-setup.log" ] && tail -20 "$LAB_DIR/postfix-setup.log" >&2
		[ -f "$LAB_MAILLOG" ] && tail -20 "$LAB_MAILLOG" >&2
		lab_down
		return $rc
	fi
	return 0
}

# lab_down: stop everything the lab (of this LAB_PREFIX) started and remove its
# namespaces, pins and directory. Safe to run any number of times, and after a crash.
lab_down() {
	local i left
	_lab_check_prefix || return 2
	lab_guard_stop
	if [ -f "$LAB_PF_CONFIG/main.cf" ] && [ -e "/run/netns/$(lab_ns relay)" ]; then
		lab_exec relay postfix -c "$LAB_PF_CONFIG" stop >/dev/null 2>&1
	fi
	# Whatever still runs in the lab's namespaces (smtp-sink, Postfix children, stragglers
	# of a crashed run) is the lab's: end it by pid.
	for ((i = 0; i < 30; i++)); do
		left=$(lab_pids | awk '{ print $1 }')
		[ -z "$left" ] && break
		if [ $i -lt 20 ]; then
			kill -TERM $left 2>/dev/null
		else
			kill -KILL $left 2>/dev/null
		fi
		sleep 0.1
	done
	for ns in $(lab_namespaces); do
		ip netns del "$ns" 2>/dev/null || _lab_log "could not delete namespace $ns"
	done
	if [ -d "$LAB_PIN_DIR" ]; then
		rm -rf "$LAB_PIN_DIR" || _lab_log "could not remove $LAB_PIN_DIR"
	fi
	if [ -z "${LAB_KEEP:-}" ]; then
		rm -rf "$LAB_DIR"
	elif [ -d "$LAB_DIR" ]; then
		_lab_log "kept $LAB_DIR (LAB_KEEP)"
	fi
	return 0
}

# lab_trap: tear the lab down when the calling shell exits, fails or is interrupted.
lab_trap() {
	trap 'lab_down' EXIT
	trap 'trap - EXIT; lab_down; exit 130' INT
	trap 'trap - EXIT; lab_down; exit 143' TERM
}

lab_status() {
	local n
	if [ -z "$(lab_namespaces)" ]; then
		echo "lab '$LAB_PREFIX': down"
		return 1
	fi
	echo "lab '$LAB_PREFIX': up, guard ${LAB_GUARD:-?}, dir $LAB_DIR"
	for n in $LAB_NODES; do
		printf '  %-10s %s\n' "$n" "$(ip -n "$(lab_ns "$n")" -br addr show |
			awk '$1 != "lo" { $2 = ""; printf "%s ", $0 }')"
	done
	echo "  queued: $(lab_queue_count)  delivered upstream: $(lab_delivered_total)"
}

# ---- command line ------------------------------------------------------------------------

_lab_usage() {
	cat <<-EOF
		usage: lab.sh COMMAND [ARGS]   (LAB_PREFIX=$LAB_PREFIX, LAB_DIR=$LAB_DIR)
		  up [--no-guard|--stub|--guard]  build the lab and leave it running
		  run [--no-guard|--stub|--guard] build it, wait for Ctrl-C, tear it down
		  down                            tear down (also leftovers of a crashed run)
		  status                          namespaces, addresses, queue and delivered counts
		  exec NODE CMD...                run CMD in NODE's namespace
		  send NODE [-6] [smtp-source options]   mail from NODE to the relay
		  send-domains NODE [-6] COUNT DOMAIN...   COUNT messages from each sender domain
		  swaks NODE [swaks options]      one message with swaks (LAB_AUTH=1: TLS, SASL)
		  flood NODE [-6] [-n COUNT] [-T SECONDS]  bounded new-connection loop to the relay
		  delivered                       envelopes upstream received, by sender domain
		  settle [TIMEOUT]                wait until the relay's queue is empty
		  guard-start|guard-stop|guard-restart   the policy service (relayguardd or stub)
		  ctl ARGS...                     relayguardctl -c <lab config> ARGS
		  env                             shell assignments of the lab's paths and addresses
		nodes: $LAB_NODES
	EOF
}

lab_main() {
	local cmd=${1:-help}
	[ $# -gt 0 ] && shift
	case "$cmd" in
	up)
		trap 'trap - EXIT; lab_down; exit 130' INT
		trap 'trap - EXIT; lab_down; exit 143' TERM
		lab_up "$@" || return $?
		trap - INT TERM
		lab_status
		;;
	run)
		lab_trap
		lab_up "$@" || return $?
		lab_status
		echo "lab is up; Ctrl-C tears it down"
		# wait returns on a signal at once; a foreground sleep would delay the trap.
		while :; do
			sleep 3600 &
			wait $!
		done
		;;
	down) lab_down ;;
	status) lab_status ;;
	exec) lab_exec "$@" ;;
	send) lab_send "$@" ;;
	send-domains) lab_send_domains "$@" ;;
	swaks) lab_swaks "$@" ;;
	flood) lab_flood "$@" ;;
	delivered) lab_delivered ;;
	settle) lab_settle "$@" ;;
	guard-start) lab_guard_start ;;
	guard-stop) lab_guard_stop ;;
	guard-restart) lab_guard_stop && lab_guard_start ;;
	ctl) lab_ctl "$@" ;;
	env)
		local v
		for v in LAB_PREFIX LAB_DIR LAB_PIN_DIR LAB_CONF LAB_PF_CONFIG LAB_PF_QUEUE LAB_MAILLOG \
			LAB_POLICY_SOCKET LAB_CONTROL_SOCKET LAB_GUARD_LOG LAB_IFACE LAB_RELAY_A4 \
			LAB_RELAY_A6 LAB_RELAY_B4 LAB_RELAY_B6 LAB_UPSTREAM4 LAB_TENANT_A4 \
			LAB_TENANT_A6 LAB_TENANT_B4 LAB_TENANT_B6 LAB_TENANT_B2_4 LAB_TENANT_B2_6; do
			printf '%s=%q\n' "$v" "${!v}"
		done
		echo "relay namespace: $(lab_ns relay)"
		;;
	help | -h | --help) _lab_usage ;;
	*)
		_lab_usage >&2
		return 2
		;;
	esac
}

_lab_load_env

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -u
	lab_main "$@"
	exit $?
fi
