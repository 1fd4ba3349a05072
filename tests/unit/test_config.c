// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * test_config.c: the configuration loader against DESIGN.md's example, the shipped example,
 * defaults, tenant overrides, includes (glob order, relative paths, loops, depth), domain
 * files, CRLF, BOM, comments, and every error kind with its exact FILE:LINE; durations and
 * rates good and hostile; 100k generated tenants. Fixtures live in tests/unit/config/ (run
 * from the repository root) or are written to a mkdtemp directory. Reports cmocka TAP.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

#define NS 1000000000ULL
#define MINIMAL "[agent]\ninterfaces = eth0\n"

static char tmpdir[64];

static int setup(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/rg-test-config.XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Write name under tmpdir; returns the path (static buffer rotation of 4). */
static const char *wfile(const char *name, const char *content)
{
	static char paths[4][256];
	static int k;
	char *p = paths[k++ % 4];
	FILE *f;

	snprintf(p, 256, "%s/%s", tmpdir, name);
	f = fopen(p, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(content, 1, strlen(content), f), strlen(content));
	assert_int_equal(fclose(f), 0);
	return p;
}

static struct rg_config *load_ok(const char *path)
{
	struct rg_config_errors errs = { 0 };
	struct rg_config *cfg = NULL;
	int err = rg_config_load(path, &cfg, &errs);

	for (size_t i = 0; i < errs.n; i++)
		fprintf(stderr, "# unexpected: %s\n", errs.msgs[i]);
	assert_int_equal(err, 0);
	assert_int_equal(errs.n, 0);
	assert_non_null(cfg);
	rg_config_errors_free(&errs);
	return cfg;
}

/* Loading path fails, and some error is exactly "FILE:LINE: ..." containing reason. */
static void load_err(const char *path, const char *file, int line, const char *reason)
{
	struct rg_config_errors errs = { 0 };
	struct rg_config *cfg = NULL;
	char prefix[512];
	bool found = false;
	int err = rg_config_load(path, &cfg, &errs);

	assert_int_not_equal(err, 0);
	assert_null(cfg);
	snprintf(prefix, sizeof(prefix), "%s:%d: ", file, line);
	for (size_t i = 0; i < errs.n; i++) {
		if (!strncmp(errs.msgs[i], prefix, strlen(prefix)) &&
		    strstr(errs.msgs[i] + strlen(prefix), reason))
			found = true;
	}
	if (!found) {
		fprintf(stderr, "# wanted %s%s; got:\n", prefix, reason);
		for (size_t i = 0; i < errs.n; i++)
			fprintf(stderr, "#   %s\n", errs.msgs[i]);
	}
	assert_true(found);
	rg_config_errors_free(&errs);
}

/* Write content as t.conf and expect an error at t.conf:line. */
static void conf_err(const char *content, int line, const char *reason)
{
	const char *p = wfile("t.conf", content);
	char path[256];

	snprintf(path, sizeof(path), "%s", p);
	load_err(path, path, line, reason);
}

static void addr(const char *s, uint8_t a[16])
{
	assert_int_equal(rg_addr_parse(s, a, NULL), 0);
}

static long tenant_of(const struct rg_config *cfg, const char *ip)
{
	uint8_t a[16];
	uint32_t v;

	addr(ip, a);
	return rg_lpm_lookup(cfg->connectors, a, &v) ? (long)v : -1;
}

static bool registered(const struct rg_config *cfg, int t, const char *d)
{
	return rg_domains_match(cfg->domains, (uint32_t)t, d, strlen(d));
}

static void test_defaults(void **state)
{
	struct rg_config *cfg = load_ok(wfile("d.conf", MINIMAL));

	assert_int_equal(cfg->n_interfaces, 1);
	assert_string_equal(cfg->interfaces[0], "eth0");
	assert_int_equal(cfg->attach_mode, RG_ATTACH_AUTO);
	assert_int_equal(cfg->n_smtp_ports, 3);
	assert_int_equal(cfg->smtp_ports[0], 25);
	assert_int_equal(cfg->smtp_ports[1], 587);
	assert_int_equal(cfg->smtp_ports[2], 465);
	assert_int_equal(cfg->n_policy_listen, 1);
	assert_string_equal(cfg->policy_listen[0], "unix:/var/spool/postfix/private/relayguard");
	assert_string_equal(cfg->control_socket, "/run/relayguard/control.sock");
	assert_string_equal(cfg->metrics_listen, "inet:127.0.0.1:9433");
	assert_string_equal(cfg->state_dir, "/var/lib/relayguard");
	assert_string_equal(cfg->pin_dir, "/sys/fs/bpf/relayguard");
	assert_string_equal(cfg->audit_log, "/var/lib/relayguard/audit.log");
	assert_int_equal(cfg->mode, RG_MODE_ENFORCE);
	assert_int_equal(cfg->fail_mode, RG_FAIL_OPEN);
	assert_int_equal(cfg->host_prefix_v4, 32);
	assert_int_equal(cfg->host_prefix_v6, 64);
	assert_int_equal(cfg->host_table_size, 1048576);
	assert_int_equal(cfg->flow_table_size, 262144);
	assert_int_equal(cfg->verdict_table_size, 65536);
	assert_int_equal(cfg->max_policy_connections, 1024);
	assert_int_equal(cfg->policy_idle_timeout_ns, 300 * NS);
	assert_int_equal(cfg->policy_request_timeout_ns, 10 * NS);
	assert_int_equal(cfg->log_level, RG_LOG_INFO);
	assert_int_equal(cfg->defaults.unregistered_limit, 100);
	assert_int_equal(cfg->defaults.unregistered_window_ns, 3600 * NS);
	assert_int_equal(cfg->defaults.block_duration_ns, 0);
	assert_int_equal(cfg->defaults.flood_limit, 60);
	assert_int_equal(cfg->defaults.flood_block_time_ns, 900 * NS);
	assert_int_equal(cfg->defaults.connection_rate_limit.count, 600);
	assert_int_equal(cfg->defaults.connection_rate_limit.period_ns, 60 * NS);
	assert_int_equal(cfg->n_tenants, 0);
	rg_config_free(cfg);
}

static void test_agent_values(void **state)
{
	struct rg_config *cfg = load_ok(wfile("a.conf",
		"[agent]\ninterfaces = eth0 eth1\tveth-a\nattach_mode = tc\nsmtp_ports = 2525\n"
		"policy_listen = unix:/run/p.sock inet:127.0.0.1:10040 inet:[::1]:10041\n"
		"metrics_listen =\nstate_dir = /srv/rg\nmode = monitor\nfail_mode = closed\n"
		"host_prefix_v4 = 24\nhost_prefix_v6 = 56\nlog_level = debug\n"
		"policy_idle_timeout = 1m\nhost_table_size = 4096\n"));

	assert_int_equal(cfg->n_interfaces, 3);
	assert_string_equal(cfg->interfaces[2], "veth-a");
	assert_int_equal(cfg->attach_mode, RG_ATTACH_TC);
	assert_int_equal(cfg->n_smtp_ports, 1);
	assert_int_equal(cfg->smtp_ports[0], 2525);
	assert_int_equal(cfg->n_policy_listen, 3);
	assert_string_equal(cfg->policy_listen[2], "inet:[::1]:10041");
	assert_true(!cfg->metrics_listen || !cfg->metrics_listen[0]);
	assert_string_equal(cfg->audit_log, "/srv/rg/audit.log");
	assert_int_equal(cfg->mode, RG_MODE_MONITOR);
	assert_int_equal(cfg->fail_mode, RG_FAIL_CLOSED);
	assert_int_equal(cfg->host_prefix_v4, 24);
	assert_int_equal(cfg->host_prefix_v6, 56);
	assert_int_equal(cfg->log_level, RG_LOG_DEBUG);
	assert_int_equal(cfg->policy_idle_timeout_ns, 60 * NS);
	assert_int_equal(cfg->host_table_size, 4096);
	rg_config_free(cfg);
}

static void test_design_example(void **state)
{
	struct rg_config *cfg = load_ok("tests/unit/config/design.conf");
	const struct rg_tenant_conf *t;
	char buf[RG_ADDR_STRLEN];

	assert_int_equal(cfg->n_tenants, 1);
	assert_int_equal(rg_config_find_tenant(cfg, "contoso"), 0);
	assert_int_equal(rg_config_find_tenant(cfg, "fabrikam"), -1);
	t = &cfg->tenants[0];
	assert_string_equal(t->name, "contoso");
	assert_string_equal(t->file, "tests/unit/config/design.conf");
	assert_int_equal(t->line, 27);
	assert_int_equal(t->n_connectors, 2);
	assert_string_equal(rg_cidr_format(&t->connectors[0], buf, sizeof(buf)), "192.0.2.0/24");
	assert_string_equal(rg_cidr_format(&t->connectors[1], buf, sizeof(buf)),
			    "2001:db8:10::/48");
	assert_int_equal(t->limits.unregistered_limit, 500);
	assert_int_equal(t->limits.flood_limit, 60);
	assert_int_equal(t->limits.connection_rate_limit.count, 600);
	/* 3 inline + 3 in contoso.domains */
	assert_int_equal(t->n_domains, 6);
	assert_int_equal(tenant_of(cfg, "192.0.2.77"), 0);
	assert_int_equal(tenant_of(cfg, "2001:db8:10:ffff::1"), 0);
	assert_int_equal(tenant_of(cfg, "192.0.3.1"), -1);
	assert_true(registered(cfg, 0, "contoso.com"));
	assert_true(registered(cfg, 0, "mail.contoso.com"));
	assert_true(registered(cfg, 0, "contoso.net"));
	assert_true(registered(cfg, 0, "a.contoso.de"));
	assert_false(registered(cfg, 0, "evilcontoso.com"));
	rg_config_free(cfg);
}

static void test_shipped_example(void **state)
{
	struct rg_config *cfg = load_ok("tools/examples/relayguard.conf");

	assert_true(cfg->n_interfaces >= 1);
	assert_int_equal(cfg->defaults.unregistered_limit, 100);
	rg_config_free(cfg);
}

static void test_overrides_limits_after_tenants(void **state)
{
	struct rg_config *cfg = load_ok(wfile("o.conf",
		MINIMAL
		"[tenant a]\nconnectors = 192.0.2.0/24\nflood_limit = 7\nblock_duration = 2h\n"
		"connection_rate_limit = 10/s\n"
		"[tenant b]\nconnectors = 192.0.2.128/25 198.51.100.0/24\n"
		"[limits]\nunregistered_limit = 42\nflood_limit = 9\n"
		"connection_rate_limit = 0\n"));
	const struct rg_limits *a = &cfg->tenants[0].limits, *b = &cfg->tenants[1].limits;

	assert_int_equal(a->flood_limit, 7);
	assert_int_equal(a->block_duration_ns, 7200 * NS);
	assert_int_equal(a->unregistered_limit, 42);	/* [limits] came later */
	assert_int_equal(a->connection_rate_limit.count, 10);
	assert_int_equal(a->connection_rate_limit.period_ns, NS);
	assert_int_equal(b->flood_limit, 9);
	assert_int_equal(b->unregistered_limit, 42);
	assert_int_equal(b->connection_rate_limit.count, 0);
	/* Nested prefixes in two tenants are fine; the longest wins. */
	assert_int_equal(tenant_of(cfg, "192.0.2.1"), 0);
	assert_int_equal(tenant_of(cfg, "192.0.2.200"), 1);
	assert_int_equal(tenant_of(cfg, "198.51.100.5"), 1);
	rg_config_free(cfg);
}

static void test_include_glob(void **state)
{
	struct rg_config *cfg = load_ok("tests/unit/config/inc/main.conf");

	assert_int_equal(cfg->n_tenants, 4);
	assert_string_equal(cfg->tenants[0].name, "alpha");
	assert_string_equal(cfg->tenants[1].name, "beta");
	assert_string_equal(cfg->tenants[2].name, "gamma");
	assert_string_equal(cfg->tenants[3].name, "last");
	assert_string_equal(cfg->tenants[0].file, "tests/unit/config/inc/tenants.d/10-alpha.conf");
	assert_int_equal(cfg->tenants[0].line, 2);
	assert_int_equal(rg_config_find_tenant(cfg, "not-included"), -1);
	/* A relative include inside [tenant alpha] sets alpha's keys. */
	assert_int_equal(cfg->tenants[0].limits.flood_limit, 5);
	assert_int_equal(cfg->tenants[1].limits.flood_limit, 60);
	assert_int_equal(cfg->tenants[0].n_domains, 2);
	assert_true(registered(cfg, 0, "x.alpha.example"));
	assert_int_equal(tenant_of(cfg, "198.51.100.200"), 0);
	assert_int_equal(tenant_of(cfg, "198.51.100.1"), 1);
	assert_int_equal(tenant_of(cfg, "203.0.113.9"), 3);
	rg_config_free(cfg);
}

static void test_include_loop_depth_missing(void **state)
{
	char a[256], b[256], path[256];

	snprintf(a, sizeof(a), "%s", wfile("loop-a.conf", MINIMAL "include = loop-b.conf\n"));
	snprintf(b, sizeof(b), "%s",
		 wfile("loop-b.conf", "# b\n[tenant x]\ninclude = loop-a.conf\n"));
	load_err(a, b, 3, "include loop");

	/* A chain d0 -> d1 -> ... -> d10: the ninth nested include is refused. */
	for (int i = 0; i <= 10; i++) {
		char name[32], body[64];

		snprintf(name, sizeof(name), "d%d.conf", i);
		snprintf(body, sizeof(body), "%sinclude = d%d.conf\n", i ? "" : MINIMAL, i + 1);
		wfile(name, body);
	}
	snprintf(a, sizeof(a), "%s/d0.conf", tmpdir);
	snprintf(b, sizeof(b), "%s/d8.conf", tmpdir);
	load_err(a, b, 1, "nested more than 8");

	snprintf(path, sizeof(path), "%s",
		 wfile("m.conf", MINIMAL "include = none/*.conf\n\ninclude = absent.conf\n"));
	load_err(path, path, 5, "cannot read included file");
}

static void test_domains_file(void **state)
{
	char path[256], dom[256];

	wfile("good.domains", "# comment\n\nexample.org\n  *.example.org   # inline\r\nb.test\n");
	snprintf(path, sizeof(path), "%s",
		 wfile("df.conf", MINIMAL "[tenant t]\naccepted_domains_file = good.domains\n"
				  "accepted_domains = c.test\naccepted_domains = d.test\n"));
	struct rg_config *cfg = load_ok(path);

	assert_int_equal(cfg->tenants[0].n_domains, 5);
	assert_true(registered(cfg, 0, "a.example.org"));
	assert_true(registered(cfg, 0, "d.test"));
	rg_config_free(cfg);

	snprintf(dom, sizeof(dom), "%s", wfile("bad.domains", "ok.test\n\nbad..test\n"));
	snprintf(path, sizeof(path), "%s",
		 wfile("df2.conf", MINIMAL "[tenant t]\naccepted_domains_file = bad.domains\n"));
	load_err(path, dom, 3, "bad domain");

	snprintf(path, sizeof(path), "%s",
		 wfile("df3.conf", MINIMAL "[tenant t]\naccepted_domains_file = nope.domains\n"));
	load_err(path, path, 4, "cannot read accepted_domains_file");
}

static void test_crlf_bom_comments(void **state)
{
	struct rg_config *cfg = load_ok(wfile("c.conf",
		"\xef\xbb\xbf# bom first\r\n[agent]\r\ninterfaces = eth0   # inline\r\n"
		"; semicolon comment\r\n   # indented comment\r\n"
		"mode = monitor\t# tab before\r\n\r\n[tenant x]   # after a section\r\n"
		"accepted_domains = a.test b.test # c.test\r\n"));

	assert_int_equal(cfg->n_interfaces, 1);
	assert_string_equal(cfg->interfaces[0], "eth0");
	assert_int_equal(cfg->mode, RG_MODE_MONITOR);
	assert_int_equal(cfg->n_tenants, 1);
	assert_int_equal(cfg->tenants[0].n_domains, 2);
	assert_false(registered(cfg, 0, "c.test"));
	rg_config_free(cfg);
}

static void test_long_line(void **state)
{
	/* Far beyond inih's own line buffer. */
	size_t n = 2000, len = 0;
	char *body = malloc(n * 16 + 128);

	assert_non_null(body);
	len += (size_t)sprintf(body, MINIMAL "[tenant big]\naccepted_domains =");
	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(body + len, " d%zu.test", i);
	sprintf(body + len, "\n");
	struct rg_config *cfg = load_ok(wfile("long.conf", body));

	assert_int_equal(cfg->tenants[0].n_domains, n);
	assert_true(registered(cfg, 0, "d1999.test"));
	rg_config_free(cfg);
	free(body);
}

static void test_errors(void **state)
{
	conf_err(MINIMAL "[agnet]\n", 3, "unknown section [agnet]");
	conf_err(MINIMAL "colour = blue\n", 3, "unknown key 'colour' in [agent]");
	conf_err(MINIMAL "[limits]\nfoo = 1\n", 4, "unknown key 'foo' in [limits]");
	conf_err(MINIMAL "[tenant t]\nfoo = 1\n", 4, "unknown key 'foo' in [tenant t]");
	conf_err("mode = enforce\n" MINIMAL, 1, "outside any section");
	conf_err(MINIMAL "mode = maybe\n", 3, "bad value for 'mode'");
	conf_err(MINIMAL "attach_mode = fast\n", 3, "bad value for 'attach_mode'");
	conf_err(MINIMAL "smtp_ports = 25 70000\n", 3, "bad port '70000'");
	conf_err(MINIMAL "smtp_ports = 0\n", 3, "bad port");
	conf_err(MINIMAL "host_prefix_v4 = 33\n", 3, "bad prefix '33'");
	conf_err(MINIMAL "host_prefix_v6 = 0\n", 3, "bad prefix");
	conf_err(MINIMAL "policy_listen = tcp:1.2.3.4:5\n", 3, "bad value for 'policy_listen'");
	conf_err(MINIMAL "policy_listen = inet:127.0.0.1:99999\n", 3, "bad port");
	conf_err(MINIMAL "state_dir = relative/dir\n", 3, "absolute path");
	conf_err(MINIMAL "log_level = loud\n", 3, "bad value for 'log_level'");
	conf_err(MINIMAL "this line has no equals\n", 3, "expected 'key = value'");
	conf_err(MINIMAL "[tenant t]\nconnectors = 192.0.2.0/33\n", 4, "bad CIDR '192.0.2.0/33'");
	conf_err(MINIMAL "[tenant t]\nconnectors = 192.0.2.1/24\n", 4, "host bits set");
	conf_err(MINIMAL "[tenant t]\nconnectors = 192.0.2.0/24,\n", 4, "bad CIDR");
	conf_err(MINIMAL "[tenant t]\naccepted_domains = ok.test bad_domain!.test\n", 4,
		 "bad domain 'bad_domain!.test'");
	conf_err(MINIMAL "[tenant t]\n\n[tenant t]\n", 5, "duplicate tenant 't' (first defined at");
	conf_err(MINIMAL "[tenant a]\nconnectors = 192.0.2.0/24\n[tenant b]\n"
		 "connectors = 2001:db8::/32 192.0.2.0/24\n", 6,
		 "duplicate connector 192.0.2.0/24: already a connector of tenant 'a'");
	conf_err(MINIMAL "[tenant bad/name]\n", 3, "bad tenant name");
	conf_err(MINIMAL "[tenant]\n", 3, "needs a name");
	conf_err(MINIMAL "[tenant \xc3\x28]\n", 3, "invalid UTF-8");
	conf_err(MINIMAL "[tenant a]\nflood_limit = 1\nflood_limit = 2\n", 5, "duplicate key");
	conf_err("[agent]\nmode = enforce\n", 1, "missing required key 'interfaces'");
	conf_err("# nothing\n", 0, "missing required key 'interfaces'");

	char path[256];

	snprintf(path, sizeof(path), "%s/does-not-exist.conf", tmpdir);
	load_err(path, path, 0, "No such file");
}

static void test_duplicate_connector_names_both(void **state)
{
	struct rg_config_errors errs = { 0 };
	struct rg_config *cfg;
	const char *p = wfile("dc.conf", MINIMAL "[tenant a]\nconnectors = 192.0.2.0/24\n"
						 "[tenant b]\nconnectors = 192.0.2.0/24\n");

	assert_int_equal(rg_config_load(p, &cfg, &errs), -EINVAL);
	assert_int_equal(errs.n, 1);
	assert_non_null(strstr(errs.msgs[0], "tenant 'a'"));
	assert_non_null(strstr(errs.msgs[0], ":3)"));	/* a's definition */
	assert_non_null(strstr(errs.msgs[0], ":6: "));	/* b's connectors line */
	rg_config_errors_free(&errs);
}

static void test_too_many_errors(void **state)
{
	struct rg_config_errors errs = { 0 };
	struct rg_config *cfg;
	char *body = malloc(200 * 16 + 64);
	size_t len = (size_t)sprintf(body, MINIMAL);

	for (int i = 0; i < 150; i++)
		len += (size_t)sprintf(body + len, "bogus%d = 1\n", i);
	assert_int_equal(rg_config_load(wfile("many.conf", body), &cfg, &errs), -EINVAL);
	assert_int_equal(errs.n, 101);
	assert_non_null(strstr(errs.msgs[0], ":3: unknown key 'bogus0'"));
	assert_non_null(strstr(errs.msgs[100], "too many errors"));
	rg_config_errors_free(&errs);
	free(body);
}

static void test_oversized_file(void **state)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s", wfile("huge.conf", MINIMAL));
	f = fopen(path, "r+");
	assert_non_null(f);
	assert_int_equal(ftruncate(fileno(f), (off_t)RG_CONFIG_FILE_MAX + 1), 0);
	fclose(f);
	load_err(path, path, 0, "too large");
}

static void test_bad_bytes(void **state)
{
	/* Invalid UTF-8 in a value and a NUL byte: errors, not truncation. */
	const char body[] = "[agent]\ninterfaces = eth0\nstate_dir = /x\xff\n";

	conf_err(body, 3, "invalid UTF-8");

	const char nul[] = "[agent]\ninterfaces = eth0\nmode = enforce\0junk\n";
	FILE *f;
	char path[256];

	snprintf(path, sizeof(path), "%s/nul.conf", tmpdir);
	f = fopen(path, "w");
	assert_non_null(f);
	fwrite(nul, 1, sizeof(nul) - 1, f);
	fclose(f);
	load_err(path, path, 3, "NUL byte");
}

static void test_durations_rates(void **state)
{
	static const struct { const char *s; uint64_t ns; } good[] = {
		{ "0", 0 }, { "30", 30 * NS }, { "30s", 30 * NS }, { "15m", 900 * NS },
		{ "1h", 3600 * NS }, { "1d", 86400 * NS }, { "18446744073s", 18446744073ULL * NS },
	};
	static const char *const bad[] = {
		"", "10x", "-1s", "+1s", "1.5h", " 1s", "1s ", "1 s", "s", "1hh", "1H",
		"18446744074s", "99999999999999999999999", "213503982335d",
	};
	uint64_t ns;
	struct rg_rate r;
	char buf[32];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(rg_parse_duration(good[i].s, &ns), 0);
		assert_int_equal(ns, good[i].ns);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_not_equal(rg_parse_duration(bad[i], &ns), 0);
	assert_int_equal(rg_parse_duration("18446744074s", &ns), -ERANGE);

	assert_int_equal(rg_parse_rate("600/1m", &r), 0);
	assert_int_equal(r.count, 600);
	assert_int_equal(r.period_ns, 60 * NS);
	assert_int_equal(rg_parse_rate("10/s", &r), 0);
	assert_int_equal(r.period_ns, NS);
	assert_int_equal(rg_parse_rate("5/30s", &r), 0);
	assert_int_equal(r.period_ns, 30 * NS);
	assert_int_equal(rg_parse_rate("1/d", &r), 0);
	assert_int_equal(r.period_ns, 86400 * NS);
	assert_int_equal(rg_parse_rate("0", &r), 0);
	assert_int_equal(r.count, 0);
	static const char *const bad_rates[] = {
		"600", "/1m", "600/", "600/0", "600/0s", "-1/s", "1/x", "10x/s", "1/-1s",
		"99999999999999999999999/s", "1/s/s", "1 /s",
	};
	for (size_t i = 0; i < sizeof(bad_rates) / sizeof(bad_rates[0]); i++)
		assert_int_not_equal(rg_parse_rate(bad_rates[i], &r), 0);

	assert_string_equal(rg_format_duration(900 * NS, buf, sizeof(buf)), "15m");
	assert_string_equal(rg_format_duration(90 * NS, buf, sizeof(buf)), "90s");
	assert_string_equal(rg_format_duration(86400 * NS, buf, sizeof(buf)), "1d");
	assert_string_equal(rg_format_duration(0, buf, sizeof(buf)), "0");

	/* In the file: which key and why. */
	conf_err(MINIMAL "[limits]\nflood_block_time = 10x\n", 4,
		 "bad value for 'flood_block_time': '10x'");
	conf_err(MINIMAL "[limits]\nunregistered_window = -1s\n", 4,
		 "bad value for 'unregistered_window'");
	conf_err(MINIMAL "[limits]\nunregistered_window = 0\n", 4, "more than 0");
	conf_err(MINIMAL "[limits]\nblock_duration = 99999999999999d\n", 4, "too large");
	conf_err(MINIMAL "[limits]\nconnection_rate_limit = 600\n", 4,
		 "bad value for 'connection_rate_limit'");
	conf_err(MINIMAL "[limits]\nunregistered_limit = 99999999999999999999999\n", 4,
		 "bad value for 'unregistered_limit'");
	conf_err(MINIMAL "[limits]\nflood_limit = ten\n", 4, "not a number");
}

static void test_100k_tenants(void **state)
{
	char path[256];
	FILE *f;
	const size_t n = 100000;

	snprintf(path, sizeof(path), "%s/big.conf", tmpdir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, MINIMAL);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "[tenant t%zu]\nconnectors = %zu.%zu.%zu.0/24\n"
			   "accepted_domains = t%zu.test *.t%zu.test\n",
			i, 10 + (i >> 16), (i >> 8) & 255, i & 255, i, i);
	assert_int_equal(fclose(f), 0);

	struct rg_config *cfg = load_ok(path);

	assert_int_equal(cfg->n_tenants, n);
	assert_int_equal(rg_config_find_tenant(cfg, "t99999"), 99999);
	assert_int_equal(rg_config_find_tenant(cfg, "t100000"), -1);
	assert_int_equal(tenant_of(cfg, "10.1.134.9"), 390);
	assert_true(registered(cfg, 77777, "x.t77777.test"));
	assert_false(registered(cfg, 77776, "x.t77777.test"));
	assert_int_equal(rg_lpm_count(cfg->connectors), n);
	rg_config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_agent_values),
		cmocka_unit_test(test_design_example),
		cmocka_unit_test(test_shipped_example),
		cmocka_unit_test(test_overrides_limits_after_tenants),
		cmocka_unit_test(test_include_glob),
		cmocka_unit_test(test_include_loop_depth_missing),
		cmocka_unit_test(test_domains_file),
		cmocka_unit_test(test_crlf_bom_comments),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_duplicate_connector_names_both),
		cmocka_unit_test(test_too_many_errors),
		cmocka_unit_test(test_oversized_file),
		cmocka_unit_test(test_bad_bytes),
		cmocka_unit_test(test_durations_rates),
		cmocka_unit_test(test_100k_tenants),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
