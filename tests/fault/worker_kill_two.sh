#!/usr/bin/env bash
# SIGKILL of one of two workers under a witness ping that it polls: its queues are lent to the
# other worker at once and given back when its new process forwards. Measures the longest gap in
# the witness's replies (the outage) for three kills; the other worker loses nothing.
source "$(dirname "$0")/../lib/harness.sh"

write_config "$T_DIR/vswitch.toml" 2 2
start_daemon "$T_DIR/vswitch.toml"
wait_metric vswitch_worker_up '' -eq 2 15
ping_ok 1 2 3 || fail "ping before the kills failed"
gaps=()
for round in 1 2 3; do
  witness_start 1 2 0.005
  w=$(hot_queue_worker "$(vm_if 1)")
  pid=$(ctl --json show workers | json_get "j['workers'][$w]['pid']")
  kill -KILL "$pid"
  sleep 1.5
  read -r sent got gap < <(witness_stop)
  log "kill $round of worker $w (pid $pid): sent $sent, received $got, longest gap $gap ms"
  gaps+=("$gap")
  wait_metric vswitch_worker_up '' -eq 2 10
  check "kill $round: queues back with their worker" \
    "$(ctl --json show queues | json_get '"".join(str(q["worker"]) for q in j["queues"])')" = 010010
done
median=$(printf '%s\n' "${gaps[@]}" | sort -n | sed -n 2p)
log "outage (longest witness gap) per kill: ${gaps[*]} ms; median ${median} ms"
check "median outage after a worker kill (ms)" "$median" -le 200
stop_daemon
pass "killed workers' queues were forwarding again within ${median} ms (median of 3)"
