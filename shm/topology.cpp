#include "shm/topology.hpp"

#include <cstring>

namespace vs {

void topology_init(SharedTopology& shared) {
  std::memset(&shared.table, 0, sizeof(shared.table));
  shared.magic = kTopologyMagic;
  shared.layout_version = kLayoutVersion;
  shared.generation.store(0, std::memory_order_release);
}

void topology_publish(SharedTopology& shared, const TopologyTable& table) {
  uint64_t gen = shared.generation.load(std::memory_order_relaxed);
  shared.generation.store(gen + 1, std::memory_order_relaxed);  // odd: update in progress
  std::atomic_thread_fence(std::memory_order_release);
  std::memcpy(&shared.table, &table, sizeof(table));
  shared.generation.store(gen + 2, std::memory_order_release);  // even: published
}

uint64_t topology_snapshot(const SharedTopology& shared, TopologyTable& out, int max_attempts) {
  for (int attempt = 0; attempt < max_attempts; ++attempt) {
    uint64_t before = shared.generation.load(std::memory_order_acquire);
    if (before == 0) return 0;
    if (before & 1) continue;
    std::memcpy(&out, &shared.table, sizeof(out));
    std::atomic_thread_fence(std::memory_order_acquire);
    if (shared.generation.load(std::memory_order_relaxed) == before) return before;
  }
  return 0;
}

}  // namespace vs
