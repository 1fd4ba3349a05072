// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * test_listen.c: listen.c's sockets in a temp directory: a unix socket appears with the
 * owner and mode asked for and no private directory left behind; modes open to others,
 * nonexistent owners, symlinks and other files at the path are refused without touching
 * what the link points to; a successor's socket is not removed; inet HOST:PORT strings,
 * hostile ones included. Owner tests need root and the postfix user (skipped otherwise).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "listen.h"

struct fixture {
	char dir[32];
	char sock[64];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/rg-listen-test.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->sock, sizeof(f->sock), "%s/s.sock", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[96];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* Entries in dir besides . and .. (the private directory must not linger). */
static int entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void test_mode_and_cleanup(void **state)
{
	struct fixture *f = *state;
	struct rg_unix_listen_opts o = { .mode = 0600 };
	struct rg_sock_file file;
	struct stat st;
	int fd;

	assert_int_equal(rg_listen_unix("t", f->sock, &o, &fd, &file), 0);
	assert_true(fd >= 0);
	assert_int_equal(lstat(f->sock, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(entries(f->dir), 1);
	/* A live socket is not displaced. */
	{
		struct rg_sock_file f2;
		int fd2;

		assert_int_equal(rg_listen_unix("t", f->sock, &o, &fd2, &f2), -EADDRINUSE);
		assert_int_equal(fd2, -1);
		assert_int_equal(entries(f->dir), 1);
	}
	close(fd);
	rg_sock_file_remove(&file);
	assert_int_equal(entries(f->dir), 0);
}

static void test_open_modes_refused(void **state)
{
	struct fixture *f = *state;
	struct rg_unix_listen_opts o = { .mode = 0666 };
	struct rg_sock_file file;
	int fd;

	assert_int_equal(rg_listen_unix("t", f->sock, &o, &fd, &file), -EINVAL);
	o.mode = 0602;
	assert_int_equal(rg_listen_unix("t", f->sock, &o, &fd, &file), -EINVAL);
	assert_int_equal(entries(f->dir), 0);
}

static void test_nonexistent_owner(void **state)
{
	struct fixture *f = *state;
	struct rg_unix_listen_opts o = { .mode = 0660, .owner = "rg-no-such-user" };
	struct rg_sock_file file;
	int fd;

	assert_int_equal(rg_listen_unix("t", f->sock, &o, &fd, &file), -ENOENT);
	assert_int_equal(fd, -1);
	assert_int_equal(entries(f->dir), 0);
}

static void test_postfix_owner(void **state)
{
	struct fixture *f = *state;
	struct rg_unix_listen_opts o = { .mode = 0660, .owner = "postfix" };
	struct rg_sock_file file;
	struct passwd *pw = getpwnam("postfix");
	struct stat st;
	int fd;

	if (geteuid() != 0 || !pw)
		skip();
	assert_int_equal(rg_listen_unix("t", f->sock, &o, &fd, &file), 0);
	assert_int_equal(lstat(f->sock, &st), 0);
	assert_int_equal(st.st_uid, pw->pw_uid);
	assert_int_equal(st.st_gid, pw->pw_gid);
	assert_int_equal(st.st_mode & 07777, 0660);
	assert_int_equal(entries(f->dir), 1);
	close(fd);
	rg_sock_file_remove(&file);
}

/* A symlink at the path (to a root-owned 0600 file) is refused and never followed. */
static void test_symlink_refused(void **state)
{
	struct fixture *f = *state;
	struct rg_unix_listen_opts o = { .mode = 0660, .owner = "postfix" };
	struct rg_sock_file file;
	char victim[96];
	struct stat st;
	FILE *fp;
	int fd;

	if (geteuid() != 0 || !getpwnam("postfix"))
		o.owner = NULL;
	snprintf(victim, sizeof(victim), "%s/victim", f->dir);
	fp = fopen(victim, "w");
	assert_non_null(fp);
	fputs("root only\n", fp);
	fclose(fp);
	assert_int_equal(chmod(victim, 0600), 0);
	assert_int_equal(symlink(victim, f->sock), 0);
	assert_int_equal(rg_listen_unix("t", f->sock, &o, &fd, &file), -EEXIST);
	assert_int_equal(stat(victim, &st), 0);
	assert_int_equal(st.st_uid, geteuid());
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(lstat(f->sock, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(entries(f->dir), 2);
}

static void test_successor_kept(void **state)
{
	struct fixture *f = *state;
	struct rg_unix_listen_opts o = { .mode = 0600 };
	struct rg_sock_file mine, next;
	int fd, fd2;

	assert_int_equal(rg_listen_unix("t", f->sock, &o, &fd, &mine), 0);
	close(fd);	/* now stale: a successor replaces it */
	assert_int_equal(rg_listen_unix("t", f->sock, &o, &fd2, &next), 0);
	rg_sock_file_remove(&mine);
	assert_int_equal(access(f->sock, F_OK), 0);
	close(fd2);
	rg_sock_file_remove(&next);
	assert_int_equal(access(f->sock, F_OK), -1);
}

static void test_parent(void **state)
{
	struct fixture *f = *state;
	struct rg_unix_listen_opts o = { .mode = 0600 };
	struct rg_sock_file file;
	char path[96], sub[80];
	struct stat st;
	int fd;

	snprintf(sub, sizeof(sub), "%s/a/b", f->dir);
	snprintf(path, sizeof(path), "%s/s", sub);
	assert_int_equal(rg_listen_unix("t", path, &o, &fd, &file), -ENOENT);
	o.parent_mode = 0700;
	assert_int_equal(rg_listen_unix("t", path, &o, &fd, &file), 0);
	assert_int_equal(stat(sub, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	close(fd);
	rg_sock_file_remove(&file);
	/* A plain file at the path is not ours to remove. */
	assert_int_equal(close(open(path, O_CREAT | O_WRONLY, 0600)), 0);
	assert_int_equal(rg_listen_unix("t", path, &o, &fd, &file), -EEXIST);
	assert_int_equal(access(path, F_OK), 0);
	/* Names that cannot be a socket. */
	assert_int_equal(rg_listen_unix("t", "", &o, &fd, &file), -ENAMETOOLONG);
	snprintf(path, sizeof(path), "%s/", f->dir);
	assert_int_equal(rg_listen_unix("t", path, &o, &fd, &file), -EINVAL);
}

static void test_inet_parse(void **state)
{
	static const char *bad[] = {
		"", ":", "127.0.0.1", "127.0.0.1:", ":25", "[]:25", "[::1:25", "[::1]25", "::1:25",
		"127.0.0.1:99999", "127.0.0.1:123456", "127.0.0.1:2a", "127.0.0.1:-1",
		"127.0.0.1: 25",
	};
	struct sockaddr_storage ss;
	socklen_t len;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(rg_inet_parse("t", bad[i], &ss, &len), -EINVAL);
	assert_int_equal(rg_inet_parse("t", "127.0.0.1:10040", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(rg_inet_parse("t", "*:0", &ss, &len), 0);
	/* Every IPv4 address, whatever family getaddrinfo would list first. */
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(((struct sockaddr_in *)&ss)->sin_addr.s_addr, htonl(INADDR_ANY));
	assert_int_equal(rg_inet_parse("t", "[::1]:25", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(rg_inet_parse("t", "[*]:25", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_mode_and_cleanup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_modes_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nonexistent_owner, setup, teardown),
		cmocka_unit_test_setup_teardown(test_postfix_owner, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlink_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_successor_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parent, setup, teardown),
		cmocka_unit_test(test_inet_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
