#!/usr/bin/env bash
# Soak (label slow; SOAK_SECONDS, default 1800): traffic through the switch while workers are
# killed, replaced, ports added and removed and the config reloaded, at random, for the whole run.
# Then checks that nothing grew beyond a stated bound (vswitchd's RSS and fds, the hugepages in
# use, DPDK's heap, the workers' free mbufs) and that every VM still reaches every other.
source "$(dirname "$0")/../lib/harness.sh"

duration=${SOAK_SECONDS:-1800}
cfg=$T_DIR/vswitch.toml
T_MBUFS=75000
base() {
  config_daemon "$cfg" 2 "crash_loop_limit = 100"
  config_switch "$cfg" sw0
  for n in 1 2 3; do config_port "$cfg" "$n"; done
}
base
start_daemon "$cfg"
wait_metric vswitch_worker_up '' -eq 2 15
for n in 1 2 3; do ping_ok "$n" $((n % 3 + 1)) 2 || fail "vm$n cannot ping before the soak"; done

sample() {  # RSS_KB FDS HUGEPAGES_FREE MBUFS_FREE(all workers) HEAP_ALLOCATED_BYTES
  echo "$(awk '/VmRSS/ {print $2}' /proc/"$T_DAEMON_PID"/status)" \
    "$(ls /proc/"$T_DAEMON_PID"/fd | wc -l)" \
    "$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)" \
    "$(metric vswitch_worker_mbufs_free)" \
    "$(metric vswitch_dpdk_heap_allocated_bytes)"
}
settle() {  # lets the traffic stop and the workers return what they hold
  sleep 2
  wait_metric vswitch_worker_up '' -eq 2 20
}

ip netns exec "$(vm_ns 2)" iperf3 -s >"$T_DIR/iperf-server.log" 2>&1 &
T_PIDS+=("$!")
sleep 0.5
settle
fd_targets() { for f in /proc/"$T_DAEMON_PID"/fd/*; do readlink "$f"; done | sed 's/[0-9]\+/N/g' | sort; }
fd_targets >"$T_DIR/fds-start.txt"
read -r rss0 fds0 hp0 mb0 heap0 < <(sample)
log "start: vswitchd RSS ${rss0} kB, ${fds0} fds; ${hp0} hugepages free; ${mb0} mbufs free; ${heap0} DPDK heap bytes allocated"

ip netns exec "$(vm_ns 1)" iperf3 -c 10.77.0.2 -t "$duration" -P 2 -b 200M \
  >"$T_DIR/iperf.log" 2>&1 &
T_PIDS+=("$!")
end=$(( $(date +%s) + duration ))
kills=0 replaces=0 adds=0 dels=0 reloads=0 vm4=0
while [ "$(date +%s)" -lt "$end" ]; do
  case $((RANDOM % 5)) in
    0) pid=$(worker_pids | shuf -n 1)
       [ -n "$pid" ] && kill -KILL "$pid" && kills=$((kills + 1)) ;;
    1) ctl worker restart $((RANDOM % 2)) >/dev/null 2>&1 && replaces=$((replaces + 1)) ;;
    2) if [ "$vm4" -eq 0 ]; then
         ctl port add sw0 "$(vm_if 4)" --driver rtap --netns "$(vm_ns 4)" --address 10.77.0.4/24 \
           >/dev/null && adds=$((adds + 1)) && vm4=1 && T_NETNS+=("$(vm_ns 4)")
       else
         ctl port del "$(vm_if 4)" >/dev/null && dels=$((dels + 1)) && vm4=0
       fi ;;
    3) ctl reload >/dev/null && reloads=$((reloads + 1)) && vm4=0 ;;  # back to the file: no vm4
    4) for n in 1 3; do ping_ok "$n" $((n % 3 + 1)) 1 >/dev/null || true; done ;;
  esac
  sleep "0.$((RANDOM % 9 + 1))"
done
log "actions: $kills kills, $replaces replacements, $adds port adds, $dels port dels, $reloads reloads"
[ "$vm4" -eq 1 ] && { ctl port del "$(vm_if 4)" >/dev/null || fail "final port del failed"; }
wait_metric vswitch_worker_failed '' -eq 0 5
settle
for n in 1 2 3; do
  ping_ok "$n" $((n % 3 + 1)) 5 || fail "vm$n cannot reach vm$((n % 3 + 1)) after the soak"
done
sleep 3  # the mbufs of the last pings come home
read -r rss1 fds1 hp1 mb1 heap1 < <(sample)
fd_targets >"$T_DIR/fds-end.txt"
{ diff "$T_DIR/fds-start.txt" "$T_DIR/fds-end.txt" || true; } | { grep '^[<>]' || true; } |
  sed 's/^/fd change: /' | while read -r l; do log "$l"; done
log "end:   vswitchd RSS ${rss1} kB, ${fds1} fds; ${hp1} hugepages free; ${mb1} mbufs free; ${heap1} DPDK heap bytes allocated"
check "vswitchd RSS growth (kB, bound 20480)" "$((rss1 - rss0))" -le 20480
# The end state is the start's config (vm4 removed): whatever the workers, ports and reloads
# allocated in the shared DPDK heap must be back. (Each worker lifetime used to leave 155904 bytes;
# the heap then grew by a 2 MB page and an fd every ~13 of them.)
# Known leak: rte_eal_init allocates the service tables (155904 bytes) before it probes the ports,
# and a worker frees them as soon as it returns; a worker killed in between leaves them. Bound:
# that many bytes per worker process that died before its "attached" line.
started=$(grep -cE "worker [0-9]+ (replacement )?started, pid" "$T_DIR/vswitchd.log")
attached=$(grep -cE "vswitch-worker [0-9]+: attached as pid" "$T_DIR/vswitchd.log")
log "worker processes: $started started, $attached attached, $((started - attached)) died attaching"
check "DPDK heap bytes allocated, growth (bound: 155904 per process that died attaching)" \
  "$((heap1 - heap0))" -le "$(( (started - attached) * 155904 ))"
# Bound 2 for vswitchd's fds (the fd changes are logged above). The hugepages: vswitchd reserves
# them all at start (--legacy-mem), so none may be added.
check "vswitchd fd growth (bound 2)" "$((fds1 - fds0))" -le 2
check "hugepages in use growth (2 MB pages, bound 0)" "$((hp0 - hp1))" -le 0
log "DPDK lock holds left by killed workers and released: $(metric vswitch_dpdk_stale_lock_releases_total)" \
  "($(scrape | grep '^vswitch_dpdk_stale_lock_releases_total' | awk '$NF > 0' | tr '\n' ' '))"
# Known leak: a worker killed while polling lent queues loses what it posted from their owner's
# pool (docs/control.md); bounded by the reserve of one worker's queues (3 x 8704 here).
check "free mbufs lost (bound: one worker's queue reserve)" "$((mb0 - mb1))" -le 26112
check "worker restarts counted (at least the replacements)" "$(metric vswitch_worker_restarts_total)" -ge "$replaces"
# Stop; a worker still there after 1.5 s (the supervisor kills at 2 s) gets its stacks logged.
kill -TERM "$T_DAEMON_PID"
sleep 1.5
for pid in $(worker_pids); do
  log "worker $pid still running 1.5 s after SIGTERM; its threads:"
  command -v gdb >/dev/null && gdb -p "$pid" -batch -ex "thread apply all bt 12" 2>/dev/null |
    grep -E '^(#|Thread)' | head -n 60
done
stop_daemon
pass "soak of ${duration} s: $kills kills, $replaces replacements, $((adds + dels)) port changes, $reloads reloads; no growth beyond the bounds"
