#!/usr/bin/env bash
# Four VMs on one switch learn each other: after the first frames, unicast between two VMs reaches
# only its destination (a third VM sees none of it), while a frame to an unknown MAC is flooded to
# every other VM. The FDB counts what it learned.
source "$(dirname "$0")/../lib/harness.sh"

write_config "$T_DIR/vswitch.toml" 4
start_daemon "$T_DIR/vswitch.toml"
wait_metric vswitch_worker_up 'worker="0"' -eq 1 10

# Everyone talks once, so every MAC is learned.
for to in 2 3 4; do ping_ok 1 "$to" 2 || fail "vm1 -> vm$to ping failed"; done
wait_metric vswitch_fdb_entries 'switch="sw0"' -ge 4 5
check "MACs learned" "$(metric vswitch_fdb_learned_total 'switch="sw0"')" -ge 4

# Known unicast vm1 -> vm2: vm2 gets all 300, vm3 and vm4 none.
mac2=$(vm_mac 2)
recv_start 2 "$(vm_if 2)" 300 5000 uni; p2=$RECV_PID
recv_start 3 "$(vm_if 3)" 1 1500 uni; p3=$RECV_PID
recv_start 4 "$(vm_if 4)" 1 1500 uni; p4=$RECV_PID
rawframe_out=$(ip netns exec "$(vm_ns 1)" "$VSWITCH_TEST_TOOLS/vs-rawframe" send "$(vm_if 1)" 300 \
  --tag uni --dst "$mac2") || fail "send failed"
wait "$p2" || fail "vm2 got $(recv_count 2 uni)/300 unicast frames"
wait "$p3" && fail "vm3 saw unicast meant for vm2"
wait "$p4" && fail "vm4 saw unicast meant for vm2"
check "unicast frames seen by vm3" "$(recv_count 3 uni)" -eq 0
check "unicast frames seen by vm4" "$(recv_count 4 uni)" -eq 0
pass "known unicast goes to its port only"

# Unknown unicast is flooded to every other port.
for vm in 2 3 4; do recv_start "$vm" "$(vm_if "$vm")" 100 5000 unk; eval "q$vm=\$RECV_PID"; done
ip netns exec "$(vm_ns 1)" "$VSWITCH_TEST_TOOLS/vs-rawframe" send "$(vm_if 1)" 100 --tag unk \
  --dst 02:99:99:99:99:99 >/dev/null || fail "send failed"
for vm in 2 3 4; do
  pid_var="q$vm"
  wait "${!pid_var}" || fail "vm$vm got $(recv_count "$vm" unk)/100 flooded frames"
done
pass "unknown unicast flooded to vm2, vm3 and vm4"
check "drops" "$(metric vswitch_port_drops_total)" -eq 0
stop_daemon
