#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# agent_valgrind.sh: relayguardd under valgrind memcheck through a policy-service session:
# start (attach, state), the budget ladder to a restriction and a flood block, a control
# command, a metrics scrape, SIGHUP reload, SIGTERM. Passes only with no memcheck error and
# no definite or indirect leak (tests/e2e/valgrind.supp lists the one suppression and why).
# In a namespace this suite creates (rgvg-relay, one veth, no route, no packets sent).
set -u
. "$(dirname "$0")/../lib.sh"

NS=rgvg-relay
D=$(mktemp -d /tmp/rg-vg.XXXXXX)
PIN=/sys/fs/bpf/rgvg-$$
VPID=
cleanup() {
	[ -n "$VPID" ] && kill -9 "$VPID" 2>/dev/null
	"$RG_ROOT/$BUILD/relayguardctl" -c "$D/rg.conf" detach --purge >/dev/null 2>&1
	rm -rf "$PIN"
	ip netns del $NS 2>/dev/null
	rm -rf "$D"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
ip netns del $NS 2>/dev/null
ip netns add $NS || exit 1
ip -n $NS link add r1 type veth peer name r1p
ip -n $NS link set r1 up
ip -n $NS link set lo up
mkdir -p "$D/state"
cat >"$D/rg.conf" <<CONF
[agent]
interfaces = r1
attach_mode = generic
policy_listen = unix:$D/policy.sock
control_socket = $D/control.sock
metrics_listen = inet:127.0.0.1:9433
state_dir = $D/state
pin_dir = $PIN
[limits]
unregistered_limit = 2
flood_limit = 3
[tenant contoso]
connectors = 192.0.2.0/24 2001:db8::/32
accepted_domains = contoso.com *.contoso.com
CONF

nsenter --net=/run/netns/$NS valgrind --quiet --leak-check=full \
	--show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
	--suppressions="$RG_ROOT/tests/e2e/valgrind.supp" --error-exitcode=99 \
	"$RG_ROOT/$BUILD/relayguardd" -f -c "$D/rg.conf" >"$D/vg.log" 2>&1 &
VPID=$!
for _ in $(seq 150); do [ -S "$D/policy.sock" ] && break; sleep 0.2; done
[ -S "$D/policy.sock" ] && ok "relayguardd starts under valgrind" || fail "relayguardd starts under valgrind"

n=$(for i in 1 2 3 4 5 6 7 8; do
	printf 'request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=%s\nsender=x@s%d.example\ninstance=i%d\n\n' \
		"$([ $((i % 2)) -eq 0 ] && echo 192.0.2.7 || echo 2001:db8::7)" $i $i
done | socat -t 5 - "UNIX-CONNECT:$D/policy.sock" | grep -c '^action=550 5.7.750')
[ "$n" -ge 5 ] && ok "policy session reaches rejections ($n)" || fail "policy session reaches rejections ($n)"
"$RG_ROOT/$BUILD/relayguardctl" --socket "$D/control.sock" --json tenants >/dev/null &&
	ok "control command answered" || fail "control command answered"
nsenter --net=/run/netns/$NS curl -s http://127.0.0.1:9433/metrics | grep -q relayguard_policy_requests_total &&
	ok "metrics scraped" || fail "metrics scraped"
kill -HUP "$VPID"
sleep 1
kill "$VPID"
wait "$VPID"
rc=$?
VPID=
expect_eq "valgrind: no errors, no definite/indirect leaks (exit 0)" 0 "$rc"
[ $rc -ne 0 ] && grep '^==' "$D/vg.log" | head -40 | sed 's/^/#   /'
done_testing
