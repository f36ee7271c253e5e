#!/usr/bin/env bash
# An idle switch makes no stall (issue #28): two workers with nothing to forward sleep on their rx
# interrupts, a sleep bounded by the housekeeping tick, so they keep beating. After IDLE_SECONDS
# (default 60): 0 stalls, 0 restarts, the same processes, and the longest heartbeat gap (the
# margin) well under worker_stall_ms.
source "$(dirname "$0")/../lib/harness.sh"

idle_s=${IDLE_SECONDS:-60}
stall_ms=500
write_config "$T_DIR/vswitch.toml" 2 2 "worker_stall_ms = ${stall_ms}"
start_daemon "$T_DIR/vswitch.toml"
wait_metric vswitch_worker_up '' -eq 2 15
ping_ok 1 2 3 || fail "ping vm1 -> vm2 failed"
sleep 1
pid0=$(worker_pid 0)
pid1=$(worker_pid 1)
sleeps0=$(metric vswitch_worker_idle_sleeps_total)
log "idle for ${idle_s} s"
sleep "$idle_s"
sleeps=$(( $(metric vswitch_worker_idle_sleeps_total) - sleeps0 ))
# Asleep, not polling: about 20 housekeeping wake-ups a second per worker, not millions of polls.
check "idle sleeps of both workers in ${idle_s} s" "$sleeps" -ge "$idle_s"
check "stalls" "$(metric vswitch_worker_stalls_total)" -eq 0
check "restarts" "$(metric vswitch_worker_restarts_total)" -eq 0
check "worker 0's pid" "$(worker_pid 0)" -eq "$pid0"
check "worker 1's pid" "$(worker_pid 1)" -eq "$pid1"
for w in 0 1; do
    read -r age own wall < <(ctl --json show workers |
    json_rows id heartbeat_age_ms heartbeat_max_stall_ms heartbeat_max_gap_ms |
    awk -v w="$w" '$1 == w { printf "%d %d %d\n", $2, $3, $4 }')
  log "worker $w: heartbeat $age ms ago; longest gap $own ms not waiting for a CPU, $wall ms in all (deadline ${stall_ms} ms)"
  check "worker $w's longest heartbeat gap not waiting for a CPU (ms)" "$own" -lt "$stall_ms"
  # Beats come every 50 ms, sleeping or not: a longest gap under 50 ms would be no measurement.
  check "worker $w's longest heartbeat gap is a real measurement (ms)" "$wall" -ge 50
done
stop_daemon
grep "longest heartbeat gap" "$T_DIR/vswitchd.log" | sed 's/^/  /'
pass "${idle_s} s idle: 0 stalls, longest heartbeat gap under ${stall_ms} ms"
