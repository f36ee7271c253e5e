#!/usr/bin/env bash
# Set up, build and run the switch on the default config (config/vswitch.toml): one switch with two
# ports whose TAPs sit in the network namespaces vm1 and vm2. Shows vm1 pinging vm2 through the
# switch, then leaves the switch running.
#
# Usage: sudo scripts/run.sh [CONFIG]     start (default config/vswitch.toml)
#        sudo scripts/run.sh stop         stop it (SIGTERM; it removes what it created)
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=lib/common.sh
source "$REPO/scripts/lib/common.sh"
RUN_DIR=/run/vswitch
PID_FILE=$RUN_DIR/vswitchd.pid
LOG=$RUN_DIR/vswitchd.log

stop() {
  [ -f "$PID_FILE" ] || { echo "vswitchd is not running (no $PID_FILE)"; return 0; }
  pid=$(cat "$PID_FILE")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && die "vswitchd ($pid) did not stop; see $LOG"
  echo "vswitchd stopped"
}

if [ "${1:-}" = "stop" ]; then stop; exit 0; fi
config=$(realpath "${1:-$REPO/config/vswitch.toml}")

"$REPO/scripts/setup.sh" --quiet
"$REPO/scripts/build.sh" release >/dev/null || die "the build failed (output above)"
dir=$REPO/build/release
"$dir/tools/vswitchctl" config check "$config"
if [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
  echo "vswitchd already runs (pid $(cat "$PID_FILE")); restarting it"
  stop
fi
mkdir -p "$RUN_DIR"
setsid "$dir/tools/vswitchd" --config "$config" >"$LOG" 2>&1 </dev/null &
pid=$!
for _ in $(seq 200); do
  grep -q "vswitchd: ready" "$LOG" && break
  kill -0 "$pid" 2>/dev/null || { cat "$LOG"; die "vswitchd failed to start (log above)"; }
  sleep 0.05
done
grep "vswitchd: ready" "$LOG" || { cat "$LOG"; die "vswitchd not ready after 10 s"; }
metrics=$(sed -n 's/.*metrics on \(http[^ ]*\).*/\1/p' "$LOG" | head -n 1)

# Wait for the worker, then ping the first port's peer from the first namespace.
for _ in $(seq 100); do
  curl -sf "$metrics" | grep -q '^vswitch_worker_up{worker="0"} 1' && break
  sleep 0.05
done
echo
echo "\$ ip netns exec vm1 ping -c 3 10.0.0.2"
ip netns exec vm1 ping -c 3 10.0.0.2
echo
cat <<EOT
vswitchd runs (pid $pid), with its worker; log: $LOG
  metrics:   curl $metrics     (Prometheus format)
  try:       ip netns exec vm2 ping fd00::1
  stop:      sudo scripts/run.sh stop
EOT
