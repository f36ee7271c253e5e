// The topology actor: the one writer of the port/queue table that the workers poll by
// (shm/topology.hpp, a seqlock in shared memory: vswitchd writes, the workers read).
//
// It merges the owners' news: the ports, as each switch actor made them (publish_atom, after
// each change; the table holds every switch's ports, read under each one's lock, which its owner
// holds only for short updates, never across a driver call), and the workers that may poll, as
// the supervisor allows (workers_atom, at a crash, a give-up or a worker's return). None waits
// for another: a worker's crash lends its queues at once even while a switch actor sits in a
// port probe for seconds.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "actors/messages.hpp"
#include "shm/topology.hpp"

namespace vs {

struct TopologyRefs {
  SharedTopology& shared;  // written by this actor only (after the start-up publish)
  int nb_workers = 0;
  // The table for the ports as they are now, each rx queue given to an active worker.
  std::function<void(const std::vector<bool>& active, TopologyTable& out)> build;
};

struct TopologyState {
  static inline const char* name = "topology";
  TopologyRefs* refs = nullptr;
  uint64_t active_workers = ~0ull;
};

topology_actor::behavior_type topology_behavior(
    topology_actor::stateful_pointer<TopologyState> self, TopologyRefs* refs);

// Builds and publishes the table for `active_workers` (bit w = worker w); returns its generation.
// The actor's own step, also called once at start-up before any actor runs.
uint64_t publish_table(TopologyRefs& refs, uint64_t active_workers);

}  // namespace vs
