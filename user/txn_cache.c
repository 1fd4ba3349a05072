// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * txn_cache.c: the bounded transaction table of txn_cache.h. Takes (instance, client
 * address, sender) keys and answers; keeps a seeded hash map (a client cannot aim
 * collisions) and a FIFO by age for eviction and expiry; reports answers, 0 or -ENOMEM.
 * Only the first INSTANCE_KEEP bytes of an instance are stored, besides its full hash and
 * length: Postfix's queue ids are far shorter.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "containers.h"
#include "txn_cache.h"

#define INSTANCE_KEEP 64

struct txn {
	struct rg_hent h;
	struct rg_link age;		/* oldest first */
	uint64_t t_ns;
	uint8_t addr[16];
	uint32_t inst_len;
	uint64_t sender_h;
	char inst[INSTANCE_KEEP];
	struct rg_txn_answer a;
};

struct rg_txn_cache {
	struct rg_hmap map;
	struct rg_fifo age;
	uint64_t seed;
};

static uint64_t sender_hash(const struct rg_txn_cache *c, const struct rg_slice *sender)
{
	return rg_fnv1a(c->seed ^ 0x5e4d, sender->p ? sender->p : "", sender->p ? sender->len : 0);
}

static uint64_t key_hash(const struct rg_txn_cache *c, const struct rg_slice *inst,
			 const uint8_t addr[16])
{
	return rg_fnv1a(rg_fnv1a(c->seed, addr, 16), inst->p, inst->len);
}

static struct txn *oldest(const struct rg_txn_cache *c)
{
	return c->age.head ? rg_container_of(c->age.head, struct txn, age) : NULL;
}

static void drop(struct rg_txn_cache *c, struct txn *t)
{
	rg_hmap_del(&c->map, &t->h);
	rg_fifo_del(&c->age, &t->age);
	free(t);
}

struct rg_txn_cache *rg_txn_cache_new(uint64_t seed)
{
	struct rg_txn_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->seed = seed;
	if (rg_hmap_init(&c->map, 1024)) {
		free(c);
		return NULL;
	}
	return c;
}

void rg_txn_cache_free(struct rg_txn_cache *c)
{
	if (!c)
		return;
	while (oldest(c))
		drop(c, oldest(c));
	rg_hmap_fini(&c->map);
	free(c);
}

const struct rg_txn_answer *rg_txn_cache_find(const struct rg_txn_cache *c,
					      const struct rg_slice *inst,
					      const uint8_t addr[16], const struct rg_slice *sender,
					      uint64_t now)
{
	uint64_t h = key_hash(c, inst, addr), sh = sender_hash(c, sender);
	size_t keep = inst->len < INSTANCE_KEEP ? inst->len : INSTANCE_KEEP;

	for (struct rg_hent *p = rg_hmap_bucket(&c->map, h); p; p = p->next) {
		struct txn *t = rg_container_of(p, struct txn, h);

		if (p->h == h && t->inst_len == inst->len && t->sender_h == sh &&
		    !memcmp(t->addr, addr, 16) && !memcmp(t->inst, inst->p, keep) &&
		    t->t_ns + RG_TXN_TTL_NS > now)
			return &t->a;
	}
	return NULL;
}

void rg_txn_cache_forget(struct rg_txn_cache *c, const struct rg_txn_answer *a)
{
	drop(c, rg_container_of(a, struct txn, a));
}

void rg_txn_cache_expire(struct rg_txn_cache *c, uint64_t now)
{
	while (oldest(c) && oldest(c)->t_ns + RG_TXN_TTL_NS <= now)
		drop(c, oldest(c));
}

int rg_txn_cache_remember(struct rg_txn_cache *c, const struct rg_slice *inst,
			  const uint8_t addr[16], const struct rg_slice *sender,
			  const struct rg_txn_answer *a, uint64_t now)
{
	int evicted = 0;
	struct txn *t;

	if (inst->len > UINT32_MAX)
		return 0;
	rg_txn_cache_expire(c, now);
	if (c->map.n >= RG_TXN_MAX) {
		drop(c, oldest(c));
		evicted = 1;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->h.h = key_hash(c, inst, addr);
	t->sender_h = sender_hash(c, sender);
	t->t_ns = now;
	memcpy(t->addr, addr, 16);
	t->inst_len = (uint32_t)inst->len;
	memcpy(t->inst, inst->p, inst->len < INSTANCE_KEEP ? inst->len : INSTANCE_KEEP);
	t->a = *a;
	rg_fifo_push(&c->age, &t->age);
	rg_hmap_add(&c->map, &t->h);
	return evicted;
}

size_t rg_txn_cache_count(const struct rg_txn_cache *c)
{
	return c->map.n;
}
