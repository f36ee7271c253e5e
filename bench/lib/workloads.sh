# shellcheck shell=bash
# The workloads, identical for every system. Each writes rows with record(); none reports a value
# it did not measure: a tool that fails makes the system FAILED.

U64_RATE=${BENCH_U64_RATE:-50000}   # fixed offered rate of the 64 B test, frames/s
KILL_WORKERS=${BENCH_KILL_WORKERS:-}    # workers (and queues per port) of the worker-kill set-up:
                                         # default 4, 3 with driver "tap" (net_tap: workers + 1 <= 4)
KILL_MIN_AGE=${BENCH_KILL_MIN_AGE:-10.2} # s a worker runs before it is killed: the supervisor resets
                                         # its restart back-off after 10 s, so each kill is a first crash
KILL_TG_GAP=${BENCH_KILL_TG_GAP:-1us}    # trafgen -t of the worker-kill traffic (about 45 kpps here)
IPERF_PORT=5301
SOCKPERF_PORT=11111

# cpu_window: call cpu_begin before and cpu_end after a measured run; cpu_end prints
# "<switch CPU s> <worker CPU s> <host busy CPU s> <elapsed s>". The PID list is taken at the start
# and re-read at the end (a restarted worker is counted from its own start).
cpu_begin() {
  CPU_PIDS=$(switch_pids | tr '\n' ' ')
  CPU_T0=$(now_ns)
  # shellcheck disable=SC2086
  CPU_S0=$(cpu_ticks $CPU_PIDS)
  # shellcheck disable=SC2086
  CPU_W0=$(cpu_ticks $(worker_pids))
  CPU_H0=$(host_busy_ticks)
}
cpu_end() {
  local t1 s1 w1 h1
  # shellcheck disable=SC2086
  s1=$(cpu_ticks $CPU_PIDS)
  # shellcheck disable=SC2086
  w1=$(cpu_ticks $(worker_pids))
  h1=$(host_busy_ticks)
  t1=$(now_ns)
  awk "BEGIN { printf \"%.2f %.2f %.2f %.4f\\n\", ($s1-$CPU_S0)/$CLK_TCK, ($w1-$CPU_W0)/$CLK_TCK, ($h1-$CPU_H0)/$CLK_TCK, ($t1-$CPU_T0)/1e9 }"
}

# record_cpu SYSTEM REP WORKLOAD "<cpu_end output>": % of one core for switch, workers, host.
record_cpu() {
  local sys=$1 rep=$2 wl=$3 s w h t
  read -r s w h t <<<"$4"
  if [[ $SW_KIND != bridge ]]; then
    record "$sys" "$rep" "$wl" switch_cpu_pct "$(calc "100*$s/$t")" "% of 1 core"
  fi
  if has_workers; then
    record "$sys" "$rep" "$wl" worker_cpu_pct "$(calc "100*$w/$t")" "% of 1 core"
  fi
  record "$sys" "$rep" "$wl" host_busy_pct "$(calc "100*$h/$t")" "% of 1 core (sum of $(nproc))"
}

# --- idle -------------------------------------------------------------------------------------
wl_idle() {
  local sys=$1 rep per
  per=$(calc "$IDLE/$REPS")
  sleep 1   # settle after set-up / ping
  for rep in $(rep_range); do
    cpu_begin
    sleep "$per"
    record_cpu "$sys" "$rep" idle "$(cpu_end)"
  done
}

# --- TCP, iperf3 ------------------------------------------------------------------------------
start_servers() {
  # started directly (not through a shell function), so $! is the server's own PID
  ip netns exec "$NS_B" iperf3 -s -B "$IP_B" -p "$IPERF_PORT" >"$RAW/$sys-iperf3-server.log" 2>&1 8>&- &
  track_pid $!
  # BENCH_PIN_SERVER / BENCH_PIN_CLIENT=CPU (diagnostics): pin sockperf's server / ping-pong
  # client, to measure one placement of the endpoints relative to the worker's core 1.
  ip netns exec "$NS_B" ${BENCH_PIN_SERVER:+taskset -c "$BENCH_PIN_SERVER"} sockperf server -i "$IP_B" -p "$SOCKPERF_PORT" >"$RAW/$sys-sockperf-server.log" 2>&1 8>&- &
  track_pid $!
  local i
  for i in $(seq 100); do
    in_ns "$NS_B" ss -Hltn "sport = :$IPERF_PORT" | grep -q . &&
      in_ns "$NS_B" ss -Hlun "sport = :$SOCKPERF_PORT" | grep -q . && return 0
    sleep 0.05
  done
  die "iperf3/sockperf servers did not start in $NS_B"
}

# if_frames NS IF DIR: "PACKETS BYTES" the interface counted in direction DIR (tx or rx).
if_frames() { echo "$(ctr "$1" "$2" "$3_packets") $(ctr "$1" "$2" "$3_bytes")"; }

# tcp_once SYSTEM REP WORKLOAD STREAMS: one iperf3 run of DUR s, recorded as WORKLOAD.
tcp_once() {
  local sys=$1 rep=$2 wl=$3 streams=$4 out gbps c s w h t a0 b0 a1 b1
  out=$RAW/$sys-$wl-$rep.json
  # The frames' sizes on the way: a switch that made the sender's super-frames smaller, or
  # delivered them cut up, pays per frame what the byte count does not show.
  read -r -a a0 <<<"$(if_frames "$NS_A" "$IF_A" tx)"
  read -r -a b0 <<<"$(if_frames "$NS_B" "$IF_B" rx)"
  cpu_begin
  timeout $((DUR + 30)) ip netns exec "$NS_A" iperf3 -c "$IP_B" -p "$IPERF_PORT" -t "$DUR" \
    -P "$streams" -J >"$out" 2>&1 || die "$wl rep $rep: iperf3 failed: $(tail -c 300 "$out")"
  c=$(cpu_end)
  # end.sum_received.bits_per_second of iperf3's JSON (pretty-printed, one key per line)
  gbps=$(awk '/"sum_received"/ { s = 1 } s && /"bits_per_second"/ { gsub(/[^0-9.e+]/, "", $2); printf "%.4f\n", $2 / 1e9; exit }' "$out")
  [[ -n $gbps ]] || die "$wl rep $rep: no sum_received in $out"
  awk "BEGIN { exit !($gbps > 0) }" || die "$wl rep $rep: 0 Gbit/s"
  record "$sys" "$rep" "$wl" gbps "$gbps" "Gbit/s"
  record_cpu "$sys" "$rep" "$wl" "$c"
  read -r s w h t <<<"$c"
  [[ $SW_KIND == bridge ]] ||
    record "$sys" "$rep" "$wl" cpu_s_per_gbit "$(calc "$s/($gbps*$t)")" "CPU s per Gbit"
  # Both CPUs, endpoints included: part of the endpoints' TCP work (the sender's ACK processing
  # and its next transmit, the receiver's input) runs in the context of whoever writes the
  # frame into their TAP, so it moves between them and the switch as their timing does.
  record "$sys" "$rep" "$wl" host_cpu_s_per_gbit "$(calc "$h/($gbps*$t)")" "CPU s per Gbit"
  ! has_workers ||
    record "$sys" "$rep" "$wl" worker_cpu_s_per_gbit "$(calc "$w/($gbps*$t)")" "CPU s per Gbit"
  read -r -a a1 <<<"$(if_frames "$NS_A" "$IF_A" tx)"
  read -r -a b1 <<<"$(if_frames "$NS_B" "$IF_B" rx)"
  ((a1[0] > a0[0])) && record "$sys" "$rep" "$wl" sender_frame_bytes \
    "$(((a1[1] - a0[1]) / (a1[0] - a0[0])))" "bytes"
  ((b1[0] > b0[0])) && record "$sys" "$rep" "$wl" receiver_frame_bytes \
    "$(((b1[1] - b0[1]) / (b1[0] - b0[0])))" "bytes"
  log "$wl rep $rep: $gbps Gbit/s; CPU $c"
}

wl_tcp() {
  local sys=$1 streams=$2 rep
  for rep in $(rep_range); do tcp_once "$sys" "$rep" "tcp$streams" "$streams"; done
}

# --- 64 B frames, trafgen -------------------------------------------------------------------------
# 60 B UDP/IPv4 frame (64 B with FCS) from bnA0 to bnB0's MAC, 10.201.0.1:5001 -> 10.201.0.2:9.
write_trafgen_cfg() {
  local da sa hex
  da=$(in_ns "$NS_B" cat "/sys/class/net/$IF_B/address")
  sa=$(in_ns "$NS_A" cat "/sys/class/net/$IF_A/address")
  hex() { echo "0x${1//:/, 0x}"; }
  cat >"$1" <<EOF
/* written by bench/run: Ethernet + IPv4 + UDP, 18 B payload = 60 B (64 B on the wire with FCS) */
{
  $(hex "$da"), $(hex "$sa"), 0x08, 0x00,
  0x45, 0x00, 0x00, 0x2e, 0x00, 0x01, 0x40, 0x00, 0x40, 0x11, csumip(14, 33),
  0x0a, 0xc9, 0x00, 0x01, 0x0a, 0xc9, 0x00, 0x02,
  0x13, 0x89, 0x00, 0x09, 0x00, 0x1a, 0x00, 0x00,
  fill(0x00, 18)
}
EOF
}

# trafgen_start RATE_PPS|max OUT [COUNT]: trafgen in bnA in its own session (so a signal reaches
# its per-CPU child too); sets TG_PID (= its process group).
trafgen_start() {
  local rate=$1 out=$2 count=${3:-} args=()
  [[ $rate == max ]] || args+=(-b "${rate}pps")
  [[ -z $count ]] || args+=(-n "$count")
  setsid ip netns exec "$NS_A" trafgen --dev "$IF_A" --conf "$RAW/udp64.cfg" -P 1 --no-sock-mem \
    "${args[@]}" >"$out" 2>&1 8>&- &
  TG_PID=$!
  track_pid "$TG_PID"
}

# trafgen_stop: SIGINT to trafgen's group (its normal end), SIGKILL if it is still there after 5 s.
trafgen_stop() {
  local i
  kill -INT -- "-$TG_PID" 2>/dev/null || true
  for i in $(seq 50); do kill -0 "$TG_PID" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$TG_PID" 2>/dev/null || pgrep -g "$TG_PID" >/dev/null; then
    warn "trafgen did not stop on SIGINT; SIGKILL"
    kill -KILL -- "-$TG_PID" 2>/dev/null || true
  fi
  wait "$TG_PID" 2>/dev/null || true
  pgrep -g "$TG_PID" >/dev/null && die "trafgen processes of group $TG_PID survive SIGKILL"
  return 0
}

# trafgen_result OUT: "<frames sent> <seconds of the send loop>" from trafgen's summary lines
# ("N packets outgoing", "S sec, U usec on CPU0 (N packets)"); the loop time excludes start-up,
# which takes seconds on a loaded machine.
trafgen_result() {
  local r
  r=$(tr -d '\r' <"$1" | awk '
    $2 == "packets" && $3 == "outgoing" { sent = $1 }
    $2 == "sec," && $4 == "usec" && $6 ~ /^CPU/ { t += $1 + $3 / 1e6 }
    END { if (sent > 0 && t > 0) printf "%d %.6f\n", sent, t }')
  [[ -n $r ]] || die "trafgen sent nothing: $(tr -d '\r' <"$1" | tail -n 5 | tr '\n' ' ')"
  echo "$r"
}

# trafgen_run SECONDS RATE_PPS|max OUT: sends for SECONDS (a fixed rate stops by itself after
# RATE*SECONDS frames), prints "<sent> <send-loop seconds>".
trafgen_run() {
  local secs=$1 rate=$2 out=$3 i
  if [[ $rate == max ]]; then
    trafgen_start max "$out"
    sleep "$((secs + 1))"   # + start-up; the rate is computed from the send loop's own time
  else
    trafgen_start "$rate" "$out" $((rate * secs))
    for i in $(seq $(((secs + 30) * 10))); do kill -0 "$TG_PID" 2>/dev/null || break; sleep 0.1; done
  fi
  trafgen_stop
  trafgen_result "$out"
}

# u64_once SYSTEM REP WORKLOAD RATE_PPS|max: one run of DUR s of 64 B frames bnA -> bnB (the
# trafgen config written), recorded as WORKLOAD; sets U64_RX (frames received in B) and U64_CPU
# (cpu_end's output).
u64_once() {
  local sys=$1 rep=$2 wl=$3 rate=$4 out sent secs rx0 rx1 rx c s w h r
  out=$RAW/$sys-$wl-$rep.trafgen
  rx0=$(ctr "$NS_B" "$IF_B" rx_packets)
  cpu_begin
  r=$(trafgen_run "$DUR" "$rate" "$out")
  read -r sent secs <<<"$r"
  sleep 0.2   # frames still queued in the switch
  c=$(cpu_end)
  rx1=$(ctr "$NS_B" "$IF_B" rx_packets)
  rx=$((rx1 - rx0))
  ((rx > 0)) || die "$wl rep $rep: vmB received nothing ($sent sent)"
  read -r s w h _ <<<"$c"
  record "$sys" "$rep" "$wl" offered_kpps "$(calc "$sent/$secs/1000")" kpps
  record "$sys" "$rep" "$wl" rx_kpps "$(calc "$rx/$secs/1000")" kpps
  record "$sys" "$rep" "$wl" loss_pct "$(calc "max(0.0, 100*($sent-$rx)/$sent)")" "%"
  record_cpu "$sys" "$rep" "$wl" "$c"
  [[ $SW_KIND == bridge ]] ||
    record "$sys" "$rep" "$wl" switch_us_per_pkt "$(calc "1e6*$s/$rx")" "µs/pkt"
  ! has_workers ||
    record "$sys" "$rep" "$wl" worker_us_per_pkt "$(calc "1e6*$w/$rx")" "µs/pkt"
  record "$sys" "$rep" "$wl" host_us_per_pkt "$(calc "1e6*$h/$rx")" "µs/pkt"
  log "$wl rep $rep: sent $sent, received $rx; CPU $c"
  U64_RX=$rx U64_CPU=$c
}

# wl_u64 SYSTEM RATE_PPS|max [NAME]: 64 B frames bnA -> bnB, REPS runs of DUR s, recorded as
# workload NAME (default u64rate / u64max).
wl_u64() {
  local sys=$1 rate=$2 wl=${3:-} rep
  if [[ -z $wl && $rate == max ]]; then wl=u64max; elif [[ -z $wl ]]; then wl=u64rate; fi
  write_trafgen_cfg "$RAW/udp64.cfg"
  for rep in $(rep_range); do u64_once "$sys" "$rep" "$wl" "$rate"; done
}

# --- round trip, sockperf ping-pong -------------------------------------------------------------
wl_rtt() {
  local sys=$1 rep out p50 p99 p999 try secs
  secs=$DUR
  for rep in $(rep_range); do
    for try in 1 2; do
      out=$RAW/$sys-rtt-$rep-$try.sockperf
      timeout $((secs + 30)) ip netns exec "$NS_A" ${BENCH_PIN_CLIENT:+taskset -c "$BENCH_PIN_CLIENT"} sockperf ping-pong -i "$IP_B" -p "$SOCKPERF_PORT" \
        -m 64 -t "$secs" --full-rtt >"$out" 2>&1 || die "rtt rep $rep: sockperf failed: $(tail -n 5 "$out")"
      pct() { sed 's/\x1b\[[0-9;]*m//g' "$out" | awk -v p="$1" '$2 == "--->" && $3 == "percentile" && $4 == p {print $6}'; }
      p50=$(pct 50.000) p99=$(pct 99.000) p999=$(pct 99.900)
      [[ -n $p50 && -n $p99 && -n $p999 ]] && break
      # A lost ping-pong message stalls sockperf's client; it then has no valid observation.
      warn "rtt rep $rep: no percentiles in $out ($(grep -o 'No valid observations' "$out" || tail -n 1 "$out")); try $try"
    done
    [[ -n $p50 && -n $p99 && -n $p999 ]] || die "rtt rep $rep: no percentiles in two tries ($out)"
    record "$sys" "$rep" rtt p50_us "$p50" "µs"
    record "$sys" "$rep" rtt p99_us "$p99" "µs"
    record "$sys" "$rep" rtt p999_us "$p999" "µs"
    record "$sys" "$rep" rtt tries "$try" "sockperf runs"
    log "rtt rep $rep: p50 $p50, p99 $p99, p99.9 $p999 µs (round trip)"
  done
}

# --- worker kill (vswitch only) ------------------------------------------------------------------
# A second vswitchd set-up: 4 workers (3 with driver "tap") on core 1 (vs_daemon_config), as many
# queues per port, crash_loop_limit = 100. bench/lib/killtest.py steers one 64 B UDP flow from A to B onto each
# worker, counts each flow on both sides in the kernel and kills the workers in turn, each once it
# has run KILL_MIN_AGE s (a first crash: 100 ms back-off). Per kill: the killed worker's flow's
# recovery (kill -> its first frame in B), the frames the other workers' flows lost (must be 0)
# and the time until the worker runs again with its queues; after all kills vswitchd's fds,
# hugepage files, hugepages, DPDK heap and free mbufs against before.
kill_setup() {
  log "worker kill: second set-up: $VS_WORKERS workers on core 1, $VS_WORKERS queues per port, crash_loop_limit = 100"
  vs_stop
  for _ in $(seq 100); do
    ip -n "$NS_A" link show "$IF_A" >/dev/null 2>&1 || ip -n "$NS_B" link show "$IF_B" >/dev/null 2>&1 ||
      ip link show "$IF_A" >/dev/null 2>&1 || ip link show "$IF_B" >/dev/null 2>&1 || break
    sleep 0.1
  done
  VS_D=$RAW/vswitch-$VS_DRIVER-kill
  mkdir -p "$VS_D"
  VS_DAEMON_EXTRA="crash_loop_limit = 100" vs_daemon_config "$VS_D/run"
  vs_vm_switch "$VS_DRIVER" "$VS_WORKERS"
  vs_launch || die "worker kill: vswitchd with $VS_WORKERS workers exited during start-up: $(tail -n 3 "$VS_D/vswitchd.log" | tr '\n' ' ')(log: $VS_D/vswitchd.log)"
  # trafgen sends through the qdisc (-q), where killtest.py's packet sockets see its frames. A
  # plain FIFO per tx queue of A's TAP drops nothing silently (no AQM): when it is full, trafgen
  # is refused and sends again, so what it counts as sent is what the per-flow counters count.
  local nq q
  nq=$(in_ns "$NS_A" ls "/sys/class/net/$IF_A/queues" | grep -c '^tx-')
  in_ns "$NS_A" tc qdisc replace dev "$IF_A" root handle 1: mq || die "worker kill: tc qdisc mq on $IF_A failed"
  for q in $(seq "$nq"); do
    in_ns "$NS_A" tc qdisc replace dev "$IF_A" parent "1:$(printf '%x' "$q")" pfifo limit 10000 ||
      die "worker kill: tc qdisc pfifo on $IF_A tx queue $q failed"
  done
  wait_path
}

# kill_leak_state: "<fds> <hugepage files> <hugepages used> <heap bytes allocated>" of vswitchd now
# (the last one empty if the metric is missing).
kill_leak_state() {
  echo "$(ls "/proc/$VS_PID/fd" | wc -l) $(ls /dev/hugepages 2>/dev/null | grep -c "^${EAL_PREFIX_VS}map_" || true) $(hugepages_used) $(vs_metric vswitch_dpdk_heap_allocated_bytes)"
}

wl_kill() {
  local sys=$1 out rc restarts0 restarts1 fds0 fds1 files0 files1 hp0 hp1
  local heap0 heap1 mb0 mb1 rx0 rx1 txd0 txd1 r sent secs tot_sent tot_recv pg n
  local -a k
  [[ $SW_KIND == vswitch ]] || return 0
  # net_tap opens a queue pair per worker and one for vswitchd, at most 4: 3 workers
  local KILL_WORKERS=${KILL_WORKERS:-$([[ $VS_DRIVER == tap ]] && echo 3 || echo 4)}
  local VS_WORKERS=$KILL_WORKERS
  ((KILL_WORKERS >= 2)) || die "BENCH_KILL_WORKERS must be at least 2 (one killed, the others watched)"
  kill_setup
  sleep 1
  restarts0=$(vs_metric vswitch_worker_restarts_total)
  read -r fds0 files0 hp0 heap0 <<<"$(kill_leak_state)"
  mb0=$(vs_metric vswitch_worker_mbufs_free)
  [[ -n $restarts0 && -n $mb0 && -n $heap0 ]] ||
    die "worker kill: vswitch_worker_restarts_total, vswitch_worker_mbufs_free or vswitch_dpdk_heap_allocated_bytes missing in the metrics"
  out=$RAW/$sys-kill
  rx0=$(ctr "$NS_B" "$IF_B" rx_packets)
  txd0=$(ctr "$NS_A" "$IF_A" tx_dropped)
  rc=0
  timeout $((KILLS * 15 + 180)) python3 "$BENCH_LIB/killtest.py" --parent "$VS_PID" \
    --metrics "http://127.0.0.1:$VS_METRICS_PORT/metrics" --workers "$KILL_WORKERS" --kills "$KILLS" \
    --min-age "$KILL_MIN_AGE" --ns-a "$NS_A" --if-a "$IF_A" --ns-b "$NS_B" --if-b "$IF_B" \
    --src-mac "$(in_ns "$NS_A" cat "/sys/class/net/$IF_A/address")" \
    --dst-mac "$(in_ns "$NS_B" cat "/sys/class/net/$IF_B/address")" --src-ip "$IP_A" --dst-ip "$IP_B" \
    --cfg "$RAW/$sys-kill-flows.cfg" --gap "$KILL_TG_GAP" --trafgen-out "$out.trafgen" \
    --pids-file "$RAW/pids" >"$out.log" 2>&1 || rc=$?
  pg=$(awk '$1 == "trafgen" { print $2 }' "$out.log")
  if [[ -n $pg ]] && kill -0 "$pg" 2>/dev/null; then   # killtest.py did not get to stop it
    kill -CONT -- "-$pg" 2>/dev/null || true
    TG_PID=$pg trafgen_stop
  fi
  grep -E '^(probe|flow|rate) ' "$out.log" | sed 's/^/  /' || true
  ((rc == 0)) || die "worker-kill test failed: $(grep -v '^kill ' "$out.log" | tail -n 3 | tr '\n' ' ')(log: $out.log)"
  r=$(trafgen_result "$out.trafgen")
  read -r sent secs <<<"$r"
  read -r _ tot_sent tot_recv < <(grep '^total ' "$out.log")
  [[ -n $tot_sent ]] || die "worker kill: no totals in $out.log"
  # The per-flow counters are trusted only if they add up to what trafgen says it sent.
  ((tot_sent == sent)) ||
    die "worker kill: the per-flow send counters add up to $tot_sent frames, trafgen sent $sent"
  rx1=$(ctr "$NS_B" "$IF_B" rx_packets)
  ((rx1 - rx0 >= tot_recv)) ||
    die "worker kill: the per-flow receive counters ($tot_recv) exceed $IF_B's rx_packets increase ($((rx1 - rx0)))"
  log "worker kill: trafgen sent $sent (= the per-flow counters), the flows' counters received $tot_recv; $IF_B received $((rx1 - rx0 - tot_recv)) other frames (probes, ARP, ICMP)"
  # where frames were lost: the TAP of A (the switch did not read its queue in time), the switch
  txd1=$(ctr "$NS_A" "$IF_A" tx_dropped)
  record "$sys" 1 kill tap_a_dropped "$((txd1 - txd0))" "frames $IF_A's TAP dropped (tx_dropped)"
  log "worker kill: $IF_A's TAP dropped $((txd1 - txd0)) frames (tx_dropped); the switch's drop counters: $(vs_scrape |
    grep -E '^vswitch_port_(driver_)?drops_total' | grep -v ' 0$' | sed 's/^vswitch_port_//; s/switch="bench",//' | tr '\n' ' ')"
  n=0
  while read -r -a k; do
    # kill N worker W pid OLD NEW recovery_ms MS restart_ms MS killed_sent N killed_lost N
    #   other_sent N other_lost N waited_ms MS
    n=$((n + 1))
    ((k[1] == n)) || die "worker kill: kill lines out of order in $out.log"
    record "$sys" "$n" kill recovery_ms "${k[8]}" ms
    record "$sys" "$n" kill restart_ms "${k[10]}" ms
    record "$sys" "$n" kill killed_flow_lost "${k[14]}" frames
    record "$sys" "$n" kill other_sent "${k[16]}" frames
    record "$sys" "$n" kill other_lost "${k[18]}" frames
  done < <(grep '^kill ' "$out.log")
  ((n == KILLS)) || die "worker-kill: $n of $KILLS kills measured ($out.log)"
  record "$sys" 1 kill workers "$KILL_WORKERS" workers
  record "$sys" 1 kill offered_kpps "$(calc "$(awk '$1 == "rate" { print $2 }' "$out.log")/1000")" kpps
  record "$sys" 1 kill loop_s "$(awk '$1 == "loop_s" { print $2 }' "$out.log")" "s for the kills"
  # every worker up again, then what the kills left behind
  for _ in $(seq 100); do
    [[ $(vs_metric vswitch_worker_up) == "$KILL_WORKERS" ]] && break
    sleep 0.1
  done
  [[ $(vs_metric vswitch_worker_up) == "$KILL_WORKERS" ]] || die "worker kill: not every worker is up after the kills"
  restarts1=$(vs_metric vswitch_worker_restarts_total)
  ((restarts1 - restarts0 == KILLS)) ||
    die "worker-kill: vswitch_worker_restarts_total went up by $((restarts1 - restarts0)), not $KILLS"
  sleep 1
  read -r fds1 files1 hp1 heap1 <<<"$(kill_leak_state)"
  [[ -n $heap1 ]] || die "worker kill: no vswitch_dpdk_heap_allocated_bytes after the kills"
  # a frame on its way holds an mbuf for a moment: a lost mbuf is one that stays (5 samples)
  for _ in 1 2 3 4 5; do
    mb1=$(vs_metric vswitch_worker_mbufs_free)
    [[ -n $mb1 ]] || die "worker kill: no vswitch_worker_mbufs_free after the kills"
    ((mb1 >= mb0)) && break
    sleep 0.5
  done
  # the restarted workers' own start-up time (EAL attach to first poll), from vswitchd's log
  local v
  n=0
  while read -r v; do
    n=$((n + 1))
    record "$sys" "$n" kill worker_startup_ms "$v" ms
  done < <(grep -o 'forwarding [0-9]* ms after start' "$VS_D/vswitchd.log" | awk '{print $2}' | tail -n "$KILLS")
  record "$sys" 1 kill restarts_counted "$((restarts1 - restarts0))" restarts
  record "$sys" 1 kill fd_delta "$((fds1 - fds0))" "fds of vswitchd after $KILLS kills"
  record "$sys" 1 kill hugepage_file_delta "$((files1 - files0))" "hugepage files after $KILLS kills"
  record "$sys" 1 kill hugepages_used_delta "$((hp1 - hp0))" "2 MiB pages (machine-wide) after $KILLS kills"
  record "$sys" 1 kill heap_allocated_delta "$((heap1 - heap0))" "bytes of DPDK heap after $KILLS kills"
  record "$sys" 1 kill mbufs_free_delta "$((mb1 - mb0))" "free mbufs (all workers) after $KILLS kills"
  log "worker kill: $KILLS kills, restarts +$((restarts1 - restarts0)); fds $fds0 -> $fds1, hugepage files $files0 -> $files1, hugepages used $hp0 -> $hp1, heap bytes $heap0 -> $heap1, free mbufs $mb0 -> $mb1"
  grep '^kill ' "$out.log" | sed 's/^/  /'
  awk '$1 == "kill" { print $9, $17, $19 }' "$out.log" | sort -n | awk '{ r[NR] = $1; s += $2; l += $3 }
    END { printf "  recovery median %s ms, max %s ms; the other flows lost %d of %d frames\n",
          (NR % 2 ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2), r[NR], l, s }'
  # traffic still flows after the kills
  wait_path
}

# --- packet capture (vswitch only; issue #23) ----------------------------------------------------
# Within the system's own set-up, REPS times, interleaved so that drift hits all three alike:
#   for each rep: 64 B at max rate (u64_once) as A, B, C; then TCP 1 stream (tcp_once) as A, B, C.
#   A (capture_off_*): no capture.
#   B (capture_nomatch_*): `vswitchctl capture bnA0,bnB0 --direction both` armed with a filter that
#     matches nothing on this traffic (CAPTURE_NOMATCH), written to CAPTURE_OUT_NOMATCH. It must
#     capture 0 frames, and the workers must copy none; anything else fails the system.
#   C (capture_all_*): the same without a filter: every frame, both directions, both ports, written
#     to CAPTURE_OUT_ALL (64 B; a file on tmpfs) or CAPTURE_OUT_ALL_TCP (TCP: GB per run).
# Each capture is armed (vswitchctl has printed vswitchd's answer) before the run and ended with
# SIGINT after it; vswitchctl --json prints the summary ({"done":true,"captured":N,"dropped":M,...}).
# C's drop share is dropped / (captured + dropped); the workers' own counters
# (vswitch_capture_copies_total, vswitch_capture_copy_drops_total) over the same capture give it too.
CAPTURE_SYSTEMS=${BENCH_CAPTURE_SYSTEMS:-vs-rtap}    # comma-separated; other systems skip it
CAPTURE_NOMATCH=${BENCH_CAPTURE_NOMATCH:-ether proto 0x1234}
CAPTURE_OUT_NOMATCH=${BENCH_CAPTURE_OUT_NOMATCH:-/tmp/bn-capture-nomatch.pcapng}
CAPTURE_OUT_ALL=${BENCH_CAPTURE_OUT_ALL:-/dev/shm/bn-capture-all.pcapng}
CAPTURE_OUT_ALL_TCP=${BENCH_CAPTURE_OUT_ALL_TCP:-/dev/null}
CAPTURE_PERF=${BENCH_CAPTURE_PERF:-0}   # 1: diagnostics of the 64 B runs (below); slows them
CAP_PID="" CAP_LOG="" CAP_OUT="" CAP_M0=""

# capture_counters: "<copies> <copy drops> <lost>" summed over the workers (and vswitchd's writer).
capture_counters() {
  local c d l
  c=$(vs_metric vswitch_capture_copies_total)
  d=$(vs_metric vswitch_capture_copy_drops_total)
  l=$(vs_metric vswitch_capture_lost_total)
  [[ -n $c && -n $d && -n $l ]] ||
    die "capture: vswitch_capture_copies_total, _copy_drops_total or vswitch_capture_lost_total missing in the metrics"
  echo "$c $d $l"
}

# capture_start nomatch|all OUT LOG: arms a capture on both VM ports, both directions, to OUT;
# returns once vswitchd has answered that it is armed (vswitchctl's first JSON line).
capture_start() {
  local variant=$1 filter=()
  CAP_OUT=$2 CAP_LOG=$3
  [[ $variant == nomatch ]] && filter=(-- "$CAPTURE_NOMATCH")
  CAP_M0=$(capture_counters)
  # not through a function, so $! is vswitchctl's own PID
  "$VS_BIN/vswitchctl" --socket "$VS_SOCK" --json capture "$IF_A,$IF_B" --direction both \
    -w "$CAP_OUT" "${filter[@]}" >/dev/null 2>"$CAP_LOG" 8>&- &
  CAP_PID=$!
  track_pid "$CAP_PID"
  for _ in $(seq 200); do
    if grep -qs '"ok":true' "$CAP_LOG"; then
      sleep 0.1   # the workers see the armed slot at their next poll
      return 0
    fi
    kill -0 "$CAP_PID" 2>/dev/null ||
      die "capture ($variant) refused: $(tr '\n' ' ' <"$CAP_LOG")"
    sleep 0.05
  done
  die "capture ($variant) not armed after 10 s: $(tr '\n' ' ' <"$CAP_LOG")"
}

# capture_stop: SIGINT to vswitchctl (Ctrl-C), waits for it, checks its exit status and summary;
# sets CAP_CAPTURED, CAP_DROPPED (the summary's) and CAP_DCOPIES, CAP_DDROPS, CAP_DLOST (the
# counters' increase over the capture).
capture_stop() {
  local rc=0 summary c1 d1 l1 c0 d0 l0
  kill -INT "$CAP_PID" 2>/dev/null || die "capture: vswitchctl (pid $CAP_PID) ended before SIGINT: $(tr '\n' ' ' <"$CAP_LOG")"
  for _ in $(seq 150); do kill -0 "$CAP_PID" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$CAP_PID" 2>/dev/null && die "capture: vswitchctl still runs 15 s after SIGINT"
  wait "$CAP_PID" || rc=$?
  ((rc == 0)) || die "capture: vswitchctl exited with $rc: $(tr '\n' ' ' <"$CAP_LOG")"
  summary=$(grep '"done":true' "$CAP_LOG" | tail -n 1)
  [[ -n $summary ]] || die "capture: no summary from vswitchctl: $(tr '\n' ' ' <"$CAP_LOG")"
  CAP_CAPTURED=$(grep -o '"captured":[0-9]*' <<<"$summary" | cut -d: -f2)
  CAP_DROPPED=$(grep -o '"dropped":[0-9]*' <<<"$summary" | cut -d: -f2)
  [[ -n $CAP_CAPTURED && -n $CAP_DROPPED ]] || die "capture: no captured/dropped in the summary: $summary"
  read -r c0 d0 l0 <<<"$CAP_M0"
  read -r c1 d1 l1 <<<"$(capture_counters)"
  CAP_DCOPIES=$((c1 - c0)) CAP_DDROPS=$((d1 - d0)) CAP_DLOST=$((l1 - l0))
  CAP_PID=""
}

# capture_run SYSTEM REP u64max|tcp1 off|nomatch|all: one measured run with that capture.
capture_run() {
  local sys=$1 rep=$2 what=$3 variant=$4 wl out bytes=""
  wl=capture_${variant}_$what
  case $variant in
    off) out="" ;;
    nomatch) out=$CAPTURE_OUT_NOMATCH ;;
    all) if [[ $what == u64max ]]; then out=$CAPTURE_OUT_ALL; else out=$CAPTURE_OUT_ALL_TCP; fi ;;
  esac
  [[ -z $out ]] || capture_start "$variant" "$out" "$RAW/$sys-$wl-$rep.capture"
  if [[ $what == u64max ]]; then
    ((CAPTURE_PERF)) && capture_perf_begin "$sys-$wl-$rep"
    u64_once "$sys" "$rep" "$wl" max
    ((CAPTURE_PERF)) && capture_perf_end "$sys" "$rep" "$wl"
    local w
    read -r _ w _ _ <<<"$U64_CPU"
    record "$sys" "$rep" "$wl" worker_us_per_pkt "$(calc "1e6*$w/$U64_RX")" "µs/pkt"
  else
    tcp_once "$sys" "$rep" "$wl" 1
  fi
  [[ -n $out ]] || return 0
  capture_stop
  [[ -f $out ]] && bytes=$(stat -c %s "$out")
  [[ $out == /dev/null ]] || rm -f "$out"
  log "$wl rep $rep: capture to $out: captured $CAP_CAPTURED, dropped $CAP_DROPPED (summary); workers copied $CAP_DCOPIES, dropped $CAP_DDROPS, vswitchd lost $CAP_DLOST (metrics)${bytes:+; $bytes bytes written}"
  record "$sys" "$rep" "$wl" captured "$CAP_CAPTURED" "frames (vswitchctl's summary)"
  record "$sys" "$rep" "$wl" dropped "$CAP_DROPPED" "copies (vswitchctl's summary)"
  record "$sys" "$rep" "$wl" metric_copies "$CAP_DCOPIES" "copies (vswitch_capture_copies_total increase)"
  record "$sys" "$rep" "$wl" metric_drops "$CAP_DDROPS" "copies (vswitch_capture_copy_drops_total increase)"
  record "$sys" "$rep" "$wl" metric_lost "$CAP_DLOST" "copies (vswitch_capture_lost_total increase)"
  if [[ $variant == nomatch ]]; then
    ((CAP_CAPTURED == 0 && CAP_DROPPED == 0 && CAP_DCOPIES == 0 && CAP_DDROPS == 0)) ||
      die "$wl rep $rep: the filter '$CAPTURE_NOMATCH' was to match nothing, but $CAP_CAPTURED frames were captured, $CAP_DROPPED dropped, $CAP_DCOPIES copied by the workers"
    return 0
  fi
  ((CAP_CAPTURED + CAP_DROPPED > 0)) || die "$wl rep $rep: a capture of everything saw no frame"
  ((CAP_DCOPIES + CAP_DDROPS > 0)) || die "$wl rep $rep: the workers' capture counters did not move"
  if [[ -n $bytes && $out != /dev/null ]]; then
    # a pcapng Enhanced Packet Block holds a 60 B frame in 92 B
    ((bytes >= CAP_CAPTURED * 60)) ||
      die "$wl rep $rep: $out has $bytes bytes for $CAP_CAPTURED captured frames"
    record "$sys" "$rep" "$wl" file_mib "$(calc "$bytes/1048576")" "MiB written to $out"
  fi
  record "$sys" "$rep" "$wl" drop_pct "$(calc "100*$CAP_DROPPED/($CAP_CAPTURED+$CAP_DROPPED)")" \
    "% of the copies (summary: dropped / (captured + dropped))"
  record "$sys" "$rep" "$wl" metric_drop_pct "$(calc "100*$CAP_DDROPS/($CAP_DCOPIES+$CAP_DDROPS)")" \
    "% of the copies (metrics: copy drops / (copies + copy drops))"
}

# BENCH_CAPTURE_PERF=1 (diagnostics; the perf runs cost the 64 B runs some rate): during every 64 B
# run, `perf record -g` of the worker process (-p), of all of core 1 (-C 1, the worker's core) and
# of vswitchd (-p), for DUR s, into $RAW/perf-<system>-<workload>-<rep>-{worker,core1,vswitchd}.data; the worker's
# involuntary context switches and where vswitchd's threads ran (ps psr, at mid-run) are logged.
# Compare: perf report -i A.data --no-children --sort sym; perf report -i core1.data --sort comm,pid.
capture_perf_begin() {
  local tag=$1 wpid
  wpid=$(worker_pids | head -n 1)
  [[ -n $wpid ]] || die "capture perf: no worker"
  CAP_PERF_W=$wpid
  CAP_PERF_CS0=$(awk '/^nonvoluntary_ctxt_switches/ {print $2}' "/proc/$wpid/status")
  perf record -q -g -p "$wpid" -o "$RAW/perf-$tag-worker.data" -- sleep "$DUR" >/dev/null 2>&1 8>&- &
  CAP_PERF_P1=$!
  track_pid "$CAP_PERF_P1"
  perf record -q -g -C 1 -o "$RAW/perf-$tag-core1.data" -- sleep "$DUR" >/dev/null 2>&1 8>&- &
  CAP_PERF_P2=$!
  track_pid "$CAP_PERF_P2"
  perf record -q -g -p "$VS_PID" -o "$RAW/perf-$tag-vswitchd.data" -- sleep "$DUR" >/dev/null 2>&1 8>&- &
  CAP_PERF_P4=$!
  track_pid "$CAP_PERF_P4"
  ( sleep "$(calc "$DUR/2 + 1")"; ps -L -o tid=,psr=,pcpu=,comm= -p "$VS_PID" | tr -s ' ' |
      tr '\n' ';' >"$RAW/perf-$tag-threads.txt" ) &
  CAP_PERF_P3=$!
}
capture_perf_end() {
  local sys=$1 rep=$2 wl=$3 cs1
  wait "$CAP_PERF_P1" || die "capture perf: perf record -p failed ($RAW/perf-$sys-$wl-$rep-worker.data)"
  wait "$CAP_PERF_P2" || die "capture perf: perf record -C 1 failed ($RAW/perf-$sys-$wl-$rep-core1.data)"
  wait "$CAP_PERF_P4" || die "capture perf: perf record -p vswitchd failed ($RAW/perf-$sys-$wl-$rep-vswitchd.data)"
  wait "$CAP_PERF_P3" || true
  cs1=$(awk '/^nonvoluntary_ctxt_switches/ {print $2}' "/proc/$CAP_PERF_W/status")
  record "$sys" "$rep" "$wl" worker_nvcsw "$((cs1 - CAP_PERF_CS0))" "involuntary context switches of the worker"
  log "$wl rep $rep: worker $CAP_PERF_W: $((cs1 - CAP_PERF_CS0)) involuntary context switches; vswitchd threads (tid psr %cpu): $(cat "$RAW/perf-$sys-$wl-$rep-threads.txt")"
}

wl_capture() {
  local sys=$1 rep what variant
  [[ $SW_KIND == vswitch ]] || return 0
  if [[ ",$CAPTURE_SYSTEMS," != *",$sys,"* ]]; then
    log "capture: not measured for $sys (BENCH_CAPTURE_SYSTEMS=$CAPTURE_SYSTEMS)"
    return 0
  fi
  [[ -x $VS_BIN/vswitchctl ]] || die "capture: no vswitchctl in $VS_BIN"
  VS_SOCK=$(sed -n 's/^vswitchd: ready: .*; control socket \(.*\)$/\1/p' "$VS_D/vswitchd.log" | tail -n 1)
  [[ -S $VS_SOCK ]] || die "capture: no control socket in vswitchd's ready line (log: $VS_D/vswitchd.log)"
  write_trafgen_cfg "$RAW/udp64.cfg"
  log "capture: A no capture, B filter '$CAPTURE_NOMATCH' (matches nothing) to $CAPTURE_OUT_NOMATCH, C everything to $CAPTURE_OUT_ALL (TCP: $CAPTURE_OUT_ALL_TCP); both ports, both directions"
  for rep in $(rep_range); do
    for what in u64max tcp1; do
      for variant in off nomatch all; do
        capture_run "$sys" "$rep" "$what" "$variant"
      done
    done
  done
}

# --- per-port policy (vswitch only; issue #24) -------------------------------------------------
# The forwarding cost of each policy of a port, as a ratio to none, at 64 B (max rate) and for TCP
# 1 stream. In each rep the variants run in turn (interleaved, so drift hits them alike), each a
# `vswitchctl reload` of the same config with the variant's keys on both VM ports, applied in
# place (the ports and their TAPs stay). Every check passes, so what is measured is the checking:
#   none;
#   spoof: allowed_macs and allowed_ips of both VMs, block_dhcp_server, block_ra;
#   isolated: bnA0 isolated (bnB0 is not, so the traffic still flows);
#   storm: storm_control of 100 M frames/s of each kind;
#   rate: inbound and outbound of 100 GB/s (average and peak): the buckets run, never binding;
#   all: all of them.
# Any frame dropped for a policy (a variant that did not pass everything) fails the system.
POLICY_VARIANTS=(none spoof isolated storm rate all)
POLICY_SYSTEMS=${BENCH_POLICY_SYSTEMS:-vs-rtap}

# policy_lines VARIANT PORT(A|B): the port's config lines for VARIANT.
policy_lines() {
  local variant=$1 port=$2 bw="{ average = 100000000, peak = 100000000, burst = 4000000 }"
  case $variant in
    spoof | all)
      echo "allowed_macs = [\"$POLICY_MAC_A\", \"$POLICY_MAC_B\"]"
      echo "allowed_ips = [\"$IP_A\", \"$IP_B\"]"
      echo "block_dhcp_server = true"
      echo "block_ra = true" ;;&
    isolated | all) [[ $port == A ]] && echo "isolated = true" ;;&
    storm | all)
      echo "storm_control = { broadcast = 100000000, multicast = 100000000, unknown_unicast = 100000000 }" ;;&
    rate | all) echo "inbound = $bw"; echo "outbound = $bw" ;;
    *) ;;
  esac
  return 0
}

# policy_apply VARIANT: the config with VARIANT's keys, reloaded; dies unless applied in place.
policy_apply() {
  local variant=$1 j
  sed '/^\[\[switch\]\]/,$d' "$POLICY_BASE" >"$VS_CONFIG"
  VS_PORT_EXTRA_A=$(policy_lines "$variant" A) VS_PORT_EXTRA_B=$(policy_lines "$variant" B) \
    vs_vm_switch "$VS_DRIVER" 1
  j=$("$VS_BIN/vswitchctl" --socket "$VS_SOCK" --json reload 2>&1) ||
    die "policy $variant: reload refused: $j"
  grep -q "re-created" <<<"$j" && die "policy $variant: the reload re-created ports: $j"
  cp "$VS_CONFIG" "$RAW/vswitch-policy-$variant.toml"
  sleep 0.5   # the workers adopt the new port table
}

# policy_drops: frames dropped for a policy reason, both ports, all workers.
policy_drops() {
  local r n=0 v
  for r in spoofed_mac spoofed_ip spoofed_arp spoofed_nd dhcp_server router_advert isolated \
    storm_broadcast storm_multicast storm_unknown_unicast police police_inbound; do
    v=$(vs_metric vswitch_port_drops_total "reason=\"$r\"")
    n=$((n + ${v:-0}))
  done
  echo "$n"
}

wl_policy() {
  local sys=$1 rep variant what d0 d1 w
  [[ $SW_KIND == vswitch ]] || return 0
  if [[ ",$POLICY_SYSTEMS," != *",$sys,"* ]]; then
    log "policy: not measured for $sys (BENCH_POLICY_SYSTEMS=$POLICY_SYSTEMS)"
    return 0
  fi
  VS_SOCK=$(sed -n 's/^vswitchd: ready: .*; control socket \(.*\)$/\1/p' "$VS_D/vswitchd.log" | tail -n 1)
  [[ -S $VS_SOCK ]] || die "policy: no control socket in vswitchd's ready line (log: $VS_D/vswitchd.log)"
  POLICY_BASE=$RAW/vswitch-policy-base.toml
  cp "$VS_CONFIG" "$POLICY_BASE"
  POLICY_MAC_A=$(in_ns "$NS_A" cat "/sys/class/net/$IF_A/address")
  POLICY_MAC_B=$(in_ns "$NS_B" cat "/sys/class/net/$IF_B/address")
  write_trafgen_cfg "$RAW/udp64.cfg"
  log "policy: variants ${POLICY_VARIANTS[*]}, each reloaded in place, 64 B max rate then TCP 1 stream"
  for rep in $(rep_range); do
    for what in u64max tcp1; do
      for variant in "${POLICY_VARIANTS[@]}"; do
        policy_apply "$variant"
        d0=$(policy_drops)
        if [[ $what == u64max ]]; then
          u64_once "$sys" "$rep" "policy_${variant}_u64max" max
          read -r _ w _ _ <<<"$U64_CPU"
          record "$sys" "$rep" "policy_${variant}_u64max" worker_us_per_pkt \
            "$(calc "1e6*$w/$U64_RX")" "µs/pkt"
        else
          tcp_once "$sys" "$rep" "policy_${variant}_tcp1" 1
        fi
        d1=$(policy_drops)
        ((d1 == d0)) || die "policy $variant ($what, rep $rep): $((d1 - d0)) frames dropped for a policy; every check was to pass"
      done
    done
  done
  cp "$POLICY_BASE" "$VS_CONFIG"
}

# --- profile: where the worker's time goes (issue #22; vswitch and the relay) -------------------
# One extra run each of TCP 1 and 4 streams, 64 B at max rate and the ping-pong, DUR s, with
# `perf record -g -F 999` of the forwarding processes (the workers, or the relay) for the middle
# DUR-2 s (at least 1 s). The runs' own numbers are not recorded: perf slows them. bench/lib/flame.py
# folds each recording into $RAW/flame/<system>-<workload>.{svg,folded,md} (a flame graph, the
# folded stacks, the table of where the cycles go); bench/run commits them beside the results.
PROFILE_LOADS=(tcp1 tcp4 u64max rtt)
profile_load_start() {   # profile_load_start tcp1|tcp4|u64max|rtt OUT: the load in the background
  case $1 in
    tcp1 | tcp4) timeout $((DUR + 30)) ip netns exec "$NS_A" iperf3 -c "$IP_B" -p "$IPERF_PORT" -t "$DUR" \
                   -P "${1#tcp}" >"$2" 2>&1 8>&- & PROF_LOAD_PID=$! ;;
    u64max) trafgen_start max "$2"; PROF_LOAD_PID="" ;;
    rtt) timeout $((DUR + 30)) ip netns exec "$NS_A" sockperf ping-pong -i "$IP_B" -p "$SOCKPERF_PORT" \
           -m 64 -t "$DUR" >"$2" 2>&1 8>&- & PROF_LOAD_PID=$! ;;
  esac
}
profile_load_stop() {   # profile_load_stop tcp1|tcp4|u64max|rtt
  if [[ $1 == u64max ]]; then trafgen_stop; return 0; fi
  wait "$PROF_LOAD_PID" || die "profile $1: the load failed ($RAW/$SYSTEM-profile-$1.out)"
}
wl_profile() {
  local sys=$1 wl pids data secs
  has_workers || return 0
  command -v perf >/dev/null || die "profile: perf is missing (apt-get install linux-perf)"
  mkdir -p "$RAW/flame"
  write_trafgen_cfg "$RAW/udp64.cfg"
  secs=$((DUR > 3 ? DUR - 2 : 1))
  for wl in "${PROFILE_LOADS[@]}"; do
    pids=$(worker_pids | paste -sd, -)
    [[ -n $pids ]] || die "profile: no forwarding process to record"
    data=$RAW/perf-$sys-$wl.data
    profile_load_start "$wl" "$RAW/$sys-profile-$wl.out"
    sleep 1
    perf record -q -g -F 999 -p "$pids" -o "$data" -- sleep "$secs" >"$RAW/$sys-perf-$wl.log" 2>&1 8>&- ||
      die "profile $wl: perf record failed: $(tail -n 3 "$RAW/$sys-perf-$wl.log")"
    profile_load_stop "$wl"
    python3 "$BENCH_LIB/flame.py" --perf-data "$data" --out "$RAW/flame/$sys-$wl" \
      --title "$sys: the forwarding processes during $wl ($secs s, perf -F 999 -g)" >/dev/null \
      2>"$RAW/$sys-flame-$wl.log" || die "profile $wl: flame.py failed: $(tail -n 3 "$RAW/$sys-flame-$wl.log")"
    log "profile $wl: $(grep -m1 -o '[0-9][0-9]* samples' "$RAW/flame/$sys-$wl.md" || echo '? samples') -> $RAW/flame/$sys-$wl.svg"
  done
}

# --- memory ---------------------------------------------------------------------------------------
wl_memory() {
  local sys=$1 hp_before=$2 pids
  [[ $SW_KIND != bridge ]] || return 0
  pids=$(switch_pids | tr '\n' ' ')
  # shellcheck disable=SC2086
  record "$sys" "$ROUND" memory vmhwm_mib "$(calc "$(vmhwm_kib $pids)/1024")" "MiB (sum of VmHWM)"
  record "$sys" "$ROUND" memory hugepages_mib "$(( ($(hugepages_used) - hp_before) * 2 ))" "MiB (HugePages_Total-Free delta; machine-wide)"
  # shellcheck disable=SC2086
  record "$sys" "$ROUND" memory hugetlb_mapped_mib "$(calc "$(hugetlb_kib $pids)/1024")" "MiB (largest Hugetlb mapping of one switch process)"
}

# ---------------------------------------------------------------------------------------------
# run_system NAME KIND ARG: one system, every workload; runs in a subshell with teardown on exit.
# ---------------------------------------------------------------------------------------------
run_system() {
  SYSTEM=$1
  local sys=$1 kind=$2 arg=$3 hp_before wl
  hp_before=$(hugepages_used)
  "setup_$kind" "$arg"     # dies on failure; exits 0 after writing $RAW/$sys.status if not available
  wait_path
  log "$sys: set up; switch processes: $(switch_pids | tr '\n' ' ')"
  start_servers
  for wl in "${WORKLOADS[@]}"; do
    case $wl in
      idle) wl_idle "$sys" ;;
      tcp1) wl_tcp "$sys" 1 ;;
      tcp4) wl_tcp "$sys" 4 ;;
      u64rate) wl_u64 "$sys" "$U64_RATE" ;;
      u64max) wl_u64 "$sys" max ;;
      rtt) wl_rtt "$sys" ;;
      capture) wl_capture "$sys" ;;
      policy) wl_policy "$sys" ;;
      profile) wl_profile "$sys" ;;
      kill | scale) ;;   # last: they disturb or replace the switch
      *) die "internal: unknown workload $wl" ;;
    esac
  done
  wl_memory "$sys" "$hp_before"
  [[ " ${WORKLOADS[*]} " != *" kill "* ]] || wl_kill "$sys"
  [[ " ${WORKLOADS[*]} " != *" scale "* ]] || wl_scale "$sys"
  log "$sys: done"
}
