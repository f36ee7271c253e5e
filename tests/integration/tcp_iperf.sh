#!/usr/bin/env bash
# A TCP stream (iperf3) crosses the switch between two VMs, at two MTUs (net_tap's maximum, 1500, and IPv6's minimum, 1280): every byte
# the receiver got went through the switch's counters, and nothing was dropped.
# With T_DRIVER=rtap (the tcp_iperf_rtap test) also at MTU 9000, and the TCP segments must cross
# as GSO super-frames (TSO carried from VM to VM): the mean frame size through the switch is
# above the MTU.
source "$(dirname "$0")/../lib/harness.sh"

mtus="1500 1280"
[ "${T_DRIVER:-tap}" = rtap ] && mtus="1500 1280 9000"
for mtu in $mtus; do
  T_MTU=$mtu write_config "$T_DIR/vswitch.toml" 2
  start_daemon "$T_DIR/vswitch.toml"
  wait_metric vswitch_worker_up 'worker="0"' -eq 1 10
  ping_ok 1 2 2 || fail "ping failed"
  rx_before=$(metric vswitch_port_rx_bytes_total "port=\"$(vm_if 1)\"")
  pk_before=$(metric vswitch_port_rx_packets_total "port=\"$(vm_if 1)\"")
  read -r bps bytes < <(iperf_tcp 1 2 3)
  sleep 0.2
  rx=$(( $(metric vswitch_port_rx_bytes_total "port=\"$(vm_if 1)\"") - rx_before ))
  pk=$(( $(metric vswitch_port_rx_packets_total "port=\"$(vm_if 1)\"") - pk_before ))
  log "MTU $mtu: mean frame from vm1 $((rx / (pk > 0 ? pk : 1))) bytes over $pk frames"
  if [ "${T_DRIVER:-tap}" = rtap ]; then
    check "MTU $mtu: mean frame size (super-frames cross the switch)" $((rx / (pk > 0 ? pk : 1))) -gt "$mtu"
  fi
  log "MTU $mtu: $((bps / 1000000)) Mbit/s, $bytes bytes received by iperf3, $rx bytes through the switch from vm1"
  check "MTU $mtu: throughput (Mbit/s)" $((bps / 1000000)) -ge 20
  check "MTU $mtu: switch rx bytes from vm1 cover the TCP payload" "$rx" -ge "$bytes"
  check "MTU $mtu: drops" "$(metric vswitch_port_drops_total)" -eq 0
  check "MTU $mtu: port MTU" "$(metric vswitch_port_mtu_bytes "port=\"$(vm_if 1)\"")" -eq "$mtu"
  [ "$(ip netns exec "$(vm_ns 2)" cat "/sys/class/net/$(vm_if 2)/mtu")" = "$mtu" ] || fail "vm2 MTU not $mtu"
  stop_daemon
done
if [ "${T_DRIVER:-tap}" = rtap ]; then
  pass "TCP through the switch on net_rtap at MTU 1500, 1280 and 9000, as GSO super-frames"
  exit 0
fi
# An MTU the driver cannot do is refused at start with the driver's range.
T_MTU=9000 write_config "$T_DIR/vswitch.toml" 2
rc=0
"$VSWITCH_BIN_DIR/vswitchd" --config "$T_DIR/vswitch.toml" >"$T_DIR/mtu9000.log" 2>&1 || rc=$?
check "vswitchd exit code with mtu 9000 on driver tap" "$rc" -eq 1
grep -q 'mtu 9000 is outside what driver "tap" supports' "$T_DIR/mtu9000.log" || fail "$(cat "$T_DIR/mtu9000.log")"
check "things left by the refused start" "$(settled_leftovers | grep -c . || true)" -eq 0
pass "TCP through the switch at MTU 1500 and 1280; MTU 9000 refused for driver tap"
