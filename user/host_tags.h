/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * host_tags.h: which tenant each source host last authenticated as (by SASL login or TLS
 * client certificate), so that the kernel's tag of that host follows its login rather
 * than its connector: the engine records a host here when it attributes a transaction
 * by authentication, and the agent consults it whenever it retags hosts after the
 * connectors change. Takes host keys (the 16-byte masked address of the kernel's hosts
 * map) and stable tenant ids; bounded: past max entries the least recently used goes.
 */
#ifndef RG_HOST_TAGS_H
#define RG_HOST_TAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "names.h"	/* enum rg_match */

struct rg_host_tags;

/* max: entries kept (at least 1). NULL on allocation failure. */
struct rg_host_tags *rg_host_tags_new(size_t max, uint64_t seed);
void rg_host_tags_free(struct rg_host_tags *t);
/* Forget every host (the host prefix changed: the keys mean other hosts now). */
void rg_host_tags_clear(struct rg_host_tags *t);

/*
 * Host key is tenant_id's, matched by how. 1 when that is news (a host not recorded, or
 * recorded with another tenant; *prev gets the old tenant id, 0 for none), 0 when it was
 * recorded so already, -ENOMEM.
 */
int rg_host_tags_set(struct rg_host_tags *t, const uint8_t key[16], uint32_t tenant_id,
		     enum rg_match how, uint32_t *prev);
/* The tenant id recorded for key: true and *tenant_id (and *how if not NULL), or false. */
bool rg_host_tags_get(const struct rg_host_tags *t, const uint8_t key[16], uint32_t *tenant_id,
		      enum rg_match *how);
size_t rg_host_tags_count(const struct rg_host_tags *t);

#endif /* RG_HOST_TAGS_H */
