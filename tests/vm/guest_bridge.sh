#!/usr/bin/env bash
# The guests' command lines are in single quotes on purpose: they expand in the guest.
# shellcheck disable=SC2016
# Two real QEMU guests (tests/vm/guest_lib.sh) on a Linux bridge: proves the guest machinery that
# vm.switch_guests attaches to the switch, without the switch.
#   guest a: --tapdev, a macvtap's /dev/tapN (passthru) on a veth whose peer is a bridge port.
#            (A TAP cannot be both a bridge port and a macvtap's lower device: one rx_handler per
#            netdev, EBUSY; in the switch test the port's TAP is the lower device and the switch
#            holds its other side.)
#   guest b: --ifname, a TAP that qemu creates, enslaved to the bridge once it exists.
# Asserts: both READY (boot times printed), ping both ways without loss, TCP (iperf3) from a to b
# above 0 bit/s, b's rx bytes per packet during the stream printed (above the MTU means TSO
# super-frames reach the guest), and nothing left behind.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=guest_lib.sh
source "$(dirname "$0")/guest_lib.sh"

log() { printf '[%s] %s\n' "$(date +%T.%3N)" "$*"; }
# stderr: also seen when called in $(...), whose exit status then stops the test (set -e).
fail() { log "FAIL: $*" >&2; exit 1; }
# check WHAT VALUE OP EXPECTED: a numeric assertion that prints what it compared.
check() {
  test "$2" "$3" "$4" || fail "$1: $2 (expected $3 $4)"
  log "ok: $1: $2 ($3 $4)"
}

[ "$(id -u)" -eq 0 ] || { echo "vm tests need root (bridge, TAPs, macvtap, /dev/tapN)"; exit 1; }

# Unique names (vsg + 4 hex digits + role; at most 15 characters).
id=$(printf '%04x' $(( ($$ + RANDOM) % 65536 )))
BR=vsg${id}br LOWER=vsg${id}l0 PEER=vsg${id}p0 MVT=vsg${id}m0 TAPB=vsg${id}t1
GUEST_STATE_DIR=$(mktemp -d "/tmp/vsguest-bridge.${id}.XXXX")
SECONDS_TCP=${SECONDS_TCP:-5}

teardown() {
  guest_stop_all
  local ifc
  for ifc in "$MVT" "$LOWER" "$TAPB" "$BR"; do
    [ ! -e "/sys/class/net/$ifc" ] || ip link del "$ifc" 2>/dev/null || true
  done
}
cleanup() {
  local rc=$?
  set +e
  trap - ERR
  teardown
  if [ "$rc" -eq 0 ]; then rm -rf -- "$GUEST_STATE_DIR"; else log "guest logs kept in $GUEST_STATE_DIR"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# No IPv6 on the host side either: only the test's frames cross the bridge.
no_ipv6() { sysctl -qw "net.ipv6.conf.$1.disable_ipv6=1" 2>/dev/null || true; }

t0=$EPOCHREALTIME
guest_prepare
log "guest_prepare: $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s, accel $GUEST_ACCEL"

ip link add "$BR" type bridge forward_delay 0
no_ipv6 "$BR"
ip link set "$BR" up
ip link add "$LOWER" type veth peer name "$PEER"
no_ipv6 "$LOWER"; no_ipv6 "$PEER"
ip link set "$PEER" master "$BR" up
ip link set "$LOWER" up
# As libvirt does for <interface type='direct'> passthrough: the macvtap carries the guest's MAC.
ip link add link "$LOWER" name "$MVT" address 52:54:00:77:09:11 type macvtap mode passthru
no_ipv6 "$MVT"
ip link set "$MVT" up
TAPDEV=/dev/tap$(cat "/sys/class/net/$MVT/ifindex")
for _ in $(seq 50); do [ -c "$TAPDEV" ] && break; sleep 0.1; done
[ -c "$TAPDEV" ] || fail "$TAPDEV did not appear"

guest_start a --tapdev "$TAPDEV" --mac 52:54:00:77:09:11 --ip 10.77.9.11/24
guest_start b --ifname "$TAPB" --mac 52:54:00:77:09:12 --ip 10.77.9.12/24
guest_wait_link "$TAPB" 20
no_ipv6 "$TAPB"
ip link set "$TAPB" master "$BR" up

boot_a=$(guest_wait_ready a 240)
boot_b=$(guest_wait_ready b 240)
log "boot time (qemu start to READY): a ${boot_a} s, b ${boot_b} s ($GUEST_ACCEL)"
log "a offloads: $(guest_exec a 20 'ethtool -k eth0 2>/dev/null | grep -E "^(tcp-segmentation-offload|generic-receive-offload|rx-checksumming):" | tr -s "\n" " "')"

# ping both ways: every echo answered.
ping_pair() {
  local from=$1 to=$2 out sent recv
  out=$(guest_exec "$from" 60 "ping -c 5 -i 0.2 -W 5 $to") || fail "ping from $from to $to: $out"
  sent=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' <<<"$out")
  recv=$(sed -n 's/.* \([0-9]*\) packets received.*/\1/p' <<<"$out")
  log "ping $from -> $to: $(grep -E 'packets transmitted|round-trip' <<<"$out" | tr '\n' ' ')"
  check "ping $from -> $to: echoes sent" "${sent:-0}" -eq 5
  check "ping $from -> $to: replies" "${recv:-0}" -eq 5
}
ping_pair a 10.77.9.12
ping_pair b 10.77.9.11

# rx_counters GUEST: "rx_bytes rx_packets" of the guest's eth0.
rx_counters() {
  local out
  out=$(guest_exec "$1" 10 'cd /sys/class/net/eth0/statistics && echo $(cat rx_bytes rx_packets)') ||
    fail "reading $1's eth0 counters: $out"
  [[ $out =~ ^[0-9]+\ [0-9]+$ ]] || fail "unexpected eth0 counters from $1: '$out'"
  echo "$out"
}

# TCP a -> b. The server must listen before the client connects (iperf3 -D returns before).
guest_exec b 30 'iperf3 -s -D -1 && for i in $(seq 50); do netstat -ltn | grep -q ":5201 " && exit 0; sleep 0.1; done; exit 1' ||
  fail "iperf3 server in b did not start"
c=$(rx_counters b)
read -r rxb0 rxp0 <<<"$c"
json=$(guest_exec a $((SECONDS_TCP + 60)) "iperf3 -c 10.77.9.12 -t $SECONDS_TCP -J") || fail "iperf3 client in a: $json"
c=$(rx_counters b)
read -r rxb1 rxp1 <<<"$c"
bps=$(guest_json_num bits_per_second sum_received <<<"$json") || fail "no sum_received.bits_per_second in iperf3's output: ${json:0:2000}"
bytes=$(guest_json_num bytes sum_received <<<"$json") || fail "no sum_received.bytes in iperf3's output"
retr=$(guest_json_num retransmits sum_sent <<<"$json" || echo "?")
bps=${bps%.*}
drx=$((rxb1 - rxb0)) dpk=$((rxp1 - rxp0))
log "TCP a -> b through the bridge: $(awk -v b="$bps" 'BEGIN { printf "%.3f", b / 1e9 }') Gbit/s over $SECONDS_TCP s, $bytes bytes received, $retr retransmits"
log "b eth0 during the stream: $drx bytes in $dpk packets, $((drx / (dpk > 0 ? dpk : 1))) bytes/packet (MTU 1500: above it means super-frames reach the guest)"
check "TCP throughput (bit/s)" "$bps" -gt 0
check "b rx bytes cover the TCP payload" "$drx" -ge "$bytes"

# Stop everything here, then look for leftovers (the trap would do the same on failure).
pids=$(cat "$GUEST_STATE_DIR"/*.pid | tr '\n' ' ')   # qemu and channel readers
teardown
# Netdevs and /dev/tapN go asynchronously (after the last fd, under RTNL): wait up to 5 s.
ours() { ip -o link show 2>/dev/null | awk -F': ' '{ print $2 }' | cut -d@ -f1 | grep -c "^vsg${id}" || true; }
for _ in $(seq 100); do [ "$(ours)" -eq 0 ] && [ ! -e "$TAPDEV" ] && break; sleep 0.05; done
check "interfaces left (vsg${id}*)" "$(ours)" -eq 0
left=0
for p in $pids; do if kill -0 "$p" 2>/dev/null; then left=$((left + 1)); fi; done
left=$((left + $(pgrep -fc -- "$GUEST_STATE_DIR/" || true)))
check "processes left (qemu, channel readers)" "$left" -eq 0
check "FIFOs left" "$(find "$GUEST_STATE_DIR" -type p | wc -l)" -eq 0
[ ! -e "$TAPDEV" ] || fail "$TAPDEV still exists"
log "PASS: two guests on a Linux bridge (boot a ${boot_a} s, b ${boot_b} s; TCP $(awk -v b="$bps" 'BEGIN { printf "%.3f", b / 1e9 }') Gbit/s; b rx $((drx / (dpk > 0 ? dpk : 1))) bytes/packet)"
