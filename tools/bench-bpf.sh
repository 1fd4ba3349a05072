#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# bench-bpf.sh: runs $BUILD/bench-bpf (ns/packet of the relayguard XDP program vs
# xdp-filter and a trivial program under BPF_PROG_TEST_RUN) as `make bench-bpf` does.
# xdp-filter's maps pin by name, so the tool runs in a private mount namespace with its own
# bpffs as pin root: nothing lands in the system's /sys/fs/bpf, and the tool unpins what it
# pinned before the namespace (and its bpffs) goes away. Without unshare it mounts bpffs at
# /sys/fs/bpf if needed and runs with pinning cleared. Extra arguments go to the tool
# (--repeat N, --rounds N). Prints the tool's table and its `bench-bpf CLASS ...` lines.
set -euo pipefail
: "${BUILD:=build}"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BIN="$ROOT/$BUILD/bench-bpf"

if [ ! -x "$BIN" ]; then
	echo "bench-bpf.sh: $BIN not built (make BUILD=$BUILD $BUILD/bench-bpf)" >&2
	exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "bench-bpf.sh: BPF_PROG_TEST_RUN needs root" >&2
	exit 1
fi

tmp=$(mktemp -d /tmp/rgk-bench.XXXXXX)
cleanup() {
	# The bpffs was mounted in the private namespace only; this is an empty directory.
	rmdir "$tmp" 2>/dev/null || rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

if unshare -m --propagation private true 2>/dev/null; then
	unshare -m --propagation private sh -c 'mount -t bpf bpf "$1" && shift && exec "$@"' \
		sh "$tmp" "$BIN" --pin-root "$tmp" "$@"
else
	if ! mountpoint -q /sys/fs/bpf; then
		mount -t bpf bpf /sys/fs/bpf
	fi
	"$BIN" "$@"
fi
