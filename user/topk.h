/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * topk.h: the heaviest hitters of a stream of names in fixed memory (the Space-Saving
 * algorithm of Metwally et al.): RG_TOPK_SLOTS counters; a name not counted yet takes the
 * slot of the smallest count and inherits it plus one, so a count may overstate a name
 * by at most the smallest count, and every name seen more often than total / SLOTS
 * times is kept. The engine keeps one per tenant for the unregistered sender domains and
 * one for the hosts that sent them (RG_TOP_DOMAINS, RG_TOP_HOSTS of the notifier).
 */
#ifndef RG_TOPK_H
#define RG_TOPK_H

#include <stddef.h>
#include <stdint.h>

#define RG_TOPK_SLOTS 16
#define RG_TOPK_KEY_MAX 256	/* a domain name (253) or a host prefix, NUL included */

struct rg_topk {
	uint32_t n;
	struct {
		uint64_t count;
		char key[RG_TOPK_KEY_MAX];
	} e[RG_TOPK_SLOTS];
};

/* Count one more of key (len bytes; longer keys are cut at RG_TOPK_KEY_MAX - 1). */
void rg_topk_add(struct rg_topk *t, const char *key, size_t len);
/*
 * "name=count,name=count": the top names (at most top), highest count first, ties by
 * name. Entries that would not fit whole are left out. Returns buf ("" when empty).
 */
char *rg_topk_format(const struct rg_topk *t, size_t top, char *buf, size_t len);

#endif /* RG_TOPK_H */
