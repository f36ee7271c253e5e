#!/usr/bin/env bash
# Prepare a Debian 12 machine to build and test the project: Debian packages, DPDK's driver-SDK
# headers (into the build tree), DPDK built statically from Debian's source package (cached in
# /var/cache/vswitch, linked as build/dpdk), 2 MB hugepages, kernel checks (TUN, io_uring).
# Idempotent; takes well under a second when everything is already in place (about 2 minutes
# more on a new machine, for the DPDK build).
#
# Usage: sudo scripts/setup.sh [--quiet]
# Environment:
#   VSWITCH_HUGEPAGES  number of 2 MB hugepages to reserve (default 512)
#   VSWITCH_SDK_DIR    where the 4 SDK headers go (default <repo>/build/dpdk-sdk/include,
#                      which is CMake's VSWITCH_DPDK_SDK_DIR default)
set -euo pipefail

# All the Debian packages the project needs, by purpose.
PACKAGES=(
  # build (pandoc: the man pages, made from docs/ by docs/CMakeLists.txt)
  g++ cmake ninja-build pkg-config git pandoc
  # libraries: Debian's DPDK (librte_net_rtap.so is built against it for other DPDK applications;
  # its -dev package also brings the libraries our own static DPDK build links: libnuma, libpcap,
  # libelf, libbsd, libfdt), dpdk for dpdk-hugepages.py,
  # CAF actors, Prometheus metrics, TOML config, io_uring, JSON (control socket), unit tests;
  # dpdk-dev for Debian's dpdk-testpmd (the plugin test: tests/integration/rtap_plugin_testpmd.sh)
  libdpdk-dev librte-net-tap23 librte-bus-vdev23 librte-mempool-ring23 librte-mempool-stack23 dpdk
  dpdk-dev
  libcaf-dev prometheus-cpp-dev libtoml11-dev liburing-dev nlohmann-json3-dev
  # libcrypt: bcrypt checks of the metrics endpoint's basic auth (crypt_rn)
  libcrypt-dev
  googletest libgtest-dev libgmock-dev
  # fetching Debian's dpdk source package and building DPDK from it (scripts/setup.sh, step 3)
  # (and libsystemd-dev: libpcap's static link flags, which DPDK's libdpdk.pc pulls in, name it)
  dpkg-dev xz-utils meson python3-pyelftools libsystemd-dev
  # the Debian package (cpack -G DEB): CPack runs `file` on every binary before dpkg-shlibdeps
  # (dpkg-dev, above) computes the Depends, and stops without it
  file
  # tests and tooling (groff-base, man-db: the man pages' tests, tests/docs/man_pages.sh)
  iproute2 iperf3 iputils-ping procps psmisc curl tcpdump tshark python3 clang-format prometheus
  groff-base man-db
  # FRR (bgpd, zebra, vtysh) for the EVPN tests across two hosts (tests/lib/evpn.sh, issue #26)
  frr
  # ethtool inside the vm tests' guests, gdb for the soak's stack dumps, stress-ng for
  # tests/under_load.sh
  ethtool gdb stress-ng
  # real VM guests of the vm tests (tests/vm/guest_lib.sh: QEMU, and busybox for their initramfs)
  qemu-system-x86 busybox-static
  # fuzzing: clang with libFuzzer and the sanitizer runtimes
  clang libclang-rt-14-dev
)

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$REPO/scripts/lib/common.sh"

CACHE=/var/cache/vswitch
SRC_CACHE=$CACHE/dpdk-src
SHA_FILE=$REPO/scripts/dpdk-sdk.sha256
SDK_DEST=$(realpath -m -- "${VSWITCH_SDK_DIR:-$REPO/build/dpdk-sdk/include}")
DEB_SRC_FILE=/etc/apt/sources.list.d/vswitch-deb-src.sources
APT_OPTS=(-o DPkg::Lock::Timeout=300)

export VSWITCH_QUIET=0
for arg in "$@"; do
  case $arg in
    -q|--quiet) VSWITCH_QUIET=1 ;;
    -h|--help) sed -n '2,10s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) die "unknown argument '$arg' (usage: sudo scripts/setup.sh [--quiet])" ;;
  esac
done

[[ $EUID -eq 0 ]] || die "setup must run as root (it installs packages, reserves hugepages, mounts hugetlbfs). Fix: sudo $0 $*"

TMPDIRS=()
trap 'rm -rf -- "${TMPDIRS[@]}"' EXIT

# One setup at a time (README commands and CI jobs may start it concurrently).
mkdir -p /run/lock
exec 9>/run/lock/vswitch-setup.lock
flock 9

# Run a command, hiding its stdout in --quiet mode (errors still reach stderr).
run() { if [[ $VSWITCH_QUIET == 1 ]]; then "$@" >/dev/null; else "$@"; fi; }

# ---------------------------------------------------------------------------------------------
# 1. Debian packages
# ---------------------------------------------------------------------------------------------
missing_packages() {
  local -A ok=()
  local name st p
  while read -r name st; do
    [[ $st == ii ]] && ok[$name]=1
  done < <(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${PACKAGES[@]}" 2>/dev/null || true)
  for p in "${PACKAGES[@]}"; do [[ -n ${ok[$p]:-} ]] || printf '%s\n' "$p"; done
}

apt_lists_present() { compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; }

all_known() {
  local p
  for p; do apt-cache show --no-all-versions "$p" >/dev/null 2>&1 || return 1; done
}

apt_update() { run apt-get "${APT_OPTS[@]}" update; }

apt_install() {
  DEBIAN_FRONTEND=noninteractive run apt-get "${APT_OPTS[@]}" install -y --no-install-recommends "$@"
}

# The packages to install: those of PACKAGES not installed, and those of the programs in
# scripts/test-commands.list that are not on the PATH (a program another package already
# provides, e.g. npm from a nodejs build of its own, is left alone).
packages_to_install() {
  { missing_packages; "$REPO/scripts/check-commands.sh" --packages; } | sort -u
}

ensure_packages() {
  local missing updated=0
  mapfile -t missing < <(packages_to_install)
  if ((${#missing[@]} == 0)); then
    info "setup: packages ok"
    return
  fi
  if ! apt_lists_present || ! all_known "${missing[@]}"; then
    apt_update || die "apt-get update failed; fix the apt sources or the network and re-run"
    updated=1
  fi
  if ! apt_install "${missing[@]}"; then
    ((updated == 0)) || die "apt-get install failed for: ${missing[*]}"
    apt_update || die "apt-get update failed; fix the apt sources or the network and re-run"
    apt_install "${missing[@]}" || die "apt-get install failed for: ${missing[*]}"
  fi
  mapfile -t missing < <(missing_packages)
  ((${#missing[@]} == 0)) || die "packages still not installed after apt-get install: ${missing[*]}"
  # Every program the tests run, by name: fails naming the command and its package.
  "$REPO/scripts/check-commands.sh" || die "set-up could not install every program the tests run (above)"
  info "setup: packages ok"
}

# ---------------------------------------------------------------------------------------------
# 2. DPDK driver-SDK headers. Debian builds DPDK with enable_driver_sdk=false, so libdpdk-dev lacks
#    the 4 headers an out-of-tree vdev PMD needs; take them from the matching source package.
#    They are fetched into the build tree and never committed.
# ---------------------------------------------------------------------------------------------
SDK_MEMBERS=(lib/ethdev/ethdev_driver.h lib/ethdev/ethdev_vdev.h
             drivers/bus/vdev/bus_vdev_driver.h lib/eal/include/dev_driver.h)

sdk_complete() {
  local m
  for m in "${SDK_MEMBERS[@]}"; do [[ -f $SDK_DEST/${m##*/} ]] || return 1; done
}

have_deb_src() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f $f ]] && grep -Eq '^[[:space:]]*deb-src[[:space:]]' "$f" && return 0
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] && grep -Eiq '^Types:(.*[[:space:]])?deb-src([[:space:]]|$)' "$f" && return 0
  done
  return 1
}

# deb-src stanzas derived from this machine's own Debian entries (those whose suite is the
# release codename or <codename>-*; third-party repositories are left out).
derive_deb_src() {
  local codename f
  codename=$(. /etc/os-release 2>/dev/null && printf '%s' "${VERSION_CODENAME:-}")
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] || continue
    awk -v code="$codename" '
      function fname(l) { if (l !~ /^[A-Za-z0-9-]+:/) return ""; sub(/:.*/, "", l); return tolower(l) }
      function val(l) { sub(/^[^:]*:[ \t]*/, "", l); return l }
      function suite_ok(s) { return code == "" || s == code || index(s, code "-") == 1 }
      BEGIN { RS = ""; FS = "\n" }
      {
        deb = 0; ok = 0; enabled = 1; body = ""
        for (i = 1; i <= NF; i++) {
          l = $i; n = fname(l)
          if (n == "types") { k = split(val(l), t, /[ \t]+/); for (j = 1; j <= k; j++) if (t[j] == "deb") deb = 1; continue }
          if (n == "suites") { k = split(val(l), t, /[ \t]+/); for (j = 1; j <= k; j++) if (suite_ok(t[j])) ok = 1 }
          if (n == "enabled" && tolower(val(l)) == "no") enabled = 0
          body = body l "\n"
        }
        if (deb && ok && enabled) printf "Types: deb-src\n%s\n", body
      }' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f $f ]] || continue
    awk -v code="$codename" '
      /^[ \t]*deb[ \t]/ {
        line = $0; sub(/^[ \t]*deb[ \t]+/, "", line); opts = ""
        if (line ~ /^\[/) {
          e = index(line, "]"); opts = substr(line, 2, e - 2)
          line = substr(line, e + 1); sub(/^[ \t]+/, "", line)
        }
        n = split(line, w, /[ \t]+/); comps = ""
        for (j = 3; j <= n && w[j] !~ /^#/; j++) comps = comps (comps == "" ? "" : " ") w[j]
        if (!(code == "" || w[2] == code || index(w[2], code "-") == 1)) next
        printf "Types: deb-src\nURIs: %s\nSuites: %s\nComponents: %s\n", w[1], w[2], comps
        k = split(opts, o, /[ \t]+/)
        for (j = 1; j <= k; j++) {
          split(o[j], kv, "=")
          if (kv[1] == "signed-by") printf "Signed-By: %s\n", kv[2]
          if (kv[1] == "trusted") printf "Trusted: %s\n", kv[2]
        }
        printf "\n"
      }' "$f"
  done
}

write_deb_src() {
  local body
  body=$(derive_deb_src)
  [[ -n $body ]] || die "no deb-src entry and no Debian 'deb' entry to derive one from in /etc/apt/sources.list{,.d/*}. Fix: add a deb-src entry for Debian (e.g. $DEB_SRC_FILE with 'Types: deb-src', 'URIs: http://deb.debian.org/debian', 'Suites: bookworm bookworm-updates', 'Components: main') and re-run"
  printf '# Written by scripts/setup.sh: source entries so that "apt-get source dpdk" works\n# (DPDK driver-SDK headers). Derived from the machine'"'"'s own Debian entries.\n\n%s\n' \
    "$body" >"$DEB_SRC_FILE.tmp"
  mv -f -- "$DEB_SRC_FILE.tmp" "$DEB_SRC_FILE"
}

apt_source() { (cd "$SRC_CACHE" && run apt-get "${APT_OPTS[@]}" source --download-only "dpdk=$1"); }

download_dpdk_source() {
  local full=$1
  mkdir -p -- "$SRC_CACHE"
  # Let apt's unprivileged _apt user write here so the download runs sandboxed.
  if id _apt >/dev/null 2>&1; then chown _apt -- "$SRC_CACHE"; fi
  if ! have_deb_src; then
    write_deb_src
    info "setup: added $DEB_SRC_FILE"
    # Update only the new source lists; the binary lists stay as they are.
    run apt-get "${APT_OPTS[@]}" update -o Dir::Etc::SourceList="$DEB_SRC_FILE" \
      -o Dir::Etc::SourceParts=/nonexistent -o APT::Get::List-Cleanup=0 ||
      die "apt-get update for $DEB_SRC_FILE failed; check that file and the network"
  fi
  if ! apt_source "$full"; then
    apt_update || die "apt-get update failed; fix the apt sources or the network and re-run"
    apt_source "$full" || die "could not download the dpdk=$full source package into $SRC_CACHE. Fix: make sure a Debian deb-src entry exists (see $DEB_SRC_FILE) and that its mirror carries dpdk $full"
  fi
}

# libdpdk-dev's Debian version (e.g. 22.11.11-0+deb12u1), or die.
dpdk_deb_version() {
  local full
  full=$(dpkg-query -W -f='${Version}' libdpdk-dev 2>/dev/null) || full=""
  [[ -n $full ]] || die "libdpdk-dev is not installed (the package step should have installed it)"
  printf '%s\n' "$full"
}

# The sha256 that scripts/dpdk-sdk.sha256 records for a file of the dpdk source package.
recorded_sha() {
  [[ -f $SHA_FILE ]] && awk -v f="$1" '$2 == f { print $1; exit }' "$SHA_FILE"
  return 0
}

# Makes sure $SRC_CACHE/NAME is there and has its recorded sha256, downloading the source package
# of libdpdk-dev FULL_VERSION if it is missing or corrupt.
verified_source_file() {
  local name=$1 full=$2 file=$SRC_CACHE/$1 expected actual
  expected=$(recorded_sha "$name")
  if [[ ! -f $file ]] || { [[ -n $expected ]] && [[ $(sha256sum <"$file" | cut -d' ' -f1) != "$expected" ]]; }; then
    rm -f -- "$file"
    download_dpdk_source "$full"
  fi
  [[ -f $file ]] || die "apt-get source did not produce $file"
  actual=$(sha256sum <"$file" | cut -d' ' -f1)
  if [[ -z $expected ]]; then
    die "found libdpdk-dev $full, but scripts/dpdk-sdk.sha256 records no sha256 for $name (expected hash: none known; downloaded file $file has sha256 $actual). Fix: verify that file (e.g. the tarball against the DPDK release at https://fast.dpdk.org/rel/, the .dsc against Debian's signature), then add the line '$actual  $name' to scripts/dpdk-sdk.sha256 and re-run"
  fi
  if [[ $actual != "$expected" ]]; then
    rm -f -- "$file"
    die "sha256 mismatch for $name (libdpdk-dev $full): got $actual, expected $expected (scripts/dpdk-sdk.sha256). The download was removed. Fix: re-run (a corrupt download is fetched again); if it persists, check the mirror, and if the recorded hash is what is wrong, replace it with the hash of a verified file in scripts/dpdk-sdk.sha256"
  fi
}

sdk_headers() {
  local full up orig top tmp m members=() created="" d
  full=$(dpdk_deb_version)
  up=${full#*:}
  up=${up%-*}
  if [[ -f $SDK_DEST/.stamp && $(<"$SDK_DEST/.stamp") == "$full" ]] && sdk_complete; then
    info "setup: dpdk sdk headers ok ($up)"
    return
  fi

  orig=$SRC_CACHE/dpdk_$up.orig.tar.xz
  verified_source_file "dpdk_$up.orig.tar.xz" "$full"

  # Top-level directory of the tarball (dpdk-stable-<upstream> for stable releases).
  top=$(tar -tJf "$orig" 2>/dev/null | head -n1 || true)
  top=${top%%/*}
  [[ -n $top ]] || die "cannot list $orig"
  for m in "${SDK_MEMBERS[@]}"; do members+=("$top/$m"); done

  d=$SDK_DEST
  while [[ ! -e $d ]]; do created=$d; d=$(dirname -- "$d"); done
  mkdir -p -- "$SDK_DEST"
  tmp=$(mktemp -d -- "$SDK_DEST/.extract.XXXXXX")
  TMPDIRS+=("$tmp")
  tar -xJf "$orig" -C "$tmp" --no-same-owner --no-same-permissions -m --transform 's#.*/##' "${members[@]}" ||
    die "could not extract the SDK headers from $orig"
  rm -f -- "$SDK_DEST/.stamp"
  for m in "${SDK_MEMBERS[@]}"; do mv -f -- "$tmp/${m##*/}" "$SDK_DEST/"; done
  printf '%s\n' "$full" >"$SDK_DEST/.stamp"
  # Under sudo, keep the build tree owned by whoever owns the repository.
  if [[ -n $created && $created == "$REPO"/* ]]; then
    chown -R --reference="$REPO" -- "$created"
  else
    chown --reference="$SDK_DEST" -- "$SDK_DEST"/*.h "$SDK_DEST/.stamp"
  fi
  info "setup: dpdk sdk headers ok ($up, extracted into $SDK_DEST)"
}

# ---------------------------------------------------------------------------------------------
# 3. DPDK built here from the same Debian source package (Debian's patches applied), for
#    vswitchd, its workers and the tests. Debian's libdpdk allows 32 ports per process
#    (RTE_MAX_ETHPORTS) and makes every EAL dlopen its 192 PMD libraries at start (most of a
#    worker's 180-430 ms start-up). This build is static, allows 512 ports, and holds only the
#    drivers vswitch uses. librte_net_rtap.so is still built against Debian's libdpdk-dev, for
#    other DPDK applications (dpdk-testpmd, OVS-DPDK) that load it with -d.
#    Cached in /var/cache/vswitch/dpdk-<version>-<key>, the key hashing every input: the source
#    package, the options below, the compiler and the libraries it detects. Linked into the build
#    tree as build/dpdk. About 2 minutes on 2 cores, once.
# ---------------------------------------------------------------------------------------------
DPDK_MESON_OPTS=(
  -Ddefault_library=static -Dlibdir=lib -Dmax_ethports=512 -Dplatform=generic
  # The EAL probes sysfs for every (lcore, NUMA node) pair it could have at start: with the
  # defaults (128 x 32) that was 5066 access() calls, half of a worker's 15 ms start-up. vswitch
  # uses lcores 0..33 (16 workers and their replacements) and hosts have at most 8 nodes.
  -Dmax_lcores=64 -Dmax_numa_nodes=8
  -Dbuildtype=debugoptimized -Denable_driver_sdk=true -Dtests=false -Denable_docs=false
  -Dexamples= '-Ddisable_apps=*'
  # bus/pci and mempool/ring cannot be left out; mempool/stack: the lf_stack pools of the rtap
  # takeover test; net/tap: the "tap" port type.
  -Denable_drivers=bus/vdev,bus/pci,mempool/ring,mempool/stack,net/tap
  # Every library 22.11 lets go (gso stays: net/tap needs it).
  -Ddisable_libs=bitratestats,cfgfile,flow_classify,gpudev,gro,jobstats,kni,latencystats,metrics,node,pdump,pipeline,port,power,table,vhost
)
# What meson may detect and link: a change of version is a new build.
DPDK_BUILD_INPUTS=(
  libc6-dev gcc-12 meson ninja-build python3-pyelftools libnuma-dev libpcap-dev libelf-dev
  libbsd-dev libfdt-dev libjansson-dev libssl-dev zlib1g-dev libarchive-dev libbpf-dev libxdp-dev
  libibverbs-dev libisal-dev libipsec-mb-dev
)
DPDK_LINK=$REPO/build/dpdk

dpdk_build_key() {
  local full=$1
  {
    printf '%s\n' "$full" "$(recorded_sha "dpdk_${full#*:}.dsc")" "${DPDK_MESON_OPTS[@]}"
    cc --version | head -n1
    dpkg-query -W -f='${Package} ${Version}\n' "${DPDK_BUILD_INPUTS[@]}" 2>/dev/null || true
  } | sha256sum | cut -c1-16
}

# Shows the end of a failed step's log, then dies naming the step and the whole log.
die_with_log() {
  local what=$1 log=$2 keep=$CACHE/dpdk-build-failed.log
  cp -f -- "$log" "$keep" 2>/dev/null || keep=$log
  tail -n 25 -- "$log" >&2
  die "$what failed (log above; whole log in $keep). Fix: check that the packages of scripts/setup.sh are installed (apt-get install meson python3-pyelftools libdpdk-dev), then re-run scripts/setup.sh"
}

build_dpdk() {
  local full=$1 prefix=$2 ver=${1#*:} up tmp log
  up=${ver%-*}
  # Two set-ups at once (two clones) build it once.
  exec 9>"$CACHE/dpdk-build.lock"
  flock 9
  [[ -f $prefix/.complete ]] && return 0
  verified_source_file "dpdk_$up.orig.tar.xz" "$full"
  verified_source_file "dpdk_$ver.debian.tar.xz" "$full"
  verified_source_file "dpdk_$ver.dsc" "$full"
  tmp=$(mktemp -d -- "$CACHE/dpdk-build.XXXXXX")
  TMPDIRS+=("$tmp")
  log=$tmp/build.log
  info "setup: building DPDK $up from Debian's source package into $prefix (about 2 minutes, once)"
  # dpkg-source checks the tarballs against the .dsc (whose own sha256 was checked above).
  dpkg-source -x "$SRC_CACHE/dpdk_$ver.dsc" "$tmp/src" >"$log" 2>&1 ||
    die_with_log "unpacking dpdk_$ver.dsc" "$log"
  meson setup "$tmp/build" "$tmp/src" --prefix "$prefix" "${DPDK_MESON_OPTS[@]}" >>"$log" 2>&1 ||
    die_with_log "meson setup of DPDK" "$log"
  ninja -C "$tmp/build" >>"$log" 2>&1 || die_with_log "building DPDK" "$log"
  rm -rf -- "$prefix"
  meson install -C "$tmp/build" --quiet >>"$log" 2>&1 || die_with_log "installing DPDK" "$log"
  # Static only: with the shared libraries beside the archives, -lrte_eal would pick the .so,
  # and an EAL would load the plugin directory again.
  find "$prefix/lib" -name 'librte_*.so*' -delete
  rm -rf -- "$prefix/lib/dpdk"
  cp -f -- "$log" "$prefix/build.log"
  : >"$prefix/.complete"
}

dpdk_static() {
  local full key prefix up
  full=$(dpdk_deb_version)
  up=${full#*:}
  up=${up%-*}
  key=$(dpdk_build_key "$full")
  prefix=$CACHE/dpdk-$up-$key
  [[ -f $prefix/.complete ]] || build_dpdk "$full" "$prefix"
  if [[ $(readlink -- "$DPDK_LINK" 2>/dev/null) != "$prefix" ]]; then
    mkdir -p -- "$(dirname -- "$DPDK_LINK")"
    ln -sfn -- "$prefix" "$DPDK_LINK"
    chown -h --reference="$REPO" -- "$DPDK_LINK"
  fi
  info "setup: dpdk $up static build ok ($prefix)"
}

# ---------------------------------------------------------------------------------------------
# 4. Hugepages, /dev/net/tun, the kernel (packaging/vswitch-prepare-host). The test suite runs one switch at a time; vswitchd reserves its pools, FDB and
#    64 MB at start (246 MB for the tests' two-worker rtap switches, 428 MB for the soak's).
#    512 x 2 MB = 1 GiB leaves room and costs about 4% of this 24 GiB machine. An existing higher
#    reservation is never lowered.
# ---------------------------------------------------------------------------------------------
hugepages() {
  VSWITCH_QUIET=$VSWITCH_QUIET "$REPO/packaging/vswitch-prepare-host" ||
    die "the host is not ready for vswitchd (above)"
}

# ---------------------------------------------------------------------------------------------
# 5. Kernel: TUN device, version, io_uring usable (probe result cached per kernel release).
# ---------------------------------------------------------------------------------------------
io_uring_probe() {
  local tmp err stamp=$CACHE/io_uring-ok.$1
  [[ -f $stamp ]] && return 0
  command -v cc >/dev/null || die "no C compiler 'cc' for the io_uring probe. Fix: apt-get install gcc"
  tmp=$(mktemp -d)
  TMPDIRS+=("$tmp")
  cc -x c - -o "$tmp/probe" -luring <<'EOF' || die "cannot compile the io_uring probe (is liburing-dev installed?)"
#include <liburing.h>
#include <stdio.h>
int main(void) {
  struct io_uring ring;
  int rc = io_uring_queue_init(8, &ring, 0);
  if (rc < 0) { printf("%d\n", -rc); return 1; }
  io_uring_queue_exit(&ring);
  printf("0\n");
  return 0;
}
EOF
  err=$("$tmp/probe") || true
  case $err in
    0) mkdir -p -- "$CACHE"; : >"$stamp"; return 0 ;;
    38) die "io_uring_setup failed with ENOSYS: io_uring is compiled out or blocked by a seccomp/container policy (Docker's default profile blocks it). Fix: run on the host or in a VM, or allow io_uring_setup/io_uring_enter/io_uring_register in the seccomp profile" ;;
    1) die "io_uring_setup failed with EPERM: denied by kernel.io_uring_disabled or an LSM/seccomp policy. Fix: sysctl -w kernel.io_uring_disabled=0, and check the container's seccomp/AppArmor/SELinux policy" ;;
    12) die "io_uring_setup failed with ENOMEM: the ring could not be allocated; usually RLIMIT_MEMLOCK is too low (now: $(ulimit -l) kB). Fix: ulimit -l unlimited (or LimitMEMLOCK=infinity / 'memlock' in /etc/security/limits.conf)" ;;
    *) die "io_uring_setup failed (errno ${err:-unknown}). Fix: check the kernel configuration and the container/seccomp policy" ;;
  esac
}

# The checks of packaging/vswitch-prepare-host (run by hugepages() above), plus an io_uring probe
# compiled here: the installed package cannot compile one, vswitchd reports the same at start.
kernel_checks() {
  io_uring_probe "$(uname -r)"
  info "setup: io_uring ok"
}

ensure_packages
sdk_headers
dpdk_static
hugepages
kernel_checks
