// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * policy_proto.c: the Postfix policy request parser. Takes bytes in any split, copies one
 * request at a time into a buffer that grows up to max_request, checks every line as it
 * ends, and reports a complete request as NUL-terminated name/value slices, or the first
 * error with a static reason and a capped copy of the offending bytes. Standalone: libc only.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "policy_proto.h"

#define DETAIL_MAX 100

struct attr_off {
	size_t name_off, name_len, val_off, val_len;
};

struct rg_policy_parser {
	struct rg_policy_limits lim;
	char *buf;
	size_t cap, len;
	size_t line_start;
	struct attr_off *offs;
	struct rg_policy_attr *attrs;
	size_t attr_cap, n_attrs;
	unsigned short known_idx[RG_PA__COUNT];	/* attribute index + 1, 0: absent */
	struct rg_policy_req req;
	const char *peer;
	bool have_req;
	int err;
	const char *reason;
	char detail[DETAIL_MAX];
	size_t detail_len;
};

static const char *const attr_names[RG_PA__COUNT] = {
	[RG_PA_REQUEST] = "request",
	[RG_PA_PROTOCOL_STATE] = "protocol_state",
	[RG_PA_PROTOCOL_NAME] = "protocol_name",
	[RG_PA_HELO_NAME] = "helo_name",
	[RG_PA_QUEUE_ID] = "queue_id",
	[RG_PA_SENDER] = "sender",
	[RG_PA_RECIPIENT] = "recipient",
	[RG_PA_RECIPIENT_COUNT] = "recipient_count",
	[RG_PA_CLIENT_ADDRESS] = "client_address",
	[RG_PA_CLIENT_NAME] = "client_name",
	[RG_PA_CLIENT_PORT] = "client_port",
	[RG_PA_REVERSE_CLIENT_NAME] = "reverse_client_name",
	[RG_PA_SERVER_ADDRESS] = "server_address",
	[RG_PA_SERVER_PORT] = "server_port",
	[RG_PA_INSTANCE] = "instance",
	[RG_PA_SASL_METHOD] = "sasl_method",
	[RG_PA_SASL_USERNAME] = "sasl_username",
	[RG_PA_SASL_SENDER] = "sasl_sender",
	[RG_PA_SIZE] = "size",
	[RG_PA_CCERT_SUBJECT] = "ccert_subject",
	[RG_PA_CCERT_ISSUER] = "ccert_issuer",
	[RG_PA_CCERT_FINGERPRINT] = "ccert_fingerprint",
	[RG_PA_CCERT_PUBKEY_FINGERPRINT] = "ccert_pubkey_fingerprint",
	[RG_PA_ENCRYPTION_PROTOCOL] = "encryption_protocol",
	[RG_PA_ENCRYPTION_CIPHER] = "encryption_cipher",
	[RG_PA_ENCRYPTION_KEYSIZE] = "encryption_keysize",
	[RG_PA_ETRN_DOMAIN] = "etrn_domain",
	[RG_PA_STRESS] = "stress",
	[RG_PA_POLICY_CONTEXT] = "policy_context",
	[RG_PA_COMPATIBILITY_LEVEL] = "compatibility_level",
	[RG_PA_MAIL_VERSION] = "mail_version",
};

int rg_policy_attr_lookup(const char *name, size_t len)
{
	int i;

	for (i = 0; i < RG_PA__COUNT; i++) {
		if (strlen(attr_names[i]) == len && !memcmp(attr_names[i], name, len))
			return i;
	}
	return -1;
}

const char *rg_policy_attr_name(enum rg_policy_attr_id id)
{
	return (unsigned)id < RG_PA__COUNT ? attr_names[id] : NULL;
}

const char *rg_policy_req_find(const struct rg_policy_req *req, const char *name)
{
	size_t len = strlen(name), i;

	for (i = req->n_attrs; i-- > 0;) {
		if (req->attrs[i].name_len == len && !memcmp(req->attrs[i].name, name, len))
			return req->attrs[i].value;
	}
	return NULL;
}

struct rg_policy_parser *rg_policy_parser_new(const struct rg_policy_limits *limits)
{
	struct rg_policy_parser *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	if (limits)
		p->lim = *limits;
	if (!p->lim.max_request)
		p->lim.max_request = RG_POLICY_MAX_REQUEST_DEFAULT;
	if (!p->lim.max_line)
		p->lim.max_line = RG_POLICY_MAX_LINE_DEFAULT;
	if (!p->lim.max_attrs)
		p->lim.max_attrs = RG_POLICY_MAX_ATTRS_DEFAULT;
	/* known_idx holds index + 1 in an unsigned short. */
	if (p->lim.max_attrs > 65534)
		p->lim.max_attrs = 65534;
	return p;
}

void rg_policy_parser_free(struct rg_policy_parser *p)
{
	if (!p)
		return;
	free(p->buf);
	free(p->offs);
	free(p->attrs);
	free(p);
}

static void clear_request(struct rg_policy_parser *p)
{
	p->len = 0;
	p->line_start = 0;
	p->n_attrs = 0;
	p->have_req = false;
	memset(p->known_idx, 0, sizeof(p->known_idx));
}

void rg_policy_parser_reset(struct rg_policy_parser *p)
{
	clear_request(p);
	p->err = 0;
	p->reason = NULL;
	p->detail_len = 0;
}

static int fail(struct rg_policy_parser *p, int err, const char *reason, const char *detail,
		size_t detail_len)
{
	p->err = err;
	p->reason = reason;
	p->detail_len = detail_len > DETAIL_MAX ? DETAIL_MAX : detail_len;
	if (p->detail_len)
		memcpy(p->detail, detail, p->detail_len);
	return err;
}

static int fail_line(struct rg_policy_parser *p, int err, const char *reason)
{
	return fail(p, err, reason, p->buf + p->line_start, p->len - p->line_start);
}

static int grow(struct rg_policy_parser *p, size_t need)
{
	size_t ncap = p->cap ? p->cap : 512;
	char *nbuf;

	if (need <= p->cap)
		return 0;
	while (ncap < need)
		ncap *= 2;
	if (ncap > p->lim.max_request)
		ncap = p->lim.max_request;
	nbuf = realloc(p->buf, ncap);
	if (!nbuf)
		return -ENOMEM;
	p->buf = nbuf;
	p->cap = ncap;
	return 0;
}

static int add_attr(struct rg_policy_parser *p, size_t name_off, size_t name_len, size_t val_off,
		    size_t val_len)
{
	if (p->n_attrs == p->attr_cap) {
		size_t ncap = p->attr_cap ? p->attr_cap * 2 : 16;
		struct attr_off *no;
		struct rg_policy_attr *na;

		if (ncap > p->lim.max_attrs)
			ncap = p->lim.max_attrs;
		no = realloc(p->offs, ncap * sizeof(*no));
		if (!no)
			return -ENOMEM;
		p->offs = no;
		na = realloc(p->attrs, ncap * sizeof(*na));
		if (!na)
			return -ENOMEM;
		p->attrs = na;
		p->attr_cap = ncap;
	}
	p->offs[p->n_attrs++] = (struct attr_off){ name_off, name_len, val_off, val_len };
	return 0;
}

static int complete(struct rg_policy_parser *p)
{
	static const char want[] = "smtpd_access_policy";
	struct rg_policy_req *r = &p->req;
	unsigned short ri = p->known_idx[RG_PA_REQUEST];
	size_t i;

	if (!ri)
		return fail(p, -EBADMSG, "no request attribute", NULL, 0);
	if (p->offs[ri - 1].val_len != sizeof(want) - 1 ||
	    memcmp(p->buf + p->offs[ri - 1].val_off, want, sizeof(want) - 1))
		return fail(p, -EBADMSG, "request is not smtpd_access_policy",
			    p->buf + p->offs[ri - 1].val_off, p->offs[ri - 1].val_len);

	memset(r, 0, sizeof(*r));
	for (i = 0; i < p->n_attrs; i++) {
		const struct attr_off *o = &p->offs[i];

		/* Overwrite '=' and the CR/LF: every slice becomes a C string in place. */
		p->buf[o->name_off + o->name_len] = '\0';
		p->buf[o->val_off + o->val_len] = '\0';
		p->attrs[i] = (struct rg_policy_attr){ p->buf + o->name_off, o->name_len,
						       p->buf + o->val_off, o->val_len };
	}
	for (i = 0; i < RG_PA__COUNT; i++) {
		if (p->known_idx[i]) {
			r->known[i] = p->attrs[p->known_idx[i] - 1].value;
			r->known_len[i] = p->attrs[p->known_idx[i] - 1].value_len;
		}
	}
	r->attrs = p->attrs;
	r->n_attrs = p->n_attrs;
	r->size = p->len;
	r->peer = p->peer;
	p->have_req = true;
	return 1;
}

/* The line [line_start, len - 1) just ended with LF. 1: request complete, 0: go on. */
static int end_line(struct rg_policy_parser *p)
{
	const char *line = p->buf + p->line_start;
	size_t n = p->len - p->line_start - 1;
	const char *eq;
	size_t name_len;
	int id, err;

	if (n && line[n - 1] == '\r')
		n--;
	if (!n) {
		if (!p->n_attrs)
			return fail(p, -EBADMSG, "empty request", NULL, 0);
		return complete(p);
	}
	eq = memchr(line, '=', n);
	if (!eq)
		return fail_line(p, -EBADMSG, "line without '='");
	name_len = (size_t)(eq - line);
	if (!name_len)
		return fail_line(p, -EBADMSG, "empty attribute name");
	if (p->n_attrs >= p->lim.max_attrs)
		return fail_line(p, -EMSGSIZE, "too many attributes");
	id = rg_policy_attr_lookup(line, name_len);
	if (id >= 0) {
		if (p->known_idx[id])
			return fail_line(p, -EBADMSG, "repeated attribute");
		p->known_idx[id] = (unsigned short)(p->n_attrs + 1);
	}
	err = add_attr(p, p->line_start, name_len, p->line_start + name_len + 1,
		       n - name_len - 1);
	if (err)
		return fail(p, err, "out of memory", NULL, 0);
	p->line_start = p->len;
	return 0;
}

int rg_policy_parser_feed(struct rg_policy_parser *p, const char *data, size_t len,
			  size_t *consumed)
{
	size_t used = 0;
	int err;

	*consumed = 0;
	if (p->err)
		return p->err;
	if (p->have_req)
		clear_request(p);

	while (used < len) {
		const char *s = data + used;
		size_t avail = len - used;
		const char *nl = memchr(s, '\n', avail);
		size_t take = nl ? (size_t)(nl - s) + 1 : avail;
		size_t content = nl ? take - 1 : take;
		const char *nul;

		if (p->len - p->line_start + content > p->lim.max_line) {
			size_t have = p->len - p->line_start;

			if (have)
				return fail_line(p, -EMSGSIZE, "line too long");
			return fail(p, -EMSGSIZE, "line too long", s, content);
		}
		if (p->len + take > p->lim.max_request)
			return fail(p, -EMSGSIZE, "request too large", s, take);
		nul = memchr(s, '\0', take);
		if (nul)
			return fail(p, -EBADMSG, "NUL byte", s, (size_t)(nul - s));
		err = grow(p, p->len + take);
		if (err)
			return fail(p, err, "out of memory", NULL, 0);
		memcpy(p->buf + p->len, s, take);
		p->len += take;
		used += take;
		*consumed = used;
		if (!nl)
			break;
		err = end_line(p);
		if (err)
			return err;
	}
	return 0;
}

void rg_policy_parser_set_peer(struct rg_policy_parser *p, const char *peer)
{
	p->peer = peer;
}

const struct rg_policy_req *rg_policy_parser_request(const struct rg_policy_parser *p)
{
	return p->have_req ? &p->req : NULL;
}

size_t rg_policy_parser_pending(const struct rg_policy_parser *p)
{
	return p->have_req ? 0 : p->len;
}

const char *rg_policy_parser_error(const struct rg_policy_parser *p, const char **detail,
				   size_t *detail_len)
{
	if (detail)
		*detail = p->detail;
	if (detail_len)
		*detail_len = p->detail_len;
	return p->err ? p->reason : NULL;
}
