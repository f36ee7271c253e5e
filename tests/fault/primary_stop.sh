#!/usr/bin/env bash
# kill -STOP of vswitchd itself (issue #28): the workers never wait on the primary in their fast
# path, so a numbered UDP flow on each worker loses nothing while vswitchd is stopped for 3 s (six
# times worker_stall_ms); after kill -CONT the supervisor judges the workers by their own fresh
# heartbeats, not by the time it lost: nothing is killed or restarted.
source "$(dirname "$0")/../lib/harness.sh"
source "$(dirname "$0")/../lib/udp_flows.sh"

stall_ms=500
stop_s=3
ab_daemon_start "worker_stall_ms = ${stall_ms}" --
udp_flows_start_ab
sleep 1
pid0=$(worker_pid 0)
pid1=$(worker_pid 1)
restarts0=$(metric vswitch_worker_restarts_total)

t0=$EPOCHREALTIME
kill -STOP "$T_DAEMON_PID"
sleep "$stop_s"
# While stopped: the workers are the same processes and still forward (they are not children
# waiting on it: their state is R or S, not T).
for pid in "$pid0" "$pid1"; do
  st=$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null || echo gone)
  [ "$st" = R ] || [ "$st" = S ] || { kill -CONT "$T_DAEMON_PID"; fail "worker pid $pid is $st while vswitchd is stopped"; }
done
kill -CONT "$T_DAEMON_PID"
log "vswitchd stopped for ${stop_s} s, continued"
# Ten check periods after it resumed.
sleep 1

udp_flows_stop_ab "$t0"
check "A's datagrams sent (worker 0)" "$sent_a" -ge 1000
check "A's datagrams lost while vswitchd was stopped" "$lost_a" -eq 0
check "B's datagrams sent (worker 1)" "$sent_b" -ge 1000
check "B's datagrams lost while vswitchd was stopped" "$lost_b" -eq 0
# The flows ran through the stop: no gap near worker_stall_ms in either.
check "A's longest gap from the stop on (ms)" "$gap_a" -lt "$stall_ms"
check "B's longest gap from the stop on (ms)" "$gap_b" -lt "$stall_ms"
check "worker 0's pid after the stop" "$(worker_pid 0)" -eq "$pid0"
check "worker 1's pid after the stop" "$(worker_pid 1)" -eq "$pid1"
check "restarts during the stop" "$(( $(metric vswitch_worker_restarts_total) - restarts0 ))" -eq 0
check "stalls" "$(metric vswitch_worker_stalls_total)" -eq 0
check "stall lines in vswitchd's log" "$(grep -c 'stalled' "$T_DIR/vswitchd.log" || true)" -eq 0
check "workers up" "$(metric vswitch_worker_up)" -eq 2
stop_daemon
grep "longest heartbeat gap" "$T_DIR/vswitchd.log" | sed 's/^/  /'
pass "vswitchd stopped ${stop_s} s: A lost $lost_a of $sent_a, B lost $lost_b of $sent_b, nothing restarted"
