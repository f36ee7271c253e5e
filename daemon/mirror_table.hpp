// The running mirrors ([[switch.mirror]]) for the published port/queue table, `show mirrors`
// and the metrics. The config actor sets them (at start and after each change that touches
// them); the topology actor's build writes them into each table it publishes, with the port
// names resolved to the ports of that table; control and metrics read them. One mutex, inside
// vswitchd only.
//
// A mirror keeps its slot (TopologyTable::mirrors, WorkerCounterBlock::mirrors) while it exists.
// A slot taken by a new mirror may hold the counts of an earlier one: its counters start from
// a baseline read when the slot was taken.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "shm/topology.hpp"

namespace prometheus {
class Collectable;
}  // namespace prometheus

namespace vs {

class DatapathMemory;

class MirrorTable {
 public:
  explicit MirrorTable(const DatapathMemory& mem) : mem_(mem) {}

  // The mirrors of `cfg` from now on.
  void set(const config::Config& cfg);
  // Writes the mirrors into `t`, whose ports are filled, and marks their outputs.
  void fill(TopologyTable& t) const;

  struct View {
    std::string switch_name;
    config::MirrorConfig cfg;
    uint64_t packets = 0, bytes = 0, drops = 0;  // every worker, since the mirror was made
  };
  std::vector<View> view() const;

 private:
  struct Slot {
    bool used = false;
    std::string switch_name;
    uint16_t switch_index = 0;
    config::MirrorConfig cfg;
    uint64_t base[3] = {0, 0, 0};  // packets, bytes, drops when the slot was taken
  };
  void sums(int slot, uint64_t out[3]) const;

  const DatapathMemory& mem_;
  mutable std::mutex mu_;
  Slot slots_[kMaxMirrors];
};

// vswitch_mirror_packets_total, _bytes_total, _drops_total {switch, mirror, output}, at scrape.
std::shared_ptr<prometheus::Collectable> mirror_collector(const MirrorTable& mirrors);

}  // namespace vs
