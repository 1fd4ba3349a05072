// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * test_config.c: the configuration loader against the reference example of every
 * documented key (config/design.conf), the shipped example, defaults, tenant overrides,
 * includes (glob order, relative paths, loops, depth), domain files, CRLF, BOM, comments,
 * and every error kind with its exact FILE:LINE; durations and rates good and hostile;
 * 100k generated tenants. Fixtures live in tests/unit/config/ (run from the repository
 * root) or are written to a mkdtemp directory. Reports cmocka TAP.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

/* Loading path fails, and some error is exactly "FILE:LINE: ..." containing reason
 * (line -1: "FILE: ...", for a file that could not be opened). */
static void load_err(const char *path, const char *file, int line, const char *reason)
{
	struct rg_config_errors errs = { 0 };
	struct rg_config *cfg = NULL;
	char prefix[512];
	bool found = false;
	int err = rg_config_load(path, &cfg, &errs);

	assert_int_not_equal(err, 0);
	assert_null(cfg);
	if (line < 0)
		snprintf(prefix, sizeof(prefix), "%s: ", file);
	else
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
	/* installed as is, it must not reject mail before the operator has looked */
	assert_int_equal(cfg->mode, RG_MODE_MONITOR);
	assert_int_equal(cfg->defaults.unregistered_limit, 100);
	/* contoso inline, its domains file, and the tenants.d fragment */
	int c = rg_config_find_tenant(cfg, "contoso");
	int n = rg_config_find_tenant(cfg, "northwind");

	assert_true(c >= 0 && n >= 0);
	assert_true(registered(cfg, c, "x.contoso.org"));
	assert_true(registered(cfg, n, "northwind.example"));
	assert_int_equal(cfg->tenants[c].limits.unregistered_limit, 500);
	assert_int_equal(cfg->tenants[n].limits.connection_rate_limit.count, 120);
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
	/* Far beyond any fixed line buffer (inih's was 200 bytes). */
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

/* sasl_users, cert_subjects, cert_fingerprints: parsed into one index, counted per tenant,
 * enough on their own to recognise a tenant (no warning), refused when malformed or when
 * another tenant has the same entry (the error names both tenants). */
static void test_auth_keys(void **state)
{
	struct rg_config *cfg = load_ok(wfile("auth.conf", MINIMAL
		"[tenant a]\nsasl_users = @contoso.com scanner01 scanner01\n"
		"cert_subjects = *.mail.contoso.com relay.contoso.com\n"
		"cert_fingerprints = 6E:1A:0B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8\n"
		"accepted_domains = contoso.com\n"
		"[tenant b]\nsasl_users = @fabrikam.com\naccepted_domains = fabrikam.com\n"));
	struct rg_auth_query qy = { .sasl_username = "x@FABRIKAM.com", .sasl_len = 14 };
	uint32_t t = 9;

	assert_int_equal(cfg->tenants[0].n_auth[RG_AUTH_SASL_USERS], 2);
	assert_int_equal(cfg->tenants[0].n_auth[RG_AUTH_CERT_SUBJECTS], 2);
	assert_int_equal(cfg->tenants[0].n_auth[RG_AUTH_CERT_FINGERPRINTS], 1);
	assert_int_equal(cfg->tenants[1].n_auth[RG_AUTH_SASL_USERS], 1);
	assert_int_equal(cfg->tenants[0].n_connectors, 0);
	assert_int_equal(cfg->warnings.n, 0);
	assert_int_equal(rg_tenant_auth_match(cfg->auth, &qy, &t), RG_MATCH_SASL);
	assert_int_equal(t, 1);
	rg_config_free(cfg);

	conf_err(MINIMAL "[tenant a]\nsasl_users = ok @\n", 4, "bad sasl_users entry '@'");
	conf_err(MINIMAL "[tenant a]\ncert_subjects = *.\n", 4, "bad cert_subjects entry '*.'");
	conf_err(MINIMAL "[tenant a]\ncert_fingerprints = 6E:1A:0B\n", 4,
		 "bad cert_fingerprints entry '6E:1A:0B': a fingerprint is the hex of 16, 20");
	conf_err(MINIMAL "[tenant a]\ncert_fingerprints = 6E:1A:0B:2C:3D:4E:5F:60:71:82:93:A4:B5:"
		 "C6:D7:ZZ\n", 4, "bad cert_fingerprints entry");
	conf_err(MINIMAL "[tenant a]\nsasl_users = scanner01\n[tenant b]\n"
		 "sasl_users = other scanner01\n", 6,
		 "duplicate sasl_users entry 'scanner01' in tenant 'b': already in tenant 'a' (");
	conf_err(MINIMAL "[tenant a]\nsasl_users = @Contoso.com\n[tenant b]\n"
		 "sasl_users = @contoso.COM\n", 6,
		 "duplicate sasl_users entry '@contoso.COM' in tenant 'b': already in tenant 'a'");
	conf_err(MINIMAL "[tenant a]\ncert_subjects = *.mail.contoso.com\n[tenant b]\n"
		 "cert_subjects = *.MAIL.contoso.com\n", 6,
		 "duplicate cert_subjects entry '*.MAIL.contoso.com' in tenant 'b': already in "
		 "tenant 'a'");
	conf_err(MINIMAL "[tenant a]\ncert_fingerprints = 6e1a0b2c3d4e5f60718293a4b5c6d7e8\n"
		 "[tenant b]\ncert_fingerprints = 6E:1A:0B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8\n",
		 6, "duplicate cert_fingerprints entry '6E:1A:0B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:"
		 "E8' in tenant 'b': already in tenant 'a'");
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
	load_err(path, path, -1, "cannot open: No such file");
}

/* [fleet]: off without the section, the keys and their defaults, and each error. */
static void test_fleet(void **state)
{
	struct rg_config *cfg;

	(void)state;
	cfg = load_ok(wfile("nofleet.conf", MINIMAL));
	assert_false(cfg->fleet.enabled);
	assert_null(cfg->fleet.redis);
	rg_config_free(cfg);

	cfg = load_ok(wfile("fleet.conf", MINIMAL "[fleet]\nredis = unix:/run/r.sock\n"
			    "relay_id = relay-1\nredis_timeout = 20ms\n"));
	assert_true(cfg->fleet.enabled);
	assert_string_equal(cfg->fleet.redis, "unix:/run/r.sock");
	assert_string_equal(cfg->fleet.relay_id, "relay-1");
	assert_string_equal(cfg->fleet.key_prefix, "relayguard");
	assert_int_equal(cfg->fleet.redis_timeout_ns, 20000000ULL);
	assert_int_equal(cfg->fleet.redis_db, 0);
	rg_config_free(cfg);

	/* relay_id defaults to the host name. */
	cfg = load_ok(wfile("fleet2.conf", MINIMAL "[fleet]\nredis = inet:127.0.0.1:26000\n"));
	assert_non_null(cfg->fleet.relay_id);
	assert_true(strlen(cfg->fleet.relay_id) > 0);
	assert_int_equal(cfg->fleet.redis_timeout_ns, 50000000ULL);
	rg_config_free(cfg);

	conf_err(MINIMAL "[fleet]\nredis_db = 1\n", 3, "missing required key 'redis' in [fleet]");
	conf_err(MINIMAL "[fleet]\nredis = tcp:1.2.3.4:5\n", 4, "bad value for 'redis'");
	conf_err(MINIMAL "[fleet]\nredis = unix:rel.sock\n", 4, "absolute path");
	conf_err(MINIMAL "[fleet]\nsentinels = inet:192.0.2.5:26379\n", 3,
		 "missing required key 'redis' in [fleet]");
	conf_err(MINIMAL "[fleet]\nredis = unix:/r\nsentinels = inet:192.0.2.5:26379\n", 3,
		 "sentinels need sentinel_master");
	conf_err(MINIMAL "[fleet]\nredis = unix:/r\nsentinel_master = m\n", 3,
		 "sentinel_master needs sentinels");
	conf_err(MINIMAL "[fleet]\nredis = unix:/r\nrelay_id = a/b\n", 5,
		 "bad value for 'relay_id'");
	conf_err(MINIMAL "[fleet]\nredis = unix:/r\nkey_prefix = a:b\n", 5,
		 "bad value for 'key_prefix'");
	conf_err(MINIMAL "[fleet]\nredis = unix:/r\nredis_timeout = 100us\n", 5,
		 "bad value for 'redis_timeout'");
	conf_err(MINIMAL "[fleet]\nredis = unix:/r\nredis = unix:/s\n", 5, "duplicate key");
	conf_err(MINIMAL "[fleet]\nredis = unix:/r\npassword = x\n", 5,
		 "unknown key 'password' in [fleet]");
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
		{ "1h", 3600 * NS }, { "1d", 86400 * NS },
		/* the longest: now + it still fits the state file's signed 64-bit times */
		{ "106751d", 106751ULL * 86400 * NS }, { "9223372036s", 9223372036ULL * NS },
	};
	static const char *const bad[] = {
		"", "10x", "-1s", "+1s", "1.5h", " 1s", "1s ", "1 s", "s", "1hh", "1H",
		"18446744074s", "99999999999999999999999", "213503982335d",
		"106752d", "9223372037s", "213503d", "18446744073s",
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
	assert_int_equal(rg_parse_duration("213503d", &ns), -ERANGE);

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
	fprintf(f, MINIMAL "connector_table_size = 131072\n");	/* 100k connectors */
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

/* ---- more: exact errors of many kinds in one file, include and main-file failures ---- */

/* tmpdir/name; the returned path stays valid until the next 8 calls. */
static const char *tpath(const char *name)
{
	static char bufs[8][PATH_MAX];
	static unsigned next;
	char *b = bufs[next++ % 8];

	snprintf(b, PATH_MAX, "%s/%s", tmpdir, name);
	return b;
}

/* Write tmpdir/name (making its directory); returns the path like tpath(). */
static const char *write_tmp_len(const char *name, const char *content, size_t len)
{
	const char *p = tpath(name);
	char dir[PATH_MAX];
	FILE *f;

	snprintf(dir, sizeof(dir), "%s", p);
	*strrchr(dir, '/') = '\0';
	mkdir(dir, 0755);
	f = fopen(p, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(content, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	return p;
}

static const char *write_tmp(const char *name, const char *content)
{
	return write_tmp_len(name, content, strlen(content));
}

static void dump_errors(const struct rg_config_errors *e)
{
	for (size_t i = 0; i < e->n; i++)
		fprintf(stderr, "#   error: %s\n", e->msgs[i]);
}

/* Load and expect failure with want_rc; errs filled for expect_err(). */
static void load_bad(const char *path, struct rg_config_errors *errs, int want_rc)
{
	struct rg_config *cfg = (struct rg_config *)1;
	int rc = rg_config_load(path, &cfg, errs);

	if (rc != want_rc) {
		dump_errors(errs);
		fail_msg("loading %s: rc %d, want %d", path, rc, want_rc);
	}
	assert_null(cfg);
	assert_true(errs->n > 0);
}

/* Some message is exactly "file:line: ..." with substr in its reason (line 0: the file). */
static void expect_err(const struct rg_config_errors *e, const char *file, int line,
		       const char *substr)
{
	char prefix[PATH_MAX + 32];
	size_t pl;

	snprintf(prefix, sizeof(prefix), "%s:%d: ", file, line);
	pl = strlen(prefix);
	for (size_t i = 0; i < e->n; i++)
		if (!strncmp(e->msgs[i], prefix, pl) && strstr(e->msgs[i] + pl, substr))
			return;
	dump_errors(e);
	fail_msg("no error '%s%s'", prefix, substr);
}

static void test_every_agent_key(void **state)
{
	struct rg_config *cfg = load_ok(write_tmp("agent.conf",
		"[agent]\n"
		"interfaces = veth0 veth1\n"
		"interfaces = eth2\n"
		"attach_mode = generic\n"
		"smtp_ports = 2525\n"
		"smtp_ports = 10025\n"
		"policy_listen = unix:/tmp/rg/policy inet:127.0.0.1:10040\n"
		"policy_listen = inet:[::1]:10041\n"
		"control_socket = /tmp/rg/control.sock\n"
		"metrics_listen = inet:localhost:9555\n"
		"state_dir = /tmp/rg/state\n"
		"pin_dir = /sys/fs/bpf/rg-test\n"
		"audit_log = /tmp/rg/audit.jsonl\n"
		"mode = monitor\n"
		"fail_mode = closed\n"
		"host_prefix_v4 = 24\n"
		"host_prefix_v6 = 128\n"
		"host_table_size = 4096\n"
		"flow_table_size = 1024\n"
		"verdict_table_size = 512\n"
		"max_policy_connections = 64\n"
		"policy_idle_timeout = 1m\n"
		"policy_request_timeout = 30\n"
		"log_level = warn\n"));

	assert_int_equal(cfg->n_interfaces, 3);
	assert_string_equal(cfg->interfaces[2], "eth2");
	assert_int_equal(cfg->attach_mode, RG_ATTACH_GENERIC);
	/* the first setting replaces the default list, a repeat appends */
	assert_int_equal(cfg->n_smtp_ports, 2);
	assert_int_equal(cfg->smtp_ports[0], 2525);
	assert_int_equal(cfg->smtp_ports[1], 10025);
	assert_int_equal(cfg->n_policy_listen, 3);
	assert_string_equal(cfg->policy_listen[0], "unix:/tmp/rg/policy");
	assert_string_equal(cfg->policy_listen[1], "inet:127.0.0.1:10040");
	assert_string_equal(cfg->control_socket, "/tmp/rg/control.sock");
	assert_string_equal(cfg->metrics_listen, "inet:localhost:9555");
	assert_string_equal(cfg->state_dir, "/tmp/rg/state");
	assert_string_equal(cfg->pin_dir, "/sys/fs/bpf/rg-test");
	assert_string_equal(cfg->audit_log, "/tmp/rg/audit.jsonl");
	assert_int_equal(cfg->host_prefix_v6, 128);
	assert_int_equal(cfg->flow_table_size, 1024);
	assert_int_equal(cfg->verdict_table_size, 512);
	assert_int_equal(cfg->max_policy_connections, 64);
	assert_int_equal(cfg->policy_request_timeout_ns, 30 * NS);
	assert_int_equal(cfg->log_level, RG_LOG_WARN);
	rg_config_free(cfg);
}

static void test_include_errors(void **state)
{
	struct rg_config_errors e = { 0 };
	char dirinc[PATH_MAX];

	/* self include through a glob */
	write_tmp("self/x.conf", "[agent]\ninterfaces = eth0\ninclude = *.conf\n");
	load_bad(tpath("self/x.conf"), &e, -EINVAL);
	expect_err(&e, tpath("self/x.conf"), 3, "include loop");
	rg_config_errors_free(&e);

	/* a literal include that is missing, a directory, an oversized file; a glob with no
	 * match is fine */
	write_tmp("miss/m.conf", "[agent]\ninterfaces = eth0\ninclude = nope.conf\n"
				 "include = sub\n"
				 "include = big.conf\n"
				 "include = none-*.conf\n");
	snprintf(dirinc, sizeof(dirinc), "%s", tpath("miss/sub"));
	mkdir(dirinc, 0755);
	int fd = open(tpath("miss/big.conf"), O_CREAT | O_WRONLY | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, RG_CONFIG_FILE_MAX + 1), 0);
	close(fd);
	load_bad(tpath("miss/m.conf"), &e, -EINVAL);
	expect_err(&e, tpath("miss/m.conf"), 3, "cannot read included file");
	expect_err(&e, tpath("miss/m.conf"), 3, "No such file");
	expect_err(&e, tpath("miss/m.conf"), 4, "Is a directory");
	expect_err(&e, tpath("miss/m.conf"), 5, "too large");
	assert_int_equal(e.n, 3);
	rg_config_errors_free(&e);

	/* a file of exactly the cap is fine (blank lines) */
	char *blank = malloc(RG_CONFIG_FILE_MAX);

	assert_non_null(blank);
	memset(blank, '\n', RG_CONFIG_FILE_MAX);
	write_tmp_len("capok/big.conf", blank, RG_CONFIG_FILE_MAX);
	free(blank);
	write_tmp("capok/m.conf", "[agent]\ninterfaces = eth0\ninclude = big.conf\n");
	rg_config_free(load_ok(tpath("capok/m.conf")));
	unlink(tpath("capok/big.conf"));
	unlink(tpath("miss/big.conf"));
}

static void test_main_file_errors(void **state)
{
	struct rg_config_errors e = { 0 };
	struct rg_config *cfg = NULL;

	char want[PATH_MAX + 64];

	/* no line to name: "FILE: cannot open: reason" */
	assert_int_equal(rg_config_load(tpath("does-not-exist.conf"), &cfg, &e), -ENOENT);
	assert_null(cfg);
	snprintf(want, sizeof(want), "%s: cannot open: No such file or directory",
		 tpath("does-not-exist.conf"));
	assert_int_equal(e.n, 1);
	assert_string_equal(e.msgs[0], want);
	rg_config_errors_free(&e);

	int fd = open(tpath("huge2.conf"), O_CREAT | O_WRONLY | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)RG_CONFIG_FILE_MAX + 4096), 0);
	close(fd);
	assert_int_equal(rg_config_load(tpath("huge2.conf"), &cfg, &e), -EFBIG);
	expect_err(&e, tpath("huge2.conf"), 0, "too large");
	rg_config_errors_free(&e);
	unlink(tpath("huge2.conf"));

	/* a directory, and errs may be NULL */
	assert_int_equal(rg_config_load(tmpdir, &cfg, NULL), -EISDIR);
	assert_int_equal(rg_config_load(tpath("does-not-exist.conf"), &cfg, NULL), -ENOENT);
}

/* Every error kind, all collected from one file, each at its own line. */
static void test_every_error_one_file(void **state)
{
	struct rg_config_errors e = { 0 };
	const char *p = write_tmp("errors.conf",
		"stray = 1\n"				/* 1 */
		"[agent]\n"				/* 2 */
		"colour = blue\n"			/* 3 */
		"attach_mode = turbo\n"			/* 4 */
		"smtp_ports = 25 0 70000 x\n"		/* 5 */
		"host_prefix_v4 = 33\n"			/* 6 */
		"host_prefix_v6 = 0\n"			/* 7 */
		"policy_listen = tcp:1.2.3.4:5\n"	/* 8 */
		"state_dir = relative/dir\n"		/* 9 */
		"mode = enforce\n"			/* 10 */
		"mode = monitor\n"			/* 11 */
		"[bogus]\n"				/* 12 */
		"ignored = quietly\n"			/* 13 */
		"[limits]\n"				/* 14 */
		"unregistered_window = 10x\n"		/* 15 */
		"block_duration = -1s\n"		/* 16 */
		"flood_block_time = 99999999999999d\n"	/* 17 */
		"connection_rate_limit = 600/1w\n"	/* 18 */
		"unregistered_limit = lots\n"		/* 19 */
		"frobnicate = 1\n"			/* 20 */
		"[tenant a]\n"				/* 21 */
		"connectors = 192.0.2.0/24 192.0.2.1/24 10.0.0.0/33 junk\n" /* 22 */
		"accepted_domains = good.example bad..example\n" /* 23 */
		"[tenant b]\n"				/* 24 */
		"connectors = 192.0.2.0/24 192.0.2.0/25\n" /* 25 */
		"wat = 1\n"				/* 26 */
		"[tenant a]\n"				/* 27 */
		"[tenant bad/name]\n"			/* 28 */
		"[tenant caf\xc3\xa9]\n"		/* 29: valid UTF-8, bad name */
		"[tenant x\xff\xfe]\n"			/* 30 */
		"k\xe9y = 1\n"				/* 31 */
		"[agent\n"				/* 32 */
		"no equals sign here\n"			/* 33 */
		"key:x = value\n"			/* 34 */
		"[tenant]\n"				/* 35 */
		"[tenant c]\n"				/* 36 */
		"flood_limit = 1\n"			/* 37 */
		"flood_limit = 2\n"			/* 38 */
		"accepted_domains_file = missing.domains\n" /* 39 */
		"nul = a");				/* 40: rewritten below */

	/* 40: a NUL byte in the line; 41, 42: back in [agent] */
	static const char tail[] = "nul = a\0b\n[agent]\nmetrics_listen = inet:127.0.0.1\n";
	FILE *f = fopen(p, "r+");

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	long off = ftell(f);

	assert_int_equal(fseek(f, off - (long)strlen("nul = a"), SEEK_SET), 0);
	assert_int_equal(fwrite(tail, 1, sizeof(tail) - 1, f), sizeof(tail) - 1);
	fclose(f);

	load_bad(p, &e, -EINVAL);
	expect_err(&e, p, 1, "key 'stray' outside any section");
	expect_err(&e, p, 2, "missing required key 'interfaces' in [agent]");
	expect_err(&e, p, 3, "unknown key 'colour' in [agent]");
	expect_err(&e, p, 4, "bad value for 'attach_mode': 'turbo': expected auto, native");
	expect_err(&e, p, 5, "bad port '0' in smtp_ports");
	expect_err(&e, p, 5, "bad port '70000' in smtp_ports");
	expect_err(&e, p, 5, "bad port 'x' in smtp_ports");
	expect_err(&e, p, 6, "bad prefix '33' for host_prefix_v4");
	expect_err(&e, p, 7, "bad prefix '0' for host_prefix_v6");
	expect_err(&e, p, 8, "bad value for 'policy_listen': 'tcp:1.2.3.4:5'");
	expect_err(&e, p, 9, "bad value for 'state_dir': 'relative/dir': an absolute path");
	expect_err(&e, p, 11, "duplicate key 'mode'");
	expect_err(&e, p, 12, "unknown section [bogus]");
	expect_err(&e, p, 15, "bad value for 'unregistered_window': '10x': not a duration");
	expect_err(&e, p, 16, "bad value for 'block_duration': '-1s'");
	expect_err(&e, p, 17, "duration too large");
	expect_err(&e, p, 18, "bad value for 'connection_rate_limit': '600/1w': not a rate");
	expect_err(&e, p, 19, "bad value for 'unregistered_limit': 'lots': not a number");
	expect_err(&e, p, 20, "unknown key 'frobnicate' in [limits]");
	expect_err(&e, p, 22, "bad CIDR '192.0.2.1/24' in connectors: host bits set");
	expect_err(&e, p, 22, "bad CIDR '10.0.0.0/33'");
	expect_err(&e, p, 22, "bad CIDR 'junk'");
	expect_err(&e, p, 23, "bad domain 'bad..example'");
	char want[PATH_MAX + 64];

	snprintf(want, sizeof(want), "duplicate connector 192.0.2.0/24: already a connector of "
		 "tenant 'a' (%s:21)", p);
	expect_err(&e, p, 25, want);
	expect_err(&e, p, 26, "unknown key 'wat' in [tenant b]");
	snprintf(want, sizeof(want), "duplicate tenant 'a' (first defined at %s:21)", p);
	expect_err(&e, p, 27, want);
	expect_err(&e, p, 28, "bad tenant name 'bad/name'");
	expect_err(&e, p, 29, "bad tenant name 'caf?" "?'");
	expect_err(&e, p, 30, "invalid UTF-8");
	expect_err(&e, p, 31, "invalid UTF-8");
	expect_err(&e, p, 32, "bad section header");
	expect_err(&e, p, 33, "expected 'key = value' or '[section]'");
	expect_err(&e, p, 34, "bad key 'key:x'");
	expect_err(&e, p, 35, "needs a name");
	expect_err(&e, p, 38, "duplicate key 'flood_limit' in [tenant c]");
	expect_err(&e, p, 39, "cannot read accepted_domains_file");
	expect_err(&e, p, 40, "NUL byte");
	expect_err(&e, p, 42, "bad value for 'metrics_listen': 'inet:127.0.0.1'");

	char l13[PATH_MAX + 8];

	snprintf(l13, sizeof(l13), "%s:13:", p);
	for (size_t i = 0; i < e.n; i++) {
		/* nothing from inside the unknown section */
		assert_null(strstr(e.msgs[i], l13));
		/* operator text never reaches a message raw */
		for (const char *c = e.msgs[i]; *c; c++)
			assert_true(*c >= 0x20 && *c < 0x7f);
	}
	rg_config_errors_free(&e);
}

/* tenant_mark_mask: decimal or 0x hex, 32 bits, default 0; anything else refused. */
static void test_tenant_mark_mask(void **state)
{
	static const char *const bad[] = { "-1", "0x100000000", "+5", "0xff00 ff",
					   "mask", "0x", "99999999999999999999999" };
	struct rg_config *cfg = load_ok(wfile("m.conf", "[agent]\ninterfaces = eth0\n"));

	assert_int_equal(cfg->tenant_mark_mask, 0);
	rg_config_free(cfg);
	cfg = load_ok(wfile("m.conf", "[agent]\ninterfaces = eth0\ntenant_mark_mask = 0xff00\n"));
	assert_int_equal(cfg->tenant_mark_mask, 0xff00);
	rg_config_free(cfg);
	cfg = load_ok(wfile("m.conf", "[agent]\ninterfaces = eth0\ntenant_mark_mask = 4294967295\n"));
	assert_int_equal(cfg->tenant_mark_mask, 0xffffffffU);
	rg_config_free(cfg);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct rg_config_errors e = { 0 };
		char text[128];
		const char *p;

		snprintf(text, sizeof(text), "[agent]\ninterfaces = eth0\ntenant_mark_mask = %s\n",
			 bad[i]);
		p = write_tmp("mbad.conf", text);
		load_bad(p, &e, -EINVAL);
		expect_err(&e, p, 3, "'tenant_mark_mask'");
		rg_config_errors_free(&e);
	}
}

static void test_bad_values_more(void **state)
{
	struct rg_config_errors e = { 0 };
	const char *p = write_tmp("values.conf",
		"[agent]\n"				/* 1 */
		"interfaces = eth0 eth0\n"		/* 2 */
		"interfaces = bad/name averyveryverylongname\n" /* 3 */
		"host_table_size = 0\n"			/* 4 */
		"flow_table_size = 99999999999999999999999\n" /* 5 */
		"policy_idle_timeout = 0\n"		/* 6 */
		"policy_request_timeout = 1.5s\n"	/* 7 */
		"log_level = verbose\n"			/* 8 */
		"fail_mode = OPEN\n"			/* 9 */
		"policy_listen = unix:relative inet:host:0 inet:[zz]:25 inet:::1:25\n" /* 10 */
		"smtp_ports = 25 25\n"			/* 11 */
		"[limits]\n"				/* 12 */
		"connection_rate_limit = 10/0s\n"	/* 13 */
		"unregistered_window = 0\n"		/* 14 */
		"unregistered_limit = 1000000001\n"	/* 15 */
		"flood_block_time = 1 m\n"		/* 16 */
		"block_duration = 1h30m\n"		/* 17 */
		"[tenant t]\n"				/* 18 */
		"accepted_domains_file =\n"		/* 19 */
		"include =\n");				/* 20 */

	load_bad(p, &e, -EINVAL);
	expect_err(&e, p, 2, "'eth0': listed twice");
	expect_err(&e, p, 3, "'bad/name': not an interface name");
	expect_err(&e, p, 3, "'averyveryverylongname': not an interface name");
	expect_err(&e, p, 4, "'host_table_size': '0': out of range");
	expect_err(&e, p, 5, "'flow_table_size'");
	expect_err(&e, p, 6, "'policy_idle_timeout': '0': must be more than 0");
	expect_err(&e, p, 7, "'policy_request_timeout': '1.5s': not a duration");
	expect_err(&e, p, 8, "'log_level': 'verbose': expected err, warn, info or debug");
	expect_err(&e, p, 9, "'fail_mode': 'OPEN'");
	expect_err(&e, p, 10, "'unix:relative': unix: needs an absolute path");
	expect_err(&e, p, 10, "'inet:host:0': bad port");
	expect_err(&e, p, 10, "'inet:[zz]:25': bad [IPv6] address");
	/* The agent could not bind it (listen.c): refused by the check too. */
	expect_err(&e, p, 10, "'inet:::1:25': an IPv6 address needs brackets: inet:[ADDR]:PORT");
	expect_err(&e, p, 11, "bad port '25' in smtp_ports: listed twice");
	expect_err(&e, p, 13, "'connection_rate_limit': '10/0s'");
	expect_err(&e, p, 14, "'unregistered_window': '0': must be more than 0");
	expect_err(&e, p, 15, "'unregistered_limit': '1000000001': out of range");
	expect_err(&e, p, 16, "'flood_block_time': '1 m'");
	expect_err(&e, p, 17, "'block_duration': '1h30m'");
	expect_err(&e, p, 19, "'accepted_domains_file': '': a path is required");
	expect_err(&e, p, 20, "'include': '': a file or glob is required");
	rg_config_errors_free(&e);
}

/* The notification keys and over_budget_action: defaults, values, and the hostile
 * addresses notify_mailto refuses (they reach sendmail's command line and a header). */
static void test_notify_keys(void **state)
{
	struct rg_config_errors e = { 0 };
	struct rg_config *cfg = load_ok(write_tmp("notify-def.conf",
		"[agent]\ninterfaces = eth0\n"));
	const char *p;

	assert_null(cfg->notify_command);
	assert_int_equal(cfg->notify_timeout_ns, 30 * NS);
	assert_int_equal(cfg->notify_max_running, 4);
	assert_int_equal(cfg->defaults.over_budget_action, RG_OVER_REJECT);
	assert_string_equal(cfg->defaults.notify_mailto, "");
	rg_config_free(cfg);

	cfg = load_ok(write_tmp("notify.conf",
		"[agent]\ninterfaces = eth0\n"
		"notify_command = /usr/lib/relayguard/notify\n"
		"notify_timeout = 2m\nnotify_max_running = 64\n"
		"[limits]\nover_budget_action = hold\n"
		"notify_mailto = noc@relay.example\n"
		"[tenant a]\nconnectors = 192.0.2.0/24\naccepted_domains = a.example\n"
		"over_budget_action = defer\n"
		"notify_mailto = admin@a.example   ops+relay@a.example\n"
		"[tenant b]\nconnectors = 198.51.100.0/24\naccepted_domains = b.example\n"));
	assert_string_equal(cfg->notify_command, "/usr/lib/relayguard/notify");
	assert_int_equal(cfg->notify_timeout_ns, 120 * NS);
	assert_int_equal(cfg->notify_max_running, 64);
	assert_int_equal(cfg->tenants[0].limits.over_budget_action, RG_OVER_DEFER);
	assert_string_equal(cfg->tenants[0].limits.notify_mailto,
			    "admin@a.example ops+relay@a.example");
	assert_int_equal(cfg->tenants[1].limits.over_budget_action, RG_OVER_HOLD);
	assert_string_equal(cfg->tenants[1].limits.notify_mailto, "noc@relay.example");
	rg_config_free(cfg);

	cfg = load_ok(write_tmp("notify-empty.conf",
		"[agent]\ninterfaces = eth0\nnotify_command =\n"));
	assert_null(cfg->notify_command);
	rg_config_free(cfg);

	p = write_tmp("notify-bad.conf",
		"[agent]\n"				/* 1 */
		"interfaces = eth0\n"			/* 2 */
		"notify_command = notify.sh\n"		/* 3 */
		"notify_timeout = 2d\n"			/* 4 */
		"notify_max_running = 0\n"		/* 5 */
		"[limits]\n"				/* 6 */
		"over_budget_action = quarantine\n"	/* 7 */
		"notify_mailto = -oQ/tmp@x.example\n"	/* 8 */
		"[tenant a]\n"				/* 9 */
		"connectors = 192.0.2.0/24\n"		/* 10 */
		"notify_mailto = a@b.example,c@d.example\n" /* 11 */
		"[tenant b]\n"				/* 12 */
		"connectors = 198.51.100.0/24\n"	/* 13 */
		"notify_mailto = nobody\n"		/* 14 */
		"[tenant c]\n"				/* 15 */
		"connectors = 203.0.113.0/24\n"		/* 16 */
		"notify_mailto = <a@b.example>\n");	/* 17 */
	load_bad(p, &e, -EINVAL);
	expect_err(&e, p, 3, "'notify_command': 'notify.sh': an absolute path is required");
	expect_err(&e, p, 4, "'notify_timeout': '2d': at most 1d");
	expect_err(&e, p, 5, "'notify_max_running': '0': out of range 1..64");
	expect_err(&e, p, 7, "'over_budget_action': 'quarantine': expected reject, hold or "
		   "defer");
	expect_err(&e, p, 8, "'-oQ/tmp@x.example': not a mail address");
	expect_err(&e, p, 11, "'a@b.example,c@d.example': not a mail address");
	expect_err(&e, p, 14, "'nobody': not a mail address");
	expect_err(&e, p, 17, "'<a@b.example>': not a mail address");
	rg_config_errors_free(&e);

	/* Longer than the list holds. */
	{
		char big[2048] = "[agent]\ninterfaces = eth0\n[limits]\nnotify_mailto =";

		for (int i = 0; i < 40; i++)
			strcat(big, " someone.with.a.long.name@example.org");
		strcat(big, "\n");
		p = write_tmp("notify-long.conf", big);
		load_bad(p, &e, -EINVAL);
		expect_err(&e, p, 4, "notify_mailto too long (at most 511 bytes)");
		rg_config_errors_free(&e);
	}
}

static void test_domains_file_lines(void **state)
{
	struct rg_config_errors e = { 0 };

	write_tmp("dom/t.domains",
		  "\xef\xbb\xbf# accepted domains\r\n"	/* 1 */
		  "ok.example\r\n"			/* 2 */
		  "\r\n"				/* 3 */
		  "  *.wild.example   # comment\r\n"	/* 4 */
		  "ok2.example domain!.example\n"	/* 5: two entries, the second bad */
		  "x..example\n"			/* 6 */
		  "last.example");			/* 7, no newline */
	const char *p = write_tmp("dom/main.conf", "[agent]\ninterfaces = eth0\n"
						   "[tenant t]\n"
						   "accepted_domains_file = t.domains\n");
	load_bad(p, &e, -EINVAL);
	expect_err(&e, tpath("dom/t.domains"), 5, "bad domain 'domain!.example'");
	expect_err(&e, tpath("dom/t.domains"), 6, "bad domain 'x..example'");
	assert_int_equal(e.n, 2);
	rg_config_errors_free(&e);

	write_tmp("dom/good.domains", "\xef\xbb\xbfone.example\r\n# two\r\n\r\n"
				      "*.three.example # c\nfour.example");
	p = write_tmp("dom/good.conf", "[agent]\ninterfaces = eth0\n"
				       "[tenant t]\n"
				       "accepted_domains = zero.example\n"
				       "accepted_domains_file = good.domains\n"
				       "accepted_domains_file = ../dom/good.domains\n");
	struct rg_config *cfg = load_ok(p);

	/* the same file twice: counted per entry line, matched once */
	assert_int_equal(cfg->tenants[0].n_domains, 7);
	assert_true(registered(cfg, 0, "one.example"));
	assert_true(registered(cfg, 0, "x.three.example"));
	assert_false(registered(cfg, 0, "three.example"));
	assert_true(registered(cfg, 0, "four.example"));
	assert_false(registered(cfg, 0, "two"));
	rg_config_free(cfg);
}

static void test_syntax_variants(void **state)
{
	struct rg_config_errors e = { 0 };
	/* '#' only starts a comment at the start or after a space or tab */
	const char *p = write_tmp("syntax.conf",
		"[agent]\n"
		"interfaces = eth0\n"
		"smtp_ports = 25#not-a-comment\n");

	load_bad(p, &e, -EINVAL);
	expect_err(&e, p, 3, "bad port '25#not-a-comment'");
	assert_int_equal(e.n, 1);
	rg_config_errors_free(&e);

	p = write_tmp("syntax2.conf",
		"\xef\xbb\xbf# leading comment\r\n"
		"; semicolon comment\r\n"
		"   [agent]   # inline\r\n"
		"\tinterfaces =\teth0\t  eth1   # required; one or more\r\n"
		"state_dir = /var/lib/rg#x   ; inline semicolon\r\n"
		"[ tenant   spaced ]\r\n"
		"accepted_domains = a.example\r\n"
		"  accepted_domains = b.example c.example\r\n");
	struct rg_config *cfg = load_ok(p);

	assert_int_equal(cfg->n_interfaces, 2);
	assert_string_equal(cfg->interfaces[1], "eth1");
	assert_string_equal(cfg->state_dir, "/var/lib/rg#x");
	assert_int_equal(cfg->n_tenants, 1);
	assert_string_equal(cfg->tenants[0].name, "spaced");
	assert_int_equal(cfg->tenants[0].n_domains, 3);
	assert_true(registered(cfg, 0, "c.example"));
	rg_config_free(cfg);

	/* a BOM anywhere but the start is not whitespace */
	p = write_tmp("bom2.conf", "[agent]\n\xef\xbb\xbfinterfaces = eth0\n");
	load_bad(p, &e, -EINVAL);
	expect_err(&e, p, 2, "bad key");
	rg_config_errors_free(&e);
}

/* Lines far longer than a fixed line buffer keep their whole value and the line count. */
static void test_long_lines_connectors(void **state)
{
	size_t cap = 64 * 1024;
	char *buf = malloc(cap);
	size_t n = 0;

	assert_non_null(buf);
	n += (size_t)snprintf(buf + n, cap - n, "[agent]\ninterfaces = eth0\n[tenant big]\n"
				 "accepted_domains =");
	for (int i = 0; i < 2000; i++)
		n += (size_t)snprintf(buf + n, cap - n, " d%d.example", i);
	n += (size_t)snprintf(buf + n, cap - n, "\nconnectors =");
	for (int i = 0; i < 200; i++)
		n += (size_t)snprintf(buf + n, cap - n, " 198.51.100.%d/32", i);
	n += (size_t)snprintf(buf + n, cap - n, "\nflood_limit = 3\nconnectors = ");
	for (int i = 0; i < 100; i++)
		n += (size_t)snprintf(buf + n, cap - n, "2001:db8:%x::/48 ", i);
	n += (size_t)snprintf(buf + n, cap - n, "bad..cidr\n");
	const char *p = write_tmp("long.conf", buf);
	struct rg_config_errors e = { 0 };

	load_bad(p, &e, -EINVAL);
	expect_err(&e, p, 7, "bad CIDR 'bad..cidr'");
	assert_int_equal(e.n, 1);
	rg_config_errors_free(&e);

	/* without the bad one: everything is there */
	buf[n - strlen("bad..cidr\n")] = '\n';
	buf[n - strlen("bad..cidr\n") + 1] = '\0';
	struct rg_config *cfg = load_ok(write_tmp("long2.conf", buf));

	assert_int_equal(cfg->tenants[0].n_domains, 2000);
	assert_int_equal(cfg->tenants[0].n_connectors, 300);
	assert_int_equal(cfg->tenants[0].limits.flood_limit, 3);
	assert_int_equal(tenant_of(cfg, "198.51.100.199"), 0);
	assert_int_equal(tenant_of(cfg, "2001:db8:63::1"), 0);
	assert_int_equal(tenant_of(cfg, "2001:db8:64::1"), -1);
	rg_config_free(cfg);
	free(buf);
}

static void test_duration_edges(void **state)
{
	uint64_t ns;
	struct rg_rate r;
	char buf[32];

	/* the largest whole number of days whose expiry fits a signed 64-bit time, and one
	 * more; 213503d fits 64 unsigned bits but now + it wrapped into the past */
	assert_int_equal(rg_parse_duration("106751d", &ns), 0);
	assert_int_equal(rg_parse_duration("106752d", &ns), -ERANGE);
	assert_int_equal(rg_parse_duration("213503d", &ns), -ERANGE);
	assert_int_equal(rg_parse_duration("213504d", &ns), -ERANGE);
	assert_int_equal(rg_parse_duration("18446744073709551616", &ns), -ERANGE);
	assert_int_not_equal(rg_parse_duration("1w", &ns), 0);
	assert_int_not_equal(rg_parse_duration("0x10", &ns), 0);
	assert_int_not_equal(rg_parse_duration(NULL, &ns), 0);
	assert_int_equal(rg_parse_rate("3/45", &r), 0);
	assert_int_equal(r.period_ns, 45 * NS);
	assert_int_equal(rg_parse_rate("0/1m", &r), 0);
	assert_int_equal(r.count, 0);
	assert_int_equal(rg_parse_rate("1/9999999999999999d", &r), -ERANGE);
	assert_int_not_equal(rg_parse_rate("600/1m/2", &r), 0);
	assert_int_not_equal(rg_parse_rate("600/ 1m", &r), 0);

	assert_string_equal(rg_format_duration(25 * 3600 * NS, buf, sizeof(buf)), "25h");
	assert_string_equal(rg_format_duration(1500000000ULL, buf, sizeof(buf)), "1500ms");
	assert_string_equal(rg_format_duration(7, buf, sizeof(buf)), "7ns");
	assert_string_equal(rg_format_duration(900 * NS, buf, 3), "");
	/* parse(format(x)) == x for whole seconds */
	static const uint64_t secs[] = { 1, 59, 60, 61, 3599, 3600, 86399, 86400, 604800 };
	for (size_t i = 0; i < sizeof(secs) / sizeof(secs[0]); i++) {
		rg_format_duration(secs[i] * NS, buf, sizeof(buf));
		assert_int_equal(rg_parse_duration(buf, &ns), 0);
		assert_int_equal(ns, secs[i] * NS);
	}
}

/* More connectors than connector_table_size (default 65536, the kernel map's size) are
 * refused with the count and the limit; a larger connector_table_size takes them. */
static void test_connector_limit(void **state)
{
	enum { N = 100003 };
	size_t cap = (size_t)N * 20 + 256, n = 0;
	char *buf = malloc(cap), *sized = malloc(cap + 64);
	struct rg_config_errors e = { 0 };

	assert_non_null(buf);
	assert_non_null(sized);
	n += (size_t)snprintf(buf + n, cap - n, "[tenant big]\naccepted_domains = big.example\n"
				 "connectors =");
	for (int i = 0; i < N; i++)
		n += (size_t)snprintf(buf + n, cap - n, " 10.%d.%d.%d", i >> 16, (i >> 8) & 0xff,
				      i & 0xff);
	snprintf(buf + n, cap - n, "\n");
	snprintf(sized, cap + 64, "[agent]\ninterfaces = eth0\n%s", buf);
	const char *p = write_tmp("conn_over.conf", sized);

	load_bad(p, &e, -EINVAL);
	expect_err(&e, p, 0, "100003 connectors, more than connector_table_size (65536)");
	rg_config_errors_free(&e);

	snprintf(sized, cap + 64, "[agent]\ninterfaces = eth0\nconnector_table_size = 131072\n%s",
		 buf);
	struct rg_config *cfg = load_ok(write_tmp("conn_sized.conf", sized));

	assert_int_equal(cfg->connector_table_size, 131072);
	assert_int_equal(rg_config_n_connectors(cfg), N);
	rg_config_free(cfg);
	free(buf);
	free(sized);
	(void)state;
}

/* 100k tenants, 1M accepted domains, 200k connectors, spread over included files. */
static void test_1m_domains_included(void **state)
{
	enum { TENANTS = 100000, DOMAINS_PER = 10, FILES = 4 };
	char name[64];

	for (int fi = 0; fi < FILES; fi++) {
		snprintf(name, sizeof(name), "many/t.d/%02d.conf", fi);
		FILE *f = NULL;
		char dir[PATH_MAX];

		snprintf(dir, sizeof(dir), "%s", tpath("many"));
		mkdir(dir, 0755);
		snprintf(dir, sizeof(dir), "%s", tpath("many/t.d"));
		mkdir(dir, 0755);
		f = fopen(tpath(name), "w");
		assert_non_null(f);
		for (int t = fi; t < TENANTS; t += FILES) {
			fprintf(f, "[tenant t%06d]\nconnectors = 10.%d.%d.%d 2001:db8:%x:%x::/64\n"
				   "accepted_domains =", t, t >> 16, (t >> 8) & 0xff, t & 0xff, t >> 16,
				t & 0xffff);
			for (int d = 0; d < DOMAINS_PER; d++)
				fprintf(f, " d%d.t%06d.example", d, t);
			fprintf(f, "\n");
			if (t % 1000 == 0)
				fprintf(f, "unregistered_limit = %d\n", t);
		}
		assert_int_equal(fclose(f), 0);
	}
	/* 200k connectors: over the default connector map, so the map is sized for them */
	const char *mainp = write_tmp("many/main.conf", "[agent]\ninterfaces = eth0\n"
							"connector_table_size = 262144\n"
							"include = t.d/*.conf\n");
	struct rg_config *cfg = load_ok(mainp);

	assert_int_equal(cfg->n_tenants, TENANTS);
	assert_int_equal(rg_lpm_count(cfg->connectors), 2 * TENANTS);
	size_t total = 0;

	for (size_t i = 0; i < cfg->n_tenants; i++)
		total += cfg->tenants[i].n_domains;
	assert_int_equal(total, (size_t)TENANTS * DOMAINS_PER);

	static const int probe[] = { 0, 1, 4097, 54321, 99999 };
	for (size_t i = 0; i < sizeof(probe) / sizeof(probe[0]); i++) {
		char a[64];
		int t = probe[i];
		int idx;

		snprintf(name, sizeof(name), "t%06d", t);
		idx = rg_config_find_tenant(cfg, name);
		assert_true(idx >= 0);
		assert_string_equal(cfg->tenants[idx].name, name);
		snprintf(a, sizeof(a), "10.%d.%d.%d", t >> 16, (t >> 8) & 0xff, t & 0xff);
		assert_int_equal(tenant_of(cfg, a), idx);
		snprintf(a, sizeof(a), "2001:db8:%x:%x::9", t >> 16, t & 0xffff);
		assert_int_equal(tenant_of(cfg, a), idx);
		snprintf(a, sizeof(a), "d9.t%06d.example", t);
		assert_true(registered(cfg, idx, a));
	}
	int i1000 = rg_config_find_tenant(cfg, "t001000");

	assert_int_equal(cfg->tenants[i1000].limits.unregistered_limit, 1000);
	assert_int_equal(cfg->tenants[rg_config_find_tenant(cfg, "t001001")].limits
			 .unregistered_limit, 100);
	rg_config_free(cfg);
}

/*
 * A FIFO (or any file that is not regular) named as the main file, by include, by a glob
 * or as accepted_domains_file is refused at once, never waited on. The alarm turns a hang
 * into a failure.
 */
static void test_fifo_refused(void **state)
{
	struct rg_config_errors e = { 0 };
	struct rg_config *cfg = NULL;

	alarm(20);
	write_tmp("fifo/main.conf", "[agent]\ninterfaces = eth0\ninclude = f.conf\n"
				    "include = d/*.conf\n[tenant a]\n"
				    "accepted_domains_file = f.domains\n"
				    "include = /dev/null\n");
	write_tmp("fifo/d/ok.conf", "[limits]\nflood_limit = 5\n");
	assert_int_equal(mkfifo(tpath("fifo/f.conf"), 0600), 0);
	assert_int_equal(mkfifo(tpath("fifo/d/p.conf"), 0600), 0);
	assert_int_equal(mkfifo(tpath("fifo/f.domains"), 0600), 0);
	static const struct { int line; const char *reason; } want[] = {
		{ 3, "cannot read included file" }, { 3, "f.conf': not a regular file" },
		{ 4, "p.conf': not a regular file" }, { 6, "cannot read accepted_domains_file" },
		{ 6, "f.domains': not a regular file" }, { 7, "/dev/null': not a regular file" },
	};

	load_bad(tpath("fifo/main.conf"), &e, -EINVAL);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		expect_err(&e, tpath("fifo/main.conf"), want[i].line, want[i].reason);
	assert_int_equal(e.n, 4);
	rg_config_errors_free(&e);

	assert_int_equal(rg_config_load(tpath("fifo/f.conf"), &cfg, &e), -EINVAL);
	assert_null(cfg);
	expect_err(&e, tpath("fifo/f.conf"), 0, "not a regular file");
	rg_config_errors_free(&e);
	alarm(0);
}

/* What loads but is probably a mistake: warnings with FILE:LINE, never errors. */
static void test_warnings(void **state)
{
	const char *inc = write_tmp("warn/t.conf", "[tenant nodomains]\n"
				    "connectors = 198.51.100.0/24\n");
	const char *p = write_tmp("warn/main.conf",
				  "[agent]\ninterfaces = lo\ninterfaces = nosuch0\n"
				  "[tenant ok]\nconnectors = 192.0.2.0/24\n"
				  "accepted_domains = ok.example\n"
				  "[tenant empty]\n"
				  "include = t.conf\n");
	struct rg_config *cfg;
	char want[4][PATH_MAX + 128];

	(void)inc;
	cfg = load_ok(p);
	snprintf(want[0], sizeof(want[0]), "%s:3: warning: interface 'nosuch0' does not exist",
		 p);
	snprintf(want[1], sizeof(want[1]), "%s:7: warning: tenant 'empty' has no connectors, "
		 "sasl_users, cert_subjects or cert_fingerprints: none of its mail is recognised",
		 p);
	snprintf(want[2], sizeof(want[2]), "%s:7: warning: tenant 'empty' has no accepted "
		 "domains: every sender domain of it counts as unregistered", p);
	snprintf(want[3], sizeof(want[3]), "%s:1: warning: tenant 'nodomains' has no accepted "
		 "domains: every sender domain of it counts as unregistered", tpath("warn/t.conf"));
	for (size_t i = 0; i < cfg->warnings.n; i++)
		fprintf(stderr, "# warning: %s\n", cfg->warnings.msgs[i]);
	assert_int_equal(cfg->warnings.n, 4);
	for (size_t i = 0; i < 4; i++)
		assert_string_equal(cfg->warnings.msgs[i], want[i]);
	assert_int_equal(cfg->n_interfaces, 2);
	rg_config_free(cfg);

	/* a complete tenant on an existing interface: none */
	cfg = load_ok(write_tmp("warn/good.conf", "[agent]\ninterfaces = lo\n[tenant ok]\n"
				"connectors = 192.0.2.0/24\naccepted_domains = ok.example\n"));
	assert_int_equal(cfg->warnings.n, 0);
	rg_config_free(cfg);
}

/* policy_allow: a list of prefixes (default loopback); listeners reachable from the network
 * are warned about with FILE:LINE, loopback ones and unix sockets are not. */
static void test_policy_allow_exposed(void **state)
{
	struct rg_config *cfg = load_ok(wfile("pa0.conf", "[agent]\ninterfaces = lo\n"));
	char buf[RG_ADDR_STRLEN], want[2][PATH_MAX + 128];
	const char *p;

	assert_int_equal(cfg->n_policy_allow, 2);
	assert_string_equal(rg_cidr_format(&cfg->policy_allow[0], buf, sizeof(buf)),
			    "127.0.0.0/8");
	assert_string_equal(rg_cidr_format(&cfg->policy_allow[1], buf, sizeof(buf)), "::1/128");
	assert_int_equal(cfg->warnings.n, 0);
	rg_config_free(cfg);

	p = wfile("pa1.conf", "[agent]\ninterfaces = lo\n"
		  "policy_allow = 192.0.2.0/24\npolicy_allow = 2001:db8::7\n"
		  "policy_listen = unix:/tmp/x inet:127.0.0.2:1 inet:[::1]:2 inet:localhost:3\n"
		  "policy_listen = inet:0.0.0.0:10040\n"
		  "metrics_listen = inet:[::]:9433\n"
		  "policy_listen = inet:*:10041 inet:[*]:10042\n");
	cfg = load_ok(p);
	assert_int_equal(cfg->n_policy_allow, 2);
	assert_string_equal(rg_cidr_format(&cfg->policy_allow[0], buf, sizeof(buf)),
			    "192.0.2.0/24");
	assert_string_equal(rg_cidr_format(&cfg->policy_allow[1], buf, sizeof(buf)),
			    "2001:db8::7/128");
	snprintf(want[0], sizeof(want[0]), "%s:6: warning: policy_listen inet:0.0.0.0:10040 is "
		 "not a loopback address: only policy_allow limits who may ask", p);
	snprintf(want[1], sizeof(want[1]), "%s:7: warning: metrics_listen inet:[::]:9433 is not "
		 "a loopback address: anyone who can reach it reads the metrics", p);
	for (size_t i = 0; i < cfg->warnings.n; i++)
		fprintf(stderr, "# warning: %s\n", cfg->warnings.msgs[i]);
	assert_int_equal(cfg->warnings.n, 4);
	assert_string_equal(cfg->warnings.msgs[0], want[0]);
	assert_string_equal(cfg->warnings.msgs[1], want[1]);
	/* "*" and "[*]" are accepted, and warned as any other address that is not loopback. */
	snprintf(want[0], sizeof(want[0]), "%s:8: warning: policy_listen inet:*:10041 is "
		 "not a loopback address: only policy_allow limits who may ask", p);
	snprintf(want[1], sizeof(want[1]), "%s:8: warning: policy_listen inet:[*]:10042 is "
		 "not a loopback address: only policy_allow limits who may ask", p);
	assert_string_equal(cfg->warnings.msgs[2], want[0]);
	assert_string_equal(cfg->warnings.msgs[3], want[1]);
	rg_config_free(cfg);

	assert_true(rg_listen_is_loopback("inet:127.255.0.1:1"));
	assert_true(rg_listen_is_loopback("inet:[::ffff:127.0.0.1]:1"));
	assert_false(rg_listen_is_loopback("inet:128.0.0.1:1"));
	assert_false(rg_listen_is_loopback("inet:[::2]:1"));
	assert_false(rg_listen_is_loopback("inet:mail.example:1"));

	conf_err("[agent]\ninterfaces = lo\npolicy_allow = 192.0.2.1/24\n", 3,
		 "bad value for 'policy_allow': '192.0.2.1/24': not an address or ADDR/LEN with "
		 "host bits clear");
	conf_err("[agent]\ninterfaces = lo\npolicy_allow = nowhere\n", 3,
		 "bad value for 'policy_allow': 'nowhere'");
	conf_err("[agent]\ninterfaces = lo\npolicy_allow =\n", 3,
		 "bad value for 'policy_allow': '': one or more values required");
}

/*
 * Keys of any length are split like short ones (no line buffer to overflow): a 64 KiB key
 * is one unknown key at its own line, its name shortened in the message, and the lines
 * after it keep their numbers.
 */
static void test_long_key(void **state)
{
	size_t klen = 64 * 1024, n = 0;
	char *buf = malloc(klen + 256);
	struct rg_config_errors e = { 0 };
	const char *p;

	assert_non_null(buf);
	n += (size_t)sprintf(buf, MINIMAL);
	memset(buf + n, 'k', klen);
	n += klen;
	n += (size_t)sprintf(buf + n, " = v\nmode = sometimes\n");
	p = write_tmp("longkey.conf", buf);
	load_bad(p, &e, -EINVAL);
	expect_err(&e, p, 3, "unknown key 'kkkk");
	expect_err(&e, p, 4, "bad value for 'mode': 'sometimes'");
	assert_int_equal(e.n, 2);
	assert_true(strlen(e.msgs[0]) < strlen(p) + 64 + RG_PRINTABLE_MAX);
	rg_config_errors_free(&e);
	free(buf);
}

/* Which changed [agent] keys a reload cannot apply: in table order, none for the rest. */
static void test_restart_keys(void **state)
{
	struct rg_config *o = load_ok(wfile("r1.conf",
		"[agent]\ninterfaces = eth0 eth1\nmode = enforce\n"
		"[tenant a]\nconnectors = 192.0.2.0/24\n"));
	struct rg_config *same = load_ok(wfile("r2.conf",
		"[agent]\ninterfaces = eth0\ninterfaces = eth1\nmode = enforce\n"
		"log_level = info\nsmtp_ports = 25 587 465\n"));
	struct rg_config *n = load_ok(wfile("r3.conf",
		"[agent]\ninterfaces = eth1 eth0\nmode = monitor\nlog_level = debug\n"
		"fail_mode = closed\nsmtp_ports = 25 587\npolicy_listen = inet:127.0.0.1:10040\n"
		"state_dir = /var/lib/other\nhost_table_size = 4096\n"
		"[limits]\nunregistered_limit = 5\n"));
	const char *keys[8];

	/* tenants, limits, mode, log_level: a reload applies them */
	assert_int_equal(rg_config_restart_keys(o, same, keys, 8), 0);
	assert_int_equal(rg_config_restart_keys(o, o, keys, 8), 0);
	/* the order of interfaces matters (the first carries the program's status) */
	assert_int_equal(rg_config_restart_keys(o, n, keys, 8), 6);
	assert_string_equal(keys[0], "interfaces");
	assert_string_equal(keys[1], "smtp_ports");
	assert_string_equal(keys[2], "policy_listen");
	assert_string_equal(keys[3], "state_dir");
	assert_string_equal(keys[4], "audit_log");	/* follows state_dir */
	assert_string_equal(keys[5], "host_table_size");
	/* fewer slots: the count stays whole, the slots hold the first ones */
	keys[2] = NULL;
	assert_int_equal(rg_config_restart_keys(n, o, keys, 2), 6);
	assert_string_equal(keys[0], "interfaces");
	assert_string_equal(keys[1], "smtp_ports");
	assert_null(keys[2]);
	assert_int_equal(rg_config_restart_keys(o, n, NULL, 0), 6);
	rg_config_free(o);
	rg_config_free(same);
	rg_config_free(n);
}

/* The one tenant-name rule, also used by relayguardctl before it asks the agent. */
static void test_tenant_name_ok(void **state)
{
	char max[RG_TENANT_NAME_MAX + 1];
	static const char *const bad[] = { "", "a b", "a/b", "../x", "a\nb", "caf\xc3\xa9",
					   "x;y", "*", "a\tb" };

	assert_true(rg_config_tenant_name_ok("contoso"));
	assert_true(rg_config_tenant_name_ok("A-z_0.9"));
	memset(max, 'a', sizeof(max));
	max[RG_TENANT_NAME_MAX - 1] = '\0';
	assert_true(rg_config_tenant_name_ok(max));
	max[RG_TENANT_NAME_MAX - 1] = 'a';
	max[RG_TENANT_NAME_MAX] = '\0';
	assert_false(rg_config_tenant_name_ok(max));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(rg_config_tenant_name_ok(bad[i]));
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
		cmocka_unit_test(test_fleet),
		cmocka_unit_test(test_duplicate_connector_names_both),
		cmocka_unit_test(test_too_many_errors),
		cmocka_unit_test(test_oversized_file),
		cmocka_unit_test(test_bad_bytes),
		cmocka_unit_test(test_durations_rates),
		cmocka_unit_test(test_100k_tenants),
		cmocka_unit_test(test_every_agent_key),
		cmocka_unit_test(test_include_errors),
		cmocka_unit_test(test_main_file_errors),
		cmocka_unit_test(test_every_error_one_file),
		cmocka_unit_test(test_tenant_mark_mask),
		cmocka_unit_test(test_bad_values_more),
		cmocka_unit_test(test_notify_keys),
		cmocka_unit_test(test_domains_file_lines),
		cmocka_unit_test(test_syntax_variants),
		cmocka_unit_test(test_long_lines_connectors),
		cmocka_unit_test(test_duration_edges),
		cmocka_unit_test(test_connector_limit),
		cmocka_unit_test(test_1m_domains_included),
		cmocka_unit_test(test_restart_keys),
		cmocka_unit_test(test_fifo_refused),
		cmocka_unit_test(test_warnings),
		cmocka_unit_test(test_policy_allow_exposed),
		cmocka_unit_test(test_long_key),
		cmocka_unit_test(test_tenant_name_ok),
		cmocka_unit_test(test_auth_keys),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
