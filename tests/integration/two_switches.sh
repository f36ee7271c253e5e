#!/usr/bin/env bash
# Two switches in one daemon are isolated: VMs of sw0 and sw1 share an IP subnet but never see
# each other's frames, while each switch forwards between its own VMs.
source "$(dirname "$0")/../lib/harness.sh"

cfg=$T_DIR/vswitch.toml
config_daemon "$cfg" 1
config_switch "$cfg" sw0
config_port "$cfg" 1
config_port "$cfg" 2
config_switch "$cfg" sw1
config_port "$cfg" 3
config_port "$cfg" 4
start_daemon "$cfg"
wait_metric vswitch_worker_up 'worker="0"' -eq 1 10

ping_ok 1 2 3 || fail "sw0: vm1 -> vm2 failed"
ping_ok 3 4 3 || fail "sw1: vm3 -> vm4 failed"
ping_ok 1 3 2 && fail "vm1 (sw0) reached vm3 (sw1)"
recv_start 2 "$(vm_if 2)" 100 5000 iso; r2=$RECV_PID
recv_start 3 "$(vm_if 3)" 1 1500 iso; r3=$RECV_PID
recv_start 4 "$(vm_if 4)" 1 1500 iso; r4=$RECV_PID
ip netns exec "$(vm_ns 1)" "$VSWITCH_TEST_TOOLS/vs-rawframe" send "$(vm_if 1)" 100 --tag iso >/dev/null
wait "$r2" || fail "vm2 got $(recv_count 2 iso)/100"
wait "$r3" && fail "vm3 (sw1) saw a broadcast of sw0"
wait "$r4" && fail "vm4 (sw1) saw a broadcast of sw0"
check "FDB entries of sw0" "$(metric vswitch_fdb_entries 'switch="sw0"')" -ge 2
check "FDB entries of sw1" "$(metric vswitch_fdb_entries 'switch="sw1"')" -ge 2
stop_daemon
pass "two switches forward independently and never leak into each other"
