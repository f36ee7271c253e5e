#!/usr/bin/env bash
# A container's namespace deleted under traffic, then made again (the container lifecycle,
# docs/vms.md): the port goes down within 1 s with the reason (show ports, metrics, log), nothing
# of the switch keeps the namespace alive (a veth canary in it vanishes, no thread or fd of
# vswitchd or its worker is in it), nothing is written to the port while it is down and the
# frames for it are counted as drops; when a namespace of that name appears again, the port is
# re-created in it and forwards without a reload; `vswitchctl port reset` does the same on demand.
source "$(dirname "$0")/../lib/harness.sh"

config_daemon "$T_DIR/vswitch.toml" 1
config_switch "$T_DIR/vswitch.toml" sw0
config_port "$T_DIR/vswitch.toml" 1
# A fixed MAC, as a container runtime gives its NIC: vm1's ARP entry stays right across restarts.
config_port "$T_DIR/vswitch.toml" 2 'mac = "02:77:00:00:00:02"'
start_daemon "$T_DIR/vswitch.toml"
wait_metric vswitch_worker_up 'worker="0"' -eq 1 10
ping_ok 1 2 5 || fail "ping before the namespace was deleted failed: $(cat "$T_DIR/ping.log")"
p2=$(vm_if 2)
ns2=$(vm_ns 2)
check "vswitch_port_up of $p2" "$(metric vswitch_port_up "port=\"$p2\"")" -eq 1

port_field() {  # port_field PORT FIELD: from `vswitchctl --json show ports`
  ctl --json show ports | json_get "[p for p in j['ports'] if p['name'] == '$1'][0]['$2']"
}
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
limit_ms=1000
[ "${VSWITCH_SANITIZED:-0}" = 1 ] && limit_ms=2000

# --- the namespace goes away under traffic
ino=$(netns_ino "$ns2")
[ -n "$ino" ] || fail "no inode for $ns2"
canary="${T_PREFIX}c2"
netns_canary "$ns2" "$canary"
ip netns exec "$(vm_ns 1)" ping -q -i 0.01 -w 60 10.77.0.2 >"$T_DIR/flood.log" 2>&1 &
flood=$!
T_PIDS+=("$flood")
sleep 0.5
t0=$(date +%s%N)
ip netns del "$ns2"
# Polled by scraping: the state is set before the port's device is closed.
until [ "$(metric vswitch_port_up "port=\"$p2\"")" = 0 ]; do
  [ "$(ms_since "$t0")" -lt "$limit_ms" ] || fail "port $p2 not down $limit_ms ms after ip netns del"
  sleep 0.01
done
down_ms=$(ms_since "$t0")
[ "$down_ms" -lt "$limit_ms" ] || fail "port $p2 down only ${down_ms} ms after ip netns del"
log "port $p2 down ${down_ms} ms after ip netns del"
for _ in $(seq 100); do grep -q "port $p2 closed" "$T_DIR/vswitchd.log" && break; sleep 0.05; done
log "$(grep "port $p2 closed" "$T_DIR/vswitchd.log")"
check "state in show ports" "$(port_field "$p2" state)" = down
reason=$(port_field "$p2" reason)
check "reason in show ports" "$reason" = "namespace $ns2 was deleted"
ctl show ports | grep -q "^$p2 is down: namespace $ns2 was deleted" || fail "show ports table: $(ctl show ports)"
check "vswitch_port_up of $p2" "$(metric vswitch_port_up "port=\"$p2\"")" -eq 0
check "vswitch_port_down_total{reason=netns_deleted}" \
  "$(metric vswitch_port_down_total "port=\"$p2\",reason=\"netns_deleted\"")" -eq 1
grep -q "port $p2 down: namespace $ns2 was deleted" "$T_DIR/vswitchd.log" || fail "no log line"

# Nothing is written to the port while it is down; what was meant for it is counted as dropped.
tx_then=$(port_field "$p2" tx_packets)
drops_then=$(metric vswitch_port_drops_total "port=\"$(vm_if 1)\",reason=\"no_destination\"")
sleep 1
check "frames written to $p2 while down" "$(port_field "$p2" tx_packets)" -eq "$tx_then"
drops_now=$(metric vswitch_port_drops_total "port=\"$(vm_if 1)\",reason=\"no_destination\"")
check "vm1's frames counted as no_destination drops in 1 s" "$((drops_now - drops_then))" -ge 20
kill "$flood" 2>/dev/null || true

# Really gone: the kernel destroys the namespace once nothing holds it, and the veth pair with it.
while ip link show "$canary" >/dev/null 2>&1; do
  [ "$(ms_since "$t0")" -lt 5000 ] ||
    fail "namespace $ns2 still alive 5 s after ip netns del (canary $canary exists); holders: $(netns_holders "$ino" "$T_DAEMON_PID" $(worker_pids))"
  sleep 0.01
done
log "namespace $ns2 destroyed: its canary was gone when looked at, $(ms_since "$t0") ms after ip netns del"
holders=$(netns_holders "$ino" "$T_DAEMON_PID" $(worker_pids))
check "threads and fds of vswitchd and its worker in the old namespace" "${holders:-none}" = none

# forwards_within SECONDS: vm1 reaches vm2 within SECONDS. A re-created port is "up" once
# vswitchd has made it; the workers adopt it at their next housekeeping tick, and vm1 may still
# have the old NIC's MAC in its neighbour cache: retry, and log how long it took.
forwards_within() {
  local t0 deadline=$(( ${EPOCHREALTIME//[.,]/} + $1 * 1000000 ))
  t0=${EPOCHREALTIME//[.,]/}
  until ping_ok 1 2 3; do
    [ "${EPOCHREALTIME//[.,]/}" -lt "$deadline" ] || return 1
    ip -n "$(vm_ns 1)" neigh flush dev "$(vm_if 1)" 2>/dev/null || true
    sleep 0.1
  done
  log "vm1 reaches vm2 $(( (${EPOCHREALTIME//[.,]/} - t0) / 1000 )) ms after the port came back"
}

# --- the container starts again: a namespace of that name appears
t0=$(date +%s%N)
ip netns add "$ns2"
ip -n "$ns2" link set lo up
until [ "$(port_field "$p2" state)" = up ]; do
  [ "$(ms_since "$t0")" -lt 3000 ] || fail "port $p2 not re-created 3 s after ip netns add: $(port_field "$p2" reason)"
  sleep 0.01
done
log "port $p2 re-created $(ms_since "$t0") ms after ip netns add"
ip -n "$ns2" link show "$p2" >/dev/null || fail "$p2 is not in the new $ns2"
# (The new namespace may even get the old one's inode number: nsfs reuses freed numbers.)
forwards_within 8 || fail "ping to the re-created port failed: $(cat "$T_DIR/ping.log")"
pass "port forwards again in the new namespace, without a reload"
check "vswitch_port_recreated_total" "$(metric vswitch_port_recreated_total "port=\"$p2\"")" -eq 1
check "vswitch_port_up of $p2" "$(metric vswitch_port_up "port=\"$p2\"")" -eq 1
grep -q "port $p2 up again: re-created (namespace $ns2 is back)" "$T_DIR/vswitchd.log" || fail "no log line"

# --- port reset: closed and made again on demand
ctl port reset "$p2" >"$T_DIR/reset.out" || fail "port reset failed: $(cat "$T_DIR/reset.out")"
grep -q "port $p2 re-created" "$T_DIR/reset.out" || fail "port reset said: $(cat "$T_DIR/reset.out")"
check "state after port reset" "$(port_field "$p2" state)" = up
forwards_within 8 || fail "ping after port reset failed: $(cat "$T_DIR/ping.log")"
check "vswitch_port_down_total{reason=reset}" \
  "$(metric vswitch_port_down_total "port=\"$p2\",reason=\"reset\"")" -eq 1
# Without its namespace, a reset says why and the port stays down until the namespace is back.
ip netns del "$ns2"
until [ "$(port_field "$p2" state)" = down ]; do sleep 0.01; done
ctl port reset "$p2" >"$T_DIR/reset2.out" 2>&1 && fail "port reset without a namespace succeeded"
grep -q "namespace $ns2 does not exist" "$T_DIR/reset2.out" || fail "port reset said: $(cat "$T_DIR/reset2.out")"
check "state after the refused reset" "$(port_field "$p2" state)" = down
pass "port reset re-creates the port, and explains why it cannot without its namespace"
stop_daemon
pass "namespace deleted and made again under a running switch (${down_ms} ms to port down)"
