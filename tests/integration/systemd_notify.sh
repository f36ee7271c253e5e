#!/usr/bin/env bash
# vswitchd speaks systemd's notify protocol (daemon/systemd_notify.hpp) to a socket of the test's
# own, as systemd would give it (systemd may not be PID 1 on a test machine): READY=1 once it
# forwards, RELOADING=1 and READY=1 around each reload (SIGHUP, and `vswitchctl reload` of a file
# that is refused), WATCHDOG=1 every half WATCHDOG_USEC, STOPPING=1 at the stop. Every message
# comes from vswitchd itself: its workers do not inherit NOTIFY_SOCKET.
source "$(dirname "$0")/../lib/harness.sh"

notify_start  # $sock, $nlog, msgs (harness.sh)
# wait_msg N PATTERN: waits up to 10 s until message number N (from 1) exists; prints it.
wait_msg() {
  local m
  for _ in $(seq 200); do
    m=$(msgs | grep -v '^WATCHDOG=1$' | sed -n "$1p")
    [ -n "$m" ] && { echo "$m"; return 0; }
    sleep 0.05
  done
  fail "no message $1 from vswitchd (wanted: $2); got: $(msgs | grep -v '^WATCHDOG=1$' | tr '\n' ' ')"
}
expect_msg() {  # expect_msg N REGEX
  local m
  m=$(wait_msg "$1" "$2")
  [[ $m =~ $2 ]] || fail "message $1 is '$m', expected /$2/"
  log "systemd got: $m"
}

watchdog_usec=1000000  # a ping every 500 ms
write_config "$T_DIR/vswitch.toml" 2 2
export NOTIFY_SOCKET=$sock WATCHDOG_USEC=$watchdog_usec
# Port probes after start-up hang 2.5 s: the last step wedges the control plane with one.
start_daemon "$T_DIR/vswitch.toml" --fault-hang-probe-ms 2500
unset NOTIFY_SOCKET WATCHDOG_USEC
expect_msg 1 '^READY=1\|STATUS=Forwarding: 2 ports, 2 workers$'
ping_ok 1 2 3 || fail "vm1 cannot reach vm2 after READY=1"

for pid in $(worker_pids); do
  if tr '\0' '\n' <"/proc/$pid/environ" | grep -q '^NOTIFY_SOCKET='; then
    fail "worker $pid inherited NOTIFY_SOCKET"
  fi
done

# SIGHUP reloads an unchanged file: the unit is "reloading", then ready again.
kill -HUP "$T_DAEMON_PID"
expect_msg 2 "^RELOADING=1\|MONOTONIC_USEC=[0-9]+\|STATUS=Reloading $T_DIR/vswitch.toml$"
expect_msg 3 '^READY=1\|STATUS=Forwarding; the last reload was applied$'

# A refused reload also ends in READY=1 (systemd would otherwise wait in "reloading"), and says why.
cp "$T_DIR/vswitch.toml" "$T_DIR/good.toml"
config_port "$T_DIR/vswitch.toml" 3 'queues = "two"'
ctl reload >/dev/null 2>&1 && fail "a reload of an invalid file was applied"
expect_msg 4 '^RELOADING=1\|'
expect_msg 5 '^READY=1\|STATUS=Forwarding; the last reload was refused: .*queues'
cp "$T_DIR/good.toml" "$T_DIR/vswitch.toml"

# The watchdog: WATCHDOG=1 every half WATCHDOG_USEC, never a gap of WATCHDOG_USEC.
sleep 3
read -r n median worst < <(python3 -c 'import json,sys
t = [json.loads(l)["t_ms"] for l in open(sys.argv[1]) if json.loads(l)["msg"] == "WATCHDOG=1"]
g = sorted(b - a for a, b in zip(t, t[1:]))
print(len(t), round(g[len(g) // 2]) if g else -1, round(g[-1]) if g else -1)' "$nlog")
log "watchdog: $n pings, median gap $median ms, longest $worst ms (WATCHDOG_USEC $((watchdog_usec / 1000)) ms)"
check "watchdog pings in the first 4 s or more" "$n" -ge 7
check "median gap between pings (ms)" "$median" -ge 400
check "median gap between pings (ms)" "$median" -le 650
check "longest gap between pings (ms), below WATCHDOG_USEC" "$worst" -lt $((watchdog_usec / 1000))

senders=$(python3 -c 'import json,sys
print(" ".join(sorted({str(json.loads(l)["pid"]) for l in open(sys.argv[1])})))' "$nlog")
check "the pids that sent notifications" "$senders" = "$T_DAEMON_PID"

# A wedged control plane: the config actor waits for a port probe that hangs 2.5 s (a worker that
# never answers DPDK's hot-plug request would hold it up to 120 s). No WATCHDOG=1 is sent while
# it does not answer, so systemd would restart vswitchd after WatchdogSec; the pings resume once
# it answers again.
wd_count() { msgs | grep -c '^WATCHDOG=1$' || true; }
ip netns add "$(vm_ns 3)"
T_NETNS+=("$(vm_ns 3)")
t_add=$(python3 -c 'import time; print(time.monotonic() * 1000)')
ctl port add sw0 "$(vm_if 3)" --driver "${T_DRIVER:-tap}" --netns "$(vm_ns 3)" >"$T_DIR/add3.log" 2>&1 &
add_pid=$!
wait "$add_pid" || { cat "$T_DIR/add3.log"; fail "port add with a hanging probe failed"; }
sleep 1.2
read -r gap_ms in_gap < <(python3 -c 'import json,sys
t0 = float(sys.argv[2])
t = [json.loads(l)["t_ms"] for l in open(sys.argv[1]) if json.loads(l)["msg"] == "WATCHDOG=1"]
before = [x for x in t if x <= t0 + 300]
after = [x for x in t if x > t0 + 300]
print(round(after[0] - before[-1]) if before and after else -1, len([x for x in t if t0 + 300 < x < t0 + 2300]))' "$nlog" "$t_add")
log "control plane held by a 2.5 s probe: $in_gap WATCHDOG=1 in its 2 s, then a gap of $gap_ms ms"
check "WATCHDOG=1 sent while the config actor does not answer" "$in_gap" -eq 0
check "gap in WATCHDOG=1 (ms), longer than WATCHDOG_USEC" "$gap_ms" -gt $((watchdog_usec / 1000))
grep -q "the config actor did not answer the watchdog's ping" "$T_DIR/vswitchd.log" ||
  fail "no log line for the unanswered ping"
grep -q "the control plane answers again" "$T_DIR/vswitchd.log" || fail "no log line when the pings resume"
n0=$(wd_count)
sleep 1.1
check "WATCHDOG=1 once the control plane answers again (in 1.1 s)" "$(($(wd_count) - n0))" -ge 1

stop_daemon
last=$(msgs | tail -n 1)
check "the last message" "$last" = "STOPPING=1|STATUS=Stopping (Terminated)"
pass "READY, RELOADING/READY around reloads, WATCHDOG every $((watchdog_usec / 2000)) ms and none while the control plane is held, STOPPING; all from vswitchd"
