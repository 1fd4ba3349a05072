// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * relayguardctl: the operator CLI. Takes a command line, asks relayguardd over its control
 * socket (protocol in user/control.h, client half in user/control_client.c) and prints the
 * answer as aligned tables or, with --json, as the agent's reply object. When the agent
 * is not running, `hosts`, `block host`, `throttle host` and `unblock host` read and write
 * the pinned BPF maps directly, so the kernel can be inspected and steered while the agent
 * is down; `detach` only runs then.
 *
 * Exit codes: 0 done; 1 the agent (or the maps) refused or failed; 2 usage or bad
 * argument; 3 relayguardd not reachable (and no direct fallback for the command);
 * 4 permission denied (run as root); 5 reloaded, but changed [agent] keys need a restart
 * (the reply's restart_keys).
 *
 * Requests (one JSON line each) and --json replies. Every reply has "ok" (bool); a failed
 * one has "error" (text) and "code" (permission_denied, bad_request, unknown_command,
 * unknown_tenant, bad_address, not_found, conflict, unavailable, internal, bad_config).
 * Times are Unix seconds (UTC); null means none/never. Fields the agent does not know are
 * omitted; the tables print "-" for them.
 *
 *   status        {"cmd":"status"}
 *     -> version, pid, uptime_s, mode ("enforce"|"monitor"), fail_mode ("open"|"closed"),
 *        interfaces [{name, attach ("xdp-native"|"xdp-generic"|"tc"|"none"), prog_id}]
 *        (those running: a reload's new list waits for a restart), restart_pending (bool),
 *        restart_keys [names the last reload could not apply], maps [{name, entries, max_entries}], policy_connections, policy_requests,
 *        tenants, tenants_restricted, hosts_blocked, hosts_throttled
 *   tenants       {"cmd":"tenants"}
 *     -> tenants [{name, id, state ("ok"|"restricted"), unregistered, registered, null,
 *        budget_used, limit, window_s, restricted_since, until, reason, rejected_total,
 *        keys {connectors, sasl_users, cert_subjects, cert_fingerprints} (entries),
 *        matched_total {sasl, cert_fingerprint, cert_subject, connector} (transactions
 *        since start or reload, by how they were attributed),
 *        over_budget_action ("reject"|"hold"|"defer")}]
 *        (counts are in the window; unregistered includes those past the limit,
 *        budget_used is the budget's own share of it, at most limit)
 *   hosts         {"cmd":"hosts","top":N}            (N 0: all)
 *     -> total (rows before top), hosts [{address ("192.0.2.7/32", or a CIDR verdict's
 *        "198.51.100.0/24"), tenant (name or null), tenant_id, connections, packets, bytes,
 *        conn_rate_per_min (to a tenth), last_seen, verdict ("none"|"block"|"throttle"),
 *        origin ("operator"|"flood"|"conn_rate"|null), rate_per_min (throttle only),
 *        drops (0 without a verdict), expires}]: one row per host in the kernel's hosts
 *        map and per verdict target without a host row, most active first (user/hosts.h:
 *        conn_rate_per_min, then connections, packets, drops, descending; then address);
 *        with "source":"pinned_maps" when read by relayguardctl itself
 *   block host    {"cmd":"block_host","host":"ADDR/LEN","for_s":S}          (for_s 0/absent:
 *   throttle host {"cmd":"throttle_host","host":"ADDR/LEN","rate_count":N,    until unblocked)
 *                  "rate_period_s":P,"for_s":S}
 *   unblock host  {"cmd":"unblock_host","host":"ADDR/LEN"}
 *     -> host, verdict, expires; unblock also "already" (true: there was no verdict,
 *        nothing to do: rc 0)
 *   restrict tenant {"cmd":"restrict_tenant","tenant":"NAME"}
 *   unblock tenant  {"cmd":"unblock_tenant","tenant":"NAME"}
 *     -> tenant, state, until, already (true: it was in that state; rc 0). unblock also
 *        removes the flood blocks (origin flood) of the tenant's hosts
 *   reload        {"cmd":"reload"}  -> tenants (count), restart_needed (bool), restart_keys
 *                 (the changed [agent] keys a reload cannot apply; the running values stay
 *                 until a restart); on failure "errors":["FILE:LINE: ..."]
 *   detach [--purge]  (no request: refused while relayguardd runs; uses the pinned links)
 *   check-postfix [--postfix-config DIR]  (no request: runs postconf; user/postfix_check.h)
 *     -> ok, services_checked, findings [{service, type, port, problem ("no_policy_check"|
 *        "permit_before_policy"|"default_action"), parameter, detail, message}]; exit 1
 *        when there are findings
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "bpfmaps.h"
#include "cidr.h"
#include "clock.h"
#include "config.h"
#include "control.h"
#include "gcra.h"
#include "control_client.h"
#include "hosts.h"
#include "log.h"
#include "postfix_check.h"
#include "version.h"

enum {
	EXIT_OK = 0,
	EXIT_AGENT = 1,
	EXIT_USAGE = 2,
	EXIT_UNREACHABLE = 3,
	EXIT_PERM = 4,
	EXIT_RESTART = 5,	/* reloaded, but some changed keys need a restart */
};

#define DEFAULT_SOCKET "/run/relayguard/control.sock"
#define DEFAULT_PIN_DIR "/sys/fs/bpf/relayguard"
#define REPLY_TIMEOUT_MS 30000
#define DEFAULT_TOP 50

static struct {
	const char *config_path;
	bool config_explicit;
	const char *socket_path;
	const char *pin_dir;
	bool json;
	struct rg_config *cfg;	/* loaded lazily */
	bool cfg_tried;
	bool printed;		/* a JSON object went to stdout */
	char first_error[512];	/* for --json: the first client-side error */
} g;

static void errx_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void errx_msg(const char *fmt, ...)
{
	va_list ap;

	fputs("relayguardctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (!g.first_error[0]) {
		va_start(ap, fmt);
		vsnprintf(g.first_error, sizeof(g.first_error), fmt, ap);
		va_end(ap);
	}
}

/* Text from the agent or the maps goes to a terminal: no control characters. */
static const char *safe(const char *s, char out[RG_PRINTABLE_MAX + 4])
{
	if (!s)
		return "-";
	return rg_printable(s, strlen(s), out);
}

/*
 * Configuration: only what relayguardctl needs (socket, pin dir, interfaces, prefixes,
 * tenants). Loaded partially: an error elsewhere in the file must not send the commands
 * to the default pin dir and socket, so every value that parsed is used and each error is
 * reported as ignored (the agent refuses such a configuration on reload; -t lists them).
 */
static struct rg_config *config(void)
{
	struct rg_config_errors errs = { 0 };
	int err;

	if (g.cfg_tried)
		return g.cfg;
	g.cfg_tried = true;
	err = rg_config_load_partial(g.config_path, &g.cfg, &errs);
	if (err && g.cfg) {
		for (size_t i = 0; i < errs.n; i++)
			fprintf(stderr, "relayguardctl: ignored: %s\n", errs.msgs[i]);
		fprintf(stderr, "relayguardctl: %s has %zu error%s (relayguardd -t lists them); "
			"using the values that parsed\n", g.config_path, errs.n,
			errs.n == 1 ? "" : "s");
	} else if (err) {
		/* Without -c, a missing default file just means defaults. */
		if (g.config_explicit || err != -ENOENT) {
			for (size_t i = 0; i < errs.n; i++)
				errx_msg("%s", errs.msgs[i]);
			if (!errs.n)
				errx_msg("cannot load %s: %s", g.config_path, strerror(-err));
		}
	}
	rg_config_errors_free(&errs);
	return g.cfg;
}

static const char *socket_path(void)
{
	struct rg_config *cfg;

	if (g.socket_path)
		return g.socket_path;
	cfg = config();
	if (cfg && cfg->control_socket && *cfg->control_socket)
		return cfg->control_socket;
	return DEFAULT_SOCKET;
}

static const char *pin_dir(void)
{
	struct rg_config *cfg;

	if (g.pin_dir)
		return g.pin_dir;
	cfg = config();
	if (cfg && cfg->pin_dir && *cfg->pin_dir)
		return cfg->pin_dir;
	return DEFAULT_PIN_DIR;
}

/* Talking to the agent. */

static int agent_connect(int *fdp)
{
	int err = rg_control_connect(socket_path(), fdp);

	if (!err)
		return EXIT_OK;
	if (err == -ENAMETOOLONG) {
		errx_msg("socket path too long: %s", socket_path());
		return EXIT_USAGE;
	}
	return err == -EACCES || err == -EPERM ? EXIT_PERM : EXIT_UNREACHABLE;
}

static void report_connect_failure(int code)
{
	if (code == EXIT_PERM)
		errx_msg("permission denied on %s: relayguardctl must run as root", socket_path());
	else if (code == EXIT_UNREACHABLE)
		errx_msg("cannot reach relayguardd at %s: is it running?", socket_path());
}

/* What rg_control_call() said, as a message and an exit code. */
static int call_failure(int err)
{
	switch (err) {
	case 0:
		return EXIT_OK;
	case -ETIMEDOUT:
		errx_msg("relayguardd at %s did not answer within %d s", socket_path(),
			 REPLY_TIMEOUT_MS / 1000);
		return EXIT_UNREACHABLE;
	case -EMSGSIZE:
		errx_msg("reply from relayguardd too large");
		return EXIT_AGENT;
	case -ECONNRESET:
		errx_msg("relayguardd at %s closed the connection without an answer",
			 socket_path());
		return EXIT_AGENT;
	case -EBADMSG:
		errx_msg("relayguardd sent a reply that is not a JSON object");
		return EXIT_AGENT;
	case -ENOMEM:
		errx_msg("out of memory");
		return EXIT_AGENT;
	}
	errx_msg("cannot talk to relayguardd at %s: %s", socket_path(), strerror(-err));
	return EXIT_UNREACHABLE;
}

/*
 * Send req (consumed) to the agent. EXIT_OK with *reply (ok or not: the caller checks),
 * EXIT_UNREACHABLE/EXIT_PERM without printing when quiet_connect (the caller may fall back),
 * else another exit code with a message printed.
 */
static int agent_call(json_object *req, json_object **reply, bool quiet_connect)
{
	int fd, ret;

	*reply = NULL;
	ret = agent_connect(&fd);
	if (ret != EXIT_OK) {
		if (!quiet_connect)
			report_connect_failure(ret);
		json_object_put(req);
		return ret;
	}
	ret = call_failure(rg_control_call(fd, req, REPLY_TIMEOUT_MS, reply));
	close(fd);
	json_object_put(req);
	return ret;
}

static json_object *jget(json_object *o, const char *key)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
		return NULL;
	return v;
}

static const char *jstr(json_object *o, const char *key)
{
	json_object *v = jget(o, key);

	return v ? json_object_get_string(v) : NULL;
}

static bool jnum(json_object *o, const char *key, double *out)
{
	json_object *v = jget(o, key);

	if (!v || !(json_object_is_type(v, json_type_int) ||
		    json_object_is_type(v, json_type_double)))
		return false;
	*out = json_object_get_double(v);
	return true;
}

static bool jbool(json_object *o, const char *key)
{
	json_object *v = jget(o, key);

	return v && json_object_get_boolean(v);
}

static void print_json(json_object *o)
{
	g.printed = true;
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
					    JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* A reply with "ok":false: print its error, map its code to an exit code. */
static int reply_failed(json_object *reply)
{
	char b1[RG_PRINTABLE_MAX + 4];
	const char *code = jstr(reply, "code");
	json_object *errs = jget(reply, "errors");
	json_object *ok = jget(reply, "ok");

	if (ok && json_object_get_boolean(ok))
		return EXIT_OK;
	if (g.json)
		print_json(reply);
	errx_msg("%s", safe(jstr(reply, "error") ? jstr(reply, "error") : "request failed", b1));
	if (errs && json_object_is_type(errs, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(errs); i++)
			fprintf(stderr, "  %s\n",
				safe(json_object_get_string(json_object_array_get_idx(errs, i)),
				     b1));
	}
	if (code && !strcmp(code, RG_CTL_E_PERM))
		return EXIT_PERM;
	return EXIT_AGENT;
}

/* Formatting helpers. */

static const char *fmt_num(json_object *o, const char *key, char *buf, size_t len)
{
	double v;

	if (!jnum(o, key, &v))
		return "-";
	if (v == floor(v) && fabs(v) < 1e15)
		snprintf(buf, len, "%.0f", v);
	else
		snprintf(buf, len, "%.1f", v);
	return buf;
}

static const char *fmt_span(uint64_t s, char *buf, size_t len)
{
	static const struct { uint64_t secs; char unit; } u[] = {
		{ 86400, 'd' }, { 3600, 'h' }, { 60, 'm' }, { 1, 's' },
	};
	size_t i;

	for (i = 0; i < 3 && s < u[i].secs; i++)
		;
	/* Two units at most: "3h12m", "1h", "90s" reads as "1m30s". */
	if (i < 3 && s % u[i].secs)
		snprintf(buf, len, "%llu%c%llu%c", (unsigned long long)(s / u[i].secs), u[i].unit,
			 (unsigned long long)(s % u[i].secs / u[i + 1].secs), u[i + 1].unit);
	else
		snprintf(buf, len, "%llu%c", (unsigned long long)(s / u[i].secs), u[i].unit);
	return buf;
}

static const char *fmt_time(json_object *o, const char *key, const char *none, char *buf,
			    size_t len)
{
	double v;
	time_t t;
	struct tm tm;

	if (!jnum(o, key, &v) || v <= 0)
		return none;
	t = (time_t)v;
	if (!localtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm))
		return "?";
	return buf;
}

static const char *fmt_bytes(json_object *o, const char *key, char *buf, size_t len)
{
	static const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v;
	int u = 0;

	if (!jnum(o, key, &v))
		return "-";
	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", v, units[u]);
	return buf;
}

/* A table: rows of cells, printed with columns as wide as their widest cell. */
#define TBL_MAX_COLS 13
struct table {
	size_t ncols, nrows, cap;
	char **cells;		/* nrows * ncols */
	bool right[TBL_MAX_COLS];
};

static void tbl_add(struct table *t, const char *const *cells)
{
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		char **c = realloc(t->cells, cap * t->ncols * sizeof(*c));

		if (!c) {
			errx_msg("out of memory");
			exit(EXIT_AGENT);
		}
		t->cells = c;
		t->cap = cap;
	}
	for (size_t i = 0; i < t->ncols; i++) {
		char *s = strdup(cells[i] ? cells[i] : "-");

		if (!s) {
			errx_msg("out of memory");
			exit(EXIT_AGENT);
		}
		t->cells[t->nrows * t->ncols + i] = s;
	}
	t->nrows++;
}

static void tbl_print(struct table *t)
{
	size_t w[TBL_MAX_COLS] = { 0 };

	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++) {
			size_t l = strlen(t->cells[r * t->ncols + c]);

			if (l > w[c])
				w[c] = l;
		}
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * t->ncols + c];
			bool last = c + 1 == t->ncols;

			if (t->right[c])
				printf("%*s%s", (int)w[c], s, last ? "" : "  ");
			else if (last)
				printf("%s", s);
			else
				printf("%-*s  ", (int)w[c], s);
			free(t->cells[r * t->ncols + c]);
		}
		putchar('\n');
	}
	free(t->cells);
	t->cells = NULL;
	t->nrows = t->cap = 0;
}

/* Commands. */

struct cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *usage;
	const char *help;
};

static const struct cmd *find_cmd(const char *name);
static void cmd_usage(FILE *f, const struct cmd *c);

/* Options common to every command: --json, --help. Returns -1 to go on, else an exit code.
 * extra: more long options (ending with a zero entry), handled by the caller's cb. */
struct opt_ctx {
	const struct cmd *cmd;
	int (*cb)(int opt, const char *arg, void *ctx);
	void *ctx;
};

static int parse_opts(int argc, char **argv, const struct option *extra, size_t n_extra,
		      struct opt_ctx *oc, int *first_arg)
{
	struct option opts[16];
	size_t n = 0;
	int opt;

	opts[n++] = (struct option){ "json", no_argument, NULL, 'j' };
	opts[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	for (size_t i = 0; i < n_extra && n < 15; i++)
		opts[n++] = extra[i];
	opts[n] = (struct option){ 0 };
	/* 0, not 1: glibc then re-initialises, and permutes, as main's scan did not. */
	optind = 0;
	opterr = 0;
	/* The leading ':' tells a missing value (':') from an unknown option ('?'). */
	while ((opt = getopt_long(argc, argv, ":jh", opts, NULL)) != -1) {
		if (opt == ':') {
			errx_msg("%s: %s needs a value", oc->cmd->name,
				 argv[optind - 1] ? argv[optind - 1] : "the option");
			cmd_usage(stderr, oc->cmd);
			return EXIT_USAGE;
		} else if (opt == 'j') {
			g.json = true;
		} else if (opt == 'h') {
			cmd_usage(stdout, oc->cmd);
			return EXIT_OK;
		} else if (opt == '?' || opt == ':' || !oc->cb) {
			errx_msg("%s: bad option %s", oc->cmd->name,
				 argv[optind - 1] ? argv[optind - 1] : "");
			cmd_usage(stderr, oc->cmd);
			return EXIT_USAGE;
		} else {
			int r = oc->cb(opt, optarg, oc->ctx);

			if (r >= 0)
				return r;
		}
	}
	*first_arg = optind;
	return -1;
}

static int usage_error(const struct cmd *c, const char *msg)
{
	errx_msg("%s: %s", c->name, msg);
	cmd_usage(stderr, c);
	return EXIT_USAGE;
}

/* Rest of argv after options must be exactly "host ADDR" / "tenant NAME" etc. */
static int want_object(const struct cmd *c, int argc, char **argv, int i, const char *kind,
		       const char **value)
{
	if (argc - i != 2 || strcmp(argv[i], kind))
		return usage_error(c, "wrong arguments");
	*value = argv[i + 1];
	return -1;
}

static int parse_target(const char *s, struct rg_cidr *cidr, char *canon, size_t len)
{
	char b1[RG_PRINTABLE_MAX + 4];

	if (rg_cidr_parse(s, cidr, false)) {
		errx_msg("bad address \"%s\": expected ADDR or ADDR/LEN with the host bits zero "
			 "(e.g. 192.0.2.7, 198.51.100.0/24, 2001:db8::/48)",
			 rg_printable(s, strlen(s), b1));
		return EXIT_USAGE;
	}
	/* ADDR without /LEN is the host that contains it (host_prefix_v4/_v6), as `hosts`
	 * lists it and the agent reads it. */
	if (!strchr(s, '/')) {
		struct rg_config *cfg = config();
		struct rg_cidr a = *cidr;	/* rg_host_of clears its output first */

		rg_host_of(a.addr, cfg ? cfg->host_prefix_v4 : 32,
			   cfg ? cfg->host_prefix_v6 : 64, cidr);
	}
	rg_cidr_format(cidr, canon, len);
	return -1;
}

/* status */

/*
 * A listing without arguments: parse the options, ask the agent for name, and print the
 * reply as JSON with --json. true with *reply (owned by the caller) and *ret = EXIT_OK when
 * the caller should print a table; false with *ret the exit code when all is done.
 */
static bool listing_call(const char *name, int argc, char **argv, json_object **reply, int *ret)
{
	const struct cmd *c = find_cmd(name);
	struct opt_ctx oc = { .cmd = c };
	json_object *req;
	int first;

	*ret = parse_opts(argc, argv, NULL, 0, &oc, &first);
	if (*ret >= 0)
		return false;
	if (first != argc) {
		*ret = usage_error(c, "takes no arguments");
		return false;
	}
	req = json_object_new_object();
	json_object_object_add(req, "cmd", json_object_new_string(name));
	*ret = agent_call(req, reply, false);
	if (*ret != EXIT_OK)
		return false;
	*ret = reply_failed(*reply);
	if (*ret == EXIT_OK && g.json)
		print_json(*reply);
	if (*ret != EXIT_OK || g.json) {
		json_object_put(*reply);
		return false;
	}
	return true;
}

static int do_status(int argc, char **argv)
{
	json_object *reply, *arr, *v;
	char b1[64], b2[64], b3[RG_PRINTABLE_MAX + 4];
	int ret;
	double d;

	if (!listing_call("status", argc, argv, &reply, &ret))
		return ret;
	printf("relayguardd   running, pid %s, up %s, version %s\n",
	       fmt_num(reply, "pid", b1, sizeof(b1)),
	       jnum(reply, "uptime_s", &d) ? fmt_span((uint64_t)d, b2, sizeof(b2)) : "-",
	       safe(jstr(reply, "version"), b3));
	printf("mode          %s", safe(jstr(reply, "mode"), b3));
	printf(" (fail_mode %s)\n", safe(jstr(reply, "fail_mode"), b3));
	arr = jget(reply, "interfaces");
	if (arr && json_object_is_type(arr, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(arr); i++) {
			v = json_object_array_get_idx(arr, i);
			printf("%s", i ? "              " : "interfaces    ");
			printf("%-12s ", safe(jstr(v, "name"), b3));
			printf("%-12s prog %s\n", safe(jstr(v, "attach"), b3),
			       fmt_num(v, "prog_id", b1, sizeof(b1)));
		}
	}
	v = jget(reply, "fleet");
	if (v)
		printf("fleet         relay %s, Redis link %s%s, queue %s, lag %s ms\n",
		       safe(jstr(v, "relay"), b3), jstr(v, "link") ? jstr(v, "link") : "-",
		       jget(v, "synced") && json_object_get_boolean(jget(v, "synced")) ? ""
										: " (syncing)",
		       fmt_num(v, "queue", b1, sizeof(b1)), fmt_num(v, "lag_ms", b2, sizeof(b2)));
	arr = jget(reply, "restart_keys");
	if (arr && json_object_is_type(arr, json_type_array) && json_object_array_length(arr)) {
		printf("restart       pending:");
		for (size_t i = 0; i < json_object_array_length(arr); i++)
			printf("%s %s", i ? "," : "",
			       safe(json_object_get_string(json_object_array_get_idx(arr, i)), b3));
		printf(" changed by a reload; the running values (shown) stay until a restart\n");
	}
	printf("policy        %s connections, %s requests\n",
	       fmt_num(reply, "policy_connections", b1, sizeof(b1)),
	       fmt_num(reply, "policy_requests", b2, sizeof(b2)));
	printf("tenants       %s, ", fmt_num(reply, "tenants", b1, sizeof(b1)));
	printf("%s restricted\n", fmt_num(reply, "tenants_restricted", b1, sizeof(b1)));
	printf("hosts         %s blocked, ", fmt_num(reply, "hosts_blocked", b1, sizeof(b1)));
	printf("%s throttled\n", fmt_num(reply, "hosts_throttled", b1, sizeof(b1)));
	arr = jget(reply, "maps");
	if (arr && json_object_is_type(arr, json_type_array) && json_object_array_length(arr)) {
		struct table t = { .ncols = 4, .right = { false, true, true, true } };
		const char *hdr[] = { "MAP", "ENTRIES", "MAX", "FILL" };

		printf("\n");
		tbl_add(&t, hdr);
		for (size_t i = 0; i < json_object_array_length(arr); i++) {
			char e[32], m[32], f[16] = "-";
			double en, mx;
			const char *row[4];

			v = json_object_array_get_idx(arr, i);
			if (jnum(v, "entries", &en) && jnum(v, "max_entries", &mx) && mx > 0)
				snprintf(f, sizeof(f), "%.1f%%", 100.0 * en / mx);
			row[0] = safe(jstr(v, "name"), b3);
			row[1] = fmt_num(v, "entries", e, sizeof(e));
			row[2] = fmt_num(v, "max_entries", m, sizeof(m));
			row[3] = f;
			tbl_add(&t, row);
		}
		tbl_print(&t);
	}
	json_object_put(reply);
	return ret;
}

/* fleet */

static int do_fleet(int argc, char **argv)
{
	json_object *reply, *arr;
	int ret;

	if (!listing_call("fleet", argc, argv, &reply, &ret))
		return ret;
	arr = jget(reply, "relays");
	{
		struct table t = { .ncols = 5, .right = { false, true, false, true, true } };
		const char *hdr[] = { "RELAY", "HEARTBEAT_AGE", "LINK", "QUEUE", "LAG_MS" };

		tbl_add(&t, hdr);
		for (size_t i = 0; arr && json_object_is_type(arr, json_type_array) &&
				   i < json_object_array_length(arr); i++) {
			json_object *v = json_object_array_get_idx(arr, i);
			char age[32], q[32], lag[32], p1[RG_PRINTABLE_MAX + 4];
			char p2[RG_PRINTABLE_MAX + 4];
			double d = 0;
			const char *row[5];

			jnum(v, "heartbeat_age_s", &d);
			snprintf(age, sizeof(age), "%.1fs", d);
			row[0] = safe(jstr(v, "id"), p1);
			row[1] = age;
			row[2] = safe(jstr(v, "link"), p2);
			row[3] = fmt_num(v, "queue", q, sizeof(q));
			row[4] = fmt_num(v, "lag_ms", lag, sizeof(lag));
			tbl_add(&t, row);
		}
		tbl_print(&t);
	}
	json_object_put(reply);
	return ret;
}

/* tenants */

/* "ip,sasl,subject,fp": the kinds of key that recognise a tenant ("-": none). */
static const char *tenant_keys(json_object *keys, char *buf, size_t len)
{
	static const char *const kinds[][2] = {
		{ "connectors", "ip" }, { "sasl_users", "sasl" }, { "cert_subjects", "subject" },
		{ "cert_fingerprints", "fp" },
	};
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; keys && i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		double v;

		if (jnum(keys, kinds[i][0], &v) && v > 0)
			n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? "," : "", kinds[i][1]);
	}
	return n ? buf : "-";
}

static int do_tenants(int argc, char **argv)
{
	json_object *reply, *arr;
	int ret;

	if (!listing_call("tenants", argc, argv, &reply, &ret))
		return ret;
	arr = jget(reply, "tenants");
	{
		struct table t = { .ncols = 13,
				   .right = { false, true, false, true, true, true, true, true } };
		const char *hdr[] = { "TENANT", "ID", "STATE", "UNREG", "REG", "NULL", "LIMIT",
				      "WINDOW", "SINCE", "UNTIL", "REASON", "ACTION", "KEYS" };

		tbl_add(&t, hdr);
		for (size_t i = 0; arr && json_object_is_type(arr, json_type_array) &&
				   i < json_object_array_length(arr); i++) {
			json_object *v = json_object_array_get_idx(arr, i);
			char n1[32], n2[32], n3[32], n4[32], n5[32], w[32], s1[32], s2[32];
			char p1[RG_PRINTABLE_MAX + 4], p2[RG_PRINTABLE_MAX + 4];
			char p3[RG_PRINTABLE_MAX + 4], p4[RG_PRINTABLE_MAX + 4];
			bool restricted = jstr(v, "state") && !strcmp(jstr(v, "state"),
								       "restricted");
			double win;
			const char *row[13];
			char keys[64];

			row[0] = safe(jstr(v, "name"), p1);
			row[1] = fmt_num(v, "id", n1, sizeof(n1));
			row[2] = safe(jstr(v, "state"), p2);
			row[3] = fmt_num(v, "unregistered", n2, sizeof(n2));
			row[4] = fmt_num(v, "registered", n3, sizeof(n3));
			row[5] = fmt_num(v, "null", n4, sizeof(n4));
			row[6] = fmt_num(v, "limit", n5, sizeof(n5));
			row[7] = jnum(v, "window_s", &win) ? fmt_span((uint64_t)win, w, sizeof(w))
							   : "-";
			row[8] = fmt_time(v, "restricted_since", "-", s1, sizeof(s1));
			row[9] = restricted ? fmt_time(v, "until", "unblock", s2, sizeof(s2)) : "-";
			row[10] = jstr(v, "reason") ? safe(jstr(v, "reason"), p3) : "-";
			row[11] = jstr(v, "over_budget_action") ?
					  safe(jstr(v, "over_budget_action"), p4) : "-";
			row[12] = tenant_keys(jget(v, "keys"), keys, sizeof(keys));
			tbl_add(&t, row);
		}
		tbl_print(&t);
	}
	json_object_put(reply);
	return ret;
}

/* hosts, from the agent or from the pinned maps */

static json_object *mono_to_unix(uint64_t mono_ns)
{
	if (!mono_ns)
		return NULL;
	return json_object_new_int64((int64_t)(rg_mono_to_real_ns(mono_ns) / 1000000000ull));
}

/* Without the agent, the tenant a host is tagged with is the configuration's: the tenant of
 * the longest connector that contains it. */
static const char *config_tenant(void *ctx, uint32_t tenant_id, const uint8_t addr[16])
{
	const struct rg_config *cfg = ctx;
	uint32_t idx;

	if (cfg && cfg->connectors && rg_lpm_lookup(cfg->connectors, addr, &idx))
		return cfg->tenants[idx].name;
	return NULL;
}

static void note_direct(void)
{
	fprintf(stderr, "relayguardctl: relayguardd is not reachable at %s; using the pinned maps "
		"in %s directly\n", socket_path(), pin_dir());
}

static int open_maps(struct rg_bpf **b)
{
	struct rg_config *cfg = config();
	int err = rg_bpf_open_pinned(pin_dir(), b);

	if (err) {
		errx_msg("cannot open the pinned maps in %s: %s%s", pin_dir(), strerror(-err),
			 err == -ENOENT ? " (is relayguard attached? is bpffs mounted?)" : "");
		return err == -EPERM || err == -EACCES ? EXIT_PERM : EXIT_UNREACHABLE;
	}
	if (cfg)
		rg_bpf_set_host_prefix(*b, cfg->host_prefix_v4, cfg->host_prefix_v6);
	return EXIT_OK;
}

static int hosts_direct(size_t top, json_object **out)
{
	struct rg_config *cfg = config();
	struct rg_hosts_opts o = {
		.host_prefix_v4 = cfg ? cfg->host_prefix_v4 : 32,
		.host_prefix_v6 = cfg ? cfg->host_prefix_v6 : 64,
		.top = top,
		.tenant_name = config_tenant,
		.ctx = cfg,
	};
	struct rg_bpf *b = NULL;
	int ret, err;

	ret = open_maps(&b);
	if (ret != EXIT_OK)
		return ret;
	*out = json_object_new_object();
	json_object_object_add(*out, "ok", json_object_new_boolean(1));
	json_object_object_add(*out, "source", json_object_new_string("pinned_maps"));
	err = rg_hosts_list(b, &o, *out);
	rg_bpf_close(b);
	if (err) {
		json_object_put(*out);
		*out = NULL;
		errx_msg("cannot read the maps in %s: %s", pin_dir(), strerror(-err));
		return EXIT_AGENT;
	}
	return EXIT_OK;
}

struct top_opt {
	size_t top;
	uint64_t for_ns;
	bool has_for;
	struct rg_rate rate;
	bool has_rate;
	bool purge;
	const struct cmd *cmd;
};

static int opt_cb(int opt, const char *arg, void *ctx)
{
	struct top_opt *t = ctx;
	char b1[RG_PRINTABLE_MAX + 4];
	char *end;

	switch (opt) {
	case 't': {
		unsigned long long v;

		errno = 0;
		v = strtoull(arg, &end, 10);
		if (errno || end == arg || *end || arg[0] == '-' || v > 10000000) {
			errx_msg("%s: --top wants a number, not \"%s\"", t->cmd->name,
				 rg_printable(arg, strlen(arg), b1));
			return EXIT_USAGE;
		}
		t->top = (size_t)v;
		return -1;
	}
	case 'f':
		if (rg_parse_duration(arg, &t->for_ns) == -ERANGE) {
			errx_msg("%s: --for %s is longer than the limit, %llud", t->cmd->name,
				 rg_printable(arg, strlen(arg), b1),
				 (unsigned long long)(RG_DURATION_MAX_NS / RG_NSEC_PER_SEC / 86400));
			return EXIT_USAGE;
		}
		if (rg_parse_duration(arg, &t->for_ns)) {
			errx_msg("%s: --for wants a duration like 30s, 15m, 1h, 1d, not \"%s\"",
				 t->cmd->name, rg_printable(arg, strlen(arg), b1));
			return EXIT_USAGE;
		}
		t->has_for = true;
		return -1;
	case 'r':
		if (rg_parse_rate(arg, &t->rate) || !t->rate.count || !t->rate.period_ns ||
		    t->rate.period_ns % 1000000000ull) {
			errx_msg("%s: --rate wants N/UNIT like 10/1m, 5/s, 100/1h, not \"%s\"",
				 t->cmd->name, rg_printable(arg, strlen(arg), b1));
			return EXIT_USAGE;
		}
		t->has_rate = true;
		return -1;
	case 'p':
		t->purge = true;
		return -1;
	}
	return EXIT_USAGE;
}

static void print_hosts(json_object *reply)
{
	json_object *arr = jget(reply, "hosts");
	struct table t = { .ncols = 10, .right = { false, false, true, true, true, true, false,
						   false, true, false } };
	const char *hdr[] = { "ADDRESS", "TENANT", "CONNS", "PACKETS", "BYTES", "CONN/MIN",
			      "VERDICT", "BY", "DROPS", "EXPIRES" };
	double total;

	tbl_add(&t, hdr);
	for (size_t i = 0; arr && json_object_is_type(arr, json_type_array) &&
			   i < json_object_array_length(arr); i++) {
		json_object *v = json_object_array_get_idx(arr, i);
		char a[RG_PRINTABLE_MAX + 4], tn[RG_PRINTABLE_MAX + 4], n1[32], n2[32], n3[32];
		char n4[32], n5[32], vd[64], og[RG_PRINTABLE_MAX + 4], ex[32], idb[32];
		const char *verdict = jstr(v, "verdict");
		double rate;
		const char *row[10];

		row[0] = safe(jstr(v, "address"), a);
		if (jstr(v, "tenant")) {
			row[1] = safe(jstr(v, "tenant"), tn);
		} else {
			double id;

			if (jnum(v, "tenant_id", &id) && id > 0)
				snprintf(idb, sizeof(idb), "#%.0f", id);
			else
				snprintf(idb, sizeof(idb), "-");
			row[1] = idb;
		}
		row[2] = fmt_num(v, "connections", n1, sizeof(n1));
		row[3] = fmt_num(v, "packets", n2, sizeof(n2));
		row[4] = fmt_bytes(v, "bytes", n3, sizeof(n3));
		row[5] = fmt_num(v, "conn_rate_per_min", n4, sizeof(n4));
		if (verdict && !strcmp(verdict, "throttle") && jnum(v, "rate_per_min", &rate))
			snprintf(vd, sizeof(vd), "throttle %.1f/min", rate);
		else
			snprintf(vd, sizeof(vd), "%.12s", verdict ? verdict : "-");
		for (char *p = vd; *p; p++)
			if (*p < 0x20 || *p > 0x7e)
				*p = '?';
		row[6] = vd;
		row[7] = jstr(v, "origin") ? safe(jstr(v, "origin"), og) : "-";
		row[8] = fmt_num(v, "drops", n5, sizeof(n5));
		row[9] = verdict && strcmp(verdict, "none") ?
			 fmt_time(v, "expires", "never", ex, sizeof(ex)) : "-";
		tbl_add(&t, row);
	}
	tbl_print(&t);
	if (jnum(reply, "total", &total) && arr &&
	    (size_t)total > json_object_array_length(arr))
		printf("(%zu of %.0f hosts; --top N for more, --top 0 for all)\n",
		       json_object_array_length(arr), total);
}

static int do_hosts(int argc, char **argv)
{
	const struct cmd *c = find_cmd("hosts");
	static const struct option extra[] = { { "top", required_argument, NULL, 't' } };
	struct top_opt t = { .top = DEFAULT_TOP, .cmd = c };
	struct opt_ctx oc = { .cmd = c, .cb = opt_cb, .ctx = &t };
	json_object *req, *reply = NULL;
	int first, ret;

	ret = parse_opts(argc, argv, extra, 1, &oc, &first);
	if (ret >= 0)
		return ret;
	if (first != argc)
		return usage_error(c, "takes no arguments");
	req = json_object_new_object();
	json_object_object_add(req, "cmd", json_object_new_string("hosts"));
	json_object_object_add(req, "top", json_object_new_int64((int64_t)t.top));
	ret = agent_call(req, &reply, true);
	if (ret == EXIT_UNREACHABLE) {
		note_direct();
		ret = hosts_direct(t.top, &reply);
	} else if (ret == EXIT_PERM) {
		report_connect_failure(ret);
	}
	if (ret != EXIT_OK)
		return ret;
	ret = reply_failed(reply);
	if (ret == EXIT_OK) {
		if (g.json)
			print_json(reply);
		else
			print_hosts(reply);
	}
	json_object_put(reply);
	return ret;
}

/* block / throttle / unblock host */

static void print_verdict_reply(json_object *reply, const char *what, const char *canon)
{
	char b1[RG_PRINTABLE_MAX + 4], b2[32];
	const char *host = jstr(reply, "host") ? jstr(reply, "host") : canon;

	if (g.json) {
		print_json(reply);
		return;
	}
	if (!strcmp(what, "unblocked"))
		printf("%s %s\n", jbool(reply, "already") ? "already unblocked:" : "unblocked",
		       safe(host, b1));
	else
		printf("%s %s until %s\n", what, safe(host, b1),
		       fmt_time(reply, "expires", "unblocked", b2, sizeof(b2)));
}

static int verdict_direct(const char *cmdname, const struct rg_cidr *cidr, const char *canon,
			  const struct top_opt *t, json_object **out)
{
	struct rg_verdict v = { .origin = RG_ORIGIN_OPERATOR };
	struct rg_bpf *b = NULL;
	int ret, err;

	ret = open_maps(&b);
	if (ret != EXIT_OK)
		return ret;
	*out = json_object_new_object();
	json_object_object_add(*out, "ok", json_object_new_boolean(1));
	json_object_object_add(*out, "source", json_object_new_string("pinned_maps"));
	json_object_object_add(*out, "host", json_object_new_string(canon));
	if (!strcmp(cmdname, "unblock_host")) {
		err = rg_bpf_verdict_delete(b, cidr);
		/* No verdict there: already unblocked, as the agent answers too. */
		json_object_object_add(*out, "already", json_object_new_boolean(err == -ENOENT));
		if (err == -ENOENT)
			err = 0;
		json_object_object_add(*out, "verdict", json_object_new_string(rg_verdict_action_name(RG_ACT_NONE)));
	} else {
		if (t->has_for && t->for_ns)
			v.expires_ns = rg_time_after_ns(rg_now_mono_ns(), t->for_ns);
		if (!strcmp(cmdname, "block_host")) {
			v.action = RG_ACT_BLOCK;
		} else {
			struct rg_gcra gcra;

			/* The agent's rule (gcra.h), so the agent adopts it unchanged. */
			v.action = RG_ACT_THROTTLE;
			rg_gcra_from_rate(&t->rate, &gcra);	/* count and period > 0 */
			v.interval_ns = gcra.interval_ns;
			v.burst_ns = gcra.burst_ns;
		}
		err = rg_bpf_verdict_set(b, cidr, &v);
		json_object_object_add(*out, "verdict",
				       json_object_new_string(rg_verdict_action_name((enum rg_action)v.action)));
		json_object_object_add(*out, "expires", mono_to_unix(v.expires_ns));
	}
	rg_bpf_close(b);
	if (err) {
		json_object_put(*out);
		*out = NULL;
		errx_msg("cannot write the verdict maps in %s: %s", pin_dir(), strerror(-err));
		return err == -EPERM ? EXIT_PERM : EXIT_AGENT;
	}
	if (!jget(*out, "error"))
		fprintf(stderr, "relayguardctl: written to the kernel maps only; relayguardd "
			"finds it there when it starts\n");
	return EXIT_OK;
}

static int host_verdict_cmd(const char *name, const char *wire, const char *done, int argc,
			    char **argv)
{
	const struct cmd *c = find_cmd(name);
	static const struct option extra[] = {
		{ "for", required_argument, NULL, 'f' },
		{ "rate", required_argument, NULL, 'r' },
	};
	struct top_opt t = { .cmd = c };
	struct opt_ctx oc = { .cmd = c, .cb = opt_cb, .ctx = &t };
	bool is_unblock = !strcmp(wire, "unblock_host"), is_throttle = !strcmp(wire,
									     "throttle_host");
	char canon[RG_ADDR_STRLEN];
	struct rg_cidr cidr;
	json_object *req, *reply = NULL;
	const char *target;
	int first, ret;

	ret = parse_opts(argc, argv, extra, is_unblock ? 0 : is_throttle ? 2 : 1, &oc, &first);
	if (ret >= 0)
		return ret;
	ret = want_object(c, argc, argv, first, "host", &target);
	if (ret >= 0)
		return ret;
	if (is_throttle && !t.has_rate)
		return usage_error(c, "--rate N/UNIT is required");
	ret = parse_target(target, &cidr, canon, sizeof(canon));
	if (ret >= 0)
		return ret;

	req = json_object_new_object();
	json_object_object_add(req, "cmd", json_object_new_string(wire));
	json_object_object_add(req, "host", json_object_new_string(canon));
	if (t.has_for)
		json_object_object_add(req, "for_s",
				       json_object_new_int64((int64_t)(t.for_ns / 1000000000ull)));
	if (is_throttle) {
		json_object_object_add(req, "rate_count",
				       json_object_new_int64((int64_t)t.rate.count));
		json_object_object_add(req, "rate_period_s", json_object_new_int64(
				       (int64_t)(t.rate.period_ns / 1000000000ull)));
	}
	ret = agent_call(req, &reply, true);
	if (ret == EXIT_UNREACHABLE) {
		note_direct();
		ret = verdict_direct(wire, &cidr, canon, &t, &reply);
	} else if (ret == EXIT_PERM) {
		report_connect_failure(ret);
	}
	if (ret != EXIT_OK)
		return ret;
	ret = reply_failed(reply);
	if (ret == EXIT_OK)
		print_verdict_reply(reply, done, canon);
	json_object_put(reply);
	return ret;
}

static int do_block(int argc, char **argv)
{
	return host_verdict_cmd("block", "block_host", "blocked", argc, argv);
}

static int do_throttle(int argc, char **argv)
{
	return host_verdict_cmd("throttle", "throttle_host", "throttled", argc, argv);
}

/* tenant restrict / unblock */

static int tenant_cmd(const struct cmd *c, const char *wire, int argc, char **argv, int first)
{
	char b1[RG_PRINTABLE_MAX + 4], b2[32];
	json_object *req, *reply;
	const char *name;
	int ret;

	ret = want_object(c, argc, argv, first, "tenant", &name);
	if (ret >= 0)
		return ret;
	if (!rg_config_tenant_name_ok(name)) {
		errx_msg("bad tenant name \"%s\": 1 to %d of A-Z a-z 0-9 . _ -",
			 rg_printable(name, strlen(name), b1), RG_TENANT_NAME_MAX - 1);
		return EXIT_USAGE;
	}
	req = json_object_new_object();
	json_object_object_add(req, "cmd", json_object_new_string(wire));
	json_object_object_add(req, "tenant", json_object_new_string(name));
	ret = agent_call(req, &reply, false);
	if (ret != EXIT_OK)
		return ret;
	ret = reply_failed(reply);
	if (ret == EXIT_OK) {
		if (g.json)
			print_json(reply);
		else if (!strcmp(wire, "restrict_tenant"))
			printf("%s tenant %s until %s\n",
			       jbool(reply, "already") ? "already restricted:" : "restricted", name,
			       fmt_time(reply, "until", "unblocked", b2, sizeof(b2)));
		else
			printf("%s tenant %s (fresh budget; its flood blocks lifted)\n",
			       jbool(reply, "already") ? "already unblocked:" : "unblocked", name);
	}
	json_object_put(reply);
	return ret;
}

static int do_restrict(int argc, char **argv)
{
	const struct cmd *c = find_cmd("restrict");
	struct opt_ctx oc = { .cmd = c };
	int first, ret;

	ret = parse_opts(argc, argv, NULL, 0, &oc, &first);
	if (ret >= 0)
		return ret;
	return tenant_cmd(c, "restrict_tenant", argc, argv, first);
}

static int do_unblock(int argc, char **argv)
{
	const struct cmd *c = find_cmd("unblock");
	struct opt_ctx oc = { .cmd = c };
	int first, ret;

	/* "unblock host" has the host options; look at the object word first. */
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "host"))
			return host_verdict_cmd("unblock", "unblock_host", "unblocked", argc,
						argv);
		if (!strcmp(argv[i], "tenant"))
			break;
	}
	ret = parse_opts(argc, argv, NULL, 0, &oc, &first);
	if (ret >= 0)
		return ret;
	if (first < argc && !strcmp(argv[first], "tenant"))
		return tenant_cmd(c, "unblock_tenant", argc, argv, first);
	return usage_error(c, "unblock what? host ADDR[/LEN] or tenant NAME");
}

static int do_reload(int argc, char **argv)
{
	const struct cmd *c = find_cmd("reload");
	struct opt_ctx oc = { .cmd = c };
	json_object *req, *reply;
	char b1[32], b2[RG_PRINTABLE_MAX + 4];
	int first, ret;

	ret = parse_opts(argc, argv, NULL, 0, &oc, &first);
	if (ret >= 0)
		return ret;
	if (first != argc)
		return usage_error(c, "takes no arguments");
	req = json_object_new_object();
	json_object_object_add(req, "cmd", json_object_new_string("reload"));
	ret = agent_call(req, &reply, false);
	if (ret != EXIT_OK)
		return ret;
	ret = reply_failed(reply);
	if (ret == EXIT_OK) {
		json_object *keys = jget(reply, "restart_keys");
		size_t nk = keys && json_object_is_type(keys, json_type_array) ?
			    json_object_array_length(keys) : 0;
		double nt = 0;

		jnum(reply, "tenants", &nt);
		if (g.json) {
			print_json(reply);
		} else {
			printf("reloaded (%s tenant%s)\n", fmt_num(reply, "tenants", b1, sizeof(b1)),
			       nt == 1 ? "" : "s");
			if (nk)
				printf("not applied, restart relayguardd for:");
			for (size_t i = 0; i < nk; i++)
				printf(" %s", safe(json_object_get_string(
					json_object_array_get_idx(keys, i)), b2));
			if (nk)
				putchar('\n');
		}
		/* Not everything the file says is in force: scripts must notice. */
		if (nk)
			ret = EXIT_RESTART;
	}
	json_object_put(reply);
	return ret;
}

static int do_detach(int argc, char **argv)
{
	const struct cmd *c = find_cmd("detach");
	static const struct option extra[] = { { "purge", no_argument, NULL, 'p' } };
	struct top_opt t = { .cmd = c };
	struct opt_ctx oc = { .cmd = c, .cb = opt_cb, .ctx = &t };
	struct rg_config *cfg;
	int first, ret, fd, err;

	ret = parse_opts(argc, argv, extra, 1, &oc, &first);
	if (ret >= 0)
		return ret;
	if (first != argc)
		return usage_error(c, "takes no arguments");
	/* The agent would attach again on its next reload: stop it first. */
	ret = agent_connect(&fd);
	if (ret == EXIT_OK) {
		close(fd);
		errx_msg("relayguardd is running (%s): stop it first, then detach", socket_path());
		return EXIT_AGENT;
	}
	cfg = config();
	if (!cfg || !cfg->n_interfaces) {
		errx_msg("detach needs the interfaces from the configuration: none found in %s "
			 "(-c FILE)", g.config_path);
		return EXIT_USAGE;
	}
	err = rg_bpf_detach(pin_dir(), (const char *const *)cfg->interfaces, cfg->n_interfaces,
			    t.purge);
	if (err) {
		errx_msg("detach: %s", strerror(-err));
		return err == -EPERM || err == -EACCES ? EXIT_PERM : EXIT_AGENT;
	}
	if (g.json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "ok", json_object_new_boolean(1));
		json_object_object_add(o, "purged", json_object_new_boolean(t.purge));
		print_json(o);
		json_object_put(o);
	} else {
		printf("detached from %zu interface%s%s\n", cfg->n_interfaces,
		       cfg->n_interfaces == 1 ? "" : "s",
		       t.purge ? "; pinned maps removed" : "; pinned maps kept");
	}
	return EXIT_OK;
}

static int postfix_opt_cb(int opt, const char *arg, void *ctx)
{
	*(const char **)ctx = arg;
	return -1;
}

/* Every smtpd service on a port in smtp_ports must ask relayguard before any permit. */
static int do_check_postfix(int argc, char **argv)
{
	const struct cmd *c = find_cmd("check-postfix");
	static const struct option extra[] = {
		{ "postfix-config", required_argument, NULL, 'P' },
	};
	const char *dir = NULL;
	struct opt_ctx oc = { .cmd = c, .cb = postfix_opt_cb, .ctx = &dir };
	struct rg_pf_input in;
	struct rg_pf_report r;
	struct rg_config *cfg;
	char line[512];
	int first, ret, err;

	ret = parse_opts(argc, argv, extra, 1, &oc, &first);
	if (ret >= 0)
		return ret;
	if (first != argc)
		return usage_error(c, "takes no arguments");
	cfg = config();
	if (!cfg) {
		errx_msg("check-postfix needs policy_listen and smtp_ports (-c FILE)");
		return EXIT_USAGE;
	}
	err = rg_pf_read(dir, &in);
	if (err) {
		errx_msg("check-postfix: %s", err == -ENOENT ? "postconf not found (is Postfix "
			 "installed?)" : err == -EIO ? "postconf failed" : strerror(-err));
		return EXIT_AGENT;
	}
	err = rg_pf_check(&in, (const char *const *)cfg->policy_listen, cfg->n_policy_listen,
			  cfg->smtp_ports, cfg->n_smtp_ports, &r);
	rg_pf_input_free(&in);
	if (err) {
		errx_msg("check-postfix: %s", strerror(-err));
		return EXIT_AGENT;
	}
	if (g.json) {
		json_object *o = json_object_new_object(), *a = json_object_new_array();

		json_object_object_add(o, "ok", json_object_new_boolean(!r.n_findings));
		json_object_object_add(o, "services_checked",
				       json_object_new_int64((int64_t)r.n_services));
		for (size_t i = 0; i < r.n_findings; i++) {
			const struct rg_pf_finding *f = &r.findings[i];
			json_object *fo = json_object_new_object();

			rg_pf_finding_format(f, line, sizeof(line));
			json_object_object_add(fo, "service", json_object_new_string(f->service));
			json_object_object_add(fo, "type", json_object_new_string(f->type));
			json_object_object_add(fo, "port", json_object_new_int((int)f->port));
			json_object_object_add(fo, "problem",
					       json_object_new_string(rg_pf_problem_name(f->problem)));
			json_object_object_add(fo, "parameter", f->param[0] ?
					       json_object_new_string(f->param) : NULL);
			json_object_object_add(fo, "detail", f->detail[0] ?
					       json_object_new_string(f->detail) : NULL);
			json_object_object_add(fo, "message", json_object_new_string(line));
			json_object_array_add(a, fo);
		}
		json_object_object_add(o, "findings", a);
		print_json(o);
		json_object_put(o);
	} else if (!r.n_findings) {
		printf("%zu smtpd service%s on smtp_ports ask relayguard before any permit\n",
		       r.n_services, r.n_services == 1 ? "" : "s");
	}
	for (size_t i = 0; !g.json && i < r.n_findings; i++) {
		rg_pf_finding_format(&r.findings[i], line, sizeof(line));
		printf("%s\n", line);
	}
	ret = r.n_findings ? EXIT_AGENT : EXIT_OK;
	rg_pf_report_free(&r);
	return ret;
}

/* --json promises an object on stdout: a failure found before (or without) a reply from
 * the agent gets one too, with the code its exit status stands for. */
static void print_client_error(int exit_code)
{
	static const char *const codes[] = {
		[EXIT_AGENT] = RG_CTL_E_INTERNAL, [EXIT_USAGE] = "usage",
		[EXIT_UNREACHABLE] = RG_CTL_E_UNAVAILABLE, [EXIT_PERM] = RG_CTL_E_PERM,
		[EXIT_RESTART] = "restart_needed",
	};
	json_object *o = json_object_new_object();
	const char *code = exit_code > 0 && (size_t)exit_code < sizeof(codes) / sizeof(codes[0]) &&
			   codes[exit_code] ? codes[exit_code] : RG_CTL_E_INTERNAL;

	json_object_object_add(o, "ok", json_object_new_boolean(0));
	json_object_object_add(o, "error", json_object_new_string(g.first_error[0] ?
				g.first_error : "usage error"));
	json_object_object_add(o, "code", json_object_new_string(code));
	json_object_object_add(o, "source", json_object_new_string("relayguardctl"));
	print_json(o);
	json_object_put(o);
}

static void usage(FILE *f);

static int do_help(int argc, char **argv)
{
	const struct cmd *c;

	if (argc > 1 && (c = find_cmd(argv[1]))) {
		cmd_usage(stdout, c);
		return EXIT_OK;
	}
	usage(stdout);
	return argc > 1 ? EXIT_USAGE : EXIT_OK;
}

static const struct cmd cmds[] = {
	{ "status", do_status, "status [--json]",
	  "the agent: attachment, mode, map fill levels, policy connections, counts" },
	{ "tenants", do_tenants, "tenants [--json]",
	  "every tenant: state, counts in the window, limit, restriction" },
	{ "hosts", do_hosts, "hosts [--top N] [--json]",
	  "source hosts and CIDR verdicts, most active first (default top 50, 0: all); works "
	  "without the agent" },
	{ "block", do_block, "block host ADDR[/LEN] [--for DURATION] [--json]",
	  "drop the host's (or prefix's) new SMTP connections in the kernel" },
	{ "throttle", do_throttle,
	  "throttle host ADDR[/LEN] --rate N/UNIT [--for DURATION] [--json]",
	  "limit the host's new SMTP connections to a rate (e.g. 10/1m)" },
	{ "unblock", do_unblock, "unblock host ADDR[/LEN] | unblock tenant NAME [--json]",
	  "lift a host's block or throttle, or a tenant's restriction" },
	{ "restrict", do_restrict, "restrict tenant NAME [--json]",
	  "refuse the tenant's unregistered-domain mail now" },
	{ "reload", do_reload, "reload [--json]",
	  "make the agent read its configuration again" },
	{ "fleet", do_fleet, "fleet [--json]",
	  "with [fleet]: the relays sharing this Redis, heartbeat age, link, queue, lag" },
	{ "detach", do_detach, "detach [--purge]",
	  "with the agent stopped: remove the program from the interfaces (--purge: and the "
	  "maps)" },
	{ "check-postfix", do_check_postfix, "check-postfix [--postfix-config DIR] [--json]",
	  "report smtpd services on smtp_ports that do not ask relayguard before any permit" },
	{ "help", do_help, "help [COMMAND]", "this text, or one command's" },
};

static const struct cmd *find_cmd(const char *name)
{
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(cmds[i].name, name))
			return &cmds[i];
	return NULL;
}

static void cmd_usage(FILE *f, const struct cmd *c)
{
	fprintf(f, "usage: relayguardctl [OPTIONS] %s\n  %s\n", c->usage, c->help);
	if (!strcmp(c->name, "block") || !strcmp(c->name, "throttle"))
		fprintf(f, "  DURATION: 30s, 15m, 1h, 1d (default: until unblocked)\n");
	if (!strcmp(c->name, "hosts") || !strcmp(c->name, "block") ||
	    !strcmp(c->name, "throttle") || !strcmp(c->name, "unblock"))
		fprintf(f, "  Without a running agent, reads/writes the pinned maps directly.\n");
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: relayguardctl [-c FILE] [--socket PATH] [--pin-dir DIR] COMMAND [ARGS]\n"
		"\n"
		"  -c, --config FILE   configuration (default " RG_DEFAULT_CONFIG ")\n"
		"      --socket PATH   the agent's control socket (default: control_socket)\n"
		"      --pin-dir DIR   the pinned BPF maps (default: pin_dir)\n"
		"      --json          print the reply as JSON (also after COMMAND)\n"
		"      --version       print the version and exit\n"
		"\ncommands:\n");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  %s\n      %s\n", cmds[i].usage, cmds[i].help);
	fprintf(f, "\nexit status: 0 ok, 1 refused or failed, 2 usage, 3 relayguardd not "
		"reachable, 4 permission denied, 5 reloaded but changed keys need a restart\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "pin-dir", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	const struct cmd *c;
	char b1[RG_PRINTABLE_MAX + 4];
	int opt, ret;

	g.config_path = RG_DEFAULT_CONFIG;
	rg_log_set_level(RG_LOG_WARN);
	/* Library messages (libbpf, the maps) read like relayguardctl's own. */
	rg_log_use_prefix("relayguardctl");
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:c:jh", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			g.config_path = optarg;
			g.config_explicit = true;
			break;
		case 's':
			g.socket_path = optarg;
			break;
		case 'p':
			g.pin_dir = optarg;
			break;
		case 'j':
			g.json = true;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		case 'V':
			printf("relayguardctl %s\n", RG_VERSION);
			return EXIT_OK;
		case ':':
			errx_msg("%s needs a value", argv[optind - 1] ? argv[optind - 1] : "option");
			usage(stderr);
			ret = EXIT_USAGE;
			goto out;
		default:
			errx_msg("bad option %s", argv[optind - 1] ? argv[optind - 1] : "");
			usage(stderr);
			ret = EXIT_USAGE;
			goto out;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		ret = EXIT_USAGE;
		goto out;
	}
	c = find_cmd(argv[optind]);
	if (!c) {
		errx_msg("unknown command \"%s\" (relayguardctl help lists them)",
			 rg_printable(argv[optind], strlen(argv[optind]), b1));
		ret = EXIT_USAGE;
		goto out;
	}
	/* An explicit -c that cannot be read at all is an error for every command. */
	if (g.config_explicit && !config()) {
		ret = EXIT_USAGE;
		goto out;
	}
	ret = c->fn(argc - optind, argv + optind);
out:
	if (g.json && ret != EXIT_OK && !g.printed)
		print_client_error(ret);
	rg_config_free(g.cfg);
	return ret;
}
