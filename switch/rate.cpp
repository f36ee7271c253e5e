#include "switch/rate.hpp"

#include <algorithm>

namespace vs {

void TokenBucket::configure(uint64_t rate, uint64_t burst) {
  rate_ = std::min(rate, kMaxRate);
  burst_ = std::min(burst, kMaxBurst);
  fill_ns_ = rate_ == 0 ? 0 : (burst_ * kNano + rate_ - 1) / rate_;
  if (!started_)
    tokens_ = burst_ * kNano;
  else
    tokens_ = std::min(tokens_, burst_ * kNano);
}

void TokenBucket::refill(uint64_t now_ns) {
  if (!started_) {
    started_ = true;
    last_ns_ = now_ns;
    return;
  }
  if (now_ns <= last_ns_) return;  // another clock read of the same instant
  const uint64_t elapsed = now_ns - last_ns_;
  last_ns_ = now_ns;
  const uint64_t full = burst_ * kNano;
  // elapsed < fill_ns_ bounds the product by burst * 1e9 * (1 + rate/1e9): below 2^64.
  if (elapsed >= fill_ns_)
    tokens_ = full;
  else
    tokens_ = std::min(full, tokens_ + elapsed * rate_);
}

bool TokenBucket::take(uint64_t now_ns, uint64_t cost) {
  refill(now_ns);
  const uint64_t need = cost * kNano;
  if (tokens_ < need) return false;
  tokens_ -= need;
  return true;
}

uint64_t queue_share(uint64_t port_rate, unsigned polled, unsigned queues) {
  if (queues <= 1 || polled >= queues) return port_rate;
  return (port_rate * polled + queues - 1) / queues;
}

void StormQueue::configure(uint8_t set, const uint32_t* fps, unsigned polled, unsigned queues) {
  bool same = set == set_ && polled == polled_ && queues == queues_;
  for (int k = 0; k < kKinds && same; ++k) same = fps[k] == fps_[k];
  if (same) return;
  set_ = set;
  polled_ = polled;
  queues_ = queues;
  for (int k = 0; k < kKinds; ++k) {
    fps_[k] = fps[k];
    const uint64_t share = queue_share(fps[k], polled, queues);
    const uint64_t burst = share == 0 ? 0 : std::max<uint64_t>(1, share * kBurstMs / 1000);
    buckets_[k].configure(share, burst);
  }
}

void Policer::configure(uint64_t average, uint64_t peak, uint64_t burst, unsigned share_num,
                        unsigned share_den) {
  if (average == average_ && peak == peak_ && burst == burst_ && share_num == num_ &&
      share_den == den_)
    return;
  average_ = average;
  peak_ = peak;
  burst_ = burst;
  num_ = share_num;
  den_ = share_den;
  // The burst is split like the rate: the workers' buckets together hold the port's burst.
  average_bucket_.configure(queue_share(average, share_num, share_den),
                            std::max(kMinBurst, queue_share(burst, share_num, share_den)));
  const uint64_t peak_share = queue_share(peak, share_num, share_den);
  peak_bucket_.configure(peak_share, std::max(kMinBurst, peak_share / 100));
}

}  // namespace vs
