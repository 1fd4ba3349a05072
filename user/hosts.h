/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * hosts.h: the `hosts` listing, one implementation for relayguardd's control command and
 * for relayguardctl while the agent is down. Its input is the kernel's maps: one row per
 * source host in the hosts map and one per verdict target (host or CIDR) in the verdict
 * maps that has no host row, with the verdict's action, origin, drops and expiry merged
 * into the host's row. Most active first: the highest conn_rate_per_min (new SMTP
 * connections per minute now, to a tenth), then the most connections, packets and SYNs
 * dropped; ties by address.
 */
#ifndef RG_HOSTS_H
#define RG_HOSTS_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "bpfmaps.h"

/* The name of the tenant a host is tagged with (tenant_id != 0), NULL if unknown. */
typedef const char *(*rg_hosts_tenant_fn)(void *ctx, uint32_t tenant_id, const uint8_t addr[16]);

struct rg_hosts_opts {
	unsigned host_prefix_v4;	/* how host keys are formatted: a.b.c.d/N */
	unsigned host_prefix_v6;
	size_t top;			/* rows in "hosts"; 0: all */
	rg_hosts_tenant_fn tenant_name;	/* NULL: every "tenant" is null */
	void *ctx;
};

/*
 * Add "total" (rows before top) and "hosts" (the rows) to rep. Each row has address,
 * tenant, tenant_id, connections, packets, bytes, conn_rate_per_min, last_seen, verdict,
 * origin, drops and expires (null when there is none), and rate_per_min for a throttle.
 * 0 or -errno (-ENOMEM, or what the map walk returned); rep is unchanged on error.
 */
int rg_hosts_list(struct rg_bpf *b, const struct rg_hosts_opts *o, json_object *rep);

#endif /* RG_HOSTS_H */
