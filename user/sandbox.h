/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * sandbox.h: the syscall filter of the running agent. Installed after the privilege drop
 * (privs.h), it allows what the event loop, reloads, state saves and bpf(2) map access
 * use; anything else (execve, ptrace, fork, mount...) kills the process, which the kernel
 * logs (audit type SECCOMP, or dmesg). The sock_keeper gets a far smaller one of its own.
 */
#ifndef RG_SANDBOX_H
#define RG_SANDBOX_H

#include <stddef.h>

/* Load the filter into this process (and any thread it starts). 0 or -errno. */
int rg_seccomp_install(void);

/* The sock_keeper's filter (sock_keeper.h): read only word_fd, write only report_fd, stat
 * and unlink (no flags) only at the directory fds dirs[0..n), close, exit. Anything else
 * kills it. 0 or -errno. */
int rg_seccomp_install_keeper(int word_fd, int report_fd, const int *dirs, size_t n);

#endif /* RG_SANDBOX_H */
