// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * test_control.c: the control socket server over a real Unix socket in a temp directory:
 * replies to requests, errors for malformed/unknown/oversized requests, several requests
 * and clients, socket and directory modes, non-root peers refused (forked child after
 * setuid(65534)), stale socket replaced and a live one kept; replies given later
 * (RG_CONTROL_LATER: the client's next request waits for rg_control_answer, an answer
 * to a client gone is -ENOENT); the client half
 * (control_client.c) against the server and against hostile replies. Needs root for the
 * setuid test (skipped otherwise).
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "control.h"
#include "control_client.h"

struct fixture {
	char dir[32];
	char sub[48];
	char path[100];
	struct rg_control *ctl;
	int calls;
	char last_by[48];
	uint64_t later[4];		/* calls h_later owes */
	size_t n_later;
};

static int h_echo(void *ctx, const struct rg_peer *peer, json_object *req, json_object *reply)
{
	struct fixture *f = ctx;
	json_object *x;

	f->calls++;
	snprintf(f->last_by, sizeof(f->last_by), "%s", peer->by);
	json_object_object_add(reply, "by", json_object_new_string(peer->by));
	if (json_object_object_get_ex(req, "x", &x))
		json_object_object_add(reply, "x", json_object_get(x));
	return 0;
}

static int h_fail(void *ctx, const struct rg_peer *peer, json_object *req, json_object *reply)
{
	const char *name = "?";

	rg_control_get_str(req, "tenant", &name);
	return rg_control_fail(reply, RG_CTL_E_UNKNOWN_TENANT, "unknown tenant \"%s\"", name);
}

static int h_errno(void *ctx, const struct rg_peer *peer, json_object *req, json_object *reply)
{
	return -ENOSPC;
}

static int h_later(void *ctx, const struct rg_peer *peer, json_object *req, json_object *reply)
{
	struct fixture *f = ctx;

	assert_true(f->n_later < 4);
	assert_true(peer->call > 0);
	f->later[f->n_later++] = peer->call;
	return RG_CONTROL_LATER;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/rg-ctl-test.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->sub, sizeof(f->sub), "%s/run/rg", f->dir);
	snprintf(f->path, sizeof(f->path), "%s/control.sock", f->sub);
	assert_int_equal(rg_control_new(f->path, &f->ctl), 0);
	assert_int_equal(rg_control_register(f->ctl, "echo", h_echo, f), 0);
	assert_int_equal(rg_control_register(f->ctl, "fail", h_fail, f), 0);
	assert_int_equal(rg_control_register(f->ctl, "errno", h_errno, f), 0);
	assert_int_equal(rg_control_register(f->ctl, "later", h_later, f), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[160];

	rg_control_free(f->ctl);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static int client_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static void pump(struct rg_control *ctl, int ms)
{
	struct pollfd p = { .fd = rg_control_fd(ctl), .events = POLLIN };

	if (poll(&p, 1, ms) > 0)
		assert_int_equal(rg_control_dispatch(ctl), 0);
}

/* Read one reply line (or until EOF: returns the length, -1 at EOF with nothing read),
 * dispatching the server meanwhile. Bounded to about 5 seconds. */
static int read_line(struct rg_control *ctl, int fd, char *buf, size_t len)
{
	size_t n = 0;

	for (int i = 0; i < 500; i++) {
		ssize_t r;

		if (ctl)
			pump(ctl, 10);
		r = recv(fd, buf + n, len - 1 - n, MSG_DONTWAIT);
		if (r == 0)
			break;
		if (r < 0) {
			if (!ctl)
				usleep(10000);
			continue;
		}
		n += (size_t)r;
		buf[n] = '\0';
		if (memchr(buf, '\n', n))
			return (int)n;
		if (n == len - 1)
			break;
	}
	buf[n] = '\0';
	return n ? (int)n : -1;
}

/* Read until two reply lines are in buf (about 3 s at most), dispatching meanwhile. */
static void read_two_lines(struct rg_control *ctl, int fd, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (int i = 0; i < 300 && !(strchr(buf, '\n') && strchr(strchr(buf, '\n') + 1, '\n'));
	     i++) {
		ssize_t k;

		pump(ctl, 10);
		k = recv(fd, buf + n, len - 1 - n, MSG_DONTWAIT);
		if (k > 0)
			n += (size_t)k;
		buf[n] = '\0';
	}
}

static json_object *roundtrip(struct rg_control *ctl, int fd, const char *req)
{
	char buf[4096];
	json_object *r;

	assert_int_equal(send(fd, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
	assert_true(read_line(ctl, fd, buf, sizeof(buf)) > 0);
	assert_non_null(strchr(buf, '\n'));
	r = json_tokener_parse(buf);
	assert_non_null(r);
	return r;
}

static bool reply_ok(json_object *r)
{
	json_object *v;

	return json_object_object_get_ex(r, "ok", &v) && json_object_get_boolean(v);
}

static const char *reply_str(json_object *r, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(r, key, &v) ? json_object_get_string(v) : "";
}

static void test_request_reply(void **state)
{
	struct fixture *f = *state;
	char want[48];
	json_object *r;
	int fd = client_connect(f->path);

	assert_true(fd >= 0);
	r = roundtrip(f->ctl, fd, "{\"cmd\":\"echo\",\"x\":[1,\"two\"]}\n");
	assert_true(reply_ok(r));
	snprintf(want, sizeof(want), "uid=%u pid=%d", (unsigned)getuid(), (int)getpid());
	assert_string_equal(reply_str(r, "by"), want);
	assert_string_equal(f->last_by, want);
	assert_string_equal(reply_str(r, "x"), "[ 1, \"two\" ]");
	/* "ok" comes first, so a human reading the line sees the outcome. */
	assert_string_equal(json_object_to_json_string_ext(r, JSON_C_TO_STRING_PLAIN) + 1,
			    strstr(json_object_to_json_string_ext(r, JSON_C_TO_STRING_PLAIN),
				   "\"ok\":true"));
	json_object_put(r);

	/* Several requests on one connection, answered in order, in one write. */
	assert_int_equal(send(fd, "{\"cmd\":\"echo\",\"x\":1}\n{\"cmd\":\"echo\",\"x\":2}\n", 42,
			      MSG_NOSIGNAL), 42);
	{
		char buf[1024];

		read_two_lines(f->ctl, fd, buf, sizeof(buf));
		assert_non_null(strstr(buf, "\"x\":1}\n{\"ok\":true"));
		assert_non_null(strstr(buf, "\"x\":2}\n"));
	}
	assert_int_equal(f->calls, 3);
	close(fd);
}

static void test_later(void **state)
{
	struct fixture *f = *state;
	char buf[1024];
	json_object *rep;
	int fd = client_connect(f->path), fd2;

	assert_true(fd >= 0);
	/* A request answered later, then one answered at once, pipelined. */
	assert_int_equal(send(fd, "{\"cmd\":\"later\"}\n{\"cmd\":\"echo\",\"x\":2}\n", 37,
			      MSG_NOSIGNAL), 37);
	for (int i = 0; i < 20; i++)
		pump(f->ctl, 10);
	assert_int_equal(f->n_later, 1);
	assert_int_equal(f->calls, 0);	/* the echo waits its turn */
	assert_int_equal(recv(fd, buf, sizeof(buf), MSG_DONTWAIT), -1);
	rep = json_object_new_object();
	json_object_object_add(rep, "ok", json_object_new_boolean(1));
	json_object_object_add(rep, "n", json_object_new_int(7));
	assert_int_equal(rg_control_answer(f->ctl, f->later[0], 0, rep), 0);
	json_object_put(rep);
	/* Both replies, in order: the later one, then the echo it held back. */
	read_two_lines(f->ctl, fd, buf, sizeof(buf));
	assert_non_null(strstr(buf, "{\"ok\":true,\"n\":7}\n{\"ok\":true"));
	assert_non_null(strstr(buf, "\"x\":2}\n"));
	assert_int_equal(f->calls, 1);
	/* The same call again, and a failure for a client that left: -ENOENT. */
	assert_int_equal(rg_control_answer(f->ctl, f->later[0], 0, NULL), -ENOENT);
	fd2 = client_connect(f->path);
	assert_true(fd2 >= 0);
	assert_int_equal(send(fd2, "{\"cmd\":\"later\"}\n", 16, MSG_NOSIGNAL), 16);
	for (int i = 0; i < 20 && f->n_later < 2; i++)
		pump(f->ctl, 10);
	assert_int_equal(f->n_later, 2);
	close(fd2);
	for (int i = 0; i < 20; i++)
		pump(f->ctl, 10);
	rep = json_object_new_object();
	assert_int_equal(rg_control_answer(f->ctl, f->later[1], -EINVAL, rep), -ENOENT);
	json_object_put(rep);
	/* An error answer carries the handler-style failure. */
	assert_int_equal(send(fd, "{\"cmd\":\"later\"}\n", 16, MSG_NOSIGNAL), 16);
	for (int i = 0; i < 20 && f->n_later < 3; i++)
		pump(f->ctl, 10);
	rep = json_object_new_object();
	json_object_object_add(rep, "ok", json_object_new_boolean(1));
	rg_control_fail(rep, "bad_config", "refused");
	assert_int_equal(rg_control_answer(f->ctl, f->later[2], -EINVAL, rep), 0);
	json_object_put(rep);
	assert_true(read_line(f->ctl, fd, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "{\"ok\":false,\"error\":\"refused\",\"code\":\"bad_config\"}\n");
	close(fd);
}

static void test_errors(void **state)
{
	struct fixture *f = *state;
	json_object *r;
	int fd = client_connect(f->path);

	assert_true(fd >= 0);
	r = roundtrip(f->ctl, fd, "{\"cmd\":\"fail\",\"tenant\":\"nobody\"}\n");
	assert_false(reply_ok(r));
	assert_string_equal(reply_str(r, "code"), "unknown_tenant");
	assert_string_equal(reply_str(r, "error"), "unknown tenant \"nobody\"");
	json_object_put(r);

	r = roundtrip(f->ctl, fd, "{\"cmd\":\"errno\"}\n");
	assert_false(reply_ok(r));
	assert_string_equal(reply_str(r, "code"), "internal");
	assert_string_equal(reply_str(r, "error"), strerror(ENOSPC));
	json_object_put(r);

	r = roundtrip(f->ctl, fd, "{\"cmd\":\"nosuch\"}\n");
	assert_string_equal(reply_str(r, "code"), "unknown_command");
	json_object_put(r);

	/* Hostile or malformed input: each gets bad_request and the connection stays usable. */
	static const char *bad[] = {
		"not json\n", "[1,2]\n", "{\"cmd\":1}\n", "{\"x\":1}\n", "{\"cmd\":\"ECHO\"}\n",
		"{\"cmd\":\"echo\"} trailing\n", "{\"cmd\":\"echo\"\n",
		"{\"cmd\":\"a_very_long_command_name_past_the_limit\"}\n",
		"{\"cmd\":\"echo\",\"x\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}\n",
		"{\"cmd\":\"ec\\u0000ho\"}\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = roundtrip(f->ctl, fd, bad[i]);
		assert_false(reply_ok(r));
		assert_string_equal(reply_str(r, "code"), "bad_request");
		json_object_put(r);
	}
	/* Binary junk with NULs and a newline. */
	{
		char junk[64];

		for (size_t i = 0; i < sizeof(junk); i++)
			junk[i] = (char)(i * 37);
		junk[63] = '\n';
		for (size_t i = 0; i < 63; i++)
			if (junk[i] == '\n')
				junk[i] = 'x';
		assert_int_equal(send(fd, junk, sizeof(junk), MSG_NOSIGNAL), sizeof(junk));
		char buf[512];

		assert_true(read_line(f->ctl, fd, buf, sizeof(buf)) > 0);
		assert_non_null(strstr(buf, "bad_request"));
	}
	r = roundtrip(f->ctl, fd, "{\"cmd\":\"echo\"}\n");
	assert_true(reply_ok(r));
	json_object_put(r);
	close(fd);
}

static void test_oversized(void **state)
{
	struct fixture *f = *state;
	char *big = malloc(RG_CONTROL_MAX_REQUEST + 100);
	char buf[1024];
	int fd = client_connect(f->path);
	size_t sent = 0;

	assert_true(fd >= 0);
	assert_non_null(big);
	memcpy(big, "{\"cmd\":\"echo\",\"x\":\"", 19);
	memset(big + 19, 'a', RG_CONTROL_MAX_REQUEST + 100 - 19);
	while (sent < RG_CONTROL_MAX_REQUEST + 100) {
		ssize_t n = send(fd, big + sent, RG_CONTROL_MAX_REQUEST + 100 - sent,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0)
			sent += (size_t)n;
		else if (n < 0 && errno != EAGAIN)
			break;
		pump(f->ctl, 10);
	}
	assert_true(read_line(f->ctl, fd, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "\"code\":\"too_large\""));
	/* Then the server closes: EOF (or a reset, as it did not read the rest). */
	{
		bool closed = false;

		for (int i = 0; i < 300 && !closed; i++) {
			ssize_t n;

			pump(f->ctl, 10);
			n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
			closed = n == 0 || (n < 0 && errno != EAGAIN);
		}
		assert_true(closed);
	}
	assert_int_equal(f->calls, 0);
	assert_int_equal(rg_control_clients(f->ctl), 0);
	free(big);
	close(fd);
}

static void test_last_request_without_newline(void **state)
{
	struct fixture *f = *state;
	char buf[512];
	int fd = client_connect(f->path);

	assert_true(fd >= 0);
	assert_int_equal(send(fd, "{\"cmd\":\"echo\",\"x\":7}", 20, MSG_NOSIGNAL), 20);
	shutdown(fd, SHUT_WR);
	assert_true(read_line(f->ctl, fd, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "\"ok\":true"));
	assert_non_null(strstr(buf, "\"x\":7"));
	close(fd);
}

static void test_many_clients(void **state)
{
	struct fixture *f = *state;
	int fds[8];

	for (int i = 0; i < 8; i++) {
		fds[i] = client_connect(f->path);
		assert_true(fds[i] >= 0);
	}
	for (int i = 0; i < 8; i++) {
		pump(f->ctl, 10);
		pump(f->ctl, 10);
	}
	assert_int_equal(rg_control_clients(f->ctl), 8);
	/* Ask in reverse order: each client gets its own answer. */
	for (int i = 7; i >= 0; i--) {
		char req[64];
		json_object *r, *x;

		snprintf(req, sizeof(req), "{\"cmd\":\"echo\",\"x\":%d}\n", i);
		r = roundtrip(f->ctl, fds[i], req);
		assert_true(json_object_object_get_ex(r, "x", &x));
		assert_int_equal(json_object_get_int(x), i);
		json_object_put(r);
	}
	for (int i = 0; i < 8; i++)
		close(fds[i]);
	for (int i = 0; i < 20 && rg_control_clients(f->ctl); i++)
		pump(f->ctl, 10);
	assert_int_equal(rg_control_clients(f->ctl), 0);
}

static void test_modes(void **state)
{
	struct fixture *f = *state;
	struct stat st;

	assert_int_equal(stat(f->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_uid, geteuid());
	assert_int_equal(stat(f->sub, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
}

/* In a child that has become uid 65534: connect and report the outcome by exit code:
 * 10 connect refused with EACCES, 11 got a permission_denied reply then EOF,
 * 12 served (wrong), 13 anything else. */
static int nonroot_child(const char *path)
{
	char buf[512];
	int fd;

	if (setgid(65534) || setuid(65534))
		return 13;
	fd = client_connect(path);
	if (fd == -EACCES)
		return 10;
	if (fd < 0)
		return 13;
	if (send(fd, "{\"cmd\":\"echo\"}\n", 15, MSG_NOSIGNAL) < 0 && errno != EPIPE &&
	    errno != ECONNRESET)
		return 13;
	if (read_line(NULL, fd, buf, sizeof(buf)) <= 0)
		return 13;
	if (strstr(buf, "\"ok\":true"))
		return 12;
	if (!strstr(buf, "\"code\":\"permission_denied\"") ||
	    !strstr(buf, "\"error\":\"permission denied\""))
		return 13;
	for (int i = 0; i < 300; i++) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n == 0 || (n < 0 && errno != EAGAIN))
			return 11;
		if (n > 0)
			return 12;
		usleep(10000);
	}
	return 13;
}

static int run_nonroot(struct fixture *f)
{
	int status = 0;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(nonroot_child(f->path));
	for (int i = 0; i < 1000; i++) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid)
			break;
		pump(f->ctl, 10);
	}
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void test_nonroot_refused(void **state)
{
	struct fixture *f = *state;

	if (geteuid() != 0)
		skip();
	/* As created: the socket's mode keeps others out before the agent sees them. */
	assert_int_equal(run_nonroot(f), 10);
	/* Past the file mode (say, an operator loosened it): the agent refuses by
	 * SO_PEERCRED and runs no handler. */
	assert_int_equal(chmod(f->dir, 0711), 0);
	assert_int_equal(chmod(f->sub, 0711), 0);
	{
		char run[128];

		snprintf(run, sizeof(run), "%s/run", f->dir);
		assert_int_equal(chmod(run, 0711), 0);
	}
	assert_int_equal(chmod(f->path, 0666), 0);
	assert_int_equal(run_nonroot(f), 11);
	assert_int_equal(f->calls, 0);
}

static void test_stale_and_live_socket(void **state)
{
	struct fixture *f = *state;
	struct rg_control *other = NULL;
	json_object *r;
	int fd;

	/* A live agent on the path is not displaced. */
	assert_int_equal(rg_control_new(f->path, &other), -EADDRINUSE);
	assert_null(other);
	/* A dead one's socket is replaced. */
	rg_control_free(f->ctl);
	f->ctl = NULL;
	{
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		int s = socket(AF_UNIX, SOCK_STREAM, 0);

		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
		assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
		close(s);	/* leaves a socket file nobody listens on */
	}
	assert_int_equal(rg_control_new(f->path, &f->ctl), 0);
	assert_int_equal(rg_control_register(f->ctl, "echo", h_echo, f), 0);
	fd = client_connect(f->path);
	assert_true(fd >= 0);
	r = roundtrip(f->ctl, fd, "{\"cmd\":\"echo\"}\n");
	assert_true(reply_ok(r));
	json_object_put(r);
	close(fd);

	/* Not a socket: refused, the file is left alone. */
	{
		char file[160];
		struct rg_control *c2 = NULL;
		FILE *fp;

		snprintf(file, sizeof(file), "%s/plain", f->dir);
		fp = fopen(file, "w");
		assert_non_null(fp);
		fclose(fp);
		assert_int_equal(rg_control_new(file, &c2), -EEXIST);
		assert_int_equal(access(file, F_OK), 0);
	}
	/* Freeing unlinks the socket. */
	rg_control_free(f->ctl);
	f->ctl = NULL;
	assert_int_equal(access(f->path, F_OK), -1);
}

static bool wait_closed(struct fixture *f, int fd, int (*trickle)(int fd, int i))
{
	char buf[256];

	for (int i = 0; i < 500; i++) {
		ssize_t n;

		pump(f->ctl, 10);
		if (trickle)
			trickle(fd, i);
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN))
			return true;
	}
	return false;
}

static int trickle_byte(int fd, int i)
{
	usleep(10000);	/* one byte per 10 ms: busy, but slower than any real request */
	return (int)send(fd, " ", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void test_timeouts(void **state)
{
	struct fixture *f = *state;
	json_object *r;
	int idle, slow, busy;

	rg_control_set_timeouts(f->ctl, 300, 200);
	idle = client_connect(f->path);
	assert_true(idle >= 0);
	assert_true(wait_closed(f, idle, NULL));
	close(idle);

	/* A request that never ends is cut off although bytes keep coming. */
	slow = client_connect(f->path);
	assert_true(slow >= 0);
	assert_int_equal(send(slow, "{\"cmd\":", 7, MSG_NOSIGNAL), 7);
	assert_true(wait_closed(f, slow, trickle_byte));
	close(slow);
	assert_int_equal(f->calls, 0);

	/* A client that keeps asking is served, each answer on time. */
	busy = client_connect(f->path);
	assert_true(busy >= 0);
	for (int i = 0; i < 3; i++) {
		r = roundtrip(f->ctl, busy, "{\"cmd\":\"echo\"}\n");
		assert_true(reply_ok(r));
		json_object_put(r);
	}
	close(busy);
	assert_int_equal(f->calls, 3);
}

static void test_register(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(rg_control_register(f->ctl, "", h_echo, f), -EINVAL);
	assert_int_equal(rg_control_register(f->ctl, "Block", h_echo, f), -EINVAL);
	assert_int_equal(rg_control_register(f->ctl, "block host", h_echo, f), -EINVAL);
	assert_int_equal(rg_control_register(f->ctl, "ok", NULL, f), -EINVAL);
	/* Re-registering replaces. */
	assert_int_equal(rg_control_register(f->ctl, "fail", h_echo, f), 0);
	{
		int fd = client_connect(f->path);
		json_object *r;

		assert_true(fd >= 0);
		r = roundtrip(f->ctl, fd, "{\"cmd\":\"fail\"}\n");
		assert_true(reply_ok(r));
		json_object_put(r);
		close(fd);
	}
}

static void test_request_helpers(void **state)
{
	json_object *o = json_tokener_parse(
		"{\"s\":\"x\",\"n\":5,\"neg\":-1,\"big\":99999999999999999999,\"b\":true,"
		"\"f\":1.5,\"nul\":null}");
	const char *s;
	uint64_t u;
	bool b;

	assert_non_null(o);
	assert_int_equal(rg_control_get_str(o, "s", &s), 0);
	assert_string_equal(s, "x");
	assert_int_equal(rg_control_get_str(o, "n", &s), -EINVAL);
	assert_int_equal(rg_control_get_str(o, "missing", &s), -ENOENT);
	assert_int_equal(rg_control_get_str(o, "nul", &s), -ENOENT);
	assert_int_equal(rg_control_get_u64(o, "n", &u), 0);
	assert_int_equal(u, 5);
	assert_int_equal(rg_control_get_u64(o, "neg", &u), -EINVAL);
	assert_int_equal(rg_control_get_u64(o, "big", &u), -EINVAL);
	assert_int_equal(rg_control_get_u64(o, "f", &u), -EINVAL);
	assert_int_equal(rg_control_get_u64(o, "s", &u), -EINVAL);
	assert_int_equal(rg_control_get_bool(o, "b", &b), 0);
	assert_true(b);
	assert_int_equal(rg_control_get_bool(o, "n", &b), -EINVAL);
	json_object_put(o);
}

/* The client half: a real request through the server (the client in a child, the server
 * pumped here), then hostile or missing replies on a socketpair. */
static void test_client(void **state)
{
	struct fixture *f = *state;
	json_object *req = json_tokener_parse("{\"cmd\":\"echo\",\"x\":5}"), *rep = NULL;
	int fd, sv[2], status = -1;
	char longpath[200];
	pid_t pid;

	assert_non_null(req);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		json_object *x;

		if (rg_control_connect(f->path, &fd) || rg_control_call(fd, req, 5000, &rep))
			_exit(1);
		_exit(reply_ok(rep) && json_object_object_get_ex(rep, "x", &x) &&
		      json_object_get_int(x) == 5 ? 0 : 2);
	}
	for (int i = 0; i < 500 && waitpid(pid, &status, WNOHANG) == 0; i++)
		pump(f->ctl, 10);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(f->calls, 1);

	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	assert_int_equal(rg_control_connect(longpath, &fd), -ENAMETOOLONG);
	assert_int_equal(rg_control_connect("/nonexistent/rg-control.sock", &fd), -ENOENT);
	assert_int_equal(fd, -1);

	/* Not a JSON object; then closed without a reply; then silent past the deadline. */
	static const char *const bad[] = { "not json\n", "[1,2]\n", "\"x\"\n" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
		assert_int_equal(send(sv[1], bad[i], strlen(bad[i]), 0), (ssize_t)strlen(bad[i]));
		assert_int_equal(rg_control_call(sv[0], req, 1000, &rep), -EBADMSG);
		assert_null(rep);
		close(sv[0]);
		close(sv[1]);
	}
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(send(sv[1], "{\"ok\":tr", 9, 0), 9);
	shutdown(sv[1], SHUT_WR);
	assert_int_equal(rg_control_call(sv[0], req, 1000, &rep), -ECONNRESET);
	close(sv[0]);
	close(sv[1]);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(rg_control_call(sv[0], req, 100, &rep), -ETIMEDOUT);
	close(sv[0]);
	close(sv[1]);
	json_object_put(req);
}

static void test_path_too_long(void **state)
{
	char path[200];
	struct rg_control *c = NULL;

	memset(path, 'a', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	assert_int_equal(rg_control_new(path, &c), -ENAMETOOLONG);
	assert_null(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_request_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_later, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oversized, setup, teardown),
		cmocka_unit_test_setup_teardown(test_last_request_without_newline, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_many_clients, setup, teardown),
		cmocka_unit_test_setup_teardown(test_modes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nonroot_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_and_live_socket, setup, teardown),
		cmocka_unit_test_setup_teardown(test_register, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeouts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client, setup, teardown),
		cmocka_unit_test(test_request_helpers),
		cmocka_unit_test(test_path_too_long),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
