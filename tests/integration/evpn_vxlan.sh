#!/usr/bin/env bash
# Beyond one host, step two with its EVPN feed (issue #26, docs/evpn.md): two "hosts" (network
# namespaces, tests/lib/evpn.sh) joined by a veth underlay, each running its own vswitchd INSIDE
# the host's namespace (own file prefix, socket, metrics) with two VMs and a native VXLAN port,
# `vxlan = { vni = 100, local = ..., underlay = ..., evpn = true }`, and its own FRR (zebra +
# bgpd, iBGP EVPN, advertise-all-vni). The workers carry the frames; FRR only sees vswitchd's
# shadow devices (vsbr100, vsvx100, vssh100), through which the FDB service feeds the remote
# MACs and the flood list into the switch and pushes its local MACs to zebra.
# Checked:
#  1. every VM reaches every other VM, on its host and across, and TCP crosses both ways
#     (vswitch to vswitch: segmentation, UDP GSO, coalescing); nothing is learned from the
#     tunnel: the remote MACs are "evpn" entries at the VTEP zebra gave, and the flood list is
#     the other host's VTEP;
#  2. each host's FRR has a type-2 route for each of the 4 VM MACs and a type-3 route per VTEP;
#  3. a VM moved from host A to host B as a live migration does it (the source paused, the
#     destination's port added with the same MAC, its announcement, then the source's port
#     removed) is reached from host A within 5 s, and its MAC mobility sequence number rises;
#  4. FRR restarted on host B: traffic across resumes once the session is back;
#  5. host A's EVPN port removed by a reload: its shadow goes, host B loses host A's VTEP and
#     MACs; put back: traffic across again;
#  6. datagrams with a malformed header or another VNI are dropped and counted, exactly;
#  7. the shadow devices go with vswitchd.
source "$(dirname "$0")/../lib/harness.sh"
source "$(dirname "$0")/../lib/evpn.sh"

command -v vtysh >/dev/null && [ -x /usr/lib/frr/bgpd ] ||
  fail "FRR is not installed (scripts/setup.sh installs the frr package)"

T_DRIVER=rtap
B_PREFIX="${T_PREFIX}b"
T_MORE_PREFIXES+=("$B_PREFIX")
VX_PORT="${T_PREFIX}x"
A_NS=$(host_ns A)
B_NS=$(host_ns B)
A_PID=""
B_PID=""

# Host X's vswitchd: its socket, its metrics (inside its namespace).
ctl_on() { "$VSWITCH_BIN_DIR/vswitchctl" --socket "$T_DIR/run-$1/vswitchd.sock" "${@:2}"; }
metrics_port() { [ "$1" = A ] && echo "$T_METRICS_PORT" || echo $((T_METRICS_PORT + 1)); }
scrape_on() {
  ip netns exec "$(host_ns "$1")" curl -sf --max-time 5 "http://127.0.0.1:$(metrics_port "$1")/metrics"
}
metric_on() { scrape_on "$1" | metric_in "${@:2}"; }  # metric_on HOST NAME [FILTER]
scrape() { scrape_on A; }  # the harness's failure report
# At clean-up, while the daemons still run: what each host's switch shows (kept on failure).
dump_state() {
  local h
  for h in A B; do
    {
      ctl_on $h show ports
      ctl_on $h show fdb
      scrape_on $h | grep -E '^vswitch_(port_drops|evpn)' | grep -v ' 0$'
      ip -n "$(host_ns $h)" -d link show type vxlan
      bridge -n "$(host_ns $h)" fdb show br vsbr100
    } >"$T_DIR/state-$h.txt" 2>&1
  done
  return 0
}
T_ON_EXIT=(dump_state "${T_ON_EXIT[@]}")

# host_config HOST VM VM: the daemon, switch sw0, two rtap VM ports and the EVPN VXLAN port.
host_config() {
  local h=$1 file=$T_DIR/$1.toml prefix=$T_PREFIX
  [ "$h" = B ] && prefix=$B_PREFIX
  {
    echo "[daemon]"
    echo "file_prefix = \"$prefix\""
    echo "workers = 1"
    echo "metrics_listen = \"127.0.0.1:$(metrics_port "$h")\""
    echo "runtime_dir = \"$T_DIR/run-$h\""
    echo "mbufs_per_worker = ${T_MBUFS:-4095}"
    echo "restart_backoff_ms = 10"
  } >"$file"
  config_switch "$file" sw0
  config_port "$file" "$2"
  config_port "$file" "$3"
  printf '\n[[switch.port]]\nname = "%s"\n' "$VX_PORT" >>"$file"
  printf 'vxlan = { vni = 100, local = "10.99.0.%s", underlay = "%s", evpn = true }\n' \
    "$(host_n "$h")" "${T_PREFIX}u$h" >>"$file"
}

# start_on HOST: vswitchd in the host's namespace, until ready.
start_on() {
  ip netns exec "$(host_ns "$1")" "$VSWITCH_BIN_DIR/vswitchd" --config "$T_DIR/$1.toml" \
    >"$T_DIR/vswitchd-$1.log" 2>&1 &
  local pid=$!
  T_PIDS+=("$pid")
  [ "$1" = A ] && A_PID=$pid || B_PID=$pid
  for _ in $(seq 200); do
    grep -q "vswitchd: ready" "$T_DIR/vswitchd-$1.log" && return 0
    kill -0 "$pid" 2>/dev/null || fail "vswitchd $1 exited: $(tail -5 "$T_DIR/vswitchd-$1.log")"
    sleep 0.05
  done
  fail "vswitchd $1 not ready after 10 s: $(tail -5 "$T_DIR/vswitchd-$1.log")"
}

# fdb_row HOST MAC: "type vtep" of MAC's entry on the tunnel port of HOST's switch ("" if none).
fdb_row() {
  ctl_on "$1" --json show fdb | json_rows mac port type vtep |
    awk -v m="$2" -v p="$VX_PORT" '$1 == m && $2 == p { print $3, $4 }'
}



evpn_underlay
for h in A B; do frr_start $h; done
# The VMs' namespaces, made here: a namespace that vswitchd made inside `ip netns exec` would
# live in that command's own mount namespace (its /run/netns mounts do not propagate back).
for n in 1 2 3 4 5; do
  ip netns add "$(vm_ns $n)"
  T_NETNS+=("$(vm_ns $n)")
done
host_config A 1 2
host_config B 3 4
start_on A
start_on B
for h in A B; do
  check "host $h: the shadow bridge holds the shadow VXLAN device and port" \
    "$(ip -n "$(host_ns $h)" -o link show master vsbr100 | grep -c -e vsvx100 -e vssh100)" -eq 2
done
ctl_on A show ports | grep -q "^$VX_PORT .*vxlan 100 evpn" || fail "show ports: no evpn tunnel: $(ctl_on A show ports)"
evpn_wait_session A 30 || fail "no EVPN session: $(vty A 'show bgp l2vpn evpn summary')"

# 1. Every VM reaches every other VM (the first pings flood ARP to the type-3 VTEP).
for h in A B; do
  for _ in $(seq 100); do
    [ "$(metric_on $h vswitch_evpn_flood_vteps)" -eq 1 ] && break
    sleep 0.1
  done
  check "host $h: VTEPs in the flood list" "$(metric_on $h vswitch_evpn_flood_vteps)" -eq 1
done
for pair in "1 2" "3 4" "1 3" "1 4" "2 3" "2 4" "3 1" "4 2"; do
  reached $pair 10 || fail "vm${pair% *} -> vm${pair#* } failed"
  ping_ok $pair 5 || fail "5 pings vm${pair% *} -> vm${pair#* } failed: $(cat "$T_DIR/ping.log")"
done
ip netns exec "$(vm_ns 1)" ping -c 2 -W 2 -M do -s 1400 10.77.0.3 >/dev/null ||
  fail "a 1400-byte ping with DF from vm1 to vm3 (across) failed"
log "every VM reaches every other VM, on its host and across"
declare -A MAC
for n in 1 2 3 4; do MAC[$n]=$(vm_mac "$n"); done
for _ in $(seq 50); do [ "$(fdb_row A "${MAC[3]}")" = "evpn 10.99.0.2" ] && break; sleep 0.1; done
check "host A: vm3's MAC behind the tunnel" "$(fdb_row A "${MAC[3]}")" = "evpn 10.99.0.2"
check "host B: vm1's MAC behind the tunnel" "$(fdb_row B "${MAC[1]}")" = "evpn 10.99.0.1"
check "host A: remote MACs from EVPN" "$(metric_on A vswitch_evpn_remote_macs)" -eq 2
check "host A: local MACs pushed to zebra" "$(metric_on A vswitch_evpn_local_macs)" -eq 2
check "host A: MACs learned on the tunnel port" \
  "$(ctl_on A --json show fdb | json_rows port type | grep -c "^$VX_PORT learned" || true)" -eq 0
check "host A: push errors" "$(metric_on A vswitch_evpn_push_errors_total)" -eq 0

# TCP across, both ways, vswitch to vswitch: TSO super-frames cut by host A's worker and sent as
# UDP GSO, merged again by host B's (receive coalescing), and back.
for pair in "1 3" "3 1"; do
  iperf_tcp ${pair% *} ${pair#* } 3 >"$T_DIR/tcp.txt"
  bps=$(cut -d' ' -f1 "$T_DIR/tcp.txt")
  check "TCP vm${pair% *} -> vm${pair#* } across the EVPN tunnel, bit/s" "$bps" -ge 100000000
  log "TCP vm${pair% *} -> vm${pair#* }: $((bps / 1000000)) Mbit/s"
done
for h in A B; do
  for reason in vxlan_malformed vxlan_oversize vxlan_send_failed mtu_exceeded; do
    check "host $h: $reason drops after TCP" \
      "$(metric_on $h vswitch_port_drops_total "port=\"$VX_PORT\",reason=\"$reason\"")" -eq 0
  done
done

# 2. The routes: a type-2 per VM MAC, a type-3 per VTEP, on both hosts.
for h in A B; do evpn_check_routes $h; done

# 3. vm2 moves from host A to host B, as a live migration does it: the source paused, the
# destination (vm5 on host B, same MAC and address) announced, then the source's port removed.
seq0=$(evpn_mm_seq A "${MAC[2]}")
ip netns exec "$(vm_ns 2)" ip link set "$(vm_if 2)" down
ctl_on B port add sw0 "$(vm_if 5)" --driver rtap --netns "$(vm_ns 5)" \
  --address 10.77.0.2/24 --mac "${MAC[2]}" >/dev/null || fail "port add vm5 on host B failed"
evpn_vm2_back 5
ctl_on A port del "$(vm_if 2)" >/dev/null || fail "port del vm2 on host A failed"
evpn_mm_seq_rose A "${MAC[2]}" "$seq0"
check "host A: vm2's MAC now behind the tunnel" "$(fdb_row A "${MAC[2]}")" = "evpn 10.99.0.2"
ping_ok 1 2 5 || fail "5 pings vm1 -> vm2 (now on host B) failed: $(cat "$T_DIR/ping.log")"

# 4. FRR restarted on host B.
evpn_restart_frr_b

# 5. Host A's EVPN port removed by a reload, then put back: its shadow goes and zebra withdraws
# host A's routes (host B's flood list and remote MACs empty), then everything comes back.
cp "$T_DIR/A.toml" "$T_DIR/A-full.toml"
python3 - "$T_DIR/A.toml" "$VX_PORT" <<'EOF2'
import sys
path, port = sys.argv[1], sys.argv[2]
text = open(path).read()
head, sep, tunnel = text.rpartition("\n[[switch.port]]\n")
assert port in tunnel
open(path, "w").write(head + "\n")
EOF2
j=$(ctl_on A --json reload) || fail "reload without the EVPN port refused: $j"
ip -n "$A_NS" link show vsbr100 >/dev/null 2>&1 && fail "host A: vsbr100 left after the port's removal"
for _ in $(seq 100); do
  [ "$(metric_on B vswitch_evpn_flood_vteps)" -eq 0 ] && [ "$(metric_on B vswitch_evpn_remote_macs)" -eq 0 ] && break
  sleep 0.1
done
check "host B: flood VTEPs once host A's port is gone" "$(metric_on B vswitch_evpn_flood_vteps)" -eq 0
check "host B: remote MACs once host A's port is gone" "$(metric_on B vswitch_evpn_remote_macs)" -eq 0
cp "$T_DIR/A-full.toml" "$T_DIR/A.toml"
j=$(ctl_on A --json reload) || fail "reload with the EVPN port back refused: $j"
reached 1 3 10 || fail "vm1 -> vm3 not back 10 s after the EVPN port came back"
reached 4 1 10 || fail "vm4 -> vm1 not back 10 s after the EVPN port came back"
check "host B: flood VTEPs with host A's port back" "$(metric_on B vswitch_evpn_flood_vteps)" -eq 1
log "host A's EVPN port removed and put back by reloads: routes withdrawn, then traffic across again"

# 6. Bad datagrams to host A's VTEP from host B's: 5 with a malformed header (no I flag), 5
# with another VNI. Each is dropped and counted once.
send_bad() {  # send_bad HEX_HEADER
  ip netns exec "$B_NS" python3 - "$1" <<'EOF'
import socket, sys
header = bytes.fromhex(sys.argv[1])
inner = bytes.fromhex("ffffffffffff02000000b0090800") + bytes(46)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.99.0.2", 0))
for _ in range(5):
    s.sendto(header + inner, ("10.99.0.1", 4789))
EOF
}
send_bad 0000000000006400  # flags without I
send_bad 080000000000c800  # VNI 200
for reason in vxlan_malformed vxlan_unknown_vni; do
  filter="port=\"$VX_PORT\",reason=\"$reason\""
  for _ in $(seq 50); do [ "$(metric_on A vswitch_port_drops_total "$filter")" -ge 5 ] && break; sleep 0.1; done
  check "host A: $reason drops" "$(metric_on A vswitch_port_drops_total "$filter")" -eq 5
done

# 7. The shadow devices go with vswitchd.
for h in A B; do
  pid=$A_PID
  [ "$h" = B ] && pid=$B_PID
  kill -TERM "$pid"
  wait "$pid" || fail "vswitchd $h exited with $?"
  ip -n "$(host_ns $h)" link show vsbr100 >/dev/null 2>&1 && fail "host $h: vsbr100 left behind"
  ip -n "$(host_ns $h)" link show vssp100 >/dev/null 2>&1 && fail "host $h: vssp100 left behind"
done
log "the shadow devices left with vswitchd on both hosts"
pass "evpn_vxlan: 4 VMs on 2 hosts over the workers' VXLAN, fed by FRR EVPN; routes, a VM move, an FRR restart, bad datagrams"
