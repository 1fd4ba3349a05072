// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * notifier.c: the notifier process (notify.h). Takes event messages from the agent over
 * its end of the socketpair; runs each message's command with its environment and the
 * audit line on stdin, in a process group of its own, at most max_running at once and
 * queued up to RG_NOTIFY_QUEUE_MAX beyond; ends a command past its timeout (SIGTERM to
 * the group, SIGKILL after RG_NOTIFY_KILL_GRACE_NS). Reports every failure to the log
 * and its counts to the agent. Exits once the agent's end is closed and what runs ended.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "notify.h"
#include "privs.h"

#define SLOTS_MAX 64		/* notify_max_running's maximum */

struct event {
	char *buf;		/* the message as received */
	size_t len;
	const char *cmd;
	char *env[64];
	const char *in;
	size_t in_len;
	uint64_t timeout_ns;
};

struct job {
	pid_t pid;		/* 0: free */
	char name[40];		/* the event, for the log */
	uint64_t deadline_ns;	/* CLOCK_MONOTONIC: SIGTERM then */
	uint64_t kill_ns;	/* 0, or SIGKILL then */
	uint64_t timeout_ns;
};

struct notifier {
	int sock, sigfd;
	bool eof;
	uint32_t max_running;
	struct event *queue[RG_NOTIFY_QUEUE_MAX];
	size_t head, n;
	struct job jobs[SLOTS_MAX];
	size_t running;
	struct rg_notify_counts c;
};

/* Split a message into the command, its environment and its stdin. -EBADMSG when it does
 * not hold what its header says. */
static int parse(struct event *ev)
{
	struct rg_notify_msg h;
	size_t off = sizeof(h), k = 0;

	if (ev->len < sizeof(h))
		return -EBADMSG;
	memcpy(&h, ev->buf, sizeof(h));
	if (h.version != RG_NOTIFY_VERSION || !h.n_strings ||
	    h.n_strings > sizeof(ev->env) / sizeof(ev->env[0]) || h.stdin_len > ev->len - off)
		return -EBADMSG;
	size_t end = ev->len - h.stdin_len;	/* the strings end here */

	for (uint32_t i = 0; i < h.n_strings; i++) {
		char *s = ev->buf + off, *nul;

		if (off >= end || !(nul = memchr(s, '\0', end - off)))
			return -EBADMSG;
		if (i == 0)
			ev->cmd = s;
		else
			ev->env[k++] = s;
		off = (size_t)(nul - ev->buf) + 1;
	}
	if (off + h.stdin_len != ev->len || ev->cmd[0] != '/')
		return -EBADMSG;
	ev->env[k] = NULL;
	ev->in = ev->buf + off;
	ev->in_len = h.stdin_len;
	ev->timeout_ns = h.timeout_ns ? h.timeout_ns : 30ULL * 1000000000ULL;
	return 0;
}

static void report(struct notifier *nf)
{
	/* Cumulative totals: a report the full socket refuses is made good by the next. */
	if (!nf->eof)
		send(nf->sock, &nf->c, sizeof(nf->c), MSG_DONTWAIT | MSG_NOSIGNAL);
}

static void event_free(struct event *ev)
{
	if (ev)
		free(ev->buf);
	free(ev);
}

static const char *event_name(const struct event *ev)
{
	for (size_t i = 0; ev->env[i]; i++)
		if (!strncmp(ev->env[i], "RG_EVENT=", 9))
			return ev->env[i] + 9;
	return "event";
}

/* In the child: stdin from the pipe, stdout to /dev/null, stderr the agent's log. */
static void __attribute__((noreturn)) exec_child(const struct event *ev, int in)
{
	sigset_t none;
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	setpgid(0, 0);
	if (dup2(in, 0) < 0 || (null >= 0 && dup2(null, 1) < 0))
		_exit(126);
	char *argv[] = { (char *)ev->cmd, NULL };

	execve(ev->cmd, argv, ev->env);
	_exit(127);
}

/* Start ev in a free slot. The audit line goes into the pipe before the fork: it is
 * smaller than a pipe's buffer, so a command that never reads stdin blocks no one. */
static void start(struct notifier *nf, struct event *ev)
{
	struct job *j = NULL;
	int p[2];
	pid_t pid;

	for (size_t i = 0; i < SLOTS_MAX && !j; i++)
		if (!nf->jobs[i].pid)
			j = &nf->jobs[i];
	if (!j || pipe2(p, O_CLOEXEC)) {
		pr_warn("notify: %s: cannot run %s: %s", event_name(ev), ev->cmd, strerror(errno));
		nf->c.failed++;
		return;
	}
	if (write(p[1], ev->in, ev->in_len) != (ssize_t)ev->in_len)
		pr_warn("notify: %s: audit line not written to stdin", event_name(ev));
	close(p[1]);
	pid = fork();
	if (pid == 0)
		exec_child(ev, p[0]);
	close(p[0]);
	if (pid < 0) {
		pr_warn("notify: %s: cannot fork for %s: %s", event_name(ev), ev->cmd,
			strerror(errno));
		nf->c.failed++;
		return;
	}
	setpgid(pid, pid);	/* also here: the group exists before any kill(-pid) */
	j->pid = pid;
	snprintf(j->name, sizeof(j->name), "%s", event_name(ev));
	j->timeout_ns = ev->timeout_ns;
	j->deadline_ns = rg_now_mono_ns() + ev->timeout_ns;
	j->kill_ns = 0;
	nf->running++;
}

static void run_queued(struct notifier *nf)
{
	while (nf->n && nf->running < nf->max_running) {
		struct event *ev = nf->queue[nf->head];

		nf->queue[nf->head] = NULL;
		nf->head = (nf->head + 1) % RG_NOTIFY_QUEUE_MAX;
		nf->n--;
		start(nf, ev);
		event_free(ev);
	}
}

static void reap(struct notifier *nf)
{
	char b[16];
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		struct job *j = NULL;

		for (size_t i = 0; i < SLOTS_MAX && !j; i++)
			if (nf->jobs[i].pid == pid)
				j = &nf->jobs[i];
		if (!j)
			continue;
		if (j->kill_ns) {
			nf->c.timeouts++;
			pr_warn("notify: %s: command ended after notify_timeout (%s)", j->name,
				rg_format_duration(j->timeout_ns, b, sizeof(b)));
		} else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			nf->c.sent++;
			pr_debug("notify: %s: command done", j->name);
		} else if (WIFEXITED(status)) {
			nf->c.failed++;
			pr_warn("notify: %s: command exited with status %d%s", j->name,
				WEXITSTATUS(status),
				WEXITSTATUS(status) == 127 ? " (could not be run)" : "");
		} else {
			nf->c.failed++;
			pr_warn("notify: %s: command killed by signal %d", j->name,
				WTERMSIG(status));
		}
		j->pid = 0;
		nf->running--;
		report(nf);
	}
}

/* SIGTERM to the group of a command past its timeout, SIGKILL after the grace. */
static int enforce_deadlines(struct notifier *nf)
{
	uint64_t now = rg_now_mono_ns(), next = UINT64_MAX;

	for (size_t i = 0; i < SLOTS_MAX; i++) {
		struct job *j = &nf->jobs[i];

		if (!j->pid)
			continue;
		if (!j->kill_ns && now >= j->deadline_ns) {
			kill(-j->pid, SIGTERM);
			j->kill_ns = now + RG_NOTIFY_KILL_GRACE_NS;
		} else if (j->kill_ns && now >= j->kill_ns) {
			kill(-j->pid, SIGKILL);
			j->kill_ns = now + RG_NOTIFY_KILL_GRACE_NS;	/* and again, should it linger */
		}
		uint64_t at = j->kill_ns ? j->kill_ns : j->deadline_ns;

		if (at < next)
			next = at;
	}
	if (next == UINT64_MAX)
		return -1;
	return next <= now ? 0 : (int)((next - now) / 1000000 + 1);
}

static void receive(struct notifier *nf)
{
	for (;;) {
		struct event *ev = calloc(1, sizeof(*ev));
		ssize_t r;

		if (!ev || !(ev->buf = malloc(RG_NOTIFY_MSG_MAX))) {
			event_free(ev);
			return;	/* the next poll tries again */
		}
		r = recv(nf->sock, ev->buf, RG_NOTIFY_MSG_MAX, MSG_DONTWAIT | MSG_TRUNC);
		if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
			event_free(ev);
			return;
		}
		if (r <= 0) {
			event_free(ev);
			nf->eof = true;
			return;
		}
		ev->len = (size_t)r;
		if (ev->len > RG_NOTIFY_MSG_MAX || parse(ev)) {
			pr_warn("notify: a malformed message from the agent was dropped");
			nf->c.dropped++;
			event_free(ev);
			report(nf);
			continue;
		}
		{
			struct rg_notify_msg h;

			memcpy(&h, ev->buf, sizeof(h));
			if (h.max_running >= 1 && h.max_running <= SLOTS_MAX)
				nf->max_running = h.max_running;
		}
		if (nf->n >= RG_NOTIFY_QUEUE_MAX) {
			nf->c.dropped++;
			pr_warn("notify: %s dropped: %d events wait already", event_name(ev),
				RG_NOTIFY_QUEUE_MAX);
			event_free(ev);
			report(nf);
			continue;
		}
		nf->queue[(nf->head + nf->n) % RG_NOTIFY_QUEUE_MAX] = ev;
		nf->n++;
	}
}

static void notifier_loop(struct notifier *nf)
{
	struct pollfd pf[2] = { { .fd = nf->sock, .events = POLLIN },
				{ .fd = nf->sigfd, .events = POLLIN } };

	for (;;) {
		struct signalfd_siginfo si;
		int timeout;

		run_queued(nf);
		timeout = enforce_deadlines(nf);
		if (nf->eof && !nf->running)
			return;
		pf[0].fd = nf->eof ? -1 : nf->sock;
		if (poll(pf, 2, timeout) < 0 && errno != EINTR)
			return;
		if (pf[1].revents & POLLIN)
			while (read(nf->sigfd, &si, sizeof(si)) == sizeof(si))
				;
		reap(nf);
		if (!nf->eof && (pf[0].revents & (POLLIN | POLLHUP | POLLERR)))
			receive(nf);
		if (nf->eof && nf->n) {
			/* The agent is gone: what waits is dropped, what runs may finish. */
			nf->c.dropped += nf->n;
			pr_info("notify: agent gone: %zu waiting event(s) dropped", nf->n);
			while (nf->n) {
				event_free(nf->queue[nf->head]);
				nf->queue[nf->head] = NULL;
				nf->head = (nf->head + 1) % RG_NOTIFY_QUEUE_MAX;
				nf->n--;
			}
		}
	}
}

void rg_notifier_main(int sock, const char *user)
{
	struct notifier nf = { .sock = sock, .sigfd = -1, .max_running = 4 };
	sigset_t mask;

	prctl(PR_SET_NAME, "rg-notifier", 0, 0, 0);
	/* Nothing of the agent's but the socket and stdio: no lock, map or listener. */
	if (sock > 3)
		close_range(3, (unsigned)sock - 1, 0);
	close_range((unsigned)sock + 1, ~0U, 0);
	if (rg_drop_all_privileges(user))
		_exit(1);
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	nf.sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (nf.sigfd < 0) {
		pr_err("notifier: signalfd: %s", strerror(errno));
		_exit(1);
	}
	pr_debug("notifier running as uid %u", (unsigned)getuid());
	notifier_loop(&nf);
	_exit(0);
}
