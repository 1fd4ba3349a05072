// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * event.c: the event/listener layer (see event.h). Takes listen specs, accepted fds and
 * bytes to send; runs one epoll set with listeners, connections and a timerfd armed for the
 * earliest deadline of its queues; reports events to the owners' callbacks and refused
 * connections in per-listener counters and rate-limited log lines.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "event.h"
#include "log.h"

#define MAX_QUEUES 4
#define MAX_EVENTS 64
#define ACCEPTS_PER_EVENT 64
#define PAUSE_NS (100 * 1000000ULL)	/* no spare descriptor: retry accept after this */
#define FIRST_OUT_CAP 256

enum { TAG_LISTENER = 0x6c697374, TAG_CONN, TAG_TIMER, TAG_WATCH };

struct rg_ev {
	char who[32];
	int epfd;
	int tfd;
	int timer_tag;
	int reserve_fd;
	uint64_t armed;
	uint64_t wakeup;
	struct rg_ev_listener *listeners;
	struct rg_ev_queue *queues[MAX_QUEUES];
	size_t n_queues;
};

bool rg_ratelimit_ok(struct rg_ratelimit *rl, const char *who, const char *what)
{
	uint64_t now = rg_now_mono_ns();

	if (now - rl->window_start >= RG_NSEC_PER_SEC) {
		if (rl->suppressed)
			pr_warn("%s: %llu more %s messages suppressed", who,
				(unsigned long long)rl->suppressed, what);
		rl->window_start = now;
		rl->n = 0;
		rl->suppressed = 0;
	}
	if (rl->n < RG_RATELIMIT_BURST) {
		rl->n++;
		return true;
	}
	rl->suppressed++;
	return false;
}

static int reserve_open(void)
{
	return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

int rg_ev_new(const char *who, struct rg_ev **out)
{
	struct epoll_event e = { .events = EPOLLIN };
	struct rg_ev *ev;
	int err;

	*out = NULL;
	ev = calloc(1, sizeof(*ev));
	if (!ev)
		return -ENOMEM;
	snprintf(ev->who, sizeof(ev->who), "%s", who);
	ev->tfd = -1;
	ev->timer_tag = TAG_TIMER;
	ev->reserve_fd = reserve_open();
	ev->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (ev->epfd < 0) {
		err = -errno;
		goto out;
	}
	ev->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (ev->tfd < 0) {
		err = -errno;
		goto out;
	}
	e.data.ptr = &ev->timer_tag;
	if (epoll_ctl(ev->epfd, EPOLL_CTL_ADD, ev->tfd, &e)) {
		err = -errno;
		goto out;
	}
	*out = ev;
	return 0;
out:
	rg_ev_free(ev);
	return err;
}

void rg_ev_free(struct rg_ev *ev)
{
	struct rg_ev_listener *l, *next;

	if (!ev)
		return;
	for (l = ev->listeners; l; l = next) {
		next = l->next;
		if (l->fd >= 0)
			close(l->fd);
		rg_sock_file_remove(&l->file);
		free(l->name);
		free(l);
	}
	if (ev->tfd >= 0)
		close(ev->tfd);
	if (ev->epfd >= 0)
		close(ev->epfd);
	if (ev->reserve_fd >= 0)
		close(ev->reserve_fd);
	free(ev);
}

int rg_ev_fd(const struct rg_ev *ev)
{
	return ev->epfd;
}

void rg_ev_add_queue(struct rg_ev *ev, struct rg_ev_queue *q)
{
	if (ev->n_queues < MAX_QUEUES)
		ev->queues[ev->n_queues++] = q;
}

/* ---- listeners ---- */

int rg_ev_listen(struct rg_ev *ev, const char *spec, const struct rg_unix_listen_opts *uo,
		 rg_ev_accept_fn on_accept, void *ctx, struct rg_ev_listener **out)
{
	struct epoll_event e = { .events = EPOLLIN };
	struct rg_ev_listener *l;
	char who[300];
	int err;

	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->tag = TAG_LISTENER;
	l->fd = -1;
	l->ev = ev;
	l->on_accept = on_accept;
	l->ctx = ctx;
	l->name = strdup(spec);
	if (!l->name) {
		err = -ENOMEM;
		goto out;
	}
	snprintf(who, sizeof(who), "%s %.256s", ev->who, spec);
	if (!strncmp(spec, "unix:", 5) && uo) {
		l->is_unix = true;
		err = rg_listen_unix(who, spec + 5, uo, &l->fd, &l->file);
	} else if (!strncmp(spec, "inet:", 5)) {
		err = rg_listen_inet(who, spec + 5, 0, &l->fd);
	} else {
		pr_err("%s: expected unix:PATH or inet:HOST:PORT", who);
		err = -EINVAL;
	}
	if (err)
		goto out;
	e.data.ptr = l;
	if (epoll_ctl(ev->epfd, EPOLL_CTL_ADD, l->fd, &e)) {
		err = -errno;
		goto out;
	}
	l->next = ev->listeners;
	ev->listeners = l;
	if (out)
		*out = l;
	return 0;
out:
	if (l->fd >= 0)
		close(l->fd);
	rg_sock_file_remove(&l->file);
	free(l->name);
	free(l);
	return err;
}

void rg_ev_listener_allow(struct rg_ev_listener *l, const struct rg_cidr *allow, size_t n)
{
	l->allow = allow;
	l->n_allow = n;
}

size_t rg_ev_sock_files(const struct rg_ev *ev, const struct rg_sock_file **out, size_t max)
{
	size_t n = 0;

	for (const struct rg_ev_listener *l = ev->listeners; l; l = l->next)
		if (l->file.path && n < max)
			out[n++] = &l->file;
	return n;
}

uint64_t rg_ev_refused_not_allowed(const struct rg_ev *ev)
{
	uint64_t n = 0;

	for (const struct rg_ev_listener *l = ev->listeners; l; l = l->next)
		n += l->refused_not_allowed;
	return n;
}

uint64_t rg_ev_refused_nofd(const struct rg_ev *ev)
{
	uint64_t n = 0;

	for (const struct rg_ev_listener *l = ev->listeners; l; l = l->next)
		n += l->refused_nofd;
	return n;
}

static void listener_set(struct rg_ev_listener *l, uint32_t events)
{
	struct epoll_event e = { .events = events, .data.ptr = l };

	epoll_ctl(l->ev->epfd, EPOLL_CTL_MOD, l->fd, &e);
}

/* Out of descriptors (accept fails so before it looks at the queue): take one connection
 * off the queue with the spare fd and close it. true: one was refused, go on; false: the
 * queue is empty, or there is no spare and the listener pauses. */
static bool refuse_nofd(struct rg_ev_listener *l, int err)
{
	struct rg_ev *ev = l->ev;
	int fd = -1, aerr = 0;

	if (ev->reserve_fd >= 0) {
		close(ev->reserve_fd);
		fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
		aerr = errno;
		if (fd >= 0)
			close(fd);
	}
	ev->reserve_fd = reserve_open();
	if (fd >= 0 || ev->reserve_fd < 0) {
		l->refused_nofd++;
		if (rg_ratelimit_ok(&l->rl, ev->who, "refused connection"))
			pr_warn("%s: accept on %s: %s; refusing connections until descriptors "
				"are free", ev->who, l->name, strerror(err));
	}
	if (ev->reserve_fd < 0) {
		listener_set(l, 0);
		l->paused_until = rg_now_mono_ns() + PAUSE_NS;
		return false;
	}
	return fd >= 0 || aerr == EINTR || aerr == ECONNABORTED;
}

/* The peer in the 16-byte form of cidr.h (IPv4 as ::ffff:a.b.c.d); false: not inet. */
static bool peer_addr(const struct sockaddr_storage *ss, uint8_t addr[16])
{
	if (ss->ss_family == AF_INET6) {
		memcpy(addr, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
		return true;
	}
	if (ss->ss_family != AF_INET)
		return false;
	memset(addr, 0, 10);
	addr[10] = addr[11] = 0xff;
	memcpy(addr + 12, &((const struct sockaddr_in *)ss)->sin_addr, 4);
	return true;
}

static bool peer_allowed(struct rg_ev_listener *l, const struct sockaddr_storage *ss)
{
	char a[RG_ADDR_STRLEN];
	uint8_t addr[16];

	if (!l->n_allow || l->is_unix)
		return true;
	if (peer_addr(ss, addr)) {
		for (size_t i = 0; i < l->n_allow; i++)
			if (rg_cidr_contains(&l->allow[i], addr))
				return true;
	}
	l->refused_not_allowed++;
	if (rg_ratelimit_ok(&l->rl, l->ev->who, "refused connection"))
		pr_warn("%s: refusing connection on %s from %s: peer not allowed", l->ev->who,
			l->name, peer_addr(ss, addr) ? rg_addr_format(addr, a, sizeof(a)) : "?");
	return false;
}

static void listener_accept(struct rg_ev_listener *l)
{
	for (int i = 0; i < ACCEPTS_PER_EVENT; i++) {
		struct sockaddr_storage ss = { 0 };
		socklen_t sl = sizeof(ss);
		int fd = accept4(l->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0) {
			if (peer_allowed(l, &ss))
				l->on_accept(l->ctx, l, fd);
			else
				close(fd);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			if (refuse_nofd(l, errno))
				continue;
			return;
		}
		if (errno != EAGAIN && errno != EWOULDBLOCK &&
		    rg_ratelimit_ok(&l->rl, l->ev->who, "accept error"))
			pr_warn("%s: accept on %s: %s", l->ev->who, l->name, strerror(errno));
		return;
	}
}

/* ---- connections ---- */

static void queue_del(struct rg_ev_conn *c)
{
	struct rg_ev_queue *q = c->q;

	if (!q)
		return;
	rg_fifo_del(&q->conns, &c->link);
	c->q = NULL;
}

struct rg_ev_conn *rg_ev_queue_head(const struct rg_ev_queue *q)
{
	return q->conns.head ? rg_container_of(q->conns.head, struct rg_ev_conn, link) : NULL;
}

void rg_ev_conn_deadline(struct rg_ev_conn *c, struct rg_ev_queue *q, uint64_t now_ns)
{
	queue_del(c);
	c->deadline = rg_time_after_ns(now_ns, q->timeout_ns);
	c->q = q;
	rg_fifo_push(&q->conns, &c->link);
}

static int conn_update(struct rg_ev_conn *c)
{
	struct epoll_event e = { .data.ptr = c };

	e.events = (c->reading ? EPOLLIN : 0) | (c->out_len > c->out_off ? EPOLLOUT : 0);
	if (e.events == c->events)
		return 0;
	if (epoll_ctl(c->ev->epfd, EPOLL_CTL_MOD, c->fd, &e))
		return -errno;
	c->events = e.events;
	return 0;
}

int rg_ev_conn_add(struct rg_ev *ev, struct rg_ev_conn *c, int fd)
{
	struct epoll_event e = { .events = EPOLLIN, .data.ptr = c };
	void (*on_event)(struct rg_ev_conn *, uint32_t) = c->on_event;
	size_t out_max = c->out_max;

	memset(c, 0, sizeof(*c));
	c->tag = TAG_CONN;
	c->fd = fd;
	c->ev = ev;
	c->on_event = on_event;
	c->out_max = out_max;
	c->reading = true;
	c->events = EPOLLIN;
	if (epoll_ctl(ev->epfd, EPOLL_CTL_ADD, fd, &e)) {
		c->fd = -1;
		return -errno;
	}
	return 0;
}

void rg_ev_conn_close(struct rg_ev_conn *c)
{
	queue_del(c);
	if (c->fd >= 0) {
		epoll_ctl(c->ev->epfd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
		c->fd = -1;
	}
	free(c->out);
	c->out = NULL;
	c->out_off = c->out_len = c->out_cap = 0;
}

size_t rg_ev_conn_pending(const struct rg_ev_conn *c)
{
	return c->out_len - c->out_off;
}

int rg_ev_conn_flush(struct rg_ev_conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return -errno;
		}
		c->out_off += (size_t)n;
	}
	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	return conn_update(c);
}

int rg_ev_conn_queue(struct rg_ev_conn *c, const void *data, size_t len)
{
	if (c->out_max && rg_ev_conn_pending(c) + len > c->out_max) {
		int err = rg_ev_conn_flush(c);

		if (err)
			return err;
		if (rg_ev_conn_pending(c) + len > c->out_max)
			return -ENOBUFS;
	}
	if (c->out_off && c->out_len + len > c->out_cap) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	if (c->out_len + len > c->out_cap) {
		size_t ncap = c->out_cap ? c->out_cap : FIRST_OUT_CAP;
		char *n;

		while (ncap < c->out_len + len)
			ncap *= 2;
		n = realloc(c->out, ncap);
		if (!n)
			return -ENOMEM;
		c->out = n;
		c->out_cap = ncap;
	}
	memcpy(c->out + c->out_len, data, len);
	c->out_len += len;
	return 0;
}

int rg_ev_conn_set_reading(struct rg_ev_conn *c, bool reading)
{
	c->reading = reading;
	return conn_update(c);
}

static void arm_timer(struct rg_ev *ev);

/* ---- other fds ---- */

int rg_ev_watch_add(struct rg_ev *ev, struct rg_ev_watch *w, int fd)
{
	struct epoll_event e = { .events = EPOLLIN, .data.ptr = w };

	w->tag = TAG_WATCH;
	return epoll_ctl(ev->epfd, EPOLL_CTL_ADD, fd, &e) ? -errno : 0;
}

void rg_ev_set_wakeup(struct rg_ev *ev, uint64_t when_ns)
{
	ev->wakeup = when_ns;
	arm_timer(ev);
}

/* ---- deadlines ---- */

static void arm_timer(struct rg_ev *ev)
{
	struct itimerspec its = { 0 };
	struct rg_ev_listener *l;
	uint64_t when = 0;

	for (size_t i = 0; i < ev->n_queues; i++) {
		struct rg_ev_conn *h = rg_ev_queue_head(ev->queues[i]);

		if (h && (!when || h->deadline < when))
			when = h->deadline;
	}
	for (l = ev->listeners; l; l = l->next)
		if (l->paused_until && (!when || l->paused_until < when))
			when = l->paused_until;
	if (ev->wakeup && (!when || ev->wakeup < when))
		when = ev->wakeup;
	if (when == ev->armed)
		return;
	if (when) {
		its.it_value.tv_sec = (time_t)(when / RG_NSEC_PER_SEC);
		its.it_value.tv_nsec = (long)(when % RG_NSEC_PER_SEC);
	}
	/* Zero it_value disarms; a deadline already past fires at once. */
	if (timerfd_settime(ev->tfd, TFD_TIMER_ABSTIME, &its, NULL)) {
		pr_warn("%s: timerfd_settime: %s", ev->who, strerror(errno));
		return;
	}
	ev->armed = when;
}

static void expire(struct rg_ev *ev)
{
	uint64_t now = rg_now_mono_ns(), junk;
	struct rg_ev_listener *l;

	if (read(ev->tfd, &junk, sizeof(junk)) < 0 && errno != EAGAIN)
		pr_debug("%s: timerfd read: %s", ev->who, strerror(errno));
	ev->armed = 0;
	if (ev->wakeup && ev->wakeup <= now)
		ev->wakeup = 0;
	for (size_t i = 0; i < ev->n_queues; i++) {
		struct rg_ev_queue *q = ev->queues[i];

		struct rg_ev_conn *c;

		while ((c = rg_ev_queue_head(q)) && c->deadline <= now) {
			q->expired(c);
			if (rg_ev_queue_head(q) == c)	/* the owner did not close it: never loop */
				queue_del(c);
		}
	}
	for (l = ev->listeners; l; l = l->next) {
		if (l->paused_until && l->paused_until <= now) {
			l->paused_until = 0;
			listener_set(l, EPOLLIN);
		}
	}
}

int rg_ev_dispatch(struct rg_ev *ev, int timeout_ms)
{
	struct epoll_event evs[MAX_EVENTS];
	bool timer = false;
	int n;

	n = epoll_wait(ev->epfd, evs, MAX_EVENTS, timeout_ms);
	if (n < 0)
		return -errno;
	for (int i = 0; i < n; i++) {
		int *tag = evs[i].data.ptr;

		if (*tag == TAG_LISTENER) {
			listener_accept((struct rg_ev_listener *)(void *)tag);
		} else if (*tag == TAG_CONN) {
			struct rg_ev_conn *c = (struct rg_ev_conn *)(void *)tag;

			c->on_event(c, evs[i].events);
		} else if (*tag == TAG_WATCH) {
			struct rg_ev_watch *w = (struct rg_ev_watch *)(void *)tag;

			if (w->on_ready)
				w->on_ready(w->ctx);
		} else {
			timer = true;
		}
	}
	if (timer)
		expire(ev);
	arm_timer(ev);
	return n;
}
