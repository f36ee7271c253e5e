#!/usr/bin/env bash
# A worker that crashes at every start (fault injection) is restarted with back-off, then given
# up: state "failed", the failed metric set, and its queues moved to the other worker, which
# forwards every VM's traffic. `vswitchctl worker restart` tries it again.
source "$(dirname "$0")/../lib/harness.sh"

write_config "$T_DIR/vswitch.toml" 2 2 "crash_loop_limit = 3"
start_daemon "$T_DIR/vswitch.toml" --fault-crash-worker 1
wait_metric vswitch_worker_failed 'worker="1"' -eq 1 15
j=$(ctl --json show workers)
check "worker 1 state" "$(echo "$j" | json_get 'j["workers"][1]["state"]')" = failed
check "worker 1 starts before giving up" "$(echo "$j" | json_get 'j["workers"][1]["starts"]')" -eq 3
check "worker 1 last exit" "$(echo "$j" | json_get 'j["workers"][1]["last_exit"]')" = "signal 6"
check "worker 0 state" "$(echo "$j" | json_get 'j["workers"][0]["state"]')" = running
check "queues on worker 0" "$(ctl --json show queues | json_get 'sum(q["worker"] == 0 for q in j["queues"])')" -eq 6
check "worker_up of worker 1" "$(metric vswitch_worker_up 'worker="1"')" -eq 0
ping_ok 1 2 20 || fail "ping with worker 1 given up: $(cat "$T_DIR/ping.log")"
grep -q " 0% packet loss" "$T_DIR/ping.log" || fail "loss with worker 1 given up: $(cat "$T_DIR/ping.log")"
for n in 1 2; do
  [ "$(metric vswitch_port_rx_packets_total "port=\"$(vm_if $n)\",worker=\"0\"")" -ge 20 ] ||
    fail "worker 0 did not take vm$n's queues"
done

# Trying again: it starts, crashes again and is given up again.
j=$(ctl --json worker restart 1) || fail "worker restart 1 refused: $j"
check "restart of a failed worker" "$(echo "$j" | json_get 'j["was"]')" = failed
wait_metric vswitch_worker_failed 'worker="1"' -eq 1 15
check "starts after the retry" "$(ctl --json show workers | json_get 'j["workers"][1]["starts"]')" -ge 4
ping_ok 2 1 5 || fail "ping after the retry failed"
stop_daemon
pass "crash-looping worker given up, its queues moved, forwarding unaffected"
