/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * txn_cache.h: the engine's memory of Postfix transactions, so that every stage of one
 * (RCPT for each recipient, DATA, END-OF-MESSAGE) gets the first answer again and counts
 * once. Takes the request's instance, client address and sender with the caller's time;
 * keeps at most RG_TXN_MAX of them (oldest evicted; a forgotten one's slot is reused when it
 * becomes the oldest), each forgotten after RG_TXN_TTL_NS;
 * reports the remembered answer. A new MAIL FROM under the same instance is a new
 * transaction (the sender is part of the key).
 */
#ifndef RG_TXN_CACHE_H
#define RG_TXN_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "classify.h"

#define RG_TXN_MAX 65536
#define RG_TXN_TTL_NS (3600 * 1000000000ULL)

struct rg_txn_answer {
	uint32_t tenant_id;		/* the tenant it was counted for */
	enum rg_reply action;		/* as enforce mode would answer */
	enum rg_class cls;
	const char *reason;		/* static */
};

struct rg_txn_cache;

struct rg_txn_cache *rg_txn_cache_new(uint64_t seed);
void rg_txn_cache_free(struct rg_txn_cache *c);

/* The answer remembered for this transaction, NULL if none (or older than the TTL). Valid
 * until the next call that changes the cache. */
const struct rg_txn_answer *rg_txn_cache_find(const struct rg_txn_cache *c,
					      const struct rg_slice *instance,
					      const uint8_t addr[16], const struct rg_slice *sender,
					      uint64_t now_ns);
/* Forget an answer rg_txn_cache_find gave. */
void rg_txn_cache_forget(struct rg_txn_cache *c, const struct rg_txn_answer *a);
/* Remember a; 1 when the oldest had to go to make room, 0, or -ENOMEM (then a later stage
 * counts again, nothing worse). */
int rg_txn_cache_remember(struct rg_txn_cache *c, const struct rg_slice *instance,
			  const uint8_t addr[16], const struct rg_slice *sender,
			  const struct rg_txn_answer *a, uint64_t now_ns);
/* Forget those older than the TTL. */
void rg_txn_cache_expire(struct rg_txn_cache *c, uint64_t now_ns);
size_t rg_txn_cache_count(const struct rg_txn_cache *c);

#endif /* RG_TXN_CACHE_H */
