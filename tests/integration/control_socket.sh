#!/usr/bin/env bash
# vswitchctl against a running switch: every `show` checked field by field in --json, the human
# tables, fdb flush, errors with their exit codes, and who may use the socket (root only; mode
# 0600). Also: vswitchd listens on nothing but its metrics address and the control socket.
source "$(dirname "$0")/../lib/harness.sh"

write_config "$T_DIR/vswitch.toml" 2 2
start_daemon "$T_DIR/vswitch.toml"
wait_metric vswitch_worker_up '' -eq 2 15
ping_ok 1 2 5 || fail "ping failed: $(cat "$T_DIR/ping.log")"
v1=$(vm_if 1) v2=$(vm_if 2)
mac1=$(vm_mac 1) mac2=$(vm_mac 2)
sock=$T_DIR/run/vswitchd.sock

# --- the socket: root only ---
check "socket mode and owner" "$(stat -c '%a:%U' "$sock")" = "600:root"
chmod o+x "$T_DIR"  # let the unprivileged user reach the socket, so its mode is what stops it
rc=0
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups \
  "$VSWITCH_BIN_DIR/vswitchctl" --socket "$sock" show ports 2>&1) || rc=$?
check "exit code of a non-root vswitchctl" "$rc" -eq 3
echo "$out" | grep -q "Permission denied" || fail "non-root refusal does not say why: $out"

# --- show switches ---
j=$(ctl --json show switches)
check "switches" "$(echo "$j" | json_get 'len(j["switches"])')" -eq 1
check "switch name" "$(echo "$j" | json_get 'j["switches"][0]["name"]')" = sw0
check "switch ports" "$(echo "$j" | json_get '",".join(j["switches"][0]["ports"])')" = "$v1,$v2"
check "fdb_max_entries" "$(echo "$j" | json_get 'j["switches"][0]["fdb_max_entries"]')" -eq 8192
check "fdb_aging_s" "$(echo "$j" | json_get 'j["switches"][0]["fdb_aging_s"]')" -eq 300
check "fdb_entries (two VMs learned)" "$(echo "$j" | json_get 'j["switches"][0]["fdb_entries"]')" -ge 2

# --- show ports ---
j=$(ctl --json show ports)
check "ports" "$(echo "$j" | json_get 'len(j["ports"])')" -eq 2
for n in 1 2; do
  p="[p for p in j['ports'] if p['name'] == '$(vm_if $n)'][0]"
  check "vm$n driver" "$(echo "$j" | json_get "$p['driver']")" = "${T_DRIVER:-tap}"
  check "vm$n queues (workers + 1)" "$(echo "$j" | json_get "$p['queues']")" -eq 3
  check "vm$n mtu" "$(echo "$j" | json_get "$p['mtu']")" -eq 1500
  check "vm$n netns" "$(echo "$j" | json_get "$p['netns']")" = "$(vm_ns $n)"
  check "vm$n switch" "$(echo "$j" | json_get "$p['switch']")" = sw0
  check "vm$n link_up" "$(echo "$j" | json_get "$p['link_up']")" = True
  check "vm$n vlan" "$(echo "$j" | json_get "$p['vlan_mode'] + str($p['vlan'])")" = access1
  check "vm$n rx_packets" "$(echo "$j" | json_get "$p['rx_packets']")" -ge 5
  check "vm$n tx_packets" "$(echo "$j" | json_get "$p['tx_packets']")" -ge 5
  check "vm$n switch_drops" "$(echo "$j" | json_get "$p['switch_drops']")" -eq 0
done
if [ "${T_DRIVER:-tap}" = rtap ]; then  # net_rtap reports the VM side's MAC
  check "vm1 mac" "$(echo "$j" | json_get "[p for p in j['ports'] if p['name'] == '$v1'][0]['mac']")" = "$mac1"
fi
ctl show ports | grep -q "^NAME  *SWITCH  *DRIVER" || fail "show ports has no table header"
check "show ports table rows" "$(ctl show ports | grep -c "sw0")" -eq 2

# --- show queues: every rx queue has a worker, round robin ---
j=$(ctl --json show queues)
check "rx queues" "$(echo "$j" | json_get 'len(j["queues"])')" -eq 6
check "queue owners" "$(echo "$j" | json_get '"".join(str(q["worker"]) for q in j["queues"])')" = 010010

# --- show workers ---
j=$(ctl --json show workers)
check "workers" "$(echo "$j" | json_get 'len(j["workers"])')" -eq 2
check "worker states" "$(echo "$j" | json_get '",".join(w["state"] for w in j["workers"])')" = running,running
pids=$(echo "$j" | json_get '" ".join(sorted(str(w["pid"]) for w in j["workers"]))')
check "worker pids" "$pids" = "$(worker_pids | sort | tr '\n' ' ' | sed 's/ $//')"

# --- show fdb, filters, flush ---
j=$(ctl --json show fdb)
check "vm1's MAC on its port" "$(echo "$j" | json_get "[e['port'] for e in j['fdb'] if e['mac'] == '$mac1'][0]")" = "$v1"
check "vm2's MAC learned" "$(echo "$j" | json_get "[e['type'] for e in j['fdb'] if e['mac'] == '$mac2'][0]")" = learned
check "--mac filter" "$(ctl --json show fdb --mac "${mac1^^}" | json_get 'len(j["fdb"])')" -eq 1
check "--vlan filter" "$(ctl --json show fdb --vlan 2 | json_get 'len(j["fdb"])')" -eq 0
check "--switch filter" "$(ctl --json show fdb --switch sw0 | json_get 'len(j["fdb"])')" -ge 2
# vm1 is silenced first: its IPv6 stack (router solicitations, MLD reports) would otherwise have
# its MAC learned again between the flush and the show (seen once in a CI-like run under ASan).
ip -n "$(vm_ns 1)" link set "$v1" down
sleep 0.2  # learn events already queued by the workers are applied by then
check "fdb flush --port" "$(ctl --json fdb flush --port "$v1" | json_get 'j["flushed"]')" -ge 1
check "vm1's MAC after the flush" "$(ctl --json show fdb --mac "$mac1" | json_get 'len(j["fdb"])')" -eq 0
check "vm2's MAC after the flush" "$(ctl --json show fdb --mac "$mac2" | json_get 'len(j["fdb"])')" -eq 1
ip -n "$(vm_ns 1)" link set "$v1" up

# --- version ---
j=$(ctl --json version)
check "daemon pid" "$(echo "$j" | json_get 'j["pid"]')" -eq "$T_DAEMON_PID"

# --- errors and exit codes ---
rc=0; ctl show 2>/dev/null || rc=$?
check "usage error exit code" "$rc" -eq 64
rc=0; out=$(ctl worker restart 9 2>&1) || rc=$?
check "refused request exit code" "$rc" -eq 1
echo "$out" | grep -q "no worker 9" || fail "worker restart 9: $out"
rc=0; out=$(ctl show fdb --switch nope 2>&1) || rc=$?
check "show fdb of an unknown switch" "$rc" -eq 1
rc=0; ctl --socket "$T_DIR/nothing.sock" show ports 2>/dev/null || rc=$?
check "no daemon exit code" "$rc" -eq 3
raw() { python3 -c 'import socket,sys
s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.argv[2].encode()+b"\n")
print(s.makefile().readline().strip())' "$sock" "$1"; }
check "garbage request" "$(raw 'hello' | json_get 'j["error"]')" = "bad request: the request is not a JSON object"
check "unknown show" "$(raw '{"cmd":"show","what":"x"}' | json_get 'j["ok"]')" = False
check "still serving after bad requests" "$(ctl --json show workers | json_get 'j["ok"]')" = True

# --- listeners: the metrics address and the control socket, nothing else ---
tcp=$(ss -Hltnp | grep "pid=$T_DAEMON_PID," | awk '{print $4}' | sort -u | tr '\n' ' ')
check "TCP listeners of vswitchd" "$tcp" = "127.0.0.1:${T_METRICS_PORT} "
check "UDP sockets of vswitchd" "$(ss -Hlunp | grep -c "pid=$T_DAEMON_PID," || true)" -eq 0
unix=$(ss -Hlxp | grep "pid=$T_DAEMON_PID," | awk '{print $5}' | grep -v "^/var/run/dpdk/$T_PREFIX/" |
  sort -u | tr '\n' ' ')
check "unix listeners of vswitchd (besides DPDK's multi-process socket)" "$unix" = "$sock "

# --- workers run without any capability and with no_new_privs ---
for pid in $(worker_pids); do
  for f in CapInh CapPrm CapEff CapBnd CapAmb; do
    check "worker $pid $f" "$(awk -v f="$f:" '$1 == f {print $2}' /proc/"$pid"/status)" = 0000000000000000
  done
  check "worker $pid NoNewPrivs" "$(awk '$1 == "NoNewPrivs:" {print $2}' /proc/"$pid"/status)" -eq 1
done

# --- the actor threads are not pinned to the EAL's main core ---
caf=0
for t in /proc/"$T_DAEMON_PID"/task/*; do
  case $(cat "$t/comm") in caf.*) ;; *) continue ;; esac
  caf=$((caf + 1))
  cpus=$(awk '/Cpus_allowed_list/ {print $2}' "$t/status")
  [ "$cpus" = "$(awk '/Cpus_allowed_list/ {print $2}' /proc/$$/status)" ] ||
    fail "actor thread $(cat "$t/comm") may run on CPUs $cpus only"
done
check "actor threads (CAF) found, none pinned" "$caf" -ge 2

stop_daemon
[ -e "$sock" ] && fail "control socket left after stop"
pass "vswitchctl: shows, filters, flush, errors and the socket's access checked"
