// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * test_cidr.c: user/cidr.c: address and prefix parsing (good, hostile, host bits),
 * formatting round trips, masking, containment, host keys, and the LPM table (longest
 * match, nesting, /0, IPv4-mapped versus native IPv6, duplicates, and a randomised
 * comparison against a linear scan with many prefixes).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cidr.h"

static void fmt_eq(const char *in, bool allow, const char *want)
{
	struct rg_cidr c;
	char buf[RG_ADDR_STRLEN];

	if (rg_cidr_parse(in, &c, allow) != 0)
		fail_msg("parse failed: %s", in);
	assert_string_equal(rg_cidr_format(&c, buf, sizeof(buf)), want);
}

static void test_parse_format(void **state)
{
	fmt_eq("192.0.2.0/24", false, "192.0.2.0/24");
	fmt_eq("192.0.2.1", false, "192.0.2.1/32");
	fmt_eq("0.0.0.0/0", false, "0.0.0.0/0");
	fmt_eq("2001:db8:10::/48", false, "2001:db8:10::/48");
	fmt_eq("2001:DB8::1", false, "2001:db8::1/128");
	fmt_eq("::/0", false, "::/0");
	fmt_eq("2001:db8::1/64", true, "2001:db8::/64");
	fmt_eq("192.0.2.77/24", true, "192.0.2.0/24");
	/* written as IPv6: stays IPv6 text, same key as the IPv4 form */
	fmt_eq("::ffff:192.0.2.0/120", false, "::ffff:192.0.2.0/120");

	struct rg_cidr a, b;

	assert_int_equal(rg_cidr_parse("198.51.100.0/24", &a, false), 0);
	assert_int_equal(a.prefixlen, 96 + 24);
	assert_true(a.is_v4);
	assert_int_equal(rg_cidr_parse("::ffff:198.51.100.0/120", &b, false), 0);
	assert_memory_equal(a.addr, b.addr, 16);
	assert_int_equal(b.prefixlen, 120);
	assert_false(b.is_v4);

	/* round trip: format then parse gives the same prefix */
	const char *rt[] = { "203.0.113.128/25", "2001:db8:ffff:1::/64", "10.0.0.0/8",
			     "2001:db8::/32", "198.51.100.7/32", "fe80::/10" };
	for (size_t i = 0; i < sizeof(rt) / sizeof(rt[0]); i++) {
		char buf[RG_ADDR_STRLEN];
		struct rg_cidr x, y;

		assert_int_equal(rg_cidr_parse(rt[i], &x, false), 0);
		rg_cidr_format(&x, buf, sizeof(buf));
		assert_string_equal(buf, rt[i]);
		assert_int_equal(rg_cidr_parse(buf, &y, false), 0);
		assert_memory_equal(&x, &y, sizeof(x));
	}
}

static void test_parse_bad(void **state)
{
	const char *bad[] = {
		"", " 192.0.2.0/24", "192.0.2.0/24 ", "192.0.2.0 /24", "192.0.2.0/ 24",
		"192.0.2.0/33", "2001:db8::/129", "192.0.2.0/-1", "192.0.2.0/+24",
		"192.0.2.0/024", "192.0.2.0/", "/24", "192.0.2/24", "192.0.2.256/32",
		"192.0.2.1.5", "1.2.3", "01.2.3.4", "0x7f.0.0.1", "abc", "2001:db8::g/64",
		"2001:db8:::/48", "fe80::1%eth0", "192.0.2.0/24/24", "192.0.2.0/4294967320",
		"2001:db8::/99999999999999999999", "192.0.2.1/24", "2001:db8::1/64",
		"0.0.0.1/0", "[2001:db8::1]",
		"2001:0db8:0000:0000:0000:0000:0000:0000:0000/128",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	};
	struct rg_cidr c;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (rg_cidr_parse(bad[i], &c, false) == 0)
			fail_msg("accepted bad cidr '%s'", bad[i]);
	}
	assert_int_not_equal(rg_cidr_parse(NULL, &c, true), 0);
	/* host bits are fine when asked to clear them, junk is not */
	assert_int_equal(rg_cidr_parse("192.0.2.1/24", &c, true), 0);
	assert_int_not_equal(rg_cidr_parse("192.0.2.1/33", &c, true), 0);

	uint8_t a[16];
	bool v4;

	assert_int_not_equal(rg_addr_parse("192.0.2.0/24", a, &v4), 0);
	assert_int_not_equal(rg_addr_parse("", a, &v4), 0);
	assert_int_not_equal(rg_addr_parse("192.0.2.1 ", a, &v4), 0);
	assert_int_equal(rg_addr_parse("192.0.2.1", a, &v4), 0);
	assert_true(v4);
	assert_true(rg_addr_is_v4(a));
	assert_int_equal(rg_addr_parse("2001:db8::1", a, &v4), 0);
	assert_false(v4);
	assert_false(rg_addr_is_v4(a));
	/* IPv4-compatible (deprecated) is not IPv4-mapped */
	assert_int_equal(rg_addr_parse("::192.0.2.1", a, &v4), 0);
	assert_false(rg_addr_is_v4(a));
}

static void test_addr_format_mask(void **state)
{
	uint8_t a[16];
	char buf[RG_ADDR_STRLEN];

	assert_int_equal(rg_addr_parse("203.0.113.9", a, NULL), 0);
	assert_string_equal(rg_addr_format(a, buf, sizeof(buf)), "203.0.113.9");
	rg_addr_mask(a, 96 + 28);
	assert_string_equal(rg_addr_format(a, buf, sizeof(buf)), "203.0.113.0");
	assert_int_equal(rg_addr_parse("2001:db8:abcd:ef01:2345:6789:abcd:ef01", a, NULL), 0);
	rg_addr_mask(a, 36);
	assert_string_equal(rg_addr_format(a, buf, sizeof(buf)), "2001:db8:a000::");
	rg_addr_mask(a, 0);
	assert_string_equal(rg_addr_format(a, buf, sizeof(buf)), "::");

	/* a too-small buffer gives an empty string, never an overflow */
	struct rg_cidr c;
	char tiny[8];

	assert_int_equal(rg_cidr_parse("2001:db8::/32", &c, false), 0);
	assert_string_equal(rg_cidr_format(&c, tiny, sizeof(tiny)), "");
}

static void test_contains_host_of(void **state)
{
	struct rg_cidr c, h;
	uint8_t a[16];
	char buf[RG_ADDR_STRLEN];

	assert_int_equal(rg_cidr_parse("192.0.2.0/24", &c, false), 0);
	assert_int_equal(rg_addr_parse("192.0.2.200", a, NULL), 0);
	assert_true(rg_cidr_contains(&c, a));
	assert_int_equal(rg_addr_parse("192.0.3.1", a, NULL), 0);
	assert_false(rg_cidr_contains(&c, a));
	assert_int_equal(rg_addr_parse("::ffff:192.0.2.5", a, NULL), 0);
	assert_true(rg_cidr_contains(&c, a));
	assert_int_equal(rg_addr_parse("::c000:205", a, NULL), 0);
	assert_false(rg_cidr_contains(&c, a));

	/* 0.0.0.0/0 is all of IPv4 only; ::/0 is every key, like the kernel trie */
	assert_int_equal(rg_cidr_parse("0.0.0.0/0", &c, false), 0);
	assert_int_equal(rg_addr_parse("2001:db8::1", a, NULL), 0);
	assert_false(rg_cidr_contains(&c, a));
	assert_int_equal(rg_addr_parse("198.51.100.1", a, NULL), 0);
	assert_true(rg_cidr_contains(&c, a));
	assert_int_equal(rg_cidr_parse("::/0", &c, false), 0);
	assert_true(rg_cidr_contains(&c, a));

	assert_int_equal(rg_addr_parse("198.51.100.77", a, NULL), 0);
	rg_host_of(a, 24, 64, &h);
	assert_string_equal(rg_cidr_format(&h, buf, sizeof(buf)), "198.51.100.0/24");
	rg_host_of(a, 32, 64, &h);
	assert_string_equal(rg_cidr_format(&h, buf, sizeof(buf)), "198.51.100.77/32");
	assert_int_equal(rg_addr_parse("2001:db8:1:2:3:4:5:6", a, NULL), 0);
	rg_host_of(a, 32, 64, &h);
	assert_string_equal(rg_cidr_format(&h, buf, sizeof(buf)), "2001:db8:1:2::/64");
	assert_false(h.is_v4);
	rg_host_of(a, 32, 56, &h);
	assert_string_equal(rg_cidr_format(&h, buf, sizeof(buf)), "2001:db8:1::/56");
}

static struct rg_lpm *lpm_of(const char *const *cidrs, size_t n)
{
	struct rg_lpm *t = rg_lpm_new();

	assert_non_null(t);
	for (size_t i = 0; i < n; i++) {
		struct rg_cidr c;

		assert_int_equal(rg_cidr_parse(cidrs[i], &c, false), 0);
		assert_int_equal(rg_lpm_insert(t, &c, (uint32_t)i + 1, NULL), 0);
	}
	assert_int_equal(rg_lpm_count(t), n);
	return t;
}

static uint32_t lookup(const struct rg_lpm *t, const char *addr)
{
	uint8_t a[16];
	uint32_t v = 0;

	assert_int_equal(rg_addr_parse(addr, a, NULL), 0);
	return rg_lpm_lookup(t, a, &v) ? v : 0;
}

static void test_lpm_longest(void **state)
{
	static const char *const cidrs[] = {
		"192.0.2.0/24",		/* 1 */
		"192.0.2.128/25",	/* 2 */
		"192.0.2.200/32",	/* 3 */
		"2001:db8::/32",	/* 4 */
		"2001:db8:10::/48",	/* 5 */
		"198.51.100.0/24",	/* 6 */
	};
	struct rg_lpm *t = lpm_of(cidrs, 6);

	assert_int_equal(lookup(t, "192.0.2.1"), 1);
	assert_int_equal(lookup(t, "192.0.2.129"), 2);
	assert_int_equal(lookup(t, "192.0.2.200"), 3);
	assert_int_equal(lookup(t, "192.0.2.201"), 2);
	assert_int_equal(lookup(t, "192.0.3.1"), 0);
	assert_int_equal(lookup(t, "2001:db8:10::1"), 5);
	assert_int_equal(lookup(t, "2001:db8:11::1"), 4);
	assert_int_equal(lookup(t, "2001:db9::1"), 0);
	assert_int_equal(lookup(t, "198.51.100.255"), 6);
	/* IPv4-mapped text is the same key; IPv4-compatible and NAT64 forms are not */
	assert_int_equal(lookup(t, "::ffff:192.0.2.1"), 1);
	assert_int_equal(lookup(t, "::192.0.2.1"), 0);
	assert_int_equal(lookup(t, "64:ff9b::192.0.2.1"), 0);

	/* duplicate prefix: -EEXIST with the old value, table unchanged */
	struct rg_cidr c;
	uint32_t old = 0;

	assert_int_equal(rg_cidr_parse("192.0.2.0/24", &c, false), 0);
	assert_int_equal(rg_lpm_insert(t, &c, 99, &old), -EEXIST);
	assert_int_equal(old, 1);
	assert_int_equal(lookup(t, "192.0.2.1"), 1);
	/* the same key written differently is the same prefix */
	assert_int_equal(rg_cidr_parse("::ffff:192.0.2.128/121", &c, false), 0);
	assert_int_equal(rg_lpm_insert(t, &c, 98, &old), -EEXIST);
	assert_int_equal(old, 2);
	assert_int_equal(rg_lpm_count(t), 6);

	/* lookup without a value pointer, and on NULL */
	uint8_t a[16];

	assert_int_equal(rg_addr_parse("192.0.2.9", a, NULL), 0);
	assert_true(rg_lpm_lookup(t, a, NULL));
	assert_false(rg_lpm_lookup(NULL, a, NULL));
	rg_lpm_free(t);
	rg_lpm_free(NULL);
}

static void test_lpm_zero_prefixes(void **state)
{
	static const char *const v4only[] = { "0.0.0.0/0", "192.0.2.0/24" };
	struct rg_lpm *t = lpm_of(v4only, 2);

	assert_int_equal(lookup(t, "8.8.8.8"), 1);
	assert_int_equal(lookup(t, "192.0.2.3"), 2);
	assert_int_equal(lookup(t, "2001:db8::1"), 0);
	assert_int_equal(lookup(t, "::"), 0);
	rg_lpm_free(t);

	static const char *const all[] = { "::/0", "2001:db8::/32", "203.0.113.0/24" };
	t = lpm_of(all, 3);
	assert_int_equal(lookup(t, "2001:db8::5"), 2);
	assert_int_equal(lookup(t, "2001:db9::5"), 1);
	assert_int_equal(lookup(t, "203.0.113.5"), 3);
	/* like the kernel trie over the same keys, ::/0 covers IPv4-mapped too */
	assert_int_equal(lookup(t, "198.51.100.1"), 1);
	rg_lpm_free(t);

	/* empty table */
	t = rg_lpm_new();
	assert_int_equal(lookup(t, "192.0.2.1"), 0);
	assert_int_equal(rg_lpm_count(t), 0);
	rg_lpm_free(t);
}

static uint64_t rng_state = 0x1234567887654321ULL;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Many random nested prefixes, compared with a linear longest-match scan. */
static void test_lpm_random_vs_scan(void **state)
{
	enum { N = 3000, Q = 20000 };
	struct rg_cidr *cs = calloc(N, sizeof(*cs));
	uint32_t *vals = calloc(N, sizeof(*vals));
	struct rg_lpm *t = rg_lpm_new();
	size_t n = 0;

	assert_non_null(cs);
	assert_non_null(vals);
	assert_non_null(t);
	for (size_t i = 0; i < N; i++) {
		struct rg_cidr c = { 0 };
		uint64_t r = rnd();

		/* crowd a few top bits so prefixes nest */
		if (r & 1) {
			uint8_t a[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff,
					  192, (uint8_t)(r >> 8 & 3), (uint8_t)(r >> 16),
					  (uint8_t)(r >> 24) };
			memcpy(c.addr, a, 16);
			c.prefixlen = (uint8_t)(96 + 8 + (r >> 32) % 25);
			c.is_v4 = 1;
		} else {
			uint8_t a[16] = { 0x20, 0x01, 0x0d, 0xb8, (uint8_t)(r >> 8 & 1),
					  (uint8_t)(r >> 16), (uint8_t)(r >> 24),
					  (uint8_t)(r >> 40) };
			memcpy(c.addr, a, 16);
			c.prefixlen = (uint8_t)(32 + (r >> 48) % 40);
		}
		rg_addr_mask(c.addr, c.prefixlen);
		uint32_t old;
		int err = rg_lpm_insert(t, &c, (uint32_t)i, &old);

		if (err == -EEXIST)
			continue;
		assert_int_equal(err, 0);
		cs[n] = c;
		vals[n] = (uint32_t)i;
		n++;
	}
	assert_int_equal(rg_lpm_count(t), n);
	assert_true(n > N / 2);

	for (size_t q = 0; q < Q; q++) {
		uint8_t a[16];
		uint64_t r = rnd();

		/* a random address near a random prefix */
		memcpy(a, cs[r % n].addr, 16);
		uint64_t r2 = rnd();
		for (int b = 0; b < 3; b++)
			a[15 - (r2 >> (8 * b) & 7)] ^= (uint8_t)(r2 >> (24 + 8 * b));
		if (q % 5 == 0)
			a[13] ^= (uint8_t)(r2 >> 56);

		int best = -1;
		for (size_t i = 0; i < n; i++)
			if (rg_cidr_contains(&cs[i], a) &&
			    (best < 0 || cs[i].prefixlen > cs[best].prefixlen))
				best = (int)i;
		uint32_t v = 0;
		bool found = rg_lpm_lookup(t, a, &v);

		assert_int_equal(found, best >= 0);
		if (found)
			assert_int_equal(v, vals[best]);
	}
	rg_lpm_free(t);
	free(cs);
	free(vals);
}

/* Every length present at once, including /0 and /128. */
static void test_lpm_all_lengths(void **state)
{
	struct rg_lpm *t = rg_lpm_new();
	uint8_t a[16];

	assert_int_equal(rg_addr_parse("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", a, NULL), 0);
	for (unsigned len = 0; len <= 128; len++) {
		struct rg_cidr c = { .prefixlen = (uint8_t)len };

		memcpy(c.addr, a, 16);
		rg_addr_mask(c.addr, len);
		assert_int_equal(rg_lpm_insert(t, &c, len, NULL), 0);
	}
	for (unsigned len = 0; len <= 128; len++) {
		uint8_t b[16];
		uint32_t v = 999;

		memcpy(b, a, 16);
		/* flip the bit just past len: the longest match is exactly len */
		if (len < 128)
			b[len / 8] ^= (uint8_t)(0x80 >> (len % 8));
		assert_true(rg_lpm_lookup(t, b, &v));
		assert_int_equal(v, len);
	}
	rg_lpm_free(t);
}

/* Short prefixes that hold the IPv4-mapped block serve IPv4 lookups too (kernel trie
 * semantics), prefixes inside the block never serve IPv6 ones. */
static void test_lpm_family_split(void **state)
{
	static const char *const cidrs[] = { "::/8", "::ffff:0:0/96", "::fffe:0:0/95",
					     "192.0.2.0/24", "2001:db8::/32" };
	struct rg_lpm *t = lpm_of(cidrs, 5);

	assert_int_equal(lookup(t, "::1"), 1);
	assert_int_equal(lookup(t, "198.51.100.1"), 2);
	assert_int_equal(lookup(t, "::fffe:0:1"), 3);
	assert_int_equal(lookup(t, "192.0.2.9"), 4);
	assert_int_equal(lookup(t, "2001:db8::1"), 5);
	assert_int_equal(lookup(t, "2001:db9::1"), 0);
	rg_lpm_free(t);

	static const char *const short_only[] = { "::/8" };
	t = lpm_of(short_only, 1);
	assert_int_equal(lookup(t, "203.0.113.1"), 1);
	rg_lpm_free(t);

	/* inside the block: IPv4-mapped only */
	static const char *const v4_only[] = { "::ffff:0:0/96" };
	t = lpm_of(v4_only, 1);
	assert_int_equal(lookup(t, "203.0.113.1"), 1);
	assert_int_equal(lookup(t, "::fffe:0:1"), 0);
	assert_int_equal(lookup(t, "::1"), 0);
	rg_lpm_free(t);
}

/* Many entries at many lengths (every level grows many times), none nested: each
 * prefix's own address finds exactly it. */
static void test_lpm_large(void **state)
{
	enum { N6 = 65536, N4 = 65536 };
	struct rg_lpm *t = rg_lpm_new();
	char s[RG_ADDR_STRLEN];

	assert_non_null(t);
	for (uint32_t i = 0; i < N6 + N4; i++) {
		struct rg_cidr c;

		if (i < N6)
			snprintf(s, sizeof(s), "2001:db8:%x:%x::/%u", i, (i * 7919u) & 0xffff,
				 48 + i % 41);
		else
			snprintf(s, sizeof(s), "10.%u.%u.0/%u", (i - N6) >> 8, (i - N6) & 0xff,
				 24 + i % 9);
		if (rg_cidr_parse(s, &c, true))
			fail_msg("parse %s", s);
		assert_int_equal(rg_lpm_insert(t, &c, i, NULL), 0);
	}
	assert_int_equal(rg_lpm_count(t), N6 + N4);
	for (uint32_t i = 0; i < N6 + N4; i++) {
		uint8_t a[16];
		uint32_t v = UINT32_MAX;

		if (i < N6)
			snprintf(s, sizeof(s), "2001:db8:%x:%x::", i, (i * 7919u) & 0xffff);
		else
			snprintf(s, sizeof(s), "10.%u.%u.0", (i - N6) >> 8, (i - N6) & 0xff);
		assert_int_equal(rg_addr_parse(s, a, NULL), 0);
		assert_true(rg_lpm_lookup(t, a, &v));
		assert_int_equal(v, i);
	}
	rg_lpm_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_format),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_addr_format_mask),
		cmocka_unit_test(test_contains_host_of),
		cmocka_unit_test(test_lpm_longest),
		cmocka_unit_test(test_lpm_zero_prefixes),
		cmocka_unit_test(test_lpm_random_vs_scan),
		cmocka_unit_test(test_lpm_all_lengths),
		cmocka_unit_test(test_lpm_family_split),
		cmocka_unit_test(test_lpm_large),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
