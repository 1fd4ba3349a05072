#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# lab_smoke.sh: the relay lab itself works, so that the end-to-end tests built on it test
# relayguard and not the lab. Brings the lab up without a policy check, sends counted mail
# from tenant-a over IPv4 and IPv6 and from tenant-b and tenant-b2, and checks that the
# upstream received exactly those envelopes by sender domain, through the relay, over the
# intended address families, with no default route anywhere. A second lab with another
# prefix runs beside it with the policy stub, to check the policy wiring (socket path
# relative to the queue directory) and that two labs do not interfere. Then both are torn
# down and nothing may remain: namespaces, processes, pins, directories.
# Takes LAB_PREFIX (default rglab-smoke-; the second lab appends "b-"). Exit 77 only when
# the kernel lacks network namespaces, veth or bridges.

. "$(dirname "$0")/../lib.sh"
. "$RG_ROOT/tools/lab.sh"

P1=${LAB_PREFIX:-rglab-smoke-}
P2=${P1}b-
N_A4=7 N_A6=5 N_B=9 N_B2=3

etc_marker=$(mktemp)
touch -d '1 second ago' "$etc_marker"

# ---- lab 1: no policy check ------------------------------------------------------------

lab_select "$P1"
rg_lab_up --no-guard
ok "lab up --no-guard"

expect_eq "no namespace has a default route" "" "$(lab_default_routes)"
for n in tenant-a tenant-b tenant-b2; do
	# The tenants reach the relay on-link, and nothing else: not even the upstream.
	if lab_exec "$n" ip route get "$LAB_UPSTREAM4" >/dev/null 2>&1; then
		fail "$n has no route to the upstream"
	else
		ok "$n has no route to the upstream"
	fi
done
expect_eq "Postfix listens on the relay's lab addresses only" \
	"$(printf '%s\n' "$LAB_RELAY_A4:25" "$LAB_RELAY_B4:25" "[$LAB_RELAY_A6]:25" \
		"[$LAB_RELAY_B6]:25" | sort)" \
	"$(lab_exec relay ss -Hltn | awk '{ print $4 }' | sort)"
restr=$(postconf -c "$LAB_PF_CONFIG" -h smtpd_recipient_restrictions)
case "$restr" in
*check_policy_service*) fail "--no-guard has no policy check ($restr)" ;;
*permit_mynetworks*reject_unauth_destination*) ok "--no-guard has no policy check" ;;
*) fail "recipient restrictions: $restr" ;;
esac

check "tenant-a sends $N_A4 over IPv4" lab_send tenant-a -m $N_A4 -s 3 -f alice@contoso.example
check "tenant-a sends $N_A6 over IPv6" lab_send tenant-a -6 -m $N_A6 -s 2 \
	-f carol@fabrikam.example
check "tenant-b sends $N_B from an unregistered domain" lab_send tenant-b -m $N_B -s 3 \
	-f spam@Evil.Example
check "tenant-b sends 2 from each of two more domains" lab_send_domains tenant-b 2 \
	one.spam.example two.spam.example
check "tenant-b2 sends $N_B2 over IPv6" lab_send tenant-b2 -6 -m $N_B2 -f bob@northwind.example
check "relay queue settles" lab_settle 30

expect_eq "upstream got tenant-a's IPv4 mail" "$N_A4" "$(lab_delivered_count contoso.example)"
expect_eq "upstream got tenant-a's IPv6 mail" "$N_A6" "$(lab_delivered_count fabrikam.example)"
expect_eq "upstream got tenant-b's mail (domain case folded)" "$N_B" \
	"$(lab_delivered_count evil.example)"
expect_eq "upstream got tenant-b2's mail" "$N_B2" "$(lab_delivered_count northwind.example)"
expect_eq "upstream got lab_send_domains' mail" "2 2" \
	"$(lab_delivered_count one.spam.example) $(lab_delivered_count two.spam.example)"
N_B=$((N_B + 4))
expect_eq "upstream got nothing else" "$((N_A4 + N_A6 + N_B + N_B2))" "$(lab_delivered_total)"
expect_eq "the relay's log agrees (status=sent)" "$((N_A4 + N_A6 + N_B + N_B2))" \
	"$(lab_relay_sent)"
expect_eq "every envelope came from the relay's upstream address" \
	"$((N_A4 + N_A6 + N_B + N_B2))" \
	"$(cat "$LAB_SINK_DIR"/msgs/m.* | grep -c "^X-Client-Addr: $LAB_RELAY_UP4\$")"
# The relay saw each client on its own address and family.
for pair in "$LAB_TENANT_A4:$N_A4" "$LAB_TENANT_A6:$N_A6" "$LAB_TENANT_B4:$N_B" \
	"$LAB_TENANT_B2_6:$N_B2"; do
	addr=${pair%:*} want=${pair##*:}
	expect_eq "relay accepted $want from $addr" "$want" \
		"$(grep -cF "client=unknown[$addr]" "$LAB_MAILLOG")"
done

out=$(lab_flood tenant-b2 -n 20 -T 10)
expect_eq "tenant-b2's connection loop is bounded and reaches the relay" \
	"attempted 20 connected 20" "$(echo "$out" | awk '{ print $1, $2, $3, $4 }')"

lab_delivered_reset
expect_eq "delivered counts reset" "0" "$(lab_delivered_total)"

# ---- lab 2, beside lab 1: the policy stub ------------------------------------------------

lab_select "$P2"
rg_on_exit "lab_select '$P2' && lab_down"
if lab_up --stub; then
	ok "second lab up beside the first (--stub)"
	check "tenant-a sends 3 through the stub" lab_send tenant-a -m 3 -f alice@contoso.example
	check "tenant-b sends 2 over IPv6 through the stub" lab_send tenant-b -6 -m 2 \
		-f x@evil.example
	check "second relay queue settles" lab_settle 30
	expect_eq "Postfix asked the policy socket once per transaction" "5" \
		"$(grep -c '"protocol_state": "RCPT"' "$LAB_STUB_LOG")"
	expect_eq "policy requests carry the IPv6 client address" "2" \
		"$(grep -c "\"client_address\": \"$LAB_TENANT_B6\"" "$LAB_STUB_LOG")"
	expect_eq "second upstream got its 5" "5" "$(lab_delivered_total)"
	# Tests restart the agent: stop must end the service itself, start must bring it back.
	gpid=$(lab_guard_pid)
	lab_guard_stop
	if [ -n "$gpid" ] && ! kill -0 "$gpid" 2>/dev/null; then
		ok "guard stop ends the policy service"
	else
		fail "guard stop ends the policy service (pid '$gpid')"
	fi
	check "guard start brings it back" lab_guard_start
	lab_send tenant-a -m 1 >/dev/null 2>&1
	lab_settle 30
	expect_eq "the restarted service answers" "6" "$(lab_stub_requests)"
	lab_select "$P1"
	expect_eq "first upstream got none of them" "0" "$(lab_delivered_total)"
else
	fail "second lab up beside the first (--stub)"
fi

# ---- teardown leaves nothing ----------------------------------------------------------

pids=$(lab_select "$P1" && lab_pids; lab_select "$P2" && lab_pids)
[ -n "$pids" ] && ok "labs run processes ($(echo "$pids" | wc -l))" ||
	fail "labs run processes"
mkdir -p "/sys/fs/bpf/${P1%-}" # as relayguardd would leave its pins
rg_cleanup

left_ns=$(ip netns list | awk '{ print $1 }' | grep -E "^(${P1}|${P2})" || true)
expect_eq "no lab namespace is left" "" "$left_ns"
left_pids=""
while read -r pid ino; do
	[ -n "$pid" ] || continue
	now=$(stat -L -c %i "/proc/$pid/ns/net" 2>/dev/null) || continue
	[ "$now" = "$ino" ] && left_pids="$left_pids $pid"
done <<<"$pids"
expect_eq "no lab process is left" "" "$left_pids"
expect_eq "no pin dir is left" "" "$(ls -d "/sys/fs/bpf/${P1%-}" "/sys/fs/bpf/${P2%-}" 2>/dev/null)"
expect_eq "no lab dir is left" "" "$(ls -d "/tmp/${P1}lab" "/tmp/${P2}lab" 2>/dev/null)"
expect_eq "the system's Postfix files are untouched (content and modes)" "" \
	"$(find /etc/postfix /usr/sbin/postdrop /usr/sbin/postqueue \( -newer "$etc_marker" -o \
		-cnewer "$etc_marker" \) 2>/dev/null)"
rm -f "$etc_marker"

done_testing
