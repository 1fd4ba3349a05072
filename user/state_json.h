/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * state_json.h: the engine's persistent state as one versioned JSON object, the content of
 * STATE_DIR/state.json (state.c does the file I/O):
 *   {"version":1, "saved_at":"RFC 3339", "saved_at_ns":N, "next_tenant_id":N,
 *    "journal_gen":N, "tenant_ids":{"NAME":ID,...}, "tenants":{"NAME":{"window":[NS,...],
 *    "registered":[[SLOT,N],...], "null_sender":[[SLOT,N],...], "restricted":B[, "reason","monitor_only","since_ns","until_ns"]},...},
 *    "verdicts":[{"target","action","origin","interval_ns","burst_ns","since_ns",
 *    "expires_ns","tenant_id"[,"by"]},...]}
 * Times are CLOCK_REALTIME ns. tenant_ids lists configured names first, then names no
 * longer configured, oldest removed first (tenant_ids.h keeps that order on load).
 */
#ifndef RG_STATE_JSON_H
#define RG_STATE_JSON_H

#include <stdint.h>

#include "classify.h"

struct json_object;

#define RG_STATE_VERSION 1

/* The whole persistent state as a new JSON object; NULL: -ENOMEM. */
struct json_object *rg_state_export(const struct rg_engine *e, uint64_t now_ns);
/*
 * Replace e's persistent state with obj (as rg_state_export made it). Each section is
 * parsed and checked first; only then is it applied (rg_engine_restore), so a bad file
 * changes nothing. Tenants not in the configuration are dropped (audited), expired
 * restrictions lifted, expired verdicts kept for rg_engine_sync to delete. -EBADMSG (with
 * a logged reason) if obj is malformed; -EPROTONOSUPPORT for another version; -ENOMEM.
 */
int rg_state_import(struct rg_engine *e, struct json_object *obj, uint64_t now_ns);

#endif /* RG_STATE_JSON_H */
