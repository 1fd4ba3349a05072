// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * test_event.c: the event layer over a real unix socket in a temp directory: accepted
 * connections echo through the output buffer, the output cap, deadline queues that expire
 * in order, and the listener out of descriptors (RLIMIT_NOFILE lowered, every free fd
 * taken): pending connections are taken off the queue and counted, the listener stops
 * being readable (no spin), and accepts again once descriptors are free. An inet
 * listener on 127.0.0.1 with an allowlist: a client bound to an allowed loopback address
 * gets through, one from another is closed at accept and counted; a unix listener ignores it.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "event.h"

#define MAX_CONNS 16

struct conn {
	struct rg_ev_conn ev;
	bool open;
};

struct fixture {
	char dir[32];
	char spec[64];
	struct rg_ev *ev;
	struct rg_ev_listener *l;
	struct rg_ev_queue q;
	struct conn conns[MAX_CONNS];
	int accepted, expired, bytes;
};

static struct fixture *fx;

static void conn_close(struct conn *c)
{
	rg_ev_conn_close(&c->ev);
	c->open = false;
}

/* Echo what arrives; close at EOF. */
static void on_event(struct rg_ev_conn *e, uint32_t events)
{
	struct conn *c = rg_container_of(e, struct conn, ev);
	char buf[256];
	ssize_t n = recv(e->fd, buf, sizeof(buf), MSG_DONTWAIT);

	if (n <= 0) {
		conn_close(c);
		return;
	}
	fx->bytes += (int)n;
	if (rg_ev_conn_queue(e, buf, (size_t)n) || rg_ev_conn_flush(e))
		conn_close(c);
}

static void on_expired(struct rg_ev_conn *e)
{
	fx->expired++;
	conn_close(rg_container_of(e, struct conn, ev));
}

static void on_accept(void *ctx, struct rg_ev_listener *l, int fd)
{
	struct fixture *f = ctx;
	struct conn *c = &f->conns[f->accepted++ % MAX_CONNS];

	assert_false(c->open);
	c->ev.on_event = on_event;
	c->ev.out_max = 64;
	assert_int_equal(rg_ev_conn_add(f->ev, &c->ev, fd), 0);
	c->open = true;
	rg_ev_conn_deadline(&c->ev, &f->q, rg_now_mono_ns());
}

static int setup(void **state)
{
	static const struct rg_unix_listen_opts uo = { .mode = 0600 };
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/rg-ev-test.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->spec, sizeof(f->spec), "unix:%s/s", f->dir);
	assert_int_equal(rg_ev_new("test", &f->ev), 0);
	f->q.timeout_ns = 200 * 1000000ULL;
	f->q.expired = on_expired;
	rg_ev_add_queue(f->ev, &f->q);
	assert_int_equal(rg_ev_listen(f->ev, f->spec, &uo, on_accept, f, &f->l), 0);
	fx = f;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[64];

	for (int i = 0; i < MAX_CONNS; i++)
		if (f->conns[i].open)
			conn_close(&f->conns[i]);
	rg_ev_free(f->ev);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static int client(struct fixture *f)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->spec + 5);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static void pump(struct fixture *f, int rounds)
{
	for (int i = 0; i < rounds; i++)
		assert_true(rg_ev_dispatch(f->ev, 10) >= 0);
}

static void test_echo_and_expiry(void **state)
{
	struct fixture *f = *state;
	char buf[16] = { 0 };
	int a = client(f), b;

	assert_true(a >= 0);
	pump(f, 2);
	assert_int_equal(f->accepted, 1);
	assert_int_equal(send(a, "hello", 5, 0), 5);
	pump(f, 2);
	assert_int_equal(recv(a, buf, sizeof(buf), MSG_DONTWAIT), 5);
	assert_string_equal(buf, "hello");
	/* The second arrives later, so it expires later: one at a time, in order. */
	usleep(100000);
	b = client(f);
	assert_true(b >= 0);
	pump(f, 2);
	for (int i = 0; i < 100 && f->expired < 1; i++)
		pump(f, 1);
	assert_int_equal(f->expired, 1);
	assert_false(f->conns[0].open);
	assert_true(f->conns[1].open);
	for (int i = 0; i < 100 && f->expired < 2; i++)
		pump(f, 1);
	assert_int_equal(f->expired, 2);
	close(a);
	close(b);
}

static void test_output_cap(void **state)
{
	struct fixture *f = *state;
	struct rg_ev_conn *e;
	char big[65];
	int a = client(f);

	assert_true(a >= 0);
	pump(f, 2);
	e = &f->conns[0].ev;
	memset(big, 'x', sizeof(big));
	assert_int_equal(rg_ev_conn_queue(e, big, 64), 0);
	/* Written out, so the cap has room again... */
	assert_int_equal(rg_ev_conn_queue(e, big, 64), 0);
	assert_int_equal(rg_ev_conn_pending(e), 64);
	/* ...but never more than out_max unsent at once. */
	assert_int_equal(rg_ev_conn_queue(e, big, 65), -ENOBUFS);
	close(a);
}

static void test_out_of_descriptors(void **state)
{
	struct fixture *f = *state;
	struct rlimit old, rl;
	int clients[5], hog[64], n_hog = 0, fd;
	uint64_t before;

	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	for (int i = 0; i < 5; i++) {
		clients[i] = client(f);
		assert_true(clients[i] >= 0);
	}
	/* Take every descriptor left under a low limit. */
	rl = old;
	rl.rlim_cur = (rlim_t)dup(0) + 1;
	close((int)rl.rlim_cur - 1);
	rl.rlim_cur += 32;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	while (n_hog < 64 && (fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
		hog[n_hog++] = fd;
	assert_true(n_hog < 64);
	assert_int_equal(errno, EMFILE);

	before = f->l->refused_nofd;
	pump(f, 1);
	assert_int_equal(f->accepted, 0);
	assert_int_equal(f->l->refused_nofd - before, 5);
	assert_int_equal(rg_ev_refused_nofd(f->ev), f->l->refused_nofd);
	/* The queue is empty: the listener is not readable any more (no spin). */
	assert_int_equal(rg_ev_dispatch(f->ev, 0), 0);
	/* The refused clients see their connection closed. */
	for (int i = 0; i < 5; i++) {
		char c;

		assert_int_equal(recv(clients[i], &c, 1, MSG_DONTWAIT), 0);
		close(clients[i]);
	}
	while (n_hog)
		close(hog[--n_hog]);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	fd = client(f);
	assert_true(fd >= 0);
	pump(f, 2);
	assert_int_equal(f->accepted, 1);
	close(fd);
}

/* A TCP client from src to the listener's port on 127.0.0.1. */
static int inet_client(const char *src, uint16_t port)
{
	struct sockaddr_in from = { .sin_family = AF_INET }, to = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	inet_pton(AF_INET, src, &from.sin_addr);
	inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
	to.sin_port = htons(port);
	assert_int_equal(bind(fd, (struct sockaddr *)&from, sizeof(from)), 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&to, sizeof(to)), 0);
	return fd;
}

static void test_allowlist(void **state)
{
	struct fixture *f = *state;
	struct rg_cidr allow[2];
	struct rg_ev_listener *il;
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int ok, bad, ux;
	char c = 'x';

	assert_int_equal(rg_cidr_parse("127.0.0.2", &allow[0], false), 0);
	assert_int_equal(rg_cidr_parse("::1", &allow[1], false), 0);
	assert_int_equal(rg_ev_listen(f->ev, "inet:127.0.0.1:0", NULL, on_accept, f, &il), 0);
	rg_ev_listener_allow(il, allow, 2);
	rg_ev_listener_allow(f->l, allow, 2);	/* unix: no effect */
	assert_int_equal(getsockname(il->fd, (struct sockaddr *)&sa, &sl), 0);

	bad = inet_client("127.0.0.3", ntohs(sa.sin_port));
	pump(f, 2);
	assert_int_equal(f->accepted, 0);
	assert_int_equal(il->refused_not_allowed, 1);
	assert_int_equal(rg_ev_refused_not_allowed(f->ev), 1);
	/* closed at accept: the client reads EOF (or a reset), never an echo */
	assert_true(recv(bad, &c, 1, 0) <= 0);
	close(bad);

	ok = inet_client("127.0.0.2", ntohs(sa.sin_port));
	ux = client(f);
	assert_true(ux >= 0);
	pump(f, 2);
	assert_int_equal(f->accepted, 2);
	assert_int_equal(send(ok, "hi", 2, 0), 2);
	pump(f, 2);
	assert_int_equal(recv(ok, &c, 1, 0), 1);
	assert_int_equal(c, 'h');
	assert_int_equal(rg_ev_refused_not_allowed(f->ev), 1);
	close(ok);
	close(ux);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_echo_and_expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_output_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_out_of_descriptors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_allowlist, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
