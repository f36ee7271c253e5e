#!/usr/bin/env bash
# protect_system.sh RW_PATH... -- COMMAND...: runs COMMAND in a mount namespace of its own in
# which every mount is read-only but /proc, /sys, /dev and the RW_PATHs, as systemd's
# ProtectSystem=strict with ReadWritePaths= lays it out (for tests on machines where systemd is
# not PID 1). Propagation is "slave", as systemd makes it: mounts made outside afterwards (a VM's
# `ip netns add`) appear inside, and none made inside leak out.
set -euo pipefail
rw=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do rw+=("$1"); shift; done
[ "${1:-}" = -- ] || { echo "usage: protect_system.sh RW_PATH... -- COMMAND..." >&2; exit 64; }
shift
exec unshare --mount --propagation slave -- bash -c '
  set -euo pipefail
  n=$1; shift
  rw=("${@:1:$n}"); shift "$n"
  # Each writable path becomes a mount point of its own first, so that making its parent
  # read-only below does not reach it.
  for p in "${rw[@]}"; do mount --bind "$p" "$p"; done
  awk "{ print \$5 }" /proc/self/mountinfo | while read -r m; do
    case $m in /proc | /proc/* | /sys | /sys/* | /dev | /dev/*) continue ;; esac
    for p in "${rw[@]}"; do [ "$m" = "$p" ] && continue 2; done
    mount -o remount,bind,ro "$m" 2>/dev/null || true
  done
  for p in "${rw[@]}"; do mount -o remount,bind,rw "$p"; done
  exec "$@"
' protect_system "${#rw[@]}" "${rw[@]}" "$@"
