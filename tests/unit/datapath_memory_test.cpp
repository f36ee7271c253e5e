// DatapathMemory::reclaim_pool after a worker died inside a get or put of its mbuf pool: the ring
// of free mbufs is left with one end's head ahead of its tail (the state a SIGKILL between the two
// stores leaves), and the reclaim must neither spin on it nor leave it wedged for the next process.
#include <gtest/gtest.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include <chrono>
#include <cstdlib>
#include <future>
#include <vector>

#include "daemon/datapath_memory.hpp"
#include "eal_env.hpp"

namespace vs {
namespace {

constexpr unsigned kMbufs = 1023;

struct ReclaimTest : ::testing::Test {
  DatapathMemory mem;
  void SetUp() override { ASSERT_EQ(mem.create(1, kMbufs, 1024), ""); }
  void TearDown() override { mem.destroy(); }
  rte_ring* ring() { return static_cast<rte_ring*>(mem.pool(0)->pool_data); }

  // What the dead worker held: n mbufs taken and never given back.
  void hold(unsigned n) {
    for (unsigned i = 0; i < n; i++) ASSERT_NE(rte_pktmbuf_alloc(mem.pool(0)), nullptr);
  }
  // reclaim_pool on another thread, so a spin fails the test instead of hanging it.
  DatapathMemory::Reclaimed reclaim_within_5s() {
    auto done = std::async(std::launch::async, [this] { return mem.reclaim_pool(0); });
    if (done.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
      ADD_FAILURE() << "reclaim_pool spins on the half-moved ring";
      // The spinning thread cannot be stopped: leave now, without the EAL's files.
      vstest::remove_eal_files(vstest::EalEnvironment::prefix());
      std::_Exit(1);
    }
    return done.get();
  }
  // Every mbuf can be taken and given back again: the ring moves at both ends.
  void expect_whole_pool_usable() {
    std::vector<rte_mbuf*> all(kMbufs);
    ASSERT_EQ(rte_pktmbuf_alloc_bulk(mem.pool(0), all.data(), kMbufs), 0);
    EXPECT_EQ(rte_mempool_avail_count(mem.pool(0)), 0u);
    rte_pktmbuf_free_bulk(all.data(), kMbufs);
    EXPECT_EQ(rte_mempool_avail_count(mem.pool(0)), kMbufs);
    EXPECT_FALSE(ring_left_half_moved(ring()));
  }
};

TEST_F(ReclaimTest, MbufsADeadWorkerHeldComeBack) {
  hold(100);
  const auto r = reclaim_within_5s();
  EXPECT_EQ(r.mbufs, 100u);
  EXPECT_FALSE(r.ring_reset);
  expect_whole_pool_usable();
}

TEST_F(ReclaimTest, KilledInsideAGetTheRingIsResetNotDrained) {
  hold(10);
  ring()->cons.head =
      ring()->cons.head + 32;  // moved the head over 32 mbufs, then died before the tail
  ASSERT_TRUE(ring_left_half_moved(ring()));
  const auto r = reclaim_within_5s();
  EXPECT_EQ(r.mbufs, 10u);  // the 32 never left the ring's count: not "recovered"
  EXPECT_TRUE(r.ring_reset);
  EXPECT_EQ(rte_mempool_avail_count(mem.pool(0)), kMbufs);
  expect_whole_pool_usable();
}

TEST_F(ReclaimTest, KilledInsideAPutTheRingIsReset) {
  hold(50);
  ring()->prod.head =
      ring()->prod.head + 16;  // reserved 16 slots to free into, then died before the tail
  ASSERT_TRUE(ring_left_half_moved(ring()));
  const auto r = reclaim_within_5s();
  EXPECT_EQ(r.mbufs, 50u);
  EXPECT_TRUE(r.ring_reset);
  expect_whole_pool_usable();
}

}  // namespace
}  // namespace vs

VSTEST_EAL_MAIN();
