/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * metrics.h: the Prometheus endpoint. An HTTP server (libmicrohttpd, single-threaded, no
 * locks) on metrics_listen = inet:HOST:PORT, driven by the agent's epoll through one fd.
 * GET /metrics answers text format 0.0.4 built by the sources the agent registered; any
 * other path is 404, any other method 405. The module knows no metric itself.
 *
 * Writing metrics: a source gets an rg_mbuf and writes families with the helpers below:
 *
 *   rg_metric_family(b, "relayguard_policy_requests_total", "counter", "Policy requests.");
 *   rg_metric_sample(b, "relayguard_policy_requests_total", 12, "verdict", "dunno", NULL);
 *
 * Naming: relayguard_ prefix, counters end in _total, units in the name (_seconds,
 * _bytes). Label values are escaped here; label names must be [a-zA-Z_][a-zA-Z0-9_]*.
 */
#ifndef RG_METRICS_H
#define RG_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A growable text buffer. A failed allocation sets err and drops later writes; the
 * server then answers 500. */
struct rg_mbuf {
	char *buf;
	size_t len, cap;
	int err;
};

void rg_mbuf_init(struct rg_mbuf *b);
void rg_mbuf_free(struct rg_mbuf *b);
void rg_mbuf_printf(struct rg_mbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "# HELP name help" and "# TYPE name type"; type is counter, gauge or histogram. */
void rg_metric_family(struct rg_mbuf *b, const char *name, const char *type, const char *help);
/* One sample: name{k1="v1",...} value. Labels as key, value pairs ended by NULL. Values
 * that are whole numbers print without exponent (counters stay exact below 2^53). */
void rg_metric_sample(struct rg_mbuf *b, const char *name, double value, ...)
	__attribute__((sentinel));
void rg_metric_vsample(struct rg_mbuf *b, const char *name, double value, const char *const *kv,
		       size_t n_kv);
/* A family with one unlabelled sample. */
void rg_metric_counter(struct rg_mbuf *b, const char *name, const char *help, double value);
void rg_metric_gauge(struct rg_mbuf *b, const char *name, const char *help, double value);

/* Histogram with fixed upper bounds (ascending, +Inf implied). */
#define RG_HIST_MAX_BUCKETS 20
struct rg_hist {
	size_t n;
	double le[RG_HIST_MAX_BUCKETS];
	uint64_t counts[RG_HIST_MAX_BUCKETS + 1];	/* per bucket, not cumulative; last: +Inf */
	uint64_t count;
	double sum;
};

/* 0, or -EINVAL if bounds are not strictly ascending finite numbers or too many. */
int rg_hist_init(struct rg_hist *h, const double *le, size_t n);
/* Buckets for policy decision latency in seconds: 50us .. 5s. */
void rg_hist_init_latency(struct rg_hist *h);
void rg_hist_observe(struct rg_hist *h, double v);
/* One duration in nanoseconds into a histogram in seconds; hist is a struct rg_hist. Its
 * signature is the policy server's observe hook (rg_policy_observe_fn), so the server
 * records each answered request straight into the agent's histogram. */
void rg_hist_observe_ns(void *hist, uint64_t ns);
/* HELP/TYPE then name_bucket{le=...} (cumulative), name_sum, name_count. */
void rg_hist_write(struct rg_mbuf *b, const char *name, const char *help,
		   const struct rg_hist *h);

/* The server. */
typedef void (*rg_metrics_source_fn)(void *ctx, struct rg_mbuf *out);

struct rg_metrics;

/* listen: "inet:HOST:PORT", HOST an IPv4 address, [IPv6] or a name; PORT 0 picks one.
 * -EINVAL for a malformed listen string, -errno when the socket cannot be bound. */
int rg_metrics_new(const char *listen, struct rg_metrics **out);
/* Sources are called in registration order for every scrape. 0 or -ENOMEM. */
int rg_metrics_add_source(struct rg_metrics *m, rg_metrics_source_fn fn, void *ctx);
/* An fd to watch for EPOLLIN; then call rg_metrics_dispatch(). It also wakes for the
 * server's own timeouts. */
int rg_metrics_fd(const struct rg_metrics *m);
int rg_metrics_dispatch(struct rg_metrics *m);
/* The bound port (useful with port 0). */
uint16_t rg_metrics_port(const struct rg_metrics *m);
/* Scrapes served (GET /metrics answered 200). */
uint64_t rg_metrics_scrapes(const struct rg_metrics *m);
/* Connections shut for holding a connection past their deadline (a trickled request). */
uint64_t rg_metrics_cut(const struct rg_metrics *m);
void rg_metrics_free(struct rg_metrics *m);

#endif /* RG_METRICS_H */
