// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * envelope.c: the envelope sender's domain, from Postfix's "sender" attribute or from an
 * SMTP "MAIL FROM:" line. Input is hostile: it is scanned once, in stages (line, path,
 * mailbox, local part, domain), each with RFC 5321 limits, and anything that does not
 * parse is RG_ENV_INVALID with a short static reason.
 *
 * Choices:
 * - The domain is what follows the last '@' outside a quoted string.
 * - Address literals (user@[192.0.2.1]) are INVALID "address literal": there is no name a
 *   tenant could have registered.
 * - MAIL FROM needs angle brackets (RFC 5321); "MAIL FROM:user@x" is INVALID "missing angle
 *   brackets". One space after the colon is tolerated, as Postfix tolerates it.
 * - Source routes (<@a,@b:user@domain>) are skipped; the mailbox's domain counts.
 * - UTF-8 local parts and domains (SMTPUTF8) are accepted; domains become A-labels.
 * - Control bytes (C0, DEL) are "bad character" anywhere in the address, quoted or not:
 *   RFC 5321 qtext and quoted-pair exclude them.
 * - Limits count as RFC 5321 does: the path with its brackets (so a bare sender attribute
 *   is at most 254 octets), the command line with its CRLF whether or not it was passed.
 */
#include <string.h>

#include "envelope.h"

#define LOCAL_MAX 64	/* RFC 5321 4.5.3.1.1 */
#define DOMAIN_MAX 255	/* 4.5.3.1.2 */
#define PATH_MAX_ 256	/* 4.5.3.1.3, with the brackets */
#define LINE_MAX_ 512	/* 4.5.3.1.4, with CRLF */

static void invalid(struct rg_envelope *out, const char *why)
{
	out->status = RG_ENV_INVALID;
	out->reason = why;
	out->domain_len = 0;
	out->domain[0] = '\0';
}

/* Parse a mailbox "local@domain" of len octets (no brackets). */
static void parse_mailbox(const char *s, size_t len, struct rg_envelope *out)
{
	bool quoted = false;
	size_t at = (size_t)-1;

	if (memchr(s, '\0', len))
		return invalid(out, "NUL byte");
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if ((unsigned char)c < 0x20 || c == 0x7f)
			return invalid(out, "bad character");
		if (quoted) {
			if (c == '\\') {
				if (++i == len)
					return invalid(out, "unbalanced quote");
			} else if (c == '"') {
				quoted = false;
			}
			continue;
		}
		if (c == '"')
			quoted = true;
		else if (c == '@')
			at = i;
		else if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '<' || c == '>')
			return invalid(out, "bad character");
	}
	if (quoted)
		return invalid(out, "unbalanced quote");
	if (at == (size_t)-1)
		return invalid(out, "no domain");
	if (at == 0)
		return invalid(out, "empty local part");
	if (at > LOCAL_MAX)
		return invalid(out, "local part over 64 octets");

	const char *dom = s + at + 1;
	size_t dlen = len - at - 1;
	if (dlen == 0)
		return invalid(out, "no domain");
	if (dlen > DOMAIN_MAX)
		return invalid(out, "domain over 255 octets");
	if (dom[0] == '[')
		return invalid(out, "address literal");
	int n = rg_domain_normalize(dom, dlen, out->domain);
	if (n < 0)
		return invalid(out, "bad domain");
	out->status = RG_ENV_OK;
	out->reason = NULL;
	out->domain_len = (size_t)n;
}

void rg_envelope_from_sender(const char *sender, size_t len, struct rg_envelope *out)
{
	memset(out, 0, sizeof(*out));
	if (!sender || len == 0) {
		out->status = RG_ENV_NULL;
		return;
	}
	/* Postfix hands over the address unbracketed; tolerate "<>" and "<addr>" too. */
	if (len >= 2 && sender[0] == '<' && sender[len - 1] == '>') {
		sender++;
		len -= 2;
		if (len == 0) {
			out->status = RG_ENV_NULL;
			return;
		}
	}
	if (len + 2 > PATH_MAX_)	/* the path counts its brackets */
		return invalid(out, "path over 256 octets");
	parse_mailbox(sender, len, out);
}

static bool prefix_ci(const char *s, size_t len, const char *p)
{
	size_t n = strlen(p);

	if (len < n)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 32);
		if (c != p[i])
			return false;
	}
	return true;
}

void rg_envelope_from_mail_cmd(const char *line, size_t len, struct rg_envelope *out)
{
	memset(out, 0, sizeof(*out));
	if (!line)
		return invalid(out, "empty line");
	if (len > LINE_MAX_)
		return invalid(out, "line too long");
	if (memchr(line, '\0', len))
		return invalid(out, "NUL byte");
	if (len && line[len - 1] == '\n')
		len--;
	if (len && line[len - 1] == '\r')
		len--;
	if (len + 2 > LINE_MAX_)	/* counted with the CRLF, even if the caller left it off */
		return invalid(out, "line too long");
	if (memchr(line, '\n', len) || memchr(line, '\r', len))
		return invalid(out, "bare CR or LF");
	if (!prefix_ci(line, len, "MAIL FROM:"))
		return invalid(out, "not MAIL FROM");

	size_t i = strlen("MAIL FROM:");
	if (i < len && line[i] == ' ')
		i++;
	if (i >= len || line[i] != '<')
		return invalid(out, "missing angle brackets");

	/* Find the closing '>' outside quotes. */
	size_t start = i + 1, end = (size_t)-1;
	bool quoted = false;
	for (size_t j = start; j < len; j++) {
		char c = line[j];
		if (quoted) {
			if (c == '\\')
				j++;
			else if (c == '"')
				quoted = false;
			continue;
		}
		if (c == '"')
			quoted = true;
		else if (c == '>') {
			end = j;
			break;
		}
	}
	if (quoted)
		return invalid(out, "unbalanced quote");
	if (end == (size_t)-1)
		return invalid(out, "missing angle brackets");
	if (end + 1 - i > PATH_MAX_)
		return invalid(out, "path over 256 octets");
	/* ESMTP parameters must be separated by a space. */
	if (end + 1 < len && line[end + 1] != ' ')
		return invalid(out, "junk after path");

	const char *p = line + start;
	size_t plen = end - start;
	if (plen == 0) {
		out->status = RG_ENV_NULL;
		return;
	}
	/* Source route: "@a,@b:" before the mailbox. */
	if (p[0] == '@') {
		const char *colon = memchr(p, ':', plen);
		if (!colon)
			return invalid(out, "bad source route");
		plen -= (size_t)(colon + 1 - p);
		p = colon + 1;
		if (plen == 0)
			return invalid(out, "no domain");
	}
	parse_mailbox(p, plen, out);
}
