// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * agent_ctl.c: the control-socket commands of relayguardd (wire format documented at the
 * top of tools/relayguardctl.c): status, tenants, hosts, block/throttle/unblock host,
 * restrict/unblock tenant, reload. Takes the narrow view of the agent in agent_ctl.h.
 * Operator changes go through the engine, which audits them with the peer's credentials
 * and pushes verdicts into the kernel; `hosts` is the listing of hosts.h.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "agent_ctl.h"
#include "clock.h"
#include "hosts.h"
#include "log.h"
#include "version.h"

#define NS 1000000000ull

static json_object *time_or_null(uint64_t real_ns)
{
	return real_ns ? json_object_new_int64((int64_t)(real_ns / NS)) : NULL;
}

/* ---- status ----------------------------------------------------------------------- */

struct vcount {
	uint64_t blocked, throttled;
};

static int count_verdicts(const struct rg_engine_verdict *v, void *ctx)
{
	struct vcount *c = ctx;

	if (v->action == RG_ACT_BLOCK)
		c->blocked++;
	else if (v->action == RG_ACT_THROTTLE)
		c->throttled++;
	return 0;
}

/* [fleet]: this relay's link, as status and fleet show it. */
static json_object *fleet_self(const struct rg_fleet *f)
{
	struct rg_fleet_stats fs;
	json_object *o = json_object_new_object();

	rg_fleet_stats(f, &fs);
	json_object_object_add(o, "relay", json_object_new_string(fs.relay_id));
	json_object_object_add(o, "link", json_object_new_string(fs.link_up ? "up" : "down"));
	json_object_object_add(o, "synced", json_object_new_boolean(fs.synced));
	json_object_object_add(o, "queue", json_object_new_int64((int64_t)fs.queue_depth));
	json_object_object_add(o, "lag_ms", json_object_new_int64((int64_t)fs.lag_ms));
	json_object_object_add(o, "last_id", json_object_new_string(fs.last_id));
	json_object_object_add(o, "fallbacks", json_object_new_int64((int64_t)fs.fallbacks));
	return o;
}

/* Every relay's last heartbeat in Redis (as read at the last tick), oldest last. */
static int do_fleet(void *ctx, const struct rg_peer *peer, json_object *req, json_object *rep)
{
	struct rg_agent_ctl *a = ctx;
	const char *text;
	json_object *all, *arr;
	uint64_t now_ms = rg_now_real_ns() / 1000000u;

	(void)peer;
	(void)req;
	if (!a->fleet)
		return rg_control_fail(rep, RG_CTL_E_UNAVAILABLE, "no [fleet] in the configuration");
	json_object_object_add(rep, "self", fleet_self(a->fleet));
	arr = json_object_new_array();
	text = rg_fleet_relays_json(a->fleet);
	all = text ? json_tokener_parse(text) : NULL;
	if (all) {
		json_object_object_foreach(all, id, v) {
			json_object *o = json_object_new_object(), *x;
			int64_t hb = json_object_object_get_ex(v, "heartbeat_ms", &x)
					     ? json_object_get_int64(x) : 0;

			json_object_object_add(o, "id", json_object_new_string(id));
			json_object_object_add(o, "heartbeat_age_s",
					       json_object_new_double(hb && (uint64_t)hb < now_ms ?
								      (double)(now_ms - (uint64_t)hb) / 1e3
								      : 0));
			if (json_object_object_get_ex(v, "link", &x))
				json_object_object_add(o, "link", json_object_get(x));
			if (json_object_object_get_ex(v, "synced", &x))
				json_object_object_add(o, "synced", json_object_get(x));
			if (json_object_object_get_ex(v, "queue", &x))
				json_object_object_add(o, "queue", json_object_get(x));
			if (json_object_object_get_ex(v, "lag_ms", &x))
				json_object_object_add(o, "lag_ms", json_object_get(x));
			json_object_array_add(arr, o);
		}
		json_object_put(all);
	}
	json_object_object_add(rep, "relays", arr);
	return 0;
}

static int do_status(void *ctx, const struct rg_peer *peer, json_object *req, json_object *rep)
{
	struct rg_agent_ctl *a = ctx;
	const struct rg_config *c = a->ops->config(a->ctx);
	/* Restart-only keys: the values that run, not what a reload read. */
	const struct rg_config *sc = a->ops->start_config(a->ctx);
	struct rg_agent_status as = { 0 };
	json_object *ifs = json_object_new_array(), *maps = json_object_new_array();
	json_object *restart = json_object_new_array();

	a->ops->status(a->ctx, &as);
	json_object_object_add(rep, "version", json_object_new_string(RG_VERSION));
	json_object_object_add(rep, "pid", json_object_new_int(getpid()));
	json_object_object_add(rep, "uptime_s",
			       json_object_new_int64((int64_t)((rg_now_real_ns() -
								 as.started_real_ns) / NS)));
	json_object_object_add(rep, "mode", json_object_new_string(rg_mode_name(c->mode)));
	json_object_object_add(rep, "fail_mode",
			       json_object_new_string(rg_fail_mode_name(c->fail_mode)));
	for (size_t i = 0; i < sc->n_interfaces; i++) {
		struct rg_bpf_iface_status st = { 0 };
		json_object *o = json_object_new_object();

		if (rg_bpf_iface_status(sc->pin_dir, sc->interfaces[i], &st))
			st.kind = RG_BPF_NONE;
		json_object_object_add(o, "name", json_object_new_string(sc->interfaces[i]));
		json_object_object_add(o, "attach",
				       json_object_new_string(rg_attach_kind_name(st.kind)));
		json_object_object_add(o, "prog_id", json_object_new_int64(st.prog_id));
		json_object_array_add(ifs, o);
	}
	json_object_object_add(rep, "interfaces", ifs);
	for (size_t i = 0; i < as.n_restart_keys; i++)
		json_object_array_add(restart, json_object_new_string(as.restart_keys[i]));
	json_object_object_add(rep, "restart_pending",
			       json_object_new_boolean(as.n_restart_keys > 0));
	json_object_object_add(rep, "restart_keys", restart);

	struct rg_bpf_fill fill[RG_BPF_NR_MAPS];
	if (a->bpf && !rg_bpf_fill_levels(a->bpf, fill)) {
		for (int i = 0; i < RG_BPF_NR_MAPS; i++) {
			json_object *o = json_object_new_object();
			json_object_object_add(o, "name", json_object_new_string(fill[i].name));
			json_object_object_add(o, "entries", json_object_new_int64(fill[i].entries));
			json_object_object_add(o, "max_entries",
					       json_object_new_int64(fill[i].max_entries));
			json_object_array_add(maps, o);
		}
	}
	json_object_object_add(rep, "maps", maps);

	if (a->fleet)
		json_object_object_add(rep, "fleet", fleet_self(a->fleet));
	json_object_object_add(rep, "policy_connections",
			       json_object_new_int64((int64_t)as.policy_connections));
	json_object_object_add(rep, "policy_requests",
			       json_object_new_int64((int64_t)as.policy_requests));

	struct rg_engine_counters ec;
	struct vcount vc = { 0 };
	rg_engine_get_counters(a->engine, &ec);
	rg_engine_verdict_foreach(a->engine, count_verdicts, &vc);
	json_object_object_add(rep, "tenants", json_object_new_int64((int64_t)c->n_tenants));
	json_object_object_add(rep, "tenants_restricted",
			       json_object_new_int64((int64_t)ec.restricted_tenants));
	json_object_object_add(rep, "hosts_blocked", json_object_new_int64((int64_t)vc.blocked));
	json_object_object_add(rep, "hosts_throttled", json_object_new_int64((int64_t)vc.throttled));
	json_object_object_add(rep, "state_save_error",
			       as.last_state_error ?
				       json_object_new_string(strerror(-as.last_state_error)) :
				       NULL);
	return 0;
}

/* ---- tenants ---------------------------------------------------------------------- */

/* Which keys recognise the tenant, and how its transactions were attributed. */
static void tenant_keys_json(const struct rg_tenant_conf *tc, const struct rg_tenant_info *t,
			     json_object *o)
{
	json_object *keys = json_object_new_object(), *by = json_object_new_object();

	json_object_object_add(keys, "connectors", json_object_new_int64((int64_t)tc->n_connectors));
	for (int k = 0; k < RG_AUTH__KEYS; k++)
		json_object_object_add(keys, rg_auth_key_name((enum rg_auth_key)k),
				       json_object_new_int64((int64_t)tc->n_auth[k]));
	for (int m = RG_MATCH_SASL; m < RG_MATCH__COUNT; m++)
		json_object_object_add(by, rg_match_name((enum rg_match)m),
				       json_object_new_int64((int64_t)t->total_by_match[m]));
	json_object_object_add(o, "keys", keys);
	json_object_object_add(o, "matched_total", by);
}

static void tenant_json(const struct rg_tenant_conf *tc, const struct rg_tenant_info *t,
			json_object *arr)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "name", json_object_new_string(t->name));
	json_object_object_add(o, "id", json_object_new_int64(t->id));
	json_object_object_add(o, "state",
			       json_object_new_string(t->restricted ? "restricted" : "ok"));
	json_object_object_add(o, "unregistered", json_object_new_int64((int64_t)t->unregistered));
	json_object_object_add(o, "registered", json_object_new_int64((int64_t)t->registered));
	json_object_object_add(o, "null", json_object_new_int64((int64_t)t->null_sender));
	json_object_object_add(o, "budget_used", json_object_new_int64((int64_t)t->budget_used));
	json_object_object_add(o, "limit", json_object_new_int64((int64_t)t->limit));
	json_object_object_add(o, "window_s", json_object_new_int64((int64_t)(t->window_ns / NS)));
	json_object_object_add(o, "restricted_since", time_or_null(t->since_ns));
	json_object_object_add(o, "until", time_or_null(t->until_ns));
	json_object_object_add(o, "reason", t->reason ? json_object_new_string(t->reason) : NULL);
	json_object_object_add(o, "rejected_total", json_object_new_int64((int64_t)t->total_rejected));
	tenant_keys_json(tc, t, o);
	json_object_object_add(o, "over_budget_action",
			       json_object_new_string(rg_over_budget_name(t->over_budget)));
	json_object_array_add(arr, o);
}

static int do_tenants(void *ctx, const struct rg_peer *peer, json_object *req, json_object *rep)
{
	struct rg_agent_ctl *a = ctx;
	const struct rg_config *c = a->ops->config(a->ctx);
	json_object *arr = json_object_new_array();

	uint64_t now = rg_now_real_ns();
	struct rg_tenant_info ti;

	/* The engine's tenants are the configuration's, in its order. */
	for (size_t i = 0; i < rg_engine_tenant_count(a->engine) && i < c->n_tenants; i++)
		if (!rg_engine_tenant_info(a->engine, i, now, &ti))
			tenant_json(&c->tenants[i], &ti, arr);
	json_object_object_add(rep, "tenants", arr);
	return 0;
}

/* ---- hosts ------------------------------------------------------------------------ */

/* The engine's name for a kernel tenant id (0: unassigned, or an id no longer configured). */
static const char *tenant_name(void *ctx, uint32_t id, const uint8_t addr[16])
{
	struct rg_agent_ctl *a = ctx;
	const struct rg_config *c = a->ops->config(a->ctx);

	for (size_t i = 0; i < c->n_tenants; i++)
		if (rg_engine_tenant_id(a->engine, c->tenants[i].name) == id)
			return c->tenants[i].name;
	return NULL;
}

static int do_hosts(void *ctx, const struct rg_peer *peer, json_object *req, json_object *rep)
{
	struct rg_agent_ctl *a = ctx;
	const struct rg_config *c = a->ops->config(a->ctx);
	struct rg_hosts_opts o = {
		.host_prefix_v4 = c->host_prefix_v4,
		.host_prefix_v6 = c->host_prefix_v6,
		.tenant_name = tenant_name,
		.ctx = a,
	};
	uint64_t top = 0;

	if (rg_control_get_u64(req, "top", &top) == -EINVAL)
		return rg_control_fail(rep, RG_CTL_E_BAD_REQUEST, "top must be a number");
	if (!a->bpf)
		return rg_control_fail(rep, RG_CTL_E_UNAVAILABLE, "BPF maps not available");
	o.top = (size_t)top;
	return rg_hosts_list(a->bpf, &o, rep);
}

/* ---- host verdicts ---------------------------------------------------------------- */

static int get_target(const struct rg_agent_ctl *a, json_object *req, json_object *rep,
		      struct rg_cidr *t)
{
	const struct rg_config *c = a->ops->config(a->ctx);
	const char *s;
	char p[RG_PRINTABLE_MAX + 4];

	if (rg_control_get_str(req, "host", &s))
		return rg_control_fail(rep, RG_CTL_E_BAD_REQUEST, "missing \"host\"");
	if (rg_cidr_parse(s, t, false))
		return rg_control_fail(rep, RG_CTL_E_BAD_ADDRESS, "bad address \"%s\"",
				       rg_printable(s, strlen(s), p));
	/* ADDR without /LEN is the host that contains it, as `hosts` lists it. */
	if (!strchr(s, '/')) {
		struct rg_cidr in = *t;	/* rg_host_of clears its output first */

		rg_host_of(in.addr, c->host_prefix_v4, c->host_prefix_v6, t);
	}
	return 0;
}

static void verdict_reply(json_object *rep, const struct rg_cidr *t, const char *verdict,
			  uint64_t expires_real)
{
	char buf[RG_ADDR_STRLEN];

	json_object_object_add(rep, "host", json_object_new_string(rg_cidr_format(t, buf, sizeof(buf))));
	json_object_object_add(rep, "verdict", json_object_new_string(verdict));
	json_object_object_add(rep, "expires", time_or_null(expires_real));
}

static int verdict_error(json_object *rep, const char *what, int err)
{
	if (err == -EPERM)
		return rg_control_fail(rep, RG_CTL_E_CONFLICT,
				       "mode = monitor: relayguardd never drops; nothing was set");
	if (err == -ENOSPC)
		return rg_control_fail(rep, RG_CTL_E_UNAVAILABLE,
				       "the verdict table is full (verdict_table_size)");
	return rg_control_fail(rep, RG_CTL_E_INTERNAL, "cannot %s: %s", what, strerror(-err));
}

/* "for_s": absent or 0 is no expiry; longer than RG_DURATION_MAX_NS is refused, so the
 * expiry can neither wrap into the past nor be stored wrong. */
static int get_for_s(json_object *req, json_object *rep, uint64_t *for_s)
{
	if (rg_control_get_u64(req, "for_s", for_s) == -EINVAL)
		return rg_control_fail(rep, RG_CTL_E_BAD_REQUEST, "for_s must be a number");
	if (*for_s > RG_DURATION_MAX_NS / NS)
		return rg_control_fail(rep, RG_CTL_E_BAD_REQUEST, "for_s is over %llu (%llud)",
				       (unsigned long long)(RG_DURATION_MAX_NS / NS),
				       (unsigned long long)(RG_DURATION_MAX_NS / NS / 86400));
	return 0;
}

static int do_block_host(void *ctx, const struct rg_peer *peer, json_object *req, json_object *rep)
{
	struct rg_agent_ctl *a = ctx;
	struct rg_cidr t;
	uint64_t for_s = 0, now = rg_now_real_ns(), exp;
	int err;

	if ((err = get_target(a, req, rep, &t)))
		return err;
	if ((err = get_for_s(req, rep, &for_s)))
		return err;
	exp = for_s ? rg_time_after_ns(now, for_s * NS) : 0;
	err = rg_engine_block_host(a->engine, &t, for_s * NS, peer->by, now);
	if (err)
		return verdict_error(rep, "block", err);
	verdict_reply(rep, &t, rg_verdict_action_name(RG_ACT_BLOCK), exp);
	return 0;
}

static int do_throttle_host(void *ctx, const struct rg_peer *peer, json_object *req,
			    json_object *rep)
{
	struct rg_agent_ctl *a = ctx;
	struct rg_cidr t;
	uint64_t count = 0, period = 0, for_s = 0, now = rg_now_real_ns(), exp;
	int err;

	if ((err = get_target(a, req, rep, &t)))
		return err;
	if (rg_control_get_u64(req, "rate_count", &count) || rg_control_get_u64(req, "rate_period_s", &period) ||
	    !count || !period)
		return rg_control_fail(rep, RG_CTL_E_BAD_REQUEST,
				       "rate_count and rate_period_s must be positive numbers");
	if ((err = get_for_s(req, rep, &for_s)))
		return err;
	exp = for_s ? rg_time_after_ns(now, for_s * NS) : 0;
	struct rg_rate rate = { .count = count, .period_ns = period * NS };
	err = rg_engine_throttle_host(a->engine, &t, &rate, for_s * NS, peer->by, now);
	if (err)
		return verdict_error(rep, "throttle", err);
	verdict_reply(rep, &t, rg_verdict_action_name(RG_ACT_THROTTLE), exp);
	return 0;
}

static int do_unblock_host(void *ctx, const struct rg_peer *peer, json_object *req,
			   json_object *rep)
{
	struct rg_agent_ctl *a = ctx;
	struct rg_cidr t;
	int err;

	if ((err = get_target(a, req, rep, &t)))
		return err;
	err = rg_engine_unblock_host(a->engine, &t, peer->by, rg_now_real_ns());
	if (err == -ENOENT) {
		/* Not in the engine's table: maybe written by relayguardctl while we were down. */
		if (a->bpf && !rg_bpf_verdict_delete(a->bpf, &t))
			err = 0;
	}
	if (err && err != -ENOENT)
		return err;
	/* No verdict there: the host is already unblocked, which is what was asked. */
	verdict_reply(rep, &t, rg_verdict_action_name(RG_ACT_NONE), 0);
	json_object_object_add(rep, "already", json_object_new_boolean(err == -ENOENT));
	return 0;
}

/* ---- tenants ---------------------------------------------------------------------- */

static int tenant_arg(json_object *req, json_object *rep, const char **name)
{
	if (rg_control_get_str(req, "tenant", name))
		return rg_control_fail(rep, RG_CTL_E_BAD_REQUEST, "missing \"tenant\"");
	return 0;
}

static int tenant_result(struct rg_agent_ctl *a, json_object *rep, const char *name, int err)
{
	char p[RG_PRINTABLE_MAX + 4];

	if (err == -ENOENT)
		return rg_control_fail(rep, RG_CTL_E_UNKNOWN_TENANT, "unknown tenant \"%s\"",
				       rg_printable(name, strlen(name), p));
	if (err)
		return err;

	struct rg_tenant_info ti;
	int idx = rg_config_find_tenant(a->ops->config(a->ctx), name);
	if (idx >= 0 && !rg_engine_tenant_info(a->engine, (size_t)idx, rg_now_real_ns(), &ti)) {
		json_object_object_add(rep, "tenant", json_object_new_string(ti.name));
		json_object_object_add(rep, "state",
				       json_object_new_string(ti.restricted ? "restricted" : "ok"));
		json_object_object_add(rep, "until", time_or_null(ti.until_ns));
	}
	return 0;
}

static int do_restrict_tenant(void *ctx, const struct rg_peer *peer, json_object *req,
			      json_object *rep)
{
	struct rg_agent_ctl *a = ctx;
	const char *name;
	int err;

	if ((err = tenant_arg(req, rep, &name)))
		return err;
	err = rg_engine_restrict_tenant(a->engine, name, peer->by, rg_now_real_ns());
	/* A repeat is done already: the same state, reported, rc 0. */
	json_object_object_add(rep, "already", json_object_new_boolean(err == -EALREADY));
	return tenant_result(a, rep, name, err == -EALREADY ? 0 : err);
}

static int do_unblock_tenant(void *ctx, const struct rg_peer *peer, json_object *req,
			     json_object *rep)
{
	struct rg_agent_ctl *a = ctx;
	const char *name;
	int err;

	struct rg_tenant_info ti;
	int idx;

	if ((err = tenant_arg(req, rep, &name)))
		return err;
	idx = rg_config_find_tenant(a->ops->config(a->ctx), name);
	json_object_object_add(rep, "already", json_object_new_boolean(
		idx >= 0 && !rg_engine_tenant_info(a->engine, (size_t)idx, rg_now_real_ns(), &ti) &&
		!ti.restricted));
	err = rg_engine_unblock_tenant(a->engine, name, peer->by, rg_now_real_ns());
	return tenant_result(a, rep, name, err);
}

/* The reload reply: the outcome of the load that covered the request. */
static int reload_reply(struct rg_agent_ctl *a, int err, const struct rg_config_errors *errs,
			const char *const *keys, size_t n_keys, json_object *rep)
{
	json_object *restart;

	if (err) {
		json_object *arr = json_object_new_array();
		for (size_t i = 0; i < errs->n; i++)
			json_object_array_add(arr, json_object_new_string(errs->msgs[i]));
		json_object_object_add(rep, "errors", arr);
		return rg_control_fail(rep, "bad_config", "the configuration was refused; the "
				       "running one stays");
	}
	json_object_object_add(rep, "tenants", json_object_new_int64(
			       (int64_t)a->ops->config(a->ctx)->n_tenants));
	/* Applied, except these: the running values stay until a restart. */
	restart = json_object_new_array();
	for (size_t i = 0; i < n_keys; i++)
		json_object_array_add(restart, json_object_new_string(keys[i]));
	json_object_object_add(rep, "restart_needed", json_object_new_boolean(n_keys > 0));
	json_object_object_add(rep, "restart_keys", restart);
	return 0;
}

int rg_agent_ctl_reload_done(struct rg_agent_ctl *a, struct rg_control *ctl, uint64_t call,
			     int err, const struct rg_config_errors *errs,
			     const char *const *keys, size_t n_keys)
{
	json_object *rep = json_object_new_object();
	int ret;

	if (!rep)
		return -ENOMEM;	/* the client's idle timeout ends its wait */
	/* First member, as every reply has it. */
	json_object_object_add(rep, "ok", json_object_new_boolean(1));
	ret = reload_reply(a, err, errs, keys, n_keys, rep);
	ret = rg_control_answer(ctl, call, ret, rep);
	json_object_put(rep);
	return ret;
}

/* The reply comes when the reload that covers this request is done (loads run off the
 * loop, and requests meanwhile share the next one). */
static int do_reload(void *ctx, const struct rg_peer *peer, json_object *req, json_object *rep)
{
	struct rg_agent_ctl *a = ctx;
	int err;

	(void)req;
	(void)rep;
	pr_info("reload requested by %s", peer->by);
	err = a->ops->reload(a->ctx, peer->call);
	return err ? err : RG_CONTROL_LATER;
}

int rg_agent_ctl_register(struct rg_control *ctl, struct rg_agent_ctl *a)
{
	static const struct {
		const char *name;
		rg_control_fn fn;
		bool read_only;
	} cmds[] = {
		{ "status", do_status, true },
		{ "tenants", do_tenants, true },
		{ "hosts", do_hosts, true },
		{ "block_host", do_block_host, false },
		{ "throttle_host", do_throttle_host, false },
		{ "unblock_host", do_unblock_host, false },
		{ "restrict_tenant", do_restrict_tenant, false },
		{ "unblock_tenant", do_unblock_tenant, false },
		{ "reload", do_reload, false },
		{ "fleet", do_fleet, true },
	};
	int err;

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		err = rg_control_register_read_only(ctl, cmds[i].name, cmds[i].fn, a,
						    cmds[i].read_only);
		if (err)
			return err;
	}
	return 0;
}
