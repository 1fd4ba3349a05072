// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * test_gcra.c: the one rule that turns a throttle rate into the kernel's GCRA interval and
 * burst (user/gcra.c), and back. Pins the figures for rates an operator writes, what they
 * let through under the kernel's conformance test, that the inverse gives back every
 * interval and burst the rule makes (so a verdict adopted from the maps keeps them), and
 * the edges: count or period 0, more than one per nanosecond, saturation. TAP.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "gcra.h"

#define NS 1000000000ULL
#define MIN (60 * NS)

static struct rg_gcra of(uint64_t count, uint64_t period)
{
	struct rg_rate r = { count, period };
	struct rg_gcra g;

	assert_int_equal(rg_gcra_from_rate(&r, &g), 0);
	return g;
}

static void test_figures(void **state)
{
	struct rg_gcra g = of(600, MIN);

	assert_int_equal(g.interval_ns, 100000000ULL);
	assert_int_equal(g.burst_ns, 60 * g.interval_ns);
	g = of(60, MIN);
	assert_int_equal(g.interval_ns, NS);
	assert_int_equal(g.burst_ns, 6 * NS);
	/* Under 20 per period: one interval of burst. */
	g = of(10, MIN);
	assert_int_equal(g.interval_ns, 6 * NS);
	assert_int_equal(g.burst_ns, 6 * NS);
	g = of(1, MIN);
	assert_int_equal(g.interval_ns, MIN);
	assert_int_equal(g.burst_ns, MIN);
	/* More than one per ns: the interval does not become 0. */
	g = of(3 * NS, NS);
	assert_int_equal(g.interval_ns, 1);
	assert_int_equal(g.burst_ns, 3 * NS / 10);
	/* Huge periods saturate instead of wrapping. */
	g = of(UINT64_MAX, UINT64_MAX);
	assert_int_equal(g.interval_ns, 1);
	assert_int_equal(g.burst_ns, UINT64_MAX / 10);
}

static void test_refused(void **state)
{
	struct rg_rate r = { 0, MIN };
	struct rg_gcra g;

	assert_int_equal(rg_gcra_from_rate(&r, &g), -EINVAL);
	r.count = 10;
	r.period_ns = 0;
	assert_int_equal(rg_gcra_from_rate(&r, &g), -EINVAL);
}

/* SYNs the kernel lets through (bpf/relayguard.bpf.c: conforming while tat <= now + burst,
 * each one moves tat an interval on) for arrivals every step ns over span ns, from a fresh
 * verdict, and the most in any window of length window. */
static void admitted(const struct rg_gcra *g, uint64_t step, uint64_t span, uint64_t window,
		     uint64_t *total, uint64_t *max_window)
{
	static uint64_t at[8192];
	uint64_t tat = 0, n = 0, lo = 0;

	*max_window = 0;
	for (uint64_t now = 0; now < span; now += step) {
		if (tat <= now + g->burst_ns) {
			tat = (tat > now ? tat : now) + g->interval_ns;
			assert_true(n < sizeof(at) / sizeof(at[0]));
			at[n++] = now;
			while (at[lo] + window <= now)
				lo++;
			if (n - lo > *max_window)
				*max_window = n - lo;
		}
	}
	*total = n;
}

/* What 600/1m means to a host that opens connections as fast as it can. */
static void test_what_600_per_minute_allows(void **state)
{
	struct rg_gcra g = of(600, MIN);
	uint64_t total, max_window;

	/* All at once: 61 (a tenth of the count, plus one). */
	admitted(&g, 1, 1000, MIN, &total, &max_window);
	assert_int_equal(total, 61);
	/* Flooding for 10 minutes (a SYN every ms): 600 a minute in the long run, never more
	 * than 660 in any minute. */
	admitted(&g, 1000000, 10 * MIN, MIN, &total, &max_window);
	assert_true(total >= 6000 && total <= 6061);
	assert_int_equal(max_window, 660);
	/* 10/1m: 2 at once, at most 11 in any minute. */
	g = of(10, MIN);
	admitted(&g, 1000000, 10 * MIN, MIN, &total, &max_window);
	assert_true(total >= 100 && total <= 102);
	assert_int_equal(max_window, 11);
}

static void test_inverse_round_trip(void **state)
{
	static const uint64_t periods[] = { NS, 10 * NS, MIN, 3600 * NS, 86400 * NS, 7 };

	for (size_t p = 0; p < sizeof(periods) / sizeof(periods[0]); p++) {
		for (uint64_t count = 1; count <= 5000; count += count < 50 ? 1 : 37) {
			struct rg_gcra g = of(count, periods[p]), back;
			struct rg_rate r;

			rg_gcra_to_rate(&g, &r);
			assert_int_equal(rg_gcra_from_rate(&r, &back), 0);
			assert_int_equal(back.interval_ns, g.interval_ns);
			assert_int_equal(back.burst_ns, g.burst_ns);
		}
	}
	{
		/* The rate itself comes back when the count is a multiple of 10 (or under 20
		 * and the period a multiple of it). */
		struct rg_gcra g = of(600, MIN);
		struct rg_rate r;

		rg_gcra_to_rate(&g, &r);
		assert_int_equal(r.count, 600);
		assert_int_equal(r.period_ns, MIN);
		g = of(10, MIN);
		rg_gcra_to_rate(&g, &r);
		assert_int_equal(r.count, 1);
		assert_int_equal(r.period_ns, 6 * NS);
	}
	{
		/* Parameters the rule does not make round to the nearest lower one it does:
		 * a burst under one interval gets one. */
		struct rg_gcra g = { .interval_ns = NS, .burst_ns = 0 }, back;
		struct rg_rate r;

		rg_gcra_to_rate(&g, &r);
		assert_int_equal(rg_gcra_from_rate(&r, &back), 0);
		assert_int_equal(back.interval_ns, NS);
		assert_int_equal(back.burst_ns, NS);
		g.interval_ns = 0;
		rg_gcra_to_rate(&g, &r);
		assert_int_equal(r.count, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_figures),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_what_600_per_minute_allows),
		cmocka_unit_test(test_inverse_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
