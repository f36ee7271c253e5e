// DPDK's locks in shared memory that a killed worker can leave held, and their release.
//
// The EAL keeps a few locks in its shared memory config, outside our rule of "no lock shared
// between processes": the memzone, tailq and mempool locks, the timer lock and the memory-hotplug
// lock. Every process takes them in some DPDK calls (a worker's rte_eal_init holds the hotplug
// lock to read while it maps the hugepages, a memzone lookup holds the memzone lock to read). A
// worker SIGKILLed in such a window leaves the lock held for good, and the next writer (vswitchd
// freeing a memzone, or its rte_eal_cleanup at stop) spins forever; in 22.11 a waiting writer also
// stops every new reader, so the next worker hangs in its rte_eal_init.
//
// With --legacy-mem (daemon/eal.cpp) the hotplug lock has no writer after start but vswitchd's
// rte_eal_cleanup. This watch covers the rest: a lock that stays held, with the same holders, for
// longer than any DPDK call holds it (seconds; the calls that take these locks take microseconds
// to milliseconds in legacy mode) was left by a process that is gone, and the watch releases
// exactly those holds. A process that takes the lock meanwhile changes the word and restarts the
// clock, and its own release is not disturbed: the watch subtracts the stale holds, it never
// stores a value. At stop, once no worker is alive and vswitchd's other threads are done, every
// hold left is stale (release_all()).
//
// Not covered: the heaps' spinlocks (their offset depends on build-time array sizes that only
// DPDK's private headers give). A worker killed inside rte_malloc/rte_free, a window of
// microseconds at its start, still hangs the next allocation.
#pragma once
#include <rte_rwlock.h>
#include <rte_spinlock.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace prometheus {
class Collectable;
}

namespace vs {

// The first fields of DPDK 22.11's struct rte_mem_config (lib/eal/common/eal_memcfg.h), whose
// layout is fixed by public types. open() checks the magic and the version before using it.
struct EalMemConfigHead {
  volatile uint32_t magic;
  uint32_t version;
  uint32_t nchannel;
  uint32_t nrank;
  rte_rwlock_t mlock;    // memzones
  rte_rwlock_t qlock;    // tailqs (named rings, mempools)
  rte_rwlock_t mplock;   // mempools
  rte_spinlock_t tlock;  // timers
  rte_rwlock_t memory_hotplug_lock;
};

class StaleLockWatch {
 public:
  using clock = std::chrono::steady_clock;
  static constexpr int kLocks = 5;

  explicit StaleLockWatch(std::chrono::milliseconds stale_after = std::chrono::seconds(5))
      : stale_after_(stale_after) {}
  ~StaleLockWatch();
  StaleLockWatch(const StaleLockWatch&) = delete;
  StaleLockWatch& operator=(const StaleLockWatch&) = delete;

  // Finds this process's mapping of the EAL's shared config of `file_prefix`
  // (/var/run/dpdk/<prefix>/config), after rte_eal_init. Returns an empty string or why the watch
  // cannot run (then nothing is watched).
  std::string open(const std::string& file_prefix);
  // Watches `head` instead (for tests).
  void attach(EalMemConfigHead* head) { head_ = head; }

  // One look at every lock at time `now`: releases the holds that have not changed for
  // stale_after. Returns a line per release, for the log.
  std::vector<std::string> poll(clock::time_point now);
  // Releases every hold left. Only when no other process and no other thread uses DPDK.
  std::vector<std::string> release_all();

  // poll() every 100 ms on a thread of its own, logging each release to stderr.
  void start();
  void stop();

  uint64_t released(int lock) const { return released_[lock].load(std::memory_order_relaxed); }
  static const char* lock_name(int lock);
  // vswitch_dpdk_stale_lock_releases_total{lock}
  std::shared_ptr<prometheus::Collectable> collector() const;

 private:
  struct Seen {
    int32_t word = 0;
    clock::time_point since{};
  };
  int32_t* word(int lock) const;
  std::string release(int lock, int32_t word);

  EalMemConfigHead* head_ = nullptr;
  std::chrono::milliseconds stale_after_;
  Seen seen_[kLocks];
  std::atomic<uint64_t> released_[kLocks] = {};
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
};

}  // namespace vs
