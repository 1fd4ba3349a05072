// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * sock_keeper.c: the root helper that removes the agent's socket files at a clean stop (see
 * sock_keeper.h). Takes the socket files the agent made; the keeper reports one line per
 * file back through a pipe ("R|S|E|G ERRNO PATH": removed, someone else's file there now,
 * error, already gone), which the agent logs: the keeper itself logs nothing once filtered.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "privs.h"
#include "sandbox.h"
#include "sock_keeper.h"

#define WORD "remove"
#define REPORT_WAIT_MS 5000
#define PATH_MAX_UN sizeof(((struct sockaddr_un *)0)->sun_path)

struct kept {
	const struct rg_sock_file *file;
	const char *base;
	int dfd;
};

/* Close every descriptor but keep[0..n) (sorted here): the keeper must not hold the agent's
 * listeners, maps or directory locks past the agent. */
static void close_others(int *keep, size_t n)
{
	unsigned int from = 0;

	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
			int t = keep[j];

			keep[j] = keep[j - 1];
			keep[j - 1] = t;
		}
	for (size_t i = 0; i < n; i++) {
		if ((unsigned int)keep[i] > from)
			close_range(from, (unsigned int)keep[i] - 1, 0);
		from = (unsigned int)keep[i] + 1;
	}
	close_range(from, ~0u, 0);
}

static void report(int fd, char code, int err, const char *path)
{
	char line[PATH_MAX_UN + 32];
	int n = snprintf(line, sizeof(line), "%c %d %s\n", code, err, path);

	if (n > 0 && (size_t)n < sizeof(line) && write(fd, line, (size_t)n) < 0)
		return;	/* the agent is gone: nobody to tell */
}

static void keeper_main(int word_fd, int report_fd, const struct rg_sock_file *const *files,
			size_t n, bool filter)
{
	static char dirs[RG_SOCK_KEEPER_MAX][PATH_MAX_UN];
	struct kept kept[RG_SOCK_KEEPER_MAX];
	int keep[RG_SOCK_KEEPER_MAX + 3], dfds[RG_SOCK_KEEPER_MAX];
	size_t n_kept = 0, n_keep = 0, got = 0;
	char word[sizeof(WORD)];
	ssize_t r;

	prctl(PR_SET_NAME, "rg-sock-keeper", 0, 0, 0);
	for (size_t i = 0; i < n && n_kept < RG_SOCK_KEEPER_MAX; i++) {
		struct kept *k = &kept[n_kept];

		if (!files[i]->path ||
		    rg_sock_path_split(files[i]->path, dirs[n_kept], PATH_MAX_UN, &k->base))
			continue;
		k->file = files[i];
		k->dfd = open(dirs[n_kept], O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (k->dfd < 0) {
			report(report_fd, 'E', errno, files[i]->path);
			continue;
		}
		dfds[n_kept] = keep[n_keep++] = k->dfd;
		n_kept++;
	}
	keep[n_keep++] = word_fd;
	keep[n_keep++] = report_fd;
	keep[n_keep++] = STDERR_FILENO;	/* for what rg_privs_keep_only may log */
	/* Before the filter: these may log (to stderr, the agent's). */
	close_others(keep, n_keep);
	if (rg_privs_keep_only(CAP_DAC_OVERRIDE))
		_exit(1);
	if (filter && rg_seccomp_install_keeper(word_fd, report_fd, dfds, n_kept))
		_exit(1);

	/* Until the agent's end closes; SIGTERM and SIGINT stay blocked (inherited). */
	for (;;) {
		char chunk[16];

		r = read(word_fd, chunk, sizeof(chunk));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		for (ssize_t i = 0; i < r && got < sizeof(word); i++)
			word[got++] = chunk[i];
	}
	if (got != sizeof(WORD) - 1 || memcmp(word, WORD, got))
		_exit(0);	/* no clean stop: the files stay (sock_keeper.h says why) */
	for (size_t i = 0; i < n_kept; i++) {
		int err = rg_sock_file_unlinkat(kept[i].file, kept[i].dfd, kept[i].base);

		report(report_fd, !err ? 'R' : err == -ESTALE ? 'S' : err == -ENOENT ? 'G' : 'E',
		       -err, kept[i].file->path);
	}
	_exit(0);
}

int rg_sock_keeper_start(const struct rg_sock_file *const *files, size_t n, bool filter,
			 struct rg_sock_keeper *k)
{
	int word[2] = { -1, -1 }, rep[2] = { -1, -1 }, err = 0;
	pid_t pid;

	k->pid = 0;
	k->word_fd = k->report_fd = -1;
	if (pipe2(word, O_CLOEXEC) || pipe2(rep, O_CLOEXEC)) {
		err = -errno;
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		err = -errno;
		goto out;
	}
	if (!pid) {
		close(word[1]);
		close(rep[0]);
		keeper_main(word[0], rep[1], files, n, filter);
		_exit(1);
	}
	k->pid = pid;
	k->word_fd = word[1];
	k->report_fd = rep[0];
	word[1] = rep[0] = -1;
out:
	if (err)
		pr_warn("cannot start the socket keeper: %s; the socket files stay after a stop "
			"where the agent's user cannot remove them", strerror(-err));
	for (int i = 0; i < 2; i++) {
		if (word[i] >= 0)
			close(word[i]);
		if (rep[i] >= 0)
			close(rep[i]);
	}
	return err;
}

static void log_line(char *line)
{
	char *path = NULL;
	long err = 0;

	if (strlen(line) < 4 || line[1] != ' ')
		return;
	err = strtol(line + 2, &path, 10);
	if (!path || *path != ' ')
		return;
	path++;
	switch (line[0]) {
	case 'R':
		pr_info("socket %s removed (by the socket keeper)", path);
		break;
	case 'S':
		pr_warn("socket %s: another file is there now; left alone", path);
		break;
	case 'G':
		break;	/* removed by the agent itself: its directory is its own */
	default:
		pr_err("cannot remove socket %s: %s", path, strerror((int)err));
		break;
	}
}

void rg_sock_keeper_finish(struct rg_sock_keeper *k)
{
	char buf[RG_SOCK_KEEPER_MAX * (PATH_MAX_UN + 32)];
	size_t len = 0;
	ssize_t r;

	if (!k->pid)
		return;
	if (write(k->word_fd, WORD, sizeof(WORD) - 1) < 0)
		pr_warn("the socket keeper is gone (%s): socket files stay", strerror(errno));
	close(k->word_fd);
	/* EOF when the keeper exits; bounded, should it ever hang. */
	while (len < sizeof(buf) - 1) {
		struct pollfd p = { .fd = k->report_fd, .events = POLLIN };

		if (poll(&p, 1, REPORT_WAIT_MS) <= 0)
			break;
		r = read(k->report_fd, buf + len, sizeof(buf) - 1 - len);
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	buf[len] = '\0';
	for (char *line = buf, *nl; (nl = strchr(line, '\n')); line = nl + 1) {
		*nl = '\0';
		log_line(line);
	}
	close(k->report_fd);
	k->pid = 0;
}
