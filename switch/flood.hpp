// Flood lists: the ports of each switch, and the ports a flooded frame goes to (every port of the
// switch but the ingress one; the forwarder then keeps those that carry the frame's VLAN). Pure
// logic, no DPDK, so unit tests and fuzzers run it without an EAL.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>

#include "shm/topology.hpp"

namespace vs {

// Ports of one switch, precomputed from a topology snapshot.
struct SwitchPorts {
  uint16_t count = 0;
  uint16_t port_ids[kMaxPorts];
};

// Groups the ports of `table` by switch: out[s] lists the DPDK port ids of switch s.
// Returns the number of switches filled (at most `out.size()`).
std::size_t group_ports_by_switch(const TopologyTable& table, std::span<SwitchPorts> out);

// Writes the egress port ids for a frame that arrived on `ingress` into `out` and returns how
// many there are: every port of `ports` except the ingress port.
std::size_t flood_targets(const SwitchPorts& ports, uint16_t ingress, std::span<uint16_t> out);

}  // namespace vs
