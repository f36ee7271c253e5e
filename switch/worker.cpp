#include "switch/worker.hpp"

#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_memzone.h>
#include <signal.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "switch/counters.hpp"
#include "switch/flood.hpp"
#include "switch/shm_names.hpp"
#include "switch/topology.hpp"

namespace vs {
namespace {

std::atomic<bool> g_stop{false};

void on_stop_signal(int) { g_stop.store(true, std::memory_order_relaxed); }

struct RxAssignment {
  uint16_t port_id;
  uint16_t queue;
  uint16_t switch_index;
};

// Everything the loop needs, rebuilt from a topology snapshot.
struct WorkerPlan {
  uint64_t generation = 0;
  uint16_t tx_queue = 0;
  std::vector<RxAssignment> rx;
  std::vector<SwitchPorts> switches;
};

// Frames waiting for one egress port within one rx burst.
struct TxBuffer {
  uint16_t count = 0;
  rte_mbuf* pkts[kBurstSize];
};

int parse_worker_id(int argc, char** argv) {
  for (int i = 0; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--worker-id") == 0) {
      char* end = nullptr;
      long id = std::strtol(argv[i + 1], &end, 10);
      if (*end == '\0' && id >= 0 && id < kMaxWorkers) return static_cast<int>(id);
    }
  }
  return -1;
}

bool build_plan(const SharedTopology& shared, int worker_id, WorkerPlan& plan) {
  static TopologyTable table;  // large: keep it off the stack
  uint64_t gen = topology_snapshot(shared, table);
  if (gen == 0) return false;
  plan.generation = gen;
  plan.tx_queue = static_cast<uint16_t>(worker_id);
  plan.rx.clear();
  plan.switches.assign(kMaxSwitches, SwitchPorts{});
  group_ports_by_switch(table, plan.switches);
  for (uint16_t i = 0; i < table.nb_ports; ++i) {
    const PortEntry& p = table.ports[i];
    for (uint16_t q = 0; q < p.nb_rx_queues && q < kMaxQueuesPerPort; ++q) {
      if (p.rxq_owner[q] == worker_id) plan.rx.push_back({p.dpdk_port_id, q, p.switch_index});
    }
  }
  return true;
}

class Forwarder {
 public:
  Forwarder(WorkerCounterBlock& counters) : counters_(counters) {}

  // Polls every assigned queue once; returns the number of frames received.
  unsigned poll_once(const WorkerPlan& plan) {
    unsigned total = 0;
    for (const RxAssignment& rx : plan.rx) {
      rte_mbuf* pkts[kBurstSize];
      uint16_t n = rte_eth_rx_burst(rx.port_id, rx.queue, pkts, kBurstSize);
      if (n == 0) continue;
      total += n;
      PortCounters& in = counters_.ports[rx.port_id];
      in.rx_packets.add(n);
      for (uint16_t i = 0; i < n; ++i) {
        in.rx_bytes.add(rte_pktmbuf_pkt_len(pkts[i]));
        dispatch(plan.switches[rx.switch_index], rx.port_id, pkts[i]);
      }
      flush(plan.tx_queue);
    }
    return total;
  }

 private:
  void dispatch(const SwitchPorts& ports, uint16_t ingress, rte_mbuf* m) {
    DropReason reason = check_frame(rte_pktmbuf_pkt_len(m));
    std::array<uint16_t, kMaxPorts> targets;
    std::size_t n = 0;
    if (reason == DropReason::kCount) {
      n = flood_targets(ports, ingress, targets);
      if (n == 0) reason = DropReason::kNoDestination;
    }
    if (reason != DropReason::kCount) {
      counters_.ports[ingress].drops[static_cast<int>(reason)].add(1);
      rte_pktmbuf_free(m);
      return;
    }
    // One reference per egress port: net_tap copies the frame out in its tx call, so the same
    // mbuf can sit in several tx bursts; each tx (or our drop path) releases one reference.
    if (n > 1) rte_mbuf_refcnt_update(m, static_cast<int16_t>(n - 1));
    for (std::size_t i = 0; i < n; ++i) enqueue(targets[i], m);
  }

  void enqueue(uint16_t port, rte_mbuf* m) {
    TxBuffer& buf = tx_[port];
    if (buf.count == 0) pending_[pending_count_++] = port;
    buf.pkts[buf.count++] = m;
  }

  void flush(uint16_t tx_queue) {
    for (uint16_t i = 0; i < pending_count_; ++i) {
      uint16_t port = pending_[i];
      TxBuffer& buf = tx_[port];
      uint16_t sent = rte_eth_tx_burst(port, tx_queue, buf.pkts, buf.count);
      PortCounters& out = counters_.ports[port];
      out.tx_packets.add(sent);
      for (uint16_t k = 0; k < sent; ++k) out.tx_bytes.add(rte_pktmbuf_pkt_len(buf.pkts[k]));
      if (sent < buf.count) {
        out.drops[static_cast<int>(DropReason::kTxFull)].add(buf.count - sent);
        rte_pktmbuf_free_bulk(buf.pkts + sent, buf.count - sent);
      }
      buf.count = 0;
    }
    pending_count_ = 0;
  }

  WorkerCounterBlock& counters_;
  TxBuffer tx_[RTE_MAX_ETHPORTS];
  uint16_t pending_[RTE_MAX_ETHPORTS];
  uint16_t pending_count_ = 0;
};

uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// How long an idle worker sleeps between polls. Busy polling would hold a core at 100% on a
// host whose cores belong to the VMs; rx interrupts replace this once net_rtap has them.
constexpr unsigned kIdlePollsBeforeSleep = 1000;
constexpr long kIdleSleepNs = 100 * 1000;
constexpr uint64_t kHousekeepingNs = 50 * 1000 * 1000;

int forward_until_stopped(int worker_id, const SharedTopology& topo, WorkerCounterBlock& counters,
                          uint64_t started_ns) {
  WorkerPlan plan;
  if (!build_plan(topo, worker_id, plan)) {
    std::fprintf(stderr, "vswitch-worker %d: the primary has not published its port table\n",
                 worker_id);
    return kWorkerExitAttach;
  }
  auto forwarder = std::make_unique<Forwarder>(counters);
  const pid_t parent = getppid();
  counters.state.store(static_cast<uint32_t>(WorkerState::kRunning), std::memory_order_release);
  std::printf("vswitch-worker %d: forwarding %.0f ms after start, %zu rx queues, tx queue %u\n",
              worker_id, static_cast<double>(now_ns() - started_ns) / 1e6, plan.rx.size(),
              plan.tx_queue);
  std::fflush(stdout);

  unsigned idle_polls = 0;
  uint64_t next_housekeeping = now_ns() + kHousekeepingNs;
  while (!g_stop.load(std::memory_order_relaxed)) {
    unsigned got = forwarder->poll_once(plan);
    counters.loops.add(1);
    if (got) {
      counters.busy_loops.add(1);
      idle_polls = 0;
    } else if (++idle_polls >= kIdlePollsBeforeSleep) {
      counters.idle_sleeps.add(1);
      timespec ts{0, kIdleSleepNs};
      nanosleep(&ts, nullptr);
    }
    uint64_t now = now_ns();
    if (now < next_housekeeping) continue;
    next_housekeeping = now + kHousekeepingNs;
    counters.heartbeat.add(1);
    // The parent check is free and catches a supervisor's death at once; the EAL check (a lock
    // probe on the primary's config file) also covers workers started by hand.
    if (getppid() != parent || !rte_eal_primary_proc_alive(nullptr)) {
      std::fprintf(stderr, "vswitch-worker %d: the primary is gone, exiting\n", worker_id);
      return kWorkerExitPrimaryGone;
    }
    if (topo.generation.load(std::memory_order_acquire) != plan.generation) {
      build_plan(topo, worker_id, plan);
    }
  }
  return kWorkerExitOk;
}

}  // namespace

int run_worker(int argc, char** argv) {
  const uint64_t started_ns = now_ns();
  // The supervisor also sets this before exec; repeat it in case the worker is started by hand.
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);

  int eal_args = rte_eal_init(argc, argv);
  if (eal_args < 0) {
    std::fprintf(stderr,
                 "vswitch-worker: cannot attach to the primary (%s). Is vswitchd running with the "
                 "same --file-prefix?\n",
                 rte_strerror(rte_errno));
    return kWorkerExitAttach;
  }
  int worker_id = parse_worker_id(argc - eal_args, argv + eal_args);
  if (worker_id < 0) {
    std::fprintf(stderr, "vswitch-worker: usage: vswitch-worker <EAL args> -- --worker-id N\n");
    rte_eal_cleanup();
    return kWorkerExitUsage;
  }
  if (rte_eal_process_type() != RTE_PROC_SECONDARY) {
    std::fprintf(stderr, "vswitch-worker: must run as a DPDK secondary (--proc-type=secondary)\n");
    rte_eal_cleanup();
    return kWorkerExitUsage;
  }
  const rte_memzone* topo_zone = rte_memzone_lookup(kTopologyZone);
  const rte_memzone* ctr_zone = rte_memzone_lookup(counter_zone_name(worker_id).c_str());
  int rc = kWorkerExitAttach;
  if (!topo_zone || !ctr_zone) {
    std::fprintf(stderr, "vswitch-worker %d: the primary's shared tables are missing\n", worker_id);
  } else {
    auto* topo = static_cast<const SharedTopology*>(topo_zone->addr);
    auto* counters = static_cast<WorkerCounterBlock*>(ctr_zone->addr);
    if (topo->magic != kTopologyMagic || topo->layout_version != kLayoutVersion ||
        counters->magic != kCounterBlockMagic) {
      std::fprintf(stderr,
                   "vswitch-worker %d: shared layout mismatch: vswitchd and vswitch-worker come "
                   "from different builds\n",
                   worker_id);
    } else {
      counters->pid.store(getpid(), std::memory_order_relaxed);
      rc = forward_until_stopped(worker_id, *topo, *counters, started_ns);
      counters->state.store(static_cast<uint32_t>(WorkerState::kStopped),
                            std::memory_order_release);
    }
  }
  rte_eal_cleanup();
  return rc;
}

}  // namespace vs
