// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * test_dirlock.c: user/dirlock.c: the lock is created with its directory, a second taker
 * (another open file in this process, or another process) gets -EBUSY and the holder's
 * pid, the lock goes with its fd, and a path that is not a directory is refused.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "dirlock.h"

static char base[] = "/tmp/rg-dirlock.XXXXXX";

static void test_lock_busy_release(void **st)
{
	char dir[64];
	int fd, fd2, status;
	pid_t holder = -1, child;

	snprintf(dir, sizeof(dir), "%s/pins", base);
	assert_int_equal(rg_dirlock_acquire(dir, &fd, &holder), 0);
	assert_true(fd >= 0);

	/* flock is per open file: the same process opening again is a second taker. */
	assert_int_equal(rg_dirlock_acquire(dir, &fd2, &holder), -EBUSY);
	assert_int_equal(fd2, -1);
	assert_int_equal(holder, getpid());

	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		int cfd;
		pid_t h = 0;

		_exit(rg_dirlock_acquire(dir, &cfd, &h) == -EBUSY && h == getppid() ? 0 : 1);
	}
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	close(fd);
	assert_int_equal(rg_dirlock_acquire(dir, &fd, &holder), 0);
	close(fd);
	rmdir(dir);
}

static void test_not_a_directory(void **st)
{
	char path[64];
	int fd;
	pid_t holder;
	FILE *f;

	snprintf(path, sizeof(path), "%s/file", base);
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(rg_dirlock_acquire(path, &fd, &holder), -ENOTDIR);
	assert_int_equal(fd, -1);
	unlink(path);
	snprintf(path, sizeof(path), "%s/no/such", base);
	assert_int_equal(rg_dirlock_acquire(path, &fd, &holder), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lock_busy_release),
		cmocka_unit_test(test_not_a_directory),
	};
	int rc;

	if (!mkdtemp(base))
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	rmdir(base);
	return rc;
}
