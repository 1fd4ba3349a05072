/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * fleet_lib.h: the fleet's Redis function library (library "relayguard": rg_budget,
 * rg_publish, rg_snapshot), its text for FUNCTION LOAD REPLACE. fleet_lib.c says what each
 * function takes and answers.
 */
#ifndef RG_FLEET_LIB_H
#define RG_FLEET_LIB_H

extern const char rg_fleet_library[];

#endif /* RG_FLEET_LIB_H */
