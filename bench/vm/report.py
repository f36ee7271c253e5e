#!/usr/bin/env python3
"""Report of bench/vm/run: reads <raw>/data.csv, systems.tsv and meta.txt; writes <out>.md (tables:
median (min-max) over the reps, ratios to the baseline), <out>.csv (every rep's raw value) and
<out>.png (gnuplot, the style of bench/lib/report.py)."""
import argparse
import csv
import os
import shutil
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from report import fmt, histogram_script  # noqa: E402  (bench/run's formats: tables alike)

DIRS = [("tcp", "A → B"), ("tcp_rev", "B → A (`-R`)")]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", required=True)
    ap.add_argument("--out", required=True, help="path prefix of the results")
    ap.add_argument("--baseline", default="lb")
    ap.add_argument("--rel", default="", help="raw dir relative to the results dir, for links")
    ap.add_argument("--note", default="", help="a paragraph added after the first one (e.g. when "
                    "the report is made again from an earlier run's raw data)")
    a = ap.parse_args()

    data, rows_raw = {}, []
    with open(os.path.join(a.raw, "data.csv")) as f:
        for r in csv.DictReader(f):
            rows_raw.append(r)
            data.setdefault((r["system"], r["workload"], r["metric"]), []).append(float(r["value"]))
    with open(os.path.join(a.raw, "systems.tsv")) as f:
        systems = list(csv.DictReader(f, delimiter="\t"))
    meta = {}
    with open(os.path.join(a.raw, "meta.txt")) as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                meta[k] = v
    ok = [s["system"] for s in systems if s["status"] == "ok"]
    base = a.baseline if a.baseline in ok else None
    accel = meta.get("accel", "?")
    dirs = [d for d in DIRS if any(data.get((s, d[0], "gbps")) for s in ok)]

    def vals(s, wl, m):
        return data.get((s, wl, m))

    def med(s, wl, m):
        v = vals(s, wl, m)
        return statistics.median(v) if v else None

    def cell(s, wl, m, kernel=False):
        v = vals(s, wl, m)
        if not v:
            return "kernel" if kernel and s in ok and s.startswith("lb") else "–"
        if len(v) == 1:
            return fmt(v[0])
        return f"{fmt(statistics.median(v))} ({fmt(min(v))}–{fmt(max(v))})"

    out = []
    w = out.append
    day_host = os.path.basename(a.out)
    elapsed = int(meta.get("elapsed_s", "0"))
    w(f"# Guest-to-guest TCP through vswitch and a Linux bridge: {meta.get('date', '?')} on {meta.get('host', '?')}")
    w("")
    w(f"Made by `{('bench/vm/run ' + meta.get('args', '')).strip()}` in {elapsed // 60} min {elapsed % 60} s at "
      f"commit {meta.get('commit', '?')}. Two real QEMU guests (tests/vm/guest_lib.sh: Debian's "
      f"{meta.get('guest_kernel', '?')} kernel and a busybox initramfs, {meta.get('guest_mem_mb', '?')} MB, "
      f"1 vCPU, virtio-net, vhost={meta.get('vhost', '?')}) are booted once per system; then guest A runs "
      f"`iperf3 -c B -P 1 -t {meta.get('duration', '?')} -J` (and `-R`, B → A) {meta.get('reps', '?')} times. "
      f"A cell is the median (min–max) of the repetitions. Every repetition's raw value is in "
      f"`{day_host}.csv`; iperf3's JSON, the guests' consoles and the logs are in "
      f"`bench/results/{a.rel}/` (not committed). What each system is: `bench/README.md`, "
      "\"Real guests: bench/vm/run\".")
    w("")
    if a.note:
        w(f"**Note:** {a.note}")
        w("")
    if accel == "kvm":
        w("**Accelerator: KVM.** The guests ran with hardware virtualisation.")
    else:
        w(f"**Accelerator: {accel.upper()}, not KVM** (`/dev/kvm` {meta.get('kvm_device', '?')} on this "
          "machine). Every guest instruction is emulated by qemu on the host's CPU, so the guests' CPU, not "
          "the switch, limits the rate: two emulated guests, the switch and the machine's other tenants share "
          "2 cores. The absolute Gbit/s are those of TCG guests on this machine, far below what the same "
          "switch moves between network namespaces (bench/run). **Read the ratios**, and the switch's "
          "CPU per Gbit, not the absolute rates.")
    w("")
    w(f"Machine: {meta.get('cpu', '?')}, {meta.get('mem', '?')}, kernel {meta.get('kernel', '?')}; "
      f"qemu {meta.get('qemu', '?')}, iperf3 {meta.get('iperf3', '?')} (host and guests); hugepages at "
      f"start: {meta.get('hugepages', '?')}. The two guests, vswitchd (core 0) and its worker (core 1) "
      "share the 2 cores with each other and with other engineers' builds and tests. The systems run one "
      "after another, so a change of the machine's load between them moves the ratios too; the load "
      "average before each system is in the first table, the host's busy time during the runs in the last.")
    if "dirty" in meta.get("commit", "") and meta.get("dirty", "").strip():
        w("")
        w(f"The working tree had uncommitted changes in: {meta['dirty'].strip()}; the release build that ran "
          "included them.")
    w("")
    w("## Systems")
    w("")
    after = any(s.get("loadavg_after") for s in systems)
    w(f"| system | data path | status | load avg before{' / after' if after else ''} (1/5/15 min) | "
      "boot A / B, s | both ready, s |")
    w("|---|---|---|---|---|---|")
    for s in systems:
        st = s["status"] if s["status"] == "ok" else f"**{s['status']}**: {s['message']}"
        ba, bb, both = (med(s["system"], "boot", m) for m in ("boot_a_s", "boot_b_s", "boot_both_s"))
        boot = f"{fmt(ba)} / {fmt(bb)}" if ba is not None else "–"
        w(f"| {s['system']} | {s['desc']} | {st} | {s['loadavg']}{(' / ' + (s.get('loadavg_after') or '?')) if after else ''} | {boot} | "
          f"{fmt(both)} |")
    w("")
    w("Boot: from qemu's start to the guest's READY (eth0 configured, command channel served), host "
      "clock; both guests boot at the same time. \"Both ready\": from the first qemu start to the later READY.")
    w("")

    reps = meta.get("reps", "?")
    w(f"## TCP, 1 stream (median (min–max) of {reps})")
    w("")
    qcol = any(vals(s, wl, "qemu_cpu_s_per_gbit") for s in ok for wl, _ in dirs)
    w("| system | accel | direction | Gbit/s | ratio to " + (base or "lb") +
      " | avg frame into the receiving guest, bytes | switch CPU s per Gbit | " +
      ("both qemu CPU s per Gbit | ratio to " + (base or "lb") + " | " if qcol else "") + "boot A / B, s |")
    w("|---|---|---|---|---|---|---|" + ("---|---|" if qcol else "") + "---|")
    for s in ok:
        ba, bb = med(s, "boot", "boot_a_s"), med(s, "boot", "boot_b_s")
        for wl, label in dirs:
            b = med(base, wl, "gbps") if base else None
            m = med(s, wl, "gbps")
            r = f"{m / b:.2f}×" if (b and m is not None) else "–"
            qb_ = med(base, wl, "qemu_cpu_s_per_gbit") if base else None
            qm = med(s, wl, "qemu_cpu_s_per_gbit")
            qr = f"{qm / qb_:.2f}×" if (qb_ and qm is not None) else "–"
            w(f"| {s} | {accel} | {label} | {cell(s, wl, 'gbps')} | {r} | {cell(s, wl, 'rx_frame_bytes')} | "
              f"{cell(s, wl, 'cpu_s_per_gbit', kernel=True)} | "
              + (f"{cell(s, wl, 'qemu_cpu_s_per_gbit')} | {qr} | " if qcol else "")
              + f"{fmt(ba)} / {fmt(bb)} |")
    w("")
    w("- **avg frame**: Δ`rx_bytes` / Δ`rx_packets` of the receiving guest's eth0 over the run (A → B: "
      "guest B; B → A: guest A). Above 1514 bytes, the sender's TSO super-frames reached the receiving "
      "guest whole (virtio-net with guest TSO); TCP's ACKs going the other way are not in it.")
    w("- **switch CPU s per Gbit**: utime+stime (`/proc/PID/stat`, all threads) of vswitchd and its "
      "vswitch-worker while the stream ran, divided by the Gbit iperf3 received. \"While the stream ran\": "
      "`bench/vm/cpu_window.py` samples every 0.1 s and keeps the window in which a host netdev on the path "
      "(guest B's TAP or macvtap) moved bytes at ≥ 10 % of its peak rate, so the guests' iperf3 start-up and "
      "the command channel are left out (the window's length is `cpu_window_s` in the CSV). \"kernel\": the "
      "Linux bridge has no process; its cost is kernel time in the qemu threads and softirqs.")
    if qcol:
        w("- **both qemu CPU s per Gbit**: utime+stime of the two qemu processes over the same window, divided "
          "by the Gbit received. On a machine whose cores are all busy, a system's Gbit/s follows the share of "
          "CPU its two qemus get, which the other tenants' load changes from one system to the next. CPU per "
          "Gbit is less tied to that share (it still grows with contention), so it is a second view of what "
          "each data path costs the guests' side. "
          "It includes what the host kernel does in qemu's system calls (the bridge, the macvtap, a tc "
          "redirect), but not softirq work that runs in ksoftirqd or in the switch's threads.")
    w("")
    w(f"## CPU during the runs (median (min–max) of {reps})")
    w("")
    w("| system | direction | switch processes, % of 1 core | qemu A, % of 1 core | qemu B, % of 1 core | "
      "host busy, % of 1 core (sum of 2) | iperf3 CPU in guest A / B, % | TCP retransmits |")
    w("|---|---|---|---|---|---|---|---|")
    for s in ok:
        for wl, label in dirs:
            gc, gs = med(s, wl, "guest_client_cpu_pct"), med(s, wl, "guest_server_cpu_pct")
            w(f"| {s} | {label} | {cell(s, wl, 'switch_cpu_pct', kernel=True)} | {cell(s, wl, 'qemu_a_cpu_pct')} | "
              f"{cell(s, wl, 'qemu_b_cpu_pct')} | {cell(s, wl, 'host_busy_pct')} | {fmt(gc)} / {fmt(gs)} | "
              f"{cell(s, wl, 'retransmits')} |")
    w("")
    w("Over the same window as the switch's CPU. qemu's CPU is its whole process (the vCPU thread under TCG, its I/O thread that moves frames "
      "between the TAP and virtio-net, and the host kernel's work in its system calls). The iperf3 CPU "
      "column is iperf3's own report (`cpu_utilization_percent`, host_total / remote_total) of the "
      "guest's whole system, as the guest kernel sees it. Host busy includes every tenant of the machine.")
    w("")
    w("## Plot")
    w("")
    png = make_plot(a, ok, dirs, vals, accel)
    w(f"![guest-to-guest TCP]({os.path.basename(png)})" if png else "(gnuplot produced no plot)")
    w("")

    with open(a.out + ".md", "w") as f:
        f.write("\n".join(out))
    with open(a.out + ".csv", "w", newline="") as f:
        cw = csv.writer(f)
        cw.writerow(["date", "host", "accel", "system", "rep", "workload", "metric", "value", "unit"])
        for r in rows_raw:
            cw.writerow([meta.get("date", ""), meta.get("host", ""), accel, r["system"], r["rep"],
                         r["workload"], r["metric"], r["value"], r["unit"]])


def make_plot(a, present, dirs, vals, accel):
    if not shutil.which("gnuplot"):
        print("report: gnuplot not found", file=sys.stderr)
        sys.exit(1)
    syss = [s for s in present if any(vals(s, wl, "gbps") for wl, _ in dirs)]
    if not syss:
        return None
    dat = os.path.join(a.raw, "plot-guests.dat")
    with open(dat, "w") as f:
        for s in syss:
            cols = [f'"{s}"']
            for wl, _ in dirs:
                v = vals(s, wl, "gbps")
                cols += ([f"{statistics.median(v):.6g}", f"{min(v):.6g}", f"{max(v):.6g}"] if v
                         else ["NaN", "NaN", "NaN"])
            f.write(" ".join(cols) + "\n")
    png = a.out + ".png"
    gp = histogram_script(
        png, f"Guest-to-guest TCP, iperf3 -P 1, guests under {accel.upper()} (median, min-max)",
        "Gbit/s") + ["set yrange [0:*]"]
    parts = []
    for i, (_, label) in enumerate(dirs):
        c = 2 + 3 * i
        title = label.replace("`", "")
        parts.append(f"'{dat}' using {c}:{c + 1}:{c + 2}:xtic(1) title '{title}'")
    gp.append("plot " + ", ".join(parts))
    script = os.path.join(a.raw, "plot-guests.gp")
    with open(script, "w") as f:
        f.write("\n".join(gp) + "\n")
    r = subprocess.run(["gnuplot", script], capture_output=True, text=True)
    if r.returncode != 0 or not os.path.exists(png):
        print(f"report: gnuplot failed: {r.stderr}", file=sys.stderr)
        sys.exit(1)
    return png


if __name__ == "__main__":
    main()
