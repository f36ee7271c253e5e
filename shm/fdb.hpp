// The forwarding database: (switch, VLAN, MAC) -> port, in shared memory, for every switch of the
// daemon. Lookups must be cheap on the workers' fast path and must never wait for anybody.
//
// Writer: the primary's FDB service only (learn events from the workers' rings, static entries,
// ageing).  Readers: the workers, lock-free.
// Layout: a power-of-two array of buckets of 8 slots; a key may live in one of two buckets
// (two-choice hashing), so a lookup reads at most 16 slots and an insert never moves an entry.
// Each slot is guarded by its own sequence number (odd while the writer changes it): a reader
// retries a slot it caught mid-change, so it never returns a key with another key's port. A miss
// only makes the worker flood the frame, never misdeliver it.
// Hashes are computed here, never through a function pointer in shared memory (ASLR would make it
// differ between the primary and the workers).
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace vs {

inline constexpr uint32_t kFdbSlotsPerBucket = 8;
inline constexpr uint32_t kFdbMagic = 0x76736664;  // "vsfd"

// MAC in the low 48 bits (network order folded big-endian: 02:00:00:00:00:01 -> 0x020000000001).
using MacAddr = uint64_t;

inline uint64_t fdb_key(MacAddr mac, uint16_t vlan) {
  return (mac << 16) | (vlan & 0xfff);
}
inline MacAddr fdb_key_mac(uint64_t key) {
  return key >> 16;
}
inline uint16_t fdb_key_vlan(uint64_t key) {
  return static_cast<uint16_t>(key & 0xfff);
}

// kFdbRemote: a remote MAC that BGP EVPN placed behind a tunnel port (the FDB service's EVPN
// feed): never aged nor flushed with the learned entries; a local learn replaces it.
enum FdbFlags : uint16_t { kFdbValid = 1, kFdbStatic = 2, kFdbRemote = 4 };

// FdbSlot: the FDB service wo, the workers ro (fdb_lookup). FdbTable's header: vswitchd wo at
// creation, everyone ro after.
struct FdbSlot {
  std::atomic<uint32_t> seq;  // odd while the writer updates the slot
  uint16_t flags;             // FdbFlags
  uint16_t switch_index;
  uint64_t key;          // fdb_key(mac, vlan)
  uint16_t port_id;      // DPDK port id
  uint16_t vtep;         // a tunnel port's remote VTEP: TunnelEntry::remotes index + 1; 0 = none
  uint32_t refreshed_s;  // monotonic seconds of the last learn/refresh (ageing)
};
static_assert(sizeof(FdbSlot) == 24);

struct FdbBucket {
  FdbSlot slots[kFdbSlotsPerBucket];
};

struct FdbTable {
  uint32_t magic;
  uint32_t bucket_mask;  // buckets - 1
  uint64_t reserved;
  FdbBucket buckets[];  // bucket_mask + 1 of them
};

// Bytes of a table with room for at least `entries` (buckets rounded up to a power of two, with
// slack so two-choice hashing rarely finds both buckets full).
std::size_t fdb_table_bytes(uint32_t entries);
void fdb_table_init(FdbTable& t, uint32_t entries);

struct FdbHit {
  uint16_t port_id;
  uint16_t flags;
  uint32_t refreshed_s;
  uint16_t vtep = 0;
};

// Reader side (workers). Returns true and fills `hit` when the key is present.
bool fdb_lookup(const FdbTable& t, uint16_t switch_index, uint64_t key, FdbHit& hit);

// Writer side (the FDB service only).
enum class FdbWrite {
  kInserted,   // a new entry
  kMoved,      // the key now points to another port or remote VTEP (station move)
  kRefreshed,  // same port, ageing timestamp renewed
  kTableFull,  // both candidate buckets are full
  kStaticKept  // a static entry is never replaced by learning
};
// kind: 0 (learned), kFdbStatic or kFdbRemote; only a static write replaces a static entry.
FdbWrite fdb_learn(FdbTable& t, uint16_t switch_index, uint64_t key, uint16_t port_id,
                   uint32_t now_s, uint16_t kind, uint16_t* old_port = nullptr, uint16_t vtep = 0);
bool fdb_remove(FdbTable& t, uint16_t switch_index, uint64_t key);

// Visits every valid slot; `fn(slot)` returns true to delete it. Returns the number deleted.
template <class Fn>
std::size_t fdb_sweep(FdbTable& t, Fn&& fn);

// Internal: writer-side slot update protocol, used by fdb_sweep.
void fdb_slot_clear(FdbSlot& s);

template <class Fn>
std::size_t fdb_sweep(FdbTable& t, Fn&& fn) {
  std::size_t removed = 0;
  for (uint32_t b = 0; b <= t.bucket_mask; ++b) {
    for (FdbSlot& s : t.buckets[b].slots) {
      if ((s.flags & kFdbValid) && fn(static_cast<const FdbSlot&>(s))) {
        fdb_slot_clear(s);
        ++removed;
      }
    }
  }
  return removed;
}

}  // namespace vs
