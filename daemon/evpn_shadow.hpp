// The shadow of an EVPN tunnel port (issue #26, docs/evpn.md "The feed"): FRR's zebra works
// only with a kernel VXLAN device in a kernel bridge, so each `vxlan = { ..., evpn = true }` port
// gets one that carries no traffic:
//   vsbr<VNI>  a bridge (VLAN-unaware; its entries do not age in practice),
//   vsvx<VNI>  a VXLAN device with the port's VNI and local address, on UDP port 47890 (the
//              kernel binds its socket to the wildcard address: on 4789 the workers' binds to
//              local:4789 would fail), no learning: zebra writes the remote MACs and the flood
//              list (type-3 routes) on it,
//   vssh<VNI>  one end of a veth pair (vssp<VNI> the other; the kernel has no dummy), where the
//              switch's local MACs are pushed for zebra to advertise.
// Made and removed by the port manager with iproute2's `ip`, like the VM attachments.
#pragma once
#include <string>

#include "config/config.hpp"

namespace vs {

inline constexpr int kShadowVxlanPort = 47890;

struct EvpnShadow {
  std::string bridge, vxlan, port, peer;
  int vxlan_ifindex = 0;  // where zebra writes the remote MACs and the flood list
  int port_ifindex = 0;   // where the local MACs are pushed
  bool made() const { return vxlan_ifindex != 0; }
};

// The names for a VNI (up to 12 characters).
EvpnShadow evpn_shadow_names(int vni);
// Makes the shadow of `vx` (removing a leftover of a previous run first). "" or what failed,
// with the command and the fix; on failure nothing is left behind.
std::string make_evpn_shadow(const config::VxlanConfig& vx, EvpnShadow& out);
void remove_evpn_shadow(EvpnShadow& s);

}  // namespace vs
