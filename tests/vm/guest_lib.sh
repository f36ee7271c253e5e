# shellcheck shell=bash
# Tiny real QEMU guests for integration tests (issue #11 "Real VMs on switch ports").
# Source it (bash; works under set -euo pipefail); it defines functions and variables only.
#
# A guest is Debian's kernel (linux-image-*-amd64, downloaded with apt-get download, never
# installed) with an initramfs of busybox-static, iperf3 and ethtool (+ their libraries)
# and the virtio-net modules; /init is tests/vm/guest_init.sh. Both are built at test
# time and cached in $GUEST_CACHE_DIR/<kernel-version>/ (the initramfs keyed on a hash of
# guest_init.sh, this library's build revision and the packages it takes files from). qemu boots
# the kernel's uncompressed ELF image (extracted from the bzImage) through its PVH entry: the
# kernel's own xz decompression costs 4-5 s of every boot under TCG.
# A guest has one virtio-net NIC, its console on a log file, and a command channel on its second
# serial port (two FIFOs; protocol in guest_init.sh). qemu and the channel reader are disowned
# children of the test's shell: a bare "wait" does not wait for them, ctest's kill reaches them.
#
# API (every function returns non-zero with a message on stderr when it fails):
#   guest_prepare
#       Ensures the cached kernel and initramfs exist; sets GUEST_KERNEL, GUEST_INITRD,
#       GUEST_KVER and GUEST_ACCEL (kvm only if /dev/kvm exists and a probe guest really boots
#       with it within GUEST_KVM_PROBE_S, else tcg). Run as root.
#   guest_start NAME (--tapdev /dev/tapN | --ifname TAP) --mac MAC [--ip CIDR] [--append ARGS]
#               [--nic-opts OPTS] [--mem MB]
#       Starts qemu in the background and returns at once. --tapdev: an existing tap character
#       device (a macvtap's /dev/tapN; the caller makes and removes the macvtap), opened in the
#       process that becomes qemu and passed as -netdev tap,fd=3. --ifname:
#       -netdev tap,ifname=TAP (qemu creates it if absent, or opens an existing persistent TAP;
#       one it creates is not persistent and goes away with qemu; use guest_wait_link to bridge
#       it). --append: extra kernel command line, e.g. "vs.mtu=9000 vs.ipv6=1" (see
#       guest_init.sh). --nic-opts: extra virtio-net-pci properties, e.g. "guest_tso4=off".
#       Call it from the test's main shell (not in $(...)): it records the guest's pid.
#   guest_wait_ready NAME TIMEOUT_S
#       Waits for the guest's READY (eth0 configured, command channel served); prints the boot
#       time in seconds (qemu start to READY, host clock) on stdout and keeps it (guest_boot_time
#       NAME). On timeout, qemu exit or a guest-side error: fails with the console's tail.
#   guest_exec NAME TIMEOUT_S CMD...
#       Runs CMD (joined by spaces into one shell command line, run by busybox sh in the guest)
#       and prints its stdout+stderr; returns its exit code. The guest kills it after TIMEOUT_S;
#       then, as when the host's wait (TIMEOUT_S + 10 s) runs out, qemu dies or the output
#       arrives damaged (its byte count is checked), it fails with 124 and a message. A command
#       line the guest does not acknowledge within 3 s is sent again (it runs once). Calls for
#       the same guest are serialized (flock).
#   guest_stop NAME            Powers off (poweroff -f over the channel), waits up to
#                              GUEST_STOP_WAIT_S, then SIGTERM/SIGKILL; removes its FIFOs, the
#                              channel reader and a TAP qemu created. Safe to call twice, from an
#                              EXIT trap, or for a guest that never started.
#   guest_stop_all             guest_stop for every guest of this test, then removes the state
#                              directory if this library made it, unless GUEST_KEEP_LOGS=1.
#   guest_wait_link IFNAME TIMEOUT_S   Waits until a netdev exists (the TAP of --ifname).
#   guest_trap_exit            Makes the EXIT trap run guest_stop_all, then the trap set before
#                              (the harness's cleanup) with the test's exit status.
#   guest_boot_time NAME       The boot time guest_wait_ready measured.
#   guest_log_tail NAME [N]    The last N (20) lines of the guest's console and qemu logs.
#   guest_json_num KEY [AFTER] Reads JSON on stdin (iperf3 -J), prints the first number of "KEY"
#                              after the first "AFTER" key, e.g. guest_json_num bits_per_second
#                              sum_received.
#
# Variables (set before calling; defaults in brackets):
#   GUEST_STATE_DIR   per-test files: NAME.{pid,console,qemu.log,chan,...}  [$T_DIR/guests when
#                     the test harness is loaded, else a new /tmp/vsguest.XXXXXX]
#   GUEST_CACHE_DIR   [/var/cache/vswitch-test-guest]
#   GUEST_KERNEL_PKG  the kernel package  [what linux-image-amd64 depends on]
#   GUEST_ACCEL       force tcg or kvm  [probed by guest_prepare]
#   GUEST_VHOST       vhost= of the tap netdevs  [off; vhost needs KVM and /dev/vhost-net]
#   GUEST_MEM_MB [256]  GUEST_STOP_WAIT_S [10]  GUEST_KVM_PROBE_S [30]  GUEST_KEEP_LOGS [0]
#   GUEST_CMDLINE     the kernel command line before vs.*  [console=ttyS0 panic=-1 ...]
#
# Example (with tests/lib/harness.sh sourced first: guest_trap_exit instead of the trap):
#   source tests/vm/guest_lib.sh
#   trap 'guest_stop_all' EXIT
#   guest_prepare
#   guest_start a --ifname vsgt1 --mac 52:54:00:77:09:11 --ip 10.77.9.11/24
#   guest_wait_ready a 180
#   guest_exec a 30 ping -c 3 10.77.9.12

GUEST_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# A command that ends the caller's set -e script is named with its file and line.
# shellcheck source=../lib/err_trap.sh
source "$GUEST_LIB_DIR/../lib/err_trap.sh"
GUEST_CACHE_DIR=${GUEST_CACHE_DIR:-/var/cache/vswitch-test-guest}
GUEST_MEM_MB=${GUEST_MEM_MB:-256}
GUEST_VHOST=${GUEST_VHOST:-off}
GUEST_STOP_WAIT_S=${GUEST_STOP_WAIT_S:-10}
GUEST_KVM_PROBE_S=${GUEST_KVM_PROBE_S:-30}
GUEST_KEEP_LOGS=${GUEST_KEEP_LOGS:-0}
GUEST_CMDLINE=${GUEST_CMDLINE:-console=ttyS0 panic=-1 no_timer_check tsc=reliable mitigations=off}
GUEST_STATE_DIR=${GUEST_STATE_DIR:-}
GUEST_ACCEL=${GUEST_ACCEL:-}
GUEST_KERNEL=${GUEST_KERNEL:-}
GUEST_INITRD=${GUEST_INITRD:-}
GUEST_KVER=${GUEST_KVER:-}
# Bump when what _guest_build_kernel leaves in the cache changes (the cached kernel is rebuilt).
_GUEST_KERNEL_REV=2
# Bump when the initramfs layout made by _guest_build_initrd changes (part of its cache key).
_GUEST_BUILD_REV=1
_GUEST_OWN_STATE_DIR=0
# The modules the NIC needs; their dependencies are added from the modules' own depends= field.
_GUEST_MODULES=(virtio_pci virtio_net)
# Host binaries copied into the guest with their libraries (scripts/setup.sh installs them).
_GUEST_BINS=(/usr/bin/iperf3 /usr/sbin/ethtool)

_guest_log() { printf '[%s] guest: %s\n' "$(date +%T.%3N)" "$*" >&2; }
_guest_err() { printf '[%s] guest: error: %s\n' "$(date +%T.%3N)" "$*" >&2; return 1; }
# Wall clock in seconds with microseconds, without a fork.
_guest_now() { printf '%s' "$EPOCHREALTIME"; }
_guest_elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# ---------------------------------------------------------------------------------------------
# Building and caching the kernel and the initramfs
# ---------------------------------------------------------------------------------------------

# The kernel package: what the linux-image-amd64 metapackage depends on (apt's lists only, no
# network), unless GUEST_KERNEL_PKG says. apt-cache takes seconds on a loaded machine, so the
# answer is kept until apt's lists change.
_guest_kernel_pkg() {
  local stamp=$GUEST_CACHE_DIR/kernel-pkg pkg
  if [[ -n ${GUEST_KERNEL_PKG:-} ]]; then printf '%s\n' "$GUEST_KERNEL_PKG"; return; fi
  if [[ -s $stamp && $stamp -nt /var/lib/apt/lists ]]; then cat -- "$stamp"; return; fi
  pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
    awk '$1 ~ /Depends:$/ && $2 ~ /^linux-image-[0-9].*-amd64$/ { print $2; exit }')
  [[ -n $pkg ]] || return 0
  if mkdir -p -- "$GUEST_CACHE_DIR" && echo "$pkg" >"$stamp.$$"; then mv -f -- "$stamp.$$" "$stamp"; fi
  printf '%s\n' "$pkg"
}

# _guest_fetch_kernel PKG DIR: downloads PKG into DIR; on failure updates apt's lists once and
# retries (an old list may name a .deb the mirror no longer has).
_guest_fetch_kernel() {
  local pkg=$1 dir=$2
  # apt drops privileges to _apt for downloads; let it write there (else it warns).
  if id _apt >/dev/null 2>&1; then chown _apt -- "$dir"; fi
  (cd "$dir" && apt-get -q -o DPkg::Lock::Timeout=300 download "$pkg" >/dev/null 2>&1) && return 0
  apt-get -q -o DPkg::Lock::Timeout=300 update >/dev/null 2>&1 || true
  (cd "$dir" && apt-get -q -o DPkg::Lock::Timeout=300 download "$pkg" >&2)
}

# _guest_plain_ko SRC DST: a module without compression (busybox insmod reads plain .ko only).
_guest_plain_ko() {
  case $1 in
    *.ko) cp -- "$1" "$2" ;;
    *.ko.xz) xz -dc -- "$1" >"$2" ;;
    *.ko.zst) zstd -qdc -- "$1" >"$2" ;;
    *.ko.gz) gzip -dc -- "$1" >"$2" ;;
    *) return 1 ;;
  esac
}

# _guest_modules MODDIR OUTDIR NAME...: copies NAME... and what they depend on (unless built in)
# into OUTDIR as plain .ko files and writes OUTDIR/order, dependencies first. The dependencies come
# from each module's .modinfo "depends=" string, so neither depmod nor modinfo is needed.
_guest_modules() {
  local moddir=$1 out=$2 f n
  shift 2
  declare -gA _gm_path=() _gm_builtin=() _gm_seen=()
  while IFS= read -r f; do
    n=${f##*/}; n=${n%%.ko*}; _gm_path[${n//-/_}]=$f
  done < <(find "$moddir/kernel" -name '*.ko*')
  while IFS= read -r f; do
    n=${f##*/}; n=${n%%.ko*}; _gm_builtin[${n//-/_}]=1
  done <"$moddir/modules.builtin"
  : >"$out/order"
  for n; do _guest_module_visit "$n" "$out" || return 1; done
}

_guest_module_visit() {
  local n=${1//-/_} out=$2 deps d
  [[ -z ${_gm_seen[$n]:-} ]] || return 0
  _gm_seen[$n]=1
  [[ -z ${_gm_builtin[$n]:-} ]] || return 0
  [[ -n ${_gm_path[$n]:-} ]] || _guest_err "kernel module $n not found in the kernel package" || return 1
  _guest_plain_ko "${_gm_path[$n]}" "$out/$n.ko" || _guest_err "cannot decompress ${_gm_path[$n]}" || return 1
  deps=$(tr '\0' '\n' <"$out/$n.ko" | sed -n 's/^depends=//p' | head -n1)
  for d in ${deps//,/ }; do _guest_module_visit "$d" "$out" || return 1; done
  printf '%s.ko\n' "$n" >>"$out/order"
}

# _guest_vmlinux BZIMAGE OUT: the uncompressed ELF kernel inside a bzImage. qemu boots it through
# its PVH entry point (Debian sets CONFIG_PVH), which skips the kernel's self-decompression: xz
# under TCG costs 4-5 s of every boot. Tries each compressed-stream magic until one yields an ELF.
_guest_vmlinux() {
  local bz=$1 out=$2 magic off cmd
  for magic in $'\xfd7zXZ':'xz -dc --single-stream' $'\x28\xb5\x2f\xfd':'zstd -qdc' $'\x1f\x8b\x08':'gzip -dc'; do
    cmd=${magic#*:}
    for off in $(LC_ALL=C grep -abo -- "${magic%%:*}" "$bz" 2>/dev/null | head -n 4 | cut -d: -f1); do
      tail -c +$((off + 1)) -- "$bz" | $cmd >"$out" 2>/dev/null || true
      if [[ $(head -c 4 -- "$out" | od -An -tx1 | tr -d ' \n') == 7f454c46 ]]; then return 0; fi
    done
  done
  rm -f -- "$out"
  return 1
}

# _guest_build_kernel PKG KDIR: the kernel image and the NIC's modules, from the package.
_guest_build_kernel() {
  local pkg=$1 kdir=$2 kver tmp deb moddir
  kver=${pkg#linux-image-}
  tmp=$(mktemp -d "$GUEST_CACHE_DIR/.build.XXXXXX")
  _guest_log "downloading $pkg (apt-get download; not installed) into $tmp"
  if ! _guest_fetch_kernel "$pkg" "$tmp"; then
    rm -rf -- "$tmp"
    _guest_err "apt-get download $pkg failed. Fix: check the apt sources and network (apt-get update), or set GUEST_KERNEL_PKG to a linux-image-*-amd64 package that apt can download"
    return 1
  fi
  deb=$(compgen -G "$tmp/*.deb" | head -n1)
  mkdir -p -- "$tmp/x" "$tmp/k/modules"
  dpkg-deb -x "$deb" "$tmp/x" || { rm -rf -- "$tmp"; _guest_err "dpkg-deb -x $deb failed"; return 1; }
  moddir=$tmp/x/lib/modules/$kver
  [[ -d $moddir ]] || moddir=$tmp/x/usr/lib/modules/$kver
  if [[ ! -f $tmp/x/boot/vmlinuz-$kver || ! -f $moddir/modules.builtin ]]; then
    rm -rf -- "$tmp"
    _guest_err "$pkg has no boot/vmlinuz-$kver or lib/modules/$kver/modules.builtin"
    return 1
  fi
  _guest_modules "$moddir" "$tmp/k/modules" "${_GUEST_MODULES[@]}" || { rm -rf -- "$tmp"; return 1; }
  cp -- "$tmp/x/boot/vmlinuz-$kver" "$tmp/k/vmlinuz"
  # Without a PVH note qemu could not boot the ELF: then the bzImage is used.
  if grep -q '^CONFIG_PVH=y' "$tmp/x/boot/config-$kver" 2>/dev/null &&
     ! _guest_vmlinux "$tmp/k/vmlinuz" "$tmp/k/vmlinux"; then
    _guest_log "no ELF kernel found in vmlinuz-$kver; guests boot the bzImage (slower under TCG)"
  fi
  dpkg-deb -f "$deb" Version >"$tmp/k/package-version"
  echo "$_GUEST_KERNEL_REV" >"$tmp/k/rev"
  rm -rf -- "$kdir"
  mv -- "$tmp/k" "$kdir"
  rm -rf -- "$tmp"
  _guest_log "kernel $kver cached in $kdir (modules: $(tr '\n' ' ' <"$kdir/modules/order"))"
}

# _guest_libs BIN...: the shared libraries and the dynamic loader BIN... need (ldd).
_guest_libs() {
  ldd "$@" 2>/dev/null |
    awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// && $2 ~ /^\(/ { print $1 }' | sort -u
}

# The initramfs cache key: whatever changes its content.
_guest_initrd_key() {
  {
    cat -- "$GUEST_LIB_DIR/guest_init.sh"
    echo "rev $_GUEST_BUILD_REV"
    dpkg-query -W busybox-static iperf3 libiperf0 ethtool 2>/dev/null || true
    printf '%s\n' "${_GUEST_BINS[@]}"
  } | sha256sum | cut -c1-16
}

# _guest_build_initrd KDIR OUT: busybox, /init, the modules, iperf3 (+ ethtool) with their
# libraries, as a gzip'd newc cpio. Device nodes for the console exist before devtmpfs is mounted.
_guest_build_initrd() {
  local kdir=$1 out=$2 tmp r bins=("${_GUEST_BINS[@]}") f
  tmp=$(mktemp -d "$GUEST_CACHE_DIR/.initrd.XXXXXX")
  r=$tmp/root
  mkdir -p -- "$r"/{bin,sbin,dev,proc,sys,tmp,run,root,etc,usr/bin,usr/sbin,lib/modules}
  cp -- /bin/busybox "$r/bin/busybox"
  cp -- "$GUEST_LIB_DIR/guest_init.sh" "$r/init"
  chmod 755 "$r/init"
  cp -- "$kdir"/modules/*.ko "$r/lib/modules/"
  cp -- "$kdir/modules/order" "$r/etc/vsg-modules"
  for f in "${bins[@]}" $(_guest_libs "${bins[@]}"); do
    mkdir -p -- "$r$(dirname -- "$f")"
    cp -L -- "$f" "$r$f"
  done
  mknod -m 600 "$r/dev/console" c 5 1
  mknod -m 666 "$r/dev/null" c 1 3
  if ! (cd "$r" && find . | LC_ALL=C sort | busybox cpio -o -H newc -R 0:0 2>/dev/null | gzip -6 >"$tmp/initrd"); then
    rm -rf -- "$tmp"
    _guest_err "building the initramfs failed (busybox cpio | gzip)"
    return 1
  fi
  mv -- "$tmp/initrd" "$out"
  rm -rf -- "$tmp"
  _guest_log "initramfs cached: $out ($(du -k "$out" | cut -f1) kB)"
}

# Everything guest_prepare needs on the host, with the fix for each missing piece.
_guest_check_host() {
  local missing=() c
  [[ $EUID -eq 0 ]] || { _guest_err "guests need root (TAPs, /dev/tapN, the cache in $GUEST_CACHE_DIR)"; return 1; }
  for c in qemu-system-x86_64 apt-get apt-cache dpkg-deb ldd flock gzip xz mkfifo sha256sum; do
    command -v "$c" >/dev/null || missing+=("$c")
  done
  ((${#missing[@]} == 0)) || { _guest_err "missing commands: ${missing[*]}. Fix: scripts/setup.sh (or apt-get install --no-install-recommends qemu-system-x86 busybox-static iperf3)"; return 1; }
  if [[ ! -x /bin/busybox ]] || ldd /bin/busybox >/dev/null 2>&1; then
    _guest_err "/bin/busybox is missing or not static. Fix: apt-get install busybox-static (scripts/setup.sh)"
    return 1
  fi
  for c in "${_GUEST_BINS[@]}"; do
    [[ -x $c ]] || { _guest_err "$c is missing. Fix: apt-get install $(basename "$c") (scripts/setup.sh)"; return 1; }
  done
}

# KVM only if the device is usable and a guest really boots with it (a nested or half-working
# KVM would otherwise hang every test); the verdict is kept until the host reboots (/run).
_guest_pick_accel() {
  local stamp=/run/vswitch-test-guest.kvm d pid i
  if [[ -n $GUEST_ACCEL ]]; then return; fi
  GUEST_ACCEL=tcg
  [[ -r /dev/kvm && -w /dev/kvm ]] || return 0
  if [[ -f $stamp ]]; then GUEST_ACCEL=$(<"$stamp"); return; fi
  d=$(mktemp -d /tmp/vsguest-kvm.XXXXXX)
  qemu-system-x86_64 -accel kvm -m "$GUEST_MEM_MB" -nodefaults -no-user-config -nographic \
    -no-reboot -kernel "$GUEST_KERNEL" -initrd "$GUEST_INITRD" \
    -append "$GUEST_CMDLINE vs.probe=1" -serial "file:$d/console" -serial null \
    </dev/null >"$d/qemu.log" 2>&1 &
  pid=$!
  for ((i = 0; i < GUEST_KVM_PROBE_S * 10; i++)); do
    grep -q '@@VSG READY' "$d/console" 2>/dev/null && { GUEST_ACCEL=kvm; break; }
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf -- "$d"
  echo "$GUEST_ACCEL" >"$stamp"
}

_guest_kernel_ok() {
  [[ -f $1/modules/order && -f $1/vmlinuz && -f $1/rev && $(<"$1/rev") == "$_GUEST_KERNEL_REV" ]]
}

guest_prepare() {
  local pkg kdir key lockfd t0 built=0
  t0=$(_guest_now)
  _guest_check_host || return 1
  pkg=$(_guest_kernel_pkg)
  if [[ -z $pkg ]]; then
    # No apt lists (or no metapackage in them): use a kernel already in the cache if any.
    kdir=$(compgen -G "$GUEST_CACHE_DIR/*-amd64/vmlinuz" | sort -V | tail -n1 || true)
    [[ -n $kdir ]] || { _guest_err "cannot tell which kernel to use: apt-cache knows no linux-image-amd64. Fix: apt-get update, or set GUEST_KERNEL_PKG=linux-image-<version>-amd64"; return 1; }
    pkg=linux-image-$(basename "$(dirname "$kdir")")
  fi
  GUEST_KVER=${pkg#linux-image-}
  kdir=$GUEST_CACHE_DIR/$GUEST_KVER
  key=$(_guest_initrd_key)
  GUEST_INITRD=$kdir/initrd-$key.cpio.gz
  if ! _guest_kernel_ok "$kdir" || [[ ! -f $GUEST_INITRD ]]; then
    # One builder at a time; the others wait and then find the result. Builds go to a temporary
    # directory and are renamed into place, so an interrupted build leaves nothing half-made.
    mkdir -p -- "$GUEST_CACHE_DIR"
    exec {lockfd}>"$GUEST_CACHE_DIR/.lock"
    flock -w 900 "$lockfd" || { exec {lockfd}>&-; _guest_err "timed out waiting for $GUEST_CACHE_DIR/.lock"; return 1; }
    # Left by an interrupted build (killed test).
    find "$GUEST_CACHE_DIR" -maxdepth 1 \( -name '.build.*' -o -name '.initrd.*' \) -mmin +60 \
      -exec rm -rf -- {} + 2>/dev/null || true
    if ! _guest_kernel_ok "$kdir"; then
      _guest_build_kernel "$pkg" "$kdir" || { exec {lockfd}>&-; return 1; }
      built=1
    fi
    if [[ ! -f $GUEST_INITRD ]]; then
      _guest_build_initrd "$kdir" "$GUEST_INITRD" || { exec {lockfd}>&-; return 1; }
      built=1
    fi
    exec {lockfd}>&-
  fi
  GUEST_KERNEL=$kdir/vmlinuz
  [[ ! -f $kdir/vmlinux ]] || GUEST_KERNEL=$kdir/vmlinux
  _guest_pick_accel
  _guest_log "prepared in $(_guest_elapsed "$t0" "$(_guest_now)") s ($([[ $built == 1 ]] && echo built || echo cached)): kernel $GUEST_KVER, initrd ${GUEST_INITRD##*/}, accel $GUEST_ACCEL"
}

# ---------------------------------------------------------------------------------------------
# Running guests
# ---------------------------------------------------------------------------------------------

# The per-test state directory, made on first use.
_guest_dir() {
  if [[ -z $GUEST_STATE_DIR ]]; then
    if [[ -n ${T_DIR:-} && -d ${T_DIR:-} ]]; then
      GUEST_STATE_DIR=$T_DIR/guests
    else
      GUEST_STATE_DIR=$(mktemp -d /tmp/vsguest.XXXXXX)
      _GUEST_OWN_STATE_DIR=1
    fi
  fi
  mkdir -p -- "$GUEST_STATE_DIR"
}

# _guest_pid NAME: the pid of NAME's qemu if it still runs (not a zombie, and really that qemu:
# its command line names the console file; pids are reused).
_guest_pid() {
  local f=$GUEST_STATE_DIR/$1.pid pid st args=()
  [[ -n $GUEST_STATE_DIR && -f $f ]] || return 1
  pid=$(<"$f")
  [[ -n $pid ]] || return 1
  # Builtins only: this runs in polling loops.
  { read -r st <"/proc/$pid/stat"; } 2>/dev/null || return 1
  st=${st##*) }
  [[ ${st%% *} != Z ]] || return 1
  { mapfile -d '' args <"/proc/$pid/cmdline"; } 2>/dev/null || return 1
  [[ " ${args[*]} " == *"$GUEST_STATE_DIR/$1.console"* ]] || return 1
  printf '%s\n' "$pid"
}

# In a subshell about to exec: close the descriptors the test holds (pipes of ctest, locks) so
# that a leftover process cannot keep them open.
_guest_close_fds() {
  local f
  for f in /proc/"$BASHPID"/fd/*; do
    f=${f##*/}
    if ((f > 2 && f != 255)); then eval "exec $f>&-" 2>/dev/null || true; fi
  done
}

guest_start() {
  local name=${1:-} tapdev="" ifname="" mac="" ip="" append="" nicopts="" mem=$GUEST_MEM_MB
  local netdev s append_all
  shift || true
  [[ $name =~ ^[A-Za-z0-9_-]+$ ]] || { _guest_err "guest_start: bad or missing NAME '$name'"; return 1; }
  while (($#)); do
    case $1 in
      --tapdev) tapdev=${2:?}; shift 2 ;;
      --ifname) ifname=${2:?}; shift 2 ;;
      --mac) mac=${2:?}; shift 2 ;;
      --ip) ip=${2:?}; shift 2 ;;
      --append) append=${2?}; shift 2 ;;
      --nic-opts) nicopts=${2?}; shift 2 ;;
      --mem) mem=${2:?}; shift 2 ;;
      *) _guest_err "guest_start $name: unknown option '$1'"; return 1 ;;
    esac
  done
  [[ -n $GUEST_KERNEL && -f $GUEST_KERNEL && -f $GUEST_INITRD ]] || { _guest_err "guest_start $name: call guest_prepare first"; return 1; }
  if [[ -z $tapdev$ifname || ( -n $tapdev && -n $ifname ) ]]; then
    _guest_err "guest_start $name: give exactly one of --tapdev and --ifname"
    return 1
  fi
  [[ $mac =~ ^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$ ]] || { _guest_err "guest_start $name: bad or missing --mac '$mac'"; return 1; }
  [[ -z $tapdev || -c $tapdev ]] || { _guest_err "guest_start $name: $tapdev is not a character device"; return 1; }
  _guest_dir
  s=$GUEST_STATE_DIR/$name
  if _guest_pid "$name" >/dev/null; then _guest_err "guest_start $name: already running"; return 1; fi
  rm -f -- "$s".{pid,console,qemu.log,chan,boot,ifname,cmd.in,cmd.out,reader.pid}
  mkfifo -- "$s.cmd.in" "$s.cmd.out"
  : >"$s.console"
  : >"$s.chan"
  if [[ -n $ifname ]]; then
    netdev="tap,id=n0,ifname=$ifname,script=no,downscript=no,vhost=$GUEST_VHOST"
    # A TAP that qemu creates is ours to remove if it outlives qemu.
    [[ -e /sys/class/net/$ifname ]] || echo "$ifname" >"$s.ifname"
  else
    netdev="tap,id=n0,fd=3,vhost=$GUEST_VHOST"
  fi
  append_all="$GUEST_CMDLINE vs.name=$name${ip:+ vs.ip=$ip}${append:+ $append}"
  # The channel reader runs first: it holds the FIFO open read-write, so neither side's open
  # blocks and nothing qemu writes is lost, and it keeps everything (NAME.chan) for debugging.
  # Both processes stay children of the test (ctest's kill on timeout reaches them) but are
  # disowned: a bare "wait" in the test does not wait for them, and bash reports no job deaths.
  (_guest_close_fds; exec cat <>"$s.cmd.out" >>"$s.chan" 2>/dev/null) &
  echo $! >"$s.reader.pid"
  disown $!
  # The subshell becomes qemu (exec): $! is qemu's pid. fd 3 is the tap device.
  (
    _guest_close_fds
    if [[ -n $tapdev ]]; then exec 3<>"$tapdev" || exit 1; fi
    exec qemu-system-x86_64 -name "vsg-$name" -accel "$GUEST_ACCEL" -m "$mem" -smp 1 \
      -nodefaults -no-user-config -nographic -no-reboot \
      -kernel "$GUEST_KERNEL" -initrd "$GUEST_INITRD" -append "$append_all" \
      -chardev "file,id=con,path=$s.console" -serial chardev:con \
      -chardev "pipe,id=cmd,path=$s.cmd" -serial chardev:cmd \
      -netdev "$netdev" -device "virtio-net-pci,netdev=n0,mac=$mac,romfile=${nicopts:+,$nicopts}"
  ) </dev/null >"$s.qemu.log" 2>&1 &
  echo $! >"$s.pid"
  disown $!
  _guest_now >"$s.start"
  _guest_log "$name: qemu pid $(<"$s.pid") ($GUEST_ACCEL, ${tapdev:-$ifname}, $mac${ip:+, $ip}), logs $s.{console,qemu.log,chan}"
}

# guest_wait_link IFNAME TIMEOUT_S: the TAP that qemu creates for --ifname appears a moment after
# guest_start returns; wait for it before bridging it.
guest_wait_link() {
  local ifc=$1 end
  end=$((EPOCHSECONDS + ${2:-10}))
  until [[ -e /sys/class/net/$ifc ]]; do
    ((EPOCHSECONDS < end)) || { _guest_err "netdev $ifc did not appear within ${2:-10} s"; return 1; }
    sleep 0.05
  done
}

guest_log_tail() {
  local s=$GUEST_STATE_DIR/$1 n=${2:-20}
  echo "--- $1: console (last $n lines) ---"
  # Without the firmware's terminal escapes (screen clears).
  tail -n "$n" "$s.console" 2>/dev/null | LC_ALL=C sed -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1bc//g' | tr -d '\r' || true
  if [[ -s $s.qemu.log ]]; then echo "--- $1: qemu log ---"; tail -n "$n" "$s.qemu.log"; fi
}

guest_wait_ready() {
  local name=$1 timeout=${2:-120} s=$GUEST_STATE_DIR/$1 t0 now line boot
  [[ -n $GUEST_STATE_DIR && -f $s.pid ]] || { _guest_err "guest_wait_ready: no guest $name"; return 1; }
  t0=$(<"$s.start")
  while :; do
    line=$(grep -m1 -E '^@@VSG (READY|ERROR)' "$s.chan" 2>/dev/null || true)
    now=$(_guest_now)
    case $line in
      "@@VSG READY"*)
        boot=$(_guest_elapsed "$t0" "$now")
        echo "$boot" >"$s.boot"
        _guest_log "$name: READY after $boot s (guest uptime ${line#@@VSG READY } s, accel $GUEST_ACCEL)"
        echo "$boot"
        return 0 ;;
      "@@VSG ERROR"*)
        _guest_err "$name: the guest reported: ${line#@@VSG ERROR }"
        guest_log_tail "$name" 30 >&2
        return 1 ;;
    esac
    if ! _guest_pid "$name" >/dev/null; then
      _guest_err "$name: qemu exited before READY"
      guest_log_tail "$name" 30 >&2
      return 1
    fi
    if awk -v a="$t0" -v b="$now" -v t="$timeout" 'BEGIN { exit !(b - a > t) }'; then
      _guest_err "$name: not READY after $timeout s"
      guest_log_tail "$name" 30 >&2
      return 1
    fi
    sleep 0.1
  done
}

guest_boot_time() { cat -- "$GUEST_STATE_DIR/$1.boot"; }

# _guest_send NAME ID TIMEOUT_S B64: one command line to the guest. The read-write open of the
# FIFO never blocks, even if qemu has gone.
_guest_send() {
  printf '@@VSG CMD %s %s %s\n' "$2" "$3" "$4" 1<>"$GUEST_STATE_DIR/$1.cmd.in"
}

guest_exec() {
  local name=$1 timeout=$2 s=$GUEST_STATE_DIR/$1 id b64 end resend lockfd rc n line out got
  shift 2
  [[ $timeout =~ ^[0-9]+$ ]] || { _guest_err "guest_exec $name: bad TIMEOUT_S '$timeout'"; return 1; }
  [[ -n $GUEST_STATE_DIR && -f $s.pid ]] || { _guest_err "guest_exec: no guest $name"; return 1; }
  exec {lockfd}>"$s.lock"
  flock -w $((timeout + 60)) "$lockfd" || { exec {lockfd}>&-; _guest_err "guest_exec $name: channel busy"; return 124; }
  _guest_pid "$name" >/dev/null || { exec {lockfd}>&-; _guest_err "guest_exec $name: qemu is not running"; guest_log_tail "$name" >&2; return 124; }
  # A unique id: a late answer to an earlier, timed-out command is never taken for this one's.
  id=${EPOCHREALTIME/./}$RANDOM
  b64=$(printf '%s' "$*" | base64 -w0)
  _guest_send "$name" "$id" "$timeout" "$b64"
  end=$((EPOCHSECONDS + timeout + 10))
  resend=$((EPOCHSECONDS + 3))
  until grep -qF "@@VSG END $id " "$s.chan"; do
    if ! _guest_pid "$name" >/dev/null; then
      exec {lockfd}>&-
      _guest_err "guest_exec $name: qemu exited while running: $*"
      guest_log_tail "$name" >&2
      return 124
    fi
    if ((EPOCHSECONDS >= end)); then
      exec {lockfd}>&-
      _guest_err "guest_exec $name: no answer within $((timeout + 10)) s to: $*"
      return 124
    fi
    # Not acknowledged: the line was lost on the way in; the guest runs an id only once.
    if ((EPOCHSECONDS >= resend)) && ! grep -qF "@@VSG ACK $id" "$s.chan"; then
      _guest_log "$name: command not acknowledged, sending it again"
      _guest_send "$name" "$id" "$timeout" "$b64"
      resend=$((EPOCHSECONDS + 3))
    fi
    sleep 0.05
  done
  exec {lockfd}>&-
  line=$(grep -F "@@VSG END $id " "$s.chan" | head -n1)
  read -r _ _ _ rc n <<<"$line"
  out=$(mktemp "$s.out.XXXXXX")
  awk -v b="@@VSG BEGIN $id" -v e="@@VSG END $id " '$0 == b { on = 1; next } on && index($0, e) == 1 { exit } on { print }' \
    "$s.chan" | base64 -d >"$out" 2>/dev/null || true
  cat -- "$out"
  got=$(stat -c %s -- "$out")
  rm -f -- "$out"
  # The answer is checked whole: a damaged channel must not pass for a command's output.
  if [[ $got != "${n:-x}" ]]; then
    _guest_err "guest_exec $name: the output arrived damaged ($got of ${n:-?} bytes): $*"
    return 124
  fi
  if [[ $rc == 137 ]]; then
    _guest_err "guest_exec $name: killed in the guest (timeout $timeout s?): $*"
    return 124
  fi
  return "$rc"
}

guest_stop() {
  local name=$1 s pid rpid i ifc
  [[ -n $GUEST_STATE_DIR && -e $GUEST_STATE_DIR/$name.pid ]] || return 0
  s=$GUEST_STATE_DIR/$name
  if pid=$(_guest_pid "$name"); then
    # Ask the guest first (a clean ACPI power-off); the command gets no answer.
    _guest_send "$name" "stop$RANDOM" 5 "$(printf 'poweroff -f' | base64 -w0)" 2>/dev/null || true
    for ((i = 0; i < GUEST_STOP_WAIT_S * 10; i++)); do
      _guest_pid "$name" >/dev/null || break
      sleep 0.1
    done
    if _guest_pid "$name" >/dev/null; then
      _guest_log "$name: no power-off within $GUEST_STOP_WAIT_S s; SIGTERM"
      kill -TERM "$pid" 2>/dev/null || true
      for ((i = 0; i < 30; i++)); do _guest_pid "$name" >/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  if [[ -f $s.reader.pid ]]; then
    rpid=$(<"$s.reader.pid")
    # Only if it is still our cat (pids are reused).
    [[ $(cat "/proc/$rpid/comm" 2>/dev/null) != cat ]] || kill -TERM "$rpid" 2>/dev/null || true
  fi
  if [[ -f $s.ifname ]]; then
    ifc=$(<"$s.ifname")
    [[ ! -e /sys/class/net/$ifc ]] || ip link del "$ifc" 2>/dev/null || true
  fi
  rm -f -- "$s".{pid,reader.pid,cmd.in,cmd.out,lock,ifname}
}

guest_stop_all() {
  local f n
  [[ -n $GUEST_STATE_DIR && -d $GUEST_STATE_DIR ]] || return 0
  for f in "$GUEST_STATE_DIR"/*.pid; do
    [[ -e $f ]] || continue
    n=${f##*/}; n=${n%.pid}
    [[ $n == *.reader ]] && continue
    guest_stop "$n"
  done
  if [[ $_GUEST_OWN_STATE_DIR == 1 ]]; then
    if [[ $GUEST_KEEP_LOGS == 1 ]]; then
      _guest_log "logs kept in $GUEST_STATE_DIR"
    else
      rm -rf -- "$GUEST_STATE_DIR"
    fi
  fi
}

# guest_trap_exit: the EXIT trap stops the guests first, then runs the EXIT trap that was set
# before (e.g. tests/lib/harness.sh's cleanup, which exits with the test's status and deletes
# $T_DIR) with the test's exit status in $?. Call it after sourcing the harness.
guest_trap_exit() {
  local cur
  cur=$(trap -p EXIT)
  _GUEST_PREV_EXIT_TRAP=""
  if [[ -n $cur ]]; then eval "set -- $cur"; _GUEST_PREV_EXIT_TRAP=$3; fi
  trap _guest_on_exit EXIT
}
_guest_on_exit() {
  local rc=$?
  set +e
  trap - ERR
  guest_stop_all
  (exit "$rc")
  eval "${_GUEST_PREV_EXIT_TRAP:-exit $rc}"
}

# guest_json_num KEY [AFTER]: the first number of "KEY" after the first "AFTER" in the JSON on
# stdin; enough for iperf3 -J without jq (e.g. bits_per_second after sum_received).
guest_json_num() {
  awk -v k="\"$1\"" -v a="${2:+\"$2\"}" '
    a != "" && !seen { i = index($0, a); if (!i) next; seen = 1; $0 = substr($0, i + length(a)) }
    { i = index($0, k); if (!i) next
      s = substr($0, i + length(k)); sub(/^[ \t]*:[ \t]*/, "", s)
      if (match(s, /^-?[0-9.eE+-]+/)) { print substr(s, 1, RLENGTH); found = 1; exit } }
    END { exit !found }'
}
