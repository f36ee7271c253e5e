#!/usr/bin/env bash
# Worker start-up, split by step, at a given number of ports (issue #21). Not a test: it prints
# numbers. vswitchd runs PORTS rtap ports (1 queue each, in namespaces, as the test harness makes
# them) with 2 workers; worker 0 is killed KILLS times, 0.5 s apart once both workers are up.
# Per kill: ms until vm1 pings vm2 again (the other worker has the queues by then); per restart,
# the worker's own line "forwarding N ms after start (EAL init …, shared objects …, ports …,
# queues … ms)". The first restart comes while the namespaces still chatter: leave it out.
#
# Usage (root, after scripts/build.sh default):
#   PORTS=64 KILLS=8 bench/startup/worker_startup.sh [BUILD_DIR]   (PORTS 2..250)
set -euo pipefail
build=$(cd "${1:-$(dirname "$0")/../../build/default}" && pwd)
export VSWITCH_BIN_DIR=$build/tools VSWITCH_TEST_TOOLS=$build/tests/tools T_DRIVER=rtap
source "$(dirname "$0")/../../tests/lib/harness.sh"
ports=${PORTS:-2} kills=${KILLS:-10}
((ports >= 2 && ports <= 250)) || fail "PORTS must be 2..250 (the harness's addresses are a /24)"

write_config "$T_DIR/vswitch.toml" "$ports" 2 "crash_loop_limit = 100"
start_daemon "$T_DIR/vswitch.toml"
wait_metric vswitch_worker_up '' -eq 2 30
ping_ok 1 2 3 || fail "vm1 cannot ping vm2"
for k in $(seq "$kills"); do
  wait_metric vswitch_worker_up '' -eq 2 15
  old=$(worker_pid 0)
  [ "$old" -gt 1 ] || fail "no pid for worker 0"
  t0=$(date +%s%N)
  kill -KILL "$old"
  until ip netns exec "$(vm_ns 1)" ping -q -c 1 -W 0.1 10.77.0.2 >/dev/null 2>&1; do
    (($(date +%s%N) - t0 < 10000000000)) || fail "no forwarding 10 s after kill $k"
  done
  log "kill $k: vm1 reaches vm2 again after $((($(date +%s%N) - t0) / 1000000)) ms"
  sleep 0.5
done
wait_metric vswitch_worker_up '' -eq 2 15
grep -o "vswitch-worker 0: forwarding .* ms)" "$T_DIR/vswitchd.log" | tail -n "$kills" |
  while read -r line; do log "$line"; done
stop_daemon
