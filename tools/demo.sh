#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# demo.sh: `make demo`, the README's first command. Starts the relay lab (tools/lab.sh: a real
# Postfix relay, an smtp-sink upstream and tenant hosts, in network namespaces with no default
# route) with relayguardd, and tells the story a relay operator cares about, one step a screen,
# with the real figures: tenant A's mail flows; compromised tenant B gets its budget of
# unregistered mail, then 550 5.7.750, while its registered mail still flows; B's flooding
# host is blocked in the kernel and its SYNs dropped at XDP; an operator unblock restores B.
# Each step checks what it claims. Takes BUILD (the binaries, built by make) and LAB_PREFIX
# (default rgdemo-). Tears everything down at the end; exits non-zero if any claim failed.
set -u
: "${BUILD:=build}"
export BUILD
export LAB_PREFIX=${LAB_PREFIX:-rgdemo-}
export LAB_UNREGISTERED_LIMIT=${DEMO_LIMIT:-5} LAB_FLOOD_LIMIT=${DEMO_FLOOD_LIMIT:-10}
export LAB_FLOOD_BLOCK_TIME=10m LAB_CONNECTION_RATE_LIMIT=600/1m LAB_MODE=enforce
. "$(dirname "$0")/lab.sh"
. "$(dirname "$0")/demo-lib.sh"

LIM=$LAB_UNREGISTERED_LIMIT
FL=$LAB_FLOOD_LIMIT
TB=$LAB_TENANT_B4
SEEN="550 5.7.750 <rcpt@dest.example>: Recipient address rejected: Service unavailable. Client blocked from sending from unregistered domains"
T=

run() { # show a command (as an operator would type it), then run it, indented
	if [ "$1" = lab_ctl ]; then
		say "  \$ relayguardctl -c $LAB_CONF ${*:2}"
	else
		say "  \$ $*"
	fi
	"$@" 2>&1 | sed 's/^/    /'
}
seen() { grep -cxF "smtp-source: warning: recipient rejected: $SEEN" "$T/$1"; }
any_rej() { grep -c 'rejected' "$T/$1"; }
connects() { lab_flood "$1" -n "$2" -T 20 | awk '{ print $4 }'; }

finish() {
	local rc=$?
	trap - EXIT INT TERM
	step "Teardown"
	lab_down
	[ -n "$T" ] && rm -rf "$T"
	demo_end demo $rc "$LAB_PREFIX" "lab namespaces, pins and directory removed" LAB_KEEP=1
}

if [ "$(id -u)" -ne 0 ]; then
	say "demo: the lab builds network namespaces and attaches XDP: run as root." >&2
	exit 1
fi
for b in "$LAB_RELAYGUARDD" "$LAB_RELAYGUARDCTL"; do
	if [ ! -x "$b" ]; then
		say "demo: $b is missing: run 'make demo' (it builds first)." >&2
		exit 1
	fi
done
for c in postfix smtp-source smtp-sink bpftool jq curl; do
	command -v "$c" >/dev/null || { say "demo: $c is not installed (tools/deps.sh)." >&2; exit 1; }
done

T=$(mktemp -d /tmp/rgdemo.XXXXXX)
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step "The lab"
say "  A Postfix relay (namespace ${LAB_PREFIX}relay) relays for two tenants to an upstream"
say "  (smtp-sink, standing in for the internet). relayguardd answers Postfix's policy"
say "  checks and has XDP on the relay's tenant-facing interface $LAB_IFACE."
say "    tenant-a  $LAB_TENANT_A4 $LAB_TENANT_A6  accepted domains contoso.example, *.contoso.example, fabrikam.example"
say "    tenant-b  $LAB_TENANT_B4 (and tenant-b2 $LAB_TENANT_B2_4)  accepted domain northwind.example"
say "  Limits (small for the demo): unregistered_limit $LIM per hour, flood_limit $FL per minute."
if ! lab_up --guard >"$T/up.log" 2>&1; then
	sed 's/^/    /' "$T/up.log"
	say "  [FAIL] the lab did not come up"
	FAILED=$((FAILED + 1))
	exit 1
fi
run lab_ctl status

step "1. Tenant A's mail flows"
lab_send tenant-a -m 10 -s 2 -f alice@contoso.example >"$T/a4" 2>&1
lab_send tenant-a -6 -m 5 -f carol@fabrikam.example >"$T/a6" 2>&1
lab_settle 30
say "  tenant-a sent 10 messages over IPv4 (contoso.example) and 5 over IPv6 (fabrikam.example)."
say "  upstream received: contoso.example $(lab_delivered_count contoso.example)," \
	"fabrikam.example $(lab_delivered_count fabrikam.example)"
claim "all 15 of tenant A's messages delivered" \
	eq 15 "$(($(lab_delivered_count contoso.example) + $(lab_delivered_count fabrikam.example)))"
claim "none rejected" eq "0 0" "$(any_rej a4) $(any_rej a6)"

step "2. Tenant B is compromised: unregistered domains, first within the budget"
N=$((LIM + 3))
lab_send tenant-b -m $N -s 1 -f offers@cheap-pills.example >"$T/b1" 2>&1
lab_settle 30
say "  tenant-b sent $N messages from cheap-pills.example, a domain it never registered."
say "  upstream received $(lab_delivered_count cheap-pills.example); the client saw $(seen b1) refusals:"
grep -m1 -F "$SEEN" "$T/b1" | sed 's/^/    /'
say "  the relay's log:"
grep -m1 -F "NOQUEUE: reject: RCPT from unknown[$TB]" "$LAB_MAILLOG" | sed 's/^.*NOQUEUE/    NOQUEUE/'
claim "the first $LIM (unregistered_limit) delivered" eq "$LIM" \
	"$(lab_delivered_count cheap-pills.example)"
claim "the next 3 refused with 550 5.7.750" eq 3 "$(seen b1)"
lab_send tenant-b -m 3 -f bob@northwind.example >"$T/b2" 2>&1
lab_settle 30
say
say "  tenant-b's own domain northwind.example: 3 sent, $(lab_delivered_count northwind.example) delivered."
claim "tenant B's registered mail still flows" eq "3 0" \
	"$(lab_delivered_count northwind.example) $(any_rej b2)"
run lab_ctl tenants
claim "tenant-b is restricted (reason: limit)" eq "restricted limit" \
	"$(lab_tenant tenant-b state) $(lab_tenant tenant-b reason)"

step "3. B's host keeps trying: blocked in the kernel"
# B's host has 3 refusals this minute; more than flood_limit of them blocks it.
lab_send tenant-b -m $((FL + 1 - 3)) -s 1 -f offers@cheap-pills.example >"$T/b3" 2>&1
say "  tenant-b ($TB) sent $((FL + 1 - 3)) more: $(seen b3) refused; that makes $((FL + 1)) refusals in a"
say "  minute, more than flood_limit $FL: relayguardd writes a block verdict into the pinned map."
say "  \$ bpftool map dump pinned $LAB_PIN_DIR/verdict_hosts"
bpftool -j map dump pinned "$LAB_PIN_DIR/verdict_hosts" |
	jq -r '.[] | .formatted | "    key " + (.key.addr[12:16] | map(tostring) | join(".")) +
		"  action \(.value.action) (1 = block)  origin \(.value.origin) (1 = flood)" +
		"  expires_ns \(.value.expires_ns)"'
claim "B's host is blocked in the kernel map" eq "1 1" "$(lab_verdict 198 51 100 10)"
d0=$(lab_stat drop_block)
res=$(lab_flood tenant-b -n 5 -T 20)
d1=$(lab_stat drop_block)
say
say "  tenant-b opens 5 new SMTP connections: $res"
say "  XDP drop_block counter (bpftool map dump pinned $LAB_PIN_DIR/stats): $d0 -> $d1"
claim "all 5 connections time out (SYNs dropped at XDP)" eq 0 "$(echo "$res" | awk '{ print $4 }')"
claim "drop_block rose by at least 5" ge $((d0 + 5)) "$d1"
run lab_ctl hosts
run lab_ctl status
lab_send tenant-a -m 5 -s 2 -f alice@contoso.example >"$T/a5" 2>&1
lab_settle 30
say "  meanwhile tenant-a sent 5 more: upstream now has $(lab_delivered_count contoso.example) from contoso.example."
claim "tenant A unaffected" eq "15 0" "$(lab_delivered_count contoso.example) $(any_rej a5)"
claim "tenant B's other host ($LAB_TENANT_B2_4) still connects" eq 2 "$(connects tenant-b2 2)"

step "4. The operator cleans up B's server and lifts the block"
run lab_ctl unblock tenant tenant-b
run lab_ctl unblock host "$TB"
claim "tenant-b is ok again with a fresh budget" eq "ok 0" \
	"$(lab_tenant tenant-b state) $(lab_tenant tenant-b unregistered)"
claim "B's host verdict is gone from the kernel map" eq "" "$(lab_verdict 198 51 100 10)"
claim "B's host connects again" eq 3 "$(connects tenant-b 3)"
before=$(lab_delivered_count cheap-pills.example)
lab_send tenant-b -m 2 -f offers@cheap-pills.example >"$T/b4" 2>&1
lab_send tenant-b -m 2 -f bob@northwind.example >"$T/b5" 2>&1
lab_settle 30
say "  tenant-b sends 2 unregistered and 2 registered messages: upstream received" \
	"$(($(lab_delivered_count cheap-pills.example) - before)) and" \
	"$(($(lab_delivered_count northwind.example) - 3))."
claim "B's mail flows again" eq "2 2 0" \
	"$(($(lab_delivered_count cheap-pills.example) - before)) $(($(lab_delivered_count northwind.example) - 3)) $(any_rej b4)"
say
say "  Upstream received, by sender domain:"
lab_delivered | sed 's/^/    /'
