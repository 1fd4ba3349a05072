// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * test_classify.c: the decision engine over real configurations (INI files written to a
 * mkdtemp directory and loaded by rg_config_load), with injected time and recording
 * kernel callbacks: the whole classification ladder (unassigned, null sender,
 * registered, budget, restriction, exact 5.7.750 text, instance counted once, sliding
 * window, overrides, block_duration, operator actions, monitor mode, flood and conn-rate
 * escalation, reload, IPv6 host prefixes, invalid and hostile senders in the audit log).
 * Reports cmocka TAP.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "audit.h"
#include "classify.h"
#include "clock.h"
#include "config.h"
#include "policy_proto.h"

#define NS 1000000000ULL
#define MIN (60 * NS)
#define HOUR (3600 * NS)
#define T0 (1700000000ULL * NS)	/* 2023-11-14T22:13:20Z */

static char tmpdir[64];

/* ---- recording kernel callbacks ---- */

struct rec {
	int sets, dels, syncs, changed, urgent, tags;
	struct rg_cidr tag_host;
	uint32_t tag_id;
	struct rg_cidr set_target, del_target;
	enum rg_action action;
	enum rg_origin origin;
	uint64_t interval, burst, expires;
	struct rg_engine_connector conns[16];
	size_t nconns;
};

static int r_set(void *ctx, const struct rg_cidr *t, enum rg_action a, enum rg_origin o,
		 uint64_t interval, uint64_t burst, uint64_t expires)
{
	struct rec *r = ctx;

	r->sets++;
	r->set_target = *t;
	r->action = a;
	r->origin = o;
	r->interval = interval;
	r->burst = burst;
	r->expires = expires;
	return 0;
}

static int r_del(void *ctx, const struct rg_cidr *t)
{
	struct rec *r = ctx;

	r->dels++;
	r->del_target = *t;
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
}

static int r_tag(void *ctx, const struct rg_cidr *host, uint32_t tenant_id)
{
	struct rec *r = ctx;

	r->tags++;
	r->tag_host = *host;
	r->tag_id = tenant_id;
	return 0;
}

static const struct rg_engine_ops rec_ops = {
	.verdict_set = r_set, .verdict_del = r_del, .connectors_sync = r_sync,
	.state_changed = r_changed, .host_tag = r_tag,
};

/* ---- fixtures ---- */

static int setup(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/rg-test-classify.XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* contoso: limit 3 per 1h (defaults), fabrikam: limit 1; flood_limit 5. extra is appended
 * to [agent]; tenant_extra to [tenant contoso]. */
static struct rg_config *load_cfg(const char *agent_extra, const char *limits_extra,
				  const char *contoso_extra, const char *more_tenants)
{
	static int k;
	struct rg_config_errors errs = { 0 };
	struct rg_config *cfg = NULL;
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/rg%d.conf", tmpdir, k++);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "[agent]\ninterfaces = eth0\nstate_dir = %s\nhost_prefix_v4 = 32\n"
		   "host_prefix_v6 = 64\n%s\n"
		   "[limits]\nunregistered_limit = 3\nunregistered_window = 1h\n"
		   "flood_limit = 5\nflood_block_time = 15m\nconnection_rate_limit = 600/1m\n%s\n"
		   "[tenant contoso]\nconnectors = 192.0.2.0/24 2001:db8:10::/48\n"
		   "accepted_domains = contoso.com *.contoso.com\n%s\n"
		   "%s\n",
		tmpdir, agent_extra ? agent_extra : "", limits_extra ? limits_extra : "",
		contoso_extra ? contoso_extra : "",
		more_tenants ? more_tenants :
		"[tenant fabrikam]\nconnectors = 198.51.100.0/24\naccepted_domains = fabrikam.com\n"
		"unregistered_limit = 1\n");
	assert_int_equal(fclose(f), 0);
	int err = rg_config_load(path, &cfg, &errs);

	for (size_t i = 0; i < errs.n; i++)
		fprintf(stderr, "# config: %s\n", errs.msgs[i]);
	rg_config_errors_free(&errs);
	assert_int_equal(err, 0);
	return cfg;
}

struct env {
	struct rg_config *cfg;
	struct rg_engine *e;
	struct rec rec;
	struct rg_audit *audit;
	char audit_path[256];
};

static void env_init(struct env *v, struct rg_config *cfg)
{
	memset(v, 0, sizeof(*v));
	v->cfg = cfg;
	v->e = rg_engine_new(cfg, &rec_ops, &v->rec);
	assert_non_null(v->e);
	snprintf(v->audit_path, sizeof(v->audit_path), "%s/audit-%p.log", tmpdir, (void *)v);
	unlink(v->audit_path);
	assert_int_equal(rg_audit_open(v->audit_path, &v->audit), 0);
	rg_engine_set_audit(v->e, v->audit);
	assert_int_equal(rg_engine_sync(v->e, T0), 0);
}

static void env_fini(struct env *v)
{
	rg_engine_free(v->e);
	rg_audit_close(v->audit);
	rg_config_free(v->cfg);
}

/* Reconfigure the engine to ncfg at now; the old configuration is freed, as the agent does. */
static void env_reload(struct env *v, struct rg_config *ncfg, uint64_t now)
{
	assert_int_equal(rg_engine_reconfigure(v->e, ncfg, now), 0);
	rg_config_free(v->cfg);
	v->cfg = ncfg;
}

static struct rg_slice S(const char *s)
{
	struct rg_slice x = { s, s ? strlen(s) : 0 };

	return x;
}

static struct rg_decision ask(struct env *v, const char *client, const char *sender,
			      const char *instance, const char *pstate, uint64_t now)
{
	struct rg_policy_request req = { 0 };
	struct rg_decision d;

	req.client_address = S(client);
	req.sender = S(sender);
	req.instance = S(instance);
	req.protocol_state = S(pstate ? pstate : "RCPT");
	assert_int_equal(rg_engine_decide(v->e, &req, now, &d), 0);
	return d;
}

static const char *reply(const struct rg_decision *d)
{
	return rg_action_reply(d->action);
}

static struct rg_tenant_info info(struct env *v, const char *name, uint64_t now)
{
	struct rg_tenant_info ti;
	int idx = rg_config_find_tenant(v->cfg, name);

	assert_true(idx >= 0);
	assert_int_equal(rg_engine_tenant_info(v->e, (size_t)idx, now, &ti), 0);
	return ti;
}

/* Count audit lines whose "event" is ev (all lines must be valid JSON objects). */
static int audit_count(struct env *v, const char *ev, struct json_object **last)
{
	char line[RG_AUDIT_LINE_MAX + 2];
	int n = 0;
	FILE *f = fopen(v->audit_path, "r");

	assert_non_null(f);
	if (last)
		*last = NULL;
	while (fgets(line, sizeof(line), f)) {
		struct json_object *o = json_tokener_parse(line), *e;

		assert_non_null(o);
		assert_true(json_object_is_type(o, json_type_object));
		assert_true(json_object_object_get_ex(o, "event", &e));
		assert_true(json_object_object_get_ex(o, "time", NULL));
		assert_non_null(strchr(line, '\n'));
		if (!strcmp(json_object_get_string(e), ev)) {
			n++;
			if (last) {
				json_object_put(*last);
				*last = json_object_get(o);
			}
		}
		json_object_put(o);
	}
	fclose(f);
	return n;
}

static const char *jstr(struct json_object *o, const char *k)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : NULL;
}

#define REJECT_TEXT "550 5.7.750 Service unavailable. Client blocked from sending from " \
		    "unregistered domains"

/* ---- tests ---- */

static void test_replies(void **state)
{
	assert_string_equal(rg_action_reply(RG_REPLY_REJECT), REJECT_TEXT);
	assert_string_equal(rg_action_reply(RG_REPLY_DUNNO), "DUNNO");
	assert_string_equal(rg_action_reply(RG_REPLY_TEMPFAIL),
			    "451 4.3.5 Server configuration problem");
	assert_string_equal(rg_action_reply(RG_REPLY_HOLD),
			    "HOLD 5.7.750 Service unavailable. Client blocked from sending from "
			    "unregistered domains");
	assert_string_equal(rg_action_reply(RG_REPLY_DEFER),
			    "450 4.7.750 Service unavailable. Client blocked from sending from "
			    "unregistered domains");
	assert_string_equal(rg_class_name(RG_CLASS_NULL_SENDER), "null_sender");
}

static void test_unassigned(void **state)
{
	struct env v;
	struct rg_engine_counters c;

	env_init(&v, load_cfg(NULL, NULL, NULL, NULL));
	for (int i = 0; i < 50; i++) {
		struct rg_decision d = ask(&v, "203.0.113.9", "spam@evil.example", NULL, NULL,
					   T0 + i * NS);

		assert_string_equal(reply(&d), "DUNNO");
		assert_int_equal(d.cls, RG_CLASS_UNASSIGNED);
		assert_int_equal(d.tenant, -1);
		assert_null(d.tenant_name);
		assert_int_equal(d.tenant_id, 0);
		assert_true(d.counted);
	}
	rg_engine_get_counters(v.e, &c);
	assert_int_equal(c.by_class[RG_CLASS_UNASSIGNED], 50);
	assert_int_equal(c.restrictions, 0);
	env_fini(&v);
}

static void test_null_sender_exempt(void **state)
{
	struct env v;

	env_init(&v, load_cfg(NULL, NULL, NULL, NULL));
	for (int i = 0; i < 20; i++) {
		struct rg_decision d = ask(&v, "192.0.2.10", i % 2 ? "" : NULL, NULL, NULL,
					   T0 + i * NS);

		assert_string_equal(reply(&d), "DUNNO");
		assert_int_equal(d.cls, RG_CLASS_NULL_SENDER);
		assert_string_equal(d.tenant_name, "contoso");
	}
	struct rg_tenant_info ti = info(&v, "contoso", T0 + 30 * NS);

	assert_false(ti.restricted);
	assert_int_equal(ti.unregistered, 0);
	assert_int_equal(ti.total_null_sender, 20);
	assert_int_equal(ti.null_sender, 20);
	env_fini(&v);
}

static void test_registered_passes(void **state)
{
	static const char *const ok[] = { "alice@contoso.com", "bob@CONTOSO.COM.",
					  "x@mail.contoso.com", "y@a.b.contoso.com" };
	struct env v;

	env_init(&v, load_cfg(NULL, NULL, NULL, NULL));
	for (int round = 0; round < 10; round++) {
		for (size_t i = 0; i < 4; i++) {
			struct rg_decision d = ask(&v, "192.0.2.10", ok[i], NULL, NULL,
						   T0 + round * NS);

			assert_string_equal(reply(&d), "DUNNO");
			assert_int_equal(d.cls, RG_CLASS_REGISTERED);
		}
	}
	/* fabrikam.com is registered for fabrikam, not for contoso. */
	struct rg_decision d = ask(&v, "192.0.2.10", "a@fabrikam.com", NULL, NULL, T0);

	assert_int_equal(d.cls, RG_CLASS_UNREGISTERED);
	d = ask(&v, "192.0.2.10", "a@evilcontoso.com", NULL, NULL, T0);
	assert_int_equal(d.cls, RG_CLASS_UNREGISTERED);
	assert_int_equal(info(&v, "contoso", T0).unregistered, 2);
	assert_int_equal(info(&v, "contoso", T0).registered, 40);
	env_fini(&v);
}

static void test_limit_restricts_exact_reply(void **state)
{
	struct env v;
	struct rg_decision d;
	struct json_object *last;

	env_init(&v, load_cfg(NULL, NULL, NULL, NULL));
	for (int i = 0; i < 3; i++) {
		d = ask(&v, "192.0.2.10", "spam@evil.example", NULL, NULL, T0 + i * NS);
		assert_string_equal(reply(&d), "DUNNO");
		assert_int_equal(d.cls, RG_CLASS_UNREGISTERED);
		assert_false(d.restricted_now);
	}
	assert_int_equal(v.rec.urgent, 0);
	d = ask(&v, "192.0.2.11", "spam2@evil.example", NULL, NULL, T0 + 3 * NS);
	assert_int_equal(d.action, RG_REPLY_REJECT);
	assert_string_equal(reply(&d), REJECT_TEXT);
	assert_true(d.restricted_now);
	assert_true(v.rec.urgent >= 1);

	/* Registered senders keep passing; unregistered ones are refused. */
	d = ask(&v, "192.0.2.12", "ceo@contoso.com", NULL, NULL, T0 + 4 * NS);
	assert_string_equal(reply(&d), "DUNNO");
	d = ask(&v, "192.0.2.12", "other@else.example", NULL, NULL, T0 + 5 * NS);
	assert_string_equal(reply(&d), REJECT_TEXT);
	assert_false(d.restricted_now);
	d = ask(&v, "192.0.2.12", "", NULL, NULL, T0 + 5 * NS);
	assert_string_equal(reply(&d), "DUNNO");

	/* Other tenants are not affected. */
	d = ask(&v, "198.51.100.5", "spam@evil.example", NULL, NULL, T0 + 6 * NS);
	assert_string_equal(reply(&d), "DUNNO");

	struct rg_tenant_info ti = info(&v, "contoso", T0 + 10 * NS);

	assert_true(ti.restricted);
	assert_string_equal(ti.reason, "limit");
	assert_int_equal(ti.since_ns, T0 + 3 * NS);
	assert_int_equal(ti.until_ns, 0);
	assert_int_equal(ti.total_rejected, 2);

	assert_int_equal(audit_count(&v, "tenant_restricted", &last), 1);
	assert_string_equal(jstr(last, "tenant"), "contoso");
	assert_string_equal(jstr(last, "reason"), "limit");
	assert_string_equal(jstr(last, "sender"), "spam2@evil.example");
	assert_string_equal(jstr(last, "host"), "192.0.2.11/32");
	assert_string_equal(jstr(last, "window"), "1h");
	assert_string_equal(jstr(last, "time"), "2023-11-14T22:13:23.000Z");
	json_object_put(last);
	env_fini(&v);
}

static void test_instance_counts_once(void **state)
{
	static const char *const stages[] = { "MAIL", "RCPT", "RCPT", "RCPT", "DATA",
					      "END-OF-MESSAGE" };
	struct env v;
	char inst[32];

	env_init(&v, load_cfg(NULL, NULL, NULL, NULL));
	/* Three transactions, each asked at six stages: the budget (3) is used, not passed. */
	for (int t = 0; t < 3; t++) {
		snprintf(inst, sizeof(inst), "1a2b.%d.3c4d.0", t);
		for (size_t s = 0; s < 6; s++) {
			struct rg_decision d = ask(&v, "192.0.2.10", "x@evil.example", inst,
						   stages[s], T0 + t * MIN + s * NS);

			assert_string_equal(reply(&d), "DUNNO");
			assert_int_equal(d.counted, s == 0);
			assert_int_equal(d.cached, s != 0);
			assert_int_equal(d.cls, RG_CLASS_UNREGISTERED);
		}
	}
	assert_int_equal(info(&v, "contoso", T0 + HOUR / 2).unregistered, 3);
	assert_false(info(&v, "contoso", T0 + HOUR / 2).restricted);
	/* The fourth restricts, and all its stages answer the same. */
	for (size_t s = 0; s < 6; s++) {
		struct rg_decision d = ask(&v, "192.0.2.10", "x@evil.example", "ffff.4.0",
					   stages[s], T0 + 10 * MIN + s * NS);

		assert_string_equal(reply(&d), REJECT_TEXT);
		assert_int_equal(d.restricted_now, s == 0);
	}
	/* A transaction that passed before the restriction keeps its answer at DATA. */
	struct rg_decision d = ask(&v, "192.0.2.10", "x@evil.example", "1a2b.0.3c4d.0", "DATA",
				   T0 + 11 * MIN);

	assert_string_equal(reply(&d), "DUNNO");
	assert_false(d.counted);
	/* The same instance string from another client is another transaction. */
	d = ask(&v, "192.0.2.99", "x@evil.example", "1a2b.0.3c4d.0", "RCPT", T0 + 11 * MIN);
	assert_true(d.counted);
	assert_string_equal(reply(&d), REJECT_TEXT);

	struct rg_engine_counters c;

	rg_engine_get_counters(v.e, &c);
	assert_int_equal(c.transactions, 5);
	assert_int_equal(c.requests, 26);
	env_fini(&v);
}

static void test_no_instance_each_counts(void **state)
{
	struct env v;
	struct rg_decision d;

	env_init(&v, load_cfg(NULL, NULL, NULL, NULL));
	for (int i = 0; i < 3; i++) {
		d = ask(&v, "192.0.2.10", "x@evil.example", NULL, "RCPT", T0 + i * NS);
		assert_true(d.counted);
		assert_string_equal(reply(&d), "DUNNO");
	}
	d = ask(&v, "192.0.2.10", "x@evil.example", "", "DATA", T0 + 4 * NS);
	assert_true(d.counted);
	assert_string_equal(reply(&d), REJECT_TEXT);
	env_fini(&v);
}

static void test_pre_envelope_stages_not_counted(void **state)
{
	struct env v;

	env_init(&v, load_cfg(NULL, NULL, NULL, NULL));
	for (int i = 0; i < 10; i++) {
		struct rg_decision d = ask(&v, "192.0.2.10", "", NULL, i % 2 ? "CONNECT" : "EHLO",
					   T0);

		assert_false(d.counted);
		assert_int_equal(d.cls, RG_CLASS_NONE);
		assert_string_equal(reply(&d), "DUNNO");
	}
	assert_int_equal(info(&v, "contoso", T0).total_null_sender, 0);
	env_fini(&v);
}

static void test_sliding_window(void **state)
{
	struct env v;
	struct rg_decision d;

	env_init(&v, load_cfg(NULL, NULL, NULL, NULL));
	ask(&v, "192.0.2.10", "a@evil.example", NULL, NULL, T0);
	ask(&v, "192.0.2.10", "a@evil.example", NULL, NULL, T0 + 10 * MIN);
	ask(&v, "192.0.2.10", "a@evil.example", NULL, NULL, T0 + 20 * MIN);
	assert_int_equal(info(&v, "contoso", T0 + 59 * MIN).unregistered, 3);
	/* One hour after the first, it has left the window: one more fits. */
	d = ask(&v, "192.0.2.10", "a@evil.example", NULL, NULL, T0 + HOUR);
	assert_string_equal(reply(&d), "DUNNO");
	assert_int_equal(info(&v, "contoso", T0 + HOUR).unregistered, 3);
	/* Just before the second leaves: over the limit. */
	d = ask(&v, "192.0.2.10", "a@evil.example", NULL, NULL, T0 + HOUR + 10 * MIN - 1);
	assert_string_equal(reply(&d), REJECT_TEXT);
	assert_true(d.restricted_now);
	/* Time alone does not lift a restriction without block_duration. */
	d = ask(&v, "192.0.2.10", "a@evil.example", NULL, NULL, T0 + 30 * HOUR);
	assert_string_equal(reply(&d), REJECT_TEXT);
	env_fini(&v);
}

static void test_per_tenant_override(void **state)
{
	struct env v;
	struct rg_decision d;

	env_init(&v, load_cfg(NULL, NULL, NULL, NULL));
	d = ask(&v, "198.51.100.5", "a@evil.example", NULL, NULL, T0);
	assert_string_equal(reply(&d), "DUNNO");
	d = ask(&v, "198.51.100.5", "a@evil.example", NULL, NULL, T0 + NS);
	assert_string_equal(reply(&d), REJECT_TEXT);
	assert_string_equal(d.tenant_name, "fabrikam");
	assert_int_equal(info(&v, "fabrikam", T0).limit, 1);
	assert_int_equal(info(&v, "contoso", T0).limit, 3);
	d = ask(&v, "192.0.2.5", "a@evil.example", NULL, NULL, T0 + NS);
	assert_string_equal(reply(&d), "DUNNO");
	env_fini(&v);
}

static void test_block_duration_expiry(void **state)
{
	struct env v;
	struct rg_decision d;

	env_init(&v, load_cfg(NULL, NULL, "block_duration = 10m", NULL));
	for (int i = 0; i < 4; i++)
		d = ask(&v, "192.0.2.10", "a@evil.example", NULL, NULL, T0 + i * NS);
	assert_true(d.restricted_now);
	assert_int_equal(info(&v, "contoso", T0 + 4 * NS).until_ns, T0 + 3 * NS + 10 * MIN);
	d = ask(&v, "192.0.2.10", "a@evil.example", NULL, NULL, T0 + 9 * MIN);
	assert_string_equal(reply(&d), REJECT_TEXT);
	/* The tick lifts it when it runs out, audited, with a fresh budget. */
	rg_engine_tick(v.e, T0 + 10 * MIN + 3 * NS);
	assert_false(info(&v, "contoso", T0 + 10 * MIN + 3 * NS).restricted);
	assert_int_equal(info(&v, "contoso", T0 + 10 * MIN + 3 * NS).unregistered, 0);
	assert_int_equal(audit_count(&v, "tenant_unblocked", NULL), 1);
	for (int i = 0; i < 3; i++) {
		d = ask(&v, "192.0.2.10", "a@evil.example", NULL, NULL, T0 + 11 * MIN + i * NS);
		assert_string_equal(reply(&d), "DUNNO");
	}
	d = ask(&v, "192.0.2.10", "a@evil.example", NULL, NULL, T0 + 12 * MIN);
	assert_string_equal(reply(&d), REJECT_TEXT);
	/* Without a tick, a decision past the end also sees it lifted. */
	d = ask(&v, "192.0.2.10", "a@evil.example", NULL, NULL, T0 + 22 * MIN + 1);
	assert_string_equal(reply(&d), "DUNNO");
	env_fini(&v);
}

static void test_operator_tenant_actions(void **state)
{
	struct env v;
	struct rg_decision d;
	struct json_object *last;

	env_init(&v, load_cfg(NULL, NULL, NULL, NULL));
	assert_int_equal(rg_engine_restrict_tenant(v.e, "nosuch", "uid=0 pid=1", T0), -ENOENT);
	assert_int_equal(rg_engine_unblock_tenant(v.e, "nosuch", "uid=0 pid=1", T0), -ENOENT);
	/* Budget partly used, then the operator restricts: unregistered refused at once. */
	ask(&v, "192.0.2.10", "a@evil.example", NULL, NULL, T0);
	v.rec.urgent = 0;
	assert_int_equal(rg_engine_restrict_tenant(v.e, "contoso", "uid=0 pid=77", T0 + NS), 0);
	assert_true(v.rec.urgent >= 1);
	assert_int_equal(rg_engine_restrict_tenant(v.e, "contoso", "uid=0 pid=77", T0 + NS),
			 -EALREADY);
	d = ask(&v, "192.0.2.10", "a@evil.example", NULL, NULL, T0 + 2 * NS);
	assert_string_equal(reply(&d), REJECT_TEXT);
	d = ask(&v, "192.0.2.10", "a@contoso.com", NULL, NULL, T0 + 2 * NS);
	assert_string_equal(reply(&d), "DUNNO");
	assert_int_equal(audit_count(&v, "tenant_restricted", &last), 1);
	assert_string_equal(jstr(last, "by"), "uid=0 pid=77");
	assert_string_equal(jstr(last, "reason"), "operator");
	json_object_put(last);

	/* Unblock: a fresh budget of 3 (the earlier one is forgotten). */
	assert_int_equal(rg_engine_unblock_tenant(v.e, "contoso", "uid=0 pid=78", T0 + 3 * NS), 0);
	for (int i = 0; i < 3; i++) {
		d = ask(&v, "192.0.2.10", "a@evil.example", NULL, NULL, T0 + 4 * NS + i);
		assert_string_equal(reply(&d), "DUNNO");
	}
	d = ask(&v, "192.0.2.10", "a@evil.example", NULL, NULL, T0 + 5 * NS);
	assert_string_equal(reply(&d), REJECT_TEXT);
	assert_true(d.restricted_now);
	assert_int_equal(audit_count(&v, "tenant_unblocked", &last), 1);
	assert_string_equal(jstr(last, "by"), "uid=0 pid=78");
	assert_null(jstr(last, "peer"));	/* an operator action: "by", no policy peer */
	json_object_put(last);
	env_fini(&v);
}

/* An event a policy request caused names the request's peer; the ones after it (operator
 * actions) do not inherit it. */
static void test_audit_peer(void **state)
{
	struct env v;
	struct rg_policy_request req = { 0 };
	struct rg_decision d;
	struct json_object *last;

	env_init(&v, load_cfg(NULL, NULL, NULL, NULL));
	req.client_address = S("192.0.2.10");
	req.protocol_state = S("RCPT");
	req.sender = S("a@evil.example");
	req.peer = "uid=107 pid=4242";
	for (int i = 0; i < 3; i++)
		assert_int_equal(rg_engine_decide(v.e, &req, T0 + i * NS, &d), 0);
	req.peer = "[2001:db8::5]:40022";
	assert_int_equal(rg_engine_decide(v.e, &req, T0 + 3 * NS, &d), 0);
	assert_true(d.restricted_now);
	assert_int_equal(audit_count(&v, "tenant_restricted", &last), 1);
	assert_string_equal(jstr(last, "peer"), "[2001:db8::5]:40022");
	assert_null(jstr(last, "by"));
	json_object_put(last);
	assert_int_equal(rg_engine_unblock_tenant(v.e, "contoso", "uid=0 pid=9", T0 + 4 * NS), 0);
	assert_int_equal(audit_count(&v, "tenant_unblocked", &last), 1);
	assert_null(jstr(last, "peer"));
	json_object_put(last);
	env_fini(&v);
}

static void test_monitor_mode(void **state)
{
	struct env v;
	struct rg_decision d;
	struct rg_engine_counters c;
	struct rg_cidr host;

	env_init(&v, load_cfg("mode = monitor", NULL, NULL, NULL));
	for (int i = 0; i < 3; i++) {
		d = ask(&v, "192.0.2.10", "a@evil.example", NULL, NULL, T0 + i * NS);
		assert_string_equal(reply(&d), "DUNNO");
		assert_false(d.would_reject);
	}
	/* Enough to restrict and to flood (5 per minute): all DUNNO, nothing pushed. */
	for (int i = 0; i < 20; i++) {
		d = ask(&v, "192.0.2.10", "a@evil.example", NULL, NULL, T0 + 10 * NS + i * NS);
		assert_string_equal(reply(&d), "DUNNO");
		assert_true(d.would_reject);
		assert_int_equal(d.restricted_now, i == 0);
	}
	assert_int_equal(v.rec.sets, 0);
	assert_true(info(&v, "contoso", T0 + MIN).restricted);
	assert_true(info(&v, "contoso", T0 + MIN).monitor_only);
	rg_engine_get_counters(v.e, &c);
	assert_int_equal(c.would_reject, 20);
	assert_int_equal(c.by_reply[RG_REPLY_REJECT], 0);
	assert_int_equal(c.would_block, 1);	/* reported once per flood_block_time */
	assert_int_equal(c.verdicts, 0);
	assert_int_equal(audit_count(&v, "would_reject", NULL), 20);
	assert_int_equal(audit_count(&v, "would_block", NULL), 1);
	/* The listing and the audit agree with the 23 unregistered transactions counted. */
	assert_int_equal(info(&v, "contoso", T0 + MIN).unregistered, 23);
	assert_int_equal(info(&v, "contoso", T0 + MIN).budget_used, 3);
	{
		struct json_object *last;

		audit_count(&v, "would_reject", &last);
		assert_int_equal(json_object_get_int64(json_object_object_get(last, "count")), 23);
		json_object_put(last);
	}
	/* Connection rate and operator verdicts: nothing reaches the kernel. */
	assert_int_equal(rg_cidr_parse("192.0.2.10", &host, false), 0);
	assert_int_equal(rg_engine_conn_rate(v.e, &host, info(&v, "contoso", T0).id, 10000, MIN,
					     T0 + MIN), 1);
	assert_int_equal(rg_engine_block_host(v.e, &host, 0, "uid=0", T0 + MIN), -EPERM);
	assert_int_equal(v.rec.sets, 0);
	/* A bad client_address with fail_mode closed still answers DUNNO in monitor mode. */
	d = ask(&v, "192.0.2.10", "a@contoso.com", NULL, NULL, T0);
	assert_string_equal(reply(&d), "DUNNO");
	env_fini(&v);
}

static void test_monitor_to_enforce_drops_dry_run_restrictions(void **state)
{
	struct env v;
	struct rg_config *enforce;
	struct rg_decision d;

	env_init(&v, load_cfg("mode = monitor", NULL, NULL, NULL));
	for (int i = 0; i < 4; i++)
		ask(&v, "192.0.2.10", "a@evil.example", NULL, NULL, T0 + i * NS);
	assert_true(info(&v, "contoso", T0 + 5 * NS).restricted);
	enforce = load_cfg(NULL, NULL, NULL, NULL);
	env_reload(&v, enforce, T0 + 10 * NS);
	assert_false(info(&v, "contoso", T0 + 10 * NS).restricted);
	/* The lift of a dry-run restriction is one of monitor mode (never notified). */
	{
		struct json_object *last;

		assert_int_equal(audit_count(&v, "tenant_unblocked", &last), 1);
		assert_string_equal(jstr(last, "mode"), "monitor");
		json_object_put(last);
	}
	d = ask(&v, "192.0.2.10", "a@evil.example", NULL, NULL, T0 + 11 * NS);
	assert_string_equal(reply(&d), "DUNNO");
	env_fini(&v);
}

static void restrict_contoso(struct env *v, const char *client, uint64_t now)
{
	for (int i = 0; i < 4; i++)
		ask(v, client, "a@evil.example", NULL, NULL, now);
	assert_true(info(v, "contoso", now).restricted);
}

static void test_flood_escalation(void **state)
{
	struct env v;
	struct rg_decision d;
	struct rg_cidr want;
	struct rg_engine_verdict ev;
	struct json_object *last;

	env_init(&v, load_cfg(NULL, NULL, NULL, NULL));
	restrict_contoso(&v, "192.0.2.50", T0);	/* 1 rejected from .50 */
	/* Another host's rejections do not add up with .50's. */
	for (int i = 0; i < 5; i++)
		ask(&v, "192.0.2.51", "b@evil.example", NULL, NULL, T0 + NS);
	/* .50: 4 more in the minute (5 in all) is not more than flood_limit 5. */
	for (int i = 0; i < 4; i++)
		ask(&v, "192.0.2.50", "b@evil.example", NULL, NULL, T0 + 10 * NS + i * NS);
	assert_int_equal(v.rec.sets, 0);
	/* The sixth within the minute blocks .50 once. */
	d = ask(&v, "192.0.2.50", "b@evil.example", NULL, NULL, T0 + 20 * NS);
	assert_true(d.host_blocked);
	assert_int_equal(v.rec.sets, 1);
	assert_int_equal(rg_cidr_parse("192.0.2.50/32", &want, false), 0);
	assert_int_equal(v.rec.set_target.prefixlen, want.prefixlen);
	assert_memory_equal(v.rec.set_target.addr, want.addr, 16);
	assert_int_equal(v.rec.action, RG_ACT_BLOCK);
	assert_int_equal(v.rec.origin, RG_ORIGIN_FLOOD);
	assert_int_equal(v.rec.expires, T0 + 20 * NS + 15 * MIN);
	for (int i = 0; i < 20; i++)
		ask(&v, "192.0.2.50", "b@evil.example", NULL, NULL, T0 + 21 * NS);
	assert_int_equal(v.rec.sets, 1);
	assert_int_equal(rg_engine_verdict_get(v.e, &want, &ev), 0);
	assert_int_equal(ev.origin, RG_ORIGIN_FLOOD);
	assert_int_equal(ev.tenant_id, info(&v, "contoso", T0).id);
	assert_int_equal(audit_count(&v, "host_blocked", &last), 1);
	assert_string_equal(jstr(last, "host"), "192.0.2.50/32");
	assert_string_equal(jstr(last, "origin"), "flood");
	json_object_put(last);

	/* Expiry: the tick deletes it from the kernel and the table. */
	rg_engine_tick(v.e, T0 + 20 * NS + 15 * MIN - 1);
	assert_int_equal(v.rec.dels, 0);
	rg_engine_tick(v.e, T0 + 20 * NS + 15 * MIN);
	assert_int_equal(v.rec.dels, 1);
	assert_memory_equal(v.rec.del_target.addr, want.addr, 16);
	assert_int_equal(rg_engine_verdict_get(v.e, &want, &ev), -ENOENT);
	assert_int_equal(audit_count(&v, "verdict_expired", NULL), 1);

	/* Registered mail never counts toward a flood. */
	for (int i = 0; i < 30; i++)
		ask(&v, "192.0.2.60", "ok@contoso.com", NULL, NULL, T0 + HOUR);
	assert_int_equal(v.rec.sets, 1);
	env_fini(&v);
}

/* Unblocking a tenant lifts the flood blocks of its hosts; operator verdicts and
 * connection-rate throttles are about the host and stay. */
static void test_unblock_tenant_lifts_flood_blocks(void **state)
{
	struct env v;
	struct rg_cidr flooder, op, fast;
	struct rg_engine_verdict ev;
	struct json_object *last;

	env_init(&v, load_cfg(NULL, NULL, NULL, NULL));
	restrict_contoso(&v, "192.0.2.50", T0);
	for (int i = 0; i < 5; i++)
		ask(&v, "192.0.2.50", "b@evil.example", NULL, NULL, T0 + NS);
	assert_int_equal(rg_cidr_parse("192.0.2.50/32", &flooder, false), 0);
	assert_int_equal(rg_engine_verdict_get(v.e, &flooder, &ev), 0);
	assert_int_equal(ev.origin, RG_ORIGIN_FLOOD);
	assert_int_equal(rg_cidr_parse("192.0.2.51/32", &op, false), 0);
	assert_int_equal(rg_engine_block_host(v.e, &op, 0, "uid=0 pid=1", T0 + NS), 0);
	assert_int_equal(rg_cidr_parse("192.0.2.52/32", &fast, false), 0);
	assert_int_equal(rg_engine_conn_rate(v.e, &fast, info(&v, "contoso", T0).id, 10000, MIN,
					     T0 + NS), 1);
	assert_int_equal(rg_engine_verdict_get(v.e, &fast, &ev), 0);
	assert_int_equal(ev.origin, RG_ORIGIN_CONN_RATE);

	assert_int_equal(rg_engine_unblock_tenant(v.e, "contoso", "uid=0 pid=2", T0 + 2 * NS), 0);
	assert_int_equal(rg_engine_verdict_get(v.e, &flooder, &ev), -ENOENT);
	assert_memory_equal(v.rec.del_target.addr, flooder.addr, 16);
	assert_int_equal(rg_engine_verdict_get(v.e, &op, &ev), 0);
	assert_int_equal(rg_engine_verdict_get(v.e, &fast, &ev), 0);
	assert_int_equal(audit_count(&v, "host_unblocked", &last), 1);
	assert_string_equal(jstr(last, "host"), "192.0.2.50/32");
	assert_string_equal(jstr(last, "reason"), "tenant unblocked");
	json_object_put(last);
	env_fini(&v);
}

/* rg_engine_peek: only a new unregistered transaction of a tenant not restricted waits
 * on the fleet; nothing is counted by asking. */
static void req_of(struct rg_policy_request *r, const char *client, const char *sender,
		   const char *instance)
{
	memset(r, 0, sizeof(*r));
	r->client_address = (struct rg_slice){ client, strlen(client) };
	r->sender = (struct rg_slice){ sender, strlen(sender) };
	if (instance)
		r->instance = (struct rg_slice){ instance, strlen(instance) };
}

static void test_fleet_peek(void **state)
{
	struct env v;
	struct rg_policy_request r;
	struct rg_engine_peek pk;

	(void)state;
	env_init(&v, load_cfg(NULL, NULL, NULL, NULL));
	req_of(&r, "192.0.2.9", "x@evil.example", "p1");
	assert_true(rg_engine_peek(v.e, &r, T0, &pk));
	assert_string_equal(pk.tenant, "contoso");
	assert_int_equal(pk.limit, 3);
	assert_int_equal(pk.window_ns, HOUR);
	assert_int_equal(info(&v, "contoso", T0).unregistered, 0);	/* peeking counts nothing */
	req_of(&r, "192.0.2.9", "a@contoso.com", "p2");
	assert_false(rg_engine_peek(v.e, &r, T0, &pk));		/* registered */
	req_of(&r, "192.0.2.9", "", "p3");
	assert_false(rg_engine_peek(v.e, &r, T0, &pk));		/* null sender */
	req_of(&r, "203.0.113.9", "x@evil.example", "p4");
	assert_false(rg_engine_peek(v.e, &r, T0, &pk));		/* unassigned */
	req_of(&r, "not an address", "x@evil.example", "p4");
	assert_false(rg_engine_peek(v.e, &r, T0, &pk));		/* hostile */
	ask(&v, "192.0.2.9", "x@evil.example", "p5", NULL, T0);
	req_of(&r, "192.0.2.9", "x@evil.example", "p5");
	assert_false(rg_engine_peek(v.e, &r, T0, &pk));		/* a later stage */
	restrict_contoso(&v, "192.0.2.9", T0);
	req_of(&r, "192.0.2.9", "x@evil.example", "p6");
	assert_false(rg_engine_peek(v.e, &r, T0, &pk));		/* restricted already */
	env_fini(&v);
}

/* rg_engine_fleet_apply: another relay's changes land like local ones, audited with the
 * origin relay; a lift takes the tenant's flood blocks along. */
static void test_fleet_apply(void **state)
{
	struct env v;
	struct rg_engine_change c = { 0 };
	struct rg_engine_verdict ev;
	struct json_object *last;

	(void)state;
	env_init(&v, load_cfg(NULL, NULL, NULL, NULL));
	rg_engine_set_relay(v.e, "relay1");
	c.kind = RG_CHANGE_RESTRICT;
	c.tenant = "contoso";
	c.reason = "limit";
	assert_int_equal(rg_engine_fleet_apply(v.e, &c, "fleet:relay2", T0), 0);
	assert_true(info(&v, "contoso", T0).restricted);
	assert_int_equal(rg_engine_fleet_apply(v.e, &c, "fleet:relay2", T0), -EALREADY);
	assert_int_equal(audit_count(&v, "tenant_restricted", &last), 1);
	assert_string_equal(jstr(last, "relay"), "relay2");
	assert_string_equal(jstr(last, "by"), "fleet:relay2");
	json_object_put(last);
	assert_string_equal(ask(&v, "192.0.2.9", "x@evil.example", NULL, NULL, T0).action ==
			    RG_REPLY_REJECT ? "reject" : "pass", "reject");

	c.kind = RG_CHANGE_VERDICT;
	assert_int_equal(rg_cidr_parse("192.0.2.77/32", &c.v.target, false), 0);
	c.v.action = RG_ACT_BLOCK;
	c.v.origin = RG_ORIGIN_FLOOD;
	c.v.expires_ns = T0 + HOUR;
	assert_int_equal(rg_engine_fleet_apply(v.e, &c, "fleet:relay3", T0), 0);
	assert_int_equal(rg_engine_verdict_get(v.e, &c.v.target, &ev), 0);
	assert_int_equal(ev.tenant_id, info(&v, "contoso", T0).id);	/* mapped by name */
	assert_int_equal(v.rec.sets, 1);
	assert_memory_equal(v.rec.set_target.addr, c.v.target.addr, 16);
	c.v.expires_ns = T0 - 1;					/* expired on the way */
	assert_int_equal(rg_cidr_parse("192.0.2.78/32", &c.v.target, false), 0);
	assert_int_equal(rg_engine_fleet_apply(v.e, &c, "fleet:relay3", T0), 0);
	assert_int_equal(rg_engine_verdict_get(v.e, &c.v.target, &ev), -ENOENT);

	c.kind = RG_CHANGE_LIFT;
	assert_int_equal(rg_engine_fleet_apply(v.e, &c, "fleet:relay2", T0 + NS), 0);
	assert_false(info(&v, "contoso", T0 + NS).restricted);
	assert_int_equal(rg_cidr_parse("192.0.2.77/32", &c.v.target, false), 0);
	assert_int_equal(rg_engine_verdict_get(v.e, &c.v.target, &ev), -ENOENT);
	/* A local change after a remote one is this relay's again. */
	assert_int_equal(rg_engine_restrict_tenant(v.e, "contoso", "uid=0", T0 + 2 * NS), 0);
	assert_int_equal(audit_count(&v, "tenant_restricted", &last), 2);
	assert_string_equal(jstr(last, "relay"), "relay1");
	json_object_put(last);

	c.kind = RG_CHANGE_VERDICT_DEL;
	assert_int_equal(rg_engine_fleet_apply(v.e, &c, "fleet:relay2", T0), -ENOENT);
	c.tenant = "no-such-tenant";
	c.kind = RG_CHANGE_RESTRICT;
	assert_int_equal(rg_engine_fleet_apply(v.e, &c, "fleet:relay2", T0), -ENOENT);
	c.kind = (enum rg_change_kind)99;
	assert_int_equal(rg_engine_fleet_apply(v.e, &c, "fleet:relay2", T0), -EINVAL);
	env_fini(&v);
}

static void test_flood_ipv6_host_prefix(void **state)
{
	struct env v;
	struct rg_decision d;
	struct rg_cidr want;

	env_init(&v, load_cfg(NULL, NULL, NULL, NULL));
	d = ask(&v, "2001:db8:10::5", "a@contoso.com", NULL, NULL, T0);
	assert_string_equal(d.tenant_name, "contoso");
	restrict_contoso(&v, "2001:db8:10::5", T0);
	/* Different addresses in the same /64 count as one host. */
	for (int i = 0; i < 5; i++) {
		char a[64];

		snprintf(a, sizeof(a), "2001:db8:10::%x", 0x100 + i);
		ask(&v, a, "a@evil.example", NULL, NULL, T0 + NS);
	}
	assert_int_equal(v.rec.sets, 1);
	assert_int_equal(rg_cidr_parse("2001:db8:10::/64", &want, false), 0);
	assert_int_equal(v.rec.set_target.prefixlen, 64);
	assert_memory_equal(v.rec.set_target.addr, want.addr, 16);
	/* A client in another /64 of the same tenant is not blocked. */
	d = ask(&v, "2001:db8:10:1::1", "a@evil.example", NULL, NULL, T0 + 2 * NS);
	assert_false(d.host_blocked);
	assert_int_equal(v.rec.sets, 1);
	env_fini(&v);
}

static void test_conn_rate_throttle(void **state)
{
	struct env v;
	struct rg_cidr host;
	uint32_t contoso;

	env_init(&v, load_cfg(NULL, NULL, NULL,
			      "[tenant fabrikam]\nconnectors = 198.51.100.0/24\n"
			      "accepted_domains = fabrikam.com\nconnection_rate_limit = 60/1m\n"));
	contoso = info(&v, "contoso", T0).id;
	assert_int_equal(rg_cidr_parse("192.0.2.7", &host, false), 0);
	/* 100 per 10 s = 600/min: at the limit, not above. */
	assert_int_equal(rg_engine_conn_rate(v.e, &host, contoso, 100, 10 * NS, T0), 0);
	assert_int_equal(v.rec.sets, 0);
	assert_int_equal(rg_engine_conn_rate(v.e, &host, contoso, 101, 10 * NS, T0), 1);
	assert_int_equal(v.rec.sets, 1);
	assert_int_equal(v.rec.action, RG_ACT_THROTTLE);
	assert_int_equal(v.rec.origin, RG_ORIGIN_CONN_RATE);
	assert_int_equal(v.rec.interval, MIN / 600);
	assert_int_equal(v.rec.burst, 60 * (MIN / 600));
	assert_int_equal(v.rec.expires, T0 + 15 * MIN);
	/* Already throttled: left alone. */
	assert_int_equal(rg_engine_conn_rate(v.e, &host, contoso, 5000, 10 * NS, T0 + NS), 0);
	assert_int_equal(v.rec.sets, 1);
	/* fabrikam's own limit (60/1m), unassigned hosts use the defaults. */
	assert_int_equal(rg_cidr_parse("198.51.100.9", &host, false), 0);
	assert_int_equal(rg_engine_conn_rate(v.e, &host, info(&v, "fabrikam", T0).id, 11,
					     10 * NS, T0), 1);
	assert_int_equal(v.rec.interval, NS);
	assert_int_equal(v.rec.burst, 6 * NS);
	assert_int_equal(rg_cidr_parse("203.0.113.9", &host, false), 0);
	assert_int_equal(rg_engine_conn_rate(v.e, &host, 0, 11, 10 * NS, T0), 0);
	assert_int_equal(rg_engine_conn_rate(v.e, &host, 999, 101, 10 * NS, T0), 1);
	assert_int_equal(v.rec.sets, 3);
	/* Expiry, then the next sample decides again. */
	rg_engine_tick(v.e, T0 + 15 * MIN);
	assert_int_equal(v.rec.dels, 3);
	assert_int_equal(rg_engine_conn_rate(v.e, &host, 0, 101, 10 * NS, T0 + 15 * MIN), 1);
	env_fini(&v);
}

static void test_operator_host_verdicts(void **state)
{
	struct env v;
	struct rg_cidr net, host;
	struct rg_rate rate = { .count = 10, .period_ns = MIN };
	struct rg_engine_verdict ev;
	struct rg_engine_counters c;
	struct json_object *last;

	env_init(&v, load_cfg(NULL, NULL, NULL, NULL));
	assert_int_equal(rg_cidr_parse("203.0.113.0/24", &net, false), 0);
	assert_int_equal(rg_cidr_parse("192.0.2.9", &host, false), 0);
	assert_int_equal(rg_engine_block_host(v.e, &net, HOUR, "uid=0 pid=5", T0), 0);
	assert_int_equal(v.rec.sets, 1);
	assert_int_equal(v.rec.set_target.prefixlen, 96 + 24);
	assert_int_equal(v.rec.origin, RG_ORIGIN_OPERATOR);
	assert_int_equal(v.rec.expires, T0 + HOUR);
	assert_int_equal(rg_engine_throttle_host(v.e, &host, &rate, 0, "uid=0 pid=6", T0), 0);
	assert_int_equal(v.rec.action, RG_ACT_THROTTLE);
	assert_int_equal(v.rec.interval, 6 * NS);
	assert_int_equal(v.rec.expires, 0);
	assert_int_equal(rg_engine_verdict_get(v.e, &host, &ev), 0);
	assert_string_equal(ev.by, "uid=0 pid=6");
	/* A flood of this host does not override the operator's throttle. */
	restrict_contoso(&v, "192.0.2.9", T0);
	for (int i = 0; i < 10; i++)
		ask(&v, "192.0.2.9", "a@evil.example", NULL, NULL, T0 + NS);
	assert_int_equal(v.rec.sets, 2);
	/* No expiry: ticks far ahead leave it. */
	rg_engine_tick(v.e, T0 + 100 * HOUR);
	assert_int_equal(rg_engine_verdict_get(v.e, &host, &ev), 0);
	assert_int_equal(rg_engine_unblock_host(v.e, &host, "uid=0 pid=7", T0), 0);
	assert_int_equal(rg_engine_unblock_host(v.e, &host, "uid=0 pid=7", T0), -ENOENT);
	assert_int_equal(rg_engine_verdict_get(v.e, &net, &ev), -ENOENT);	/* expired */
	rg_engine_get_counters(v.e, &c);
	assert_int_equal(c.verdicts, 0);
	assert_int_equal(audit_count(&v, "host_unblocked", &last), 1);
	assert_string_equal(jstr(last, "by"), "uid=0 pid=7");
	json_object_put(last);
	assert_int_equal(rg_engine_throttle_host(v.e, &host, NULL, 0, "x", T0), -EINVAL);
	env_fini(&v);
}

static int count_cb(const struct rg_engine_verdict *v, void *ctx)
{
	(*(int *)ctx)++;
	return 0;
}

/* A duration near 2^64 ns once wrapped now + duration into the past: the verdict expired
 * at once. The expiry saturates at RG_TIME_MAX_NS and the verdict survives a tick. */
static void test_verdict_duration_saturates(void **state)
{
	struct env v;
	struct rg_cidr host;
	struct rg_engine_verdict ev;

	env_init(&v, load_cfg(NULL, NULL, NULL, NULL));
	assert_int_equal(rg_cidr_parse("192.0.2.99", &host, false), 0);
	assert_int_equal(rg_engine_block_host(v.e, &host, UINT64_MAX - 5, "uid=0", T0), 0);
	assert_int_equal(v.rec.expires, RG_TIME_MAX_NS);
	rg_engine_tick(v.e, T0 + 100 * HOUR);
	assert_int_equal(rg_engine_verdict_get(v.e, &host, &ev), 0);
	assert_int_equal(ev.expires_ns, RG_TIME_MAX_NS);
	assert_int_equal(rg_time_after_ns(T0, HOUR), T0 + HOUR);
	assert_int_equal(rg_time_after_ns(RG_TIME_MAX_NS, 1), RG_TIME_MAX_NS);
	assert_int_equal(rg_time_after_ns(UINT64_MAX, UINT64_MAX), RG_TIME_MAX_NS);
	/* the kernel's monotonic expiry of the saturated time is still in the future */
	assert_true(rg_real_to_mono_ns(RG_TIME_MAX_NS) > rg_now_mono_ns());
	env_fini(&v);
	(void)state;
}

static void test_verdict_table_full(void **state)
{
	struct env v;
	struct rg_cidr h;
	char a[32];
	int n = 0;

	env_init(&v, load_cfg("verdict_table_size = 4", NULL, NULL, NULL));
	for (int i = 0; i < 4; i++) {
		snprintf(a, sizeof(a), "203.0.113.%d", i + 1);
		assert_int_equal(rg_cidr_parse(a, &h, false), 0);
		assert_int_equal(rg_engine_block_host(v.e, &h, 0, "op", T0), 0);
	}
	assert_int_equal(rg_cidr_parse("203.0.113.200", &h, false), 0);
	assert_int_equal(rg_engine_block_host(v.e, &h, 0, "op", T0), -ENOSPC);
	/* Replacing an existing target still works when full. */
	assert_int_equal(rg_cidr_parse("203.0.113.1", &h, false), 0);
	assert_int_equal(rg_engine_block_host(v.e, &h, HOUR, "op", T0), 0);
	assert_int_equal(rg_engine_verdict_foreach(v.e, count_cb, &n), 0);
	assert_int_equal(n, 4);
	env_fini(&v);
}

static void test_reload_keeps_survivors(void **state)
{
	struct env v;
	struct rg_config *cfg2;
	uint32_t contoso, fabrikam;
	struct rg_decision d;
	struct json_object *last;

	env_init(&v, load_cfg(NULL, NULL, NULL, NULL));
	contoso = info(&v, "contoso", T0).id;
	fabrikam = info(&v, "fabrikam", T0).id;
	assert_true(contoso >= 1 && fabrikam >= 1 && contoso != fabrikam);
	assert_int_equal(v.rec.nconns, 3);
	restrict_contoso(&v, "192.0.2.10", T0);
	ask(&v, "198.51.100.5", "a@evil.example", NULL, NULL, T0);	/* fabrikam 1/1 */

	/* contoso kept (limit raised), fabrikam removed, northwind added. */
	cfg2 = load_cfg(NULL, NULL, "unregistered_limit = 10",
			"[tenant northwind]\nconnectors = 198.51.100.0/25\n"
			"accepted_domains = northwind.example\n");
	v.rec.syncs = 0;
	env_reload(&v, cfg2, T0 + MIN);
	assert_int_equal(v.rec.syncs, 1);
	assert_int_equal(v.rec.nconns, 3);
	assert_int_equal(rg_engine_tenant_count(v.e), 2);
	struct rg_tenant_info ti = info(&v, "contoso", T0 + MIN);

	assert_true(ti.restricted);
	assert_int_equal(ti.id, contoso);
	assert_int_equal(ti.since_ns, T0);
	assert_int_equal(ti.limit, 10);
	uint32_t northwind = info(&v, "northwind", T0 + MIN).id;

	assert_true(northwind != contoso && northwind != fabrikam && northwind >= 1);
	assert_int_equal(rg_engine_tenant_id(v.e, "fabrikam"), 0);
	for (size_t i = 0; i < v.rec.nconns; i++)
		assert_true(v.rec.conns[i].tenant_id == contoso ||
			    v.rec.conns[i].tenant_id == northwind);
	d = ask(&v, "192.0.2.10", "a@evil.example", NULL, NULL, T0 + 2 * MIN);
	assert_string_equal(reply(&d), REJECT_TEXT);
	d = ask(&v, "198.51.100.5", "a@evil.example", NULL, NULL, T0 + 2 * MIN);
	assert_string_equal(d.tenant_name, "northwind");
	assert_string_equal(reply(&d), "DUNNO");
	assert_int_equal(audit_count(&v, "tenant_removed", &last), 1);
	assert_string_equal(jstr(last, "tenant"), "fabrikam");
	json_object_put(last);
	assert_int_equal(audit_count(&v, "reload", NULL), 1);

	/* A budget survives too: unrestrict contoso, use 2 of 10, reload, 8 left. */
	assert_int_equal(rg_engine_unblock_tenant(v.e, "contoso", "op", T0 + 3 * MIN), 0);
	ask(&v, "192.0.2.10", "a@evil.example", NULL, NULL, T0 + 4 * MIN);
	ask(&v, "192.0.2.10", "a@evil.example", NULL, NULL, T0 + 4 * MIN);
	cfg2 = load_cfg(NULL, NULL, "unregistered_limit = 10", NULL);
	env_reload(&v, cfg2, T0 + 5 * MIN);
	assert_int_equal(info(&v, "contoso", T0 + 5 * MIN).unregistered, 2);
	/* fabrikam comes back with its old id: ids are never reused for another name. */
	assert_int_equal(info(&v, "fabrikam", T0 + 5 * MIN).id, fabrikam);
	env_fini(&v);
}

static void test_invalid_sender_counts(void **state)
{
	static const char *const bad[] = { "no-at-sign", "a@.x", "a@-bad-.example",
					   "a@exa mple.com" };
	struct env v;
	struct rg_decision d;

	env_init(&v, load_cfg(NULL, NULL, NULL, NULL));
	for (int i = 0; i < 3; i++) {
		d = ask(&v, "192.0.2.10", bad[i], NULL, NULL, T0 + i * NS);
		assert_int_equal(d.cls, RG_CLASS_INVALID);
		assert_non_null(d.reason);
		assert_string_equal(reply(&d), "DUNNO");
	}
	d = ask(&v, "192.0.2.10", bad[3], NULL, NULL, T0 + 4 * NS);
	assert_int_equal(d.cls, RG_CLASS_INVALID);
	assert_string_equal(reply(&d), REJECT_TEXT);
	assert_true(d.restricted_now);
	env_fini(&v);
}

static void test_hostile_sender_in_audit(void **state)
{
	static const char evil[] = "x\n{\"event\":\"fake\"}\r\0\x1b[31m\"\\@evil.example";
	char big[5000];
	struct env v;
	struct rg_policy_request req = { 0 };
	struct rg_decision d;
	struct json_object *last;
	const char *s;

	env_init(&v, load_cfg("mode = monitor", NULL, NULL, NULL));
	memset(big, 'A', sizeof(big));
	memcpy(big + sizeof(big) - 14, "@evil.example", 14);
	req.client_address = S("192.0.2.10");
	req.protocol_state = S("RCPT");
	for (int i = 0; i < 4; i++) {
		req.sender.p = evil;
		req.sender.len = sizeof(evil) - 1;
		assert_int_equal(rg_engine_decide(v.e, &req, T0 + i * NS, &d), 0);
	}
	assert_true(d.restricted_now);
	req.sender = S(big);
	assert_int_equal(rg_engine_decide(v.e, &req, T0 + 5 * NS, &d), 0);
	assert_true(d.would_reject);

	assert_int_equal(audit_count(&v, "fake", NULL), 0);
	assert_int_equal(audit_count(&v, "tenant_restricted", &last), 1);
	s = jstr(last, "sender");
	assert_non_null(s);
	for (const char *p = s; *p; p++)
		assert_true(*p >= 0x20 && *p < 0x7f);
	assert_string_equal(s, "x?{\"event\":\"fake\"}???[31m\"\\@evil.example");
	json_object_put(last);
	assert_int_equal(audit_count(&v, "would_reject", &last), 2);
	s = jstr(last, "sender");
	assert_int_equal(strlen(s), RG_PRINTABLE_MAX + 3);	/* capped, "..." */
	json_object_put(last);
	env_fini(&v);
}

static void test_bad_client_address_fail_mode(void **state)
{
	static const char *const bad[] = { "unknown", "", "192.0.2.300", "192.0.2.1/24",
					   "::1::", "1.2.3.4 " };
	struct env v;
	struct rg_policy_request req = { 0 };
	struct rg_decision d;

	env_init(&v, load_cfg("fail_mode = closed", NULL, NULL, NULL));
	for (size_t i = 0; i < 6; i++) {
		req.client_address = S(bad[i]);
		req.sender = S("a@evil.example");
		assert_true(rg_engine_decide(v.e, &req, T0, &d) < 0);
		assert_string_equal(reply(&d), "451 4.3.5 Server configuration problem");
		assert_true(d.error < 0);
	}
	/* NUL inside the address, and a missing one. */
	req.client_address.p = "192.0.2.1\0x";
	req.client_address.len = 11;
	assert_true(rg_engine_decide(v.e, &req, T0, &d) < 0);
	req.client_address.p = NULL;
	req.client_address.len = 0;
	assert_true(rg_engine_decide(v.e, &req, T0, &d) < 0);
	env_fini(&v);

	env_init(&v, load_cfg(NULL, NULL, NULL, NULL));
	req.client_address = S("unknown");
	assert_true(rg_engine_decide(v.e, &req, T0, &d) < 0);
	assert_string_equal(reply(&d), "DUNNO");
	env_fini(&v);
}

static void test_txn_table_bounded(void **state)
{
	struct env v;
	struct rg_engine_counters c;
	char inst[32];

	env_init(&v, load_cfg(NULL, NULL, "unregistered_limit = 1000000", NULL));
	for (int i = 0; i < 70000; i++) {
		snprintf(inst, sizeof(inst), "i.%d", i);
		ask(&v, "192.0.2.10", "a@contoso.com", inst, NULL, T0 + (uint64_t)i * 1000);
	}
	rg_engine_get_counters(v.e, &c);
	assert_int_equal(c.txn_entries, 65536);
	assert_int_equal(c.txn_evictions, 70000 - 65536);
	/* Entries expire after an hour. */
	rg_engine_tick(v.e, T0 + 2 * HOUR);
	rg_engine_get_counters(v.e, &c);
	assert_int_equal(c.txn_entries, 0);
	env_fini(&v);
}

/* Straight from the wire: the policy parser's request drives the engine. */
/* ---- attribution by SASL login and client certificate ---- */

#define FP_FAB "6E:1A:0B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9:0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8"

static const char auth_tenants[] =
	"[tenant fabrikam]\nconnectors = 198.51.100.0/24\naccepted_domains = fabrikam.com\n"
	"unregistered_limit = 1\nsasl_users = scanner01 @fabrikam.com\n"
	"cert_fingerprints = " FP_FAB "\ncert_subjects = *.relay.fabrikam.com\n"
	"[tenant certonly]\naccepted_domains = certonly.example\n"
	"cert_subjects = gw.certonly.example\n";

static struct rg_decision ask_auth(struct env *v, const char *client, const char *sender,
				   const char *sasl, const char *fp, const char *subject,
				   uint64_t now)
{
	struct rg_policy_request req = { 0 };
	struct rg_decision d;

	req.client_address = S(client);
	req.sender = S(sender);
	req.protocol_state = S("RCPT");
	req.sasl_username = S(sasl);
	req.ccert_fingerprint = S(fp);
	req.ccert_subject = S(subject);
	assert_int_equal(rg_engine_decide(v->e, &req, now, &d), 0);
	return d;
}

static void test_attribution_order(void **state)
{
	struct env v;
	struct rg_decision d;

	env_init(&v, load_cfg(NULL, NULL, "sasl_users = @contoso.com", auth_tenants));
	/* A login of fabrikam from contoso's connector: the login wins, both are kept. */
	d = ask_auth(&v, "192.0.2.10", "a@fabrikam.com", "scanner01", NULL, NULL, T0);
	assert_string_equal(d.tenant_name, "fabrikam");
	assert_int_equal(d.matched_by, RG_MATCH_SASL);
	assert_string_equal(d.connector_tenant, "contoso");
	assert_int_equal(d.cls, RG_CLASS_REGISTERED);
	/* By @domain, from nowhere any connector holds. */
	d = ask_auth(&v, "203.0.113.9", "a@fabrikam.com", "bob@Fabrikam.com", NULL, NULL, T0);
	assert_string_equal(d.tenant_name, "fabrikam");
	assert_int_equal(d.matched_by, RG_MATCH_SASL);
	assert_null(d.connector_tenant);
	/* Certificate: fingerprint (colons and case ignored), then subject. */
	d = ask_auth(&v, "203.0.113.9", "a@fabrikam.com", NULL,
		     "6e1a0b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8", NULL, T0);
	assert_string_equal(d.tenant_name, "fabrikam");
	assert_int_equal(d.matched_by, RG_MATCH_CERT_FINGERPRINT);
	d = ask_auth(&v, "192.0.2.10", "a@fabrikam.com", NULL, "00:11", "mx.relay.fabrikam.com", T0);
	assert_int_equal(d.matched_by, RG_MATCH_CERT_SUBJECT);
	assert_string_equal(d.tenant_name, "fabrikam");
	assert_string_equal(d.connector_tenant, "contoso");
	d = ask_auth(&v, "203.0.113.9", "a@certonly.example", NULL, NULL, "GW.certonly.example",
		     T0);
	assert_string_equal(d.tenant_name, "certonly");
	assert_int_equal(d.cls, RG_CLASS_REGISTERED);
	/* SASL before the certificate; a login of contoso on contoso's connector. */
	d = ask_auth(&v, "198.51.100.7", "a@contoso.com", "x@contoso.com", FP_FAB, NULL, T0);
	assert_string_equal(d.tenant_name, "contoso");
	assert_int_equal(d.matched_by, RG_MATCH_SASL);
	assert_string_equal(d.connector_tenant, "fabrikam");
	d = ask_auth(&v, "192.0.2.10", "a@contoso.com", "x@contoso.com", NULL, NULL, T0);
	assert_null(d.connector_tenant);
	/* Unknown login, hostile text: the connector decides, or nothing. */
	d = ask_auth(&v, "192.0.2.10", "a@contoso.com", "nobody", "zz", "x.fabrikam.com\r", T0);
	assert_string_equal(d.tenant_name, "contoso");
	assert_int_equal(d.matched_by, RG_MATCH_CONNECTOR);
	d = ask_auth(&v, "203.0.113.9", "a@contoso.com", "", "", "", T0);
	assert_int_equal(d.tenant, -1);
	assert_int_equal(d.matched_by, RG_MATCH_NONE);
	assert_int_equal(d.cls, RG_CLASS_UNASSIGNED);

	struct rg_tenant_info ti = info(&v, "fabrikam", T0);

	assert_int_equal(ti.total_by_match[RG_MATCH_SASL], 2);
	assert_int_equal(ti.total_by_match[RG_MATCH_CERT_FINGERPRINT], 1);
	assert_int_equal(ti.total_by_match[RG_MATCH_CERT_SUBJECT], 1);
	assert_int_equal(ti.total_by_match[RG_MATCH_CONNECTOR], 0);
	ti = info(&v, "contoso", T0);
	assert_int_equal(ti.total_by_match[RG_MATCH_SASL], 2);
	assert_int_equal(ti.total_by_match[RG_MATCH_CONNECTOR], 1);
	env_fini(&v);
}

/* The budget and the 5.7.750 reply are the attributed tenant's; the host is tagged with
 * it (callback, table, one host_attributed audit line per change) and the restriction's
 * audit line says how it was attributed and which tenant the connector named. */
static void test_attribution_budget_and_tag(void **state)
{
	struct env v;
	struct rg_decision d;
	struct json_object *last;
	uint8_t key[16];
	uint32_t id = 0, fab;

	assert_int_equal(rg_addr_parse("192.0.2.10", key, NULL), 0);
	env_init(&v, load_cfg(NULL, NULL, NULL, auth_tenants));
	fab = rg_engine_tenant_id(v.e, "fabrikam");
	assert_false(rg_engine_host_tag(v.e, key, &id));
	d = ask_auth(&v, "192.0.2.10", "spam@evil.example", "scanner01", NULL, NULL, T0);
	assert_string_equal(reply(&d), "DUNNO");
	assert_int_equal(v.rec.tags, 1);
	assert_int_equal(v.rec.tag_id, fab);
	assert_string_equal(rg_cidr_format(&v.rec.tag_host, (char[RG_ADDR_STRLEN]){ 0 },
					   RG_ADDR_STRLEN), "192.0.2.10/32");
	assert_true(rg_engine_host_tag(v.e, key, &id));
	assert_int_equal(id, fab);
	/* fabrikam's limit is 1: the second one restricts fabrikam, not contoso. */
	d = ask_auth(&v, "192.0.2.10", "spam2@evil.example", "scanner01", NULL, NULL, T0 + NS);
	assert_string_equal(reply(&d), REJECT_TEXT);
	assert_true(d.restricted_now);
	assert_true(info(&v, "fabrikam", T0 + NS).restricted);
	assert_false(info(&v, "contoso", T0 + NS).restricted);
	/* The same host without a login is contoso's again, whose budget is untouched. */
	d = ask(&v, "192.0.2.10", "spam3@evil.example", NULL, NULL, T0 + 2 * NS);
	assert_string_equal(reply(&d), "DUNNO");
	assert_string_equal(d.tenant_name, "contoso");
	assert_int_equal(v.rec.tags, 2);	/* connector matches do not tag */

	assert_int_equal(audit_count(&v, "tenant_restricted", &last), 1);
	assert_string_equal(jstr(last, "tenant"), "fabrikam");
	assert_string_equal(jstr(last, "matched_by"), "sasl");
	assert_string_equal(jstr(last, "connector_tenant"), "contoso");
	json_object_put(last);
	assert_int_equal(audit_count(&v, "host_attributed", &last), 1);
	assert_string_equal(jstr(last, "tenant"), "fabrikam");
	assert_string_equal(jstr(last, "host"), "192.0.2.10/32");
	assert_string_equal(jstr(last, "matched_by"), "sasl");
	assert_string_equal(jstr(last, "connector_tenant"), "contoso");
	json_object_put(last);

	/* Another tenant's certificate from the same host: tagged anew, audited with the
	 * tenant it had. */
	d = ask_auth(&v, "192.0.2.10", "a@certonly.example", NULL, NULL, "gw.certonly.example",
		     T0 + 3 * NS);
	assert_int_equal(audit_count(&v, "host_attributed", &last), 2);
	assert_string_equal(jstr(last, "tenant"), "certonly");
	assert_string_equal(jstr(last, "matched_by"), "cert_subject");
	assert_string_equal(jstr(last, "detail"), "was tenant fabrikam");
	json_object_put(last);
	assert_true(rg_engine_host_tag(v.e, key, &id));
	assert_int_equal(id, rg_engine_tenant_id(v.e, "certonly"));
	env_fini(&v);
}

/* A host attributed by login floods like an IP tenant's: its block carries the attributed
 * tenant (audited with how it was attributed), and unblocking that tenant lifts it. */
static void test_attribution_flood(void **state)
{
	struct env v;
	struct rg_cidr host;
	struct rg_engine_verdict ev;
	struct json_object *last;

	env_init(&v, load_cfg(NULL, NULL, NULL, auth_tenants));
	assert_int_equal(rg_cidr_parse("192.0.2.60/32", &host, false), 0);
	/* fabrikam's limit 1: the second restricts it; flood_limit 5: the seventh blocks. */
	for (int i = 0; i < 7; i++)
		ask_auth(&v, "192.0.2.60", "s@evil.example", "scanner01", NULL, NULL, T0 + i * NS);
	assert_int_equal(rg_engine_verdict_get(v.e, &host, &ev), 0);
	assert_int_equal(ev.origin, RG_ORIGIN_FLOOD);
	assert_int_equal(ev.tenant_id, rg_engine_tenant_id(v.e, "fabrikam"));
	assert_false(info(&v, "contoso", T0).restricted);
	assert_int_equal(audit_count(&v, "host_blocked", &last), 1);
	assert_string_equal(jstr(last, "tenant"), "fabrikam");
	assert_string_equal(jstr(last, "matched_by"), "sasl");
	assert_string_equal(jstr(last, "connector_tenant"), "contoso");
	json_object_put(last);
	/* contoso's unblock leaves it; fabrikam's lifts it. */
	assert_int_equal(rg_engine_restrict_tenant(v.e, "contoso", "test", T0 + MIN), 0);
	assert_int_equal(rg_engine_unblock_tenant(v.e, "contoso", "test", T0 + MIN), 0);
	assert_int_equal(rg_engine_verdict_get(v.e, &host, &ev), 0);
	assert_int_equal(rg_engine_unblock_tenant(v.e, "fabrikam", "test", T0 + MIN), 0);
	assert_int_equal(rg_engine_verdict_get(v.e, &host, &ev), -ENOENT);
	env_fini(&v);
}

/* Reload swaps the keys with the rest: a login moved to another tenant follows it; a
 * removed tenant's host tags are no longer reported. */
static void test_attribution_reload(void **state)
{
	struct env v;
	struct rg_decision d;
	struct rg_config *ncfg;
	uint8_t key[16], key2[16];
	uint32_t id;

	assert_int_equal(rg_addr_parse("203.0.113.9", key, NULL), 0);
	assert_int_equal(rg_addr_parse("203.0.113.10", key2, NULL), 0);
	env_init(&v, load_cfg(NULL, NULL, NULL, auth_tenants));
	d = ask_auth(&v, "203.0.113.9", "a@fabrikam.com", "scanner01", NULL, NULL, T0);
	assert_string_equal(d.tenant_name, "fabrikam");
	d = ask_auth(&v, "203.0.113.10", "a@certonly.example", NULL, NULL, "gw.certonly.example",
		     T0);
	assert_string_equal(d.tenant_name, "certonly");
	assert_true(rg_engine_host_tag(v.e, key2, &id));
	ncfg = load_cfg(NULL, NULL, "sasl_users = scanner01", NULL);
	env_reload(&v, ncfg, T0 + NS);
	assert_true(rg_engine_host_tag(v.e, key, &id));	/* fabrikam is still configured */
	assert_false(rg_engine_host_tag(v.e, key2, &id));	/* certonly is not */
	d = ask_auth(&v, "203.0.113.9", "a@contoso.com", "scanner01", NULL, NULL, T0 + 2 * NS);
	assert_string_equal(d.tenant_name, "contoso");
	assert_int_equal(d.matched_by, RG_MATCH_SASL);
	d = ask_auth(&v, "203.0.113.9", "a@certonly.example", NULL, NULL, "gw.certonly.example",
		     T0 + 2 * NS);
	assert_int_equal(d.tenant, -1);
	ncfg = load_cfg(NULL, NULL, NULL, "");
	env_reload(&v, ncfg, T0 + 3 * NS);
	assert_true(rg_engine_host_tag(v.e, key, &id));	/* contoso's now */
	assert_int_equal(id, rg_engine_tenant_id(v.e, "contoso"));
	env_fini(&v);
}

/* From the wire: empty attributes are no authentication; a value with a stray CR or a
 * control byte never matches a login, subject or fingerprint. */
static void test_attribution_from_wire(void **state)
{
	static const char *const wires[] = {
		"request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=192.0.2.10\n"
		"sender=a@fabrikam.com\nsasl_username=scanner01\nccert_subject=\n\n",
		"request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=192.0.2.10\n"
		"sender=a@fabrikam.com\nsasl_username=\nccert_fingerprint=\n"
		"ccert_pubkey_fingerprint=" FP_FAB "\n\n",
		"request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=192.0.2.10\n"
		"sender=a@fabrikam.com\nsasl_username=\nccert_subject=\nccert_fingerprint=\n\n",
		"request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=192.0.2.10\n"
		"sender=a@fabrikam.com\nsasl_username=scanner01\r\r\n"
		"ccert_subject=a.relay.fabrikam.com\x01\n\n",
	};
	static const enum rg_match want[] = { RG_MATCH_SASL, RG_MATCH_CERT_FINGERPRINT,
					      RG_MATCH_CONNECTOR, RG_MATCH_CONNECTOR };
	struct rg_policy_parser *p = rg_policy_parser_new(NULL);
	struct rg_policy_request req;
	struct rg_decision d;
	struct env v;
	size_t used;

	env_init(&v, load_cfg(NULL, NULL, NULL, auth_tenants));
	for (size_t i = 0; i < sizeof(wires) / sizeof(wires[0]); i++) {
		assert_int_equal(rg_policy_parser_feed(p, wires[i], strlen(wires[i]), &used), 1);
		rg_policy_request_from(rg_policy_parser_request(p), &req);
		assert_int_equal(rg_engine_decide(v.e, &req, T0, &d), 0);
		assert_int_equal(d.matched_by, want[i]);
		assert_string_equal(d.tenant_name, want[i] == RG_MATCH_CONNECTOR ? "contoso"
									       : "fabrikam");
	}
	rg_policy_parser_free(p);
	env_fini(&v);
}

static void test_from_policy_proto(void **state)
{
	static const char wire[] = "request=smtpd_access_policy\nprotocol_state=RCPT\n"
				   "instance=abc.1\nclient_address=192.0.2.10\n"
				   "sender=x@evil.example\nrecipient=r@contoso.com\n\n";
	struct rg_policy_parser *p;
	struct rg_policy_request req;
	struct rg_decision d;
	struct env v;
	size_t used;

	env_init(&v, load_cfg(NULL, NULL, "unregistered_limit = 0", NULL));
	p = rg_policy_parser_new(NULL);
	assert_non_null(p);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(rg_policy_parser_feed(p, wire, sizeof(wire) - 1, &used), 1);
		rg_policy_request_from(rg_policy_parser_request(p), &req);
		assert_int_equal(req.instance.len, 5);
		assert_int_equal(rg_engine_decide(v.e, &req, T0, &d), 0);
		assert_string_equal(reply(&d), REJECT_TEXT);
		assert_int_equal(d.counted, i == 0);
		assert_string_equal(d.domain, "evil.example");
	}
	rg_policy_parser_free(p);
	env_fini(&v);
}

/* over_budget_action: [limits] sets the default, a tenant overrides it; the restriction's
 * audit line and the listing say which; registered mail passes; monitor mode answers
 * DUNNO whatever the action; each stage of a transaction gets the same answer. */
static void test_over_budget_action(void **state)
{
	static const char hold_text[] = "HOLD 5.7.750 Service unavailable. Client blocked from "
					"sending from unregistered domains";
	static const char defer_text[] = "450 4.7.750 Service unavailable. Client blocked from "
					 "sending from unregistered domains";
	struct json_object *last;
	struct rg_decision d;
	struct env v;

	env_init(&v, load_cfg(NULL, "over_budget_action = defer", "over_budget_action = hold",
			      NULL));
	assert_int_equal(info(&v, "contoso", T0).over_budget, RG_OVER_HOLD);
	assert_int_equal(info(&v, "fabrikam", T0).over_budget, RG_OVER_DEFER);
	for (int i = 0; i < 3; i++)
		ask(&v, "192.0.2.10", "spam@evil.example", NULL, NULL, T0 + i * NS);
	d = ask(&v, "192.0.2.10", "spam@evil.example", "I1", "RCPT", T0 + 3 * NS);
	assert_int_equal(d.action, RG_REPLY_HOLD);
	assert_string_equal(reply(&d), hold_text);
	assert_true(d.restricted_now);
	d = ask(&v, "192.0.2.10", "spam@evil.example", "I1", "DATA", T0 + 3 * NS);
	assert_true(d.cached);
	assert_int_equal(d.action, RG_REPLY_HOLD);
	d = ask(&v, "192.0.2.10", "ceo@contoso.com", NULL, NULL, T0 + 4 * NS);
	assert_string_equal(reply(&d), "DUNNO");
	assert_int_equal(audit_count(&v, "tenant_restricted", &last), 1);
	assert_string_equal(jstr(last, "action"), "hold");
	json_object_put(last);

	ask(&v, "198.51.100.5", "spam@evil.example", NULL, NULL, T0);
	d = ask(&v, "198.51.100.5", "spam@evil.example", NULL, NULL, T0 + NS);
	assert_int_equal(d.action, RG_REPLY_DEFER);
	assert_string_equal(reply(&d), defer_text);
	assert_int_equal(audit_count(&v, "tenant_restricted", &last), 2);
	assert_string_equal(jstr(last, "action"), "defer");
	json_object_put(last);
	{
		struct rg_engine_counters c;

		rg_engine_get_counters(v.e, &c);
		assert_int_equal(c.by_reply[RG_REPLY_HOLD], 2);
		assert_int_equal(c.by_reply[RG_REPLY_DEFER], 1);
		assert_int_equal(c.by_reply[RG_REPLY_REJECT], 0);
	}
	env_fini(&v);

	/* Monitor mode: decided and audited as would_reject, answered DUNNO. */
	env_init(&v, load_cfg("mode = monitor", "over_budget_action = hold", NULL, NULL));
	for (int i = 0; i < 5; i++) {
		d = ask(&v, "192.0.2.10", "spam@evil.example", NULL, NULL, T0 + i * NS);
		assert_string_equal(reply(&d), "DUNNO");
	}
	assert_true(d.would_reject);
	assert_int_equal(audit_count(&v, "would_reject", NULL), 2);
	env_fini(&v);
}

/* The top unregistered domains and hosts of a tenant, counted from its unregistered
 * transactions, highest first, cleared with a fresh budget (after the unblock's audit). */
static void test_tenant_top(void **state)
{
	char dom[512], hosts[512];
	struct env v;

	env_init(&v, load_cfg(NULL, NULL, "unregistered_limit = 100000", NULL));
	assert_int_equal(rg_engine_tenant_top(v.e, "contoso", 5, dom, sizeof(dom), hosts,
					      sizeof(hosts)), 0);
	assert_string_equal(dom, "");
	assert_string_equal(hosts, "");
	for (int i = 0; i < 6; i++)
		ask(&v, "192.0.2.10", "a@spam.example", NULL, NULL, T0 + (uint64_t)i * NS);
	for (int i = 0; i < 2; i++)
		ask(&v, "192.0.2.11", "b@junk.example", NULL, NULL, T0 + (uint64_t)i * NS);
	ask(&v, "192.0.2.11", "c@contoso.com", NULL, NULL, T0);	/* registered: not listed */
	ask(&v, "192.0.2.12", "no-domain", NULL, NULL, T0);	/* invalid: its host only */
	assert_int_equal(rg_engine_tenant_top(v.e, "contoso", 5, dom, sizeof(dom), hosts,
					      sizeof(hosts)), 0);
	assert_string_equal(dom, "spam.example=6,junk.example=2");
	assert_string_equal(hosts, "192.0.2.10/32=6,192.0.2.11/32=2,192.0.2.12/32=1");
	assert_int_equal(rg_engine_tenant_top(v.e, "contoso", 1, dom, sizeof(dom), hosts,
					      sizeof(hosts)), 0);
	assert_string_equal(dom, "spam.example=6");
	/* Bounded by the buffer: whole entries only. */
	assert_int_equal(rg_engine_tenant_top(v.e, "contoso", 5, dom, 20, hosts, 8), 0);
	assert_string_equal(dom, "spam.example=6");
	assert_string_equal(hosts, "");
	assert_int_equal(rg_engine_tenant_top(v.e, "nosuch", 5, dom, sizeof(dom), hosts,
					      sizeof(hosts)), -ENOENT);
	assert_int_equal(rg_engine_unblock_tenant(v.e, "contoso", "test", T0 + 10 * NS), 0);
	assert_int_equal(rg_engine_tenant_top(v.e, "contoso", 5, dom, sizeof(dom), hosts,
					      sizeof(hosts)), 0);
	assert_string_equal(dom, "");
	/* Thousands of distinct domains stay in fixed memory; the heavy one stays on top. */
	for (int i = 0; i < 5000; i++) {
		char snd[64];

		snprintf(snd, sizeof(snd), "x@d%d.example", i);
		ask(&v, "192.0.2.10", snd, NULL, NULL, T0 + 20 * NS);
		if (i % 4 == 0)
			ask(&v, "192.0.2.10", "x@heavy.example", NULL, NULL, T0 + 20 * NS);
	}
	assert_int_equal(rg_engine_tenant_top(v.e, "contoso", 1, dom, sizeof(dom), hosts,
					      sizeof(hosts)), 0);
	assert_true(!strncmp(dom, "heavy.example=", 14));
	env_fini(&v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replies),
		cmocka_unit_test(test_attribution_order),
		cmocka_unit_test(test_attribution_budget_and_tag),
		cmocka_unit_test(test_attribution_reload),
		cmocka_unit_test(test_attribution_flood),
		cmocka_unit_test(test_attribution_from_wire),
		cmocka_unit_test(test_unassigned),
		cmocka_unit_test(test_null_sender_exempt),
		cmocka_unit_test(test_registered_passes),
		cmocka_unit_test(test_limit_restricts_exact_reply),
		cmocka_unit_test(test_instance_counts_once),
		cmocka_unit_test(test_no_instance_each_counts),
		cmocka_unit_test(test_pre_envelope_stages_not_counted),
		cmocka_unit_test(test_sliding_window),
		cmocka_unit_test(test_per_tenant_override),
		cmocka_unit_test(test_block_duration_expiry),
		cmocka_unit_test(test_operator_tenant_actions),
		cmocka_unit_test(test_audit_peer),
		cmocka_unit_test(test_monitor_mode),
		cmocka_unit_test(test_unblock_tenant_lifts_flood_blocks),
		cmocka_unit_test(test_fleet_peek),
		cmocka_unit_test(test_fleet_apply),
		cmocka_unit_test(test_monitor_to_enforce_drops_dry_run_restrictions),
		cmocka_unit_test(test_flood_escalation),
		cmocka_unit_test(test_flood_ipv6_host_prefix),
		cmocka_unit_test(test_conn_rate_throttle),
		cmocka_unit_test(test_operator_host_verdicts),
		cmocka_unit_test(test_verdict_table_full),
		cmocka_unit_test(test_verdict_duration_saturates),
		cmocka_unit_test(test_reload_keeps_survivors),
		cmocka_unit_test(test_invalid_sender_counts),
		cmocka_unit_test(test_hostile_sender_in_audit),
		cmocka_unit_test(test_bad_client_address_fail_mode),
		cmocka_unit_test(test_txn_table_bounded),
		cmocka_unit_test(test_from_policy_proto),
		cmocka_unit_test(test_over_budget_action),
		cmocka_unit_test(test_tenant_top),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
