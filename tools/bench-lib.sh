# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# bench-lib.sh: the preamble of every tools/bench-*.sh, sourced first: BUILD (default
# build), ROOT (the tree, made the working directory), BENCH (the script's name for its
# messages), and the checks each benchmark starts with. Also brings in the fixture of
# tests/lib.sh (namespaces with no default route, veth, starting relayguardd, one cleanup
# registry run at exit) for benchmarks that set up what the tests set up.

: "${BUILD:=build}"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
BENCH=$(basename "$0")
# BENCH_KEEP=1 keeps the benchmark's directory (logs, configuration) after the run.
[ -n "${BENCH_KEEP:-}" ] && RG_KEEP=1
# shellcheck source=tests/lib.sh
. "$ROOT/tests/lib.sh"

# bench_need_root [WHY]: exit 1 unless running as root.
bench_need_root() {
	[ "$(id -u)" -eq 0 ] && return 0
	echo "$BENCH: needs root${1:+ ($1)}" >&2
	exit 1
}

# bench_need_cmd CMD...: exit 1 naming the first CMD not in PATH (make deps installs them).
bench_need_cmd() {
	local c
	for c; do
		command -v "$c" >/dev/null 2>&1 && continue
		echo "$BENCH: $c not installed (make deps)" >&2
		exit 1
	done
}

# bench_need_built PROG...: builds each $BUILD/PROG that is missing (installs nothing).
bench_need_built() {
	local t
	for t; do
		[ -x "$BUILD/$t" ] || make -s BUILD="$BUILD" NO_DEPS=1 "$BUILD/$t" || exit 1
	done
}
