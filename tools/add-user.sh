#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# add-user.sh [NAME [HOME]]: creates the system user relayguardd drops to (default
# relayguard, home /var/lib/relayguard, no login shell, its own group) when it does not
# exist; does nothing when it does. Run by make install (without DESTDIR), the Debian
# package's postinst (installed as /usr/lib/relayguard/add-user) and the test fixture.
# The user joins Postfix's group postdrop when it exists: the notifier runs notify_command
# with the user's groups and no_new_privs, under which postdrop's set-gid bit does nothing,
# so the group is how its sendmail may queue mail. Exit 0 when the user exists afterwards.
set -e
name=${1:-relayguard}
home=${2:-/var/lib/relayguard}
id -u "$name" >/dev/null 2>&1 ||
	useradd --system --user-group --no-create-home --home-dir "$home" \
		--shell /usr/sbin/nologin --comment "relayguard agent" "$name"
if getent group postdrop >/dev/null && ! id -nG "$name" | tr ' ' '\n' | grep -qx postdrop; then
	usermod -a -G postdrop "$name"
fi
