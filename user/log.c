// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * log.c: level-filtered logging to stderr ("<N>" prefixes that journald understands) or
 * syslog, and rg_printable() for hostile text. Free of libbpf so parsers link without it.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "log.h"

static enum rg_log_level log_level = RG_LOG_INFO;
static bool log_syslog;
static const char *log_prefix;

void rg_log_set_level(enum rg_log_level level)
{
	log_level = level;
}

enum rg_log_level rg_log_get_level(void)
{
	return log_level;
}

void rg_log_use_syslog(const char *ident)
{
	openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
	log_syslog = true;
}

void rg_log_use_prefix(const char *prefix)
{
	log_prefix = prefix;
}

void rg_vlog(enum rg_log_level level, const char *fmt, va_list ap)
{
	if (level > log_level)
		return;
	if (log_syslog) {
		vsyslog((int)level, fmt, ap);
		return;
	}
	char buf[1024];
	vsnprintf(buf, sizeof(buf), fmt, ap);
	size_t n = strlen(buf);
	while (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	if (log_prefix)
		fprintf(stderr, "%s: %s\n", log_prefix, buf);
	else
		fprintf(stderr, "<%d>%s\n", (int)level, buf);
}

void rg_log(enum rg_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rg_vlog(level, fmt, ap);
	va_end(ap);
}

char *rg_printable(const char *in, size_t len, char out[RG_PRINTABLE_MAX + 4])
{
	size_t n = len > RG_PRINTABLE_MAX ? RG_PRINTABLE_MAX : len;
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];
		out[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	if (n < len) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
	return out;
}
