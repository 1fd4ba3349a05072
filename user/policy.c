// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * policy.c: the policy delegation server. Takes listen endpoints, limits and a decision
 * callback; runs listeners, connections and a deadline timerfd in one epoll set that an
 * outer loop can watch. Each connection has a parser, an output buffer with a cap, and sits
 * on one of two deadline lists (idle, or inside a request), each kept in deadline order
 * because every entry on a list gets the same timeout added to "now". Reports stats and a
 * per-request latency hook; logs client text only through rg_printable(), rate-limited.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "policy.h"

#define DEFAULT_MAX_CONNS 1024
#define DEFAULT_REQUEST_TIMEOUT_NS (10ULL * 1000000000ULL)
#define DEFAULT_IDLE_TIMEOUT_NS (300ULL * 1000000000ULL)
#define DEFAULT_MAX_OUTPUT (64 * 1024)
#define READ_CHUNK 16384
#define ACCEPTS_PER_EVENT 64
#define MAX_EVENTS 64
#define LOG_BURST 5		/* messages of one kind per second before suppression */

enum tag_kind { TAG_LISTEN, TAG_CONN, TAG_TIMER };

struct tag {
	enum tag_kind kind;
};

struct listener {
	struct tag tag;
	int fd;
	char *name;		/* as configured, for logs */
	char *unix_path;	/* NULL for inet */
	dev_t dev;
	ino_t ino;
};

struct conn;
struct conn_list {
	struct conn *head, *tail;
};

struct conn {
	struct tag tag;
	int fd;
	uint64_t id;
	struct rg_policy_parser *parser;
	char *out;
	size_t out_off, out_len, out_cap;
	bool want_out;
	bool in_request;
	uint64_t deadline;
	struct conn_list *list;
	struct conn *prev, *next;
	char peer[RG_ADDR_STRLEN + 16];
};

struct ratelimit {
	uint64_t window_start;
	unsigned n;
	uint64_t suppressed;
};

struct rg_policy_server {
	struct rg_policy_server_opts o;
	int epfd;
	int tfd;
	int reserve_fd;
	struct tag timer_tag;
	uint64_t armed;
	struct listener *ls;
	size_t n_ls;
	struct conn_list idle, busy;
	uint64_t next_id;
	struct rg_policy_stats st;
	struct ratelimit rl_refused, rl_malformed, rl_decide, rl_timeout;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* true: log this one. Reports how many were dropped when a new second opens. */
static bool ratelimit_ok(struct ratelimit *rl, const char *what)
{
	uint64_t now = now_ns();

	if (now - rl->window_start >= 1000000000ULL) {
		if (rl->suppressed)
			pr_warn("policy: %llu more %s messages suppressed",
				(unsigned long long)rl->suppressed, what);
		rl->window_start = now;
		rl->n = 0;
		rl->suppressed = 0;
	}
	if (rl->n < LOG_BURST) {
		rl->n++;
		return true;
	}
	rl->suppressed++;
	return false;
}

/* ---- deadline lists ---- */

static void list_del(struct conn *c)
{
	struct conn_list *l = c->list;

	if (!l)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		l->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		l->tail = c->prev;
	c->prev = c->next = NULL;
	c->list = NULL;
}

static void list_append(struct conn_list *l, struct conn *c, uint64_t deadline)
{
	list_del(c);
	c->deadline = deadline;
	c->list = l;
	c->prev = l->tail;
	c->next = NULL;
	if (l->tail)
		l->tail->next = c;
	else
		l->head = c;
	l->tail = c;
}

static void arm_timer(struct rg_policy_server *s)
{
	uint64_t when = 0;
	struct itimerspec its = { 0 };

	if (s->idle.head)
		when = s->idle.head->deadline;
	if (s->busy.head && (!when || s->busy.head->deadline < when))
		when = s->busy.head->deadline;
	if (when == s->armed)
		return;
	if (when) {
		its.it_value.tv_sec = (time_t)(when / 1000000000ULL);
		its.it_value.tv_nsec = (long)(when % 1000000000ULL);
	}
	/* Zero it_value disarms; a deadline already past fires at once. */
	if (timerfd_settime(s->tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0) {
		pr_warn("policy: timerfd_settime: %s", strerror(errno));
		return;
	}
	s->armed = when;
}

/* ---- connections ---- */

static void conn_close(struct rg_policy_server *s, struct conn *c)
{
	list_del(c);
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	rg_policy_parser_free(c->parser);
	free(c->out);
	free(c);
	s->st.conns_open--;
}

static int conn_set_events(struct rg_policy_server *s, struct conn *c, bool want_out)
{
	struct epoll_event ev = { .events = EPOLLIN | (want_out ? EPOLLOUT : 0), .data.ptr = c };

	if (c->want_out == want_out)
		return 0;
	if (epoll_ctl(s->epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		return -errno;
	c->want_out = want_out;
	return 0;
}

/* Write what the socket takes. 0, or -errno when the connection is dead. */
static int conn_flush(struct rg_policy_server *s, struct conn *c)
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
	return conn_set_events(s, c, c->out_len > 0);
}

/* Queue bytes; -ENOBUFS when the client has left more than max_output unread. */
static int conn_queue(struct rg_policy_server *s, struct conn *c, const char *data, size_t len)
{
	if (c->out_len - c->out_off + len > s->o.max_output) {
		int err = conn_flush(s, c);

		if (err)
			return err;
		if (c->out_len - c->out_off + len > s->o.max_output)
			return -ENOBUFS;
	}
	if (c->out_off && c->out_len + len > c->out_cap) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	if (c->out_len + len > c->out_cap) {
		size_t ncap = c->out_cap ? c->out_cap : 256;
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

static bool action_ok(const char *a, size_t cap)
{
	size_t n = strnlen(a, cap);

	if (!n || n >= cap)
		return false;
	return !strpbrk(a, "\r\n");
}

static int answer(struct rg_policy_server *s, struct conn *c, const struct rg_policy_req *req,
		  uint64_t t_read)
{
	char action[RG_POLICY_ACTION_MAX];
	char reply[RG_POLICY_ACTION_MAX + 16];
	int rc, n;

	action[0] = '\0';
	rc = s->o.decide ? s->o.decide(s->o.decide_ctx, req, action, sizeof(action)) : -ENOSYS;
	if (rc < 0 || !action_ok(action, sizeof(action))) {
		s->st.decide_failures++;
		if (ratelimit_ok(&s->rl_decide, "decision failure"))
			pr_warn("policy: conn %llu: cannot decide (%s), answering per fail_mode %s",
				(unsigned long long)c->id, rc < 0 ? strerror(-rc) : "bad action",
				rg_fail_mode_name(s->o.fail_mode));
		snprintf(action, sizeof(action), "%s",
			 s->o.fail_mode == RG_FAIL_CLOSED ? RG_POLICY_FAIL_CLOSED_ACTION
							  : RG_POLICY_FAIL_OPEN_ACTION);
	}
	n = snprintf(reply, sizeof(reply), "action=%s\n\n", action);
	if (n < 0 || (size_t)n >= sizeof(reply))
		return -EOVERFLOW;
	rc = conn_queue(s, c, reply, (size_t)n);
	if (rc)
		return rc;
	s->st.requests++;
	if (s->o.observe)
		s->o.observe(s->o.observe_ctx, now_ns() - t_read);
	return 0;
}

static void conn_malformed(struct rg_policy_server *s, struct conn *c)
{
	const char *detail;
	size_t dlen;
	const char *why = rg_policy_parser_error(c->parser, &detail, &dlen);
	char pr[RG_PRINTABLE_MAX + 4];

	s->st.malformed++;
	if (ratelimit_ok(&s->rl_malformed, "malformed request"))
		pr_warn("policy: conn %llu from %s: malformed request (%s) near \"%s\": closing "
			"without reply", (unsigned long long)c->id, c->peer,
			why ? why : "?", rg_printable(detail, dlen, pr));
	conn_close(s, c);
}

static void conn_read(struct rg_policy_server *s, struct conn *c)
{
	char buf[READ_CHUNK];
	ssize_t n;
	size_t off = 0;
	uint64_t t;
	bool answered = false;
	int err;

	n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		pr_debug("policy: conn %llu: recv: %s", (unsigned long long)c->id,
			 strerror(errno));
		conn_close(s, c);
		return;
	}
	if (n == 0) {
		if (rg_policy_parser_pending(c->parser)) {
			s->st.eof_mid_request++;
			pr_debug("policy: conn %llu from %s: end of input inside a request",
				 (unsigned long long)c->id, c->peer);
		} else if (c->out_len > c->out_off) {
			/* A client that half-closed after its last request still gets what
			 * the socket takes of its replies. */
			conn_flush(s, c);
		}
		conn_close(s, c);
		return;
	}
	t = now_ns();
	while (off < (size_t)n) {
		size_t used;
		int r = rg_policy_parser_feed(c->parser, buf + off, (size_t)n - off, &used);

		off += used;
		if (r < 0) {
			conn_malformed(s, c);
			return;
		}
		if (r == 1) {
			err = answer(s, c, rg_policy_parser_request(c->parser), t);
			if (err == -ENOBUFS) {
				s->st.output_overflows++;
				if (ratelimit_ok(&s->rl_malformed, "malformed request"))
					pr_warn("policy: conn %llu from %s: over %zu bytes of "
						"replies unread, closing",
						(unsigned long long)c->id, c->peer,
						s->o.max_output);
			}
			if (err) {
				conn_close(s, c);
				return;
			}
			answered = true;
		}
	}
	if (rg_policy_parser_pending(c->parser)) {
		if (!c->in_request || answered) {
			c->in_request = true;
			list_append(&s->busy, c, t + s->o.request_timeout_ns);
		}
	} else {
		c->in_request = false;
		list_append(&s->idle, c, t + s->o.idle_timeout_ns);
	}
	if (answered && conn_flush(s, c) < 0)
		conn_close(s, c);
}

static void conn_event(struct rg_policy_server *s, struct conn *c, uint32_t events)
{
	if (events & EPOLLOUT) {
		if (conn_flush(s, c) < 0) {
			conn_close(s, c);
			return;
		}
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		conn_read(s, c);
}

static void refuse(struct rg_policy_server *s, int fd, const char *why)
{
	s->st.conns_refused++;
	if (ratelimit_ok(&s->rl_refused, "refused connection"))
		pr_warn("policy: refusing connection: %s", why);
	if (fd >= 0)
		close(fd);
}

static void format_peer(int fd, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char a[INET6_ADDRSTRLEN];

	snprintf(buf, len, "unix");
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0)
		return;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &in->sin_addr, a, sizeof(a));
		snprintf(buf, len, "%s:%u", a, ntohs(in->sin_port));
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, a, sizeof(a));
		snprintf(buf, len, "[%s]:%u", a, ntohs(in6->sin6_port));
	}
}

static void listener_accept(struct rg_policy_server *s, struct listener *l)
{
	int i;

	for (i = 0; i < ACCEPTS_PER_EVENT; i++) {
		struct epoll_event ev = { .events = EPOLLIN };
		struct conn *c;
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if ((errno == EMFILE || errno == ENFILE) && s->reserve_fd >= 0) {
				/* Free the spare fd to take the connection off the queue,
				 * else the level-triggered listener spins. */
				close(s->reserve_fd);
				fd = accept(l->fd, NULL, NULL);
				refuse(s, fd, "out of file descriptors");
				s->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
				continue;
			}
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				pr_warn("policy: accept on %s: %s", l->name, strerror(errno));
			return;
		}
		if (s->st.conns_open >= s->o.max_connections) {
			refuse(s, fd, "max_policy_connections reached");
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (c)
			c->parser = rg_policy_parser_new(&s->o.limits);
		if (!c || !c->parser) {
			free(c);
			refuse(s, fd, "out of memory");
			continue;
		}
		c->tag.kind = TAG_CONN;
		c->fd = fd;
		c->id = ++s->next_id;
		if (!l->unix_path) {
			int one = 1;

			/* Replies go out in one send; no reason to let Nagle hold one back. */
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		}
		format_peer(fd, c->peer, sizeof(c->peer));
		ev.data.ptr = c;
		if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			rg_policy_parser_free(c->parser);
			free(c);
			refuse(s, fd, "epoll_ctl failed");
			continue;
		}
		s->st.conns_open++;
		s->st.conns_accepted++;
		list_append(&s->idle, c, now_ns() + s->o.idle_timeout_ns);
		pr_debug("policy: conn %llu from %s on %s", (unsigned long long)c->id, c->peer,
			 l->name);
	}
}

static void expire(struct rg_policy_server *s)
{
	uint64_t now = now_ns(), junk;

	if (read(s->tfd, &junk, sizeof(junk)) < 0 && errno != EAGAIN)
		pr_debug("policy: timerfd read: %s", strerror(errno));
	s->armed = 0;
	while (s->busy.head && s->busy.head->deadline <= now) {
		struct conn *c = s->busy.head;

		s->st.request_timeouts++;
		if (ratelimit_ok(&s->rl_timeout, "timeout"))
			pr_warn("policy: conn %llu from %s: request not complete within "
				"policy_request_timeout, closing without reply",
				(unsigned long long)c->id, c->peer);
		conn_close(s, c);
	}
	while (s->idle.head && s->idle.head->deadline <= now) {
		struct conn *c = s->idle.head;

		s->st.idle_timeouts++;
		pr_debug("policy: conn %llu from %s: idle timeout", (unsigned long long)c->id,
			 c->peer);
		conn_close(s, c);
	}
}

int rg_policy_server_dispatch(struct rg_policy_server *s, int timeout_ms)
{
	struct epoll_event evs[MAX_EVENTS];
	bool timer = false;
	int n, i;

	n = epoll_wait(s->epfd, evs, MAX_EVENTS, timeout_ms);
	if (n < 0)
		return -errno;
	/* Expiry closes other connections: run it after the batch, whose events may
	 * point at them. A connection event only ever closes its own connection. */
	for (i = 0; i < n; i++) {
		struct tag *t = evs[i].data.ptr;

		switch (t->kind) {
		case TAG_LISTEN:
			listener_accept(s, (struct listener *)t);
			break;
		case TAG_CONN:
			conn_event(s, (struct conn *)t, evs[i].events);
			break;
		case TAG_TIMER:
			timer = true;
			break;
		}
	}
	if (timer)
		expire(s);
	arm_timer(s);
	return n;
}

/* ---- listeners ---- */

static int epoll_add(struct rg_policy_server *s, int fd, struct tag *t)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = t };

	return epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static int listen_unix(struct listener *l, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[sizeof(sa.sun_path)];
	struct stat st;
	struct passwd *pw;
	char *slash;
	int fd = -1, err;

	if (!*path || strlen(path) >= sizeof(sa.sun_path)) {
		pr_err("policy_listen %s: socket path empty or longer than %zu bytes", l->name,
		       sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash) {
		if (slash == dir)
			slash[1] = '\0';
		else
			*slash = '\0';
		err = stat(dir, &st) < 0 ? -errno : S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
		if (err) {
			pr_err("policy_listen %s: directory %s: %s (it is not created here)",
			       l->name, dir, strerror(-err));
			return err;
		}
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			pr_err("policy_listen %s: %s exists and is not a socket", l->name, path);
			return -EEXIST;
		}
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(fd);
			pr_err("policy_listen %s: another server is listening on %s", l->name,
			       path);
			return -EADDRINUSE;
		}
		close(fd);
		if (unlink(path) < 0 && errno != ENOENT) {
			err = -errno;
			pr_err("policy_listen %s: removing stale %s: %s", l->name, path,
			       strerror(errno));
			return err;
		}
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = -errno;
		pr_err("policy_listen %s: bind: %s", l->name, strerror(errno));
		goto out;
	}
	/* Postfix's smtpd runs as user postfix and must be able to connect. */
	pw = getpwnam("postfix");
	if (pw && chown(path, pw->pw_uid, pw->pw_gid) == 0) {
		err = chmod(path, 0660) < 0 ? -errno : 0;
	} else {
		err = chmod(path, 0666) < 0 ? -errno : 0;
	}
	if (err) {
		pr_err("policy_listen %s: chmod: %s", l->name, strerror(-err));
		unlink(path);
		goto out;
	}
	if (stat(path, &st) < 0 || listen(fd, SOMAXCONN) < 0) {
		err = -errno;
		pr_err("policy_listen %s: listen: %s", l->name, strerror(errno));
		unlink(path);
		goto out;
	}
	l->unix_path = strdup(path);
	if (!l->unix_path) {
		err = -ENOMEM;
		unlink(path);
		goto out;
	}
	l->dev = st.st_dev;
	l->ino = st.st_ino;
	l->fd = fd;
	return 0;
out:
	close(fd);
	return err;
}

static int listen_inet(struct listener *l, const char *spec)
{
	char host[256];
	const char *port;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *ai = NULL;
	int fd = -1, err, one = 1, rc;

	if (spec[0] == '[') {
		const char *end = strchr(spec, ']');

		if (!end || end[1] != ':' || (size_t)(end - spec - 1) >= sizeof(host))
			goto bad;
		snprintf(host, sizeof(host), "%.*s", (int)(end - spec - 1), spec + 1);
		port = end + 2;
		hints.ai_family = AF_INET6;
	} else {
		const char *colon = strrchr(spec, ':');

		if (!colon || (size_t)(colon - spec) >= sizeof(host))
			goto bad;
		snprintf(host, sizeof(host), "%.*s", (int)(colon - spec), spec);
		port = colon + 1;
		if (strchr(host, ':'))
			goto bad;	/* bare IPv6 needs brackets */
	}
	if (!*port || strspn(port, "0123456789") != strlen(port) || atoi(port) > 65535)
		goto bad;
	rc = getaddrinfo(*host && strcmp(host, "*") ? host : NULL, port, &hints, &ai);
	if (rc) {
		pr_err("policy_listen %s: %s", l->name, gai_strerror(rc));
		return -EINVAL;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ai->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, SOMAXCONN) < 0) {
		err = -errno;
		pr_err("policy_listen %s: %s", l->name, strerror(errno));
		goto out;
	}
	freeaddrinfo(ai);
	l->fd = fd;
	return 0;
out:
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	return err;
bad:
	pr_err("policy_listen %s: expected inet:HOST:PORT or inet:[IPV6]:PORT", l->name);
	return -EINVAL;
}

static int listener_open(struct listener *l, const char *spec)
{
	l->tag.kind = TAG_LISTEN;
	l->fd = -1;
	l->name = strdup(spec);
	if (!l->name)
		return -ENOMEM;
	if (!strncmp(spec, "unix:", 5))
		return listen_unix(l, spec + 5);
	if (!strncmp(spec, "inet:", 5))
		return listen_inet(l, spec + 5);
	pr_err("policy_listen %s: expected unix:PATH or inet:HOST:PORT", spec);
	return -EINVAL;
}

static void listener_close(struct listener *l)
{
	struct stat st;

	if (l->fd >= 0)
		close(l->fd);
	/* Remove only our own socket file, not a successor's. */
	if (l->unix_path && stat(l->unix_path, &st) == 0 && st.st_dev == l->dev &&
	    st.st_ino == l->ino)
		unlink(l->unix_path);
	free(l->unix_path);
	free(l->name);
}

/* ---- server ---- */

int rg_policy_server_new(const struct rg_policy_server_opts *opts, struct rg_policy_server **out)
{
	struct rg_policy_server *s;
	size_t i;
	int err;

	*out = NULL;
	if (!opts->n_listen)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->o = *opts;
	s->o.listen = NULL;
	if (!s->o.max_connections)
		s->o.max_connections = DEFAULT_MAX_CONNS;
	if (!s->o.request_timeout_ns)
		s->o.request_timeout_ns = DEFAULT_REQUEST_TIMEOUT_NS;
	if (!s->o.idle_timeout_ns)
		s->o.idle_timeout_ns = DEFAULT_IDLE_TIMEOUT_NS;
	if (!s->o.max_output)
		s->o.max_output = DEFAULT_MAX_OUTPUT;
	s->tfd = -1;
	s->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epfd < 0) {
		err = -errno;
		goto out;
	}
	s->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (s->tfd < 0) {
		err = -errno;
		goto out;
	}
	s->timer_tag.kind = TAG_TIMER;
	err = epoll_add(s, s->tfd, &s->timer_tag);
	if (err)
		goto out;
	s->ls = calloc(opts->n_listen, sizeof(*s->ls));
	if (!s->ls) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < opts->n_listen; i++) {
		s->n_ls++;
		err = listener_open(&s->ls[i], opts->listen[i]);
		if (!err)
			err = epoll_add(s, s->ls[i].fd, &s->ls[i].tag);
		if (err)
			goto out;
		pr_info("policy: listening on %s", s->ls[i].name);
	}
	*out = s;
	return 0;
out:
	rg_policy_server_free(s);
	return err;
}

void rg_policy_server_free(struct rg_policy_server *s)
{
	size_t i;

	if (!s)
		return;
	while (s->idle.head)
		conn_close(s, s->idle.head);
	while (s->busy.head)
		conn_close(s, s->busy.head);
	for (i = 0; i < s->n_ls; i++)
		listener_close(&s->ls[i]);
	free(s->ls);
	if (s->tfd >= 0)
		close(s->tfd);
	if (s->epfd >= 0)
		close(s->epfd);
	if (s->reserve_fd >= 0)
		close(s->reserve_fd);
	free(s);
}

int rg_policy_server_fd(const struct rg_policy_server *s)
{
	return s->epfd;
}

void rg_policy_server_get_stats(const struct rg_policy_server *s, struct rg_policy_stats *st)
{
	*st = s->st;
}
