// The shared objects the primary creates for the workers before it starts them: the port/queue
// table, one counter block per worker, and one mbuf pool per worker (each worker's rx queues
// draw from its own pool, so a dead worker's mbufs never starve the others).
#pragma once
#include <rte_mempool.h>

#include <string>
#include <vector>

#include "switch/counters.hpp"
#include "switch/topology.hpp"

namespace vs {

class DatapathMemory {
 public:
  // Returns an empty string or what failed, with the fix.
  std::string create(int nb_workers, unsigned mbufs_per_worker);
  void destroy();

  SharedTopology& topology() { return *topology_; }
  WorkerCounterBlock& counters(int worker) { return *counters_.at(worker); }
  const WorkerCounterBlock& counters(int worker) const { return *counters_.at(worker); }
  rte_mempool* pool(int worker) const { return pools_.at(worker); }
  int nb_workers() const { return static_cast<int>(pools_.size()); }

 private:
  SharedTopology* topology_ = nullptr;
  std::vector<WorkerCounterBlock*> counters_;
  std::vector<rte_mempool*> pools_;
};

}  // namespace vs
