#!/usr/bin/env bash
# A worker that dies holding DPDK's locks in shared memory (fault injection: the memory-hotplug
# lock for writing and the tailq lock for reading, as a SIGKILL inside rte_eal_init or a ring
# lookup leaves them). vswitchd releases them once they have stayed held for 5 s: the restarted
# worker, which waits in its rte_eal_init meanwhile, attaches and forwards. At stop, holds left by
# a worker are released before DPDK's clean-up, which would otherwise wait on them forever.
# Without daemon/dpdk_locks.cpp the first part hangs (no worker 0 again) and the second never
# stops.
source "$(dirname "$0")/../lib/harness.sh"

cfg=$T_DIR/vswitch.toml
T_MBUFS=60000  # room for the rx rings of a third port
write_config "$cfg" 2 2

# 1. At run time.
start_daemon "$cfg" --fault-stale-locks-worker 0
wait_metric vswitch_dpdk_stale_lock_releases_total 'lock="memory_hotplug"' -eq 1 20
grep -q -- "--fault-stale-locks: dying holding DPDK locks" "$T_DIR/vswitchd.log" ||
  fail "the fault was not injected"
check "tailq lock holds released" "$(metric vswitch_dpdk_stale_lock_releases_total 'lock="tailq"')" -eq 1
check "memzone lock holds released" "$(metric vswitch_dpdk_stale_lock_releases_total 'lock="memzone"')" -eq 0
grep -q "memory_hotplug lock was left held (a writer) by a process that died holding it: released" \
  "$T_DIR/vswitchd.log" || fail "no log line for the hotplug lock: $(grep -i lock "$T_DIR/vswitchd.log")"
grep -q "tailq lock was left held (1 reader(s))" "$T_DIR/vswitchd.log" ||
  fail "no log line for the tailq lock: $(grep -i lock "$T_DIR/vswitchd.log")"
wait_metric vswitch_worker_up '' -eq 2 20
check "worker 0's starts" "$(ctl --json show workers | json_get 'j["workers"][0]["starts"]')" -eq 2
for n in 1 2; do ping_ok "$n" $((3 - n)) 3 || fail "vm$n cannot reach the other VM after the release"; done
# The freed locks work: a port added and removed, a worker replaced (rings, memzones, hotplug).
ctl port add sw0 "$(vm_if 3)" --driver "${T_DRIVER:-tap}" --netns "$(vm_ns 3)" \
  --address 10.77.0.3/24 >/dev/null || fail "port add after the release"
T_NETNS+=("$(vm_ns 3)")
ping_ok 3 1 3 || fail "vm3 cannot reach vm1"
ctl port del "$(vm_if 3)" >/dev/null || fail "port del after the release"
ctl worker restart 1 >/dev/null || fail "worker restart after the release"
rc=0
stop_daemon 15 || rc=$?
check "vswitchd's exit code" "$rc" -eq 0
if grep -q "at stop:" "$T_DIR/vswitchd.log"; then fail "holds left at stop: $(grep 'at stop:' "$T_DIR/vswitchd.log")"; fi

# 2. At stop, before the watch's 5 s: the holds are released before DPDK's clean-up. Not
# start_daemon: "ready" waits for worker 1, which may itself wait in rte_eal_init on the lock the
# dead worker 0 holds (the 5 s), and the stop must come before that.
"$VSWITCH_BIN_DIR/vswitchd" --config "$cfg" --fault-stale-locks-worker 0 >"$T_DIR/vswitchd.log" 2>&1 &
T_DAEMON_PID=$!
for _ in $(seq 100); do
  grep -q -- "--fault-stale-locks: dying" "$T_DIR/vswitchd.log" && break
  sleep 0.05
done
grep -q -- "--fault-stale-locks: dying" "$T_DIR/vswitchd.log" || fail "the fault was not injected"
rc=0
stop_daemon 15 || rc=$?
check "vswitchd's exit code (stopped with the locks held)" "$rc" -eq 0
grep -q "at stop: DPDK's memory_hotplug lock was left held" "$T_DIR/vswitchd.log" ||
  fail "the hotplug lock was not released at stop: $(grep -i lock "$T_DIR/vswitchd.log")"
left=$(settled_leftovers)
[ -z "$left" ] || fail "left behind: $left"
pass "DPDK locks left held by a dead worker released, at run time and at stop"
