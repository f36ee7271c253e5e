#include "shm/capture.hpp"

#include <cstring>

namespace vs {
namespace {

std::size_t rings_offset() {
  constexpr std::size_t align = alignof(CaptureRing);
  return (sizeof(SharedCapture) + align - 1) / align * align;
}

}  // namespace

std::size_t capture_zone_size(int nb_workers) {
  return rings_offset() + sizeof(CaptureRing) * kMaxCaptures * static_cast<std::size_t>(nb_workers);
}

void capture_init(SharedCapture& shm, int nb_workers) {
  std::memset(static_cast<void*>(&shm), 0, capture_zone_size(nb_workers));
  shm.magic = kCaptureMagic;
  shm.layout_version = kCaptureLayoutVersion;
  shm.nb_workers = static_cast<uint32_t>(nb_workers);
}

CaptureRing& capture_ring(SharedCapture& shm, int slot, int worker) {
  auto* rings = reinterpret_cast<CaptureRing*>(reinterpret_cast<uint8_t*>(&shm) + rings_offset());
  return rings[static_cast<std::size_t>(slot) * shm.nb_workers + static_cast<std::size_t>(worker)];
}

void capture_publish(SharedCapture& shm, int slot, const CaptureFilter& filter) {
  CaptureSlot& s = shm.slots[slot];
  const uint64_t seq = s.seq.load(std::memory_order_relaxed);
  s.seq.store(seq + 1, std::memory_order_relaxed);  // odd: update in progress
  std::atomic_thread_fence(std::memory_order_release);
  std::memcpy(&s.filter, &filter, sizeof(filter));
  s.seq.store(seq + 2, std::memory_order_release);
  shm.generation.fetch_add(1, std::memory_order_release);
}

bool capture_snapshot(const CaptureSlot& slot, CaptureFilter& out, int max_attempts) {
  for (int attempt = 0; attempt < max_attempts; ++attempt) {
    const uint64_t before = slot.seq.load(std::memory_order_acquire);
    if (before & 1) continue;
    std::memcpy(&out, &slot.filter, sizeof(out));
    std::atomic_thread_fence(std::memory_order_acquire);
    if (slot.seq.load(std::memory_order_relaxed) == before) return true;
  }
  return false;
}

}  // namespace vs
