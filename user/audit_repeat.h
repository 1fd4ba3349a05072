/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * audit_repeat.h: counts repeated audit events instead of writing each one. Events of the
 * kinds a flood repeats (would_reject, reject) for the same tenant and host within an
 * interval: the first is written in full; the rest are counted, and when the interval
 * that began with the first ends (or on a flush: stop, log rotation) one line stands for
 * them: event "KIND_repeated" with "repeats" (the events counted, not written), "first"
 * and "last" (their times), the tenant, the host and the last sender. So the full lines
 * plus the repeats are every event. The table is fixed in size: when it is full, the
 * oldest aggregate is written out early to make room. No clock is read: times are passed in.
 */
#ifndef RG_AUDIT_REPEAT_H
#define RG_AUDIT_REPEAT_H

#include <stdbool.h>
#include <stdint.h>

#include "audit.h"

#define RG_AUDIT_REPEAT_MAX 4096	/* tenant and host pairs counted at once */

struct rg_audit_repeat;

/* Writes one line (the caller's writer, which never aggregates). */
typedef void (*rg_audit_emit_fn)(void *ctx, const struct rg_audit_event *ev);

/* An empty table (max entries, 0: RG_AUDIT_REPEAT_MAX). NULL without memory. */
struct rg_audit_repeat *rg_audit_repeat_new(size_t max);
/* Frees the table; pending counts are lost (flush first). NULL is fine. */
void rg_audit_repeat_free(struct rg_audit_repeat *r);
/*
 * ev happened: true when it was counted (write nothing), false when the caller writes it
 * in full (not an aggregated kind, no tenant or host, or the first of its pair in an
 * interval). An aggregate that made way (its interval over, the table full) goes out
 * through emit first, so lines stay in time order.
 */
bool rg_audit_repeat_count(struct rg_audit_repeat *r, const struct rg_audit_event *ev,
			   uint64_t interval_ns, rg_audit_emit_fn emit, void *ctx);
/* Write out (emit) and forget every aggregate whose interval has ended by now_ns; with
 * now_ns UINT64_MAX, all of them. */
void rg_audit_repeat_flush(struct rg_audit_repeat *r, uint64_t now_ns, uint64_t interval_ns,
			   rg_audit_emit_fn emit, void *ctx);
/* Pairs being counted now. */
size_t rg_audit_repeat_pending(const struct rg_audit_repeat *r);

#endif /* RG_AUDIT_REPEAT_H */
