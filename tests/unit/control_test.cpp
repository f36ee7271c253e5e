// Unit tests of the control plane's helpers that need no EAL: EAL argument lists and the
// helper-program runner.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>

#include "daemon/command.hpp"
#include "daemon/datapath_memory.hpp"
#include "daemon/eal.hpp"
#include "daemon/instance_lock.hpp"

namespace vs {
namespace {

bool has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

TEST(EalArgs, PrimaryNeverProbesPciAndUsesThePrefix) {
  auto a = primary_eal_args({"vst123", 1, "info"});
  EXPECT_TRUE(has(a, "--no-pci"));
  EXPECT_TRUE(has(a, "--file-prefix=vst123"));
  EXPECT_TRUE(has(a, "--proc-type=primary"));
  EXPECT_TRUE(has(a, "--lcores=0@1"));
  EXPECT_TRUE(has(a, "--log-level=info"));
}

TEST(EalArgs, PrimaryReservesItsMemoryAtStartAndWorkersFollowIt) {
  EalOptions o{"vs", 0, "notice"};
  o.memory_mb = 300;
  auto a = primary_eal_args(o);
  auto m = std::find(a.begin(), a.end(), "-m");
  ASSERT_NE(m, a.end());
  EXPECT_EQ(*(m + 1), "300");
  EXPECT_TRUE(has(a, "--legacy-mem"));
  // Secondaries take the memory mode from the primary's config; the option is refused there.
  EXPECT_FALSE(has(worker_eal_args(o, 1, 1), "--legacy-mem"));
  o.memory_mb = 0;
  EXPECT_FALSE(has(primary_eal_args(o), "--legacy-mem"));
}

TEST(HugepageMemory, CoversThePoolsTheFdbAndAMargin) {
  // 2 workers x 8191 mbufs of 2496 bytes (header, struct rte_mbuf, 2176 B buffer, padding),
  // and 511 large buffers of 63872 bytes (the same around a kLargeBufferRoom buffer).
  // Captures: 4 rings of 1 MB per worker, and vswitchd's 160 mbufs of 64 KB for pcapng.
  const std::size_t capture = capture_zone_size(2) + kCapturePoolMbufs * (64 + 128 + 65535 + 128);
  const unsigned pools_mb =
      static_cast<unsigned>((2u * 8191 * 2496 + 2u * 511 * 63872 + capture) >> 20);
  const unsigned mb = hugepage_memory_mb(2, 8191, 8192);
  EXPECT_GE(mb, pools_mb + 64);
  EXPECT_LE(mb, pools_mb + 64 + 16);
  // Linear in the pools: 1M mbufs more a worker is about 2.4 GB more (and 8 MB of ring).
  EXPECT_NEAR(hugepage_memory_mb(2, 1008191, 8192) - mb, 2.0 * 1000000 * 2496 / (1 << 20), 40);
  EXPECT_GT(hugepage_memory_mb(4, 8191, 8192), mb);
  EXPECT_GT(hugepage_memory_mb(2, 8191, 1u << 20), mb);
}

TEST(EalArgs, WorkersGetDistinctLcoresOnTheirCpu) {
  EalOptions o{"vs", 0, "notice"};
  auto w0 = worker_eal_args(o, worker_lcore(0, false), 1);
  auto w3 = worker_eal_args(o, worker_lcore(3, false), 1);
  auto w3_replacement = worker_eal_args(o, worker_lcore(3, true), 1);
  EXPECT_TRUE(has(w0, "--lcores=1@1"));
  EXPECT_TRUE(has(w3, "--lcores=4@1"));
  EXPECT_TRUE(has(w3_replacement, "--lcores=20@1"));
  EXPECT_TRUE(has(w0, "--proc-type=secondary"));
  EXPECT_TRUE(has(w0, "--no-pci"));
  EXPECT_TRUE(has(w3, "--file-prefix=vs"));
}

TEST(Command, CapturesOutputAndExitCode) {
  CommandResult r = run_command({"sh", "-c", "echo hello; echo oops >&2; exit 3"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.output, "hello\noops");
  EXPECT_FALSE(r.ok());
}

TEST(Command, MissingProgramIsReported) {
  CommandResult r = run_command({"/nonexistent/ip", "link"});
  EXPECT_EQ(r.exit_code, 127);
  EXPECT_NE(r.output.find("cannot execute /nonexistent/ip"), std::string::npos);
}

TEST(Command, JoinRendersTheCommandLine) {
  EXPECT_EQ(join_command({"ip", "netns", "add", "vm1"}), "ip netns add vm1");
  EXPECT_EQ(join_command({}), "");
}

// flock locks belong to an open file: a second open in the same process conflicts like another
// process would.
class InstanceLockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vs-instance-lock.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/vswitchd.pid";
  }
  void TearDown() override {
    unlink(path_.c_str());
    rmdir(dir_.c_str());
  }
  std::string dir_, path_;
};

TEST_F(InstanceLockTest, SecondHolderIsRefusedAndNamesTheFirst) {
  std::string err;
  pid_t holder = -1, stale = -1;
  auto first = InstanceLock::acquire(path_, err, holder, stale);
  ASSERT_TRUE(first) << err;
  EXPECT_EQ(stale, 0);
  EXPECT_EQ(read_lock_pid(path_), getpid());
  auto second = InstanceLock::acquire(path_, err, holder, stale);
  EXPECT_FALSE(second);
  EXPECT_EQ(holder, getpid());
  EXPECT_EQ(err, path_ + " is locked by vswitchd pid " + std::to_string(getpid()));
  first.reset();  // removes the file while it still holds the lock
  EXPECT_NE(access(path_.c_str(), F_OK), 0);
  auto third = InstanceLock::acquire(path_, err, holder, stale);
  EXPECT_TRUE(third) << err;
}

TEST_F(InstanceLockTest, AFileLeftByADeadProcessIsTakenOver) {
  std::ofstream(path_) << "999999\n";  // written, never locked: as a killed daemon leaves it
  std::string err;
  pid_t holder = -1, stale = -1;
  auto lock = InstanceLock::acquire(path_, err, holder, stale);
  ASSERT_TRUE(lock) << err;
  EXPECT_EQ(stale, 999999);
  EXPECT_EQ(holder, 0);
  EXPECT_EQ(read_lock_pid(path_), getpid());
}

TEST_F(InstanceLockTest, ALockHeldByAnotherOpenFileIsRespected) {
  std::ofstream(path_) << "4242\n";
  int fd = open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(flock(fd, LOCK_EX | LOCK_NB), 0);
  std::string err;
  pid_t holder = -1, stale = -1;
  EXPECT_FALSE(InstanceLock::acquire(path_, err, holder, stale));
  EXPECT_EQ(holder, 4242);
  EXPECT_EQ(read_lock_pid(path_), 4242);  // the holder's file is not touched
  close(fd);
}

}  // namespace
}  // namespace vs
