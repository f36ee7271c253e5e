#!/usr/bin/env bash
# Misbehaving management clients: 300 connections to the control socket that never send a
# request and 300 to the metrics endpoint that never finish their request head, opened again as
# soon as vswitchd closes them. Meanwhile `vswitchctl show workers` answers within 1 s every
# time, a `port add` and a `reload` succeed, a real Prometheus scraping every second keeps
# up == 1, and a ping every 10 ms through the switch loses nothing. Then they are released and
# vswitchd's file descriptors return to where they were; the connection counters are checked.
source "$(dirname "$0")/../lib/harness.sh"
source "$(dirname "$0")/../integration/prometheus_lib.sh"
ensure_prometheus

cfg="$T_DIR/vswitch.toml"
limits=("control_max_clients = 64" "control_request_timeout_ms = 3000"
        "metrics_max_connections = 64" "metrics_request_timeout_ms = 3000")
write_config "$cfg" 2 1 "${limits[@]}"
cp "$cfg" "$T_DIR/base.toml"
start_daemon "$cfg"
wait_metric vswitch_worker_up '' -eq 1 15
ping_ok 1 2 3 || fail "vm1 cannot ping vm2"
start_prometheus

fds() { ls "/proc/$T_DAEMON_PID/fd" | wc -l; }
fd0=$(fds)
log "vswitchd has $fd0 fds before the clients come"

python3 "$VSWITCH_SOURCE_DIR/tests/lib/hold_clients.py" --unix "$T_DIR/run/vswitchd.sock" \
  --unix-count 300 --tcp "127.0.0.1:${T_METRICS_PORT}" --tcp-count 300 --reopen-delay 1 \
  --ready "$T_DIR/hold.ready" >"$T_DIR/hold.json" 2>"$T_DIR/hold.err" &
hold=$!
T_PIDS+=("$hold")
for _ in $(seq 200); do [ -f "$T_DIR/hold.ready" ] && break; sleep 0.05; done
[ -f "$T_DIR/hold.ready" ] || fail "the client holder did not start: $(cat "$T_DIR/hold.err")"
hold_start=$(date +%s)
witness_start 1 2

# Both servers sit at their caps.
for _ in $(seq 100); do
  [ "$(metric vswitch_control_connections)" -ge 60 ] && [ "$(metric vswitch_metrics_connections)" -ge 60 ] && break
  sleep 0.1
done
check "control connections held at the cap" "$(metric vswitch_control_connections)" -ge 60
check "metrics connections held at the cap" "$(metric vswitch_metrics_connections)" -ge 60

# vswitchctl answers within 1 s, every time.
worst=0
for i in $(seq 20); do
  t0=${EPOCHREALTIME//[.,]/}
  out=$(timeout 5 "$VSWITCH_BIN_DIR/vswitchctl" --socket "$T_DIR/run/vswitchd.sock" --json show workers) ||
    fail "show workers #$i failed: $out"
  ms=$(( (${EPOCHREALTIME//[.,]/} - t0) / 1000 ))
  [ "$ms" -gt "$worst" ] && worst=$ms
  check "show workers #$i: workers" "$(echo "$out" | json_get 'len(j["workers"])')" -eq 1
  sleep 0.2
done
log "vswitchctl show workers: slowest of 20 answers took $worst ms"
check "slowest show workers (ms)" "$worst" -lt 1000

# A port add and a reload (the file gains vm4) succeed.
j=$(timeout 60 "$VSWITCH_BIN_DIR/vswitchctl" --socket "$T_DIR/run/vswitchd.sock" --json port add sw0 \
  "$(vm_if 3)" --driver "${T_DRIVER:-tap}" --netns "$(vm_ns 3)" --address 10.77.0.3/24) ||
  fail "port add refused under the client flood: $j"
T_NETNS+=("$(vm_ns 3)")
config_port "$cfg" 4
j=$(timeout 60 "$VSWITCH_BIN_DIR/vswitchctl" --socket "$T_DIR/run/vswitchd.sock" --json reload) ||
  fail "reload refused under the client flood: $j"
check "reload added" "$(echo "$j" | json_get '",".join(j["added"])')" = "$(vm_if 4)"
ping_ok 3 4 3 || fail "the ports added under the flood do not forward"

# Hold a while longer so that Prometheus scrapes through it, then stop the witness.
while [ $(( $(date +%s) - hold_start )) -lt 12 ]; do sleep 0.5; done
read -r sent got gap < <(witness_stop)
log "witness vm1 -> vm2 during the flood: sent $sent, received $got, longest gap $gap ms"
check "witness pings" "$sent" -ge 300
check "witness pings lost" "$((sent - got))" -eq 0

held=$(( $(date +%s) - hold_start ))
scrapes=$(prom_value "count_over_time(up{job=\"vswitch\"}[${held}s])")
worst_up=$(prom_value "min_over_time(up{job=\"vswitch\"}[${held}s])")
log "prometheus during the ${held} s flood: $scrapes scrapes, lowest up = $worst_up"
check "prometheus up during the flood (lowest)" "$worst_up" -eq 1
check "prometheus scrapes during the flood" "$scrapes" -ge $(( held - 3 ))

kill -TERM "$hold"
wait "$hold" || fail "the client holder failed: $(cat "$T_DIR/hold.err")"
log "clients: $(cat "$T_DIR/hold.json")"
check "control clients the holder opened" "$(json_get 'j["unix"]["opened"]' <"$T_DIR/hold.json")" -ge 300
check "metrics clients the holder opened" "$(json_get 'j["tcp"]["opened"]' <"$T_DIR/hold.json")" -ge 300

# The counters say what happened: at the cap, idle ones evicted, late ones timed out; nothing
# was refused (the slots were held by idle clients, never by requests being answered).
for s in control metrics; do
  log "$s: $(scrape | grep "^vswitch_${s}_" | tr '\n' ' ')"
  check "$s connections at the cap" "$(metric "vswitch_${s}_connections_at_cap_total")" -gt 0
  check "$s idle connections evicted" "$(metric "vswitch_${s}_connections_evicted_total")" -gt 0
  check "$s idle connections timed out" "$(metric "vswitch_${s}_connections_timed_out_total")" -gt 0
  check "$s connection limit" "$(metric "vswitch_${s}_connections_limit")" -eq 64
done

# Released: the connections are gone and the port changes undone, so every fd must be back.
ctl port del "$(vm_if 3)" >/dev/null || fail "port del vm3 refused"
cp "$T_DIR/base.toml" "$cfg"
ctl reload >/dev/null || fail "reload back to the base file refused"
for _ in $(seq 100); do [ "$(fds)" -le "$fd0" ] && break; sleep 0.1; done
fd1=$(fds)
log "vswitchd has $fd1 fds after the clients left (before: $fd0)"
[ "$fd1" -eq "$fd0" ] || ls -l "/proc/$T_DAEMON_PID/fd" | sed 's/^/fd: /' | tail -40
check "vswitchd fds after the clients left" "$fd1" -eq "$fd0"
check "control connections after release" "$(metric vswitch_control_connections)" -eq 0
check "metrics connections after release (this scrape)" "$(metric vswitch_metrics_connections)" -le 1
ping_ok 1 2 3 || fail "vm1 cannot ping vm2 after the flood"
stop_daemon
pass "600 misbehaving clients: vswitchctl answered within ${worst} ms, port add and reload worked, prometheus kept up == 1, $sent pings lost none, fds back to $fd0"
