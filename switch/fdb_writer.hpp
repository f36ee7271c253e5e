// The FDB's single writer: applies learn events under the configured bounds, installs static
// entries and ages entries out. Runs in the primary only (the FDB service). No DPDK, so unit tests
// drive it with a fake clock.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <vector>

#include "shm/fdb.hpp"
#include "shm/learn.hpp"
#include "shm/limits.hpp"

namespace vs {

inline constexpr uint16_t kFdbNoPort = 0xffff;

struct FdbLimits {
  uint32_t max_entries = 8192;  // per switch
  uint32_t max_per_port = 0;    // learned entries per port; 0 = no limit
  uint32_t aging_s = 300;
};

// Read by the metrics thread while the writer runs: relaxed atomics.
struct FdbSwitchStats {
  std::atomic<uint64_t> entries{0};
  std::atomic<uint64_t> learned{0};
  std::atomic<uint64_t> moved{0};
  std::atomic<uint64_t> aged{0};
  std::atomic<uint64_t> overflow{0};         // not learned: switch bound or table full
  std::atomic<uint64_t> port_limit{0};       // not learned: per-port limit reached
  std::atomic<uint64_t> static_conflict{0};  // learn events for a static MAC on another port
};

class FdbWriter {
 public:
  FdbWriter(FdbTable& table, std::vector<FdbLimits> per_switch);

  // Static entries are never aged and never moved by learning. False if it could not be stored.
  bool add_static(uint16_t switch_index, uint64_t key, uint16_t port_id, uint32_t now_s);
  void apply(const LearnEvent& ev, uint32_t now_s);
  // Removes learned entries not refreshed for their switch's aging time.
  void age(uint32_t now_s);
  // EVPN (the FDB service's feed): a remote MAC behind tunnel port `port_id` at VTEP slot `vtep`
  // (slot + 1). It replaces a learned or remote entry, never a static one; it is never aged nor
  // flushed with the learned entries, and a local learn replaces it (a VM moved here). False if
  // it could not be stored (counted: overflow, static_conflict).
  bool install_remote(uint16_t sw, uint64_t key, uint16_t port_id, uint16_t vtep, uint32_t now_s);
  // Removes the remote entry of `key` if it is still a remote entry behind `port_id`.
  bool remove_remote(uint16_t sw, uint64_t key, uint16_t port_id);
  // Called for every entry that appears, moves (port_id: its port now) or goes (kFdbNoPort), by
  // learning, ageing, flushes and the remote entries; not for the static ones. The EVPN feed
  // pushes local MACs to zebra from it.
  using Observer = std::function<void(uint16_t sw, uint64_t key, uint16_t port_id)>;
  void set_observer(Observer fn) { observer_ = std::move(fn); }

  // Removes every learned and remote entry of a port (port removed or link down, an EVPN port
  // detached); the static ones stay.
  void flush_port(uint16_t port_id);
  // Removes the learned entries that match every given filter (a negative filter matches all);
  // returns how many. Static entries stay: they belong to the configuration.
  std::size_t flush_learned(int switch_index, int port_id, int vlan);

  const FdbSwitchStats& stats(uint16_t switch_index) const { return stats_.at(switch_index); }
  std::size_t switch_count() const { return limits_.size(); }
  uint32_t port_entries(uint16_t port_id) const { return port_entries_[port_id]; }

 private:
  static constexpr int kPortSlots = 1024;
  // An entry is gone: the counts, and the observer told.
  void forget(const FdbSlot& slot);
  void forget(uint16_t sw, uint64_t key, uint16_t flags, uint16_t port_id);
  void changed(uint16_t sw, uint64_t key, uint16_t port_id);

  FdbTable& table_;
  std::vector<FdbLimits> limits_;
  std::vector<FdbSwitchStats> stats_;
  uint32_t port_entries_[kPortSlots] = {};  // learned and remote (not static) entries per port id
  Observer observer_;
};

}  // namespace vs
