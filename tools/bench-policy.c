// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * bench-policy.c: load client for Postfix policy servers (not a test). Opens C connections
 * to unix:PATH or inet:HOST:PORT, keeps one request outstanding on each (as smtpd does),
 * and sends relay traffic at RCPT stage: half the senders unregistered, IPv4 and IPv6
 * clients from the documentation ranges, a distinct instance per transaction. Runs for a
 * duration (after a warm-up) or a request count. Reports reply counts and latency details
 * on stderr, and one line on stdout:
 *   bench-policy SERVER conns=C req_per_s=R p50_us=X p99_us=Y
 * With -p PID (the server's process) a second line gives the server's CPU time (utime +
 * stime of /proc/PID/stat, all its threads) over the measured span per request answered:
 *   bench-policy SERVER conns=C cpu_us_per_req=X
 *
 *   bench-policy [-l LABEL] [-c CONNS] [-d SECONDS] [-w WARMUP_S] [-n COUNT] [-p PID] ADDR
 */
#include <errno.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 4096
#define REQ_MAX 1024
#define RESP_MAX 1024

struct bconn {
	int fd;
	unsigned idx;
	uint64_t seq;
	char req[REQ_MAX];
	size_t req_len, req_off;
	char resp[RESP_MAX];
	size_t resp_len;
	uint64_t t_sent;
};

struct samples {
	uint32_t *v;	/* latencies in microseconds */
	size_t n, cap;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* CPU time process PID has used (user + system, all threads) in *ns: 0 or -errno. */
static int proc_cpu_ns(long pid, uint64_t *ns)
{
	char path[64], buf[1024], *p;
	unsigned long ut, st;
	long hz = sysconf(_SC_CLK_TCK);
	FILE *f = NULL;
	size_t n;
	int err = 0;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "re");
	if (!f) {
		err = -errno;
		goto out;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	/* The command name may hold spaces and parentheses: the fields follow the last ')'. */
	p = strrchr(buf, ')');
	if (!p || hz <= 0 || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
				  &ut, &st) != 2) {
		err = -EINVAL;
		goto out;
	}
	*ns = (uint64_t)(ut + st) * (1000000000ULL / (uint64_t)hz);
out:
	if (f)
		fclose(f);
	return err;
}

static int connect_addr(const char *addr)
{
	int fd = -1;

	if (!strncmp(addr, "unix:", 5)) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };

		if (strlen(addr + 5) >= sizeof(sa.sun_path))
			return -ENAMETOOLONG;
		strcpy(sa.sun_path, addr + 5);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			goto fail;
		return fd;
	}
	if (!strncmp(addr, "inet:", 5)) {
		char host[256];
		const char *hp = addr + 5, *port;
		struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
		int one = 1;

		if (hp[0] == '[') {
			const char *e = strchr(hp, ']');

			if (!e || e[1] != ':' || (size_t)(e - hp) >= sizeof(host))
				return -EINVAL;
			snprintf(host, sizeof(host), "%.*s", (int)(e - hp - 1), hp + 1);
			port = e + 2;
		} else {
			const char *c = strrchr(hp, ':');

			if (!c || (size_t)(c - hp) >= sizeof(host))
				return -EINVAL;
			snprintf(host, sizeof(host), "%.*s", (int)(c - hp), hp);
			port = c + 1;
		}
		if (getaddrinfo(host, port, &hints, &ai))
			return -EINVAL;
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
			freeaddrinfo(ai);
			goto fail;
		}
		freeaddrinfo(ai);
		setsockopt(fd, IPPROTO_TCP, 1 /* TCP_NODELAY */, &one, sizeof(one));
		return fd;
	}
	return -EINVAL;
fail:
	{
		int err = -errno;

		if (fd >= 0)
			close(fd);
		return err;
	}
}

/* Relay traffic: transaction seq on connection idx. */
static void build_request(struct bconn *c)
{
	uint64_t s = c->seq;
	char client[64], sender[128];
	int n;

	if (s & 1)
		snprintf(client, sizeof(client), "192.0.2.%u", (unsigned)(c->idx % 250) + 1);
	else
		snprintf(client, sizeof(client), "2001:db8:10::%x", c->idx + 1);
	if ((s >> 1) & 1)
		snprintf(sender, sizeof(sender), "user%llu@spam%u.bad.example",
			 (unsigned long long)s, (unsigned)(s % 97));
	else
		snprintf(sender, sizeof(sender), "user%llu@contoso.com", (unsigned long long)s);
	n = snprintf(c->req, sizeof(c->req),
		     "request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"
		     "client_address=%s\nclient_name=unknown\nreverse_client_name=unknown\n"
		     "helo_name=relay%u.tenant.test\nsender=%s\nrecipient=rcpt%llu@example.org\n"
		     "recipient_count=0\nqueue_id=\ninstance=%x.%llx.%u\nsize=0\n"
		     "sasl_method=\nsasl_username=\nsasl_sender=\nccert_subject=\n"
		     "encryption_protocol=\nencryption_cipher=\nencryption_keysize=0\n"
		     "stress=\n\n",
		     client, c->idx, sender, (unsigned long long)s, c->idx + 1,
		     (unsigned long long)s, (unsigned)(s % 7));
	c->req_len = (size_t)n;
	c->req_off = 0;
	c->seq++;
}

static int send_some(struct bconn *c)
{
	while (c->req_off < c->req_len) {
		ssize_t n = send(c->fd, c->req + c->req_off, c->req_len - c->req_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			return -errno;
		}
		c->req_off += (size_t)n;
	}
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int add_sample(struct samples *s, uint32_t us)
{
	if (s->n == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 65536;
		uint32_t *nv = realloc(s->v, ncap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		s->v = nv;
		s->cap = ncap;
	}
	s->v[s->n++] = us;
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: bench-policy [-l LABEL] [-c CONNS] [-d SECONDS] [-w WARMUP_S] "
			"[-n COUNT] [-p SERVER_PID] unix:PATH|inet:HOST:PORT\n");
}

int main(int argc, char **argv)
{
	const char *label = "server", *addr;
	unsigned conns = 1, i;
	double dur = 5, warm = 1;
	unsigned long long count = 0, done = 0, dunno = 0, reject = 0, other = 0;
	struct bconn *cs = NULL;
	struct samples smp = { 0 };
	uint64_t t0, t_measure, t_end, t_last = 0, cpu0 = 0, cpu1 = 0;
	long server_pid = 0;
	bool cpu_started = false;
	int ep = -1, opt, err = 0;

	while ((opt = getopt(argc, argv, "l:c:d:w:n:p:")) != -1) {
		switch (opt) {
		case 'l':
			label = optarg;
			break;
		case 'c':
			conns = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'd':
			dur = strtod(optarg, NULL);
			break;
		case 'w':
			warm = strtod(optarg, NULL);
			break;
		case 'n':
			count = strtoull(optarg, NULL, 10);
			break;
		case 'p':
			server_pid = strtol(optarg, NULL, 10);
			break;
		default:
			usage();
			return 2;
		}
	}
	if (optind != argc - 1 || !conns || conns > MAX_CONNS || dur <= 0 || warm < 0) {
		usage();
		return 2;
	}
	addr = argv[optind];
	cs = calloc(conns, sizeof(*cs));
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (!cs || ep < 0) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < conns; i++)
		cs[i].fd = -1;
	for (i = 0; i < conns; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &cs[i] };

		cs[i].idx = i;
		cs[i].fd = connect_addr(addr);
		if (cs[i].fd < 0) {
			err = cs[i].fd;
			fprintf(stderr, "bench-policy: connect %s: %s\n", addr, strerror(-err));
			goto out;
		}
		epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
	}
	t0 = now_ns();
	/* With a count there is no warm-up: every request is measured. */
	t_measure = count ? t0 : t0 + (uint64_t)(warm * 1e9);
	t_end = count ? UINT64_MAX : t_measure + (uint64_t)(dur * 1e9);
	for (i = 0; i < conns; i++) {
		build_request(&cs[i]);
		cs[i].t_sent = now_ns();
		err = send_some(&cs[i]);
		if (err)
			goto out;
	}

	for (;;) {
		struct epoll_event evs[64];
		int n = epoll_wait(ep, evs, 64, 1000), k;
		uint64_t now = now_ns();

		if (n < 0 && errno != EINTR) {
			err = -errno;
			goto out;
		}
		if (now >= t_end || (count && done >= count))
			break;
		/* The server's CPU is counted over the span whose requests are counted. */
		if (server_pid && !cpu_started && now >= t_measure) {
			err = proc_cpu_ns(server_pid, &cpu0);
			if (err)
				goto out;
			cpu_started = true;
		}
		if (n == 0 && now - (t_last ? t_last : t0) > 10000000000ULL) {
			fprintf(stderr, "bench-policy: no reply for 10 s, giving up\n");
			err = -ETIMEDOUT;
			goto out;
		}
		for (k = 0; k < n; k++) {
			struct bconn *c = evs[k].data.ptr;
			ssize_t r;

			if (c->req_off < c->req_len) {
				err = send_some(c);
				if (err)
					goto out;
			}
			r = recv(c->fd, c->resp + c->resp_len, sizeof(c->resp) - c->resp_len,
				 MSG_DONTWAIT);
			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (r <= 0) {
				fprintf(stderr, "bench-policy: server closed connection %u after %llu "
						"requests\n", c->idx, (unsigned long long)c->seq - 1);
				err = -EPIPE;
				goto out;
			}
			c->resp_len += (size_t)r;
			if (c->resp_len < 2 || memcmp(c->resp + c->resp_len - 2, "\n\n", 2)) {
				if (c->resp_len == sizeof(c->resp)) {
					err = -EOVERFLOW;
					goto out;
				}
				continue;
			}
			now = now_ns();
			t_last = now;
			if (now >= t_measure && c->t_sent >= t_measure) {
				done++;
				if (!strncmp(c->resp, "action=DUNNO\n", 13))
					dunno++;
				else if (!strncmp(c->resp, "action=550 ", 11) ||
					 !strncmp(c->resp, "action=REJECT", 13))
					reject++;
				else
					other++;
				err = add_sample(&smp, (uint32_t)((now - c->t_sent) / 1000));
				if (err)
					goto out;
			}
			c->resp_len = 0;
			build_request(c);
			c->t_sent = now;
			err = send_some(c);
			if (err)
				goto out;
		}
	}
	if (cpu_started) {
		err = proc_cpu_ns(server_pid, &cpu1);
		if (err)
			goto out;
	}
	{
		uint64_t span = (count ? now_ns() : t_end) - t_measure;
		double rps = span ? (double)done * 1e9 / (double)span : 0;
		uint32_t p50 = 0, p99 = 0, pmax = 0;

		if (smp.n) {
			qsort(smp.v, smp.n, sizeof(*smp.v), cmp_u32);
			p50 = smp.v[smp.n / 2];
			p99 = smp.v[(size_t)((double)smp.n * 0.99)];
			pmax = smp.v[smp.n - 1];
		}
		fprintf(stderr, "bench-policy: %s %s conns=%u measured=%.1fs requests=%llu "
				"dunno=%llu reject=%llu other=%llu max_us=%u\n",
			label, addr, conns, (double)span / 1e9, done, dunno, reject, other, pmax);
		printf("bench-policy %s conns=%u req_per_s=%.0f p50_us=%u p99_us=%u\n", label, conns,
		       rps, p50, p99);
		if (cpu_started && done)
			printf("bench-policy %s conns=%u cpu_us_per_req=%.2f\n", label, conns,
			       (double)(cpu1 - cpu0) / 1e3 / (double)done);
		if (!done)
			err = -EIO;
	}
out:
	if (cs) {
		for (i = 0; i < conns; i++) {
			if (cs[i].fd >= 0)
				close(cs[i].fd);
		}
	}
	free(cs);
	free(smp.v);
	if (ep >= 0)
		close(ep);
	return err < 0 ? 1 : 0;
}
