// Moves a port's netdev into a named network namespace and configures it there: the container
// attachment mode, and how the demo and the tests give each "VM" its NIC. Uses iproute2.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace vs {

struct NetnsError {
  std::string message;  // empty: success
  explicit operator bool() const { return !message.empty(); }
};

bool netns_exists(const std::string& name);
// The inode of the namespace mounted on /run/netns/<name> (it identifies the namespace, as
// /proc/PID/ns/net shows it); 0 when there is none, or the file is not mounted yet (`ip netns
// add` creates the file, then bind-mounts the namespace onto it).
uint64_t netns_inode(const std::string& name);
// Creates /run/netns/<name> unless it exists; `created` tells whether this call made it.
// With creation turned off (vswitchd --no-create-netns), a missing namespace is an error.
NetnsError netns_ensure(const std::string& name, bool& created);

// Whether netns_ensure may create namespaces (default yes). vswitchd.service turns it off: its
// mount namespace is private (ProtectSystem=), so a namespace it mounted on /run/netns would be
// seen by no one else. Ports then wait for their namespace instead (docs/operations.md).
void netns_allow_creation(bool allowed);
bool netns_creation_allowed();
NetnsError netns_delete(const std::string& name);

// Moves `ifname` from our namespace into `netns`, then sets the MTU, addresses and link up there.
NetnsError netns_attach_link(const std::string& ifname, const std::string& netns, int mtu,
                             const std::vector<std::string>& addresses);
// Moves `ifname` back from `netns` into our own namespace (before the port is stopped).
NetnsError netns_detach_link(const std::string& ifname, const std::string& netns);
// Sets addresses and link up on a netdev that is already in `netns` (net_rtap creates its TAP
// there).
NetnsError netns_configure_link(const std::string& ifname, const std::string& netns,
                                const std::vector<std::string>& addresses);
// Sets addresses and link up on a netdev left in our own namespace.
NetnsError link_configure_here(const std::string& ifname,
                               const std::vector<std::string>& addresses);

// Whether netdev IFNAME in namespace NETNS is up and running (SIOCGIFFLAGS through a socket made
// in that namespace by a short-lived thread); nullopt if it cannot be read.
// Makes `ifname` (in `netns`; "" = ours) a port of the kernel bridge `bridge` there, with no
// IPv6 of the host's own, and up. The bridge must exist there and be a bridge.
NetnsError link_join_bridge(const std::string& ifname, const std::string& netns,
                            const std::string& bridge);
std::optional<bool> netdev_running_in(const std::string& netns, const std::string& ifname);

}  // namespace vs
