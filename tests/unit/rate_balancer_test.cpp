// Rate limits over several workers (issue #24): the max-min split of switch/rate.hpp
// (balance_shares) and vswitchd's rate balancer (daemon/rate_balancer.hpp), which turns the
// workers' counter blocks into the shares of shm/rate_shares.hpp.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <numeric>
#include <random>
#include <vector>

#include "daemon/rate_balancer.hpp"
#include "shm/rate_shares.hpp"
#include "shm/topology.hpp"
#include "switch/rate.hpp"

namespace {

using vs::balance_shares;
using vs::kShareFloor;
using vs::kShareOne;
using vs::ShareDemand;

constexpr uint64_t kRate = 12500 * 1000;  // bytes/s: 100 Mbit/s
constexpr uint64_t kPeriodNs = 100 * 1000 * 1000;

uint64_t sum(const std::vector<uint32_t>& v) {
  return std::accumulate(v.begin(), v.end(), uint64_t{0});
}

// A share as a fraction of the rate.
double frac(uint32_t share) {
  return static_cast<double>(share) / kShareOne;
}

TEST(BalanceShares, OneBusyWorkerGetsAllButTheFloor) {
  // A single flow: the kernel steered it to one queue, polled by worker 0, which drops.
  const auto s = balance_shares({{kRate * 2, true}, {0, false}}, kRate);
  EXPECT_EQ(s[1], kShareFloor);
  EXPECT_EQ(s[0], kShareOne - kShareFloor);
  EXPECT_GE(frac(s[0]), 0.99);
}

TEST(BalanceShares, WorkersThatAllDropSplitEqually) {
  const auto s = balance_shares({{kRate, true}, {kRate / 3, true}, {kRate * 4, true}}, kRate);
  EXPECT_EQ(sum(s), kShareOne);
  for (uint32_t x : s) EXPECT_NEAR(frac(x), 1.0 / 3, 1e-6);
}

TEST(BalanceShares, AWorkerUnderItsShareKeepsItsRateWithHeadroomTheDropperGetsTheRest) {
  // Worker 0 passes 30 % of the rate without a drop (its flow is slower than the limit);
  // worker 1 drops: it gets everything worker 0 does not need.
  const auto s = balance_shares({{kRate * 3 / 10, false}, {kRate, true}}, kRate);
  EXPECT_NEAR(frac(s[0]), 0.30 * 5 / 4, 1e-5);
  EXPECT_NEAR(frac(s[1]), 1 - 0.30 * 5 / 4, 1e-5);
  EXPECT_EQ(sum(s), kShareOne);
}

TEST(BalanceShares, WhatNoOneAsksForIsSpreadSoEveryWorkerCanGrow) {
  const auto s = balance_shares({{kRate / 10, false}, {kRate / 5, false}}, kRate);
  EXPECT_EQ(sum(s), kShareOne);
  // Asks of 12.5 % and 25 %, and 62.5 % left over: 31.25 % more each.
  EXPECT_NEAR(frac(s[0]), 0.125 + 0.3125, 1e-5);
  EXPECT_NEAR(frac(s[1]), 0.25 + 0.3125, 1e-5);
}

TEST(BalanceShares, OneWorkerOrNoRateGetsEverything) {
  EXPECT_EQ(balance_shares({{0, false}}, kRate), std::vector<uint32_t>{kShareOne});
  EXPECT_TRUE(balance_shares({}, kRate).empty());
  EXPECT_EQ(sum(balance_shares({{5, true}, {7, false}}, 0)), kShareOne);
}

TEST(BalanceShares, AlwaysSumsToTheWholeRateAndKeepsTheFloor) {
  std::mt19937_64 rng(42);
  for (int round = 0; round < 2000; ++round) {
    const std::size_t n = 1 + rng() % vs::kMaxWorkers;
    std::vector<ShareDemand> d(n);
    for (auto& x : d) {
      x.offered_Bps = rng() % 4 == 0 ? 0 : rng() % (kRate * 3);
      x.dropped = rng() % 3 == 0;
    }
    const uint64_t rate = 1 + rng() % (uint64_t{1} << 40);
    const auto s = balance_shares(d, rate);
    ASSERT_EQ(s.size(), n);
    ASSERT_EQ(sum(s), kShareOne) << "round " << round;
    for (uint32_t x : s) ASSERT_GE(x, n == 1 ? kShareOne : kShareFloor) << "round " << round;
  }
}

TEST(Policer, AShareOfTheRateIsThatFractionOfIt) {
  // Worker 0's share after a balance with one busy worker: (1 - 1/128) of 12.5 MB/s.
  vs::Policer p;
  p.configure(kRate, 0, kRate / 5, kShareOne - kShareFloor, kShareOne);
  const uint64_t ns = 1000000000ull, frame = 1500;
  uint64_t passed = 0;
  // 10 s at twice the rate, after the burst is spent in the first frames.
  for (uint64_t t = 0; t < 10 * ns; t += frame * ns / (2 * kRate))
    passed += p.allow(t, frame) * frame;
  const double expected = static_cast<double>(kRate) * 10 * (1 - 1.0 / 128) + kRate / 5.0;
  EXPECT_NEAR(static_cast<double>(passed), expected, expected * 0.005);
}

// --- the balancer on counter blocks and a port table --------------------------------------------

struct BalancerHarness {
  std::unique_ptr<vs::SharedTopology> topo = std::make_unique<vs::SharedTopology>();
  std::unique_ptr<vs::TopologyTable> table = std::make_unique<vs::TopologyTable>();
  std::vector<std::unique_ptr<vs::WorkerCounterBlock>> blocks;
  std::unique_ptr<vs::RateShares> shares = std::make_unique<vs::RateShares>();
  std::unique_ptr<vs::RateBalancer> balancer;

  explicit BalancerHarness(int workers) {
    vs::rate_shares_init(*shares);
    std::vector<const vs::WorkerCounterBlock*> ro;
    for (int w = 0; w < workers; ++w) {
      blocks.push_back(std::make_unique<vs::WorkerCounterBlock>());
      ro.push_back(blocks.back().get());
    }
    balancer = std::make_unique<vs::RateBalancer>(*topo, ro, *shares);
    table->nb_workers = static_cast<uint16_t>(workers);
  }
  // Port `id`, `queues` rx queues polled round robin by the workers, with a limit of kRate.
  vs::PortEntry& port(uint16_t id, uint16_t queues, int direction) {
    vs::PortEntry& p = table->ports[table->nb_ports++];
    p.dpdk_port_id = id;
    p.nb_rx_queues = p.nb_tx_queues = queues;
    for (uint16_t q = 0; q < queues; ++q)
      p.rxq_owner[q] = static_cast<uint8_t>(q % table->nb_workers);
    p.rate[direction] = {kRate, 0, kRate / 5};
    return p;
  }
  vs::PortCounters& at(int worker, uint16_t id) {
    return blocks[static_cast<size_t>(worker)]->ports[id];
  }
  uint32_t share(uint16_t id, int direction, int worker) {
    return vs::rate_share(shares.get(), id, direction, worker);
  }
  void period() { balancer->balance(*table, kPeriodNs); }
};

TEST(RateBalancer, MovesAnOutboundLimitToTheWorkerWithTheFlow) {
  BalancerHarness h(3);
  h.port(7, 2, vs::kOutbound);  // queues polled by workers 0 and 1; worker 2 does not poll it
  h.period();                   // a new limit: counters are a baseline, the fixed split holds
  for (int w = 0; w < 3; ++w) EXPECT_EQ(h.share(7, vs::kOutbound, w), 0u) << w;

  // A flow at twice the limit on worker 1's queue, policed: it drops.
  h.at(1, 7).rx_bytes.add(2 * kRate / 10);
  h.at(1, 7).rx_packets.add(2 * kRate / 10 / 1500);
  h.at(1, 7).drops[static_cast<int>(vs::DropReason::kPolice)].add(800);
  h.period();
  EXPECT_EQ(h.share(7, vs::kOutbound, 0), kShareFloor);
  EXPECT_EQ(h.share(7, vs::kOutbound, 1), kShareOne - kShareFloor);
  EXPECT_EQ(h.share(7, vs::kOutbound, 2), kShareFloor);  // not a poller: the floor, outside the sum
  EXPECT_EQ(h.share(7, vs::kInbound, 1), 0u);            // no inbound limit

  // The flow moves to worker 0's queue: both dropped within the hold time, so they split
  // equally until worker 1's demand is forgotten, then worker 0 has all but the floor.
  uint32_t periods = 0;
  while (h.share(7, vs::kOutbound, 0) != kShareOne - kShareFloor && periods < 30) {
    h.at(0, 7).rx_bytes.add(2 * kRate / 10);
    h.at(0, 7).drops[static_cast<int>(vs::DropReason::kPolice)].add(800);
    h.period();
    if (++periods == 1) {
      EXPECT_EQ(h.share(7, vs::kOutbound, 0), kShareOne / 2);
    }
  }
  EXPECT_LE(periods, vs::RateBalancer::kHoldPeriods);
  EXPECT_EQ(h.share(7, vs::kOutbound, 1), kShareFloor);

  // The flow pauses (a TCP retransmission timeout): its share is kept for the hold time.
  for (uint32_t i = 0; i + 1 < vs::RateBalancer::kHoldPeriods; ++i) {
    h.period();
    ASSERT_EQ(h.share(7, vs::kOutbound, 0), kShareOne - kShareFloor) << "period " << i;
  }

  // The limit goes away: back to 0 for every worker.
  h.table->ports[0].rate[vs::kOutbound] = {};
  h.period();
  for (int w = 0; w < 3; ++w) EXPECT_EQ(h.share(7, vs::kOutbound, w), 0u) << w;
}

TEST(RateBalancer, InboundCountsTheDropsAtTheMeanFrameSize) {
  BalancerHarness h(2);
  h.port(4, 1, vs::kInbound);  // any worker may send to it
  h.period();
  // Worker 0 passed 30 % of the rate and dropped nothing; worker 1 passed 40 % and dropped.
  h.at(0, 4).tx_bytes.add(kRate * 3 / 100);
  h.at(0, 4).tx_packets.add(kRate * 3 / 100 / 1000);
  h.at(1, 4).tx_bytes.add(kRate * 4 / 100);
  h.at(1, 4).tx_packets.add(kRate * 4 / 100 / 1000);
  h.at(1, 4).drops[static_cast<int>(vs::DropReason::kPoliceInbound)].add(100);
  h.period();
  EXPECT_NEAR(frac(h.share(4, vs::kInbound, 0)), 0.30 * 5 / 4, 1e-4);
  EXPECT_NEAR(frac(h.share(4, vs::kInbound, 1)), 1 - 0.30 * 5 / 4, 1e-4);
  // A counter that went back (reset) counts from 0, not as a huge delta: worker 0's demand
  // stays what it was until the hold time passes, then falls to the floor.
  h.at(0, 4).tx_bytes.reset();
  h.at(0, 4).tx_packets.reset();
  for (uint32_t i = 0; i < vs::RateBalancer::kHoldPeriods; ++i) {
    h.at(1, 4).drops[static_cast<int>(vs::DropReason::kPoliceInbound)].add(100);
    h.period();
    if (i == 0) {
      EXPECT_NEAR(frac(h.share(4, vs::kInbound, 0)), 0.30 * 5 / 4, 1e-4);
    }
  }
  EXPECT_EQ(h.share(4, vs::kInbound, 0), kShareFloor);
}

}  // namespace
