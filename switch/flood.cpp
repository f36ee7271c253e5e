#include "switch/flood.hpp"

namespace vs {

std::size_t group_ports_by_switch(const TopologyTable& table, std::span<SwitchPorts> out) {
  std::size_t used = 0;
  for (auto& s : out) s.count = 0;
  for (uint16_t i = 0; i < table.nb_ports && i < kMaxPorts; ++i) {
    const PortEntry& p = table.ports[i];
    if (p.switch_index >= out.size()) continue;
    SwitchPorts& s = out[p.switch_index];
    if (s.count < kMaxPorts) s.port_ids[s.count++] = p.dpdk_port_id;
    if (p.switch_index + 1u > used) used = p.switch_index + 1u;
  }
  return used;
}

std::size_t flood_targets(const SwitchPorts& ports, uint16_t ingress, std::span<uint16_t> out) {
  std::size_t n = 0;
  for (uint16_t i = 0; i < ports.count && n < out.size(); ++i) {
    if (ports.port_ids[i] != ingress) out[n++] = ports.port_ids[i];
  }
  return n;
}

}  // namespace vs
