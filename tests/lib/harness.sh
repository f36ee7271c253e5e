# Test harness for integration and fault tests: sourced by tests/{integration,fault}/*.sh.
#
# Every test gets its own names (EAL --file-prefix, interfaces, namespaces, metrics port), so
# nothing collides with a running switch or another test, and a trap removes everything it made
# (processes, TAPs, namespaces, hugepage files, runtime dirs) even when the test fails or is
# interrupted.
set -euo pipefail
# shellcheck source=err_trap.sh
source "$(dirname "${BASH_SOURCE[0]}")/err_trap.sh"

: "${VSWITCH_BIN_DIR:?set by ctest: the directory with vswitchd and vswitch-worker}"
: "${VSWITCH_TEST_TOOLS:?set by ctest: the directory with vs-rawframe}"

T_ID=$(printf '%04x' $(( ($$ + RANDOM) % 65536 )))
T_PREFIX="vst${T_ID}"              # EAL --file-prefix
T_DIR=$(mktemp -d "/tmp/vswitch-test.${T_ID}.XXXX")
# Below the kernel's ephemeral range (32768-60999 by default): a port there can be taken by any
# outgoing connection's local end (a metrics port collided so once).
T_METRICS_PORT=$(( 20000 + ($$ + RANDOM) % 12000 ))
T_PIDS=()
T_NETNS=()
# A second vswitchd's EAL prefixes (its processes, hugepage files and runtime dir go with the
# test's own), and commands run first at clean-up (e.g. stopping FRR: tests/lib/evpn.sh).
T_MORE_PREFIXES=()
T_ON_EXIT=()
T_DAEMON_PID=""

log() { printf '[%s] %s\n' "$(date +%T.%3N)" "$*"; }
fail() {
  log "FAIL: $*"
  if [ -n "$T_DAEMON_PID" ] && scrape >"$T_DIR/metrics-at-failure.txt" 2>/dev/null; then
    log "--- non-zero switch counters at the failure ---"
    grep -E '^vswitch_(port|fdb|worker)[a-z_]*(\{| )' "$T_DIR/metrics-at-failure.txt" |
      grep -v ' 0$' | grep -v -E '_(seconds|bucket|sum|count)' | head -n 60 || true
  fi
  if [ -n "$T_DAEMON_PID" ] && [ -f "$T_DIR/vswitchd.log" ]; then
    log "--- vswitchd log (last 40 lines) ---"
    tail -n 40 "$T_DIR/vswitchd.log" || true
  fi
  exit 1
}
pass() { log "PASS: $*"; }

# Names of the test's "VM" n: namespace and interface. Interface names stay within 15 chars.
vm_ns() { echo "${T_PREFIX}-vm$1"; }
vm_if() { echo "${T_PREFIX}v$1"; }

cleanup() {
  local rc=$?
  set +e
  trap - ERR
  local cmd prefix prefixes=("$T_PREFIX" "${T_MORE_PREFIXES[@]}")
  local any="--file-prefix=($(IFS='|'; echo "${prefixes[*]}"))( |$)"
  for cmd in "${T_ON_EXIT[@]}"; do $cmd; done
  for pid in ${T_DAEMON_PID:+$T_DAEMON_PID} "${T_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null
  done
  for _ in $(seq 100); do
    { [ -n "$T_DAEMON_PID" ] && kill -0 "$T_DAEMON_PID" 2>/dev/null; } ||
      pgrep -f -- "$any" >/dev/null || break
    sleep 0.1
  done
  pkill -KILL -f -- "$any" 2>/dev/null
  pkill -KILL -f -- "--config ${T_DIR}/" 2>/dev/null
  for pid in "${T_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null; done
  for ns in "${T_NETNS[@]}" $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^${T_PREFIX}-"); do
    ip netns del "$ns" 2>/dev/null
  done
  for ifc in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep "^${T_PREFIX}"); do
    ip link del "$ifc" 2>/dev/null
  done
  for prefix in "${prefixes[@]}"; do
    rm -f /dev/hugepages/"${prefix}"map_* 2>/dev/null
    rm -rf "/var/run/dpdk/${prefix}" 2>/dev/null
  done
  # The heartbeat margins of every vswitchd this test ran (issue #28: the longest gap against
  # worker_stall_ms), kept in ctest's LastTest.log for a look across whole suites.
  grep -h "longest heartbeat gap" "$T_DIR"/*.log 2>/dev/null | sed 's/^/[heartbeat] /'
  if [ "$rc" -eq 0 ]; then rm -rf "$T_DIR"; else log "test files kept in $T_DIR"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" -eq 0 ] || { echo "integration tests need root (TAPs, namespaces, hugepages)"; exit 1; }

# Building blocks of a test config: config_daemon FILE [WORKERS] [extra daemon lines...], then
# config_switch FILE NAME [switch lines...] and config_port FILE VM [port lines...] for each port.
# A port is VM n's NIC: interface $(vm_if n) in namespace $(vm_ns n); without an "addresses" line
# it gets 10.77.0.n/24 and fd77::n/64. T_MTU (default 1500) sets its MTU.
config_daemon() {
  local file=$1 workers=${2:-1}
  shift 2 || shift $#
  {
    echo "[daemon]"
    echo "file_prefix = \"${T_PREFIX}\""
    echo "workers = ${workers}"
    echo "metrics_listen = \"127.0.0.1:${T_METRICS_PORT}\""
    echo "runtime_dir = \"${T_DIR}/run\""
    echo "mbufs_per_worker = ${T_MBUFS:-4095}"
    printf '%s\n' "$@" | grep -q '^restart_backoff_ms' || echo "restart_backoff_ms = 10"
    for line in "$@"; do echo "$line"; done
  } >"$file"
}
config_switch() {
  local file=$1 name=$2
  shift 2
  { echo; echo "[[switch]]"; echo "name = \"${name}\""; for line in "$@"; do echo "$line"; done; } >>"$file"
}
config_port() {
  local file=$1 n=$2
  shift 2
  {
    echo
    echo "[[switch.port]]"
    echo "name = \"$(vm_if "$n")\""
    echo "driver = \"${T_DRIVER:-tap}\""
    echo "netns = \"$(vm_ns "$n")\""
    echo "mtu = ${T_MTU:-1500}"
    printf '%s\n' "$@" | grep -q '^addresses' ||
      echo "addresses = [\"10.77.0.${n}/24\", \"fd77::${n}/64\"]"
    for line in "$@"; do echo "$line"; done
  } >>"$file"
  T_NETNS+=("$(vm_ns "$n")")
}

# write_config FILE NPORTS [WORKERS] [extra daemon lines...]: one switch "sw0" with NPORTS ports.
write_config() {
  local file=$1 nports=$2 workers=${3:-1}
  shift 3 || shift $#
  config_daemon "$file" "$workers" "$@"
  config_switch "$file" sw0
  for n in $(seq 1 "$nports"); do config_port "$file" "$n"; done
}

# vm_mac VM: the MAC address of VM n's NIC.
vm_mac() { ip netns exec "$(vm_ns "$1")" cat "/sys/class/net/$(vm_if "$1")/address"; }

# recv_start VM IFACE COUNT TIMEOUT_MS TAG [vs-rawframe options]: starts a vs-rawframe receiver
# in VM's namespace and waits until it listens; its pid is in RECV_PID and its log in
# $T_DIR/recv-TAG-VM.log.
recv_start() {
  local vm=$1 ifc=$2 count=$3 timeout=$4 tag=$5 log
  shift 5
  log="$T_DIR/recv-$tag-$vm.log"
  ip netns exec "$(vm_ns "$vm")" "$VSWITCH_TEST_TOOLS/vs-rawframe" recv "$ifc" "$count" "$timeout" \
    --tag "$tag" "$@" >"$log" 2>&1 &
  RECV_PID=$!
  T_PIDS+=("$RECV_PID")
  for _ in $(seq 100); do grep -q ready "$log" && return 0; sleep 0.02; done
  fail "receiver in vm$vm not ready"
}
# recv_count VM TAG: frames of TAG that VM's receiver got (after it ended).
recv_count() { sed -n 's/.*received=\([0-9]*\).*/\1/p' "$T_DIR/recv-$2-$1.log"; }

# start_daemon CONFIG [vswitchd args...]: starts vswitchd and waits until it says it is ready.
start_daemon() {
  local config=$1
  shift
  "$VSWITCH_BIN_DIR/vswitchd" --config "$config" "$@" >"$T_DIR/vswitchd.log" 2>&1 &
  T_DAEMON_PID=$!
  for _ in $(seq 200); do
    grep -q "vswitchd: ready" "$T_DIR/vswitchd.log" && return 0
    kill -0 "$T_DAEMON_PID" 2>/dev/null || fail "vswitchd exited during start-up"
    sleep 0.05
  done
  fail "vswitchd not ready after 10 s"
}

# stop_daemon [TIMEOUT_S]: SIGTERM, wait, return vswitchd's exit code.
stop_daemon() {
  local timeout=${1:-10} rc=0
  kill -TERM "$T_DAEMON_PID"
  for _ in $(seq $((timeout * 20))); do
    kill -0 "$T_DAEMON_PID" 2>/dev/null || break
    sleep 0.05
  done
  kill -0 "$T_DAEMON_PID" 2>/dev/null && fail "vswitchd still running ${timeout} s after SIGTERM"
  wait "$T_DAEMON_PID" || rc=$?
  T_DAEMON_PID=""
  return "$rc"
}

scrape() { curl -sf --max-time 5 "http://127.0.0.1:${T_METRICS_PORT}/metrics"; }

# metric NAME 'LABEL="v",...': the sum of the samples of NAME whose labels include all given ones.
metric() { scrape | metric_in "$@"; }
# metric_in NAME 'LABEL="v",...': the same, in the exposition text on stdin.
metric_in() {
  local name=$1 filter=${2:-}
  awk -v name="$name" -v filter="$filter" '
    BEGIN { n = split(filter, want, ","); sum = 0 }
    $0 ~ "^" name "[{ ]" {
      ok = 1
      for (i = 1; i <= n; i++) if (want[i] != "" && index($0, want[i]) == 0) ok = 0
      if (ok) sum += $NF
    }
    END { printf "%.0f\n", sum }'
}

# wait_metric NAME FILTER OP VALUE TIMEOUT_S: waits until the metric compares true.
wait_metric() {
  local name=$1 filter=$2 op=$3 want=$4 timeout=${5:-10} got=""
  for _ in $(seq $((timeout * 20))); do
    got=$(metric "$name" "$filter" 2>/dev/null || true)
    if [ -n "$got" ] && [ "$got" "$op" "$want" ]; then return 0; fi
    sleep 0.05
  done
  fail "$name{$filter} = ${got:-<no scrape>}, expected $op $want within ${timeout} s"
}

check() {  # check DESCRIPTION VALUE OP EXPECTED
  local what=$1 got=$2 op=$3 want=$4
  [ "$got" "$op" "$want" ] || fail "$what: got $got, expected $op $want"
  log "ok: $what = $got ($op $want)"
}

worker_pids() { pgrep -f -- "vswitch-worker .*--file-prefix=${T_PREFIX}( |$)" || true; }

# kernel_counter VM rx_packets|tx_packets|...: the TAP netdev's counter inside the VM namespace.
kernel_counter() {
  ip netns exec "$(vm_ns "$1")" cat "/sys/class/net/$(vm_if "$1")/statistics/$2"
}

# ping_ok FROM TO COUNT: pings VM TO from VM FROM over IPv4; returns ping's status.
ping_ok() {
  ip netns exec "$(vm_ns "$1")" ping -q -c "$3" -i 0.05 -W 2 "10.77.0.$2" >"$T_DIR/ping.log" 2>&1
}

rawframe() { "$VSWITCH_TEST_TOOLS/vs-rawframe" "$@"; }

# vm_attach VM IFNAME [MTU]: the "VM" fixture for interfaces made by something else (a DPDK port
# of a test program): creates the VM's namespace, moves IFNAME into it with 10.77.0.VM/24,
# fd77::VM/64 and the MTU, and brings it up. The cleanup trap removes the namespace.
vm_attach() {
  local vm=$1 ifc=$2 mtu=${3:-1500} ns
  ns=$(vm_ns "$vm")
  ip netns add "$ns"
  T_NETNS+=("$ns")
  ip -n "$ns" link set lo up
  ip link set dev "$ifc" netns "$ns"
  ip -n "$ns" link set dev "$ifc" mtu "$mtu"
  ip -n "$ns" addr add "10.77.0.${vm}/24" dev "$ifc"
  ip -n "$ns" addr add "fd77::${vm}/64" dev "$ifc" nodad
  ip -n "$ns" link set dev "$ifc" up
}

# iperf_tcp FROM TO SECONDS [STREAMS]: TCP from VM FROM to VM TO; prints "<bits/s> <bytes>" as
# measured by the receiver.
iperf_tcp() {
  local from=$1 to=$2 secs=$3 streams=${4:-1}
  ip netns exec "$(vm_ns "$to")" iperf3 -s -1 -B "10.77.0.${to}" >"$T_DIR/iperf-server.log" 2>&1 &
  local server=$!
  T_PIDS+=("$server")
  for _ in $(seq 100); do
    ip netns exec "$(vm_ns "$to")" ss -ltn 2>/dev/null | grep -q ":5201 " && break
    sleep 0.02
  done
  ip netns exec "$(vm_ns "$from")" iperf3 -c "10.77.0.${to}" -t "$secs" -P "$streams" -J \
    >"$T_DIR/iperf.json" 2>&1 || fail "iperf3 failed: $(tail -5 "$T_DIR/iperf.json")"
  wait "$server" 2>/dev/null || true
  python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["end"]["sum_received"]; print(int(e["bits_per_second"]), int(e["bytes"]))' "$T_DIR/iperf.json"
}

# wait_gone TIMEOUT_S WHAT CMD...: waits until CMD fails, i.e. WHAT has gone away; fails the test
# naming WHAT if it is still there after TIMEOUT_S. Whatever a test expects to vanish vanishes
# asynchronously: the kernel removes a TAP's netdev after its last fd is released (deferred fput,
# then the unregister under RTNL), a macvtap's /dev/tapN after udev/devtmpfs catch up, and a
# process is reaped by whoever its parent is. A single check right after the cause races with it.
wait_gone() {
  local timeout=$1 what=$2 deadline
  shift 2
  deadline=$(( ${EPOCHREALTIME//[.,]/} + timeout * 1000000 ))
  while "$@" >/dev/null 2>&1; do
    [ "${EPOCHREALTIME//[.,]/}" -lt "$deadline" ] || fail "$what still there ${timeout} s later"
    sleep 0.02
  done
}
# proc_alive PID: PID runs (a zombie that its parent has not reaped yet does not count).
proc_alive() { [ -r "/proc/$1/stat" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }
# tap_gone VM [TIMEOUT_S]: waits until VM n's TAP netdev is gone (5 s by default).
tap_gone() {
  wait_gone "${2:-5}" "TAP $(vm_if "$1") of vm$1" \
    ip netns exec "$(vm_ns "$1")" ip link show "$(vm_if "$1")"
}
# settled_leftovers [TIMEOUT_S]: leftovers, once they are gone or TIMEOUT_S (5) has passed: what
# is still there then.
settled_leftovers() {
  local deadline left
  deadline=$(( ${EPOCHREALTIME//[.,]/} + ${1:-5} * 1000000 ))
  while left=$(leftovers) && [ -n "$left" ] && [ "${EPOCHREALTIME//[.,]/}" -lt "$deadline" ]; do
    sleep 0.05
  done
  printf '%s' "$left"
}

# leftovers: prints anything of this test's prefix still on the machine.
leftovers() {
  pgrep -af -- "--file-prefix=${T_PREFIX}( |$)" || true
  ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | grep "^${T_PREFIX}" || true
  ip netns list 2>/dev/null | grep "^${T_PREFIX}-" || true
  ls /dev/hugepages 2>/dev/null | grep "^${T_PREFIX}map_" || true
  [ -e "/var/run/dpdk/${T_PREFIX}" ] && echo "/var/run/dpdk/${T_PREFIX}" || true
}

# ctl ARGS...: vswitchctl on this test's daemon.
ctl() { "$VSWITCH_BIN_DIR/vswitchctl" --socket "$T_DIR/run/vswitchd.sock" "$@"; }

# worker_pid N: the pid of worker N's process, as vswitchd reports it.
worker_pid() { ctl --json show workers | json_get "j['workers'][$1]['pid']"; }
# worker_field ID "FIELD...": those fields of worker ID, from vswitchctl --json show workers.
worker_field() {
  ctl --json show workers | json_rows id $2 | awk -v w="$1" '$1 == w { $1 = ""; sub(/^ /, ""); print }'
}
# qmap: the worker of every rx queue, port by port, as one string (e.g. "010010").
qmap() { ctl --json show queues | json_rows port queue worker | awk '{ printf "%s", $3 }'; }
# now_ms: the wall clock in ms.
now_ms() { echo $(( ${EPOCHREALTIME//[.,]/} / 1000 )); }

# json_get EXPR: evaluates the Python expression EXPR on the JSON document on stdin (as `j`).
json_get() { python3 -c "import json,sys; j=json.load(sys.stdin); print($1)"; }

# json_rows KEY...: for a JSON document on stdin that lists flat objects (vswitchctl --json show
# queues, show workers), one line per object that has the first KEY: the values of the KEYs,
# space-separated, strings unquoted. awk, not python3: python3 alone takes 1-2 s to start on a
# loaded 2-core machine, too slow for tests that read the queues many times.
json_rows() {
  awk -v keys="$*" '
    function val(key,   s) {
      if (!match($0, "\"" key "\"[ \t\n]*:[ \t\n]*(\"[^\"]*\"|[^],} \t\n]*)")) return ""
      s = substr($0, RSTART, RLENGTH); sub(/^"[^"]*"[ \t\n]*:[ \t\n]*/, "", s); gsub(/"/, "", s)
      return s
    }
    BEGIN { RS = "}"; n = split(keys, k, " ") }
    val(k[1]) != "" { line = val(k[1]); for (i = 2; i <= n; i++) line = line " " val(k[i]); print line }'
}

# witness_start FROM TO [INTERVAL] [NAME]: VM FROM pings VM TO every INTERVAL s (default 0.01)
# until witness_stop [NAME], which prints "SENT RECEIVED MAX_GAP_MS": the requests sent until the
# stop, how many of them got a reply, and the longest time between two replies. TO may also be an
# IPv4 address (VM TO's address in another subnet on the same wire: a new address pair is a new
# flow hash for the TAP's queue choice). Witnesses with different NAMEs run at the same time; the
# ping -D output of each is $(witness_log NAME). Without a NAME the log is $T_DIR/witness.log and
# the pid WITNESS_PID, as before.
declare -gA T_WITNESS_PIDS=()
witness_log() { echo "$T_DIR/witness${1:+-$1}.log"; }
witness_start() {
  local from=$1 to=$2 interval=${3:-0.01} name=${4:-}
  [[ $to == *.* ]] || to="10.77.0.$to"
  ip netns exec "$(vm_ns "$from")" ping -D -i "$interval" -W 1 "$to" >"$(witness_log "$name")" 2>&1 &
  T_WITNESS_PIDS[${name:-.}]=$!
  [ -n "$name" ] || WITNESS_PID=$!
  T_PIDS+=("$!")
}
witness_stop() {
  local name=${1:-} log pid sent="" deadline
  log=$(witness_log "$name")
  pid=${T_WITNESS_PIDS[${name:-.}]:?witness_stop: no witness ${name:-(unnamed)} running}
  # A reply still on its way when ping is stopped would count as lost: SIGQUIT makes ping print
  # "RECEIVED/SENT packets, ..." and go on; the requests sent until then are the ones counted, and
  # their replies get up to 1 s more (ping's -W). Deadlines in time, not in rounds of a loop: on
  # a loaded machine each round's fork can take 100 ms.
  if kill -QUIT "$pid" 2>/dev/null; then
    deadline=$(( ${EPOCHREALTIME//[.,]/} + 2000000 ))
    until sent=$(sed -n 's|.*[0-9]/\([0-9]*\) packets, .*|\1|p' "$log" | tail -n 1); [ -n "$sent" ]; do
      [ "${EPOCHREALTIME//[.,]/}" -lt "$deadline" ] || break
      sleep 0.01
    done
    deadline=$(( ${EPOCHREALTIME//[.,]/} + 1000000 ))
    while [ "$(witness_replies "$log" "${sent:-0}")" -lt "${sent:-0}" ] &&
      [ "${EPOCHREALTIME//[.,]/}" -lt "$deadline" ]; do
      sleep 0.01
    done
  fi
  kill -INT "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  # Often called in a subshell ($(...), < <(...)), whose wait cannot wait for the ping: wait for
  # the summary it prints when it ends instead.
  deadline=$(( ${EPOCHREALTIME//[.,]/} + 5000000 ))
  until grep -q 'packets transmitted' "$log" || [ "${EPOCHREALTIME//[.,]/}" -ge "$deadline" ]; do
    sleep 0.01
  done
  awk -v upto="${sent:-0}" '
    /bytes from/ && !/DUP!/ {
      t = substr($1, 2, length($1) - 2) + 0
      if (last && (t - last) * 1000 > gap) gap = (t - last) * 1000
      last = t
      s = $0; sub(/.*icmp_seq=/, "", s); s += 0
      if (s <= upto && !(s in seen)) { seen[s] = 1; got++ }
    }
    /packets transmitted/ { if (!upto) { sent = $1; got = $4 } }
    END { printf "%d %d %.0f\n", upto ? upto : sent, got, gap }' "$log"
}
# witness_replies LOG N: how many of the requests 1..N of the witness whose log is LOG got a reply.
witness_replies() {
  awk -v upto="$2" '/bytes from/ && !/DUP!/ { s = $0; sub(/.*icmp_seq=/, "", s); s += 0
    if (s <= upto && !(s in seen)) { seen[s] = 1; n++ } } END { print n + 0 }' "$1"
}

# hot_queue_workers SECONDS PORT...: for each PORT, "WORKER FRAMES": the worker polling the
# port's rx queue that carried most frames during the next SECONDS and those frames (the first
# such queue on a tie), from `vswitchctl --json show queues`.
hot_queue_workers() {
  local secs=$1 before after
  shift
  before=$(ctl --json show queues | json_rows port queue worker rx_packets)
  sleep "$secs"
  after=$(ctl --json show queues | json_rows port queue worker rx_packets)
  awk -v ports="$*" '
    BEGIN { n = split(ports, p, " ") }
    NR == FNR { rx[$1 " " $2] = $4; next }
    { d = $4 - rx[$1 " " $2]; if (!($1 in best) || d > best[$1]) { best[$1] = d; w[$1] = $3 } }
    END { for (i = 1; i <= n; i++) print (p[i] in w ? w[p[i]] : -1), best[p[i]] + 0 }' \
    <(echo "$before") <(echo "$after")
}
# hot_queue_worker PORT: the worker polling the witness's flow (the rx queue of PORT that carried
# most frames during the next second).
hot_queue_worker() { hot_queue_workers 1 "$1" | awk '{ print $1 }'; }

# netns_ino NS: the inode of namespace NS (as /proc/PID/ns/net shows it), empty if none.
netns_ino() { stat -L -c %i "/run/netns/$1" 2>/dev/null || true; }

# netns_holders INODE PID...: what of the given processes holds the namespace INODE: a thread
# inside it (/proc/PID/task/TID/ns/net) or an open namespace fd (/proc/PID/fd). Sockets and TAP
# fds made in a namespace hold it too but show no inode: the caller proves the namespace is gone
# by a veth whose peer lives in it (netns_canary). Prints one line per holder.
netns_holders() {
  local ino=$1 pid
  shift
  for pid in "$@"; do
    stat -L -c '%i %n' /proc/"$pid"/task/*/ns/net 2>/dev/null |
      awk -v ino="$ino" -v pid="$pid" '$1 == ino { print "pid " pid ": " $2 " is inside" }'
    find /proc/"$pid"/fd -lname "net:\[$ino\]" -printf "pid $pid holds it open as fd %f\n" 2>/dev/null
  done
  return 0
}

# netns_canary NS NAME: a veth pair, NAME in our namespace and its peer in NS. The kernel deletes
# the pair when NS is destroyed, so NAME vanishing proves that nothing holds NS any more.
netns_canary() {
  ip link add "$2" type veth peer name "${2}p" netns "$1"
}

# notify_start: systemd's side of the notify protocol (tests/lib/notify_recv.py) on $sock, logging
# to $nlog; give vswitchd NOTIFY_SOCKET=$sock. msgs: the messages so far, one per line, newlines
# inside a message shown as '|'.
notify_start() {
  sock=$T_DIR/notify.sock
  nlog=$T_DIR/notify.log
  python3 "$(dirname "${BASH_SOURCE[0]}")/notify_recv.py" "$sock" "$nlog" &
  T_PIDS+=("$!")
  for _ in $(seq 100); do [ -f "$nlog.ready" ] && break; sleep 0.05; done
  [ -f "$nlog.ready" ] || fail "the notify receiver did not start"
}
msgs() { python3 -c 'import json,sys
for l in open(sys.argv[1]): print(json.loads(l)["msg"].replace("\n", "|"))' "$nlog"; }
