#!/usr/bin/env bash
# Port mirroring (SPAN, issue #23 part 2). Three VMs and an output port "span" (vm4's netdev) with
# tcpdump on it. The namespaces carry no IP traffic (no addresses, IPv6 off), so every frame on a
# wire is one of ours (vs-rawframe: a tag and a sequence number per frame).
#  1. mirror m1 (main file): source vm1, both directions. Numbered frames vm1 -> vm2, then
#     vm2 -> vm1: the output's capture equals, frame for frame and byte for byte, what tcpdump
#     saw on vm1's netdev (both directions), and nothing else; the metrics count them and their
#     bytes.
#  2. frames sent from the output port are dropped and counted (reason mirror_output), and
#     reach no VM.
#  3. `mirror add` at run time, a VLAN source (VLAN 1, in): vm2 <-> vm3 frames all mirrored once
#     (the output is shared with m1: vm1's frames are not there); recorded in the drop-in.
#  4. reload with no change keeps both; a reload that changes m1 applies only that: no port is
#     added, removed or re-created (the TAPs keep their ifindex), and the new m1 works.
#  5. `mirror del`: the VLAN mirror's frames are no longer copied.
source "$(dirname "$0")/../lib/harness.sh"

N=20
cfg=$T_DIR/vswitch.toml
dropin=$T_DIR/vswitch.d/zz-vswitchctl.toml
span=$(vm_if 4)
# The namespaces exist before vswitchd moves the netdevs in, with IPv6 off for new netdevs.
for n in 1 2 3 4; do
  ip netns add "$(vm_ns "$n")"
  ip netns exec "$(vm_ns "$n")" sysctl -qw net.ipv6.conf.default.disable_ipv6=1 \
    net.ipv6.conf.all.disable_ipv6=1
done
config_daemon "$cfg" 1
config_switch "$cfg" sw0
for n in 1 2 3 4; do config_port "$cfg" "$n" 'addresses = []'; done
mirror_m1() {
  printf '\n[[switch.mirror]]\nname = "m1"\nsource_ports = ["%s"]\ndirection = "%s"\noutput = "%s"\n' \
    "$(vm_if 1)" "$1" "$span" >>"$cfg"
}
mirror_m1 both
start_daemon "$cfg"
wait_metric vswitch_worker_up '' -eq 1 15

send() { ip netns exec "$(vm_ns "$1")" "$VSWITCH_TEST_TOOLS/vs-rawframe" send "$(vm_if "$1")" "$N" \
  --size 100 --dst "$(vm_mac "$2")" --tag "$3" >/dev/null; }
# capture_start NAME VM: tcpdump on VM's netdev (both directions), into $T_DIR/NAME.pcap.
capture_start() {
  local log=$T_DIR/$1.log
  ip netns exec "$(vm_ns "$2")" tcpdump -i "$(vm_if "$2")" -Q inout --immediate-mode -U -n -w "$T_DIR/$1.pcap" \
    >"$log" 2>&1 &
  T_PIDS+=($!)
  eval "CAP_$1=$!"
  for _ in $(seq 100); do grep -q "listening on" "$log" && return 0; sleep 0.02; done
  fail "tcpdump $1 did not start"
}
capture_stop() {
  local pid
  sleep 0.3
  eval "pid=\$CAP_$1"
  kill -INT "$pid"
  wait "$pid" 2>/dev/null || true
}
# frames NAME: one line per captured frame, its bytes in hex.
frames() { tcpdump -r "$T_DIR/$1.pcap" -xx -n 2>/dev/null | python3 -c '
import sys
frames, cur = [], None
for line in sys.stdin:
    if not line.startswith("\t"):
        if cur is not None: frames.append(cur)
        cur = ""
    else:
        cur += "".join(line.split(":", 1)[1].split())
if cur is not None: frames.append(cur)
print("\n".join(frames))'; }
count() { frames "$1" | grep -c . || true; }
bytes() { frames "$1" | awk '{ n += length($0) / 2 } END { print n + 0 }'; }

# 1. Source port, both directions.
capture_start src 1
capture_start out1 4
send 1 2 m1-in___
send 2 1 m1-out__
capture_stop src
capture_stop out1
check "frames on vm1's wire" "$(count src)" -eq $((2 * N))
check "frames on the output" "$(count out1)" -eq $((2 * N))
[ "$(frames out1)" = "$(frames src)" ] ||
  fail "the output's frames differ from vm1's: $(diff <(frames src) <(frames out1) | head -5)"
log "ok: the output's $((2 * N)) frames equal vm1's, byte for byte, in order"
wait_metric vswitch_mirror_packets_total 'mirror="m1"' -eq $((2 * N)) 5
check "mirrored bytes (metric)" "$(metric vswitch_mirror_bytes_total 'mirror="m1"')" -eq "$(bytes src)"
check "mirror drops" "$(metric vswitch_mirror_drops_total 'mirror="m1"')" -eq 0
rows=$(ctl --json show mirrors | json_get 'len(j["mirrors"])')
check "show mirrors rows" "$rows" -eq 1
check "show mirrors packets" "$(ctl --json show mirrors | json_get 'j["mirrors"][0]["packets"]')" -eq $((2 * N))
ctl show mirrors | grep -q "^m1 .*both" || fail "show mirrors: $(ctl show mirrors)"
ctl --json show switches | json_get 'j["switches"][0]["mirrors"]' | grep -q m1 ||
  fail "show switches does not list m1"

# 2. The output port sends nothing anywhere: dropped and counted.
rx2=$(kernel_counter 2 rx_packets)
rx3=$(kernel_counter 3 rx_packets)
ip netns exec "$(vm_ns 4)" "$VSWITCH_TEST_TOOLS/vs-rawframe" send "$span" "$N" --size 100 \
  --dst ff:ff:ff:ff:ff:ff >/dev/null
wait_metric vswitch_port_drops_total "port=\"$span\",reason=\"mirror_output\"" -eq "$N" 5
sleep 0.3
check "vm2 got nothing from the output" "$(kernel_counter 2 rx_packets)" -eq "$rx2"
check "vm3 got nothing from the output" "$(kernel_counter 3 rx_packets)" -eq "$rx3"

# 3. A VLAN source added at run time, sharing the output.
j=$(ctl --json mirror add vl --switch sw0 --source-vlans 1 --direction in --output "$span") ||
  fail "mirror add refused: $j"
echo "$j" | json_get 'j["summary"]' | grep -qF "recorded in $dropin" || fail "not recorded: $j"
grep -q 'name = "vl"' "$dropin" || fail "the drop-in lacks the mirror: $(cat "$dropin")"
j=$(ctl --json mirror add bad --switch sw0 --source-ports "$span" --output "$(vm_if 3)") &&
  fail "a looping mirror was accepted: $j"
echo "$j" | grep -q "also the source of a mirror" || fail "loop refusal: $j"
sleep 0.5  # the workers adopt the new table at their next housekeeping tick
capture_start out2 4
send 2 3 vl-a____
send 3 2 vl-b____
capture_stop out2
check "VLAN mirror: frames on the output" "$(count out2)" -eq $((2 * N))
check "VLAN mirror: none of vm1's" "$(frames out2 | grep -c "$(vm_mac 1 | tr -d :)" || true)" -eq 0
wait_metric vswitch_mirror_packets_total 'mirror="vl"' -eq $((2 * N)) 5

# 4. Reloads: the mirrors survive; a change applies only the difference.
ifindexes() { for n in 1 2 3 4; do ip netns exec "$(vm_ns "$n")" cat "/sys/class/net/$(vm_if "$n")/ifindex"; done | tr '\n' ,; }
idx0=$(ifindexes)
j=$(ctl --json reload) || fail "reload refused: $j"
echo "$j" | json_get 'j["summary"]' | grep -q "^no change" || fail "reload changed something: $j"
check "mirrors after reload" "$(ctl --json show mirrors | json_get 'len(j["mirrors"])')" -eq 2
sed -i 's/^direction = "both"/direction = "in"/' "$cfg"
j=$(ctl --json reload) || fail "reload refused: $j"
echo "$j" | json_get 'j["summary"]' | grep -q "1 mirror changed (m1)" || fail "reload: $j"
for k in added removed recreated retagged; do
  check "reload: ports $k" "$(echo "$j" | json_get "len(j['$k'])")" -eq 0
done
check "TAP ifindexes (no port re-created)" "$(ifindexes)" = "$idx0"
ctl mirror del vl >/dev/null || fail "mirror del refused"
sleep 0.5
capture_start out3 4
send 1 2 m1-in2__
send 2 1 m1-out2_
capture_stop out3
check "m1 (in only) after the reload" "$(count out3)" -eq "$N"
frames out3 | grep -q "^$(vm_mac 1 | tr -d :)$(vm_mac 2 | tr -d :)" &&
  fail "a frame to vm1 was mirrored by an 'in' mirror"

# 5. mirror del is recorded: the drop-in no longer has vl, and a restart keeps m1 only.
grep -q 'name = "vl"' "$dropin" 2>/dev/null && fail "vl still in the drop-in"
check "mirrors after del" "$(ctl --json show mirrors | json_get '",".join(m["name"] for m in j["mirrors"])')" = m1
pass "mirror: frame-for-frame copies both ways, VLAN source, output isolated, add/del, reload diff"
