#!/usr/bin/env bash
# The VM side of ports, without a guest (tests/vm/switch_guests.sh sends frames through them):
# vswitchd makes a passthru macvtap on one port's netdev and reports its /dev/tapN, pairs another
# port with a VM's own TAP by tc mirred redirects in both directions, leaves a container port in
# its namespace, and removes each VM side with its port (port del, reload, stop). A VM TAP that
# existed before the port is left in place, without our filters.
source "$(dirname "$0")/../lib/harness.sh"

cfg=$T_DIR/vswitch.toml
mvt=${T_PREFIX}m1      # vm1's macvtap
vtap=${T_PREFIX}t2     # vm2's own TAP (made by vswitchd: it does not exist yet)
vtap4=${T_PREFIX}t4    # vm4's own TAP, made before the port, as libvirt would
T_MBUFS=75000
vm_port() {  # vm_port N VM_LINE: a port left in our namespace, with a VM side
  printf '\n[[switch.port]]\nname = "%s"\ndriver = "%s"\n%s\n' "$(vm_if "$1")" \
    "${T_DRIVER:-tap}" "$2" >>"$cfg"
}
config_daemon "$cfg" 1
config_switch "$cfg" sw0
vm_port 1 "vm.macvtap = \"$mvt\""
vm_port 2 "vm.tap = \"$vtap\""
config_port "$cfg" 3
start_daemon "$cfg"

# --- the macvtap: passthru, on vm1's netdev, and its character device
ip -d link show "$mvt" >"$T_DIR/mvt.txt" || fail "no macvtap $mvt"
grep -q "macvtap mode passthru" "$T_DIR/mvt.txt" || fail "$mvt is not passthru: $(cat "$T_DIR/mvt.txt")"
grep -q "$mvt@$(vm_if 1):" "$T_DIR/mvt.txt" || fail "$mvt is not on $(vm_if 1)"
ifindex=$(cat "/sys/class/net/$mvt/ifindex")
dev=/dev/tap$ifindex
[ -c "$dev" ] || fail "$dev is not a character device"
check "$dev's device number" "$(stat -c '%t:%T' "$dev" | tr a-f A-F)" = \
  "$(awk -F: '{printf "%X:%X", $1, $2}' "/sys/class/net/$mvt/macvtap/tap$ifindex/dev")"
check "$mvt is up (IFF_UP)" "$(( $(cat "/sys/class/net/$mvt/flags") & 1 ))" -eq 1

# --- the paired TAP: made by vswitchd, redirects both ways
[ -d "/sys/class/net/$vtap" ] || fail "vswitchd did not make $vtap"
# IFF_TAP | IFF_NO_PI | IFF_PERSIST: QEMU or libvirt can open it later by name.
check "$vtap is a persistent TAP" "$(cat "/sys/class/net/$vtap/tun_flags")" = "0x1802"
redirects() {  # redirects FROM TO: 1 if FROM's ingress redirects to TO
  tc filter show dev "$1" ingress | grep -c "Egress Redirect to device $2" || true
}
check "$(vm_if 2) -> $vtap" "$(redirects "$(vm_if 2)" "$vtap")" -eq 1
check "$vtap -> $(vm_if 2)" "$(redirects "$vtap" "$(vm_if 2)")" -eq 1

# --- the host's IPv6 stays off the VMs' wires (its RS/MLD frames would reach switch and guest)
for ifc in "$(vm_if 1)" "$mvt" "$(vm_if 2)" "$vtap"; do
  check "IPv6 off on $ifc" "$(cat "/proc/sys/net/ipv6/conf/$ifc/disable_ipv6")" -eq 1
done

# --- what vswitchctl reports
j=$(ctl --json show ports)
vm_side() {  # vm_side N: "mode netdev device" of port N's vm object ("-" if empty), or None
  echo "$j" | json_get "[(' '.join(p['vm'][k] or '-' for k in ('mode', 'netdev', 'device'))
    if p['vm'] else None) for p in j['ports'] if p['name'] == '$(vm_if "$1")'][0]"
}
check "vm1's vm side" "$(vm_side 1)" = "macvtap $mvt $dev"
check "vm2's vm side" "$(vm_side 2)" = "tap $vtap -"
check "the container port has none" "$(vm_side 3)" = "None"
ctl show ports | grep -q "$dev" || fail "show ports does not print $dev: $(ctl show ports)"

# --- a port added at run time whose VM TAP exists already (libvirt made it)
ip tuntap add dev "$vtap4" mode tap
ctl port add sw0 "$(vm_if 4)" --driver "${T_DRIVER:-tap}" --vm-tap "$vtap4" >/dev/null ||
  fail "port add with --vm-tap refused"
check "$(vm_if 4) -> $vtap4" "$(redirects "$(vm_if 4)" "$vtap4")" -eq 1
check "$vtap4 -> $(vm_if 4)" "$(redirects "$vtap4" "$(vm_if 4)")" -eq 1
ctl port del "$(vm_if 4)" >/dev/null || fail "port del refused"
[ -d "/sys/class/net/$vtap4" ] || fail "port del removed $vtap4, which vswitchd did not make"
check "filters left on $vtap4" "$(tc filter show dev "$vtap4" ingress | grep -c mirred || true)" -eq 0

# --- a name that is taken by a netdev that is not ours: refused with the fix, nothing left
ip tuntap add dev "${T_PREFIX}m5" mode tap
if out=$(ctl port add sw0 "$(vm_if 5)" --driver "${T_DRIVER:-tap}" --vm-macvtap "${T_PREFIX}m5" 2>&1); then
  fail "a macvtap name taken by a TAP was accepted"
fi
echo "$out" | grep -q "is not a macvtap on $(vm_if 5)" || fail "unclear refusal: $out"
# The TAP goes with its last fd. DPDK 22.11's net_tap never closes a secondary's queue fds
# (tap_dev_close returns early there), so with driver "tap" it lives until the worker exits.
if [ "${T_DRIVER:-tap}" = rtap ]; then
  wait_gone 5 "the refused port's netdev $(vm_if 5)" test -d "/sys/class/net/$(vm_if 5)"
fi
log "refused as expected: $out"

# --- a reload that removes vm1 removes its macvtap; one that re-adds it makes a new one
cp "$cfg" "$T_DIR/full.toml"
config_daemon "$cfg" 1
config_switch "$cfg" sw0
vm_port 2 "vm.tap = \"$vtap\""
config_port "$cfg" 3
ctl reload >/dev/null || fail "reload without vm1 refused"
wait_gone 5 "$mvt after vm1 was removed" test -d "/sys/class/net/$mvt"
wait_gone 5 "$dev after vm1 was removed" test -e "$dev"
cp "$T_DIR/full.toml" "$cfg"
ctl reload >/dev/null || fail "reload with vm1 refused"
[ -d "/sys/class/net/$mvt" ] || fail "$mvt not made again"

# Hot-added ports must not crash the worker (net_tap: ethdev's fast-path table of a secondary).
check "worker restarts" "$(ctl --json show workers | json_get 'j["workers"][0]["restarts"]')" -eq 0

# --- stop: every VM side vswitchd made is gone
stop_daemon || fail "vswitchd exited non-zero"
for ifc in "$mvt" "$vtap"; do wait_gone 5 "$ifc after stop" test -d "/sys/class/net/$ifc"; done
[ -d "/sys/class/net/$vtap4" ] || fail "$vtap4 (not ours) was removed at stop"
pass "macvtap and tc-paired VM sides made, reported and removed with their ports"
