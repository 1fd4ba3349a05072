// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * agent.c: relayguardd's loop. Starts everything in the order that keeps Postfix served
 * (configuration, state, BPF attach and verdict push, then the policy listeners), runs one
 * epoll loop over signals, a 1 s timer, the policy, control and metrics servers, and
 * translates the engine's verdict callbacks into pinned-map writes (realtime expiries become
 * CLOCK_MONOTONIC for the kernel). Reports failures through the log and the counters.
 */
#include <errno.h>
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

#include "agent.h"
#include "audit.h"
#include "clock.h"
#include "gcra.h"
#include "log.h"
#include "mkdirs.h"
#include "privs.h"
#include "sandbox.h"
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

static void op_state_changed(void *ctx, bool urgent)
{
	struct rg_agent *a = ctx;

	/* A restriction or a verdict must be on disk before the reply that depends on it
	 * matters (kill -9 loses none); budget counts are saved within a second. */
	if (urgent)
		rg_agent_save_state(a);
	else
		a->state_dirty = true;
}

static const struct rg_engine_ops agent_ops = {
	.verdict_set = op_verdict_set,
	.verdict_del = op_verdict_del,
	.connectors_sync = op_connectors_sync,
	.state_changed = op_state_changed,
};

int rg_agent_save_state(struct rg_agent *a)
{
	int err = rg_state_save(a->engine, a->cfg->state_dir, rg_now_real_ns());

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
	return 0;
}

/* ---- policy ------------------------------------------------------------------------- */

/* One line per decision at debug level; every state change is in the audit log anyway. */
static void log_decision(const struct rg_policy_request *r, const struct rg_decision *d)
{
	char c[RG_PRINTABLE_MAX + 4], s[RG_PRINTABLE_MAX + 4];

	pr_debug("decision client=%s sender=%s tenant=%s class=%s action=%s%s",
		 rg_printable(r->client_address.p, r->client_address.len, c),
		 rg_printable(r->sender.p, r->sender.len, s),
		 d->tenant_name ? d->tenant_name : "-", rg_class_name(d->cls),
		 rg_action_reply(d->action), d->would_reject ? " would_reject" : "");
}

static int agent_decide(void *ctx, const struct rg_policy_req *req, char *action, size_t len)
{
	struct rg_agent *a = ctx;
	struct rg_policy_request r;
	struct rg_decision d;
	int err;

	rg_policy_request_from(req, &r);
	err = rg_engine_decide(a->engine, &r, rg_now_real_ns(), &d);
	if (err)
		return err; /* the policy server answers per fail_mode */
	if (rg_log_get_level() >= RG_LOG_DEBUG)
		log_decision(&r, &d);
	if ((size_t)snprintf(action, len, "%s", rg_action_reply(d.action)) >= len)
		return -ENOSPC;
	return 0;
}

/* ---- connection-rate sampling ------------------------------------------------------- */

struct rate_walk {
	struct rg_agent *a;
	uint64_t now_mono, now_real;
};

static int rate_cb(const struct rg_host_key *key, const struct rg_host *h, void *ctx)
{
	struct rate_walk *w = ctx;
	double est = rg_bpf_host_window_conns(h, w->now_mono);

	if (est < 1)
		return 0;

	struct rg_cidr host;
	memcpy(host.addr, key->addr, 16);
	host.is_v4 = rg_addr_is_v4(key->addr);
	host.prefixlen = host.is_v4 ? 96 + w->a->cfg->host_prefix_v4 : w->a->cfg->host_prefix_v6;
	rg_engine_conn_rate(w->a->engine, &host, h->tenant_id, (uint64_t)est, RG_RATE_WINDOW_NS,
			    w->now_real);
	return 0;
}

static void sample_conn_rates(struct rg_agent *a)
{
	struct rate_walk w = { a, rg_now_mono_ns(), rg_now_real_ns() };

	if (a->bpf)
		rg_bpf_hosts_foreach(a->bpf, rate_cb, &w);
}

/* ---- reload ------------------------------------------------------------------------- */

/* The config's key table says which keys only a restart applies; name the changed ones. */
static void warn_restart_only(const struct rg_config *o, const struct rg_config *n)
{
	const char *keys[32];
	char list[512];
	size_t k = rg_config_restart_keys(o, n, keys, 32), len = 0;

	if (!k)
		return;
	list[0] = '\0';
	for (size_t i = 0; i < k && i < 32 && len < sizeof(list); i++)
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s", i ? ", " : "",
					keys[i]);
	pr_warn("reload: [agent] %s change only on restart; the running values stay", list);
}

int rg_agent_reload(struct rg_agent *a, struct rg_config_errors *errs)
{
	struct rg_config_errors local = { 0 };
	struct rg_config *n = NULL;
	int err;

	if (!errs)
		errs = &local;
	err = rg_config_load(a->config_path, &n, errs);
	if (err) {
		a->reload_failures++;
		pr_err("reload of %s refused; the running configuration stays", a->config_path);
		for (size_t i = 0; i < errs->n; i++)
			pr_err("%s", errs->msgs[i]);
		rg_config_errors_free(&local);
		return err;
	}
	for (size_t i = 0; i < n->warnings.n; i++)
		pr_warn("%s", n->warnings.msgs[i]);
	warn_restart_only(a->cfg, n);
	err = rg_engine_reconfigure(a->engine, n, rg_now_real_ns());
	if (err) {
		a->reload_failures++;
		pr_err("reload: engine refused the configuration: %s", strerror(-err));
		rg_config_free(n);
		return err;
	}
	rg_config_free(a->cfg);
	a->cfg = n;
	rg_log_set_level(n->log_level);
	a->reloads++;
	pr_info("reloaded %s: %zu tenants", a->config_path, n->n_tenants);
	rg_agent_save_state(a);
	return 0;
}

/* ---- control commands -> agent ------------------------------------------------------- */

static const struct rg_config *ctl_config(void *ctx)
{
	const struct rg_agent *a = ctx;

	return a->cfg;
}

static int ctl_reload(void *ctx, struct rg_config_errors *errs)
{
	return rg_agent_reload(ctx, errs);
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
}

static const struct rg_agent_ctl_ops ctl_ops = {
	.config = ctl_config,
	.reload = ctl_reload,
	.status = ctl_status,
};

/* ---- loop --------------------------------------------------------------------------- */

enum { EV_SIGNAL = 1, EV_TIMER, EV_POLICY, EV_CONTROL, EV_METRICS };

static int watch(int epfd, int fd, uint64_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag };

	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev))
		return -errno;
	return 0;
}

static void on_signal(struct rg_agent *a)
{
	struct signalfd_siginfo si;

	while (read(a->sigfd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGHUP:
			pr_info("SIGHUP: reloading");
			rg_agent_reload(a, NULL);
			if (a->audit)
				rg_audit_reopen(a->audit);
			break;
		case SIGTERM:
		case SIGINT:
			pr_info("signal %u: stopping; the kernel keeps enforcing", si.ssi_signo);
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
	rg_engine_tick(a->engine, rg_now_real_ns());
	sample_conn_rates(a);
	if (a->state_dirty)
		rg_agent_save_state(a);
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
	};
	struct rg_bpf_iface_status st;
	int err;

	rg_bpf_hook_libbpf_log();
	err = rg_bpf_attach(&o, &a->bpf);
	if (err)
		return err;
	if (!rg_bpf_iface_status(c->pin_dir, c->interfaces[0], &st))
		a->prog_id = st.prog_id;
	for (size_t i = 0; i < c->n_interfaces; i++) {
		if (!rg_bpf_iface_status(c->pin_dir, c->interfaces[i], &st))
			pr_info("attached to %s (%s), program id %u", c->interfaces[i],
				rg_attach_kind_name(st.kind), st.prog_id);
	}
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

static void adopt_kernel_verdicts(struct rg_agent *a)
{
	if (a->bpf && a->cfg->mode == RG_MODE_ENFORCE)
		rg_bpf_verdict_foreach(a->bpf, adopt_cb, a);
}

static void agent_free(struct rg_agent *a)
{
	rg_policy_server_free(a->policy);
	rg_control_free(a->control);
	rg_metrics_free(a->metrics);
	if (a->engine && a->cfg)
		rg_agent_save_state(a);
	rg_engine_free(a->engine);
	rg_audit_close(a->audit);
	rg_bpf_close(a->bpf); /* does not detach: the kernel keeps enforcing */
	rg_config_free(a->cfg);
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
	int err = rg_drop_privileges(&po);

	if (err) {
		pr_err("cannot drop privileges to user %s with CAP_BPF only; not started "
		       "(allow_privileged = yes runs on regardless)", a->cfg->user);
		return err;
	}
	pr_info("running as uid %u (user %s), keeping CAP_BPF only", (unsigned)getuid(),
		a->cfg->user);
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
	sigset_t mask;
	int err;

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

	/* Signals through signalfd, so the loop handles them between requests. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	a.sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
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
	err = rg_audit_open(a.cfg->audit_log, &a.audit);
	if (err) {
		pr_err("cannot open audit log %s: %s", a.cfg->audit_log, strerror(-err));
		goto out;
	}

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
	err = rg_state_load(a.engine, a.cfg->state_dir, rg_now_real_ns());
	if (err == -EBADMSG)
		err = 0; /* set aside and logged by state.c; a fresh start beats no policy service */
	if (!err)
		adopt_kernel_verdicts(&a);
	if (err) {
		pr_err("cannot load state from %s: %s; not started", a.cfg->state_dir,
		       strerror(-err));
		goto out;
	}
	rg_agent_save_state(&a);

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
		.decide = agent_decide,
		.decide_ctx = &a,
		.observe = rg_hist_observe_ns,
		.observe_ctx = &a.latency,
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
	    (a.metrics && (err = watch(a.epfd, rg_metrics_fd(a.metrics), EV_METRICS)))) {
		pr_err("epoll: %s", strerror(-err));
		goto out;
	}

	/* Attached, pinned, bound: from here on only bpf(2) needs a capability. */
	err = drop_privileges(&a);
	if (err)
		goto out;

	pr_info("relayguardd running: %zu tenants, mode %s, %zu policy listener(s)",
		a.cfg->n_tenants, rg_mode_name(a.cfg->mode),
		a.cfg->n_policy_listen);

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
				rg_policy_server_dispatch(a.policy, 0);
				break;
			case EV_CONTROL:
				rg_control_dispatch(a.control);
				break;
			case EV_METRICS:
				rg_metrics_dispatch(a.metrics);
				break;
			}
		}
	}
	err = 0;
out:
	agent_free(&a);
	return err;
}
