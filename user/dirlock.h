/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * dirlock.h: one relayguardd per directory. An exclusive flock(2) on the directory itself
 * (as xdp-tools locks its pin root), held for the life of the process, and the pid of the
 * holder when another process has it. Used for pin_dir and state_dir before the agent
 * touches the kernel or its state.
 */
#ifndef RG_DIRLOCK_H
#define RG_DIRLOCK_H

#include <sys/types.h>

/*
 * Create dir (one level, mode 0700) if it is missing, open it and take LOCK_EX without
 * waiting. 0 and *fd (close it, or exit, to release); -EBUSY when another open file holds
 * the lock, with *holder its pid from /proc/locks (0 when it cannot be found); -errno.
 */
int rg_dirlock_acquire(const char *dir, int *fd, pid_t *holder);

#endif /* RG_DIRLOCK_H */
