#!/usr/bin/env bash
# Per-port policy (issue #24), storm control. Three VMs on one switch; the namespaces carry no
# IP traffic of their own (no addresses, IPv6 off), so every frame on a wire is one of ours.
#  1. vm1 floods broadcast frames (vs-rawframe, default destination ff:ff:ff:ff:ff:ff) at 20x
#     the rate for FLOOD_S seconds against storm_control.broadcast = RATE: vm2 receives
#     RATE * seconds + the 100 ms burst, within 10 %; the rest is counted as storm_broadcast
#     drops, and every frame vm1 sent is either passed or counted.
#  2. unknown unicast from vm1 is cut the same way (storm_unknown_unicast), while vm3's
#     unlimited broadcast passes whole.
#  3. a reload that changes only the limit re-creates nothing (same ifindex, "re-tagged") and
#     the new rate applies; `show ports` shows it.
# Rate limits (inbound, outbound) are tested by policy_bandwidth.sh.
source "$(dirname "$0")/../lib/harness.sh"

RATE=2000
RATE2=500
FLOOD_S=3
FLOOD_PPS=40000  # 20x the rate: a flood, paced so that the sender does not starve the worker
cfg=$T_DIR/vswitch.toml
for n in 1 2 3; do
  ip netns add "$(vm_ns "$n")"
  ip netns exec "$(vm_ns "$n")" sysctl -qw net.ipv6.conf.default.disable_ipv6=1 \
    net.ipv6.conf.all.disable_ipv6=1
done
storm_config() {
  # A stall kill (seen under ASan with a 2-million-frame flood: a 587 ms gap) restarts the
  # worker with full buckets and a gap in forwarding: this test is about the rates.
  config_daemon "$cfg" 1 "worker_stall_ms = 5000"
  config_switch "$cfg" sw0
  config_port "$cfg" 1 'addresses = []' "storm_control = { broadcast = $1, unknown_unicast = $1 }"
  config_port "$cfg" 2 'addresses = []'
  config_port "$cfg" 3 'addresses = []'
}
storm_config "$RATE"
start_daemon "$cfg"
wait_metric vswitch_worker_up '' -eq 1 15

p1=$(vm_if 1)
drops() { metric vswitch_port_drops_total "port=\"$p1\",reason=\"$1\""; }
# flood VM SECONDS [vs-rawframe options]: sends from VM as fast as it can for SECONDS; prints
# the milliseconds it took.
flood() {
  local vm=$1 secs=$2 t0 pid
  shift 2
  t0=$(now_ms)
  ip netns exec "$(vm_ns "$vm")" "$VSWITCH_TEST_TOOLS/vs-rawframe" send "$(vm_if "$vm")" 100000000 \
    --size 64 --pps "$FLOOD_PPS" "$@" >/dev/null 2>&1 &
  pid=$!
  T_PIDS+=("$pid")
  sleep "$secs"
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  echo $(($(now_ms) - t0))
}
# storm_cut KIND RATE REASON [options]: floods from vm1 and checks vm2 got RATE/s (+ the burst).
storm_cut() {
  local what=$1 rate=$2 reason=$3 ms got want sent dropped
  shift 3
  # Once more if off by more than 10 %: a worker that the host does not run for a while (seen
  # under ASan: 437 ms of a 493 ms heartbeat gap waiting for a CPU) lets the kernel drop the
  # flood meanwhile, and the frames the limiter would have passed never reach it.
  storm_measure "$rate" "$reason" "$@"
  if [ "$got" -lt $((want * 90 / 100)) ] || [ "$got" -gt $((want * 110 / 100)) ]; then
    log "$what: $got frames, expected $want within 10 %: measuring once more"
    storm_measure "$rate" "$reason" "$@"
  fi
  log "$what: $got frames in $ms ms passed at $rate/s (expected $want: rate x time + 100 ms burst)"
  check "$what passed (>= -10 %)" "$got" -ge $(( want * 90 / 100 ))
  check "$what passed (<= +10 %)" "$got" -le $(( want * 110 / 100 ))
  check "$what: frames offered (more than 5x the rate)" "$sent" -gt $(( 5 * want ))
  check "$what: $reason drops = offered - passed" "$dropped" -eq $(( sent - got ))
}
# storm_measure RATE REASON [options]: one flood; sets ms, got, want, sent, dropped.
storm_measure() {
  local rate=$1 reason=$2 rx0 d0 in0
  shift 2
  rx0=$(kernel_counter 2 rx_packets)
  d0=$(drops "$reason")
  in0=$(metric vswitch_port_rx_packets_total "port=\"$p1\"")
  ms=$(flood 1 "$FLOOD_S" "$@")
  sleep 0.5  # the last frames through the switch, and a scrape after them
  got=$(( $(kernel_counter 2 rx_packets) - rx0 ))
  want=$(( rate * ms / 1000 + rate / 10 ))
  sent=$(( $(metric vswitch_port_rx_packets_total "port=\"$p1\"") - in0 ))
  dropped=$(( $(drops "$reason") - d0 ))
}

# 1. Broadcast flood.
storm_cut broadcast "$RATE" storm_broadcast
# 2. Unknown unicast (no MAC learned for it), then vm3's broadcast: not limited.
storm_cut "unknown unicast" "$RATE" storm_unknown_unicast --dst 02:00:00:00:99:99
rx0=$(kernel_counter 2 rx_packets)
ip netns exec "$(vm_ns 3)" "$VSWITCH_TEST_TOOLS/vs-rawframe" send "$(vm_if 3)" 500 --size 64 >/dev/null
sleep 0.5
check "vm3's unlimited broadcast frames at vm2" $(( $(kernel_counter 2 rx_packets) - rx0 )) -eq 500
check "vm3's storm drops" "$(metric vswitch_port_drops_total "port=\"$(vm_if 3)\",reason=\"storm_")" -eq 0

# 3. Reload with a new limit: applied in place.
sc=$(ctl --json show ports | json_get "[p for p in j['ports'] if p['name']=='$p1'][0]['storm_control']")
check "show ports: storm_control" "$sc" = "{'broadcast': $RATE, 'unknown_unicast': $RATE}"
ifindex() { ip netns exec "$(vm_ns 1)" cat "/sys/class/net/$p1/ifindex"; }
idx0=$(ifindex)
storm_config "$RATE2"
j=$(ctl --json reload) || fail "reload refused: $j"
echo "$j" | json_get 'j["summary"]' | grep -q "^1 port re-tagged ($p1)$" || fail "reload: $j"
check "vm1's ifindex after the reload (not re-created)" "$(ifindex)" -eq "$idx0"
ctl show ports | grep -q "storm b$RATE2/u$RATE2" || fail "show ports: $(ctl show ports)"
storm_cut "broadcast after the reload" "$RATE2" storm_broadcast

pass "policy_rate: storm control holds its rates, counts the drops, reloads in place"
