// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * rg_loader: a small driver over user/bpfmaps for the shell tests. Attaches and detaches the
 * program, writes verdicts and connectors, and prints what the maps hold as key=value lines.
 *
 *   rg_loader attach --pin-dir D --iface X [--iface Y] [--mode auto|native|generic|tc]
 *                    [--ports 25,587] [--prefix4 32] [--prefix6 64] [--hold]
 *                    [--host-table N] [--flow-table N] [--verdict-table N]
 *   rg_loader detach --pin-dir D [--iface X]... [--purge]
 *   rg_loader block --pin-dir D ADDR[/LEN] [--for SECONDS]
 *   rg_loader throttle --pin-dir D ADDR[/LEN] --rate N/SECONDS [--burst N] [--for SECONDS]
 *   rg_loader unblock --pin-dir D ADDR[/LEN]
 *   rg_loader connector --pin-dir D CIDR TENANT_ID [CIDR TENANT_ID]...  (replaces the set)
 *   rg_loader stats|verdicts|hosts|fill --pin-dir D
 *   rg_loader status --pin-dir D --iface X
 *   rg_loader fill-hosts --pin-dir D N   (add N synthetic IPv6 hosts in one batch update;
 *                                          for benchmarks of a full hosts map)
 * Verdict commands take --prefix4/--prefix6 too: ADDR/N with N the host prefix is a host.
 * Exit status 0 or the errno of the failure.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "bpfmaps.h"
#include "clock.h"
#include "log.h"

#define MAX_ARGS 16

struct args {
	const char *pin_dir;
	const char *ifaces[RG_MAX_IFACES];
	size_t n_ifaces;
	enum rg_attach_mode mode;
	uint16_t ports[RG_MAX_PORTS];
	size_t n_ports;
	unsigned prefix4, prefix6;
	bool hold, purge;
	uint64_t tables[3];	/* hosts, flows, verdicts; 0: the program's default */
	uint64_t for_s;
	uint64_t rate_n, rate_s, burst;
	const char *pos[MAX_ARGS];
	size_t n_pos;
};

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_ports(const char *s, struct args *a)
{
	char buf[128], *tok, *save = NULL;
	uint64_t v;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	a->n_ports = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (a->n_ports >= RG_MAX_PORTS || parse_u64(tok, 65535, &v) || !v)
			return -EINVAL;
		a->ports[a->n_ports++] = (uint16_t)v;
	}
	return a->n_ports ? 0 : -EINVAL;
}

/* "N/SECONDS" */
static int parse_rate(const char *s, struct args *a)
{
	char buf[64], *slash;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (!slash)
		return -EINVAL;
	*slash = '\0';
	if (parse_u64(buf, 1000000000, &a->rate_n) || !a->rate_n ||
	    parse_u64(slash + 1, 86400, &a->rate_s) || !a->rate_s)
		return -EINVAL;
	return 0;
}

/* ADDR[/LEN] in the mapped 128-bit space; no LEN: the host prefix. Host bits are cleared. */
static int parse_target(const char *s, const struct args *a, struct rg_cidr *c)
{
	char buf[INET6_ADDRSTRLEN + 8], *slash;
	uint64_t len;
	struct in_addr v4;
	int i;

	memset(c, 0, sizeof(*c));
	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash)
		*slash++ = '\0';
	if (inet_pton(AF_INET, buf, &v4) == 1) {
		c->is_v4 = 1;
		c->addr[10] = c->addr[11] = 0xff;
		memcpy(&c->addr[12], &v4, 4);
		if (slash && parse_u64(slash, 32, &len))
			return -EINVAL;
		c->prefixlen = (uint8_t)(96 + (slash ? len : a->prefix4));
	} else if (inet_pton(AF_INET6, buf, c->addr) == 1) {
		if (slash && parse_u64(slash, 128, &len))
			return -EINVAL;
		c->prefixlen = (uint8_t)(slash ? len : a->prefix6);
	} else {
		return -EINVAL;
	}
	for (i = 0; i < 16; i++) {
		int bits = c->prefixlen - i * 8;

		if (bits <= 0)
			c->addr[i] = 0;
		else if (bits < 8)
			c->addr[i] &= (uint8_t)(0xff << (8 - bits));
	}
	return 0;
}

static const char *fmt_addr(const uint8_t addr[16], char *buf, size_t len)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (!memcmp(addr, mapped, sizeof(mapped)))
		return inet_ntop(AF_INET, addr + 12, buf, (socklen_t)len);
	return inet_ntop(AF_INET6, addr, buf, (socklen_t)len);
}

static int fmt_target(const struct rg_cidr *c, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];
	bool v4 = c->is_v4 && c->prefixlen >= 96;
	int n = snprintf(buf, len, "%s/%d", fmt_addr(c->addr, a, sizeof(a)),
			 v4 ? c->prefixlen - 96 : c->prefixlen);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int open_maps(const struct args *a, struct rg_bpf **b)
{
	int err = rg_bpf_open_pinned(a->pin_dir, b);

	if (!err)
		rg_bpf_set_host_prefix(*b, a->prefix4, a->prefix6);
	return err;
}

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

static int do_attach(struct args *a)
{
	struct rg_bpf_opts o = {
		.pin_dir = a->pin_dir,
		.ifaces = a->ifaces,
		.n_ifaces = a->n_ifaces,
		.mode = a->mode,
		.ports = a->ports,
		.n_ports = a->n_ports,
		.host_prefix_v4 = a->prefix4,
		.host_prefix_v6 = a->prefix6,
		.host_table_size = (uint32_t)a->tables[0],
		.flow_table_size = (uint32_t)a->tables[1],
		.verdict_table_size = (uint32_t)a->tables[2],
	};
	struct rg_bpf *b;
	size_t i;
	int err;

	err = rg_bpf_attach(&o, &b);
	if (err)
		return err;
	for (i = 0; i < a->n_ifaces; i++) {
		struct rg_bpf_iface_status st;

		if (rg_bpf_iface_status(a->pin_dir, a->ifaces[i], &st) == 0)
			printf("iface=%s kind=%s prog_id=%u link_id=%u\n", a->ifaces[i],
			       rg_attach_kind_name(st.kind), st.prog_id, st.link_id);
	}
	fflush(stdout);
	if (a->hold) {
		/* Keep the maps open until a signal: tests kill -9 us to show that the
		 * attachment does not depend on this process. */
		signal(SIGTERM, on_signal);
		signal(SIGINT, on_signal);
		printf("holding\n");
		fflush(stdout);
		while (!stop)
			pause();
	}
	rg_bpf_close(b);
	return 0;
}

static int do_detach(struct args *a)
{
	return rg_bpf_detach(a->pin_dir, a->ifaces, a->n_ifaces, a->purge);
}

static int one_target(struct args *a, struct rg_cidr *c)
{
	if (a->n_pos != 1 || parse_target(a->pos[0], a, c)) {
		fprintf(stderr, "need one ADDR[/LEN]\n");
		return -EINVAL;
	}
	return 0;
}

static int set_verdict(struct args *a, struct rg_verdict *v)
{
	struct rg_bpf *b;
	struct rg_cidr c;
	int err;

	err = one_target(a, &c);
	if (err)
		return err;
	v->origin = RG_ORIGIN_OPERATOR;
	v->expires_ns = a->for_s ? rg_now_mono_ns() + a->for_s * 1000000000ULL : 0;
	err = open_maps(a, &b);
	if (err)
		return err;
	err = rg_bpf_verdict_set(b, &c, v);
	rg_bpf_close(b);
	return err;
}

static int do_block(struct args *a)
{
	struct rg_verdict v = { .action = RG_ACT_BLOCK };

	return set_verdict(a, &v);
}

static int do_throttle(struct args *a)
{
	struct rg_verdict v = { .action = RG_ACT_THROTTLE };

	if (!a->rate_n) {
		fprintf(stderr, "throttle needs --rate N/SECONDS\n");
		return -EINVAL;
	}
	v.interval_ns = a->rate_s * 1000000000ULL / a->rate_n;
	v.burst_ns = (a->burst ? a->burst : 1) * v.interval_ns;
	return set_verdict(a, &v);
}

static int do_unblock(struct args *a)
{
	struct rg_bpf *b;
	struct rg_cidr c;
	int err;

	err = one_target(a, &c);
	if (err)
		return err;
	err = open_maps(a, &b);
	if (err)
		return err;
	err = rg_bpf_verdict_delete(b, &c);
	rg_bpf_close(b);
	return err;
}

static int do_connector(struct args *a)
{
	struct rg_bpf_connector list[MAX_ARGS / 2];
	struct rg_bpf *b;
	size_t i;
	int err;

	if (a->n_pos % 2) {
		fprintf(stderr, "connector takes CIDR TENANT_ID pairs\n");
		return -EINVAL;
	}
	for (i = 0; i < a->n_pos / 2; i++) {
		uint64_t id;

		if (parse_target(a->pos[2 * i], a, &list[i].cidr) ||
		    parse_u64(a->pos[2 * i + 1], UINT32_MAX, &id)) {
			fprintf(stderr, "bad connector %zu\n", i + 1);
			return -EINVAL;
		}
		list[i].tenant_id = (uint32_t)id;
	}
	err = open_maps(a, &b);
	if (err)
		return err;
	err = rg_bpf_connectors_replace(b, list, a->n_pos / 2);
	rg_bpf_close(b);
	return err;
}

static int do_stats(struct args *a)
{
	struct rg_stats s;
	struct rg_meta m;
	struct rg_bpf *b;
	int err;

	err = open_maps(a, &b);
	if (err)
		return err;
	err = rg_bpf_stats_read(b, &s) ?: rg_bpf_meta_read(b, &m);
	rg_bpf_close(b);
	if (err)
		return err;
#define P(f) printf(#f "=%" PRIu64 "\n", (uint64_t)s.f)
	P(packets);
	P(smtp_packets);
	P(smtp_new_conns);
	P(drop_block);
	P(drop_throttle);
	P(parse_errors);
	P(fragments);
	P(host_insert_fail);
	P(flow_insert_fail);
	P(verdict_expired);
	P(rate_events);
	P(rate_event_drops);
#undef P
	printf("layout_version=%u\ncidr_verdicts=%u\n", m.layout_version, m.cidr_verdicts);
	return 0;
}

static int print_verdict(const struct rg_cidr *t, bool is_cidr, const struct rg_verdict *v,
			 void *ctx)
{
	char buf[80];

	if (fmt_target(t, buf, sizeof(buf)))
		return -ENAMETOOLONG;
	printf("target=%s map=%s action=%u origin=%u expires_ns=%" PRIu64 " drops=%" PRIu64 "\n",
	       buf, is_cidr ? RG_MAP_VERDICT_CIDRS : RG_MAP_VERDICT_HOSTS, v->action, v->origin,
	       (uint64_t)v->expires_ns, (uint64_t)v->drops);
	return 0;
}

static int do_verdicts(struct args *a)
{
	struct rg_bpf *b;
	int err;

	err = open_maps(a, &b);
	if (err)
		return err;
	err = rg_bpf_verdict_foreach(b, print_verdict, NULL);
	rg_bpf_close(b);
	return err;
}

static int print_host(const struct rg_host_key *k, const struct rg_host *h, void *ctx)
{
	char buf[INET6_ADDRSTRLEN];

	printf("host=%s tenant_id=%u conns=%" PRIu64 " packets=%" PRIu64 "\n",
	       fmt_addr(k->addr, buf, sizeof(buf)), h->tenant_id, (uint64_t)h->conns,
	       (uint64_t)h->packets);
	return 0;
}

static int do_hosts(struct args *a)
{
	struct rg_bpf *b;
	int err;

	err = open_maps(a, &b);
	if (err)
		return err;
	err = rg_bpf_hosts_foreach(b, print_host, NULL);
	rg_bpf_close(b);
	return err;
}

static int do_fill(struct args *a)
{
	struct rg_bpf_fill f[RG_BPF_NR_MAPS];
	struct rg_bpf *b;
	int err, i;

	err = open_maps(a, &b);
	if (err)
		return err;
	err = rg_bpf_fill_levels(b, f);
	rg_bpf_close(b);
	for (i = 0; !err && i < RG_BPF_NR_MAPS; i++)
		printf("%s=%u/%u\n", f[i].name, f[i].entries, f[i].max_entries);
	return err;
}

/* Synthetic hosts 2001:db8:N::/64 (N a 32-bit counter after the documentation prefix),
 * each seen once now, unassigned: what a random-source flood leaves in the map. */
static int do_fill_hosts(struct args *a)
{
	struct rg_host_key *keys = NULL;
	struct rg_host *vals = NULL;
	char path[4096];
	uint64_t n, now = rg_now_mono_ns();
	__u32 count;
	int fd = -1, err = 0;

	if (a->n_pos != 1 || parse_u64(a->pos[0], 1U << 24, &n) || !n) {
		fprintf(stderr, "fill-hosts: N is 1..%u\n", 1U << 24);
		return EINVAL;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", a->pin_dir, RG_MAP_HOSTS) >= sizeof(path))
		return ENAMETOOLONG;
	fd = bpf_obj_get(path);
	keys = calloc(n, sizeof(*keys));
	vals = calloc(n, sizeof(*vals));
	if (fd < 0 || !keys || !vals) {
		err = fd < 0 ? errno : ENOMEM;
		goto out;
	}
	for (uint64_t i = 0; i < n; i++) {
		__u32 be = htonl((__u32)i);

		memcpy(keys[i].addr, "\x20\x01\x0d\xb8", 4);
		memcpy(keys[i].addr + 4, &be, 4);
		vals[i] = (struct rg_host){ .packets = 1, .bytes = 74, .conns = 1,
					    .first_seen_ns = now, .last_seen_ns = now,
					    .last_conn_ns = now, .rate_window_start_ns = now,
					    .rate_window_conns = 1 };
	}
	count = (__u32)n;
	if (bpf_map_update_batch(fd, keys, vals, &count, NULL))
		err = errno;
	printf("hosts_added=%u\n", count);
out:
	if (fd >= 0)
		close(fd);
	free(keys);
	free(vals);
	return err;
}

static int do_status(struct args *a)
{
	size_t i;
	int err;

	for (i = 0; i < a->n_ifaces; i++) {
		struct rg_bpf_iface_status st;

		err = rg_bpf_iface_status(a->pin_dir, a->ifaces[i], &st);
		if (err)
			return err;
		printf("iface=%s kind=%s prog_id=%u link_id=%u prog_name=%s\n", a->ifaces[i],
		       rg_attach_kind_name(st.kind), st.prog_id, st.link_id, st.prog_name);
	}
	return 0;
}

static const struct cmd {
	const char *name;
	int (*fn)(struct args *a);
} cmds[] = {
	{ "attach", do_attach },     { "detach", do_detach },	{ "block", do_block },
	{ "throttle", do_throttle }, { "unblock", do_unblock }, { "connector", do_connector },
	{ "stats", do_stats },	     { "verdicts", do_verdicts }, { "hosts", do_hosts },
	{ "fill", do_fill },	     { "status", do_status },	{ "fill-hosts", do_fill_hosts },
};

static int usage(void)
{
	fprintf(stderr, "usage: rg_loader attach|detach|block|throttle|unblock|connector|stats|"
			"verdicts|hosts|fill|status --pin-dir D [options] (see the source)\n");
	return EINVAL;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "pin-dir", required_argument, NULL, 'd' },
		{ "iface", required_argument, NULL, 'i' },
		{ "mode", required_argument, NULL, 'm' },
		{ "ports", required_argument, NULL, 'p' },
		{ "prefix4", required_argument, NULL, '4' },
		{ "prefix6", required_argument, NULL, '6' },
		{ "hold", no_argument, NULL, 'H' },
		{ "purge", no_argument, NULL, 'P' },
		{ "for", required_argument, NULL, 'f' },
		{ "rate", required_argument, NULL, 'r' },
		{ "burst", required_argument, NULL, 'b' },
		{ "host-table", required_argument, NULL, 'T' },
		{ "flow-table", required_argument, NULL, 'F' },
		{ "verdict-table", required_argument, NULL, 'V' },
		{ "verbose", no_argument, NULL, 'v' },
		{}
	};
	struct args a = { .mode = RG_ATTACH_AUTO, .ports = { 25 }, .n_ports = 1, .prefix4 = 32,
			  .prefix6 = 64 };
	const struct cmd *cmd = NULL;
	uint64_t v;
	size_t i;
	int c, err;

	if (argc < 2)
		return usage();
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			cmd = &cmds[i];
	if (!cmd)
		return usage();
	argc--;
	argv++;
	while ((c = getopt_long(argc, argv, "v", lo, NULL)) != -1) {
		switch (c) {
		case 'd':
			a.pin_dir = optarg;
			break;
		case 'i':
			if (a.n_ifaces >= RG_MAX_IFACES)
				return usage();
			a.ifaces[a.n_ifaces++] = optarg;
			break;
		case 'm':
			if (!strcmp(optarg, "auto"))
				a.mode = RG_ATTACH_AUTO;
			else if (!strcmp(optarg, "native"))
				a.mode = RG_ATTACH_NATIVE;
			else if (!strcmp(optarg, "generic"))
				a.mode = RG_ATTACH_GENERIC;
			else if (!strcmp(optarg, "tc"))
				a.mode = RG_ATTACH_TC;
			else
				return usage();
			break;
		case 'p':
			if (parse_ports(optarg, &a))
				return usage();
			break;
		case '4':
			if (parse_u64(optarg, 32, &v) || !v)
				return usage();
			a.prefix4 = (unsigned)v;
			break;
		case '6':
			if (parse_u64(optarg, 128, &v) || !v)
				return usage();
			a.prefix6 = (unsigned)v;
			break;
		case 'H':
			a.hold = true;
			break;
		case 'P':
			a.purge = true;
			break;
		case 'f':
			if (parse_u64(optarg, 100 * 365 * 86400ULL, &a.for_s))
				return usage();
			break;
		case 'r':
			if (parse_rate(optarg, &a))
				return usage();
			break;
		case 'b':
			if (parse_u64(optarg, 1000000, &a.burst))
				return usage();
			break;
		case 'T':
		case 'F':
		case 'V':
			if (parse_u64(optarg, UINT32_MAX, &v) || !v)
				return usage();
			a.tables[c == 'T' ? 0 : c == 'F' ? 1 : 2] = v;
			break;
		case 'v':
			rg_log_set_level(RG_LOG_DEBUG);
			break;
		default:
			return usage();
		}
	}
	for (; optind < argc; optind++) {
		if (a.n_pos >= MAX_ARGS)
			return usage();
		a.pos[a.n_pos++] = argv[optind];
	}
	if (!a.pin_dir)
		return usage();
	rg_bpf_hook_libbpf_log();
	err = cmd->fn(&a);
	if (err)
		fprintf(stderr, "rg_loader %s: %s\n", cmd->name, strerror(-err));
	return err < 0 ? -err : 0;
}
