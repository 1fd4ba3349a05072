// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * bench-domains.c: the accepted-domain index (user/domains.c) at relay scale. Not a test.
 *
 * For each size ENTRIES:TENANTS (default 10000:1000 100000:10000 1000000:100000) it makes
 * ENTRIES accepted-domain entries spread over TENANTS tenants, about 10% of them
 * "*.domain" wildcards, in mixed case so that rg_domains_add normalises for real; then
 * times loading them all (rg_domains_new with the config loader's size hint, then
 * rg_domains_add each: resizes included), and times --lookups N (default 10M) lookups on
 * one core over a mix of exact hits, wildcard hits (one and two labels below the entry),
 * misses and right-name-wrong-tenant misses. Every answer of a first pass over the queries
 * is checked against what the generator knows; a wrong answer exits 1.
 *
 * Reports a table and one line per size:
 *   bench-domains entries=N tenants=T load_ms=X lookups_per_s=Y bytes_per_domain=Z
 * where bytes_per_domain is rg_domains_memory / entries; the table adds the RSS growth
 * (from /proc/self/statm) over the load, per entry.
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "domains.h"

static uint64_t rng = 0x243f6a8885a308d3ull;

static uint64_t rnd64(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long rss_bytes(void)
{
	long size, res;
	FILE *f = fopen("/proc/self/statm", "r");

	if (!f)
		return 0;
	if (fscanf(f, "%ld %ld", &size, &res) != 2)
		res = 0;
	fclose(f);
	return res * sysconf(_SC_PAGESIZE);
}

/* Strings in one arena: entries and queries, so the generator's own allocations stay flat. */
struct strs {
	char *p;
	size_t len, cap;
	uint32_t *off;
	uint16_t *slen;
	size_t n, ncap;
};

static int strs_push(struct strs *s, const char *str, size_t len)
{
	if (s->len + len > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1 << 20;
		char *p;

		while (cap < s->len + len)
			cap *= 2;
		p = realloc(s->p, cap);
		if (!p)
			return -ENOMEM;
		s->p = p;
		s->cap = cap;
	}
	if (s->n == s->ncap) {
		size_t ncap = s->ncap ? s->ncap * 2 : 1024;
		uint32_t *off = realloc(s->off, ncap * sizeof(*off));
		uint16_t *sl;

		if (!off)
			return -ENOMEM;
		s->off = off;
		sl = realloc(s->slen, ncap * sizeof(*sl));
		if (!sl)
			return -ENOMEM;
		s->slen = sl;
		s->ncap = ncap;
	}
	memcpy(s->p + s->len, str, len);
	s->off[s->n] = (uint32_t)s->len;
	s->slen[s->n] = (uint16_t)len;
	s->len += len;
	s->n++;
	return 0;
}

static void strs_free(struct strs *s)
{
	free(s->p);
	free(s->off);
	free(s->slen);
	memset(s, 0, sizeof(*s));
}

static const char *const tlds[] = { "com", "net", "org", "de", "co.uk", "example", "io", "fr" };
static const char *const words[] = { "mail", "shop", "contoso", "fabrikam", "north", "wind",
				     "tail", "spin", "blue", "yonder", "alpine", "ski", "lucerne",
				     "litware", "adatum", "proseware", "woodgrove", "bank" };

/* Entry i's normalised name: unique per i (the counter is in it), realistic lengths. */
static int entry_name(char *buf, size_t size, size_t i)
{
	return snprintf(buf, size, "%s-%s%zx.%s", words[i % 18], words[(i / 18 + i * 7) % 18],
			i, tlds[(i / 3) % 8]);
}

static bool entry_wild(size_t i)
{
	return i % 10 == 3;
}

static uint32_t entry_tenant(size_t i, uint32_t tenants)
{
	return (uint32_t)(i % tenants);
}

enum qkind { Q_EXACT, Q_WILD1, Q_WILD2, Q_MISS, Q_WRONG_TENANT, Q_APEX, Q_KINDS };
static const char *const qkind_name[] = { "exact", "wildcard", "wildcard2", "miss",
					  "other-tenant", "wildcard-apex" };

struct size_result {
	size_t entries;
	uint32_t tenants;
	double load_ms, lookups_per_s, ns_per_lookup;
	size_t mem;
	long rss_delta;
	size_t hits, lookups;
};

static int run_size(size_t n, uint32_t tenants, size_t lookups, size_t nqueries,
		    struct size_result *res)
{
	struct strs ent = { 0 }, qs = { 0 };
	uint32_t *qt = NULL;
	uint8_t *qwant = NULL;
	struct rg_domains *d = NULL;
	char buf[RG_DOMAIN_MAX + 8], up[RG_DOMAIN_MAX + 8];
	int err = -ENOMEM;
	size_t count_kind[Q_KINDS] = { 0 };

	/* entries as operators write them: mixed case, some with a trailing dot */
	for (size_t i = 0; i < n; i++) {
		int len = entry_name(buf, sizeof(buf), i);
		size_t o = 0;

		if (entry_wild(i)) {
			memcpy(up, "*.", 2);
			o = 2;
		}
		for (int k = 0; k < len; k++)
			up[o + k] = (i % 4 == 0 && k < 4 && buf[k] >= 'a' && buf[k] <= 'z') ?
					    (char)(buf[k] - 32) : buf[k];
		o += (size_t)len;
		if (i % 16 == 5)
			up[o++] = '.';
		if (strs_push(&ent, up, o))
			goto out;
	}

	long rss0 = rss_bytes();
	double t0 = now_s();

	d = rg_domains_new(4096);	/* the hint the config loader gives */
	if (!d)
		goto out;
	for (size_t i = 0; i < n; i++) {
		err = rg_domains_add(d, entry_tenant(i, tenants), ent.p + ent.off[i], ent.slen[i]);
		if (err) {
			fprintf(stderr, "bench-domains: add %.*s: %s\n", (int)ent.slen[i],
				ent.p + ent.off[i], strerror(-err));
			goto out;
		}
	}
	double t1 = now_s();
	long rss1 = rss_bytes();

	if (rg_domains_count(d) != n) {
		fprintf(stderr, "bench-domains: %zu entries, want %zu\n", rg_domains_count(d), n);
		err = -EINVAL;
		goto out;
	}

	/* queries (normalised, as the envelope parser hands them over) and their answers */
	qt = malloc(nqueries * sizeof(*qt));
	qwant = malloc(nqueries);
	err = -ENOMEM;
	if (!qt || !qwant)
		goto out;
	for (size_t q = 0; q < nqueries; q++) {
		uint64_t r = rnd64();
		size_t i = (size_t)(r >> 8) % n;
		unsigned roll = (unsigned)(rnd64() % 100);
		enum qkind k;
		int len = entry_name(buf, sizeof(buf), i);
		char *name = buf;

		/* 45% exact, 25% wildcard, 20% miss, 5% other tenant, 5% wildcard apex */
		if (roll < 45)
			k = Q_EXACT;
		else if (roll < 60)
			k = Q_WILD1;
		else if (roll < 70)
			k = Q_WILD2;
		else if (roll < 90)
			k = Q_MISS;
		else if (roll < 95)
			k = Q_WRONG_TENANT;
		else
			k = Q_APEX;
		/* pick an entry of the right form for the hit kinds */
		if (k == Q_WILD1 || k == Q_WILD2 || k == Q_APEX) {
			i = i - i % 10 + 3;
			if (i >= n)
				i = 3;
		} else if (entry_wild(i)) {
			i = i + 1 < n ? i + 1 : 0;
		}
		len = entry_name(buf, sizeof(buf), i);
		uint32_t t = entry_tenant(i, tenants);
		bool want = true;

		switch (k) {
		case Q_EXACT:
		case Q_APEX:
			want = k == Q_EXACT;
			break;
		case Q_WILD1:
			len = snprintf(up, sizeof(up), "mail.%s", buf);
			name = up;
			break;
		case Q_WILD2:
			len = snprintf(up, sizeof(up), "a%u.smtp.%s", (unsigned)(r >> 40) % 100, buf);
			name = up;
			break;
		case Q_MISS:
			/* same shape, a counter no entry has */
			len = entry_name(buf, sizeof(buf), n + (size_t)(r >> 20) % (n + 1));
			want = false;
			break;
		case Q_WRONG_TENANT:
			t = (t + 1 + (uint32_t)(r >> 48) % (tenants > 1 ? tenants - 1 : 1)) % tenants;
			want = tenants == 1;
			break;
		default:
			break;
		}
		if (strs_push(&qs, name, (size_t)len))
			goto out;
		qt[q] = t;
		qwant[q] = want;
		count_kind[k]++;
	}

	/* check every answer once */
	size_t hits = 0;
	for (size_t q = 0; q < nqueries; q++) {
		bool got = rg_domains_match(d, qt[q], qs.p + qs.off[q], qs.slen[q]);

		if (got != qwant[q]) {
			fprintf(stderr, "bench-domains: tenant %u %.*s: got %d, want %d\n", qt[q],
				(int)qs.slen[q], qs.p + qs.off[q], got, qwant[q]);
			err = -EINVAL;
			goto out;
		}
		hits += got;
	}

	/* timed: one core, lookups cycling over the query set */
	size_t sink = 0;
	double t2 = now_s();
	for (size_t l = 0, q = 0; l < lookups; l++) {
		sink += rg_domains_match(d, qt[q], qs.p + qs.off[q], qs.slen[q]);
		if (++q == nqueries)
			q = 0;
	}
	double t3 = now_s();

	res->entries = n;
	res->tenants = tenants;
	res->load_ms = (t1 - t0) * 1e3;
	res->lookups_per_s = (double)lookups / (t3 - t2);
	res->ns_per_lookup = (t3 - t2) * 1e9 / (double)lookups;
	res->mem = rg_domains_memory(d);
	res->rss_delta = rss1 - rss0;
	res->hits = sink;
	res->lookups = lookups;
	fprintf(stderr, "# %zu entries: queries", n);
	for (int k = 0; k < Q_KINDS; k++)
		fprintf(stderr, " %s=%zu", qkind_name[k], count_kind[k]);
	fprintf(stderr, " (hit rate %.0f%%)\n", 100.0 * (double)hits / (double)nqueries);
	err = 0;
out:
	rg_domains_free(d);
	strs_free(&ent);
	strs_free(&qs);
	free(qt);
	free(qwant);
	return err;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: bench-domains [--lookups N] [--queries N] [ENTRIES:TENANTS ...]\n"
		   "  default sizes 10000:1000 100000:10000 1000000:100000, 10M lookups\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "lookups", required_argument, NULL, 'l' },
		{ "queries", required_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static const char *const defaults[] = { "10000:1000", "100000:10000", "1000000:100000" };
	size_t lookups = 10000000, nqueries = 1000000;
	struct size_result res[16];
	int nres = 0, c, err = 0;

	while ((c = getopt_long(argc, argv, "l:q:h", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			lookups = strtoull(optarg, NULL, 10);
			break;
		case 'q':
			nqueries = strtoull(optarg, NULL, 10);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!lookups || !nqueries) {
		usage(stderr);
		return 2;
	}
	int nsizes = optind < argc ? argc - optind : 3;
	if (nsizes > 16) {
		fprintf(stderr, "bench-domains: at most 16 sizes\n");
		return 2;
	}
	for (int s = 0; s < nsizes; s++) {
		const char *arg = optind < argc ? argv[optind + s] : defaults[s];
		unsigned long long n, t;
		char tail;

		if (sscanf(arg, "%llu:%llu%c", &n, &t, &tail) != 2 || !n || !t || t > n ||
		    n > 100000000ull) {
			fprintf(stderr, "bench-domains: bad size %s (ENTRIES:TENANTS)\n", arg);
			return 2;
		}
		err = run_size((size_t)n, (uint32_t)t, lookups, nqueries, &res[nres]);
		if (err) {
			fprintf(stderr, "bench-domains: %s: %s\n", arg, strerror(-err));
			return 1;
		}
		nres++;
	}

	printf("%10s %8s %10s %14s %10s %12s %14s %12s\n", "entries", "tenants", "load_ms",
	       "lookups/s", "ns/lookup", "index_MB", "bytes/domain", "rss/domain");
	for (int i = 0; i < nres; i++)
		printf("%10zu %8u %10.1f %14.0f %10.1f %12.1f %14.1f %12.1f\n", res[i].entries,
		       res[i].tenants, res[i].load_ms, res[i].lookups_per_s, res[i].ns_per_lookup,
		       (double)res[i].mem / 1048576.0, (double)res[i].mem / (double)res[i].entries,
		       (double)res[i].rss_delta / (double)res[i].entries);
	for (int i = 0; i < nres; i++)
		printf("bench-domains entries=%zu tenants=%u load_ms=%.1f lookups_per_s=%.0f "
		       "bytes_per_domain=%.1f\n",
		       res[i].entries, res[i].tenants, res[i].load_ms, res[i].lookups_per_s,
		       (double)res[i].mem / (double)res[i].entries);
	return 0;
}
