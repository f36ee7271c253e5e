#!/usr/bin/env bash
# The alert rules fire against a real switch: vswitchd runs with --no-restart, a real Prometheus
# evaluates dashboards/alerts.yml (a copy with VswitchWorkerDown's `for:` shortened to 3 s), the
# worker is killed, and VswitchWorkerDown goes pending, then firing, for that worker, while no
# alert was active before the kill.
source "$(dirname "$0")/../lib/harness.sh"
source "$(dirname "$0")/prometheus_lib.sh"

ensure_prometheus
write_config "$T_DIR/vswitch.toml" 2 1
start_daemon "$T_DIR/vswitch.toml" --no-restart
wait_metric vswitch_worker_up 'worker="0"' -eq 1 10
ping_ok 1 2 3 || fail "ping before the kill failed"

# The test copy: the first `for:` after "alert: VswitchWorkerDown" becomes 3s.
awk '/- alert: VswitchWorkerDown$/ { hit = 1 }
     hit && /^ *for: / { sub(/for: .*/, "for: 3s"); hit = 0 }
     { print }' "$DASH_DIR/alerts.yml" >"$T_DIR/alerts.yml"
grep -A3 "alert: VswitchWorkerDown" "$T_DIR/alerts.yml" | grep -q "for: 3s" ||
  fail "cannot shorten VswitchWorkerDown's for: in the test copy of alerts.yml"
promtool check rules "$T_DIR/alerts.yml" >/dev/null || fail "the test copy of alerts.yml is invalid"
start_prometheus "$T_DIR/alerts.yml"
sleep 3  # a few evaluations of a healthy switch

# alert_state NAME: "pending", "firing" or "" for the alert NAME with worker="0".
alert_state() {
  prom_api /api/v1/alerts | python3 -c '
import json, sys
for a in json.load(sys.stdin)["data"]["alerts"]:
    if a["labels"].get("alertname") == sys.argv[1] and a["labels"].get("worker") == "0":
        print(a["state"]); break' "$1"
}
active=$(prom_api /api/v1/alerts | python3 -c 'import json,sys; print(" ".join(a["labels"]["alertname"] for a in json.load(sys.stdin)["data"]["alerts"]))')
[ -z "$active" ] || fail "alerts active before the kill: $active"
pass "no alert active while the worker runs"

worker=$(worker_pids)
[ -n "$worker" ] || fail "no worker process"
t0=$(date +%s%N)
kill -KILL "$worker"
pending_ms="" firing_ms=""
for _ in $(seq 300); do
  state=$(alert_state VswitchWorkerDown)
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  [ "$state" = pending ] && [ -z "$pending_ms" ] && pending_ms="after $ms ms" && log "VswitchWorkerDown pending ${ms} ms after the kill"
  if [ "$state" = firing ]; then firing_ms=$ms; break; fi
  sleep 0.1
done
[ -n "$firing_ms" ] || fail "VswitchWorkerDown not firing 30 s after the worker was killed (state: ${state:-none})"
log "VswitchWorkerDown firing ${firing_ms} ms after the kill"
# A busy machine may poll past the 3 s pending phase: Prometheus keeps it in its ALERTS series.
if [ -z "$pending_ms" ]; then
  [ "$(prom_value 'max_over_time(ALERTS{alertname="VswitchWorkerDown", alertstate="pending", worker="0"}[2m])')" = 1 ] ||
    fail "VswitchWorkerDown was never pending before firing"
  pending_ms="(seen in the ALERTS series)"
fi
check "vswitch_worker_up of the killed worker (Prometheus)" "$(prom_value 'vswitch_worker_up{worker="0"}')" -eq 0
check "worker restarts with --no-restart" "$(metric vswitch_worker_restarts_total 'worker="0"')" -eq 0
prom_api /api/v1/alerts | python3 -c '
import json, sys
a = [a for a in json.load(sys.stdin)["data"]["alerts"] if a["labels"]["alertname"] == "VswitchWorkerDown"][0]
assert a["labels"]["severity"] == "critical", a
assert "worker 0" in a["annotations"]["summary"], a
print("labels:", a["labels"]); print("summary:", a["annotations"]["summary"])' ||
  fail "VswitchWorkerDown has the wrong labels or text"
stop_daemon
pass "worker killed: VswitchWorkerDown pending ${pending_ms}, firing after ${firing_ms} ms"
