#!/usr/bin/env bash
# An idle switch costs almost nothing: with two VMs attached and no traffic, all workers together
# use less than 2% of a core (DESIGN.md, "Measured goals"), measured from /proc/PID/stat over
# 10 s. With T_DRIVER=rtap (the idle_cpu_rtap test) the workers sleep in epoll on their rx
# interrupts. net_tap ports are polled adaptively (about 3% per worker): only logged.
# The first ping after the idle period still gets through.
source "$(dirname "$0")/../lib/harness.sh"

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

write_config "$T_DIR/vswitch.toml" 2 2
start_daemon "$T_DIR/vswitch.toml"
wait_metric vswitch_worker_up 'worker="1"' -eq 1 10
ping_ok 1 2 3 || fail "ping before the idle period failed"
sleep 2
mapfile -t workers < <(worker_pids)
check "workers running" "${#workers[@]}" -eq 2
hz=$(getconf CLK_TCK)
before=0
for p in "${workers[@]}"; do before=$((before + $(ticks "$p"))); done
d_before=$(ticks "$T_DAEMON_PID")
sleep 10
after=0
for p in "${workers[@]}"; do after=$((after + $(ticks "$p"))); done
d_after=$(ticks "$T_DAEMON_PID")
# Percent of one core over 10 s, in hundredths: ticks * 100 / (hz * 10) * 100.
workers_centi=$(( (after - before) * 1000 / hz ))
daemon_centi=$(( (d_after - d_before) * 1000 / hz ))
log "idle 10 s (${T_DRIVER:-tap}): workers $((workers_centi / 100)).$(printf %02d $((workers_centi % 100)))% of a core, vswitchd $((daemon_centi / 100)).$(printf %02d $((daemon_centi % 100)))%"
if [ "${T_DRIVER:-tap}" = rtap ]; then
  check "idle CPU of all workers (hundredths of a percent of a core)" "$workers_centi" -lt 200
fi
ip netns exec "$(vm_ns 1)" ping -q -c 1 -W 2 10.77.0.2 >"$T_DIR/ping1.log" 2>&1 ||
  fail "first ping after 10 s idle failed: $(cat "$T_DIR/ping1.log")"
log "first ping after the idle period: $(grep -o 'rtt.*' "$T_DIR/ping1.log")"
stop_daemon
pass "idle workers use $((workers_centi / 100)).$(printf %02d $((workers_centi % 100)))% of a core"
