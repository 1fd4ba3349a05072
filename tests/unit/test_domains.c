// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * test_domains.c: user/domains.c. Normalisation (case, one trailing dot, IDNA U-labels to
 * A-labels, LDH syntax, label and name lengths, hostile bytes) and the accepted-domain index
 * (exact and wildcard entries on label boundaries, tenant isolation, duplicates, growth
 * through many resizes, memory accounting), with a randomised comparison against a linear
 * scan of the same entries.
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

#include "domains.h"

static void norm_eq(const char *in, const char *want)
{
	char out[RG_DOMAIN_MAX + 1];
	int n = rg_domain_normalize(in, strlen(in), out);

	if (n < 0)
		fail_msg("normalise \"%s\": %d, want \"%s\"", in, n, want);
	assert_int_equal(n, strlen(want));
	assert_string_equal(out, want);
}

static void norm_bad_n(const char *in, size_t len)
{
	char out[RG_DOMAIN_MAX + 1];
	int n = rg_domain_normalize(in, len, out);

	if (n != -EINVAL)
		fail_msg("normalise \"%.80s\" (%zu octets): %d, want -EINVAL", in, len, n);
}

static void norm_bad(const char *in)
{
	norm_bad_n(in, strlen(in));
}

/* A name of labels of the given lengths, joined by dots ('a'..'z' repeated). */
static char *make_name(char *buf, size_t size, const int *labels, size_t nlabels)
{
	size_t o = 0;

	for (size_t i = 0; i < nlabels; i++) {
		if (i)
			buf[o++] = '.';
		for (int j = 0; j < labels[i]; j++)
			buf[o++] = (char)('a' + (j + (int)i) % 26);
		assert_true(o < size);
	}
	buf[o] = '\0';
	return buf;
}

static void test_normalize_case_and_dot(void **state)
{
	norm_eq("contoso.com", "contoso.com");
	norm_eq("Contoso.COM", "contoso.com");
	norm_eq("CONTOSO.COM.", "contoso.com");
	norm_eq("contoso.com.", "contoso.com");
	norm_eq("a-b.c0-9.example", "a-b.c0-9.example");
	norm_eq("123.example", "123.example");
	norm_eq("localhost", "localhost");	/* single label: a valid name */
	norm_eq("x", "x");
	norm_eq("XN--BCHER-KVA.example", "xn--bcher-kva.example");

	norm_bad("contoso.com..");	/* only one trailing dot is dropped */
	norm_bad(".");
	norm_bad("..");
	norm_bad(".contoso.com");
	norm_bad("contoso..com");
	norm_bad("");
	norm_bad_n("", 0);

	/* len is honoured: no NUL needed, bytes past len ignored */
	char out[RG_DOMAIN_MAX + 1];
	const char raw[] = { 'A', '.', 'B', 'x', '_', ' ' };
	assert_int_equal(rg_domain_normalize(raw, 3, out), 3);
	assert_string_equal(out, "a.b");
	assert_int_equal(rg_domain_normalize("a.b.", 4, out), 3);
	assert_string_equal(out, "a.b");
}

static void test_normalize_idn(void **state)
{
	norm_eq("bücher.example", "xn--bcher-kva.example");
	norm_eq("BÜCHER.Example.", "xn--bcher-kva.example");
	norm_eq("shop.bücher.example", "shop.xn--bcher-kva.example");
	norm_eq("münchen.de", "xn--mnchen-3ya.de");
	/* non-transitional (IDNA2008): ß stays ß, not "ss" */
	norm_eq("straße.de", "xn--strae-oqa.de");
	/* U+3002 ideographic full stop is a label separator in UTS #46 */
	norm_eq("bücher\xe3\x80\x82" "example", "xn--bcher-kva.example");

	/* A-labels given as such are checked by decoding them, and kept as they are */
	norm_eq("xn--bcher-kva.example", "xn--bcher-kva.example");
	norm_eq("Shop.XN--Mnchen-3ya.DE.", "shop.xn--mnchen-3ya.de");
	norm_eq("xn--strae-oqa.de", "xn--strae-oqa.de");
	norm_bad("xn--zz.example");			/* not Punycode */
	norm_bad("xn--.example");
	norm_bad("shop.xn--bcher-kva-.example");
	norm_bad("xn--a.example");			/* decodes to nothing */
	norm_bad("bücher.xn--zz.example");		/* also next to a U-label */
	norm_eq("xn-a.example", "xn-a.example");	/* not an A-label: plain LDH */
	norm_eq("axn--zz.example", "axn--zz.example");
	/* IDNA2003-era names IDNA2008 refuses (emoji) pass by UTS #46 transitional */
	norm_eq("i\xe2\x9d\xa4.ws", "xn--i-7iq.ws");
	norm_eq("xn--i-7iq.ws", "xn--i-7iq.ws");
	/* deviations never take the transitional path (it would map them away) */
	norm_eq("STRAẞE.de", "xn--strae-oqa.de");	/* capital sharp s is ß (UTS #46 15.1) */
	norm_eq("straẞe.de", "xn--strae-oqa.de");
	norm_bad("contoso\xe2\x80\x8d.example");	/* ZWJ, not after a virama */
	norm_bad("contoso\xe2\x80\x8c.example");	/* ZWNJ, likewise */
	norm_bad("i\xe2\x9d\xa4\xe2\x80\x8d.ws");	/* emoji + ZWJ: no fallback */
	norm_eq("\xcf\x83\xce\xbf\xcf\x86\xce\xbf\xcf\x82.gr", "xn--0xaajbq.gr"); /* final sigma kept */

	norm_bad("\xff.example");			/* not UTF-8 */
	norm_bad("b\xc3.example");			/* truncated sequence */
	norm_bad("\xcc\x81" "a.example");		/* label starts with a combining mark */
	norm_bad("-bücher.example");		/* leading hyphen survives IDNA */
	norm_bad("bücher-.example");
	norm_bad("bü_cher.example");		/* underscore, non-ASCII path */
	norm_bad("bü cher.example");
	norm_bad("bücher..example");
	norm_bad("bücher.example..");

	/* 56 a + ü: the A-label "xn--" + 56 + "-" + 3 is 64 octets */
	char buf[512];
	memset(buf, 'a', 56);
	memcpy(buf + 56, "\xc3\xbc.example", 11);	/* ü */
	norm_bad(buf);
	/* 55 + ü: xn--aaa...-<3> = 63 octets, still a valid label */
	memcpy(buf + 55, "\xc3\xbc.example", 11);
	char out[RG_DOMAIN_MAX + 1];
	assert_int_equal(rg_domain_normalize(buf, strlen(buf), out), 63 + 8);

	/* non-ASCII input far over any limit: refused, no overflow */
	char *big = malloc(4001);
	assert_non_null(big);
	for (int i = 0; i < 2000; i++)
		memcpy(big + 2 * i, "\xc3\xbc", 2);
	big[4000] = '\0';
	norm_bad(big);
	free(big);
}

static void test_normalize_lengths(void **state)
{
	char name[1100], out[RG_DOMAIN_MAX + 1];

	/* label 63 ok, 64 not */
	norm_eq(make_name(name, sizeof(name), (int[]){ 63, 3 }, 2), name);
	norm_bad(make_name(name, sizeof(name), (int[]){ 64, 3 }, 2));
	norm_bad(make_name(name, sizeof(name), (int[]){ 3, 64 }, 2));
	norm_eq(make_name(name, sizeof(name), (int[]){ 63 }, 1), name);
	norm_bad(make_name(name, sizeof(name), (int[]){ 64 }, 1));

	/* 63+1+63+1+63+1+61 = 253 ok; one more octet 254 not */
	make_name(name, sizeof(name), (int[]){ 63, 63, 63, 61 }, 4);
	assert_int_equal(strlen(name), 253);
	norm_eq(name, name);
	strcat(name, ".");	/* 253 plus the trailing dot is still 253 */
	assert_int_equal(rg_domain_normalize(name, strlen(name), out), 253);
	make_name(name, sizeof(name), (int[]){ 63, 63, 63, 62 }, 4);
	assert_int_equal(strlen(name), 254);
	norm_bad(name);
	strcat(name, ".");
	norm_bad(name);

	/* many short labels: 127 labels "a" = 253 octets */
	int ones[128];
	for (int i = 0; i < 128; i++)
		ones[i] = 1;
	make_name(name, sizeof(name), ones, 127);
	assert_int_equal(strlen(name), 253);
	assert_int_equal(rg_domain_normalize(name, 253, out), 253);
	make_name(name, sizeof(name), ones, 128);
	norm_bad(name);

	/* ASCII far over the limit */
	memset(name, 'a', 1099);
	name[1099] = '\0';
	norm_bad(name);
}

static void test_normalize_bad_chars(void **state)
{
	const char *bad[] = {
		"_dmarc.example", "a_b.example", "a b.example", " example.com", "example.com ",
		"exa\tmple.com", "a/b.com", "a@b.com", "*.example.com", "*", "a*.com",
		"ex!ample.com", "exam+ple.com", "\"a\".com", "a,b.com", "a;b.com", "[192.0.2.1]",
		"a\r.com", "a\n.com", "a\x7f.com", "a\x01.com", "-a.example", "a-.example",
		"a.-b.example", "a.b-", "-", "a.-", "a..",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		norm_bad(bad[i]);
	/* embedded NUL inside len, ASCII and non-ASCII */
	norm_bad_n("a\0b.com", 7);
	norm_bad_n("b\xc3\xbc\0cher.com", 11);
	/* hyphens inside labels are fine, also in positions 3-4 */
	norm_eq("a-b--c.ex-ample", "a-b--c.ex-ample");
}

static bool m(const struct rg_domains *d, uint32_t t, const char *name)
{
	return rg_domains_match(d, t, name, strlen(name));
}

/* Normalise as the engine does, then match. */
static bool nm(const struct rg_domains *d, uint32_t t, const char *name)
{
	char n[RG_DOMAIN_MAX + 1];
	int len = rg_domain_normalize(name, strlen(name), n);

	return len > 0 && rg_domains_match(d, t, n, (size_t)len);
}

static int add(struct rg_domains *d, uint32_t t, const char *entry)
{
	return rg_domains_add(d, t, entry, strlen(entry));
}

static void test_match_exact_and_wildcard(void **state)
{
	struct rg_domains *d = rg_domains_new(16);

	assert_non_null(d);
	assert_int_equal(add(d, 1, "contoso.com"), 0);
	assert_int_equal(add(d, 1, "*.fabrikam.com"), 0);

	assert_true(m(d, 1, "contoso.com"));
	assert_false(m(d, 1, "a.contoso.com"));	/* exact entry covers no subdomain */
	assert_false(m(d, 1, "contoso.co"));
	assert_false(m(d, 1, "ontoso.com"));
	assert_false(m(d, 1, "evilcontoso.com"));
	assert_false(m(d, 1, "contoso.com.au"));
	assert_false(m(d, 1, "com"));

	assert_true(m(d, 1, "a.fabrikam.com"));
	assert_true(m(d, 1, "a.b.fabrikam.com"));
	assert_true(m(d, 1, "x.y.z.fabrikam.com"));
	assert_false(m(d, 1, "fabrikam.com"));	/* a wildcard never covers itself */
	assert_false(m(d, 1, "evilfabrikam.com"));
	assert_false(m(d, 1, "a.evilfabrikam.com"));
	assert_false(m(d, 1, "fabrikam.com.evil"));
	assert_false(m(d, 1, "a.fabrikam.co"));
	assert_false(m(d, 1, "abrikam.com"));

	/* both forms: the name and all its subdomains */
	assert_int_equal(add(d, 1, "*.contoso.com"), 0);
	assert_true(m(d, 1, "contoso.com"));
	assert_true(m(d, 1, "a.contoso.com"));
	assert_false(m(d, 1, "evilcontoso.com"));

	/* a wildcard over a TLD covers every name below it, not the TLD */
	assert_int_equal(add(d, 2, "*.example"), 0);
	assert_true(m(d, 2, "anything.example"));
	assert_false(m(d, 2, "example"));
	assert_false(m(d, 2, "anything.examples"));

	assert_false(rg_domains_match(d, 1, "contoso.com", 0));
	assert_false(rg_domains_match(NULL, 1, "contoso.com", 11));
	/* len is honoured */
	assert_true(rg_domains_match(d, 1, "contoso.comXYZ", 11));
	assert_false(rg_domains_match(d, 1, "contoso.com", 10));
	rg_domains_free(d);
	rg_domains_free(NULL);
}

static void test_match_case_via_normalise(void **state)
{
	struct rg_domains *d = rg_domains_new(0);
	char n[RG_DOMAIN_MAX + 1];
	int len;

	assert_int_equal(add(d, 7, "CONTOSO.Com."), 0);
	assert_int_equal(add(d, 7, "*.BÜCHER.example"), 0);
	assert_int_equal(add(d, 7, "straße.de"), 0);

	/* entries are stored normalised; the index compares octets, callers normalise */
	assert_true(m(d, 7, "contoso.com"));
	assert_false(m(d, 7, "Contoso.com"));
	len = rg_domain_normalize("ConToSo.COM.", 12, n);
	assert_true(rg_domains_match(d, 7, n, (size_t)len));

	assert_true(m(d, 7, "shop.xn--bcher-kva.example"));
	len = rg_domain_normalize("Shop.Bücher.Example", strlen("Shop.Bücher.Example"), n);
	assert_true(len > 0);
	assert_true(rg_domains_match(d, 7, n, (size_t)len));
	assert_false(m(d, 7, "xn--bcher-kva.example"));
	assert_false(m(d, 7, "shop.bcher.example"));

	assert_true(m(d, 7, "xn--strae-oqa.de"));
	assert_false(m(d, 7, "strasse.de"));	/* non-transitional: not the same name */
	rg_domains_free(d);

	/* A tenant owning the transitional forms owns none of the deviating names. */
	d = rg_domains_new(0);
	assert_int_equal(add(d, 8, "strasse.example"), 0);
	assert_int_equal(add(d, 8, "contoso.example"), 0);
	assert_false(nm(d, 8, "straẞe.example"));
	assert_false(nm(d, 8, "straße.example"));
	assert_true(nm(d, 8, "STRASSE.example"));
	char zwj[] = "contoso\xe2\x80\x8d.example", zwnj[] = "contoso\xe2\x80\x8c.example";
	assert_true(rg_domain_normalize(zwj, strlen(zwj), n) < 0);
	assert_true(rg_domain_normalize(zwnj, strlen(zwnj), n) < 0);
	rg_domains_free(d);
}

static void test_tenant_isolation(void **state)
{
	struct rg_domains *d = rg_domains_new(0);

	assert_int_equal(add(d, 1, "contoso.com"), 0);
	assert_int_equal(add(d, 2, "*.contoso.com"), 0);
	assert_int_equal(add(d, 0, "zero.example"), 0);
	assert_int_equal(add(d, UINT32_MAX, "max.example"), 0);

	assert_true(m(d, 1, "contoso.com"));
	assert_false(m(d, 2, "contoso.com"));
	assert_false(m(d, 3, "contoso.com"));
	assert_true(m(d, 2, "a.contoso.com"));
	assert_false(m(d, 1, "a.contoso.com"));
	assert_true(m(d, 0, "zero.example"));
	assert_false(m(d, 1, "zero.example"));
	assert_true(m(d, UINT32_MAX, "max.example"));
	assert_false(m(d, UINT32_MAX - 1, "max.example"));
	assert_false(m(d, 0, "max.example"));
	/* the wildcard flag is part of the key: tenant 1's exact entry is no wildcard */
	assert_int_equal(add(d, 1, "*.fabrikam.com"), 0);
	assert_false(m(d, 1, "fabrikam.com"));
	assert_int_equal(rg_domains_count(d), 5);
	rg_domains_free(d);
}

static void test_many_tenants_share_domain(void **state)
{
	struct rg_domains *d = rg_domains_new(0);
	const uint32_t nt = 5000;

	for (uint32_t t = 0; t < nt; t += 2)
		assert_int_equal(add(d, t, "shared.example"), 0);
	assert_int_equal(rg_domains_count(d), nt / 2);
	for (uint32_t t = 0; t < nt; t++) {
		if (m(d, t, "shared.example") != (t % 2 == 0))
			fail_msg("tenant %u: shared.example %s", t, t % 2 ? "matched" : "missing");
	}
	assert_false(m(d, nt, "shared.example"));
	assert_false(m(d, 0, "a.shared.example"));
	rg_domains_free(d);
}

static void test_duplicates_and_bad_entries(void **state)
{
	struct rg_domains *d = rg_domains_new(0);

	assert_int_equal(add(d, 1, "contoso.com"), 0);
	assert_int_equal(add(d, 1, "contoso.com"), 0);
	assert_int_equal(add(d, 1, "Contoso.COM."), 0);
	assert_int_equal(rg_domains_count(d), 1);
	assert_int_equal(add(d, 1, "*.contoso.com"), 0);
	assert_int_equal(add(d, 1, "*.CONTOSO.com"), 0);
	assert_int_equal(rg_domains_count(d), 2);
	assert_int_equal(add(d, 2, "contoso.com"), 0);
	assert_int_equal(rg_domains_count(d), 3);
	assert_int_equal(add(d, 1, "bücher.example"), 0);
	assert_int_equal(add(d, 1, "xn--bcher-kva.example"), 0);	/* same name */
	assert_int_equal(rg_domains_count(d), 4);

	const char *bad[] = { "", "*", "*.", "*.*.contoso.com", "**.contoso.com", "*contoso.com",
			      "a.*.contoso.com", "_dmarc.contoso.com", "contoso.com..", ".",
			      "con toso.com", "-contoso.com", "*.-a.com", "\xff.example" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (add(d, 1, bad[i]) != -EINVAL)
			fail_msg("entry \"%s\" accepted", bad[i]);
	}
	assert_int_equal(rg_domains_add(d, 1, "x.com\0y", 7), -EINVAL);
	assert_int_equal(rg_domains_count(d), 4);
	rg_domains_free(d);
}

static void test_growth_and_memory(void **state)
{
	struct rg_domains *d = rg_domains_new(0);
	const unsigned n = 100000;
	char name[64];
	size_t mem0 = rg_domains_memory(d), mem1 = 0, prev = mem0;
	unsigned grew = 0;

	assert_non_null(d);
	assert_true(mem0 > 0);
	for (unsigned i = 0; i < n; i++) {
		/* every tenth entry a wildcard; tenants of 100 entries each */
		snprintf(name, sizeof(name), "%sd%u.t%u.example", i % 10 ? "" : "*.", i, i / 100);
		if (add(d, i / 100, name))
			fail_msg("add %s failed", name);
		size_t mem = rg_domains_memory(d);
		assert_true(mem >= prev);	/* memory never shrinks while adding */
		if (mem > prev)
			grew++;
		prev = mem;
		if (i == 999)
			mem1 = mem;
	}
	assert_int_equal(rg_domains_count(d), n);
	assert_true(mem1 > mem0);
	assert_true(rg_domains_memory(d) > mem1);
	assert_true(grew >= 7);	/* 1024 slots up to 262144: several resizes */
	/* at least the names and a slot each are accounted for */
	assert_true(rg_domains_memory(d) >= (size_t)n * 16);

	for (unsigned i = 0; i < n; i++) {
		uint32_t t = i / 100;
		bool ok;

		if (i % 10) {
			snprintf(name, sizeof(name), "d%u.t%u.example", i, t);
			ok = m(d, t, name) && !m(d, t + 1, name);
			snprintf(name, sizeof(name), "x.d%u.t%u.example", i, t);
			ok = ok && !m(d, t, name);
		} else {
			snprintf(name, sizeof(name), "x.d%u.t%u.example", i, t);
			ok = m(d, t, name) && !m(d, t + 1, name);
			snprintf(name, sizeof(name), "d%u.t%u.example", i, t);
			ok = ok && !m(d, t, name);
		}
		if (!ok)
			fail_msg("entry %u wrong after growth (%s)", i, name);
	}
	/* adding them all again changes nothing */
	size_t mem = rg_domains_memory(d);
	for (unsigned i = 0; i < n; i += 7) {
		snprintf(name, sizeof(name), "%sd%u.t%u.example", i % 10 ? "" : "*.", i, i / 100);
		assert_int_equal(add(d, i / 100, name), 0);
	}
	assert_int_equal(rg_domains_count(d), n);
	assert_int_equal(rg_domains_memory(d), mem);
	rg_domains_free(d);
}

/* ---- randomised: the index against a linear scan ---------------------------------- */

struct ref_entry {
	uint32_t tenant;
	bool wildcard;
	char name[32];
};

static bool ref_match(const struct ref_entry *e, size_t n, uint32_t t, const char *q)
{
	size_t ql = strlen(q);

	for (size_t i = 0; i < n; i++) {
		size_t el = strlen(e[i].name);

		if (e[i].tenant != t)
			continue;
		if (!e[i].wildcard && !strcmp(e[i].name, q))
			return true;
		if (e[i].wildcard && ql > el + 1 && q[ql - el - 1] == '.' &&
		    !strcmp(q + ql - el, e[i].name))
			return true;
	}
	return false;
}

static unsigned long long rng_state = 0x9e3779b97f4a7c15ull;

static unsigned rnd(unsigned n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (unsigned)(rng_state % n);
}

/* 1..4 labels from a tiny alphabet, so that suffixes and near-misses collide often. */
static void rnd_name(char *buf)
{
	static const char *const lab[] = { "a", "b", "ab", "ba", "x", "com", "xcom", "a-b" };
	unsigned k = 1 + rnd(4);

	buf[0] = '\0';
	for (unsigned i = 0; i < k; i++) {
		if (i)
			strcat(buf, ".");
		strcat(buf, lab[rnd(8)]);
	}
}

static void test_random_against_scan(void **state)
{
	enum { N = 1500, Q = 20000, T = 4 };
	struct ref_entry *e = calloc(N, sizeof(*e));
	struct rg_domains *d = rg_domains_new(0);
	size_t n = 0;
	unsigned hits = 0;

	assert_non_null(e);
	for (unsigned i = 0; i < N; i++) {
		char entry[40];

		e[n].tenant = rnd(T);
		e[n].wildcard = rnd(3) == 0;
		rnd_name(e[n].name);
		snprintf(entry, sizeof(entry), "%s%s", e[n].wildcard ? "*." : "", e[n].name);
		assert_int_equal(add(d, e[n].tenant, entry), 0);
		n++;
	}
	for (unsigned i = 0; i < Q; i++) {
		char q[40];
		uint32_t t = rnd(T + 1);
		bool want, got;

		rnd_name(q);
		if (rnd(2)) {
			char q2[40];

			rnd_name(q2);
			if (strlen(q) + strlen(q2) + 2 < sizeof(q)) {
				strcat(q, ".");
				strcat(q, q2);
			}
		}
		want = ref_match(e, n, t, q);
		got = m(d, t, q);
		if (want != got)
			fail_msg("tenant %u \"%s\": index %d, scan %d", t, q, got, want);
		hits += want;
	}
	/* the comparison must have seen both answers often */
	assert_true(hits > Q / 20);
	assert_true(hits < Q - Q / 20);
	free(e);
	rg_domains_free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normalize_case_and_dot),
		cmocka_unit_test(test_normalize_idn),
		cmocka_unit_test(test_normalize_lengths),
		cmocka_unit_test(test_normalize_bad_chars),
		cmocka_unit_test(test_match_exact_and_wildcard),
		cmocka_unit_test(test_match_case_via_normalise),
		cmocka_unit_test(test_tenant_isolation),
		cmocka_unit_test(test_many_tenants_share_domain),
		cmocka_unit_test(test_duplicates_and_bad_entries),
		cmocka_unit_test(test_growth_and_memory),
		cmocka_unit_test(test_random_against_scan),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
