#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# install.sh: make install DESTDIR=... PREFIX=/usr into a temp tree: every file in place with
# its mode, the installed example configuration is valid, a second install keeps an edited
# configuration, uninstall removes what install put there and not the operator's file, the
# man pages render without warnings, the unit names the installed binary. make install runs
# no package manager (apt-get, apt, dpkg-query and debconf-set-selections are recording
# stubs first in PATH) and make deps does.
set -u
. "$(dirname "$0")/../lib.sh"
cd "$RG_ROOT" || exit 1

T=$(mktemp -d /tmp/rg-install.XXXXXX)
S=$(mktemp -d /tmp/rg-stubs.XXXXXX)
trap 'rm -rf "$T" "$S"' EXIT
mk() { make -s NO_DEPS=1 BUILD="$BUILD" DESTDIR="$T" PREFIX=/usr "$@" 2>&1; }

# Stubs that record each call and succeed: what runs them is seen, nothing is installed.
for c in apt-get apt dpkg-query debconf-set-selections; do
	printf '#!/bin/sh\necho "%s $*" >>"%s"\n' "$c" "$S/log" >"$S/$c"
	chmod 0755 "$S/$c"
done
# Without NO_DEPS: what a plain `make install` does on a relay.
out=$(PATH="$S:$PATH" make -s BUILD="$BUILD" DESTDIR="$T" PREFIX=/usr install 2>&1) &&
	ok "make install DESTDIR PREFIX=/usr" ||
	{ fail "make install"; echo "$out" | sed 's/^/#   /'; }
expect_eq "make install ran no apt-get, apt, dpkg-query or debconf-set-selections" "" \
	"$(cat "$S/log" 2>/dev/null)"
rm -f "$S/log"
PATH="$S:$PATH" make -s BUILD="$BUILD" deps >/dev/null 2>&1
grep -q '^dpkg-query ' "$S/log" 2>/dev/null && ok "make deps asks dpkg-query what is installed" ||
	fail "make deps asks dpkg-query what is installed"
out=$(CC=/nonexistent/cc tools/deps.sh --check 2>&1)
expect_eq "a missing build dependency is named with its package" \
	"deps.sh: C compiler /nonexistent/cc not found (Debian package gcc, or: make deps)" "$out"
for f in usr/sbin/relayguardd:755 usr/sbin/relayguardctl:755 \
	usr/lib/relayguard/relayguard.bpf.o:644 usr/lib/relayguard/add-user:755 \
	usr/lib/relayguard/notify-mail:755 \
	usr/share/man/man8/relayguardd.8:644 \
	usr/share/man/man8/relayguardctl.8:644 usr/share/man/man5/relayguard.conf.5:644 \
	usr/lib/systemd/system/relayguardd.service:644 etc/relayguard/relayguard.conf:644 \
	etc/relayguard/contoso.domains:644 etc/relayguard/tenants.d/example.conf.sample:644 \
	usr/share/bash-completion/completions/relayguardctl:644; do
	p=${f%:*} want=${f#*:}
	expect_eq "installed $p mode $want" "$want" "$(stat -c %a "$T/$p" 2>/dev/null)"
done
grep -q '^ExecStart=/usr/sbin/relayguardd -f -c /etc/relayguard/relayguard.conf$' \
	"$T/usr/lib/systemd/system/relayguardd.service" && ok "unit starts the installed binary" ||
	fail "unit starts the installed binary"
if [ -x "$BUILD/relayguardd" ]; then
	check "installed example configuration passes relayguardd -t" \
		"$T/usr/sbin/relayguardd" -t -c "$T/etc/relayguard/relayguard.conf"
else
	skip "installed example configuration passes relayguardd -t" "no $BUILD/relayguardd yet"
fi
# verify checks that ExecStart's binary exists: a second install with PREFIX inside $T (no
# DESTDIR) gives a unit naming real files. --man=no: the pages are not in the system's MANPATH.
if command -v systemd-analyze >/dev/null; then
	mk install PREFIX="$T/p" SYSCONFDIR="$T/p/etc" DESTDIR= >/dev/null
	out=$(systemd-analyze verify --man=no "$T/p/lib/systemd/system/relayguardd.service" 2>&1)
	expect_eq "systemd-analyze verify accepts the unit" "" "$out"
	rm -rf "$T/p"
else
	skip "systemd-analyze verify accepts the unit" "no systemd-analyze"
fi

echo "# edited by the operator" >>"$T/etc/relayguard/relayguard.conf"
mk install >/dev/null
grep -q "edited by the operator" "$T/etc/relayguard/relayguard.conf" &&
	ok "a second install keeps the operator's configuration" ||
	fail "a second install keeps the operator's configuration"

for m in tools/man/*.[58]; do
	w=$(groff -man -ww -z "$m" 2>&1; man -l -Tutf8 "$m" 2>&1 >/dev/null)
	expect_eq "man page $(basename "$m") renders without warnings" "" "$w"
done

mk uninstall >/dev/null
left=$(cd "$T" && find . -type f | sort | tr '\n' ' ')
expect_eq "uninstall leaves only the operator's configuration" \
	"./etc/relayguard/contoso.domains ./etc/relayguard/relayguard.conf " "$left"
grep -q "edited by the operator" "$T/etc/relayguard/relayguard.conf" &&
	ok "uninstall keeps the edited configuration as it was" ||
	fail "uninstall keeps the edited configuration as it was"
for d in usr/lib/relayguard etc/relayguard/tenants.d; do
	[ ! -e "$T/$d" ] && ok "uninstall removes the empty $d" || fail "uninstall removes $d"
done
expect_eq "uninstall leaves no empty directory that install created" "" \
	"$(cd "$T" && find . -mindepth 1 -type d -empty | sort | tr '\n' ' ')"
done_testing
