// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * audit_repeat.c: the repeated-event table of the audit log (audit_repeat.h). Takes the
 * events the engine audits; keeps, per (kind, tenant, host), the time its interval began,
 * the count of events since the full line and the last one's time and sender, in a fixed
 * pool of entries found through a hash map and kept oldest first in a queue (intervals
 * end in the order they began). Reports aggregates through the caller's writer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_repeat.h"
#include "containers.h"
#include "log.h"

#define KIND_MAX 24
#define TENANT_MAX 64

struct entry {
	struct rg_hent h;
	struct rg_link q;		/* in used (oldest first) or unused */
	char kind[KIND_MAX];		/* "would_reject" */
	char tenant[TENANT_MAX];
	uint32_t tenant_id;
	struct rg_cidr host;
	bool monitor;
	uint64_t began_ns;		/* the full line's time */
	uint64_t repeats;		/* counted since, not written */
	uint64_t first_ns, last_ns;	/* of the counted ones */
	char sender[RG_PRINTABLE_MAX + 4]; /* the last one's, sanitised */
};

struct rg_audit_repeat {
	struct entry *pool;
	size_t max;
	struct rg_hmap map;
	struct rg_fifo used, unused;
};

/* The kinds one client repeats by the thousand; every other event is always written. */
static bool aggregated(const char *kind)
{
	return !strcmp(kind, "would_reject") || !strcmp(kind, "reject");
}

static uint64_t key_hash(const char *kind, const char *tenant, const struct rg_cidr *host)
{
	uint64_t h = rg_fnv1a(0, kind, strlen(kind));

	h = rg_fnv1a(h, tenant, strlen(tenant));
	h = rg_fnv1a(h, host->addr, sizeof(host->addr));
	h = rg_fnv1a(h, &host->prefixlen, sizeof(host->prefixlen));
	return h ^ (h >> 29);
}

struct rg_audit_repeat *rg_audit_repeat_new(size_t max)
{
	struct rg_audit_repeat *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->max = max ? max : RG_AUDIT_REPEAT_MAX;
	r->pool = calloc(r->max, sizeof(*r->pool));
	if (!r->pool || rg_hmap_init(&r->map, 1024)) {
		free(r->pool);
		free(r);
		return NULL;
	}
	for (size_t i = 0; i < r->max; i++)
		rg_fifo_push(&r->unused, &r->pool[i].q);
	return r;
}

void rg_audit_repeat_free(struct rg_audit_repeat *r)
{
	if (!r)
		return;
	rg_hmap_fini(&r->map);
	free(r->pool);
	free(r);
}

size_t rg_audit_repeat_pending(const struct rg_audit_repeat *r)
{
	return r ? r->used.n : 0;
}

static struct entry *find(struct rg_audit_repeat *r, uint64_t h, const char *kind,
			  const char *tenant, const struct rg_cidr *host)
{
	for (struct rg_hent *p = rg_hmap_bucket(&r->map, h); p; p = p->next) {
		struct entry *e = rg_container_of(p, struct entry, h);

		if (p->h == h && !strcmp(e->kind, kind) && !strcmp(e->tenant, tenant) &&
		    e->host.prefixlen == host->prefixlen &&
		    !memcmp(e->host.addr, host->addr, sizeof(host->addr)))
			return e;
	}
	return NULL;
}

/* The aggregate's line (when it counted any) and the entry back to the unused pool. */
static void retire(struct rg_audit_repeat *r, struct entry *e, rg_audit_emit_fn emit, void *ctx)
{
	char kind[KIND_MAX + 16];

	if (e->repeats) {
		struct rg_audit_event ev = {
			.event = kind, .time_ns = e->last_ns, .monitor = e->monitor,
			.tenant = e->tenant, .tenant_id = e->tenant_id, .host = &e->host,
			.repeats = e->repeats, .first_ns = e->first_ns, .last_ns = e->last_ns,
			.sender = e->sender, .sender_len = strlen(e->sender),
		};

		snprintf(kind, sizeof(kind), "%s_repeated", e->kind);
		emit(ctx, &ev);
	}
	rg_hmap_del(&r->map, &e->h);
	rg_fifo_del(&r->used, &e->q);
	rg_fifo_push(&r->unused, &e->q);
}

static struct entry *oldest(struct rg_audit_repeat *r)
{
	return r->used.head ? rg_container_of(r->used.head, struct entry, q) : NULL;
}

void rg_audit_repeat_flush(struct rg_audit_repeat *r, uint64_t now_ns, uint64_t interval_ns,
			   rg_audit_emit_fn emit, void *ctx)
{
	struct entry *e;

	if (!r)
		return;
	while ((e = oldest(r)) &&
	       (now_ns == UINT64_MAX || now_ns - e->began_ns >= interval_ns || now_ns < e->began_ns))
		retire(r, e, emit, ctx);
}

bool rg_audit_repeat_count(struct rg_audit_repeat *r, const struct rg_audit_event *ev,
			   uint64_t interval_ns, rg_audit_emit_fn emit, void *ctx)
{
	struct entry *e;
	uint64_t h;

	if (!r || !interval_ns || !ev->tenant || !ev->host || !aggregated(ev->event) ||
	    strlen(ev->event) >= KIND_MAX || strlen(ev->tenant) >= TENANT_MAX)
		return false;
	h = key_hash(ev->event, ev->tenant, ev->host);
	e = find(r, h, ev->event, ev->tenant, ev->host);
	if (e && ev->time_ns >= e->began_ns && ev->time_ns - e->began_ns < interval_ns) {
		if (!e->repeats)
			e->first_ns = ev->time_ns;
		e->repeats++;
		e->last_ns = ev->time_ns;
		if (ev->sender)
			rg_printable(ev->sender, ev->sender_len, e->sender);
		else
			e->sender[0] = '\0';
		return true;
	}
	/* A new interval for this pair: what the old one counted goes out first. */
	if (e)
		retire(r, e, emit, ctx);
	if (!r->unused.head)
		retire(r, oldest(r), emit, ctx);	/* full: the oldest makes room */
	e = rg_container_of(r->unused.head, struct entry, q);
	rg_fifo_del(&r->unused, &e->q);
	memset(e, 0, sizeof(*e));
	snprintf(e->kind, sizeof(e->kind), "%s", ev->event);
	snprintf(e->tenant, sizeof(e->tenant), "%s", ev->tenant);
	e->tenant_id = ev->tenant_id;
	e->host = *ev->host;
	e->monitor = ev->monitor;
	e->began_ns = ev->time_ns;
	e->h.h = h;
	rg_hmap_add(&r->map, &e->h);
	rg_fifo_push(&r->used, &e->q);
	return false;
}
