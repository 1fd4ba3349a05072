// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * config_keys.c: the [agent] and [limits] key tables and the value parsers behind them
 * (config_keys.h), plus the public value parsers of config.h (durations, rates) and the
 * comparison that tells which changed keys only a restart applies. Takes one value at a
 * time; reports each problem through the caller's callback, operator text passed
 * through rg_printable(), so the loader can prefix FILE:LINE.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "config_ini.h"
#include "config_keys.h"

#define NS_PER_S 1000000000ULL
#define SUN_PATH_MAX 108	/* sizeof(sockaddr_un.sun_path) */

#define CFG(f) .off = offsetof(struct rg_config, f), \
	       .size = sizeof(((struct rg_config *)0)->f)
#define COUNT(n) .off_n = offsetof(struct rg_config, n)
#define LIM(f) .off = offsetof(struct rg_limits, f), \
	       .size = sizeof(((struct rg_limits *)0)->f)
#define ENUM(tab) .type = RG_KT_ENUM, .names = tab

/*
 * reload: what the running agent takes from a new configuration. Interfaces, ports,
 * listeners, paths, map sizes and the policy server's limits are set up once at start,
 * and the host prefixes are programmed into the kernel then; a reload keeps those.
 */
const struct rg_key_def rg_agent_keys[] = {
	{ "interfaces", RG_KT_IFACES, CFG(interfaces), COUNT(n_interfaces) },
	{ "attach_mode", ENUM(rg_attach_mode_names), CFG(attach_mode),
	  .def = "auto" },
	{ "smtp_ports", RG_KT_PORTS, CFG(smtp_ports), COUNT(n_smtp_ports), .def = "25 587 465" },
	{ "policy_listen", RG_KT_LISTENS, CFG(policy_listen), COUNT(n_policy_listen),
	  .def = "unix:/var/spool/postfix/private/relayguard" },
	{ "policy_allow", RG_KT_CIDRS, CFG(policy_allow), COUNT(n_policy_allow),
	  .def = "127.0.0.0/8 ::1" },
	{ "control_socket", RG_KT_PATH, CFG(control_socket), .max = SUN_PATH_MAX,
	  .def = "/run/relayguard/control.sock" },
	{ "metrics_listen", RG_KT_LISTEN, CFG(metrics_listen), .def = "inet:127.0.0.1:9433" },
	{ "state_dir", RG_KT_PATH, CFG(state_dir), .def = "/var/lib/relayguard" },
	{ "pin_dir", RG_KT_PATH, CFG(pin_dir), .def = "/sys/fs/bpf/relayguard" },
	{ "audit_log", RG_KT_PATH, CFG(audit_log) },	/* default: state_dir/audit.log */
	{ "audit_repeat_interval", RG_KT_DURATION, CFG(audit_repeat_interval_ns), .def = "60s",
	  .reload = true },
	{ "mode", ENUM(rg_mode_names), CFG(mode), .def = "enforce",
	  .reload = true },
	{ "fail_mode", ENUM(rg_fail_mode_names), CFG(fail_mode), .def = "open",
	  .reload = true },
	{ "host_prefix_v4", RG_KT_PREFIX, CFG(host_prefix_v4), .def = "32", .min = 1,
	  .max = 32 },
	{ "host_prefix_v6", RG_KT_PREFIX, CFG(host_prefix_v6), .def = "64", .min = 1,
	  .max = 128 },
	{ "host_table_size", RG_KT_U64, CFG(host_table_size), .def = "1048576", .min = 1,
	  .max = 1u << 28 },
	{ "flow_table_size", RG_KT_U64, CFG(flow_table_size), .def = "262144", .min = 1,
	  .max = 1u << 28 },
	{ "verdict_table_size", RG_KT_U64, CFG(verdict_table_size), .def = "65536", .min = 1,
	  .max = 1u << 24 },
	{ "connector_table_size", RG_KT_U64, CFG(connector_table_size), .def = "65536",
	  .min = 1, .max = 1u << 24 },
	{ "max_policy_connections", RG_KT_U64, CFG(max_policy_connections), .def = "1024",
	  .min = 1, .max = 65536 },
	{ "policy_idle_timeout", RG_KT_DURATION, CFG(policy_idle_timeout_ns), .def = "5m",
	  .min = 1 },
	{ "policy_request_timeout", RG_KT_DURATION, CFG(policy_request_timeout_ns),
	  .def = "10s", .min = 1 },
	{ "log_level", ENUM(rg_log_level_names), CFG(log_level),
	  .def = "info", .reload = true },
	/* TC: skb->mark bits that carry the tenant id; 0: the mark is left alone. */
	{ "tenant_mark_mask", RG_KT_MASK, CFG(tenant_mark_mask), .def = "0" },
	{ "user", RG_KT_USER, CFG(user), .def = "relayguard" },
	{ "allow_privileged", ENUM(rg_bool_names), CFG(allow_privileged), .def = "no" },
	{ "seccomp", ENUM(rg_bool_names), CFG(seccomp), .def = "yes" },
	/* The notifier takes these with each event: a reload applies them. */
	{ "notify_command", RG_KT_PATH, CFG(notify_command), .def = "", .reload = true },
	{ "notify_timeout", RG_KT_DURATION, CFG(notify_timeout_ns), .def = "30s", .min = 1,
	  .max = 86400ULL * NS_PER_S, .reload = true },
	{ "notify_max_running", RG_KT_U64, CFG(notify_max_running), .def = "4", .min = 1,
	  .max = 64, .reload = true },
};
_Static_assert(sizeof(rg_agent_keys) == RG_AGENT_KEYS_N * sizeof(rg_agent_keys[0]),
	       "RG_AGENT_KEYS_N counts the rows of rg_agent_keys");

const struct rg_key_def rg_limit_keys[] = {
	{ "unregistered_limit", RG_KT_U64, LIM(unregistered_limit), .def = "100",
	  .max = 1000000000, .reload = true },
	{ "unregistered_window", RG_KT_DURATION, LIM(unregistered_window_ns), .def = "1h",
	  .min = 1, .reload = true },
	{ "block_duration", RG_KT_DURATION, LIM(block_duration_ns), .def = "0",
	  .reload = true },
	{ "flood_limit", RG_KT_U64, LIM(flood_limit), .def = "60", .max = 1000000000,
	  .reload = true },
	{ "flood_block_time", RG_KT_DURATION, LIM(flood_block_time_ns), .def = "15m",
	  .min = 1, .reload = true },
	{ "connection_rate_limit", RG_KT_RATE, LIM(connection_rate_limit), .def = "600/1m",
	  .reload = true },
	{ "over_budget_action", ENUM(rg_over_budget_names), LIM(over_budget_action),
	  .def = "reject", .reload = true },
	{ "notify_mailto", RG_KT_MAILTO, LIM(notify_mailto), .def = "", .reload = true },
};
_Static_assert(sizeof(rg_limit_keys) == RG_LIMIT_KEYS_N * sizeof(rg_limit_keys[0]),
	       "RG_LIMIT_KEYS_N counts the rows of rg_limit_keys");

/* The fleet's links and keys are set up once at start: a reload keeps them all. */
const struct rg_key_def rg_fleet_keys[] = {
	{ "redis", RG_KT_ENDPOINT, CFG(fleet.redis) },
	{ "redis_password_file", RG_KT_PATH, CFG(fleet.redis_password_file) },
	{ "redis_db", RG_KT_U64, CFG(fleet.redis_db), .def = "0", .max = 1u << 16 },
	{ "sentinels", RG_KT_LISTENS, CFG(fleet.sentinels), COUNT(fleet.n_sentinels) },
	{ "sentinel_master", RG_KT_NAME, CFG(fleet.sentinel_master) },
	{ "relay_id", RG_KT_NAME, CFG(fleet.relay_id) },	/* default: the host name */
	{ "key_prefix", RG_KT_NAME, CFG(fleet.key_prefix), .def = "relayguard" },
	{ "redis_timeout", RG_KT_DURATION, CFG(fleet.redis_timeout_ns), .def = "50ms",
	  .min = 1000000 },
	{ "stream_maxlen", RG_KT_U64, CFG(fleet.stream_maxlen), .def = "100000", .min = 100,
	  .max = 100000000 },
	{ "queue_max", RG_KT_U64, CFG(fleet.queue_max), .def = "65536", .min = 16,
	  .max = 1u << 24 },
	{ "heartbeat", RG_KT_DURATION, CFG(fleet.heartbeat_ns), .def = "1s", .min = 100000000 },
};
_Static_assert(sizeof(rg_fleet_keys) == RG_FLEET_KEYS_N * sizeof(rg_fleet_keys[0]),
	       "RG_FLEET_KEYS_N counts the rows of rg_fleet_keys");

const struct rg_key_def *rg_key_find(const struct rg_key_def *tab, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(tab[i].name, name))
			return &tab[i];
	return NULL;
}

/* ---- numbers, durations, rates ---- */

int rg_parse_u64(const char *s, uint64_t *out)
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

/* The first n bytes of s as a decimal number (more than 31 digits: -ERANGE). */
static int parse_u64_n(const char *s, size_t n, uint64_t *out)
{
	char num[32];

	if (n == 0)
		return -EINVAL;
	if (n >= sizeof(num))
		return -ERANGE;
	memcpy(num, s, n);
	num[n] = '\0';
	return rg_parse_u64(num, out);
}

int rg_parse_duration(const char *s, uint64_t *ns)
{
	const char *p = s;
	uint64_t v, mult;
	size_t n;
	int err;

	if (!s)
		return -EINVAL;
	while (*p >= '0' && *p <= '9')
		p++;
	n = (size_t)(p - s);
	/* mult in ns: ms is for the fleet's Redis deadlines, the rest are seconds up. */
	if (!*p || !strcmp(p, "s"))
		mult = NS_PER_S;
	else if (!strcmp(p, "ms"))
		mult = NS_PER_S / 1000;
	else if (!strcmp(p, "m"))
		mult = 60 * NS_PER_S;
	else if (!strcmp(p, "h"))
		mult = 3600 * NS_PER_S;
	else if (!strcmp(p, "d"))
		mult = 86400 * NS_PER_S;
	else
		return -EINVAL;
	err = parse_u64_n(s, n, &v);
	if (err)
		return err;
	/* Beyond RG_DURATION_MAX_NS, now + duration could not be stored or shown. */
	if (v > RG_DURATION_MAX_NS / mult)
		return -ERANGE;
	*ns = v * mult;
	return 0;
}

int rg_parse_rate(const char *s, struct rg_rate *r)
{
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
	err = parse_u64_n(s, n, &count);
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

/* ---- addresses and names ---- */

/* "inet:HOST:PORT" (HOST a name, an IPv4 address, [IPv6] or bare IPv6) or "unix:/PATH". */
static const char *check_listen(const char *s, bool unix_ok)
{
	if (!strncmp(s, "unix:", 5)) {
		if (!unix_ok)
			return "only inet:HOST:PORT is possible here";
		if (s[5] != '/')
			return "unix: needs an absolute path";
		if (strlen(s + 5) >= SUN_PATH_MAX)
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
	if (rg_parse_u64(colon + 1, &port) || port < 1 || port > 65535)
		return "bad port (1..65535)";
	hlen = (size_t)(colon - host);
	if (hlen >= sizeof(hbuf))
		return "host name too long";
	memcpy(hbuf, host, hlen);
	hbuf[hlen] = '\0';
	/* "*": every IPv4 address, "[*]": every IPv6 address (as listen.c binds them). */
	if (!strcmp(hbuf, "*") || !strcmp(hbuf, "[*]"))
		return NULL;
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
	/* listen.c cannot tell a bare IPv6 address from its port: refused here as there. */
	if (strchr(hbuf, ':'))
		return "an IPv6 address needs brackets: inet:[ADDR]:PORT";
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

bool rg_listen_is_loopback(const char *spec)
{
	const char *host = spec + 5, *colon;
	char hbuf[256];
	uint8_t a[16];
	size_t hlen;
	/* 127.0.0.0/8 in the mapped form (::ffff:127.0.0.0/104) and ::1/128 */
	static const struct rg_cidr lo4 = {
		.addr = { [10] = 0xff, [11] = 0xff, [12] = 127 }, .prefixlen = 104 };
	static const struct rg_cidr lo6 = { .addr = { [15] = 1 }, .prefixlen = 128 };

	if (!strncmp(spec, "unix:", 5))
		return true;
	colon = strrchr(host, ':');
	if (strncmp(spec, "inet:", 5) || !colon)
		return false;
	hlen = (size_t)(colon - host);
	if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
		host++;
		hlen -= 2;
	}
	if (hlen >= sizeof(hbuf))
		return false;
	memcpy(hbuf, host, hlen);
	hbuf[hlen] = '\0';
	if (!strcasecmp(hbuf, "localhost"))
		return true;
	if (rg_addr_parse(hbuf, a, NULL))
		return false;
	return rg_cidr_contains(&lo4, a) || rg_cidr_contains(&lo6, a);
}

/* ---- setting a field ---- */

struct setter {
	const struct rg_key_def *d;
	void *field;
	size_t *count;		/* lists */
	rg_key_report_fn *report;
	void *ctx;
};

static void bad_value(const struct setter *s, const char *val, const char *why)
{
	char p[RG_PRINTABLE_MAX + 4];

	s->report(s->ctx, "bad value for '%s': '%s': %s", s->d->name,
		  rg_printable(val, strlen(val), p), why);
}

static void store_uint(const struct setter *s, uint64_t v)
{
	switch (s->d->size) {
	case sizeof(uint8_t): *(uint8_t *)s->field = (uint8_t)v; break;
	case sizeof(uint16_t): *(uint16_t *)s->field = (uint16_t)v; break;
	case sizeof(uint32_t): *(uint32_t *)s->field = (uint32_t)v; break;
	default: *(uint64_t *)s->field = v; break;
	}
}

static int set_string(const struct setter *s, const char *val)
{
	char **dst = s->field, *copy = NULL;

	if (*val && !(copy = strdup(val)))
		return -ENOMEM;
	free(*dst);
	*dst = copy;
	return 0;
}

static int set_u64(const struct setter *s, char *val)
{
	char p[RG_PRINTABLE_MAX + 4], why[96];
	const struct rg_key_def *d = s->d;
	uint64_t v = 0;
	int err = rg_parse_u64(val, &v);

	if (!err && v >= d->min && v <= d->max) {
		store_uint(s, v);
		return 0;
	}
	if (d->type == RG_KT_PREFIX) {
		s->report(s->ctx, "bad prefix '%s' for %s: %llu..%llu",
			  rg_printable(val, strlen(val), p), d->name,
			  (unsigned long long)d->min, (unsigned long long)d->max);
		return -EINVAL;
	}
	if (err == -EINVAL) {
		bad_value(s, val, "not a number");
		return -EINVAL;
	}
	snprintf(why, sizeof(why), "out of range %llu..%llu", (unsigned long long)d->min,
		 (unsigned long long)d->max);
	bad_value(s, val, why);
	return -EINVAL;
}

/* A mask reads best in hex: decimal or 0x..., 32 bits, no sign. */
static int set_mask(const struct setter *s, char *val)
{
	unsigned long long m;
	char *end;

	errno = 0;
	m = strtoull(val, &end, 0);
	if (*val < '0' || *val > '9' || *end || errno || m > UINT32_MAX) {
		bad_value(s, val, "not a 32-bit mask (decimal or 0x hex)");
		return -EINVAL;
	}
	store_uint(s, m);
	return 0;
}

static int set_duration(const struct setter *s, char *val)
{
	uint64_t ns;
	int err = rg_parse_duration(val, &ns);

	if (err == -ERANGE) {
		bad_value(s, val, "duration too large");
		return -EINVAL;
	}
	if (err) {
		bad_value(s, val, "not a duration (e.g. 50ms, 30s, 15m, 1h, 1d)");
		return -EINVAL;
	}
	if (ns < s->d->min) {
		char why[64], b[32];

		snprintf(why, sizeof(why), s->d->min > 1 ? "at least %s" : "must be more than 0",
			 rg_format_duration(s->d->min, b, sizeof(b)));
		bad_value(s, val, why);
		return -EINVAL;
	}
	if (s->d->max && ns > s->d->max) {
		char why[48], b[16];

		snprintf(why, sizeof(why), "at most %s",
			 rg_format_duration(s->d->max, b, sizeof(b)));
		bad_value(s, val, why);
		return -EINVAL;
	}
	store_uint(s, ns);
	return 0;
}

static int set_rate(const struct setter *s, char *val)
{
	int err = rg_parse_rate(val, s->field);

	if (err == -ERANGE)
		bad_value(s, val, "rate too large");
	else if (err)
		bad_value(s, val, "not a rate N/UNIT (e.g. 600/1m, 10/s; 0: off)");
	return err ? -EINVAL : 0;
}

static int set_enum(const struct setter *s, char *val)
{
	char why[128], choices[96];
	int code;

	if (!rg_name_code(s->d->names, val, &code)) {
		store_uint(s, (uint64_t)code);
		return 0;
	}
	snprintf(why, sizeof(why), "expected %s",
		 rg_name_code_choices(s->d->names, choices, sizeof(choices)));
	bad_value(s, val, why);
	return -EINVAL;
}

static int set_path(const struct setter *s, char *val)
{
	int err;

	if (!*val && s->d->def && !*s->d->def)
		return set_string(s, val);	/* empty: off */
	if (val[0] != '/') {
		bad_value(s, val, "an absolute path is required");
		return -EINVAL;
	}
	if (strlen(val) >= PATH_MAX) {
		bad_value(s, val, "path too long");
		return -EINVAL;
	}
	err = set_string(s, val);
	if (err)
		return err;
	if (s->d->max && strlen(val) >= s->d->max) {
		bad_value(s, val, "unix socket path too long");
		return -EINVAL;
	}
	return 0;
}

static int set_listen(const struct setter *s, char *val)
{
	const char *why = *val ? check_listen(val, false) : NULL;

	if (why) {
		bad_value(s, val, why);
		return -EINVAL;
	}
	return set_string(s, val);	/* empty: off */
}

/* One token of a list value. 0, -EINVAL (reported) or -ENOMEM. */
static int list_add(const struct setter *s, const char *tok, size_t len)
{
	char p[RG_PRINTABLE_MAX + 4];
	const struct rg_key_def *d = s->d;
	size_t n = *s->count;

	if (d->type == RG_KT_PORTS) {
		uint16_t *ports = s->field;
		size_t cap = d->size / sizeof(*ports);
		uint64_t port;

		if (rg_parse_u64(tok, &port) || port < 1 || port > 65535) {
			s->report(s->ctx, "bad port '%s' in %s: 1..65535",
				  rg_printable(tok, len, p), d->name);
			return -EINVAL;
		}
		for (size_t i = 0; i < n; i++) {
			if (ports[i] == port) {
				s->report(s->ctx, "bad port '%s' in %s: listed twice",
					  rg_printable(tok, len, p), d->name);
				return -EINVAL;
			}
		}
		if (n >= cap) {
			s->report(s->ctx, "too many %s (at most %zu)", d->name, cap);
			return -EINVAL;
		}
		ports[(*s->count)++] = (uint16_t)port;
		return 0;
	}

	if (d->type == RG_KT_CIDRS) {
		struct rg_cidr *cidrs = s->field, c;
		size_t cap = d->size / sizeof(*cidrs);

		if (rg_cidr_parse(tok, &c, false)) {
			bad_value(s, tok, "not an address or ADDR/LEN with host bits clear");
			return -EINVAL;
		}
		if (n >= cap) {
			s->report(s->ctx, "too many %s prefixes (at most %zu)", d->name, cap);
			return -EINVAL;
		}
		cidrs[(*s->count)++] = c;
		return 0;
	}

	char **list = s->field, *copy;
	size_t cap = d->size / sizeof(*list);

	if (d->type == RG_KT_IFACES) {
		bool dup = false;

		for (size_t i = 0; i < n; i++)
			dup |= !strcmp(list[i], tok);
		if (!valid_ifname(tok, len)) {
			bad_value(s, tok, "not an interface name");
			return -EINVAL;
		}
		if (dup) {
			bad_value(s, tok, "listed twice");
			return -EINVAL;
		}
		if (n >= cap) {
			s->report(s->ctx, "too many interfaces (at most %zu)", cap);
			return -EINVAL;
		}
	} else {
		const char *why = check_listen(tok, true);

		if (why) {
			bad_value(s, tok, why);
			return -EINVAL;
		}
		if (n >= cap) {
			s->report(s->ctx, "too many %s addresses (at most %zu)", d->name, cap);
			return -EINVAL;
		}
	}
	copy = strdup(tok);
	if (!copy)
		return -ENOMEM;
	list[(*s->count)++] = copy;
	return 0;
}

static int set_list(const struct setter *s, char *val)
{
	char *cur = val, *tok;
	size_t len;
	int rc = 0;

	if (!*val) {
		bad_value(s, val, "one or more values required");
		return -EINVAL;
	}
	while ((tok = rg_ini_token(&cur, &len))) {
		char save = tok[len];
		int err;

		tok[len] = '\0';
		err = list_add(s, tok, len);
		tok[len] = save;
		if (err == -ENOMEM)
			return err;
		if (err)
			rc = err;
	}
	return rc;
}

/* A login name as useradd(8) takes it by default: nothing a path or a shell reads specially. */
static int set_user(const struct setter *s, char *val)
{
	size_t n = strlen(val);
	bool ok = n > 0 && n <= 32 && (val[0] == '_' || (val[0] >= 'a' && val[0] <= 'z'));

	for (size_t i = 1; ok && i < n; i++)
		ok = val[i] == '_' || val[i] == '-' || (val[i] >= 'a' && val[i] <= 'z') ||
		     (val[i] >= '0' && val[i] <= '9');
	if (!ok) {
		bad_value(s, val, "not a user name ([a-z_][a-z0-9_-]*, at most 32)");
		return -EINVAL;
	}
	return set_string(s, val);
}

static int set_endpoint(const struct setter *s, char *val)
{
	const char *why = check_listen(val, true);

	if (why) {
		bad_value(s, val, why);
		return -EINVAL;
	}
	return set_string(s, val);
}

static int set_name(const struct setter *s, char *val)
{
	size_t n = strlen(val);
	bool ok = n > 0 && n < RG_FLEET_NAME_MAX;

	for (size_t i = 0; ok && i < n; i++)
		ok = (val[i] >= 'a' && val[i] <= 'z') || (val[i] >= 'A' && val[i] <= 'Z') ||
		     (val[i] >= '0' && val[i] <= '9') || val[i] == '.' || val[i] == '_' ||
		     val[i] == '-';
	if (!ok) {
		bad_value(s, val, "expected 1..63 of A-Z a-z 0-9 . _ -");
		return -EINVAL;
	}
	return set_string(s, val);
}

/* One address of notify_mailto: it reaches sendmail's command line and a To: header, so
 * nothing that could be an option (a leading '-'), a second address or a header break. */
static bool mailto_ok(const char *a, size_t n)
{
	const char *at = memchr(a, '@', n);

	if (n < 3 || n > 254 || a[0] == '-' || !at || at == a || at == a + n - 1)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)a[i];

		if (c <= ' ' || c >= 0x7f || strchr("\"(),:;<>[\\]", c))
			return false;
	}
	return true;
}

/* Whitespace-separated addresses, kept with one space between them. */
static int set_mailto(const struct setter *s, char *val)
{
	char *dst = s->field, *cur = val, *tok;
	size_t len, used = 0;
	char save;

	dst[0] = '\0';
	while ((tok = rg_ini_token(&cur, &len))) {
		save = tok[len];
		tok[len] = '\0';
		if (!mailto_ok(tok, len)) {
			bad_value(s, tok, "not a mail address (local@domain, no '-' first)");
			tok[len] = save;
			dst[0] = '\0';
			return -EINVAL;
		}
		if (used + (used > 0) + len >= s->d->size) {
			tok[len] = save;
			dst[0] = '\0';
			s->report(s->ctx, "%s too long (at most %zu bytes)", s->d->name,
				  s->d->size - 1);
			return -EINVAL;
		}
		if (used)
			dst[used++] = ' ';
		memcpy(dst + used, tok, len + 1);
		used += len;
		tok[len] = save;
	}
	return 0;
}

static int (*const setters[])(const struct setter *s, char *val) = {
	[RG_KT_U64] = set_u64, [RG_KT_MASK] = set_mask, [RG_KT_PREFIX] = set_u64,
	[RG_KT_DURATION] = set_duration,
	[RG_KT_RATE] = set_rate, [RG_KT_ENUM] = set_enum, [RG_KT_PATH] = set_path,
	[RG_KT_LISTEN] = set_listen, [RG_KT_IFACES] = set_list, [RG_KT_PORTS] = set_list,
	[RG_KT_LISTENS] = set_list, [RG_KT_CIDRS] = set_list, [RG_KT_USER] = set_user,
	[RG_KT_ENDPOINT] = set_endpoint, [RG_KT_NAME] = set_name,
	[RG_KT_MAILTO] = set_mailto,
};
_Static_assert(sizeof(setters) / sizeof(setters[0]) == RG_KT__N, "a setter for every type");

int rg_key_set(const struct rg_key_def *d, void *base, char *val, rg_key_report_fn *report,
	       void *ctx)
{
	struct setter s = { .d = d, .field = (char *)base + d->off, .report = report,
			    .ctx = ctx };

	if (rg_key_is_list(d))
		s.count = (size_t *)((char *)base + d->off_n);
	return setters[d->type](&s, val);
}

static bool is_string_list(const struct rg_key_def *d)
{
	return d->type == RG_KT_IFACES || d->type == RG_KT_LISTENS;
}

static bool is_string(const struct rg_key_def *d)
{
	return d->type == RG_KT_PATH || d->type == RG_KT_LISTEN || d->type == RG_KT_USER ||
	       d->type == RG_KT_ENDPOINT || d->type == RG_KT_NAME;
}

void rg_key_free(const struct rg_key_def *d, void *base)
{
	char **field = (char **)((char *)base + d->off);

	if (is_string(d)) {
		free(*field);
		*field = NULL;
	} else if (is_string_list(d)) {
		size_t *n = (size_t *)((char *)base + d->off_n);

		for (size_t i = 0; i < *n; i++)
			free(field[i]);
		*n = 0;
	}
}

/* ---- what a reload cannot apply ---- */

static bool same_str(const char *x, const char *y)
{
	return (!x && !y) || (x && y && !strcmp(x, y));
}

static bool key_equal(const struct rg_key_def *d, const void *a, const void *b)
{
	const char *fa = (const char *)a + d->off, *fb = (const char *)b + d->off;
	size_t na, nb;

	if (is_string(d))
		return same_str(*(char *const *)fa, *(char *const *)fb);
	if (!rg_key_is_list(d))
		return !memcmp(fa, fb, d->size);
	na = *(const size_t *)((const char *)a + d->off_n);
	nb = *(const size_t *)((const char *)b + d->off_n);
	if (na != nb)
		return false;
	if (d->type == RG_KT_PORTS)
		return !memcmp(fa, fb, na * sizeof(uint16_t));
	if (d->type == RG_KT_CIDRS)
		return !memcmp(fa, fb, na * sizeof(struct rg_cidr));
	for (size_t i = 0; i < na; i++)
		if (strcmp(((char *const *)fa)[i], ((char *const *)fb)[i]))
			return false;
	return true;
}

size_t rg_config_restart_keys(const struct rg_config *o, const struct rg_config *n,
			      const char **keys, size_t max)
{
	size_t found = 0;

	for (size_t i = 0; i < RG_AGENT_KEYS_N; i++) {
		const struct rg_key_def *d = &rg_agent_keys[i];

		if (d->reload || key_equal(d, o, n))
			continue;
		if (found < max)
			keys[found] = d->name;
		found++;
	}
	for (size_t i = 0; i < RG_FLEET_KEYS_N; i++) {
		const struct rg_key_def *d = &rg_fleet_keys[i];

		if (key_equal(d, o, n))
			continue;
		if (found < max)
			keys[found] = d->name;
		found++;
	}
	if (o->fleet.enabled != n->fleet.enabled) {
		if (found < max)
			keys[found] = "[fleet]";
		found++;
	}
	return found;
}
