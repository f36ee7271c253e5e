// A worker's rte_eal_init and the primary's device changes must not overlap.
//
// DPDK's hotplug sync keeps the secondaries' device lists equal to the primary's by broadcasting
// each attach and detach. A secondary that is still in rte_eal_init misses that guarantee: it
// copies the primary's vdev list and probes every device while the broadcast is out (or between
// a failed broadcast, its rollback and our retry), so it can end up holding a device the primary
// then removes, with the removed TAP's queue fds open for good (seen: a worker restarted during a
// `port del` whose first detach request timed out; fault/unplug_silent_worker.sh).
//
// So vswitchd takes turns: a device change (rte_dev_probe, rte_dev_remove, a close in the
// primary) waits until no worker is attaching, and a worker is started only when no change is in
// progress or waiting, and counts as attaching until its rte_eal_init has returned (the worker
// closes the pipe the supervisor gave it; its exit closes it too). Both waits are bounded, so a
// hung worker or a hung probe delays the other side, never stops it.
//
// Thread-safe; one process-wide instance. Neither side holds the gate's mutex while it works.
#pragma once
#include <chrono>
#include <condition_variable>
#include <mutex>

namespace vs {

class HotplugGate {
 public:
  static HotplugGate& instance();

  // A device change in the primary, from its constructor to its destructor.
  class Change {
   public:
    Change(HotplugGate& gate, std::chrono::milliseconds wait);
    ~Change();
    Change(const Change&) = delete;
    Change& operator=(const Change&) = delete;
    // False if workers were still attaching when the wait ran out (the change went ahead).
    bool waited_enough() const { return waited_enough_; }

   private:
    HotplugGate& gate_;
    bool waited_enough_;
  };

  // A worker about to start: waits until no change is in progress or waiting, at most `wait`,
  // then counts it as attaching. False if the wait ran out (it is counted all the same).
  bool begin_attach(std::chrono::milliseconds wait);
  void end_attach();

  bool change_in_progress() const;
  int attaching() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int changes_ = 0;          // in progress
  int changes_waiting_ = 0;  // waiting for attaching workers: new workers wait behind them
  int attaching_ = 0;
};

}  // namespace vs
