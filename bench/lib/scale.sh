# shellcheck shell=bash
# The scale workload (full run, vswitch systems only; it runs last, after the kill workload).
# DESIGN.md: "64 ports x 4 queues and 100k FDB entries load without error; rate with a full FDB
# within 10% of an empty one".
#
# 1. Ports: vswitchd is started on SCALE_PORTS ports x SCALE_QUEUES queues, each port a TAP in its
#    own namespace (bnS01...). If vswitchd refuses that many (Debian's DPDK is built with
#    RTE_MAX_ETHPORTS = 32), its message is recorded and the most ports it accepts are measured
#    instead. Per rep: the time from launch until every port's link is up and the worker forwards,
#    the switch processes' peak RSS, hugepages and vswitchd's fds; then a ping across the first
#    and the last port proves the ports forward.
# 2. FDB: the usual two VMs, with fdb_max_entries = SCALE_FDB. The 64 B fixed-rate and max-rate
#    runs (wl_u64) are measured with the FDB empty, then SCALE_FDB source MACs are learned from
#    bnA (trafgen, one frame per MAC), and the runs are repeated with the FDB full.

SCALE_PORTS=${BENCH_SCALE_PORTS:-64}
SCALE_QUEUES=${BENCH_SCALE_QUEUES:-4}
SCALE_FDB=${BENCH_SCALE_FDB:-100000}

scale_ns() { printf 'bnS%02d' "$1"; }

# scale_namespaces N: bnS01..bnSN, lo up (idempotent).
scale_namespaces() {
  local i ns
  for i in $(seq "$1"); do
    ns=$(scale_ns "$i")
    bench_namespaces | grep -qx "$ns" || ip netns add "$ns"
    ip -n "$ns" link set lo up
  done
}

# scale_config FILE DRIVER NPORTS: NPORTS ports of SCALE_QUEUES queues, 10.202.0.I/24 each.
scale_config() {
  local file=$1 driver=$2 n=$3 i
  vs_daemon_config "$VS_D/scale-run"
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
      echo "addresses = [\"10.202.0.$i/24\"]"
    done
  } >>"$VS_CONFIG"
  cp "$VS_CONFIG" "$file"
}

# scale_start NPORTS: launches vswitchd on the scale config; sets SCALE_SECS to the seconds until
# every port is up and the worker forwards. Returns 1 if vswitchd exits during start-up.
scale_start() {
  local n=$1 t0 up=0
  t0=$(now_ns)
  vs_launch || return 1
  for _ in $(seq 600); do
    up=$(vs_metric vswitch_port_link_up)
    [[ ${up:-0} -ge $n && $(vs_metric vswitch_worker_up) == "$VS_WORKERS" ]] && break
    sleep 0.05
  done
  [[ ${up:-0} -ge $n ]] || die "scale: $up of $n ports up 30 s after vswitchd was ready"
  SCALE_SECS=$(calc "($(now_ns) - $t0) / 1e9")
}

# scale_ping FROM TO: one VM of the scale switch reaches another (ARP first, so retries).
scale_ping() {
  local i
  for i in $(seq 10); do
    in_ns "$(scale_ns "$1")" ping -q -c 1 -W 1 "10.202.0.$2" >/dev/null 2>&1 && return 0
    sleep 0.3
  done
  die "scale: bnS$1 cannot ping 10.202.0.$2 through the switch"
}

# scale_refusal: vswitchd's reason for exiting during start-up, one line.
scale_refusal() {
  grep -m1 -iE 'RTE_MAX_ETHPORTS|cannot|error|refused' "$VS_D/vswitchd.log" ||
    tail -n 1 "$VS_D/vswitchd.log"
}

wl_scale_ports() {
  local sys=$1 driver=$2 n=$SCALE_PORTS rep hp0 msg limit
  scale_namespaces "$n"
  hp0=$(hugepages_used)
  # The most ports vswitchd accepts, from SCALE_PORTS down: DPDK's port limit (it says which), or
  # halving for anything else (the mbuf pools: an rtap rx queue reserves 8704 mbufs).
  while :; do
    scale_config "$VS_D/scale-$n.toml" "$driver" "$n"
    scale_start "$n" && break
    msg=$(scale_refusal)
    log "scale: vswitchd refused $n ports x $SCALE_QUEUES queues: $msg"
    echo "$n ports x $SCALE_QUEUES queues refused: $msg" >>"$RAW/$sys.scale-notes"
    grep -q "^$sys,1,scale,ports_refused," "$RAW/data.csv" 2>/dev/null ||
      record "$sys" 1 scale ports_refused "$n" "ports (the first count vswitchd refused)"
    vs_stop
    limit=$(grep -o 'RTE_MAX_ETHPORTS = [0-9]*' "$VS_D/vswitchd.log" | head -n 1 | awk '{print $3}' || true)
    if [[ -n $limit ]] && ((limit < n)); then n=$limit; else n=$((n / 2)); fi
    ((n >= 2)) || die "scale: vswitchd refused even 2 ports x $SCALE_QUEUES queues: $msg"
  done
  for rep in $(seq "$REPS"); do
    ((rep == 1)) || scale_start "$n" || die "scale: vswitchd did not start (rep $rep): $(scale_refusal)"
    scale_ping 1 "$n"
    scale_ping "$n" 1
    record "$sys" "$rep" scale ports "$n" "ports x $SCALE_QUEUES queues, all up and forwarding"
    record "$sys" "$rep" scale start_s "$SCALE_SECS" "s (launch to every port up)"
    # shellcheck disable=SC2046
    record "$sys" "$rep" scale vmhwm_mib "$(calc "$(vmhwm_kib $(switch_pids))/1024")" "MiB (sum of VmHWM)"
    record "$sys" "$rep" scale hugepages_mib "$(( ($(hugepages_used) - hp0) * 2 ))" "MiB"
    record "$sys" "$rep" scale fds "$(ls "/proc/$VS_PID/fd" | wc -l)" "fds of vswitchd"
    log "scale rep $rep: $n ports x $SCALE_QUEUES queues up in $SCALE_SECS s"
    vs_stop
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
