#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# monitoring_checks.sh: checks of what operators point at a running relayguardd, sourced
# by tests/e2e/agent.sh (after lib.sh) and run against its agent, so they need no agent of
# their own. Each function reports TAP lines through lib.sh.
#
#   metrics_named_exist SCRAPE_FILE   every metric tools/monitoring's alerting rules and
#                                     Grafana dashboard name is in the scrape; the decision
#                                     histogram counted every answered request
#   completion_checks CTL_DIR SOCKET CONF
#                                     relayguardctl's bash completion with COMP_WORDS set:
#                                     commands, options, objects, tenant names from the agent
#   attach_lost_check NETNS PIN_DIR IFACE
#                                     relayguard_interface_attached goes from 1 to 0 when
#                                     the pinned XDP link is detached behind the agent's back
#                                     (leaves the interface without the program: run last)

# scrape_value FILE NAME_WITH_LABELS: a sample's value.
scrape_value() { awk -v n="$2" '$1 == n { print $2 }' "$1"; }

metrics_named_exist() {
	local names n missing=""

	names=$(cd "$RG_ROOT/tools/monitoring" &&
		grep -oh 'relayguard_[a-z0-9_]*' relayguard.rules.yml relayguard.dashboard.json |
		sort -u)
	for n in $names; do
		grep -qE "^$n(\{| )" "$1" || missing="$missing $n"
	done
	diag "$(echo "$names" | wc -l) metric names in the alerting rules and the dashboard"
	expect_eq "every metric the alerting rules and the dashboard name is in the scrape" "" \
		"$missing"
	expect_eq "the decision histogram counted every answered request" \
		"$(scrape_value "$1" relayguard_policy_requests_answered_total)" \
		"$(scrape_value "$1" relayguard_policy_decision_duration_seconds_count)"
	expect_eq "its +Inf bucket equals its count" \
		"$(scrape_value "$1" relayguard_policy_decision_duration_seconds_count)" \
		"$(scrape_value "$1" 'relayguard_policy_decision_duration_seconds_bucket{le="+Inf"}')"
}

# complete_words CTL_DIR WORDS...: what the completion offers for the last word.
complete_words() {
	local dir=$1
	shift
	PATH="$dir:$PATH" bash -c '
		. "$1"; shift
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		_relayguardctl; echo "${COMPREPLY[*]}"' _ "$RG_ROOT/tools/completion/relayguardctl" "$@"
}

completion_checks() {
	local dir=$1 sock=$2 conf=$3 tenants first

	expect_eq "completion: commands" \
		"status tenants hosts block throttle unblock restrict reload fleet detach check-postfix help" \
		"$(complete_words "$dir" relayguardctl "")"
	expect_eq "completion: commands by prefix" "restrict reload" \
		"$(complete_words "$dir" relayguardctl re)"
	expect_eq "completion: global options" "-c --config --socket --pin-dir --json --version" \
		"$(complete_words "$dir" relayguardctl -)"
	expect_eq "completion: unblock objects" "host tenant" \
		"$(complete_words "$dir" relayguardctl unblock "")"
	expect_eq "completion: throttle options" "--rate --for --json" \
		"$(complete_words "$dir" relayguardctl throttle host 192.0.2.7 --)"
	tenants=$("$dir/relayguardctl" --socket "$sock" tenants --json | jq -r '.tenants[].name' |
		tr '\n' ' ')
	tenants=${tenants% }
	[ -n "$tenants" ] || fail "the agent lists tenants"
	expect_eq "completion: tenant names from the agent (--socket)" "$tenants" \
		"$(complete_words "$dir" relayguardctl --socket "$sock" unblock tenant "")"
	first=${tenants%% *}
	expect_eq "completion: a tenant name by its prefix (-c FILE)" "$first" \
		"$(complete_words "$dir" relayguardctl -c "$conf" restrict tenant "$first")"
	expect_eq "completion: no tenant names without an agent" "" \
		"$(complete_words "$dir" relayguardctl --socket "$sock.none" unblock tenant "")"
	expect_eq "completion: nothing after a tenant name" "" \
		"$(complete_words "$dir" relayguardctl unblock tenant "$first" "")"
}

attach_lost_check() {
	local ns=$1 pin=$2 ifc=$3 link scrape

	scrape() { nsenter --net="/run/netns/$ns" curl -sf http://127.0.0.1:9433/metrics; }
	expect_eq "relayguard_interface_attached is 1 on $ifc while attached" 1 \
		"$(scrape | awk -v i="interface=\"$ifc\"" 'index($1, "relayguard_interface_attached{" i ",") == 1 { print $2 }')"
	link=$(bpftool -j link show pinned "$pin/link_$ifc" | jq .id)
	check "bpftool link detach id $link (behind the agent's back)" bpftool link detach id "$link"
	expect_eq "relayguard_interface_attached is 0 on $ifc once detached" 0 \
		"$(scrape | awk -v n="relayguard_interface_attached{interface=\"$ifc\",attach=\"none\"}" '$1 == n { print $2 }')"
}
