// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * gcra.c: the rate <-> GCRA rule of gcra.h. Takes a rate or the kernel's parameters;
 * reports the other, saturating instead of overflowing.
 */
#include <errno.h>

#include "gcra.h"

static uint64_t mul_sat(uint64_t a, uint64_t b)
{
	unsigned __int128 p = (unsigned __int128)a * b;

	return p > UINT64_MAX ? UINT64_MAX : (uint64_t)p;
}

int rg_gcra_from_rate(const struct rg_rate *rate, struct rg_gcra *out)
{
	if (!rate->count || !rate->period_ns)
		return -EINVAL;
	out->interval_ns = rate->period_ns / rate->count ? rate->period_ns / rate->count : 1;
	out->burst_ns = mul_sat(out->interval_ns, rate->count / 10 ? rate->count / 10 : 1);
	return 0;
}

void rg_gcra_to_rate(const struct rg_gcra *g, struct rg_rate *out)
{
	uint64_t k;

	if (!g->interval_ns) {
		out->count = out->period_ns = 0;
		return;
	}
	k = g->burst_ns / g->interval_ns;
	out->count = k >= 2 ? mul_sat(k, 10) : 1;
	out->period_ns = mul_sat(out->count, g->interval_ns);
}
