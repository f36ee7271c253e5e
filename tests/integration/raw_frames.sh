#!/usr/bin/env bash
# Numbered raw Ethernet frames of several sizes cross the switch intact: every frame sent from vm1
# arrives exactly once, unchanged, in vm2 and in vm3 (flooded to all other ports of the switch),
# none comes back to vm1, and the switch's counters match the frames sent.
# Then bad input from a VM (issue #10), each kind counted by reason with forwarding going on:
# runts (a tag cut short), oversize frames (the VM raised its own MTU), bad 802.1Q (VLAN 4095,
# another VLAN), double tags, and TCP over malformed IPv4/IPv6 headers sent with a virtio-net
# header asking for checksum offload or segmentation (PACKET_VNET_HDR). The MAC flood is
# mac_flood.sh.
source "$(dirname "$0")/../lib/harness.sh"

write_config "$T_DIR/vswitch.toml" 3
start_daemon "$T_DIR/vswitch.toml"
wait_metric vswitch_worker_up 'worker="0"' -eq 1 10

wait_ready() { for _ in $(seq 100); do grep -q ready "$1" && return 0; sleep 0.02; done; fail "$1 not ready"; }

count=500
for size in 60 1514; do
  tag="size${size}"
  pids=()
  for vm in 1 2 3; do
    expect=$count timeout=5000
    [ "$vm" -eq 1 ] && expect=1 timeout=1500  # vm1 must receive none of its own frames
    ip netns exec "$(vm_ns $vm)" "$VSWITCH_TEST_TOOLS/vs-rawframe" recv "$(vm_if $vm)" "$expect" \
      "$timeout" --tag "$tag" >"$T_DIR/recv$vm.log" 2>&1 &
    pids+=($!)
    T_PIDS+=($!)
    wait_ready "$T_DIR/recv$vm.log"
  done
  sleep 0.2
  rx1_before=$(metric vswitch_port_rx_packets_total "port=\"$(vm_if 1)\"")
  rx3_before=$(metric vswitch_port_rx_packets_total "port=\"$(vm_if 3)\"")
  tx2_before=$(metric vswitch_port_tx_packets_total "port=\"$(vm_if 2)\"")
  ip netns exec "$(vm_ns 1)" "$VSWITCH_TEST_TOOLS/vs-rawframe" send "$(vm_if 1)" "$count" \
    --size "$size" --tag "$tag" >/dev/null || fail "sending from vm1 failed"
  wait "${pids[1]}" || fail "vm2, size $size: $(cat "$T_DIR/recv2.log" | tail -1)"
  wait "${pids[2]}" || fail "vm3, size $size: $(cat "$T_DIR/recv3.log" | tail -1)"
  if wait "${pids[0]}"; then fail "vm1 received its own frame back"; fi
  grep -q "received=0 bad=0" "$T_DIR/recv1.log" || fail "vm1: $(cat "$T_DIR/recv1.log")"
  pass "size $size: $count/$count frames intact in vm2 and vm3, 0 echoed to vm1"
  sleep 0.2

  T_PIDS=()
done
check "drops on the switch" "$(metric vswitch_port_drops_total)" -eq 0

# ---- bad input from vm1 -------------------------------------------------------------------------
mac2=$(vm_mac 2)
# drops switch|driver VM REASON: the switch's (or the port driver's) drops of REASON on VM's port.
drops() {
  local family=vswitch_port_drops_total
  [ "$1" = driver ] && family=vswitch_port_driver_drops_total
  metric "$family" "port=\"$(vm_if "$2")\",reason=\"$3\""
}
rx1() { metric vswitch_port_rx_packets_total "port=\"$(vm_if 1)\""; }
send1() { ip netns exec "$(vm_ns 1)" "$VSWITCH_TEST_TOOLS/vs-rawframe" send "$(vm_if 1)" "$@"; }
# bad_kind WHAT switch|driver VM REASON [vs-rawframe send options]: 100 frames from vm1 must add
# exactly 100 drops of REASON on VM's port, and a numbered batch must still cross from vm1 to
# vm2 intact.
good=0
bad_kind() {
  local what=$1 family=$2 vm=$3 reason=$4 before after
  shift 4
  before=$(drops "$family" "$vm" "$reason")
  send1 100 "$@" >/dev/null || fail "$what: sending failed"
  for _ in $(seq 40); do
    after=$(drops "$family" "$vm" "$reason")
    [ "$after" -ge $((before + 100)) ] && break
    sleep 0.05
  done
  check "$what: $family $reason drops on vm$vm's port" "$((after - before))" -eq 100
  good=$((good + 1))
  recv_start 2 "$(vm_if 2)" 50 3000 "good$good"
  send1 50 --tag "good$good" --dst "$mac2" >/dev/null
  wait "$RECV_PID" || fail "after $what: $(cat "$T_DIR/recv-good$good-2.log")"
}
bad_kind "runt (a tag cut short: 16 bytes)" switch 1 runt --truncate 16 --vlan 1
# Oversize: the VM raises its own MTU. net_rtap's buffers hold 64 KB, so the switch sees the
# frame and refuses it at the egress port's MTU; net_tap reads into one 2 KB mbuf and drops the
# frame it could not hold whole as an rx error.
ip -n "$(vm_ns 1)" link set dev "$(vm_if 1)" mtu 9000
if [ "${T_DRIVER:-tap}" = rtap ]; then
  bad_kind "oversize (4000 bytes)" switch 2 mtu_exceeded --size 4000 --dst "$mac2"
else
  bad_kind "oversize (4000 bytes)" driver 1 rx_error --size 4000 --dst "$mac2"
fi
ip -n "$(vm_ns 1)" link set dev "$(vm_if 1)" mtu 1500
bad_kind "VLAN 4095" switch 1 bad_vlan --vlan 4095
bad_kind "another VLAN (7)" switch 1 vlan_not_allowed --vlan 7
bad_kind "double tag, outer 7 inner 1 (VLAN hopping)" switch 1 vlan_not_allowed --vlan 7 --vlan2 1

# A double tag whose outer tag is vm1's VLAN: forwarded in VLAN 1, outer tag removed, so vm2 gets
# the frame with the inner tag (7) as it was sent.
recv_start 2 "$(vm_if 2)" 100 3000 dbl --vlan 7
send1 100 --vlan 1 --vlan2 7 --tag dbl --dst "$mac2" >/dev/null
wait "$RECV_PID" || fail "double tag, outer 1: $(cat "$T_DIR/recv-dbl-2.log")"
log "ok: double tag, outer 1 inner 7: 100/100 delivered to vm2 with the inner tag"

# TCP over malformed IP headers with an offload request. The VM's kernel refuses some (sendto
# EINVAL), segments GSO super-frames in software first (dropping those with a broken header);
# whatever reaches the switch is forwarded with its checksum request and arrives intact (the
# kernel hands a partial checksum to vm2's packet socket as is), or is counted by the driver.
for kind in v4-ihl0 v4-ihl15 v4-len v6-len v6-ver; do
  for off in csum gso; do
    size=200
    [ "$off" = gso ] && size=2000
    tag=${kind//-/}${off:0:1}
    txerr0=$(metric vswitch_port_driver_drops_total "port=\"$(vm_if 2)\",reason=\"tx_error\"")
    rx0=$(rx1) vmdrop0=$(kernel_counter 1 tx_dropped)
    # The receiver's window (3 s) covers the sending and the switching on a loaded machine
    # (1.5 s did not, once: 100 frames into the switch, none counted yet).
    recv_start 2 "$(vm_if 2)" 100 3000 "$tag" --ip "$kind"
    out=$(send1 100 --ip "$kind" --offload "$off" --size "$size" --tag "$tag" --dst "$mac2") ||
      fail "$kind/$off: sending failed: $out"
    wait "$RECV_PID" || true
    refused=$(echo "$out" | sed -n 's/.*refused=\([0-9]*\).*/\1/p')
    got=$(recv_count 2 "$tag")
    # The switch's counters follow the frames: wait (up to 3 s) until they account for all of
    # them (with csum; with gso the kernel drops an unknown share in software).
    for _ in $(seq 60); do
      txerr=$(( $(metric vswitch_port_driver_drops_total "port=\"$(vm_if 2)\",reason=\"tx_error\"") - txerr0 ))
      rx=$(( $(rx1) - rx0 )) vmdrop=$(( $(kernel_counter 1 tx_dropped) - vmdrop0 ))
      [ "$off" = gso ] || [ $((refused + vmdrop + got + txerr)) -ge 100 ] && break
      sleep 0.05
    done
    log "$kind with $off requested: $refused refused by vm1's kernel, $vmdrop dropped by it, $rx into the switch, $got intact in vm2, $txerr driver tx errors"
    [ "$off" = csum ] && [ $((refused + vmdrop + got + txerr)) -ne 100 ] &&
      fail "$kind/$off: $refused + $vmdrop + $got + $txerr frames accounted for, of 100"
  done
done
kill -0 "$T_DAEMON_PID" || fail "vswitchd died"
check "worker restarts after the bad input" "$(metric vswitch_worker_restarts_total)" -eq 0
# Pings lose nothing. A lossy first run (seen once in four rtap runs on a loaded machine, with no
# switch or driver drop counted) is logged with the VMs' kernel counters, and tried once more.
lossless() { ping_ok 1 2 5 && grep -q " 0% packet loss" "$T_DIR/ping.log"; }
if ! lossless; then
  log "pings after the bad input: $(grep transmitted "$T_DIR/ping.log"); vm1 tx_dropped" \
    "$(kernel_counter 1 tx_dropped), vm2 rx_dropped $(kernel_counter 2 rx_dropped); once more"
  lossless || fail "pings lost after the bad input: $(grep transmitted "$T_DIR/ping.log")"
fi
stop_daemon
pass "bad input from a VM: each kind counted by reason, forwarding unaffected"
