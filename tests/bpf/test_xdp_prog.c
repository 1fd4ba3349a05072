// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * test_xdp_prog.c: BPF_PROG_TEST_RUN tests of bpf/relayguard.bpf.c (needs root).
 *
 * Loads the program from its skeleton (no attach, no pinning, small maps), runs built
 * frames through it and checks the verdict and the map changes: stats deltas, host entry
 * and its tenant, flow entry. Fixtures are a table (description, packet, expected verdict,
 * expected map change) plus a generated matrix of header stacks; every fixture is also run
 * at every truncated length. Exits 77 when the kernel cannot test_run XDP programs.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "relayguard.h"
#include "relayguard.skel.h"
#include "../helpers/pktbuild.h"

#define TENANT_V4 7
#define TENANT_V6 9
struct fixture {
	const char *desc;
	struct pkt_spec spec;
	int blocked;		/* install a BLOCK verdict for the source host first */
	int verdict;
	struct rg_stats delta;	/* expected stats change */
	int host;		/* host entry expected afterwards */
	__u32 tenant;
	int flow;		/* flow entry expected afterwards */
};

struct ctx {
	struct relayguard *skel;
	int xdp_fd, tc_fd;
	int hosts, flows, connectors, vhosts, vcidrs, stats, meta;
};

static int nr_cpus;

/* ---- addresses ---- */

static int is_v4mapped(const __u8 a[16])
{
	static const __u8 pfx[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	return !memcmp(a, pfx, 12);
}

static void mask16(__u8 a[16], unsigned prefix)
{
	for (unsigned i = 0; i < 16; i++) {
		int bits = (int)prefix - (int)i * 8;

		if (bits <= 0)
			a[i] = 0;
		else if (bits < 8)
			a[i] &= (__u8)(0xff << (8 - bits));
	}
}

static void host_key(const char *s, unsigned p4, unsigned p6, struct rg_host_key *k)
{
	addr16(s, k->addr);
	mask16(k->addr, is_v4mapped(k->addr) ? 96 + p4 : p6);
}

/* ---- map helpers ---- */

static void stats_sum(struct ctx *c, struct rg_stats *sum)
{
	struct rg_stats *per = calloc(nr_cpus, sizeof(*per));
	__u32 zero = 0;

	assert_non_null(per);
	assert_int_equal(bpf_map_lookup_elem(c->stats, &zero, per), 0);
	memset(sum, 0, sizeof(*sum));
	for (int i = 0; i < nr_cpus; i++) {
		__u64 *d = (__u64 *)sum, *s = (__u64 *)&per[i];

		for (size_t j = 0; j < sizeof(*sum) / 8; j++)
			d[j] += s[j];
	}
	free(per);
}

static const char *stat_names[] = {
	"packets", "smtp_packets", "smtp_new_conns", "drop_block", "drop_throttle",
	"parse_errors", "fragments", "host_insert_fail", "flow_insert_fail", "verdict_expired",
	"rate_events", "rate_event_drops",
};

/* Compare after - before with the expected delta, naming the first counter that differs. */
static void assert_delta(const struct rg_stats *before, const struct rg_stats *after,
			 const struct rg_stats *want, const char *desc, size_t len)
{
	const __u64 *b = (const __u64 *)before, *a = (const __u64 *)after;
	const __u64 *w = (const __u64 *)want;

	for (size_t j = 0; j < sizeof(*want) / 8; j++) {
		if (a[j] - b[j] != w[j])
			fail_msg("%s (len %zu): stats.%s changed by %llu, want %llu", desc, len,
				 stat_names[j], (unsigned long long)(a[j] - b[j]),
				 (unsigned long long)w[j]);
	}
}

static __u64 mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void lpm_put(int fd, const char *addr, unsigned plen, const void *val)
{
	struct rg_lpm_key k = { .prefixlen = plen };

	addr16(addr, k.addr);
	assert_int_equal(bpf_map_update_elem(fd, &k, val, BPF_ANY), 0);
}

/* What userspace does after every verdict write or delete (cidrs < 0: count unchanged):
 * bump meta.verdict_gen, so hosts the program cached as verdict-free look again. */
static void verdicts_changed(struct ctx *c, int cidrs)
{
	struct rg_meta m;
	__u32 zero = 0;

	assert_int_equal(bpf_map_lookup_elem(c->meta, &zero, &m), 0);
	m.layout_version = RG_LAYOUT_VERSION;
	if (cidrs >= 0)
		m.cidr_verdicts = (__u32)cidrs;
	m.verdict_gen++;
	assert_int_equal(bpf_map_update_elem(c->meta, &zero, &m, BPF_ANY), 0);
}

static void verdict_host(struct ctx *c, const char *addr, const struct rg_verdict *v)
{
	struct rg_host_key k;

	host_key(addr, c->skel->rodata->host_prefix_v4, c->skel->rodata->host_prefix_v6, &k);
	assert_int_equal(bpf_map_update_elem(c->vhosts, &k, v, BPF_ANY), 0);
	verdicts_changed(c, -1);
}

static int get_host(struct ctx *c, const char *addr, struct rg_host *h)
{
	struct rg_host_key k;

	host_key(addr, c->skel->rodata->host_prefix_v4, c->skel->rodata->host_prefix_v6, &k);
	return bpf_map_lookup_elem(c->hosts, &k, h);
}

static int get_flow(struct ctx *c, const struct pkt *p, struct rg_flow *f)
{
	struct rg_flow_key k = {};

	memcpy(k.saddr, p->src, 16);
	memcpy(k.daddr, p->dst, 16);
	k.sport = htons(SPORT);
	k.dport = htons(p->dport);
	return bpf_map_lookup_elem(c->flows, &k, f);
}

static int run_fd(int fd, const void *data, size_t len, __u32 *retval)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = data, .data_size_in = len, .repeat = 1);
	int err = bpf_prog_test_run_opts(fd, &o);

	if (err)
		return -errno;
	*retval = o.retval;
	return 0;
}

static __u32 run(struct ctx *c, const struct pkt *p, size_t len)
{
	__u32 ret = ~0U;

	assert_int_equal(run_fd(c->xdp_fd, p->buf, len, &ret), 0);
	return ret;
}

/* ---- setup ---- */

struct load_opts {
	__u32 hosts_max;
	int hosts_as_hash;	/* HASH instead of LRU_HASH: lets a test make inserts fail */
	unsigned p4, p6;
	__u32 mark_mask;	/* tc_mark_mask */
	int proven;		/* proven_hosts = 1 (production); else 0: an entry per SYN */
};

static int ctx_load(struct ctx *c, const struct load_opts *lo)
{
	static const struct rg_tenant_tag t4 = { .tenant_id = TENANT_V4 };
	static const struct rg_tenant_tag t6 = { .tenant_id = TENANT_V6 };
	struct relayguard *s;
	int err;

	memset(c, 0, sizeof(*c));
	s = relayguard__open();
	if (!s)
		return -errno;
	s->rodata->host_prefix_v4 = lo && lo->p4 ? lo->p4 : 32;
	s->rodata->host_prefix_v6 = lo && lo->p6 ? lo->p6 : 64;
	/* The fixtures count and tag hosts from SYNs alone: test_run has no TCP stack to
	 * prove a source with, so they load the entry-per-packet mode. */
	s->rodata->proven_hosts = lo && lo->proven;
	if (lo && lo->mark_mask) {
		s->rodata->tc_mark_mask = lo->mark_mask;
		s->rodata->tc_mark_shift = __builtin_ctz(lo->mark_mask);
	}
	bpf_map__set_max_entries(s->maps.hosts, lo && lo->hosts_max ? lo->hosts_max : 4096);
	if (lo && lo->hosts_as_hash)
		bpf_map__set_type(s->maps.hosts, BPF_MAP_TYPE_HASH);
	bpf_map__set_max_entries(s->maps.flows, 4096);
	bpf_map__set_max_entries(s->maps.connectors, 64);
	bpf_map__set_max_entries(s->maps.verdict_hosts, 1024);
	bpf_map__set_max_entries(s->maps.verdict_cidrs, 64);
	err = relayguard__load(s);
	if (err) {
		relayguard__destroy(s);
		return err;
	}
	c->skel = s;
	c->xdp_fd = bpf_program__fd(s->progs.rg_xdp);
	c->tc_fd = bpf_program__fd(s->progs.rg_tc);
	c->hosts = bpf_map__fd(s->maps.hosts);
	c->flows = bpf_map__fd(s->maps.flows);
	c->connectors = bpf_map__fd(s->maps.connectors);
	c->vhosts = bpf_map__fd(s->maps.verdict_hosts);
	c->vcidrs = bpf_map__fd(s->maps.verdict_cidrs);
	c->stats = bpf_map__fd(s->maps.stats);
	c->meta = bpf_map__fd(s->maps.meta);
	lpm_put(c->connectors, "192.0.2.0", 96 + 24, &t4);
	lpm_put(c->connectors, "2001:db8:10::", 48, &t6);
	return 0;
}

static struct ctx *ctx_new(const struct load_opts *lo)
{
	struct ctx *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	assert_int_equal(ctx_load(c, lo), 0);
	return c;
}

static void ctx_free(struct ctx *c)
{
	relayguard__destroy(c->skel);
	free(c);
}

static const struct rg_verdict BLOCK = { .action = RG_ACT_BLOCK };

/* ---- fixture runner ---- */

/* What the program should do with this frame cut to len bytes. The rules: truncated or
 * malformed headers -> pass, parse_errors; later fragment -> pass, fragments; not TCP to
 * port 25 -> pass; SMTP -> counted with a host entry; SYN only -> also a flow and the
 * verdict: blocked -> drop. */
static void oracle(const struct pkt_spec *s, const struct pkt *p, size_t len, int blocked,
		   struct fixture *f)
{
	int l4 = s->l4 ? s->l4 : IPPROTO_TCP;

	memset(f, 0, sizeof(*f));
	f->verdict = XDP_PASS;
	f->delta.packets = 1;
	if (p->malformed || len < p->need) {
		f->delta.parse_errors = 1;
		return;
	}
	if (s->ethertype)
		return;
	if (s->frag == FRAG_LATER) {
		f->delta.fragments = 1;
		return;
	}
	if (l4 != IPPROTO_TCP || (p->dport != 25 && p->dport != 587 && p->dport != 465))
		return;
	f->delta.smtp_packets = 1;
	f->host = 1;
	f->tenant = s->src ? 0 : (s->v6 ? TENANT_V6 : TENANT_V4);
	if (s->flags == F_SYN) {
		f->delta.smtp_new_conns = 1;
		f->flow = !blocked;	/* a dropped SYN opens no flow */
		if (blocked) {
			f->verdict = XDP_DROP;
			f->delta.drop_block = 1;
		}
	}
}

static void clear_map(int fd, size_t ksz)
{
	__u8 k[64];

	assert_true(ksz <= sizeof(k));
	while (bpf_map_get_next_key(fd, NULL, k) == 0)
		assert_int_equal(bpf_map_delete_elem(fd, k), 0);
}

/* Run one frame (possibly truncated) with empty hosts, flows and verdicts, and check
 * everything. Reusing one loaded program keeps the thousands of truncation runs quick. */
static void check_fixture(struct ctx *c, const char *desc, const struct pkt_spec *spec,
			  int blocked, const struct fixture *want, size_t len)
{
	struct rg_stats before, after;
	struct rg_host h;
	struct rg_flow fl;
	struct pkt p;
	__u32 ret;

	build(spec, &p);
	if (!len)
		len = p.len;
	clear_map(c->hosts, sizeof(struct rg_host_key));
	clear_map(c->flows, sizeof(struct rg_flow_key));
	clear_map(c->vhosts, sizeof(struct rg_host_key));
	verdicts_changed(c, -1);
	if (blocked)
		verdict_host(c, spec->src ? spec->src : (spec->v6 ? SRC_V6 : SRC_V4), &BLOCK);
	stats_sum(c, &before);
	ret = run(c, &p, len);
	stats_sum(c, &after);
	if ((int)ret != want->verdict)
		fail_msg("%s (len %zu of %zu): verdict %u, want %d", desc, len, p.len, ret,
			 want->verdict);
	assert_delta(&before, &after, &want->delta, desc, len);

	if (want->host) {
		if (get_host(c, spec->src ? spec->src : (spec->v6 ? SRC_V6 : SRC_V4), &h))
			fail_msg("%s (len %zu): no host entry", desc, len);
		assert_int_equal(h.tenant_id, want->tenant);
		assert_int_equal(h.packets, 1);
		assert_int_equal(h.bytes, len);
		assert_int_equal(h.conns, want->delta.smtp_new_conns);
	} else {
		__u8 k[16];
		int n = 0;

		/* nothing counted for anyone */
		while (bpf_map_get_next_key(c->hosts, n ? k : NULL, k) == 0)
			n++;
		if (n)
			fail_msg("%s (len %zu): %d unexpected host entries", desc, len, n);
	}
	if (want->flow) {
		if (get_flow(c, &p, &fl))
			fail_msg("%s (len %zu): no flow entry", desc, len);
		assert_int_equal(fl.tenant_id, want->tenant);
		assert_true(fl.start_ns > 0);
	} else {
		struct rg_flow_key k;

		if (bpf_map_get_next_key(c->flows, NULL, &k) == 0)
			fail_msg("%s (len %zu): unexpected flow entry", desc, len);
	}
}

/* Hand-written table: each line states its own expectations. */
#define SMTP_SYN { .packets = 1, .smtp_packets = 1, .smtp_new_conns = 1 }
#define SMTP_EST { .packets = 1, .smtp_packets = 1 }
#define DROPPED { .packets = 1, .smtp_packets = 1, .smtp_new_conns = 1, .drop_block = 1 }
#define PLAIN { .packets = 1 }
#define PERR { .packets = 1, .parse_errors = 1 }
#define FRAG { .packets = 1, .fragments = 1 }

static const struct fixture table[] = {
	{ "v4 SYN to 25, unknown host", { .flags = F_SYN }, 0, XDP_PASS, SMTP_SYN, 1, TENANT_V4, 1 },
	{ "v4 SYN to 587", { .flags = F_SYN, .dport = 587 }, 0, XDP_PASS, SMTP_SYN, 1, TENANT_V4, 1 },
	{ "v4 SYN to 465", { .flags = F_SYN, .dport = 465 }, 0, XDP_PASS, SMTP_SYN, 1, TENANT_V4, 1 },
	{ "v4 SYN outside connectors: tenant 0", { .flags = F_SYN, .src = "198.51.100.9" }, 0,
	  XDP_PASS, SMTP_SYN, 1, 0, 1 },
	{ "v6 SYN outside connectors: tenant 0", { .v6 = 1, .flags = F_SYN, .src = "2001:db8:99::1" },
	  0, XDP_PASS, SMTP_SYN, 1, 0, 1 },
	{ "v6 SYN, tenant from /48 connector", { .v6 = 1, .flags = F_SYN }, 0, XDP_PASS, SMTP_SYN, 1,
	  TENANT_V6, 1 },
	{ "v4 ACK to 25", { .flags = F_ACK }, 0, XDP_PASS, SMTP_EST, 1, TENANT_V4, 0 },
	{ "v4 SYN+ACK to 25 is not a new connection", { .flags = F_SYNACK }, 1, XDP_PASS, SMTP_EST, 1,
	  TENANT_V4, 0 },
	{ "blocked v4 SYN dropped", { .flags = F_SYN }, 1, XDP_DROP, DROPPED, 1, TENANT_V4, 0 },
	{ "blocked v4 ACK passes", { .flags = F_ACK }, 1, XDP_PASS, SMTP_EST, 1, TENANT_V4, 0 },
	{ "blocked v4 data passes", { .flags = F_DATA, .payload = 200 }, 1, XDP_PASS, SMTP_EST, 1,
	  TENANT_V4, 0 },
	{ "blocked v6 SYN dropped", { .v6 = 1, .flags = F_SYN }, 1, XDP_DROP, DROPPED, 1, TENANT_V6, 0 },
	{ "blocked v6 data passes", { .v6 = 1, .flags = F_DATA, .payload = 100 }, 1, XDP_PASS,
	  SMTP_EST, 1, TENANT_V6, 0 },
	{ "blocked host: TCP SYN to 80 passes", { .flags = F_SYN, .dport = 80 }, 1, XDP_PASS, PLAIN,
	  0, 0, 0 },
	{ "blocked host: UDP to 25 passes", { .l4 = IPPROTO_UDP, .payload = 20 }, 1, XDP_PASS, PLAIN,
	  0, 0, 0 },
	{ "blocked host: ICMP passes", { .l4 = IPPROTO_ICMP, .payload = 20 }, 1, XDP_PASS, PLAIN, 0,
	  0, 0 },
	{ "blocked host: ICMPv6 passes", { .v6 = 1, .l4 = IPPROTO_ICMPV6 }, 1, XDP_PASS, PLAIN, 0, 0,
	  0 },
	{ "blocked host: v6 UDP to 25 passes", { .v6 = 1, .l4 = IPPROTO_UDP }, 1, XDP_PASS, PLAIN, 0,
	  0, 0 },
	{ "ARP passes", { .ethertype = 0x0806 }, 0, XDP_PASS, PLAIN, 0, 0, 0 },
	{ "three VLAN tags: not looked through", { .vlans = 2, .ethertype = 0x8100 }, 0, XDP_PASS,
	  PLAIN, 0, 0, 0 },
	{ "blocked v4 first fragment SYN dropped", { .flags = F_SYN, .frag = FRAG_FIRST }, 1,
	  XDP_DROP, DROPPED, 1, TENANT_V4, 0 },
	{ "blocked v4 later fragment passes", { .flags = F_SYN, .frag = FRAG_LATER }, 1, XDP_PASS,
	  FRAG, 0, 0, 0 },
	{ "blocked v6 first fragment SYN dropped", { .v6 = 1, .flags = F_SYN, .frag = FRAG_FIRST }, 1,
	  XDP_DROP, DROPPED, 1, TENANT_V6, 0 },
	{ "blocked v6 later fragment passes", { .v6 = 1, .flags = F_SYN, .frag = FRAG_LATER }, 1,
	  XDP_PASS, FRAG, 0, 0, 0 },
	{ "v6 later fragment after ext headers", { .v6 = 1, .v6_ext = 2, .frag = FRAG_LATER }, 1,
	  XDP_PASS, FRAG, 0, 0, 0 },
	{ "v4 UDP later fragment counted", { .l4 = IPPROTO_UDP, .frag = FRAG_LATER }, 0, XDP_PASS,
	  FRAG, 0, 0, 0 },
	{ "blocked v4 ihl 4: parse error, pass", { .flags = F_SYN, .bad = 1 }, 1, XDP_PASS, PERR, 0,
	  0, 0 },
	{ "blocked v4 doff 4: parse error, pass", { .flags = F_SYN, .bad = 2 }, 1, XDP_PASS, PERR, 0,
	  0, 0 },
	{ "blocked v4 version 6 in IPv4 frame", { .flags = F_SYN, .bad = 3 }, 1, XDP_PASS, PERR, 0,
	  0, 0 },
	{ "blocked v6 version 4 in IPv6 frame", { .v6 = 1, .flags = F_SYN, .bad = 3 }, 1, XDP_PASS,
	  PERR, 0, 0, 0 },
	{ "blocked v4 tot_len < ihl", { .flags = F_SYN, .bad = 4 }, 1, XDP_PASS, PERR, 0, 0, 0 },
	{ "blocked v6 ext chain of 6 (limit) SYN dropped", { .v6 = 1, .v6_ext = 6, .flags = F_SYN },
	  1, XDP_DROP, DROPPED, 1, TENANT_V6, 0 },
	{ "blocked v6 ext chain of 7: parse error, pass", { .v6 = 1, .v6_ext = 7, .flags = F_SYN },
	  1, XDP_PASS, PERR, 0, 0, 0 },
	{ "blocked v6 ext chain of 5 + fragment header (6) dropped",
	  { .v6 = 1, .v6_ext = 5, .frag = FRAG_FIRST, .flags = F_SYN }, 1, XDP_DROP, DROPPED, 1,
	  TENANT_V6, 0 },
	{ "blocked v6 ext chain of 6 + fragment header (7): parse error",
	  { .v6 = 1, .v6_ext = 6, .frag = FRAG_FIRST, .flags = F_SYN }, 1, XDP_PASS, PERR, 0, 0, 0 },
	{ "blocked QinQ v4 options(40) TCP options(40) SYN dropped",
	  { .vlans = 2, .ip_opts = 40, .tcp_opts = 40, .flags = F_SYN }, 1, XDP_DROP, DROPPED, 1,
	  TENANT_V4, 0 },
};

static void test_table(void **state)
{
	struct ctx *c = ctx_new(NULL);

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		const struct fixture *f = &table[i];
		struct fixture o;
		struct pkt p;

		/* the table and the rules the other tests use must agree */
		build(&f->spec, &p);
		oracle(&f->spec, &p, p.len, f->blocked, &o);
		if (o.verdict != f->verdict || memcmp(&o.delta, &f->delta, sizeof(o.delta)) ||
		    o.host != f->host || (o.host && o.tenant != f->tenant) || o.flow != f->flow)
			fail_msg("table line '%s' disagrees with oracle", f->desc);
		check_fixture(c, f->desc, &f->spec, f->blocked, f, 0);
	}
	ctx_free(c);
}

/* Every header stack: {no VLAN, 802.1Q, QinQ} x {v4, v4 options, v6, v6 short ext chain,
 * v6 chain at the limit, v6 chain over it} x {SYN, ACK, data}, all from a blocked host. */
static int matrix(struct pkt_spec *out, size_t max)
{
	static const struct pkt_spec ip[] = {
		{ .v6 = 0 }, { .v6 = 0, .ip_opts = 12 }, { .v6 = 0, .ip_opts = 40 },
		{ .v6 = 1 }, { .v6 = 1, .v6_ext = 2 }, { .v6 = 1, .v6_ext = 6 },
		{ .v6 = 1, .v6_ext = 7 },
	};
	static const int flags[] = { F_SYN, F_ACK, F_DATA };
	size_t n = 0;

	for (int v = 0; v <= 2; v++)
		for (size_t i = 0; i < sizeof(ip) / sizeof(ip[0]); i++)
			for (size_t f = 0; f < 3; f++) {
				assert_true(n < max);
				out[n] = ip[i];
				out[n].vlans = v;
				out[n].flags = flags[f];
				out[n].payload = flags[f] == F_DATA ? 64 : 0;
				out[n].tcp_opts = flags[f] == F_SYN ? 8 : 0;
				n++;
			}
	return n;
}

static void describe(const struct pkt_spec *s, char *buf, size_t sz)
{
	snprintf(buf, sz, "vlans=%d %s opts=%d ext=%d frag=%d l4=%d flags=%d dport=%d", s->vlans,
		 s->v6 ? "v6" : "v4", s->ip_opts, s->v6_ext, s->frag, s->l4, s->flags,
		 s->dport);
}

static void test_matrix(void **state)
{
	struct pkt_spec specs[128];
	int n = matrix(specs, 128);
	char desc[128];
	struct ctx *c = ctx_new(NULL);

	for (int i = 0; i < n; i++) {
		struct fixture want;
		struct pkt p;

		build(&specs[i], &p);
		oracle(&specs[i], &p, p.len, 1, &want);
		describe(&specs[i], desc, sizeof(desc));
		check_fixture(c, desc, &specs[i], 1, &want, 0);
	}
	ctx_free(c);
}

/* Every fixture, table and matrix, at every length from the Ethernet header (test_run's
 * minimum) to full: cut inside a header -> pass and parse_errors, nothing else counted;
 * cut in the payload -> classified as the whole frame. All from a blocked host, so a
 * misclassified truncated SYN would show as a drop. */
static void truncations(struct ctx *c, const struct pkt_spec *s, const char *desc, int blocked)
{
	struct pkt p;

	build(s, &p);
	for (size_t len = ETH_HLEN; len < p.len; len++) {
		struct fixture want;

		oracle(s, &p, len, blocked, &want);
		check_fixture(c, desc, s, blocked, &want, len);
	}
}

static void test_truncation(void **state)
{
	struct pkt_spec specs[128];
	int n = matrix(specs, 128);
	char desc[128];
	struct ctx *c = ctx_new(NULL);

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		truncations(c, &table[i].spec, table[i].desc, 1);
	for (int i = 0; i < n; i++) {
		describe(&specs[i], desc, sizeof(desc));
		truncations(c, &specs[i], desc, 1);
	}
	ctx_free(c);
}

static void test_tc_entry(void **state)
{
	struct ctx *c = ctx_new(NULL);
	struct pkt_spec syn = { .flags = F_SYN }, ack = { .flags = F_ACK };
	struct pkt_spec udp = { .l4 = IPPROTO_UDP };
	struct pkt p;
	__u32 ret;

	verdict_host(c, SRC_V4, &BLOCK);
	build(&syn, &p);
	assert_int_equal(run_fd(c->tc_fd, p.buf, p.len, &ret), 0);
	assert_int_equal(ret, TC_ACT_SHOT);
	build(&ack, &p);
	assert_int_equal(run_fd(c->tc_fd, p.buf, p.len, &ret), 0);
	assert_int_equal(ret, TC_ACT_OK);
	build(&udp, &p);
	assert_int_equal(run_fd(c->tc_fd, p.buf, p.len, &ret), 0);
	assert_int_equal(ret, TC_ACT_OK);
	ctx_free(c);
}

/* Run the TC entry with skb->mark = mark in; the mark it leaves. */
static __u32 tc_mark(struct ctx *c, const struct pkt *p, __u32 mark, __u32 want_ret)
{
	struct __sk_buff skb = { .mark = mark };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = p->buf, .data_size_in = p->len,
		    .ctx_in = &skb, .ctx_size_in = sizeof(skb), .ctx_out = &skb,
		    .ctx_size_out = sizeof(skb), .repeat = 1);

	assert_int_equal(bpf_prog_test_run_opts(c->tc_fd, &o), 0);
	assert_int_equal(o.retval, want_ret);
	return skb.mark;
}

/* tenant_mark_mask: at TC an SMTP packet of a tagged host carries its tenant id in the
 * mask's bits of skb->mark, the other bits kept; everything else keeps its mark; mask 0
 * (the default) never touches it. */
static void test_tc_mark(void **state)
{
	struct load_opts lo = { .mark_mask = 0xff00 };
	struct ctx *c = ctx_new(&lo), *off = ctx_new(NULL);
	struct pkt_spec syn = { .flags = F_SYN }, data = { .flags = F_DATA, .payload = 20 };
	struct pkt_spec syn6 = { .v6 = 1, .flags = F_SYN }, udp = { .l4 = IPPROTO_UDP };
	struct pkt_spec other = { .flags = F_SYN, .src = "198.51.100.9" }; /* no connector */
	struct pkt_spec big = { .flags = F_SYN, .src = "203.0.113.7" };
	static const struct rg_tenant_tag t300 = { .tenant_id = 0x1234 };
	struct pkt p;

	build(&syn, &p);
	assert_int_equal(tc_mark(c, &p, 0x10001, TC_ACT_OK), 0x10001 | (TENANT_V4 << 8));
	assert_int_equal(tc_mark(off, &p, 0x10001, TC_ACT_OK), 0x10001);
	build(&data, &p);
	assert_int_equal(tc_mark(c, &p, 0xff00, TC_ACT_OK), TENANT_V4 << 8);
	build(&syn6, &p);
	assert_int_equal(tc_mark(c, &p, 0, TC_ACT_OK), TENANT_V6 << 8);
	build(&udp, &p);
	assert_int_equal(tc_mark(c, &p, 0x5, TC_ACT_OK), 0x5);
	build(&other, &p);
	assert_int_equal(tc_mark(c, &p, 0x5, TC_ACT_OK), 0x5);
	/* ids wider than the mask keep to the mask */
	lpm_put(c->connectors, "203.0.113.0", 96 + 24, &t300);
	build(&big, &p);
	assert_int_equal(tc_mark(c, &p, 0, TC_ACT_OK), 0x3400);
	/* a dropped SYN is dropped, mark or not */
	verdict_host(c, SRC_V4, &BLOCK);
	build(&syn, &p);
	tc_mark(c, &p, 0, TC_ACT_SHOT);
	ctx_free(c);
	ctx_free(off);
}

static void test_throttle_burst(void **state)
{
	/* interval 1000 s: no credit comes back during the test, so the counts are exact.
	 * GCRA with burst = 3 intervals lets 1 + 3 SYNs through. */
	struct rg_verdict v = { .action = RG_ACT_THROTTLE, .origin = RG_ORIGIN_CONN_RATE,
				.interval_ns = 1000000000000ULL, .burst_ns = 3000000000000ULL };
	struct pkt_spec syn = { .flags = F_SYN }, data = { .flags = F_DATA, .payload = 10 };
	struct ctx *c = ctx_new(NULL);
	struct rg_stats before, after;
	struct rg_host_key k;
	struct rg_verdict got;
	struct pkt p, d;
	int passed = 0, dropped = 0;

	verdict_host(c, SRC_V4, &v);
	build(&syn, &p);
	build(&data, &d);
	stats_sum(c, &before);
	for (int i = 0; i < 10; i++) {
		__u32 r = run(c, &p, p.len);

		if (r == XDP_PASS)
			passed++;
		else if (r == XDP_DROP)
			dropped++;
		/* established traffic of the throttled host always passes */
		assert_int_equal(run(c, &d, d.len), XDP_PASS);
	}
	assert_int_equal(passed, 4);
	assert_int_equal(dropped, 6);
	stats_sum(c, &after);
	assert_int_equal(after.drop_throttle - before.drop_throttle, 6);
	assert_int_equal(after.drop_block - before.drop_block, 0);
	host_key(SRC_V4, 32, 64, &k);
	assert_int_equal(bpf_map_lookup_elem(c->vhosts, &k, &got), 0);
	assert_int_equal(got.drops, 6);
	assert_true(got.tat_ns > mono_ns() + 3000000000000ULL);

	/* Time passing, as the agent would see it: tat back in the past gives a full burst
	 * again. */
	got.tat_ns = 0;
	assert_int_equal(bpf_map_update_elem(c->vhosts, &k, &got, BPF_EXIST), 0);
	passed = 0;
	for (int i = 0; i < 6; i++)
		passed += run(c, &p, p.len) == XDP_PASS;
	assert_int_equal(passed, 4);

	/* burst 0: exactly one per interval */
	v.burst_ns = 0;
	verdict_host(c, "192.0.2.11", &v);
	syn.src = "192.0.2.11";
	build(&syn, &p);
	passed = 0;
	for (int i = 0; i < 5; i++)
		passed += run(c, &p, p.len) == XDP_PASS;
	assert_int_equal(passed, 1);
	ctx_free(c);
}

static void test_verdict_expiry(void **state)
{
	struct ctx *c = ctx_new(NULL);
	struct rg_verdict v = BLOCK;
	struct rg_stats before, after;
	struct pkt_spec syn = { .flags = F_SYN };
	struct pkt p;

	build(&syn, &p);
	/* a second ago: the program's clock is CLOCK_MONOTONIC at tick resolution */
	v.expires_ns = mono_ns() - 1000000000ULL;
	verdict_host(c, SRC_V4, &v);
	stats_sum(c, &before);
	assert_int_equal(run(c, &p, p.len), XDP_PASS);
	stats_sum(c, &after);
	assert_int_equal(after.verdict_expired - before.verdict_expired, 1);
	assert_int_equal(after.drop_block - before.drop_block, 0);

	v.expires_ns = mono_ns() + 3600ULL * 1000000000ULL;	/* an hour from now */
	verdict_host(c, SRC_V4, &v);
	assert_int_equal(run(c, &p, p.len), XDP_DROP);

	/* An expired host verdict does not hide a live CIDR verdict. */
	v.expires_ns = 1;
	verdict_host(c, SRC_V4, &v);
	lpm_put(c->vcidrs, "192.0.2.0", 96 + 28, &BLOCK);
	verdicts_changed(c, 1);
	assert_int_equal(run(c, &p, p.len), XDP_DROP);
	ctx_free(c);
}

static void set_cidr_count(struct ctx *c, __u32 n)
{
	verdicts_changed(c, (int)n);
}

static void test_cidr_verdict(void **state)
{
	struct ctx *c = ctx_new(NULL);
	struct pkt_spec in4 = { .flags = F_SYN, .src = "198.51.100.7" };
	struct pkt_spec out4 = { .flags = F_SYN, .src = "198.51.101.7" };
	struct pkt_spec in6 = { .v6 = 1, .flags = F_SYN, .src = "2001:db8:20:1::5" };
	struct pkt_spec ack4 = { .flags = F_ACK, .src = "198.51.100.7" };
	struct rg_verdict got;
	struct rg_lpm_key k = { .prefixlen = 96 + 24 };
	struct pkt p;

	lpm_put(c->vcidrs, "198.51.100.0", 96 + 24, &BLOCK);
	lpm_put(c->vcidrs, "2001:db8:20::", 48, &BLOCK);

	/* meta.cidr_verdicts == 0 tells the program the trie is empty: it is not consulted. */
	build(&in4, &p);
	assert_int_equal(run(c, &p, p.len), XDP_PASS);

	set_cidr_count(c, 2);
	assert_int_equal(run(c, &p, p.len), XDP_DROP);
	build(&ack4, &p);
	assert_int_equal(run(c, &p, p.len), XDP_PASS);
	build(&out4, &p);
	assert_int_equal(run(c, &p, p.len), XDP_PASS);
	build(&in6, &p);
	assert_int_equal(run(c, &p, p.len), XDP_DROP);

	addr16("198.51.100.0", k.addr);
	assert_int_equal(bpf_map_lookup_elem(c->vcidrs, &k, &got), 0);
	assert_int_equal(got.drops, 1);
	ctx_free(c);
}

/* A host found without a verdict skips the verdict lookups until userspace bumps
 * meta.verdict_gen: a verdict written without the bump is not seen (the proof that the
 * lookups were skipped), after it at the next SYN; a new host always looks. */
static void test_verdict_generation(void **state)
{
	struct ctx *c = ctx_new(NULL);
	struct pkt_spec sp = { .flags = F_SYN, .src = "192.0.2.20" };
	struct pkt_spec fresh = { .flags = F_SYN, .src = "192.0.2.21" };
	struct rg_host_key k;
	struct rg_host h;
	struct pkt p, pf;

	verdicts_changed(c, 0);
	build(&sp, &p);
	build(&fresh, &pf);
	assert_int_equal(run(c, &p, p.len), XDP_PASS);	/* new host: looked, no verdict */
	assert_int_equal(run(c, &p, p.len), XDP_PASS);	/* known host: looked, cached */
	assert_int_equal(get_host(c, sp.src, &h), 0);
	assert_int_not_equal(h.verdict_gen, 0);

	host_key(sp.src, 32, 64, &k);
	assert_int_equal(bpf_map_update_elem(c->vhosts, &k, &BLOCK, BPF_ANY), 0);
	assert_int_equal(run(c, &p, p.len), XDP_PASS);	/* cached: not looked up */
	host_key(fresh.src, 32, 64, &k);
	assert_int_equal(bpf_map_update_elem(c->vhosts, &k, &BLOCK, BPF_ANY), 0);
	assert_int_equal(run(c, &pf, pf.len), XDP_DROP); /* never seen: looked up */

	verdicts_changed(c, -1);
	assert_int_equal(run(c, &p, p.len), XDP_DROP);
	assert_int_equal(run(c, &p, p.len), XDP_DROP);	/* a host with a verdict never caches */
	ctx_free(c);
}

static void test_tenant_tags(void **state)
{
	static const struct rg_tenant_tag t11 = { .tenant_id = 11 };
	struct ctx *c = ctx_new(NULL);
	struct pkt_spec s4 = { .flags = F_SYN, .src = "192.0.2.200" };
	struct pkt_spec s6 = { .v6 = 1, .flags = F_SYN, .src = "2001:db8:10:ff::1" };
	struct rg_host h;
	struct rg_flow f;
	struct pkt p;

	/* a longer prefix inside 192.0.2.0/24 wins */
	lpm_put(c->connectors, "192.0.2.128", 96 + 25, &t11);
	build(&s4, &p);
	assert_int_equal(run(c, &p, p.len), XDP_PASS);
	assert_int_equal(get_host(c, s4.src, &h), 0);
	assert_int_equal(h.tenant_id, 11);
	assert_int_equal(get_flow(c, &p, &f), 0);
	assert_int_equal(f.tenant_id, 11);

	build(&s6, &p);
	assert_int_equal(run(c, &p, p.len), XDP_PASS);
	assert_int_equal(get_host(c, s6.src, &h), 0);
	assert_int_equal(h.tenant_id, TENANT_V6);
	assert_int_equal(get_flow(c, &p, &f), 0);
	assert_int_equal(f.tenant_id, TENANT_V6);

	/* a data packet from a new host gets its tenant too, but no flow */
	s4.src = "192.0.2.5";
	s4.flags = F_DATA;
	build(&s4, &p);
	assert_int_equal(run(c, &p, p.len), XDP_PASS);
	assert_int_equal(get_host(c, s4.src, &h), 0);
	assert_int_equal(h.tenant_id, TENANT_V4);
	assert_int_equal(h.conns, 0);
	assert_int_not_equal(get_flow(c, &p, &f), 0);
	ctx_free(c);
}

static void test_host_counters(void **state)
{
	struct load_opts lo = { .p4 = 24, .p6 = 48 };
	struct ctx *c = ctx_new(&lo);
	struct pkt_spec a = { .flags = F_SYN, .src = "192.0.2.1" };
	struct pkt_spec b = { .flags = F_SYN, .src = "192.0.2.77" };
	struct pkt_spec d = { .flags = F_DATA, .payload = 100, .src = "192.0.2.77" };
	struct rg_host_key k;
	struct rg_host h;
	struct pkt pa, pb, pd;
	__u64 t0 = mono_ns() - 100000000;	/* the program's clock lags by up to a tick */

	build(&a, &pa);
	build(&b, &pb);
	build(&d, &pd);
	/* /24 hosts: both sources count into one entry */
	run(c, &pa, pa.len);
	run(c, &pb, pb.len);
	run(c, &pd, pd.len);
	assert_int_equal(get_host(c, a.src, &h), 0);
	assert_int_equal(h.packets, 3);
	assert_int_equal(h.bytes, pa.len + pb.len + pd.len);
	assert_int_equal(h.conns, 2);
	assert_int_equal(h.rate_window_conns, 2);
	assert_int_equal(h.rate_prev_conns, 0);
	assert_true(h.first_seen_ns >= t0 && h.first_seen_ns <= h.last_seen_ns);
	assert_true(h.last_conn_ns >= h.first_seen_ns && h.last_conn_ns <= h.last_seen_ns);
	assert_true(h.last_seen_ns <= mono_ns());

	/* a /24 verdict blocks every address in it */
	verdict_host(c, "192.0.2.0", &BLOCK);
	assert_int_equal(run(c, &pa, pa.len), XDP_DROP);
	assert_int_equal(run(c, &pb, pb.len), XDP_DROP);
	assert_int_equal(bpf_map_delete_elem(c->vhosts, (host_key("192.0.2.0", 24, 48, &k), &k)),
			 0);
	verdicts_changed(c, -1);

	/* window rollover: the window that just ended becomes prev */
	assert_int_equal(get_host(c, a.src, &h), 0);
	h.rate_window_start_ns = mono_ns() - RG_RATE_WINDOW_NS - RG_RATE_WINDOW_NS / 2;
	h.rate_window_conns = 40;
	assert_int_equal(bpf_map_update_elem(c->hosts, &k, &h, BPF_EXIST), 0);
	run(c, &pa, pa.len);
	{
		struct rg_host h2;

		assert_int_equal(get_host(c, a.src, &h2), 0);
		assert_int_equal(h2.rate_prev_conns, 40);
		assert_int_equal(h2.rate_window_conns, 1);
		assert_int_equal(h2.rate_window_start_ns, h.rate_window_start_ns + RG_RATE_WINDOW_NS);
		/* an older window: nothing recent */
		h2.rate_window_start_ns = mono_ns() - 5 * RG_RATE_WINDOW_NS;
		h2.rate_window_conns = 40;
		assert_int_equal(bpf_map_update_elem(c->hosts, &k, &h2, BPF_EXIST), 0);
	}
	run(c, &pa, pa.len);
	assert_int_equal(get_host(c, a.src, &h), 0);
	assert_int_equal(h.rate_prev_conns, 0);
	assert_int_equal(h.rate_window_conns, 1);
	assert_int_equal(h.conns, 6);	/* dropped SYNs are connection attempts too */

	/* v6 /48 hosts */
	{
		struct pkt_spec x = { .v6 = 1, .flags = F_SYN, .src = "2001:db8:10:1::1" };
		struct pkt_spec y = { .v6 = 1, .flags = F_SYN, .src = "2001:db8:10:2::1" };
		struct pkt px, py;

		build(&x, &px);
		build(&y, &py);
		run(c, &px, px.len);
		run(c, &py, py.len);
		assert_int_equal(get_host(c, "2001:db8:10::", &h), 0);
		assert_int_equal(h.conns, 2);
	}
	ctx_free(c);
}

/* ---- connection-rate events ---- */

struct rate_seen {
	int n;
	struct rg_rate_event last;
};

static int rate_cb(void *ctx, void *data, size_t size)
{
	struct rate_seen *r = ctx;

	assert_int_equal(size, sizeof(struct rg_rate_event));
	memcpy(&r->last, data, sizeof(r->last));
	r->n++;
	return 0;
}

/* As the agent does: the slot, then meta's range of limits (widened only: a range wider
 * than the limits costs the program lookups, never a report). */
static void set_limit(struct ctx *c, __u32 tenant, __u32 window_conns)
{
	struct rg_tenant_limit l = { .window_conns = window_conns };
	struct rg_meta m;
	__u32 zero = 0;

	assert_int_equal(bpf_map_update_elem(bpf_map__fd(c->skel->maps.tenant_limits), &tenant,
					     &l, BPF_ANY), 0);
	assert_int_equal(bpf_map_lookup_elem(c->meta, &zero, &m), 0);
	if (window_conns && (!m.limit_min || window_conns < m.limit_min))
		m.limit_min = window_conns;
	if (window_conns > m.limit_max)
		m.limit_max = window_conns;
	assert_int_equal(bpf_map_update_elem(c->meta, &zero, &m, BPF_ANY), 0);
}

/* Send n SYNs from src; return how many rate events they produced. */
static int syns(struct ctx *c, struct ring_buffer *rb, struct rate_seen *r, const char *src,
		int n)
{
	struct pkt_spec sp = { .flags = F_SYN, .src = src };
	struct pkt p;
	int before = r->n;

	build(&sp, &p);
	for (int i = 0; i < n; i++)
		assert_int_equal(run(c, &p, p.len), XDP_PASS);
	assert_true(ring_buffer__consume(rb) >= 0);
	return r->n - before;
}

/* The program reports a host the first time in a window that its estimate reaches its
 * tenant's limit: exactly one event per host per window, with the host key, tenant and
 * estimate; hosts without a limit never. */
static void test_rate_events(void **state)
{
	struct ctx *c = ctx_new(NULL);
	struct rate_seen r = { 0 };
	struct ring_buffer *rb;
	struct rg_host_key k;
	struct rg_stats before, after;
	struct rg_host h;

	rb = ring_buffer__new(bpf_map__fd(c->skel->maps.rate_events), rate_cb, &r, NULL);
	assert_non_null(rb);
	stats_sum(c, &before);
	set_limit(c, TENANT_V4, 5);

	assert_int_equal(syns(c, rb, &r, SRC_V4, 4), 0);
	assert_int_equal(syns(c, rb, &r, SRC_V4, 1), 1);
	host_key(SRC_V4, 32, 64, &k);
	assert_memory_equal(r.last.addr, k.addr, 16);
	assert_int_equal(r.last.tenant_id, TENANT_V4);
	assert_int_equal(r.last.window_conns, 5);
	assert_true(r.last.time_ns > 0 && r.last.time_ns <= mono_ns());
	assert_int_equal(syns(c, rb, &r, SRC_V4, 20), 0);

	/* another host of the tenant: its own event */
	assert_int_equal(syns(c, rb, &r, "192.0.2.11", 10), 1);
	assert_int_equal(r.last.window_conns, 5);

	/* the next window reports again, counting what still overlaps of the previous one:
	 * 40 conns in a window that ended half a window ago weigh 20 */
	assert_int_equal(get_host(c, SRC_V4, &h), 0);
	h.rate_window_start_ns = mono_ns() - RG_RATE_WINDOW_NS - RG_RATE_WINDOW_NS / 2;
	h.rate_window_conns = 40;
	assert_int_equal(bpf_map_update_elem(c->hosts, &k, &h, BPF_EXIST), 0);
	assert_int_equal(syns(c, rb, &r, SRC_V4, 1), 1);
	assert_true(r.last.window_conns >= 19 && r.last.window_conns <= 21);
	assert_int_equal(syns(c, rb, &r, SRC_V4, 10), 0);

	/* unassigned hosts use slot 0 (the [limits] default): none, then one per window */
	assert_int_equal(syns(c, rb, &r, "198.51.100.5", 10), 0);
	set_limit(c, 0, 1);
	assert_int_equal(syns(c, rb, &r, "198.51.100.6", 1), 1); /* a new host's first SYN */
	assert_int_equal(r.last.tenant_id, 0);
	assert_int_equal(syns(c, rb, &r, "198.51.100.6", 5), 0);
	assert_int_equal(syns(c, rb, &r, "198.51.100.5", 5), 1);

	/* tenant ids past the array share its last slot */
	set_limit(c, RG_TENANT_LIMIT_SLOTS - 1, 2);
	{
		static const struct rg_tenant_tag big = { .tenant_id = RG_TENANT_LIMIT_SLOTS + 5 };

		lpm_put(c->connectors, "203.0.113.0", 96 + 24, &big);
	}
	assert_int_equal(syns(c, rb, &r, "203.0.113.9", 5), 1);
	assert_int_equal(r.last.tenant_id, RG_TENANT_LIMIT_SLOTS + 5);

	/* established traffic never reports */
	{
		struct pkt_spec d = { .flags = F_DATA, .payload = 10, .src = "192.0.2.12" };
		struct pkt p;

		set_limit(c, TENANT_V4, 1);
		build(&d, &p);
		for (int i = 0; i < 5; i++)
			run(c, &p, p.len);
		assert_true(ring_buffer__consume(rb) >= 0);
		assert_int_equal(r.n, 6);
	}
	stats_sum(c, &after);
	assert_int_equal(after.rate_events - before.rate_events, 6);
	assert_int_equal(after.rate_event_drops - before.rate_event_drops, 0);
	ring_buffer__free(rb);
	ctx_free(c);
}

static int count_keys(int fd, size_t ksz)
{
	__u8 k[64], nk[64];
	int n = 0;

	assert_true(ksz <= sizeof(k));
	while (bpf_map_get_next_key(fd, n ? k : NULL, nk) == 0) {
		memcpy(k, nk, ksz);
		n++;
	}
	return n;
}

/* A flood of 1,000,000 distinct spoofed sources through an 8192-entry host table: the LRU
 * evicts hosts, never a verdict, and the blocked hosts stay blocked. */
static void test_lru_flood(void **state)
{
	struct load_opts lo = { .hosts_max = 8192 };
	struct ctx *c = ctx_new(&lo);
	struct pkt_spec blk4 = { .flags = F_SYN, .src = "192.0.2.66" };
	struct pkt_spec blk6 = { .v6 = 1, .flags = F_SYN, .src = "2001:db8:10::66" };
	struct pkt_spec flood = { .v6 = 1, .flags = F_SYN, .src = "2001:db8::" };
	struct rg_verdict thr = { .action = RG_ACT_THROTTLE, .interval_ns = 1000000000000ULL };
	struct rg_stats before, after;
	struct pkt p4, p6, pf;
	int nverdicts, dropped = 0;

	verdict_host(c, blk4.src, &BLOCK);
	verdict_host(c, blk6.src, &BLOCK);
	verdict_host(c, "192.0.2.67", &thr);
	lpm_put(c->vcidrs, "203.0.113.0", 96 + 24, &BLOCK);
	set_cidr_count(c, 1);
	nverdicts = count_keys(c->vhosts, sizeof(struct rg_host_key));
	assert_int_equal(nverdicts, 3);
	build(&blk4, &p4);
	build(&blk6, &p6);
	build(&flood, &pf);
	assert_int_equal(run(c, &p4, p4.len), XDP_DROP);

	stats_sum(c, &before);
	for (__u32 i = 0; i < 1000000; i++) {
		/* source 2001:db8:XXXX:YYYY::1, a distinct /64 each; IPv6 saddr at 14 + 8 */
		__u8 *sa = pf.buf + ETH_HLEN + 8;

		sa[4] = i >> 24;
		sa[5] = i >> 16;
		sa[6] = i >> 8;
		sa[7] = i;
		sa[15] = 1;
		if (run(c, &pf, pf.len) != XDP_PASS)
			dropped++;
	}
	stats_sum(c, &after);
	assert_int_equal(dropped, 0);
	assert_int_equal(after.smtp_new_conns - before.smtp_new_conns, 1000000);
	assert_true(count_keys(c->hosts, sizeof(struct rg_host_key)) <= 8192);
	print_message("# flood: host_insert_fail %llu, flow_insert_fail %llu\n",
		      (unsigned long long)(after.host_insert_fail - before.host_insert_fail),
		      (unsigned long long)(after.flow_insert_fail - before.flow_insert_fail));

	assert_int_equal(count_keys(c->vhosts, sizeof(struct rg_host_key)), nverdicts);
	assert_int_equal(count_keys(c->vcidrs, sizeof(struct rg_lpm_key)), 1);
	assert_int_equal(run(c, &p4, p4.len), XDP_DROP);
	assert_int_equal(run(c, &p6, p6.len), XDP_DROP);
	{
		struct pkt_spec t = { .flags = F_SYN, .src = "192.0.2.67" };
		struct pkt_spec cidr = { .flags = F_SYN, .src = "203.0.113.50" };
		struct pkt pt, pc;

		build(&t, &pt);
		build(&cidr, &pc);
		assert_int_equal(run(c, &pt, pt.len), XDP_PASS);	/* one per interval */
		assert_int_equal(run(c, &pt, pt.len), XDP_DROP);
		assert_int_equal(run(c, &pc, pc.len), XDP_DROP);
	}
	ctx_free(c);
}

/* When the host table cannot take an entry, the packet is still counted globally and the
 * verdict still enforced. A plain HASH of one entry, kept full, makes every insert fail
 * (an LRU would evict instead). */
static void test_host_insert_fail(void **state)
{
	struct load_opts lo = { .hosts_max = 1, .hosts_as_hash = 1 };
	struct ctx *c = ctx_new(&lo);
	struct pkt_spec syn = { .flags = F_SYN }, data = { .flags = F_DATA, .payload = 10 };
	struct rg_host_key k;
	struct rg_host h = {};
	struct rg_stats before, after;
	struct rg_flow f;
	struct pkt p, d;

	host_key("198.51.100.1", 32, 64, &k);
	assert_int_equal(bpf_map_update_elem(c->hosts, &k, &h, BPF_NOEXIST), 0);
	verdict_host(c, SRC_V4, &BLOCK);
	build(&syn, &p);
	build(&data, &d);
	stats_sum(c, &before);
	assert_int_equal(run(c, &p, p.len), XDP_DROP);
	assert_int_equal(run(c, &d, d.len), XDP_PASS);
	stats_sum(c, &after);
	assert_int_equal(after.host_insert_fail - before.host_insert_fail, 2);
	assert_int_equal(after.drop_block - before.drop_block, 1);
	assert_int_equal(after.smtp_packets - before.smtp_packets, 2);
	assert_int_not_equal(get_host(c, SRC_V4, &h), 0);
	assert_int_not_equal(get_flow(c, &p, &f), 0);	/* dropped: no flow */
	/* unblocked, the flow still gets its tenant, from the connector lookup */
	host_key(SRC_V4, 32, 64, &k);
	assert_int_equal(bpf_map_delete_elem(c->vhosts, &k), 0);
	verdicts_changed(c, -1);
	assert_int_equal(run(c, &p, p.len), XDP_PASS);
	assert_int_equal(get_flow(c, &p, &f), 0);
	assert_int_equal(f.tenant_id, TENANT_V4);
	ctx_free(c);
}

/* Configured ports replace the defaults; port 25 is then not SMTP. */
static void test_custom_ports(void **state)
{
	struct relayguard *s = relayguard__open();
	struct pkt_spec p25 = { .flags = F_SYN }, p2525 = { .flags = F_SYN, .dport = 2525 };
	struct rg_host_key k;
	struct pkt p;
	__u32 ret;
	int fd;

	assert_non_null(s);
	memset((void *)s->rodata->smtp_ports, 0, sizeof(s->rodata->smtp_ports));
	s->rodata->smtp_ports[0] = 2525;
	s->rodata->nr_smtp_ports = 1;
	s->rodata->proven_hosts = 0; /* counts a SYN's host, as ctx_load's fixtures do */
	bpf_map__set_max_entries(s->maps.hosts, 64);
	bpf_map__set_max_entries(s->maps.flows, 64);
	assert_int_equal(relayguard__load(s), 0);
	fd = bpf_program__fd(s->progs.rg_xdp);
	host_key(SRC_V4, 32, 64, &k);
	assert_int_equal(bpf_map_update_elem(bpf_map__fd(s->maps.verdict_hosts), &k, &BLOCK,
					     BPF_ANY), 0);
	build(&p25, &p);
	assert_int_equal(run_fd(fd, p.buf, p.len, &ret), 0);
	assert_int_equal(ret, XDP_PASS);
	build(&p2525, &p);
	assert_int_equal(run_fd(fd, p.buf, p.len, &ret), 0);
	assert_int_equal(ret, XDP_DROP);
	relayguard__destroy(s);
}

static int probe(void)
{
	struct pkt_spec s = { .flags = F_ACK };
	struct ctx c;
	struct pkt p;
	__u32 ret;
	int err;

	err = ctx_load(&c, NULL);
	if (err)
		return err;
	build(&s, &p);
	err = run_fd(c.xdp_fd, p.buf, p.len, &ret);
	relayguard__destroy(c.skel);
	return err;
}

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, ap) : 0;
}

/* Production mode (proven_hosts): a source without an entry gets none from SYNs or from
 * segments of a connection the stack does not hold (test_run has no such socket: a spoofed
 * ACK), and no flow; its SYNs are still counted, still dropped when blocked, and reported
 * through the sketch at the [limits] default, once per window. A host that has an entry
 * counts as before. */
static void test_proven_hosts(void **state)
{
	struct load_opts lo = { .proven = 1 };
	struct ctx *c = ctx_new(&lo);
	struct pkt_spec syn = { .flags = F_SYN, .src = "198.51.100.7" };
	struct pkt_spec ack = { .flags = F_ACK, .src = "198.51.100.7" };
	struct pkt_spec data = { .v6 = 1, .flags = F_DATA, .payload = 64, .src = "2001:db8::7" };
	struct pkt_spec blk = { .flags = F_SYN, .src = "192.0.2.66" };
	struct rg_host known = { .tenant_id = TENANT_V4 };
	struct rg_stats before, after;
	struct rate_seen r = { 0 };
	struct ring_buffer *rb;
	struct rg_host_key k;
	struct rg_flow f;
	struct rg_host h;
	struct pkt p;

	rb = ring_buffer__new(bpf_map__fd(c->skel->maps.rate_events), rate_cb, &r, NULL);
	assert_non_null(rb);
	stats_sum(c, &before);
	build(&syn, &p);
	for (int i = 0; i < 3; i++)
		assert_int_equal(run(c, &p, p.len), XDP_PASS);
	assert_int_not_equal(get_host(c, syn.src, &h), 0);
	assert_int_not_equal(get_flow(c, &p, &f), 0);
	build(&ack, &p);
	assert_int_equal(run(c, &p, p.len), XDP_PASS);
	assert_int_not_equal(get_host(c, ack.src, &h), 0);
	build(&data, &p);
	assert_int_equal(run(c, &p, p.len), XDP_PASS);
	assert_int_not_equal(get_host(c, data.src, &h), 0);
	stats_sum(c, &after);
	assert_int_equal(after.smtp_new_conns - before.smtp_new_conns, 3);
	assert_int_equal(count_keys(c->hosts, sizeof(struct rg_host_key)), 0);

	verdict_host(c, blk.src, &BLOCK);
	build(&blk, &p);
	assert_int_equal(run(c, &p, p.len), XDP_DROP);
	assert_int_not_equal(get_host(c, blk.src, &h), 0);

	/* The sketch: no default limit, no report; with one, the SYN that brings a source to
	 * it reports that source (tenant 0) once in the window; another source reports alone. */
	assert_int_equal(syns(c, rb, &r, "198.51.100.8", 10), 0);
	set_limit(c, 0, 5);
	assert_int_equal(syns(c, rb, &r, "198.51.100.9", 4), 0);
	assert_int_equal(syns(c, rb, &r, "198.51.100.9", 1), 1);
	host_key("198.51.100.9", 32, 64, &k);
	assert_memory_equal(r.last.addr, k.addr, 16);
	assert_int_equal(r.last.tenant_id, 0);
	assert_int_equal(r.last.window_conns, 5);
	assert_int_equal(syns(c, rb, &r, "198.51.100.9", 50), 0);
	assert_int_equal(syns(c, rb, &r, "198.51.100.10", 5), 1);
	assert_int_equal(count_keys(c->hosts, sizeof(struct rg_host_key)), 0);

	/* A proven host (its entry exists) counts its SYNs and gets flows as before. */
	host_key(SRC_V4, 32, 64, &k);
	assert_int_equal(bpf_map_update_elem(c->hosts, &k, &known, BPF_NOEXIST), 0);
	build(&(struct pkt_spec){ .flags = F_SYN }, &p);
	assert_int_equal(run(c, &p, p.len), XDP_PASS);
	assert_int_equal(get_host(c, SRC_V4, &h), 0);
	assert_int_equal(h.conns, 1);
	assert_int_equal(h.tenant_id, TENANT_V4);
	assert_int_equal(get_flow(c, &p, &f), 0);
	assert_int_equal(f.tenant_id, TENANT_V4);
	ring_buffer__free(rb);
	ctx_free(c);
	(void)state;
}

/* A source without an entry is judged at its tenant's limit, not the default: its SYNs
 * report it (with its tenant) when the sketch estimate reaches the limit of the tenant
 * whose connector covers it, a source of no tenant at the default, and a tenant with a
 * limit above the default is not reported at the default; a blocked source's dropped SYNs
 * are not counted. Nothing gets an entry. */
static void test_unproven_tenant_limit(void **state)
{
	struct load_opts lo = { .proven = 1 };
	struct ctx *c = ctx_new(&lo);
	struct rate_seen r = { 0 };
	struct ring_buffer *rb;
	struct rg_host_key k;
	struct pkt p;

	rb = ring_buffer__new(bpf_map__fd(c->skel->maps.rate_events), rate_cb, &r, NULL);
	assert_non_null(rb);
	set_limit(c, 0, 6);
	set_limit(c, TENANT_V4, 3);
	set_limit(c, 11, 9);
	lpm_put(c->connectors, "203.0.113.0", 96 + 24, &(struct rg_tenant_tag){ .tenant_id = 11 });

	/* 192.0.2.0/24 is tenant 7's connector: reported at 3, once. */
	assert_int_equal(syns(c, rb, &r, "192.0.2.77", 2), 0);
	assert_int_equal(syns(c, rb, &r, "192.0.2.77", 1), 1);
	host_key("192.0.2.77", 32, 64, &k);
	assert_memory_equal(r.last.addr, k.addr, 16);
	assert_int_equal(r.last.tenant_id, TENANT_V4);
	assert_int_equal(r.last.window_conns, 3);
	assert_int_equal(syns(c, rb, &r, "192.0.2.77", 20), 0);

	/* No connector: the default, 6. */
	assert_int_equal(syns(c, rb, &r, "198.51.100.77", 5), 0);
	assert_int_equal(syns(c, rb, &r, "198.51.100.77", 1), 1);
	assert_int_equal(r.last.tenant_id, 0);
	assert_int_equal(r.last.window_conns, 6);

	/* Tenant 11 (203.0.113.0/24) at 9: not at the default's 6, nor at tenant 7's 3. */
	assert_int_equal(syns(c, rb, &r, "203.0.113.77", 8), 0);
	assert_int_equal(syns(c, rb, &r, "203.0.113.77", 1), 1);
	assert_int_equal(r.last.tenant_id, 11);
	assert_int_equal(r.last.window_conns, 9);
	assert_int_equal(syns(c, rb, &r, "203.0.113.77", 5), 0);

	/* A blocked source's SYNs are dropped before the sketch: no report however many. */
	verdict_host(c, "198.51.100.78", &BLOCK);
	build(&(struct pkt_spec){ .flags = F_SYN, .src = "198.51.100.78" }, &p);
	for (int i = 0; i < 20; i++)
		assert_int_equal(run(c, &p, p.len), XDP_DROP);
	assert_true(ring_buffer__consume(rb) >= 0);
	assert_int_equal(r.n, 3);
	assert_int_equal(count_keys(c->hosts, sizeof(struct rg_host_key)), 0);
	ring_buffer__free(rb);
	ctx_free(c);
	(void)state;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_matrix),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_tc_entry),
		cmocka_unit_test(test_tc_mark),
		cmocka_unit_test(test_throttle_burst),
		cmocka_unit_test(test_verdict_expiry),
		cmocka_unit_test(test_cidr_verdict),
		cmocka_unit_test(test_verdict_generation),
		cmocka_unit_test(test_tenant_tags),
		cmocka_unit_test(test_host_counters),
		cmocka_unit_test(test_rate_events),
		cmocka_unit_test(test_host_insert_fail),
		cmocka_unit_test(test_custom_ports),
		cmocka_unit_test(test_lru_flood),
		cmocka_unit_test(test_proven_hosts),
		cmocka_unit_test(test_unproven_tenant_limit),
	};
	int err;

	libbpf_set_print(quiet);
	nr_cpus = libbpf_num_possible_cpus();
	if (nr_cpus <= 0)
		return 1;
	if (geteuid() != 0) {
		printf("1..0 # SKIP needs root for BPF_PROG_TEST_RUN\n");
		return 77;
	}
	err = probe();
	if (err == -EOPNOTSUPP || err == -524 /* ENOTSUPP */ || err == -EINVAL) {
		printf("1..0 # SKIP kernel cannot BPF_PROG_TEST_RUN XDP: %s\n", strerror(-err));
		return 77;
	}
	if (err) {
		fprintf(stderr, "test_xdp_prog: cannot load the program: %s\n", strerror(-err));
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
