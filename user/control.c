// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * control.c: the control socket server (protocol in control.h). Takes connections from
 * relayguardctl, checks the peer is root, splits and parses JSON request lines, calls the
 * handler registered for "cmd" and writes its reply. Reports every request to the log
 * with its peer. All sockets are non-blocking behind one internal epoll fd plus a timerfd
 * for client deadlines, so the agent's loop sees a single fd and no call ever blocks.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
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

#include "control.h"
#include "log.h"

#define MAX_HANDLERS 64
#define JSON_MAX_DEPTH 16

struct handler {
	char cmd[RG_CONTROL_CMD_MAX + 1];
	rg_control_fn fn;
	void *ctx;
};

struct client {
	int fd;
	struct rg_peer peer;
	char in[RG_CONTROL_MAX_REQUEST];
	size_t in_len;
	char *out;
	size_t out_len, out_off, out_cap;
	uint64_t idle_deadline_ms;
	uint64_t req_deadline_ms;	/* 0: no partial request */
	bool closing;			/* close once out is flushed */
	bool eof;
	struct client *next;
};

struct rg_control {
	int lfd;
	int epfd;
	int tfd;
	char *path;
	dev_t dev;
	ino_t ino;
	struct handler handlers[MAX_HANDLERS];
	size_t n_handlers;
	struct client *clients;
	size_t n_clients;
	uint64_t armed_ms;
	uint64_t idle_ms, request_ms;
};

/* Markers for epoll data.ptr: the listener and timer are not clients. */
static char listen_marker, timer_marker;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int rg_control_fail(json_object *reply, const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object_object_add(reply, "ok", json_object_new_boolean(0));
	json_object_object_add(reply, "error", json_object_new_string(msg));
	json_object_object_add(reply, "code", json_object_new_string(code));
	return -EINVAL;
}

int rg_control_get_str(json_object *req, const char *key, const char **out)
{
	json_object *v;

	if (!json_object_object_get_ex(req, key, &v) || json_object_is_type(v, json_type_null))
		return -ENOENT;
	/* An embedded NUL would make C see a different string than the client sent. */
	if (!json_object_is_type(v, json_type_string) ||
	    strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v))
		return -EINVAL;
	*out = json_object_get_string(v);
	return 0;
}

int rg_control_get_u64(json_object *req, const char *key, uint64_t *out)
{
	json_object *v;
	int64_t i;

	if (!json_object_object_get_ex(req, key, &v) || json_object_is_type(v, json_type_null))
		return -ENOENT;
	if (!json_object_is_type(v, json_type_int))
		return -EINVAL;
	errno = 0;
	i = json_object_get_int64(v);
	/* json-c clamps out-of-range numbers to INT64_MAX/MIN; no member needs them. */
	if (i < 0 || i == INT64_MAX || errno == ERANGE)
		return -EINVAL;
	*out = (uint64_t)i;
	return 0;
}

int rg_control_get_bool(json_object *req, const char *key, bool *out)
{
	json_object *v;

	if (!json_object_object_get_ex(req, key, &v) || json_object_is_type(v, json_type_null))
		return -ENOENT;
	if (!json_object_is_type(v, json_type_boolean))
		return -EINVAL;
	*out = json_object_get_boolean(v);
	return 0;
}

static bool valid_cmd(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++) {
		if (n >= RG_CONTROL_CMD_MAX)
			return false;
		if (!((s[n] >= 'a' && s[n] <= 'z') || s[n] == '_'))
			return false;
	}
	return n > 0;
}

int rg_control_register(struct rg_control *c, const char *cmd, rg_control_fn fn, void *ctx)
{
	size_t i;

	if (!cmd || !fn || !valid_cmd(cmd))
		return -EINVAL;
	for (i = 0; i < c->n_handlers; i++) {
		if (!strcmp(c->handlers[i].cmd, cmd)) {
			c->handlers[i].fn = fn;
			c->handlers[i].ctx = ctx;
			return 0;
		}
	}
	if (c->n_handlers >= MAX_HANDLERS)
		return -ENOMEM;
	snprintf(c->handlers[c->n_handlers].cmd, sizeof(c->handlers[0].cmd), "%s", cmd);
	c->handlers[c->n_handlers].fn = fn;
	c->handlers[c->n_handlers].ctx = ctx;
	c->n_handlers++;
	return 0;
}

static const struct handler *find_handler(const struct rg_control *c, const char *cmd)
{
	size_t i;

	for (i = 0; i < c->n_handlers; i++)
		if (!strcmp(c->handlers[i].cmd, cmd))
			return &c->handlers[i];
	return NULL;
}

/* mkdir -p of the socket's parent; directories we create are 0700 (root only). */
static int make_parent(const char *path)
{
	char dir[PATH_MAX];
	char *p;
	int n;

	n = snprintf(dir, sizeof(dir), "%s", path);
	if (n < 0 || (size_t)n >= sizeof(dir))
		return -ENAMETOOLONG;
	p = strrchr(dir, '/');
	if (!p || p == dir)
		return 0;
	*p = '\0';
	for (p = dir + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char save = *p;

			*p = '\0';
			if (mkdir(dir, 0700) && errno != EEXIST) {
				int err = -errno;

				pr_warn("control: cannot create %s: %s", dir, strerror(-err));
				return err;
			}
			*p = save;
			if (!save)
				break;
		}
	}
	return 0;
}

/* An existing socket file: refuse if someone answers on it, else it is stale. */
static int clear_old_socket(const char *path, const struct sockaddr_un *sa)
{
	struct stat st;
	int fd, err = 0;

	if (lstat(path, &st)) {
		if (errno == ENOENT)
			return 0;
		err = -errno;
		pr_warn("control: %s: %s", path, strerror(-err));
		return err;
	}
	if (!S_ISSOCK(st.st_mode)) {
		pr_warn("control: %s exists and is not a socket", path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (!connect(fd, (const struct sockaddr *)sa, sizeof(*sa))) {
		pr_warn("control: %s is in use by another process (another relayguardd?)", path);
		err = -EADDRINUSE;
	} else if (unlink(path) && errno != ENOENT) {
		err = -errno;
		pr_warn("control: cannot remove stale %s: %s", path, strerror(-err));
	}
	close(fd);
	return err;
}

static int ep_add(int epfd, int fd, uint32_t events, void *ptr)
{
	struct epoll_event ev = { .events = events, .data.ptr = ptr };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

int rg_control_new(const char *path, struct rg_control **out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct rg_control *c;
	struct stat st;
	mode_t old_umask;
	int err;

	*out = NULL;
	if (!path || !*path)
		return -EINVAL;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		pr_warn("control: socket path too long (max %zu): %s", sizeof(sa.sun_path) - 1,
			path);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->lfd = c->epfd = c->tfd = -1;
	c->idle_ms = RG_CONTROL_IDLE_TIMEOUT_S * 1000;
	c->request_ms = RG_CONTROL_REQUEST_TIMEOUT_S * 1000;
	c->path = strdup(path);
	if (!c->path) {
		err = -ENOMEM;
		goto out;
	}
	err = make_parent(path);
	if (err)
		goto out;
	err = clear_old_socket(path, &sa);
	if (err)
		goto out;

	c->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->lfd < 0) {
		err = -errno;
		goto out;
	}
	/* The umask closes the window between bind() and chmod() in which another user
	 * could connect. */
	old_umask = umask(0177);
	if (bind(c->lfd, (struct sockaddr *)&sa, sizeof(sa)))
		err = -errno;
	umask(old_umask);
	if (err) {
		pr_warn("control: bind %s: %s", path, strerror(-err));
		goto out;
	}
	if (chmod(path, 0600) || stat(path, &st)) {
		err = -errno;
		pr_warn("control: chmod %s: %s", path, strerror(-err));
		goto out_unlink;
	}
	c->dev = st.st_dev;
	c->ino = st.st_ino;
	if (listen(c->lfd, 16)) {
		err = -errno;
		goto out_unlink;
	}

	c->epfd = epoll_create1(EPOLL_CLOEXEC);
	c->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (c->epfd < 0 || c->tfd < 0) {
		err = -errno;
		goto out_unlink;
	}
	err = ep_add(c->epfd, c->lfd, EPOLLIN, &listen_marker);
	if (!err)
		err = ep_add(c->epfd, c->tfd, EPOLLIN, &timer_marker);
	if (err)
		goto out_unlink;

	pr_info("control: listening on %s", path);
	*out = c;
	return 0;

out_unlink:
	unlink(path);
out:
	if (c->lfd >= 0)
		close(c->lfd);
	if (c->epfd >= 0)
		close(c->epfd);
	if (c->tfd >= 0)
		close(c->tfd);
	free(c->path);
	free(c);
	return err;
}

int rg_control_fd(const struct rg_control *c)
{
	return c->epfd;
}

size_t rg_control_clients(const struct rg_control *c)
{
	return c->n_clients;
}

void rg_control_set_timeouts(struct rg_control *c, unsigned idle_ms, unsigned request_ms)
{
	if (idle_ms)
		c->idle_ms = idle_ms;
	if (request_ms)
		c->request_ms = request_ms;
}

static void client_close(struct rg_control *c, struct client *cl)
{
	struct client **pp;

	for (pp = &c->clients; *pp; pp = &(*pp)->next) {
		if (*pp == cl) {
			*pp = cl->next;
			break;
		}
	}
	epoll_ctl(c->epfd, EPOLL_CTL_DEL, cl->fd, NULL);
	close(cl->fd);
	free(cl->out);
	free(cl);
	c->n_clients--;
}

static int client_queue(struct client *cl, const char *s, size_t n)
{
	if (cl->out_len + n > cl->out_cap) {
		size_t cap = cl->out_cap ? cl->out_cap : 1024;
		char *p;

		while (cap < cl->out_len + n)
			cap *= 2;
		p = realloc(cl->out, cap);
		if (!p)
			return -ENOMEM;
		cl->out = p;
		cl->out_cap = cap;
	}
	memcpy(cl->out + cl->out_len, s, n);
	cl->out_len += n;
	return 0;
}

static void queue_reply(struct client *cl, json_object *reply)
{
	size_t n;
	const char *s = json_object_to_json_string_length(reply, JSON_C_TO_STRING_PLAIN, &n);
	static const char too_big[] = "{\"ok\":false,\"error\":\"reply too large\","
				      "\"code\":\"internal\"}\n";

	if (!s || n > RG_CONTROL_MAX_REPLY) {
		pr_warn("control: %s: reply of %zu bytes not sent", cl->peer.by, n);
		s = too_big;
		n = sizeof(too_big) - 1;
		if (client_queue(cl, s, n))
			cl->closing = true;
		return;
	}
	if (client_queue(cl, s, n) || client_queue(cl, "\n", 1)) {
		pr_warn("control: %s: out of memory for reply", cl->peer.by);
		cl->closing = true;
	}
}

static void queue_error(struct client *cl, const char *code, const char *msg)
{
	json_object *r = json_object_new_object();

	if (!r) {
		cl->closing = true;
		return;
	}
	rg_control_fail(r, code, "%s", msg);
	queue_reply(cl, r);
	json_object_put(r);
}

static void handle_line(struct rg_control *c, struct client *cl, const char *line, size_t len)
{
	char safe[RG_PRINTABLE_MAX + 4];
	json_tokener *tok;
	json_object *req = NULL, *reply = NULL, *v;
	const struct handler *h;
	const char *cmd;
	int ret;

	tok = json_tokener_new_ex(JSON_MAX_DEPTH);
	if (!tok) {
		queue_error(cl, RG_CTL_E_INTERNAL, "out of memory");
		return;
	}
	req = json_tokener_parse_ex(tok, line, (int)len);
	/* Exactly one complete JSON value and nothing but blanks after it. */
	if (req && json_tokener_get_error(tok) == json_tokener_success) {
		size_t off = json_tokener_get_parse_end(tok);

		while (off < len && (line[off] == ' ' || line[off] == '\t' || line[off] == '\r'))
			off++;
		if (off != len) {
			json_object_put(req);
			req = NULL;
		}
	} else if (req) {
		json_object_put(req);
		req = NULL;
	}
	json_tokener_free(tok);

	if (!req || !json_object_is_type(req, json_type_object)) {
		pr_info("control: %s: malformed request: %s", cl->peer.by,
			rg_printable(line, len, safe));
		queue_error(cl, RG_CTL_E_BAD_REQUEST, "request is not a JSON object");
		goto out;
	}
	if (rg_control_get_str(req, "cmd", &cmd) || !valid_cmd(cmd)) {
		pr_info("control: %s: request without a valid \"cmd\"", cl->peer.by);
		queue_error(cl, RG_CTL_E_BAD_REQUEST, "request needs \"cmd\": a command name");
		goto out;
	}
	pr_info("control: %s cmd=%s", cl->peer.by, cmd);
	h = find_handler(c, cmd);
	if (!h) {
		char msg[64];

		snprintf(msg, sizeof(msg), "unknown command \"%s\"", cmd);
		queue_error(cl, RG_CTL_E_UNKNOWN_CMD, msg);
		goto out;
	}
	reply = json_object_new_object();
	if (!reply) {
		queue_error(cl, RG_CTL_E_INTERNAL, "out of memory");
		goto out;
	}
	/* First member, so replies read "ok" first; the value is settled after the call. */
	json_object_object_add(reply, "ok", json_object_new_boolean(1));
	ret = h->fn(h->ctx, &cl->peer, req, reply);
	if (ret < 0) {
		if (!json_object_object_get_ex(reply, "error", NULL))
			rg_control_fail(reply, RG_CTL_E_INTERNAL, "%s", strerror(-ret));
		else
			json_object_object_add(reply, "ok", json_object_new_boolean(0));
		if (json_object_object_get_ex(reply, "code", &v))
			pr_info("control: %s cmd=%s failed: %s", cl->peer.by, cmd,
				json_object_get_string(v));
	}
	queue_reply(cl, reply);
out:
	json_object_put(reply);
	json_object_put(req);
}

/* Run every complete line in the input buffer; keep the partial rest. */
static void process_input(struct rg_control *c, struct client *cl)
{
	size_t start = 0;
	char *nl;

	while (!cl->closing && start < cl->in_len &&
	       (nl = memchr(cl->in + start, '\n', cl->in_len - start))) {
		size_t len = (size_t)(nl - (cl->in + start));

		if (len > 0 && !(len == 1 && cl->in[start] == '\r'))
			handle_line(c, cl, cl->in + start, len);
		start += len + 1;
	}
	if (start) {
		memmove(cl->in, cl->in + start, cl->in_len - start);
		cl->in_len -= start;
		cl->req_deadline_ms = 0;	/* what is left is a new request */
	}
	if (cl->closing)
		return;
	if (cl->in_len >= sizeof(cl->in)) {
		pr_warn("control: %s: request longer than %d bytes, closing", cl->peer.by,
			RG_CONTROL_MAX_REQUEST);
		queue_error(cl, RG_CTL_E_TOO_LARGE, "request too large");
		cl->closing = true;
		cl->in_len = 0;
		return;
	}
	if (cl->eof) {
		/* A last request without its newline still gets its answer. */
		if (cl->in_len)
			handle_line(c, cl, cl->in, cl->in_len);
		cl->in_len = 0;
		cl->closing = true;
	}
	cl->req_deadline_ms = cl->in_len ? (cl->req_deadline_ms ? cl->req_deadline_ms :
					    now_ms() + c->request_ms) : 0;
}

/* Returns false if the client was closed. */
static bool client_flush(struct rg_control *c, struct client *cl)
{
	while (cl->out_off < cl->out_len) {
		ssize_t n = send(cl->fd, cl->out + cl->out_off, cl->out_len - cl->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			client_close(c, cl);
			return false;
		}
		cl->out_off += (size_t)n;
	}
	if (cl->out_off == cl->out_len) {
		cl->out_off = cl->out_len = 0;
		if (cl->closing) {
			client_close(c, cl);
			return false;
		}
	}
	return true;
}

/* Read while there is no reply pending: a client that does not read its replies cannot
 * make us buffer without bound. */
static void client_update_events(struct rg_control *c, struct client *cl)
{
	struct epoll_event ev = { .data.ptr = cl };

	if (cl->out_len > cl->out_off)
		ev.events = EPOLLOUT;
	else
		ev.events = cl->closing ? 0 : EPOLLIN;
	epoll_ctl(c->epfd, EPOLL_CTL_MOD, cl->fd, &ev);
}

static void client_event(struct rg_control *c, struct client *cl, uint32_t events)
{
	if ((events & EPOLLIN) && !cl->closing && cl->out_len == 0) {
		ssize_t n = recv(cl->fd, cl->in + cl->in_len, sizeof(cl->in) - cl->in_len,
				 MSG_DONTWAIT);

		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			client_close(c, cl);
			return;
		}
		if (n == 0)
			cl->eof = true;
		if (n > 0) {
			cl->in_len += (size_t)n;
			cl->idle_deadline_ms = now_ms() + c->idle_ms;
		}
		process_input(c, cl);
	} else if ((events & (EPOLLHUP | EPOLLERR)) && cl->out_len == 0) {
		client_close(c, cl);
		return;
	}
	if (!client_flush(c, cl))
		return;
	client_update_events(c, cl);
}

static void accept_clients(struct rg_control *c)
{
	for (int i = 0; i < 16; i++) {
		struct ucred cred;
		socklen_t len = sizeof(cred);
		struct client *cl;
		int fd;

		fd = accept4(c->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				pr_warn("control: accept: %s", strerror(errno));
			return;
		}
		cl = calloc(1, sizeof(*cl));
		if (!cl) {
			close(fd);
			continue;
		}
		cl->fd = fd;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len)) {
			pr_warn("control: SO_PEERCRED: %s", strerror(errno));
			close(fd);
			free(cl);
			continue;
		}
		cl->peer.uid = cred.uid;
		cl->peer.gid = cred.gid;
		cl->peer.pid = cred.pid;
		snprintf(cl->peer.by, sizeof(cl->peer.by), "uid=%u pid=%d", (unsigned)cred.uid,
			 (int)cred.pid);
		cl->idle_deadline_ms = now_ms() + c->idle_ms;
		cl->next = c->clients;
		c->clients = cl;
		c->n_clients++;
		if (ep_add(c->epfd, fd, EPOLLIN, cl)) {
			client_close(c, cl);
			continue;
		}
		if (cred.uid != 0) {
			pr_warn("control: %s: refused, not root", cl->peer.by);
			queue_error(cl, RG_CTL_E_PERM, "permission denied");
			cl->closing = true;
		} else if (c->n_clients > RG_CONTROL_MAX_CLIENTS) {
			pr_warn("control: %s: refused, %d clients connected already", cl->peer.by,
				RG_CONTROL_MAX_CLIENTS);
			queue_error(cl, RG_CTL_E_UNAVAILABLE, "too many control clients");
			cl->closing = true;
		}
		if (client_flush(c, cl))
			client_update_events(c, cl);
	}
}

static void expire_and_arm(struct rg_control *c)
{
	uint64_t now = now_ms(), next = 0;
	struct client *cl, *nx;

	for (cl = c->clients; cl; cl = nx) {
		uint64_t d = cl->idle_deadline_ms;

		nx = cl->next;
		if (cl->req_deadline_ms && cl->req_deadline_ms < d)
			d = cl->req_deadline_ms;
		if (d <= now) {
			pr_info("control: %s: timed out, closing", cl->peer.by);
			client_close(c, cl);
			continue;
		}
		if (!next || d < next)
			next = d;
	}
	if (next != c->armed_ms) {
		struct itimerspec its = { 0 };

		if (next) {
			its.it_value.tv_sec = (time_t)(next / 1000);
			its.it_value.tv_nsec = (long)(next % 1000) * 1000000;
		}
		timerfd_settime(c->tfd, TFD_TIMER_ABSTIME, &its, NULL);
		c->armed_ms = next;
	}
}

int rg_control_dispatch(struct rg_control *c)
{
	struct epoll_event evs[16];
	int n, i;

	n = epoll_wait(c->epfd, evs, 16, 0);
	if (n < 0) {
		if (errno == EINTR)
			return 0;
		return -errno;
	}
	for (i = 0; i < n; i++) {
		void *p = evs[i].data.ptr;

		if (p == &listen_marker) {
			accept_clients(c);
		} else if (p == &timer_marker) {
			uint64_t ticks;

			if (read(c->tfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
				pr_debug("control: timerfd: %s", strerror(errno));
			c->armed_ms = 0;
		} else {
			struct client *cl;

			/* An earlier event of this batch may have closed it. */
			for (cl = c->clients; cl && cl != p; cl = cl->next)
				;
			if (cl)
				client_event(c, cl, evs[i].events);
		}
	}
	expire_and_arm(c);
	return 0;
}

void rg_control_free(struct rg_control *c)
{
	struct stat st;

	if (!c)
		return;
	while (c->clients)
		client_close(c, c->clients);
	close(c->lfd);
	close(c->epfd);
	close(c->tfd);
	/* Unlink only our own socket, not one a newer agent has bound there since. */
	if (!stat(c->path, &st) && st.st_dev == c->dev && st.st_ino == c->ino)
		unlink(c->path);
	free(c->path);
	free(c);
}
