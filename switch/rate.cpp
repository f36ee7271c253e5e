#include "switch/rate.hpp"

#include <algorithm>
#include <numeric>

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
  // 128 bits: a share of 1 << 20 (shm/rate_shares.hpp) times any 64-bit rate.
  const unsigned __int128 product = static_cast<unsigned __int128>(port_rate) * polled;
  return static_cast<uint64_t>((product + queues - 1) / queues);
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

std::vector<uint32_t> balance_shares(const std::vector<ShareDemand>& demand, uint64_t rate) {
  constexpr uint64_t kOne = 1u << 20;
  const std::size_t n = demand.size();
  std::vector<uint32_t> share(n, 0);
  if (n == 0) return share;
  if (n == 1 || rate == 0) {
    for (auto& s : share) s = static_cast<uint32_t>(kOne / n);
    return share;
  }
  // Each worker's ask, in share units; UINT64_MAX: all it can get.
  std::vector<uint64_t> ask(n);
  const uint64_t floor = std::min<uint64_t>(kShareFloor, kOne / n);
  for (std::size_t w = 0; w < n; ++w) {
    if (demand[w].dropped) {
      ask[w] = UINT64_MAX;
      continue;
    }
    // offered * 5/4 / rate of kOne, without overflow for any rate up to TokenBucket::kMaxRate.
    const long double f = static_cast<long double>(demand[w].offered_Bps) * 5 / 4 /
                          static_cast<long double>(rate) * kOne;
    ask[w] = std::max<uint64_t>(floor, f >= kOne ? kOne : static_cast<uint64_t>(f));
  }
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&ask](std::size_t a, std::size_t b) { return ask[a] < ask[b]; });
  uint64_t left = kOne;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t w = order[i];
    const uint64_t fair = left / (n - i);
    const uint64_t give = std::min(ask[w], fair);
    share[w] = static_cast<uint32_t>(give);
    left -= give;
  }
  // What no one asked for (every ask met): spread equally, the remainder to the first.
  const uint64_t each = left / n;
  for (std::size_t w = 0; w < n; ++w) share[w] += static_cast<uint32_t>(each);
  share[order.back()] += static_cast<uint32_t>(left - each * n);
  return share;
}

}  // namespace vs
