# Numbered one-way UDP flows between test VMs, placed on a chosen worker (sourced after
# harness.sh by tests/fault/worker_stall.sh and primary_stop.sh; the tool is tests/lib/udp_flow.py).
#
# A multi-queue TAP puts a VM's frame on the queue its flow hash picks, and rx queue q of a port is
# polled by worker q mod workers: a flow is moved to another worker by another UDP source port.
# udp_flow_place probes source ports until one lands on the wanted worker.
T_UDP_FLOW=$(dirname "${BASH_SOURCE[0]}")/udp_flow.py
declare -gA T_FLOW_FROM=() T_FLOW_TO=() T_FLOW_SENDER=() T_FLOW_RECEIVER=() T_FLOW_PORT=()
T_FLOW_NEXT_PORT=5001

# udp_flow_place FROM TO WORKER DPORT: prints a UDP source port whose flow FROM -> TO:DPORT is
# polled by WORKER (at most 16 tries; fails the test if none). The probe goes to the flow's own
# destination port: the TAP's queue is chosen by a hash of the whole 5-tuple with a seed drawn at
# boot, so a probe to another port predicts nothing (it held on one machine's boot, not the next).
udp_flow_place() {
  local from=$1 to=$2 want=$3 dport=$4 sport before after got
  for sport in $(seq 40001 40016); do
    before=$(ctl --json show queues | json_rows port queue worker rx_packets)
    ip netns exec "$(vm_ns "$from")" python3 "$T_UDP_FLOW" probe "10.77.0.$to" "$dport" "$sport" 200
    sleep 0.1
    after=$(ctl --json show queues | json_rows port queue worker rx_packets)
    got=$(awk -v port="$(vm_if "$from")" '
      NR == FNR { rx[$1 " " $2] = $4; next }
      $1 == port { d = $4 - rx[$1 " " $2]; if (d > best) { best = d; w = $3 } }
      END { print (best >= 100 ? w : -1) }' <(echo "$before") <(echo "$after"))
    if [ "$got" = "$want" ]; then echo "$sport"; return 0; fi
  done
  fail "no UDP source port of 40001..40016 puts flow vm$from -> vm$to on worker $want"
}

# udp_flow_start NAME FROM TO SPORT [INTERVAL_S]: VM FROM sends a datagram every INTERVAL_S
# (default 0.002) from SPORT to VM TO, which logs each one's arrival.
udp_flow_start() {
  local name=$1 from=$2 to=$3 sport=$4 interval=${5:-0.002} port log
  port=$T_FLOW_NEXT_PORT
  T_FLOW_NEXT_PORT=$((port + 1))
  log="$T_DIR/flow-$name"
  rm -f "$log".recv "$log".recv.ready "$log".sent
  ip netns exec "$(vm_ns "$to")" python3 "$T_UDP_FLOW" recv "$port" "$log.recv" &
  T_FLOW_RECEIVER[$name]=$!
  T_PIDS+=("$!")
  for _ in $(seq 200); do [ -f "$log.recv.ready" ] && break; sleep 0.05; done
  [ -f "$log.recv.ready" ] || fail "flow $name: receiver in vm$to not ready after 10 s"
  ip netns exec "$(vm_ns "$from")" python3 "$T_UDP_FLOW" send "10.77.0.$to" "$port" "$sport" \
    "$interval" "$log.sent" &
  T_FLOW_SENDER[$name]=$!
  T_PIDS+=("$!")
}

# udp_flow_stop NAME [T0]: stops flow NAME (what is in flight gets 0.5 s) and prints "SENT RECEIVED
# LOST MAX_GAP_MS GAP_START_MS": the longest time without a datagram arriving (ending after T0, a
# $EPOCHREALTIME, if given; a flow that stopped arriving before its sender stopped counts the
# silence until the sender's last datagram) and when it began, in ms after T0.
udp_flow_stop() {
  local name=$1 t0=${2:-} log="$T_DIR/flow-$1" sent last_send
  kill -TERM "${T_FLOW_SENDER[$name]}" 2>/dev/null || true
  for _ in $(seq 200); do [ -s "$log.sent" ] && break; sleep 0.05; done
  { read -r _ sent last_send <"$log.sent"; } 2>/dev/null || true
  [ -n "$sent" ] || fail "flow $name: its sender did not say how many it sent"
  sleep 0.5
  kill -TERM "${T_FLOW_RECEIVER[$name]}" 2>/dev/null || true
  wait "${T_FLOW_RECEIVER[$name]}" 2>/dev/null || true
  for _ in $(seq 100); do [ -e "$log.recv" ] && break; sleep 0.05; done
  [ -e "$log.recv" ] || fail "flow $name: its receiver wrote no log"
  [ -n "$t0" ] && t0=${t0/,/.}
  echo "$sent $(python3 "$T_UDP_FLOW" stats "$log.recv" "$sent" "${t0:--}" $last_send)"
}

# udp_flows_stop_ab T0: stops flows A and B, logs them, and sets sent_X got_X lost_X gap_X
# gap_X_at (X = a, b) as udp_flow_stop prints them.
udp_flows_stop_ab() {
  read -r sent_a got_a lost_a gap_a gap_a_at < <(udp_flow_stop A "$1")
  read -r sent_b got_b lost_b gap_b gap_b_at < <(udp_flow_stop B "$1")
  log "A: sent $sent_a, received $got_a, lost $lost_a, longest gap $gap_a ms (from +$gap_a_at ms)"
  log "B: sent $sent_b, received $got_b, lost $lost_b, longest gap $gap_b ms (from +$gap_b_at ms)"
}

# ab_daemon_start [CONFIG LINE...] -- [VSWITCHD ARG...]: 4 VMs and 2 workers (write_config with
# the CONFIG LINEs), vswitchd started with the ARGs, both workers up, vm1 -> vm3 and vm2 -> vm4
# pinged; sets qmap0 to the queue map (which worker polls each queue) before any fault.
ab_daemon_start() {
  local conf=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do
    conf+=("$1")
    shift
  done
  [ $# -gt 0 ] && shift
  write_config "$T_DIR/vswitch.toml" 4 2 "${conf[@]}"
  start_daemon "$T_DIR/vswitch.toml" "$@"
  wait_metric vswitch_worker_up '' -eq 2 15
  for p in "1 3" "2 4"; do ping_ok $p 3 || fail "ping vm${p% *} -> vm${p#* } failed"; done
  qmap0=$(qmap)
}

# udp_flows_start_ab: flow A, vm1 -> vm3, polled by worker 0, and flow B, vm2 -> vm4, polled by
# worker 1 (its source ports in sport_a and sport_b), both started.
udp_flows_start_ab() {
  # udp_flow_start gives A the next flow port and B the one after it.
  sport_a=$(udp_flow_place 1 3 0 "$T_FLOW_NEXT_PORT")
  sport_b=$(udp_flow_place 2 4 1 "$((T_FLOW_NEXT_PORT + 1))")
  log "flow A vm1 -> vm3 from UDP port $sport_a on worker 0; flow B vm2 -> vm4 from $sport_b on worker 1"
  udp_flow_start A 1 3 "$sport_a"
  udp_flow_start B 2 4 "$sport_b"
}
