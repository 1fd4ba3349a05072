// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * test_host_tags.c: user/host_tags.c: a host recorded is news once (1), again the same is
 * not (0), another tenant is news with the previous one reported; a full table drops the
 * least recently used host, and a use keeps a host from being dropped; clear forgets all.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "host_tags.h"

static void key(uint8_t k[16], uint32_t n)
{
	memset(k, 0, 16);
	k[10] = k[11] = 0xff;
	memcpy(k + 12, &n, 4);
}

static void test_set_get(void **state)
{
	struct rg_host_tags *t = rg_host_tags_new(8, 42);
	uint8_t k[16];
	uint32_t id = 0, prev = 9;
	enum rg_match how;

	assert_non_null(t);
	key(k, 1);
	assert_false(rg_host_tags_get(t, k, &id, NULL));
	assert_int_equal(rg_host_tags_set(t, k, 7, RG_MATCH_SASL, &prev), 1);
	assert_int_equal(prev, 0);
	assert_int_equal(rg_host_tags_set(t, k, 7, RG_MATCH_CERT_SUBJECT, &prev), 0);
	assert_true(rg_host_tags_get(t, k, &id, &how));
	assert_int_equal(id, 7);
	assert_int_equal(how, RG_MATCH_CERT_SUBJECT);
	assert_int_equal(rg_host_tags_set(t, k, 8, RG_MATCH_SASL, &prev), 1);
	assert_int_equal(prev, 7);
	assert_int_equal(rg_host_tags_count(t), 1);
	rg_host_tags_clear(t);
	assert_int_equal(rg_host_tags_count(t), 0);
	assert_false(rg_host_tags_get(t, k, &id, NULL));
	rg_host_tags_free(t);
}

static void test_bounded_lru(void **state)
{
	struct rg_host_tags *t = rg_host_tags_new(100, 1);
	uint8_t k[16];
	uint32_t id, prev;

	for (uint32_t i = 0; i < 100; i++) {
		key(k, i);
		assert_int_equal(rg_host_tags_set(t, k, i + 1, RG_MATCH_SASL, &prev), 1);
	}
	/* Host 0 is used again: host 1 is now the oldest. */
	key(k, 0);
	assert_int_equal(rg_host_tags_set(t, k, 1, RG_MATCH_SASL, &prev), 0);
	for (uint32_t i = 100; i < 150; i++) {
		key(k, i);
		assert_int_equal(rg_host_tags_set(t, k, i + 1, RG_MATCH_SASL, &prev), 1);
		assert_int_equal(rg_host_tags_count(t), 100);
	}
	key(k, 0);
	assert_true(rg_host_tags_get(t, k, &id, NULL));
	for (uint32_t i = 1; i <= 50; i++) {
		key(k, i);
		assert_false(rg_host_tags_get(t, k, &id, NULL));
	}
	key(k, 51);
	assert_true(rg_host_tags_get(t, k, &id, NULL));
	assert_int_equal(id, 52);
	rg_host_tags_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set_get),
		cmocka_unit_test(test_bounded_lru),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
