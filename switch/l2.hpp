// Ethernet and 802.1Q parsing and the VLAN rules of a port: pure functions on bytes and on the
// port table, shared by the worker loop, the unit tests and the fuzzer.
#pragma once
#include <cstddef>
#include <cstdint>

#include "shm/counters.hpp"
#include "shm/fdb.hpp"
#include "shm/topology.hpp"

namespace vs {

inline constexpr uint16_t kEtherTypeVlan = 0x8100;

struct EthInfo {
  MacAddr dst = 0;
  MacAddr src = 0;
  bool tagged = false;     // an 802.1Q tag follows the source MAC
  uint16_t vid = 0;        // the tag's VLAN id (0: priority tag)
  uint16_t tci = 0;        // the whole tag control field (PCP, DEI, VID)
  uint16_t ethertype = 0;  // after the tag, if any
};

inline bool mac_is_multicast(MacAddr mac) {
  return (mac >> 40) & 1;
}  // broadcast included
inline MacAddr mac_from_bytes(const uint8_t* b) {
  MacAddr m = 0;
  for (int i = 0; i < 6; ++i) m = (m << 8) | b[i];
  return m;
}

// Parses the Ethernet header (and one 802.1Q tag). Returns DropReason::kCount when the frame is
// well formed, else why it is dropped.
DropReason parse_ethernet(const uint8_t* data, std::size_t len, EthInfo& out);

// The VLAN a frame received on `port` belongs to, or why the port refuses it.
DropReason ingress_vlan(const PortEntry& port, const EthInfo& eth, uint16_t& vlan);

// How a frame of `vlan` leaves `port`.
enum class EgressTag : uint8_t { kRefused, kUntagged, kTagged };
EgressTag egress_tag(const PortEntry& port, uint16_t vlan);

}  // namespace vs
