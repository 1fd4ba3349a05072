// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * fuzz_envelope.c: the envelope-sender parsers (user/envelope.h) on arbitrary bytes: the
 * input is both a policy "sender" value and a client's "MAIL FROM:" command line. Checked:
 * the status is one of the three, INVALID carries a reason, OK carries a non-empty
 * lower-case LDH domain with dots in label position that rg_domain_normalize() leaves
 * unchanged, and a sender that parses from the attribute gives the same domain from
 * "MAIL FROM:<sender>" whenever that parses too.
 */
#include <string.h>

#include "envelope.h"
#include "fuzz_common.h"

static void check_result(const struct rg_envelope *e)
{
	char again[RG_DOMAIN_MAX + 1];

	FUZZ_CHECK(e->status == RG_ENV_OK || e->status == RG_ENV_NULL ||
		   e->status == RG_ENV_INVALID);
	if (e->status == RG_ENV_INVALID)
		FUZZ_CHECK(e->reason && *e->reason);
	if (e->status != RG_ENV_OK)
		return;
	FUZZ_CHECK(e->domain_len > 0 && e->domain_len <= RG_DOMAIN_MAX);
	FUZZ_CHECK(strlen(e->domain) == e->domain_len);
	FUZZ_CHECK(e->domain[0] != '.' && e->domain[e->domain_len - 1] != '.');
	for (size_t i = 0; i < e->domain_len; i++) {
		char c = e->domain[i];

		FUZZ_CHECK((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
			   c == '.');
		if (c == '.')
			FUZZ_CHECK(e->domain[i + 1] != '.');
	}
	FUZZ_CHECK(rg_domain_normalize(e->domain, e->domain_len, again) ==
		   (int)e->domain_len);
	FUZZ_CHECK(!memcmp(again, e->domain, e->domain_len));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rg_envelope from_sender, from_cmd, wrapped;
	char *copy;

	/* Exact-size copies: a read past the end is caught by ASan. */
	copy = malloc(size ? size : 1);
	FUZZ_CHECK(copy);
	memcpy(copy, data, size);
	memset(&from_sender, 0xa5, sizeof(from_sender));
	rg_envelope_from_sender(copy, size, &from_sender);
	check_result(&from_sender);
	memset(&from_cmd, 0xa5, sizeof(from_cmd));
	rg_envelope_from_mail_cmd(copy, size, &from_cmd);
	check_result(&from_cmd);
	free(copy);

	if (from_sender.status == RG_ENV_OK && size < 1000) {
		char line[1100];
		int n = snprintf(line, sizeof(line), "MAIL FROM:<%.*s>\r\n", (int)size,
				 (const char *)data);

		FUZZ_CHECK(n > 0 && (size_t)n < sizeof(line));
		rg_envelope_from_mail_cmd(line, (size_t)n, &wrapped);
		check_result(&wrapped);
		if (wrapped.status == RG_ENV_OK) {
			FUZZ_CHECK(wrapped.domain_len == from_sender.domain_len);
			FUZZ_CHECK(!memcmp(wrapped.domain, from_sender.domain,
					   from_sender.domain_len));
		}
	}
	return 0;
}
