#!/usr/bin/env bash
# A VXLAN port (issue #26 step two, docs/evpn.md): the workers encapsulate and decapsulate
# themselves over the kernel's UDP. The far end is a real kernel VXLAN device in another
# namespace ("host B", across a veth underlay), so the frames must be what Linux expects.
# Checked: ping and TCP both ways (TSO super-frames from the VM's rtap port are segmented and
# checksummed by the worker; the segments from host B merged again for vm1's TAP), the remote MAC learned on the tunnel port, the flood reaching the
# remote VTEP, malformed datagrams, another VNI and an unknown VTEP dropped and counted exactly,
# and a datagram over the underlay's MTU refused and counted (never fragmented).
source "$(dirname "$0")/../lib/harness.sh"
source "$(dirname "$0")/../lib/vxlan.sh"

vxlan_hostb
# worker_stall_ms: the receive-buffer check below stops the workers for 1-2 s.
vxlan_config "$T_DIR/vswitch.toml" 2 "worker_stall_ms = 5000"
start_daemon "$T_DIR/vswitch.toml"
wait_metric vswitch_worker_up 'worker="1"' -eq 1 10

hostb_ping 1 20 >"$T_DIR/ping1.log" 2>&1 || fail "vm1 -> host B ping failed: $(cat "$T_DIR/ping1.log")"
grep -q " 0% packet loss" "$T_DIR/ping1.log" || fail "vm1 -> host B lost pings: $(cat "$T_DIR/ping1.log")"
hostb_ping 2 20 >"$T_DIR/ping2.log" 2>&1 || fail "vm2 -> host B ping failed: $(cat "$T_DIR/ping2.log")"
pass "20/20 pings from each VM to host B across the tunnel"

check "host B's MAC learned on the tunnel port, at VTEP" "$(vxlan_fdb_vtep "$VX_HOSTB_MAC")" = "$VX_NET.2"
check "host B learned vm1's MAC at our VTEP" \
  "$(ip netns exec "$VX_HOSTB" bridge fdb show dev vx100 | grep -c "$(vm_mac 1) dst $VX_NET.1" || true)" -eq 1

ip netns exec "$(vm_ns 1)" ping -q -c 10 -i 0.05 -W 2 fd77::9 >"$T_DIR/ping6.log" 2>&1 ||
  fail "vm1 -> host B IPv6 ping failed (neighbour discovery's multicast is flooded to the VTEP): $(cat "$T_DIR/ping6.log")"
pass "10/10 IPv6 pings vm1 -> host B"

# TCP both ways: vm1's rtap port hands TSO super-frames to the worker, which segments them.
# Called in $(...): the server's pid cannot reach the clean-up's T_PIDS, so it is stopped here
# once the client is done (a server whose client never came would wait forever).
iperf_hostb() {
  local server
  ip netns exec "$VX_HOSTB" iperf3 -s -1 -B 10.77.0.9 >"$T_DIR/iperf-server.log" 2>&1 &
  server=$!
  for _ in $(seq 100); do
    ip netns exec "$VX_HOSTB" ss -ltn | grep -q ":5201 " && break
    sleep 0.02
  done
  local rc=0
  ip netns exec "$(vm_ns 1)" iperf3 -c 10.77.0.9 -t 3 --connect-timeout 3000 "$@" -J \
    >"$T_DIR/iperf.json" 2>&1 || rc=$?
  kill "$server" 2>/dev/null || true  # the client has the results: the server's part is done
  wait "$server" 2>/dev/null || true
  [ "$rc" -eq 0 ] || fail "iperf3 $* failed: $(tail -5 "$T_DIR/iperf.json")"
  python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["end"]["sum_received"]; print(int(e["bits_per_second"]))' "$T_DIR/iperf.json"
}
up=$(iperf_hostb)
check "TCP vm1 -> host B, bit/s" "$up" -ge 100000000
rx_p=$(kernel_counter 1 rx_packets)
rx_b=$(kernel_counter 1 rx_bytes)
down=$(iperf_hostb -R)
check "TCP host B -> vm1, bit/s" "$down" -ge 100000000
# The worker merges each burst's run of a flow's segments into one super-frame for vm1's TAP
# (receive coalescing): vm1's NIC receives frames larger than the 1514 bytes that crossed.
per_frame=$(( ($(kernel_counter 1 rx_bytes) - rx_b) / ($(kernel_counter 1 rx_packets) - rx_p) ))
check "bytes per frame vm1 received from host B" "$per_frame" -ge 3000
log "TCP across the tunnel: vm1 -> host B $((up / 1000000)) Mbit/s, host B -> vm1 $((down / 1000000)) Mbit/s"
check "drops on vm1's port" "$(metric vswitch_port_drops_total "port=\"$(vm_if 1)\"")" -eq 0
check "drops on the tunnel port" "$(metric vswitch_port_drops_total "port=\"$VX_PORT\"")" -eq 0
check "datagrams the tunnel port sent" "$(metric vswitch_port_tx_packets_total "port=\"$VX_PORT\"")" -ge 10000

# Bad datagrams to our VTEP, 5 of each kind: not VXLAN (no I flag), another VNI, and a good
# frame from a VTEP that is not one of the port's remotes. Each is dropped and counted once.
send_bad() {  # send_bad SOURCE_ADDR HEX_HEADER
  ip netns exec "$VX_HOSTB" python3 - "$1" "$2" "$VX_NET.1" <<'EOF'
import socket, sys
src, header, dst = sys.argv[1], bytes.fromhex(sys.argv[2]), sys.argv[3]
inner = bytes.fromhex("ffffffffffff02000000b0090800") + bytes(46)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((src, 0))
for _ in range(5):
    s.sendto(header + inner, (dst, 4789))
EOF
}
send_bad "$VX_NET.2" 0000000000006400       # flags without I
send_bad "$VX_NET.2" 080000000000c800       # VNI 200
send_bad "$VX_NET.3" 0800000000006400       # VNI 100, from an unknown VTEP
for reason in vxlan_malformed vxlan_unknown_vni vxlan_unknown_vtep; do
  wait_metric vswitch_port_drops_total "port=\"$VX_PORT\",reason=\"$reason\"" -ge 5 5
  check "$reason drops" "$(metric vswitch_port_drops_total "port=\"$VX_PORT\",reason=\"$reason\"")" -eq 5
done
pass "bad datagrams dropped and counted by cause"

# A full socket receive buffer: both workers stopped while host B sends 20000 datagrams to vm1
# (bursts of 100 every 5 ms; more than 8 MB of socket buffer holds, the most a worker asks for).
# What the sockets could not hold is counted (vxlan_rx_overflow, the kernel's SO_MEMINFO
# count); the rest reaches vm1.
rx_before=$(kernel_counter 1 rx_packets)
pids=$(worker_pids)
kill -STOP $pids
ip netns exec "$VX_HOSTB" python3 - <<'EOF'
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for burst in range(200):
    for _ in range(100):
        s.sendto(bytes(64), ("10.77.0.1", 9))
    time.sleep(0.005)
EOF
sleep 0.2
kill -CONT $pids
overflow_reason="port=\"$VX_PORT\",reason=\"vxlan_rx_overflow\""
wait_metric vswitch_port_drops_total "$overflow_reason" -ge 1 5
sleep 0.5
overflow=$(metric vswitch_port_drops_total "$overflow_reason")
got=$(( $(kernel_counter 1 rx_packets) - rx_before ))
log "20000 datagrams to stopped workers: $got reached vm1, $overflow counted as vxlan_rx_overflow"
check "datagrams lost in the socket buffers, counted" "$overflow" -ge 1
check "reached vm1 + counted as overflow" "$((got + overflow))" -ge 20000
check "reached vm1 + counted as overflow (nothing else in between)" "$((got + overflow))" -le 20010
pass "a full socket receive buffer: every datagram reached the VM or was counted"

# Reload with another list of remotes: the port is re-created (the workers open new sockets),
# and a VTEP that was refused is now one of its remotes. Host B sends the same frames from .3:
# accepted now, and host B's MAC moves to VTEP .3; a ping from .2 moves it back.
sed -i "s|remotes = \[\"$VX_NET.2\"\]|remotes = [\"$VX_NET.3\", \"$VX_NET.2\"]|" "$T_DIR/vswitch.toml"
j=$(ctl --json reload) || fail "reload refused: $j"
log "reload: $(echo "$j" | json_get 'j["summary"]')"
check "the tunnel port re-created" "$(echo "$j" | json_get '",".join(j["recreated"])')" = "$VX_PORT"
hostb_ping 1 5 >"$T_DIR/ping-reload.log" 2>&1 || fail "ping after the reload failed: $(cat "$T_DIR/ping-reload.log")"
unknown_before=$(metric vswitch_port_drops_total "port=\"$VX_PORT\",reason=\"vxlan_unknown_vtep\"")
send_bad "$VX_NET.3" 0800000000006400
for _ in $(seq 50); do [ "$(vxlan_fdb_vtep "$VX_HOSTB_MAC")" = "$VX_NET.3" ] && break; sleep 0.1; done
check "host B's MAC moved to VTEP .3" "$(vxlan_fdb_vtep "$VX_HOSTB_MAC")" = "$VX_NET.3"
check "no unknown_vtep drop for a remote" \
  "$(metric vswitch_port_drops_total "port=\"$VX_PORT\",reason=\"vxlan_unknown_vtep\"")" -eq "$unknown_before"
hostb_ping 1 5 >"$T_DIR/ping-back.log" 2>&1 || fail "ping after the move failed: $(cat "$T_DIR/ping-back.log")"
for _ in $(seq 50); do [ "$(vxlan_fdb_vtep "$VX_HOSTB_MAC")" = "$VX_NET.2" ] && break; sleep 0.1; done
check "host B's MAC back at VTEP .2" "$(vxlan_fdb_vtep "$VX_HOSTB_MAC")" = "$VX_NET.2"
pass "reloaded with new remotes; a MAC moves between VTEPs"

# The underlay's MTU lowered under the tunnel: a full-size frame no longer fits, and the
# underlay refuses it (EMSGSIZE, IP_PMTUDISC_DO) instead of fragmenting it.
ip link set "$VX_UL0" mtu 1400
if hostb_ping 1 3 1400 >"$T_DIR/ping-big.log" 2>&1; then
  fail "a 1400-byte ping crossed a 1400-byte underlay: fragmented? $(cat "$T_DIR/ping-big.log")"
fi
check "vxlan_oversize drops" \
  "$(metric vswitch_port_drops_total "port=\"$VX_PORT\",reason=\"vxlan_oversize\"")" -ge 3
hostb_ping 1 5 1300 >"$T_DIR/ping-small.log" 2>&1 ||
  fail "a 1300-byte ping failed on a 1400-byte underlay: $(cat "$T_DIR/ping-small.log")"
pass "oversize datagrams refused and counted, never fragmented"
stop_daemon
pass "VXLAN port to a kernel VTEP"
