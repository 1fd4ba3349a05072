/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * reload_job.h: one configuration load at a time on a worker thread, so the loop keeps
 * serving while a big configuration (includes, a million accepted domains) is read and
 * parsed. The worker only builds a new struct rg_config from the files: it never touches
 * the engine, the maps or anything else of the loop's. An eventfd (rg_reload_job_fd) turns
 * readable when the load is done; the loop then takes the result and swaps it in itself.
 */
#ifndef RG_RELOAD_JOB_H
#define RG_RELOAD_JOB_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"

struct rg_reload_job;

/* For the configuration at path (kept, not copied). 0, -ENOMEM or -errno (eventfd). */
int rg_reload_job_new(const char *path, struct rg_reload_job **out);
/* Readable once a started load is done (then call rg_reload_job_take). */
int rg_reload_job_fd(const struct rg_reload_job *j);
/* Start loading on a new thread. 0, -EBUSY (one is loading or not yet taken), -errno. */
int rg_reload_job_start(struct rg_reload_job *j);
/* A load started and not yet taken. */
bool rg_reload_job_busy(const struct rg_reload_job *j);
/*
 * The finished load: -EAGAIN while it still runs (or none was started); else 0 with the
 * worker joined and *err, *cfg and *errs what rg_config_load gave (cfg is the caller's to
 * free; errs the caller's to rg_config_errors_free), *took_ns how long it ran. The job
 * can start again.
 */
int rg_reload_job_take(struct rg_reload_job *j, int *err, struct rg_config **cfg,
		       struct rg_config_errors *errs, uint64_t *took_ns);
/* Cancel a running load (it stops within a line of what it reads), join it, free it all.
 * NULL is fine. */
void rg_reload_job_free(struct rg_reload_job *j);

#endif /* RG_RELOAD_JOB_H */
