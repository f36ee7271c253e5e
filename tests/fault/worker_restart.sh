#!/usr/bin/env bash
# `vswitchctl worker restart N` (how a worker binary is upgraded) under iperf3 load: a new
# process attaches, the old one stops and hands over its queues. The flows of the other worker
# lose nothing (a witness ping polled by the other worker: zero loss over three replacements),
# the iperf3 stream survives, and the replaced worker's own flows lose nothing either: they pause
# for the hand-over.
source "$(dirname "$0")/../lib/harness.sh"

write_config "$T_DIR/vswitch.toml" 4 2
start_daemon "$T_DIR/vswitch.toml"
wait_metric vswitch_worker_up '' -eq 2 15
for n in 1 2 3 4; do ping_ok "$n" $(( n % 4 + 1 )) 2 || fail "vm$n cannot ping"; done
heap0=$(metric vswitch_dpdk_heap_allocated_bytes)

ip netns exec "$(vm_ns 4)" iperf3 -s -1 >"$T_DIR/iperf-server.log" 2>&1 &
T_PIDS+=("$!")
sleep 0.5
# Paced at 300 Mbit/s: both workers share one CPU on a 2-core machine, and an unpaced stream
# starved the witness's worker while the replacement started (a kernel queue overflow, not the
# hand-over: seen once under ASan).
ip netns exec "$(vm_ns 3)" iperf3 -c 10.77.0.4 -t 12 -b 300M -J >"$T_DIR/iperf.json" 2>"$T_DIR/iperf.err" &
iperf=$!
T_PIDS+=("$iperf")

# The witness flow vm1 -> vm2 settles on one worker (the TAP steers a flow to the queue its
# replies were written to, which is the polling worker's tx queue).
witness_start 1 2
w=$(hot_queue_worker "$(vm_if 1)")
other=$((1 - w))
log "the witness flow is polled by worker $w; replacing worker $other three times"
for round in 1 2 3; do
  old=$(worker_pid "$other")
  j=$(ctl --json worker restart "$other") || fail "worker restart refused: $j"
  check "round $round: old pid in the reply" "$(echo "$j" | json_get 'j["old_pid"]')" -eq "$old"
  new=$(echo "$j" | json_get 'j["new_pid"]')
  [ "$new" != "$old" ] && kill -0 "$new" || fail "round $round: no new worker process ($j)"
  wait_gone 2 "round $round: the old worker $old" proc_alive "$old"
  log "round $round: worker $other replaced in $(echo "$j" | json_get 'round(j["ms"])') ms ($old -> $new)"
  sleep 0.5
done
read -r sent got gap < <(witness_stop)
log "witness on worker $w: sent $sent, received $got, longest gap $gap ms"
check "witness pings" "$sent" -ge 100
check "witness pings lost on the other worker" "$((sent - got))" -eq 0
check "state of the replaced worker" "$(ctl --json show workers | json_get "j['workers'][$other]['state']")" = running
check "restarts counted" "$(metric vswitch_worker_restarts_total "worker=\"$other\"")" -eq 3
grep "took over from" "$T_DIR/vswitchd.log" | sed 's/^/hand-over: /' | while read -r l; do log "$l"; done

# The witness's own worker, replaced under it three times: the old process forwards what it had
# read before it lets go, the new one takes the rest from the kernel's queues. A pause, no loss.
witness_start 1 2
sleep 0.5
for round in 1 2 3; do
  ctl worker restart "$w" >/dev/null || fail "worker restart $w refused"
  sleep 0.3
done
read -r sent got gap < <(witness_stop)
log "witness on the replaced worker $w: sent $sent, received $got, longest gap $gap ms"
check "witness pings lost while their own worker was replaced 3 times" "$((sent - got))" -eq 0

wait "$iperf" || fail "iperf3 failed during the replacements: $(cat "$T_DIR/iperf.err")"
gbps=$(json_get 'round(j["end"]["sum_received"]["bits_per_second"] / 1e9, 2)' <"$T_DIR/iperf.json")
retr=$(json_get 'j["end"]["sum_sent"].get("retransmits", 0)' <"$T_DIR/iperf.json")
log "iperf3 vm3 -> vm4 across 6 replacements: ${gbps} Gbit/s, ${retr} retransmits"
python3 -c "import sys; sys.exit(0 if float('$gbps') > 0.1 else 1)" || fail "iperf3 stalled: $gbps Gbit/s"
# A replaced worker leaves with _exit (no rte_eal_cleanup): what it allocated in the shared DPDK
# heap must already be back (it used to leave EAL's service tables, 155904 bytes per process).
heap1=$(metric vswitch_dpdk_heap_allocated_bytes)
check "DPDK heap bytes left allocated by 6 replaced workers" "$((heap1 - heap0))" -eq 0
stop_daemon
pass "workers replaced under load; the other worker's witness lost nothing; the heap is as before"
