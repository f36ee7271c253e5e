#include "daemon/rate_balancer.hpp"

#include <time.h>

#include <algorithm>
#include <memory>

#include "switch/rate.hpp"

namespace vs {
namespace {

uint64_t monotonic_now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// now - before, or now if the counter went back (reset): never a huge wrapped delta.
uint64_t delta(uint64_t now, uint64_t before) {
  return now >= before ? now - before : now;
}

constexpr uint64_t kDefaultFrameBytes = 1514;

}  // namespace

RateBalancer::RateBalancer(const SharedTopology& topology,
                           std::vector<const WorkerCounterBlock*> counters, RateShares& shares)
    : topology_(topology),
      counters_(std::move(counters)),
      shares_(shares),
      seen_(kMaxPortIds),
      limited_(kMaxPortIds, {false, false}) {}

RateBalancer::~RateBalancer() {
  stop();
}

void RateBalancer::start() {
  thread_ = std::thread([this] { run(); });
}

void RateBalancer::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void RateBalancer::run() {
  // The table is large (policies included): one copy, reused every period.
  auto table = std::make_unique<TopologyTable>();
  uint64_t last = monotonic_now_ns();
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, kPeriod, [this] { return stopping_; })) {
    lock.unlock();
    const uint64_t now = monotonic_now_ns();
    if (topology_snapshot(topology_, *table) != 0) balance(*table, now - last);
    last = now;
    lock.lock();
  }
}

void RateBalancer::balance(const TopologyTable& table, uint64_t elapsed_ns) {
  std::vector<std::array<bool, 2>> limited(kMaxPortIds, {false, false});
  for (uint16_t i = 0; i < table.nb_ports && i < kMaxPorts; ++i) {
    const PortEntry& port = table.ports[i];
    if (port.dpdk_port_id >= kMaxPortIds) continue;
    for (int dir : {kInbound, kOutbound}) {
      if (port.rate[dir].average_Bps == 0) continue;
      limited[port.dpdk_port_id][dir] = true;
      balance_port(table, port, dir, elapsed_ns);
    }
  }
  // Limits that went away: back to 0, so that a limit set again starts from the fixed split.
  for (int id = 0; id < kMaxPortIds; ++id) {
    for (int dir : {kInbound, kOutbound}) {
      if (limited_[id][dir] && !limited[id][dir])
        for (auto& share : shares_.share[id][dir]) share.store(0, std::memory_order_relaxed);
      limited_[id][dir] = limited[id][dir];
    }
  }
}

void RateBalancer::balance_port(const TopologyTable& table, const PortEntry& port, int dir,
                                uint64_t elapsed_ns) {
  const uint16_t id = port.dpdk_port_id;
  const int nb_workers =
      std::min<int>({table.nb_workers, kMaxWorkers, static_cast<int>(counters_.size())});
  bool takes_part[kMaxWorkers] = {};
  if (dir == kOutbound) {
    for (uint16_t q = 0; q < port.nb_rx_queues && q < kMaxQueuesPerPort; ++q)
      if (port.rxq_owner[q] < nb_workers) takes_part[port.rxq_owner[q]] = true;
  } else {
    for (int w = 0; w < nb_workers; ++w) takes_part[w] = true;
  }
  const DropReason reason = dir == kOutbound ? DropReason::kPolice : DropReason::kPoliceInbound;
  std::vector<int> who;
  std::vector<ShareDemand> demand;
  for (int w = 0; w < nb_workers; ++w) {
    const PortCounters& pc = counters_[static_cast<size_t>(w)]->ports[id];
    const uint64_t now_bytes = dir == kOutbound ? pc.rx_bytes.get() : pc.tx_bytes.get();
    const uint64_t now_packets = dir == kOutbound ? pc.rx_packets.get() : pc.tx_packets.get();
    const uint64_t now_drops = pc.drops[static_cast<int>(reason)].get();
    Seen& before = seen_[id][dir][static_cast<size_t>(w)];
    const uint64_t bytes = delta(now_bytes, before.bytes);
    const uint64_t packets = delta(now_packets, before.packets);
    const uint64_t drops = delta(now_drops, before.drops);
    before.bytes = now_bytes;
    before.packets = now_packets;
    before.drops = now_drops;
    if (!takes_part[w]) continue;
    // Outbound bytes are counted before the policer, so they include the dropped frames;
    // inbound bytes are what passed, and the drops are added at the period's mean frame size.
    uint64_t offered = bytes;
    if (dir == kInbound) offered += drops * (packets != 0 ? bytes / packets : kDefaultFrameBytes);
    const uint64_t offered_Bps =
        elapsed_ns == 0 ? 0
                        : static_cast<uint64_t>(static_cast<long double>(offered) * 1e9L /
                                                static_cast<long double>(elapsed_ns));
    if (offered_Bps >= before.held_Bps || ++before.held_age >= kHoldPeriods) {
      before.held_Bps = offered_Bps;
      before.held_age = 0;
    }
    before.drop_age = drops != 0 ? 0 : before.drop_age + (before.drop_age < kHoldPeriods);
    who.push_back(w);
    demand.push_back({before.held_Bps, before.drop_age < kHoldPeriods});
  }
  // A limit new in this period: its counters are only a baseline yet (the fixed split applies).
  if (!limited_[id][dir] || who.empty()) return;
  const std::vector<uint32_t> shares = balance_shares(demand, port.rate[dir].average_Bps);
  for (int w = 0; w < nb_workers; ++w)
    if (!takes_part[w]) shares_.share[id][dir][w].store(kShareFloor, std::memory_order_relaxed);
  for (std::size_t i = 0; i < who.size(); ++i)
    shares_.share[id][dir][who[i]].store(shares[i], std::memory_order_relaxed);
}

}  // namespace vs
