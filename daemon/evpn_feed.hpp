// The EVPN feed (issue #26, docs/evpn.md "The feed"): the FDB's one writer (the FDB service)
// follows what FRR's zebra writes on each EVPN tunnel port's shadow VXLAN device, and tells zebra
// the switch's local MACs through the shadow bridge. The kernel's FDB is the only interface
// between the two, both ways; no BGP of our own.
//
//  zebra -> vsvx<VNI>: a MAC with a destination (NDA_DST) is a remote MAC behind that VTEP
//      (type-2 route): it becomes an FDB entry of the tunnel port (kFdbRemote) naming the VTEP's
//      slot of the port's VtepSet (shm/vtep.hpp). An all-zero MAC with a destination is a VTEP of
//      the VNI's flood list (type-3 route): a flood bit of the VtepSet.
//  switch -> vssh<VNI>: every MAC the FDB holds on a local port of the tunnel's switch and VLAN
//      is pushed as a dynamic entry (not static: zebra would advertise a static one as sticky,
//      which never moves); it is withdrawn when the FDB forgets it or it moves behind a tunnel.
//
// Everything here runs under the FDB service's writer lock (its own thread's polls, and the
// port manager's attach and detach), so the FDB, the VTEP sets and this bookkeeping have one
// writer at a time. A lost notification (the socket overran) or a minute gone by makes the feed
// dump the kernel's FDB again and correct both sides to it.
#pragma once
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "daemon/bridge_neigh.hpp"
#include "shm/fdb.hpp"
#include "shm/vtep.hpp"
#include "switch/fdb_writer.hpp"

namespace vs {

// What the port manager tells the feed about an EVPN tunnel port it started.
struct EvpnTunnel {
  std::string name;
  uint16_t port_id = 0;
  uint16_t switch_index = 0;
  uint16_t vlan = 0;  // the port's access VLAN: the switch's side of the VNI
  uint32_t vni = 0;
  int vxlan_ifindex = 0;  // the shadow VXLAN device (zebra writes there)
  int port_ifindex = 0;   // the shadow bridge port (we push there)
};

// The port manager's view of the feed (the FDB service implements it).
class EvpnSink {
 public:
  virtual ~EvpnSink() = default;
  // "" or why the feed cannot follow the port (its netlink socket could not be opened).
  virtual std::string evpn_attach(const EvpnTunnel& t) = 0;
  virtual void evpn_detach(uint16_t port_id) = 0;
};

// Per tunnel port, read by the metrics thread: relaxed atomics.
struct EvpnStats {
  std::atomic<uint64_t> remote_macs{0};   // gauge: remote MACs in the FDB
  std::atomic<uint64_t> vteps{0};         // gauge: VTEP slots in use
  std::atomic<uint64_t> flood_vteps{0};   // gauge: VTEPs in the flood list
  std::atomic<uint64_t> local_macs{0};    // gauge: local MACs pushed to the shadow bridge
  std::atomic<uint64_t> no_vtep_slot{0};  // remote MACs or flood VTEPs refused: no free slot
  std::atomic<uint64_t> not_stored{0};    // remote MACs the FDB refused (full, or a static MAC)
  std::atomic<uint64_t> push_errors{0};   // pushes the kernel refused
  std::atomic<uint64_t> resyncs{0};       // full dumps after the first
};

class EvpnFeed {
 public:
  EvpnFeed(FdbWriter& writer, const FdbTable& table, VtepTable& vteps);

  std::string attach(const EvpnTunnel& t, uint32_t now_s);
  // The port's remote entries leave the FDB and its VTEP set is emptied.
  void detach(uint16_t port_id);
  // FdbWriter's observer: a MAC appeared, moved or went; its push may change.
  void fdb_changed(uint16_t sw, uint64_t key, uint16_t port_id);
  // The FDB service's loop: zebra's news applied, the pushes due sent.
  void poll(uint32_t now_s);
  bool active() const { return !tunnels_.empty(); }

  struct Row {
    std::string name;
    uint32_t vni;
    const EvpnStats* stats;
  };
  std::vector<Row> rows() const;
  // The VTEP address (network order) of slot + 1 `vtep` of an EVPN port, 0 if none.
  uint32_t vtep_address(uint16_t port_id, uint16_t vtep) const;

 private:
  struct Tunnel {
    EvpnTunnel cfg;
    std::map<uint64_t, uint32_t> remotes;  // MAC -> VTEP, as the FDB holds them
    std::set<uint32_t> flood;              // the flood list's VTEPs
    uint32_t slots[kMaxVteps] = {};        // the VtepSet as published
    uint32_t refs[kMaxVteps] = {};         // remote MACs + flood membership per slot
    bool slots_changed = false;
    std::set<uint64_t> pushed;  // local MACs on the shadow port
    std::set<uint64_t> dirty;   // MACs whose push is to be checked
    std::unique_ptr<EvpnStats> stats = std::make_unique<EvpnStats>();
  };
  struct Snapshot {  // one tunnel's part of a dump
    std::map<uint64_t, uint32_t> remotes;
    std::set<uint32_t> flood;
    std::set<uint64_t> pushed;
  };

  Tunnel* by_ifindex(int ifindex);
  void apply(const BridgeNeigh& n, uint32_t now_s);
  void remote_add(Tunnel& t, uint64_t mac, uint32_t vtep, uint32_t now_s);
  void remote_del(Tunnel& t, uint64_t mac);
  void flood_add(Tunnel& t, uint32_t vtep);
  void flood_del(Tunnel& t, uint32_t vtep);
  int ref(Tunnel& t, uint32_t vtep);
  void unref(Tunnel& t, uint32_t vtep);
  void publish(Tunnel& t);
  bool dump(std::map<int, Snapshot>& out);
  void resync(uint32_t now_s);
  void resync(Tunnel& t, const Snapshot& s, uint32_t now_s);
  void mark_local_macs(Tunnel& t);
  void push_due();
  void update_gauges(Tunnel& t);

  FdbWriter& writer_;
  const FdbTable& table_;
  VtepTable& vteps_;
  NeighSocket events_;    // RTNLGRP_NEIGH: zebra's writes and ours, as they happen
  NeighSocket requests_;  // dumps and pushes, with their answers
  uint32_t seq_ = 1;
  uint32_t last_resync_s_ = 0;
  std::map<uint16_t, Tunnel> tunnels_;  // by port id
};

}  // namespace vs
