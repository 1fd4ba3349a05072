#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# ctl_ops.sh: operations that tell the truth, with a real relayguardd, its control and
# policy sockets and its pinned maps, in namespaces this suite creates (rgco-relay, rgco-c1,
# one veth pair, no default route; torn down on exit). relayguardctl reads the paths and
# interfaces it needs from a configuration with an error elsewhere and says what it
# ignored; a reload that cannot apply a change names the keys and exits 5, and status
# then shows the running values of those keys and a pending restart; a reloaded
# fail_mode reaches the policy server; unblocking a tenant lifts its flood blocks and
# keeps operator verdicts; repeats of restrict/unblock are rc 0 with "already"; --json
# prints an object for client-side errors; --for without a value; no <N> prefixes; --version;
# listings logged at debug level only.
set -u
. "$(dirname "$0")/../lib.sh"

P=rgco
RELAY=$P-relay C1=$P-c1
rg_ns_add $RELAY $C1 || exit 1
rg_agent_fixture $RELAY $P || exit 1
D=$RG_DIR PIN=$RG_PIN CTL=$RG_CTL
rg_veth $RELAY r1 $C1 e0 || exit 1
ip -n $RELAY addr add 192.0.2.1/24 dev r1
ip -n $C1 addr add 192.0.2.10/24 dev e0
expect_eq "no namespace has a default route" "" "$(rg_default_routes $RELAY $C1)"

write_conf() {
	rg_agent_conf interfaces=r1 attach_mode=generic metrics_listen= "$@" <<EOF
[limits]
unregistered_limit = 3
flood_limit = 1
flood_block_time = 15m

[tenant contoso]
connectors = 192.0.2.0/24
accepted_domains = contoso.example
EOF
}

# req CLIENT SENDER INSTANCE: one policy request over the agent's socket; prints the action.
req() { rg_policy_req "$@"; }

# verdict_of A.B.C.D: "action origin" of that /32 in the pinned verdict map, or nothing.
verdict_of() {
	bpftool -j map dump pinned "$PIN/verdict_hosts" |
		jq -r --argjson a "[$(echo "$1" | tr . ,)]" \
			'[.[] | .formatted | select(.key.addr[12:16]==$a) | .value |
			  "\(.action) \(.origin)"][0] // empty'
}

ctl() { "$CTL" -c "$D/rg.conf" "$@"; }

write_conf
if ! rg_agent_start; then
	fail "relayguardd starts"
	sed 's/^/#   /' "$D/agent.log"
	done_testing
	exit 1
fi
ok "relayguardd starts"

# ---- relayguardctl polish -----------------------------------------------------------------
expect_eq "relayguardctl --version" "relayguardctl $(sed -n 's/.*RG_VERSION "\(.*\)"/\1/p' \
	"$RG_ROOT/user/version.h")" "$("$CTL" --version)"
out=$(ctl block host 192.0.2.50 --for 2>&1)
expect_eq "--for without a value: exit 2" "2" "$?"
check "--for without a value says so" grep -q -- "--for needs a value" <<<"$out"
out=$(ctl --json block host 192.0.2.999 2>/dev/null)
expect_eq "--json, bad address: exit 2" "2" "$?"
expect_eq "--json, bad address: an error object on stdout" "false usage" \
	"$(jq -r '"\(.ok) \(.code)"' <<<"$out")"
out=$("$CTL" --json --socket "$D/none.sock" --pin-dir "$D/nopins" hosts 2>"$D/err")
expect_eq "--json, nothing reachable: exit 3" "3" "$?"
expect_eq "--json, nothing reachable: an error object" "false unavailable" \
	"$(jq -r '"\(.ok) \(.code)"' <<<"$out")"
out=$("$CTL" --json --socket "$D/none.sock" reload 2>>"$D/err")
expect_eq "--json, agent not reachable for reload: an error object" "false" \
	"$(jq -r .ok <<<"$out")"
expect_eq "no <N> level prefix on relayguardctl's stderr" "0" "$(grep -c '^<[0-9]>' "$D/err")"

ctl status >/dev/null && ctl tenants >/dev/null && ctl hosts >/dev/null
expect_eq "listings are not logged at info level" "0" \
	"$(grep -cE 'cmd=(status|tenants|hosts)' "$D/agent.log")"

# ---- unblock tenant lifts its flood blocks; repeats are idempotent -------------------------
for i in 1 2 3; do req 192.0.2.10 "x@spam$i.example" u$i >/dev/null; done
for i in 4 5; do req 192.0.2.10 "x@spam$i.example" u$i >/dev/null; done
expect_eq "the flooding host is blocked (block, origin flood)" "1 1" "$(verdict_of 192.0.2.10)"
check "operator block of another contoso host" ctl block host 192.0.2.77
expect_eq "operator block in the map (block, origin operator)" "1 0" "$(verdict_of 192.0.2.77)"
out=$(ctl restrict tenant contoso)
expect_eq "restrict of a restricted tenant: rc 0" "0" "$?"
check "restrict again says already" grep -q "^already restricted" <<<"$out"
expect_eq "restrict again, --json: already" "true true" \
	"$(ctl --json restrict tenant contoso | jq -r '"\(.ok) \(.already)"')"
out=$(ctl unblock tenant contoso)
expect_eq "unblock tenant: rc 0" "0" "$?"
check "unblock tenant: not 'already'" grep -q "^unblocked tenant contoso" <<<"$out"
expect_eq "unblock tenant lifted the flood block from the pinned map" "" \
	"$(verdict_of 192.0.2.10)"
expect_eq "the operator block stays" "1 0" "$(verdict_of 192.0.2.77)"
expect_eq "audit: the flood block lifted with the tenant" "1" \
	"$(jq -c 'select(.event=="host_unblocked" and .reason=="tenant unblocked")' \
		"$D/state/audit.log" | wc -l)"
out=$(ctl unblock tenant contoso)
expect_eq "unblock tenant again: rc 0" "0" "$?"
check "unblock tenant again says already" grep -q "^already unblocked" <<<"$out"
expect_eq "unblock tenant again, --json: already" "true true" \
	"$(ctl --json unblock tenant contoso | jq -r '"\(.ok) \(.already)"')"
out=$(ctl unblock host 192.0.2.10)
expect_eq "unblock host without a verdict: rc 0" "0" "$?"
check "unblock host without a verdict says already" grep -q "^already unblocked" <<<"$out"
expect_eq "unblock host without a verdict, --json: already" "true true" \
	"$(ctl --json unblock host 192.0.2.10 | jq -r '"\(.ok) \(.already)"')"
check "operator unblock of the operator block" ctl unblock host 192.0.2.77

# ---- reload: keys that need a restart, fail_mode -----------------------------------------
expect_eq "undecidable request with fail_mode open: DUNNO" "DUNNO" \
	"$(req not-an-address x@contoso.example f1)"
write_conf fail_mode=closed
out=$(ctl reload)
expect_eq "reload with only reloadable changes: rc 0" "0" "$?"
expect_eq "reloaded fail_mode = closed reaches the policy server" \
	"451 4.3.5 Server configuration problem" "$(req not-an-address x@contoso.example f2)"
write_conf fail_mode=closed smtp_ports="25 2525"
out=$(ctl reload)
expect_eq "reload that changes smtp_ports: exit 5" "5" "$?"
check "reload names smtp_ports as needing a restart" grep -q "restart.*smtp_ports" <<<"$out"
expect_eq "reload --json: restart_needed and the keys" "true true [\"smtp_ports\"]" \
	"$(ctl --json reload | jq -c -r '"\(.ok) \(.restart_needed) \(.restart_keys)"')"
# status shows what runs: the interfaces the program is attached to, not the reloaded list,
# and names the keys waiting for a restart.
write_conf fail_mode=closed smtp_ports="25 2525" interfaces="r1 lo"
ctl reload >/dev/null
expect_eq "reload that changes interfaces: exit 5" "5" "$?"
expect_eq "status --json after it: the running interfaces, restart pending with its keys" \
	'["r1"] true ["interfaces","smtp_ports"]' \
	"$(ctl --json status | jq -c -r '"\([.interfaces[].name]) \(.restart_pending) \(.restart_keys)"')"
out=$(ctl status)
check "status says a restart is pending, naming the keys" \
	grep -q "^restart  *pending: interfaces, smtp_ports changed by a reload" <<<"$out"
expect_eq "status lists only the running interface" "1" "$(grep -c "^ *\(interfaces\)\? *\(r1\|lo\) " <<<"$out")"
write_conf fail_mode=closed
ctl reload >/dev/null
expect_eq "back to the running smtp_ports: reload rc 0" "0" "$?"
expect_eq "status: no restart pending once the file matches what runs" "false []" \
	"$(ctl --json status | jq -c -r '"\(.restart_pending) \(.restart_keys)"')"
ctl status | grep -q '^restart' && fail "status text: no restart line" ||
	ok "status text: no restart line"

# ---- a configuration with an error elsewhere -------------------------------------------
cp "$D/rg.conf" "$D/good.conf"
printf '\n[tenant broken]\nunregistered_limit = lots\nnosuchkey = 1\n' >>"$D/rg.conf"
check "relayguardd -t refuses the broken configuration" \
	bash -c "! '$RG_AGENT' -t -c '$D/rg.conf' >/dev/null 2>&1"
out=$(ctl tenants 2>"$D/err")
expect_eq "tenants with errors elsewhere: rc 0 (the control socket was read)" "0" "$?"
check "the ignored errors are named on stderr" grep -q "ignored: .*rg.conf:[0-9]*:" "$D/err"
rg_agent_stop TERM
out=$(ctl hosts 2>"$D/err")
expect_eq "hosts with the agent down and errors elsewhere: rc 0" "0" "$?"
check "hosts read the configured pin dir" grep -q "pinned maps in $PIN" "$D/err"
check "block host with the agent down and errors elsewhere" ctl block host 192.0.2.88
expect_eq "the block is in the configured pin dir" "1 0" "$(verdict_of 192.0.2.88)"
out=$(ctl detach 2>"$D/err")
expect_eq "detach with errors elsewhere: rc 0" "0" "$?"
check "detach used the configured interface" grep -q "detached from 1 interface" <<<"$out"
expect_eq "no XDP program left on r1" "" \
	"$(ip -n $RELAY -j link show r1 | jq -r '.[0].xdp // empty')"

done_testing
