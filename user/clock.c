// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * clock.c: now in CLOCK_MONOTONIC and CLOCK_REALTIME, and conversion of a point in time
 * between them, and a saturating now + duration (see clock.h). Takes nothing; reports ns
 * since each clock's epoch.
 */
#include <time.h>

#include "clock.h"

static uint64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * RG_NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

uint64_t rg_now_mono_ns(void)
{
	return now_ns(CLOCK_MONOTONIC);
}

uint64_t rg_now_real_ns(void)
{
	return now_ns(CLOCK_REALTIME);
}

uint64_t rg_time_after_ns(uint64_t base_ns, uint64_t duration_ns)
{
	if (base_ns >= RG_TIME_MAX_NS || duration_ns >= RG_TIME_MAX_NS - base_ns)
		return RG_TIME_MAX_NS;
	return base_ns + duration_ns;
}

uint64_t rg_mono_to_real_ns(uint64_t mono_ns)
{
	uint64_t real = rg_now_real_ns(), mono = rg_now_mono_ns();

	if (!mono_ns)
		return 0;
	if (mono_ns >= mono)
		return rg_time_after_ns(real, mono_ns - mono);
	return real > mono - mono_ns ? real - (mono - mono_ns) : 1;
}

uint64_t rg_real_to_mono_ns(uint64_t real_ns)
{
	uint64_t mono = rg_now_mono_ns(), real = rg_now_real_ns();

	if (!real_ns)
		return 0;
	if (real_ns >= real)
		return rg_time_after_ns(mono, real_ns - real);
	/* Expired before boot maps to 1: still "has an expiry", already past. */
	return mono > real - real_ns ? mono - (real - real_ns) : 1;
}
