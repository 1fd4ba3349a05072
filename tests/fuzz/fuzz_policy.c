// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * fuzz_policy.c: the Postfix policy protocol reader (user/policy_proto.h) on arbitrary
 * bytes. The input is the byte stream Postfix (or an attacker on the socket) sends; it is
 * fed three ways: whole, in chunk sizes drawn from a hash of the input, and in small chunks
 * to a parser with tiny limits. Checked: every request is well formed (names non-empty,
 * no NUL, '=' or LF inside, "request=smtpd_access_policy" present, known[] agrees with the
 * attribute list, size equals the bytes consumed for it), an error is sticky and has a
 * reason, and the whole feed and the chunked feed give the same requests and outcome.
 * Each request's sasl_username and ccert_* values also go through the tenant attribution
 * index (user/tenant_auth.h) of a few fixed tenants: a match names one of them, the same
 * each time, and text with a control byte never matches.
 */
#include <errno.h>
#include <string.h>

#include "fuzz_common.h"
#include "policy_proto.h"
#include "tenant_auth.h"

static struct rg_tenant_auth *auth;

static void auth_init(void)
{
	static const struct { enum rg_auth_key k; const char *e; } keys[] = {
		{ RG_AUTH_SASL_USERS, "@contoso.com" }, { RG_AUTH_SASL_USERS, "scanner01" },
		{ RG_AUTH_CERT_SUBJECTS, "*.mail.contoso.com" },
		{ RG_AUTH_CERT_SUBJECTS, "relay.fabrikam.com" },
		{ RG_AUTH_CERT_FINGERPRINTS, "6E:1A:0B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8" },
	};
	const char *why;
	uint32_t other;

	auth = rg_tenant_auth_new();
	FUZZ_CHECK(auth);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		FUZZ_CHECK(rg_tenant_auth_add(auth, keys[i].k, keys[i].e, strlen(keys[i].e),
					      (uint32_t)i, &other, &why) == 1);
}

static bool has_control(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return true;
	return false;
}

static void check_attribution(const struct rg_policy_req *req)
{
	const struct rg_auth_query q = {
		req->known[RG_PA_SASL_USERNAME], req->known_len[RG_PA_SASL_USERNAME],
		req->known[RG_PA_CCERT_FINGERPRINT], req->known_len[RG_PA_CCERT_FINGERPRINT],
		req->known[RG_PA_CCERT_PUBKEY_FINGERPRINT],
		req->known_len[RG_PA_CCERT_PUBKEY_FINGERPRINT],
		req->known[RG_PA_CCERT_SUBJECT], req->known_len[RG_PA_CCERT_SUBJECT],
	};
	uint32_t t1 = 99, t2 = 98;
	enum rg_match m;

	if (!auth)
		auth_init();
	m = rg_tenant_auth_match(auth, &q, &t1);
	FUZZ_CHECK(rg_tenant_auth_match(auth, &q, &t2) == m);
	if (m == RG_MATCH_NONE)
		return;
	FUZZ_CHECK(t1 == t2 && t1 < 5);
	if (m == RG_MATCH_SASL)
		FUZZ_CHECK(!has_control(q.sasl_username, q.sasl_len));
	if (m == RG_MATCH_CERT_SUBJECT)
		FUZZ_CHECK(!has_control(q.ccert_subject, q.subject_len));
}

/* What one feed produced: requests serialised as "name=value\n...\n" plus the outcome. */
struct outcome {
	char *text;
	size_t len, cap;
	int err;		/* 0, or the first negative feed result */
	size_t n_req;
};

static void out_add(struct outcome *o, const char *s, size_t n)
{
	if (o->len + n > o->cap) {
		size_t cap = (o->len + n) * 2;
		char *p = realloc(o->text, cap);

		FUZZ_CHECK(p);
		o->text = p;
		o->cap = cap;
	}
	memcpy(o->text + o->len, s, n);
	o->len += n;
}

static void check_request(const struct rg_policy_req *req, size_t wire, struct outcome *o)
{
	FUZZ_CHECK(req->n_attrs > 0);
	FUZZ_CHECK(req->size == wire);
	for (size_t i = 0; i < req->n_attrs; i++) {
		const struct rg_policy_attr *a = &req->attrs[i];

		FUZZ_CHECK(a->name_len > 0);
		FUZZ_CHECK(strlen(a->name) == a->name_len);
		FUZZ_CHECK(strlen(a->value) == a->value_len);
		FUZZ_CHECK(!memchr(a->name, '=', a->name_len));
		FUZZ_CHECK(!memchr(a->name, '\n', a->name_len));
		FUZZ_CHECK(!memchr(a->value, '\n', a->value_len));
		/* Every byte of the line is on the wire: name '=' value LF at least. */
		FUZZ_CHECK(a->name_len + a->value_len + 2 <= wire);
		int id = rg_policy_attr_lookup(a->name, a->name_len);

		if (id >= 0) {
			FUZZ_CHECK(req->known[id] == a->value);
			FUZZ_CHECK(req->known_len[id] == a->value_len);
		}
		const char *v = rg_policy_req_find(req, a->name);

		FUZZ_CHECK(v && strlen(v) <= wire);
		out_add(o, a->name, a->name_len);
		out_add(o, "=", 1);
		out_add(o, a->value, a->value_len);
		out_add(o, "\n", 1);
	}
	for (int id = 0; id < RG_PA__COUNT; id++) {
		const char *name = rg_policy_attr_name((enum rg_policy_attr_id)id);

		FUZZ_CHECK(name && rg_policy_attr_lookup(name, strlen(name)) == id);
		if (req->known[id]) {
			FUZZ_CHECK(strlen(req->known[id]) == req->known_len[id]);
			FUZZ_CHECK(rg_policy_req_find(req, name) == req->known[id]);
		}
	}
	FUZZ_CHECK(req->known[RG_PA_REQUEST]);
	FUZZ_CHECK(!strcmp(req->known[RG_PA_REQUEST], "smtpd_access_policy"));
	check_attribution(req);
	out_add(o, "\n", 1);
	o->n_req++;
}

/* Feed data in chunks (chunk 0: all at once; else sizes from seed), stop at the first error. */
static void run(const struct rg_policy_limits *lim, const uint8_t *data, size_t size,
		uint64_t seed, size_t max_chunk, struct outcome *o)
{
	struct rg_policy_parser *p = rg_policy_parser_new(lim);
	size_t off = 0, wire = 0;

	FUZZ_CHECK(p);
	memset(o, 0, sizeof(*o));
	while (off < size) {
		size_t chunk = size - off, used = 0;

		if (max_chunk) {
			seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
			size_t c = (size_t)(seed >> 33) % max_chunk + 1;

			if (c < chunk)
				chunk = c;
		}
		int rc = rg_policy_parser_feed(p, (const char *)data + off, chunk, &used);

		if (rc < 0) {
			const char *detail = NULL;
			size_t dlen = 999;
			const char *why = rg_policy_parser_error(p, &detail, &dlen);

			FUZZ_CHECK(rc == -EBADMSG || rc == -EMSGSIZE);
			FUZZ_CHECK(why && *why);
			FUZZ_CHECK(dlen <= 100);
			FUZZ_CHECK(dlen == 0 || detail);
			FUZZ_CHECK(!rg_policy_parser_request(p));
			/* Sticky until reset. */
			used = 0;
			FUZZ_CHECK(rg_policy_parser_feed(p, "x", 1, &used) < 0);
			o->err = rc;
			break;
		}
		FUZZ_CHECK(used <= chunk);
		wire += used;
		off += used;
		if (rc == 1) {
			const struct rg_policy_req *req = rg_policy_parser_request(p);

			FUZZ_CHECK(req);
			FUZZ_CHECK(rg_policy_parser_pending(p) == 0);
			check_request(req, wire, o);
			wire = 0;
		} else {
			FUZZ_CHECK(rc == 0);
			FUZZ_CHECK(used == chunk);
			FUZZ_CHECK(rg_policy_parser_pending(p) == wire);
		}
	}
	/* A reset parser takes a fresh, well-formed request. */
	static const char ok[] = "request=smtpd_access_policy\nsender=a@b.example\n\n";
	size_t used = 0;

	rg_policy_parser_reset(p);
	FUZZ_CHECK(rg_policy_parser_pending(p) == 0);
	FUZZ_CHECK(rg_policy_parser_feed(p, ok, sizeof(ok) - 1, &used) == 1);
	FUZZ_CHECK(used == sizeof(ok) - 1);
	rg_policy_parser_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct rg_policy_limits tiny = { .max_request = 200, .max_line = 40,
						      .max_attrs = 6 };
	struct outcome whole, split, small;
	uint64_t seed = 14695981039346656037ULL;

	for (size_t i = 0; i < size; i++)
		seed = (seed ^ data[i]) * 1099511628211ULL;

	run(NULL, data, size, 0, 0, &whole);
	run(NULL, data, size, seed, (seed & 1) ? 7 : 300, &split);
	/* The parser's answer must not depend on how the bytes were split. */
	FUZZ_CHECK(whole.err == split.err);
	FUZZ_CHECK(whole.n_req == split.n_req);
	FUZZ_CHECK(whole.len == split.len);
	FUZZ_CHECK(!whole.len || !memcmp(whole.text, split.text, whole.len));
	run(&tiny, data, size, seed, 3, &small);
	FUZZ_CHECK(small.n_req <= whole.n_req || whole.err);
	free(whole.text);
	free(split.text);
	free(small.text);
	return 0;
}
