// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * test_redis_passfile.c: user/redis_passfile.c on real files: `password` and
 * `user password` (spaces, tabs, CRLF, surrounding blanks), modes 0600/0640 read and
 * 0644/0602 refused, and hostile contents refused: empty, blank, three words, two lines,
 * a NUL byte, over 4 KiB, a directory, a missing file.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "redis_passfile.h"

static char base[] = "/tmp/rg-passfile.XXXXXX";
static char path[128];

static void write_file(const void *data, size_t len, mode_t mode)
{
	int fd;

	snprintf(path, sizeof(path), "%s/pass", base);
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	/* fchmod, not the open mode: the umask would narrow it */
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void expect_ok(const char *text, mode_t mode, const char *user, const char *pw)
{
	char *u = (char *)1, *p = (char *)1;

	write_file(text, strlen(text), mode);
	assert_int_equal(rg_redis_read_password_file(path, &u, &p), 0);
	if (user)
		assert_string_equal(u, user);
	else
		assert_null(u);
	assert_string_equal(p, pw);
	rg_redis_password_free(u, p);
}

static void expect_err(const void *data, size_t len, mode_t mode, int err)
{
	char *u = (char *)1, *p = (char *)1;

	write_file(data, len, mode);
	assert_int_equal(rg_redis_read_password_file(path, &u, &p), err);
	assert_null(u);
	assert_null(p);
}

static void test_forms(void **st)
{
	expect_ok("s3cret\n", 0600, NULL, "s3cret");
	expect_ok("s3cret", 0600, NULL, "s3cret");
	expect_ok("relay s3cret\n", 0600, "relay", "s3cret");
	expect_ok("  relay\t s3cret \r\n", 0640, "relay", "s3cret");
	expect_ok("p@ss:w0rd!#\n\n\n", 0400, NULL, "p@ss:w0rd!#");
}

static void test_modes(void **st)
{
	expect_err("s3cret\n", 7, 0644, -EPERM);
	expect_err("s3cret\n", 7, 0604, -EPERM);
	expect_err("s3cret\n", 7, 0602, -EPERM);
	expect_ok("s3cret\n", 0660, NULL, "s3cret");
}

static void test_hostile(void **st)
{
	static char big[5000];

	expect_err("", 0, 0600, -EINVAL);
	expect_err(" \t\r\n\n", 5, 0600, -EINVAL);
	expect_err("a b c\n", 6, 0600, -EINVAL);
	expect_err("a b c d e f\n", 12, 0600, -EINVAL);
	expect_err("user\npassword\n", 14, 0600, -EINVAL);
	expect_err("user\rpassword", 13, 0600, -EINVAL);
	expect_err("pass\0word\n", 10, 0600, -EINVAL);
	memset(big, 'x', sizeof(big));
	expect_err(big, sizeof(big), 0600, -EFBIG);
}

static void test_not_a_file(void **st)
{
	char *u = (char *)1, *p = (char *)1;
	char missing[160];

	assert_int_equal(rg_redis_read_password_file(base, &u, &p), -EISDIR);
	assert_null(u);
	assert_null(p);
	snprintf(missing, sizeof(missing), "%s/none", base);
	assert_int_equal(rg_redis_read_password_file(missing, &u, &p), -ENOENT);
	rg_redis_password_free(NULL, NULL);
}

static int setup(void **st)
{
	return mkdtemp(base) ? 0 : -1;
}

static int teardown(void **st)
{
	unlink(path);
	rmdir(base);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forms),
		cmocka_unit_test(test_modes),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_not_a_file),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
