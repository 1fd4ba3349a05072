// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * bench-state.c: the engine's persistent state at relay scale. Not a test.
 *
 * Takes --tenants N (default 100000): writes a configuration of N tenants (one connector
 * and one accepted domain each) into a temporary directory, starts an engine on it with no
 * state (the first start), saves, and starts a second engine from that state.json (the
 * second start: parse, import, sync; no kernel, the callbacks are empty). A state that does
 * not load back whole (a tenant without its id) exits 1.
 *
 * Reports one line:
 *   bench-state tenants=N state_kib=K first_start_s=A save_s=B second_start_s=C
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "classify.h"
#include "config.h"
#include "log.h"
#include "state.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int write_config(const char *dir, unsigned long n, char *path, size_t len)
{
	FILE *f;

	snprintf(path, len, "%s/rg.conf", dir);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	fprintf(f, "[agent]\ninterfaces = lo\nstate_dir = %s/state\n", dir);
	for (unsigned long i = 0; i < n; i++)
		fprintf(f, "[tenant t%lu]\nconnectors = 10.%lu.%lu.%lu/32\n"
			"accepted_domains = t%lu.example\n", i, (i >> 16) & 255, (i >> 8) & 255,
			i & 255, i);
	return fclose(f) ? -errno : 0;
}

/* An engine on cfg loaded from sdir (the agent's start without the kernel), timed. */
static struct rg_engine *start(const struct rg_config *cfg, const char *sdir, double *secs)
{
	double t0 = now_s();
	struct rg_engine *e = rg_engine_new(cfg, NULL, NULL);

	if (e && rg_state_load(e, sdir, real_ns())) {
		rg_engine_free(e);
		e = NULL;
	}
	*secs = now_s() - t0;
	return e;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = { { "tenants", required_argument, NULL, 'n' },
					      { NULL, 0, NULL, 0 } };
	char dir[] = "/tmp/rg-bench-state.XXXXXX", conf[4096], sdir[4096], cmd[4200];
	struct rg_config_errors errs = { 0 };
	struct rg_config *cfg = NULL;
	struct rg_engine *e;
	unsigned long n = 100000;
	double t0, first, save, second;
	struct stat st;
	int c, err, ret = 1;

	while ((c = getopt_long(argc, argv, "n:", opts, NULL)) != -1) {
		if (c != 'n')
			return 2;
		n = strtoul(optarg, NULL, 10);
		if (!n || n > 16777216)
			return 2;
	}
	rg_log_set_level(RG_LOG_WARN);
	if (!mkdtemp(dir))
		return 1;
	snprintf(sdir, sizeof(sdir), "%s/state", dir);
	if (mkdir(sdir, 0700) || write_config(dir, n, conf, sizeof(conf)) ||
	    rg_config_load(conf, &cfg, &errs)) {
		fprintf(stderr, "bench-state: cannot write or load %s\n", conf);
		goto out;
	}
	e = start(cfg, sdir, &first);
	if (!e)
		goto out;
	t0 = now_s();
	err = rg_state_save(e, sdir, real_ns());
	save = now_s() - t0;
	rg_engine_free(e);
	if (err)
		goto out;
	e = start(cfg, sdir, &second);
	if (!e)
		goto out;
	for (size_t i = 0; i < cfg->n_tenants; i++) {
		if (!rg_engine_tenant_id(e, cfg->tenants[i].name)) {
			fprintf(stderr, "bench-state: tenant %s has no id after the load\n",
				cfg->tenants[i].name);
			rg_engine_free(e);
			goto out;
		}
	}
	rg_engine_free(e);
	snprintf(cmd, sizeof(cmd), "%s/%s", sdir, RG_STATE_FILE);
	if (stat(cmd, &st))
		st.st_size = 0;
	printf("bench-state tenants=%lu state_kib=%lld first_start_s=%.3f save_s=%.3f "
	       "second_start_s=%.3f\n", n, (long long)st.st_size / 1024, first, save, second);
	ret = 0;
out:
	rg_config_errors_free(&errs);
	rg_config_free(cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		ret = 1;
	return ret;
}
