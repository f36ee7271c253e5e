// The VM side of a port (docs/vms.md): a passthru macvtap on the port's netdev, whose /dev/tapN
// QEMU or libvirt open, or a TAP of the VM's own stack paired with the netdev by tc mirred
// redirects in both directions. Made after the port is up, removed before it goes. Uses iproute2.
#pragma once
#include <string>

#include "config/config.hpp"
#include "daemon/netns.hpp"

namespace vs {

// What attach_vm made, so that detach_vm removes exactly that.
struct VmAttachment {
  std::string mode;        // "", "macvtap" or "tap"
  std::string netdev;      // the macvtap, or the VM's TAP
  std::string device;      // macvtap: the character device QEMU opens, /dev/tapN
  bool made_link = false;  // we created the macvtap / the TAP, so we delete it
  bool redirects = false;  // tc clsact + mirred filters installed on both netdevs
  explicit operator bool() const { return !mode.empty(); }
};

// Attaches the VM of `port` (whose netdev `port.name` is up in our namespace). On failure it
// undoes what it did and returns why, naming the command and the fix.
NetnsError attach_vm(const config::PortConfig& port, VmAttachment& out);
// Removes what attach_vm made; errors are returned, not fatal (the port goes anyway).
NetnsError detach_vm(const config::PortConfig& port, VmAttachment& vm);

// A VM's wire carries the guest's frames only: the host's own IPv6 (router solicitations, MLD,
// DAD) would reach the switch and the guest as frames neither of them sent. Call before the
// netdev goes up.
NetnsError keep_host_stack_off(const std::string& ifname);

// "/dev/tap<ifindex>" of a macvtap, created from sysfs when devtmpfs did not; empty if `macvtap`
// has no tap device.
std::string macvtap_device(const std::string& macvtap, std::string& error);

}  // namespace vs
