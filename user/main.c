// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * main.c: relayguardd, the agent. Loads the configuration, attaches the BPF side, serves
 * the Postfix policy protocol, the control socket and the metrics endpoint from one epoll
 * loop, ticks the engine every second (expiries, connection-rate sampling, state saves),
 * and reloads on SIGHUP or `relayguardctl reload`.
 *
 *   relayguardd [-f] [-c FILE]     run (-f: foreground, log to stderr)
 *   relayguardd -t [-c FILE]       check the configuration: 0, or FILE:LINE: reason lines
 *                                  (FILE:LINE: warning: lines alone keep 0)
 *   relayguardd -V | --version     print the version
 *
 * Exit status: 0 clean stop, 1 runtime failure, 2 usage, 78 bad configuration.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "agent.h"
#include "config.h"
#include "log.h"

#define EX_CONFIG 78

static void usage(FILE *f)
{
	fprintf(f, "usage: relayguardd [-f] [-t] [-c FILE] [-d]\n"
		   "  -c FILE  configuration (default %s)\n"
		   "  -t       check the configuration and exit (0 good)\n"
		   "  -f       stay in the foreground, log to stderr\n"
		   "  -d       debug logging\n"
		   "  -V, --version  print the version and exit\n"
		   "  -h, --help     this help\n",
		   RG_DEFAULT_CONFIG);
}

static int check_config(const char *path)
{
	struct rg_config_errors errs = { 0 };
	struct rg_config *cfg = NULL;
	int err = rg_config_load(path, &cfg, &errs);

	for (size_t i = 0; i < errs.n; i++)
		fprintf(stderr, "%s\n", errs.msgs[i]);
	if (err && !errs.n)
		fprintf(stderr, "%s: %s\n", path, strerror(-err));
	rg_config_errors_free(&errs);
	if (err)
		return EX_CONFIG;
	/* Warnings do not refuse the file: they go to stderr and the exit status stays 0. */
	for (size_t i = 0; i < cfg->warnings.n; i++)
		fprintf(stderr, "%s\n", cfg->warnings.msgs[i]);
	size_t nc = rg_lpm_count(cfg->connectors);

	printf("%s: OK: %zu tenant%s, %zu connector%s\n", path, cfg->n_tenants,
	       cfg->n_tenants == 1 ? "" : "s", nc, nc == 1 ? "" : "s");
	if (cfg->fleet.enabled) {
		const struct rg_fleet_conf *fl = &cfg->fleet;
		char t[32];

		printf("%s: fleet: relay %s, redis %s%s%s, db %u, key_prefix %s, "
		       "redis_timeout %s%s\n", path, fl->relay_id,
		       fl->n_sentinels ? "by sentinel master " : "",
		       fl->n_sentinels ? fl->sentinel_master : fl->redis,
		       fl->redis_password_file ? " (AUTH)" : "", fl->redis_db, fl->key_prefix,
		       rg_format_duration(fl->redis_timeout_ns, t, sizeof(t)), "");
	}
	rg_config_free(cfg);
	return 0;
}

int main(int argc, char **argv)
{
	const char *path = RG_DEFAULT_CONFIG;
	bool test_only = false, foreground = false, debug = false;
	static const struct option longopts[] = {
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "c:tfdhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 't':
			test_only = true;
			break;
		case 'f':
			foreground = true;
			break;
		case 'd':
			debug = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("relayguardd %s\n", RG_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (test_only)
		return check_config(path);

	/* Without -f we still do not fork: systemd (Type=notify) and the lab supervise us;
	 * the difference is where logs go. */
	if (!foreground)
		rg_log_use_syslog("relayguardd");
	if (debug)
		rg_log_set_level(RG_LOG_DEBUG);

	int err = rg_agent_run(path, debug);
	if (err == -EINVAL)
		return EX_CONFIG;
	return err < 0 ? 1 : 0;
}
