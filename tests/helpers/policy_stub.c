// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * policy_stub.c: a policy server over user/policy.c with a trivial decision, for the
 * protocol suite and the benchmark until relayguardd exists. Sender domain ending in
 * "bad.example" -> the 5.7.750 reply, else DUNNO; --fail makes every decision fail so
 * fail_mode answers. Runs the server from its own outer epoll (as the agent will) with a
 * signalfd: SIGTERM/SIGINT end it, SIGUSR1 prints stats. Stats go to stderr as one line
 * "policy_stub stats: key=value ..." on SIGUSR1 and at exit.
 *
 *   policy_stub --listen SPEC [--listen SPEC]... [--fail] [--fail-mode open|closed]
 *               [--max-conns N] [--request-timeout MS] [--idle-timeout MS]
 *               [--max-output BYTES] [--max-request BYTES] [--max-attrs N]
 *               [--owner USER] [-v]
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "log.h"
#include "policy.h"

#define BLOCK_REPLY "550 5.7.750 Service unavailable. Client blocked from sending from " \
		    "unregistered domains"
#define MAX_LISTEN 8

static bool fail_all;

static int decide(void *ctx, const struct rg_policy_req *req, char *action, size_t len)
{
	static const char bad[] = "bad.example";
	const char *sender = req->known[RG_PA_SENDER];
	const char *at;
	size_t dl;
	int n;

	if (fail_all)
		return -EIO;
	at = sender ? strrchr(sender, '@') : NULL;
	dl = at ? strlen(at + 1) : 0;
	if (at && dl >= sizeof(bad) - 1 &&
	    !strcasecmp(at + 1 + dl - (sizeof(bad) - 1), bad))
		n = snprintf(action, len, "%s", BLOCK_REPLY);
	else
		n = snprintf(action, len, "DUNNO");
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

static void print_stats(struct rg_policy_server *s)
{
	struct rg_policy_stats st;

	rg_policy_server_get_stats(s, &st);
	fprintf(stderr,
		"policy_stub stats: open=%llu accepted=%llu refused=%llu requests=%llu "
		"decide_failures=%llu malformed=%llu request_timeouts=%llu idle_timeouts=%llu "
		"output_overflows=%llu eof_mid_request=%llu\n",
		(unsigned long long)st.conns_open, (unsigned long long)st.conns_accepted,
		(unsigned long long)st.conns_refused, (unsigned long long)st.requests,
		(unsigned long long)st.decide_failures, (unsigned long long)st.malformed,
		(unsigned long long)st.request_timeouts, (unsigned long long)st.idle_timeouts,
		(unsigned long long)st.output_overflows, (unsigned long long)st.eof_mid_request);
}

static int parse_u64(const char *s, unsigned long long *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 10);
	return errno || end == s || *end ? -EINVAL : 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: policy_stub --listen SPEC... [--fail] [--fail-mode open|closed] "
			"[--max-conns N] [--request-timeout MS] [--idle-timeout MS] "
			"[--max-output B] [--max-request B] [--max-attrs N] [--owner USER] [-v]\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "fail", no_argument, NULL, 'F' },
		{ "fail-mode", required_argument, NULL, 'm' },
		{ "max-conns", required_argument, NULL, 'c' },
		{ "request-timeout", required_argument, NULL, 'r' },
		{ "idle-timeout", required_argument, NULL, 'i' },
		{ "max-output", required_argument, NULL, 'o' },
		{ "max-request", required_argument, NULL, 'R' },
		{ "max-attrs", required_argument, NULL, 'A' },
		{ "owner", required_argument, NULL, 'u' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	const char *listen[MAX_LISTEN];
	struct rg_policy_server_opts o = { .listen = listen, .decide = decide };
	struct rg_policy_server *s = NULL;
	struct epoll_event ev;
	unsigned long long v = 0;
	sigset_t mask;
	int opt, err = 0, ep = -1, sfd = -1;
	bool running = true;

	while ((opt = getopt_long(argc, argv, "v", lo, NULL)) != -1) {
		if (strchr("crioRA", opt) && parse_u64(optarg, &v)) {
			usage();
			return 2;
		}
		switch (opt) {
		case 'l':
			if (o.n_listen == MAX_LISTEN) {
				usage();
				return 2;
			}
			listen[o.n_listen++] = optarg;
			break;
		case 'F':
			fail_all = true;
			break;
		case 'm':
			if (!strcmp(optarg, "closed")) {
				o.fail_mode = RG_FAIL_CLOSED;
			} else if (!strcmp(optarg, "open")) {
				o.fail_mode = RG_FAIL_OPEN;
			} else {
				usage();
				return 2;
			}
			break;
		case 'c':
			o.max_connections = (uint32_t)v;
			break;
		case 'r':
			o.request_timeout_ns = v * 1000000ULL;
			break;
		case 'i':
			o.idle_timeout_ns = v * 1000000ULL;
			break;
		case 'o':
			o.max_output = v;
			break;
		case 'R':
			o.limits.max_request = v;
			break;
		case 'A':
			o.limits.max_attrs = v;
			break;
		case 'u':
			o.unix_owner = optarg;
			break;
		case 'v':
			rg_log_set_level(RG_LOG_DEBUG);
			break;
		default:
			usage();
			return 2;
		}
	}
	if (!o.n_listen || optind != argc) {
		usage();
		return 2;
	}

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGUSR1);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (sfd < 0 || ep < 0) {
		err = -errno;
		goto out;
	}
	err = rg_policy_server_new(&o, &s);
	if (err) {
		pr_err("policy_stub: cannot start: %s", strerror(-err));
		goto out;
	}
	/* The agent's way: the server's epoll fd nested in the outer loop. */
	ev = (struct epoll_event){ .events = EPOLLIN, .data.fd = rg_policy_server_fd(s) };
	epoll_ctl(ep, EPOLL_CTL_ADD, ev.data.fd, &ev);
	ev = (struct epoll_event){ .events = EPOLLIN, .data.fd = sfd };
	epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
	printf("policy_stub ready\n");
	fflush(stdout);

	while (running) {
		struct epoll_event evs[2];
		int n = epoll_wait(ep, evs, 2, -1), i;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			break;
		}
		for (i = 0; i < n; i++) {
			if (evs[i].data.fd == sfd) {
				struct signalfd_siginfo si;

				while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
					if (si.ssi_signo == SIGUSR1)
						print_stats(s);
					else
						running = false;
				}
			} else {
				err = rg_policy_server_dispatch(s, 0);
				if (err < 0 && err != -EINTR)
					goto out;
				err = 0;
			}
		}
	}
out:
	if (s)
		print_stats(s);
	rg_policy_server_free(s);
	if (ep >= 0)
		close(ep);
	if (sfd >= 0)
		close(sfd);
	return err < 0 ? 1 : 0;
}
