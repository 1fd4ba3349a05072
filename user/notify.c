// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * notify.c: the agent's side of notifications (notify.h). Takes audit events from the
 * agent's audit tap with what the agent adds (contacts, top lists), builds the command's
 * environment and sends it with the audit line to the notifier in one non-blocking
 * message; reads the notifier's counts back. Reports the counts for /metrics.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "notify.h"

struct rg_notify {
	int fd;				/* -1: the notifier has ended */
	pid_t pid;
	struct rg_notify_counts child;	/* the notifier's last report */
	uint64_t dropped_here;		/* events the socket did not take */
	uint64_t last_warn;		/* drops logged once per second */
};

int rg_notify_start(const char *user, struct rg_notify **out)
{
	struct rg_notify *n = calloc(1, sizeof(*n));
	int sv[2];
	pid_t pid;

	*out = NULL;
	if (!n)
		return -ENOMEM;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) {
		free(n);
		return -errno;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		int err = -errno;

		close(sv[0]);
		close(sv[1]);
		free(n);
		return err;
	}
	if (pid == 0) {
		close(sv[0]);
		rg_notifier_main(sv[1], user);
	}
	close(sv[1]);
	n->fd = sv[0];
	n->pid = pid;
	*out = n;
	return 0;
}

int rg_notify_fd(const struct rg_notify *n)
{
	return n ? n->fd : -1;
}

int rg_notify_dispatch(struct rg_notify *n)
{
	struct rg_notify_counts c;
	ssize_t r;

	if (!n || n->fd < 0)
		return 1;
	for (;;) {
		r = recv(n->fd, &c, sizeof(c), MSG_DONTWAIT);
		if (r == (ssize_t)sizeof(c)) {
			n->child = c;
			continue;
		}
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (r > 0)
			continue;	/* not a report: ignored */
		break;
	}
	pr_err("notifier (pid %d) ended: notifications are dropped until a restart",
	       (int)n->pid);
	close(n->fd);
	n->fd = -1;
	return 1;
}

bool rg_notify_wanted(const struct rg_audit_event *ev)
{
	static const char *const events[] = { "tenant_restricted", "tenant_unblocked",
					      "host_blocked", "host_throttled" };

	if (!ev->event || ev->monitor)
		return false;
	for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++)
		if (!strcmp(ev->event, events[i]))
			return true;
	return false;
}

const char *rg_relay_id(const struct rg_config *cfg, char *buf, size_t len)
{
	struct utsname u;

	if (!len)
		return buf;
	if (cfg && cfg->fleet.enabled && cfg->fleet.relay_id)
		snprintf(buf, len, "%s", cfg->fleet.relay_id);	/* [fleet]: the fleet's name */
	else if (uname(&u))
		snprintf(buf, len, "unknown");
	else
		snprintf(buf, len, "%s", u.nodename);
	return buf;
}

/* The message under construction: strings appended with their NUL. */
struct msg {
	char buf[RG_NOTIFY_MSG_MAX];
	size_t used;
	uint32_t n;
	bool full;
};

static void add(struct msg *m, const char *name, const char *val)
{
	int w;

	if (!val || !*val || m->full)
		return;
	w = snprintf(m->buf + m->used, sizeof(m->buf) - m->used, "%s%s%s", name ? name : "",
		     name ? "=" : "", val);
	if (w < 0 || (size_t)w + 1 > sizeof(m->buf) - m->used) {
		m->full = true;
		return;
	}
	m->used += (size_t)w + 1;
	m->n++;
}

static void add_u64(struct msg *m, const char *name, uint64_t v)
{
	char b[24];

	snprintf(b, sizeof(b), "%llu", (unsigned long long)v);
	add(m, name, b);
}

static int dropped(struct rg_notify *n, const struct rg_audit_event *ev, int err)
{
	uint64_t now = (uint64_t)time(NULL);

	n->dropped_here++;
	if (now != n->last_warn) {
		n->last_warn = now;
		pr_warn("notify: %s not sent to the notifier: %s (%llu dropped so far)",
			ev->event, strerror(-err), (unsigned long long)n->dropped_here);
	}
	return err;
}

int rg_notify_event(struct rg_notify *n, const struct rg_config *cfg,
		    const struct rg_audit_event *ev, const char *line, size_t len,
		    const struct rg_notify_extra *x)
{
	static const struct rg_notify_extra none;
	struct msg *m;
	struct rg_notify_msg h = {
		.version = RG_NOTIFY_VERSION,
		.max_running = cfg->notify_max_running,
		.timeout_ns = cfg->notify_timeout_ns,
	};
	char b[RG_ADDR_STRLEN], t[40], relay[256], by[RG_PRINTABLE_MAX + 4];
	int err = 0;

	if (!n || !cfg->notify_command || !rg_notify_wanted(ev))
		return 0;
	if (!x)
		x = &none;
	if (n->fd < 0)
		return dropped(n, ev, -EPIPE);
	m = malloc(sizeof(*m));
	if (!m)
		return dropped(n, ev, -ENOMEM);
	m->used = sizeof(h);
	m->n = 0;
	m->full = false;
	add(m, NULL, cfg->notify_command);
	add(m, "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	add(m, "RG_EVENT", ev->event);
	add(m, "RG_TIME", rg_rfc3339_ms(ev->time_ns, t, sizeof(t)));
	add(m, "RG_RELAY", rg_relay_id(cfg, relay, sizeof(relay)));
	add(m, "RG_MODE", rg_mode_name(cfg->mode));
	add(m, "RG_TENANT", ev->tenant);
	if (ev->tenant_id)
		add_u64(m, "RG_TENANT_ID", ev->tenant_id);
	if (ev->host)
		add(m, "RG_HOST", rg_cidr_format(ev->host, b, sizeof(b)));
	add(m, "RG_REASON", ev->reason);
	if (ev->has_counts) {
		add_u64(m, "RG_COUNT", ev->count);
		add_u64(m, "RG_LIMIT", ev->limit);
		add(m, "RG_WINDOW", rg_format_duration(ev->window_ns, b, sizeof(b)));
	}
	add(m, "RG_ACTION", ev->action ? ev->action : x->action);
	add(m, "RG_ORIGIN", ev->origin);
	add(m, "RG_DETAIL", ev->detail);	/* agent-made text ("measured 900/1m, ...") */
	if (ev->expires_ns)
		add(m, "RG_EXPIRES", rg_rfc3339_ms(ev->expires_ns, t, sizeof(t)));
	if (ev->by)
		add(m, "RG_BY", rg_printable(ev->by, strlen(ev->by), by));
	add(m, "RG_MAILTO", x->mailto);
	add(m, "RG_TOP_DOMAINS", x->top_domains);
	add(m, "RG_TOP_HOSTS", x->top_hosts);
	if (m->full || len > sizeof(m->buf) - m->used) {
		err = dropped(n, ev, -EMSGSIZE);
		goto out;
	}
	memcpy(m->buf + m->used, line, len);
	h.n_strings = m->n;
	h.stdin_len = (uint32_t)len;
	memcpy(m->buf, &h, sizeof(h));
	/* MSG_DONTWAIT: a notifier that does not keep up costs events, never the loop. */
	if (send(n->fd, m->buf, m->used + len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		err = dropped(n, ev, -errno);
out:
	free(m);
	return err;
}

void rg_notify_counters(const struct rg_notify *n, struct rg_notify_counters *out)
{
	memset(out, 0, sizeof(*out));
	if (!n)
		return;
	out->c = n->child;
	out->c.dropped += n->dropped_here;
	out->running = n->fd >= 0;
}

void rg_notify_free(struct rg_notify *n)
{
	if (!n)
		return;
	if (n->fd >= 0)
		close(n->fd);
	free(n);
}
