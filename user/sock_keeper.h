/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * sock_keeper.h: removing the agent's unix socket files after it has given up the right to.
 * The policy socket lives in Postfix's private/ (postfix:root 0700): once the agent is its
 * own user with CAP_BPF only, it can no longer unlink it there. Before the drop, the agent
 * forks a keeper that holds, for each socket file, its directory (an O_PATH fd) and its
 * identity (rg_sock_file), keeps CAP_DAC_OVERRIDE alone (uid 0, every other capability
 * gone from all sets, no_new_privs) under a seccomp filter that lets it read its pipe,
 * write its report, stat and unlink names in exactly those directory fds, and exit.
 *
 * It waits on a pipe. When the agent ends through its own exit path (a clean stop or a
 * start that failed after the sockets were made) it writes "remove": each name still
 * carrying the identity of the socket the agent made is unlinked (never followed, never
 * someone else's file). When the pipe closes without the word (kill -9, a crash, SIGSYS)
 * the files are left: the agent's next start replaces a stale socket anyway, and Postfix
 * fails the same way on a dead socket as on a missing one (a temporary error), so
 * removing it would gain nothing and would take a decision from a process that did not
 * end cleanly. The keeper blocks SIGTERM and SIGINT (systemd signals the whole cgroup at
 * stop): it ends when the agent's end of the pipe closes, whoever closes it.
 */
#ifndef RG_SOCK_KEEPER_H
#define RG_SOCK_KEEPER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "listen.h"

struct rg_sock_keeper {
	pid_t pid;		/* 0: none running */
	int word_fd;		/* ours: "remove", then closed */
	int report_fd;		/* ours: one line per file, EOF when the keeper exits */
};

/* The most socket files one keeper holds (policy listeners and the control socket). */
#define RG_SOCK_KEEPER_MAX 16

/*
 * Fork the keeper for files[0..n) (the agent still root; at most RG_SOCK_KEEPER_MAX, only
 * those with a path). filter false leaves its seccomp filter off (seccomp = no: valgrind).
 * 0 with k->pid set, or -errno (logged; k->pid 0). Call before the privilege drop.
 */
int rg_sock_keeper_start(const struct rg_sock_file *const *files, size_t n, bool filter,
			 struct rg_sock_keeper *k);
/*
 * Write "remove" and wait (at most 5 s) for the keeper's report, logged one line per file.
 * Nothing when none runs. Close the listening sockets first.
 */
void rg_sock_keeper_finish(struct rg_sock_keeper *k);

#endif /* RG_SOCK_KEEPER_H */
