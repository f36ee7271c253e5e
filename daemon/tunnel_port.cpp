#include "daemon/tunnel_port.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <bitset>
#include <cstring>
#include <fstream>
#include <mutex>

#include "switch/tunnel.hpp"

namespace vs {
namespace {

std::mutex g_ids_mu;
std::bitset<kMaxTunnelPorts> g_ids_used;

uint32_t ipv4_of(const std::string& text) {
  in_addr a{};
  inet_pton(AF_INET, text.c_str(), &a);  // validated by the config loader
  return a.s_addr;
}

bool has_address(const std::string& ifname, uint32_t addr) {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return false;
  bool found = false;
  for (ifaddrs* i = list; i != nullptr && !found; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET) continue;
    const auto* sin = reinterpret_cast<const sockaddr_in*>(i->ifa_addr);
    found = ifname == i->ifa_name && sin->sin_addr.s_addr == addr;
  }
  freeifaddrs(list);
  return found;
}

int read_mtu(const std::string& ifname) {
  std::ifstream f("/sys/class/net/" + ifname + "/mtu");
  int mtu = -1;
  f >> mtu;
  return f ? mtu : -1;
}

}  // namespace

std::string check_underlay(const config::VxlanConfig& vx, int inner_mtu) {
  if (if_nametoindex(vx.underlay.c_str()) == 0)
    return "underlay " + vx.underlay +
           " does not exist in vswitchd's network namespace (`ip link show " + vx.underlay +
           "`); create it or name the netdev that carries the tunnel";
  if (!has_address(vx.underlay, ipv4_of(vx.local)))
    return "underlay " + vx.underlay + " does not have the address " + vx.local +
           " (the local VTEP); add it (`ip addr add " + vx.local + "/24 dev " + vx.underlay +
           "`) or change vxlan.local";
  const int mtu = read_mtu(vx.underlay);
  if (mtu < 0) return "cannot read the MTU of underlay " + vx.underlay;
  const int needed = inner_mtu + static_cast<int>(kVxlanOverheadV4);
  if (mtu < needed)
    return "underlay " + vx.underlay + " has MTU " + std::to_string(mtu) +
           ", too small for the port's mtu " + std::to_string(inner_mtu) + " + " +
           std::to_string(kVxlanOverheadV4) +
           " bytes of VXLAN over IPv4 = " + std::to_string(needed) +
           "; raise the underlay's MTU (`ip link set " + vx.underlay + " mtu " +
           std::to_string(needed) + "`) or lower the port's mtu to " +
           std::to_string(mtu - static_cast<int>(kVxlanOverheadV4));
  return {};
}

int acquire_tunnel_id() {
  std::lock_guard guard(g_ids_mu);
  for (int i = 0; i < kMaxTunnelPorts; ++i) {
    if (g_ids_used[i]) continue;
    g_ids_used[i] = true;
    return kFirstTunnelPortId + i;
  }
  return -1;
}

void release_tunnel_id(uint16_t port_id) {
  if (!is_tunnel_port_id(port_id)) return;
  std::lock_guard guard(g_ids_mu);
  g_ids_used[port_id - kFirstTunnelPortId] = false;
}

void tunnel_entry(const config::VxlanConfig& vx, TunnelEntry& out) {
  std::memset(&out, 0, sizeof(out));
  out.vni = static_cast<uint32_t>(vx.vni);
  out.local_addr = ipv4_of(vx.local);
  out.udp_port = static_cast<uint16_t>(vx.udp_port);
  out.evpn = vx.evpn ? 1 : 0;
  for (const std::string& r : vx.remotes) {
    if (out.nb_remotes >= kMaxVteps) break;
    out.remotes[out.nb_remotes++] = ipv4_of(r);
  }
}

}  // namespace vs
