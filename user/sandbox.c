// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * sandbox.c: builds and loads the agent's syscall allowlist with libseccomp (see
 * sandbox.h). Takes nothing; reports 0 or -errno (from libseccomp, which returns them).
 * The list came from strace -f over the end-to-end suites after the drop, plus what glibc
 * may use for the same calls (stat flavours, time, memory, signals, abort's tgkill).
 */
#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <string.h>

#include "log.h"
#include "sandbox.h"

static const char *const allowed[] = {
	/* the loop, its sockets and timers */
	"epoll_wait", "epoll_pwait", "epoll_ctl", "accept4", "accept", "recvfrom", "recvmsg",
	"sendto", "sendmsg", "sendmmsg", "read", "readv", "write", "writev", "close",
	"shutdown", "getsockopt", "setsockopt", "getsockname", "getpeername", "socket",
	"bind", "connect", "poll", "ppoll", "timerfd_settime", "timerfd_gettime", "ioctl",
	"fcntl", "dup", "pread64", "pwrite64",
	/* config reloads, state saves, the audit log */
	"openat", "open", "fstat", "newfstatat", "stat", "lstat", "statx", "lseek",
	"getdents64", "fsync", "fdatasync", "rename", "renameat", "renameat2", "unlink",
	"unlinkat", "ftruncate", "readlink", "readlinkat", "access", "faccessat",
	"faccessat2", "statfs", "fstatfs", "getcwd",
	/* the kernel's maps; netlink for XDP and tc status */
	"bpf",
	/* memory, time, identity, signals, exit */
	"brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "futex", "getrandom",
	"clock_gettime", "clock_nanosleep", "nanosleep", "gettimeofday", "time",
	"getpid", "gettid", "getuid", "geteuid", "getgid", "getegid", "getresuid",
	"getresgid", "uname", "prlimit64", "getrlimit", "sysinfo", "sched_yield",
	"rt_sigprocmask", "rt_sigaction", "rt_sigreturn", "sigaltstack", "restart_syscall",
	"tgkill", "exit", "exit_group",
	/* the configuration loader's thread (reload_job.h): what a thread does at its start
	 * and end; clone itself is allowed below for threads only */
	"set_robust_list", "rseq", "membarrier", "sched_getaffinity",
};

/* clone only with CLONE_THREAD: the loader's thread, never a new process (fork, a
 * spawned helper). clone3 hides its flags in memory a filter cannot read: it answers
 * ENOSYS, and glibc's pthread_create falls back to clone. */
static int allow_threads(scmp_filter_ctx ctx)
{
	int err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
				   SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));

	if (!err)
		err = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	if (err)
		pr_err("seccomp: cannot allow threads: %s", strerror(-err));
	return err;
}

int rg_seccomp_install(void)
{
	/* KILL_PROCESS, not KILL (the thread): a half-dead agent would serve nothing. */
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	int err = 0;

	if (!ctx)
		return -ENOMEM;
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		int nr = seccomp_syscall_resolve_name(allowed[i]);

		/* __NR_SCMP_ERROR: a name this architecture does not have (open on arm64). */
		if (nr == __NR_SCMP_ERROR)
			continue;
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
		if (err) {
			pr_err("seccomp: cannot allow %s: %s", allowed[i], strerror(-err));
			goto out;
		}
	}
	err = allow_threads(ctx);
	if (err)
		goto out;
	err = seccomp_load(ctx);
	if (err)
		pr_err("seccomp: cannot load the filter: %s", strerror(-err));
out:
	seccomp_release(ctx);
	return err;
}
