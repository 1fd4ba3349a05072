/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * names.h: the enums relayguard shows or reads by name (configuration values, replies,
 * logs, metrics labels, saved state) and one name table for each, used both ways: value
 * to name and name to value, as Postfix's name_code.c does. The kernel's verdict action
 * and origin (relayguard.h) and the log levels (log.h) are defined where their users
 * need them; their tables are here too.
 */
#ifndef RG_NAMES_H
#define RG_NAMES_H

#include <stddef.h>

#include <linux/types.h>

#include "relayguard.h"	/* enum rg_action, enum rg_origin */
#include "log.h"	/* enum rg_log_level */

/* [agent] attach_mode: what the agent asks for. */
enum rg_attach_mode { RG_ATTACH_AUTO, RG_ATTACH_NATIVE, RG_ATTACH_GENERIC, RG_ATTACH_TC };
/* What is attached to one interface, as found through the pins. */
enum rg_bpf_attach_kind { RG_BPF_NONE, RG_BPF_XDP_NATIVE, RG_BPF_XDP_GENERIC, RG_BPF_TC };
enum rg_mode { RG_MODE_ENFORCE, RG_MODE_MONITOR };
enum rg_fail_mode { RG_FAIL_OPEN, RG_FAIL_CLOSED };

/* The reply to Postfix (its text: rg_action_reply(), classify.h). */
enum rg_reply {
	RG_REPLY_DUNNO = 0,
	RG_REPLY_REJECT = 1,	/* 550 5.7.750 ... */
	RG_REPLY_TEMPFAIL = 2,	/* 451 4.3.5 ... (fail_mode closed, could not decide) */
	RG_REPLY_HOLD = 3,	/* HOLD 5.7.750 ... (over_budget_action = hold) */
	RG_REPLY_DEFER = 4,	/* 450 4.7.750 ... (over_budget_action = defer) */
	RG_REPLY__COUNT
};

/* over_budget_action: what a restricted tenant's unregistered mail gets. */
enum rg_over_budget { RG_OVER_REJECT, RG_OVER_HOLD, RG_OVER_DEFER };

/* The sender class of a policy request. */
enum rg_class {
	RG_CLASS_NONE = 0,		/* no envelope yet (CONNECT/HELO/EHLO/...) or no decision */
	RG_CLASS_UNASSIGNED,		/* client_address in no connector: DUNNO */
	RG_CLASS_NULL_SENDER,		/* <>: exempt */
	RG_CLASS_REGISTERED,
	RG_CLASS_UNREGISTERED,
	RG_CLASS_INVALID,		/* sender does not parse: counts as unregistered */
	RG_CLASS__COUNT
};

/* How a request found its tenant, first match wins in this order (README "Tenant
 * attribution"): SASL login, certificate fingerprint, certificate subject, connector. */
enum rg_match {
	RG_MATCH_NONE = 0,		/* unassigned */
	RG_MATCH_SASL,
	RG_MATCH_CERT_FINGERPRINT,
	RG_MATCH_CERT_SUBJECT,
	RG_MATCH_CONNECTOR,
	RG_MATCH__COUNT
};

/* One row of a table; a table ends with { NULL, 0 }. */
struct rg_name_code {
	const char *name;
	int code;
};

extern const struct rg_name_code rg_attach_mode_names[];	/* auto native generic tc */
extern const struct rg_name_code rg_attach_kind_names[];	/* none xdp-native xdp-generic tc */
extern const struct rg_name_code rg_bool_names[];		/* yes no */
extern const struct rg_name_code rg_mode_names[];		/* enforce monitor */
extern const struct rg_name_code rg_fail_mode_names[];		/* open closed */
extern const struct rg_name_code rg_log_level_names[];		/* err warn info debug */
extern const struct rg_name_code rg_reply_names[];	/* dunno reject tempfail hold defer */
extern const struct rg_name_code rg_over_budget_names[];	/* reject hold defer */
extern const struct rg_name_code rg_class_names[];	/* none unassigned null_sender ... */
extern const struct rg_name_code rg_action_names[];		/* none block throttle */
extern const struct rg_name_code rg_origin_names[];		/* operator flood conn_rate */
extern const struct rg_name_code rg_match_names[];	/* none sasl cert_fingerprint ... */

/* The code of name (exact, case-sensitive): 0 and *code, or -ENOENT. */
int rg_name_code(const struct rg_name_code *table, const char *name, int *code);
/* The name of code, or NULL when the table has none. */
const char *rg_str_name_code(const struct rg_name_code *table, int code);
/* "a, b or c": the names, for a message that lists the choices. Returns buf. */
char *rg_name_code_choices(const struct rg_name_code *table, char *buf, size_t len);

/* The name of each value; "unknown" for a value outside its table (a map written by
 * hand can hold any number). */
#define RG_NAME_UNKNOWN "unknown"
const char *rg_attach_mode_name(enum rg_attach_mode m);
const char *rg_attach_kind_name(enum rg_bpf_attach_kind k);
const char *rg_mode_name(enum rg_mode m);
const char *rg_fail_mode_name(enum rg_fail_mode m);
const char *rg_match_name(enum rg_match m);
const char *rg_reply_name(enum rg_reply r);
const char *rg_over_budget_name(enum rg_over_budget o);
const char *rg_class_name(enum rg_class c);
const char *rg_verdict_action_name(enum rg_action a);
const char *rg_origin_name(enum rg_origin o);

#endif /* RG_NAMES_H */
