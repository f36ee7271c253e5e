#!/usr/bin/env bash
# A vswitchd killed with SIGKILL leaves its pid file and control socket behind (it cannot remove
# them). They must not stop the next start: the kernel released the pid file's lock with the
# process, so the new vswitchd takes both over, says so, and answers on the same socket.
source "$(dirname "$0")/../lib/harness.sh"

write_config "$T_DIR/vswitch.toml" 2
start_daemon "$T_DIR/vswitch.toml"
wait_metric vswitch_worker_up 'worker="0"' -eq 1 10
old=$T_DAEMON_PID
kill -KILL "$old"
wait "$old" 2>/dev/null || true
T_DAEMON_PID=""
for _ in $(seq 100); do [ -z "$(worker_pids)" ] && break; sleep 0.05; done
check "pid file left by the killed daemon" "$(cat "$T_DIR/run/vswitchd.pid")" -eq "$old"
[ -S "$T_DIR/run/vswitchd.sock" ] || fail "the killed daemon's socket is not there (test premise)"
ctl version >/dev/null 2>&1 && fail "the dead socket answers?"
"$VSWITCH_SOURCE_DIR/scripts/run.sh" stop "$T_DIR/vswitch.toml" >"$T_DIR/stop.out" 2>&1
grep -q "no vswitchd runs" "$T_DIR/stop.out" || fail "run.sh stop on a stale pid file: $(cat "$T_DIR/stop.out")"

start_daemon "$T_DIR/vswitch.toml"
grep -q "vswitchd.pid named pid $old, which is gone (killed?): taken over" "$T_DIR/vswitchd.log" ||
  fail "no take-over line in the log"
check "pid file of the new daemon" "$(cat "$T_DIR/run/vswitchd.pid")" -eq "$T_DAEMON_PID"
check "pid the socket answers for" "$(ctl --json version | json_get "j['pid']")" -eq "$T_DAEMON_PID"
wait_metric vswitch_worker_up 'worker="0"' -eq 1 10
ping_ok 1 2 5 || fail "the new daemon does not forward"
stop_daemon
[ -e "$T_DIR/run/vswitchd.pid" ] && fail "pid file left after a clean stop"
[ -e "$T_DIR/run/vswitchd.sock.lock" ] && fail "socket lock file left after a clean stop"
pass "a killed daemon's pid file and socket are taken over by the next start"
