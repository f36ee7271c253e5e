#!/usr/bin/env bash
# Per-port policy (issue #24), rate limits (libvirt's <bandwidth>): iperf3 from vm4 to vm5
# through a limited port lands within 5 % of the limit, TCP and UDP, outbound (vm4's port
# polices what vm4 sends) and inbound (vm5's port polices what is sent to vm5):
#  1. 1 worker, 1 queue, and a reload that halves the outbound limit in place;
#  2. 2 workers polling 2-queue ports. One iperf3 flow lands on one rx queue (the kernel's flow
#     hash), so on one worker: the rate balancer (daemon/rate_balancer.hpp) must move the
#     port's rate to that worker. Checked too: the shares it publishes
#     (vswitch_port_rate_share_ratio) give the busy worker all but the floor (1/128); and 4
#     TCP flows (outbound), which the kernel spreads over both queues, still sum to the limit.
source "$(dirname "$0")/../lib/harness.sh"

cfg=$T_DIR/vswitch.toml
RATE_KBS=${RATE_KBS:-12500}  # KB/s = 100 Mbit/s
IPERF_S=${IPERF_S:-5}
# iperf_rate FROM TO udp|tcp: the receiver's bits/s over IPERF_S s (the first second omitted).
iperf_rate() {
  local from=$1 to=$2 mode=$3 server
  ip netns exec "$(vm_ns "$to")" iperf3 -s -1 -B "10.77.0.${to}" >"$T_DIR/iperf-server.log" 2>&1 &
  server=$!
  T_PIDS+=("$server")
  for _ in $(seq 100); do
    ip netns exec "$(vm_ns "$to")" ss -ltn 2>/dev/null | grep -q ":5201 " && break
    sleep 0.02
  done
  local opts=()
  # UDP offered at 1.25x the limit: enough to be policed, and less for a loaded host to lose
  # in the receiving VM (its socket buffer), which iperf3 would count against the limit.
  [ "$mode" = udp ] && opts=(-u -b $((RATE_KBS * 8000 * 5 / 4)) -l 1400)
  [ "$mode" = tcp4 ] && opts=(-P 4)
  ip netns exec "$(vm_ns "$from")" iperf3 -c "10.77.0.${to}" -t "$IPERF_S" -O 1 -J "${opts[@]}" \
    >"$T_DIR/iperf.json" 2>&1 || fail "iperf3 failed: $(tail -5 "$T_DIR/iperf.json")"
  wait "$server" 2>/dev/null || true
  python3 -c 'import json,sys
e = json.load(open(sys.argv[1]))["end"]
s = e.get("sum_received") or e["sum"]
print(int(s["bits_per_second"] * (1 - s.get("lost_percent", 0) / 100) if "sum_received" not in e else s["bits_per_second"]))' "$T_DIR/iperf.json"
}
# shares PORT DIRECTION: "worker=share ..." as vswitch_port_rate_share_ratio says, by worker.
shares() {
  scrape | awk -v port="port=\"$1\"" -v dir="direction=\"$2\"" '
    /^vswitch_port_rate_share_ratio\{/ && index($0, port) && index($0, dir) {
      match($0, /worker="[0-9]+"/); w = substr($0, RSTART + 8, RLENGTH - 9); print w "=" $2 }' |
    sort | paste -sd' '
}
# limited WORKERS QUEUES DIRECTION [reload]: vm4 -> vm5 with vm4's outbound or vm5's inbound
# limited.
limited() {
  local workers=$1 queues=$2 dir=$3 lim4="" lim5="" mode got want port
  local bw="{ average = $RATE_KBS, burst = $((RATE_KBS / 5)) }"
  [ "$dir" = outbound ] && lim4="outbound = $bw" || lim5="inbound = $bw"
  [ "$dir" = outbound ] && port=$(vm_if 4) || port=$(vm_if 5)
  config_daemon "$cfg" "$workers" "worker_stall_ms = 5000"
  config_switch "$cfg" sw0
  config_port "$cfg" 4 "queues = $queues" ${lim4:+"$lim4"}
  config_port "$cfg" 5 "queues = $queues" ${lim5:+"$lim5"}
  start_daemon "$cfg"
  wait_metric vswitch_worker_up '' -eq "$workers" 15
  ping_ok 4 5 3 || fail "no ping vm4 -> vm5"
  want=$((RATE_KBS * 8000))
  local modes="tcp udp"
  # With 2 workers, 4 flows too: spread over both queues, the workers split the rate.
  [ "$workers" -gt 1 ] && [ "$dir" = outbound ] && modes="tcp udp tcp4"
  for mode in $modes; do
    # With 2 workers, the shares 3 s into the run (the flow on one worker by then).
    [ "$workers" -gt 1 ] && { sleep 3; shares "$port" "$dir"; } >"$T_DIR/shares" 2>&1 &
    got=$(iperf_rate 4 5 $mode)
    # Once more if off: the machine is shared (a compile on the other cores has cost a TCP run
    # 40 %), and the limit is what is tested, not the host's spare CPU.
    if [ "$got" -lt $((want * 95 / 100)) ] || [ "$got" -gt $((want * 105 / 100)) ]; then
      log "$dir $mode: $got bit/s, off by more than 5 %: measuring once more"
      got=$(iperf_rate 4 5 $mode)
    fi
    log "$dir $mode, $workers worker(s), $queues queue(s): $got bit/s for a limit of $want ($((got * 1000 / want)) per mille)"
    check "$dir $mode $workers worker(s) (>= -5 %)" "$got" -ge $((want * 95 / 100))
    check "$dir $mode $workers worker(s) (<= +5 %)" "$got" -le $((want * 105 / 100))
    if [ "$workers" -gt 1 ] && [ "$mode" != tcp4 ]; then
      local s top
      s=$(cat "$T_DIR/shares")
      log "$dir $mode: shares of $port's limit during the run, by worker: $s"
      check "$dir $mode: workers with a share" "$(wc -w <<<"$s")" -eq "$workers"
      top=$(tr ' ' '\n' <<<"$s" | awk -F= '$2 > m { m = $2 } END { printf "%d", m * 1000 }')
      check "$dir $mode: the busy worker's share (per mille)" "$top" -ge 990
    fi
  done
  [ "${4:-}" = reload ] && reload_rate
  stop_daemon
}
# reload_rate: vm4's outbound limit halved by a reload: applied in place, and iperf3 follows.
reload_rate() {
  local idx0 j got want
  idx0=$(ip netns exec "$(vm_ns 4)" cat "/sys/class/net/$(vm_if 4)/ifindex")
  sed -i "s/^outbound = { average = $RATE_KBS,/outbound = { average = $((RATE_KBS / 2)),/" "$cfg"
  j=$(ctl --json reload) || fail "reload refused: $j"
  echo "$j" | json_get 'j["summary"]' | grep -q "^1 port re-tagged ($(vm_if 4))$" || fail "reload: $j"
  check "vm4's ifindex after the reload (not re-created)" \
    "$(ip netns exec "$(vm_ns 4)" cat "/sys/class/net/$(vm_if 4)/ifindex")" -eq "$idx0"
  ctl show ports | grep -q "out $((RATE_KBS / 2))KB/s" || fail "show ports: $(ctl show ports)"
  want=$((RATE_KBS / 2 * 8000))
  got=$(iperf_rate 4 5 udp)
  log "outbound udp after the reload: $got bit/s for a limit of $want ($((got * 1000 / want)) per mille)"
  check "outbound udp after the reload (>= -5 %)" "$got" -ge $((want * 95 / 100))
  check "outbound udp after the reload (<= +5 %)" "$got" -le $((want * 105 / 100))
  check "police drops counted" "$(metric vswitch_port_drops_total "port=\"$(vm_if 4)\",reason=\"police\"")" -gt 0
}
limited 1 1 outbound reload
limited 1 1 inbound
limited 2 2 outbound
limited 2 2 inbound

pass "policy_bandwidth: rate limits hold within 5 %, with 1 worker and with 2 (rebalanced shares), TCP and UDP, both directions; a reload applies in place"
