/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * privs.h: dropping what the agent no longer needs once it has attached, pinned and bound
 * its sockets. It keeps CAP_BPF only: every bpf(2) call (map reads and writes, pins) needs
 * it while kernel.unprivileged_bpf_disabled is set, as it is on Debian; nothing else the
 * running agent does needs a capability once the files it writes belong to its user.
 */
#ifndef RG_PRIVS_H
#define RG_PRIVS_H

#include <stdbool.h>
#include <stddef.h>

struct rg_privs_opts {
	const char *user;		/* the user to become; "root": stay uid 0 (warned) */
	bool allow_privileged;		/* falling short of the target is a warning, not fatal */
	/* Directories given to the user with their entries (not recursively, no link
	 * followed) before the drop: state_dir, pin_dir. */
	const char *const *dirs;
	size_t n_dirs;
	/* Files given to the user when they exist (the audit log). */
	const char *const *files;
	size_t n_files;
	/* Its directory is given to the user only when it is private (mode 0700, as the
	 * agent creates it): never a shared directory such as /run. */
	const char *control_socket;
};

/*
 * Become opts->user keeping CAP_BPF (PR_SET_KEEPCAPS across setuid), drop every other
 * capability from the bounding (when CAP_SETPCAP allows), ambient, inheritable, permitted
 * and effective sets, and set no_new_privs. Each step that can be done is done; then the
 * result is checked against the target: effective = permitted = {CAP_BPF}, inheritable
 * empty, no_new_privs, and no uid 0 unless user is root. 0 on the target (or short of it
 * with allow_privileged, loudly warned), -EPERM with the reasons logged otherwise.
 */
int rg_drop_privileges(const struct rg_privs_opts *opts);

/* The same steps for a process that stays who it is (the sock_keeper: uid 0): every
 * capability but cap dropped from the bounding, ambient, inheritable, permitted and
 * effective sets, and no_new_privs. 0 when exactly there, -EPERM (logged) otherwise. */
int rg_privs_keep_only(int cap);
/*
 * The notifier's drop (notify.h): become user (root: keep uid 0) and its supplementary
 * groups (postdrop, for sendmail under no_new_privs) with no capability in
 * any set, the bounding set emptied where CAP_SETPCAP allows, and no_new_privs, so what
 * it runs gains nothing. 0, or -EPERM (logged) when any of it is not reached.
 */
int rg_drop_all_privileges(const char *user);

#endif /* RG_PRIVS_H */
