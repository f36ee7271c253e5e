#!/usr/bin/env bash
# SIGTERM stops everything: vswitchd exits 0, its worker exits with it, and no process, TAP,
# namespace it created, hugepage file, EAL runtime dir, pid file or control socket is left. A second daemon with
# the same prefix then starts cleanly.
source "$(dirname "$0")/../lib/harness.sh"

write_config "$T_DIR/vswitch.toml" 2
for round in 1 2; do
  start_daemon "$T_DIR/vswitch.toml"
  wait_metric vswitch_worker_up 'worker="0"' -eq 1 10
  ping_ok 1 2 3 || fail "round $round: ping failed"
  [ -f "$T_DIR/run/vswitchd.pid" ] || fail "no pid file in runtime_dir"
  [ -S "$T_DIR/run/vswitchd.sock" ] || fail "no control socket in runtime_dir"
  start=$(date +%s%N)
  rc=0
  stop_daemon 10 || rc=$?
  check "round $round: vswitchd exit code after SIGTERM" "$rc" -eq 0
  log "round $round: stopped in $(( ($(date +%s%N) - start) / 1000000 )) ms"
  left=$(settled_leftovers)
  [ -z "$left" ] || fail "round $round: left behind: $left"
  [ -f "$T_DIR/run/vswitchd.pid" ] && fail "pid file left"
  [ -e "$T_DIR/run/vswitchd.sock" ] && fail "control socket left"
  pass "round $round: nothing left after SIGTERM"
done
