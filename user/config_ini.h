/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * config_ini.h: the line reader of relayguard.conf. Takes a file's bytes (modified in
 * place) and yields one item per meaningful physical line: a section header, a
 * "key = value" pair, or an error with its reason, each with its line number. Comments
 * ('#' or ';' at the start or after a space or tab), blank lines, the UTF-8 BOM and CRs
 * are dropped here; what the keys mean is the loader's business (config.c).
 */
#ifndef RG_CONFIG_INI_H
#define RG_CONFIG_INI_H

#include <stdbool.h>
#include <stddef.h>

#include "log.h"

struct rg_ini {
	char *buf;
	size_t len, pos;
	int line;		/* the physical line last taken, from 1 */
};

enum rg_ini_kind { RG_INI_SECTION, RG_INI_KEY, RG_INI_ERROR };

struct rg_ini_item {
	enum rg_ini_kind kind;
	char *section;		/* RG_INI_SECTION: the text between the brackets, trimmed */
	char *key, *value;	/* RG_INI_KEY: both trimmed, value possibly empty */
	bool in_header;		/* RG_INI_ERROR: the line was meant as a section header */
	char why[RG_PRINTABLE_MAX + 64];	/* RG_INI_ERROR: the reason */
};

/* Read from buf[0..len) (NUL-terminated lines are cut in place). */
void rg_ini_init(struct rg_ini *r, char *buf, size_t len);

/* The next item into it: 1, or 0 at the end. */
int rg_ini_next(struct rg_ini *r, struct rg_ini_item *it);

/* The next physical line, BOM and CR removed, NUL-terminated in place; NULL at the end.
 * For line-oriented files that are not INI (accepted_domains_file). */
char *rg_ini_take_line(struct rg_ini *r, size_t *len);

/* n > 0 bytes of A-Z a-z 0-9 . _ - : what key names (and tenant names) are made of. */
bool rg_ini_name_valid(const char *s, size_t n);

/* Next space- or tab-separated token of a list value from *cursor; NULL at the end. */
char *rg_ini_token(char **cursor, size_t *len);

#endif /* RG_CONFIG_INI_H */
