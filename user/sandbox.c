// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * sandbox.c: builds and loads the agent's syscall allowlist, and the sock_keeper's, with
 * libseccomp (see sandbox.h). Takes the keeper's descriptors; reports 0 or -errno (from
 * libseccomp, which returns them).
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
	/* the fleet's Redis link opens its epoll set and timer, and reconnects, after the drop */
	"epoll_create1", "timerfd_create",
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

/* A name this architecture does not have (open on arm64) is left out, not an error. */
static int allow(scmp_filter_ctx ctx, const char *name, unsigned n_args,
		 const struct scmp_arg_cmp *args)
{
	int nr = seccomp_syscall_resolve_name(name);
	int err;

	if (nr == __NR_SCMP_ERROR)
		return 0;
	err = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, nr, n_args, args);
	if (err)
		pr_err("seccomp: cannot allow %s: %s", name, strerror(-err));
	return err;
}

/* Argument arg == v (every field set: SCMP_A0() and friends leave datum_b to the
 * compiler, which clang's -Wmissing-field-initializers rejects). */
static struct scmp_arg_cmp arg_eq(unsigned int arg, scmp_datum_t v)
{
	struct scmp_arg_cmp c = { .arg = arg, .op = SCMP_CMP_EQ, .datum_a = v, .datum_b = 0 };

	return c;
}

static int load(scmp_filter_ctx ctx)
{
	int err = seccomp_load(ctx);

	if (err)
		pr_err("seccomp: cannot load the filter: %s", strerror(-err));
	return err;
}

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
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]) && !err; i++)
		err = allow(ctx, allowed[i], 0, NULL);
	if (!err)
		err = allow_threads(ctx);
	if (!err)
		err = load(ctx);
	seccomp_release(ctx);
	return err;
}

int rg_seccomp_install_keeper(int word_fd, int report_fd, const int *dirs, size_t n)
{
	static const char *const plain[] = { "close", "exit", "exit_group", "rt_sigreturn" };
	/* glibc's fstatat is newfstatat on 64-bit, fstatat64 elsewhere; statx on some. */
	static const char *const stats[] = { "newfstatat", "fstatat64", "statx" };
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	struct scmp_arg_cmp a[2];
	int err = 0;

	if (!ctx)
		return -ENOMEM;
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]) && !err; i++)
		err = allow(ctx, plain[i], 0, NULL);
	a[0] = arg_eq(0, (scmp_datum_t)word_fd);
	if (!err)
		err = allow(ctx, "read", 1, a);
	a[0] = arg_eq(0, (scmp_datum_t)report_fd);
	if (!err)
		err = allow(ctx, "write", 1, a);
	for (size_t d = 0; d < n && !err; d++) {
		a[0] = arg_eq(0, (scmp_datum_t)dirs[d]);
		for (size_t i = 0; i < sizeof(stats) / sizeof(stats[0]) && !err; i++)
			err = allow(ctx, stats[i], 1, a);
		a[1] = arg_eq(2, 0);
		if (!err)
			err = allow(ctx, "unlinkat", 2, a);
	}
	if (!err)
		err = load(ctx);
	seccomp_release(ctx);
	return err;
}
