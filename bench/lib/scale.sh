# shellcheck shell=bash
# The scale workload (full run, vswitch systems only; it runs last, after the kill workload).
# DESIGN.md: "64 ports x 4 queues and 100k FDB entries load without error; rate with a full FDB
# within 10% of an empty one"; issue #21: 256 ports x 1 queue (containers) and 64 x 4 (VMs), each
# with 2 workers, in 1 GB of hugepages, idle workers below 2% of a core.
#
# 1. Ports, for each shape of SCALE_SHAPES (PORTSxQUEUES): vswitchd with SCALE_WORKERS workers is
#    started on 2 ports of that shape (the baseline), then on all of them, each port a TAP in its
#    own namespace (bnS001...). If vswitchd refuses, its message is recorded and the most ports it
#    accepts (halving) are measured instead. Per rep: the time from launch until every port's
#    link is up and the workers forward; pings from port i to i+1 at 8 points spread over the
#    range and from the last port to the first; hugepages, the DPDK heap in use and the switch
#    processes' peak RSS, and what one idle port adds to each (against the 2-port baseline);
#    the CPU of the workers and of vswitchd over 10 s idle (once no frame came for 2 s, or after
#    60 s: the namespaces keep sending router solicitations), then over 10 s with no traffic at
#    all (router solicitations turned off, as an hour of uptime does: scale_rs_off); fds and
#    io_uring instances of vswitchd and of a worker; then SCALE_KILLS restarts of a worker, each
#    one's start-up from its log (exec to forwarding; issue #21).
# 2. FDB: the usual two VMs, with fdb_max_entries = SCALE_FDB. The 64 B fixed-rate and max-rate
#    runs (wl_u64) are measured with the FDB empty, then SCALE_FDB source MACs are learned from
#    bnA (trafgen, one frame per MAC), and the runs are repeated with the FDB full.

SCALE_SHAPES=${BENCH_SCALE_SHAPES:-256x1 64x4}
SCALE_WORKERS=${BENCH_SCALE_WORKERS:-2}
SCALE_IDLE_S=${BENCH_SCALE_IDLE_S:-10}
SCALE_FDB=${BENCH_SCALE_FDB:-100000}
SCALE_KILLS=${BENCH_SCALE_KILLS:-5}   # worker restarts per rep, for the start-up at scale
SCALE_QUEUES=1   # of the shape being measured

scale_ns() { printf 'bnS%03d' "$1"; }
# scale_ip I: port I's address, 10.202.0.0/16 (room for more than 254 ports).
scale_ip() { echo "10.202.$(($1 / 200)).$(($1 % 200 + 1))"; }

# scale_namespaces N: bnS001..bnSN, lo up (idempotent).
scale_namespaces() {
  local i ns have
  have=$(bench_namespaces)
  for i in $(seq "$1"); do
    ns=$(scale_ns "$i")
    grep -qx "$ns" <<<"$have" || ip netns add "$ns"
    ip -n "$ns" link set lo up
  done
}

# scale_config FILE DRIVER NPORTS: NPORTS ports of SCALE_QUEUES queues, SCALE_WORKERS workers.
scale_config() {
  local file=$1 driver=$2 n=$3 i
  VS_WORKERS=$SCALE_WORKERS vs_daemon_config "$VS_D/scale-run"
  {
    echo "[[switch]]"
    echo "name = \"scale\""
    for i in $(seq "$n"); do
      echo
      echo "[[switch.port]]"
      echo "name = \"$(scale_ns "$i")0\""
      echo "driver = \"$driver\""
      echo "queues = $SCALE_QUEUES"
      echo "netns = \"$(scale_ns "$i")\""
      echo "addresses = [\"$(scale_ip "$i")/16\"]"
    done
  } >>"$VS_CONFIG"
  cp "$VS_CONFIG" "$file"
}

# scale_start NPORTS: launches vswitchd on the scale config; sets SCALE_SECS to the seconds until
# every port is up and the workers forward. Returns 1 if vswitchd exits during start-up.
scale_start() {
  local n=$1 t0 up=0
  t0=$(now_ns)
  VS_WORKERS=$SCALE_WORKERS vs_launch || return 1
  for _ in $(seq 600); do
    up=$(vs_metric vswitch_port_link_up)
    [[ ${up:-0} -ge $n && $(vs_metric vswitch_worker_up) == "$SCALE_WORKERS" ]] && break
    sleep 0.05
  done
  [[ ${up:-0} -ge $n ]] || die "scale: $up of $n ports up 30 s after vswitchd was ready"
  SCALE_SECS=$(calc "($(now_ns) - $t0) / 1e9")
}

# scale_ping FROM TO: one VM of the scale switch reaches another (ARP first, so retries).
scale_ping() {
  local i
  for i in $(seq 10); do
    in_ns "$(scale_ns "$1")" ping -q -c 1 -W 1 "$(scale_ip "$2")" >/dev/null 2>&1 && return 0
    sleep 0.3
  done
  die "scale: bnS$1 cannot ping $(scale_ip "$2") through the switch"
}

# scale_ping_range N: port i pings i+1 at 8 points spread over 1..N, and N pings 1. Prints the
# number of pairs (all must answer).
scale_ping_range() {
  local n=$1 k i pairs=0
  for k in $(seq 0 7); do
    i=$((1 + k * (n - 2) / 7))
    scale_ping "$i" $((i + 1))
    pairs=$((pairs + 1))
  done
  scale_ping "$n" 1
  echo $((pairs + 1))
}

# scale_refusal: vswitchd's reason for exiting during start-up, one line.
scale_refusal() {
  grep -m1 -iE 'RTE_MAX_ETHPORTS|too many|cannot|error|refused' "$VS_D/vswitchd.log" ||
    tail -n 1 "$VS_D/vswitchd.log"
}

# scale_quiet: waits (at most 60 s) until the switch received no frame for 2 s. The namespaces'
# kernels send router solicitations and MLD reports for several seconds after their link came
# up, and each is flooded to every other port: that is traffic, not idle.
scale_quiet() {
  local before after
  after=$(vs_metric vswitch_port_rx_packets_total)
  for _ in $(seq 30); do
    before=$after
    sleep 2
    after=$(vs_metric vswitch_port_rx_packets_total)
    [[ $after == "$before" ]] && return 0
  done
  warn "scale: frames still arriving after 60 s; idle measured anyway"
}

# scale_rs_off N: no more router solicitations from bnS001..bnSN. Since RFC 7559 (Linux 4.9) a
# host with no router keeps soliciting with a doubling interval up to an hour: a namespace sends
# about one a minute in its first minutes, which at 256 ports is 25 frames a second, each flooded
# to 255 TAPs (ff02::2 is link-local scope, which a switch floods, snooping or not). Turning it
# off now is what an hour of uptime does; the interval already running stops at its next tick.
# Only on the ports' own devices: the next rep's TAPs start from the default again.
scale_rs_off() {
  local i
  for i in $(seq "$1"); do
    ip netns exec "$(scale_ns "$i")" sh -c \
      'for f in /proc/sys/net/ipv6/conf/*/router_solicitations; do
         case $f in */default/* | */all/*) ;; *) echo 0 >"$f" ;; esac
       done'
  done
}

# scale_window SYSTEM REP TAG NAME WHAT: the CPU of the workers and of vswitchd over
# SCALE_IDLE_S, and the frames the switch received meanwhile, recorded as TAG NAME_*; WHAT says
# what the window is. Prints the workers' CPU in % of a core each.
scale_window() {
  local sys=$1 rep=$2 tag=$3 name=$4 what=$5 rx0 all workers
  rx0=$(vs_metric vswitch_port_rx_packets_total)
  cpu_begin
  sleep "$SCALE_IDLE_S"
  read -r all workers _ _ <<<"$(cpu_end)"
  record "$sys" "$rep" scale "${tag}${name}_frames" "$(($(vs_metric vswitch_port_rx_packets_total) - rx0))" "frames received, $what"
  record "$sys" "$rep" scale "${tag}${name}_worker_cpu_pct" "$(calc "100 * $workers / $SCALE_IDLE_S / $SCALE_WORKERS")" "% of a core per worker, $what"
  record "$sys" "$rep" scale "${tag}${name}_workers_cpu_pct" "$(calc "100 * $workers / $SCALE_IDLE_S")" "% of a core, all $SCALE_WORKERS workers together, $what"
  record "$sys" "$rep" scale "${tag}${name}_vswitchd_cpu_pct" "$(calc "100 * ($all - $workers) / $SCALE_IDLE_S")" "% of a core, vswitchd, $what"
  calc "100 * $workers / $SCALE_IDLE_S / $SCALE_WORKERS"
}

# scale_fds PID: "FDS URINGS" of a process.
scale_fds() {
  local fds urings
  fds=$(find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
  urings=$(find "/proc/$1/fd" -mindepth 1 -maxdepth 1 -lname 'anon_inode:\[io_uring\]' 2>/dev/null | wc -l)
  echo "$fds $urings"
}

# scale_restarts SYSTEM REP TAG: kills a worker SCALE_KILLS times (0.6 s apart, each once every
# worker is up) and records each restart's start-up from its own log line: exec to forwarding
# (issue #21: ≤ 50 ms median), and how much of it the main thread ran and waited for a CPU.
scale_restarts() {
  local sys=$1 rep=$2 tag=$3 k=0 pid line ms cpu waited
  for _ in $(seq "$SCALE_KILLS"); do
    for _ in $(seq 150); do
      [[ $(vs_metric vswitch_worker_up) == "$SCALE_WORKERS" ]] && break
      sleep 0.1
    done
    pid=$(worker_pids | head -n 1)
    [[ -n $pid ]] || die "scale: no worker to restart"
    kill -KILL "$pid"
    sleep 0.6
  done
  for _ in $(seq 150); do
    [[ $(vs_metric vswitch_worker_up) == "$SCALE_WORKERS" ]] && break
    sleep 0.1
  done
  [[ $(vs_metric vswitch_worker_up) == "$SCALE_WORKERS" ]] || die "scale: workers not all up after the restarts"
  while read -r line; do
    k=$((k + 1))
    ms=$(sed -E 's/.*forwarding ([0-9]+) ms after start.*/\1/' <<<"$line")
    cpu=$(sed -E 's/.*on a CPU ([0-9.]+) ms.*/\1/' <<<"$line")
    waited=$(sed -E 's/.*waiting for one ([0-9.]+) ms.*/\1/' <<<"$line")
    record "$sys" $(((rep - 1) * SCALE_KILLS + k)) scale "${tag}worker_start_ms" "$ms" "ms (main entry to forwarding, a restarted worker's log)"
    record "$sys" $(((rep - 1) * SCALE_KILLS + k)) scale "${tag}worker_start_cpu_ms" "$cpu" "ms of it its main thread ran"
    record "$sys" $(((rep - 1) * SCALE_KILLS + k)) scale "${tag}worker_start_wait_ms" "$waited" "ms of it its main thread waited for a CPU"
  done < <(grep 'forwarding [0-9]* ms after start.*waiting for one' "$VS_D/vswitchd.log" | tail -n "$SCALE_KILLS")
  ((k == SCALE_KILLS)) || die "scale: $k start-up lines for $SCALE_KILLS restarts in vswitchd.log"
  log "scale rep $rep: worker restarts at $SCALE_PORTS_UP ports: $(grep -o 'forwarding [0-9]* ms after start' "$VS_D/vswitchd.log" | tail -n "$SCALE_KILLS" | awk '{printf "%s ", $2}')ms"
}

# scale_sample: "HUGEPAGES_MIB HEAP_MIB RSS_MIB" of the running switch.
scale_sample() {
  # shellcheck disable=SC2046
  echo "$(( ($(hugepages_used) - SCALE_HP0) * 2 )) $(calc "$(vs_metric vswitch_dpdk_heap_allocated_bytes)/1048576") $(calc "$(vmhwm_kib $(switch_pids))/1024")"
}

# scale_shape SYSTEM DRIVER PORTS QUEUES: the ports part for one shape; metrics are prefixed
# "pPORTSxQUEUES_" (the shape asked for, even if fewer ports loaded).
scale_shape() {
  local sys=$1 driver=$2 n=$3 tag="p$3x$4_" rep msg base hp heap rss idle w fds
  SCALE_QUEUES=$4
  scale_namespaces "$n"
  SCALE_HP0=$(hugepages_used)
  # The baseline: 2 ports of this shape.
  scale_config "$VS_D/scale-2.toml" "$driver" 2
  scale_start 2 || die "scale: vswitchd refused 2 ports x $4 queues: $(scale_refusal)"
  sleep 1
  base=$(scale_sample)
  vs_stop
  while :; do
    scale_config "$VS_D/scale-$n.toml" "$driver" "$n"
    scale_start "$n" && break
    msg=$(scale_refusal)
    log "scale: vswitchd refused $n ports x $4 queues: $msg"
    echo "$n ports x $4 queues refused: $msg" >>"$RAW/$sys.scale-notes"
    grep -q "^$sys,1,scale,${tag}ports_refused," "$RAW/data.csv" 2>/dev/null ||
      record "$sys" 1 scale "${tag}ports_refused" "$n" "ports (the first count vswitchd refused)"
    vs_stop
    n=$((n / 2))
    ((n > 2)) || die "scale: vswitchd refused even 3 ports x $4 queues: $msg"
  done
  for rep in $(rep_range); do
    ((rep == REP_BASE + 1)) || scale_start "$n" || die "scale: vswitchd did not start (rep $rep): $(scale_refusal)"
    record "$sys" "$rep" scale "${tag}ports" "$n" "ports x $4 queues, all up, $SCALE_WORKERS workers"
    record "$sys" "$rep" scale "${tag}start_s" "$SCALE_SECS" "s (launch to every port up)"
    record "$sys" "$rep" scale "${tag}pings" "$(scale_ping_range "$n")" "port pairs that ping across the range"
    sleep 1
    read -r hp heap rss <<<"$(scale_sample)"
    read -r -a b <<<"$base"
    record "$sys" "$rep" scale "${tag}hugepages_mib" "$hp" "MiB of hugepages"
    record "$sys" "$rep" scale "${tag}hugepages_per_port_mib" "$(calc "($hp - ${b[0]}) / ($n - 2)")" "MiB per idle port (against 2 ports)"
    record "$sys" "$rep" scale "${tag}heap_mib" "$heap" "MiB of DPDK heap in use"
    record "$sys" "$rep" scale "${tag}heap_per_port_kib" "$(calc "($heap - ${b[1]}) * 1024 / ($n - 2)")" "KiB of heap per idle port"
    record "$sys" "$rep" scale "${tag}vmhwm_mib" "$rss" "MiB (sum of VmHWM)"
    record "$sys" "$rep" scale "${tag}rss_per_port_kib" "$(calc "($rss - ${b[2]}) * 1024 / ($n - 2)")" "KiB of peak RSS per idle port"
    scale_quiet
    idle=$(scale_window "$sys" "$rep" "$tag" idle "idle (the namespaces' own chatter, each frame flooded to every port)")
    # The steady state of a host whose guests have been up a while: no traffic at all.
    scale_rs_off "$n"
    scale_quiet
    scale_window "$sys" "$rep" "$tag" quiet "no traffic (router solicitations off)" >/dev/null
    read -r -a fds <<<"$(scale_fds "$VS_PID")"
    record "$sys" "$rep" scale "${tag}fds" "${fds[0]}" "fds of vswitchd (${fds[1]} io_urings)"
    w=$(worker_pids | head -n 1)
    read -r -a fds <<<"$(scale_fds "$w")"
    record "$sys" "$rep" scale "${tag}worker_fds" "${fds[0]}" "fds of a worker (${fds[1]} io_urings)"
    record "$sys" "$rep" scale "${tag}worker_urings" "${fds[1]}" "io_uring instances of a worker"
    SCALE_PORTS_UP=$n scale_restarts "$sys" "$rep" "$tag"
    log "scale rep $rep: $n ports x $4 queues up in $SCALE_SECS s, idle workers $idle% each"
    vs_stop
  done
}

wl_scale_ports() {
  local sys=$1 driver=$2 shape
  for shape in $SCALE_SHAPES; do
    scale_shape "$sys" "$driver" "${shape%x*}" "${shape#*x}"
  done
}

# scale_fill: SCALE_FDB frames from bnA to bnB, each from its own source MAC (02:00:00:xx:xx:xx).
scale_fill() {
  local da
  da=$(in_ns "$NS_B" cat "/sys/class/net/$IF_B/address")
  cat >"$RAW/fdb-fill.cfg" <<EOF
/* written by bench/run: $SCALE_FDB source MACs, one frame each */
{
  eth(daddr=$da, saddr=02:00:00:00:00:00, saddr=dinc(0, $((SCALE_FDB - 1)))),
  ipv4(saddr=$IP_A, daddr=$IP_B, ttl=64),
  udp(sport=5001, dport=9),
  fill(0x00, 18)
}
EOF
  in_ns "$NS_A" trafgen --dev "$IF_A" --conf "$RAW/fdb-fill.cfg" -P 1 --no-sock-mem -b 100000pps \
    -n "$SCALE_FDB" >"$RAW/fdb-fill.log" 2>&1 8>&- ||
    die "scale: the FDB fill (trafgen) failed: $(tail -n 3 "$RAW/fdb-fill.log" | tr '\n' ' ')"
}

wl_scale_fdb() {
  local sys=$1 driver=$2 pass t0 entries
  VS_SWITCH_EXTRA="fdb_max_entries = $((SCALE_FDB + 1024))"$'\n'"fdb_aging_s = 3600" setup_vswitch "$driver"
  wait_path
  wl_u64 "$sys" "$U64_RATE" fdb_empty_rate
  wl_u64 "$sys" max fdb_empty_max
  t0=$(now_ns)
  for pass in 1 2 3 4 5; do   # a learn event lost to a full ring is learned on the next pass
    scale_fill
    sleep 1
    entries=$(vs_metric vswitch_fdb_entries)
    ((entries >= SCALE_FDB)) && break
    log "scale: FDB at $entries entries after fill pass $pass"
  done
  ((entries >= SCALE_FDB)) || die "scale: the FDB holds $entries entries, not $SCALE_FDB, after 5 passes"
  record "$sys" 1 scale fdb_entries "$entries" entries
  record "$sys" 1 scale fdb_fill_s "$(calc "($(now_ns) - $t0) / 1e9")" "s ($pass passes)"
  wl_u64 "$sys" "$U64_RATE" fdb_full_rate
  wl_u64 "$sys" max fdb_full_max
  entries=$(vs_metric vswitch_fdb_entries)
  ((entries >= SCALE_FDB)) || die "scale: the FDB shrank to $entries entries during the runs"
  log "scale: FDB of $entries entries: measured"
  vs_stop
}

wl_scale() {
  [[ $SW_KIND == vswitch ]] || return 0
  vs_stop   # the system's own vswitchd: the EAL prefix is the same
  wl_scale_ports "$1" "$VS_DRIVER"
  wl_scale_fdb "$1" "$VS_DRIVER"
}
