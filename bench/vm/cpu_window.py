#!/usr/bin/env python3
"""CPU during a transfer, for bench/vm/run. Samples every --interval s, until SIGTERM: the byte
counters (rx_bytes + tx_bytes) of a host netdev on the data path, utime+stime (/proc/PID/stat,
all threads) of each --group of processes, and the host's busy time (/proc/stat). Then prints one
line of key=value over the *active window*: from the last sample before the netdev's byte rate
first reached 10 % of its peak to the last sample at or above it. So iperf3's start-up in the
guest and the command channel's round trips are left out. A group's process that is gone counts
from its last reading. Exits 1 if the counter never moved (no transfer seen).

Usage: cpu_window.py --netdev IF --group NAME=PID[,PID...] [--group ...] [--interval S] --ready FILE
                     [--max-s S]
"""
import argparse
import os
import signal
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def ticks(pid, last):
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
        fields = s[s.rindex(")") + 2:].split()
        v = int(fields[11]) + int(fields[12])
        last[pid] = v
        return v
    except (OSError, ValueError, IndexError):
        return last.get(pid, 0)


def host_busy():
    with open("/proc/stat") as f:
        c = f.readline().split()
    # user nice system idle iowait irq softirq steal
    return int(c[1]) + int(c[2]) + int(c[3]) + int(c[6]) + int(c[7]) + int(c[8])


def netdev_bytes(ifc):
    b = 0
    for k in ("rx_bytes", "tx_bytes"):
        with open(f"/sys/class/net/{ifc}/statistics/{k}") as f:
            b += int(f.read())
    return b


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--netdev", required=True)
    ap.add_argument("--group", action="append", default=[])
    ap.add_argument("--interval", type=float, default=0.1)
    ap.add_argument("--ready", required=True)
    ap.add_argument("--max-s", type=float, default=600, help="stop by itself after this long")
    a = ap.parse_args()
    groups = []
    for g in a.group:
        name, _, pids = g.partition("=")
        groups.append((name, [p for p in pids.split(",") if p]))
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    last = {}
    samples = []   # (t, bytes, host_busy, [group ticks])

    def sample():
        samples.append((time.monotonic(), netdev_bytes(a.netdev), host_busy(),
                        [sum(ticks(p, last) for p in pids) for _, pids in groups]))

    sample()
    with open(a.ready, "w") as f:
        f.write("ready\n")
    t_end = time.monotonic() + a.max_s
    while not stop and time.monotonic() < t_end:
        time.sleep(a.interval)
        sample()
    sample()
    rates = [(samples[i][1] - samples[i - 1][1]) / max(samples[i][0] - samples[i - 1][0], 1e-6)
             for i in range(1, len(samples))]
    peak = max(rates) if rates else 0
    if peak <= 0:
        print(f"cpu_window: {a.netdev}'s byte counters did not move in {len(samples)} samples",
              file=sys.stderr)
        return 1
    active = [i for i, r in enumerate(rates) if r >= 0.1 * peak]
    s0, s1 = samples[active[0]], samples[active[-1] + 1]   # rates[i] spans samples[i]..[i+1]
    dt = s1[0] - s0[0]
    out = [f"active_s={dt:.3f}", f"total_s={samples[-1][0] - samples[0][0]:.3f}",
           f"netdev_bytes={s1[1] - s0[1]}", f"host_busy_s={(s1[2] - s0[2]) / CLK_TCK:.3f}"]
    for k, (name, _) in enumerate(groups):
        out.append(f"{name}_s={(s1[3][k] - s0[3][k]) / CLK_TCK:.3f}")
    print(" ".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
