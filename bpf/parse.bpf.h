/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * parse.bpf.h: bounds-checked header cursor for the XDP/TC program (kernel side only).
 *
 * A struct rg_cursor holds the current position and the end of the packet data. Each
 * rg_parse_*() checks that its whole header lies before the end, advances the cursor past
 * it and returns the next protocol (EtherType in network order, or IP protocol number),
 * or -1 when the header is truncated or malformed. Callers pass on anything they cannot
 * parse; nothing here drops.
 *
 * Handles Ethernet with up to two VLAN tags (802.1Q, 802.1ad), IPv4 with options, IPv6
 * with a bounded chain of extension headers (hop-by-hop, routing, destination options,
 * fragment), and TCP with options.
 */
#ifndef RG_PARSE_BPF_H
#define RG_PARSE_BPF_H

#include <linux/types.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define RG_MAX_VLAN 2		/* 802.1ad outer + 802.1Q inner (QinQ) */
#define RG_MAX_IPV6_EXT 6	/* longer extension chains are a parse error */

#define RG_IP_MF 0x2000
#define RG_IP_OFFSET 0x1fff
#define RG_IP6_OFFSET 0xfff8	/* fragment offset bits of ipv6 frag_off (network order) */

#ifndef ETH_P_8021Q
#define ETH_P_8021Q 0x8100
#endif
#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif

struct rg_cursor {
	void *pos;
	void *end;
};

/* Not in the uapi headers: the 4 bytes a VLAN tag inserts before the real EtherType. */
struct rg_vlan_hdr {
	__be16 tci;
	__be16 encap_proto;
};

/* IPv6 fragment header (uapi has it only in kernel-internal <net/ipv6.h>). */
struct rg_frag_hdr {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off;
	__be32 identification;
};

/* What the IP layer parsers report besides the next protocol. */
struct rg_ip_info {
	__u8 nonfirst_frag;	/* the L4 header is not in this packet */
};

static __always_inline int rg_is_vlan(__be16 proto)
{
	return proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD);
}

/* Ethernet and up to RG_MAX_VLAN tags; returns the inner EtherType (network order). */
static __always_inline int rg_parse_eth(struct rg_cursor *c)
{
	struct ethhdr *eth = c->pos;
	struct rg_vlan_hdr *vh;
	__be16 proto;
	int i;

	if ((void *)(eth + 1) > c->end)
		return -1;
	proto = eth->h_proto;
	c->pos = eth + 1;

#pragma unroll
	for (i = 0; i < RG_MAX_VLAN; i++) {
		if (!rg_is_vlan(proto))
			break;
		vh = c->pos;
		if ((void *)(vh + 1) > c->end)
			return -1;
		proto = vh->encap_proto;
		c->pos = vh + 1;
	}
	/* A third tag is more than we look through: the caller sees a non-IP EtherType. */
	return proto;
}

/* IPv4 with options. Validates version, ihl (5..15) and that tot_len covers the header. */
static __always_inline int rg_parse_ipv4(struct rg_cursor *c, struct iphdr **iphp,
					 struct rg_ip_info *info)
{
	struct iphdr *iph = c->pos;
	__u32 hlen;

	if ((void *)(iph + 1) > c->end)
		return -1;
	if (iph->version != 4 || iph->ihl < 5)
		return -1;
	hlen = iph->ihl * 4;
	if (bpf_ntohs(iph->tot_len) < hlen)
		return -1;
	/* hlen is at most 60 (4-bit field), which keeps the verifier's range on pos small. */
	if (c->pos + hlen > c->end)
		return -1;
	c->pos += hlen;
	*iphp = iph;
	info->nonfirst_frag = (iph->frag_off & bpf_htons(RG_IP_OFFSET)) != 0;
	return iph->protocol;
}

static __always_inline int rg_is_ipv6_ext(__u8 nh)
{
	return nh == IPPROTO_HOPOPTS || nh == IPPROTO_ROUTING || nh == IPPROTO_DSTOPTS ||
	       nh == IPPROTO_FRAGMENT;
}

/*
 * IPv6 and its extension headers, at most RG_MAX_IPV6_EXT of them (a longer chain is a
 * parse error). A fragment header with a non-zero offset ends the walk: what follows is
 * payload, not a header. Returns the upper-layer protocol.
 */
static __always_inline int rg_parse_ipv6(struct rg_cursor *c, struct ipv6hdr **ip6hp,
					 struct rg_ip_info *info)
{
	struct ipv6hdr *ip6h = c->pos;
	struct ipv6_opt_hdr *oh;
	struct rg_frag_hdr *fh;
	__u8 nh;
	int i;

	if ((void *)(ip6h + 1) > c->end)
		return -1;
	if (ip6h->version != 6)
		return -1;
	c->pos = ip6h + 1;
	*ip6hp = ip6h;
	nh = ip6h->nexthdr;

	/* Unrolled: each step advances pos by a bounded amount (at most 2048 bytes for
	 * hdrlen 255), so after six steps the verifier still knows pos is within 64 KiB of
	 * data, which it needs to accept the comparison against end. */
#pragma unroll
	for (i = 0; i < RG_MAX_IPV6_EXT; i++) {
		if (!rg_is_ipv6_ext(nh))
			return nh;
		if (nh == IPPROTO_FRAGMENT) {
			fh = c->pos;
			if ((void *)(fh + 1) > c->end)
				return -1;
			c->pos = fh + 1;
			nh = fh->nexthdr;
			if (fh->frag_off & bpf_htons(RG_IP6_OFFSET)) {
				info->nonfirst_frag = 1;
				return nh;
			}
			continue;
		}
		oh = c->pos;
		if ((void *)(oh + 1) > c->end)
			return -1;
		nh = oh->nexthdr;
		if (c->pos + (oh->hdrlen + 1) * 8 > c->end)
			return -1;
		c->pos += (oh->hdrlen + 1) * 8;
	}
	if (rg_is_ipv6_ext(nh))
		return -1;
	return nh;
}

/* TCP with options: doff >= 5 and the whole header present. */
static __always_inline int rg_parse_tcp(struct rg_cursor *c, struct tcphdr **tcphp)
{
	struct tcphdr *th = c->pos;
	__u32 hlen;

	if ((void *)(th + 1) > c->end)
		return -1;
	if (th->doff < 5)
		return -1;
	hlen = th->doff * 4;
	if (c->pos + hlen > c->end)
		return -1;
	c->pos += hlen;
	*tcphp = th;
	return 0;
}

#endif /* RG_PARSE_BPF_H */
