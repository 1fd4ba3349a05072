#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# relay_auth.sh: tenant attribution by TLS client certificate and SASL login, end to end on
# the relay lab with LAB_AUTH=1 (tools/lab.sh): the real Postfix relay offers STARTTLS with
# smtpd_tls_ask_ccert = yes and SASL through Dovecot's auth service, relayguardd decides,
# mail is sent with swaks from tenant-a's host (an address of tenant-a's connector):
#   1 tenant-b's client certificate is attributed to tenant-b by subject, then (after a
#     reload that swaps the keys) by certificate and by public-key fingerprint; a
#     self-signed certificate with tenant-b's name is not tenant-b's by subject (Postfix
#     sends ccert_subject only for a verified certificate) but is by its pinned
#     fingerprint; tenant-a's own certificate, configured nowhere, leaves the connector
#     to decide;
#   2 a SASL login of tenant-b is attributed to tenant-b exactly and by @domain;
#   3 tenant-b's budget and its 5.7.750 reply apply to mail attributed by login, while
#     tenant-a's own budget from the same host is untouched;
#   4 the host carries tenant-b's tag in the kernel's hosts map (relayguardctl hosts and a
#     bpftool dump of the pin), and the audit log says how it was attributed and which
#     tenant the connector named;
#   5 the same login in two tenants is refused by relayguardd -t and by reload, naming both.
# Everything runs in namespaces the lab creates (no default route) and is torn down on exit.
# Takes BUILD and LAB_PREFIX (default rgauth-). Exit 77 when the kernel lacks namespaces,
# veth, bridges or XDP.
set -u
. "$(dirname "$0")/../lib.sh"
export LAB_PREFIX=${LAB_PREFIX:-rgauth-}
export LAB_AUTH=1 LAB_UNREGISTERED_LIMIT=2 LAB_FLOOD_LIMIT=50 LAB_MODE=enforce
. "$RG_ROOT/tools/lab.sh"

REJECT="550 5.7.750 <rcpt@dest.example>: Recipient address rejected: Service unavailable. Client blocked from sending from unregistered domains"
rg_tmpdir T rgauth || exit 1
TLS=$(lab_tls_dir)
TA=$LAB_TENANT_A4
AUDIT=$LAB_STATE_DIR/audit.log

# ---- helpers --------------------------------------------------------------------------

# swaks_as NAME [swaks options]: one message from tenant-a's host, the session in $T/NAME.
swaks_as() {
	local name=$1
	shift
	lab_swaks tenant-a "$@" >"$T/$name" 2>&1
}
cert_b() { echo --tls --tls-cert "$TLS/tenant-b.crt" --tls-key "$TLS/tenant-b.key"; }
login() { echo --auth PLAIN --auth-user "$1" --auth-password "$LAB_SASL_PASSWORD"; }
queued() { grep -c '^<[-~] *250 2.0.0 Ok: queued' "$T/$1"; }
refused() { grep -cF "$REJECT" "$T/$1"; }

# matched TENANT KIND: transactions of TENANT attributed by KIND so far.
matched() { lab_ctl tenants --json | jq -r ".tenants[] | select(.name==\"$1\") | .matched_total.$2"; }
host() { lab_ctl --json hosts 2>/dev/null | jq -r ".hosts[] | select(.address==\"$1\") | .$2"; }

# keys LINES: tenant-b's attribution keys become LINES (appended to its section, which ends
# the lab's configuration), then a reload swaps them in.
BASE=$T/base.conf
keys() {
	{ cat "$BASE"; printf '%s\n' "$@"; } >"$LAB_CONF"
	lab_ctl reload >"$T/reload.out" 2>&1
}

# ---- the lab ----------------------------------------------------------------------------

rg_lab_up --guard
ok "lab up with TLS (client certificates asked) and SASL (Dovecot)"
expect_eq "no namespace has a default route" "" "$(lab_default_routes)"
expect_eq "dovecot listens on no network address" "" \
	"$(lab_exec relay ss -Hltnup | grep -i dovecot)"
cp "$LAB_CONF" "$BASE"
ID_B=$(lab_tenant tenant-b id)

# ---- 1: certificates ------------------------------------------------------------------

check "reload: tenant-b gets cert_subjects = $(lab_cert_subject tenant-b)" \
	keys "cert_subjects = $(lab_cert_subject tenant-b)"
swaks_as s1 $(cert_b) -f bob@northwind.example
expect_eq "tenant-b's certificate from tenant-a's address: queued" "1" "$(queued s1)"
grep -q "Trusted TLS connection established from unknown\[$TA\]" "$LAB_MAILLOG" &&
	ok "Postfix verified the client certificate" || fail "Postfix verified the client certificate"
expect_eq "attributed to tenant-b by subject; tenant-a counted nothing" "1 0 0" \
	"$(matched tenant-b cert_subject) $(matched tenant-a connector) $(lab_tenant tenant-a registered)"
expect_eq "northwind.example counted registered for tenant-b" "1" "$(lab_tenant tenant-b registered)"
# Postfix sends ccert_subject only for a certificate its CA file verifies (the fingerprints
# for any): a self-signed certificate with tenant-b's name is not tenant-b's.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
	-subj "/CN=$(lab_cert_subject tenant-b)" -keyout "$T/self.key" -out "$T/self.crt" \
	>"$T/self.log" 2>&1
swaks_as s3 --tls --tls-cert "$T/self.crt" --tls-key "$T/self.key"
expect_eq "a self-signed certificate with tenant-b's subject: the connector decides" "1 1 1" \
	"$(queued s3) $(matched tenant-b cert_subject) $(matched tenant-a connector)"
swaks_as s2 --tls --tls-cert "$TLS/tenant-a.crt" --tls-key "$TLS/tenant-a.key"
expect_eq "tenant-a's own certificate (no key names it): the connector decides" "1 2" \
	"$(queued s2) $(matched tenant-a connector)"

fp=$(lab_cert_fingerprint tenant-b)
check "reload: cert_fingerprints = tenant-b's SHA-256 in lower case without colons" \
	keys "cert_fingerprints = $(echo "$fp" | tr -d : | tr A-F a-f)"
swaks_as f1 $(cert_b) -f bob@northwind.example
expect_eq "attributed by certificate fingerprint (the subject is no key now)" "1 1" \
	"$(queued f1) $(matched tenant-b cert_fingerprint)"
check "reload: cert_fingerprints = tenant-b's public-key fingerprint" \
	keys "cert_fingerprints = $(lab_cert_fingerprint tenant-b pubkey)"
swaks_as f2 $(cert_b) -f bob@northwind.example
expect_eq "attributed by ccert_pubkey_fingerprint" "1 2" \
	"$(queued f2) $(matched tenant-b cert_fingerprint)"
check "reload: cert_fingerprints = the self-signed certificate's fingerprint" \
	keys "cert_fingerprints = $(openssl x509 -in "$T/self.crt" -noout -fingerprint -sha256 | sed 's/.*=//')"
swaks_as f3 --tls --tls-cert "$T/self.crt" --tls-key "$T/self.key" -f bob@northwind.example
expect_eq "a pinned fingerprint needs no CA: the self-signed certificate is tenant-b's" "1 3" \
	"$(queued f3) $(matched tenant-b cert_fingerprint)"
expect_eq "tenant-a's host is tagged tenant-b in the hosts map" "tenant-b" "$(host "$TA/32" tenant)"

# ---- 2: SASL ----------------------------------------------------------------------------

check "reload: tenant-b gets sasl_users = scanner01 @northwind.example" \
	keys "sasl_users = scanner01 @northwind.example"
swaks_as l1 $(login scanner01) -f bob@northwind.example
swaks_as l2 $(login carol@northwind.example) -f carol@northwind.example
swaks_as l3 $(login alice@contoso.example)
grep -q "sasl_username=scanner01" "$LAB_MAILLOG" && ok "Postfix authenticated scanner01" ||
	fail "Postfix authenticated scanner01"
expect_eq "logins scanner01 and carol@northwind.example: tenant-b by SASL" "1 1 2" \
	"$(queued l1) $(queued l2) $(matched tenant-b sasl)"
expect_eq "login alice@contoso.example (no key): tenant-a by connector" "1 3" \
	"$(queued l3) $(matched tenant-a connector)"

# ---- 3: the attributed tenant's budget ----------------------------------------------------

for i in 1 2 3; do
	swaks_as u$i $(login scanner01) -f "x$i@spam.example"
done
expect_eq "tenant-b's budget of 2 by login: 2 queued, then the 5.7.750 reply" "1 1 0 1" \
	"$(queued u1) $(queued u2) $(queued u3) $(refused u3)"
expect_eq "tenant-b restricted, tenant-a not" "restricted ok" \
	"$(lab_tenant tenant-b state) $(lab_tenant tenant-a state)"
swaks_as u4 -f y@spam.example
expect_eq "the same host without a login is tenant-a's: its unregistered mail passes" "1 1" \
	"$(queued u4) $(lab_tenant tenant-a unregistered)"
swaks_as u5 $(login carol@northwind.example) -f z@spam.example
expect_eq "tenant-b's other login is refused too" "1" "$(refused u5)"
expect_eq "the relay logged the refusals for tenant-a's address" "2" \
	"$(grep -F "NOQUEUE: reject: RCPT from unknown[$TA]: $REJECT;" "$LAB_MAILLOG" | wc -l)"

# ---- 4: kernel tag and audit -------------------------------------------------------------

expect_eq "relayguardctl hosts: $TA/32 is tenant-b's (id $ID_B)" "tenant-b $ID_B" \
	"$(host "$TA/32" tenant) $(host "$TA/32" tenant_id)"
expect_eq "bpftool: the pinned hosts entry of $TA carries tenant-b's id" "$ID_B" \
	"$(bpftool -j map dump pinned "$LAB_PIN_DIR/hosts" |
		jq "[.[] | .formatted | select(.key.addr[12:] == [192,0,2,10]) | .value.tenant_id][0]")"
expect_eq "audit: tenant_restricted says sasl, and that the connector named tenant-a" \
	"tenant-b sasl tenant-a" \
	"$(jq -r 'select(.event=="tenant_restricted") | "\(.tenant) \(.matched_by) \(.connector_tenant)"' \
		"$AUDIT")"
expect_eq "audit: the host's attribution to tenant-b, by certificate subject first" \
	"tenant-b cert_subject tenant-a $TA/32" \
	"$(jq -r 'select(.event=="host_attributed") | "\(.tenant) \(.matched_by) \(.connector_tenant) \(.host)"' \
		"$AUDIT" | head -1)"
expect_eq "relayguardctl tenants --json: tenant-b's keys" "0 2 0 0" \
	"$(lab_ctl tenants --json | jq -r '.tenants[] | select(.name=="tenant-b") | .keys |
		"\(.connectors - 2) \(.sasl_users) \(.cert_subjects) \(.cert_fingerprints)"')"
lab_ctl tenants | grep -E '^tenant-b .* ip,sasl$' >/dev/null && ok "relayguardctl tenants: KEYS ip,sasl" ||
	fail "relayguardctl tenants: KEYS ip,sasl ($(lab_ctl tenants | grep '^tenant-b'))"

# ---- 5: the same login in two tenants -------------------------------------------------------

{ cat "$BASE"; echo "sasl_users = scanner01"; printf '[tenant dup]\nsasl_users = scanner01\n'; } \
	>"$T/dup.conf"
"$LAB_RELAYGUARDD" -t -c "$T/dup.conf" >"$T/dup.out" 2>&1
expect_eq "relayguardd -t refuses it" "1" "$([ -s "$T/dup.out" ] && grep -c \
	"duplicate sasl_users entry 'scanner01' in tenant 'dup': already in tenant 'tenant-b'" \
	"$T/dup.out")"
cp "$T/dup.conf" "$LAB_CONF"
if lab_ctl reload >"$T/reload.out" 2>&1; then
	fail "reload refuses the duplicate"
else
	ok "reload refuses the duplicate"
fi
swaks_as d1 $(login scanner01) -f q@spam.example
expect_eq "the running configuration stayed: scanner01 is still tenant-b's" "1" "$(refused d1)"

expect_eq "every audit line is JSON" "0" "$(jq -c . "$AUDIT" >/dev/null 2>&1; echo $?)"
done_testing
