# Two "hosts" joined by VXLAN with BGP EVPN from FRR (issue #26), for the EVPN tests: sourced
# after harness.sh.
#
# Host X (A or B) is the network namespace $(host_ns X) with:
#   - its underlay address 10.99.0.N/24 (A: 1, B: 2) on one end of a veth pair to the other host
#     (MTU 9000, so that a VM's 1500-byte frame fits with the 50-byte VXLAN header);
#   - a kernel bridge br100 holding the VXLAN device vx100 (VNI 100, local 10.99.0.N, UDP 4789,
#     nolearning): zebra reads the bridge's FDB and installs the remote MACs and the flood list
#     on vx100;
#   - FRR's zebra and bgpd, run in that namespace with their own pathspace $(frr_ns X) (vtysh -N),
#     iBGP EVPN (AS 65000) to the other host, advertise-all-vni.
# The switch of each host then puts an uplink port into br100 (evpn_uplink.sh).

host_ns() { echo "${T_PREFIX}-h$1"; }
frr_ns() { echo "${T_PREFIX}$1"; }
host_n() { [ "$1" = A ] && echo 1 || echo 2; }
EVPN_FRR_DIRS=()
T_ON_EXIT+=(evpn_cleanup)

# evpn_underlay: both host namespaces and the veth between them.
evpn_underlay() {
  local h
  for h in A B; do
    ip netns add "$(host_ns $h)"
    T_NETNS+=("$(host_ns $h)")
    ip -n "$(host_ns $h)" link set lo up
  done
  ip link add "${T_PREFIX}uA" netns "$(host_ns A)" mtu 9000 type veth \
    peer name "${T_PREFIX}uB" netns "$(host_ns B)" mtu 9000
  for h in A B; do
    ip -n "$(host_ns $h)" addr add "10.99.0.$(host_n $h)/24" dev "${T_PREFIX}u$h"
    ip -n "$(host_ns $h)" link set "${T_PREFIX}u$h" up
  done
}

# evpn_bridge HOST: br100 with vx100 in HOST.
evpn_bridge() {
  local ns n
  ns=$(host_ns "$1")
  n=$(host_n "$1")
  ip -n "$ns" link add br100 type bridge
  ip -n "$ns" link set br100 addrgenmode none
  ip -n "$ns" link add vx100 type vxlan id 100 local "10.99.0.$n" dstport 4789 nolearning
  ip -n "$ns" link set vx100 master br100
  ip -n "$ns" link set vx100 type bridge_slave neigh_suppress off learning off
  ip -n "$ns" link set vx100 up
  ip -n "$ns" link set br100 up
}

# frr_start HOST: zebra and bgpd in HOST's namespace; their files in $T_DIR/frr-HOST.
frr_start() {
  local h=$1 dir n peer
  dir=$T_DIR/frr-$h
  n=$(host_n "$h")
  peer=$((3 - n))
  mkdir -p "$dir"
  chmod 711 "$T_DIR"  # FRR's daemons run as user frr and write their pid files in $dir
  cat >"$dir/frr.conf" <<EOF
frr defaults datacenter
hostname host$h
log file $dir/frr.log
router bgp 65000
 bgp router-id 10.99.0.$n
 no bgp default ipv4-unicast
 neighbor 10.99.0.$peer remote-as 65000
 address-family l2vpn evpn
  neighbor 10.99.0.$peer activate
  advertise-all-vni
 exit-address-family
EOF
  chown -R frr:frr "$dir"
  EVPN_FRR_DIRS+=("$dir")
  ip netns exec "$(host_ns "$h")" /usr/lib/frr/zebra -d -N "$(frr_ns "$h")" -f "$dir/frr.conf" \
    -i "$dir/zebra.pid" >>"$dir/start.log" 2>&1
  ip netns exec "$(host_ns "$h")" /usr/lib/frr/bgpd -d -N "$(frr_ns "$h")" -f "$dir/frr.conf" \
    -i "$dir/bgpd.pid" >>"$dir/start.log" 2>&1
}

# frr_stop HOST: bgpd and zebra of HOST, and waits until they are gone.
frr_stop() {
  local dir=$T_DIR/frr-$1 d pid
  for d in bgpd zebra; do
    [ -f "$dir/$d.pid" ] || continue
    pid=$(cat "$dir/$d.pid")
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$pid" 2>/dev/null || true
  done
}

# vty HOST COMMAND: vtysh of HOST's FRR.
vty() { vtysh -N "$(frr_ns "$1")" -c "$2" 2>/dev/null; }

# evpn_wait_session HOST SECONDS: until HOST's EVPN session to the other host is established.
evpn_wait_session() {
  local t=$(($(date +%s) + $2))
  while [ "$(date +%s)" -lt "$t" ]; do
    vty "$1" "show bgp l2vpn evpn summary json" |
      python3 -c 'import json,sys
d = json.load(sys.stdin)
peers = d.get("peers", {})
sys.exit(0 if peers and all(p.get("state") == "Established" for p in peers.values()) else 1)' \
      2>/dev/null && return 0
    sleep 0.25
  done
  return 1
}

# evpn_routes HOST: "type mac-or-vtep" lines of HOST's EVPN table: "2 aa:bb:..." per type-2
# route, "3 10.99.0.N" per type-3 route.
evpn_routes() {
  vty "$1" "show bgp l2vpn evpn route json" | python3 -c 'import json,re,sys
d = json.load(sys.stdin)
for rd, routes in d.items():
    if not isinstance(routes, dict):
        continue
    for prefix in routes:
        m = re.match(r"\[2\]:\[\d+\]:\[48\]:\[([0-9a-f:]+)\]", prefix)
        if m:
            print("2", m.group(1))
        m = re.match(r"\[3\]:\[\d+\]:\[32\]:\[([0-9.]+)\]", prefix)
        if m:
            print("3", m.group(1))' | sort -u
}

# evpn_check_routes HOST: HOST's FRR has a type-2 route of each of the 4 VMs' MACs (the array
# MAC, 1..4) and a type-3 route of each host's VTEP; fails the test if not.
evpn_check_routes() {
  local routes n v
  routes=$(evpn_routes "$1")
  for n in 1 2 3 4; do
    grep -qx "2 ${MAC[$n]}" <<<"$routes" || fail "host $1: no type-2 route of vm$n's MAC ${MAC[$n]}: $routes"
  done
  for v in 10.99.0.1 10.99.0.2; do
    grep -qx "3 $v" <<<"$routes" || fail "host $1: no type-3 route of VTEP $v: $routes"
  done
  log "host $1: type-2 routes of all 4 VM MACs, type-3 routes of both VTEPs"
}

# evpn_vm2_back VM: vm2's MAC, now behind VM n (another host), announces itself as QEMU does after
# a migration (RARP); waits up to 5 s until vm1 reaches 10.77.0.2 again and logs how long it took.
evpn_vm2_back() {
  local t0 back=0
  t0=$(now_ms)
  ip netns exec "$(vm_ns "$1")" "$VSWITCH_TEST_TOOLS/vs-rawframe" send "$(vm_if "$1")" 3 \
    --ethertype 0x8035 >/dev/null || fail "vm$1's announcement failed"
  while [ $(($(now_ms) - t0)) -lt 5000 ]; do
    if ip netns exec "$(vm_ns 1)" ping -c 1 -W 1 -I "$(vm_if 1)" 10.77.0.2 >/dev/null 2>&1; then
      back=$(($(now_ms) - t0))
      break
    fi
  done
  [ "$back" -gt 0 ] ||
    fail "vm2 not reachable from vm1 5 s after its move to host B: $(vty A 'show evpn mac vni 100')"
  log "vm2 moved to host B: reached from vm1 (host A) again after $back ms"
}

# evpn_mm_seq_rose HOST MAC SEQ0: within 10 s, MAC's mobility sequence number on HOST exceeds SEQ0.
evpn_mm_seq_rose() {
  for _ in $(seq 40); do [ "$(evpn_mm_seq "$1" "$2")" -gt "$3" ] && break; sleep 0.25; done
  check "$2's MAC mobility sequence number on host $1 (was $3)" "$(evpn_mm_seq "$1" "$2")" -gt "$3"
}

# evpn_restart_frr_b: FRR stopped and started again on host B; vm1 -> vm3, vm4 -> vm1 and
# vm1 -> vm2 must work again within 30 s.
evpn_restart_frr_b() {
  local t0 t_session pair
  frr_stop B
  t0=$(now_ms)
  frr_start B
  evpn_wait_session B 60 || fail "the EVPN session did not come back after FRR's restart on host B"
  t_session=$(($(now_ms) - t0))
  for pair in "1 3" "4 1" "1 2"; do
    reached $pair 30 ||
      fail "vm${pair% *} -> vm${pair#* } not back 30 s after FRR's restart on host B: $(vty B 'show evpn mac vni 100')"
  done
  log "FRR restarted on host B: session back after $t_session ms, traffic across after $(($(now_ms) - t0)) ms"
}

# evpn_mm_seq HOST MAC: the MAC mobility sequence number of MAC's route on HOST (0 without one).
evpn_mm_seq() {
  vty "$1" "show bgp l2vpn evpn route json" | python3 -c 'import json,re,sys
mac, best = sys.argv[1], 0
for rd, routes in json.load(sys.stdin).items():
    if not isinstance(routes, dict):
        continue
    for prefix, r in routes.items():
        if f"[{mac}]" not in prefix:
            continue
        for path in (r.get("paths") or []):
            for p in (path if isinstance(path, list) else [path]):
                m = re.search(r"MM:(\d+)", json.dumps(p))
                if m:
                    best = max(best, int(m.group(1)))
print(best)' "$2"
}

# reached FROM TO SECONDS: until one ping from vm FROM to vm TO (10.77.0.TO) is answered.
reached() {
  local until=$(($(now_ms) + $3 * 1000))
  while [ "$(now_ms)" -lt "$until" ]; do
    ip netns exec "$(vm_ns "$1")" ping -c 1 -W 1 "10.77.0.$2" >/dev/null 2>&1 && return 0
  done
  return 1
}

# evpn_cleanup: FRR's daemons, first thing at the harness's clean-up (the namespaces go after).
evpn_cleanup() {
  local dir d
  for dir in "${EVPN_FRR_DIRS[@]}"; do
    for d in bgpd zebra; do
      [ -f "$dir/$d.pid" ] && kill -KILL "$(cat "$dir/$d.pid")" 2>/dev/null
    done
  done
  return 0
}
