// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * control_client.c: the control protocol's client half (control_client.h). Takes a socket
 * path and a request object; reports the reply object or -errno. Reads are bounded in time
 * (one deadline for the whole reply) and size; a reply is one line, so the first newline
 * ends it.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "control_client.h"

int rg_control_connect(const char *path, int *fd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = strlen(path);
	int s, err;

	*fd = -1;
	if (len >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, len + 1);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa))) {
		err = -errno;
		close(s);
		return err;
	}
	*fd = s;
	return 0;
}

static int send_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int rg_control_call(int fd, json_object *req, int timeout_ms, json_object **reply)
{
	const char *s = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	int64_t deadline = now_ms() + timeout_ms;
	size_t len = 0, cap = 0;
	char *buf = NULL, *nl = NULL;
	int err;

	*reply = NULL;
	if (!s)
		return -ENOMEM;
	err = send_all(fd, s, strlen(s));
	if (!err)
		err = send_all(fd, "\n", 1);
	while (!err && !nl) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = deadline - now_ms();
		ssize_t r;

		if (left <= 0) {
			err = -ETIMEDOUT;
			break;
		}
		if (poll(&p, 1, (int)left) < 0) {
			if (errno != EINTR)
				err = -errno;
			continue;
		}
		if (len + 65536 > cap) {
			char *b;

			if (cap >= RG_CONTROL_REPLY_MAX) {
				err = -EMSGSIZE;
				break;
			}
			cap = cap ? cap * 2 : 65536;
			b = realloc(buf, cap + 1);
			if (!b) {
				err = -ENOMEM;
				break;
			}
			buf = b;
		}
		r = recv(fd, buf + len, cap - len, MSG_DONTWAIT);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r <= 0) {
			err = r < 0 ? -errno : -ECONNRESET;
			break;
		}
		nl = memchr(buf + len, '\n', (size_t)r);
		len += (size_t)r;
	}
	if (err)
		goto out;
	*nl = '\0';
	*reply = json_tokener_parse(buf);
	if (!*reply || !json_object_is_type(*reply, json_type_object)) {
		json_object_put(*reply);
		*reply = NULL;
		err = -EBADMSG;
	}
out:
	free(buf);
	return err;
}
