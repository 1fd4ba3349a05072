// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * test_audit_repeat.c: the repeated-event table of the audit log (user/audit_repeat.c).
 * The first would_reject of a tenant and host is written, the rest in its interval are
 * counted and come out as one would_reject_repeated with first/last/repeats and the last
 * sender (sanitised); other kinds, events without a host, interval 0 are never counted;
 * a new interval writes the old aggregate first; a full table writes its oldest to make
 * room (memory bounded, nothing lost); hostile sender text is cleaned. TAP.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "audit_repeat.h"
#include "log.h"

#define S 1000000000ULL

struct sink {
	int n;
	uint64_t repeats;
	char last_event[64], last_sender[128], last_tenant[64];
	uint64_t first_ns, last_ns;
};

static void emit(void *ctx, const struct rg_audit_event *ev)
{
	struct sink *k = ctx;

	k->n++;
	k->repeats += ev->repeats;
	snprintf(k->last_event, sizeof(k->last_event), "%s", ev->event);
	snprintf(k->last_sender, sizeof(k->last_sender), "%.*s", (int)ev->sender_len,
		 ev->sender ? ev->sender : "");
	snprintf(k->last_tenant, sizeof(k->last_tenant), "%s", ev->tenant);
	k->first_ns = ev->first_ns;
	k->last_ns = ev->last_ns;
}

static struct rg_cidr host(unsigned last)
{
	struct rg_cidr c = { .addr = { [10] = 0xff, [11] = 0xff, [12] = 192, [13] = 0, [14] = 2,
				       [15] = (uint8_t)last }, .prefixlen = 128, .is_v4 = true };
	return c;
}

static bool count(struct rg_audit_repeat *r, const char *kind, const char *tenant,
		  unsigned h, uint64_t t, const char *sender, uint64_t interval, struct sink *k)
{
	struct rg_cidr c = host(h);
	struct rg_audit_event ev = { .event = kind, .time_ns = t, .tenant = tenant,
				     .host = &c, .sender = sender,
				     .sender_len = sender ? strlen(sender) : 0 };

	return rg_audit_repeat_count(r, &ev, interval, emit, k);
}

static void test_first_written_rest_counted(void **state)
{
	struct rg_audit_repeat *r = rg_audit_repeat_new(0);
	struct sink k = { 0 };

	(void)state;
	assert_non_null(r);
	assert_false(count(r, "would_reject", "t", 1, 10 * S, "a@x", 60 * S, &k));
	for (int i = 1; i <= 999; i++)
		assert_true(count(r, "would_reject", "t", 1, 10 * S + i, "b@y", 60 * S, &k));
	assert_int_equal(k.n, 0);
	assert_int_equal(rg_audit_repeat_pending(r), 1);
	/* Not over yet at 69 s; over at 70 s. */
	rg_audit_repeat_flush(r, 69 * S, 60 * S, emit, &k);
	assert_int_equal(k.n, 0);
	rg_audit_repeat_flush(r, 70 * S, 60 * S, emit, &k);
	assert_int_equal(k.n, 1);
	assert_int_equal(k.repeats, 999);
	assert_string_equal(k.last_event, "would_reject_repeated");
	assert_string_equal(k.last_sender, "b@y");
	assert_string_equal(k.last_tenant, "t");
	assert_int_equal(k.first_ns, 10 * S + 1);
	assert_int_equal(k.last_ns, 10 * S + 999);
	assert_int_equal(rg_audit_repeat_pending(r), 0);
	rg_audit_repeat_free(r);
}

static void test_never_counted(void **state)
{
	struct rg_audit_repeat *r = rg_audit_repeat_new(0);
	struct sink k = { 0 };
	struct rg_audit_event ev = { .event = "would_reject", .time_ns = S, .tenant = "t" };

	(void)state;
	for (int i = 0; i < 3; i++) {
		assert_false(count(r, "host_blocked", "t", 1, S + i, NULL, 60 * S, &k));
		assert_false(count(r, "would_reject", "t", 2, S + i, NULL, 0, &k));
		assert_false(rg_audit_repeat_count(r, &ev, 60 * S, emit, &k)); /* no host */
	}
	assert_int_equal(rg_audit_repeat_pending(r), 0);
	/* Tenants, hosts and kinds are separate pairs. */
	assert_false(count(r, "would_reject", "t", 1, S, NULL, 60 * S, &k));
	assert_false(count(r, "would_reject", "u", 1, S, NULL, 60 * S, &k));
	assert_false(count(r, "would_reject", "t", 3, S, NULL, 60 * S, &k));
	assert_false(count(r, "reject", "t", 1, S, NULL, 60 * S, &k));
	assert_true(count(r, "reject", "t", 1, S + 1, NULL, 60 * S, &k));
	assert_int_equal(rg_audit_repeat_pending(r), 4);
	rg_audit_repeat_flush(r, UINT64_MAX, 60 * S, emit, &k);
	assert_int_equal(k.n, 1);	/* only the pair that counted one */
	assert_string_equal(k.last_event, "reject_repeated");
	rg_audit_repeat_free(r);
}

static void test_new_interval_writes_old_first(void **state)
{
	struct rg_audit_repeat *r = rg_audit_repeat_new(0);
	struct sink k = { 0 };

	(void)state;
	assert_false(count(r, "would_reject", "t", 1, 0, NULL, 5 * S, &k));
	assert_true(count(r, "would_reject", "t", 1, S, NULL, 5 * S, &k));
	assert_true(count(r, "would_reject", "t", 1, 2 * S, NULL, 5 * S, &k));
	/* 5 s after the first: a full line again, the two counted ones written before it. */
	assert_false(count(r, "would_reject", "t", 1, 5 * S, NULL, 5 * S, &k));
	assert_int_equal(k.n, 1);
	assert_int_equal(k.repeats, 2);
	rg_audit_repeat_free(r);
}

static void test_full_table_writes_oldest(void **state)
{
	struct rg_audit_repeat *r = rg_audit_repeat_new(4);
	struct sink k = { 0 };
	uint64_t counted = 0;

	(void)state;
	for (unsigned h = 0; h < 10; h++) {
		assert_false(count(r, "would_reject", "t", h, h * S, NULL, 60 * S, &k));
		for (int i = 0; i < 3; i++, counted++)
			assert_true(count(r, "would_reject", "t", h, h * S + 1, NULL, 60 * S, &k));
		assert_true(rg_audit_repeat_pending(r) <= 4);
	}
	assert_int_equal(k.n, 6);	/* the six oldest made room */
	rg_audit_repeat_flush(r, UINT64_MAX, 60 * S, emit, &k);
	assert_int_equal(k.n, 10);
	assert_int_equal(k.repeats, counted);
	rg_audit_repeat_free(r);
}

static void test_hostile_sender(void **state)
{
	struct rg_audit_repeat *r = rg_audit_repeat_new(0);
	struct sink k = { 0 };
	char big[600];

	(void)state;
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[3] = '\n';
	big[4] = '\x1b';
	assert_false(count(r, "would_reject", "t", 1, S, "x", 60 * S, &k));
	assert_true(count(r, "would_reject", "t", 1, S + 1, big, 60 * S, &k));
	rg_audit_repeat_flush(r, UINT64_MAX, 60 * S, emit, &k);
	assert_int_equal(k.n, 1);
	assert_int_equal(strlen(k.last_sender), RG_PRINTABLE_MAX + 3);	/* capped, "..." */
	assert_null(strchr(k.last_sender, '\n'));
	assert_null(strchr(k.last_sender, '\x1b'));
	/* A tenant name too long for the table is written in full every time. */
	char tenant[100];

	memset(tenant, 't', sizeof(tenant) - 1);
	tenant[sizeof(tenant) - 1] = '\0';
	assert_false(count(r, "would_reject", tenant, 1, S, NULL, 60 * S, &k));
	assert_false(count(r, "would_reject", tenant, 1, S, NULL, 60 * S, &k));
	rg_audit_repeat_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_written_rest_counted),
		cmocka_unit_test(test_never_counted),
		cmocka_unit_test(test_new_interval_writes_old_first),
		cmocka_unit_test(test_full_table_writes_oldest),
		cmocka_unit_test(test_hostile_sender),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
