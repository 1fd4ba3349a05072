// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * test_tenant_auth.c: user/tenant_auth.c: SASL logins exact and by @domain (exact first,
 * domain case and IDN folded, local part exact), certificate subjects exact and *.domain
 * on label boundaries (longest wildcard first, never the domain itself or evildomain),
 * fingerprints with colons and case ignored and only digest lengths accepted, the order
 * SASL > fingerprint > public-key fingerprint > subject, duplicates across tenants
 * refused naming the other, and hostile request text (controls, NUL, overlong, odd hex)
 * never matching.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tenant_auth.h"

#define FP_A "6E:1A:0B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9:0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8"
#define FP_B "0102030405060708090a0b0c0d0e0f1011121314"	/* SHA-1 length */

static void add_ok(struct rg_tenant_auth *a, enum rg_auth_key k, const char *e, uint32_t t)
{
	const char *why = NULL;
	uint32_t other = 99;

	assert_int_equal(rg_tenant_auth_add(a, k, e, strlen(e), t, &other, &why), 1);
}

static struct rg_tenant_auth *fixture(void)
{
	struct rg_tenant_auth *a = rg_tenant_auth_new();

	assert_non_null(a);
	add_ok(a, RG_AUTH_SASL_USERS, "@contoso.com", 1);
	add_ok(a, RG_AUTH_SASL_USERS, "scanner01", 2);
	add_ok(a, RG_AUTH_SASL_USERS, "boss@contoso.com", 3);
	add_ok(a, RG_AUTH_CERT_SUBJECTS, "*.mail.contoso.com", 1);
	add_ok(a, RG_AUTH_CERT_SUBJECTS, "*.eu.mail.contoso.com", 4);
	add_ok(a, RG_AUTH_CERT_SUBJECTS, "relay.fabrikam.com", 2);
	add_ok(a, RG_AUTH_CERT_FINGERPRINTS, FP_A, 3);
	add_ok(a, RG_AUTH_CERT_FINGERPRINTS, FP_B, 4);
	return a;
}

static enum rg_match q(const struct rg_tenant_auth *a, const char *sasl, const char *fp,
		       const char *pkfp, const char *subj, uint32_t *t)
{
	struct rg_auth_query qu = {
		sasl, sasl ? strlen(sasl) : 0, fp, fp ? strlen(fp) : 0,
		pkfp, pkfp ? strlen(pkfp) : 0, subj, subj ? strlen(subj) : 0,
	};

	*t = 0;
	return rg_tenant_auth_match(a, &qu, t);
}

static void test_sasl(void **state)
{
	struct rg_tenant_auth *a = fixture();
	uint32_t t;

	assert_int_equal(q(a, "alice@contoso.com", NULL, NULL, NULL, &t), RG_MATCH_SASL);
	assert_int_equal(t, 1);
	assert_int_equal(q(a, "alice@CONTOSO.com.", NULL, NULL, NULL, &t), RG_MATCH_SASL);
	assert_int_equal(t, 1);
	/* The exact login wins over its domain. */
	assert_int_equal(q(a, "boss@Contoso.COM", NULL, NULL, NULL, &t), RG_MATCH_SASL);
	assert_int_equal(t, 3);
	assert_int_equal(q(a, "scanner01", NULL, NULL, NULL, &t), RG_MATCH_SASL);
	assert_int_equal(t, 2);
	/* The local part is exact; no subdomains of @domain; the last '@' counts. */
	assert_int_equal(q(a, "Scanner01", NULL, NULL, NULL, &t), RG_MATCH_NONE);
	assert_int_equal(q(a, "a@sub.contoso.com", NULL, NULL, NULL, &t), RG_MATCH_NONE);
	assert_int_equal(q(a, "a@evilcontoso.com", NULL, NULL, NULL, &t), RG_MATCH_NONE);
	assert_int_equal(q(a, "a@contoso.com@evil.test", NULL, NULL, NULL, &t), RG_MATCH_NONE);
	assert_int_equal(q(a, "@contoso.com", NULL, NULL, NULL, &t), RG_MATCH_SASL);
	assert_int_equal(q(a, "contoso.com", NULL, NULL, NULL, &t), RG_MATCH_NONE);
	/* Hostile: controls, spaces, NUL, overlong. */
	assert_int_equal(q(a, "a@contoso.com\r", NULL, NULL, NULL, &t), RG_MATCH_NONE);
	assert_int_equal(q(a, "scanner01 ", NULL, NULL, NULL, &t), RG_MATCH_NONE);
	{
		struct rg_auth_query nul = { .sasl_username = "scanner01\0x", .sasl_len = 11 };
		char longer[400];

		assert_int_equal(rg_tenant_auth_match(a, &nul, &t), RG_MATCH_NONE);
		memset(longer, 'a', sizeof(longer));
		memcpy(longer + sizeof(longer) - 13, "@contoso.com", 13);
		assert_int_equal(q(a, longer, NULL, NULL, NULL, &t), RG_MATCH_NONE);
	}
	rg_tenant_auth_free(a);
}

static void test_subjects(void **state)
{
	struct rg_tenant_auth *a = fixture();
	uint32_t t;

	assert_int_equal(q(a, NULL, NULL, NULL, "mx1.mail.contoso.com", &t), RG_MATCH_CERT_SUBJECT);
	assert_int_equal(t, 1);
	assert_int_equal(q(a, NULL, NULL, NULL, "a.b.MAIL.contoso.com", &t), RG_MATCH_CERT_SUBJECT);
	assert_int_equal(t, 1);
	/* The longest wildcard wins. */
	assert_int_equal(q(a, NULL, NULL, NULL, "x.eu.mail.contoso.com", &t), RG_MATCH_CERT_SUBJECT);
	assert_int_equal(t, 4);
	assert_int_equal(q(a, NULL, NULL, NULL, "Relay.Fabrikam.com", &t), RG_MATCH_CERT_SUBJECT);
	assert_int_equal(t, 2);
	/* Label boundaries: never the domain itself, never a longer label. */
	assert_int_equal(q(a, NULL, NULL, NULL, "mail.contoso.com", &t), RG_MATCH_NONE);
	assert_int_equal(q(a, NULL, NULL, NULL, "evilmail.contoso.com", &t), RG_MATCH_NONE);
	assert_int_equal(q(a, NULL, NULL, NULL, "x.relay.fabrikam.com", &t), RG_MATCH_NONE);
	assert_int_equal(q(a, NULL, NULL, NULL, "mx1.mail.contoso.com\n", &t), RG_MATCH_NONE);
	assert_int_equal(q(a, NULL, NULL, NULL, ".", &t), RG_MATCH_NONE);
	rg_tenant_auth_free(a);
}

static void test_fingerprints(void **state)
{
	struct rg_tenant_auth *a = fixture();
	uint32_t t;
	char lower[200];

	assert_int_equal(q(a, NULL, FP_A, NULL, NULL, &t), RG_MATCH_CERT_FINGERPRINT);
	assert_int_equal(t, 3);
	/* Case and colons ignored. */
	strcpy(lower, "6e1a0b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8");
	assert_int_equal(q(a, NULL, lower, NULL, NULL, &t), RG_MATCH_CERT_FINGERPRINT);
	assert_int_equal(q(a, NULL, NULL, "01:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:10:11:"
				     "12:13:14", NULL, &t), RG_MATCH_CERT_FINGERPRINT);
	assert_int_equal(t, 4);
	/* The certificate fingerprint is tried before the public key's. */
	assert_int_equal(q(a, NULL, FP_B, FP_A, NULL, &t), RG_MATCH_CERT_FINGERPRINT);
	assert_int_equal(t, 4);
	/* Odd digits, non-hex, a prefix of a known one. */
	assert_int_equal(q(a, NULL, "6E:1A:0", NULL, NULL, &t), RG_MATCH_NONE);
	assert_int_equal(q(a, NULL, "zz02030405060708090a0b0c0d0e0f1011121314", NULL, NULL, &t), RG_MATCH_NONE);
	lower[62] = '\0';
	assert_int_equal(q(a, NULL, lower, NULL, NULL, &t), RG_MATCH_NONE);
	rg_tenant_auth_free(a);
}

static void test_order(void **state)
{
	struct rg_tenant_auth *a = fixture();
	uint32_t t;

	/* SASL first, then fingerprints, then the subject. */
	assert_int_equal(q(a, "scanner01", FP_A, NULL, "mx.mail.contoso.com", &t), RG_MATCH_SASL);
	assert_int_equal(t, 2);
	assert_int_equal(q(a, "nobody", FP_A, NULL, "mx.mail.contoso.com", &t),
			 RG_MATCH_CERT_FINGERPRINT);
	assert_int_equal(t, 3);
	assert_int_equal(q(a, "nobody", "00", NULL, "mx.mail.contoso.com", &t),
			 RG_MATCH_CERT_SUBJECT);
	assert_int_equal(t, 1);
	assert_int_equal(q(a, "", "", "", "", &t), RG_MATCH_NONE);
	assert_int_equal(q(a, NULL, NULL, NULL, NULL, &t), RG_MATCH_NONE);
	rg_tenant_auth_free(a);
}

static void test_entries(void **state)
{
	struct rg_tenant_auth *a = fixture();
	static const char *const bad_sasl[] = { "@", "@bad_domain!", "a\tb", "" };
	static const char *const bad_subj[] = { "*.", "*", "a*.b", "*.bad..x", "x\x01" };
	static const char *const bad_fp[] = { "6E:1A", "0g02030405060708090a0b0c0d0e0f1011121314",
					       FP_B "0", FP_B "01",
					      "::" };
	const char *why;
	uint32_t other = 0;

	assert_int_equal(rg_tenant_auth_count(a, RG_AUTH_SASL_USERS), 3);
	assert_int_equal(rg_tenant_auth_count(a, RG_AUTH_CERT_SUBJECTS), 3);
	assert_int_equal(rg_tenant_auth_count(a, RG_AUTH_CERT_FINGERPRINTS), 2);
	/* Again for the same tenant: 0, nothing added. */
	assert_int_equal(rg_tenant_auth_add(a, RG_AUTH_SASL_USERS, "@CONTOSO.com", 12, 1, &other,
					    &why), 0);
	assert_int_equal(rg_tenant_auth_count(a, RG_AUTH_SASL_USERS), 3);
	/* Another tenant: -EEXIST naming the owner, also in another spelling. */
	assert_int_equal(rg_tenant_auth_add(a, RG_AUTH_SASL_USERS, "@Contoso.com", 12, 7, &other,
					    &why), -EEXIST);
	assert_int_equal(other, 1);
	assert_int_equal(rg_tenant_auth_add(a, RG_AUTH_CERT_FINGERPRINTS, "6e1a0b2c3d4e5f607182"
					    "93a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8", 64, 7,
					    &other, &why), -EEXIST);
	assert_int_equal(other, 3);
	assert_int_equal(rg_tenant_auth_add(a, RG_AUTH_CERT_SUBJECTS, "RELAY.fabrikam.com", 18, 7,
					    &other, &why), -EEXIST);
	assert_int_equal(other, 2);
	for (size_t i = 0; i < sizeof(bad_sasl) / sizeof(bad_sasl[0]); i++) {
		why = NULL;
		assert_int_equal(rg_tenant_auth_add(a, RG_AUTH_SASL_USERS, bad_sasl[i],
						    strlen(bad_sasl[i]), 7, &other, &why), -EINVAL);
		assert_non_null(why);
	}
	for (size_t i = 0; i < sizeof(bad_subj) / sizeof(bad_subj[0]); i++)
		assert_int_equal(rg_tenant_auth_add(a, RG_AUTH_CERT_SUBJECTS, bad_subj[i],
						    strlen(bad_subj[i]), 7, &other, &why), -EINVAL);
	for (size_t i = 0; i < sizeof(bad_fp) / sizeof(bad_fp[0]); i++)
		assert_int_equal(rg_tenant_auth_add(a, RG_AUTH_CERT_FINGERPRINTS, bad_fp[i],
						    strlen(bad_fp[i]), 7, &other, &why), -EINVAL);
	assert_string_equal(rg_auth_key_name(RG_AUTH_CERT_SUBJECTS), "cert_subjects");
	assert_null(rg_auth_key_name(RG_AUTH__KEYS));
	rg_tenant_auth_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sasl),
		cmocka_unit_test(test_subjects),
		cmocka_unit_test(test_fingerprints),
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_entries),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
