#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# deps.sh: installs what relayguard needs to build, test and run its lab on Debian 12, and
# does nothing (quickly) when everything is there. Used by make, make test, make demo, CI.
set -euo pipefail

PKGS=(
	# build
	clang llvm make gcc pkg-config libbpf-dev libelf-dev zlib1g-dev bpftool
	libinih-dev libidn2-dev libjson-c-dev libmicrohttpd-dev libsystemd-dev linux-libc-dev
	# tests
	libcmocka-dev iproute2 util-linux procps python3 curl jq socat man-db
	# lab, demo and benchmarks
	postfix netsniff-ng xdp-tools nftables iptables postfwd gnuplot-nox fail2ban
	valgrind cppcheck clang-tidy
)

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
