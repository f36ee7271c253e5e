#!/usr/bin/env bash
# A MAC flood: vm1 sends a million frames to vm4, each from a new random source MAC. The FDB stays
# within its bound, the per-port limit is counted, and vm2 and vm3 keep talking without loss.
# (The frames go to a known MAC: flooded ones would fill the other VMs' kernel backlogs, which
# says nothing about the switch.)
source "$(dirname "$0")/../lib/harness.sh"

frames=${VSWITCH_MAC_FLOOD_FRAMES:-1000000}
cfg=$T_DIR/vswitch.toml
config_daemon "$cfg" 1
config_switch "$cfg" sw0 'fdb_max_entries = 2000' 'mac_limit_per_port = 1000'
for n in 1 2 3 4; do config_port "$cfg" "$n"; done
start_daemon "$cfg"
wait_metric vswitch_worker_up 'worker="0"' -eq 1 10
ping_ok 2 3 2 || fail "ping before the flood failed"
ping_ok 1 4 2 || fail "ping vm1 -> vm4 failed"
mac4=$(vm_mac 4)

ip netns exec "$(vm_ns 2)" ping -q -i 0.05 -W 1 -c 150 10.77.0.3 >"$T_DIR/ping-during.log" 2>&1 &
pinger=$!
T_PIDS+=("$pinger")
t0=$(date +%s%N)
ip netns exec "$(vm_ns 1)" "$VSWITCH_TEST_TOOLS/vs-rawframe" send "$(vm_if 1)" "$frames" \
  --random-src 1 --dst "$mac4" --tag flood >/dev/null || fail "flood sender failed"
log "$frames frames with random source MACs sent in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
wait "$pinger" || fail "vm2 -> vm3 pings failed during the flood: $(tail -2 "$T_DIR/ping-during.log")"
log "pings during the flood: $(grep -o '[0-9]* received, [0-9.]*% packet loss' "$T_DIR/ping-during.log")"
grep -q " 0% packet loss" "$T_DIR/ping-during.log" || fail "vm2 -> vm3 lost pings during the flood"

sleep 0.5
entries=$(metric vswitch_fdb_entries 'switch="sw0"')
limited=$(metric vswitch_fdb_port_limit_total 'switch="sw0"')
dropped_events=$(metric vswitch_worker_learn_dropped_total 2>/dev/null || echo 0)
log "FDB entries $entries, port-limit refusals $limited, learn events lost to a full ring $dropped_events"
check "FDB entries within fdb_max_entries" "$entries" -le 2000
check "MACs refused by mac_limit_per_port" "$limited" -gt 0
check "MACs learned on vm1's port" "$entries" -ge 1000
ping_ok 2 3 5 || fail "ping after the flood failed"
stop_daemon
pass "MAC flood bounded and counted; other VMs unaffected"
