// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * trivial.bpf.c: an XDP program that passes every packet untouched. The baseline of
 * tools/bench-bpf: what BPF_PROG_TEST_RUN costs per frame with no work at all.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("xdp")
int trivial_xdp(struct xdp_md *ctx)
{
	return XDP_PASS;
}
