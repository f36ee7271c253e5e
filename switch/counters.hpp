// Per-worker counter blocks. One block per worker id, in a memzone created by the primary so that
// it outlives the worker: a restarted worker continues the same counters, and they stay monotonic.
//
// Writer: the worker with that id, and only while it runs.  Reader: the primary (metrics).
// Each counter is a 64-bit atomic updated with relaxed load+store (no locked instruction: there is
// one writer), so a reader never sees a torn value and never stops the writer.
#pragma once
#include <atomic>
#include <cstdint>
#include <string_view>

#include "switch/limits.hpp"

namespace vs {

// Why a frame was dropped by us (the kernel's own drops are read from the TAPs).
enum class DropReason : uint8_t {
  kRunt,           // shorter than an Ethernet header
  kNoDestination,  // the switch has no other port to send it to
  kTxFull,         // the egress tx queue did not accept it
  kCount
};
inline constexpr int kDropReasonCount = static_cast<int>(DropReason::kCount);
std::string_view drop_reason_name(DropReason reason);  // label value, e.g. "tx_full"

enum class WorkerState : uint32_t { kStarting = 0, kRunning = 1, kStopped = 2 };

class Counter {
 public:
  void add(uint64_t n) { value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  uint64_t get() const { return value_.load(std::memory_order_relaxed); }
  void reset() { value_.store(0, std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

struct PortCounters {
  Counter rx_packets, rx_bytes;  // received from this port by this worker
  Counter tx_packets, tx_bytes;  // accepted by this port's tx queue of this worker
  Counter drops[kDropReasonCount];
};

inline constexpr uint64_t kCounterBlockMagic = 0x76736374724b0001;  // "vsctrK" + version 1

struct WorkerCounterBlock {
  uint64_t magic;
  std::atomic<uint32_t> state;  // WorkerState, written by the worker
  std::atomic<int32_t> pid;     // the worker's pid, written by the worker at start
  Counter heartbeat;            // bumped by the worker at least every 100 ms
  Counter loops;                // poll loop iterations
  Counter busy_loops;           // iterations that received at least one frame
  Counter idle_sleeps;          // times the worker slept because it was idle
  PortCounters ports[kMaxPorts];  // indexed by DPDK port id
};

}  // namespace vs
