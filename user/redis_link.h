/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * redis_link.h: one logical connection to the fleet's Redis master, driven by the agent's
 * epoll loop through hiredis 0.14's async hooks (addRead/delRead/addWrite/delWrite/cleanup).
 * hiredis has no timers of its own: the link keeps a deadline per command, a PING heartbeat
 * while idle, connect timeouts, and reconnects with exponential backoff and jitter (a new
 * redisAsyncContext per connection: hiredis frees the old one after its disconnect
 * callback). After each connect: AUTH (when a password is set), SELECT db, CLIENT SETNAME,
 * ROLE (must be "master", else the link drops and rediscovers). With sentinels the master is
 * asked of the sentinels in turn (SENTINEL get-master-addr-by-name) and a subscription to
 * +switch-master on one sentinel moves the link to the new master.
 *
 * A link serves either ordinary commands or one long-blocking reader (XREAD BLOCK): a
 * connection blocked in a read serves nothing else, so the fleet opens two links.
 *
 * Every accepted command gets its callback exactly once: with the reply, or with
 * -ETIMEDOUT when its deadline passed (the connection is then closed and reopened: the
 * order of replies on it is lost), or -ENOTCONN when the link went down first, or
 * -ECANCELED from rg_redis_link_free().
 */
#ifndef RG_REDIS_LINK_H
#define RG_REDIS_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct redisReply;
struct rg_redis_link;

struct rg_redis_link_opts {
	const char *redis;		/* "unix:PATH" or "inet:HOST:PORT"; unused with sentinels */
	const char *const *sentinels;	/* "inet:HOST:PORT" or "unix:PATH" each */
	size_t n_sentinels;
	const char *sentinel_master;	/* required with sentinels */
	const char *user;		/* AUTH user password; NULL: AUTH password */
	const char *password;		/* NULL: no AUTH */
	int db;				/* SELECT */
	const char *name;		/* CLIENT SETNAME and log prefix, e.g. "relay1-cmd" */
	uint32_t connect_timeout_ms;	/* connect + handshake */
	uint32_t heartbeat_ms;		/* PING after this much idle time; a missed reply drops */
	uint32_t backoff_min_ms, backoff_max_ms;	/* reconnect delay, doubled, +-25% jitter */
};

enum rg_redis_link_state {
	RG_LINK_DOWN,			/* waiting out a backoff */
	RG_LINK_CONNECTING,		/* discovery, connect, handshake */
	RG_LINK_UP,			/* handshake done, ROLE master */
};

/* status: 0 (reply is the reply, maybe REDIS_REPLY_ERROR), -ETIMEDOUT, -ENOTCONN,
 * -ECANCELED. reply is valid during the call only. */
typedef void (*rg_redis_reply_fn)(void *arg, int status, struct redisReply *reply);
/* Every state change; UP again after a reconnect or failover (scripts may be gone). */
typedef void (*rg_redis_state_fn)(void *arg, enum rg_redis_link_state state);

/* Copies what it needs from o. Starts connecting at once. 0, -EINVAL, -ENOMEM. */
int rg_redis_link_new(const struct rg_redis_link_opts *o, rg_redis_state_fn on_state,
		      void *arg, struct rg_redis_link **out);
/* Pending commands get -ECANCELED. NULL is fine. */
void rg_redis_link_free(struct rg_redis_link *l);

/* The outer loop watches this fd (readable) and then calls rg_redis_link_dispatch(). */
int rg_redis_link_fd(const struct rg_redis_link *l);
/* I/O, deadlines, heartbeat, backoff. Never blocks. */
void rg_redis_link_dispatch(struct rg_redis_link *l);

/* Send argv (binary-safe: argvlen may be NULL for C strings). deadline_ms from now.
 * 0, -ENOTCONN when the link is not UP (fn is not called), -ENOMEM. */
int rg_redis_link_command(struct rg_redis_link *l, uint32_t deadline_ms, rg_redis_reply_fn fn,
			  void *arg, int argc, const char **argv, const size_t *argvlen);

enum rg_redis_link_state rg_redis_link_state(const struct rg_redis_link *l);

struct rg_redis_link_stats {
	uint64_t commands;		/* accepted */
	uint64_t replies;		/* answered (any reply type) */
	uint64_t error_replies;		/* REDIS_REPLY_ERROR */
	uint64_t timeouts;		/* -ETIMEDOUT */
	uint64_t connects;		/* handshakes completed */
	uint64_t connect_failures;
	uint64_t failovers;		/* master address changed */
	uint64_t pending;		/* in flight now */
	uint64_t rtt_sum_ns, rtt_count;	/* of answered commands */
	uint64_t up_since_ns;		/* CLOCK_MONOTONIC; 0 while not UP */
	char master[128];		/* "unix:PATH" or "inet:HOST:PORT" last connected */
};
void rg_redis_link_stats(const struct rg_redis_link *l, struct rg_redis_link_stats *out);

#endif /* RG_REDIS_LINK_H */
