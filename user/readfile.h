/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * readfile.h: read a whole regular file into memory under a size cap, for the
 * configuration loader and the state file. Takes a path, a byte cap and extra open(2)
 * flags (O_NOFOLLOW for files the agent wrote itself); reports 0 or -errno.
 */
#ifndef RG_READFILE_H
#define RG_READFILE_H

#include <stddef.h>
#include <sys/stat.h>

/*
 * Read path whole into a NUL-terminated *out (the caller frees it) of *len bytes. The file
 * is opened non-blocking and only a regular file is read, so a FIFO or a device never
 * hangs the caller. 0, or -errno: -EISDIR for a directory, -EINVAL for any other file
 * that is not regular, -EFBIG for one over max bytes. st (may be NULL) gets its fstat,
 * and is left as it was when the file could not be opened or stat'ed.
 */
int rg_read_file(const char *path, size_t max, int oflags, char **out, size_t *len,
		 struct stat *st);

#endif /* RG_READFILE_H */
