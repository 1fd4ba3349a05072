// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * bpfload.c: loads the relayguard BPF program (skeleton) with its settings, pins its maps
 * under pin_dir and reuses them across runs after a layout check, attaches it per interface
 * as a pinned XDP bpf_link or a clsact ingress tc filter, swaps the program in place on the
 * next run (no window without enforcement), detaches, and reports what is attached.
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
#include <sys/random.h>
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

#include "bpfpins.h"
#include "log.h"
#include "relayguard.skel.h"

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

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

/* The pin PREFIX<ifname> into path and *fd; 0 with *fd = -1 when there is none. */
static int open_iface_pin(const char *pin_dir, const char *prefix, const char *ifname,
			  char path[PATH_MAX], int *fd)
{
	int err = rg_bpf_join_path(path, PATH_MAX, pin_dir, prefix, ifname);

	*fd = -1;
	if (err)
		return err;
	*fd = bpf_obj_get(path);
	if (*fd < 0)
		return errno == ENOENT ? 0 : -errno;
	return 0;
}

/* Remove our tc filter on ifname, if the pin says we put one there. */
static int tc_detach_one(const char *pin_dir, const char *ifname)
{
	char path[PATH_MAX];
	unsigned ifindex;
	int fd, err;

	err = open_iface_pin(pin_dir, RG_PIN_TC_PREFIX, ifname, path, &fd);
	if (err || fd < 0)
		return err;
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

	err = open_iface_pin(pin_dir, RG_PIN_LINK_PREFIX, ifname, path, &fd);
	if (err || fd < 0)
		return err;
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
	pr_info("attached %s XDP to %s (prog id %u)", rg_attach_mode_name(
		lo.flags == XDP_FLAGS_SKB_MODE ? RG_ATTACH_GENERIC : RG_ATTACH_NATIVE), ifname,
		prog_id_of_fd(prog_fd));
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

	err = rg_bpf_join_path(path, sizeof(path), pin_dir, RG_PIN_LINK_PREFIX, ifname);
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

	err = rg_bpf_join_path(path, sizeof(path), pin_dir, RG_PIN_TC_PREFIX, ifname);
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
	struct rg_map_layout want;
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
	want = (struct rg_map_layout){ name, bpf_map__type(map), bpf_map__key_size(map),
				    bpf_map__value_size(map) };
	err = rg_bpf_open_checked(pin_dir, &want, &fd, &info);
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
			rg_bpf_upgrade_hint(pin_dir);
			close(fd);
			return -EINVAL;
		}
		if (!strcmp(name, RG_MAP_META)) {
			err = rg_bpf_check_layout_version(pin_dir, fd);
			if (err) {
				close(fd);
				return err;
			}
		}
		close(fd);
	}
	err = rg_bpf_join_path(path, sizeof(path), pin_dir, name, NULL);
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

	for (i = 0; i < NR_PINNED; i++) {
		err = rg_bpf_join_path(path, sizeof(path), b->pin_dir, rg_bpf_layouts[i].name, NULL);
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
	skel->rodata->tc_mark_mask = o->tenant_mark_mask;
	skel->rodata->tc_mark_shift = o->tenant_mark_mask ? __builtin_ctz(o->tenant_mark_mask) : 0;
	/* The SYN sketch's hash seed: unknown to a flood, so it cannot aim at a real host's
	 * cells (a short read leaves a fixed seed: weaker, not wrong). */
	if (getrandom((void *)&skel->rodata->sketch_seed, sizeof(skel->rodata->sketch_seed),
		      GRND_NONBLOCK) != sizeof(skel->rodata->sketch_seed))
		skel->rodata->sketch_seed = 0x9e3779b9;

	err = prepare_map(skel->obj, o->pin_dir, RG_MAP_HOSTS, o->host_table_size) ?:
	      prepare_map(skel->obj, o->pin_dir, RG_MAP_FLOWS, o->flow_table_size) ?:
	      prepare_map(skel->obj, o->pin_dir, RG_MAP_CONNECTORS, o->connector_table_size) ?:
	      prepare_map(skel->obj, o->pin_dir, RG_MAP_VERDICT_HOSTS, o->verdict_table_size) ?:
	      prepare_map(skel->obj, o->pin_dir, RG_MAP_VERDICT_CIDRS, o->verdict_table_size) ?:
	      prepare_map(skel->obj, o->pin_dir, RG_MAP_STATS, 0) ?:
	      prepare_map(skel->obj, o->pin_dir, RG_MAP_META, 0) ?:
	      prepare_map(skel->obj, o->pin_dir, RG_MAP_TENANT_LIMITS, 0) ?:
	      prepare_map(skel->obj, o->pin_dir, RG_MAP_RATE_EVENTS, 0);
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
	for (i = 0; i < NR_PINNED; i++) {
		err = rg_bpf_join_path(path, sizeof(path), pin_dir, rg_bpf_layouts[i].name, NULL);
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
	err = rg_bpf_join_path(path, sizeof(path), pin_dir, RG_PIN_LINK_PREFIX, ifname);
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

		err = rg_bpf_join_path(path, sizeof(path), pin_dir, RG_PIN_TC_PREFIX, ifname);
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
