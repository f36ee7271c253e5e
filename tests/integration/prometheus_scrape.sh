#!/usr/bin/env bash
# A real Prometheus (Debian's, installed if missing) scrapes a running vswitchd every second while
# TCP flows between two VMs, and:
#  - the scrape passes `promtool check metrics`;
#  - the series exist with the expected labels (port, worker, queue, reason, le ...);
#  - rate(vswitch_port_rx_packets_total) over 10 s matches, within 5%, the frames the sender's
#    kernel netdev counted over the same window, and the per-queue, histogram and tx views agree;
#  - the workers' busy + idle seconds account for their wall-clock time;
#  - every PromQL expression of the dashboards (variables substituted) and every alert rule is
#    loaded into the server and evaluates without error, and every dashboard expression returns
#    data from this live switch.
# With gnuplot installed it also plots the run from the query_range API (dashboards/plot_run.py);
# VSWITCH_PLOT_PNG=FILE keeps that picture.
source "$(dirname "$0")/../lib/harness.sh"
source "$(dirname "$0")/prometheus_lib.sh"

ensure_prometheus
write_config "$T_DIR/vswitch.toml" 2 2
# A second switch with a mirror and a storm limit, so that their panels have data: vm3's frames
# go to vm4. The counts of series below are those of sw0.
config_switch "$T_DIR/vswitch.toml" sw1
config_port "$T_DIR/vswitch.toml" 3 'storm_control = { broadcast = 1000 }'  # the storm panel
config_port "$T_DIR/vswitch.toml" 4
printf '\n[[switch.mirror]]\nname = "m3"\nsource_ports = ["%s"]\noutput = "%s"\n' \
  "$(vm_if 3)" "$(vm_if 4)" >>"$T_DIR/vswitch.toml"
run_start=$(date +%s.%N)
start_daemon "$T_DIR/vswitch.toml"
wait_metric vswitch_worker_up 'worker="0"' -eq 1 10
wait_metric vswitch_worker_up 'worker="1"' -eq 1 10
ping_ok 1 2 3 || fail "ping before the test failed: $(cat "$T_DIR/ping.log")"
# vm3 pings an address no one has (a static neighbour entry): 5 frames a second for the mirror.
ip netns exec "$(vm_ns 3)" ip neigh replace 10.77.0.250 lladdr 02:00:00:00:99:99 dev "$(vm_if 3)"
ip netns exec "$(vm_ns 3)" ping -q -i 0.2 10.77.0.250 >/dev/null 2>&1 &
T_PIDS+=($!)
P1=$(vm_if 1)
P2=$(vm_if 2)

dashboard_exprs "$T_DIR/exprs.tsv"
dashboard_rules "$T_DIR/exprs.tsv" "$T_DIR/dashboard-rules.yml"
start_prometheus "$DASH_DIR/alerts.yml" "$T_DIR/dashboard-rules.yml"
prom_started=$(date +%s.%N)

# --- traffic: one paced TCP stream vm1 -> vm2 for 22 s ------------------------------------------
ip netns exec "$(vm_ns 2)" iperf3 -s -1 -B 10.77.0.2 >"$T_DIR/iperf-server.log" 2>&1 &
T_PIDS+=($!)
for _ in $(seq 100); do
  ip netns exec "$(vm_ns 2)" ss -ltn 2>/dev/null | grep -q ":5201 " && break
  sleep 0.02
done
ip netns exec "$(vm_ns 1)" iperf3 -c 10.77.0.2 -t 22 -b 200M -J >"$T_DIR/iperf.json" 2>&1 &
iperf_pid=$!
T_PIDS+=($iperf_pid)
sleep 6

# promtool check metrics on a scrape taken under load.
scrape >"$T_DIR/scrape.txt" || fail "scrape failed"
promtool check metrics <"$T_DIR/scrape.txt" >"$T_DIR/check-metrics.log" 2>&1 ||
  fail "promtool check metrics: $(cat "$T_DIR/check-metrics.log")"
pass "promtool check metrics: clean ($(grep -c '^# TYPE' "$T_DIR/scrape.txt") metric families)"

# The measurement window: the kernel's own count of the frames vm1's netdev sent into the switch
# and vm2's received from it. stamped VM COUNTER: "<unix time> <value>", read together inside the
# VM's namespace (entering it can take a while on a busy machine; the reading itself does not).
stamped() {
  ip netns exec "$(vm_ns "$1")" sh -c "date +%s.%N; cat /sys/class/net/$(vm_if "$1")/statistics/$2" |
    paste -sd' '
}
read -r t0 k_tx0 < <(stamped 1 tx_packets)
read -r r0 k_rx0 < <(stamped 2 rx_packets)
sleep 10
read -r t1 k_tx1 < <(stamped 1 tx_packets)
read -r r1 k_rx1 < <(stamped 2 rx_packets)
sleep 1.5  # let the scrape at the end of the window land
export PROM_URL="http://127.0.0.1:${PROM_PORT}" T0=$t0 T1=$t1 K_TX0=$k_tx0 K_TX1=$k_tx1 R0=$r0 \
  R1=$r1 K_RX0=$k_rx0 K_RX1=$k_rx1 P1 P2 RUN_START=$run_start EXPRS="$T_DIR/exprs.tsv"
# Frames the switch must drop, for the drops view (and the picture): VLAN-tagged frames on an
# access port. 1000 in 2.5 s stays under the VswitchPortDrops threshold (10/s over 5 min).
drops_before=$(metric vswitch_port_drops_total)
for _ in 1 2 3 4 5; do
  ip netns exec "$(vm_ns 1)" "$VSWITCH_TEST_TOOLS/vs-rawframe" send "$P1" 200 --ethertype 8100 \
    --tag dropme >/dev/null || fail "sending tagged frames failed"
  sleep 0.5
done
wait "$iperf_pid" || fail "iperf3 failed: $(tail -5 "$T_DIR/iperf.json")"
sleep 1
check "frames dropped by the switch (tagged frames on an access port)" \
  $(( $(metric vswitch_port_drops_total) - drops_before )) -ge 1000
mbps=$(python3 -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"] / 1e6))' "$T_DIR/iperf.json")
log "iperf3: ${mbps} Mbit/s"

# One Python process does every query (the machine may be busy: no process per query).
rc=0
python3 - >"$T_DIR/checks.log" 2>&1 <<'PYEOF' || rc=$?
import json, os, sys, time, urllib.parse, urllib.request
E = os.environ
URL = E["PROM_URL"]
failed = []

def api(path, **params):
    q = urllib.parse.urlencode(params)
    with urllib.request.urlopen(f"{URL}{path}?{q}", timeout=20) as r:
        return json.load(r)

def query(expr, t=None):
    r = api("/api/v1/query", query=expr, **({"time": t} if t else {}))
    if r["status"] != "success":
        raise RuntimeError(f"{expr}: {r.get('error')}")
    return r["data"]["result"]

def scalar(expr, t=None):
    res = query(expr, t)
    return float(res[0]["value"][1]) if len(res) == 1 else float("nan")

def ok(cond, msg):
    print(("ok: " if cond else "FAIL: ") + msg)
    if not cond:
        failed.append(msg)

# --- rates against the kernel's counts over the same window -------------------------------------
t0, t1 = float(E["T0"]), float(E["T1"])
w = f"{round(t1 - t0)}s"
kernel_tx = (int(E["K_TX1"]) - int(E["K_TX0"])) / (t1 - t0)
kernel_rx = (int(E["K_RX1"]) - int(E["K_RX0"])) / (float(E["R1"]) - float(E["R0"]))
ok(kernel_tx > 1000, f"traffic in the window: vm1's netdev sent {kernel_tx:.0f} frames/s (> 1000)")
def match(name, got, ref):
    pct = 100 * got / ref if ref else 0
    ok(95 <= pct <= 105, f"{name}: {got:.0f}/s vs {ref:.0f}/s = {pct:.1f}% (95..105%)")
match(f"rate(vswitch_port_rx_packets_total{{port=vm1}}[{w}]) vs vm1 kernel tx_packets",
      scalar(f'sum(rate(vswitch_port_rx_packets_total{{port="{E["P1"]}"}}[{w}]))', t1), kernel_tx)
match(f"rate(vswitch_port_tx_packets_total{{port=vm2}}[{w}]) vs vm2 kernel rx_packets",
      scalar(f'sum(rate(vswitch_port_tx_packets_total{{port="{E["P2"]}"}}[{w}]))', t1), kernel_rx)
match("per-queue driver rx of vm1 vs the port's rx",
      scalar(f'sum(rate(vswitch_port_queue_rx_packets_total{{port="{E["P1"]}"}}[{w}]))', t1),
      scalar(f'sum(rate(vswitch_port_rx_packets_total{{port="{E["P1"]}"}}[{w}]))', t1))
match("rx burst histogram _sum vs all frames received",
      scalar(f"sum(rate(vswitch_worker_rx_burst_packets_sum[{w}]))", t1),
      scalar(f"sum(rate(vswitch_port_rx_packets_total[{w}]))", t1))
for s in query(f"sum by (worker) (rate(vswitch_worker_busy_seconds_total[{w}]) + "
               f"rate(vswitch_worker_idle_seconds_total[{w}]))", t1):
    v = float(s["value"][1])
    ok(0.9 <= v <= 1.05, f"worker {s['metric']['worker']}: busy + idle seconds per second = {v:.3f}")
busy = scalar(f"sum(rate(vswitch_worker_busy_seconds_total[{w}]))", t1)
ok(busy > 0.001, f"busy seconds per second under load, all workers: {busy:.3f}")

# --- series and their labels --------------------------------------------------------------------
B = {"instance", "job"}
reasons = len(query("count by (reason) (vswitch_port_drops_total)"))
ok(reasons >= 3, f"{reasons} drop reasons exported")
now = time.time()
for expr, count, labels in [
    ("vswitch_port_rx_packets_total{switch=\"sw0\"}", 4, B | {"switch", "port", "worker"}),
    ("vswitch_port_rx_bytes_total{switch=\"sw0\"}", 4, B | {"switch", "port", "worker"}),
    ("vswitch_port_tx_packets_total{switch=\"sw0\"}", 4, B | {"switch", "port", "worker"}),
    ("vswitch_port_tx_bytes_total{switch=\"sw0\"}", 4, B | {"switch", "port", "worker"}),
    ("vswitch_port_drops_total{switch=\"sw0\"}", 4 * reasons, B | {"switch", "port", "worker", "reason"}),
    ("vswitch_port_driver_drops_total{switch=\"sw0\"}", 8, B | {"switch", "port", "reason"}),
    ("vswitch_port_queue_rx_packets_total{switch=\"sw0\"}", 6, B | {"switch", "port", "queue"}),
    ("vswitch_port_queue_rx_bytes_total{switch=\"sw0\"}", 6, B | {"switch", "port", "queue"}),
    ("vswitch_port_queue_tx_packets_total{switch=\"sw0\"}", 6, B | {"switch", "port", "queue"}),
    ("vswitch_port_queue_tx_bytes_total{switch=\"sw0\"}", 6, B | {"switch", "port", "queue"}),
    ("vswitch_port_rx_queue_info{switch=\"sw0\"} == 1", 6, B | {"switch", "port", "queue", "worker"}),
    ("vswitch_port_link_up{switch=\"sw0\"} == 1", 2, B | {"switch", "port"}),
    ("vswitch_port_queues{switch=\"sw0\"} == 3", 2, B | {"switch", "port"}),
    ("vswitch_port_mtu_bytes{switch=\"sw0\"} == 1500", 2, B | {"switch", "port"}),
    ("vswitch_worker_up == 1", 2, B | {"worker"}),
    ("vswitch_worker_failed == 0", 2, B | {"worker"}),
    ("vswitch_worker_restarts_total == 0", 2, B | {"worker"}),
    ("vswitch_worker_busy_seconds_total", 2, B | {"worker"}),
    ("vswitch_worker_idle_seconds_total", 2, B | {"worker"}),
    ("vswitch_worker_poll_loops_total", 2, B | {"worker"}),
    ("vswitch_worker_learn_events_total", 2, B | {"worker"}),
    ("vswitch_worker_learn_dropped_total", 2, B | {"worker"}),
    ("vswitch_worker_rx_burst_packets_bucket", 16, B | {"worker", "le"}),
    ("vswitch_worker_rx_burst_packets_count", 2, B | {"worker"}),
    ("vswitch_worker_rx_burst_packets_sum", 2, B | {"worker"}),
    ("histogram_quantile(0.5, sum by (worker, le) (rate(vswitch_worker_rx_burst_packets_bucket[10s])))", 2, {"worker"}),
    ("vswitch_build_info == 1", 1, B | {"version"}),
    ("vswitch_start_time_seconds", 1, B),
    ("vswitch_config_reload_failures_total == 0", 1, B),
    ("vswitch_config_last_reload_successful == 1", 1, B),
    (f"vswitch_config_last_reload_success_timestamp_seconds >= vswitch_start_time_seconds "
     f"and vswitch_config_last_reload_success_timestamp_seconds > {float(E['RUN_START']) - 1} "
     f"and vswitch_config_last_reload_success_timestamp_seconds < {now}", 1, B),
    ("vswitch_fdb_entries{switch=\"sw0\"}", 1, B | {"switch"}),
    ("vswitch_fdb_max_entries{switch=\"sw0\"}", 1, B | {"switch"}),
    # the mbuf pools alone are tens of MB: the heap holds them, and it is at least that full
    ("vswitch_dpdk_heap_allocated_bytes > 8e6 and vswitch_dpdk_heap_allocated_bytes "
     "<= vswitch_dpdk_heap_bytes", 1, B),
]:
    res = query(expr)
    got = [set(s["metric"]) - {"__name__"} for s in res]
    ok(len(res) == count and all(g == labels for g in got),
       f"{expr}: {len(res)} series (want {count}) with labels {sorted(labels)}"
       + ("" if all(g == labels for g in got) else f"; got {got}"))
les = sorted({s["metric"]["le"] for s in query("vswitch_worker_rx_burst_packets_bucket")}, key=float)
ok(les == ["0", "1", "2", "4", "8", "16", "32", "+Inf"], f"rx burst buckets le = {les}")

# --- every dashboard expression returns data from this switch -----------------------------------
n = 0
for line in open(E["EXPRS"]):
    dash, panel, expr = line.rstrip("\n").split("\t")
    try:
        res = query(expr)
        if not res:
            ok(False, f"{dash}: {panel}: no data: {expr}")
        n += bool(res)
    except RuntimeError as e:
        ok(False, f"{dash}: {panel}: {e}")
print(f"{n} dashboard expressions (variables substituted) return data from the live switch")

# --- the server evaluates every rule without error; alert expressions run; nothing fires ---------
time.sleep(2)
rules = [r for g in api("/api/v1/rules")["data"]["groups"] for r in g["rules"]]
bad = [(r["name"], r.get("lastError")) for r in rules if r.get("health") != "ok"]
ok(not bad, f"{len(rules)} rules loaded and evaluated every second, unhealthy: {bad}")
alerts = [r for r in rules if r["type"] == "alerting"]
ok(len(alerts) >= 11, f"{len(alerts)} alert rules from dashboards/alerts.yml")
for r in alerts:
    try:
        query(r["query"])
    except RuntimeError as e:
        ok(False, f"alert {r['name']}: {e}")
print(f"{len(alerts)} alert expressions evaluate via /api/v1/query")
active = [a["labels"]["alertname"] for a in api("/api/v1/alerts")["data"]["alerts"]]
ok(not active, f"alerts pending or firing on a healthy switch: {active}")
if failed:
    print(f"FAILED CHECKS: {len(failed)}")
    sys.exit(1)
PYEOF
while IFS= read -r line; do log "$line"; done <"$T_DIR/checks.log"
[ "$rc" -eq 0 ] || fail "Prometheus checks failed (see above)"

# --- optional picture of the run ----------------------------------------------------------------
if command -v gnuplot >/dev/null; then
  run_end=$(date +%s.%N)
  png=${VSWITCH_PLOT_PNG:-$T_DIR/run.png}
  python3 "$DASH_DIR/plot_run.py" --prometheus "http://127.0.0.1:${PROM_PORT}" \
    --start "$prom_started" --end "$run_end" --out "$png" \
    --port-alias "${P1}=vm1,${P2}=vm2" \
    --title "vswitch test run: iperf3 TCP vm1 -> vm2 (${mbps} Mbit/s, paced), then 1000 VLAN-tagged\\nframes from vm1 on an access port; 2 workers; Prometheus scraping every second" \
    >"$T_DIR/plot.log" 2>&1 || fail "plot_run.py: $(cat "$T_DIR/plot.log")"
  [ "$(head -c 4 "$png" | tail -c 3)" = PNG ] || fail "$png is not a PNG"
  log "plot of the run: $png"
fi
stop_daemon
pass "Prometheus scrapes vswitchd: series, labels, rates, dashboards and rules check out"
