// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * tenant_auth.c: the SASL-login, certificate-subject and fingerprint index (tenant_auth.h).
 * Takes configuration entries and request text; normalises both through the same
 * functions, so an entry and a request compare byte for byte in one hash table keyed by
 * (kind, normalised text). Reports tenants and the kind of key that matched.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "containers.h"
#include "domains.h"
#include "tenant_auth.h"

#define FP_MAX 64		/* bytes of the longest digest (SHA-512) */
#define KEY_MAX (RG_AUTH_TEXT_MAX + 1)

/* What an entry of the table is. */
enum kind { K_LOGIN, K_LOGIN_DOMAIN, K_SUBJECT, K_SUBJECT_WILD, K_FINGERPRINT };

struct ent {
	struct rg_hent h;
	uint32_t tenant;
	uint8_t kind;
	uint16_t len;
	char key[];
};

struct rg_tenant_auth {
	struct rg_hmap map;
	size_t count[RG_AUTH__KEYS];
};

static const char *const key_names[RG_AUTH__KEYS] = {
	[RG_AUTH_SASL_USERS] = "sasl_users",
	[RG_AUTH_CERT_SUBJECTS] = "cert_subjects",
	[RG_AUTH_CERT_FINGERPRINTS] = "cert_fingerprints",
};

const char *rg_auth_key_name(enum rg_auth_key k)
{
	return (unsigned)k < RG_AUTH__KEYS ? key_names[k] : NULL;
}

struct rg_tenant_auth *rg_tenant_auth_new(void)
{
	struct rg_tenant_auth *a = calloc(1, sizeof(*a));

	if (a && rg_hmap_init(&a->map, 64)) {
		free(a);
		a = NULL;
	}
	return a;
}

static void drop(struct rg_hent *e)
{
	free(rg_container_of(e, struct ent, h));
}

void rg_tenant_auth_free(struct rg_tenant_auth *a)
{
	if (!a)
		return;
	rg_hmap_clear(&a->map, drop);
	rg_hmap_fini(&a->map);
	free(a);
}

size_t rg_tenant_auth_count(const struct rg_tenant_auth *a, enum rg_auth_key k)
{
	return a && (unsigned)k < RG_AUTH__KEYS ? a->count[k] : 0;
}

/* ---- normalisation: one function per kind, for entries and requests alike ---------- */

/* Text a client may present: no NUL, controls, space or DEL (UTF-8 bytes pass). */
static bool text_ok(const char *s, size_t len)
{
	if (!len || len > RG_AUTH_TEXT_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

/* A domain as accepted_domains compares it, or the bytes as they are with ASCII lower
 * case when it is not a hostname (a subject "Relay_01", a login's "@host_x"). */
static int fold(const char *s, size_t len, char *out, size_t cap)
{
	char d[RG_DOMAIN_MAX + 1];
	int n = rg_domain_normalize(s, len, d);

	if (n > 0) {
		if ((size_t)n >= cap)
			return -EINVAL;
		memcpy(out, d, (size_t)n + 1);
		return n;
	}
	if (len >= cap)
		return -EINVAL;
	for (size_t i = 0; i < len; i++)
		out[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] + 32) : s[i];
	out[len] = '\0';
	return (int)len;
}

/* "local@domain": local as it is, domain folded; no '@': as it is. */
static int norm_login(const char *s, size_t len, char out[KEY_MAX])
{
	const char *at;
	size_t l;
	int n;

	if (!text_ok(s, len))
		return -EINVAL;
	at = memrchr(s, '@', len);
	if (!at || at == s + len - 1) {
		memcpy(out, s, len);
		out[len] = '\0';
		return (int)len;
	}
	l = (size_t)(at - s) + 1;
	memcpy(out, s, l);
	n = fold(at + 1, len - l, out + l, KEY_MAX - l);
	return n < 0 ? n : (int)l + n;
}

static int norm_subject(const char *s, size_t len, char out[KEY_MAX])
{
	/* Postfix sends the certificate's CommonName, which may hold spaces: only controls
	 * and NUL make it malformed. */
	if (!len || len > RG_AUTH_TEXT_MAX)
		return -EINVAL;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return -EINVAL;
	return fold(s, len, out, KEY_MAX);
}

/* One hex digit's value, or -1 (on the request path for every fingerprint byte). */
static int hexval(char c)
{
	unsigned u = (unsigned char)c;

	if (u - '0' < 10)
		return (int)(u - '0');
	u |= 0x20;	/* ASCII lower case; other bytes stay out of a..f */
	return u - 'a' < 6 ? (int)(u - 'a' + 10) : -1;
}

/* Hex with colons anywhere, case ignored, into bytes: MD5 to SHA-512 lengths only. */
static int norm_fingerprint(const char *s, size_t len, char out[KEY_MAX])
{
	size_t n = 0;
	int hi = -1;

	if (len > 3 * FP_MAX)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		int v;

		if (s[i] == ':')
			continue;
		v = hexval(s[i]);
		if (v < 0)
			return -EINVAL;
		if (hi < 0) {
			hi = v;
			continue;
		}
		if (n == FP_MAX)
			return -EINVAL;
		out[n++] = (char)(hi << 4 | v);
		hi = -1;
	}
	if (hi >= 0)
		return -EINVAL;
	switch (n) {
	case 16: case 20: case 28: case 32: case 48: case 64:
		return (int)n;
	default:
		return -EINVAL;
	}
}

/* ---- the table ------------------------------------------------------------------------ */

static uint64_t key_hash(enum kind k, const char *key, size_t len)
{
	uint64_t h = rg_fnv1a((uint64_t)k + 1, key, len);

	return h ^ (h >> 31);
}

static const struct ent *find(const struct rg_tenant_auth *a, enum kind k, const char *key,
			      size_t len)
{
	uint64_t h = key_hash(k, key, len);

	for (struct rg_hent *p = rg_hmap_bucket(&a->map, h); p; p = p->next) {
		const struct ent *e = rg_container_of(p, struct ent, h);

		if (p->h == h && e->kind == k && e->len == len && !memcmp(e->key, key, len))
			return e;
	}
	return NULL;
}

static int put(struct rg_tenant_auth *a, enum rg_auth_key ak, enum kind k, const char *key,
	       size_t len, uint32_t tenant, uint32_t *other)
{
	const struct ent *old = find(a, k, key, len);
	struct ent *e;

	if (old) {
		if (old->tenant == tenant)
			return 0;
		*other = old->tenant;
		return -EEXIST;
	}
	e = malloc(sizeof(*e) + len);
	if (!e)
		return -ENOMEM;
	e->h.h = key_hash(k, key, len);
	e->tenant = tenant;
	e->kind = (uint8_t)k;
	e->len = (uint16_t)len;
	memcpy(e->key, key, len);
	rg_hmap_add(&a->map, &e->h);
	a->count[ak]++;
	return 1;
}

int rg_tenant_auth_add(struct rg_tenant_auth *a, enum rg_auth_key k, const char *entry,
		       size_t len, uint32_t tenant, uint32_t *other, const char **why)
{
	char key[KEY_MAX];
	int n;

	switch (k) {
	case RG_AUTH_SASL_USERS:
		if (len && entry[0] == '@') {
			n = rg_domain_normalize(entry + 1, len - 1, key);
			*why = "'@' must be followed by a domain";
			return n < 0 ? -EINVAL : put(a, k, K_LOGIN_DOMAIN, key, (size_t)n, tenant,
						     other);
		}
		n = norm_login(entry, len, key);
		*why = "a login is 1 to 255 bytes without controls or spaces";
		return n < 0 ? -EINVAL : put(a, k, K_LOGIN, key, (size_t)n, tenant, other);
	case RG_AUTH_CERT_SUBJECTS:
		if (len > 2 && entry[0] == '*' && entry[1] == '.') {
			n = rg_domain_normalize(entry + 2, len - 2, key);
			*why = "'*.' must be followed by a domain";
			return n < 0 ? -EINVAL : put(a, k, K_SUBJECT_WILD, key, (size_t)n, tenant,
						     other);
		}
		n = memchr(entry, '*', len) ? -EINVAL : norm_subject(entry, len, key);
		*why = "a subject is 1 to 255 bytes without controls, or *.domain";
		return n < 0 ? -EINVAL : put(a, k, K_SUBJECT, key, (size_t)n, tenant, other);
	case RG_AUTH_CERT_FINGERPRINTS:
		n = norm_fingerprint(entry, len, key);
		*why = "a fingerprint is the hex of 16, 20, 28, 32, 48 or 64 bytes (colons "
		       "allowed)";
		return n < 0 ? -EINVAL : put(a, k, K_FINGERPRINT, key, (size_t)n, tenant, other);
	default:
		*why = "unknown key";
		return -EINVAL;
	}
}

/* ---- requests ------------------------------------------------------------------------- */

static bool match_login(const struct rg_tenant_auth *a, const char *s, size_t len,
			uint32_t *tenant)
{
	char key[KEY_MAX];
	const struct ent *e;
	const char *at;
	int n = norm_login(s, len, key);

	if (n < 0)
		return false;
	e = find(a, K_LOGIN, key, (size_t)n);
	if (!e) {
		at = strrchr(key, '@');
		if (at && at[1])
			e = find(a, K_LOGIN_DOMAIN, at + 1, strlen(at + 1));
	}
	if (e)
		*tenant = e->tenant;
	return e != NULL;
}

static bool match_fingerprint(const struct rg_tenant_auth *a, const char *s, size_t len,
			      uint32_t *tenant)
{
	char key[KEY_MAX];
	const struct ent *e;
	int n = norm_fingerprint(s, len, key);

	if (n < 0 || !(e = find(a, K_FINGERPRINT, key, (size_t)n)))
		return false;
	*tenant = e->tenant;
	return true;
}

static bool match_subject(const struct rg_tenant_auth *a, const char *s, size_t len,
			  uint32_t *tenant)
{
	char key[KEY_MAX];
	const struct ent *e;
	int n = norm_subject(s, len, key);

	if (n < 0)
		return false;
	e = find(a, K_SUBJECT, key, (size_t)n);
	/* Strict parents, longest first: "a.b.c" tries "*.b.c", then "*.c". */
	for (int i = 0; !e && i < n; i++)
		if (key[i] == '.' && i + 1 < n)
			e = find(a, K_SUBJECT_WILD, key + i + 1, (size_t)(n - i - 1));
	if (e)
		*tenant = e->tenant;
	return e != NULL;
}

enum rg_match rg_tenant_auth_match(const struct rg_tenant_auth *a, const struct rg_auth_query *q,
				   uint32_t *tenant)
{
	if (!a || !a->map.n)
		return RG_MATCH_NONE;
	if (q->sasl_username && q->sasl_len && a->count[RG_AUTH_SASL_USERS] &&
	    match_login(a, q->sasl_username, q->sasl_len, tenant))
		return RG_MATCH_SASL;
	if (a->count[RG_AUTH_CERT_FINGERPRINTS] &&
	    ((q->ccert_fingerprint && q->fp_len &&
	      match_fingerprint(a, q->ccert_fingerprint, q->fp_len, tenant)) ||
	     (q->ccert_pubkey_fingerprint && q->pkfp_len &&
	      match_fingerprint(a, q->ccert_pubkey_fingerprint, q->pkfp_len, tenant))))
		return RG_MATCH_CERT_FINGERPRINT;
	if (q->ccert_subject && q->subject_len && a->count[RG_AUTH_CERT_SUBJECTS] &&
	    match_subject(a, q->ccert_subject, q->subject_len, tenant))
		return RG_MATCH_CERT_SUBJECT;
	return RG_MATCH_NONE;
}
