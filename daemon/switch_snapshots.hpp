// Snapshots of the switches' ports, asked of their switch actors by message with a deadline: a
// scrape and `show ports|queues|switches|fdb` never take a port list's lock across a driver call
// and never wait longer than the deadline. A switch actor that does not answer in time (busy in a
// port probe, say) is shown by its last snapshot, marked stale, with its age.
//
// Threads: fetch() runs on any thread outside the actor system (the exporter's); fetch_async()
// in an event-based actor (the control socket's). The cache of last snapshots is the only shared
// state, under a mutex held for copies only.
#pragma once
#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <vector>

#include "actors/messages.hpp"

namespace vs {

// A switch actor in a port change (its busy flag set) is asked with this deadline instead: it
// will not answer before the change ends, which can take seconds.
inline constexpr auto kBusySwitchWait = std::chrono::milliseconds(20);

class SwitchSnapshots {
 public:
  // `busy`: each switch's flag (SwitchRefs::busy), or null.
  SwitchSnapshots(caf::actor_system& sys, std::vector<switch_actor> switches,
                  std::vector<std::string> names, std::vector<const std::atomic<bool>*> busy = {});

  // Blocks up to `deadline`.
  std::vector<SwitchSnapshot> fetch(std::chrono::milliseconds deadline);
  // Calls `done` (in `self`'s context) once every switch answered or its deadline passed.
  void fetch_async(caf::event_based_actor* self, std::chrono::milliseconds deadline,
                   std::function<void(std::vector<SwitchSnapshot>)> done);

  // Times a switch's snapshot was shown stale, since start.
  uint64_t stale_total() const { return stale_.load(std::memory_order_relaxed); }

 private:
  void store(std::size_t i, SwitchSnapshot s);
  SwitchSnapshot stale_copy(std::size_t i);

  caf::actor_system& sys_;
  std::chrono::milliseconds wait_for(std::size_t i, std::chrono::milliseconds deadline) const;

  const std::vector<switch_actor> switches_;
  const std::vector<const std::atomic<bool>*> busy_;
  std::mutex mu_;
  std::vector<SwitchSnapshot> last_;  // by switch; taken == epoch: never answered
  std::atomic<uint64_t> stale_{0};
};

}  // namespace vs
