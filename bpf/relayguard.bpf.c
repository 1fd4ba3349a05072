// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * relayguard.bpf.c: the kernel side of relayguard. One inline core, attached at XDP
 * (rg_xdp) or TC ingress (rg_tc), that parses Ethernet/VLAN/IPv4/IPv6/TCP, recognises SMTP
 * by destination port, counts per source host (hosts), tags hosts and new flows with their
 * tenant (connectors LPM), and enforces the verdicts userspace writes (verdict_hosts,
 * verdict_cidrs) on new SMTP connections only: block drops SYNs, throttle rate-limits them.
 *
 * Takes: rodata (smtp_ports, nr_smtp_ports, host_prefix_v4/v6) set between open and load;
 * maps written by the agent (connectors, verdict_*, meta).
 * Reports: per-CPU counters in stats, per-host counters in hosts, new flows in flows, drops
 * per verdict. Only SYN-without-ACK to an SMTP port can be dropped; everything else passes.
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

/* Fixed-window connection counter: the agent interpolates prev and cur into a rate.
 * XXX: not atomic across CPUs; two CPUs rolling the window at once may lose a count. */
static __always_inline void rg_count_conn(struct rg_host *h, __u64 now)
{
	__u64 start = h->rate_window_start_ns;

	__sync_fetch_and_add(&h->conns, 1);
	h->last_conn_ns = now;
	if (now - start < RG_RATE_WINDOW_NS) {
		__sync_fetch_and_add(&h->rate_window_conns, 1);
		return;
	}
	/* The window just ended: it becomes the previous one. Older: nothing recent. */
	if (now - start < 2 * RG_RATE_WINDOW_NS) {
		h->rate_prev_conns = h->rate_window_conns;
		h->rate_window_start_ns = start + RG_RATE_WINDOW_NS;
	} else {
		h->rate_prev_conns = 0;
		h->rate_window_start_ns = now;
	}
	h->rate_window_conns = 1;
}

/*
 * The classifier. data/data_end delimit the linear packet data, len is the frame length.
 * Returns XDP_PASS or XDP_DROP; only a SYN without ACK to an SMTP port from a host with a
 * live block or throttle verdict is ever dropped.
 */
static __always_inline int rg_core(void *data, void *data_end, __u32 len)
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
	__u32 zero = 0, ev = 0, tenant = 0, prefix, i;
	int action = XDP_PASS, proto, l4;
	__u16 dport;
	int syn;
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

	h = bpf_map_lookup_elem(&hosts, &hkey);
	if (h) {
		__sync_fetch_and_add(&h->packets, 1);
		__sync_fetch_and_add(&h->bytes, len);
		h->last_seen_ns = now;
		if (syn)
			rg_count_conn(h, now);
		tenant = h->tenant_id;
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
		if (syn) {
			nh.conns = 1;
			nh.last_conn_ns = now;
			nh.rate_window_start_ns = now;
			nh.rate_window_conns = 1;
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
					rg_count_conn(h, now);
			} else {
				ev |= EV_HOST_INSERT_FAIL;
			}
		}
	}

	/* Established traffic (anything but a SYN without ACK) is never dropped: connections
	 * are not cut mid-transaction. It pays one hash lookup above and nothing more. */
	if (!syn)
		goto out;
	ev |= EV_NEW_CONN;

	v = rg_live(bpf_map_lookup_elem(&verdict_hosts, &hkey), now, &ev);
	if (!v) {
		m = bpf_map_lookup_elem(&meta, &zero);
		if (m && m->cidr_verdicts) {
			lkey.prefixlen = 128;
			v = rg_live(bpf_map_lookup_elem(&verdict_cidrs, &lkey), now, &ev);
		}
	}
	if (!v)
		goto flow;

	if (v->action == RG_ACT_BLOCK) {
		action = XDP_DROP;
		ev |= EV_DROP_BLOCK;
		__sync_fetch_and_add(&v->drops, 1);
	} else if (v->action == RG_ACT_THROTTLE) {
		/* GCRA: a SYN conforms while the theoretical arrival time is no more than
		 * burst_ns ahead of now; each conforming SYN pushes it interval_ns further.
		 * XXX: read-modify-write without cmpxchg (clang's default -mcpu has no BPF
		 * atomics that return a value): two CPUs racing here may both pass, so a
		 * throttled host can get an extra SYN through per race. */
		__u64 tat = v->tat_ns;

		if (tat <= now + v->burst_ns) {
			v->tat_ns = (tat > now ? tat : now) + v->interval_ns;
		} else {
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
	__builtin_memcpy(fkey.saddr, lkey.addr, 16);
	fkey.sport = th->source;
	fkey.dport = th->dest;
	{
		struct rg_flow *f = bpf_map_lookup_elem(&flows, &fkey);

		/* A SYN retransmit or a reused 4-tuple updates in place, cheaper than an
		 * update_elem, which allocates a fresh LRU node each time.
		 * XXX: this lookup (40-byte key) is what keeps a SYN above xdp-filter's cost
		 * under test_run (~30 ns), and a first SYN of a new 4-tuple pays ~170 ns more
		 * for the LRU insert; the flows map's key and type are fixed by relayguard.h. */
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
		}
	}
	return action;
}

SEC("xdp")
int rg_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	return rg_core(data, data_end, data_end - data);
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

	/* GRO'd or paged skbs may hold only part of the headers linearly. */
	if ((long)skb->data_end - (long)skb->data < want)
		bpf_skb_pull_data(skb, want);
	/* Packet pointers are invalid after the pull: reload them. */
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;

	return rg_core(data, data_end, skb->len) == XDP_DROP ? TC_ACT_SHOT : TC_ACT_OK;
}
