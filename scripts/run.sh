#!/usr/bin/env bash
# Set up, build and run the switch on the default config (config/vswitch.toml): one switch with two
# ports whose TAPs sit in the network namespaces vm1 and vm2. Shows vm1 pinging vm2 through the
# switch, then leaves the switch running.
#
# Usage: sudo scripts/run.sh [CONFIG]        start (default config/vswitch.toml)
#        sudo scripts/run.sh stop [CONFIG]   stop the vswitchd of CONFIG (SIGTERM; it removes what
#                                            it created), found by its runtime_dir's pid file
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=lib/common.sh
source "$REPO/scripts/lib/common.sh"

# The [daemon] runtime_dir of a config (default /run/vswitch): where its pid file and log are.
runtime_dir_of() {
  python3 -c 'import sys, tomllib
with open(sys.argv[1], "rb") as f: d = tomllib.load(f).get("daemon", {})
print(d.get("runtime_dir", "/run/vswitch"))' "$1" || die "cannot read runtime_dir from $1"
}

if [ "${1:-}" = "stop" ]; then
  config=$(realpath "${2:-$REPO/config/vswitch.toml}")
else
  config=$(realpath "${1:-$REPO/config/vswitch.toml}")
fi
RUN_DIR=$(runtime_dir_of "$config")
PID_FILE=$RUN_DIR/vswitchd.pid
LOG=$RUN_DIR/vswitchd.log

# True while a vswitchd holds the pid file's lock (it does for as long as it runs): a pid file
# left by a killed daemon is not taken for a running one, and its pid is never signalled.
running() { [ -f "$PID_FILE" ] && ! flock -n "$PID_FILE" true 2>/dev/null; }

stop() {
  running || { echo "no vswitchd runs with runtime_dir $RUN_DIR (config $config)"; return 0; }
  pid=$(cat "$PID_FILE")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && die "vswitchd ($pid) did not stop; see $LOG"
  echo "vswitchd $pid stopped (runtime_dir $RUN_DIR)"
}

if [ "${1:-}" = "stop" ]; then stop; exit 0; fi

"$REPO/scripts/setup.sh" --quiet
"$REPO/scripts/build.sh" release >/dev/null || die "the build failed (output above)"
dir=$REPO/build/release
"$dir/tools/vswitchctl" config check "$config"
if running; then
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
  stop:      sudo scripts/run.sh stop${1:+ $config}
EOT
