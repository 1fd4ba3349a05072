// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * redis_link.c: the fleet's link to its Redis master (redis_link.h) over hiredis 0.14's
 * async API. Takes the link's options and the commands of its owner; reports replies,
 * state changes and counters. The hiredis hooks feed an epoll set of the link's own, with
 * a timerfd for deadlines, heartbeat and backoff, so the owner watches one descriptor.
 *
 * A link has up to three connections, each a fresh redisAsyncContext: the master, a
 * short-lived query to one sentinel, and a subscription to +switch-master on a sentinel.
 * Each keeps a FIFO of what was sent on it (hiredis answers in order), with a deadline per
 * entry; a passed deadline drops that connection, since the order of later replies on it
 * is lost. hiredis frees a context on its own (EOF, protocol error, failed connect) and
 * then calls the cleanup hook, which only marks the connection lost: everything that opens
 * connections or calls the owner back about a loss runs in step() after the events, never
 * inside hiredis, so no hiredis call frees a context another one is still using.
 *
 * hiredis asserts (aborts the process) on some replies a server never sends unasked: a
 * reply with no command waiting, or a malformed message while subscribed. The reader's
 * object functions are wrapped to refuse those as a protocol error, which drops the
 * connection instead.
 */
#include <errno.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "redis_link.h"

#define NS_PER_MS 1000000ULL
#define ADDR_MAX 128
#define STEP_EVENTS 256		/* events one dispatch serves before returning */

enum slot_role { SLOT_MASTER, SLOT_QUERY, SLOT_SUB, SLOT_N };
static const char *const slot_names[SLOT_N] = { "master", "sentinel", "subscription" };

struct pend {
	struct pend *next;
	rg_redis_reply_fn fn;
	void *arg;
	uint64_t deadline_ns, sent_ns;
	bool user;			/* the owner's: counted in the stats */
};

/* One redisAsyncContext; freed by the cleanup hook, which hiredis calls exactly once. */
struct conn {
	struct rg_redis_link *l;	/* NULL once the link let go of it */
	enum slot_role role;
	redisAsyncContext *ac;
	int epfd, fd;
	uint32_t events;
	uint64_t sent, roots;		/* commands written, replies begun */
};

struct slot {
	struct conn *c;
	struct pend *head, *tail;
	bool lost;			/* hiredis freed it on its own */
	char why[128];
};

struct rg_redis_link {
	char *redis, *master_name, *user, *password, *name;
	char **sentinels;
	size_t n_sentinels;
	int db;
	uint64_t connect_timeout_ns, heartbeat_ns, backoff_min_ns, backoff_max_ns;
	rg_redis_state_fn on_state;
	void *arg;

	int epfd, tfd;
	uint64_t timer_at;		/* what tfd is armed for; 0: disarmed */
	enum rg_redis_link_state state;
	struct slot slot[SLOT_N];

	char target[ADDR_MAX];		/* master address being connected to */
	bool target_known;		/* from a sentinel or +switch-master, not rediscovered */
	size_t sentinel_next;		/* sentinel to ask next */
	size_t sentinels_asked;		/* in this discovery round */
	int sentinel_ok;		/* the sentinel that answered last; -1: none */
	uint64_t connect_at;		/* when to start the next attempt; 0: now */
	uint64_t backoff_ns;
	uint64_t sub_at;		/* when to (re)open the subscription */
	uint64_t last_io_ns;		/* last reply on the master connection */
	uint64_t sub_check_ns;		/* last resubscribe confirmation */
	bool sub_waiting;		/* a resubscribe not yet confirmed */
	uint64_t sub_deadline;
	uint64_t rng;
	bool handshake_ok;		/* of the current master connection */
	struct rg_redis_link_stats st;
};

static void step(struct rg_redis_link *l);

/* ---- small helpers ------------------------------------------------------------------ */

static uint64_t rand_next(struct rg_redis_link *l)
{
	/* xorshift64: jitter only, not a secret */
	l->rng ^= l->rng << 13;
	l->rng ^= l->rng >> 7;
	l->rng ^= l->rng << 17;
	return l->rng;
}

static char *dup_opt(const char *s, int *err)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*err = -ENOMEM;
	return d;
}

/* "unix:PATH" or "inet:HOST:PORT" ([HOST] for IPv6); host/path and port out. */
static int parse_addr(const char *a, char *host, size_t hlen, int *port)
{
	const char *colon, *h;
	size_t n;
	char *end;
	long p;

	if (!strncmp(a, "unix:", 5)) {
		if (!a[5] || strlen(a + 5) >= hlen)
			return -EINVAL;
		strcpy(host, a + 5);
		*port = -1;
		return 0;
	}
	if (strncmp(a, "inet:", 5))
		return -EINVAL;
	h = a + 5;
	colon = strrchr(h, ':');
	if (!colon || colon == h)
		return -EINVAL;
	n = (size_t)(colon - h);
	if (h[0] == '[') {
		if (n < 3 || h[n - 1] != ']')
			return -EINVAL;
		h++;
		n -= 2;
	}
	if (n >= hlen)
		return -EINVAL;
	memcpy(host, h, n);
	host[n] = '\0';
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || p < 1 || p > 65535)
		return -EINVAL;
	*port = (int)p;
	return 0;
}

static void set_state(struct rg_redis_link *l, enum rg_redis_link_state s)
{
	if (l->state == s)
		return;
	l->state = s;
	l->st.up_since_ns = s == RG_LINK_UP ? rg_now_mono_ns() : 0;
	if (l->on_state)
		l->on_state(l->arg, s);
}

/* ---- the hiredis event hooks: one epoll set ----------------------------------------- */

static void ev_update(struct conn *c, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };
	int op;

	if (events == c->events)
		return;
	op = !c->events ? EPOLL_CTL_ADD : !events ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;
	if (epoll_ctl(c->epfd, op, c->fd, &ev) && c->l)
		pr_warn("redis %s: epoll_ctl: %s", c->l->name, strerror(errno));
	c->events = events;
}

static void h_add_read(void *p)
{
	struct conn *c = p;

	ev_update(c, c->events | EPOLLIN);
}

static void h_del_read(void *p)
{
	struct conn *c = p;

	ev_update(c, c->events & ~(uint32_t)EPOLLIN);
}

static void h_add_write(void *p)
{
	struct conn *c = p;

	ev_update(c, c->events | EPOLLOUT);
}

static void h_del_write(void *p)
{
	struct conn *c = p;

	ev_update(c, c->events & ~(uint32_t)EPOLLOUT);
}

/* hiredis is freeing the context: after its pending callbacks ran with no reply. */
static void h_cleanup(void *p)
{
	struct conn *c = p;

	ev_update(c, 0);
	if (c->l) {
		struct slot *s = &c->l->slot[c->role];

		s->c = NULL;
		s->lost = true;
		snprintf(s->why, sizeof(s->why), "%s",
			 c->ac->err ? c->ac->errstr : "connection closed");
	}
	free(c);
}

/* ---- guarded reply objects ---------------------------------------------------------- */

static redisReplyObjectFunctions *plain_fns;

/* false: refuse the object (the reader reports a protocol error; hiredis disconnects). */
static bool reply_allowed(const redisReadTask *t, int type, long long elements)
{
	struct conn *c = t->privdata;

	if (!c)
		return true;
	if (!t->parent) {
		if (c->role != SLOT_SUB)
			return ++c->roots <= c->sent;
		/* hiredis asserts that a message is an array of at least two strings */
		if (type == REDIS_REPLY_ARRAY)
			return elements >= 2;
		return type == REDIS_REPLY_ERROR || type == REDIS_REPLY_STATUS;
	}
	if (c->role == SLOT_SUB && !t->parent->parent && t->idx < 2)
		return type == REDIS_REPLY_STRING;
	return true;
}

static void *g_string(const redisReadTask *t, char *s, size_t len)
{
	return reply_allowed(t, t->type, 0) ? plain_fns->createString(t, s, len) : NULL;
}

static void *g_array(const redisReadTask *t, int n)
{
	return reply_allowed(t, REDIS_REPLY_ARRAY, n) ? plain_fns->createArray(t, n) : NULL;
}

static void *g_integer(const redisReadTask *t, long long v)
{
	return reply_allowed(t, REDIS_REPLY_INTEGER, 0) ? plain_fns->createInteger(t, v) : NULL;
}

static void *g_nil(const redisReadTask *t)
{
	return reply_allowed(t, REDIS_REPLY_NIL, 0) ? plain_fns->createNil(t) : NULL;
}

static void g_free(void *o)
{
	plain_fns->freeObject(o);
}

static redisReplyObjectFunctions guarded_fns = {
	.createString = g_string, .createArray = g_array, .createInteger = g_integer,
	.createNil = g_nil, .freeObject = g_free,
};

/* ---- connections -------------------------------------------------------------------- */

static void pend_fail_all(struct rg_redis_link *l, struct slot *s, int status, uint64_t now)
{
	struct pend *p;

	while ((p = s->head)) {
		int st = status;

		s->head = p->next;
		if (!s->head)
			s->tail = NULL;
		/* only what outlived its own deadline timed out; the rest lost its connection */
		if (st == -ETIMEDOUT && p->deadline_ns > now)
			st = -ENOTCONN;
		if (p->user) {
			l->st.pending--;
			if (st == -ETIMEDOUT)
				l->st.timeouts++;
		}
		p->fn(p->arg, st, NULL);
		free(p);
	}
}

/* Let go of a slot's connection (hiredis frees it now or when its callback returns) and
 * fail what was in flight on it. */
static void conn_close(struct rg_redis_link *l, enum slot_role r, int status)
{
	struct slot *s = &l->slot[r];
	struct conn *c = s->c;

	s->c = NULL;
	if (c) {
		c->l = NULL;
		redisAsyncFree(c->ac);
	}
	pend_fail_all(l, s, status, rg_now_mono_ns());
}

static void on_reply(redisAsyncContext *ac, void *r, void *priv)
{
	struct conn *c = priv;
	struct rg_redis_link *l = c->l;
	redisReply *reply = r;
	struct slot *s;
	struct pend *p;
	uint64_t now;

	/* no reply: hiredis is freeing the context; the link fails the FIFO itself */
	if (!reply || !l)
		return;
	s = &l->slot[c->role];
	p = s->head;
	if (!p)
		return;		/* cannot happen: reply_allowed() counts */
	s->head = p->next;
	if (!s->head)
		s->tail = NULL;
	now = rg_now_mono_ns();
	if (c->role == SLOT_MASTER)
		l->last_io_ns = now;
	if (p->user) {
		l->st.pending--;
		l->st.replies++;
		if (reply->type == REDIS_REPLY_ERROR)
			l->st.error_replies++;
		l->st.rtt_sum_ns += now - p->sent_ns;
		l->st.rtt_count++;
	}
	p->fn(p->arg, 0, reply);
	free(p);
}

static int conn_send(struct rg_redis_link *l, enum slot_role r, uint64_t deadline_ns,
		     bool user, rg_redis_reply_fn fn, void *arg, int argc, const char **argv,
		     const size_t *argvlen)
{
	struct slot *s = &l->slot[r];
	struct pend *p;

	if (!s->c)
		return -ENOTCONN;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->fn = fn;
	p->arg = arg;
	p->user = user;
	p->sent_ns = rg_now_mono_ns();
	p->deadline_ns = rg_time_after_ns(p->sent_ns, deadline_ns);
	if (redisAsyncCommandArgv(s->c->ac, on_reply, s->c, argc, argv, argvlen) != REDIS_OK) {
		free(p);
		return -ENOMEM;
	}
	s->c->sent++;
	if (s->tail)
		s->tail->next = p;
	else
		s->head = p;
	s->tail = p;
	return 0;
}

static int conn_open(struct rg_redis_link *l, enum slot_role r, const char *addr)
{
	char host[ADDR_MAX];
	redisAsyncContext *ac;
	struct conn *c;
	int port, err;

	err = parse_addr(addr, host, sizeof(host), &port);
	if (err)
		return err;
	ac = port < 0 ? redisAsyncConnectUnix(host) : redisAsyncConnect(host, port);
	if (!ac)
		return -ENOMEM;
	if (ac->err) {
		snprintf(l->slot[r].why, sizeof(l->slot[r].why), "%s", ac->errstr);
		redisAsyncFree(ac);
		return -ECONNREFUSED;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		redisAsyncFree(ac);
		return -ENOMEM;
	}
	c->l = l;
	c->role = r;
	c->ac = ac;
	c->epfd = l->epfd;
	c->fd = ac->c.fd;
	if (!plain_fns)
		plain_fns = ac->c.reader->fn;
	ac->c.reader->fn = &guarded_fns;
	ac->c.reader->privdata = c;
	ac->ev.data = c;
	ac->ev.addRead = h_add_read;
	ac->ev.delRead = h_del_read;
	ac->ev.addWrite = h_add_write;
	ac->ev.delWrite = h_del_write;
	ac->ev.cleanup = h_cleanup;
	/* hiredis adds reads once connected; until then only writability tells */
	h_add_read(c);
	l->slot[r].c = c;
	l->slot[r].lost = false;
	return 0;
}

/* ---- the master connection ---------------------------------------------------------- */

static void schedule_retry(struct rg_redis_link *l)
{
	uint64_t d = l->backoff_ns, j;

	/* +-25% jitter: relays that lost Redis together do not return together */
	j = d / 2 ? rand_next(l) % (d / 2 + 1) : 0;
	l->connect_at = rg_now_mono_ns() + d - d / 4 + j;
	l->backoff_ns = d * 2 < l->backoff_max_ns ? d * 2 : l->backoff_max_ns;
}

/* The master connection ended (status for what was in flight): DOWN, then retry. */
static void master_down(struct rg_redis_link *l, int status, const char *why)
{
	bool was_up = l->state == RG_LINK_UP;

	conn_close(l, SLOT_MASTER, status);
	if (!was_up)
		l->st.connect_failures++;
	pr_warn("redis %s: %s %s: %s", l->name, was_up ? "lost" : "cannot use",
		l->target[0] ? l->target : "master", why);
	/* with sentinels, ask them again: the master may have moved */
	l->target_known = false;
	schedule_retry(l);
	set_state(l, RG_LINK_DOWN);
}

static void hs_step(void *arg, int status, redisReply *reply, const char *what)
{
	struct rg_redis_link *l = arg;
	char why[160];

	/* a status: the link is already closing this connection */
	if (status)
		return;
	if (reply->type == REDIS_REPLY_ERROR) {
		snprintf(why, sizeof(why), "%s: %.100s", what, reply->str);
		master_down(l, -ENOTCONN, why);
	}
}

static void hs_auth(void *arg, int status, redisReply *reply)
{
	hs_step(arg, status, reply, "AUTH");
}

static void hs_select(void *arg, int status, redisReply *reply)
{
	hs_step(arg, status, reply, "SELECT");
}

static void hs_setname(void *arg, int status, redisReply *reply)
{
	hs_step(arg, status, reply, "CLIENT SETNAME");
}

static void hs_role(void *arg, int status, redisReply *reply)
{
	struct rg_redis_link *l = arg;

	if (status || reply->type == REDIS_REPLY_ERROR || l->state != RG_LINK_CONNECTING ||
	    !l->slot[SLOT_MASTER].c) {
		hs_step(arg, status, reply, "ROLE");
		return;
	}
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
	    reply->element[0]->type != REDIS_REPLY_STRING ||
	    strcmp(reply->element[0]->str, "master")) {
		master_down(l, -ENOTCONN, "ROLE is not master");
		return;
	}
	if (l->st.master[0] && strcmp(l->st.master, l->target))
		l->st.failovers++;
	snprintf(l->st.master, sizeof(l->st.master), "%s", l->target);
	l->st.connects++;
	l->backoff_ns = l->backoff_min_ns;
	l->connect_at = 0;
	l->last_io_ns = rg_now_mono_ns();
	pr_info("redis %s: up, master %s", l->name, l->target);
	set_state(l, RG_LINK_UP);
}

static void master_connect(struct rg_redis_link *l)
{
	const char *argv[4];
	char db[16];
	int err, n = 0;

	err = conn_open(l, SLOT_MASTER, l->target);
	if (err) {
		master_down(l, -ENOTCONN, l->slot[SLOT_MASTER].why);
		return;
	}
	argv[n++] = "AUTH";
	if (l->user)
		argv[n++] = l->user;
	argv[n++] = l->password;
	if (l->password)
		err = conn_send(l, SLOT_MASTER, l->connect_timeout_ns, false, hs_auth, l, n, argv,
				NULL);
	snprintf(db, sizeof(db), "%d", l->db);
	argv[0] = "SELECT";
	argv[1] = db;
	if (!err)
		err = conn_send(l, SLOT_MASTER, l->connect_timeout_ns, false, hs_select, l, 2, argv,
				NULL);
	argv[0] = "CLIENT";
	argv[1] = "SETNAME";
	argv[2] = l->name;
	if (!err)
		err = conn_send(l, SLOT_MASTER, l->connect_timeout_ns, false, hs_setname, l, 3,
				argv, NULL);
	argv[0] = "ROLE";
	if (!err)
		err = conn_send(l, SLOT_MASTER, l->connect_timeout_ns, false, hs_role, l, 1, argv,
				NULL);
	if (err)
		master_down(l, -ENOTCONN, strerror(-err));
}

static void heartbeat_reply(void *arg, int status, redisReply *reply)
{
	struct rg_redis_link *l = arg;

	if (!status && reply->type == REDIS_REPLY_ERROR)
		pr_warn("redis %s: PING: %.100s", l->name, reply->str);
}

/* ---- sentinels ---------------------------------------------------------------------- */

static void sentinel_ask_next(struct rg_redis_link *l);

static void sentinel_answer(void *arg, int status, redisReply *reply)
{
	struct rg_redis_link *l = arg;
	const char *sent = l->sentinels[(l->sentinel_next + l->n_sentinels - 1) % l->n_sentinels];
	char addr[ADDR_MAX];
	bool v6;

	if (status)
		return;		/* the link closed the query, and asks the next one */
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
	    reply->element[0]->type != REDIS_REPLY_STRING ||
	    reply->element[1]->type != REDIS_REPLY_STRING) {
		pr_warn("redis %s: sentinel %s does not name master %s", l->name, sent,
			l->master_name);
		conn_close(l, SLOT_QUERY, -ENOTCONN);
		return;		/* step() asks the next one */
	}
	v6 = strchr(reply->element[0]->str, ':') != NULL;
	if ((size_t)snprintf(addr, sizeof(addr), v6 ? "inet:[%s]:%s" : "inet:%s:%s",
			     reply->element[0]->str, reply->element[1]->str) >= sizeof(addr)) {
		conn_close(l, SLOT_QUERY, -ENOTCONN);
		return;
	}
	snprintf(l->target, sizeof(l->target), "%s", addr);
	l->target_known = true;
	l->sentinel_ok = (int)((l->sentinel_next + l->n_sentinels - 1) % l->n_sentinels);
	conn_close(l, SLOT_QUERY, -ENOTCONN);
}

static void sentinel_ask_next(struct rg_redis_link *l)
{
	const char *argv[3] = { "SENTINEL", "get-master-addr-by-name", l->master_name };
	const char *s;

	while (l->sentinels_asked < l->n_sentinels) {
		s = l->sentinels[l->sentinel_next];
		l->sentinel_next = (l->sentinel_next + 1) % l->n_sentinels;
		l->sentinels_asked++;
		if (conn_open(l, SLOT_QUERY, s)) {
			pr_warn("redis %s: sentinel %s: %s", l->name, s, l->slot[SLOT_QUERY].why);
			continue;
		}
		if (!conn_send(l, SLOT_QUERY, l->connect_timeout_ns, false, sentinel_answer, l, 3,
			       argv, NULL))
			return;
		conn_close(l, SLOT_QUERY, -ENOTCONN);
	}
}

/* A +switch-master message: "NAME OLDIP OLDPORT NEWIP NEWPORT". */
static void on_sub_message(redisAsyncContext *ac, void *r, void *priv)
{
	struct conn *c = priv;
	struct rg_redis_link *l = c->l;
	redisReply *reply = r, *kind, *msg;
	char name[256], ip[64], port[8], addr[ADDR_MAX];

	if (!reply || !l || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3)
		return;
	kind = reply->element[0];
	msg = reply->element[2];
	if (!strcmp(kind->str, "subscribe")) {
		l->sub_waiting = false;
		l->sub_check_ns = rg_now_mono_ns();
		return;
	}
	if (strcmp(kind->str, "message") || msg->type != REDIS_REPLY_STRING)
		return;
	if (sscanf(msg->str, "%255s %*s %*s %63s %7s", name, ip, port) != 3 ||
	    strcmp(name, l->master_name))
		return;
	snprintf(addr, sizeof(addr), strchr(ip, ':') ? "inet:[%s]:%s" : "inet:%s:%s", ip, port);
	pr_info("redis %s: sentinel: master %s moved to %s", l->name, name, addr);
	if (!strcmp(addr, l->target) && l->state != RG_LINK_DOWN)
		return;
	/* step() reconnects at once, to this address, and checks ROLE */
	if (l->slot[SLOT_MASTER].c)
		conn_close(l, SLOT_MASTER, -ENOTCONN);
	snprintf(l->target, sizeof(l->target), "%s", addr);
	l->target_known = true;
	l->connect_at = 0;
	l->backoff_ns = l->backoff_min_ns;
	set_state(l, RG_LINK_DOWN);
}

static void sub_open(struct rg_redis_link *l)
{
	const char *argv[2] = { "SUBSCRIBE", "+switch-master" };
	size_t i = l->sentinel_ok >= 0 ? (size_t)l->sentinel_ok : 0;

	l->sub_at = rg_now_mono_ns() + l->backoff_max_ns;	/* if this fails */
	if (conn_open(l, SLOT_SUB, l->sentinels[i]))
		return;
	/* subscribe replies are routed by channel, not through the FIFO */
	if (redisAsyncCommandArgv(l->slot[SLOT_SUB].c->ac, on_sub_message, l->slot[SLOT_SUB].c,
				  2, argv, NULL) != REDIS_OK) {
		conn_close(l, SLOT_SUB, -ENOTCONN);
		return;
	}
	l->sub_waiting = true;
	l->sub_deadline = rg_now_mono_ns() + l->connect_timeout_ns;
}

/* Subscribed, a connection answers no PING: subscribing again is its heartbeat. */
static void sub_heartbeat(struct rg_redis_link *l, uint64_t now)
{
	const char *argv[2] = { "SUBSCRIBE", "+switch-master" };

	if (l->sub_waiting || now - l->sub_check_ns < l->heartbeat_ns)
		return;
	if (redisAsyncCommandArgv(l->slot[SLOT_SUB].c->ac, on_sub_message, l->slot[SLOT_SUB].c,
				  2, argv, NULL) != REDIS_OK) {
		conn_close(l, SLOT_SUB, -ENOTCONN);
		return;
	}
	l->sub_waiting = true;
	l->sub_deadline = now + l->heartbeat_ns;
}

/* ---- the state machine -------------------------------------------------------------- */

static bool slot_expired(const struct slot *s, uint64_t now)
{
	for (const struct pend *p = s->head; p; p = p->next)
		if (p->deadline_ns <= now)
			return true;
	return false;
}

static uint64_t slot_next_deadline(const struct slot *s)
{
	uint64_t t = 0;

	for (const struct pend *p = s->head; p; p = p->next)
		if (!t || p->deadline_ns < t)
			t = p->deadline_ns;
	return t;
}

static void timer_arm(struct rg_redis_link *l, uint64_t at)
{
	struct itimerspec its = { 0 };

	if (at == l->timer_at)
		return;
	l->timer_at = at;
	if (at) {
		its.it_value.tv_sec = (time_t)(at / RG_NSEC_PER_SEC);
		its.it_value.tv_nsec = (long)(at % RG_NSEC_PER_SEC);
	}
	if (timerfd_settime(l->tfd, TFD_TIMER_ABSTIME, &its, NULL))
		pr_warn("redis %s: timerfd_settime: %s", l->name, strerror(errno));
}

static uint64_t earliest(uint64_t a, uint64_t b)
{
	return !a ? b : !b ? a : a < b ? a : b;
}

/* Everything that is due: losses, deadlines, connects, heartbeats; then the timer. */
static void step(struct rg_redis_link *l)
{
	uint64_t now = rg_now_mono_ns(), next = 0;
	struct slot *m = &l->slot[SLOT_MASTER];

	for (int r = 0; r < SLOT_N; r++) {
		struct slot *s = &l->slot[r];

		if (s->lost) {
			s->lost = false;
			if (r == SLOT_MASTER)
				master_down(l, -ENOTCONN, s->why);
			else
				pend_fail_all(l, s, -ENOTCONN, now);
		}
		if (s->c && slot_expired(s, now)) {
			if (r == SLOT_MASTER) {
				master_down(l, -ETIMEDOUT, "a reply is overdue");
			} else {
				pr_warn("redis %s: %s: a reply is overdue", l->name, slot_names[r]);
				conn_close(l, (enum slot_role)r, -ETIMEDOUT);
			}
		}
	}
	if (l->slot[SLOT_SUB].c && l->sub_waiting && l->sub_deadline <= now) {
		pr_warn("redis %s: subscription: no answer", l->name);
		conn_close(l, SLOT_SUB, -ETIMEDOUT);
		l->sub_at = now + l->backoff_min_ns;
	}

	/* the master: discover, connect, or keep alive */
	if (!m->c && !l->slot[SLOT_QUERY].c && (!l->connect_at || l->connect_at <= now)) {
		if (l->n_sentinels && !l->target_known) {
			if (l->sentinels_asked < l->n_sentinels) {
				set_state(l, RG_LINK_CONNECTING);
				sentinel_ask_next(l);
			}
			if (!l->slot[SLOT_QUERY].c && !l->target_known) {
				/* every sentinel was asked, none named the master */
				l->sentinels_asked = 0;
				l->st.connect_failures++;
				schedule_retry(l);
				set_state(l, RG_LINK_DOWN);
			}
		}
		if (!l->n_sentinels || l->target_known) {
			l->connect_at = 0;
			l->sentinels_asked = 0;
			if (!l->n_sentinels)
				snprintf(l->target, sizeof(l->target), "%s", l->redis);
			set_state(l, RG_LINK_CONNECTING);
			master_connect(l);
		}
	}
	if (m->c && l->state == RG_LINK_UP && !m->head && l->heartbeat_ns &&
	    now - l->last_io_ns >= l->heartbeat_ns) {
		const char *argv[1] = { "PING" };

		if (conn_send(l, SLOT_MASTER, l->heartbeat_ns, false, heartbeat_reply, l, 1, argv,
			      NULL))
			master_down(l, -ENOTCONN, "cannot send PING");
	}
	if (l->n_sentinels) {
		if (!l->slot[SLOT_SUB].c && l->sub_at <= now)
			sub_open(l);
		if (l->slot[SLOT_SUB].c && l->heartbeat_ns)
			sub_heartbeat(l, now);
	}

	/* what to wake up for next */
	for (int r = 0; r < SLOT_N; r++)
		next = earliest(next, slot_next_deadline(&l->slot[r]));
	if (!m->c && l->connect_at)
		next = earliest(next, l->connect_at);
	if (m->c && l->state == RG_LINK_UP && !m->head && l->heartbeat_ns)
		next = earliest(next, l->last_io_ns + l->heartbeat_ns);
	if (l->n_sentinels) {
		if (!l->slot[SLOT_SUB].c)
			next = earliest(next, l->sub_at);
		else if (l->sub_waiting)
			next = earliest(next, l->sub_deadline);
		else if (l->heartbeat_ns)
			next = earliest(next, l->sub_check_ns + l->heartbeat_ns);
	}
	if (next && next <= now)
		next = now + 1;	/* already due: wake at once (0 would disarm) */
	timer_arm(l, next);
}

/* ---- the API ------------------------------------------------------------------------ */

static bool name_ok(const char *s)
{
	/* CLIENT SETNAME refuses spaces; a refused name would fail every handshake */
	for (; *s; s++)
		if (*s <= ' ' || *s > '~')
			return false;
	return true;
}

int rg_redis_link_new(const struct rg_redis_link_opts *o, rg_redis_state_fn on_state,
		      void *arg, struct rg_redis_link **out)
{
	struct rg_redis_link *l;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	char host[ADDR_MAX];
	int port, err = 0;

	*out = NULL;
	if (!o || !o->name || !*o->name || !name_ok(o->name) || o->db < 0 ||
	    (!o->n_sentinels && (!o->redis || parse_addr(o->redis, host, sizeof(host), &port))) ||
	    (o->n_sentinels && (!o->sentinels || !o->sentinel_master || !*o->sentinel_master)) ||
	    (o->user && !o->password) || !o->connect_timeout_ms)
		return -EINVAL;
	for (size_t i = 0; i < o->n_sentinels; i++)
		if (!o->sentinels[i] || parse_addr(o->sentinels[i], host, sizeof(host), &port))
			return -EINVAL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->epfd = l->tfd = -1;
	l->redis = dup_opt(o->redis, &err);
	l->master_name = dup_opt(o->sentinel_master, &err);
	l->user = dup_opt(o->user, &err);
	l->password = dup_opt(o->password, &err);
	l->name = dup_opt(o->name, &err);
	if (o->n_sentinels) {
		l->sentinels = calloc(o->n_sentinels, sizeof(*l->sentinels));
		if (!l->sentinels)
			err = -ENOMEM;
		else
			l->n_sentinels = o->n_sentinels;
		for (size_t i = 0; l->sentinels && i < o->n_sentinels; i++)
			l->sentinels[i] = dup_opt(o->sentinels[i], &err);
	}
	if (err)
		goto out;
	l->db = o->db;
	l->connect_timeout_ns = (uint64_t)o->connect_timeout_ms * NS_PER_MS;
	l->heartbeat_ns = (uint64_t)o->heartbeat_ms * NS_PER_MS;
	l->backoff_min_ns = (uint64_t)(o->backoff_min_ms ? o->backoff_min_ms : 100) * NS_PER_MS;
	l->backoff_max_ns = (uint64_t)o->backoff_max_ms * NS_PER_MS;
	if (l->backoff_max_ns < l->backoff_min_ns)
		l->backoff_max_ns = l->backoff_min_ns;
	l->backoff_ns = l->backoff_min_ns;
	l->on_state = on_state;
	l->arg = arg;
	l->state = RG_LINK_DOWN;
	l->sentinel_ok = -1;
	if (getrandom(&l->rng, sizeof(l->rng), GRND_NONBLOCK) != sizeof(l->rng) || !l->rng)
		l->rng = rg_now_mono_ns() | 1;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		err = -errno;
		goto out;
	}
	l->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (l->tfd < 0 || epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->tfd, &ev)) {
		err = -errno;
		goto out;
	}
	/* the owner's callbacks must not run inside new(): it has no link yet */
	l->on_state = NULL;
	step(l);
	l->on_state = on_state;
	*out = l;
out:
	if (err)
		rg_redis_link_free(l);
	return err;
}

void rg_redis_link_free(struct rg_redis_link *l)
{
	if (!l)
		return;
	for (int r = 0; r < SLOT_N; r++)
		conn_close(l, (enum slot_role)r, -ECANCELED);
	if (l->tfd >= 0)
		close(l->tfd);
	if (l->epfd >= 0)
		close(l->epfd);
	for (size_t i = 0; i < l->n_sentinels; i++)
		free(l->sentinels[i]);
	free(l->sentinels);
	free(l->redis);
	free(l->master_name);
	free(l->user);
	if (l->password)
		explicit_bzero(l->password, strlen(l->password));
	free(l->password);
	free(l->name);
	free(l);
}

int rg_redis_link_fd(const struct rg_redis_link *l)
{
	return l->epfd;
}

void rg_redis_link_dispatch(struct rg_redis_link *l)
{
	struct epoll_event ev;

	/* one event at a time: an event may free a connection a later one in a batch names */
	for (int i = 0; i < STEP_EVENTS && epoll_wait(l->epfd, &ev, 1, 0) == 1; i++) {
		struct conn *c = ev.data.ptr;
		uint64_t ticks;

		if (!c) {
			if (read(l->tfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
				pr_warn("redis %s: timerfd: %s", l->name, strerror(errno));
			l->timer_at = 0;
			continue;
		}
		redisAsyncContext *ac = c->ac;
		enum slot_role r = c->role;

		if (ev.events & (EPOLLIN | EPOLLERR | EPOLLHUP))
			redisAsyncHandleRead(ac);
		/* the read may have freed c; a live one is still its slot's */
		if ((ev.events & EPOLLOUT) && l->slot[r].c == c)
			redisAsyncHandleWrite(ac);
	}
	step(l);
}

int rg_redis_link_command(struct rg_redis_link *l, uint32_t deadline_ms, rg_redis_reply_fn fn,
			  void *arg, int argc, const char **argv, const size_t *argvlen)
{
	int err;

	if (l->state != RG_LINK_UP || !l->slot[SLOT_MASTER].c)
		return -ENOTCONN;
	if (argc < 1 || !fn)
		return -EINVAL;
	err = conn_send(l, SLOT_MASTER, (uint64_t)deadline_ms * NS_PER_MS, true, fn, arg, argc,
			argv, argvlen);
	if (err)
		return err;
	l->st.commands++;
	l->st.pending++;
	/* an earlier deadline than the timer's; step() is not run here, so the owner is never
	 * called back from inside its own call */
	if (!l->timer_at || l->slot[SLOT_MASTER].tail->deadline_ns < l->timer_at)
		timer_arm(l, l->slot[SLOT_MASTER].tail->deadline_ns);
	return 0;
}

enum rg_redis_link_state rg_redis_link_state(const struct rg_redis_link *l)
{
	return l->state;
}

void rg_redis_link_stats(const struct rg_redis_link *l, struct rg_redis_link_stats *out)
{
	*out = l->st;
}
