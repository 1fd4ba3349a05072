// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * fuzz_domain.c: the domain normaliser (rg_domain_normalize, user/domains.h) on arbitrary
 * bytes (ASCII, UTF-8 U-labels, junk). Checked: a result is at most 253 bytes, NUL
 * terminated at its length, lower-case LDH with dots, and normalising it again gives it
 * back unchanged; ASCII case in the input does not change the result; an accepted-domain
 * index that holds the name matches it.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "domains.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[RG_DOMAIN_MAX + 1], again[RG_DOMAIN_MAX + 1], upper_out[RG_DOMAIN_MAX + 1];
	char *copy = malloc(size ? size : 1);
	int n, m;

	FUZZ_CHECK(copy);
	memcpy(copy, data, size);
	n = rg_domain_normalize(copy, size, out);
	FUZZ_CHECK(n == -EINVAL || (n > 0 && n <= RG_DOMAIN_MAX));
	if (n > 0) {
		FUZZ_CHECK(strlen(out) == (size_t)n);
		for (int i = 0; i < n; i++)
			FUZZ_CHECK((out[i] >= 'a' && out[i] <= 'z') ||
				   (out[i] >= '0' && out[i] <= '9') || out[i] == '-' ||
				   out[i] == '.');
		m = rg_domain_normalize(out, (size_t)n, again);
		FUZZ_CHECK(m == n);
		FUZZ_CHECK(!memcmp(out, again, (size_t)n + 1));

		struct rg_domains *d = rg_domains_new(4);

		FUZZ_CHECK(d);
		FUZZ_CHECK(rg_domains_add(d, 7, copy, size) == 0);
		FUZZ_CHECK(rg_domains_match(d, 7, out, (size_t)n));
		FUZZ_CHECK(!rg_domains_match(d, 8, out, (size_t)n));
		rg_domains_free(d);
	}

	/* Upper-casing the ASCII letters of a pure-ASCII name changes nothing. */
	bool ascii = true;

	for (size_t i = 0; i < size; i++) {
		if (copy[i] & 0x80)
			ascii = false;
		else if (copy[i] >= 'a' && copy[i] <= 'z')
			copy[i] = (char)(copy[i] - 32);
	}
	if (ascii) {
		m = rg_domain_normalize(copy, size, upper_out);
		FUZZ_CHECK(m == n);
		FUZZ_CHECK(n < 0 || !memcmp(out, upper_out, (size_t)n + 1));
	}
	free(copy);
	return 0;
}
