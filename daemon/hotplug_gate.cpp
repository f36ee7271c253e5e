#include "daemon/hotplug_gate.hpp"

namespace vs {

HotplugGate& HotplugGate::instance() {
  // Never destroyed: a supervisor thread that waits for a worker's attach may outlive main.
  static HotplugGate* gate = new HotplugGate;
  return *gate;
}

HotplugGate::Change::Change(HotplugGate& gate, std::chrono::milliseconds wait) : gate_(gate) {
  std::unique_lock lock(gate_.mu_);
  ++gate_.changes_waiting_;
  waited_enough_ = gate_.cv_.wait_for(lock, wait, [this] { return gate_.attaching_ == 0; });
  --gate_.changes_waiting_;
  ++gate_.changes_;
}

HotplugGate::Change::~Change() {
  {
    std::lock_guard lock(gate_.mu_);
    --gate_.changes_;
  }
  gate_.cv_.notify_all();
}

bool HotplugGate::begin_attach(std::chrono::milliseconds wait) {
  std::unique_lock lock(mu_);
  const bool ok =
      cv_.wait_for(lock, wait, [this] { return changes_ == 0 && changes_waiting_ == 0; });
  ++attaching_;
  return ok;
}

void HotplugGate::end_attach() {
  {
    std::lock_guard lock(mu_);
    if (attaching_ > 0) --attaching_;
  }
  cv_.notify_all();
}

bool HotplugGate::change_in_progress() const {
  std::lock_guard lock(mu_);
  return changes_ > 0 || changes_waiting_ > 0;
}

int HotplugGate::attaching() const {
  std::lock_guard lock(mu_);
  return attaching_;
}

}  // namespace vs
