#!/usr/bin/env bash
# librte_net_rtap.so in another DPDK application: Debian's own dpdk-testpmd (shared libdpdk, its
# plugin directory) loads it with -d, probes two rtap ports whose TAPs live in two namespaces,
# and forwards between them (io mode, a wire): the namespaces ping each other through it, and
# testpmd's own port statistics count the frames. vswitch itself links a static DPDK build; this
# is what keeps the plugin working for testpmd and OVS-DPDK users.
if [ "${VSWITCH_SANITIZED:-0}" = 1 ]; then
  # The sanitized build's plugin needs the ASan runtime loaded first in the process, and Debian's
  # dpdk-testpmd is not built with it. The default build runs this test.
  echo "skipped: librte_net_rtap.so of an ASan build cannot be loaded into Debian's dpdk-testpmd"
  exit 77
fi
source "$(dirname "$0")/../lib/harness.sh"

plugin_dir=$(cd "$VSWITCH_BIN_DIR/../pmd" && pwd)
[ -f "$plugin_dir/librte_net_rtap.so" ] || fail "no librte_net_rtap.so in $plugin_dir"
# IPv4 only (no router solicitations or MLD reports coming late), so the frame counts settle.
for n in 1 2; do
  ip netns add "$(vm_ns "$n")"
  T_NETNS+=("$(vm_ns "$n")")
  ip netns exec "$(vm_ns "$n")" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
done

# The EAL refuses a -d path under a world-writable directory; a bare name goes to dlopen, which
# finds it through LD_LIBRARY_PATH. stdin stays open (testpmd runs until a line comes); stdout
# line-buffered, so its progress can be read from the log.
mkfifo "$T_DIR/stdin"
LD_LIBRARY_PATH=$plugin_dir stdbuf -oL dpdk-testpmd -l 0-1 --no-pci --file-prefix="$T_PREFIX" -m 256 \
  -d librte_net_rtap.so \
  --vdev "net_rtap0,iface=$(vm_if 1),netns=$(vm_ns 1)" \
  --vdev "net_rtap1,iface=$(vm_if 2),netns=$(vm_ns 2)" \
  -- --forward-mode=io --auto-start --nb-cores=1 --total-num-mbufs=8192 --disable-link-check \
  <"$T_DIR/stdin" >"$T_DIR/testpmd.log" 2>&1 &
T_PIDS+=("$!")
testpmd=$!
exec 9>"$T_DIR/stdin"   # the writer end, held until the end

for _ in $(seq 100); do
  grep -q "Press enter to exit" "$T_DIR/testpmd.log" && break
  kill -0 "$testpmd" 2>/dev/null || fail "dpdk-testpmd exited: $(tail -n 20 "$T_DIR/testpmd.log")"
  sleep 0.1
done
grep -q "Press enter to exit" "$T_DIR/testpmd.log" ||
  fail "dpdk-testpmd did not start forwarding: $(tail -n 20 "$T_DIR/testpmd.log")"
check "rtap ports probed by testpmd" "$(grep -c "Port [01]: [0-9A-F:]\{17\}" "$T_DIR/testpmd.log")" -eq 2

for n in 1 2; do
  ip -n "$(vm_ns "$n")" addr add "10.78.0.$n/24" dev "$(vm_if "$n")"
  ip -n "$(vm_ns "$n")" link set dev "$(vm_if "$n")" up
done
ip netns exec "$(vm_ns 1)" ping -q -c 20 -i 0.05 -W 2 10.78.0.2 >"$T_DIR/ping.log" 2>&1 ||
  fail "vm1 -> vm2 ping through dpdk-testpmd failed: $(cat "$T_DIR/ping.log")"
grep -q " 0% packet loss" "$T_DIR/ping.log" || fail "pings lost: $(cat "$T_DIR/ping.log")"
pass "20/20 pings vm1 -> vm2 through dpdk-testpmd with the plugin"

# Quit: testpmd prints each port's totals. Every frame the kernel of vm1 sent came in on port 0.
sent=$(ip netns exec "$(vm_ns 1)" cat "/sys/class/net/$(vm_if 1)/statistics/tx_packets")
echo >&9
for _ in $(seq 100); do kill -0 "$testpmd" 2>/dev/null || break; sleep 0.1; done
kill -0 "$testpmd" 2>/dev/null && fail "dpdk-testpmd did not exit: $(tail -n 20 "$T_DIR/testpmd.log")"
rx0=$(awk '/Forward statistics for port 0/ { f = 1 } f && /RX-packets:/ { print $2; exit }' "$T_DIR/testpmd.log")
tx1=$(awk '/Forward statistics for port 1/ { f = 1 } f && /TX-packets:/ { print $2; exit }' "$T_DIR/testpmd.log")
[ -n "$rx0" ] && [ -n "$tx1" ] || fail "no port statistics from testpmd: $(tail -n 40 "$T_DIR/testpmd.log")"
check "frames testpmd received on port 0" "$rx0" -ge 20
check "frames testpmd received on port 0 vs sent by vm1's kernel" "$rx0" -eq "$sent"
check "frames testpmd sent on port 1 vs received on port 0" "$tx1" -eq "$rx0"
pass "dpdk-testpmd forwarded $rx0 frames through librte_net_rtap.so"
