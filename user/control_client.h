/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * control_client.h: the client half of the control protocol (control.h): connect to the
 * agent's socket, send one request line, read one reply line as a JSON object, with a
 * deadline and a size cap. relayguardctl is its user; it prints and maps the errors.
 */
#ifndef RG_CONTROL_CLIENT_H
#define RG_CONTROL_CLIENT_H

#include <json-c/json.h>

#define RG_CONTROL_REPLY_MAX (64u << 20)	/* bytes in one reply line */

/* 0 and *fd; -ENAMETOOLONG, -EACCES/-EPERM (the socket refuses us), or the connect
 * error (-ENOENT, -ECONNREFUSED: no agent there). */
int rg_control_connect(const char *path, int *fd);

/*
 * Send req (not consumed) as one line and read the reply line: 0 and *reply (the caller
 * puts it). -ETIMEDOUT after timeout_ms without the whole line, -EMSGSIZE over
 * RG_CONTROL_REPLY_MAX, -ECONNRESET when the agent closed without a reply, -EBADMSG when
 * the reply is not a JSON object, -ENOMEM, or the send error.
 */
int rg_control_call(int fd, json_object *req, int timeout_ms, json_object **reply);

#endif /* RG_CONTROL_CLIENT_H */
