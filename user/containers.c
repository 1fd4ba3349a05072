// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * containers.c: FNV-1a, the intrusive hash map, the timestamp ring and the window buckets
 * of containers.h. Takes entries and times from the caller; reports 0 or -ENOMEM and never
 * logs: the engine, the configuration and the domain index decide what a failure means.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "containers.h"

#define NSEC 1000000000ULL

uint64_t rg_fnv1a(uint64_t seed, const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = 0xcbf29ce484222325ULL ^ seed;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

int rg_hmap_init(struct rg_hmap *m, size_t nb)
{
	m->b = calloc(nb, sizeof(*m->b));
	m->nb = nb;
	m->n = 0;
	return m->b ? 0 : -ENOMEM;
}

void rg_hmap_fini(struct rg_hmap *m)
{
	free(m->b);
	m->b = NULL;
	m->nb = m->n = 0;
}

/* Grows when the load passes 1; a failed grow only costs longer chains. */
void rg_hmap_add(struct rg_hmap *m, struct rg_hent *e)
{
	if (m->n >= m->nb) {
		size_t nb = m->nb * 2;
		struct rg_hent **b = calloc(nb, sizeof(*b));

		if (b) {
			for (size_t i = 0; i < m->nb; i++) {
				struct rg_hent *p = m->b[i], *next;

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

void rg_hmap_del(struct rg_hmap *m, struct rg_hent *e)
{
	struct rg_hent **pp = &m->b[e->h & (m->nb - 1)];

	for (; *pp; pp = &(*pp)->next) {
		if (*pp == e) {
			*pp = e->next;
			m->n--;
			return;
		}
	}
}

void rg_hmap_clear(struct rg_hmap *m, void (*drop)(struct rg_hent *e))
{
	struct rg_hent *p, *next;

	if (!m->b)
		return;
	rg_hmap_foreach(m, p, next)
		drop(p);
	memset(m->b, 0, m->nb * sizeof(*m->b));
	m->n = 0;
}

void rg_ring_free(struct rg_ring *r)
{
	free(r->ts);
	memset(r, 0, sizeof(*r));
}

void rg_ring_clear(struct rg_ring *r)
{
	r->head = 0;
	r->n = 0;
}

void rg_ring_prune(struct rg_ring *r, uint64_t now, uint64_t window)
{
	if (!window)
		return;
	while (r->n && rg_ring_at(r, 0) + window <= now) {
		r->head = (r->head + 1) % r->cap;
		r->n--;
	}
}

int rg_ring_push(struct rg_ring *r, uint64_t ts, uint64_t limit)
{
	if (r->n && ts < rg_ring_at(r, r->n - 1))
		ts = rg_ring_at(r, r->n - 1);
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
			nts[i] = rg_ring_at(r, i);
		free(r->ts);
		r->ts = nts;
		r->cap = (uint32_t)want;
		r->head = 0;
	}
	r->ts[(r->head + r->n) % r->cap] = ts;
	r->n++;
	return 0;
}

void rg_ring_adopt(struct rg_ring *r, uint64_t *ts, uint32_t n)
{
	free(r->ts);
	if (!n) {
		free(ts);
		ts = NULL;
	}
	r->ts = ts;
	r->cap = r->n = n;
	r->head = 0;
}

static uint64_t slot_ns(uint64_t window)
{
	return window / RG_BUCKETS ? window / RG_BUCKETS : NSEC;
}

void rg_buckets_add(struct rg_buckets *b, uint64_t now, uint64_t window)
{
	uint64_t s = now / slot_ns(window);
	unsigned i = (unsigned)(s % RG_BUCKETS);

	if (b->slot[i] != s) {
		b->slot[i] = s;
		b->n[i] = 0;
	}
	b->n[i]++;
}

uint64_t rg_buckets_sum(const struct rg_buckets *b, uint64_t now, uint64_t window)
{
	uint64_t s = now / slot_ns(window), sum = 0;

	for (unsigned i = 0; i < RG_BUCKETS; i++)
		if (b->slot[i] <= s && b->slot[i] + RG_BUCKETS > s)
			sum += b->n[i];
	return sum;
}

void rg_fifo_push(struct rg_fifo *f, struct rg_link *l)
{
	l->next = NULL;
	l->prev = f->tail;
	if (f->tail)
		f->tail->next = l;
	else
		f->head = l;
	f->tail = l;
	f->n++;
}

void rg_fifo_del(struct rg_fifo *f, struct rg_link *l)
{
	if (l->prev)
		l->prev->next = l->next;
	else
		f->head = l->next;
	if (l->next)
		l->next->prev = l->prev;
	else
		f->tail = l->prev;
	l->prev = l->next = NULL;
	f->n--;
}
