// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * audit.c: the audit log writer. Takes rg_audit_event records from the engine, builds
 * one JSON object per event with json-c (client text through rg_printable() first) and
 * appends it with a single write(2) to a file opened O_APPEND|O_CLOEXEC; repeated
 * would_reject/reject events go through audit_repeat.h first, which counts them into one
 * line per interval. Reports the number of lines written and failed, and the events
 * counted; a failed write is logged (rate-limited) and returned, never fatal: the
 * decision it records has already been made.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "audit.h"
#include "audit_repeat.h"
#include "config.h"
#include "log.h"

struct rg_audit {
	char *path;
	int fd;
	uint64_t lines;
	uint64_t failures;
	time_t last_warn;
	uint64_t repeat_ns;		/* 0: every event written */
	struct rg_audit_repeat *repeat;
	uint64_t repeated;
	rg_audit_tap_fn *tap;
	void *tap_ctx;
};

static int write_line(struct rg_audit *a, const struct rg_audit_event *ev);

void rg_audit_set_tap(struct rg_audit *a, rg_audit_tap_fn *fn, void *ctx)
{
	a->tap = fn;
	a->tap_ctx = ctx;
}

static void emit(void *ctx, const struct rg_audit_event *ev)
{
	write_line(ctx, ev);
}

static void flush_all(struct rg_audit *a)
{
	rg_audit_repeat_flush(a->repeat, UINT64_MAX, a->repeat_ns, emit, a);
}

static int open_append(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);

	return fd < 0 ? -errno : fd;
}

int rg_audit_open(const char *path, struct rg_audit **out)
{
	struct rg_audit *a;
	int fd;

	*out = NULL;
	if (!path || !*path)
		return -EINVAL;
	fd = open_append(path);
	if (fd < 0) {
		pr_warn("audit: cannot open %s: %s", path, strerror(-fd));
		return fd;
	}
	a = calloc(1, sizeof(*a));
	if (!a || !(a->path = strdup(path)) || !(a->repeat = rg_audit_repeat_new(0))) {
		if (a)
			free(a->path);
		free(a);
		close(fd);
		return -ENOMEM;
	}
	a->fd = fd;
	*out = a;
	return 0;
}

int rg_audit_reopen(struct rg_audit *a)
{
	int fd;

	if (!a)
		return 0;
	flush_all(a);
	fd = open_append(a->path);
	if (fd < 0) {
		pr_warn("audit: cannot reopen %s: %s (still writing to the old file)", a->path,
			strerror(-fd));
		return fd;
	}
	close(a->fd);
	a->fd = fd;
	return 0;
}

void rg_audit_close(struct rg_audit *a)
{
	if (!a)
		return;
	flush_all(a);
	rg_audit_repeat_free(a->repeat);
	if (a->fd >= 0)
		close(a->fd);
	free(a->path);
	free(a);
}

uint64_t rg_audit_lines(const struct rg_audit *a)
{
	return a ? a->lines : 0;
}

uint64_t rg_audit_failures(const struct rg_audit *a)
{
	return a ? a->failures : 0;
}

uint64_t rg_audit_repeated(const struct rg_audit *a)
{
	return a ? a->repeated : 0;
}

void rg_audit_set_repeat_interval(struct rg_audit *a, uint64_t interval_ns)
{
	if (!a || interval_ns == a->repeat_ns)
		return;
	flush_all(a);
	a->repeat_ns = interval_ns;
}

void rg_audit_tick(struct rg_audit *a, uint64_t now_ns)
{
	if (a)
		rg_audit_repeat_flush(a->repeat, now_ns, a->repeat_ns, emit, a);
}

char *rg_rfc3339_ms(uint64_t realtime_ns, char *buf, size_t len)
{
	time_t secs = (time_t)(realtime_ns / 1000000000ULL);
	unsigned ms = (unsigned)(realtime_ns % 1000000000ULL / 1000000ULL);
	struct tm tm;
	char date[24];

	if (!gmtime_r(&secs, &tm) || !strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm))
		snprintf(date, sizeof(date), "1970-01-01T00:00:00");
	snprintf(buf, len, "%s.%03uZ", date, ms);
	return buf;
}

static int add_str(struct json_object *o, const char *key, const char *val)
{
	struct json_object *v = json_object_new_string(val);

	if (!v)
		return -ENOMEM;
	return json_object_object_add(o, key, v) ? -ENOMEM : 0;
}

static int add_u64(struct json_object *o, const char *key, uint64_t val)
{
	struct json_object *v = json_object_new_int64(val > INT64_MAX ? INT64_MAX : (int64_t)val);

	if (!v)
		return -ENOMEM;
	return json_object_object_add(o, key, v) ? -ENOMEM : 0;
}

/* Text that did not come from the client still passes the filter: "by" is built by the
 * control socket from peer credentials, but a log line is no place to trust anyone. */
static int add_safe(struct json_object *o, const char *key, const char *val, size_t len)
{
	char clean[RG_PRINTABLE_MAX + 4];

	return add_str(o, key, rg_printable(val, len, clean));
}

static struct json_object *build(const struct rg_audit_event *ev)
{
	struct json_object *o = json_object_new_object();
	char buf[RG_ADDR_STRLEN + 8];
	int err = 0;

	if (!o)
		return NULL;
	err |= add_str(o, "time", rg_rfc3339_ms(ev->time_ns, buf, sizeof(buf)));
	err |= add_safe(o, "event", ev->event, strlen(ev->event));
	if (ev->monitor)
		err |= add_str(o, "mode", rg_mode_name(RG_MODE_MONITOR));
	if (ev->tenant)
		err |= add_safe(o, "tenant", ev->tenant, strlen(ev->tenant));
	if (ev->tenant_id)
		err |= add_u64(o, "tenant_id", ev->tenant_id);
	if (ev->host)
		err |= add_str(o, "host", rg_cidr_format(ev->host, buf, sizeof(buf)));
	if (ev->reason)
		err |= add_safe(o, "reason", ev->reason, strlen(ev->reason));
	if (ev->has_counts) {
		err |= add_u64(o, "count", ev->count);
		err |= add_u64(o, "limit", ev->limit);
		err |= add_str(o, "window", rg_format_duration(ev->window_ns, buf, sizeof(buf)));
	}
	if (ev->action)
		err |= add_str(o, "action", ev->action);
	if (ev->origin)
		err |= add_str(o, "origin", ev->origin);
	if (ev->interval_ns) {
		err |= add_u64(o, "interval_ns", ev->interval_ns);
		err |= add_u64(o, "burst_ns", ev->burst_ns);
	}
	if (ev->expires_ns)
		err |= add_str(o, "expires", rg_rfc3339_ms(ev->expires_ns, buf, sizeof(buf)));
	if (ev->by)
		err |= add_safe(o, "by", ev->by, strlen(ev->by));
	if (ev->relay)
		err |= add_safe(o, "relay", ev->relay, strlen(ev->relay));
	if (ev->peer)
		err |= add_safe(o, "peer", ev->peer, strlen(ev->peer));
	if (ev->sender)
		err |= add_safe(o, "sender", ev->sender, ev->sender_len);
	if (ev->detail)
		err |= add_safe(o, "detail", ev->detail, strlen(ev->detail));
	if (ev->repeats) {
		err |= add_u64(o, "repeats", ev->repeats);
		err |= add_str(o, "first", rg_rfc3339_ms(ev->first_ns, buf, sizeof(buf)));
		err |= add_str(o, "last", rg_rfc3339_ms(ev->last_ns, buf, sizeof(buf)));
	}
	if (ev->matched_by)
		err |= add_str(o, "matched_by", ev->matched_by);
	if (ev->connector_tenant)
		err |= add_safe(o, "connector_tenant", ev->connector_tenant,
				strlen(ev->connector_tenant));
	if (err) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

int rg_audit_format(const struct rg_audit_event *ev, char *buf, size_t len)
{
	struct json_object *o;
	const char *s;
	size_t n;
	int err;

	if (!ev || !ev->event || !*ev->event || !len)
		return -EINVAL;
	o = build(ev);
	if (!o)
		return -ENOMEM;
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!s) {
		err = -ENOMEM;
		goto out;
	}
	n = strlen(s);
	if (n + 2 > len) {
		err = -EMSGSIZE;
		goto out;
	}
	memcpy(buf, s, n);
	buf[n++] = '\n';
	buf[n] = '\0';
	err = (int)n;
out:
	json_object_put(o);
	return err;
}

int rg_audit_write(struct rg_audit *a, const struct rg_audit_event *ev)
{
	if (!a)
		return 0;
	if (ev && ev->event && rg_audit_repeat_count(a->repeat, ev, a->repeat_ns, emit, a)) {
		a->repeated++;
		return 0;
	}
	return write_line(a, ev);
}

static int write_line(struct rg_audit *a, const struct rg_audit_event *ev)
{
	char line[RG_AUDIT_LINE_MAX];
	ssize_t w;
	int n;

	n = rg_audit_format(ev, line, sizeof(line));
	if (n < 0)
		goto fail;
	/* One write per line: with O_APPEND the line lands whole or (ENOSPC) not at all. */
	w = write(a->fd, line, (size_t)n);
	if (a->tap)
		a->tap(a->tap_ctx, ev, line, (size_t)n);
	if (w == n) {
		a->lines++;
		return 0;
	}
	n = w < 0 ? -errno : -EIO;
fail:
	a->failures++;
	if (time(NULL) != a->last_warn) {
		a->last_warn = time(NULL);
		pr_warn("audit: cannot write to %s: %s (%llu lines lost so far)", a->path,
			strerror(-n), (unsigned long long)a->failures);
	}
	return n;
}
