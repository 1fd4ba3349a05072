// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * classify.c: the decision engine: the classification ladder (sender domain, registered or
 * not, one count per transaction, tenant budget, flood and connection-rate escalation,
 * monitor mode, persisted state).
 *
 * Takes: the configuration in force, policy requests with the caller's CLOCK_REALTIME
 * time, the kernel's connection-rate reports, operator actions and a tick per second.
 * Keeps: per tenant an exact sliding window of unregistered-transaction timestamps (a ring
 * grown lazily up to the limit) and the restriction; per Postfix instance the decision of
 * the transaction (bounded FIFO table, so every stage answers the same and counts once);
 * per source host the rejected transactions of the last minute; the verdict table that the
 * kernel mirrors. Reports: decisions, audit events, kernel callbacks, counters, listings,
 * and the JSON form of its persistent state (state.c writes it to disk).
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include <json-c/json.h>

#include "audit.h"
#include "classify.h"
#include "envelope.h"
#include "log.h"
#include "policy_proto.h"

#define NSEC 1000000000ULL
#define FLOOD_WINDOW_NS (60 * NSEC)		/* DESIGN.md: rejected transactions per minute */
#define CONN_RATE_DEFAULT_HOLD_NS (60 * NSEC)	/* throttle hold when flood_block_time = 0 */
#define TXN_MAX 65536				/* remembered transactions; oldest evicted */
#define TXN_TTL_NS (3600 * NSEC)		/* a transaction older than this is forgotten */
#define TXN_INSTANCE_KEEP 64			/* bytes of instance stored (plus a full hash) */
#define HOSTS_MAX 65536				/* flood-tracked hosts */
#define VERDICTS_DEFAULT_MAX 65536
#define BUCKETS 60				/* approximate per-window counters */
#define STATE_VERSION 1

#define container_of(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))

/* ---- small building blocks ---------------------------------------------------------- */

struct hent {
	struct hent *next;
	uint64_t h;
};

struct hmap {
	struct hent **b;
	size_t nb;	/* power of two */
	size_t n;
};

static int hmap_init(struct hmap *m, size_t nb)
{
	m->b = calloc(nb, sizeof(*m->b));
	m->nb = nb;
	m->n = 0;
	return m->b ? 0 : -ENOMEM;
}

static struct hent *hmap_bucket(const struct hmap *m, uint64_t h)
{
	return m->b[h & (m->nb - 1)];
}

/* Grows when the load passes 1; a failed grow only costs longer chains. */
static void hmap_add(struct hmap *m, struct hent *e)
{
	if (m->n >= m->nb) {
		size_t nb = m->nb * 2;
		struct hent **b = calloc(nb, sizeof(*b));

		if (b) {
			for (size_t i = 0; i < m->nb; i++) {
				struct hent *p = m->b[i], *next;

				for (; p; p = next) {
					next = p->next;
					p->next = b[p->h & (nb - 1)];
					b[p->h & (nb - 1)] = p;
				}
			}
			free(m->b);
			m->b = b;
			m->nb = nb;
		}
	}
	e->next = m->b[e->h & (m->nb - 1)];
	m->b[e->h & (m->nb - 1)] = e;
	m->n++;
}

static void hmap_del(struct hmap *m, struct hent *e)
{
	struct hent **pp = &m->b[e->h & (m->nb - 1)];

	for (; *pp; pp = &(*pp)->next) {
		if (*pp == e) {
			*pp = e->next;
			m->n--;
			return;
		}
	}
}

static uint64_t fnv1a(uint64_t seed, const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = 0xcbf29ce484222325ULL ^ seed;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* Sorted ring of timestamps: the exact sliding window. */
struct tsring {
	uint64_t *ts;
	uint32_t cap, head, n;
};

static void ring_free(struct tsring *r)
{
	free(r->ts);
	memset(r, 0, sizeof(*r));
}

static void ring_clear(struct tsring *r)
{
	r->head = 0;
	r->n = 0;
}

static uint64_t ring_at(const struct tsring *r, uint32_t i)
{
	return r->ts[(r->head + i) % r->cap];
}

/* Drop timestamps outside (now - window, now]. window 0: keep everything. */
static void ring_prune(struct tsring *r, uint64_t now, uint64_t window)
{
	if (!window)
		return;
	while (r->n && ring_at(r, 0) + window <= now) {
		r->head = (r->head + 1) % r->cap;
		r->n--;
	}
}

/* Append ts (kept non-decreasing even if the clock steps back). The ring grows by
 * doubling, but never past max(limit, n + 1): memory follows actual traffic. */
static int ring_push(struct tsring *r, uint64_t ts, uint64_t limit)
{
	if (r->n && ts < ring_at(r, r->n - 1))
		ts = ring_at(r, r->n - 1);
	if (r->n == r->cap) {
		uint64_t want = r->cap ? (uint64_t)r->cap * 2 : 16;
		uint64_t floor = (uint64_t)r->n + 1;
		uint64_t *nts;

		if (want > limit)
			want = limit > floor ? limit : floor;
		if (want > UINT32_MAX)
			return -ENOMEM;
		nts = malloc(want * sizeof(*nts));
		if (!nts)
			return -ENOMEM;
		for (uint32_t i = 0; i < r->n; i++)
			nts[i] = ring_at(r, i);
		free(r->ts);
		r->ts = nts;
		r->cap = (uint32_t)want;
		r->head = 0;
	}
	r->ts[(r->head + r->n) % r->cap] = ts;
	r->n++;
	return 0;
}

/* Approximate count over a window: BUCKETS slots of window / BUCKETS each. */
struct bucketctr {
	uint64_t slot[BUCKETS];
	uint32_t n[BUCKETS];
};

static uint64_t slot_ns(uint64_t window)
{
	return window / BUCKETS ? window / BUCKETS : NSEC;
}

static void bucket_add(struct bucketctr *b, uint64_t now, uint64_t window)
{
	uint64_t s = now / slot_ns(window);
	unsigned i = (unsigned)(s % BUCKETS);

	if (b->slot[i] != s) {
		b->slot[i] = s;
		b->n[i] = 0;
	}
	b->n[i]++;
}

static uint64_t bucket_sum(const struct bucketctr *b, uint64_t now, uint64_t window)
{
	uint64_t s = now / slot_ns(window), sum = 0;

	for (unsigned i = 0; i < BUCKETS; i++)
		if (b->slot[i] <= s && b->slot[i] + BUCKETS > s)
			sum += b->n[i];
	return sum;
}

/* ---- engine state ------------------------------------------------------------------- */

struct tstate {
	uint32_t id;
	bool restricted;
	bool monitor_only;
	const char *reason;		/* static */
	uint64_t since_ns, until_ns;
	struct tsring win;
	struct bucketctr reg, nul;
	uint64_t tot_unreg, tot_reg, tot_null, tot_rej;
};

/* name <-> stable id, for every tenant name ever seen in this state file. */
struct ident {
	struct hent by_name;
	struct hent by_id;
	uint32_t id;
	int tidx;			/* index in cfg->tenants, -1: not configured */
	char name[RG_TENANT_NAME_MAX];
};

struct txn {
	struct hent h;
	struct txn *older, *newer;
	uint64_t t_ns;
	uint8_t addr[16];
	uint32_t tenant_id;
	uint32_t inst_len;
	uint64_t sender_h;		/* a new MAIL FROM under the same instance is a new one */
	char inst[TXN_INSTANCE_KEEP];
	enum rg_reply action;		/* as enforce mode would answer */
	enum rg_class cls;
	const char *reason;
};

struct fhost {
	struct hent h;
	struct rg_cidr key;
	struct tsring rej;
	uint64_t last_ns;
	uint64_t quiet_block_ns;	/* monitor: would_block reported until then */
	uint64_t quiet_throttle_ns;	/* monitor: would_throttle reported until then */
};

struct vent {
	struct hent h;
	struct rg_engine_verdict v;
};

struct rg_engine {
	const struct rg_config *cfg;
	struct rg_engine_ops ops;
	void *ctx;
	struct rg_audit *audit;
	uint64_t seed;

	struct tstate *t;
	size_t nt;
	struct hmap ids_name, ids_id;
	uint32_t next_id;

	struct hmap txns;
	struct txn *oldest, *newest;

	struct hmap hosts;
	struct hmap verdicts;

	struct rg_engine_counters c;
	unsigned dirty;
	unsigned notify;
};

static const char *const reply_text[RG_REPLY__COUNT] = {
	[RG_REPLY_DUNNO] = "DUNNO",
	[RG_REPLY_REJECT] = RG_REPLY_REJECT_TEXT,
	[RG_REPLY_TEMPFAIL] = RG_REPLY_TEMPFAIL_TEXT,
};

static const char *const class_names[RG_CLASS__COUNT] = {
	[RG_CLASS_NONE] = "none",
	[RG_CLASS_UNASSIGNED] = "unassigned",
	[RG_CLASS_NULL_SENDER] = "null_sender",
	[RG_CLASS_REGISTERED] = "registered",
	[RG_CLASS_UNREGISTERED] = "unregistered",
	[RG_CLASS_INVALID] = "invalid",
};

const char *rg_action_reply(enum rg_reply r)
{
	return (unsigned)r < RG_REPLY__COUNT ? reply_text[r] : reply_text[RG_REPLY_DUNNO];
}

const char *rg_class_name(enum rg_class c)
{
	return (unsigned)c < RG_CLASS__COUNT ? class_names[c] : "none";
}

const char *rg_verdict_action_name(enum rg_action a)
{
	return a == RG_ACT_BLOCK ? "block" : a == RG_ACT_THROTTLE ? "throttle" : "none";
}

const char *rg_origin_name(enum rg_origin o)
{
	return o == RG_ORIGIN_FLOOD ? "flood" : o == RG_ORIGIN_CONN_RATE ? "conn_rate" : "operator";
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
 * the agent may save (rg_engine_export) from inside state_changed. */
static void flush_notify(struct rg_engine *e)
{
	unsigned bits = e->notify;

	e->notify = 0;
	if (bits && e->ops.state_changed)
		e->ops.state_changed(e->ctx, bits & RG_DIRTY_URGENT);
}

static void audit(struct rg_engine *e, struct rg_audit_event *ev)
{
	if (e->audit)
		rg_audit_write(e->audit, ev);
}

static const struct rg_limits *limits_of(const struct rg_engine *e, int tidx)
{
	return tidx >= 0 ? &e->cfg->tenants[tidx].limits : &e->cfg->defaults;
}

/* ---- tenant ids --------------------------------------------------------------------- */

static uint64_t name_hash(const struct rg_engine *e, const char *name)
{
	return fnv1a(e->seed, name, strlen(name));
}

static uint64_t id_hash(const struct rg_engine *e, uint32_t id)
{
	return fnv1a(e->seed, &id, sizeof(id));
}

static struct ident *ident_by_name(const struct rg_engine *e, const char *name)
{
	uint64_t h = name_hash(e, name);

	for (struct hent *p = hmap_bucket(&e->ids_name, h); p; p = p->next) {
		struct ident *i = container_of(p, struct ident, by_name);

		if (p->h == h && !strcmp(i->name, name))
			return i;
	}
	return NULL;
}

static struct ident *ident_by_id(const struct rg_engine *e, uint32_t id)
{
	uint64_t h = id_hash(e, id);

	for (struct hent *p = hmap_bucket(&e->ids_id, h); p; p = p->next) {
		struct ident *i = container_of(p, struct ident, by_id);

		if (p->h == h && i->id == id)
			return i;
	}
	return NULL;
}

static struct ident *ident_new(struct rg_engine *e, const char *name, uint32_t id)
{
	struct ident *i = calloc(1, sizeof(*i));

	if (!i)
		return NULL;
	snprintf(i->name, sizeof(i->name), "%s", name);
	i->id = id;
	i->tidx = -1;
	i->by_name.h = name_hash(e, i->name);
	i->by_id.h = id_hash(e, id);
	return i;
}

static void ident_add(struct rg_engine *e, struct ident *i)
{
	hmap_add(&e->ids_name, &i->by_name);
	hmap_add(&e->ids_id, &i->by_id);
	if (i->id >= e->next_id)
		e->next_id = i->id + 1;
}

static void idents_free(struct rg_engine *e)
{
	for (size_t b = 0; b < e->ids_name.nb; b++) {
		struct hent *p = e->ids_name.b[b], *next;

		for (; p; p = next) {
			next = p->next;
			free(container_of(p, struct ident, by_name));
		}
		e->ids_name.b[b] = NULL;
	}
	memset(e->ids_id.b, 0, e->ids_id.nb * sizeof(*e->ids_id.b));
	e->ids_name.n = e->ids_id.n = 0;
}

static void idents_untag(struct rg_engine *e)
{
	for (size_t b = 0; b < e->ids_name.nb; b++)
		for (struct hent *p = e->ids_name.b[b]; p; p = p->next)
			container_of(p, struct ident, by_name)->tidx = -1;
}

/* ---- transactions ------------------------------------------------------------------- */

static uint64_t sender_hash(const struct rg_engine *e, const struct rg_slice *sender)
{
	return fnv1a(e->seed ^ 0x5e4d, sender->p ? sender->p : "", sender->p ? sender->len : 0);
}

static uint64_t txn_hash(const struct rg_engine *e, const struct rg_slice *inst,
			 const uint8_t addr[16])
{
	return fnv1a(fnv1a(e->seed, addr, 16), inst->p, inst->len);
}

static void txn_drop(struct rg_engine *e, struct txn *t)
{
	hmap_del(&e->txns, &t->h);
	if (t->older)
		t->older->newer = t->newer;
	else
		e->oldest = t->newer;
	if (t->newer)
		t->newer->older = t->older;
	else
		e->newest = t->older;
	free(t);
}

static struct txn *txn_find(const struct rg_engine *e, const struct rg_slice *inst,
			    const uint8_t addr[16], uint64_t sender_h, uint64_t now)
{
	uint64_t h = txn_hash(e, inst, addr);
	size_t keep = inst->len < TXN_INSTANCE_KEEP ? inst->len : TXN_INSTANCE_KEEP;

	for (struct hent *p = hmap_bucket(&e->txns, h); p; p = p->next) {
		struct txn *t = container_of(p, struct txn, h);

		if (p->h == h && t->inst_len == inst->len && t->sender_h == sender_h &&
		    !memcmp(t->addr, addr, 16) &&
		    !memcmp(t->inst, inst->p, keep) && t->t_ns + TXN_TTL_NS > now)
			return t;
	}
	return NULL;
}

static void txn_expire(struct rg_engine *e, uint64_t now)
{
	while (e->oldest && e->oldest->t_ns + TXN_TTL_NS <= now)
		txn_drop(e, e->oldest);
}

static void txn_remember(struct rg_engine *e, const struct rg_slice *inst, const uint8_t addr[16],
			 uint64_t sender_h, uint32_t tenant_id, enum rg_reply action, enum rg_class cls,
			 const char *reason, uint64_t now)
{
	struct txn *t;

	if (inst->len > UINT32_MAX)
		return;
	txn_expire(e, now);
	if (e->txns.n >= TXN_MAX) {
		txn_drop(e, e->oldest);
		e->c.txn_evictions++;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return;	/* no memory: a later stage counts again, nothing worse */
	t->h.h = txn_hash(e, inst, addr);
	t->sender_h = sender_h;
	t->t_ns = now;
	memcpy(t->addr, addr, 16);
	t->tenant_id = tenant_id;
	t->inst_len = (uint32_t)inst->len;
	memcpy(t->inst, inst->p, inst->len < TXN_INSTANCE_KEEP ? inst->len : TXN_INSTANCE_KEEP);
	t->action = action;
	t->cls = cls;
	t->reason = reason;
	t->older = e->newest;
	if (e->newest)
		e->newest->newer = t;
	else
		e->oldest = t;
	e->newest = t;
	hmap_add(&e->txns, &t->h);
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
	return fnv1a(fnv1a(e->seed, c->addr, 16), &c->prefixlen, 1);
}

static bool cidr_eq(const struct rg_cidr *a, const struct rg_cidr *b)
{
	return a->prefixlen == b->prefixlen && !memcmp(a->addr, b->addr, 16);
}

static struct vent *vfind(const struct rg_engine *e, const struct rg_cidr *c)
{
	uint64_t h = cidr_hash(e, c);

	for (struct hent *p = hmap_bucket(&e->verdicts, h); p; p = p->next) {
		struct vent *v = container_of(p, struct vent, h);

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
		hmap_add(&e->verdicts, &v->h);
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
	vpush(e, nv);
	return 0;
}

static void vremove(struct rg_engine *e, struct vent *v, bool kernel)
{
	if (kernel)
		vunpush(e, &v->v.target);
	hmap_del(&e->verdicts, &v->h);
	free(v);
	mark(e, RG_DIRTY_URGENT);
}

static void verdicts_free(struct rg_engine *e)
{
	for (size_t b = 0; b < e->verdicts.nb; b++) {
		struct hent *p = e->verdicts.b[b], *next;

		for (; p; p = next) {
			next = p->next;
			free(container_of(p, struct vent, h));
		}
		e->verdicts.b[b] = NULL;
	}
	e->verdicts.n = 0;
}

/* ---- flood hosts -------------------------------------------------------------------- */

static struct fhost *host_get(struct rg_engine *e, const struct rg_cidr *key, bool create)
{
	uint64_t h = cidr_hash(e, key);
	struct fhost *f;

	for (struct hent *p = hmap_bucket(&e->hosts, h); p; p = p->next) {
		f = container_of(p, struct fhost, h);
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
	hmap_add(&e->hosts, &f->h);
	return f;
}

static void host_free(struct rg_engine *e, struct fhost *f)
{
	hmap_del(&e->hosts, &f->h);
	ring_free(&f->rej);
	free(f);
}

static void hosts_free(struct rg_engine *e)
{
	for (size_t b = 0; b < e->hosts.nb; b++) {
		struct hent *p = e->hosts.b[b], *next;

		for (; p; p = next) {
			struct fhost *f = container_of(p, struct fhost, h);

			next = p->next;
			ring_free(&f->rej);
			free(f);
		}
		e->hosts.b[b] = NULL;
	}
	e->hosts.n = 0;
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
	};

	t->restricted = true;
	t->monitor_only = monitor(e) && !by;
	t->reason = reason;
	t->since_ns = now;
	t->until_ns = l->block_duration_ns ? now + l->block_duration_ns : 0;
	e->c.restrictions++;
	mark(e, RG_DIRTY_URGENT);
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
	struct rg_audit_event ev = {
		.event = "tenant_unblocked", .time_ns = now, .monitor = monitor(e),
		.tenant = e->cfg->tenants[tidx].name, .tenant_id = t->id, .reason = reason,
		.has_counts = true, .count = t->win.n, .limit = l->unregistered_limit,
		.window_ns = l->unregistered_window_ns, .by = by,
	};
	bool was = t->restricted;

	/* Lifting starts a fresh budget (DESIGN.md rule 5). */
	ring_clear(&t->win);
	t->restricted = false;
	t->monitor_only = false;
	t->reason = NULL;
	t->since_ns = t->until_ns = 0;
	mark(e, was ? RG_DIRTY_URGENT : RG_DIRTY_BUDGET);
	if (was)
		e->c.unblocks++;
	audit(e, &ev);
	pr_info("tenant %s %s: %s", e->cfg->tenants[tidx].name,
		was ? "unblocked" : "budget cleared", reason);
}

static void lift_if_expired(struct rg_engine *e, int tidx, uint64_t now)
{
	struct tstate *t = &e->t[tidx];

	if (t->restricted && t->until_ns && now >= t->until_ns)
		tenant_lift(e, tidx, "block_duration expired", NULL, now);
}

/* ---- engine lifecycle --------------------------------------------------------------- */

static int tenants_assign_ids(struct rg_engine *e, const struct rg_config *cfg,
			      struct tstate *ts)
{
	for (size_t i = 0; i < cfg->n_tenants; i++) {
		struct ident *id = ident_by_name(e, cfg->tenants[i].name);

		if (!id) {
			id = ident_new(e, cfg->tenants[i].name, e->next_id);
			if (!id)
				return -ENOMEM;
			ident_add(e, id);
		}
		id->tidx = (int)i;
		ts[i].id = id->id;
	}
	return 0;
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
	e->next_id = 1;
	if (getrandom(&e->seed, sizeof(e->seed), GRND_NONBLOCK) != sizeof(e->seed))
		e->seed = (uint64_t)(uintptr_t)e ^ 0x9e3779b97f4a7c15ULL;
	e->nt = cfg->n_tenants;
	e->t = calloc(e->nt ? e->nt : 1, sizeof(*e->t));
	if (!e->t || hmap_init(&e->ids_name, 64) || hmap_init(&e->ids_id, 64) ||
	    hmap_init(&e->txns, 1024) || hmap_init(&e->hosts, 256) ||
	    hmap_init(&e->verdicts, 256) || tenants_assign_ids(e, cfg, e->t)) {
		rg_engine_free(e);
		return NULL;
	}
	return e;
}

static void tenants_free(struct tstate *t, size_t n)
{
	for (size_t i = 0; t && i < n; i++)
		ring_free(&t[i].win);
	free(t);
}

void rg_engine_free(struct rg_engine *e)
{
	if (!e)
		return;
	while (e->oldest)
		txn_drop(e, e->oldest);
	if (e->ids_name.b)
		idents_free(e);
	if (e->hosts.b)
		hosts_free(e);
	if (e->verdicts.b)
		verdicts_free(e);
	tenants_free(e->t, e->nt);
	free(e->ids_name.b);
	free(e->ids_id.b);
	free(e->txns.b);
	free(e->hosts.b);
	free(e->verdicts.b);
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

	for (size_t b = 0; b < e->verdicts.nb; b++) {
		struct hent *p = e->verdicts.b[b], *next;

		for (; p; p = next) {
			struct vent *v = container_of(p, struct vent, h);

			next = p->next;
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
	}
	flush_notify(e);
	return first;
}

int rg_engine_reconfigure(struct rg_engine *e, const struct rg_config *ncfg, uint64_t now_ns)
{
	const struct rg_config *ocfg = e->cfg;
	size_t nn = ncfg->n_tenants, added = 0, removed = 0, lifted = 0;
	struct tstate *nts = calloc(nn ? nn : 1, sizeof(*nts));
	struct ident **fresh = calloc(nn ? nn : 1, sizeof(*fresh));
	bool was_monitor = monitor(e);
	size_t nfresh = 0;
	uint32_t next = e->next_id;
	char detail[128];
	int err = -ENOMEM;

	if (!nts || !fresh)
		goto fail;
	/* Allocate everything first: after this loop nothing can fail. */
	for (size_t i = 0; i < nn; i++) {
		if (ident_by_name(e, ncfg->tenants[i].name))
			continue;
		fresh[nfresh] = ident_new(e, ncfg->tenants[i].name, next++);
		if (!fresh[nfresh])
			goto fail;
		nfresh++;
	}
	for (size_t i = 0; i < nfresh; i++)
		ident_add(e, fresh[i]);
	free(fresh);
	fresh = NULL;

	for (size_t i = 0; i < nn; i++) {
		int o = rg_config_find_tenant(ocfg, ncfg->tenants[i].name);

		if (o >= 0 && (size_t)o < e->nt) {
			nts[i] = e->t[o];
			memset(&e->t[o].win, 0, sizeof(e->t[o].win));
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
	idents_untag(e);
	for (size_t i = 0; i < nn; i++) {
		struct ident *id = ident_by_name(e, ncfg->tenants[i].name);

		id->tidx = (int)i;
		e->t[i].id = id->id;
	}
	if (ocfg->host_prefix_v4 != ncfg->host_prefix_v4 ||
	    ocfg->host_prefix_v6 != ncfg->host_prefix_v6)
		hosts_free(e);
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
	for (size_t i = 0; fresh && i < nfresh; i++)
		free(fresh[i]);
	free(fresh);
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
	ring_prune(&f->rej, now, FLOOD_WINDOW_NS);
	if (ring_push(&f->rej, now, l->flood_limit + 1))
		return;
	if (f->rej.n <= l->flood_limit)
		return;
	ring_clear(&f->rej);

	struct rg_audit_event ev = {
		.event = "host_blocked", .time_ns = now, .tenant = e->cfg->tenants[tidx].name,
		.tenant_id = e->t[tidx].id, .host = &nv.target, .reason = "flood_limit",
		.has_counts = true, .count = l->flood_limit + 1, .limit = l->flood_limit,
		.window_ns = FLOOD_WINDOW_NS, .sender = sender->p, .sender_len = sender->len,
		.action = "block", .origin = "flood", .expires_ns = now + l->flood_block_time_ns,
	};

	if (monitor(e)) {
		if (now < f->quiet_block_ns)
			return;
		f->quiet_block_ns = now + l->flood_block_time_ns;
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
	nv.expires_ns = now + l->flood_block_time_ns;
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

/* Rule 5 for one new unregistered (or invalid) transaction of tenant tidx. */
static int unregistered(struct rg_engine *e, int tidx, const uint8_t addr[16],
			const struct rg_slice *sender, uint64_t now, struct rg_decision *out,
			enum rg_reply *action)
{
	struct tstate *t = &e->t[tidx];
	const struct rg_limits *l = limits_of(e, tidx);
	int err;

	t->tot_unreg++;
	lift_if_expired(e, tidx, now);
	if (!t->restricted) {
		ring_prune(&t->win, now, l->unregistered_window_ns);
		if (t->win.n < l->unregistered_limit) {
			err = ring_push(&t->win, now, l->unregistered_limit);
			if (err)
				return err;
			mark(e, RG_DIRTY_BUDGET);
			*action = RG_REPLY_DUNNO;
			return 0;
		}
		tenant_restrict(e, tidx, "limit", NULL, addr, sender, now);
		out->restricted_now = true;
	}
	t->tot_rej++;
	*action = RG_REPLY_REJECT;
	flood_count(e, tidx, addr, sender, now, out);
	return 0;
}

int rg_engine_decide(struct rg_engine *e, const struct rg_policy_request *req, uint64_t now_ns,
		     struct rg_decision *out)
{
	char abuf[RG_ADDR_STRLEN];
	enum rg_reply action = RG_REPLY_DUNNO;
	struct rg_envelope env;
	uint8_t addr[16];
	uint32_t tidx = 0;
	int tenant = -1;
	bool have_inst;
	struct txn *tx;
	int err;

	memset(out, 0, sizeof(*out));
	out->tenant = -1;
	e->c.requests++;
	if (slice_cstr(&req->client_address, abuf, sizeof(abuf)) ||
	    rg_addr_parse(abuf, addr, NULL))
		return decide_fail(e, out, -EINVAL, "client_address is not an IP address");

	if (rg_lpm_lookup(e->cfg->connectors, addr, &tidx) && tidx < e->nt) {
		tenant = (int)tidx;
		out->tenant = tenant;
		out->tenant_name = e->cfg->tenants[tidx].name;
		out->tenant_id = e->t[tidx].id;
	}
	if (!envelope_stage(&req->protocol_state)) {
		out->cls = RG_CLASS_NONE;
		goto answer;
	}
	rg_envelope_from_sender(req->sender.p ? req->sender.p : "", req->sender.len, &env);
	if (env.status == RG_ENV_OK)
		memcpy(out->domain, env.domain, env.domain_len + 1);

	have_inst = req->instance.p && req->instance.len;
	if (have_inst) {
		tx = txn_find(e, &req->instance, addr, sender_hash(e, &req->sender), now_ns);
		if (tx && tx->tenant_id == out->tenant_id) {
			out->cached = true;
			out->cls = tx->cls;
			out->reason = tx->reason;
			action = tx->action;
			goto answer;
		}
		if (tx)		/* the client moved tenant by a reload: a new transaction */
			txn_drop(e, tx);
	}

	out->counted = true;
	e->c.transactions++;
	if (tenant < 0) {
		out->cls = RG_CLASS_UNASSIGNED;
	} else if (env.status == RG_ENV_NULL) {
		out->cls = RG_CLASS_NULL_SENDER;
		e->t[tidx].tot_null++;
		bucket_add(&e->t[tidx].nul, now_ns, limits_of(e, tenant)->unregistered_window_ns);
	} else if (env.status == RG_ENV_OK &&
		   rg_domains_match(e->cfg->domains, tidx, env.domain, env.domain_len)) {
		out->cls = RG_CLASS_REGISTERED;
		e->t[tidx].tot_reg++;
		bucket_add(&e->t[tidx].reg, now_ns, limits_of(e, tenant)->unregistered_window_ns);
	} else {
		out->cls = env.status == RG_ENV_OK ? RG_CLASS_UNREGISTERED : RG_CLASS_INVALID;
		out->reason = env.status == RG_ENV_OK ? "unregistered" : env.reason;
		err = unregistered(e, tenant, addr, &req->sender, now_ns, out, &action);
		if (err) {
			e->c.transactions--;
			out->counted = false;
			return decide_fail(e, out, err, "out of memory");
		}
	}
	e->c.by_class[out->cls]++;
	if (have_inst)
		txn_remember(e, &req->instance, addr, sender_hash(e, &req->sender), out->tenant_id,
			     action, out->cls, out->reason, now_ns);

	if (monitor(e) && action == RG_REPLY_REJECT) {
		const struct rg_limits *l = limits_of(e, tenant);
		struct rg_cidr host;
		struct rg_audit_event ev = {
			.event = "would_reject", .time_ns = now_ns, .monitor = true,
			.tenant = out->tenant_name, .tenant_id = out->tenant_id, .host = &host,
			.reason = out->reason, .has_counts = true, .count = e->t[tidx].win.n,
			.limit = l->unregistered_limit, .window_ns = l->unregistered_window_ns,
			.sender = req->sender.p, .sender_len = req->sender.len,
		};

		client_cidr(addr, &host);
		e->c.would_reject++;
		audit(e, &ev);
	}
answer:
	if (monitor(e) && action == RG_REPLY_REJECT) {
		out->would_reject = true;
		action = RG_REPLY_DUNNO;
	}
	out->action = action;
	e->c.by_reply[action]++;
	flush_notify(e);
	return 0;
}

/* ---- time passing ------------------------------------------------------------------- */

void rg_engine_tick(struct rg_engine *e, uint64_t now_ns)
{
	for (size_t b = 0; b < e->verdicts.nb; b++) {
		struct hent *p = e->verdicts.b[b], *next;

		for (; p; p = next) {
			struct vent *v = container_of(p, struct vent, h);

			next = p->next;
			if (v->v.expires_ns && v->v.expires_ns <= now_ns)
				verdict_expired(e, v, now_ns);
		}
	}
	for (size_t i = 0; i < e->nt; i++)
		lift_if_expired(e, (int)i, now_ns);
	txn_expire(e, now_ns);
	for (size_t b = 0; b < e->hosts.nb; b++) {
		struct hent *p = e->hosts.b[b], *next;

		for (; p; p = next) {
			struct fhost *f = container_of(p, struct fhost, h);

			next = p->next;
			if (f->last_ns + FLOOD_WINDOW_NS <= now_ns && f->quiet_block_ns <= now_ns &&
			    f->quiet_throttle_ns <= now_ns)
				host_free(e, f);
		}
	}
	flush_notify(e);
}

int rg_engine_conn_rate(struct rg_engine *e, const struct rg_cidr *host, uint32_t tenant_id,
			uint64_t conns, uint64_t per_ns, uint64_t now_ns)
{
	struct ident *id = tenant_id ? ident_by_id(e, tenant_id) : NULL;
	int tidx = id ? id->tidx : -1;
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
	nv.interval_ns = r->period_ns / r->count ? r->period_ns / r->count : 1;
	nv.burst_ns = nv.interval_ns * (r->count / 10 ? r->count / 10 : 1);
	nv.since_ns = now_ns;
	nv.expires_ns = now_ns + hold;
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

int rg_engine_unblock_tenant(struct rg_engine *e, const char *name, const char *by,
			     uint64_t now_ns)
{
	int tidx = rg_config_find_tenant(e->cfg, name);

	if (tidx < 0 || (size_t)tidx >= e->nt)
		return -ENOENT;
	tenant_lift(e, tidx, "operator", by ? by : "operator", now_ns);
	flush_notify(e);
	return 0;
}

static int operator_verdict(struct rg_engine *e, const struct rg_cidr *target,
			    enum rg_action action, uint64_t interval, uint64_t burst,
			    uint64_t duration_ns, const char *by, uint64_t now_ns)
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
	nv.interval_ns = interval;
	nv.burst_ns = burst;
	nv.since_ns = now_ns;
	nv.expires_ns = duration_ns ? now_ns + duration_ns : 0;
	snprintf(nv.by, sizeof(nv.by), "%s", by ? by : "operator");
	err = vset(e, &nv);
	if (!err) {
		ev.expires_ns = nv.expires_ns;
		ev.interval_ns = interval;
		ev.burst_ns = burst;
		audit(e, &ev);
	}
	flush_notify(e);
	return err;
}

int rg_engine_block_host(struct rg_engine *e, const struct rg_cidr *target, uint64_t duration_ns,
			 const char *by, uint64_t now_ns)
{
	return operator_verdict(e, target, RG_ACT_BLOCK, 0, 0, duration_ns, by, now_ns);
}

int rg_engine_throttle_host(struct rg_engine *e, const struct rg_cidr *target,
			    const struct rg_rate *rate, uint64_t duration_ns, const char *by,
			    uint64_t now_ns)
{
	uint64_t interval;

	if (!rate || !rate->count || !rate->period_ns)
		return -EINVAL;
	interval = rate->period_ns / rate->count ? rate->period_ns / rate->count : 1;
	return operator_verdict(e, target, RG_ACT_THROTTLE, interval,
				interval * (rate->count / 10 ? rate->count / 10 : 1), duration_ns,
				by, now_ns);
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

/* ---- listings ----------------------------------------------------------------------- */

size_t rg_engine_tenant_count(const struct rg_engine *e)
{
	return e->nt;
}

uint32_t rg_engine_tenant_id(const struct rg_engine *e, const char *name)
{
	struct ident *id = ident_by_name(e, name);

	return id && id->tidx >= 0 ? id->id : 0;
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
		ring_prune(&t->win, now_ns, l->unregistered_window_ns);
	memset(out, 0, sizeof(*out));
	out->name = e->cfg->tenants[idx].name;
	out->id = t->id;
	out->restricted = t->restricted;
	out->monitor_only = t->monitor_only;
	out->since_ns = t->since_ns;
	out->until_ns = t->until_ns;
	out->reason = t->reason;
	out->unregistered = t->win.n;
	out->registered = bucket_sum(&t->reg, now_ns, l->unregistered_window_ns);
	out->null_sender = bucket_sum(&t->nul, now_ns, l->unregistered_window_ns);
	out->limit = l->unregistered_limit;
	out->window_ns = l->unregistered_window_ns;
	out->total_unregistered = t->tot_unreg;
	out->total_registered = t->tot_reg;
	out->total_null_sender = t->tot_null;
	out->total_rejected = t->tot_rej;
	flush_notify(e);
	return 0;
}

void rg_engine_get_counters(const struct rg_engine *e, struct rg_engine_counters *c)
{
	*c = e->c;
	c->txn_entries = e->txns.n;
	c->verdicts = e->verdicts.n;
	c->restricted_tenants = 0;
	for (size_t i = 0; i < e->nt; i++)
		c->restricted_tenants += e->t[i].restricted;
}

int rg_engine_verdict_foreach(const struct rg_engine *e, rg_engine_verdict_cb cb, void *ctx)
{
	for (size_t b = 0; b < e->verdicts.nb; b++) {
		for (struct hent *p = e->verdicts.b[b]; p; p = p->next) {
			int r = cb(&container_of(p, struct vent, h)->v, ctx);

			if (r)
				return r;
		}
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

/* ---- persistent state as JSON ------------------------------------------------------- */

static int jadd(struct json_object *o, const char *k, struct json_object *v)
{
	if (!v)
		return -ENOMEM;
	return json_object_object_add(o, k, v) ? -ENOMEM : 0;
}

static struct json_object *ju64(uint64_t v)
{
	return json_object_new_int64(v > INT64_MAX ? INT64_MAX : (int64_t)v);
}

static struct json_object *export_tenant(const struct rg_engine *e, size_t i)
{
	const struct tstate *t = &e->t[i];
	struct json_object *o = json_object_new_object(), *w = json_object_new_array();
	int err = 0;

	if (!o || !w)
		goto fail;
	for (uint32_t k = 0; k < t->win.n; k++)
		err |= json_object_array_add(w, ju64(ring_at(&t->win, k))) ? -ENOMEM : 0;
	err |= jadd(o, "window", w);
	w = NULL;
	err |= jadd(o, "restricted", json_object_new_boolean(t->restricted));
	if (t->restricted) {
		err |= jadd(o, "reason", json_object_new_string(t->reason ? t->reason : "limit"));
		err |= jadd(o, "monitor_only", json_object_new_boolean(t->monitor_only));
		err |= jadd(o, "since_ns", ju64(t->since_ns));
		err |= jadd(o, "until_ns", ju64(t->until_ns));
	}
	if (!err)
		return o;
fail:
	json_object_put(w);
	json_object_put(o);
	return NULL;
}

static struct json_object *export_verdict(const struct rg_engine_verdict *v)
{
	struct json_object *o = json_object_new_object();
	char buf[RG_ADDR_STRLEN];
	int err = 0;

	if (!o)
		return NULL;
	err |= jadd(o, "target", json_object_new_string(rg_cidr_format(&v->target, buf,
									sizeof(buf))));
	err |= jadd(o, "action", json_object_new_string(rg_verdict_action_name(v->action)));
	err |= jadd(o, "origin", json_object_new_string(rg_origin_name(v->origin)));
	err |= jadd(o, "interval_ns", ju64(v->interval_ns));
	err |= jadd(o, "burst_ns", ju64(v->burst_ns));
	err |= jadd(o, "since_ns", ju64(v->since_ns));
	err |= jadd(o, "expires_ns", ju64(v->expires_ns));
	err |= jadd(o, "tenant_id", ju64(v->tenant_id));
	if (v->by[0])
		err |= jadd(o, "by", json_object_new_string(v->by));
	if (err) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

struct json_object *rg_engine_export(const struct rg_engine *e, uint64_t now_ns)
{
	struct json_object *o = json_object_new_object();
	struct json_object *ids = json_object_new_object();
	struct json_object *ten = json_object_new_object();
	struct json_object *ver = json_object_new_array();
	char tbuf[40];
	int err = 0;

	if (!o || !ids || !ten || !ver)
		goto fail;
	for (size_t b = 0; b < e->ids_name.nb; b++) {
		for (struct hent *p = e->ids_name.b[b]; p; p = p->next) {
			struct ident *i = container_of(p, struct ident, by_name);

			err |= jadd(ids, i->name, ju64(i->id));
		}
	}
	for (size_t i = 0; i < e->nt; i++)
		err |= jadd(ten, e->cfg->tenants[i].name, export_tenant(e, i));
	for (size_t b = 0; b < e->verdicts.nb; b++)
		for (struct hent *p = e->verdicts.b[b]; p; p = p->next)
			err |= json_object_array_add(ver, export_verdict(
				&container_of(p, struct vent, h)->v)) ? -ENOMEM : 0;
	err |= jadd(o, "version", json_object_new_int(STATE_VERSION));
	err |= jadd(o, "saved_at", json_object_new_string(rg_rfc3339_ms(now_ns, tbuf,
									 sizeof(tbuf))));
	err |= jadd(o, "saved_at_ns", ju64(now_ns));
	err |= jadd(o, "next_tenant_id", ju64(e->next_id));
	err |= jadd(o, "tenant_ids", ids);
	ids = NULL;
	err |= jadd(o, "tenants", ten);
	ten = NULL;
	err |= jadd(o, "verdicts", ver);
	ver = NULL;
	if (!err)
		return o;
fail:
	json_object_put(ids);
	json_object_put(ten);
	json_object_put(ver);
	json_object_put(o);
	return NULL;
}

/* Typed getters for import: false (and a logged reason) on a wrong type or range. */
static bool jget_u64(struct json_object *o, const char *key, bool required, uint64_t *out)
{
	struct json_object *v;
	int64_t x;

	*out = 0;
	if (!json_object_object_get_ex(o, key, &v))
		goto missing;
	if (!json_object_is_type(v, json_type_int)) {
		pr_err("state: \"%s\" is not an integer", key);
		return false;
	}
	errno = 0;
	x = json_object_get_int64(v);
	if (x < 0 || errno) {
		pr_err("state: \"%s\" out of range", key);
		return false;
	}
	*out = (uint64_t)x;
	return true;
missing:
	if (required)
		pr_err("state: \"%s\" is missing", key);
	return !required;
}

static bool jget_bool(struct json_object *o, const char *key, bool *out)
{
	struct json_object *v;

	*out = false;
	if (!json_object_object_get_ex(o, key, &v))
		return true;
	if (!json_object_is_type(v, json_type_boolean)) {
		pr_err("state: \"%s\" is not a boolean", key);
		return false;
	}
	*out = json_object_get_boolean(v);
	return true;
}

static const char *jget_str(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

struct tload {
	bool present;
	bool restricted, monitor_only;
	const char *reason;
	uint64_t since_ns, until_ns;
	uint64_t *win;
	size_t nwin;
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static bool parse_tenant(struct json_object *o, struct tload *tl)
{
	struct json_object *w;
	const char *r;

	if (!json_object_is_type(o, json_type_object)) {
		pr_err("state: a tenant is not an object");
		return false;
	}
	if (!jget_bool(o, "restricted", &tl->restricted) ||
	    !jget_bool(o, "monitor_only", &tl->monitor_only) ||
	    !jget_u64(o, "since_ns", false, &tl->since_ns) ||
	    !jget_u64(o, "until_ns", false, &tl->until_ns))
		return false;
	r = jget_str(o, "reason");
	tl->reason = r && !strcmp(r, "operator") ? "operator" : "limit";
	if (json_object_object_get_ex(o, "window", &w)) {
		size_t n;

		if (!json_object_is_type(w, json_type_array)) {
			pr_err("state: a tenant window is not an array");
			return false;
		}
		n = json_object_array_length(w);
		if (n > UINT32_MAX - 1) {
			pr_err("state: a tenant window is too long");
			return false;
		}
		tl->win = calloc(n ? n : 1, sizeof(*tl->win));
		if (!tl->win)
			return false;
		for (size_t i = 0; i < n; i++) {
			struct json_object *x = json_object_array_get_idx(w, i);

			if (!json_object_is_type(x, json_type_int) ||
			    json_object_get_int64(x) < 0) {
				pr_err("state: a window timestamp is not a positive integer");
				return false;
			}
			tl->win[i] = (uint64_t)json_object_get_int64(x);
		}
		tl->nwin = n;
		qsort(tl->win, n, sizeof(*tl->win), cmp_u64);
	}
	tl->present = true;
	return true;
}

static bool parse_verdict(struct json_object *o, struct rg_engine_verdict *v)
{
	const char *target = jget_str(o, "target"), *a = jget_str(o, "action");
	const char *origin = jget_str(o, "origin"), *by = jget_str(o, "by");
	uint64_t tid;

	memset(v, 0, sizeof(*v));
	if (!json_object_is_type(o, json_type_object) || !target || !a || !origin ||
	    rg_cidr_parse(target, &v->target, false)) {
		pr_err("state: a verdict has no valid target, action or origin");
		return false;
	}
	if (!strcmp(a, "block"))
		v->action = RG_ACT_BLOCK;
	else if (!strcmp(a, "throttle"))
		v->action = RG_ACT_THROTTLE;
	else
		goto bad;
	if (!strcmp(origin, "operator"))
		v->origin = RG_ORIGIN_OPERATOR;
	else if (!strcmp(origin, "flood"))
		v->origin = RG_ORIGIN_FLOOD;
	else if (!strcmp(origin, "conn_rate"))
		v->origin = RG_ORIGIN_CONN_RATE;
	else
		goto bad;
	if (!jget_u64(o, "interval_ns", false, &v->interval_ns) ||
	    !jget_u64(o, "burst_ns", false, &v->burst_ns) ||
	    !jget_u64(o, "since_ns", false, &v->since_ns) ||
	    !jget_u64(o, "expires_ns", false, &v->expires_ns) ||
	    !jget_u64(o, "tenant_id", false, &tid) || tid > UINT32_MAX)
		return false;
	if (v->action == RG_ACT_THROTTLE && !v->interval_ns)
		goto bad;
	v->tenant_id = (uint32_t)tid;
	if (by)
		snprintf(v->by, sizeof(v->by), "%s", by);
	cidr_norm(&v->target, &v->target);
	return true;
bad:
	pr_err("state: a verdict for %.64s has a bad action, origin or rate", target);
	return false;
}

static bool valid_name(const char *s)
{
	size_t n = strlen(s);

	if (!n || n >= RG_TENANT_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", s[i]))
			return false;
	return true;
}

int rg_engine_import(struct rg_engine *e, struct json_object *obj, uint64_t now_ns)
{
	struct json_object *ids, *ten, *ver;
	struct tload *tl = calloc(e->nt ? e->nt : 1, sizeof(*tl));
	struct rg_engine_verdict *vs = NULL;
	struct ident **idl = NULL;
	size_t nids = 0, nvs = 0, cap_ids;
	uint64_t version, next_id;
	int err = -EBADMSG;

	if (!tl)
		return -ENOMEM;
	if (!json_object_is_type(obj, json_type_object)) {
		pr_err("state: not a JSON object");
		goto out;
	}
	if (!jget_u64(obj, "version", true, &version))
		goto out;
	if (version != STATE_VERSION) {
		pr_err("state: version %llu, this relayguardd reads version %d",
		       (unsigned long long)version, STATE_VERSION);
		err = -EPROTONOSUPPORT;
		goto out;
	}
	if (!jget_u64(obj, "next_tenant_id", true, &next_id) || next_id > UINT32_MAX ||
	    !json_object_object_get_ex(obj, "tenant_ids", &ids) ||
	    !json_object_is_type(ids, json_type_object) ||
	    !json_object_object_get_ex(obj, "tenants", &ten) ||
	    !json_object_is_type(ten, json_type_object) ||
	    !json_object_object_get_ex(obj, "verdicts", &ver) ||
	    !json_object_is_type(ver, json_type_array)) {
		pr_err("state: next_tenant_id, tenant_ids, tenants or verdicts missing or malformed");
		goto out;
	}

	/* Parse everything into temporaries: a bad file changes nothing. */
	cap_ids = (size_t)json_object_object_length(ids);
	idl = calloc(cap_ids + 1, sizeof(*idl));
	if (!idl) {
		err = -ENOMEM;
		goto out;
	}
	{
		struct json_object_iterator it = json_object_iter_begin(ids);
		struct json_object_iterator end = json_object_iter_end(ids);

		for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
			const char *name = json_object_iter_peek_name(&it);
			struct json_object *v = json_object_iter_peek_value(&it);
			int64_t id = json_object_is_type(v, json_type_int) ?
				     json_object_get_int64(v) : 0;

			if (!valid_name(name) || id < 1 || id >= (int64_t)UINT32_MAX) {
				pr_err("state: bad tenant id entry %.64s", name);
				goto out;
			}
			for (size_t k = 0; k < nids; k++) {
				if (idl[k]->id == (uint32_t)id) {
					pr_err("state: tenant id %lld used twice", (long long)id);
					goto out;
				}
			}
			idl[nids] = ident_new(e, name, (uint32_t)id);
			if (!idl[nids++]) {
				err = -ENOMEM;
				goto out;
			}
		}
	}
	{
		struct json_object_iterator it = json_object_iter_begin(ten);
		struct json_object_iterator end = json_object_iter_end(ten);

		for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
			const char *name = json_object_iter_peek_name(&it);
			int tidx = rg_config_find_tenant(e->cfg, name);
			struct tload scratch = { 0 };
			struct tload *t = tidx >= 0 && (size_t)tidx < e->nt ? &tl[tidx] : &scratch;
			bool ok = parse_tenant(json_object_iter_peek_value(&it), t);

			free(scratch.win);
			if (!ok)
				goto out;
		}
	}
	nvs = json_object_array_length(ver);
	vs = calloc(nvs ? nvs : 1, sizeof(*vs));
	if (!vs) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < nvs; i++)
		if (!parse_verdict(json_object_array_get_idx(ver, i), &vs[i]))
			goto out;
	if (nvs > verdicts_max(e)) {
		pr_err("state: %zu verdicts, more than verdict_table_size %zu", nvs,
		       verdicts_max(e));
		goto out;
	}

	/* Commit. Ids: the file's, then new ones for tenants it does not know. */
	idents_free(e);
	e->next_id = (uint32_t)(next_id ? next_id : 1);
	for (size_t k = 0; k < nids; k++) {
		ident_add(e, idl[k]);
		idl[k] = NULL;
	}
	for (size_t i = 0; i < e->nt; i++) {
		struct ident *id = ident_by_name(e, e->cfg->tenants[i].name);

		if (!id) {
			id = ident_new(e, e->cfg->tenants[i].name, e->next_id);
			if (!id) {
				err = -ENOMEM;	/* only a fresh tenant lacks an id: retried on use */
				goto out;
			}
			ident_add(e, id);
		}
		id->tidx = (int)i;
		e->t[i].id = id->id;
	}
	for (size_t i = 0; i < e->nt; i++) {
		struct tstate *t = &e->t[i];

		if (!tl[i].present)
			continue;
		free(t->win.ts);
		t->win.ts = tl[i].win;
		t->win.cap = (uint32_t)(tl[i].nwin ? tl[i].nwin : 0);
		t->win.n = (uint32_t)tl[i].nwin;
		t->win.head = 0;
		if (!t->win.cap) {
			free(t->win.ts);
			t->win.ts = NULL;
		}
		tl[i].win = NULL;
		t->restricted = tl[i].restricted;
		t->monitor_only = tl[i].restricted && tl[i].monitor_only;
		t->reason = tl[i].restricted ? tl[i].reason : NULL;
		t->since_ns = tl[i].restricted ? tl[i].since_ns : 0;
		t->until_ns = tl[i].restricted ? tl[i].until_ns : 0;
	}
	verdicts_free(e);
	for (size_t i = 0; i < nvs; i++)
		vstore(e, &vs[i]);
	e->dirty = 0;
	e->notify = 0;
	{
		struct json_object_iterator it = json_object_iter_begin(ten);
		struct json_object_iterator end = json_object_iter_end(ten);

		for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
			const char *name = json_object_iter_peek_name(&it);
			struct json_object *r;
			bool was;

			if (rg_config_find_tenant(e->cfg, name) >= 0 || !valid_name(name))
				continue;
			was = json_object_object_get_ex(json_object_iter_peek_value(&it),
							"restricted", &r) &&
			      json_object_get_boolean(r);

			struct rg_audit_event ev = {
				.event = "tenant_removed", .time_ns = now_ns, .tenant = name,
				.reason = "in the state file, not in the configuration",
				.detail = was ? "was restricted" : NULL,
			};

			audit(e, &ev);
			if (was)
				pr_warn("state: tenant %s is restricted in the state file but no "
					"longer configured: dropped", name);
			mark(e, RG_DIRTY_URGENT);
		}
	}
	for (size_t i = 0; i < e->nt; i++)
		lift_if_expired(e, (int)i, now_ns);
	e->notify &= ~RG_DIRTY_BUDGET;
	err = 0;
out:
	for (size_t i = 0; i < e->nt; i++)
		free(tl[i].win);
	free(tl);
	for (size_t k = 0; idl && k < nids; k++)
		free(idl[k]);
	free(idl);
	free(vs);
	return err;
}
