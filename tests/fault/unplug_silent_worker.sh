#!/usr/bin/env bash
# A port removed while a worker does not answer DPDK's hotplug request (issue #20), the case of a
# worker killed while the request is out: worker 1 is stopped (SIGSTOP) as `vswitchctl port del`
# starts and killed 3 s later (vswitchd waits up to 2 s for the workers to leave the port, then
# sends the request), so the primary's detach request to it times out (5 s) and DPDK
# rolls back by attaching the device again in worker 0. vswitchd must try the removal again rather
# than close the port in the primary only: otherwise worker 0 keeps a device the primary no longer
# has, and the port's next `port add` cannot attach in it (seen in kill_during_change: worker 0
# exited, code 69). worker_stall_ms is high so that the stall check leaves the kill to the test.
# Checked: the port del succeeds after a retry, worker 1's restart waits for it to end, no
# process of the switch keeps a TAP fd of the removed port, the same port (same MAC, as a VM keeps it) added
# again forwards, worker 0 was never restarted, and no worker exited for a port it could not
# attach.
source "$(dirname "$0")/../lib/harness.sh"

T_MBUFS=90000  # room for the port added again (a port add cannot grow the pools)
mac3=02:77:00:00:00:03
config_daemon "$T_DIR/vswitch.toml" 2 "worker_stall_ms = 60000"
config_switch "$T_DIR/vswitch.toml" sw0
config_port "$T_DIR/vswitch.toml" 1
config_port "$T_DIR/vswitch.toml" 2
config_port "$T_DIR/vswitch.toml" 3 "mac = \"$mac3\""
start_daemon "$T_DIR/vswitch.toml"
wait_metric vswitch_worker_up '' -eq 2 15
ping_ok 1 3 3 || fail "vm1 -> vm3 before the port del failed"
pid0=$(worker_pid 0)
pid1=$(worker_pid 1)

kill -STOP "$pid1"
t0=$(date +%s%N)
ctl --json port del "$(vm_if 3)" >"$T_DIR/port-del.json" 2>&1 &
del=$!
T_PIDS+=("$del")
sleep 3
kill -KILL "$pid1"
wait "$del" || fail "port del failed: $(cat "$T_DIR/port-del.json")"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
log "port del with worker 1 stopped, then killed 3 s in: answered in $ms ms"
grep "removing net_.*$(vm_if 3)" "$T_DIR/vswitchd.log" | sed 's/^/  /' || true
check "removal attempts that failed" "$(grep -c "removing net_.*$(vm_if 3)" "$T_DIR/vswitchd.log")" -ge 1
# Worker 1's restart waited for the removal: started during it, its rte_eal_init copied the
# primary's device list with the port still in it and kept the TAP's fds (daemon/hotplug_gate.hpp).
check "restarts of worker 1 held back until the port change was over" \
  "$(grep -c "worker 1 waits for a port change to end" "$T_DIR/vswitchd.log")" -eq 1
wait_metric vswitch_worker_up '' -eq 2 20
# tap_holders NAME: "PID/fd" of each fd of vswitchd or a worker attached to TAP NAME (a tun
# fd's fdinfo names its interface). A process that kept the removed port's device keeps its TAP.
tap_holders() {
  local pid f
  for pid in "$T_DAEMON_PID" $(worker_pids); do
    for f in /proc/"$pid"/fdinfo/*; do
      grep -qx "iff:[[:space:]]*$1" "$f" 2>/dev/null && echo "$pid/${f##*/}"
    done
  done
  return 0
}
holders=$(tap_holders "$(vm_if 3)" | paste -sd' ')
check "fds of the removed port's TAP still open in vswitchd or a worker [${holders}]" \
  "$(wc -w <<<"$holders")" -eq 0

T_NETNS+=("$(vm_ns 3)")
j=$(ctl --json port add sw0 "$(vm_if 3)" --driver "${T_DRIVER:-tap}" --netns "$(vm_ns 3)" \
  --address 10.77.0.3/24 --mac "$mac3") || fail "port add after the port del failed: $j"
sleep 1
ping_ok 1 3 5 || fail "vm1 -> vm3 after the port came back failed"
check "worker 0's pid (never restarted)" "$(worker_pid 0)" -eq "$pid0"
check "workers that exited for a port they could not attach" \
  "$(grep -c 'is not attached in this process' "$T_DIR/vswitchd.log")" -eq 0
stop_daemon
pass "port del with a worker killed while silent: $ms ms, retried; the port added again forwards; worker 0 untouched"
