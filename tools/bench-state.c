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
 * Then the cost of persisting a new verdict (journal.h), with --verdicts V (default 10000)
 * existing block verdicts in a 100-tenant state: new blocks per second when each one
 * saves the whole state.json (what the agent did before the journal) and when each one is
 * one journal write (what it does now, at worst one verdict per loop iteration); and
 * adopting --adopt A (default 3000) verdicts at start, saved one by one or journalled in
 * one write plus one snapshot. The kernel map writes are not part of it.
 *
 * Reports two lines:
 *   bench-state tenants=N state_kib=K first_start_s=A save_s=B second_start_s=C
 *   bench-state-journal verdicts=V state_kib=K new_block_per_s_full_save=X
 *     new_block_per_s_journal=Y adopt=A adopt_full_save_s=S adopt_journal_s=T
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
#include "journal.h"
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

/* Remove the benchmark's directory; ret, or 1 when that failed. */
static int remove_dir(const char *dir, int ret)
{
	char cmd[4200];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) ? 1 : ret;
}

/* ---- a new verdict: full save vs journal ---- */

struct jctx {
	struct rg_journal *j;
};

static void j_add(void *ctx, const struct rg_engine_change *c)
{
	struct jctx *x = ctx;

	if (x->j)
		rg_journal_add(x->j, c);
}

static const struct rg_engine_ops j_ops = { .journal = j_add };

static void host_n(unsigned long i, struct rg_cidr *c)
{
	char a[32];

	snprintf(a, sizeof(a), "10.%lu.%lu.%lu", 100 + ((i >> 16) & 127), (i >> 8) & 255,
		 i & 255);
	rg_cidr_parse(a, c, false);
}

/* count new blocks from base on, each persisted by a full save or a journal write. */
static double blocks_per_s(struct rg_engine *e, struct jctx *x, const char *sdir,
			   unsigned long base, unsigned long count, bool journal)
{
	double t0 = now_s();
	struct rg_cidr h;

	for (unsigned long i = base; i < base + count; i++) {
		host_n(i, &h);
		if (rg_engine_block_host(e, &h, 0, "bench", real_ns()))
			return -1;
		if (journal ? rg_journal_flush(x->j) : rg_state_save(e, sdir, real_ns()))
			return -1;
	}
	return (double)count / (now_s() - t0);
}

/* A engines's start adopting count verdicts: saved one by one, or journalled at once. */
static double adopt_s(const struct rg_config *cfg, const char *sdir, unsigned long count,
		      bool journal)
{
	struct jctx x = { 0 };
	struct rg_engine *e = rg_engine_new(cfg, &j_ops, &x);
	double t0, t = -1;
	struct rg_cidr h;
	int err = -ENOMEM;

	if (!e || rg_journal_load(e, sdir, real_ns(), &x.j))
		goto out;
	t0 = now_s();
	for (unsigned long i = 0; i < count; i++) {
		host_n(i, &h);
		err = rg_engine_block_host(e, &h, 0, "kernel map", real_ns());
		if (!err && !journal)
			err = rg_state_save(e, sdir, real_ns());
		if (err)
			goto out;
	}
	if (journal)
		err = rg_journal_flush(x.j) || rg_journal_compact(x.j, e, real_ns());
	if (!err)
		t = now_s() - t0;
out:
	rg_journal_free(x.j);
	rg_engine_free(e);
	return t;
}

static int journal_bench(unsigned long verdicts, unsigned long adopt)
{
	char dir[] = "/tmp/rg-bench-journal.XXXXXX", conf[4096], sdir[4096], cmd[4200];
	struct rg_config_errors errs = { 0 };
	struct rg_config *cfg = NULL;
	struct rg_engine *e = NULL;
	struct jctx x = { 0 };
	double full, jour, a_full, a_jour;
	struct stat st;
	int ret = 1;

	if (!mkdtemp(dir))
		return 1;
	snprintf(sdir, sizeof(sdir), "%s/state", dir);
	if (mkdir(sdir, 0700) || write_config(dir, 100, conf, sizeof(conf)) ||
	    rg_config_load(conf, &cfg, &errs))
		goto out;
	/* Verdicts beyond the default table: room for the existing ones and the new ones. */
	cfg->verdict_table_size = (uint32_t)(verdicts + 4096 + adopt);
	e = rg_engine_new(cfg, &j_ops, &x);
	if (!e || rg_journal_load(e, sdir, real_ns(), &x.j))
		goto out;
	for (unsigned long i = 0; i < verdicts; i++) {
		struct rg_cidr h;

		host_n(i, &h);
		if (rg_engine_block_host(e, &h, 0, "bench", real_ns()))
			goto out;
	}
	if (rg_journal_compact(x.j, e, real_ns()))
		goto out;
	snprintf(cmd, sizeof(cmd), "%s/%s", sdir, RG_STATE_FILE);
	if (stat(cmd, &st))
		st.st_size = 0;
	full = blocks_per_s(e, &x, sdir, verdicts, 100, false);
	jour = blocks_per_s(e, &x, sdir, verdicts + 100, 2000, true);
	rg_journal_free(x.j);
	x.j = NULL;
	rg_engine_free(e);
	e = NULL;
	snprintf(cmd, sizeof(cmd), "rm -f '%s'/*", sdir);
	if (system(cmd))
		goto out;
	a_full = adopt_s(cfg, sdir, adopt, false);
	if (system(cmd))
		goto out;
	a_jour = adopt_s(cfg, sdir, adopt, true);
	if (full < 0 || jour < 0 || a_full < 0 || a_jour < 0)
		goto out;
	printf("bench-state-journal verdicts=%lu state_kib=%lld new_block_per_s_full_save=%.0f "
	       "new_block_per_s_journal=%.0f adopt=%lu adopt_full_save_s=%.3f "
	       "adopt_journal_s=%.3f\n", verdicts, (long long)st.st_size / 1024, full, jour,
	       adopt, a_full, a_jour);
	ret = 0;
out:
	if (ret)
		fprintf(stderr, "bench-state: the journal benchmark failed\n");
	rg_journal_free(x.j);
	rg_engine_free(e);
	rg_config_errors_free(&errs);
	rg_config_free(cfg);
	return remove_dir(dir, ret);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = { { "tenants", required_argument, NULL, 'n' },
					      { "verdicts", required_argument, NULL, 'v' },
					      { "adopt", required_argument, NULL, 'a' },
					      { NULL, 0, NULL, 0 } };
	unsigned long verdicts = 10000, adopt = 3000;
	char dir[] = "/tmp/rg-bench-state.XXXXXX", conf[4096], sdir[4096], cmd[4200];
	struct rg_config_errors errs = { 0 };
	struct rg_config *cfg = NULL;
	struct rg_engine *e;
	unsigned long n = 100000;
	double t0, first, save, second;
	struct stat st;
	int c, err, ret = 1;

	while ((c = getopt_long(argc, argv, "n:v:a:", opts, NULL)) != -1) {
		unsigned long v = strtoul(optarg, NULL, 10);

		if ((c != 'n' && c != 'v' && c != 'a') || !v || v > 16777216 ||
		    (c != 'n' && v > 1000000))
			return 2;
		*(c == 'n' ? &n : c == 'v' ? &verdicts : &adopt) = v;
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
	ret = journal_bench(verdicts, adopt);
out:
	rg_config_errors_free(&errs);
	rg_config_free(cfg);
	return remove_dir(dir, ret);
}
