// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * test_state.c: the engine's persistent state and the audit log. Save, a new engine, load:
 * the same restrictions, budgets, tenant ids and verdicts, re-pushed to a recording kernel
 * (expired ones deleted); ids never reused, never 0, wrapping without collision, and
 * the removed names remembered bounded; an urgent save from inside a decision puts the
 * restriction on disk before the reply; corrupt, truncated, wrongly shaped and future-
 * version files; write failures keep the old file and the dirty flag; audit lines survive
 * hostile text and rotation. Configurations are INI files in a mkdtemp directory. TAP.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "audit.h"
#include "classify.h"
#include "config.h"
#include "journal.h"
#include "state.h"
#include "tenant_ids.h"

#define NS 1000000000ULL
#define MIN (60 * NS)
#define HOUR (3600 * NS)
#define T0 (1700000000ULL * NS)

static char tmpdir[64];
static char statedir[128];

struct rec {
	int sets, dels, syncs, changed, urgent, saves, save_errors;
	struct rg_engine_connector conns[16];
	size_t nconns;
	struct rg_engine *e;	/* set: save on urgent, as the agent does */
	uint64_t now;
};

static int r_set(void *ctx, const struct rg_cidr *t, enum rg_action a, enum rg_origin o,
		 uint64_t interval, uint64_t burst, uint64_t expires)
{
	((struct rec *)ctx)->sets++;
	return 0;
}

static int r_del(void *ctx, const struct rg_cidr *t)
{
	((struct rec *)ctx)->dels++;
	return 0;
}

static int r_sync(void *ctx, const struct rg_engine_connector *list, size_t n)
{
	struct rec *r = ctx;

	r->syncs++;
	r->nconns = n < 16 ? n : 16;
	memcpy(r->conns, list, r->nconns * sizeof(*list));
	return 0;
}

static void r_changed(void *ctx, bool urgent)
{
	struct rec *r = ctx;

	r->changed++;
	r->urgent += urgent;
	if (urgent && r->e) {
		if (rg_state_save(r->e, statedir, r->now))
			r->save_errors++;
		else
			r->saves++;
	}
}

static const struct rg_engine_ops rec_ops = {
	.verdict_set = r_set, .verdict_del = r_del, .connectors_sync = r_sync,
	.state_changed = r_changed,
};

static int setup(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/rg-test-state.XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* A fresh state directory per test. */
static void new_statedir(void)
{
	static int k;

	snprintf(statedir, sizeof(statedir), "%s/state%d", tmpdir, k++);
	assert_int_equal(mkdir(statedir, 0700), 0);
}

static struct rg_config *load_cfg(const char *tenants)
{
	static int k;
	struct rg_config_errors errs = { 0 };
	struct rg_config *cfg = NULL;
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/rg%d.conf", tmpdir, k++);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "[agent]\ninterfaces = eth0\nstate_dir = %s\n"
		   "[limits]\nunregistered_limit = 3\nunregistered_window = 1h\nflood_limit = 2\n"
		   "flood_block_time = 15m\n%s",
		statedir, tenants ? tenants :
		"[tenant contoso]\nconnectors = 192.0.2.0/24\naccepted_domains = contoso.com\n"
		"[tenant fabrikam]\nconnectors = 198.51.100.0/24\n"
		"accepted_domains = fabrikam.com\nblock_duration = 1h\n");
	assert_int_equal(fclose(f), 0);
	int err = rg_config_load(path, &cfg, &errs);

	for (size_t i = 0; i < errs.n; i++)
		fprintf(stderr, "# config: %s\n", errs.msgs[i]);
	rg_config_errors_free(&errs);
	assert_int_equal(err, 0);
	return cfg;
}

static struct rg_slice S(const char *s)
{
	struct rg_slice x = { s, s ? strlen(s) : 0 };

	return x;
}

static struct rg_decision ask(struct rg_engine *e, const char *client, const char *sender,
			      uint64_t now)
{
	struct rg_policy_request req = { 0 };
	struct rg_decision d;

	req.client_address = S(client);
	req.sender = S(sender);
	assert_int_equal(rg_engine_decide(e, &req, now, &d), 0);
	return d;
}

static struct rg_tenant_info info(struct rg_engine *e, const struct rg_config *cfg,
				  const char *name, uint64_t now)
{
	struct rg_tenant_info ti;
	int idx = rg_config_find_tenant(cfg, name);

	assert_true(idx >= 0);
	assert_int_equal(rg_engine_tenant_info(e, (size_t)idx, now, &ti), 0);
	return ti;
}

static void write_state(const char *text, size_t len)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", statedir, RG_STATE_FILE);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
}

static int count_files(const char *prefix)
{
	DIR *d = opendir(statedir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, prefix, strlen(prefix)))
			n++;
	closedir(d);
	return n;
}

static struct json_object *read_state(void)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", statedir, RG_STATE_FILE);
	return json_object_from_file(path);
}

/* ---- tests ---- */

static void test_roundtrip(void **state)
{
	struct rg_config *cfg;
	struct rg_engine *a, *b;
	struct rec ra = { 0 }, rb = { 0 };
	struct rg_cidr net, host;
	struct rg_engine_verdict v;
	struct rg_decision d;
	uint32_t contoso, fabrikam;

	new_statedir();
	cfg = load_cfg(NULL);
	a = rg_engine_new(cfg, &rec_ops, &ra);
	assert_non_null(a);
	assert_int_equal(rg_state_load(a, statedir, T0), 0);	/* no file: fresh */
	assert_int_equal(ra.syncs, 1);
	contoso = info(a, cfg, "contoso", T0).id;
	fabrikam = info(a, cfg, "fabrikam", T0).id;
	/* contoso: restricted, and its host flood-blocked; fabrikam: 2 of 3 used. */
	for (int i = 0; i < 6; i++)
		ask(a, "192.0.2.10", "x@evil.example", T0 + i * NS);
	assert_true(info(a, cfg, "contoso", T0 + 10 * NS).restricted);
	ask(a, "198.51.100.1", "x@evil.example", T0 + 7 * NS);
	ask(a, "198.51.100.1", "x@evil.example", T0 + 8 * NS);
	assert_int_equal(rg_cidr_parse("203.0.113.0/24", &net, false), 0);
	assert_int_equal(rg_engine_block_host(a, &net, 0, "uid=0 pid=1", T0), 0);
	assert_int_equal(rg_cidr_parse("203.0.113.128/25", &host, false), 0);
	assert_int_equal(rg_engine_block_host(a, &host, 10 * MIN, "uid=0 pid=1", T0), 0);
	assert_int_equal(ra.sets, 3);
	assert_true(rg_engine_dirty(a) & RG_DIRTY_URGENT);
	assert_int_equal(rg_state_save(a, statedir, T0 + 9 * NS), 0);
	assert_int_equal(rg_engine_dirty(a), 0);
	assert_int_equal(count_files(".state.json.tmp"), 0);
	rg_engine_free(a);

	/* A new engine (as after a restart) picks it all up and re-pushes the verdicts. */
	b = rg_engine_new(cfg, &rec_ops, &rb);
	assert_int_equal(rg_state_load(b, statedir, T0 + MIN), 0);
	assert_int_equal(rb.syncs, 1);
	assert_int_equal(rb.sets, 3);
	assert_int_equal(rb.dels, 0);
	struct rg_tenant_info ti = info(b, cfg, "contoso", T0 + MIN);

	assert_true(ti.restricted);
	assert_string_equal(ti.reason, "limit");
	assert_int_equal(ti.id, contoso);
	assert_int_equal(ti.since_ns, T0 + 3 * NS);
	ti = info(b, cfg, "fabrikam", T0 + MIN);
	assert_false(ti.restricted);
	assert_int_equal(ti.id, fabrikam);
	assert_int_equal(ti.unregistered, 2);
	for (size_t i = 0; i < rb.nconns; i++)
		assert_int_equal(rb.conns[i].tenant_id,
				 rb.conns[i].cidr.addr[12] == 192 ? contoso : fabrikam);
	assert_int_equal(rg_engine_verdict_get(b, &net, &v), 0);
	assert_int_equal(v.action, RG_ACT_BLOCK);
	assert_string_equal(v.by, "uid=0 pid=1");
	d = ask(b, "192.0.2.10", "x@evil.example", T0 + MIN);
	assert_int_equal(d.action, RG_REPLY_REJECT);
	d = ask(b, "198.51.100.1", "x@evil.example", T0 + MIN);	/* 3 of 3 */
	assert_int_equal(d.action, RG_REPLY_DUNNO);
	d = ask(b, "198.51.100.1", "x@evil.example", T0 + MIN);
	assert_int_equal(d.action, RG_REPLY_REJECT);
	rg_engine_free(b);

	/* Loaded later: the 10-minute block has expired: deleted in the kernel, not pushed. */
	memset(&rb, 0, sizeof(rb));
	b = rg_engine_new(cfg, &rec_ops, &rb);
	assert_int_equal(rg_state_load(b, statedir, T0 + HOUR), 0);
	assert_int_equal(rb.dels, 2);	/* the /25 and the flood block of 192.0.2.10 */
	assert_int_equal(rb.sets, 1);
	assert_int_equal(rg_engine_verdict_get(b, &host, &v), -ENOENT);
	/* fabrikam's budget moved out of the window meanwhile. */
	assert_int_equal(info(b, cfg, "fabrikam", T0 + HOUR + 10 * NS).unregistered, 0);
	rg_engine_free(b);
	rg_config_free(cfg);
}

static void test_ids_never_reused(void **state)
{
	struct rg_config *c1, *c2, *c3;
	struct rg_engine *e;
	struct rec r = { 0 };
	uint32_t a, b, c;

	new_statedir();
	c1 = load_cfg("[tenant alpha]\nconnectors = 192.0.2.0/26\naccepted_domains = a.example\n"
		      "[tenant beta]\nconnectors = 192.0.2.64/26\naccepted_domains = b.example\n");
	e = rg_engine_new(c1, &rec_ops, &r);
	assert_int_equal(rg_state_load(e, statedir, T0), 0);
	a = rg_engine_tenant_id(e, "alpha");
	b = rg_engine_tenant_id(e, "beta");
	assert_int_equal(rg_state_save(e, statedir, T0), 0);
	rg_engine_free(e);

	/* Restart with alpha gone and gamma new: beta keeps its id, gamma gets a new one. */
	c2 = load_cfg("[tenant gamma]\nconnectors = 192.0.2.0/26\naccepted_domains = g.example\n"
		      "[tenant beta]\nconnectors = 192.0.2.64/26\naccepted_domains = b.example\n");
	e = rg_engine_new(c2, &rec_ops, &r);
	assert_int_equal(rg_state_load(e, statedir, T0), 0);
	assert_int_equal(rg_engine_tenant_id(e, "beta"), b);
	c = rg_engine_tenant_id(e, "gamma");
	assert_true(c != a && c != b && c >= 1);
	assert_int_equal(rg_state_save(e, statedir, T0), 0);
	rg_engine_free(e);

	/* alpha comes back: its old id, still distinct from gamma's. */
	c3 = load_cfg("[tenant alpha]\nconnectors = 192.0.2.0/26\naccepted_domains = a.example\n"
		      "[tenant gamma]\nconnectors = 192.0.2.128/26\naccepted_domains = g.example\n");
	e = rg_engine_new(c3, &rec_ops, &r);
	assert_int_equal(rg_state_load(e, statedir, T0), 0);
	assert_int_equal(rg_engine_tenant_id(e, "alpha"), a);
	assert_int_equal(rg_engine_tenant_id(e, "gamma"), c);
	rg_engine_free(e);
	rg_config_free(c1);
	rg_config_free(c2);
	rg_config_free(c3);
}

/* Ids near the top of the range: the cursor wraps to 1 and skips every id in use, so no
 * tenant gets 0 ("unassigned" in the kernel) or another's id, and the saved state loads
 * back. */
static void test_ids_wrap_without_collision(void **state)
{
	static const char *const names[] = { "alpha", "beta", "gamma", "delta", "epsilon" };
	struct rg_config *cfg;
	struct rg_engine *e;
	struct rec r = { 0 };
	uint32_t got[5];
	char text[512];

	new_statedir();
	cfg = load_cfg("[tenant alpha]\nconnectors = 192.0.2.0/28\naccepted_domains = a.example\n"
		       "[tenant beta]\nconnectors = 192.0.2.16/28\naccepted_domains = b.example\n"
		       "[tenant gamma]\nconnectors = 192.0.2.32/28\naccepted_domains = g.example\n"
		       "[tenant delta]\nconnectors = 192.0.2.48/28\naccepted_domains = d.example\n"
		       "[tenant epsilon]\nconnectors = 192.0.2.64/28\n"
		       "accepted_domains = e.example\n");
	snprintf(text, sizeof(text), "{\"version\":1,\"next_tenant_id\":%u,\"tenant_ids\":"
		 "{\"alpha\":%u,\"beta\":1,\"gamma\":2,\"gone\":3},\"tenants\":{},\"verdicts\":[]}",
		 RG_TENANT_ID_MAX, RG_TENANT_ID_MAX);
	write_state(text, strlen(text));
	e = rg_engine_new(cfg, &rec_ops, &r);
	assert_int_equal(rg_state_load(e, statedir, T0), 0);
	for (size_t i = 0; i < 5; i++) {
		got[i] = rg_engine_tenant_id(e, names[i]);
		assert_true(got[i] >= 1 && got[i] <= RG_TENANT_ID_MAX);
		for (size_t j = 0; j < i; j++)
			assert_true(got[i] != got[j]);
	}
	assert_int_equal(got[0], RG_TENANT_ID_MAX);
	assert_int_equal(got[1], 1);
	assert_int_equal(got[2], 2);
	/* 3 is still held by the removed tenant "gone". */
	assert_int_equal(got[3], 4);
	assert_int_equal(got[4], 5);
	assert_int_equal(rg_tenant_ids_of(rg_engine_ids(e), "gone"), 3);
	assert_int_equal(rg_state_save(e, statedir, T0), 0);
	rg_engine_free(e);

	/* The saved state (cursor past the wrap) loads back with the same ids. */
	e = rg_engine_new(cfg, &rec_ops, &r);
	assert_int_equal(rg_state_load(e, statedir, T0), 0);
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(rg_engine_tenant_id(e, names[i]), got[i]);
	rg_engine_free(e);

	/* A cursor out of range (2^32 - 1, or 0) starts at 1 and still skips ids in use. */
	for (int k = 0; k < 2; k++) {
		snprintf(text, sizeof(text), "{\"version\":1,\"next_tenant_id\":%u,\"tenant_ids\":"
			 "{\"alpha\":1,\"beta\":2},\"tenants\":{},\"verdicts\":[]}",
			 k ? 0 : UINT32_MAX);
		write_state(text, strlen(text));
		e = rg_engine_new(cfg, &rec_ops, &r);
		assert_int_equal(rg_state_load(e, statedir, T0), 0);
		for (size_t i = 0; i < 5; i++)
			assert_int_equal(rg_engine_tenant_id(e, names[i]), i + 1);
		rg_engine_free(e);
	}
	rg_config_free(cfg);
}

static int count_id(const char *name, uint32_t id, void *ctx)
{
	(*(size_t *)ctx)++;
	return 0;
}

/* Names removed from the configuration are remembered, but only the most recent
 * RG_TENANT_IDS_RETIRED_MAX of them: the table, and the state file, stay bounded. */
static void test_retired_ids_bounded(void **state)
{
	size_t extra = 5, n = RG_TENANT_IDS_RETIRED_MAX + extra, len = 0, cap = n * 32 + 256;
	char *text = malloc(cap);
	struct rg_config *cfg;
	struct rg_engine *e;
	struct rec r = { 0 };
	size_t count = 0;

	assert_non_null(text);
	new_statedir();
	cfg = load_cfg(NULL);
	len += (size_t)snprintf(text + len, cap - len, "{\"version\":1,\"next_tenant_id\":%zu,"
				"\"tenant_ids\":{\"contoso\":1", n + 2);
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(text + len, cap - len, ",\"old%zu\":%zu", i, i + 2);
	len += (size_t)snprintf(text + len, cap - len, "},\"tenants\":{},\"verdicts\":[]}");
	assert_true(len < cap);
	write_state(text, len);
	free(text);
	e = rg_engine_new(cfg, &rec_ops, &r);
	assert_int_equal(rg_state_load(e, statedir, T0), 0);
	assert_int_equal(rg_engine_tenant_id(e, "contoso"), 1);
	assert_int_equal(rg_engine_tenant_id(e, "fabrikam"), n + 2);
	assert_int_equal(rg_tenant_ids_foreach(rg_engine_ids(e), count_id, &count), 0);
	assert_int_equal(count, 2 + RG_TENANT_IDS_RETIRED_MAX);
	/* The oldest removed are forgotten, the newest kept with their ids. */
	for (size_t i = 0; i < extra; i++) {
		char name[32];

		snprintf(name, sizeof(name), "old%zu", i);
		assert_int_equal(rg_tenant_ids_of(rg_engine_ids(e), name), 0);
	}
	assert_int_equal(rg_tenant_ids_of(rg_engine_ids(e), "old5"), 7);
	assert_int_equal(rg_tenant_ids_of(rg_engine_ids(e), "old65540"), 65542);
	rg_engine_free(e);
	rg_config_free(cfg);
}

static void test_urgent_save_before_reply(void **state)
{
	struct rg_config *cfg;
	struct rg_engine *e;
	struct rec r = { 0 };
	struct json_object *o, *t, *c, *x;
	struct rg_decision d;

	new_statedir();
	cfg = load_cfg(NULL);
	e = rg_engine_new(cfg, &rec_ops, &r);
	r.e = e;
	assert_int_equal(rg_state_load(e, statedir, T0), 0);
	/* Budget counts are not urgent: nothing saved yet, but the engine is dirty. */
	for (int i = 0; i < 3; i++) {
		r.now = T0 + i * NS;
		d = ask(e, "192.0.2.10", "x@evil.example", r.now);
	}
	assert_int_equal(r.saves, 0);
	assert_int_equal(rg_engine_dirty(e), RG_DIRTY_BUDGET);
	assert_true(r.changed >= 3);
	/* The restricting request: saved from inside decide, before it returned. */
	r.now = T0 + 3 * NS;
	d = ask(e, "192.0.2.10", "x@evil.example", r.now);
	assert_true(d.restricted_now);
	assert_int_equal(r.saves, 1);
	assert_int_equal(r.save_errors, 0);
	o = read_state();
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "version", &x));
	assert_int_equal(json_object_get_int(x), 1);
	assert_true(json_object_object_get_ex(o, "tenants", &t));
	assert_true(json_object_object_get_ex(t, "contoso", &c));
	assert_true(json_object_object_get_ex(c, "restricted", &x));
	assert_true(json_object_get_boolean(x));
	assert_true(json_object_object_get_ex(c, "window", &x));
	assert_int_equal(json_object_array_length(x), 3);
	json_object_put(o);
	/* A reject that changes nothing saves nothing. */
	r.now = T0 + 4 * NS;
	ask(e, "192.0.2.10", "x@evil.example", r.now);
	assert_int_equal(r.saves, 1);
	rg_engine_free(e);
	rg_config_free(cfg);
}

static void expect_corrupt(const char *text, size_t len, struct rg_config *cfg)
{
	struct rec r = { 0 };
	struct rg_engine *e = rg_engine_new(cfg, &rec_ops, &r);
	char path[256];

	write_state(text, len);
	assert_int_equal(rg_state_load(e, statedir, T0), -EBADMSG);
	/* Kept aside, never deleted; the engine starts fresh and synced. */
	assert_int_equal(count_files("state.json.corrupt-20231114T221320Z"), 1);
	snprintf(path, sizeof(path), "%s/%s", statedir, RG_STATE_FILE);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(r.syncs, 1);
	assert_false(info(e, cfg, "contoso", T0).restricted);
	assert_int_equal(rg_engine_tenant_id(e, "contoso"), 1);
	/* It can save a new state after that. */
	assert_int_equal(rg_state_save(e, statedir, T0), 0);
	rg_engine_free(e);
	snprintf(path, sizeof(path), "%s/state.json.corrupt-20231114T221320Z", statedir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/%s", statedir, RG_STATE_FILE);
	unlink(path);
}

static void test_corrupt_files(void **state)
{
	static const char *const bad[] = {
		"garbage",
		"{\"version\":1,\"next_tenant_id\":3,\"tenant_ids\":{\"contoso\":1}",	/* cut */
		"{\"version\":1,\"next_tenant_id\":3,\"tenant_ids\":{},\"tenants\":{},"
		"\"verdicts\":{}}",							/* shape */
		"[1,2,3]",
		"{\"version\":1,\"next_tenant_id\":3,\"tenant_ids\":{\"contoso\":1,\"x\":1},"
		"\"tenants\":{},\"verdicts\":[]}",					/* dup id */
		"{\"version\":1,\"next_tenant_id\":3,\"tenant_ids\":{\"co ntoso\":1},"
		"\"tenants\":{},\"verdicts\":[]}",					/* name */
		"{\"version\":1,\"next_tenant_id\":3,\"tenant_ids\":{\"contoso\":0},"
		"\"tenants\":{},\"verdicts\":[]}",					/* id 0 */
		"{\"version\":1,\"next_tenant_id\":3,\"tenant_ids\":{\"contoso\":4294967295},"
		"\"tenants\":{},\"verdicts\":[]}",					/* id max */
		"{\"version\":1,\"next_tenant_id\":3,\"tenant_ids\":{},\"tenants\":{},"
		"\"verdicts\":[{\"target\":\"192.0.2.1/24\",\"action\":\"block\","
		"\"origin\":\"operator\"}]}",						/* host bits */
		"{\"version\":1,\"next_tenant_id\":3,\"tenant_ids\":{},\"tenants\":{},"
		"\"verdicts\":[{\"target\":\"192.0.2.1/32\",\"action\":\"none\","
		"\"origin\":\"operator\"}]}",						/* no action */
		"{\"version\":1,\"next_tenant_id\":3,\"tenant_ids\":{},\"tenants\":{},"
		"\"verdicts\":[{\"target\":\"192.0.2.1/32\",\"action\":\"block\","
		"\"origin\":\"unknown\"}]}",						/* origin */
		"{\"version\":1,\"next_tenant_id\":3,\"tenant_ids\":{},\"tenants\":{"
		"\"contoso\":{\"restricted\":\"yes\"}},\"verdicts\":[]}",		/* type */
		"{\"version\":1,\"next_tenant_id\":3,\"tenant_ids\":{},\"tenants\":{"
		"\"contoso\":{\"window\":[1,-5]}},\"verdicts\":[]}",			/* negative */
		"{\"version\":1,\"next_tenant_id\":1,\"tenant_ids\":{},\"tenants\":{},"
		"\"verdicts\":[]} trailing",
		"",
	};
	struct rg_config *cfg;

	new_statedir();
	cfg = load_cfg(NULL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_corrupt(bad[i], strlen(bad[i]), cfg);
	/* A NUL inside an otherwise good file. */
	static const char nul[] = "{\"version\":1,\"next_tenant_id\":1,\"tenant_ids\":{},"
				  "\"tenants\":{},\"verdicts\":[]}\0{}";
	expect_corrupt(nul, sizeof(nul) - 1, cfg);
	rg_config_free(cfg);
}

static void test_future_version_left_alone(void **state)
{
	static const char v2[] = "{\"version\":2,\"whatever\":true}";
	struct rg_config *cfg;
	struct rg_engine *e;
	struct rec r = { 0 };
	struct stat st;
	char path[256];

	new_statedir();
	cfg = load_cfg(NULL);
	e = rg_engine_new(cfg, &rec_ops, &r);
	write_state(v2, strlen(v2));
	assert_int_equal(rg_state_load(e, statedir, T0), -EPROTONOSUPPORT);
	snprintf(path, sizeof(path), "%s/%s", statedir, RG_STATE_FILE);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, (off_t)strlen(v2));
	assert_int_equal(count_files("state.json.corrupt"), 0);
	assert_int_equal(r.syncs, 0);
	rg_engine_free(e);
	rg_config_free(cfg);
}

static void test_write_failure_keeps_old(void **state)
{
	struct rg_config *cfg;
	struct rg_engine *e;
	struct rec r = { 0 };
	char bad[256], path[256];
	struct json_object *o;
	int fd;

	new_statedir();
	cfg = load_cfg(NULL);
	e = rg_engine_new(cfg, &rec_ops, &r);
	assert_int_equal(rg_state_load(e, statedir, T0), 0);
	assert_int_equal(rg_engine_restrict_tenant(e, "contoso", "op", T0), 0);
	snprintf(bad, sizeof(bad), "%s/missing", statedir);
	assert_int_equal(rg_state_save(e, bad, T0), -ENOENT);
	assert_true(rg_engine_dirty(e) & RG_DIRTY_URGENT);
	snprintf(bad, sizeof(bad), "%s/afile", statedir);
	fd = open(bad, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(rg_state_save(e, bad, T0), -ENOTDIR);
	/* An existing good file stays whole when the next save cannot be written. */
	assert_int_equal(rg_state_save(e, statedir, T0), 0);
	snprintf(path, sizeof(path), "%s/.%s.tmp-%d", statedir, RG_STATE_FILE, (int)getpid());
	assert_int_equal(mkdir(path, 0700), 0);		/* the temp name is taken: EISDIR */
	assert_int_equal(rg_engine_unblock_tenant(e, "contoso", "op", T0 + NS), 0);
	assert_true(rg_state_save(e, statedir, T0 + NS) < 0);
	assert_true(rg_engine_dirty(e) & RG_DIRTY_URGENT);
	o = read_state();
	assert_non_null(o);
	assert_non_null(strstr(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
			       "\"restricted\":true"));
	json_object_put(o);
	rmdir(path);
	assert_int_equal(rg_state_save(e, statedir, T0 + NS), 0);
	assert_int_equal(rg_engine_dirty(e), 0);
	rg_engine_free(e);
	rg_config_free(cfg);
}

static void test_block_duration_across_restart(void **state)
{
	struct rg_config *cfg;
	struct rg_engine *e;
	struct rec r = { 0 };

	new_statedir();
	cfg = load_cfg(NULL);
	e = rg_engine_new(cfg, &rec_ops, &r);
	assert_int_equal(rg_state_load(e, statedir, T0), 0);
	for (int i = 0; i < 4; i++)
		ask(e, "198.51.100.1", "x@evil.example", T0);
	assert_true(info(e, cfg, "fabrikam", T0).restricted);
	assert_int_equal(info(e, cfg, "fabrikam", T0).until_ns, T0 + HOUR);
	assert_int_equal(rg_state_save(e, statedir, T0), 0);
	rg_engine_free(e);
	/* Back before the hour is over: still restricted; after: lifted on load, dirty. */
	e = rg_engine_new(cfg, &rec_ops, &r);
	assert_int_equal(rg_state_load(e, statedir, T0 + HOUR - 1), 0);
	assert_true(info(e, cfg, "fabrikam", T0 + HOUR - 1).restricted);
	rg_engine_free(e);
	e = rg_engine_new(cfg, &rec_ops, &r);
	assert_int_equal(rg_state_load(e, statedir, T0 + HOUR), 0);
	assert_false(info(e, cfg, "fabrikam", T0 + HOUR).restricted);
	assert_true(rg_engine_dirty(e) & RG_DIRTY_URGENT);
	rg_engine_free(e);
	rg_config_free(cfg);
}

static void test_removed_tenant_dropped_on_load(void **state)
{
	struct rg_config *c1, *c2;
	struct rg_engine *e;
	struct rec r = { 0 };
	struct rg_audit *a;
	char apath[256], line[RG_AUDIT_LINE_MAX];
	FILE *f;
	int removed = 0;

	new_statedir();
	c1 = load_cfg(NULL);
	e = rg_engine_new(c1, &rec_ops, &r);
	assert_int_equal(rg_state_load(e, statedir, T0), 0);
	assert_int_equal(rg_engine_restrict_tenant(e, "fabrikam", "op", T0), 0);
	assert_int_equal(rg_state_save(e, statedir, T0), 0);
	rg_engine_free(e);

	c2 = load_cfg("[tenant contoso]\nconnectors = 192.0.2.0/24\naccepted_domains = c.example\n");
	e = rg_engine_new(c2, &rec_ops, &r);
	snprintf(apath, sizeof(apath), "%s/audit.log", statedir);
	assert_int_equal(rg_audit_open(apath, &a), 0);
	rg_engine_set_audit(e, a);
	assert_int_equal(rg_state_load(e, statedir, T0 + NS), 0);
	assert_int_equal(rg_engine_tenant_count(e), 1);
	f = fopen(apath, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "\"event\":\"tenant_removed\"") && strstr(line, "fabrikam") &&
		    strstr(line, "was restricted"))
			removed++;
	fclose(f);
	assert_int_equal(removed, 1);
	rg_engine_free(e);
	rg_audit_close(a);
	rg_config_free(c1);
	rg_config_free(c2);
}

static void test_audit_lines_and_rotation(void **state)
{
	static const char sender[] = "a\0b\nc\r\"d\\\x7f\xff@x";
	struct rg_audit *a;
	struct rg_cidr host;
	char path[256], rotated[256], line[RG_AUDIT_LINE_MAX];
	struct rg_audit_event ev = {
		.event = "host_blocked", .time_ns = T0 + 123456789, .tenant = "contoso",
		.tenant_id = 7, .host = &host, .reason = "flood_limit", .has_counts = true,
		.count = 61, .limit = 60, .window_ns = MIN, .by = "uid=0 pid=1\n",
		.sender = sender, .sender_len = sizeof(sender) - 1, .action = "block",
		.origin = "flood", .expires_ns = T0 + 15 * MIN,
	};
	struct json_object *o, *x;
	FILE *f;
	int n = 0;

	new_statedir();
	assert_int_equal(rg_cidr_parse("2001:db8::/64", &host, false), 0);
	snprintf(path, sizeof(path), "%s/audit.log", statedir);
	snprintf(rotated, sizeof(rotated), "%s/audit.log.1", statedir);
	assert_int_equal(rg_audit_open(path, &a), 0);
	assert_int_equal(rg_audit_write(a, &ev), 0);
	assert_int_equal(rename(path, rotated), 0);
	ev.event = "verdict_expired";
	assert_int_equal(rg_audit_write(a, &ev), 0);	/* still the old file */
	assert_int_equal(rg_audit_reopen(a), 0);
	ev.event = "reload";
	assert_int_equal(rg_audit_write(a, &ev), 0);
	assert_int_equal(rg_audit_lines(a), 3);
	ev.event = NULL;
	assert_int_equal(rg_audit_write(a, &ev), -EINVAL);
	assert_int_equal(rg_audit_failures(a), 1);
	rg_audit_close(a);

	f = fopen(rotated, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		o = json_tokener_parse(line);
		assert_non_null(o);
		n++;
		if (n == 1) {
			assert_true(json_object_object_get_ex(o, "time", &x));
			assert_string_equal(json_object_get_string(x), "2023-11-14T22:13:20.123Z");
			assert_true(json_object_object_get_ex(o, "sender", &x));
			assert_string_equal(json_object_get_string(x), "a?b?c?\"d\\??@x");
			assert_true(json_object_object_get_ex(o, "by", &x));
			assert_string_equal(json_object_get_string(x), "uid=0 pid=1?");
			assert_true(json_object_object_get_ex(o, "host", &x));
			assert_string_equal(json_object_get_string(x), "2001:db8::/64");
			assert_true(json_object_object_get_ex(o, "window", &x));
			assert_string_equal(json_object_get_string(x), "1m");
			assert_true(json_object_object_get_ex(o, "count", &x));
			assert_int_equal(json_object_get_int(x), 61);
			assert_true(json_object_object_get_ex(o, "expires", &x));
			assert_string_equal(json_object_get_string(x), "2023-11-14T22:28:20.000Z");
		}
		json_object_put(o);
	}
	fclose(f);
	assert_int_equal(n, 2);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	assert_non_null(strstr(line, "\"event\":\"reload\""));
	assert_null(fgets(line, sizeof(line), f));
	fclose(f);
}

/* ---- journal ---- */

/* The agent's wiring: the engine's changes into the journal, flushed before "replying". */
static struct rg_journal *jr;

static void j_add(void *ctx, const struct rg_engine_change *c)
{
	assert_int_equal(rg_journal_add(jr, c), 0);
}

static const struct rg_engine_ops j_ops = {
	.verdict_set = r_set, .verdict_del = r_del, .connectors_sync = r_sync,
	.journal = j_add,
};

static struct rg_engine *j_start(const struct rg_config *cfg, struct rec *r, uint64_t now)
{
	struct rg_engine *e = rg_engine_new(cfg, &j_ops, r);

	assert_non_null(e);
	jr = NULL;
	assert_int_equal(rg_journal_load(e, statedir, now, &jr), 0);
	assert_non_null(jr);
	return e;
}

/* kill -9: nothing is saved at the end, only what each flush wrote is on disk. */
static void j_kill(struct rg_engine *e)
{
	rg_journal_free(jr);
	jr = NULL;
	rg_engine_free(e);
}

static void journal_path(char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", statedir, RG_JOURNAL_FILE);
}

static void test_journal_kill9_keeps_every_count(void **state)
{
	struct rg_config *cfg;
	struct rg_engine *e;
	struct rec r = { 0 };
	struct rg_tenant_info ti;
	struct rg_cidr host;
	struct rg_engine_verdict v;

	new_statedir();
	cfg = load_cfg(NULL);
	e = j_start(cfg, &r, T0);
	/* N = 7 counted transactions: 2 unregistered, 3 registered, 2 null senders; each
	 * flushed as the agent does before its reply; then the limit (3) restricts. */
	for (int i = 0; i < 2; i++) {
		ask(e, "192.0.2.10", "a@spam.example", T0 + (uint64_t)i * NS);
		assert_int_equal(rg_journal_flush(jr), 0);
	}
	for (int i = 0; i < 3; i++) {
		ask(e, "192.0.2.10", "a@contoso.com", T0 + 10 * NS);
		assert_int_equal(rg_journal_flush(jr), 0);
	}
	for (int i = 0; i < 2; i++)
		ask(e, "192.0.2.10", "", T0 + 11 * NS);
	assert_int_equal(rg_journal_pending(jr), 2);
	assert_int_equal(rg_journal_flush(jr), 0);
	assert_int_equal(rg_engine_restrict_tenant(e, "fabrikam", "uid=0 pid=1\nx", T0 + 12 * NS),
			 0);
	assert_int_equal(rg_cidr_parse("203.0.113.7", &host, false), 0);
	assert_int_equal(rg_engine_block_host(e, &host, 0, "uid=0", T0 + 12 * NS), 0);
	assert_int_equal(rg_journal_flush(jr), 0);
	j_kill(e);

	/* The snapshot on disk is the one of the start: all of the above is journal. */
	e = j_start(cfg, &r, T0 + 20 * NS);
	ti = info(e, cfg, "contoso", T0 + 20 * NS);
	assert_int_equal(ti.unregistered, 2);
	assert_int_equal(ti.registered, 3);
	assert_int_equal(ti.null_sender, 2);
	assert_false(ti.restricted);
	ti = info(e, cfg, "fabrikam", T0 + 20 * NS);
	assert_true(ti.restricted);
	assert_string_equal(ti.reason, "operator");
	assert_int_equal(rg_engine_verdict_get(e, &host, &v), 0);
	assert_int_equal(v.action, RG_ACT_BLOCK);
	/* The start compacted: the counts are now in the snapshot, the journal is empty,
	 * and a second kill -9 and start still has them, counted once. */
	j_kill(e);
	e = j_start(cfg, &r, T0 + 30 * NS);
	ti = info(e, cfg, "contoso", T0 + 30 * NS);
	assert_int_equal(ti.unregistered, 2);
	assert_int_equal(ti.registered, 3);
	assert_int_equal(ti.null_sender, 2);
	/* The third unregistered transaction fits; the fourth restricts, journalled. */
	ask(e, "192.0.2.10", "b@spam.example", T0 + 31 * NS);
	assert_int_equal(ask(e, "192.0.2.10", "c@spam.example", T0 + 32 * NS).action,
			 RG_REPLY_REJECT);
	assert_int_equal(rg_journal_flush(jr), 0);
	j_kill(e);
	e = j_start(cfg, &r, T0 + 40 * NS);
	ti = info(e, cfg, "contoso", T0 + 40 * NS);
	assert_true(ti.restricted);
	assert_int_equal(ti.unregistered, 3);
	j_kill(e);
	rg_config_free(cfg);
}

/* A snapshot written after the journal's generation already holds its records: a crash
 * between the snapshot and the journal's truncation counts nothing twice. */
static void test_journal_older_generation_skipped(void **state)
{
	struct rg_config *cfg;
	struct rg_engine *e;
	struct rec r = { 0 };
	char path[256], copy[300], cmd[700];

	new_statedir();
	cfg = load_cfg(NULL);
	e = j_start(cfg, &r, T0);
	ask(e, "192.0.2.10", "a@spam.example", T0);
	assert_int_equal(rg_journal_flush(jr), 0);
	journal_path(path, sizeof(path));
	snprintf(copy, sizeof(copy), "%s.keep", path);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", path, copy);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(rg_journal_compact(jr, e, T0 + NS), 0);
	j_kill(e);
	/* Put the old journal back, as if the crash came before its replacement. */
	assert_int_equal(rename(copy, path), 0);
	e = j_start(cfg, &r, T0 + 2 * NS);
	assert_int_equal(info(e, cfg, "contoso", T0 + 2 * NS).unregistered, 1);
	j_kill(e);
	rg_config_free(cfg);
}

/* A torn last record (cut mid-write) is ignored with a warning; the start goes on, the
 * whole records before it count, and hostile lines are skipped. */
static void test_journal_torn_and_hostile(void **state)
{
	struct rg_config *cfg;
	struct rg_engine *e;
	struct rec r = { 0 };
	struct stat st;
	char path[256];
	FILE *f;

	new_statedir();
	cfg = load_cfg(NULL);
	e = j_start(cfg, &r, T0);
	for (int i = 0; i < 3; i++)
		ask(e, "192.0.2.10", "a@contoso.com", T0 + (uint64_t)i * NS);
	ask(e, "192.0.2.10", "a@spam.example", T0 + 3 * NS);
	assert_int_equal(rg_journal_flush(jr), 0);
	j_kill(e);
	journal_path(path, sizeof(path));
	assert_int_equal(stat(path, &st), 0);
	/* Cut the last record (the unregistered one) in its middle. */
	assert_int_equal(truncate(path, st.st_size - 6), 0);
	f = fopen(path, "a");
	assert_non_null(f);
	fclose(f);
	e = j_start(cfg, &r, T0 + 10 * NS);
	assert_int_equal(info(e, cfg, "contoso", T0 + 10 * NS).registered, 3);
	assert_int_equal(info(e, cfg, "contoso", T0 + 10 * NS).unregistered, 0);
	j_kill(e);

	/* Hostile records between good ones: skipped, the good ones count. */
	f = fopen(path, "a");
	assert_non_null(f);
	fputs("t 1 u\nt x u contoso\nt 5 z contoso\nr 1 2 7 limit contoso\n"
	      "v 999.1.1.1/32 block operator 0 0 0 0 0 x\nv 192.0.2.1/32 throttle operator 0 0 0 "
	      "0 0\nt 1700000011000000000 u ../etc\nq\n\n", f);
	fprintf(f, "t %llu u contoso\n", (unsigned long long)(T0 + 11 * NS));
	fprintf(f, "t %llu u nosuchtenant\n", (unsigned long long)(T0 + 11 * NS));
	fclose(f);
	e = j_start(cfg, &r, T0 + 12 * NS);
	assert_int_equal(info(e, cfg, "contoso", T0 + 12 * NS).unregistered, 1);
	assert_int_equal(info(e, cfg, "contoso", T0 + 12 * NS).registered, 3);
	assert_false(info(e, cfg, "contoso", T0 + 12 * NS).restricted);
	j_kill(e);
	rg_config_free(cfg);
}

/* Every kind of change survives its line, "by" with a line break in it included. */
static void test_journal_lines_roundtrip(void **state)
{
	struct rg_engine_change in = { .kind = RG_CHANGE_VERDICT }, out;
	char line[512];

	assert_int_equal(rg_cidr_parse("2001:db8::/64", &in.v.target, false), 0);
	in.v.action = RG_ACT_THROTTLE;
	in.v.origin = RG_ORIGIN_CONN_RATE;
	in.v.interval_ns = 100000000;
	in.v.burst_ns = 6100000000;
	in.v.since_ns = T0;
	in.v.expires_ns = T0 + MIN;
	in.v.tenant_id = 42;
	snprintf(in.v.by, sizeof(in.v.by), "uid=0 pid=7\nforged");
	assert_true(rg_journal_format(&in, line, sizeof(line)) > 0);
	assert_non_null(strchr(line, '\n'));
	assert_ptr_equal(strchr(line, '\n'), line + strlen(line) - 1);
	line[strlen(line) - 1] = '\0';
	assert_int_equal(rg_journal_parse(line, &out), 0);
	assert_int_equal(out.kind, RG_CHANGE_VERDICT);
	assert_int_equal(out.v.action, RG_ACT_THROTTLE);
	assert_int_equal(out.v.origin, RG_ORIGIN_CONN_RATE);
	assert_int_equal(out.v.interval_ns, in.v.interval_ns);
	assert_int_equal(out.v.burst_ns, in.v.burst_ns);
	assert_int_equal(out.v.expires_ns, in.v.expires_ns);
	assert_int_equal(out.v.tenant_id, 42);
	assert_string_equal(out.v.by, "uid=0 pid=7 forged");
	assert_int_equal(out.v.target.prefixlen, in.v.target.prefixlen);

	in = (struct rg_engine_change){ .kind = RG_CHANGE_RESTRICT, .tenant = "t-1.x",
					.at_ns = 5, .until_ns = 9, .monitor_only = true,
					.reason = "operator" };
	assert_true(rg_journal_format(&in, line, sizeof(line)) > 0);
	line[strlen(line) - 1] = '\0';
	assert_int_equal(rg_journal_parse(line, &out), 0);
	assert_string_equal(out.tenant, "t-1.x");
	assert_int_equal(out.at_ns, 5);
	assert_int_equal(out.until_ns, 9);
	assert_true(out.monitor_only);
	assert_string_equal(out.reason, "operator");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_ids_never_reused),
		cmocka_unit_test(test_ids_wrap_without_collision),
		cmocka_unit_test(test_retired_ids_bounded),
		cmocka_unit_test(test_urgent_save_before_reply),
		cmocka_unit_test(test_corrupt_files),
		cmocka_unit_test(test_future_version_left_alone),
		cmocka_unit_test(test_write_failure_keeps_old),
		cmocka_unit_test(test_block_duration_across_restart),
		cmocka_unit_test(test_removed_tenant_dropped_on_load),
		cmocka_unit_test(test_audit_lines_and_rotation),
		cmocka_unit_test(test_journal_kill9_keeps_every_count),
		cmocka_unit_test(test_journal_older_generation_skipped),
		cmocka_unit_test(test_journal_torn_and_hostile),
		cmocka_unit_test(test_journal_lines_roundtrip),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
