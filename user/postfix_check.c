// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * postfix_check.c: relayguardctl check-postfix (see postfix_check.h). Takes postconf's
 * output (rg_pf_read runs it) and relayguard's policy_listen and smtp_ports; reports one
 * finding per smtpd service that can take tenants' mail without asking relayguard.
 *
 * Postfix evaluates each restriction list on its own: a permit ends that list only, so
 * the default smtpd_relay_restrictions (permit_mynetworks first) do not stop a policy check
 * at the head of smtpd_recipient_restrictions. A permit before the check in the same list
 * does: tenants' servers are in mynetworks or authenticate. A list may also end in a
 * permit from an access table (check_*_access ... OK); only explicit permit* restrictions
 * are seen here.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "postfix_check.h"

#define SEPARATORS ", \t\r\n"

static const char *const rcpt_lists[] = { "smtpd_relay_restrictions",
					  "smtpd_recipient_restrictions" };

/* ---- postconf output ---------------------------------------------------------------- */

/* The value of "key = value" in text (postconf's format), as a malloc'd string; NULL when
 * key is absent (or on ENOMEM, where absent is the safe reading: a finding, not a pass). */
static char *lookup(const char *text, const char *key)
{
	size_t klen = strlen(key);

	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		const char *end = strchr(l, '\n');

		if (strncmp(l, key, klen) || strncmp(l + klen, " =", 2))
			continue;
		l += klen + 2;
		if (*l == ' ')
			l++;
		return strndup(l, end ? (size_t)(end - l) : strlen(l));
	}
	return NULL;
}

/* A service's effective value: its -o override, else main.cf's (or Postfix's default,
 * which postconf prints for a named parameter). */
static char *effective(const struct rg_pf_input *in, const char *svc, const char *type,
		       const char *name)
{
	char key[256];
	char *v;

	if ((size_t)snprintf(key, sizeof(key), "%s/%s/%s", svc, type, name) < sizeof(key) &&
	    (v = lookup(in->params_text, key)))
		return v;
	return lookup(in->main_text, name);
}

/* The TCP port of an inet service name "[host:]port": a number or a service name. The
 * mail ports are known here so that the answer does not depend on /etc/services. */
static unsigned service_port(const char *name)
{
	static const struct { const char *name; unsigned port; } known[] = {
		{ "smtp", 25 }, { "submission", 587 }, { "submissions", 465 },
		{ "smtps", 465 }, { "ssmtp", 465 },
	};
	const char *p = strrchr(name, ':');
	struct servent *se;
	char *end;
	unsigned long n;

	p = p && !strchr(p, ']') ? p + 1 : name;
	n = strtoul(p, &end, 10);
	if (end != p && !*end)
		return n > 0 && n < 65536 ? (unsigned)n : 0;
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (!strcmp(p, known[i].name))
			return known[i].port;
	se = getservbyname(p, "tcp");
	return se ? ntohs((uint16_t)se->s_port) : 0;
}

/* ---- restriction lists -------------------------------------------------------------- */

/* Next token of a Postfix list: a word, or the inside of a { ... } group (nested groups
 * kept whole). false at the end. */
static bool next_token(const char **s, const char **tok, size_t *len, bool *braced)
{
	const char *p = *s + strspn(*s, SEPARATORS);
	int depth = 0;

	if (!*p)
		return false;
	if (*p == '{') {
		const char *q = p;

		for (; *q; q++) {
			if (*q == '{')
				depth++;
			else if (*q == '}' && --depth == 0)
				break;
		}
		*tok = p + 1;
		*len = (size_t)(q - p - 1);
		*braced = true;
		*s = *q ? q + 1 : q;
		return true;
	}
	*tok = p;
	*len = strcspn(p, SEPARATORS "{");
	*braced = false;
	*s = p + *len;
	return true;
}

static char *trimmed(const char *p, size_t len)
{
	while (len && (isspace((unsigned char)*p) || *p == '{')) {
		p++;
		len--;
	}
	while (len && (isspace((unsigned char)p[len - 1]) || p[len - 1] == '}'))
		len--;
	return strndup(p, len);
}

/* Is a check_policy_service server spec one of relayguard's sockets? A unix path relative
 * to queue_directory (as chrooted smtpd names it) is compared as the absolute path. */
static bool is_ours(const char *spec, size_t len, const char *queue_dir,
		    const char *const *listen, size_t n_listen)
{
	char path[4096];
	int n;

	if (len > 5 && !strncmp(spec, "inet:", 5)) {
		for (size_t i = 0; i < n_listen; i++)
			if (strlen(listen[i]) == len && !strncmp(listen[i], spec, len))
				return true;
		return false;
	}
	if (len > 5 && !strncmp(spec, "unix:", 5)) {
		spec += 5;
		len -= 5;
	}
	if (*spec == '/')
		n = snprintf(path, sizeof(path), "unix:%.*s", (int)len, spec);
	else
		n = snprintf(path, sizeof(path), "unix:%s/%.*s",
			     queue_dir ? queue_dir : "/var/spool/postfix", (int)len, spec);
	if (n < 0 || (size_t)n >= sizeof(path))
		return false;
	for (size_t i = 0; i < n_listen; i++)
		if (!strcmp(listen[i], path))
			return true;
	return false;
}

struct list_eval {
	char first_permit[64]; /* the first permit* before our check, "" if none */
	bool ours;             /* the list calls relayguard's policy service */
	bool ours_first;       /* ... before any permit */
	char bad_action[128];  /* a default_action other than DUNNO, "" if none */
};

/* The default_action inside a { spec, name=value, ... } group, NULL if not given there. */
static char *group_default_action(const char *g, size_t len)
{
	char *copy = strndup(g, len), *ret = NULL;
	const char *s = copy, *tok;
	size_t tlen;
	bool br;

	if (!copy)
		return NULL;
	next_token(&s, &tok, &tlen, &br); /* the server spec */
	while (!ret && next_token(&s, &tok, &tlen, &br)) {
		const char *t = tok + strspn(tok, " \t{");

		if (strncmp(t, "default_action", 14))
			continue;
		t += 14;
		t += strspn(t, " \t");
		if (*t != '=' || (size_t)(t - tok) >= tlen)
			continue;
		t++;
		ret = trimmed(t, tlen - (size_t)(t - tok));
	}
	free(copy);
	return ret;
}

static void eval_list(const char *value, const char *queue_dir, const char *svc_default,
		      const char *const *listen, size_t n_listen, struct list_eval *e)
{
	const char *s = value, *tok, *spec;
	size_t len, slen;
	bool braced, group;

	memset(e, 0, sizeof(*e));
	while (s && next_token(&s, &tok, &len, &braced)) {
		if (!braced && len >= 6 && !strncmp(tok, "permit", 6)) {
			if (!e->first_permit[0])
				snprintf(e->first_permit, sizeof(e->first_permit), "%.*s",
					 (int)len, tok);
			continue;
		}
		if (braced || len != 20 || strncmp(tok, "check_policy_service", 20))
			continue;
		if (!next_token(&s, &tok, &len, &braced))
			break;
		spec = tok;
		slen = len;
		group = braced;
		if (group) {
			const char *g = tok;

			next_token(&g, &spec, &slen, &braced);
		}
		if (!is_ours(spec, slen, queue_dir, listen, n_listen))
			continue;
		if (!e->ours)
			e->ours_first = !e->first_permit[0];
		e->ours = true;

		char *act = group ? group_default_action(tok, len) : NULL;
		const char *a = act ? act : svc_default ? svc_default : "";

		if (strcasecmp(a, "DUNNO") && !e->bad_action[0])
			snprintf(e->bad_action, sizeof(e->bad_action), "%s", a);
		free(act);
	}
}

/* ---- services ----------------------------------------------------------------------- */

static int add(struct rg_pf_report *r, const char *svc, const char *type, unsigned port,
	       enum rg_pf_problem p, const char *param, const char *detail)
{
	struct rg_pf_finding *f = realloc(r->findings, (r->n_findings + 1) * sizeof(*f));

	if (!f)
		return -ENOMEM;
	r->findings = f;
	f += r->n_findings++;
	memset(f, 0, sizeof(*f));
	snprintf(f->service, sizeof(f->service), "%s", svc);
	snprintf(f->type, sizeof(f->type), "%s", type);
	f->port = port;
	f->problem = p;
	snprintf(f->param, sizeof(f->param), "%s", param);
	snprintf(f->detail, sizeof(f->detail), "%s", detail);
	return 0;
}

static int check_service(const struct rg_pf_input *in, const char *svc, const char *type,
			 unsigned port, const char *queue_dir, const char *const *listen,
			 size_t n_listen, struct rg_pf_report *r)
{
	char *dflt = effective(in, svc, type, "smtpd_policy_service_default_action");
	struct list_eval e[2];
	bool covered = false;
	int err = 0;

	for (size_t i = 0; i < 2; i++) {
		char *v = effective(in, svc, type, rcpt_lists[i]);

		eval_list(v, queue_dir, dflt, listen, n_listen, &e[i]);
		free(v);
		covered |= e[i].ours_first;
	}
	for (size_t i = 0; !err && !covered && i < 2; i++)
		if (e[i].ours)
			err = add(r, svc, type, port, RG_PF_PERMIT_FIRST, rcpt_lists[i],
				  e[i].first_permit);
	if (!err && !covered && !e[0].ours && !e[1].ours)
		err = add(r, svc, type, port, RG_PF_NO_POLICY, "", "");
	for (size_t i = 0; !err && i < 2; i++)
		if (e[i].bad_action[0])
			err = add(r, svc, type, port, RG_PF_DEFAULT_ACTION, rcpt_lists[i],
				  e[i].bad_action);
	r->n_services++;
	free(dflt);
	return err;
}

struct master_line {
	char name[64], type[8], command[64];
};

/* One line of postconf -M: name type private unpriv chroot wakeup maxproc command ... */
static bool parse_master(const char *l, size_t len, struct master_line *m)
{
	char buf[512], *f[8], *save = NULL;
	int n = 0;

	if (len >= sizeof(buf))
		len = sizeof(buf) - 1;
	memcpy(buf, l, len);
	buf[len] = '\0';
	for (char *t = strtok_r(buf, " \t", &save); t && n < 8; t = strtok_r(NULL, " \t", &save))
		f[n++] = t;
	if (n < 8 || buf[0] == '#')
		return false;
	const char *cmd = strrchr(f[7], '/') ? strrchr(f[7], '/') + 1 : f[7];

	return (size_t)snprintf(m->name, sizeof(m->name), "%s", f[0]) < sizeof(m->name) &&
	       (size_t)snprintf(m->type, sizeof(m->type), "%s", f[1]) < sizeof(m->type) &&
	       (size_t)snprintf(m->command, sizeof(m->command), "%s", cmd) < sizeof(m->command);
}

static bool wanted(unsigned port, const uint16_t *ports, size_t n_ports)
{
	for (size_t i = 0; port && i < n_ports; i++)
		if (ports[i] == port)
			return true;
	return false;
}

/* Each master.cf line, in order. */
#define for_each_line(l, len, text)                                                        \
	for (const char *l = (text), *l##_e; l && *l && ((l##_e = strchr(l, '\n')), 1) &&     \
					     ((len = l##_e ? (size_t)(l##_e - l) : strlen(l)), 1); \
	     l = l##_e ? l##_e + 1 : NULL)

int rg_pf_check(const struct rg_pf_input *in, const char *const *listen, size_t n_listen,
		const uint16_t *ports, size_t n_ports, struct rg_pf_report *out)
{
	char *queue_dir = lookup(in->main_text, "queue_directory");
	struct master_line m, ps;
	size_t len, plen;
	int err = 0;

	memset(out, 0, sizeof(*out));
	for_each_line(l, len, in->master_text) {
		unsigned port;

		if (err || !parse_master(l, len, &m) || strcmp(m.command, "smtpd"))
			continue;
		if (!strcmp(m.type, "inet")) {
			port = service_port(m.name);
			if (wanted(port, ports, n_ports))
				err = check_service(in, m.name, m.type, port, queue_dir, listen,
						    n_listen, out);
			continue;
		}
		/* An smtpd "pass" service takes the connections postscreen accepted on its
		 * inet ports. */
		if (strcmp(m.type, "pass"))
			continue;
		for_each_line(p, plen, in->master_text) {
			if (err || !parse_master(p, plen, &ps) || strcmp(ps.command, "postscreen") ||
			    strcmp(ps.type, "inet"))
				continue;
			port = service_port(ps.name);
			if (wanted(port, ports, n_ports)) {
				err = check_service(in, m.name, m.type, port, queue_dir, listen,
						    n_listen, out);
				break;
			}
		}
	}
	free(queue_dir);
	if (err)
		rg_pf_report_free(out);
	return err;
}

void rg_pf_report_free(struct rg_pf_report *r)
{
	free(r->findings);
	r->findings = NULL;
	r->n_findings = 0;
}

const char *rg_pf_problem_name(enum rg_pf_problem p)
{
	switch (p) {
	case RG_PF_NO_POLICY:
		return "no_policy_check";
	case RG_PF_PERMIT_FIRST:
		return "permit_before_policy";
	case RG_PF_DEFAULT_ACTION:
		return "default_action";
	}
	return "unknown";
}

void rg_pf_finding_format(const struct rg_pf_finding *f, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s (port %u): ", f->service, f->type, f->port);

	if (n < 0 || (size_t)n >= len)
		return;
	switch (f->problem) {
	case RG_PF_NO_POLICY:
		snprintf(buf + n, len - (size_t)n, "neither smtpd_relay_restrictions nor "
			 "smtpd_recipient_restrictions calls check_policy_service for relayguard");
		break;
	case RG_PF_PERMIT_FIRST:
		snprintf(buf + n, len - (size_t)n, "%s: %s comes before check_policy_service "
			 "for relayguard", f->param, f->detail);
		break;
	case RG_PF_DEFAULT_ACTION:
		snprintf(buf + n, len - (size_t)n, "%s: check_policy_service for relayguard has "
			 "default_action=%s, not DUNNO", f->param, f->detail);
		break;
	}
}

/* ---- running postconf --------------------------------------------------------------- */

/* argv's stdout as a NUL-terminated string; stderr passes through. */
static int capture(char *const argv[], char **out)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	int pfd[2], status, err = 0;
	ssize_t n;
	pid_t pid;

	if (!buf)
		return -ENOMEM;
	if (pipe2(pfd, O_CLOEXEC)) {
		err = -errno;
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		err = -errno;
		close(pfd[0]);
		close(pfd[1]);
		goto out;
	}
	if (pid == 0) {
		dup2(pfd[1], STDOUT_FILENO);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(pfd[1]);
	while ((n = read(pfd[0], buf + len, cap - len - 1)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		len += (size_t)n;
		if (cap - len < 2) {
			char *nb = realloc(buf, cap * 2);

			if (!nb) {
				err = -ENOMEM;
				break;
			}
			buf = nb;
			cap *= 2;
		}
	}
	close(pfd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!err && WIFEXITED(status) && WEXITSTATUS(status) == 127)
		err = -ENOENT;
	else if (!err && (!WIFEXITED(status) || WEXITSTATUS(status)))
		err = -EIO;
out:
	if (err) {
		free(buf);
		return err;
	}
	buf[len] = '\0';
	*out = buf;
	return 0;
}

static int run_postconf(const char *config_dir, const char *const *args, char **out)
{
	char *argv[12];
	size_t n = 0;

	argv[n++] = "postconf";
	if (config_dir) {
		argv[n++] = "-c";
		argv[n++] = (char *)config_dir;
	}
	for (; *args && n < 11; args++)
		argv[n++] = (char *)*args;
	argv[n] = NULL;
	return capture(argv, out);
}

int rg_pf_read(const char *config_dir, struct rg_pf_input *in)
{
	static const char *const mainv[] = { "-x", "queue_directory",
					     "smtpd_policy_service_default_action",
					     "smtpd_relay_restrictions",
					     "smtpd_recipient_restrictions", NULL };
	static const char *const master[] = { "-M", NULL };
	static const char *const params[] = { "-x", "-P", NULL };
	int err;

	memset(in, 0, sizeof(*in));
	err = run_postconf(config_dir, mainv, &in->main_text);
	if (!err)
		err = run_postconf(config_dir, master, &in->master_text);
	if (!err)
		err = run_postconf(config_dir, params, &in->params_text);
	if (err)
		rg_pf_input_free(in);
	return err;
}

void rg_pf_input_free(struct rg_pf_input *in)
{
	free(in->main_text);
	free(in->master_text);
	free(in->params_text);
	memset(in, 0, sizeof(*in));
}
