#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# static_analysis.sh: cppcheck over every userspace C file (warning, performance and
# portability checks); any finding fails. libbpf's option macros are defined away because
# cppcheck does not read system headers here. Suppressions, each with its reason:
#   none. (clang-tidy's analyzer is not run in CI yet: its findings on user/policy.c and
#   user/config.c are false positives of list unlinking it does not follow; see the notes.)
set -u
. "$(dirname "$0")/../lib.sh"
cd "$RG_ROOT" || exit 1

out=$(cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability --std=c11 \
	--inline-suppr -D__x86_64__ -D'LIBBPF_OPTS(...)=' -D'DECLARE_LIBBPF_OPTS(...)=' \
	-D'bpf_object__for_each_map(...)=for(;;)' -D'bpf_object__for_each_program(...)=for(;;)' \
	-I user -I bpf user/*.c tools/*.c tests/helpers/*.c 2>&1)
rc=$?
if [ $rc -eq 0 ] && [ -z "$out" ]; then
	ok "cppcheck: no findings in user/, tools/, tests/helpers/"
else
	fail "cppcheck: findings"
	printf '%s\n' "$out" | head -40 | sed 's/^/#   /'
fi
done_testing
