# shellcheck shell=bash
# Set-up and teardown of each kind of system. A kind provides:
#   setup_<kind> ARG      build the data path between the namespaces bnA and bnB; die on failure,
#                         or write "NOT-AVAILABLE: <reason>" to $RAW/<system>.status and exit 0
#   switch_pids           the PIDs of the switch's processes now ("" for the kernel)
#   worker_pids           the forwarding processes among them (vswitch only)
#   teardown_systems      (shared) stops whatever any kind started; idempotent
# The VM side is always the same: namespaces bnA/bnB with bnA0 10.201.0.1/24 and bnB0 10.201.0.2/24.

SW_KIND=""

# ---------------------------------------------------------------------------------------------
# Linux bridge + veth
# ---------------------------------------------------------------------------------------------
setup_bridge() {
  local offloads=$1 v
  SW_KIND=bridge
  vm_namespaces
  ip link add bnbr0 type bridge stp_state 0
  ip link set bnbr0 up
  for v in A B; do
    ip link add "bn${v}0" netns "bn$v" type veth peer name "bn${v}h"
    ip link set "bn${v}h" master bnbr0
    ip link set "bn${v}h" up
  done
  if [[ $offloads == off ]]; then
    for v in A B; do
      ethtool -K "bn${v}h" tso off gso off gro off tx off rx off >/dev/null
      in_ns "bn$v" ethtool -K "bn${v}0" tso off gso off gro off tx off rx off >/dev/null
    done
  fi
  vm_address "$NS_A" "$IF_A" "$IP_A"
  vm_address "$NS_B" "$IF_B" "$IP_B"
}

# ---------------------------------------------------------------------------------------------
# Open vSwitch, userspace datapath: "dpdk" (ovs-vswitchd-dpdk, net_tap ports) or "plain"
# (ovs-vswitchd without DPDK, type=tap ports). Started by hand (no systemd): own ovsdb-server,
# every file under $RAW/ovs-<mode> (OVS_RUNDIR etc.), so nothing touches /var/run/openvswitch.
# ---------------------------------------------------------------------------------------------
OVS_DPDK_BIN=/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk
OVS_PLAIN_BIN=/usr/lib/openvswitch-switch/ovs-vswitchd
OVS_PMD_MASK=0x2      # 1 PMD thread, on core 1 (like our worker)
OVS_PMDS=1

ovs_dir() { echo "$RAW/ovs-$1"; }
vsctl() { OVS_RUNDIR=$OVS_D ovs-vsctl --db="unix:$OVS_D/db.sock" --timeout=30 "$@"; }

ovs_wait_file() {   # ovs_wait_file PATH PID WHAT
  local i
  for i in $(seq 150); do
    [[ -e $1 ]] && return 0
    kill -0 "$2" 2>/dev/null || die "$3 exited during start-up (log: ${1%/*})"
    sleep 0.1
  done
  die "$3 not up after 15 s"
}

setup_ovs() {
  local mode=$1 bin pidA pidB v port ifc err i
  SW_KIND=ovs
  OVS_MODE=$mode
  OVS_D=$(ovs_dir "$mode")
  export OVS_RUNDIR=$OVS_D OVS_LOGDIR=$OVS_D OVS_DBDIR=$OVS_D OVS_SYSCONFDIR=$OVS_D
  rm -rf "$OVS_D"
  mkdir -p "$OVS_D"
  if [[ $mode == dpdk ]]; then bin=$OVS_DPDK_BIN; else bin=$OVS_PLAIN_BIN; fi
  [[ -x $bin ]] || die "$bin missing (package openvswitch-switch${mode/plain/}${mode/dpdk/-dpdk})"
  [[ $mode != dpdk ]] || ls /usr/lib/x86_64-linux-gnu/dpdk/pmds-*/librte_net_tap.so* >/dev/null 2>&1 ||
    die "DPDK net_tap PMD plugin missing (package librte-net-tap23)"
  vm_namespaces
  ovsdb-tool create "$OVS_D/conf.db" /usr/share/openvswitch/vswitch.ovsschema
  ovsdb-server "$OVS_D/conf.db" --remote="punix:$OVS_D/db.sock" --pidfile="$OVS_D/ovsdb-server.pid" \
    --unixctl="$OVS_D/ovsdb-server.ctl" --log-file="$OVS_D/ovsdb-server.log" >/dev/null 2>&1 8>&- &
  pidA=$!
  track_pid "$pidA"
  echo "$pidA" >"$OVS_D/ovsdb.pid.bench"
  ovs_wait_file "$OVS_D/db.sock" "$pidA" ovsdb-server
  vsctl --no-wait init
  if [[ $mode == dpdk ]]; then
    vsctl --no-wait set Open_vSwitch . other_config:dpdk-init=true \
      other_config:dpdk-lcore-mask=0x1 other_config:pmd-cpu-mask=$OVS_PMD_MASK \
      other_config:dpdk-socket-mem=256 \
      other_config:dpdk-extra="--no-pci --file-prefix=$EAL_PREFIX_OVS --iova-mode=va"
  fi
  "$bin" "unix:$OVS_D/db.sock" --pidfile="$OVS_D/ovs-vswitchd.pid" --unixctl="$OVS_D/ovs-vswitchd.ctl" \
    --log-file="$OVS_D/ovs-vswitchd.log" >"$OVS_D/ovs-vswitchd.out" 2>&1 8>&- &
  pidB=$!
  track_pid "$pidB"
  echo "$pidB" >"$OVS_D/vswitchd.pid.bench"
  ovs_wait_file "$OVS_D/ovs-vswitchd.ctl" "$pidB" "ovs-vswitchd ($bin)"
  vsctl add-br bnovs0 -- set Bridge bnovs0 datapath_type=netdev
  if [[ $mode == dpdk ]]; then
    [[ $(vsctl get Open_vSwitch . dpdk_initialized) == true ]] ||
      die "OVS-DPDK: DPDK not initialized (log: $OVS_D/ovs-vswitchd.log)"
  fi
  i=0
  for v in A B; do
    ifc=bn${v}0
    if [[ $mode == dpdk ]]; then
      port=p$v
      # net_tap asks for rxq == txq; OVS uses txq = PMDs + 1, so n_rxq = PMDs + 1.
      vsctl add-port bnovs0 "$port" -- set Interface "$port" type=dpdk \
        "options:dpdk-devargs=net_tap$i,iface=$ifc" options:n_rxq=$((OVS_PMDS + 1))
    else
      port=$ifc
      vsctl add-port bnovs0 "$port" -- set Interface "$port" type=tap
    fi
    err=$(vsctl get Interface "$port" error 2>/dev/null || true)
    [[ -z $err || $err == '[]' ]] || die "OVS ($mode): port $port refused: $err"
    [[ $(vsctl get Interface "$port" ofport) -gt 0 ]] ||
      die "OVS ($mode): port $port has no OpenFlow port (log: $OVS_D/ovs-vswitchd.log)"
    for _ in $(seq 50); do ip link show "$ifc" >/dev/null 2>&1 && break; sleep 0.1; done
    ip link show "$ifc" >/dev/null 2>&1 || die "OVS ($mode): netdev $ifc did not appear"
    ip link set "$ifc" netns "bn$v"
    i=$((i + 1))
  done
  vm_address "$NS_A" "$IF_A" "$IP_A"
  vm_address "$NS_B" "$IF_B" "$IP_B"
}

teardown_ovs() {
  local mode d pid
  for mode in dpdk plain; do
    d=$(ovs_dir "$mode")
    [[ -d $d ]] || continue
    if [[ -S $d/ovs-vswitchd.ctl ]]; then
      OVS_RUNDIR=$d timeout 15 ovs-appctl -t "$d/ovs-vswitchd.ctl" exit --cleanup >/dev/null 2>&1
    fi
    for pid in $(cat "$d/vswitchd.pid.bench" "$d/ovsdb.pid.bench" 2>/dev/null); do stop_pid "$pid" 10; done
    rm -f "$d/vswitchd.pid.bench" "$d/ovsdb.pid.bench" "$d/db.sock" "$d"/*.ctl
  done
  # the netdev datapath's own TAPs (persistent): our bridge, and ovs-netdev if no other OVS is
  # running on the machine (it is shared by every netdev datapath of one host).
  ip link del bnovs0 2>/dev/null
  if ip link show ovs-netdev >/dev/null 2>&1 && ! pgrep -x ovs-vswitchd >/dev/null &&
    ! pgrep -x ovs-vswitchd-dp >/dev/null; then   # comm is cut at 15 characters
    ip link del ovs-netdev 2>/dev/null
  fi
  return 0
}

ovs_pids() { cat "$OVS_D/vswitchd.pid.bench" "$OVS_D/ovsdb.pid.bench" 2>/dev/null; }

# ---------------------------------------------------------------------------------------------
# vswitch (ours): driver "tap" or "rtap". vswitchd on core 0, one worker on core 1.
# The config names the port's netns and addresses; vswitchd does the rest. With "tap" it moves
# net_tap's netdev into the (existing) namespace; with "rtap" net_rtap creates the TAP inside it
# (daemon/port_manager.cpp), and vswitchd turns on LRO/TSO/checksum offloads. The namespaces
# exist before vswitchd starts, so vswitchd does not delete them; teardown_all does.
# ---------------------------------------------------------------------------------------------
VS_D=""
VS_PID=""
VS_METRICS_PORT=""
VS_CONFIG=""
VS_DRIVER=""
VS_WORKERS=${VS_WORKERS:-1}

# vs_daemon_config RUNTIME_DIR: starts a new $VS_CONFIG with the [daemon] table (a free metrics
# port each time). One worker runs on core 1; several go without worker_cores (its cores must be
# distinct), so the EAL puts them all on the cores other than main_core, i.e. core 1.
# VS_DAEMON_EXTRA adds lines to the table.
vs_daemon_config() {
  for _ in $(seq 20); do
    VS_METRICS_PORT=$((30000 + RANDOM % 10000))
    ss -Htln "sport = :$VS_METRICS_PORT" | grep -q . || break
  done
  VS_CONFIG=$VS_D/vswitch.toml
  {
    echo "# written by bench/run"
    echo "[daemon]"
    echo "file_prefix = \"$EAL_PREFIX_VS\""
    echo "workers = $VS_WORKERS"
    echo "main_core = 0"
    ((VS_WORKERS > 1)) || echo "worker_cores = [1]"
    echo "metrics_listen = \"127.0.0.1:$VS_METRICS_PORT\""
    echo "runtime_dir = \"$1\""
    [[ -z ${VS_DAEMON_EXTRA:-} ]] || echo "$VS_DAEMON_EXTRA"
    echo
  } >"$VS_CONFIG"
}

# vs_launch: starts vswitchd on $VS_CONFIG and waits until it is ready and its workers forward.
# Returns 1 if vswitchd exits during start-up (its log: $VS_D/vswitchd.log); dies on a time-out.
vs_launch() {
  "$VS_BIN/vswitchd" --config "$VS_CONFIG" >"$VS_D/vswitchd.log" 2>&1 8>&- &
  VS_PID=$!
  track_pid "$VS_PID"
  echo "$VS_PID" >"$VS_D/vswitchd.pid.bench"
  for _ in $(seq 400); do
    grep -q "vswitchd: ready" "$VS_D/vswitchd.log" && break
    if ! kill -0 "$VS_PID" 2>/dev/null; then
      wait "$VS_PID" 2>/dev/null || true
      return 1
    fi
    sleep 0.05
  done
  grep -q "vswitchd: ready" "$VS_D/vswitchd.log" || die "vswitchd not ready after 20 s (log: $VS_D/vswitchd.log)"
  [[ -n $(worker_pids) ]] || die "vswitchd is ready but no vswitch-worker runs"
  for _ in $(seq 100); do
    [[ $(vs_metric vswitch_worker_up) == "$VS_WORKERS" ]] && return 0
    sleep 0.1
  done
  die "vswitch_worker_up is not $VS_WORKERS after 10 s"
}

# vs_stop: stops the running vswitchd (SIGTERM; it stops its workers and removes its TAPs).
vs_stop() {
  [[ -n $VS_PID ]] || return 0
  stop_pid "$VS_PID" 15
  wait "$VS_PID" 2>/dev/null || true
  rm -f "$VS_D/vswitchd.pid.bench"
  VS_PID=""
}

# vs_vm_switch DRIVER QUEUES: appends the switch "bench" with the two VMs' ports to $VS_CONFIG.
# VS_SWITCH_EXTRA adds lines to the [[switch]] table, VS_PORT_EXTRA to each [[switch.port]] (the
# per-port policy's cost, e.g. VS_PORT_EXTRA='allowed_ips = ["10.0.0.0/8"]': the anti-spoofing
# checks on every frame, all passing), VS_PORT_EXTRA_A / VS_PORT_EXTRA_B to bnA0's / bnB0's only
# (the policy workload).
vs_vm_switch() {
  local driver=$1 queues=$2 v i
  {
    echo "[[switch]]"
    echo "name = \"bench\""
    [[ -z ${VS_SWITCH_EXTRA:-} ]] || echo "$VS_SWITCH_EXTRA"
    for v in A B; do
      if [[ $v == A ]]; then i=$IP_A; else i=$IP_B; fi
      echo
      echo "[[switch.port]]"
      echo "name = \"bn${v}0\""
      echo "driver = \"$driver\""
      echo "queues = $queues"
      echo "netns = \"bn$v\""
      echo "addresses = [\"$i/$PLEN\"]"
      [[ -z ${VS_PORT_EXTRA:-} ]] || echo "$VS_PORT_EXTRA"
      local one="VS_PORT_EXTRA_$v"
      [[ -z ${!one:-} ]] || echo "${!one}"
    done
  } >>"$VS_CONFIG"
}

# setup_vswitch DRIVER: the two VMs on one switch, one queue each (VS_SWITCH_EXTRA: vs_vm_switch).
setup_vswitch() {
  local driver=$1 msg
  SW_KIND=vswitch
  VS_DRIVER=$driver
  VS_D=$RAW/vswitch-$driver
  if [[ $SYSTEM == vs-rtap-b ]]; then
    VS_D=$RAW/vswitch-$driver-b
    # shellcheck disable=SC2086 # NAME=VALUE words, checked by bench/run
    export ${BENCH_B_ENV:?}   # run_system runs in a subshell: only this system sees them
  fi
  mkdir -p "$VS_D"
  vm_namespaces
  vs_daemon_config "$VS_D/run"
  vs_vm_switch "$driver" 1
  vs_launch && return 0
  msg=$(grep -iE 'error|refused|not available|cannot' "$VS_D/vswitchd.log" | head -n 3 |
        tr '\n' ' ' | sed 's/ *$//')
  [[ -n $msg ]] || msg=$(tail -n 3 "$VS_D/vswitchd.log" | tr '\n' ' ')
  # The documented exception: a driver vswitchd refuses (a build without it: 'driver "X" is
  # not available', or a config schema without it: 'driver must be ...') is "not available",
  # not a failure. Any other exit, with any driver (rtap included), is a FAILED system.
  if [[ $driver != tap ]] &&
    grep -qE "driver \"$driver\" is not available|\": driver must be " "$VS_D/vswitchd.log"; then
    msg=$(grep -hE "driver \"$driver\" is not available|\": driver must be " "$VS_D/vswitchd.log" |
          head -n 1)
    echo "NOT-AVAILABLE: vswitchd refused driver \"$driver\": $msg" >"$RAW/$SYSTEM.status"
    log "not available: vswitchd refused driver \"$driver\": $msg"
    exit 0   # run_system runs in a subshell whose EXIT trap tears down
  fi
  die "vswitchd exited during start-up: $msg (log: $VS_D/vswitchd.log)"
}

teardown_vswitch() {
  local d pid
  for d in "$RAW"/vswitch-*; do
    [[ -f $d/vswitchd.pid.bench ]] || continue
    for pid in $(cat "$d/vswitchd.pid.bench"); do stop_pid "$pid" 15; done
    rm -f "$d/vswitchd.pid.bench"
  done
  return 0
}

vs_scrape() { curl -sf --max-time 5 "http://127.0.0.1:$VS_METRICS_PORT/metrics"; }
# vs_metric NAME [SUBSTRING]: the sum of the samples of NAME (whose line contains SUBSTRING).
vs_metric() {
  vs_scrape | awk -v name="$1" -v f="${2:-}" '
    $0 ~ "^" name "[{ ]" && index($0, f) { s += $NF; n++ }
    END { if (n) printf "%.0f\n", s; else print "" }'
}

# ---------------------------------------------------------------------------------------------
# The TAP floor (issue #22): bench/relay/vnet_relay.cpp, two TAPs with the vnet header and
# offloads (as net_rtap opens them), one blocking read -> write thread per direction, pinned to
# core 1 like our worker, no switching. Its CPU per Gbit and per frame is what any switch that
# reads and writes TAPs must pay; report.py sets vswitch's worker against it.
# ---------------------------------------------------------------------------------------------
RELAY_PID=""
setup_relay() {
  local out=$RAW/relay.out i
  SW_KIND=relay
  vm_namespaces
  taskset -c 1 "$VS_BIN/vnet_relay" "$IF_A" "$IF_B" >"$out" 2>"$RAW/relay.err" 8>&- &
  RELAY_PID=$!
  track_pid "$RELAY_PID"
  for i in $(seq 100); do
    grep -qx ready "$out" && break
    kill -0 "$RELAY_PID" 2>/dev/null || die "vnet_relay exited: $(cat "$RAW/relay.err")"
    sleep 0.05
  done
  grep -qx ready "$out" || die "vnet_relay not ready after 5 s"
  # The fds keep working when the netdevs move; the TAPs go when the relay exits.
  ip link set "$IF_A" netns "$NS_A"
  ip link set "$IF_B" netns "$NS_B"
  vm_address "$NS_A" "$IF_A" "$IP_A"
  vm_address "$NS_B" "$IF_B" "$IP_B"
}

# ---------------------------------------------------------------------------------------------
# Across hosts (issue #26): VM A on "host A" (this namespace), VM B on "host B" (namespace bnX),
# one L2 segment joined by VXLAN (VNI 100) over a veth underlay, bnxu0 10.202.0.1 here and bnxu1
# 10.202.0.2 in bnX, MTU 1550 (a 1500-byte frame + 50). Host B is the kernel in every variant: a
# bridge with its VXLAN device and VM B's veth, tx checksum offload off on the VXLAN device (over
# a veth nothing would finish its partial checksums for vswitch's socket: docs/evpn.md). Host A
# is the variant:
#   kernel  bridge + VXLAN device + VM A's veth: the all-kernel anchor
#   uplink  vswitch, VM A on rtap, an rtap uplink port into a bridge with the VXLAN device (step one)
#   vxlan   vswitch, VM A on rtap, a vxlan port on bnxu0 (step two)
# ---------------------------------------------------------------------------------------------
XNS=bnX
XNET=10.202.0

# x_kernel_vtep NS LOCAL REMOTE: in NS ("" = here), bridge bnxbr with VXLAN device bnxv (VNI
# 100, flooding to REMOTE, learning as Linux does by default).
x_kernel_vtep() {
  local -a in=()
  [[ -z $1 ]] || in=(ip netns exec "$1")
  "${in[@]}" ip link add bnxbr type bridge stp_state 0
  "${in[@]}" ip link set bnxbr up
  "${in[@]}" ip link add bnxv type vxlan id 100 local "$2" dstport 4789
  "${in[@]}" ip link set bnxv master bnxbr
  "${in[@]}" ip link set bnxv up
  "${in[@]}" bridge fdb append 00:00:00:00:00:00 dev bnxv dst "$3"
}

# x_vm_veth NS VM_NS VM_IF IP: VM_IF in VM_NS, its peer bnxh in NS ("" = here) on bnxbr.
x_vm_veth() {
  if [[ -z $1 ]]; then
    ip link add "$3" netns "$2" type veth peer name bnxh
    ip link set bnxh master bnxbr
    ip link set bnxh up
  else
    ip link add "$3" netns "$2" type veth peer name bnxh netns "$1"
    ip -n "$1" link set bnxh master bnxbr
    ip -n "$1" link set bnxh up
  fi
  vm_address "$2" "$3" "$4"
}

setup_xhost() {
  local variant=$1
  vm_namespaces
  ip netns add "$XNS"
  ip -n "$XNS" link set lo up
  ip link add bnxu0 mtu 1550 type veth peer name bnxu1 mtu 1550
  ip link set bnxu1 netns "$XNS"
  ip addr add "$XNET.1/24" dev bnxu0
  ip link set bnxu0 up
  ip -n "$XNS" addr add "$XNET.2/24" dev bnxu1
  ip -n "$XNS" link set bnxu1 up
  x_kernel_vtep "$XNS" "$XNET.2" "$XNET.1"
  in_ns "$XNS" ethtool -K bnxv tx off >/dev/null
  x_vm_veth "$XNS" "$NS_B" "$IF_B" "$IP_B"
  case $variant in
    kernel)
      SW_KIND=bridge
      x_kernel_vtep "" "$XNET.1" "$XNET.2"
      x_vm_veth "" "$NS_A" "$IF_A" "$IP_A"
      ;;
    uplink | vxlan)
      SW_KIND=vswitch
      VS_DRIVER=rtap
      VS_D=$RAW/vswitch-x$variant
      mkdir -p "$VS_D"
      [[ $variant == vxlan ]] || x_kernel_vtep "" "$XNET.1" "$XNET.2"
      vs_daemon_config "$VS_D/run"
      x_vs_switch "$variant" >>"$VS_CONFIG"
      vs_launch || die "vswitchd exited during start-up: $(tail -n 3 "$VS_D/vswitchd.log" | tr '\n' ' ')"
      ;;
    *) die "setup_xhost: unknown variant '$variant'" ;;
  esac
}

# x_vs_switch VARIANT: the switch of host A's vswitch: VM A's rtap port and the way out.
x_vs_switch() {
  echo "[[switch]]"
  echo "name = \"bench\""
  echo
  echo "[[switch.port]]"
  echo "name = \"$IF_A\""
  echo "driver = \"rtap\""
  echo "netns = \"$NS_A\""
  echo "addresses = [\"$IP_A/$PLEN\"]"
  echo
  echo "[[switch.port]]"
  if [[ $1 == uplink ]]; then
    echo "name = \"bnxup\""
    echo "driver = \"rtap\""
    echo "uplink = { bridge = \"bnxbr\" }"
  else
    echo "name = \"bnxvs\""
    echo "vxlan = { vni = 100, local = \"$XNET.1\", underlay = \"bnxu0\", remotes = [\"$XNET.2\"] }"
  fi
}

# ---------------------------------------------------------------------------------------------
# Dispatch
# ---------------------------------------------------------------------------------------------
switch_pids() {
  case $SW_KIND in
    ovs) ovs_pids ;;
    vswitch) echo "$VS_PID"; worker_pids ;;
    relay) echo "$RELAY_PID" ;;
    *) ;;
  esac
}
# has_workers: the system has forwarding processes of its own (vswitch's workers, the relay),
# whose CPU is measured apart from the rest of the switch.
has_workers() { [[ $SW_KIND == vswitch || $SW_KIND == relay ]]; }
worker_pids() {
  case $SW_KIND in
    vswitch) pgrep -P "$VS_PID" -x vswitch-worker || true ;;
    relay) echo "$RELAY_PID" ;;
    *) ;;
  esac
}

teardown_systems() {
  teardown_vswitch
  teardown_ovs
}
