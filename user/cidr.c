// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * cidr.c: addresses and prefixes in the 16-byte form the kernel maps use (IPv4 as
 * ::ffff:a.b.c.d, an IPv4 /N as /96+N), and a userspace longest-prefix-match table.
 *
 * Takes text from the configuration, relayguardctl and Postfix's client_address: parsing
 * is strict (inet_pton, decimal prefix without sign, spaces or leading zeros, host bits
 * refused unless asked to clear them). The LPM table keeps one open-addressing hash table
 * per prefix length present and probes from the longest length down, so a lookup is at
 * most one probe per distinct length and never a syscall. Its semantics are exactly the
 * kernel LPM trie's over the same 16-byte keys (so ::/0 also covers IPv4-mapped addresses),
 * which keeps the agent's tenant choice equal to the tag XDP puts on the host.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"

static const uint8_t v4_mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

bool rg_addr_is_v4(const uint8_t addr[16])
{
	return memcmp(addr, v4_mapped_prefix, sizeof(v4_mapped_prefix)) == 0;
}

int rg_addr_parse(const char *s, uint8_t addr[16], bool *is_v4)
{
	char buf[INET6_ADDRSTRLEN];
	size_t len;

	if (!s)
		return -EINVAL;
	len = strlen(s);
	if (len == 0 || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, len + 1);

	if (strchr(buf, ':')) {
		struct in6_addr a6;

		if (inet_pton(AF_INET6, buf, &a6) != 1)
			return -EINVAL;
		memcpy(addr, &a6, 16);
		if (is_v4)
			*is_v4 = false;
		return 0;
	}

	struct in_addr a4;

	if (inet_pton(AF_INET, buf, &a4) != 1)
		return -EINVAL;
	memcpy(addr, v4_mapped_prefix, 12);
	memcpy(addr + 12, &a4, 4);
	if (is_v4)
		*is_v4 = true;
	return 0;
}

void rg_addr_mask(uint8_t addr[16], unsigned prefixlen)
{
	if (prefixlen >= 128)
		return;
	unsigned full = prefixlen / 8, rem = prefixlen % 8;

	if (rem) {
		addr[full] &= (uint8_t)(0xff << (8 - rem));
		full++;
	}
	memset(addr + full, 0, 16 - full);
}

/* Decimal 0..max without sign, spaces or leading zeros. */
static int parse_prefixlen(const char *s, unsigned max, unsigned *out)
{
	unsigned v = 0;

	if (!*s || (s[0] == '0' && s[1]))
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(*s - '0');
		if (v > max)
			return -EINVAL;
	}
	*out = v;
	return 0;
}

int rg_cidr_parse(const char *s, struct rg_cidr *out, bool allow_host_bits)
{
	char buf[RG_ADDR_STRLEN];
	uint8_t addr[16], masked[16];
	unsigned plen;
	bool v4;
	char *slash;
	size_t len;

	if (!s)
		return -EINVAL;
	len = strlen(s);
	if (len == 0 || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, len + 1);

	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	if (rg_addr_parse(buf, addr, &v4))
		return -EINVAL;

	if (slash) {
		if (parse_prefixlen(slash + 1, v4 ? 32 : 128, &plen))
			return -EINVAL;
		if (v4)
			plen += 96;
	} else {
		plen = 128;
	}

	memcpy(masked, addr, 16);
	rg_addr_mask(masked, plen);
	if (memcmp(masked, addr, 16) && !allow_host_bits)
		return -EINVAL;

	memset(out, 0, sizeof(*out));
	memcpy(out->addr, masked, 16);
	out->prefixlen = (uint8_t)plen;
	out->is_v4 = v4;
	return 0;
}

char *rg_addr_format(const uint8_t addr[16], char *buf, size_t len)
{
	if (!buf || !len)
		return buf;
	if (rg_addr_is_v4(addr)) {
		if (!inet_ntop(AF_INET, addr + 12, buf, (socklen_t)len))
			buf[0] = '\0';
	} else {
		if (!inet_ntop(AF_INET6, addr, buf, (socklen_t)len))
			buf[0] = '\0';
	}
	return buf;
}

char *rg_cidr_format(const struct rg_cidr *c, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];
	int n;

	if (!buf || !len)
		return buf;
	if (c->is_v4 && c->prefixlen >= 96 && rg_addr_is_v4(c->addr)) {
		if (!inet_ntop(AF_INET, c->addr + 12, a, sizeof(a)))
			a[0] = '\0';
		n = snprintf(buf, len, "%s/%u", a, c->prefixlen - 96u);
	} else {
		if (!inet_ntop(AF_INET6, c->addr, a, sizeof(a)))
			a[0] = '\0';
		n = snprintf(buf, len, "%s/%u", a, (unsigned)c->prefixlen);
	}
	if (n < 0 || (size_t)n >= len)
		buf[0] = '\0';
	return buf;
}

bool rg_cidr_contains(const struct rg_cidr *c, const uint8_t addr[16])
{
	uint8_t a[16];

	memcpy(a, addr, 16);
	rg_addr_mask(a, c->prefixlen);
	return memcmp(a, c->addr, 16) == 0;
}

void rg_host_of(const uint8_t addr[16], unsigned prefix_v4, unsigned prefix_v6,
		struct rg_cidr *out)
{
	bool v4 = rg_addr_is_v4(addr);
	unsigned plen = v4 ? 96 + (prefix_v4 > 32 ? 32 : prefix_v4)
			   : (prefix_v6 > 128 ? 128 : prefix_v6);

	memset(out, 0, sizeof(*out));
	memcpy(out->addr, addr, 16);
	rg_addr_mask(out->addr, plen);
	out->prefixlen = (uint8_t)plen;
	out->is_v4 = v4;
}

/* ---- longest-prefix-match table ---- */

struct lpm_slot {
	uint64_t hi, lo;	/* masked address, as loaded from memory */
	uint32_t value;
	uint32_t used;
};

struct lpm_level {
	struct lpm_slot *slots;
	size_t cap;		/* power of two, or 0 */
	size_t n;
	size_t n_v4, n_v6;	/* entries that can contain IPv4-mapped / other addresses */
};

/* Lengths present, longest first: one list for IPv4-mapped lookups, one for the rest, so
 * a lookup probes only lengths that can match its family. */
struct lpm_lens {
	uint8_t len[129];
	unsigned n;
};

struct rg_lpm {
	struct lpm_level level[129];
	uint64_t mask_hi[129], mask_lo[129];	/* byte masks, in memory order */
	struct lpm_lens v4, v6;
	size_t count;
};

static inline uint64_t lpm_hash(uint64_t hi, uint64_t lo)
{
	/* A multiply-xorshift mix: addresses differ mostly in a few bytes, and the slot
	 * index comes from the high bits, so every input bit must reach them. */
	uint64_t h = hi * 0x9e3779b97f4a7c15ULL ^ (lo + 0x632be59bd9b4e019ULL);

	h ^= h >> 32;
	h *= 0xd6e8feb86659fd93ULL;
	h ^= h >> 32;
	h *= 0xd6e8feb86659fd93ULL;
	h ^= h >> 32;
	return h;
}

struct rg_lpm *rg_lpm_new(void)
{
	struct rg_lpm *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	for (unsigned len = 0; len <= 128; len++) {
		uint8_t m[16] = { 0 };

		memset(m, 0xff, 16);
		rg_addr_mask(m, len);
		memcpy(&t->mask_hi[len], m, 8);
		memcpy(&t->mask_lo[len], m + 8, 8);
	}
	return t;
}

void rg_lpm_free(struct rg_lpm *t)
{
	if (!t)
		return;
	for (unsigned i = 0; i <= 128; i++)
		free(t->level[i].slots);
	free(t);
}

size_t rg_lpm_count(const struct rg_lpm *t)
{
	return t ? t->count : 0;
}

static struct lpm_slot *level_find(const struct lpm_level *lv, uint64_t hi, uint64_t lo)
{
	size_t mask = lv->cap - 1;
	size_t i = (size_t)lpm_hash(hi, lo) & mask;

	for (;;) {
		struct lpm_slot *s = &lv->slots[i];

		if (!s->used || (s->hi == hi && s->lo == lo))
			return s;
		i = (i + 1) & mask;
	}
}

static int level_grow(struct lpm_level *lv)
{
	size_t ncap = lv->cap ? lv->cap * 2 : 8;
	struct lpm_level nl = { .cap = ncap };

	if (ncap < lv->cap)
		return -ENOMEM;
	nl.slots = calloc(ncap, sizeof(*nl.slots));
	if (!nl.slots)
		return -ENOMEM;
	for (size_t i = 0; i < lv->cap; i++) {
		struct lpm_slot *s = &lv->slots[i];

		if (s->used)
			*level_find(&nl, s->hi, s->lo) = *s;
	}
	free(lv->slots);
	lv->slots = nl.slots;
	lv->cap = ncap;
	return 0;
}

static void lens_add(struct lpm_lens *l, unsigned len)
{
	unsigned i = l->n;

	while (i > 0 && l->len[i - 1] < len) {
		l->len[i] = l->len[i - 1];
		i--;
	}
	l->len[i] = (uint8_t)len;
	l->n++;
}

int rg_lpm_insert(struct rg_lpm *t, const struct rg_cidr *c, uint32_t value, uint32_t *old)
{
	unsigned len = c->prefixlen;
	struct lpm_level *lv;
	struct lpm_slot *s;
	uint64_t hi, lo;
	int err;

	if (!t || len > 128)
		return -EINVAL;
	lv = &t->level[len];
	memcpy(&hi, c->addr, 8);
	memcpy(&lo, c->addr + 8, 8);
	hi &= t->mask_hi[len];
	lo &= t->mask_lo[len];

	if (lv->cap) {
		s = level_find(lv, hi, lo);
		if (s->used) {
			if (old)
				*old = s->value;
			return -EEXIST;
		}
	}
	/* Keep the load at most one half so probe runs stay short. */
	if ((lv->n + 1) * 2 > lv->cap) {
		err = level_grow(lv);
		if (err)
			return err;
	}
	s = level_find(lv, hi, lo);
	s->hi = hi;
	s->lo = lo;
	s->value = value;
	s->used = 1;
	lv->n++;
	t->count++;

	/* A prefix holds IPv4-mapped addresses if it lies inside ::ffff:0:0/96 or, shorter
	 * than /96, contains that whole block; it holds other addresses unless it lies
	 * inside the block. */
	uint8_t block[16];
	bool in_block = len >= 96 && rg_addr_is_v4(c->addr);

	memcpy(block, v4_mapped_prefix, 12);
	memset(block + 12, 0, 4);
	rg_addr_mask(block, len);
	uint64_t bhi, blo;

	memcpy(&bhi, block, 8);
	memcpy(&blo, block + 8, 8);
	if ((in_block || (len < 96 && bhi == hi && blo == lo)) && lv->n_v4++ == 0)
		lens_add(&t->v4, len);
	if (!in_block && lv->n_v6++ == 0)
		lens_add(&t->v6, len);
	return 0;
}

bool rg_lpm_lookup(const struct rg_lpm *t, const uint8_t addr[16], uint32_t *value)
{
	const struct lpm_lens *l;
	uint64_t hi, lo;

	if (!t)
		return false;
	l = rg_addr_is_v4(addr) ? &t->v4 : &t->v6;
	memcpy(&hi, addr, 8);
	memcpy(&lo, addr + 8, 8);
	for (unsigned i = 0; i < l->n; i++) {
		unsigned len = l->len[i];
		const struct lpm_slot *s;

		s = level_find(&t->level[len], hi & t->mask_hi[len], lo & t->mask_lo[len]);
		if (s->used) {
			if (value)
				*value = s->value;
			return true;
		}
	}
	return false;
}
