/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * relayguard.h: the types the XDP/TC program and userspace share: map keys and values,
 * verdicts, counters. Fixed-width types, explicit padding, no includes: the kernel side
 * gets __u8..__u64 from vmlinux.h or <linux/types.h>, userspace from <linux/types.h>.
 *
 * Addresses are always 16 bytes. IPv4 is stored IPv4-mapped (::ffff:a.b.c.d), so that one
 * hash and one LPM trie serve both families; an IPv4 prefix /N is prefix 96+N there.
 * Times are bpf_ktime_get_ns(), i.e. CLOCK_MONOTONIC in nanoseconds.
 *
 * Any change to a struct below that is stored in a pinned map must bump RG_LAYOUT_VERSION:
 * the loader refuses pinned maps of another layout with a message saying how to upgrade.
 */
#ifndef RELAYGUARD_H
#define RELAYGUARD_H

#define RG_LAYOUT_VERSION 2

#define RG_MAX_PORTS 8		/* SMTP ports the program recognises */
#define RG_RATE_WINDOW_NS 10000000000ULL /* connection-rate estimator window: 10 s */

/* Pinned map names (under pin_dir, default /sys/fs/bpf/relayguard). */
#define RG_MAP_HOSTS "hosts"
#define RG_MAP_FLOWS "flows"
#define RG_MAP_CONNECTORS "connectors"
#define RG_MAP_VERDICT_HOSTS "verdict_hosts"
#define RG_MAP_VERDICT_CIDRS "verdict_cidrs"
#define RG_MAP_STATS "stats"
#define RG_MAP_META "meta"
#define RG_MAP_TENANT_LIMITS "tenant_limits"
#define RG_MAP_RATE_EVENTS "rate_events"
#define RG_PIN_LINK_PREFIX "link_" /* link_<ifname>: the XDP/TC link per interface */

/* hosts (LRU_HASH, written by the program): one entry per source host, i.e. the source
 * address masked to host_prefix_v4 / host_prefix_v6. */
struct rg_host_key {
	__u8 addr[16];
};

struct rg_host {
	__u64 packets;		/* SMTP packets from this host */
	__u64 bytes;		/* their bytes (frame length) */
	__u64 conns;		/* new SMTP connections: SYN without ACK */
	__u64 first_seen_ns;
	__u64 last_seen_ns;
	__u64 last_conn_ns;
	/* Sliding-window connection-rate estimate: conns in the current fixed window of
	 * RG_RATE_WINDOW_NS starting at rate_window_start_ns, and in the window before. The
	 * agent estimates rate = prev * (1 - elapsed/window) + cur per window. */
	__u64 rate_window_start_ns;
	__u32 rate_window_conns;
	__u32 rate_prev_conns;
	__u32 tenant_id;	/* 0: unassigned (no connector matched) */
	/* (__u32)meta.verdict_gen + 1 when the program last found no verdict for this host
	 * (0: never looked): while the generation stays, its SYNs skip the verdict lookups. */
	__u32 verdict_gen;
	/* rate_window_start_ns of the window in which the program last reported this host
	 * over its tenant's limit (rate_events): one report per host per window. */
	__u64 rate_reported_ns;
};

/* flows (LRU_HASH, written by the program on SYN only): who is connected. Ports are in
 * network byte order, as on the wire. */
struct rg_flow_key {
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport;
	__u16 dport;
	__u32 _pad;
};

struct rg_flow {
	__u64 start_ns;
	__u32 tenant_id;
	__u32 _pad;
};

/* tenant_limits (ARRAY, written by the agent), indexed by tenant id: a host of that tenant
 * is over its connection_rate_limit once its sliding-window estimate of new connections
 * per RG_RATE_WINDOW_NS reaches window_conns (0: no limit). Slot 0 holds the [limits]
 * default for unassigned hosts; ids from RG_TENANT_LIMIT_SLOTS - 1 up share the last slot,
 * which holds the lowest of their limits (the agent checks the exact one). */
#define RG_TENANT_LIMIT_SLOTS 65536

struct rg_tenant_limit {
	__u32 window_conns;
	__u32 _pad;
};

/* rate_events (RINGBUF, written by the program): a host crossed its tenant's limit. */
#define RG_RATE_EVENTS_BYTES (256 * 1024)

struct rg_rate_event {
	__u8 addr[16];		/* the host key */
	__u32 tenant_id;
	__u32 window_conns;	/* the estimate at the crossing (floored) */
	__u64 time_ns;
};

/* syn_sketch (ARRAY, program only, not pinned): a count-min sketch of SYNs from sources
 * without a host entry (not yet proven real). A source hashes to one 64-byte line of
 * RG_SKETCH_LINES and counts in one of the two cells of each of the line's RG_SKETCH_ROWS
 * rows, so an update touches one cache line. A cell is (window number << 32) | count: a
 * cell tagged with an older RG_RATE_WINDOW_NS window counts from zero again.
 * 8,192 lines x 64 B = 512 KiB, whatever the flood's size. */
#define RG_SKETCH_ROWS 4
#define RG_SKETCH_LINES 8192

struct rg_sketch_line {
	__u64 cell[RG_SKETCH_ROWS * 2];
};

/* connectors (LPM_TRIE, written by the agent): connector CIDR -> tenant.
 * verdict_cidrs (LPM_TRIE, written by the agent) uses the same key. */
struct rg_lpm_key {
	__u32 prefixlen;	/* over the 128-bit (v4-mapped) address */
	__u8 addr[16];
};

struct rg_tenant_tag {
	__u32 tenant_id;
	__u32 _pad;
};

enum rg_action {
	RG_ACT_NONE = 0,
	RG_ACT_BLOCK = 1,	/* drop new SMTP connections (SYN without ACK) */
	RG_ACT_THROTTLE = 2,	/* let new SMTP connections through at a rate, drop the rest */
};

enum rg_origin {
	RG_ORIGIN_OPERATOR = 0,	/* relayguardctl block/throttle */
	RG_ORIGIN_FLOOD = 1,	/* flood_limit: rejected transactions per host per minute */
	RG_ORIGIN_CONN_RATE = 2, /* connection_rate_limit */
};

/* verdict_hosts (HASH, key rg_host_key) and verdict_cidrs (LPM_TRIE, key rg_lpm_key).
 * Only userspace inserts or deletes; the program updates tat_ns and drops in place.
 * Neither map is LRU, so no flood of new sources can evict a verdict. */
struct rg_verdict {
	__u32 action;		/* enum rg_action */
	__u32 origin;		/* enum rg_origin */
	__u64 expires_ns;	/* CLOCK_MONOTONIC; 0: no expiry */
	/* Throttle as GCRA: one connection per interval_ns, bursts up to burst_ns of
	 * credit; tat_ns is the theoretical arrival time, kept by the program. */
	__u64 interval_ns;
	__u64 burst_ns;
	__u64 tat_ns;
	__u64 drops;		/* SYNs this verdict dropped */
};

/* stats (PERCPU_ARRAY, one entry, written by the program): global counters. */
struct rg_stats {
	__u64 packets;		/* every packet the program saw */
	__u64 smtp_packets;	/* TCP to a configured SMTP port */
	__u64 smtp_new_conns;	/* SYN without ACK to an SMTP port */
	__u64 drop_block;	/* SYNs dropped by a block verdict */
	__u64 drop_throttle;	/* SYNs dropped by a throttle verdict */
	__u64 parse_errors;	/* truncated or malformed headers: passed */
	__u64 fragments;	/* IPv4/IPv6 non-first fragments: passed */
	__u64 host_insert_fail;	/* hosts map insert failed */
	__u64 flow_insert_fail;	/* flows map insert failed */
	__u64 verdict_expired;	/* verdicts seen past their expiry (not enforced) */
	__u64 rate_events;	/* hosts reported over their tenant's limit */
	__u64 rate_event_drops;	/* reports lost: rate_events ring buffer full */
};

/* meta (ARRAY, one entry, written by userspace): layout version, so a new program never
 * reads maps of an older layout; how many CIDR verdicts exist, so the program skips the
 * verdict_cidrs trie while it is empty; a generation that userspace bumps after every
 * verdict insert or delete, so a host found without a verdict skips both verdict lookups
 * until the next change; and the least and greatest non-zero window_conns in
 * tenant_limits (0: no limit anywhere), so that a source without an entry has its tenant
 * looked up only while its sketch estimate lies between the two. */
struct rg_meta {
	__u32 layout_version;
	__u32 cidr_verdicts;
	__u64 verdict_gen;
	__u32 limit_min;
	__u32 limit_max;
	__u64 _reserved;
};

#endif /* RELAYGUARD_H */
