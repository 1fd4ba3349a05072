/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * tenant_auth.h: the tenant keys that name how a client authenticated rather than where it
 * comes from: SASL logins (sasl_users), TLS client certificate subjects (cert_subjects) and
 * certificate or public-key fingerprints (cert_fingerprints). Takes configuration entries
 * and, per request, the sasl_username / ccert_* text Postfix sent; reports the tenant they
 * belong to and which kind of key matched. Every lookup is a hash probe (one per label of
 * a subject at most), never a scan of the tenants. No libbpf: it is fuzzed with the
 * configuration.
 *
 * Matching (README "Tenant attribution"):
 * - sasl_users: "login" exactly (the part after the last '@', when there is one, compared
 *   as a domain: ASCII case ignored, IDN in A-label form), or "@domain" for every login
 *   whose part after the last '@' is that domain. An exact login wins over its @domain.
 * - cert_subjects: the ccert_subject text exactly (ASCII case ignored; a hostname compared
 *   as a domain), or "*.domain" for every subject that is a subdomain of domain on label
 *   boundaries (never domain itself, never "evildomain"). Exact wins, then the longest
 *   matching wildcard.
 * - cert_fingerprints: hex, colons and case ignored, of 16, 20, 28, 32, 48 or 64 bytes
 *   (the digests smtpd_tls_fingerprint_digest can name); matched against
 *   ccert_fingerprint, then ccert_pubkey_fingerprint.
 */
#ifndef RG_TENANT_AUTH_H
#define RG_TENANT_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "names.h"	/* enum rg_match */

#define RG_AUTH_TEXT_MAX 255	/* bytes of a login or subject; longer ones never match */

enum rg_auth_key { RG_AUTH_SASL_USERS, RG_AUTH_CERT_SUBJECTS, RG_AUTH_CERT_FINGERPRINTS,
		   RG_AUTH__KEYS };

/* The configuration key of k: "sasl_users", "cert_subjects", "cert_fingerprints". */
const char *rg_auth_key_name(enum rg_auth_key k);

struct rg_tenant_auth;

struct rg_tenant_auth *rg_tenant_auth_new(void);
void rg_tenant_auth_free(struct rg_tenant_auth *a);

/*
 * Add one entry of key k (len bytes, no spaces) for tenant. 1 when it is new, 0 when the
 * tenant has it already; -EINVAL for an entry that is not valid (*why: a static reason); -EEXIST when
 * another tenant has the same entry (*other: that tenant); -ENOMEM.
 */
int rg_tenant_auth_add(struct rg_tenant_auth *a, enum rg_auth_key k, const char *entry,
		       size_t len, uint32_t tenant, uint32_t *other, const char **why);

/* What a request says about its authentication: (pointer, length), p NULL or len 0 absent. */
struct rg_auth_query {
	const char *sasl_username;
	size_t sasl_len;
	const char *ccert_fingerprint;
	size_t fp_len;
	const char *ccert_pubkey_fingerprint;
	size_t pkfp_len;
	const char *ccert_subject;
	size_t subject_len;
};

/*
 * The tenant of q, first match wins: SASL login, certificate fingerprint, public-key
 * fingerprint, certificate subject. Returns RG_MATCH_SASL, RG_MATCH_CERT_FINGERPRINT or
 * RG_MATCH_CERT_SUBJECT with *tenant set, or RG_MATCH_NONE. Malformed text never matches.
 */
enum rg_match rg_tenant_auth_match(const struct rg_tenant_auth *a, const struct rg_auth_query *q,
				   uint32_t *tenant);

/* Entries of kind k in a (all tenants). */
size_t rg_tenant_auth_count(const struct rg_tenant_auth *a, enum rg_auth_key k);

#endif /* RG_TENANT_AUTH_H */
