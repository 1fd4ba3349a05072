/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * agent.h: relayguardd's runtime: the configuration in force, the engine, the BPF side,
 * the policy, control and metrics servers, and the loop that drives them. agent.c owns the
 * loop, the engine's kernel callbacks and the control commands' callbacks (agent_ctl.h);
 * agent_metrics.c the /metrics page.
 */
#ifndef RG_AGENT_H
#define RG_AGENT_H

#include <stdbool.h>
#include <stdint.h>

#include "agent_ctl.h"
#include "bpfmaps.h"
#include "classify.h"
#include "config.h"
#include "control.h"
#include "fleet.h"
#include "metrics.h"
#include "policy.h"
#include "sock_keeper.h"
#include "version.h"

struct rg_agent {
	const char *config_path;
	struct rg_config *cfg;
	struct rg_engine *engine;
	struct rg_audit *audit;
	struct rg_bpf *bpf;
	struct rg_policy_server *policy;
	struct rg_control *control;
	struct rg_agent_ctl commands;	/* what the control commands see */
	struct rg_metrics *metrics;
	struct rg_fleet *fleet;		/* [fleet]: NULL standalone */
	struct rg_notify *notify;	/* the notifier (notify.h) */
	int epfd, sigfd, timerfd;
	bool stop;
	bool state_dirty;		/* a change missed the journal: compact soon */
	struct rg_journal *journal;	/* STATE_DIR/journal (journal.h) */
	unsigned journal_hold;		/* > 0: changes wait for one flush (loop, start) */
	uint64_t last_compact_mono_ns;
	uint64_t journal_write_failures;
	uint64_t started_real_ns;
	/* counters for metrics and status */
	uint64_t reloads, reload_failures;
	uint64_t reload_requests;	/* SIGHUPs and control requests */
	struct rg_reload_job *reload_job;	/* the loader thread (reload_job.h) */
	uint64_t reload_jobs;		/* loads started; the running one's number */
	bool reload_pending;		/* asked for while one runs: load again after it */
	/* Control requests waiting for the load that covers them (job: its number). */
	struct rg_reload_call {
		uint64_t call, job;
	} reload_calls[RG_CONTROL_MAX_CLIENTS + 1];
	size_t n_reload_calls;
	/* The configuration the agent started with, once a reload replaced cfg (NULL
	 * before): restart-only keys are compared with it, as its values stay in force. */
	struct rg_config *start_cfg;
	/* The [agent] keys the last reload changed but could not apply (restart needed). */
	const char *restart_keys[32];
	size_t n_restart_keys;
	uint64_t state_saves, state_save_failures;
	int last_state_error;		/* -errno of the last failed save, 0 if the last worked */
	uint64_t verdict_push_failures;
	uint64_t host_tag_failures;	/* kernel host retags by authentication that failed */
	struct rg_hist latency;		/* policy decision latency, seconds */
	/* The connection-rate limits last written into the kernel (NULL: none yet). */
	struct rg_bpf_tenant_limit *pushed_limits;
	size_t n_pushed_limits;
	/* what bpf attach reported, for status */
	uint32_t prog_id;
	/* Removes the socket files at a clean stop where the agent's user cannot. */
	struct rg_sock_keeper keeper;
};

/* Run until SIGTERM/SIGINT. -EINVAL: the configuration did not load. */
int rg_agent_run(const char *config_path, bool debug);

/*
 * Ask for a reload: the loader thread reads the configuration, the loop swaps it in (on
 * error the old one stays). While a load runs, requests coalesce into one more load after
 * it. call: a control request to answer with the outcome of the load that covers it (0:
 * none, SIGHUP). 0 or -errno (nothing started; call is not answered).
 */
int rg_agent_reload(struct rg_agent *a, uint64_t call);

/* Save state now (a snapshot, and an empty journal). 0 or -errno (logged, counted; the
 * agent keeps serving from memory and journalling). */
int rg_agent_save_state(struct rg_agent *a);

/* agent_metrics.c: the /metrics source. */
void rg_agent_metrics(void *ctx, struct rg_mbuf *out);

#endif /* RG_AGENT_H */
