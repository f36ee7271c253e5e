#!/usr/bin/env bash
# Reload applies only the difference, while two other VMs keep pinging each other without a
# single loss: ports added and removed by file reloads (vswitchctl reload and SIGHUP) and by
# vswitchctl port add/del, a VLAN change applied in place, and refused changes (an invalid file,
# a change that needs a restart) that leave the running config forwarding. Reports reload times.
source "$(dirname "$0")/../lib/harness.sh"

cfg=$T_DIR/vswitch.toml
# mbufs_per_worker leaves room for the ports added later (a reload cannot grow the pools).
T_MBUFS=75000
base() {
  config_daemon "$cfg" 1
  config_switch "$cfg" sw0
  config_port "$cfg" 1
  config_port "$cfg" 2
}
base
start_daemon "$cfg"
wait_metric vswitch_worker_up '' -eq 1 15
ping_ok 1 2 3 || fail "ping before the reloads failed"

# The witnesses: vm1 pings vm2 every 10 ms for the whole test.
ip netns exec "$(vm_ns 1)" ping -i 0.01 -W 1 10.77.0.2 >"$T_DIR/witness.log" 2>&1 &
witness=$!
T_PIDS+=("$witness")
times=()
reload_ok() {  # reload_ok WHAT: vswitchctl reload must succeed; keeps its JSON in $j
  j=$(ctl --json reload) || fail "$1: reload refused: $j"
  times+=("$(echo "$j" | json_get 'round(j["ms"], 1)')")
  log "$1: $(echo "$j" | json_get 'j["summary"]') in ${times[-1]} ms"
}
sleep 1

# 1. A port added by the file.
config_port "$cfg" 3
reload_ok "add vm3"
check "added" "$(echo "$j" | json_get '",".join(j["added"])')" = "$(vm_if 3)"
ping_ok 3 1 3 || fail "vm3 cannot reach vm1 after being added"

# 2. One port removed and another added in one reload.
base
config_port "$cfg" 4
reload_ok "replace vm3 by vm4"
check "removed" "$(echo "$j" | json_get '",".join(j["removed"])')" = "$(vm_if 3)"
check "added" "$(echo "$j" | json_get '",".join(j["added"])')" = "$(vm_if 4)"
wait_gone 5 "vm3's TAP in the root namespace" ip link show "$(vm_if 3)"
ip netns list | grep -q "^$(vm_ns 3) " && fail "vm3's namespace (made by vswitchd) is still there"
check "ports" "$(ctl --json show ports | json_get 'len(j["ports"])')" -eq 3
ping_ok 4 2 3 || fail "vm4 cannot reach vm2"

# 3. An invalid file is refused as a whole; the running config keeps forwarding.
cp "$cfg" "$T_DIR/good.toml"
config_port "$cfg" 5 'queues = "two"'
rc=0; out=$(ctl reload 2>&1) || rc=$?
check "invalid reload exit code" "$rc" -eq 1
echo "$out" | grep -q "queues" || fail "the refusal does not name the key: $out"
echo "$out" | grep -q "$cfg" || fail "the refusal does not name the file: $out"
check "ports after the refused reload" "$(ctl --json show ports | json_get 'len(j["ports"])')" -eq 3
check "last reload successful" "$(metric vswitch_config_last_reload_successful)" -eq 0
ping_ok 4 1 3 || fail "the old config stopped forwarding after a refused reload"

# 4. A change that needs a restart is refused too.
sed 's/^workers = 1$/workers = 2/' "$T_DIR/good.toml" >"$cfg"
rc=0; out=$(ctl reload 2>&1) || rc=$?
check "restart-needing reload exit code" "$rc" -eq 1
echo "$out" | grep -q "\[daemon\] workers: 1 -> 2" || fail "the refusal does not say what: $out"
check "reload failures counted" "$(metric vswitch_config_reload_failures_total)" -eq 2

# 5. A VLAN change is applied in place: vm4 moves to VLAN 5 and can no longer reach vm1.
cp "$T_DIR/good.toml" "$cfg"
sed -i "/name = \"$(vm_if 4)\"/a vlan = 5" "$cfg"
reload_ok "vm4 to VLAN 5"
check "retagged" "$(echo "$j" | json_get '",".join(j["retagged"])')" = "$(vm_if 4)"
ping_ok 4 1 2 && fail "vm4 still reaches vm1 across VLANs"
check "VLAN shown" "$(ctl --json show ports | json_get "[p['vlan'] for p in j['ports'] if p['name'] == '$(vm_if 4)'][0]")" -eq 5

# 6. vswitchctl port add / port del at run time.
j=$(ctl --json port add sw0 "$(vm_if 6)" --driver "${T_DRIVER:-tap}" --netns "$(vm_ns 6)" \
  --address 10.77.0.6/24) || fail "port add refused: $j"
T_NETNS+=("$(vm_ns 6)")
times+=("$(echo "$j" | json_get 'round(j["ms"], 1)')")
ping_ok 6 2 3 || fail "vm6 (port add) cannot reach vm2"
rc=0; out=$(ctl port add sw0 "$(vm_if 6)" 2>&1) || rc=$?
check "duplicate port add exit code" "$rc" -eq 1
echo "$out" | grep -q "duplicate port name" || fail "duplicate port add: $out"
j=$(ctl --json port del "$(vm_if 6)") || fail "port del refused: $j"
times+=("$(echo "$j" | json_get 'round(j["ms"], 1)')")
tap_gone 6

# 7. SIGHUP reloads the file: back to vm1, vm2 and vm4 (VLAN 5).
cp "$T_DIR/good.toml" "$cfg"
before=$(metric vswitch_config_reloads_total)
kill -HUP "$T_DAEMON_PID"
wait_metric vswitch_config_reloads_total '' -gt "$before" 10
check "VLAN back to 1 after SIGHUP" "$(ctl --json show ports | json_get "[p['vlan'] for p in j['ports'] if p['name'] == '$(vm_if 4)'][0]")" -eq 1
ping_ok 4 1 3 || fail "vm4 cannot reach vm1 after SIGHUP"

# The witnesses lost nothing.
kill -INT "$witness"
wait "$witness" || true
summary=$(grep "packets transmitted" "$T_DIR/witness.log")
sent=$(echo "$summary" | awk '{print $1}')
got=$(echo "$summary" | awk '{print $4}')
log "witness vm1 -> vm2: $summary"
check "witness pings" "$sent" -ge 300
check "witness pings lost during the reloads" "$((sent - got))" -eq 0
log "apply times (ms): ${times[*]}"
stop_daemon
pass "reloads applied only their difference; refused ones changed nothing; no witness ping lost"
