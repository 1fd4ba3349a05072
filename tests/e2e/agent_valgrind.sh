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
rg_ns_add $NS || exit 1
rg_veth $NS r1 $NS r1p || exit 1
rg_agent_fixture $NS rgvg || exit 1
D=$RG_DIR
# Valgrind runs the agent's syscalls itself, so a seccomp filter would judge valgrind's
# own calls; the filter is tested in agent.sh, memory here.
rg_agent_conf seccomp=no <<CONF
[limits]
unregistered_limit = 2
flood_limit = 3
[tenant contoso]
connectors = 192.0.2.0/24 2001:db8::/32
accepted_domains = contoso.com *.contoso.com
CONF

RG_AGENT_WAIT=30 rg_agent_start valgrind --quiet --vgdb=no --leak-check=full \
	--show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
	--suppressions="$RG_ROOT/tests/e2e/valgrind.supp" --error-exitcode=99 &&
	ok "relayguardd starts under valgrind" || fail "relayguardd starts under valgrind"
VPID=$RG_AGENT_PID

n=$(for i in 1 2 3 4 5 6 7 8; do
	printf 'request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=%s\nsender=x@s%d.example\ninstance=i%d\n\n' \
		"$([ $((i % 2)) -eq 0 ] && echo 192.0.2.7 || echo 2001:db8::7)" $i $i
done | socat -t 5 - "UNIX-CONNECT:$D/policy.sock" | grep -c '^action=550 5.7.750')
[ "$n" -ge 5 ] && ok "policy session reaches rejections ($n)" || fail "policy session reaches rejections ($n)"
"$RG_ROOT/$BUILD/relayguardctl" --socket "$D/control.sock" --json tenants >/dev/null &&
	ok "control command answered" || fail "control command answered"
rg_ns_exec $NS curl -s http://127.0.0.1:9433/metrics | grep -q relayguard_policy_requests_total &&
	ok "metrics scraped" || fail "metrics scraped"
kill -HUP "$VPID"
sleep 1
rg_agent_stop
rc=$?
expect_eq "valgrind: no errors, no definite/indirect leaks (exit 0)" 0 "$rc"
[ $rc -ne 0 ] && grep '^==' "$D/agent.log" | head -40 | sed 's/^/#   /'
done_testing
