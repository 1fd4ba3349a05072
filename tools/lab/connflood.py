#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# connflood.py: a bounded new-connection flood for the lab (tenant-b2). Takes a target
# address, port, a connection count and a time limit; opens and immediately closes TCP
# connections one after another until either bound is hit. Reports one line:
# "attempted N connected N refused N timeout N other N seconds S".
import argparse
import socket
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("addr")
    ap.add_argument("port", type=int)
    ap.add_argument("-n", "--count", type=int, default=100)
    ap.add_argument("-T", "--time-limit", type=float, default=20.0)
    ap.add_argument("-t", "--connect-timeout", type=float, default=1.0)
    ap.add_argument("-q", "--quit", action="store_true",
                    help="read the banner and send QUIT instead of closing at once")
    a = ap.parse_args()
    if a.count < 0 or a.count > 1000000 or a.time_limit <= 0 or a.time_limit > 600:
        print("connflood: count must be 0..1000000 and time limit 0..600 s", file=sys.stderr)
        return 2
    fam = socket.AF_INET6 if ":" in a.addr else socket.AF_INET
    stats = {"attempted": 0, "connected": 0, "refused": 0, "timeout": 0, "other": 0}
    start = time.monotonic()
    while stats["attempted"] < a.count and time.monotonic() - start < a.time_limit:
        stats["attempted"] += 1
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.settimeout(a.connect_timeout)
        try:
            s.connect((a.addr, a.port))
            stats["connected"] += 1
            if a.quit:
                s.recv(512)
                s.sendall(b"QUIT\r\n")
                s.recv(512)
        except ConnectionRefusedError:
            stats["refused"] += 1
        except (socket.timeout, TimeoutError):
            stats["timeout"] += 1
        except OSError:
            stats["other"] += 1
        finally:
            s.close()
    print(" ".join(f"{k} {v}" for k, v in stats.items()) +
          f" seconds {time.monotonic() - start:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
