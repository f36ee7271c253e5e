#include "daemon/eal.hpp"

#include <dirent.h>
#include <pthread.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <sched.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "shm/limits.hpp"

namespace vs {
namespace {

std::vector<std::string> common_args(const EalOptions& opts) {
  return {"--no-pci", "--file-prefix=" + opts.file_prefix, "--iova-mode=va", "--no-telemetry",
          "--log-level=" + opts.log_level};
}

// Hugepage mount points from /proc/mounts.
std::vector<std::string> hugetlbfs_mounts() {
  std::vector<std::string> out;
  FILE* f = std::fopen("/proc/mounts", "r");
  if (!f) return out;
  char dev[256], dir[512], type[64];
  while (std::fscanf(f, "%255s %511s %63s %*[^\n]", dev, dir, type) == 3) {
    if (std::strcmp(type, "hugetlbfs") == 0) out.emplace_back(dir);
  }
  std::fclose(f);
  return out;
}

}  // namespace

std::vector<std::string> primary_eal_args(const EalOptions& opts) {
  // A fixed base address for the shared memory, free in every process of ours (above the
  // sanitizers' shadow and below their allocator): the workers must map it at the same address,
  // and a kernel-chosen one can be taken in a worker (under ASan it often is).
  std::vector<std::string> args{"vswitchd", "--lcores=0@" + std::to_string(opts.main_core),
                                "--proc-type=primary", "--base-virtaddr=0x300000000000"};
  // Fixed memory, because a DPDK lock in shared memory must never be left held by a worker that
  // is killed (docs/control.md, "DPDK's own locks"). With dynamic memory, a secondary takes the
  // memory-hotplug lock to write whenever its rte_malloc grows the heap (and holds it through a
  // multi-process round trip), and every rte_free that empties a page takes it too; a worker
  // killed there, or killed holding it to read during its rte_eal_init, left vswitchd and every
  // later worker waiting forever (seen in a soak). In legacy mode the heap is all mapped at start
  // and never grows or shrinks, so after start no process ever takes that lock to write, and a
  // reader's count left by a killed worker blocks nobody.
  if (opts.memory_mb) {
    args.push_back("--legacy-mem");
    args.push_back("-m");
    args.push_back(std::to_string(opts.memory_mb));
  }
  auto common = common_args(opts);
  args.insert(args.end(), common.begin(), common.end());
  return args;
}

// scripts/setup.sh builds DPDK with max_lcores = 64: every worker lcore must fit.
static_assert(2 * kMaxWorkers + 1 < RTE_MAX_LCORE, "a worker's lcore id exceeds RTE_MAX_LCORE");

unsigned worker_lcore(int worker_id, bool alternate) {
  return static_cast<unsigned>(worker_id + 1 + (alternate ? kMaxWorkers : 0));
}

std::vector<std::string> worker_eal_args(const EalOptions& opts, unsigned lcore, int cpu) {
  std::vector<std::string> args{"vswitch-worker",
                                "--lcores=" + std::to_string(lcore) + "@" + std::to_string(cpu),
                                "--proc-type=secondary"};
  auto common = common_args(opts);
  args.insert(args.end(), common.begin(), common.end());
  return args;
}

std::string init_primary_eal(const std::vector<std::string>& args) {
  cpu_set_t saved;
  bool have_affinity = pthread_getaffinity_np(pthread_self(), sizeof(saved), &saved) == 0;
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  if (rte_eal_init(static_cast<int>(args.size()), argv.data()) < 0) {
    int err = rte_errno;
    std::string why = std::string("DPDK EAL initialisation failed: ") + rte_strerror(err);
    if (err == EALREADY)
      why +=
          ". Another vswitchd runs with this file_prefix: stop it or change [daemon] file_prefix.";
    if (err == ENOMEM || err == EACCES)
      why += ". Are hugepages reserved and mounted? Run scripts/setup.sh.";
    return why;
  }
  if (have_affinity) pthread_setaffinity_np(pthread_self(), sizeof(saved), &saved);
  return {};
}

void shutdown_primary_eal(const std::string& file_prefix) {
  rte_eal_cleanup();
  remove_eal_leftovers(file_prefix);
}

long free_hugepage_mb() {
  namespace fs = std::filesystem;
  std::error_code ec;
  long free_kb = -1;
  for (const auto& entry : fs::directory_iterator("/sys/kernel/mm/hugepages", ec)) {
    // hugepages-<size>kB/free_hugepages
    const std::string name = entry.path().filename().string();
    const long size_kb = std::strtol(name.c_str() + std::strlen("hugepages-"), nullptr, 10);
    FILE* f = std::fopen((entry.path() / "free_hugepages").c_str(), "r");
    if (!f) continue;
    long pages = 0;
    if (std::fscanf(f, "%ld", &pages) == 1) free_kb = std::max(free_kb, 0L) + pages * size_kb;
    std::fclose(f);
  }
  return free_kb < 0 ? -1 : free_kb / 1024;
}

void remove_eal_leftovers(const std::string& file_prefix) {
  namespace fs = std::filesystem;
  std::error_code ec;
  for (const std::string& dir : hugetlbfs_mounts()) {
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      std::string name = entry.path().filename().string();
      // EAL names them <prefix>map_<n> (and <prefix>map_<n>_<m> per segment list).
      if (name.rfind(file_prefix + "map_", 0) == 0) fs::remove(entry.path(), ec);
    }
  }
  fs::remove_all(fs::path("/var/run/dpdk") / file_prefix, ec);
}

}  // namespace vs
