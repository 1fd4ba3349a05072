// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * readfile.c: the one whole-file reader (readfile.h). Takes a path, a size cap and open
 * flags; reports the bytes or -errno. The size is taken from fstat but the file is read
 * to EOF, because it can grow or shrink while it is read; it never reads past the cap.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "readfile.h"

int rg_read_file(const char *path, size_t max, int oflags, char **out, size_t *out_len,
		 struct stat *st_out)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0, cap;
	int fd, err = 0;

	*out = NULL;
	*out_len = 0;
	/* O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | oflags);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		err = -errno;
		goto out;
	}
	if (st_out)
		*st_out = st;
	if (S_ISDIR(st.st_mode)) {
		err = -EISDIR;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		err = -EINVAL;
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		err = -EFBIG;
		goto out;
	}
	cap = (size_t)st.st_size + 1;
	buf = malloc(cap + 1);
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t n;

		if (len == cap) {
			size_t ncap = cap > (max + 1) / 2 ? max + 1 : cap * 2;
			char *nb;

			if (ncap <= cap) {
				err = -EFBIG;
				goto out;
			}
			nb = realloc(buf, ncap + 1);
			if (!nb) {
				err = -ENOMEM;
				goto out;
			}
			buf = nb;
			cap = ncap;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > max) {
		err = -EFBIG;
		goto out;
	}
	buf[len] = '\0';
	*out = buf;
	*out_len = len;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return err;
}
