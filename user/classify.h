/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * classify.h: the decision engine: tenant by SASL login, client certificate or connector
 * (first match wins), sender class, one count per
 * transaction, the unregistered budget and restriction, escalation to kernel verdicts.
 * Takes a policy request (client address, envelope sender, Postfix instance) and the
 * current CLOCK_REALTIME time from the caller, and answers DUNNO, the 5.7.750 reject, or
 * (fail_mode closed, when it cannot decide) 451 4.3.5. It keeps per tenant the sliding
 * window of unregistered-domain transactions and the restriction, per source host the
 * rejected transactions of the last minute, and the table of kernel verdicts (host/CIDR ->
 * block/throttle with expiry) that it mirrors into the kernel through callbacks: the engine
 * itself never touches BPF, so it builds and tests without root.
 *
 * Time: every entry point takes now_ns (CLOCK_REALTIME ns); the engine never reads a clock.
 * Expiry times (restrictions, verdicts) are CLOCK_REALTIME too; the agent converts verdict
 * expiries to CLOCK_MONOTONIC for the kernel.
 *
 * Persistence (state.h, state_json.h, journal.h): the engine gives and takes its persistent
 * part as plain structures (rg_engine_tenant_state, rg_engine_restore), and reports every
 * change to it as it happens through ops->journal (a counted transaction, a restriction,
 * a lift, a verdict set or removed); rg_engine_apply replays such a change on top of a
 * restored snapshot. The agent appends the changes to a journal before the replies of the
 * loop iteration go out, so a counted transaction survives kill -9; the engine itself
 * does no file I/O. ops->state_changed(ctx, urgent) still says that something changed
 * (urgent: a restriction or a verdict) for callers without a journal.
 *
 * Single-threaded: all calls from the agent's loop.
 */
#ifndef RG_CLASSIFY_H
#define RG_CLASSIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/types.h>

#include "relayguard.h"	/* enum rg_action (block/throttle), enum rg_origin: kernel values */
#include "cidr.h"
#include "config.h"
#include "containers.h"	/* rg_buckets: the saved registered/null counts */
#include "domains.h"
#include "names.h"

struct rg_audit;
struct rg_tenant_ids;

/* enum rg_reply, the reply to Postfix, and its names: names.h. */
#define RG_REPLY_REJECT_TEXT \
	"550 5.7.750 Service unavailable. Client blocked from sending from unregistered domains"
#define RG_REPLY_TEMPFAIL_TEXT "451 4.3.5 Server configuration problem"
/* over_budget_action = hold: Postfix accepts the message into its hold queue (access(5)
 * "HOLD optional text", the text only logged); defer: a temporary refusal. */
#define RG_REPLY_HOLD_TEXT \
	"HOLD 5.7.750 Service unavailable. Client blocked from sending from unregistered domains"
#define RG_REPLY_DEFER_TEXT \
	"450 4.7.750 Service unavailable. Client blocked from sending from unregistered domains"

/* The text after "action=", exactly as Postfix gets it (README lists them). */
const char *rg_action_reply(enum rg_reply r);
/* The reply a restricted tenant's unregistered mail gets under over_budget_action o. */
enum rg_reply rg_over_budget_reply(enum rg_over_budget o);
/* true for the replies that refuse or hold mail of a restricted tenant. */
bool rg_reply_is_refusal(enum rg_reply r);

/* enum rg_class and rg_class_name(), rg_verdict_action_name(), rg_origin_name(): names.h */

/* A (pointer, length) slice of request text; p NULL: the attribute was absent. */
struct rg_slice {
	const char *p;
	size_t len;
};

struct rg_policy_request {
	struct rg_slice client_address;	/* required: an IPv4 or IPv6 address */
	struct rg_slice sender;		/* empty or absent: null sender */
	struct rg_slice instance;	/* Postfix's transaction id; absent: each request counts */
	struct rg_slice protocol_state;	/* MAIL, RCPT, DATA, END-OF-MESSAGE...; may be absent */
	/* Attribution beyond the address; empty or absent: not authenticated that way. */
	struct rg_slice sasl_username;
	struct rg_slice ccert_subject;
	struct rg_slice ccert_fingerprint;
	struct rg_slice ccert_pubkey_fingerprint;
	/* Only for logging (sanitised): */
	struct rg_slice recipient;
	struct rg_slice client_name;
	struct rg_slice helo_name;
	const char *peer;		/* who sent it (audit "peer"), or NULL */
};

struct rg_policy_req;
/* Fill req from a parsed policy request (policy_proto.h): slices point into pr. */
void rg_policy_request_from(const struct rg_policy_req *pr, struct rg_policy_request *req);

struct rg_decision {
	enum rg_reply action;		/* what to answer (always DUNNO in monitor mode) */
	enum rg_class cls;
	int tenant;			/* index in cfg->tenants, -1: unassigned */
	const char *tenant_name;	/* NULL: unassigned; valid until the next reconfigure */
	uint32_t tenant_id;		/* stable id, 0: unassigned */
	enum rg_match matched_by;	/* how tenant was found (RG_MATCH_NONE: unassigned) */
	const char *connector_tenant;	/* the connector's tenant when a login or certificate
					 * named another one, else NULL */
	bool counted;			/* a new transaction (false: a later stage of one) */
	bool restricted_now;		/* this transaction restricted its tenant */
	bool would_reject;		/* monitor mode: enforce would have rejected (or held,
					 * or deferred: over_budget_action) */
	bool host_blocked;		/* this transaction escalated its host to a kernel block
					 * (monitor: would have) */
	bool cached;			/* answered from the transaction's earlier decision */
	const char *reason;		/* static: why (e.g. the envelope's parse error), or NULL */
	int error;			/* -errno when it could not decide (action per fail_mode) */
	char domain[RG_DOMAIN_MAX + 1];	/* the normalised sender domain, "" if none */
};

/*
 * Kernel callbacks; any may be NULL. Return 0 or -errno (failures are logged and counted;
 * the engine's own table stays the source of truth, rg_engine_sync pushes it again).
 */
struct rg_engine_connector {
	struct rg_cidr cidr;
	uint32_t tenant_id;
};

struct rg_engine_verdict {
	struct rg_cidr target;
	enum rg_action action;
	enum rg_origin origin;
	uint64_t interval_ns;
	uint64_t burst_ns;
	uint64_t since_ns;
	uint64_t expires_ns;		/* 0: none */
	uint32_t tenant_id;		/* flood / conn_rate: the host's tenant */
	char by[64];			/* operator: who */
};

/* One change of the persistent state, as ops->journal reports it and rg_engine_apply
 * replays it. Pointers are valid during the call only. */
enum rg_change_kind {
	RG_CHANGE_TXN,		/* tenant, cls, at_ns: a transaction entered the counts */
	RG_CHANGE_RESTRICT,	/* tenant, at_ns (since), until_ns, monitor_only, reason */
	RG_CHANGE_LIFT,		/* tenant: unrestricted, window cleared (a fresh budget) */
	RG_CHANGE_VERDICT,	/* v: set or replaced */
	RG_CHANGE_VERDICT_DEL,	/* v.target: removed */
};

struct rg_engine_change {
	enum rg_change_kind kind;
	const char *tenant;
	enum rg_class cls;		/* TXN: NULL_SENDER, REGISTERED, UNREGISTERED, INVALID */
	uint64_t at_ns;
	uint64_t until_ns;
	bool monitor_only;
	const char *reason;		/* RESTRICT: "limit" or "operator" */
	struct rg_engine_verdict v;
};

struct rg_engine_ops {
	/* Install or replace the verdict for target (a host key or a CIDR). interval_ns /
	 * burst_ns are the throttle's GCRA parameters (0 for block). expires_realtime_ns 0:
	 * no expiry. */
	int (*verdict_set)(void *ctx, const struct rg_cidr *target, enum rg_action action,
			   enum rg_origin origin, uint64_t interval_ns, uint64_t burst_ns,
			   uint64_t expires_realtime_ns);
	int (*verdict_del)(void *ctx, const struct rg_cidr *target);
	/* The complete connector list (cidr -> stable tenant id), after rg_engine_sync and
	 * every reconfigure: replace the kernel's map with exactly this. */
	int (*connectors_sync)(void *ctx, const struct rg_engine_connector *list, size_t n);
	/* Something to persist changed; urgent: a restriction or a verdict (see above). */
	void (*state_changed)(void *ctx, bool urgent);
	/* Each change of the persistent state, in the order it happened (see above). */
	void (*journal)(void *ctx, const struct rg_engine_change *c);
	/* A transaction from host (a host key) was attributed to tenant_id by its SASL login
	 * or client certificate: tag the host so in the kernel (it may already be). */
	int (*host_tag)(void *ctx, const struct rg_cidr *host, uint32_t tenant_id);
};

struct rg_engine;

/*
 * A new engine for cfg (which the caller keeps alive, and frees only after a reconfigure
 * away from it or rg_engine_free). No callback runs yet: load the saved state with
 * rg_state_load() (state.h), which ends with rg_engine_sync(), or call rg_engine_sync()
 * directly when there is no state to load. NULL on allocation failure.
 */
struct rg_engine *rg_engine_new(const struct rg_config *cfg, const struct rg_engine_ops *ops,
				void *ops_ctx);
void rg_engine_free(struct rg_engine *e);
/* Audit log for state changes (NULL: none). The engine does not own it. */
void rg_engine_set_audit(struct rg_engine *e, struct rg_audit *a);

/*
 * Push everything to the kernel side: connectors_sync with the current ids, then every
 * verdict that has not expired (verdict_set); expired ones are dropped and deleted
 * (verdict_del). Monitor mode pushes connectors only. 0 or the first -errno of a callback
 * (all were still tried).
 */
int rg_engine_sync(struct rg_engine *e, uint64_t now_ns);

/*
 * Swap in new_cfg atomically (nothing changes on error: -ENOMEM). Tenants that still exist
 * (same name) keep their id, window, restriction and counts; new tenants get new ids;
 * removed tenants' state is dropped and audited (tenant_removed). Restrictions a monitor-
 * mode run made by limit are dropped when the mode becomes enforce. Calls connectors_sync.
 * The caller frees the old configuration afterwards.
 */
int rg_engine_reconfigure(struct rg_engine *e, const struct rg_config *new_cfg, uint64_t now_ns);
const struct rg_config *rg_engine_config(const struct rg_engine *e);

/*
 * Decide one request. Always fills *out. Returns 0, or -errno when it could not decide
 * (client_address not an address, out of memory): then out->action is DUNNO (fail_mode
 * open or monitor mode) or TEMPFAIL (fail_mode closed) and out->error is set.
 */
int rg_engine_decide(struct rg_engine *e, const struct rg_policy_request *req, uint64_t now_ns,
		     struct rg_decision *out);

/*
 * Every second: expire verdicts (verdict_del, audited verdict_expired), lift restrictions
 * whose block_duration ran out (audited tenant_unblocked), forget old transactions and
 * idle flood counters.
 */
void rg_engine_tick(struct rg_engine *e, uint64_t now_ns);

/*
 * A host the kernel reported over its tenant's limit: conns new connections per per_ns
 * (its estimate over RG_RATE_WINDOW_NS, say). Above the connection_rate_limit of tenant_id
 * (the defaults for 0 or an unknown id), the host is throttled to that limit
 * (gcra.h: interval = period / count, burst = max(count / 10, 1) intervals) for
 * flood_block_time, then the verdict expires and the next sample decides again. A host
 * that already has a verdict is left alone. Returns 1 when it throttled (monitor mode:
 * would have, audited would_throttle), 0 when not, or -errno.
 */
int rg_engine_conn_rate(struct rg_engine *e, const struct rg_cidr *host, uint32_t tenant_id,
			uint64_t conns, uint64_t per_ns, uint64_t now_ns);

/*
 * Operator actions (the control socket). by: who asked ("uid=0 pid=123"), audited.
 * Tenants: 0, -ENOENT (no such tenant). restrict on a restricted tenant: -EALREADY.
 * unblock lifts the restriction (if any) and clears the window: a fresh budget; it also
 * removes the flood blocks (origin flood) of the tenant's hosts, keeping operator
 * verdicts and connection-rate throttles.
 * Hosts/CIDRs: duration_ns 0 = until unblocked. An operator verdict replaces any other
 * for the same target; -ENOSPC when the verdict table (verdict_table_size) is full;
 * -EPERM in monitor mode (it never drops). unblock_host: -ENOENT if no verdict for
 * exactly that target. rate: throttle to rate->count per rate->period_ns.
 */
int rg_engine_restrict_tenant(struct rg_engine *e, const char *name, const char *by,
			      uint64_t now_ns);
int rg_engine_unblock_tenant(struct rg_engine *e, const char *name, const char *by,
			     uint64_t now_ns);
int rg_engine_block_host(struct rg_engine *e, const struct rg_cidr *target, uint64_t duration_ns,
			 const char *by, uint64_t now_ns);
int rg_engine_throttle_host(struct rg_engine *e, const struct rg_cidr *target,
			    const struct rg_rate *rate, uint64_t duration_ns, const char *by,
			    uint64_t now_ns);
int rg_engine_unblock_host(struct rg_engine *e, const struct rg_cidr *target, const char *by,
			   uint64_t now_ns);

/*
 * The fleet (fleet.h). rg_engine_peek: true when req is a new unregistered (or invalid)
 * transaction of a tenant not restricted: the one kind of request whose answer depends
 * on the fleet-wide budget. Nothing is counted; out names the tenant (valid until the next
 * reconfigure) and its limits.
 */
struct rg_engine_peek {
	const char *tenant;
	uint64_t limit, window_ns, block_duration_ns;
};
bool rg_engine_peek(struct rg_engine *e, const struct rg_policy_request *req, uint64_t now_ns,
		    struct rg_engine_peek *out);
/*
 * A change another relay made (RESTRICT, LIFT with the tenant's flood blocks, VERDICT with
 * c->tenant naming the host's tenant or NULL, VERDICT_DEL), applied like a local one:
 * kernel callbacks, journal, audit (by: "fleet:RELAY"). 0, -EALREADY (restricted
 * already), -ENOENT (no such tenant or verdict), -EPERM (monitor mode: no verdicts),
 * -ENOSPC, -EINVAL.
 */
int rg_engine_fleet_apply(struct rg_engine *e, const struct rg_engine_change *c, const char *by,
			  uint64_t now_ns);
/* [fleet]: this relay's id, named as "relay" in every audit event (a remote change's: its
 * origin, rg_engine_fleet_apply's by after "fleet:"). relay_id must outlive e. */
void rg_engine_set_relay(struct rg_engine *e, const char *relay_id);

/* Listings and metrics. */
struct rg_tenant_info {
	const char *name;
	uint32_t id;
	bool restricted;
	bool monitor_only;		/* restricted by the limit while in monitor mode */
	uint64_t since_ns;		/* restricted since (CLOCK_REALTIME) */
	uint64_t until_ns;		/* 0: until an operator unblocks */
	const char *reason;		/* "limit", "operator", or NULL */
	uint64_t unregistered;		/* in the window: the budget's (exact) and, while
					 * restricted, those refused past it (1/60-window) */
	uint64_t budget_used;		/* of the limit: the budget's own, exact */
	uint64_t registered;		/* in the window (approximate: 1/60-window buckets) */
	uint64_t null_sender;		/* in the window (approximate) */
	uint64_t limit;
	uint64_t window_ns;
	enum rg_over_budget over_budget;	/* what its mail gets once restricted */
	uint64_t total_unregistered;	/* since start or reload, all time */
	uint64_t total_registered;
	uint64_t total_null_sender;
	uint64_t total_rejected;
	uint64_t total_by_match[RG_MATCH__COUNT];	/* transactions by how they were attributed */
};

size_t rg_engine_tenant_count(const struct rg_engine *e);
/* idx = tenant index (cfg order). 0 or -ENOENT. now_ns prunes the window first. */
int rg_engine_tenant_info(struct rg_engine *e, size_t idx, uint64_t now_ns,
			  struct rg_tenant_info *out);
/*
 * The top unregistered sender domains and the hosts that sent them (topk.h) of tenant
 * NAME since its budget was last fresh, as "name=count,..." (at most top of each, highest
 * first) into domains and hosts. 0, or -ENOENT (both "").
 */
int rg_engine_tenant_top(const struct rg_engine *e, const char *name, size_t top,
			 char *domains, size_t dlen, char *hosts, size_t hlen);
/* Stable id of tenant NAME (0: not configured). */
uint32_t rg_engine_tenant_id(const struct rg_engine *e, const char *name);
/*
 * The tenant a host (a 16-byte host key) last authenticated as, by SASL login or client
 * certificate, if that tenant is still configured: true and *tenant_id. The agent retags
 * the kernel's hosts with it, over the connectors' tag, after the connectors change.
 */
bool rg_engine_host_tag(const struct rg_engine *e, const uint8_t key[16], uint32_t *tenant_id);

struct rg_engine_counters {
	uint64_t requests;
	uint64_t transactions;			/* counted */
	uint64_t by_reply[RG_REPLY__COUNT];	/* what was answered */
	uint64_t by_class[RG_CLASS__COUNT];	/* per transaction */
	uint64_t would_reject;			/* monitor mode */
	uint64_t would_block;
	uint64_t decide_errors;
	uint64_t restrictions;			/* tenants restricted (limit + operator) */
	uint64_t unblocks;			/* tenants lifted (operator + expiry) */
	uint64_t verdicts_set;			/* by every origin */
	uint64_t verdicts_expired;
	uint64_t verdict_op_failures;		/* verdict_set/del callbacks that failed */
	uint64_t flood_blocks;
	uint64_t conn_rate_throttles;
	uint64_t txn_evictions;			/* transaction table full: oldest dropped */
	uint64_t txn_entries;			/* gauge */
	uint64_t host_tags;			/* gauge: hosts tagged by authentication */
	uint64_t by_match[RG_MATCH__COUNT];	/* transactions by how they were attributed */
	uint64_t verdicts;			/* gauge */
	uint64_t restricted_tenants;		/* gauge */
};

void rg_engine_get_counters(const struct rg_engine *e, struct rg_engine_counters *c);

/* cb returns 0 to go on; anything else stops the walk and is returned. */
typedef int (*rg_engine_verdict_cb)(const struct rg_engine_verdict *v, void *ctx);
int rg_engine_verdict_foreach(const struct rg_engine *e, rg_engine_verdict_cb cb, void *ctx);
/* 0 and *out, or -ENOENT. */
int rg_engine_verdict_get(const struct rg_engine *e, const struct rg_cidr *target,
			  struct rg_engine_verdict *out);

/* Persistence (state_json.c gives it its JSON form, state.c writes it). Bits of what
 * changed since the last mark_saved. */
#define RG_DIRTY_BUDGET 1u
#define RG_DIRTY_URGENT 2u
unsigned rg_engine_dirty(const struct rg_engine *e);
void rg_engine_mark_saved(struct rg_engine *e);

/* The tenant ids (names still remembered after they left the configuration included). */
const struct rg_tenant_ids *rg_engine_ids(const struct rg_engine *e);

/* What of a tenant is saved. */
struct rg_engine_tenant_state {
	bool present;			/* restore: the saved state has this tenant */
	bool restricted, monitor_only;
	const char *reason;		/* static: "limit" or "operator" */
	uint64_t since_ns, until_ns;
	uint64_t *win;			/* restore: window timestamps, sorted, malloc'ed */
	uint32_t nwin;
	struct rg_buckets reg, nul;	/* registered and null-sender counts in the window */
};

/* Tenant idx (cfg order), win left NULL: read it with rg_engine_window_at. 0 or -ENOENT. */
int rg_engine_tenant_state(const struct rg_engine *e, size_t idx,
			   struct rg_engine_tenant_state *out);
/* Timestamp k (0: oldest) of tenant idx's window; k < nwin. */
uint64_t rg_engine_window_at(const struct rg_engine *e, size_t idx, uint32_t k);

/* A saved tenant that is no longer configured (audited as tenant_removed on restore). */
struct rg_engine_removed {
	const char *name;
	bool restricted;
};

struct rg_engine_snapshot {
	const struct rg_tenant_id_pair *ids;
	size_t n_ids;
	uint64_t next_id;
	struct rg_engine_tenant_state *tenants;	/* rg_engine_tenant_count() entries */
	const struct rg_engine_verdict *verdicts;
	size_t n_verdicts;
	const struct rg_engine_removed *removed;
	size_t n_removed;
};

/*
 * Replace the persistent state with s (checked by its reader): ids first, then tenants
 * (their win arrays are taken and set to NULL), then the verdict table. Expired
 * restrictions are lifted, expired verdicts kept for rg_engine_sync to delete. -EBADMSG
 * (logged) when ids repeat or are out of range, or there are more verdicts than
 * verdict_table_size: nothing changed; -ENOMEM.
 */
int rg_engine_restore(struct rg_engine *e, struct rg_engine_snapshot *s, uint64_t now_ns);

/*
 * Replay one journalled change (ops->journal made it) on top of the restored state: no
 * callback runs, no audit is written; rg_engine_sync afterwards pushes the verdicts.
 * A tenant no longer configured is skipped (0). -EINVAL for a change that names no
 * known kind, -ENOSPC when the verdict table is full, -ENOMEM.
 */
int rg_engine_apply(struct rg_engine *e, const struct rg_engine_change *c);

#endif /* RG_CLASSIFY_H */
