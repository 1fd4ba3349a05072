/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * pktbuild.h: the one frame builder of the BPF tests and benchmarks (tests/bpf/test_xdp_prog.c,
 * tools/bench-bpf.c). Takes a pkt_spec (VLAN tags, IPv4/IPv6 with options, extension headers
 * and fragments, TCP flags/options/payload, UDP or ICMP, deliberately malformed headers) and
 * fills a pkt: the frame, its length, and how many bytes the program must see to classify it.
 * Header-only: each program that includes it is built on its own by the Makefile.
 */
#ifndef RG_PKTBUILD_H
#define RG_PKTBUILD_H

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/types.h>

#define SRC_V4 "192.0.2.10"		/* in connector 192.0.2.0/24 -> tenant 7 */
#define SRC_V6 "2001:db8:10::10"	/* in connector 2001:db8:10::/48 -> tenant 9 */
#define DST_V4 "203.0.113.1"
#define DST_V6 "2001:db8::1"
#define SPORT 40000

/* TCP flag sets */
#define F_SYN 1
#define F_ACK 2		/* bare ACK */
#define F_DATA 3	/* PSH|ACK with payload */
#define F_SYNACK 4

/* Fragment kinds */
#define FRAG_NONE 0
#define FRAG_FIRST 1
#define FRAG_LATER 2

struct pkt_spec {
	int vlans;		/* 0, 1 (802.1Q) or 2 (802.1ad + 802.1Q) */
	int v6;			/* 0: IPv4, 1: IPv6 */
	int ip_opts;		/* IPv4 option bytes (multiple of 4, <= 40) */
	int v6_ext;		/* IPv6 extension headers before L4 */
	int l4;			/* IPPROTO_TCP (default when 0), IPPROTO_UDP, IPPROTO_ICMP(V6) */
	int flags;		/* F_* for TCP */
	int dport;		/* 0: 25 */
	int frag;		/* FRAG_* */
	int tcp_opts;		/* TCP option bytes (multiple of 4, <= 40) */
	int payload;		/* payload bytes */
	const char *src;	/* NULL: SRC_V4 / SRC_V6 */
	int bad;		/* malformed: 1 ihl<5, 2 doff<5, 3 version, 4 tot_len<hlen */
	__u16 ethertype;	/* non-IP EtherType when set */
};

/* The built frame and how many bytes the program needs to classify it. */
struct pkt {
	__u8 buf[1024];
	size_t len;
	size_t need;		/* shorter than this: parse error */
	int malformed;		/* always a parse error */
	__u8 src[16];		/* v4-mapped or IPv6 */
	__u8 dst[16];
	__u16 dport;		/* host order */
};

static inline void addr16(const char *s, __u8 out[16])
{
	struct in_addr a4;

	memset(out, 0, 16);
	if (inet_pton(AF_INET, s, &a4) == 1) {
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &a4, 4);
		return;
	}
	if (inet_pton(AF_INET6, s, out) != 1)
		abort(); /* a fixture's literal: a bug in the caller */
}

static inline void put16(__u8 *p, __u16 v)
{
	v = htons(v);
	memcpy(p, &v, 2);
}

static inline void build(const struct pkt_spec *s, struct pkt *p)
{
	const char *src = s->src ? s->src : (s->v6 ? SRC_V6 : SRC_V4);
	int l4 = s->l4 ? s->l4 : IPPROTO_TCP;
	size_t off = 0, ip_off, l4_off, l4_len, ip_end;
	__u8 *b = p->buf;

	memset(p, 0, sizeof(*p));
	addr16(src, p->src);
	addr16(s->v6 ? DST_V6 : DST_V4, p->dst);
	p->dport = s->dport ? s->dport : 25;

	memcpy(b, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01", 12);
	off = 12;
	if (s->vlans == 2) {
		put16(b + off, 0x88A8);
		put16(b + off + 2, 100);
		off += 4;
	}
	if (s->vlans >= 1) {
		put16(b + off, 0x8100);
		put16(b + off + 2, 200);
		off += 4;
	}
	if (s->ethertype) {
		put16(b + off, s->ethertype);
		off += 2;
		memset(b + off, 0, 28);	/* an ARP-sized body */
		p->len = off + 28;
		p->need = off;
		return;
	}
	put16(b + off, s->v6 ? ETH_P_IPV6 : ETH_P_IP);
	off += 2;
	ip_off = off;

	/* L4 length first: the IP headers carry it */
	if (l4 == IPPROTO_TCP)
		l4_len = 20 + s->tcp_opts + s->payload;
	else
		l4_len = 8 + s->payload;

	if (!s->v6) {
		struct iphdr *ip = (struct iphdr *)(b + off);
		size_t hl = 20 + s->ip_opts;

		ip->version = s->bad == 3 ? 6 : 4;
		ip->ihl = s->bad == 1 ? 4 : hl / 4;
		ip->tot_len = htons(s->bad == 4 ? 16 : hl + l4_len);
		ip->ttl = 64;
		ip->protocol = l4;
		if (s->frag == FRAG_FIRST)
			ip->frag_off = htons(0x2000);
		else if (s->frag == FRAG_LATER)
			ip->frag_off = htons(185);
		memcpy(&ip->saddr, p->src + 12, 4);
		memcpy(&ip->daddr, p->dst + 12, 4);
		memset(b + off + 20, 1, s->ip_opts);	/* NOPs */
		off += hl;
	} else {
		struct ipv6hdr *ip6 = (struct ipv6hdr *)(b + off);
		int n = s->v6_ext + (s->frag ? 1 : 0);
		__u8 *nh = &ip6->nexthdr;
		static const __u8 ext[] = { IPPROTO_HOPOPTS, IPPROTO_DSTOPTS, IPPROTO_ROUTING };

		ip6->version = s->bad == 3 ? 4 : 6;
		ip6->hop_limit = 64;
		memcpy(&ip6->saddr, p->src, 16);
		memcpy(&ip6->daddr, p->dst, 16);
		off += 40;
		for (int i = 0; i < s->v6_ext; i++) {
			/* alternate 8- and 16-byte headers to exercise hdrlen */
			int hl = (i & 1) ? 16 : 8;

			*nh = ext[i % 3];
			nh = b + off;
			b[off + 1] = hl / 8 - 1;
			memset(b + off + 2, 0, hl - 2);
			b[off + 2] = 1;	/* PadN */
			b[off + 3] = hl - 4;
			off += hl;
		}
		if (s->frag) {
			*nh = IPPROTO_FRAGMENT;
			nh = b + off;
			put16(b + off + 2, s->frag == FRAG_FIRST ? 1 : (185 << 3) | 1);
			memcpy(b + off + 4, "\x12\x34\x56\x78", 4);
			off += 8;
		}
		*nh = l4;
		ip6->payload_len = htons(off - ip_off - 40 + l4_len);
		(void)n;
	}
	ip_end = off;
	l4_off = off;

	if (l4 == IPPROTO_TCP) {
		struct tcphdr *th = (struct tcphdr *)(b + off);

		th->source = htons(SPORT);
		th->dest = htons(s->dport ? s->dport : 25);
		th->seq = htonl(1000);
		th->doff = s->bad == 2 ? 4 : (20 + s->tcp_opts) / 4;
		th->window = htons(65535);
		switch (s->flags) {
		case F_SYN:
			th->syn = 1;
			break;
		case F_SYNACK:
			th->syn = 1;
			th->ack = 1;
			break;
		case F_ACK:
			th->ack = 1;
			break;
		default:
			th->psh = 1;
			th->ack = 1;
		}
		if (s->tcp_opts) {
			memset(b + off + 20, 1, s->tcp_opts);
			b[off + 20] = 2;	/* MSS 1460 */
			b[off + 21] = 4;
			put16(b + off + 22, 1460);
		}
		off += 20 + s->tcp_opts;
	} else {
		/* UDP or ICMP: 8 bytes of header, not parsed by the program */
		put16(b + off, 5353);
		put16(b + off + 2, s->dport ? s->dport : 25);
		put16(b + off + 4, 8 + s->payload);
		if (l4 != IPPROTO_UDP) {
			b[off] = l4 == IPPROTO_ICMPV6 ? 128 : 8;	/* echo request */
			b[off + 1] = 0;
		}
		off += 8;
	}
	memset(b + off, 'x', s->payload);
	off += s->payload;
	p->len = off;

	/* What the program must see to classify: the TCP header for TCP, the IP headers
	 * otherwise (a later fragment: up to its fragment header). */
	p->need = (l4 == IPPROTO_TCP && s->frag != FRAG_LATER) ? l4_off + 20 + s->tcp_opts : ip_end;
	p->malformed = s->bad || (s->v6 && s->v6_ext + (s->frag ? 1 : 0) > 6);
	(void)l4_off;
}

#endif /* RG_PKTBUILD_H */
