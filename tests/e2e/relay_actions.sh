#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# relay_actions.sh: over_budget_action and the mail notifier through the relay lab's real
# Postfix (tools/lab.sh: namespaces with no default route, an smtp-sink upstream, torn
# down on exit). tenant-b gets over_budget_action = hold and notify_mailto, the agent
# notify_command = tools/relayguard-notify-mail (through a wrapper that points sendmail at
# the lab's Postfix). Then:
#   1 hold: past the budget tenant-b's unregistered mail is accepted into the hold queue
#     (postqueue -j: queue_name hold), nothing of it reaches upstream; the notice of the
#     restriction reaches the sink through the relay's own sendmail, with the top
#     unregistered domains and hosts and the unblock command; postsuper -H releases the
#     held mail, which is delivered;
#   2 defer (a reload): the client gets 450 4.7.750, nothing is queued or delivered;
#   3 tenants and /metrics say which action, registered mail flows throughout, and the
#     unblock is mailed too.
# Takes BUILD and LAB_PREFIX (default rgact-). Exit 77 only when the kernel lacks
# namespaces, veth, bridges or XDP.
set -u
. "$(dirname "$0")/../lib.sh"
export LAB_PREFIX=${LAB_PREFIX:-rgact-}
export LAB_UNREGISTERED_LIMIT=3 LAB_FLOOD_LIMIT=100 LAB_FLOOD_BLOCK_TIME=10m
export LAB_CONNECTION_RATE_LIMIT=600/1m LAB_MODE=enforce
. "$RG_ROOT/tools/lab.sh"

TB=$LAB_TENANT_B4
HOLD_TEXT="Service unavailable. Client blocked from sending from unregistered domains"
rg_tmpdir T rgact || exit 1

send() { # NAME NODE smtp-source options: output in $T/NAME
	local name=$1
	shift
	lab_send "$@" >"$T/$name" 2>&1
}
# held: messages in the relay's hold queue, as postqueue -j lists them.
held() {
	lab_exec relay postqueue -c "$LAB_PF_CONFIG" -j | jq -r 'select(.queue_name == "hold") | .queue_id' |
		wc -l
}
held_is() { [ "$(held)" -eq "$1" ]; }
delivered_ge() { [ "$(lab_delivered_count "$1")" -ge "$2" ]; }
# notices SUBJECT: sink captures that hold a notice with that subject.
notices() { grep -rlF "Subject: [relayguard] $1" "$LAB_SINK_DIR/msgs" 2>/dev/null | wc -l; }
wait_for() { rg_wait_for 30 "$@"; }
has_notice() { [ "$(notices "$1")" -ge 1 ]; }
sent_ge() { [ "$(lab_metric relayguard_notify_sent_total)" -ge "$1" ]; }

rg_lab_up --guard
ok "lab up with relayguardd (limit $LAB_UNREGISTERED_LIMIT)"
expect_eq "no namespace has a default route" "" "$(lab_default_routes)"

# The notifier runs the tool as user relayguard with a clean environment: the wrapper
# names the lab's Postfix (MAIL_CONFIG) and the sender and contact of the notices.
W=$LAB_DIR/notify-mail
cat >"$W" <<EOF
#!/bin/sh
MAIL_CONFIG=$LAB_PF_CONFIG RG_MAIL_FROM=relayguard@relay.lab.example RG_MAIL_CONTACT=noc@relay.lab.example
export MAIL_CONFIG RG_MAIL_FROM RG_MAIL_CONTACT
exec $RG_ROOT/tools/relayguard-notify-mail
EOF
chmod 755 "$W"
sed -i "/^\[agent\]/a notify_command = $W" "$LAB_CONF"
sed -i "/^\[tenant tenant-b\]/a over_budget_action = hold\nnotify_mailto = admin@northwind.example" \
	"$LAB_CONF"
check "relayguardctl reload takes notify_command, over_budget_action, notify_mailto" lab_ctl reload
expect_eq "tenants: tenant-a rejects, tenant-b holds" "reject hold" \
	"$(echo $(lab_tenant tenant-a over_budget_action) $(lab_tenant tenant-b over_budget_action))"

# ---- 1: hold --------------------------------------------------------------------------

send b1 tenant-b -m 3 -f x@spam.example
lab_settle 30
expect_eq "within the budget: 3 unregistered messages delivered" "3" \
	"$(lab_delivered_count spam.example)"
send b2 tenant-b -m 4 -f y@junk.example
expect_eq "past the budget the client sees no rejection (HOLD accepts)" "0" \
	"$(grep -c rejected "$T/b2")"
check "4 messages wait in the hold queue (postqueue -j: queue_name hold)" wait_for held_is 4
check "Postfix logged the HOLD of each with the 5.7.750 text" \
	sh -c "[ \$(grep -F 'hold: RCPT from unknown[$TB]: ' '$LAB_MAILLOG' | grep -cF '5.7.750 $HOLD_TEXT') -eq 4 ]"
expect_eq "nothing of the held mail reached upstream" "0" "$(lab_delivered_count junk.example)"
send b3 tenant-b -m 2 -f ok@northwind.example
check "tenant-b's registered mail still flows" wait_for delivered_ge northwind.example 2

check "the notice of the restriction reached the sink through the relay's sendmail" \
	wait_for has_notice "tenant tenant-b restricted on"
N=$(grep -rlF "Subject: [relayguard] tenant tenant-b restricted on" "$LAB_SINK_DIR/msgs" | head -1)
check "the notice went to notify_mailto" grep -q "^X-Rcpt-Args: <admin@northwind.example>" "$N"
check "the notice is from RG_MAIL_FROM" grep -q "^X-Mail-Args: <relayguard@relay.lab.example>" "$N"
[ "$TAP_FAILED" -eq 0 ] || sed -n '1,40s/^/#   /p' "$N"
check "the notice says the mail is held" grep -q "held in the relay's queue for review" "$N"
check "the notice lists the top unregistered domain" grep -qE '^ +junk\.example +1$' "$N"
check "the notice lists the sending host" grep -qE "^ +$TB/32 +4$" "$N"
check "the notice says how to get unblocked" grep -qF "relayguardctl unblock tenant tenant-b" "$N"
check "the notice names the contact" grep -qF "ask noc@relay.lab.example" "$N"
check "the notice carries the audit record" grep -q '"event":"tenant_restricted","tenant":"tenant-b"' "$N"

check "postsuper -H releases the held mail" lab_exec relay postsuper -c "$LAB_PF_CONFIG" -H ALL
check "the held messages are delivered once released" wait_for delivered_ge junk.example 4
expect_eq "hold queue empty" "0" "$(held)"

# ---- 2: defer --------------------------------------------------------------------------

sed -i "s/^over_budget_action = hold/over_budget_action = defer/" "$LAB_CONF"
check "reload to over_budget_action = defer" lab_ctl reload
expect_eq "tenants says defer, tenant-b still restricted" "defer restricted" \
	"$(echo $(lab_tenant tenant-b over_budget_action) $(lab_tenant tenant-b state))"
lab_delivered_reset
send b4 tenant-b -m 2 -f z@defer.example
check "the client saw 450 4.7.750" grep -qF "450 4.7.750 <rcpt@dest.example>: Recipient address rejected: $HOLD_TEXT" "$T/b4"
check "Postfix logged the 450 4.7.750 at RCPT" \
	grep -qF "NOQUEUE: reject: RCPT from unknown[$TB]: 450 4.7.750 <rcpt@dest.example>: Recipient address rejected: $HOLD_TEXT" "$LAB_MAILLOG"
lab_settle 30
expect_eq "nothing deferred was queued or delivered" "0 0" \
	"$(lab_queue_count) $(lab_delivered_count defer.example)"

# ---- 3: counts, unblock notice ------------------------------------------------------------

expect_eq "metrics: held and deferred answers by action" "4 2" \
	"$(lab_metric 'relayguard_policy_requests_total{action="hold"}') $(lab_metric 'relayguard_policy_requests_total{action="defer"}')"
check "the audit log says the restriction held" \
	grep -q '"event":"tenant_restricted","tenant":"tenant-b".*"action":"hold"' "$LAB_STATE_DIR/audit.log"
lab_ctl unblock tenant tenant-b >/dev/null
check "the unblock is mailed too" wait_for has_notice "tenant tenant-b unblocked on"
check "metrics: the notices were sent" wait_for sent_ge 2
expect_eq "no notice failed" "0" "$(lab_metric relayguard_notify_failed_total)"

done_testing
