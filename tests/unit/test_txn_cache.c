// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * test_txn_cache.c: the transaction table (user/txn_cache.c): an answer is found again for
 * the same instance, address and sender only; a forgotten one is gone and its slot is
 * reused without evicting a live one; the table stays at RG_TXN_MAX through several laps
 * of its ring, evicting oldest first and saying so; the TTL expires in arrival order. TAP.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "txn_cache.h"

#define S (1000000000ULL)

static const uint8_t addr[16] = { [10] = 0xff, [11] = 0xff, 192, 0, 2, 10 };

/* Instance "q<N>", sender "s@x.example". */
static int put(struct rg_txn_cache *c, unsigned n, uint64_t now)
{
	char inst[32];
	struct rg_slice i = { inst, (size_t)snprintf(inst, sizeof(inst), "q%u", n) };
	struct rg_slice s = { "s@x.example", 11 };
	struct rg_txn_answer a = { .tenant_id = n, .action = RG_REPLY_DUNNO };

	return rg_txn_cache_remember(c, &i, addr, &s, &a, now);
}

static const struct rg_txn_answer *get(struct rg_txn_cache *c, unsigned n, uint64_t now)
{
	char inst[32];
	struct rg_slice i = { inst, (size_t)snprintf(inst, sizeof(inst), "q%u", n) };
	struct rg_slice s = { "s@x.example", 11 };

	return rg_txn_cache_find(c, &i, addr, &s, now);
}

static void test_find_and_forget(void **state)
{
	struct rg_txn_cache *c = rg_txn_cache_new(42);
	struct rg_slice i = { "q1", 2 }, other = { "t@x.example", 11 };

	assert_non_null(c);
	for (unsigned n = 0; n < 3; n++)
		assert_int_equal(put(c, n, S), 0);
	assert_int_equal(get(c, 1, S)->tenant_id, 1);
	/* Another sender under the same instance is another transaction. */
	assert_null(rg_txn_cache_find(c, &i, addr, &other, S));
	rg_txn_cache_forget(c, get(c, 1, S));
	assert_null(get(c, 1, S));
	assert_int_equal(rg_txn_cache_count(c), 2);
	assert_int_equal(get(c, 0, S)->tenant_id, 0);
	assert_int_equal(get(c, 2, S)->tenant_id, 2);
	rg_txn_cache_free(c);
}

static void test_bounded_laps(void **state)
{
	struct rg_txn_cache *c = rg_txn_cache_new(7);
	unsigned evicted = 0, total = 3 * RG_TXN_MAX + 123;

	assert_non_null(c);
	for (unsigned n = 0; n < total; n++) {
		int r = put(c, n, S);

		assert_true(r == 0 || r == 1);
		evicted += (unsigned)r;
	}
	assert_int_equal(rg_txn_cache_count(c), RG_TXN_MAX);
	assert_int_equal(evicted, total - RG_TXN_MAX);
	/* The newest RG_TXN_MAX are there, the one before them is not. */
	assert_non_null(get(c, total - 1, S));
	assert_non_null(get(c, total - RG_TXN_MAX, S));
	assert_null(get(c, total - RG_TXN_MAX - 1, S));

	/* A forgotten oldest: its slot is taken next without evicting anyone live. */
	rg_txn_cache_forget(c, get(c, total - RG_TXN_MAX, S));
	assert_int_equal(rg_txn_cache_count(c), RG_TXN_MAX - 1);
	assert_int_equal(put(c, total, S), 0);
	assert_int_equal(rg_txn_cache_count(c), RG_TXN_MAX);
	assert_non_null(get(c, total - RG_TXN_MAX + 1, S));
	assert_int_equal(put(c, total + 1, S), 1);
	assert_null(get(c, total - RG_TXN_MAX + 1, S));
	rg_txn_cache_free(c);
}

static void test_ttl(void **state)
{
	struct rg_txn_cache *c = rg_txn_cache_new(1);
	uint64_t t0 = 1000 * S;

	assert_non_null(c);
	assert_int_equal(put(c, 0, t0), 0);
	assert_int_equal(put(c, 1, t0 + 10 * S), 0);
	assert_int_equal(put(c, 2, t0 + 20 * S), 0);
	rg_txn_cache_forget(c, get(c, 1, t0 + 20 * S));
	/* Past the first's TTL only: it goes, the forgotten one behind it too, the third stays. */
	rg_txn_cache_expire(c, t0 + RG_TXN_TTL_NS + 15 * S);
	assert_int_equal(rg_txn_cache_count(c), 1);
	assert_null(get(c, 0, t0 + RG_TXN_TTL_NS + 15 * S));
	assert_int_equal(get(c, 2, t0 + RG_TXN_TTL_NS + 15 * S)->tenant_id, 2);
	/* Not found past its TTL even before an expiry runs. */
	assert_null(get(c, 2, t0 + 20 * S + RG_TXN_TTL_NS));
	rg_txn_cache_expire(c, t0 + 20 * S + RG_TXN_TTL_NS);
	assert_int_equal(rg_txn_cache_count(c), 0);
	/* Empty, it fills again. */
	assert_int_equal(put(c, 3, t0 + 2 * RG_TXN_TTL_NS), 0);
	assert_int_equal(rg_txn_cache_count(c), 1);
	rg_txn_cache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_find_and_forget),
		cmocka_unit_test(test_bounded_laps),
		cmocka_unit_test(test_ttl),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
