// The datapath actor: the owner of every port (PortManager) and the one caller of DPDK's port
// control path (probe, configure, start, stop, remove). Reloads reach it as diffs, namespace and
// netdev events from the watcher, `port reset` from the control socket.
//
// Those calls can take seconds (a probe waits on every worker's hotplug answer, netlink, a slow
// kernel), so it is spawned detached: it waits on a thread of its own, never on one of the
// scheduler's, and the supervisor, the topology actor and the control socket go on meanwhile.
// After each change it asks the topology actor to publish the table, then waits (on its own
// thread) until the workers poll by it before it closes anything they might still use.
#pragma once
#include <chrono>
#include <vector>

#include "actors/messages.hpp"

namespace vs {

class DatapathMemory;
class FdbService;
class PortManager;

struct DatapathRefs {
  PortManager& ports;
  DatapathMemory& mem;
  FdbService& fdb;
  const config::Config& startup;  // the switches (a reload cannot change them)
};

struct DatapathState {
  static inline const char* name = "datapath";
  DatapathRefs* refs = nullptr;
  topology_actor topology;
  caf::actor_system* system = nullptr;
};

datapath_actor::behavior_type datapath_behavior(
    datapath_actor::stateful_pointer<DatapathState> self, DatapathRefs* refs,
    topology_actor topology);

// Waits until every running worker polls by `generation` (or `timeout`). Returns the workers that
// did not confirm in time.
std::vector<int> await_workers(DatapathMemory& mem, uint64_t generation,
                               std::chrono::milliseconds timeout);

}  // namespace vs
