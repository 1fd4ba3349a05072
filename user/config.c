// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * config.c: loads relayguard.conf as DESIGN.md fixes it ([agent], [limits], [tenant NAME],
 * include = GLOB, accepted-domain lists and files, connector CIDRs) into an immutable
 * struct rg_config.
 *
 * Takes files an operator wrote, possibly by script and possibly huge (100k tenants, 1M
 * domains), so: every file is read whole under a size cap, each physical line is cleaned
 * here (BOM, CRLF, '#' and ';' comments, UTF-8 check, syntax) before inih splits it, and
 * tenants are found by hash. Reports every problem, not the first, as "FILE:LINE: reason"
 * with operator text passed through rg_printable(); any error refuses the whole file.
 *
 * inih (Debian's build) gives the handler no line number and a 200-byte line buffer, so
 * the reader below counts physical lines itself and hands inih a placeholder value for
 * longer lines, keeping the real value aside for the handler.
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

#define LONG_VALUE_MARK "\x01"

enum sect_kind { SECT_NONE, SECT_AGENT, SECT_LIMITS, SECT_TENANT, SECT_IGNORE };

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
	char *buf;
	size_t len, pos;
	int line;		/* the physical line last handed to inih */
	dev_t dev;
	ino_t ino;
	enum sect_kind kind;	/* current section; an include starts in its includer's */
	size_t tenant;
	const char *long_key, *long_value; /* a line too long for inih, kept aside */
};

enum limit_key {
	LK_UNREG_LIMIT, LK_UNREG_WINDOW, LK_BLOCK_DURATION, LK_FLOOD_LIMIT, LK_FLOOD_BLOCK,
	LK_CONN_RATE, LK__N
};

static const char *const limit_names[LK__N] = {
	[LK_UNREG_LIMIT] = "unregistered_limit",
	[LK_UNREG_WINDOW] = "unregistered_window",
	[LK_BLOCK_DURATION] = "block_duration",
	[LK_FLOOD_LIMIT] = "flood_limit",
	[LK_FLOOD_BLOCK] = "flood_block_time",
	[LK_CONN_RATE] = "connection_rate_limit",
};

/* Per-tenant state the loader needs and the configuration does not keep. */
struct tenant_extra {
	struct rg_limits ov;
	unsigned ov_mask;
	size_t conn_cap;
};

enum agent_key {
	AK_INTERFACES, AK_ATTACH_MODE, AK_SMTP_PORTS, AK_POLICY_LISTEN, AK_CONTROL_SOCKET,
	AK_METRICS_LISTEN, AK_STATE_DIR, AK_PIN_DIR, AK_AUDIT_LOG, AK_MODE, AK_FAIL_MODE,
	AK_HOST_PREFIX_V4, AK_HOST_PREFIX_V6, AK_HOST_TABLE, AK_FLOW_TABLE, AK_VERDICT_TABLE,
	AK_MAX_POLICY_CONN, AK_POLICY_IDLE, AK_POLICY_REQUEST, AK_LOG_LEVEL, AK_TENANT_MARK_MASK,
	AK__N
};

static const char *const agent_names[AK__N] = {
	[AK_INTERFACES] = "interfaces",
	[AK_ATTACH_MODE] = "attach_mode",
	[AK_SMTP_PORTS] = "smtp_ports",
	[AK_POLICY_LISTEN] = "policy_listen",
	[AK_CONTROL_SOCKET] = "control_socket",
	[AK_METRICS_LISTEN] = "metrics_listen",
	[AK_STATE_DIR] = "state_dir",
	[AK_PIN_DIR] = "pin_dir",
	[AK_AUDIT_LOG] = "audit_log",
	[AK_MODE] = "mode",
	[AK_FAIL_MODE] = "fail_mode",
	[AK_HOST_PREFIX_V4] = "host_prefix_v4",
	[AK_HOST_PREFIX_V6] = "host_prefix_v6",
	[AK_HOST_TABLE] = "host_table_size",
	[AK_FLOW_TABLE] = "flow_table_size",
	[AK_VERDICT_TABLE] = "verdict_table_size",
	[AK_MAX_POLICY_CONN] = "max_policy_connections",
	[AK_POLICY_IDLE] = "policy_idle_timeout",
	[AK_POLICY_REQUEST] = "policy_request_timeout",
	[AK_LOG_LEVEL] = "log_level",
	[AK_TENANT_MARK_MASK] = "tenant_mark_mask",
};

struct load {
	struct rg_config *cfg;
	struct rg_config_errors *errs;
	size_t n_errors;	/* all found, stored or not */
	int err;		/* first hard failure (-ENOMEM), beyond configuration errors */
	int depth;
	size_t files_cap, tenants_cap;
	struct tenant_extra *tx;
	struct loc agent_seen[AK__N];
	struct loc limits_seen[LK__N];
	struct loc agent_section;
};

/* ---- small helpers ---- */

struct rg_name_index {
	uint32_t *slots;	/* tenant index + 1; 0 empty */
	size_t cap;
};

static uint64_t name_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 0x100000001b3ULL;
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

static void add_msg(struct load *ld, char *msg)
{
	struct rg_config_errors *e = ld->errs;
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

__attribute__((format(printf, 4, 5)))
static void cfg_err(struct load *ld, const char *file, int line, const char *fmt, ...)
{
	char reason[512];
	char *msg = NULL;
	va_list ap;

	if (ld->n_errors++ >= RG_CONFIG_ERRORS_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	/* Always FILE:LINE, with line 0 for what belongs to no line (unreadable main file). */
	if (asprintf(&msg, "%s:%d: %s", file, line, reason) < 0)
		msg = NULL;
	add_msg(ld, msg);
}

#define ferr(f, ...) cfg_err((f)->ld, (f)->path, (f)->line, __VA_ARGS__)

static bool is_ws(char c)
{
	return c == ' ' || c == '\t';
}

/* Next whitespace-separated token of a list value; NULL at the end. */
static char *next_token(char **cursor, size_t *len)
{
	char *p = *cursor, *start;

	while (is_ws(*p))
		p++;
	if (!*p)
		return NULL;
	start = p;
	while (*p && !is_ws(*p))
		p++;
	*len = (size_t)(p - start);
	*cursor = p;
	return start;
}

static bool utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned c = s[i], need, min;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			need = 1, min = 0x80, cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			need = 2, min = 0x800, cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			need = 3, min = 0x10000, cp = c & 0x07;
		} else {
			return false;
		}
		if (n - i <= need)
			return false;
		for (unsigned k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += need + 1;
	}
	return true;
}

/* Decimal without sign or spaces. */
static int parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		unsigned d = (unsigned)(*s - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* ---- durations and rates ---- */

#define NS_PER_S 1000000000ULL

int rg_parse_duration(const char *s, uint64_t *ns)
{
	char num[32];
	const char *p = s;
	uint64_t v, mult;
	size_t n;
	int err;

	if (!s)
		return -EINVAL;
	while (*p >= '0' && *p <= '9')
		p++;
	n = (size_t)(p - s);
	if (n == 0)
		return -EINVAL;
	if (n >= sizeof(num))
		return -ERANGE;
	memcpy(num, s, n);
	num[n] = '\0';
	if (!*p)
		mult = 1;
	else if (!strcmp(p, "s"))
		mult = 1;
	else if (!strcmp(p, "m"))
		mult = 60;
	else if (!strcmp(p, "h"))
		mult = 3600;
	else if (!strcmp(p, "d"))
		mult = 86400;
	else
		return -EINVAL;
	err = parse_u64(num, &v);
	if (err)
		return err;
	if (v > UINT64_MAX / (mult * NS_PER_S))
		return -ERANGE;
	*ns = v * mult * NS_PER_S;
	return 0;
}

int rg_parse_rate(const char *s, struct rg_rate *r)
{
	char num[32];
	const char *slash;
	uint64_t count, period;
	size_t n;
	int err;

	if (!s)
		return -EINVAL;
	if (!strcmp(s, "0")) {
		r->count = 0;
		r->period_ns = 0;
		return 0;
	}
	slash = strchr(s, '/');
	if (!slash)
		return -EINVAL;
	n = (size_t)(slash - s);
	if (n == 0)
		return -EINVAL;
	if (n >= sizeof(num))
		return -ERANGE;
	memcpy(num, s, n);
	num[n] = '\0';
	err = parse_u64(num, &count);
	if (err)
		return err;
	slash++;
	if (!strcmp(slash, "s") || !strcmp(slash, "m") || !strcmp(slash, "h") ||
	    !strcmp(slash, "d")) {
		char one[3] = { '1', slash[0], '\0' };

		err = rg_parse_duration(one, &period);
	} else {
		err = rg_parse_duration(slash, &period);
	}
	if (err)
		return err;
	if (period == 0)
		return -EINVAL;
	r->count = count;
	r->period_ns = count ? period : 0;
	return 0;
}

char *rg_format_duration(uint64_t ns, char *buf, size_t len)
{
	static const struct { uint64_t ns; const char *unit; } units[] = {
		{ 86400 * NS_PER_S, "d" }, { 3600 * NS_PER_S, "h" }, { 60 * NS_PER_S, "m" },
		{ NS_PER_S, "s" }, { 1000000, "ms" }, { 1000, "us" }, { 1, "ns" },
	};

	if (!buf || !len)
		return buf;
	if (ns == 0) {
		snprintf(buf, len, "0");
		return buf;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (ns % units[i].ns == 0) {
			int n = snprintf(buf, len, "%llu%s",
					 (unsigned long long)(ns / units[i].ns), units[i].unit);

			if (n < 0 || (size_t)n >= len)
				buf[0] = '\0';
			return buf;
		}
	}
	return buf;
}

/* ---- the configuration object ---- */

static void limits_default(struct rg_limits *l)
{
	l->unregistered_limit = 100;
	l->unregistered_window_ns = 3600 * NS_PER_S;
	l->block_duration_ns = 0;
	l->flood_limit = 60;
	l->flood_block_time_ns = 15 * 60 * NS_PER_S;
	l->connection_rate_limit.count = 600;
	l->connection_rate_limit.period_ns = 60 * NS_PER_S;
}

static int config_defaults(struct rg_config *cfg)
{
	cfg->attach_mode = RG_ATTACH_AUTO;
	cfg->smtp_ports[0] = 25;
	cfg->smtp_ports[1] = 587;
	cfg->smtp_ports[2] = 465;
	cfg->n_smtp_ports = 3;
	cfg->policy_listen[0] = strdup("unix:/var/spool/postfix/private/relayguard");
	cfg->n_policy_listen = 1;
	cfg->control_socket = strdup("/run/relayguard/control.sock");
	cfg->metrics_listen = strdup("inet:127.0.0.1:9433");
	cfg->state_dir = strdup("/var/lib/relayguard");
	cfg->pin_dir = strdup("/sys/fs/bpf/relayguard");
	cfg->mode = RG_MODE_ENFORCE;
	cfg->fail_mode = RG_FAIL_OPEN;
	cfg->host_prefix_v4 = 32;
	cfg->host_prefix_v6 = 64;
	cfg->host_table_size = 1048576;
	cfg->flow_table_size = 262144;
	cfg->verdict_table_size = 65536;
	cfg->max_policy_connections = 1024;
	cfg->policy_idle_timeout_ns = 5 * 60 * NS_PER_S;
	cfg->policy_request_timeout_ns = 10 * NS_PER_S;
	cfg->log_level = RG_LOG_INFO;
	limits_default(&cfg->defaults);
	cfg->domains = rg_domains_new(4096);
	cfg->connectors = rg_lpm_new();
	cfg->tenant_index = calloc(1, sizeof(*cfg->tenant_index));
	if (!cfg->policy_listen[0] || !cfg->control_socket || !cfg->metrics_listen ||
	    !cfg->state_dir || !cfg->pin_dir || !cfg->domains || !cfg->connectors ||
	    !cfg->tenant_index)
		return -ENOMEM;
	return 0;
}

void rg_config_free(struct rg_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->path);
	for (size_t i = 0; i < cfg->n_interfaces; i++)
		free(cfg->interfaces[i]);
	for (size_t i = 0; i < cfg->n_policy_listen; i++)
		free(cfg->policy_listen[i]);
	free(cfg->control_socket);
	free(cfg->metrics_listen);
	free(cfg->state_dir);
	free(cfg->pin_dir);
	free(cfg->audit_log);
	for (size_t i = 0; i < cfg->n_tenants; i++)
		free(cfg->tenants[i].connectors);
	free(cfg->tenants);
	rg_domains_free(cfg->domains);
	rg_lpm_free(cfg->connectors);
	for (size_t i = 0; i < cfg->n_files; i++)
		free(cfg->files[i]);
	free(cfg->files);
	if (cfg->tenant_index)
		free(cfg->tenant_index->slots);
	free(cfg->tenant_index);
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

/*
 * Read a whole file under a size cap into a NUL-terminated buffer. 0, or -errno with
 * -EFBIG for a file over max.
 */
static int read_file(const char *path, size_t max, char **out, size_t *out_len, struct stat *st)
{
	char *buf = NULL;
	size_t len = 0, cap;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, st)) {
		err = -errno;
		goto out;
	}
	if (S_ISDIR(st->st_mode)) {
		err = -EISDIR;
		goto out;
	}
	if (!S_ISREG(st->st_mode)) {
		err = -EINVAL;
		goto out;
	}
	if ((uint64_t)st->st_size > max) {
		err = -EFBIG;
		goto out;
	}
	cap = (size_t)st->st_size + 1;
	buf = malloc(cap + 1);
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	/* The size can change under us: read to EOF, never past max. */
	for (;;) {
		ssize_t n;

		if (len == cap) {
			size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
			char *nb;

			if (ncap <= cap) {
				err = -EFBIG;
				goto out;
			}
			nb = realloc(buf, ncap + 1);
			if (!nb) {
				err = -ENOMEM;
				goto out;
			}
			buf = nb;
			cap = ncap;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > max) {
		err = -EFBIG;
		goto out;
	}
	buf[len] = '\0';
	*out = buf;
	*out_len = len;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return err;
}

static const char *read_error(int err, char *buf, size_t len, size_t max)
{
	if (err == -EFBIG)
		snprintf(buf, len, "file too large (over %zu MiB)", max >> 20);
	else
		snprintf(buf, len, "%s", strerror(-err));
	return buf;
}

/*
 * Take the next physical line of f (NUL-terminated in place, CR and the BOM removed).
 * NULL at the end.
 */
static char *take_line(struct src_file *f, size_t *len)
{
	char *line, *nl;
	size_t n;

	if (f->pos >= f->len)
		return NULL;
	line = f->buf + f->pos;
	nl = memchr(line, '\n', f->len - f->pos);
	n = nl ? (size_t)(nl - line) : f->len - f->pos;
	f->pos += n + (nl ? 1 : 0);
	line[n] = '\0';
	f->line++;
	if (f->line == 1 && n >= 3 && !memcmp(line, "\xef\xbb\xbf", 3)) {
		line += 3;
		n -= 3;
	}
	if (n && line[n - 1] == '\r')
		line[--n] = '\0';
	*len = n;
	return line;
}

/* Cut a comment: '#' or ';' at the start, or preceded by a space or tab. */
static size_t strip_comment(char *line, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if ((line[i] == '#' || line[i] == ';') && (i == 0 || is_ws(line[i - 1]))) {
			line[i] = '\0';
			return i;
		}
	}
	return n;
}

static char *trim(char *s, size_t *n)
{
	size_t len = *n;

	while (len && is_ws(*s))
		s++, len--;
	while (len && is_ws(s[len - 1]))
		len--;
	s[len] = '\0';
	*n = len;
	return s;
}

static bool valid_key(const char *s, size_t n)
{
	if (!n)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return false;
	}
	return true;
}

static bool valid_tenant_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= RG_TENANT_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

static void open_tenant(struct src_file *f, const char *name)
{
	struct load *ld = f->ld;
	struct rg_config *cfg = ld->cfg;
	char p[RG_PRINTABLE_MAX + 4];
	long prev;

	f->kind = SECT_IGNORE;
	if (!valid_tenant_name(name)) {
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
	t->line = f->line;
	cfg->n_tenants++;
	if (index_add(cfg, (uint32_t)(cfg->n_tenants - 1)))
		goto oom;
	f->kind = SECT_TENANT;
	f->tenant = cfg->n_tenants - 1;
	return;
oom:
	ld->err = -ENOMEM;
}

/* A "[...]" line: s is the text between the brackets. */
static void open_section(struct src_file *f, char *s)
{
	char p[RG_PRINTABLE_MAX + 4];
	size_t n = strlen(s);
	char *word, *rest, *cur;
	size_t wlen, rlen;

	s = trim(s, &n);
	cur = s;
	word = next_token(&cur, &wlen);
	if (!word) {
		ferr(f, "empty section name");
		f->kind = SECT_IGNORE;
		return;
	}
	rest = next_token(&cur, &rlen);
	if (rest && next_token(&cur, &rlen)) {
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
			f->ld->agent_section.line = f->line;
		}
		return;
	}
	if (!rest && wlen == 6 && !memcmp(word, "limits", 6)) {
		f->kind = SECT_LIMITS;
		return;
	}
	ferr(f, "unknown section [%s]", pr(s, p));
	f->kind = SECT_IGNORE;
}

/*
 * inih's reader: hands over one cleaned line at a time. Comments, blank lines and lines
 * with errors go over as blank lines so inih never sees what it would misread; sections
 * are handled here (inih cannot report an empty or duplicate one).
 */
static char *reader(char *str, int num, void *stream)
{
	struct src_file *f = stream;
	char p[RG_PRINTABLE_MAX + 4];
	size_t n;
	char *line;

	if (num < 8 || f->ld->err)
		return NULL;
	f->long_key = f->long_value = NULL;
	line = take_line(f, &n);
	if (!line)
		return NULL;
	str[0] = '\n';
	str[1] = '\0';
	if (memchr(line, '\0', n)) {
		ferr(f, "NUL byte in line");
		return str;
	}
	n = strip_comment(line, n);
	line = trim(line, &n);
	if (!n)
		return str;
	if (!utf8_valid((const unsigned char *)line, n)) {
		ferr(f, "invalid UTF-8");
		if (line[0] == '[')
			f->kind = SECT_IGNORE;
		return str;
	}
	if (line[0] == '[') {
		if (line[n - 1] != ']') {
			ferr(f, "bad section header '%s': expected [NAME]", pr(line, p));
			f->kind = SECT_IGNORE;
			return str;
		}
		line[n - 1] = '\0';
		open_section(f, line + 1);
		snprintf(str, (size_t)num, "[s]\n");
		return str;
	}

	char *eq = strchr(line, '=');
	size_t klen, vlen;
	char *key, *val;

	if (!eq) {
		ferr(f, "expected 'key = value' or '[section]', got '%s'", pr(line, p));
		return str;
	}
	klen = (size_t)(eq - line);
	key = trim(line, &klen);
	vlen = n - (size_t)(eq + 1 - line);
	val = trim(eq + 1, &vlen);
	if (!valid_key(key, klen)) {
		ferr(f, "bad key '%s'", pr(key, p));
		return str;
	}
	if (klen + vlen + 3 > (size_t)num) {
		/* inih would cut it: send a placeholder, the handler takes the kept value. */
		if (klen + sizeof(LONG_VALUE_MARK) + 3 > (size_t)num) {
			ferr(f, "key too long");
			return str;
		}
		f->long_key = key;
		f->long_value = val;
		snprintf(str, (size_t)num, "%s=%s\n", key, LONG_VALUE_MARK);
		return str;
	}
	snprintf(str, (size_t)num, "%s=%s\n", key, val);
	return str;
}

/* ---- values ---- */

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
	seen->line = f->line;
	return false;
}

static bool get_u64(struct src_file *f, const char *key, const char *val, uint64_t min,
		    uint64_t max, uint64_t *out)
{
	char why[96];
	uint64_t v = 0;
	int err = parse_u64(val, &v);

	if (err == -EINVAL) {
		bad_value(f, key, val, "not a number");
		return false;
	}
	if (err || v < min || v > max) {
		snprintf(why, sizeof(why), "out of range %llu..%llu", (unsigned long long)min,
			 (unsigned long long)max);
		bad_value(f, key, val, why);
		return false;
	}
	*out = v;
	return true;
}

static bool get_duration(struct src_file *f, const char *key, const char *val, bool zero_ok,
			 uint64_t *out)
{
	uint64_t ns;
	int err = rg_parse_duration(val, &ns);

	if (err == -ERANGE) {
		bad_value(f, key, val, "duration too large");
		return false;
	}
	if (err) {
		bad_value(f, key, val, "not a duration (e.g. 30s, 15m, 1h, 1d)");
		return false;
	}
	if (!ns && !zero_ok) {
		bad_value(f, key, val, "must be more than 0");
		return false;
	}
	*out = ns;
	return true;
}

struct enum_name {
	const char *name;
	int value;
};

static bool get_enum(struct src_file *f, const char *key, const char *val,
		     const struct enum_name *names, const char *choices, int *out)
{
	char why[128];

	for (; names->name; names++) {
		if (!strcmp(val, names->name)) {
			*out = names->value;
			return true;
		}
	}
	snprintf(why, sizeof(why), "expected %s", choices);
	bad_value(f, key, val, why);
	return false;
}

static bool get_abs_path(struct src_file *f, const char *key, const char *val, char **dst)
{
	char *s;

	if (val[0] != '/') {
		bad_value(f, key, val, "an absolute path is required");
		return false;
	}
	if (strlen(val) >= PATH_MAX) {
		bad_value(f, key, val, "path too long");
		return false;
	}
	s = strdup(val);
	if (!s) {
		f->ld->err = -ENOMEM;
		return false;
	}
	free(*dst);
	*dst = s;
	return true;
}

/* "inet:HOST:PORT" (HOST a name, an IPv4 address, [IPv6] or bare IPv6) or "unix:/PATH". */
static const char *check_listen(const char *s, bool unix_ok)
{
	if (!strncmp(s, "unix:", 5)) {
		if (!unix_ok)
			return "only inet:HOST:PORT is possible here";
		if (s[5] != '/')
			return "unix: needs an absolute path";
		if (strlen(s + 5) >= 108)
			return "unix socket path too long";
		return NULL;
	}
	if (strncmp(s, "inet:", 5))
		return unix_ok ? "expected unix:PATH or inet:HOST:PORT" : "expected inet:HOST:PORT";

	const char *host = s + 5, *colon = strrchr(host, ':');
	char hbuf[256];
	uint64_t port;
	size_t hlen;

	if (!colon || colon == host)
		return "expected inet:HOST:PORT";
	if (parse_u64(colon + 1, &port) || port < 1 || port > 65535)
		return "bad port (1..65535)";
	hlen = (size_t)(colon - host);
	if (hlen >= sizeof(hbuf))
		return "host name too long";
	memcpy(hbuf, host, hlen);
	hbuf[hlen] = '\0';
	if (hbuf[0] == '[') {
		uint8_t a[16];
		bool v4;

		if (hlen < 3 || hbuf[hlen - 1] != ']')
			return "bad [IPv6] address";
		hbuf[hlen - 1] = '\0';
		if (rg_addr_parse(hbuf + 1, a, &v4) || v4)
			return "bad [IPv6] address";
		return NULL;
	}
	if (strchr(hbuf, ':')) {
		uint8_t a[16];

		if (rg_addr_parse(hbuf, a, NULL))
			return "bad IPv6 address";
		return NULL;
	}
	for (size_t i = 0; i < hlen; i++) {
		char c = hbuf[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-'))
			return "bad host";
	}
	return NULL;
}

static bool valid_ifname(const char *s, size_t n)
{
	if (n == 0 || n >= 16 || (n == 1 && s[0] == '.') || (n == 2 && !memcmp(s, "..", 2)))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= ' ' || c >= 0x7f || c == '/' || c == ':')
			return false;
	}
	return true;
}

static void agent_list(struct src_file *f, enum agent_key k, const char *key, char *val)
{
	struct load *ld = f->ld;
	struct rg_config *cfg = ld->cfg;
	char p[RG_PRINTABLE_MAX + 4];
	bool first = !ld->agent_seen[k].file;
	char *cur = val, *tok;
	size_t len;

	if (first) {
		ld->agent_seen[k].file = f->path;
		ld->agent_seen[k].line = f->line;
		/* The first setting replaces the default; repeats append. */
		if (k == AK_SMTP_PORTS)
			cfg->n_smtp_ports = 0;
		if (k == AK_POLICY_LISTEN) {
			for (size_t i = 0; i < cfg->n_policy_listen; i++)
				free(cfg->policy_listen[i]);
			cfg->n_policy_listen = 0;
		}
	}
	if (!*val) {
		bad_value(f, key, val, "one or more values required");
		return;
	}
	while ((tok = next_token(&cur, &len))) {
		char save = tok[len];

		tok[len] = '\0';
		if (k == AK_INTERFACES) {
			bool dup = false;

			for (size_t i = 0; i < cfg->n_interfaces; i++)
				dup |= !strcmp(cfg->interfaces[i], tok);
			if (!valid_ifname(tok, len)) {
				bad_value(f, key, tok, "not an interface name");
			} else if (dup) {
				bad_value(f, key, tok, "listed twice");
			} else if (cfg->n_interfaces >= RG_MAX_IFACES) {
				ferr(f, "too many interfaces (at most %d)", RG_MAX_IFACES);
			} else {
				char *s = strdup(tok);

				if (!s)
					ld->err = -ENOMEM;
				else
					cfg->interfaces[cfg->n_interfaces++] = s;
			}
		} else if (k == AK_SMTP_PORTS) {
			uint64_t port;
			bool dup = false;

			if (parse_u64(tok, &port) || port < 1 || port > 65535) {
				ferr(f, "bad port '%s' in smtp_ports: 1..65535", pr(tok, p));
			} else {
				for (size_t i = 0; i < cfg->n_smtp_ports; i++)
					dup |= cfg->smtp_ports[i] == port;
				if (dup)
					ferr(f, "bad port '%s' in smtp_ports: listed twice", tok);
				else if (cfg->n_smtp_ports >= sizeof(cfg->smtp_ports) /
								sizeof(cfg->smtp_ports[0]))
					ferr(f, "too many smtp_ports (at most %zu)",
					     sizeof(cfg->smtp_ports) / sizeof(cfg->smtp_ports[0]));
				else
					cfg->smtp_ports[cfg->n_smtp_ports++] = (uint16_t)port;
			}
		} else { /* AK_POLICY_LISTEN */
			const char *why = check_listen(tok, true);

			if (why) {
				bad_value(f, key, tok, why);
			} else if (cfg->n_policy_listen >= RG_MAX_LISTEN) {
				ferr(f, "too many policy_listen addresses (at most %d)", RG_MAX_LISTEN);
			} else {
				char *s = strdup(tok);

				if (!s)
					ld->err = -ENOMEM;
				else
					cfg->policy_listen[cfg->n_policy_listen++] = s;
			}
		}
		tok[len] = save;
	}
}

static const struct enum_name attach_names[] = {
	{ "auto", RG_ATTACH_AUTO }, { "native", RG_ATTACH_NATIVE },
	{ "generic", RG_ATTACH_GENERIC }, { "tc", RG_ATTACH_TC }, { NULL, 0 } };
static const struct enum_name mode_names[] = {
	{ "enforce", RG_MODE_ENFORCE }, { "monitor", RG_MODE_MONITOR }, { NULL, 0 } };
static const struct enum_name fail_names[] = {
	{ "open", RG_FAIL_OPEN }, { "closed", RG_FAIL_CLOSED }, { NULL, 0 } };
static const struct enum_name level_names[] = {
	{ "err", RG_LOG_ERR }, { "warn", RG_LOG_WARN }, { "info", RG_LOG_INFO },
	{ "debug", RG_LOG_DEBUG }, { NULL, 0 } };

static void agent_key(struct src_file *f, const char *key, char *val)
{
	struct load *ld = f->ld;
	struct rg_config *cfg = ld->cfg;
	char p[RG_PRINTABLE_MAX + 4];
	uint64_t v;
	int e;
	int k;

	for (k = 0; k < AK__N; k++)
		if (!strcmp(key, agent_names[k]))
			break;
	if (k == AK__N) {
		ferr(f, "unknown key '%s' in [agent]", pr(key, p));
		return;
	}
	if (k == AK_INTERFACES || k == AK_SMTP_PORTS || k == AK_POLICY_LISTEN) {
		agent_list(f, (enum agent_key)k, key, val);
		return;
	}
	if (dup_scalar(f, &ld->agent_seen[k], key))
		return;

	switch ((enum agent_key)k) {
	case AK_ATTACH_MODE:
		if (get_enum(f, key, val, attach_names, "auto, native, generic or tc", &e))
			cfg->attach_mode = (enum rg_attach_mode)e;
		break;
	case AK_MODE:
		if (get_enum(f, key, val, mode_names, "enforce or monitor", &e))
			cfg->mode = (enum rg_mode)e;
		break;
	case AK_FAIL_MODE:
		if (get_enum(f, key, val, fail_names, "open or closed", &e))
			cfg->fail_mode = (enum rg_fail_mode)e;
		break;
	case AK_LOG_LEVEL:
		if (get_enum(f, key, val, level_names, "err, warn, info or debug", &e))
			cfg->log_level = (enum rg_log_level)e;
		break;
	case AK_CONTROL_SOCKET:
		if (get_abs_path(f, key, val, &cfg->control_socket) &&
		    strlen(val) >= 108)
			bad_value(f, key, val, "unix socket path too long");
		break;
	case AK_STATE_DIR:
		get_abs_path(f, key, val, &cfg->state_dir);
		break;
	case AK_PIN_DIR:
		get_abs_path(f, key, val, &cfg->pin_dir);
		break;
	case AK_AUDIT_LOG:
		get_abs_path(f, key, val, &cfg->audit_log);
		break;
	case AK_METRICS_LISTEN: {
		const char *why = *val ? check_listen(val, false) : NULL;

		if (why) {
			bad_value(f, key, val, why);
			break;
		}
		free(cfg->metrics_listen);
		cfg->metrics_listen = NULL;
		if (*val && !(cfg->metrics_listen = strdup(val)))
			ld->err = -ENOMEM;
		break;
	}
	case AK_HOST_PREFIX_V4:
		if (parse_u64(val, &v) || v < 1 || v > 32)
			ferr(f, "bad prefix '%s' for host_prefix_v4: 1..32", pr(val, p));
		else
			cfg->host_prefix_v4 = (unsigned)v;
		break;
	case AK_HOST_PREFIX_V6:
		if (parse_u64(val, &v) || v < 1 || v > 128)
			ferr(f, "bad prefix '%s' for host_prefix_v6: 1..128", pr(val, p));
		else
			cfg->host_prefix_v6 = (unsigned)v;
		break;
	case AK_HOST_TABLE:
		if (get_u64(f, key, val, 1, 1u << 28, &v))
			cfg->host_table_size = (uint32_t)v;
		break;
	case AK_FLOW_TABLE:
		if (get_u64(f, key, val, 1, 1u << 28, &v))
			cfg->flow_table_size = (uint32_t)v;
		break;
	case AK_VERDICT_TABLE:
		if (get_u64(f, key, val, 1, 1u << 24, &v))
			cfg->verdict_table_size = (uint32_t)v;
		break;
	case AK_MAX_POLICY_CONN:
		if (get_u64(f, key, val, 1, 65536, &v))
			cfg->max_policy_connections = (uint32_t)v;
		break;
	case AK_POLICY_IDLE:
		get_duration(f, key, val, false, &cfg->policy_idle_timeout_ns);
		break;
	case AK_POLICY_REQUEST:
		get_duration(f, key, val, false, &cfg->policy_request_timeout_ns);
		break;
	case AK_TENANT_MARK_MASK: {
		/* A mask reads best in hex: decimal or 0x..., 32 bits. */
		unsigned long long m;
		char *end;

		errno = 0;
		m = strtoull(val, &end, 0);
		if (*val < '0' || *val > '9' || *end || errno || m > UINT32_MAX)
			bad_value(f, key, val, "not a 32-bit mask (decimal or 0x hex)");
		else
			cfg->tenant_mark_mask = (uint32_t)m;
		break;
	}
	default:
		break;
	}
}

/* A [limits] or [tenant] limit key into l; false if key is not one. */
static bool limit_key(struct src_file *f, const char *key, const char *val, struct rg_limits *l,
		      struct loc *seen, unsigned *mask)
{
	char p[RG_PRINTABLE_MAX + 4];
	int k;

	for (k = 0; k < LK__N; k++)
		if (!strcmp(key, limit_names[k]))
			break;
	if (k == LK__N)
		return false;
	if (seen && dup_scalar(f, &seen[k], key))
		return true;
	if (mask && (*mask & (1u << k))) {
		ferr(f, "duplicate key '%s' in [tenant %s]", key,
		     f->ld->cfg->tenants[f->tenant].name);
		return true;
	}

	bool ok = false;

	switch ((enum limit_key)k) {
	case LK_UNREG_LIMIT:
		ok = get_u64(f, key, val, 0, 1000000000, &l->unregistered_limit);
		break;
	case LK_FLOOD_LIMIT:
		ok = get_u64(f, key, val, 0, 1000000000, &l->flood_limit);
		break;
	case LK_UNREG_WINDOW:
		ok = get_duration(f, key, val, false, &l->unregistered_window_ns);
		break;
	case LK_BLOCK_DURATION:
		ok = get_duration(f, key, val, true, &l->block_duration_ns);
		break;
	case LK_FLOOD_BLOCK:
		ok = get_duration(f, key, val, false, &l->flood_block_time_ns);
		break;
	case LK_CONN_RATE: {
		int err = rg_parse_rate(val, &l->connection_rate_limit);

		ok = !err;
		if (err == -ERANGE)
			bad_value(f, key, val, "rate too large");
		else if (err)
			ferr(f, "bad value for '%s': '%s': not a rate N/UNIT (e.g. 600/1m, 10/s; "
			     "0: off)", key, pr(val, p));
		break;
	}
	default:
		break;
	}
	if (ok && mask)
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
	struct src_file df = { .ld = ld, .tenant = f->tenant };
	const char *interned;
	struct stat st;
	char *path;
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
	err = read_file(path, RG_DOMAINS_FILE_MAX, &df.buf, &df.len, &st);
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
	df.path = interned;

	char *line;
	size_t n;

	while (!ld->err && (line = take_line(&df, &n))) {
		char *hash = memchr(line, '#', n), *cur, *tok;
		size_t len;

		if (memchr(line, '\0', n)) {
			cfg_err(ld, df.path, df.line, "NUL byte in line");
			continue;
		}
		if (hash)
			*hash = '\0';
		cur = line;
		while ((tok = next_token(&cur, &len)))
			add_domain(f, df.path, df.line, tok, len);
	}
out:
	free(df.buf);
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
		while ((tok = next_token(&cur, &len)))
			add_domain(f, f->path, f->line, tok, len);
		return;
	}
	if (!strcmp(key, "accepted_domains_file")) {
		domains_file(f, val);
		return;
	}
	if (!strcmp(key, "connectors")) {
		while ((tok = next_token(&cur, &len))) {
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

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct src_file *f = user;
	char p[RG_PRINTABLE_MAX + 4];
	char *val;

	(void)section;
	if (f->ld->err)
		return 1;
	if (f->long_value && !strcmp(value, LONG_VALUE_MARK) && !strcmp(name, f->long_key))
		value = f->long_value;
	/* Values are split in place; work on a copy so inih's buffer stays its own. */
	val = strdup(value);
	if (!val) {
		f->ld->err = -ENOMEM;
		return 1;
	}
	if (!strcmp(name, "include")) {
		include(f, val);
		goto out;
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
	case SECT_TENANT:
		tenant_key(f, name, val);
		break;
	case SECT_IGNORE:
		break;
	}
out:
	free(val);
	return 1;	/* errors are collected here, never through inih */
}

static int load_file(struct load *ld, const char *path, struct src_file *parent)
{
	char p[RG_PRINTABLE_MAX + 4], why[128];
	struct src_file f = { .ld = ld, .parent = parent };
	struct stat st;
	int err, rc;

	if (parent && ld->depth > RG_CONFIG_INCLUDE_DEPTH) {
		ferr(parent, "include '%s': nested more than %d levels", pr(path, p),
		     RG_CONFIG_INCLUDE_DEPTH);
		return -ELOOP;
	}
	err = read_file(path, RG_CONFIG_FILE_MAX, &f.buf, &f.len, &st);
	if (err) {
		read_error(err, why, sizeof(why), RG_CONFIG_FILE_MAX);
		if (parent)
			ferr(parent, "cannot read included file '%s': %s", pr(path, p), why);
		else
			cfg_err(ld, path, 0, "cannot read: %s", why);
		return err;
	}
	for (struct src_file *a = parent; a; a = a->parent) {
		if (a->dev == st.st_dev && a->ino == st.st_ino) {
			ferr(parent, "include loop: '%s' is already being read", pr(path, p));
			free(f.buf);
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
	ld->depth++;
	rc = ini_parse_stream(reader, &f, handler, &f);
	ld->depth--;
	if (rc > 0 && !ld->err)
		cfg_err(ld, f.path, f.line, "syntax error");
out:
	free(f.dir);
	free(f.buf);
	return ld->err;
}

int rg_config_load(const char *path, struct rg_config **out, struct rg_config_errors *errs)
{
	struct rg_config_errors local = { 0 };
	struct load ld = { .errs = errs ? errs : &local };
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
	if (!cfg->path || config_defaults(cfg)) {
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

	if (!cfg->n_interfaces)
		cfg_err(&ld, ld.agent_section.file ? ld.agent_section.file : path,
			ld.agent_section.file ? ld.agent_section.line : 0,
			"missing required key 'interfaces' in [agent]");

	if (!cfg->audit_log && asprintf(&cfg->audit_log, "%s/audit.log", cfg->state_dir) < 0) {
		cfg->audit_log = NULL;
		err = -ENOMEM;
		goto out;
	}

	/* [limits] may come after the tenants: effective limits only now. */
	for (size_t i = 0; i < cfg->n_tenants; i++) {
		struct rg_limits *l = &cfg->tenants[i].limits;
		const struct rg_limits *ov = &ld.tx[i].ov;
		unsigned m = ld.tx[i].ov_mask;

		*l = cfg->defaults;
		if (m & 1u << LK_UNREG_LIMIT)
			l->unregistered_limit = ov->unregistered_limit;
		if (m & 1u << LK_UNREG_WINDOW)
			l->unregistered_window_ns = ov->unregistered_window_ns;
		if (m & 1u << LK_BLOCK_DURATION)
			l->block_duration_ns = ov->block_duration_ns;
		if (m & 1u << LK_FLOOD_LIMIT)
			l->flood_limit = ov->flood_limit;
		if (m & 1u << LK_FLOOD_BLOCK)
			l->flood_block_time_ns = ov->flood_block_time_ns;
		if (m & 1u << LK_CONN_RATE)
			l->connection_rate_limit = ov->connection_rate_limit;
	}

	if (ld.n_errors > RG_CONFIG_ERRORS_MAX) {
		char *msg;

		if (asprintf(&msg, "%s:0: too many errors (%zu more not shown)", path,
			     ld.n_errors - RG_CONFIG_ERRORS_MAX) < 0)
			msg = NULL;
		add_msg(&ld, msg);
	}
	if (ld.err)
		err = ld.err;
	else if (ld.n_errors)
		err = -EINVAL;
out:
	free(ld.tx);
	if (err) {
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
