/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * config.h: relayguard.conf (relayguard.conf(5)): INI sections [agent], [limits] and
 * [tenant NAME], includes by glob, durations, rates, CIDR and domain lists and files.
 * Loading is all or nothing: a configuration with any error is refused whole, and every
 * error is reported as "FILE:LINE: reason". A loaded configuration is immutable; reload
 * builds a new one and swaps it in.
 */
#ifndef RG_CONFIG_H
#define RG_CONFIG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cidr.h"
#include "domains.h"
#include "log.h"
#include "names.h"	/* enum rg_attach_mode, rg_mode, rg_fail_mode */
#include "tenant_auth.h"	/* RG_AUTH__KEYS */

#define RG_DEFAULT_CONFIG "/etc/relayguard/relayguard.conf"
#define RG_TENANT_NAME_MAX 64	/* [A-Za-z0-9._-], 1..63 chars */
#define RG_MAX_LISTEN 16
#define RG_MAX_IFACES 16
#define RG_MAX_ALLOW 64		/* policy_allow prefixes */
#define RG_MAX_SENTINELS 8	/* [fleet] sentinels */
#define RG_FLEET_NAME_MAX 64	/* relay_id, key_prefix, sentinel_master: 1..63 chars */
#define RG_CONFIG_FILE_MAX (16u << 20)	/* bytes per configuration file */
#define RG_DOMAINS_FILE_MAX (256u << 20) /* bytes per accepted_domains_file */
#define RG_CONFIG_INCLUDE_DEPTH 8	/* nested include levels */
#define RG_CONFIG_ERRORS_MAX 100	/* stored messages; then one "too many errors" */
#define RG_MAILTO_MAX 512		/* notify_mailto: bytes of the address list, NUL included */

/* A rate: count per period_ns (e.g. "600/1m"). */
struct rg_rate {
	uint64_t count;
	uint64_t period_ns;
};

/* Limits: [limits] holds defaults, any [tenant] may override any key. Durations in ns. */
struct rg_limits {
	uint64_t unregistered_limit;
	uint64_t unregistered_window_ns;
	uint64_t block_duration_ns;	/* 0: until an operator unblocks */
	uint64_t flood_limit;		/* rejected transactions per host per minute */
	uint64_t flood_block_time_ns;
	struct rg_rate connection_rate_limit; /* count 0: off */
	enum rg_over_budget over_budget_action;	/* reject (default) | hold | defer */
	/* Contacts told by the notifier (RG_MAILTO): addresses separated by one space, ""
	 * none. A fixed array, so a tenant's limits are copied whole with the defaults. */
	char notify_mailto[RG_MAILTO_MAX];
};

struct rg_tenant_conf {
	char name[RG_TENANT_NAME_MAX];
	struct rg_cidr *connectors;
	size_t n_connectors;
	size_t n_domains;		/* accepted-domain entries (inline and file) */
	size_t n_auth[RG_AUTH__KEYS];	/* sasl_users, cert_subjects, cert_fingerprints */
	struct rg_limits limits;	/* effective: defaults with this tenant's overrides */
	char *file;			/* where [tenant NAME] stands */
	int line;
};

/* One "FILE:LINE: reason" per error (or warning), in order. */
struct rg_config_errors {
	char **msgs;
	size_t n;
};

/* [fleet]: relays sharing budgets, restrictions and kernel verdicts through Redis. */
struct rg_fleet_conf {
	bool enabled;				/* a [fleet] section is present */
	char *redis;				/* "unix:PATH" or "inet:HOST:PORT" */
	char *redis_password_file;		/* NULL: no AUTH */
	uint32_t redis_db;
	char *sentinels[RG_MAX_SENTINELS];
	size_t n_sentinels;
	char *sentinel_master;
	char *relay_id;				/* default: the host name */
	char *key_prefix;			/* default relayguard */
	uint64_t redis_timeout_ns;		/* a budget step's deadline, default 50ms */
	uint64_t stream_maxlen;			/* PREFIX:events MAXLEN ~, default 100000 */
	uint64_t queue_max;			/* events held while Redis is away, 65536 */
	uint64_t heartbeat_ns;			/* PREFIX:relays update and link PING, 1s */
};

struct rg_config {
	char *path;

	/* [agent] */
	char *interfaces[RG_MAX_IFACES];
	size_t n_interfaces;
	enum rg_attach_mode attach_mode;
	uint16_t smtp_ports[8];
	size_t n_smtp_ports;
	char *policy_listen[RG_MAX_LISTEN];	/* "unix:PATH" or "inet:HOST:PORT" */
	size_t n_policy_listen;
	struct rg_cidr policy_allow[RG_MAX_ALLOW];	/* who may connect to inet listeners */
	size_t n_policy_allow;
	char *control_socket;
	char *metrics_listen;			/* NULL or "": off */
	char *state_dir;
	char *pin_dir;
	char *audit_log;			/* default: state_dir/audit.log */
	/* would_reject/reject of one tenant and host within it: counted, one line (0: all) */
	uint64_t audit_repeat_interval_ns;
	enum rg_mode mode;
	enum rg_fail_mode fail_mode;
	unsigned host_prefix_v4;		/* 1..32 */
	unsigned host_prefix_v6;		/* 1..128 */
	uint32_t host_table_size;		/* hosts LRU entries, default 1048576 */
	uint32_t flow_table_size;		/* flows LRU entries, default 262144 */
	uint32_t tenant_mark_mask;		/* TC: skb->mark bits for the tenant id; 0 off */
	uint32_t verdict_table_size;		/* verdict map entries, default 65536 */
	uint32_t connector_table_size;		/* connectors LPM entries, default 65536 */
	uint32_t max_policy_connections;	/* default 1024 */
	uint64_t policy_idle_timeout_ns;	/* default 5m (Postfix reuses connections) */
	uint64_t policy_request_timeout_ns;	/* default 10s: from first byte to empty line */
	enum rg_log_level log_level;		/* err | warn | info (default) | debug */
	char *user;				/* runs as this user; default relayguard */
	bool allow_privileged;			/* run on when the drop falls short */
	bool seccomp;				/* default yes: the syscall filter */
	char *notify_command;			/* NULL: notifications off */
	uint64_t notify_timeout_ns;		/* default 30s: then SIGTERM, SIGKILL */
	uint32_t notify_max_running;		/* default 4 commands at once */

	/* [limits] */
	struct rg_limits defaults;

	/* [fleet] */
	struct rg_fleet_conf fleet;

	/* [tenant NAME], in the order they appear */
	struct rg_tenant_conf *tenants;
	size_t n_tenants;
	/* All accepted domains, keyed by tenant index (position in tenants[]). */
	struct rg_domains *domains;
	/* Every connector CIDR -> tenant index. */
	struct rg_lpm *connectors;
	/* Every SASL login, certificate subject and fingerprint -> tenant index. */
	struct rg_tenant_auth *auth;

	/* Every file read (main, includes, domain files), in order; tenants' file points here. */
	char **files;
	size_t n_files;
	struct rg_name_index *tenant_index;	/* private to config.c: name -> tenant index */

	/*
	 * "FILE:LINE: warning: reason" for what loads but is probably a mistake: an interface
	 * that does not exist (in this network namespace), a tenant without connectors (nor
	 * SASL or certificate keys) or without accepted domains. At most RG_CONFIG_ERRORS_MAX, then one count.
	 */
	struct rg_config_errors warnings;
};

/*
 * Load and validate path. 0 and *out on success (with (*out)->warnings, possibly none);
 * on any error -EINVAL (or -ENOENT, -ENOMEM...) with every problem found appended to errs
 * (which the caller frees). A main file that cannot be opened is "FILE: cannot open: ...".
 */
int rg_config_load(const char *path, struct rg_config **out, struct rg_config_errors *errs);
/* The same, from another thread: gives up with -ECANCELED (no *out, nothing leaked) soon
 * after *cancel turns true, between two lines of whatever file it reads. */
int rg_config_load_cancel(const char *path, struct rg_config **out,
			  struct rg_config_errors *errs, const atomic_bool *cancel);
/*
 * The same, for readers that need only some keys (relayguardctl: the control socket, the
 * pin dir, the interfaces) even from a configuration with errors elsewhere: on -EINVAL
 * with errors in errs, *out is still set, holding every value that parsed (defaults for
 * the rest). A main file that cannot be read, or out of memory, gives no *out.
 */
int rg_config_load_partial(const char *path, struct rg_config **out,
			   struct rg_config_errors *errs);
void rg_config_free(struct rg_config *cfg);
void rg_config_errors_free(struct rg_config_errors *errs);
/* Append one formatted message (what a caller refuses after a load). 0 or -ENOMEM. */
int rg_config_errors_add(struct rg_config_errors *errs, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Index of tenant NAME in cfg->tenants, or -1. */
int rg_config_find_tenant(const struct rg_config *cfg, const char *name);
/* A tenant name is 1 to RG_TENANT_NAME_MAX - 1 of A-Z a-z 0-9 . _ - */
bool rg_config_tenant_name_ok(const char *name);

/*
 * The [agent] keys whose values differ between o and n and that a reload cannot apply
 * (they take effect on restart only), in the order of the key table: up to max names
 * (static strings) into keys. Returns how many there are, which may exceed max.
 */
size_t rg_config_restart_keys(const struct rg_config *o, const struct rg_config *n,
			      const char **keys, size_t max);

/* Connectors of all tenants together (each one entry of the kernel's map). */
size_t rg_config_n_connectors(const struct rg_config *cfg);

/* "30s", "15m", "1h", "1d", "0" (and plain seconds) -> ns. 0, -EINVAL, or -ERANGE when it
 * is longer than RG_DURATION_MAX_NS (106751d: now + it must fit a signed 64-bit time). */
int rg_parse_duration(const char *s, uint64_t *ns);
/* "600/1m", "10/s", "5/30s" -> rate; "0" (or any 0/PERIOD) is off: count 0. 0, -EINVAL,
 * or -ERANGE. */
int rg_parse_rate(const char *s, struct rg_rate *r);
/* true when a valid listen spec ("unix:PATH", "inet:HOST:PORT") is reachable only from this
 * host: unix sockets, 127.0.0.0/8, ::1, ::ffff:127.0.0.0/104 and the name "localhost". Any
 * other address, "*" and every other name are not (a name may resolve anywhere). */
bool rg_listen_is_loopback(const char *spec);
/* Format a duration back in the largest exact unit ("15m", "1h", "90s"). */
char *rg_format_duration(uint64_t ns, char *buf, size_t len);

#endif /* RG_CONFIG_H */
