// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * domains.c: domain-name normalisation and the accepted-domain index.
 *
 * Normalisation: ASCII lower case, one trailing dot dropped, U-labels converted to A-labels
 * with libidn2 (only when a non-ASCII byte is present: ASCII is the fast path), then LDH
 * label syntax: letters, digits and hyphens, no leading or trailing hyphen, labels of 1..63
 * octets, at most 253 in all. ASCII names with an "xn--" label go through libidn2 too, so
 * that a broken A-label ("xn--zz") is refused, and must come back unchanged (an A-label is
 * only valid in its canonical form). UTS #46 non-transitional processing: ß, ς, ZWJ and
 * ZWNJ stay what they are, so "straße" and "contoso<ZWJ>" never become the names
 * "strasse" and "contoso" that another tenant may own. Names IDNA2008 refuses but
 * transitional processing accepts (IDNA2003-era names such as emoji domains, which are
 * registered and do send mail) take that form only when they hold none of those four
 * characters, where both processings agree. Underscores are refused: sender domains are
 * host names, and a relay that accepted "_dmarc.x" as a sender domain would be matching
 * junk. Single-label names ("localhost") are valid names and normalise, though no tenant
 * should list them.
 *
 * Index: one open-addressing hash table keyed by (tenant, name, wildcard flag); names live
 * in one string arena, so an entry costs a 16-byte slot plus the name: no malloc per entry.
 * A lookup hashes the domain and each parent suffix at label boundaries once: exact match
 * on the full name, wildcard matches on strict parents ("*.contoso.com" covers
 * a.contoso.com and x.y.contoso.com, never contoso.com or evilcontoso.com).
 */
#include <errno.h>
#include <idn2.h>
#include <stdlib.h>
#include <string.h>

#include "containers.h"
#include "domains.h"

static bool is_ldh(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

/* Check LDH syntax of an all-lower-case ASCII name of len octets. */
static int check_labels(const char *s, size_t len)
{
	size_t start = 0;

	if (len == 0 || len > RG_DOMAIN_MAX)
		return -EINVAL;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != '.') {
			if (!is_ldh((unsigned char)s[i]))
				return -EINVAL;
			continue;
		}
		size_t l = i - start;
		if (l == 0 || l > 63 || s[start] == '-' || s[i - 1] == '-')
			return -EINVAL;
		start = i + 1;
	}
	return 0;
}

/*
 * The UTS #46 deviations: characters that transitional processing maps to something else
 * (ß -> ss, ς -> σ, ZWNJ and ZWJ -> nothing) and non-transitional processing keeps. A name
 * holding one is a different name from its transitional mapping, so it must never take
 * the transitional path: "straße" is not "strasse", "contoso<ZWJ>" is not "contoso".
 */
static bool has_deviation(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((p[0] == 0xc3 && p[1] == 0x9f) || (p[0] == 0xcf && p[1] == 0x82) ||
		    (p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0x8c || p[2] == 0x8d)))
			return true;
	}
	return false;
}

/*
 * U+1E9E (capital sharp s) to U+00DF (ß), in place (3 bytes become 2). UTS #46 15.1 maps it
 * so; the tables of Debian 12's libidn2 (2.3.3) predate that and map it to "ss", which would
 * make "straẞe" the same name as "strasse".
 */
static void map_capital_sharp_s(char *s)
{
	char *w = s;

	for (const char *r = s; *r;) {
		if ((unsigned char)r[0] == 0xe1 && (unsigned char)r[1] == 0xba &&
		    (unsigned char)r[2] == 0x9e) {
			*w++ = (char)0xc3;
			*w++ = (char)0x9f;
			r += 3;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
}

/*
 * UTF-8 name (NUL-terminated, at most 1024 bytes) to A-labels: UTS #46 non-transitional
 * processing. Names IDNA2008 refuses (emoji of the IDNA2003 era) fall back to transitional
 * processing only when they hold no deviation character, where both agree on the mapping.
 */
static int to_alabels(const char *name, char **alabel)
{
	char buf[1025];
	int rc;

	if (strlen(name) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, name);
	map_capital_sharp_s(buf);
	rc = idn2_to_ascii_8z(buf, alabel, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
	if (rc != IDN2_OK && !has_deviation(buf))
		rc = idn2_to_ascii_8z(buf, alabel, IDN2_NFC_INPUT | IDN2_TRANSITIONAL);
	if (rc != IDN2_OK || !*alabel)
		return -EINVAL;
	return 0;
}

/* Does the lower-case name have a label starting "xn--"? */
static bool has_alabel(const char *s, size_t len)
{
	for (size_t i = 0; i + 4 <= len; i++) {
		if ((i == 0 || s[i - 1] == '.') && !memcmp(s + i, "xn--", 4))
			return true;
	}
	return false;
}

/* The A-labels of a valid LDH name decode, and libidn2 gives them back unchanged. */
static int check_alabels(const char *name)
{
	char *back = NULL;
	int err = to_alabels(name, &back);

	if (!err && strcmp(back, name))
		err = -EINVAL;
	idn2_free(back);
	return err;
}

int rg_domain_normalize(const char *in, size_t len, char out[RG_DOMAIN_MAX + 1])
{
	bool ascii = true;

	if (len && in[len - 1] == '.')
		len--;
	if (len == 0 || len > 1024)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c == 0)
			return -EINVAL;
		if (c >= 0x80)
			ascii = false;
	}
	if (ascii) {
		if (len > RG_DOMAIN_MAX)
			return -EINVAL;
		for (size_t i = 0; i < len; i++) {
			char c = in[i];
			out[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
		}
		out[len] = '\0';
		if (check_labels(out, len))
			return -EINVAL;
		if (has_alabel(out, len) && check_alabels(out))
			return -EINVAL;
		return (int)len;
	}

	/* IDNA: libidn2 wants a NUL-terminated UTF-8 string. */
	char tmp[1025], *alabel = NULL;

	memcpy(tmp, in, len);
	tmp[len] = '\0';
	if (to_alabels(tmp, &alabel))
		return -EINVAL;
	size_t n = strlen(alabel);
	if (n > RG_DOMAIN_MAX) {
		idn2_free(alabel);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		char c = alabel[i];
		out[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
	}
	out[n] = '\0';
	idn2_free(alabel);
	return check_labels(out, n) ? -EINVAL : (int)n;
}

/* ---- index -------------------------------------------------------------------------- */

struct slot {
	uint32_t tenant;
	uint32_t off;		/* name offset in the arena + 1; 0: empty slot */
	uint32_t hash;		/* upper hash bits, to skip most string compares */
	uint16_t len;
	uint16_t wildcard;
};

struct rg_domains {
	struct slot *slots;
	size_t cap;		/* power of two */
	size_t count;
	char *arena;
	size_t arena_len, arena_cap;
};

/* FNV-1a over the name, mixed with the tenant and the wildcard flag; then a finaliser so
 * that the low bits used for the bucket are well spread. */
static uint64_t hash_key(uint32_t tenant, const char *s, size_t len, bool wildcard)
{
	uint64_t h = rg_fnv1a((uint64_t)tenant << 1 | wildcard, s, len);

	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

struct rg_domains *rg_domains_new(size_t expected)
{
	struct rg_domains *d = calloc(1, sizeof(*d));
	size_t cap = 1024;

	if (!d)
		return NULL;
	while (cap < expected * 2)
		cap <<= 1;
	d->slots = calloc(cap, sizeof(*d->slots));
	if (!d->slots) {
		free(d);
		return NULL;
	}
	d->cap = cap;
	return d;
}

void rg_domains_free(struct rg_domains *d)
{
	if (!d)
		return;
	free(d->slots);
	free(d->arena);
	free(d);
}

static struct slot *find(const struct rg_domains *d, uint32_t tenant, const char *s, size_t len,
			 bool wildcard, uint64_t h)
{
	size_t mask = d->cap - 1, i = (size_t)h & mask;
	uint32_t tag = (uint32_t)(h >> 32);

	for (;;) {
		struct slot *e = &d->slots[i];
		if (!e->off)
			return e;
		if (e->hash == tag && e->tenant == tenant && e->len == len &&
		    e->wildcard == wildcard && !memcmp(d->arena + e->off - 1, s, len))
			return e;
		i = (i + 1) & mask;
	}
}

static int grow(struct rg_domains *d)
{
	size_t ncap = d->cap * 2;
	struct slot *old = d->slots, *ns = calloc(ncap, sizeof(*ns));
	size_t ocap = d->cap;

	if (!ns)
		return -ENOMEM;
	d->slots = ns;
	d->cap = ncap;
	for (size_t i = 0; i < ocap; i++) {
		if (!old[i].off)
			continue;
		uint64_t h = hash_key(old[i].tenant, d->arena + old[i].off - 1, old[i].len,
				      old[i].wildcard);
		*find(d, old[i].tenant, d->arena + old[i].off - 1, old[i].len, old[i].wildcard,
		      h) = old[i];
	}
	free(old);
	return 0;
}

int rg_domains_add(struct rg_domains *d, uint32_t tenant, const char *entry, size_t len)
{
	char name[RG_DOMAIN_MAX + 1];
	bool wildcard = false;
	int n;

	if (len >= 2 && entry[0] == '*' && entry[1] == '.') {
		wildcard = true;
		entry += 2;
		len -= 2;
	}
	n = rg_domain_normalize(entry, len, name);
	if (n < 0)
		return -EINVAL;

	if ((d->count + 1) * 2 > d->cap && grow(d))
		return -ENOMEM;
	uint64_t h = hash_key(tenant, name, (size_t)n, wildcard);
	struct slot *e = find(d, tenant, name, (size_t)n, wildcard, h);
	if (e->off)
		return 0; /* already there */

	if (d->arena_len + (size_t)n > d->arena_cap) {
		size_t cap = d->arena_cap ? d->arena_cap * 2 : 65536;
		while (cap < d->arena_len + (size_t)n)
			cap *= 2;
		if (cap > UINT32_MAX)
			return -ENOMEM;
		char *a = realloc(d->arena, cap);
		if (!a)
			return -ENOMEM;
		d->arena = a;
		d->arena_cap = cap;
	}
	memcpy(d->arena + d->arena_len, name, (size_t)n);
	e->tenant = tenant;
	e->off = (uint32_t)d->arena_len + 1;
	e->hash = (uint32_t)(h >> 32);
	e->len = (uint16_t)n;
	e->wildcard = wildcard;
	d->arena_len += (size_t)n;
	d->count++;
	return 0;
}

bool rg_domains_match(const struct rg_domains *d, uint32_t tenant, const char *domain, size_t len)
{
	if (!d || !len)
		return false;
	if (find(d, tenant, domain, len, false, hash_key(tenant, domain, len, false))->off)
		return true;
	/* Strict parents, at label boundaries, against wildcard entries. */
	for (size_t i = 0; i < len; i++) {
		if (domain[i] != '.')
			continue;
		const char *p = domain + i + 1;
		size_t plen = len - i - 1;
		if (plen && find(d, tenant, p, plen, true, hash_key(tenant, p, plen, true))->off)
			return true;
	}
	return false;
}

size_t rg_domains_count(const struct rg_domains *d)
{
	return d ? d->count : 0;
}

size_t rg_domains_memory(const struct rg_domains *d)
{
	return d ? sizeof(*d) + d->cap * sizeof(struct slot) + d->arena_cap : 0;
}
