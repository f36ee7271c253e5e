#!/usr/bin/env bash
# SIGKILL of each worker under traffic through a VXLAN port (issue #26, step two). Each worker
# has its own UDP socket for the tunnel (SO_REUSEPORT): a killed worker's socket closes with it,
# the kernel hands its share of the tunnel's datagrams to the other worker's socket, and the
# replacement opens a new one. A ping every 10 ms from vm1 to host B (across the tunnel both
# ways) must lose at most the frames of a short gap around each kill, and none afterwards.
source "$(dirname "$0")/../lib/harness.sh"
source "$(dirname "$0")/../lib/vxlan.sh"

vxlan_hostb
vxlan_config "$T_DIR/vswitch.toml" 2
start_daemon "$T_DIR/vswitch.toml"
wait_metric vswitch_worker_up 'worker="1"' -eq 1 10
hostb_ping 1 5 >"$T_DIR/ping.log" 2>&1 || fail "ping before the kills failed: $(cat "$T_DIR/ping.log")"

limit_ms=1000
[ "${VSWITCH_SANITIZED:-0}" = 1 ] && limit_ms=3000
for w in 0 1; do
  witness_start 1 10.77.0.9 0.01
  sleep 1
  pid=$(worker_pid "$w")
  kill -KILL "$pid"
  wait_metric vswitch_worker_restarts_total "worker=\"$w\"" -eq 1 10
  wait_metric vswitch_worker_up "worker=\"$w\"" -eq 1 10
  sleep 1
  read -r sent got gap < <(witness_stop)
  log "kill of worker $w (pid $pid): $got of $sent pings answered, longest gap ${gap} ms"
  check "longest gap around the kill of worker $w, ms" "$gap" -le "$limit_ms"
  check "pings lost around the kill of worker $w" "$((sent - got))" -le $((limit_ms / 10))
done
hostb_ping 1 20 >"$T_DIR/ping.log" 2>&1 || fail "ping after the kills failed: $(cat "$T_DIR/ping.log")"
grep -q " 0% packet loss" "$T_DIR/ping.log" || fail "loss after the kills: $(cat "$T_DIR/ping.log")"
check "drops on the tunnel port" "$(metric vswitch_port_drops_total "port=\"$VX_PORT\"")" -eq 0
stop_daemon
pass "each worker killed under traffic through the tunnel; the other worker's socket carried on"
