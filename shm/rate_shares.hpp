// The split of each port's rate limits over the workers (issue #24), rebalanced by vswitchd.
//
// A worker polices with token buckets in its own memory (switch/rate.hpp): no lock is shared
// between processes. A port's limit is therefore split into one share per worker, and the
// buckets of all workers together pass the port's rate. A fixed split (by rx queues polled, or
// 1/W of the inbound rate) cuts a single flow, which the kernel steers to one queue and so to one
// worker, to 1/W of the limit. So vswitchd's rate balancer (daemon/rate_balancer.hpp) measures,
// every 100 ms, what each worker offered and whether it dropped, and moves the shares where the
// traffic is (max-min fair), publishing them here.
//
// Writer: the rate balancer (one thread of vswitchd). Readers: the workers, one relaxed load per
// rx burst (outbound) or per limited frame (inbound). Each share is one 32-bit atomic, so a
// reader never sees a torn value; the shares of one port are not published together, so for one
// period their sum may be off by what moved (documented in docs/operations.md).
#pragma once
#include <atomic>
#include <cstdint>

#include "shm/limits.hpp"

namespace vs {

inline constexpr const char* kRateSharesZone = "vs_rate_shares";
inline constexpr uint64_t kRateSharesMagic = 0x7673726174655301;  // "vsrateS" + version 1

// A share is a fraction of the port's rate in units of 1/kShareOne. 0: nothing published for
// this worker (a new port, or vswitchd's first period): the worker splits by its fixed share.
inline constexpr uint32_t kShareOne = 1u << 20;

struct RateShares {
  uint64_t magic;  // vswitchd wo (at creation); the workers ro
  // [DPDK port id][kInbound / kOutbound (shm/topology.hpp)][worker id]: the balancer wo, the
  // workers ro.
  std::atomic<uint32_t> share[kMaxPortIds][2][kMaxWorkers];
};
static_assert(std::atomic<uint32_t>::is_always_lock_free);

inline uint32_t rate_share(const RateShares* s, uint16_t port, int direction, int worker) {
  if (s == nullptr || port >= kMaxPortIds || worker < 0 || worker >= kMaxWorkers) return 0;
  return s->share[port][direction][worker].load(std::memory_order_relaxed);
}

inline void rate_shares_init(RateShares& s) {
  s.magic = kRateSharesMagic;
  for (auto& port : s.share)
    for (auto& dir : port)
      for (auto& w : dir) w.store(0, std::memory_order_relaxed);
}

}  // namespace vs
