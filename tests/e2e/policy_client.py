#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# policy_client.py: test client for the policy service suite (tests/e2e/policy_service.sh).
# Speaks the Postfix policy protocol over unix:PATH or inet:HOST:PORT and runs one scenario
# per invocation: exact replies, pipelining, concurrency, connection caps, and hostile inputs
# that must end in a close without any reply while a bystander connection keeps being served.
# A stream scenario also serves the reload and audit suites and bench-reload.
# Exit 0 when the scenario holds, 1 with a reason on stderr when it does not. Stdlib only;
# every wait is bounded.
import argparse
import os
import select
import socket
import sys
import threading
import time

BLOCK = ("550 5.7.750 Service unavailable. Client blocked from sending from "
         "unregistered domains")


def connect(addr, timeout=10.0):
    if addr.startswith("unix:"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        target = addr[5:]
    elif addr.startswith("inet:"):
        hp = addr[5:]
        if hp.startswith("["):
            host, port = hp[1:].split("]:")
            s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        else:
            host, port = hp.rsplit(":", 1)
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        target = (host, int(port))
    else:
        raise SystemExit("bad address " + addr)
    s.settimeout(timeout)
    s.connect(target)
    return s


def request(sender="alice@contoso.com", client="192.0.2.10", instance="1.a.1", extra=""):
    return ("request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"
            "client_address=%s\nclient_name=unknown\nhelo_name=mx.test\nsender=%s\n"
            "recipient=rcpt@example.org\nrecipient_count=0\nqueue_id=\ninstance=%s\n"
            "size=0\n%s\n" % (client, sender, instance, extra)).encode()


def expected(sender):
    dom = sender.rsplit("@", 1)[-1].lower()
    return ("action=%s\n\n" % (BLOCK if dom.endswith("bad.example") else "DUNNO")).encode()


def read_reply(s, deadline=10.0):
    """One reply (up to the empty line), or what arrived before EOF."""
    buf = b""
    end = time.monotonic() + deadline
    while not buf.endswith(b"\n\n"):
        s.settimeout(max(0.01, end - time.monotonic()))
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
    return buf


def wait_closed(s, limit):
    """True with no bytes when the peer closes within limit; (closed, data)."""
    data = b""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        s.settimeout(max(0.01, end - time.monotonic()))
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            return False, data
        except (ConnectionResetError, BrokenPipeError):
            return True, data
        if not chunk:
            return True, data
        data += chunk
    return False, data


def die(msg):
    print("policy_client: " + msg, file=sys.stderr)
    sys.exit(1)


def cmd_reply(a):
    s = connect(a.addr)
    for i in range(2):     # the second proves the connection persists
        s.sendall(request(a.sender, instance="r.%d" % i))
        got = read_reply(s)
        want = ("action=%s\n\n" % a.action).encode()
        if got != want:
            die("request %d: expected %r, got %r" % (i, want, got))
    s.close()


def cmd_raw(a):
    """Send raw bytes (Python escapes allowed), expect exact reply bytes."""
    s = connect(a.addr)
    s.sendall(a.data.encode().decode("unicode_escape").encode("latin-1"))
    want = a.expect.encode().decode("unicode_escape").encode("latin-1")
    got = read_reply(s)
    if got != want:
        die("expected %r, got %r" % (want, got))


def cmd_pipeline(a):
    s = connect(a.addr)
    senders = ["u%d@%s" % (i, "x.bad.example" if i % 3 == 0 else "contoso.com")
               for i in range(a.n)]
    s.sendall(b"".join(request(x, instance="p.%d" % i) for i, x in enumerate(senders)))
    want = b"".join(expected(x) for x in senders)
    got = b""
    end = time.monotonic() + 20
    while len(got) < len(want) and time.monotonic() < end:
        s.settimeout(max(0.01, end - time.monotonic()))
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    if got != want:
        die("pipelined replies differ (got %d bytes, want %d)" % (len(got), len(want)))


def cmd_stream(a):
    """Requests on one connection, a.batch in flight at a time, until a.n are answered or
    the file a.until exists (then a.max_s at most): each reply must be action=a.action.
    Prints "sent=N answered=N wrong=N max_ms=X p99_ms=Y" (latency of each batch's last
    reply from its send); exit 1 when a reply is missing or wrong."""
    s = connect(a.addr)
    sent = answered = wrong = 0
    lat = []
    want = ("action=%s" % a.action).encode()
    end = time.monotonic() + a.max_s
    buf = b""
    while time.monotonic() < end and (a.n == 0 or sent < a.n):
        if a.until and os.path.exists(a.until):
            break
        k = a.batch if a.n == 0 else min(a.batch, a.n - sent)
        t0 = time.monotonic()
        s.sendall(b"".join(request(a.sender, a.client, "s.%d" % (sent + i))
                           for i in range(k)))
        sent += k
        got = 0
        while got < k:
            while b"\n\n" not in buf:
                s.settimeout(max(0.01, end + 10 - time.monotonic()))
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    chunk = b""
                if not chunk:
                    print("sent=%d answered=%d wrong=%d" % (sent, answered, wrong))
                    die("no reply to request %d" % (answered + 1))
                buf += chunk
            reply, buf = buf.split(b"\n\n", 1)
            got += 1
            answered += 1
            if reply != want:
                wrong += 1
        lat.append((time.monotonic() - t0) * 1000)
    lat.sort()
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else 0
    print("sent=%d answered=%d wrong=%d max_ms=%.1f p99_ms=%.1f" %
          (sent, answered, wrong, lat[-1] if lat else 0, p99))
    if wrong or answered != sent:
        sys.exit(1)


def cmd_concurrent(a):
    errors = []
    start = threading.Barrier(a.conns, timeout=30)

    def worker(k):
        try:
            s = connect(a.addr, timeout=30)
            start.wait()
            for i in range(a.reqs):
                sender = "w%d@%s" % (k, "bad.example" if (k + i) % 2 else "fabrikam.com")
                client = "192.0.2.%d" % (k % 250 + 1) if k % 2 else "2001:db8:10::%x" % k
                s.sendall(request(sender, client, "c.%d.%d" % (k, i)))
                got = read_reply(s, 30)
                if got != expected(sender):
                    errors.append("conn %d req %d: %r" % (k, i, got))
                    return
            s.close()
        except Exception as e:      # noqa: BLE001 - any failure is the test's failure
            errors.append("conn %d: %r" % (k, e))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(a.conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    if errors:
        die("%d of %d connections failed, first: %s" % (len(errors), a.conns, errors[0]))


class Bystander:
    """A persistent connection that keeps asking while a hostile client misbehaves."""

    def __init__(self, addr):
        self.s = connect(addr)
        self.n = 0
        self.err = None
        self.stop = threading.Event()
        self.t = threading.Thread(target=self.run)

    def ask(self):
        sender = "b%d@%s" % (self.n, "bad.example" if self.n % 2 else "contoso.com")
        self.s.sendall(request(sender, instance="b.%d" % self.n))
        got = read_reply(self.s)
        if got != expected(sender):
            raise RuntimeError("bystander request %d got %r" % (self.n, got))
        self.n += 1

    def run(self):
        try:
            while not self.stop.is_set():
                self.ask()
                self.stop.wait(0.05)
        except Exception as e:      # noqa: BLE001
            self.err = e

    def __enter__(self):
        self.ask()
        self.t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.t.join(15)
        if self.err is None:
            try:
                self.ask()
            except Exception as e:  # noqa: BLE001
                self.err = e
        self.s.close()


def send_quietly(s, data):
    try:
        s.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass


def hostile_payload(kind):
    head = b"request=smtpd_access_policy\nclient_address=192.0.2.66\n"
    if kind == "overlong-line":
        return head + b"sender=" + b"a" * 100000 + b"@contoso.com\n\n"
    if kind == "overlong-request":
        return head + b"".join(b"x_pad%d=%s\n" % (i, b"p" * 200) for i in range(200)) + b"\n"
    if kind == "nul":
        return head + b"sender=a\x00b@contoso.com\n\n"
    if kind == "many-attrs":
        return head + b"".join(b"a%d=%d\n" % (i, i) for i in range(10000)) + b"\n"
    if kind == "no-equals":
        return head + b"sender alice@contoso.com\n\n"
    if kind == "empty-name":
        return head + b"=alice@contoso.com\n\n"
    if kind == "wrong-request":
        return b"request=something_else\nsender=a@contoso.com\n\n"
    if kind == "repeated":
        return head + b"sender=a@contoso.com\nsender=b@bad.example\n\n"
    raise SystemExit("unknown kind " + kind)


def cmd_hostile(a):
    with Bystander(a.addr) as by:
        s = connect(a.addr)
        if a.kind == "missing-terminator-eof":
            send_quietly(s, b"request=smtpd_access_policy\nsender=a@contoso.com\n")
            s.shutdown(socket.SHUT_WR)
            closed, data = wait_closed(s, 10)
        elif a.kind == "idle":
            closed, data = wait_closed(s, a.limit)
        elif a.kind == "trickle":
            payload = request("slow@contoso.com")
            closed, data = False, b""
            end = time.monotonic() + a.limit
            for i in range(len(payload)):
                if time.monotonic() > end:
                    break
                try:
                    s.send(payload[i:i + 1])
                except (BrokenPipeError, ConnectionResetError):
                    closed = True
                    break
                r, _, _ = select.select([s], [], [], a.interval)
                if r:
                    closed, data = wait_closed(s, 1)
                    break
            if not closed:
                die("trickling client was not cut off within %ss" % a.limit)
        elif a.kind == "abrupt":
            send_quietly(s, b"request=smtpd_access_policy\nsender=a@con")
            # RST instead of FIN: SO_LINGER with zero timeout.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.close()
            time.sleep(0.2)
            closed, data = True, b""
        elif a.kind == "output-flood":
            # Pipeline replies the client never reads: the server must give up on it.
            req = b"request=smtpd_access_policy\n\n"
            chunk = req * 2000
            closed = False
            end = time.monotonic() + a.limit
            s.setblocking(False)
            sent = 0
            pending = chunk
            while time.monotonic() < end:
                try:
                    n = s.send(pending)
                    sent += n
                    # Keep the stream whole across partial sends.
                    pending = pending[n:] or chunk
                except BlockingIOError:
                    time.sleep(0.01)
                except (BrokenPipeError, ConnectionResetError):
                    closed = True
                    break
            if not closed:
                die("server kept a client that reads none of its replies (sent %d bytes)"
                    % sent)
            data = b""
        else:
            send_quietly(s, hostile_payload(a.kind))
            closed, data = wait_closed(s, 10)
        if not closed:
            die("%s: connection not closed" % a.kind)
        if data:
            die("%s: server replied %r before closing" % (a.kind, data[:80]))
    if by.err:
        die("%s: bystander not served: %r" % (a.kind, by.err))


def cmd_maxconns(a):
    held = []
    for i in range(a.max):
        s = connect(a.addr)
        s.sendall(request("h%d@contoso.com" % i))
        if read_reply(s) != b"action=DUNNO\n\n":
            die("connection %d under the limit not served" % i)
        held.append(s)
    extra = connect(a.addr)
    send_quietly(extra, request("over@contoso.com"))
    closed, data = wait_closed(extra, 10)
    if not closed or data:
        die("connection over the limit: closed=%s data=%r" % (closed, data[:80]))
    for s in held:     # those under the limit still work
        s.sendall(request("again@bad.example"))
        if read_reply(s) != expected("again@bad.example"):
            die("held connection not served after refusal")
    held.pop().close()
    end = time.monotonic() + 5
    while True:        # the freed slot is taken again once the server saw the close
        s = connect(a.addr)
        send_quietly(s, request("new@contoso.com"))
        try:
            got = read_reply(s, 2)
        except (ConnectionResetError, socket.timeout):
            got = b""
        if got == b"action=DUNNO\n\n":
            break
        if time.monotonic() > end:
            die("freed slot never became usable")
        time.sleep(0.1)


def cmd_fdflood(a):
    """Open n connections at once (more than the server has descriptors for) and hold
    them for a while; then close them all: the server must answer a new one."""
    held = []
    for i in range(a.n):
        try:
            held.append(connect(a.addr, 2))
        except OSError:
            pass
    time.sleep(a.hold)
    for s in held:
        s.close()
    end = time.monotonic() + 5
    while True:        # recovered once the server saw the closes
        try:
            s = connect(a.addr, 2)
            send_quietly(s, request("back@contoso.com"))
            got = read_reply(s, 2)
        except (OSError, socket.timeout):
            got = b""
        if got == b"action=DUNNO\n\n":
            break
        if time.monotonic() > end:
            die("no answer after the descriptors were freed")
        time.sleep(0.1)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("reply")
    r.add_argument("addr")
    r.add_argument("sender")
    r.add_argument("action")
    r = sub.add_parser("raw")
    r.add_argument("addr")
    r.add_argument("data")
    r.add_argument("expect")
    r = sub.add_parser("pipeline")
    r.add_argument("addr")
    r.add_argument("n", type=int)
    r = sub.add_parser("stream")
    r.add_argument("addr")
    r.add_argument("sender")
    r.add_argument("action")
    r.add_argument("--client", default="192.0.2.10")
    r.add_argument("--n", type=int, default=0)
    r.add_argument("--batch", type=int, default=1)
    r.add_argument("--until", default="")
    r.add_argument("--max-s", type=float, default=60.0)
    r = sub.add_parser("concurrent")
    r.add_argument("addr")
    r.add_argument("conns", type=int)
    r.add_argument("reqs", type=int)
    r = sub.add_parser("hostile")
    r.add_argument("addr")
    r.add_argument("kind")
    r.add_argument("--limit", type=float, default=15.0)
    r.add_argument("--interval", type=float, default=0.05)
    r = sub.add_parser("maxconns")
    r.add_argument("addr")
    r.add_argument("max", type=int)
    r = sub.add_parser("fdflood")
    r.add_argument("addr")
    r.add_argument("n", type=int)
    r.add_argument("--hold", type=float, default=2.0)
    a = p.parse_args()
    {"reply": cmd_reply, "raw": cmd_raw, "pipeline": cmd_pipeline, "stream": cmd_stream,
     "concurrent": cmd_concurrent, "hostile": cmd_hostile, "maxconns": cmd_maxconns,
     "fdflood": cmd_fdflood}[a.cmd](a)


if __name__ == "__main__":
    main()
