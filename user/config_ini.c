// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * config_ini.c: the line reader of relayguard.conf (config_ini.h). Takes a file's bytes;
 * reports sections, key = value pairs and syntax errors one physical line at a time, so
 * every message can name its line. Each line is cleaned and split exactly once here.
 * Operator text in reasons goes through rg_printable().
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "config_ini.h"

static bool is_ws(char c)
{
	return c == ' ' || c == '\t';
}

void rg_ini_init(struct rg_ini *r, char *buf, size_t len)
{
	r->buf = buf;
	r->len = len;
	r->pos = 0;
	r->line = 0;
}

char *rg_ini_token(char **cursor, size_t *len)
{
	char *p = *cursor, *start;

	while (is_ws(*p))
		p++;
	if (!*p)
		return NULL;
	start = p;
	while (*p && !is_ws(*p))
		p++;
	*len = (size_t)(p - start);
	*cursor = p;
	return start;
}

char *rg_ini_take_line(struct rg_ini *r, size_t *len)
{
	char *line, *nl;
	size_t n;

	if (r->pos >= r->len)
		return NULL;
	line = r->buf + r->pos;
	nl = memchr(line, '\n', r->len - r->pos);
	n = nl ? (size_t)(nl - line) : r->len - r->pos;
	r->pos += n + (nl ? 1 : 0);
	line[n] = '\0';
	r->line++;
	if (r->line == 1 && n >= 3 && !memcmp(line, "\xef\xbb\xbf", 3)) {
		line += 3;
		n -= 3;
	}
	if (n && line[n - 1] == '\r')
		line[--n] = '\0';
	*len = n;
	return line;
}

static bool utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned c = s[i], need, min;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			need = 1, min = 0x80, cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			need = 2, min = 0x800, cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			need = 3, min = 0x10000, cp = c & 0x07;
		} else {
			return false;
		}
		if (n - i <= need)
			return false;
		for (unsigned k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += need + 1;
	}
	return true;
}

/* Cut a comment: '#' or ';' at the start, or preceded by a space or tab. */
static size_t strip_comment(char *line, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if ((line[i] == '#' || line[i] == ';') && (i == 0 || is_ws(line[i - 1]))) {
			line[i] = '\0';
			return i;
		}
	}
	return n;
}

static char *trim(char *s, size_t *n)
{
	size_t len = *n;

	while (len && is_ws(*s))
		s++, len--;
	while (len && is_ws(s[len - 1]))
		len--;
	s[len] = '\0';
	*n = len;
	return s;
}

bool rg_ini_name_valid(const char *s, size_t n)
{
	if (!n)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return false;
	}
	return true;
}

__attribute__((format(printf, 3, 4)))
static int fail(struct rg_ini_item *it, bool in_header, const char *fmt, ...)
{
	va_list ap;

	it->kind = RG_INI_ERROR;
	it->in_header = in_header;
	va_start(ap, fmt);
	vsnprintf(it->why, sizeof(it->why), fmt, ap);
	va_end(ap);
	return 1;
}

int rg_ini_next(struct rg_ini *r, struct rg_ini_item *it)
{
	char p[RG_PRINTABLE_MAX + 4];
	size_t n, klen, vlen;
	char *line, *eq;

	for (;;) {
		line = rg_ini_take_line(r, &n);
		if (!line)
			return 0;
		if (memchr(line, '\0', n))
			return fail(it, false, "NUL byte in line");
		n = strip_comment(line, n);
		line = trim(line, &n);
		if (n)
			break;
	}
	if (!utf8_valid((const unsigned char *)line, n))
		return fail(it, line[0] == '[', "invalid UTF-8");
	if (line[0] == '[') {
		if (line[n - 1] != ']')
			return fail(it, true, "bad section header '%s': expected [NAME]",
				    rg_printable(line, n, p));
		line[--n] = '\0';
		n--;
		it->kind = RG_INI_SECTION;
		it->section = trim(line + 1, &n);
		return 1;
	}
	eq = strchr(line, '=');
	if (!eq)
		return fail(it, false, "expected 'key = value' or '[section]', got '%s'",
			    rg_printable(line, n, p));
	klen = (size_t)(eq - line);
	it->key = trim(line, &klen);
	vlen = n - (size_t)(eq + 1 - line);
	it->value = trim(eq + 1, &vlen);
	if (!rg_ini_name_valid(it->key, klen))
		return fail(it, false, "bad key '%s'", rg_printable(it->key, klen, p));
	it->kind = RG_INI_KEY;
	return 1;
}
