// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * fuzz_config.c: the configuration loader (rg_config_load, user/config.h) on arbitrary
 * bytes written as relayguard.conf in a private directory under /dev/shm, next to a small
 * included tenant file and a domains file. Includes and domain files stay inside that
 * directory by construction: an input naming any path with a '/' while it mentions
 * "include" or "file" is skipped (the loader reads only regular files, so nothing blocks).
 * Checked: no crash; a refused file has at least one error and every error reads
 * "DIR/FILE:LINE: reason" for a file of that directory; a loaded one is consistent
 * (tenants found by name, each in a file the loader read).
 */
#include <ctype.h>
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "fuzz_common.h"

static char dir[64];
static char conf_path[128];

static void write_file(const char *name, const void *data, size_t len)
{
	char path[160];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FUZZ_CHECK(fd >= 0);
	FUZZ_CHECK(len == 0 || write(fd, data, len) == (ssize_t)len);
	close(fd);
}

static void cleanup(void)
{
	static const char *const names[] = { "relayguard.conf", "beta.conf", "beta.domains" };
	char path[160];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char beta[] = "[tenant beta]\nconnectors = 198.51.100.0/24\n"
				   "accepted_domains_file = beta.domains\n";
	static const char beta_domains[] = "# beta\nbeta.example\n*.beta.example\n";

	snprintf(dir, sizeof(dir), "/dev/shm/rg-fuzz-config.XXXXXX");
	FUZZ_CHECK(mkdtemp(dir));
	snprintf(conf_path, sizeof(conf_path), "%s/relayguard.conf", dir);
	write_file("beta.conf", beta, sizeof(beta) - 1);
	write_file("beta.domains", beta_domains, sizeof(beta_domains) - 1);
	atexit(cleanup);
	rg_log_set_level(RG_LOG_ERR);
	return 0;
}

static bool mentions_path_key(const char *s, size_t n)
{
	for (size_t i = 0; i + 4 <= n; i++) {
		if (!strncasecmp(s + i, "file", 4))
			return true;
		if (i + 7 <= n && !strncasecmp(s + i, "include", 7))
			return true;
	}
	return false;
}

/*
 * Would this input make the loader open something outside dir? A line naming an include
 * or a file with a '/' in it, or, when any line names one, an indented line (some INI
 * readers continue a value there) with a '/'. CIDRs elsewhere stay in.
 */
static bool leaves_dir(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data, *end = s + size;
	bool any = mentions_path_key(s, size);

	if (!any || !memchr(s, '/', size))
		return false;
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t n = nl ? (size_t)(nl - s) : (size_t)(end - s);

		if (memchr(s, '/', n) && (mentions_path_key(s, n) || *s == ' ' || *s == '\t' ||
					  *s == '\r' || *s == '\f' || *s == '\v'))
			return true;
		s += n + 1;
	}
	return false;
}

static void check_message(const char *msg)
{
	size_t dl = strlen(dir);
	const char *p;

	FUZZ_CHECK(msg);
	if (strncmp(msg, dir, dl) || msg[dl] != '/') {
		fprintf(stderr, "error without its file: '%s'\n", msg);
		FUZZ_CHECK(!"error message starts with the file name");
	}
	p = strchr(msg + dl + 1, ':');
	FUZZ_CHECK(p);
	FUZZ_CHECK(!memchr(msg + dl + 1, '/', (size_t)(p - msg - dl - 1)));
	p++;
	if (!isdigit((unsigned char)*p)) {
		fprintf(stderr, "error without a line number: '%s'\n", msg);
		FUZZ_CHECK(!"error message has a line number");
	}
	while (isdigit((unsigned char)*p))
		p++;
	FUZZ_CHECK(p[0] == ':' && p[1] == ' ' && p[2]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rg_config_errors errs = { 0 };
	struct rg_config *cfg = NULL;
	int rc;

	if (!dir[0])
		LLVMFuzzerInitialize(NULL, NULL);
	if (leaves_dir(data, size))
		return 0;
	write_file("relayguard.conf", data, size);
	rc = rg_config_load(conf_path, &cfg, &errs);
	if (rc == 0) {
		FUZZ_CHECK(cfg);
		FUZZ_CHECK(errs.n == 0);
		for (size_t i = 0; i < cfg->n_tenants; i++) {
			const struct rg_tenant_conf *t = &cfg->tenants[i];
			bool found = false;

			FUZZ_CHECK(t->name[0]);
			FUZZ_CHECK(rg_config_find_tenant(cfg, t->name) == (int)i);
			for (size_t f = 0; f < cfg->n_files; f++)
				found |= t->file == cfg->files[f];
			FUZZ_CHECK(found);
			FUZZ_CHECK(t->line > 0);
		}
		rg_config_free(cfg);
	} else {
		FUZZ_CHECK(rc < 0);
		FUZZ_CHECK(!cfg);
		FUZZ_CHECK(errs.n > 0);
		FUZZ_CHECK(errs.n <= RG_CONFIG_ERRORS_MAX + 1);
		for (size_t i = 0; i < errs.n; i++)
			check_message(errs.msgs[i]);
	}
	rg_config_errors_free(&errs);
	return 0;
}
