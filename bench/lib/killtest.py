#!/usr/bin/env python3
"""Worker-kill test of bench/run (workload "kill"). Runs in the root namespace, next to a vswitchd
with --workers workers whose ports bnA0 and bnB0 have as many queues, and:

1. Steers one UDP flow onto each worker. The kernel TAP puts a frame on an rx queue of the switch
   by the hash of its addresses and ports, so 64 probe frames of each candidate source port are
   sent from A, and the per-queue counters (vswitch_port_queue_rx_packets_total) say which queue
   of --if-a took them; vswitch_port_rx_queue_info says which worker polls that queue. The first
   source port that lands on a worker becomes that worker's flow. Fails if some worker gets none.
2. Counts every flow on both sides, in the kernel: one AF_PACKET socket per flow and side with a
   BPF filter for the flow's frames (outgoing on A's interface, incoming on B's) and a minimal
   receive buffer, read with PACKET_STATISTICS (every frame that passes the filter is counted,
   queued or dropped; reading resets the count). A's sockets see trafgen's frames because it runs
   with -q (the qdisc path; its default bypass skips the packet taps).
3. Starts trafgen with one 64 B frame per flow, round robin, a fixed gap between frames.
4. Per kill: waits until every worker forwards with its own queues and the next victim (the
   workers take turns) has run --min-age s (so each kill is a first crash: the supervisor's
   restart back-off doubles only for a worker that dies within 10 s of its start), pauses trafgen
   (SIGSTOP) until no counter moves for 200 ms, reads the counters, resumes, SIGKILLs the worker
   and times the first frame of its flow that arrives after the kill (frames counted in the first
   2 ms may come from the dying worker). Then waits until the worker runs again with its queues
   back (vswitch_worker_restarts_total one up). A kill's round runs from the reading before it to
   the reading before the next kill (0.5 s after the last one is back), so every frame falls in
   one round: the frames the other flows lost in it (sent - received) must be 0.

Prints "probe", "flow", "rate", "kill" and "total" lines (see the print calls); exits non-zero
with the reason on any failure.
"""
import argparse
import ctypes
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.request

SOL_PACKET = 263
PACKET_STATISTICS = 6
SO_ATTACH_FILTER = 26
PACKET_HOST, PACKET_OUTGOING = 0, 4
ETH_P_ALL, ETH_P_IP = 0x0003, 0x0800
CLONE_NEWNET = 0x40000000
DPORT = 9

libc = ctypes.CDLL(None, use_errno=True)


def fail(msg):
    raise SystemExit(f"killtest: {msg}")


def in_netns(ns, fn):
    """Runs fn() with this thread in network namespace ns (sockets stay in it)."""
    own = os.open("/proc/self/ns/net", os.O_RDONLY)
    fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            fail(f"setns {ns}: {os.strerror(ctypes.get_errno())}")
        try:
            return fn()
        finally:
            if libc.setns(own, CLONE_NEWNET) != 0:
                fail(f"setns back: {os.strerror(ctypes.get_errno())}")
    finally:
        os.close(fd)
        os.close(own)


def frame(dst_mac, src_mac, src_ip, dst_ip, sport):
    """60 B Ethernet + IPv4 + UDP frame with 18 B of zeros, as write_trafgen_cfg writes it."""
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 46, 1, 0x4000, 64, 17, 0,
                               socket.inet_aton(src_ip), socket.inet_aton(dst_ip)))
    s = sum(struct.unpack("!10H", ip))
    s = (s & 0xffff) + (s >> 16)
    s = (s & 0xffff) + (s >> 16)
    ip[10:12] = struct.pack("!H", ~s & 0xffff)
    udp = struct.pack("!HHHH", sport, DPORT, 26, 0) + bytes(18)
    return bytes.fromhex(dst_mac.replace(":", "")) + bytes.fromhex(src_mac.replace(":", "")) + \
        b"\x08\x00" + bytes(ip) + udp


def counting_socket(ns, ifname, pkttype, sport):
    """A packet socket in ns that counts the frames of UDP source port sport (IPv4, 20 B header)
    of pkttype on ifname. The filter is attached before the socket is bound, so it never sees
    an unfiltered frame."""
    prog = [
        (0x20, 0, 0, 0xfffff004),  # ld pkttype (SKF_AD_OFF + SKF_AD_PKTTYPE)
        (0x15, 0, 7, pkttype),     # jeq pkttype, else drop
        (0x28, 0, 0, 12),          # ldh [12]: ethertype
        (0x15, 0, 5, ETH_P_IP),
        (0x30, 0, 0, 23),          # ldb [23]: IP protocol
        (0x15, 0, 3, 17),
        (0x28, 0, 0, 34),          # ldh [34]: UDP source port
        (0x15, 0, 1, sport),
        (0x06, 0, 0, 64),          # accept (64 bytes)
        (0x06, 0, 0, 0),           # drop
    ]

    def make():
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        code = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *i) for i in prog))
        s.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER,
                     struct.pack("HL", len(prog), ctypes.addressof(code)))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)  # the kernel's minimum: drops count
        s.bind((ifname, ETH_P_ALL))
        return s
    return in_netns(ns, make)


class Counter:
    """Running total of a counting socket (PACKET_STATISTICS resets on every read)."""

    def __init__(self, sock):
        self.sock, self.n = sock, 0

    def update(self):
        packets, _drops = struct.unpack("II", self.sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
        self.n += packets   # tp_packets includes tp_drops
        return self.n


LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def scrape(url):
    """{metric name: [(labels dict, value)]}"""
    with urllib.request.urlopen(url, timeout=5) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        head, _, value = line.rpartition(" ")
        name, _, labels = head.partition("{")
        out.setdefault(name, []).append((dict(LABEL.findall(labels)), float(value)))
    return out


def by(m, name, *keys):
    """{(label values...): value} of metric name."""
    return {tuple(l.get(k) for k in keys): v for l, v in m.get(name, [])}


def worker_pid(parent, wid):
    """The running vswitch-worker child of parent with --worker-id wid (no zombie), or None."""
    kids = []
    for pid in os.listdir("/proc"):   # (no /proc/PID/task/TID/children in this kernel)
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                st = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(st[1]) == parent and st[0] != "Z":
            kids.append(pid)
    for pid in kids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if b"--worker-id" in argv:
            i = argv.index(b"--worker-id")
            if i + 1 < len(argv) and argv[i + 1] == str(wid).encode() and b"--replace" not in argv:
                return int(pid)
    return None


def proc_age(pid):
    with open("/proc/uptime") as f:
        up = float(f.read().split()[0])
    with open(f"/proc/{pid}/stat") as f:
        start = int(f.read().rsplit(")", 1)[1].split()[19])
    return up - start / os.sysconf("SC_CLK_TCK")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--parent", type=int, required=True, help="vswitchd PID")
    ap.add_argument("--metrics", required=True, help="vswitchd's metrics URL")
    ap.add_argument("--workers", type=int, required=True)
    ap.add_argument("--kills", type=int, required=True)
    ap.add_argument("--min-age", type=float, default=10.3, help="s a victim must have run")
    ap.add_argument("--ns-a", required=True)
    ap.add_argument("--if-a", required=True)
    ap.add_argument("--ns-b", required=True)
    ap.add_argument("--if-b", required=True)
    ap.add_argument("--src-mac", required=True)
    ap.add_argument("--dst-mac", required=True)
    ap.add_argument("--src-ip", required=True)
    ap.add_argument("--dst-ip", required=True)
    ap.add_argument("--cfg", required=True, help="trafgen config to write")
    ap.add_argument("--gap", default="20us", help="trafgen -t: gap between frames")
    ap.add_argument("--trafgen-out", required=True)
    ap.add_argument("--pids-file", required=True, help="where bench/run's teardown finds trafgen")
    ap.add_argument("--timeout", type=float, default=10.0, help="max recovery wait, s")
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: fail("terminated (SIGTERM)"))
    W = a.workers

    # ---- 1. steering ----
    m = scrape(a.metrics)
    qmap0 = by(m, "vswitch_port_rx_queue_info", "port", "queue", "worker")
    qmap0 = {(p, q): int(w) for (p, q, w) in qmap0}
    if sorted({w for (p, _), w in qmap0.items() if p == a.if_a}) != list(range(W)):
        fail(f"the rx queues of {a.if_a} are not polled by all {W} workers: {sorted(qmap0.items())}")

    def queue_rx():
        return by(scrape(a.metrics), "vswitch_port_queue_rx_packets_total", "port", "queue")

    probe = in_netns(a.ns_a, lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0))
    flows = {}   # worker -> (sport, queue)
    n_probe = 64
    for sport in range(5001, 5001 + 64):
        before = queue_rx()
        f = frame(a.dst_mac, a.src_mac, a.src_ip, a.dst_ip, sport)
        for _ in range(n_probe):
            probe.sendto(f, (a.if_a, ETH_P_IP))
        end = time.monotonic() + 3   # a loaded machine may take a while to poll them
        while True:
            time.sleep(0.05)
            after = queue_rx()
            d = {q: after.get((p, q), 0) - before.get((p, q), 0) for (p, q) in after if p == a.if_a}
            q = max(d, key=d.get)
            if d[q] >= n_probe or time.monotonic() > end:
                break
        if d[q] < n_probe:
            fail(f"probe of source port {sport}: {n_probe} frames sent, per-queue counters of "
                 f"{a.if_a} went up by {d}")
        w = qmap0[(a.if_a, q)]
        print(f"probe {sport} queue {q} worker {w}", flush=True)
        flows.setdefault(w, (sport, q))
        if len(flows) == W:
            break
    probe.close()
    if len(flows) < W:
        fail(f"could not steer a flow onto every worker: 64 source ports reached only workers "
             f"{sorted(flows)}")
    order = sorted(flows)
    for w in order:
        print(f"flow {w} {flows[w][0]} {a.if_a} queue {flows[w][1]}", flush=True)

    # ---- 2. counters, 3. traffic ----
    sent = {w: Counter(counting_socket(a.ns_a, a.if_a, PACKET_OUTGOING, flows[w][0])) for w in order}
    recv = {w: Counter(counting_socket(a.ns_b, a.if_b, PACKET_HOST, flows[w][0])) for w in order}
    hexmac = lambda mac: ", ".join("0x" + b for b in mac.split(":"))
    with open(a.cfg, "w") as f:
        f.write("/* written by bench/lib/killtest.py: one 60 B UDP frame per flow, round robin */\n")
        for w in order:
            sp = flows[w][0]
            f.write(f"/* flow of worker {w}: {a.src_ip}:{sp} -> {a.dst_ip}:{DPORT} */\n{{\n"
                    f"  {hexmac(a.dst_mac)}, {hexmac(a.src_mac)}, 0x08, 0x00,\n"
                    "  0x45, 0x00, 0x00, 0x2e, 0x00, 0x01, 0x40, 0x00, 0x40, 0x11, csumip(14, 33),\n"
                    f"  {', '.join(hex(int(x)) for x in a.src_ip.split('.'))}, "
                    f"{', '.join(hex(int(x)) for x in a.dst_ip.split('.'))},\n"
                    f"  {sp >> 8:#04x}, {sp & 0xff:#04x}, 0x00, {DPORT:#04x}, 0x00, 0x1a, 0x00, 0x00,\n"
                    "  fill(0x00, 18)\n}\n")
    out = open(a.trafgen_out, "w")
    tg = subprocess.Popen(["ip", "netns", "exec", a.ns_a, "trafgen", "--dev", a.if_a, "--conf", a.cfg,
                           "-P", "1", "--no-sock-mem", "-q", "-t", a.gap],
                          stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    with open(a.pids_file, "a") as f:
        f.write(f"{tg.pid}\n")
    print(f"trafgen {tg.pid}", flush=True)

    def update():
        for c in list(sent.values()) + list(recv.values()):
            c.update()

    def pause_and_read():
        """SIGSTOP trafgen, wait until no counter moves for 200 ms, read, SIGCONT."""
        os.killpg(tg.pid, signal.SIGSTOP)
        t0 = time.monotonic()
        last, since = None, t0
        while True:
            time.sleep(0.02)
            update()
            cur = tuple(sent[w].n for w in order) + tuple(recv[w].n for w in order)
            now = time.monotonic()
            if cur != last:
                last, since = cur, now
            elif now - since >= 0.2:
                break
            if now - t0 > 5:
                fail("frames still arriving 5 s after trafgen was paused")
        snap = ({w: sent[w].n for w in order}, {w: recv[w].n for w in order})
        os.killpg(tg.pid, signal.SIGCONT)
        return snap

    def flowing(c, timeout):
        """True once counter c went up twice within 5 ms."""
        end = time.monotonic() + timeout
        last, t_last = c.update(), time.monotonic()
        while time.monotonic() < end:
            v = c.update()
            now = time.monotonic()
            if v != last:
                if now - t_last < 0.005:
                    return True
                last, t_last = v, now
            time.sleep(0.0002)
        return False

    def settled(wid, old):
        """(new pid, metrics) once worker wid runs again as a new process, every worker forwards
        and the queue map is the original one; else None."""
        new = worker_pid(a.parent, wid)
        if new is None or new == old:
            return None
        m = scrape(a.metrics)
        up = by(m, "vswitch_worker_up", "worker")
        if len(up) != W or any(v != 1 for v in up.values()):
            return None
        q = {(p, qq): int(w) for (p, qq, w) in by(m, "vswitch_port_rx_queue_info", "port", "queue", "worker")}
        return (new, m) if q == qmap0 else None

    try:
        # every worker forwards its flow before the first kill
        for w in order:
            if not flowing(recv[w], 10):
                if tg.poll() is not None:
                    fail(f"trafgen exited ({tg.returncode}), see {a.trafgen_out}")
                fail(f"the flow of worker {w} (source port {flows[w][0]}) does not reach {a.if_b}")
        s0 = pause_and_read()
        time.sleep(1.0)
        prev = pause_and_read()
        print(f"rate {sum(prev[0].values()) - sum(s0[0].values())} frames in 1 s", flush=True)
        t_start = time.monotonic()
        done = None   # the last kill's figures, printed once its round is closed

        def close_round():
            """Reads the counters (paused) and prints the last kill's line: its round runs from
            the reading before that kill to this one, so every frame falls in one round."""
            nonlocal prev
            snap = pause_and_read()
            n, v, pid, new, rec, back, waited = done
            d = {w: (snap[0][w] - prev[0][w], snap[1][w] - prev[1][w]) for w in order}
            prev = snap
            o_sent = sum(d[w][0] for w in order if w != v)
            o_lost = sum(d[w][0] - d[w][1] for w in order if w != v)
            if o_sent <= 0:
                fail(f"kill {n}: the other workers' flows sent nothing during the round")
            print(f"kill {n} worker {v} pid {pid} {new} recovery_ms {rec:.1f} restart_ms {back:.0f} "
                  f"killed_sent {d[v][0]} killed_lost {d[v][0] - d[v][1]} other_sent {o_sent} "
                  f"other_lost {o_lost} waited_ms {1000 * waited:.0f}", flush=True)

        for n in range(1, a.kills + 1):
            v = order[(n - 1) % W]
            st = None
            end = time.monotonic() + 20
            while st is None:
                st = settled(v, -1)
                if st is None:
                    if time.monotonic() > end:
                        fail(f"kill {n}: workers or queues not back to normal 20 s after the last kill")
                    time.sleep(0.05)
            pid = st[0]
            restarts0 = by(st[1], "vswitch_worker_restarts_total", "worker")[(str(v),)]
            waited = max(0.0, a.min_age - proc_age(pid))
            time.sleep(waited)
            if done:
                close_round()
            if not flowing(recv[v], 5):
                fail(f"kill {n}: no frame of worker {v}'s flow arrives before the kill")
            t_kill = time.monotonic()
            os.kill(pid, signal.SIGKILL)
            while time.monotonic() - t_kill < 0.002:
                time.sleep(0.0002)
            base = recv[v].update()
            t_resume = None
            while time.monotonic() - t_kill < a.timeout:
                if recv[v].update() != base:
                    t_resume = time.monotonic()
                    break
                time.sleep(0.0002)
            if t_resume is None:
                fail(f"kill {n}: worker {v}'s flow not forwarded {a.timeout} s after killing pid {pid}")
            st = None
            while st is None:
                st = settled(v, pid)
                if st is None:
                    if time.monotonic() - t_kill > 20:
                        fail(f"kill {n}: worker {v} (pid {pid}) not running again with its queues "
                             f"20 s after the kill (new pid {worker_pid(a.parent, v)})")
                    time.sleep(0.02)
            t_back = time.monotonic()
            restarts1 = by(st[1], "vswitch_worker_restarts_total", "worker")[(str(v),)]
            if restarts1 != restarts0 + 1:
                fail(f"kill {n}: vswitch_worker_restarts_total{{worker=\"{v}\"}} went from "
                     f"{restarts0:.0f} to {restarts1:.0f}")
            done = (n, v, pid, st[0], 1000 * (t_resume - t_kill), 1000 * (t_back - t_kill), waited)
        time.sleep(0.5)
        close_round()
        print(f"loop_s {time.monotonic() - t_start:.1f}", flush=True)
    finally:
        try:
            os.killpg(tg.pid, signal.SIGCONT)
            os.killpg(tg.pid, signal.SIGINT)
        except ProcessLookupError:
            pass
        try:
            tg.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(tg.pid, signal.SIGKILL)
            tg.wait()
        out.close()
    # the frames still on their way arrive; then the whole run's totals
    last = None
    for _ in range(50):
        time.sleep(0.05)
        update()
        cur = sum(c.n for c in recv.values())
        if cur == last:
            break
        last = cur
    for w in order:
        print(f"flow_total {w} sent {sent[w].n} received {recv[w].n}", flush=True)
    print(f"total {sum(c.n for c in sent.values())} {sum(c.n for c in recv.values())}", flush=True)


if __name__ == "__main__":
    main()
