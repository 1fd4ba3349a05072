// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * bench-bpf.c: ns per packet of the relayguard XDP program under BPF_PROG_TEST_RUN, next
 * to xdp-tools' xdp-filter (xdpfilt_alw_all, one IPv4 source in its filter) and a trivial
 * XDP_PASS program, on the same frames. A benchmark, not a test: it asserts nothing.
 *
 * Takes: [--repeat N] [--rounds N] [--pin-root DIR] [--xdp-filter OBJ]. With --pin-root,
 * xdp-filter's pin-by-name maps are pinned under DIR (a private bpffs) and unpinned at
 * exit; without it, their pinning is cleared. relayguard's maps are never pinned.
 * Classes: SYN of a known host without verdict, of a blocked host, established data,
 * IPv6 SYN, non-SMTP UDP, a SYN from a new source on every frame (syn_fresh: each of
 * 16384 distinct frames run once per round, the kernel's durations averaged, as a
 * repeated frame would be a known host from its second run on), a SYN of the known host
 * on a new 4-tuple every frame (syn_new_flow, the same way: a repeated SYN finds its flow
 * record, a relay's new connection inserts one), and the SYNs again while
 * 10,000 host and 1,000 CIDR verdicts exist (syn_verdicts, ipv6_syn_verdicts). The known
 * sources have host entries from the start (test_run has no TCP stack to prove them with)
 * and the [limits] default (with meta's range of limits) is set high, so that syn_fresh
 * pays the sketch of unproven SYNs but no tenant lookup. The verdicts are written once,
 * before their classes, and the generation bumped once, as the agent does per change: the
 * first frame of a class pays the verdict lookups, the rest skip them, as a relay's hosts
 * do between verdict changes (a bump per frame would measure a relay that changes a
 * verdict for every SYN).
 * Reports: a table, then per class one line
 *   bench-bpf CLASS relayguard_ns=N xdp_filter_ns=M trivial_ns=T ratio=R
 * where each figure is the median over rounds of test_run's mean ns per repeat.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "relayguard.h"
#include "relayguard.skel.h"
#include "trivial.skel.h"
#include "../tests/helpers/pktbuild.h"

#define XDP_FILTER_OBJ "/usr/lib/x86_64-linux-gnu/bpf/xdpfilt_alw_all.o"
#define XDP_FILTER_PROG "xdpfilt_alw_all"
#define MAX_ROUNDS 51

#define SRC_BLOCKED "192.0.2.66"
/* syn_fresh: FRESH_RING new sources per round, from 198.18.0.0/15 (the benchmarking
 * range; these frames only ever exist inside BPF_PROG_TEST_RUN). */
#define FRESH_RING 16384
#define FRESH_BASE 0xc6120000U /* 198.18.0.0 */
#define VERDICT_HOSTS 10000
#define VERDICT_CIDRS 1000

enum setup { S_NONE, S_VERDICTS };
enum { FRESH_NONE, FRESH_SOURCE, FRESH_FLOW };

struct frame {
	const char *cls;
	const char *what;
	struct pkt_spec spec;
	int drops;		/* relayguard is expected to drop it */
	int fresh;		/* FRESH_*: repeat 1 over a ring of frames, each run once */
	enum setup setup;	/* map contents to add before this class */
	struct pkt pkt;
};

struct prog {
	const char *name;
	int fd;
	double ns[MAX_ROUNDS];
};

enum { P_RG, P_XF, P_TRIV, NPROGS };

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
	double s[MAX_ROUNDS];

	memcpy(s, v, n * sizeof(*v));
	qsort(s, n, sizeof(*s), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static int run_pkt(int fd, const struct pkt *p, __u32 repeat, double *ns, __u32 *retval)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = p->buf, .data_size_in = p->len,
		    .repeat = repeat);

	if (bpf_prog_test_run_opts(fd, &o))
		return -errno;
	*ns = o.duration;
	*retval = o.retval;
	return 0;
}

/* Frame k of round r of a fresh class. FRESH_SOURCE: an IPv4 SYN from a source no earlier
 * run used. FRESH_FLOW: a SYN of the known IPv4 host on a 4-tuple no earlier run used (its
 * source port k, its destination address one per round), i.e. a new connection. */
static void fresh_pkt(int fresh, unsigned long r, unsigned k, struct pkt *p)
{
	struct pkt_spec sp = { .flags = F_SYN, .tcp_opts = 20 };
	__u32 a = htonl(FRESH_BASE + (__u32)(r * FRESH_RING + k));
	char src[INET_ADDRSTRLEN];
	struct tcphdr *th;
	struct iphdr *ip;

	if (fresh == FRESH_FLOW) {
		build(&sp, p);
		ip = (struct iphdr *)(p->buf + sizeof(struct ethhdr));
		th = (struct tcphdr *)(ip + 1);
		ip->daddr = htonl(FRESH_BASE + (__u32)r);
		th->source = htons((__u16)(1024 + k));
		return;
	}
	inet_ntop(AF_INET, &a, src, sizeof(src));
	sp.src = src;
	build(&sp, p);
}

/*
 * One round of one class on one program: the mean ns per packet. A fresh-source class
 * cannot repeat a frame (the second run would see a known host), so it runs each of
 * FRESH_RING distinct frames once and averages the kernel's own durations.
 */
static int run(int fd, const struct frame *f, unsigned long round, __u32 repeat, double *ns,
	       __u32 *retval)
{
	static struct pkt ring[FRESH_RING];
	static unsigned long ring_round = ~0UL;
	static int ring_fresh;
	double sum = 0, one;
	int err;

	if (!f->fresh)
		return run_pkt(fd, &f->pkt, repeat, ns, retval);
	if (ring_round != round || ring_fresh != f->fresh) {
		for (unsigned k = 0; k < FRESH_RING; k++)
			fresh_pkt(f->fresh, round, k, &ring[k]);
		ring_round = round;
		ring_fresh = f->fresh;
	}
	for (unsigned k = 0; k < FRESH_RING; k++) {
		err = run_pkt(fd, &ring[k], 1, &one, retval);
		if (err)
			return err;
		sum += one;
	}
	*ns = sum / FRESH_RING;
	return 0;
}

/* syn_verdicts: VERDICT_HOSTS host verdicts (v4 and v6 alternately) and VERDICT_CIDRS
 * CIDR verdicts (/28s and /48s), none covering the benchmarked sources, as the agent
 * writes them (meta counts the CIDRs and its generation moves). */
static int add_verdicts(struct relayguard *s)
{
	struct rg_verdict block = { .action = RG_ACT_BLOCK, .origin = RG_ORIGIN_OPERATOR };
	int vh = bpf_map__fd(s->maps.verdict_hosts), vc = bpf_map__fd(s->maps.verdict_cidrs);
	struct rg_meta m;
	__u32 zero = 0;

	for (__u32 i = 0; i < VERDICT_HOSTS; i++) {
		struct rg_host_key hk = {};

		if (i & 1) {
			__u32 a = htonl(0xc6130000U + i); /* 198.19.0.0/16 */

			hk.addr[10] = hk.addr[11] = 0xff;
			memcpy(hk.addr + 12, &a, 4);
		} else {
			inet_pton(AF_INET6, "2001:db8:ffff::", hk.addr);
			hk.addr[6] = (__u8)(i >> 8);
			hk.addr[7] = (__u8)i;
		}
		if (bpf_map_update_elem(vh, &hk, &block, BPF_ANY))
			return -errno;
	}
	for (__u32 i = 0; i < VERDICT_CIDRS; i++) {
		struct rg_lpm_key lk = {};

		if (i & 1) {
			__u32 a = htonl(0xc6138000U + (i << 4)); /* in 198.19.128.0/17 */

			lk.prefixlen = 96 + 28;
			lk.addr[10] = lk.addr[11] = 0xff;
			memcpy(lk.addr + 12, &a, 4);
		} else {
			lk.prefixlen = 48;
			inet_pton(AF_INET6, "2001:db8::", lk.addr);
			lk.addr[4] = 0xf0 | (__u8)(i >> 8); /* 2001:db8:f000::/36 */
			lk.addr[5] = (__u8)i;
		}
		if (bpf_map_update_elem(vc, &lk, &block, BPF_ANY))
			return -errno;
	}
	if (bpf_map_lookup_elem(bpf_map__fd(s->maps.meta), &zero, &m))
		return -errno;
	m.cidr_verdicts = VERDICT_CIDRS;
	m.verdict_gen++;
	if (bpf_map_update_elem(bpf_map__fd(s->maps.meta), &zero, &m, BPF_ANY))
		return -errno;
	return 0;
}

static int setup_relayguard(struct relayguard **out)
{
	struct rg_verdict block = { .action = RG_ACT_BLOCK, .origin = RG_ORIGIN_OPERATOR };
	struct rg_tenant_tag tag = { .tenant_id = 1 };
	struct rg_lpm_key lk = { .prefixlen = 96 + 24 };
	struct rg_tenant_limit dflt = { .window_conns = 1000000000 };
	struct rg_meta lim = { .layout_version = RG_LAYOUT_VERSION, .limit_min = 1000000000,
			       .limit_max = 1000000000 };
	struct rg_host known = { .tenant_id = 1 };
	struct rg_host_key hk = {}, hk4 = {}, hk6 = {};
	struct relayguard *s;
	__u32 zero = 0;
	int err;

	s = relayguard__open();
	if (!s)
		return -errno;
	err = relayguard__load(s);
	if (err)
		goto out;
	lk.addr[10] = lk.addr[11] = 0xff;
	inet_pton(AF_INET, "192.0.2.0", lk.addr + 12);
	err = bpf_map_update_elem(bpf_map__fd(s->maps.connectors), &lk, &tag, BPF_ANY);
	if (err)
		goto out;
	lk.prefixlen = 48;
	memset(lk.addr, 0, 16);
	inet_pton(AF_INET6, "2001:db8:10::", lk.addr);
	err = bpf_map_update_elem(bpf_map__fd(s->maps.connectors), &lk, &tag, BPF_ANY);
	if (err)
		goto out;
	hk.addr[10] = hk.addr[11] = 0xff;
	inet_pton(AF_INET, SRC_BLOCKED, hk.addr + 12);
	err = bpf_map_update_elem(bpf_map__fd(s->maps.verdict_hosts), &hk, &block, BPF_ANY);
	if (err)
		goto out;
	/* The known hosts (proven: production mode creates entries for no SYN). */
	hk4.addr[10] = hk4.addr[11] = 0xff;
	inet_pton(AF_INET, SRC_V4, hk4.addr + 12);
	inet_pton(AF_INET6, SRC_V6, hk6.addr);
	memset(hk6.addr + 8, 0, 8); /* host_prefix_v6 64 */
	err = bpf_map_update_elem(bpf_map__fd(s->maps.hosts), &hk4, &known, BPF_NOEXIST) ?:
	      bpf_map_update_elem(bpf_map__fd(s->maps.hosts), &hk6, &known, BPF_NOEXIST) ?:
	      bpf_map_update_elem(bpf_map__fd(s->maps.tenant_limits), &zero, &dflt, BPF_ANY) ?:
	      bpf_map_update_elem(bpf_map__fd(s->maps.meta), &zero, &lim, BPF_ANY);
out:
	if (err) {
		err = err < 0 ? err : -errno;
		relayguard__destroy(s);
		return err;
	}
	*out = s;
	return 0;
}

static int setup_xdp_filter(const char *path, const char *pin_root, struct bpf_object **out,
			    int *prog_fd)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .pin_root_path = pin_root);
	struct bpf_program *p;
	struct bpf_object *obj;
	struct bpf_map *m;
	__u32 key;
	__u64 val = 1;	/* match source address */
	int err;

	obj = bpf_object__open_file(path, &oo);
	if (!obj)
		return -errno;
	/* Its maps are LIBBPF_PIN_BY_NAME: without a private pin root, keep them unpinned
	 * rather than touching the system's /sys/fs/bpf. */
	if (!pin_root)
		bpf_object__for_each_map(m, obj)
			bpf_map__set_pin_path(m, NULL);
	bpf_object__for_each_program(p, obj)
		bpf_program__set_type(p, BPF_PROG_TYPE_XDP);
	err = bpf_object__load(obj);
	if (err)
		goto fail;
	p = bpf_object__find_program_by_name(obj, XDP_FILTER_PROG);
	m = bpf_object__find_map_by_name(obj, "filter_ipv4");
	if (!p || !m) {
		err = -ENOENT;
		goto fail;
	}
	inet_pton(AF_INET, SRC_BLOCKED, &key);
	if (bpf_map_update_elem(bpf_map__fd(m), &key, &val, BPF_ANY)) {
		err = -errno;
		goto fail;
	}
	*prog_fd = bpf_program__fd(p);
	*out = obj;
	return 0;
fail:
	if (pin_root)
		bpf_object__unpin_maps(obj, NULL);
	bpf_object__close(obj);
	return err;
}

/* libbpf warnings only: xdp-filter's object has sections libbpf 1.1 reports and skips. */
__attribute__((format(printf, 2, 0)))
static int print_warnings(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, ap) : 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: bench-bpf [--repeat N] [--rounds N] [--pin-root DIR] "
			"[--xdp-filter OBJ]\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "repeat", required_argument, NULL, 'r' },
		{ "rounds", required_argument, NULL, 'n' },
		{ "pin-root", required_argument, NULL, 'p' },
		{ "xdp-filter", required_argument, NULL, 'x' },
		{ NULL, 0, NULL, 0 },
	};
	/* In order: the verdict classes come last, as their verdicts stay in the maps. */
	static struct frame frames[] = {
		{ .cls = "syn_unknown", .what = "IPv4 SYN to 25, host without verdict",
		  .spec = { .flags = F_SYN, .tcp_opts = 20 } },
		{ .cls = "syn_blocked", .what = "IPv4 SYN to 25, host blocked (both drop)",
		  .spec = { .flags = F_SYN, .tcp_opts = 20, .src = SRC_BLOCKED }, .drops = 1 },
		{ .cls = "established", .what = "IPv4 ACK+PSH with 512 B to 25",
		  .spec = { .flags = F_DATA, .tcp_opts = 12, .payload = 512 } },
		{ .cls = "ipv6_syn", .what = "IPv6 SYN to 25, host without verdict",
		  .spec = { .v6 = 1, .flags = F_SYN, .tcp_opts = 20 } },
		{ .cls = "udp_non_smtp", .what = "IPv4 UDP to 53",
		  .spec = { .l4 = IPPROTO_UDP, .dport = 53, .payload = 64 } },
		{ .cls = "syn_fresh", .what = "IPv4 SYN to 25, a new source each frame",
		  .fresh = FRESH_SOURCE },
		{ .cls = "syn_new_flow", .what = "IPv4 SYN to 25, known host, new 4-tuple each",
		  .fresh = FRESH_FLOW },
		{ .cls = "syn_verdicts", .what = "IPv4 SYN, no verdict; 10k host, 1k CIDR exist",
		  .spec = { .flags = F_SYN, .tcp_opts = 20 }, .setup = S_VERDICTS },
		{ .cls = "ipv6_syn_verdicts", .what = "IPv6 SYN, no verdict; 10k host, 1k CIDR exist",
		  .spec = { .v6 = 1, .flags = F_SYN, .tcp_opts = 20 }, .setup = S_VERDICTS },
	};
	const size_t nframes = sizeof(frames) / sizeof(frames[0]);
	struct prog progs[NPROGS] = {
		{ .name = "relayguard" }, { .name = "xdp-filter" }, { .name = "trivial" },
	};
	double res[sizeof(frames) / sizeof(frames[0])][NPROGS];
	const char *pin_root = NULL, *xf_path = XDP_FILTER_OBJ;
	struct relayguard *rg = NULL;
	struct trivial *triv = NULL;
	struct bpf_object *xf = NULL;
	unsigned long repeat = 1000000, rounds = 5;
	bool verdicts_added = false;
	int c, err = 0;

	while ((c = getopt_long(argc, argv, "r:n:p:x:", longopts, NULL)) != -1) {
		switch (c) {
		case 'r':
			repeat = strtoul(optarg, NULL, 0);
			break;
		case 'n':
			rounds = strtoul(optarg, NULL, 0);
			break;
		case 'p':
			pin_root = optarg;
			break;
		case 'x':
			xf_path = optarg;
			break;
		default:
			usage();
			return 2;
		}
	}
	if (!repeat || repeat > 100000000 || !rounds || rounds > MAX_ROUNDS) {
		usage();
		return 2;
	}

	libbpf_set_print(print_warnings);
	for (size_t i = 0; i < nframes; i++)
		build(&frames[i].spec, &frames[i].pkt);

	err = setup_relayguard(&rg);
	if (err) {
		fprintf(stderr, "bench-bpf: loading relayguard: %s\n", strerror(-err));
		goto out;
	}
	triv = trivial__open_and_load();
	if (!triv) {
		err = -errno;
		fprintf(stderr, "bench-bpf: loading trivial: %s\n", strerror(-err));
		goto out;
	}
	err = setup_xdp_filter(xf_path, pin_root, &xf, &progs[P_XF].fd);
	if (err) {
		fprintf(stderr, "bench-bpf: loading %s: %s\n", xf_path, strerror(-err));
		goto out;
	}
	progs[P_RG].fd = bpf_program__fd(rg->progs.rg_xdp);
	progs[P_TRIV].fd = bpf_program__fd(triv->progs.trivial_xdp);

	printf("BPF_PROG_TEST_RUN, repeat=%lu, median of %lu rounds, ns/packet\n\n", repeat,
	       rounds);
	printf("%-17s %-46s %10s %10s %10s %6s %6s\n", "class", "frame", "relayguard",
	       "xdp-filter", "trivial", "rg/xf", "rg/tr");
	for (size_t i = 0; i < nframes; i++) {
		if (frames[i].setup == S_VERDICTS && !verdicts_added) {
			err = add_verdicts(rg);
			if (err) {
				fprintf(stderr, "bench-bpf: adding verdicts: %s\n", strerror(-err));
				goto out;
			}
			verdicts_added = true;
		}
		/* Interleave the programs round by round so drift hits all three alike. */
		for (unsigned long r = 0; r < rounds; r++) {
			for (int p = 0; p < NPROGS; p++) {
				__u32 ret = 0;

				err = run(progs[p].fd, &frames[i], r, repeat, &progs[p].ns[r], &ret);
				if (err) {
					fprintf(stderr, "bench-bpf: test_run %s on %s: %s\n",
						progs[p].name, frames[i].cls, strerror(-err));
					goto out;
				}
				if (r == 0 && p == P_RG && (ret == XDP_DROP) != frames[i].drops)
					fprintf(stderr, "bench-bpf: warning: %s: relayguard "
							"returned %u\n", frames[i].cls, ret);
			}
		}
		for (int p = 0; p < NPROGS; p++)
			res[i][p] = median(progs[p].ns, rounds);
		printf("%-17s %-46s %10.0f %10.0f %10.0f %6.2f %6.2f\n", frames[i].cls,
		       frames[i].what, res[i][P_RG], res[i][P_XF], res[i][P_TRIV],
		       res[i][P_XF] > 0 ? res[i][P_RG] / res[i][P_XF] : 0,
		       res[i][P_TRIV] > 0 ? res[i][P_RG] / res[i][P_TRIV] : 0);
	}
	printf("\n");
	for (size_t i = 0; i < nframes; i++)
		printf("bench-bpf %s relayguard_ns=%.0f xdp_filter_ns=%.0f trivial_ns=%.0f "
		       "ratio=%.2f\n", frames[i].cls, res[i][P_RG], res[i][P_XF],
		       res[i][P_TRIV], res[i][P_XF] > 0 ? res[i][P_RG] / res[i][P_XF] : 0);
	{
		struct rg_stats *per;
		int ncpu = libbpf_num_possible_cpus();
		__u32 zero = 0;
		__u64 fails = 0;

		per = ncpu > 0 ? calloc(ncpu, sizeof(*per)) : NULL;
		if (per && !bpf_map_lookup_elem(bpf_map__fd(rg->maps.stats), &zero, per)) {
			for (int k = 0; k < ncpu; k++)
				fails += per[k].host_insert_fail + per[k].flow_insert_fail;
			if (fails)
				fprintf(stderr, "bench-bpf: note: %llu map insert failures\n",
					(unsigned long long)fails);
		}
		free(per);
	}
out:
	if (xf) {
		if (pin_root)
			bpf_object__unpin_maps(xf, NULL);
		bpf_object__close(xf);
	}
	trivial__destroy(triv);
	relayguard__destroy(rg);
	return err < 0 ? -err : 0;
}
