#include "actors/watchdog_actor.hpp"

#include <cstdio>

#include "daemon/systemd_notify.hpp"

namespace vs {
namespace {

using Self = watchdog_actor::stateful_pointer<WatchdogState>;
constexpr int kPinged = 2;  // the config actor and the supervisor

void answered(Self self, uint64_t round) {
  WatchdogState& st = self->state;
  if (round != st.round || ++st.answered < kPinged) return;
  st.refs->notify->send("WATCHDOG=1");
  if (st.complaining)
    std::printf("vswitchd: the control plane answers again; systemd's watchdog is pinged\n");
  st.complaining = false;
}

void unanswered(Self self, uint64_t round, const char* who, const caf::error& e) {
  WatchdogState& st = self->state;
  if (round != st.round || st.complaining) return;
  st.complaining = true;
  std::printf(
      "vswitchd: the %s did not answer the watchdog's ping within %lld ms (%s): systemd's "
      "watchdog is not pinged while the control plane does not answer\n",
      who, static_cast<long long>(st.refs->period.count() / 1000),
      error_reason(e, &self->system()).c_str());
  std::fflush(stdout);
}

}  // namespace

watchdog_actor::behavior_type watchdog_behavior(Self self, WatchdogRefs* refs) {
  self->state.refs = refs;
  self->send(self, tick_atom::value);
  return {
      [self](tick_atom) {
        WatchdogState& st = self->state;
        const uint64_t round = ++st.round;
        st.answered = 0;
        const auto timeout = st.refs->period;
        self->request(st.refs->config, timeout, ping_atom::value)
            .then(
                [self, round](bool) { answered(self, round); },
                [self, round](const caf::error& e) { unanswered(self, round, "config actor", e); });
        self->request(st.refs->supervisor, timeout, ping_atom::value)
            .then([self, round](bool) { answered(self, round); },
                  [self, round](const caf::error& e) { unanswered(self, round, "supervisor", e); });
        self->delayed_send(self, timeout, tick_atom::value);
      },
  };
}

}  // namespace vs
