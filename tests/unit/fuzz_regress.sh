#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# fuzz_regress.sh: replays every committed fuzz corpus file (tests/fuzz/corpus/<target>/)
# and every reproducer of a fixed finding (tests/fuzz/regress/<target>/) through each fuzz
# target built as a plain ASan+UBSan program ($BUILD/tests/fuzz/<target>, make
# fuzz-regress; make test builds them). A target fails when the sanitizers or its own
# invariant checks abort on any input, or when it did not replay every file.
. "$(dirname "$0")/../lib.sh"
cd "$RG_ROOT" || exit 1

targets=$(cd tests/fuzz && ls fuzz_*.c | sed 's/\.c$//')
missing=0
for t in $targets; do
	[ -x "$BUILD/tests/fuzz/$t" ] || missing=1
done
if [ $missing -eq 1 ]; then
	if command -v clang >/dev/null; then
		make -s NO_DEPS=1 BUILD="$BUILD" fuzz-regress >/dev/null 2>&1
	else
		skip "clang not installed: fuzz replay programs not built"
		done_testing
		exit
	fi
fi

export ASAN_OPTIONS=abort_on_error=0:detect_leaks=1:allocator_may_return_null=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for t in $targets; do
	bin="$BUILD/tests/fuzz/$t"
	if [ ! -x "$bin" ]; then
		fail "$t: $bin was not built (make fuzz-regress)"
		continue
	fi
	for set in corpus regress; do
		dir="tests/fuzz/$set/$t"
		n=$(find "$dir" -type f ! -name '.*' 2>/dev/null | wc -l)
		if [ "$n" -eq 0 ]; then
			[ $set = corpus ] && fail "$t: no seed corpus in $dir"
			continue
		fi
		out=$("$bin" "$dir" 2>&1)
		rc=$?
		if [ $rc -eq 0 ] && grep -qx "replayed $n inputs" <<<"$out"; then
			ok "$t: $n $set inputs replay clean under ASan+UBSan"
		else
			fail "$t: $set replay (exit $rc)"
			grep -E 'replay |ERROR|runtime error|invariant|SUMMARY' <<<"$out" | tail -8 |
				sed 's/^/#   /'
		fi
	done
done

# Edges of the replay itself: an empty input is replayed (not skipped), an unreadable one
# is an error (a reproducer that vanished must not pass silently).
empty=$(mktemp)
trap 'rm -f "$empty"' EXIT
for t in $targets; do
	[ -x "$BUILD/tests/fuzz/$t" ] || continue
	check "$t: empty input replays" "$BUILD/tests/fuzz/$t" "$empty"
done
if [ -x "$BUILD/tests/fuzz/fuzz_policy" ]; then
	if "$BUILD/tests/fuzz/fuzz_policy" "$empty.none" >/dev/null 2>&1; then
		fail "replay reports an unreadable input as an error"
	else
		ok "replay reports an unreadable input as an error"
	fi
fi
done_testing
