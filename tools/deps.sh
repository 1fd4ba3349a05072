#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# deps.sh: installs what relayguard needs to build, test and run its lab on Debian 12, and
# does nothing (quickly) when everything is there. Run by `make deps`, which make test,
# make demo, make bench* and CI call; a plain make or make install never runs it.
# `deps.sh --check` installs nothing and asks no package manager: it probes the compiler
# and PATH for each build dependency (what a build would fail on) and names the Debian
# package of every one missing; exit 1 if any is. make runs it before building.
set -euo pipefail

# What `make` compiles and links with (the probes below); the rest is for tests and the lab.
BUILD_PKGS=(clang make gcc libbpf-dev libelf-dev zlib1g-dev bpftool libidn2-dev
	libjson-c-dev libmicrohttpd-dev libsystemd-dev libseccomp-dev libhiredis-dev linux-libc-dev)
PKGS=(
	"${BUILD_PKGS[@]}" llvm pkg-config
	# tests
	libcmocka-dev iproute2 util-linux procps python3 curl jq socat man-db
	# the fleet's Redis, for its suites and make demo-fleet
	redis-server redis-sentinel redis-tools
	# make deb and its test, alerting rules, completion
	debhelper dpkg-dev lintian logrotate bash-completion prometheus
	# lab, demo and benchmarks
	postfix netsniff-ng xdp-tools nftables iptables postfwd gnuplot-nox fail2ban
	# the lab's TLS client certificates and SASL (LAB_AUTH=1, tests/e2e/relay_auth.sh)
	openssl swaks dovecot-core
	valgrind cppcheck clang-tidy
)

# What the build needs from each build package: a command (cmd:NAME) or a header the C
# compiler must find (hdr:PATH). Probing the compiler, not dpkg, is what the build sees.
declare -A PROBE=(
	[clang]=cmd:clang [make]=cmd:make [gcc]=cmd:gcc [bpftool]=cmd:bpftool
	[libbpf-dev]=hdr:bpf/libbpf.h
	[libelf-dev]=hdr:libelf.h [zlib1g-dev]=hdr:zlib.h
	[libidn2-dev]=hdr:idn2.h [libjson-c-dev]=hdr:json-c/json.h
	[libmicrohttpd-dev]=hdr:microhttpd.h [libsystemd-dev]=hdr:systemd/sd-daemon.h
	[libseccomp-dev]=hdr:seccomp.h [libhiredis-dev]=hdr:hiredis/async.h
	[linux-libc-dev]=hdr:linux/bpf.h
)

if [ "${1:-}" = --check ]; then
	if ! command -v "${CC:-gcc}" >/dev/null 2>&1; then
		echo "deps.sh: C compiler ${CC:-gcc} not found (Debian package gcc, or: make deps)" >&2
		exit 1
	fi
	missing=()
	for p in "${BUILD_PKGS[@]}"; do
		probe=${PROBE[$p]}
		case $probe in
		cmd:*) command -v "${probe#cmd:}" >/dev/null 2>&1 || missing+=("$p") ;;
		hdr:*) printf '#include <%s>\n' "${probe#hdr:}" |
			"${CC:-gcc}" -E -x c - >/dev/null 2>&1 || missing+=("$p") ;;
		esac
	done
	[ ${#missing[@]} -eq 0 ] && exit 0
	for p in "${missing[@]}"; do
		echo "deps.sh: missing build dependency ${PROBE[$p]#*:} (Debian package $p)" >&2
	done
	echo "deps.sh: install them with: apt-get install ${missing[*]} (or: make deps)" >&2
	exit 1
fi

missing=()
for p in "${PKGS[@]}"; do
	# dpkg-query is fast; only status "install ok installed" counts.
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$st" = "install ok installed" ] || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "deps.sh: missing packages: ${missing[*]}" >&2
		echo "deps.sh: run as root (or: apt-get install ${missing[*]})" >&2
		exit 1
	fi
	echo "deps.sh: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	# Postfix asks what kind of server it is; the lab writes its own config dirs.
	echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
	apt-get update -q >&2
	apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi

# The BPF filesystem is not mounted at boot on every machine.
if [ "$(id -u)" -eq 0 ] && ! mountpoint -q /sys/fs/bpf; then
	mount -t bpf bpf /sys/fs/bpf
fi
exit 0
