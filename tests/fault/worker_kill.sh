#!/usr/bin/env bash
# SIGKILL of the worker: the supervisor restarts it and the switch forwards again. Measures the
# time from the kill until a frame crosses again.
source "$(dirname "$0")/../lib/harness.sh"

write_config "$T_DIR/vswitch.toml" 2
start_daemon "$T_DIR/vswitch.toml"
wait_metric vswitch_worker_up 'worker="0"' -eq 1 10
ping_ok 1 2 3 || fail "ping before the kill failed"

for kill_round in 1 2 3; do
  old=$(worker_pids)
  [ -n "$old" ] || fail "no worker process"
  t0=$(date +%s%N)
  kill -KILL "$old"
  # Forwarding is back when one ping gets through (each try waits at most 100 ms).
  until ip netns exec "$(vm_ns 1)" ping -q -c 1 -W 0.1 10.77.0.2 >/dev/null 2>&1; do
    [ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 10000 ] || fail "no forwarding 10 s after the kill"
  done
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  new=$(worker_pids)
  [ -n "$new" ] && [ "$new" != "$old" ] || fail "worker not replaced (old $old, new $new)"
  log "kill $kill_round: forwarding again after ${ms} ms (worker $old -> $new)"
  check "restarts counted" "$(metric vswitch_worker_restarts_total 'worker="0"')" -eq "$kill_round"
done
wait_metric vswitch_worker_up 'worker="0"' -eq 1 5
ping_ok 1 2 10 || fail "ping after the kills failed"
grep -q " 0% packet loss" "$T_DIR/ping.log" || fail "loss after restarts: $(cat "$T_DIR/ping.log")"
grep -o "forwarding [0-9]* ms after start" "$T_DIR/vswitchd.log" | sed 's/^/worker start-up: /' |
  while read -r line; do log "$line"; done
stop_daemon
pass "worker killed 3 times, restarted each time, forwarding without loss afterwards"
