// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * privs.c: becomes the agent's user keeping CAP_BPF only, or keeps one capability as it is
 * (the sock_keeper; see privs.h). Takes the user, the directories and files to hand over
 * and whether falling short is allowed; reports 0 or -EPERM, each shortfall logged. Raw
 * capset(2)/capget(2) and prctl(2): no libcap for that.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "privs.h"

#ifndef CAP_BPF
#define CAP_BPF 39
#endif

static int last_cap(void)
{
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	int n = CAP_LAST_CAP;

	if (f) {
		if (fscanf(f, "%d", &n) != 1)
			n = CAP_LAST_CAP;
		fclose(f);
	}
	return n;
}

static int caps_get(struct __user_cap_data_struct data[2])
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };

	memset(data, 0, 2 * sizeof(*data));
	return syscall(SYS_capget, &hdr, data) ? -errno : 0;
}

static int caps_set(const struct __user_cap_data_struct data[2])
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };

	return syscall(SYS_capset, &hdr, data) ? -errno : 0;
}

/* Give one name under dfd to uid:gid; a link is given itself, never what it names. */
static int give_at(int dfd, const char *name, const char *shown, uid_t uid, gid_t gid)
{
	if (fchownat(dfd, name, uid, gid, AT_SYMLINK_NOFOLLOW | (*name ? 0 : AT_EMPTY_PATH))) {
		int err = -errno;

		pr_err("cannot give %s to the agent's user: %s", shown, strerror(-err));
		return err;
	}
	return 0;
}

/* dir and its entries (pins, state files), one level: the agent makes no subdirectories. */
static int give_dir(const char *dir, uid_t uid, gid_t gid)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct dirent *de;
	char shown[512];
	DIR *d;
	int err;

	if (fd < 0) {
		err = -errno;
		pr_err("cannot open %s to give it to the agent's user: %s", dir, strerror(-err));
		return err;
	}
	err = give_at(fd, "", dir, uid, gid);
	d = err ? NULL : fdopendir(fd);
	if (!d) {
		err = err ? err : -errno;
		close(fd);
		return err;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(shown, sizeof(shown), "%s/%s", dir, de->d_name);
		err = give_at(dirfd(d), de->d_name, shown, uid, gid);
		if (err)
			break;
	}
	closedir(d);
	return err;
}

/* The control socket's directory, when it is the agent's own (0700; not /run or /tmp), so
 * that the agent can remove its socket at exit. */
static int give_socket_dir(const char *sock, uid_t uid, gid_t gid)
{
	char dir[4096];
	const char *slash = strrchr(sock, '/');
	struct stat st;

	if (!slash || slash == sock || (size_t)(slash - sock) >= sizeof(dir))
		return 0;
	memcpy(dir, sock, (size_t)(slash - sock));
	dir[slash - sock] = '\0';
	if (lstat(dir, &st) || !S_ISDIR(st.st_mode) || (st.st_mode & 07777) != 0700)
		return 0;
	return give_at(AT_FDCWD, dir, dir, uid, gid);
}

static int hand_over(const struct rg_privs_opts *o, uid_t uid, gid_t gid)
{
	int err = 0;

	for (size_t i = 0; i < o->n_dirs && !err; i++)
		err = give_dir(o->dirs[i], uid, gid);
	for (size_t i = 0; i < o->n_files && !err; i++)
		if (!access(o->files[i], F_OK))
			err = give_at(AT_FDCWD, o->files[i], o->files[i], uid, gid);
	if (!err && o->control_socket)
		err = give_socket_dir(o->control_socket, uid, gid);
	return err;
}

/* setgid, setgroups, setuid with the permitted set kept: the capset after it restores
 * CAP_BPF to the effective set, which setuid clears. groups: the user's supplementary
 * groups (initgroups), else none. */
static int become(const struct passwd *pw, bool groups)
{
	int err = 0;

	if ((groups ? initgroups(pw->pw_name, pw->pw_gid) : setgroups(0, NULL)) ||
	    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) ||
	    prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid))
		err = -errno;
	prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	if (err)
		pr_err("cannot become user %s: %s", pw->pw_name, strerror(-err));
	return err;
}

/* Needs CAP_SETPCAP; without it the bounding set stays, which only limits what an exec
 * could gain: no_new_privs and the seccomp filter already rule that out. */
static void drop_bounding(int keep)
{
	int last = last_cap();

	for (int cap = 0; cap <= last; cap++) {
		if (cap == keep)
			continue;
		/* EINVAL: a capability this kernel does not know; nothing to drop. */
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) && errno != EINVAL) {
			pr_info("bounding set kept (%s): no_new_privs stands in for it",
				strerror(errno));
			return;
		}
	}
}

/* Ambient cleared, then effective = permitted = {keep}: lowering our own sets needs no
 * capability. */
static int keep_only(int keep)
{
	struct __user_cap_data_struct data[2] = { { 0 } };
	int err;

	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	data[keep / 32].effective = data[keep / 32].permitted = 1u << (keep % 32);
	err = caps_set(data);
	if (err)
		pr_err("capset: %s", strerror(-err));
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		pr_err("no_new_privs: %s", strerror(errno));
	return err;
}

/* How far the running process is from the target; 0 when there. */
static int check_target(int keep, bool want_nonroot)
{
	struct __user_cap_data_struct d[2];
	uint32_t bit = 1u << (keep % 32);
	int w = keep / 32;
	uid_t r, e, s;
	int short_of = 0;

	if (caps_get(d) || d[0].inheritable || d[1].inheritable ||
	    d[w].effective != bit || d[w].permitted != bit || d[!w].effective ||
	    d[!w].permitted) {
		pr_err("capabilities are not %s alone: effective %08x%08x, permitted "
		       "%08x%08x", keep == CAP_BPF ? "CAP_BPF" : "the one kept", d[1].effective,
		       d[0].effective, d[1].permitted, d[0].permitted);
		short_of = 1;
	}
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) {
		pr_err("no_new_privs is not set");
		short_of = 1;
	}
	if (want_nonroot && (getresuid(&r, &e, &s) || !r || !e || !s)) {
		pr_err("still running as uid 0");
		short_of = 1;
	}
	return short_of ? -EPERM : 0;
}

int rg_privs_keep_only(int cap)
{
	drop_bounding(cap);
	keep_only(cap);
	return check_target(cap, false);
}

int rg_drop_privileges(const struct rg_privs_opts *o)
{
	bool as_root = !strcmp(o->user, "root");
	struct passwd *pw = NULL;
	int err;

	if (!as_root) {
		errno = 0;
		pw = getpwnam(o->user);
		if (!pw)
			pr_err("user %s does not exist (useradd --system --no-create-home "
			       "--shell /usr/sbin/nologin %s), or set user = root", o->user,
			       o->user);
		else if (!pw->pw_uid)
			pr_err("user %s has uid 0: it would keep root's files", o->user);
	}
	/* Before setuid, which clears the effective set CAP_SETPCAP is used from. */
	drop_bounding(CAP_BPF);
	if (pw && pw->pw_uid && geteuid() != pw->pw_uid && !hand_over(o, pw->pw_uid, pw->pw_gid))
		become(pw, false);
	keep_only(CAP_BPF);

	err = check_target(CAP_BPF, !as_root);
	if (!err && as_root)
		pr_warn("user = root: the agent keeps uid 0 (root's files stay open to it); "
			"set user to a dedicated user");
	if (err && o->allow_privileged) {
		pr_warn("*** allow_privileged = yes: running with more privileges than the agent "
			"needs; a compromise of it reaches further. Fix the cause above. ***");
		err = 0;
	}
	return err;
}

int rg_drop_all_privileges(const char *user)
{
	struct __user_cap_data_struct none[2] = { { 0 } }, d[2];
	struct passwd *pw = NULL;
	uid_t r, e, s;

	if (strcmp(user, "root")) {
		pw = getpwnam(user);
		if (!pw || !pw->pw_uid) {
			pr_err("notifier: user %s does not exist or has uid 0", user);
			return -EPERM;
		}
	}
	drop_bounding(-1);
	/* With its groups: postdrop among them lets sendmail queue mail (add-user.sh). */
	if (pw && geteuid() != pw->pw_uid && become(pw, true))
		return -EPERM;
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	if (caps_set(none) || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -errno ? -errno : -EPERM;
	if (caps_get(d) || d[0].effective || d[0].permitted || d[0].inheritable ||
	    d[1].effective || d[1].permitted || d[1].inheritable ||
	    prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1 ||
	    (pw && (getresuid(&r, &e, &s) || !r || !e || !s))) {
		pr_err("notifier: capabilities, no_new_privs or uid not dropped");
		return -EPERM;
	}
	return 0;
}
