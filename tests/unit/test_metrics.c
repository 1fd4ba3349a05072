// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * test_metrics.c: the Prometheus endpoint on 127.0.0.1:<ephemeral>, scraped over a raw TCP
 * socket while the test drives the server's fd: status, content type, every line of the
 * page valid exposition format 0.0.4 with HELP/TYPE before samples, label escaping,
 * cumulative histogram buckets, 404/405 for other paths and methods, a stalled client not
 * blocking a scrape; the policy request duration histogram fed by the real policy server
 * (every answered request observed once, fail_mode answers included, a malformed one not,
 * a slow decision in a bucket above its duration); and the text helpers and listen-string
 * parsing on their own.
 */
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "metrics.h"
#include "policy.h"

struct fixture {
	struct rg_metrics *m;
	struct rg_hist h;
	int calls;
};

static void source_a(void *ctx, struct rg_mbuf *b)
{
	struct fixture *f = ctx;

	f->calls++;
	rg_metric_counter(b, "relayguard_test_requests_total", "Requests seen.", 42);
	rg_metric_family(b, "relayguard_test_tenant_restricted", "gauge",
			 "1 if the tenant is restricted.\nSecond \\ line.");
	rg_metric_sample(b, "relayguard_test_tenant_restricted", 1, "tenant", "contoso", NULL);
	rg_metric_sample(b, "relayguard_test_tenant_restricted", 0, "tenant", "we\"ird\\na\nme",
			 "mode", "enforce", NULL);
}

static void source_b(void *ctx, struct rg_mbuf *b)
{
	struct fixture *f = ctx;

	rg_hist_write(b, "relayguard_test_latency_seconds", "Decision latency.", &f->h);
	rg_metric_gauge(b, "relayguard_test_uptime_seconds", "Uptime.", 12.5);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(rg_metrics_new("inet:127.0.0.1:0", &f->m), 0);
	assert_true(rg_metrics_port(f->m) > 0);
	rg_hist_init_latency(&f->h);
	rg_hist_observe(&f->h, 0.00003);
	rg_hist_observe(&f->h, 0.0002);
	rg_hist_observe(&f->h, 0.0002);
	rg_hist_observe(&f->h, 0.003);
	rg_hist_observe(&f->h, 30);
	assert_int_equal(rg_metrics_add_source(f->m, source_a, f), 0);
	assert_int_equal(rg_metrics_add_source(f->m, source_b, f), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	rg_metrics_free(f->m);
	free(f);
	return 0;
}

static void pump(struct rg_metrics *m, int ms)
{
	struct pollfd p = { .fd = rg_metrics_fd(m), .events = POLLIN };

	if (poll(&p, 1, ms) > 0)
		assert_int_equal(rg_metrics_dispatch(m), 0);
}

static int connect_port(uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* One HTTP/1.0 exchange; returns the status, the whole response in resp. */
static int http(struct rg_metrics *m, const char *method, const char *path, char *resp,
		size_t len)
{
	char req[256];
	size_t n = 0;
	int fd = connect_port(rg_metrics_port(m)), status = -1;

	snprintf(req, sizeof(req), "%s %s HTTP/1.0\r\nHost: test\r\n\r\n", method, path);
	assert_int_equal(send(fd, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
	for (int i = 0; i < 500; i++) {
		ssize_t r;

		pump(m, 10);
		r = recv(fd, resp + n, len - 1 - n, MSG_DONTWAIT);
		if (r == 0)
			break;
		if (r > 0)
			n += (size_t)r;
		assert_true(n < len - 1);
	}
	resp[n] = '\0';
	close(fd);
	if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1)
		return -1;
	return status;
}

static const char *body_of(const char *resp)
{
	const char *p = strstr(resp, "\r\n\r\n");

	assert_non_null(p);
	return p + 4;
}

static void test_scrape_format(void **state)
{
	struct fixture *f = *state;
	static char resp[65536];
	char *body, *line, *save = NULL;
	regex_t sample, help, type;
	char typed[64][96];
	size_t n_typed = 0;

	assert_int_equal(http(f->m, "GET", "/metrics", resp, sizeof(resp)), 200);
	assert_non_null(strcasestr(resp, "\r\nContent-Type: text/plain; version=0.0.4"));
	assert_int_equal(f->calls, 1);
	assert_int_equal(rg_metrics_scrapes(f->m), 1);
	body = strdup(body_of(resp));
	assert_non_null(body);
	assert_true(strlen(body) > 0 && body[strlen(body) - 1] == '\n');

	assert_non_null(strstr(body, "# HELP relayguard_test_requests_total Requests seen.\n"
				     "# TYPE relayguard_test_requests_total counter\n"
				     "relayguard_test_requests_total 42\n"));
	assert_non_null(strstr(body, "# HELP relayguard_test_tenant_restricted 1 if the tenant "
				     "is restricted.\\nSecond \\\\ line.\n"));
	assert_non_null(strstr(body, "relayguard_test_tenant_restricted{tenant=\"contoso\"} 1\n"));
	assert_non_null(strstr(body, "relayguard_test_tenant_restricted{tenant=\"we\\\"ird\\\\na"
				     "\\nme\",mode=\"enforce\"} 0\n"));
	assert_non_null(strstr(body, "relayguard_test_uptime_seconds 12.5\n"));

	/* Every line: HELP, TYPE, or a sample of a family typed before it. */
	assert_int_equal(regcomp(&sample,
				 "^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\]|"
				 "\\\\.)*\"(,[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\]|\\\\.)*\")*\\})? "
				 "(-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?|[-+]Inf|NaN)$",
				 REG_EXTENDED), 0);
	assert_int_equal(regcomp(&help, "^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* [^\n]*$", REG_EXTENDED),
			 0);
	assert_int_equal(regcomp(&type, "^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) "
				 "(counter|gauge|histogram|summary|untyped)$", REG_EXTENDED), 0);
	for (line = strtok_r(body, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		regmatch_t mt[3];

		if (!strncmp(line, "# HELP ", 7)) {
			assert_int_equal(regexec(&help, line, 0, NULL, 0), 0);
		} else if (!strncmp(line, "# TYPE ", 7)) {
			assert_int_equal(regexec(&type, line, 3, mt, 0), 0);
			assert_true(n_typed < 64);
			snprintf(typed[n_typed++], sizeof(typed[0]), "%.*s",
				 (int)(mt[1].rm_eo - mt[1].rm_so), line + mt[1].rm_so);
		} else {
			char name[96];
			bool found = false;

			if (regexec(&sample, line, 2, mt, 0))
				fail_msg("not a valid sample line: %s", line);
			snprintf(name, sizeof(name), "%.*s", (int)(mt[1].rm_eo - mt[1].rm_so),
				 line + mt[1].rm_so);
			for (size_t i = 0; i < n_typed && !found; i++) {
				size_t l = strlen(typed[i]);

				found = !strcmp(name, typed[i]) ||
					(!strncmp(name, typed[i], l) &&
					 (!strcmp(name + l, "_bucket") || !strcmp(name + l, "_sum") ||
					  !strcmp(name + l, "_count")));
			}
			if (!found)
				fail_msg("sample before its TYPE: %s", line);
		}
	}
	assert_true(n_typed >= 4);
	regfree(&sample);
	regfree(&help);
	regfree(&type);
	free(body);
}

static void test_histogram_cumulative(void **state)
{
	struct fixture *f = *state;
	static char resp[65536];
	const char *p;
	unsigned long long prev = 0, v, inf = 0, count = 0;
	int buckets = 0;
	double sum;

	assert_int_equal(http(f->m, "GET", "/metrics", resp, sizeof(resp)), 200);
	assert_non_null(strstr(resp, "# TYPE relayguard_test_latency_seconds histogram\n"));
	for (p = strstr(resp, "relayguard_test_latency_seconds_bucket{le=\""); p;
	     p = strstr(p + 1, "relayguard_test_latency_seconds_bucket{le=\"")) {
		const char *sp = strchr(p, ' ');

		assert_non_null(sp);
		v = strtoull(sp + 1, NULL, 10);
		assert_true(v >= prev);
		prev = v;
		buckets++;
		if (!strncmp(p + strlen("relayguard_test_latency_seconds_bucket{le=\""), "+Inf", 4))
			inf = v;
	}
	assert_int_equal(buckets, 17);	/* 16 bounds and +Inf */
	assert_non_null(strstr(resp, "relayguard_test_latency_seconds_bucket{le=\"5e-05\"} 1\n"));
	assert_non_null(strstr(resp, "relayguard_test_latency_seconds_bucket{le=\"0.00025\"} 3\n"));
	assert_non_null(strstr(resp, "relayguard_test_latency_seconds_bucket{le=\"0.0025\"} 3\n"));
	assert_non_null(strstr(resp, "relayguard_test_latency_seconds_bucket{le=\"0.005\"} 4\n"));
	assert_non_null(strstr(resp, "relayguard_test_latency_seconds_bucket{le=\"5\"} 4\n"));
	assert_int_equal(inf, 5);
	p = strstr(resp, "\nrelayguard_test_latency_seconds_count ");
	assert_non_null(p);
	count = strtoull(p + strlen("\nrelayguard_test_latency_seconds_count "), NULL, 10);
	assert_int_equal(count, inf);
	p = strstr(resp, "\nrelayguard_test_latency_seconds_sum ");
	assert_non_null(p);
	sum = strtod(p + strlen("\nrelayguard_test_latency_seconds_sum "), NULL);
	assert_true(fabs(sum - 30.00343) < 1e-9);
}

static void test_other_paths_and_methods(void **state)
{
	struct fixture *f = *state;
	static char resp[8192];

	assert_int_equal(http(f->m, "GET", "/", resp, sizeof(resp)), 404);
	assert_int_equal(http(f->m, "GET", "/metricsx", resp, sizeof(resp)), 404);
	assert_int_equal(http(f->m, "GET", "/metrics/", resp, sizeof(resp)), 404);
	assert_int_equal(http(f->m, "GET", "/../metrics/..", resp, sizeof(resp)), 404);
	assert_int_equal(http(f->m, "POST", "/metrics", resp, sizeof(resp)), 405);
	assert_non_null(strcasestr(resp, "\r\nAllow: GET"));
	assert_int_equal(http(f->m, "DELETE", "/metrics", resp, sizeof(resp)), 405);
	assert_int_equal(f->calls, 0);
	assert_int_equal(rg_metrics_scrapes(f->m), 0);
	/* Junk instead of HTTP: an error status or a close, and the server lives on. */
	{
		int fd = connect_port(rg_metrics_port(f->m));
		char buf[512];

		assert_true(send(fd, "\x01\x02garbage\r\n\r\n", 13, MSG_NOSIGNAL) == 13);
		for (int i = 0; i < 100; i++)
			pump(f->m, 10);
		if (recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT) > 0)
			assert_memory_equal(buf, "HTTP/1.", 7);
		close(fd);
	}
	assert_int_equal(http(f->m, "GET", "/metrics", resp, sizeof(resp)), 200);
	assert_int_equal(f->calls, 1);
}

static void test_stalled_client(void **state)
{
	struct fixture *f = *state;
	static char resp[65536];
	int stalled = connect_port(rg_metrics_port(f->m));

	/* Half a request line: the single-threaded server must not wait for the rest. */
	assert_int_equal(send(stalled, "GET /met", 8, MSG_NOSIGNAL), 8);
	pump(f->m, 10);
	assert_int_equal(http(f->m, "GET", "/metrics", resp, sizeof(resp)), 200);
	assert_int_equal(http(f->m, "GET", "/metrics", resp, sizeof(resp)), 200);
	assert_int_equal(rg_metrics_scrapes(f->m), 2);
	close(stalled);
}

/* DUNNO, but -EIO for sender fail@... (answered per fail_mode) and a 3 ms decision for
 * slow@... */
/* A TCP client to port from the loopback address src. */
static int connect_from(const char *src, uint16_t port)
{
	struct sockaddr_in from = { .sin_family = AF_INET };
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(inet_pton(AF_INET, src, &from.sin_addr), 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&from, sizeof(from)), 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* true when the server closed fd (EOF or reset), false while it is still open. */
static bool closed_by_server(int fd)
{
	char c;
	ssize_t r = recv(fd, &c, 1, MSG_DONTWAIT);

	return r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

/*
 * 64 clients trickling a request a byte at a time from one address hold at most 8
 * connections (the rest are closed at once) and a scrape from elsewhere is answered; a
 * trickler from another address is cut at its deadline although it never goes idle.
 */
/*
 * Two tricklers a second apart: the first is cut at its deadline and closed; the second,
 * still queued behind it, must be cut at its own (a cut connection leaves the queue once:
 * its close must not unlink it again and lose the rest).
 */
static void test_cut_keeps_queue(void **state)
{
	struct fixture *f = *state;
	int a, b;
	bool a_cut = false, b_cut = false;
	double start, t0;

	a = connect_from("127.0.0.7", rg_metrics_port(f->m));
	start = now_s();
	while (now_s() - start < 1.0)
		pump(f->m, 10);
	b = connect_from("127.0.0.8", rg_metrics_port(f->m));
	while (!b_cut && now_s() - start < 15) {
		t0 = now_s();
		if (!a_cut)
			send(a, "G", 1, MSG_NOSIGNAL);
		send(b, "G", 1, MSG_NOSIGNAL);
		while (now_s() - t0 < 0.2)
			pump(f->m, 10);
		if (!a_cut && closed_by_server(a)) {
			a_cut = true;
			close(a);	/* gone on our side too: MHD reports it closed */
		}
		b_cut = closed_by_server(b);
	}
	assert_true(a_cut);
	assert_true(b_cut);
	assert_int_equal(rg_metrics_cut(f->m), 2);
	close(b);
}

static void test_tricklers(void **state)
{
	struct fixture *f = *state;
	static char resp[65536];
	int t[64], lone, held = 0;
	bool cut = false;
	double start;

	for (int i = 0; i < 64; i++) {
		t[i] = connect_from("127.0.0.5", rg_metrics_port(f->m));
		pump(f->m, 5);
		send(t[i], "G", 1, MSG_NOSIGNAL);
	}
	for (int r = 0; r < 20; r++)
		pump(f->m, 10);
	for (int i = 0; i < 64; i++)
		held += !closed_by_server(t[i]);
	assert_true(held <= 8);
	assert_int_equal(http(f->m, "GET", "/metrics", resp, sizeof(resp)), 200);

	/* One byte every 200 ms never lets the idle timeout fire; the deadline does. */
	lone = connect_from("127.0.0.6", rg_metrics_port(f->m));
	start = now_s();
	while (!cut && now_s() - start < 20) {
		double t0 = now_s();

		send(lone, "G", 1, MSG_NOSIGNAL);
		while (now_s() - t0 < 0.2)
			pump(f->m, 10);
		cut = closed_by_server(lone);
	}
	assert_true(cut);
	assert_true(rg_metrics_cut(f->m) >= 1);
	assert_int_equal(http(f->m, "GET", "/metrics", resp, sizeof(resp)), 200);
	close(lone);
	for (int i = 0; i < 64; i++)
		close(t[i]);
}

static int duration_decide(void *ctx, const struct rg_policy_req *req, char *action,
			   size_t len)
{
	const char *sender = rg_policy_req_find(req, "sender");
	struct timespec ms3 = { 0, 3000000 };

	if (sender && !strncmp(sender, "fail@", 5))
		return -EIO;
	if (sender && !strncmp(sender, "slow@", 5))
		nanosleep(&ms3, NULL);
	snprintf(action, len, "DUNNO");
	return 0;
}

static void duration_source(void *ctx, struct rg_mbuf *b)
{
	rg_hist_write(b, "relayguard_policy_decision_duration_seconds", "Decision time.", ctx);
}

/* Sends text on a new connection to the policy socket, pumping the server until n replies
 * (blank-line terminated) came back or the server closed; returns the replies seen. */
static int policy_exchange(struct rg_policy_server *ps, const char *path, const char *text,
			   int n)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[4096];
	size_t got = 0;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), replies = 0;

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(send(fd, text, strlen(text), MSG_NOSIGNAL), (ssize_t)strlen(text));
	for (int i = 0; i < 500 && replies < n; i++) {
		ssize_t r;

		assert_true(rg_policy_server_dispatch(ps, 10) >= 0);
		r = recv(fd, buf + got, sizeof(buf) - 1 - got, MSG_DONTWAIT);
		if (r == 0)
			break;
		if (r > 0)
			got += (size_t)r;
		buf[got] = '\0';
		replies = 0;
		for (const char *p = buf; (p = strstr(p, "\n\n")); p += 2)
			replies++;
	}
	close(fd);
	return replies;
}

#define REQ(sender) "request=smtpd_access_policy\nprotocol_state=RCPT\n" \
		    "client_address=192.0.2.7\nsender=" sender "\n\n"

static void test_policy_duration(void **state)
{
	char dir[] = "/tmp/rg-metrics.XXXXXX", path[64], listen_s[80];
	const char *listen_v[1] = { listen_s };
	struct rg_policy_server *ps = NULL;
	struct rg_policy_stats st;
	struct rg_metrics *m = NULL;
	struct rg_hist h;
	static char resp[65536];
	const char *p;
	double sum;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/policy.sock", dir);
	snprintf(listen_s, sizeof(listen_s), "unix:%s", path);
	rg_hist_init_latency(&h);
	struct rg_policy_server_opts o = {
		.listen = listen_v, .n_listen = 1, .fail_mode = RG_FAIL_OPEN,
		.decide = duration_decide, .observe = rg_hist_observe_ns, .observe_ctx = &h,
	};
	assert_int_equal(rg_policy_server_new(&o, &ps), 0);
	assert_int_equal(rg_metrics_new("inet:127.0.0.1:0", &m), 0);
	assert_int_equal(rg_metrics_add_source(m, duration_source, &h), 0);

	/* Three pipelined on one connection, a fail_mode answer, a slow one, and a request
	 * that is not one (no reply, not observed). */
	assert_int_equal(policy_exchange(ps, path, REQ("a@x.example") REQ("b@x.example")
					 REQ("c@x.example"), 3), 3);
	assert_int_equal(policy_exchange(ps, path, REQ("fail@x.example"), 1), 1);
	assert_int_equal(policy_exchange(ps, path, REQ("slow@x.example"), 1), 1);
	assert_int_equal(policy_exchange(ps, path, "no equals sign\n\n", 1), 0);
	rg_policy_server_get_stats(ps, &st);
	assert_int_equal(st.requests, 5);
	assert_int_equal(st.decide_failures, 1);
	assert_int_equal(st.malformed, 1);

	assert_int_equal(http(m, "GET", "/metrics", resp, sizeof(resp)), 200);
	assert_non_null(strstr(resp, "# TYPE relayguard_policy_decision_duration_seconds "
				     "histogram\n"));
	assert_non_null(strstr(resp, "\nrelayguard_policy_decision_duration_seconds_count 5\n"));
	assert_non_null(strstr(resp, "relayguard_policy_decision_duration_seconds_bucket"
				     "{le=\"+Inf\"} 5\n"));
	/* The 3 ms decision is above the 2.5 ms bound, so at most 4 are at or below it. */
	p = strstr(resp, "relayguard_policy_decision_duration_seconds_bucket{le=\"0.0025\"} ");
	assert_non_null(p);
	assert_true(strtoull(strchr(p, ' ') + 1, NULL, 10) <= 4);
	p = strstr(resp, "\nrelayguard_policy_decision_duration_seconds_sum ");
	assert_non_null(p);
	sum = strtod(strchr(p + 1, ' ') + 1, NULL);
	assert_true(sum >= 0.003);

	rg_metrics_free(m);
	rg_policy_server_free(ps);
	rmdir(dir);
}

static void test_listen_strings(void **state)
{
	static const char *bad[] = {
		"127.0.0.1:9433", "inet:127.0.0.1", "inet::1:80", "inet:127.0.0.1:99999",
		"inet:127.0.0.1:", "inet::80", "unix:/tmp/x", "inet:[::1:80", "inet:127.0.0.1:8a",
		"inet:[]:80", "",
	};
	struct rg_metrics *m = NULL, *m2 = NULL;
	int err;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(rg_metrics_new(bad[i], &m), -EINVAL);
		assert_null(m);
	}
	/* A taken port is reported as such. */
	assert_int_equal(rg_metrics_new("inet:127.0.0.1:0", &m), 0);
	{
		char s[64];

		snprintf(s, sizeof(s), "inet:127.0.0.1:%u", rg_metrics_port(m));
		assert_int_equal(rg_metrics_new(s, &m2), -EADDRINUSE);
		assert_null(m2);
	}
	rg_metrics_free(m);
	/* IPv6 loopback, where the system has it. */
	err = rg_metrics_new("inet:[::1]:0", &m);
	if (err == -EADDRNOTAVAIL || err == -EAFNOSUPPORT)
		return;
	assert_int_equal(err, 0);
	assert_true(rg_metrics_port(m) > 0);
	rg_metrics_free(m);
}

static void test_helpers(void **state)
{
	struct rg_mbuf b;
	struct rg_hist h;
	static const double bad1[] = { 1, 1 };
	static const double bad2[] = { 2, 1 };
	static const double ok[] = { 1, 2 };
	static const double bad3[] = { 0, NAN };

	rg_mbuf_init(&b);
	rg_metric_sample(&b, "a", 9007199254740991.0, NULL);
	rg_metric_sample(&b, "b", 0.25, NULL);
	rg_metric_sample(&b, "c", NAN, NULL);
	rg_metric_sample(&b, "d", INFINITY, NULL);
	rg_metric_sample(&b, "e", -3, "k", "", NULL);
	assert_int_equal(b.err, 0);
	assert_string_equal(b.buf, "a 9007199254740991\nb 0.25\nc NaN\nd +Inf\ne{k=\"\"} -3\n");
	rg_mbuf_free(&b);
	assert_null(b.buf);

	assert_int_equal(rg_hist_init(&h, bad1, 2), -EINVAL);
	assert_int_equal(rg_hist_init(&h, bad2, 2), -EINVAL);
	assert_int_equal(rg_hist_init(&h, bad3, 2), -EINVAL);
	assert_int_equal(rg_hist_init(&h, ok, RG_HIST_MAX_BUCKETS + 1), -EINVAL);
	assert_int_equal(rg_hist_init(&h, ok, 2), 0);
	rg_hist_observe(&h, 1);		/* on a bound: that bucket (le is <=) */
	rg_hist_observe(&h, 1.5);
	rg_hist_observe(&h, 3);
	rg_hist_observe(&h, NAN);	/* ignored */
	rg_mbuf_init(&b);
	rg_hist_write(&b, "x_seconds", "X.", &h);
	assert_string_equal(b.buf, "# HELP x_seconds X.\n# TYPE x_seconds histogram\n"
				   "x_seconds_bucket{le=\"1\"} 1\nx_seconds_bucket{le=\"2\"} 2\n"
				   "x_seconds_bucket{le=\"+Inf\"} 3\nx_seconds_sum 5.5\n"
				   "x_seconds_count 3\n");
	rg_mbuf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_scrape_format, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tricklers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cut_keeps_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_histogram_cumulative, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_paths_and_methods, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stalled_client, setup, teardown),
		cmocka_unit_test(test_policy_duration),
		cmocka_unit_test(test_listen_strings),
		cmocka_unit_test(test_helpers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
