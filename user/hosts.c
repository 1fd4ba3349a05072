// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * hosts.c: the `hosts` listing (hosts.h). Takes the pinned maps and the host prefixes;
 * walks the hosts map and both verdict maps once, merges host verdicts into their host's
 * row, sorts most active first and reports the rows as JSON. Times in the kernel are
 * CLOCK_MONOTONIC and are listed as Unix seconds; rates are rounded to a tenth, in the
 * number and in its text.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "hosts.h"
#include "names.h"

#define NS 1000000000ull

struct row {
	struct rg_cidr target;
	uint32_t tenant_id;
	struct rg_host h;		/* zero for a verdict without a host entry */
	bool has_host;
	struct rg_verdict v;
	bool has_verdict;
	uint64_t rate_tenths;		/* conn_rate_per_min * 10, rounded */
};

struct rows {
	struct row *r;
	size_t n, cap;
	size_t n_hosts;			/* the first n_hosts rows, sorted by address for lookup */
	const struct rg_hosts_opts *o;
	uint64_t now_mono;
};

static struct row *row_add(struct rows *l)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		struct row *r = realloc(l->r, cap * sizeof(*r));

		if (!r)
			return NULL;
		l->r = r;
		l->cap = cap;
	}
	memset(&l->r[l->n], 0, sizeof(l->r[0]));
	return &l->r[l->n++];
}

static uint64_t tenths(double v)
{
	return v > 0 ? (uint64_t)llround(v * 10) : 0;
}

static int host_cb(const struct rg_host_key *key, const struct rg_host *h, void *ctx)
{
	struct rows *l = ctx;
	struct row *r = row_add(l);

	if (!r)
		return -ENOMEM;
	rg_host_of(key->addr, l->o->host_prefix_v4, l->o->host_prefix_v6, &r->target);
	r->h = *h;
	r->has_host = true;
	r->tenant_id = h->tenant_id;
	r->rate_tenths = tenths(rg_bpf_host_window_conns(h, l->now_mono) * 60e9 /
				(double)RG_RATE_WINDOW_NS);
	return 0;
}

static int by_addr(const void *x, const void *y)
{
	const struct row *a = x, *b = y;

	int c = memcmp(a->target.addr, b->target.addr, 16);
	if (c)
		return c;
	return (int)a->target.prefixlen - (int)b->target.prefixlen;
}

static int verdict_cb(const struct rg_cidr *target, bool is_cidr, const struct rg_verdict *v,
		      void *ctx)
{
	struct rows *l = ctx;
	struct row key = { .target = *target }, *r = NULL;

	/* A host verdict's key is the host's key: the same row. */
	if (!is_cidr && l->n_hosts)
		r = bsearch(&key, l->r, l->n_hosts, sizeof(*l->r), by_addr);
	if (!r) {
		r = row_add(l);
		if (!r)
			return -ENOMEM;
		r->target = *target;
	}
	r->v = *v;
	r->has_verdict = true;
	return 0;
}

#define DESC(a, b) ((a) != (b) ? ((a) < (b) ? 1 : -1) : 0)

static int most_active(const void *x, const void *y)
{
	const struct row *a = x, *b = y;
	int c;

	if ((c = DESC(a->rate_tenths, b->rate_tenths)) || (c = DESC(a->h.conns, b->h.conns)) ||
	    (c = DESC(a->h.packets, b->h.packets)) || (c = DESC(a->v.drops, b->v.drops)))
		return c;
	return by_addr(a, b);
}

static json_object *unix_time_or_null(uint64_t mono_ns)
{
	return mono_ns ? json_object_new_int64((int64_t)(rg_mono_to_real_ns(mono_ns) / NS)) : NULL;
}

/* A tenth-rounded number whose JSON text is that number ("5.6", not 5.5999999999999996). */
static json_object *tenth_json(uint64_t t)
{
	char s[32];

	snprintf(s, sizeof(s), "%llu.%llu", (unsigned long long)(t / 10),
		 (unsigned long long)(t % 10));
	return json_object_new_double_s((double)t / 10, s);
}

static json_object *row_json(const struct rows *l, const struct row *r)
{
	json_object *o = json_object_new_object();
	const char *tenant = NULL;
	char addr[RG_ADDR_STRLEN];

	if (r->tenant_id && l->o->tenant_name)
		tenant = l->o->tenant_name(l->o->ctx, r->tenant_id, r->target.addr);
	rg_cidr_format(&r->target, addr, sizeof(addr));
	json_object_object_add(o, "address", json_object_new_string(addr));
	json_object_object_add(o, "tenant", tenant ? json_object_new_string(tenant) : NULL);
	json_object_object_add(o, "tenant_id", json_object_new_int64(r->tenant_id));
	json_object_object_add(o, "connections", json_object_new_int64((int64_t)r->h.conns));
	json_object_object_add(o, "packets", json_object_new_int64((int64_t)r->h.packets));
	json_object_object_add(o, "bytes", json_object_new_int64((int64_t)r->h.bytes));
	json_object_object_add(o, "conn_rate_per_min", tenth_json(r->rate_tenths));
	json_object_object_add(o, "last_seen", unix_time_or_null(r->h.last_seen_ns));
	json_object_object_add(o, "verdict", json_object_new_string(rg_verdict_action_name(
			       r->has_verdict ? (enum rg_action)r->v.action : RG_ACT_NONE)));
	json_object_object_add(o, "origin", r->has_verdict ? json_object_new_string(
			       rg_origin_name((enum rg_origin)r->v.origin)) : NULL);
	if (r->has_verdict && r->v.action == RG_ACT_THROTTLE && r->v.interval_ns)
		json_object_object_add(o, "rate_per_min",
				       tenth_json(tenths(60e9 / (double)r->v.interval_ns)));
	json_object_object_add(o, "drops", json_object_new_int64((int64_t)r->v.drops));
	json_object_object_add(o, "expires", unix_time_or_null(r->v.expires_ns));
	return o;
}

int rg_hosts_list(struct rg_bpf *b, const struct rg_hosts_opts *o, json_object *rep)
{
	struct rows l = { .o = o, .now_mono = rg_now_mono_ns() };
	json_object *arr = NULL;
	int err;

	err = rg_bpf_hosts_foreach(b, host_cb, &l);
	if (err)
		goto out;
	l.n_hosts = l.n;
	if (l.n > 1)
		qsort(l.r, l.n, sizeof(*l.r), by_addr);
	err = rg_bpf_verdict_foreach(b, verdict_cb, &l);
	if (err)
		goto out;
	if (l.n > 1)
		qsort(l.r, l.n, sizeof(*l.r), most_active);
	arr = json_object_new_array();
	if (!arr) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < l.n && (!o->top || i < o->top); i++) {
		json_object *row = row_json(&l, &l.r[i]);

		if (!row || json_object_array_add(arr, row)) {
			json_object_put(row);
			json_object_put(arr);
			err = -ENOMEM;
			goto out;
		}
	}
	json_object_object_add(rep, "total", json_object_new_int64((int64_t)l.n));
	json_object_object_add(rep, "hosts", arr);
out:
	free(l.r);
	return err;
}
