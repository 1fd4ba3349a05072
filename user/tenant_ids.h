/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * tenant_ids.h: stable tenant ids (name <-> id), the numbers the kernel tags hosts and
 * flows with and the state file keeps. Takes the configured tenants and, on start, the
 * saved (name, id) pairs; reports ids, 0 or -errno.
 *
 * Ids are 1..RG_TENANT_ID_MAX: 0 means "unassigned" in the kernel. A name keeps its id
 * for as long as it is remembered: while configured, and after it leaves the configuration
 * for as long as it is among the RG_TENANT_IDS_RETIRED_MAX most recently removed names (a
 * tenant removed by mistake and put back gets its id again). New ids come from a cursor
 * that moves forward and wraps from RG_TENANT_ID_MAX to 1, skipping every id a remembered
 * name holds: no two names ever share an id, none gets 0, and an id a forgotten name held
 * comes back only after the cursor went round all 2^32 - 2 of them.
 */
#ifndef RG_TENANT_IDS_H
#define RG_TENANT_IDS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define RG_TENANT_ID_MAX (UINT32_MAX - 1)
#define RG_TENANT_IDS_RETIRED_MAX 65536

struct rg_tenant_ids;

struct rg_tenant_ids *rg_tenant_ids_new(uint64_t seed);
void rg_tenant_ids_free(struct rg_tenant_ids *ids);

/*
 * Bind the ids to cfg's tenants: every configured name gets its remembered id or a new
 * one; names no longer configured are retired (the oldest beyond
 * RG_TENANT_IDS_RETIRED_MAX forgotten). out[i] (cfg->n_tenants entries, may be NULL) gets
 * tenant i's id. 0, or -ENOMEM with nothing changed.
 */
int rg_tenant_ids_bind(struct rg_tenant_ids *ids, const struct rg_config *cfg, uint32_t *out);

/* Id of NAME (0: not remembered). */
uint32_t rg_tenant_ids_of(const struct rg_tenant_ids *ids, const char *name);
/* Tenant index of id in the configuration last bound, or -1 (unknown or retired). */
int rg_tenant_ids_index(const struct rg_tenant_ids *ids, uint32_t id);

/* Every remembered name: configured ones first, then the retired from the oldest
 * removed. cb returns 0 to go on; anything else stops the walk and is returned. */
typedef int (*rg_tenant_ids_cb)(const char *name, uint32_t id, void *ctx);
int rg_tenant_ids_foreach(const struct rg_tenant_ids *ids, rg_tenant_ids_cb cb, void *ctx);
/* Where the cursor stands (the next id tried). */
uint32_t rg_tenant_ids_next(const struct rg_tenant_ids *ids);

/* Saved pairs, in the order rg_tenant_ids_foreach gave them. */
struct rg_tenant_id_pair {
	const char *name;
	uint32_t id;
};

/*
 * Replace everything with the saved pairs and cursor (bind again afterwards). A name or an
 * id given twice, an id 0 or above RG_TENANT_ID_MAX, or a name too long: -EBADMSG (logged)
 * and nothing changed; -ENOMEM likewise. A cursor out of range starts at 1.
 */
int rg_tenant_ids_load(struct rg_tenant_ids *ids, const struct rg_tenant_id_pair *pairs,
		       size_t n, uint64_t next);

#endif /* RG_TENANT_IDS_H */
