#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# socket_race.py: the symlink race on a unix listener's path. An attacker process (run as
# the user that owns the socket's directory, as postfix owns Postfix's private/) watches
# the path in a tight loop and swaps each fresh socket for a symlink to a victim file,
# while the server under test is started again and again on that path. Takes the server command (its last
# argument gets "--listen unix:PATH"), the path, the victim and the attacker's user.
# Exit 0 when the victim's owner, mode and content never changed; 1 with the change on
# stderr. Bounded: at most --starts starts and --seconds seconds; every child is ended.
import argparse
import os
import shlex
import socket
import subprocess
import sys
import time


def victim_state(path):
    st = os.lstat(path)
    with open(path, "rb") as f:
        return (st.st_uid, st.st_gid, st.st_mode & 0o7777, f.read())


def connectable(path):
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


ATTACK = r'''
import os, stat, sys, time
sock, victim, end = sys.argv[1], sys.argv[2], time.monotonic() + float(sys.argv[3])
swapped, n = 0.0, 0
while time.monotonic() < end and n < 50000000:
    n += 1
    try:
        st = os.lstat(sock)
    except OSError:
        continue
    if stat.S_ISSOCK(st.st_mode):
        # The fresh socket: swap it for a link before the server sets owner and mode.
        try:
            os.unlink(sock)
            os.symlink(victim, sock)
        except OSError:
            pass
        swapped = time.monotonic()
    elif stat.S_ISLNK(st.st_mode) and time.monotonic() - swapped > 0.05:
        try:
            os.unlink(sock)    # clear the way for the next start
        except OSError:
            pass
'''


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--server", required=True)
    p.add_argument("--sock", required=True)
    p.add_argument("--victim", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--starts", type=int, default=100)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--wait", type=float, default=0.3,
                   help="longest wait for one start to listen or exit")
    a = p.parse_args()
    before = victim_state(a.victim)
    attacker = subprocess.Popen(
        ["setpriv", "--reuid=" + a.user, "--regid=" + a.user, "--clear-groups",
         sys.executable, "-c", ATTACK, a.sock, a.victim, str(a.seconds + 5)])
    end = time.monotonic() + a.seconds
    starts = listened = 0
    try:
        while starts < a.starts and time.monotonic() < end:
            starts += 1
            t = time.monotonic() + 1
            while os.path.lexists(a.sock) and time.monotonic() < t:
                time.sleep(0.005)   # the attacker clears its link: give each start a chance
            srv = subprocess.Popen(shlex.split(a.server) + ["--listen", "unix:" + a.sock],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            t = time.monotonic() + a.wait
            while srv.poll() is None and time.monotonic() < t:
                if connectable(a.sock):
                    listened += 1
                    break
                time.sleep(0.002)
            srv.terminate()
            try:
                srv.wait(5)
            except subprocess.TimeoutExpired:
                srv.kill()
                srv.wait()
            if victim_state(a.victim) != before:
                break
    finally:
        attacker.kill()
        attacker.wait()
    after = victim_state(a.victim)
    print("socket_race: %d starts, %d listening" % (starts, listened), file=sys.stderr)
    if after != before:
        print("socket_race: victim changed after %d starts: uid/gid/mode %s -> %s" %
              (starts, before[:3], after[:3]), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
