#include "switch/fdb_writer.hpp"

namespace vs {
namespace {

void bump(std::atomic<uint64_t>& c, int64_t n = 1) {
  c.store(c.load(std::memory_order_relaxed) + static_cast<uint64_t>(n), std::memory_order_relaxed);
}

}  // namespace

FdbWriter::FdbWriter(FdbTable& table, std::vector<FdbLimits> per_switch)
    : table_(table), limits_(std::move(per_switch)), stats_(limits_.size()) {}

bool FdbWriter::add_static(uint16_t sw, uint64_t key, uint16_t port_id, uint32_t now_s) {
  if (sw >= limits_.size()) return false;
  uint16_t old_port = 0;
  FdbWrite r = fdb_learn(table_, sw, key, port_id, now_s, kFdbStatic, &old_port);
  if (r == FdbWrite::kTableFull) return false;
  if (r == FdbWrite::kInserted) bump(stats_[sw].entries);
  return true;
}

void FdbWriter::apply(const LearnEvent& ev, uint32_t now_s) {
  if (ev.switch_index >= limits_.size() || ev.port_id >= kPortSlots) return;  // corrupt event
  const FdbLimits& lim = limits_[ev.switch_index];
  FdbSwitchStats& st = stats_[ev.switch_index];
  FdbHit hit;
  bool present = fdb_lookup(table_, ev.switch_index, ev.key, hit);
  if (!present) {
    if (st.entries.load(std::memory_order_relaxed) >= lim.max_entries) {
      bump(st.overflow);
      return;
    }
    if (lim.max_per_port && port_entries_[ev.port_id] >= lim.max_per_port) {
      bump(st.port_limit);
      return;
    }
  } else if (hit.port_id != ev.port_id && !(hit.flags & kFdbStatic) && lim.max_per_port &&
             port_entries_[ev.port_id] >= lim.max_per_port) {
    bump(st.port_limit);
    return;
  }
  uint16_t old_port = 0;
  switch (fdb_learn(table_, ev.switch_index, ev.key, ev.port_id, now_s, 0, &old_port, ev.vtep)) {
    case FdbWrite::kInserted:
      bump(st.entries);
      bump(st.learned);
      ++port_entries_[ev.port_id];
      changed(ev.switch_index, ev.key, ev.port_id);
      break;
    case FdbWrite::kMoved:
      bump(st.moved);
      if (old_port < kPortSlots && port_entries_[old_port]) --port_entries_[old_port];
      ++port_entries_[ev.port_id];
      changed(ev.switch_index, ev.key, ev.port_id);
      break;
    case FdbWrite::kTableFull:
      bump(st.overflow);
      break;
    case FdbWrite::kStaticKept:
      if (old_port != ev.port_id) bump(st.static_conflict);
      break;
    case FdbWrite::kRefreshed:
      break;
  }
}

void FdbWriter::forget(const FdbSlot& slot) {
  forget(slot.switch_index, slot.key, slot.flags, slot.port_id);
}

void FdbWriter::forget(uint16_t sw, uint64_t key, uint16_t flags, uint16_t port_id) {
  if (sw < stats_.size()) bump(stats_[sw].entries, -1);
  if (!(flags & kFdbStatic) && port_id < kPortSlots && port_entries_[port_id])
    --port_entries_[port_id];
  changed(sw, key, kFdbNoPort);
}

void FdbWriter::changed(uint16_t sw, uint64_t key, uint16_t port_id) {
  if (observer_) observer_(sw, key, port_id);
}

bool FdbWriter::install_remote(uint16_t sw, uint64_t key, uint16_t port_id, uint16_t vtep,
                               uint32_t now_s) {
  if (sw >= limits_.size() || port_id >= kPortSlots) return false;
  FdbSwitchStats& st = stats_[sw];
  FdbHit hit;
  if (!fdb_lookup(table_, sw, key, hit) &&
      st.entries.load(std::memory_order_relaxed) >= limits_[sw].max_entries) {
    bump(st.overflow);
    return false;
  }
  uint16_t old_port = 0;
  switch (fdb_learn(table_, sw, key, port_id, now_s, kFdbRemote, &old_port, vtep)) {
    case FdbWrite::kInserted:
      bump(st.entries);
      ++port_entries_[port_id];
      changed(sw, key, port_id);
      return true;
    case FdbWrite::kMoved:
      if (old_port < kPortSlots && port_entries_[old_port]) --port_entries_[old_port];
      ++port_entries_[port_id];
      changed(sw, key, port_id);
      return true;
    case FdbWrite::kRefreshed:
      return true;
    case FdbWrite::kTableFull:
      bump(st.overflow);
      return false;
    case FdbWrite::kStaticKept:
      bump(st.static_conflict);
      return false;
  }
  return false;
}

bool FdbWriter::remove_remote(uint16_t sw, uint64_t key, uint16_t port_id) {
  FdbHit hit;
  if (!fdb_lookup(table_, sw, key, hit) || !(hit.flags & kFdbRemote) || hit.port_id != port_id)
    return false;               // gone, or a local learn took it since (a VM moved here)
  fdb_remove(table_, sw, key);  // its two buckets, not a sweep of the whole table
  forget(sw, key, hit.flags, hit.port_id);
  return true;
}

void FdbWriter::age(uint32_t now_s) {
  fdb_sweep(table_, [&](const FdbSlot& s) {
    if (s.flags & (kFdbStatic | kFdbRemote)) return false;
    uint32_t aging = s.switch_index < limits_.size() ? limits_[s.switch_index].aging_s : 300;
    if (now_s - s.refreshed_s < aging) return false;
    forget(s);
    if (s.switch_index < stats_.size()) bump(stats_[s.switch_index].aged);
    return true;
  });
}

void FdbWriter::flush_port(uint16_t port_id) {
  fdb_sweep(table_, [&](const FdbSlot& s) {
    if ((s.flags & kFdbStatic) || s.port_id != port_id) return false;
    forget(s);
    return true;
  });
}

std::size_t FdbWriter::flush_learned(int switch_index, int port_id, int vlan) {
  std::size_t n = 0;
  fdb_sweep(table_, [&](const FdbSlot& s) {
    if (s.flags & (kFdbStatic | kFdbRemote)) return false;
    if (switch_index >= 0 && s.switch_index != switch_index) return false;
    if (port_id >= 0 && s.port_id != port_id) return false;
    if (vlan >= 0 && fdb_key_vlan(s.key) != vlan) return false;
    forget(s);
    ++n;
    return true;
  });
  return n;
}

}  // namespace vs
