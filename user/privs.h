/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * privs.h: dropping what the agent no longer needs once it has attached, pinned and bound
 * its sockets. It keeps CAP_BPF only: every bpf(2) call (map reads and writes, pins) needs
 * it while kernel.unprivileged_bpf_disabled is set, as it is on Debian; nothing else the
 * running agent does needs a capability (its files are its own, its sockets are bound).
 */
#ifndef RG_PRIVS_H
#define RG_PRIVS_H

/* Drop every capability but CAP_BPF from the bounding, ambient, inheritable, permitted and
 * effective sets, and set no_new_privs. 0 or -errno. */
int rg_drop_privileges(void);

#endif /* RG_PRIVS_H */
