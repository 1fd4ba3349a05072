#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# check_postfix.sh: relayguardctl check-postfix against real Postfix configuration
# directories this suite makes from Debian's own main.cf.dist and master.cf.dist, edited
# with postconf as an operator would (no network, no Postfix running): missing entirely,
# wired on every smtpd service (good), Debian's submission override that bypasses
# relayguard, a permit before the check, an inherited default_action, smtp_ports that
# leave a service out, and a directory that is not a Postfix configuration.
set -u
. "$(dirname "$0")/../lib.sh"

CTL=$RG_ROOT/$BUILD/relayguardctl
D=$(mktemp -d /tmp/rg-checkpf.XXXXXX)
trap 'rm -rf "$D"' EXIT

if ! command -v postconf >/dev/null || [ ! -f /usr/share/postfix/master.cf.dist ]; then
	echo "postfix is not installed: SKIP"
	exit 77
fi

POLICY='check_policy_service { unix:private/relayguard, timeout=10s, default_action=DUNNO }'
printf '[agent]\ninterfaces = lo\npolicy_listen = unix:/var/spool/postfix/private/relayguard\n' \
	>"$D/rg.conf"
{ cat "$D/rg.conf"; echo "smtp_ports = 25"; } >"$D/rg25.conf"

# pfdir NAME: a fresh copy of Debian's configuration with submission and smtps enabled
# the way master.cf.dist suggests (Debian's $mua_* restriction lists).
pfdir() {
	mkdir -p "$D/$1"
	cp /usr/share/postfix/main.cf.dist "$D/$1/main.cf"
	cp /usr/share/postfix/master.cf.dist "$D/$1/master.cf"
	cat >>"$D/$1/master.cf" <<'EOF'
submission inet n       -       y       -       -       smtpd
  -o syslog_name=postfix/submission
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_recipient_restrictions=$mua_recipient_restrictions
smtps     inet  n       -       y       -       -       smtpd
  -o syslog_name=postfix/smtps
  -o smtpd_tls_wrappermode=yes
  -o smtpd_recipient_restrictions=$mua_recipient_restrictions
EOF
	postconf -c "$D/$1" -e "mua_recipient_restrictions = permit_sasl_authenticated, reject"
}

# run NAME [CONF]: check-postfix on $D/NAME; sets rc and out.
run() {
	rc=0
	out=$("$CTL" -c "${2:-$D/rg.conf}" check-postfix --postfix-config "$D/$1" 2>&1) || rc=$?
}

pfdir missing
run missing
expect_eq "missing: exit 1" 1 "$rc"
expect_eq "missing: one line per smtpd service" \
	"smtp/inet (port 25) submission/inet (port 587) smtps/inet (port 465)" \
	"$(echo "$out" | sed -n 's/^\([a-z]*\/inet (port [0-9]*)\): neither .*/\1/p' | tr '\n' ' ' | sed 's/ $//')"
js=$("$CTL" -c "$D/rg.conf" --json check-postfix --postfix-config "$D/missing")
expect_eq "missing --json: ok false, 3 services, 3 no_policy_check" "false 3 3" \
	"$(echo "$js" | jq -r '"\(.ok) \(.services_checked) \([.findings[] | select(.problem == "no_policy_check")] | length)"')"

pfdir good
postconf -c "$D/good" -e "smtpd_recipient_restrictions = $POLICY, permit_mynetworks, reject_unauth_destination" \
	"mua_recipient_restrictions = $POLICY, permit_sasl_authenticated, reject"
run good
expect_eq "good: exit 0" 0 "$rc"
expect_eq "good: says every service asks relayguard" \
	"3 smtpd services on smtp_ports ask relayguard before any permit" "$out"
js=$("$CTL" -c "$D/rg.conf" check-postfix --postfix-config "$D/good" --json)
expect_eq "good --json: ok true, no findings" "true 0" \
	"$(echo "$js" | jq -r '"\(.ok) \(.findings | length)"')"

# The main.cf line alone, as the first README had it: submission keeps its own list.
pfdir bypassed
postconf -c "$D/bypassed" -e "smtpd_recipient_restrictions = $POLICY, permit_mynetworks, reject_unauth_destination" \
	"smtps_recipient_restrictions = $POLICY, permit_sasl_authenticated, reject"
postconf -c "$D/bypassed" -Pe "smtps/inet/smtpd_recipient_restrictions=\$smtps_recipient_restrictions"
run bypassed
expect_eq "bypassed submission: exit 1" 1 "$rc"
expect_eq "bypassed submission: exactly the submission service is reported" \
	"submission/inet (port 587): neither smtpd_relay_restrictions nor smtpd_recipient_restrictions calls check_policy_service for relayguard" \
	"$out"
js=$("$CTL" -c "$D/rg.conf" --json check-postfix --postfix-config "$D/bypassed")
expect_eq "bypassed --json: service, port, problem" "submission 587 no_policy_check" \
	"$(echo "$js" | jq -r '.findings[] | "\(.service) \(.port) \(.problem)"')"
run bypassed "$D/rg25.conf"
expect_eq "smtp_ports = 25: submission is not relayguard's, exit 0" 0 "$rc"

pfdir permit_first
postconf -c "$D/permit_first" -e "smtpd_recipient_restrictions = permit_mynetworks, $POLICY, reject_unauth_destination" \
	"mua_recipient_restrictions = $POLICY, permit_sasl_authenticated, reject"
run permit_first
expect_eq "permit first: the smtp service, naming the permit" \
	"smtp/inet (port 25): smtpd_recipient_restrictions: permit_mynetworks comes before check_policy_service for relayguard" \
	"$out"

pfdir action
postconf -c "$D/action" -e "smtpd_recipient_restrictions = check_policy_service unix:private/relayguard, permit_mynetworks" \
	"mua_recipient_restrictions = $POLICY, permit_sasl_authenticated, reject"
run action
expect_eq "no default_action: Postfix's 451 is reported, exit 1" \
	"1 smtp/inet (port 25): smtpd_recipient_restrictions: check_policy_service for relayguard has default_action=451 4.3.5 Server configuration problem, not DUNNO" \
	"$rc $out"

mkdir -p "$D/empty"
run empty
expect_eq "not a Postfix configuration directory: exit 1" 1 "$rc"
echo "$out" | grep -q "postconf failed" && ok "... and says postconf failed" ||
	fail "... and says postconf failed: $out"
done_testing
