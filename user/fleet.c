// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * fleet.c: the fleet of relays over Redis (fleet.h). Takes the [fleet] configuration and
 * the engine; drives two links (commands; one XREAD reader), calls the function library
 * of fleet_lib.c, applies other relays' events to the engine, and queues what cannot be
 * sent. Reports stats for metrics and status, and the relays' heartbeats.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <json-c/json.h>

#include "clock.h"
#include "containers.h"
#include "event.h"	/* rg_ratelimit */
#include "fleet.h"
#include "fleet_lib.h"
#include "log.h"
#include "names.h"
#include "redis_link.h"

#define KEY_MAX 160
#define READ_BLOCK_MS 1000	/* XREAD BLOCK: well inside the reader's deadline */
#define READ_COUNT "512"
#define ARGV_MAX 16

/* A command waiting to be sent (or replayed): an FCALL's argv, owned. */
struct qitem {
	struct rg_link link;
	int argc;
	char *argv[ARGV_MAX];
	bool budget;		/* rg_budget: its reply may restrict the tenant */
	bool in_flight;
	struct rg_fleet *f;
};

/* A policy request waiting for its budget step. */
struct pending {
	struct rg_link link;
	uint64_t conn_id;
	bool done;
	struct qitem *q;	/* the step itself, queued for replay on a fallback */
	struct rg_fleet *f;
	uint64_t sent_mono_ns;
};

struct rg_fleet {
	struct rg_fleet_conf c;		/* strings point into cfg: kept alive by the agent */
	struct rg_engine *e;
	struct rg_fleet_ops ops;
	void *ctx;
	struct rg_redis_link *cmd, *rd;
	char k_state[KEY_MAX], k_gen[KEY_MAX], k_events[KEY_MAX], k_relays[KEY_MAX];
	char relay_by[RG_FLEET_NAME_MAX + 8];	/* "fleet:RELAY" */
	bool applying;			/* inside a remote change: do not publish it */
	bool loaded;			/* the library is loaded on this connection */
	bool synced;			/* snapshot or follow done: the reader may read */
	bool syncing;
	bool reading;			/* an XREAD is pending */
	char last_id[48];
	uint64_t max_gen;		/* the highest generation seen: the offline clock */
	struct rg_fifo queue;		/* struct qitem, in order */
	struct rg_fifo pending;		/* struct pending */
	struct rg_fleet_stats st;
	char *relays_json;
	struct rg_ratelimit rl_fallback, rl_err;
	char *qpath;			/* STATE_DIR/fleet.queue: the queue across a restart */
	bool queue_dirty;
};

/* ---- small helpers ---- */

static uint64_t now_ms(void)
{
	return rg_now_real_ns() / 1000000u;
}

static uint64_t offline_gen(struct rg_fleet *f)
{
	uint64_t g = now_ms() << 8;

	if (g <= f->max_gen)
		g = f->max_gen + 1;
	f->max_gen = g;
	return g;
}

static void seen_gen(struct rg_fleet *f, const char *s)
{
	uint64_t g = s ? strtoull(s, NULL, 10) : 0;

	if (g > f->max_gen)
		f->max_gen = g;
}

static bool link_up(const struct rg_redis_link *l)
{
	return rg_redis_link_state(l) == RG_LINK_UP;
}

static void qitem_free(struct qitem *q)
{
	if (!q)
		return;
	for (int i = 0; i < q->argc; i++)
		free(q->argv[i]);
	free(q);
}

/* argv from NULL-terminated strings. */
static struct qitem *qitem_new(struct rg_fleet *f, bool budget, const char *const *args)
{
	struct qitem *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	q->f = f;
	q->budget = budget;
	for (; args[q->argc]; q->argc++) {
		if (q->argc >= ARGV_MAX || !(q->argv[q->argc] = strdup(args[q->argc]))) {
			qitem_free(q);
			return NULL;
		}
	}
	return q;
}

static void enqueue(struct rg_fleet *f, struct qitem *q)
{
	while (f->queue.n >= f->c.queue_max && f->queue.head) {
		struct qitem *old = rg_container_of(f->queue.head, struct qitem, link);

		if (old->in_flight)
			break;
		rg_fifo_del(&f->queue, &old->link);
		qitem_free(old);
		f->st.queue_dropped++;
	}
	rg_fifo_push(&f->queue, &q->link);
	f->queue_dirty = true;
}

/* The queue as one JSON array per line ([budget, argv...]), written whole and renamed
 * into place once a tick while it changes (a crash loses at most that second, as the
 * journal's batched fsync may); no file when it is empty. */
static void queue_save(struct rg_fleet *f)
{
	char tmp[4096];
	FILE *fp;
	bool ok = true;

	if (!f->queue_dirty || !f->qpath)
		return;
	f->queue_dirty = false;
	if (!f->queue.n) {
		unlink(f->qpath);
		return;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", f->qpath);
	fp = fopen(tmp, "we");
	if (!fp) {
		pr_warn("fleet: cannot save the queue in %s: %s", tmp, strerror(errno));
		return;
	}
	for (struct rg_link *l = f->queue.head; l && ok; l = l->next) {
		struct qitem *q = rg_container_of(l, struct qitem, link);
		json_object *a = json_object_new_array();

		if (!a)
			break;
		json_object_array_add(a, json_object_new_boolean(q->budget));
		for (int i = 0; i < q->argc; i++)
			json_object_array_add(a, json_object_new_string(q->argv[i]));
		ok = fprintf(fp, "%s\n", json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN)) > 0;
		json_object_put(a);
	}
	ok = ok && !fflush(fp) && !fsync(fileno(fp));
	if (fclose(fp) || !ok || rename(tmp, f->qpath)) {
		pr_warn("fleet: cannot save the queue in %s: %s", f->qpath, strerror(errno));
		unlink(tmp);
	}
}

static void queue_load(struct rg_fleet *f)
{
	FILE *fp = fopen(f->qpath, "re");
	char *line = NULL;
	size_t cap = 0;
	size_t n = 0;

	if (!fp)
		return;
	while (getline(&line, &cap, fp) > 0) {
		json_object *a = json_tokener_parse(line);
		const char *args[ARGV_MAX + 1] = { 0 };
		size_t len = a && json_object_is_type(a, json_type_array)
				     ? json_object_array_length(a) : 0;
		struct qitem *q;

		if (len >= 2 && len - 1 <= ARGV_MAX) {
			for (size_t i = 1; i < len; i++)
				args[i - 1] = json_object_get_string(json_object_array_get_idx(a, i));
			q = qitem_new(f, json_object_get_boolean(json_object_array_get_idx(a, 0)),
				      args);
			if (q) {
				enqueue(f, q);
				n++;
			}
		}
		json_object_put(a);
	}
	free(line);
	fclose(fp);
	if (n)
		pr_info("fleet: %zu queued change(s) from %s wait for Redis", n, f->qpath);
}

static const redisReply *elem(const redisReply *r, size_t i)
{
	return r && r->type == REDIS_REPLY_ARRAY && i < r->elements ? r->element[i] : NULL;
}

static const char *str_of(const redisReply *r)
{
	return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) ? r->str
										      : NULL;
}

static bool reply_error(struct rg_fleet *f, int status, const redisReply *r, const char *what)
{
	if (!status && r && r->type != REDIS_REPLY_ERROR)
		return false;
	f->st.errors++;
	if (rg_ratelimit_ok(&f->rl_err, "fleet", "Redis error"))
		pr_warn("fleet: %s: %s", what,
			status ? strerror(-status) : (r && r->str ? r->str : "no reply"));
	return true;
}

/* ---- events: JSON <-> engine changes ---- */

static const char *jstr(json_object *o, const char *k)
{
	json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : NULL;
}

static uint64_t jnum(json_object *o, const char *k)
{
	const char *s = jstr(o, k);

	return s ? strtoull(s, NULL, 10) : 0;
}

static void jadd(json_object *o, const char *k, const char *v)
{
	if (v)
		json_object_object_add(o, k, json_object_new_string(v));
}

static void jaddu(json_object *o, const char *k, uint64_t v)
{
	char b[24];

	snprintf(b, sizeof(b), "%" PRIu64, v);
	jadd(o, k, b);
}

/* The name of the tenant with stable id (NULL: none). */
static const char *tenant_by_id(struct rg_fleet *f, uint32_t id)
{
	struct rg_tenant_info ti;
	size_t n = rg_engine_tenant_count(f->e);

	if (!id)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (!rg_engine_tenant_info(f->e, i, rg_now_real_ns(), &ti) && ti.id == id)
			return ti.name;
	return NULL;
}

/* An event: obj, keep (1: the object stays in the state hash) and its JSON. */
static json_object *event_of(struct rg_fleet *f, const struct rg_engine_change *c, char *obj,
			     size_t olen, bool *keep)
{
	json_object *o = json_object_new_object();
	char cidr[RG_ADDR_STRLEN + 8];

	if (!o)
		return NULL;
	jadd(o, "relay", f->c.relay_id);
	switch (c->kind) {
	case RG_CHANGE_RESTRICT:
	case RG_CHANGE_LIFT:
		snprintf(obj, olen, "tenant:%s", c->tenant);
		*keep = c->kind == RG_CHANGE_RESTRICT;
		jadd(o, "t", *keep ? "restrict" : "lift");
		jadd(o, "tenant", c->tenant);
		if (*keep) {
			jadd(o, "reason", c->reason);
			jaddu(o, "at", c->at_ns / 1000000u);
			jaddu(o, "until", c->until_ns / 1000000u);
		}
		break;
	case RG_CHANGE_VERDICT:
	case RG_CHANGE_VERDICT_DEL:
		rg_cidr_format(&c->v.target, cidr, sizeof(cidr));
		snprintf(obj, olen, "host:%s", cidr);
		*keep = c->kind == RG_CHANGE_VERDICT;
		jadd(o, "t", *keep ? "verdict" : "unverdict");
		jadd(o, "target", cidr);
		if (*keep) {
			jadd(o, "action", rg_verdict_action_name(c->v.action));
			jadd(o, "origin", rg_origin_name(c->v.origin));
			jaddu(o, "interval", c->v.interval_ns);
			jaddu(o, "burst", c->v.burst_ns);
			jaddu(o, "since", c->v.since_ns);
			jaddu(o, "expires", c->v.expires_ns);
			jadd(o, "tenant", tenant_by_id(f, c->v.tenant_id));
			if (c->v.by[0])
				jadd(o, "by", c->v.by);
		}
		break;
	default:
		json_object_put(o);
		return NULL;
	}
	return o;
}

/* Apply one event (JSON text) another relay made. own: events of this relay are skipped
 * (applied here when made) unless from a snapshot. */
static void apply_event(struct rg_fleet *f, const char *text, bool snapshot)
{
	json_object *o = json_tokener_parse(text);
	struct rg_engine_change c = { 0 };
	const char *t, *relay, *s;
	char by[RG_FLEET_NAME_MAX + 8];
	int code, err;

	if (!o)
		return;
	t = jstr(o, "t");
	relay = jstr(o, "relay");
	seen_gen(f, jstr(o, "gen"));
	/* This relay's own changes were applied when made; a restriction the budget step
	 * made for it (it carries the transaction) may have lost its reply: applied again. */
	if (!t || !relay || (!snapshot && !strcmp(relay, f->c.relay_id) && !jstr(o, "txn")))
		goto out;
	snprintf(by, sizeof(by), "fleet:%.60s", relay);
	c.tenant = jstr(o, "tenant");
	if (!strcmp(t, "restrict")) {
		c.kind = RG_CHANGE_RESTRICT;
		c.reason = jstr(o, "reason");
	} else if (!strcmp(t, "lift")) {
		c.kind = RG_CHANGE_LIFT;
	} else if (!strcmp(t, "verdict") || !strcmp(t, "unverdict")) {
		c.kind = t[0] == 'v' ? RG_CHANGE_VERDICT : RG_CHANGE_VERDICT_DEL;
		s = jstr(o, "target");
		if (!s || rg_cidr_parse(s, &c.v.target, false))
			goto out;
		if (c.kind == RG_CHANGE_VERDICT) {
			s = jstr(o, "action");
			if (!s || rg_name_code(rg_action_names, s, &code))
				goto out;
			c.v.action = (enum rg_action)code;
			s = jstr(o, "origin");
			if (!s || rg_name_code(rg_origin_names, s, &code))
				goto out;
			c.v.origin = (enum rg_origin)code;
			c.v.interval_ns = jnum(o, "interval");
			c.v.burst_ns = jnum(o, "burst");
			c.v.since_ns = jnum(o, "since");
			c.v.expires_ns = jnum(o, "expires");
			snprintf(c.v.by, sizeof(c.v.by), "%.63s", jstr(o, "by") ? jstr(o, "by") : by);
		}
	} else {
		goto out;
	}
	f->applying = true;
	err = rg_engine_fleet_apply(f->e, &c, by, rg_now_real_ns());
	f->applying = false;
	if (!err)
		f->st.applied++;
	else if (err != -EALREADY && err != -ENOENT)
		pr_debug("fleet: event %s from %s: %s", t, relay, strerror(-err));
out:
	json_object_put(o);
}

/* ---- the command link: queue, budget, sync ---- */

static void pump(struct rg_fleet *f);
static void reader_kick(struct rg_fleet *f);
static void load_library(struct rg_fleet *f);

static void budget_restricted(struct rg_fleet *f, const char *tenant)
{
	struct rg_engine_change c = { .kind = RG_CHANGE_RESTRICT, .tenant = tenant,
				      .reason = "limit" };

	f->applying = true;
	rg_engine_fleet_apply(f->e, &c, f->relay_by, rg_now_real_ns());
	f->applying = false;
}

/* A budget reply: {status, count, gen, id}; 1 or 2: the tenant is restricted. */
static void budget_result(struct rg_fleet *f, const struct qitem *q, const redisReply *r)
{
	const redisReply *st = elem(r, 0);

	if (st && st->type == REDIS_REPLY_INTEGER && st->integer >= 1) {
		seen_gen(f, str_of(elem(r, 2)));
		/* argv: FCALL rg_budget 4 win state gen events TENANT ... */
		budget_restricted(f, q->argv[7]);
	}
}

static void queued_reply(void *arg, int status, redisReply *r)
{
	struct qitem *q = arg;
	struct rg_fleet *f = q->f;

	q->in_flight = false;
	if (status == -ECANCELED)
		return;
	if (status) {
		reply_error(f, status, r, "replay");
		return;	/* kept: sent again on the next connect */
	}
	rg_fifo_del(&f->queue, &q->link);
	f->queue_dirty = true;
	if (r->type == REDIS_REPLY_ERROR) {
		/* A function missing after a failover: reload, then this again. */
		if (r->str && strstr(r->str, "Function not found")) {
			/* Back at the tail: sent again once the library is loaded. */
			rg_fifo_push(&f->queue, &q->link);
			if (f->loaded) {
				f->loaded = false;
				load_library(f);
			}
			return;
		}
		reply_error(f, 0, r, "replay");
	} else if (q->budget) {
		budget_result(f, q, r);
	} else {
		/* {0, gen}: made offline and older than what Redis has: dropped there. */
		seen_gen(f, str_of(elem(r, 1)));
		if (elem(r, 0) && elem(r, 0)->integer == 1)
			f->st.published++;
		else
			f->st.stale++;
	}
	qitem_free(q);
}

static int send_item(struct rg_fleet *f, struct qitem *q, rg_redis_reply_fn fn, void *arg,
		     uint32_t deadline_ms)
{
	return rg_redis_link_command(f->cmd, deadline_ms, fn, arg, q->argc,
				     (const char **)q->argv, NULL);
}

static uint32_t cmd_deadline_ms(const struct rg_fleet *f)
{
	/* Replays and publishing are not on a policy request's path: more slack. */
	return (uint32_t)(f->c.redis_timeout_ns / 1000000u) * 20 + 1000;
}

static void pump(struct rg_fleet *f)
{
	if (!link_up(f->cmd) || !f->loaded)
		return;
	for (struct rg_link *l = f->queue.head; l; l = l->next) {
		struct qitem *q = rg_container_of(l, struct qitem, link);

		if (q->in_flight)
			continue;
		if (send_item(f, q, queued_reply, q, cmd_deadline_ms(f)))
			return;
		q->in_flight = true;
	}
}

/* Remove what the fleet no longer has: restrictions and verdicts not in the snapshot. */
struct have {
	char **objs;
	size_t n;
};

static bool have_obj(const struct have *h, const char *obj)
{
	for (size_t i = 0; i < h->n; i++)
		if (!strcmp(h->objs[i], obj))
			return true;
	return false;
}

struct reconcile {
	struct rg_fleet *f;
	const struct have *h;
	struct rg_cidr gone[256];
	size_t ngone;
};

static int reconcile_cb(const struct rg_engine_verdict *v, void *ctx)
{
	struct reconcile *rc = ctx;
	char obj[RG_ADDR_STRLEN + 16], cidr[RG_ADDR_STRLEN + 8];

	rg_cidr_format(&v->target, cidr, sizeof(cidr));
	snprintf(obj, sizeof(obj), "host:%s", cidr);
	if (!have_obj(rc->h, obj) && rc->ngone < sizeof(rc->gone) / sizeof(rc->gone[0]))
		rc->gone[rc->ngone++] = v->target;
	return 0;
}

static void reconcile(struct rg_fleet *f, const struct have *h)
{
	struct reconcile rc = { .f = f, .h = h };
	struct rg_tenant_info ti;
	size_t n = rg_engine_tenant_count(f->e);
	uint64_t now = rg_now_real_ns();
	char obj[RG_TENANT_NAME_MAX + 8];

	f->applying = true;
	for (size_t i = 0; i < n; i++) {
		if (rg_engine_tenant_info(f->e, i, now, &ti) || !ti.restricted || ti.monitor_only)
			continue;
		snprintf(obj, sizeof(obj), "tenant:%s", ti.name);
		if (!have_obj(h, obj)) {
			struct rg_engine_change c = { .kind = RG_CHANGE_LIFT, .tenant = ti.name };

			rg_engine_fleet_apply(f->e, &c, f->relay_by, now);
		}
	}
	rg_engine_verdict_foreach(f->e, reconcile_cb, &rc);
	for (size_t i = 0; i < rc.ngone; i++) {
		struct rg_engine_change c = { .kind = RG_CHANGE_VERDICT_DEL };

		c.v.target = rc.gone[i];
		rg_engine_fleet_apply(f->e, &c, f->relay_by, now);
	}
	f->applying = false;
}

static void snapshot_reply(void *arg, int status, redisReply *r)
{
	struct rg_fleet *f = arg;
	const char *top;
	struct have h = { 0 };

	f->syncing = false;
	if (status == -ECANCELED || reply_error(f, status, r, "snapshot"))
		return;
	top = str_of(elem(r, 0));
	if (!top)
		return;
	if (strcmp(top, "follow")) {
		h.objs = calloc(r->elements / 2 + 1, sizeof(*h.objs));
		if (!h.objs)
			return;
		for (size_t i = 1; i + 1 < r->elements; i += 2) {
			const char *obj = str_of(elem(r, i)), *ev = str_of(elem(r, i + 1));

			if (!obj || !ev)
				continue;
			h.objs[h.n++] = (char *)obj;
			apply_event(f, ev, true);
		}
		reconcile(f, &h);
		free(h.objs);
		snprintf(f->last_id, sizeof(f->last_id), "%s", top);
		f->st.snapshots++;
		pr_info("fleet: snapshot at %s: %zu object(s)", top, h.n);
	}
	f->synced = true;
	reader_kick(f);
}

static void sync_start(struct rg_fleet *f)
{
	const char *argv[] = { "FCALL", "rg_snapshot", "2", f->k_state, f->k_events,
			       f->last_id };

	if (f->syncing || !link_up(f->cmd) || !f->loaded)
		return;
	if (!rg_redis_link_command(f->cmd, cmd_deadline_ms(f), snapshot_reply, f, 6, argv, NULL))
		f->syncing = true;
}

static void load_reply(void *arg, int status, redisReply *r)
{
	struct rg_fleet *f = arg;

	if (status == -ECANCELED || reply_error(f, status, r, "FUNCTION LOAD"))
		return;
	f->loaded = true;
	pump(f);		/* replays first, then the snapshot sees them */
	sync_start(f);
}

static void load_library(struct rg_fleet *f)
{
	const char *argv[] = { "FUNCTION", "LOAD", "REPLACE", rg_fleet_library };

	rg_redis_link_command(f->cmd, cmd_deadline_ms(f), load_reply, f, 4, argv, NULL);
}

static void cmd_state(void *arg, enum rg_redis_link_state s)
{
	struct rg_fleet *f = arg;

	if (s == RG_LINK_UP) {
		pr_info("fleet: relay %s: Redis link up", f->c.relay_id);
		load_library(f);
		return;
	}
	f->loaded = false;
	f->syncing = false;
	/* Until the next sync the reader may miss a trim: it waits for it. */
	f->synced = false;
}

/* ---- the reader ---- */

static void read_reply(void *arg, int status, redisReply *r)
{
	struct rg_fleet *f = arg;
	const redisReply *stream, *entries;

	f->reading = false;
	if (status == -ECANCELED)
		return;
	if (status || !r || r->type == REDIS_REPLY_ERROR) {
		reply_error(f, status, r, "XREAD");
		return;	/* the tick or the next UP starts it again */
	}
	if (r->type == REDIS_REPLY_ARRAY) {
		stream = elem(r, 0);
		entries = elem(stream, 1);
		for (size_t i = 0; entries && i < entries->elements; i++) {
			const redisReply *ent = entries->element[i], *id = elem(ent, 0),
					 *fields = elem(ent, 1);

			if (!str_of(id))
				continue;
			for (size_t k = 0; fields && k + 1 < fields->elements; k += 2)
				if (str_of(fields->element[k]) &&
				    !strcmp(fields->element[k]->str, "e") &&
				    str_of(fields->element[k + 1]))
					apply_event(f, fields->element[k + 1]->str, false);
			snprintf(f->last_id, sizeof(f->last_id), "%s", id->str);
			f->st.last_event_ms = strtoull(id->str, NULL, 10);
		}
	}
	reader_kick(f);
}

static void reader_kick(struct rg_fleet *f)
{
	const char *argv[] = { "XREAD", "COUNT", READ_COUNT, "BLOCK", "1000", "STREAMS",
			       f->k_events, f->last_id };

	if (f->reading || !f->synced || !link_up(f->rd))
		return;
	if (!rg_redis_link_command(f->rd, READ_BLOCK_MS + 2000, read_reply, f, 8, argv, NULL))
		f->reading = true;
}

static void rd_state(void *arg, enum rg_redis_link_state s)
{
	struct rg_fleet *f = arg;

	if (s != RG_LINK_UP) {
		f->reading = false;
		return;
	}
	/* A reader back after a gap: was its last id trimmed meanwhile? Ask first. */
	f->synced = false;
	sync_start(f);
}

/* ---- the budget step ---- */

static struct pending *pending_find(struct rg_fleet *f, uint64_t conn_id)
{
	for (struct rg_link *l = f->pending.head; l; l = l->next) {
		struct pending *p = rg_container_of(l, struct pending, link);

		if (p->conn_id == conn_id)
			return p;
	}
	return NULL;
}

static void fallback(struct rg_fleet *f, struct qitem *q, int status)
{
	f->st.fallbacks++;
	if (status == -ETIMEDOUT)
		f->st.timeouts++;
	if (rg_ratelimit_ok(&f->rl_fallback, "fleet", "fallback"))
		pr_warn("fleet: budget step for tenant %s: %s; decided locally, queued",
			q->argv[7], strerror(-status));
	enqueue(f, q);
}

static void budget_reply(void *arg, int status, redisReply *r)
{
	struct pending *p = arg;
	struct rg_fleet *f = p->f;
	struct qitem *q = p->q;

	if (status == -ECANCELED) {
		qitem_free(q);
		p->q = NULL;
		return;
	}
	p->q = NULL;
	if (status || r->type == REDIS_REPLY_ERROR) {
		if (!status && r->str && strstr(r->str, "Function not found") && f->loaded) {
			f->loaded = false;
			load_library(f);
		}
		reply_error(f, status, r, "budget step");
		fallback(f, q, status ? status : -EIO);
	} else {
		f->st.rtt_sum_ns += rg_now_mono_ns() - p->sent_mono_ns;
		f->st.rtt_count++;
		budget_result(f, q, r);
		qitem_free(q);
	}
	p->done = true;
	f->ops.resume(f->ctx, p->conn_id);
}

int rg_fleet_budget(struct rg_fleet *f, const struct rg_engine_peek *peek,
		    const struct rg_policy_request *req, uint64_t conn_id, uint64_t now_ns)
{
	char win[KEY_MAX + RG_TENANT_NAME_MAX], txn[256], now[24], window[24], limit[24],
		maxlen[24], until[24];
	struct pending *p;
	struct qitem *q;
	uint64_t ms = now_ns / 1000000u;
	int err;

	snprintf(win, sizeof(win), "%s:win:%s", f->c.key_prefix, peek->tenant);
	/* Postfix's instance is unique per smtpd process, not across relays. */
	if (req->instance.p && req->instance.len)
		snprintf(txn, sizeof(txn), "%s:%.*s", f->c.relay_id,
			 (int)(req->instance.len > 200 ? 200 : req->instance.len), req->instance.p);
	else
		snprintf(txn, sizeof(txn), "%s:n%" PRIu64 ".%" PRIu64, f->c.relay_id, now_ns,
			 conn_id);
	snprintf(now, sizeof(now), "%" PRIu64, ms);
	snprintf(window, sizeof(window), "%" PRIu64, peek->window_ns / 1000000u);
	snprintf(limit, sizeof(limit), "%" PRIu64, peek->limit);
	snprintf(maxlen, sizeof(maxlen), "%" PRIu64, f->c.stream_maxlen);
	snprintf(until, sizeof(until), "%" PRIu64,
		 peek->block_duration_ns ? ms + peek->block_duration_ns / 1000000u : 0);
	const char *args[] = { "FCALL", "rg_budget", "4", win, f->k_state, f->k_gen, f->k_events,
			       peek->tenant, txn, now, window, limit, f->c.relay_id, maxlen, until,
			       NULL };

	f->st.budget_steps++;
	q = qitem_new(f, true, args);
	if (!q)
		return -ENOMEM;
	if (!link_up(f->cmd) || !f->loaded) {
		fallback(f, q, -ENOTCONN);
		return -ENOTCONN;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		qitem_free(q);
		return -ENOMEM;
	}
	p->conn_id = conn_id;
	p->f = f;
	p->q = q;
	p->sent_mono_ns = rg_now_mono_ns();
	err = send_item(f, q, budget_reply, p, (uint32_t)(f->c.redis_timeout_ns / 1000000u));
	if (err) {
		free(p);
		fallback(f, q, err);
		return err;
	}
	rg_fifo_push(&f->pending, &p->link);
	return 0;
}

bool rg_fleet_done(struct rg_fleet *f, uint64_t conn_id)
{
	struct pending *p = f ? pending_find(f, conn_id) : NULL;

	if (!p || !p->done)
		return false;
	rg_fifo_del(&f->pending, &p->link);
	free(p);
	return true;
}

/* ---- publishing ---- */

void rg_fleet_change(struct rg_fleet *f, const struct rg_engine_change *c)
{
	char obj[RG_ADDR_STRLEN + RG_TENANT_NAME_MAX + 16], win[KEY_MAX + RG_TENANT_NAME_MAX],
		gen[24], maxlen[24], now[24];
	json_object *o;
	struct qitem *q;
	bool keep = false;

	if (!f || f->applying || c->kind == RG_CHANGE_TXN ||
	    (c->kind == RG_CHANGE_RESTRICT && c->monitor_only))
		return;
	o = event_of(f, c, obj, sizeof(obj), &keep);
	if (!o)
		return;
	snprintf(win, sizeof(win), "%s:win:%s", f->c.key_prefix, c->tenant ? c->tenant : "-");
	/* Made online: Redis gives it the next generation; offline: ours, to be compared. */
	snprintf(gen, sizeof(gen), "%" PRIu64, link_up(f->cmd) ? 0 : offline_gen(f));
	snprintf(maxlen, sizeof(maxlen), "%" PRIu64, f->c.stream_maxlen);
	snprintf(now, sizeof(now), "%" PRIu64, now_ms());
	const char *args[] = { "FCALL", "rg_publish", "4", f->k_state, f->k_gen, f->k_events, win,
			       obj, gen, keep ? "1" : "0", json_object_to_json_string(o), maxlen,
			       now, NULL };

	q = qitem_new(f, false, args);
	json_object_put(o);
	if (!q)
		return;
	enqueue(f, q);
	pump(f);
}

/* ---- heartbeat, lifecycle ---- */

static void relays_reply(void *arg, int status, redisReply *r)
{
	struct rg_fleet *f = arg;
	json_object *all;

	if (status == -ECANCELED || reply_error(f, status, r, "HGETALL relays"))
		return;
	all = json_object_new_object();
	if (!all)
		return;
	for (size_t i = 0; i + 1 < r->elements; i += 2) {
		const char *id = str_of(elem(r, i)), *v = str_of(elem(r, i + 1));
		json_object *o = v ? json_tokener_parse(v) : NULL;

		if (id && o)
			json_object_object_add(all, id, o);
		else
			json_object_put(o);
	}
	free(f->relays_json);
	f->relays_json = strdup(json_object_to_json_string(all));
	json_object_put(all);
}

static void ignore_reply(void *arg, int status, redisReply *r)
{
	reply_error(arg, status == -ECANCELED ? 0 : status, status ? NULL : r, "heartbeat");
}

void rg_fleet_tick(struct rg_fleet *f, uint64_t now_ns)
{
	char v[320];
	uint64_t ms = now_ns / 1000000u;
	struct rg_fleet_stats st;

	if (!f)
		return;
	rg_fleet_stats(f, &st);
	f->st.queue_depth = f->queue.n;
	queue_save(f);
	if (!link_up(f->cmd))
		return;
	if (!f->loaded)
		return;
	snprintf(v, sizeof(v),
		 "{\"heartbeat_ms\":%" PRIu64 ",\"link\":\"%s\",\"synced\":%s,\"queue\":%zu,"
		 "\"lag_ms\":%" PRIu64 ",\"last_id\":\"%s\"}", ms,
		 link_up(f->rd) ? "up" : "degraded", f->synced ? "true" : "false", f->queue.n,
		 st.lag_ms, f->last_id);
	const char *hb[] = { "HSET", f->k_relays, f->c.relay_id, v };
	const char *ga[] = { "HGETALL", f->k_relays };

	rg_redis_link_command(f->cmd, cmd_deadline_ms(f), ignore_reply, f, 4, hb, NULL);
	rg_redis_link_command(f->cmd, cmd_deadline_ms(f), relays_reply, f, 2, ga, NULL);
	pump(f);
	if (!f->synced)
		sync_start(f);
	reader_kick(f);
}

int rg_fleet_new(const struct rg_fleet_conf *fc, const char *user, const char *password,
		 const char *state_dir, struct rg_engine *e, const struct rg_fleet_ops *ops,
		 void *ctx, struct rg_fleet **out)
{
	struct rg_redis_link_opts o = {
		.redis = fc->redis, .sentinels = (const char *const *)fc->sentinels,
		.n_sentinels = fc->n_sentinels, .sentinel_master = fc->sentinel_master,
		.db = (int)fc->redis_db, .connect_timeout_ms = 1000,
		.heartbeat_ms = (uint32_t)(fc->heartbeat_ns / 1000000u),
		.backoff_min_ms = 100, .backoff_max_ms = 5000,
		.user = user, .password = password,
	};
	char name[RG_FLEET_NAME_MAX + 8];
	struct rg_fleet *f;
	int err;

	*out = NULL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->c = *fc;
	f->e = e;
	f->ops = *ops;
	f->ctx = ctx;
	snprintf(f->k_state, KEY_MAX, "%s:state", fc->key_prefix);
	snprintf(f->k_gen, KEY_MAX, "%s:gen", fc->key_prefix);
	snprintf(f->k_events, KEY_MAX, "%s:events", fc->key_prefix);
	snprintf(f->k_relays, KEY_MAX, "%s:relays", fc->key_prefix);
	snprintf(f->relay_by, sizeof(f->relay_by), "fleet:%s", fc->relay_id);
	f->st.relay_id = fc->relay_id;
	rg_engine_set_relay(e, fc->relay_id);
	if (state_dir && asprintf(&f->qpath, "%s/fleet.queue", state_dir) < 0) {
		f->qpath = NULL;
		err = -ENOMEM;
		goto out;
	}
	if (f->qpath)
		queue_load(f);
	snprintf(name, sizeof(name), "%s-cmd", fc->relay_id);
	o.name = name;
	err = rg_redis_link_new(&o, cmd_state, f, &f->cmd);
	if (err)
		goto out;
	snprintf(name, sizeof(name), "%s-read", fc->relay_id);
	err = rg_redis_link_new(&o, rd_state, f, &f->rd);
	if (err)
		goto out;
	*out = f;
	f = NULL;
out:
	rg_fleet_free(f);
	return err;
}

void rg_fleet_free(struct rg_fleet *f)
{
	if (!f)
		return;
	rg_redis_link_free(f->rd);
	rg_redis_link_free(f->cmd);	/* in-flight replays are kept (-ECANCELED) */
	queue_save(f);
	free(f->qpath);
	while (f->queue.head) {
		struct qitem *q = rg_container_of(f->queue.head, struct qitem, link);

		rg_fifo_del(&f->queue, &q->link);
		qitem_free(q);
	}
	while (f->pending.head) {
		struct pending *p = rg_container_of(f->pending.head, struct pending, link);

		rg_fifo_del(&f->pending, &p->link);
		free(p);
	}
	free(f->relays_json);
	free(f);
}

void rg_fleet_fds(const struct rg_fleet *f, int fds[2])
{
	fds[0] = rg_redis_link_fd(f->cmd);
	fds[1] = rg_redis_link_fd(f->rd);
}

void rg_fleet_dispatch(struct rg_fleet *f)
{
	rg_redis_link_dispatch(f->cmd);
	rg_redis_link_dispatch(f->rd);
}

void rg_fleet_stats(const struct rg_fleet *f, struct rg_fleet_stats *out)
{
	uint64_t ms = now_ms();

	*out = f->st;
	out->link_up = link_up(f->cmd) && link_up(f->rd);
	out->synced = f->synced;
	out->queue_depth = f->queue.n;
	/* Lag: how far behind the newest event read this relay is, while following. */
	out->lag_ms = f->synced && f->st.last_event_ms && ms > f->st.last_event_ms && !f->reading
			      ? ms - f->st.last_event_ms : 0;
	snprintf(out->last_id, sizeof(out->last_id), "%s", f->last_id);
}

const char *rg_fleet_relays_json(const struct rg_fleet *f)
{
	return f ? f->relays_json : NULL;
}
