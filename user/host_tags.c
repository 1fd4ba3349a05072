// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * host_tags.c: the authenticated-host table (host_tags.h): a chained hash map of host key
 * -> tenant id with a FIFO in use order, so the least recently authenticated host is the
 * one dropped when the table is full. Takes keys and ids; reports what changed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "containers.h"
#include "host_tags.h"

struct tag {
	struct rg_hent h;
	struct rg_link use;	/* oldest use first */
	uint8_t key[16];
	uint32_t tenant_id;
	enum rg_match how;
};

struct rg_host_tags {
	struct rg_hmap map;
	struct rg_fifo order;
	size_t max;
	uint64_t seed;
};

struct rg_host_tags *rg_host_tags_new(size_t max, uint64_t seed)
{
	struct rg_host_tags *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	if (rg_hmap_init(&t->map, 64)) {
		free(t);
		return NULL;
	}
	t->max = max ? max : 1;
	t->seed = seed;
	return t;
}

static void drop(struct rg_hent *p)
{
	free(rg_container_of(p, struct tag, h));
}

void rg_host_tags_clear(struct rg_host_tags *t)
{
	rg_hmap_clear(&t->map, drop);
	memset(&t->order, 0, sizeof(t->order));
}

void rg_host_tags_free(struct rg_host_tags *t)
{
	if (!t)
		return;
	rg_host_tags_clear(t);
	rg_hmap_fini(&t->map);
	free(t);
}

static uint64_t key_hash(const struct rg_host_tags *t, const uint8_t key[16])
{
	uint64_t h = rg_fnv1a(t->seed, key, 16);

	return h ^ (h >> 29);
}

static struct tag *find(const struct rg_host_tags *t, const uint8_t key[16], uint64_t h)
{
	for (struct rg_hent *p = rg_hmap_bucket(&t->map, h); p; p = p->next) {
		struct tag *g = rg_container_of(p, struct tag, h);

		if (p->h == h && !memcmp(g->key, key, 16))
			return g;
	}
	return NULL;
}

int rg_host_tags_set(struct rg_host_tags *t, const uint8_t key[16], uint32_t tenant_id,
		     enum rg_match how, uint32_t *prev)
{
	uint64_t h = key_hash(t, key);
	struct tag *g = find(t, key, h);

	*prev = 0;
	if (g) {
		rg_fifo_del(&t->order, &g->use);
		rg_fifo_push(&t->order, &g->use);
		if (g->tenant_id == tenant_id) {
			g->how = how;
			return 0;
		}
		*prev = g->tenant_id;
		g->tenant_id = tenant_id;
		g->how = how;
		return 1;
	}
	if (t->map.n >= t->max) {
		struct tag *old = rg_container_of(t->order.head, struct tag, use);

		rg_fifo_del(&t->order, &old->use);
		rg_hmap_del(&t->map, &old->h);
		free(old);
	}
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->h.h = h;
	memcpy(g->key, key, 16);
	g->tenant_id = tenant_id;
	g->how = how;
	rg_hmap_add(&t->map, &g->h);
	rg_fifo_push(&t->order, &g->use);
	return 1;
}

bool rg_host_tags_get(const struct rg_host_tags *t, const uint8_t key[16], uint32_t *tenant_id,
		      enum rg_match *how)
{
	const struct tag *g = t ? find(t, key, key_hash(t, key)) : NULL;

	if (!g)
		return false;
	*tenant_id = g->tenant_id;
	if (how)
		*how = g->how;
	return true;
}

size_t rg_host_tags_count(const struct rg_host_tags *t)
{
	return t ? t->map.n : 0;
}
