/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * sandbox.h: the syscall filter of the running agent. Installed after the privilege drop
 * (privs.h), it allows what the event loop, reloads, state saves and bpf(2) map access
 * use; anything else (execve, ptrace, fork, mount...) kills the process, which the kernel
 * logs (audit type SECCOMP, or dmesg).
 */
#ifndef RG_SANDBOX_H
#define RG_SANDBOX_H

/* Load the filter into this process (and any thread it starts). 0 or -errno. */
int rg_seccomp_install(void);

#endif /* RG_SANDBOX_H */
