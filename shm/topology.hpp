// The port/queue table: which ports exist, which switch each belongs to, and which worker polls
// each rx queue. It lives in a DPDK memzone that every process maps.
//
// Writer: the primary (vswitchd) only.  Readers: the workers, which take a consistent copy.
// Protocol (a seqlock, as in VPP's stats segment): the writer makes `generation` odd, writes the
// table, then makes it even again with a release store. A reader loads an even `generation`
// (acquire), copies the table, and keeps the copy only if `generation` is unchanged afterwards.
// A reader never blocks the writer, and a reader killed mid-copy leaves nothing behind.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "shm/limits.hpp"

namespace vs {

inline constexpr uint32_t kTopologyMagic = 0x76737470;  // "vstp"
inline constexpr uint32_t kLayoutVersion = 7;  // 3: mirrors, PortEntry::flags; 4: port policies;
                                               // 5: storm control and rate limits; 6: tunnels;
                                               // 7: EVPN tunnels, kPortNoLearn
inline constexpr uint8_t kNoWorker = 0xff;

enum class VlanMode : uint8_t { kAccess = 0, kTrunk = 1 };
inline constexpr uint16_t kMaxVlan = 4094;

// Every field of PortEntry, TopologyTable and SharedTopology: vswitchd's topology actor wo (the
// one writer; at start-up, vswitchd's main thread before any actor runs), the workers ro.
struct PortEntry {
  uint16_t dpdk_port_id;
  uint16_t switch_index;
  uint16_t nb_rx_queues;
  uint16_t nb_tx_queues;
  uint16_t mtu;
  VlanMode vlan_mode;
  uint8_t flags;         // kPortMirrorOutput (3), kPortIsolated, kPortFiltered (4)
  uint16_t access_vlan;  // access: the port's VLAN (frames leave untagged)
  uint16_t native_vlan;  // trunk: VLAN of untagged frames, 0 = untagged frames are dropped
  char name[kPortNameSize];
  uint8_t rxq_owner[kMaxQueuesPerPort];  // worker id polling rx queue i, or kNoWorker
  uint64_t allowed_vlans[64];            // trunk: bit v set = VLAN v carried (tagged)
  // Storm control (issue #24), version 4: frames per second the port may send of each kind
  // (StormKind), for the whole port; a worker gives each rx queue it polls an equal share
  // (switch/rate.hpp). storm_set bit k: kind k is limited (else storm_fps[k] is unused).
  uint8_t storm_set;
  uint8_t storm_reserved[3];
  uint32_t storm_fps[3];
  // Rate limits (issue #24), version 4: libvirt's <bandwidth> of the port, for the whole port,
  // in bytes: [kInbound] to the VM (sent to the port), [kOutbound] from it (received).
  // average_Bps 0 = no limit. Split over the workers as storm_fps is (switch/rate.hpp).
  struct Rate {
    uint64_t average_Bps;  // bytes per second
    uint64_t peak_Bps;     // 0 = no peak bucket
    uint64_t burst_bytes;  // the average bucket's size
  } rate[2];
};
inline constexpr int kInbound = 0;
inline constexpr int kOutbound = 1;

// The kinds of storm_fps, in order.
enum class StormKind : uint8_t { kBroadcast = 0, kMulticast = 1, kUnknownUnicast = 2 };
inline constexpr int kStormKinds = 3;

// The port is a mirror's output: frames it sends are dropped, none is forwarded or flooded to it,
// it is never learned from; it only sends what the mirrors copy to it.
inline constexpr uint8_t kPortMirrorOutput = 1;
inline bool is_mirror_output(const PortEntry& p) {
  return p.flags & kPortMirrorOutput;
}

// Port isolation (version 4): frames of an isolated port never go to another isolated port.
inline constexpr uint8_t kPortIsolated = 2;
inline bool is_isolated(const PortEntry& p) {
  return p.flags & kPortIsolated;
}
// Anti-spoofing (version 4): TopologyTable::policies[i] of this entry has a check to run.
inline constexpr uint8_t kPortFiltered = 4;
// A VXLAN tunnel (version 6): no DPDK device behind dpdk_port_id (an id >= kFirstTunnelPortId);
// TopologyTable::tunnels[i] of this entry says what it is. Every worker has its own UDP socket
// for it: rx "queue" w is worker w's socket (rxq_owner[w] == w), tx goes through the same.
inline constexpr uint8_t kPortTunnel = 8;
inline bool is_tunnel(const PortEntry& p) {
  return p.flags & kPortTunnel;
}
// Frames the port receives are never learned from (version 7): an EVPN tunnel, whose remote MACs
// come from BGP EVPN (the FDB service's EVPN feed) instead.
inline constexpr uint8_t kPortNoLearn = 16;
inline bool is_tunnel_port_id(uint16_t port_id) {
  return port_id >= kFirstTunnelPortId && port_id < kMaxPortIds;
}

inline bool vlan_allowed(const PortEntry& p, uint16_t vlan) {
  return vlan <= kMaxVlan && (p.allowed_vlans[vlan >> 6] >> (vlan & 63)) & 1;
}
inline void vlan_allow(PortEntry& p, uint16_t vlan) {
  if (vlan <= kMaxVlan) p.allowed_vlans[vlan >> 6] |= 1ull << (vlan & 63);
}

inline constexpr uint8_t kMirrorIn = 1;   // frames the switch receives from a source
inline constexpr uint8_t kMirrorOut = 2;  // frames the switch sends to a source
inline constexpr uint16_t kNoMirrorOutput = 0xffff;

// One [[switch.mirror]], with its port names resolved to the DPDK port ids of this table (a
// source or an output that is down is simply absent). Version 3.
struct MirrorEntry {
  char name[kMirrorNameSize];
  uint16_t switch_index;
  uint16_t output;    // DPDK port id, kNoMirrorOutput while the output port is not up
  uint8_t direction;  // kMirrorIn | kMirrorOut
  uint8_t reserved[3];
  uint64_t source_ports[kMaxPortIds / 64];  // bit p: DPDK port id p is a source
  uint64_t source_vlans[64];                // bit v: VLAN v is a source (empty: none)
};

inline bool mirror_bit(const uint64_t* set, uint16_t i) {
  return (set[i >> 6] >> (i & 63)) & 1;
}
inline void mirror_set_bit(uint64_t* set, uint16_t i) {
  set[i >> 6] |= 1ull << (i & 63);
}

// The anti-spoofing policy of a port (switch/policy.hpp runs it on the frames the port sends).
// Version 4. An IPv4 prefix keeps its address in addr[0..3].
inline constexpr int kMaxPolicyMacs = 8;
inline constexpr int kMaxPolicyPrefixes = 16;
inline constexpr uint8_t kPolicyBlockDhcpServer = 1;  // DHCPv4 67->68 and DHCPv6 547->546
inline constexpr uint8_t kPolicyBlockRa = 2;          // ICMPv6 router advertisements

struct IpPrefix {
  uint8_t addr[16];
  uint8_t len;     // prefix length
  uint8_t family;  // 4 or 6
  uint8_t reserved[2];
};

struct PortPolicy {
  uint8_t nb_macs;      // 0: any source MAC
  uint8_t nb_prefixes;  // 0: any source IP (both families)
  uint8_t flags;        // kPolicyBlockDhcpServer | kPolicyBlockRa
  uint8_t reserved[5];
  uint64_t macs[kMaxPolicyMacs];  // MacAddr values
  IpPrefix prefixes[kMaxPolicyPrefixes];
};
static_assert(sizeof(IpPrefix) == 20 && sizeof(PortPolicy) % 8 == 0);

// A VXLAN tunnel port (version 6): its VNI, its local VTEP and UDP port, and its remote VTEPs.
// Addresses are IPv4 in network byte order. An FDB entry that points to this port names one of
// the remotes by index + 1 (FdbSlot::vtep); 0 = none (flood to every remote). With evpn, the
// remotes are the slots of the port's VtepSet instead (shm/vtep.hpp).
struct TunnelEntry {
  uint32_t vni;
  uint32_t local_addr;
  uint16_t udp_port;
  uint8_t nb_remotes;  // static remotes (0 with evpn)
  uint8_t evpn;        // 1: the remote VTEPs are the port's VtepSet (shm/vtep.hpp), fed by EVPN
  uint32_t remotes[kMaxVteps];
};

struct TopologyTable {
  uint16_t nb_ports;
  uint16_t nb_workers;
  uint16_t nb_switches;
  uint16_t primary_tx_queue;  // the tx queue reserved for the primary on every port
  PortEntry ports[kMaxPorts];
  uint32_t fdb_aging_s[kMaxSwitches];  // a worker re-reports a MAC after a quarter of this
  // The mirrors: slot i is mirror i of the counter blocks (WorkerCounterBlock::mirrors); a slot
  // keeps its mirror for as long as the mirror exists. nb_mirrors: the slots in use are below
  // it (an unused slot below it has switch_index kMaxSwitches). Version 3.
  uint16_t nb_mirrors;
  MirrorEntry mirrors[kMaxMirrors];
  // policies[i]: the anti-spoofing policy of ports[i] (read only if ports[i] is kPortFiltered).
  // A parallel array, so that PortEntry stays small for the per-frame egress checks. Version 4.
  PortPolicy policies[kMaxPorts];
  // tunnels[i]: ports[i]'s tunnel, read only if ports[i] is kPortTunnel. Version 6.
  TunnelEntry tunnels[kMaxPorts];
};

struct SharedTopology {
  uint32_t magic;
  uint32_t layout_version;
  std::atomic<uint64_t> generation;  // odd while the writer is mid-update; 0 = never published
  TopologyTable table;
};
static_assert(std::atomic<uint64_t>::is_always_lock_free);
static_assert(offsetof(SharedTopology, table) % 8 == 0);

// Writer side: initialise a zeroed block, then publish tables.
void topology_init(SharedTopology& shared);
void topology_publish(SharedTopology& shared, const TopologyTable& table);

// Reader side: copy the table if a consistent, published version is available.
// Returns the generation copied, or 0 when nothing is published or the writer kept interfering
// for `max_attempts` tries.
uint64_t topology_snapshot(const SharedTopology& shared, TopologyTable& out,
                           int max_attempts = 100);

}  // namespace vs
