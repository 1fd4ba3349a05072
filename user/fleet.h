/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * fleet.h: relays sharing budgets, restrictions and kernel verdicts through Redis
 * ([fleet] in the configuration). Two links (redis_link.h): one for commands (the budget
 * step, publishing, snapshots, heartbeats), one blocked in XREAD following the stream
 * PREFIX:events. The atomic steps are the Redis functions of fleet_lib.c.
 *
 * - Budget: a new unregistered transaction of a tenant not restricted (rg_engine_peek)
 *   waits for rg_budget (idempotent by relay:instance); the answer, or the deadline
 *   (redis_timeout), resumes the held policy request, which the engine then decides from
 *   its own state (restricted by the fleet meanwhile, or not). A fallback (link down,
 *   deadline) is decided locally against the full budget and queued for replay.
 * - Propagation: every local restriction, lift and verdict change (the engine's journal
 *   hook, rg_fleet_change) goes to rg_publish; events of other relays apply through
 *   rg_engine_fleet_apply without being published again.
 * - Sync: on every connect the library is loaded, the queue replayed in order, then a
 *   snapshot (or "follow" when the last id was not trimmed) taken on the same connection,
 *   so it includes the replays; the reader follows from its id.
 * - Degraded: while Redis is away events and counts wait in a bounded queue (queue_max;
 *   the oldest go first, counted) with a generation max(last seen + 1, now_ms << 8).
 *
 * Single-threaded: all calls from the agent's loop.
 */
#ifndef RG_FLEET_H
#define RG_FLEET_H

#include <stdbool.h>
#include <stdint.h>

#include "classify.h"
#include "config.h"

struct rg_fleet;

struct rg_fleet_ops {
	/* The budget step for connection id is over: decide its request again. */
	void (*resume)(void *ctx, uint64_t conn_id);
};

/* Connects at once (no wait). password: NULL (no AUTH) or the secret, user: NULL or the
 * ACL user (redis_passfile.h reads both; copied). The queue left in STATE_DIR/fleet.queue
 * by the last run waits to be replayed. 0, -errno. */
int rg_fleet_new(const struct rg_fleet_conf *fc, const char *user, const char *password,
		 const char *state_dir, struct rg_engine *e, const struct rg_fleet_ops *ops,
		 void *ctx, struct rg_fleet **out);
void rg_fleet_free(struct rg_fleet *f);
/* The two links' fds: the loop watches both and calls rg_fleet_dispatch. */
void rg_fleet_fds(const struct rg_fleet *f, int fds[2]);
void rg_fleet_dispatch(struct rg_fleet *f);
/* Every second: the heartbeat (PREFIX:relays), a reader restarted if it stopped. */
void rg_fleet_tick(struct rg_fleet *f, uint64_t now_ns);

/*
 * The budget step for connection conn_id's request (peek from rg_engine_peek). 0: it
 * waits, ops->resume follows; -errno: decide it locally now (the transaction is queued
 * for replay). rg_fleet_done: at the resumed decision, true when conn_id had a step (it
 * is forgotten).
 */
int rg_fleet_budget(struct rg_fleet *f, const struct rg_engine_peek *peek,
		    const struct rg_policy_request *req, uint64_t conn_id, uint64_t now_ns);
bool rg_fleet_done(struct rg_fleet *f, uint64_t conn_id);

/* The engine's journal hook: a local change to publish (ignored while applying a remote
 * one, and for transactions). */
void rg_fleet_change(struct rg_fleet *f, const struct rg_engine_change *c);

struct rg_fleet_stats {
	bool link_up, synced;
	uint64_t budget_steps, fallbacks, timeouts, errors;
	uint64_t published, applied, snapshots, queue_dropped;
	uint64_t stale;			/* offline changes older than Redis's: dropped */
	uint64_t queue_depth;
	uint64_t rtt_sum_ns, rtt_count;
	uint64_t last_event_ms;		/* the stream id's time of the last event read */
	uint64_t lag_ms;		/* now - that, when an event was read; else 0 */
	char last_id[48];
	const char *relay_id;
};
void rg_fleet_stats(const struct rg_fleet *f, struct rg_fleet_stats *out);

/* relayguardctl fleet: PREFIX:relays as last read (every tick), a JSON object
 * {"RELAY": {"heartbeat_ms": N, "link": "up", "lag_ms": N, "queue": N}, ...}, or NULL. */
const char *rg_fleet_relays_json(const struct rg_fleet *f);

#endif /* RG_FLEET_H */
