// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * reload_job.c: the configuration loader's worker thread (reload_job.h). Takes the path
 * of the configuration; runs rg_config_load_cancel on a thread of its own and reports the
 * result through an eventfd and rg_reload_job_take. The result is published with a
 * release store of done and read after an acquire load, so the loop sees the whole
 * configuration the worker built. The worker logs nothing: the loop logs the outcome.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "clock.h"
#include "reload_job.h"

struct rg_reload_job {
	const char *path;
	int efd;
	pthread_t thread;
	bool busy;		/* the loop's: started, not yet taken */
	atomic_bool cancel;	/* the loop asks the worker to give up */
	atomic_bool done;	/* the worker's result below is complete */
	int err;
	uint64_t started_ns, took_ns;	/* CLOCK_MONOTONIC: the load's start, its length */
	struct rg_config *cfg;
	struct rg_config_errors errs;
};

static void *worker(void *arg)
{
	struct rg_reload_job *j = arg;
	uint64_t one = 1;
	ssize_t w;

	j->err = rg_config_load_cancel(j->path, &j->cfg, &j->errs, &j->cancel);
	j->took_ns = rg_now_mono_ns() - j->started_ns;
	atomic_store_explicit(&j->done, true, memory_order_release);
	/* Cannot fail: one write per load, on a counter the loop drains. */
	w = write(j->efd, &one, sizeof(one));
	(void)w;
	return NULL;
}

int rg_reload_job_new(const char *path, struct rg_reload_job **out)
{
	struct rg_reload_job *j;

	*out = NULL;
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->path = path;
	j->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (j->efd < 0) {
		int err = -errno;

		free(j);
		return err;
	}
	*out = j;
	return 0;
}

int rg_reload_job_fd(const struct rg_reload_job *j)
{
	return j->efd;
}

bool rg_reload_job_busy(const struct rg_reload_job *j)
{
	return j->busy;
}

int rg_reload_job_start(struct rg_reload_job *j)
{
	int err;

	if (j->busy)
		return -EBUSY;
	j->cfg = NULL;
	j->errs = (struct rg_config_errors){ 0 };
	j->err = 0;
	atomic_store(&j->cancel, false);
	atomic_store(&j->done, false);
	j->started_ns = rg_now_mono_ns();
	err = pthread_create(&j->thread, NULL, worker, j);
	if (err)
		return -err;
	j->busy = true;
	return 0;
}

int rg_reload_job_take(struct rg_reload_job *j, int *err, struct rg_config **cfg,
		       struct rg_config_errors *errs, uint64_t *took_ns)
{
	uint64_t n;
	ssize_t r;

	if (!j->busy || !atomic_load_explicit(&j->done, memory_order_acquire))
		return -EAGAIN;
	r = read(j->efd, &n, sizeof(n));	/* drained: done is what counts */
	(void)r;
	pthread_join(j->thread, NULL);
	j->busy = false;
	*err = j->err;
	*cfg = j->cfg;
	*errs = j->errs;
	*took_ns = j->took_ns;
	j->cfg = NULL;
	j->errs = (struct rg_config_errors){ 0 };
	return 0;
}

void rg_reload_job_free(struct rg_reload_job *j)
{
	if (!j)
		return;
	if (j->busy) {
		atomic_store(&j->cancel, true);
		pthread_join(j->thread, NULL);
		rg_config_free(j->cfg);
		rg_config_errors_free(&j->errs);
	}
	close(j->efd);
	free(j);
}
