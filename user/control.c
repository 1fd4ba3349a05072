// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * control.c: the control socket server (protocol in control.h). Takes connections from
 * relayguardctl, checks the peer is root, splits and parses JSON request lines, calls the
 * handler registered for "cmd" and writes its reply. Reports every request to the log
 * with its peer. Runs on the event layer (event.h): the socket (root's, 0600, made by
 * listen.h), clients with idle and request deadlines, one epoll fd for the agent's loop;
 * no call ever blocks.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "control.h"
#include "event.h"
#include "log.h"

#define MAX_HANDLERS 64
#define JSON_MAX_DEPTH 16
#define MS (1000000ULL)

struct handler {
	char cmd[RG_CONTROL_CMD_MAX + 1];
	rg_control_fn fn;
	void *ctx;
	bool read_only;		/* logged at debug level: listings are polled by scripts */
};

struct client {
	struct rg_ev_conn ev;
	struct rg_control *c;
	struct rg_peer peer;
	char in[RG_CONTROL_MAX_REQUEST];
	size_t in_len;
	bool in_request;		/* a partial request is buffered */
	bool closing;			/* close once out is flushed */
	bool eof;
	/* A reply owed (the handler returned RG_CONTROL_LATER): its call number and command,
	 * and the next client owing one. Nothing more is read from the client meanwhile. */
	uint64_t owed;
	char owed_cmd[RG_CONTROL_CMD_MAX + 1];
	struct client *owed_next;
};

struct rg_control {
	struct rg_ev *ev;
	struct handler handlers[MAX_HANDLERS];
	size_t n_handlers;
	size_t n_clients;
	uint64_t calls;			/* requests handed to handlers so far */
	struct client *owing;		/* clients waiting for rg_control_answer() */
	/* Between requests the idle timeout runs from the last bytes received; inside one,
	 * the request timeout from its first byte. */
	struct rg_ev_queue idle, request;
};

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
	return rg_control_register_read_only(c, cmd, fn, ctx, false);
}

int rg_control_register_read_only(struct rg_control *c, const char *cmd, rg_control_fn fn,
				  void *ctx, bool read_only)
{
	size_t i;

	if (!cmd || !fn || !valid_cmd(cmd))
		return -EINVAL;
	for (i = 0; i < c->n_handlers; i++) {
		if (!strcmp(c->handlers[i].cmd, cmd)) {
			c->handlers[i].fn = fn;
			c->handlers[i].ctx = ctx;
			c->handlers[i].read_only = read_only;
			return 0;
		}
	}
	if (c->n_handlers >= MAX_HANDLERS)
		return -ENOMEM;
	snprintf(c->handlers[c->n_handlers].cmd, sizeof(c->handlers[0].cmd), "%s", cmd);
	c->handlers[c->n_handlers].fn = fn;
	c->handlers[c->n_handlers].ctx = ctx;
	c->handlers[c->n_handlers].read_only = read_only;
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

static void unlink_owed(struct client *cl)
{
	for (struct client **p = &cl->c->owing; *p; p = &(*p)->owed_next) {
		if (*p == cl) {
			*p = cl->owed_next;
			break;
		}
	}
	cl->owed = 0;
	cl->owed_next = NULL;
}

static void client_close(struct client *cl)
{
	if (cl->owed)
		unlink_owed(cl);
	rg_ev_conn_close(&cl->ev);
	cl->c->n_clients--;
	free(cl);
}

static struct client *client_of(struct rg_ev_conn *e)
{
	return rg_container_of(e, struct client, ev);
}

static void client_expired(struct rg_ev_conn *e)
{
	struct client *cl = client_of(e);

	pr_info("control: %s: timed out, closing", cl->peer.by);
	client_close(cl);
}

static void on_accept(void *ctx, struct rg_ev_listener *l, int fd);

int rg_control_new(const char *path, struct rg_control **out)
{
	/* Root's socket in a directory only root may enter. */
	static const struct rg_unix_listen_opts uo = {
		.mode = 0600, .parent_mode = 0700, .backlog = 16,
	};
	struct rg_control *c;
	char *spec = NULL;
	int err;

	*out = NULL;
	if (!path || !*path)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->idle.timeout_ns = RG_CONTROL_IDLE_TIMEOUT_S * 1000 * MS;
	c->idle.expired = client_expired;
	c->request.timeout_ns = RG_CONTROL_REQUEST_TIMEOUT_S * 1000 * MS;
	c->request.expired = client_expired;
	if (asprintf(&spec, "unix:%s", path) < 0) {
		spec = NULL;
		err = -ENOMEM;
		goto out;
	}
	err = rg_ev_new("control", &c->ev);
	if (err)
		goto out;
	rg_ev_add_queue(c->ev, &c->idle);
	rg_ev_add_queue(c->ev, &c->request);
	err = rg_ev_listen(c->ev, spec, &uo, on_accept, c, NULL);
	if (err)
		goto out;
	pr_info("control: listening on %s", path);
	free(spec);
	*out = c;
	return 0;
out:
	free(spec);
	rg_control_free(c);
	return err;
}

int rg_control_fd(const struct rg_control *c)
{
	return rg_ev_fd(c->ev);
}

size_t rg_control_sock_files(const struct rg_control *c, const struct rg_sock_file **out,
			     size_t max)
{
	return rg_ev_sock_files(c->ev, out, max);
}

size_t rg_control_clients(const struct rg_control *c)
{
	return c->n_clients;
}

void rg_control_set_timeouts(struct rg_control *c, unsigned idle_ms, unsigned request_ms)
{
	if (idle_ms)
		c->idle.timeout_ns = idle_ms * MS;
	if (request_ms)
		c->request.timeout_ns = request_ms * MS;
}

static int client_queue(struct client *cl, const char *s, size_t n)
{
	return rg_ev_conn_queue(&cl->ev, s, n);
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

/* The handler's result as the reply: "ok" settled, its failure logged. */
static void finish_reply(struct client *cl, const char *cmd, int ret, json_object *reply)
{
	json_object *v;

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
}

static void handle_line(struct rg_control *c, struct client *cl, const char *line, size_t len)
{
	char safe[RG_PRINTABLE_MAX + 4];
	json_tokener *tok;
	json_object *req = NULL, *reply = NULL;
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
	h = find_handler(c, cmd);
	rg_log(h && h->read_only ? RG_LOG_DEBUG : RG_LOG_INFO, "control: %s cmd=%s",
	       cl->peer.by, cmd);
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
	cl->peer.call = ++c->calls;
	ret = h->fn(h->ctx, &cl->peer, req, reply);
	if (ret == RG_CONTROL_LATER) {
		cl->owed = cl->peer.call;
		snprintf(cl->owed_cmd, sizeof(cl->owed_cmd), "%s", cmd);
		cl->owed_next = c->owing;
		c->owing = cl;
		goto out;
	}
	finish_reply(cl, cmd, ret, reply);
out:
	json_object_put(reply);
	json_object_put(req);
}

/* Run every complete line in the input buffer; keep the partial rest. */
static void process_input(struct rg_control *c, struct client *cl)
{
	size_t start = 0;
	char *nl;

	while (!cl->closing && !cl->owed && start < cl->in_len &&
	       (nl = memchr(cl->in + start, '\n', cl->in_len - start))) {
		size_t len = (size_t)(nl - (cl->in + start));

		if (len > 0 && !(len == 1 && cl->in[start] == '\r'))
			handle_line(c, cl, cl->in + start, len);
		start += len + 1;
	}
	if (start) {
		memmove(cl->in, cl->in + start, cl->in_len - start);
		cl->in_len -= start;
		cl->in_request = false;	/* what is left is a new request */
	}
	if (cl->closing)
		return;
	if (cl->owed) {
		/* Waiting for us: the idle timeout, not the request one, bounds the wait. */
		cl->in_request = false;
		rg_ev_conn_deadline(&cl->ev, &c->idle, rg_now_mono_ns());
		return;
	}
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
	if (!cl->in_len) {
		cl->in_request = false;
		rg_ev_conn_deadline(&cl->ev, &c->idle, rg_now_mono_ns());
	} else if (!cl->in_request) {
		cl->in_request = true;
		rg_ev_conn_deadline(&cl->ev, &c->request, rg_now_mono_ns());
	}
}

/* Returns false if the client was closed. */
static bool client_flush(struct client *cl)
{
	if (rg_ev_conn_flush(&cl->ev) < 0 ||
	    (cl->closing && !rg_ev_conn_pending(&cl->ev))) {
		client_close(cl);
		return false;
	}
	/* Read while there is no reply pending: a client that does not read its replies
	 * cannot make us buffer without bound. */
	rg_ev_conn_set_reading(&cl->ev, !cl->closing && !cl->owed &&
			       !rg_ev_conn_pending(&cl->ev));
	return true;
}

static void client_event(struct rg_ev_conn *e, uint32_t events)
{
	struct client *cl = client_of(e);
	bool idle = !rg_ev_conn_pending(e);

	if ((events & EPOLLIN) && !cl->closing && idle) {
		ssize_t n = recv(e->fd, cl->in + cl->in_len, sizeof(cl->in) - cl->in_len,
				 MSG_DONTWAIT);

		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			client_close(cl);
			return;
		}
		if (n == 0)
			cl->eof = true;
		if (n > 0)
			cl->in_len += (size_t)n;
		process_input(cl->c, cl);
	} else if ((events & (EPOLLHUP | EPOLLERR)) && idle) {
		client_close(cl);
		return;
	}
	client_flush(cl);
}

static void on_accept(void *ctx, struct rg_ev_listener *l, int fd)
{
	struct rg_control *c = ctx;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct client *cl;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len)) {
		pr_warn("control: SO_PEERCRED: %s", strerror(errno));
		close(fd);
		return;
	}
	cl = calloc(1, sizeof(*cl));
	if (!cl) {
		close(fd);
		return;
	}
	cl->ev.on_event = client_event;
	if (rg_ev_conn_add(c->ev, &cl->ev, fd)) {
		close(fd);
		free(cl);
		return;
	}
	cl->c = c;
	c->n_clients++;
	cl->peer.uid = cred.uid;
	cl->peer.gid = cred.gid;
	cl->peer.pid = cred.pid;
	snprintf(cl->peer.by, sizeof(cl->peer.by), "uid=%u pid=%d", (unsigned)cred.uid,
		 (int)cred.pid);
	rg_ev_conn_deadline(&cl->ev, &c->idle, rg_now_mono_ns());
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
	client_flush(cl);
}

int rg_control_dispatch(struct rg_control *c)
{
	int n = rg_ev_dispatch(c->ev, 0);

	return n == -EINTR ? 0 : n < 0 ? n : 0;
}

int rg_control_answer(struct rg_control *c, uint64_t call, int ret, json_object *reply)
{
	struct client *cl = c->owing;

	while (cl && cl->owed != call)
		cl = cl->owed_next;
	if (!cl)
		return -ENOENT;
	unlink_owed(cl);
	finish_reply(cl, cl->owed_cmd, ret, reply);
	process_input(c, cl);	/* the requests it sent meanwhile */
	client_flush(cl);
	return 0;
}

void rg_control_free(struct rg_control *c)
{
	if (!c)
		return;
	while (rg_ev_queue_head(&c->idle))
		client_close(client_of(rg_ev_queue_head(&c->idle)));
	while (rg_ev_queue_head(&c->request))
		client_close(client_of(rg_ev_queue_head(&c->request)));
	rg_ev_free(c->ev);
	free(c);
}
