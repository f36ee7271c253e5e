#!/usr/bin/env python3
"""A numbered UDP flow for fault tests (tests/fault/worker_stall.sh, primary_stop.sh).

  udp_flow.py send DST PORT SPORT INTERVAL_S OUT
                                             one datagram every INTERVAL_S (sequence 1, 2, ...)
                                             from source port SPORT until SIGTERM/SIGINT, then
                                             "sent N LAST_S" into OUT (LAST_S: the wall-clock
                                             time of the last one)
  udp_flow.py probe DST PORT SPORT N         N datagrams from SPORT at once (sequence 0: the
                                             receiver ignores them), to see which TAP queue,
                                             hence which worker, the flow lands on
  udp_flow.py recv PORT OUT                  writes "SEQ ARRIVAL_S" (wall clock) per
                                             datagram into OUT until SIGTERM/SIGINT; "ready"
                                             into OUT.ready once it listens
  udp_flow.py stats RECV_LOG SENT [T0|-] [LAST_S]
                                             "RECEIVED LOST MAX_GAP_MS GAP_START": of sequences
                                             1..SENT, those received and lost; the longest time
                                             between two arrivals (ending after T0, a
                                             wall-clock time in s, if given: bash $EPOCHREALTIME) and when it
                                             began (ms after T0). With LAST_S (the sender's last
                                             send), a flow that stopped arriving before the
                                             sender stopped counts that silence as a gap too
"""
import signal
import socket
import struct
import sys
import time

stop = False


def on_signal(signum, frame):
    global stop
    stop = True


def sock(sport):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", sport))
    return s


def probe(dst, port, sport, n):
    s = sock(sport)
    for _ in range(n):
        try:
            s.sendto(struct.pack("!Q", 0), (dst, port))
        except OSError:
            pass
        time.sleep(0.0005)


def send(dst, port, sport, interval, out):
    s = sock(sport)
    seq = 0
    last_send = time.time()
    nxt = time.monotonic()
    while not stop:
        seq += 1
        try:
            s.sendto(struct.pack("!Q", seq), (dst, port))
        except OSError:
            pass  # counted as sent: the receiver decides what arrived
        last_send = time.time()
        nxt += interval
        delay = nxt - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            nxt = time.monotonic()  # late (a loaded machine): no burst to catch up
    with open(out, "w") as f:
        f.write("sent %d %.6f\n" % (seq, last_send))


def recv(port, out):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind(("0.0.0.0", port))
    s.settimeout(0.1)
    lines = []
    with open(out + ".ready", "w") as f:
        f.write("ready\n")
    while not stop:
        try:
            data = s.recv(64)
        except socket.timeout:
            continue
        except InterruptedError:
            continue
        if len(data) >= 8 and data[:8] != bytes(8):
            lines.append("%d %.6f\n" % (struct.unpack("!Q", data[:8])[0], time.time()))
    with open(out, "w") as f:
        f.writelines(lines)


def stats(log, sent, t0, last_send):
    seen = set()
    last = None
    gap, gap_start = 0.0, 0.0
    with open(log) as f:
        for line in f:
            seq, t = line.split()
            seq, t = int(seq), float(t)
            if seq <= sent:
                seen.add(seq)
            if last is not None and (t0 is None or t > t0) and t - last > gap:
                gap, gap_start = t - last, last
            last = t
    # The silence from the last arrival (or T0) to the sender's last send: a flow that never
    # came back must not look like one with short gaps and losses.
    since = last if last is not None else t0
    if last_send is not None and since is not None and last_send - since > gap:
        gap, gap_start = last_send - since, since
    rel = (gap_start - t0) * 1000 if t0 is not None and gap else 0
    print("%d %d %.0f %.0f" % (len(seen), sent - len(seen), gap * 1000, rel))


def main():
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    cmd = sys.argv[1]
    if cmd == "send":
        send(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), sys.argv[6])
    elif cmd == "probe":
        probe(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    elif cmd == "recv":
        recv(int(sys.argv[2]), sys.argv[3])
    elif cmd == "stats":
        t0 = float(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[4] != "-" else None
        last_send = float(sys.argv[5]) if len(sys.argv) > 5 else None
        stats(sys.argv[2], int(sys.argv[3]), t0, last_send)
    else:
        sys.exit("usage: see the header of " + sys.argv[0])


if __name__ == "__main__":
    main()
