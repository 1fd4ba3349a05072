// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * redis_link_drive.c: one rg_redis_link driven from stdin, for tests/e2e/redis_link.sh.
 * Runs the link from an outer epoll (as the agent does) next to stdin. Takes the link's
 * options on the command line and one request a line on stdin; reports on stdout, a line
 * each, flushed:
 *
 *   state DOWN|CONNECTING|UP                      every state change
 *   cmd ID DEADLINE_MS ARG...   ->  sent ID RC    (RC 0 or -errno), later
 *                                   reply ID STATUS TYPE TEXT  (TEXT: the string, the
 *                                   integer, or an array's elements joined by ',')
 *   stats                       ->  stats key=value ...
 *   quit                        ->  frees the link (what is pending gets -ECANCELED), exits
 *
 *   redis_link_drive --name NAME [--redis ADDR | --sentinel ADDR... --master NAME]
 *                    [--user U] [--password P] [--db N] [--connect-timeout MS]
 *                    [--heartbeat MS] [--backoff-min MS] [--backoff-max MS] [--seccomp]
 *
 * --seccomp loads the agent's syscall filter (user/sandbox.c) first, as relayguardd does
 * after its drop: a call the link makes that the filter lacks kills the driver (SIGSYS).
 */
#include <errno.h>
#include <getopt.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "log.h"
#include "redis_link.h"
#include "sandbox.h"

#define MAX_SENTINELS 8
#define MAX_ARGS 32

static const char *const state_names[] = { "DOWN", "CONNECTING", "UP" };

static void on_state(void *arg, enum rg_redis_link_state s)
{
	printf("state %s\n", state_names[s]);
	fflush(stdout);
}

static void print_text(const redisReply *r)
{
	switch (r->type) {
	case REDIS_REPLY_STRING:
	case REDIS_REPLY_STATUS:
	case REDIS_REPLY_ERROR:
		printf("%.*s", (int)r->len, r->str);
		break;
	case REDIS_REPLY_INTEGER:
		printf("%lld", r->integer);
		break;
	case REDIS_REPLY_ARRAY:
		for (size_t i = 0; i < r->elements; i++) {
			if (i)
				putchar(',');
			print_text(r->element[i]);
		}
		break;
	default:
		printf("nil");
	}
}

static void on_reply(void *arg, int status, redisReply *r)
{
	static const char *const types[] = { "?", "string", "array", "integer", "nil",
					     "status", "error" };

	printf("reply %s %d ", (char *)arg, status);
	if (r) {
		printf("%s ", r->type >= 1 && r->type <= 6 ? types[r->type] : "?");
		print_text(r);
	} else {
		printf("none");
	}
	putchar('\n');
	fflush(stdout);
	free(arg);
}

static void print_stats(struct rg_redis_link *l)
{
	struct rg_redis_link_stats st;

	rg_redis_link_stats(l, &st);
	printf("stats commands=%llu replies=%llu error_replies=%llu timeouts=%llu connects=%llu "
	       "connect_failures=%llu failovers=%llu pending=%llu rtt_count=%llu up=%d master=%s\n",
	       (unsigned long long)st.commands, (unsigned long long)st.replies,
	       (unsigned long long)st.error_replies, (unsigned long long)st.timeouts,
	       (unsigned long long)st.connects, (unsigned long long)st.connect_failures,
	       (unsigned long long)st.failovers, (unsigned long long)st.pending,
	       (unsigned long long)st.rtt_count, st.up_since_ns != 0,
	       st.master[0] ? st.master : "-");
	fflush(stdout);
}

static void do_cmd(struct rg_redis_link *l, char *line)
{
	const char *argv[MAX_ARGS];
	char *save = NULL, *id, *dl, *tok, *idc;
	int argc = 0, err;

	id = strtok_r(line, " ", &save);
	dl = strtok_r(NULL, " ", &save);
	if (!id || !dl) {
		printf("error usage: cmd ID DEADLINE_MS ARG...\n");
		return;
	}
	while (argc < MAX_ARGS && (tok = strtok_r(NULL, " ", &save)))
		argv[argc++] = tok;
	idc = strdup(id);
	if (!idc)
		exit(1);
	err = rg_redis_link_command(l, (uint32_t)strtoul(dl, NULL, 10), on_reply, idc, argc,
				    argv, NULL);
	printf("sent %s %d\n", id, err);
	if (err)
		free(idc);
}

static void usage(void)
{
	fprintf(stderr, "usage: redis_link_drive --name NAME [--redis ADDR | --sentinel ADDR... "
			"--master NAME] [--user U] [--password P] [--db N] "
			"[--connect-timeout MS] [--heartbeat MS] [--backoff-min MS] "
			"[--backoff-max MS] [--seccomp]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "name", 1, NULL, 'n' }, { "redis", 1, NULL, 'r' }, { "sentinel", 1, NULL, 's' },
		{ "master", 1, NULL, 'm' }, { "user", 1, NULL, 'u' }, { "password", 1, NULL, 'p' },
		{ "db", 1, NULL, 'd' }, { "connect-timeout", 1, NULL, 'c' },
		{ "heartbeat", 1, NULL, 'h' }, { "backoff-min", 1, NULL, 'b' },
		{ "backoff-max", 1, NULL, 'B' }, { "seccomp", 0, NULL, 'S' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sentinels[MAX_SENTINELS];
	struct rg_redis_link_opts o = {
		.connect_timeout_ms = 2000, .heartbeat_ms = 1000, .backoff_min_ms = 100,
		.backoff_max_ms = 1000, .sentinels = sentinels,
	};
	struct epoll_event ev = { .events = EPOLLIN };
	struct rg_redis_link *l = NULL;
	char line[4096];
	bool sandbox = false;
	int c, ep, err;

	rg_log_set_level(RG_LOG_DEBUG);
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'n': o.name = optarg; break;
		case 'r': o.redis = optarg; break;
		case 's':
			if (o.n_sentinels == MAX_SENTINELS)
				usage();
			sentinels[o.n_sentinels++] = optarg;
			break;
		case 'm': o.sentinel_master = optarg; break;
		case 'u': o.user = optarg; break;
		case 'p': o.password = optarg; break;
		case 'd': o.db = atoi(optarg); break;
		case 'c': o.connect_timeout_ms = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'h': o.heartbeat_ms = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'b': o.backoff_min_ms = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'B': o.backoff_max_ms = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'S': sandbox = true; break;
		default: usage();
		}
	}
	if (sandbox && (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || rg_seccomp_install())) {
		printf("seccomp failed\n");
		return 1;
	}
	err = rg_redis_link_new(&o, on_state, NULL, &l);
	if (err) {
		printf("new %d\n", err);
		return 1;
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	ev.data.fd = rg_redis_link_fd(l);
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, ev.data.fd, &ev))
		return 1;
	ev.data.fd = 0;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev))
		return 1;
	setvbuf(stdin, NULL, _IONBF, 0);
	for (;;) {
		struct epoll_event got[2];
		int n = epoll_wait(ep, got, 2, -1);

		for (int i = 0; i < n; i++) {
			if (got[i].data.fd) {
				rg_redis_link_dispatch(l);
				continue;
			}
			/* a line at a time; stdin is unbuffered, so nothing waits in stdio */
			if (!fgets(line, sizeof(line), stdin))
				goto quit;
			line[strcspn(line, "\n")] = '\0';
			if (!strncmp(line, "cmd ", 4))
				do_cmd(l, line + 4);
			else if (!strcmp(line, "stats"))
				print_stats(l);
			else if (!strcmp(line, "quit"))
				goto quit;
			else
				printf("error unknown request\n");
			fflush(stdout);
		}
	}
quit:
	rg_redis_link_free(l);
	close(ep);
	return 0;
}
