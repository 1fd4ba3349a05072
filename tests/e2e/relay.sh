#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# relay.sh: relayguard end to end on the relay lab (tools/lab.sh): real Postfix relaying to an
# smtp-sink upstream, relayguardd attached to the relay's tenant-facing interface and wired
# in with check_policy_service, tenants sending with smtp-source, all in namespaces the lab
# creates (no default route anywhere) and tears down on exit. One lab for all phases:
#   1 tenant-a's registered mail is delivered over IPv4 and IPv6, nothing rejected;
#   2 tenant-b's unregistered budget: exactly unregistered_limit delivered, then the exact
#     5.7.750 reply (as the client saw it, as Postfix logged it, and raw from the socket),
#     while tenant-b's registered mail still flows;
#   3 a multi-recipient message counts once although Postfix asks at every RCPT;
#   4 the host that keeps trying past flood_limit is blocked in the pinned map and its
#     SYNs are dropped at XDP, while its neighbours and tenant-a carry on;
#   6 kill -9 of relayguardd while tenant-b floods: the kernel keeps the block, Postfix
#     falls back to default_action=DUNNO, a restart restores everything, and tenant-a
#     loses no message at any time;
#   5 operator unblock of tenant and host restores delivery; a domain added to the config
#     becomes registered on relayguardctl reload.
# Asserts on what upstream received, what the clients saw, the relay's maillog, the audit
# log, relayguardctl --json and bpftool dumps of the pinned maps. Takes BUILD and LAB_PREFIX
# (default rge2e-). Exit 77 only when the kernel lacks namespaces, veth, bridges or XDP.
set -u
. "$(dirname "$0")/../lib.sh"
export LAB_PREFIX=${LAB_PREFIX:-rge2e-}
export LAB_UNREGISTERED_LIMIT=5 LAB_FLOOD_LIMIT=10 LAB_FLOOD_BLOCK_TIME=10m
export LAB_CONNECTION_RATE_LIMIT=600/1m LAB_MODE=enforce
. "$RG_ROOT/tools/lab.sh"

LIM=$LAB_UNREGISTERED_LIMIT
FL=$LAB_FLOOD_LIMIT
TB=$LAB_TENANT_B4
REJECT="550 5.7.750 Service unavailable. Client blocked from sending from unregistered domains"
# What Postfix makes of it at RCPT (and what smtp-source prints and the maillog records).
SEEN="550 5.7.750 <rcpt@dest.example>: Recipient address rejected: Service unavailable. Client blocked from sending from unregistered domains"
rg_tmpdir T rge2e-relay || exit 1
BG_PIDS=()

# ---- helpers --------------------------------------------------------------------------

# send NAME NODE [-6] smtp-source options: lab_send with the client's output in $T/NAME.
send() {
	local name=$1
	shift
	lab_send "$@" >"$T/$name" 2>&1
}

# seen NAME: 5.7.750 rejections the client NAME saw (exact decorated text); any_rej NAME:
# rejections of any kind.
seen() { grep -cxF "smtp-source: warning: recipient rejected: $SEEN" "$T/$1"; }
any_rej() { grep -c 'rejected' "$T/$1"; }

# logged ADDR: 5.7.750 rejections of client ADDR in the relay's maillog.
logged() { grep -F "NOQUEUE: reject: RCPT from unknown[$1]: $SEEN;" "$LAB_MAILLOG" | wc -l; }
# rejects_of ADDR: every smtpd reject of client ADDR.
rejects_of() { grep -F "NOQUEUE: reject: RCPT from unknown[$1]: " "$LAB_MAILLOG" | wc -l; }

host() { lab_ctl --json hosts 2>/dev/null | jq -r ".hosts[] | select(.address==\"$1\") | .$2"; }


# flood NODE N: N new connections (1 s connect timeout each); prints "connected timeout".
flood() { lab_flood "$1" -n "$2" -T 20 | awk '{ print $4, $8 }'; }

# probe CLIENT SENDER INSTANCE: one policy request straight on the lab's socket: the action.
probe() {
	printf 'request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=%s\nsender=%s\ninstance=%s\nrecipient=rcpt@dest.example\n\n' \
		"$1" "$2" "$3" | socat -t 3 - "UNIX-CONNECT:$LAB_POLICY_SOCKET" | sed -n 's/^action=//p'
}

A_SENT=0	# tenant-a's messages: every one must arrive
a_delivered() {
	local d t=0
	for d in contoso.example fabrikam.example mx.contoso.example ops.contoso.example; do
		t=$((t + $(lab_delivered_count $d)))
	done
	echo $t
}

# ---- the lab ----------------------------------------------------------------------------

rg_lab_up --guard
rg_on_exit 'for p in "${BG_PIDS[@]}"; do kill "$p"; done'
ok "lab up with relayguardd (limit $LIM, flood_limit $FL)"
expect_eq "no namespace has a default route" "" "$(lab_default_routes)"
expect_eq "relayguardd attached XDP to the relay's $LAB_IFACE" "true" \
	"$(lab_ctl status --json | jq "[.interfaces[] | select(.name==\"$LAB_IFACE\") |
		.attach | startswith(\"xdp\")] | any")"

# ---- 1: a healthy tenant ------------------------------------------------------------------

send a4 tenant-a -m 12 -s 3 -f alice@contoso.example
expect_eq "tenant-a over IPv4: client saw no rejection" "0" "$(any_rej a4)"
send a6 tenant-a -6 -m 6 -s 2 -f carol@fabrikam.example
expect_eq "tenant-a over IPv6 (domain from accepted_domains_file): no rejection" "0" \
	"$(any_rej a6)"
send aw tenant-a -m 4 -f dave@mx.contoso.example
expect_eq "tenant-a from a *.contoso.example subdomain: no rejection" "0" "$(any_rej aw)"
A_SENT=$((A_SENT + 22))
lab_settle 30
expect_eq "upstream received tenant-a's IPv4 mail" "12" "$(lab_delivered_count contoso.example)"
expect_eq "upstream received tenant-a's IPv6 mail" "6" "$(lab_delivered_count fabrikam.example)"
expect_eq "upstream received tenant-a's subdomain mail" "4" \
	"$(lab_delivered_count mx.contoso.example)"
expect_eq "the relay saw tenant-a over IPv6" "6" \
	"$(grep -cF "client=unknown[$LAB_TENANT_A6]" "$LAB_MAILLOG")"
expect_eq "the relay rejected nothing of tenant-a" "0 0" \
	"$(rejects_of "$LAB_TENANT_A4") $(rejects_of "$LAB_TENANT_A6")"
expect_eq "relayguardd counted 22 registered, 0 unregistered for tenant-a, state ok" "22 0 ok" \
	"$(lab_tenant tenant-a registered) $(lab_tenant tenant-a unregistered) $(lab_tenant tenant-a state)"

# ---- 2 and 3: tenant-b's budget; multi-recipient messages count once ---------------------

req0=$(lab_metrics |
	awk '$1 ~ /^relayguard_policy_requests_total/ { t += $2 } END { print t + 0 }')
tx0=$(lab_metric 'relayguard_transactions_total{class="unregistered"}')
send bm tenant-b -m 2 -r 3 -f x@spam.example
expect_eq "tenant-b: 2 unregistered messages of 3 recipients each pass" "0" "$(any_rej bm)"
req1=$(lab_metrics |
	awk '$1 ~ /^relayguard_policy_requests_total/ { t += $2 } END { print t + 0 }')
expect_eq "Postfix asked the policy service at each of the 6 RCPTs" "6" "$((req1 - req0))"
expect_eq "...and they counted as 2 transactions" "2" \
	"$(($(lab_metric 'relayguard_transactions_total{class="unregistered"}') - tx0))"
expect_eq "tenant-b's budget used: 2 (not 6)" "2" "$(lab_tenant tenant-b unregistered)"
send b1 tenant-b -m $((LIM - 2)) -s 2 -f x@spam.example
expect_eq "tenant-b: the rest of the budget ($((LIM - 2))) passes" "0" "$(any_rej b1)"
expect_eq "at exactly the limit tenant-b is still ok" "$LIM ok" \
	"$(lab_tenant tenant-b unregistered) $(lab_tenant tenant-b state)"
send b2 tenant-b -m 4 -s 1 -f y@spam2.example
expect_eq "tenant-b: all 4 messages past the budget were refused with 5.7.750 (client view)" \
	"4" "$(seen b2)"
lab_settle 30
expect_eq "upstream received exactly unregistered_limit ($LIM) unregistered messages" \
	"$LIM 0" "$(lab_delivered_count spam.example) $(lab_delivered_count spam2.example)"
expect_eq "the multi-recipient envelopes arrived with their 3 recipients each" \
	"$((2 * 3 + LIM - 2))" "$(grep -l '^X-Mail-Args: <x@spam.example>' "$LAB_SINK_DIR"/msgs/m.* |
		xargs cat | grep -c '^X-Rcpt-Args: ')"
expect_eq "the relay's maillog has the 4 rejections with the exact text" "4" "$(logged "$TB")"
expect_eq "tenant-b restricted, reason limit" "restricted limit" \
	"$(lab_tenant tenant-b state) $(lab_tenant tenant-b reason)"
expect_eq "audit log: tenant-b restricted at $LIM of $LIM" "1" \
	"$(jq -c 'select(.event=="tenant_restricted" and .tenant=="tenant-b" and .count=='"$LIM"' and .limit=='"$LIM"')' \
		"$LAB_STATE_DIR/audit.log" | wc -l)"
# The reply itself, before Postfix decorates it: straight from the socket Postfix uses, for
# an address of tenant-b's connector that sends nothing else (its flood count stays apart).
expect_eq "the policy reply to an unregistered sender is exactly the 5.7.750 text" \
	"$REJECT" "$(probe 198.51.100.200 probe@spam3.example e2e-probe-1)"
expect_eq "...and to a registered sender DUNNO" "DUNNO" \
	"$(probe 198.51.100.200 probe@northwind.example e2e-probe-2)"
send br tenant-b -m 3 -s 2 -f bob@northwind.example
expect_eq "restricted tenant-b's registered mail: no rejection" "0" "$(any_rej br)"
send b2u tenant-b2 -m 1 -f z@spam2.example
expect_eq "the restriction is tenant-wide: tenant-b2's unregistered mail refused" "1" \
	"$(seen b2u)"
lab_settle 30
expect_eq "upstream received tenant-b's registered mail" "3" \
	"$(lab_delivered_count northwind.example)"

# ---- 4: kernel escalation ------------------------------------------------------------------

# tenant-b's host has 4 rejected transactions this minute; the (FL+1)th blocks it.
send f1 tenant-b -m $((FL - 4)) -s 1 -f y@spam2.example
expect_eq "$FL rejected transactions: host not yet blocked" "$((FL - 4)) " \
	"$(seen f1) $(lab_verdict 198 51 100 10)"
send f2 tenant-b -m 1 -f y@spam2.example
expect_eq "the $((FL + 1))th rejected transaction (client saw it)" "1" "$(seen f2)"
expect_eq "tenant-b's host blocked in the pinned verdict map (action block, origin flood)" \
	"1 1" "$(lab_verdict 198 51 100 10)"
expect_eq "relayguardctl hosts --json: block by flood" "block flood" \
	"$(host "$TB/32" verdict) $(host "$TB/32" origin)"
expect_eq "relayguardctl status: 1 tenant restricted, 1 host blocked" "1 1" \
	"$(lab_ctl status --json | jq -r '"\(.tenants_restricted) \(.hosts_blocked)"')"
expect_eq "audit log: host blocked for flooding" "1" \
	"$(jq -c 'select(.event=="host_blocked" and .host=="'"$TB"'/32")' "$LAB_STATE_DIR/audit.log" |
		wc -l)"
d0=$(lab_stat drop_block)
expect_eq "tenant-b's new connections time out" "0 3" "$(flood tenant-b 3)"
d1=$(lab_stat drop_block)
[ "$d1" -ge $((d0 + 3)) ] && ok "XDP drop_block counter rose by >= 3 ($d0 -> $d1)" ||
	fail "XDP drop_block counter rose by >= 3 ($d0 -> $d1)"
# Non-SMTP is never dropped: a closed port answers with a reset (refused), not silence.
expect_eq "tenant-b's host still reaches the relay on a non-SMTP port (refused, not dropped)" \
	"attempted 2 connected 0 refused 2" \
	"$(lab_exec tenant-b "$LAB_PYTHON" "$LAB_TEMPLATES/connflood.py" "$LAB_RELAY_B4" 2526 \
		-n 2 -T 10 | awk '{ print $1, $2, $3, $4, $5, $6 }')"
expect_eq "tenant-b2 (another host of tenant-b) still connects" "2 0" "$(flood tenant-b2 2)"
send a4b tenant-a -m 5 -s 2 -f alice@contoso.example
send a6b tenant-a -6 -m 3 -f carol@fabrikam.example
A_SENT=$((A_SENT + 8))
expect_eq "tenant-a unaffected while tenant-b's host is blocked" "0 0" \
	"$(any_rej a4b) $(any_rej a6b)"
lab_settle 30
expect_eq "upstream received all of tenant-a's mail so far" "$A_SENT" "$(a_delivered)"

# ---- 6: faults: kill -9 while tenant-b floods ------------------------------------------------

# tenant-a keeps sending, one message a second, across the outage and the restart.
lab_send tenant-a -m 14 -s 1 -w 1 -f ops@ops.contoso.example >"$T/astream" 2>&1 &
BG_PIDS+=("$!")
A_SENT=$((A_SENT + 14))
lab_flood tenant-b -n 6 -T 20 >"$T/bflood" 2>&1 &
fpid=$!
BG_PIDS+=("$fpid")
sleep 2
gpid=$(lab_guard_pid)
d0=$(lab_stat drop_block)
kill -9 "$gpid"
wait "$gpid" 2>/dev/null
kill -0 "$gpid" 2>/dev/null && fail "relayguardd killed (-9)" || ok "relayguardd killed (-9)"
wait $fpid
expect_eq "tenant-b's flood across the kill: every connection dropped" "0 6" \
	"$(awk '{ print $4, $8 }' "$T/bflood")"
expect_eq "agent down: the block is still in the pinned map" "1 1" \
	"$(lab_verdict 198 51 100 10)"
expect_eq "agent down: relayguardctl hosts reads the pinned maps: block" "pinned_maps block" \
	"$(lab_ctl --json hosts 2>/dev/null | jq -r '.source + " " +
		(.hosts[] | select(.address=="'"$TB"'/32") | .verdict)')"
expect_eq "agent down: tenant-b's connections still time out" "0 2" "$(flood tenant-b 2)"
d1=$(lab_stat drop_block)
[ "$d1" -gt "$d0" ] && ok "agent down: XDP still drops ($d0 -> $d1)" ||
	fail "agent down: XDP still drops ($d0 -> $d1)"
# No policy answer: Postfix's check_policy_service fails (connection refused on the stale
# socket, after its retry) and default_action=DUNNO applies: the relay fails open.
send out tenant-b2 -m 2 -f z@outage.example
expect_eq "agent down: tenant-b2's unregistered mail not rejected (default_action=DUNNO)" "0" \
	"$(any_rej out)"
grep -q 'warning: problem talking to server private/relayguard' "$LAB_MAILLOG" &&
	ok "agent down: Postfix logs that the policy service failed" ||
	fail "agent down: Postfix logs that the policy service failed"
if lab_guard_start; then ok "relayguardd restarted"; else fail "relayguardd restarted"; fi
expect_eq "after restart: tenant-b still restricted, host still blocked (status)" "1 1" \
	"$(lab_ctl status --json | jq -r '"\(.tenants_restricted) \(.hosts_blocked)"')"
expect_eq "after restart: the agent knows the flood block" "block flood" \
	"$(host "$TB/32" verdict) $(host "$TB/32" origin)"
expect_eq "after restart: tenant-b's connections still time out" "0 2" "$(flood tenant-b 2)"
send ar tenant-b2 -m 2 -f z@after.example
expect_eq "after restart: tenant-b's unregistered mail refused with 5.7.750" "2" "$(seen ar)"
send arr tenant-b2 -m 1 -f bob@northwind.example
expect_eq "after restart: tenant-b's registered mail passes" "0" "$(any_rej arr)"
wait "${BG_PIDS[0]}"
expect_eq "tenant-a's stream across kill and restart: no rejection" "0" "$(any_rej astream)"
lab_settle 30
expect_eq "outage and after: upstream got 2 of outage.example, 0 of after.example" "2 0" \
	"$(lab_delivered_count outage.example) $(lab_delivered_count after.example)"
expect_eq "no message of tenant-a lost at any point ($A_SENT sent)" "$A_SENT" "$(a_delivered)"
diag "tenant-a's stream: $(lab_delivered_count ops.contoso.example) of 14 delivered"

# ---- 5: unblock and reload -----------------------------------------------------------------

check "relayguardctl unblock tenant tenant-b" lab_ctl unblock tenant tenant-b
expect_eq "tenant-b ok with a fresh budget" "ok 0" \
	"$(lab_tenant tenant-b state) $(lab_tenant tenant-b unregistered)"
send u1 tenant-b2 -m 3 -f z@fresh.example
expect_eq "after unblock: tenant-b's unregistered mail passes again" "0" "$(any_rej u1)"
# The flood block came from the restriction: unblocking the tenant lifts it too.
expect_eq "the tenant unblock lifted its host's flood block from the pinned map" "" \
	"$(lab_verdict 198 51 100 10)"
check "relayguardctl unblock host $TB again: rc 0" lab_ctl unblock host "$TB"
expect_eq "the verdict stays gone from the pinned map" "" "$(lab_verdict 198 51 100 10)"
expect_eq "tenant-b's host connects again" "2 0" "$(flood tenant-b 2)"
send u2 tenant-b -m 1 -f z@fresh.example
expect_eq "tenant-b's host delivers unregistered mail again" "0" "$(any_rej u2)"
# partner.example is unregistered until the configuration says otherwise.
send p0 tenant-b -m 1 -f p@partner.example
expect_eq "partner.example counts as unregistered before the reload" "$LIM ok" \
	"$(lab_tenant tenant-b unregistered) $(lab_tenant tenant-b state)"
sed -i 's/^accepted_domains = northwind.example$/accepted_domains = northwind.example partner.example/' \
	"$LAB_CONF"
check "relayguardctl reload with partner.example added to tenant-b" lab_ctl reload
reg0=$(lab_tenant tenant-b registered)
send p1 tenant-b -m $((LIM + 3)) -s 2 -f p@partner.example
expect_eq "after reload: $((LIM + 3)) partner.example messages (over the limit) pass" "0" \
	"$(any_rej p1)"
expect_eq "after reload: they counted as registered, the budget is untouched" \
	"$((reg0 + LIM + 3)) $LIM ok" \
	"$(lab_tenant tenant-b registered) $(lab_tenant tenant-b unregistered) $(lab_tenant tenant-b state)"
lab_settle 30
expect_eq "upstream received fresh.example and partner.example mail" "4 $((LIM + 4))" \
	"$(lab_delivered_count fresh.example) $(lab_delivered_count partner.example)"
expect_eq "the relay never rejected tenant-a" "0 0" \
	"$(rejects_of "$LAB_TENANT_A4") $(rejects_of "$LAB_TENANT_A6")"
expect_eq "every audit line is JSON" "0" \
	"$(jq -c . "$LAB_STATE_DIR/audit.log" >/dev/null 2>&1; echo $?)"

# ---- teardown ---------------------------------------------------------------------------

rg_cleanup
expect_eq "teardown leaves no namespace" "" "$(ip netns list | awk '{ print $1 }' |
	grep "^$LAB_PREFIX" || true)"
expect_eq "teardown leaves no pins" "no" "$([ -e "$LAB_PIN_DIR" ] && echo yes || echo no)"
done_testing
