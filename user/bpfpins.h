/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * bpfpins.h: inside the BPF userspace side only (bpfpins.c, bpfload.c, bpfmaps.c): the
 * pinned maps' layout table, struct rg_bpf (one fd per pinned map), and opening pins with
 * the layout check. Everyone else uses bpfmaps.h.
 */
#ifndef RG_BPFPINS_H
#define RG_BPFPINS_H

#include <limits.h>
#include <stddef.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpfmaps.h"

enum { M_HOSTS, M_FLOWS, M_CONNECTORS, M_VHOSTS, M_VCIDRS, M_STATS, M_META, M_LIMITS,
       M_EVENTS, NR_PINNED };

/* The layout readers expect; rg_bpf_attach checks against the new program's own maps. */

/* The layout readers expect; rg_bpf_attach checks against the new program's own maps. */
struct rg_map_layout {
	const char *name;
	__u32 type;
	__u32 key_size;
	__u32 value_size;
};

extern const struct rg_map_layout rg_bpf_layouts[NR_PINNED];

struct rg_bpf {
	char pin_dir[PATH_MAX];
	int fds[NR_PINNED];
	unsigned host_prefix_v4, host_prefix_v6;
	struct ring_buffer *events;	/* rg_bpf_rate_events_open */
	rg_bpf_rate_cb rate_cb;
	void *rate_ctx;
};
/* dir/a[b] into buf: -ENAMETOOLONG (logged) when it does not fit. */
int rg_bpf_join_path(char *buf, size_t len, const char *dir, const char *a, const char *b);
/* How to get from pins of another layout to this version's (logged). */
void rg_bpf_upgrade_hint(const char *pin_dir);
/* Open the pin of one map and compare its layout with want. 0 and *fd (and *info),
 * -ENOENT when not pinned, -EINVAL with a message on a mismatch. */
int rg_bpf_open_checked(const char *pin_dir, const struct rg_map_layout *want, int *fd,
			struct bpf_map_info *info);
/* meta's layout version against RG_LAYOUT_VERSION (0 counts as ours). */
int rg_bpf_check_layout_version(const char *pin_dir, int meta_fd);
/* An rg_bpf with no map open yet, NULL on allocation failure or an over-long pin_dir. */
struct rg_bpf *rg_bpf_new(const char *pin_dir);

#endif /* RG_BPFPINS_H */
