#include "shm/fdb.hpp"

#include <cstring>

namespace vs {
namespace {

uint64_t mix(uint64_t x) {  // a 64-bit finaliser (murmur3 fmix64)
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

struct Buckets {
  uint32_t first, second;
};

Buckets buckets_of(const FdbTable& t, uint16_t switch_index, uint64_t key) {
  uint64_t h = mix(key ^ (static_cast<uint64_t>(switch_index) << 60) ^ 0x9e3779b97f4a7c15ULL);
  uint32_t b1 = static_cast<uint32_t>(h) & t.bucket_mask;
  uint32_t b2 = static_cast<uint32_t>(h >> 32) & t.bucket_mask;
  if (b2 == b1) b2 = (b1 + 1) & t.bucket_mask;
  return {b1, b2};
}

// Writer protocol: make the sequence odd, change the slot, make it even again.
template <class Change>
void write_slot(FdbSlot& s, Change&& change) {
  uint32_t seq = s.seq.load(std::memory_order_relaxed);
  s.seq.store(seq + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  change(s);
  s.seq.store(seq + 2, std::memory_order_release);
}

// Reader protocol: a consistent copy of the slot, retrying while the writer is mid-change.
bool read_slot(const FdbSlot& s, FdbSlot& copy) {
  for (int attempt = 0; attempt < 64; ++attempt) {
    uint32_t before = s.seq.load(std::memory_order_acquire);
    if (before & 1) continue;
    copy.flags = s.flags;
    copy.switch_index = s.switch_index;
    copy.key = s.key;
    copy.port_id = s.port_id;
    copy.vtep = s.vtep;
    copy.refreshed_s = s.refreshed_s;
    std::atomic_thread_fence(std::memory_order_acquire);
    if (s.seq.load(std::memory_order_relaxed) == before) return true;
  }
  return false;  // a writer kept changing it: treat as a miss (the frame is flooded)
}

// The key's slot, or nullptr with *free_slot set to a free slot in the emptier of its two
// buckets (the "power of two choices" keeps both buckets' loads close, so tables fill evenly).
FdbSlot* find_slot(FdbTable& t, uint16_t switch_index, uint64_t key, FdbSlot** free_slot) {
  Buckets b = buckets_of(t, switch_index, key);
  FdbSlot* first_free[2] = {nullptr, nullptr};
  unsigned free_count[2] = {0, 0};
  int which = 0;
  for (uint32_t bi : {b.first, b.second}) {
    for (FdbSlot& s : t.buckets[bi].slots) {
      if (!(s.flags & kFdbValid)) {
        if (!first_free[which]) first_free[which] = &s;
        ++free_count[which];
        continue;
      }
      if (s.key == key && s.switch_index == switch_index) return &s;
    }
    ++which;
  }
  *free_slot = free_count[1] > free_count[0] ? first_free[1] : first_free[0];
  return nullptr;
}

}  // namespace

std::size_t fdb_table_bytes(uint32_t entries) {
  uint64_t want_buckets = (static_cast<uint64_t>(entries) * 3 / 2) / kFdbSlotsPerBucket + 1;
  uint64_t buckets = 2;
  while (buckets < want_buckets) buckets <<= 1;
  return sizeof(FdbTable) + buckets * sizeof(FdbBucket);
}

void fdb_table_init(FdbTable& t, uint32_t entries) {
  std::size_t bytes = fdb_table_bytes(entries);
  std::memset(static_cast<void*>(&t), 0, bytes);
  t.magic = kFdbMagic;
  t.bucket_mask = static_cast<uint32_t>((bytes - sizeof(FdbTable)) / sizeof(FdbBucket) - 1);
}

bool fdb_lookup(const FdbTable& t, uint16_t switch_index, uint64_t key, FdbHit& hit) {
  Buckets b = buckets_of(t, switch_index, key);
  for (uint32_t bi : {b.first, b.second}) {
    for (const FdbSlot& s : t.buckets[bi].slots) {
      if (s.key != key) continue;  // cheap pre-check; confirmed under the sequence below
      FdbSlot copy;
      if (!read_slot(s, copy)) continue;
      if ((copy.flags & kFdbValid) && copy.key == key && copy.switch_index == switch_index) {
        hit = {copy.port_id, copy.flags, copy.refreshed_s, copy.vtep};
        return true;
      }
    }
  }
  return false;
}

FdbWrite fdb_learn(FdbTable& t, uint16_t switch_index, uint64_t key, uint16_t port_id,
                   uint32_t now_s, uint16_t kind, uint16_t* old_port, uint16_t vtep) {
  const bool is_static = kind & kFdbStatic;
  const uint16_t flags = static_cast<uint16_t>(kFdbValid | (kind & (kFdbStatic | kFdbRemote)));
  FdbSlot* free_slot = nullptr;
  if (FdbSlot* s = find_slot(t, switch_index, key, &free_slot)) {
    if (old_port) *old_port = s->port_id;
    if ((s->flags & kFdbStatic) && !is_static) return FdbWrite::kStaticKept;
    const bool moved = s->port_id != port_id || s->vtep != vtep;
    if (!moved && s->refreshed_s == now_s && s->flags == flags) return FdbWrite::kRefreshed;
    write_slot(*s, [&](FdbSlot& w) {
      w.port_id = port_id;
      w.vtep = vtep;
      w.refreshed_s = now_s;
      w.flags = flags;
    });
    return moved ? FdbWrite::kMoved : FdbWrite::kRefreshed;
  }
  if (!free_slot) return FdbWrite::kTableFull;
  write_slot(*free_slot, [&](FdbSlot& w) {
    w.key = key;
    w.switch_index = switch_index;
    w.port_id = port_id;
    w.vtep = vtep;
    w.refreshed_s = now_s;
    w.flags = flags;
  });
  return FdbWrite::kInserted;
}

void fdb_slot_clear(FdbSlot& s) {
  write_slot(s, [](FdbSlot& w) { w.flags = 0; });
}

bool fdb_remove(FdbTable& t, uint16_t switch_index, uint64_t key) {
  FdbSlot* free_slot = nullptr;
  FdbSlot* s = find_slot(t, switch_index, key, &free_slot);
  if (!s) return false;
  fdb_slot_clear(*s);
  return true;
}

}  // namespace vs
