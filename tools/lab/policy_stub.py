#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# policy_stub.py: a trivial Postfix SMTPD policy responder for checking the lab's wiring
# (`lab.sh up --stub`) before relayguardd exists. Takes the socket path and a log file;
# answers every request "action=DUNNO" and appends one JSON line per request to the log
# (client_address, sender, instance, protocol_state; sanitised and capped). It decides
# nothing: tests of relayguard's behaviour must run the real agent, never this.
import json
import os
import socket
import sys
import threading

MAX_LINE = 4096
MAX_ATTRS = 128
KEEP = ("request", "protocol_state", "client_address", "sender", "recipient", "instance")
log_lock = threading.Lock()


def printable(s, cap=100):
    return "".join(c if 0x20 <= ord(c) < 0x7f else "?" for c in s[:cap])


def serve(conn, logf):
    f = conn.makefile("rb")
    try:
        while True:
            attrs = {}
            while True:
                line = f.readline(MAX_LINE + 1)
                if not line:
                    return
                if len(line) > MAX_LINE or not line.endswith(b"\n"):
                    print("policy_stub: overlong or truncated line, disconnecting",
                          file=sys.stderr)
                    return
                line = line.rstrip(b"\r\n").decode("utf-8", "replace")
                if line == "":
                    break
                name, sep, value = line.partition("=")
                if not sep or len(attrs) >= MAX_ATTRS:
                    print("policy_stub: malformed request, disconnecting", file=sys.stderr)
                    return
                attrs[name] = value
            if attrs.get("request") != "smtpd_access_policy":
                print("policy_stub: unknown request type, disconnecting", file=sys.stderr)
                return
            rec = {k: printable(attrs.get(k, "")) for k in KEEP}
            with log_lock:
                logf.write(json.dumps(rec) + "\n")
                logf.flush()
            conn.sendall(b"action=DUNNO\n\n")
    except OSError:
        return
    finally:
        f.close()
        conn.close()


def main():
    if len(sys.argv) != 3:
        print("usage: policy_stub.py SOCKET LOGFILE", file=sys.stderr)
        return 2
    path, logpath = sys.argv[1], sys.argv[2]
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    # smtpd runs as the postfix user: it must be able to connect.
    os.chmod(path, 0o666)
    srv.listen(128)
    logf = open(logpath, "a")
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn, logf), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
