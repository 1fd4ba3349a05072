/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * containers.h: the small generic containers userspace shares. Takes nothing but memory;
 * reports 0 or -ENOMEM.
 *   rg_fnv1a     FNV-1a over bytes, the offset basis xor-ed with a seed (0: plain FNV-1a);
 *                callers that bucket by the low bits add their own finaliser.
 *   rg_hmap      intrusive chained hash map: the caller embeds a struct rg_hent with its
 *                hash set, compares keys itself while walking a bucket, and frees entries.
 *   rg_ring      sorted ring of timestamps: an exact sliding window, grown lazily.
 *   rg_buckets   approximate count over a window (RG_BUCKETS slots of window/RG_BUCKETS).
 *   rg_fifo      intrusive doubly linked queue: oldest first, any entry unlinked in O(1).
 * No clock is read: every time is passed in (ns).
 */
#ifndef RG_CONTAINERS_H
#define RG_CONTAINERS_H

#include <stddef.h>
#include <stdint.h>

#define rg_container_of(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))

uint64_t rg_fnv1a(uint64_t seed, const void *data, size_t len);

struct rg_hent {
	struct rg_hent *next;
	uint64_t h;
};

struct rg_hmap {
	struct rg_hent **b;
	size_t nb;	/* power of two */
	size_t n;
};

/* nb: initial buckets, a power of two. */
int rg_hmap_init(struct rg_hmap *m, size_t nb);
/* Frees the buckets only (entries are the caller's). */
void rg_hmap_fini(struct rg_hmap *m);

static inline struct rg_hent *rg_hmap_bucket(const struct rg_hmap *m, uint64_t h)
{
	return m->b[h & (m->nb - 1)];
}

void rg_hmap_add(struct rg_hmap *m, struct rg_hent *e);
void rg_hmap_del(struct rg_hmap *m, struct rg_hent *e);
/* Empty the map, calling drop on each entry (which may free it). */
void rg_hmap_clear(struct rg_hmap *m, void (*drop)(struct rg_hent *e));

/* Every entry; the next one is read before the body runs, so the body may delete p. */
#define rg_hmap_foreach(m, p, nextp)                                                      \
	for (size_t rg_hb_ = 0; rg_hb_ < (m)->nb; rg_hb_++)                                \
		for ((p) = (m)->b[rg_hb_]; (p) && ((nextp) = (p)->next, 1); (p) = (nextp))

struct rg_ring {
	uint64_t *ts;
	uint32_t cap, head, n;
};

void rg_ring_free(struct rg_ring *r);
void rg_ring_clear(struct rg_ring *r);

static inline uint64_t rg_ring_at(const struct rg_ring *r, uint32_t i)
{
	return r->ts[(r->head + i) % r->cap];
}

/* Drop timestamps outside (now - window, now]; window 0 keeps everything. */
void rg_ring_prune(struct rg_ring *r, uint64_t now, uint64_t window);
/* Append ts, kept non-decreasing even if the clock steps back. The ring grows by doubling,
 * never past max(limit, n + 1): memory follows actual traffic. 0 or -ENOMEM. */
int rg_ring_push(struct rg_ring *r, uint64_t ts, uint64_t limit);
/* Replace the contents with ts[0..n) (sorted, malloc'ed; the ring takes it, NULL if n 0). */
void rg_ring_adopt(struct rg_ring *r, uint64_t *ts, uint32_t n);

#define RG_BUCKETS 60

struct rg_buckets {
	uint64_t slot[RG_BUCKETS];
	uint32_t n[RG_BUCKETS];
};

void rg_buckets_add(struct rg_buckets *b, uint64_t now, uint64_t window);
uint64_t rg_buckets_sum(const struct rg_buckets *b, uint64_t now, uint64_t window);

struct rg_link {
	struct rg_link *prev, *next;
};

struct rg_fifo {
	struct rg_link *head, *tail;	/* oldest, newest */
	size_t n;
};

void rg_fifo_push(struct rg_fifo *f, struct rg_link *l);
void rg_fifo_del(struct rg_fifo *f, struct rg_link *l);

#endif /* RG_CONTAINERS_H */
