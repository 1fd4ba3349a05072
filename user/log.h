/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * log.h: the one logging module. pr_warn/pr_info/pr_debug with printf checking, to stderr
 * with syslog-style <N> level prefixes (journald reads them) or to syslog. Client text goes
 * through rg_printable() before it is logged.
 */
#ifndef RG_LOG_H
#define RG_LOG_H

#include <stddef.h>

enum rg_log_level {
	RG_LOG_ERR = 3,
	RG_LOG_WARN = 4,
	RG_LOG_INFO = 6,
	RG_LOG_DEBUG = 7,
};

void rg_log_set_level(enum rg_log_level level);
enum rg_log_level rg_log_get_level(void);
/* Send messages to syslog (ident) instead of stderr. */
void rg_log_use_syslog(const char *ident);
/* On stderr, start each line with "PREFIX: " instead of the <N> level: for a command run
 * at a terminal (relayguardctl), where no journald reads the levels. */
void rg_log_use_prefix(const char *prefix);

#include <stdarg.h>
void rg_vlog(enum rg_log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
void rg_log(enum rg_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define pr_err(...) rg_log(RG_LOG_ERR, __VA_ARGS__)
#define pr_warn(...) rg_log(RG_LOG_WARN, __VA_ARGS__)
#define pr_info(...) rg_log(RG_LOG_INFO, __VA_ARGS__)
#define pr_debug(...) rg_log(RG_LOG_DEBUG, __VA_ARGS__)

/* RG_PRINTABLE_MAX: the most bytes of client-supplied text that ever reach a log line. */
#define RG_PRINTABLE_MAX 100

/*
 * Copy at most RG_PRINTABLE_MAX bytes of untrusted text (len bytes, NULs allowed) into out,
 * replacing every byte outside printable ASCII with '?', and marking truncation with "...".
 * out must hold RG_PRINTABLE_MAX + 4 bytes. Returns out.
 */
char *rg_printable(const char *in, size_t len, char out[RG_PRINTABLE_MAX + 4]);

#endif /* RG_LOG_H */
