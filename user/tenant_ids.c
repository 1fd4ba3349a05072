// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * tenant_ids.c: the name <-> id registry of tenant_ids.h. Takes configured names and saved
 * pairs; keeps two hash maps (by name, by id: every lookup and every duplicate check is
 * O(1), so loading 100k saved ids is linear) and the FIFO of retired names; reports ids,
 * 0 or -errno, and logs why a saved pair is refused.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "containers.h"
#include "log.h"
#include "tenant_ids.h"

struct tid {
	struct rg_hent by_name, by_id;
	struct rg_link age;		/* in retired, oldest removed first */
	bool retired;
	int tidx;			/* index in the configuration last bound, -1: none */
	unsigned gen;			/* bind generation that last saw it configured */
	uint32_t id;
	char name[RG_TENANT_NAME_MAX];
};

struct rg_tenant_ids {
	struct rg_hmap names, ids;
	struct rg_fifo retired;
	uint32_t next;
	unsigned gen;
	uint64_t seed;
};

static uint64_t name_hash(const struct rg_tenant_ids *t, const char *name)
{
	return rg_fnv1a(t->seed, name, strlen(name));
}

static uint64_t id_hash(const struct rg_tenant_ids *t, uint32_t id)
{
	return rg_fnv1a(t->seed, &id, sizeof(id));
}

static struct tid *by_name(const struct rg_tenant_ids *t, const char *name)
{
	uint64_t h = name_hash(t, name);

	for (struct rg_hent *p = rg_hmap_bucket(&t->names, h); p; p = p->next) {
		struct tid *x = rg_container_of(p, struct tid, by_name);

		if (p->h == h && !strcmp(x->name, name))
			return x;
	}
	return NULL;
}

static struct tid *by_id(const struct rg_tenant_ids *t, uint32_t id)
{
	uint64_t h = id_hash(t, id);

	for (struct rg_hent *p = rg_hmap_bucket(&t->ids, h); p; p = p->next) {
		struct tid *x = rg_container_of(p, struct tid, by_id);

		if (p->h == h && x->id == id)
			return x;
	}
	return NULL;
}

static struct tid *tid_add(struct rg_tenant_ids *t, const char *name, uint32_t id)
{
	struct tid *x = calloc(1, sizeof(*x));

	if (!x)
		return NULL;
	snprintf(x->name, sizeof(x->name), "%s", name);
	x->id = id;
	x->tidx = -1;
	x->by_name.h = name_hash(t, x->name);
	x->by_id.h = id_hash(t, id);
	rg_hmap_add(&t->names, &x->by_name);
	rg_hmap_add(&t->ids, &x->by_id);
	return x;
}

static void retire(struct rg_tenant_ids *t, struct tid *x)
{
	x->retired = true;
	x->tidx = -1;
	rg_fifo_push(&t->retired, &x->age);
}

static void unretire(struct rg_tenant_ids *t, struct tid *x)
{
	x->retired = false;
	rg_fifo_del(&t->retired, &x->age);
}

static struct tid *oldest_retired(const struct rg_tenant_ids *t)
{
	return rg_container_of(t->retired.head, struct tid, age);
}

static void tid_drop(struct rg_tenant_ids *t, struct tid *x)
{
	if (x->retired)
		unretire(t, x);
	rg_hmap_del(&t->names, &x->by_name);
	rg_hmap_del(&t->ids, &x->by_id);
	free(x);
}

/* The next id no remembered name holds. The table holds far fewer than 2^32 - 2 names
 * (memory bounds it long before), so the walk ends. */
static uint32_t alloc_id(struct rg_tenant_ids *t)
{
	for (;;) {
		uint32_t id = t->next;

		t->next = id >= RG_TENANT_ID_MAX ? 1 : id + 1;
		if (!by_id(t, id))
			return id;
	}
}

static int init(struct rg_tenant_ids *t, uint64_t seed)
{
	memset(t, 0, sizeof(*t));
	t->seed = seed;
	t->next = 1;
	if (rg_hmap_init(&t->names, 64) || rg_hmap_init(&t->ids, 64)) {
		rg_hmap_fini(&t->names);
		return -ENOMEM;
	}
	return 0;
}

static void free_entry(struct rg_hent *p)
{
	free(rg_container_of(p, struct tid, by_name));
}

static void fini(struct rg_tenant_ids *t)
{
	rg_hmap_clear(&t->names, free_entry);
	rg_hmap_fini(&t->names);
	rg_hmap_fini(&t->ids);
}

struct rg_tenant_ids *rg_tenant_ids_new(uint64_t seed)
{
	struct rg_tenant_ids *t = malloc(sizeof(*t));

	if (t && init(t, seed)) {
		free(t);
		t = NULL;
	}
	return t;
}

void rg_tenant_ids_free(struct rg_tenant_ids *t)
{
	if (!t)
		return;
	fini(t);
	free(t);
}

int rg_tenant_ids_bind(struct rg_tenant_ids *t, const struct rg_config *cfg, uint32_t *out)
{
	size_t n = cfg->n_tenants, nfresh = 0;
	struct tid **fresh = calloc(n ? n : 1, sizeof(*fresh));
	uint32_t next = t->next;
	struct rg_hent *p, *np;
	int err = -ENOMEM;

	if (!fresh)
		goto out;
	/* New names first, into the maps at once so that two of them never draw the same id;
	 * on failure they go again and the cursor moves back: nothing changed. */
	for (size_t i = 0; i < n; i++) {
		if (by_name(t, cfg->tenants[i].name))
			continue;
		fresh[nfresh] = tid_add(t, cfg->tenants[i].name, alloc_id(t));
		if (!fresh[nfresh]) {
			while (nfresh)
				tid_drop(t, fresh[--nfresh]);
			t->next = next;
			goto out;
		}
		nfresh++;
	}
	err = 0;
	t->gen++;
	for (size_t i = 0; i < n; i++) {
		struct tid *x = by_name(t, cfg->tenants[i].name);

		if (x->retired)
			unretire(t, x);
		x->tidx = (int)i;
		x->gen = t->gen;
		if (out)
			out[i] = x->id;
	}
	rg_hmap_foreach(&t->names, p, np) {
		struct tid *x = rg_container_of(p, struct tid, by_name);

		if (x->gen != t->gen && !x->retired)
			retire(t, x);
	}
	while (t->retired.n > RG_TENANT_IDS_RETIRED_MAX)
		tid_drop(t, oldest_retired(t));
out:
	free(fresh);
	return err;
}

uint32_t rg_tenant_ids_of(const struct rg_tenant_ids *t, const char *name)
{
	struct tid *x = by_name(t, name);

	return x ? x->id : 0;
}

int rg_tenant_ids_index(const struct rg_tenant_ids *t, uint32_t id)
{
	struct tid *x = id ? by_id(t, id) : NULL;

	return x ? x->tidx : -1;
}

int rg_tenant_ids_foreach(const struct rg_tenant_ids *t, rg_tenant_ids_cb cb, void *ctx)
{
	struct rg_hent *p, *np;
	int r;

	rg_hmap_foreach(&t->names, p, np) {
		struct tid *x = rg_container_of(p, struct tid, by_name);

		if (!x->retired && (r = cb(x->name, x->id, ctx)))
			return r;
	}
	for (struct rg_link *l = t->retired.head; l; l = l->next) {
		struct tid *x = rg_container_of(l, struct tid, age);

		if ((r = cb(x->name, x->id, ctx)))
			return r;
	}
	return 0;
}

uint32_t rg_tenant_ids_next(const struct rg_tenant_ids *t)
{
	return t->next;
}

int rg_tenant_ids_load(struct rg_tenant_ids *t, const struct rg_tenant_id_pair *pairs,
		       size_t n, uint64_t next)
{
	struct rg_tenant_ids nt;
	int err = init(&nt, t->seed);

	if (err)
		return err;
	for (size_t i = 0; i < n; i++) {
		const char *name = pairs[i].name;
		struct tid *x;

		if (!pairs[i].id || pairs[i].id > RG_TENANT_ID_MAX || !name[0] ||
		    strlen(name) >= RG_TENANT_NAME_MAX) {
			pr_err("state: bad tenant id entry %.64s", name);
			err = -EBADMSG;
			goto fail;
		}
		if (by_id(&nt, pairs[i].id) || by_name(&nt, name)) {
			pr_err("state: tenant id %u or name %.64s used twice", pairs[i].id, name);
			err = -EBADMSG;
			goto fail;
		}
		x = tid_add(&nt, name, pairs[i].id);
		if (!x) {
			err = -ENOMEM;
			goto fail;
		}
		/* Retired until bound, in the saved order: what stays unconfigured keeps its
		 * place in the FIFO. */
		retire(&nt, x);
	}
	nt.next = next >= 1 && next <= RG_TENANT_ID_MAX ? (uint32_t)next : 1;
	nt.gen = t->gen;
	fini(t);
	*t = nt;
	return 0;
fail:
	fini(&nt);
	return err;
}
