#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# monitoring.sh: tools/monitoring/ on its own. The alerting rules pass `promtool check
# rules` and their unit tests (`promtool test rules`: each alert fires on the series that
# should raise it, none on a healthy agent); the Grafana dashboard is valid JSON with unique
# panel ids, every panel queries something, and every query is valid PromQL (promtool
# checks them as recording rules once Grafana's variables are given values). That each
# metric they name is exported is checked by tests/e2e/agent.sh against its running agent
# (tests/helpers/monitoring_checks.sh).
set -u
. "$(dirname "$0")/../lib.sh"
cd "$RG_ROOT/tools/monitoring" || exit 1

T=$(mktemp -d /tmp/rg-mon.XXXXXX)
trap 'rm -rf "$T"' EXIT
DASH=relayguard.dashboard.json

check "promtool check rules relayguard.rules.yml" promtool check rules relayguard.rules.yml
check "promtool test rules relayguard.rules.test.yml" \
	promtool test rules relayguard.rules.test.yml
n=$(grep -c '^      - alert: ' relayguard.rules.yml)
tested=$(grep -o 'alertname: [A-Za-z]*' relayguard.rules.test.yml | sort -u | wc -l)
expect_eq "every alert has a promtool test" "$n" "$tested"

check "the dashboard is valid JSON" jq -e . "$DASH"
expect_eq "panel ids are unique" "" "$(jq -r '.panels[].id' "$DASH" | sort | uniq -d)"
expect_eq "every panel but rows has a query" "" \
	"$(jq -r '.panels[] | select(.type != "row") |
		select([.targets[]?.expr | select(. != "")] | length == 0) | .title' "$DASH")"
# Grafana's variables with values, each query a recording rule for promtool.
jq -r '.panels[].targets[]?.expr' "$DASH" |
	sed 's/\$__rate_interval/5m/g; s/\$instance/.*/g' |
	awk 'BEGIN { print "groups:\n  - name: dashboard\n    rules:" }
	{ gsub(/\x27/, "\x27\x27"); printf "      - record: q%d\n        expr: \x27%s\x27\n", NR, $0 }' \
		>"$T/dash.rules.yml"
check "every dashboard query is valid PromQL" promtool check rules "$T/dash.rules.yml"
done_testing
