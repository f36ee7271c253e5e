#!/usr/bin/env bash
# The Debian package's whole life on this machine, as a user would live it:
#  1. build two packages from this tree with CPack, lintian-clean ("previous" 0.1.0-1~prev and "new" 0.1.0-1:
#     the same binaries, so the upgrade exercises dpkg's and our maintainer scripts' path and
#     the daemon's restart, not a change of code);
#  2. `apt-get install ./previous.deb`: files at their FHS paths, `systemd-analyze verify` of
#     the installed unit;
#  3. start vswitchd the way vswitchd.service says, as systemd would (systemd is not PID 1 here):
#     ExecStartPre, then ExecStart with its capability bounding set, no_new_privs, limits,
#     RuntimeDirectory, ProtectSystem=strict and ReadWritePaths (tests/lib/protect_system.sh),
#     NOTIFY_SOCKET and WATCHDOG_USEC from the unit; READY=1 arrives;
#  4. `vswitchctl port add` of two persistent ports at run time: they forward, survive a reload
#     and a restart (kept in /etc/vswitch/vswitch.d; the main file's bytes never change);
#  5. upgrade to the new package under a 10 ms ping, then restart as its postinst would under
#     systemd: at most 100 pings lost, forwarding back within 1 s, same TAP ifindex and address;
#  6. `apt-get remove`, then `apt-get purge`: no file, TAP, namespace or hugepage file left.
source "$(dirname "$0")/../lib/harness.sh"

PKG=vswitch
UNIT=/lib/systemd/system/vswitchd.service
T_LIB=$(cd "$(dirname "$0")/../lib" && pwd)
MAIN_CONF=/etc/vswitch/vswitch.toml
: "${VSWITCH_BUILD_DIR:?set by ctest: the build directory (CPackConfig.cmake)}"

# (Outputs are captured before grep -q: grep stops at the first match, and with pipefail the
# writer's SIGPIPE would fail the pipe.)
pkg_state() { dpkg-query -W -f='${db:Status-Abbrev}' "$PKG" 2>/dev/null || true; }
if [[ $(pkg_state) == i* ]]; then
  fail "package $PKG is installed on this machine; this test installs and purges it. Fix: apt-get purge $PKG"
fi
other=$(cat /run/vswitch/vswitchd.pid 2>/dev/null || true)
if [ -n "$other" ] && kill -0 "$other" 2>/dev/null; then
  fail "a vswitchd (pid $other) runs on the default paths (/run/vswitch, file_prefix vswitch) that the packaged one uses. Stop it first (scripts/run.sh stop)"
fi

# Remove whatever the test installed, even when it fails.
pkg_cleanup() {
  set +e
  [ -n "${SVC_PID:-}" ] && kill -TERM "$SVC_PID" 2>/dev/null && sleep 2
  if [[ $(pkg_state) == [ir]* ]]; then
    log "cleanup: purging $PKG"
    DEBIAN_FRONTEND=noninteractive apt-get purge -y "$PKG" >"$T_DIR/purge-cleanup.log" 2>&1
  fi
  rm -f /dev/hugepages/vswitchmap_* 2>/dev/null
  rm -rf /run/dpdk/vswitch 2>/dev/null
}
trap 'rc=$?; pkg_cleanup; (exit $rc); cleanup' EXIT

# --- 1. Two packages --------------------------------------------------------------------------
pkgdir=$T_DIR/pkgs
for rel in 1~prev 1; do
  cpack --config "$VSWITCH_BUILD_DIR/CPackConfig.cmake" -G DEB -B "$pkgdir/$rel" \
    -D CPACK_DEBIAN_PACKAGE_RELEASE="$rel" >"$T_DIR/cpack-$rel.log" 2>&1 ||
    { cat "$T_DIR/cpack-$rel.log"; fail "cpack failed for release $rel"; }
done
prev_deb=$(ls "$pkgdir"/1~prev/vswitch_*_amd64.deb)
new_deb=$(ls "$pkgdir"/1/vswitch_*_amd64.deb)
log "built $(basename "$prev_deb") and $(basename "$new_deb")"
# Debian's own checks (a first upload closes no ITP bug: the one tag let through).
lintian --fail-on error,warning --suppress-tags initial-upload-closes-no-bugs --allow-root \
  "$new_deb" >"$T_DIR/lintian.log" 2>&1 || { cat "$T_DIR/lintian.log"; fail "lintian found errors or warnings"; }
depends=$(dpkg-deb -f "$new_deb" Depends)
for lib in libcaf-core0.17 liburing2 libnuma1 iproute2; do
  [[ $depends == *"$lib"* ]] || fail "Depends lacks $lib: $depends"
done

# --- 2. Install --------------------------------------------------------------------------------
apt_get() { DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 -y "$@"; }
apt_get install "$prev_deb" >"$T_DIR/install.log" 2>&1 || { tail -20 "$T_DIR/install.log"; fail "apt-get install of the package failed"; }
check "installed version" "$(dpkg-query -W -f='${Version}' $PKG)" = "0.1.0-1~prev"
for f in /usr/sbin/vswitchd /usr/bin/vswitchctl /usr/libexec/vswitch/vswitch-worker \
  /usr/libexec/vswitch/vswitch-prepare-host "$MAIN_CONF" /etc/default/vswitch "$UNIT" \
  /usr/lib/tmpfiles.d/vswitch.conf /usr/share/man/man8/vswitchd.8.gz \
  /usr/share/man/man5/vswitch.toml.5.gz /usr/share/bash-completion/completions/vswitchctl \
  /usr/share/vswitch/dashboards/grafana/vswitch-overview.json /usr/share/doc/vswitch/config.md \
  /usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0/librte_net_rtap.so; do
  [ -e "$f" ] || fail "the package did not install $f"
done
[ -d /etc/vswitch/vswitch.d ] || fail "no /etc/vswitch/vswitch.d after install"
[[ $(dpkg-query -W -f='${Conffiles}\n' $PKG) == *"$MAIN_CONF "* ]] || fail "$MAIN_CONF is not a conffile"
dpkg -L $PKG >"$T_DIR/files.txt"
systemd-analyze verify "$UNIT" >"$T_DIR/verify.log" 2>&1 || { cat "$T_DIR/verify.log"; fail "systemd-analyze verify $UNIT"; }
[ -s "$T_DIR/verify.log" ] && { cat "$T_DIR/verify.log"; fail "systemd-analyze verify printed warnings"; }
exposure=$(systemd-analyze security --offline=true "$UNIT" 2>/dev/null | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p')
log "systemd-analyze security: overall exposure $exposure (0 safest, 10 least)"
check "exposure level x10 (systemd-analyze security)" "${exposure/./}" -le 60
conf_sha=$(sha256sum "$MAIN_CONF" | cut -d' ' -f1)

# --- 3. The service, started as systemd starts it ------------------------------------------------
unit_value() { sed -n "s/^$1=//p" "$UNIT" | tail -n 1; }
notify_start  # $sock, $nlog, msgs (harness.sh)

SVC_PID=""
svc_start() {
  local pre start caps watchdog_s nofile
  pre=$(unit_value ExecStartPre)
  start=$(unit_value ExecStart)
  caps=$(unit_value CapabilityBoundingSet | tr 'A-Z' 'a-z' | sed 's/cap_/+/g; s/ /,/g')
  watchdog_s=$(unit_value WatchdogSec)
  nofile=$(unit_value LimitNOFILE)
  # systemd (PID 1, every capability) sets the unit's limits; a test without CAP_SYS_RESOURCE
  # cannot raise a hard limit, so it stays at what this machine allows when that is lower.
  local hard_nofile hard_memlock
  hard_nofile=$(ulimit -Hn)
  hard_memlock=$(ulimit -Hl)
  [ "$hard_nofile" != unlimited ] && [ "$hard_nofile" -lt "$nofile" ] && nofile=$hard_nofile
  [ "$hard_memlock" = unlimited ] || hard_memlock=$((hard_memlock * 1024))
  [ "$(unit_value NoNewPrivileges)" = yes ] || fail "the unit lost NoNewPrivileges=yes"
  # EnvironmentFile=-/etc/default/vswitch, then ExecStartPre=+ (full privileges), as systemd.
  local t_pre t_exec
  t_pre=$(now_ms)
  (set -a; . /etc/default/vswitch; exec ${pre#+}) >"$T_DIR/prestart.log" 2>&1 ||
    { cat "$T_DIR/prestart.log"; fail "ExecStartPre failed"; }
  t_exec=$(now_ms)
  local before
  before=$(msgs | grep -c '^READY=1' || true)
  # RuntimeDirectory=, then ProtectSystem=strict with the unit's ReadWritePaths= (PrivateTmp=
  # gives a writable /tmp of its own: /tmp stays writable here).
  local rundir rw
  rundir=/run/$(unit_value RuntimeDirectory)
  mkdir -p -m "$(unit_value RuntimeDirectoryMode)" "$rundir"
  read -r -a rw <<<"$(unit_value ReadWritePaths)"
  [ "$(unit_value ProtectSystem)" = strict ] || fail "the unit lost ProtectSystem=strict"
  # shellcheck disable=SC2086  # ExecStart's words, as systemd splits them
  (set -a; . /etc/default/vswitch; set +a
   exec env NOTIFY_SOCKET="$sock" WATCHDOG_USEC=$((watchdog_s * 1000000)) \
     prlimit --nofile="$nofile" --memlock="$hard_memlock" -- \
     "$T_LIB/protect_system.sh" "${rw[@]}" /tmp -- \
     setpriv --bounding-set=-all,"$caps" --inh-caps=-all --no-new-privs -- \
     $(eval echo "$start")) >>"$T_DIR/vswitchd.log" 2>&1 &
  SVC_PID=$!
  for _ in $(seq 400); do
    if [ "$(msgs | grep -c '^READY=1' || true)" -gt "$before" ]; then
      log "service start: ExecStartPre $((t_exec - t_pre)) ms, vswitchd to READY=1 $(($(now_ms) - t_exec)) ms"
      return 0
    fi
    kill -0 "$SVC_PID" 2>/dev/null || { tail -20 "$T_DIR/vswitchd.log"; fail "vswitchd exited during start-up"; }
    sleep 0.05
  done
  tail -20 "$T_DIR/vswitchd.log"
  fail "no READY=1 from vswitchd within 20 s"
}
svc_stop() {
  local t0
  t0=$(now_ms)
  kill -TERM "$SVC_PID"
  for _ in $(seq 600); do kill -0 "$SVC_PID" 2>/dev/null || break; sleep 0.05; done
  kill -0 "$SVC_PID" 2>/dev/null && fail "vswitchd still runs 30 s after SIGTERM"
  wait "$SVC_PID" || fail "vswitchd exited with status $? after SIGTERM"
  SVC_PID=""
  rm -rf "/run/$(unit_value RuntimeDirectory)"  # as systemd does at the stop
  log "service stop: $(($(now_ms) - t0)) ms"
  [[ $(msgs | tail -n 3) == *STOPPING=1* ]] || fail "no STOPPING=1 at the stop"
}
pctl() { /usr/bin/vswitchctl "$@"; }

svc_start
log "vswitchd.service started: $(msgs | grep '^READY=1' | tail -n 1)"
check "vswitchd's capability bounding set" "$(awk '/^CapBnd/ {print $2}' /proc/$SVC_PID/status)" = 0000000000205000
for pid in $(pgrep -f "vswitch-worker .*--file-prefix=vswitch( |$)"); do
  check "worker $pid's effective capabilities" "$(awk '/^CapEff/ {print $2}' /proc/$pid/status)" = 0000000000000000
done

# --- 4. Runtime changes that persist ------------------------------------------------------------
# The VMs' namespaces are the VM manager's (the unit does not create them).
for vm in 1 2; do ip netns add "$(vm_ns $vm)"; T_NETNS+=("$(vm_ns $vm)"); done
for vm in 1 2; do
  pctl port add sw0 "$(vm_if $vm)" --driver rtap --netns "$(vm_ns $vm)" \
    --address "10.77.0.$vm/24" --persist >"$T_DIR/port-add-$vm.log" 2>&1 ||
    { cat "$T_DIR/port-add-$vm.log"; fail "vswitchctl port add $(vm_if $vm)"; }
done
ping_ok 1 2 5 || fail "vm1 cannot reach vm2 through ports added at run time"
ls /etc/vswitch/vswitch.d/*.toml >/dev/null 2>&1 || fail "port add wrote nothing to /etc/vswitch/vswitch.d"
pctl reload >/dev/null || fail "vswitchctl reload refused"
check "ports after a reload" "$(pctl --json show ports | json_get 'len(j["ports"])')" = 2
ping_ok 1 2 3 || fail "vm1 cannot reach vm2 after the reload"
ifindex1=$(ip -n "$(vm_ns 1)" -o link show "$(vm_if 1)" | cut -d: -f1)
svc_stop
check "TAP of vm1 kept across the stop (persist), same ifindex" \
  "$(ip -n "$(vm_ns 1)" -o link show "$(vm_if 1)" | cut -d: -f1)" = "$ifindex1"
svc_start
check "ports after a restart" "$(pctl --json show ports | json_get 'len(j["ports"])')" = 2
ping_ok 1 2 3 || fail "vm1 cannot reach vm2 after the restart"
log "ports added at run time survived a reload and a restart"

# --- 5. Upgrade under a 10 ms ping -----------------------------------------------------------
witness_start 1 2 0.01 upgrade
sleep 1
apt_get install "$new_deb" >"$T_DIR/upgrade.log" 2>&1 || { tail -20 "$T_DIR/upgrade.log"; fail "apt-get install of the new package failed"; }
check "upgraded version" "$(dpkg-query -W -f='${Version}' $PKG)" = "0.1.0-1"
# postinst restarts vswitchd.service where systemd runs; here the test does it the same way.
t0=$(now_ms)
svc_stop
svc_start
log "restart for the upgrade took $(( $(now_ms) - t0 )) ms to READY=1"
sleep 2
read -r sent got gap < <(witness_stop upgrade)
log "upgrade under a 10 ms ping: $sent sent, $got answered, longest gap $gap ms"
check "pings lost across the upgrade" "$((sent - got))" -le 100
check "longest gap in forwarding across the upgrade (ms)" "$gap" -le 1000
check "vm1's TAP ifindex after the upgrade" \
  "$(ip -n "$(vm_ns 1)" -o link show "$(vm_if 1)" | cut -d: -f1)" = "$ifindex1"
[[ $(ip -n "$(vm_ns 1)" -o addr show dev "$(vm_if 1)") == *10.77.0.1/24* ]] || fail "vm1 lost its address"
check "main config's sha256 unchanged" "$(sha256sum "$MAIN_CONF" | cut -d' ' -f1)" = "$conf_sha"

# --- 6. Remove, then purge: nothing left --------------------------------------------------------
apt_get remove $PKG >"$T_DIR/remove.log" 2>&1 || { tail -20 "$T_DIR/remove.log"; fail "apt-get remove failed"; }
for _ in $(seq 100); do kill -0 "$SVC_PID" 2>/dev/null || break; sleep 0.05; done
kill -0 "$SVC_PID" 2>/dev/null && fail "vswitchd still runs after apt-get remove"
wait "$SVC_PID" 2>/dev/null || true
SVC_PID=""
for vm in 1 2; do
  ip -n "$(vm_ns $vm)" link show "$(vm_if $vm)" >/dev/null 2>&1 &&
    fail "the persistent TAP $(vm_if $vm) is left after apt-get remove"
done
[ -e /usr/sbin/vswitchd ] && fail "/usr/sbin/vswitchd left after remove"
[ -e "$MAIN_CONF" ] || fail "remove (not purge) deleted the conffile $MAIN_CONF"
apt_get purge $PKG >"$T_DIR/purge.log" 2>&1 || { tail -20 "$T_DIR/purge.log"; fail "apt-get purge failed"; }
[[ $(pkg_state) == [ir]* ]] && fail "$PKG still known to dpkg after purge"
while read -r f; do
  [ -d "$f" ] && continue  # shared directories (/usr/bin, ...) stay
  [ -e "$f" ] && fail "$f left after purge"
done <"$T_DIR/files.txt"
for f in /etc/vswitch /etc/default/vswitch /run/vswitch /run/dpdk/vswitch \
  /etc/systemd/system/multi-user.target.wants/vswitchd.service /usr/libexec/vswitch \
  /usr/share/vswitch /usr/share/doc/vswitch; do
  [ -e "$f" ] && fail "$f left after purge"
done
ls /dev/hugepages/vswitchmap_* >/dev/null 2>&1 && fail "hugepage files of prefix vswitch left after purge"
leftover_ns=$(ip netns list | awk '{print $1}' | grep -v "^${T_PREFIX}-" || true)
[ -z "$leftover_ns" ] || log "namespaces on the machine, none of this test's package: $leftover_ns"
pass "package built, installed, served under the unit's limits, kept runtime ports across reload, restart and upgrade ($((sent - got)) pings lost, gap $gap ms), removed and purged without leftovers"
