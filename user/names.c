// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * names.c: one name table per enum (names.h) and the two lookups over any of them. Takes
 * a table and a name or a value; reports the other, or that the table has none.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "names.h"

const struct rg_name_code rg_attach_mode_names[] = {
	{ "auto", RG_ATTACH_AUTO },
	{ "native", RG_ATTACH_NATIVE },
	{ "generic", RG_ATTACH_GENERIC },
	{ "tc", RG_ATTACH_TC },
	{ NULL, 0 },
};

const struct rg_name_code rg_attach_kind_names[] = {
	{ "none", RG_BPF_NONE },
	{ "xdp-native", RG_BPF_XDP_NATIVE },
	{ "xdp-generic", RG_BPF_XDP_GENERIC },
	{ "tc", RG_BPF_TC },
	{ NULL, 0 },
};

const struct rg_name_code rg_bool_names[] = {
	{ "yes", 1 },
	{ "no", 0 },
	{ NULL, 0 },
};

const struct rg_name_code rg_mode_names[] = {
	{ "enforce", RG_MODE_ENFORCE },
	{ "monitor", RG_MODE_MONITOR },
	{ NULL, 0 },
};

const struct rg_name_code rg_fail_mode_names[] = {
	{ "open", RG_FAIL_OPEN },
	{ "closed", RG_FAIL_CLOSED },
	{ NULL, 0 },
};

const struct rg_name_code rg_log_level_names[] = {
	{ "err", RG_LOG_ERR },
	{ "warn", RG_LOG_WARN },
	{ "info", RG_LOG_INFO },
	{ "debug", RG_LOG_DEBUG },
	{ NULL, 0 },
};

const struct rg_name_code rg_reply_names[] = {
	{ "dunno", RG_REPLY_DUNNO },
	{ "reject", RG_REPLY_REJECT },
	{ "tempfail", RG_REPLY_TEMPFAIL },
	{ "hold", RG_REPLY_HOLD },
	{ "defer", RG_REPLY_DEFER },
	{ NULL, 0 },
};

const struct rg_name_code rg_over_budget_names[] = {
	{ "reject", RG_OVER_REJECT },
	{ "hold", RG_OVER_HOLD },
	{ "defer", RG_OVER_DEFER },
	{ NULL, 0 },
};

const struct rg_name_code rg_class_names[] = {
	{ "none", RG_CLASS_NONE },
	{ "unassigned", RG_CLASS_UNASSIGNED },
	{ "null_sender", RG_CLASS_NULL_SENDER },
	{ "registered", RG_CLASS_REGISTERED },
	{ "unregistered", RG_CLASS_UNREGISTERED },
	{ "invalid", RG_CLASS_INVALID },
	{ NULL, 0 },
};

const struct rg_name_code rg_action_names[] = {
	{ "none", RG_ACT_NONE },
	{ "block", RG_ACT_BLOCK },
	{ "throttle", RG_ACT_THROTTLE },
	{ NULL, 0 },
};

const struct rg_name_code rg_origin_names[] = {
	{ "operator", RG_ORIGIN_OPERATOR },
	{ "flood", RG_ORIGIN_FLOOD },
	{ "conn_rate", RG_ORIGIN_CONN_RATE },
	{ NULL, 0 },
};

const struct rg_name_code rg_match_names[] = {
	{ "none", RG_MATCH_NONE },
	{ "sasl", RG_MATCH_SASL },
	{ "cert_fingerprint", RG_MATCH_CERT_FINGERPRINT },
	{ "cert_subject", RG_MATCH_CERT_SUBJECT },
	{ "connector", RG_MATCH_CONNECTOR },
	{ NULL, 0 },
};

int rg_name_code(const struct rg_name_code *table, const char *name, int *code)
{
	for (; name && table->name; table++) {
		if (!strcmp(table->name, name)) {
			*code = table->code;
			return 0;
		}
	}
	return -ENOENT;
}

const char *rg_str_name_code(const struct rg_name_code *table, int code)
{
	for (; table->name; table++)
		if (table->code == code)
			return table->name;
	return NULL;
}

char *rg_name_code_choices(const struct rg_name_code *table, char *buf, size_t len)
{
	size_t n = 0;

	if (!len)
		return buf;
	buf[0] = '\0';
	for (const struct rg_name_code *t = table; t->name && n < len; t++) {
		const char *sep = t == table ? "" : t[1].name ? ", " : " or ";
		int w = snprintf(buf + n, len - n, "%s%s", sep, t->name);

		if (w < 0)
			break;
		n += (size_t)w;
	}
	return buf;
}

static const char *name_or_unknown(const struct rg_name_code *table, int code)
{
	const char *s = rg_str_name_code(table, code);

	return s ? s : RG_NAME_UNKNOWN;
}

/* Each enum's own function, so callers keep their type checking. */
#define NAME_OF(fn, type, table)						\
	const char *fn(type v)							\
	{									\
		return name_or_unknown(table, (int)v);				\
	}

NAME_OF(rg_attach_mode_name, enum rg_attach_mode, rg_attach_mode_names)
NAME_OF(rg_attach_kind_name, enum rg_bpf_attach_kind, rg_attach_kind_names)
NAME_OF(rg_mode_name, enum rg_mode, rg_mode_names)
NAME_OF(rg_fail_mode_name, enum rg_fail_mode, rg_fail_mode_names)
NAME_OF(rg_reply_name, enum rg_reply, rg_reply_names)
NAME_OF(rg_over_budget_name, enum rg_over_budget, rg_over_budget_names)
NAME_OF(rg_class_name, enum rg_class, rg_class_names)
NAME_OF(rg_verdict_action_name, enum rg_action, rg_action_names)
NAME_OF(rg_origin_name, enum rg_origin, rg_origin_names)
NAME_OF(rg_match_name, enum rg_match, rg_match_names)
