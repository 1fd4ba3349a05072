// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * bpfmaps.c: loads the relayguard BPF program (skeleton) with its settings, pins its maps
 * under pin_dir and reuses them across runs after a layout check, attaches it per interface
 * as a pinned XDP bpf_link or a clsact ingress tc filter, swaps the program in place on the
 * next run (no window without enforcement), detaches; and reads/writes the pinned maps by fd.
 * Takes rg_bpf_opts (from the configuration) or a pin dir; reports through user/log.h and
 * returns 0 or -errno.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/capability.h>
#include <linux/if_link.h>
#include <linux/magic.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpfmaps.h"
#include "log.h"
#include "relayguard.skel.h"

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

enum { M_HOSTS, M_FLOWS, M_CONNECTORS, M_VHOSTS, M_VCIDRS, M_STATS, M_META };

/* The layout readers expect; rg_bpf_attach checks against the new program's own maps. */
static const struct map_layout {
	const char *name;
	__u32 type;
	__u32 key_size;
	__u32 value_size;
} layouts[RG_BPF_NR_MAPS] = {
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
};

_Static_assert(sizeof(struct rg_stats) % sizeof(__u64) == 0, "rg_stats must be all __u64");

struct rg_bpf {
	char pin_dir[PATH_MAX];
	int fds[RG_BPF_NR_MAPS];
	unsigned host_prefix_v4, host_prefix_v6;
};

__attribute__((format(printf, 2, 0)))
static int libbpf_print_fn(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	enum rg_log_level l;

	switch (level) {
	case LIBBPF_WARN:
		l = RG_LOG_INFO;
		break;
	case LIBBPF_INFO:
		l = RG_LOG_DEBUG;
		break;
	default:
		/* Below debug: rg_vlog drops it at every level the agent can be set to. */
		l = (enum rg_log_level)(RG_LOG_DEBUG + 1);
		break;
	}
	rg_vlog(l, fmt, ap);
	return 0;
}

void rg_bpf_hook_libbpf_log(void)
{
	libbpf_set_print(libbpf_print_fn);
}

static int join_path(char *buf, size_t len, const char *dir, const char *a, const char *b)
{
	int n = snprintf(buf, len, "%s/%s%s", dir, a, b ? b : "");

	if (n < 0 || (size_t)n >= len) {
		pr_err("path too long: %s/%s%s", dir, a, b ? b : "");
		return -ENAMETOOLONG;
	}
	return 0;
}

static int check_ifname(const char *ifname, unsigned *ifindex)
{
	size_t len = strnlen(ifname, IFNAMSIZ);

	/* The name becomes part of a pin path: no '/' and no dot-only names. */
	if (len == 0 || len >= IFNAMSIZ || strchr(ifname, '/') || !strcmp(ifname, ".") ||
	    !strcmp(ifname, "..")) {
		char p[RG_PRINTABLE_MAX + 4];

		pr_err("invalid interface name '%s'", rg_printable(ifname, strlen(ifname), p));
		return -EINVAL;
	}
	if (!ifindex)
		return 0;
	*ifindex = if_nametoindex(ifname);
	if (!*ifindex) {
		int err = -errno;

		pr_err("interface %s not found in this network namespace: %s", ifname,
		       strerror(-err));
		return err;
	}
	return 0;
}

/* True if the effective set holds cap. */
static bool have_cap(int cap)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = {};

	if (syscall(SYS_capget, &hdr, data))
		return false;
	return data[cap / 32].effective & (1u << (cap % 32));
}

static int check_privileges(void)
{
	if ((have_cap(CAP_BPF) || have_cap(CAP_SYS_ADMIN)) && have_cap(CAP_NET_ADMIN))
		return 0;
	pr_err("loading and attaching the BPF program needs root (CAP_BPF and CAP_NET_ADMIN, "
	       "or CAP_SYS_ADMIN on kernels before 5.8); run relayguardd as root");
	return -EPERM;
}

static int check_bpffs(const char *pin_dir)
{
	char parent[PATH_MAX];
	struct statfs sfs;
	const char *where = pin_dir;
	char *slash;

	if (strlen(pin_dir) >= sizeof(parent) || pin_dir[0] != '/') {
		pr_err("pin_dir must be an absolute path: %s", pin_dir);
		return -EINVAL;
	}
	if (statfs(pin_dir, &sfs)) {
		strcpy(parent, pin_dir);
		slash = strrchr(parent, '/');
		if (slash == parent)
			slash[1] = '\0';
		else
			*slash = '\0';
		where = parent;
		if (statfs(parent, &sfs)) {
			int err = -errno;

			pr_err("pin_dir parent %s: %s; mount bpffs there: mount -t bpf bpf %s",
			       parent, strerror(-err), parent);
			return err;
		}
	}
	if ((unsigned long)sfs.f_type != BPF_FS_MAGIC) {
		pr_err("%s is not on a bpffs; mount it: mount -t bpf bpf %s", where,
		       where == pin_dir ? "/sys/fs/bpf" : where);
		return -ENOTSUP;
	}
	return 0;
}

static int check_btf(void)
{
	if (access("/sys/kernel/btf/vmlinux", R_OK) == 0)
		return 0;
	pr_err("/sys/kernel/btf/vmlinux missing: this kernel lacks BTF "
	       "(CONFIG_DEBUG_INFO_BTF=y is needed)");
	return -ENOTSUP;
}

static const char *map_type_name(__u32 type)
{
	const char *s = libbpf_bpf_map_type_str((enum bpf_map_type)type);

	return s ? s : "?";
}

static void upgrade_hint(const char *pin_dir)
{
	pr_err("upgrade path: stop relayguardd, run `relayguardctl detach --purge` (or remove %s), "
	       "then start relayguardd again: it recreates the maps and pushes its persisted "
	       "verdicts back",
	       pin_dir);
}

/*
 * Open the pin of one map and compare its layout with want. 0 and *fd (and *info), -ENOENT
 * when not pinned, -EINVAL with a message on a mismatch.
 */
static int open_checked(const char *pin_dir, const struct map_layout *want, int *fd,
			struct bpf_map_info *info)
{
	char path[PATH_MAX];
	__u32 len = sizeof(*info);
	int err;

	err = join_path(path, sizeof(path), pin_dir, want->name, NULL);
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
		upgrade_hint(pin_dir);
		err = -EINVAL;
		goto out;
	}
	return 0;
out:
	close(*fd);
	*fd = -1;
	return err;
}

static int check_layout_version(const char *pin_dir, int meta_fd)
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
	upgrade_hint(pin_dir);
	return -EINVAL;
}

static struct rg_bpf *rg_bpf_new(const char *pin_dir)
{
	struct rg_bpf *b = calloc(1, sizeof(*b));
	size_t i;

	if (!b)
		return NULL;
	for (i = 0; i < RG_BPF_NR_MAPS; i++)
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
	for (i = 0; i < RG_BPF_NR_MAPS; i++)
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
	for (i = 0; i < RG_BPF_NR_MAPS; i++) {
		err = open_checked(pin_dir, &layouts[i], &b->fds[i], &info);
		if (err == -ENOENT)
			pr_err("no pinned map %s/%s: is relayguardd running (it loads the program)?",
			       pin_dir, layouts[i].name);
		if (err)
			goto out;
	}
	err = check_layout_version(pin_dir, b->fds[M_META]);
	if (err)
		goto out;
	*out = b;
	return 0;
out:
	rg_bpf_close(b);
	return err;
}

/* ---- attach ---- */

static int prog_name_by_id(__u32 id, char name[BPF_OBJ_NAME_LEN])
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	int fd, err = 0;

	name[0] = '\0';
	fd = bpf_prog_get_fd_by_id(id);
	if (fd < 0)
		return -errno;
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		err = -errno;
	else
		snprintf(name, BPF_OBJ_NAME_LEN, "%s", info.name);
	close(fd);
	return err;
}

static __u32 prog_id_of_fd(int fd)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return 0;
	return info.id;
}

/* Remove our tc filter on ifname, if the pin says we put one there. */
static int tc_detach_one(const char *pin_dir, const char *ifname)
{
	char path[PATH_MAX];
	unsigned ifindex;
	int fd, err;

	err = join_path(path, sizeof(path), pin_dir, RG_PIN_TC_PREFIX, ifname);
	if (err)
		return err;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	ifindex = if_nametoindex(ifname);
	if (ifindex) {
		DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = (int)ifindex,
				    .attach_point = BPF_TC_INGRESS);
		DECLARE_LIBBPF_OPTS(bpf_tc_opts, q, .handle = RG_TC_HANDLE,
				    .priority = RG_TC_PRIORITY);
		__u32 ours = prog_id_of_fd(fd);

		if (bpf_tc_query(&hook, &q) == 0) {
			if (q.prog_id != ours) {
				pr_warn("tc filter %#x on %s runs prog id %u, not ours (%u): left "
					"in place",
					RG_TC_HANDLE, ifname, q.prog_id, ours);
			} else {
				q.prog_id = 0;
				q.flags = 0;
				err = bpf_tc_detach(&hook, &q);
				if (err) {
					pr_err("detaching tc filter from %s: %s", ifname,
					       strerror(-err));
					close(fd);
					return err;
				}
				pr_info("detached tc filter from %s", ifname);
			}
		}
	}
	close(fd);
	if (unlink(path) && errno != ENOENT)
		return -errno;
	return 0;
}

/* Remove our XDP link on ifname: detach it (even if something else holds an fd) and unpin. */
static int xdp_detach_one(const char *pin_dir, const char *ifname)
{
	char path[PATH_MAX];
	int fd, err;

	err = join_path(path, sizeof(path), pin_dir, RG_PIN_LINK_PREFIX, ifname);
	if (err)
		return err;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (bpf_link_detach(fd) && errno != ENOLINK && errno != EINVAL)
		pr_warn("detaching XDP link on %s: %s", ifname, strerror(errno));
	else
		pr_info("detached XDP from %s", ifname);
	close(fd);
	if (unlink(path) && errno != ENOENT)
		return -errno;
	return 0;
}

static int attach_xdp_new(unsigned ifindex, const char *ifname, int prog_fd,
			  enum rg_attach_mode mode, int *link_fd)
{
	DECLARE_LIBBPF_OPTS(bpf_link_create_opts, lo);
	DECLARE_LIBBPF_OPTS(bpf_xdp_query_opts, q);
	char name[BPF_OBJ_NAME_LEN];
	int err;

	err = bpf_xdp_query((int)ifindex, 0, &q);
	if (err) {
		pr_err("querying XDP on %s: %s", ifname, strerror(-err));
		return err;
	}
	if (q.prog_id) {
		prog_name_by_id(q.prog_id, name);
		pr_err("%s already runs another XDP program (prog id %u, name '%s'), not "
		       "relayguard's; remove it first: `ip link set dev %s xdp off`, or "
		       "`xdp-loader unload %s --all`",
		       ifname, q.prog_id, name, ifname, ifname);
		return -EBUSY;
	}
	lo.flags = mode == RG_ATTACH_GENERIC ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE;
	*link_fd = bpf_link_create(prog_fd, (int)ifindex, BPF_XDP, &lo);
	if (*link_fd < 0 && mode == RG_ATTACH_AUTO) {
		pr_warn("native XDP on %s failed (%s): falling back to generic XDP", ifname,
			strerror(errno));
		lo.flags = XDP_FLAGS_SKB_MODE;
		*link_fd = bpf_link_create(prog_fd, (int)ifindex, BPF_XDP, &lo);
	}
	if (*link_fd < 0) {
		err = -errno;
		pr_err("attaching %s XDP to %s: %s", rg_attach_mode_name(
		       lo.flags == XDP_FLAGS_SKB_MODE ? RG_ATTACH_GENERIC : RG_ATTACH_NATIVE),
		       ifname, strerror(-err));
		return err;
	}
	pr_info("attached %s XDP to %s", rg_attach_mode_name(lo.flags == XDP_FLAGS_SKB_MODE ?
		RG_ATTACH_GENERIC : RG_ATTACH_NATIVE), ifname);
	return 0;
}

static int attach_xdp(const char *pin_dir, const char *ifname, unsigned ifindex, int prog_fd,
		      enum rg_attach_mode mode)
{
	DECLARE_LIBBPF_OPTS(bpf_xdp_query_opts, q);
	struct bpf_link_info li = {};
	__u32 len = sizeof(li);
	char path[PATH_MAX];
	int fd, err;

	err = join_path(path, sizeof(path), pin_dir, RG_PIN_LINK_PREFIX, ifname);
	if (err)
		return err;
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		if (bpf_obj_get_info_by_fd(fd, &li, &len) || li.type != BPF_LINK_TYPE_XDP ||
		    li.xdp.ifindex != ifindex) {
			/* The interface went away (and maybe came back): the link is dead. */
			pr_info("stale XDP link pin %s: replacing it", path);
			close(fd);
			fd = -1;
			unlink(path);
		} else if (bpf_xdp_query((int)ifindex, 0, &q) == 0 &&
			   ((mode == RG_ATTACH_NATIVE && q.attach_mode != XDP_ATTACHED_DRV) ||
			    (mode == RG_ATTACH_GENERIC && q.attach_mode != XDP_ATTACHED_SKB))) {
			/* A link cannot change mode: this one switch leaves a short gap. */
			pr_warn("%s runs XDP in the other mode: switching to %s XDP detaches "
				"first, leaving a short window without enforcement",
				ifname, rg_attach_mode_name(mode));
			close(fd);
			fd = -1;
			err = xdp_detach_one(pin_dir, ifname);
			if (err)
				return err;
		} else {
			__u32 old = li.prog_id;

			if (bpf_link_update(fd, prog_fd, NULL)) {
				err = -errno;
				pr_err("replacing the program on %s (link id %u): %s", ifname,
				       li.id, strerror(-err));
				close(fd);
				return err;
			}
			pr_info("replaced XDP program on %s atomically: link id %u, prog id %u -> "
				"%u",
				ifname, li.id, old, prog_id_of_fd(prog_fd));
			close(fd);
			return 0;
		}
	}
	err = attach_xdp_new(ifindex, ifname, prog_fd, mode, &fd);
	if (err)
		return err;
	if (bpf_obj_pin(fd, path)) {
		err = -errno;
		pr_err("pinning XDP link at %s: %s", path, strerror(-err));
		/* Closing the only fd detaches: nothing half-done stays behind. */
	}
	close(fd);
	return err;
}

static int attach_tc(const char *pin_dir, const char *ifname, unsigned ifindex, int prog_fd)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = (int)ifindex,
			    .attach_point = BPF_TC_INGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, o, .handle = RG_TC_HANDLE, .priority = RG_TC_PRIORITY,
			    .prog_fd = prog_fd, .flags = BPF_TC_F_REPLACE);
	char path[PATH_MAX];
	int err;

	err = join_path(path, sizeof(path), pin_dir, RG_PIN_TC_PREFIX, ifname);
	if (err)
		return err;
	/* The pinned program is the record of what we attached (detach and status compare
	 * prog ids), so it is written before the filter: a failure leaves no unrecorded
	 * filter behind. bpffs has no rename, hence unlink and pin. */
	if ((unlink(path) && errno != ENOENT) || bpf_obj_pin(prog_fd, path)) {
		err = -errno;
		pr_err("pinning tc program at %s: %s", path, strerror(-err));
		return err;
	}
	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST) {
		pr_err("creating clsact qdisc on %s: %s", ifname, strerror(-err));
		return err;
	}
	/* BPF_TC_F_REPLACE swaps the program of our handle/priority in one netlink request. */
	err = bpf_tc_attach(&hook, &o);
	if (err) {
		pr_err("attaching tc filter to %s: %s", ifname, strerror(-err));
		return err;
	}
	pr_info("attached tc ingress filter to %s (prog id %u)", ifname, o.prog_id);
	return 0;
}

static int attach_iface(const char *pin_dir, const char *ifname, enum rg_attach_mode mode,
			int xdp_fd, int tc_fd)
{
	unsigned ifindex;
	int err;

	err = check_ifname(ifname, &ifindex);
	if (err)
		return err;
	/* The new attachment goes first, the other kind is removed after: no gap. */
	if (mode == RG_ATTACH_TC) {
		err = attach_tc(pin_dir, ifname, ifindex, tc_fd);
		if (!err)
			err = xdp_detach_one(pin_dir, ifname);
	} else {
		err = attach_xdp(pin_dir, ifname, ifindex, xdp_fd, mode);
		if (!err)
			err = tc_detach_one(pin_dir, ifname);
	}
	return err;
}

/* Configure one map before load: check a pinned one, adopt its size, set the pin path. */
static int prepare_map(struct bpf_object *obj, const char *pin_dir, const char *name,
		       __u32 want_max)
{
	struct bpf_map *map = bpf_object__find_map_by_name(obj, name);
	struct map_layout want;
	struct bpf_map_info info;
	char path[PATH_MAX];
	int fd, err;

	if (!map) {
		pr_err("the BPF object has no map '%s'", name);
		return -ENOENT;
	}
	if (want_max) {
		err = bpf_map__set_max_entries(map, want_max);
		if (err) {
			pr_err("setting %s size to %u: %s", name, want_max, strerror(-err));
			return err;
		}
	}
	want = (struct map_layout){ name, bpf_map__type(map), bpf_map__key_size(map),
				    bpf_map__value_size(map) };
	err = open_checked(pin_dir, &want, &fd, &info);
	if (err && err != -ENOENT)
		return err;
	if (!err) {
		if (info.max_entries != bpf_map__max_entries(map)) {
			/* A pinned map cannot grow; resizing means losing its contents. */
			pr_warn("pinned map %s/%s has %u entries, configured %u: keeping %u until "
				"the pins are purged (relayguardctl detach --purge)",
				pin_dir, name, info.max_entries, bpf_map__max_entries(map),
				info.max_entries);
			bpf_map__set_max_entries(map, info.max_entries);
		}
		if (info.map_flags != bpf_map__map_flags(map)) {
			pr_err("pinned map %s/%s has flags %#x, this version needs %#x", pin_dir,
			       name, info.map_flags, bpf_map__map_flags(map));
			upgrade_hint(pin_dir);
			close(fd);
			return -EINVAL;
		}
		if (!strcmp(name, RG_MAP_META)) {
			err = check_layout_version(pin_dir, fd);
			if (err) {
				close(fd);
				return err;
			}
		}
		close(fd);
	}
	err = join_path(path, sizeof(path), pin_dir, name, NULL);
	if (!err)
		err = bpf_map__set_pin_path(map, path);
	return err;
}

static int write_layout_version(int meta_fd)
{
	struct rg_meta m = {};
	__u32 zero = 0;

	if (bpf_map_lookup_elem(meta_fd, &zero, &m))
		return -errno;
	m.layout_version = RG_LAYOUT_VERSION;
	if (bpf_map_update_elem(meta_fd, &zero, &m, BPF_ANY))
		return -errno;
	return 0;
}

static int open_fds(struct rg_bpf *b)
{
	char path[PATH_MAX];
	size_t i;
	int err;

	for (i = 0; i < RG_BPF_NR_MAPS; i++) {
		err = join_path(path, sizeof(path), b->pin_dir, layouts[i].name, NULL);
		if (err)
			return err;
		b->fds[i] = bpf_obj_get(path);
		if (b->fds[i] < 0) {
			err = -errno;
			pr_err("opening pinned map %s: %s", path, strerror(-err));
			return err;
		}
	}
	return 0;
}

int rg_bpf_attach(const struct rg_bpf_opts *o, struct rg_bpf **out)
{
	struct relayguard *skel = NULL;
	struct rg_bpf *b = NULL;
	size_t i;
	int err;

	*out = NULL;
	if (!o->pin_dir || !o->n_ifaces || !o->n_ports || o->n_ports > RG_MAX_PORTS ||
	    o->host_prefix_v4 < 1 || o->host_prefix_v4 > 32 || o->host_prefix_v6 < 1 ||
	    o->host_prefix_v6 > 128) {
		pr_err("bpf attach: need a pin dir, 1..%d interfaces, 1..%d ports, host prefixes "
		       "1..32 and 1..128",
		       RG_MAX_IFACES, RG_MAX_PORTS);
		return -EINVAL;
	}
	for (i = 0; i < o->n_ports; i++) {
		if (!o->ports[i]) {
			pr_err("bpf attach: port 0 is not a port");
			return -EINVAL;
		}
	}
	err = check_privileges();
	if (!err)
		err = check_bpffs(o->pin_dir);
	if (!err)
		err = check_btf();
	for (i = 0; !err && i < o->n_ifaces; i++) {
		unsigned ifindex;

		err = check_ifname(o->ifaces[i], &ifindex);
	}
	if (err)
		return err;
	if (mkdir(o->pin_dir, 0700) && errno != EEXIST) {
		err = -errno;
		pr_err("creating pin dir %s: %s", o->pin_dir, strerror(-err));
		return err;
	}

	skel = relayguard__open();
	if (!skel) {
		err = -errno ?: -EINVAL;
		pr_err("opening the BPF object: %s", strerror(-err));
		return err;
	}
	/* Settings go into rodata between open and load: the verifier sees them as constants. */
	for (i = 0; i < RG_MAX_PORTS; i++)
		skel->rodata->smtp_ports[i] = i < o->n_ports ? o->ports[i] : 0;
	skel->rodata->nr_smtp_ports = o->n_ports;
	skel->rodata->host_prefix_v4 = o->host_prefix_v4;
	skel->rodata->host_prefix_v6 = o->host_prefix_v6;

	err = prepare_map(skel->obj, o->pin_dir, RG_MAP_HOSTS, o->host_table_size) ?:
	      prepare_map(skel->obj, o->pin_dir, RG_MAP_FLOWS, o->flow_table_size) ?:
	      prepare_map(skel->obj, o->pin_dir, RG_MAP_CONNECTORS, o->connector_table_size) ?:
	      prepare_map(skel->obj, o->pin_dir, RG_MAP_VERDICT_HOSTS, o->verdict_table_size) ?:
	      prepare_map(skel->obj, o->pin_dir, RG_MAP_VERDICT_CIDRS, o->verdict_table_size) ?:
	      prepare_map(skel->obj, o->pin_dir, RG_MAP_STATS, 0) ?:
	      prepare_map(skel->obj, o->pin_dir, RG_MAP_META, 0);
	if (err)
		goto out;

	/* Reuses the pinned maps set above, pins the new ones. */
	err = relayguard__load(skel);
	if (err) {
		pr_err("loading the BPF program failed: %s (run with debug logging for the "
		       "verifier log)", strerror(-err));
		goto out;
	}
	b = rg_bpf_new(o->pin_dir);
	if (!b) {
		err = -ENOMEM;
		goto out;
	}
	b->host_prefix_v4 = o->host_prefix_v4;
	b->host_prefix_v6 = o->host_prefix_v6;
	err = open_fds(b);
	if (err)
		goto out;
	err = write_layout_version(b->fds[M_META]);
	if (err) {
		pr_err("writing %s/%s: %s", o->pin_dir, RG_MAP_META, strerror(-err));
		goto out;
	}
	for (i = 0; i < o->n_ifaces; i++) {
		err = attach_iface(o->pin_dir, o->ifaces[i], o->mode,
				   bpf_program__fd(skel->progs.rg_xdp),
				   bpf_program__fd(skel->progs.rg_tc));
		if (err)
			goto out;
	}
	*out = b;
	b = NULL;
out:
	rg_bpf_close(b);
	relayguard__destroy(skel);
	return err;
}

static bool has_prefix(const char *s, const char *p)
{
	return !strncmp(s, p, strlen(p));
}

int rg_bpf_detach(const char *pin_dir, const char *const *ifaces, size_t n, bool purge_maps)
{
	char path[PATH_MAX];
	int err = 0, e;
	size_t i;

	if (n) {
		for (i = 0; i < n; i++) {
			e = check_ifname(ifaces[i], NULL);
			if (!e)
				e = xdp_detach_one(pin_dir, ifaces[i]);
			if (!e)
				e = tc_detach_one(pin_dir, ifaces[i]);
			if (e && !err)
				err = e;
		}
	} else {
		/* No list: every interface that has a pin. */
		DIR *d = opendir(pin_dir);
		struct dirent *de;

		if (!d)
			return errno == ENOENT ? 0 : -errno;
		while ((de = readdir(d))) {
			if (has_prefix(de->d_name, RG_PIN_LINK_PREFIX))
				e = xdp_detach_one(pin_dir,
						   de->d_name + strlen(RG_PIN_LINK_PREFIX));
			else if (has_prefix(de->d_name, RG_PIN_TC_PREFIX))
				e = tc_detach_one(pin_dir, de->d_name + strlen(RG_PIN_TC_PREFIX));
			else
				continue;
			if (e && !err)
				err = e;
		}
		closedir(d);
	}
	if (err || !purge_maps)
		return err;
	for (i = 0; i < RG_BPF_NR_MAPS; i++) {
		err = join_path(path, sizeof(path), pin_dir, layouts[i].name, NULL);
		if (err)
			return err;
		if (unlink(path) && errno != ENOENT) {
			err = -errno;
			pr_err("unpinning %s: %s", path, strerror(-err));
			return err;
		}
	}
	if (rmdir(pin_dir) && errno != ENOENT) {
		err = -errno;
		pr_err("removing %s: %s (still attached to other interfaces?)", pin_dir,
		       strerror(-err));
		return err;
	}
	pr_info("purged pinned maps in %s", pin_dir);
	return 0;
}

int rg_bpf_iface_status(const char *pin_dir, const char *ifname, struct rg_bpf_iface_status *st)
{
	struct bpf_link_info li = {};
	__u32 len = sizeof(li);
	char path[PATH_MAX];
	unsigned ifindex;
	int fd, err;

	memset(st, 0, sizeof(*st));
	err = check_ifname(ifname, &ifindex);
	if (err)
		return err;
	err = join_path(path, sizeof(path), pin_dir, RG_PIN_LINK_PREFIX, ifname);
	if (err)
		return err;
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		if (!bpf_obj_get_info_by_fd(fd, &li, &len) && li.type == BPF_LINK_TYPE_XDP &&
		    li.xdp.ifindex == ifindex) {
			DECLARE_LIBBPF_OPTS(bpf_xdp_query_opts, q);

			st->link_id = li.id;
			st->prog_id = li.prog_id;
			st->kind = RG_BPF_XDP_NATIVE;
			if (!bpf_xdp_query((int)ifindex, 0, &q) && q.attach_mode == XDP_ATTACHED_SKB)
				st->kind = RG_BPF_XDP_GENERIC;
		}
		close(fd);
	} else {
		DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = (int)ifindex,
				    .attach_point = BPF_TC_INGRESS);
		DECLARE_LIBBPF_OPTS(bpf_tc_opts, q, .handle = RG_TC_HANDLE,
				    .priority = RG_TC_PRIORITY);

		err = join_path(path, sizeof(path), pin_dir, RG_PIN_TC_PREFIX, ifname);
		if (err)
			return err;
		fd = bpf_obj_get(path);
		if (fd >= 0) {
			if (!bpf_tc_query(&hook, &q) && q.prog_id == prog_id_of_fd(fd)) {
				st->kind = RG_BPF_TC;
				st->prog_id = q.prog_id;
			}
			close(fd);
		}
	}
	if (st->prog_id) {
		char name[BPF_OBJ_NAME_LEN];

		prog_name_by_id(st->prog_id, name);
		snprintf(st->prog_name, sizeof(st->prog_name), "%s", name);
	}
	return 0;
}

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

static int count_entries(int fd, __u32 *count)
{
	void *keys;
	size_t n;
	int err = collect_keys(fd, &keys, &n);

	free(keys);
	*count = (__u32)n;
	return err;
}

/* meta.cidr_verdicts lets the program skip the trie while it is empty; recounting after
 * every change keeps it exact whatever happened before (a crash between two writes). */
static int sync_cidr_count(struct rg_bpf *b)
{
	struct rg_meta m = {};
	__u32 zero = 0, count;
	int err;

	err = count_entries(b->fds[M_VCIDRS], &count);
	if (err)
		return err;
	if (bpf_map_lookup_elem(b->fds[M_META], &zero, &m))
		return -errno;
	m.cidr_verdicts = count;
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
	return 0;
}

int rg_bpf_verdict_host_delete(struct rg_bpf *b, const uint8_t key[16])
{
	struct rg_host_key k;

	memcpy(k.addr, key, sizeof(k.addr));
	if (bpf_map_delete_elem(b->fds[M_VHOSTS], &k))
		return -errno;
	return 0;
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
	return sync_cidr_count(b);
}

int rg_bpf_verdict_cidr_delete(struct rg_bpf *b, const struct rg_lpm_key *key)
{
	int err = 0;

	if (bpf_map_delete_elem(b->fds[M_VCIDRS], key))
		err = -errno;
	int e = sync_cidr_count(b);

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

/* Walk a hash map with get_next_key, bounded by max_entries: LRU maps change under us. */
static int walk(int fd, size_t key_size, size_t value_size,
		int (*fn)(const void *k, const void *v, void *ctx), void *ctx)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	char *buf, *k, *next, *v;
	bool first = true;
	size_t i;
	int err = 0;

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	if (info.key_size != key_size || info.value_size != value_size)
		return -EINVAL;
	buf = calloc(1, 2 * key_size + value_size);
	if (!buf)
		return -ENOMEM;
	k = buf;
	next = buf + key_size;
	v = next + key_size;
	for (i = 0; i < info.max_entries; i++) {
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
	 * a retag happens only on reload, so that is a handful at most. */
	return bpf_map_update_elem(b->fds[M_HOSTS], &k, &h, BPF_EXIST) ? -errno : 0;
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
		out[i].name = layouts[i].name;
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
