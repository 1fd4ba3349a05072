// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * policy.c: the policy delegation server. Takes listen endpoints, limits and a decision
 * callback; runs on the event layer (event.h: listeners, connections with output buffers,
 * deadline queues, one epoll fd an outer loop can watch). Each connection has a parser and
 * sits on one of two deadline queues: idle, or inside a request. Reports stats and a
 * per-request latency hook; logs client text only through rg_printable(), rate-limited.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "containers.h"
#include "event.h"
#include "log.h"
#include "policy.h"

#define DEFAULT_MAX_CONNS 1024
#define DEFAULT_REQUEST_TIMEOUT_NS (10ULL * RG_NSEC_PER_SEC)
#define DEFAULT_IDLE_TIMEOUT_NS (300ULL * RG_NSEC_PER_SEC)
#define DEFAULT_MAX_OUTPUT (64 * 1024)
#define DEFAULT_UNIX_OWNER "postfix"
#define READ_CHUNK 16384

struct rg_policy_server;

struct conn {
	struct rg_ev_conn ev;
	struct rg_policy_server *s;
	uint64_t id;
	struct rg_policy_parser *parser;
	bool in_request;
	bool unsent;			/* on s->unsent: replies wait for the commit */
	struct rg_link unsent_link;
	bool held;			/* its request waits for rg_policy_server_resume() */
	struct rg_link held_link;
	char *stash;			/* bytes read after the held request */
	size_t stash_len;
	uint64_t t_read;		/* when the held request was read */
	char peer[RG_ADDR_STRLEN + 16];
};

struct rg_policy_server {
	struct rg_policy_server_opts o;
	struct rg_ev *ev;
	struct rg_ev_queue idle, busy;
	uint64_t next_id;
	struct rg_policy_stats st;
	struct rg_ratelimit rl_refused, rl_malformed, rl_decide, rl_timeout;
	struct rg_cidr *allow;
	struct rg_fifo unsent;		/* answered this iteration, flushed after commit */
	struct rg_fifo held;		/* connections whose request was deferred */
	uint64_t current;		/* inside decide: the connection's id */
};

static bool ratelimit_ok(struct rg_ratelimit *rl, const char *what)
{
	return rg_ratelimit_ok(rl, "policy", what);
}

static struct conn *conn_of(struct rg_ev_conn *e)
{
	return rg_container_of(e, struct conn, ev);
}

/* ---- connections ---- */

static void conn_close(struct rg_policy_server *s, struct conn *c)
{
	if (c->unsent)
		rg_fifo_del(&s->unsent, &c->unsent_link);
	if (c->held)
		rg_fifo_del(&s->held, &c->held_link);
	free(c->stash);
	rg_ev_conn_close(&c->ev);
	rg_policy_parser_free(c->parser);
	free(c);
	s->st.conns_open--;
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
	s->current = c->id;
	rc = s->o.decide ? s->o.decide(s->o.decide_ctx, req, action, sizeof(action)) : -ENOSYS;
	s->current = 0;
	if (rc == RG_POLICY_DEFER)
		return RG_POLICY_DEFER;
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
	rc = rg_ev_conn_queue(&c->ev, reply, (size_t)n);
	if (rc)
		return rc;
	s->st.requests++;
	if (s->o.observe)
		s->o.observe(s->o.observe_ctx, rg_now_mono_ns() - t_read);
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

/* Hold c's request: nothing more is read from it (Postfix waits for this reply anyway)
 * until rg_policy_server_resume(); what was read after the request is kept. */
static int conn_hold(struct rg_policy_server *s, struct conn *c, const char *rest, size_t n,
		     uint64_t t)
{
	if (n) {
		c->stash = malloc(n);
		if (!c->stash)
			return -ENOMEM;
		memcpy(c->stash, rest, n);
		c->stash_len = n;
	}
	c->held = true;
	c->t_read = t;
	rg_fifo_push(&s->held, &c->held_link);
	return rg_ev_conn_set_reading(&c->ev, false);
}

/* Parse and answer what buf holds; t: when it was read. false: c was closed. */
static bool conn_feed(struct rg_policy_server *s, struct conn *c, const char *buf, size_t n,
		      uint64_t t, bool answered)
{
	size_t off = 0;
	int err;

	while (off < n) {
		size_t used;
		int r = rg_policy_parser_feed(c->parser, buf + off, n - off, &used);

		off += used;
		if (r < 0) {
			conn_malformed(s, c);
			return false;
		}
		if (r == 1) {
			err = answer(s, c, rg_policy_parser_request(c->parser), t);
			if (err == RG_POLICY_DEFER) {
				if (conn_hold(s, c, buf + off, n - off, t)) {
					conn_close(s, c);
					return false;
				}
				break;
			}
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
				return false;
			}
			answered = true;
		}
	}
	if (c->held || rg_policy_parser_pending(c->parser)) {
		if (!c->in_request || answered) {
			c->in_request = true;
			rg_ev_conn_deadline(&c->ev, &s->busy, t);
		}
	} else {
		c->in_request = false;
		rg_ev_conn_deadline(&c->ev, &s->idle, t);
	}
	if (answered && s->o.commit) {
		/* The replies go out after the commit hook, at the end of this iteration. */
		if (!c->unsent) {
			c->unsent = true;
			rg_fifo_push(&s->unsent, &c->unsent_link);
		}
		return true;
	}
	if (answered && rg_ev_conn_flush(&c->ev) < 0) {
		conn_close(s, c);
		return false;
	}
	return true;
}

static void conn_read(struct rg_policy_server *s, struct conn *c)
{
	char buf[READ_CHUNK];
	ssize_t n;

	n = recv(c->ev.fd, buf, sizeof(buf), MSG_DONTWAIT);
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
		} else if (rg_ev_conn_pending(&c->ev)) {
			/* A client that half-closed after its last request still gets what
			 * the socket takes of its replies. */
			rg_ev_conn_flush(&c->ev);
		}
		conn_close(s, c);
		return;
	}
	conn_feed(s, c, buf, (size_t)n, rg_now_mono_ns(), false);
}

static void flush_unsent(struct rg_policy_server *s)
{
	/* Whatever these answers depend on is made durable first (the agent's journal),
	 * once for all of them; a failing commit is the caller's to log, the answers still
	 * go out (decisions go on when the disk is full). */
	s->o.commit(s->o.commit_ctx);
	while (s->unsent.head) {
		struct conn *c = rg_container_of(s->unsent.head, struct conn, unsent_link);

		rg_fifo_del(&s->unsent, &c->unsent_link);
		c->unsent = false;
		if (rg_ev_conn_flush(&c->ev) < 0)
			conn_close(s, c);
	}
}

uint64_t rg_policy_server_current(const struct rg_policy_server *s)
{
	return s->current;
}

int rg_policy_server_resume(struct rg_policy_server *s, uint64_t id)
{
	struct rg_link *l;
	struct conn *c = NULL;
	char *stash;
	size_t n;
	int err;

	for (l = s->held.head; l; l = l->next) {
		struct conn *h = rg_container_of(l, struct conn, held_link);

		if (h->id == id) {
			c = h;
			break;
		}
	}
	if (!c)
		return -ENOENT;	/* closed meanwhile */
	rg_fifo_del(&s->held, &c->held_link);
	c->held = false;
	err = answer(s, c, rg_policy_parser_request(c->parser), c->t_read);
	if (err == RG_POLICY_DEFER) {
		/* Deferred again: held as before, with the same stash. */
		c->held = true;
		rg_fifo_push(&s->held, &c->held_link);
		return 0;
	}
	if (err) {
		conn_close(s, c);
		return 0;
	}
	stash = c->stash;
	n = c->stash_len;
	c->stash = NULL;
	c->stash_len = 0;
	if (rg_ev_conn_set_reading(&c->ev, true)) {
		free(stash);
		conn_close(s, c);
		return 0;
	}
	if (!conn_feed(s, c, stash ? stash : "", n, rg_now_mono_ns(), true)) {
		free(stash);
		return 0;
	}
	free(stash);
	if (s->unsent.head)
		flush_unsent(s);
	return 0;
}

static void conn_event(struct rg_ev_conn *e, uint32_t events)
{
	struct conn *c = conn_of(e);
	struct rg_policy_server *s = c->s;

	if (events & EPOLLOUT) {
		if (rg_ev_conn_flush(e) < 0) {
			conn_close(s, c);
			return;
		}
	}
	if (c->held) {
		/* Not reading while held; a peer gone both ways cannot take the reply. */
		if (events & (EPOLLHUP | EPOLLERR))
			conn_close(s, c);
		return;
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

/* Who is on the other end, for logs and the audit log: a unix peer by the credentials the
 * kernel took at connect (SO_PEERCRED; a path says nothing), an inet one by address. */
static void format_peer(int fd, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char a[INET6_ADDRSTRLEN];
	struct ucred cr;
	socklen_t cl = sizeof(cr);

	snprintf(buf, len, "unix");
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0)
		return;
	if (ss.ss_family == AF_UNIX && !getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl))
		snprintf(buf, len, "uid=%u pid=%d", (unsigned)cr.uid, (int)cr.pid);
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

static void on_accept(void *ctx, struct rg_ev_listener *l, int fd)
{
	struct rg_policy_server *s = ctx;
	struct conn *c;
	int err;

	if (s->st.conns_open >= s->o.max_connections) {
		refuse(s, fd, "max_policy_connections reached");
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c)
		c->parser = rg_policy_parser_new(&s->o.limits);
	if (!c || !c->parser) {
		free(c);
		refuse(s, fd, "out of memory");
		return;
	}
	c->s = s;
	c->id = ++s->next_id;
	if (!l->is_unix) {
		int one = 1;

		/* Replies go out in one send; no reason to let Nagle hold one back. */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	format_peer(fd, c->peer, sizeof(c->peer));
	rg_policy_parser_set_peer(c->parser, c->peer);
	c->ev.on_event = conn_event;
	c->ev.out_max = s->o.max_output;
	err = rg_ev_conn_add(s->ev, &c->ev, fd);
	if (err) {
		rg_policy_parser_free(c->parser);
		free(c);
		refuse(s, fd, "epoll_ctl failed");
		return;
	}
	s->st.conns_open++;
	s->st.conns_accepted++;
	rg_ev_conn_deadline(&c->ev, &s->idle, rg_now_mono_ns());
	pr_debug("policy: conn %llu from %s on %s", (unsigned long long)c->id, c->peer, l->name);
}

static void request_expired(struct rg_ev_conn *e)
{
	struct conn *c = conn_of(e);

	c->s->st.request_timeouts++;
	if (ratelimit_ok(&c->s->rl_timeout, "timeout"))
		pr_warn("policy: conn %llu from %s: request not complete within "
			"policy_request_timeout, closing without reply",
			(unsigned long long)c->id, c->peer);
	conn_close(c->s, c);
}

static void idle_expired(struct rg_ev_conn *e)
{
	struct conn *c = conn_of(e);

	c->s->st.idle_timeouts++;
	pr_debug("policy: conn %llu from %s: idle timeout", (unsigned long long)c->id, c->peer);
	conn_close(c->s, c);
}

int rg_policy_server_dispatch(struct rg_policy_server *s, int timeout_ms)
{
	int n = rg_ev_dispatch(s->ev, timeout_ms);

	if (s->unsent.head)
		flush_unsent(s);
	return n;
}

/* ---- server ---- */

int rg_policy_server_new(const struct rg_policy_server_opts *opts, struct rg_policy_server **out)
{
	struct rg_unix_listen_opts uo = { .mode = 0660 };
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
	s->o.allow = NULL;
	if (opts->n_allow) {
		s->allow = calloc(opts->n_allow, sizeof(*s->allow));
		if (!s->allow) {
			err = -ENOMEM;
			goto out;
		}
		memcpy(s->allow, opts->allow, opts->n_allow * sizeof(*s->allow));
	}
	if (!s->o.max_connections)
		s->o.max_connections = DEFAULT_MAX_CONNS;
	if (!s->o.request_timeout_ns)
		s->o.request_timeout_ns = DEFAULT_REQUEST_TIMEOUT_NS;
	if (!s->o.idle_timeout_ns)
		s->o.idle_timeout_ns = DEFAULT_IDLE_TIMEOUT_NS;
	if (!s->o.max_output)
		s->o.max_output = DEFAULT_MAX_OUTPUT;
	/* Postfix's smtpd runs as user postfix and must be able to connect; nobody else. */
	uo.owner = opts->unix_owner ? opts->unix_owner : DEFAULT_UNIX_OWNER;
	s->busy.timeout_ns = s->o.request_timeout_ns;
	s->busy.expired = request_expired;
	s->idle.timeout_ns = s->o.idle_timeout_ns;
	s->idle.expired = idle_expired;
	err = rg_ev_new("policy", &s->ev);
	if (err)
		goto out;
	rg_ev_add_queue(s->ev, &s->busy);
	rg_ev_add_queue(s->ev, &s->idle);
	for (i = 0; i < opts->n_listen; i++) {
		struct rg_ev_listener *l;

		err = rg_ev_listen(s->ev, opts->listen[i], &uo, on_accept, s, &l);
		if (err)
			goto out;
		rg_ev_listener_allow(l, s->allow, s->o.n_allow);
		pr_info("policy: listening on %s", opts->listen[i]);
	}
	*out = s;
	return 0;
out:
	rg_policy_server_free(s);
	return err;
}

void rg_policy_server_free(struct rg_policy_server *s)
{
	if (!s)
		return;
	while (rg_ev_queue_head(&s->idle))
		conn_close(s, conn_of(rg_ev_queue_head(&s->idle)));
	while (rg_ev_queue_head(&s->busy))
		conn_close(s, conn_of(rg_ev_queue_head(&s->busy)));
	rg_ev_free(s->ev);
	free(s->allow);
	free(s);
}

int rg_policy_server_fd(const struct rg_policy_server *s)
{
	return rg_ev_fd(s->ev);
}

void rg_policy_server_set_fail_mode(struct rg_policy_server *s, enum rg_fail_mode mode)
{
	if (s)
		s->o.fail_mode = mode;
}

size_t rg_policy_server_sock_files(const struct rg_policy_server *s,
				   const struct rg_sock_file **out, size_t max)
{
	return rg_ev_sock_files(s->ev, out, max);
}

void rg_policy_server_get_stats(const struct rg_policy_server *s, struct rg_policy_stats *st)
{
	*st = s->st;
	st->conns_refused += rg_ev_refused_nofd(s->ev);
	st->conns_not_allowed = rg_ev_refused_not_allowed(s->ev);
}
