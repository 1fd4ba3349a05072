/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * envelope.h: the envelope sender's domain, from Postfix's policy attribute "sender"
 * (the address without brackets, quoting as Postfix keeps it) or from an SMTP command line
 * "MAIL FROM:<...> PARAMS" as a client sends it. Input is hostile: RFC 5321 limits are
 * enforced and anything that does not parse is RG_ENV_INVALID with a reason.
 */
#ifndef RG_ENVELOPE_H
#define RG_ENVELOPE_H

#include <stddef.h>

#include "domains.h"

enum rg_env_status {
	RG_ENV_OK = 0,		/* domain holds the normalised (A-label) sender domain */
	RG_ENV_NULL = 1,	/* null sender "<>" / empty: bounces, exempt */
	RG_ENV_INVALID = 2,	/* does not parse: counts as unregistered, reason "invalid" */
};

struct rg_envelope {
	enum rg_env_status status;
	const char *reason;	/* static text when INVALID, e.g. "local part over 64 octets" */
	size_t domain_len;
	char domain[RG_DOMAIN_MAX + 1];
};

void rg_envelope_from_sender(const char *sender, size_t len, struct rg_envelope *out);
void rg_envelope_from_mail_cmd(const char *line, size_t len, struct rg_envelope *out);

#endif /* RG_ENVELOPE_H */
