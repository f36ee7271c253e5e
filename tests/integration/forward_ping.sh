#!/usr/bin/env bash
# Two VMs (namespaces) on one switch ping each other over IPv4 and IPv6 through a worker process;
# the switch's counters and the kernel's agree on the frames that crossed.
source "$(dirname "$0")/../lib/harness.sh"

write_config "$T_DIR/vswitch.toml" 2
start_daemon "$T_DIR/vswitch.toml"
wait_metric vswitch_worker_up 'worker="0"' -eq 1 10
check "worker processes" "$(worker_pids | wc -l)" -eq 1

ping_ok 1 2 20 || fail "vm1 -> vm2 IPv4 ping failed: $(cat "$T_DIR/ping.log")"
grep -q " 0% packet loss" "$T_DIR/ping.log" || fail "IPv4 ping lost packets: $(cat "$T_DIR/ping.log")"
pass "20/20 IPv4 pings vm1 -> vm2"
ip netns exec "$(vm_ns 2)" ping -q -c 10 -i 0.05 -W 2 fd77::1 >"$T_DIR/ping6.log" 2>&1 ||
  fail "vm2 -> vm1 IPv6 ping failed: $(cat "$T_DIR/ping6.log")"
pass "10/10 IPv6 pings vm2 -> vm1"

# Every frame the kernel sent out of vm1's NIC was received by the switch from port vm1 and sent
# on port vm2, where the kernel received it: compare the four counters (ND/ARP included).
# The kernels may still send a late neighbour-discovery frame: read until two reads agree.
for _ in $(seq 20); do
  sleep 0.2
  k_tx1=$(kernel_counter 1 tx_packets)
  s_rx1=$(metric vswitch_port_rx_packets_total "port=\"$(vm_if 1)\"")
  s_tx2=$(metric vswitch_port_tx_packets_total "port=\"$(vm_if 2)\"")
  k_rx2=$(kernel_counter 2 rx_packets)
  [ "$k_tx1" = "$s_rx1" ] && [ "$s_tx2" = "$k_rx2" ] && [ "$k_tx1" = "$(kernel_counter 1 tx_packets)" ] && break
done
check "switch rx on vm1 port vs kernel tx of vm1" "$s_rx1" -eq "$k_tx1"
check "switch tx on vm2 port vs switch rx on vm1 port" "$s_tx2" -eq "$s_rx1"
check "kernel rx of vm2 vs switch tx on vm2 port" "$k_rx2" -eq "$s_tx2"
check "frames vm1 -> vm2" "$s_rx1" -ge 30
check "drops on the switch" "$(metric vswitch_port_drops_total)" -eq 0
check "driver drops" "$(metric vswitch_port_driver_drops_total)" -eq 0
stop_daemon
pass "forwarding vm1 <-> vm2 through vswitch-worker"
