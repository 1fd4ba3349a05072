#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# redis_fake.py: a hostile Redis (or Sentinel) on a unix socket, for tests/unit/redis_link.sh.
# Takes the socket path, a mode and an optional hex payload; serves connections one at a
# time, each for at most 30 s, and exits after 60 s in all. Reads RESP commands and:
#   junk PAYLOAD       answers the first command with PAYLOAD (hex) and keeps reading
#   handshake PAYLOAD  answers SELECT/CLIENT/AUTH with +OK and ROLE with master, then any
#                      other command with PAYLOAD
#   sentinel ADDR PORT PAYLOAD  answers SENTINEL get-master-addr-by-name with ADDR PORT
#                      and SUBSCRIBE with PAYLOAD
# Counts connections in PATH.count (one line per connection), so a suite sees retries.
import os
import socket
import sys
import time


def read_command(f):
    """One RESP array of bulk strings, or None at EOF."""
    line = f.readline()
    if not line:
        return None
    if not line.startswith(b"*"):
        return [line.strip()]
    args = []
    for _ in range(int(line[1:])):
        n = int(f.readline()[1:])
        args.append(f.read(n + 2)[:n])
    return args


def serve(conn, mode, argv):
    f = conn.makefile("rb")
    payload = bytes.fromhex(argv[-1]) if argv else b""
    first = True
    while True:
        cmd = read_command(f)
        if cmd is None:
            return
        name = cmd[0].upper() if cmd else b""
        if mode == "junk":
            conn.sendall(payload if first else b"+OK\r\n")
        elif mode == "handshake":
            if name in (b"SELECT", b"CLIENT", b"AUTH", b"PING"):
                conn.sendall(b"+OK\r\n" if name != b"PING" else b"+PONG\r\n")
            elif name == b"ROLE":
                conn.sendall(b"*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n")
            else:
                conn.sendall(payload)
        elif mode == "sentinel":
            if name == b"SENTINEL":
                a, p = argv[0].encode(), argv[1].encode()
                conn.sendall(b"*2\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(a), a, len(p), p))
            elif name == b"SUBSCRIBE":
                conn.sendall(payload)
        first = False


def main():
    path, mode, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if os.path.exists(path):
        os.unlink(path)
    s.bind(path)
    s.listen(8)
    end = time.monotonic() + 60
    while time.monotonic() < end:
        s.settimeout(max(0.1, end - time.monotonic()))
        try:
            conn, _ = s.accept()
        except socket.timeout:
            break
        with open(path + ".count", "a") as c:
            c.write("conn\n")
        conn.settimeout(30)
        try:
            serve(conn, mode, argv)
        except (OSError, ValueError):
            pass
        conn.close()


main()
