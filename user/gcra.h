/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * gcra.h: a throttle rate (N connections per period) as the kernel's GCRA parameters, and
 * back. One rule for every throttle: the engine's connection-rate and operator throttles,
 * relayguardctl writing the maps while the agent is down, and the agent adopting those
 * verdicts at start.
 *
 * The kernel lets a SYN through while its theoretical arrival time is at most burst_ns
 * ahead of now, and each SYN it lets through moves that time interval_ns on. For a rate
 * N/P: interval = P / N (at least 1 ns) and burst = max(N / 10, 1) intervals. So a host
 * gets max(N / 10, 1) + 1 new connections at once, then one every P / N: in the long run
 * exactly N per P, and in any window of length P at most N + max(N / 10, 1). 600/1m lets
 * 61 through at once, then one per 100 ms; 10/1m lets 2 at once, then one per 6 s. Why not
 * a whole period of burst (a token bucket of N): a host that waited a period could then
 * make 2N - 1 connections in one period, twice what the operator wrote. Why not none: an
 * MTA opens several connections at once, and each refused SYN costs it a retransmit.
 */
#ifndef RG_GCRA_H
#define RG_GCRA_H

#include <stdint.h>

#include "config.h"

struct rg_gcra {
	uint64_t interval_ns;
	uint64_t burst_ns;
};

/* 0 and *out, or -EINVAL when count or period is 0. */
int rg_gcra_from_rate(const struct rg_rate *rate, struct rg_gcra *out);
/*
 * A rate that rg_gcra_from_rate turns into exactly *g, for every *g it can make (so a
 * verdict read back from the kernel keeps its interval and burst): N = 10 × (burst /
 * interval) when that is at least 20, else 1, and P = N × interval. Parameters it cannot
 * make (a burst under one interval, or not a multiple of it) round to the nearest lower
 * one it can. interval 0: count 0 (no rate).
 */
void rg_gcra_to_rate(const struct rg_gcra *g, struct rg_rate *out);

#endif /* RG_GCRA_H */
