#!/usr/bin/env bash
# Per-port policy (issue 24, anti-spoofing and isolation). Four VMs on sw0:
#   vm1: allowed_macs = its MAC, allowed_ips = its two addresses, block_dhcp_server;
#   vm2: no policy (the "uplink": the receiver of every frame below);
#   vm3, vm4: isolated.
#  1. vm1's own traffic passes: ping over IPv4 and IPv6 (ND and DAD through the policy).
#  2. Each spoof from vm1 (source MAC, IPv4 source, gratuitous ARP for another address, an
#     unsolicited NA for another address, a DHCP offer) reaches vm2 zero times out of N while the
#     same frame with vm1's own identity reaches it N times; each is counted with its reason in
#     the metrics and in `show ports`.
#  3. vm3 and vm4 cannot reach each other (ping, broadcast, known unicast, the last counted as
#     "isolated"); both reach vm2 and vm2 reaches both.
#  4. A reload that changes only policy keys re-tags vm1 and vm4 in place: same ifindex, no port
#     re-created, a witness ping vm2 -> vm1 loses nothing; the new policy is in force.
#  5. `vswitchctl port add --allowed-ip --isolated`: shown, isolated from vm3, source checked.
source "$(dirname "$0")/../lib/harness.sh"

N=20
cfg=$T_DIR/vswitch.toml
mac1=02:77:00:00:00:01
frames_py=$(dirname "$0")/policy_frames.py
policy1='allowed_ips = ["10.77.0.1", "fd77::1"]'
write_policy_config() {  # write_policy_config VM1_ALLOWED_IPS_LINE VM4_ISOLATED(true|false)
  config_daemon "$cfg" 1
  config_switch "$cfg" sw0
  config_port "$cfg" 1 "mac = \"$mac1\"" "allowed_macs = [\"$mac1\"]" "$1" 'block_dhcp_server = true'
  config_port "$cfg" 2
  config_port "$cfg" 3 'isolated = true'
  config_port "$cfg" 4 "isolated = $2"
}
write_policy_config "$policy1" true
start_daemon "$cfg"
wait_metric vswitch_worker_up 'worker="0"' -eq 1 10
p1=$(vm_if 1)

drops() { metric vswitch_port_drops_total "port=\"$(vm_if "$1")\",reason=\"$2\""; }
# received_by VM MARKER KIND SRC_MAC ARG: sends N frames from vm1, prints how many VM received.
received_by() {
  local vm=$1 marker=$2 log=$T_DIR/recv-$2.log pid
  ip netns exec "$(vm_ns "$vm")" python3 "$frames_py" recv "$(vm_if "$vm")" "$marker" 1.5 >"$log" &
  pid=$!
  T_PIDS+=("$pid")
  for _ in $(seq 100); do grep -q ready "$log" && break; sleep 0.02; done
  ip netns exec "$(vm_ns 1)" python3 "$frames_py" send "$p1" "$3" "$4" "$N" "$marker" "$5"
  wait "$pid" || fail "receiver $marker failed: $(cat "$log")"
  tail -n 1 "$log"
}

# 1. The VM's own traffic, IPv4 and IPv6 (after DAD: its NS from :: went through the policy).
ping_ok 1 2 3 || fail "vm1 -> vm2 IPv4 ping failed"
for _ in $(seq 60); do
  ip netns exec "$(vm_ns 1)" ip -6 addr show dev "$p1" tentative | grep -q inet6 || break
  sleep 0.1
done
ip netns exec "$(vm_ns 1)" ping -6 -q -c 3 -i 0.05 -W 2 fd77::2 >"$T_DIR/ping6.log" 2>&1 ||
  fail "vm1 -> vm2 IPv6 ping failed: $(cat "$T_DIR/ping6.log")"
for r in spoofed_mac spoofed_ip spoofed_arp spoofed_nd dhcp_server; do
  check "vm1 $r drops after its own traffic" "$(drops 1 "$r")" -eq 0
done
pass "vm1's own IPv4 and IPv6 traffic passes its policy"

# 2. Each spoof: the control frame with vm1's identity arrives N times, the spoof never.
spoof() {  # spoof REASON KIND GOOD_SRC_MAC GOOD_ARG BAD_SRC_MAC BAD_ARG
  check "$2 with vm1's identity, received by vm2" "$(received_by 2 "ok-$1" "$2" "$3" "$4")" -eq "$N"
  check "$2 spoofed, received by vm2" "$(received_by 2 "no-$1" "$2" "$5" "$6")" -eq 0
  wait_metric vswitch_port_drops_total "port=\"$p1\",reason=\"$1\"" -eq "$N" 5
}
spoof spoofed_mac udp4 "$mac1" 10.77.0.1 02:66:00:00:00:66 10.77.0.1
spoof spoofed_ip udp4 "$mac1" 10.77.0.1 "$mac1" 10.77.0.9
spoof spoofed_arp arp "$mac1" 10.77.0.1 "$mac1" 10.77.0.2
spoof spoofed_nd na "$mac1" fd77::1 "$mac1" fd77::2
check "DHCP offer from vm1, received by vm2" "$(received_by 2 dhcp dhcp_offer "$mac1" 10.77.0.1)" -eq 0
wait_metric vswitch_port_drops_total "port=\"$p1\",reason=\"dhcp_server\"" -eq "$N" 5
j=$(ctl --json show ports)
for r in spoofed_mac spoofed_ip spoofed_arp spoofed_nd dhcp_server; do
  got=$(echo "$j" | json_get "[p['switch_drops_by_reason'].get('$r', 0) for p in j['ports'] if p['name'] == '$p1'][0]")
  check "show ports: vm1 $r" "$got" -eq "$N"
done
check "show ports: vm1 allowed_ips" \
  "$(echo "$j" | json_get "','.join([p for p in j['ports'] if p['name'] == '$p1'][0]['security']['allowed_ips'])")" \
  = "10.77.0.1/32,fd77::1/128"
ctl show ports | grep -q "^$p1: allowed_macs $mac1; allowed_ips 10.77.0.1/32,fd77::1/128; block_dhcp_server; drops .*spoofed_arp=$N" ||
  fail "show ports has no policy line for vm1: $(ctl show ports)"
check "vm2 drops (no policy)" "$(metric vswitch_port_drops_total "port=\"$(vm_if 2)\"")" -eq 0
pass "spoofed MAC, IPv4 source, ARP, NA and a DHCP offer dropped and counted; the VM's own pass"

# 3. Isolation. vm4 talks to vm2 first, so its MAC is known: vm3 -> vm4 is then known unicast.
ping_ok 3 2 3 || fail "isolated vm3 cannot reach vm2"
ping_ok 4 2 3 || fail "isolated vm4 cannot reach vm2"
ping_ok 2 3 2 || fail "vm2 cannot reach isolated vm3"
ping_ok 2 4 2 || fail "vm2 cannot reach isolated vm4"
ping_ok 3 4 2 && fail "isolated vm3 reaches isolated vm4"
mac4=$(vm_mac 4)
recv_start 4 "$(vm_if 4)" 1 1500 iso-uni; r4=$RECV_PID
iso_before=$(drops 3 isolated)
ip netns exec "$(vm_ns 3)" "$VSWITCH_TEST_TOOLS/vs-rawframe" send "$(vm_if 3)" "$N" --tag iso-uni \
  --dst "$mac4" >/dev/null || fail "send failed"
wait "$r4" && fail "vm4 received known unicast from isolated vm3"
check "unicast vm3 -> vm4 received" "$(recv_count 4 iso-uni)" -eq 0
wait_metric vswitch_port_drops_total "port=\"$(vm_if 3)\",reason=\"isolated\"" -eq $((iso_before + N)) 5
recv_start 2 "$(vm_if 2)" "$N" 3000 iso-bc; r2=$RECV_PID
recv_start 4 "$(vm_if 4)" 1 1500 iso-bc; r4=$RECV_PID
ip netns exec "$(vm_ns 3)" "$VSWITCH_TEST_TOOLS/vs-rawframe" send "$(vm_if 3)" "$N" --tag iso-bc >/dev/null ||
  fail "send failed"
wait "$r2" || fail "vm2 got $(recv_count 2 iso-bc)/$N broadcasts from vm3"
wait "$r4" && fail "vm4 received broadcasts from isolated vm3"
check "broadcast vm3 -> vm4 received" "$(recv_count 4 iso-bc)" -eq 0
pass "isolated ports reach the uplink and it reaches them, never each other"

# 4. A policy-only reload: vm1 may now use 10.77.0.9, vm4 is no longer isolated.
ifindex1=$(ip netns exec "$(vm_ns 1)" cat "/sys/class/net/$p1/ifindex")
ifindex4=$(ip netns exec "$(vm_ns 4)" cat "/sys/class/net/$(vm_if 4)/ifindex")
witness_start 2 1 0.02
sleep 0.5
write_policy_config 'allowed_ips = ["10.77.0.1", "10.77.0.9", "fd77::1"]' false
j=$(ctl --json reload) || fail "reload refused: $j"
check "reload: retagged" "$(echo "$j" | json_get '",".join(sorted(j["retagged"]))')" = "$p1,$(vm_if 4)"
for k in added removed recreated; do
  check "reload: ports $k" "$(echo "$j" | json_get "len(j['$k'])")" -eq 0
done
sleep 0.5
read -r sent got _ < <(witness_stop)
check "witness replies during the reload (of $sent)" "$got" -eq "$sent"
check "witness requests" "$sent" -ge 20
check "vm1 ifindex after the reload" "$(ip netns exec "$(vm_ns 1)" cat "/sys/class/net/$p1/ifindex")" -eq "$ifindex1"
check "vm4 ifindex after the reload" "$(ip netns exec "$(vm_ns 4)" cat "/sys/class/net/$(vm_if 4)/ifindex")" -eq "$ifindex4"
check "10.77.0.9 from vm1 after the reload" "$(received_by 2 new-ip udp4 "$mac1" 10.77.0.9)" -eq "$N"
ping_ok 3 4 3 || fail "vm3 cannot reach vm4 once vm4 is no longer isolated"
pass "a policy-only reload applies in place: same TAPs, no lost ping, the new policy in force"

# 5. vswitchctl port add with a policy: vm5, isolated, may send only as 10.77.0.5.
j=$(ctl --json port add sw0 "$(vm_if 5)" --driver "${T_DRIVER:-tap}" --netns "$(vm_ns 5)" \
  --address 10.77.0.5/24 --allowed-ip 10.77.0.5 --isolated) || fail "port add refused: $j"
T_NETNS+=("$(vm_ns 5)")
sec=$(ctl --json show ports |
  json_get "json.dumps([p['security'] for p in j['ports'] if p['name'] == '$(vm_if 5)'][0], sort_keys=True)")
check "vm5 security (show ports)" "$sec" = '{"allowed_ips": ["10.77.0.5/32"], "allowed_macs": [], "block_dhcp_server": false, "block_ra": false, "isolated": true}'
ping_ok 5 2 3 || fail "vm5 (port add, isolated) cannot reach vm2"
ping_ok 5 3 2 && fail "vm5 (port add, isolated) reaches isolated vm3"
ip netns exec "$(vm_ns 5)" ip addr add 10.77.0.55/24 dev "$(vm_if 5)"
ip netns exec "$(vm_ns 5)" ping -q -c 2 -i 0.05 -W 1 -I 10.77.0.55 10.77.0.2 >/dev/null 2>&1 &&
  fail "vm5 reached vm2 from an address it may not use"
# Its ICMP (spoofed_ip), or its ARP if vm2's entry had gone stale (spoofed_arp).
check "vm5 spoofed_ip + spoofed_arp drops" "$(($(drops 5 spoofed_ip) + $(drops 5 spoofed_arp)))" -ge 2
pass "port add --allowed-ip --isolated: shown, isolated, and its source checked"
stop_daemon
