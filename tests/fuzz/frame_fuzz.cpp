// libFuzzer target: any bytes a VM can send, on any kind of port. Parses the frame, classifies it
// into a VLAN, decides the egress tag on every kind of port and the flood list: nothing may crash,
// and the decisions must be consistent (a VLAN accepted on ingress is one the port carries).
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "switch/flood.hpp"
#include "switch/l2.hpp"

namespace {

vs::PortEntry make_port(uint8_t kind, uint16_t vlan) {
  vs::PortEntry p{};
  p.dpdk_port_id = kind;
  if (kind & 1) {
    p.vlan_mode = vs::VlanMode::kTrunk;
    p.native_vlan = (kind & 2) ? vlan : 0;
    for (uint16_t v = 1; v < 4095; v += 1 + (kind >> 2)) vs::vlan_allow(p, v);
    if (p.native_vlan) vs::vlan_allow(p, p.native_vlan);
  } else {
    p.vlan_mode = vs::VlanMode::kAccess;
    p.access_vlan = vlan;
  }
  return p;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const uint8_t kind = data[0];
  const uint16_t port_vlan = static_cast<uint16_t>(1 + ((data[1] << 8 | data[2]) % 4094));
  data += 3;
  size -= 3;
  vs::EthInfo eth;
  if (vs::parse_ethernet(data, size, eth) != vs::DropReason::kCount) return 0;
  vs::PortEntry in = make_port(kind, port_vlan);
  uint16_t vlan = 0;
  if (vs::ingress_vlan(in, eth, vlan) != vs::DropReason::kCount) return 0;
  if (vlan < 1 || vlan > vs::kMaxVlan) __builtin_trap();
  // The ingress port itself carries the VLAN it accepted the frame into.
  if (vs::egress_tag(in, vlan) == vs::EgressTag::kRefused) __builtin_trap();
  vs::TopologyTable table;
  std::memset(&table, 0, sizeof(table));
  for (uint16_t i = 0; i < 8; ++i) {
    table.ports[i] = make_port(static_cast<uint8_t>(kind + i), port_vlan);
    table.ports[i].dpdk_port_id = i;
    table.ports[i].switch_index = static_cast<uint16_t>(i % 2);
  }
  table.nb_ports = 8;
  vs::SwitchPorts sw[2];
  vs::group_ports_by_switch(table, sw);
  uint16_t out[vs::kMaxPorts];
  size_t n = vs::flood_targets(sw[kind % 2], static_cast<uint16_t>(kind % 8), out);
  for (size_t i = 0; i < n; ++i) {
    if (out[i] == kind % 8) __builtin_trap();  // never back out of the ingress port
    (void)vs::egress_tag(table.ports[out[i]], vlan);
  }
  return 0;
}
