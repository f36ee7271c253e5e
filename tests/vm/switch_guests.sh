#!/usr/bin/env bash
# Two real QEMU guests (Debian's kernel + busybox, tests/vm/guest_lib.sh) on two switch ports,
# one through a macvtap made by vswitchd (QEMU opens its /dev/tapN), one through its own TAP
# paired with the port by tc redirects, and a container (a namespace) on a third port:
# - every one reaches every other (ping, 0 loss);
# - guest-to-guest TCP (iperf3) crosses as TSO super-frames: the average frame the switch
#   receives from the sending guest, and the receiving guest gets, is larger than the MTU;
# - the switch's port counters equal the guests' own NIC counters, frame for frame.
# Prints the boot time of each guest and the TCP rate (GUEST_ACCEL: tcg unless KVM really works).
source "$(dirname "$0")/../lib/harness.sh"
source "$(dirname "$0")/guest_lib.sh"

guest_trap_exit

guest_prepare || fail "cannot build the test guest"
log "guests run with $GUEST_ACCEL, kernel $GUEST_KVER"

cfg=$T_DIR/vswitch.toml
mvt=${T_PREFIX}m1   # guest 1's macvtap, on port 1's netdev
vtap=${T_PREFIX}t2  # guest 2's own TAP, paired with port 2's netdev
T_MBUFS=75000
vm_port() {  # vm_port N VM_LINE: a port left in our namespace, with a VM side
  printf '\n[[switch.port]]\nname = "%s"\ndriver = "rtap"\n%s\n' "$(vm_if "$1")" "$2" >>"$cfg"
}
config_daemon "$cfg" 1
config_switch "$cfg" sw0
vm_port 1 "vm.macvtap = \"$mvt\""
vm_port 2 "vm.tap = \"$vtap\""
# The container speaks IPv4 only, like the guests: its IPv6 multicast (MLD, router
# solicitations) would be flooded to the guests, whose QEMU drops groups they did not join
# before their NIC counts them. vswitchd uses a namespace that exists.
ip netns add "$(vm_ns 3)"
ip netns exec "$(vm_ns 3)" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
T_DRIVER=rtap config_port "$cfg" 3 'addresses = ["10.77.0.3/24"]'
start_daemon "$cfg"

port_json() {  # port_json N EXPR: EXPR evaluated on port N's object (as p) of show ports
  ctl --json show ports |
    json_get "[$2 for p in j['ports'] if p['name'] == '$(vm_if "$1")'][0]"
}
dev=$(port_json 1 "p['vm']['device']")
[ -c "$dev" ] || fail "show ports gives no macvtap device for port 1: $dev"

guest_start g1 --tapdev "$dev" --mac 52:54:00:77:00:01 --ip 10.77.0.1/24 ||
  fail "guest 1 did not start"
guest_start g2 --ifname "$vtap" --mac 52:54:00:77:00:02 --ip 10.77.0.2/24 ||
  fail "guest 2 did not start"
boot1=$(guest_wait_ready g1 300) || fail "guest 1 not ready: $(guest_log_tail g1)"
boot2=$(guest_wait_ready g2 300) || fail "guest 2 not ready: $(guest_log_tail g2)"
log "boot time to a configured NIC: g1 ${boot1} s (macvtap), g2 ${boot2} s (own TAP)"

# --- everyone reaches everyone
guest_ping() {  # guest_ping GUEST ADDRESS: 5 pings, 0 loss
  local out
  out=$(guest_exec "$1" 60 ping -c 5 -i 0.2 -W 3 "$2") || fail "$1 -> $2: $out"
  echo "$out" | grep -q " 0% packet loss" || fail "$1 -> $2 lost pings: $out"
}
guest_ping g1 10.77.0.2
guest_ping g2 10.77.0.1
guest_ping g1 10.77.0.3
guest_ping g2 10.77.0.3
for to in 1 2; do
  ip netns exec "$(vm_ns 3)" ping -q -c 5 -i 0.2 -W 3 "10.77.0.$to" >"$T_DIR/ping.log" 2>&1 ||
    fail "container -> guest $to: $(cat "$T_DIR/ping.log")"
done
pass "guests and the container reach each other"

# Counters from here on. Every MAC is learned by now: a frame to a MAC not learned yet is flooded,
# and QEMU drops one that is not for its guest before the guest's NIC counts it (seen: the first
# echo request to the container, sent 1 ms after its ARP reply, before the FDB had it). vswitchd
# keeps the host's IPv6 off the VMs' wires, so only the guests and the container send frames.
counters() {  # counters N: "guest-tx guest-rx switch-rx switch-tx" of guest/port N
  echo "$(nic "g$1" tx_packets) $(nic "g$1" rx_packets)" \
    "$(port_json "$1" "p['rx_packets']") $(port_json "$1" "p['tx_packets']")"
}
nic() { guest_exec "$1" 10 cat "/sys/class/net/eth0/statistics/$2"; }
# After traffic, the kernels confirm neighbours on their own: a neighbour used in the last ping
# gets a unicast ARP probe 5 s later (delay_first_probe_time). Wait for that, then read until two
# reads agree, so that no frame is in flight between the guest's count and the switch's.
quiet_counters() {  # quiet_counters: QUIET="counters 1|counters 2" once nothing moves
  sleep 6
  local last="" now
  for _ in $(seq 10); do
    now="$(counters 1)|$(counters 2)"
    [ "$now" = "$last" ] && { QUIET=$now; return; }
    last=$now
    sleep 1
  done
  fail "the guests' counters never settled: $now"
}
quiet_counters
IFS='|' read -r -a before <<<"$QUIET"

# --- TCP guest 1 -> guest 2
rx_b0=$(nic g2 rx_bytes) rx_p0=$(nic g2 rx_packets)
sw_b0=$(port_json 1 "p['rx_bytes']") sw_p0=$(port_json 1 "p['rx_packets']")
# iperf3 -D returns before the server listens.
guest_exec g2 30 'iperf3 -s -D -1 -B 10.77.0.2 && for i in $(seq 100); do
  netstat -ltn | grep -q ":5201 " && exit 0; sleep 0.1; done; exit 1' >/dev/null ||
  fail "iperf3 server did not start in g2"
json=$(guest_exec g1 90 iperf3 -c 10.77.0.2 -t 5 -J) || fail "iperf3 g1 -> g2 failed: $json"
bps=$(echo "$json" | guest_json_num bits_per_second sum_received)
rx_b1=$(nic g2 rx_bytes) rx_p1=$(nic g2 rx_packets)
sw_b1=$(port_json 1 "p['rx_bytes']") sw_p1=$(port_json 1 "p['rx_packets']")
mbps=$(awk -v b="$bps" 'BEGIN { printf "%.0f", b / 1e6 }')
guest_rx_avg=$(( (rx_b1 - rx_b0) / (rx_p1 - rx_p0) ))
switch_rx_avg=$(( (sw_b1 - sw_b0) / (sw_p1 - sw_p0) ))
log "TCP g1 -> g2: ${mbps} Mbit/s ($GUEST_ACCEL); average frame: ${switch_rx_avg} B into" \
  "the switch from g1, ${guest_rx_avg} B into g2"
check "TCP rate (Mbit/s)" "$mbps" -gt 0
# Larger than the MTU only if the segments crossed whole: g1's TSO through the macvtap into the
# switch, and the switch's super-frames out through the tc redirect into g2's virtio-net.
check "average frame from g1 into the switch (bytes)" "$switch_rx_avg" -gt 1514
check "average frame into g2 (bytes)" "$guest_rx_avg" -gt 1514

# --- the switch's port counters are the guests' NIC counters (over TCP and these pings)
guest_ping g2 10.77.0.1
guest_ping g1 10.77.0.3
quiet_counters
IFS='|' read -r -a after <<<"$QUIET"
for ifc in "$(vm_if 1)" "$mvt" "$(vm_if 2)" "$vtap"; do
  st=/sys/class/net/$ifc/statistics
  log "kernel $ifc: rx_dropped $(cat $st/rx_dropped) tx_dropped $(cat $st/tx_dropped)"
done
for g in 1 2; do
  read -r g_tx0 g_rx0 p_rx0 p_tx0 <<<"${before[g - 1]}"
  read -r g_tx g_rx p_rx p_tx <<<"${after[g - 1]}"
  sent=$((g_tx - g_tx0)) got=$((g_rx - g_rx0)) sw_rx=$((p_rx - p_rx0)) sw_tx=$((p_tx - p_tx0))
  log "g$g: NIC sent $sent got $got; its switch port received $sw_rx sent $sw_tx"
  check "frames from g$g the switch received" "$sw_rx" -eq "$sent"
  check "frames to g$g the switch sent" "$sw_tx" -eq "$got"
done
check "frames the switch dropped" "$(port_json 1 "p['switch_drops']") $(port_json 2 "p['switch_drops']")" = "0 0"
pass "two QEMU guests ($GUEST_ACCEL) and a container on one switch; TCP ${mbps} Mbit/s as super-frames"
