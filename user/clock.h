/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * clock.h: the agent's clocks. The kernel, deadlines and rates work in CLOCK_MONOTONIC ns;
 * persisted state and audit times in CLOCK_REALTIME ns. The converters map 0 (no expiry)
 * to 0, and a realtime in the past before boot to 1 (has an expiry, already past).
 * Every "now + duration" goes through rg_time_after_ns, which saturates at RG_TIME_MAX_NS
 * (the largest time the state file and JSON replies hold, year 2262) instead of wrapping
 * into the past; durations longer than RG_DURATION_MAX_NS are refused by the parsers.
 */
#ifndef RG_CLOCK_H
#define RG_CLOCK_H

#include <stdint.h>

#define RG_NSEC_PER_SEC 1000000000ULL
#define RG_TIME_MAX_NS ((uint64_t)INT64_MAX)
#define RG_DURATION_MAX_NS RG_TIME_MAX_NS	/* 106751d: "--for" and config durations */

uint64_t rg_now_mono_ns(void);
uint64_t rg_now_real_ns(void);
uint64_t rg_mono_to_real_ns(uint64_t mono_ns);
uint64_t rg_real_to_mono_ns(uint64_t real_ns);
/* base_ns + duration_ns, at most RG_TIME_MAX_NS (never wraps). */
uint64_t rg_time_after_ns(uint64_t base_ns, uint64_t duration_ns);

#endif /* RG_CLOCK_H */
