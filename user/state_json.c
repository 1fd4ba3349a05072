// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * state_json.c: the engine's persistent state to JSON and back (format in state_json.h).
 * Takes the engine (its ids, tenant states and verdicts) or a parsed JSON object; reports
 * a new object, or 0 / -errno with the reason a file is refused logged at error level.
 * Import runs in steps: the header, then each section parsed and checked into plain
 * structures (ids, tenants, verdicts), then rg_engine_restore applies them all at once.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "audit.h"
#include "classify.h"
#include "log.h"
#include "state_json.h"
#include "tenant_ids.h"

/* ---- export ------------------------------------------------------------------------- */

static int jadd(struct json_object *o, const char *k, struct json_object *v)
{
	if (!v)
		return -ENOMEM;
	return json_object_object_add(o, k, v) ? -ENOMEM : 0;
}

static struct json_object *ju64(uint64_t v)
{
	return json_object_new_int64(v > INT64_MAX ? INT64_MAX : (int64_t)v);
}

/* The non-empty slots of a window's approximate count as [[SLOT,N],...]. */
static struct json_object *export_buckets(const struct rg_buckets *b)
{
	struct json_object *a = json_object_new_array();
	int err = 0;

	for (unsigned i = 0; a && !err && i < RG_BUCKETS; i++) {
		struct json_object *pair;

		if (!b->n[i])
			continue;
		pair = json_object_new_array();
		err = !pair || json_object_array_add(pair, ju64(b->slot[i])) ||
		      json_object_array_add(pair, ju64(b->n[i])) ||
		      json_object_array_add(a, pair);
	}
	if (err) {
		json_object_put(a);
		return NULL;
	}
	return a;
}

static struct json_object *export_tenant(const struct rg_engine *e, size_t i)
{
	struct json_object *o = json_object_new_object(), *w = json_object_new_array();
	struct rg_engine_tenant_state t;
	int err = 0;

	if (!o || !w || rg_engine_tenant_state(e, i, &t))
		goto fail;
	for (uint32_t k = 0; k < t.nwin; k++)
		err |= json_object_array_add(w, ju64(rg_engine_window_at(e, i, k))) ? -ENOMEM : 0;
	err |= jadd(o, "window", w);
	w = NULL;
	err |= jadd(o, "registered", export_buckets(&t.reg));
	err |= jadd(o, "null_sender", export_buckets(&t.nul));
	err |= jadd(o, "restricted", json_object_new_boolean(t.restricted));
	if (t.restricted) {
		err |= jadd(o, "reason", json_object_new_string(t.reason));
		err |= jadd(o, "monitor_only", json_object_new_boolean(t.monitor_only));
		err |= jadd(o, "since_ns", ju64(t.since_ns));
		err |= jadd(o, "until_ns", ju64(t.until_ns));
	}
	if (!err)
		return o;
fail:
	json_object_put(w);
	json_object_put(o);
	return NULL;
}

static int export_verdict(const struct rg_engine_verdict *v, void *ctx)
{
	struct json_object *o = json_object_new_object();
	char buf[RG_ADDR_STRLEN];
	int err = 0;

	if (!o)
		return -ENOMEM;
	err |= jadd(o, "target", json_object_new_string(rg_cidr_format(&v->target, buf,
									sizeof(buf))));
	err |= jadd(o, "action", json_object_new_string(rg_verdict_action_name(v->action)));
	err |= jadd(o, "origin", json_object_new_string(rg_origin_name(v->origin)));
	err |= jadd(o, "interval_ns", ju64(v->interval_ns));
	err |= jadd(o, "burst_ns", ju64(v->burst_ns));
	err |= jadd(o, "since_ns", ju64(v->since_ns));
	err |= jadd(o, "expires_ns", ju64(v->expires_ns));
	err |= jadd(o, "tenant_id", ju64(v->tenant_id));
	if (v->by[0])
		err |= jadd(o, "by", json_object_new_string(v->by));
	if (err || json_object_array_add(ctx, o)) {
		json_object_put(o);
		return -ENOMEM;
	}
	return 0;
}

static int export_id(const char *name, uint32_t id, void *ctx)
{
	return jadd(ctx, name, ju64(id));
}

struct json_object *rg_state_export(const struct rg_engine *e, uint64_t now_ns)
{
	struct json_object *o = json_object_new_object();
	struct json_object *ids = json_object_new_object();
	struct json_object *ten = json_object_new_object();
	struct json_object *ver = json_object_new_array();
	const struct rg_config *cfg = rg_engine_config(e);
	char tbuf[40];
	int err = 0;

	if (!o || !ids || !ten || !ver)
		goto fail;
	err |= rg_tenant_ids_foreach(rg_engine_ids(e), export_id, ids);
	for (size_t i = 0; i < rg_engine_tenant_count(e); i++)
		err |= jadd(ten, cfg->tenants[i].name, export_tenant(e, i));
	err |= rg_engine_verdict_foreach(e, export_verdict, ver);
	err |= jadd(o, "version", json_object_new_int(RG_STATE_VERSION));
	err |= jadd(o, "saved_at", json_object_new_string(rg_rfc3339_ms(now_ns, tbuf,
									 sizeof(tbuf))));
	err |= jadd(o, "saved_at_ns", ju64(now_ns));
	err |= jadd(o, "next_tenant_id", ju64(rg_tenant_ids_next(rg_engine_ids(e))));
	err |= jadd(o, "tenant_ids", ids);
	ids = NULL;
	err |= jadd(o, "tenants", ten);
	ten = NULL;
	err |= jadd(o, "verdicts", ver);
	ver = NULL;
	if (!err)
		return o;
fail:
	json_object_put(ids);
	json_object_put(ten);
	json_object_put(ver);
	json_object_put(o);
	return NULL;
}

/* ---- import: typed getters ---------------------------------------------------------- */

/* false (and a logged reason) on a wrong type or range. */
static bool jget_u64(struct json_object *o, const char *key, bool required, uint64_t *out)
{
	struct json_object *v;
	int64_t x;

	*out = 0;
	if (!json_object_object_get_ex(o, key, &v))
		goto missing;
	if (!json_object_is_type(v, json_type_int)) {
		pr_err("state: \"%s\" is not an integer", key);
		return false;
	}
	errno = 0;
	x = json_object_get_int64(v);
	if (x < 0 || errno) {
		pr_err("state: \"%s\" out of range", key);
		return false;
	}
	*out = (uint64_t)x;
	return true;
missing:
	if (required)
		pr_err("state: \"%s\" is missing", key);
	return !required;
}

static bool jget_bool(struct json_object *o, const char *key, bool *out)
{
	struct json_object *v;

	*out = false;
	if (!json_object_object_get_ex(o, key, &v))
		return true;
	if (!json_object_is_type(v, json_type_boolean)) {
		pr_err("state: \"%s\" is not a boolean", key);
		return false;
	}
	*out = json_object_get_boolean(v);
	return true;
}

static const char *jget_str(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static struct json_object *jget_typed(struct json_object *o, const char *key, json_type type)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, type) ? v : NULL;
}

static bool valid_name(const char *s)
{
	size_t n = strlen(s);

	if (!n || n >= RG_TENANT_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", s[i]))
			return false;
	return true;
}

/* ---- import: the sections ----------------------------------------------------------- */

/* What the file holds, parsed and checked; names point into the JSON object. */
struct parsed {
	struct json_object *ids, *ten, *ver;
	uint64_t next_id;
	struct rg_tenant_id_pair *pairs;
	size_t n_pairs;
	struct rg_engine_tenant_state *tenants;	/* by configured index */
	size_t n_tenants;
	struct rg_engine_removed *removed;
	size_t n_removed;
	struct rg_engine_verdict *verdicts;
	size_t n_verdicts;
};

static int parse_header(struct json_object *obj, struct parsed *p)
{
	uint64_t version;

	if (!json_object_is_type(obj, json_type_object)) {
		pr_err("state: not a JSON object");
		return -EBADMSG;
	}
	if (!jget_u64(obj, "version", true, &version))
		return -EBADMSG;
	if (version != RG_STATE_VERSION) {
		pr_err("state: version %llu, this relayguardd reads version %d",
		       (unsigned long long)version, RG_STATE_VERSION);
		return -EPROTONOSUPPORT;
	}
	p->ids = jget_typed(obj, "tenant_ids", json_type_object);
	p->ten = jget_typed(obj, "tenants", json_type_object);
	p->ver = jget_typed(obj, "verdicts", json_type_array);
	if (!jget_u64(obj, "next_tenant_id", true, &p->next_id) || p->next_id > UINT32_MAX ||
	    !p->ids || !p->ten || !p->ver) {
		pr_err("state: next_tenant_id, tenant_ids, tenants or verdicts missing or malformed");
		return -EBADMSG;
	}
	return 0;
}

/* Names and ids; repeats and the id range are tenant_ids.c's to refuse. */
static int parse_ids(struct parsed *p)
{
	struct json_object_iterator it = json_object_iter_begin(p->ids);
	struct json_object_iterator end = json_object_iter_end(p->ids);

	p->pairs = calloc((size_t)json_object_object_length(p->ids) + 1, sizeof(*p->pairs));
	if (!p->pairs)
		return -ENOMEM;
	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
		const char *name = json_object_iter_peek_name(&it);
		struct json_object *v = json_object_iter_peek_value(&it);
		int64_t id = json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : 0;

		if (!valid_name(name) || id < 1 || id > RG_TENANT_ID_MAX) {
			pr_err("state: bad tenant id entry %.64s", name);
			return -EBADMSG;
		}
		p->pairs[p->n_pairs].name = name;
		p->pairs[p->n_pairs++].id = (uint32_t)id;
	}
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int parse_window(struct json_object *w, struct rg_engine_tenant_state *t)
{
	size_t n;

	if (!json_object_is_type(w, json_type_array)) {
		pr_err("state: a tenant window is not an array");
		return -EBADMSG;
	}
	n = json_object_array_length(w);
	if (n > UINT32_MAX - 1) {
		pr_err("state: a tenant window is too long");
		return -EBADMSG;
	}
	t->win = calloc(n ? n : 1, sizeof(*t->win));
	if (!t->win)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct json_object *x = json_object_array_get_idx(w, i);

		if (!json_object_is_type(x, json_type_int) || json_object_get_int64(x) < 0) {
			pr_err("state: a window timestamp is not a positive integer");
			return -EBADMSG;
		}
		t->win[i] = (uint64_t)json_object_get_int64(x);
	}
	t->nwin = (uint32_t)n;
	qsort(t->win, n, sizeof(*t->win), cmp_u64);
	return 0;
}

/* [[SLOT,N],...] back into the slots (SLOT % RG_BUCKETS, as rg_buckets_add places it);
 * absent (a file of an earlier build): empty. */
static int parse_buckets(struct json_object *o, const char *key, struct rg_buckets *b)
{
	struct json_object *a;
	size_t n;

	memset(b, 0, sizeof(*b));
	if (!json_object_object_get_ex(o, key, &a))
		return 0;
	if (!json_object_is_type(a, json_type_array) ||
	    (n = json_object_array_length(a)) > RG_BUCKETS)
		goto bad;
	for (size_t i = 0; i < n; i++) {
		struct json_object *pair = json_object_array_get_idx(a, i), *s, *c;
		int64_t slot, cnt;

		if (!json_object_is_type(pair, json_type_array) ||
		    json_object_array_length(pair) != 2)
			goto bad;
		s = json_object_array_get_idx(pair, 0);
		c = json_object_array_get_idx(pair, 1);
		if (!json_object_is_type(s, json_type_int) || !json_object_is_type(c, json_type_int))
			goto bad;
		slot = json_object_get_int64(s);
		cnt = json_object_get_int64(c);
		if (slot < 0 || cnt < 1 || cnt > UINT32_MAX)
			goto bad;
		b->slot[(uint64_t)slot % RG_BUCKETS] = (uint64_t)slot;
		b->n[(uint64_t)slot % RG_BUCKETS] = (uint32_t)cnt;
	}
	return 0;
bad:
	pr_err("state: a tenant's %s counts are not [[slot,count],...]", key);
	return -EBADMSG;
}

static int parse_tenant(struct json_object *o, struct rg_engine_tenant_state *t)
{
	struct json_object *w;
	const char *r;

	if (!json_object_is_type(o, json_type_object)) {
		pr_err("state: a tenant is not an object");
		return -EBADMSG;
	}
	if (!jget_bool(o, "restricted", &t->restricted) ||
	    !jget_bool(o, "monitor_only", &t->monitor_only) ||
	    !jget_u64(o, "since_ns", false, &t->since_ns) ||
	    !jget_u64(o, "until_ns", false, &t->until_ns))
		return -EBADMSG;
	r = jget_str(o, "reason");
	t->reason = r && !strcmp(r, "operator") ? "operator" : "limit";
	t->present = true;
	if (parse_buckets(o, "registered", &t->reg) || parse_buckets(o, "null_sender", &t->nul))
		return -EBADMSG;
	return json_object_object_get_ex(o, "window", &w) ? parse_window(w, t) : 0;
}

/* Configured tenants into p->tenants; the others are checked alike and listed as removed. */
static int parse_tenants(const struct rg_engine *e, struct parsed *p)
{
	struct json_object_iterator it = json_object_iter_begin(p->ten);
	struct json_object_iterator end = json_object_iter_end(p->ten);
	const struct rg_config *cfg = rg_engine_config(e);
	int err;

	p->n_tenants = rg_engine_tenant_count(e);
	p->tenants = calloc(p->n_tenants ? p->n_tenants : 1, sizeof(*p->tenants));
	p->removed = calloc((size_t)json_object_object_length(p->ten) + 1, sizeof(*p->removed));
	if (!p->tenants || !p->removed)
		return -ENOMEM;
	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
		const char *name = json_object_iter_peek_name(&it);
		int tidx = rg_config_find_tenant(cfg, name);
		struct rg_engine_tenant_state scratch = { 0 };
		struct rg_engine_tenant_state *t = tidx >= 0 && (size_t)tidx < p->n_tenants ?
						   &p->tenants[tidx] : &scratch;

		err = parse_tenant(json_object_iter_peek_value(&it), t);
		free(scratch.win);
		if (err)
			return err;
		if (t == &scratch && valid_name(name)) {
			p->removed[p->n_removed].name = name;
			p->removed[p->n_removed++].restricted = scratch.restricted;
		}
	}
	return 0;
}

static int parse_verdict(struct json_object *o, struct rg_engine_verdict *v)
{
	const char *target = jget_str(o, "target"), *by = jget_str(o, "by");
	int a = -1, origin = -1;
	uint64_t tid;

	memset(v, 0, sizeof(*v));
	if (!json_object_is_type(o, json_type_object) || !target ||
	    !jget_str(o, "action") || !jget_str(o, "origin") ||
	    rg_cidr_parse(target, &v->target, false)) {
		pr_err("state: a verdict has no valid target, action or origin");
		return -EBADMSG;
	}
	/* The names the saver writes (names.h); "none" is no verdict to keep. */
	if (rg_name_code(rg_action_names, jget_str(o, "action"), &a) || a == RG_ACT_NONE ||
	    rg_name_code(rg_origin_names, jget_str(o, "origin"), &origin))
		goto bad;
	v->action = (enum rg_action)a;
	v->origin = (enum rg_origin)origin;
	if (!jget_u64(o, "interval_ns", false, &v->interval_ns) ||
	    !jget_u64(o, "burst_ns", false, &v->burst_ns) ||
	    !jget_u64(o, "since_ns", false, &v->since_ns) ||
	    !jget_u64(o, "expires_ns", false, &v->expires_ns) ||
	    !jget_u64(o, "tenant_id", false, &tid) || tid > UINT32_MAX)
		return -EBADMSG;
	if (v->action == RG_ACT_THROTTLE && !v->interval_ns)
		goto bad;
	v->tenant_id = (uint32_t)tid;
	if (by)
		snprintf(v->by, sizeof(v->by), "%s", by);
	return 0;
bad:
	pr_err("state: a verdict for %.64s has a bad action, origin or rate", target);
	return -EBADMSG;
}

static int parse_verdicts(struct parsed *p)
{
	int err;

	p->n_verdicts = json_object_array_length(p->ver);
	p->verdicts = calloc(p->n_verdicts ? p->n_verdicts : 1, sizeof(*p->verdicts));
	if (!p->verdicts)
		return -ENOMEM;
	for (size_t i = 0; i < p->n_verdicts; i++) {
		err = parse_verdict(json_object_array_get_idx(p->ver, i), &p->verdicts[i]);
		if (err)
			return err;
	}
	return 0;
}

int rg_state_import(struct rg_engine *e, struct json_object *obj, uint64_t now_ns)
{
	struct parsed p = { 0 };
	struct rg_engine_snapshot s;
	int err;

	err = parse_header(obj, &p);
	if (!err)
		err = parse_ids(&p);
	if (!err)
		err = parse_tenants(e, &p);
	if (!err)
		err = parse_verdicts(&p);
	if (err)
		goto out;
	s = (struct rg_engine_snapshot){
		.ids = p.pairs, .n_ids = p.n_pairs, .next_id = p.next_id,
		.tenants = p.tenants, .verdicts = p.verdicts, .n_verdicts = p.n_verdicts,
		.removed = p.removed, .n_removed = p.n_removed,
	};
	err = rg_engine_restore(e, &s, now_ns);
out:
	for (size_t i = 0; p.tenants && i < p.n_tenants; i++)
		free(p.tenants[i].win);
	free(p.tenants);
	free(p.pairs);
	free(p.removed);
	free(p.verdicts);
	return err;
}
