#include "daemon/dpdk_locks.hpp"

#include <rte_eal.h>
#include <rte_version.h>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace vs {

static_assert(offsetof(EalMemConfigHead, mlock) == 16 &&
                  offsetof(EalMemConfigHead, memory_hotplug_lock) == 32,
              "the head of struct rte_mem_config in DPDK 22.11");
static_assert(sizeof(rte_rwlock_t) == sizeof(int32_t) && sizeof(rte_spinlock_t) == sizeof(int32_t));

namespace {

constexpr int kTimerLock = 3;  // the one spinlock; the others are rwlocks
constexpr int32_t kWait = RTE_RWLOCK_WAIT, kWrite = RTE_RWLOCK_WRITE, kRead = RTE_RWLOCK_READ;

std::string describe(int32_t word, bool spinlock) {
  if (spinlock) return "locked";
  std::string s;
  if (word & kWrite) s += "a writer";
  if (word >= kRead)
    s += std::string(s.empty() ? "" : ", ") + std::to_string(word / kRead) + " reader(s)";
  if (word & kWait) s += std::string(s.empty() ? "" : ", ") + "a waiting writer's mark";
  return s;
}

class LockCollector : public prometheus::Collectable {
 public:
  explicit LockCollector(const StaleLockWatch& watch) : watch_(watch) {}
  std::vector<prometheus::MetricFamily> Collect() const override {
    prometheus::MetricFamily f{"vswitch_dpdk_stale_lock_releases_total",
                               "Holds of a DPDK lock in shared memory left by a process that "
                               "died holding it, and released by vswitchd.",
                               prometheus::MetricType::Counter,
                               {}};
    for (int l = 0; l < StaleLockWatch::kLocks; ++l) {
      prometheus::ClientMetric m;
      m.label.push_back({"lock", StaleLockWatch::lock_name(l)});
      m.counter.value = static_cast<double>(watch_.released(l));
      f.metric.push_back(std::move(m));
    }
    return {std::move(f)};
  }

 private:
  const StaleLockWatch& watch_;
};

}  // namespace

StaleLockWatch::~StaleLockWatch() {
  stop();
}

const char* StaleLockWatch::lock_name(int lock) {
  static const char* const names[kLocks] = {"memzone", "tailq", "mempool", "timer",
                                            "memory_hotplug"};
  return names[lock];
}

// The EAL's own mapping of its config, found in /proc/self/maps: opening the file instead, and
// closing it, would drop the primary's POSIX lock on it, by which secondaries (and a second
// primary) tell that vswitchd is alive.
std::string StaleLockWatch::open(const std::string& file_prefix) {
  const std::string path = "/var/run/dpdk/" + file_prefix + "/config";
  FILE* maps = std::fopen("/proc/self/maps", "r");
  if (!maps) return std::string("cannot read /proc/self/maps: ") + std::strerror(errno);
  // The kernel shows the resolved path: /run/dpdk/... where /var/run is a link to /run.
  const std::string tail = "/dpdk/" + file_prefix + "/config\n";
  char line[4096];
  uintptr_t start = 0;
  while (std::fgets(line, sizeof(line), maps)) {
    const std::size_t len = std::strlen(line);
    if (len < tail.size() || std::strcmp(line + len - tail.size(), tail.c_str()) != 0) continue;
    start = std::strtoull(line, nullptr, 16);
    break;
  }
  std::fclose(maps);
  if (!start) return "no mapping of " + path + " in this process (is the EAL initialised?)";
  auto* head = reinterpret_cast<EalMemConfigHead*>(start);
  if (head->magic != RTE_MAGIC || head->version != RTE_VERSION)
    return path + " is not the memory config of this DPDK version (" + rte_version() + ")";
  head_ = head;
  return {};
}

int32_t* StaleLockWatch::word(int lock) const {
  switch (lock) {
    case 0:
      return &head_->mlock.cnt;
    case 1:
      return &head_->qlock.cnt;
    case 2:
      return &head_->mplock.cnt;
    case kTimerLock:
      return const_cast<int32_t*>(&head_->tlock.locked);
    default:
      return &head_->memory_hotplug_lock.cnt;
  }
}

// Takes back exactly the holds in `stale`: a process that took the lock since keeps its own.
std::string StaleLockWatch::release(int lock, int32_t stale) {
  int32_t* w = word(lock);
  if (lock == kTimerLock) {
    __atomic_store_n(w, 0, __ATOMIC_RELEASE);
  } else {
    const int32_t readers = stale / kRead;
    if (readers) __atomic_fetch_sub(w, readers * kRead, __ATOMIC_RELEASE);
    if (stale & kWrite) __atomic_fetch_sub(w, kWrite, __ATOMIC_RELEASE);
    // A writer that died waiting leaves its mark, which stops every reader; a live waiting
    // writer sets it again.
    if (stale & kWait) __atomic_fetch_and(w, ~kWait, __ATOMIC_RELEASE);
  }
  released_[lock].fetch_add(1, std::memory_order_relaxed);
  return std::string("DPDK's ") + lock_name(lock) + " lock was left held (" +
         describe(stale, lock == kTimerLock) + ") by a process that died holding it: released";
}

std::vector<std::string> StaleLockWatch::poll(clock::time_point now) {
  std::vector<std::string> out;
  if (!head_) return out;
  for (int l = 0; l < kLocks; ++l) {
    const int32_t w = __atomic_load_n(word(l), __ATOMIC_ACQUIRE);
    Seen& s = seen_[l];
    if (w != s.word || w == 0) {
      s = {w, now};
      continue;
    }
    if (now - s.since < stale_after_) continue;
    // A negative word would be a count we cannot explain: leave it rather than make it worse.
    if (w < 0) continue;
    out.push_back(release(l, w));
    s = {0, now};
  }
  return out;
}

std::vector<std::string> StaleLockWatch::release_all() {
  std::vector<std::string> out;
  if (!head_) return out;
  for (int l = 0; l < kLocks; ++l) {
    const int32_t w = __atomic_load_n(word(l), __ATOMIC_ACQUIRE);
    if (w > 0) out.push_back(release(l, w));
    seen_[l] = {};
  }
  return out;
}

void StaleLockWatch::start() {
  if (!head_ || thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, std::chrono::milliseconds(100), [this] { return stopping_; })) {
      for (const std::string& line : poll(clock::now()))
        std::fprintf(stderr, "vswitchd: %s\n", line.c_str());
    }
  });
}

void StaleLockWatch::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::shared_ptr<prometheus::Collectable> StaleLockWatch::collector() const {
  return std::make_shared<LockCollector>(*this);
}

}  // namespace vs
