#!/usr/bin/env bash
# A worker that stops making progress without dying (issue #28) is found by its heartbeat and
# replaced like a crashed one. Two workers, a numbered UDP flow polled by each:
#   A, vm1 -> vm3, polled by worker 0, the victim;
#   B, vm2 -> vm4, polled by worker 1 only (rx on vm2's queue, tx on its own queue of vm4).
# STALL_MODE=stop (default): kill -STOP of worker 0. STALL_MODE=spin (worker_spin.sh): worker 0
# runs with --fault-spin and spins forever in its loop, never polling, once it gets SIGUSR1.
# Checked: vswitchd kills it within worker_stall_ms plus a check period (plus the time the victim
# waited for a CPU, which the deadline leaves out, and the scheduling slack of a loaded machine),
# logs what it was doing, shows it `stalled` until its new process
# runs, counts it in vswitch_worker_stalls_total; A resumes within the deadline plus the usual
# time to lend its queues to worker 1; B loses nothing; worker 1 is not touched; worker 0's new
# process gets its queues back. restart_backoff_ms is 1 s here so that the state `stalled` can be
# seen; the queues are lent at the kill, not at the restart.
source "$(dirname "$0")/../lib/harness.sh"
source "$(dirname "$0")/../lib/udp_flows.sh"

mode=${STALL_MODE:-stop}
stall_ms=500
fault_args=()
[ "$mode" = spin ] && fault_args=(--fault-spin-worker 0)

ab_daemon_start "restart_backoff_ms = 1000" "worker_stall_ms = ${stall_ms}" -- "${fault_args[@]}"
udp_flows_start_ab
sleep 1.5
pid0=$(worker_pid 0)
pid1=$(worker_pid 1)
check "stalls before the fault" "$(metric vswitch_worker_stalls_total)" -eq 0

t0=$EPOCHREALTIME
t0_ms=$(now_ms)
if [ "$mode" = spin ]; then
  kill -USR1 "$pid0"
else
  kill -STOP "$pid0"
fi
state=""
until [ "$state" = stalled ]; do
  state=$(worker_field 0 state)
  [ $(( $(now_ms) - t0_ms )) -lt 5000 ] || fail "worker 0 not stalled 5 s after the fault (state $state)"
  sleep 0.02
done
t_seen=$(( $(now_ms) - t0_ms ))
log "worker 0 shown stalled $t_seen ms after the fault"
line=$(grep -m1 "worker 0 (pid $pid0) stalled" "$T_DIR/vswitchd.log") || fail "no stall line in vswitchd's log"
log "vswitchd: ${line#*vswitchd: }"
read -r stalled_after cpu_wait < <(sed -n 's/.*no heartbeat for \([0-9]*\) ms (\([0-9]*\) ms of it waiting.*/\1 \2/p' <<<"$line")
[ -n "$cpu_wait" ] || fail "the stall line does not say the heartbeat's age: $line"
check "heartbeat age not waiting for a CPU when judged stalled (ms, deadline ${stall_ms})" \
  "$((stalled_after - cpu_wait))" -gt "$stall_ms"
# The kill comes after worker_stall_ms of the victim's own time, plus at most one check period
# (100 ms); the bound adds the time it waited for a CPU (a spinning worker shares its core) and a
# loaded machine's scheduling slack for vswitchd and this script (the ASan build twice that).
slack=400
[ "${VSWITCH_SANITIZED:-0}" = 1 ] && slack=800
detect_limit=$((stall_ms + 100 + cpu_wait + slack))
check "heartbeat age when killed (ms)" "$stalled_after" -le "$detect_limit"
# This script's own view (a vswitchctl call every 20 ms, each a fork on a loaded machine).
check "time until this script saw the state stalled (ms)" "$t_seen" -le $((detect_limit + 1000))
grep -q "last phase [a-z_]*" <<<"$line" || fail "the stall line does not say the last phase: $line"
if [ "$mode" = spin ]; then
  grep -q "spinning forever without polling" "$T_DIR/vswitchd.log" || fail "worker 0 did not spin"
  # It spins right after polling a queue: the line names the queue.
  grep -q "last phase polling on port ${T_PREFIX}v[0-9] rx queue [0-9]" <<<"$line" ||
    fail "the stall line does not name the queue the spinning worker polled: $line"
fi
check "vswitch_worker_stalls_total{worker=\"0\"}" "$(metric vswitch_worker_stalls_total 'worker="0"')" -eq 1
# The state says stalled from the kill on; the exit is named once vswitchd has reaped it.
for _ in $(seq 100); do [ "$(worker_field 0 last_exit)" = "stalled, signal 9" ] && break; sleep 0.03; done
check "last exit of worker 0 says stalled" "$(worker_field 0 last_exit | grep -c '^stalled, signal 9$')" -eq 1
[ -d "/proc/$pid0" ] && [ "$(awk '{print $3}' "/proc/$pid0/stat" 2>/dev/null)" != Z ] &&
  fail "the stalled process $pid0 is still alive"

# Its new process after the back-off, with its queues back.
deadline=$(( $(now_ms) + 15000 ))
until read -r newpid state < <(worker_field 0 "pid state") && [ "$newpid" != "$pid0" ] &&
  [ "$newpid" != 0 ] && [ "$state" = running ]; do
  [ "$(now_ms)" -lt "$deadline" ] || fail "worker 0 not running again 15 s after its stall ($newpid, $state)"
  sleep 0.05
done
until [ "$(qmap)" = "$qmap0" ]; do
  [ "$(now_ms)" -lt "$deadline" ] || fail "worker 0's queues not back: $(qmap) (before $qmap0)"
  sleep 0.05
done
t_back=$(( $(now_ms) - t0_ms ))
log "worker 0 running again as pid $newpid with its queues $t_back ms after the fault"
sleep 0.5

udp_flows_stop_ab "$t0"
# A is dark from the fault until its queues are lent: the time to the kill (the heartbeat's age
# then, less the last beat's age at the fault: at most a check period) and the usual
# lending after a crash (worker_kill_two: median 90-117 ms, 222 ms with ASan; bound 500/1000).
resume_limit=$((stalled_after + 100 + 500))
[ "${VSWITCH_SANITIZED:-0}" = 1 ] && resume_limit=$((stalled_after + 100 + 1000))
check "A's outage after the fault (ms)" "$gap_a" -le "$resume_limit"
check "A's outage began within 100 ms of the fault (ms after it)" "$gap_a_at" -le 100
check "A's datagrams received" "$got_a" -ge $((sent_a / 2))
check "B's datagrams sent" "$sent_b" -ge 500
check "B's datagrams lost (polled by worker 1)" "$lost_b" -eq 0
check "worker 1's pid (untouched)" "$(worker_pid 1)" -eq "$pid1"
check "restarts of worker 1" "$(metric vswitch_worker_restarts_total 'worker="1"')" -eq 0
check "restarts of worker 0" "$(metric vswitch_worker_restarts_total 'worker="0"')" -eq 1
check "stalls of worker 1" "$(metric vswitch_worker_stalls_total 'worker="1"')" -eq 0
read -r own1 wall1 < <(ctl --json show workers | json_rows id heartbeat_max_stall_ms heartbeat_max_gap_ms |
  awk '$1 == 1 { printf "%d %d\n", $2, $3 }')
log "longest heartbeat gap of worker 1: ${own1} ms not waiting for a CPU, ${wall1} ms in all (deadline ${stall_ms} ms)"
check "worker 1's longest heartbeat gap not waiting for a CPU (ms)" "$own1" -lt "$stall_ms"
stop_daemon
grep "longest heartbeat gap" "$T_DIR/vswitchd.log" | sed 's/^/  /'
pass "worker 0 ($mode) killed as stalled after $stalled_after ms without a heartbeat, shown stalled after $t_seen ms; A dark for $gap_a ms; B lost $lost_b of $sent_b"
