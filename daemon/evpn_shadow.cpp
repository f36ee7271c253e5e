#include "daemon/evpn_shadow.hpp"

#include <net/if.h>

#include <vector>

#include "daemon/command.hpp"

namespace vs {
namespace {

// Bridge ageing in centiseconds, the largest the kernel takes (about 497 days): a pushed local
// MAC leaves the shadow bridge when the switch forgets it, never by the bridge's own ageing.
constexpr const char* kNeverAge = "4294967295";

std::string run_all(const std::vector<std::vector<std::string>>& steps) {
  for (const auto& argv : steps) {
    const CommandResult r = run_command(argv);
    if (!r.ok()) return "`" + join_command(argv) + "` failed: " + r.output;
  }
  return {};
}

}  // namespace

EvpnShadow evpn_shadow_names(int vni) {
  const std::string n = std::to_string(vni);
  EvpnShadow s;
  s.bridge = "vsbr" + n;
  s.vxlan = "vsvx" + n;
  s.port = "vssh" + n;
  s.peer = "vssp" + n;
  return s;
}

std::string make_evpn_shadow(const config::VxlanConfig& vx, EvpnShadow& out) {
  out = evpn_shadow_names(vx.vni);
  remove_evpn_shadow(out);  // a leftover of a vswitchd that did not stop cleanly
  const std::string err = run_all({
      {"ip", "link", "add", out.bridge, "type", "bridge", "ageing_time", kNeverAge,
       "mcast_snooping", "0"},
      {"ip", "link", "set", out.bridge, "addrgenmode", "none"},
      {"ip", "link", "add", out.vxlan, "type", "vxlan", "id", std::to_string(vx.vni), "local",
       vx.local, "dstport", std::to_string(kShadowVxlanPort), "nolearning"},
      {"ip", "link", "set", out.vxlan, "addrgenmode", "none"},
      {"ip", "link", "set", out.vxlan, "master", out.bridge},
      {"ip", "link", "set", out.vxlan, "type", "bridge_slave", "learning", "off", "neigh_suppress",
       "off"},
      {"ip", "link", "add", out.port, "type", "veth", "peer", "name", out.peer},
      {"ip", "link", "set", out.port, "addrgenmode", "none"},
      {"ip", "link", "set", out.peer, "addrgenmode", "none"},
      {"ip", "link", "set", out.port, "master", out.bridge},
      {"ip", "link", "set", out.port, "type", "bridge_slave", "learning", "off"},
      {"ip", "link", "set", out.peer, "up"},
      {"ip", "link", "set", out.port, "up"},
      {"ip", "link", "set", out.vxlan, "up"},
      {"ip", "link", "set", out.bridge, "up"},
  });
  if (!err.empty()) {
    remove_evpn_shadow(out);
    return "cannot make the EVPN shadow devices (docs/evpn.md): " + err +
           ". Is another VXLAN device using VNI " + std::to_string(vx.vni) + " or UDP port " +
           std::to_string(kShadowVxlanPort) + " on " + vx.local +
           "? (`ip -d link show type vxlan`)";
  }
  out.vxlan_ifindex = static_cast<int>(if_nametoindex(out.vxlan.c_str()));
  out.port_ifindex = static_cast<int>(if_nametoindex(out.port.c_str()));
  if (out.vxlan_ifindex == 0 || out.port_ifindex == 0) {
    remove_evpn_shadow(out);
    return "the EVPN shadow devices " + out.vxlan + " and " + out.port +
           " vanished right after they were made";
  }
  return {};
}

void remove_evpn_shadow(EvpnShadow& s) {
  // The veth's peer goes with it, the VXLAN device's FDB with the device.
  for (const std::string* dev : {&s.port, &s.vxlan, &s.bridge})
    if (!dev->empty() && if_nametoindex(dev->c_str()) != 0)
      run_command({"ip", "link", "del", *dev});
  s.vxlan_ifindex = s.port_ifindex = 0;
}

}  // namespace vs
