// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * test_policy_proto.c: the policy request parser against well-formed requests (any order,
 * unknown attributes, pipelining, every split point, CRLF) and hostile ones (missing
 * terminator, NUL, no '=', empty name, 10,000 attributes, overlong line and request,
 * repeats, wrong request type). Reports cmocka TAP.
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

#include "policy_proto.h"

#define REQ_A                                                                              \
	"request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"          \
	"client_address=192.0.2.10\nclient_name=mx.contoso.com\nhelo_name=mx\n"            \
	"sender=alice@contoso.com\nrecipient=bob@example.org\nrecipient_count=0\n"         \
	"queue_id=\ninstance=123.abc.1\nsize=0\nsasl_username=\nx_future=1\n\n"
#define REQ_B                                                                              \
	"sender=spam@unregistered.example\nclient_address=2001:db8:10::5\n"                \
	"instance=77.def.2\nrequest=smtpd_access_policy\nprotocol_state=MAIL\n\n"

#define REQ_MIN "request=smtpd_access_policy\n\n"

/* Feed everything; collect up to max senders (or "-") of complete requests. */
static int feed_all(struct rg_policy_parser *p, const char *data, size_t len, char out[][64],
		    int max, int *err)
{
	int n = 0;
	size_t off = 0;

	*err = 0;
	while (off < len) {
		size_t used;
		int r = rg_policy_parser_feed(p, data + off, len - off, &used);

		off += used;
		if (r < 0) {
			*err = r;
			return n;
		}
		if (r == 1 && n < max) {
			const struct rg_policy_req *req = rg_policy_parser_request(p);
			const char *s = req->known[RG_PA_SENDER];

			assert_non_null(req);
			snprintf(out[n++], 64, "%s", s ? s : "-");
		}
		if (r == 0)
			assert_int_equal(used, len - (off - used));
	}
	return n;
}

static void test_any_order_unknown_ignored(void **state)
{
	struct rg_policy_parser *p = rg_policy_parser_new(NULL);
	const char *a = REQ_B;
	size_t used;
	const struct rg_policy_req *r;

	assert_int_equal(rg_policy_parser_feed(p, a, strlen(a), &used), 1);
	assert_int_equal(used, strlen(a));
	r = rg_policy_parser_request(p);
	assert_non_null(r);
	assert_int_equal(r->n_attrs, 5);
	assert_string_equal(r->known[RG_PA_SENDER], "spam@unregistered.example");
	assert_int_equal(r->known_len[RG_PA_SENDER], strlen("spam@unregistered.example"));
	assert_string_equal(r->known[RG_PA_CLIENT_ADDRESS], "2001:db8:10::5");
	assert_string_equal(r->known[RG_PA_REQUEST], "smtpd_access_policy");
	assert_string_equal(r->known[RG_PA_PROTOCOL_STATE], "MAIL");
	assert_null(r->known[RG_PA_RECIPIENT]);
	assert_int_equal(r->size, strlen(a));
	assert_int_equal(rg_policy_parser_pending(p), 0);

	a = REQ_A;
	assert_int_equal(rg_policy_parser_feed(p, a, strlen(a), &used), 1);
	r = rg_policy_parser_request(p);
	assert_string_equal(r->known[RG_PA_QUEUE_ID], "");
	assert_int_equal(r->known_len[RG_PA_QUEUE_ID], 0);
	assert_string_equal(rg_policy_req_find(r, "x_future"), "1");
	assert_string_equal(rg_policy_req_find(r, "instance"), "123.abc.1");
	assert_null(rg_policy_req_find(r, "nope"));
	rg_policy_parser_free(p);
}

static void test_lookup(void **state)
{
	assert_int_equal(rg_policy_attr_lookup("sender", 6), RG_PA_SENDER);
	assert_int_equal(rg_policy_attr_lookup("senderx", 6), RG_PA_SENDER);
	assert_int_equal(rg_policy_attr_lookup("Sender", 6), -1);
	assert_int_equal(rg_policy_attr_lookup("sende", 5), -1);
	assert_int_equal(rg_policy_attr_lookup("instance", 8), RG_PA_INSTANCE);
	assert_string_equal(rg_policy_attr_name(RG_PA_CLIENT_ADDRESS), "client_address");
	assert_null(rg_policy_attr_name(RG_PA__COUNT));
}

static void test_pipelined(void **state)
{
	const char *s = REQ_A REQ_B REQ_A;
	struct rg_policy_parser *p = rg_policy_parser_new(NULL);
	char out[4][64];
	int err;

	assert_int_equal(feed_all(p, s, strlen(s), out, 4, &err), 3);
	assert_int_equal(err, 0);
	assert_string_equal(out[0], "alice@contoso.com");
	assert_string_equal(out[1], "spam@unregistered.example");
	assert_string_equal(out[2], "alice@contoso.com");
	assert_int_equal(rg_policy_parser_pending(p), 0);
	rg_policy_parser_free(p);
}

static void test_every_split(void **state)
{
	const char *s = REQ_A REQ_B;
	size_t len = strlen(s), i, j;

	for (i = 0; i <= len; i++) {
		struct rg_policy_parser *p = rg_policy_parser_new(NULL);
		char out[4][64];
		int err, n;

		n = feed_all(p, s, i, out, 4, &err);
		assert_int_equal(err, 0);
		n += feed_all(p, s + i, len - i, out + n, 4 - n, &err);
		assert_int_equal(err, 0);
		assert_int_equal(n, 2);
		assert_string_equal(out[0], "alice@contoso.com");
		assert_string_equal(out[1], "spam@unregistered.example");
		rg_policy_parser_free(p);
	}

	/* Byte at a time. */
	{
		struct rg_policy_parser *p = rg_policy_parser_new(NULL);
		char out[4][64];
		int n = 0, err;

		for (j = 0; j < len; j++) {
			n += feed_all(p, s + j, 1, out + n, 4 - n, &err);
			assert_int_equal(err, 0);
			/* Mid-request, the parser says so (the server's deadline depends on it). */
			if (j + 1 < strlen(REQ_A))
				assert_int_equal(rg_policy_parser_pending(p), j + 1);
		}
		assert_int_equal(n, 2);
		assert_string_equal(out[1], "spam@unregistered.example");
		rg_policy_parser_free(p);
	}
}

static void test_crlf(void **state)
{
	const char *s = "request=smtpd_access_policy\r\nsender=a@b.example\r\n"
			"client_address=192.0.2.1\r\n\r\n";
	struct rg_policy_parser *p = rg_policy_parser_new(NULL);
	size_t used;
	const struct rg_policy_req *r;

	assert_int_equal(rg_policy_parser_feed(p, s, strlen(s), &used), 1);
	r = rg_policy_parser_request(p);
	assert_string_equal(r->known[RG_PA_SENDER], "a@b.example");
	assert_string_equal(r->known[RG_PA_CLIENT_ADDRESS], "192.0.2.1");
	assert_string_equal(r->known[RG_PA_REQUEST], "smtpd_access_policy");
	rg_policy_parser_free(p);
}

static void test_missing_terminator(void **state)
{
	const char *s = "request=smtpd_access_policy\nsender=a@b.example\n";
	struct rg_policy_parser *p = rg_policy_parser_new(NULL);
	size_t used;

	assert_int_equal(rg_policy_parser_feed(p, s, strlen(s), &used), 0);
	assert_int_equal(used, strlen(s));
	assert_null(rg_policy_parser_request(p));
	assert_int_equal(rg_policy_parser_pending(p), strlen(s));
	/* A last line without LF is pending too. */
	assert_int_equal(rg_policy_parser_feed(p, "size=1", 6, &used), 0);
	assert_int_equal(rg_policy_parser_pending(p), strlen(s) + 6);
	assert_null(rg_policy_parser_request(p));
	rg_policy_parser_free(p);
}

/* Feed s whole; expect error err with reason. */
static void expect_error(const struct rg_policy_limits *lim, const char *s, size_t len, int err,
			 const char *reason)
{
	struct rg_policy_parser *p = rg_policy_parser_new(lim);
	char out[4][64];
	int e, n;
	const char *detail;
	size_t dlen;

	n = feed_all(p, s, len, out, 4, &e);
	assert_int_equal(n, 0);
	assert_int_equal(e, err);
	assert_string_equal(rg_policy_parser_error(p, &detail, &dlen), reason);
	assert_true(dlen <= 100);
	/* Sticky until reset. */
	{
		size_t used;

		assert_int_equal(rg_policy_parser_feed(p, REQ_A, strlen(REQ_A), &used), err);
		assert_int_equal(used, 0);
		rg_policy_parser_reset(p);
		assert_int_equal(rg_policy_parser_feed(p, REQ_MIN, strlen(REQ_MIN), &used), 1);
	}
	rg_policy_parser_free(p);
}

static void test_nul(void **state)
{
	static const char s[] = "request=smtpd_access_policy\nsender=a\0b@c\n\n";

	expect_error(NULL, s, sizeof(s) - 1, -EBADMSG, "NUL byte");
	/* NUL in a name and alone. */
	expect_error(NULL, "\0", 1, -EBADMSG, "NUL byte");
	expect_error(NULL, "requ\0est=x\n", 11, -EBADMSG, "NUL byte");
}

static void test_malformed_lines(void **state)
{
	const char *s = "request=smtpd_access_policy\nsender a@b\n\n";

	expect_error(NULL, s, strlen(s), -EBADMSG, "line without '='");
	s = "request=smtpd_access_policy\n=value\n\n";
	expect_error(NULL, s, strlen(s), -EBADMSG, "empty attribute name");
	s = "\n";
	expect_error(NULL, s, strlen(s), -EBADMSG, "empty request");
	s = "\r\n";
	expect_error(NULL, s, strlen(s), -EBADMSG, "empty request");
	s = "request=smtpd_access_policy\nsender=a@b\nsender=c@d\n\n";
	expect_error(NULL, s, strlen(s), -EBADMSG, "repeated attribute");
	s = "sender=a@b\n\n";
	expect_error(NULL, s, strlen(s), -EBADMSG, "no request attribute");
	s = "request=junk\nsender=a@b\n\n";
	expect_error(NULL, s, strlen(s), -EBADMSG, "request is not smtpd_access_policy");
}

/* The attributes of a TLS and SASL session, as Postfix 3.7 sends them (SMTPD_POLICY_README):
 * each known by id; empty when the client did not authenticate that way; a repeat of any
 * of them refuses the request like any known attribute. */
static void test_auth_attributes(void **state)
{
	static const char tls[] =
		"request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=192.0.2.10\n"
		"sasl_method=PLAIN\nsasl_username=scanner01@contoso.com\nsasl_sender=\n"
		"ccert_subject=mx1.mail.contoso.com\nccert_issuer=Lab CA\n"
		"ccert_fingerprint=6E:1A:0B:2C\nccert_pubkey_fingerprint=AA:BB:CC:DD\n"
		"encryption_protocol=TLSv1.3\nencryption_cipher=TLS_AES_256_GCM_SHA384\n"
		"encryption_keysize=256\n\n";
	static const char plain[] =
		"request=smtpd_access_policy\nclient_address=192.0.2.10\nsasl_username=\n"
		"ccert_subject=\nccert_issuer=\nccert_fingerprint=\nccert_pubkey_fingerprint=\n\n";
	static const char *const repeats[] = {
		"request=smtpd_access_policy\nsasl_username=a\nsasl_username=b\n\n",
		"request=smtpd_access_policy\nccert_subject=a\nccert_subject=b\n\n",
		"request=smtpd_access_policy\nccert_fingerprint=\nccert_fingerprint=AA\n\n",
		("request=smtpd_access_policy\nccert_pubkey_fingerprint=A\n"
		 "ccert_pubkey_fingerprint=A\n\n"),
	};
	struct rg_policy_parser *p = rg_policy_parser_new(NULL);
	const struct rg_policy_req *r;
	size_t used;

	assert_int_equal(rg_policy_parser_feed(p, tls, sizeof(tls) - 1, &used), 1);
	r = rg_policy_parser_request(p);
	assert_string_equal(r->known[RG_PA_SASL_USERNAME], "scanner01@contoso.com");
	assert_string_equal(r->known[RG_PA_CCERT_SUBJECT], "mx1.mail.contoso.com");
	assert_string_equal(r->known[RG_PA_CCERT_ISSUER], "Lab CA");
	assert_string_equal(r->known[RG_PA_CCERT_FINGERPRINT], "6E:1A:0B:2C");
	assert_int_equal(r->known_len[RG_PA_CCERT_PUBKEY_FINGERPRINT], 11);
	assert_string_equal(r->known[RG_PA_SASL_SENDER], "");
	assert_int_equal(rg_policy_parser_feed(p, plain, sizeof(plain) - 1, &used), 1);
	r = rg_policy_parser_request(p);
	assert_int_equal(r->known_len[RG_PA_SASL_USERNAME], 0);
	assert_int_equal(r->known_len[RG_PA_CCERT_FINGERPRINT], 0);
	assert_non_null(r->known[RG_PA_CCERT_SUBJECT]);
	rg_policy_parser_free(p);
	for (size_t i = 0; i < sizeof(repeats) / sizeof(repeats[0]); i++)
		expect_error(NULL, repeats[i], strlen(repeats[i]), -EBADMSG, "repeated attribute");
}

static void test_repeated_unknown_ok(void **state)
{
	const char *s = "request=smtpd_access_policy\nfoo=1\nfoo=2\n\n";
	struct rg_policy_parser *p = rg_policy_parser_new(NULL);
	size_t used;

	assert_int_equal(rg_policy_parser_feed(p, s, strlen(s), &used), 1);
	assert_string_equal(rg_policy_req_find(rg_policy_parser_request(p), "foo"), "2");
	rg_policy_parser_free(p);
}

static char *many_attrs(size_t n, size_t *len)
{
	char *s = malloc(n * 24 + 64);
	size_t off = 0, i;

	assert_non_null(s);
	off += (size_t)sprintf(s, "request=smtpd_access_policy\n");
	for (i = 0; i < n; i++)
		off += (size_t)sprintf(s + off, "x%zu=%zu\n", i, i);
	off += (size_t)sprintf(s + off, "\n");
	*len = off;
	return s;
}

static void test_10000_attributes(void **state)
{
	size_t len;
	char *s = many_attrs(10000, &len);
	struct rg_policy_limits big = { .max_request = 1 << 20, .max_attrs = 20000 };
	struct rg_policy_limits attrs_only = { .max_request = 1 << 20 };
	struct rg_policy_parser *p;
	size_t used;

	/* Defaults: refused (by size or count, whichever comes first), never accepted. */
	{
		struct rg_policy_parser *q = rg_policy_parser_new(NULL);
		int r = rg_policy_parser_feed(q, s, len, &used);

		assert_int_equal(r, -EMSGSIZE);
		assert_null(rg_policy_parser_request(q));
		rg_policy_parser_free(q);
	}
	expect_error(&attrs_only, s, len, -EMSGSIZE, "too many attributes");

	/* With caps raised the parser copes and keeps every attribute. */
	p = rg_policy_parser_new(&big);
	assert_int_equal(rg_policy_parser_feed(p, s, len, &used), 1);
	assert_int_equal(rg_policy_parser_request(p)->n_attrs, 10001);
	assert_string_equal(rg_policy_req_find(rg_policy_parser_request(p), "x9999"), "9999");
	rg_policy_parser_free(p);
	free(s);
}

static void test_attr_cap_exact(void **state)
{
	struct rg_policy_limits lim = { .max_attrs = 4 };
	const char *ok = "request=smtpd_access_policy\na=1\nb=2\nc=3\n\n";
	const char *bad = "request=smtpd_access_policy\na=1\nb=2\nc=3\nd=4\n\n";
	struct rg_policy_parser *p = rg_policy_parser_new(&lim);
	size_t used;

	assert_int_equal(rg_policy_parser_feed(p, ok, strlen(ok), &used), 1);
	rg_policy_parser_free(p);
	expect_error(&lim, bad, strlen(bad), -EMSGSIZE, "too many attributes");
}

static void test_overlong_line(void **state)
{
	struct rg_policy_limits lim = { .max_line = 64 };
	char line[200], s[400];
	struct rg_policy_parser *p;
	size_t used;
	const char *detail;
	size_t dlen;

	/* Exactly max_line bytes is fine. */
	memset(line, 'a', sizeof(line));
	snprintf(s, sizeof(s), "request=smtpd_access_policy\nsender=%.*s\n\n", 64 - 7, line);
	p = rg_policy_parser_new(&lim);
	assert_int_equal(rg_policy_parser_feed(p, s, strlen(s), &used), 1);
	rg_policy_parser_free(p);

	snprintf(s, sizeof(s), "request=smtpd_access_policy\nsender=%.*s\n\n", 64 - 6, line);
	expect_error(&lim, s, strlen(s), -EMSGSIZE, "line too long");

	/* Default cap, line arriving in pieces with no LF at all. */
	p = rg_policy_parser_new(NULL);
	{
		char big[1024];
		int i, r = 0;

		memset(big, 'b', sizeof(big));
		for (i = 0; i < 10 && r == 0; i++)
			r = rg_policy_parser_feed(p, big, sizeof(big), &used);
		assert_int_equal(r, -EMSGSIZE);
		assert_true(i <= 5);
		assert_string_equal(rg_policy_parser_error(p, &detail, &dlen), "line too long");
		assert_int_equal(dlen, 100);
		assert_int_equal(detail[0], 'b');
	}
	rg_policy_parser_free(p);
}

static void test_overlong_request(void **state)
{
	struct rg_policy_limits lim = { .max_request = 256 };
	size_t len;
	char *s = many_attrs(40, &len);

	assert_true(len > 256);
	expect_error(&lim, s, len, -EMSGSIZE, "request too large");
	free(s);

	/* The cap counts the whole request: exactly max_request bytes pass. */
	{
		char buf[300];
		const char *head = "request=smtpd_access_policy\nsender=";
		size_t fill = 256 - strlen(head) - 2;
		struct rg_policy_parser *p = rg_policy_parser_new(&lim);
		size_t used;

		memset(buf, 0, sizeof(buf));
		strcpy(buf, head);
		memset(buf + strlen(head), 'x', fill);
		strcat(buf, "\n\n");
		assert_int_equal(strlen(buf), 256);
		assert_int_equal(rg_policy_parser_feed(p, buf, 256, &used), 1);
		rg_policy_parser_free(p);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_any_order_unknown_ignored),
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_every_split),
		cmocka_unit_test(test_crlf),
		cmocka_unit_test(test_missing_terminator),
		cmocka_unit_test(test_nul),
		cmocka_unit_test(test_malformed_lines),
		cmocka_unit_test(test_repeated_unknown_ok),
		cmocka_unit_test(test_auth_attributes),
		cmocka_unit_test(test_10000_attributes),
		cmocka_unit_test(test_attr_cap_exact),
		cmocka_unit_test(test_overlong_line),
		cmocka_unit_test(test_overlong_request),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
