#include "daemon/switch_snapshots.hpp"

#include <algorithm>
#include <memory>

namespace vs {

SwitchSnapshots::SwitchSnapshots(caf::actor_system& sys, std::vector<switch_actor> switches,
                                 std::vector<std::string> names,
                                 std::vector<const std::atomic<bool>*> busy)
    : sys_(sys), switches_(std::move(switches)), busy_(std::move(busy)), last_(switches_.size()) {
  for (std::size_t i = 0; i < last_.size() && i < names.size(); ++i)
    last_[i].switch_name = names[i];
}

std::chrono::milliseconds SwitchSnapshots::wait_for(std::size_t i,
                                                    std::chrono::milliseconds deadline) const {
  const bool busy = i < busy_.size() && busy_[i] && busy_[i]->load(std::memory_order_relaxed);
  return busy ? std::min(deadline, kBusySwitchWait) : deadline;
}

void SwitchSnapshots::store(std::size_t i, SwitchSnapshot s) {
  std::lock_guard lock(mu_);
  last_[i] = std::move(s);
}

SwitchSnapshot SwitchSnapshots::stale_copy(std::size_t i) {
  stale_.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard lock(mu_);
  SwitchSnapshot s = last_[i];
  s.stale = true;
  return s;
}

std::vector<SwitchSnapshot> SwitchSnapshots::fetch(std::chrono::milliseconds deadline) {
  caf::scoped_actor self{sys_};
  // Every request goes out first, each with the same deadline: the wait is the deadline at most,
  // not one per switch.
  using handle = decltype(self->request(switches_[0], deadline, snapshot_atom::value));
  std::vector<std::unique_ptr<handle>> pending;
  for (std::size_t i = 0; i < switches_.size(); ++i)
    pending.push_back(std::make_unique<handle>(
        self->request(switches_[i], wait_for(i, deadline), snapshot_atom::value)));
  std::vector<SwitchSnapshot> out(switches_.size());
  for (std::size_t i = 0; i < pending.size(); ++i) {
    bool answered = false;
    pending[i]->receive(
        [&](SwitchSnapshot& s) {
          out[i] = s;
          answered = true;
        },
        [](const caf::error&) {});
    if (answered)
      store(i, out[i]);
    else
      out[i] = stale_copy(i);
  }
  return out;
}

void SwitchSnapshots::fetch_async(caf::event_based_actor* self, std::chrono::milliseconds deadline,
                                  std::function<void(std::vector<SwitchSnapshot>)> done) {
  struct Gather {
    std::vector<SwitchSnapshot> snaps;
    std::size_t left;
    std::function<void(std::vector<SwitchSnapshot>)> done;
  };
  auto g = std::make_shared<Gather>(
      Gather{std::vector<SwitchSnapshot>(switches_.size()), switches_.size(), std::move(done)});
  if (switches_.empty()) return g->done({});
  for (std::size_t i = 0; i < switches_.size(); ++i) {
    auto finish = [g] {
      if (--g->left == 0) g->done(std::move(g->snaps));
    };
    self->request(switches_[i], wait_for(i, deadline), snapshot_atom::value)
        .then(
            [this, g, i, finish](SwitchSnapshot& s) {
              store(i, s);
              g->snaps[i] = std::move(s);
              finish();
            },
            [this, g, i, finish](const caf::error&) {
              g->snaps[i] = stale_copy(i);
              finish();
            });
  }
}

}  // namespace vs
