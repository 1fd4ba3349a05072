#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# config_check.sh: `relayguardd -t` as an operator runs it, on files in a private directory
# (no root, no network). Warnings ("FILE:LINE: warning: ...") go to stderr and keep exit
# 0; errors exit 78; a FIFO matched by an include is refused at once instead of hanging;
# a file that cannot be opened is "FILE: cannot open: reason" (it has no line).
. "$(dirname "$0")/../lib.sh"
cd "$RG_ROOT" || exit 1

AGENT="$BUILD/relayguardd"
[ -x "$AGENT" ] || make -s NO_DEPS=1 BUILD="$BUILD" "$AGENT" >/dev/null 2>&1
D=$(mktemp -d /tmp/rg-config-check.XXXXXX)
trap 'rm -rf "$D"' EXIT

# run FILE: sets rc, out (stdout) and err (stderr); at most 20 s
run() {
	out=$(timeout 20 "$AGENT" -t -c "$1" 2>"$D/stderr")
	rc=$?
	err=$(cat "$D/stderr")
}

printf '[agent]\ninterfaces = lo\ninterfaces = nosuch0\n[tenant empty]\n' >"$D/warn.conf"
run "$D/warn.conf"
expect_eq "-t exits 0 with warnings only" 0 "$rc"
expect_eq "-t names the missing interface at its line" \
	"$D/warn.conf:3: warning: interface 'nosuch0' does not exist" \
	"$(grep -F nosuch0 <<<"$err")"
expect_eq "-t warns twice for a tenant with no connectors and no domains" 2 \
	"$(grep -c "^$D/warn.conf:4: warning: tenant 'empty' has no " <<<"$err")"
case "$out" in *": OK: "*) ok "-t still says OK" ;; *) fail "-t still says OK: $out" ;; esac

printf '[agent]\ninterfaces = lo\n[tenant ok]\nconnectors = 192.0.2.0/24\naccepted_domains = ok.example\n' \
	>"$D/good.conf"
run "$D/good.conf"
expect_eq "-t on a complete file: exit 0" 0 "$rc"
expect_eq "-t on a complete file: no warning" "" "$err"

printf '[agent]\ninterfaces = lo\nmode = sometimes\n' >"$D/bad.conf"
run "$D/bad.conf"
expect_eq "-t on an error: exit 78" 78 "$rc"
expect_eq "-t on an error: FILE:LINE: reason" \
	"$D/bad.conf:3: bad value for 'mode': 'sometimes': expected enforce or monitor" "$err"

mkdir "$D/inc"
mkfifo "$D/inc/fifo.conf"
printf '[agent]\ninterfaces = lo\ninclude = inc/*.conf\n' >"$D/fifo.conf"
run "$D/fifo.conf"
expect_eq "-t refuses a FIFO an include matched: exit 78 (124: it hung)" 78 "$rc"
case "$err" in *"$D/fifo.conf:3: cannot read included file"*"not a regular file"*)
	ok "-t says the FIFO is not a regular file" ;;
*) fail "-t says the FIFO is not a regular file: $err" ;; esac

run "$D/nosuch.conf"
expect_eq "-t on a missing file: exit 78" 78 "$rc"
expect_eq "-t on a missing file: FILE: cannot open: reason" \
	"$D/nosuch.conf: cannot open: No such file or directory" "$err"

run tools/examples/relayguard.conf
expect_eq "-t accepts the shipped example" 0 "$rc"
expect_eq "the shipped example starts in monitor mode" "mode = monitor" \
	"$(grep -o '^mode = [a-z]*' tools/examples/relayguard.conf)"

done_testing
