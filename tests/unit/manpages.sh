#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# manpages.sh: the man pages name what the programs have: every option relayguardd --help
# prints is in relayguardd(8), every command relayguardctl help lists is in
# relayguardctl(8), and every JSON field the agent's control replies carry
# (user/agent_ctl.c) is in relayguardctl(8)'s JSON OUTPUT.
set -u
. "$(dirname "$0")/../lib.sh"
cd "$RG_ROOT" || exit 1

# text PAGE: the page's source with roff's \- and font escapes plain (rendered text would
# hyphenate long names at line ends).
text() { sed 's/\\-/-/g; s/\\f[BIRP]//g' "$1"; }

D8=$(text tools/man/relayguardd.8)
expect_eq "relayguardd --version prints its version" "relayguardd 0.1.0" \
	"$("$BUILD/relayguardd" --version)"
for o in $("$BUILD/relayguardd" --help | grep -oE '(^|[ ,])--?[a-zA-Z][a-z-]*' | tr -d ' ,' | sort -u); do
	echo "$D8" | grep -qE -- "(^|[^a-zA-Z-])$o([^a-zA-Z-]|$)" && ok "relayguardd(8) has $o" ||
		fail "relayguardd(8) has $o"
done

C8=$(text tools/man/relayguardctl.8)
for c in $("$BUILD/relayguardctl" help | sed -n 's/^  \([a-z][a-z-]*\).*/\1/p' | sort -u); do
	echo "$C8" | grep -qE "^\.(B|BR|BI) \"?$c( |\"|$)" && ok "relayguardctl(8) describes $c" ||
		fail "relayguardctl(8) describes $c"
done

J8=$(echo "$C8" | sed -n '/^\.SH JSON OUTPUT/,/^\.SH EXIT STATUS/p')
for k in $(grep -oE 'json_object_object_add\([a-z]+, "[a-z_]+"' user/agent_ctl.c |
	sed 's/.*"\(.*\)"/\1/' | sort -u); do
	echo "$J8" | grep -qw -- "$k" && ok "relayguardctl(8) JSON OUTPUT has $k" ||
		fail "relayguardctl(8) JSON OUTPUT has $k"
done
done_testing
