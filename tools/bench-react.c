// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * bench-react.c: one reaction-time sample for tools/bench-react.sh (a benchmark helper,
 * asserts nothing). It sends the triggering event, then SYNs from the host the event
 * names, and reports how long after the event the first SYN went unanswered (dropped).
 *
 * Takes: --netns PATH (the client's network namespace, entered after the trigger's files
 * and sockets are open), --src ADDR (the host, an IPv4 address of that namespace), --dst
 * ADDR (the server; nothing listens on port 25 there, so an answered SYN gets a RST),
 * [--wait-ms N] (how long a SYN may stay unanswered before it counts as dropped, default
 * 100), [--max-s N] (bound of the SYN loop, default 20), and one trigger:
 *   --policy SOCK --count K   K policy requests for client_address=ADDR with an
 *                             unregistered sender; the clock starts before the last is sent
 *   --log FILE --count K [--pre-ms N]   K Postfix reject lines naming ADDR appended to FILE;
 *                             N ms (default 1500) after the first K-1, the clock starts
 *                             before the last is written
 * Reports: "react_ms=X syns=N" (X -1 when nothing was dropped within --max-s).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int policy_request(int fd, const char *addr, int n)
{
	char buf[512], reply[512];
	int len, got = 0;

	len = snprintf(buf, sizeof(buf),
		       "request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"
		       "client_address=%s\nclient_name=unknown\nhelo_name=bench\n"
		       "sender=bench%d@spam.example\nrecipient=r@dest.example\n"
		       "instance=react.%s.%d\n\n", addr, n, addr, n);
	if (len < 0 || (size_t)len >= sizeof(buf))
		return -EOVERFLOW;
	if (write(fd, buf, len) != len)
		return -EIO;
	/* A reply ends with an empty line. */
	while (got < (int)sizeof(reply) - 1) {
		ssize_t r = read(fd, reply + got, sizeof(reply) - 1 - got);

		if (r <= 0)
			return -EIO;
		got += r;
		reply[got] = '\0';
		if (strstr(reply, "\n\n"))
			return 0;
	}
	return -EOVERFLOW;
}

static int log_line(int fd, const char *addr, int n)
{
	char buf[512], ts[32];
	time_t t = time(NULL);
	struct tm tm;
	int len;

	localtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%b %e %H:%M:%S", &tm);
	len = snprintf(buf, sizeof(buf),
		       "%s relay postfix/smtpd[%d]: NOQUEUE: reject: RCPT from unknown[%s]: "
		       "550 5.7.750 <r@dest.example>: Recipient address rejected: Service "
		       "unavailable. Client blocked from sending from unregistered domains; "
		       "from=<bench%d@spam.example> to=<r@dest.example> proto=ESMTP helo=<bench>\n",
		       ts, 1000 + n, addr, n);
	if (len < 0 || (size_t)len >= sizeof(buf))
		return -EOVERFLOW;
	return write(fd, buf, len) == len ? 0 : -EIO;
}

/* 1: the SYN went unanswered for wait_ms, 0: answered, <0: error. */
static int syn_dropped(const struct sockaddr_in *src, const struct sockaddr_in *dst, int wait_ms)
{
	struct pollfd p;
	int fd, ret;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (const struct sockaddr *)src, sizeof(*src)) < 0) {
		ret = -errno;
		goto out;
	}
	if (connect(fd, (const struct sockaddr *)dst, sizeof(*dst)) == 0) {
		ret = 0;
		goto out;
	}
	if (errno != EINPROGRESS) {
		ret = errno == ECONNREFUSED ? 0 : -errno;
		goto out;
	}
	p.fd = fd;
	p.events = POLLOUT;
	ret = poll(&p, 1, wait_ms);
	ret = ret == 0 ? 1 : ret < 0 ? -errno : 0;
out:
	close(fd);
	return ret;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "netns", required_argument, NULL, 'n' }, { "src", required_argument, NULL, 's' },
		{ "dst", required_argument, NULL, 'd' }, { "wait-ms", required_argument, NULL, 'w' },
		{ "max-s", required_argument, NULL, 'm' }, { "policy", required_argument, NULL, 'p' },
		{ "log", required_argument, NULL, 'l' }, { "count", required_argument, NULL, 'c' },
		{ "pre-ms", required_argument, NULL, 'r' }, { NULL, 0, NULL, 0 }
	};
	const char *netns = NULL, *src = NULL, *dst = NULL, *policy = NULL, *logf = NULL;
	int wait_ms = 100, max_s = 20, count = 1, pre_ms = 1500, opt, fd = -1, nsfd, i, r;
	struct sockaddr_in sa = { .sin_family = AF_INET }, da = { .sin_family = AF_INET };
	double t0, t_syn, end;
	long syns = 0;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'n': netns = optarg; break;
		case 's': src = optarg; break;
		case 'd': dst = optarg; break;
		case 'w': wait_ms = atoi(optarg); break;
		case 'm': max_s = atoi(optarg); break;
		case 'p': policy = optarg; break;
		case 'l': logf = optarg; break;
		case 'c': count = atoi(optarg); break;
		case 'r': pre_ms = atoi(optarg); break;
		default: return 2;
		}
	}
	if (!netns || !src || !dst || !!policy == !!logf || count < 1 || wait_ms < 1 ||
	    max_s < 1 || max_s > 600 || inet_pton(AF_INET, src, &sa.sin_addr) != 1 ||
	    inet_pton(AF_INET, dst, &da.sin_addr) != 1) {
		fprintf(stderr, "usage: bench-react --netns PATH --src A --dst A "
			"(--policy SOCK | --log FILE) [--count K]\n");
		return 2;
	}
	da.sin_port = htons(25);

	if (policy) {
		struct sockaddr_un un = { .sun_family = AF_UNIX };

		if (strlen(policy) >= sizeof(un.sun_path))
			return 2;
		strcpy(un.sun_path, policy);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&un, sizeof(un)) < 0) {
			perror("bench-react: policy socket");
			return 1;
		}
	} else {
		fd = open(logf, O_WRONLY | O_APPEND | O_CLOEXEC);
		if (fd < 0) {
			perror("bench-react: log");
			return 1;
		}
	}
	nsfd = open(netns, O_RDONLY | O_CLOEXEC);
	if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) < 0) {
		perror("bench-react: netns");
		return 1;
	}
	close(nsfd);

	for (i = 1; i < count; i++) {
		r = policy ? policy_request(fd, src, i) : log_line(fd, src, i);
		if (r < 0) {
			fprintf(stderr, "bench-react: trigger %d: %s\n", i, strerror(-r));
			return 1;
		}
	}
	if (logf)
		usleep(pre_ms * 1000);
	/* The host was answered so far: check it, so a stale block cannot fake a reaction. */
	for (i = 0; i < 3 && syn_dropped(&sa, &da, 300) != 0; i++)
		;
	if (i == 3) {
		fprintf(stderr, "bench-react: %s unanswered before the trigger\n", src);
		return 3;
	}
	t0 = now_ms();
	r = policy ? policy_request(fd, src, count) : log_line(fd, src, count);
	if (r < 0) {
		fprintf(stderr, "bench-react: trigger: %s\n", strerror(-r));
		return 1;
	}
	end = t0 + max_s * 1e3;
	do {
		t_syn = now_ms();
		syns++;
		r = syn_dropped(&sa, &da, wait_ms);
		if (r < 0) {
			fprintf(stderr, "bench-react: connect: %s\n", strerror(-r));
			return 1;
		}
		if (r == 1) {
			printf("react_ms=%.3f syns=%ld\n", t_syn - t0, syns);
			return 0;
		}
	} while (now_ms() < end);
	printf("react_ms=-1 syns=%ld\n", syns);
	close(fd);
	return 0;
}
