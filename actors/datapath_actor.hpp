// The datapath actor: the owner of every port (PortManager) and the only publisher of the
// port/queue table. Reloads reach it as diffs; `show` reads it; the supervisor tells it which
// workers may poll.
#pragma once
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
  uint64_t active_workers = ~0ull;
};

datapath_actor::behavior_type datapath_behavior(
    datapath_actor::stateful_pointer<DatapathState> self, DatapathRefs* refs);

// Publishes the table for the current ports and workers; returns its generation.
uint64_t publish_topology(DatapathRefs& refs, uint64_t active_workers);

// Waits until every running worker polls by `generation` (or `timeout`). Returns the workers that
// did not confirm in time.
std::vector<int> await_workers(DatapathMemory& mem, uint64_t generation,
                               std::chrono::milliseconds timeout);

}  // namespace vs
