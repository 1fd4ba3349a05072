// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * agent_metrics.c: relayguardd's /metrics page in Prometheus text format: policy requests
 * and decisions from the engine, the policy server's connection counters and latency
 * histogram, the kernel's per-CPU counters (summed), map fill levels, what is attached to
 * each configured interface, reloads and errors.
 */
#include <stddef.h>
#include <stdio.h>

#include "agent.h"
#include "audit.h"
#include "notify.h"

/* The kernel's plain counters: name, help, field of struct rg_stats. */
static const struct {
	const char *name, *help;
	size_t off;
} kernel_counters[] = {
#define KC(n, h, f) { "relayguard_kernel_" n "_total", h, offsetof(struct rg_stats, f) }
	KC("packets", "Packets the XDP/TC program saw.", packets),
	KC("smtp_packets", "TCP packets to a configured SMTP port.", smtp_packets),
	KC("smtp_connections", "New SMTP connections (SYN without ACK).", smtp_new_conns),
	KC("parse_errors", "Packets passed because their headers did not parse.", parse_errors),
	KC("fragments", "Non-first IP fragments passed untouched.", fragments),
	KC("host_insert_failures", "Host map inserts that failed.", host_insert_fail),
	KC("flow_insert_failures", "Flow map inserts that failed.", flow_insert_fail),
	KC("verdicts_expired_seen", "SYNs that met a verdict past its expiry (not enforced).",
	   verdict_expired),
	KC("rate_events", "Hosts the kernel reported over their tenant's connection_rate_limit.",
	   rate_events),
	KC("rate_events_lost", "Those reports lost to a full ring buffer (the next SYN retries).",
	   rate_event_drops),
#undef KC
};

static void kernel_metrics(struct rg_agent *a, struct rg_mbuf *o)
{
	struct rg_stats s;
	struct rg_bpf_fill fill[RG_BPF_NR_MAPS];

	if (!a->bpf || rg_bpf_stats_read(a->bpf, &s))
		return;
	for (size_t i = 0; i < sizeof(kernel_counters) / sizeof(kernel_counters[0]); i++) {
		const __u64 *v = (const __u64 *)((const char *)&s + kernel_counters[i].off);

		rg_metric_counter(o, kernel_counters[i].name, kernel_counters[i].help, (double)*v);
	}
	rg_metric_family(o, "relayguard_kernel_dropped_total", "counter",
			 "SYNs dropped in the kernel, by verdict.");
	rg_metric_sample(o, "relayguard_kernel_dropped_total", (double)s.drop_block, "verdict",
			 rg_verdict_action_name(RG_ACT_BLOCK), (const char *)NULL);
	rg_metric_sample(o, "relayguard_kernel_dropped_total", (double)s.drop_throttle, "verdict",
			 rg_verdict_action_name(RG_ACT_THROTTLE), (const char *)NULL);

	if (rg_bpf_fill_levels(a->bpf, fill))
		return;
	rg_metric_family(o, "relayguard_map_entries", "gauge", "Entries in each pinned BPF map.");
	for (int i = 0; i < RG_BPF_NR_MAPS; i++)
		rg_metric_sample(o, "relayguard_map_entries", fill[i].entries, "map", fill[i].name,
				 NULL);
	rg_metric_family(o, "relayguard_map_max_entries", "gauge",
			 "Capacity of each pinned BPF map.");
	for (int i = 0; i < RG_BPF_NR_MAPS; i++)
		rg_metric_sample(o, "relayguard_map_max_entries", fill[i].max_entries, "map",
				 fill[i].name, (const char *)NULL);
}

/* Looked up through the pins at every scrape, so a program detached or replaced behind the
 * agent's back (ip link set dev X xdp off, another loader) shows as 0 at once. */
static void attach_metrics(struct rg_agent *a, struct rg_mbuf *o)
{
	rg_metric_family(o, "relayguard_interface_attached", "gauge",
			 "1 if relayguard's program is attached to the configured interface.");
	for (size_t i = 0; i < a->cfg->n_interfaces; i++) {
		struct rg_bpf_iface_status st = { 0 };
		int err = rg_bpf_iface_status(a->cfg->pin_dir, a->cfg->interfaces[i], &st);

		rg_metric_sample(o, "relayguard_interface_attached",
				 !err && st.kind != RG_BPF_NONE, "interface", a->cfg->interfaces[i],
				 "attach", rg_attach_kind_name(err ? RG_BPF_NONE : st.kind),
				 (const char *)NULL);
	}
}

static void policy_metrics(struct rg_agent *a, struct rg_mbuf *o)
{
	struct rg_policy_stats p;

	if (!a->policy)
		return;
	rg_policy_server_get_stats(a->policy, &p);
	rg_metric_gauge(o, "relayguard_policy_connections", "Open policy connections.",
			(double)p.conns_open);
	rg_metric_counter(o, "relayguard_policy_connections_accepted_total",
			  "Policy connections accepted.", (double)p.conns_accepted);
	rg_metric_counter(o, "relayguard_policy_connections_refused_total",
			  "Policy connections refused over max_policy_connections.",
			  (double)p.conns_refused);
	rg_metric_counter(o, "relayguard_policy_connections_not_allowed_total",
			  "Inet policy connections closed at accept: peer not in policy_allow.",
			  (double)p.conns_not_allowed);
	rg_metric_counter(o, "relayguard_policy_requests_answered_total",
			  "Policy requests answered.", (double)p.requests);
	rg_metric_counter(o, "relayguard_policy_fail_mode_answers_total",
			  "Requests answered per fail_mode because no decision could be made.",
			  (double)p.decide_failures);
	rg_metric_family(o, "relayguard_policy_connections_closed_total", "counter",
			 "Policy connections closed by the server, by reason.");
	rg_metric_sample(o, "relayguard_policy_connections_closed_total", (double)p.malformed,
			 "reason", "malformed", (const char *)NULL);
	rg_metric_sample(o, "relayguard_policy_connections_closed_total",
			 (double)p.request_timeouts, "reason", "request_timeout", (const char *)NULL);
	rg_metric_sample(o, "relayguard_policy_connections_closed_total", (double)p.idle_timeouts,
			 "reason", "idle_timeout", (const char *)NULL);
	rg_metric_sample(o, "relayguard_policy_connections_closed_total",
			 (double)p.output_overflows, "reason", "output_overflow", (const char *)NULL);
	rg_hist_write(o, "relayguard_policy_decision_duration_seconds",
		      "Time from a complete policy request to its queued reply.", &a->latency);
}

static void engine_metrics(struct rg_agent *a, struct rg_mbuf *o)
{
	struct rg_engine_counters c;

	rg_engine_get_counters(a->engine, &c);
	rg_metric_family(o, "relayguard_policy_requests_total", "counter",
			 "Policy requests decided, by the action answered.");
	for (int i = 0; i < RG_REPLY__COUNT; i++)
		rg_metric_sample(o, "relayguard_policy_requests_total", (double)c.by_reply[i],
				 "action", rg_reply_name((enum rg_reply)i), (const char *)NULL);
	rg_metric_family(o, "relayguard_transactions_total", "counter",
			 "Transactions (one per Postfix instance), by sender class.");
	for (int i = 1; i < RG_CLASS__COUNT; i++)
		rg_metric_sample(o, "relayguard_transactions_total", (double)c.by_class[i], "class",
				 rg_class_name((enum rg_class)i), (const char *)NULL);
	rg_metric_counter(o, "relayguard_decide_errors_total",
			  "Requests no decision could be made for (answered per fail_mode).",
			  (double)c.decide_errors);
	rg_metric_counter(o, "relayguard_would_reject_total",
			  "Monitor mode: transactions enforce mode would have rejected.",
			  (double)c.would_reject);
	rg_metric_counter(o, "relayguard_would_block_total",
			  "Monitor mode: hosts enforce mode would have blocked.",
			  (double)c.would_block);
	rg_metric_counter(o, "relayguard_tenant_restrictions_total",
			  "Tenants restricted (budget exhausted or operator).", (double)c.restrictions);
	rg_metric_counter(o, "relayguard_tenant_unblocks_total",
			  "Restrictions lifted (operator or block_duration).", (double)c.unblocks);
	rg_metric_gauge(o, "relayguard_tenants_restricted", "Tenants restricted now.",
			(double)c.restricted_tenants);
	rg_metric_family(o, "relayguard_verdicts_set_total", "counter",
			 "Kernel verdicts set, by origin.");
	rg_metric_sample(o, "relayguard_verdicts_set_total", (double)c.flood_blocks, "origin",
			 rg_origin_name(RG_ORIGIN_FLOOD), (const char *)NULL);
	rg_metric_sample(o, "relayguard_verdicts_set_total", (double)c.conn_rate_throttles,
			 "origin", rg_origin_name(RG_ORIGIN_CONN_RATE), (const char *)NULL);
	rg_metric_sample(o, "relayguard_verdicts_set_total",
			 (double)(c.verdicts_set - c.flood_blocks - c.conn_rate_throttles),
			 "origin", rg_origin_name(RG_ORIGIN_OPERATOR), (const char *)NULL);
	rg_metric_counter(o, "relayguard_verdicts_expired_total", "Kernel verdicts expired.",
			  (double)c.verdicts_expired);
	rg_metric_gauge(o, "relayguard_verdicts", "Kernel verdicts in force.", (double)c.verdicts);
	rg_metric_counter(o, "relayguard_verdict_push_failures_total",
			  "Verdict writes into the kernel maps that failed.",
			  (double)(c.verdict_op_failures + a->verdict_push_failures));
	rg_metric_family(o, "relayguard_transactions_attributed_total", "counter",
			 "Transactions, by how their tenant was found (none: unassigned).");
	for (int i = 0; i < RG_MATCH__COUNT; i++)
		rg_metric_sample(o, "relayguard_transactions_attributed_total",
				 (double)c.by_match[i], "by", rg_match_name((enum rg_match)i),
				 (const char *)NULL);
	rg_metric_gauge(o, "relayguard_host_tags",
			"Hosts tagged with the tenant they authenticated as (SASL or certificate).",
			(double)c.host_tags);
	rg_metric_counter(o, "relayguard_host_tag_failures_total",
			  "Kernel host retags by authentication that failed.",
			  (double)a->host_tag_failures);
	rg_metric_gauge(o, "relayguard_transactions_tracked",
			"Transactions remembered for one count per instance.",
			(double)c.txn_entries);
}

/* The fleet's counters: name, help, field of struct rg_fleet_stats. */
static const struct {
	const char *name, *help;
	size_t off;
} fleet_counters[] = {
#define FC(n, h, f) { "relayguard_fleet_" n "_total", h, offsetof(struct rg_fleet_stats, f) }
	FC("budget_steps", "Unregistered transactions sent to the fleet-wide budget.",
	   budget_steps),
	FC("fallbacks", "Budget steps decided locally (Redis down, slow or in error).", fallbacks),
	FC("redis_timeouts", "Budget steps past redis_timeout.", timeouts),
	FC("redis_errors", "Redis commands that failed or answered an error.", errors),
	FC("events_published", "Changes of this relay stored in Redis.", published),
	FC("events_applied", "Changes of other relays applied here.", applied),
	FC("snapshots", "Full snapshots taken (start, a trimmed stream).", snapshots),
	FC("events_stale", "Changes made offline that lost to a newer generation in Redis.",
	   stale),
	FC("queue_dropped", "Queued changes dropped (queue_max reached while Redis was away).",
	   queue_dropped),
#undef FC
};

/* [fleet] only: standalone, the page is as it was. */
static void fleet_metrics(struct rg_agent *a, struct rg_mbuf *o)
{
	struct rg_fleet_stats s;

	if (!a->fleet)
		return;
	rg_fleet_stats(a->fleet, &s);
	for (size_t i = 0; i < sizeof(fleet_counters) / sizeof(fleet_counters[0]); i++) {
		const uint64_t *v = (const uint64_t *)((const char *)&s + fleet_counters[i].off);

		rg_metric_counter(o, fleet_counters[i].name, fleet_counters[i].help, (double)*v);
	}
	rg_metric_gauge(o, "relayguard_fleet_link_up", "1 when both Redis links are up.",
			s.link_up ? 1 : 0);
	rg_metric_gauge(o, "relayguard_fleet_synced",
			"1 when the relay follows the stream (after its snapshot).", s.synced);
	rg_metric_gauge(o, "relayguard_fleet_queue_depth",
			"Changes and counts waiting for Redis.", (double)s.queue_depth);
	rg_metric_gauge(o, "relayguard_fleet_stream_lag_seconds",
			"Age of the newest stream event read, while a read is not pending.",
			(double)s.lag_ms / 1e3);
	rg_metric_counter(o, "relayguard_fleet_redis_round_trip_seconds_sum",
			  "Budget step round trips, total seconds.", (double)s.rtt_sum_ns / 1e9);
	rg_metric_counter(o, "relayguard_fleet_redis_round_trip_seconds_count",
			  "Budget step round trips answered.", (double)s.rtt_count);
}

static void notify_metrics(struct rg_agent *a, struct rg_mbuf *o)
{
	struct rg_notify_counters n;

	rg_notify_counters(a->notify, &n);
	rg_metric_counter(o, "relayguard_notify_sent_total",
			  "notify_command runs that exited 0.", (double)n.c.sent);
	rg_metric_counter(o, "relayguard_notify_failed_total",
			  "notify_command runs that exited non-zero, were killed by a signal or "
			  "could not start.", (double)n.c.failed);
	rg_metric_counter(o, "relayguard_notify_timeouts_total",
			  "notify_command runs ended after notify_timeout.", (double)n.c.timeouts);
	rg_metric_counter(o, "relayguard_notify_dropped_total",
			  "Events not notified: the notifier's queue or socket was full, or it "
			  "had ended.", (double)n.c.dropped);
}

void rg_agent_metrics(void *ctx, struct rg_mbuf *o)
{
	struct rg_agent *a = ctx;

	engine_metrics(a, o);
	fleet_metrics(a, o);
	policy_metrics(a, o);
	kernel_metrics(a, o);
	attach_metrics(a, o);
	notify_metrics(a, o);
	rg_metric_counter(o, "relayguard_reloads_total", "Configuration reloads that took effect.",
			  (double)a->reloads);
	rg_metric_counter(o, "relayguard_audit_repeated_total",
			  "would_reject/reject events counted into a *_repeated audit line "
			  "instead of a line each (audit_repeat_interval).",
			  (double)rg_audit_repeated(a->audit));
	rg_metric_counter(o, "relayguard_reload_requests_total",
			  "Reloads asked for (SIGHUP, relayguardctl reload); those asked while one "
			  "loads share the next load.", (double)a->reload_requests);
	rg_metric_counter(o, "relayguard_reload_failures_total",
			  "Configuration reloads refused (the old one kept running).",
			  (double)a->reload_failures);
	rg_metric_counter(o, "relayguard_state_save_failures_total",
			  "State saves and journal appends that failed (the agent kept serving "
			  "from memory).",
			  (double)a->state_save_failures);
	rg_metric_counter(o, "relayguard_journal_write_failures_total",
			  "Journal appends that failed (also in state_save_failures_total).",
			  (double)a->journal_write_failures);
	rg_metric_gauge(o, "relayguard_start_time_seconds", "When the agent started (Unix time).",
			(double)(a->started_real_ns / 1000000000ull));
}
