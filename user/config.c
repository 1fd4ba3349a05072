// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * config.c: loads relayguard.conf ([agent], [limits], [fleet], [tenant NAME], include = GLOB,
 * accepted-domain lists and files, connector CIDRs, SASL logins, certificate subjects and
 * fingerprints) into an immutable struct rg_config.
 *
 * Takes files an operator wrote, possibly by script and possibly huge (100k tenants, 1M
 * domains), so: every file is read whole under a size cap, each physical line is cleaned
 * and split once (config_ini.c), [agent] and [limits] values are parsed by their table
 * rows (config_keys.c), and tenants are found by hash. Reports every problem, not the
 * first, as "FILE:LINE: reason" with operator text passed through rg_printable(); any
 * error refuses the whole file. What loads but looks like a mistake (an interface that
 * does not exist, a tenant without connectors or domains) is kept as a warning in the
 * configuration.
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "config_ini.h"
#include "config_keys.h"
#include "containers.h"
#include "readfile.h"

enum sect_kind { SECT_NONE, SECT_AGENT, SECT_LIMITS, SECT_FLEET, SECT_TENANT, SECT_IGNORE };

struct loc {
	const char *file;
	int line;
};

/* One file being read: a frame of the include stack. */
struct src_file {
	struct load *ld;
	struct src_file *parent;
	const char *path;	/* interned in cfg->files */
	char *dir;		/* for relative includes and domain files */
	struct rg_ini rd;	/* rd.line: the line being handled */
	dev_t dev;
	ino_t ino;
	enum sect_kind kind;	/* current section; an include starts in its includer's */
	size_t tenant;
};

/* Per-tenant state the loader needs and the configuration does not keep. */
struct tenant_extra {
	struct rg_limits ov;
	unsigned ov_mask;	/* bit i: rg_limit_keys[i] was set */
	size_t conn_cap;
};

struct load {
	struct rg_config *cfg;
	struct rg_config_errors *errs;
	size_t n_errors;	/* all found, stored or not */
	size_t n_warnings;
	int err;		/* first hard failure (-ENOMEM), beyond configuration errors */
	int depth;
	size_t files_cap, tenants_cap;
	struct tenant_extra *tx;
	struct loc agent_seen[RG_AGENT_KEYS_N];
	struct loc limits_seen[RG_LIMIT_KEYS_N];
	struct loc fleet_seen[RG_FLEET_KEYS_N];
	struct loc agent_section, fleet_section;
	const atomic_bool *cancel;	/* NULL, or true: give up (-ECANCELED) */
};

/* Checked between lines: a reload the agent's stop made moot ends within a line. */
static bool cancelled(struct load *ld)
{
	if (ld->cancel && atomic_load_explicit(ld->cancel, memory_order_relaxed))
		ld->err = -ECANCELED;
	return ld->err != 0;
}

/* ---- small helpers ---- */

struct rg_name_index {
	uint32_t *slots;	/* tenant index + 1; 0 empty */
	size_t cap;
};

static uint64_t name_hash(const char *s)
{
	uint64_t h = rg_fnv1a(0, s, strlen(s));

	return h ^ (h >> 29);
}

static long index_find(const struct rg_config *cfg, const char *name)
{
	const struct rg_name_index *ix = cfg->tenant_index;

	if (!ix || !ix->cap)
		return -1;
	for (size_t i = name_hash(name) & (ix->cap - 1);; i = (i + 1) & (ix->cap - 1)) {
		uint32_t v = ix->slots[i];

		if (!v)
			return -1;
		if (!strcmp(cfg->tenants[v - 1].name, name))
			return (long)v - 1;
	}
}

static void index_put(struct rg_name_index *ix, const struct rg_config *cfg, uint32_t idx)
{
	size_t i = name_hash(cfg->tenants[idx].name) & (ix->cap - 1);

	while (ix->slots[i])
		i = (i + 1) & (ix->cap - 1);
	ix->slots[i] = idx + 1;
}

static int index_add(struct rg_config *cfg, uint32_t idx)
{
	struct rg_name_index *ix = cfg->tenant_index;

	if ((size_t)(idx + 1) * 2 > ix->cap) {
		size_t ncap = ix->cap ? ix->cap * 2 : 64;
		uint32_t *ns = calloc(ncap, sizeof(*ns));

		if (!ns)
			return -ENOMEM;
		free(ix->slots);
		ix->slots = ns;
		ix->cap = ncap;
		for (uint32_t i = 0; i < idx; i++)
			index_put(ix, cfg, i);
	}
	index_put(ix, cfg, idx);
	return 0;
}

int rg_config_find_tenant(const struct rg_config *cfg, const char *name)
{
	if (!cfg || !name)
		return -1;
	return (int)index_find(cfg, name);
}

static const char *pr(const char *s, char out[RG_PRINTABLE_MAX + 4])
{
	return rg_printable(s, strlen(s), out);
}

static void add_to(struct load *ld, struct rg_config_errors *e, char *msg)
{
	char **nm;

	if (!msg) {
		ld->err = ld->err ? ld->err : -ENOMEM;
		return;
	}
	nm = realloc(e->msgs, (e->n + 1) * sizeof(*nm));
	if (!nm) {
		free(msg);
		ld->err = ld->err ? ld->err : -ENOMEM;
		return;
	}
	e->msgs = nm;
	e->msgs[e->n++] = msg;
}

int rg_config_errors_add(struct rg_config_errors *errs, const char *fmt, ...)
{
	struct load ld = { 0 };
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	add_to(&ld, errs, msg);
	return ld.err;
}

static void add_msg(struct load *ld, char *msg)
{
	add_to(ld, ld->errs, msg);
}

/*
 * One message "FILE:LINE: reason" (an error) or "FILE:LINE: warning: reason", line 0 for
 * what belongs to no line (an unreadable main file); past RG_CONFIG_ERRORS_MAX of a kind
 * only counted.
 */
__attribute__((format(printf, 5, 0)))
static void vcfg_msg(struct load *ld, bool warning, const char *file, int line,
		     const char *fmt, va_list ap)
{
	size_t *count = warning ? &ld->n_warnings : &ld->n_errors;
	char reason[512];
	char *msg = NULL;

	if ((*count)++ >= RG_CONFIG_ERRORS_MAX)
		return;
	vsnprintf(reason, sizeof(reason), fmt, ap);
	if (asprintf(&msg, "%s:%d: %s%s", file, line, warning ? "warning: " : "", reason) < 0)
		msg = NULL;
	add_to(ld, warning ? &ld->cfg->warnings : ld->errs, msg);
}

__attribute__((format(printf, 5, 6)))
static void cfg_msg(struct load *ld, bool warning, const char *file, int line,
		    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vcfg_msg(ld, warning, file, line, fmt, ap);
	va_end(ap);
}

#define cfg_err(ld, ...) cfg_msg(ld, false, __VA_ARGS__)
/* A warning: the configuration loads, but this is probably not what was meant. */
#define cfg_warn(ld, ...) cfg_msg(ld, true, __VA_ARGS__)
#define ferr(f, ...) cfg_msg((f)->ld, false, (f)->path, (f)->rd.line, __VA_ARGS__)

/* rg_key_set()'s report: the line being handled, ctx a struct src_file. */
__attribute__((format(printf, 2, 3)))
static void key_report(void *ctx, const char *fmt, ...)
{
	struct src_file *f = ctx;
	va_list ap;

	va_start(ap, fmt);
	vcfg_msg(f->ld, false, f->path, f->rd.line, fmt, ap);
	va_end(ap);
}

/* ---- the configuration object ---- */

static int config_init(struct rg_config *cfg)
{
	cfg->domains = rg_domains_new(4096);
	cfg->connectors = rg_lpm_new();
	cfg->auth = rg_tenant_auth_new();
	cfg->tenant_index = calloc(1, sizeof(*cfg->tenant_index));
	if (!cfg->domains || !cfg->connectors || !cfg->auth || !cfg->tenant_index)
		return -ENOMEM;
	return 0;
}

/* A default that does not parse is a bug of the table: reported like any error. */
static int set_default(struct load *ld, const struct rg_key_def *d, void *base)
{
	struct src_file f = { .ld = ld, .path = "(built-in default)" };
	char *val;
	int err;

	if (!d->def)
		return 0;
	val = strdup(d->def);
	if (!val)
		return -ENOMEM;
	err = rg_key_set(d, base, val, key_report, &f);
	free(val);
	return err == -ENOMEM ? err : 0;
}

/* Every key the files did not set takes its default, [limits] before any tenant merge. */
static int apply_defaults(struct load *ld)
{
	struct rg_config *cfg = ld->cfg;
	int err = 0;

	for (size_t i = 0; i < RG_AGENT_KEYS_N && !err; i++)
		if (!ld->agent_seen[i].file)
			err = set_default(ld, &rg_agent_keys[i], cfg);
	for (size_t i = 0; i < RG_LIMIT_KEYS_N && !err; i++)
		if (!ld->limits_seen[i].file)
			err = set_default(ld, &rg_limit_keys[i], &cfg->defaults);
	for (size_t i = 0; i < RG_FLEET_KEYS_N && !err; i++)
		if (!ld->fleet_seen[i].file)
			err = set_default(ld, &rg_fleet_keys[i], cfg);
	if (!err && !cfg->audit_log &&
	    asprintf(&cfg->audit_log, "%s/audit.log", cfg->state_dir) < 0) {
		cfg->audit_log = NULL;
		err = -ENOMEM;
	}
	return err;
}

void rg_config_free(struct rg_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->path);
	for (size_t i = 0; i < RG_AGENT_KEYS_N; i++)
		rg_key_free(&rg_agent_keys[i], cfg);
	for (size_t i = 0; i < RG_FLEET_KEYS_N; i++)
		rg_key_free(&rg_fleet_keys[i], cfg);
	for (size_t i = 0; i < cfg->n_tenants; i++)
		free(cfg->tenants[i].connectors);
	free(cfg->tenants);
	rg_domains_free(cfg->domains);
	rg_lpm_free(cfg->connectors);
	rg_tenant_auth_free(cfg->auth);
	for (size_t i = 0; i < cfg->n_files; i++)
		free(cfg->files[i]);
	free(cfg->files);
	if (cfg->tenant_index)
		free(cfg->tenant_index->slots);
	free(cfg->tenant_index);
	rg_config_errors_free(&cfg->warnings);
	free(cfg);
}

void rg_config_errors_free(struct rg_config_errors *errs)
{
	if (!errs)
		return;
	for (size_t i = 0; i < errs->n; i++)
		free(errs->msgs[i]);
	free(errs->msgs);
	errs->msgs = NULL;
	errs->n = 0;
}

static const char *intern_path(struct load *ld, const char *path)
{
	struct rg_config *cfg = ld->cfg;
	char *p;

	if (cfg->n_files == ld->files_cap) {
		size_t ncap = ld->files_cap ? ld->files_cap * 2 : 8;
		char **nf = realloc(cfg->files, ncap * sizeof(*nf));

		if (!nf)
			return NULL;
		cfg->files = nf;
		ld->files_cap = ncap;
	}
	p = strdup(path);
	if (!p)
		return NULL;
	cfg->files[cfg->n_files++] = p;
	return p;
}

static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

/* path as written, or relative to dir. */
static char *resolve(const char *dir, const char *path)
{
	char *out;

	if (path[0] == '/')
		return strdup(path);
	if (asprintf(&out, "%s/%s", dir, path) < 0)
		return NULL;
	return out;
}

static const char *read_error(int err, char *buf, size_t len, size_t max)
{
	if (err == -EFBIG)
		snprintf(buf, len, "file too large (over %zu MiB)", max >> 20);
	else if (err == -EINVAL)	/* rg_read_file() reads regular files only */
		snprintf(buf, len, "not a regular file");
	else
		snprintf(buf, len, "%s", strerror(-err));
	return buf;
}

bool rg_config_tenant_name_ok(const char *s)
{
	size_t n = strlen(s);

	return n < RG_TENANT_NAME_MAX && rg_ini_name_valid(s, n);
}

static void open_tenant(struct src_file *f, const char *name)
{
	struct load *ld = f->ld;
	struct rg_config *cfg = ld->cfg;
	char p[RG_PRINTABLE_MAX + 4];
	long prev;

	f->kind = SECT_IGNORE;
	if (!rg_config_tenant_name_ok(name)) {
		ferr(f, "bad tenant name '%s': 1 to %d characters of A-Z a-z 0-9 . _ -",
		     pr(name, p), RG_TENANT_NAME_MAX - 1);
		return;
	}
	prev = index_find(cfg, name);
	if (prev >= 0) {
		ferr(f, "duplicate tenant '%s' (first defined at %s:%d)", name,
		     cfg->tenants[prev].file, cfg->tenants[prev].line);
		return;
	}
	if (cfg->n_tenants >= UINT32_MAX - 1) {
		ferr(f, "too many tenants");
		return;
	}
	if (cfg->n_tenants == ld->tenants_cap) {
		size_t ncap = ld->tenants_cap ? ld->tenants_cap * 2 : 16;
		struct rg_tenant_conf *nt = realloc(cfg->tenants, ncap * sizeof(*nt));
		struct tenant_extra *nx;

		if (!nt)
			goto oom;
		cfg->tenants = nt;
		nx = realloc(ld->tx, ncap * sizeof(*nx));
		if (!nx)
			goto oom;
		ld->tx = nx;
		ld->tenants_cap = ncap;
	}
	struct rg_tenant_conf *t = &cfg->tenants[cfg->n_tenants];

	memset(t, 0, sizeof(*t));
	memset(&ld->tx[cfg->n_tenants], 0, sizeof(ld->tx[0]));
	memcpy(t->name, name, strlen(name) + 1);
	t->file = (char *)f->path;
	t->line = f->rd.line;
	cfg->n_tenants++;
	if (index_add(cfg, (uint32_t)(cfg->n_tenants - 1)))
		goto oom;
	f->kind = SECT_TENANT;
	f->tenant = cfg->n_tenants - 1;
	return;
oom:
	ld->err = -ENOMEM;
}

/* A "[...]" line: s is the text between the brackets, trimmed. */
static void open_section(struct src_file *f, char *s)
{
	char p[RG_PRINTABLE_MAX + 4];
	char *word, *rest, *cur = s;
	size_t wlen, rlen;

	word = rg_ini_token(&cur, &wlen);
	if (!word) {
		ferr(f, "empty section name");
		f->kind = SECT_IGNORE;
		return;
	}
	rest = rg_ini_token(&cur, &rlen);
	if (rest && rg_ini_token(&cur, &rlen)) {
		ferr(f, "unknown section [%s]", pr(s, p));
		f->kind = SECT_IGNORE;
		return;
	}
	if (wlen == 6 && !memcmp(word, "tenant", 6)) {
		if (!rest) {
			ferr(f, "section [tenant] needs a name: [tenant NAME]");
			f->kind = SECT_IGNORE;
			return;
		}
		rest[rlen] = '\0';
		open_tenant(f, rest);
		return;
	}
	if (!rest && wlen == 5 && !memcmp(word, "agent", 5)) {
		f->kind = SECT_AGENT;
		if (!f->ld->agent_section.file) {
			f->ld->agent_section.file = f->path;
			f->ld->agent_section.line = f->rd.line;
		}
		return;
	}
	if (!rest && wlen == 6 && !memcmp(word, "limits", 6)) {
		f->kind = SECT_LIMITS;
		return;
	}
	if (!rest && wlen == 5 && !memcmp(word, "fleet", 5)) {
		f->kind = SECT_FLEET;
		f->ld->cfg->fleet.enabled = true;
		if (!f->ld->fleet_section.file) {
			f->ld->fleet_section.file = f->path;
			f->ld->fleet_section.line = f->rd.line;
		}
		return;
	}
	ferr(f, "unknown section [%s]", pr(s, p));
	f->kind = SECT_IGNORE;
}

static void bad_value(struct src_file *f, const char *key, const char *val, const char *why)
{
	char p[RG_PRINTABLE_MAX + 4];

	ferr(f, "bad value for '%s': '%s': %s", key, pr(val, p), why);
}

static bool dup_scalar(struct src_file *f, struct loc *seen, const char *key)
{
	if (seen->file) {
		ferr(f, "duplicate key '%s' (first set at %s:%d)", key, seen->file, seen->line);
		return true;
	}
	seen->file = f->path;
	seen->line = f->rd.line;
	return false;
}

/* A key of a section whose keys are rows of tab (fields of struct rg_config): lists may
 * repeat (and append), any other key is set once. false: not a key of it (reported). */
static bool table_key(struct src_file *f, const struct rg_key_def *tab, size_t n,
		      struct loc *seen_tab, const char *section, const char *key, char *val)
{
	const struct rg_key_def *d = rg_key_find(tab, n, key);
	char p[RG_PRINTABLE_MAX + 4];
	struct loc *seen;

	if (!d) {
		ferr(f, "unknown key '%s' in [%s]", pr(key, p), section);
		return false;
	}
	seen = &seen_tab[d - tab];
	if (rg_key_is_list(d)) {
		if (!seen->file) {
			seen->file = f->path;
			seen->line = f->rd.line;
		}
	} else if (dup_scalar(f, seen, key)) {
		return false;
	}
	if (rg_key_set(d, f->ld->cfg, val, key_report, f) == -ENOMEM)
		f->ld->err = -ENOMEM;
	return true;
}

/* A key of [agent], and the warnings its value calls for. */
static void agent_key(struct src_file *f, const char *key, char *val)
{
	struct load *ld = f->ld;
	const struct rg_key_def *d = rg_key_find(rg_agent_keys, RG_AGENT_KEYS_N, key);
	size_t had = ld->cfg->n_interfaces, had_listen = ld->cfg->n_policy_listen;

	if (!table_key(f, rg_agent_keys, RG_AGENT_KEYS_N, ld->agent_seen, "agent", key, val))
		return;
	/* The table checks the names; one that does not exist here (in this network
	 * namespace) may be created later, so it is a warning. */
	for (size_t i = had; i < ld->cfg->n_interfaces; i++)
		if (!if_nametoindex(ld->cfg->interfaces[i]))
			cfg_warn(ld, f->path, f->rd.line, "interface '%s' does not exist",
				 ld->cfg->interfaces[i]);
	/* Reachable from the network: a policy listener decides who gets blocked (only
	 * policy_allow stands between it and the world), metrics tell what is counted. */
	for (size_t i = had_listen; i < ld->cfg->n_policy_listen; i++)
		if (!rg_listen_is_loopback(ld->cfg->policy_listen[i]))
			cfg_warn(ld, f->path, f->rd.line, "policy_listen %s is not a loopback "
				 "address: only policy_allow limits who may ask",
				 ld->cfg->policy_listen[i]);
	if (d == rg_key_find(rg_agent_keys, RG_AGENT_KEYS_N, "metrics_listen") &&
	    ld->cfg->metrics_listen && !rg_listen_is_loopback(ld->cfg->metrics_listen))
		cfg_warn(ld, f->path, f->rd.line, "metrics_listen %s is not a loopback address: "
			 "anyone who can reach it reads the metrics", ld->cfg->metrics_listen);
}

/* A key of [fleet]: each set once (sentinels may repeat and append). */
static void fleet_key(struct src_file *f, const char *key, char *val)
{
	table_key(f, rg_fleet_keys, RG_FLEET_KEYS_N, f->ld->fleet_seen, "fleet", key, val);
}

/* What [fleet] needs as a whole: where Redis is, a master name for sentinels, a relay id
 * (the host name unless set). */
static int fleet_check(struct load *ld, const char *path)
{
	struct rg_fleet_conf *fl = &ld->cfg->fleet;
	const char *file = ld->fleet_section.file ? ld->fleet_section.file : path;
	int line = ld->fleet_section.line;
	char host[256];

	if (!fl->enabled)
		return 0;
	if (!fl->redis)
		cfg_err(ld, file, line, "missing required key 'redis' in [fleet]");
	if (fl->n_sentinels && !fl->sentinel_master)
		cfg_err(ld, file, line, "sentinels need sentinel_master in [fleet]");
	if (fl->sentinel_master && !fl->n_sentinels)
		cfg_err(ld, file, line, "sentinel_master needs sentinels in [fleet]");
	if (fl->relay_id)
		return 0;
	if (gethostname(host, sizeof(host)) || !host[0]) {
		cfg_err(ld, file, line, "relay_id is not set and the host name is unknown");
		return 0;
	}
	host[sizeof(host) - 1] = '\0';
	host[strcspn(host, ".")] = '\0';	/* the short name: a key part, no dots needed */
	if (strlen(host) >= RG_FLEET_NAME_MAX)
		host[RG_FLEET_NAME_MAX - 1] = '\0';
	fl->relay_id = strdup(host);
	return fl->relay_id ? 0 : -ENOMEM;
}

/*
 * A [limits] key into l (seen: where each was set) or a [tenant] override (mask: which
 * were set); false if key is not a limit.
 */
static bool limit_key(struct src_file *f, const char *key, char *val, struct rg_limits *l,
		      struct loc *seen, unsigned *mask)
{
	const struct rg_key_def *d = rg_key_find(rg_limit_keys, RG_LIMIT_KEYS_N, key);
	size_t k;
	int err;

	if (!d)
		return false;
	k = (size_t)(d - rg_limit_keys);
	if (seen && dup_scalar(f, &seen[k], key))
		return true;
	if (mask && (*mask & (1u << k))) {
		ferr(f, "duplicate key '%s' in [tenant %s]", key,
		     f->ld->cfg->tenants[f->tenant].name);
		return true;
	}
	err = rg_key_set(d, l, val, key_report, f);
	if (err == -ENOMEM)
		f->ld->err = -ENOMEM;
	if (!err && mask)
		*mask |= 1u << k;
	return true;
}

static void add_domain(struct src_file *f, const char *file, int line, const char *tok,
		       size_t len)
{
	struct load *ld = f->ld;
	char p[RG_PRINTABLE_MAX + 4];
	int err = rg_domains_add(ld->cfg->domains, (uint32_t)f->tenant, tok, len);

	if (err == -ENOMEM) {
		ld->err = -ENOMEM;
	} else if (err) {
		cfg_err(ld, file, line, "bad domain '%s'", rg_printable(tok, len, p));
	} else {
		ld->cfg->tenants[f->tenant].n_domains++;
	}
}

static void domains_file(struct src_file *f, const char *val)
{
	struct load *ld = f->ld;
	char p[RG_PRINTABLE_MAX + 4], why[128];
	struct rg_ini rd;
	const char *interned;
	size_t len = 0;
	char *path, *buf = NULL;
	int err;

	if (!*val) {
		bad_value(f, "accepted_domains_file", val, "a path is required");
		return;
	}
	path = resolve(f->dir, val);
	if (!path) {
		ld->err = -ENOMEM;
		return;
	}
	err = rg_read_file(path, RG_DOMAINS_FILE_MAX, 0, &buf, &len, NULL);
	if (err) {
		ferr(f, "cannot read accepted_domains_file '%s': %s", pr(path, p),
		     read_error(err, why, sizeof(why), RG_DOMAINS_FILE_MAX));
		free(path);
		return;
	}
	interned = intern_path(ld, path);
	free(path);
	if (!interned) {
		ld->err = -ENOMEM;
		goto out;
	}
	rg_ini_init(&rd, buf, len);

	char *line;
	size_t n;

	while (!cancelled(ld) && (line = rg_ini_take_line(&rd, &n))) {
		char *hash = memchr(line, '#', n), *cur, *tok;
		size_t tlen;

		if (memchr(line, '\0', n)) {
			cfg_err(ld, interned, rd.line, "NUL byte in line");
			continue;
		}
		if (hash)
			*hash = '\0';
		cur = line;
		while ((tok = rg_ini_token(&cur, &tlen)))
			add_domain(f, interned, rd.line, tok, tlen);
	}
out:
	free(buf);
}

/* sasl_users, cert_subjects, cert_fingerprints: one index for all tenants, so that the
 * same login, subject or fingerprint in two tenants is refused naming both. */
static void auth_entries(struct src_file *f, enum rg_auth_key k, char *val)
{
	struct load *ld = f->ld;
	struct rg_config *cfg = ld->cfg;
	char p[RG_PRINTABLE_MAX + 4];
	char *cur = val, *tok;
	size_t len;

	while ((tok = rg_ini_token(&cur, &len))) {
		const char *why = NULL;
		uint32_t other = 0;
		int err = rg_tenant_auth_add(cfg->auth, k, tok, len, (uint32_t)f->tenant, &other,
					     &why);

		if (err == -EEXIST)
			ferr(f, "duplicate %s entry '%s' in tenant '%s': already in tenant '%s' "
			     "(%s:%d)", rg_auth_key_name(k), rg_printable(tok, len, p),
			     cfg->tenants[f->tenant].name, cfg->tenants[other].name,
			     cfg->tenants[other].file, cfg->tenants[other].line);
		else if (err == -EINVAL)
			ferr(f, "bad %s entry '%s': %s", rg_auth_key_name(k),
			     rg_printable(tok, len, p), why);
		else if (err < 0)
			ld->err = err;
		else
			cfg->tenants[f->tenant].n_auth[k] += (size_t)err;
	}
}

static void tenant_key(struct src_file *f, const char *key, char *val)
{
	struct load *ld = f->ld;
	struct rg_config *cfg = ld->cfg;
	struct rg_tenant_conf *t = &cfg->tenants[f->tenant];
	struct tenant_extra *tx = &ld->tx[f->tenant];
	char p[RG_PRINTABLE_MAX + 4], buf[RG_ADDR_STRLEN];
	char *cur = val, *tok;
	size_t len;

	if (!strcmp(key, "accepted_domains")) {
		while ((tok = rg_ini_token(&cur, &len)))
			add_domain(f, f->path, f->rd.line, tok, len);
		return;
	}
	if (!strcmp(key, "accepted_domains_file")) {
		domains_file(f, val);
		return;
	}
	if (!strcmp(key, "connectors")) {
		while ((tok = rg_ini_token(&cur, &len))) {
			char save = tok[len];
			struct rg_cidr c;
			uint32_t old;
			int err;

			tok[len] = '\0';
			if (rg_cidr_parse(tok, &c, false)) {
				if (!rg_cidr_parse(tok, &c, true))
					ferr(f, "bad CIDR '%s' in connectors: host bits set (%s?)",
					     pr(tok, p), rg_cidr_format(&c, buf, sizeof(buf)));
				else
					ferr(f, "bad CIDR '%s' in connectors", pr(tok, p));
				tok[len] = save;
				continue;
			}
			tok[len] = save;
			err = rg_lpm_insert(cfg->connectors, &c, (uint32_t)f->tenant, &old);
			if (err == -EEXIST) {
				if (old != f->tenant)
					ferr(f, "duplicate connector %s: already a connector of "
					     "tenant '%s' (%s:%d)",
					     rg_cidr_format(&c, buf, sizeof(buf)),
					     cfg->tenants[old].name, cfg->tenants[old].file,
					     cfg->tenants[old].line);
				continue;
			}
			if (err) {
				ld->err = err;
				return;
			}
			if (t->n_connectors == tx->conn_cap) {
				size_t ncap = tx->conn_cap ? tx->conn_cap * 2 : 4;
				struct rg_cidr *nc = realloc(t->connectors, ncap * sizeof(*nc));

				if (!nc) {
					ld->err = -ENOMEM;
					return;
				}
				t->connectors = nc;
				tx->conn_cap = ncap;
			}
			t->connectors[t->n_connectors++] = c;
		}
		return;
	}
	for (int k = 0; k < RG_AUTH__KEYS; k++) {
		if (!strcmp(key, rg_auth_key_name((enum rg_auth_key)k))) {
			auth_entries(f, (enum rg_auth_key)k, val);
			return;
		}
	}
	if (limit_key(f, key, val, &tx->ov, NULL, &tx->ov_mask))
		return;
	ferr(f, "unknown key '%s' in [tenant %s]", pr(key, p), t->name);
}

static int load_file(struct load *ld, const char *path, struct src_file *parent);

static bool has_glob_chars(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

static __thread struct src_file *glob_owner;

static int glob_error(const char *epath, int eerrno)
{
	char p[RG_PRINTABLE_MAX + 4];

	/* A missing directory is just no match; anything else hides files: report it. */
	if (eerrno != ENOENT && eerrno != ENOTDIR && glob_owner)
		ferr(glob_owner, "include: cannot read '%s': %s", pr(epath, p), strerror(eerrno));
	return 0;
}

static void include(struct src_file *f, const char *val)
{
	struct load *ld = f->ld;
	char p[RG_PRINTABLE_MAX + 4];
	char *pattern = NULL;
	glob_t g = { 0 };
	int rc;

	if (!*val) {
		bad_value(f, "include", val, "a file or glob is required");
		return;
	}
	if (val[0] == '/') {
		pattern = strdup(val);
	} else {
		/* Escape the includer's directory: only the operator's part is a pattern. */
		size_t dl = strlen(f->dir), k = 0;

		pattern = malloc(dl * 2 + strlen(val) + 2);
		if (pattern) {
			for (size_t i = 0; i < dl; i++) {
				if (strchr("*?[\\", f->dir[i]))
					pattern[k++] = '\\';
				pattern[k++] = f->dir[i];
			}
			pattern[k++] = '/';
			strcpy(pattern + k, val);
		}
	}
	if (!pattern) {
		ld->err = -ENOMEM;
		return;
	}
	if (!has_glob_chars(val)) {
		char *plain = resolve(f->dir, val);

		if (!plain) {
			ld->err = -ENOMEM;
		} else {
			load_file(ld, plain, f);
			free(plain);
		}
		free(pattern);
		return;
	}
	glob_owner = f;
	rc = glob(pattern, 0, glob_error, &g);
	glob_owner = NULL;
	if (rc == GLOB_NOSPACE) {
		ld->err = -ENOMEM;
	} else if (rc == GLOB_ABORTED) {
		ferr(f, "include '%s': cannot read directory", pr(val, p));
	} else if (rc == 0) {
		for (size_t i = 0; i < g.gl_pathc && !ld->err; i++)
			load_file(ld, g.gl_pathv[i], f);
	}
	globfree(&g);
	free(pattern);
}

static void key_line(struct src_file *f, const char *name, char *val)
{
	char p[RG_PRINTABLE_MAX + 4];

	if (!strcmp(name, "include")) {
		include(f, val);
		return;
	}
	switch (f->kind) {
	case SECT_NONE:
		ferr(f, "key '%s' outside any section", pr(name, p));
		break;
	case SECT_AGENT:
		agent_key(f, name, val);
		break;
	case SECT_LIMITS:
		if (!limit_key(f, name, val, &f->ld->cfg->defaults, f->ld->limits_seen, NULL))
			ferr(f, "unknown key '%s' in [limits]", pr(name, p));
		break;
	case SECT_FLEET:
		fleet_key(f, name, val);
		break;
	case SECT_TENANT:
		tenant_key(f, name, val);
		break;
	case SECT_IGNORE:
		break;
	}
}

/* Each line once: the reader cleans and splits it, the loader acts on it. */
static void parse_lines(struct src_file *f)
{
	struct rg_ini_item it;

	while (!cancelled(f->ld) && rg_ini_next(&f->rd, &it)) {
		switch (it.kind) {
		case RG_INI_ERROR:
			ferr(f, "%s", it.why);
			if (it.in_header)
				f->kind = SECT_IGNORE;
			break;
		case RG_INI_SECTION:
			open_section(f, it.section);
			break;
		case RG_INI_KEY:
			key_line(f, it.key, it.value);
			break;
		}
	}
}

/* A main file that cannot be opened has no line to name: "FILE: cannot open: reason". */
static void no_file(struct load *ld, const char *path, const char *why)
{
	char *msg;

	ld->n_errors++;
	if (asprintf(&msg, "%s: cannot open: %s", path, why) < 0)
		msg = NULL;
	add_msg(ld, msg);
}

static int load_file(struct load *ld, const char *path, struct src_file *parent)
{
	char p[RG_PRINTABLE_MAX + 4], why[128];
	struct src_file f = { .ld = ld, .parent = parent };
	struct stat st;
	size_t len = 0;
	char *buf = NULL;
	int err;

	if (parent && ld->depth > RG_CONFIG_INCLUDE_DEPTH) {
		ferr(parent, "include '%s': nested more than %d levels", pr(path, p),
		     RG_CONFIG_INCLUDE_DEPTH);
		return -ELOOP;
	}
	st.st_mode = 0;		/* stays 0 when the file could not even be opened */
	err = rg_read_file(path, RG_CONFIG_FILE_MAX, 0, &buf, &len, &st);
	if (err) {
		read_error(err, why, sizeof(why), RG_CONFIG_FILE_MAX);
		if (parent)
			ferr(parent, "cannot read included file '%s': %s", pr(path, p), why);
		else if (!st.st_mode)
			no_file(ld, path, why);
		else
			cfg_err(ld, path, 0, "cannot read: %s", why);
		return err;
	}
	for (struct src_file *a = parent; a; a = a->parent) {
		if (a->dev == st.st_dev && a->ino == st.st_ino) {
			ferr(parent, "include loop: '%s' is already being read", pr(path, p));
			free(buf);
			return -ELOOP;
		}
	}
	f.path = intern_path(ld, path);
	f.dir = dir_of(path);
	if (!f.path || !f.dir) {
		ld->err = -ENOMEM;
		goto out;
	}
	f.dev = st.st_dev;
	f.ino = st.st_ino;
	if (parent) {
		f.kind = parent->kind;
		f.tenant = parent->tenant;
	}
	rg_ini_init(&f.rd, buf, len);
	ld->depth++;
	parse_lines(&f);
	ld->depth--;
out:
	free(f.dir);
	free(buf);
	return ld->err;
}

/* The last message of a kind past RG_CONFIG_ERRORS_MAX: how many were not stored. */
static void too_many(struct load *ld, const char *path, bool warning)
{
	size_t n = warning ? ld->n_warnings : ld->n_errors;
	char *msg;

	if (n <= RG_CONFIG_ERRORS_MAX)
		return;
	if (asprintf(&msg, "%s:0: %s (%zu more not shown)", path,
		     warning ? "warning: too many warnings" : "too many errors",
		     n - RG_CONFIG_ERRORS_MAX) < 0)
		msg = NULL;
	add_to(ld, warning ? &ld->cfg->warnings : ld->errs, msg);
}

/* Tenants that load but cannot work as meant. */
static void tenant_warnings(struct load *ld)
{
	const struct rg_config *cfg = ld->cfg;

	for (size_t i = 0; i < cfg->n_tenants; i++) {
		const struct rg_tenant_conf *t = &cfg->tenants[i];

		if (!t->n_connectors && !t->n_auth[RG_AUTH_SASL_USERS] &&
		    !t->n_auth[RG_AUTH_CERT_SUBJECTS] && !t->n_auth[RG_AUTH_CERT_FINGERPRINTS])
			cfg_warn(ld, t->file, t->line, "tenant '%s' has no connectors, sasl_users, "
				 "cert_subjects or cert_fingerprints: none of its mail is "
				 "recognised", t->name);
		if (!t->n_domains)
			cfg_warn(ld, t->file, t->line, "tenant '%s' has no accepted domains: every "
				 "sender domain of it counts as unregistered", t->name);
	}
}

size_t rg_config_n_connectors(const struct rg_config *cfg)
{
	size_t n = 0;

	for (size_t i = 0; i < cfg->n_tenants; i++)
		n += cfg->tenants[i].n_connectors;
	return n;
}

/* The kernel's connector map is sized from connector_table_size at start and cannot grow:
 * more connectors would leave tenants silently untagged, so refuse them here. */
static void connector_limit(struct load *ld, const char *path)
{
	size_t n = rg_config_n_connectors(ld->cfg);

	if (n > ld->cfg->connector_table_size)
		cfg_err(ld, path, 0, "%zu connectors, more than connector_table_size (%u) holds "
			"in the kernel's connector map", n, ld->cfg->connector_table_size);
}

static int config_load(const char *path, struct rg_config **out, struct rg_config_errors *errs,
		       bool partial, const atomic_bool *cancel)
{
	struct rg_config_errors local = { 0 };
	struct load ld = { .errs = errs ? errs : &local, .cancel = cancel };
	struct rg_config *cfg;
	int err = 0, main_err;

	*out = NULL;
	if (!path)
		return -EINVAL;
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		return -ENOMEM;
	ld.cfg = cfg;
	cfg->path = strdup(path);
	if (!cfg->path || config_init(cfg)) {
		err = -ENOMEM;
		goto out;
	}

	main_err = load_file(&ld, path, NULL);
	if (ld.err) {
		err = ld.err;
		goto out;
	}
	if (cfg->n_files == 0) {
		/* The main file itself could not be read: its errno says why. */
		err = main_err ? main_err : -EINVAL;
		goto out;
	}

	err = apply_defaults(&ld);
	if (err)
		goto out;
	if (!cfg->n_interfaces)
		cfg_err(&ld, ld.agent_section.file ? ld.agent_section.file : path,
			ld.agent_section.file ? ld.agent_section.line : 0,
			"missing required key 'interfaces' in [agent]");

	/* [limits] may come after the tenants: effective limits only now. */
	for (size_t i = 0; i < cfg->n_tenants; i++) {
		struct rg_limits *l = &cfg->tenants[i].limits;
		const struct rg_limits *ov = &ld.tx[i].ov;
		unsigned m = ld.tx[i].ov_mask;

		*l = cfg->defaults;
		for (size_t k = 0; k < RG_LIMIT_KEYS_N; k++) {
			const struct rg_key_def *d = &rg_limit_keys[k];

			if (m & 1u << k)
				memcpy((char *)l + d->off, (const char *)ov + d->off, d->size);
		}
	}

	err = fleet_check(&ld, path);
	if (err)
		goto out;
	tenant_warnings(&ld);
	connector_limit(&ld, path);
	too_many(&ld, path, false);
	too_many(&ld, path, true);
	if (ld.err)
		err = ld.err;
	else if (ld.n_errors)
		err = -EINVAL;
out:
	free(ld.tx);
	/* Errors in what was read (not a main file that cannot be read, not out of memory):
	 * a partial load keeps every value that parsed. */
	if (partial && err == -EINVAL && cfg->n_files && !ld.err) {
		*out = cfg;
	} else if (err) {
		if (err == -ENOMEM && ld.errs->n == 0) {
			char *msg;

			if (asprintf(&msg, "%s: out of memory", path) >= 0)
				add_msg(&ld, msg);
		}
		rg_config_free(cfg);
	} else {
		*out = cfg;
	}
	rg_config_errors_free(&local);
	return err;
}

int rg_config_load(const char *path, struct rg_config **out, struct rg_config_errors *errs)
{
	return config_load(path, out, errs, false, NULL);
}

int rg_config_load_cancel(const char *path, struct rg_config **out,
			  struct rg_config_errors *errs, const atomic_bool *cancel)
{
	return config_load(path, out, errs, false, cancel);
}

int rg_config_load_partial(const char *path, struct rg_config **out,
			   struct rg_config_errors *errs)
{
	return config_load(path, out, errs, true, NULL);
}
