#!/usr/bin/env python3
"""Plots a vswitch run from Prometheus: throughput by port, drops by reason and worker load.

Reads the query_range API of a Prometheus that scraped vswitchd, writes the series as text
and renders a PNG with gnuplot (Debian: gnuplot-nox). Used by tests/integration/prometheus_scrape.sh
for docs/monitoring-run.png; works on any Prometheus with the vswitch job:

  dashboards/plot_run.py --prometheus http://127.0.0.1:9090 --start -15m --out run.png
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

PANELS = [
    # (title, y label, [(legend template, expr)], scale)
    ("Throughput received from each port", "Mbit/s",
     [("rx {port}", "8 * sum by (port) (rate(vswitch_port_rx_bytes_total[{r}]))")], 1e-6),
    ("Frames", "kframes/s",
     [("rx {port}", "sum by (port) (rate(vswitch_port_rx_packets_total[{r}]))"),
      ("tx {port}", "sum by (port) (rate(vswitch_port_tx_packets_total[{r}]))")], 1e-3),
    ("Drops by reason (switch and driver)", "frames/s",
     [("switch: {reason}", "sum by (reason) (rate(vswitch_port_drops_total[{r}]))"),
      ("driver: {reason}", "sum by (reason) (rate(vswitch_port_driver_drops_total[{r}]))")], 1),
    ("Worker load (busy share of the poll loop)", "%",
     [("worker {worker}",
       "sum by (worker) (rate(vswitch_worker_busy_seconds_total[{r}])) / (sum by (worker) "
       "(rate(vswitch_worker_busy_seconds_total[{r}])) + sum by (worker) "
       "(rate(vswitch_worker_idle_seconds_total[{r}])))")], 100),
]


def parse_time(s):
    if s.startswith("-"):
        units = {"s": 1, "m": 60, "h": 3600}
        return time.time() - float(s[1:-1]) * units[s[-1]]
    return float(s)


def query_range(base, expr, start, end, step):
    q = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
    with urllib.request.urlopen(f"{base}/api/v1/query_range?{q}", timeout=30) as resp:
        r = json.load(resp)
    if r.get("status") != "success":
        sys.exit(f"query failed: {expr}: {r.get('error')}")
    return r["data"]["result"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prometheus", default="http://127.0.0.1:9090")
    ap.add_argument("--start", default="-15m", help="Unix time or -15m / -1h")
    ap.add_argument("--end", default="-0s")
    ap.add_argument("--step", type=float, default=1.0, help="seconds between points")
    ap.add_argument("--rate-window", default="3s", help="range of rate(); >= 3 scrape intervals")
    ap.add_argument("--title", default="vswitch run")
    ap.add_argument("--out", required=True, help="PNG to write")
    ap.add_argument("--port-alias", default="", help="names for the legend: tap1=vm1,tap2=vm2")
    a = ap.parse_args()
    start, end = parse_time(a.start), parse_time(a.end)
    alias = dict(kv.split("=", 1) for kv in a.port_alias.split(",") if "=" in kv)

    tmp = tempfile.mkdtemp(prefix="vswitch-plot.")
    plots = []
    for i, (title, ylabel, queries, scale) in enumerate(PANELS):
        lines = []
        for legend, expr in queries:
            for s in query_range(a.prometheus, expr.format(r=a.rate_window), start, end, a.step):
                if "reason" in s["metric"] and not any(float(v) > 0 for _, v in s["values"]):
                    continue  # a drop reason that never happened: leave it out of the legend
                path = os.path.join(tmp, f"p{i}-{len(lines)}.dat")
                with open(path, "w") as f:
                    for t, v in s["values"]:
                        f.write(f"{float(t) - start:.1f} {float(v) * scale:.6g}\n")
                labels = {k: s["metric"].get(k, "") for k in ("port", "reason", "worker")}
                labels["port"] = alias.get(labels["port"], labels["port"])
                label = legend.format(**labels)
                lines.append(f"'{path}' using 1:2 with lines lw 2 title \"{label}\"")
        if not lines:  # nothing (e.g. no drops at all): draw an empty panel that says so
            lines.append("0 with lines lw 2 title \"none\"")
        plots.append((title, ylabel, lines))

    gp = [
        "set terminal pngcairo size 1100,1250 font 'DejaVu Sans,10'" ,
        f"set output '{a.out}'",
        f"set multiplot layout {len(plots)},1 title \"{a.title}\" font ',12'",
        "set termoption noenhanced", "set grid", "set key outside right top", "set xlabel 'seconds'",
        f"set xrange [0:{end - start:.0f}]", "set yrange [0:*]", "set lmargin 12", "set rmargin 34",
    ]
    for title, ylabel, lines in plots:
        gp += [f"set title \"{title}\"", f"set ylabel \"{ylabel}\"", "plot " + ", ".join(lines)]
    gp.append("unset multiplot")
    script = os.path.join(tmp, "plot.gp")
    with open(script, "w") as f:
        f.write("\n".join(gp) + "\n")
    try:
        subprocess.run(["gnuplot", script], check=True)
    finally:
        shutil.rmtree(tmp)
    print(f"wrote {a.out} ({len(plots)} panels)")


if __name__ == "__main__":
    main()
