/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * cidr.h: IPv4/IPv6 addresses and prefixes in the one 16-byte form the kernel maps use
 * (IPv4 mapped as ::ffff:a.b.c.d, an IPv4 /N is /96+N), and a longest-prefix-match table
 * for userspace (client_address -> tenant) that needs no syscall per lookup.
 */
#ifndef RG_CIDR_H
#define RG_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rg_cidr {
	uint8_t addr[16];	/* host bits zero */
	uint8_t prefixlen;	/* 0..128 in the mapped space */
	uint8_t is_v4;		/* written as IPv4: formats back as a.b.c.d/N */
};

#define RG_ADDR_STRLEN 64	/* enough for "ffff:...:ffff/128" and "::ffff:a.b.c.d" */

/* Parse an IPv4 or IPv6 address (no prefix). 0 or -EINVAL. */
int rg_addr_parse(const char *s, uint8_t addr[16], bool *is_v4);
/* Parse "ADDR" (host prefix) or "ADDR/LEN". Host bits set is an error (-EINVAL) unless
 * allow_host_bits, then they are cleared. */
int rg_cidr_parse(const char *s, struct rg_cidr *out, bool allow_host_bits);
/* Format as a.b.c.d/N or x:y::/N; returns buf. */
char *rg_cidr_format(const struct rg_cidr *c, char *buf, size_t len);
char *rg_addr_format(const uint8_t addr[16], char *buf, size_t len);
bool rg_addr_is_v4(const uint8_t addr[16]);
/* Clear all bits past prefixlen. */
void rg_addr_mask(uint8_t addr[16], unsigned prefixlen);
bool rg_cidr_contains(const struct rg_cidr *c, const uint8_t addr[16]);
/* The host key of an address: masked to host_prefix_v4 (IPv4) or host_prefix_v6. */
void rg_host_of(const uint8_t addr[16], unsigned prefix_v4, unsigned prefix_v6,
		struct rg_cidr *out);

/* Longest-prefix-match table: prefix -> uint32_t value. */
struct rg_lpm;
struct rg_lpm *rg_lpm_new(void);
void rg_lpm_free(struct rg_lpm *t);
/* 0, -EEXIST if that exact prefix is present (old value kept, *old set), -ENOMEM. */
int rg_lpm_insert(struct rg_lpm *t, const struct rg_cidr *c, uint32_t value, uint32_t *old);
/* true and *value if some prefix contains addr (the longest wins). */
bool rg_lpm_lookup(const struct rg_lpm *t, const uint8_t addr[16], uint32_t *value);
size_t rg_lpm_count(const struct rg_lpm *t);

#endif /* RG_CIDR_H */
