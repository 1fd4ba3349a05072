#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# hosts_agree.py AGENT_JSON MAPS_JSON: exit 0 if two `relayguardctl hosts --json` replies
# (the agent's and the pinned-map fallback's) list the same rows with the same fields, each
# sorted most active first (conn_rate_per_min, connections, packets, drops descending,
# then address). conn_rate_per_min may have decayed between the reads, last_seen and
# expires may differ by a second; every other field is equal. Prints the differences.
import ipaddress
import json
import sys

TIMES = ("last_seen", "expires")


def sort_key(h):
    net = ipaddress.ip_network(h["address"])
    addr = int(net.network_address) + (0xFFFF << 32 if net.version == 4 else 0)
    return (-h["conn_rate_per_min"], -h["connections"], -h["packets"], -h["drops"], addr,
            net.prefixlen + (96 if net.version == 4 else 0))


def main():
    a, m = json.loads(sys.argv[1]), json.loads(sys.argv[2])
    errors = []
    for name, rep in (("agent", a), ("maps", m)):
        if rep["hosts"] != sorted(rep["hosts"], key=sort_key):
            errors.append(f"{name}: rows not most active first")
    if a["total"] != m["total"]:
        errors.append(f"total {a['total']} != {m['total']}")
    ra = {h["address"]: h for h in a["hosts"]}
    rm = {h["address"]: h for h in m["hosts"]}
    if set(ra) != set(rm):
        errors.append(f"addresses differ: {sorted(set(ra) ^ set(rm))}")
    for addr in sorted(set(ra) & set(rm)):
        x, y = ra[addr], rm[addr]
        if set(x) != set(y):
            errors.append(f"{addr}: fields differ: {sorted(set(x) ^ set(y))}")
        for k in sorted(set(x) & set(y)):
            if k == "conn_rate_per_min":
                continue
            if k in TIMES and x[k] is not None and y[k] is not None:
                if abs(x[k] - y[k]) > 1:
                    errors.append(f"{addr}: {k} {x[k]} != {y[k]}")
            elif x[k] != y[k]:
                errors.append(f"{addr}: {k} {x[k]!r} != {y[k]!r}")
    for e in errors:
        print(e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
