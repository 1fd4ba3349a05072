/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * domains.h: domain names and the accepted-domain index. Names are normalised once (ASCII
 * lower case, one trailing dot dropped, U-labels to A-labels with libidn2, label syntax and
 * lengths checked); the index answers "is this domain registered for tenant T": equal to an
 * accepted domain, or a strict subdomain of a "*.domain" entry, on label boundaries.
 */
#ifndef RG_DOMAINS_H
#define RG_DOMAINS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RG_DOMAIN_MAX 253	/* RFC 1035 name length, without the trailing dot */

/*
 * Normalise a domain of len bytes (UTF-8 allowed) into out (RG_DOMAIN_MAX + 1 bytes).
 * Returns the length, or -EINVAL for a name that is not a valid hostname (empty label,
 * label over 63, name over 253, bad characters, IDNA failure).
 */
int rg_domain_normalize(const char *in, size_t len, char out[RG_DOMAIN_MAX + 1]);

struct rg_domains;

struct rg_domains *rg_domains_new(size_t expected_entries);
void rg_domains_free(struct rg_domains *d);
/*
 * Add an accepted-domain entry for tenant: "contoso.com" or "*.contoso.com" (normalised
 * here). 0 (also when the entry is already there), -EINVAL bad entry, -ENOMEM.
 */
int rg_domains_add(struct rg_domains *d, uint32_t tenant, const char *entry, size_t len);
/* Is the normalised domain registered for tenant? */
bool rg_domains_match(const struct rg_domains *d, uint32_t tenant, const char *domain,
		      size_t len);
size_t rg_domains_count(const struct rg_domains *d);	/* entries */
size_t rg_domains_memory(const struct rg_domains *d);	/* bytes allocated */

#endif /* RG_DOMAINS_H */
