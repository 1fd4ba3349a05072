/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * redis_passfile.h: the fleet's Redis credentials file ([fleet] redis_password_file). One
 * line, `password` or `user password` (words split by spaces or tabs; surrounding
 * whitespace and the line end stripped), in a file no other user may read or write.
 */
#ifndef RG_REDIS_PASSFILE_H
#define RG_REDIS_PASSFILE_H

/*
 * Read path into *user (NULL for the one-word form) and *password, both allocated; free
 * them with rg_redis_password_free(). Errors are logged (never the secret) and returned:
 * -EPERM when others may read or write the file, -EINVAL when it is empty, has more than
 * two words or more than one line or a NUL byte, -EFBIG past 4 KiB, -ENOMEM, or the -errno
 * of opening it (-ENOENT, -EACCES, -EISDIR).
 */
int rg_redis_read_password_file(const char *path, char **user, char **password);
/* Zero and free what rg_redis_read_password_file() returned. NULLs are fine. */
void rg_redis_password_free(char *user, char *password);

#endif /* RG_REDIS_PASSFILE_H */
