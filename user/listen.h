/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * listen.h: listening sockets for the policy, control and metrics servers. One parser of
 * "inet:HOST:PORT" / "inet:[IPV6]:PORT" ("*": any IPv4 address, "[*]": any IPv6) and one
 * way to put a unix socket on a path another user may control:
 *
 * The socket is bound in a fresh directory of our own (0700) beside the final name, owned
 * and moded there (by fd, never by path), checked with fstatat(), and then rename()d into
 * place: the final name is replaced, never followed, so whoever owns the directory cannot
 * redirect the chown/chmod through a symlink. A socket is never world-accessible: a mode
 * with bits for others is refused, and so is a start where the owner cannot be set.
 */
#ifndef RG_LISTEN_H
#define RG_LISTEN_H

#include <stdbool.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

struct rg_unix_listen_opts {
	const char *owner;	/* user whose uid and primary group own the socket; NULL: ours */
	mode_t mode;		/* permission bits: 0600, 0660 (others' bits are refused) */
	mode_t parent_mode;	/* 0: the directory must exist; else created with this mode */
	int backlog;
};

/* A socket file we made, so it is removed only while it is still ours (the inode number
 * alone is not enough: a successor's socket may get the number of ours it removed). */
struct rg_sock_file {
	char *path;
	dev_t dev;
	ino_t ino;
	struct timespec ctime;
};

/*
 * Listen on unix socket path. who prefixes log lines ("policy_listen unix:/x"). A stale
 * socket there (nobody accepts) is replaced; a live one is -EADDRINUSE, anything that is
 * not a socket -EEXIST. An owner that does not exist is -ENOENT, one we may not give the
 * socket to (no CAP_CHOWN) -EPERM; both are logged and nothing is left behind. On success
 * *fd is the listening socket (non-blocking, close-on-exec) and *file what to remove.
 */
int rg_listen_unix(const char *who, const char *path, const struct rg_unix_listen_opts *o,
		   int *fd, struct rg_sock_file *file);
/* Unlink the file if it is still the socket we made; free the path. NULL path is fine. */
void rg_sock_file_remove(struct rg_sock_file *file);
/* The one identity check: unlink base in the directory dfd only if it is still file's
 * socket (type, device, inode and ctime; no link followed). 0 removed, -ESTALE another file
 * is there now, -ENOENT gone, or the -errno of the stat or unlink. The sock_keeper uses it
 * too. A writer of the directory could still swap the name between the check and the
 * unlink: the directories this protects (the agent's own, Postfix's private/) have none
 * but their owner and root. */
int rg_sock_file_unlinkat(const struct rg_sock_file *file, int dfd, const char *base);
/* "dir/base" of a socket path: dir "/" for a top-level name, "." when there is no slash.
 * 0, -ENAMETOOLONG (dir longer than dlen) or -EINVAL (no base name). */
int rg_sock_path_split(const char *path, char *dir, size_t dlen, const char **base);

/* Parse "HOST:PORT" or "[IPV6]:PORT" (what follows "inet:"); HOST a name or address, "*"
 * every IPv4 address (0.0.0.0), "[*]" every IPv6 address (::, bound IPv6-only). 0 or
 * -EINVAL (logged with who). */
int rg_inet_parse(const char *who, const char *hostport, struct sockaddr_storage *ss,
		  socklen_t *len);
/* Parse and listen (SO_REUSEADDR; IPv6 sockets IPV6_V6ONLY). 0, -EINVAL or the bind's
 * -errno (-EADDRINUSE ...), logged. */
int rg_listen_inet(const char *who, const char *hostport, int backlog, int *fd);

#endif /* RG_LISTEN_H */
