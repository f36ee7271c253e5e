// The switch actor: one per [[switch]], the owner of that switch's ports (its PortManager) and
// the one caller of the driver for them: probe, configure, start, stop, hot-unplug, statistics
// and link reads. Reloads reach it as its share of the diff (config actor), namespace and netdev
// events from the watcher, `port reset` and snapshots from the control socket and the exporter.
//
// Those calls can take seconds (a probe waits on every worker's hotplug answer, netlink, a slow
// kernel), so it is spawned detached: it waits on a thread of its own, never on one of the
// scheduler's. While it is busy, its snapshot requests wait in its mailbox; their senders give
// up at their deadline and show its last snapshot as stale. The other switches, the supervisor,
// the topology actor and the control socket go on meanwhile.
//
// After each change it asks the topology actor to publish the table, then waits (on its own
// thread) until the workers poll by it before it closes anything they might still use.
#pragma once
#include <atomic>
#include <chrono>
#include <string>
#include <vector>

#include "actors/messages.hpp"

namespace vs {

class DatapathMemory;
class FdbService;
class PortManager;

struct SwitchRefs {
  std::string name;    // the switch's
  PortManager& ports;  // its ports
  DatapathMemory& mem;
  FdbService& fdb;
  // True while the actor is in a port change (which may take seconds): a snapshot asked for
  // meanwhile is not waited for long (SwitchSnapshots). Written by the actor, read by anyone.
  std::atomic<bool> busy{false};
};

struct SwitchState {
  static inline const char* name = "switch";
  SwitchRefs* refs = nullptr;
  topology_actor topology;
  caf::actor_system* system = nullptr;
};

switch_actor::behavior_type switch_behavior(switch_actor::stateful_pointer<SwitchState> self,
                                            SwitchRefs* refs, topology_actor topology);

// Waits until every running worker polls by `generation` (or `timeout`). Returns the workers that
// did not confirm in time.
std::vector<int> await_workers(DatapathMemory& mem, uint64_t generation,
                               std::chrono::milliseconds timeout);

// The switch's ports with the driver's statistics and link state. Call on the ports' owner's
// thread (it reads the list without the lock and calls the driver).
SwitchSnapshot snapshot_ports(const PortManager& ports, const std::string& switch_name);

}  // namespace vs
