/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * bpfmaps.h: the userspace side of the BPF program. Loads bpf/relayguard.bpf.c with its
 * settings, pins every map under pin_dir (reusing the pinned maps of an earlier run after
 * checking their layout), attaches at XDP (pinned bpf_link per interface) or TC (clsact
 * ingress filter), replaces a running program atomically, detaches; and gives the agent and
 * relayguardctl access to the pinned maps by fd: connectors, verdicts, stats, hosts, flows, tenant limits, rate events.
 *
 * Implemented by bpfload.c (load, attach, detach, status), bpfpins.c (the pinned-map set,
 * opening it with layout checks) and bpfmaps.c (map access, rate events).
 * Everything returns 0 or -errno and logs the reason through user/log.h.
 * Kernel times are CLOCK_MONOTONIC ns; clock.h converts them.
 */
#ifndef RG_BPFMAPS_H
#define RG_BPFMAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/types.h>

#include "relayguard.h"
#include "cidr.h"
#include "config.h"
#include "names.h"

#define RG_PIN_TC_PREFIX "tc_"		/* tc_<ifname>: the program behind our tc filter */
#define RG_TC_HANDLE 0x5247		/* tc filter handle and priority we own ("RG") */
#define RG_TC_PRIORITY 0x5247

struct rg_bpf_opts {
	const char *pin_dir;
	const char *const *ifaces;
	size_t n_ifaces;
	enum rg_attach_mode mode;
	const uint16_t *ports;		/* host order; at most RG_MAX_PORTS */
	size_t n_ports;
	unsigned host_prefix_v4;	/* 1..32 */
	unsigned host_prefix_v6;	/* 1..128 */
	uint32_t host_table_size;	/* 0: the program's default */
	uint32_t flow_table_size;
	uint32_t verdict_table_size;	/* verdict_hosts and verdict_cidrs */
	uint32_t tenant_mark_mask;	/* TC: skb->mark bits for the tenant id; 0: off */
	uint32_t connector_table_size;	/* connectors LPM */
};

struct rg_bpf;

/* Route libbpf's messages through rg_vlog, one level lower (warn -> info, info -> debug). */
void rg_bpf_hook_libbpf_log(void);

/*
 * Check the system, load, pin (reusing compatible pinned maps), and attach to every
 * interface; a previous attachment of ours is replaced atomically. The attachment outlives
 * the process. *out gives map access; free with rg_bpf_close() (which does not detach).
 */
int rg_bpf_attach(const struct rg_bpf_opts *opts, struct rg_bpf **out);

/* Remove our XDP link / tc filter from each interface; with purge_maps also unpin the maps
 * and remove pin_dir. Interfaces that are gone are not an error. */
int rg_bpf_detach(const char *pin_dir, const char *const *ifaces, size_t n, bool purge_maps);

/* Open the pinned maps only (readers, relayguardctl), with the same layout check. */
int rg_bpf_open_pinned(const char *pin_dir, struct rg_bpf **out);

void rg_bpf_close(struct rg_bpf *b);

/* The host prefixes verdict targets are compared against (rg_bpf_attach sets them from its
 * options; rg_bpf_open_pinned defaults to 32/64). */
void rg_bpf_set_host_prefix(struct rg_bpf *b, unsigned prefix_v4, unsigned prefix_v6);

/* What is attached to one interface, as found through the pins (enum rg_bpf_attach_kind and
 * its names: names.h). */
struct rg_bpf_iface_status {
	enum rg_bpf_attach_kind kind;
	uint32_t prog_id;
	uint32_t link_id;		/* XDP only */
	char prog_name[16];
};

int rg_bpf_iface_status(const char *pin_dir, const char *ifname, struct rg_bpf_iface_status *st);

/* Connectors: make the connectors map exactly this list. New entries are written first,
 * then stale ones are deleted, so no address is ever without its tag in between. */
struct rg_bpf_connector {
	struct rg_cidr cidr;
	uint32_t tenant_id;
};

int rg_bpf_connectors_replace(struct rg_bpf *b, const struct rg_bpf_connector *list, size_t n);

/* Verdicts. A target whose prefix equals the host prefix of its family is a host
 * (verdict_hosts, key = masked address); any other prefix is a CIDR (verdict_cidrs).
 * meta.cidr_verdicts is kept equal to the number of CIDR verdicts. Setting a verdict keeps
 * the throttle state (tat_ns) and drop count of one already there for the same target. */
int rg_bpf_verdict_set(struct rg_bpf *b, const struct rg_cidr *target, const struct rg_verdict *v);
/* -ENOENT if there was none. */
int rg_bpf_verdict_delete(struct rg_bpf *b, const struct rg_cidr *target);
int rg_bpf_verdict_get(struct rg_bpf *b, const struct rg_cidr *target, struct rg_verdict *v);
/* The same by map: key is the 16-byte masked host address, or an LPM key. */
int rg_bpf_verdict_host_set(struct rg_bpf *b, const uint8_t key[16], const struct rg_verdict *v);
int rg_bpf_verdict_host_delete(struct rg_bpf *b, const uint8_t key[16]);
int rg_bpf_verdict_cidr_set(struct rg_bpf *b, const struct rg_lpm_key *key,
			    const struct rg_verdict *v);
int rg_bpf_verdict_cidr_delete(struct rg_bpf *b, const struct rg_lpm_key *key);

/* Callbacks return 0 to go on, anything else stops the walk and is returned. */
typedef int (*rg_bpf_verdict_cb)(const struct rg_cidr *target, bool is_cidr,
				 const struct rg_verdict *v, void *ctx);
typedef int (*rg_bpf_host_cb)(const struct rg_host_key *key, const struct rg_host *h, void *ctx);
typedef int (*rg_bpf_flow_cb)(const struct rg_flow_key *key, const struct rg_flow *f, void *ctx);

int rg_bpf_verdict_foreach(struct rg_bpf *b, rg_bpf_verdict_cb cb, void *ctx);
int rg_bpf_hosts_foreach(struct rg_bpf *b, rg_bpf_host_cb cb, void *ctx);
int rg_bpf_flows_foreach(struct rg_bpf *b, rg_bpf_flow_cb cb, void *ctx);
int rg_bpf_host_lookup(struct rg_bpf *b, const uint8_t key[16], struct rg_host *h);
/* New connections of host h in the sliding window of RG_RATE_WINDOW_NS ending at now (a
 * CLOCK_MONOTONIC ns): the kernel's previous fixed window weighted by how much of it still
 * overlaps, plus the current one. 0 for a host idle for two windows. */
double rg_bpf_host_window_conns(const struct rg_host *h, uint64_t now_mono_ns);
/* Set the tenant tag of a host entry (the program tags a host once, when it first sees it;
 * the agent retags after the connectors change, and when a host's mail is attributed by
 * SASL login or client certificate). Writes only when the tag differs. -ENOENT if the
 * host is not in the map. */
int rg_bpf_host_retag(struct rg_bpf *b, const uint8_t key[16], uint32_t tenant_id);

/* Connection-rate limits for the kernel: per tenant id, count connections per period_ns
 * (count 0: none). tenant_id 0 carries the [limits] default, which every slot not listed
 * also gets. The whole tenant_limits array is written in one batch. */
struct rg_bpf_tenant_limit {
	uint32_t tenant_id;
	uint64_t count;
	uint64_t period_ns;
};

int rg_bpf_tenant_limits_set(struct rg_bpf *b, const struct rg_bpf_tenant_limit *list, size_t n);
/* The kernel's threshold for count per period_ns: the smallest number of connections per
 * RG_RATE_WINDOW_NS above that rate (0: no limit). */
uint32_t rg_bpf_window_limit(uint64_t count, uint64_t period_ns);

/* Hosts the program reported over their tenant's limit (rate_events ring buffer). open
 * once; watch the fd for EPOLLIN and call consume, which calls cb per event (cb returns 0,
 * anything else stops and is returned). */
typedef int (*rg_bpf_rate_cb)(const struct rg_rate_event *ev, void *ctx);
int rg_bpf_rate_events_open(struct rg_bpf *b, rg_bpf_rate_cb cb, void *ctx, int *fd);
int rg_bpf_rate_events_consume(struct rg_bpf *b);

/* Global counters summed over CPUs. */
int rg_bpf_stats_read(struct rg_bpf *b, struct rg_stats *sum);
int rg_bpf_meta_read(struct rg_bpf *b, struct rg_meta *m);

/* Fill levels for status: one row per pinned map but the ring buffer, in relayguard.h
 * order. */
#define RG_BPF_NR_MAPS 8
struct rg_bpf_fill {
	const char *name;
	uint32_t entries;		/* arrays count as full */
	uint32_t max_entries;
};

int rg_bpf_fill_levels(struct rg_bpf *b, struct rg_bpf_fill out[RG_BPF_NR_MAPS]);

#endif /* RG_BPFMAPS_H */
