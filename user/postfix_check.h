/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * postfix_check.h: does every smtpd service that tenants reach ask relayguard? Reads
 * Postfix's effective configuration as postconf prints it (main.cf values, master.cf
 * services and their -o overrides) and reports each smtpd service on one of relayguard's
 * smtp_ports whose RCPT-stage restriction lists (smtpd_relay_restrictions,
 * smtpd_recipient_restrictions) do not call check_policy_service for one of relayguard's
 * policy sockets before any permit, and each such call whose default_action is not DUNNO.
 * No libbpf: the parsing is tested on its own.
 */
#ifndef RG_POSTFIX_CHECK_H
#define RG_POSTFIX_CHECK_H

#include <stddef.h>
#include <stdint.h>

/* What postconf printed; each text NUL-terminated. */
struct rg_pf_input {
	char *main_text;   /* postconf -x NAME...: "name = value" lines */
	char *master_text; /* postconf -M: one service per line */
	char *params_text; /* postconf -x -P: "service/type/name = value" lines */
};

enum rg_pf_problem {
	RG_PF_NO_POLICY,      /* no RCPT-stage list calls relayguard's policy service */
	RG_PF_PERMIT_FIRST,   /* it does, but after a permit in that list */
	RG_PF_DEFAULT_ACTION, /* its default_action is not DUNNO */
};

struct rg_pf_finding {
	char service[64]; /* master.cf name, e.g. "submission" or "127.0.0.1:smtp" */
	char type[8];     /* inet, pass */
	unsigned port;
	enum rg_pf_problem problem;
	char param[48];   /* the restriction list concerned; "" for RG_PF_NO_POLICY */
	char detail[160]; /* the permit that comes first, or the default_action */
};

struct rg_pf_report {
	struct rg_pf_finding *findings;
	size_t n_findings;
	size_t n_services; /* smtpd services on one of the ports that were checked */
};

/* Run postconf (with -c config_dir unless NULL) and fill in. 0 or -errno (-ENOENT: no
 * postconf; -EIO: postconf failed, its stderr passed through). */
int rg_pf_read(const char *config_dir, struct rg_pf_input *in);
void rg_pf_input_free(struct rg_pf_input *in);

/* Check in against relayguard's policy_listen entries and smtp_ports. 0 or -ENOMEM;
 * free the report with rg_pf_report_free. */
int rg_pf_check(const struct rg_pf_input *in, const char *const *listen, size_t n_listen,
		const uint16_t *ports, size_t n_ports, struct rg_pf_report *out);
void rg_pf_report_free(struct rg_pf_report *r);

/* "no_policy_check", "permit_before_policy", "default_action". */
const char *rg_pf_problem_name(enum rg_pf_problem p);
/* One line for a finding, without newline. */
void rg_pf_finding_format(const struct rg_pf_finding *f, char *buf, size_t len);

#endif /* RG_POSTFIX_CHECK_H */
