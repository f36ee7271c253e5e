// Fixed bounds of the shared-memory layouts. They size structures that several processes map,
// so changing one is a layout change (bump kLayoutVersion in topology.hpp).
#pragma once
#include <cstdint>

namespace vs {

inline constexpr int kMaxPorts = 256;  // ports per daemon, all switches together
// DPDK port ids the counter blocks index: at least RTE_MAX_ETHPORTS (512 in our DPDK build), as a
// reload may create a port before it closes the one it replaces (static_assert in forwarder.hpp).
inline constexpr int kMaxPortIds = 512;
inline constexpr int kMaxSwitches = 64;
inline constexpr int kMaxWorkers = 16;
inline constexpr int kMaxQueuesPerPort = 32;  // DPDK queues of one port (rx == tx for net_tap)
inline constexpr int kPortNameSize = 16;      // IFNAMSIZ
inline constexpr int kBurstSize = 32;
inline constexpr int kMaxMirrors = 32;  // [[switch.mirror]] tables, all switches together
inline constexpr int kMirrorNameSize = 32;
// VXLAN tunnel ports (issue #26) have no DPDK device: they take port ids from the top of the
// range, which DPDK (lowest free id first) reaches only past kFirstTunnelPortId ethdevs, and the
// port manager refuses a DPDK port given one of them.
inline constexpr int kMaxTunnelPorts = 32;
inline constexpr int kFirstTunnelPortId = kMaxPortIds - kMaxTunnelPorts;
// Remote VTEPs of one tunnel port: the slots of its VtepSet (EVPN) or its TunnelEntry; a static
// list (vxlan.remotes) holds at most 16 of them (config).
inline constexpr int kMaxVteps = 32;

}  // namespace vs
