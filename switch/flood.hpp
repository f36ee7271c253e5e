// The forwarding decision of the first datapath: a frame received on a port is sent to every
// other port of the same switch (flooding; MAC learning comes with the FDB). Pure logic, no DPDK,
// so unit tests and fuzzers run it without an EAL.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>

#include "switch/counters.hpp"
#include "switch/topology.hpp"

namespace vs {

inline constexpr std::size_t kEtherHeaderLen = 14;

// Ports of one switch, precomputed from a topology snapshot.
struct SwitchPorts {
  uint16_t count = 0;
  uint16_t port_ids[kMaxPorts];
};

// Groups the ports of `table` by switch: out[s] lists the DPDK port ids of switch s.
// Returns the number of switches filled (at most `out.size()`).
std::size_t group_ports_by_switch(const TopologyTable& table, std::span<SwitchPorts> out);

// Why a frame cannot be forwarded at all, or DropReason::kCount if it can.
DropReason check_frame(std::size_t frame_len);

// Writes the egress port ids for a frame that arrived on `ingress` into `out` and returns how
// many there are: every port of `ports` except the ingress port.
std::size_t flood_targets(const SwitchPorts& ports, uint16_t ingress, std::span<uint16_t> out);

}  // namespace vs
