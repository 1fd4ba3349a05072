#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# relay_monitor.sh: relayguardd in mode = monitor on the relay lab (tools/lab.sh, real
# Postfix, namespaces torn down on exit). tenant-b sends far past its unregistered budget
# and past flood_limit from one host: nothing may be rejected or dropped (upstream receives
# every message, the clients and the maillog see no rejection, no verdict in the pinned map,
# XDP drops nothing, the host still connects), and every would-be decision must be in the
# audit log (would_reject per refused transaction, would_block for the host, mode monitor)
# and in the metrics. Takes BUILD and LAB_PREFIX (default rge2em-). Exit 77 only when the
# kernel lacks namespaces, veth, bridges or XDP.
set -u
. "$(dirname "$0")/../lib.sh"
export LAB_PREFIX=${LAB_PREFIX:-rge2em-}
export LAB_UNREGISTERED_LIMIT=5 LAB_FLOOD_LIMIT=10 LAB_FLOOD_BLOCK_TIME=10m
export LAB_CONNECTION_RATE_LIMIT=600/1m LAB_MODE=monitor
. "$RG_ROOT/tools/lab.sh"

LIM=$LAB_UNREGISTERED_LIMIT
FL=$LAB_FLOOD_LIMIT
TB=$LAB_TENANT_B4
N=$((LIM + FL + 4))	# unregistered messages from tenant-b's host
rg_tmpdir T rge2em-relay || exit 1
audit_count() { jq -c "select($1)" "$LAB_STATE_DIR/audit.log" | wc -l; }

rg_lab_up --guard
ok "lab up with relayguardd in monitor mode"
expect_eq "relayguardctl status: mode monitor" "monitor" "$(lab_ctl status --json | jq -r .mode)"

lab_send tenant-a -m 4 -s 2 >"$T/a" 2>&1
lab_send tenant-b -m $N -s 1 -f spam@spam.example >"$T/b" 2>&1
lab_send tenant-b -m 2 -f bob@northwind.example >"$T/br" 2>&1
expect_eq "no client saw a rejection" "0 0 0" \
	"$(grep -c rejected "$T/a") $(grep -c rejected "$T/b") $(grep -c rejected "$T/br")"
lab_settle 30
expect_eq "upstream received all $N unregistered messages of tenant-b" "$N" \
	"$(lab_delivered_count spam.example)"
expect_eq "upstream received tenant-a's and tenant-b's registered mail" "4 2" \
	"$(lab_delivered_count contoso.example) $(lab_delivered_count northwind.example)"
expect_eq "the relay rejected nothing" "0" "$(lab_relay_rejects)"

# Would-be decisions: past the budget every transaction would have been refused, and the
# host would have been blocked after flood_limit of those. Repeats of one host are counted
# into one would_reject_repeated line (audit_repeat_interval); SIGUSR1 writes it out now.
kill -USR1 "$(lab_guard_pid)"
sleep 0.5
expect_eq "audit: one would_reject per transaction past the budget ($((N - LIM))), repeats included" \
	"$((N - LIM))" \
	"$(($(audit_count '.event=="would_reject" and .tenant=="tenant-b" and .mode=="monitor"') +
	    $(jq -s '[.[] | select(.event=="would_reject_repeated" and .tenant=="tenant-b" and
		.mode=="monitor") | .repeats] | add // 0' "$LAB_STATE_DIR/audit.log")))"
expect_eq "audit: its first is written in full" "1" \
	"$(audit_count '.event=="would_reject" and .tenant=="tenant-b"')"
wb=$(audit_count '.event=="would_block" and .host=="'"$TB"'/32" and .mode=="monitor"')
[ "$wb" -ge 1 ] && ok "audit: would_block for tenant-b's flooding host ($wb)" ||
	fail "audit: would_block for tenant-b's flooding host"
expect_eq "audit: no real restriction or block" "0" \
	"$(audit_count '(.event=="tenant_restricted" or .event=="host_blocked") and .mode!="monitor"')"
expect_eq "metrics: would_reject_total" "$((N - LIM))" "$(lab_metric relayguard_would_reject_total)"
[ "$(lab_metric relayguard_would_block_total)" -ge 1 ] && ok "metrics: would_block_total >= 1" ||
	fail "metrics: would_block_total >= 1"
expect_eq "metrics: every one of the $((N + 6)) policy answers was DUNNO" "$((N + 6)) 0" \
	"$(lab_metrics |
		awk '$1 ~ /^relayguard_policy_requests_total/ {
			if ($1 ~ /action="dunno"/) d += $2; else o += $2 }
			END { print d + 0, o + 0 }')"

expect_eq "no verdict in the pinned map" "0" \
	"$(bpftool -j map dump pinned "$LAB_PIN_DIR/verdict_hosts" | jq length)"
expect_eq "relayguardctl hosts: tenant-b's host has no verdict" "none" \
	"$(lab_ctl hosts --json | jq -r '.hosts[] | select(.address=="'"$TB"'/32") | .verdict')"
expect_eq "tenant-b's host still connects" "attempted 3 connected 3" \
	"$(lab_flood tenant-b -n 3 -T 10 | awk '{ print $1, $2, $3, $4 }')"
expect_eq "XDP dropped nothing" "0 0" "$(lab_stat drop_block) $(lab_stat drop_throttle)"
diag "tenant-b as relayguardctl reports it: $(lab_ctl tenants --json |
	jq -c '.tenants[] | select(.name=="tenant-b") | {state, unregistered, reason}')"

rg_cleanup
expect_eq "teardown leaves no namespace" "" "$(ip netns list | awk '{ print $1 }' |
	grep "^$LAB_PREFIX" || true)"
done_testing
