#!/bin/busybox sh
# /init of the test guests' initramfs (built by tests/vm/guest_lib.sh; runs as PID 1 under
# busybox sh). It loads the virtio NIC modules, configures eth0 from the kernel command line,
# then serves the command channel on the second serial port.
#
# Kernel command-line parameters (read from /proc/cmdline: dotted parameters are not passed to
# init by the kernel):
#   vs.name=NAME     hostname
#   vs.ip=CIDR       address of eth0, e.g. 10.77.9.11/24 (none: eth0 is up without an address)
#   vs.mtu=N         MTU of eth0
#   vs.ipv6=1        keep IPv6 (default: disabled before eth0 exists, so that the guest sends no
#                    router/neighbour solicitations and tests can compare packet counters exactly)
#   vs.probe=1       print READY and power off at once (the host's KVM probe)
#
# Command channel, on /dev/ttyS1 in raw mode; every line is ASCII, fields without spaces:
#   host -> guest:  @@VSG CMD <id> <timeout_s> <base64 of a shell command line>
#   guest -> host:  @@VSG ACK <id>            (at once; again for a resent command)
#                   @@VSG BEGIN <id>
#                   <base64 of the command's stdout+stderr, any number of lines>
#                   @@VSG END <id> <exit code> <output bytes>
# base64 keeps tty line-discipline details and marker look-alikes out of the way. A command
# runs with stdin from /dev/null and its output in a file, so that a background child (iperf3 -D,
# cmd &) cannot hold the channel; it is killed (SIGKILL, exit code 137) after <timeout_s> seconds
# so that one stuck command cannot block the channel for the next ones. The host resends a
# command that gets no ACK (an interrupted read loses its partial line); a command is run once
# per id.
# Markers: "@@VSG READY <uptime_s>" when the channel is served, "@@VSG ERROR <text>" when the set-up
# failed (both also on the console).
# shellcheck shell=dash disable=SC2013,SC2086

export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root
say() { echo "$*" >/dev/console; }
uptime_s() { cut -d' ' -f1 /proc/uptime; }

# The command server: a child of PID 1, not PID 1 itself. Orphans (iperf3 -D, the watchers of
# busybox timeout) are re-parented to PID 1, and the SIGCHLD of each would interrupt a read on the
# channel (busybox sh's read then drops the partial line); the server only has children it waits
# for.
serve() {
  last=""
  say "@@VSG READY $(uptime_s)"
  echo "@@VSG READY $(uptime_s)" >&3
  cd /
  while :; do
    line=""
    read -r line <&3 || continue
    set -- $line
    if [ "$1" != "@@VSG" ] || [ "$2" != CMD ] || [ $# -ne 5 ]; then
      say "vsg: channel: ignored a line of ${#line} bytes: $(echo "$line" | cut -c1-60)"
      continue
    fi
    id=$3 t=$4
    echo "@@VSG ACK $id" >&3
    [ "$id" != "$last" ] || continue
    last=$id
    echo "$5" | base64 -d >/tmp/vsg.cmd 2>/dev/null
    timeout -s KILL "$t" sh /tmp/vsg.cmd </dev/null >/tmp/vsg.out 2>&1 3>&-
    rc=$?
    n=$(wc -c </tmp/vsg.out)
    {
      echo "@@VSG BEGIN $id"
      base64 </tmp/vsg.out
      echo "@@VSG END $id $rc $n"
    } >&3
    rm -f /tmp/vsg.out /tmp/vsg.cmd
  done
}
if [ "${1:-}" = --serve ]; then serve; exit 1; fi

/bin/busybox mkdir -p /proc /sys /dev /tmp /run /root /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null || true
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run

name=guest ip="" mtu="" ipv6=0 probe=0
for w in $(cat /proc/cmdline); do
  case $w in
    vs.name=*) name=${w#vs.name=} ;;
    vs.ip=*) ip=${w#vs.ip=} ;;
    vs.mtu=*) mtu=${w#vs.mtu=} ;;
    vs.ipv6=*) ipv6=${w#vs.ipv6=} ;;
    vs.probe=*) probe=${w#vs.probe=} ;;
  esac
done
hostname "$name"

# The channel is opened and made raw before anything can fail, so that an error reaches the host.
exec 3<>/dev/ttyS1
stty raw -echo <&3
error() {
  say "@@VSG ERROR $*"
  echo "@@VSG ERROR $*" >&3
}

if [ "$probe" = 1 ]; then
  say "@@VSG READY $(uptime_s)"
  poweroff -f
fi

# Before the NIC exists: new interfaces inherit "default".
if [ "$ipv6" != 1 ]; then
  sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
fi

# Modules in dependency order (written at build time; virtio_pci and virtio_net are modules in
# Debian's kernel).
while read -r ko; do
  [ -n "$ko" ] || continue
  insmod "/lib/modules/$ko" || error "insmod $ko failed"
done </etc/vsg-modules

i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
ip link set lo up
if [ ! -e /sys/class/net/eth0 ]; then
  error "no eth0 after loading the modules (is a virtio-net-pci NIC attached?)"
else
  [ -z "$mtu" ] || ip link set eth0 mtu "$mtu" || error "cannot set mtu $mtu"
  ip link set eth0 up
  [ -z "$ip" ] || ip addr add "$ip" dev eth0 || error "cannot add address $ip"
  say "vsg: eth0 $(cat /sys/class/net/eth0/address) ${ip:-no address} mtu $(cat /sys/class/net/eth0/mtu)"
fi

# PID 1 must never exit (the guest would panic): it runs the server, reaps orphans while it waits
# for it, and restarts it should it ever end.
while :; do
  /bin/busybox sh /init --serve
  say "vsg: command server exited ($?); restarting"
  sleep 1
done
