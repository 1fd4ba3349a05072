// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * bench-bpf.c: ns per packet of the relayguard XDP program under BPF_PROG_TEST_RUN, next
 * to xdp-tools' xdp-filter (xdpfilt_alw_all, one IPv4 source in its filter) and a trivial
 * XDP_PASS program, on the same frames. A benchmark, not a test: it asserts nothing.
 *
 * Takes: [--repeat N] [--rounds N] [--pin-root DIR] [--xdp-filter OBJ]. With --pin-root,
 * xdp-filter's pin-by-name maps are pinned under DIR (a private bpffs) and unpinned at
 * exit; without it, their pinning is cleared. relayguard's maps are never pinned.
 * Reports: a table, then per class one line
 *   bench-bpf CLASS relayguard_ns=N xdp_filter_ns=M trivial_ns=T ratio=R
 * where each figure is the median over rounds of test_run's mean ns per repeat.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
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

#define XDP_FILTER_OBJ "/usr/lib/x86_64-linux-gnu/bpf/xdpfilt_alw_all.o"
#define XDP_FILTER_PROG "xdpfilt_alw_all"
#define MAX_ROUNDS 51

#define SRC_KNOWN "192.0.2.10"
#define SRC_BLOCKED "192.0.2.66"
#define SRC_V6 "2001:db8:10::10"

struct frame {
	const char *cls;
	const char *what;
	__u8 buf[1024];
	size_t len;
};

struct prog {
	const char *name;
	int fd;
	double ns[MAX_ROUNDS];
};

enum { P_RG, P_XF, P_TRIV, NPROGS };

static void put16(__u8 *p, __u16 v)
{
	v = htons(v);
	memcpy(p, &v, 2);
}

/* Ethernet + IPv4 or IPv6 + TCP (flags, options, payload) or UDP. */
static size_t build(__u8 *b, int v6, const char *src, int udp, int syn, size_t opts, size_t pay,
		    __u16 dport)
{
	size_t off = 14, l4len = (udp ? 8 : 20 + opts) + pay;

	memset(b, 0, 1024);
	memcpy(b, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01", 12);
	put16(b + 12, v6 ? ETH_P_IPV6 : ETH_P_IP);
	if (v6) {
		struct ipv6hdr *ip6 = (struct ipv6hdr *)(b + off);

		ip6->version = 6;
		ip6->payload_len = htons(l4len);
		ip6->nexthdr = udp ? IPPROTO_UDP : IPPROTO_TCP;
		ip6->hop_limit = 64;
		inet_pton(AF_INET6, src, &ip6->saddr);
		inet_pton(AF_INET6, "2001:db8::1", &ip6->daddr);
		off += 40;
	} else {
		struct iphdr *ip = (struct iphdr *)(b + off);

		ip->version = 4;
		ip->ihl = 5;
		ip->tot_len = htons(20 + l4len);
		ip->ttl = 64;
		ip->protocol = udp ? IPPROTO_UDP : IPPROTO_TCP;
		inet_pton(AF_INET, src, &ip->saddr);
		inet_pton(AF_INET, "203.0.113.1", &ip->daddr);
		off += 20;
	}
	if (udp) {
		put16(b + off, 40000);
		put16(b + off + 2, dport);
		put16(b + off + 4, l4len);
		off += 8;
	} else {
		struct tcphdr *th = (struct tcphdr *)(b + off);

		th->source = htons(40000);
		th->dest = htons(dport);
		th->seq = htonl(1);
		th->doff = (20 + opts) / 4;
		th->window = htons(64240);
		if (syn) {
			th->syn = 1;
		} else {
			th->ack = 1;
			th->psh = 1;
		}
		memset(b + off + 20, 1, opts);	/* NOPs */
		off += 20 + opts;
	}
	memset(b + off, 'x', pay);
	return off + pay;
}

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

static int run(int fd, const struct frame *f, __u32 repeat, double *ns, __u32 *retval)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f->buf, .data_size_in = f->len,
		    .repeat = repeat);

	if (bpf_prog_test_run_opts(fd, &o))
		return -errno;
	*ns = o.duration;
	*retval = o.retval;
	return 0;
}

static int setup_relayguard(struct relayguard **out)
{
	struct rg_verdict block = { .action = RG_ACT_BLOCK, .origin = RG_ORIGIN_OPERATOR };
	struct rg_tenant_tag tag = { .tenant_id = 1 };
	struct rg_lpm_key lk = { .prefixlen = 96 + 24 };
	struct rg_host_key hk = {};
	struct relayguard *s;
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
	static struct frame frames[] = {
		{ .cls = "syn_unknown", .what = "IPv4 SYN to 25, host without verdict" },
		{ .cls = "syn_blocked", .what = "IPv4 SYN to 25, host blocked (both drop)" },
		{ .cls = "established", .what = "IPv4 ACK+PSH with 512 B to 25" },
		{ .cls = "ipv6_syn", .what = "IPv6 SYN to 25, host without verdict" },
		{ .cls = "udp_non_smtp", .what = "IPv4 UDP to 53" },
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
	frames[0].len = build(frames[0].buf, 0, SRC_KNOWN, 0, 1, 20, 0, 25);
	frames[1].len = build(frames[1].buf, 0, SRC_BLOCKED, 0, 1, 20, 0, 25);
	frames[2].len = build(frames[2].buf, 0, SRC_KNOWN, 0, 0, 12, 512, 25);
	frames[3].len = build(frames[3].buf, 1, SRC_V6, 0, 1, 20, 0, 25);
	frames[4].len = build(frames[4].buf, 0, SRC_KNOWN, 1, 0, 0, 64, 53);

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
	printf("%-13s %-42s %10s %10s %10s %6s %6s\n", "class", "frame", "relayguard",
	       "xdp-filter", "trivial", "rg/xf", "rg/tr");
	for (size_t i = 0; i < nframes; i++) {
		/* Interleave the programs round by round so drift hits all three alike. */
		for (unsigned long r = 0; r < rounds; r++) {
			for (int p = 0; p < NPROGS; p++) {
				__u32 ret = 0;

				err = run(progs[p].fd, &frames[i], repeat, &progs[p].ns[r], &ret);
				if (err) {
					fprintf(stderr, "bench-bpf: test_run %s on %s: %s\n",
						progs[p].name, frames[i].cls, strerror(-err));
					goto out;
				}
				if (r == 0 && p == P_RG && (ret == XDP_DROP) != (i == 1))
					fprintf(stderr, "bench-bpf: warning: %s: relayguard "
							"returned %u\n", frames[i].cls, ret);
			}
		}
		for (int p = 0; p < NPROGS; p++)
			res[i][p] = median(progs[p].ns, rounds);
		printf("%-13s %-42s %10.0f %10.0f %10.0f %6.2f %6.2f\n", frames[i].cls,
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
