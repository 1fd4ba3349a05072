/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * audit.h: the audit log. One JSON object per line for every state change the engine
 * makes (tenant restricted/unblocked/removed, host blocked/throttled/unblocked, verdict
 * expired, reload, state problems) and every monitor-mode would_reject/would_block;
 * repeats of a would_reject/reject (same tenant and host) within audit_repeat_interval
 * are counted into one KIND_repeated line (audit_repeat.h) instead.
 * Lines are built with json-c (escaping is json-c's), client text is sanitised with
 * rg_printable() first, and each line goes out in one write(2) to an O_APPEND file, so
 * concurrent writers and log rotation (rg_audit_reopen) never split a line.
 */
#ifndef RG_AUDIT_H
#define RG_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cidr.h"

#define RG_AUDIT_LINE_MAX 4096	/* longer lines are refused (-EMSGSIZE), never split */

/* Every field but event is optional: NULL / 0 / false leaves it out of the line. */
struct rg_audit_event {
	const char *event;		/* "tenant_restricted", "host_blocked", ... */
	uint64_t time_ns;		/* CLOCK_REALTIME ns: "time" as RFC 3339 UTC with ms */
	bool monitor;			/* "mode":"monitor" (would_* events, monitor changes) */
	const char *tenant;		/* a configured tenant name */
	uint32_t tenant_id;		/* 0: left out */
	const struct rg_cidr *host;	/* "host": a.b.c.d/N or x::/N */
	const char *reason;		/* static or engine-made text */
	bool has_counts;		/* "count", "limit", "window" (duration text) */
	uint64_t count;
	uint64_t limit;
	uint64_t window_ns;
	const char *by;			/* who asked (operator actions); sanitised */
	const char *relay;		/* [fleet]: the relay the change came from */
	const char *peer;		/* who sent the policy request that caused it:
					 * "uid=N pid=N" or "ADDR:PORT"; sanitised */
	const char *sender;		/* raw client text, sender_len bytes; sanitised and capped */
	size_t sender_len;
	const char *action;		/* "block" / "throttle" */
	const char *origin;		/* "operator" / "flood" / "conn_rate" */
	uint64_t expires_ns;		/* CLOCK_REALTIME; 0: left out */
	uint64_t interval_ns;		/* throttle: one connection per interval */
	uint64_t burst_ns;
	const char *detail;		/* free text made by the agent (never client text) */
	uint64_t repeats;		/* KIND_repeated lines (audit_repeat.h): "repeats", */
	uint64_t first_ns, last_ns;	/* "first" and "last" (CLOCK_REALTIME) */
	const char *matched_by;		/* how the tenant was found: "sasl", "connector", ... */
	const char *connector_tenant;	/* the connector's tenant, when another one won */
};

struct rg_audit;

/* Open (create 0640) path for appending. 0 or -errno. */
int rg_audit_open(const char *path, struct rg_audit **out);
/*
 * Count repeated would_reject/reject events of one tenant and host for interval_ns instead
 * of writing each (audit_repeat.h); 0 writes every one. A change writes out what was being
 * counted.
 */
void rg_audit_set_repeat_interval(struct rg_audit *a, uint64_t interval_ns);
/* Write out the counts whose interval has ended by now_ns (the agent's 1 s timer). */
void rg_audit_tick(struct rg_audit *a, uint64_t now_ns);
/* Events counted into a KIND_repeated line rather than written. */
uint64_t rg_audit_repeated(const struct rg_audit *a);
/* Open the path again (after rotation; what was being counted goes to the old file first,
 * next to the lines it counts); on failure the old file stays in use. 0 or -errno. */
int rg_audit_reopen(struct rg_audit *a);
/* Writes out what was being counted, then closes. NULL is fine. */
void rg_audit_close(struct rg_audit *a);
/* Lines written and failed writes so far. */
uint64_t rg_audit_lines(const struct rg_audit *a);
uint64_t rg_audit_failures(const struct rg_audit *a);

/*
 * Format ev as one JSON line with its trailing '\n' into buf. Returns the length, or
 * -EMSGSIZE (line over len - 1 bytes), -EINVAL (no event), -ENOMEM.
 */
int rg_audit_format(const struct rg_audit_event *ev, char *buf, size_t len);
/*
 * A tap sees every event that was formatted, with its line (the trailing '\n'
 * included), whether or not the write succeeded: the agent's notifications. NULL: none.
 */
typedef void rg_audit_tap_fn(void *ctx, const struct rg_audit_event *ev, const char *line,
			     size_t len);
void rg_audit_set_tap(struct rg_audit *a, rg_audit_tap_fn *fn, void *ctx);

/* Format and append one line. a may be NULL (nothing written, 0). 0 or -errno. */
int rg_audit_write(struct rg_audit *a, const struct rg_audit_event *ev);

/* "2024-05-01T12:00:00.123Z" into buf (at least 32 bytes); returns buf. */
char *rg_rfc3339_ms(uint64_t realtime_ns, char *buf, size_t len);

#endif /* RG_AUDIT_H */
