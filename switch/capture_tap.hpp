// The worker's side of packet capture (shm/capture.hpp): while a capture is armed, the frames of
// its ports that its filter accepts are copied into this worker's ring for that capture, before
// the switch handles them (received) or hands them to the driver (sent). Nothing is copied and
// no filter runs while no capture is armed: the cost is one load per poll.
#pragma once
#include <rte_bpf.h>
#include <rte_mbuf.h>

#include <cstdint>

#include "shm/capture.hpp"

namespace vs {

class CaptureTaps {
 public:
  CaptureTaps(SharedCapture* shm, int worker_id) : shm_(shm), worker_(worker_id) {}
  ~CaptureTaps();
  CaptureTaps(const CaptureTaps&) = delete;
  CaptureTaps& operator=(const CaptureTaps&) = delete;

  // Once per poll: picks up captures armed or ended since the last call.
  void refresh() {
    if (shm_ != nullptr && shm_->generation.load(std::memory_order_acquire) != seen_) reload();
  }
  bool armed() const { return armed_ != 0; }
  // Copies the frames of `pkts` that a capture of (port, direction) wants.
  void tap(uint16_t port, uint16_t queue, uint8_t direction, rte_mbuf* const* pkts, uint16_t n);

  // Filter programs this worker could not load (the service loaded them first, so this is rare).
  uint64_t load_failures() const { return load_failures_; }
  // Armed filters that run as native code (DPDK's JIT); the others run in its interpreter.
  // VSWITCH_CAPTURE_NO_JIT=1 in the worker's environment forces the interpreter (diagnostics).
  int jitted() const {
    int n = 0;
    for (const Active& a : active_) n += a.jit != nullptr;
    return n;
  }

 private:
  struct Active {
    uint64_t id = 0;
    uint32_t snaplen = 0;
    uint8_t directions = 0;
    uint64_t ports[kMaxPortIds / 64] = {};
    rte_bpf* bpf = nullptr;
    uint64_t (*jit)(void*) = nullptr;
    CaptureRing* ring = nullptr;
  };
  void reload();
  void unload(Active& a);
  bool matches(const Active& a, rte_mbuf* m) const;

  SharedCapture* shm_;
  int worker_;
  uint64_t seen_ = 0;
  uint8_t armed_ = 0;  // bit s: slot s is armed
  uint64_t load_failures_ = 0;
  Active active_[kMaxCaptures];
};

}  // namespace vs
