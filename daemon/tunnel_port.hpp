// VXLAN tunnel ports (issue #26, docs/evpn.md "Step two"): what the primary does for them. They
// have no DPDK device: the workers open their own UDP sockets (switch/worker.cpp). The primary
// checks the underlay when the port starts, gives the port an id from the top of the port-id
// range, and describes the tunnel in the port table (TunnelEntry).
#pragma once
#include <cstdint>
#include <string>

#include "config/config.hpp"
#include "shm/topology.hpp"

namespace vs {

// Checks that `underlay` exists in this namespace, holds the address `local`, and carries the
// port's frames: its MTU must be at least `inner_mtu` + 50 (outer IPv4, UDP, VXLAN, inner
// Ethernet). "", or what is wrong and how to fix it.
std::string check_underlay(const config::VxlanConfig& vx, int inner_mtu);

// A free tunnel port id (>= kFirstTunnelPortId), or -1 when kMaxTunnelPorts are in use. Ids are
// process-wide: the switches' port managers share them.
int acquire_tunnel_id();
void release_tunnel_id(uint16_t port_id);

// The port table's description of the tunnel (addresses in network byte order).
void tunnel_entry(const config::VxlanConfig& vx, TunnelEntry& out);

}  // namespace vs
