// vswitchd's rate balancer (issue #24): the one writer of the rate shares (shm/rate_shares.hpp).
//
// Every period (100 ms) it reads the published port table (which ports have a rate limit, which
// workers poll their rx queues) and the workers' counter blocks, and for each limited port and
// direction gives each worker a share of the rate, max-min fair by what the worker offered and
// whether it dropped, each remembered for a second (balance_shares, switch/rate.hpp):
//   outbound (from the VM, policed at rx): the workers polling the port's rx queues; offered =
//     the bytes they received from the port (counted before the policer);
//   inbound (to the VM, policed at tx): every worker; offered = the bytes they sent to the port
//     plus the police_inbound drops at the period's mean frame size.
// Workers that take no part (an outbound limit's non-pollers) keep the floor, so that a queue
// lent to them starts from there. A port whose limit goes away gets 0 (the workers' fixed
// split, unused without a limit).
//
// Own thread; reads shared memory only, so it never waits on an actor or a worker.
#pragma once
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "shm/counters.hpp"
#include "shm/limits.hpp"
#include "shm/rate_shares.hpp"
#include "shm/topology.hpp"

namespace vs {

class RateBalancer {
 public:
  static constexpr std::chrono::milliseconds kPeriod{100};
  // How long a worker's demand is remembered: a TCP flow cut by the policer pauses for its
  // retransmission timeout (200 ms and more), and a share that fell to the floor meanwhile would
  // cut it again when it resumes (seen: one flow held to 52 % of the limit with 2 workers).
  static constexpr uint32_t kHoldPeriods = 10;

  RateBalancer(const SharedTopology& topology, std::vector<const WorkerCounterBlock*> counters,
               RateShares& shares);
  ~RateBalancer();
  void start();
  void stop();

  // One period, `elapsed_ns` after the previous one (the thread's body; tests call it).
  void balance(const TopologyTable& table, uint64_t elapsed_ns);

 private:
  struct Seen {  // a worker's counters for one port at the previous period, and its demand
    uint64_t bytes = 0, packets = 0, drops = 0;
    uint64_t held_Bps = 0;    // the highest offered rate of the last kHoldPeriods periods
    uint32_t held_age = 0;    // periods since held_Bps was seen
    uint32_t drop_age = ~0u;  // periods since the worker last dropped for the limit
  };
  void run();
  void balance_port(const TopologyTable& table, const PortEntry& port, int direction,
                    uint64_t elapsed_ns);

  const SharedTopology& topology_;
  std::vector<const WorkerCounterBlock*> counters_;
  RateShares& shares_;
  // [port id][direction][worker]: the balancer thread only.
  std::vector<std::array<std::array<Seen, kMaxWorkers>, 2>> seen_;
  std::vector<std::array<bool, 2>> limited_;  // [port id][direction] at the last period

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace vs
