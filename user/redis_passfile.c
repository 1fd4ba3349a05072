// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * redis_passfile.c: reads the fleet's Redis credentials file (redis_passfile.h) through
 * the one file reader. Takes a path; reports the user (or none) and the password, or why
 * the file is refused. The secret is zeroed wherever it was copied before memory is freed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "readfile.h"
#include "redis_passfile.h"

#define PASSFILE_MAX 4096

static void secret_free(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

void rg_redis_password_free(char *user, char *password)
{
	secret_free(user);
	secret_free(password);
}

static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int rg_redis_read_password_file(const char *path, char **user, char **password)
{
	char *buf = NULL, *words[3] = { NULL }, *p, *end;
	struct stat st;
	size_t len = 0;
	int n = 0, err;

	*user = *password = NULL;
	err = rg_read_file(path, PASSFILE_MAX, 0, &buf, &len, &st);
	if (err) {
		pr_err("redis password file %s: %s", path, strerror(-err));
		return err;
	}
	/* checked on the open file: a password others could read is no longer a secret */
	if (st.st_mode & (S_IROTH | S_IWOTH)) {
		pr_err("redis password file %s: mode %04o lets every user read or write it "
		       "(chmod 600, or 640 with the group relayguard)", path,
		       (unsigned)(st.st_mode & 07777));
		err = -EPERM;
		goto out;
	}
	if (strlen(buf) != len) {
		pr_err("redis password file %s: contains a NUL byte", path);
		err = -EINVAL;
		goto out;
	}
	end = buf + len;
	while (end > buf && is_blank(end[-1]))
		*--end = '\0';
	if (strpbrk(buf, "\r\n")) {
		pr_err("redis password file %s: more than one line", path);
		err = -EINVAL;
		goto out;
	}
	for (p = buf; *p;) {
		while (is_blank(*p))
			p++;
		if (!*p)
			break;
		if (n == 3)
			break;
		words[n++] = p;
		while (*p && !is_blank(*p))
			p++;
		if (*p)
			*p++ = '\0';
	}
	if (n == 0 || n == 3) {
		pr_err("redis password file %s: %s", path, n ? "more than two words "
		       "(one line: password, or user password)" : "empty");
		err = -EINVAL;
		goto out;
	}
	*password = strdup(words[n - 1]);
	if (n == 2)
		*user = strdup(words[0]);
	if (!*password || (n == 2 && !*user)) {
		rg_redis_password_free(*user, *password);
		*user = *password = NULL;
		err = -ENOMEM;
	}
out:
	explicit_bzero(buf, len);
	free(buf);
	return err;
}
