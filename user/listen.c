// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * listen.c: makes listening sockets (see listen.h). Takes a unix path with owner, mode and
 * parent policy, or an inet HOST:PORT; reports the listening fd, or -errno with the reason
 * logged under the caller's name. Unix sockets are bound, owned and moded inside a private
 * directory and renamed into place, so no step acts on a path another user can swap.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "listen.h"
#include "log.h"
#include "mkdirs.h"

int rg_sock_path_split(const char *path, char *dir, size_t dlen, const char **base)
{
	const char *slash = strrchr(path, '/');
	size_t n;

	if (!slash) {
		snprintf(dir, dlen, ".");
		*base = path;
		return 0;
	}
	n = slash == path ? 1 : (size_t)(slash - path);
	if (n >= dlen)
		return -ENAMETOOLONG;
	memcpy(dir, path, n);
	dir[n] = '\0';
	*base = slash + 1;
	return **base ? 0 : -EINVAL;
}

/* A socket file at base: refuse if someone answers on it, else remove it as stale. */
static int clear_stale(const char *who, int dfd, const char *base, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, err = 0;

	if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW)) {
		if (errno == ENOENT)
			return 0;
		err = -errno;
		pr_err("%s: %s: %s", who, path, strerror(-err));
		return err;
	}
	if (!S_ISSOCK(st.st_mode)) {
		pr_err("%s: %s exists and is not a socket", who, path);
		return -EEXIST;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		pr_err("%s: another server is listening on %s", who, path);
		err = -EADDRINUSE;
	} else if (unlinkat(dfd, base, 0) && errno != ENOENT) {
		err = -errno;
		pr_err("%s: removing stale %s: %s", who, path, strerror(-err));
	}
	close(fd);
	return err;
}

/* The uid and gid the socket is given; -1 keeps ours. */
static int resolve_owner(const char *who, const char *owner, uid_t *uid, gid_t *gid)
{
	struct passwd *pw;

	*uid = (uid_t)-1;
	*gid = (gid_t)-1;
	if (!owner)
		return 0;
	errno = 0;
	pw = getpwnam(owner);
	if (!pw) {
		pr_err("%s: user %s does not exist; the socket would have to be open to every "
		       "local user, so it is not created", who, owner);
		return errno ? -errno : -ENOENT;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

/* Bind base inside the directory tfd. bind() takes a path, so it is made relative to tfd
 * by a brief fchdir (the agent is single-threaded). The umask makes the socket 0600 at
 * birth; it only ever widens to the requested mode inside our private directory. */
static int bind_in(int sock, int tfd, const char *base)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	mode_t old_umask;
	int cwd, err = 0;

	if (strlen(base) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, base, strlen(base) + 1);
	cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (cwd < 0)
		return -errno;
	if (fchdir(tfd)) {
		err = -errno;
		goto out;
	}
	old_umask = umask(0177);
	if (bind(sock, (struct sockaddr *)&sa, sizeof(sa)))
		err = -errno;
	umask(old_umask);
	if (fchdir(cwd) && !err)
		err = -errno;
out:
	close(cwd);
	return err;
}

int rg_listen_unix(const char *who, const char *path, const struct rg_unix_listen_opts *o,
		   int *fd, struct rg_sock_file *file)
{
	struct sockaddr_un sa;
	char dir[sizeof(sa.sun_path)], tmp[sizeof(sa.sun_path) + 16];
	const char *base, *tname;
	struct stat st, st2;
	uid_t uid;
	gid_t gid;
	int dfd = -1, tfd = -1, sock = -1, err;
	bool bound = false;

	*fd = -1;
	memset(file, 0, sizeof(*file));
	if (!*path || strlen(path) >= sizeof(sa.sun_path)) {
		pr_err("%s: socket path empty or longer than %zu bytes", who,
		       sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	if (o->mode & 0007) {
		pr_err("%s: mode %04o would let every local user connect", who, o->mode);
		return -EINVAL;
	}
	err = rg_sock_path_split(path, dir, sizeof(dir), &base);
	if (err) {
		pr_err("%s: %s: not a socket file name", who, path);
		return err;
	}
	err = resolve_owner(who, o->owner, &uid, &gid);
	if (err)
		return err;
	if (o->parent_mode) {
		err = rg_mkdir_p(dir, o->parent_mode);
		if (err) {
			pr_err("%s: cannot create %s: %s", who, dir, strerror(-err));
			return err;
		}
	}
	dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		err = errno == ENOTDIR ? -ENOTDIR : -errno;
		pr_err("%s: directory %s: %s%s", who, dir, strerror(-err),
		       o->parent_mode ? "" : " (it is not created here)");
		return err;
	}
	err = clear_stale(who, dfd, base, path);
	if (err)
		goto out;

	/* Our own directory beside the final name: the same filesystem, so rename works. */
	snprintf(tmp, sizeof(tmp), "%s/.rg-sock.XXXXXX", dir);
	if (!mkdtemp(tmp)) {
		err = -errno;
		pr_err("%s: cannot make a private directory in %s: %s", who, dir, strerror(-err));
		goto out;
	}
	tname = strrchr(tmp, '/') + 1;
	tfd = openat(dfd, tname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (tfd < 0 || fstat(tfd, &st) || st.st_uid != geteuid() ||
	    (st.st_mode & 07777) != 0700) {
		err = tfd < 0 ? -errno : -EPERM;
		pr_err("%s: private directory %s was replaced under us", who, tmp);
		goto out_tmp;
	}
	sock = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (sock < 0) {
		err = -errno;
		goto out_tmp;
	}
	err = bind_in(sock, tfd, base);
	if (err) {
		pr_err("%s: bind: %s", who, strerror(-err));
		goto out_tmp;
	}
	bound = true;
	/* Mode first, while the file is still ours: no CAP_FOWNER needed after the chown. */
	if (fchmodat(tfd, base, o->mode, 0)) {
		err = -errno;
		pr_err("%s: chmod: %s", who, strerror(-err));
		goto out_tmp;
	}
	if (fchownat(tfd, base, uid, gid, AT_SYMLINK_NOFOLLOW)) {
		err = -errno;
		pr_err("%s: cannot give the socket to user %s: %s; it is not created (it would "
		       "otherwise have to be open to every local user)", who,
		       o->owner ? o->owner : "?", strerror(-err));
		goto out_tmp;
	}
	if (fstatat(tfd, base, &st, AT_SYMLINK_NOFOLLOW) || !S_ISSOCK(st.st_mode) ||
	    (st.st_mode & 07777) != o->mode || (uid != (uid_t)-1 && st.st_uid != uid) ||
	    (gid != (gid_t)-1 && st.st_gid != gid)) {
		err = -EPERM;
		pr_err("%s: the socket does not have the owner and mode just set", who);
		goto out_tmp;
	}
	if (listen(sock, o->backlog > 0 ? o->backlog : SOMAXCONN)) {
		err = -errno;
		pr_err("%s: listen: %s", who, strerror(-err));
		goto out_tmp;
	}
	/* Replaces whatever is at the name now (a symlink included) without following it. */
	if (renameat(tfd, base, dfd, base)) {
		err = -errno;
		pr_err("%s: cannot move the socket to %s: %s", who, path, strerror(-err));
		goto out_tmp;
	}
	bound = false;
	/* rename() changed the inode's ctime: take the identity as it is now. */
	if (fstatat(dfd, base, &st2, AT_SYMLINK_NOFOLLOW) || st2.st_ino != st.st_ino ||
	    st2.st_dev != st.st_dev) {
		err = -EAGAIN;
		pr_err("%s: %s was replaced as soon as it appeared", who, path);
		goto out_tmp;
	}
	st = st2;
	file->path = strdup(path);
	if (!file->path) {
		err = -ENOMEM;
		unlinkat(dfd, base, 0);
		goto out_tmp;
	}
	file->dev = st.st_dev;
	file->ino = st.st_ino;
	file->ctime = st.st_ctim;
	*fd = sock;
	sock = -1;
	err = 0;
out_tmp:
	if (bound)
		unlinkat(tfd, base, 0);
	/* rmdir never follows a link and fails on anything not empty. */
	unlinkat(dfd, tname, AT_REMOVEDIR);
out:
	if (sock >= 0)
		close(sock);
	if (tfd >= 0)
		close(tfd);
	close(dfd);
	return err;
}

int rg_sock_file_unlinkat(const struct rg_sock_file *file, int dfd, const char *base)
{
	struct stat st;

	if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW))
		return -errno;
	if (!S_ISSOCK(st.st_mode) || st.st_dev != file->dev || st.st_ino != file->ino ||
	    st.st_ctim.tv_sec != file->ctime.tv_sec || st.st_ctim.tv_nsec != file->ctime.tv_nsec)
		return -ESTALE;
	return unlinkat(dfd, base, 0) ? -errno : 0;
}

void rg_sock_file_remove(struct rg_sock_file *file)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	const char *base;
	int dfd;

	if (file->path && !rg_sock_path_split(file->path, dir, sizeof(dir), &base)) {
		dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			rg_sock_file_unlinkat(file, dfd, base);
			close(dfd);
		}
	}
	free(file->path);
	file->path = NULL;
}

int rg_inet_parse(const char *who, const char *hostport, struct sockaddr_storage *ss,
		  socklen_t *len)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *ai = NULL;
	const char *port;
	char host[256];
	size_t hl;
	int rc;

	if (hostport[0] == '[') {
		const char *end = strchr(hostport, ']');

		if (!end || end[1] != ':')
			goto bad;
		hl = (size_t)(end - hostport - 1);
		if (hl >= sizeof(host))
			goto bad;
		memcpy(host, hostport + 1, hl);
		port = end + 2;
		hints.ai_family = AF_INET6;
	} else {
		const char *colon = strrchr(hostport, ':');

		if (!colon)
			goto bad;
		hl = (size_t)(colon - hostport);
		if (hl >= sizeof(host) || memchr(hostport, ':', hl))
			goto bad;	/* a bare IPv6 address is ambiguous with the port */
		memcpy(host, hostport, hl);
		port = colon + 1;
		/* "*" is 0.0.0.0 alone, not whichever family getaddrinfo lists first ("[*]" is
		 * ::, IPv6 only). */
		if (hl == 1 && hostport[0] == '*')
			hints.ai_family = AF_INET;
	}
	host[hl] = '\0';
	if (!hl || !*port || strlen(port) > 5 || strspn(port, "0123456789") != strlen(port) ||
	    atoi(port) > 65535)
		goto bad;
	rc = getaddrinfo(strcmp(host, "*") ? host : NULL, port, &hints, &ai);
	if (rc || !ai) {
		pr_err("%s: cannot resolve %s: %s", who, host, gai_strerror(rc));
		freeaddrinfo(ai);
		return -EINVAL;
	}
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
bad:
	pr_err("%s: expected inet:HOST:PORT or inet:[IPV6]:PORT (HOST * for any address)", who);
	return -EINVAL;
}

int rg_listen_inet(const char *who, const char *hostport, int backlog, int *fd)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int s, one = 1, err;

	*fd = -1;
	err = rg_inet_parse(who, hostport, &ss, &len);
	if (err)
		return err;
	s = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(s, (struct sockaddr *)&ss, len) || listen(s, backlog > 0 ? backlog : SOMAXCONN)) {
		err = -errno;
		pr_err("%s: %s", who, strerror(-err));
		close(s);
		return err;
	}
	*fd = s;
	return 0;
}
