// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * agent.c: relayguardd's loop. Starts everything in the order that keeps Postfix served
 * (configuration, state, BPF attach and verdict push, then the policy listeners), runs one
 * epoll loop over signals, a 1 s timer, the kernel's connection-rate events, the policy,
 * control and metrics servers and the configuration loader's thread (reload_job.h: the
 * loop only checks and swaps what it built), and translates the engine's verdict
 * callbacks into pinned-map writes (realtime expiries become CLOCK_MONOTONIC for the
 * kernel). Reports failures through the log and the counters.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "agent.h"
#include "audit.h"
#include "clock.h"
#include "dirlock.h"
#include "gcra.h"
#include "journal.h"
#include "readfile.h"
#include "log.h"
#include "mkdirs.h"
#include "notify.h"
#include "privs.h"
#include "redis_passfile.h"
#include "reload_job.h"
#include "sandbox.h"
#include "sock_keeper.h"
#include "state.h"

/* ---- engine -> kernel ------------------------------------------------------------- */

static int op_verdict_set(void *ctx, const struct rg_cidr *target, enum rg_action action,
			  enum rg_origin origin, uint64_t interval_ns, uint64_t burst_ns,
			  uint64_t expires_real_ns)
{
	struct rg_agent *a = ctx;
	struct rg_verdict v = {
		.action = (__u32)action,
		.origin = (__u32)origin,
		.expires_ns = rg_real_to_mono_ns(expires_real_ns),
		.interval_ns = interval_ns,
		.burst_ns = burst_ns,
	};
	char buf[RG_ADDR_STRLEN];
	int err;

	if (!a->bpf)
		return 0;
	err = rg_bpf_verdict_set(a->bpf, target, &v);
	if (err) {
		a->verdict_push_failures++;
		pr_err("cannot write verdict for %s into the kernel: %s",
		       rg_cidr_format(target, buf, sizeof(buf)), strerror(-err));
	}
	return err;
}

static int op_verdict_del(void *ctx, const struct rg_cidr *target)
{
	struct rg_agent *a = ctx;
	int err;

	if (!a->bpf)
		return 0;
	err = rg_bpf_verdict_delete(a->bpf, target);
	return err == -ENOENT ? 0 : err;
}

/* The program tags a host with its tenant once, when it first sees it: after the
 * connectors change, hosts already in the map get their new tag here. */
struct retag_walk {
	struct rg_agent *a;
	struct rg_lpm *lpm;
	size_t changed;
};

static int retag_cb(const struct rg_host_key *key, const struct rg_host *h, void *ctx)
{
	struct retag_walk *w = ctx;
	uint32_t id = 0;

	/* A host that authenticated as a tenant keeps that tag over its connector's. */
	if (!w->a->engine || !rg_engine_host_tag(w->a->engine, key->addr, &id))
		rg_lpm_lookup(w->lpm, key->addr, &id);
	if (id != h->tenant_id && !rg_bpf_host_retag(w->a->bpf, key->addr, id))
		w->changed++;
	return 0;
}

static void retag_hosts(struct rg_agent *a, const struct rg_bpf_connector *list, size_t n)
{
	struct retag_walk w = { a, rg_lpm_new(), 0 };

	if (!w.lpm)
		return;
	for (size_t i = 0; i < n; i++)
		rg_lpm_insert(w.lpm, &list[i].cidr, list[i].tenant_id, NULL);
	rg_bpf_hosts_foreach(a->bpf, retag_cb, &w);
	if (w.changed)
		pr_info("connectors changed: %zu known hosts retagged", w.changed);
	rg_lpm_free(w.lpm);
}

static int op_connectors_sync(void *ctx, const struct rg_engine_connector *in, size_t n)
{
	struct rg_agent *a = ctx;
	struct rg_bpf_connector *list;
	int err;

	if (!a->bpf)
		return 0;
	list = calloc(n ? n : 1, sizeof(*list));
	if (!list)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		list[i].cidr = in[i].cidr;
		list[i].tenant_id = in[i].tenant_id;
	}
	err = rg_bpf_connectors_replace(a->bpf, list, n);
	if (err)
		pr_err("cannot update the kernel's connector map: %s", strerror(-err));
	else
		retag_hosts(a, list, n);
	free(list);
	return err;
}

/* A host whose mail was attributed by SASL login or client certificate carries that
 * tenant in the kernel. Its entry may be missing (evicted, or not yet proven): the
 * program makes a new one from the connectors, and the next such transaction retags it. */
static int op_host_tag(void *ctx, const struct rg_cidr *host, uint32_t tenant_id)
{
	struct rg_agent *a = ctx;
	int err;

	if (!a->bpf)
		return 0;
	err = rg_bpf_host_retag(a->bpf, host->addr, tenant_id);
	if (err == -ENOENT)
		return 0;
	if (err)
		a->host_tag_failures++;
	return err;
}

/* A journal of past this many bytes is compacted (a snapshot and an empty journal), at
 * most once per COMPACT_EVERY_NS, from the 1 s timer: never on the request path. A
 * snapshot costs what the whole state costs to write (tens of ms at 1.2 MB); bounding
 * its rate keeps that under 0.1% of the loop, where a forked child would have to copy a
 * process holding the maps, links and listeners and report its failures back. */
#define COMPACT_BYTES (8u << 20)
#define COMPACT_EVERY_NS (30 * RG_NSEC_PER_SEC)

/* A change that missed the journal is a failed save like any other: logged, counted,
 * and a snapshot is retried every second until one is written. */
static void journal_failed(struct rg_agent *a, int err)
{
	a->journal_write_failures++;
	a->state_save_failures++;
	if (err != a->last_state_error)
		pr_err("cannot save state in %s (journal append): %s; serving from memory, a "
		       "snapshot is retried every second", a->cfg->state_dir, strerror(-err));
	a->last_state_error = err;
	a->state_dirty = true;
}

/* Write what the engine reported, in one write(2): before the replies that depend on it. */
static void journal_flush(struct rg_agent *a)
{
	int err;

	if (!a->journal || !rg_journal_pending(a->journal))
		return;
	err = rg_journal_flush(a->journal);
	if (err)
		journal_failed(a, err);
}

static void policy_commit(void *ctx)
{
	journal_flush(ctx);
}

static void op_journal(void *ctx, const struct rg_engine_change *c)
{
	struct rg_agent *a = ctx;
	int err;

	if (!a->journal)
		return;	/* loading: the snapshot written after the load has it */
	rg_fleet_change(a->fleet, c);	/* NULL standalone; a remote change is not sent back */
	err = rg_journal_add(a->journal, c);
	if (err)
		journal_failed(a, err);
	else if (!a->journal_hold)
		journal_flush(a);	/* control commands, the timer: their reply comes next */
}

static const struct rg_engine_ops agent_ops = {
	.verdict_set = op_verdict_set,
	.verdict_del = op_verdict_del,
	.connectors_sync = op_connectors_sync,
	.journal = op_journal,
	.host_tag = op_host_tag,
};

int rg_agent_save_state(struct rg_agent *a)
{
	int err = a->journal ? rg_journal_compact(a->journal, a->engine, rg_now_real_ns())
			     : rg_state_save(a->engine, a->cfg->state_dir, rg_now_real_ns());

	if (err) {
		a->state_save_failures++;
		if (err != a->last_state_error)
			pr_err("cannot save state in %s: %s; serving from memory",
			       a->cfg->state_dir, strerror(-err));
		a->last_state_error = err;
		a->state_dirty = true;
		return err;
	}
	if (a->last_state_error)
		pr_info("state saved again in %s", a->cfg->state_dir);
	a->last_state_error = 0;
	a->state_saves++;
	a->state_dirty = false;
	a->last_compact_mono_ns = rg_now_mono_ns();
	return 0;
}

/* ---- policy ------------------------------------------------------------------------- */

/* One line per decision at debug level; every state change is in the audit log anyway. */
static void log_decision(const struct rg_policy_request *r, const struct rg_decision *d)
{
	char c[RG_PRINTABLE_MAX + 4], s[RG_PRINTABLE_MAX + 4];

	pr_debug("decision client=%s sender=%s tenant=%s by=%s%s%s class=%s action=%s%s",
		 rg_printable(r->client_address.p, r->client_address.len, c),
		 rg_printable(r->sender.p, r->sender.len, s),
		 d->tenant_name ? d->tenant_name : "-", rg_match_name(d->matched_by),
		 d->connector_tenant ? " connector_tenant=" : "",
		 d->connector_tenant ? d->connector_tenant : "", rg_class_name(d->cls),
		 rg_action_reply(d->action), d->would_reject ? " would_reject" : "");
}

static int agent_decide(void *ctx, const struct rg_policy_req *req, char *action, size_t len)
{
	struct rg_agent *a = ctx;
	struct rg_policy_request r;
	struct rg_decision d;
	uint64_t now = rg_now_real_ns();
	int err;

	rg_policy_request_from(req, &r);
	/* A dry run (monitor mode) counts locally only: it must not restrict the fleet. */
	if (a->fleet && a->cfg->mode != RG_MODE_MONITOR) {
		uint64_t id = rg_policy_server_current(a->policy);
		struct rg_engine_peek pk;

		/* The fleet-wide budget: only a new unregistered transaction of a tenant not
		 * restricted waits for it; once answered (or fallen back), the engine decides
		 * from its state as the answer left it. */
		if (!rg_fleet_done(a->fleet, id) && rg_engine_peek(a->engine, &r, now, &pk) &&
		    !rg_fleet_budget(a->fleet, &pk, &r, id, now))
			return RG_POLICY_DEFER;
		now = rg_now_real_ns();
	}
	err = rg_engine_decide(a->engine, &r, now, &d);
	if (err)
		return err; /* the policy server answers per fail_mode */
	if (rg_log_get_level() >= RG_LOG_DEBUG)
		log_decision(&r, &d);
	if ((size_t)snprintf(action, len, "%s", rg_action_reply(d.action)) >= len)
		return -ENOSPC;
	return 0;
}

/* The budget step of connection id is over: its request is decided again, journalled
 * before the reply (the server's commit hook). */
static void fleet_resume(void *ctx, uint64_t id)
{
	struct rg_agent *a = ctx;

	a->journal_hold++;
	if (rg_policy_server_resume(a->policy, id) == -ENOENT)
		rg_fleet_done(a->fleet, id);	/* the client left: forget its step */
	a->journal_hold--;
	journal_flush(a);
}

static const struct rg_fleet_ops fleet_ops = { .resume = fleet_resume };

/* [fleet]: the links start connecting now; the agent serves before Redis answers. */
static int start_fleet(struct rg_agent *a)
{
	const struct rg_fleet_conf *fc = &a->cfg->fleet;
	char *user = NULL, *pw = NULL;
	int err;

	if (!fc->enabled)
		return 0;
	/* Read after the drop: the file must be readable by the agent's user (not others). */
	if (fc->redis_password_file) {
		err = rg_redis_read_password_file(fc->redis_password_file, &user, &pw);
		if (err)
			return err;	/* logged, with the reason */
	}
	err = rg_fleet_new(fc, user, pw, a->cfg->state_dir, a->engine, &fleet_ops, a,
			   &a->fleet);
	rg_redis_password_free(user, pw);
	if (err)
		pr_err("fleet: cannot start: %s", strerror(-err));
	else
		pr_info("fleet: relay %s, Redis %s", fc->relay_id,
			fc->n_sentinels ? fc->sentinel_master : fc->redis);
	return err;
}

/* ---- connection-rate events -------------------------------------------------------- */

/* The kernel compares each host's connection rate with its tenant's limit as it counts
 * and reports a crossing once per host per window; the engine decides (exact limit,
 * existing verdicts, monitor mode) and throttles through verdict_set. O(events): nothing
 * here walks the hosts map. */
static int on_rate_event(const struct rg_rate_event *ev, void *ctx)
{
	struct rg_agent *a = ctx;
	struct rg_cidr host = { 0 };

	memcpy(host.addr, ev->addr, 16);
	host.is_v4 = rg_addr_is_v4(ev->addr);
	host.prefixlen = host.is_v4 ? 96 + a->cfg->host_prefix_v4 : a->cfg->host_prefix_v6;
	rg_engine_conn_rate(a->engine, &host, ev->tenant_id, ev->window_conns, RG_RATE_WINDOW_NS,
			    rg_now_real_ns());
	return 0;
}

/* Field by field: the structs have padding. */
static bool same_limits(const struct rg_bpf_tenant_limit *x, size_t nx,
			const struct rg_bpf_tenant_limit *y, size_t ny)
{
	if (!x || nx != ny)
		return false;
	for (size_t i = 0; i < nx; i++)
		if (x[i].tenant_id != y[i].tenant_id || x[i].count != y[i].count ||
		    x[i].period_ns != y[i].period_ns)
			return false;
	return true;
}

/* Give the kernel every tenant's connection_rate_limit by tenant id (after the engine has
 * assigned the ids: at start and after each reload). The write covers every slot of the
 * map (tens of ms on the loop), so a reload that leaves the list as it was skips it. */
static void push_rate_limits(struct rg_agent *a)
{
	const struct rg_config *c = a->cfg;
	struct rg_bpf_tenant_limit *list;
	size_t n = 0;
	int err;

	if (!a->bpf)
		return;
	list = calloc(c->n_tenants + 1, sizeof(*list));
	if (!list) {
		pr_err("cannot give the kernel its connection-rate limits: %s", strerror(ENOMEM));
		return;
	}
	list[n++] = (struct rg_bpf_tenant_limit){ 0, c->defaults.connection_rate_limit.count,
						  c->defaults.connection_rate_limit.period_ns };
	for (size_t i = 0; i < c->n_tenants; i++) {
		const struct rg_rate *r = &c->tenants[i].limits.connection_rate_limit;
		uint32_t id = rg_engine_tenant_id(a->engine, c->tenants[i].name);

		if (id)
			list[n++] = (struct rg_bpf_tenant_limit){ id, r->count, r->period_ns };
	}
	if (same_limits(a->pushed_limits, a->n_pushed_limits, list, n)) {
		free(list);
		return;
	}
	err = rg_bpf_tenant_limits_set(a->bpf, list, n);
	free(a->pushed_limits);
	a->pushed_limits = NULL;
	if (err) {
		pr_err("cannot give the kernel its connection-rate limits: %s", strerror(-err));
		free(list);
		return;
	}
	a->pushed_limits = list;
	a->n_pushed_limits = n;
}

/* ---- reload ------------------------------------------------------------------------- */

/* The config's key table says which keys only a restart applies; name the changed ones
 * (kept in a->restart_keys for the reload's reply). */
static void warn_restart_only(struct rg_agent *a, const struct rg_config *n)
{
	const size_t max = sizeof(a->restart_keys) / sizeof(a->restart_keys[0]);
	char list[512];
	size_t k = rg_config_restart_keys(a->start_cfg ? a->start_cfg : a->cfg, n,
					  a->restart_keys, max), len = 0;

	a->n_restart_keys = k < max ? k : max;
	if (!k)
		return;
	list[0] = '\0';
	for (size_t i = 0; i < a->n_restart_keys && len < sizeof(list); i++)
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s", i ? ", " : "",
					a->restart_keys[i]);
	pr_warn("reload: [agent] %s change only on restart; the running values stay", list);
}

/* systemd's readiness protocol (Type=notify): a no-op without NOTIFY_SOCKET. A lost
 * message only makes systemd wait; it changes nothing in the agent. */
static void notify_systemd(const char *state)
{
	int err = sd_notify(0, state);

	if (err < 0)
		pr_warn("sd_notify %s: %s", state, strerror(-err));
}

/* Validate and swap in what the loader built (n, or its failure load_err with errs): on
 * the loop, and short; the parse happened on the loader's thread. Takes n. */
static int apply_config(struct rg_agent *a, int load_err, struct rg_config *n,
			struct rg_config_errors *errs)
{
	int err;

	a->n_restart_keys = 0;
	if (load_err) {
		a->reload_failures++;
		pr_err("reload of %s refused; the running configuration stays", a->config_path);
		for (size_t i = 0; i < errs->n; i++)
			pr_err("%s", errs->msgs[i]);
		rg_config_free(n);
		return load_err;
	}
	if (rg_config_n_connectors(n) > a->cfg->connector_table_size) {
		/* The map was sized at start: more connectors would go untagged. */
		a->reload_failures++;
		rg_config_errors_add(errs, "%s:0: %zu connectors, the running connector map "
				     "holds %u (connector_table_size applies on restart)",
				     a->config_path, rg_config_n_connectors(n),
				     a->cfg->connector_table_size);
		pr_err("reload of %s refused; the running configuration stays", a->config_path);
		if (errs->n)
			pr_err("%s", errs->msgs[errs->n - 1]);
		rg_config_free(n);
		return -EINVAL;
	}
	for (size_t i = 0; i < n->warnings.n; i++)
		pr_warn("%s", n->warnings.msgs[i]);
	warn_restart_only(a, n);
	err = rg_engine_reconfigure(a->engine, n, rg_now_real_ns());
	if (err) {
		a->reload_failures++;
		pr_err("reload: engine refused the configuration: %s", strerror(-err));
		rg_config_free(n);
		return err;
	}
	if (a->start_cfg)
		rg_config_free(a->cfg);
	else
		a->start_cfg = a->cfg;
	a->cfg = n;
	push_rate_limits(a);
	rg_log_set_level(n->log_level);
	rg_policy_server_set_fail_mode(a->policy, n->fail_mode);
	rg_audit_set_repeat_interval(a->audit, n->audit_repeat_interval_ns);
	a->reloads++;
	rg_agent_save_state(a);
	return 0;
}

/* Answer the control requests load job covered with its outcome. One at a time, off the
 * list first: an answer serves that client's next requests, which may ask for a reload. */
static void answer_reload_calls(struct rg_agent *a, uint64_t job, int err,
				const struct rg_config_errors *errs)
{
	size_t i = 0;

	while (i < a->n_reload_calls) {
		uint64_t call = a->reload_calls[i].call;

		if (a->reload_calls[i].job != job) {
			i++;
			continue;
		}
		a->reload_calls[i] = a->reload_calls[--a->n_reload_calls];
		rg_agent_ctl_reload_done(&a->commands, a->control, call, err, errs,
					 a->restart_keys, err ? 0 : a->n_restart_keys);
		i = 0;
	}
}

/* RELOADING=1 ... READY=1 around every load, refused or not, so systemctl reload waits for
 * the outcome whichever way it was asked for (SIGHUP or the control socket). */
static int reload_start(struct rg_agent *a)
{
	int err;

	notify_systemd("RELOADING=1");
	err = rg_reload_job_start(a->reload_job);
	if (err) {
		a->reload_failures++;
		pr_err("reload of %s: cannot start the loader: %s; the running configuration "
		       "stays", a->config_path, strerror(-err));
		notify_systemd("READY=1");
		return err;
	}
	a->reload_jobs++;
	return 0;
}

int rg_agent_reload(struct rg_agent *a, uint64_t call)
{
	const size_t max = sizeof(a->reload_calls) / sizeof(a->reload_calls[0]);
	int err = 0;

	a->reload_requests++;
	if (rg_reload_job_busy(a->reload_job))
		a->reload_pending = true;	/* one more load, after this one */
	else
		err = reload_start(a);
	if (err || !call)
		return err;
	if (a->n_reload_calls >= max)
		return -EBUSY;	/* not reached: one owed reply per control client at most */
	/* The load that covers it: the one just started, or the next one. */
	a->reload_calls[a->n_reload_calls++] = (struct rg_reload_call){
		call, a->reload_jobs + (a->reload_pending ? 1 : 0) };
	return 0;
}

/* The loader is done: swap its result in, start the pending load, answer who asked. */
static void on_reload_done(struct rg_agent *a)
{
	struct rg_config_errors errs = { 0 }, none = { 0 };
	struct rg_config *n = NULL;
	uint64_t job = a->reload_jobs, t0 = rg_now_mono_ns(), read_ns;
	int load_err, err;

	if (rg_reload_job_take(a->reload_job, &load_err, &n, &errs, &read_ns))
		return;
	err = apply_config(a, load_err, n, &errs);
	/* How long the loop was held (the swap) against the parse it no longer waits for. */
	if (!err)
		pr_info("reloaded %s: %zu tenant%s (read in %llu ms, swapped in %llu ms)",
			a->config_path, a->cfg->n_tenants, a->cfg->n_tenants == 1 ? "" : "s",
			(unsigned long long)(read_ns / 1000000),
			(unsigned long long)((rg_now_mono_ns() - t0) / 1000000));
	notify_systemd("READY=1");
	if (a->reload_pending) {
		int start_err;

		a->reload_pending = false;
		start_err = reload_start(a);
		if (start_err)
			answer_reload_calls(a, job + 1, start_err, &none);
	}
	answer_reload_calls(a, job, err, &errs);
	rg_config_errors_free(&errs);
}

/* ---- control commands -> agent ------------------------------------------------------- */

static const struct rg_config *ctl_config(void *ctx)
{
	const struct rg_agent *a = ctx;

	return a->cfg;
}

static const struct rg_config *ctl_start_config(void *ctx)
{
	const struct rg_agent *a = ctx;

	return a->start_cfg ? a->start_cfg : a->cfg;
}

static int ctl_reload(void *ctx, uint64_t call)
{
	return rg_agent_reload(ctx, call);
}

static void ctl_status(void *ctx, struct rg_agent_status *out)
{
	const struct rg_agent *a = ctx;
	struct rg_policy_stats ps = { 0 };

	if (a->policy)
		rg_policy_server_get_stats(a->policy, &ps);
	out->started_real_ns = a->started_real_ns;
	out->last_state_error = a->last_state_error;
	out->policy_connections = ps.conns_open;
	out->policy_requests = ps.requests;
	out->restart_keys = a->restart_keys;
	out->n_restart_keys = a->n_restart_keys;
}

static const struct rg_agent_ctl_ops ctl_ops = {
	.config = ctl_config,
	.start_config = ctl_start_config,
	.reload = ctl_reload,
	.status = ctl_status,
};

/* ---- loop --------------------------------------------------------------------------- */

enum { EV_SIGNAL = 1, EV_TIMER, EV_POLICY, EV_CONTROL, EV_METRICS, EV_RATE, EV_FLEET,
       EV_RELOAD, EV_NOTIFY };

/* The audit tap: the events notify_command hears of go to the notifier, with the
 * tenant's contacts, its over_budget_action and (tenant events) its top lists. */
static void on_audit(void *ctx, const struct rg_audit_event *ev, const char *line, size_t len)
{
	struct rg_agent *a = ctx;
	char dom[RG_NOTIFY_TOP_LEN], hosts[RG_NOTIFY_TOP_LEN];
	struct rg_notify_extra x = { 0 };
	int t;

	if (!a->cfg->notify_command || !rg_notify_wanted(ev))
		return;
	/* [fleet]: a change applied from another relay was notified there, once. */
	if (a->cfg->fleet.enabled && ev->relay && a->cfg->fleet.relay_id &&
	    strcmp(ev->relay, a->cfg->fleet.relay_id))
		return;
	t = ev->tenant ? rg_config_find_tenant(a->cfg, ev->tenant) : -1;
	if (t >= 0) {
		const struct rg_limits *l = &a->cfg->tenants[t].limits;

		x.mailto = l->notify_mailto;
		x.action = rg_over_budget_name(l->over_budget_action);
	} else {
		x.mailto = a->cfg->defaults.notify_mailto;
	}
	if (t >= 0 && !strncmp(ev->event, "tenant_", 7) &&
	    !rg_engine_tenant_top(a->engine, ev->tenant, RG_NOTIFY_TOP, dom, sizeof(dom), hosts,
				  sizeof(hosts))) {
		x.top_domains = dom;
		x.top_hosts = hosts;
	}
	rg_notify_event(a->notify, a->cfg, ev, line, len, &x);
}

static int watch(int epfd, int fd, uint64_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag };

	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev))
		return -errno;
	return 0;
}

static int watch_fleet(struct rg_agent *a)
{
	int fds[2], err;

	rg_fleet_fds(a->fleet, fds);
	err = watch(a->epfd, fds[0], EV_FLEET);
	return err ? err : watch(a->epfd, fds[1], EV_FLEET);
}

static void on_signal(struct rg_agent *a)
{
	struct signalfd_siginfo si;

	while (read(a->sigfd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGHUP:
			/* SIGHUPs while a load runs make one more load, not one each. */
			pr_debug("SIGHUP: reloading");
			rg_agent_reload(a, 0);
			if (a->audit)
				rg_audit_reopen(a->audit);
			break;
		case SIGUSR1:
			/* logrotate's postrotate: reopen the audit log, nothing else. */
			if (a->audit && !rg_audit_reopen(a->audit))
				pr_info("SIGUSR1: audit log %s reopened", a->cfg->audit_log);
			else if (a->audit)
				pr_err("SIGUSR1: cannot reopen the audit log %s; the old file stays",
				       a->cfg->audit_log);
			break;
		case SIGTERM:
		case SIGINT:
			pr_info("signal %u: stopping; the kernel keeps enforcing", si.ssi_signo);
			notify_systemd("STOPPING=1");
			a->stop = true;
			break;
		default:
			break;
		}
	}
}

static void on_timer(struct rg_agent *a)
{
	uint64_t ticks;

	if (read(a->timerfd, &ticks, sizeof(ticks)) < 0)
		return;
	rg_audit_tick(a->audit, rg_now_real_ns());
	a->journal_hold++;
	rg_engine_tick(a->engine, rg_now_real_ns());
	rg_fleet_tick(a->fleet, rg_now_real_ns());
	a->journal_hold--;
	journal_flush(a);
	if (a->journal) {
		int err = rg_journal_sync(a->journal);

		if (err)
			pr_debug("journal: fdatasync: %s", strerror(-err));
	}
	if (a->state_dirty || (a->journal && rg_journal_broken(a->journal)) ||
	    (a->journal && rg_journal_size(a->journal) > COMPACT_BYTES &&
	     rg_now_mono_ns() - a->last_compact_mono_ns >= COMPACT_EVERY_NS))
		rg_agent_save_state(a);
}

/* One agent per pin_dir and per state_dir: a second one would replace the running one's
 * program in the pinned link (bpf_link_update) with its own settings and write the same
 * state file. Both locks are taken before anything touches the kernel or the state, and
 * held (fds[]) until the process exits. */
static int lock_dirs(const struct rg_config *c, int fds[2])
{
	const char *keys[2] = { "state_dir", "pin_dir" };
	const char *dirs[2] = { c->state_dir, c->pin_dir };
	pid_t pid;
	int err;

	for (int i = 0; i < 2; i++) {
		err = rg_dirlock_acquire(dirs[i], &fds[i], &pid);
		if (err == -EBUSY && pid == getpid())
			continue; /* the same directory twice: already ours */
		if (err == -EBUSY && pid > 0) {
			pr_err("another relayguardd (pid %d) runs on %s %s: not started", (int)pid,
			       keys[i], dirs[i]);
		} else if (err == -EBUSY) {
			pr_err("another process holds the lock on %s %s: not started", keys[i],
			       dirs[i]);
		} else if (err) {
			pr_err("cannot lock %s %s: %s", keys[i], dirs[i], strerror(-err));
		}
		if (err)
			return err;
	}
	return 0;
}

static int start_bpf(struct rg_agent *a)
{
	const struct rg_config *c = a->cfg;
	struct rg_bpf_opts o = {
		.pin_dir = c->pin_dir,
		.ifaces = (const char *const *)c->interfaces,
		.n_ifaces = c->n_interfaces,
		.mode = c->attach_mode,
		.ports = c->smtp_ports,
		.n_ports = c->n_smtp_ports,
		.host_prefix_v4 = c->host_prefix_v4,
		.host_prefix_v6 = c->host_prefix_v6,
		.host_table_size = c->host_table_size,
		.flow_table_size = c->flow_table_size,
		.verdict_table_size = c->verdict_table_size,
		.tenant_mark_mask = c->tenant_mark_mask,
		.connector_table_size = c->connector_table_size,
	};
	struct rg_bpf_iface_status st;
	int err;

	rg_bpf_hook_libbpf_log();
	err = rg_bpf_attach(&o, &a->bpf); /* logs each attach with its program id */
	if (err)
		return err;
	if (!rg_bpf_iface_status(c->pin_dir, c->interfaces[0], &st))
		a->prog_id = st.prog_id;
	return 0;
}

/* Verdicts relayguardctl wrote into the maps while the agent was down become the engine's
 * (operator verdicts), so they are listed, persisted, and expire through the engine. */
static int adopt_cb(const struct rg_cidr *target, bool is_cidr, const struct rg_verdict *v,
		    void *ctx)
{
	struct rg_agent *a = ctx;
	uint64_t now = rg_now_real_ns(), exp = rg_mono_to_real_ns(v->expires_ns);
	struct rg_engine_verdict have;
	struct rg_rate rate;

	if (!rg_engine_verdict_get(a->engine, target, &have))
		return 0;
	if (exp && exp <= now)
		return 0;
	if (v->action == RG_ACT_BLOCK) {
		rg_engine_block_host(a->engine, target, exp ? exp - now : 0, "kernel map", now);
	} else if (v->action == RG_ACT_THROTTLE && v->interval_ns) {
		/* The rate that gives back the verdict's interval and burst. */
		rg_gcra_to_rate(&(struct rg_gcra){ v->interval_ns, v->burst_ns }, &rate);
		rg_engine_throttle_host(a->engine, target, &rate, exp ? exp - now : 0,
					"kernel map", now);
	}
	return 0;
}

/* Adopted verdicts are not saved one by one: when there were any, one snapshot holds
 * them all (the journal, should that snapshot fail). */
static void adopt_kernel_verdicts(struct rg_agent *a)
{
	a->journal_hold++;
	if (a->bpf && a->cfg->mode == RG_MODE_ENFORCE)
		rg_bpf_verdict_foreach(a->bpf, adopt_cb, a);
	a->journal_hold--;
	if (a->journal && rg_journal_pending(a->journal))
		rg_agent_save_state(a);
	journal_flush(a);
}

static void agent_free(struct rg_agent *a)
{
	/* A load still running is cancelled first: it ends within a line of its files. */
	rg_reload_job_free(a->reload_job);
	rg_policy_server_free(a->policy);
	rg_fleet_free(a->fleet);	/* before the engine it applies to */
	rg_control_free(a->control);
	rg_sock_keeper_finish(&a->keeper);	/* the listeners are closed */
	rg_metrics_free(a->metrics);
	if (a->engine && a->cfg)
		rg_agent_save_state(a);
	rg_engine_free(a->engine);
	rg_journal_free(a->journal);
	rg_audit_close(a->audit);
	rg_notify_free(a->notify);	/* the notifier finishes what runs, then exits */
	rg_bpf_close(a->bpf); /* does not detach: the kernel keeps enforcing */
	rg_config_free(a->cfg);
	rg_config_free(a->start_cfg);
	free(a->pushed_limits);
	if (a->epfd >= 0)
		close(a->epfd);
	if (a->sigfd >= 0)
		close(a->sigfd);
	if (a->timerfd >= 0)
		close(a->timerfd);
}

/* Descriptors the agent needs besides policy connections: control clients, metrics
 * connections, maps, links, the loop's own fds. */
#define FD_MARGIN 128

/* Each policy connection is a descriptor; the default soft limit of 1024 would refuse
 * clients below max_policy_connections. The hard limit is ours to take; below what the
 * configuration needs, say so at start rather than at the first refused connection. */
static void raise_fd_limit(uint32_t max_policy_connections)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur < (rlim_t)max_policy_connections + FD_MARGIN)
		pr_warn("RLIMIT_NOFILE is %llu, below max_policy_connections (%u) plus %d for the "
			"agent's own descriptors: connections will be refused when they run out",
			(unsigned long long)rl.rlim_cur, max_policy_connections, FD_MARGIN);
}

/* Reloads read every file again as the agent's user: one it cannot open would refuse every
 * reload. A warning, not a refusal to start: the configuration already loaded is right, and
 * Postfix would rather have the policy service than none; the fix is the operator's. */
static void warn_unreadable_config(const struct rg_config *c)
{
	for (size_t i = 0; i < c->n_files; i++) {
		int fd = open(c->files[i], O_RDONLY | O_CLOEXEC | O_NOCTTY);

		if (fd >= 0) {
			close(fd);
			continue;
		}
		pr_warn("%s cannot be read by user %s (%s): every reload will be refused; make it "
			"and its directories readable by %s (chgrp %s FILE; chmod g+r FILE)",
			c->files[i], c->user, strerror(errno), c->user, c->user);
	}
}

/* The files the running agent writes become its user's; then it keeps CAP_BPF only and
 * the syscall filter (sandbox.h) holds it to what the loop does. */
static int drop_privileges(struct rg_agent *a)
{
	const char *dirs[] = { a->cfg->state_dir, a->cfg->pin_dir };
	const char *files[] = { a->cfg->audit_log };
	struct rg_privs_opts po = {
		.user = a->cfg->user, .allow_privileged = a->cfg->allow_privileged,
		.dirs = dirs, .n_dirs = 2, .files = files, .n_files = 1,
		.control_socket = a->cfg->control_socket,
	};
	const struct rg_sock_file *socks[RG_SOCK_KEEPER_MAX];
	size_t n = 0;
	int err;

	/* The policy socket's directory (Postfix's private/) is not the agent's user's to write:
	 * a root helper holding only CAP_DAC_OVERRIDE removes the files at a clean stop. */
	if (strcmp(a->cfg->user, "root") && !geteuid()) {
		n = rg_policy_server_sock_files(a->policy, socks, RG_SOCK_KEEPER_MAX);
		n += rg_control_sock_files(a->control, socks + n, RG_SOCK_KEEPER_MAX - n);
		if (n)
			rg_sock_keeper_start(socks, n, a->cfg->seccomp, &a->keeper);
	}
	err = rg_drop_privileges(&po);
	if (err) {
		pr_err("cannot drop privileges to user %s with CAP_BPF only; not started "
		       "(allow_privileged = yes runs on regardless)", a->cfg->user);
		return err;
	}
	pr_info("running as uid %u (user %s), keeping CAP_BPF only", (unsigned)getuid(),
		a->cfg->user);
	warn_unreadable_config(a->cfg);
	if (!a->cfg->seccomp) {
		pr_warn("seccomp = no: the syscall filter is off (for debugging only)");
		return 0;
	}
	err = rg_seccomp_install();
	if (err)
		pr_err("cannot install the syscall filter; not started (seccomp = no turns it off)");
	return err;
}

int rg_agent_run(const char *config_path, bool debug)
{
	struct rg_agent a = { .config_path = config_path, .epfd = -1, .sigfd = -1, .timerfd = -1 };
	struct rg_config_errors errs = { 0 };
	int locks[2] = { -1, -1 };
	sigset_t mask;
	int err, rate_fd = -1;

	a.started_real_ns = rg_now_real_ns();
	rg_hist_init_latency(&a.latency);

	err = rg_config_load(config_path, &a.cfg, &errs);
	for (size_t i = 0; i < errs.n; i++)
		pr_err("%s", errs.msgs[i]);
	rg_config_errors_free(&errs);
	if (err) {
		pr_err("cannot load %s: not started", config_path);
		return -EINVAL;
	}
	for (size_t i = 0; i < a.cfg->warnings.n; i++)
		pr_warn("%s", a.cfg->warnings.msgs[i]);
	if (!debug)
		rg_log_set_level(a.cfg->log_level);
	raise_fd_limit(a.cfg->max_policy_connections);
	/* First, while nothing else is open and the agent is root with every syscall: the
	 * notifier is the one process that may exec (notify.h). */
	err = rg_notify_start(a.cfg->user, &a.notify);
	if (err) {
		pr_err("cannot start the notifier: %s", strerror(-err));
		goto out;
	}

	/* Signals through signalfd, so the loop handles them between requests. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	a.sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	err = rg_reload_job_new(config_path, &a.reload_job);
	if (err) {
		pr_err("cannot set up the configuration loader: %s", strerror(-err));
		goto out;
	}
	a.timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	a.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (a.sigfd < 0 || a.timerfd < 0 || a.epfd < 0) {
		err = -errno;
		pr_err("cannot set up the event loop: %s", strerror(-err));
		goto out;
	}

	err = rg_mkdir_p(a.cfg->state_dir, 0700);
	if (err) {
		pr_err("cannot create state_dir %s: %s", a.cfg->state_dir, strerror(-err));
		goto out;
	}
	err = lock_dirs(a.cfg, locks);
	if (err)
		goto out;
	err = rg_audit_open(a.cfg->audit_log, &a.audit);
	if (err) {
		pr_err("cannot open audit log %s: %s", a.cfg->audit_log, strerror(-err));
		goto out;
	}
	rg_audit_set_repeat_interval(a.audit, a.cfg->audit_repeat_interval_ns);

	/* BPF first: the engine pushes persisted verdicts and connectors into the maps as it
	 * loads its state. */
	err = start_bpf(&a);
	if (err) {
		pr_err("cannot attach the BPF program; not started");
		goto out;
	}

	a.engine = rg_engine_new(a.cfg, &agent_ops, &a);
	if (!a.engine) {
		err = -ENOMEM;
		goto out;
	}
	rg_engine_set_audit(a.engine, a.audit);
	rg_audit_set_tap(a.audit, on_audit, &a);
	/* Snapshot, journal replayed on top, pushed to the kernel, compacted. */
	err = rg_journal_load(a.engine, a.cfg->state_dir, rg_now_real_ns(), &a.journal);
	if (err == -EBADMSG)
		err = 0; /* set aside and logged by state.c; a fresh start beats no policy service */
	if (err) {
		pr_err("cannot load state from %s: %s; not started", a.cfg->state_dir,
		       strerror(-err));
		goto out;
	}
	if (rg_journal_broken(a.journal))
		a.state_dirty = true;
	a.last_compact_mono_ns = rg_now_mono_ns();
	adopt_kernel_verdicts(&a);
	push_rate_limits(&a);
	err = rg_bpf_rate_events_open(a.bpf, on_rate_event, &a, &rate_fd);
	if (err) {
		pr_err("cannot read the kernel's connection-rate events; not started");
		goto out;
	}

	err = rg_control_new(a.cfg->control_socket, &a.control);
	if (err) {
		pr_err("cannot open control socket %s: %s", a.cfg->control_socket, strerror(-err));
		goto out;
	}
	a.commands = (struct rg_agent_ctl){
		.engine = a.engine, .bpf = a.bpf, .ops = &ctl_ops, .ctx = &a,
	};
	err = rg_agent_ctl_register(a.control, &a.commands);
	if (err) {
		pr_err("cannot register the control commands: %s", strerror(-err));
		goto out;
	}

	if (a.cfg->metrics_listen && *a.cfg->metrics_listen) {
		err = rg_metrics_new(a.cfg->metrics_listen, &a.metrics);
		if (err) {
			pr_err("cannot serve metrics on %s: %s", a.cfg->metrics_listen,
			       strerror(-err));
			goto out;
		}
		rg_metrics_add_source(a.metrics, rg_agent_metrics, &a);
	}

	struct rg_policy_server_opts po = {
		.listen = (const char *const *)a.cfg->policy_listen,
		.n_listen = a.cfg->n_policy_listen,
		.max_connections = a.cfg->max_policy_connections,
		.request_timeout_ns = a.cfg->policy_request_timeout_ns,
		.idle_timeout_ns = a.cfg->policy_idle_timeout_ns,
		.fail_mode = a.cfg->fail_mode,
		.allow = a.cfg->policy_allow,
		.n_allow = a.cfg->n_policy_allow,
		.decide = agent_decide,
		.decide_ctx = &a,
		.observe = rg_hist_observe_ns,
		.observe_ctx = &a.latency,
		.commit = policy_commit,
		.commit_ctx = &a,
	};
	err = rg_policy_server_new(&po, &a.policy);
	if (err) {
		pr_err("cannot listen for policy requests: %s", strerror(-err));
		goto out;
	}

	struct itimerspec its = { .it_interval = { 1, 0 }, .it_value = { 1, 0 } };
	timerfd_settime(a.timerfd, 0, &its, NULL);
	if ((err = watch(a.epfd, a.sigfd, EV_SIGNAL)) || (err = watch(a.epfd, a.timerfd, EV_TIMER)) ||
	    (err = watch(a.epfd, rg_policy_server_fd(a.policy), EV_POLICY)) ||
	    (err = watch(a.epfd, rg_control_fd(a.control), EV_CONTROL)) ||
	    (err = watch(a.epfd, rate_fd, EV_RATE)) ||
	    (err = watch(a.epfd, rg_reload_job_fd(a.reload_job), EV_RELOAD)) ||
	    (err = watch(a.epfd, rg_notify_fd(a.notify), EV_NOTIFY)) ||
	    (a.metrics && (err = watch(a.epfd, rg_metrics_fd(a.metrics), EV_METRICS)))) {
		pr_err("epoll: %s", strerror(-err));
		goto out;
	}

	/* Attached, pinned, bound: from here on only bpf(2) needs a capability. */
	err = drop_privileges(&a);
	if (err)
		goto out;
	/* After the drop: the Redis password file is read as the agent's user, so a file
	 * only root may read is refused at the start, not after a restart as that user. */
	err = start_fleet(&a);
	if (err)
		goto out;
	a.commands.fleet = a.fleet;
	if (a.fleet && (err = watch_fleet(&a))) {
		pr_err("epoll: %s", strerror(-err));
		goto out;
	}

	pr_info("relayguardd %s running: %zu tenant%s, mode %s, %zu policy listener(s)",
		RG_VERSION, a.cfg->n_tenants, a.cfg->n_tenants == 1 ? "" : "s",
		rg_mode_name(a.cfg->mode),
		a.cfg->n_policy_listen);
	/* Maps attached and pinned, every socket listening: Postfix may start now. */
	notify_systemd("READY=1");

	while (!a.stop) {
		struct epoll_event evs[16];
		int n = epoll_wait(a.epfd, evs, 16, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			pr_err("epoll_wait: %s", strerror(-err));
			break;
		}
		for (int i = 0; i < n; i++) {
			switch (evs[i].data.u64) {
			case EV_SIGNAL:
				on_signal(&a);
				break;
			case EV_TIMER:
				on_timer(&a);
				break;
			case EV_POLICY:
				/* Every change of the iteration in one journal write, before
				 * its replies (the commit hook). */
				a.journal_hold++;
				rg_policy_server_dispatch(a.policy, 0);
				a.journal_hold--;
				journal_flush(&a);
				break;
			case EV_CONTROL:
				rg_control_dispatch(a.control);
				break;
			case EV_METRICS:
				rg_metrics_dispatch(a.metrics);
				break;
			case EV_RATE:
				rg_bpf_rate_events_consume(a.bpf);
				break;
			case EV_FLEET:
				/* Remote changes and budget answers: journalled as one write. */
				a.journal_hold++;
				rg_fleet_dispatch(a.fleet);
				a.journal_hold--;
				journal_flush(&a);
				break;
			case EV_RELOAD:
				on_reload_done(&a);
				break;
			case EV_NOTIFY:
				/* An ended notifier's fd is closed: epoll forgets it. */
				rg_notify_dispatch(a.notify);
				break;
			}
		}
	}
	err = 0;
out:
	agent_free(&a);
	for (int i = 0; i < 2; i++)
		if (locks[i] >= 0)
			close(locks[i]);
	return err;
}
