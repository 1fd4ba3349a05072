#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# bench-domains.sh: runs $BUILD/bench-domains (load time, lookups/s on one core and memory of
# the accepted-domain index for 10k, 100k and 1M entries; see tools/bench-domains.c). Pinned
# to one CPU with taskset when it is there, so lookups/s is a per-core figure. Extra arguments
# go to the tool (--lookups N, --queries N, ENTRIES:TENANTS ...). Prints the tool's table and
# its `bench-domains entries=N ...` lines. A benchmark, not a test: it asserts no timings,
# but exits non-zero if the index gave a wrong answer.
. "$(dirname "$0")/bench-lib.sh"
set -euo pipefail
bench_need_built bench-domains
BIN="$ROOT/$BUILD/bench-domains"
pin=()
if command -v taskset >/dev/null 2>&1; then
	cpu=$(taskset -cp $$ 2>/dev/null | sed -n 's/.*: *\([0-9]*\).*/\1/p')
	pin=(taskset -c "${cpu:-0}")
fi
echo "# bench-domains on $(nproc) CPUs ($(uname -m)), one core used"
exec "${pin[@]}" "$BIN" "$@"
