// Unit tests of the datapath's pure parts: the port/queue table's seqlock, the flood decision,
// and the single-writer counters. No EAL needed.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <thread>

#include "shm/counters.hpp"
#include "shm/topology.hpp"
#include "switch/flood.hpp"

namespace vs {
namespace {

TopologyTable make_table(std::initializer_list<std::pair<uint16_t, uint16_t>> port_switch) {
  TopologyTable t;
  std::memset(&t, 0, sizeof(t));
  for (auto [port, sw] : port_switch) {
    PortEntry& e = t.ports[t.nb_ports++];
    e.dpdk_port_id = port;
    e.switch_index = sw;
    e.nb_rx_queues = 1;
  }
  return t;
}

TEST(Topology, UnpublishedSnapshotReturnsZero) {
  auto shared = std::make_unique<SharedTopology>();
  topology_init(*shared);
  auto out = std::make_unique<TopologyTable>();
  EXPECT_EQ(topology_snapshot(*shared, *out), 0u);
}

TEST(Topology, PublishThenSnapshotCopiesTheTable) {
  auto shared = std::make_unique<SharedTopology>();
  topology_init(*shared);
  TopologyTable t = make_table({{3, 0}, {5, 0}, {7, 1}});
  t.nb_workers = 2;
  topology_publish(*shared, t);
  auto out = std::make_unique<TopologyTable>();
  EXPECT_EQ(topology_snapshot(*shared, *out), 2u);
  EXPECT_EQ(out->nb_ports, 3);
  EXPECT_EQ(out->nb_workers, 2);
  EXPECT_EQ(out->ports[2].dpdk_port_id, 7);
  topology_publish(*shared, t);
  EXPECT_EQ(topology_snapshot(*shared, *out), 4u);
}

TEST(Topology, SnapshotGivesUpWhileWriterIsMidUpdate) {
  auto shared = std::make_unique<SharedTopology>();
  topology_init(*shared);
  shared->generation.store(3);  // odd: a writer died or is writing
  auto out = std::make_unique<TopologyTable>();
  EXPECT_EQ(topology_snapshot(*shared, *out, 10), 0u);
}

// A reader racing a writer never keeps a torn copy: every snapshot it keeps has the same value
// in every port entry (the writer writes one value everywhere per generation).
TEST(Topology, ConcurrentReaderNeverSeesATornTable) {
  auto shared = std::make_unique<SharedTopology>();
  topology_init(*shared);
  std::atomic<bool> done{false};
  std::thread writer([&] {
    auto t = std::make_unique<TopologyTable>();
    for (uint16_t v = 1; v < 3000; ++v) {
      std::memset(t.get(), 0, sizeof(*t));
      t->nb_ports = kMaxPorts;
      for (auto& p : t->ports) p.dpdk_port_id = v;
      topology_publish(*shared, *t);
      // Pause now and then so the reader also gets quiet windows to keep a copy.
      if (v % 8 == 0) std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
    done = true;
  });
  auto out = std::make_unique<TopologyTable>();
  int kept = 0;
  while (!done) {
    if (topology_snapshot(*shared, *out) == 0) continue;
    ++kept;
    for (const auto& p : out->ports) ASSERT_EQ(p.dpdk_port_id, out->ports[0].dpdk_port_id);
  }
  writer.join();
  EXPECT_EQ(topology_snapshot(*shared, *out), 2u * 2999u);
  EXPECT_EQ(out->ports[kMaxPorts - 1].dpdk_port_id, 2999);
  EXPECT_GT(kept, 0);
}

TEST(Flood, GroupsPortsBySwitch) {
  TopologyTable t = make_table({{0, 0}, {1, 1}, {2, 0}, {3, 1}, {4, 1}});
  std::array<SwitchPorts, 4> sw;
  EXPECT_EQ(group_ports_by_switch(t, sw), 2u);
  EXPECT_EQ(sw[0].count, 2);
  EXPECT_EQ(sw[0].port_ids[1], 2);
  EXPECT_EQ(sw[1].count, 3);
  EXPECT_EQ(sw[2].count, 0);
}

TEST(Flood, SwitchIndexOutOfRangeIsIgnored) {
  TopologyTable t = make_table({{0, 0}, {1, 9}});
  std::array<SwitchPorts, 2> sw;
  EXPECT_EQ(group_ports_by_switch(t, sw), 1u);
  EXPECT_EQ(sw[0].count, 1);
}

TEST(Flood, FloodsToEveryPortButTheIngress) {
  TopologyTable t = make_table({{4, 0}, {6, 0}, {9, 0}});
  std::array<SwitchPorts, 1> sw;
  group_ports_by_switch(t, sw);
  std::array<uint16_t, kMaxPorts> out;
  ASSERT_EQ(flood_targets(sw[0], 6, out), 2u);
  EXPECT_EQ(out[0], 4);
  EXPECT_EQ(out[1], 9);
  ASSERT_EQ(flood_targets(sw[0], 30, out), 3u);  // from a port not in the switch: all of them
}

TEST(Flood, SinglePortSwitchHasNoDestination) {
  TopologyTable t = make_table({{2, 0}});
  std::array<SwitchPorts, 1> sw;
  group_ports_by_switch(t, sw);
  std::array<uint16_t, 4> out;
  EXPECT_EQ(flood_targets(sw[0], 2, out), 0u);
}

TEST(Flood, OutputSpanBoundsTheTargets) {
  TopologyTable t = make_table({{0, 0}, {1, 0}, {2, 0}, {3, 0}});
  std::array<SwitchPorts, 1> sw;
  group_ports_by_switch(t, sw);
  std::array<uint16_t, 2> out;
  EXPECT_EQ(flood_targets(sw[0], 0, out), 2u);
}

TEST(Counters, DropReasonsHaveDistinctLabels) {
  EXPECT_EQ(drop_reason_name(DropReason::kRunt), "runt");
  EXPECT_EQ(drop_reason_name(DropReason::kNoDestination), "no_destination");
  EXPECT_EQ(drop_reason_name(DropReason::kTxFull), "tx_full");
}

// One writer, one reader: the reader sees a monotonic sequence ending at the exact total.
TEST(Counters, SingleWriterCounterIsMonotonicForAReader) {
  Counter c;
  constexpr uint64_t kAdds = 200000;
  std::thread writer([&] {
    for (uint64_t i = 0; i < kAdds; ++i) c.add(3);
  });
  uint64_t last = 0;
  while (last < 3 * kAdds) {
    uint64_t now = c.get();
    ASSERT_GE(now, last);
    last = now;
  }
  writer.join();
  EXPECT_EQ(c.get(), 3 * kAdds);
}

TEST(Counters, BlockLayoutIsFixed) {
  // The block is shared by separately built binaries: its size is part of the layout version.
  EXPECT_EQ(sizeof(Counter), 8u);
  EXPECT_EQ(sizeof(PortCounters), 8u * (4 + kDropReasonCount));
  EXPECT_EQ(offsetof(WorkerCounterBlock, ports) % 8, 0u);
}

}  // namespace
}  // namespace vs
