// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * dirlock.c: exclusive, non-waiting flock(2) on a directory (see dirlock.h). Takes a path;
 * reports 0 with the locked fd, or -EBUSY with the holder's pid read from /proc/locks, so
 * the refusal can name the running agent. A lock on the directory, not a file in it,
 * because pin_dir is on bpffs, where no regular file can be created.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "dirlock.h"

/* /proc/locks: "1: FLOCK  ADVISORY  WRITE 1234 00:1f:5678 0 EOF", device in hex. Waiters
 * are shown as "1: -> FLOCK ..." and are skipped: they do not hold the lock. */
static pid_t lock_holder(const struct stat *st)
{
	unsigned int maj, min;
	unsigned long ino;
	char line[256], kind[16];
	pid_t pid = 0;
	FILE *f = fopen("/proc/locks", "re");
	int p;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%*d: %15s %*s %*s %d %x:%x:%lu", kind, &p, &maj, &min,
			   &ino) != 5)
			continue;
		if (!strcmp(kind, "FLOCK") && maj == major(st->st_dev) && min == minor(st->st_dev) && ino == st->st_ino) {
			pid = p;
			break;
		}
	}
	fclose(f);
	return pid;
}

int rg_dirlock_acquire(const char *dir, int *fd, pid_t *holder)
{
	struct stat st;
	int lfd, err;

	*fd = -1;
	*holder = 0;
	lfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lfd < 0 && errno == ENOENT && (!mkdir(dir, 0700) || errno == EEXIST))
		lfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lfd < 0)
		return -errno;
	if (flock(lfd, LOCK_EX | LOCK_NB)) {
		err = errno == EWOULDBLOCK ? -EBUSY : -errno;
		if (err == -EBUSY && !fstat(lfd, &st))
			*holder = lock_holder(&st);
		goto out;
	}
	*fd = lfd;
	return 0;
out:
	close(lfd);
	return err;
}
