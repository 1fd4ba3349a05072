/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * policy_proto.h: incremental parser for the Postfix SMTPD policy delegation protocol
 * (SMTPD_POLICY_README): "name=value" lines ending in LF, a request ending with an empty
 * line. Bytes go in as they arrive, in any split; complete requests come out one at a
 * time, or an error with a static reason. No sockets, no libbpf: it is fuzzed on its own.
 *
 * Choices (README "Policy service"):
 * - A line may end in CRLF: one CR before the LF is dropped (Postfix sends LF only).
 * - Attributes in any order; unknown names are kept but have no meaning here.
 * - A known attribute given twice is an error: two "sender=" lines could be read
 *   differently by different components, so the request is refused, not guessed at.
 * - "request=smtpd_access_policy" is required (Postfix always sends it first).
 * - Errors (all fatal for the connection): line without '=', empty name, NUL byte,
 *   line over max_line, request over max_request, over max_attrs attributes,
 *   empty request (a bare empty line), repeated known attribute, wrong request type.
 */
#ifndef RG_POLICY_PROTO_H
#define RG_POLICY_PROTO_H

#include <stdbool.h>
#include <stddef.h>

#define RG_POLICY_MAX_REQUEST_DEFAULT 16384	/* bytes, all lines and the empty line */
#define RG_POLICY_MAX_LINE_DEFAULT 4096		/* bytes, name=value without the LF */
#define RG_POLICY_MAX_ATTRS_DEFAULT 128

/* Attributes relayguard knows by name (Postfix 3.7 set). */
enum rg_policy_attr_id {
	RG_PA_REQUEST,
	RG_PA_PROTOCOL_STATE,
	RG_PA_PROTOCOL_NAME,
	RG_PA_HELO_NAME,
	RG_PA_QUEUE_ID,
	RG_PA_SENDER,
	RG_PA_RECIPIENT,
	RG_PA_RECIPIENT_COUNT,
	RG_PA_CLIENT_ADDRESS,
	RG_PA_CLIENT_NAME,
	RG_PA_CLIENT_PORT,
	RG_PA_REVERSE_CLIENT_NAME,
	RG_PA_SERVER_ADDRESS,
	RG_PA_SERVER_PORT,
	RG_PA_INSTANCE,
	RG_PA_SASL_METHOD,
	RG_PA_SASL_USERNAME,
	RG_PA_SASL_SENDER,
	RG_PA_SIZE,
	RG_PA_CCERT_SUBJECT,
	RG_PA_CCERT_ISSUER,
	RG_PA_CCERT_FINGERPRINT,
	RG_PA_CCERT_PUBKEY_FINGERPRINT,
	RG_PA_ENCRYPTION_PROTOCOL,
	RG_PA_ENCRYPTION_CIPHER,
	RG_PA_ENCRYPTION_KEYSIZE,
	RG_PA_ETRN_DOMAIN,
	RG_PA_STRESS,
	RG_PA_POLICY_CONTEXT,
	RG_PA_COMPATIBILITY_LEVEL,
	RG_PA_MAIL_VERSION,
	RG_PA__COUNT
};

struct rg_policy_limits {
	size_t max_request;	/* 0: default */
	size_t max_line;	/* 0: default */
	size_t max_attrs;	/* 0: default */
};

/* One attribute: NUL-terminated slices into the parser's buffer (NUL bytes are refused). */
struct rg_policy_attr {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};

/*
 * A complete request, valid until the next rg_policy_parser_feed()/reset()/free().
 * known[id] is NULL when the attribute was absent, else points at its value.
 */
struct rg_policy_req {
	const struct rg_policy_attr *attrs;	/* in arrival order */
	size_t n_attrs;
	const char *known[RG_PA__COUNT];
	size_t known_len[RG_PA__COUNT];
	size_t size;				/* bytes on the wire, terminator included */
	const char *peer;			/* who sent it (rg_policy_parser_set_peer), or NULL */
};

struct rg_policy_parser;

/* NULL limits: defaults. Returns NULL on allocation failure. */
struct rg_policy_parser *rg_policy_parser_new(const struct rg_policy_limits *limits);
void rg_policy_parser_free(struct rg_policy_parser *p);
/* Name the connection's peer in every request of p ("uid=107 pid=4242", "192.0.2.1:5040");
 * peer must outlive p. NULL: none. */
void rg_policy_parser_set_peer(struct rg_policy_parser *p, const char *peer);
/* Forget any partial request and the error state. */
void rg_policy_parser_reset(struct rg_policy_parser *p);

/*
 * Feed up to len bytes. Consumes bytes up to and including the end of at most one request
 * and sets *consumed. Returns 1 when a request is complete (see rg_policy_parser_request),
 * 0 when every byte was consumed and more are needed, or a negative errno when the input is
 * malformed (-EMSGSIZE over a size cap, -EBADMSG otherwise; then rg_policy_parser_error()
 * says why, and the parser refuses further input until reset). -ENOMEM on allocation.
 */
int rg_policy_parser_feed(struct rg_policy_parser *p, const char *data, size_t len,
			  size_t *consumed);
/* The request the last feed completed, or NULL. */
const struct rg_policy_req *rg_policy_parser_request(const struct rg_policy_parser *p);
/* Bytes of a request received so far and not yet complete (0: between requests). */
size_t rg_policy_parser_pending(const struct rg_policy_parser *p);
/*
 * After an error: a static reason, and up to *detail_len bytes of the offending input
 * (raw, hostile: pass through rg_printable() before logging). detail may be NULL.
 */
const char *rg_policy_parser_error(const struct rg_policy_parser *p, const char **detail,
				   size_t *detail_len);

/* Name -> id, or -1 for an attribute relayguard does not know. Exact, case-sensitive. */
int rg_policy_attr_lookup(const char *name, size_t len);
const char *rg_policy_attr_name(enum rg_policy_attr_id id);
/* Value of any attribute by name (last one given), or NULL. */
const char *rg_policy_req_find(const struct rg_policy_req *req, const char *name);

#endif /* RG_POLICY_PROTO_H */
