// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * test_postfix_check.c: user/postfix_check.c on postconf output as Postfix 3.7 prints it:
 * the policy check first (clean), a submission override without it, a permit before it,
 * the default relay restrictions (a permit that does not bypass), default_action given,
 * braced and inherited, another policy server, inet servers, ports outside smtp_ports,
 * postscreen's pass service, and hostile text (unbalanced braces, short lines, no text).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "postfix_check.h"

static const char *listen[] = { "unix:/var/spool/postfix/private/relayguard",
				"inet:127.0.0.1:10040" };
static const uint16_t ports[] = { 25, 587, 465 };

#define POLICY "check_policy_service { unix:private/relayguard, timeout=10s, " \
	       "default_action=DUNNO }"
#define MAIN_HEAD "queue_directory = /var/spool/postfix\n" \
		  "smtpd_policy_service_default_action = 451 4.3.5 Server configuration problem\n" \
		  "smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, " \
		  "defer_unauth_destination\n"
#define MASTER "smtp       inet  n       -       y       -       -       smtpd\n" \
	       "pickup     unix  n       -       y       60      1       pickup\n" \
	       "submission inet  n       -       y       -       -       smtpd -o x=y\n" \
	       "smtps      inet  n       -       y       -       -       smtpd\n"

static struct rg_pf_report run(const char *main_text, const char *master, const char *params)
{
	struct rg_pf_input in = { (char *)main_text, (char *)master, (char *)params };
	struct rg_pf_report r;

	assert_int_equal(rg_pf_check(&in, listen, 2, ports, 3, &r), 0);
	return r;
}

/* Finding i is about service svc, with that problem. */
static void finding_is(const struct rg_pf_report *r, size_t i, const char *svc,
		       enum rg_pf_problem problem)
{
	assert_true(i < r->n_findings);
	assert_string_equal(r->findings[i].service, svc);
	assert_int_equal(r->findings[i].problem, problem);
}

static void test_good(void **st)
{
	struct rg_pf_report r = run(MAIN_HEAD "smtpd_recipient_restrictions = " POLICY
				    ", permit_mynetworks, reject_unauth_destination\n",
				    MASTER, "submission/inet/smtpd_recipient_restrictions = " POLICY
				    ", permit_sasl_authenticated, reject\n");

	assert_int_equal(r.n_services, 3);
	assert_int_equal(r.n_findings, 0);
	rg_pf_report_free(&r);
}

static void test_bypassed_submission(void **st)
{
	struct rg_pf_report r = run(MAIN_HEAD "smtpd_recipient_restrictions = " POLICY
				    ", permit_mynetworks\n", MASTER,
				    "submission/inet/syslog_name = postfix/submission\n"
				    "submission/inet/smtpd_recipient_restrictions = "
				    "permit_sasl_authenticated, reject\n"
				    "smtps/inet/smtpd_recipient_restrictions = permit_mynetworks, "
				    "check_policy_service unix:private/relayguard\n");
	char line[512];

	assert_int_equal(r.n_services, 3);
	assert_int_equal(r.n_findings, 3);
	finding_is(&r, 0, "submission", RG_PF_NO_POLICY);
	assert_int_equal(r.findings[0].port, 587);
	finding_is(&r, 1, "smtps", RG_PF_PERMIT_FIRST);
	assert_int_equal(r.findings[1].port, 465);
	assert_string_equal(r.findings[1].param, "smtpd_recipient_restrictions");
	assert_string_equal(r.findings[1].detail, "permit_mynetworks");
	/* Without its own default_action the check inherits Postfix's 451. */
	assert_int_equal(r.findings[2].problem, RG_PF_DEFAULT_ACTION);
	assert_string_equal(r.findings[2].detail, "451 4.3.5 Server configuration problem");
	rg_pf_finding_format(&r.findings[1], line, sizeof(line));
	assert_string_equal(line, "smtps/inet (port 465): smtpd_recipient_restrictions: "
			    "permit_mynetworks comes before check_policy_service for relayguard");
	rg_pf_report_free(&r);
}

static void test_default_action(void **st)
{
	/* A braced { name = value } attribute; a service-wide default of DUNNO; a reject. */
	struct rg_pf_report r = run(MAIN_HEAD "smtpd_recipient_restrictions = "
				    "check_policy_service { unix:private/relayguard, "
				    "{ default_action = 450 4.7.1 try later } }\n", MASTER,
				    "submission/inet/smtpd_policy_service_default_action = DUNNO\n"
				    "submission/inet/smtpd_recipient_restrictions = "
				    "reject_unauth_pipelining check_policy_service "
				    "unix:/var/spool/postfix/private/relayguard permit\n"
				    "smtps/inet/smtpd_recipient_restrictions = "
				    "check_policy_service {inet:127.0.0.1:10040,default_action=dunno}\n");

	assert_int_equal(r.n_findings, 1);
	finding_is(&r, 0, "smtp", RG_PF_DEFAULT_ACTION);
	assert_string_equal(r.findings[0].detail, "450 4.7.1 try later");
	rg_pf_report_free(&r);
}

static void test_relay_list_and_other_servers(void **st)
{
	/* The check may sit at the head of smtpd_relay_restrictions instead; another
	 * policy server (postgrey, another path, another port) is not relayguard. */
	struct rg_pf_report r = run("queue_directory = /var/spool/postfix\n"
				    "smtpd_relay_restrictions = " POLICY ", permit_mynetworks, "
				    "reject\nsmtpd_recipient_restrictions =\n", MASTER,
				    "submission/inet/smtpd_relay_restrictions = check_policy_service "
				    "unix:private/postgrey, check_policy_service inet:127.0.0.1:10041\n"
				    "smtps/inet/smtpd_relay_restrictions = check_policy_service "
				    "unix:/var/spool/postfix/private/relayguard2\n");

	assert_int_equal(r.n_findings, 2);
	finding_is(&r, 0, "submission", RG_PF_NO_POLICY);
	finding_is(&r, 1, "smtps", RG_PF_NO_POLICY);
	rg_pf_report_free(&r);
}

static void test_ports_and_postscreen(void **st)
{
	const char *master =
		"127.0.0.1:submission inet n - y - - smtpd\n"
		"[::1]:2525 inet n - y - - smtpd\n"
		"2526 inet n - y - - smtpd\n"
		"smtp inet n - y - 1 postscreen\n"
		"smtpd pass - - y - - /usr/lib/postfix/sbin/smtpd\n"
		"relay unix - - y - - smtp\n";
	struct rg_pf_report r = run(MAIN_HEAD "smtpd_recipient_restrictions = permit_mynetworks\n",
				    master, "");

	/* 127.0.0.1:submission is port 587, postscreen hands port 25 to "smtpd pass";
	 * 2525 and 2526 are not smtp_ports. */
	assert_int_equal(r.n_services, 2);
	assert_int_equal(r.n_findings, 2);
	assert_string_equal(r.findings[0].service, "127.0.0.1:submission");
	assert_int_equal(r.findings[0].port, 587);
	assert_string_equal(r.findings[1].service, "smtpd");
	assert_string_equal(r.findings[1].type, "pass");
	assert_int_equal(r.findings[1].port, 25);
	rg_pf_report_free(&r);
}

static void test_hostile(void **st)
{
	char *big = malloc(200000);
	struct rg_pf_report r;

	/* Unbalanced braces, a dangling check_policy_service, short master lines. */
	r = run(MAIN_HEAD "smtpd_recipient_restrictions = check_policy_service { "
		"unix:private/relayguard, default_action=DUNNO\n",
		"smtp inet n\nsmtp\n\n   \nsubmission inet n - y - - smtpd\n",
		"submission/inet/smtpd_recipient_restrictions = check_policy_service\n");
	assert_int_equal(r.n_services, 1);
	assert_int_equal(r.n_findings, 1);
	assert_int_equal(r.findings[0].problem, RG_PF_NO_POLICY);
	rg_pf_report_free(&r);

	r = run("", "", "");
	assert_int_equal(r.n_services, 0);
	assert_int_equal(r.n_findings, 0);

	assert_non_null(big);
	memset(big, 'a', 199999);
	big[199999] = '\0';
	memcpy(big, "smtp inet n - y - - smtpd ", 26);
	r = run(big, big, big);
	assert_int_equal(r.n_services, 1);
	assert_int_equal(r.n_findings, 1);
	rg_pf_report_free(&r);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bypassed_submission),
		cmocka_unit_test(test_default_action),
		cmocka_unit_test(test_relay_list_and_other_servers),
		cmocka_unit_test(test_ports_and_postscreen),
		cmocka_unit_test(test_hostile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
