#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# deb.sh: the Debian package on this machine. Builds it once with `make deb` (lintian must
# pass), installs it with apt-get as an operator would, checks every file, the conffiles,
# the monitor-mode configuration (relayguardd -t), the enabled unit and logrotate, upgrades
# over itself keeping an edited conffile, and purges: nothing the package or its agent
# wrote is left. Really installs as root: run under the shared test lock. It refuses to run
# where relayguard is installed already (by dpkg or into /etc/relayguard, /usr/sbin), so an
# operator's installation is never touched; the package's /usr paths do not meet make
# install's /usr/local ones. The unit cannot be started here (systemd is not PID 1): the
# suite checks it is enabled and says so.
set -u
. "$(dirname "$0")/../lib.sh"
cd "$RG_ROOT" || exit 1

if [ "$(id -u)" -ne 0 ]; then
	skip "the package suite installs packages" "not root"
	done_testing
	exit
fi
status=$(dpkg-query -W -f='${Status}' relayguard 2>/dev/null || true)
for p in /etc/relayguard /var/lib/relayguard /usr/sbin/relayguardd; do
	[ -e "$p" ] && status="$status $p exists"
done
if [ -n "${status// /}" ] && [ "$status" != "unknown ok not-installed" ]; then
	skip "the package suite" "relayguard is installed here already ($status): not touching it"
	done_testing
	exit
fi

T=$(mktemp -d /tmp/rg-deb.XXXXXX)
installed=0
cleanup() {
	[ $installed -eq 1 ] && dpkg --purge relayguard >/dev/null 2>&1
	rm -rf "$T"
}
trap cleanup EXIT
export DEBIAN_FRONTEND=noninteractive
WANTS=/etc/systemd/system/multi-user.target.wants/relayguardd.service

if out=$(make -s NO_DEPS=1 BUILD="$BUILD" deb 2>&1); then
	ok "make deb builds the package and lintian passes"
else
	fail "make deb builds the package and lintian passes"
	echo "$out" | tail -20 | sed 's/^/#   /'
	done_testing
	exit
fi
ver=$(sed -n 's/^#define RG_VERSION "\(.*\)"/\1/p' user/version.h)
deb="$BUILD/relayguard_${ver}_$(dpkg --print-architecture).deb"
[ -f "$deb" ] && ok "the package is $deb" || fail "no $deb"

# Depends: shared libraries only (each names a package that ships a .so), nothing else.
deps=$(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed 's/(.*//; s/ //g' | grep .)
notlib=""
for d in $deps; do
	dpkg -L "$d" 2>/dev/null | grep -q '\.so[.0-9]*$' || notlib="$notlib $d"
done
[ -n "$deps" ] && ok "the package has a Depends field" || fail "the package has a Depends field"
expect_eq "Depends names runtime libraries only ($(echo $deps))" "" "$notlib"

# Every path in the package, and which of them this machine had before: after the purge
# exactly those may exist.
dpkg-deb --fsys-tarfile "$deb" | tar -t | sed 's|^\./|/|; s|/$||' | grep -v '^/\?$' >"$T/paths"
while read -r p; do [ -e "$p" ] && echo "$p"; done <"$T/paths" >"$T/before"

out=$(apt-get install -y -q --no-install-recommends "./$deb" </dev/null 2>&1)
if [ "$(dpkg-query -W -f='${Status}' relayguard 2>/dev/null)" = "install ok installed" ]; then
	installed=1
	ok "apt-get install ./$(basename "$deb")"
	id -u relayguard >/dev/null 2>&1 && ok "postinst: the user relayguard exists" ||
		fail "postinst: the user relayguard exists"
else
	fail "apt-get install ./$(basename "$deb")"
	echo "$out" | tail -20 | sed 's/^/#   /'
	done_testing
	exit
fi

for f in /usr/sbin/relayguardd:755 /usr/sbin/relayguardctl:755 \
	/usr/lib/relayguard/relayguard.bpf.o:644 /usr/lib/relayguard/add-user:755 /usr/lib/relayguard/notify-mail:755 \
	/usr/share/man/man8/relayguardd.8.gz:644 \
	/usr/share/man/man8/relayguardctl.8.gz:644 /usr/share/man/man5/relayguard.conf.5.gz:644 \
	/lib/systemd/system/relayguardd.service:644 /etc/relayguard/relayguard.conf:644 \
	/etc/relayguard/contoso.domains:644 /etc/relayguard/tenants.d/example.conf.sample:644 \
	/etc/logrotate.d/relayguard:644 /usr/share/bash-completion/completions/relayguardctl:644 \
	/usr/share/doc/relayguard/copyright:644 /var/lib/relayguard:700; do
	p=${f%:*} want=${f#*:}
	expect_eq "installed $p mode $want" "$want" "$(stat -c %a "$p" 2>/dev/null)"
done
conffiles=$(dpkg-query -W -f='${Conffiles}\n' relayguard | awk 'NF { print $1 }' | sort |
	tr '\n' ' ')
expect_eq "conffiles" "/etc/logrotate.d/relayguard /etc/relayguard/contoso.domains \
/etc/relayguard/relayguard.conf /etc/relayguard/tenants.d/example.conf.sample " "$conffiles"
expect_eq "the installed configuration starts in monitor mode" "mode = monitor" \
	"$(grep -o '^mode = [a-z]*' /etc/relayguard/relayguard.conf)"
check "relayguardd -t accepts the installed configuration" \
	/usr/sbin/relayguardd -t -c /etc/relayguard/relayguard.conf
grep -q '^ExecStart=/usr/sbin/relayguardd -f -c /etc/relayguard/relayguard.conf$' \
	/lib/systemd/system/relayguardd.service && ok "the unit starts the packaged binary" ||
	fail "the unit starts the packaged binary"
expect_eq "the unit is enabled" "/lib/systemd/system/relayguardd.service" \
	"$(readlink "$WANTS")"
if [ -d /run/systemd/system ]; then
	diag "systemd is PID 1 here, but the suite does not start the unit"
else
	diag "systemd is not PID 1 on this machine: the unit is installed and enabled, not run"
fi
check "logrotate accepts /etc/logrotate.d/relayguard" \
	logrotate -d -s "$T/logrotate.state" /etc/logrotate.d/relayguard
expect_eq "logrotate signals SIGUSR1 after rotating, never copytruncate" "1 0" \
	"$(grep -c 'signal=USR1' /etc/logrotate.d/relayguard) $(grep -c copytruncate /etc/logrotate.d/relayguard)"
check "relayguardd(8) is readable with man" man -P cat relayguardd
# bash-completion's own loader finds the installed completion on first use.
expect_eq "bash-completion loads relayguardctl's completion" "complete -F _relayguardctl relayguardctl" \
	"$(bash -c '. /usr/share/bash-completion/bash_completion
		_completion_loader relayguardctl; complete -p relayguardctl' 2>&1)"
# What the agent would write there; purge must take it too.
echo '{}' >/var/lib/relayguard/state.json
echo '{}' >/var/lib/relayguard/audit.log

echo "# edited by the operator" >>/etc/relayguard/relayguard.conf
out=$(dpkg -i "$deb" </dev/null 2>&1)
expect_eq "dpkg -i over the installed version succeeds" "install ok installed" \
	"$(dpkg-query -W -f='${Status}' relayguard 2>/dev/null)"
grep -q "edited by the operator" /etc/relayguard/relayguard.conf &&
	ok "the upgrade keeps the edited conffile" || fail "the upgrade keeps the edited conffile"
[ -f /var/lib/relayguard/state.json ] && ok "the upgrade keeps the agent's state" ||
	fail "the upgrade keeps the agent's state"
expect_eq "the unit is still enabled" "/lib/systemd/system/relayguardd.service" \
	"$(readlink "$WANTS")"

out=$(dpkg --purge relayguard </dev/null 2>&1)
expect_eq "dpkg --purge relayguard" "" "$(dpkg-query -W -f='${Status}' relayguard 2>/dev/null |
	grep -v 'not-installed')"
installed=0
left=$(while read -r p; do [ -e "$p" ] && echo "$p"; done <"$T/paths" |
	grep -vxF -f "$T/before" | tr '\n' ' ')
expect_eq "purge leaves none of the package's paths that were not here before" "" "$left"
for p in /etc/relayguard /var/lib/relayguard "$WANTS" \
	/var/lib/systemd/deb-systemd-helper-enabled/relayguardd.service.dsh-also; do
	[ ! -e "$p" ] && [ ! -L "$p" ] && ok "purge removes $p" || fail "purge removes $p"
done
done_testing
