// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * bpfmaps.c: reads and writes the pinned maps by fd for the agent and relayguardctl:
 * connectors, verdicts (with meta's CIDR count and verdict generation), hosts and flows
 * (batch walks), the per-tenant connection-rate limits, the rate_events ring buffer,
 * counters and fill levels. Takes an rg_bpf
 * from bpfpins.c or bpfload.c; reports through user/log.h and returns 0 or -errno.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpfpins.h"
#include "log.h"

/* ---- map access ---- */

static void lpm_key_of(const struct rg_cidr *c, struct rg_lpm_key *k)
{
	memset(k, 0, sizeof(*k));
	k->prefixlen = c->prefixlen;
	memcpy(k->addr, c->addr, sizeof(k->addr));
}

static bool addr_is_mapped_v4(const __u8 a[16])
{
	static const __u8 pfx[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	return !memcmp(a, pfx, sizeof(pfx));
}

/*
 * Walk the keys of a map into a fresh array (so that callers can delete while walking).
 * get_next_key restarts from the start when the current key vanished under us (LRU
 * eviction), so the walk is bounded by max_entries and duplicates are possible there.
 */
static int collect_keys(int fd, void **keys_out, size_t *n_out)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	size_t n = 0, cap;
	char *keys = NULL, *prev = NULL;
	int err = 0;

	*keys_out = NULL;
	*n_out = 0;
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	cap = info.max_entries;
	keys = calloc(cap ? cap : 1, info.key_size);
	if (!keys)
		return -ENOMEM;
	while (n < cap) {
		char *next = keys + n * info.key_size;

		if (bpf_map_get_next_key(fd, prev, next)) {
			if (errno != ENOENT)
				err = -errno;
			break;
		}
		prev = next;
		n++;
	}
	if (err) {
		free(keys);
		return err;
	}
	*keys_out = keys;
	*n_out = n;
	return 0;
}

int rg_bpf_connectors_replace(struct rg_bpf *b, const struct rg_bpf_connector *list, size_t n)
{
	int fd = b->fds[M_CONNECTORS];
	struct rg_lpm_key *old = NULL;
	size_t n_old, i, j;
	int err;

	for (i = 0; i < n; i++) {
		struct rg_tenant_tag tag = { .tenant_id = list[i].tenant_id };
		struct rg_lpm_key k;

		if (list[i].cidr.prefixlen > 128)
			return -EINVAL;
		lpm_key_of(&list[i].cidr, &k);
		if (bpf_map_update_elem(fd, &k, &tag, BPF_ANY)) {
			err = -errno;
			pr_err("writing connector %zu of %zu: %s", i + 1, n, strerror(-err));
			return err;
		}
	}
	err = collect_keys(fd, (void **)&old, &n_old);
	if (err)
		return err;
	for (i = 0; i < n_old; i++) {
		bool keep = false;

		for (j = 0; j < n && !keep; j++) {
			struct rg_lpm_key k;

			lpm_key_of(&list[j].cidr, &k);
			keep = !memcmp(&k, &old[i], sizeof(k));
		}
		if (!keep && bpf_map_delete_elem(fd, &old[i]) && errno != ENOENT) {
			err = -errno;
			pr_err("deleting a stale connector: %s", strerror(-err));
			break;
		}
	}
	free(old);
	return err;
}

/* What the kernel returns for a map type without batch operations (LPM tries). */
#define KERNEL_ENOTSUPP 524

/* Entries per bpf_map_lookup_batch call: a million-entry map in 256 syscalls. */
#define WALK_BATCH 4096

/* Walk a map with get_next_key + lookup, bounded by max_entries (LRU maps change under
 * us): for map types without batch operations. */
static int walk_by_key(int fd, const struct bpf_map_info *info,
		       int (*fn)(const void *k, const void *v, void *ctx), void *ctx)
{
	size_t key_size = info->key_size;
	char *buf, *k, *next, *v;
	bool first = true;
	size_t i;
	int err = 0;

	buf = calloc(1, 2 * key_size + info->value_size);
	if (!buf)
		return -ENOMEM;
	k = buf;
	next = buf + key_size;
	v = next + key_size;
	for (i = 0; i < info->max_entries; i++) {
		if (bpf_map_get_next_key(fd, first ? NULL : k, next)) {
			if (errno != ENOENT)
				err = -errno;
			break;
		}
		first = false;
		memcpy(k, next, key_size);
		if (bpf_map_lookup_elem(fd, k, v))
			continue;
		err = fn(k, v, ctx);
		if (err)
			break;
	}
	free(buf);
	return err;
}

/*
 * Walk a hash map in batches of WALK_BATCH (bpf_map_lookup_batch: one syscall per batch,
 * not two per entry), bounded by max_entries; falls back to walk_by_key where the kernel
 * has no batch operations for the map type. An LRU map changes under us: an entry may be
 * missed or, across batches, seen twice.
 */
static int walk(int fd, size_t key_size, size_t value_size,
		int (*fn)(const void *k, const void *v, void *ctx), void *ctx)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info), in_batch = 0, out_batch = 0, count, cap = WALK_BATCH;
	char *keys = NULL, *vals = NULL;
	bool first = true, last = false;
	size_t seen = 0;
	int err = 0;

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	if ((key_size && info.key_size != key_size) ||
	    (value_size && info.value_size != value_size))
		return -EINVAL;
	while (!last && seen < info.max_entries) {
		if (!keys) {
			keys = malloc((size_t)cap * info.key_size);
			vals = malloc((size_t)cap * info.value_size);
			if (!keys || !vals) {
				err = -ENOMEM;
				break;
			}
		}
		count = cap;
		if (bpf_map_lookup_batch(fd, first ? NULL : &in_batch, &out_batch, keys, vals,
					 &count, NULL)) {
			err = -errno;
			if (err == -ENOENT) {
				last = true; /* count holds the final entries */
				err = 0;
			} else if (err == -ENOSPC && cap < info.max_entries) {
				/* A bucket holds more than cap entries: retry it, larger. */
				cap *= 4;
				free(keys);
				free(vals);
				keys = vals = NULL;
				err = 0;
				continue;
			} else if (first && (err == -EINVAL || err == -EOPNOTSUPP ||
					     err == -KERNEL_ENOTSUPP)) {
				err = walk_by_key(fd, &info, fn, ctx);
				break;
			} else {
				break;
			}
		}
		first = false;
		in_batch = out_batch;
		for (__u32 i = 0; i < count && !err; i++)
			err = fn(keys + (size_t)i * info.key_size, vals + (size_t)i * info.value_size,
				 ctx);
		if (err)
			break;
		seen += count;
	}
	free(keys);
	free(vals);
	return err;
}

static int count_fn(const void *k, const void *v, void *ctx)
{
	(*(__u32 *)ctx)++;
	return 0;
}

/* Entries in a map: batches where the map type has them (/metrics reads a million-entry
 * hosts map in a few hundred syscalls), key by key otherwise. */
static int count_entries(int fd, __u32 *count)
{
	*count = 0;
	return walk(fd, 0, 0, count_fn, count);
}

/*
 * After every verdict write or delete: bump meta.verdict_gen, so hosts the program found
 * without a verdict look again (it must come after the map write: the program caches the
 * generation it read before its lookups), and with recount_cidrs recount
 * meta.cidr_verdicts, which lets the program skip the trie while it is empty; recounting
 * keeps it exact whatever happened before (a crash between two writes).
 */
static int meta_verdicts_changed(struct rg_bpf *b, bool recount_cidrs)
{
	struct rg_meta m = {};
	__u32 zero = 0, count = 0;
	int err;

	if (recount_cidrs) {
		err = count_entries(b->fds[M_VCIDRS], &count);
		if (err)
			return err;
	}
	if (bpf_map_lookup_elem(b->fds[M_META], &zero, &m))
		return -errno;
	if (recount_cidrs)
		m.cidr_verdicts = count;
	m.verdict_gen++;
	if (bpf_map_update_elem(b->fds[M_META], &zero, &m, BPF_ANY))
		return -errno;
	return 0;
}

static void keep_state(int fd, const void *key, struct rg_verdict *nv)
{
	struct rg_verdict old;

	if (bpf_map_lookup_elem(fd, key, &old))
		return;
	nv->drops = old.drops;
	if (old.action == nv->action)
		nv->tat_ns = old.tat_ns;
}

int rg_bpf_verdict_host_set(struct rg_bpf *b, const uint8_t key[16], const struct rg_verdict *v)
{
	struct rg_host_key k;
	struct rg_verdict nv = *v;

	memcpy(k.addr, key, sizeof(k.addr));
	keep_state(b->fds[M_VHOSTS], &k, &nv);
	if (bpf_map_update_elem(b->fds[M_VHOSTS], &k, &nv, BPF_ANY)) {
		int err = -errno;

		pr_err("writing a host verdict: %s%s", strerror(-err),
		       err == -E2BIG ? " (verdict table full)" : "");
		return err;
	}
	return meta_verdicts_changed(b, false);
}

int rg_bpf_verdict_host_delete(struct rg_bpf *b, const uint8_t key[16])
{
	struct rg_host_key k;

	memcpy(k.addr, key, sizeof(k.addr));
	if (bpf_map_delete_elem(b->fds[M_VHOSTS], &k))
		return -errno;
	return meta_verdicts_changed(b, false);
}

int rg_bpf_verdict_cidr_set(struct rg_bpf *b, const struct rg_lpm_key *key,
			    const struct rg_verdict *v)
{
	struct rg_verdict nv = *v;
	struct rg_lpm_key k = *key;

	if (k.prefixlen > 128)
		return -EINVAL;
	/* LPM lookups use the longest match: an exact lookup is what keep_state needs. */
	keep_state(b->fds[M_VCIDRS], &k, &nv);
	if (bpf_map_update_elem(b->fds[M_VCIDRS], &k, &nv, BPF_ANY)) {
		int err = -errno;

		pr_err("writing a CIDR verdict: %s%s", strerror(-err),
		       err == -ENOSPC || err == -E2BIG ? " (verdict table full)" : "");
		return err;
	}
	return meta_verdicts_changed(b, true);
}

int rg_bpf_verdict_cidr_delete(struct rg_bpf *b, const struct rg_lpm_key *key)
{
	int err = 0;

	if (bpf_map_delete_elem(b->fds[M_VCIDRS], key))
		err = -errno;
	int e = meta_verdicts_changed(b, true);

	return err ?: e;
}

static bool target_is_host(const struct rg_bpf *b, const struct rg_cidr *t)
{
	if (addr_is_mapped_v4(t->addr) && t->prefixlen >= 96)
		return t->prefixlen == 96 + b->host_prefix_v4;
	return t->prefixlen == b->host_prefix_v6;
}

int rg_bpf_verdict_set(struct rg_bpf *b, const struct rg_cidr *target, const struct rg_verdict *v)
{
	struct rg_lpm_key k;

	if (target_is_host(b, target))
		return rg_bpf_verdict_host_set(b, target->addr, v);
	lpm_key_of(target, &k);
	return rg_bpf_verdict_cidr_set(b, &k, v);
}

int rg_bpf_verdict_delete(struct rg_bpf *b, const struct rg_cidr *target)
{
	struct rg_lpm_key k;

	if (target_is_host(b, target))
		return rg_bpf_verdict_host_delete(b, target->addr);
	lpm_key_of(target, &k);
	return rg_bpf_verdict_cidr_delete(b, &k);
}

int rg_bpf_verdict_get(struct rg_bpf *b, const struct rg_cidr *target, struct rg_verdict *v)
{
	struct rg_lpm_key k;
	struct rg_host_key hk;
	int err;

	if (target_is_host(b, target)) {
		memcpy(hk.addr, target->addr, sizeof(hk.addr));
		err = bpf_map_lookup_elem(b->fds[M_VHOSTS], &hk, v);
	} else {
		lpm_key_of(target, &k);
		err = bpf_map_lookup_elem(b->fds[M_VCIDRS], &k, v);
		/* The trie answers the longest match; only the exact prefix counts here. */
		if (!err) {
			struct rg_lpm_key *keys;
			size_t n, i;
			bool found = false;

			err = collect_keys(b->fds[M_VCIDRS], (void **)&keys, &n);
			if (err)
				return err;
			for (i = 0; i < n && !found; i++)
				found = !memcmp(&keys[i], &k, sizeof(k));
			free(keys);
			return found ? 0 : -ENOENT;
		}
	}
	return err ? -errno : 0;
}

int rg_bpf_verdict_foreach(struct rg_bpf *b, rg_bpf_verdict_cb cb, void *ctx)
{
	struct rg_host_key *hk = NULL;
	struct rg_lpm_key *lk = NULL;
	struct rg_verdict v;
	struct rg_cidr c;
	size_t n, i;
	int err;

	err = collect_keys(b->fds[M_VHOSTS], (void **)&hk, &n);
	for (i = 0; !err && i < n; i++) {
		if (bpf_map_lookup_elem(b->fds[M_VHOSTS], &hk[i], &v))
			continue;	/* deleted meanwhile */
		memset(&c, 0, sizeof(c));
		memcpy(c.addr, hk[i].addr, sizeof(c.addr));
		c.is_v4 = addr_is_mapped_v4(c.addr);
		c.prefixlen = (uint8_t)(c.is_v4 ? 96 + b->host_prefix_v4 : b->host_prefix_v6);
		err = cb(&c, false, &v, ctx);
	}
	free(hk);
	if (err)
		return err;
	err = collect_keys(b->fds[M_VCIDRS], (void **)&lk, &n);
	for (i = 0; !err && i < n; i++) {
		if (bpf_map_lookup_elem(b->fds[M_VCIDRS], &lk[i], &v))
			continue;
		memset(&c, 0, sizeof(c));
		memcpy(c.addr, lk[i].addr, sizeof(c.addr));
		c.prefixlen = (uint8_t)lk[i].prefixlen;
		c.is_v4 = lk[i].prefixlen >= 96 && addr_is_mapped_v4(c.addr);
		err = cb(&c, true, &v, ctx);
	}
	free(lk);
	return err;
}

struct walk_ctx {
	void *cb;
	void *ctx;
};

static int host_fn(const void *k, const void *v, void *ctx)
{
	struct walk_ctx *w = ctx;

	return ((rg_bpf_host_cb)w->cb)(k, v, w->ctx);
}

static int flow_fn(const void *k, const void *v, void *ctx)
{
	struct walk_ctx *w = ctx;

	return ((rg_bpf_flow_cb)w->cb)(k, v, w->ctx);
}

int rg_bpf_hosts_foreach(struct rg_bpf *b, rg_bpf_host_cb cb, void *ctx)
{
	struct walk_ctx w = { (void *)cb, ctx };

	return walk(b->fds[M_HOSTS], sizeof(struct rg_host_key), sizeof(struct rg_host), host_fn,
		    &w);
}

int rg_bpf_flows_foreach(struct rg_bpf *b, rg_bpf_flow_cb cb, void *ctx)
{
	struct walk_ctx w = { (void *)cb, ctx };

	return walk(b->fds[M_FLOWS], sizeof(struct rg_flow_key), sizeof(struct rg_flow), flow_fn,
		    &w);
}

int rg_bpf_host_lookup(struct rg_bpf *b, const uint8_t key[16], struct rg_host *h)
{
	struct rg_host_key k;

	memcpy(k.addr, key, sizeof(k.addr));
	return bpf_map_lookup_elem(b->fds[M_HOSTS], &k, h) ? -errno : 0;
}

double rg_bpf_host_window_conns(const struct rg_host *h, uint64_t now)
{
	const double win = (double)RG_RATE_WINDOW_NS;
	double elapsed, prev, cur;

	if (!h->rate_window_start_ns || now < h->rate_window_start_ns)
		return 0;
	elapsed = (double)(now - h->rate_window_start_ns);
	if (elapsed >= 2 * win)
		return 0;
	if (elapsed >= win) {
		/* The current window ended: what it counted is now the previous one. */
		prev = h->rate_window_conns;
		cur = 0;
		elapsed -= win;
	} else {
		prev = h->rate_prev_conns;
		cur = h->rate_window_conns;
	}
	return prev * (1.0 - elapsed / win) + cur;
}

int rg_bpf_host_retag(struct rg_bpf *b, const uint8_t key[16], uint32_t tenant_id)
{
	struct rg_host_key k;
	struct rg_host h;

	memcpy(k.addr, key, sizeof(k.addr));
	if (bpf_map_lookup_elem(b->fds[M_HOSTS], &k, &h))
		return -errno;
	if (h.tenant_id == tenant_id)
		return 0;
	h.tenant_id = tenant_id;
	/* XXX: packets counted between our lookup and this update are lost from the counters;
	 * a retag writes only when the tag changes (a reload, or a host's first transaction
	 * attributed by login or certificate), so that is a handful at most. */
	return bpf_map_update_elem(b->fds[M_HOSTS], &k, &h, BPF_EXIST) ? -errno : 0;
}

uint32_t rg_bpf_window_limit(uint64_t count, uint64_t period_ns)
{
	unsigned __int128 per_window;

	if (!count || !period_ns)
		return 0;
	/* Above count/period means more than count * window / period per window, i.e. at
	 * least its floor plus one: the engine's own check, done in integers. */
	per_window = (unsigned __int128)count * RG_RATE_WINDOW_NS / period_ns + 1;
	return per_window > UINT32_MAX ? UINT32_MAX : (uint32_t)per_window;
}

/* After tenant_limits is written: meta's least and greatest non-zero limit, between which
 * the program looks up the tenant of a source without an entry (0: no limit anywhere).
 * meta is read, changed and written whole, as relayguardctl's verdict writes do too; the
 * generation is bumped here as well, so that a bump of a verdict write racing this one
 * still leaves a generation the hosts have not cached (they only look once more). */
static int meta_limits_set(struct rg_bpf *b, const struct rg_tenant_limit *vals)
{
	struct rg_meta m = {};
	__u32 zero = 0, lo = 0, hi = 0;

	for (__u32 i = 0; i < RG_TENANT_LIMIT_SLOTS; i++) {
		__u32 v = vals[i].window_conns;

		if (v && (!lo || v < lo))
			lo = v;
		if (v > hi)
			hi = v;
	}
	if (bpf_map_lookup_elem(b->fds[M_META], &zero, &m))
		return -errno;
	m.limit_min = lo;
	m.limit_max = hi;
	m.verdict_gen++;
	return bpf_map_update_elem(b->fds[M_META], &zero, &m, BPF_ANY) ? -errno : 0;
}

int rg_bpf_tenant_limits_set(struct rg_bpf *b, const struct rg_bpf_tenant_limit *list, size_t n)
{
	const __u32 last = RG_TENANT_LIMIT_SLOTS - 1;
	struct rg_tenant_limit *vals = NULL;
	__u32 *keys = NULL, count = RG_TENANT_LIMIT_SLOTS, dflt = 0, i;
	bool overflow = false;
	int err = 0;

	keys = calloc(RG_TENANT_LIMIT_SLOTS, sizeof(*keys));
	vals = calloc(RG_TENANT_LIMIT_SLOTS, sizeof(*vals));
	if (!keys || !vals) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t j = 0; j < n; j++)
		if (!list[j].tenant_id)
			dflt = rg_bpf_window_limit(list[j].count, list[j].period_ns);
	for (i = 0; i < RG_TENANT_LIMIT_SLOTS; i++) {
		keys[i] = i;
		vals[i].window_conns = dflt;
	}
	for (size_t j = 0; j < n; j++) {
		__u32 id = list[j].tenant_id, lim = rg_bpf_window_limit(list[j].count,
									 list[j].period_ns);

		if (id < last) {
			vals[id].window_conns = lim;
			continue;
		}
		/* The shared last slot reports at the lowest limit among its tenants (0 is
		 * none, i.e. the highest); the engine checks each host's exact one. */
		if (!overflow || (lim && (!vals[last].window_conns || lim < vals[last].window_conns)))
			vals[last].window_conns = lim;
		overflow = true;
	}
	if (bpf_map_update_batch(b->fds[M_LIMITS], keys, vals, &count, NULL)) {
		err = -errno;
		pr_err("writing %s: %s", RG_MAP_TENANT_LIMITS, strerror(-err));
		goto out;
	}
	err = meta_limits_set(b, vals);
	if (err)
		pr_err("writing %s: %s", RG_MAP_META, strerror(-err));
out:
	free(keys);
	free(vals);
	return err;
}

static int rate_event_fn(void *ctx, void *data, size_t size)
{
	struct rg_bpf *b = ctx;

	if (size < sizeof(struct rg_rate_event))
		return 0;
	return b->rate_cb(data, b->rate_ctx);
}

int rg_bpf_rate_events_open(struct rg_bpf *b, rg_bpf_rate_cb cb, void *ctx, int *fd)
{
	int err;

	if (b->events)
		return -EBUSY;
	b->rate_cb = cb;
	b->rate_ctx = ctx;
	b->events = ring_buffer__new(b->fds[M_EVENTS], rate_event_fn, b, NULL);
	if (!b->events) {
		err = -errno;
		pr_err("opening %s: %s", RG_MAP_RATE_EVENTS, strerror(-err));
		return err;
	}
	*fd = ring_buffer__epoll_fd(b->events);
	return 0;
}

int rg_bpf_rate_events_consume(struct rg_bpf *b)
{
	int n;

	if (!b->events)
		return -EINVAL;
	n = ring_buffer__consume(b->events);
	return n < 0 ? n : 0;
}

int rg_bpf_stats_read(struct rg_bpf *b, struct rg_stats *sum)
{
	int ncpu = libbpf_num_possible_cpus();
	size_t nf = sizeof(*sum) / sizeof(__u64), i, c;
	__u64 *vals, *out = (__u64 *)sum;
	__u32 zero = 0;
	int err = 0;

	memset(sum, 0, sizeof(*sum));
	if (ncpu <= 0)
		return ncpu ? ncpu : -EINVAL;
	vals = calloc((size_t)ncpu, sizeof(*sum));
	if (!vals)
		return -ENOMEM;
	if (bpf_map_lookup_elem(b->fds[M_STATS], &zero, vals)) {
		err = -errno;
		goto out;
	}
	for (c = 0; c < (size_t)ncpu; c++)
		for (i = 0; i < nf; i++)
			out[i] += vals[c * nf + i];
out:
	free(vals);
	return err;
}

int rg_bpf_meta_read(struct rg_bpf *b, struct rg_meta *m)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(b->fds[M_META], &zero, m) ? -errno : 0;
}

int rg_bpf_fill_levels(struct rg_bpf *b, struct rg_bpf_fill out[RG_BPF_NR_MAPS])
{
	size_t i;
	int err;

	for (i = 0; i < RG_BPF_NR_MAPS; i++) {
		struct bpf_map_info info = {};
		__u32 len = sizeof(info);

		if (bpf_obj_get_info_by_fd(b->fds[i], &info, &len))
			return -errno;
		out[i].name = rg_bpf_layouts[i].name;
		out[i].max_entries = info.max_entries;
		if (info.type == BPF_MAP_TYPE_ARRAY || info.type == BPF_MAP_TYPE_PERCPU_ARRAY) {
			out[i].entries = info.max_entries;
			continue;
		}
		err = count_entries(b->fds[i], &out[i].entries);
		if (err)
			return err;
	}
	return 0;
}
