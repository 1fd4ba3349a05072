// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * txn_cache.c: the bounded transaction table of txn_cache.h. Takes (instance, client
 * address, sender) keys and answers; keeps a seeded hash map (a client cannot aim
 * collisions) over a ring of slots in arrival order for eviction and expiry; reports
 * answers, 0 or -ENOMEM.
 * Only the first INSTANCE_KEEP bytes of an instance are stored, besides its full hash and
 * length: Postfix's queue ids are far shorter.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "containers.h"
#include "txn_cache.h"

#define INSTANCE_KEEP 64
/* Slots are allocated a chunk at a time, as traffic first needs them, and kept. */
#define CHUNK 1024
#define N_CHUNKS ((RG_TXN_MAX + CHUNK - 1) / CHUNK)

struct txn {
	struct rg_hent h;
	uint64_t t_ns;
	uint8_t addr[16];
	uint32_t inst_len;
	bool live;			/* in the map; a forgotten one keeps its slot */
	uint64_t sender_h;
	char inst[INSTANCE_KEEP];
	struct rg_txn_answer a;
};

/*
 * The transactions in arrival order in a ring of RG_TXN_MAX slots: the oldest is at head,
 * the next one goes to head + n. When the ring is full the oldest slot is taken over by the
 * newcomer in place: eviction is one unlink from the hash map, with no free, no allocation
 * and no neighbour to relink (the age list this replaced touched the oldest entry's
 * successor and the allocator's metadata, all cold, on every request of a busy relay).
 */
struct rg_txn_cache {
	struct rg_hmap map;
	struct txn *chunk[N_CHUNKS];
	uint32_t head, n;		/* oldest slot; slots in use, live or forgotten */
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

static struct txn *slot(const struct rg_txn_cache *c, uint32_t i)
{
	i %= RG_TXN_MAX;
	return c->chunk[i / CHUNK] ? &c->chunk[i / CHUNK][i % CHUNK] : NULL;
}

static void unmap(struct rg_txn_cache *c, struct txn *t)
{
	if (t->live)
		rg_hmap_del(&c->map, &t->h);
	t->live = false;
}

/* Free the oldest slot; true when it held a live transaction. */
static bool pop_oldest(struct rg_txn_cache *c)
{
	struct txn *t = slot(c, c->head);
	bool live = t->live;

	unmap(c, t);
	c->head = (c->head + 1) % RG_TXN_MAX;
	c->n--;
	return live;
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
	for (size_t i = 0; i < N_CHUNKS; i++)
		free(c->chunk[i]);
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
	unmap(c, rg_container_of(a, struct txn, a));
}

void rg_txn_cache_expire(struct rg_txn_cache *c, uint64_t now)
{
	while (c->n) {
		const struct txn *t = slot(c, c->head);

		if (t->live && t->t_ns + RG_TXN_TTL_NS > now)
			break;
		pop_oldest(c);
	}
}

int rg_txn_cache_remember(struct rg_txn_cache *c, const struct rg_slice *inst,
			  const uint8_t addr[16], const struct rg_slice *sender,
			  const struct rg_txn_answer *a, uint64_t now)
{
	uint32_t i;
	int evicted = 0;
	struct txn *t;

	if (inst->len > UINT32_MAX)
		return 0;
	rg_txn_cache_expire(c, now);
	if (c->n == RG_TXN_MAX)
		evicted = pop_oldest(c);
	i = (c->head + c->n) % RG_TXN_MAX;
	if (!c->chunk[i / CHUNK]) {
		c->chunk[i / CHUNK] = calloc(CHUNK, sizeof(struct txn));
		if (!c->chunk[i / CHUNK])
			return -ENOMEM;
	}
	t = slot(c, i);
	t->h.h = key_hash(c, inst, addr);
	t->sender_h = sender_hash(c, sender);
	t->t_ns = now;
	memcpy(t->addr, addr, 16);
	t->inst_len = (uint32_t)inst->len;
	memcpy(t->inst, inst->p, inst->len < INSTANCE_KEEP ? inst->len : INSTANCE_KEEP);
	t->a = *a;
	t->live = true;
	rg_hmap_add(&c->map, &t->h);
	c->n++;
	return evicted;
}

size_t rg_txn_cache_count(const struct rg_txn_cache *c)
{
	return c->map.n;
}
