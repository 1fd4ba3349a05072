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
. "$(dirname "$0")/bench-lib.sh"
set -euo pipefail
bench_need_built bench-bpf
bench_need_root "BPF_PROG_TEST_RUN"
BIN="$ROOT/$BUILD/bench-bpf"

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
