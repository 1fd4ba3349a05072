// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * test_names.c: user/names.c: every table maps each of its names to a code and back,
 * names and codes are unique in a table, hostile names (empty, case, prefix, trailing
 * space, NULL) are not found, values outside a table name as "unknown", and the list of
 * choices reads "a, b or c".
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "names.h"

static const struct rg_name_code *const tables[] = {
	rg_attach_mode_names, rg_attach_kind_names, rg_mode_names, rg_fail_mode_names,
	rg_log_level_names, rg_reply_names, rg_class_names, rg_action_names, rg_origin_names,
	rg_match_names,
};

static void test_round_trip(void **state)
{
	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
		for (const struct rg_name_code *r = tables[t]; r->name; r++) {
			int code = -1;

			assert_int_equal(rg_name_code(tables[t], r->name, &code), 0);
			assert_int_equal(code, r->code);
			assert_string_equal(rg_str_name_code(tables[t], r->code), r->name);
			/* Unique: the first row with this name or code is this one. */
			for (const struct rg_name_code *o = tables[t]; o != r; o++) {
				assert_string_not_equal(o->name, r->name);
				assert_int_not_equal(o->code, r->code);
			}
		}
	}
}

static void test_not_found(void **state)
{
	static const char *const bad[] = { "", "Monitor", "monito", "monitor ", " monitor",
					   "monitorx", "MONITOR" };
	int code = 42;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(rg_name_code(rg_mode_names, bad[i], &code), -ENOENT);
	assert_int_equal(rg_name_code(rg_mode_names, NULL, &code), -ENOENT);
	assert_int_equal(code, 42);
	assert_null(rg_str_name_code(rg_origin_names, 99));
	assert_null(rg_str_name_code(rg_action_names, -1));
}

static void test_wrappers(void **state)
{
	assert_string_equal(rg_verdict_action_name(RG_ACT_THROTTLE), "throttle");
	assert_string_equal(rg_verdict_action_name((enum rg_action)7), RG_NAME_UNKNOWN);
	assert_string_equal(rg_origin_name(RG_ORIGIN_CONN_RATE), "conn_rate");
	assert_string_equal(rg_origin_name((enum rg_origin)3), RG_NAME_UNKNOWN);
	assert_string_equal(rg_attach_kind_name(RG_BPF_XDP_GENERIC), "xdp-generic");
	assert_string_equal(rg_attach_mode_name(RG_ATTACH_TC), "tc");
	assert_string_equal(rg_mode_name(RG_MODE_MONITOR), "monitor");
	assert_string_equal(rg_fail_mode_name(RG_FAIL_CLOSED), "closed");
	assert_string_equal(rg_reply_name(RG_REPLY_TEMPFAIL), "tempfail");
	assert_string_equal(rg_class_name(RG_CLASS_NULL_SENDER), "null_sender");
	assert_string_equal(rg_class_name(RG_CLASS__COUNT), RG_NAME_UNKNOWN);
	assert_string_equal(rg_match_name(RG_MATCH_CERT_FINGERPRINT), "cert_fingerprint");
	assert_string_equal(rg_match_name(RG_MATCH__COUNT), RG_NAME_UNKNOWN);
}

static void test_choices(void **state)
{
	char buf[64], small[8];

	assert_string_equal(rg_name_code_choices(rg_attach_mode_names, buf, sizeof(buf)),
			    "auto, native, generic or tc");
	assert_string_equal(rg_name_code_choices(rg_mode_names, buf, sizeof(buf)),
			    "enforce or monitor");
	/* Truncated, never overrun. */
	assert_string_equal(rg_name_code_choices(rg_attach_mode_names, small, sizeof(small)),
			    "auto, n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_not_found),
		cmocka_unit_test(test_wrappers),
		cmocka_unit_test(test_choices),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
