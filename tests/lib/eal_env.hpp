// GoogleTest fixtures for tests that run a DPDK primary in the test process.
//
// EalEnvironment starts the EAL once per test binary with the options every DPDK process of our
// tests must have (--no-pci, a unique --file-prefix, --iova-mode=va, --no-telemetry) and, at the
// end, even when tests failed, runs rte_eal_cleanup and removes the prefix's hugepage files and
// runtime directory. It also captures the DPDK log so tests can check error messages.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

struct rte_mempool;

namespace vstest {

class EalEnvironment : public ::testing::Environment {
 public:
  explicit EalEnvironment(std::vector<std::string> extra = {}) : extra_(std::move(extra)) {}
  void SetUp() override;
  void TearDown() override;

  static const std::string& prefix();
  static bool ready();

 private:
  std::vector<std::string> extra_;
};

// Everything DPDK logged since the last clear_log().
std::string log_text();
void clear_log();

// Removes /dev/hugepages/<prefix>map_* and /var/run/dpdk/<prefix>.
void remove_eal_files(const std::string& prefix);

// A pktmbuf pool with a unique name, no lcore cache, and the given mempool handler (DPDK's
// default, ring_mp_mc, when null).
rte_mempool* make_pool(unsigned n, uint16_t data_room = 2048 + 128, const char* ops = nullptr);

// Shell helpers (as root). run() returns the exit status; out() the captured stdout.
int run(const std::string& cmd);
std::string out(const std::string& cmd);

// Number of open fds of this process.
int count_fds();

// A short name unique to this process: base + pid (kept within IFNAMSIZ).
std::string unique_name(const std::string& base);

}  // namespace vstest

// Registers the environment: put VSTEST_EAL_MAIN(); in one file of each test binary.
#define VSTEST_EAL_MAIN(...)                                                  \
  int main(int argc, char** argv) {                                           \
    ::testing::InitGoogleTest(&argc, argv);                                   \
    ::testing::AddGlobalTestEnvironment(                                      \
        new ::vstest::EalEnvironment(std::vector<std::string>{__VA_ARGS__})); \
    return RUN_ALL_TESTS();                                                   \
  }
