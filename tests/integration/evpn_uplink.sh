#!/usr/bin/env bash
# Beyond one host, step one (issue #26): an uplink port through the kernel. Two "hosts" (network
# namespaces, tests/lib/evpn.sh) joined by a veth underlay, each with a kernel bridge br100 and a
# VXLAN device (VNI 100) that FRR (zebra + bgpd, iBGP EVPN) manages. Each host runs its own
# vswitchd (own file prefix, socket, metrics port) with two VMs and an uplink port,
# `uplink = { bridge = "br100" }`, whose netdev joins br100 in the host's namespace.
# Checked:
#  1. every VM reaches every other VM, on its host and across (and a 1400-byte ping with DF set
#     crosses: the underlay carries the VXLAN overhead);
#  2. each host's FRR has a type-2 route for each of the 4 VM MACs and a type-3 route per VTEP;
#     `vswitchctl show ports` shows the uplink;
#  3. a VM moved from host A to host B (port del there, port add here, same MAC, then the
#     announcement QEMU sends after a migration) is reached from host A again within 5 s, and
#     EVPN's MAC mobility sequence number of its MAC rises;
#  4. FRR restarted on host B: traffic across resumes once the session is back;
#  5. a misconfigured uplink (no such bridge) is refused at port add with the fix.
source "$(dirname "$0")/../lib/harness.sh"
source "$(dirname "$0")/../lib/evpn.sh"

command -v vtysh >/dev/null && [ -x /usr/lib/frr/bgpd ] ||
  fail "FRR is not installed (scripts/setup.sh installs the frr package)"

B_PREFIX="${T_PREFIX}b"
B_METRICS=$((T_METRICS_PORT + 1))
T_MORE_PREFIXES+=("$B_PREFIX")

ctl_b() { "$VSWITCH_BIN_DIR/vswitchctl" --socket "$T_DIR/run-b/vswitchd.sock" "$@"; }
# uplink_port FILE HOST: the host's uplink port, in its namespace, in br100.
uplink_port() {
  {
    echo
    echo "[[switch.port]]"
    echo "name = \"${T_PREFIX}p$2\""
    echo "driver = \"${T_DRIVER:-tap}\""
    echo "netns = \"$(host_ns "$2")\""
    echo "addresses = []"
    echo "uplink = { bridge = \"br100\" }"
  } >>"$1"
}

evpn_underlay
for h in A B; do evpn_bridge $h; frr_start $h; done

# Host A: VMs 1 and 2; host B: VMs 3 and 4.
config_daemon "$T_DIR/a.toml" 1
config_switch "$T_DIR/a.toml" sw0
config_port "$T_DIR/a.toml" 1
config_port "$T_DIR/a.toml" 2
uplink_port "$T_DIR/a.toml" A
{
  echo "[daemon]"
  echo "file_prefix = \"${B_PREFIX}\""
  echo "workers = 1"
  echo "metrics_listen = \"127.0.0.1:${B_METRICS}\""
  echo "runtime_dir = \"$T_DIR/run-b\""
  echo "mbufs_per_worker = ${T_MBUFS:-4095}"
  echo "restart_backoff_ms = 10"
} >"$T_DIR/b.toml"
config_switch "$T_DIR/b.toml" sw0
config_port "$T_DIR/b.toml" 3
config_port "$T_DIR/b.toml" 4
uplink_port "$T_DIR/b.toml" B
start_daemon "$T_DIR/a.toml"
"$VSWITCH_BIN_DIR/vswitchd" --config "$T_DIR/b.toml" >"$T_DIR/b.log" 2>&1 &
B_PID=$!
T_PIDS+=("$B_PID")
for _ in $(seq 150); do grep -q "vswitchd: ready" "$T_DIR/b.log" && break; sleep 0.1; done
grep -q "vswitchd: ready" "$T_DIR/b.log" || fail "vswitchd B did not start: $(tail -5 "$T_DIR/b.log")"
for h in A B; do
  check "uplink ${T_PREFIX}p$h in br100 of host $h" \
    "$(ip -n "$(host_ns $h)" -o link show master br100 | grep -c "${T_PREFIX}p$h")" -eq 1
done
ctl show ports | grep -q "${T_PREFIX}pA .*uplink br100" || fail "show ports: $(ctl show ports)"
evpn_wait_session A 30 || fail "no EVPN session: $(vty A 'show bgp l2vpn evpn summary')"

# 1. Every VM reaches every other VM.
for pair in "1 2" "3 4" "1 3" "1 4" "2 3" "2 4" "3 1" "4 2"; do
  ping_ok $pair 5 || fail "ping vm${pair% *} -> vm${pair#* } failed"
done
ip netns exec "$(vm_ns 1)" ping -c 2 -W 2 -M do -s 1400 -I "$(vm_if 1)" 10.77.0.3 >/dev/null ||
  fail "a 1400-byte ping with DF from vm1 to vm3 (across) failed"
log "every VM reaches every other VM, on its host and across"

# 2. The routes: a type-2 per VM MAC, a type-3 per VTEP, on both hosts.
declare -A MAC
for n in 1 2 3 4; do MAC[$n]=$(vm_mac "$n"); done
for h in A B; do evpn_check_routes $h; done

# 3. vm2 moves from host A to host B.
seq0=$(evpn_mm_seq A "${MAC[2]}")
ctl port del "$(vm_if 2)" >/dev/null || fail "port del vm2 on host A failed"
T_NETNS+=("$(vm_ns 2)")
ctl_b port add sw0 "$(vm_if 2)" --driver "${T_DRIVER:-tap}" --netns "$(vm_ns 2)" \
  --address 10.77.0.2/24 --mac "${MAC[2]}" >/dev/null || fail "port add vm2 on host B failed"
evpn_vm2_back 2
evpn_mm_seq_rose A "${MAC[2]}" "$seq0"

# 4. FRR restarted on host B.
evpn_restart_frr_b

# 5. An uplink to a bridge that is not there: refused, with the fix.
cp "$T_DIR/a.toml" "$T_DIR/a2.toml"
{
  echo
  echo "[[switch.port]]"
  echo "name = \"${T_PREFIX}pX\""
  echo "driver = \"${T_DRIVER:-tap}\""
  echo "netns = \"$(host_ns A)\""
  echo "addresses = []"
  echo "uplink = { bridge = \"nobr0\" }"
} >>"$T_DIR/a2.toml"
cp "$T_DIR/a2.toml" "$T_DIR/a.toml"
j=$(ctl --json reload 2>&1) && fail "a reload with an uplink to a missing bridge was accepted: $j"
grep -q "no bridge nobr0 in namespace $(host_ns A)" <<<"$j" || fail "the refusal does not say why: $j"
grep -q "type bridge" <<<"$j" || fail "the refusal does not give the fix: $j"
ping_ok 1 3 3 || fail "vm1 -> vm3 after the refused reload"
log "an uplink to a missing bridge is refused: $(grep -o 'no bridge[^"]*' <<<"$j" | head -n 1)"

stop_daemon
pass "evpn_uplink: 4 VMs on 2 hosts reach each other through kernel VXLAN + FRR EVPN; routes, a VM move, an FRR restart, a bad uplink"
