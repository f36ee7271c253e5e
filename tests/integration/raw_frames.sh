#!/usr/bin/env bash
# Numbered raw Ethernet frames of several sizes cross the switch intact: every frame sent from vm1
# arrives exactly once, unchanged, in vm2 and in vm3 (flooded to all other ports of the switch),
# none comes back to vm1, and the switch's counters match the frames sent.
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
stop_daemon
