/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/* version.h: the release, as relayguardd and relayguardctl report it. */
#ifndef RG_VERSION_H
#define RG_VERSION_H

#define RG_VERSION "0.1.0"

#endif /* RG_VERSION_H */
