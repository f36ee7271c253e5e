#!/usr/bin/env python3
"""Misbehaving management clients, for the fault tests.

Holds COUNT connections open to vswitchd's control socket that never send a request, and COUNT
connections to its metrics endpoint that send an HTTP request line and one header but never the
empty line that ends the request head. A connection the daemon closes (refused at its cap,
evicted, timed out) is opened again after --reopen-delay seconds, so the daemon sees that many
clients trying all the time. Runs until SIGTERM/SIGINT, then closes everything and prints one
JSON line: connections opened, closed by the daemon, and the first bytes of each kind of goodbye.
"""
import argparse
import errno
import json
import os
import selectors
import signal
import socket
import sys
import time

HALF_REQUEST = b"GET /metrics HTTP/1.1\r\nHost: vswitchd\r\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--unix", help="the control socket")
    ap.add_argument("--unix-count", type=int, default=0)
    ap.add_argument("--tcp", help="HOST:PORT of the metrics endpoint")
    ap.add_argument("--tcp-count", type=int, default=0)
    ap.add_argument("--reopen-delay", type=float, default=1.0)
    ap.add_argument("--ready", help="file written once every connection was opened once")
    args = ap.parse_args()

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    sel = selectors.DefaultSelector()
    stats = {"unix": {"opened": 0, "closed_by_daemon": 0, "connect_failed": 0, "goodbyes": {}},
             "tcp": {"opened": 0, "closed_by_daemon": 0, "connect_failed": 0, "goodbyes": {}}}
    pending = []  # (when, kind) to reopen
    open_now = {"unix": 0, "tcp": 0}

    def connect(kind):
        try:
            if kind == "unix":
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(args.unix)
            else:
                host, port = args.tcp.rsplit(":", 1)
                s = socket.create_connection((host, int(port)), timeout=5)
                s.sendall(HALF_REQUEST)
            s.setblocking(False)
        except OSError:
            stats[kind]["connect_failed"] += 1
            pending.append((time.monotonic() + args.reopen_delay, kind))
            return
        stats[kind]["opened"] += 1
        open_now[kind] += 1
        sel.register(s, selectors.EVENT_READ, kind)

    for _ in range(args.unix_count):
        connect("unix")
    for _ in range(args.tcp_count):
        connect("tcp")
    if args.ready:
        with open(args.ready, "w") as f:
            f.write("ready\n")
    while not stop:
        now = time.monotonic()
        due = [p for p in pending if p[0] <= now]
        pending[:] = [p for p in pending if p[0] > now]
        for _, kind in due:
            connect(kind)
        try:
            events = sel.select(timeout=0.05)
        except InterruptedError:
            continue
        for key, _ in events:
            s, kind = key.fileobj, key.data
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            first = data.split(b"\n")[0][:40].decode("utf-8", "replace")
            g = stats[kind]["goodbyes"]
            g[first] = g.get(first, 0) + 1
            sel.unregister(s)
            s.close()
            open_now[kind] -= 1
            stats[kind]["closed_by_daemon"] += 1
            pending.append((time.monotonic() + args.reopen_delay, kind))
    for key in list(sel.get_map().values()):
        key.fileobj.close()
    stats["open_at_stop"] = open_now
    print(json.dumps(stats), flush=True)


if __name__ == "__main__":
    main()
