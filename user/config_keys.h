/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * config_keys.h: the keys of [agent], [limits], [fleet] (and of [tenant], which may override
 * any [limits] key), each described once in a table row: name, type, where its value
 * lives, default, range, and whether a reload applies a change (in the manner of
 * Postfix's CONFIG_INT_TABLE). The loader (config.c) parses with rg_key_set(), the
 * defaults are parsed from the same rows, and rg_config_restart_keys() compares by them.
 * Private to the configuration module.
 */
#ifndef RG_CONFIG_KEYS_H
#define RG_CONFIG_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

enum rg_key_type {
	RG_KT_U64,	/* decimal in min..max */
	RG_KT_MASK,	/* a 32-bit mask, decimal or 0x hex */
	RG_KT_PREFIX,	/* a prefix length in min..max */
	RG_KT_DURATION,	/* rg_parse_duration(); min 1: must be more than 0 */
	RG_KT_RATE,	/* rg_parse_rate() */
	RG_KT_ENUM,	/* one of names */
	RG_KT_PATH,	/* an absolute path; max > 0: a unix socket path shorter than max;
			 * a row whose default is "" may be set empty: off (NULL) */
	RG_KT_LISTEN,	/* inet:HOST:PORT, or empty: off (NULL) */
	RG_KT_IFACES,	/* lists: the first setting replaces the default, repeats append */
	RG_KT_PORTS,
	RG_KT_LISTENS,	/* unix:PATH or inet:HOST:PORT */
	RG_KT_CIDRS,	/* ADDR or ADDR/LEN (host bits clear), into struct rg_cidr[] */
	RG_KT_USER,	/* a user name: [a-z_][a-z0-9_-]*, at most 32 characters */
	RG_KT_ENDPOINT,	/* one unix:PATH or inet:HOST:PORT */
	RG_KT_NAME,	/* [A-Za-z0-9._-], 1..RG_FLEET_NAME_MAX - 1: a Redis key part or id */
	RG_KT_MAILTO,	/* mail addresses into a char[size], one space between; empty: none */
	RG_KT__N
};

struct rg_key_def {
	const char *name;
	enum rg_key_type type;
	size_t off, size;	/* the field in struct rg_config or struct rg_limits */
	size_t off_n;		/* lists: offset of the size_t count of entries */
	const char *def;	/* the default, parsed like a value; NULL: none */
	uint64_t min, max;
	const struct rg_name_code *names; /* RG_KT_ENUM: its table (names.h) */
	bool reload;		/* a reload applies a change of it */
};

#define RG_AGENT_KEYS_N 30	/* rows of rg_agent_keys */
#define RG_LIMIT_KEYS_N 8	/* rows of rg_limit_keys */
#define RG_FLEET_KEYS_N 11	/* rows of rg_fleet_keys */

extern const struct rg_key_def rg_agent_keys[];
extern const struct rg_key_def rg_limit_keys[];
extern const struct rg_key_def rg_fleet_keys[];	/* fields of struct rg_config */

/* Reports one problem with the value, without FILE:LINE (the caller adds them). */
typedef void rg_key_report_fn(void *ctx, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The row of name in tab, or NULL. */
const struct rg_key_def *rg_key_find(const struct rg_key_def *tab, size_t n, const char *name);

static inline bool rg_key_is_list(const struct rg_key_def *d)
{
	return d->type == RG_KT_IFACES || d->type == RG_KT_PORTS || d->type == RG_KT_LISTENS ||
	       d->type == RG_KT_CIDRS;
}

/*
 * Parse val into d's field of base (a struct rg_config for [agent] rows, a struct
 * rg_limits for [limits] rows). Lists are split in place and restored. 0 when the value
 * was taken whole, -EINVAL when report() was called, -ENOMEM.
 */
int rg_key_set(const struct rg_key_def *d, void *base, char *val, rg_key_report_fn *report,
	       void *ctx);

/* Free what d's field of base owns (strings, lists of strings). */
void rg_key_free(const struct rg_key_def *d, void *base);

/* Decimal without sign or spaces: 0, -EINVAL or -ERANGE. */
int rg_parse_u64(const char *s, uint64_t *out);

#endif /* RG_CONFIG_KEYS_H */
