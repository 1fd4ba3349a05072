// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * classify.c: the decision engine: tenant (by SASL login, client certificate, then
 * connector: tenant_auth.h), sender domain, registered or not, one count per
 * transaction, the budget, escalation to the kernel, monitor mode.
 *
 * Takes: the configuration in force, policy requests with the caller's CLOCK_REALTIME
 * time, the kernel's connection-rate reports, operator actions and a tick per second.
 * Keeps: per tenant an exact sliding window of unregistered-transaction timestamps (a ring
 * grown lazily up to the limit) and the restriction; per Postfix instance the decision of
 * the transaction (txn_cache.c, so every stage answers the same and counts once); per
 * source host the rejected transactions of the last minute; the verdict table that the
 * kernel mirrors; the tenant ids (tenant_ids.c); the hosts attributed by SASL login or
 * client certificate (host_tags.c), whose kernel tag follows that tenant. Reports: decisions, audit events, kernel
 * callbacks, counters, listings, and its persistent part as plain structures
 * (state_json.c makes the JSON of it, state.c writes it to disk).
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "audit.h"
#include "classify.h"
#include "clock.h"
#include "containers.h"
#include "envelope.h"
#include "gcra.h"
#include "log.h"
#include "policy_proto.h"
#include "host_tags.h"
#include "tenant_ids.h"
#include "topk.h"
#include "txn_cache.h"

#define NSEC 1000000000ULL
#define FLOOD_WINDOW_NS (60 * NSEC)		/* flood_limit counts rejections per minute */
#define CONN_RATE_DEFAULT_HOLD_NS (60 * NSEC)	/* throttle hold when flood_block_time = 0 */
#define HOSTS_MAX 65536				/* flood-tracked hosts */
#define HOST_TAGS_MAX 65536			/* hosts attributed by authentication */
#define VERDICTS_DEFAULT_MAX 65536

/* ---- engine state ------------------------------------------------------------------- */

struct tstate {
	uint32_t id;
	bool restricted;
	bool monitor_only;
	const char *reason;		/* static */
	uint64_t since_ns, until_ns;
	struct rg_ring win;
	struct rg_buckets reg, nul;
	/* Unregistered transactions while restricted: refused (or would be), not in win,
	 * which stops at the limit; fixed memory however long a flood goes on. */
	struct rg_buckets over;
	uint64_t tot_unreg, tot_reg, tot_null, tot_rej;
	uint64_t tot_match[RG_MATCH__COUNT];
	/* The heaviest unregistered sender domains and hosts since the budget was fresh
	 * (for notifications); allocated at the tenant's first unregistered transaction. */
	struct rg_topk *top_dom, *top_host;
};

struct fhost {
	struct rg_hent h;
	struct rg_cidr key;
	struct rg_ring rej;
	uint64_t last_ns;
	uint64_t quiet_block_ns;	/* monitor: would_block reported until then */
	uint64_t quiet_throttle_ns;	/* monitor: would_throttle reported until then */
};

struct vent {
	struct rg_hent h;
	struct rg_engine_verdict v;
};

struct rg_engine {
	const struct rg_config *cfg;
	struct rg_engine_ops ops;
	void *ctx;
	struct rg_audit *audit;
	const char *peer;	/* inside rg_engine_decide: who sent the request */
	const char *relay;	/* [fleet]: the relay whose change this is (audit "relay") */
	const char *self;	/* [fleet]: this relay's id */
	/* Inside rg_engine_decide: how the tenant was found, and the connector's tenant
	 * when a login or certificate named another (audited with what the request causes). */
	enum rg_match match;
	const char *connector_tenant;
	uint64_t seed;

	struct tstate *t;
	size_t nt;
	struct rg_tenant_ids *ids;

	struct rg_txn_cache *txns;

	struct rg_hmap hosts;
	struct rg_hmap verdicts;
	struct rg_host_tags *tags;	/* hosts attributed by SASL login or certificate */

	struct rg_engine_counters c;
	unsigned dirty;
	unsigned notify;
};

static const char *const reply_text[RG_REPLY__COUNT] = {
	[RG_REPLY_DUNNO] = "DUNNO",
	[RG_REPLY_REJECT] = RG_REPLY_REJECT_TEXT,
	[RG_REPLY_TEMPFAIL] = RG_REPLY_TEMPFAIL_TEXT,
	[RG_REPLY_HOLD] = RG_REPLY_HOLD_TEXT,
	[RG_REPLY_DEFER] = RG_REPLY_DEFER_TEXT,
};

const char *rg_action_reply(enum rg_reply r)
{
	return (unsigned)r < RG_REPLY__COUNT ? reply_text[r] : reply_text[RG_REPLY_DUNNO];
}

enum rg_reply rg_over_budget_reply(enum rg_over_budget o)
{
	switch (o) {
	case RG_OVER_HOLD:
		return RG_REPLY_HOLD;
	case RG_OVER_DEFER:
		return RG_REPLY_DEFER;
	default:
		return RG_REPLY_REJECT;
	}
}

bool rg_reply_is_refusal(enum rg_reply r)
{
	return r == RG_REPLY_REJECT || r == RG_REPLY_HOLD || r == RG_REPLY_DEFER;
}

static bool monitor(const struct rg_engine *e)
{
	return e->cfg->mode == RG_MODE_MONITOR;
}

static void mark(struct rg_engine *e, unsigned bits)
{
	e->dirty |= bits;
	e->notify |= bits;
}

/* Callbacks run at the end of each public entry point, when the state is whole again:
 * the agent may save (rg_state_save) from inside state_changed. */
static void flush_notify(struct rg_engine *e)
{
	unsigned bits = e->notify;

	e->notify = 0;
	if (bits && e->ops.state_changed)
		e->ops.state_changed(e->ctx, bits & RG_DIRTY_URGENT);
}

/* An event a policy request caused names who sent it; operator actions name "by". */
static void audit(struct rg_engine *e, struct rg_audit_event *ev)
{
	if (!ev->peer)
		ev->peer = e->peer;
	if (!ev->relay)
		ev->relay = e->relay;
	if (!ev->matched_by && e->match != RG_MATCH_NONE)
		ev->matched_by = rg_match_name(e->match);
	if (!ev->connector_tenant)
		ev->connector_tenant = e->connector_tenant;
	if (e->audit)
		rg_audit_write(e->audit, ev);
}

static void journal(struct rg_engine *e, const struct rg_engine_change *c)
{
	if (e->ops.journal)
		e->ops.journal(e->ctx, c);
}

static void journal_txn(struct rg_engine *e, int tidx, enum rg_class cls, uint64_t now)
{
	struct rg_engine_change c = {
		.kind = RG_CHANGE_TXN, .tenant = e->cfg->tenants[tidx].name, .cls = cls,
		.at_ns = now,
	};

	journal(e, &c);
}

static void journal_verdict(struct rg_engine *e, enum rg_change_kind kind,
			    const struct rg_engine_verdict *v)
{
	struct rg_engine_change c = { .kind = kind, .v = *v };

	journal(e, &c);
}

static const struct rg_limits *limits_of(const struct rg_engine *e, int tidx)
{
	return tidx >= 0 ? &e->cfg->tenants[tidx].limits : &e->cfg->defaults;
}

/* ---- verdicts ----------------------------------------------------------------------- */

static void cidr_norm(const struct rg_cidr *in, struct rg_cidr *out)
{
	*out = *in;
	if (out->prefixlen > 128)
		out->prefixlen = 128;
	rg_addr_mask(out->addr, out->prefixlen);
	out->is_v4 = rg_addr_is_v4(out->addr) && out->prefixlen >= 96;
}

static uint64_t cidr_hash(const struct rg_engine *e, const struct rg_cidr *c)
{
	return rg_fnv1a(rg_fnv1a(e->seed, c->addr, 16), &c->prefixlen, 1);
}

static bool cidr_eq(const struct rg_cidr *a, const struct rg_cidr *b)
{
	return a->prefixlen == b->prefixlen && !memcmp(a->addr, b->addr, 16);
}

static struct vent *vfind(const struct rg_engine *e, const struct rg_cidr *c)
{
	uint64_t h = cidr_hash(e, c);

	for (struct rg_hent *p = rg_hmap_bucket(&e->verdicts, h); p; p = p->next) {
		struct vent *v = rg_container_of(p, struct vent, h);

		if (p->h == h && cidr_eq(&v->v.target, c))
			return v;
	}
	return NULL;
}

static size_t verdicts_max(const struct rg_engine *e)
{
	return e->cfg->verdict_table_size ? e->cfg->verdict_table_size : VERDICTS_DEFAULT_MAX;
}

static void vpush(struct rg_engine *e, const struct rg_engine_verdict *v)
{
	int err;

	if (!e->ops.verdict_set || monitor(e))
		return;
	err = e->ops.verdict_set(e->ctx, &v->target, v->action, v->origin, v->interval_ns,
				 v->burst_ns, v->expires_ns);
	if (err) {
		char buf[RG_ADDR_STRLEN];

		e->c.verdict_op_failures++;
		pr_warn("verdict %s: kernel update failed: %s", rg_cidr_format(&v->target, buf,
			sizeof(buf)), strerror(-err));
	}
}

static void vunpush(struct rg_engine *e, const struct rg_cidr *target)
{
	int err;

	if (!e->ops.verdict_del)
		return;
	err = e->ops.verdict_del(e->ctx, target);
	if (err && err != -ENOENT) {
		char buf[RG_ADDR_STRLEN];

		e->c.verdict_op_failures++;
		pr_warn("verdict %s: kernel delete failed: %s", rg_cidr_format(target, buf,
			sizeof(buf)), strerror(-err));
	}
}

/* Insert or replace in the table only (no callback). */
static int vstore(struct rg_engine *e, const struct rg_engine_verdict *nv)
{
	struct vent *v = vfind(e, &nv->target);

	if (!v) {
		if (e->verdicts.n >= verdicts_max(e))
			return -ENOSPC;
		v = calloc(1, sizeof(*v));
		if (!v)
			return -ENOMEM;
		v->h.h = cidr_hash(e, &nv->target);
		rg_hmap_add(&e->verdicts, &v->h);
	}
	v->v = *nv;
	return 0;
}

static int vset(struct rg_engine *e, const struct rg_engine_verdict *nv)
{
	int err = vstore(e, nv);

	if (err)
		return err;
	e->c.verdicts_set++;
	mark(e, RG_DIRTY_URGENT);
	journal_verdict(e, RG_CHANGE_VERDICT, nv);
	vpush(e, nv);
	return 0;
}

static void vremove(struct rg_engine *e, struct vent *v, bool kernel)
{
	if (kernel)
		vunpush(e, &v->v.target);
	journal_verdict(e, RG_CHANGE_VERDICT_DEL, &v->v);
	rg_hmap_del(&e->verdicts, &v->h);
	free(v);
	mark(e, RG_DIRTY_URGENT);
}

static void vent_drop(struct rg_hent *p)
{
	free(rg_container_of(p, struct vent, h));
}

static void verdicts_free(struct rg_engine *e)
{
	rg_hmap_clear(&e->verdicts, vent_drop);
}

/* ---- flood hosts -------------------------------------------------------------------- */

static struct fhost *host_get(struct rg_engine *e, const struct rg_cidr *key, bool create)
{
	uint64_t h = cidr_hash(e, key);
	struct fhost *f;

	for (struct rg_hent *p = rg_hmap_bucket(&e->hosts, h); p; p = p->next) {
		f = rg_container_of(p, struct fhost, h);
		if (p->h == h && cidr_eq(&f->key, key))
			return f;
	}
	if (!create || e->hosts.n >= HOSTS_MAX)
		return NULL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->h.h = h;
	f->key = *key;
	rg_hmap_add(&e->hosts, &f->h);
	return f;
}

static void host_free(struct rg_engine *e, struct fhost *f)
{
	rg_hmap_del(&e->hosts, &f->h);
	rg_ring_free(&f->rej);
	free(f);
}

static void fhost_drop(struct rg_hent *p)
{
	struct fhost *f = rg_container_of(p, struct fhost, h);

	rg_ring_free(&f->rej);
	free(f);
}

static void hosts_free(struct rg_engine *e)
{
	rg_hmap_clear(&e->hosts, fhost_drop);
}

/* ---- tenants: restrict and lift ----------------------------------------------------- */

static void client_cidr(const uint8_t addr[16], struct rg_cidr *c)
{
	memset(c, 0, sizeof(*c));
	memcpy(c->addr, addr, 16);
	c->prefixlen = 128;
	c->is_v4 = rg_addr_is_v4(addr);
}

static void tenant_restrict(struct rg_engine *e, int tidx, const char *reason, const char *by,
			    const uint8_t *addr, const struct rg_slice *sender, uint64_t now)
{
	struct tstate *t = &e->t[tidx];
	const struct rg_limits *l = limits_of(e, tidx);
	const char *name = e->cfg->tenants[tidx].name;
	struct rg_cidr host;
	struct rg_audit_event ev = {
		.event = "tenant_restricted", .time_ns = now, .monitor = monitor(e),
		.tenant = name, .tenant_id = t->id, .reason = reason, .has_counts = true,
		.count = t->win.n, .limit = l->unregistered_limit,
		.window_ns = l->unregistered_window_ns, .by = by,
		.action = rg_over_budget_name(l->over_budget_action),
	};

	t->restricted = true;
	t->monitor_only = monitor(e) && !by;
	t->reason = reason;
	t->since_ns = now;
	t->until_ns = l->block_duration_ns ? rg_time_after_ns(now, l->block_duration_ns) : 0;
	e->c.restrictions++;
	mark(e, RG_DIRTY_URGENT);
	journal(e, &(struct rg_engine_change){
		.kind = RG_CHANGE_RESTRICT, .tenant = name, .at_ns = now,
		.until_ns = t->until_ns, .monitor_only = t->monitor_only, .reason = reason,
	});
	if (addr) {
		client_cidr(addr, &host);
		ev.host = &host;
	}
	if (sender && sender->p) {
		ev.sender = sender->p;
		ev.sender_len = sender->len;
	}
	ev.expires_ns = t->until_ns;
	audit(e, &ev);
	pr_warn("tenant %s restricted%s: %s (%u unregistered in the window, limit %llu)", name,
		monitor(e) ? " (monitor mode: not enforced)" : "", reason, t->win.n,
		(unsigned long long)l->unregistered_limit);
}

static void tenant_lift(struct rg_engine *e, int tidx, const char *reason, const char *by,
			uint64_t now)
{
	struct tstate *t = &e->t[tidx];
	const struct rg_limits *l = limits_of(e, tidx);
	/* A restriction monitor mode made is lifted as one of monitor mode (on the switch to
	 * enforce too): nothing was enforced, so nothing is notified. */
	struct rg_audit_event ev = {
		.event = "tenant_unblocked", .time_ns = now,
		.monitor = monitor(e) || t->monitor_only,
		.tenant = e->cfg->tenants[tidx].name, .tenant_id = t->id, .reason = reason,
		.has_counts = true, .count = t->win.n, .limit = l->unregistered_limit,
		.window_ns = l->unregistered_window_ns, .by = by,
	};
	bool was = t->restricted;

	/* Lifting a restriction always starts a fresh budget (the window is cleared). */
	rg_ring_clear(&t->win);
	memset(&t->over, 0, sizeof(t->over));
	t->restricted = false;
	t->monitor_only = false;
	t->reason = NULL;
	t->since_ns = t->until_ns = 0;
	mark(e, was ? RG_DIRTY_URGENT : RG_DIRTY_BUDGET);
	journal(e, &(struct rg_engine_change){
		.kind = RG_CHANGE_LIFT, .tenant = e->cfg->tenants[tidx].name,
	});
	if (was)
		e->c.unblocks++;
	audit(e, &ev);
	/* After the audit: a notification of the unblock still lists what led to it. */
	free(t->top_dom);
	free(t->top_host);
	t->top_dom = t->top_host = NULL;
	pr_info("tenant %s %s: %s", e->cfg->tenants[tidx].name,
		was ? "unblocked" : "budget cleared", reason);
}

/* Every unregistered transaction in the window: the budget's and those past it. What
 * `tenants` lists and would_reject reports, so both agree with the transactions counted. */
static uint64_t unreg_in_window(const struct rg_engine *e, int tidx, uint64_t now)
{
	const struct tstate *t = &e->t[tidx];

	return t->win.n + rg_buckets_sum(&t->over, now, limits_of(e, tidx)->unregistered_window_ns);
}

static void lift_if_expired(struct rg_engine *e, int tidx, uint64_t now)
{
	struct tstate *t = &e->t[tidx];

	if (t->restricted && t->until_ns && now >= t->until_ns)
		tenant_lift(e, tidx, "block_duration expired", NULL, now);
}

/* ---- engine lifecycle --------------------------------------------------------------- */

/* Ids for cfg's tenants into ts[].id: 0, or -ENOMEM with nothing changed. */
static int bind_ids(struct rg_engine *e, const struct rg_config *cfg, struct tstate *ts)
{
	uint32_t *ids = calloc(cfg->n_tenants ? cfg->n_tenants : 1, sizeof(*ids));
	int err = ids ? rg_tenant_ids_bind(e->ids, cfg, ids) : -ENOMEM;

	for (size_t i = 0; !err && i < cfg->n_tenants; i++)
		ts[i].id = ids[i];
	free(ids);
	return err;
}

struct rg_engine *rg_engine_new(const struct rg_config *cfg, const struct rg_engine_ops *ops,
				void *ops_ctx)
{
	struct rg_engine *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->cfg = cfg;
	if (ops)
		e->ops = *ops;
	e->ctx = ops_ctx;
	if (getrandom(&e->seed, sizeof(e->seed), GRND_NONBLOCK) != sizeof(e->seed))
		e->seed = (uint64_t)(uintptr_t)e ^ 0x9e3779b97f4a7c15ULL;
	e->nt = cfg->n_tenants;
	e->t = calloc(e->nt ? e->nt : 1, sizeof(*e->t));
	e->ids = rg_tenant_ids_new(e->seed);
	e->txns = rg_txn_cache_new(e->seed);
	e->tags = rg_host_tags_new(HOST_TAGS_MAX, e->seed);
	if (!e->t || !e->ids || !e->txns || !e->tags || rg_hmap_init(&e->hosts, 256) ||
	    rg_hmap_init(&e->verdicts, 256) || bind_ids(e, cfg, e->t)) {
		rg_engine_free(e);
		return NULL;
	}
	return e;
}

static void tenants_free(struct tstate *t, size_t n)
{
	for (size_t i = 0; t && i < n; i++) {
		rg_ring_free(&t[i].win);
		free(t[i].top_dom);
		free(t[i].top_host);
	}
	free(t);
}

void rg_engine_free(struct rg_engine *e)
{
	if (!e)
		return;
	rg_txn_cache_free(e->txns);
	rg_host_tags_free(e->tags);
	hosts_free(e);
	verdicts_free(e);
	tenants_free(e->t, e->nt);
	rg_tenant_ids_free(e->ids);
	rg_hmap_fini(&e->hosts);
	rg_hmap_fini(&e->verdicts);
	free(e);
}

void rg_engine_set_audit(struct rg_engine *e, struct rg_audit *a)
{
	e->audit = a;
}

const struct rg_config *rg_engine_config(const struct rg_engine *e)
{
	return e->cfg;
}

static int connectors_push(struct rg_engine *e)
{
	struct rg_engine_connector *list;
	size_t n = 0, k = 0;
	int err;

	if (!e->ops.connectors_sync)
		return 0;
	for (size_t i = 0; i < e->nt; i++)
		n += e->cfg->tenants[i].n_connectors;
	list = calloc(n ? n : 1, sizeof(*list));
	if (!list)
		return -ENOMEM;
	for (size_t i = 0; i < e->nt; i++) {
		for (size_t j = 0; j < e->cfg->tenants[i].n_connectors; j++) {
			list[k].cidr = e->cfg->tenants[i].connectors[j];
			list[k++].tenant_id = e->t[i].id;
		}
	}
	err = e->ops.connectors_sync(e->ctx, list, k);
	if (err)
		pr_warn("connectors: kernel update failed: %s", strerror(-err));
	free(list);
	return err;
}

static void verdict_expired(struct rg_engine *e, struct vent *v, uint64_t now)
{
	struct rg_audit_event ev = {
		.event = "verdict_expired", .time_ns = now, .host = &v->v.target,
		.action = rg_verdict_action_name(v->v.action),
		.origin = rg_origin_name(v->v.origin), .expires_ns = v->v.expires_ns,
	};

	audit(e, &ev);
	e->c.verdicts_expired++;
	vremove(e, v, true);
}

int rg_engine_sync(struct rg_engine *e, uint64_t now_ns)
{
	int err = connectors_push(e), first = err;
	struct rg_hent *p, *next;

	rg_hmap_foreach(&e->verdicts, p, next) {
		struct vent *v = rg_container_of(p, struct vent, h);

		if (v->v.expires_ns && v->v.expires_ns <= now_ns) {
			verdict_expired(e, v, now_ns);
			continue;
		}
		if (!e->ops.verdict_set || monitor(e))
			continue;
		err = e->ops.verdict_set(e->ctx, &v->v.target, v->v.action, v->v.origin,
					 v->v.interval_ns, v->v.burst_ns, v->v.expires_ns);
		if (err) {
			e->c.verdict_op_failures++;
			if (!first)
				first = err;
		}
	}
	flush_notify(e);
	return first;
}

int rg_engine_reconfigure(struct rg_engine *e, const struct rg_config *ncfg, uint64_t now_ns)
{
	const struct rg_config *ocfg = e->cfg;
	size_t nn = ncfg->n_tenants, added = 0, removed = 0, lifted = 0;
	struct tstate *nts = calloc(nn ? nn : 1, sizeof(*nts));
	uint32_t *nid = calloc(nn ? nn : 1, sizeof(*nid));
	bool was_monitor = monitor(e);
	char detail[128];
	int err = -ENOMEM;

	if (!nts || !nid)
		goto fail;
	/* The only step that can fail: after it nothing does. */
	err = rg_tenant_ids_bind(e->ids, ncfg, nid);
	if (err)
		goto fail;

	for (size_t i = 0; i < nn; i++) {
		int o = rg_config_find_tenant(ocfg, ncfg->tenants[i].name);

		if (o >= 0 && (size_t)o < e->nt) {
			nts[i] = e->t[o];
			memset(&e->t[o].win, 0, sizeof(e->t[o].win));
			e->t[o].top_dom = e->t[o].top_host = NULL;
			e->t[o].id = 0;	/* moved */
			if (ocfg->tenants[o].limits.unregistered_window_ns !=
			    ncfg->tenants[i].limits.unregistered_window_ns) {
				memset(&nts[i].reg, 0, sizeof(nts[i].reg));
				memset(&nts[i].nul, 0, sizeof(nts[i].nul));
			}
		} else {
			added++;
		}
	}
	/* Audit removals while the old configuration still names them. */
	for (size_t o = 0; o < e->nt; o++) {
		struct tstate *t = &e->t[o];
		struct rg_audit_event ev = {
			.event = "tenant_removed", .time_ns = now_ns,
			.tenant = ocfg->tenants[o].name, .reason = "not in the new configuration",
			.has_counts = true, .count = t->win.n,
			.limit = ocfg->tenants[o].limits.unregistered_limit,
			.window_ns = ocfg->tenants[o].limits.unregistered_window_ns,
		};

		if (!t->id)
			continue;
		ev.tenant_id = t->id;
		if (t->restricted) {
			ev.detail = "was restricted";
			pr_warn("tenant %s removed by reload while restricted: restriction dropped",
				ocfg->tenants[o].name);
		}
		audit(e, &ev);
		removed++;
		mark(e, RG_DIRTY_URGENT);
	}
	tenants_free(e->t, e->nt);
	e->t = nts;
	e->nt = nn;
	e->cfg = ncfg;
	for (size_t i = 0; i < nn; i++)
		e->t[i].id = nid[i];
	free(nid);
	if (ocfg->host_prefix_v4 != ncfg->host_prefix_v4 ||
	    ocfg->host_prefix_v6 != ncfg->host_prefix_v6) {
		hosts_free(e);
		rg_host_tags_clear(e->tags);
	}
	/* Restrictions a dry run made by limit do not become real when enforcing starts. */
	if (was_monitor && !monitor(e)) {
		for (size_t i = 0; i < nn; i++) {
			if (e->t[i].restricted && e->t[i].monitor_only) {
				tenant_lift(e, (int)i, "monitor-mode restriction dropped: mode is "
					    "now enforce", NULL, now_ns);
				lifted++;
			}
		}
	}
	snprintf(detail, sizeof(detail), "%zu tenants, %zu added, %zu removed, mode %s", nn,
		 added, removed, monitor(e) ? "monitor" : "enforce");
	{
		struct rg_audit_event ev = { .event = "reload", .time_ns = now_ns, .detail = detail };

		audit(e, &ev);
	}
	pr_info("engine: reconfigured: %s", detail);
	mark(e, RG_DIRTY_URGENT);
	connectors_push(e);	/* a failure is logged; the new configuration is in force */
	flush_notify(e);
	return 0;

fail:
	free(nid);
	free(nts);
	return err;
}

/* ---- decisions ---------------------------------------------------------------------- */

static struct rg_slice attr(const struct rg_policy_req *pr, enum rg_policy_attr_id id)
{
	struct rg_slice s = { pr->known[id], pr->known[id] ? pr->known_len[id] : 0 };

	return s;
}

void rg_policy_request_from(const struct rg_policy_req *pr, struct rg_policy_request *req)
{
	memset(req, 0, sizeof(*req));
	req->client_address = attr(pr, RG_PA_CLIENT_ADDRESS);
	req->sender = attr(pr, RG_PA_SENDER);
	req->instance = attr(pr, RG_PA_INSTANCE);
	req->protocol_state = attr(pr, RG_PA_PROTOCOL_STATE);
	req->recipient = attr(pr, RG_PA_RECIPIENT);
	req->client_name = attr(pr, RG_PA_CLIENT_NAME);
	req->helo_name = attr(pr, RG_PA_HELO_NAME);
	req->sasl_username = attr(pr, RG_PA_SASL_USERNAME);
	req->ccert_subject = attr(pr, RG_PA_CCERT_SUBJECT);
	req->ccert_fingerprint = attr(pr, RG_PA_CCERT_FINGERPRINT);
	req->ccert_pubkey_fingerprint = attr(pr, RG_PA_CCERT_PUBKEY_FINGERPRINT);
	req->peer = pr->peer;
}

static int slice_cstr(const struct rg_slice *s, char *buf, size_t len)
{
	if (!s->p || s->len >= len || memchr(s->p, '\0', s->len))
		return -EINVAL;
	memcpy(buf, s->p, s->len);
	buf[s->len] = '\0';
	return 0;
}

static bool slice_is(const struct rg_slice *s, const char *word)
{
	return s->len == strlen(word) && !strncasecmp(s->p, word, s->len);
}

/* Only stages that carry an envelope are transactions; CONNECT/HELO/EHLO/VRFY/ETRN are
 * answered DUNNO without counting (Postfix sends sender= empty there too). */
static bool envelope_stage(const struct rg_slice *ps)
{
	if (!ps->p || !ps->len)
		return true;
	return slice_is(ps, "MAIL") || slice_is(ps, "RCPT") || slice_is(ps, "DATA") ||
	       slice_is(ps, "END-OF-MESSAGE") || slice_is(ps, "BDAT");
}

static int decide_fail(struct rg_engine *e, struct rg_decision *out, int err, const char *why)
{
	out->error = err;
	out->reason = why;
	e->c.decide_errors++;
	out->action = (monitor(e) || e->cfg->fail_mode == RG_FAIL_OPEN) ? RG_REPLY_DUNNO
									 : RG_REPLY_TEMPFAIL;
	e->c.by_reply[out->action]++;
	flush_notify(e);
	return err;
}

/* A rejected transaction from host addr: more than flood_limit per minute blocks the host
 * in the kernel for flood_block_time (0: flood blocking off). */
static void flood_count(struct rg_engine *e, int tidx, const uint8_t addr[16],
			const struct rg_slice *sender, uint64_t now, struct rg_decision *out)
{
	const struct rg_limits *l = limits_of(e, tidx);
	struct rg_engine_verdict nv = { 0 };
	struct fhost *f;
	struct vent *v;

	if (!l->flood_block_time_ns)
		return;
	rg_host_of(addr, e->cfg->host_prefix_v4, e->cfg->host_prefix_v6, &nv.target);
	f = host_get(e, &nv.target, true);
	if (!f)
		return;
	f->last_ns = now;
	rg_ring_prune(&f->rej, now, FLOOD_WINDOW_NS);
	if (rg_ring_push(&f->rej, now, l->flood_limit + 1))
		return;
	if (f->rej.n <= l->flood_limit)
		return;
	rg_ring_clear(&f->rej);

	struct rg_audit_event ev = {
		.event = "host_blocked", .time_ns = now, .tenant = e->cfg->tenants[tidx].name,
		.tenant_id = e->t[tidx].id, .host = &nv.target, .reason = "flood_limit",
		.has_counts = true, .count = l->flood_limit + 1, .limit = l->flood_limit,
		.window_ns = FLOOD_WINDOW_NS, .sender = sender->p, .sender_len = sender->len,
		.action = "block", .origin = "flood", .expires_ns = rg_time_after_ns(now, l->flood_block_time_ns),
	};

	if (monitor(e)) {
		if (now < f->quiet_block_ns)
			return;
		f->quiet_block_ns = rg_time_after_ns(now, l->flood_block_time_ns);
		e->c.would_block++;
		out->host_blocked = true;
		ev.event = "would_block";
		ev.monitor = true;
		audit(e, &ev);
		return;
	}
	v = vfind(e, &nv.target);
	/* An operator's verdict or a block already there stays as it is. */
	if (v && (v->v.origin == RG_ORIGIN_OPERATOR || v->v.action == RG_ACT_BLOCK) &&
	    (!v->v.expires_ns || v->v.expires_ns > now))
		return;
	nv.action = RG_ACT_BLOCK;
	nv.origin = RG_ORIGIN_FLOOD;
	nv.since_ns = now;
	nv.expires_ns = rg_time_after_ns(now, l->flood_block_time_ns);
	nv.tenant_id = e->t[tidx].id;
	if (vset(e, &nv)) {
		pr_warn("flood: cannot block a host of tenant %s: verdict table full",
			e->cfg->tenants[tidx].name);
		return;
	}
	e->c.flood_blocks++;
	out->host_blocked = true;
	audit(e, &ev);
	{
		char buf[RG_ADDR_STRLEN];

		pr_warn("host %s of tenant %s blocked for flooding (over %llu rejected per minute)",
			rg_cidr_format(&nv.target, buf, sizeof(buf)), e->cfg->tenants[tidx].name,
			(unsigned long long)l->flood_limit);
	}
}

/* The sender domain (when it has one) and the host of an unregistered transaction into
 * the tenant's top lists. Out of memory only costs the lists. */
static void top_count(struct rg_engine *e, struct tstate *t, const uint8_t addr[16],
		      const char *domain)
{
	char buf[RG_ADDR_STRLEN];
	struct rg_cidr h;

	if (!t->top_dom)
		t->top_dom = calloc(1, sizeof(*t->top_dom));
	if (!t->top_host)
		t->top_host = calloc(1, sizeof(*t->top_host));
	if (t->top_dom && *domain)
		rg_topk_add(t->top_dom, domain, strlen(domain));
	if (t->top_host) {
		rg_host_of(addr, e->cfg->host_prefix_v4, e->cfg->host_prefix_v6, &h);
		rg_cidr_format(&h, buf, sizeof(buf));
		rg_topk_add(t->top_host, buf, strlen(buf));
	}
}

/* Rule 5 for one new unregistered (or invalid) transaction of tenant tidx. */
static int unregistered(struct rg_engine *e, int tidx, const uint8_t addr[16],
			const struct rg_slice *sender, uint64_t now, struct rg_decision *out,
			enum rg_reply *action)
{
	struct tstate *t = &e->t[tidx];
	const struct rg_limits *l = limits_of(e, tidx);
	int err;

	t->tot_unreg++;
	top_count(e, t, addr, out->domain);
	lift_if_expired(e, tidx, now);
	if (!t->restricted) {
		rg_ring_prune(&t->win, now, l->unregistered_window_ns);
		if (t->win.n < l->unregistered_limit) {
			err = rg_ring_push(&t->win, now, l->unregistered_limit);
			if (err)
				return err;
			mark(e, RG_DIRTY_BUDGET);
			journal_txn(e, tidx, out->cls, now);
			*action = RG_REPLY_DUNNO;
			return 0;
		}
		tenant_restrict(e, tidx, "limit", NULL, addr, sender, now);
		out->restricted_now = true;
	}
	t->tot_rej++;
	rg_buckets_add(&t->over, now, l->unregistered_window_ns);
	*action = rg_over_budget_reply(l->over_budget_action);
	flood_count(e, tidx, addr, sender, now, out);
	return 0;
}

/*
 * The tenant of a request, first match wins: SASL login, certificate fingerprint, then
 * subject (tenant_auth.h), then the connector that holds the address. A login or
 * certificate that names another tenant than the connector wins, and the connector's
 * tenant is kept for the audit log (*connector_tenant, else NULL). Returns the tenant
 * index or -1 (*m RG_MATCH_NONE).
 */
static int attribute(struct rg_engine *e, const struct rg_policy_request *req,
		     const uint8_t addr[16], enum rg_match *m, const char **connector_tenant)
{
	const struct rg_auth_query q = {
		req->sasl_username.p, req->sasl_username.len,
		req->ccert_fingerprint.p, req->ccert_fingerprint.len,
		req->ccert_pubkey_fingerprint.p, req->ccert_pubkey_fingerprint.len,
		req->ccert_subject.p, req->ccert_subject.len,
	};
	uint32_t conn = 0, auth = 0;
	bool by_conn = rg_lpm_lookup(e->cfg->connectors, addr, &conn) && conn < e->nt;

	*connector_tenant = NULL;
	*m = rg_tenant_auth_match(e->cfg->auth, &q, &auth);
	if (*m != RG_MATCH_NONE && auth < e->nt) {
		if (by_conn && conn != auth)
			*connector_tenant = e->cfg->tenants[conn].name;
		return (int)auth;
	}
	if (by_conn) {
		*m = RG_MATCH_CONNECTOR;
		return (int)conn;
	}
	*m = RG_MATCH_NONE;
	return -1;
}

/* A counted transaction attributed by login or certificate: the host carries that tenant
 * in the kernel (its connection-rate limit, listings, bpftool), retagged on every such
 * transaction since the kernel's entry may have been evicted and made again from the
 * connectors. A host new to the table, or moving tenant, is audited once. */
static void tag_host(struct rg_engine *e, int tidx, const uint8_t addr[16], uint64_t now)
{
	struct rg_cidr host;
	uint32_t prev = 0;
	int r;

	rg_host_of(addr, e->cfg->host_prefix_v4, e->cfg->host_prefix_v6, &host);
	r = rg_host_tags_set(e->tags, host.addr, e->t[tidx].id, e->match, &prev);
	if (r > 0) {
		int pidx = prev ? rg_tenant_ids_index(e->ids, prev) : -1;
		char detail[RG_TENANT_NAME_MAX + 32];
		struct rg_audit_event ev = {
			.event = "host_attributed", .time_ns = now,
			.tenant = e->cfg->tenants[tidx].name, .tenant_id = e->t[tidx].id,
			.host = &host,
		};

		if (pidx >= 0) {
			snprintf(detail, sizeof(detail), "was tenant %s", e->cfg->tenants[pidx].name);
			ev.detail = detail;
		}
		audit(e, &ev);
	}
	if (e->ops.host_tag)
		e->ops.host_tag(e->ctx, &host, e->t[tidx].id);
}

/* What a request is before anything is counted: its client, tenant, envelope, the
 * transaction's earlier answer and the class a new transaction gets. decide() and
 * rg_engine_peek() both start here. */
struct req_view {
	uint8_t addr[16];
	uint32_t tidx;
	int tenant;			/* -1: unassigned */
	enum rg_match match;		/* how the tenant was found */
	const char *connector_tenant;	/* the connector's, when a login or certificate won */
	bool stage;			/* an envelope stage: the sender matters */
	bool have_inst;
	struct rg_envelope env;
	const struct rg_txn_answer *tx;	/* this transaction's earlier answer, or NULL */
	enum rg_class cls;		/* of a new transaction */
};

static int view_request(struct rg_engine *e, const struct rg_policy_request *req,
			uint64_t now_ns, struct req_view *v)
{
	char abuf[RG_ADDR_STRLEN];

	memset(v, 0, sizeof(*v));
	v->tenant = -1;
	if (slice_cstr(&req->client_address, abuf, sizeof(abuf)) ||
	    rg_addr_parse(abuf, v->addr, NULL))
		return -EINVAL;
	v->tenant = attribute(e, req, v->addr, &v->match, &v->connector_tenant);
	if (v->tenant >= 0)
		v->tidx = (uint32_t)v->tenant;
	v->stage = envelope_stage(&req->protocol_state);
	if (!v->stage)
		return 0;
	rg_envelope_from_sender(req->sender.p ? req->sender.p : "", req->sender.len, &v->env);
	v->have_inst = req->instance.p && req->instance.len;
	if (v->have_inst)
		v->tx = rg_txn_cache_find(e->txns, &req->instance, v->addr, &req->sender, now_ns);
	if (v->tenant < 0)
		v->cls = RG_CLASS_UNASSIGNED;
	else if (v->env.status == RG_ENV_NULL)
		v->cls = RG_CLASS_NULL_SENDER;
	else if (v->env.status == RG_ENV_OK &&
		 rg_domains_match(e->cfg->domains, v->tidx, v->env.domain, v->env.domain_len))
		v->cls = RG_CLASS_REGISTERED;
	else
		v->cls = v->env.status == RG_ENV_OK ? RG_CLASS_UNREGISTERED : RG_CLASS_INVALID;
	return 0;
}

bool rg_engine_peek(struct rg_engine *e, const struct rg_policy_request *req, uint64_t now_ns,
		    struct rg_engine_peek *out)
{
	struct req_view v;
	const struct rg_limits *l;

	memset(out, 0, sizeof(*out));
	if (view_request(e, req, now_ns, &v) || !v.stage || v.tenant < 0 ||
	    (v.cls != RG_CLASS_UNREGISTERED && v.cls != RG_CLASS_INVALID))
		return false;
	if (v.tx && v.tx->tenant_id == e->t[v.tidx].id)
		return false;		/* a later stage: answered as before */
	lift_if_expired(e, v.tenant, now_ns);
	if (e->t[v.tidx].restricted)
		return false;
	l = limits_of(e, v.tenant);
	out->tenant = e->cfg->tenants[v.tidx].name;
	out->limit = l->unregistered_limit;
	out->window_ns = l->unregistered_window_ns;
	out->block_duration_ns = l->block_duration_ns;
	return true;
}

static int decide(struct rg_engine *e, const struct rg_policy_request *req, uint64_t now_ns,
		  struct rg_decision *out)
{
	enum rg_reply action = RG_REPLY_DUNNO;
	struct req_view v;
	uint32_t tidx;
	int tenant;
	bool have_inst;
	const struct rg_txn_answer *tx;
	int err;

	memset(out, 0, sizeof(*out));
	out->tenant = -1;
	e->c.requests++;
	if (view_request(e, req, now_ns, &v))
		return decide_fail(e, out, -EINVAL, "client_address is not an IP address");
	tidx = v.tidx;
	tenant = v.tenant;
	e->match = v.match;
	e->connector_tenant = v.connector_tenant;
	if (tenant >= 0) {
		out->tenant = tenant;
		out->tenant_name = e->cfg->tenants[tidx].name;
		out->tenant_id = e->t[tidx].id;
		out->matched_by = v.match;
		out->connector_tenant = v.connector_tenant;
	}
	if (!v.stage) {
		out->cls = RG_CLASS_NONE;
		goto answer;
	}
	if (v.env.status == RG_ENV_OK)
		memcpy(out->domain, v.env.domain, v.env.domain_len + 1);

	have_inst = v.have_inst;
	tx = v.tx;
	if (tx && tx->tenant_id == out->tenant_id) {
		out->cached = true;
		out->cls = tx->cls;
		out->reason = tx->reason;
		action = tx->action;
		goto answer;
	}
	if (tx)		/* the client moved tenant by a reload: a new transaction */
		rg_txn_cache_forget(e->txns, tx);

	out->counted = true;
	e->c.transactions++;
	out->cls = v.cls;
	if (v.cls == RG_CLASS_NULL_SENDER) {
		e->t[tidx].tot_null++;
		rg_buckets_add(&e->t[tidx].nul, now_ns, limits_of(e, tenant)->unregistered_window_ns);
		mark(e, RG_DIRTY_BUDGET);
		journal_txn(e, tenant, out->cls, now_ns);
	} else if (v.cls == RG_CLASS_REGISTERED) {
		e->t[tidx].tot_reg++;
		rg_buckets_add(&e->t[tidx].reg, now_ns, limits_of(e, tenant)->unregistered_window_ns);
		mark(e, RG_DIRTY_BUDGET);
		journal_txn(e, tenant, out->cls, now_ns);
	} else if (v.cls != RG_CLASS_UNASSIGNED) {
		out->reason = v.env.status == RG_ENV_OK ? "unregistered" : v.env.reason;
		err = unregistered(e, tenant, v.addr, &req->sender, now_ns, out, &action);
		if (err) {
			e->c.transactions--;
			out->counted = false;
			return decide_fail(e, out, err, "out of memory");
		}
	}
	e->c.by_class[out->cls]++;
	e->c.by_match[out->matched_by]++;
	if (tenant >= 0) {
		e->t[tidx].tot_match[out->matched_by]++;
		if (out->matched_by != RG_MATCH_CONNECTOR)
			tag_host(e, tenant, v.addr, now_ns);
	}
	if (have_inst) {
		struct rg_txn_answer a = { out->tenant_id, action, out->cls, out->reason };

		if (rg_txn_cache_remember(e->txns, &req->instance, v.addr, &req->sender, &a,
					  now_ns) > 0)
			e->c.txn_evictions++;
	}

	if (monitor(e) && rg_reply_is_refusal(action)) {
		const struct rg_limits *l = limits_of(e, tenant);
		struct rg_cidr host;
		struct rg_audit_event ev = {
			.event = "would_reject", .time_ns = now_ns, .monitor = true,
			.tenant = out->tenant_name, .tenant_id = out->tenant_id, .host = &host,
			.reason = out->reason, .has_counts = true,
			.count = unreg_in_window(e, (int)tidx, now_ns),
			.limit = l->unregistered_limit, .window_ns = l->unregistered_window_ns,
			.sender = req->sender.p, .sender_len = req->sender.len,
		};

		client_cidr(v.addr, &host);
		e->c.would_reject++;
		audit(e, &ev);
	}
answer:
	if (monitor(e) && rg_reply_is_refusal(action)) {
		out->would_reject = true;
		action = RG_REPLY_DUNNO;
	}
	out->action = action;
	e->c.by_reply[action]++;
	flush_notify(e);
	return 0;
}

int rg_engine_decide(struct rg_engine *e, const struct rg_policy_request *req, uint64_t now_ns,
		     struct rg_decision *out)
{
	int err;

	e->peer = req->peer;
	err = decide(e, req, now_ns, out);
	e->peer = NULL;
	e->match = RG_MATCH_NONE;
	e->connector_tenant = NULL;
	return err;
}

/* ---- time passing ------------------------------------------------------------------- */

void rg_engine_tick(struct rg_engine *e, uint64_t now_ns)
{
	struct rg_hent *p, *next;

	rg_hmap_foreach(&e->verdicts, p, next) {
		struct vent *v = rg_container_of(p, struct vent, h);

		if (v->v.expires_ns && v->v.expires_ns <= now_ns)
			verdict_expired(e, v, now_ns);
	}
	for (size_t i = 0; i < e->nt; i++)
		lift_if_expired(e, (int)i, now_ns);
	rg_txn_cache_expire(e->txns, now_ns);
	rg_hmap_foreach(&e->hosts, p, next) {
		struct fhost *f = rg_container_of(p, struct fhost, h);

		if (f->last_ns + FLOOD_WINDOW_NS <= now_ns && f->quiet_block_ns <= now_ns &&
		    f->quiet_throttle_ns <= now_ns)
			host_free(e, f);
	}
	flush_notify(e);
}

int rg_engine_conn_rate(struct rg_engine *e, const struct rg_cidr *host, uint32_t tenant_id,
			uint64_t conns, uint64_t per_ns, uint64_t now_ns)
{
	int tidx = rg_tenant_ids_index(e->ids, tenant_id);
	const struct rg_limits *l = limits_of(e, tidx);
	const struct rg_rate *r = &l->connection_rate_limit;
	struct rg_engine_verdict nv = { 0 };
	uint64_t hold = l->flood_block_time_ns ? l->flood_block_time_ns : CONN_RATE_DEFAULT_HOLD_NS;
	char detail[96], b1[16], b2[16];
	struct fhost *f;

	if (!r->count || !r->period_ns || !per_ns)
		return 0;
	/* conns / per_ns > count / period_ns, without division. */
	if ((unsigned __int128)conns * r->period_ns <= (unsigned __int128)r->count * per_ns)
		return 0;
	cidr_norm(host, &nv.target);
	if (vfind(e, &nv.target))
		return 0;
	nv.action = RG_ACT_THROTTLE;
	nv.origin = RG_ORIGIN_CONN_RATE;
	{
		struct rg_gcra g;

		rg_gcra_from_rate(r, &g);	/* count and period checked above */
		nv.interval_ns = g.interval_ns;
		nv.burst_ns = g.burst_ns;
	}
	nv.since_ns = now_ns;
	nv.expires_ns = rg_time_after_ns(now_ns, hold);
	nv.tenant_id = tidx >= 0 ? tenant_id : 0;
	snprintf(detail, sizeof(detail), "measured %llu/%s, limit %llu/%s",
		 (unsigned long long)conns, rg_format_duration(per_ns, b1, sizeof(b1)),
		 (unsigned long long)r->count, rg_format_duration(r->period_ns, b2, sizeof(b2)));

	struct rg_audit_event ev = {
		.event = "host_throttled", .time_ns = now_ns,
		.tenant = tidx >= 0 ? e->cfg->tenants[tidx].name : NULL, .tenant_id = nv.tenant_id,
		.host = &nv.target, .reason = "connection_rate_limit", .action = "throttle",
		.origin = "conn_rate", .expires_ns = nv.expires_ns, .interval_ns = nv.interval_ns,
		.burst_ns = nv.burst_ns, .detail = detail,
	};

	if (monitor(e)) {
		f = host_get(e, &nv.target, true);
		if (f && now_ns < f->quiet_throttle_ns)
			return 0;
		if (f) {
			f->quiet_throttle_ns = nv.expires_ns;
			f->last_ns = now_ns;
		}
		e->c.would_block++;
		ev.event = "would_throttle";
		ev.monitor = true;
		audit(e, &ev);
		return 1;
	}
	if (vset(e, &nv)) {
		pr_warn("conn_rate: cannot throttle a host: verdict table full");
		flush_notify(e);
		return -ENOSPC;
	}
	e->c.conn_rate_throttles++;
	audit(e, &ev);
	flush_notify(e);
	return 1;
}

/* ---- operator actions --------------------------------------------------------------- */

int rg_engine_restrict_tenant(struct rg_engine *e, const char *name, const char *by,
			      uint64_t now_ns)
{
	int tidx = rg_config_find_tenant(e->cfg, name);

	if (tidx < 0 || (size_t)tidx >= e->nt)
		return -ENOENT;
	lift_if_expired(e, tidx, now_ns);
	if (e->t[tidx].restricted) {
		flush_notify(e);
		return -EALREADY;
	}
	tenant_restrict(e, tidx, "operator", by ? by : "operator", NULL, NULL, now_ns);
	flush_notify(e);
	return 0;
}

/* The blocks the restriction caused (origin flood, tagged with the tenant) go with it;
 * operator verdicts and connection-rate throttles are about the host, not the budget. */
static void lift_flood_blocks(struct rg_engine *e, int tidx, const char *by, uint64_t now)
{
	struct rg_hent *p, *next;

	rg_hmap_foreach(&e->verdicts, p, next) {
		struct vent *v = rg_container_of(p, struct vent, h);
		struct rg_audit_event ev = {
			.event = "host_unblocked", .time_ns = now, .host = &v->v.target,
			.tenant = e->cfg->tenants[tidx].name, .tenant_id = e->t[tidx].id,
			.reason = "tenant unblocked", .by = by,
			.action = rg_verdict_action_name(v->v.action),
			.origin = rg_origin_name(v->v.origin),
		};

		if (v->v.origin != RG_ORIGIN_FLOOD || v->v.tenant_id != e->t[tidx].id)
			continue;
		audit(e, &ev);
		vremove(e, v, true);
	}
}

int rg_engine_unblock_tenant(struct rg_engine *e, const char *name, const char *by,
			     uint64_t now_ns)
{
	int tidx = rg_config_find_tenant(e->cfg, name);

	if (tidx < 0 || (size_t)tidx >= e->nt)
		return -ENOENT;
	lift_flood_blocks(e, tidx, by ? by : "operator", now_ns);
	tenant_lift(e, tidx, "operator", by ? by : "operator", now_ns);
	flush_notify(e);
	return 0;
}

static int operator_verdict(struct rg_engine *e, const struct rg_cidr *target,
			    enum rg_action action, const struct rg_gcra *g, uint64_t duration_ns,
			    const char *by, uint64_t now_ns)
{
	struct rg_engine_verdict nv = { 0 };
	struct rg_audit_event ev = { .time_ns = now_ns, .reason = "operator", .by = by,
				     .origin = "operator" };
	int err;

	cidr_norm(target, &nv.target);
	ev.host = &nv.target;
	ev.action = rg_verdict_action_name(action);
	ev.event = action == RG_ACT_BLOCK ? "host_blocked" : "host_throttled";
	if (monitor(e)) {
		ev.event = action == RG_ACT_BLOCK ? "would_block" : "would_throttle";
		ev.monitor = true;
		ev.detail = "refused: monitor mode never drops";
		audit(e, &ev);
		return -EPERM;
	}
	nv.action = action;
	nv.origin = RG_ORIGIN_OPERATOR;
	nv.interval_ns = g ? g->interval_ns : 0;
	nv.burst_ns = g ? g->burst_ns : 0;
	nv.since_ns = now_ns;
	nv.expires_ns = duration_ns ? rg_time_after_ns(now_ns, duration_ns) : 0;
	snprintf(nv.by, sizeof(nv.by), "%s", by ? by : "operator");
	err = vset(e, &nv);
	if (!err) {
		ev.expires_ns = nv.expires_ns;
		ev.interval_ns = nv.interval_ns;
		ev.burst_ns = nv.burst_ns;
		audit(e, &ev);
	}
	flush_notify(e);
	return err;
}

int rg_engine_block_host(struct rg_engine *e, const struct rg_cidr *target, uint64_t duration_ns,
			 const char *by, uint64_t now_ns)
{
	return operator_verdict(e, target, RG_ACT_BLOCK, NULL, duration_ns, by, now_ns);
}

int rg_engine_throttle_host(struct rg_engine *e, const struct rg_cidr *target,
			    const struct rg_rate *rate, uint64_t duration_ns, const char *by,
			    uint64_t now_ns)
{
	struct rg_gcra g;

	if (!rate || rg_gcra_from_rate(rate, &g))
		return -EINVAL;
	return operator_verdict(e, target, RG_ACT_THROTTLE, &g, duration_ns, by, now_ns);
}

int rg_engine_unblock_host(struct rg_engine *e, const struct rg_cidr *target, const char *by,
			   uint64_t now_ns)
{
	struct rg_cidr key;
	struct vent *v;
	struct fhost *f;

	cidr_norm(target, &key);
	f = host_get(e, &key, false);
	if (f)
		host_free(e, f);
	v = vfind(e, &key);
	if (!v)
		return -ENOENT;

	struct rg_audit_event ev = {
		.event = "host_unblocked", .time_ns = now_ns, .host = &key, .reason = "operator",
		.by = by ? by : "operator", .action = rg_verdict_action_name(v->v.action),
		.origin = rg_origin_name(v->v.origin),
	};

	audit(e, &ev);
	vremove(e, v, true);
	flush_notify(e);
	return 0;
}

/* ---- the fleet ------------------------------------------------------------------------ */

static int engine_fleet_apply(struct rg_engine *e, const struct rg_engine_change *c,
			      const char *by, uint64_t now_ns);

void rg_engine_set_relay(struct rg_engine *e, const char *relay_id)
{
	e->self = e->relay = relay_id;
}

int rg_engine_fleet_apply(struct rg_engine *e, const struct rg_engine_change *c, const char *by,
			  uint64_t now_ns)
{
	int err = engine_fleet_apply(e, c, by, now_ns);

	e->relay = e->self;
	return err;
}

static int engine_fleet_apply(struct rg_engine *e, const struct rg_engine_change *c,
			      const char *by, uint64_t now_ns)
{
	int tidx = c->tenant ? rg_config_find_tenant(e->cfg, c->tenant) : -1;
	struct rg_engine_verdict nv;
	struct vent *v;
	int err = 0;

	if (by && !strncmp(by, "fleet:", 6))
		e->relay = by + 6;
	if (tidx >= 0 && (size_t)tidx >= e->nt)
		tidx = -1;
	switch (c->kind) {
	case RG_CHANGE_RESTRICT:
		if (tidx < 0)
			return -ENOENT;
		lift_if_expired(e, tidx, now_ns);
		if (e->t[tidx].restricted) {
			err = -EALREADY;
			break;
		}
		/* The reason is kept as a pointer: one of the static names. */
		tenant_restrict(e, tidx, c->reason && !strcmp(c->reason, "operator") ? "operator"
										      : "limit",
				by, NULL, NULL, now_ns);
		break;
	case RG_CHANGE_LIFT:
		if (tidx < 0)
			return -ENOENT;
		lift_flood_blocks(e, tidx, by, now_ns);
		tenant_lift(e, tidx, "fleet", by, now_ns);
		break;
	case RG_CHANGE_VERDICT: {
		struct rg_audit_event ev = { .time_ns = now_ns, .by = by };

		if (monitor(e))
			return -EPERM;
		nv = c->v;
		cidr_norm(&c->v.target, &nv.target);
		nv.tenant_id = tidx >= 0 ? e->t[tidx].id : 0;
		if (nv.expires_ns && nv.expires_ns <= now_ns)
			return 0;	/* expired on the way */
		err = vset(e, &nv);
		if (err)
			break;
		ev.event = nv.action == RG_ACT_BLOCK ? "host_blocked" : "host_throttled";
		ev.host = &nv.target;
		ev.tenant = tidx >= 0 ? e->cfg->tenants[tidx].name : NULL;
		ev.tenant_id = nv.tenant_id;
		ev.reason = "fleet";
		ev.action = rg_verdict_action_name(nv.action);
		ev.origin = rg_origin_name(nv.origin);
		ev.expires_ns = nv.expires_ns;
		ev.interval_ns = nv.interval_ns;
		ev.burst_ns = nv.burst_ns;
		audit(e, &ev);
		break;
	}
	case RG_CHANGE_VERDICT_DEL: {
		struct rg_cidr key;

		cidr_norm(&c->v.target, &key);
		v = vfind(e, &key);
		if (!v)
			return -ENOENT;
		struct rg_audit_event ev = {
			.event = "host_unblocked", .time_ns = now_ns, .host = &key,
			.reason = "fleet", .by = by, .action = rg_verdict_action_name(v->v.action),
			.origin = rg_origin_name(v->v.origin),
		};

		audit(e, &ev);
		vremove(e, v, true);
		break;
	}
	default:
		return -EINVAL;
	}
	flush_notify(e);
	return err;
}

/* ---- listings ----------------------------------------------------------------------- */

size_t rg_engine_tenant_count(const struct rg_engine *e)
{
	return e->nt;
}

bool rg_engine_host_tag(const struct rg_engine *e, const uint8_t key[16], uint32_t *tenant_id)
{
	uint32_t id;

	if (!rg_host_tags_get(e->tags, key, &id, NULL) || rg_tenant_ids_index(e->ids, id) < 0)
		return false;
	*tenant_id = id;
	return true;
}

int rg_engine_tenant_top(const struct rg_engine *e, const char *name, size_t top,
			 char *domains, size_t dlen, char *hosts, size_t hlen)
{
	int idx = name ? rg_config_find_tenant(e->cfg, name) : -1;

	if (dlen)
		domains[0] = '\0';
	if (hlen)
		hosts[0] = '\0';
	if (idx < 0 || (size_t)idx >= e->nt)
		return -ENOENT;
	rg_topk_format(e->t[idx].top_dom, top, domains, dlen);
	rg_topk_format(e->t[idx].top_host, top, hosts, hlen);
	return 0;
}

uint32_t rg_engine_tenant_id(const struct rg_engine *e, const char *name)
{
	uint32_t id = rg_tenant_ids_of(e->ids, name);

	return rg_tenant_ids_index(e->ids, id) >= 0 ? id : 0;
}

int rg_engine_tenant_info(struct rg_engine *e, size_t idx, uint64_t now_ns,
			  struct rg_tenant_info *out)
{
	const struct rg_limits *l;
	struct tstate *t;

	if (idx >= e->nt)
		return -ENOENT;
	t = &e->t[idx];
	l = limits_of(e, (int)idx);
	lift_if_expired(e, (int)idx, now_ns);
	if (!t->restricted)
		rg_ring_prune(&t->win, now_ns, l->unregistered_window_ns);
	memset(out, 0, sizeof(*out));
	out->name = e->cfg->tenants[idx].name;
	out->id = t->id;
	out->restricted = t->restricted;
	out->monitor_only = t->monitor_only;
	out->since_ns = t->since_ns;
	out->until_ns = t->until_ns;
	out->reason = t->reason;
	out->unregistered = unreg_in_window(e, (int)idx, now_ns);
	out->budget_used = t->win.n;
	out->registered = rg_buckets_sum(&t->reg, now_ns, l->unregistered_window_ns);
	out->null_sender = rg_buckets_sum(&t->nul, now_ns, l->unregistered_window_ns);
	out->limit = l->unregistered_limit;
	out->window_ns = l->unregistered_window_ns;
	out->over_budget = l->over_budget_action;
	out->total_unregistered = t->tot_unreg;
	out->total_registered = t->tot_reg;
	out->total_null_sender = t->tot_null;
	out->total_rejected = t->tot_rej;
	memcpy(out->total_by_match, t->tot_match, sizeof(out->total_by_match));
	flush_notify(e);
	return 0;
}

void rg_engine_get_counters(const struct rg_engine *e, struct rg_engine_counters *c)
{
	*c = e->c;
	c->txn_entries = rg_txn_cache_count(e->txns);
	c->verdicts = e->verdicts.n;
	c->host_tags = rg_host_tags_count(e->tags);
	c->restricted_tenants = 0;
	for (size_t i = 0; i < e->nt; i++)
		c->restricted_tenants += e->t[i].restricted;
}

int rg_engine_verdict_foreach(const struct rg_engine *e, rg_engine_verdict_cb cb, void *ctx)
{
	struct rg_hent *p, *next;

	rg_hmap_foreach(&e->verdicts, p, next) {
		int r = cb(&rg_container_of(p, struct vent, h)->v, ctx);

		if (r)
			return r;
	}
	return 0;
}

int rg_engine_verdict_get(const struct rg_engine *e, const struct rg_cidr *target,
			  struct rg_engine_verdict *out)
{
	struct rg_cidr key;
	struct vent *v;

	cidr_norm(target, &key);
	v = vfind(e, &key);
	if (!v)
		return -ENOENT;
	*out = v->v;
	return 0;
}

unsigned rg_engine_dirty(const struct rg_engine *e)
{
	return e->dirty;
}

void rg_engine_mark_saved(struct rg_engine *e)
{
	e->dirty = 0;
}


/* ---- persistent part ---------------------------------------------------------------- */

const struct rg_tenant_ids *rg_engine_ids(const struct rg_engine *e)
{
	return e->ids;
}

int rg_engine_tenant_state(const struct rg_engine *e, size_t idx,
			   struct rg_engine_tenant_state *out)
{
	const struct tstate *t;

	if (idx >= e->nt)
		return -ENOENT;
	t = &e->t[idx];
	memset(out, 0, sizeof(*out));
	out->present = true;
	out->restricted = t->restricted;
	out->monitor_only = t->monitor_only;
	out->reason = t->reason ? t->reason : "limit";
	out->since_ns = t->since_ns;
	out->until_ns = t->until_ns;
	out->nwin = t->win.n;
	out->reg = t->reg;
	out->nul = t->nul;
	return 0;
}

uint64_t rg_engine_window_at(const struct rg_engine *e, size_t idx, uint32_t k)
{
	return rg_ring_at(&e->t[idx].win, k);
}

static void restore_tenant(struct tstate *t, struct rg_engine_tenant_state *ts)
{
	rg_ring_adopt(&t->win, ts->win, ts->nwin);
	ts->win = NULL;
	t->reg = ts->reg;
	t->nul = ts->nul;
	t->restricted = ts->restricted;
	t->monitor_only = ts->restricted && ts->monitor_only;
	t->reason = ts->restricted ? ts->reason : NULL;
	t->since_ns = ts->restricted ? ts->since_ns : 0;
	t->until_ns = ts->restricted ? ts->until_ns : 0;
}

static void audit_removed(struct rg_engine *e, const struct rg_engine_removed *r, uint64_t now)
{
	struct rg_audit_event ev = {
		.event = "tenant_removed", .time_ns = now, .tenant = r->name,
		.reason = "in the state file, not in the configuration",
		.detail = r->restricted ? "was restricted" : NULL,
	};

	audit(e, &ev);
	if (r->restricted)
		pr_warn("state: tenant %s is restricted in the state file but no longer "
			"configured: dropped", r->name);
	mark(e, RG_DIRTY_URGENT);
}

int rg_engine_restore(struct rg_engine *e, struct rg_engine_snapshot *s, uint64_t now_ns)
{
	int err;

	if (s->n_verdicts > verdicts_max(e)) {
		pr_err("state: %zu verdicts, more than verdict_table_size %zu", s->n_verdicts,
		       verdicts_max(e));
		return -EBADMSG;
	}
	/* Ids first: the only step that refuses content. */
	err = rg_tenant_ids_load(e->ids, s->ids, s->n_ids, s->next_id);
	if (!err)
		err = bind_ids(e, e->cfg, e->t);
	if (err)
		return err;
	for (size_t i = 0; i < e->nt; i++)
		if (s->tenants[i].present)
			restore_tenant(&e->t[i], &s->tenants[i]);
	verdicts_free(e);
	for (size_t i = 0; i < s->n_verdicts; i++) {
		struct rg_engine_verdict v = s->verdicts[i];

		cidr_norm(&v.target, &v.target);
		vstore(e, &v);
	}
	e->dirty = 0;
	e->notify = 0;
	for (size_t i = 0; i < s->n_removed; i++)
		audit_removed(e, &s->removed[i], now_ns);
	for (size_t i = 0; i < e->nt; i++)
		lift_if_expired(e, (int)i, now_ns);
	e->notify &= ~RG_DIRTY_BUDGET;
	return 0;
}

/* ---- journal replay ----------------------------------------------------------------- */

/* The same effects as the live paths above (unregistered(), the bucket adds in decide,
 * tenant_restrict, tenant_lift, vset, vremove), without callbacks, audit or counters. */
static int apply_txn(struct rg_engine *e, int tidx, const struct rg_engine_change *c)
{
	struct tstate *t = &e->t[tidx];
	const struct rg_limits *l = limits_of(e, tidx);

	switch (c->cls) {
	case RG_CLASS_NULL_SENDER:
		rg_buckets_add(&t->nul, c->at_ns, l->unregistered_window_ns);
		return 0;
	case RG_CLASS_REGISTERED:
		rg_buckets_add(&t->reg, c->at_ns, l->unregistered_window_ns);
		return 0;
	case RG_CLASS_UNREGISTERED:
	case RG_CLASS_INVALID:
		rg_ring_prune(&t->win, c->at_ns, l->unregistered_window_ns);
		if (t->win.n >= l->unregistered_limit)
			return 0;	/* the limit changed since: the window keeps its cap */
		return rg_ring_push(&t->win, c->at_ns, l->unregistered_limit);
	default:
		return -EINVAL;
	}
}

int rg_engine_apply(struct rg_engine *e, const struct rg_engine_change *c)
{
	int tidx = -1;

	if (c->kind <= RG_CHANGE_LIFT) {
		tidx = c->tenant ? rg_config_find_tenant(e->cfg, c->tenant) : -1;
		if (tidx < 0 || (size_t)tidx >= e->nt)
			return 0;
	}
	switch (c->kind) {
	case RG_CHANGE_TXN:
		return apply_txn(e, tidx, c);
	case RG_CHANGE_RESTRICT:
		e->t[tidx].restricted = true;
		e->t[tidx].monitor_only = c->monitor_only;
		e->t[tidx].reason = c->reason && !strcmp(c->reason, "operator") ? "operator"
										   : "limit";
		e->t[tidx].since_ns = c->at_ns;
		e->t[tidx].until_ns = c->until_ns;
		return 0;
	case RG_CHANGE_LIFT:
		rg_ring_clear(&e->t[tidx].win);
		e->t[tidx].restricted = false;
		e->t[tidx].monitor_only = false;
		e->t[tidx].reason = NULL;
		e->t[tidx].since_ns = e->t[tidx].until_ns = 0;
		return 0;
	case RG_CHANGE_VERDICT: {
		struct rg_engine_verdict v = c->v;

		cidr_norm(&v.target, &v.target);
		return vstore(e, &v);
	}
	case RG_CHANGE_VERDICT_DEL: {
		struct rg_cidr t;
		struct vent *v;

		cidr_norm(&c->v.target, &t);
		v = vfind(e, &t);
		if (v) {
			rg_hmap_del(&e->verdicts, &v->h);
			free(v);
		}
		return 0;
	}
	}
	return -EINVAL;
}
