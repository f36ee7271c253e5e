// libFuzzer target: any bytes a VM can send into a port with an anti-spoofing policy. The
// parsers of ARP, IPv4, IPv6 extension headers, ND options and DHCP ports (switch/policy.cpp)
// may not crash or read past the window, and the verdict must be consistent with the policy.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "switch/policy.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t kind = data[0];
  ++data;
  --size;
  vs::PortPolicy p{};
  if (kind & 1) vs::policy_add_mac(p, "02:00:00:00:00:01");
  if (kind & 2) {
    vs::policy_add_prefix(p, "10.0.0.5");
    vs::policy_add_prefix(p, "fd00::/64");
  }
  if (kind & 4) p.flags |= vs::kPolicyBlockDhcpServer;
  if (kind & 8) p.flags |= vs::kPolicyBlockRa;
  vs::EthInfo eth;
  if (vs::parse_ethernet(data, size, eth) != vs::DropReason::kCount) return 0;
  // The worker hands in at most a window; the check must live with any length.
  const size_t len = size < vs::kPolicyWindow ? size : vs::kPolicyWindow;
  const vs::DropReason r = vs::policy_check(p, eth, data, len);
  if (!vs::policy_active(p) && r != vs::DropReason::kCount) std::abort();  // nothing to check
  if (!vs::policy_mac_allowed(p, eth.src) && r != vs::DropReason::kSpoofedMac) std::abort();
  if (r == vs::DropReason::kDhcpServer && !(p.flags & vs::kPolicyBlockDhcpServer)) std::abort();
  if (r == vs::DropReason::kRouterAdvert && !(p.flags & vs::kPolicyBlockRa)) std::abort();
  return 0;
}
