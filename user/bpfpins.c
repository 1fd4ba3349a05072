// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * bpfpins.c: the set of pinned maps under pin_dir: their expected layouts (type, key and
 * value size), opening a pin with that check and meta's layout version, and struct rg_bpf
 * (one fd per map) for readers (rg_bpf_open_pinned) and the loader. Takes a pin dir;
 * reports mismatches with the upgrade path through user/log.h and returns 0 or -errno.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpfpins.h"
#include "log.h"

const struct rg_map_layout rg_bpf_layouts[NR_PINNED] = {
	[M_HOSTS] = { RG_MAP_HOSTS, BPF_MAP_TYPE_LRU_HASH, sizeof(struct rg_host_key),
		      sizeof(struct rg_host) },
	[M_FLOWS] = { RG_MAP_FLOWS, BPF_MAP_TYPE_LRU_HASH, sizeof(struct rg_flow_key),
		      sizeof(struct rg_flow) },
	[M_CONNECTORS] = { RG_MAP_CONNECTORS, BPF_MAP_TYPE_LPM_TRIE, sizeof(struct rg_lpm_key),
			   sizeof(struct rg_tenant_tag) },
	[M_VHOSTS] = { RG_MAP_VERDICT_HOSTS, BPF_MAP_TYPE_HASH, sizeof(struct rg_host_key),
		       sizeof(struct rg_verdict) },
	[M_VCIDRS] = { RG_MAP_VERDICT_CIDRS, BPF_MAP_TYPE_LPM_TRIE, sizeof(struct rg_lpm_key),
		       sizeof(struct rg_verdict) },
	[M_STATS] = { RG_MAP_STATS, BPF_MAP_TYPE_PERCPU_ARRAY, sizeof(__u32),
		      sizeof(struct rg_stats) },
	[M_META] = { RG_MAP_META, BPF_MAP_TYPE_ARRAY, sizeof(__u32), sizeof(struct rg_meta) },
	[M_LIMITS] = { RG_MAP_TENANT_LIMITS, BPF_MAP_TYPE_ARRAY, sizeof(__u32),
		       sizeof(struct rg_tenant_limit) },
	/* Not a table: no fill level (rg_bpf_fill_levels stops before it). */
	[M_EVENTS] = { RG_MAP_RATE_EVENTS, BPF_MAP_TYPE_RINGBUF, 0, 0 },
};

_Static_assert((int)M_EVENTS == RG_BPF_NR_MAPS, "fill levels cover every map but rate_events");

_Static_assert(sizeof(struct rg_stats) % sizeof(__u64) == 0, "rg_stats must be all __u64");

int rg_bpf_join_path(char *buf, size_t len, const char *dir, const char *a, const char *b)
{
	int n = snprintf(buf, len, "%s/%s%s", dir, a, b ? b : "");

	if (n < 0 || (size_t)n >= len) {
		pr_err("path too long: %s/%s%s", dir, a, b ? b : "");
		return -ENAMETOOLONG;
	}
	return 0;
}

static const char *map_type_name(__u32 type)
{
	const char *s = libbpf_bpf_map_type_str((enum bpf_map_type)type);

	return s ? s : "?";
}

void rg_bpf_upgrade_hint(const char *pin_dir)
{
	pr_err("upgrade path: stop relayguardd, run `relayguardctl detach --purge` (or remove %s), "
	       "then start relayguardd again: it recreates the maps and pushes its persisted "
	       "verdicts back",
	       pin_dir);
}

int rg_bpf_open_checked(const char *pin_dir, const struct rg_map_layout *want, int *fd,
			struct bpf_map_info *info)
{
	char path[PATH_MAX];
	__u32 len = sizeof(*info);
	int err;

	err = rg_bpf_join_path(path, sizeof(path), pin_dir, want->name, NULL);
	if (err)
		return err;
	*fd = bpf_obj_get(path);
	if (*fd < 0) {
		err = -errno;
		if (err != -ENOENT)
			pr_err("cannot open pinned map %s: %s", path, strerror(-err));
		return err;
	}
	memset(info, 0, sizeof(*info));
	if (bpf_obj_get_info_by_fd(*fd, info, &len)) {
		err = -errno;
		pr_err("%s is not a BPF map: %s", path, strerror(-err));
		goto out;
	}
	if (info->type != want->type || info->key_size != want->key_size ||
	    info->value_size != want->value_size) {
		pr_err("pinned map %s has another layout: type %s, key %u bytes, value %u bytes; "
		       "this version needs type %s, key %u bytes, value %u bytes",
		       path, map_type_name(info->type), info->key_size, info->value_size,
		       map_type_name(want->type), want->key_size, want->value_size);
		rg_bpf_upgrade_hint(pin_dir);
		err = -EINVAL;
		goto out;
	}
	return 0;
out:
	close(*fd);
	*fd = -1;
	return err;
}

int rg_bpf_check_layout_version(const char *pin_dir, int meta_fd)
{
	struct rg_meta m = {};
	__u32 zero = 0;

	if (bpf_map_lookup_elem(meta_fd, &zero, &m)) {
		int err = -errno;

		pr_err("cannot read %s/%s: %s", pin_dir, RG_MAP_META, strerror(-err));
		return err;
	}
	/* 0: a run that pinned the maps but died before writing the version; same program. */
	if (m.layout_version == RG_LAYOUT_VERSION || m.layout_version == 0)
		return 0;
	pr_err("pinned maps in %s have layout version %u; this version needs %u", pin_dir,
	       m.layout_version, RG_LAYOUT_VERSION);
	rg_bpf_upgrade_hint(pin_dir);
	return -EINVAL;
}

struct rg_bpf *rg_bpf_new(const char *pin_dir)
{
	struct rg_bpf *b = calloc(1, sizeof(*b));
	size_t i;

	if (!b)
		return NULL;
	for (i = 0; i < NR_PINNED; i++)
		b->fds[i] = -1;
	b->host_prefix_v4 = 32;
	b->host_prefix_v6 = 64;
	if (strlen(pin_dir) >= sizeof(b->pin_dir)) {
		free(b);
		return NULL;
	}
	strcpy(b->pin_dir, pin_dir);
	return b;
}

void rg_bpf_close(struct rg_bpf *b)
{
	size_t i;

	if (!b)
		return;
	ring_buffer__free(b->events);
	for (i = 0; i < NR_PINNED; i++)
		if (b->fds[i] >= 0)
			close(b->fds[i]);
	free(b);
}

void rg_bpf_set_host_prefix(struct rg_bpf *b, unsigned prefix_v4, unsigned prefix_v6)
{
	b->host_prefix_v4 = prefix_v4;
	b->host_prefix_v6 = prefix_v6;
}

int rg_bpf_open_pinned(const char *pin_dir, struct rg_bpf **out)
{
	struct bpf_map_info info;
	struct rg_bpf *b;
	size_t i;
	int err;

	*out = NULL;
	b = rg_bpf_new(pin_dir);
	if (!b)
		return -ENOMEM;
	for (i = 0; i < NR_PINNED; i++) {
		err = rg_bpf_open_checked(pin_dir, &rg_bpf_layouts[i], &b->fds[i], &info);
		if (err == -ENOENT)
			pr_err("no pinned map %s/%s: is relayguardd running (it loads the program)?",
			       pin_dir, rg_bpf_layouts[i].name);
		if (err)
			goto out;
	}
	err = rg_bpf_check_layout_version(pin_dir, b->fds[M_META]);
	if (err)
		goto out;
	*out = b;
	return 0;
out:
	rg_bpf_close(b);
	return err;
}
