#!/usr/bin/env python3
"""Worker-kill sampler of bench/run; runs inside the receiving VM's namespace while frames flow.

Reads the receiving interface's rx_packets every ~0.2 ms. For each kill: waits until frames are
arriving, SIGKILLs the vswitch-worker child of --parent, and measures the time from the kill to
the first frame that arrives after the stall (frames already written by the dying worker within
the first 2 ms are not counted as recovery). Prints one line per kill:
    kill <n> <old pid> <new pid> <recovery ms>
"""
import argparse
import os
import signal
import subprocess
import sys
import time


def rx(path):
    with open(path) as f:
        return int(f.read())


def worker_pid(parent):
    out = subprocess.run(["pgrep", "-P", str(parent), "-x", "vswitch-worker"],
                         capture_output=True, text=True).stdout.split()
    return int(out[0]) if out else None


def wait_flowing(path, timeout):
    """Returns once rx_packets increased within the last 5 ms."""
    end = time.monotonic() + timeout
    last, t_last = rx(path), time.monotonic()
    while time.monotonic() < end:
        v = rx(path)
        now = time.monotonic()
        if v != last:
            if now - t_last < 0.005:
                return True
            last, t_last = v, now
        time.sleep(0.0002)
    return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iface", required=True)
    ap.add_argument("--parent", type=int, required=True, help="vswitchd PID")
    ap.add_argument("--kills", type=int, default=3)
    ap.add_argument("--gap", type=float, default=1.5, help="seconds between kills")
    ap.add_argument("--timeout", type=float, default=10.0, help="max recovery wait, seconds")
    a = ap.parse_args()
    path = f"/sys/class/net/{a.iface}/statistics/rx_packets"
    for n in range(1, a.kills + 1):
        if not wait_flowing(path, a.timeout):
            sys.exit(f"kill {n}: no frames arriving before the kill")
        old = worker_pid(a.parent)
        if old is None:
            sys.exit(f"kill {n}: no vswitch-worker child of {a.parent}")
        t_kill = time.monotonic()
        os.kill(old, signal.SIGKILL)
        # Frames the worker wrote just before dying may still be counted in the first ms.
        while time.monotonic() - t_kill < 0.002:
            time.sleep(0.0002)
        base = rx(path)
        t_resume = None
        while time.monotonic() - t_kill < a.timeout:
            v = rx(path)
            if v != base:
                t_resume = time.monotonic()
                break
            time.sleep(0.0002)
        if t_resume is None:
            sys.exit(f"kill {n}: no frame forwarded {a.timeout} s after killing worker {old}")
        new = worker_pid(a.parent)
        if new is None or new == old:
            sys.exit(f"kill {n}: frames flow again but worker {old} was not replaced ({new})")
        print(f"kill {n} {old} {new} {1000 * (t_resume - t_kill):.1f}", flush=True)
        time.sleep(a.gap)


if __name__ == "__main__":
    main()
