/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * policy.h: the Postfix SMTPD policy delegation service. Listens on unix:PATH and
 * inet:HOST:PORT endpoints, serves many persistent, pipelining connections from one epoll
 * set, asks a decision callback for each request and answers "action=...\n\n" in order.
 * Malformed requests, deadlines, caps and overflows close the connection without a reply.
 *
 * The server owns an epoll fd (rg_policy_server_fd) that becomes readable whenever it has
 * work: listeners, connections and its own timerfd for deadlines. An agent adds that fd to
 * its main loop and calls rg_policy_server_dispatch(s, 0) when it is readable; a standalone
 * program may call rg_policy_server_dispatch(s, -1) in a loop.
 */
#ifndef RG_POLICY_H
#define RG_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "cidr.h"
#include "config.h"
#include "policy_proto.h"

/*
 * Decide one request. Write the text after "action=" (NUL-terminated, one line: no CR, LF
 * or NUL, at most action_len - 1 bytes) into action and return 0. A negative return (or an
 * empty, multi-line or truncated action) means "cannot decide": the server answers per
 * fail_mode (open: DUNNO, closed: 451 4.3.5 Server configuration problem), counts it and
 * logs it (rate-limited), so the callback need not know the fail mode.
 */
typedef int (*rg_policy_decide_fn)(void *ctx, const struct rg_policy_req *req, char *action,
				   size_t action_len);
/* A decide callback's "answer later": the connection reads nothing more (Postfix sends
 * one request at a time per connection and waits) until rg_policy_server_resume() with
 * the id rg_policy_server_current() gave inside the callback decides the same request
 * again. The request deadline (policy_request_timeout) still runs. */
#define RG_POLICY_DEFER 1
/* Called once per answered request with the time from the read() that completed the
 * request to the reply being queued (parse + decide), in ns. */
typedef void (*rg_policy_observe_fn)(void *ctx, uint64_t ns);

#define RG_POLICY_ACTION_MAX 512
#define RG_POLICY_FAIL_OPEN_ACTION "DUNNO"
#define RG_POLICY_FAIL_CLOSED_ACTION "451 4.3.5 Server configuration problem"

struct rg_policy_server_opts {
	const char *const *listen;		/* "unix:PATH" / "inet:HOST:PORT" / "inet:[V6]:PORT" */
	size_t n_listen;
	uint32_t max_connections;		/* 0: 1024 */
	uint64_t request_timeout_ns;		/* first byte to empty line; 0: 10 s */
	uint64_t idle_timeout_ns;		/* between requests; 0: 5 min */
	size_t max_output;			/* per-connection unsent replies; 0: 64 KiB */
	struct rg_policy_limits limits;		/* parser caps; zeros: defaults */
	const char *unix_owner;			/* owner of unix sockets; NULL: "postfix" */
	const struct rg_cidr *allow;		/* inet listeners: only these peers (copied) */
	size_t n_allow;				/* 0: anyone */
	enum rg_fail_mode fail_mode;
	rg_policy_decide_fn decide;
	void *decide_ctx;
	rg_policy_observe_fn observe;		/* optional */
	void *observe_ctx;
	/* Optional: called once per dispatch, after every request of it was decided and
	 * before any of their replies is sent (the agent writes its journal here). */
	void (*commit)(void *ctx);
	void *commit_ctx;
};

struct rg_policy_stats {
	uint64_t conns_open;		/* gauge */
	uint64_t conns_accepted;	/* total accepted and kept */
	uint64_t conns_refused;		/* over max_connections (or out of fds) */
	uint64_t conns_not_allowed;	/* inet peer outside allow, closed at accept */
	uint64_t requests;		/* answered */
	uint64_t decide_failures;	/* answered per fail_mode */
	uint64_t malformed;		/* closed for a protocol error or cap */
	uint64_t request_timeouts;	/* closed: request not complete in time */
	uint64_t idle_timeouts;		/* closed: idle too long */
	uint64_t output_overflows;	/* closed: client not reading its replies */
	uint64_t eof_mid_request;	/* closed by the client inside a request */
};

struct rg_policy_server;

/*
 * Bind every listener (all or nothing) and set up the epoll set. unix:PATH: the parent
 * directory must exist (-ENOENT, logged); a stale socket file there is replaced, a live
 * one (something accepts on it) is -EADDRINUSE, a non-socket file -EEXIST. The socket is
 * owned by unix_owner (default "postfix") and its primary group, mode 0660, set before it
 * appears at PATH (listen.h); when that user does not exist (-ENOENT) or we may not chown
 * (-EPERM) the start fails: a policy socket is never world-writable.
 * inet:HOST:PORT takes an IPv4 address or name, inet:[IPV6]:PORT (IPV6_V6ONLY), "*" = any;
 * with n_allow > 0 a peer outside allow is closed at accept and counted. Each request
 * names its peer (rg_policy_req.peer): "uid=N pid=N" (SO_PEERCRED) or "ADDR:PORT".
 */
int rg_policy_server_new(const struct rg_policy_server_opts *opts, struct rg_policy_server **out);
/* Close every connection and listener; remove the unix socket files this server made. */
void rg_policy_server_free(struct rg_policy_server *s);
/* The epoll fd to watch for readability (level-triggered). */
int rg_policy_server_fd(const struct rg_policy_server *s);
/*
 * Handle whatever is ready, waiting up to timeout_ms (-1: until something happens, 0: not
 * at all). Returns the number of events handled (>= 0) or -errno (-EINTR passes through).
 */
int rg_policy_server_dispatch(struct rg_policy_server *s, int timeout_ms);
/* A reload's fail_mode: the answer for requests that cannot be decided from now on. */
void rg_policy_server_set_fail_mode(struct rg_policy_server *s, enum rg_fail_mode mode);
/* The socket files of its unix listeners (at most max); how many were put in out. */
struct rg_sock_file;
size_t rg_policy_server_sock_files(const struct rg_policy_server *s,
				   const struct rg_sock_file **out, size_t max);
void rg_policy_server_get_stats(const struct rg_policy_server *s, struct rg_policy_stats *st);
/* Inside the decide callback: the id of the connection that asks (never 0). */
uint64_t rg_policy_server_current(const struct rg_policy_server *s);
/* Decide connection id's held request again, reply (after the commit hook) and read on.
 * 0, or -ENOENT when the connection closed meanwhile. */
int rg_policy_server_resume(struct rg_policy_server *s, uint64_t id);

#endif /* RG_POLICY_H */
