/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * event.h: the event/listener layer under the policy and control servers. One rg_ev is an
 * epoll set with a timerfd for deadlines and a spare descriptor; an outer loop watches
 * rg_ev_fd() for readability and calls rg_ev_dispatch(ev, 0).
 *
 * - Listeners (unix:PATH through listen.h, inet:HOST:PORT) accept up to 64 connections per
 *   wake-up and hand each fd to the owner's on_accept. When descriptors run out the spare
 *   one is freed to take the connection off the queue and close it (else a level-triggered
 *   listener spins); such refusals are counted and logged at most 5 times a second. An
 *   inet listener may carry an allowlist: other peers are closed at accept, counted too.
 * - Connections carry an output buffer (optionally capped) that rg_ev_conn_flush() writes
 *   as the socket takes it, watching EPOLLOUT only while bytes are pending, and sit on at
 *   most one deadline queue. A queue holds connections that all got the same timeout added
 *   to "now", so it is in deadline order by construction and expiry looks at its head only.
 *
 * - Watches: any other fd (a library's epoll fd) and a wake-up time, for libraries that
 *   drive their own sockets (metrics.c's libmicrohttpd).
 *
 * The owner embeds struct rg_ev_conn in its connection (rg_container_of() gets it back).
 * A connection's on_event and a queue's expired callback may close that connection only;
 * expiry runs after the batch of events, so no event points at a closed connection.
 */
#ifndef RG_EVENT_H
#define RG_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cidr.h"
#include "containers.h"	/* rg_container_of */
#include "listen.h"

/* Log rate limiting: at most RG_RATELIMIT_BURST messages of one kind per second; the
 * number dropped is logged when the next second opens. */
#define RG_RATELIMIT_BURST 5
struct rg_ratelimit {
	uint64_t window_start;
	unsigned n;
	uint64_t suppressed;
};
/* true: log this one. who and what name the kind in the "suppressed" line. */
bool rg_ratelimit_ok(struct rg_ratelimit *rl, const char *who, const char *what);

struct rg_ev;
struct rg_ev_conn;

/* Connections with the same timeout. */
struct rg_ev_queue {
	struct rg_fifo conns;		/* rg_ev_conn.link, earliest deadline first */
	uint64_t timeout_ns;
	void (*expired)(struct rg_ev_conn *c);	/* must close c */
};

struct rg_ev_conn {
	int tag;			/* the layer's */
	int fd;
	struct rg_ev *ev;
	void (*on_event)(struct rg_ev_conn *c, uint32_t events);
	char *out;
	size_t out_off, out_len, out_cap;
	size_t out_max;			/* unsent bytes allowed; 0: no cap */
	bool reading;			/* EPOLLIN wanted (default true) */
	uint32_t events;		/* registered with epoll */
	uint64_t deadline;
	struct rg_ev_queue *q;		/* the queue it is on, NULL: none */
	struct rg_link link;
};

struct rg_ev_listener;
typedef void (*rg_ev_accept_fn)(void *ctx, struct rg_ev_listener *l, int fd);

struct rg_ev_listener {
	int tag;			/* the layer's */
	int fd;
	char *name;			/* as configured, for logs */
	bool is_unix;
	struct rg_sock_file file;	/* unix: removed at close while still ours */
	rg_ev_accept_fn on_accept;
	void *ctx;
	const struct rg_cidr *allow;	/* inet: peers outside these are closed at accept */
	size_t n_allow;			/* 0: anyone */
	uint64_t refused_nofd;		/* connections closed for lack of descriptors */
	uint64_t refused_not_allowed;	/* closed at accept: peer not in allow */
	uint64_t paused_until;		/* no spare descriptor: accept again after this */
	struct rg_ratelimit rl;
	struct rg_ev *ev;
	struct rg_ev_listener *next;
};

/* who prefixes log lines ("policy", "control"). 0, -ENOMEM or -errno. */
int rg_ev_new(const char *who, struct rg_ev **out);
/* Close every listener (removing its socket file); connections are the owner's to close
 * first. NULL is fine. */
void rg_ev_free(struct rg_ev *ev);
int rg_ev_fd(const struct rg_ev *ev);
/* The socket files of ev's unix listeners (at most max) into out; how many were put. */
size_t rg_ev_sock_files(const struct rg_ev *ev, const struct rg_sock_file **out, size_t max);
/* Expire the queue's connections too. The queue must outlive ev. */
void rg_ev_add_queue(struct rg_ev *ev, struct rg_ev_queue *q);

/*
 * Listen on spec: "unix:PATH" (with uo: owner, mode, parent directory policy) or
 * "inet:HOST:PORT" / "inet:[IPV6]:PORT". -EINVAL for another form; else what listen.h
 * reports. *out (optional) is owned by ev.
 */
int rg_ev_listen(struct rg_ev *ev, const char *spec, const struct rg_unix_listen_opts *uo,
		 rg_ev_accept_fn on_accept, void *ctx, struct rg_ev_listener **out);

/* Watch an accepted fd (EPOLLIN). c is zeroed first except on_event and out_max, which
 * the caller sets before. On failure the fd is left open for the caller. */
int rg_ev_conn_add(struct rg_ev *ev, struct rg_ev_conn *c, int fd);
/* Off its queue and out of epoll; close the fd, free the buffer. The owner frees c. */
void rg_ev_conn_close(struct rg_ev_conn *c);
/* The connection with q's earliest deadline, NULL when q is empty. */
struct rg_ev_conn *rg_ev_queue_head(const struct rg_ev_queue *q);
/* (Re)place c at the end of q with deadline now + q->timeout_ns. */
void rg_ev_conn_deadline(struct rg_ev_conn *c, struct rg_ev_queue *q, uint64_t now_ns);
/* Queue bytes: 0, -ENOMEM, or -ENOBUFS when more than out_max would be unsent (after
 * trying to write; a dead socket then reports its -errno). */
int rg_ev_conn_queue(struct rg_ev_conn *c, const void *data, size_t len);
/* Write what the socket takes. 0, or -errno when the connection is dead. */
int rg_ev_conn_flush(struct rg_ev_conn *c);
/* Unsent bytes. */
size_t rg_ev_conn_pending(const struct rg_ev_conn *c);
/* Want EPOLLIN or not (EPOLLOUT follows the buffer). 0 or -errno. */
int rg_ev_conn_set_reading(struct rg_ev_conn *c, bool reading);

/* Another fd in the set, such as a library's own epoll fd (libmicrohttpd's): it makes
 * rg_ev_fd() readable; on_ready (optional) runs from rg_ev_dispatch(). */
struct rg_ev_watch {
	int tag;			/* the layer's */
	void (*on_ready)(void *ctx);
	void *ctx;
};
int rg_ev_watch_add(struct rg_ev *ev, struct rg_ev_watch *w, int fd);
/* Make rg_ev_fd() readable at CLOCK_MONOTONIC when_ns too (0: no such wake-up): for a
 * library with timeouts of its own. */
void rg_ev_set_wakeup(struct rg_ev *ev, uint64_t when_ns);

/* Accept only peers in allow (n prefixes, in the form of cidr.h) on an inet listener:
 * others are closed before on_accept sees them, counted and logged (rate-limited). allow
 * must outlive l; n 0 lets anyone in. A unix listener ignores it (file modes decide). */
void rg_ev_listener_allow(struct rg_ev_listener *l, const struct rg_cidr *allow, size_t n);

/* Connections all listeners of ev closed for lack of descriptors. */
uint64_t rg_ev_refused_nofd(const struct rg_ev *ev);
/* Connections all listeners of ev closed because the peer was not allowed. */
uint64_t rg_ev_refused_not_allowed(const struct rg_ev *ev);

/* Handle what is ready, waiting up to timeout_ms. The number of events (>= 0), or -errno
 * (-EINTR passes through). */
int rg_ev_dispatch(struct rg_ev *ev, int timeout_ms);

#endif /* RG_EVENT_H */
