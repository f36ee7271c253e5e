#!/usr/bin/env bash
# vswitchctl capture: numbered frames sent through a port are read back from the pcapng, equal
# byte for byte to what the VMs' kernels sent and received (tcpdump in their namespaces), in
# order, with the right direction and interface; tshark reads the file and a pipe; a filter
# passes only what it matches; --count and --duration end a capture; a bad filter is refused with
# libpcap's words; a capture whose client dies is disarmed within a second; two captures run at
# once; a capture running while its worker is killed goes on after the restart.
source "$(dirname "$0")/../lib/harness.sh"
FRAMES="$VSWITCH_SOURCE_DIR/tests/lib/pcap_frames.py"

write_config "$T_DIR/vswitch.toml" 3
start_daemon "$T_DIR/vswitch.toml"
wait_metric vswitch_worker_up 'worker="0"' -eq 1 10
for to in 2 3; do ping_ok 1 "$to" 2 || fail "vm1 -> vm$to ping failed"; done
mac2=$(vm_mac 2)
v1=$(vm_if 1) v2=$(vm_if 2) v3=$(vm_if 3)

# capture_bg NAME PORTS ARGS...: a capture in the background, writing $T_DIR/NAME.pcapng; CAP_PID.
capture_bg() {
  local name=$1 ports=$2
  shift 2
  # The binary itself, not the ctl function (a subshell): the signals below are for it.
  "$VSWITCH_BIN_DIR/vswitchctl" --socket "$T_DIR/run/vswitchd.sock" capture "$ports" \
    -w "$T_DIR/$name.pcapng" "$@" 2>"$T_DIR/$name.log" &
  CAP_PID=$!
  T_PIDS+=("$CAP_PID")
  for _ in $(seq 100); do grep -q "capturing on" "$T_DIR/$name.log" && return 0; sleep 0.02; done
  fail "capture $name did not start: $(cat "$T_DIR/$name.log")"
}
# tcpdump_bg VM NAME: the VM kernel's own view of its NIC, into $T_DIR/NAME.pcap; TD_PID.
tcpdump_bg() {
  ip netns exec "$(vm_ns "$1")" tcpdump -i "$(vm_if "$1")" --immediate-mode -B 32768 -U -s 0 -w "$T_DIR/$2.pcap" \
    ether proto 0x88b5 2>"$T_DIR/$2.tcpdump.log" &
  TD_PID=$!
  T_PIDS+=("$TD_PID")
  for _ in $(seq 100); do grep -q "listening on" "$T_DIR/$2.tcpdump.log" && return 0; sleep 0.02; done
  fail "tcpdump in vm$1 did not start"
}

# 1. Byte for byte, both directions. Port vm1 receives (in) what vm1's kernel sent; port vm2
#    sends (out) what vm2's kernel then receives.
tcpdump_bg 1 k1; td1=$TD_PID
tcpdump_bg 2 k2; td2=$TD_PID
capture_bg both "$v1,$v2" --count 400 -- ether proto 0x88b5
cap=$CAP_PID
ip netns exec "$(vm_ns 1)" "$VSWITCH_TEST_TOOLS/vs-rawframe" send "$v1" 200 --tag capture1 \
  --dst "$mac2" --size 300 >/dev/null || fail "send failed"
wait "$cap" || fail "capture failed: $(cat "$T_DIR/both.log")"
grep -q "400 frames captured, 0 dropped (count)" "$T_DIR/both.log" ||
  fail "capture summary: $(cat "$T_DIR/both.log")"
sleep 0.3
kill "$td1" "$td2"; wait "$td1" "$td2" 2>/dev/null || true
python3 "$FRAMES" "$T_DIR/both.pcapng" >"$T_DIR/both.txt" || fail "pcapng unreadable"
awk -v p="$v1" '$1 == p && $2 == "in" { print $3, $4 }' "$T_DIR/both.txt" >"$T_DIR/in.txt"
awk -v p="$v2" '$1 == p && $2 == "out" { print $3, $4 }' "$T_DIR/both.txt" >"$T_DIR/out.txt"
python3 "$FRAMES" "$T_DIR/k1.pcap" | awk '{ print $3, $4 }' >"$T_DIR/k1.txt"
python3 "$FRAMES" "$T_DIR/k2.pcap" | awk '{ print $3, $4 }' >"$T_DIR/k2.txt"
check "frames in the capture" "$(wc -l <"$T_DIR/both.txt")" -eq 400
check "frames received from vm1 (in)" "$(wc -l <"$T_DIR/in.txt")" -eq 200
check "frames sent to vm2 (out)" "$(wc -l <"$T_DIR/out.txt")" -eq 200
cmp -s "$T_DIR/in.txt" "$T_DIR/k1.txt" || fail "port vm1 (in) differs from what vm1 sent"
cmp -s "$T_DIR/out.txt" "$T_DIR/k2.txt" || fail "port vm2 (out) differs from what vm2 received"
python3 "$FRAMES" "$T_DIR/both.pcapng" --tag capture1 | awk -v p="$v1" '$1 == p { print $3 }' \
  >"$T_DIR/seq.txt"
seq 0 199 | cmp -s - "$T_DIR/seq.txt" || fail "frames of vm1 out of order or missing"
pass "400 frames, byte for byte as the VMs' kernels saw them, in order, in and out"

# tshark reads the file: the interfaces are named after the ports, the directions are right.
command -v tshark >/dev/null || fail "tshark is not installed (scripts/setup.sh installs it)"
tshark -r "$T_DIR/both.pcapng" -T fields -e frame.interface_name -e frame.packet_flags_direction \
  >"$T_DIR/tshark.txt" 2>"$T_DIR/tshark.err" || fail "tshark: $(cat "$T_DIR/tshark.err")"
check "tshark: frames of $v1 inbound" "$(grep -c "^$v1	0x0*1$" "$T_DIR/tshark.txt")" -eq 200
check "tshark: frames of $v2 outbound" "$(grep -c "^$v2	0x0*2$" "$T_DIR/tshark.txt")" -eq 200
pass "tshark reads the pcapng: interface names and directions"

# 2. A pipe into tshark, with a filter: only the ICMP of vm1's pings to vm3, not vm2's frames.
ctl capture "$v1" --count 10 -w - icmp 2>"$T_DIR/pipe.log" | tshark -r - -T fields \
  -e icmp.type >"$T_DIR/pipe.txt" 2>"$T_DIR/pipe.err" &
pipe=$!
for _ in $(seq 100); do grep -q "capturing on" "$T_DIR/pipe.log" && break; sleep 0.02; done
ip netns exec "$(vm_ns 1)" "$VSWITCH_TEST_TOOLS/vs-rawframe" send "$v1" 50 --tag capture2 \
  --dst "$mac2" >/dev/null || fail "send failed"
ip netns exec "$(vm_ns 1)" ping -c 5 -i 0.05 -W 1 10.77.0.3 >/dev/null || fail "ping vm3 failed"
wait "$pipe" || fail "capture into tshark failed: $(cat "$T_DIR/pipe.log" "$T_DIR/pipe.err")"
check "ICMP frames through the pipe" "$(wc -l <"$T_DIR/pipe.txt")" -eq 10
check "echo requests (8) and replies (0)" "$(sort -u "$T_DIR/pipe.txt" | tr '\n' ' ')" = "0 8 "
pass "-w - | tshark -r -, filter icmp: 10 ICMP frames, none of the 50 raw frames"

# 3. --duration ends a capture; a bad filter is refused with libpcap's message.
t0=$(now_ms)
ctl capture "$v1" --duration 1 -w "$T_DIR/dur.pcapng" 2>"$T_DIR/dur.log" || fail "duration capture failed"
t1=$(now_ms)
grep -q "(duration)" "$T_DIR/dur.log" || fail "no duration end: $(cat "$T_DIR/dur.log")"
check "capture of 1 s took (ms)" "$((t1 - t0))" -lt 2000
check "capture of 1 s took (ms)" "$((t1 - t0))" -ge 1000
if ctl capture "$v1" -w "$T_DIR/bad.pcapng" -- "tcp port" 2>"$T_DIR/bad.log"; then
  fail "a bad filter was accepted"
fi
grep -q "invalid filter 'tcp port': .*syntax error" "$T_DIR/bad.log" ||
  fail "bad filter message: $(cat "$T_DIR/bad.log")"
ctl capture nosuchport -w "$T_DIR/bad.pcapng" 2>"$T_DIR/bad2.log" && fail "unknown port accepted"
grep -q "no port 'nosuchport'" "$T_DIR/bad2.log" || fail "unknown port: $(cat "$T_DIR/bad2.log")"
pass "--duration 1 ended after $((t1 - t0)) ms; bad filter and unknown port refused"

# 4. Two captures at once, then a client that dies: disarmed within a second.
capture_bg a "$v1" --direction in; a=$CAP_PID
capture_bg b "$v2" --direction out; b=$CAP_PID
check "captures running" "$(metric vswitch_captures_active)" -eq 2
ip netns exec "$(vm_ns 1)" "$VSWITCH_TEST_TOOLS/vs-rawframe" send "$v1" 100 --tag capture3 \
  --dst "$mac2" >/dev/null || fail "send failed"
sleep 0.3
kill -INT "$a"; wait "$a" || fail "capture a: $(cat "$T_DIR/a.log")"
kill -KILL "$b"; wait "$b" 2>/dev/null || true
t0=$(now_ms)
wait_metric vswitch_captures_active "" -eq 0 1
pass "the killed client's capture disarmed within $(($(now_ms) - t0)) ms"
check "capture a: frames of capture3" \
  "$(python3 "$FRAMES" "$T_DIR/a.pcapng" --tag capture3 | grep -c " in ")" -eq 100
check "capture b: frames of capture3" \
  "$(python3 "$FRAMES" "$T_DIR/b.pcapng" --tag capture3 | grep -c " out ")" -eq 100
pass "two captures at once each got their 100 frames"

# 5. The worker is killed during a capture: the capture goes on with its replacement.
capture_bg kill "$v1" --direction in --duration 5 -- ether proto 0x88b5; k=$CAP_PID
ip netns exec "$(vm_ns 1)" "$VSWITCH_TEST_TOOLS/vs-rawframe" send "$v1" 50 --tag before00 \
  --dst "$mac2" >/dev/null || fail "send failed"
old=$(worker_pid 0)
kill -KILL "$old"
for _ in $(seq 100); do
  new=$(worker_pid 0)
  [ -n "$new" ] && [ "$new" != "$old" ] && [ "$(worker_field 0 state)" = running ] && break
  sleep 0.05
done
[ "$(worker_field 0 state)" = running ] || fail "worker 0 not running again"
sleep 0.3
ip netns exec "$(vm_ns 1)" "$VSWITCH_TEST_TOOLS/vs-rawframe" send "$v1" 50 --tag after000 \
  --dst "$mac2" >/dev/null || fail "send failed"
wait "$k" || fail "capture across the kill failed: $(cat "$T_DIR/kill.log")"
check "frames before the kill" \
  "$(python3 "$FRAMES" "$T_DIR/kill.pcapng" --tag before00 | wc -l)" -eq 50
check "frames after the restart" \
  "$(python3 "$FRAMES" "$T_DIR/kill.pcapng" --tag after000 | wc -l)" -eq 50
pass "the capture kept going across a worker's kill and restart"

# 6. TCP at full speed, captured whole: the VMs' TSO super-frames are kept up to 65,280 bytes
#    with their real length, and every copy is either in the file or counted as dropped.
t_start=$(date +%s.%N)
capture_bg tcp "$v1" --direction in --snaplen 262144 -- tcp; t=$CAP_PID
read -r _bps bytes < <(iperf_tcp 1 2 1)
sleep 0.3
kill -INT "$t"; wait "$t" || fail "TCP capture: $(cat "$T_DIR/tcp.log")"
t_end=$(date +%s.%N)
read -r captured dropped < <(sed -n 's/.*: \([0-9]*\) frames captured, \([0-9]*\) dropped.*/\1 \2/p' "$T_DIR/tcp.log")
read -r frames longest kept first last < <(python3 "$FRAMES" "$T_DIR/tcp.pcapng" --summary)
rm -f "$T_DIR/tcp.pcapng"  # up to a GB
check "frames in the TCP capture = frames captured" "$frames" -eq "$captured"
check "longest frame (a TSO super-frame)" "$longest" -gt 9000
check "most bytes kept of a frame" "$kept" -le 65280
check "timestamps within the capture's time" \
  "$(python3 -c "import sys; a, b, s, e = map(float, sys.argv[1:]); print(int(s - 1 <= a <= b <= e + 1))" "$first" "$last" "$t_start" "$t_end")" -eq 1
pass "TCP ($bytes bytes): $captured frames captured (longest $longest B, kept $kept B), $dropped copies dropped"

check "copies dropped, all workers" "$(metric vswitch_capture_copy_drops_total 'worker="0"')" -eq "$dropped"
check "captures refused (bad filter, unknown port)" "$(metric vswitch_captures_refused_total)" -eq 2
stop_daemon
