#!/usr/bin/env bash
# Runtime changes survive (issue #25): `vswitchctl port add` and `port del` are recorded in the
# drop-in <config dir>/vswitch.d/zz-vswitchctl.toml, so a reload, a restart (SIGTERM) and a crash
# (SIGKILL) of vswitchd all keep them: the added port forwards again after each (ping), the deleted
# one stays away. The hand-written main file is never written (its sha256 is checked after every
# step), `vswitchctl config check` names the drop-in it merged, and a change whose drop-in
# cannot be written (a read-only bind mount of the directory) is refused with nothing changed.
source "$(dirname "$0")/../lib/harness.sh"

cfg=$T_DIR/vswitch.toml
dropin=$T_DIR/vswitch.d/zz-vswitchctl.toml
config_daemon "$cfg" 1
sed -i "1i # The operator's file. Its comments and layout must survive every runtime change." "$cfg"
config_switch "$cfg" sw0 "# the only switch"
config_port "$cfg" 1
config_port "$cfg" 2 "# a port that port del records as removed"
T_NETNS+=("$(vm_ns 1)" "$(vm_ns 2)" "$(vm_ns 3)")
sum0=$(sha256sum "$cfg" | cut -d' ' -f1)
main_unchanged() { check "main file sha256 ($1)" "$(sha256sum "$cfg" | cut -d' ' -f1)" = "$sum0"; }
ports() { ctl --json show ports | json_get '",".join(sorted(p["name"] for p in j["ports"]))'; }
# start_daemon again, its log a new file (start_daemon waits for "ready" in it).
starts=0
start_again() {
  starts=$((starts + 1))
  mv "$T_DIR/vswitchd.log" "$T_DIR/vswitchd-$starts.log"
  start_daemon "$cfg"
}
# The read-only mount of step 6 must go even when the test fails, before the harness removes T_DIR.
trap 'rc=$?; trap - ERR; set +e; umount "$T_DIR/vswitch.d" 2>/dev/null; (exit $rc); cleanup' EXIT

start_daemon "$cfg"
wait_metric vswitch_worker_up '' -eq 1 15
ping_ok 1 2 3 || fail "vm1 cannot reach vm2 at start"

# 1. port add: applied now, recorded in the drop-in.
j=$(ctl --json port add sw0 "$(vm_if 3)" --driver "${T_DRIVER:-tap}" --netns "$(vm_ns 3)" \
  --address 10.77.0.3/24) || fail "port add refused: $j"
echo "$j" | json_get 'j["summary"]' | grep -qF "recorded in $dropin" ||
  fail "port add does not say where it was recorded: $j"
[ -f "$dropin" ] || fail "no drop-in $dropin after port add"
grep -q "name = \"$(vm_if 3)\"" "$dropin" || fail "the drop-in lacks the port: $(cat "$dropin")"
ping_ok 3 1 3 || fail "vm3 (port add) cannot reach vm1"
out=$("$VSWITCH_BIN_DIR/vswitchctl" config check "$cfg") || fail "config check: $out"
echo "$out" | grep -qF "merged drop-in $dropin" || fail "config check does not name the drop-in: $out"
echo "$out" | grep -q "valid (1 switch, 3 ports" || fail "config check: $out"
main_unchanged "after port add"

# 2. A reload keeps the port: nothing to apply.
j=$(ctl --json reload) || fail "reload refused: $j"
check "reload after port add: added" "$(echo "$j" | json_get 'len(j["added"])')" -eq 0
check "reload after port add: removed" "$(echo "$j" | json_get 'len(j["removed"])')" -eq 0
check "ports after reload" "$(ports)" = "$(vm_if 1),$(vm_if 2),$(vm_if 3)"
ping_ok 3 1 3 || fail "vm3 cannot reach vm1 after the reload"
ping_ok 3 2 3 || fail "vm3 cannot reach vm2 after the reload"

# 3. port del of a main-file port: recorded as removed; the main file stays as it is.
j=$(ctl --json port del "$(vm_if 2)") || fail "port del refused: $j"
tap_gone 2
grep -qF "ports = [\"$(vm_if 2)\"]" "$dropin" || fail "no removal record: $(cat "$dropin")"
j=$(ctl --json reload) || fail "reload refused: $j"
check "reload after port del: added" "$(echo "$j" | json_get 'len(j["added"])')" -eq 0
check "ports after port del and reload" "$(ports)" = "$(vm_if 1),$(vm_if 3)"
main_unchanged "after port del"

# 4. Restart (SIGTERM, start again): vm3 is back and forwards, vm2 stays deleted.
stop_daemon || fail "vswitchd did not stop cleanly"
start_again
grep -qF "merged drop-in $dropin" "$T_DIR/vswitchd.log" || fail "vswitchd does not log the drop-in"
wait_metric vswitch_worker_up '' -eq 1 15
check "ports after restart" "$(ports)" = "$(vm_if 1),$(vm_if 3)"
ping_ok 3 1 5 || fail "vm3 cannot reach vm1 after the restart"
rx=$(ctl --json show ports | json_get "[p['rx_packets'] for p in j['ports'] if p['name'] == '$(vm_if 3)'][0]")
check "frames vswitch received from vm3 after the restart" "$rx" -ge 5

# 5. Crash (SIGKILL, start again): the same.
worker=$(worker_pids)
kill -KILL "$T_DAEMON_PID"
wait "$T_DAEMON_PID" 2>/dev/null || true
T_DAEMON_PID=""
# As primary_kill.sh: the worker must be gone for good (a dying one still holds DPDK's file
# locks), and the TAPs with it.
wait_gone 10 "worker $worker of the killed vswitchd" proc_alive "$worker"
for n in 1 3; do tap_gone "$n"; done
start_again
wait_metric vswitch_worker_up '' -eq 1 15
check "ports after a crash" "$(ports)" = "$(vm_if 1),$(vm_if 3)"
ping_ok 3 1 5 || fail "vm3 cannot reach vm1 after a crash and start"
main_unchanged "after two restarts"

# 6. The drop-in directory is read-only: port add is refused, names the path, changes nothing.
if mount --bind "$T_DIR/vswitch.d" "$T_DIR/vswitch.d" 2>/dev/null &&
   mount -o remount,ro,bind "$T_DIR/vswitch.d" 2>/dev/null; then
  before=$(cat "$dropin")
  rc=0; out=$(ctl port add sw0 "$(vm_if 4)" --driver "${T_DRIVER:-tap}" --netns "$(vm_ns 4)" \
    --address 10.77.0.4/24 2>&1) || rc=$?
  T_NETNS+=("$(vm_ns 4)")
  check "port add on a read-only drop-in dir: exit code" "$rc" -eq 1
  echo "$out" | grep -qF "$dropin: Read-only file system" || fail "the refusal: $out"
  echo "$out" | grep -q "nothing was changed" || fail "the refusal: $out"
  log "refused as expected: $out"
  check "ports after the refused port add" "$(ports)" = "$(vm_if 1),$(vm_if 3)"
  check "drop-in after the refused port add" "$(cat "$dropin")" = "$before"
  ip link show "$(vm_if 4)" >/dev/null 2>&1 && fail "the refused port's TAP exists"
  umount "$T_DIR/vswitch.d"
else
  log "cannot bind-mount read-only here: the read-only check is skipped"
fi

# 7. port del of the runtime port, port add of the main file's port again: both persist.
j=$(ctl --json port del "$(vm_if 3)") || fail "port del refused: $j"
tap_gone 3
j=$(ctl --json port add sw0 "$(vm_if 2)" --driver "${T_DRIVER:-tap}" --netns "$(vm_ns 2)" \
  --address 10.77.0.2/24) || fail "port add of vm2 again refused: $j"
ping_ok 2 1 3 || fail "vm2 (added again) cannot reach vm1"
stop_daemon || fail "vswitchd did not stop cleanly"
start_again
wait_metric vswitch_worker_up '' -eq 1 15
check "ports after the last restart" "$(ports)" = "$(vm_if 1),$(vm_if 2)"
ping_ok 2 1 3 || fail "vm2 cannot reach vm1 after the last restart"
ip netns exec "$(vm_ns 3)" ip link show "$(vm_if 3)" >/dev/null 2>&1 && fail "vm3 came back"
main_unchanged "at the end"
ls -A "$T_DIR/vswitch.d" | grep -v '^zz-vswitchctl.toml$' && fail "files left in the drop-in dir"
stop_daemon || fail "vswitchd did not stop cleanly"
pass "port add/del survived a reload, a restart and a crash; the main file kept its sha256"
