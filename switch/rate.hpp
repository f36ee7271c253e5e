// Token buckets for per-port policy (issue #24), free of DPDK so that they are unit-tested alone.
//
// No lock is shared between processes (docs/DESIGN): a bucket belongs to the worker that polls
// the rx queues it limits and lives in that worker's own memory, never in shared memory. A
// worker keeps one set of buckets per port for all the port's rx queues it polls, with the share
// of the port's rate that those queues are of the port's queues: a worker that polls every queue
// of a port (one worker) limits it exactly, whichever queue the kernel steers a flow to.
#pragma once
#include <cstdint>
#include <vector>

namespace vs {

// A token bucket over any unit (frames, bytes): `rate` units per second, at most `burst` units
// saved up. Integer arithmetic in nano-units (a unit is 1e9 of them), so a rate of a few frames
// per second keeps its precision; the refill is capped at a full bucket, so no product
// overflows whatever time passed.
class TokenBucket {
 public:
  static constexpr uint64_t kNano = 1000000000ull;
  static constexpr uint64_t kMaxRate = 100000000000ull;  // 1e11 units/s (bytes: 800 Gbit/s)
  static constexpr uint64_t kMaxBurst = 5000000000ull;   // 5e9 units: 2 full buckets < 2^64

  // Sets the rate and burst (clamped to the maxima); keeps the saved tokens up to the new burst.
  // A new bucket starts full.
  void configure(uint64_t rate, uint64_t burst);
  // Takes `cost` units at time `now_ns` (CLOCK_MONOTONIC) if the bucket holds them.
  bool take(uint64_t now_ns, uint64_t cost);

  uint64_t rate() const { return rate_; }
  uint64_t burst() const { return burst_; }
  // Whole units saved at the last take.
  uint64_t tokens() const { return tokens_ / kNano; }

 private:
  void refill(uint64_t now_ns);

  uint64_t rate_ = 0;
  uint64_t burst_ = 0;
  uint64_t tokens_ = 0;   // nano-units, at most burst_ * kNano
  uint64_t fill_ns_ = 0;  // time to fill an empty bucket: any longer gap just fills it
  uint64_t last_ns_ = 0;
  bool started_ = false;
};

// The share of a port's rate for `polled` of its `queues` rx queues: rate * polled / queues,
// rounded up so that a small rate is not rounded to nothing (0 stays 0: nothing passes).
uint64_t queue_share(uint64_t port_rate, unsigned polled, unsigned queues);

// The storm-control buckets of one worker for one port (broadcast, multicast, unknown unicast:
// StormKind order). Each holds 100 ms of its share, at least one frame: a short burst passes, a
// storm is cut to the rate within a tenth of a second.
struct StormQueue {
  static constexpr int kKinds = 3;
  static constexpr uint64_t kBurstMs = 100;

  // Applies the port's limits (frames/s by kind; `set` bit k: kind k limited) for `polled` of
  // its `queues` rx queues. Cheap when nothing changed (called for every burst).
  void configure(uint8_t set, const uint32_t* fps, unsigned polled, unsigned queues);
  // True if a frame of `kind` may pass at `now_ns`.
  bool allow(int kind, uint64_t now_ns) {
    return !(set_ >> kind & 1) || buckets_[kind].take(now_ns, 1);
  }

  uint8_t set_ = 0;
  uint32_t fps_[kKinds] = {0, 0, 0};
  unsigned polled_ = 0;
  unsigned queues_ = 0;
  TokenBucket buckets_[kKinds];
};

// A rate limit (libvirt's <bandwidth> direction) of one worker for one port, in bytes: an
// average bucket (the share of average, burst bytes) and, with a peak, a peak bucket (the share
// of peak, holding 10 ms of it). A frame passes when both hold its bytes. Each bucket holds at
// least kMinBurst, so that a TSO super-frame (up to 64 KB) can ever pass.
class Policer {
 public:
  static constexpr uint64_t kMinBurst = 66 * 1024;

  // Cheap when nothing changed (called for every burst). average 0: no limit.
  void configure(uint64_t average, uint64_t peak, uint64_t burst, unsigned share_num,
                 unsigned share_den);
  bool allow(uint64_t now_ns, uint64_t bytes) {
    if (average_ == 0) return true;
    if (peak_ != 0 && !peak_bucket_.take(now_ns, bytes)) return false;
    return average_bucket_.take(now_ns, bytes);
  }
  bool limited() const { return average_ != 0; }

 private:
  uint64_t average_ = 0, peak_ = 0, burst_ = 0;
  unsigned num_ = 0, den_ = 0;
  TokenBucket average_bucket_, peak_bucket_;
};

// ---- shares rebalanced by vswitchd (shm/rate_shares.hpp, daemon/rate_balancer.hpp) ----------

// What one worker did with one port's limit in one period.
struct ShareDemand {
  uint64_t offered_Bps = 0;  // bytes per second it saw for the limit, passed and dropped
  bool dropped = false;      // it dropped over its share: it wants more than it has
};

// Every worker keeps at least this share (of kShareOne = 1 << 20: 1/128), so that traffic moving
// to it passes while the next period gives it more; a worker's share is at least its offered
// rate times 5/4, so that a flow that grows is not cut before the next period sees it.
inline constexpr uint32_t kShareFloor = (1u << 20) / 128;

// The shares (in 1/(1 << 20) of the port's `rate`) for the workers in `demand`: max-min fair.
// A worker that did not drop asks for its offered rate with the headroom above (at least the
// floor); a worker that dropped asks for all it can get. The smallest asks are met first, the
// rest is split equally among the others, and what no one asks for is spread equally, so the
// shares always sum to the whole rate: with one busy worker and one idle, the busy one gets
// all but the floor.
std::vector<uint32_t> balance_shares(const std::vector<ShareDemand>& demand, uint64_t rate);

}  // namespace vs
