// StaleLockWatch on a memory-config head in plain memory, with DPDK's own lock functions taking
// and releasing the locks as the processes would.
#include <gtest/gtest.h>
#include <rte_rwlock.h>
#include <rte_spinlock.h>

#include "daemon/dpdk_locks.hpp"

namespace vs {
namespace {

using namespace std::chrono_literals;
using clock = StaleLockWatch::clock;
constexpr int kMemzone = 0, kTailq = 1, kTimer = 3, kHotplug = 4;

struct WatchTest : ::testing::Test {
  EalMemConfigHead head{};
  StaleLockWatch watch{5s};
  clock::time_point t0 = clock::now();
  void SetUp() override { watch.attach(&head); }
};

TEST_F(WatchTest, AReaderLeftForFiveSecondsIsReleasedAndAWriterGetsTheLock) {
  rte_rwlock_read_lock(&head.memory_hotplug_lock);  // the dead worker's hold
  EXPECT_TRUE(watch.poll(t0).empty());
  EXPECT_TRUE(watch.poll(t0 + 4900ms).empty());
  auto lines = watch.poll(t0 + 5s);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0],
            "DPDK's memory_hotplug lock was left held (1 reader(s)) by a process that died "
            "holding it: released");
  EXPECT_EQ(head.memory_hotplug_lock.cnt, 0);
  EXPECT_EQ(watch.released(kHotplug), 1u);
  EXPECT_EQ(rte_rwlock_write_trylock(&head.memory_hotplug_lock), 0);
}

TEST_F(WatchTest, AWriterLeftHeldIsReleasedAndReadersGetIn) {
  rte_rwlock_write_lock(&head.qlock);
  watch.poll(t0);
  ASSERT_EQ(watch.poll(t0 + 6s).size(), 1u);
  EXPECT_EQ(rte_rwlock_read_trylock(&head.qlock), 0);
  EXPECT_EQ(head.qlock.cnt, RTE_RWLOCK_READ);
  EXPECT_EQ(watch.released(kTailq), 1u);
}

TEST_F(WatchTest, AHoldThatChangesIsNeverStale) {
  rte_rwlock_read_lock(&head.mlock);
  watch.poll(t0);
  rte_rwlock_read_lock(&head.mlock);  // a live reader comes: the clock restarts
  watch.poll(t0 + 3s);
  EXPECT_TRUE(watch.poll(t0 + 7s).empty());
  rte_rwlock_read_unlock(&head.mlock);  // ... and goes
  watch.poll(t0 + 8s);
  EXPECT_TRUE(watch.poll(t0 + 12s).empty());
  EXPECT_EQ(watch.poll(t0 + 13s).size(), 1u);
  EXPECT_EQ(head.mlock.cnt, 0);
}

TEST_F(WatchTest, TwoStaleReadersAreTakenBackAndALaterReaderBalances) {
  rte_rwlock_read_lock(&head.mlock);  // stale
  rte_rwlock_read_lock(&head.mlock);  // stale
  watch.poll(t0);
  // The release subtracts the two holds it saw rather than storing 0, so a reader that got in
  // between the look and the release would keep its hold (not reproducible on one thread).
  ASSERT_EQ(watch.poll(t0 + 5s).size(), 1u);
  rte_rwlock_read_lock(&head.mlock);
  rte_rwlock_read_unlock(&head.mlock);
  EXPECT_EQ(head.mlock.cnt, 0);
  EXPECT_EQ(watch.released(kMemzone), 1u);
}

TEST_F(WatchTest, AWaitingWritersMarkLeftByADeadWriterIsCleared) {
  head.mlock.cnt = RTE_RWLOCK_WAIT | 2 * RTE_RWLOCK_READ;  // a writer died waiting for readers
  watch.poll(t0);
  auto lines = watch.poll(t0 + 5s);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("2 reader(s), a waiting writer's mark"), std::string::npos);
  EXPECT_EQ(head.mlock.cnt, 0);
}

TEST_F(WatchTest, TheTimerSpinlockLeftLockedIsUnlocked) {
  rte_spinlock_lock(&head.tlock);
  watch.poll(t0);
  ASSERT_EQ(watch.poll(t0 + 5s).size(), 1u);
  EXPECT_EQ(rte_spinlock_trylock(&head.tlock), 1);
  EXPECT_EQ(watch.released(kTimer), 1u);
}

TEST_F(WatchTest, ReleaseAllTakesEveryHoldAtOnce) {
  rte_rwlock_read_lock(&head.memory_hotplug_lock);
  rte_rwlock_write_lock(&head.mplock);
  EXPECT_EQ(watch.release_all().size(), 2u);
  EXPECT_EQ(head.memory_hotplug_lock.cnt, 0);
  EXPECT_EQ(head.mplock.cnt, 0);
  EXPECT_TRUE(watch.release_all().empty());
}

TEST_F(WatchTest, NothingHeldNothingReleased) {
  for (auto t = 0s; t < 20s; t += 1s) EXPECT_TRUE(watch.poll(t0 + t).empty());
  for (int l = 0; l < StaleLockWatch::kLocks; ++l) EXPECT_EQ(watch.released(l), 0u);
}

TEST(StaleLockWatchOpen, AMissingConfigIsAClearError) {
  StaleLockWatch w;
  std::string err = w.open("vs-no-such-prefix");
  EXPECT_EQ(err,
            "no mapping of /var/run/dpdk/vs-no-such-prefix/config in this process (is the EAL "
            "initialised?)");
  EXPECT_TRUE(w.poll(clock::now()).empty());
}

}  // namespace
}  // namespace vs
