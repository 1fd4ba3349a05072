/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * agent_ctl.h: the control-socket commands of relayguardd and the narrow view of the agent
 * they are given: the engine and the maps to act on, and callbacks for what the agent's
 * loop owns (the configuration in force, reload, the loop's counters). The agent fills
 * struct rg_agent_ctl; the commands never see struct rg_agent.
 */
#ifndef RG_AGENT_CTL_H
#define RG_AGENT_CTL_H

#include <stdint.h>

#include "bpfmaps.h"
#include "classify.h"
#include "config.h"
#include "control.h"
#include "fleet.h"

/* What status reports that only the loop knows. */
struct rg_agent_status {
	uint64_t started_real_ns;
	int last_state_error;		/* -errno of the last failed state save, 0 if it worked */
	uint64_t policy_connections;	/* open now */
	uint64_t policy_requests;	/* answered since start */
	/* The [agent] keys the last reload changed but only a restart applies (owned by the
	 * agent); their values in force are those of the running configuration. */
	const char *const *restart_keys;
	size_t n_restart_keys;
};

struct rg_agent_ctl_ops {
	/* The configuration in force (a reload replaces it). */
	const struct rg_config *(*config)(void *ctx);
	/* The configuration the agent started with: the values of the keys only a restart
	 * applies (interfaces, pin_dir...) that are in force, whatever a reload read. */
	const struct rg_config *(*start_config)(void *ctx);
	/* Reload the configuration file: a load that starts after this call (now, or
	 * after the one running) and whose outcome the agent gives to
	 * rg_agent_ctl_reload_done(call). 0, or -errno: nothing started, reply now. */
	int (*reload)(void *ctx, uint64_t call);
	void (*status)(void *ctx, struct rg_agent_status *out);
};

struct rg_agent_ctl {
	struct rg_engine *engine;
	struct rg_bpf *bpf;		/* NULL: the maps are not available */
	struct rg_fleet *fleet;		/* NULL: no [fleet] */
	const struct rg_agent_ctl_ops *ops;
	void *ctx;			/* the ops' first argument */
};

/* Register every command on ctl; c must outlive ctl. 0 or -errno. */
int rg_agent_ctl_register(struct rg_control *ctl, struct rg_agent_ctl *c);

/*
 * Answer the reload request call with the outcome of its reload: err 0 with the changed
 * restart-only keys, or the load's -errno with errs (the "bad_config" reply). 0, or
 * -ENOENT when the client is gone, -ENOMEM.
 */
int rg_agent_ctl_reload_done(struct rg_agent_ctl *a, struct rg_control *ctl, uint64_t call,
			     int err, const struct rg_config_errors *errs,
			     const char *const *keys, size_t n_keys);

#endif /* RG_AGENT_CTL_H */
