// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * metrics.c: Prometheus text exposition (0.0.4) over libmicrohttpd. Takes metrics_listen
 * and the agent's metric sources; answers GET /metrics with what the sources write, 404
 * for other paths, 405 for other methods. MHD runs without threads; its epoll fd and its
 * timeouts sit in an event-layer set (event.h) whose one fd the agent watches, so sources
 * read agent state without locks. Each client is bounded: 64 connections, 8 per address,
 * 10 s idle, and 5 s from connecting (or from its last answer) to a complete request,
 * after which its socket is shut. Also the text helpers: families, labelled samples,
 * fixed-bucket histograms.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <netinet/in.h>

#include <microhttpd.h>

#include "clock.h"
#include "event.h"
#include "listen.h"
#include "log.h"
#include "metrics.h"

#define MAX_SOURCES 16
/* A scraper needs one connection and milliseconds; a client that trickles its request a
 * byte at a time must not hold one for long, nor one address many (item: 64 tricklers
 * locked /metrics out; MHD's own timeout is per idle gap, which a trickle never opens). */
#define MAX_CONNS 64
#define MAX_CONNS_PER_IP 8
#define IDLE_TIMEOUT_S 10
#define CONN_DEADLINE_NS (5ULL * RG_NSEC_PER_SEC)	/* connect (or answer) to next answer */
#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

void rg_mbuf_init(struct rg_mbuf *b)
{
	memset(b, 0, sizeof(*b));
}

void rg_mbuf_free(struct rg_mbuf *b)
{
	free(b->buf);
	rg_mbuf_init(b);
}

static int mbuf_reserve(struct rg_mbuf *b, size_t more)
{
	size_t cap;
	char *p;

	if (b->err)
		return b->err;
	if (b->len + more + 1 <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 4096;
	while (cap < b->len + more + 1) {
		if (cap > (64u << 20)) {
			b->err = -E2BIG;
			return b->err;
		}
		cap *= 2;
	}
	p = realloc(b->buf, cap);
	if (!p) {
		b->err = -ENOMEM;
		return b->err;
	}
	b->buf = p;
	b->cap = cap;
	return 0;
}

__attribute__((format(printf, 2, 0)))
static void mbuf_vprintf(struct rg_mbuf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0) {
		b->err = -EINVAL;
		return;
	}
	if (mbuf_reserve(b, (size_t)n))
		return;
	vsnprintf(b->buf + b->len, b->cap - b->len, fmt, ap);
	b->len += (size_t)n;
}

void rg_mbuf_printf(struct rg_mbuf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	mbuf_vprintf(b, fmt, ap);
	va_end(ap);
}

static void mbuf_putc(struct rg_mbuf *b, char c)
{
	if (mbuf_reserve(b, 1))
		return;
	b->buf[b->len++] = c;
	b->buf[b->len] = '\0';
}

/* HELP text escapes backslash and newline; label values also escape the double quote. */
static void mbuf_escaped(struct rg_mbuf *b, const char *s, bool quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			rg_mbuf_printf(b, "\\\\");
		else if (*s == '\n')
			rg_mbuf_printf(b, "\\n");
		else if (*s == '"' && quote)
			rg_mbuf_printf(b, "\\\"");
		else
			mbuf_putc(b, *s);
	}
}

static void mbuf_value(struct rg_mbuf *b, double v)
{
	if (isnan(v))
		rg_mbuf_printf(b, "NaN");
	else if (isinf(v))
		rg_mbuf_printf(b, v > 0 ? "+Inf" : "-Inf");
	else if (v == floor(v) && fabs(v) < 9007199254740992.0)	/* 2^53: exact */
		rg_mbuf_printf(b, "%.0f", v);
	else
		rg_mbuf_printf(b, "%.17g", v);
}

void rg_metric_family(struct rg_mbuf *b, const char *name, const char *type, const char *help)
{
	rg_mbuf_printf(b, "# HELP %s ", name);
	mbuf_escaped(b, help, false);
	rg_mbuf_printf(b, "\n# TYPE %s %s\n", name, type);
}

void rg_metric_vsample(struct rg_mbuf *b, const char *name, double value, const char *const *kv,
		       size_t n_kv)
{
	size_t i;

	rg_mbuf_printf(b, "%s", name);
	for (i = 0; i + 1 < n_kv; i += 2) {
		rg_mbuf_printf(b, "%s%s=\"", i ? "," : "{", kv[i]);
		mbuf_escaped(b, kv[i + 1] ? kv[i + 1] : "", true);
		mbuf_putc(b, '"');
	}
	if (n_kv >= 2)
		mbuf_putc(b, '}');
	mbuf_putc(b, ' ');
	mbuf_value(b, value);
	mbuf_putc(b, '\n');
}

void rg_metric_sample(struct rg_mbuf *b, const char *name, double value, ...)
{
	const char *kv[16];
	size_t n = 0;
	va_list ap;
	const char *s;

	va_start(ap, value);
	while ((s = va_arg(ap, const char *)) != NULL) {
		if (n >= sizeof(kv) / sizeof(kv[0])) {
			b->err = -E2BIG;
			break;
		}
		kv[n++] = s;
	}
	va_end(ap);
	rg_metric_vsample(b, name, value, kv, n);
}

void rg_metric_counter(struct rg_mbuf *b, const char *name, const char *help, double value)
{
	rg_metric_family(b, name, "counter", help);
	rg_metric_vsample(b, name, value, NULL, 0);
}

void rg_metric_gauge(struct rg_mbuf *b, const char *name, const char *help, double value)
{
	rg_metric_family(b, name, "gauge", help);
	rg_metric_vsample(b, name, value, NULL, 0);
}

int rg_hist_init(struct rg_hist *h, const double *le, size_t n)
{
	size_t i;

	memset(h, 0, sizeof(*h));
	if (n > RG_HIST_MAX_BUCKETS)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (!isfinite(le[i]) || (i && le[i] <= le[i - 1]))
			return -EINVAL;
		h->le[i] = le[i];
	}
	h->n = n;
	return 0;
}

void rg_hist_init_latency(struct rg_hist *h)
{
	static const double le[] = { 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
				     0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5 };

	rg_hist_init(h, le, sizeof(le) / sizeof(le[0]));
}

void rg_hist_observe(struct rg_hist *h, double v)
{
	size_t i;

	if (isnan(v))
		return;
	for (i = 0; i < h->n && v > h->le[i]; i++)
		;
	h->counts[i]++;
	h->count++;
	h->sum += v;
}

void rg_hist_observe_ns(void *hist, uint64_t ns)
{
	rg_hist_observe(hist, (double)ns / 1e9);
}

void rg_hist_write(struct rg_mbuf *b, const char *name, const char *help,
		   const struct rg_hist *h)
{
	uint64_t cum = 0;
	size_t i;

	rg_metric_family(b, name, "histogram", help);
	for (i = 0; i < h->n; i++) {
		cum += h->counts[i];
		rg_mbuf_printf(b, "%s_bucket{le=\"%.15g\"} %llu\n", name, h->le[i],
			       (unsigned long long)cum);
	}
	cum += h->counts[h->n];
	rg_mbuf_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
	rg_mbuf_printf(b, "%s_sum ", name);
	mbuf_value(b, h->sum);
	rg_mbuf_printf(b, "\n%s_count %llu\n", name, (unsigned long long)h->count);
}

/* The server. */

struct source {
	rg_metrics_source_fn fn;
	void *ctx;
};

/* One client connection, in deadline order (all get the same bound). */
struct mconn {
	int fd;
	uint64_t deadline;
	bool queued;			/* on conns: a cut one has left it before it closes */
	struct rg_link link;
};

struct rg_metrics {
	struct MHD_Daemon *d;
	struct rg_fifo conns;		/* struct mconn.link, earliest deadline first */
	struct rg_ev *ev;		/* MHD's epoll fd and its timeouts, for the agent's loop */
	struct rg_ev_watch mhd;
	uint16_t port;
	struct source sources[MAX_SOURCES];
	size_t n_sources;
	uint64_t scrapes;
	uint64_t cut;			/* connections shut for passing their deadline */
};

static struct mconn *mconn_head(const struct rg_metrics *m)
{
	return m->conns.head ? rg_container_of(m->conns.head, struct mconn, link) : NULL;
}

static void mconn_unlink(struct rg_metrics *m, struct mconn *c)
{
	if (c->queued)
		rg_fifo_del(&m->conns, &c->link);
	c->queued = false;
}

/* (Re)start c's deadline: to the tail, the queue stays in deadline order. */
static void mconn_arm(struct rg_metrics *m, struct mconn *c)
{
	mconn_unlink(m, c);
	c->deadline = rg_now_mono_ns() + CONN_DEADLINE_NS;
	rg_fifo_push(&m->conns, &c->link);
	c->queued = true;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct rg_metrics *m = cls;
	const union MHD_ConnectionInfo *ci;
	struct mconn *c = *socket_context;

	if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		if (c) {
			mconn_unlink(m, c);
			free(c);
		}
		*socket_context = NULL;
		return;
	}
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	c = calloc(1, sizeof(*c));
	if (!c || !ci) {
		free(c);
		return;	/* unbounded by us; MHD's idle timeout and limits still apply */
	}
	c->fd = ci->connect_fd;
	*socket_context = c;
	mconn_arm(m, c);
}

/* Shut the sockets of connections past their deadline; MHD sees the hang-up and closes
 * them (and tells on_connection) in its next run. */
static void cut_expired(struct rg_metrics *m)
{
	uint64_t now = rg_now_mono_ns();

	struct mconn *c;

	while ((c = mconn_head(m)) && c->deadline <= now) {
		mconn_unlink(m, c);
		c->deadline = 0;
		shutdown(c->fd, SHUT_RDWR);
		m->cut++;
	}
}

/* MHD logs a line per refused or broken connection: a flood of clients must not become
 * a flood of log lines. */
__attribute__((format(printf, 2, 0)))
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	static struct rg_ratelimit rl;

	if (rg_ratelimit_ok(&rl, "metrics", "HTTP server"))
		rg_vlog(RG_LOG_INFO, fmt, ap);
}

static enum MHD_Result queue_static(struct MHD_Connection *conn, unsigned status,
				    const char *body, const char *allow)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	if (allow)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	struct rg_metrics *m = cls;
	const union MHD_ConnectionInfo *ci;
	struct MHD_Response *r;
	struct rg_mbuf b;
	enum MHD_Result ret;
	size_t i;

	/* A whole request arrived: a keep-alive client gets a fresh bound for the next. */
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	if (ci && ci->socket_context && ((struct mconn *)ci->socket_context)->deadline)
		mconn_arm(m, ci->socket_context);

	if (strcmp(method, MHD_HTTP_METHOD_GET))
		return queue_static(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n",
				    "GET");
	if (strcmp(url, "/metrics"))
		return queue_static(conn, MHD_HTTP_NOT_FOUND, "not found\n", NULL);

	rg_mbuf_init(&b);
	for (i = 0; i < m->n_sources; i++)
		m->sources[i].fn(m->sources[i].ctx, &b);
	if (b.err) {
		pr_warn("metrics: cannot build the page: %s", strerror(-b.err));
		rg_mbuf_free(&b);
		return queue_static(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "error\n", NULL);
	}
	if (!b.buf)
		return queue_static(conn, MHD_HTTP_OK, "", NULL);
	r = MHD_create_response_from_buffer(b.len, b.buf, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		rg_mbuf_free(&b);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, CONTENT_TYPE);
	ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	m->scrapes++;
	return ret;
}

static void arm_timer(struct rg_metrics *m)
{
	MHD_UNSIGNED_LONG_LONG ms;
	uint64_t when = 0;

	/* "Work is pending now" (0 ms) must still be a wake-up: one nanosecond from now. */
	if (MHD_get_timeout(m->d, &ms) == MHD_YES)
		when = rg_now_mono_ns() + ms * 1000000ULL + 1;
	if (mconn_head(m) && (!when || mconn_head(m)->deadline < when))
		when = mconn_head(m)->deadline;
	rg_ev_set_wakeup(m->ev, when);
}

int rg_metrics_new(const char *listen_s, struct rg_metrics **out)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t sslen = 0;
	struct rg_metrics *m;
	const union MHD_DaemonInfo *info;
	int lfd = -1, err;

	*out = NULL;
	if (!listen_s)
		return -EINVAL;
	if (strncmp(listen_s, "inet:", 5)) {
		pr_warn("metrics: metrics_listen must be inet:HOST:PORT, not \"%.100s\"", listen_s);
		return -EINVAL;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;

	/* Our own socket (listen.h), so a bind failure reports its errno. */
	err = rg_listen_inet("metrics_listen", listen_s + 5, 32, &lfd);
	if (err)
		goto out;
	sslen = sizeof(ss);
	if (getsockname(lfd, (struct sockaddr *)&ss, &sslen)) {
		err = -errno;
		goto out;
	}
	m->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port :
			((struct sockaddr_in *)&ss)->sin_port);

	m->d = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
				(ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
				0, NULL, NULL, on_request, m,
				/* First: libmicrohttpd logs about the options that precede it
				 * to stderr, raw, and says so. */
				MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				MHD_OPTION_LISTEN_SOCKET, lfd,
				MHD_OPTION_NOTIFY_CONNECTION, on_connection, m,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned int)MAX_CONNS,
				MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)MAX_CONNS_PER_IP,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)IDLE_TIMEOUT_S,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32768,
				MHD_OPTION_END);
	if (!m->d) {
		pr_warn("metrics: cannot start the HTTP server on %s", listen_s);
		err = -EIO;
		goto out;
	}
	lfd = -1;	/* MHD owns it now */
	info = MHD_get_daemon_info(m->d, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info || info->epoll_fd < 0) {
		err = -EIO;
		goto out;
	}
	err = rg_ev_new("metrics", &m->ev);
	if (!err)
		err = rg_ev_watch_add(m->ev, &m->mhd, info->epoll_fd);
	if (err)
		goto out;
	arm_timer(m);
	pr_info("metrics: serving /metrics on %s (port %u)", listen_s, m->port);
	*out = m;
	return 0;
out:
	if (lfd >= 0)
		close(lfd);
	rg_metrics_free(m);
	return err;
}

int rg_metrics_add_source(struct rg_metrics *m, rg_metrics_source_fn fn, void *ctx)
{
	if (!fn)
		return -EINVAL;
	if (m->n_sources >= MAX_SOURCES)
		return -ENOMEM;
	m->sources[m->n_sources].fn = fn;
	m->sources[m->n_sources].ctx = ctx;
	m->n_sources++;
	return 0;
}

int rg_metrics_fd(const struct rg_metrics *m)
{
	return rg_ev_fd(m->ev);
}

uint16_t rg_metrics_port(const struct rg_metrics *m)
{
	return m->port;
}

uint64_t rg_metrics_scrapes(const struct rg_metrics *m)
{
	return m->scrapes;
}

uint64_t rg_metrics_cut(const struct rg_metrics *m)
{
	return m->cut;
}

int rg_metrics_dispatch(struct rg_metrics *m)
{
	int n = rg_ev_dispatch(m->ev, 0);

	if (n < 0 && n != -EINTR)
		return n;
	cut_expired(m);
	if (MHD_run(m->d) != MHD_YES)
		pr_debug("metrics: MHD_run reported an error");
	arm_timer(m);
	return 0;
}

void rg_metrics_free(struct rg_metrics *m)
{
	if (!m)
		return;
	if (m->d)
		MHD_stop_daemon(m->d);
	rg_ev_free(m->ev);
	free(m);
}
