// The remote VTEPs of the EVPN-fed tunnel ports (issue #26, docs/evpn.md): for each such port a
// table of slots, each holding one remote VTEP's address, and the flood list (the VTEPs of the
// VNI's type-3 routes) as a bit per slot. An FDB entry behind the port names its VTEP by slot
// (FdbSlot::vtep = slot + 1), so a VTEP keeps its slot while an FDB entry or the flood list names
// it: the flood list and the other VTEPs can change under the entries without moving them.
//
// A static tunnel port (vxlan.remotes) does not use this table: its remotes are in its
// TunnelEntry, slot i = remotes[i].
//
// Writer: the primary's FDB service only (its EVPN feed, the FDB's one writer). Readers: the
// workers, lock-free: a set is guarded by its own sequence number, odd while the writer changes
// it; a reader copies it and keeps the copy only if the number was even and unchanged around the
// copy. A worker re-reads a set when its number moved, at the start of a burst of the port.
#pragma once
#include <atomic>
#include <cstdint>

#include "shm/limits.hpp"

namespace vs {

inline constexpr const char* kVtepZone = "vs_vteps";
inline constexpr uint32_t kVtepMagic = 0x76737674;  // "vsvt"

struct VtepSet {
  std::atomic<uint32_t> seq;               // odd while the writer changes the set
  std::atomic<uint32_t> flood;             // bit i: addrs[i] is in the flood list
  std::atomic<uint32_t> addrs[kMaxVteps];  // IPv4, network byte order; 0 = a free slot
};
static_assert(kMaxVteps <= 32, "VtepSet::flood has a bit per slot");

struct VtepTable {
  uint32_t magic;  // vswitchd wo at creation
  uint32_t reserved;
  VtepSet sets[kMaxTunnelPorts];  // [port id - kFirstTunnelPortId]
};

inline VtepSet& vtep_set(VtepTable& t, uint16_t port_id) {
  return t.sets[port_id - kFirstTunnelPortId];
}
inline const VtepSet& vtep_set(const VtepTable& t, uint16_t port_id) {
  return t.sets[port_id - kFirstTunnelPortId];
}

inline void vtep_table_init(VtepTable& t) {
  t.magic = kVtepMagic;
  for (VtepSet& s : t.sets) {
    s.seq.store(0, std::memory_order_relaxed);
    s.flood.store(0, std::memory_order_relaxed);
    for (auto& a : s.addrs) a.store(0, std::memory_order_relaxed);
  }
}

// Writer side: replaces the set.
inline void vtep_set_write(VtepSet& s, const uint32_t (&addrs)[kMaxVteps], uint32_t flood) {
  const uint32_t seq = s.seq.load(std::memory_order_relaxed);
  s.seq.store(seq + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  for (int i = 0; i < kMaxVteps; ++i) s.addrs[i].store(addrs[i], std::memory_order_relaxed);
  s.flood.store(flood, std::memory_order_relaxed);
  s.seq.store(seq + 2, std::memory_order_release);
}

// Reader side: copies the set if it changed since `seen` (then updates `seen`). False if it did
// not change or the writer was mid-change (the copy is then left as it was: try again later).
inline bool vtep_set_read(const VtepSet& s, uint32_t& seen, uint32_t (&addrs)[kMaxVteps],
                          uint32_t& flood) {
  const uint32_t before = s.seq.load(std::memory_order_acquire);
  if (before == seen || (before & 1)) return false;
  uint32_t copy[kMaxVteps];
  for (int i = 0; i < kMaxVteps; ++i) copy[i] = s.addrs[i].load(std::memory_order_relaxed);
  const uint32_t f = s.flood.load(std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_acquire);
  if (s.seq.load(std::memory_order_relaxed) != before) return false;
  for (int i = 0; i < kMaxVteps; ++i) addrs[i] = copy[i];
  flood = f;
  seen = before;
  return true;
}

}  // namespace vs
