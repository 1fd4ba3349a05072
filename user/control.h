/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * control.h: the agent's control socket, which relayguardctl talks to. The server knows
 * nothing about tenants or maps: main.c registers one handler per command name and the
 * server does the transport, peer checks, limits and logging.
 *
 * Transport: a Unix stream socket at control_socket (parent directory created 0700 if
 * missing, socket 0600, owned by the agent's user, root). Non-blocking, many clients,
 * driven from the agent's epoll through one fd (rg_control_fd) that is readable whenever
 * rg_control_dispatch() has work: new clients, requests, or a client's timeout.
 *
 * Protocol: one JSON object per line each way, UTF-8, '\n' terminated. A client may send
 * several requests on one connection; each gets exactly one reply, in order.
 *
 *   request:  {"cmd":"block_host","host":"192.0.2.7/32","for_s":900}
 *   reply:    {"ok":true, ...command fields...}
 *             {"ok":false,"error":"unknown tenant \"x\"","code":"unknown_tenant"}
 *
 * "cmd" is required (a string of [a-z_], at most 32 chars); the other members depend on it
 * (relayguardctl.c documents the commands and reply fields). "error" is for humans, "code"
 * for programs; codes: see RG_CTL_E_* below. Requests longer than RG_CONTROL_MAX_REQUEST
 * bytes get a "too_large" reply and the connection is closed; so is a connection that
 * sends nothing for RG_CONTROL_IDLE_TIMEOUT_S, or does not finish a request line within
 * RG_CONTROL_REQUEST_TIMEOUT_S of its first byte. Replies are never truncated.
 *
 * Peers: credentials come from SO_PEERCRED. Only uid 0 is served; others get one reply
 * {"ok":false,"code":"permission_denied"} and are disconnected (and logged). Every request
 * is logged at info level with the peer ("uid=0 pid=1234") and command; rg_peer.by carries
 * that same string for the handler's audit log.
 */
#ifndef RG_CONTROL_H
#define RG_CONTROL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <json-c/json.h>

#define RG_CONTROL_MAX_REQUEST 8192	/* bytes in one request line, newline included */
#define RG_CONTROL_MAX_CLIENTS 32
#define RG_CONTROL_IDLE_TIMEOUT_S 60
#define RG_CONTROL_REQUEST_TIMEOUT_S 10
#define RG_CONTROL_MAX_REPLY (16u << 20) /* a reply bigger than this is an error reply */
#define RG_CONTROL_CMD_MAX 32

/* Reply codes ("code" of an {"ok":false} reply). */
#define RG_CTL_E_PERM "permission_denied"
#define RG_CTL_E_BAD_REQUEST "bad_request"	/* not JSON, not an object, members wrong */
#define RG_CTL_E_TOO_LARGE "too_large"
#define RG_CTL_E_UNKNOWN_CMD "unknown_command"
#define RG_CTL_E_UNKNOWN_TENANT "unknown_tenant"
#define RG_CTL_E_BAD_ADDRESS "bad_address"
#define RG_CTL_E_NOT_FOUND "not_found"		/* e.g. unblock of a host with no verdict */
#define RG_CTL_E_CONFLICT "conflict"		/* e.g. restrict of a restricted tenant */
#define RG_CTL_E_UNAVAILABLE "unavailable"	/* agent cannot do it now (e.g. no BPF) */
#define RG_CTL_E_INTERNAL "internal"

struct rg_peer {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	char by[48];		/* "uid=0 pid=1234": for audit lines */
	uint64_t call;		/* this request's number, for a reply given later */
};

/* A handler's return for "the reply comes later, through rg_control_answer(peer->call)":
 * the client waits (its next requests stay unread) until then. */
#define RG_CONTROL_LATER 1

/*
 * A command handler. req is the parsed request (an object with a valid "cmd"); reply is an
 * empty object the handler adds its fields to. Return 0: the server adds "ok":true. Return
 * < 0: the server sends {"ok":false} with the "error"/"code" the handler set through
 * rg_control_fail(), or, if it set none, strerror(-ret) and code "internal".
 */
typedef int (*rg_control_fn)(void *ctx, const struct rg_peer *peer, json_object *req,
			     json_object *reply);

struct rg_control;

/* Create the socket at path (an old socket file there is replaced; anything else there
 * is an error, -EEXIST). */
int rg_control_new(const char *path, struct rg_control **out);
/* Register (or replace) the handler of cmd. 0, -EINVAL (bad name), -ENOMEM. */
int rg_control_register(struct rg_control *c, const char *cmd, rg_control_fn fn, void *ctx);
/* The same; read_only commands (listings) have their requests logged at debug level, the
 * others at info. */
int rg_control_register_read_only(struct rg_control *c, const char *cmd, rg_control_fn fn,
				  void *ctx, bool read_only);
/* An fd to watch for EPOLLIN; then call rg_control_dispatch(). */
int rg_control_fd(const struct rg_control *c);
/* Accept, read, run handlers, write replies, expire clients; never blocks. 0 or -errno
 * (only for failures of the server itself; client errors are handled and logged). */
int rg_control_dispatch(struct rg_control *c);
size_t rg_control_clients(const struct rg_control *c);
/* The control socket's file (out[0], max >= 1); how many were put (0 or 1). */
struct rg_sock_file;
size_t rg_control_sock_files(const struct rg_control *c, const struct rg_sock_file **out,
			     size_t max);
/* Override RG_CONTROL_IDLE_TIMEOUT_S / RG_CONTROL_REQUEST_TIMEOUT_S (ms; 0 keeps one). */
void rg_control_set_timeouts(struct rg_control *c, unsigned idle_ms, unsigned request_ms);
/*
 * The reply to call (a handler returned RG_CONTROL_LATER for it), as if the handler had
 * returned ret with reply filled; the client's next requests are served after it. 0, or
 * -ENOENT when that client is gone (closed, timed out): nothing to do then.
 */
int rg_control_answer(struct rg_control *c, uint64_t call, int ret, json_object *reply);
/* Close all clients and the socket, unlink the socket path. NULL is fine. */
void rg_control_free(struct rg_control *c);

/*
 * For handlers: set "ok":false, "code" and a printf-formatted "error" on reply; returns
 * -EINVAL so a handler can `return rg_control_fail(reply, RG_CTL_E_..., "...", ...);`.
 * Text from the request that goes into the message should pass through rg_printable().
 */
int rg_control_fail(json_object *reply, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Request member helpers: 0, -ENOENT (absent), -EINVAL (wrong type / range). */
int rg_control_get_str(json_object *req, const char *key, const char **out);
int rg_control_get_u64(json_object *req, const char *key, uint64_t *out);
int rg_control_get_bool(json_object *req, const char *key, bool *out);

#endif /* RG_CONTROL_H */
