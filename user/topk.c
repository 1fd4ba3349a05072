// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * topk.c: Space-Saving heavy hitters over names (topk.h). Takes names one at a time;
 * reports the top ones as "name=count,..." text. Linear scans: 16 slots cost less than
 * any index over them.
 */
#include <stdio.h>
#include <string.h>

#include "topk.h"

void rg_topk_add(struct rg_topk *t, const char *key, size_t len)
{
	uint32_t min = 0;

	if (len >= RG_TOPK_KEY_MAX)
		len = RG_TOPK_KEY_MAX - 1;
	for (uint32_t i = 0; i < t->n; i++) {
		if (!strncmp(t->e[i].key, key, len) && t->e[i].key[len] == '\0') {
			t->e[i].count++;
			return;
		}
		if (t->e[i].count < t->e[min].count)
			min = i;
	}
	if (t->n < RG_TOPK_SLOTS) {
		min = t->n++;
		t->e[min].count = 0;
	}
	/* A new name takes the smallest slot's count: its true count is at most that + 1. */
	memcpy(t->e[min].key, key, len);
	t->e[min].key[len] = '\0';
	t->e[min].count++;
}

char *rg_topk_format(const struct rg_topk *t, size_t top, char *buf, size_t len)
{
	uint32_t order[RG_TOPK_SLOTS], n = t ? t->n : 0;
	size_t used = 0;

	if (!len)
		return buf;
	buf[0] = '\0';
	for (uint32_t i = 0; i < n; i++)
		order[i] = i;
	/* Insertion sort, highest count first, ties by name: a stable, readable listing. */
	for (uint32_t i = 1; i < n; i++) {
		uint32_t v = order[i], j = i;

		while (j > 0 && (t->e[order[j - 1]].count < t->e[v].count ||
				 (t->e[order[j - 1]].count == t->e[v].count &&
				  strcmp(t->e[order[j - 1]].key, t->e[v].key) > 0))) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = v;
	}
	for (uint32_t i = 0; i < n && i < top; i++) {
		int w = snprintf(buf + used, len - used, "%s%s=%llu", used ? "," : "",
				 t->e[order[i]].key, (unsigned long long)t->e[order[i]].count);

		if (w < 0 || (size_t)w >= len - used) {
			buf[used] = '\0';
			break;
		}
		used += (size_t)w;
	}
	return buf;
}
