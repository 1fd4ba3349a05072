// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * relayguard.bpf.c: the kernel side of relayguard. One inline core, attached at XDP
 * (rg_xdp) or TC ingress (rg_tc), that parses Ethernet/VLAN/IPv4/IPv6/TCP, recognises SMTP
 * by destination port, counts per source host (hosts), tags hosts and new flows with their
 * tenant (connectors LPM), and enforces the verdicts userspace writes (verdict_hosts,
 * verdict_cidrs) on new SMTP connections only: block drops SYNs, throttle rate-limits them.
 *
 * Takes: rodata (smtp_ports, nr_smtp_ports, host_prefix_v4/v6, tc_mark_mask, proven_hosts,
 * sketch_seed) set between open and load;
 * maps written by the agent (connectors, verdict_*, meta, tenant_limits).
 * Reports: per-CPU counters in stats, per-host counters in hosts, new flows in flows, drops
 * per verdict, at TC the tenant in skb->mark when configured, and a rate_events record the first time in a window that a host's
 * connection rate reaches its tenant's limit. A source gets a host entry and flow records only
 * once it proved it is real (a packet of a connection the stack holds a full socket for);
 * SYNs of sources not yet proven are counted in a fixed-size sketch instead. Only SYN-without-ACK to an SMTP port can be
 * dropped; everything else passes. Built with -mcpu=v3: the atomics that return a value
 * (cmpxchg, fetch-add) keep the rate windows and GCRA exact across CPUs.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "relayguard.h"
#include "parse.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Settings fixed at load (set by the loader between __open() and __load()). The verifier
 * sees their values and prunes the branches they make dead. */
const volatile __u16 smtp_ports[RG_MAX_PORTS] = { 25, 587, 465 };
const volatile __u32 nr_smtp_ports = 3;
const volatile __u32 host_prefix_v4 = 32;
const volatile __u32 host_prefix_v6 = 64;
/* TC only: skb->mark bits that carry the tenant id of an SMTP packet's host (tenant <<
 * tc_mark_shift, the mask's lowest bit), so nftables and tc can match a tenant's flows;
 * 0: the mark is left alone. */
const volatile __u32 tc_mark_mask = 0;
const volatile __u32 tc_mark_shift = 0;
/* 1 (production): a host entry and flows only for sources that proved they are real, so a
 * spoofed-source flood cannot evict real hosts from the LRU. 0: an entry at the first
 * packet, SYN included (the unit fixtures, which test counting without a TCP stack). */
const volatile __u32 proven_hosts = 1;
/* Hash seed of syn_sketch (random per load): a flood cannot aim its sources at the cells
 * of a real host. */
const volatile __u32 sketch_seed = 0;

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1048576);
	__type(key, struct rg_host_key);
	__type(value, struct rg_host);
} hosts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 262144);
	__type(key, struct rg_flow_key);
	__type(value, struct rg_flow);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct rg_lpm_key);
	__type(value, struct rg_tenant_tag);
} connectors SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct rg_host_key);
	__type(value, struct rg_verdict);
} verdict_hosts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct rg_lpm_key);
	__type(value, struct rg_verdict);
} verdict_cidrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rg_stats);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rg_meta);
} meta SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RG_TENANT_LIMIT_SLOTS);
	__type(key, __u32);
	__type(value, struct rg_tenant_limit);
} tenant_limits SEC(".maps");

/* Mmapable only for its layout: the kernel then page-aligns the values, so each line is
 * one cache line. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RG_SKETCH_LINES);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct rg_sketch_line);
} syn_sketch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, RG_RATE_EVENTS_BYTES);
} rate_events SEC(".maps");

/* Events of one packet, applied to the per-CPU stats at the single exit. */
enum {
	EV_SMTP = 1 << 0,
	EV_NEW_CONN = 1 << 1,
	EV_DROP_BLOCK = 1 << 2,
	EV_DROP_THROTTLE = 1 << 3,
	EV_PARSE_ERROR = 1 << 4,
	EV_FRAGMENT = 1 << 5,
	EV_HOST_INSERT_FAIL = 1 << 6,
	EV_FLOW_INSERT_FAIL = 1 << 7,
	EV_VERDICT_EXPIRED = 1 << 8,
	EV_RATE_EVENT = 1 << 9,
	EV_RATE_EVENT_DROP = 1 << 10,
};

/* Network-order mask of the top `bits` bits of a 32-bit word (bits clamped to 0..32). */
static __always_inline __u32 rg_word_mask(__s32 bits)
{
	if (bits <= 0)
		return 0;
	if (bits >= 32)
		return 0xffffffff;
	return bpf_htonl(0xffffffffU << (32 - bits));
}

/* The source host: addr masked to prefix bits (of 128; v4-mapped IPv4 uses 96 + N). */
static __always_inline void rg_mask_addr(__u32 *dst, const __u32 *src, __u32 prefix)
{
	dst[0] = src[0] & rg_word_mask(prefix);
	dst[1] = src[1] & rg_word_mask((__s32)prefix - 32);
	dst[2] = src[2] & rg_word_mask((__s32)prefix - 64);
	dst[3] = src[3] & rg_word_mask((__s32)prefix - 96);
}

/* A verdict that applies now, or NULL; counts an expired one. */
static __always_inline struct rg_verdict *rg_live(struct rg_verdict *v, __u64 now, __u32 *ev)
{
	if (v && v->expires_ns && v->expires_ns <= now) {
		*ev |= EV_VERDICT_EXPIRED;
		return NULL;
	}
	return v;
}

/* The sliding-window estimate of new connections per RG_RATE_WINDOW_NS, in thousandths:
 * the previous fixed window weighted by how much of it still overlaps, plus the current
 * one (the same estimate as userspace's rg_bpf_host_window_conns, in integers). */
static __always_inline __u64 rg_window_milli(__u64 start, __u32 cur, __u32 prev, __u64 now)
{
	__u64 elapsed = now > start ? now - start : 0;
	__u64 left = elapsed < RG_RATE_WINDOW_NS ?
			     1000 - elapsed / (RG_RATE_WINDOW_NS / 1000) : 0;

	return (__u64)cur * 1000 + (__u64)prev * left;
}

/* The tenant's limit in new connections per window, 0: none. */
static __always_inline __u32 rg_window_limit(__u32 tenant)
{
	__u32 slot = tenant < RG_TENANT_LIMIT_SLOTS ? tenant : RG_TENANT_LIMIT_SLOTS - 1;
	struct rg_tenant_limit *l = bpf_map_lookup_elem(&tenant_limits, &slot);

	return l ? l->window_conns : 0;
}

/* Report host key over its limit with estimate milli. */
static __always_inline int rg_report(const __u8 *key, __u32 tenant, __u64 milli, __u64 now)
{
	struct rg_rate_event *e = bpf_ringbuf_reserve(&rate_events, sizeof(*e), 0);

	if (!e)
		return -1;
	__builtin_memcpy(e->addr, key, 16);
	e->tenant_id = tenant;
	e->window_conns = (__u32)(milli / 1000);
	e->time_ns = now;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/*
 * Count a new connection of a known host into its fixed windows and report the host, once
 * per window, when the estimate reaches its tenant's limit. The window roll is a cmpxchg
 * on its start, so one CPU rolls and the others count into the window it rolled to; a
 * count racing the roll lands in the previous window instead of being lost.
 */
static __always_inline void rg_count_conn(struct rg_host *h, const __u8 *key, __u64 now,
					  __u32 *ev)
{
	__u64 start = h->rate_window_start_ns, reported;
	__u32 cur, limit;
	__u64 milli;

	__sync_fetch_and_add(&h->conns, 1);
	h->last_conn_ns = now;
	if (now - start >= RG_RATE_WINDOW_NS) {
		/* The window just ended: it becomes the previous one. Older: nothing recent. */
		int adjacent = now - start < 2 * RG_RATE_WINDOW_NS;
		__u64 next = adjacent ? start + RG_RATE_WINDOW_NS : now;

		if (__sync_val_compare_and_swap(&h->rate_window_start_ns, start, next) == start) {
			__u32 ended = __sync_lock_test_and_set(&h->rate_window_conns, 0);

			h->rate_prev_conns = adjacent ? ended : 0;
		}
		start = h->rate_window_start_ns;
	}
	cur = __sync_add_and_fetch(&h->rate_window_conns, 1);

	limit = rg_window_limit(h->tenant_id);
	if (!limit)
		return;
	milli = rg_window_milli(start, cur, h->rate_prev_conns, now);
	if (milli < (__u64)limit * 1000)
		return;
	reported = h->rate_reported_ns;
	if (reported == start ||
	    __sync_val_compare_and_swap(&h->rate_reported_ns, reported, start) != reported)
		return; /* this window's report is made (or being made by another CPU) */
	if (rg_report(key, h->tenant_id, milli, now)) {
		/* Ring full: let a later SYN of this window try again. */
		h->rate_reported_ns = reported;
		*ev |= EV_RATE_EVENT_DROP;
		return;
	}
	*ev |= EV_RATE_EVENT;
}

/* 32-bit finaliser (lowbias32): every input bit moves every output bit. */
static __always_inline __u32 rg_mix(__u32 h)
{
	h ^= h >> 16;
	h *= 0x7feb352d;
	h ^= h >> 15;
	h *= 0x846ca68b;
	h ^= h >> 16;
	return h;
}

/*
 * Count a SYN of a source without a host entry into syn_sketch and report it through
 * rate_events when the estimate (the least of its cells) reaches its tenant's limit. Each
 * of its SYNs raises every one of its cells by one, so the estimate passes each value
 * exactly once per window and is never below the true count; collisions only raise it.
 * The tenant costs an LPM lookup, so it is looked up only while the estimate lies between
 * the least and the greatest limit of any tenant (meta, written by the agent): a spoofed
 * source that collides little never gets there, and a flood past every limit no longer
 * pays it. Nothing to do while no tenant has a limit.
 */
static __always_inline void rg_sketch_syn(const struct rg_meta *m, struct rg_lpm_key *lkey,
					  const __u32 *key, __u64 now, __u32 *ev)
{
	__u32 win = (__u32)(now / RG_RATE_WINDOW_NS), lo, hi;
	__u32 h1, idx, r, least = 0xffffffff, tenant = 0;
	struct rg_sketch_line *line;
	struct rg_tenant_tag *tag;

	if (!m || !m->limit_min)
		return;
	lo = m->limit_min;
	hi = m->limit_max;
	h1 = rg_mix(rg_mix(rg_mix(rg_mix(key[0] ^ sketch_seed) ^ key[1]) ^ key[2]) ^ key[3]);
	idx = h1 & (RG_SKETCH_LINES - 1);
	line = bpf_map_lookup_elem(&syn_sketch, &idx);
	if (!line)
		return;
	/* The line's index took the low bits; the cell of row r is picked by bit 16 + r. */
#pragma unroll
	for (r = 0; r < RG_SKETCH_ROWS; r++) {
		__u64 *cell = &line->cell[2 * r + ((h1 >> (16 + r)) & 1)], old = *cell;
		__u32 n;

		/* Roll a cell of an older window; a CPU that loses the race counts into the
		 * window the winner rolled to. */
		if ((__u32)(old >> 32) != win)
			__sync_val_compare_and_swap(cell, old, (__u64)win << 32);
		n = (__u32)__sync_add_and_fetch(cell, 1);
		if (n < least)
			least = n;
	}
	if (least < lo || least > hi)
		return;
	lkey->prefixlen = 128;
	tag = bpf_map_lookup_elem(&connectors, lkey);
	if (tag)
		tenant = tag->tenant_id;
	if (least != rg_window_limit(tenant))
		return;
	if (rg_report((const __u8 *)key, tenant, (__u64)least * 1000, now))
		*ev |= EV_RATE_EVENT_DROP;
	else
		*ev |= EV_RATE_EVENT;
}

/* Does the stack hold a full socket for this packet's connection? A listener or a request
 * socket (a SYN answered, handshake not complete) is no proof: a spoofed SYN makes one and
 * a spoofed ACK cannot complete it. Paid only by non-SYN packets of sources without an
 * entry. v6: the family of the packet; src->addr and dst->daddr hold its addresses (IPv4
 * v4-mapped). */
static __always_inline int rg_proven(void *ctx, int v6, const struct rg_lpm_key *src,
				     const struct rg_flow_key *dst, const struct tcphdr *th)
{
	struct bpf_sock_tuple t = {};
	struct bpf_sock *sk;
	__u32 size, state;

	if (v6) {
		__builtin_memcpy(t.ipv6.saddr, src->addr, 16);
		__builtin_memcpy(t.ipv6.daddr, dst->daddr, 16);
		t.ipv6.sport = th->source;
		t.ipv6.dport = th->dest;
		size = sizeof(t.ipv6);
	} else {
		t.ipv4.saddr = ((const __u32 *)src->addr)[3];
		t.ipv4.daddr = ((const __u32 *)dst->daddr)[3];
		t.ipv4.sport = th->source;
		t.ipv4.dport = th->dest;
		size = sizeof(t.ipv4);
	}
	sk = bpf_skc_lookup_tcp(ctx, &t, size, BPF_F_CURRENT_NETNS, 0);
	if (!sk)
		return 0;
	state = sk->state;
	bpf_sk_release(sk);
	return state != BPF_TCP_LISTEN && state != BPF_TCP_NEW_SYN_RECV;
}

/*
 * The classifier. data/data_end delimit the linear packet data, len is the frame length.
 * Returns XDP_PASS or XDP_DROP; only a SYN without ACK to an SMTP port from a host with a
 * live block or throttle verdict is ever dropped. *tenant_out: the tenant of an SMTP
 * packet's host, 0 for anything else.
 */
static __always_inline int rg_core(void *ctx, void *data, void *data_end, __u32 len,
				   __u32 *tenant_out)
{
	struct rg_cursor c = { .pos = data, .end = data_end };
	struct rg_ip_info info = {};
	struct rg_host_key hkey;
	struct rg_lpm_key lkey;
	struct rg_flow_key fkey;
	struct rg_verdict *v = NULL;
	struct rg_host *h;
	struct rg_stats *st;
	struct rg_meta *m;
	struct iphdr *iph;
	struct ipv6hdr *ip6h;
	struct tcphdr *th;
	__u32 zero = 0, ev = 0, tenant = 0, prefix, i, gen;
	int action = XDP_PASS, proto, l4;
	__u16 dport;
	int syn, unproven = 0;
	__u64 now;

	proto = rg_parse_eth(&c);
	if (proto < 0)
		goto parse_error;

	if (proto == bpf_htons(ETH_P_IP)) {
		l4 = rg_parse_ipv4(&c, &iph, &info);
		if (l4 < 0)
			goto parse_error;
		if (info.nonfirst_frag) {
			ev |= EV_FRAGMENT;
			goto out;
		}
		if (l4 != IPPROTO_TCP)
			goto out;
		/* v4-mapped: ::ffff:a.b.c.d */
		__builtin_memset(&lkey, 0, sizeof(lkey));
		((__u32 *)lkey.addr)[2] = bpf_htonl(0xffff);
		((__u32 *)lkey.addr)[3] = iph->saddr;
		__builtin_memset(&fkey, 0, sizeof(fkey));
		((__u32 *)fkey.daddr)[2] = bpf_htonl(0xffff);
		((__u32 *)fkey.daddr)[3] = iph->daddr;
		prefix = 96 + host_prefix_v4;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		l4 = rg_parse_ipv6(&c, &ip6h, &info);
		if (l4 < 0)
			goto parse_error;
		if (info.nonfirst_frag) {
			ev |= EV_FRAGMENT;
			goto out;
		}
		if (l4 != IPPROTO_TCP)
			goto out;
		__builtin_memcpy(lkey.addr, &ip6h->saddr, 16);
		__builtin_memset(&fkey, 0, sizeof(fkey));
		__builtin_memcpy(fkey.daddr, &ip6h->daddr, 16);
		prefix = host_prefix_v6;
	} else {
		goto out;
	}

	if (rg_parse_tcp(&c, &th) < 0)
		goto parse_error;

	/* nr_smtp_ports and smtp_ports are rodata: the verifier knows them and removes the
	 * iterations past nr_smtp_ports, so this costs a compare or three. */
	dport = bpf_ntohs(th->dest);
#pragma unroll
	for (i = 0; i < RG_MAX_PORTS; i++) {
		if (i >= nr_smtp_ports)
			goto out;
		if (dport == smtp_ports[i])
			break;
	}
	if (i == RG_MAX_PORTS)
		goto out;

	ev |= EV_SMTP;
	syn = th->syn && !th->ack;
	/* CLOCK_MONOTONIC at tick resolution (4 ms at HZ=250): the precise clock costs about
	 * 35 ns per call under a hypervisor, a third of the whole SMTP path. A tick of error
	 * is nothing to last-seen times, verdict expiry or a rate window of seconds; GCRA
	 * keeps its long-run rate exactly and may grant a SYN up to a tick late. */
	now = bpf_ktime_get_coarse_ns();
	rg_mask_addr((__u32 *)hkey.addr, (__u32 *)lkey.addr, prefix);
	/* An array lookup the verifier inlines: the SYN paths below all read meta. */
	m = syn ? bpf_map_lookup_elem(&meta, &zero) : NULL;

	h = bpf_map_lookup_elem(&hosts, &hkey);
	if (h) {
		__sync_fetch_and_add(&h->packets, 1);
		__sync_fetch_and_add(&h->bytes, len);
		h->last_seen_ns = now;
		if (syn)
			rg_count_conn(h, hkey.addr, now, &ev);
		tenant = h->tenant_id;
	} else if (proven_hosts && (syn || !rg_proven(ctx, proto == bpf_htons(ETH_P_IPV6), &lkey, &fkey, th))) {
		/* Not (yet) a real host: no entry, no flow, and its SYNs only in the sketch
		 * (below, once they pass the verdicts). Enforcement does not depend on an
		 * entry. */
		unproven = 1;
	} else {
		struct rg_tenant_tag *tag;
		struct rg_host nh = {};

		lkey.prefixlen = 128;
		tag = bpf_map_lookup_elem(&connectors, &lkey);
		tenant = tag ? tag->tenant_id : 0;

		nh.packets = 1;
		nh.bytes = len;
		nh.first_seen_ns = now;
		nh.last_seen_ns = now;
		nh.tenant_id = tenant;
		/* Proven by a packet of a connection already open: its SYN (counted in the
		 * sketch) is this entry's first connection. */
		if (syn || proven_hosts) {
			__u32 limit = rg_window_limit(tenant);

			nh.conns = 1;
			nh.last_conn_ns = now;
			nh.rate_window_start_ns = now;
			nh.rate_window_conns = 1;
			/* A limit of one connection per window: this first one reaches it. */
			if (limit == 1) {
				if (rg_report(hkey.addr, tenant, 1000, now)) {
					ev |= EV_RATE_EVENT_DROP;
				} else {
					nh.rate_reported_ns = now;
					ev |= EV_RATE_EVENT;
				}
			}
		}
		if (bpf_map_update_elem(&hosts, &hkey, &nh, BPF_NOEXIST)) {
			/* Another CPU inserted it first (or the map is full): count into
			 * theirs. Enforcement below never depends on having an entry. */
			h = bpf_map_lookup_elem(&hosts, &hkey);
			if (h) {
				__sync_fetch_and_add(&h->packets, 1);
				__sync_fetch_and_add(&h->bytes, len);
				h->last_seen_ns = now;
				if (syn)
					rg_count_conn(h, hkey.addr, now, &ev);
			} else {
				ev |= EV_HOST_INSERT_FAIL;
			}
		}
	}

	/* Established traffic (anything but a SYN without ACK) is never dropped: connections
	 * are not cut mid-transaction. It pays one hash lookup above and nothing more. */
	if (!syn) {
		/* The packet that proved the host records its connection's flow. */
		if (!h && !unproven && proven_hosts)
			goto flow;
		goto out;
	}
	ev |= EV_NEW_CONN;

	/* A host found without a verdict at this generation still has none: the lookups
	 * (a hash and, with CIDR verdicts, an LPM walk) are paid once per verdict change,
	 * not per SYN. Userspace bumps the generation after writing the map, and the host
	 * remembers the generation read before the lookups, so no change is missed. */
	gen = m ? (__u32)m->verdict_gen + 1 : 0;
	if (h && gen && h->verdict_gen == gen)
		goto flow;
	v = rg_live(bpf_map_lookup_elem(&verdict_hosts, &hkey), now, &ev);
	if (!v && m && m->cidr_verdicts) {
		lkey.prefixlen = 128;
		v = rg_live(bpf_map_lookup_elem(&verdict_cidrs, &lkey), now, &ev);
	}
	if (!v) {
		if (h)
			h->verdict_gen = gen;
		goto flow;
	}

	if (v->action == RG_ACT_BLOCK) {
		action = XDP_DROP;
		ev |= EV_DROP_BLOCK;
		__sync_fetch_and_add(&v->drops, 1);
	} else if (v->action == RG_ACT_THROTTLE) {
		/* GCRA: a SYN conforms while the theoretical arrival time is no more than
		 * burst_ns ahead of now; each conforming SYN pushes it interval_ns further.
		 * The push is a cmpxchg so that CPUs racing here grant exactly the rate; a
		 * SYN that loses the race four times running (a flood on four CPUs at once)
		 * is dropped, which only errs towards the limit. */
		int granted = 0;

#pragma unroll
		for (i = 0; i < 4; i++) {
			__u64 tat = v->tat_ns;

			if (tat > now + v->burst_ns)
				break;
			if (__sync_val_compare_and_swap(&v->tat_ns, tat,
							(tat > now ? tat : now) +
								v->interval_ns) == tat) {
				granted = 1;
				break;
			}
		}
		if (!granted) {
			action = XDP_DROP;
			ev |= EV_DROP_THROTTLE;
			__sync_fetch_and_add(&v->drops, 1);
		}
	}
	/* A dropped SYN opens no connection: recording it would let a blocked host's SYN
	 * flood churn the flows LRU and evict the flows of real connections. */
	if (action == XDP_DROP)
		goto out;

flow:
	if (unproven) {
		/* Only SYNs that open a connection: those a verdict drops already have
		 * the verdict a report would lead to. */
		if (syn)
			rg_sketch_syn(m, &lkey, (const __u32 *)hkey.addr, now, &ev);
		goto out;
	}
	__builtin_memcpy(fkey.saddr, lkey.addr, 16);
	fkey.sport = th->source;
	fkey.dport = th->dest;
	{
		struct rg_flow *f = bpf_map_lookup_elem(&flows, &fkey);

		/* A SYN retransmit or a reused 4-tuple updates in place, cheaper than an
		 * update_elem, which allocates a fresh LRU node each time (an update without
		 * this lookup measured 2.2x xdp-filter on a retransmit, and no faster on a
		 * new 4-tuple). XXX: the lookup (40-byte key, ~30 ns) keeps a known host's
		 * SYN above xdp-filter's cost under test_run, and a SYN of a new 4-tuple, a
		 * relay's usual case, pays ~180 ns more for the LRU insert (bench-bpf
		 * syn_new_flow, ~3x); only recording flows later than the SYN would avoid it. */
		if (f) {
			f->start_ns = now;
			f->tenant_id = tenant;
		} else {
			struct rg_flow nf = { .start_ns = now, .tenant_id = tenant };

			if (bpf_map_update_elem(&flows, &fkey, &nf, BPF_ANY))
				ev |= EV_FLOW_INSERT_FAIL;
		}
	}
	goto out;

parse_error:
	ev |= EV_PARSE_ERROR;
out:
	*tenant_out = tenant;
	st = bpf_map_lookup_elem(&stats, &zero);
	if (st) {
		/* Per-CPU value: plain increments, no atomics needed. */
		st->packets++;
		if (ev) {
			if (ev & EV_SMTP)
				st->smtp_packets++;
			if (ev & EV_NEW_CONN)
				st->smtp_new_conns++;
			if (ev & EV_DROP_BLOCK)
				st->drop_block++;
			if (ev & EV_DROP_THROTTLE)
				st->drop_throttle++;
			if (ev & EV_PARSE_ERROR)
				st->parse_errors++;
			if (ev & EV_FRAGMENT)
				st->fragments++;
			if (ev & EV_HOST_INSERT_FAIL)
				st->host_insert_fail++;
			if (ev & EV_FLOW_INSERT_FAIL)
				st->flow_insert_fail++;
			if (ev & EV_VERDICT_EXPIRED)
				st->verdict_expired++;
			if (ev & EV_RATE_EVENT)
				st->rate_events++;
			if (ev & EV_RATE_EVENT_DROP)
				st->rate_event_drops++;
		}
	}
	return action;
}

SEC("xdp")
int rg_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 tenant;

	return rg_core(ctx, data, data_end, data_end - data, &tenant);
}

/* Enough linear data for the deepest header stack we parse in the common case: Ethernet,
 * two VLAN tags, IPv6 with a few small extension headers, TCP with options. A longer chain
 * that is not in the linear area counts as a parse error and passes. */
#define RG_TC_PULL_LEN 256

SEC("tc")
int rg_tc(struct __sk_buff *skb)
{
	__u32 want = skb->len < RG_TC_PULL_LEN ? skb->len : RG_TC_PULL_LEN;
	void *data, *data_end;
	__u32 tenant;

	/* GRO'd or paged skbs may hold only part of the headers linearly. */
	if ((long)skb->data_end - (long)skb->data < want)
		bpf_skb_pull_data(skb, want);
	/* Packet pointers are invalid after the pull: reload them. */
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;

	if (rg_core(skb, data, data_end, skb->len, &tenant) == XDP_DROP)
		return TC_ACT_SHOT;
	if (tc_mark_mask && tenant)
		skb->mark = (skb->mark & ~tc_mark_mask) | ((tenant << tc_mark_shift) & tc_mark_mask);
	return TC_ACT_OK;
}
