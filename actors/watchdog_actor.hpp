// The watchdog actor: systemd's WatchdogSec= for the control plane. Every period (half of
// $WATCHDOG_USEC) it asks the config actor (on the scheduler's threads) and the supervisor (on
// its own thread) for a ping, and sends WATCHDOG=1 only when both have answered within the
// period. So a wedged actor system, or a supervisor stuck in a call, stops the pings and systemd
// restarts vswitchd; the workers forward meanwhile, and the new vswitchd replaces them.
#pragma once
#include <chrono>
#include <cstdint>

#include "actors/messages.hpp"

namespace vs {

class SystemdNotify;

struct WatchdogRefs {
  const SystemdNotify* notify = nullptr;
  config_actor config;
  supervisor_actor supervisor;
  std::chrono::microseconds period{0};
};

struct WatchdogState {
  static inline const char* name = "watchdog";
  WatchdogRefs* refs = nullptr;
  uint64_t round = 0;        // the tick being answered
  int answered = 0;          // pings of this round answered so far
  bool complaining = false;  // a round went unanswered (logged once until one is answered)
};

watchdog_actor::behavior_type watchdog_behavior(
    watchdog_actor::stateful_pointer<WatchdogState> self, WatchdogRefs* refs);

}  // namespace vs
