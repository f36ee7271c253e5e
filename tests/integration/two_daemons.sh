#!/usr/bin/env bash
# Two vswitchd on one host. A second one with the same runtime_dir, or the same control socket,
# refuses to start, names the pid that holds it and touches nothing of the first. With their own
# runtime_dir, file_prefix, socket and metrics port both run side by side and forward, and
# `scripts/run.sh stop CONFIG` stops the right one.
source "$(dirname "$0")/../lib/harness.sh"

B_PREFIX="${T_PREFIX}b"
B_METRICS=$((T_METRICS_PORT + 1))
B_PID=""
T_MORE_PREFIXES+=("$B_PREFIX")

write_config "$T_DIR/a.toml" 2
start_daemon "$T_DIR/a.toml"
A_PID=$T_DAEMON_PID
wait_metric vswitch_worker_up 'worker="0"' -eq 1 10
ping_ok 1 2 3 || fail "daemon A does not forward"

# b_config FILE RUNTIME_DIR [extra daemon lines]: daemon B with VMs 3 and 4.
b_config() {
  local file=$1 dir=$2
  shift 2
  {
    echo "[daemon]"
    echo "file_prefix = \"${B_PREFIX}\""
    echo "workers = 1"
    echo "metrics_listen = \"127.0.0.1:${B_METRICS}\""
    echo "runtime_dir = \"${dir}\""
    echo "mbufs_per_worker = ${T_MBUFS:-4095}"
    for line in "$@"; do echo "$line"; done
  } >"$file"
  config_switch "$file" sw0
  for n in 3 4; do config_port "$file" "$n"; done
}
# start_b CONFIG: runs vswitchd on CONFIG in the background; B_PID, log $T_DIR/b.log.
start_b() {
  "$VSWITCH_BIN_DIR/vswitchd" --config "$1" >"$T_DIR/b.log" 2>&1 &
  B_PID=$!
  T_PIDS+=("$B_PID")
}
# refused CONFIG WHAT: vswitchd on CONFIG must exit 1 at once, naming A's pid and WHAT.
refused() {
  local rc=0
  start_b "$1"
  for _ in $(seq 100); do kill -0 "$B_PID" 2>/dev/null || break; sleep 0.05; done
  kill -0 "$B_PID" 2>/dev/null && fail "a second vswitchd ($2) is still running: $(cat "$T_DIR/b.log")"
  wait "$B_PID" || rc=$?
  B_PID=""
  check "exit code of the second vswitchd ($2)" "$rc" -eq 1
  grep -q "pid ${A_PID}" "$T_DIR/b.log" || fail "the refusal does not name pid $A_PID: $(cat "$T_DIR/b.log")"
  grep -q "$2" "$T_DIR/b.log" || fail "the refusal does not say '$2': $(cat "$T_DIR/b.log")"
  grep -q "nothing was started" "$T_DIR/b.log" || fail "refusal: $(cat "$T_DIR/b.log")"
  log "refused: $(head -n 1 "$T_DIR/b.log")"
  ip netns list | grep -q "^$(vm_ns 3)" && fail "the refused daemon created a namespace"
  [ -e "/var/run/dpdk/${B_PREFIX}" ] && fail "the refused daemon started DPDK"
  check "A's pid file after the refusal" "$(cat "$T_DIR/run/vswitchd.pid")" -eq "$A_PID"
  ctl version >/dev/null || fail "A's control socket stopped answering"
  return 0
}

# --- the same runtime_dir: refused
b_config "$T_DIR/b-same-dir.toml" "$T_DIR/run"
refused "$T_DIR/b-same-dir.toml" "runs with runtime_dir $T_DIR/run"
# --- the same control socket, another runtime_dir: refused
b_config "$T_DIR/b-same-socket.toml" "$T_DIR/run-b" "control_socket = \"$T_DIR/run/vswitchd.sock\""
refused "$T_DIR/b-same-socket.toml" "the control socket $T_DIR/run/vswitchd.sock belongs to another vswitchd"
ping_ok 1 2 3 || fail "daemon A stopped forwarding after the refusals"
pass "a second vswitchd on the same runtime_dir or control socket is refused, A untouched"

# --- their own runtime_dir, prefix, socket and metrics port: both run
b_config "$T_DIR/b.toml" "$T_DIR/run-b"
start_b "$T_DIR/b.toml"
for _ in $(seq 200); do
  grep -q "vswitchd: ready" "$T_DIR/b.log" && break
  kill -0 "$B_PID" 2>/dev/null || fail "daemon B exited: $(cat "$T_DIR/b.log")"
  sleep 0.05
done
grep -q "vswitchd: ready" "$T_DIR/b.log" || fail "daemon B not ready: $(cat "$T_DIR/b.log")"
check "B's pid file" "$(cat "$T_DIR/run-b/vswitchd.pid")" -eq "$B_PID"
check "A's pid file" "$(cat "$T_DIR/run/vswitchd.pid")" -eq "$A_PID"
for _ in $(seq 200); do
  curl -sf "http://127.0.0.1:${B_METRICS}/metrics" | grep -q '^vswitch_worker_up{worker="0"} 1' && break
  sleep 0.05
done
ping_ok 1 2 5 || fail "A: vm1 -> vm2 failed with B running"
ping_ok 3 4 5 || fail "B: vm3 -> vm4 failed: $(cat "$T_DIR/ping.log")"
b_rx=$(curl -sf "http://127.0.0.1:${B_METRICS}/metrics" |
  awk -v p="port=\"$(vm_if 3)\"" '$0 ~ /^vswitch_port_rx_packets_total\{/ && index($0, p) { s += $NF } END { print s + 0 }')
check "frames B received on $(vm_if 3)" "$b_rx" -ge 5
a_rx3=$(metric vswitch_port_rx_packets_total "port=\"$(vm_if 3)\"")
check "frames A counted for B's port" "$a_rx3" -eq 0
pass "two daemons with their own runtime_dir forward side by side"

# --- scripts/run.sh stop B stops B only
"$VSWITCH_SOURCE_DIR/scripts/run.sh" stop "$T_DIR/b.toml" >"$T_DIR/stop-b.out" 2>&1 ||
  fail "run.sh stop B failed: $(cat "$T_DIR/stop-b.out")"
log "run.sh stop B: $(cat "$T_DIR/stop-b.out")"
grep -q "vswitchd $B_PID stopped" "$T_DIR/stop-b.out" || fail "run.sh stopped something else"
wait "$B_PID" 2>/dev/null || true
kill -0 "$B_PID" 2>/dev/null && fail "B still runs"
B_PID=""
kill -0 "$A_PID" 2>/dev/null || fail "A was stopped too"
[ -e "$T_DIR/run-b/vswitchd.pid" ] && fail "B left its pid file"
check "A's pid file after B stopped" "$(cat "$T_DIR/run/vswitchd.pid")" -eq "$A_PID"
ping_ok 1 2 5 || fail "A stopped forwarding when B stopped"
"$VSWITCH_SOURCE_DIR/scripts/run.sh" stop "$T_DIR/b.toml" >"$T_DIR/stop-b2.out" 2>&1
grep -q "no vswitchd runs with runtime_dir $T_DIR/run-b" "$T_DIR/stop-b2.out" ||
  fail "run.sh stop of a stopped B: $(cat "$T_DIR/stop-b2.out")"

# --- and A by its config
"$VSWITCH_SOURCE_DIR/scripts/run.sh" stop "$T_DIR/a.toml" >"$T_DIR/stop-a.out" 2>&1 ||
  fail "run.sh stop A failed: $(cat "$T_DIR/stop-a.out")"
grep -q "vswitchd $A_PID stopped" "$T_DIR/stop-a.out" || fail "run.sh stop A: $(cat "$T_DIR/stop-a.out")"
wait "$A_PID" || fail "A exited with status $?"
T_DAEMON_PID=""
[ -e "$T_DIR/run/vswitchd.pid" ] && fail "A left its pid file"
pass "scripts/run.sh stop CONFIG stops that config's daemon and no other"
