/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * notify.h: notifications (notify_command). The agent cannot run a program itself: it
 * runs as its user under a seccomp filter that kills execve and fork. So before any of
 * that, rg_notify_start forks a small notifier process (notifier.c) that drops to the
 * same user with no capability at all and no_new_privs, and keeps no seccomp filter. The
 * two talk over a SOCK_SEQPACKET socketpair: the agent sends one message per event
 * (never blocking: a full socket drops the event and counts it), the notifier runs
 * notify_command per event, at most notify_max_running at once, queues up to
 * RG_NOTIFY_QUEUE_MAX beyond that (then drops and counts), ends a command that runs past
 * notify_timeout (SIGTERM to its process group, SIGKILL RG_NOTIFY_KILL_GRACE_NS later),
 * logs each failure and sends its counts back. It exits when the agent's end closes.
 *
 * Events notified: tenant_restricted, tenant_unblocked, host_blocked, host_throttled, of
 * enforce mode (monitor mode enforces nothing, so tells no one). The command gets the
 * audit line on stdin and the event in its environment (rg_notify_event lists it).
 */
#ifndef RG_NOTIFY_H
#define RG_NOTIFY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "audit.h"
#include "config.h"

#define RG_NOTIFY_MSG_MAX 16384		/* one event: command, environment, audit line */
#define RG_NOTIFY_QUEUE_MAX 256		/* events waiting for a free slot in the notifier */
#define RG_NOTIFY_KILL_GRACE_NS (5ULL * 1000000000ULL)	/* SIGTERM -> SIGKILL */
#define RG_NOTIFY_TOP 5			/* entries of RG_TOP_DOMAINS and RG_TOP_HOSTS */
#define RG_NOTIFY_TOP_LEN 1024		/* bytes of each */

/* The wire format, agent -> notifier: this header, then n_strings NUL-terminated strings
 * (the command's path, then its environment as NAME=VALUE), then stdin_len bytes. */
struct rg_notify_msg {
	uint32_t version;		/* RG_NOTIFY_VERSION */
	uint32_t max_running;
	uint64_t timeout_ns;
	uint32_t n_strings;
	uint32_t stdin_len;
};
#define RG_NOTIFY_VERSION 1

/* Notifier -> agent: its totals so far, after every change. */
struct rg_notify_counts {
	uint64_t sent;			/* commands that exited 0 */
	uint64_t failed;		/* exited non-zero, killed by a signal, or not run */
	uint64_t timeouts;		/* ended by the notifier after notify_timeout */
	uint64_t dropped;		/* events the notifier's queue had no room for */
};

/* What the agent adds to an event from its engine and configuration. */
struct rg_notify_extra {
	const char *mailto;		/* the tenant's notify_mailto ("" or NULL: none) */
	const char *action;		/* RG_ACTION when the event has none (tenant events:
					 * the tenant's over_budget_action) */
	const char *top_domains;	/* tenant events: "name=count,..." */
	const char *top_hosts;
};

struct rg_notify;

/*
 * Fork the notifier (call it while still root, before the sandbox, with no other
 * descriptor the child must not keep: it closes every one but its socket). user: the
 * user it becomes. 0 and *out, or -errno.
 */
int rg_notify_start(const char *user, struct rg_notify **out);
/* The agent's end, for its epoll loop (readable: counts arrived, or the notifier ended). */
int rg_notify_fd(const struct rg_notify *n);
/* Read what arrived. Returns 1 when the notifier has ended (the fd is then closed and
 * further events are dropped and counted), else 0. */
int rg_notify_dispatch(struct rg_notify *n);

/* true when ev is one that notify_command hears of. */
bool rg_notify_wanted(const struct rg_audit_event *ev);
/*
 * Send ev (and its audit line) to the notifier for cfg->notify_command; nothing when
 * notify_command is off or the event is not wanted. The environment: PATH, RG_EVENT,
 * RG_TIME, RG_RELAY, RG_MODE, RG_TENANT, RG_TENANT_ID, RG_HOST, RG_REASON, RG_COUNT,
 * RG_LIMIT, RG_WINDOW, RG_ACTION, RG_ORIGIN, RG_DETAIL, RG_EXPIRES, RG_BY, RG_MAILTO,
 * RG_TOP_DOMAINS, RG_TOP_HOSTS (each only when it has a value). Never blocks: 0, or
 * -EAGAIN/-EPIPE/-EMSGSIZE when the event was dropped (counted).
 */
int rg_notify_event(struct rg_notify *n, const struct rg_config *cfg,
		    const struct rg_audit_event *ev, const char *line, size_t len,
		    const struct rg_notify_extra *x);

struct rg_notify_counters {
	struct rg_notify_counts c;	/* the notifier's, dropped including the agent's own */
	bool running;			/* the notifier is there */
};
void rg_notify_counters(const struct rg_notify *n, struct rg_notify_counters *out);

/* Close the agent's end (the notifier finishes what runs, then exits) and free n. */
void rg_notify_free(struct rg_notify *n);

/* The relay's name in notifications (RG_RELAY): [fleet] relay_id, else the host name.
 * Returns buf. */
const char *rg_relay_id(const struct rg_config *cfg, char *buf, size_t len);

/* notifier.c: the notifier process's body, run in the child; never returns. */
void rg_notifier_main(int sock, const char *user) __attribute__((noreturn));

#endif /* RG_NOTIFY_H */
