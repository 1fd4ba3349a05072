/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * fuzz_common.h: what every fuzz target shares: the libFuzzer entry points and an
 * invariant check that aborts (so libFuzzer saves the input and the regression replay
 * fails) with the broken condition named.
 */
#ifndef RG_FUZZ_COMMON_H
#define RG_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_CHECK(cond)                                                                  \
	do {                                                                              \
		if (!(cond)) {                                                            \
			fprintf(stderr, "invariant failed: %s (%s:%d)\n", #cond, __FILE__,  \
				__LINE__);                                                \
			abort();                                                          \
		}                                                                         \
	} while (0)

#endif /* RG_FUZZ_COMMON_H */
