# A VXLAN port of vswitchd facing a kernel VTEP ("host B"), for the VXLAN port tests (issue #26,
# step two): sourced after harness.sh.
#
# - The underlay: a veth pair, $VX_UL0 here with $VX_NET.1/24 (vswitchd's VTEP) and $VX_UL1 in
#   host B's namespace $VX_HOSTB with $VX_NET.2/24, and $VX_NET.3/24 (a VTEP that is not one of
#   the port's remotes); MTU 1550, a 1500-byte inner frame + 50.
# - Host B's "VM" is its kernel VXLAN device vx100 itself (VNI 100, 10.77.0.9/24), with
#   vswitchd's VTEP as its flood destination; it learns our VMs' MACs from what it receives, as
#   Linux does by default.
# - vxlan_config FILE WORKERS [daemon lines...]: two VM ports (rtap) and the VXLAN port $VX_PORT
#   on switch sw0.

T_DRIVER=rtap
VX_NET=10.98.$(( 0x$T_ID % 250 ))
VX_HOSTB="${T_PREFIX}-hostb"
VX_UL0="${T_PREFIX}u0"
VX_UL1="${T_PREFIX}u1"
VX_PORT="${T_PREFIX}x"
VX_HOSTB_MAC=02:00:00:00:b0:09

vxlan_hostb() {
  T_NETNS+=("$VX_HOSTB")
  ip netns add "$VX_HOSTB"
  ip link add "$VX_UL0" mtu 1550 type veth peer name "$VX_UL1" mtu 1550
  ip link set "$VX_UL1" netns "$VX_HOSTB"
  ip addr add "$VX_NET.1/24" dev "$VX_UL0"
  ip link set "$VX_UL0" up
  ip -n "$VX_HOSTB" link set lo up
  ip -n "$VX_HOSTB" addr add "$VX_NET.2/24" dev "$VX_UL1"
  ip -n "$VX_HOSTB" addr add "$VX_NET.3/24" dev "$VX_UL1"
  ip -n "$VX_HOSTB" link set "$VX_UL1" up
  ip -n "$VX_HOSTB" link add vx100 type vxlan id 100 local "$VX_NET.2" dstport 4789
  ip -n "$VX_HOSTB" link set vx100 address "$VX_HOSTB_MAC"
  ip -n "$VX_HOSTB" addr add 10.77.0.9/24 dev vx100
  ip -n "$VX_HOSTB" addr add fd77::9/64 dev vx100 nodad
  ip -n "$VX_HOSTB" link set vx100 up
  # Host B's TCP must finish its checksums itself: with the offload on, the kernel leaves them
  # partial through the vxlan device and the veth (no NIC on the way finishes them), and our
  # socket would receive them unfinished. A real NIC under the underlay finishes them.
  ip netns exec "$VX_HOSTB" ethtool -K vx100 tx off >/dev/null
  ip netns exec "$VX_HOSTB" bridge fdb append 00:00:00:00:00:00 dev vx100 dst "$VX_NET.1"
}

vxlan_config() {
  local file=$1 workers=$2
  shift 2
  config_daemon "$file" "$workers" "$@"
  config_switch "$file" sw0
  config_port "$file" 1
  config_port "$file" 2
  vxlan_port_config "\"$VX_NET.2\"" >>"$file"
}

# vxlan_port_config REMOTES: the [[switch.port]] table of $VX_PORT, REMOTES its quoted list.
vxlan_port_config() {
  printf '\n[[switch.port]]\nname = "%s"\n' "$VX_PORT"
  printf 'vxlan = { vni = 100, local = "%s", underlay = "%s", remotes = [%s] }\n' \
    "$VX_NET.1" "$VX_UL0" "$1"
}

# vxlan_fdb_vtep MAC: the remote VTEP `show fdb` gives for MAC on the tunnel port ("" if none).
vxlan_fdb_vtep() {
  ctl --json show fdb | json_rows mac port vtep | awk -v m="$1" -v p="$VX_PORT" '$1 == m && $2 == p { print $3 }'
}

# hostb_ping VM COUNT [SIZE]: VM pings host B's VM (10.77.0.9).
hostb_ping() { ip netns exec "$(vm_ns "$1")" ping -q -c "$2" -i 0.05 -W 2 ${3:+-s $3} 10.77.0.9; }
