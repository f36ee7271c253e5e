#!/usr/bin/env bash
# VLANs on one switch: access ports of VLAN 10 and VLAN 20 never see each other's frames; a trunk
# port carries both VLANs tagged, in both directions; frames of a VLAN a port does not carry are
# dropped and counted. (This kernel has no 8021q module, so the trunk VM sends and checks its
# tags with raw sockets instead of VLAN sub-interfaces.)
source "$(dirname "$0")/../lib/harness.sh"

cfg=$T_DIR/vswitch.toml
config_daemon "$cfg" 1
config_switch "$cfg" sw0
config_port "$cfg" 1 'vlan = 10' 'addresses = ["10.77.10.1/24"]'
config_port "$cfg" 2 'vlan = 10' 'addresses = ["10.77.10.2/24"]'
config_port "$cfg" 3 'vlan = 20' 'addresses = ["10.77.20.3/24"]'
config_port "$cfg" 4 'vlan = 20' 'addresses = ["10.77.20.4/24"]'
config_port "$cfg" 5 'vlan_mode = "trunk"' 'allowed_vlans = [10, 20]' 'addresses = []'
start_daemon "$cfg"
wait_metric vswitch_worker_up 'worker="0"' -eq 1 10

pingv() { ip netns exec "$(vm_ns "$1")" ping -q -c 3 -i 0.05 -W 2 "$2" >"$T_DIR/ping.log" 2>&1; }
pingv 1 10.77.10.2 || fail "vm1 -> vm2 in VLAN 10 failed"
pingv 3 10.77.20.4 || fail "vm3 -> vm4 in VLAN 20 failed"
pass "pings within VLAN 10 and within VLAN 20"

send() {  # send VM COUNT TAG [args...]
  local vm=$1 count=$2 tag=$3
  shift 3
  ip netns exec "$(vm_ns "$vm")" "$VSWITCH_TEST_TOOLS/vs-rawframe" send "$(vm_if "$vm")" "$count" \
    --tag "$tag" "$@" >/dev/null || fail "sending from vm$vm failed"
}
expect_none() { for p in "$@"; do wait "$p" && fail "a frame reached a port outside its VLAN"; done; return 0; }

# A broadcast from vm1 (VLAN 10) reaches vm2 untagged and the trunk tagged 10; VLAN 20 sees none.
recv_start 2 "$(vm_if 2)" 200 5000 a10 --vlan 0; r2=$RECV_PID
recv_start 5 "$(vm_if 5)" 200 5000 a10 --vlan 10; r5=$RECV_PID
recv_start 3 "$(vm_if 3)" 1 1500 a10; r3=$RECV_PID
recv_start 4 "$(vm_if 4)" 1 1500 a10; r4=$RECV_PID
send 1 200 a10
wait "$r2" || fail "vm2 got $(recv_count 2 a10)/200 untagged"
wait "$r5" || fail "trunk got $(recv_count 5 a10)/200 tagged 10: $(cat "$T_DIR/recv-a10-5.log")"
expect_none "$r3" "$r4"
pass "VLAN 10 broadcast: 200/200 untagged at vm2, 200/200 tagged 10 at the trunk, 0 in VLAN 20"

# The trunk sends tagged 20: vm3 and vm4 get it untagged, VLAN 10 sees none.
recv_start 3 "$(vm_if 3)" 150 5000 t20 --vlan 0; r3=$RECV_PID
recv_start 4 "$(vm_if 4)" 150 5000 t20 --vlan 0; r4=$RECV_PID
recv_start 1 "$(vm_if 1)" 1 1500 t20; r1=$RECV_PID
recv_start 2 "$(vm_if 2)" 1 1500 t20; r2=$RECV_PID
send 5 150 t20 --vlan 20
wait "$r3" || fail "vm3 got $(recv_count 3 t20)/150 from the trunk"
wait "$r4" || fail "vm4 got $(recv_count 4 t20)/150 from the trunk"
expect_none "$r1" "$r2"
pass "trunk VLAN 20: 150/150 untagged at vm3 and vm4, 0 in VLAN 10"

# Not carried: VLAN 30 from the trunk, and a frame tagged 20 into access port vm1 (VLAN 10).
if5=$(vm_if 5) if1=$(vm_if 1)
b5=$(metric vswitch_port_drops_total "port=\"$if5\",reason=\"vlan_not_allowed\"")
b1=$(metric vswitch_port_drops_total "port=\"$if1\",reason=\"vlan_not_allowed\"")
send 5 50 x30 --vlan 30
send 1 40 x20 --vlan 20
wait_metric vswitch_port_drops_total "port=\"$if5\",reason=\"vlan_not_allowed\"" -ge $((b5 + 50)) 5
wait_metric vswitch_port_drops_total "port=\"$if1\",reason=\"vlan_not_allowed\"" -ge $((b1 + 40)) 5
pass "50 frames of VLAN 30 on the trunk and 40 tagged 20 on a VLAN 10 access port: dropped, counted"
stop_daemon
