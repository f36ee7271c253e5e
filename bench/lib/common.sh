# shellcheck shell=bash
# Helpers of bench/run: logging, packages, the shared "VM" fixture, CPU/memory probes, teardown.
# Every name the benchmark creates starts with "bn" so nothing collides with the tests (vst*),
# scripts/run.sh (vm1/vm2) or another switch on the machine:
#   namespaces bnA, bnB; VM interfaces bnA0 (10.201.0.1/24) and bnB0 (10.201.0.2/24);
#   Linux bridge bnbr0 with veth peers bnAh/bnBh; OVS bridge bnovs0; EAL prefixes bnvs, bnovs.

BENCH_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NS_A=bnA NS_B=bnB IF_A=bnA0 IF_B=bnB0 IP_A=10.201.0.1 IP_B=10.201.0.2 PLEN=24
EAL_PREFIX_VS=bnvs EAL_PREFIX_OVS=bnovs
CLK_TCK=$(getconf CLK_TCK)

log()  { printf '[%s] %s\n' "$(date +%T)" "$*"; }
warn() { printf '[%s] warning: %s\n' "$(date +%T)" "$*" >&2; }
die()  { printf 'error: %s\n' "$*" >&2; exit 1; }
now_ns() { date +%s%N; }

# ensure_packages PKG...: apt-get install --no-install-recommends of the missing ones only.
ensure_packages() {
  local missing=() p
  for p; do
    dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  log "bench: installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q \
    --no-install-recommends "${missing[@]}" >"$RAW/apt.log" 2>&1 ||
    { apt-get -o DPkg::Lock::Timeout=300 update -q >>"$RAW/apt.log" 2>&1 &&
      DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q \
        --no-install-recommends "${missing[@]}" >>"$RAW/apt.log" 2>&1; } ||
    die "apt-get install ${missing[*]} failed (log: $RAW/apt.log)"
}

# record SYSTEM REP WORKLOAD METRIC VALUE UNIT: one row of raw data.
record() {
  [[ -n $5 ]] || die "internal: empty value for $1 $3 $4"
  echo "$1,$2,$3,$4,$5,${6//,/;}" >>"$RAW/data.csv"   # no comma in the unit: plain CSV
}

# rep_range: the rep numbers of this round (--rounds): REP_BASE+1 .. REP_BASE+REPS, so that the
# reps of every round are distinct rows of data.csv.
rep_range() { seq $((${REP_BASE:-0} + 1)) $((${REP_BASE:-0} + REPS)); }

# calc EXPR: floating-point arithmetic with awk (python3 starts too slowly on a loaded machine).
calc() { awk "function max(a, b) { return a > b ? a : b } BEGIN { printf \"%.6g\\n\", ($1) }"; }

in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
ctr() { in_ns "$1" cat "/sys/class/net/$2/statistics/$3"; }   # ctr NS IF rx_packets

# bench_namespaces: every namespace a run can make: the two VMs, the scale workload's bnS* and
# the cross-host systems' host B (bnX).
bench_namespaces() { ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^($NS_A|$NS_B|bnS[0-9]+|bnX)$" || true; }

# vm_namespaces: the two "VMs", empty namespaces with lo up (same for every system; idempotent).
vm_namespaces() {
  local ns
  for ns in "$NS_A" "$NS_B"; do
    bench_namespaces | grep -qx "$ns" || ip netns add "$ns"
    ip -n "$ns" link set lo up
  done
}

# vm_address NS IF IP: address and up an interface that is already in the namespace.
vm_address() {
  ip -n "$1" addr add "$3/$PLEN" dev "$2"
  ip -n "$1" link set dev "$2" up
}

# wait_path: A can ping B (ARP learnt both ways, switch has learnt both MACs); fails loudly.
wait_path() {
  local i
  for i in $(seq 20); do
    if in_ns "$NS_A" ping -q -c 1 -W 1 "$IP_B" >/dev/null 2>&1; then
      in_ns "$NS_B" ping -q -c 3 -i 0.2 -W 1 "$IP_A" >/dev/null 2>&1 || true
      return 0
    fi
    sleep 0.5
  done
  die "no path from $NS_A to $NS_B ($IP_A -> $IP_B) after set-up"
}

# cpu_ticks PID...: utime+stime (all threads) of the processes, in clock ticks. A PID that is gone
# counts 0 (callers re-read the PID list when processes can change).
cpu_ticks() {
  local sum=0 pid f
  for pid; do
    f=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    f=${f##*) }            # after "(comm) ": field 3 onwards
    read -ra a <<<"$f"
    sum=$((sum + a[11] + a[12]))   # fields 14 and 15 (utime, stime)
  done
  echo "$sum"
}

# host_busy_ticks: busy ticks of all CPUs (user+nice+system+irq+softirq+steal) from /proc/stat.
host_busy_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }

# vmhwm_kib PID...: sum of the peak resident set sizes.
vmhwm_kib() {
  local sum=0 pid v
  for pid; do
    v=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null) || continue
    sum=$((sum + ${v:-0}))
  done
  echo "$sum"
}

# hugetlb_kib PID...: the largest hugetlb mapping (Shared_Hugetlb + Private_Hugetlb in smaps) of
# one of the processes; DPDK secondaries map the primary's pages again, so no sum.
hugetlb_kib() {
  local max=0 pid v
  for pid; do
    v=$(awk '/^(Shared|Private)_Hugetlb:/ { s += $2 } END { print s + 0 }' "/proc/$pid/smaps" 2>/dev/null) || continue
    ((v > max)) && max=$v
  done
  echo "$max"
}

hugepages_used() { awk '/HugePages_Total/ {t=$2} /HugePages_Free/ {f=$2} END {print t - f}' /proc/meminfo; }

# track_pid PID: remembered for the teardown (a file, because systems run in subshells).
track_pid() { echo "$1" >>"$RAW/pids"; }

# stop_pid PID [TIMEOUT_S]: SIGTERM, wait, SIGKILL. Only for processes this run started.
stop_pid() {
  local pid=$1 t=${2:-10} i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq $((t * 10))); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  warn "pid $pid still alive ${t} s after SIGTERM; SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  sleep 0.2
}

bench_links() { ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -E '^bn(A|B|S|br|ovs|x)' || true; }

# teardown_all: removes everything this harness can have created. Idempotent, never fails.
teardown_all() {
  set +e
  declare -F teardown_systems >/dev/null && teardown_systems
  if [[ -f $RAW/pids ]]; then
    local pid
    for pid in $(tac "$RAW/pids"); do stop_pid "$pid" 5; done
    : >"$RAW/pids"
  fi
  local l ns
  for l in $(bench_links); do ip link del "$l" 2>/dev/null; done
  for ns in $(bench_namespaces); do ip netns del "$ns" 2>/dev/null; done
  rm -f /dev/hugepages/"$EAL_PREFIX_VS"map_* /dev/hugepages/"$EAL_PREFIX_OVS"map_* 2>/dev/null
  rm -rf "/var/run/dpdk/$EAL_PREFIX_VS" "/var/run/dpdk/$EAL_PREFIX_OVS" 2>/dev/null
  rm -f /dev/shm/bn-capture-*.pcapng /tmp/bn-capture-*.pcapng 2>/dev/null   # the capture workload's files
  # veth peers and TAPs disappear asynchronously after their namespace is gone
  local i
  for i in $(seq 30); do [[ -z $(bench_links) ]] && break; sleep 0.1; done
  set -e
}

# check_leftovers: prints and fails on anything of ours still on the machine.
check_leftovers() {
  local left
  left=$(
    bench_links | sed 's/^/link /'
    bench_namespaces | sed 's/^/netns /'
    ls /dev/hugepages 2>/dev/null | grep -E "^($EAL_PREFIX_VS|$EAL_PREFIX_OVS)map_" | sed 's/^/hugepage file /'
    for d in "$EAL_PREFIX_VS" "$EAL_PREFIX_OVS"; do [[ -e /var/run/dpdk/$d ]] && echo "dir /var/run/dpdk/$d"; done
    ls /dev/shm/bn-capture-*.pcapng /tmp/bn-capture-*.pcapng 2>/dev/null | sed 's/^/capture file /'
    if [[ -s ${RAW:-/nonexistent}/pids ]]; then
      for pid in $(cat "$RAW/pids"); do kill -0 "$pid" 2>/dev/null && echo "process $pid"; done
    fi
    true
  )
  [[ -z $left ]] && return 0
  printf 'leftover: %s\n' "$left" >&2
  return 1
}
