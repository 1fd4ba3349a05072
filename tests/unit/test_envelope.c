// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * test_envelope.c: user/envelope.c against golden files (Postfix smtpd_token style).
 *
 * tests/unit/envelope/sender.in feeds rg_envelope_from_sender(), mail_cmd.in feeds
 * rg_envelope_from_mail_cmd(): one case per line, escapes documented at the top of each .in.
 * Each case renders as one line, "OK <domain>", "NULL" or "INVALID <reason>", compared line
 * by line with the matching .ref, which was written by hand from the rules in envelope.c's
 * header and RFC 5321. A mismatch prints the .in line number, the input, the expected and
 * the actual line, and fails. Paths are relative to the repository root (the runner's cwd).
 *
 * RG_GOLDEN_UPDATE=1 rewrites the .ref files from the current output instead of comparing;
 * review the diff by hand before committing it.
 *
 * Each input is passed in a buffer of exactly its length (no NUL after it), so an overread
 * shows under SANITIZE=1. Every result is also checked for its invariants, and every
 * sender case that parses is checked to give the same answer as "MAIL FROM:<sender>".
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

#include "envelope.h"

#define GOLDEN_DIR "tests/unit/envelope/"

typedef void (*parse_fn)(const char *s, size_t len, struct rg_envelope *out);

struct gcase {
	unsigned lineno;	/* in the .in file */
	char *text;		/* the .in line as written */
	char *data;		/* decoded, exactly len bytes */
	size_t len;
};

struct buf {
	char *p;
	size_t len, cap;
};

static void put(struct buf *b, const char *s, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;

		while (cap < b->len + n)
			cap *= 2;
		b->p = realloc(b->p, cap);
		assert_non_null(b->p);
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode one .in line; a syntax error in the file fails the test with its line number. */
static void decode(const char *path, unsigned lineno, const char *s, struct buf *b)
{
	b->len = 0;
	for (size_t i = 0; s[i];) {
		char c = s[i];

		if (c == '\\') {
			char e = s[i + 1], v;
			int h, l;

			switch (e) {
			case '0': v = '\0'; break;
			case 'r': v = '\r'; break;
			case 'n': v = '\n'; break;
			case 't': v = '\t'; break;
			case '\\': v = '\\'; break;
			case '{': v = '{'; break;
			case 'x':
				h = hexval(s[i + 2]);
				l = h < 0 ? -1 : hexval(s[i + 3]);
				if (h < 0 || l < 0)
					fail_msg("%s:%u: bad \\x escape", path, lineno);
				v = (char)(h << 4 | l);
				put(b, &v, 1);
				i += 4;
				continue;
			default:
				fail_msg("%s:%u: unknown escape \\%c", path, lineno, e ? e : '0');
			}
			put(b, &v, 1);
			i += 2;
		} else if (c == '{') {
			const char *star = strchr(s + i, '*');
			const char *close = star ? strchr(star, '}') : NULL;
			char *end;
			unsigned long n;

			if (!star || !close)
				fail_msg("%s:%u: unterminated {TEXT*N}", path, lineno);
			n = strtoul(star + 1, &end, 10);
			if (end != close || end == star + 1 || n > 1000000)
				fail_msg("%s:%u: bad repeat count", path, lineno);
			for (unsigned long k = 0; k < n; k++)
				put(b, s + i + 1, (size_t)(star - (s + i + 1)));
			i = (size_t)(close - s) + 1;
		} else {
			put(b, &c, 1);
			i++;
		}
	}
}

static size_t load_cases(const char *path, struct gcase **out)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0, n = 0, alloc = 0;
	unsigned lineno = 0;
	struct gcase *cases = NULL;
	struct buf b = { 0 };
	ssize_t r;

	if (!f)
		fail_msg("%s: %s (tests run from the repository root)", path, strerror(errno));
	while ((r = getline(&line, &cap, f)) >= 0) {
		lineno++;
		if (r && line[r - 1] == '\n')
			line[--r] = '\0';
		if (r == 0 || line[0] == '#')
			continue;
		if (n == alloc) {
			alloc = alloc ? alloc * 2 : 64;
			cases = realloc(cases, alloc * sizeof(*cases));
			assert_non_null(cases);
		}
		decode(path, lineno, line, &b);
		cases[n].lineno = lineno;
		cases[n].text = strdup(line);
		cases[n].len = b.len;
		cases[n].data = malloc(b.len ? b.len : 1);
		assert_non_null(cases[n].text);
		assert_non_null(cases[n].data);
		if (b.len)
			memcpy(cases[n].data, b.p, b.len);
		n++;
	}
	free(line);
	free(b.p);
	fclose(f);
	*out = cases;
	return n;
}

static void free_cases(struct gcase *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(c[i].text);
		free(c[i].data);
	}
	free(c);
}

/* The invariants every result keeps, whatever the input. */
static void check_result(const char *path, const struct gcase *c, const struct rg_envelope *e)
{
	switch (e->status) {
	case RG_ENV_OK: {
		char again[RG_DOMAIN_MAX + 1];

		if (e->reason || e->domain_len == 0 || e->domain_len > RG_DOMAIN_MAX ||
		    strlen(e->domain) != e->domain_len)
			fail_msg("%s:%u: OK result with bad fields", path, c->lineno);
		/* the domain is already normal: normalising again changes nothing */
		if (rg_domain_normalize(e->domain, e->domain_len, again) != (int)e->domain_len ||
		    strcmp(again, e->domain))
			fail_msg("%s:%u: domain \"%s\" is not normalised", path, c->lineno,
				 e->domain);
		break;
	}
	case RG_ENV_NULL:
		if (e->domain_len || e->domain[0])
			fail_msg("%s:%u: NULL result with a domain", path, c->lineno);
		break;
	case RG_ENV_INVALID:
		if (!e->reason || !e->reason[0] || e->domain_len || e->domain[0])
			fail_msg("%s:%u: INVALID result with bad fields", path, c->lineno);
		break;
	default:
		fail_msg("%s:%u: status %d", path, c->lineno, (int)e->status);
	}
}

static void render(const struct rg_envelope *e, char *out, size_t size)
{
	switch (e->status) {
	case RG_ENV_OK:
		snprintf(out, size, "OK %s", e->domain);
		break;
	case RG_ENV_NULL:
		snprintf(out, size, "NULL");
		break;
	default:
		snprintf(out, size, "INVALID %s", e->reason ? e->reason : "(no reason)");
		break;
	}
}

static void run_golden(const char *name, parse_fn fn)
{
	char inpath[256], refpath[256];
	struct gcase *cases;
	size_t n, nref = 0, bad = 0;
	char **got;
	bool update = getenv("RG_GOLDEN_UPDATE") && !strcmp(getenv("RG_GOLDEN_UPDATE"), "1");

	snprintf(inpath, sizeof(inpath), GOLDEN_DIR "%s.in", name);
	snprintf(refpath, sizeof(refpath), GOLDEN_DIR "%s.ref", name);
	n = load_cases(inpath, &cases);
	assert_true(n > 0);
	got = calloc(n, sizeof(*got));
	assert_non_null(got);
	for (size_t i = 0; i < n; i++) {
		struct rg_envelope e;
		char line[RG_DOMAIN_MAX + 64];

		memset(&e, 0xa5, sizeof(e));	/* the parser must set every field */
		fn(cases[i].data, cases[i].len, &e);
		check_result(inpath, &cases[i], &e);
		render(&e, line, sizeof(line));
		got[i] = strdup(line);
		assert_non_null(got[i]);
	}

	if (update) {
		FILE *f = fopen(refpath, "w");

		if (!f)
			fail_msg("%s: %s", refpath, strerror(errno));
		for (size_t i = 0; i < n; i++)
			fprintf(f, "%s\n", got[i]);
		assert_int_equal(fclose(f), 0);
		print_message("# RG_GOLDEN_UPDATE=1: rewrote %s (%zu cases)\n", refpath, n);
	} else {
		FILE *f = fopen(refpath, "r");
		char *line = NULL;
		size_t cap = 0;
		ssize_t r;

		if (!f)
			fail_msg("%s: %s", refpath, strerror(errno));
		while ((r = getline(&line, &cap, f)) >= 0) {
			if (r && line[r - 1] == '\n')
				line[--r] = '\0';
			if (nref < n && strcmp(line, got[nref])) {
				print_message("# %s:%u: input    %.200s\n"
					      "#   expected %s (%s line %zu)\n#   got      %s\n",
					      inpath, cases[nref].lineno, cases[nref].text, line,
					      refpath, nref + 1, got[nref]);
				bad++;
			}
			nref++;
		}
		free(line);
		fclose(f);
		if (nref != n) {
			print_message("# %s has %zu lines for %zu cases in %s\n", refpath, nref, n,
				      inpath);
			bad++;
		}
	}
	for (size_t i = 0; i < n; i++)
		free(got[i]);
	free(got);
	free_cases(cases, n);
	if (bad)
		fail_msg("%zu mismatches against %s", bad, refpath);
}

static void test_sender_golden(void **state)
{
	run_golden("sender", rg_envelope_from_sender);
}

static void test_mail_cmd_golden(void **state)
{
	run_golden("mail_cmd", rg_envelope_from_mail_cmd);
}

/* Every sender attribute that parses means the same as the MAIL FROM line carrying it. */
static void test_sender_matches_mail_cmd(void **state)
{
	struct gcase *cases;
	size_t n = load_cases(GOLDEN_DIR "sender.in", &cases), compared = 0;

	for (size_t i = 0; i < n; i++) {
		struct rg_envelope a, b;
		char line[600];

		rg_envelope_from_sender(cases[i].data, cases[i].len, &a);
		if (a.status == RG_ENV_INVALID || (cases[i].len && cases[i].data[0] == '<'))
			continue;
		assert_true(cases[i].len + 12 < sizeof(line));
		memcpy(line, "MAIL FROM:<", 11);
		memcpy(line + 11, cases[i].data, cases[i].len);
		line[11 + cases[i].len] = '>';
		rg_envelope_from_mail_cmd(line, cases[i].len + 12, &b);
		if (a.status != b.status || strcmp(a.domain, b.domain))
			fail_msg("sender.in:%u: %s: sender gives %d %s, MAIL FROM gives %d %s",
				 cases[i].lineno, cases[i].text, a.status, a.domain, b.status,
				 b.status == RG_ENV_INVALID ? b.reason : b.domain);
		compared++;
	}
	assert_true(compared > 20);
	free_cases(cases, n);
}

static void test_null_pointers(void **state)
{
	struct rg_envelope e;

	memset(&e, 0xa5, sizeof(e));
	rg_envelope_from_sender(NULL, 0, &e);
	assert_int_equal(e.status, RG_ENV_NULL);
	assert_int_equal(e.domain_len, 0);
	memset(&e, 0xa5, sizeof(e));
	rg_envelope_from_sender(NULL, 10, &e);
	assert_int_equal(e.status, RG_ENV_NULL);
	memset(&e, 0xa5, sizeof(e));
	rg_envelope_from_mail_cmd(NULL, 10, &e);
	assert_int_equal(e.status, RG_ENV_INVALID);
	assert_non_null(e.reason);
	assert_int_equal(e.domain_len, 0);

	/* len is honoured: the bytes after it are not part of the address */
	rg_envelope_from_sender("user@contoso.comX", 16, &e);
	assert_int_equal(e.status, RG_ENV_OK);
	assert_string_equal(e.domain, "contoso.com");
	rg_envelope_from_mail_cmd("MAIL FROM:<>junk", 12, &e);
	assert_int_equal(e.status, RG_ENV_NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sender_golden),
		cmocka_unit_test(test_mail_cmd_golden),
		cmocka_unit_test(test_sender_matches_mail_cmd),
		cmocka_unit_test(test_null_pointers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
