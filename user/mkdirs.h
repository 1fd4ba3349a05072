/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * mkdirs.h: "mkdir -p" for the directories the agent owns (state_dir, the control
 * socket's directory).
 */
#ifndef RG_MKDIRS_H
#define RG_MKDIRS_H

#include <sys/types.h>

/* Create dir and every missing parent with mode (existing ones are left as they are).
 * 0, -ENAMETOOLONG, or the -errno of the mkdir that failed. */
int rg_mkdir_p(const char *dir, mode_t mode);

#endif /* RG_MKDIRS_H */
