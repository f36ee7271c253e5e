#!/usr/bin/env bash
# The switch's byte counters agree with the kernel's, per port and per direction, exactly.
#
# Every frame the kernel sends out of a VM's NIC is read by the switch from that port (the TAP
# counts it as tx when the reader takes it), and every frame the switch writes to a port is
# received by the kernel there. So, with nothing in flight and nothing dropped:
#   switch rx bytes/frames on port vmN == kernel tx_bytes/tx_packets of vmN
#   switch tx bytes/frames on port vmN == kernel rx_bytes/rx_packets of vmN
# Neither side counts a vnet header (net_rtap) or a tun_pi (net_tap): both count the Ethernet
# frame, the kernel skb->len, the switch pkt_len. A GSO super-frame (net_rtap, TSO from VM to VM)
# is one frame of its full length on both sides. Traffic: raw frames of 60, 777 and 1514 bytes,
# pings of three sizes both ways, then a TCP stream (iperf3). The VMs' own frames (ARP, IPv6
# neighbour discovery, MLD) count on both sides too; during the first two phases a capture on
# both NICs accounts for every byte: test frames of known length plus those, by kind.
source "$(dirname "$0")/../lib/harness.sh"

write_config "$T_DIR/vswitch.toml" 2
start_daemon "$T_DIR/vswitch.toml"
wait_metric vswitch_worker_up 'worker="0"' -eq 1 10
ping_ok 1 2 2 || fail "ping vm1 -> vm2 failed: $(cat "$T_DIR/ping.log")"

# kernel_side: "tx_bytes tx_packets rx_bytes rx_packets" of vm1, then of vm2.
kernel_side() {
  local vm d
  for vm in 1 2; do
    d="/sys/class/net/$(vm_if "$vm")/statistics"
    ip netns exec "$(vm_ns "$vm")" cat "$d/tx_bytes" "$d/tx_packets" "$d/rx_bytes" "$d/rx_packets"
  done | tr '\n' ' '
}
# switch_side FILE: the same eight numbers as the switch counts them, from one scrape: rx on port
# vmN is what vmN's kernel sent, tx on port vmN what it received.
switch_side() {
  local vm f
  for vm in 1 2; do
    for f in rx_bytes rx_packets tx_bytes tx_packets; do
      awk -v name="vswitch_port_${f}_total" -v port="port=\"$(vm_if "$vm")\"" '
        $0 ~ "^" name "[{ ]" && index($0, port) { sum += $NF } END { printf "%.0f ", sum }' "$1"
    done
  done
}
names=(vm1:tx_bytes vm1:tx_packets vm1:rx_bytes vm1:rx_packets vm2:tx_bytes vm2:tx_packets vm2:rx_bytes vm2:rx_packets)
snames=("rx bytes" "rx frames" "tx bytes" "tx frames" "rx bytes" "rx frames" "tx bytes" "tx frames")
# agree WHAT: waits until one reading of both sides is consistent (the kernel's counters did not
# move across the scrape: no frame in flight) and equal; fails naming every counter that differs.
# Leaves the kernel's numbers in K[], and when the consistent reading began and ended in T_READ[].
agree() {
  local what=$1 before after sw i diff=""
  for _ in $(seq 50); do
    T_READ=("$(date +%s.%N)")
    before=$(kernel_side)
    scrape >"$T_DIR/snap.txt" || fail "scrape failed"
    after=$(kernel_side)
    T_READ+=("$(date +%s.%N)")
    sw=$(switch_side "$T_DIR/snap.txt")
    [ "$before" = "$after" ] && [ "$after" = "$sw" ] && break
    sleep 0.1
  done
  read -r -a K <<<"$after"
  read -r -a S <<<"$sw"
  for i in "${!names[@]}"; do
    [ "${K[$i]}" = "${S[$i]}" ] ||
      diff+=" kernel ${names[$i]} ${K[$i]}, switch ${snames[$i]} ${S[$i]} ($(( S[i] - K[i] )));"
  done
  [ -z "$diff" ] || fail "$what: the switch's and the kernel's counters differ:$diff"
  # A frame one side counts and the other does not would be one of these (none expected).
  check "$what: drops on the switch" "$(metric vswitch_port_drops_total)" -eq 0
  for reason in rx_error rx_nombuf tx_error; do
    check "$what: driver drops $reason" "$(metric vswitch_port_driver_drops_total "reason=\"$reason\"")" -eq 0
  done
  # What a VM's kernel drops because the switch does not read its TAP fast enough (tx_dropped,
  # the driver's rx_missed; seen with net_tap during the TCP stream) is in neither count.
  log "$what: dropped by the VMs' kernels before the switch (in neither count): $(( $(kernel_counter 1 tx_dropped) + $(kernel_counter 2 tx_dropped) ))"
  log "ok: $what: switch = kernel on both ports: vm1 sent ${K[0]} B in ${K[1]} frames, received ${K[2]} B in ${K[3]}; vm2 sent ${K[4]} B in ${K[5]}, received ${K[6]} B in ${K[7]}"
}

agree "after the first pings"

# ---- raw frames and pings of known sizes, with a capture on both NICs --------------------------
capture_start() {  # capture_start VM DIRECTION: all frames of VM's NIC in that direction
  # --immediate-mode: without it, libpcap hands frames over a TPACKET_V3 block at a time, and
  # the frames of a block not yet retired when tcpdump gets SIGINT are neither written nor
  # counted as dropped (seen in CI: the last three pings missing from a capture).
  : >"$T_DIR/cap-$1-$2.log"
  ip netns exec "$(vm_ns "$1")" tcpdump -i "$(vm_if "$1")" -Q "$2" -s 64 -n -U --immediate-mode \
    -w "$T_DIR/cap-$1-$2.pcap" 2>>"$T_DIR/cap-$1-$2.log" &
  T_PIDS+=($!)
  CAPS+=($!)
  for _ in $(seq 100); do grep -q "listening on" "$T_DIR/cap-$1-$2.log" && return 0; sleep 0.02; done
  fail "tcpdump in vm$1 not ready: $(cat "$T_DIR/cap-$1-$2.log")"
}
# pcap_account FILE T0_START T0_END T1_START T1_END: the frames captured between two consistent
# readings of the counters (agree): "bytes frames" of those after the first reading ended and
# before the second began, the same for those captured while a reading ran (a VM's own frame at
# that instant may be in either reading), then the bytes of the first kind by kind: test
# (ethertype 0x88b5), icmp (IPv4 ICMP), anything else by ethertype.
pcap_account() {
  python3 - "$@" <<'EOF'
import struct, sys, collections
data = open(sys.argv[1], "rb").read()
t0s, t0e, t1s, t1e = (float(x) for x in sys.argv[2:6])
off, kinds, inside, edge = 24, collections.Counter(), [0, 0], [0, 0]
while off + 16 <= len(data):
    sec, usec, incl, orig = struct.unpack_from("<IIII", data, off)
    pkt = data[off + 16: off + 16 + incl]
    off += 16 + incl
    ts = sec + usec / 1e6
    if t0e < ts < t1s:
        et = struct.unpack_from(">H", pkt, 12)[0]
        kind = "test" if et == 0x88b5 else "icmp" if et == 0x0800 and pkt[23] == 1 else "0x%04x" % et
        kinds[kind] += orig
        inside[0] += orig
        inside[1] += 1
    elif t0s <= ts <= t0e or t1s <= ts <= t1e:
        edge[0] += orig
        edge[1] += 1
print(inside[0], inside[1], edge[0], edge[1], " ".join("%s=%d" % kv for kv in sorted(kinds.items())))
EOF
}

CAPS=()
capture_start 1 out
capture_start 2 in
capture_start 2 out
capture_start 1 in
agree "with the captures started"
k0=("${K[@]}") t0=("${T_READ[@]}")
frames=200 known_raw=0
for size in 60 777 1514; do
  recv_start 2 "$(vm_if 2)" "$frames" 5000 "b$size"
  ip netns exec "$(vm_ns 1)" "$VSWITCH_TEST_TOOLS/vs-rawframe" send "$(vm_if 1)" "$frames" \
    --size "$size" --tag "b$size" >/dev/null || fail "sending $size-byte frames failed"
  wait "$RECV_PID" || fail "raw frames of $size bytes: $(tail -1 "$T_DIR/recv-b$size-2.log")"
  known_raw=$((known_raw + frames * size))
done
# Pings: the requests vm1 sent are known (ping says how many). A ping lost on a loaded machine
# (seen with net_tap: no switch, driver or TAP drop counted) does not matter here: every reply
# vm2 sent must reach vm1, byte for byte.
known_icmp=0
for s in 56 1000 1472; do  # an echo request and its reply are 14 + 20 + 8 + s bytes each
  ip netns exec "$(vm_ns 1)" ping -q -c 10 -i 0.02 -W 2 -s "$s" 10.77.0.2 >"$T_DIR/ping.log" 2>&1 ||
    fail "ping -s $s failed: $(cat "$T_DIR/ping.log")"
  sent=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' "$T_DIR/ping.log")
  grep -q " 0% packet loss" "$T_DIR/ping.log" || log "ping -s $s: $(grep transmitted "$T_DIR/ping.log")"
  known_icmp=$((known_icmp + sent * (42 + s)))
done
sleep 0.3
agree "after raw frames and pings"
k1=("${K[@]}") t1=("${T_READ[@]}")
for pid in "${CAPS[@]}"; do kill -INT "$pid"; done
for pid in "${CAPS[@]}"; do wait "$pid" || true; done
for c in 1-out 2-in 2-out 1-in; do
  grep -q "^0 packets dropped by kernel" "$T_DIR/cap-$c.log" || fail "capture $c lost frames: $(cat "$T_DIR/cap-$c.log")"
done
# The counters (kernel = switch) moved between the two readings by exactly the frames captured
# in between, give or take the frames captured while a reading ran (a VM's own frame sent at
# that instant may be counted by the reading or not; none in most runs, and never a test frame).
# The captures hold the test frames, each of known length.
acct() {  # acct CAPTURE INDEX_OF_BYTES_IN_K WHAT
  local c=$1 i=$2 what=$3 bytes nframes eb ef kinds b f
  read -r bytes nframes eb ef kinds < <(pcap_account "$T_DIR/cap-$c.pcap" "${t0[@]}" "${t1[@]}")
  b=$(( k1[i] - k0[i] )) f=$(( k1[i + 1] - k0[i + 1] ))
  if [ "$b" -lt "$bytes" ] || [ "$b" -gt $((bytes + eb)) ] || [ "$f" -lt "$nframes" ] || [ "$f" -gt $((nframes + ef)) ]; then
    fail "$what: counted (kernel = switch) $b B in $f frames; captured $bytes B in $nframes frames between the readings ($kinds), $eb B in $ef frames during them"
  fi
  log "ok: $what: counted (kernel = switch) $b B in $f frames = captured $bytes B in $nframes frames ($kinds) + $((b - bytes)) B in $((f - nframes)) of the $ef frames sent during a reading"
  ACCT="$kinds"
}
acct 1-out 0 "vm1 -> switch"
[[ " $ACCT " == *" test=$known_raw "* ]] || fail "vm1 -> switch: test frames $ACCT, expected test=$known_raw"
[[ " $ACCT " == *" icmp=$known_icmp "* ]] || fail "vm1 -> switch: echo requests $ACCT, expected icmp=$known_icmp"
acct 2-in 6 "switch -> vm2"
[[ " $ACCT " == *" test=$known_raw "* ]] || fail "switch -> vm2: test frames $ACCT, expected test=$known_raw"
[[ " $ACCT " == *" icmp=$known_icmp "* ]] || fail "switch -> vm2: echo requests $ACCT, expected icmp=$known_icmp"
acct 2-out 4 "vm2 -> switch"
replies=$(sed -n 's/.*icmp=\([0-9]*\).*/\1/p' <<<"$ACCT")
check "echo replies from vm2 (bytes)" "${replies:-0}" -gt 0
acct 1-in 2 "switch -> vm1"
[[ " $ACCT " == *" icmp=$replies "* ]] || fail "switch -> vm1: echo replies $ACCT, expected icmp=$replies (as vm2 sent)"
pass "raw frames ($known_raw B), echo requests ($known_icmp B) and replies ($replies B): every byte counted by the switch, the kernel and the capture alike"

# ---- a TCP stream: GSO super-frames with net_rtap -----------------------------------------------
k2=("${K[@]}")
read -r bps bytes < <(iperf_tcp 1 2 2)
sleep 0.3
agree "after a TCP stream"
log "TCP: $((bps / 1000000)) Mbit/s, $bytes payload bytes; vm1 -> switch $(( K[0] - k2[0] )) B in $(( K[1] - k2[1] )) frames (mean $(( (K[0] - k2[0]) / (K[1] - k2[1]) )) B)"
check "TCP: bytes vm1 sent through the switch cover the payload" "$(( K[0] - k2[0] ))" -ge "$bytes"
check "TCP: bytes vm2 received from the switch cover the payload" "$(( K[6] - k2[6] ))" -ge "$bytes"
stop_daemon
pass "byte and frame counters: switch = kernel on both ports, both directions (driver ${T_DRIVER:-tap})"
